#!/usr/bin/env bash
# From a fresh clone to an answer about an image, in one command: finds a JDK >= 22, builds what is missing or
# stale (llama.cpp from the pinned source the first time, a few minutes, then cached), and asks through
# scripts/qwenvl (with its start-up cache).
#   scripts/try.sh [IMAGE [QUESTION]]   (default: llama.cpp's test image, "What is in this picture?")
# The model is the default one, ggml-org/Qwen2.5-VL-3B-Instruct-GGUF (Q4_K_M, about 2.5 GB, downloaded once into
# the Hugging Face cache), when the Hub can be reached or the model is already cached; otherwise a tiny
# random-weight Qwen2.5-VL pair made here, whose answer is gibberish by design.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
JAVA_HOME=$(find_jdk) || die "no JDK >= 22 found (looked at \$JAVA_HOME and /usr/lib/jvm/*); install Temurin 22+ and set JAVA_HOME"
export JAVA_HOME PATH="$JAVA_HOME/bin:$PATH"
cd "$QWENVL_ROOT"

jar=cli/target/qwenvl.jar
if [ ! -f "$jar" ] || [ -n "$(find pom.xml ./*/pom.xml src/main cli/src/main bindings/src native -newer "$jar" \
        -type f -print -quit 2>/dev/null)" ]; then
    echo "building qwenvl (mvn -DskipTests package)..." >&2
    mvn -B -ntp -q -DskipTests -Dmaven.javadoc.skip=true -Dmaven.source.skip=true -pl cli -am package >&2
fi
llama_src=$(llama_source_dir)
image=${1:-$llama_src/tools/mtmd/test-1.jpeg}
question=${2:-What is in this picture?}

hub_reachable() {
    command -v curl >/dev/null && curl -fsS -o /dev/null --max-time 10 \
        https://huggingface.co/api/models/ggml-org/Qwen2.5-VL-3B-Instruct-GGUF 2>/dev/null
}
if hub_reachable; then
    exec scripts/qwenvl --image "$image" -p "$question"
fi
# No Hub: the default model may still be in the Hugging Face cache (status 4 when it is not)
err=$(mktemp); trap 'rm -f "$err"' EXIT
status=0
scripts/qwenvl --offline --image "$image" -p "$question" 2>"$err" || status=$?
if [ "$status" != 4 ]; then
    cat "$err" >&2
    exit "$status"
fi
echo "qwenvl: the Hugging Face Hub cannot be reached and the default model is not cached; asking a tiny" \
    "random-weight Qwen2.5-VL pair instead: its answer is gibberish by design" >&2
pair=(); while IFS= read -r line; do pair+=("$line"); done < <(scripts/tiny-model.sh qwen25vl f16)
exec scripts/qwenvl -m "${pair[0]}" --mmproj "${pair[1]}" --image "$image" -p "$question" -n 32 --temp 0
