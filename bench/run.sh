#!/usr/bin/env bash
# bench/run.sh - build bench/churn.c against mialloc, glibc and libmimalloc, run
# them interleaved (A B C A B C ...) RUNS times, and print a markdown table of
# the median ns per malloc/free pair. `make bench` runs it.
#
# Environment: CC (default: first of clang-19, clang-22, clang, cc),
# RUNS (default 5), BENCH_SECONDS (per pattern, default 0.2), OUT (build dir,
# default build/bench). About 1.6 s per run: 3 x 5 runs take ~25 s.
# Ratios below 1 mean mialloc is faster.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -z "${CC:-}" ]; then
  CC=$(command -v clang-19 || command -v clang-22 || command -v clang || command -v cc)
fi
RUNS=${RUNS:-5}
OUT=${OUT:-build/bench}
export BENCH_SECONDS=${BENCH_SECONDS:-0.2}
mkdir -p "$OUT"

warn="-Wall -Wextra -Wpedantic -Wconversion -Wshadow -Wundef -Wdouble-promotion -Wformat=2 -Wvla
      -Wmissing-field-initializers -Wnull-dereference"
if "$CC" --version 2>/dev/null | grep -qi clang; then warn="$warn -Wextra-semi -Wthread-safety"; fi
# shellcheck disable=SC2206
cflags=(-std=gnu11 -O2 -march=x86-64-v3 $warn -Werror -pthread)

allocs=(mialloc glibc)
echo "building with $CC: ${cflags[*]}"
"$CC" "${cflags[@]}" -DBENCH_ALLOC=1 bench/churn.c -o "$OUT/churn-mialloc"
"$CC" "${cflags[@]}" -DBENCH_ALLOC=2 bench/churn.c -o "$OUT/churn-glibc"
if [ -f "${MIMALLOC_H:-/usr/include/mimalloc.h}" ]; then
  "$CC" "${cflags[@]}" -DBENCH_ALLOC=3 bench/churn.c -o "$OUT/churn-mimalloc" -lmimalloc
  allocs+=(mimalloc)
else
  rm -f "$OUT/churn-mimalloc"
  echo "mimalloc: skipped (/usr/include/mimalloc.h is absent; apt-get install libmimalloc-dev)"
fi

results="$OUT/results.txt"
: > "$results"
for ((run = 1; run <= RUNS; run++)); do
  for a in "${allocs[@]}"; do
    echo "run $run/$RUNS: $a" >&2
    "$OUT/churn-$a" | awk -v a="$a" '!/^#/ { print a, $1, $2 }' >> "$results"
  done
done

# Median per (allocator, pattern); patterns in the order the program prints them.
awk -v have_mi="$([ "${#allocs[@]}" -eq 3 ] && echo 1 || echo 0)" '
  function median(key,   n, i, j, t, v) {
    n = count[key]
    for (i = 1; i <= n; i++) v[i] = val[key, i]
    for (i = 2; i <= n; i++) { t = v[i]; for (j = i - 1; j >= 1 && v[j] > t; j--) v[j + 1] = v[j]; v[j + 1] = t }
    return n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
  }
  {
    key = $1 SUBSEP $2
    val[key, ++count[key]] = $3
    if (!($2 in seen)) { seen[$2] = 1; order[++npat] = $2 }
  }
  END {
    print "| pattern | mialloc ns/op | glibc ns/op | mimalloc ns/op | mialloc/glibc | mialloc/mimalloc |"
    print "|---|---:|---:|---:|---:|---:|"
    for (i = 1; i <= npat; i++) {
      p = order[i]
      m = median("mialloc" SUBSEP p); g = median("glibc" SUBSEP p)
      if (have_mi) { mi = median("mimalloc" SUBSEP p); mis = sprintf("%.2f", mi); r2 = sprintf("%.2f", m / mi) }
      else { mis = "skipped"; r2 = "-" }
      printf "| %s | %.2f | %.2f | %s | %.2f | %s |\n", p, m, g, mis, m / g, r2
    }
  }' "$results"
echo
echo "ns/op = nanoseconds per malloc+free pair, median of $RUNS interleaved runs," \
     "${BENCH_SECONDS} s per pattern; $(uname -m), $(nproc) cores; built with $("$CC" --version | head -n 1)."
echo "mialloc is compiled into the benchmark (its fast path inlines into the loops);" \
     "glibc and libmimalloc are called through the PLT into shared libraries."
bash examples/run_all.sh
