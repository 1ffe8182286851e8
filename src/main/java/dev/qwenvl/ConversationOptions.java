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
 * @param specialTokens    read special-token text in messages (such as {@code <|im_start|>}) as special tokens, as
 *                         llama-mtmd-cli does; false keeps every message's text plain text, which is what a service
 *                         for untrusted users needs (nobody can then type {@code <|im_start|>system})
 */
public record ConversationOptions(String systemPrompt, boolean useJinja, String templateOverride,
                                  boolean specialTokens) {

    public ConversationOptions {
        if (systemPrompt != null) {
            Text.check("system prompt", systemPrompt);
        }
        if (templateOverride != null) {
            Text.check("template override", templateOverride);
        }
    }

    /**
     * llama-mtmd-cli's defaults: no system prompt, built-in templates (not Jinja), the model's template, special
     * tokens read in message text.
     */
    public static ConversationOptions defaults() {
        return new ConversationOptions(null, false, null, true);
    }

    public ConversationOptions withSystemPrompt(String prompt) {
        return new ConversationOptions(prompt, useJinja, templateOverride, specialTokens);
    }

    public ConversationOptions withJinja(boolean jinja) {
        return new ConversationOptions(systemPrompt, jinja, templateOverride, specialTokens);
    }

    public ConversationOptions withTemplate(String template) {
        return new ConversationOptions(systemPrompt, useJinja, template, specialTokens);
    }

    /** Whether special-token text in messages is read as special tokens (true, the default) or as plain text. */
    public ConversationOptions withSpecialTokens(boolean read) {
        return new ConversationOptions(systemPrompt, useJinja, templateOverride, read);
    }

    public Optional<String> system() {
        return Optional.ofNullable(systemPrompt);
    }
}
