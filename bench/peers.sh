#!/usr/bin/env bash
# bench/peers.sh - the allocators make bench compares with.
#
#   bash bench/peers.sh [--no-deps] [--force] [--dry-run]
#
# 1. Debian's peers (libmimalloc-dev, libjemalloc-dev, libtcmalloc-minimal4)
#    and the bench's tools, through scripts/deps.sh bench (not with --no-deps).
# 2. The peers built from source -- mimalloc 3.x and 2.x, rpmalloc, snmalloc
#    -- from checkouts on this machine, when there are any, into the layout
#    the Makefile's bench section reads (PEER_MIMALLOC3, ...):
#      $MIALLOC_PEER_DIR/mimalloc-3/libmimalloc.so     mimalloc 3.x
#      $MIALLOC_PEER_DIR/mimalloc-2/libmimalloc.so     mimalloc 2.x
#      $MIALLOC_PEER_DIR/rpmalloc/librpmalloc.so       rpmalloc
#      $MIALLOC_PEER_DIR/snmalloc/libsnmallocshim.so   snmalloc
#      $MIALLOC_PEER_DIR/snmalloc-valgrind/libsnmallocshim.so
#                     snmalloc with a pagemap of 37 address bits, which
#                     valgrind's client address space holds (make bench-instr
#                     counts snmalloc with it; it does not run natively)
#    each with a VERSION file ("mimalloc 3.4.3") for the tables' headings.
#    Nothing is downloaded and no checkout enters this repository.
#
# Where the sources are looked for:
#   MIALLOC_PEER_DIR   where the libraries go (default: ../peers, beside
#                      this checkout; the Makefile passes its own)
#   MIALLOC_PEER_SRC   a directory of checkouts (default $MIALLOC_PEER_DIR/src):
#                      every directory in it that holds a mimalloc, rpmalloc
#                      or snmalloc source tree, whatever its name; mimalloc's
#                      major version (include/mimalloc.h) decides which of
#                      mimalloc-3 and mimalloc-2 it builds, the newest of each
#   PEER_SRC_MIMALLOC3, PEER_SRC_MIMALLOC2, PEER_SRC_RPMALLOC, PEER_SRC_SNMALLOC
#                      one peer's source, instead of the search: a checkout,
#                      or REPO@REF for a git repository (bare or not) and a
#                      tag or commit in it, exported with git archive into
#                      $MIALLOC_PEER_SRC/<peer>-<ref> first, e.g.
#                      PEER_SRC_MIMALLOC3=/srv/git/mimalloc.git@v3.4.3
# How they are built (Release, the compilers below; 1-3 minutes each on 2
# cores; build trees in $MIALLOC_PEER_DIR/build):
#   mimalloc   cmake, shared library, defaults otherwise (MI_OVERRIDE on)
#   rpmalloc   $CC -O2 -fPIC -shared rpmalloc/rpmalloc.c (its own
#              defaults: ENABLE_OVERRIDE on, so it replaces malloc)
#   snmalloc   cmake, the snmallocshim target; needs a C++ compiler ($CXX)
# A peer is rebuilt only when its source (path and version) changed since
# the last build (recorded in $MIALLOC_PEER_DIR/<peer>/SOURCE), or --force.
# A source that fails to build is reported and skipped; the others still
# build. --dry-run names what would be built and from where. Exit status:
# 0, or 1 if a source was found but did not build.
set -uo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
deps=1 force=0 dry=0
for a in "$@"; do
  case $a in
    --no-deps) deps=0 ;;
    --force) force=1 ;;
    --dry-run) dry=1 ;;
    *) echo "peers.sh: unknown argument '$a' (--no-deps, --force, --dry-run)" >&2; exit 2 ;;
  esac
done
if [ "$deps" = 1 ] && [ "$dry" = 0 ]; then bash "$here/scripts/deps.sh" bench || exit 1; fi

peer_dir=${MIALLOC_PEER_DIR:-$here/../peers}
src_dir=${MIALLOC_PEER_SRC:-$peer_dir/src}
CC=${CC:-cc}
CXX=${CXX:-$(command -v clang++ || command -v clang++-19 || command -v g++ || echo c++)}
JOBS=${JOBS:-$(nproc 2>/dev/null || echo 2)}
say() { echo "peers: $*" >&2; }

