/* lifecycle_fuzz.c - random lives of heaps, threads and forks, checked
   against a shadow model.

   Its own program (its own MIALLOC_IMPLEMENTATION); the Makefile builds it
   release, ASan+UBSan and TSan (tests/ownership.mk):
      cc -std=gnu11 -O2 -pthread tests/lifecycle_fuzz.c -o lifecycle_fuzz
      ./lifecycle_fuzz [--seconds S] [--seed N] [--episodes K] [--ops N] [--trace]

   An episode is one seeded sequence of operations, run in a child process of
   its own (a crash or a hang ends the episode, not the program). A director
   thread (the child's main thread, slot 0) draws each operation from the
   seed and hands it to a worker thread (slots 1..6), waiting for it to finish,
   so an episode does the same operations in the same order every time it is
   run: `--seed N --episodes 1` replays episode N, `--trace` prints every
   operation. The operations:
     - threads start and exit (with live blocks and heaps left behind);
     - heaps made (plain, in a shared arena, in an exclusive arena), deleted
       or destroyed by their owner or by another thread, also after the owner
       exited;
     - allocations (malloc, zalloc, calloc, aligned; from the default heap or
       any live heap, owned or not), frees and reallocs by any thread;
     - checks: a block's contents, mia_usable_size stable and >= the size
       asked for, mia_heap_contains_block true for a block the owner took from
       its heap and false for another heap's, no block overlapping another
       live block or a live heap's descriptor;
     - mia_collect and mia_heap_collect;
     - fork (the child frees inherited blocks of every thread, allocates,
       and sometimes frees everything and checks committed memory comes back);
     - two races, timing-dependent but from the same seed: a heap's owner
       exiting while another thread destroys or deletes it; and threads
       churning (arena heaps, a heap's shared part, huge blocks) while the
       director forks;
     - an exclusive arena with nothing live must serve a new heap.
   At the end every block is freed, every heap deleted or destroyed, every
   thread runs mia_collect(true): committed memory must be within one segment
   (4 MiB) per live thread of where the episode started, and within one once
   the workers have exited.

   Episodes run (seeds base, base+1, ...) until --seconds (default 6) have
   passed. The last line is `N passed, N failed`, counting episodes; each
   failed one is listed with its seed and the first thing that went wrong. */
#define MIALLOC_IMPLEMENTATION
#include "../mialloc.h"

#include "runner.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

runner_state runner;

#ifdef MIALLOC_SEGMENT_SHIFT
#define LF_SEGMENT ((size_t)1 << MIALLOC_SEGMENT_SHIFT)
#else
#define LF_SEGMENT ((size_t)4 * MiB)
#endif

#if defined(__SANITIZE_THREAD__)
#define LF_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define LF_TSAN 1
#endif
#endif
#ifndef LF_TSAN
#define LF_TSAN 0
#endif
#if defined(__SANITIZE_ADDRESS__)
#define LF_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define LF_ASAN 1
#endif
#endif
#ifndef LF_ASAN
#define LF_ASAN 0
#endif

#define LF_SLOTS 7          /* slot 0: the director; 1..6: workers */
#define LF_HEAPS 12
#define LF_BLOCKS 3000
#define LF_EXCLUSIVE_SIZE (32 * MiB)
#define LF_SHARED_SIZE (64 * MiB)

/* ---------------------------------------------------------------------------
   The episode's state (the child's): options, model, threads
--------------------------------------------------------------------------- */

typedef struct lf_options {
  double seconds;
  uint64_t seed;
  size_t episodes;   /* 0: as many as fit in `seconds` */
  size_t ops;
  bool trace;
  bool no_fork, no_race, no_arena; /* leave a family of operations out (to narrow a failure down) */
  bool no_orphan;                  /* a thread ends its heaps before it exits (no heap outlives its owner) */
} lf_options;
static lf_options opt;

typedef enum { ARENA_NONE, ARENA_SHARED, ARENA_EXCLUSIVE } lf_arena_kind;

typedef struct lf_block {
  uint8_t* p;
  size_t size;       /* asked for; the pattern covers it */
  size_t usable;     /* mia_usable_size when it was made */
  uint64_t seed;
  int heap;          /* index in heaps[] it came from, -1 a default heap, -2 a heap deleted since */
  bool by_owner;     /* allocated by the heap's owner (not through its shared part) */
  lf_arena_kind arena;
} lf_block;

typedef struct lf_heap {
  mia_heap_t* h;
  bool live;
  int owner;         /* slot, or -1 once the owner exited */
  lf_arena_kind arena;
  bool shared_used;  /* another thread allocated from it */
} lf_heap;

typedef struct lf_model {
  lf_block blocks[LF_BLOCKS];
  size_t nblocks;
  lf_heap heaps[LF_HEAPS];
  /* live block intervals, sorted by start (index into blocks[] kept in step) */
  uintptr_t iv_start[LF_BLOCKS], iv_end[LF_BLOCKS];
  size_t niv;
} lf_model;
static lf_model M;

static mia_arena_id_t arena_shared, arena_exclusive;
static uint8_t* arena_shared_start;
static uint8_t* arena_exclusive_start;
static size_t committed_start;
static uint64_t rng;
static size_t op_index;
static char op_desc[200];
/* the last operations, for a failure report */
#define LF_RING 16
static char ring[LF_RING][200];
static size_t ring_n;

/* The first failure of an episode, for the parent's tally (MAP_SHARED). */
static char* verdict;
#define LF_VERDICT 240

static size_t committed_now(void) {
  size_t c = 0;
  mia_process_info(NULL, NULL, NULL, NULL, NULL, &c, NULL, NULL);
  return c;
}

static void print_ring(void) {
  const size_t n = ring_n < LF_RING ? ring_n : LF_RING;
  fprintf(stderr, "  the last %zu operations:\n", n);
  for (size_t i = ring_n - n; i < ring_n; i++) fprintf(stderr, "    %s\n", ring[i % LF_RING]);
}

/* The episode fails: say why (the parent shows it), and exit. */
static RUNNER_PRINTF(1, 2) void lf_fail(const char* fmt, ...) {
  char msg[400];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  fprintf(stderr, "FAIL seed %llu op %zu (%s): %s\n", (unsigned long long)opt.seed, op_index, op_desc, msg);
  if (verdict != NULL) snprintf(verdict, LF_VERDICT, "%.230s", msg);
  print_ring();
  fflush(stderr);
  _exit(1);
}

static RUNNER_PRINTF(1, 2) void lf_op(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(op_desc, sizeof op_desc, fmt, ap);
  va_end(ap);
  snprintf(ring[ring_n % LF_RING], sizeof ring[0], "#%zu %.170s", op_index, op_desc);
  ring_n++;
  if (opt.trace) fprintf(stderr, "#%zu %s\n", op_index, op_desc);
}

