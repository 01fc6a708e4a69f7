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
                   1024 B by thread), oldest freed and a new one allocated per step */
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
  sem_t done;
  pthread_attr_t attr;
} ALIGNED_LINE larson_lane_t;

static void* larson_thread(void* arg) {
  larson_lane_t* lane = (larson_lane_t*)arg;
  for (size_t i = 0; i < lane->replacements; i++) {
    size_t k = rng_below(&lane->r, LARSON_SLOTS);
    if (lane->slot[k] != NULL) blk_free(lane->slot[k], 0);
    lane->slot[k] = blk_new(rng_range(&lane->r, LARSON_MIN, LARSON_MAX), (uint32_t)rng_next(&lane->r));
  }
  if (--lane->generations == 0) {
    for (size_t k = 0; k < LARSON_SLOTS; k++) {
      if (lane->slot[k] != NULL) blk_free(lane->slot[k], 0);
      lane->slot[k] = NULL;
    }
    sem_post(&lane->done);
  } else {
    pthread_t next;
    if (pthread_create(&next, &lane->attr, larson_thread, lane) != 0) bench_die("pthread_create failed", NULL, 0);
  }
  return NULL;
}

static uint64_t w_larson(int threads, double scale, size_t* live_kib) {
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
};

int main(int argc, char** argv) { return bench_main(argc, argv, workloads, sizeof workloads / sizeof workloads[0]); }
