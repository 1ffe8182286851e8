package dev.qwenvl.langchain4j;

import dev.langchain4j.model.chat.request.ChatRequestParameters;
import dev.langchain4j.model.chat.request.DefaultChatRequestParameters;

import java.util.Objects;

/**
 * LangChain4j's common request parameters plus what llama.cpp's sampler adds: the seed of the final random draw.
 * {@snippet :
 * ChatRequest request = ChatRequest.builder()
 *         .messages(UserMessage.from("Describe the image."))
 *         .parameters(QwenVlChatRequestParameters.builder().temperature(0.7).seed(42L).build())
 *         .build();
 * }
 */
public final class QwenVlChatRequestParameters extends DefaultChatRequestParameters {
    private final Long seed;

    private QwenVlChatRequestParameters(Builder builder) {
        super(builder);
        this.seed = builder.seed;
    }

    /**
     * Returns the seed of the final random draw.
     *
     * @return 0 to 4294967294, or {@code null} for a random seed
     */
    public Long seed() {
        return seed;
    }

    /** Returns these parameters with those {@code that} sets replacing them. */
    @Override
    public QwenVlChatRequestParameters overrideWith(ChatRequestParameters that) {
        return builder().overrideWith(this).overrideWith(that).build();
    }

    /** Returns these parameters with those they leave unset taken from {@code that}. */
    @Override
    public QwenVlChatRequestParameters defaultedBy(ChatRequestParameters that) {
        return builder().overrideWith(that).overrideWith(this).build();
    }

    /** Equal when the common parameters and the seed are. */
    @Override
    public boolean equals(Object o) {
        return o instanceof QwenVlChatRequestParameters that && super.equals(that) && Objects.equals(seed, that.seed);
    }

    /** A hash of the common parameters and the seed. */
    @Override
    public int hashCode() {
        return 31 * super.hashCode() + Objects.hashCode(seed);
    }

    /** The common parameters and the seed. */
    @Override
    public String toString() {
        return "QwenVlChatRequestParameters{" + super.toString() + ", seed=" + seed + "}";
    }

    /**
     * Returns a builder with nothing set.
     *
     * @return a new builder
     */
    public static Builder builder() {
        return new Builder();
    }

    /** Builds {@link QwenVlChatRequestParameters}. */
    public static final class Builder extends DefaultChatRequestParameters.Builder<Builder> {
        private Long seed;

        private Builder() {
        }

        /** Takes every parameter {@code parameters} sets, the seed too when it has one. */
        @Override
        public Builder overrideWith(ChatRequestParameters parameters) {
            super.overrideWith(parameters);
            if (parameters instanceof QwenVlChatRequestParameters q && q.seed != null) {
                seed = q.seed;
            }
            return this;
        }

        /**
         * Sets the seed of the final random draw.
         *
         * @param seed 0 to 4294967294, or {@code null} for a random seed
         * @return this builder
         */
        public Builder seed(Long seed) {
            this.seed = seed;
            return this;
        }

        /** Builds the parameters. */
        @Override
        public QwenVlChatRequestParameters build() {
            return new QwenVlChatRequestParameters(this);
        }
    }
}
