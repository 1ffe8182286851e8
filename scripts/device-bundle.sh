#!/usr/bin/env bash
# Packs everything scripts/device-check.sh needs into one file, for a GPU machine that cannot reach Maven Central or
# npm (a cluster node, a leased box): a jlink'ed Java runtime, the CLI jar, the facade's test class path (the
# fixture generator and the benchmark) and the pinned llama.cpp tree with native/patches applied, exported without
# its git history, the vocabularies of other models, the docs and the tests. Made here, run there with
# `scripts/device-check.sh --bundle FILE`; both machines must be of one platform (linux-x86_64 for NVIDIA).
#   scripts/device-bundle.sh [--natives DIR] [FILE]     (default target/device-bundle.tar.xz)
#     --natives DIR   bring this finished build (its natives.list, llama-mtmd-cli and llama-batched-bench) instead of
#                     the source: the check then builds nothing there, and of the source only the tokenizer travels
set -euo pipefail
. "$(dirname "$0")/lib.sh"

natives=
[ "${1:-}" != --natives ] || { natives=$2; shift 2; }
file=${1:-$QWENVL_ROOT/target/device-bundle.tar.xz}
if [ -n "$natives" ]; then
    [ -f "$natives/natives.list" ] && [ -x "$natives/llama-mtmd-cli" ] \
        || die "--natives $natives is not a natives build's bin directory (natives.list, llama-mtmd-cli)"
fi
export JAVA_HOME=${JAVA_HOME:-$(find_jdk)} || die "no JDK >= 22 found; set JAVA_HOME"
for tool in mvn xz objcopy; do command -v "$tool" >/dev/null || die "$tool not found"; done
cd "$QWENVL_ROOT"

stage=$QWENVL_ROOT/target/device-bundle
rm -rf "$stage"; mkdir -p "$stage"
mvn -B -ntp -q -DskipTests -Dexec.skip=true install -pl bindings,src,cli -am
cp cli/target/qwenvl.jar "$stage/"
classpath=$(test_classpath "$stage/classpath" dev/qwenvl/testing/TinyModels.class)
echo "${classpath//$stage\//}" > "$stage/classpath.txt" # relative to the unpacked bundle

# The runtime holds the modules the CLI and the test class path use; uncompressed inside, since xz packs it better.
release=$("$JAVA_HOME/bin/java" -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.specification.version = //p')
modules=$("$JAVA_HOME/bin/jdeps" --ignore-missing-deps --multi-release "$release" --print-module-deps \
    "$stage/qwenvl.jar" "$stage"/classpath/classes "$stage"/classpath/test-classes "$stage"/classpath/lib/*.jar 2>/dev/null \
    || true)
[ -n "$modules" ] || die "jdeps could not list the modules the jars need"
"$JAVA_HOME/bin/jlink" --add-modules "$modules,java.management,jdk.management" --output "$stage/runtime" \
    --strip-debug --no-man-pages --no-header-files --compress=zip-0 \
    --strip-native-debug-symbols=objcopy="$(command -v objcopy)"

src=$(bash scripts/fetch-llama-cpp.sh --patched)
mkdir -p "$stage/llama.cpp/models"
if [ -n "$natives" ]; then
    mkdir -p "$stage/natives"
    while read -r line; do cp -L "$natives/${line#module:}" "$stage/natives/"; done < "$natives/natives.list"
    cp -L "$natives/natives.list" "$natives/llama-mtmd-cli" "$stage/natives/"
    # llama-batched-bench for scripts/bench.sh --batched there (the tool is a thin executable over its -impl library)
    for f in llama-batched-bench libllama-batched-bench-impl.so; do
        [ ! -e "$natives/$f" ] || cp -L "$natives/$f" "$stage/natives/"
    done
else
    # what a CUDA build compiles: the other backends, the web UI, docs, tests and examples stay behind
    tar -C "$src" -cf - --exclude=./.git --exclude=./docs --exclude=./media --exclude=./examples --exclude=./tests \
            --exclude=./benches --exclude=./pocs --exclude=./gguf-py --exclude=./conversion --exclude=./.github \
            --exclude=./.devops --exclude='./models/*' --exclude=./ggml/src/ggml-opencl \
            --exclude=./ggml/src/ggml-sycl --exclude=./ggml/src/ggml-hexagon --exclude=./ggml/src/ggml-et \
            --exclude=./ggml/src/ggml-metal --exclude=./ggml/src/ggml-webgpu --exclude=./ggml/src/ggml-openvino \
            --exclude=./ggml/src/ggml-cann --exclude=./ggml/src/ggml-musa --exclude=./ggml/src/ggml-zdnn . \
        | tar -C "$stage/llama.cpp" -xf -
    printf 'tree=%s\npatches=%s\n' "$(lock_value tree)" "$(hash_files native/patches/*.patch)" \
        > "$stage/llama.cpp/QWENVL-SOURCE.properties"
fi
cp "$src/models/ggml-vocab-qwen2.gguf" "$stage/llama.cpp/models/" # the tokenizer the fixture generator copies
printf 'platform=%s\nmade=%s\n' "$(platform)" "$(git rev-parse --short HEAD 2>/dev/null || echo unknown)" \
    > "$stage/bundle.properties"

mkdir -p "$(dirname "$file")"
tar -C "$stage" -cf - . | xz -T0 -9 > "$file.tmp"
mv "$file.tmp" "$file"
echo "device bundle: $file ($(du -k "$file" | cut -f1) KiB)" >&2
