#!/usr/bin/env bash
# The CUDA device check, for a machine with an NVIDIA GPU (sized for 16 cores): builds the CUDA natives for this GPU's
# architecture (or takes QWENVL_CUDA_BIN, a finished CUDA build's bin directory), then on the tiny and the
# 3B-dimension pairs runs the facade (through the qwenvl CLI) and llama-mtmd-cli from the same tree on the same CUDA
# libraries, all layers offloaded (-ngl 99 on both), prints whether the greedy answers are equal and a speed table
# (scripts/bench.sh). Unattended, under 8 minutes (every step has a timeout; the whole run is stopped at
# $QWENVL_DEVICE_CHECK_SECONDS, default 470 s), and fails loudly: any difference or failure exits non-zero with the
# reason.
#   scripts/device-check.sh [--bundle FILE] [--backend cpu]
#     --bundle FILE    take the Java runtime, the jars and the llama.cpp source from FILE (scripts/device-bundle.sh)
#                      instead of a JDK, Maven and the network: for GPU machines that reach none of them
#     --backend cpu    rehearse every step on the CPU build (no GPU needed), before renting one
#     --models LIST    the pairs to check, of "tiny 3b" (default both)
#   QWENVL_CUDA_BIN=DIR  skip the build; QWENVL_CUBLAS_DIR=DIR  cuBLAS when the toolkit beside nvcc lacks it
set -euo pipefail
. "$(dirname "$0")/lib.sh"

total=${QWENVL_DEVICE_CHECK_SECONDS:-470}
bundle=; backend=cuda; models="tiny 3b"
while [ $# -gt 0 ]; do
    case "$1" in
        --bundle) bundle=$2; [ "${bundle#/}" != "$bundle" ] || bundle=$PWD/$bundle; shift 2 ;;
        --backend) backend=$2; shift 2 ;;
        --models) models=$2; shift 2 ;;
        *) die "unknown option $1 (see the header of $0)" ;;
    esac
done
case "$backend" in cuda|cpu) ;; *) die "--backend is cuda or cpu, not $backend" ;; esac
for model in $models; do
    case "$model" in tiny|3b) ;; *) die "--models lists tiny and 3b, not $model" ;; esac
done
[ -z "$bundle" ] || [ -f "$bundle" ] || die "no bundle $bundle: make one with scripts/device-bundle.sh"
if [ -z "${QWENVL_DEVICE_CHECK_INNER:-}" ]; then
    rc=0
    QWENVL_DEVICE_CHECK_INNER=1 timeout --kill-after=15 "$total" bash "$0" ${bundle:+--bundle "$bundle"} \
        --backend "$backend" --models "$models" || rc=$?
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
cd "$QWENVL_ROOT"
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
if [ "$backend" = cuda ]; then
    command -v nvidia-smi >/dev/null \
        || die "no nvidia-smi on this machine, so no NVIDIA GPU: the device check needs one (run it on a CUDA machine, or rehearse with --backend cpu)"
    gpu=$(limited 30 nvidia-smi --query-gpu=name,compute_cap,memory.total,driver_version --format=csv,noheader | head -1) \
        || die "nvidia-smi failed: no usable NVIDIA driver or GPU"
    [ -n "$gpu" ] || die "nvidia-smi lists no GPU"
    arch=$(echo "$gpu" | cut -d, -f2 | tr -d ' .')
    echo "GPU: $gpu (building for sm_$arch)" >&2
fi
if [ -n "$bundle" ]; then
    limited 120 tar -C "$work" -xJf "$bundle" || die "cannot unpack $bundle"
    [ "$(sed -n 's/^platform=//p' "$work/bundle.properties")" = "$(platform)" ] \
        || die "$bundle was made for $(sed -n 's/^platform=//p' "$work/bundle.properties"), this is $(platform)"
    export JAVA_HOME=$work/runtime QWENVL_LLAMA_SRC=$work/llama.cpp
    export QWENVL_TEST_CLASSPATH=$(sed "s|[^:]*|$work/&|g" "$work/classpath.txt")
    jar=$work/qwenvl.jar
    source_option=()
    [ ! -f "$work/llama.cpp/QWENVL-SOURCE.properties" ] || source_option=(--source "$work/llama.cpp")
