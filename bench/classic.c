/* classic.c - the classic allocator workloads (the mimalloc-bench set), written
   here from their published descriptions, one per process, for `make bench`.

   Build (the Makefile does this once per allocator; see bench/bench.h):
     clang-19 -std=gnu11 -O2 -march=x86-64-v3 <STYLE.md warnings> -Werror -pthread \
       -DBENCH_MIALLOC=1 -DBENCH_NAME=mialloc bench/classic.c -o build/bench/classic-mialloc
     clang-19 ... -DBENCH_NAME=tcmalloc bench/classic.c -o build/bench/classic-tcmalloc \
       -Wl,--no-as-needed /usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4
   Run:  build/bench/classic-mialloc <workload> [threads] [scale]
         build/bench/classic-mialloc --list
   Run length: the work is fixed for a given scale and shared out among the
   threads (more threads = the same work, more contention). At scale 1 (make
   bench, 2 threads) a cell takes 0.1-0.5 s with libmimalloc on a 2-core x86-64
   server; make bench-full uses scale 3 and 1, 2, 8 and 16 threads.
   Output: one `result ...` line (bench/bench.h); exit 3 if a block check fails.

   Tunables: the #defines at the head of each workload (slots, sizes, batch
   sizes); the base operation counts are the first numbers in each function.

   Workloads (every block is stamped and checked on free, bench.h):
     larson        server simulation (Larson & Krishnan): each of T lanes keeps
                   4000 slots of 8..1000 B; a thread replaces random slots with
                   new blocks, then hands the array to a fresh thread and exits,
                   so most frees are of blocks whose owner has exited
     xmalloc       T/2 producers allocate batches of 64 blocks (8..512 B) into a
                   bounded queue (256 batches); T/2 consumers free everything
     cache-scratch passive false sharing: the main thread allocates one 8 B
                   object per thread; each thread frees it, then allocates 8 B
                   objects and writes each many times (reuse of the freed
                   neighbour puts two threads on one cache line)
     cache-thrash  active false sharing: each thread allocates 8 B objects and
                   writes each many times
     alloc-test    16 Ki slots per thread; slot k is replaced with a probability
                   falling as k grows (a few slots churn, most live long); sizes
                   80% 8..128, 15% ..1 KiB, 4.5% ..8 KiB, 0.5% ..64 KiB; 1 in 8
                   by calloc (zeroing checked)
     sh6bench      batches of 500 blocks over a size range that changes per
                   round, freed forward, backward, evens-then-odds or
                   interleaved from both ends; every 4th block kept in an
                   8 Ki-slot ring (the live set), evicting the oldest
     sh8bench      sh6bench, but the kept blocks go to the next thread, which
                   holds them in its ring and frees them (cross-thread frees);
                   at most 32 batches of 64 in flight per receiver (bench.h)
     mstress       rounds of T threads; each replaces blocks in 1000 local slots
                   (16..4096 B, some 64 KiB), swaps blocks with a 4096-slot shared
                   table, and exits with half its blocks parked in the table,
                   freed by later threads (abandon/reclaim)
     malloc-large  20 live blocks of 64 KiB..8 MiB, a random one replaced each
                   step; one byte written per 4 KiB
     rptest        4096 slots per thread of 16 B..16 KiB (log-uniform); each
                   round replaces 64 random slots and sends 16 blocks to a random
                   other thread, which frees them (at most 32 batches in flight
                   per receiver)
     glibc-simple  malloc/free loops of one size at a time: batches of 25, 100,
                   400, 1600 blocks of 16, 32, 64, 128, 256 B
     glibc-thread  each thread a ring of 100 blocks of one size (16, 64, 256 or
                   1024 B by thread), oldest freed and a new one allocated per step
     larson-sized  larson, every free passing the block's size (the original
                   uses C++'s sized delete): mia_free_size in the header build;
                   otherwise the C23 free_sized where the allocator has one,
                   else its sized operator delete (_ZdlPvm), else free (glibc
                   2.36 has neither)

   Three single-threaded programs of the set are whole applications; here
   each is a program of its own with the original's allocation pattern and a
   fixed amount of work, not the application:
     cfrac         the original factors a 35-41 digit number by continued
                   fractions, with a bignum library that mallocs every value.
                   Here: 400k steps (scale 1) of the continued-fraction
                   recurrence of sqrt(N) for a 36-digit N, every value a block
                   of 32-48 B made by each operation and freed when replaced;
                   trial division of each Q over 32 primes (a block per
                   quotient); relations with a cofactor below 2^32 kept (full
                   ones in a list; partial ones in a table until a second with
                   the same cofactor combines them); A^2 = +-Q (mod N) checked
                   every 256 steps. No linear algebra: N is never factored
     espresso      the original minimizes a two-level logic function, with
                   cubes as word arrays and families of them grown by
                   realloc. Here: 12k rounds (scale 1) on cubes of 40 inputs
                   and 24 outputs (blocks of 32 B): the consensus of every pair
                   of a 64-cube cover and 32 random cubes (a block per pair,
                   freed at once when there is none), those the cover contains
                   dropped, the rest marked in a bit set, and the cover rebuilt
                   from a random choice of old and new cubes (mixed
                   lifetimes); each family's array grows by realloc from 4
                   entries to ~1,000
     barnes        the original simulates bodies under gravity with the
                   Barnes-Hut octree. Here: 2048 bodies (a block each), 24
                   steps (scale 1); each step builds the octree (a block of
                   152 B per cell, ~1,100 cells), computes the forces (opening
                   angle 0.5) and frees the tree: mostly arithmetic, as in the
                   original */
#include "bench.h"

#include <semaphore.h>

/* Per-thread state padded to its own cache lines. */
#define CACHE_LINE 64
#define ALIGNED_LINE __attribute__((aligned(CACHE_LINE)))

/* ---------------------------------------------------------------------------
   larson
--------------------------------------------------------------------------- */
#define LARSON_SLOTS 4000
#define LARSON_MIN 8
#define LARSON_MAX 1000

typedef struct larson_lane_s {
  void* slot[LARSON_SLOTS];
  rng_t r;
  size_t replacements; /* per generation */
  size_t generations;  /* left to run, this one included */
  bool sized;          /* larson-sized: frees pass the size */
  sem_t done;
  pthread_attr_t attr;
} ALIGNED_LINE larson_lane_t;

/* larson-sized frees with the size, as C++'s sized delete does: mialloc's
   mia_free_size; in the other builds the C23 free_sized where the allocator
   has one (mialloc's library, snmalloc), else the sized operator delete that
   the C++-aware peers export and map onto their sized free (mimalloc,
   jemalloc, tcmalloc, rpmalloc); glibc 2.36 has neither: plain free. */
#if BENCH_MIALLOC
static void sized_free_resolve(void) {}
static void sized_free(void* p, size_t size) { mia_free_size(p, size); }
#else
typedef void (*sized_free_fun)(void* p, size_t size);
static sized_free_fun sized_free_found;
static void sized_free_resolve(void) {
  void* f = dlsym(RTLD_DEFAULT, "free_sized");
  if (f == NULL) f = dlsym(RTLD_DEFAULT, "_ZdlPvm"); /* operator delete(void*, std::size_t) */
  memcpy(&sized_free_found, &f, sizeof f);
}
static void sized_free(void* p, size_t size) {
  if (sized_free_found != NULL) sized_free_found(p, size);
  else free(p);
}
#endif
static void larson_free(const larson_lane_t* lane, void* p) {
  if (!lane->sized) {
    blk_free(p, 0);
    return;
  }
  sized_free(p, blk_check((const unsigned char*)p, 0));
}

static void* larson_thread(void* arg) {
  larson_lane_t* lane = (larson_lane_t*)arg;
  for (size_t i = 0; i < lane->replacements; i++) {
    size_t k = rng_below(&lane->r, LARSON_SLOTS);
    if (lane->slot[k] != NULL) larson_free(lane, lane->slot[k]);
    lane->slot[k] = blk_new(rng_range(&lane->r, LARSON_MIN, LARSON_MAX), (uint32_t)rng_next(&lane->r));
  }
  if (--lane->generations == 0) {
    for (size_t k = 0; k < LARSON_SLOTS; k++) {
      if (lane->slot[k] != NULL) larson_free(lane, lane->slot[k]);
      lane->slot[k] = NULL;
    }
    sem_post(&lane->done);
  } else {
    pthread_t next;
    if (pthread_create(&next, &lane->attr, larson_thread, lane) != 0) bench_die("pthread_create failed", NULL, 0);
  }
  return NULL;
}

