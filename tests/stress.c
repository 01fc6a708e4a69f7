/* stress.c - a long multi-threaded stress run of mialloc.h.

   Build and run (the Makefile has the same lines; `make stress` runs 16 threads for 60 s):
      cc -std=gnu11 -O2 -pthread tests/stress.c -o stress && ./stress [threads=16] [seconds=2]

   What it does: `threads` worker slots allocate random sizes (mostly small,
   some medium and large, a few 1-4 MiB), keep a set of live blocks, free some
   at random, and post a quarter of their blocks to another slot's
   mutex-protected mailbox to be freed by that slot's thread (cross-thread
   free). Each worker lives for a random number of operations and then exits:
   half of its live blocks are freed, the other half go to a shared orphan pool
   that other threads free later, so the exiting thread's segments are
   abandoned with live blocks in them and must be reclaimed. The main thread
   replaces every worker that exits until the time is up, then frees
   everything that is left.

   Every block carries a canary (the whole block up to 1 KiB, the first and
   last 512 bytes beyond) that is verified before it is freed. A corrupted
   canary prints a clear message and makes the exit code non-zero.

   Output: ops/s, threads started, peak RSS (mia_process_info and VmHWM from
   /proc/self/status); the last line is "N passed, N failed" where a check is
   one verification round (one worker lifetime, plus the final clean-up).
   MIALLOC_TEST_QUICK=1 shortens the worker lifetimes (sanitizer builds). */
#define MIALLOC_IMPLEMENTATION
#include "../mialloc.h"

#include "runner.h"

#include <errno.h>
#include <pthread.h>

runner_state runner;

#define MAX_SLOTS 256
#define LOCAL_MAX 512
#define BOX_CAP 4096
#define ORPHAN_CAP 8192
#define CANARY_FULL 1024 /* blocks up to this size are checked whole */
#define CANARY_EDGE 512  /* larger blocks: this many bytes at each end */

typedef struct item {
  void* p;
  size_t size;
  uint64_t seed;
  uint32_t owner; /* slot that allocated it */
} item;

typedef struct slot {
  pthread_mutex_t lock; /* protects box and nbox */
  item* box;
  size_t nbox;
  pthread_t thread;
  _Atomic int state; /* SLOT_IDLE, SLOT_RUNNING, SLOT_FINISHED */
  size_t gen;        /* lifetimes started in this slot (main thread only) */
} slot;

enum { SLOT_IDLE, SLOT_RUNNING, SLOT_FINISHED };

static slot slots[MAX_SLOTS];
static size_t nslots = 16;
static double seconds = 2.0;
static _Atomic bool stop_flag;

static pthread_mutex_t orphan_lock = PTHREAD_MUTEX_INITIALIZER;
static item orphans[ORPHAN_CAP];
static size_t norphans;

static _Atomic size_t total_allocs, total_frees, total_corrupt, total_lifetimes, total_cross;
static _Atomic long corrupt_printed;

/* ---------------------------------------------------------------------------
   Canaries
--------------------------------------------------------------------------- */

static void canary_fill(void* p, size_t size, uint64_t seed) {
  unsigned char* b = (unsigned char*)p;
  if (size <= CANARY_FULL) {
    pattern_fill(b, size, seed);
  } else {
    pattern_fill(b, CANARY_EDGE, seed);
    pattern_fill(b + size - CANARY_EDGE, CANARY_EDGE, ~seed);
  }
}

/* Offset of the first damaged byte, or SIZE_MAX if the canary is intact. */
static size_t canary_check(const void* p, size_t size, uint64_t seed) {
  const unsigned char* b = (const unsigned char*)p;
  if (size <= CANARY_FULL) {
    size_t off = pattern_check(b, size, seed);
    return off == size ? SIZE_MAX : off;
  }
  size_t off = pattern_check(b, CANARY_EDGE, seed);
  if (off != CANARY_EDGE) return off;
  off = pattern_check(b + size - CANARY_EDGE, CANARY_EDGE, ~seed);
  return off == CANARY_EDGE ? SIZE_MAX : size - CANARY_EDGE + off;
}

