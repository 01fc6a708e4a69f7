#!/usr/bin/env bash
# peers_sh.sh SCRATCH - checks bench/peers.sh (the peers make bench builds
# from source) on made-up source trees in SCRATCH: which tree of each peer it
# picks, what it skips, that it builds, records and rebuilds only on a
# change, exports REPO@REF, and reports a failed build. The trees hold just
# what peers.sh reads (mimalloc's version header, rpmalloc.c, snmalloc's
# CMakeLists.txt and pal_posix.h); only rpmalloc is really compiled (a
# one-line rpmalloc.c), so no peer's code is needed. Ends with
# "N passed, M failed".
set -uo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
scratch=${1:?usage: peers_sh.sh SCRATCH}
rm -rf "$scratch" && mkdir -p "$scratch" || exit 1
scratch=$(cd "$scratch" && pwd)
passed=0 failed=0
# verdict NAME STATUS WHY [FILE]: STATUS 0 passes; otherwise "FAILED: NAME: WHY" (and FILE shown).
verdict() {
  if [ "$2" -eq 0 ]; then passed=$((passed + 1)); return; fi
  failed=$((failed + 1))
  echo "FAILED: $1: $3"
  if [ -n "${4:-}" ]; then sed 's/^/  | /' "$4"; fi
}
check() { grep -Eq -- "$3" "$2"; verdict "$1" $? "no line matching '$3' in:" "$2"; }      # check NAME FILE PATTERN
check_not() { ! grep -Eq -- "$3" "$2"; verdict "$1" $? "a line matches '$3' in:" "$2"; } # ... and none matches
check_rc() { [ "$2" = "$3" ]; verdict "$1" $? "exit $2, expected $3"; }                   # check_rc NAME GOT WANT
mimalloc_tree() { mkdir -p "$1/include" && echo "#define MI_MALLOC_VERSION $2   // major + minor + patch" >"$1/include/mimalloc.h"; }
rpmalloc_tree() {
  mkdir -p "$1/rpmalloc" && printf '%s\n\nnotes\n' "$2" >"$1/CHANGELOG" &&
    echo "${3:-int rpmalloc_made_up(void) { return 1; }}" >"$1/rpmalloc/rpmalloc.c"
}
snmalloc_tree() {
  mkdir -p "$1/src/snmalloc/pal" && echo 'project(snmalloc CXX)' >"$1/CMakeLists.txt" &&
    echo "    static constexpr size_t address_bits = ${2:-Aal::address_bits};" >"$1/src/snmalloc/pal/pal_posix.h"
}
peers() { # peers OUT ARGS...: bench/peers.sh with the scratch layout, output in OUT
  local out=$1
  shift
  env MIALLOC_PEER_DIR="$scratch/peers" MIALLOC_PEER_SRC="$scratch/src" CC="${CC:-cc}" "$@" >"$out" 2>&1
}

# 1. The search: the newest mimalloc of each major version, rpmalloc,
#    snmalloc (and its valgrind build) from the plain tree; the rest skipped.
src=$scratch/src
mimalloc_tree "$src/mimalloc-old" 30300
mimalloc_tree "$src/mimalloc" 30403
mimalloc_tree "$src/mi2" 20401
mimalloc_tree "$src/mimalloc-1" 10800
rpmalloc_tree "$src/rpmalloc-main" 2.0.1
snmalloc_tree "$src/snmalloc-0.7.5"
snmalloc_tree "$src/snmalloc-changed" 37
mkdir -p "$src/unrelated"
peers "$scratch/dry.out" bash "$here/bench/peers.sh" --no-deps --dry-run
check_rc dry-run $? 0
check dry-mimalloc-3 "$scratch/dry.out" "mimalloc-3: would build mimalloc 3\.4\.3 from $src/mimalloc into"
check dry-mimalloc-2 "$scratch/dry.out" "mimalloc-2: would build mimalloc 2\.4\.1 from $src/mi2 into"
check dry-mimalloc-1 "$scratch/dry.out" "mimalloc-1: mimalloc 1\.8\.0: only 2\.x and 3\.x"
check dry-rpmalloc "$scratch/dry.out" "rpmalloc: would build rpmalloc 2\.0\.1 from $src/rpmalloc-main into $scratch/peers/rpmalloc"
check dry-snmalloc "$scratch/dry.out" "snmalloc: would build snmalloc 0\.7\.5 from $src/snmalloc-0\.7\.5 into $scratch/peers/snmalloc$"
check dry-snmalloc-vg "$scratch/dry.out" "snmalloc-valgrind: would build snmalloc 0\.7\.5 \(pagemap of 37 address bits, for valgrind\) from $src/snmalloc-0\.7\.5"
check dry-snmalloc-changed "$scratch/dry.out" "snmalloc-changed: a snmalloc tree already changed"
check_not dry-old "$scratch/dry.out" "mimalloc-old|unrelated"
[ ! -e "$scratch/peers" ]; verdict dry-run-writes $? "--dry-run created $scratch/peers"

