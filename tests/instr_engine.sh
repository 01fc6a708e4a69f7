#!/usr/bin/env bash
# instr_engine.sh BINDIR [N]
#
# Instructions per malloc(32)/free pair under valgrind --tool=callgrind for
# the engine configurations (tests/instr_engine.c built by tests/engine.mk
# into BINDIR as instr-release, instr-off, instr-hooks, instr-stats): each
# row runs N and 2N iterations and divides the difference by N. Prints a
# markdown table, then checks:
#   - MIALLOC_HOOKS=0 MIALLOC_STATS=0 spelled out == the release count exactly
#   - mia_malloc_aligned(32, 16 / 32 / 64) <= 1.25 x mia_malloc(32) (release)
# Ends with "N passed, M failed".
set -uo pipefail
dir=$1 n=${2:-200000}
passed=0 failed=0
pass() { passed=$((passed + 1)); }
fail() { echo "FAILED: $*"; failed=$((failed + 1)); }

if ! command -v valgrind > /dev/null; then
  echo "valgrind is not installed (apt-get install valgrind)"
  echo "0 passed, 1 failed"
  exit 1
fi

count() { # BINARY MODE ITERATIONS -> total instructions
  valgrind --tool=callgrind --callgrind-out-file=/dev/null "$1" "$2" "$3" 2>&1 >/dev/null |
    sed -n 's/.*Collected : \([0-9][0-9]*\).*/\1/p' | tail -n 1
}
per_pair() { # BINARY MODE -> instructions per pair, one decimal
  local a b
  a=$(count "$1" "$2" "$n")
  b=$(count "$1" "$2" $((2 * n)))
  if [ -z "$a" ] || [ -z "$b" ]; then return; fi
  awk -v a="$a" -v b="$b" -v n="$n" 'BEGIN { printf "%.1f\n", (b - a) / n }'
}

declare -A ipp
rows=(
  "release|instr-release|plain|release: mia_malloc(32) + mia_free"
  "off|instr-off|plain|MIALLOC_HOOKS=0 MIALLOC_STATS=0 spelled out"
  "hooks|instr-hooks|plain|MIALLOC_HOOKS=1, no hook installed"
  "noop|instr-hooks|noop|MIALLOC_HOOKS=1, no-op hooks installed"
  "stats|instr-stats|plain|MIALLOC_STATS=1"
  "a16|instr-release|a16|release: mia_malloc_aligned(32, 16)"
  "a32|instr-release|a32|release: mia_malloc_aligned(32, 32)"
  "a64|instr-release|a64|release: mia_malloc_aligned(32, 64)"
)
echo "| configuration | instructions per pair | vs release |"
echo "|---|---:|---:|"
for row in "${rows[@]}"; do
  IFS='|' read -r key bin mode label <<< "$row"
  v=$(per_pair "$dir/$bin" "$mode")
  ipp[$key]=${v:-}
  if [ -n "$v" ]; then pass; else fail "no callgrind count for $bin $mode"; fi
  ratio=$(awk -v v="${v:-0}" -v r="${ipp[release]:-0}" 'BEGIN { if (r > 0 && v > 0) printf "%.2fx", v / r; else print "-" }')
  printf '| %s | %s | %s |\n' "$label" "${v:-?}" "$ratio"
done
echo
echo "callgrind, (I(2N) - I(N)) / N with N = $n; $(uname -m); the loop's own ~3 instructions included."

if [ -n "${ipp[release]}" ] && [ -n "${ipp[off]}" ]; then
  if [ "${ipp[release]}" = "${ipp[off]}" ]; then pass
  else fail "hooks and stats compiled out cost ${ipp[off]}, release ${ipp[release]}"; fi
fi
for a in a16 a32 a64; do
  if [ -n "${ipp[$a]}" ] && [ -n "${ipp[release]}" ]; then
    if awk -v x="${ipp[$a]}" -v r="${ipp[release]}" 'BEGIN { exit !(x <= 1.25 * r) }'; then pass
    else fail "$a: ${ipp[$a]} > 1.25 x ${ipp[release]}"; fi
  fi
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
