/* test_engine.c - the game-engine facilities: heap statistics, budgets,
   heaps used from any thread, names and the JSON report.

   - engine_stats_exact: one heap, random malloc/calloc/realloc/free; every
     few hundred steps mia_heap_stats_get must agree with a shadow count
     (live_blocks exactly, live_bytes = the sum of mia_usable_size; in builds
     with block padding, MIALLOC_DEBUG >= 1 or MIALLOC_SECURE >= 4, where
     mia_usable_size is the size asked for, live_bytes is only bounded below).
   - engine_limit_threads: a heap made by the test thread with a budget;
     8 workers allocate from it at once (the non-owner path) and free their
     own and each other's blocks. Allocations past the budget fail with ENOMEM
     (errno and the error function), committed_bytes, measured by the owner
     while the workers wait at a barrier, stays within limit + 2 small pages,
     and allocations succeed again once blocks are freed.
   - engine_heap_lifecycle: thread A makes a heap, B..E allocate from it at
     once, F frees half of their blocks, G (not A) verifies the rest and
     destroys the heap, with A alive (it then takes slow paths, which carry
     out the request) or gone as soon as B..E have started (the heap lives
     on through its shared part; they finish without A). Clean under TSan
     and ASan.
   - engine_names, engine_json: names round-trip (31 characters kept), and
     mia_stats_print_json is valid JSON that carries an escaped name.

   Threads never CHECK in their loops: they count, and the test thread
   checks the counts after a join or at a barrier, so the number of CHECKs is
   the same on every run and every target (tests/ports/check_n.sh). */
#include "../mialloc.h"
#include "runner.h"

#include <errno.h>
#include <pthread.h>

void tests_engine(void);

/* Two strings are equal (both printed on failure). */
#define ENGINE_CHECK_STR(a, b) CHECKF(strcmp((a), (b)) == 0, "\"%s\" != \"%s\"", (a), (b))

/* Small pages are 64 KiB (MIALLOC_SMALL_PAGE_SHIFT 16 by default). */
#define ENGINE_SMALL_PAGE ((size_t)64 * 1024)

/* True when blocks carry padding: mia_usable_size is then the size asked for. */
static bool engine_padded(void) {
  void* p = mia_malloc(opaque_size(1));
  bool padded = (p != NULL && mia_usable_size(p) == 1);
  mia_free(p);
  return padded;
}

/* A reusable barrier (pthread_barrier_t is not on every target). */
typedef struct engine_barrier {
  pthread_mutex_t lock;
  pthread_cond_t cond;
  unsigned count, waiting, generation;
} engine_barrier;

static void engine_barrier_init(engine_barrier* b, unsigned count) {
  pthread_mutex_init(&b->lock, NULL);
  pthread_cond_init(&b->cond, NULL);
  b->count = count;
  b->waiting = 0;
  b->generation = 0;
}

static void engine_barrier_wait(engine_barrier* b) {
  pthread_mutex_lock(&b->lock);
  unsigned gen = b->generation;
  if (++b->waiting == b->count) {
    b->waiting = 0;
    b->generation++;
    pthread_cond_broadcast(&b->cond);
  } else {
    while (gen == b->generation) pthread_cond_wait(&b->cond, &b->lock);
  }
  pthread_mutex_unlock(&b->lock);
}

static void engine_barrier_fini(engine_barrier* b) {
  pthread_cond_destroy(&b->cond);
  pthread_mutex_destroy(&b->lock);
}

/* A one-shot event. */
typedef struct engine_event {
  pthread_mutex_t lock;
  pthread_cond_t cond;
  bool set;
} engine_event;

static void engine_event_init(engine_event* e) {
  pthread_mutex_init(&e->lock, NULL);
  pthread_cond_init(&e->cond, NULL);
  e->set = false;
}
static void engine_event_set(engine_event* e) {
  pthread_mutex_lock(&e->lock);
  e->set = true;
  pthread_cond_broadcast(&e->cond);
  pthread_mutex_unlock(&e->lock);
}
static void engine_event_wait(engine_event* e) {
  pthread_mutex_lock(&e->lock);
  while (!e->set) pthread_cond_wait(&e->cond, &e->lock);
  pthread_mutex_unlock(&e->lock);
}
static void engine_event_fini(engine_event* e) {
  pthread_cond_destroy(&e->cond);
  pthread_mutex_destroy(&e->lock);
}

/* The pattern seed of a block: its address and size, so any thread can check it. */
static uint64_t engine_seed(const void* p, size_t size) {
  return (uint64_t)(uintptr_t)p * 0x9E3779B97F4A7C15ULL + size;
}

/* ---------------------------------------------------------------------------
   Statistics against a shadow count
--------------------------------------------------------------------------- */

typedef struct shadow_block {
  void* p;
  size_t usable;
} shadow_block;

/* Log-uniform 8 B..32 KiB, a medium or large block now and then. */
static size_t engine_random_size(uint64_t* rng) {
  size_t r = rng_range(rng, 0, 99);
  if (r == 0) return rng_range(rng, 600 * KiB, 2 * MiB); /* large and huge pages */
  if (r < 4) return rng_range(rng, 40 * KiB, 300 * KiB); /* medium pages */
  size_t lo = (size_t)1 << rng_range(rng, 3, 14);
  return rng_range(rng, lo, 2 * lo);
}