static uint64_t larson_run(int threads, double scale, size_t* live_kib, bool sized) {
  if (sized) sized_free_resolve();
  size_t total = bench_scaled(2e6, scale);
  size_t per_gen = 10000;
  size_t gens = total / ((size_t)threads * per_gen);
  if (gens < 2) gens = 2;
  larson_lane_t* lanes = (larson_lane_t*)bench_array((size_t)threads, sizeof(larson_lane_t));
  if (lanes == NULL) bench_die("out of memory (lanes)", NULL, 0);
  for (int t = 0; t < threads; t++) {
    larson_lane_t* lane = &lanes[t];
    lane->r = rng_make(100 + (uint64_t)t);
    lane->replacements = per_gen;
    lane->generations = gens;
    lane->sized = sized;
    sem_init(&lane->done, 0, 0);
    pthread_attr_init(&lane->attr);
    pthread_attr_setdetachstate(&lane->attr, PTHREAD_CREATE_DETACHED);
    /* the lane's array starts full, allocated by the main thread */
    for (size_t k = 0; k < LARSON_SLOTS; k++)
      lane->slot[k] = blk_new(rng_range(&lane->r, LARSON_MIN, LARSON_MAX), (uint32_t)k);
  }
  for (int t = 0; t < threads; t++) {
    pthread_t first;
    if (pthread_create(&first, &lanes[t].attr, larson_thread, &lanes[t]) != 0)
      bench_die("pthread_create failed", NULL, 0);
  }
  for (int t = 0; t < threads; t++) {
    sem_wait(&lanes[t].done);
    sem_destroy(&lanes[t].done);
    pthread_attr_destroy(&lanes[t].attr);
  }
  free(lanes);
  *live_kib = (size_t)threads * LARSON_SLOTS * ((LARSON_MIN + LARSON_MAX) / 2) / 1024;
  return (uint64_t)threads * (gens * per_gen + LARSON_SLOTS);
}
static uint64_t w_larson(int threads, double scale, size_t* live_kib) { return larson_run(threads, scale, live_kib, false); }
static uint64_t w_larson_sized(int threads, double scale, size_t* live_kib) { return larson_run(threads, scale, live_kib, true); }

/* ---------------------------------------------------------------------------
   xmalloc
--------------------------------------------------------------------------- */
#define XM_QUEUE 256

typedef struct xm_shared_s {
  pthread_mutex_t lock;
  pthread_cond_t not_full, not_empty;
  batch_t* ring[XM_QUEUE];
  size_t head, count;
  int producers_left;
  size_t batches_each;
} xm_shared_t;

typedef struct xm_arg_s {
  xm_shared_t* q;
  int id;
} ALIGNED_LINE xm_arg_t;

static void* xm_producer(void* arg) {
  xm_arg_t* a = (xm_arg_t*)arg;
  xm_shared_t* q = a->q;
  rng_t r = rng_make(200 + (uint64_t)a->id);
  for (size_t i = 0; i < q->batches_each; i++) {
    batch_t* b = batch_new();
    for (size_t k = 0; k < BATCH_CAP; k++) b->items[k] = blk_new(rng_range(&r, 8, 512), (uint32_t)rng_next(&r));
    b->count = BATCH_CAP;
    pthread_mutex_lock(&q->lock);
    while (q->count == XM_QUEUE) pthread_cond_wait(&q->not_full, &q->lock);
    q->ring[(q->head + q->count) % XM_QUEUE] = b;
    q->count++;
    pthread_cond_signal(&q->not_empty);
    pthread_mutex_unlock(&q->lock);
  }
  pthread_mutex_lock(&q->lock);
  q->producers_left--;
  pthread_cond_broadcast(&q->not_empty);
  pthread_mutex_unlock(&q->lock);
  return NULL;
}

static void* xm_consumer(void* arg) {
  xm_shared_t* q = ((xm_arg_t*)arg)->q;
  for (;;) {
    pthread_mutex_lock(&q->lock);
    while (q->count == 0 && q->producers_left > 0) pthread_cond_wait(&q->not_empty, &q->lock);
    if (q->count == 0) {
      pthread_mutex_unlock(&q->lock);
      return NULL;
    }
    batch_t* b = q->ring[q->head];
    q->head = (q->head + 1) % XM_QUEUE;
    q->count--;
    pthread_cond_signal(&q->not_full);
    pthread_mutex_unlock(&q->lock);
    batch_free_all(b);
  }
}

static void* xm_thread(void* arg) {
  xm_arg_t* a = (xm_arg_t*)arg;
  return a->id % 2 == 0 ? xm_producer(arg) : xm_consumer(arg);
}

static uint64_t w_xmalloc(int threads, double scale, size_t* live_kib) {
  xm_shared_t q;
  memset(&q, 0, sizeof q);
  pthread_mutex_init(&q.lock, NULL);
  pthread_cond_init(&q.not_full, NULL);
  pthread_cond_init(&q.not_empty, NULL);
  int producers = (threads + 1) / 2;
  q.producers_left = producers;
  q.batches_each = bench_scaled(3e6 / BATCH_CAP, scale) / (size_t)producers + 1;
  xm_arg_t* args = (xm_arg_t*)bench_array((size_t)threads, sizeof(xm_arg_t));
  if (args == NULL) bench_die("out of memory (args)", NULL, 0);
  for (int t = 0; t < threads; t++) {
    args[t].q = &q;
    args[t].id = t;
  }
  threads_run(threads, xm_thread, args, sizeof(xm_arg_t));
  free(args);
  pthread_mutex_destroy(&q.lock);
  pthread_cond_destroy(&q.not_full);
  pthread_cond_destroy(&q.not_empty);
  *live_kib = XM_QUEUE * BATCH_CAP * 260 / 1024;
  return (uint64_t)producers * q.batches_each * BATCH_CAP;
}

/* ---------------------------------------------------------------------------
   cache-scratch, cache-thrash
--------------------------------------------------------------------------- */
#define CACHE_OBJ 8
#define CACHE_ITERATIONS 4000 /* objects, shared out among the threads */
#define CACHE_WRITES 30000    /* writes to each object */

typedef struct cache_arg_s {
  void* given; /* cache-scratch: the object the main thread allocated for this thread */
  size_t iterations, writes;
  pthread_barrier_t* start;
} ALIGNED_LINE cache_arg_t;

/* Allocate an 8 B object, write it `writes` times, check it, free it; `iterations` times. */
static void cache_loop(size_t iterations, size_t writes, uint32_t salt) {
  for (size_t i = 0; i < iterations; i++) {
    uint64_t* o = (uint64_t*)bench_malloc(CACHE_OBJ);
    if (o == NULL) bench_die("out of memory", o, CACHE_OBJ);
    volatile uint64_t* v = o;
    *v = salt;
    for (size_t w = 0; w < writes; w++) *v = *v + 1;
    if (*v != salt + writes) bench_die("object changed under its owner (shared block)", o, CACHE_OBJ);
    bench_free(o);
  }
}

static void* scratch_thread(void* arg) {
  cache_arg_t* a = (cache_arg_t*)arg;
  blk_free(a->given, CACHE_OBJ);
  pthread_barrier_wait(a->start);
  cache_loop(a->iterations, a->writes, (uint32_t)(uintptr_t)a);
  return NULL;
}

static void* thrash_thread(void* arg) {
  cache_arg_t* a = (cache_arg_t*)arg;
  pthread_barrier_wait(a->start);
  cache_loop(a->iterations, a->writes, (uint32_t)(uintptr_t)a);
  return NULL;
}

static int cache_cmp(const void* x, const void* y) {
  uintptr_t a = (uintptr_t)*(void* const*)x, b = (uintptr_t)*(void* const*)y;
  return a < b ? -1 : a > b;
}

/* cache-scratch: the main thread allocates 8 objects per thread and gives out
   those that share a cache line with a neighbour (so the test does not depend
   on where the first object happens to fall); the others are freed. */
static void scratch_give(cache_arg_t* args, int threads) {
  size_t n = (size_t)threads * 8, given = 0;
  void** cand = (void**)malloc(n * sizeof(void*));
  if (cand == NULL) bench_die("out of memory (cand)", NULL, 0);
  for (size_t i = 0; i < n; i++) cand[i] = blk_new(CACHE_OBJ, (uint32_t)i);
  qsort(cand, n, sizeof(void*), cache_cmp);
  for (size_t i = 0; i < n; i++) {
    uintptr_t line = (uintptr_t)cand[i] >> 6;
    bool shared = (i > 0 && (uintptr_t)cand[i - 1] >> 6 == line) || (i + 1 < n && (uintptr_t)cand[i + 1] >> 6 == line);
    if (shared && given < (size_t)threads) {
      args[given++].given = cand[i];
      cand[i] = NULL;
    }
  }
  for (size_t i = 0; i < n && given < (size_t)threads; i++) { /* no sharing at all: any object */
    if (cand[i] != NULL) {
      args[given++].given = cand[i];
      cand[i] = NULL;
    }
  }
  for (size_t i = 0; i < n; i++)
    if (cand[i] != NULL) blk_free(cand[i], CACHE_OBJ);
  free(cand);
}

