#!/usr/bin/env bash
# instr_st.sh THREADED_BIN SINGLE_THREAD_BIN [N]
#
# Instructions per mia_malloc(32)/mia_free pair under valgrind --tool=callgrind,
# for the default threaded build and for MIALLOC_SINGLE_THREAD=1: each program
# runs N and 2N iterations (tests/ports/instr_st.c) and the difference of the
# two totals, divided by N, is the cost of one pair (start-up and exit cancel).
# Acceptance: single-thread <= threaded. Ends with "N passed, M failed".
set -uo pipefail
mt=$1 st=$2 n=${3:-200000}
passed=0 failed=0
pass() { passed=$((passed + 1)); }
fail() { echo "FAILED: $*"; failed=$((failed + 1)); }

if ! command -v valgrind > /dev/null; then
  echo "valgrind is not installed (apt-get install valgrind)"
  echo "0 passed, 1 failed"
  exit 1
fi

# Total instructions of one run (callgrind's "Collected" line), empty on failure.
count() {
  valgrind --tool=callgrind --callgrind-out-file=/dev/null "$1" "$2" 2>&1 >/dev/null |
    sed -n 's/.*Collected : \([0-9][0-9]*\).*/\1/p' | tail -n 1
}

# Instructions per pair, with one decimal (empty on failure).
per_pair() {
  local a b
  a=$(count "$1" "$n")
  b=$(count "$1" $((2 * n)))
  if [ -z "$a" ] || [ -z "$b" ]; then return; fi
  awk -v a="$a" -v b="$b" -v n="$n" 'BEGIN { printf "%.1f\n", (b - a) / n }'
}

ipp_mt=$(per_pair "$mt")
ipp_st=$(per_pair "$st")
printf '  %-28s %s instructions per malloc(32)/free pair\n' "threaded (default):" "${ipp_mt:-?}"
printf '  %-28s %s instructions per malloc(32)/free pair\n' "MIALLOC_SINGLE_THREAD=1:" "${ipp_st:-?}"
if [ -n "$ipp_mt" ] && [ -n "$ipp_st" ]; then
  pass
  pass
  if awk -v s="$ipp_st" -v m="$ipp_mt" 'BEGIN { exit !(s <= m) }'; then pass
  else fail "the single-thread build costs more than the threaded one ($ipp_st > $ipp_mt)"; fi
else
  [ -n "$ipp_mt" ] && pass || fail "no callgrind count for $mt"
  [ -n "$ipp_st" ] && pass || fail "no callgrind count for $st"
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