TEST(engine_stats_exact) {
  const bool padded = engine_padded();
  const size_t steps = runner.quick ? 6000 : 40000;
  const size_t cap = 512;
  shadow_block* live = (shadow_block*)calloc(cap, sizeof(shadow_block));
  mia_heap_t* heap = mia_heap_new();
  CHECK_NOT_NULL(heap);
  if (live == NULL || heap == NULL) {
    free(live);
    return;
  }
  uint64_t rng = 0xE17C0DE5ULL;
  size_t n = 0, nulls = 0, compares = 0, block_mismatch = 0, byte_mismatch = 0, byte_below = 0, bad = 0;
  size_t first_bad_step = 0, first_bad_stats = 0, first_bad_shadow = 0;
  for (size_t step = 0; step < steps; step++) {
    size_t op = rng_range(&rng, 0, 9);
    if (n > 0 && (op < 3 || n == cap)) { /* free */
      size_t i = rng_range(&rng, 0, n - 1);
      mia_free(live[i].p);
      live[i] = live[--n];
    } else if (n > 0 && op < 5) { /* realloc: grow or shrink */
      size_t i = rng_range(&rng, 0, n - 1);
      size_t size = engine_random_size(&rng);
      void* q = mia_heap_realloc(heap, live[i].p, size);
      if (q == NULL) nulls++;
      else {
        live[i].p = q;
        live[i].usable = mia_usable_size(q);
      }
    } else { /* allocate */
      size_t size = engine_random_size(&rng);
      void* p = (op == 9) ? mia_heap_calloc(heap, 1, size) : mia_heap_malloc(heap, size);
      if (p == NULL) nulls++;
      else {
        live[n].p = p;
        live[n].usable = mia_usable_size(p);
        n++;
      }
    }
    if (step % 97 == 0 || step + 1 == steps) {
      mia_heap_stats_t st;
      if (!mia_heap_stats_get(heap, &st)) bad++;
      size_t sum = 0;
      for (size_t i = 0; i < n; i++) sum += live[i].usable;
      compares++;
      if (st.live_blocks != n) block_mismatch++;
      if (padded ? st.live_bytes < sum : st.live_bytes != sum) {
        if (byte_mismatch++ == 0) {
          first_bad_step = step;
          first_bad_stats = st.live_bytes;
          first_bad_shadow = sum;
        }
      }
      if (st.committed_bytes < st.live_bytes || (n > 0 && st.pages == 0)) byte_below++;
    }
  }
  CHECK_EQ_SZ(nulls, 0);
  CHECK_EQ_SZ(bad, 0);
  CHECK_GT_SZ(compares, 50);
  CHECK_EQ_SZ(block_mismatch, 0);
  CHECKF(byte_mismatch == 0, "%zu of %zu comparisons differ; first at step %zu: live_bytes %zu, shadow %zu%s",
         byte_mismatch, compares, first_bad_step, first_bad_stats, first_bad_shadow,
         padded ? " (padded build: live_bytes must be >= the sum of usable sizes)" : "");
  CHECK_EQ_SZ(byte_below, 0);

  /* Everything freed: nothing live; the heap still holds or has given back its pages. */
  for (size_t i = 0; i < n; i++) mia_free(live[i].p);
  mia_heap_stats_t st;
  CHECK(mia_heap_stats_get(heap, &st));
  CHECK_EQ_SZ(st.live_blocks, 0);
  CHECK_EQ_SZ(st.live_bytes, 0);
  mia_heap_collect(heap, true);
  CHECK(mia_heap_stats_get(heap, &st));
  CHECK_EQ_SZ(st.pages, 0);
  CHECK_EQ_SZ(st.committed_bytes, 0);
  mia_heap_destroy(heap);
  free(live);

  /* NULL arguments; a fresh heap is all zero. */
  CHECK(!mia_heap_stats_get(NULL, &st));
  heap = mia_heap_new();
  CHECK(!mia_heap_stats_get(heap, NULL));
  memset(&st, 0xFF, sizeof st);
  CHECK(mia_heap_stats_get(heap, &st));
  CHECK_EQ_SZ(st.live_blocks + st.live_bytes + st.committed_bytes + st.pages, 0);
  mia_heap_delete(heap);
}

/* Blocks freed by another thread count once the owner collects them, which
   mia_heap_stats_get does first. */
typedef struct remote_free_arg {
  void** blocks;
  size_t n;
} remote_free_arg;

static void* remote_free_main(void* arg) {
  remote_free_arg* a = (remote_free_arg*)arg;
  for (size_t i = 0; i < a->n; i += 2) mia_free(a->blocks[i]);
  return NULL;
}

TEST(engine_stats_remote_free) {
  enum { N = 1000 };
  void** blocks = (void**)malloc(N * sizeof(void*));
  mia_heap_t* heap = mia_heap_new();
  CHECK_NOT_NULL(heap);
  if (blocks == NULL || heap == NULL) {
    free(blocks);
    return;
  }
  size_t sum = 0, kept = 0, nulls = 0;
  for (size_t i = 0; i < N; i++) {
    blocks[i] = mia_heap_malloc(heap, 24 + (i % 7) * 40);
    if (blocks[i] == NULL) { nulls++; continue; }
    sum += mia_usable_size(blocks[i]);
  }
  CHECK_EQ_SZ(nulls, 0);
  if (nulls != 0) return;
  for (size_t i = 1; i < N; i += 2) kept += mia_usable_size(blocks[i]);
  mia_heap_stats_t st;
  CHECK(mia_heap_stats_get(heap, &st));
  if (!engine_padded()) CHECK_EQ_SZ(st.live_bytes, sum);
  else CHECK_GE_SZ(st.live_bytes, sum);
  remote_free_arg a = { blocks, N };
  pthread_t t;
  CHECK_EQ_INT(pthread_create(&t, NULL, remote_free_main, &a), 0);
  pthread_join(t, NULL);
  CHECK(mia_heap_stats_get(heap, &st));
  CHECK_EQ_SZ(st.live_blocks, N / 2);
  if (!engine_padded()) CHECK_EQ_SZ(st.live_bytes, kept);
  else CHECK_GE_SZ(st.live_bytes, kept);
  for (size_t i = 1; i < N; i += 2) mia_free(blocks[i]);
  CHECK(mia_heap_stats_get(heap, &st));
  CHECK_EQ_SZ(st.live_blocks, 0);
  mia_heap_destroy(heap);
  free(blocks);
}

/* ---------------------------------------------------------------------------
   A budget under 8 threads sharing one heap
--------------------------------------------------------------------------- */

#define LIMIT_WORKERS 8
#define LIMIT_ROUNDS 4

