package dev.qwenvl;

import java.util.Locale;

/** Who said a message of a conversation, as chat templates name them. */
public enum Role {
    /** Instructions for the assistant; usually the first message. */
    SYSTEM,
    /** The person asking. */
    USER,
    /** The model's answer. */
    ASSISTANT;

    /** The role's name in chat templates: {@code system}, {@code user}, {@code assistant}. */
    public String templateName() {
        return name().toLowerCase(Locale.ROOT);
    }
}
