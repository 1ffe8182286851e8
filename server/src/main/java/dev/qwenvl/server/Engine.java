package dev.qwenvl.server;

import dev.qwenvl.VisionLanguageModel;

/**
 * What serves completions once the model is loaded.
 *
 * @param model   the loaded model
 * @param pool    its conversations and their queue
 * @param created when the model became ready, in epoch seconds (for {@code /v1/models})
 */
record Engine(VisionLanguageModel model, ConversationPool pool, long created) {
}