typedef struct limit_shared {
  mia_heap_t* heap;
  engine_barrier barrier;     /* workers + the test thread */
  size_t per_worker;          /* most blocks a worker holds */
  void** blocks[LIMIT_WORKERS];
  size_t count[LIMIT_WORKERS];
  /* per round, written by each worker before a barrier, read by the test thread after it */
  size_t ok[LIMIT_ROUNDS][LIMIT_WORKERS];
  size_t failed[LIMIT_ROUNDS][LIMIT_WORKERS];
  size_t wrong_errno[LIMIT_WORKERS];
  size_t bad[LIMIT_WORKERS];
  size_t after_free_ok[LIMIT_WORKERS];
} limit_shared;

typedef struct limit_worker_arg {
  limit_shared* sh;
  size_t id;
} limit_worker_arg;

static _Atomic size_t limit_enomem_calls;
static _Atomic size_t limit_other_errors;

static void limit_error_fun(int err, void* arg) {
  (void)arg;
  if (err == ENOMEM) atomic_fetch_add_explicit(&limit_enomem_calls, 1, memory_order_relaxed);
  else atomic_fetch_add_explicit(&limit_other_errors, 1, memory_order_relaxed);
}

static void* limit_worker(void* arg) {
  limit_worker_arg* wa = (limit_worker_arg*)arg;
  limit_shared* sh = wa->sh;
  const size_t id = wa->id;
  uint64_t rng = 0x1234567ULL * (id + 1);
  void** mine = sh->blocks[id];
  for (size_t round = 0; round < LIMIT_ROUNDS; round++) {
    /* fill: allocate until the budget stops us (a few failures in a row) or the array is full */
    size_t fails_in_row = 0;
    while (sh->count[id] < sh->per_worker && fails_in_row < 4) {
      size_t size = rng_range(&rng, 16, 1024);
      errno = 0;
      void* p = mia_heap_malloc(sh->heap, size);
      if (p == NULL) {
        if (errno != ENOMEM) sh->wrong_errno[id]++;
        sh->failed[round][id]++;
        fails_in_row++;
        continue;
      }
      fails_in_row = 0;
      sh->ok[round][id]++;
      ((size_t*)p)[0] = size; /* the first word says the size, the pattern fills the rest */
      pattern_fill((unsigned char*)p + sizeof(size_t), size - sizeof(size_t), engine_seed(p, size));
      mine[sh->count[id]++] = p;
    }
    engine_barrier_wait(&sh->barrier); /* 1: filled; the owner measures */
    engine_barrier_wait(&sh->barrier); /* 2: measured */
    /* free 3 blocks in 4: those of every worker whose index k has k % LIMIT_WORKERS == id,
       so each block is freed by one thread, most of them not the one that made it */
    for (size_t w = 0; w < LIMIT_WORKERS; w++) {
      void** theirs = sh->blocks[w];
      for (size_t k = id; k < sh->count[w]; k += LIMIT_WORKERS) {
        if ((k / LIMIT_WORKERS) % 4 == 0) continue;
        void* p = theirs[k];
        size_t size = ((size_t*)p)[0];
        if (size < 16 || size > 1024 ||
            pattern_check((unsigned char*)p + sizeof(size_t), size - sizeof(size_t), engine_seed(p, size)) !=
                size - sizeof(size_t))
          sh->bad[id]++;
        mia_free(p);
        theirs[k] = NULL;
      }
    }
    engine_barrier_wait(&sh->barrier); /* 3: freed */
    size_t n = 0;
    for (size_t k = 0; k < sh->count[id]; k++)
      if (mine[k] != NULL) mine[n++] = mine[k];
    sh->count[id] = n;
    /* right after the frees an allocation must succeed again */
    void* p = mia_heap_malloc(sh->heap, 64);
    if (p != NULL) {
      sh->after_free_ok[id]++;
      mia_free(p);
    }
    engine_barrier_wait(&sh->barrier); /* 4: compacted; the owner measures */
    engine_barrier_wait(&sh->barrier); /* 5: measured */
  }
  /* the end: free what is left (the other threads' blocks, too: index k % 8 == id) */
  engine_barrier_wait(&sh->barrier);
  for (size_t w = 0; w < LIMIT_WORKERS; w++)
    for (size_t k = id; k < sh->count[w]; k += LIMIT_WORKERS) mia_free(sh->blocks[w][k]);
  engine_barrier_wait(&sh->barrier);
  return NULL;
}

