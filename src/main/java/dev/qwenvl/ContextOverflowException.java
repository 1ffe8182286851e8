package dev.qwenvl;

/** A message (text plus image tokens) does not fit the space left in the conversation's context; nothing was decoded. */
public final class ContextOverflowException extends QwenVlException {
    private final long needed;
    private final long available;

    public ContextOverflowException(long needed, long available, int contextSize) {
        super("the message needs " + needed + " tokens but only " + available + " of the context's " + contextSize
                + " are free; shorten the prompt, use fewer or smaller images (ModelOptions.withImageTokens),"
                + " reset the conversation, or raise ModelOptions.withContextSize");
        this.needed = needed;
        this.available = available;
    }

    /** Tokens the message needs. */
    public long needed() {
        return needed;
    }

    /** Tokens that were free in the context. */
    public long available() {
        return available;
    }
}
