package dev.qwenvl.bindings;

import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.qwenvl.natives.NativeLibraries;
import java.lang.foreign.SymbolLookup;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.util.Arrays;
import java.util.Set;
import java.util.TreeSet;
import org.junit.jupiter.api.Test;

/** Every function the bindings declare is exported by the native libraries this project builds. */
class SymbolTest {

    @Test
    void everyDowncallResolves() {
        NativeLibraries.load();
        Set<String> symbols = downcallSymbols();
        assertTrue(symbols.contains("llama_backend_init") && symbols.contains("mtmd_helper_eval_chunks")
                && symbols.contains("ggml_abort"), "reflection found too few downcalls: " + symbols.size());
        SymbolLookup lookup = SymbolLookup.loaderLookup();
        Set<String> missing = new TreeSet<>(symbols.stream().filter(s -> lookup.find(s).isEmpty()).toList());
        assertTrue(missing.isEmpty(), missing.size() + " of " + symbols.size()
                + " generated downcalls have no symbol in the loaded libraries: " + missing);
    }

    /** Names behind every name$address() of the header class chain, and every variadic invoker's address(). */
    static Set<String> downcallSymbols() {
        Set<String> out = new TreeSet<>();
        for (Method m : qwenvl_h.class.getMethods()) {
            if (Modifier.isStatic(m.getModifiers()) && m.getParameterCount() == 0 && m.getName().endsWith("$address")) {
                out.add(m.getName().substring(0, m.getName().length() - "$address".length()));
            }
        }
        for (Class<?> c : qwenvl_h.class.getClasses()) {
            if (Arrays.stream(c.getMethods()).anyMatch(m -> m.getName().equals("makeInvoker"))) {
                out.add(c.getSimpleName());
            }
        }
        return out;
    }
}
