/* hooks.c - the profiler hooks (MIALLOC_HOOKS=1) and the exact per-heap
   counters (MIALLOC_STATS=1), checked against shadow bookkeeping.

   Build (tests/engine.mk; also under TSan):
      clang-19 -std=gnu11 -O2 -g -pthread -DMIALLOC_HOOKS=1 -DMIALLOC_STATS=1 \
        <STYLE.md warnings> -Werror -I. -Itests tests/hooks.c -o hooks
   Run:  ./hooks [test-name-part]     (MIALLOC_TEST_QUICK=1: fewer rounds)

   The shadow map is a hash table keyed by pointer, guarded by a mutex, that
   every hook updates: alloc inserts (pointer, size, heap), free removes and
   compares the size and heap, realloc removes the old pointer and inserts the
   new one. A hook that finds the map in a state it cannot explain (a free or
   realloc of a pointer it never saw, an alloc of a pointer already live, a
   size or heap that differs) counts an unmatched event. Tests:
   - hooks_each_call: every allocating, reallocating and freeing entry point
     reports once, with mia_usable_size as the size; mia_heap_destroy reports
     one free per live block, aligned and interior pointers included;
     reallocf's failure is a free; no hook after mia_hooks_set(NULL);
   - hooks_sampling: with sample_bytes = N, about one alloc call per N bytes;
   - hooks_threads: 8 threads, random malloc/calloc/realloc/aligned/
     posix_memalign/heap_malloc (own heaps and one shared heap)/free/
     cross-thread free/heap_destroy; at the end the map is empty and no
     event was unmatched;
   - stats_peak: one thread, random work on a heap: peak_live_bytes, allocs
     and frees equal a shadow count (a moving realloc holds both blocks for a
     moment). */
#define MIALLOC_IMPLEMENTATION
#include "../mialloc.h"

#include "runner.h"

#include <errno.h>
#include <pthread.h>

runner_state runner;

#if !MIALLOC_HOOKS || !MIALLOC_STATS
#error "build tests/hooks.c with -DMIALLOC_HOOKS=1 -DMIALLOC_STATS=1"
#endif

/* ---------------------------------------------------------------------------
   The shadow map: linear probing, deletion by backward shift, libc memory.
--------------------------------------------------------------------------- */

typedef struct shadow_entry {
  void* p;
  size_t size;
  const mia_heap_t* heap;
} shadow_entry;

typedef struct shadow_map {
  pthread_mutex_t lock;
  shadow_entry* slots;
  size_t cap; /* a power of two */
  size_t count;
  /* events */
  size_t allocs, frees, reallocs;
  size_t unmatched;     /* free/realloc of an unknown pointer, alloc of a live one, table full */
  size_t size_wrong;    /* free size differs from the live block's size */
  size_t heap_wrong;    /* free heap differs from the alloc heap */
  size_t first_unmatched_kind;
  void* first_unmatched_p;
  size_t first_size_have, first_size_got;
} shadow_map;

static shadow_map shadow;

static size_t shadow_hash(const void* p, size_t cap) {
  uint64_t x = (uint64_t)(uintptr_t)p;
  x ^= x >> 33;
  x *= 0xFF51AFD7ED558CCDULL;
  x ^= x >> 33;
  return (size_t)x & (cap - 1);
}

static bool shadow_init(size_t cap) {
  pthread_mutex_init(&shadow.lock, NULL);
  shadow.slots = (shadow_entry*)calloc(cap, sizeof(shadow_entry));
  shadow.cap = cap;
  return shadow.slots != NULL;
}

/* Forget every block and event (each test starts from an empty map). */
static void shadow_reset(void) {
  pthread_mutex_lock(&shadow.lock);
  memset(shadow.slots, 0, shadow.cap * sizeof(shadow_entry));
  shadow.count = 0;
  shadow.allocs = shadow.frees = shadow.reallocs = 0;
  shadow.unmatched = shadow.size_wrong = shadow.heap_wrong = 0;
  shadow.first_unmatched_kind = 0;
  shadow.first_unmatched_p = NULL;
  pthread_mutex_unlock(&shadow.lock);
}

/* Locked: the slot of p, or of the empty slot where it would go. */
static size_t shadow_find(const void* p) {
  size_t i = shadow_hash(p, shadow.cap);
  while (shadow.slots[i].p != NULL && shadow.slots[i].p != p) i = (i + 1) & (shadow.cap - 1);
  return i;
}

static void shadow_unmatched(size_t kind, void* p) {
  if (shadow.unmatched++ == 0) {
    shadow.first_unmatched_kind = kind;
    shadow.first_unmatched_p = p;
  }
}

/* Locked. */
static void shadow_insert(void* p, size_t size, const mia_heap_t* heap) {
  if (shadow.count + 1 >= shadow.cap / 2) {
    shadow_unmatched(1, p);
    return;
  }
  size_t i = shadow_find(p);
  if (shadow.slots[i].p == p) {
    shadow_unmatched(2, p); /* reported twice without a free between */
    shadow.slots[i].size = size;
    shadow.slots[i].heap = heap;
    return;
  }
  shadow.slots[i] = (shadow_entry){ p, size, heap };
  shadow.count++;
}

