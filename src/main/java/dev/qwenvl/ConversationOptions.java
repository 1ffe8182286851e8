package dev.qwenvl;

import java.util.Optional;

/**
 * A conversation's settings. Immutable; start from {@link #defaults()}.
 *
 * @param systemPrompt     the system message, or null for none
 * @param useJinja         render the template with llama.cpp's Jinja engine ({@code llama-mtmd-cli --jinja}; Qwen's
 *                         template then adds its default system prompt); false, llama-mtmd-cli's default, uses
 *                         {@code llama_chat_apply_template}'s built-in templates
 * @param templateOverride a template (Jinja text, or a built-in name such as {@code chatml}) used instead of the
 *                         model's own, or null
 */
public record ConversationOptions(String systemPrompt, boolean useJinja, String templateOverride) {

    /** llama-mtmd-cli's defaults: no system prompt, built-in templates (not Jinja), the model's template. */
    public static ConversationOptions defaults() {
        return new ConversationOptions(null, false, null);
    }

    public ConversationOptions withSystemPrompt(String prompt) {
        return new ConversationOptions(prompt, useJinja, templateOverride);
    }

    public ConversationOptions withJinja(boolean jinja) {
        return new ConversationOptions(systemPrompt, jinja, templateOverride);
    }

    public ConversationOptions withTemplate(String template) {
        return new ConversationOptions(systemPrompt, useJinja, template);
    }

    public Optional<String> system() {
        return Optional.ofNullable(systemPrompt);
    }
}
