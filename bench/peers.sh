#!/usr/bin/env bash
# bench/peers.sh - install what `make bench` / `make bench-instr` compare and
# draw with, from Debian packages: the peer allocators (libmimalloc-dev,
# libjemalloc-dev, libtcmalloc-minimal4), gnuplot-nox (the chart), valgrind
# (bench-instr) and python3 (the tables) when it is missing. The peers that
# are built from source (mimalloc 3.x and 2.x, rpmalloc, snmalloc) are not
# installed here: the last lines say which of them make bench will find
# (MIALLOC_PEER_DIR, PEER_MIMALLOC3, ... as in the Makefile's bench section).
#
#   bash bench/peers.sh && make bench
#
# Non-interactive; as root, or through sudo. Packages already installed are
# not asked for again (no apt run at all when everything is present). If the
# joint install fails, each package is tried alone and a missing one is
# reported and skipped: make bench then runs without that peer and says so.
# Run length: nothing to do ~0.1 s; a fresh Debian 12 ~20-60 s (apt-get
# update and the downloads).
set -uo pipefail
export DEBIAN_FRONTEND=noninteractive

packages=(libmimalloc-dev libjemalloc-dev libtcmalloc-minimal4 gnuplot-nox valgrind)
command -v python3 >/dev/null 2>&1 || packages+=(python3)

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }

missing=()
for p in "${packages[@]}"; do installed "$p" || missing+=("$p"); done

if [ "${#missing[@]}" -gt 0 ]; then
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "peers: apt-get is absent (not Debian?); install by hand: ${missing[*]}"
  else
    sudo=""
    if [ "$(id -u)" -ne 0 ]; then
      if command -v sudo >/dev/null 2>&1; then sudo="sudo -n"; else
        echo "peers: not root and no sudo; cannot install ${missing[*]}"
      fi
    fi
    if [ "$(id -u)" -eq 0 ] || [ -n "$sudo" ]; then
      echo "peers: installing ${missing[*]}"
      # A fresh image has no package lists: update once, first.
      if ! compgen -G "/var/lib/apt/lists/*_Packages" >/dev/null; then
        $sudo apt-get update -q </dev/null >/dev/null || echo "peers: apt-get update failed"
      fi
      if ! $sudo apt-get install -y -q --no-install-recommends "${missing[@]}" </dev/null >/dev/null; then
        $sudo apt-get update -q </dev/null >/dev/null || echo "peers: apt-get update failed"
        for p in "${missing[@]}"; do
          $sudo apt-get install -y -q --no-install-recommends "$p" </dev/null >/dev/null ||
            echo "peers: $p could not be installed: skipped"
        done
      fi
    fi
  fi
fi

# What make bench will find (the Makefile looks in the same places).
arch=$(gcc -print-multiarch 2>/dev/null || echo "$(uname -m)-linux-gnu")
find_lib() {
  for d in "/usr/lib/$arch" /usr/lib64 /usr/lib /usr/local/lib; do
    if [ -e "$d/$1" ]; then echo "$d/$1"; return 0; fi
  done
  return 1
}
for peer in mimalloc:libmimalloc.so.2 jemalloc:libjemalloc.so.2 tcmalloc:libtcmalloc_minimal.so.4; do
  name=${peer%%:*} lib=${peer#*:}
  if path=$(find_lib "$lib"); then echo "peers: $name: $path"; else echo "peers: $name: not installed, skipped by make bench"; fi
done
command -v gnuplot >/dev/null 2>&1 && echo "peers: gnuplot: $(command -v gnuplot)" || echo "peers: gnuplot: not installed (no chart)"
command -v valgrind >/dev/null 2>&1 && echo "peers: valgrind: $(command -v valgrind)" || echo "peers: valgrind: not installed (no make bench-instr)"
command -v python3 >/dev/null 2>&1 || echo "peers: python3: not installed (make bench needs it)"
# The peers built from source, where the Makefile looks for them (its defaults, relative to the checkout).
root=$(cd "$(dirname "$0")/.." && pwd)
peer_dir=${MIALLOC_PEER_DIR:-../peers}
case $peer_dir in /*) ;; *) peer_dir=$root/$peer_dir ;; esac
for peer in "mimalloc-3:PEER_MIMALLOC3:${PEER_MIMALLOC3:-$peer_dir/mimalloc-3/libmimalloc.so}" \
            "mimalloc-2:PEER_MIMALLOC2:${PEER_MIMALLOC2:-$peer_dir/mimalloc-2/libmimalloc.so}" \
            "rpmalloc:PEER_RPMALLOC:${PEER_RPMALLOC:-$peer_dir/rpmalloc/librpmalloc.so}" \
            "snmalloc:PEER_SNMALLOC:${PEER_SNMALLOC:-$peer_dir/snmalloc/libsnmallocshim.so}" \
            "snmalloc (bench-instr):PEER_SNMALLOC_VALGRIND:${PEER_SNMALLOC_VALGRIND:-$peer_dir/snmalloc-valgrind/libsnmallocshim.so}"; do
  name=${peer%%:*} rest=${peer#*:}
  var=${rest%%:*} lib=${rest#*:}
  case $lib in /*) ;; *) lib=$root/$lib ;; esac  # as make sees it, from the checkout
  if [ -e "$lib" ]; then echo "peers: $name: $lib"; else echo "peers: $name: $lib absent (built from source by you, not here; set $var or MIALLOC_PEER_DIR)"; fi
done
exit 0
