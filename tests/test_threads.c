/* test_threads.c - short multi-thread tests (the long run is stress.c).

   8 threads on 2 cores: random sizes 8 B..64 KiB (rarely 1-3 MiB), a third of
   the blocks handed to another thread through a mutex-protected mailbox and
   freed there; threads that exit with live blocks which other threads free
   later; a heap per thread created and destroyed with cross-thread frees in
   between; a consumer that frees but never allocates; mia_thread_done and
   allocation again on the same thread. Every block carries a pattern that is
   verified before it is freed. At the end, after mia_collect(true), the
   process RSS must be bounded (memory is reused, not leaked).

   Threads never CHECK in their loops: they count, and the main thread checks
   the counts after the join. */
#include "../mialloc.h"
#include "runner.h"

#include <pthread.h>
#include <semaphore.h>

void tests_threads(void);

#define NTHREADS 8

/* ---------------------------------------------------------------------------
   Blocks and mailboxes
--------------------------------------------------------------------------- */

typedef struct item {
  void* p;
  size_t size;
  uint64_t seed;
} item;

typedef struct mailbox {
  pthread_mutex_t lock;
  item* items; /* libc memory: the bookkeeping stays out of the allocator under test */
  size_t n, cap;
} mailbox;

static bool mailbox_init(mailbox* m, size_t cap) {
  pthread_mutex_init(&m->lock, NULL);
  m->items = (item*)malloc(cap * sizeof(item));
  m->n = 0;
  m->cap = cap;
  return m->items != NULL;
}

static void mailbox_fini(mailbox* m) {
  pthread_mutex_destroy(&m->lock);
  free(m->items);
  m->items = NULL;
}

static bool mailbox_put(mailbox* m, item it) {
  pthread_mutex_lock(&m->lock);
  bool ok = m->n < m->cap;
  if (ok) m->items[m->n++] = it;
  pthread_mutex_unlock(&m->lock);
  return ok;
}

/* Move up to `max` items out of the mailbox into `out`; returns how many. */
static size_t mailbox_take(mailbox* m, item* out, size_t max) {
  pthread_mutex_lock(&m->lock);
  size_t k = m->n < max ? m->n : max;
  m->n -= k;
  memcpy(out, m->items + m->n, k * sizeof(item));
  pthread_mutex_unlock(&m->lock);
  return k;
}

/* Sizes 8 B..64 KiB, log-uniform (each power of two as likely), and 1-3 MiB once in `huge_every`. */
static size_t random_size(uint64_t* rng, size_t huge_every) {
  if (huge_every != 0 && rng_next(rng) % huge_every == 0) return rng_range(rng, 1 * MiB, 3 * MiB);
  size_t shift = rng_range(rng, 3, 15); /* 8 .. 32 KiB lower bound */
  size_t lo = (size_t)1 << shift;
  return rng_range(rng, lo, 2 * lo);
}

static uint64_t rng_seed(size_t id, size_t salt) {
  uint64_t s = 0x9E3779B97F4A7C15ULL * (uint64_t)(id + 1) + (uint64_t)salt * 0xD1B54A32D192ED03ULL;
  return s != 0 ? s : 1;
}

/* Allocate and fill one block; false if the allocator failed. */
static bool make_item(item* it, size_t size, uint64_t seed) {
  it->p = mia_malloc(size);
  it->size = size;
  it->seed = seed;
  if (it->p == NULL) return false;
  pattern_fill(it->p, size, seed);
  return true;
}

/* Verify and free; returns 1 if the pattern was damaged. */
static size_t check_free(const item* it) {
  size_t bad = pattern_check(it->p, it->size, it->seed) != it->size;
  mia_free(it->p);
  return bad;
}

typedef struct counters {
  size_t allocs, frees, sent, received, bad, nulls, overflow;
} counters;

static void counters_add(counters* sum, const counters* c) {
  sum->allocs += c->allocs;
  sum->frees += c->frees;
  sum->sent += c->sent;
  sum->received += c->received;
  sum->bad += c->bad;
  sum->nulls += c->nulls;
  sum->overflow += c->overflow;
}

static void check_counters(const char* what, const counters* c) {
  CHECKF(c->bad == 0, "%s: %zu corrupted blocks", what, c->bad);
  CHECKF(c->nulls == 0, "%s: %zu NULL results", what, c->nulls);
  CHECKF(c->sent == c->received, "%s: %zu blocks sent, %zu received", what, c->sent, c->received);
  CHECKF(c->allocs == c->frees, "%s: %zu allocated, %zu freed", what, c->allocs, c->frees);
  CHECKF(c->allocs > 0, "%s: nothing allocated", what);
}

static size_t iterations(size_t full) {
  return runner.quick ? full / 8 : full;
}

/* ---------------------------------------------------------------------------
   8 threads, cross-thread frees through mailboxes
--------------------------------------------------------------------------- */

#define LOCAL_MAX 256
#define MAILBOX_CAP 8192

static mailbox boxes[NTHREADS];
static pthread_barrier_t barrier;

