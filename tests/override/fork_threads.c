/* fork_threads.c - fork from a non-main thread while other threads allocate.

   Build (tests/override.mk): cc -std=gnu11 -O2 -pthread tests/override/fork_threads.c -o fork_threads
   Run:   LD_PRELOAD=build/libmialloc.so ./fork_threads [forks=200]
   Runs under any malloc: make test-override runs it with glibc's too, which
   shows that the program itself is right.

   Four worker threads allocate random sizes (mostly small, some medium and
   large, a few huge), fill each block with a pattern and swap it into a
   shared table of atomic slots; whatever they take out of the table (a block
   another thread made) is checked and freed: cross-thread frees all the time.
   A block is in the table only once it is complete, so at any instant every
   non-NULL slot is a whole, live block.

   A fifth thread, not the main one, forks `forks` times while the workers
   run. Each child, with one thread and a copy of the heap as it was at the
   fork (possibly with a worker in the middle of malloc or free), mallocs and
   frees in every size class from 8 bytes to 8 MiB, takes inherited blocks
   out of the table, checks their patterns and frees them, allocates once
   more, and exits 0 (1 if a pattern was damaged or malloc failed). The parent
   waits for each child. alarm() bounds the parent (180 s) and every child
   (30 s): a hang -- a lock held by a thread that does not exist in the child
   -- ends in SIGALRM, a non-zero status, and a failed check.

   Output: one line per phase, then "N passed, N failed". */
#define _GNU_SOURCE
#include "../runner.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

runner_state runner;

enum { WORKERS = 4, SLOTS = 2048, CHECK_BYTES = 512 };

typedef struct block_hdr {
  uint64_t seed;
  size_t size;
} block_hdr;

static _Atomic(block_hdr*) table[SLOTS];
static atomic_bool stop;
static _Atomic long worker_damage;
static _Atomic long worker_nomem;
static _Atomic long worker_ops;

/* Sizes: 80% up to 1 KiB, 19.5% up to 128 KiB, 0.5% up to 4 MiB (huge
   blocks too). About 60 MiB stay live in the table: each fork copies the
   page tables of all of it. */
static size_t random_size(uint64_t* rng) {
  size_t r = rng_range(rng, 0, 999);
  if (r < 800) return rng_range(rng, sizeof(block_hdr), 1024);
  if (r < 995) return rng_range(rng, 1025, 128 * 1024);
  return rng_range(rng, 128 * 1024 + 1, 4u << 20);
}

static size_t checked_len(size_t size) {
  size_t body = size - sizeof(block_hdr);
  return body < CHECK_BYTES ? body : CHECK_BYTES;
}

static block_hdr* make_block(size_t size, uint64_t seed) {
  block_hdr* b = (block_hdr*)malloc(size);
  if (b == NULL) return NULL;
  b->seed = seed;
  b->size = size;
  pattern_fill(b + 1, checked_len(size), seed);
  return b;
}

/* True if the block's pattern is intact. */
static bool block_ok(const block_hdr* b) {
  if (b->size < sizeof(block_hdr) || b->size > (4u << 20)) return false;
  size_t n = checked_len(b->size);
  return pattern_check(b + 1, n, b->seed) == n;
}

static void* worker(void* arg) {
  uint64_t rng = 0x9E3779B97F4A7C15ULL * ((uint64_t)(uintptr_t)arg + 1);
  long ops = 0;
  while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
    block_hdr* b = make_block(random_size(&rng), rng_next(&rng) | 1);
    if (b == NULL) {
      atomic_fetch_add(&worker_nomem, 1);
      continue;
    }
    size_t slot = rng_range(&rng, 0, SLOTS - 1);
    block_hdr* old = atomic_exchange(&table[slot], b);
    if (old != NULL) {
      if (!block_ok(old)) atomic_fetch_add(&worker_damage, 1);
      free(old); /* most likely made by another thread */
    }
    if ((ops & 255) == 0) { /* now and then: a short-lived local block and a realloc */
      char* t = (char*)malloc(rng_range(&rng, 1, 300));
      char* u = (char*)realloc(t, rng_range(&rng, 1, 3000));
      if (u == NULL) free(t);
      free(u);
    }
    ops++;
  }
  atomic_fetch_add(&worker_ops, ops);
  return NULL;
}