/* A crash in the child: where it was. */
static struct sigaction old_actions[NSIG];
static void on_fatal(int sig) {
  char line[300];
  int n = snprintf(line, sizeof line, "CRASH seed %llu op %zu (%s): signal %d\n", (unsigned long long)opt.seed, op_index, op_desc, sig);
  if (n > 0) { ssize_t w = write(2, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1); (void)w; }
  const size_t k = ring_n < LF_RING ? ring_n : LF_RING;
  for (size_t i = ring_n - k; i < ring_n; i++) {
    n = snprintf(line, sizeof line, "    %s\n", ring[i % LF_RING]);
    if (n > 0) { ssize_t w = write(2, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1); (void)w; }
  }
  if (verdict != NULL && verdict[0] == 0) {
    const char* what = sig == SIGSEGV ? "SIGSEGV" : sig == SIGBUS ? "SIGBUS" : sig == SIGABRT ? "SIGABRT" : sig == SIGTERM ? "hung" : "signal";
    snprintf(verdict, LF_VERDICT, "%s in: %s", what, op_desc);
    for (char* c = verdict; *c; c++) if (*c >= '0' && *c <= '9') *c = '#'; /* numbers vary: keep the kind */
  }
  sigaction(sig, &old_actions[sig], NULL);
  if (sig == SIGTERM || sig == SIGABRT) raise(sig);
}
static void catch_fatal(void) {
  const int sigs[] = { SIGSEGV, SIGBUS, SIGABRT, SIGILL, SIGFPE, SIGTERM };
  for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_fatal;
    sigemptyset(&sa.sa_mask);
    sigaction(sigs[i], &sa, &old_actions[sigs[i]]);
  }
}

static size_t pick(size_t n) { return (size_t)(rng_next(&rng) % (uint64_t)n); }
static bool chance(unsigned percent) { return rng_next(&rng) % 100 < percent; }

/* ---------------------------------------------------------------------------
   Intervals of live blocks (sorted): overlap checks
--------------------------------------------------------------------------- */