static uint64_t cache_run(int threads, double scale, size_t* live_kib, bool scratch) {
  cache_arg_t* args = (cache_arg_t*)bench_array((size_t)threads, sizeof(cache_arg_t));
  pthread_barrier_t start;
  pthread_barrier_init(&start, NULL, (unsigned)threads);
  size_t iterations = bench_scaled(CACHE_ITERATIONS, scale) / (size_t)threads + 1;
  for (int t = 0; t < threads; t++) {
    args[t].iterations = iterations;
    args[t].writes = CACHE_WRITES;
    args[t].start = &start;
  }
  if (scratch) scratch_give(args, threads);
  threads_run(threads, scratch ? scratch_thread : thrash_thread, args, sizeof(cache_arg_t));
  pthread_barrier_destroy(&start);
  free(args);
  *live_kib = 0;
  return (uint64_t)threads * iterations;
}
static uint64_t w_cache_scratch(int threads, double scale, size_t* live_kib) {
  return cache_run(threads, scale, live_kib, true);
}
static uint64_t w_cache_thrash(int threads, double scale, size_t* live_kib) {
  return cache_run(threads, scale, live_kib, false);
}

/* ---------------------------------------------------------------------------
   alloc-test
--------------------------------------------------------------------------- */
#define AT_SLOTS (1 << 14)

typedef struct at_arg_s {
  size_t steps;
  int id;
} ALIGNED_LINE at_arg_t;

static size_t at_size(rng_t* r) {
  size_t x = rng_below(r, 1000);
  if (x < 800) return rng_range(r, 8, 128);
  if (x < 950) return rng_range(r, 129, 1024);
  if (x < 995) return rng_range(r, 1025, 8192);
  return rng_range(r, 8193, 65536);
}
static void* at_new(rng_t* r) {
  size_t size = at_size(r);
  uint32_t salt = (uint32_t)rng_next(r);
  return (salt & 7) == 0 ? blk_new_zeroed(size, salt) : blk_new(size, salt);
}

static void* at_thread(void* arg) {
  at_arg_t* a = (at_arg_t*)arg;
  rng_t r = rng_make(300 + (uint64_t)a->id);
  void** slot = (void**)malloc(AT_SLOTS * sizeof(void*));
  if (slot == NULL) bench_die("out of memory (slots)", NULL, 0);
  for (size_t k = 0; k < AT_SLOTS; k++) slot[k] = at_new(&r);
  for (size_t i = 0; i < a->steps; i++) {
    /* k = SLOTS * u^3: slot 0 is picked ~1000x as often as the top slots */
    uint64_t u = rng_next(&r) >> 43; /* 21 bits */
    size_t k = (size_t)((u * u >> 21) * u >> 21) * AT_SLOTS >> 21;
    blk_free(slot[k], 0);
    slot[k] = at_new(&r);
  }
  for (size_t k = 0; k < AT_SLOTS; k++) blk_free(slot[k], 0);
  free(slot);
  return NULL;
}

static uint64_t w_alloc_test(int threads, double scale, size_t* live_kib) {
  at_arg_t* args = (at_arg_t*)bench_array((size_t)threads, sizeof(at_arg_t));
  if (args == NULL) bench_die("out of memory (args)", NULL, 0);
  size_t steps = bench_scaled(1.5e6, scale) / (size_t)threads;
  for (int t = 0; t < threads; t++) {
    args[t].steps = steps;
    args[t].id = t;
  }
  threads_run(threads, at_thread, args, sizeof(at_arg_t));
  free(args);
  *live_kib = (size_t)threads * AT_SLOTS * 530 / 1024;
  return (uint64_t)threads * (steps + AT_SLOTS);
}

/* ---------------------------------------------------------------------------
   sh6bench, sh8bench
--------------------------------------------------------------------------- */
#define SH_BATCH 500
#define SH_RING (1 << 13)

typedef struct sh_arg_s {
  size_t rounds;
  int id, threads;
  bool cross;           /* sh8: kept blocks go to the next thread */
  mailbox_t* boxes;     /* one per thread */
  atomic_int* finished; /* threads done with their rounds */
} ALIGNED_LINE sh_arg_t;

static const size_t sh_ranges[4][2] = {{8, 64}, {64, 512}, {512, 4096}, {8, 4096}};

typedef struct sh_ring_s {
  void* slot[SH_RING];
  size_t next;
} sh_ring_t;

static void sh_keep(sh_ring_t* ring, void* p) {
  void* old = ring->slot[ring->next];
  if (old != NULL) blk_free(old, 0);
  ring->slot[ring->next] = p;
  ring->next = (ring->next + 1) % SH_RING;
}

/* Take the blocks others sent this thread into its ring (evicting, and freeing, the oldest). */
static void sh_receive(mailbox_t* box, void* ctx) {
  sh_ring_t* ring = (sh_ring_t*)ctx;
  batch_t* b = mailbox_take(box);
  while (b != NULL) {
    batch_t* next = b->next;
    for (size_t i = 0; i < b->count; i++) {
      (void)blk_check((unsigned char*)b->items[i], 0);
      sh_keep(ring, b->items[i]);
    }
    bench_free(b);
    b = next;
  }
}

static void* sh_thread(void* arg) {
  sh_arg_t* a = (sh_arg_t*)arg;
  rng_t r = rng_make(400 + (uint64_t)a->id);
  void** batch = (void**)malloc(SH_BATCH * sizeof(void*));
  sh_ring_t* ring = (sh_ring_t*)calloc(1, sizeof(sh_ring_t));
  if (batch == NULL || ring == NULL) bench_die("out of memory (sh)", NULL, 0);
  mailbox_t* next_box = &a->boxes[(a->id + 1) % a->threads];
  mailbox_t* my_box = &a->boxes[a->id];
  batch_t* out = NULL;
  for (size_t round = 0; round < a->rounds; round++) {
    size_t lo = sh_ranges[round % 4][0], hi = sh_ranges[round % 4][1];
    for (size_t i = 0; i < SH_BATCH; i++) batch[i] = blk_new(rng_range(&r, lo, hi), (uint32_t)rng_next(&r));
    /* every 4th block is kept (by this thread, or sent to the next one) */
    for (size_t i = 3; i < SH_BATCH; i += 4) {
      if (!a->cross) {
        sh_keep(ring, batch[i]);
      } else {
        if (out == NULL) out = batch_new();
        out->items[out->count++] = batch[i];
        if (out->count == BATCH_CAP) {
          mailbox_send(next_box, out, my_box, sh_receive, ring);
          out = NULL;
        }
      }
      batch[i] = NULL;
    }
    switch (round / 4 % 4) {
      case 0: /* forward */
        for (size_t i = 0; i < SH_BATCH; i++)
          if (batch[i] != NULL) blk_free(batch[i], 0);
        break;
      case 1: /* backward */
        for (size_t i = SH_BATCH; i > 0; i--)
          if (batch[i - 1] != NULL) blk_free(batch[i - 1], 0);
        break;
      case 2: /* evens, then odds */
        for (size_t i = 0; i < SH_BATCH; i += 2)
          if (batch[i] != NULL) blk_free(batch[i], 0);
        for (size_t i = 1; i < SH_BATCH; i += 2)
          if (batch[i] != NULL) blk_free(batch[i], 0);
        break;
      default: /* from both ends towards the middle */
        for (size_t i = 0; i < SH_BATCH / 2; i++) {
          if (batch[i] != NULL) blk_free(batch[i], 0);
          if (batch[SH_BATCH - 1 - i] != NULL) blk_free(batch[SH_BATCH - 1 - i], 0);
        }
        break;
    }
    if (a->cross) sh_receive(my_box, ring);
  }
  if (out != NULL) mailbox_send(next_box, out, my_box, sh_receive, ring);
  mailbox_finish(a->finished, a->threads, my_box, sh_receive, ring);
  for (size_t k = 0; k < SH_RING; k++)
    if (ring->slot[k] != NULL) blk_free(ring->slot[k], 0);
  free(ring);
  free(batch);
  return NULL;
}

