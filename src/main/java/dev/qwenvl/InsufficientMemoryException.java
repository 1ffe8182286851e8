package dev.qwenvl;

/**
 * A load would need more memory than a device has: refused before llama.cpp allocates anything, so the process is
 * never killed for memory half-way. The message names each part on each device that does not fit and what would make
 * it fit; {@link #plan()} has the numbers.
 */
public final class InsufficientMemoryException extends QwenVlException {
    private final transient MemoryPlan plan;

    public InsufficientMemoryException(MemoryPlan plan) {
        super("not enough memory to load " + plan.model().getFileName() + " with a context of " + plan.contextSize()
                + " tokens: " + plan.shortfall() + ". To fit: " + String.join("; ", plan.remedies())
                + ". (ModelOptions.withMemoryCheck(false) or --no-memory-check loads anyway.)");
        this.plan = plan;
    }

    /** The plan that does not fit. */
    public MemoryPlan plan() {
        return plan;
    }
}
