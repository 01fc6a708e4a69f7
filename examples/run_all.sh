#!/usr/bin/env bash
# examples/run_all.sh - build every example (with mimalloc when its header and
# library are installed: -DWITH_MIMALLOC -lmimalloc), run each once and print
# one markdown table of the times each example measured in its own run:
#
#   | example | mialloc ms | malloc ms | mimalloc ms | ratio |
#
# ratio = mialloc / malloc (and mialloc / mimalloc); below 1 mialloc is
# faster. Examples that time nothing (hello, heap_per_task) are listed as run.
# `make bench` runs it at the end of bench/run.sh. About 10 s.
# Environment: CC (default: first of clang-19, clang-22, clang, cc), OUT
# (default build/examples-bench).
set -uo pipefail
cd "$(dirname "$0")/.."

if [ -z "${CC:-}" ]; then
  CC=$(command -v clang-19 || command -v clang-22 || command -v clang || command -v cc)
fi
OUT=${OUT:-build/examples-bench}
mkdir -p "$OUT"
warn="-Wall -Wextra -Wpedantic -Wconversion -Wshadow -Wundef -Wdouble-promotion -Wformat=2 -Wvla
      -Wmissing-field-initializers -Wnull-dereference"
if "$CC" --version 2>/dev/null | grep -qi clang; then warn="$warn -Wextra-semi -Wthread-safety"; fi
# shellcheck disable=SC2206
cflags=(-std=gnu11 -O2 -march=x86-64-v3 $warn -Werror -pthread)
mimalloc=()
if [ -f /usr/include/mimalloc.h ]; then
  mimalloc=(-DWITH_MIMALLOC=1)
  mimalloc_lib=(-lmimalloc)
else
  mimalloc_lib=()
  echo "examples: mimalloc column skipped (/usr/include/mimalloc.h is absent; apt-get install libmimalloc-dev)"
fi

rows=()
failed=0
for src in examples/*.c; do
  name=$(basename "$src" .c)
  bin="$OUT/$name"
  # shellcheck disable=SC2068
  if ! "$CC" "${cflags[@]}" ${mimalloc[@]+"${mimalloc[@]}"} "$src" -o "$bin" -lm ${mimalloc_lib[@]+"${mimalloc_lib[@]}"}; then
    rows+=("| $name | build failed | | | |")
    failed=$((failed + 1))
    continue
  fi
  echo "examples: running $name" >&2
  if ! out=$("$bin" 2>&1); then
    rows+=("| $name | exit code $? | | | |")
    failed=$((failed + 1))
    continue
  fi
  line=$(grep -E '^result: ' <<< "$out" | tail -n 1)
  if [ -z "$line" ]; then
    rows+=("| $name | (runs, times nothing) | | | |")
    continue
  fi
  rows+=("$(awk '{
      for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
      m = v["mialloc_ms"]; g = v["malloc_ms"]; mi = v["mimalloc_ms"]
      r = (g > 0) ? sprintf("%.2f", m / g) : "-"
      if (mi != "-" && mi > 0) r = r sprintf(" / %.2f", m / mi)
      printf "| %s | %s | %s | %s | %s |", name, m, g, mi, r
    }' name="$name" <<< "$line")")
done

echo
echo "| example | mialloc ms | malloc ms | mimalloc ms | ratio (mialloc/malloc / mialloc/mimalloc) |"
echo "|---|---:|---:|---:|---:|"
printf '%s\n' "${rows[@]}"
echo
echo "Each example times its own workload, best of 3 interleaved rounds, in one process;" \
     "$(uname -m), $(nproc) cores; built with $("$CC" --version | head -n 1)."
[ "$failed" -eq 0 ]
