package dev.qwenvl.langchain4j;

import dev.langchain4j.model.chat.response.ChatResponseMetadata;
import dev.qwenvl.GenerationStats;

import java.util.Objects;

/**
 * LangChain4j's common response metadata plus the facade's {@link GenerationStats} of the answer: timings, the
 * images' geometry, and how much of the prompt came from the model's caches.
 * {@snippet :
 * ChatResponse r = model.chat(messages);
 * GenerationStats stats = ((QwenVlChatResponseMetadata) r.metadata()).stats();
 * System.out.println(stats.cachedTokens() + " of " + r.tokenUsage().inputTokenCount() + " prompt tokens were cached");
 * }
 */
public final class QwenVlChatResponseMetadata extends ChatResponseMetadata {
    private final GenerationStats stats;

    private QwenVlChatResponseMetadata(Builder builder) {
        super(builder);
        this.stats = builder.stats;
    }

    /**
     * Returns what the answer cost, as the facade measured it.
     *
     * @return the answer's token counts, timings, image geometry and cache hits
     */
    public GenerationStats stats() {
        return stats;
    }

    /** Returns a builder holding this metadata. */
    @Override
    public Builder toBuilder() {
        return ((Builder) toBuilder(builder())).stats(stats);
    }

    /** Equal when the common metadata and the stats are. */
    @Override
    public boolean equals(Object o) {
        return o instanceof QwenVlChatResponseMetadata that && super.equals(that) && Objects.equals(stats, that.stats);
    }

    /** A hash of the common metadata and the stats. */
    @Override
    public int hashCode() {
        return 31 * super.hashCode() + Objects.hashCode(stats);
    }

    /** The common metadata and the stats. */
    @Override
    public String toString() {
        return "QwenVlChatResponseMetadata{" + super.toString() + ", stats=" + stats + "}";
    }

    /**
     * Returns a builder with nothing set.
     *
     * @return a new builder
     */
    public static Builder builder() {
        return new Builder();
    }

    /** Builds {@link QwenVlChatResponseMetadata}. */
    public static final class Builder extends ChatResponseMetadata.Builder<Builder> {
        private GenerationStats stats;

        private Builder() {
        }

        /**
         * Sets the facade's stats of the answer.
         *
         * @param stats the stats
         * @return this builder
         */
        public Builder stats(GenerationStats stats) {
            this.stats = stats;
            return this;
        }

        /** Builds the metadata. */
        @Override
        public QwenVlChatResponseMetadata build() {
            return new QwenVlChatResponseMetadata(this);
        }
    }
}