typedef struct worker {
  size_t id;
  size_t iters;
  mia_heap_t* heap; /* per-thread heap (heap test only) */
  counters c;
} worker;

static void drain(mailbox* box, counters* c) {
  item got[64];
  size_t k;
  while ((k = mailbox_take(box, got, 64)) > 0) {
    for (size_t i = 0; i < k; i++) {
      c->bad += check_free(&got[i]);
      c->received++;
      c->frees++;
    }
  }
}

static void* mailbox_worker(void* arg) {
  worker* w = (worker*)arg;
  uint64_t rng = rng_seed(w->id, 1);
  item local[LOCAL_MAX];
  size_t nlocal = 0;
  for (size_t it = 0; it < w->iters; it++) {
    item x;
    if (!make_item(&x, random_size(&rng, 500), ((uint64_t)w->id << 48) ^ it)) { w->c.nulls++; continue; }
    w->c.allocs++;
    if (rng_next(&rng) % 3 == 0) {
      size_t target = (w->id + 1 + (size_t)(rng_next(&rng) % (NTHREADS - 1))) % NTHREADS;
      if (mailbox_put(&boxes[target], x)) {
        w->c.sent++;
      } else {
        w->c.overflow++;
        w->c.bad += check_free(&x);
        w->c.frees++;
      }
    } else if (nlocal < LOCAL_MAX) {
      local[nlocal++] = x;
    } else {
      size_t k = (size_t)(rng_next(&rng) % LOCAL_MAX);
      w->c.bad += check_free(&local[k]);
      w->c.frees++;
      local[k] = x;
    }
    if (it % 64 == 63) drain(&boxes[w->id], &w->c);
  }
  pthread_barrier_wait(&barrier); /* nobody sends after this */
  drain(&boxes[w->id], &w->c);
  for (size_t i = 0; i < nlocal; i++) {
    w->c.bad += check_free(&local[i]);
    w->c.frees++;
  }
  return NULL;
}

static bool boxes_init(void) {
  bool ok = true;
  for (size_t i = 0; i < NTHREADS; i++) ok = mailbox_init(&boxes[i], MAILBOX_CAP) && ok;
  return ok;
}

static void boxes_fini(void) {
  for (size_t i = 0; i < NTHREADS; i++) mailbox_fini(&boxes[i]);
}

static void run_workers(void* (*fn)(void*), worker* ws, size_t iters) {
  pthread_t t[NTHREADS];
  bool started[NTHREADS];
  pthread_barrier_init(&barrier, NULL, NTHREADS);
  for (size_t i = 0; i < NTHREADS; i++) {
    memset(&ws[i], 0, sizeof ws[i]);
    ws[i].id = i;
    ws[i].iters = iters;
    started[i] = pthread_create(&t[i], NULL, fn, &ws[i]) == 0;
  }
  size_t nstarted = 0;
  for (size_t i = 0; i < NTHREADS; i++) {
    if (started[i]) {
      pthread_join(t[i], NULL);
      nstarted++;
    }
  }
  CHECK_EQ_SZ(nstarted, NTHREADS);
  pthread_barrier_destroy(&barrier);
}

TEST(threads_mailbox_cross_free) {
  CHECK(boxes_init());
  worker ws[NTHREADS];
  run_workers(mailbox_worker, ws, iterations(12000));
  counters sum;
  memset(&sum, 0, sizeof sum);
  for (size_t i = 0; i < NTHREADS; i++) counters_add(&sum, &ws[i].c);
  check_counters("mailbox", &sum);
  CHECKF(sum.sent > sum.allocs / 5, "only %zu of %zu blocks went to another thread", sum.sent, sum.allocs);
  boxes_fini();
}

/* ---------------------------------------------------------------------------
   Threads that exit with live blocks; others free them later
--------------------------------------------------------------------------- */

#define ORPHANS_PER_THREAD 600
static item orphans[NTHREADS][ORPHANS_PER_THREAD];

static void* orphan_maker(void* arg) {
  worker* w = (worker*)arg;
  uint64_t rng = rng_seed(w->id, 2);
  /* odd threads allocate from a heap of their own made the default, and exit
     without deleting it: thread exit must take care of it */
  if (w->id % 2 == 1) {
    mia_heap_t* h = mia_heap_new();
    if (h == NULL) w->c.nulls++;
    else mia_heap_set_default(h);
  }
  for (size_t i = 0; i < ORPHANS_PER_THREAD; i++) {
    if (make_item(&orphans[w->id][i], random_size(&rng, 300), ((uint64_t)w->id << 40) ^ i)) w->c.allocs++;
    else w->c.nulls++;
  }
  /* a few local frees so the pages are partly free when abandoned */
  for (size_t i = 0; i < ORPHANS_PER_THREAD; i += 5) {
    if (orphans[w->id][i].p == NULL) continue;
    w->c.bad += check_free(&orphans[w->id][i]);
    w->c.frees++;
    orphans[w->id][i].p = NULL;
  }
  return NULL; /* exits with the other blocks live */
}

