package dev.qwenvl;

/** Why a generation ended. */
public enum StopReason {
    /** The model produced an end-of-generation token (such as {@code <|im_end|>}). */
    END_OF_GENERATION,
    /** {@link SamplingOptions#maxTokens()} tokens were generated. */
    MAX_TOKENS,
    /** The text reached one of {@link SamplingOptions#stopStrings()}. */
    STOP_STRING,
    /** The context is full; reset the conversation or raise the context size. */
    CONTEXT_FULL,
    /** {@link Conversation#cancel()} was called. */
    CANCELLED
}