static uint64_t sh_run(int threads, double scale, size_t* live_kib, bool cross) {
  sh_arg_t* args = (sh_arg_t*)bench_array((size_t)threads, sizeof(sh_arg_t));
  mailbox_t* boxes = (mailbox_t*)bench_array((size_t)threads, sizeof(mailbox_t));
  if (args == NULL || boxes == NULL) bench_die("out of memory (args)", NULL, 0);
  atomic_int finished = 0;
  size_t rounds = bench_scaled((cross ? 2.5e6 : 3e6) / SH_BATCH, scale) / (size_t)threads + 1;
  for (int t = 0; t < threads; t++) {
    args[t].rounds = rounds;
    args[t].id = t;
    args[t].threads = threads;
    args[t].cross = cross;
    args[t].boxes = boxes;
    args[t].finished = &finished;
  }
  threads_run(threads, sh_thread, args, sizeof(sh_arg_t));
  free(boxes);
  free(args);
  *live_kib = (size_t)threads * ((size_t)SH_RING + (cross ? (size_t)MAILBOX_MAX_PENDING * BATCH_CAP : 0)) * 1170 / 1024;
  return (uint64_t)threads * rounds * SH_BATCH;
}
static uint64_t w_sh6bench(int threads, double scale, size_t* live_kib) {
  return sh_run(threads, scale, live_kib, false);
}
static uint64_t w_sh8bench(int threads, double scale, size_t* live_kib) {
  return sh_run(threads, scale, live_kib, true);
}

/* ---------------------------------------------------------------------------
   mstress
--------------------------------------------------------------------------- */
#define MS_LOCAL 1000
#define MS_SHARED 4096
#define MS_ROUNDS 10

static _Atomic(void*) ms_shared[MS_SHARED];

typedef struct ms_arg_s {
  size_t steps;
  uint64_t seed;
} ALIGNED_LINE ms_arg_t;

static size_t ms_size(rng_t* r) { return rng_below(r, 100) == 0 ? rng_range(r, 16384, 65536) : rng_skewed(r, 16, 4096); }

static void* ms_thread(void* arg) {
  ms_arg_t* a = (ms_arg_t*)arg;
  rng_t r = rng_make(a->seed);
  void* local[MS_LOCAL];
  memset(local, 0, sizeof local);
  for (size_t i = 0; i < a->steps; i++) {
    size_t k = rng_below(&r, MS_LOCAL);
    size_t op = rng_below(&r, 8);
    if (op < 6) { /* replace */
      if (local[k] != NULL) blk_free(local[k], 0);
      local[k] = blk_new(ms_size(&r), (uint32_t)rng_next(&r));
    } else if (op == 6) { /* swap with the shared table (the block may go to another thread) */
      size_t j = rng_below(&r, MS_SHARED);
      local[k] = atomic_exchange_explicit(&ms_shared[j], local[k], memory_order_acq_rel);
      if (local[k] != NULL) (void)blk_check((unsigned char*)local[k], 0);
    } else if (local[k] != NULL) { /* free */
      blk_free(local[k], 0);
      local[k] = NULL;
    }
  }
  /* exit with live blocks: half parked in the shared table for others to free */
  for (size_t k = 0; k < MS_LOCAL; k++) {
    if (local[k] == NULL) continue;
    if (k % 2 == 0) {
      blk_free(local[k], 0);
    } else {
      void* old = atomic_exchange_explicit(&ms_shared[rng_below(&r, MS_SHARED)], local[k], memory_order_acq_rel);
      if (old != NULL) blk_free(old, 0);
    }
  }
  return NULL;
}

static uint64_t w_mstress(int threads, double scale, size_t* live_kib) {
  ms_arg_t* args = (ms_arg_t*)bench_array((size_t)threads, sizeof(ms_arg_t));
  if (args == NULL) bench_die("out of memory (args)", NULL, 0);
  size_t steps = bench_scaled(3e6 / MS_ROUNDS, scale) / (size_t)threads;
  for (int round = 0; round < MS_ROUNDS; round++) {
    for (int t = 0; t < threads; t++) {
      args[t].steps = steps;
      args[t].seed = 500 + (uint64_t)(round * threads + t);
    }
    threads_run(threads, ms_thread, args, sizeof(ms_arg_t));
  }
  for (size_t j = 0; j < MS_SHARED; j++) {
    void* p = atomic_exchange(&ms_shared[j], NULL);
    if (p != NULL) blk_free(p, 0);
  }
  free(args);
  *live_kib = ((size_t)threads * MS_LOCAL * 3 / 4 + MS_SHARED) * 1400 / 1024;
  return (uint64_t)MS_ROUNDS * (uint64_t)threads * steps * 6 / 8;
}

/* ---------------------------------------------------------------------------
   malloc-large
--------------------------------------------------------------------------- */
#define LARGE_LIVE 20
#define LARGE_MIN ((size_t)64 << 10)
#define LARGE_MAX ((size_t)8 << 20)

static uint64_t w_malloc_large(int threads, double scale, size_t* live_kib) {
  (void)threads;
  size_t steps = bench_scaled(400, scale);
  rng_t r = rng_make(600);
  void* slot[LARGE_LIVE] = {0};
  for (size_t i = 0; i < steps; i++) {
    size_t k = rng_below(&r, LARGE_LIVE);
    if (slot[k] != NULL) blk_free(slot[k], 0);
    size_t size = rng_range(&r, LARGE_MIN, LARGE_MAX);
    slot[k] = blk_new(size, (uint32_t)i);
    blk_touch(slot[k], size);
  }
  for (size_t k = 0; k < LARGE_LIVE; k++)
    if (slot[k] != NULL) blk_free(slot[k], 0);
  *live_kib = LARGE_LIVE * (LARGE_MIN + LARGE_MAX) / 2 / 1024;
  return steps;
}

/* ---------------------------------------------------------------------------
   rptest
--------------------------------------------------------------------------- */
#define RP_SLOTS 4096
#define RP_REPLACE 64
#define RP_SEND 16

typedef struct rp_arg_s {
  size_t rounds;
  int id, threads;
  mailbox_t* boxes;
  atomic_int* finished;
} ALIGNED_LINE rp_arg_t;

static void rp_receive(mailbox_t* box, void* ctx) {
  (void)ctx;
  (void)mailbox_drain(box);
}

static void* rp_thread(void* arg) {
  rp_arg_t* a = (rp_arg_t*)arg;
  rng_t r = rng_make(700 + (uint64_t)a->id);
  void** slot = (void**)calloc(RP_SLOTS, sizeof(void*));
  if (slot == NULL) bench_die("out of memory (slots)", NULL, 0);
  for (size_t round = 0; round < a->rounds; round++) {
    for (size_t i = 0; i < RP_REPLACE; i++) {
      size_t k = rng_below(&r, RP_SLOTS);
      if (slot[k] != NULL) blk_free(slot[k], 0);
      slot[k] = blk_new(rng_skewed(&r, 16, 16384), (uint32_t)rng_next(&r));
    }
    batch_t* b = batch_new();
    for (size_t i = 0; i < RP_SEND; i++) {
      size_t k = rng_below(&r, RP_SLOTS);
      if (slot[k] != NULL) b->items[b->count++] = slot[k];
      slot[k] = NULL;
    }
    int to = a->threads == 1 ? 0 : (a->id + 1 + (int)rng_below(&r, (size_t)a->threads - 1)) % a->threads;
    mailbox_send(&a->boxes[to], b, &a->boxes[a->id], rp_receive, NULL);
    (void)mailbox_drain(&a->boxes[a->id]);
  }
  mailbox_finish(a->finished, a->threads, &a->boxes[a->id], rp_receive, NULL);
  for (size_t k = 0; k < RP_SLOTS; k++)
    if (slot[k] != NULL) blk_free(slot[k], 0);
  free(slot);
  return NULL;
}

static uint64_t w_rptest(int threads, double scale, size_t* live_kib) {
  rp_arg_t* args = (rp_arg_t*)bench_array((size_t)threads, sizeof(rp_arg_t));
  mailbox_t* boxes = (mailbox_t*)bench_array((size_t)threads, sizeof(mailbox_t));
  if (args == NULL || boxes == NULL) bench_die("out of memory (args)", NULL, 0);
  atomic_int finished = 0;
  size_t rounds = bench_scaled(2e6 / RP_REPLACE, scale) / (size_t)threads + 1;
  for (int t = 0; t < threads; t++) {
    args[t].rounds = rounds;
    args[t].id = t;
    args[t].threads = threads;
    args[t].boxes = boxes;
    args[t].finished = &finished;
  }
  threads_run(threads, rp_thread, args, sizeof(rp_arg_t));
  free(boxes);
  free(args);
  *live_kib = (size_t)threads * (RP_SLOTS + MAILBOX_MAX_PENDING * RP_SEND) * 2360 / 1024;
  return (uint64_t)threads * rounds * RP_REPLACE;
}

/* ---------------------------------------------------------------------------
   glibc-simple, glibc-thread
--------------------------------------------------------------------------- */
static void* gs_slot[1600];

