/* instr.c - malloc/free patterns for counting instructions per pair under
   callgrind (`make bench-instr`, run by bench/instr.py).

   Build (the Makefile does both):
     clang-19 -std=gnu11 -O2 -march=x86-64-v3 <STYLE.md warnings> -Werror -pthread \
       -DBENCH_MIALLOC=1 bench/instr.c -o build/bench/instr-mialloc
     clang-19 ... -DBENCH_MIALLOC=0 bench/instr.c -o build/bench/instr-plain
   instr-mialloc includes mialloc.h (MIALLOC_IMPLEMENTATION) and calls mia_*;
   instr-plain calls plain malloc/free through the PLT: glibc's as it is, a
   peer's when the peer is preloaded (LD_PRELOAD=libjemalloc.so.2 ...), as in
   the brief's measurements (every call includes one PLT jump), and mialloc's
   own under LD_PRELOAD=build/libmialloc.so (the "mialloc (preload)" column).
   Run:  valgrind --tool=callgrind --callgrind-out-file=/dev/null build/bench/instr-plain A 100000
   Run length: natively 5-350 ms for 100 000 pairs (J and K of mimalloc 2.x
   the longest); under callgrind 0.3-45 s per run (instr.py counts J and K at
   5 000 and 10 000 pairs, where mimalloc 2.x costs ~53 000 instructions each).
   Output: one line "<pattern> <PAIRS> done ops=<calls counted> malloc=<provider>",
   the provider being the file that supplies malloc (dladdr), "mialloc.h" in
   instr-mialloc, so instr.py can check that a preload took effect.

   Patterns (PAIRS = malloc/free pairs, the second argument):
     A   malloc(32) then free it, PAIRS times
     B   sizes cycling 16, 32, ..., 1024 (64 sizes), malloc then free
     C   rounds of ROUND x malloc(32), then free them in allocation order
     D   rounds of ROUND blocks of mixed sizes 16..256 (a fixed pseudo-random
         sequence), then free them in reverse order
     X   cross-thread: rounds of ROUND x malloc(32) by the main thread, freed
         by a second thread (the main thread waits; its later mallocs take
         the blocks back), handed over with two semaphores per round
     E   sizes cycling 16, 32, ..., 8080 (505 sizes, past the small sizes
         into the medium ones), malloc then free
     G   one buffer grown by realloc from 8 B to 64 KiB, 16 B at a time
         (8, 24, 40, ... 65528, 65536: G_CALLS = 4097 calls; a string or an
         array appended to), realloc(NULL, 8) first, free at the end, again
         and again; ops counts the realloc calls, whole growths only (PAIRS
         rounded up to a multiple of G_CALLS), so the figure is per realloc
         call (the one free per growth and the copies included; callgrind
         counts a `rep movsb` once per byte, so a copy weighs its length)
     P   posix_memalign(&p, 4096, 4096) then free
     J   malloc(100000) then free
     K   malloc(3 MiB) then free
     F   PAIRS x malloc(16), all kept, then freed in allocation order: every
         block comes from a page extended for it (free-list building, the
         AVX2 path for 8- and 16-byte blocks against MIALLOC_NO_SIMD=1);
         PAIRS at most F_MAX
     A0 B0 C0 D0 X0 E0 G0 P0 J0 K0 F0   the same loops with a dummy pointer
         instead of the allocator (the empty loop, subtracted by instr.py)
   No pattern writes into its blocks: what is counted is the allocator's own
   work (and realloc's copy).
   Tunables: ROUND (1000), G_MAX (65536), G_STEP (16). bench/instr.py counts
   each pattern at two values of PAIRS (100 000 and 200 000; J and K: 5 000
   and 10 000) and takes the difference of the counts divided by the
   difference of ops, so start-up and first-touch warm-up cancel; then
   subtracts the empty loop's figure obtained the same way. */
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
#define bench_realloc mia_realloc
#define bench_posix_memalign mia_posix_memalign
#define bench_free mia_free
#else
#include <dlfcn.h>
#define bench_malloc malloc
#define bench_realloc realloc
#define bench_posix_memalign posix_memalign
#define bench_free free
#endif