static void* orphan_taker(void* arg) {
  worker* w = (worker*)arg;
  uint64_t rng = rng_seed(w->id, 3);
  size_t victim = (w->id + 1) % NTHREADS;
  item mine[256];
  size_t nmine = 0;
  /* half the orphans of another thread, freed here, between allocations of our own */
  for (size_t i = 0; i < ORPHANS_PER_THREAD; i++) {
    if (i % 2 == 0 && orphans[victim][i].p != NULL) {
      w->c.bad += check_free(&orphans[victim][i]);
      w->c.frees++;
      orphans[victim][i].p = NULL;
    }
    if (nmine < 256) {
      if (make_item(&mine[nmine], random_size(&rng, 0), ((uint64_t)w->id << 44) ^ i)) {
        w->c.allocs++;
        nmine++;
      } else {
        w->c.nulls++;
      }
    }
  }
  for (size_t i = 0; i < nmine; i++) {
    w->c.bad += check_free(&mine[i]);
    w->c.frees++;
  }
  return NULL;
}

static void* nothing(void* arg) {
  (void)arg;
  return NULL;
}

TEST(threads_exit_with_live_blocks) {
  worker makers[NTHREADS], takers[NTHREADS];
  for (int wave = 0; wave < 2; wave++) {
    memset(orphans, 0, sizeof orphans);
    run_workers(orphan_maker, makers, 0);
    run_workers(orphan_taker, takers, 0);
    /* the main thread frees the rest, after both waves of threads are gone */
    counters rest;
    memset(&rest, 0, sizeof rest);
    for (size_t t = 0; t < NTHREADS; t++)
      for (size_t i = 0; i < ORPHANS_PER_THREAD; i++) {
        if (orphans[t][i].p == NULL) continue;
        rest.bad += check_free(&orphans[t][i]);
        rest.frees++;
      }
    counters sum;
    memset(&sum, 0, sizeof sum);
    for (size_t i = 0; i < NTHREADS; i++) {
      counters_add(&sum, &makers[i].c);
      counters_add(&sum, &takers[i].c);
    }
    counters_add(&sum, &rest);
    check_counters(wave == 0 ? "orphans, wave 1" : "orphans, wave 2", &sum);
    CHECKF(rest.frees > 0, "wave %d: nothing left for the main thread", wave);
  }
  /* a thread that never allocates exits cleanly */
  pthread_t t;
  CHECK_EQ_INT(pthread_create(&t, NULL, nothing, NULL), 0);
  pthread_join(t, NULL);
}

/* ---------------------------------------------------------------------------
   A heap per thread, destroyed or deleted, with cross-thread frees in between
--------------------------------------------------------------------------- */

static void* heap_worker(void* arg) {
  worker* w = (worker*)arg;
  uint64_t rng = rng_seed(w->id, 4);
  mia_heap_t* h = mia_heap_new();
  if (h == NULL) { w->c.nulls++; pthread_barrier_wait(&barrier); return NULL; }
  enum { HMAX = 200 };
  item hb[HMAX];
  size_t nh = 0, not_in_heap = 0;
  for (size_t it = 0; it < w->iters; it++) {
    /* a block of the thread's own heap, kept here */
    item x = {NULL, random_size(&rng, 0), ((uint64_t)w->id << 50) ^ it};
    x.p = mia_heap_malloc(h, x.size);
    if (x.p == NULL) { w->c.nulls++; continue; }
    if (!mia_heap_contains_block(h, x.p)) not_in_heap++;
    pattern_fill(x.p, x.size, x.seed);
    w->c.allocs++;
    if (nh < HMAX) hb[nh++] = x;
    else {
      size_t k = (size_t)(rng_next(&rng) % HMAX);
      w->c.bad += check_free(&hb[k]);
      w->c.frees++;
      hb[k] = x;
    }
    /* a default-heap block for another thread; and free what others sent */
    if (it % 2 == 0) {
      item y;
      if (!make_item(&y, random_size(&rng, 0), ((uint64_t)w->id << 52) ^ it)) { w->c.nulls++; continue; }
      w->c.allocs++;
      if (mailbox_put(&boxes[(w->id + 1 + it % (NTHREADS - 1)) % NTHREADS], y)) w->c.sent++;
      else { w->c.overflow++; w->c.bad += check_free(&y); w->c.frees++; }
    }
    if (it % 32 == 31) drain(&boxes[w->id], &w->c);
  }
  for (size_t i = 0; i < nh; i++)
    if (pattern_check(hb[i].p, hb[i].size, hb[i].seed) != hb[i].size) w->c.bad++;
  if (w->id % 2 == 0) {
    mia_heap_destroy(h); /* frees every block of the heap at once */
    w->c.frees += nh;
  } else {
    /* hand a quarter of the heap's blocks to other threads, then delete the
       heap while they may be freeing them: the blocks stay valid */
    size_t kept = 0;
    for (size_t i = 0; i < nh; i++) {
      if (i % 4 == 0 && mailbox_put(&boxes[(w->id + 1 + i % (NTHREADS - 1)) % NTHREADS], hb[i])) w->c.sent++;
      else hb[kept++] = hb[i];
    }
    mia_heap_delete(h);
    for (size_t i = 0; i < kept; i++) {
      w->c.bad += check_free(&hb[i]);
      w->c.frees++;
    }
  }
  pthread_barrier_wait(&barrier);
  drain(&boxes[w->id], &w->c);
  w->c.bad += not_in_heap;
  return NULL;
}