/* Locked: remove p; false if it was not there. */
static bool shadow_remove(void* p, shadow_entry* out) {
  size_t i = shadow_find(p);
  if (shadow.slots[i].p != p) return false;
  *out = shadow.slots[i];
  /* backward shift: move later entries of the cluster into the hole */
  size_t hole = i, j = i;
  for (;;) {
    j = (j + 1) & (shadow.cap - 1);
    if (shadow.slots[j].p == NULL) break;
    size_t home = shadow_hash(shadow.slots[j].p, shadow.cap);
    bool between = (hole <= j) ? (hole < home && home <= j) : (hole < home || home <= j);
    if (!between) {
      shadow.slots[hole] = shadow.slots[j];
      hole = j;
    }
  }
  shadow.slots[hole] = (shadow_entry){ NULL, 0, NULL };
  shadow.count--;
  return true;
}

/* Is p live in the map with this heap? */
static bool shadow_has(void* p, const mia_heap_t* heap) {
  pthread_mutex_lock(&shadow.lock);
  size_t i = shadow_find(p);
  bool has = (shadow.slots[i].p == p && (heap == NULL || shadow.slots[i].heap == heap));
  pthread_mutex_unlock(&shadow.lock);
  return has;
}

static size_t shadow_size_of(void* p) {
  pthread_mutex_lock(&shadow.lock);
  size_t i = shadow_find(p);
  size_t size = (shadow.slots[i].p == p ? shadow.slots[i].size : 0);
  pthread_mutex_unlock(&shadow.lock);
  return size;
}

/* The hooks. */
static void hook_alloc(const mia_heap_t* heap, void* p, size_t size, void* arg) {
  (void)arg;
  pthread_mutex_lock(&shadow.lock);
  shadow.allocs++;
  shadow_insert(p, size, heap);
  pthread_mutex_unlock(&shadow.lock);
}

static void hook_free(const mia_heap_t* heap, void* p, size_t size, void* arg) {
  (void)arg;
  pthread_mutex_lock(&shadow.lock);
  shadow.frees++;
  shadow_entry e;
  if (!shadow_remove(p, &e)) shadow_unmatched(3, p);
  else {
    if (e.size != size && shadow.size_wrong++ == 0) {
      shadow.first_size_have = e.size;
      shadow.first_size_got = size;
    }
    if (e.heap != heap) shadow.heap_wrong++;
  }
  pthread_mutex_unlock(&shadow.lock);
}

static void hook_realloc(const mia_heap_t* heap, void* old_p, void* new_p, size_t new_size, void* arg) {
  (void)arg;
  pthread_mutex_lock(&shadow.lock);
  shadow.reallocs++;
  if (old_p != NULL) {
    shadow_entry e;
    if (!shadow_remove(old_p, &e)) shadow_unmatched(4, old_p);
  }
  shadow_insert(new_p, new_size, heap);
  pthread_mutex_unlock(&shadow.lock);
}

static const mia_hooks_t shadow_hooks = { hook_alloc, hook_free, hook_realloc, 0, NULL };

/* The events seen since the last reset, read under the lock. */
typedef struct shadow_counts {
  size_t allocs, frees, reallocs, unmatched, size_wrong, heap_wrong, live;
} shadow_counts;

static shadow_counts shadow_read(void) {
  pthread_mutex_lock(&shadow.lock);
  shadow_counts c = { shadow.allocs, shadow.frees, shadow.reallocs, shadow.unmatched,
                      shadow.size_wrong, shadow.heap_wrong, shadow.count };
  pthread_mutex_unlock(&shadow.lock);
  return c;
}

static const char* unmatched_kind(size_t k) {
  switch (k) {
    case 1: return "map full";
    case 2: return "alloc of a live pointer";
    case 3: return "free of an unknown pointer";
    case 4: return "realloc of an unknown pointer";
    default: return "-";
  }
}

#define CHECK_SHADOW_CLEAN()                                                                                 \
  do {                                                                                                       \
    shadow_counts c_ = shadow_read();                                                                        \
    CHECKF(c_.unmatched == 0, "%zu unmatched events, the first: %s %p", c_.unmatched,                         \
           unmatched_kind(shadow.first_unmatched_kind), shadow.first_unmatched_p);                           \
    CHECKF(c_.size_wrong == 0, "%zu frees with a size other than the alloc's (first: alloc %zu, free %zu)", \
           c_.size_wrong, shadow.first_size_have, shadow.first_size_got);                                   \
    CHECK_EQ_SZ(c_.heap_wrong, 0);                                                                           \
  } while (0)

/* ---------------------------------------------------------------------------
   Every entry point, one thread
--------------------------------------------------------------------------- */

/* One allocation reported once with its usable size (and heap, if given). */
static void expect_alloc(void* p, const mia_heap_t* heap, shadow_counts before, const char* what) {
  shadow_counts c = shadow_read();
  CHECKF(p != NULL, "%s", what);
  if (p == NULL) return;
  CHECKF(c.allocs == before.allocs + 1 && c.frees == before.frees && c.reallocs == before.reallocs,
         "%s: %zu alloc, %zu free, %zu realloc reports", what, c.allocs - before.allocs, c.frees - before.frees,
         c.reallocs - before.reallocs);
  CHECKF(shadow_size_of(p) == mia_usable_size(p), "%s: reported %zu, usable %zu", what, shadow_size_of(p),
         mia_usable_size(p));
  CHECKF(shadow_has(p, heap), "%s: not live in the map with heap %p", what, (const void*)heap);
}

