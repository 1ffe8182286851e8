#!/usr/bin/env bash
# The one entry point for the native build: fetches the pinned llama.cpp, builds ggml (with its RPC backend), llama,
# mtmd, llama-common, our qwenvl-shim library and the reference tools (llama-mtmd-cli, llama-quantize, llama-server,
# llama-batched-bench, rpc-server) with native/CMakeLists.txt, and links the result to native/target/bin.
# The build directory is keyed by (tree, backend, flavour, native/CMakeLists.txt + native/shim/CMakeLists.txt +
# native/patches/); a change to the shim's sources alone rebuilds incrementally there. Each finished result is a
# hard-linked snapshot of bin/ named by the shim sources' hash, so a run with the same inputs returns at once and a
# later rebuild never changes the libraries a running test loaded. ccache is used when installed.
#   --backend cpu|cuda|metal|vulkan   (default cpu, or $QWENVL_BACKEND)
#   --flavour portable|host           (default portable, or $QWENVL_CPU_FLAVOUR): what ships, or tuned to this CPU
#   --jobs N                          (default: all cores)
#   --stage DIR                       also copy the runtime libraries into DIR/dev/qwenvl/natives/<classifier>/,
#                                     with natives.list naming them in load order (this is what the natives jar holds);
#                                     <classifier> is <platform> for cpu, <platform>-<backend> for a GPU backend
#   --cuda-arch LIST                  CMAKE_CUDA_ARCHITECTURES for --backend cuda (default: ggml's list for the nvcc)
#   --no-link                         leave native/target/bin as it is (a GPU jar built beside the CPU one)
#   --source DIR                      build this exported, already patched tree (scripts/device-bundle.sh makes one
#                                     for machines that cannot fetch) instead of fetching the pinned one
# CUDA takes cuBLAS from the toolkit beside nvcc, or from $QWENVL_CUBLAS_DIR (its include/ and lib/ with libcublas.so).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

backend=${QWENVL_BACKEND:-cpu}; flavour=${QWENVL_CPU_FLAVOUR:-portable}; jobs=$(getconf _NPROCESSORS_ONLN); stage=
link=1; cuda_arch=; source=
while [ $# -gt 0 ]; do
    case "$1" in
        --backend) backend=$2; shift 2 ;;
        --flavour) flavour=$2; shift 2 ;;
        --jobs) jobs=$2; shift 2 ;;
        --stage) stage=$2; shift 2 ;;
        --no-link) link=; shift ;;
        --cuda-arch) cuda_arch=$2; shift 2 ;;
        --source) source=$2; shift 2 ;;
        *) die "unknown option $1 (see the header of $0)" ;;
    esac
done
command -v cmake >/dev/null || die "cmake not found; install cmake >= 3.14"

tree=$(lock_value tree)
patches=("$QWENVL_ROOT"/native/patches/*.patch)
if [ -n "$source" ]; then
    # an exported tree (scripts/device-bundle.sh) says which tree and patches it is; its git history stays behind
    [ "$(sed -n 's/^tree=//p' "$source/QWENVL-SOURCE.properties" 2>/dev/null)" = "$tree" ] \
        && [ "$(sed -n 's/^patches=//p' "$source/QWENVL-SOURCE.properties")" = "$(hash_files "${patches[@]}")" ] \
        || die "--source $source is not llama.cpp $tree with native/patches applied (see its QWENVL-SOURCE.properties)"
    src=$(cd "$source" && pwd)
else
    src=$(bash "$QWENVL_ROOT/scripts/fetch-llama-cpp.sh" --patched)
fi
build_inputs=$(hash_files "$QWENVL_ROOT/native/CMakeLists.txt" "$QWENVL_ROOT/native/shim/CMakeLists.txt" "${patches[@]}")
shim_inputs=$(hash_files "$QWENVL_ROOT"/native/shim/*)
key="${tree:0:12}-$backend-$flavour-$build_inputs"
cmake_extra=()
if [ "$backend" = cuda ] && [ -n "$cuda_arch" ]; then
    key="$key-arch$(printf %s "$cuda_arch" | sha256_of | cut -c1-8)"
    cmake_extra+=("-DCMAKE_CUDA_ARCHITECTURES=$cuda_arch")
fi
if [ "$backend" = cuda ] && [ -n "${QWENVL_CUBLAS_DIR:-}" ]; then
    export CMAKE_PREFIX_PATH="$QWENVL_CUBLAS_DIR${CMAKE_PREFIX_PATH:+:$CMAKE_PREFIX_PATH}"
    export CPATH="$QWENVL_CUBLAS_DIR/include${CPATH:+:$CPATH}"
fi
build="$QWENVL_CACHE/build/$key"
result="$build/out/$shim_inputs"
out="$QWENVL_ROOT/native/target"

link_result() {
    mkdir -p "$out"
    ln -sfn "$result" "$out/bin"
    printf 'backend=%s\nflavour=%s\ntree=%s\nversion=%s\nplatform=%s\n' \
        "$backend" "$flavour" "$tree" "$(lock_value version)" "$(platform)" > "$out/build.properties"
}

# list_natives DIR: natives.list for the build output in DIR, dependencies first under the names the dynamic linker
# asks for (SONAMEs). With GGML_BACKEND_DL (portable) the backends are "module:" lines: ggml dlopens them itself, and
# one whose driver is missing (CUDA, Vulkan) is skipped instead of failing the load.
list_natives() {
    local dir=$1 name f
    for name in ggml-base ggml-cpu ggml-blas ggml-rpc ggml-cuda ggml-metal ggml-vulkan ggml llama mtmd llama-common \
            qwenvl-shim; do
        for f in "lib$name.so.0" "lib$name.so" "lib$name.dylib" "lib$name.0.dylib"; do
            [ -e "$dir/$f" ] || continue
            case "$flavour:$name" in portable:ggml-base) ;; portable:ggml-*) f="module:$f" ;; esac
            echo "$f"; break
        done
    done
    # The CPU variants of the portable flavour (sapphirerapids is already gone from the snapshot, see below).
    for f in "$dir"/libggml-cpu-*.so "$dir"/libggml-cpu-*.dylib; do
        [ -e "$f" ] && echo "module:${f##*/}"
    done
    return 0
}

