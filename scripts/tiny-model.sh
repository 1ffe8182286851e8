#!/usr/bin/env bash
# Makes a tiny random-weight Qwen2.5-VL (or Qwen2-VL) model pair, with the real Qwen2 tokenizer, for trying the
# CLI or the facade without downloading weights; prints the text model's path, then the mmproj's. Cached in
# ~/.cache/qwenvl/fixtures. Needs a build first: mvn -B -ntp -DskipTests package (the CLI's jar carries the facade,
# the bindings and the natives; the facade's test jar the generator).
#   scripts/tiny-model.sh [qwen25vl|qwen2vl] [f16|q8_0|q4_k_m]
set -euo pipefail
. "$(dirname "$0")/lib.sh"
export JAVA_HOME=${JAVA_HOME:-$(find_jdk)}
jar=$QWENVL_ROOT/cli/target/qwenvl.jar
tests=$(ls "$QWENVL_ROOT"/src/target/qwenvl-*-tests.jar 2>/dev/null | head -1)
[ -f "$jar" ] && [ -n "$tests" ] || die "build first: mvn -B -ntp -DskipTests package"
exec "$JAVA_HOME/bin/java" --enable-native-access=ALL-UNNAMED -cp "$jar:$tests" \
    -Dqwenvl.llama.src="$(llama_source_dir)" \
    dev.qwenvl.testing.TinyModels "$@"
