package dev.qwenvl.natives;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;

/**
 * Loads llama.cpp's native libraries, dependencies first, exactly once per JVM.
 *
 * <p>Where from, in order: the directory named by the system property {@value #PATH_PROPERTY} or the environment
 * variable {@value #PATH_ENV} (for your own CUDA, Metal or Vulkan build: point it at the build's {@code bin}
 * directory); otherwise the natives jar for this platform on the class path, extracted once into a per-content cache
 * directory under {@code $QWENVL_CACHE}, {@code $XDG_CACHE_HOME/qwenvl} or {@code ~/.cache/qwenvl}.
 */
public final class NativeLibraries {
    public static final String PATH_PROPERTY = "qwenvl.library.path";
    public static final String PATH_ENV = "QWENVL_LIBRARY_PATH";
    static final String LIST = "natives.list";
    private static final String MODULE_PREFIX = "module:";
    private static final int RTLD_NOW = 2; // the same on Linux and macOS
    private static final long DLERROR_MAX = 4096;
    /** ggml builds this CPU variant too, but its AMX kernels die with SIGILL inside a JVM; ggml would pick it first. */
    private static final String JVM_CRASHING_VARIANT = "ggml-cpu-sapphirerapids";
    private static final List<String> LOAD_ORDER =
            List.of("ggml-base", "ggml-cpu", "ggml-blas", "ggml-rpc", "ggml-cuda", "ggml-metal", "ggml-vulkan", "ggml", "llama",
                    "mtmd", "llama-common", "qwenvl-shim");

    private static final System.Logger LOG = System.getLogger("dev.qwenvl");

    private static Path loadedFrom;

    private NativeLibraries() {
    }

    /** Loads the libraries if this JVM has not yet; returns the directory they came from. */
    public static synchronized Path load() {
        if (loadedFrom == null) {
            Path dir = locate();
            refuseCrashingVariant(dir);
            for (Path lib : librariesIn(dir)) {
                try {
                    System.load(lib.toString());
                } catch (UnsatisfiedLinkError e) {
                    throw new NativeLibraryException("cannot load " + lib + " on " + platform() + ": " + e.getMessage()
                            + ". The libraries in " + dir + " may come from another platform or need a missing system"
                            + " library (ldd shows which); rebuild them with scripts/build-native.sh", e);
                }
            }
            loadedFrom = dir;
        }
        return loadedFrom;
    }

    /** ggml dlopens every CPU variant in the directory it scans, whatever natives.list says: refuse before it does. */
    private static void refuseCrashingVariant(Path dir) {
        for (String name : fileNames(JVM_CRASHING_VARIANT)) {
            if (Files.exists(dir.resolve(name))) {
                throw new NativeLibraryException(dir + " holds " + name + ": ggml would load this CPU variant on an"
                        + " AMX CPU, and its AMX kernels die with SIGILL inside a JVM. Remove it from " + dir
                        + " (scripts/build-native.sh leaves it out of native/target/bin)");
            }
        }
    }

    /** The directory the libraries were loaded from, or empty before {@link #load()}. */
    public static synchronized Optional<Path> directory() {
        return Optional.ofNullable(loadedFrom);
    }

    /** Whether the CPU backend comes as dynamically loaded variant modules (the portable flavour). */
    public static boolean hasBackendModules(Path dir) {
        return readList(dir).stream().anyMatch(s -> s.startsWith(MODULE_PREFIX));
    }

    /** The module files natives.list names in dir (the libraries ggml dlopens itself), in its order. */
    public static List<String> moduleFiles(Path dir) {
        return readList(dir).stream().filter(s -> s.startsWith(MODULE_PREFIX))
                .map(s -> s.substring(MODULE_PREFIX.length())).toList();
    }

    /** Why the backend's module in dir does not load here (the dynamic linker's words), or empty if it loads. */
    public static Optional<String> whyModuleFails(Path dir, GpuBackend backend) {
        for (String f : moduleFiles(dir)) {
            if (GpuBackend.ofModule(f).equals(Optional.of(backend))) {
                try (Arena arena = Arena.ofConfined()) {
                    SymbolLookup.libraryLookup(dir.resolve(f), arena);
                    return Optional.empty();
                } catch (IllegalArgumentException e) {
                    return Optional.of(f + " does not load: " + linkerError(dir.resolve(f)).orElse(e.getMessage()));
                }
            }
        }
        return Optional.empty();
    }

