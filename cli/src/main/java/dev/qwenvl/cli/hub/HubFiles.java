package dev.qwenvl.cli.hub;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Picks the text model and the projector among a repository's file paths, by the rule documented on
 * {@link HubClient}; the Hub listing and the offline cache go through the same code.
 */
final class HubFiles {

    private static final List<String> NOT_MODEL = List.of("mmproj", "imatrix", "mtp-", "eagle3-", "dflash-", "dspark-");
    private static final List<String> DEFAULT_QUANTS = List.of(HubModelRef.DEFAULT_QUANT, "Q8_0");
    private static final Pattern SPLIT = Pattern.compile("(.+)-(\\d{5})-of-(\\d{5})\\.gguf", Pattern.CASE_INSENSITIVE);
    private static final Pattern TAG = Pattern.compile("[-.]([A-Za-z0-9_]+)$");

    private HubFiles() {
    }

    /**
     * The paths of the text model (all parts of a split model, first part first), or empty when none matches.
     */
    static List<String> selectModel(List<String> paths, Optional<String> quant) {
        List<String> sorted = paths.stream().sorted().toList();
        List<String> models = sorted.stream().filter(HubFiles::isModel).filter(HubFiles::isFirstPart).toList();
        List<String> quants = quant.map(List::of).orElse(DEFAULT_QUANTS);
        Optional<String> chosen = quants.stream()
                .flatMap(q -> models.stream().filter(p -> hasQuant(p, q)).limit(1))
                .findFirst();
        if (chosen.isEmpty() && quant.isEmpty()) {
            chosen = models.stream().findFirst();
        }
        return chosen.map(first -> splitParts(sorted, first)).orElse(List.of());
    }

    /** The projector for {@code model} by the rule above, or empty when the repository has none. */
    static Optional<String> selectMmproj(List<String> paths, String model) {
        String modelDir = directory(model);
        return paths.stream()
                .filter(p -> name(p).toLowerCase(Locale.ROOT).startsWith("mmproj") && p.endsWith(".gguf"))
                .filter(p -> modelDir.startsWith(directory(p)))
                .min(Comparator.comparingInt((String p) -> -directory(p).length())
                        .thenComparing(p -> !"F16".equals(tag(p)))
                        .thenComparingInt(p -> -bits(tag(p)))
                        .thenComparing(Comparator.naturalOrder()));
    }

    /** The model files and the projector of a listing, or the reason why there are none. */
    static Selection select(List<String> paths, HubModelRef ref, String where) {
        List<String> model = selectModel(paths, ref.quant());
        if (model.isEmpty()) {
            throw new HubException(HubException.Reason.NO_MATCHING_FILE, "no text-model GGUF"
                    + ref.quant().map(q -> " with quantization " + q).orElse("") + " in " + where + listing(paths));
        }
        String mmproj = selectMmproj(paths, model.getFirst()).orElseThrow(() -> new HubException(
                HubException.Reason.NO_MATCHING_FILE, "no mmproj GGUF beside " + model.getFirst() + " in " + where
                + listing(paths) + "\nA vision model needs its projector: pass --model FILE --mmproj FILE instead."));
        return new Selection(model, mmproj);
    }

    /** The chosen files: the model's parts (first part first) and the projector. */
    record Selection(List<String> model, String mmproj) {
        List<String> all() {
            List<String> all = new ArrayList<>(model);
            all.add(mmproj);
            return all;
        }
    }

    private static String listing(List<String> paths) {
        List<String> ggufs = paths.stream().filter(p -> p.endsWith(".gguf")).sorted().toList();
        return ggufs.isEmpty() ? " (it holds no .gguf file)" : "; its GGUF files:\n  " + String.join("\n  ", ggufs);
    }

    private static boolean isModel(String path) {
        String name = name(path).toLowerCase(Locale.ROOT);
        return name.endsWith(".gguf") && NOT_MODEL.stream().noneMatch(name::contains);
    }

    private static boolean isFirstPart(String path) {
        Matcher m = SPLIT.matcher(path);
        return !m.matches() || Integer.parseInt(m.group(2)) == 1;
    }

    private static boolean hasQuant(String path, String quant) {
        return Pattern.compile("(^|[-_./])" + Pattern.quote(quant) + "[.-]", Pattern.CASE_INSENSITIVE).matcher(path).find();
    }

    private static List<String> splitParts(List<String> sorted, String first) {
        Matcher m = SPLIT.matcher(first);
        if (!m.matches()) {
            return List.of(first);
        }
        String prefix = m.group(1);
        String count = m.group(3);
        // Sorted order puts 00001 before 00002, so the first part stays first.
        return sorted.stream().filter(p -> {
            Matcher part = SPLIT.matcher(p);
            return part.matches() && part.group(1).equals(prefix) && part.group(3).equals(count);
        }).toList();
    }

    /** The quantization tag of a GGUF path, upper-cased: {@code mmproj-x-f16.gguf} gives {@code F16}. */
    static String tag(String path) {
        Matcher split = SPLIT.matcher(path);
        String stem = split.matches() ? split.group(1) : path.replaceFirst("(?i)\\.gguf$", "");
        Matcher m = TAG.matcher(stem);
        return m.find() ? m.group(1).toUpperCase(Locale.ROOT) : "";
    }

    // Q4_K_M gives 4, F16 gives 16, an unknown tag 0: llama.cpp's extract_quant_bits.
    private static int bits(String tag) {
        Matcher m = Pattern.compile("\\d{1,4}").matcher(tag);
        return m.find() ? Integer.parseInt(m.group()) : 0;
    }

    private static String name(String path) {
        return path.substring(path.lastIndexOf('/') + 1);
    }

    private static String directory(String path) {
        return path.substring(0, path.lastIndexOf('/') + 1);
    }
}