static uint64_t w_glibc_simple(int threads, double scale, size_t* live_kib) {
  (void)threads;
  static const size_t sizes[5] = {16, 32, 64, 128, 256};
  static const size_t batches[4] = {25, 100, 400, 1600};
  size_t pairs_each = bench_scaled(12e6 / 20, scale), done = 0;
  for (size_t s = 0; s < 5; s++) {
    for (size_t b = 0; b < 4; b++) {
      size_t n = batches[b];
      for (size_t d = 0; d < pairs_each; d += n) {
        for (size_t i = 0; i < n; i++) gs_slot[i] = blk_new(sizes[s], (uint32_t)i);
        for (size_t i = 0; i < n; i++) blk_free(gs_slot[i], sizes[s]);
        done += n;
      }
    }
  }
  *live_kib = 1600 * 256 / 1024;
  return done;
}

#define GT_RING 100
typedef struct gt_arg_s {
  size_t steps, size;
} ALIGNED_LINE gt_arg_t;

static void* gt_thread(void* arg) {
  gt_arg_t* a = (gt_arg_t*)arg;
  void* ring[GT_RING];
  for (size_t i = 0; i < GT_RING; i++) ring[i] = blk_new(a->size, (uint32_t)i);
  for (size_t i = 0; i < a->steps; i++) {
    size_t k = i % GT_RING;
    blk_free(ring[k], a->size);
    ring[k] = blk_new(a->size, (uint32_t)i);
  }
  for (size_t i = 0; i < GT_RING; i++) blk_free(ring[i], a->size);
  return NULL;
}

static uint64_t w_glibc_thread(int threads, double scale, size_t* live_kib) {
  gt_arg_t* args = (gt_arg_t*)bench_array((size_t)threads, sizeof(gt_arg_t));
  if (args == NULL) bench_die("out of memory (args)", NULL, 0);
  size_t steps = bench_scaled(20e6, scale) / (size_t)threads;
  for (int t = 0; t < threads; t++) {
    args[t].steps = steps;
    args[t].size = (size_t)16 << (2 * (t % 4));
  }
  threads_run(threads, gt_thread, args, sizeof(gt_arg_t));
  free(args);
  *live_kib = (size_t)threads * GT_RING * 340 / 1024;
  return (uint64_t)threads * (steps + GT_RING);
}

/* ---------------------------------------------------------------------------
   Blocks that carry data (cfrac, espresso, barnes): the payload sits between
   the head word and the tail word, so bench.h's checks hold as for the other
   workloads; 8-byte aligned.
--------------------------------------------------------------------------- */
#define DATA_OVERHEAD 16

static void* data_new(size_t payload, uint32_t salt) {
  return (unsigned char*)blk_new(payload + DATA_OVERHEAD, salt) + 8;
}
static void data_free(void* d) { blk_free((unsigned char*)d - 8, 0); }
/* realloc to `payload` bytes (growing): the old head and tail words must come
   through the copy, then the block is stamped for its new size. */
static void* data_grow(void* d, size_t payload, uint32_t salt) {
  unsigned char* p = (unsigned char*)d - 8;
  size_t old = blk_check(p, 0), want = payload + DATA_OVERHEAD;
  if (want < old) bench_die("data_grow shrinks", p, want);
  uint64_t head, tail, head2, tail2;
  memcpy(&head, p, 8);
  memcpy(&tail, p + old - 8, 8);
  unsigned char* q = (unsigned char*)bench_realloc(p, want);
  if (q == NULL) bench_die("out of memory", q, want);
  if (((uintptr_t)q & blk_align_mask(want)) != 0) blk_misaligned(want);
  memcpy(&head2, q, 8);
  memcpy(&tail2, q + old - 8, 8);
  if (head2 != head || tail2 != tail) bench_die("realloc lost the contents", q, want);
  blk_stamp(q, want, salt);
  return q + 8;
}

/* ---------------------------------------------------------------------------
   cfrac
--------------------------------------------------------------------------- */
__extension__ typedef unsigned __int128 cf_u128;
#define CF_PRIMES 32            /* the factor base: the first primes */
#define CF_LARGE_MAX ((uint64_t)1 << 32) /* a cofactor below this makes a partial relation */
#define CF_BUCKETS 1024         /* the partial relations' table */
#define CF_LIMBS_MAX 6

/* A number: n >= 1 little-endian 64-bit limbs, the top one nonzero unless the
   value is 0; each value its own block (32..72 bytes), never changed after it
   is made: an operation allocates its result. */
typedef struct cf_num_s {
  size_t n;
  uint64_t l[];
} cf_num_t;

typedef struct cf_rel_s {       /* a relation A^2 = +-(product of primes) * large (mod N) */
  struct cf_rel_s* next;
  cf_num_t* a;
  uint64_t large;              /* 1 for a full relation */
  uint64_t parity;             /* exponent parities over the factor base and -1 (bit CF_PRIMES) */
} cf_rel_t;

typedef struct cf_s {
  uint32_t salt;
  uint64_t primes[CF_PRIMES];
  cf_num_t* n;                 /* N = a0^2 + r, 0 < r < 2 a0 */
  cf_rel_t* full;
  cf_rel_t* partial[CF_BUCKETS];
  size_t fulls, partials, combined;
} cf_t;

static cf_num_t* cf_alloc(cf_t* c, size_t n) {
  if (n > CF_LIMBS_MAX) bench_die("cfrac: number too large", NULL, n);
  cf_num_t* x = (cf_num_t*)data_new(sizeof(cf_num_t) + n * 8, c->salt++);
  x->n = n;
  return x;
}
static cf_num_t* cf_trim(cf_num_t* x) {
  while (x->n > 1 && x->l[x->n - 1] == 0) x->n--;
  return x;
}
static cf_num_t* cf_small(cf_t* c, uint64_t v) {
  cf_num_t* x = cf_alloc(c, 1);
  x->l[0] = v;
  return x;
}
static cf_num_t* cf_copy(cf_t* c, const cf_num_t* a) {
  cf_num_t* x = cf_alloc(c, a->n);
  memcpy(x->l, a->l, a->n * 8);
  return x;
}
/* Limb arrays: a missing limb (beyond n) reads as 0. */
static int cf_limbs_cmp(const uint64_t* a, size_t an, const uint64_t* b, size_t bn) {
  for (size_t i = (an > bn ? an : bn); i-- > 0;) {
    uint64_t x = i < an ? a[i] : 0, y = i < bn ? b[i] : 0;
    if (x != y) return x < y ? -1 : 1;
  }
  return 0;
}
/* r = a - b over an limbs (r may be a); returns the borrow out. */
static uint64_t cf_limbs_sub(uint64_t* r, const uint64_t* a, size_t an, const uint64_t* b, size_t bn) {
  uint64_t borrow = 0;
  for (size_t i = 0; i < an; i++) {
    uint64_t y = i < bn ? b[i] : 0;
    uint64_t d = a[i] - y;
    uint64_t b2 = a[i] < y;
    r[i] = d - borrow;
    borrow = b2 | (d < borrow);
  }
  return borrow;
}
static int cf_cmp(const cf_num_t* a, const cf_num_t* b) { return cf_limbs_cmp(a->l, a->n, b->l, b->n); }
static cf_num_t* cf_add(cf_t* c, const cf_num_t* a, const cf_num_t* b) {
  if (a->n < b->n) {
    const cf_num_t* t = a;
    a = b;
    b = t;
  }
  cf_num_t* x = cf_alloc(c, a->n + 1);
  cf_u128 carry = 0;
  for (size_t i = 0; i < a->n; i++) {
    carry += (cf_u128)a->l[i] + (i < b->n ? b->l[i] : 0);
    x->l[i] = (uint64_t)carry;
    carry >>= 64;
  }
  x->l[a->n] = (uint64_t)carry;
  return cf_trim(x);
}
static cf_num_t* cf_sub(cf_t* c, const cf_num_t* a, const cf_num_t* b) { /* a >= b */
  cf_num_t* x = cf_alloc(c, a->n);
  if (cf_limbs_sub(x->l, a->l, a->n, b->l, b->n) != 0) bench_die("cfrac: negative difference", x, a->n);
  return cf_trim(x);
}
static cf_num_t* cf_mul_small(cf_t* c, const cf_num_t* a, uint64_t m) {
  cf_num_t* x = cf_alloc(c, a->n + 1);
  cf_u128 carry = 0;
  for (size_t i = 0; i < a->n; i++) {
    carry += (cf_u128)a->l[i] * m;
    x->l[i] = (uint64_t)carry;
    carry >>= 64;
  }
  x->l[a->n] = (uint64_t)carry;
  return cf_trim(x);
}
static cf_num_t* cf_mul(cf_t* c, const cf_num_t* a, const cf_num_t* b) {
  cf_num_t* x = cf_alloc(c, a->n + b->n);
  memset(x->l, 0, x->n * 8);
  for (size_t i = 0; i < a->n; i++) {
    cf_u128 carry = 0;
    for (size_t j = 0; j < b->n; j++) {
      carry += (cf_u128)a->l[i] * b->l[j] + x->l[i + j];
      x->l[i + j] = (uint64_t)carry;
      carry >>= 64;
    }
    x->l[i + b->n] = (uint64_t)carry;
  }
  return cf_trim(x);
}
/* x mod m; the result is a new block. Up to two limbs by 128-bit division,
   beyond by shift and subtract on a scratch copy. */
