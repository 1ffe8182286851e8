# Shared by the scripts: cache location, lock-file reading, JDK discovery. Source it, do not run it.
QWENVL_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
QWENVL_CACHE=${QWENVL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/qwenvl}

die() { echo "error: $*" >&2; exit 1; }

# lock_value KEY: the value of KEY in native/llama-cpp.lock
lock_value() {
    local v
    v=$(sed -n "s/^$1=//p" "$QWENVL_ROOT/native/llama-cpp.lock")
    [ -n "$v" ] || die "native/llama-cpp.lock has no '$1'"
    printf '%s\n' "$v"
}

# lock_fd N: an exclusive lock on the file open as descriptor N (flock where there is one; macOS has none, and
# there concurrent runs are simply not serialized)
lock_fd() {
    if command -v flock >/dev/null; then flock "$1"; fi
}

# sha256_of: SHA-256 of standard input, hex (sha256sum on Linux, shasum on macOS)
sha256_of() {
    if command -v sha256sum >/dev/null; then sha256sum | cut -d' ' -f1; else shasum -a 256 | cut -d' ' -f1; fi
}

# hash_files FILE...: one short hash over the files' names and contents (build keys, the patched source's name)
hash_files() {
    local f
    for f in "$@"; do printf '%s\n' "${f##*/}"; cat "$f"; done | sha256_of | cut -c1-12
}

# platform: the natives classifier of this machine, as the Java loader spells it
platform() {
    local os arch
    case "$(uname -s)" in
        Linux) os=linux ;; Darwin) os=macos ;; MINGW*|MSYS*|CYGWIN*) os=windows ;; *) die "unsupported OS $(uname -s)" ;;
    esac
    case "$(uname -m)" in
        x86_64|amd64) arch=x86_64 ;; aarch64|arm64) arch=aarch64 ;; *) die "unsupported CPU $(uname -m)" ;;
    esac
    echo "$os-$arch"
}

# find_jdk: prints a JAVA_HOME holding a JDK >= 22 (JAVA_HOME first, then the system's JVM directories)
find_jdk() {
    local c v
    for c in "${JAVA_HOME:-}" /usr/lib/jvm/* /Library/Java/JavaVirtualMachines/*/Contents/Home; do
        [ -n "$c" ] && [ -x "$c/bin/javac" ] || continue
        v=$("$c/bin/java" -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.specification.version = //p')
        if [ "${v%%.*}" -ge 22 ] 2>/dev/null; then echo "$c"; return 0; fi
    done
    return 1
}

# llama_source_dir: the pinned llama.cpp source (scripts/fetch-llama-cpp.sh), or $QWENVL_LLAMA_SRC (an exported one)
llama_source_dir() {
    echo "${QWENVL_LLAMA_SRC:-$QWENVL_CACHE/src/llama.cpp-$(lock_value tree)}"
}

# test_classpath DIR CLASS: copies the facade's compiled classes, test classes and dependency jars into DIR and
# prints that class path, so a long run is immune to builds that rewrite src/target meanwhile. CLASS (a test class
# file) must be there: run `mvn -pl native,bindings,src install -DskipTests` first.
test_classpath() {
    local snap=$1 want=$2 cp j
    # a prepared one (scripts/device-check.sh --bundle), where Maven cannot run
    [ -z "${QWENVL_TEST_CLASSPATH:-}" ] || { echo "$QWENVL_TEST_CLASSPATH"; return 0; }
    rm -rf "$snap"; mkdir -p "$snap/lib"
    (cd "$QWENVL_ROOT" && mvn -q -pl src dependency:build-classpath -Dmdep.includeScope=test \
        -Dmdep.outputFile="$snap/deps.txt" >/dev/null) || die "cannot resolve the facade's class path"
    cp -r "$QWENVL_ROOT/src/target/classes" "$QWENVL_ROOT/src/target/test-classes" "$snap/" 2>/dev/null || true
    [ -f "$snap/test-classes/$want" ] || die "no $want in src/target: build with mvn -pl native,bindings,src install -DskipTests"
    cp="$snap/test-classes:$snap/classes"
    IFS=: read -r -a jars < "$snap/deps.txt" || true # the file has no final newline
    for j in "${jars[@]}"; do cp "$j" "$snap/lib/"; cp+=":$snap/lib/$(basename "$j")"; done
    echo "$cp"
}