/* Verify and free one block; returns 1 if its canary was damaged (and says so). */
static size_t check_and_free(const item* it, size_t by_slot) {
  size_t off = canary_check(it->p, it->size, it->seed);
  size_t bad = 0;
  if (off != SIZE_MAX) {
    bad = 1;
    atomic_fetch_add(&total_corrupt, 1);
    if (atomic_fetch_add(&corrupt_printed, 1) < 20) {
      const unsigned char* b = (const unsigned char*)it->p;
      fprintf(stderr,
              "stress: CORRUPTED canary: block %p of %zu bytes (allocated by slot %u, checked by slot %zu): "
              "byte at offset %zu is 0x%02x\n",
              it->p, it->size, (unsigned)it->owner, by_slot, off, (unsigned)b[off]);
    }
  }
  mia_free(it->p);
  return bad;
}

/* ---------------------------------------------------------------------------
   Workers
--------------------------------------------------------------------------- */

static size_t stress_size(uint64_t* rng) {
  size_t r = (size_t)(rng_next(rng) % 1000);
  if (r < 700) return rng_range(rng, 8, 256);
  if (r < 900) return rng_range(rng, 257, 8 * KiB);
  if (r < 980) return rng_range(rng, 8 * KiB + 1, 64 * KiB);
  if (r < 999) return rng_range(rng, 64 * KiB + 1, 512 * KiB);
  return rng_range(rng, 1 * MiB, 4 * MiB);
}

static bool box_put(size_t target, const item* it) {
  slot* s = &slots[target];
  pthread_mutex_lock(&s->lock);
  bool ok = s->nbox < BOX_CAP;
  if (ok) s->box[s->nbox++] = *it;
  pthread_mutex_unlock(&s->lock);
  return ok;
}

/* Free everything in slot `id`'s mailbox; returns (frees, corrupt) through the pointers. */
static void box_drain(size_t id, size_t by_slot, size_t* frees, size_t* corrupt) {
  slot* s = &slots[id];
  item got[128];
  for (;;) {
    pthread_mutex_lock(&s->lock);
    size_t k = s->nbox < 128 ? s->nbox : 128;
    s->nbox -= k;
    memcpy(got, s->box + s->nbox, k * sizeof(item));
    pthread_mutex_unlock(&s->lock);
    if (k == 0) break;
    for (size_t i = 0; i < k; i++) *corrupt += check_and_free(&got[i], by_slot);
    *frees += k;
  }
}

static void orphans_take(size_t max, size_t by_slot, size_t* frees, size_t* corrupt) {
  item got[64];
  if (max > 64) max = 64;
  pthread_mutex_lock(&orphan_lock);
  size_t k = norphans < max ? norphans : max;
  norphans -= k;
  memcpy(got, orphans + norphans, k * sizeof(item));
  pthread_mutex_unlock(&orphan_lock);
  for (size_t i = 0; i < k; i++) *corrupt += check_and_free(&got[i], by_slot);
  *frees += k;
}

static bool orphan_put(const item* it) {
  pthread_mutex_lock(&orphan_lock);
  bool ok = norphans < ORPHAN_CAP;
  if (ok) orphans[norphans++] = *it;
  pthread_mutex_unlock(&orphan_lock);
  return ok;
}

typedef struct worker_arg {
  size_t id;
  size_t gen;
} worker_arg;

static worker_arg worker_args[MAX_SLOTS];