static cf_num_t* cf_mod(cf_t* c, const cf_num_t* x, const cf_num_t* m) {
  if (cf_cmp(x, m) < 0) return cf_copy(c, x);
  if (x->n <= 2) {
    cf_u128 xv = (cf_u128)(x->n > 1 ? x->l[1] : 0) << 64 | x->l[0];
    cf_u128 mv = (cf_u128)(m->n > 1 ? m->l[1] : 0) << 64 | m->l[0];
    cf_u128 rv = xv % mv;
    cf_num_t* out = cf_alloc(c, 2);
    out->l[0] = (uint64_t)rv;
    out->l[1] = (uint64_t)(rv >> 64);
    return cf_trim(out);
  }
  uint64_t r[CF_LIMBS_MAX + 1] = {0};
  size_t rn = m->n + 1;
  for (size_t bit = x->n * 64; bit-- > 0;) {
    uint64_t in = x->l[bit / 64] >> (bit % 64) & 1;
    for (size_t i = rn; i-- > 0;) r[i] = r[i] << 1 | (i > 0 ? r[i - 1] >> 63 : in);
    if (cf_limbs_cmp(r, rn, m->l, m->n) >= 0) (void)cf_limbs_sub(r, r, rn, m->l, m->n);
  }
  cf_num_t* out = cf_alloc(c, m->n);
  memcpy(out->l, r, m->n * 8);
  return cf_trim(out);
}
/* x mod p and x / p for a prime p < 2^32, 32 bits at a time (no 128-bit division). */
static uint64_t cf_mod_small(const cf_num_t* x, uint64_t p) {
  uint64_t r = 0;
  for (size_t i = x->n; i-- > 0;) {
    r = ((r << 32) | (x->l[i] >> 32)) % p;
    r = ((r << 32) | (x->l[i] & 0xffffffffu)) % p;
  }
  return r;
}
static cf_num_t* cf_div_small(cf_t* c, const cf_num_t* x, uint64_t p) {
  cf_num_t* q = cf_alloc(c, x->n);
  uint64_t r = 0;
  for (size_t i = x->n; i-- > 0;) {
    uint64_t hi = (r << 32) | (x->l[i] >> 32);
    r = hi % p;
    uint64_t lo = (r << 32) | (x->l[i] & 0xffffffffu);
    r = lo % p;
    q->l[i] = (hi / p) << 32 | (lo / p);
  }
  return cf_trim(q);
}

/* A relation found: a full one is kept; a partial one waits in the table
   until a second one with the same large prime comes, and the two combine
   (their A multiplied mod N) into a full one. */
static void cf_relation(cf_t* c, const cf_num_t* a, uint64_t large, uint64_t parity) {
  if (large != 1) {
    cf_rel_t** bucket = &c->partial[large % CF_BUCKETS];
    for (cf_rel_t** at = bucket; *at != NULL; at = &(*at)->next) {
      cf_rel_t* other = *at;
      if (other->large != large) continue;
      *at = other->next;
      cf_num_t* prod = cf_mul(c, a, other->a);
      cf_rel_t* rel = (cf_rel_t*)data_new(sizeof(cf_rel_t), c->salt++);
      rel->a = cf_mod(c, prod, c->n);
      rel->large = 1;
      rel->parity = parity ^ other->parity;
      rel->next = c->full;
      c->full = rel;
      c->fulls++;
      c->combined++;
      data_free(prod);
      data_free(other->a);
      data_free(other);
      c->partials--;
      return;
    }
    cf_rel_t* rel = (cf_rel_t*)data_new(sizeof(cf_rel_t), c->salt++);
    rel->a = cf_copy(c, a);
    rel->large = large;
    rel->parity = parity;
    rel->next = *bucket;
    *bucket = rel;
    c->partials++;
    return;
  }
  cf_rel_t* rel = (cf_rel_t*)data_new(sizeof(cf_rel_t), c->salt++);
  rel->a = cf_copy(c, a);
  rel->large = 1;
  rel->parity = parity;
  rel->next = c->full;
  c->full = rel;
  c->fulls++;
}

/* Trial division of Q over the factor base; a fresh block for every quotient. */
static void cf_factor(cf_t* c, const cf_num_t* q, const cf_num_t* a, bool negative) {
  cf_num_t* rest = cf_copy(c, q);
  uint64_t parity = negative ? (uint64_t)1 << CF_PRIMES : 0;
  for (size_t i = 0; i < CF_PRIMES; i++) {
    while (cf_mod_small(rest, c->primes[i]) == 0) {
      cf_num_t* next = cf_div_small(c, rest, c->primes[i]);
      data_free(rest);
      rest = next;
      parity ^= (uint64_t)1 << i;
    }
  }
  if (rest->n == 1 && rest->l[0] < CF_LARGE_MAX) cf_relation(c, a, rest->l[0], parity);
  data_free(rest);
}

/* A^2 = (-1)^k Q (mod N): checks the arithmetic (and so the blocks) now and then. */
static void cf_check(cf_t* c, const cf_num_t* a, const cf_num_t* q, bool negative) {
  cf_num_t* sq = cf_mul(c, a, a);
  cf_num_t* r = cf_mod(c, sq, c->n);
  cf_num_t* want = negative ? cf_sub(c, c->n, q) : cf_copy(c, q);
  if (cf_cmp(r, want) != 0) bench_die("cfrac: A^2 != +-Q (mod N): a number was corrupted", r, r->n);
  data_free(want);
  data_free(r);
  data_free(sq);
}

static void cf_free_list(cf_rel_t* rel) {
  while (rel != NULL) {
    cf_rel_t* next = rel->next;
    data_free(rel->a);
    data_free(rel);
    rel = next;
  }
}

static uint64_t w_cfrac(int threads, double scale, size_t* live_kib) {
  (void)threads;
  cf_t* c = (cf_t*)calloc(1, sizeof(cf_t));
  if (c == NULL) bench_die("out of memory (cfrac)", NULL, 0);
  for (uint64_t p = 2, k = 0; k < CF_PRIMES; p++) {
    bool prime = true;
    for (uint64_t d = 2; d * d <= p; d++) prime = prime && p % d != 0;
    if (prime) c->primes[k++] = p;
  }
  /* N of 117 bits (36 digits; the original's inputs have 35-41); floor(sqrt(N)) = a0 by construction */
  const uint64_t a0 = 0x05a3c1f27b9d4e63ull, r0 = 0x3b1d2e4f5a6b7c8dull % (2 * a0);
  cf_num_t* na0 = cf_small(c, a0);
  cf_num_t* sq = cf_mul(c, na0, na0);
  cf_num_t* nr = cf_small(c, r0);
  c->n = cf_add(c, sq, nr);
  data_free(sq);
  data_free(nr);
  /* P_0 = 0, Q_0 = 1, Q_-1 = N, a_0 = a0, A_-1 = 1, A_-2 = 0 */
  cf_num_t* p = cf_small(c, 0);
  cf_num_t* q = cf_small(c, 1);
  cf_num_t* q_prev = cf_copy(c, c->n);
  cf_num_t* a_prev = cf_small(c, 1);
  cf_num_t* a_prev2 = cf_small(c, 0);
  uint64_t a = a0;
  size_t steps = bench_scaled(4e5, scale);
  for (size_t k = 0; k < steps; k++) {
    /* A_k = a_k A_{k-1} + A_{k-2} (mod N) */
    cf_num_t* t = cf_mul_small(c, a_prev, a);
    cf_num_t* u = cf_add(c, t, a_prev2);
    cf_num_t* a_k = cf_mod(c, u, c->n);
    data_free(t);
    data_free(u);
    /* P_{k+1} = a_k Q_k - P_k; Q_{k+1} = Q_{k-1} + a_k (P_k - P_{k+1}) */
    t = cf_mul_small(c, q, a);
    cf_num_t* p_next = cf_sub(c, t, p);
    data_free(t);
    cf_num_t* q_next;
    if (cf_cmp(p, p_next) >= 0) {
      cf_num_t* d = cf_sub(c, p, p_next);
      cf_num_t* e = cf_mul_small(c, d, a);
      q_next = cf_add(c, q_prev, e);
      data_free(d);
      data_free(e);
    } else {
      cf_num_t* d = cf_sub(c, p_next, p);
      cf_num_t* e = cf_mul_small(c, d, a);
      q_next = cf_sub(c, q_prev, e);
      data_free(d);
      data_free(e);
    }
    if (q_next->n != 1 || p_next->n != 1 || q_next->l[0] == 0) bench_die("cfrac: P or Q out of range", q_next, q_next->n);
    a = (a0 + p_next->l[0]) / q_next->l[0];
    /* A_k^2 = (-1)^(k+1) Q_{k+1} (mod N) */
    bool negative = (k & 1) == 0;
    if ((k & 255) == 0) cf_check(c, a_k, q_next, negative);
    cf_factor(c, q_next, a_k, negative);
    data_free(q_prev);
    q_prev = q;
    q = q_next;
    data_free(p);
    p = p_next;
    data_free(a_prev2);
    a_prev2 = a_prev;
    a_prev = a_k;
  }
  size_t fulls = c->fulls;
  cf_free_list(c->full);
  for (size_t b = 0; b < CF_BUCKETS; b++) cf_free_list(c->partial[b]);
  data_free(p);
  data_free(q);
  data_free(q_prev);
  data_free(a_prev);
  data_free(a_prev2);
  data_free(na0);
  data_free(c->n);
  *live_kib = (fulls + c->partials) * 120 / 1024 + 1;
  free(c);
  return steps;
}

