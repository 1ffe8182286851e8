#!/usr/bin/env bash
# Builds the GPU natives (cached like every native build, never part of the default test command) and stages them
# as the qwenvl-natives classifier jar's content under native/target/natives-<backend>, leaving native/target/bin
# (the CPU build the tests use) alone. Prints the build time and the backend module's size.
#   scripts/build-gpu-natives.sh cuda|vulkan|metal [--jobs N] [--cuda-arch LIST]
# CUDA: nvcc >= 12 on the PATH, cuBLAS beside it or in $QWENVL_CUBLAS_DIR (an unpacked libcublas + libcublas-dev),
#   default architectures 75-virtual;80-virtual;90-real (see the README: Turing and Ampere by PTX, Hopper native).
#   The jar then needs the CUDA 13 runtime's libcudart.so.13 and libcublas.so.13 on the library path at run time.
# Vulkan: the Vulkan headers and loader (libvulkan-dev), glslc and spirv-headers; $VULKAN_SDK for newer headers.
# Metal: macOS only (the release workflow's macOS job).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

backend=${1:-}; shift || true
case "$backend" in cuda|vulkan|metal) ;; *) die "usage: $0 cuda|vulkan|metal [--jobs N] [--cuda-arch LIST]" ;; esac
args=(--backend "$backend" --flavour portable --no-link --stage "$QWENVL_ROOT/native/target/natives-$backend")
case "$backend" in
    cuda)
        command -v nvcc >/dev/null || die "nvcc not found: install the CUDA toolkit (12 or 13) and put nvcc on the PATH"
        args+=(--cuda-arch "75-virtual;80-virtual;90-real") ;;
    vulkan)
        command -v glslc >/dev/null || die "glslc not found: apt-get install glslc libvulkan-dev spirv-headers"
        # ggml-vulkan needs VK_EXT_layer_settings (headers >= 1.3.261); Debian 12 has 1.3.239, so take newer
        # headers from $QWENVL_VULKAN_HEADERS, e.g. Debian 13's libvulkan-dev 1.4.309 unpacked with dpkg -x
        headers=${QWENVL_VULKAN_HEADERS:-$QWENVL_CACHE/vulkan-sdk-1.4.309/usr/include}
        [ ! -d "$headers/vulkan" ] || export CPATH="$headers${CPATH:+:$CPATH}" ;;
    metal)
        [ "$(uname -s)" = Darwin ] || die "Metal builds only on macOS" ;;
esac
start=$(date +%s)
bash "$QWENVL_ROOT/scripts/build-native.sh" "${args[@]}" "$@"
dir="$QWENVL_ROOT/native/target/natives-$backend/dev/qwenvl/natives/$(platform)-$backend"
module=$(ls "$dir"/libggml-"$backend".* 2>/dev/null | head -1) || true
[ -n "$module" ] || die "the $backend build staged no libggml-$backend module into $dir"
echo "$backend natives: $(( $(date +%s) - start )) s; $(basename "$module") $(du -k "$module" | cut -f1) KiB;" \
    "$(du -sk "$dir" | cut -f1) KiB in all, staged in $dir" >&2