# 2. A build: the sources are rpmalloc's made-up tree alone.
rm -rf "$src" && mkdir -p "$src"
rpmalloc_tree "$src/rpmalloc" 2.0.1
peers "$scratch/build1.out" bash "$here/bench/peers.sh" --no-deps
check_rc build $? 0
check build-says "$scratch/build1.out" "rpmalloc: building rpmalloc 2\.0\.1 from $src/rpmalloc"
nm -D --defined-only "$scratch/peers/rpmalloc/librpmalloc.so" 2>/dev/null | grep -q ' rpmalloc_made_up$'
verdict build-lib $? "$scratch/peers/rpmalloc/librpmalloc.so is not the library of the made-up tree"
check build-version "$scratch/peers/rpmalloc/VERSION" "^rpmalloc 2\.0\.1$"
peers "$scratch/build2.out" bash "$here/bench/peers.sh" --no-deps
check up-to-date "$scratch/build2.out" "rpmalloc: rpmalloc 2\.0\.1 up to date"
rpmalloc_tree "$src/rpmalloc" 2.0.2
peers "$scratch/build3.out" bash "$here/bench/peers.sh" --no-deps
check rebuilt-on-version "$scratch/build3.out" "rpmalloc: building rpmalloc 2\.0\.2"
check rebuilt-version "$scratch/peers/rpmalloc/VERSION" "^rpmalloc 2\.0\.2$"
peers "$scratch/build4.out" bash "$here/bench/peers.sh" --no-deps --force
check forced "$scratch/build4.out" "rpmalloc: building rpmalloc 2\.0\.2"

# 3. A failed build: reported, status 1, the library before it kept.
rpmalloc_tree "$src/rpmalloc" 2.0.3 "int broken(void) { return }"
peers "$scratch/fail.out" bash "$here/bench/peers.sh" --no-deps
check_rc failed-build $? 1
check failed-says "$scratch/fail.out" "rpmalloc: the build failed"
check failed-keeps "$scratch/peers/rpmalloc/VERSION" "^rpmalloc 2\.0\.2$"

# 4. PEER_SRC_*: REPO@REF exported with git archive, then built; a tree of
#    the wrong major version refused.
if command -v git >/dev/null; then
  repo=$scratch/repo
  rpmalloc_tree "$repo" 9.1.0
  git -C "$repo" init -q && git -C "$repo" add -A &&
    git -C "$repo" -c user.name=t -c user.email=t@t commit -qm t && git -C "$repo" tag v9.1.0
  rm -rf "$src" && mkdir -p "$src"
  peers "$scratch/ref.out" env PEER_SRC_RPMALLOC="$repo@v9.1.0" bash "$here/bench/peers.sh" --no-deps
  check_rc ref $? 0
  check ref-built "$scratch/ref.out" "rpmalloc: building rpmalloc 9\.1\.0 from $src/rpmalloc-v9\.1\.0"
  check ref-version "$scratch/peers/rpmalloc/VERSION" "^rpmalloc 9\.1\.0$"
else
  verdict ref 1 "git is not installed"
fi
mimalloc_tree "$scratch/mi-two" 20401
peers "$scratch/wrong.out" env PEER_SRC_MIMALLOC3="$scratch/mi-two" bash "$here/bench/peers.sh" --no-deps --dry-run
check_rc wrong-major $? 1
check wrong-major-says "$scratch/wrong.out" "PEER_SRC_MIMALLOC3=$scratch/mi-two: mimalloc 2\.4\.1, not 3\.x"
peers "$scratch/none.out" env MIALLOC_PEER_SRC="$scratch/nothing" bash "$here/bench/peers.sh" --no-deps
check_rc none $? 0
check none-says "$scratch/none.out" "no peer source found"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
