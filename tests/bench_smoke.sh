#!/usr/bin/env bash
# bench_smoke.sh SCALE PROGRAM... - the bench programs' workloads as tests
# (make test step run-bench-smoke): every workload each PROGRAM lists
# (`PROGRAM --list`: bench/classic.c, bench/micro.c) runs once at SCALE with
# 2 threads and once with 4. The Makefile builds the programs with the
# header, MIALLOC_DEBUG=3, ASan and UBSan; every block a workload allocates
# is stamped and checked when it is freed (bench/bench.h). A run passes
# when it exits 0 and its result line reports no misaligned block; one
# line per run, then "N passed, M failed".
set -uo pipefail
if [ $# -lt 2 ]; then
  echo "usage: $0 SCALE PROGRAM..." >&2
  exit 2
fi
scale=$1
shift
pass=0 fail=0
for prog in "$@"; do
  if ! names=$("$prog" --list | awk '{ print $1 }') || [ -z "$names" ]; then
    echo "FAIL $(basename "$prog") --list"
    fail=$((fail + 1))
    continue
  fi
  for w in $names; do
    for t in 2 4; do
      out=$("$prog" "$w" "$t" "$scale" 2>&1)
      rc=$?
      line=$(printf '%s\n' "$out" | grep "^result $w " | tail -n 1)
      if [ "$rc" -eq 0 ] && [ -n "$line" ] && printf '%s\n' "$line" | grep -q ' misaligned=0$'; then
        echo "ok   $(basename "$prog") $w threads=$t"
        pass=$((pass + 1))
      else
        echo "FAIL $(basename "$prog") $w threads=$t (exit $rc)"
        printf '%s\n' "$out" | tail -n 20 | sed 's/^/     /'
        fail=$((fail + 1))
      fi
    done
  done
done
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