/* ---------------------------------------------------------------------------
   espresso
--------------------------------------------------------------------------- */
#define ES_VARS 40   /* inputs: two bits each (01 = 0, 10 = 1, 11 = either); 32 in word 0, 8 in word 1 */
#define ES_OUTS 24   /* outputs: one bit each, word 1 bits 16..39 */
#define ES_WORDS 2
#define ES_COVER 64  /* cubes the working cover keeps */
#define ES_CHUNK 32  /* random cubes met each round */

/* A cover: `n` cubes (each a block of ES_WORDS words) in an array grown by
   realloc, as espresso's set families are. */
typedef struct es_family_s {
  size_t n, cap;
  uint64_t** cube;
} es_family_t;

typedef struct es_s {
  rng_t r;
  uint32_t salt;
  uint64_t pairs; /* consensus blocks allocated */
} es_t;

static uint64_t* es_cube_new(es_t* e) { return (uint64_t*)data_new(ES_WORDS * 8, e->salt++); }
static uint64_t* es_cube_random(es_t* e) {
  uint64_t* c = es_cube_new(e);
  uint64_t w[ES_WORDS] = {0, 0};
  for (unsigned v = 0; v < ES_VARS; v++) {
    size_t x = rng_below(&e->r, 8);
    uint64_t field = x < 6 ? 3 : x == 6 ? 1 : 2;
    w[v / 32] |= field << (2 * (v % 32));
  }
  uint64_t outs = rng_next(&e->r) & 0xffffffu;
  w[1] |= (outs != 0 ? outs : 1) << 16;
  memcpy(c, w, sizeof w);
  return c;
}
/* The consensus of two cubes that conflict in exactly one input: their
   intersection with that input set to either value (11); false when they
   conflict in none or several, or share no output. */
static bool es_consensus(const uint64_t* a, const uint64_t* b, uint64_t* t) {
  const uint64_t m0 = 0x5555555555555555ull, m1 = 0x5555u;
  uint64_t x0 = a[0] & b[0], x1 = a[1] & b[1];
  uint64_t z0 = ~(x0 | x0 >> 1) & m0, z1 = ~(x1 | x1 >> 1) & m1; /* a bit per input with no value left */
  if (__builtin_popcountll(z0) + __builtin_popcountll(z1) != 1 || (x1 >> 16 & 0xffffffu) == 0) return false;
  t[0] = x0 | z0 * 3;
  t[1] = x1 | z1 * 3;
  return true;
}
static bool es_contains(const uint64_t* big, const uint64_t* c) {
  return (big[0] & c[0]) == c[0] && (big[1] & c[1]) == c[1];
}

static es_family_t* es_family_new(es_t* e) {
  es_family_t* f = (es_family_t*)data_new(sizeof(es_family_t), e->salt++);
  f->n = 0;
  f->cap = 4;
  f->cube = (uint64_t**)data_new(f->cap * sizeof(uint64_t*), e->salt++);
  return f;
}
static void es_family_add(es_t* e, es_family_t* f, uint64_t* c) {
  if (f->n == f->cap) {
    f->cap *= 2;
    f->cube = (uint64_t**)data_grow(f->cube, f->cap * sizeof(uint64_t*), e->salt++);
  }
  f->cube[f->n++] = c;
}
/* The array and the family; its cubes only if `cubes`. */
static void es_family_free(es_family_t* f, bool cubes) {
  if (cubes)
    for (size_t i = 0; i < f->n; i++) data_free(f->cube[i]);
  data_free(f->cube);
  data_free(f);
}

/* One round: the consensus of every pair of a cube of the cover and one of a
   chunk of random cubes (a new block each, freed at once when there is
   none), those the cover already contains dropped, the survivors marked in a
   set of |H| bits, then keep ES_COVER cubes of the old cover
   and the survivors, chosen at random (the others are freed). */
static void es_round(es_t* e, es_family_t** cover) {
  es_family_t* f = *cover;
  es_family_t* g = es_family_new(e);
  for (size_t i = 0; i < ES_CHUNK; i++) es_family_add(e, g, es_cube_random(e));
  es_family_t* h = es_family_new(e);
  e->pairs += (uint64_t)f->n * g->n;
  for (size_t i = 0; i < f->n; i++) {
    for (size_t j = 0; j < g->n; j++) {
      uint64_t* t = es_cube_new(e);
      if (es_consensus(f->cube[i], g->cube[j], t)) es_family_add(e, h, t);
      else data_free(t);
    }
  }
  size_t words = (h->n + 63) / 64 + 1;
  uint64_t* keep = (uint64_t*)data_new(words * 8, e->salt++);
  memset(keep, 0, words * 8);
  for (size_t i = 0; i < h->n; i++) {
    bool covered = false;
    for (size_t j = 0; j < f->n && !covered; j++) covered = es_contains(f->cube[j], h->cube[i]);
    if (covered) {
      data_free(h->cube[i]);
      h->cube[i] = NULL;
    } else {
      keep[i / 64] |= (uint64_t)1 << (i % 64);
    }
  }
  es_family_t* next = es_family_new(e);
  size_t pool = f->n + h->n;
  for (size_t i = 0; i < f->n + h->n; i++) {
    uint64_t* c = i < f->n ? f->cube[i] : h->cube[i - f->n];
    if (i >= f->n && (keep[(i - f->n) / 64] >> ((i - f->n) % 64) & 1) == 0) continue; /* covered: freed above */
    if (next->n < ES_COVER && rng_below(&e->r, pool) < ES_COVER * 2) es_family_add(e, next, c);
    else data_free(c);
  }
  data_free(keep);
  es_family_free(h, false);
  es_family_free(g, true);
  es_family_free(f, false);
  while (next->n < ES_COVER / 2) es_family_add(e, next, es_cube_random(e));
  *cover = next;
}

static uint64_t w_espresso(int threads, double scale, size_t* live_kib) {
  (void)threads;
  es_t e = {rng_make(800), 0, 0};
  es_family_t* cover = es_family_new(&e);
  for (size_t i = 0; i < ES_COVER; i++) es_family_add(&e, cover, es_cube_random(&e));
  size_t rounds = bench_scaled(12000, scale);
  for (size_t k = 0; k < rounds; k++) es_round(&e, &cover);
  es_family_free(cover, true);
  *live_kib = (ES_COVER * (ES_CHUNK + 1) * 40 + ES_COVER * ES_CHUNK * 8) / 1024;
  return e.pairs;
}

/* ---------------------------------------------------------------------------
   barnes
--------------------------------------------------------------------------- */
#define BH_BODIES 2048
#define BH_THETA2 0.25 /* opening criterion (size / distance)^2 */
#define BH_EPS2 1e-4   /* softening */
#define BH_DT 1e-3
#define BH_DEPTH_MAX 48

typedef struct bh_body_s {
  double pos[3], vel[3], acc[3], mass;
} bh_body_t;

/* A cell of the octree, a block of its own, made anew every step: a child is
   a cell or a body (bit i of `is_body`). */