TEST(engine_limit_threads) {
  const size_t limit = runner.quick ? 3 * MiB : 6 * MiB;
  const size_t slack = 2 * ENGINE_SMALL_PAGE;
  static limit_shared sh;
  memset(&sh, 0, sizeof sh);
  sh.heap = mia_heap_new();
  CHECK_NOT_NULL(sh.heap);
  if (sh.heap == NULL) return;
  mia_heap_set_name(sh.heap, "budget");
  mia_heap_set_limit(sh.heap, limit);
  CHECK_EQ_SZ(mia_heap_get_limit(sh.heap), limit);
  /* each worker may hold a third of the limit in 520-byte blocks: 8 of them must hit it */
  sh.per_worker = limit / 3 / 520;
  bool alloc_ok = true;
  for (size_t w = 0; w < LIMIT_WORKERS; w++) {
    sh.blocks[w] = (void**)calloc(sh.per_worker, sizeof(void*));
    if (sh.blocks[w] == NULL) alloc_ok = false;
  }
  CHECK(alloc_ok);
  if (!alloc_ok) {
    for (size_t w = 0; w < LIMIT_WORKERS; w++) free(sh.blocks[w]);
    mia_heap_destroy(sh.heap);
    return;
  }
  atomic_store(&limit_enomem_calls, 0);
  atomic_store(&limit_other_errors, 0);
  mia_register_error(limit_error_fun, NULL);
  const bool show_errors = mia_option_is_enabled(mia_option_show_errors);
  mia_option_disable(mia_option_show_errors); /* debug builds would print every refusal */
  engine_barrier_init(&sh.barrier, LIMIT_WORKERS + 1);
  pthread_t threads[LIMIT_WORKERS];
  limit_worker_arg args[LIMIT_WORKERS];
  size_t started = 0;
  for (size_t w = 0; w < LIMIT_WORKERS; w++) {
    args[w].sh = &sh;
    args[w].id = w;
    if (pthread_create(&threads[w], NULL, limit_worker, &args[w]) == 0) started++;
  }
  CHECK_EQ_SZ(started, LIMIT_WORKERS);
  if (started != LIMIT_WORKERS) abort(); /* the barrier would never open */

  size_t max_committed = 0, rounds_over = 0, rounds_failing = 0, rounds_refill = 0, stats_bad = 0;
  size_t live_after_free_bad = 0, name_bad = 0;
  for (size_t round = 0; round < LIMIT_ROUNDS; round++) {
    engine_barrier_wait(&sh.barrier); /* 1: workers filled; they wait */
    mia_heap_stats_t st;
    if (!mia_heap_stats_get(sh.heap, &st)) stats_bad++;
    if (st.committed_bytes > max_committed) max_committed = st.committed_bytes;
    if (st.committed_bytes > limit + slack) rounds_over++;
    size_t ok = 0, failed = 0, held = 0;
    for (size_t w = 0; w < LIMIT_WORKERS; w++) {
      ok += sh.ok[round][w];
      failed += sh.failed[round][w];
      held += sh.count[w];
    }
    if (failed > 0) rounds_failing++;
    if (ok > 0) rounds_refill++;
    if (st.live_blocks != held) stats_bad++;
    if (strcmp(mia_heap_get_name(sh.heap), "budget") != 0) name_bad++;
    engine_barrier_wait(&sh.barrier); /* 2 */
    engine_barrier_wait(&sh.barrier); /* 3: freed */
    engine_barrier_wait(&sh.barrier); /* 4: compacted */
    if (!mia_heap_stats_get(sh.heap, &st)) stats_bad++;
    held = 0;
    for (size_t w = 0; w < LIMIT_WORKERS; w++) held += sh.count[w];
    if (st.live_blocks != held) live_after_free_bad++;
    if (st.committed_bytes > max_committed) max_committed = st.committed_bytes;
    if (st.committed_bytes > limit + slack) rounds_over++;
    engine_barrier_wait(&sh.barrier); /* 5 */
  }
  engine_barrier_wait(&sh.barrier);
  engine_barrier_wait(&sh.barrier); /* all freed */
  for (size_t w = 0; w < LIMIT_WORKERS; w++) pthread_join(threads[w], NULL);
  mia_register_error(NULL, NULL);
  mia_option_set_enabled(mia_option_show_errors, show_errors);

  size_t wrong_errno = 0, bad = 0, after_free_ok = 0, failed = 0;
  for (size_t w = 0; w < LIMIT_WORKERS; w++) {
    wrong_errno += sh.wrong_errno[w];
    bad += sh.bad[w];
    after_free_ok += sh.after_free_ok[w];
    for (size_t r = 0; r < LIMIT_ROUNDS; r++) failed += sh.failed[r][w];
  }
  CHECKF(max_committed <= limit + slack, "committed %zu > limit %zu + 2 pages", max_committed, limit);
  CHECK_EQ_SZ(rounds_over, 0);
  CHECK_EQ_SZ(rounds_failing, LIMIT_ROUNDS);  /* every round ran into the budget */
  CHECK_EQ_SZ(rounds_refill, LIMIT_ROUNDS);   /* and allocated again after the frees */
  CHECK_EQ_SZ(after_free_ok, LIMIT_WORKERS * LIMIT_ROUNDS);
  CHECK_EQ_SZ(wrong_errno, 0);
  CHECK_EQ_SZ(bad, 0);
  CHECK_EQ_SZ(stats_bad, 0);
  CHECK_EQ_SZ(live_after_free_bad, 0);
  CHECK_EQ_SZ(name_bad, 0);
  /* the error function saw one ENOMEM per failed allocation, and nothing else */
  CHECK_EQ_SZ(atomic_load(&limit_enomem_calls), failed);
  CHECK_EQ_SZ(atomic_load(&limit_other_errors), 0);

  /* everything freed: the owner allocates up to the limit again, and fails past it */
  mia_heap_stats_t st;
  CHECK(mia_heap_stats_get(sh.heap, &st));
  CHECK_EQ_SZ(st.live_blocks, 0);
  size_t got = 0;
  size_t max_blocks = limit / 512 + 256; /* more than the budget can hold */
  void** mine = (void**)malloc(max_blocks * sizeof(void*));
  CHECK_NOT_NULL(mine);
  if (mine == NULL) max_blocks = 0;
  errno = 0;
  while (got < max_blocks) {
    void* p = mia_heap_malloc(sh.heap, 512);
    if (p == NULL) break;
    mine[got++] = p;
  }
  CHECKF(got * 512 >= limit / 2, "the owner got only %zu blocks of 512 bytes under a limit of %zu", got, limit);
  CHECK(got < max_blocks);  /* it stopped at the budget, not at the array's end */
  CHECK_EQ_INT(errno, ENOMEM);
  CHECK(mia_heap_stats_get(sh.heap, &st));
  CHECK_LE_SZ(st.committed_bytes, limit + slack);
  for (size_t i = 0; i < got; i++) mia_free(mine[i]);
  free(mine);
  void* again = mia_heap_malloc(sh.heap, 512);
  CHECK_NOT_NULL(again);
  mia_free(again);
  /* no limit: past it */
  mia_heap_set_limit(sh.heap, 0);
  CHECK_EQ_SZ(mia_heap_get_limit(sh.heap), 0);
  mia_heap_destroy(sh.heap);
  engine_barrier_fini(&sh.barrier);
  for (size_t w = 0; w < LIMIT_WORKERS; w++) free(sh.blocks[w]);
}

/* A budget on a heap its owner uses alone: the first page past it fails, the error
   function is called with ENOMEM, and a large block past it fails as well. */
