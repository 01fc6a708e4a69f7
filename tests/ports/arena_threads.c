/* arena_threads.c - an exclusive arena over a 64 MiB user buffer under a
   multi-thread load, in the default (threaded, OS-backed) build.

   Build (tests/ports.mk has the same line, with the strict flags):
      clang -std=gnu11 -O2 -pthread -I. -Itests tests/ports/arena_threads.c -o arena_threads
   Run: ./arena_threads [SECONDS]    (default 4.5: three waves of 1.5 s)

   The buffer (static, aligned to the 4 MiB segment size) becomes an exclusive
   arena. Each wave starts NTHREADS threads; each makes its own heap with
   mia_heap_new_in_arena, allocates random sizes 8 B..32 KiB, fills every
   block with a pattern, keeps some and mails the others to a random other
   thread, which verifies and frees them (cross-thread frees); at the end of
   the wave every block is freed, the heaps are deleted and the threads exit.
   Later waves must find the arena's memory again (nothing leaks out of it).

   Checked: no NULL while less than half the buffer is live (at most ~16 MiB
   is), no damaged block, every block inside the buffer, every block sent
   was received and every allocation freed, and no OS reserve of more than
   64 KiB during the allocation phases (the counting hooks wrap the built-in
   layer; the threads' own bookkeeping, made before a phase starts, may use
   the OS: each new thread's heap struct costs it one 4 MiB segment).

   Before the waves, a deterministic case: one thread's heap empties its
   pages (no collect, the thread still alive) and a heap of another thread
   must then be able to take the whole arena. */
#define MIALLOC_IMPLEMENTATION
#include "../../mialloc.h"

#include "../runner.h"

#include <pthread.h>

runner_state runner;

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#define NTHREADS 4
#define WAVES 3
#define BUFFER_SIZE (64 * MiB)
#define KEEP 512         /* blocks a thread keeps live (a ring) */
#define MAILBOX_CAP 512  /* blocks waiting in one thread's mailbox */

static _Alignas(4 * 1024 * 1024) unsigned char buffer[BUFFER_SIZE];
static mia_arena_id_t arena;
static double wave_seconds = 1.5;

/* ---------------------------------------------------------------------------
   OS hooks that count reserves and forward to the built-in layer
--------------------------------------------------------------------------- */
static mia_os_hooks_t builtin;
static _Atomic long reserves_big;   /* reserves of more than 64 KiB */
static _Atomic long reserves_small;
static int count_reserve(size_t size, size_t align, void** addr, void* arg) {
  (void)arg;
  atomic_fetch_add(size > 64 * KiB ? &reserves_big : &reserves_small, 1);
  return builtin.reserve(size, align, addr, builtin.arg);
}

/* ---------------------------------------------------------------------------
   Blocks, mailboxes, workers
--------------------------------------------------------------------------- */
typedef struct item {
  void* p;
  size_t size;
  uint64_t seed;
} item;

typedef struct mailbox {
  pthread_mutex_t lock;
  item items[MAILBOX_CAP];
  size_t n;
} mailbox;

static mailbox boxes[NTHREADS];

typedef struct counters {
  size_t allocs, frees, sent, received, bad, nulls, outside, no_heap;
} counters;

typedef struct worker {
  int id;
  counters c;
  pthread_t thread;
} worker;

static pthread_barrier_t barrier;
static _Atomic long phase_reserves_big; /* big reserves counted inside the allocation phases */
static long phase_start;                /* reserves_big when the phase started (thread 0 writes, between barriers) */

static bool in_buffer(const void* p, size_t n) {
  const uintptr_t a = (uintptr_t)opaque_ptr(p), lo = (uintptr_t)buffer;
  return a >= lo && a + n <= lo + BUFFER_SIZE;
}

/* Log-uniform 8 B..32 KiB. */
static size_t random_size(uint64_t* rng) {
  size_t lo = (size_t)1 << rng_range(rng, 3, 14);
  return rng_range(rng, lo, 2 * lo);
}

/* Bytes live in the arena's heaps (requested sizes), its peak, and the most
   that was live when an allocation failed. */
static _Atomic size_t live_bytes, live_peak, live_at_null;

static void release(counters* c, const item* it) {
  if (pattern_check(it->p, it->size, it->seed) != it->size) c->bad++;
  mia_free(it->p);
  atomic_fetch_sub_explicit(&live_bytes, it->size, memory_order_relaxed);
  c->frees++;
}

/* Free what others sent us; returns how many. */
static size_t drain(worker* w) {
  item got[256];
  size_t total = 0, k;
  do {
    mailbox* m = &boxes[w->id];
    pthread_mutex_lock(&m->lock);
    k = m->n < 256 ? m->n : 256;
    m->n -= k;
    memcpy(got, m->items + m->n, k * sizeof(item));
    pthread_mutex_unlock(&m->lock);
    for (size_t i = 0; i < k; i++) release(&w->c, &got[i]);
    w->c.received += k;
    total += k;
  } while (k == 256);
  return total;
}