TEST(threads_heap_per_thread) {
  CHECK(boxes_init());
  worker ws[NTHREADS];
  for (int round = 0; round < 2; round++) {
    run_workers(heap_worker, ws, iterations(3000));
    counters sum;
    memset(&sum, 0, sizeof sum);
    for (size_t i = 0; i < NTHREADS; i++) counters_add(&sum, &ws[i].c);
    check_counters(round == 0 ? "heap per thread, round 1" : "heap per thread, round 2", &sum);
  }
  boxes_fini();
}

/* ---------------------------------------------------------------------------
   Producer/consumer: the consumers free and never allocate
--------------------------------------------------------------------------- */

#define RING_CAP 1024
typedef struct ring {
  pthread_mutex_t lock;
  pthread_cond_t not_empty, not_full;
  item items[RING_CAP];
  size_t head, n;
  size_t producers_left;
} ring;

static ring q;

static void* producer(void* arg) {
  worker* w = (worker*)arg;
  uint64_t rng = rng_seed(w->id, 5);
  for (size_t i = 0; i < w->iters; i++) {
    item x;
    if (!make_item(&x, random_size(&rng, 1000), ((uint64_t)w->id << 48) ^ i)) { w->c.nulls++; continue; }
    w->c.allocs++;
    pthread_mutex_lock(&q.lock);
    while (q.n == RING_CAP) pthread_cond_wait(&q.not_full, &q.lock);
    q.items[(q.head + q.n) % RING_CAP] = x;
    q.n++;
    pthread_cond_signal(&q.not_empty);
    pthread_mutex_unlock(&q.lock);
    w->c.sent++;
  }
  pthread_mutex_lock(&q.lock);
  q.producers_left--;
  pthread_cond_broadcast(&q.not_empty);
  pthread_mutex_unlock(&q.lock);
  return NULL;
}

static void* consumer(void* arg) {
  worker* w = (worker*)arg;
  for (;;) {
    pthread_mutex_lock(&q.lock);
    while (q.n == 0 && q.producers_left > 0) pthread_cond_wait(&q.not_empty, &q.lock);
    if (q.n == 0) {
      pthread_mutex_unlock(&q.lock);
      break;
    }
    item x = q.items[q.head];
    q.head = (q.head + 1) % RING_CAP;
    q.n--;
    pthread_cond_signal(&q.not_full);
    pthread_mutex_unlock(&q.lock);
    w->c.bad += check_free(&x); /* no allocation on this thread, ever */
    w->c.received++;
    w->c.frees++;
  }
  return NULL;
}

TEST(threads_producer_consumer) {
  enum { PRODUCERS = 3, CONSUMERS = 3 };
  pthread_mutex_init(&q.lock, NULL);
  pthread_cond_init(&q.not_empty, NULL);
  pthread_cond_init(&q.not_full, NULL);
  q.head = q.n = 0;
  q.producers_left = PRODUCERS;
  worker ws[PRODUCERS + CONSUMERS];
  pthread_t t[PRODUCERS + CONSUMERS];
  size_t started = 0;
  memset(ws, 0, sizeof ws);
  for (size_t i = 0; i < PRODUCERS + CONSUMERS; i++) {
    ws[i].id = i;
    ws[i].iters = iterations(20000);
    if (pthread_create(&t[i], NULL, i < PRODUCERS ? producer : consumer, &ws[i]) == 0) started++;
  }
  CHECK_EQ_SZ(started, PRODUCERS + CONSUMERS);
  if (started != PRODUCERS + CONSUMERS) return; /* would hang; the failure is counted */
  for (size_t i = 0; i < PRODUCERS + CONSUMERS; i++) pthread_join(t[i], NULL);
  counters sum;
  memset(&sum, 0, sizeof sum);
  for (size_t i = 0; i < PRODUCERS + CONSUMERS; i++) counters_add(&sum, &ws[i].c);
  check_counters("producer/consumer", &sum);
  CHECK_EQ_SZ(q.n, 0);
  pthread_cond_destroy(&q.not_empty);
  pthread_cond_destroy(&q.not_full);
  pthread_mutex_destroy(&q.lock);
}

/* ---------------------------------------------------------------------------
   mia_thread_done, then allocate again on the same thread
--------------------------------------------------------------------------- */