static _Atomic int limit_last_err;
static void limit_last_error_fun(int err, void* arg) {
  (void)arg;
  atomic_store(&limit_last_err, err);
}

TEST(engine_limit_owner) {
  mia_heap_t* heap = mia_heap_new();
  CHECK_NOT_NULL(heap);
  if (heap == NULL) return;
  const size_t limit = 1 * MiB;
  mia_heap_set_limit(heap, limit);
  atomic_store(&limit_last_err, 0);
  mia_register_error(limit_last_error_fun, NULL);
  const bool show_errors = mia_option_is_enabled(mia_option_show_errors);
  mia_option_disable(mia_option_show_errors);
  errno = 0;
  void* big = mia_heap_malloc(heap, 2 * MiB);
  CHECK_NULL(big);
  CHECK_EQ_INT(errno, ENOMEM);
  CHECK_EQ_INT(atomic_load(&limit_last_err), ENOMEM);
  size_t n = 0, nulls = 0;
  void* blocks[4096];
  for (size_t i = 0; i < 4096; i++) {
    blocks[n] = mia_heap_malloc(heap, 1000);
    if (blocks[n] == NULL) nulls++;
    else n++;
  }
  CHECK_GT_SZ(nulls, 0);
  CHECK_GE_SZ(n * 1024, limit - 2 * ENGINE_SMALL_PAGE);
  mia_heap_stats_t st;
  CHECK(mia_heap_stats_get(heap, &st));
  CHECK_LE_SZ(st.committed_bytes, limit + ENGINE_SMALL_PAGE);
  /* a medium block needs a 512 KiB page: fails while the small pages fill the budget */
  CHECK_NULL(mia_heap_malloc(heap, 100 * KiB));
  for (size_t i = 0; i < n; i++) mia_free(blocks[i]);
  /* the empty small pages are given back first, so the medium page fits now */
  void* medium = mia_heap_malloc(heap, 100 * KiB);
  CHECK_NOT_NULL(medium);
  mia_free(medium);
  mia_register_error(NULL, NULL);
  mia_option_set_enabled(mia_option_show_errors, show_errors);
  mia_heap_destroy(heap);
}

/* ---------------------------------------------------------------------------
   A heap made by A, allocated from by B..E, freed by F, destroyed by G
--------------------------------------------------------------------------- */

#define LIFE_ALLOCATORS 4   /* B..E */
#define LIFE_OWN_BLOCKS 64  /* made by A itself (the owner's part) */

typedef struct life_block {
  void* p;
  size_t size;
} life_block;

typedef struct life_state {
  bool owner_exits_first;
  size_t per_allocator;
  mia_heap_t* heap;            /* published by A */
  engine_event heap_ready;     /* A made the heap and its own blocks */
  engine_event all_started;    /* B..E each allocated once (so the shared part exists) */
  engine_event owner_gone;     /* A was joined (variant: the owner exits first) */
  engine_event destroyed;      /* G destroyed the heap */
  life_block own[LIFE_OWN_BLOCKS];
  /* B..E push, F pops: a mutex-protected queue of blocks */
  pthread_mutex_t lock;
  pthread_cond_t cond;
  life_block* queue;
  size_t queue_n, queue_cap, producers_started, producers_done;
  life_block* survivors;       /* F keeps every other block for G */
  size_t survivors_n;
  size_t made, freed_by_f, bad_f, bad_g, nulls, owner_slow_paths;
} life_state;

static void* life_owner(void* arg) { /* A */
  life_state* s = (life_state*)arg;
  mia_heap_t* heap = mia_heap_new();
  if (heap != NULL) {
    mia_heap_set_name(heap, "level");
    for (size_t i = 0; i < LIFE_OWN_BLOCKS; i++) {
      size_t size = 16 + i * 24;
      void* p = mia_heap_malloc(heap, size);
      s->own[i].p = p;
      s->own[i].size = size;
      if (p != NULL) pattern_fill(p, size, engine_seed(p, size));
    }
  }
  s->heap = heap;
  engine_event_set(&s->heap_ready);
  if (heap == NULL) return NULL;
  if (s->owner_exits_first) { /* the heap outlives its owner: it is used through its shared part */
    engine_event_wait(&s->all_started);
    return NULL;
  }
  engine_event_wait(&s->destroyed);
  /* slow paths: the owner carries out the destroy request on one of them */
  void* keep[64];
  for (size_t i = 0; i < 64; i++) {
    keep[i] = mia_malloc(1 + i * 700); /* a new size class each time: mostly slow paths */
    if (keep[i] != NULL) memset(keep[i], 0xA5, 1 + i * 700);
  }
  for (size_t i = 0; i < 64; i++) mia_free(keep[i]);
  mia_collect(false);
  s->owner_slow_paths = 64;
  return NULL;
}

static void* life_allocator(void* arg) { /* B..E */
  life_state* s = (life_state*)arg;
  engine_event_wait(&s->heap_ready);
  uint64_t rng = (uint64_t)(uintptr_t)&rng | 1;
  size_t nulls = 0, made = 0;
  for (size_t i = 0; i < s->per_allocator && s->heap != NULL; i++) {
    if (i == 1) {
      pthread_mutex_lock(&s->lock);
      bool last = (++s->producers_started == LIFE_ALLOCATORS);
      pthread_mutex_unlock(&s->lock);
      if (last) engine_event_set(&s->all_started);
    }
    if (i == s->per_allocator / 2 && s->owner_exits_first) engine_event_wait(&s->owner_gone); /* the rest without it */
    size_t size = (i % 16 == 15) ? rng_range(&rng, 2 * KiB, 20 * KiB) : rng_range(&rng, 8, 512);
    void* p = (i % 3 == 0) ? mia_heap_zalloc(s->heap, size) : mia_heap_malloc(s->heap, size);
    if (p == NULL) {
      nulls++;
      continue;
    }
    if (i % 3 == 0 && !mem_is(p, 0, size)) nulls++; /* counted as a failure */
    pattern_fill(p, size, engine_seed(p, size));
    made++;
    pthread_mutex_lock(&s->lock);
    if (s->queue_n < s->queue_cap) s->queue[s->queue_n++] = (life_block){ p, size };
    pthread_cond_signal(&s->cond);
    pthread_mutex_unlock(&s->lock);
  }
  pthread_mutex_lock(&s->lock);
  s->made += made;
  s->nulls += nulls;
  s->producers_done++;
  pthread_cond_broadcast(&s->cond);
  pthread_mutex_unlock(&s->lock);
  return NULL;
}