else
    export JAVA_HOME=${JAVA_HOME:-$(find_jdk)} || die "no JDK >= 22 found; set JAVA_HOME (or use --bundle)"
    command -v mvn >/dev/null || die "mvn not found (or use --bundle)"
    jar=$QWENVL_ROOT/cli/target/qwenvl.jar
    source_option=()
fi
java=$JAVA_HOME/bin/java

step "$backend natives and the Java modules"
if [ -n "$bundle" ] && [ -f "$work/natives/natives.list" ]; then
    bin=$work/natives # a bundle made with --natives brings a finished build
elif [ "$backend" = cpu ]; then
    limited 1500 bash scripts/build-native.sh "${source_option[@]}"
    bin=$QWENVL_ROOT/native/target/bin
elif [ -n "${QWENVL_CUDA_BIN:-}" ]; then
    bin=$QWENVL_CUDA_BIN
else
    command -v nvcc >/dev/null || die "nvcc not found: install the CUDA toolkit, or set QWENVL_CUDA_BIN"
    limited 330 bash scripts/build-native.sh --backend cuda --cuda-arch "$arch-real" "${source_option[@]}"
    bin=$QWENVL_ROOT/native/target/bin
fi
[ -x "$bin/llama-mtmd-cli" ] && [ -f "$bin/natives.list" ] || die "$bin is not a natives build's bin directory"
[ "$backend" = cpu ] || grep -q ggml-cuda "$bin/natives.list" || die "$bin holds no CUDA backend"
export QWENVL_NATIVE_BIN=$bin
# the reactor's natives module would rebuild for the CPU: build the Java side against the natives directory instead
[ -n "$bundle" ] || limited 150 mvn -B -ntp -q -DskipTests -Dexec.skip=true install -pl bindings,src,cli -am
export QWENVL_TEST_CLASSPATH=${QWENVL_TEST_CLASSPATH:-$(test_classpath "$work/classpath" dev/qwenvl/testing/TinyModels.class)}
qwenvl=("$java" --enable-native-access=ALL-UNNAMED -Dqwenvl.library.path="$bin" -jar "$jar")
ver=$(limited 60 "${qwenvl[@]}" --version)
echo "$ver" >&2
want=$([ "$backend" = cpu ] && echo CPU || echo CUDA)
echo "$ver" | grep -q "^backend: $want: " || die "the facade is not on the $want backend: $ver"

png=$work/gradient.png
limited 60 "$java" -Djava.awt.headless=true -cp "$QWENVL_TEST_CLASSPATH" dev.qwenvl.testing.TestImages "$png" 640 480
for model in $models; do
    step "greedy equality on the $model pair, all layers offloaded"
    # TinyModels makes (once, cached in ~/.cache/qwenvl/fixtures) the tiny pair or the 3B-dimension pair
    pair=$(limited 200 "$java" --enable-native-access=ALL-UNNAMED -Dqwenvl.library.path="$bin" \
        -Dqwenvl.llama.src="$(llama_source_dir)" -cp "$QWENVL_TEST_CLASSPATH" dev.qwenvl.testing.TinyModels \
        "$([ "$model" = tiny ] && echo qwen25vl || echo 3b)")
    text=$(echo "$pair" | sed -n 1p); mmproj=$(echo "$pair" | sed -n 2p)
    common=(-m "$text" --mmproj "$mmproj" --image "$png" -p "Describe the image." -n 32 --temp 0 -fa off -ngl 99)
    limited 120 "$bin/llama-mtmd-cli" "${common[@]}" > "$work/cli" 2> "$work/cli.err" \
        || { tail -20 "$work/cli.err" >&2; die "llama-mtmd-cli failed on the $model pair"; }
    limited 120 "${qwenvl[@]}" "${common[@]}" --no-jinja > "$work/java" 2> "$work/java.err" \
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
    step "speed on the $model pair, side by side (scripts/bench.sh; both sides at their default: every layer offloaded)"
    limited 120 bash scripts/bench.sh --no-build --model "$model" --reps 3 --tokens 32 --threads 4
done