# --- what a source tree is ---------------------------------------------------
# mimalloc's version as x.y.z (MI_MALLOC_VERSION: major, 2-digit minor, 2-digit patch).
mimalloc_version() {
  local v
  v=$(sed -n 's/^#define MI_MALLOC_VERSION[[:space:]]*\([0-9][0-9]*\).*/\1/p' "$1/include/mimalloc.h" 2>/dev/null | head -n 1)
  [ -n "$v" ] || return 1
  echo "$((v / 10000)).$((v / 100 % 100)).$((v % 100))"
}
rpmalloc_version() {
  [ -f "$1/rpmalloc/rpmalloc.c" ] || return 1
  local v
  v=$(head -n 1 "$1/CHANGELOG" 2>/dev/null | tr -d '[:space:]')
  [[ $v =~ ^[0-9]+(\.[0-9]+)+$ ]] || v=$(version_from_name "$1")
  echo "$v"
}
# snmalloc records no version in its tree but its Rust crate's.
snmalloc_version() {
  [ -f "$1/src/snmalloc/pal/pal_posix.h" ] && grep -q 'project(snmalloc' "$1/CMakeLists.txt" 2>/dev/null || return 1
  local v
  v=$(version_from_name "$1")
  [ "$v" != unknown ] || v=$(sed -n 's/^version[[:space:]]*=[[:space:]]*"\([0-9.]*\)".*/\1/p' "$1/snmalloc-rs/Cargo.toml" 2>/dev/null | head -n 1)
  echo "${v:-unknown}"
}
version_from_name() {
  local b
  b=$(basename "$1")
  if [[ $b =~ ([0-9]+\.[0-9]+(\.[0-9]+)?)$ ]]; then echo "${BASH_REMATCH[1]}"; else echo unknown; fi
}
# The larger of two x.y.z versions.
newer() { printf '%s\n%s\n' "$1" "$2" | sort -V | tail -n 1; }

