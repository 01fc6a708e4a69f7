/* instr.c - malloc/free patterns for counting instructions per pair under
   callgrind (`make bench-instr`, run by bench/instr.py).

   Build (the Makefile does both):
     clang-19 -std=gnu11 -O2 -march=x86-64-v3 <STYLE.md warnings> -Werror -pthread \
       -DBENCH_MIALLOC=1 bench/instr.c -o build/bench/instr-mialloc
     clang-19 ... -DBENCH_MIALLOC=0 bench/instr.c -o build/bench/instr-plain
   instr-mialloc includes mialloc.h (MIALLOC_IMPLEMENTATION) and calls mia_*;
   instr-plain calls plain malloc/free through the PLT: glibc's as it is, a
   peer's when the peer is preloaded (LD_PRELOAD=libjemalloc.so.2 ...), as in
   the brief's measurements (every call includes one PLT jump).
   Run:  valgrind --tool=callgrind --callgrind-out-file=/dev/null build/bench/instr-plain A 100000
   Run length: natively a few milliseconds; under callgrind 0.5-3 s per run.

   Patterns (PAIRS = malloc/free pairs, the second argument):
     A   malloc(32) then free it, PAIRS times
     B   sizes cycling 16, 32, ..., 1024 (64 sizes), malloc then free
     C   rounds of ROUND x malloc(32), then free them in allocation order
     D   rounds of ROUND blocks of mixed sizes 16..256 (a fixed pseudo-random
         sequence), then free them in reverse order
     X   cross-thread: rounds of ROUND x malloc(32) by the main thread, freed
         by a second thread (the main thread waits; its later mallocs take
         the blocks back), handed over with two semaphores per round
     A0 B0 C0 D0 X0   the same loops with a dummy pointer instead of the
         allocator (the empty loop, subtracted by instr.py)
   Tunables: ROUND (1000). bench/instr.py counts each pattern at two values
   of PAIRS (100 000 and 200 000) and takes the difference / 100 000, so
   start-up and first-touch warm-up cancel; then subtracts the empty loop's
   figure obtained the same way. */
#ifndef BENCH_MIALLOC
#define BENCH_MIALLOC 0
#endif

#define _GNU_SOURCE 1
#include <pthread.h>
#include <semaphore.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if BENCH_MIALLOC
#define MIALLOC_IMPLEMENTATION
#include "../mialloc.h"
#define bench_malloc mia_malloc
#define bench_free mia_free
#else
#define bench_malloc malloc
#define bench_free free
#endif

#define ROUND 1000
#define INLINE static inline __attribute__((always_inline))
#define NOINLINE __attribute__((noinline))
#define escape(p) __asm__ volatile("" : : "r"(p) : "memory")

static char dummy[16];
static void* blocks[ROUND];
static size_t mixed[ROUND];

/* real: the allocator; else the dummy (the compiler sees a constant and keeps the loop shape). */
INLINE void* op_malloc(bool real, size_t size) {
  void* p = real ? bench_malloc(size) : (void*)(dummy + (size & 1));
  if (p == NULL) {
    fprintf(stderr, "instr: out of memory\n");
    exit(3);
  }
  escape(p);
  return p;
}
INLINE void op_free(bool real, void* p) {
  escape(p);
  if (real) bench_free(p);
}

INLINE void pattern_a(bool real, size_t pairs) {
  for (size_t i = 0; i < pairs; i++) op_free(real, op_malloc(real, 32));
}
INLINE void pattern_b(bool real, size_t pairs) {
  for (size_t i = 0; i < pairs; i++) op_free(real, op_malloc(real, 16 + 16 * (i % 64)));
}
INLINE void pattern_c(bool real, size_t pairs) {
  for (size_t done = 0; done < pairs; done += ROUND) {
    for (size_t i = 0; i < ROUND; i++) blocks[i] = op_malloc(real, 32);
    for (size_t i = 0; i < ROUND; i++) op_free(real, blocks[i]);
  }
}
INLINE void pattern_d(bool real, size_t pairs) {
  for (size_t done = 0; done < pairs; done += ROUND) {
    for (size_t i = 0; i < ROUND; i++) blocks[i] = op_malloc(real, mixed[i]);
    for (size_t i = ROUND; i > 0; i--) op_free(real, blocks[i - 1]);
  }
}

