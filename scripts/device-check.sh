#!/usr/bin/env bash
# The CUDA device check, for a machine with an NVIDIA GPU (sized for 16 cores): builds the CUDA natives for this GPU's
# architecture (or takes QWENVL_CUDA_BIN, a finished CUDA build's bin directory), then on the tiny and the
# 3B-dimension pairs runs the facade (through the qwenvl CLI) and llama-mtmd-cli from the same tree on the same CUDA
# libraries, all layers offloaded (-ngl 99 on both), prints whether the greedy answers are equal and a speed table
# (scripts/bench.sh). Unattended, under 8 minutes (every step has a timeout; the whole run is stopped at 470 s), and
# fails loudly: any difference or failure exits non-zero with the reason.
#   scripts/device-check.sh            QWENVL_CUDA_BIN=DIR to skip the build
set -euo pipefail
. "$(dirname "$0")/lib.sh"

total=470
if [ -z "${QWENVL_DEVICE_CHECK_INNER:-}" ]; then
    rc=0
    QWENVL_DEVICE_CHECK_INNER=1 timeout --kill-after=15 "$total" bash "$0" "$@" || rc=$?
    [ "$rc" != 124 ] && [ "$rc" != 137 ] || die "device check: stopped after $total s (a step hung or the build is too slow)"
    [ "$rc" = 0 ] || die "device check: FAILED (exit $rc, reason above)"
    echo "device check: PASSED"
    exit 0
fi

step() { echo "== $* ($(date -u +%T))" >&2; }
# limited SECONDS CMD...: runs CMD, killed after SECONDS; says which step timed out
limited() {
    local s=$1 rc=0; shift
    timeout --kill-after=10 "$s" "$@" || rc=$?
    [ "$rc" != 124 ] && [ "$rc" != 137 ] || die "timed out after $s s: $*"
    return "$rc"
}

step "preconditions"
command -v nvidia-smi >/dev/null \
    || die "no nvidia-smi on this machine, so no NVIDIA GPU: the device check needs one (run it on a CUDA machine)"
gpu=$(limited 30 nvidia-smi --query-gpu=name,compute_cap,memory.total --format=csv,noheader | head -1) \
    || die "nvidia-smi failed: no usable NVIDIA driver or GPU"
[ -n "$gpu" ] || die "nvidia-smi lists no GPU"
arch=$(echo "$gpu" | cut -d, -f2 | tr -d ' .')
echo "GPU: $gpu (building for sm_$arch)" >&2
export JAVA_HOME=${JAVA_HOME:-$(find_jdk)} || die "no JDK >= 22 found; set JAVA_HOME"
command -v mvn >/dev/null || die "mvn not found"
cd "$QWENVL_ROOT"

step "CUDA natives and the Java modules"
if [ -n "${QWENVL_CUDA_BIN:-}" ]; then
    [ -x "$QWENVL_CUDA_BIN/llama-mtmd-cli" ] && grep -q ggml-cuda "$QWENVL_CUDA_BIN/natives.list" \
        || die "QWENVL_CUDA_BIN=$QWENVL_CUDA_BIN is not a CUDA build's bin directory"
    mkdir -p native/target && ln -sfn "$QWENVL_CUDA_BIN" native/target/bin
else
    command -v nvcc >/dev/null || die "nvcc not found: install the CUDA toolkit, or set QWENVL_CUDA_BIN"
    limited 330 bash scripts/build-native.sh --backend cuda --cuda-arch "$arch-real"
fi
bin=$QWENVL_ROOT/native/target/bin
grep -q ggml-cuda "$bin/natives.list" || die "$bin holds no CUDA backend"
# the reactor's natives module would rebuild for the CPU: build the Java side against the CUDA directory instead
limited 150 mvn -B -ntp -q -DskipTests -Dexec.skip=true install -pl bindings,src,cli -am
ver=$(limited 60 java --enable-native-access=ALL-UNNAMED -Dqwenvl.library.path="$bin" -jar cli/target/qwenvl.jar --version)
echo "$ver" >&2
echo "$ver" | grep -q '^backend: CUDA: ' || die "the facade is not on the CUDA backend: $ver"

step "greedy equality, all layers offloaded"
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
png=$work/gradient.png
cat > "$work/Gradient.java" <<'JAVA'
public class Gradient {
    public static void main(String[] a) throws Exception {
        var img = new java.awt.image.BufferedImage(640, 480, java.awt.image.BufferedImage.TYPE_INT_RGB);
        for (int y = 0; y < 480; y++) for (int x = 0; x < 640; x++) img.setRGB(x, y, (x * 255 / 639) << 16 | (y * 255 / 479) << 8 | 128);
        javax.imageio.ImageIO.write(img, "png", new java.io.File(a[0]));
    }
}
JAVA
limited 60 java -Djava.awt.headless=true "$work/Gradient.java" "$png"
for model in tiny 3b; do
    # TinyModels makes (once, cached in ~/.cache/qwenvl/fixtures) the tiny pair or the 3B-dimension pair
    pair=$(limited 200 java --enable-native-access=ALL-UNNAMED -Dqwenvl.library.path="$bin" \
        -Dqwenvl.llama.src="$QWENVL_CACHE/src/llama.cpp-$(lock_value tree)" \
        -cp "cli/target/qwenvl.jar:$(ls src/target/qwenvl-*-tests.jar | head -1)" dev.qwenvl.testing.TinyModels \
        "$([ "$model" = tiny ] && echo qwen25vl || echo 3b)")
    text=$(echo "$pair" | sed -n 1p); mmproj=$(echo "$pair" | sed -n 2p)
    common=(-m "$text" --mmproj "$mmproj" --image "$png" -p "Describe the image." -n 32 --temp 0 -fa off -ngl 99)
    limited 120 "$bin/llama-mtmd-cli" "${common[@]}" > "$work/cli" 2> "$work/cli.err" \
        || { tail -20 "$work/cli.err" >&2; die "llama-mtmd-cli failed on the $model pair"; }
    limited 120 java --enable-native-access=ALL-UNNAMED -Dqwenvl.library.path="$bin" -jar cli/target/qwenvl.jar \
        "${common[@]}" --no-jinja > "$work/java" 2> "$work/java.err" \
        || { tail -20 "$work/java.err" >&2; die "the qwenvl CLI failed on the $model pair"; }
    # llama-mtmd-cli frames the answer as "\n" + answer + "\n\n"; the qwenvl CLI prints answer + "\n"
    size=$(stat -c %s "$work/cli")
    tail -c +2 "$work/cli" | head -c $(( size - 3 )) > "$work/cli.answer"
    size=$(stat -c %s "$work/java")
    head -c $(( size - 1 )) "$work/java" > "$work/java.answer"
    if cmp -s "$work/cli.answer" "$work/java.answer"; then
        echo "greedy $model: EQUAL ($(stat -c %s "$work/java.answer") bytes)"
    else
        echo "llama-mtmd-cli: $(cat "$work/cli.answer")" >&2; echo "qwenvl:         $(cat "$work/java.answer")" >&2
        die "greedy answers differ on the $model pair"
    fi
done

step "speed, side by side (scripts/bench.sh on the CUDA build; both sides at their default: every layer offloaded)"
for model in tiny 3b; do
    limited 90 bash scripts/bench.sh --no-build --model "$model" --reps 3 --tokens 32 --threads 4
done
