/* large_reuse.c - large blocks replaced at random (the malloc-large pattern,
   at the sizes where an allocator either keeps and reuses its memory or maps
   and faults it afresh every time): page faults per replacement, CPU time,
   peak resident set.

   Build (make bench-memret does this; see bench/memret.mk):
     clang-19 -std=gnu11 -O2 -march=x86-64-v3 <STYLE.md warnings> -Werror -pthread \
       -DBENCH_MIALLOC=1 -DBENCH_NAME=mialloc bench/large_reuse.c -o build/bench/large_reuse-mialloc -lm
     clang-19 ... -DBENCH_MIALLOC=0 -DBENCH_NAME=glibc bench/large_reuse.c -o build/bench/large_reuse-glibc -lm
   Run:  build/bench/large_reuse-mialloc [n=1000] [seed=1]

   LARGE_LIVE blocks of LARGE_MIN..LARGE_MAX bytes (uniform) are allocated,
   then n times a random one is freed and replaced by a new block of a new
   random size; every new block has one byte written in each 4 KiB page
   (bench.h's blk_touch; head and tail check words too), as a program that
   reads a file or decodes an image into it would. The replacements are
   measured (getrusage) and bracketed by two marker system calls (memret.h)
   for strace; the initial fill is not.
   Run length: n=1000 is 1-5 s per allocator on a 2-core x86-64 server
   (mostly page faults when the allocator does not reuse); make bench uses
   n=100.

   Output (one line):
     memret large alloc=<build> malloc=<provider> n=<replacements>
       faults_per_op=<minor faults per replacement> majflt=<major, replacements>
       cpu_s=<user+sys, replacements> wall_s=<wall, replacements>
       hwm_kib=<VmHWM: peak resident set> rss_end_kib=<after the last free>
   exit 3 if a block check fails (bench.h). */
#include "memret.h"

#define LARGE_LIVE 20
#define LARGE_MIN ((size_t)5 << 20)
#define LARGE_MAX ((size_t)25 << 20)

static void* large_block(rng_t* r, uint32_t salt) {
  size_t size = rng_range(r, LARGE_MIN, LARGE_MAX);
  void* p = blk_new(size, salt);
  blk_touch(p, size);
  return p;
}

int main(int argc, char** argv) {
  memret_check_opts(argc, argv, "n seed");
  size_t n = (size_t)memret_opt(argc, argv, "n", 1000);
  uint64_t seed = (uint64_t)memret_opt(argc, argv, "seed", 1);
  if (n == 0) {
    fprintf(stderr, "%s: n must be > 0\n", argv[0]);
    return 2;
  }
  bench_workload = "large";
  rng_t r = rng_make(seed);
  void* slot[LARGE_LIVE];
  for (size_t k = 0; k < LARGE_LIVE; k++) slot[k] = large_block(&r, (uint32_t)k);

  memret_mark();
  memret_usage_t u0 = memret_usage();
  double t0 = memret_now();
  for (size_t i = 0; i < n; i++) {
    size_t k = rng_below(&r, LARGE_LIVE);
    blk_free(slot[k], 0);
    slot[k] = large_block(&r, (uint32_t)i);
  }
  double t1 = memret_now();
  memret_usage_t u1 = memret_usage();
  memret_mark();

  for (size_t k = 0; k < LARGE_LIVE; k++) blk_free(slot[k], 0);
  memret_result_head("large");
  printf(" n=%zu faults_per_op=%.1f majflt=%ld cpu_s=%.4f wall_s=%.4f hwm_kib=%ld rss_end_kib=%ld misaligned=%zu\n",
         n, (double)(u1.minflt - u0.minflt) / (double)n, u1.majflt - u0.majflt, u1.cpu - u0.cpu, t1 - t0,
         memret_status_kib("VmHWM:"), memret_rss_kib(), atomic_load(&bench_misaligned_size));
  return 0;
}