static void* worker_main(void* arg) {
  const worker_arg* wa = (const worker_arg*)arg;
  const size_t id = wa->id;
  uint64_t rng = 0x9E3779B97F4A7C15ULL * (uint64_t)(id + 1) ^ ((uint64_t)wa->gen << 32) ^ 0x5DEECE66DULL;
  if (rng == 0) rng = 1;
  size_t life = rng_range(&rng, 20000, 200000);
  if (runner.quick) life /= 10;
  item local[LOCAL_MAX];
  size_t nlocal = 0, allocs = 0, frees = 0, corrupt = 0, cross = 0;
  for (size_t op = 0; op < life && !atomic_load_explicit(&stop_flag, memory_order_relaxed); op++) {
    item x;
    x.size = stress_size(&rng);
    x.seed = rng_next(&rng);
    x.owner = (uint32_t)id;
    x.p = mia_malloc(x.size);
    if (x.p == NULL) {
      fprintf(stderr, "stress: mia_malloc(%zu) returned NULL in slot %zu\n", x.size, id);
      corrupt++; /* counted as a failed round */
      continue;
    }
    canary_fill(x.p, x.size, x.seed);
    allocs++;
    size_t action = (size_t)(rng_next(&rng) % 100);
    if (action < 25 && nslots > 1) {
      size_t target = (id + 1 + (size_t)(rng_next(&rng) % (nslots - 1))) % nslots;
      if (box_put(target, &x)) cross++;
      else { corrupt += check_and_free(&x, id); frees++; }
    } else if (nlocal < LOCAL_MAX) {
      local[nlocal++] = x;
    } else {
      size_t k = (size_t)(rng_next(&rng) % LOCAL_MAX);
      corrupt += check_and_free(&local[k], id);
      frees++;
      local[k] = x;
    }
    if ((op & 63) == 0) box_drain(id, id, &frees, &corrupt);
    if ((op & 1023) == 512) orphans_take(64, id, &frees, &corrupt);
  }
  /* exit: drain the mailbox, free half the live blocks, orphan the rest */
  box_drain(id, id, &frees, &corrupt);
  for (size_t i = 0; i < nlocal; i++) {
    if (i % 2 == 0 || !orphan_put(&local[i])) {
      corrupt += check_and_free(&local[i], id);
      frees++;
    }
  }
  atomic_fetch_add(&total_allocs, allocs);
  atomic_fetch_add(&total_frees, frees);
  atomic_fetch_add(&total_cross, cross);
  atomic_fetch_add(&total_lifetimes, 1);
  CHECKF(corrupt == 0, "slot %zu lifetime %zu: %zu corrupted canaries or failed allocations", id, wa->gen, corrupt);
  atomic_store_explicit(&slots[id].state, SLOT_FINISHED, memory_order_release);
  return NULL;
}

static bool start_worker(size_t id) {
  slot* s = &slots[id];
  worker_args[id].id = id;
  worker_args[id].gen = s->gen;
  atomic_store_explicit(&s->state, SLOT_RUNNING, memory_order_relaxed);
  if (pthread_create(&s->thread, NULL, worker_main, &worker_args[id]) != 0) {
    atomic_store_explicit(&s->state, SLOT_IDLE, memory_order_relaxed);
    return false;
  }
  s->gen++;
  return true;
}

/* ---------------------------------------------------------------------------
   Main
--------------------------------------------------------------------------- */

static size_t read_status_kib(const char* key) {
  FILE* f = fopen("/proc/self/status", "r");
  if (f == NULL) return 0;
  char line[256];
  size_t klen = strlen(key), v = 0;
  while (fgets(line, sizeof line, f) != NULL) {
    if (strncmp(line, key, klen) == 0) {
      v = (size_t)strtoull(line + klen, NULL, 10);
      break;
    }
  }
  fclose(f);
  return v;
}

static void sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