static void* done_then_again(void* arg) {
  worker* w = (worker*)arg;
  uint64_t rng = rng_seed(w->id, 6);
  enum { K = 100 };
  item before[K], after[K];
  for (size_t cycle = 0; cycle < 10; cycle++) {
    for (size_t i = 0; i < K; i++) {
      if (make_item(&before[i], random_size(&rng, 0), (cycle << 20) ^ i)) w->c.allocs++;
      else { w->c.nulls++; before[i].p = NULL; }
    }
    mia_thread_done(); /* live blocks stay valid */
    if (mia_heap_get_default() == NULL) w->c.bad++;
    for (size_t i = 0; i < K; i++) {
      if (make_item(&after[i], random_size(&rng, 0), (cycle << 24) ^ i)) w->c.allocs++;
      else { w->c.nulls++; after[i].p = NULL; }
    }
    for (size_t i = 0; i < K; i++) {
      if (before[i].p != NULL) { w->c.bad += check_free(&before[i]); w->c.frees++; }
      if (after[i].p != NULL) { w->c.bad += check_free(&after[i]); w->c.frees++; }
    }
    if (cycle % 3 == 2) mia_thread_init();
  }
  return NULL;
}

TEST(threads_done_then_allocate) {
  worker ws[4];
  pthread_t t[4];
  memset(ws, 0, sizeof ws);
  bool started[4];
  size_t nstarted = 0;
  for (size_t i = 0; i < 4; i++) {
    ws[i].id = i;
    started[i] = pthread_create(&t[i], NULL, done_then_again, &ws[i]) == 0;
    if (started[i]) nstarted++;
  }
  CHECK_EQ_SZ(nstarted, 4);
  for (size_t i = 0; i < 4; i++)
    if (started[i]) pthread_join(t[i], NULL);
  counters sum;
  memset(&sum, 0, sizeof sum);
  for (size_t i = 0; i < 4; i++) counters_add(&sum, &ws[i].c);
  check_counters("thread_done then allocate", &sum);
}

/* ---------------------------------------------------------------------------
   mia_collect(true) reclaims abandoned segments, even on a thread that has
   not allocated yet: threads exit with live blocks, other threads free them
   all (and never allocate, so nobody adopts the segments), then a fresh
   thread calls mia_collect(true). Nothing is live any more: most of the
   memory must go back.
--------------------------------------------------------------------------- */

#define RECLAIM_THREADS 4
#define RECLAIM_BLOCKS 2000
static void* reclaim_blocks[RECLAIM_THREADS][RECLAIM_BLOCKS];

static size_t committed_now(void) {
  size_t commit = 0;
  mia_process_info(NULL, NULL, NULL, NULL, NULL, &commit, NULL, NULL);
  return commit;
}

static void* reclaim_maker(void* arg) {
  worker* w = (worker*)arg;
  for (size_t i = 0; i < RECLAIM_BLOCKS; i++) {
    size_t n = 4 * KiB + (i % 16) * 512;
    reclaim_blocks[w->id][i] = mia_malloc(n);
    if (reclaim_blocks[w->id][i] == NULL) w->c.nulls++;
    else { memset(reclaim_blocks[w->id][i], 0x42, n); w->c.allocs++; }
  }
  return NULL; /* exits with every block live */
}

static void* reclaim_freer(void* arg) {
  worker* w = (worker*)arg;
  size_t victim = (w->id + 1) % RECLAIM_THREADS;
  for (size_t i = 0; i < RECLAIM_BLOCKS; i++) {
    if (reclaim_blocks[victim][i] == NULL) continue;
    size_t n = 4 * KiB + (i % 16) * 512;
    if (!mem_is(reclaim_blocks[victim][i], 0x42, n)) w->c.bad++;
    mia_free(reclaim_blocks[victim][i]); /* a free only: this thread never allocates */
    w->c.frees++;
  }
  return NULL;
}

static void* reclaim_collector(void* arg) {
  size_t* commit = (size_t*)arg;
  mia_collect(true); /* the first allocator call of this thread */
  *commit = committed_now();
  return NULL;
}

static size_t run_some(void* (*fn)(void*), worker* ws, size_t n) {
  pthread_t t[RECLAIM_THREADS];
  bool started[RECLAIM_THREADS];
  size_t nstarted = 0;
  for (size_t i = 0; i < n; i++) {
    memset(&ws[i], 0, sizeof ws[i]);
    ws[i].id = i;
    started[i] = pthread_create(&t[i], NULL, fn, &ws[i]) == 0;
    if (started[i]) nstarted++;
  }
  for (size_t i = 0; i < n; i++)
    if (started[i]) pthread_join(t[i], NULL);
  return nstarted;
}