static void* life_freer(void* arg) { /* F */
  life_state* s = (life_state*)arg;
  size_t seen = 0, bad = 0, freed = 0;
  for (;;) {
    pthread_mutex_lock(&s->lock);
    while (s->queue_n == 0 && s->producers_done < LIFE_ALLOCATORS) pthread_cond_wait(&s->cond, &s->lock);
    if (s->queue_n == 0) {
      pthread_mutex_unlock(&s->lock);
      break;
    }
    life_block b = s->queue[--s->queue_n];
    pthread_mutex_unlock(&s->lock);
    if (pattern_check(b.p, b.size, engine_seed(b.p, b.size)) != b.size) bad++;
    if (seen++ % 2 == 0) {
      mia_free(b.p);
      freed++;
    } else {
      s->survivors[s->survivors_n++] = b; /* F alone writes it; G reads it after joining F */
    }
  }
  /* with the owner gone, its part's blocks live on: F frees them */
  if (s->owner_exits_first) {
    for (size_t i = 0; i < LIFE_OWN_BLOCKS; i++) {
      if (s->own[i].p == NULL) continue;
      if (pattern_check(s->own[i].p, s->own[i].size, engine_seed(s->own[i].p, s->own[i].size)) != s->own[i].size) bad++;
      mia_free(s->own[i].p);
    }
  }
  s->bad_f = bad;
  s->freed_by_f = freed;
  return NULL;
}

static void* life_destroyer(void* arg) { /* G: runs after B..F are joined */
  life_state* s = (life_state*)arg;
  size_t bad = 0;
  for (size_t i = 0; i < s->survivors_n; i++)
    if (pattern_check(s->survivors[i].p, s->survivors[i].size, engine_seed(s->survivors[i].p, s->survivors[i].size)) !=
        s->survivors[i].size)
      bad++;
  if (!s->owner_exits_first) {
    for (size_t i = 0; i < LIFE_OWN_BLOCKS; i++)
      if (s->own[i].p == NULL ||
          pattern_check(s->own[i].p, s->own[i].size, engine_seed(s->own[i].p, s->own[i].size)) != s->own[i].size)
        bad++;
  }
  mia_heap_stats_t st; /* any thread may read the figures while the owner leaves the heap alone */
  if (!mia_heap_stats_get(s->heap, &st) || st.live_blocks < s->survivors_n) bad++;
  mia_heap_destroy(s->heap);
  s->bad_g = bad;
  engine_event_set(&s->destroyed);
  return NULL;
}

static void life_round(bool owner_exits_first, size_t per_allocator, size_t* totals) {
  life_state* s = (life_state*)calloc(1, sizeof(life_state));
  if (s == NULL) {
    totals[0]++;
    return;
  }
  s->owner_exits_first = owner_exits_first;
  s->per_allocator = per_allocator;
  s->queue_cap = LIFE_ALLOCATORS * per_allocator;
  s->queue = (life_block*)malloc(s->queue_cap * sizeof(life_block));
  s->survivors = (life_block*)malloc(s->queue_cap * sizeof(life_block));
  engine_event_init(&s->heap_ready);
  engine_event_init(&s->all_started);
  engine_event_init(&s->owner_gone);
  engine_event_init(&s->destroyed);
  pthread_mutex_init(&s->lock, NULL);
  pthread_cond_init(&s->cond, NULL);
  pthread_t a, f, g, alloc[LIFE_ALLOCATORS];
  size_t failed_create = 0;
  if (s->queue == NULL || s->survivors == NULL || pthread_create(&a, NULL, life_owner, s) != 0) {
    totals[0]++;
    goto done;
  }
  for (size_t i = 0; i < LIFE_ALLOCATORS; i++)
    if (pthread_create(&alloc[i], NULL, life_allocator, s) != 0) failed_create++;
  if (failed_create != 0 || pthread_create(&f, NULL, life_freer, s) != 0) abort(); /* nothing to unwind */
  if (owner_exits_first) { /* A returns once B..E have used the heap; joined, it has fully exited */
    pthread_join(a, NULL);
    engine_event_set(&s->owner_gone);
  }
  for (size_t i = 0; i < LIFE_ALLOCATORS; i++) pthread_join(alloc[i], NULL);
  pthread_join(f, NULL);
  if (s->heap == NULL || pthread_create(&g, NULL, life_destroyer, s) != 0) {
    totals[0]++;
    if (!owner_exits_first) {
      engine_event_set(&s->destroyed);
      pthread_join(a, NULL);
    }
    goto done;
  }
  pthread_join(g, NULL);
  if (!owner_exits_first) pthread_join(a, NULL);
  totals[1] += s->made;
  totals[2] += s->nulls;
  totals[3] += s->bad_f + s->bad_g;
  totals[4] += (s->freed_by_f + s->survivors_n == s->made) ? 0 : 1;
  totals[5] += s->survivors_n;
done:
  pthread_cond_destroy(&s->cond);
  pthread_mutex_destroy(&s->lock);
  engine_event_fini(&s->heap_ready);
  engine_event_fini(&s->all_started);
  engine_event_fini(&s->owner_gone);
  engine_event_fini(&s->destroyed);
  free(s->queue);
  free(s->survivors);
  free(s);
}