# Copies the libraries natives.list names into DIR/dev/qwenvl/natives/<platform>/, with the list.
stage_natives() {
    local dir="$1/dev/qwenvl/natives/$(platform)" line
    [ "$backend" = cpu ] || dir="$dir-$backend"
    rm -rf "$dir"; mkdir -p "$dir"
    while read -r line; do cp -L "$result/${line#module:}" "$dir/"; done < "$result/natives.list"
    cp "$result/natives.list" "$dir/"
    echo "staged $(grep -c . "$dir/natives.list") libraries into $dir" >&2
}

finish() {
    [ -z "$link" ] || link_result
    [ -z "$stage" ] || stage_natives "$stage"
    exit 0
}

[ -f "$result/natives.list" ] && { echo "native build $key/$shim_inputs is cached in $result" >&2; finish; }
mkdir -p "$build"
exec 9>"$build/.lock"
lock_fd 9
[ -f "$result/natives.list" ] && { echo "native build $key/$shim_inputs was just built by another run" >&2; finish; }

# CMake builds from a copy of native/ inside the build directory: every worktree with the same CMakeLists shares the
# build, and only files whose content changed get a new timestamp (so only they recompile).
mirror="$build/native-src"
mkdir -p "$mirror/shim"
for f in "$QWENVL_ROOT/native/CMakeLists.txt" "$QWENVL_ROOT"/native/shim/*; do
    rel=${f#"$QWENVL_ROOT/native/"}
    cmp -s "$f" "$mirror/$rel" || cp "$f" "$mirror/$rel"
done
for f in "$mirror"/shim/*; do [ -e "$QWENVL_ROOT/native/shim/${f##*/}" ] || rm -f "$f"; done

launchers=()
if command -v ccache >/dev/null; then
    for lang in C CXX CUDA; do launchers+=("-DCMAKE_${lang}_COMPILER_LAUNCHER=ccache"); done
fi
start=$(date +%s)
if [ ! -f "$build/.configured" ]; then
    cmake -S "$mirror" -B "$build" -DCMAKE_BUILD_TYPE=Release "${launchers[@]}" \
        -DLLAMA_CPP_DIR="$src" -DQWENVL_BACKEND="$backend" -DQWENVL_CPU_FLAVOUR="$flavour" "${cmake_extra[@]}" >"$build/configure.log" 2>&1 \
        || { tail -30 "$build/configure.log" >&2; die "cmake configure failed; the log is $build/configure.log"; }
    touch "$build/.configured"
fi
cmake --build "$build" --target qwenvl-natives -j "$jobs" >"$build/build.log" 2>&1 \
    || { tail -40 "$build/build.log" >&2; die "native build failed; the log is $build/build.log"; }
# Snapshot bin/ by hard links: the linker replaces a file it rewrites, so this copy never changes afterwards.
rm -rf "$result.tmp"; mkdir -p "$build/out"
cp -al "$build/bin" "$result.tmp"
# GGML_CPU_ALL_VARIANTS always builds sapphirerapids (AMX), whose kernels die with SIGILL here; ggml's loader scans the
# directory and would pick it on an AMX CPU (the facade and llama-mtmd-cli alike), so the snapshot never holds it.
rm -f "$result.tmp"/libggml-cpu-sapphirerapids.*
list_natives "$result.tmp" > "$result.tmp/natives.list"
mv "$result.tmp" "$result"
echo "native build $key/$shim_inputs took $(( $(date +%s) - start )) s" >&2
finish