TEST(threads_collect_reclaims_abandoned) {
  mia_collect(true);
  const size_t base = committed_now();
  worker makers[RECLAIM_THREADS], freers[RECLAIM_THREADS];
  memset(reclaim_blocks, 0, sizeof reclaim_blocks);
  CHECK_EQ_SZ(run_some(reclaim_maker, makers, RECLAIM_THREADS), RECLAIM_THREADS);
  const size_t peak = committed_now();
  CHECK_EQ_SZ(run_some(reclaim_freer, freers, RECLAIM_THREADS), RECLAIM_THREADS);
  counters sum;
  memset(&sum, 0, sizeof sum);
  for (size_t i = 0; i < RECLAIM_THREADS; i++) {
    counters_add(&sum, &makers[i].c);
    counters_add(&sum, &freers[i].c);
  }
  check_counters("reclaim", &sum);
  size_t after = SIZE_MAX;
  pthread_t t;
  CHECK_EQ_INT(pthread_create(&t, NULL, reclaim_collector, &after), 0);
  pthread_join(t, NULL);
  printf("     committed: %.1f MiB before, %.1f MiB with the blocks live, %.1f MiB after mia_collect(true) on a fresh thread\n",
         (double)base / (double)MiB, (double)peak / (double)MiB, (double)after / (double)MiB);
  const size_t grew = peak > base ? peak - base : 0;
  CHECKF(grew > 16 * MiB, "committed memory did not grow (%zu -> %zu KiB): the test measures nothing", base / KiB, peak / KiB);
  CHECKF(after <= base || after - base <= grew / 4,
         "mia_collect(true) on a fresh thread left %zu KiB committed (%zu KiB before the run, %zu KiB at its peak)",
         after / KiB, base / KiB, peak / KiB);
}

/* ---------------------------------------------------------------------------
   Large blocks (medium maximum .. 2 MiB): each a span of slices in a large
   segment that blocks of every large size share. Threads allocate them
   (some zeroed), grow and shrink them with realloc, hand them to each other
   and exit with some live (their segments are abandoned, then reclaimed).
   A word every 8 KiB and the last word of each block carry its pattern: a
   span that overlaps another, a slice purged while in use (it reads as
   zero) or a zeroed allocation over dirty slices shows up.
--------------------------------------------------------------------------- */

#define LARGE_THREADS 4
#define LARGE_LOCAL 6
#ifdef MIALLOC_SEGMENT_SHIFT /* another geometry (the small-memory one): sizes scale with the segment */
#define LARGE_SEGMENT ((size_t)1 << MIALLOC_SEGMENT_SHIFT)
#else
#define LARGE_SEGMENT (4 * MiB)
#endif
#define LARGE_STEP (LARGE_SEGMENT / 512)   /* 8 KiB */
#define LARGE_MIN (LARGE_SEGMENT / 32 + 1) /* just above the medium maximum (128 KiB) */
#define LARGE_MAX (LARGE_SEGMENT / 2 - 64) /* room for padding: still a large block */

static mailbox large_boxes[LARGE_THREADS];
static mailbox large_orphans; /* live blocks of exited threads, freed by the main thread */
static pthread_barrier_t large_barrier;

/* The words checked: one every LARGE_STEP bytes of the first `n`, and the
   last word when it does not overlap the one before it. */
static void large_fill(void* p, size_t n, uint64_t seed) {
  unsigned char* b = (unsigned char*)p;
  for (size_t o = 0; o + 16 <= n; o += LARGE_STEP) { uint64_t v = pattern_word(seed, o); memcpy(b + o, &v, 8); }
  if (n >= 16) { uint64_t v = pattern_word(seed, n - 8); memcpy(b + n - 8, &v, 8); }
}
/* Damaged words among the first `keep` bytes of a block of `n` filled with `seed`. */
static size_t large_damage(const void* p, size_t n, size_t keep, uint64_t seed) {
  const unsigned char* b = (const unsigned char*)p;
  size_t bad = 0;
  for (size_t o = 0; o + 16 <= n && o + 8 <= keep; o += LARGE_STEP) {
    uint64_t v;
    memcpy(&v, b + o, 8);
    bad += (v != pattern_word(seed, o));
  }
  if (n >= 16 && n <= keep) {
    uint64_t v;
    memcpy(&v, b + n - 8, 8);
    bad += (v != pattern_word(seed, n - 8));
  }
  return bad;
}
static size_t large_free(const item* it) {
  size_t bad = large_damage(it->p, it->size, it->size, it->seed) != 0;
  mia_free(it->p);
  return bad;
}
static void large_drain(mailbox* box, counters* c) {
  item got[16];
  size_t k;
  while ((k = mailbox_take(box, got, 16)) > 0) {
    for (size_t i = 0; i < k; i++) {
      c->bad += large_free(&got[i]);
      c->received++;
      c->frees++;
    }
  }
}