TEST(engine_heap_lifecycle) {
  const size_t rounds = runner.quick ? 4 : 16;
  const size_t per_allocator = runner.quick ? 1500 : 5000;
  size_t totals[6] = { 0, 0, 0, 0, 0, 0 }; /* setup failures, made, nulls, damaged, lost, survivors */
  for (size_t r = 0; r < rounds; r++) life_round(r % 2 == 1, per_allocator, totals);
  CHECK_EQ_SZ(totals[0], 0);
  CHECK_EQ_SZ(totals[1], rounds * LIFE_ALLOCATORS * per_allocator);
  CHECK_EQ_SZ(totals[2], 0);
  CHECK_EQ_SZ(totals[3], 0);
  CHECK_EQ_SZ(totals[4], 0);
  CHECK_GT_SZ(totals[5], 0);
  /* the threads are gone; the process goes on allocating */
  void* p = mia_malloc(100);
  CHECK_NOT_NULL(p);
  mia_free(p);
}

/* ---------------------------------------------------------------------------
   Names and the JSON report
--------------------------------------------------------------------------- */

TEST(engine_names) {
  mia_heap_t* heap = mia_heap_new();
  CHECK_NOT_NULL(heap);
  if (heap == NULL) return;
  ENGINE_CHECK_STR(mia_heap_get_name(heap), "");
  mia_heap_set_name(heap, "audio");
  ENGINE_CHECK_STR(mia_heap_get_name(heap), "audio");
  const char* exact31 = "0123456789abcdefghijklmnopqrstu";
  mia_heap_set_name(heap, exact31);
  ENGINE_CHECK_STR(mia_heap_get_name(heap), exact31);
  mia_heap_set_name(heap, "0123456789abcdefghijklmnopqrstuvwxyz-and-more");
  ENGINE_CHECK_STR(mia_heap_get_name(heap), exact31);
  CHECK_EQ_SZ(strlen(mia_heap_get_name(heap)), 31);
  mia_heap_set_name(heap, "");
  ENGINE_CHECK_STR(mia_heap_get_name(heap), "");
  mia_heap_set_name(heap, "x");
  mia_heap_set_name(heap, NULL);
  ENGINE_CHECK_STR(mia_heap_get_name(heap), "");
  /* the caller's buffer is copied */
  char buf[16];
  strcpy(buf, "physics");
  mia_heap_set_name(heap, buf);
  buf[0] = 'X';
  ENGINE_CHECK_STR(mia_heap_get_name(heap), "physics");
  ENGINE_CHECK_STR(mia_heap_get_name(NULL), "");
  mia_heap_set_name(NULL, "ignored"); /* no crash */
  mia_heap_delete(heap);
}

typedef struct json_out {
  char* buf;
  size_t len, cap;
} json_out;

static void json_capture(const char* msg, void* arg) {
  json_out* o = (json_out*)arg;
  size_t n = strlen(msg);
  if (o->len + n + 1 > o->cap) {
    size_t cap = (o->cap == 0 ? 4096 : o->cap * 2);
    while (cap < o->len + n + 1) cap *= 2;
    char* b = (char*)realloc(o->buf, cap);
    if (b == NULL) return;
    o->buf = b;
    o->cap = cap;
  }
  memcpy(o->buf + o->len, msg, n + 1);
  o->len += n;
}

/* A tiny JSON checker: a recursive-descent parser of one value (objects with
   quoted keys, arrays, strings with escapes and valid UTF-8, numbers, true,
   false, null) that says whether the whole text is one value. */
typedef struct json_parser {
  const char* s;
  size_t depth;
} json_parser;

static void json_ws(json_parser* j) {
  while (*j->s == ' ' || *j->s == '\n' || *j->s == '\r' || *j->s == '\t') j->s++;
}

static bool json_string(json_parser* j) {
  if (*j->s != '"') return false;
  j->s++;
  for (;;) {
    unsigned char c = (unsigned char)*j->s;
    if (c == '"') {
      j->s++;
      return true;
    }
    if (c < 0x20) return false; /* includes the terminating 0 */
    if (c == '\\') {
      j->s++;
      char e = *j->s;
      if (e == 'u') {
        for (int i = 1; i <= 4; i++) {
          char h = j->s[i];
          if (!((h >= '0' && h <= '9') || (h >= 'a' && h <= 'f') || (h >= 'A' && h <= 'F'))) return false;
        }
        j->s += 5;
      } else if (e != 0 && strchr("\"\\/bfnrt", e) != NULL) {
        j->s++;
      } else {
        return false;
      }
      continue;
    }
    if (c < 0x80) {
      j->s++;
      continue;
    }
    /* UTF-8: a lead byte and its continuation bytes */
    size_t more = (c >= 0xF0 && c <= 0xF4) ? 3 : (c >= 0xE0) ? 2 : (c >= 0xC2 && c <= 0xDF) ? 1 : 0;
    if (more == 0) return false;
    for (size_t i = 1; i <= more; i++)
      if (((unsigned char)j->s[i] & 0xC0) != 0x80) return false;
    j->s += 1 + more;
  }
}

static bool json_number(json_parser* j) {
  const char* start = j->s;
  if (*j->s == '-') j->s++;
  if (*j->s == '0') j->s++;
  else if (*j->s >= '1' && *j->s <= '9')
    while (*j->s >= '0' && *j->s <= '9') j->s++;
  else return false;
  if (*j->s == '.') {
    j->s++;
    if (!(*j->s >= '0' && *j->s <= '9')) return false;
    while (*j->s >= '0' && *j->s <= '9') j->s++;
  }
  if (*j->s == 'e' || *j->s == 'E') {
    j->s++;
    if (*j->s == '+' || *j->s == '-') j->s++;
    if (!(*j->s >= '0' && *j->s <= '9')) return false;
    while (*j->s >= '0' && *j->s <= '9') j->s++;
  }
  return j->s > start;
}

static bool json_value(json_parser* j);