/* The child's work: every size class, inherited blocks, one more round. Returns the exit code. */
static int child_main(void) {
  alarm(30);
  int bad = 0;
  /* 8 bytes to 8 MiB, in steps of 1/8: every size class of a mimalloc-style allocator */
  void* mine[256];
  size_t nmine = 0;
  for (size_t n = 8; n <= (8u << 20) && nmine < 256; n += (n / 8 < 8 ? 8 : n / 8)) {
    unsigned char* p = (unsigned char*)malloc(n);
    if (p == NULL) { bad = 1; continue; }
    p[0] = 1;
    p[n - 1] = 2;
    mine[nmine++] = p;
  }
  /* free about a quarter of the table: blocks made by threads that do not exist here */
  for (size_t i = 0; i < SLOTS; i += 4) {
    block_hdr* b = atomic_exchange(&table[i], NULL);
    if (b == NULL) continue;
    if (!block_ok(b)) bad = 1;
    free(b);
  }
  for (size_t i = 0; i < nmine; i += 2) free(mine[i]);
  for (size_t i = 0; i < 1000; i++) { /* the freed space is reused */
    void* p = malloc(i * 13 + 1);
    if (p == NULL) bad = 1;
    free(p);
  }
  for (size_t i = 1; i < nmine; i += 2) free(mine[i]);
  return bad;
}

typedef struct fork_result {
  int forks;
  int started;
  int ok;       /* children that exited 0 */
  int signaled; /* children killed by a signal (SIGALRM: hung) */
  int failed;   /* children that exited non-zero */
  int first_status;
} fork_result;

static void* forker(void* arg) {
  fork_result* r = (fork_result*)arg;
  for (int i = 0; i < r->forks; i++) {
    /* let the workers run between forks so they are busy at the fork */
    struct timespec ts = {0, 200 * 1000};
    nanosleep(&ts, NULL);
    pid_t pid = fork();
    if (pid == 0) exit(child_main());
    if (pid < 0) continue;
    r->started++;
    int status = 0;
    pid_t w;
    do w = waitpid(pid, &status, 0); while (w < 0 && errno == EINTR);
    if (w == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0) {
      r->ok++;
      continue;
    }
    if (WIFSIGNALED(status)) r->signaled++;
    else r->failed++;
    if (r->first_status == 0) r->first_status = status;
  }
  return NULL;
}

int main(int argc, char** argv) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  int forks = argc > 1 ? atoi(argv[1]) : 200;
  alarm(180); /* the whole run; a hang ends in SIGALRM */
  runner.current = "fork_threads";
  pthread_t workers[WORKERS], forker_thread;
  int started = 0;
  for (int i = 0; i < WORKERS; i++)
    if (pthread_create(&workers[i], NULL, worker, (void*)(uintptr_t)i) == 0) started++;
  CHECK_EQ_INT(started, WORKERS);
  fork_result r = {forks, 0, 0, 0, 0, 0};
  double t0 = runner_now();
  CHECK_EQ_INT(pthread_create(&forker_thread, NULL, forker, &r), 0);
  pthread_join(forker_thread, NULL);
  double secs = runner_now() - t0;
  atomic_store(&stop, true);
  for (int i = 0; i < started; i++) pthread_join(workers[i], NULL);
  printf("forks: %d started, %d exited 0, %d failed, %d killed by a signal (%.2f s)\n", r.started, r.ok, r.failed,
         r.signaled, secs);
  printf("workers: %ld allocations, %ld damaged blocks, %ld failed mallocs\n", atomic_load(&worker_ops),
         atomic_load(&worker_damage), atomic_load(&worker_nomem));
  CHECK_EQ_INT(r.started, forks);
  CHECKF(r.ok == forks, "first bad child status 0x%x", r.first_status);
  CHECK_EQ_INT(r.signaled, 0);
  CHECK_EQ_INT(atomic_load(&worker_damage), 0);
  CHECK_EQ_INT(atomic_load(&worker_nomem), 0);
  CHECK(atomic_load(&worker_ops) > 0);
  size_t damaged = 0;
  for (size_t i = 0; i < SLOTS; i++) { /* the main thread frees what is left */
    block_hdr* b = atomic_exchange(&table[i], NULL);
    if (b == NULL) continue;
    if (!block_ok(b)) damaged++;
    free(b);
  }
  CHECK_EQ_SZ(damaged, 0);
  long passed = atomic_load(&runner.passed), failed = atomic_load(&runner.failed);
  printf("%ld passed, %ld failed\n", passed, failed);
  return failed != 0 ? 1 : 0;
}