typedef struct bh_cell_s {
  double center[3], half; /* the cube it covers */
  double com[3], mass;    /* centre of mass of what is below */
  void* child[8];
  unsigned is_body;
} bh_cell_t;

typedef struct bh_s {
  uint32_t salt;
  size_t cells;
} bh_t;

static bh_cell_t* bh_cell_new(bh_t* b, const double center[3], double half) {
  bh_cell_t* c = (bh_cell_t*)data_new(sizeof(bh_cell_t), b->salt++);
  memset(c, 0, sizeof *c);
  memcpy(c->center, center, sizeof c->center);
  c->half = half;
  b->cells++;
  return c;
}
static unsigned bh_octant(const bh_cell_t* c, const double pos[3]) {
  return (pos[0] >= c->center[0] ? 1u : 0u) | (pos[1] >= c->center[1] ? 2u : 0u) | (pos[2] >= c->center[2] ? 4u : 0u);
}
static void bh_insert(bh_t* b, bh_cell_t* c, bh_body_t* body, int depth) {
  if (depth > BH_DEPTH_MAX) bench_die("barnes: two bodies at one place", body, 0);
  unsigned o = bh_octant(c, body->pos);
  if (c->child[o] == NULL) {
    c->child[o] = body;
    c->is_body |= 1u << o;
    return;
  }
  if ((c->is_body >> o & 1) != 0) { /* a body there: a cell takes both */
    bh_body_t* other = (bh_body_t*)c->child[o];
    double h = c->half / 2, center[3];
    for (int d = 0; d < 3; d++) center[d] = c->center[d] + ((o >> d & 1) != 0 ? h : -h);
    bh_cell_t* sub = bh_cell_new(b, center, h);
    c->child[o] = sub;
    c->is_body &= ~(1u << o);
    bh_insert(b, sub, other, depth + 1);
  }
  bh_insert(b, (bh_cell_t*)c->child[o], body, depth + 1);
}
static void bh_summarize(bh_cell_t* c) {
  double m = 0, com[3] = {0, 0, 0};
  for (unsigned o = 0; o < 8; o++) {
    if (c->child[o] == NULL) continue;
    const double* pos;
    double cm;
    if ((c->is_body >> o & 1) != 0) {
      const bh_body_t* body = (const bh_body_t*)c->child[o];
      pos = body->pos;
      cm = body->mass;
    } else {
      bh_cell_t* sub = (bh_cell_t*)c->child[o];
      bh_summarize(sub);
      pos = sub->com;
      cm = sub->mass;
    }
    m += cm;
    for (int d = 0; d < 3; d++) com[d] += cm * pos[d];
  }
  c->mass = m;
  for (int d = 0; d < 3; d++) c->com[d] = m > 0 ? com[d] / m : c->center[d];
}
static void bh_pull(double acc[3], const double pos[3], const double from[3], double mass) {
  double dx = from[0] - pos[0], dy = from[1] - pos[1], dz = from[2] - pos[2];
  double r2 = dx * dx + dy * dy + dz * dz + BH_EPS2;
  double inv = mass / (r2 * __builtin_sqrt(r2));
  acc[0] += dx * inv;
  acc[1] += dy * inv;
  acc[2] += dz * inv;
}
static void bh_force(const bh_cell_t* c, bh_body_t* body) {
  for (unsigned o = 0; o < 8; o++) {
    const void* ch = c->child[o];
    if (ch == NULL || ch == body) continue;
    if ((c->is_body >> o & 1) != 0) {
      const bh_body_t* other = (const bh_body_t*)ch;
      bh_pull(body->acc, body->pos, other->pos, other->mass);
      continue;
    }
    const bh_cell_t* sub = (const bh_cell_t*)ch;
    double dx = sub->com[0] - body->pos[0], dy = sub->com[1] - body->pos[1], dz = sub->com[2] - body->pos[2];
    double size = 2 * sub->half;
    if (size * size < BH_THETA2 * (dx * dx + dy * dy + dz * dz)) bh_pull(body->acc, body->pos, sub->com, sub->mass);
    else bh_force(sub, body);
  }
}
static void bh_cell_free(bh_cell_t* c) {
  for (unsigned o = 0; o < 8; o++)
    if (c->child[o] != NULL && (c->is_body >> o & 1) == 0) bh_cell_free((bh_cell_t*)c->child[o]);
  data_free(c);
}

static uint64_t w_barnes(int threads, double scale, size_t* live_kib) {
  (void)threads;
  bh_t b = {0, 0};
  rng_t r = rng_make(900);
  bh_body_t** body = (bh_body_t**)malloc(BH_BODIES * sizeof(bh_body_t*));
  if (body == NULL) bench_die("out of memory (bodies)", NULL, 0);
  for (size_t i = 0; i < BH_BODIES; i++) { /* a Plummer-like ball: denser towards the middle */
    bh_body_t* x = (bh_body_t*)data_new(sizeof(bh_body_t), b.salt++);
    memset(x, 0, sizeof *x);
    double rad = 0;
    for (int d = 0; d < 3; d++) {
      x->pos[d] = (double)rng_below(&r, 1u << 20) / (double)(1u << 19) - 1.0;
      rad += x->pos[d] * x->pos[d];
    }
    for (int d = 0; d < 3; d++) x->pos[d] *= rad;
    x->mass = 1.0 / BH_BODIES;
    body[i] = x;
  }
  size_t steps = bench_scaled(24, scale);
  for (size_t s = 0; s < steps; s++) {
    double lo = 0, hi = 0;
    for (size_t i = 0; i < BH_BODIES; i++)
      for (int d = 0; d < 3; d++) {
        lo = body[i]->pos[d] < lo ? body[i]->pos[d] : lo;
        hi = body[i]->pos[d] > hi ? body[i]->pos[d] : hi;
      }
    const double center[3] = {(lo + hi) / 2, (lo + hi) / 2, (lo + hi) / 2};
    bh_cell_t* root = bh_cell_new(&b, center, (hi - lo) / 2 + 1e-9);
    for (size_t i = 0; i < BH_BODIES; i++) bh_insert(&b, root, body[i], 0);
    bh_summarize(root);
    for (size_t i = 0; i < BH_BODIES; i++) {
      memset(body[i]->acc, 0, sizeof body[i]->acc);
      bh_force(root, body[i]);
    }
    for (size_t i = 0; i < BH_BODIES; i++)
      for (int d = 0; d < 3; d++) {
        body[i]->vel[d] += body[i]->acc[d] * BH_DT;
        body[i]->pos[d] += body[i]->vel[d] * BH_DT;
      }
    bh_cell_free(root);
  }
  for (size_t i = 0; i < BH_BODIES; i++) data_free(body[i]);
  free(body);
  *live_kib = (BH_BODIES * (sizeof(bh_body_t) + DATA_OVERHEAD) + b.cells / steps * (sizeof(bh_cell_t) + DATA_OVERHEAD)) / 1024;
  return b.cells + BH_BODIES;
}

static const workload_t workloads[] = {
  {"larson", w_larson, 1, "server simulation: slots replaced, arrays handed to fresh threads"},
  {"xmalloc", w_xmalloc, 2, "producers allocate, consumers free (bounded queue)"},
  {"cache-scratch", w_cache_scratch, 1, "passive false sharing: objects from main, written by threads"},
  {"cache-thrash", w_cache_thrash, 1, "active false sharing: small objects written by their threads"},
  {"alloc-test", w_alloc_test, 1, "mixed sizes, skewed lifetimes, 1 in 8 by calloc"},
  {"sh6bench", w_sh6bench, 1, "batches of many sizes freed in varied orders, a ring of survivors"},
  {"sh8bench", w_sh8bench, 1, "sh6bench with survivors sent to the next thread"},
  {"mstress", w_mstress, 1, "rounds of threads exiting with blocks others free"},
  {"malloc-large", w_malloc_large, 1, "20 live blocks of 64 KiB..8 MiB"},
  {"rptest", w_rptest, 1, "mixed 16 B..16 KiB slots with blocks sent to other threads"},
  {"glibc-simple", w_glibc_simple, 1, "fixed-size malloc/free batches, 16..256 B"},
  {"glibc-thread", w_glibc_thread, 1, "each thread a ring of fixed-size blocks"},
  {"larson-sized", w_larson_sized, 1, "larson, every free passing the block's size"},
  {"cfrac", w_cfrac, 1, "continued-fraction factoring steps: bignum temporaries, kept relations"},
  {"espresso", w_espresso, 1, "cube-cover rounds: small sets, arrays grown by realloc"},
  {"barnes", w_barnes, 1, "Barnes-Hut n-body: an octree of cells built and freed each step"},
};

int main(int argc, char** argv) { return bench_main(argc, argv, workloads, sizeof workloads / sizeof workloads[0]); }
