#!/usr/bin/env bash
# The test command from a fresh clone: finds a JDK >= 22 itself, then runs the README's `mvn -B -ntp verify` (builds
# llama.cpp from the pinned source the first time, cached in ~/.cache/qwenvl). Extra arguments go to Maven.
# .ci/run installs the system packages a bare machine lacks, then runs this.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
JAVA_HOME=$(find_jdk) || die "no JDK >= 22 found (looked at \$JAVA_HOME and /usr/lib/jvm/*); install Temurin 22+ and set JAVA_HOME"
export JAVA_HOME PATH="$JAVA_HOME/bin:$PATH"
echo "JAVA_HOME=$JAVA_HOME"
cd "$QWENVL_ROOT"
exec mvn -B -ntp verify "$@"