/* X: the freeing thread. */
static sem_t go, done_sem;
static volatile bool x_real, x_stop;

static void* x_worker(void* arg) {
  (void)arg;
  for (;;) {
    sem_wait(&go);
    if (x_stop) return NULL;
    if (x_real) {
      for (size_t i = 0; i < ROUND; i++) op_free(true, blocks[i]);
    } else {
      for (size_t i = 0; i < ROUND; i++) op_free(false, blocks[i]);
    }
    sem_post(&done_sem);
  }
}
INLINE void pattern_x(bool real, size_t pairs) {
  for (size_t done = 0; done < pairs; done += ROUND) {
    for (size_t i = 0; i < ROUND; i++) blocks[i] = op_malloc(real, 32);
    sem_post(&go);
    sem_wait(&done_sem);
  }
}

static NOINLINE void run_a(size_t n) { pattern_a(true, n); }
static NOINLINE void run_b(size_t n) { pattern_b(true, n); }
static NOINLINE void run_c(size_t n) { pattern_c(true, n); }
static NOINLINE void run_d(size_t n) { pattern_d(true, n); }
static NOINLINE void run_x(size_t n) { pattern_x(true, n); }
static NOINLINE void run_a0(size_t n) { pattern_a(false, n); }
static NOINLINE void run_b0(size_t n) { pattern_b(false, n); }
static NOINLINE void run_c0(size_t n) { pattern_c(false, n); }
static NOINLINE void run_d0(size_t n) { pattern_d(false, n); }
static NOINLINE void run_x0(size_t n) { pattern_x(false, n); }

int main(int argc, char** argv) {
  static const struct { const char* name; void (*run)(size_t); } patterns[] = {
    {"A", run_a}, {"B", run_b}, {"C", run_c}, {"D", run_d}, {"X", run_x},
    {"A0", run_a0}, {"B0", run_b0}, {"C0", run_c0}, {"D0", run_d0}, {"X0", run_x0},
  };
  if (argc != 3) {
    fprintf(stderr, "usage: %s A|B|C|D|X|A0|B0|C0|D0|X0 pairs\n", argv[0]);
    return 2;
  }
  size_t pairs = (size_t)strtoull(argv[2], NULL, 10);
  void (*run)(size_t) = NULL;
  for (size_t i = 0; i < sizeof patterns / sizeof patterns[0]; i++)
    if (strcmp(patterns[i].name, argv[1]) == 0) run = patterns[i].run;
  if (run == NULL || pairs == 0 || pairs % ROUND != 0) {
    fprintf(stderr, "%s: unknown pattern '%s' or pairs not a multiple of %d\n", argv[0], argv[1], ROUND);
    return 2;
  }
  /* D's sizes: 16..256, from a fixed linear congruential sequence. */
  uint32_t x = 12345;
  for (size_t i = 0; i < ROUND; i++) {
    x = x * 1103515245u + 12345u;
    mixed[i] = 16 + (x >> 16) % 241;
  }
  pthread_t worker;
  bool cross = argv[1][0] == 'X';
  if (cross) {
    x_real = argv[1][1] == '\0';
    sem_init(&go, 0, 0);
    sem_init(&done_sem, 0, 0);
    if (pthread_create(&worker, NULL, x_worker, NULL) != 0) return 3;
  }
  run(pairs);
  if (cross) {
    x_stop = true;
    sem_post(&go);
    pthread_join(worker, NULL);
  }
  printf("%s %zu done\n", argv[1], pairs);
  return 0;
}
