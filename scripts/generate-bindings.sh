#!/usr/bin/env bash
# Regenerates the FFM bindings from the pinned llama.cpp headers and the chat shim.
# Usage: scripts/generate-bindings.sh [output source root]   (default: bindings/src/generated/java)
# Needs /usr/bin/python3 with the Debian packages python3-clang-16, libclang1-16 and libclang-common-16-dev.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

out=${1:-$QWENVL_ROOT/bindings/src/generated/java}
src=$(bash "$QWENVL_ROOT/scripts/fetch-llama-cpp.sh")
python=${QWENVL_PYTHON:-/usr/bin/python3}
[ -x "$python" ] || die "$python not found; set QWENVL_PYTHON to a Python 3 that has the clang module (python3-clang-16)"
exec "$python" "$QWENVL_ROOT/bindings/generator/generate.py" --llama-src "$src" --repo "$QWENVL_ROOT" --out "$out"