    /**
     * The dynamic linker's reason (dlerror) why path does not load, such as the dependency it cannot find, which
     * Java's "Cannot open library" leaves out; empty where there is no dlopen or it loads after all.
     */
    private static Optional<String> linkerError(Path path) {
        Linker linker = Linker.nativeLinker();
        Optional<MemorySegment> open = linker.defaultLookup().find("dlopen");
        Optional<MemorySegment> error = linker.defaultLookup().find("dlerror");
        Optional<MemorySegment> close = linker.defaultLookup().find("dlclose");
        if (open.isEmpty() || error.isEmpty() || close.isEmpty()) {
            return Optional.empty();
        }
        MethodHandle dlopen = linker.downcallHandle(open.get(), FunctionDescriptor.of(ValueLayout.ADDRESS,
                ValueLayout.ADDRESS, ValueLayout.JAVA_INT));
        MethodHandle dlerror = linker.downcallHandle(error.get(), FunctionDescriptor.of(ValueLayout.ADDRESS));
        MethodHandle dlclose = linker.downcallHandle(close.get(), FunctionDescriptor.of(ValueLayout.JAVA_INT,
                ValueLayout.ADDRESS));
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment handle = (MemorySegment) dlopen.invokeExact(arena.allocateFrom(path.toString()), RTLD_NOW);
            if (!handle.equals(MemorySegment.NULL)) {
                int closed = (int) dlclose.invokeExact(handle);
                return Optional.empty();
            }
            MemorySegment message = (MemorySegment) dlerror.invokeExact();
            return message.equals(MemorySegment.NULL) ? Optional.empty()
                    : Optional.of(message.reinterpret(DLERROR_MAX).getString(0));
        } catch (Throwable t) {
            return Optional.empty(); // the reason is a nicety; Java's own message still says which file
        }
    }

    /** This machine's natives classifier: {@code linux-x86_64}, {@code macos-aarch64}, {@code windows-x86_64}... */
    public static String platform() {
        String os = System.getProperty("os.name").toLowerCase(Locale.ROOT);
        String arch = System.getProperty("os.arch").toLowerCase(Locale.ROOT);
        String o = os.contains("linux") ? "linux" : os.contains("mac") ? "macos" : os.contains("win") ? "windows" : os;
        String a = switch (arch) {
            case "amd64", "x86_64" -> "x86_64";
            case "aarch64", "arm64" -> "aarch64";
            default -> arch;
        };
        return o + "-" + a;
    }

    private static Path locate() {
        List<String> tried = new ArrayList<>();
        String explicit = System.getProperty(PATH_PROPERTY);
        String source = "system property " + PATH_PROPERTY;
        if (explicit == null || explicit.isBlank()) {
            explicit = System.getenv(PATH_ENV);
            source = "environment variable " + PATH_ENV;
        }
        if (explicit != null && !explicit.isBlank()) {
            Path dir = Path.of(explicit).toAbsolutePath();
            if (!librariesIn(dir).isEmpty()) {
                return dir;
            }
            throw new NativeLibraryException(source + " names " + dir + ", which holds no llama.cpp libraries for "
                    + platform() + " (looked for " + String.join(", ", fileNames("llama")) + "). Point it at the bin"
                    + " directory of a build made by scripts/build-native.sh");
        }
        for (String classifier : classifiers()) {
            String resourceDir = "/dev/qwenvl/natives/" + classifier + "/";
            tried.add("class path resource " + resourceDir + LIST);
            try (InputStream list = NativeLibraries.class.getResourceAsStream(resourceDir + LIST)) {
                if (list != null) {
                    return extract(resourceDir, new String(list.readAllBytes(), StandardCharsets.UTF_8));
                }
            } catch (IOException e) {
                throw new NativeLibraryException("cannot extract the native libraries from " + resourceDir + ": " + e,
                        e);
            }
        }
        throw new NativeLibraryException("no llama.cpp libraries for platform " + platform() + ". Tried: "
                + String.join("; ", tried) + "; " + PATH_PROPERTY + " and " + PATH_ENV + " are unset. Build them with"
                + " scripts/build-native.sh (add --backend cuda|metal|vulkan for a GPU) and set " + PATH_PROPERTY
                + " to native/target/bin, or put the qwenvl-natives jar for " + platform() + " on the class path");
    }

    /**
     * The natives classifiers to take from the class path, best first: a GPU one whose driver this machine can load,
     * then the CPU one. A GPU jar whose driver is missing is passed over with one log line, as a GPU build is too.
     */
    static List<String> classifiers() {
        List<String> out = new ArrayList<>();
        for (GpuBackend gpu : GpuBackend.values()) {
            String classifier = platform() + "-" + gpu.suffix();
            if (NativeLibraries.class.getResource("/dev/qwenvl/natives/" + classifier + "/" + LIST) == null) {
                continue;
            }
            Optional<String> missing = gpu.missingDriver();
            if (missing.isEmpty()) {
                out.add(classifier);
            } else {
                LOG.log(System.Logger.Level.WARNING, "qwenvl: the " + classifier + " natives are on the class path,"
                        + " but " + missing.get() + "; running on the CPU natives");
            }
        }
        out.add(platform());
        return out;
    }

    /** Copies the jar's libraries into a directory named by their content hash, so concurrent JVMs agree. */
    private static Path extract(String resourceDir, String listing) throws IOException {
        Map<String, byte[]> files = new LinkedHashMap<>();
        MessageDigest sha;
        try {
            sha = MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
        for (String line : listing.lines().map(String::strip).filter(s -> !s.isEmpty()).toList()) {
            String name = line.startsWith(MODULE_PREFIX) ? line.substring(MODULE_PREFIX.length()) : line;
            try (InputStream in = NativeLibraries.class.getResourceAsStream(resourceDir + name)) {
                if (in == null) {
                    throw new NativeLibraryException("the natives jar lists " + name + " but does not hold it");
                }
                byte[] bytes = in.readAllBytes();
                sha.update(name.getBytes(StandardCharsets.UTF_8));
                sha.update(bytes);
                files.put(name, bytes);
            }
        }
        files.put(LIST, listing.getBytes(StandardCharsets.UTF_8));
        Path root = cacheRoot().resolve("natives");
        Path target = root.resolve(platform() + "-" + HexFormat.of().formatHex(sha.digest(), 0, 8));
        if (Files.isRegularFile(target.resolve(LIST))) {
            return target;
        }
        Files.createDirectories(root);
        Path staging = Files.createTempDirectory(root, ".extract-");
        try {
            for (Map.Entry<String, byte[]> f : files.entrySet()) {
                Files.write(staging.resolve(f.getKey()), f.getValue());
            }
            Files.move(staging, target, StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException e) {
            deleteTree(staging);
            if (!Files.isRegularFile(target.resolve(LIST))) {
                throw e;
            } // else another JVM extracted the same content first
        }
        return target;
    }

    private static Path cacheRoot() {
        String env = System.getenv("QWENVL_CACHE");
        if (env != null && !env.isBlank()) {
            return Path.of(env);
        }
        String xdg = System.getenv("XDG_CACHE_HOME");
        return (xdg != null && !xdg.isBlank() ? Path.of(xdg) : Path.of(System.getProperty("user.home"), ".cache"))
                .resolve("qwenvl");
    }

    /** The libraries to System.load from dir, dependencies first; empty if dir holds none. */
    static List<Path> librariesIn(Path dir) {
        List<Path> libs = new ArrayList<>();
        List<String> listed = readList(dir);
        if (!listed.isEmpty()) {
            for (String name : listed) {
                if (!name.startsWith(MODULE_PREFIX)) {
                    libs.add(dir.resolve(name));
                }
            }
            return libs;
        }
        for (String lib : LOAD_ORDER) {
            fileNames(lib).stream().map(dir::resolve).filter(Files::isRegularFile).findFirst().ifPresent(libs::add);
        }
        boolean complete = libs.stream().anyMatch(p -> p.getFileName().toString().contains("mtmd"));
        return complete ? libs : List.of();
    }

    private static List<String> readList(Path dir) {
        Path list = dir.resolve(LIST);
        try {
            return Files.isRegularFile(list)
                    ? Files.readAllLines(list).stream().map(String::strip).filter(s -> !s.isEmpty()).toList()
                    : List.of();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static List<String> fileNames(String lib) {
        return switch (platform().substring(0, platform().indexOf('-'))) {
            case "macos" -> List.of("lib" + lib + ".0.dylib", "lib" + lib + ".dylib");
            case "windows" -> List.of(lib + ".dll");
            default -> List.of("lib" + lib + ".so.0", "lib" + lib + ".so");
        };
    }

    private static void deleteTree(Path dir) throws IOException {
        try (var paths = Files.walk(dir)) {
            for (Path p : paths.sorted(java.util.Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        }
    }
}
