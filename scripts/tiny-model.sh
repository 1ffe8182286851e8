#!/usr/bin/env bash
# Makes a tiny random-weight Qwen2.5-VL (or Qwen2-VL) model pair, with the real Qwen2 tokenizer, for trying the
# CLI or the facade without downloading weights; prints the text model's path, then the mmproj's. Cached in
# ~/.cache/qwenvl/fixtures. Needs a build first: mvn -pl native,bindings,src install -DskipTests
#   scripts/tiny-model.sh [qwen25vl|qwen2vl] [f16|q8_0|q4_k_m]
set -euo pipefail
. "$(dirname "$0")/lib.sh"
export JAVA_HOME=${JAVA_HOME:-$(find_jdk)}
classpath=$(test_classpath "$QWENVL_ROOT/target/tiny-model/classpath" dev/qwenvl/testing/TinyModels.class)
exec "$JAVA_HOME/bin/java" --enable-native-access=ALL-UNNAMED -cp "$classpath" \
    -Dqwenvl.library.path="$QWENVL_ROOT/native/target/bin" \
    -Dqwenvl.llama.src="$QWENVL_CACHE/src/llama.cpp-$(lock_value tree)" \
    dev.qwenvl.testing.TinyModels "$@"
