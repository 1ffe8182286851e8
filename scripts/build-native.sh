#!/usr/bin/env bash
# The one entry point for the native build: fetches the pinned llama.cpp, builds ggml, llama, mtmd, llama-common,
# our qwenvl-shim library and the reference tools (llama-mtmd-cli, llama-quantize) with native/CMakeLists.txt, and
# links the result to native/target/bin. Builds are cached by (tree id, options, native/ sources): a second run
# with the same inputs returns at once.
#   --backend cpu|cuda|metal|vulkan   (default cpu, or $QWENVL_BACKEND)
#   --flavour host|portable           (default host, or $QWENVL_CPU_FLAVOUR)
#   --jobs N                          (default: all cores)
#   --stage DIR                       also copy the runtime libraries into DIR/dev/qwenvl/natives/<platform>/,
#                                     with natives.list naming them in load order (this is what the natives jar holds)
set -euo pipefail
. "$(dirname "$0")/lib.sh"

backend=${QWENVL_BACKEND:-cpu}; flavour=${QWENVL_CPU_FLAVOUR:-host}; jobs=$(getconf _NPROCESSORS_ONLN); stage=
while [ $# -gt 0 ]; do
    case "$1" in
        --backend) backend=$2; shift 2 ;;
        --flavour) flavour=$2; shift 2 ;;
        --jobs) jobs=$2; shift 2 ;;
        --stage) stage=$2; shift 2 ;;
        *) die "unknown option $1 (see the header of $0)" ;;
    esac
done
command -v cmake >/dev/null || die "cmake not found; install cmake >= 3.14"

src=$(bash "$QWENVL_ROOT/scripts/fetch-llama-cpp.sh")
tree=$(lock_value tree)
inputs=$(cd "$QWENVL_ROOT/native" && cat CMakeLists.txt shim/* | sha256_of | cut -c1-12)
key="${tree:0:12}-$backend-$flavour-$inputs"
build="$QWENVL_CACHE/build/$key"
out="$QWENVL_ROOT/native/target"

link_result() {
    mkdir -p "$out"
    ln -sfn "$build/bin" "$out/bin"
    printf 'backend=%s\nflavour=%s\ntree=%s\nversion=%s\nplatform=%s\n' \
        "$backend" "$flavour" "$tree" "$(lock_value version)" "$(platform)" > "$out/build.properties"
}

# Copies the runtime libraries under the names the dynamic linker asks for (SONAMEs), dependencies first.
stage_natives() {
    local dir="$1/dev/qwenvl/natives/$(platform)" name f
    rm -rf "$dir"; mkdir -p "$dir"
    : > "$dir/natives.list"
    for name in ggml-base ggml-cpu ggml-blas ggml-cuda ggml-metal ggml-vulkan ggml llama mtmd llama-common qwenvl-shim; do
        for f in "$build/bin/lib$name.so.0" "$build/bin/lib$name.so" "$build/bin/lib$name.dylib" "$build/bin/lib$name.0.dylib"; do
            if [ -e "$f" ]; then cp -L "$f" "$dir/"; basename "$f" >> "$dir/natives.list"; break; fi
        done
    done
    # Portable flavour: the CPU variants are modules that ggml dlopens from the directory of libggml.
    # The AMX variant (sapphirerapids) is left out: its kernels die with SIGILL inside a JVM.
    for f in "$build"/bin/libggml-cpu-*.so "$build"/bin/libggml-cpu-*.dylib; do
        case "$f" in *sapphirerapids*) continue ;; esac
        [ -e "$f" ] && cp -L "$f" "$dir/" && echo "module:$(basename "$f")" >> "$dir/natives.list"
    done
    echo "staged $(grep -c . "$dir/natives.list") libraries into $dir" >&2
}

if [ -f "$build/.complete" ]; then
    echo "native build $key is cached in $build" >&2
    link_result
    [ -z "$stage" ] || stage_natives "$stage"
    exit 0
fi

mkdir -p "$build"
exec 9>"$build/.lock"
lock_fd 9
start=$(date +%s)
cmake -S "$QWENVL_ROOT/native" -B "$build" -DCMAKE_BUILD_TYPE=Release \
    -DLLAMA_CPP_DIR="$src" -DQWENVL_BACKEND="$backend" -DQWENVL_CPU_FLAVOUR="$flavour" >"$build/configure.log" 2>&1 \
    || { tail -30 "$build/configure.log" >&2; die "cmake configure failed; the log is $build/configure.log"; }
cmake --build "$build" --target qwenvl-natives -j "$jobs" >"$build/build.log" 2>&1 \
    || { tail -40 "$build/build.log" >&2; die "native build failed; the log is $build/build.log"; }
touch "$build/.complete"
echo "native build $key took $(( $(date +%s) - start )) s" >&2
link_result
[ -z "$stage" ] || stage_natives "$stage"