static bool post(int to, item it) {
  mailbox* m = &boxes[to];
  pthread_mutex_lock(&m->lock);
  bool ok = m->n < MAILBOX_CAP;
  if (ok) m->items[m->n++] = it;
  pthread_mutex_unlock(&m->lock);
  return ok;
}

static void* worker_main(void* arg) {
  worker* w = (worker*)arg;
  mia_heap_t* heap = mia_heap_new_in_arena(arena);
  if (heap == NULL) w->c.no_heap++;
  pthread_barrier_wait(&barrier); /* every heap exists: from here on, no OS reserve */
  if (w->id == 0) phase_start = atomic_load(&reserves_big);
  pthread_barrier_wait(&barrier);
  static _Thread_local item keep[KEEP];
  size_t nkeep = 0, next = 0;
  uint64_t rng = 0x9E3779B97F4A7C15ULL * (uint64_t)(w->id + 1) + 17;
  const double end = runner_now() + wave_seconds;
  uint64_t iter = 0;
  while (heap != NULL && runner_now() < end) {
    for (int burst = 0; burst < 64; burst++, iter++) {
      item it;
      it.size = random_size(&rng);
      it.seed = ((uint64_t)w->id << 56) ^ iter;
      it.p = mia_heap_malloc(heap, it.size);
      if (it.p == NULL) {
        size_t now = atomic_load_explicit(&live_bytes, memory_order_relaxed);
        if (w->c.nulls++ == 0 && now > atomic_load(&live_at_null)) atomic_store(&live_at_null, now);
        continue;
      }
      w->c.allocs++;
      size_t now = atomic_fetch_add_explicit(&live_bytes, it.size, memory_order_relaxed) + it.size;
      if (now > atomic_load_explicit(&live_peak, memory_order_relaxed)) atomic_store_explicit(&live_peak, now, memory_order_relaxed);
      if (!in_buffer(it.p, it.size)) w->c.outside++;
      pattern_fill(it.p, it.size, it.seed);
      int to = (int)rng_range(&rng, 0, NTHREADS - 1);
      if (to != w->id && post(to, it)) { w->c.sent++; continue; }
      if (nkeep < KEEP) keep[nkeep++] = it;
      else { release(&w->c, &keep[next]); keep[next] = it; next = (next + 1) % KEEP; }
    }
    drain(w);
  }
  for (size_t i = 0; i < nkeep; i++) release(&w->c, &keep[i]);
  pthread_barrier_wait(&barrier); /* nobody sends any more */
  if (w->id == 0) atomic_fetch_add(&phase_reserves_big, atomic_load(&reserves_big) - phase_start);
  drain(w);
  pthread_barrier_wait(&barrier); /* every block is freed */
  if (heap != NULL) mia_heap_delete(heap);
  return NULL;
}

TEST(arena_threads_waves) {
  counters sum = {0, 0, 0, 0, 0, 0, 0, 0};
  for (int wave = 0; wave < WAVES; wave++) {
    worker ws[NTHREADS];
    pthread_barrier_init(&barrier, NULL, NTHREADS);
    for (int i = 0; i < NTHREADS; i++) {
      memset(&ws[i], 0, sizeof ws[i]);
      ws[i].id = i;
      pthread_create(&ws[i].thread, NULL, worker_main, &ws[i]);
    }
    counters c = {0, 0, 0, 0, 0, 0, 0, 0};
    for (int i = 0; i < NTHREADS; i++) {
      pthread_join(ws[i].thread, NULL);
      c.allocs += ws[i].c.allocs; c.frees += ws[i].c.frees; c.sent += ws[i].c.sent;
      c.received += ws[i].c.received; c.bad += ws[i].c.bad; c.nulls += ws[i].c.nulls;
      c.outside += ws[i].c.outside; c.no_heap += ws[i].c.no_heap;
    }
    pthread_barrier_destroy(&barrier);
    printf("     wave %d: %zu blocks allocated, %zu freed by another thread, %zu NULL; OS reserves > 64 KiB so far: %ld in the allocation phases, %ld in all\n",
           wave, c.allocs, c.received, c.nulls, atomic_load(&phase_reserves_big), atomic_load(&reserves_big));
    sum.allocs += c.allocs; sum.frees += c.frees; sum.sent += c.sent; sum.received += c.received;
    sum.bad += c.bad; sum.nulls += c.nulls; sum.outside += c.outside; sum.no_heap += c.no_heap;
  }
  printf("     live: peak %zu KiB of the %zu KiB buffer; %zu NULL results (live when one came: up to %zu KiB)\n",
         atomic_load(&live_peak) / KiB, BUFFER_SIZE / KiB, sum.nulls, atomic_load(&live_at_null) / KiB);
  printf("     OS reserves: %ld of more than 64 KiB in the allocation phases, %ld in all (%ld small)\n",
         atomic_load(&phase_reserves_big), atomic_load(&reserves_big) + atomic_load(&reserves_small), atomic_load(&reserves_small));
  CHECKF(sum.no_heap == 0, "%zu threads got no heap from mia_heap_new_in_arena", sum.no_heap);
  CHECKF(sum.allocs > 0, "nothing allocated");
  /* the arena is full only when most of it is live: a NULL below half is memory lost to the arena's heaps */
  CHECKF(sum.nulls == 0 || atomic_load(&live_at_null) >= BUFFER_SIZE / 2,
         "%zu allocations gave NULL with only %zu KiB of the %zu KiB arena live", sum.nulls,
         atomic_load(&live_at_null) / KiB, BUFFER_SIZE / KiB);
  CHECKF(sum.bad == 0, "%zu blocks damaged", sum.bad);
  CHECKF(sum.outside == 0, "%zu blocks outside the arena's buffer", sum.outside);
  CHECKF(sum.sent == sum.received, "%zu blocks sent, %zu received", sum.sent, sum.received);
  CHECKF(sum.allocs == sum.frees, "%zu allocated, %zu freed", sum.allocs, sum.frees);
  CHECKF(sum.received > 0, "no cross-thread free happened");
  CHECKF(atomic_load(&phase_reserves_big) == 0, "%ld OS reserves of more than 64 KiB while the arena heaps allocated",
         atomic_load(&phase_reserves_big));
}