static void* large_worker(void* arg) {
  worker* w = (worker*)arg;
  uint64_t rng = rng_seed(w->id, 9);
  const size_t self = w->id % LARGE_THREADS; /* ids go on across rounds */
  item local[LARGE_LOCAL];
  memset(local, 0, sizeof local);
  for (size_t it = 0; it < w->iters; it++) {
    item* x = &local[rng_next(&rng) % LARGE_LOCAL];
    const unsigned op = (unsigned)(rng_next(&rng) % 8);
    const uint64_t seed = ((uint64_t)w->id << 40) ^ it;
    if (x->p != NULL && op < 2) {
      /* grow (up to a huge block) or shrink; the prefix must survive */
      size_t ns = (op == 0 ? rng_range(&rng, x->size, x->size + x->size / 2 + 1) : rng_range(&rng, LARGE_MIN, x->size));
      if (ns > LARGE_SEGMENT) ns = LARGE_SEGMENT; /* past the large maximum: huge */
      void* grown = mia_realloc(x->p, ns);
      if (grown == NULL) { w->c.nulls++; continue; }
      w->c.bad += large_damage(grown, x->size, ns, x->seed) != 0;
      large_fill(grown, ns, seed);
      *x = (item){grown, ns, seed};
    } else if (x->p != NULL && op < 5) {
      /* to another thread, or freed here */
      const size_t target = (self + 1 + (size_t)(rng_next(&rng) % (LARGE_THREADS - 1))) % LARGE_THREADS;
      if (op < 4 && mailbox_put(&large_boxes[target], *x)) w->c.sent++;
      else { w->c.bad += large_free(x); w->c.frees++; }
      x->p = NULL;
    } else {
      if (x->p != NULL) { w->c.bad += large_free(x); w->c.frees++; }
      const size_t n = rng_range(&rng, LARGE_MIN, LARGE_MAX);
      const bool zero = (op == 7);
      void* p = (zero ? mia_zalloc(n) : mia_malloc(n));
      x->p = NULL;
      if (p == NULL) { w->c.nulls++; continue; }
      if (zero) { /* zero where the pattern goes, and at both ends */
        const unsigned char* b = (const unsigned char*)p;
        size_t nonzero = (b[0] | b[n / 2] | b[n - 1]) != 0;
        for (size_t o = 0; o + 8 <= n; o += LARGE_STEP / 2) nonzero += b[o] != 0;
        w->c.bad += nonzero != 0;
      }
      w->c.allocs++;
      large_fill(p, n, seed);
      *x = (item){p, n, seed};
    }
    if (it % 8 == 7) large_drain(&large_boxes[self], &w->c);
    if (it % 97 == 96) mia_collect(false);
  }
  pthread_barrier_wait(&large_barrier); /* nobody sends after this */
  large_drain(&large_boxes[self], &w->c);
  /* odd threads exit with their blocks live: the main thread frees them */
  for (size_t i = 0; i < LARGE_LOCAL; i++) {
    if (local[i].p == NULL) continue;
    if (w->id % 2 == 1 && mailbox_put(&large_orphans, local[i])) w->c.sent++;
    else { w->c.bad += large_free(&local[i]); w->c.frees++; }
  }
  return NULL;
}

TEST(threads_large_blocks_cross_free) {
  bool ok = mailbox_init(&large_orphans, LARGE_THREADS * LARGE_LOCAL);
  for (size_t i = 0; i < LARGE_THREADS; i++) ok = mailbox_init(&large_boxes[i], 256) && ok;
  CHECK(ok);
  if (!ok) return;
  counters sum;
  memset(&sum, 0, sizeof sum);
  for (int round = 0; round < 3; round++) {
    worker ws[LARGE_THREADS];
    pthread_t t[LARGE_THREADS];
    bool started[LARGE_THREADS];
    pthread_barrier_init(&large_barrier, NULL, LARGE_THREADS);
    for (size_t i = 0; i < LARGE_THREADS; i++) {
      memset(&ws[i], 0, sizeof ws[i]);
      ws[i].id = i + (size_t)round * LARGE_THREADS;
      ws[i].iters = iterations(1200);
      started[i] = pthread_create(&t[i], NULL, large_worker, &ws[i]) == 0;
    }
    size_t nstarted = 0;
    for (size_t i = 0; i < LARGE_THREADS; i++) {
      if (!started[i]) continue;
      pthread_join(t[i], NULL);
      nstarted++;
      counters_add(&sum, &ws[i].c);
    }
    CHECK_EQ_SZ(nstarted, LARGE_THREADS);
    pthread_barrier_destroy(&large_barrier);
    counters rest;
    memset(&rest, 0, sizeof rest);
    large_drain(&large_orphans, &rest); /* frees into abandoned segments */
    counters_add(&sum, &rest);
    if (round == 1) mia_collect(true); /* adopts the abandoned segments */
  }
  check_counters("large blocks", &sum);
  for (size_t i = 0; i < LARGE_THREADS; i++) mailbox_fini(&large_boxes[i]);
  mailbox_fini(&large_orphans);
}

/* ---------------------------------------------------------------------------
   Memory is reused: RSS bounded after the runs
--------------------------------------------------------------------------- */

/* ---------------------------------------------------------------------------
   The free fast path asks a per-thread table of the thread's own segments
   (a direct-mapped cache of 32 slots) whether a block is local. A thread
   with many more segments than slots must still free every block of its
   own (the slow path puts an evicted segment back); and a segment that left
   a thread must leave its table: another thread's block at the same
   address is then a remote free (MIALLOC_DEBUG asserts this on every hit).
--------------------------------------------------------------------------- */

#define TABLE_BLOCKS 96            /* huge blocks: a segment each, 3x the slots */
#define TABLE_HUGE (3 * MiB)

