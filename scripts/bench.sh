#!/usr/bin/env bash
# Benchmarks the Java facade against llama.cpp's own llama-mtmd-cli, side by side on this machine: same build,
# model files, image, prompt, threads, flash attention off, greedy decoding, alternating facade and CLI runs, each
# in a fresh process. Prints a Markdown table and writes it to target/bench/bench-<date>.md. See the README's Benchmarks section.
#   --model tiny|3b|32b  tiny fixtures (default), the synthetic Qwen2.5-VL-3B pair (Q4_K_M text, F16 mmproj; made
#                     once into ~/.cache/qwenvl/fixtures, about 3 GB, several minutes) or the Qwen2.5-VL-32B-sized
#                     pair (Q4_K_M blocks written directly, 21 GB in about a minute)
#   --image-max-tokens N  both sides' bound on tokens per image (the memory plan sizes the vision encoder by it)
#   --no-repack       both sides keep every weight in the mapped file (llama.cpp's --no-repack): no anonymous copy
#                     of the repacked weights, which a 32B on 24 GiB cannot afford, and no AMX
#   --context N       both sides' context (default 4096)
#   --rpc             instead of the CLI comparison: the facade split over two loopback rpc-servers against the
#                     facade run locally (load, encode, prompt, generation), answers checked equal
#   --flash-attn      flash attention on, both sides (default off); shrinks the vision encoder's buffers by GBs
#   --reps N          repetitions per side (default 5)
#   --tokens N        greedy tokens per run (default 16)
#   --threads N       threads for both sides (default 2, or fewer cores)
#   --image WxH       size of the gradient PNG asked about (default 640x480)
#   --smoke           one short repetition on the tiny pair (what BenchSmokeTest runs)
#   --no-build        skip `mvn install` of native, bindings and src (when they are built already)
set -euo pipefail
. "$(dirname "$0")/lib.sh"

build=1; args=()
for a in "$@"; do
    case "$a" in
        --no-build) build=0 ;;
        *) args+=("$a") ;;
    esac
done

export JAVA_HOME=${JAVA_HOME:-$(find_jdk)}
cd "$QWENVL_ROOT"
if [ "$build" = 1 ]; then
    mvn -q -N install
    mvn -q -pl native,bindings,src install -DskipTests
fi
bin=${QWENVL_NATIVE_BIN:-$QWENVL_ROOT/native/target/bin} # another build's bin directory (scripts/device-check.sh)
[ -x "$bin/llama-mtmd-cli" ] || die "no $bin/llama-mtmd-cli: run scripts/build-native.sh"

classpath=$(test_classpath "$QWENVL_ROOT/target/bench/classpath" dev/qwenvl/bench/Bench.class)
llama_src=$(llama_source_dir) # the tokenizer the fixture generator copies
[ -d "$llama_src" ] || die "no llama.cpp source at $llama_src: run scripts/fetch-llama-cpp.sh"
exec "$JAVA_HOME/bin/java" --enable-native-access=ALL-UNNAMED \
    -cp "$classpath" \
    -Dqwenvl.library.path="$bin" -Dqwenvl.native.bin="$bin" -Dqwenvl.llama.src="$llama_src" \
    -Dqwenvl.repo="$QWENVL_ROOT" \
    dev.qwenvl.bench.Bench "${args[@]}"
