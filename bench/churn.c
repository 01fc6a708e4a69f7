/* churn.c - single-thread malloc/free patterns: mialloc vs glibc vs mimalloc.

   Build (bench/run.sh does all three and prints the table; `make bench`):
     cc -std=gnu11 -O2 -march=x86-64-v3 <strict warnings> -DBENCH_ALLOC=1 bench/churn.c -o churn-mialloc -pthread
     cc ... -DBENCH_ALLOC=2 bench/churn.c -o churn-glibc
     cc ... -DBENCH_ALLOC=3 bench/churn.c -o churn-mimalloc -lmimalloc   (needs libmimalloc-dev)
   BENCH_ALLOC: 1 = mialloc.h (header included with MIALLOC_IMPLEMENTATION, so
   its fast path inlines into the loops, as in a program that uses it),
   2 = the system malloc/free (glibc), 3 = libmimalloc's mi_malloc/mi_free.

   Run: ./churn-mialloc [seconds-per-pattern]   (default 0.2; BENCH_SECONDS in the
   environment does the same). Each pattern first runs a short warm-up, then
   repeats until its time is used up, and prints one line
   "<pattern> <ns per op>", where an op is one malloc plus its free (a pair).
   Seven patterns at 0.2 s: about 1.6 s per run.

   Tunables (macros, -D to change):
     BENCH_BLOCKS      blocks live at once in churn/interleaved/multi-size (1000)
     BENCH_PINGPONG    malloc/free pairs between two clock reads in ping-pong (1000)
   Patterns:
     churn-16/64/256/1024  alloc BENCH_BLOCKS blocks of one size, then free them in order
     pingpong-32           malloc(32) then free it, in a loop
     interleaved           BENCH_BLOCKS slots; a random slot is freed if occupied,
                           else gets malloc(16..512 random); ops = calls / 2
     multisize             alloc BENCH_BLOCKS blocks of sizes 8..256 (step 8, in
                           turn), then free them in reverse order
   Every block gets one byte written and its pointer escapes to an empty asm
   statement, so no compiler can drop a malloc/free pair. */
#ifndef BENCH_ALLOC
#define BENCH_ALLOC 1
#endif
#ifndef BENCH_BLOCKS
#define BENCH_BLOCKS 1000
#endif
#ifndef BENCH_PINGPONG
#define BENCH_PINGPONG 1000
#endif

#if BENCH_ALLOC == 1
#define MIALLOC_IMPLEMENTATION
#include "../mialloc.h"
#define BENCH_NAME "mialloc"
#define bench_malloc mia_malloc
#define bench_free mia_free
#elif BENCH_ALLOC == 2
#include <stdlib.h>
#define BENCH_NAME "glibc"
#define bench_malloc malloc
#define bench_free free
#elif BENCH_ALLOC == 3
#include <mimalloc.h>
#define BENCH_NAME "mimalloc"
#define bench_malloc mi_malloc
#define bench_free mi_free
#else
#error "BENCH_ALLOC must be 1 (mialloc), 2 (glibc) or 3 (mimalloc)"
#endif

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

/* Make `p` visible to the outside world so the compiler keeps its malloc and free. */
#define bench_escape(p) __asm__ volatile("" : : "r"(p) : "memory")

static double now_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static uint64_t rng_state = 0x2545f4914f6cdd1dull;
static uint32_t bench_random(void) {
  uint64_t x = rng_state;
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  rng_state = x;
  return (uint32_t)(x >> 32);
}

static void* blocks[BENCH_BLOCKS];

static void* checked_malloc(size_t size) {
  char* p = (char*)bench_malloc(size);
  if (p == NULL) {
    fprintf(stderr, "churn: out of memory\n");
    exit(1);
  }
  p[0] = (char)size;
  bench_escape(p);
  return p;
}

/* One round of a pattern; returns the number of malloc/free pairs it did. */
typedef uint64_t (*round_fun)(size_t size);

static uint64_t round_churn(size_t size) {
  for (size_t i = 0; i < BENCH_BLOCKS; i++) blocks[i] = checked_malloc(size);
  for (size_t i = 0; i < BENCH_BLOCKS; i++) bench_free(blocks[i]);
  return BENCH_BLOCKS;
}

static uint64_t round_pingpong(size_t size) {
  for (size_t i = 0; i < BENCH_PINGPONG; i++) bench_free(checked_malloc(size));
  return BENCH_PINGPONG;
}

/* The pool persists across rounds (pool_clear empties it at the end);
   calls are counted and halved into pairs. */
static void* pool[BENCH_BLOCKS];

static uint64_t round_interleaved(size_t size) {
  (void)size;
  for (size_t i = 0; i < 2 * BENCH_BLOCKS; i++) {
    size_t slot = bench_random() % BENCH_BLOCKS;
    if (pool[slot] != NULL) {
      bench_free(pool[slot]);
      pool[slot] = NULL;
    } else {
      pool[slot] = checked_malloc(16 + bench_random() % (512 - 16 + 1));
    }
  }
  return BENCH_BLOCKS; /* 2 * BENCH_BLOCKS calls */
}

static void pool_clear(void) {
  for (size_t i = 0; i < BENCH_BLOCKS; i++) {
    bench_free(pool[i]);
    pool[i] = NULL;
  }
}

static uint64_t round_multisize(size_t size) {
  (void)size;
  for (size_t i = 0; i < BENCH_BLOCKS; i++) blocks[i] = checked_malloc(8 + 8 * (i % 32));
  for (size_t i = BENCH_BLOCKS; i > 0; i--) bench_free(blocks[i - 1]);
  return BENCH_BLOCKS;
}

/* Warm up for a tenth of the time, then run rounds until `seconds` pass. */
static void run_pattern(const char* name, round_fun round, size_t size, double seconds) {
  double warm_end = now_seconds() + seconds / 10;
  while (now_seconds() < warm_end) (void)round(size);
  uint64_t pairs = 0;
  double start = now_seconds(), end;
  do {
    pairs += round(size);
    end = now_seconds();
  } while (end - start < seconds);
  printf("%s %.3f\n", name, (end - start) * 1e9 / (double)pairs);
}

int main(int argc, char** argv) {
  double seconds = 0.2;
  const char* env = getenv("BENCH_SECONDS");
  if (argc > 1) env = argv[1];
  if (env != NULL) seconds = strtod(env, NULL);
  if (!(seconds > 0 && seconds < 3600)) {
    fprintf(stderr, "usage: %s [seconds-per-pattern]\n", argv[0]);
    return 2;
  }
  printf("# allocator %s, %.3f s per pattern, %d blocks\n", BENCH_NAME, seconds, BENCH_BLOCKS);
  run_pattern("churn-16", round_churn, 16, seconds);
  run_pattern("churn-64", round_churn, 64, seconds);
  run_pattern("churn-256", round_churn, 256, seconds);
  run_pattern("churn-1024", round_churn, 1024, seconds);
  run_pattern("pingpong-32", round_pingpong, 32, seconds);
  run_pattern("interleaved", round_interleaved, 0, seconds);
  pool_clear();
  run_pattern("multisize", round_multisize, 0, seconds);
  return 0;
}