/* Deterministic: a heap of the arena empties its pages (no collect, its
   thread still alive), then a heap of another thread in the same arena must
   get that memory: the arena has no live block. */
static mia_heap_t* first_heap;
static void* first_blocks[2];
static void* empty_then_wait(void* arg) {
  (void)arg;
  first_heap = mia_heap_new_in_arena(arena);
  if (first_heap == NULL) return NULL;
  first_blocks[0] = mia_heap_malloc(first_heap, 100);      /* a small-page segment */
  first_blocks[1] = mia_heap_malloc(first_heap, 64 * KiB); /* a medium-page segment */
  mia_free(first_blocks[0]);
  mia_free(first_blocks[1]);
  pthread_barrier_wait(&barrier); /* the other thread allocates now */
  pthread_barrier_wait(&barrier);
  mia_heap_delete(first_heap);
  return NULL;
}
TEST(arena_threads_empty_memory_moves) {
  /* fill the arena from one thread so that every segment passes through its heap */
  pthread_barrier_init(&barrier, NULL, 2);
  pthread_t t;
  pthread_create(&t, NULL, empty_then_wait, NULL);
  pthread_barrier_wait(&barrier);
  mia_heap_t* h = mia_heap_new_in_arena(arena);
  CHECK_NOT_NULL(h);
  size_t got = 0;
  static void* blocks[BUFFER_SIZE / (128 * KiB)];
  if (h != NULL) {
    /* blocks of 127 KiB (four to a 512 KiB medium page): the whole arena, less metadata */
    for (size_t i = 0; i < ARRAY_LEN(blocks); i++) {
      blocks[i] = mia_heap_malloc(h, 127 * KiB);
      if (blocks[i] != NULL) got++;
    }
    for (size_t i = 0; i < ARRAY_LEN(blocks); i++) mia_free(blocks[i]);
    mia_heap_delete(h);
  }
  pthread_barrier_wait(&barrier);
  pthread_join(t, NULL);
  pthread_barrier_destroy(&barrier);
  printf("     after another heap emptied its pages: %zu of %zu blocks of 127 KiB from the %zu KiB arena\n",
         got, ARRAY_LEN(blocks), BUFFER_SIZE / KiB);
  CHECKF(first_heap != NULL && first_blocks[0] != NULL && first_blocks[1] != NULL, "the first heap could not allocate");
  /* 16 segments of 8 medium pages; the segment's metadata may cost its first page a block or two */
  CHECKF(got >= ARRAY_LEN(blocks) - 2 * (BUFFER_SIZE / (4 * MiB)), "only %zu of %zu blocks", got, ARRAY_LEN(blocks));
}

int main(int argc, char** argv) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  if (argc > 1) wave_seconds = atof(argv[1]) / WAVES;
  mia_os_hooks_default(&builtin);
  mia_os_hooks_t counting = builtin;
  counting.reserve = count_reserve;
  CHECKF(mia_os_hooks_set(&counting), "mia_os_hooks_set refused the counting hooks");
  for (int i = 0; i < NTHREADS; i++) pthread_mutex_init(&boxes[i].lock, NULL);
  bool managed = mia_manage_os_memory_ex(buffer, sizeof buffer, true /* committed */, false /* large */,
                                         true /* zero */, -1, true /* exclusive */, &arena);
  CHECKF(managed && arena != 0, "mia_manage_os_memory_ex failed (arena %d)", arena);
  if (!managed) return runner_finish();
  RUN(arena_threads_empty_memory_moves);
  RUN(arena_threads_waves);
  return runner_finish();
}