#define ROUND 1000
#define E_SIZES 505              /* 16, 32, ..., 8080 */
#define G_MAX ((size_t)65536)    /* G grows its buffer up to this size, */
#define G_STEP ((size_t)16)      /* by this much per realloc call */
#define J_SIZE ((size_t)100000)
#define K_SIZE ((size_t)3 << 20)
#define F_MAX 200000             /* F's blocks, all live at once */
#define INLINE static inline __attribute__((always_inline))
#define NOINLINE __attribute__((noinline))
#define escape(p) __asm__ volatile("" : : "r"(p) : "memory")
/* The size is computed in the empty loop too (the real loop needs it for the call): without
   this the compiler drops B's and E's size arithmetic from the empty loop only, and the net
   figure would charge it to the allocator. No instruction of its own. */
#define use_size(n) __asm__ volatile("" : : "r"(n))

static char dummy[16];
static void* blocks[ROUND];
static void* fresh[F_MAX];
static size_t mixed[ROUND];

/* real: the allocator; else the dummy (the compiler sees a constant and keeps the loop shape). */
INLINE void* op_malloc(bool real, size_t size) {
  use_size(size);
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
INLINE void* op_realloc(bool real, void* p, size_t size) {
  use_size(size);
  escape(p);
  void* q = real ? bench_realloc(p, size) : (void*)(dummy + (size & 1));
  if (q == NULL) {
    fprintf(stderr, "instr: out of memory (realloc)\n");
    exit(3);
  }
  escape(q);
  return q;
}
INLINE void* op_memalign(bool real, size_t alignment, size_t size) {
  void* p = dummy;
  int rc = real ? bench_posix_memalign(&p, alignment, size) : (int)(size & 1);
  if (rc != 0 || p == NULL) {
    fprintf(stderr, "instr: posix_memalign failed (%d)\n", rc);
    exit(3);
  }
  escape(p);
  return p;
}

/* Each pattern returns the operations it did (pairs, or realloc calls for G). */
INLINE size_t pattern_a(bool real, size_t pairs) {
  for (size_t i = 0; i < pairs; i++) op_free(real, op_malloc(real, 32));
  return pairs;
}
INLINE size_t pattern_b(bool real, size_t pairs) {
  for (size_t i = 0; i < pairs; i++) op_free(real, op_malloc(real, 16 + 16 * (i % 64)));
  return pairs;
}
INLINE size_t pattern_c(bool real, size_t pairs) {
  for (size_t done = 0; done < pairs; done += ROUND) {
    for (size_t i = 0; i < ROUND; i++) blocks[i] = op_malloc(real, 32);
    for (size_t i = 0; i < ROUND; i++) op_free(real, blocks[i]);
  }
  return pairs;
}
INLINE size_t pattern_d(bool real, size_t pairs) {
  for (size_t done = 0; done < pairs; done += ROUND) {
    for (size_t i = 0; i < ROUND; i++) blocks[i] = op_malloc(real, mixed[i]);
    for (size_t i = ROUND; i > 0; i--) op_free(real, blocks[i - 1]);
  }
  return pairs;
}
INLINE size_t pattern_e(bool real, size_t pairs) {
  for (size_t i = 0; i < pairs; i++) op_free(real, op_malloc(real, 16 + 16 * (i % E_SIZES)));
  return pairs;
}
/* G: whole growths 8 B -> G_MAX until at least `calls` realloc calls are done. */
INLINE size_t pattern_g(bool real, size_t calls) {
  size_t done = 0;
  while (done < calls) {
    void* p = NULL;
    size_t size = 8;
    for (;;) {
      p = op_realloc(real, p, size);
      done++;
      if (size == G_MAX) break;
      size += G_STEP;
      if (size > G_MAX) size = G_MAX;
    }
    op_free(real, p);
  }
  return done;
}
INLINE size_t pattern_p(bool real, size_t pairs) {
  for (size_t i = 0; i < pairs; i++) op_free(real, op_memalign(real, 4096, 4096));
  return pairs;
}
INLINE size_t pattern_j(bool real, size_t pairs) {
  for (size_t i = 0; i < pairs; i++) op_free(real, op_malloc(real, J_SIZE));
  return pairs;
}
INLINE size_t pattern_k(bool real, size_t pairs) {
  for (size_t i = 0; i < pairs; i++) op_free(real, op_malloc(real, K_SIZE));
  return pairs;
}

INLINE size_t pattern_f(bool real, size_t pairs) {
  for (size_t i = 0; i < pairs; i++) fresh[i] = op_malloc(real, 16);
  for (size_t i = 0; i < pairs; i++) op_free(real, fresh[i]);
  return pairs;
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
INLINE size_t pattern_x(bool real, size_t pairs) {
  for (size_t done = 0; done < pairs; done += ROUND) {
    for (size_t i = 0; i < ROUND; i++) blocks[i] = op_malloc(real, 32);
    sem_post(&go);
    sem_wait(&done_sem);
  }
  return pairs;
}

static NOINLINE size_t run_a(size_t n) { return pattern_a(true, n); }
static NOINLINE size_t run_b(size_t n) { return pattern_b(true, n); }
static NOINLINE size_t run_c(size_t n) { return pattern_c(true, n); }
static NOINLINE size_t run_d(size_t n) { return pattern_d(true, n); }
static NOINLINE size_t run_x(size_t n) { return pattern_x(true, n); }
static NOINLINE size_t run_e(size_t n) { return pattern_e(true, n); }
static NOINLINE size_t run_g(size_t n) { return pattern_g(true, n); }
static NOINLINE size_t run_p(size_t n) { return pattern_p(true, n); }
static NOINLINE size_t run_j(size_t n) { return pattern_j(true, n); }
static NOINLINE size_t run_k(size_t n) { return pattern_k(true, n); }
static NOINLINE size_t run_f(size_t n) { return pattern_f(true, n); }
static NOINLINE size_t run_a0(size_t n) { return pattern_a(false, n); }
static NOINLINE size_t run_b0(size_t n) { return pattern_b(false, n); }
static NOINLINE size_t run_c0(size_t n) { return pattern_c(false, n); }
static NOINLINE size_t run_d0(size_t n) { return pattern_d(false, n); }
static NOINLINE size_t run_x0(size_t n) { return pattern_x(false, n); }
static NOINLINE size_t run_e0(size_t n) { return pattern_e(false, n); }
static NOINLINE size_t run_g0(size_t n) { return pattern_g(false, n); }
static NOINLINE size_t run_p0(size_t n) { return pattern_p(false, n); }
static NOINLINE size_t run_j0(size_t n) { return pattern_j(false, n); }
static NOINLINE size_t run_k0(size_t n) { return pattern_k(false, n); }
static NOINLINE size_t run_f0(size_t n) { return pattern_f(false, n); }

/* The file that supplies malloc (a preload that did not take effect is caught by instr.py). */
static const char* malloc_provider(void) {
#if BENCH_MIALLOC
  return "mialloc.h";
#else
  Dl_info info;
  void* sym = dlsym(RTLD_DEFAULT, "malloc");
  if (sym != NULL && dladdr(sym, &info) != 0 && info.dli_fname != NULL && info.dli_fname[0] != '\0')
    return info.dli_fname;
  return "unknown";
#endif
}

int main(int argc, char** argv) {
  static const struct { const char* name; size_t (*run)(size_t); } patterns[] = {
    {"A", run_a},   {"B", run_b},   {"C", run_c},   {"D", run_d},   {"X", run_x},
    {"E", run_e},   {"G", run_g},   {"P", run_p},   {"J", run_j},   {"K", run_k},   {"F", run_f},
    {"A0", run_a0}, {"B0", run_b0}, {"C0", run_c0}, {"D0", run_d0}, {"X0", run_x0},
    {"E0", run_e0}, {"G0", run_g0}, {"P0", run_p0}, {"J0", run_j0}, {"K0", run_k0}, {"F0", run_f0},
  };
  if (argc != 3) {
    fprintf(stderr, "usage: %s A|B|C|D|X|E|G|P|J|K|F (or the same with 0: the empty loop) pairs\n", argv[0]);
    return 2;
  }
  size_t pairs = (size_t)strtoull(argv[2], NULL, 10);
  size_t (*run)(size_t) = NULL;
  for (size_t i = 0; i < sizeof patterns / sizeof patterns[0]; i++)
    if (strcmp(patterns[i].name, argv[1]) == 0) run = patterns[i].run;
  if (run == NULL || pairs == 0 || pairs % ROUND != 0 || (argv[1][0] == 'F' && pairs > F_MAX)) {
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
  size_t ops = run(pairs);
  if (cross) {
    x_stop = true;
    sem_post(&go);
    pthread_join(worker, NULL);
  }
  printf("%s %zu done ops=%zu malloc=%s\n", argv[1], pairs, ops, malloc_provider());
  return 0;
}