static size_t iv_find(uintptr_t start) { /* first index with iv_start >= start */
  size_t lo = 0, hi = M.niv;
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    if (M.iv_start[mid] < start) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
/* The live block containing address a, or NULL. */
static bool iv_contains(uintptr_t a, uintptr_t* s, uintptr_t* e) {
  size_t i = iv_find(a + 1);
  if (i == 0) return false;
  i--;
  if (a >= M.iv_start[i] && a < M.iv_end[i]) { *s = M.iv_start[i]; *e = M.iv_end[i]; return true; }
  return false;
}
static void iv_insert(uintptr_t start, uintptr_t end) {
  const size_t i = iv_find(start);
  if (i > 0 && M.iv_end[i - 1] > start)
    lf_fail("block [%p, %p) overlaps the live block [%p, %p)", (void*)start, (void*)end, (void*)M.iv_start[i - 1], (void*)M.iv_end[i - 1]);
  if (i < M.niv && M.iv_start[i] < end)
    lf_fail("block [%p, %p) overlaps the live block [%p, %p)", (void*)start, (void*)end, (void*)M.iv_start[i], (void*)M.iv_end[i]);
  memmove(&M.iv_start[i + 1], &M.iv_start[i], (M.niv - i) * sizeof(uintptr_t));
  memmove(&M.iv_end[i + 1], &M.iv_end[i], (M.niv - i) * sizeof(uintptr_t));
  M.iv_start[i] = start;
  M.iv_end[i] = end;
  M.niv++;
}
static void iv_remove(uintptr_t start) {
  const size_t i = iv_find(start);
  if (i >= M.niv || M.iv_start[i] != start) lf_fail("model: no interval at %p", (void*)start);
  memmove(&M.iv_start[i], &M.iv_start[i + 1], (M.niv - i - 1) * sizeof(uintptr_t));
  memmove(&M.iv_end[i], &M.iv_end[i + 1], (M.niv - i - 1) * sizeof(uintptr_t));
  M.niv--;
}

/* ---------------------------------------------------------------------------
   Work items: what a thread runs (mialloc calls and the block checks); the
   director updates and checks the model from the results.
--------------------------------------------------------------------------- */

typedef enum {
  W_NONE, W_ALLOC, W_FREE, W_REALLOC, W_CHECK, W_HEAP_NEW, W_HEAP_DELETE, W_HEAP_DESTROY,
  W_COLLECT, W_PROBE, W_CHURN, W_EXIT
} lf_work_kind;

typedef struct lf_work {
  lf_work_kind kind;
  /* inputs */
  mia_heap_t* heap;                 /* NULL: the default heap */
  size_t size, align, new_size;
  int variant;                      /* alloc: 0 malloc 1 zalloc 2 calloc 3 aligned; free: 0 free 1 free_size */
  uint8_t* p;
  uint64_t seed, new_seed;
  size_t usable_expected;
  lf_arena_kind arena;
  bool force;
  mia_heap_t* mine[LF_HEAPS];       /* heaps this thread owns: contains checks */
  size_t nmine;
  mia_heap_t* contains_heap;        /* a heap that should contain p (NULL: none) */
  mia_heap_t* churn_heap;
  /* outputs */
  void* result;
  size_t usable, bad_at, nulls;
  bool zero_bad, contains, contains_other, stack_contained;
} lf_work;

static void work_run(lf_work* w) {
  switch (w->kind) {
    case W_NONE: case W_EXIT: break;
    case W_ALLOC: {
      void* p = NULL;
      mia_heap_t* h = w->heap;
      if (w->variant == 0) p = h ? mia_heap_malloc(h, w->size) : mia_malloc(w->size);
      else if (w->variant == 1) p = h ? mia_heap_zalloc(h, w->size) : mia_zalloc(w->size);
      else if (w->variant == 2) p = h ? mia_heap_calloc(h, 1, w->size) : mia_calloc(1, w->size);
      else p = h ? mia_heap_malloc_aligned(h, w->size, w->align) : mia_malloc_aligned(w->size, w->align);
      w->result = p;
      if (p == NULL) break;
      w->usable = mia_usable_size(p);
      w->zero_bad = (w->variant == 1 || w->variant == 2) && !mem_is(p, 0, w->size);
      pattern_fill(p, w->size, w->seed);
      w->contains = w->contains_heap != NULL && mia_heap_contains_block(w->contains_heap, p);
      w->contains_other = false;
      for (size_t i = 0; i < w->nmine; i++)
        if (w->mine[i] != h && mia_heap_contains_block(w->mine[i], p)) w->contains_other = true;
      break;
    }
    case W_FREE:
    case W_CHECK: {
      w->bad_at = pattern_check(w->p, w->size, w->seed);
      w->usable = mia_usable_size(w->p);
      w->contains = w->contains_heap != NULL && mia_heap_contains_block(w->contains_heap, w->p);
      w->contains_other = false;
      for (size_t i = 0; i < w->nmine; i++)
        if (w->mine[i] != w->contains_heap && mia_heap_contains_block(w->mine[i], w->p)) w->contains_other = true;
      unsigned char local[64];
      w->stack_contained = false;
      for (size_t i = 0; i < w->nmine; i++)
        if (mia_heap_contains_block(w->mine[i], local + 8)) w->stack_contained = true;
      if (w->kind == W_FREE && w->bad_at == w->size) {
        if (w->variant == 1) mia_free_size(w->p, w->size);
        else mia_free(w->p);
      }
      break;
    }
    case W_REALLOC: {
      w->bad_at = pattern_check(w->p, w->size, w->seed);
      if (w->bad_at != w->size) break;
      void* q = w->heap ? mia_heap_realloc(w->heap, w->p, w->new_size) : mia_realloc(w->p, w->new_size);
      w->result = q;
      if (q == NULL) break;
      const size_t keep = w->size < w->new_size ? w->size : w->new_size;
      w->bad_at = pattern_check(q, keep, w->seed);
      w->usable = mia_usable_size(q);
      pattern_fill(q, w->new_size, w->new_seed);
      break;
    }
    case W_HEAP_NEW:
      w->result = w->arena == ARENA_NONE ? mia_heap_new()
                : mia_heap_new_in_arena(w->arena == ARENA_SHARED ? arena_shared : arena_exclusive);
      if (w->result != NULL && w->variant == 1) mia_heap_set_name((mia_heap_t*)w->result, "fuzz");
      break;
    case W_HEAP_DELETE: mia_heap_delete(w->heap); break;
    case W_HEAP_DESTROY: mia_heap_destroy(w->heap); break;
    case W_COLLECT:
      if (w->heap != NULL) mia_heap_collect(w->heap, w->force);
      else mia_collect(w->force);
      break;
    case W_PROBE: {
      mia_heap_t* h = mia_heap_new_in_arena(arena_exclusive);
      if (h == NULL) { w->nulls = 1000; break; }
      for (size_t i = 0; i < 16; i++) {
        void* p = mia_heap_malloc(h, 1024);
        if (p == NULL) w->nulls++;
        else memset(p, 0x3C, 1024);
      }
      mia_heap_destroy(h);
      break;
    }
    case W_CHURN: break; /* handled by churn_run */
  }
}

/* ---------------------------------------------------------------------------
   Worker threads
--------------------------------------------------------------------------- */

typedef struct lf_thread {
  bool live;
  pthread_t tid;
  pthread_mutex_t lock;
  pthread_cond_t cond;
  lf_work* work;           /* posted by the director */
  bool done;
  _Atomic bool churn_stop;
} lf_thread;
static lf_thread T[LF_SLOTS];

/* Churn, for the fork race: private blocks from the default heap, a heap
   (maybe another thread's: its shared part's lock), huge blocks (the shared
   arena's lock), until told to stop. */
static void churn_run(lf_thread* t, lf_work* w) {
  void* mine[64];
  memset(mine, 0, sizeof mine);
  uint64_t r = w->seed | 1;
  size_t n = 0;
  while (!atomic_load_explicit(&t->churn_stop, memory_order_relaxed) || n < 64) {
    const size_t i = (size_t)(rng_next(&r) % 64);
    if (mine[i] != NULL) { mia_free(mine[i]); mine[i] = NULL; }
    const unsigned k = (unsigned)(rng_next(&r) % 16);
    if (k == 0) mine[i] = mia_malloc(2 * MiB + (size_t)(rng_next(&r) % MiB));
    else if (k < 6 && w->churn_heap != NULL) mine[i] = mia_heap_malloc(w->churn_heap, 16 + (size_t)(rng_next(&r) % 500));
    else mine[i] = mia_malloc(16 + (size_t)(rng_next(&r) % 2000));
    if (mine[i] == NULL) w->nulls++;
    else memset(mine[i], 0x11, 16);
    n++;
  }
  for (size_t i = 0; i < 64; i++) mia_free(mine[i]);
}

static void* worker_main(void* arg) {
  lf_thread* t = (lf_thread*)arg;
  for (;;) {
    pthread_mutex_lock(&t->lock);
    while (t->work == NULL) pthread_cond_wait(&t->cond, &t->lock);
    lf_work* w = t->work;
    pthread_mutex_unlock(&t->lock);
    const bool exiting = (w->kind == W_EXIT);
    if (w->kind == W_CHURN) churn_run(t, w);
    else work_run(w);
    pthread_mutex_lock(&t->lock);
    t->work = NULL;
    t->done = true;
    pthread_cond_broadcast(&t->cond);
    pthread_mutex_unlock(&t->lock);
    if (exiting) return NULL; /* thread exit: mialloc's tear-down runs now */
  }
}

static void post(size_t slot, lf_work* w) {
  lf_thread* t = &T[slot];
  pthread_mutex_lock(&t->lock);
  t->done = false;
  t->work = w;
  pthread_cond_broadcast(&t->cond);
  pthread_mutex_unlock(&t->lock);
}
static void await(size_t slot) {
  lf_thread* t = &T[slot];
  pthread_mutex_lock(&t->lock);
  while (!t->done) pthread_cond_wait(&t->cond, &t->lock);
  pthread_mutex_unlock(&t->lock);
}
/* Run `w` on `slot` (the director itself for slot 0) and wait for it. */
static void run_on(size_t slot, lf_work* w) {
  if (slot == 0) { work_run(w); return; }
  post(slot, w);
  await(slot);
}

static bool thread_start(size_t slot) {
  lf_thread* t = &T[slot];
  pthread_mutex_init(&t->lock, NULL);
  pthread_cond_init(&t->cond, NULL);
  t->work = NULL;
  t->done = false;
  atomic_store(&t->churn_stop, false);
  if (pthread_create(&t->tid, NULL, worker_main, t) != 0) return false;
  t->live = true;
  return true;
}

/* The model: a thread is gone; its heaps live on (orphaned). */
static void model_thread_gone(size_t slot) {
  T[slot].live = false;
  for (size_t i = 0; i < LF_HEAPS; i++)
    if (M.heaps[i].live && M.heaps[i].owner == (int)slot) M.heaps[i].owner = -1;
}

static void heap_end(size_t i, size_t slot, bool destroy);
static void thread_exit(size_t slot) {
  if (opt.no_orphan)
    for (size_t i = 0; i < LF_HEAPS; i++)
      if (M.heaps[i].live && M.heaps[i].owner == (int)slot) heap_end(i, slot, (i & 1) != 0);
  lf_work w;
  memset(&w, 0, sizeof w);
  w.kind = W_EXIT;
  post(slot, &w);
  pthread_join(T[slot].tid, NULL);
  pthread_mutex_destroy(&T[slot].lock);
  pthread_cond_destroy(&T[slot].cond);
  model_thread_gone(slot);
}

static size_t live_slots(size_t* out) {
  size_t n = 0;
  for (size_t s = 0; s < LF_SLOTS; s++)
    if (T[s].live) out[n++] = s;
  return n;
}
static size_t random_live_slot(void) {
  size_t s[LF_SLOTS];
  const size_t n = live_slots(s);
  return s[pick(n)];
}
static size_t live_heaps(size_t* out) {
  size_t n = 0;
  for (size_t i = 0; i < LF_HEAPS; i++)
    if (M.heaps[i].live) out[n++] = i;
  return n;
}

/* Heaps `slot` owns (for contains checks). */
static void fill_mine(lf_work* w, size_t slot) {
  w->nmine = 0;
  for (size_t i = 0; i < LF_HEAPS; i++)
    if (M.heaps[i].live && M.heaps[i].owner == (int)slot) w->mine[w->nmine++] = M.heaps[i].h;
}

/* ---------------------------------------------------------------------------
   Operations (director side): choose, run, check, update the model
--------------------------------------------------------------------------- */

static size_t random_size(bool small_only) {
  const size_t r = pick(1000);
  if (!small_only && r < 5) return rng_range(&rng, 1 * MiB, 5 * MiB);        /* huge */
  if (!small_only && r < 25) return rng_range(&rng, 64 * KiB, 1 * MiB);      /* large */
  const size_t lo = (size_t)1 << rng_range(&rng, 0, small_only ? 9 : 15);
  return rng_range(&rng, lo, 2 * lo);
}

static void block_add(uint8_t* p, size_t size, size_t usable, uint64_t seed, int heap, bool by_owner, lf_arena_kind arena) {
  for (size_t i = 0; i < LF_HEAPS; i++)
    if (M.heaps[i].live && (uintptr_t)M.heaps[i].h >= (uintptr_t)p && (uintptr_t)M.heaps[i].h < (uintptr_t)p + usable)
      lf_fail("the new block [%p, %p) holds the descriptor of live heap %zu (%p)", (void*)p, (void*)(p + usable), i, (void*)M.heaps[i].h);
  iv_insert((uintptr_t)p, (uintptr_t)p + usable);
  lf_block* b = &M.blocks[M.nblocks++];
  b->p = p;
  b->size = size;
  b->usable = usable;
  b->seed = seed;
  b->heap = heap;
  b->by_owner = by_owner;
  b->arena = arena;
}
static void block_remove(size_t i) {
  iv_remove((uintptr_t)M.blocks[i].p);
  M.blocks[i] = M.blocks[--M.nblocks];
}

static size_t exclusive_nulls; /* NULL from an exclusive-arena heap: allowed, counted */

static void op_alloc(void) {
  if (M.nblocks >= LF_BLOCKS - 1) return;
  const size_t slot = random_live_slot();
  size_t hs[LF_HEAPS];
  const size_t nh = live_heaps(hs);
  int heap = -1;
  if (nh > 0 && chance(55)) heap = (int)hs[pick(nh)];
  lf_work w;
  memset(&w, 0, sizeof w);
  w.kind = W_ALLOC;
  const lf_arena_kind arena = heap >= 0 ? M.heaps[heap].arena : ARENA_NONE;
  w.heap = heap >= 0 ? M.heaps[heap].h : NULL;
  w.size = random_size(arena == ARENA_EXCLUSIVE);
  w.variant = (int)pick(4);
  w.align = (size_t)8 << pick(10); /* 8 .. 4 KiB */
  w.seed = rng_next(&rng);
  const bool by_owner = heap >= 0 && M.heaps[heap].owner == (int)slot;
  w.contains_heap = by_owner ? w.heap : NULL;
  fill_mine(&w, slot);
  char from[64];
  if (heap >= 0) snprintf(from, sizeof from, "heap %d (%s%s)", heap, by_owner ? "owner" : "not the owner", M.heaps[heap].owner < 0 ? ", owner exited" : "");
  else snprintf(from, sizeof from, "the default heap");
  lf_op("alloc %zu B (%s) on slot %zu from %s", w.size, w.variant == 0 ? "malloc" : w.variant == 1 ? "zalloc" : w.variant == 2 ? "calloc" : "aligned",
        slot, from);
  run_on(slot, &w);
  if (w.result == NULL) {
    if (arena == ARENA_EXCLUSIVE) { exclusive_nulls++; return; }
    lf_fail("NULL for %zu bytes", w.size);
  }
  uint8_t* p = (uint8_t*)w.result;
  if (w.usable < w.size) lf_fail("usable size %zu < %zu asked for", w.usable, w.size);
  if (w.zero_bad) lf_fail("zalloc/calloc block %p not zero", (void*)p);
  if (w.variant == 3 && ((uintptr_t)p & (w.align - 1)) != 0) lf_fail("block %p not aligned to %zu", (void*)p, w.align);
  if (by_owner && !w.contains) lf_fail("mia_heap_contains_block(heap %d, %p) is false for a block its owner just took from it", heap, (void*)p);
  if (w.contains_other) lf_fail("another heap of slot %zu contains the block %p just taken from %s", slot, (void*)p, heap >= 0 ? "a heap" : "the default heap");
  if (arena == ARENA_EXCLUSIVE && !(p >= arena_exclusive_start && p < arena_exclusive_start + LF_EXCLUSIVE_SIZE))
    lf_fail("a block of an exclusive-arena heap at %p is outside the arena", (void*)p);
  if (heap >= 0 && !by_owner) M.heaps[heap].shared_used = true;
  block_add(p, w.size, w.usable, w.seed, heap, by_owner, arena);
}

/* Check a block (and free it): contents, usable size, containment. */
static void op_check_or_free(bool do_free) {
  if (M.nblocks == 0) return;
  const size_t i = pick(M.nblocks);
  lf_block* b = &M.blocks[i];
  const size_t slot = random_live_slot();
  lf_work w;
  memset(&w, 0, sizeof w);
  w.kind = do_free ? W_FREE : W_CHECK;
  w.p = b->p;
  w.size = b->size;
  w.seed = b->seed;
  w.variant = do_free && chance(20) ? 1 : 0;
  fill_mine(&w, slot);
  const bool owner_here = b->heap >= 0 && b->by_owner && M.heaps[b->heap].live && M.heaps[b->heap].owner == (int)slot;
  w.contains_heap = owner_here ? M.heaps[b->heap].h : NULL;
  lf_op("%s block %p (%zu B, heap %d) on slot %zu", do_free ? "free" : "check", (void*)b->p, b->size, b->heap, slot);
  run_on(slot, &w);
  if (w.bad_at != b->size) lf_fail("block %p of %zu bytes damaged at offset %zu", (void*)b->p, b->size, w.bad_at);
  if (w.usable != b->usable) lf_fail("mia_usable_size(%p) is %zu, was %zu", (void*)b->p, w.usable, b->usable);
  if (owner_here && !w.contains) lf_fail("the owner's heap %d does not contain its block %p", b->heap, (void*)b->p);
  if (w.contains_other && b->heap != -2) {
    /* blocks of a default heap may be in the slot's backing heap only; any other heap of the slot must not contain it */
    lf_fail("a heap of slot %zu other than the block's (%d) contains %p", slot, b->heap, (void*)b->p);
  }
  if (w.stack_contained) lf_fail("a heap contains a stack address");
  if (do_free) block_remove(i);
}

static void op_realloc(void) {
  if (M.nblocks == 0) return;
  const size_t i = pick(M.nblocks);
  lf_block* b = &M.blocks[i];
  if (b->arena == ARENA_EXCLUSIVE) return; /* may fail (a full arena): not here */
  const size_t slot = random_live_slot();
  lf_work w;
  memset(&w, 0, sizeof w);
  w.kind = W_REALLOC;
  const bool in_heap = b->heap >= 0 && M.heaps[b->heap].live && chance(50);
  w.heap = in_heap ? M.heaps[b->heap].h : NULL;
  w.p = b->p;
  w.size = b->size;
  w.seed = b->seed;
  w.new_size = chance(50) ? random_size(false) : b->size + pick(b->size + 1);
  w.new_seed = rng_next(&rng);
  lf_op("realloc block %p (%zu -> %zu B) on slot %zu%s", (void*)b->p, b->size, w.new_size, slot, in_heap ? " in its heap" : "");
  run_on(slot, &w);
  if (w.result == NULL && w.bad_at == b->size) lf_fail("realloc to %zu bytes returned NULL", w.new_size);
  const size_t keep = b->size < w.new_size ? b->size : w.new_size;
  if (w.result == NULL ? w.bad_at != b->size : w.bad_at != keep) lf_fail("block %p damaged at offset %zu (realloc)", (void*)b->p, w.bad_at);
  if (w.usable < w.new_size) lf_fail("usable size %zu < %zu after realloc", w.usable, w.new_size);
  uint8_t* q = (uint8_t*)w.result;
  const bool moved = (q != b->p);
  int heap = b->heap;
  bool by_owner = b->by_owner;
  if (moved) {
    heap = in_heap ? b->heap : -1;
    by_owner = in_heap && M.heaps[b->heap].owner == (int)slot;
    if (in_heap && !by_owner) M.heaps[b->heap].shared_used = true;
  }
  const lf_arena_kind arena = b->arena;
  block_remove(i);
  block_add(q, w.new_size, w.usable, w.new_seed, heap, by_owner, moved ? (heap >= 0 ? M.heaps[heap].arena : ARENA_NONE) : arena);
}

static void op_heap_new(void) {
  size_t free_slot = LF_HEAPS;
  size_t exclusive_live = 0;
  for (size_t i = 0; i < LF_HEAPS; i++) {
    if (!M.heaps[i].live && free_slot == LF_HEAPS) free_slot = i;
    if (M.heaps[i].live && M.heaps[i].arena == ARENA_EXCLUSIVE) exclusive_live++;
  }
  if (free_slot == LF_HEAPS) return;
  const size_t slot = random_live_slot();
  lf_work w;
  memset(&w, 0, sizeof w);
  w.kind = W_HEAP_NEW;
  const size_t r = pick(10);
  w.arena = (r < 6 || opt.no_arena) ? ARENA_NONE : r < 8 ? ARENA_SHARED : ARENA_EXCLUSIVE;
  if (w.arena == ARENA_EXCLUSIVE && exclusive_live >= 2) w.arena = ARENA_SHARED;
  w.variant = chance(30) ? 1 : 0; /* 1: named */
  lf_op("heap %zu new on slot %zu (%s)", free_slot, slot, w.arena == ARENA_NONE ? "plain" : w.arena == ARENA_SHARED ? "shared arena" : "exclusive arena");
  run_on(slot, &w);
  mia_heap_t* h = (mia_heap_t*)w.result;
  if (h == NULL) lf_fail("mia_heap_new returned NULL");
  uintptr_t s, e;
  if (iv_contains((uintptr_t)h, &s, &e)) lf_fail("the new heap's descriptor %p lies in the live block [%p, %p)", (void*)h, (void*)s, (void*)e);
  for (size_t i = 0; i < LF_HEAPS; i++)
    if (M.heaps[i].live && M.heaps[i].h == h) lf_fail("the new heap is live heap %zu (%p)", i, (void*)h);
  lf_heap* lh = &M.heaps[free_slot];
  lh->h = h;
  lh->live = true;
  lh->owner = (int)slot;
  lh->arena = w.arena;
  lh->shared_used = false;
}

/* Delete (its blocks stay, now of no heap) or destroy (they go). */
static void heap_end(size_t i, size_t slot, bool destroy) {
  lf_heap* lh = &M.heaps[i];
  lf_work w;
  memset(&w, 0, sizeof w);
  w.kind = destroy ? W_HEAP_DESTROY : W_HEAP_DELETE;
  w.heap = lh->h;
  lf_op("heap %zu %s on slot %zu (%s)", i, destroy ? "destroy" : "delete", slot,
        lh->owner == (int)slot ? "owner" : lh->owner < 0 ? "owner exited" : "not the owner");
  run_on(slot, &w);
  lh->live = false;
  for (size_t k = M.nblocks; k-- > 0;) {
    if (M.blocks[k].heap != (int)i) continue;
    if (destroy) block_remove(k);
    else M.blocks[k].heap = -2;
  }
}
static void op_heap_end(bool destroy) {
  size_t hs[LF_HEAPS];
  const size_t nh = live_heaps(hs);
  if (nh == 0) return;
  const size_t i = hs[pick(nh)];
  size_t slot = random_live_slot();
  if (M.heaps[i].owner >= 0 && chance(50)) slot = (size_t)M.heaps[i].owner;
  heap_end(i, slot, destroy);
}

static void op_thread_start(void) {
  for (size_t s = 1; s < LF_SLOTS; s++) {
    if (T[s].live) continue;
    lf_op("thread start in slot %zu", s);
    if (!thread_start(s)) lf_fail("pthread_create failed");
    return;
  }
}
static void op_thread_exit(void) {
  size_t s[LF_SLOTS];
  const size_t n = live_slots(s);
  if (n <= 1) return;
  const size_t slot = s[1 + pick(n - 1)];
  lf_op("thread exit, slot %zu", slot);
  thread_exit(slot);
}

static void op_collect(void) {
  const size_t slot = random_live_slot();
  lf_work w;
  memset(&w, 0, sizeof w);
  w.kind = W_COLLECT;
  w.force = chance(40);
  size_t hs[LF_HEAPS];
  const size_t nh = live_heaps(hs);
  if (nh > 0 && chance(40)) w.heap = M.heaps[hs[pick(nh)]].h;
  lf_op("collect%s on slot %zu (%s)", w.force ? " (force)" : "", slot, w.heap ? "a heap" : "mia_collect");
  run_on(slot, &w);
}

/* An exclusive arena with nothing live in it serves a new heap (after every
   thread has collected). */
static void op_probe(void) {
  for (size_t i = 0; i < M.nblocks; i++) if (M.blocks[i].arena == ARENA_EXCLUSIVE) return;
  for (size_t i = 0; i < LF_HEAPS; i++) if (M.heaps[i].live && M.heaps[i].arena == ARENA_EXCLUSIVE) return;
  for (size_t s = 0; s < LF_SLOTS; s++) {
    if (!T[s].live) continue;
    lf_work c;
    memset(&c, 0, sizeof c);
    c.kind = W_COLLECT;
    c.force = true;
    lf_op("collect (force) on slot %zu, before the exclusive-arena probe", s);
    run_on(s, &c);
  }
  const size_t slot = random_live_slot();
  lf_work w;
  memset(&w, 0, sizeof w);
  w.kind = W_PROBE;
  lf_op("exclusive arena probe on slot %zu: a heap, 16 x 1 KiB", slot);
  run_on(slot, &w);
  if (w.nulls != 0)
    lf_fail("the exclusive arena (%zu MiB) has nothing live, yet a new heap in it got %zu NULLs of 16 (1 KiB each)", LF_EXCLUSIVE_SIZE / MiB,
            w.nulls >= 1000 ? (size_t)16 : w.nulls);
}

/* ---- fork ---- */

/* The fork child: frees inherited blocks (every thread's), allocates, and
   with `drain` frees everything and checks memory comes back. */
static int fork_child(bool drain, uint64_t seed, mia_heap_t* other_heap) {
  uint64_t r = seed | 1;
  size_t bad = 0, nulls = 0;
  const size_t nfree = drain ? M.nblocks : (M.nblocks < 64 ? M.nblocks : 64);
  for (size_t k = 0; k < nfree; k++) {
    const size_t i = drain ? k : (size_t)(rng_next(&r) % M.nblocks);
    lf_block* b = &M.blocks[i];
    if (b->p == NULL) continue;
    if (pattern_check(b->p, b->size, b->seed) != b->size) bad++;
    mia_free(b->p);
    b->p = NULL;
  }
  void* ps[200];
  for (size_t i = 0; i < 200; i++) {
    const size_t size = 8 + (size_t)(rng_next(&r) % 3000);
    ps[i] = (i % 4 == 0 && other_heap != NULL) ? mia_heap_malloc(other_heap, size) : mia_malloc(size);
    if (ps[i] == NULL) nulls++;
    else pattern_fill(ps[i], size < 64 ? size : 64, i);
  }
  void* huge = mia_malloc(3 * MiB);
  if (huge == NULL) nulls++;
  for (size_t i = 0; i < 200; i++) {
    if (ps[i] == NULL) continue;
    if (pattern_check(ps[i], 8, i) != 8) bad++;
    mia_free(ps[i]);
  }
  mia_free(huge);
  if (drain) {
    for (size_t i = 0; i < LF_HEAPS; i++)
      if (M.heaps[i].live) mia_heap_delete(M.heaps[i].h);
    mia_collect(true);
    const size_t c = committed_now();
    if (c > committed_start + 2 * LF_SEGMENT) {
      fprintf(stderr, "fork child: everything freed, mia_collect(true): committed %.1f MiB, %.1f MiB when the episode started\n",
              (double)c / (double)MiB, (double)committed_start / (double)MiB);
      return 12;
    }
  }
  if (bad != 0) { fprintf(stderr, "fork child: %zu damaged blocks\n", bad); return 10; }
  if (nulls != 0) { fprintf(stderr, "fork child: %zu NULLs\n", nulls); return 11; }
  return 0;
}

/* Fork and wait (at most `limit` s); a failure ends the episode. */
static void fork_and_wait(bool drain, mia_heap_t* other_heap, const char* while_what) {
  const uint64_t seed = rng_next(&rng);
  fflush(stdout);
  fflush(stderr);
  const pid_t pid = fork();
  if (pid < 0) lf_fail("fork failed");
  if (pid == 0) {
    alarm(LF_TSAN ? 8 : 3); /* its work takes milliseconds */
    _exit(fork_child(drain, seed, other_heap));
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) { }
  if (WIFSIGNALED(status) && WTERMSIG(status) == SIGALRM) lf_fail("the fork child hung (%s)", while_what);
  if (WIFSIGNALED(status)) lf_fail("the fork child was killed by signal %d (%s)", WTERMSIG(status), while_what);
  if (WEXITSTATUS(status) != 0) lf_fail("the fork child failed with code %d (%s; 1: an ASan report, 10: damaged blocks, 11: NULL, 12: memory not back, 66: a TSan report)", WEXITSTATUS(status), while_what);
}

static void op_fork(void) {
  size_t hs[LF_HEAPS];
  const size_t nh = live_heaps(hs);
  mia_heap_t* other = NULL;
  for (size_t k = 0; k < nh; k++)
    if (M.heaps[hs[k]].owner != 0 && M.heaps[hs[k]].arena != ARENA_EXCLUSIVE) other = M.heaps[hs[k]].h;
  const bool drain = chance(50);
  lf_op("fork (the child %s)", drain ? "frees everything and checks committed memory" : "frees 64 blocks and allocates");
  fork_and_wait(drain, other, "workers idle");
}

/* ---- the races ---- */

/* A heap's owner exits while another thread destroys or deletes it. */
static void op_race_exit_vs_end(void) {
  size_t hs[LF_HEAPS];
  const size_t nh = live_heaps(hs);
  int cand = -1;
  for (size_t k = 0; k < nh; k++) {
    const lf_heap* lh = &M.heaps[hs[k]];
    if (lh->owner > 0 && lh->arena != ARENA_EXCLUSIVE) { cand = (int)hs[k]; break; }
  }
  if (cand < 0 || opt.no_orphan) return;
  const size_t owner = (size_t)M.heaps[cand].owner;
  size_t s[LF_SLOTS];
  const size_t n = live_slots(s);
  size_t other = LF_SLOTS;
  for (size_t k = 0; k < n; k++) if (s[k] != owner && s[k] != 0) other = s[k];
  if (other == LF_SLOTS) return;
  /* make sure the heap has a shared part: the other thread allocates from it */
  lf_work a;
  memset(&a, 0, sizeof a);
  a.kind = W_ALLOC;
  a.heap = M.heaps[cand].h;
  a.size = 48;
  a.seed = rng_next(&rng);
  lf_op("race prep: slot %zu allocates from heap %d (not the owner)", other, cand);
  run_on(other, &a);
  if (a.result == NULL) lf_fail("NULL from a heap's shared part");
  block_add((uint8_t*)a.result, 48, a.usable, a.seed, cand, false, ARENA_NONE);
  M.heaps[cand].shared_used = true;
  const bool destroy = chance(60);
  lf_op("race: slot %zu (heap %d's owner) exits while slot %zu %s it", owner, cand, other, destroy ? "destroys" : "deletes");
  lf_work e, d;
  memset(&e, 0, sizeof e);
  memset(&d, 0, sizeof d);
  e.kind = W_EXIT;
  d.kind = destroy ? W_HEAP_DESTROY : W_HEAP_DELETE;
  d.heap = M.heaps[cand].h;
  post(owner, &e);
  post(other, &d);
  await(other);
  pthread_join(T[owner].tid, NULL);
  pthread_mutex_destroy(&T[owner].lock);
  pthread_cond_destroy(&T[owner].cond);
  model_thread_gone(owner);
  M.heaps[cand].live = false;
  for (size_t k = M.nblocks; k-- > 0;) {
    if (M.blocks[k].heap != cand) continue;
    if (destroy) block_remove(k);
    else M.blocks[k].heap = -2;
  }
}

/* Workers churn (arena, shared part, huge blocks) while the director forks. */
static void op_race_churn_fork(void) {
  size_t s[LF_SLOTS];
  const size_t n = live_slots(s);
  if (n < 3) return;
  size_t hs[LF_HEAPS];
  const size_t nh = live_heaps(hs);
  mia_heap_t* shared_heap = NULL;
  for (size_t k = 0; k < nh; k++)
    if (M.heaps[hs[k]].arena != ARENA_EXCLUSIVE && M.heaps[hs[k]].owner != 0) shared_heap = M.heaps[hs[k]].h;
  lf_work w[2];
  size_t who[2];
  for (size_t k = 0; k < 2; k++) {
    memset(&w[k], 0, sizeof w[k]);
    w[k].kind = W_CHURN;
    w[k].seed = rng_next(&rng);
    w[k].churn_heap = shared_heap;
    who[k] = s[1 + k];
  }
  if (shared_heap != NULL)
    for (size_t k = 0; k < nh; k++)
      if (M.heaps[hs[k]].h == shared_heap) M.heaps[hs[k]].shared_used = true;
  lf_op("race: slots %zu and %zu churn while the director forks 3 times", who[0], who[1]);
  for (size_t k = 0; k < 2; k++) {
    atomic_store(&T[who[k]].churn_stop, false);
    post(who[k], &w[k]);
  }
  for (int f = 0; f < 3; f++) {
    usleep(300);
    fork_and_wait(false, shared_heap, "while two threads churn");
  }
  for (size_t k = 0; k < 2; k++) atomic_store(&T[who[k]].churn_stop, true);
  for (size_t k = 0; k < 2; k++) await(who[k]);
  for (size_t k = 0; k < 2; k++)
    if (w[k].nulls != 0) lf_fail("%zu NULLs while churning", w[k].nulls);
}

/* ---------------------------------------------------------------------------
   An episode
--------------------------------------------------------------------------- */

static uint8_t* map_aligned(size_t size) {
  void* m = mmap(NULL, size + LF_SEGMENT, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (m == MAP_FAILED) return NULL;
  return (uint8_t*)(((uintptr_t)m + LF_SEGMENT - 1) & ~(uintptr_t)(LF_SEGMENT - 1));
}

static void episode_end(void) {
  /* free everything, end every heap */
  op_index++;
  while (M.nblocks > 0) op_check_or_free(true);
  for (size_t i = 0; i < LF_HEAPS; i++) {
    if (!M.heaps[i].live) continue;
    size_t slot = random_live_slot();
    if (M.heaps[i].owner >= 0 && chance(50)) slot = (size_t)M.heaps[i].owner;
    heap_end(i, slot, chance(50));
  }
  size_t s[LF_SLOTS];
  const size_t n = live_slots(s);
  for (size_t k = 0; k < n; k++) {
    lf_work c;
    memset(&c, 0, sizeof c);
    c.kind = W_COLLECT;
    c.force = true;
    lf_op("end: collect (force) on slot %zu", s[k]);
    run_on(s[k], &c);
  }
  lf_op("end: committed memory with %zu live threads", n);
  const size_t c1 = committed_now();
  if (c1 > committed_start + n * LF_SEGMENT)
    lf_fail("everything freed and collected: committed %.1f MiB, %.1f MiB at the start, %zu live threads (allowed: one segment each)",
            (double)c1 / (double)MiB, (double)committed_start / (double)MiB, n);
  if (!opt.no_arena) op_probe();
  for (size_t k = 0; k < n; k++)
    if (s[k] != 0) { lf_op("end: thread exit, slot %zu", s[k]); thread_exit(s[k]); }
  lf_work c;
  memset(&c, 0, sizeof c);
  c.kind = W_COLLECT;
  c.force = true;
  lf_op("end: collect (force) on the director, every worker gone");
  run_on(0, &c);
  const size_t c2 = committed_now();
  if (c2 > committed_start + LF_SEGMENT)
    lf_fail("every worker gone, everything freed and collected: committed %.1f MiB, %.1f MiB at the start",
            (double)c2 / (double)MiB, (double)committed_start / (double)MiB);
}

static int episode(void) {
  catch_fatal();
  rng = opt.seed * 0x9E3779B97F4A7C15ULL + 0x1234567ULL;
  if (rng == 0) rng = 1;
  memset(&M, 0, sizeof M);
  /* the arenas (process wide: made once per episode, in its own process) */
  arena_shared_start = map_aligned(LF_SHARED_SIZE);
  arena_exclusive_start = map_aligned(LF_EXCLUSIVE_SIZE);
  if (arena_shared_start == NULL || arena_exclusive_start == NULL) lf_fail("mmap failed");
  if ((!opt.no_arena && !mia_manage_os_memory_ex(arena_shared_start, LF_SHARED_SIZE, true, false, true, -1, false, &arena_shared)) ||
      !mia_manage_os_memory_ex(arena_exclusive_start, LF_EXCLUSIVE_SIZE, true, false, true, -1, true, &arena_exclusive))
    lf_fail("mia_manage_os_memory_ex failed");
  mia_thread_init();
  committed_start = committed_now();
  T[0].live = true;
  for (size_t s = 1; s <= 3; s++)
    if (!thread_start(s)) lf_fail("pthread_create failed");
  size_t forks = 0;
  for (op_index = 1; op_index <= opt.ops; op_index++) {
    const size_t r = pick(1000);
    if (r < 300) op_alloc();
    else if (r < 530) op_check_or_free(true);
    else if (r < 600) op_check_or_free(false);
    else if (r < 650) op_realloc();
    else if (r < 700) op_heap_new();
    else if (r < 725) op_heap_end(false);
    else if (r < 750) op_heap_end(true);
    else if (r < 790) op_thread_start();
    else if (r < 815) op_thread_exit();
    else if (r < 850) op_collect();
    else if (r < 870) { if (!opt.no_race) op_race_exit_vs_end(); }
    else if (r < 885) { if (forks < 12 && !opt.no_fork) { forks++; op_fork(); } }
    else if (r < 892) { if (forks < 12 && !opt.no_fork && !opt.no_race) { forks++; op_race_churn_fork(); } }
    else if (r < 900) { if (!opt.no_arena) op_probe(); }
    else op_alloc();
  }
  episode_end();
  return 0;
}

/* ---------------------------------------------------------------------------
   The parent: one child per episode
--------------------------------------------------------------------------- */

static void usage(void) {
  fprintf(stderr, "usage: lifecycle_fuzz [--seconds S] [--seed N] [--episodes K] [--ops N] [--trace] [--no-fork] [--no-race] [--no-arena] [--no-orphan]\n");
  exit(2);
}

int main(int argc, char** argv) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  const bool quick = getenv("MIALLOC_TEST_QUICK") != NULL;
  opt.seconds = 6.0;
  opt.seed = 1;
  opt.episodes = 0;
  opt.ops = LF_TSAN ? 800 : (LF_ASAN || quick) ? 1500 : 3000;
  opt.trace = false;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc) opt.seconds = atof(argv[++i]);
    else if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc) opt.seed = strtoull(argv[++i], NULL, 10);
    else if (strcmp(argv[i], "--episodes") == 0 && i + 1 < argc) opt.episodes = (size_t)strtoull(argv[++i], NULL, 10);
    else if (strcmp(argv[i], "--ops") == 0 && i + 1 < argc) opt.ops = (size_t)strtoull(argv[++i], NULL, 10);
    else if (strcmp(argv[i], "--trace") == 0) opt.trace = true;
    else if (strcmp(argv[i], "--no-fork") == 0) opt.no_fork = true;
    else if (strcmp(argv[i], "--no-race") == 0) opt.no_race = true;
    else if (strcmp(argv[i], "--no-arena") == 0) opt.no_arena = true;
    else if (strcmp(argv[i], "--no-orphan") == 0) opt.no_orphan = true;
    else usage();
  }
  /* an episode takes a second or two; one that hangs is stopped when the
     run's time is up (with a few seconds' grace), so a step stays bounded */
  const double grace = LF_TSAN ? 15.0 : 8.0;
  printf("lifecycle fuzz: %zu operations an episode, seeds from %llu, %s\n", opt.ops, (unsigned long long)opt.seed,
         opt.episodes ? "a fixed number of episodes" : "until the time is up");
  verdict = (char*)mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (verdict == MAP_FAILED) verdict = NULL;
  /* the first failure of each failed episode, counted by kind */
  enum { KINDS = 24 };
  static char kinds[KINDS][LF_VERDICT];
  static size_t kind_count[KINDS];
  static uint64_t kind_seed[KINDS];
  size_t nkinds = 0;
  const double t0 = runner_now();
  const uint64_t base = opt.seed;
  size_t passed = 0, failed = 0, run = 0;
  for (uint64_t seed = base;; seed++) {
    if (opt.episodes != 0 ? run >= opt.episodes : (run > 0 && runner_now() - t0 >= opt.seconds)) break;
    opt.seed = seed;
    run++;
    if (verdict != NULL) verdict[0] = 0;
    fflush(stdout);
    fflush(stderr);
    const pid_t pid = fork();
    if (pid < 0) { printf("fork failed\n"); failed++; break; }
    if (pid == 0) {
      setpgid(0, 0);
      struct rlimit no_core = { 0, 0 };
      setrlimit(RLIMIT_CORE, &no_core);
      const int rc = episode();
      fflush(stdout);
      fflush(stderr);
      _exit(rc);
    }
    setpgid(pid, pid);
    const double start = runner_now();
    int status = 0;
    bool hung = false;
    for (;;) {
      pid_t w = waitpid(pid, &status, WNOHANG);
      if (w == pid) break;
      const double limit = (t0 + opt.seconds + grace) - start > 5.0 ? (t0 + opt.seconds + grace) - start : 5.0;
      if (runner_now() - start > limit) {
        hung = true;
        kill(pid, SIGTERM); /* it says where it was */
        usleep(500000);
        kill(-pid, SIGKILL);
        kill(pid, SIGKILL);
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR) { }
        break;
      }
      usleep(2000);
    }
    const bool ok = !hung && WIFEXITED(status) && WEXITSTATUS(status) == 0;
    if (ok) passed++;
    else {
      failed++;
      if (hung) printf("episode seed %llu: hung (stopped after %.0f s)\n", (unsigned long long)seed, runner_now() - start);
      else if (WIFSIGNALED(status)) printf("episode seed %llu: killed by signal %d\n", (unsigned long long)seed, WTERMSIG(status));
      else printf("episode seed %llu: exit code %d%s\n", (unsigned long long)seed, WEXITSTATUS(status),
                  WEXITSTATUS(status) == 66 ? " (a sanitizer report)" : WEXITSTATUS(status) == 1 ? " (the model disagreed, above)" : "");
      printf("  replay: %s --seed %llu --episodes 1 --ops %zu --trace\n", argv[0], (unsigned long long)seed, opt.ops);
      char kind[LF_VERDICT];
      if (verdict != NULL && verdict[0] != 0) snprintf(kind, sizeof kind, "%s", verdict);
      else if (hung) snprintf(kind, sizeof kind, "the episode hung");
      else if (WIFSIGNALED(status)) snprintf(kind, sizeof kind, "killed by signal %d", WTERMSIG(status));
      else snprintf(kind, sizeof kind, "exit code %d", WEXITSTATUS(status));
      /* addresses and sizes vary: count by the text up to its first number */
      size_t cut = strcspn(kind, "0123456789");
      size_t k = 0;
      while (k < nkinds && strncmp(kinds[k], kind, cut) != 0) k++;
      if (k == nkinds && nkinds < KINDS) { snprintf(kinds[nkinds], LF_VERDICT, "%s", kind); kind_seed[nkinds] = seed; nkinds++; }
      if (k < KINDS) kind_count[k]++;
    }
  }
  if (nkinds > 0) {
    printf("first failures, by kind (episodes, first seed, message):\n");
    for (size_t k = 0; k < nkinds; k++) printf("  %3zu  seed %-6llu %s\n", kind_count[k], (unsigned long long)kind_seed[k], kinds[k]);
  }
  printf("%zu episodes in %.1f s: %zu passed, %zu failed\n", run, runner_now() - t0, passed, failed);
  printf("%zu passed, %zu failed\n", passed, failed);
  return failed == 0 ? 0 : 1;
}
