package dev.qwenvl.cli.hub;

import java.util.Locale;
import java.util.Optional;
import java.util.regex.Pattern;

/**
 * A model on the Hugging Face Hub as given to {@code --hf}: {@code org/name[:QUANT]}.
 *
 * <p>{@code HubModelRef.parse("ggml-org/Qwen2.5-VL-3B-Instruct-GGUF:Q8_0")} names the repository and the quantization
 * whose text-model GGUF to fetch; without {@code :QUANT} the selection tries {@value #DEFAULT_QUANT} first
 * (the rules are on {@link HubClient}).
 *
 * @param repo  the repository id, {@code org/name}
 * @param quant the quantization tag, upper-cased (e.g. {@code Q4_K_M}); empty when not given
 */
public record HubModelRef(String repo, Optional<String> quant) {

    /** The repository used when {@code --hf} is not given. */
    public static final String DEFAULT_REPO = "ggml-org/Qwen2.5-VL-3B-Instruct-GGUF";

    /** The quantization preferred when the reference names none. */
    public static final String DEFAULT_QUANT = "Q4_K_M";

    // The Hub's rule, as llama.cpp checks it: [A-Za-z0-9_] runs joined by single '.', '-', exactly one '/'.
    private static final Pattern REPO = Pattern.compile("[A-Za-z0-9_]+([.-][A-Za-z0-9_]+)*/[A-Za-z0-9_]+([.-][A-Za-z0-9_]+)*");
    private static final Pattern QUANT = Pattern.compile("[A-Za-z0-9_]+([.-][A-Za-z0-9_]+)*");

    /** The default model: {@value #DEFAULT_REPO} at its default quantization. */
    public static final HubModelRef DEFAULT = new HubModelRef(DEFAULT_REPO, Optional.empty());

    /** Validates both parts; the quantization is kept upper-case so that it compares as the Hub's file names do. */
    public HubModelRef {
        if (repo == null || repo.length() > 256 || !REPO.matcher(repo).matches()) {
            throw new HubException(HubException.Reason.INVALID_REFERENCE,
                    "invalid Hugging Face repository '" + repo + "': expected org/name[:QUANT], e.g. " + DEFAULT_REPO + ":" + DEFAULT_QUANT);
        }
        quant = quant == null ? Optional.empty() : quant.map(q -> q.toUpperCase(Locale.ROOT));
        if (quant.isPresent() && !QUANT.matcher(quant.get()).matches()) {
            throw new HubException(HubException.Reason.INVALID_REFERENCE,
                    "invalid quantization '" + quant.get() + "' in --hf " + repo + ": expected letters, digits and '_' such as Q4_K_M");
        }
    }

    /**
     * Parses {@code org/name} or {@code org/name:QUANT}.
     *
     * @throws HubException with {@link HubException.Reason#INVALID_REFERENCE} when either part is malformed
     */
    public static HubModelRef parse(String text) {
        if (text == null) {
            throw new HubException(HubException.Reason.INVALID_REFERENCE, "missing Hugging Face repository: expected org/name[:QUANT]");
        }
        int colon = text.indexOf(':');
        if (colon < 0) {
            return new HubModelRef(text, Optional.empty());
        }
        return new HubModelRef(text.substring(0, colon), Optional.of(text.substring(colon + 1)));
    }

    /** The folder name of this repository in the Hugging Face cache: {@code models--org--name}. */
    public String cacheFolderName() {
        return "models--" + repo.replace("/", "--");
    }

    @Override
    public String toString() {
        return quant.map(q -> repo + ":" + q).orElse(repo);
    }
}