TEST(stress) {
  for (size_t i = 0; i < nslots; i++) {
    pthread_mutex_init(&slots[i].lock, NULL);
    slots[i].box = (item*)malloc(BOX_CAP * sizeof(item));
    slots[i].nbox = 0;
    slots[i].gen = 0;
    atomic_store(&slots[i].state, SLOT_IDLE);
    CHECK_NOT_NULL(slots[i].box);
    if (slots[i].box == NULL) return;
  }
  const double t0 = runner_now();
  size_t started = 0, failed_starts = 0;
  for (size_t i = 0; i < nslots; i++) {
    if (start_worker(i)) started++;
    else failed_starts++;
  }
  /* replace every worker that exits until the time is up */
  while (runner_now() - t0 < seconds) {
    sleep_ms(2);
    for (size_t i = 0; i < nslots; i++) {
      int st = atomic_load_explicit(&slots[i].state, memory_order_acquire);
      if (st == SLOT_FINISHED) {
        pthread_join(slots[i].thread, NULL);
        atomic_store(&slots[i].state, SLOT_IDLE);
        st = SLOT_IDLE;
      }
      if (st == SLOT_IDLE) {
        if (start_worker(i)) started++;
        else failed_starts++;
      }
    }
  }
  atomic_store(&stop_flag, true);
  for (size_t i = 0; i < nslots; i++) {
    if (atomic_load_explicit(&slots[i].state, memory_order_acquire) != SLOT_IDLE) pthread_join(slots[i].thread, NULL);
  }
  const double elapsed = runner_now() - t0;
  /* the final round: everything left in the mailboxes and the orphan pool */
  size_t frees = 0, corrupt = 0;
  for (size_t i = 0; i < nslots; i++) box_drain(i, MAX_SLOTS, &frees, &corrupt);
  while (norphans > 0) orphans_take(64, MAX_SLOTS, &frees, &corrupt);
  atomic_fetch_add(&total_frees, frees);
  CHECKF(corrupt == 0, "final clean-up: %zu corrupted canaries", corrupt);
  const size_t allocs = atomic_load(&total_allocs);
  CHECKF(allocs == atomic_load(&total_frees), "%zu blocks allocated, %zu freed", allocs, atomic_load(&total_frees));
  CHECKF(failed_starts == 0, "%zu thread starts failed", failed_starts);
  CHECKF(atomic_load(&total_lifetimes) == started, "%zu workers started, %zu finished", started,
         atomic_load(&total_lifetimes));
  /* nothing is live and every worker is gone: a forced collect on this thread
     (which has only freed, never allocated) adopts the abandoned segments and
     gives their memory back */
  mia_collect(true);

  size_t rss = 0, peak_rss = 0, commit = 0, peak_commit = 0;
  mia_process_info(NULL, NULL, NULL, &rss, &peak_rss, &commit, &peak_commit, NULL);
  CHECKF(commit <= 64 * MiB, "nothing is live, yet %zu MiB stay committed after mia_collect(true)", commit / MiB);
  const double ops = 2.0 * (double)allocs; /* every block allocated once and freed once */
  printf("stress: %zu threads, %.1f s, %zu worker lifetimes (%zu replacements), %zu blocks allocated, "
         "%zu freed by another thread\n",
         nslots, elapsed, started, started > nslots ? started - nslots : 0, allocs, atomic_load(&total_cross));
  printf("stress: %.2f M ops/s (malloc + free)\n", ops / elapsed / 1e6);
  printf("stress: peak RSS %.1f MiB (mia_process_info), VmHWM %.1f MiB, now RSS %.1f MiB, committed %.1f MiB (peak %.1f MiB)\n",
         (double)peak_rss / (double)MiB, (double)read_status_kib("VmHWM:") / 1024.0, (double)rss / (double)MiB,
         (double)commit / (double)MiB, (double)peak_commit / (double)MiB);
  const size_t bad = atomic_load(&total_corrupt);
  if (bad != 0) printf("stress: FAILED: %zu corrupted canaries (see the messages above)\n", bad);
  for (size_t i = 0; i < nslots; i++) {
    pthread_mutex_destroy(&slots[i].lock);
    free(slots[i].box);
  }
}

int main(int argc, char** argv) {
  runner.quick = getenv("MIALLOC_TEST_QUICK") != NULL;
  if (argc > 1) {
    char* end = NULL;
    long t = strtol(argv[1], &end, 10);
    if (end == argv[1] || *end != 0 || t < 1 || t > MAX_SLOTS) {
      fprintf(stderr, "usage: stress [threads=16 (1..%d)] [seconds=2]\n", MAX_SLOTS);
      return 2;
    }
    nslots = (size_t)t;
  }
  if (argc > 2) {
    char* end = NULL;
    double s = strtod(argv[2], &end);
    if (end == argv[2] || *end != 0 || !(s >= 0) || s > 86400) {
      fprintf(stderr, "usage: stress [threads=16] [seconds=2 (0..86400)]\n");
      return 2;
    }
    seconds = s;
  }
  setvbuf(stdout, NULL, _IOLBF, 0);
  RUN(stress);
  return runner_finish();
}
