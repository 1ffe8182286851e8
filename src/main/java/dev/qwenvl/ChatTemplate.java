package dev.qwenvl;

import dev.qwenvl.bindings.llama_chat_message;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;
import java.util.List;

import static dev.qwenvl.bindings.qwenvl_h.qwenvl_chat_format_single;
import static dev.qwenvl.bindings.qwenvl_h.qwenvl_chat_templates_free;
import static dev.qwenvl.bindings.qwenvl_h.qwenvl_chat_templates_init;
import static dev.qwenvl.bindings.qwenvl_h.qwenvl_chat_templates_source;

/**
 * A model's chat template, rendered by llama.cpp's own engine (llama-common's Jinja, or its built-in templates)
 * through our qwenvl-shim library, so prompts are byte for byte what llama-mtmd-cli builds.
 */
final class ChatTemplate implements AutoCloseable {
    private static final int ERR_LEN = 1024;
    private final MemorySegment handle;
    private final String source;

    private ChatTemplate(MemorySegment handle, String source) {
        this.handle = handle;
        this.source = source;
    }

    /** The model's template, or {@code override} (template text or a built-in name such as "chatml") if not null. */
    static ChatTemplate of(MemorySegment model, String override) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment err = arena.allocate(ERR_LEN);
            MemorySegment h = qwenvl_chat_templates_init(model,
                    override == null ? MemorySegment.NULL : arena.allocateFrom(override), err, ERR_LEN);
            if (NativeRuntime.isNull(h)) {
                throw new PromptException("the chat template cannot be parsed: " + err.getString(0));
            }
            String source = qwenvl_chat_templates_source(h).reinterpret(Long.MAX_VALUE).getString(0);
            return new ChatTemplate(h, source);
        }
    }

    String source() {
        return source;
    }

    /**
     * The text that {@code message} adds after {@code past}, as common_chat_format_single computes it; with
     * {@code addAssistant} the assistant's turn is opened at the end.
     */
    String formatSingle(List<ChatMessage> past, ChatMessage message, boolean addAssistant, boolean useJinja) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment history = llama_chat_message.allocateArray(Math.max(1, past.size()), arena);
            for (int i = 0; i < past.size(); i++) {
                fill(llama_chat_message.asSlice(history, i), past.get(i), arena);
            }
            MemorySegment msg = llama_chat_message.allocate(arena);
            fill(msg, message, arena);
            MemorySegment err = arena.allocate(ERR_LEN);
            int len = 4096;
            while (true) {
                MemorySegment buf = arena.allocate(len);
                int n = qwenvl_chat_format_single(handle, history, past.size(), msg, addAssistant, useJinja, buf, len,
                        err, ERR_LEN);
                if (n < 0) {
                    throw new PromptException("the chat template failed: " + err.getString(0));
                }
                if (n <= len) {
                    return new String(buf.asSlice(0, n).toArray(java.lang.foreign.ValueLayout.JAVA_BYTE),
                            StandardCharsets.UTF_8);
                }
                len = n;
            }
        }
    }

    private static void fill(MemorySegment slot, ChatMessage m, Arena arena) {
        llama_chat_message.role(slot, arena.allocateFrom(m.role()));
        llama_chat_message.content(slot, arena.allocateFrom(m.content()));
    }

    @Override
    public void close() {
        qwenvl_chat_templates_free(handle);
    }
}