typedef struct table_ctx {
  size_t bad, nulls, live_after;
  void* block;                     /* the block the other thread frees */
  sem_t go, done;
} table_ctx;

static void* table_many_segments(void* arg) {
  table_ctx* c = (table_ctx*)arg;
  void* blocks[TABLE_BLOCKS];
  for (size_t i = 0; i < TABLE_BLOCKS; i++) {
    blocks[i] = mia_malloc(TABLE_HUGE + i * 4096);
    if (blocks[i] == NULL) { c->nulls++; continue; }
    memset(blocks[i], (int)(i & 0x7F), 4096); /* the first page only: the rest stays untouched */
  }
  /* every other block first (most of their segments lost their slot long ago), then the rest backwards */
  for (size_t pass = 0; pass < 2; pass++) {
    for (size_t k = 0; k < TABLE_BLOCKS; k++) {
      const size_t i = (pass == 0 ? k : TABLE_BLOCKS - 1 - k);
      if (blocks[i] == NULL || (i % 2) != pass % 2) continue;
      if (mia_usable_size(blocks[i]) < TABLE_HUGE + i * 4096 || !mem_is(blocks[i], (int)(i & 0x7F), 4096)) c->bad++;
      mia_free(blocks[i]);
      blocks[i] = NULL;
    }
  }
  return NULL;
}

static bool table_count_block(const mia_heap_t* heap, const mia_heap_area_t* area, void* block, size_t size, void* arg) {
  (void)heap; (void)area; (void)size;
  if (block != NULL) (*(size_t*)arg)++;
  return true;
}

static void* table_other_owner(void* arg) {
  table_ctx* c = (table_ctx*)arg;
  c->block = mia_malloc(TABLE_HUGE);
  if (c->block != NULL) memset(c->block, 0x5A, 4096);
  sem_post(&c->go);
  while (sem_wait(&c->done) != 0) { }
  mia_collect(true);
  mia_heap_visit_blocks(mia_heap_get_backing(), true, table_count_block, &c->live_after);
  return NULL;
}

TEST(threads_free_table_many_segments) {
  table_ctx c;
  memset(&c, 0, sizeof c);
  const size_t before = committed_now();
  pthread_t t;
  CHECK_EQ_INT(pthread_create(&t, NULL, table_many_segments, &c), 0);
  pthread_join(t, NULL);
  mia_collect(true);
  const size_t after = committed_now();
  printf("     %d huge blocks on one thread: committed %.1f MiB before, %.1f MiB after freeing them\n", TABLE_BLOCKS,
         (double)before / (double)MiB, (double)after / (double)MiB);
  CHECK_EQ_SZ(c.nulls, (size_t)0);
  CHECK_EQ_SZ(c.bad, (size_t)0);
  CHECK_LE_SZ(after, before + 16 * MiB); /* every segment went back (a few may stay cached) */
}

TEST(threads_free_table_address_reuse) {
  table_ctx c;
  memset(&c, 0, sizeof c);
  sem_init(&c.go, 0, 0);
  sem_init(&c.done, 0, 0);
  void* mine = mia_malloc(TABLE_HUGE); /* this thread owns its segment, then gives it up */
  CHECK_NOT_NULL(mine);
  if (mine != NULL) memset(mine, 0x11, 4096);
  mia_free(mine);
  pthread_t t;
  CHECK_EQ_INT(pthread_create(&t, NULL, table_other_owner, &c), 0);
  while (sem_wait(&c.go) != 0) { }
  CHECK_NOT_NULL(c.block);
  printf("     the other thread's huge block is %s this thread's freed one\n", c.block == mine ? "at the address of" : "not at the address of");
  if (c.block != NULL) {
    CHECK(mem_is(c.block, 0x5A, 4096));
    mia_free(c.block); /* a remote free, wherever the block is */
  }
  sem_post(&c.done);
  pthread_join(t, NULL);
  CHECK_EQ_SZ(c.live_after, (size_t)0);
  sem_destroy(&c.go);
  sem_destroy(&c.done);
}

TEST(threads_rss_bounded) {
  mia_collect(true);
  size_t rss = 0, peak = 0, commit = 0;
  mia_process_info(NULL, NULL, NULL, &rss, &peak, &commit, NULL, NULL);
  printf("     after collect: current RSS %.1f MiB, peak RSS %.1f MiB, committed %.1f MiB\n",
         (double)rss / (double)MiB, (double)peak / (double)MiB, (double)commit / (double)MiB);
  CHECK_GT_SZ(rss, 0);
  CHECKF(rss < 512 * MiB, "current RSS %zu MiB", rss / MiB);
}

void tests_threads(void) {
  RUN(threads_mailbox_cross_free);
  RUN(threads_exit_with_live_blocks);
  RUN(threads_heap_per_thread);
  RUN(threads_producer_consumer);
  RUN(threads_done_then_allocate);
  RUN(threads_collect_reclaims_abandoned);
  RUN(threads_large_blocks_cross_free);
  RUN(threads_free_table_many_segments);
  RUN(threads_free_table_address_reuse);
  RUN(threads_rss_bounded);
}
