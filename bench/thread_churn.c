/* thread_churn.c - short-lived threads handing blocks to each other (the
   mstress pattern): every block a thread leaves behind is freed by a thread
   of a later round, after its owner has exited, so the allocator must
   reclaim (or at least reuse) abandoned memory. Page faults, CPU time, peak
   resident set.

   Build (make bench-memret does this; see bench/memret.mk):
     clang-19 -std=gnu11 -O2 -march=x86-64-v3 <STYLE.md warnings> -Werror -pthread \
       -DBENCH_MIALLOC=1 -DBENCH_NAME=mialloc bench/thread_churn.c -o build/bench/thread_churn-mialloc -lm
     clang-19 ... -DBENCH_MIALLOC=0 -DBENCH_NAME=glibc bench/thread_churn.c -o build/bench/thread_churn-glibc -lm
   Run:  build/bench/thread_churn-mialloc [rounds=150] [threads=2] [steps=10000] [seed=1]

   Each round starts `threads` threads and waits for them. Thread t of round
   r takes lane (t + r) % threads: TC_HANDOFF slots of blocks left by a
   thread of the previous round. It frees each inherited block with
   probability 1/2 (a free of a block whose owner has exited), then does
   `steps` replacements in a local array of TC_LOCAL slots; one in 8 of its
   new blocks is swapped into a random slot of the lane (it is passed on; the
   block it displaces comes back to the local array and is freed here). At
   exit it frees its local array and leaves the lane, about 3/4 full, to the
   next round. Sizes: 98.9% 16 B..4 KiB, 1% 4..64 KiB, 0.1% 256 KiB..1 MiB
   (log-uniform in each range); one byte per 4 KiB written (bench.h).
   The rounds are measured (getrusage over the whole process: exited
   threads included) and bracketed by two marker system calls (memret.h).
   Run length: rounds=150 is 0.3-1 s per allocator on a 2-core x86-64
   server; make bench-full uses 600.

   Output (one line):
     memret threads alloc=<build> malloc=<provider> rounds=<n> threads=<n> ops=<mallocs>
       faults=<minor faults, rounds> majflt=<major, rounds> cpu_s=<user+sys, rounds>
       wall_s=<wall, rounds> hwm_kib=<VmHWM: peak resident set>
       rss_end_kib=<after every block is freed>
   exit 3 if a block check fails (bench.h). */
#include "memret.h"

#define TC_MAX_THREADS 64
#define TC_HANDOFF 2000
#define TC_LOCAL 1000

typedef struct tc_arg_s {
  void** lane;
  size_t steps;
  uint64_t seed;
  uint64_t ops;
} tc_arg_t;

static void* tc_lanes[TC_MAX_THREADS][TC_HANDOFF];

static size_t tc_size(rng_t* r) {
  size_t u = rng_below(r, 1000);
  if (u < 989) return memret_log_uniform(r, 16, 4096);
  if (u < 999) return memret_log_uniform(r, 4097, (size_t)64 << 10);
  return memret_log_uniform(r, (size_t)256 << 10, (size_t)1 << 20);
}

static void* tc_new(rng_t* r) {
  size_t size = tc_size(r);
  void* p = blk_new(size, (uint32_t)rng_next(r));
  blk_touch(p, size);
  return p;
}

static void* tc_thread(void* arg) {
  tc_arg_t* a = (tc_arg_t*)arg;
  rng_t r = rng_make(a->seed);
  void** lane = a->lane;
  void* local[TC_LOCAL];
  memset(local, 0, sizeof local);
  for (size_t k = 0; k < TC_HANDOFF; k++) {
    if (lane[k] != NULL && rng_below(&r, 2) == 0) {
      blk_free(lane[k], 0);
      lane[k] = NULL;
    }
  }
  for (size_t i = 0; i < a->steps; i++) {
    size_t k = rng_below(&r, TC_LOCAL);
    if (local[k] != NULL) blk_free(local[k], 0);
    local[k] = tc_new(&r);
    if (rng_below(&r, 8) == 0) {
      size_t j = rng_below(&r, TC_HANDOFF);
      void* old = lane[j];
      lane[j] = local[k];
      local[k] = old;
      if (old != NULL) (void)blk_check((const unsigned char*)old, 0);
    }
  }
  for (size_t k = 0; k < TC_LOCAL; k++)
    if (local[k] != NULL) blk_free(local[k], 0);
  a->ops = a->steps;
  return NULL;
}

int main(int argc, char** argv) {
  memret_check_opts(argc, argv, "rounds threads steps seed");
  size_t rounds = (size_t)memret_opt(argc, argv, "rounds", 150);
  int threads = (int)memret_opt(argc, argv, "threads", 2);
  size_t steps = (size_t)memret_opt(argc, argv, "steps", 10000);
  uint64_t seed = (uint64_t)memret_opt(argc, argv, "seed", 1);
  if (rounds == 0 || threads < 1 || threads > TC_MAX_THREADS) {
    fprintf(stderr, "%s: rounds must be > 0 and threads 1..%d\n", argv[0], TC_MAX_THREADS);
    return 2;
  }
  bench_workload = "threads";
  tc_arg_t args[TC_MAX_THREADS];
  memset(args, 0, sizeof args);
  uint64_t ops = 0;

  memret_mark();
  memret_usage_t u0 = memret_usage();
  double t0 = memret_now();
  for (size_t round = 0; round < rounds; round++) {
    for (int t = 0; t < threads; t++) {
      args[t].lane = tc_lanes[((size_t)t + round) % (size_t)threads];
      args[t].steps = steps;
      args[t].seed = seed * 1000003u + round * TC_MAX_THREADS + (uint64_t)t;
    }
    threads_run(threads, tc_thread, args, sizeof(tc_arg_t));
    for (int t = 0; t < threads; t++) ops += args[t].ops;
  }
  double t1 = memret_now();
  memret_usage_t u1 = memret_usage();
  memret_mark();

  for (int t = 0; t < threads; t++)
    for (size_t k = 0; k < TC_HANDOFF; k++)
      if (tc_lanes[t][k] != NULL) blk_free(tc_lanes[t][k], 0);
  memret_result_head("threads");
  printf(" rounds=%zu threads=%d ops=%llu faults=%ld majflt=%ld cpu_s=%.4f wall_s=%.4f hwm_kib=%ld rss_end_kib=%ld"
         " misaligned=%zu\n",
         rounds, threads, (unsigned long long)ops, u1.minflt - u0.minflt, u1.majflt - u0.majflt, u1.cpu - u0.cpu,
         t1 - t0, memret_status_kib("VmHWM:"), memret_rss_kib(), atomic_load(&bench_misaligned_size));
  return 0;
}
