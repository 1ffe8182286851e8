#!/usr/bin/env bash
# Start-up benchmark: the wall time of a whole one-shot answer on the tiny Qwen2.5-VL pair (process start to exit:
# load, image, 16 greedy tokens), llama-mtmd-cli against scripts/qwenvl (JDK 25 AOT cache) and against a plain
# `java -jar qwenvl.jar`, in fresh processes, alternating, same files, threads and context; prints medians and ratios.
# The launcher trains its cache first (into a private QWENVL_AOT_DIR), as a user's first run would; that run is
# reported on its own. Needs a build: mvn -B -ntp -DskipTests package (cli/target/qwenvl.jar, the facade's test jar
# for the tiny pair, native/target/bin/llama-mtmd-cli).
#   --reps N     runs per side (default 7)
#   --tokens N   greedy tokens per answer (default 16)
#   --threads N  threads for both sides (default 2)
set -euo pipefail
. "$(dirname "$0")/lib.sh"

reps=7; tokens=16; threads=2
while [ $# -gt 0 ]; do
    case "$1" in
        --reps) reps=$2; shift 2 ;;
        --tokens) tokens=$2; shift 2 ;;
        --threads) threads=$2; shift 2 ;;
        *) die "unknown option $1 (see the header of $0)" ;;
    esac
done

export JAVA_HOME=${JAVA_HOME:-$(find_jdk)}
cd "$QWENVL_ROOT"
jar=cli/target/qwenvl.jar
cli=native/target/bin/llama-mtmd-cli
[ -f "$jar" ] && [ -x "$cli" ] || die "build first: mvn -B -ntp -DskipTests package"
llama_src=$(llama_source_dir)
pair=(); while IFS= read -r line; do pair+=("$line"); done < <(scripts/tiny-model.sh qwen25vl f16)
image=$llama_src/tools/mtmd/test-1.jpeg
args=(-m "${pair[0]}" --mmproj "${pair[1]}" --image "$image" -p "What is in this picture?" -n "$tokens" --temp 0
      -t "$threads" -c 4096)

aot_home=$(mktemp -d)
trap 'rm -rf "$aot_home"' EXIT
# wall SECONDS of one run of the command, which must succeed
wall() {
    local t0 t1
    t0=$(date +%s%N)
    "$@" >/dev/null 2>&1 || die "failed: $*"
    t1=$(date +%s%N)
    echo "$(( (t1 - t0) / 1000000 ))"
}
median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

launcher() { QWENVL_AOT_DIR=$aot_home scripts/qwenvl "${args[@]}"; }
plain() { "$JAVA_HOME/bin/java" -jar "$jar" "${args[@]}"; }
reference() { "$cli" "${args[@]}"; }

first=$(wall launcher)
for _ in $(seq 1 120); do
    ls "$aot_home"/qwenvl-*.aot >/dev/null 2>&1 && break
    sleep 1
done
ls "$aot_home"/qwenvl-*.aot >/dev/null 2>&1 || die "the launcher built no AOT cache within 120 s"

cli_ms=(); aot_ms=(); plain_ms=()
for i in $(seq 1 "$reps"); do
    cli_ms+=("$(wall reference)")
    aot_ms+=("$(wall launcher)")
    plain_ms+=("$(wall plain)")
done
m_cli=$(printf '%s\n' "${cli_ms[@]}" | median)
m_aot=$(printf '%s\n' "${aot_ms[@]}" | median)
m_plain=$(printf '%s\n' "${plain_ms[@]}" | median)
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

cat <<EOF
One-shot answer on the tiny pair ($tokens tokens, $threads threads, $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)), $reps alternating runs each:

| Command | Median wall (ms) | Runs (ms) | / llama-mtmd-cli |
|---|---:|---|---:|
| llama-mtmd-cli | $m_cli | ${cli_ms[*]} | 1.00 |
| scripts/qwenvl (AOT cache) | $m_aot | ${aot_ms[*]} | $(ratio "$m_aot" "$m_cli") |
| java -jar qwenvl.jar | $m_plain | ${plain_ms[*]} | $(ratio "$m_plain" "$m_cli") |

The launcher's first run (trains, then builds the cache in the background): $first ms.
EOF