# REPO@REF: export REF of the git repository REPO into $src_dir/NAME-REF;
# prints the tree's path.
export_ref() {
  local spec=$1 name=$2 repo ref out
  repo=${spec%@*} ref=${spec##*@}
  out=$src_dir/$name-${ref//\//-}
  if [ -d "$out" ]; then echo "$out"; return 0; fi
  if [ "$dry" = 1 ]; then echo "$out"; return 0; fi
  mkdir -p "$src_dir" || return 1
  local gd
  gd=$(git -C "$repo" rev-parse --git-dir 2>/dev/null) || { say "$spec: $repo is not a git repository"; return 1; }
  case $gd in /*) ;; *) gd=$repo/$gd ;; esac
  mkdir -p "$out.part" && git --git-dir="$gd" archive "$ref" | tar -x -C "$out.part" && mv "$out.part" "$out" ||
    { rm -rf "$out.part"; say "$spec: git archive of '$ref' failed"; return 1; }
  echo "$out"
}
# A source as given in a PEER_SRC_* variable: a tree, or REPO@REF.
given_tree() {
  local spec=$1 name=$2
  if [ -d "$spec" ]; then echo "$spec"; return 0; fi
  if [[ $spec == *@* ]] && [ -d "${spec%@*}" ]; then export_ref "$spec" "$name"; return; fi
  say "$spec: no such directory (nor REPO@REF)"; return 1
}

# --- which sources: chosen[peer]=tree, version[peer]=x.y.z -------------------
declare -A chosen=() version=()
consider() { # consider PEER TREE VERSION: keep the newest tree of each peer
  local p=$1 t=$2 v=$3
  if [ -z "${chosen[$p]:-}" ] || { [ "$v" != "${version[$p]}" ] && [ "$(newer "$v" "${version[$p]}")" = "$v" ]; }; then
    chosen[$p]=$t version[$p]=$v
  fi
}
classify() { # classify TREE: which peer it is, considered
  local t=$1 v
  if v=$(mimalloc_version "$t"); then
    case $v in 3.*) consider mimalloc-3 "$t" "$v" ;; 2.*) consider mimalloc-2 "$t" "$v" ;; *) say "$t: mimalloc $v: only 2.x and 3.x are compared" ;; esac
  elif v=$(rpmalloc_version "$t"); then consider rpmalloc "$t" "$v"
  elif v=$(snmalloc_version "$t"); then
    if grep -q 'address_bits = Aal::address_bits;' "$t/src/snmalloc/pal/pal_posix.h"; then consider snmalloc "$t" "$v"
    else say "$t: a snmalloc tree already changed (its pagemap width): skipped, the valgrind build is made from the plain one"; fi
  fi
}
if [ -d "$src_dir" ]; then
  for t in "$src_dir"/*/; do classify "${t%/}"; done
fi
declare -A var=([mimalloc-3]=PEER_SRC_MIMALLOC3 [mimalloc-2]=PEER_SRC_MIMALLOC2 [rpmalloc]=PEER_SRC_RPMALLOC [snmalloc]=PEER_SRC_SNMALLOC)
declare -A vfun=([mimalloc-3]=mimalloc_version [mimalloc-2]=mimalloc_version [rpmalloc]=rpmalloc_version [snmalloc]=snmalloc_version)
status=0
for p in mimalloc-3 mimalloc-2 rpmalloc snmalloc; do
  spec=${!var[$p]:-}
  [ -n "$spec" ] || continue
  if ! t=$(given_tree "$spec" "$p"); then status=1; unset "chosen[$p]"; continue; fi
  if [ "$dry" = 1 ] && [ ! -d "$t" ]; then v=${spec##*@}; chosen[$p]=$t version[$p]=${v#v}; continue; fi
  if ! v=$(${vfun[$p]} "$t"); then say "${var[$p]}=$spec: $t is not a $p source tree"; status=1; unset "chosen[$p]"; continue; fi
  case $p:$v in mimalloc-3:3.* | mimalloc-2:2.* | rpmalloc:* | snmalloc:*) chosen[$p]=$t version[$p]=$v ;;
    *) say "${var[$p]}=$spec: mimalloc $v, not ${p#mimalloc-}.x"; status=1; unset "chosen[$p]" ;; esac
done
if [ "${#chosen[@]}" -eq 0 ]; then
  say "no peer source found (in MIALLOC_PEER_SRC=$src_dir or PEER_SRC_*): nothing built"
  exit "$status"
fi

# --- building ------------------------------------------------------------------
# install PEER LIBFILE BUILT_LIB LABEL: the library and its VERSION/SOURCE files.
install_lib() {
  local out=$peer_dir/$1
  mkdir -p "$out" && cp -L "$3" "$out/$2.part" && mv "$out/$2.part" "$out/$2" &&
    echo "$4" >"$out/VERSION" && echo "$5" >"$out/SOURCE"
}
build_mimalloc() { # TREE BUILDDIR -> path of libmimalloc.so
  cmake -S "$1" -B "$2" -DCMAKE_BUILD_TYPE=Release -DCMAKE_C_COMPILER="$CC" -DMI_BUILD_SHARED=ON \
    -DMI_BUILD_STATIC=OFF -DMI_BUILD_OBJECT=OFF -DMI_BUILD_TESTS=OFF >"$2.log" 2>&1 &&
    cmake --build "$2" -j "$JOBS" --target mimalloc >>"$2.log" 2>&1 && echo "$2/libmimalloc.so"
}
build_rpmalloc() {
  mkdir -p "$2" && $CC -std=gnu11 -O2 -fPIC -shared -pthread -I"$1/rpmalloc" "$1/rpmalloc/rpmalloc.c" \
    -o "$2/librpmalloc.so" >"$2.log" 2>&1 && echo "$2/librpmalloc.so"
}
build_snmalloc() {
  cmake -S "$1" -B "$2" -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_COMPILER="$CXX" -DSNMALLOC_BUILD_TESTING=OFF >"$2.log" 2>&1 &&
    cmake --build "$2" -j "$JOBS" --target snmallocshim >>"$2.log" 2>&1 && echo "$2/libsnmallocshim.so"
}
# The valgrind variant: a copy of the tree whose POSIX platform declares 37 address bits.
build_snmalloc_vg() {
  local copy=$2-src
  rm -rf "$copy" && cp -r "$1" "$copy" || return 1
  sed -i 's/static constexpr size_t address_bits = Aal::address_bits;/static constexpr size_t address_bits = 37;/' "$copy/src/snmalloc/pal/pal_posix.h"
  grep -q 'address_bits = 37;' "$copy/src/snmalloc/pal/pal_posix.h" || { echo "pal_posix.h has no address_bits line to change" >"$2.log"; return 1; }
  build_snmalloc "$copy" "$2"
}
declare -A libfile=([mimalloc-3]=libmimalloc.so [mimalloc-2]=libmimalloc.so [rpmalloc]=librpmalloc.so [snmalloc]=libsnmallocshim.so [snmalloc-valgrind]=libsnmallocshim.so)
declare -A builder=([mimalloc-3]=build_mimalloc [mimalloc-2]=build_mimalloc [rpmalloc]=build_rpmalloc [snmalloc]=build_snmalloc [snmalloc-valgrind]=build_snmalloc_vg)
targets=()
for p in mimalloc-3 mimalloc-2 rpmalloc snmalloc; do
  [ -n "${chosen[$p]:-}" ] && targets+=("$p")
done
if [ -n "${chosen[snmalloc]:-}" ]; then
  chosen[snmalloc-valgrind]=${chosen[snmalloc]} version[snmalloc-valgrind]="${version[snmalloc]} (pagemap of 37 address bits, for valgrind)"
  targets+=(snmalloc-valgrind)
fi
for p in "${targets[@]}"; do
  t=$(cd "${chosen[$p]}" 2>/dev/null && pwd || echo "${chosen[$p]}")
  name=${p%-valgrind} name=${name%-[0-9]}
  label="$name ${version[$p]}"
  stamp="$t $label"
  if [ "$force" = 0 ] && [ -f "$peer_dir/$p/${libfile[$p]}" ] && [ "$(cat "$peer_dir/$p/SOURCE" 2>/dev/null)" = "$stamp" ]; then
    say "$p: $label up to date ($peer_dir/$p)"; continue
  fi
  if [ "$dry" = 1 ]; then say "$p: would build $label from $t into $peer_dir/$p"; continue; fi
  say "$p: building $label from $t (log: $peer_dir/build/$p.log)"
  mkdir -p "$peer_dir/build"
  if lib=$(${builder[$p]} "$t" "$peer_dir/build/$p") && [ -f "$lib" ] && install_lib "$p" "${libfile[$p]}" "$lib" "$label" "$stamp"; then
    say "$p: $peer_dir/$p/${libfile[$p]}"
  else
    say "$p: the build failed; the last lines of $peer_dir/build/$p.log:"
    tail -n 8 "$peer_dir/build/$p.log" 2>/dev/null | sed 's/^/peers:   /' >&2
    status=1
  fi
done
exit "$status"
