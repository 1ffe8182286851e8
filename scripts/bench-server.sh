#!/usr/bin/env bash
# Benchmarks `qwenvl serve` (the server module, in process) against llama.cpp's own llama-server, side by side on this
# machine: same build, model pair, image, request, threads and number of slots, flash attention off, greedy, each side
# started afresh for each run, alternating. Prints a Markdown table and writes it to target/bench/server-<date>.md.
#   --model tiny|3b    tiny fixtures (default) or the synthetic Qwen2.5-VL-3B pair (about 3 GB, made once)
#   --levels 1,4,8     concurrent clients (and slots on both sides)
#   --reps N           runs per side and level (default 2)
#   --requests N       streamed requests per client (default 4)
#   --tokens N         max_tokens per request (default 32)
#   --threads N        threads for both sides (default min(4, cores))
#   --image WxH        size of the picture in every request (default 640x480)
set -euo pipefail
. "$(dirname "$0")/lib.sh"

export JAVA_HOME=${JAVA_HOME:-$(find_jdk)}
cd "$QWENVL_ROOT"
[ -x native/target/bin/llama-server ] || die "no native/target/bin/llama-server: run scripts/build-native.sh"
snap=$QWENVL_ROOT/target/bench-server
rm -rf "$snap"; mkdir -p "$snap"
# the reactor supplies the sibling modules; the class path is copied so a later build cannot change a running bench
mvn -q -pl server -am test-compile dependency:build-classpath -Dmdep.includeScope=test \
    -Dmdep.outputFile="$snap/deps.txt" >/dev/null || die "cannot build the server's test class path"
cp -r server/target/classes server/target/test-classes "$snap/"
bin=$QWENVL_ROOT/native/target/bin
exec "$JAVA_HOME/bin/java" --enable-native-access=ALL-UNNAMED \
    -cp "$snap/test-classes:$snap/classes:$(cat "$snap/deps.txt")" \
    -Dqwenvl.library.path="$bin" -Dqwenvl.native.bin="$bin" \
    -Dqwenvl.llama.src="$(llama_source_dir)" \
    dev.qwenvl.server.ServerBench "$@"