static void expect_free(void (*do_free)(void*), void* p, const char* what) {
  shadow_counts before = shadow_read();
  do_free(p);
  shadow_counts c = shadow_read();
  CHECKF(c.frees == before.frees + 1 && c.allocs == before.allocs && c.reallocs == before.reallocs,
         "%s: %zu free reports", what, c.frees - before.frees);
  CHECKF(!shadow_has(p, NULL), "%s: still live in the map", what);
}

static void free_plain(void* p) { mia_free(p); }
static void free_cfree(void* p) { mia_cfree(p); }

TEST(hooks_each_call) {
  CHECK(mia_hooks_set(&shadow_hooks));
  shadow_reset();
  mia_heap_t* backing = mia_heap_get_default();
  shadow_counts b;
  void* p;

#define ALLOC_CASE(expr, heap)                \
  do {                                        \
    b = shadow_read();                        \
    p = (expr);                               \
    expect_alloc(p, heap, b, #expr);          \
    expect_free(free_plain, p, "free " #expr); \
  } while (0)

  ALLOC_CASE(mia_malloc(opaque_size(40)), backing);
  ALLOC_CASE(mia_malloc(opaque_size(0)), backing);
  ALLOC_CASE(mia_calloc(opaque_size(7), 9), backing);
  ALLOC_CASE(mia_zalloc(opaque_size(300)), backing);
  ALLOC_CASE(mia_malloc_small(opaque_size(64)), backing);
  ALLOC_CASE(mia_zalloc_small(opaque_size(64)), backing);
  ALLOC_CASE(mia_mallocn(opaque_size(10), 10), backing);
  ALLOC_CASE(mia_strdup("a string"), backing);
  ALLOC_CASE(mia_strndup("a longer string", 5), backing);
  ALLOC_CASE(mia_malloc(opaque_size(100 * KiB)), backing);
  ALLOC_CASE(mia_malloc(opaque_size(5 * MiB)), backing);
  ALLOC_CASE(mia_malloc_aligned(opaque_size(24), 16), backing);
  ALLOC_CASE(mia_malloc_aligned(opaque_size(24), 64), backing);
  ALLOC_CASE(mia_malloc_aligned(opaque_size(100), 4096), backing);
  ALLOC_CASE(mia_malloc_aligned_at(opaque_size(100), 64, 8), backing);
  ALLOC_CASE(mia_zalloc_aligned(opaque_size(200), 128), backing);
  ALLOC_CASE(mia_zalloc_aligned_at(opaque_size(200), 128, 16), backing);
  ALLOC_CASE(mia_calloc_aligned(opaque_size(3), 50, 256), backing);
  ALLOC_CASE(mia_calloc_aligned_at(opaque_size(3), 50, 256, 8), backing);
  ALLOC_CASE(mia_memalign(64, opaque_size(70)), backing);
  ALLOC_CASE(mia_aligned_alloc(256, opaque_size(512)), backing);
  ALLOC_CASE(mia_valloc(opaque_size(100)), backing);
  ALLOC_CASE(mia_pvalloc(opaque_size(100)), backing);
  ALLOC_CASE(mia_malloc_aligned(opaque_size(1000), 1 * MiB), backing);

  mia_heap_t* heap = mia_heap_new();
  CHECK_NOT_NULL(heap);
  if (heap == NULL) return;
  ALLOC_CASE(mia_heap_malloc(heap, opaque_size(50)), heap);
  ALLOC_CASE(mia_heap_zalloc(heap, opaque_size(50)), heap);
  ALLOC_CASE(mia_heap_calloc(heap, opaque_size(5), 10), heap);
  ALLOC_CASE(mia_heap_mallocn(heap, opaque_size(5), 10), heap);
  ALLOC_CASE(mia_heap_malloc_small(heap, opaque_size(16)), heap);
  ALLOC_CASE(mia_heap_strdup(heap, "heap string"), heap);
  ALLOC_CASE(mia_heap_malloc_aligned(heap, opaque_size(48), 32), heap);
  ALLOC_CASE(mia_heap_malloc_aligned_at(heap, opaque_size(48), 32, 8), heap);
  ALLOC_CASE(mia_heap_zalloc_aligned(heap, opaque_size(48), 1024), heap);
  ALLOC_CASE(mia_heap_calloc_aligned(heap, opaque_size(4), 12, 64), heap);
#undef ALLOC_CASE

  /* posix_memalign: reported like the others */
  b = shadow_read();
  p = NULL;
  CHECK_EQ_INT(mia_posix_memalign(&p, 64, opaque_size(100)), 0);
  expect_alloc(p, backing, b, "mia_posix_memalign");
  expect_free(free_cfree, p, "mia_cfree");
  /* a sized free and an aligned free */
  p = mia_malloc(opaque_size(77));
  b = shadow_read();
  mia_free_size(p, 77);
  CHECK_EQ_SZ(shadow_read().frees, b.frees + 1);
  p = mia_malloc_aligned(opaque_size(77), 128);
  b = shadow_read();
  mia_free_aligned(p, 128);
  CHECK_EQ_SZ(shadow_read().frees, b.frees + 1);
  /* free(NULL): nothing */
  b = shadow_read();
  mia_free(NULL);
  CHECK_EQ_SZ(shadow_read().frees, b.frees);

  /* realloc: one realloc report each, never an alloc or free besides */
  b = shadow_read();
  p = mia_realloc(NULL, opaque_size(10)); /* a fresh block */
  CHECK_NOT_NULL(p);
  void* q = mia_realloc(p, opaque_size(5000));     /* moves */
  void* r = mia_realloc(q, opaque_size(4000));     /* in place (shrinks within the block) */
  void* s = mia_reallocn(r, opaque_size(3), 3000); /* moves again */
  void* t = mia_rezalloc(s, opaque_size(20000));
  void* u = mia_recalloc(t, opaque_size(10), 3000);
  void* v = mia_reallocarray(u, opaque_size(2), 100);
  void* w = mia_realloc_aligned(v, opaque_size(300), 64);
  void* x = mia_reallocf(w, opaque_size(30));
  shadow_counts c = shadow_read();
  CHECK_EQ_SZ(c.reallocs, b.reallocs + 9);
  CHECK_EQ_SZ(c.allocs, b.allocs);
  CHECK_EQ_SZ(c.frees, b.frees);
  CHECK(x != NULL && shadow_size_of(x) == mia_usable_size(x));
  CHECK_EQ_SZ(c.live, b.live + 1);
  /* reallocarr goes through reallocarray */
  b = shadow_read();
  CHECK_EQ_INT(mia_reallocarr(&x, 4, 100), 0);
  CHECK_EQ_SZ(shadow_read().reallocs, b.reallocs + 1);
  /* heap realloc */
  void* hp = mia_heap_malloc(heap, 10);
  b = shadow_read();
  hp = mia_heap_realloc(heap, hp, opaque_size(3000));
  CHECK_EQ_SZ(shadow_read().reallocs, b.reallocs + 1);
  CHECK(hp != NULL && shadow_has(hp, heap));
  /* reallocf that fails: the old block is freed, reported as a free of its size */
  b = shadow_read();
  void* f = mia_reallocf(x, opaque_size(SIZE_MAX / 2));
  c = shadow_read();
  CHECK_NULL(f);
  CHECK_EQ_SZ(c.frees, b.frees + 1);
  CHECK_EQ_SZ(c.reallocs, b.reallocs);
  CHECK(!shadow_has(x, NULL));
  /* realloc that fails: nothing reported, the block stays */
  p = mia_malloc(50);
  b = shadow_read();
  CHECK_NULL(mia_realloc(p, opaque_size(SIZE_MAX / 2)));
  c = shadow_read();
  CHECK(c.frees == b.frees && c.reallocs == b.reallocs && c.allocs == b.allocs && shadow_has(p, backing));
  mia_free(p);

  /* mia_heap_destroy: one free per live block, with the pointer and size the alloc had */
  void* live[8];
  live[0] = hp;
  live[1] = mia_heap_malloc(heap, 24);
  live[2] = mia_heap_malloc_aligned(heap, opaque_size(24), 64);
  live[3] = mia_heap_malloc_aligned(heap, opaque_size(100), 4096);     /* larger block, aligned start */
  live[4] = mia_heap_malloc_aligned_at(heap, opaque_size(100), 64, 8); /* an interior pointer */
  live[5] = mia_heap_malloc(heap, opaque_size(200 * KiB));
  live[6] = mia_heap_malloc(heap, opaque_size(3 * MiB));
  live[7] = mia_heap_zalloc_aligned(heap, opaque_size(1000), 256);
  b = shadow_read();
  mia_heap_destroy(heap);
  c = shadow_read();
  CHECKF(c.frees == b.frees + 8, "mia_heap_destroy reported %zu frees for 8 live blocks", c.frees - b.frees);
  size_t still = 0;
  for (size_t i = 0; i < 8; i++) still += shadow_has(live[i], NULL);
  CHECKF(still == 0, "%zu of 8 blocks not reported freed by mia_heap_destroy", still);
  CHECK_EQ_SZ(c.live, b.live - 8);
  CHECK_SHADOW_CLEAN();

  /* a heap's own descriptor is the allocator's: mia_heap_new and mia_heap_delete report nothing */
  b = shadow_read();
  heap = mia_heap_new();
  mia_heap_delete(heap);
  c = shadow_read();
  CHECK(c.allocs == b.allocs && c.frees == b.frees);

  /* hooks off: nothing is reported */
  CHECK(mia_hooks_set(NULL));
  b = shadow_read();
  mia_free(mia_malloc(100));
  mia_free(mia_realloc(mia_malloc(10), opaque_size(1000)));
  c = shadow_read();
  CHECK(c.allocs == b.allocs && c.frees == b.frees && c.reallocs == b.reallocs);
  CHECK_EQ_SZ(c.live, 0);
}

/* sample_bytes = N: the alloc hook runs about once per N bytes. Sizes below
   N on a fresh thread: exactly floor(total / N) calls. */
static _Atomic size_t sampled_calls;
static void hook_count_alloc(const mia_heap_t* heap, void* p, size_t size, void* arg) {
  (void)heap; (void)p; (void)size; (void)arg;
  atomic_fetch_add(&sampled_calls, 1);
}

typedef struct sample_arg {
  size_t total;
} sample_arg;

static void* sample_thread(void* arg) {
  sample_arg* s = (sample_arg*)arg;
  for (size_t i = 0; i < 20000; i++) {
    void* p = mia_malloc(16 + (i % 50) * 8);
    s->total += mia_usable_size(p);
    mia_free(p);
  }
  return NULL;
}

TEST(hooks_sampling) {
  const size_t n = 64 * KiB;
  mia_hooks_t h = { hook_count_alloc, NULL, NULL, n, NULL };
  CHECK(mia_hooks_set(&h));
  atomic_store(&sampled_calls, 0);
  sample_arg s = { 0 };
  pthread_t t;
  CHECK_EQ_INT(pthread_create(&t, NULL, sample_thread, &s), 0);
  pthread_join(t, NULL);
  mia_hooks_set(NULL);
  CHECK_GT_SZ(s.total, 10 * n);
  CHECK_EQ_SZ(atomic_load(&sampled_calls), s.total / n);
}

/* ---------------------------------------------------------------------------
   8 threads
--------------------------------------------------------------------------- */

#define HT_THREADS 8

typedef struct ht_block {
  void* p;
  size_t size; /* asked for; the pattern covers it */
} ht_block;

typedef struct ht_mailbox {
  pthread_mutex_t lock;
  ht_block* items;
  size_t n, cap;
} ht_mailbox;

static ht_mailbox ht_boxes[HT_THREADS];
static mia_heap_t* ht_shared_heap; /* made by the main thread, used by all */
static pthread_mutex_t ht_shared_lock = PTHREAD_MUTEX_INITIALIZER;
static ht_block* ht_shared_left; /* blocks of the shared heap left live for its destroy */
static size_t ht_shared_left_n, ht_shared_left_cap;

typedef struct ht_thread {
  size_t id;
  size_t steps;
  pthread_t thread;
  /* what this thread did, for the totals */
  size_t allocs, frees, reallocs, destroyed, destroy_missed, bad, nulls, sent, received;
} ht_thread;

static size_t ht_barrier_count;
static pthread_mutex_t ht_barrier_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t ht_barrier_cond = PTHREAD_COND_INITIALIZER;
static size_t ht_barrier_gen;

static void ht_barrier(void) {
  pthread_mutex_lock(&ht_barrier_lock);
  size_t gen = ht_barrier_gen;
  if (++ht_barrier_count == HT_THREADS) {
    ht_barrier_count = 0;
    ht_barrier_gen++;
    pthread_cond_broadcast(&ht_barrier_cond);
  } else {
    while (gen == ht_barrier_gen) pthread_cond_wait(&ht_barrier_cond, &ht_barrier_lock);
  }
  pthread_mutex_unlock(&ht_barrier_lock);
}

static uint64_t ht_seed(const void* p) { return (uint64_t)(uintptr_t)p * 0x9E3779B97F4A7C15ULL + 1; }

static void ht_fill(ht_block b) { pattern_fill(b.p, b.size < 256 ? b.size : 256, ht_seed(b.p)); }
static bool ht_intact(ht_block b) {
  size_t n = b.size < 256 ? b.size : 256;
  return pattern_check(b.p, n, ht_seed(b.p)) == n;
}

static size_t ht_random_size(uint64_t* rng) {
  size_t r = rng_range(rng, 0, 99);
  if (r == 0) return rng_range(rng, 64 * KiB, 600 * KiB);
  size_t lo = (size_t)1 << rng_range(rng, 3, 12);
  return rng_range(rng, lo, 2 * lo);
}

/* Free one block of ours (verified). */
static void ht_free(ht_thread* t, ht_block b, uint64_t* rng) {
  if (!ht_intact(b)) t->bad++;
  if (rng_range(rng, 0, 3) == 0) mia_free_size(b.p, b.size);
  else mia_free(b.p);
  t->frees++;
}

static void* ht_main(void* arg) {
  ht_thread* t = (ht_thread*)arg;
  uint64_t rng = 0xC0FFEEULL * (t->id + 1);
  enum { CAP = 2048 };
  ht_block* mine = (ht_block*)malloc(CAP * sizeof(ht_block));  /* default-heap blocks */
  ht_block* in_heap = (ht_block*)malloc(CAP * sizeof(ht_block)); /* blocks of `heap` */
  ht_block* inbox = (ht_block*)malloc(CAP * sizeof(ht_block));
  size_t n_mine = 0, n_heap = 0;
  mia_heap_t* heap = mia_heap_new();
  if (mine == NULL || in_heap == NULL || inbox == NULL || heap == NULL) {
    t->nulls++;
    ht_barrier();
    ht_barrier();
    free(mine);
    free(in_heap);
    free(inbox);
    return NULL;
  }
  for (size_t step = 0; step < t->steps; step++) {
    size_t op = rng_range(&rng, 0, 19);
    ht_block b = { NULL, 0 };
    if (op <= 5 && n_mine < CAP) { /* default heap: the allocation calls */
      b.size = ht_random_size(&rng);
      switch (op) {
        case 0: b.p = mia_malloc(b.size); break;
        case 1: b.p = mia_calloc(1, b.size); break;
        case 2: b.p = mia_zalloc(b.size); break;
        case 3: b.p = mia_malloc_aligned(b.size, (size_t)1 << rng_range(&rng, 3, 12)); break;
        case 4: b.p = mia_malloc_aligned_at(b.size, (size_t)1 << rng_range(&rng, 4, 10), 8 * rng_range(&rng, 0, 3)); break;
        default: if (mia_posix_memalign(&b.p, (size_t)1 << rng_range(&rng, 3, 9), b.size) != 0) b.p = NULL; break;
      }
      if (b.p == NULL) { t->nulls++; continue; }
      t->allocs++;
      ht_fill(b);
      mine[n_mine++] = b;
    } else if (op <= 8 && n_heap < CAP) { /* the thread's own heap */
      b.size = ht_random_size(&rng);
      if (op == 6) b.p = mia_heap_malloc(heap, b.size);
      else if (op == 7) {
        b.size = 2 * ((b.size + 1) / 2); /* what calloc is asked for (a sized free must say it) */
        b.p = mia_heap_calloc(heap, 2, b.size / 2);
      }
      else b.p = mia_heap_malloc_aligned(heap, b.size, (size_t)16 << rng_range(&rng, 0, 2));
      if (b.p == NULL) { t->nulls++; continue; }
      t->allocs++;
      ht_fill(b);
      in_heap[n_heap++] = b;
    } else if (op == 9 && n_mine > 0) { /* realloc one of ours (never a block of another thread) */
      size_t i = rng_range(&rng, 0, n_mine - 1);
      if (!ht_intact(mine[i])) t->bad++;
      size_t newsize = ht_random_size(&rng);
      void* q = mia_realloc(mine[i].p, newsize);
      if (q == NULL) { t->nulls++; continue; }
      t->reallocs++;
      mine[i].p = q;
      mine[i].size = newsize;
      ht_fill(mine[i]);
    } else if (op <= 11 && n_mine > 0) { /* free one of ours */
      size_t i = rng_range(&rng, 0, n_mine - 1);
      ht_free(t, mine[i], &rng);
      mine[i] = mine[--n_mine];
    } else if (op == 12 && n_mine > 0) { /* send one to another thread */
      size_t i = rng_range(&rng, 0, n_mine - 1);
      ht_mailbox* m = &ht_boxes[(t->id + 1 + rng_range(&rng, 0, HT_THREADS - 2)) % HT_THREADS];
      pthread_mutex_lock(&m->lock);
      bool ok = m->n < m->cap;
      if (ok) m->items[m->n++] = mine[i];
      pthread_mutex_unlock(&m->lock);
      if (ok) {
        t->sent++;
        mine[i] = mine[--n_mine];
      }
    } else if (op == 13) { /* free what others sent */
      ht_mailbox* m = &ht_boxes[t->id];
      pthread_mutex_lock(&m->lock);
      size_t k = m->n < CAP ? m->n : CAP;
      m->n -= k;
      memcpy(inbox, m->items + m->n, k * sizeof(ht_block));
      pthread_mutex_unlock(&m->lock);
      for (size_t i = 0; i < k; i++) ht_free(t, inbox[i], &rng);
      t->received += k;
    } else if (op == 14 && n_heap > 0) { /* free one block of the own heap */
      size_t i = rng_range(&rng, 0, n_heap - 1);
      ht_free(t, in_heap[i], &rng);
      in_heap[i] = in_heap[--n_heap];
    } else if (op == 15 && rng_range(&rng, 0, 19) == 0) { /* destroy the own heap with its live blocks */
      for (size_t i = 0; i < n_heap; i++)
        if (!ht_intact(in_heap[i])) t->bad++;
      mia_heap_destroy(heap);
      t->destroyed += n_heap;
      /* every live block was reported freed (a block at that address now is someone else's) */
      for (size_t i = 0; i < n_heap; i++) t->destroy_missed += shadow_has(in_heap[i].p, heap);
      n_heap = 0;
      heap = mia_heap_new();
      if (heap == NULL) { t->nulls++; break; }
    } else if (op == 16) { /* the shared heap, through its non-owner path */
      b.size = rng_range(&rng, 8, 2000);
      b.p = mia_heap_malloc(ht_shared_heap, b.size);
      if (b.p == NULL) { t->nulls++; continue; }
      t->allocs++;
      ht_fill(b);
      if (rng_range(&rng, 0, 3) == 0) { /* left for the owner's destroy */
        pthread_mutex_lock(&ht_shared_lock);
        bool ok = ht_shared_left_n < ht_shared_left_cap;
        if (ok) ht_shared_left[ht_shared_left_n++] = b;
        pthread_mutex_unlock(&ht_shared_lock);
        if (!ok) ht_free(t, b, &rng);
      } else if (rng_range(&rng, 0, 2) == 0) { /* freed by another thread */
        ht_mailbox* m = &ht_boxes[(t->id + 1) % HT_THREADS];
        pthread_mutex_lock(&m->lock);
        bool ok = m->n < m->cap;
        if (ok) m->items[m->n++] = b;
        pthread_mutex_unlock(&m->lock);
        if (ok) t->sent++;
        else ht_free(t, b, &rng);
      } else { /* never realloc'ed: the old block, freed into the shared part, could be
                  handed to another thread before this thread's realloc report */
        ht_free(t, b, &rng);
      }
    }
  }
  /* the end: everyone stops sending, then drains and frees all */
  ht_barrier();
  {
    ht_mailbox* m = &ht_boxes[t->id];
    pthread_mutex_lock(&m->lock);
    for (size_t i = 0; i < m->n; i++) ht_free(t, m->items[i], &rng);
    t->received += m->n;
    m->n = 0;
    pthread_mutex_unlock(&m->lock);
  }
  for (size_t i = 0; i < n_mine; i++) ht_free(t, mine[i], &rng);
  for (size_t i = 0; i < n_heap; i++) ht_free(t, in_heap[i], &rng);
  if (heap != NULL) mia_heap_delete(heap);
  ht_barrier(); /* nobody exits before every block is back (heaps stay the blocks' heaps) */
  free(mine);
  free(in_heap);
  free(inbox);
  return NULL;
}

TEST(hooks_threads) {
  CHECK(mia_hooks_set(&shadow_hooks));
  shadow_reset();
  const size_t steps = runner.quick ? 15000 : 60000;
  ht_shared_heap = mia_heap_new();
  ht_shared_left_cap = HT_THREADS * steps;
  ht_shared_left = (ht_block*)malloc(ht_shared_left_cap * sizeof(ht_block));
  ht_shared_left_n = 0;
  CHECK(ht_shared_heap != NULL && ht_shared_left != NULL);
  if (ht_shared_heap == NULL || ht_shared_left == NULL) return;
  mia_heap_set_name(ht_shared_heap, "shared");
  for (size_t i = 0; i < HT_THREADS; i++) {
    pthread_mutex_init(&ht_boxes[i].lock, NULL);
    ht_boxes[i].cap = 4096;
    ht_boxes[i].n = 0;
    ht_boxes[i].items = (ht_block*)malloc(ht_boxes[i].cap * sizeof(ht_block));
    if (ht_boxes[i].items == NULL) abort();
  }
  static ht_thread threads[HT_THREADS];
  memset(threads, 0, sizeof threads);
  for (size_t i = 0; i < HT_THREADS; i++) {
    threads[i].id = i;
    threads[i].steps = steps;
    if (pthread_create(&threads[i].thread, NULL, ht_main, &threads[i]) != 0) abort();
  }
  for (size_t i = 0; i < HT_THREADS; i++) pthread_join(threads[i].thread, NULL);

  /* the shared heap goes with the blocks left in it */
  size_t bad_left = 0;
  for (size_t i = 0; i < ht_shared_left_n; i++)
    if (!ht_intact(ht_shared_left[i])) bad_left++;
  shadow_counts before = shadow_read();
  mia_heap_destroy(ht_shared_heap);
  shadow_counts after = shadow_read();
  size_t left_missed = 0;
  for (size_t i = 0; i < ht_shared_left_n; i++) left_missed += shadow_has(ht_shared_left[i].p, NULL);

  ht_thread sum;
  memset(&sum, 0, sizeof sum);
  for (size_t i = 0; i < HT_THREADS; i++) {
    sum.allocs += threads[i].allocs;
    sum.frees += threads[i].frees;
    sum.reallocs += threads[i].reallocs;
    sum.destroyed += threads[i].destroyed;
    sum.destroy_missed += threads[i].destroy_missed;
    sum.bad += threads[i].bad;
    sum.nulls += threads[i].nulls;
    sum.sent += threads[i].sent;
    sum.received += threads[i].received;
  }
  shadow_counts c = shadow_read();
  CHECK_SHADOW_CLEAN();
  CHECK_EQ_SZ(sum.nulls, 0);
  CHECK_EQ_SZ(sum.bad + bad_left, 0);
  CHECK_EQ_SZ(sum.sent, sum.received);
  CHECK_GT_SZ(sum.sent, 0);
  CHECK_GT_SZ(sum.destroyed, 0);
  CHECK_GT_SZ(ht_shared_left_n, 0);
  CHECK_EQ_SZ(c.allocs, sum.allocs);
  CHECK_EQ_SZ(c.reallocs, sum.reallocs);
  CHECKF(c.frees == sum.frees + sum.destroyed + ht_shared_left_n, "%zu free reports; %zu frees + %zu destroyed + %zu left",
         c.frees, sum.frees, sum.destroyed, ht_shared_left_n);
  CHECK_EQ_SZ(sum.destroy_missed, 0);
  CHECKF(after.frees - before.frees == ht_shared_left_n, "destroying the shared heap: %zu reports for %zu blocks",
         after.frees - before.frees, ht_shared_left_n);
  CHECK_EQ_SZ(left_missed, 0);
  CHECKF(c.live == 0, "%zu blocks still live in the map", c.live);
  mia_hooks_set(NULL);
  for (size_t i = 0; i < HT_THREADS; i++) {
    pthread_mutex_destroy(&ht_boxes[i].lock);
    free(ht_boxes[i].items);
  }
  free(ht_shared_left);
}

/* ---------------------------------------------------------------------------
   MIALLOC_STATS: exact peaks
--------------------------------------------------------------------------- */

TEST(stats_peak) {
  mia_hooks_set(NULL);
  mia_heap_t* heap = mia_heap_new();
  CHECK_NOT_NULL(heap);
  if (heap == NULL) return;
  enum { CAP = 1024 };
  static void* live[CAP];
  size_t n = 0, cur = 0, peak = 0, allocs = 0, frees = 0, mismatch = 0, nulls = 0;
  uint64_t rng = 0x5EED5EEDULL;
  const size_t steps = runner.quick ? 20000 : 100000;
  for (size_t step = 0; step < steps; step++) {
    size_t op = rng_range(&rng, 0, 9);
    if (n > 0 && (op < 4 || n == CAP)) {
      size_t i = rng_range(&rng, 0, n - 1);
      cur -= mia_usable_size(live[i]);
      mia_free(live[i]);
      frees++;
      live[i] = live[--n];
    } else if (n > 0 && op < 6) {
      size_t i = rng_range(&rng, 0, n - 1);
      size_t old = mia_usable_size(live[i]);
      size_t size = ht_random_size(&rng);
      void* q = mia_heap_realloc(heap, live[i], size);
      if (q == NULL) { nulls++; continue; }
      if (q != live[i]) { /* moved: a new block, then the old one freed */
        cur += mia_usable_size(q);
        if (cur > peak) peak = cur;
        cur -= old;
        allocs++;
        frees++;
      }
      live[i] = q;
    } else {
      void* p = mia_heap_malloc(heap, ht_random_size(&rng));
      if (p == NULL) { nulls++; continue; }
      live[n++] = p;
      cur += mia_usable_size(p);
      if (cur > peak) peak = cur;
      allocs++;
    }
    if (step % 1000 == 999) {
      mia_heap_stats_t st;
      mia_heap_stats_get(heap, &st);
      if (st.peak_live_bytes != peak || st.live_bytes != cur || st.allocs != allocs || st.frees != frees) {
        if (mismatch++ == 0)
          fprintf(stderr, "step %zu: peak %zu (shadow %zu), live %zu (%zu), allocs %zu (%zu), frees %zu (%zu)\n", step,
                  st.peak_live_bytes, peak, st.live_bytes, cur, st.allocs, allocs, st.frees, frees);
      }
    }
  }
  CHECK_EQ_SZ(nulls, 0);
  CHECK_EQ_SZ(mismatch, 0);
  mia_heap_stats_t st;
  CHECK(mia_heap_stats_get(heap, &st));
  CHECK_EQ_SZ(st.peak_live_bytes, peak);
  CHECK_EQ_SZ(st.allocs, allocs);
  CHECK_EQ_SZ(st.frees, frees);
  for (size_t i = 0; i < n; i++) mia_free(live[i]);
  CHECK(mia_heap_stats_get(heap, &st));
  CHECK_EQ_SZ(st.live_bytes, 0);
  CHECK_EQ_SZ(st.peak_live_bytes, peak); /* the peak stays */
  CHECK_EQ_SZ(st.frees, frees + n);
  mia_heap_destroy(heap);
}

/* Frees by another thread count once the owner collects them. */
static void* stats_remote_free(void* arg) {
  void** blocks = (void**)arg;
  for (size_t i = 0; i < 100; i++) mia_free(blocks[i]);
  return NULL;
}

TEST(stats_remote) {
  mia_heap_t* heap = mia_heap_new();
  CHECK_NOT_NULL(heap);
  if (heap == NULL) return;
  void* blocks[100];
  size_t sum = 0;
  for (size_t i = 0; i < 100; i++) {
    blocks[i] = mia_heap_malloc(heap, 100);
    sum += mia_usable_size(blocks[i]);
  }
  pthread_t t;
  CHECK_EQ_INT(pthread_create(&t, NULL, stats_remote_free, blocks), 0);
  pthread_join(t, NULL);
  mia_heap_stats_t st;
  CHECK(mia_heap_stats_get(heap, &st));
  CHECK_EQ_SZ(st.allocs, 100);
  CHECK_EQ_SZ(st.frees, 100);
  CHECK_EQ_SZ(st.live_bytes, 0);
  CHECK_EQ_SZ(st.peak_live_bytes, sum);
  mia_heap_destroy(heap);
}

int main(int argc, char** argv) {
  runner.filter = (argc > 1 && argv[1][0] != 0) ? argv[1] : NULL;
  runner.quick = getenv("MIALLOC_TEST_QUICK") != NULL;
  setvbuf(stdout, NULL, _IOLBF, 0);
  if (!shadow_init((size_t)1 << 20)) return 1;
  double t0 = runner_now();
  RUN(hooks_each_call);
  RUN(hooks_sampling);
  RUN(hooks_threads);
  RUN(stats_peak);
  RUN(stats_remote);
  printf("total %.2f s%s\n", runner_now() - t0, runner.quick ? " (quick)" : "");
  free(shadow.slots);
  return runner_finish();
}
