package dev.qwenvl.bench;

import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;

/** Named numbers passed from a child JVM to the harness as {@code bench.<name>=<value>} lines on stdout. */
final class Results {
    private static final String PREFIX = "bench.";
    private final Map<String, Double> values = new LinkedHashMap<>();

    Results put(String name, double value) {
        values.put(name, value);
        return this;
    }

    double get(String name) {
        Double v = values.get(name);
        if (v == null) {
            throw new IllegalStateException("no result named " + name + " in " + values.keySet());
        }
        return v;
    }

    boolean has(String name) {
        return values.containsKey(name);
    }

    /** Prints every value for the parent; the only thing a child writes to stdout. */
    void emit() {
        values.forEach((k, v) -> System.out.println(PREFIX + k + "=" + String.format(Locale.ROOT, "%.6f", v)));
        System.out.flush();
    }

    static Results parse(String stdout) {
        Results r = new Results();
        for (String line : stdout.split("\n")) {
            if (line.startsWith(PREFIX) && line.indexOf('=') > 0) {
                int eq = line.indexOf('=');
                r.put(line.substring(PREFIX.length(), eq), Double.parseDouble(line.substring(eq + 1).strip()));
            }
        }
        return r;
    }
}