static bool json_container(json_parser* j, char open, char close) {
  if (*j->s != open || ++j->depth > 64) return false;
  j->s++;
  json_ws(j);
  if (*j->s == close) {
    j->s++;
    j->depth--;
    return true;
  }
  for (;;) {
    json_ws(j);
    if (open == '{') {
      if (!json_string(j)) return false; /* keys are quoted */
      json_ws(j);
      if (*j->s++ != ':') return false;
      json_ws(j);
    }
    if (!json_value(j)) return false;
    json_ws(j);
    if (*j->s == ',') {
      j->s++;
      continue;
    }
    if (*j->s != close) return false;
    j->s++;
    j->depth--;
    return true;
  }
}

static bool json_value(json_parser* j) {
  switch (*j->s) {
    case '{': return json_container(j, '{', '}');
    case '[': return json_container(j, '[', ']');
    case '"': return json_string(j);
    case 't': if (strncmp(j->s, "true", 4) == 0) { j->s += 4; return true; } return false;
    case 'f': if (strncmp(j->s, "false", 5) == 0) { j->s += 5; return true; } return false;
    case 'n': if (strncmp(j->s, "null", 4) == 0) { j->s += 4; return true; } return false;
    default: return json_number(j);
  }
}

static bool json_valid(const char* text) {
  json_parser j = { text, 0 };
  json_ws(&j);
  if (!json_value(&j)) return false;
  json_ws(&j);
  return *j.s == 0;
}

/* The number after `"key":` in the object that holds `needle`, or SIZE_MAX. */
static size_t json_field_after(const char* text, const char* needle, const char* key) {
  const char* at = strstr(text, needle);
  if (at == NULL) return SIZE_MAX;
  const char* end = strchr(at, '}');
  char pat[64];
  snprintf(pat, sizeof pat, "\"%s\":", key);
  const char* k = strstr(at, pat);
  if (k == NULL || (end != NULL && k > end)) return SIZE_MAX;
  return (size_t)strtoull(k + strlen(pat), NULL, 10);
}

TEST(engine_json) {
  /* the checker itself */
  CHECK(json_valid("{\"a\":[1,2.5e3,{\"b\":\"x\\\"y\"}],\"c\":true,\"d\":null}"));
  CHECK(!json_valid("{\"a\":1"));
  CHECK(!json_valid("{a:1}"));
  CHECK(!json_valid("{\"a\":\"x\"y\"}"));
  CHECK(!json_valid("[1,2]]"));
  CHECK(!json_valid("{\"a\":\"\xC3\"}")); /* a cut UTF-8 sequence */

  mia_heap_t* plain = mia_heap_new();
  mia_heap_t* quoted = mia_heap_new();
  CHECK_NOT_NULL(plain);
  CHECK_NOT_NULL(quoted);
  if (plain == NULL || quoted == NULL) return;
  mia_heap_set_name(plain, "render-frame");
  mia_heap_set_name(quoted, "say \"hi\"\\ \n!");
  void* blocks[10];
  for (size_t i = 0; i < 10; i++) blocks[i] = mia_heap_malloc(plain, 100);
  void* q = mia_heap_malloc(quoted, 5000);
  mia_heap_set_limit(plain, 8 * MiB);

  mia_heap_stats_t plain_st;
  CHECK(mia_heap_stats_get(plain, &plain_st));
  json_out out = { NULL, 0, 0 };
  mia_stats_print_json(json_capture, &out);
  CHECK_NOT_NULL(out.buf);
  if (out.buf != NULL) {
    CHECKF(json_valid(out.buf), "not valid JSON: %.200s", out.buf);
    CHECK_NOT_NULL(strstr(out.buf, "\"name\":\"render-frame\""));
    CHECK_NOT_NULL(strstr(out.buf, "\"name\":\"say \\\"hi\\\"\\\\ \\u000a!\""));
    CHECK_NOT_NULL(strstr(out.buf, "\"heaps\":["));
    CHECK_EQ_SZ(json_field_after(out.buf, "\"name\":\"render-frame\"", "live_blocks"), 10);
    CHECK_EQ_SZ(json_field_after(out.buf, "\"name\":\"render-frame\"", "limit"), 8 * MiB);
    CHECK_EQ_SZ(json_field_after(out.buf, "\"name\":\"say", "live_blocks"), 1);
    CHECK_EQ_SZ(json_field_after(out.buf, "\"name\":\"render-frame\"", "live_bytes"), plain_st.live_bytes);
  }
  free(out.buf);
  for (size_t i = 0; i < 10; i++) mia_free(blocks[i]);
  mia_free(q);
  mia_heap_destroy(plain);
  mia_heap_destroy(quoted);

  /* NULL output: the registered output function receives it */
  json_out reg = { NULL, 0, 0 };
  mia_register_output(json_capture, &reg);
  mia_stats_print_json(NULL, NULL);
  mia_register_output(NULL, NULL);
  CHECK(reg.buf != NULL && json_valid(reg.buf));
  free(reg.buf);

  /* from a thread that never allocated: still one valid object */
  mia_stats_t st;
  memset(&st, 0, sizeof st);
  mia_stats_get(&st);
  CHECK_GT_SZ(st.reserved, 0);
  CHECK_GE_SZ(st.reserved_peak, st.reserved);
  CHECK_GE_SZ(st.committed_peak, st.committed);
  CHECK_GE_SZ(st.threads, 1);
}

static void* json_fresh_thread(void* arg) {
  json_out* o = (json_out*)arg;
  mia_stats_print_json(json_capture, o);
  return NULL;
}

TEST(engine_json_fresh_thread) {
  json_out out = { NULL, 0, 0 };
  pthread_t t;
  CHECK_EQ_INT(pthread_create(&t, NULL, json_fresh_thread, &out), 0);
  pthread_join(t, NULL);
  CHECK(out.buf != NULL && json_valid(out.buf));
  CHECK(out.buf != NULL && strstr(out.buf, "\"heaps\":[]") != NULL);
  free(out.buf);
}

void tests_engine(void) {
  RUN(engine_stats_exact);
  RUN(engine_stats_remote_free);
  RUN(engine_limit_threads);
  RUN(engine_limit_owner);
  RUN(engine_heap_lifecycle);
  RUN(engine_names);
  RUN(engine_json);
  RUN(engine_json_fresh_thread);
}
