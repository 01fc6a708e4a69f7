/* bench.h - what bench/micro.c and bench/classic.c share: the allocator under
   test, checked blocks, a random generator, threads, mailboxes, the result line.

   Build: included by bench/micro.c and bench/classic.c, never alone; the
   Makefile builds each of them once per allocator (see `make bench`):
     BENCH_MIALLOC=1  mialloc.h is included here with MIALLOC_IMPLEMENTATION and
                      the workloads call mia_malloc / mia_free / mia_calloc /
                      mia_realloc (its natural use: the fast path inlines).
     BENCH_MIALLOC=0  the workloads call plain malloc / free / calloc / realloc;
                      the peer (libmimalloc, libjemalloc, libtcmalloc_minimal)
                      is linked into the program, so its malloc overrides
                      glibc's for the whole process, exactly as LD_PRELOAD
                      would; with no peer linked it is glibc's malloc.
   BENCH_NAME names the build in the result line (mialloc, glibc, mimalloc, ...).

   Every block the workloads allocate is checked: blk_new writes a head word
   (size and a salt) and, for blocks of 16 bytes or more, a tail word that mixes
   the head with the block's address; blk_free verifies both (and the alignment
   malloc promises) before it frees. A block handed out twice, an overlap, a
   lost write or a bad realloc copy stops the program with exit code 3 and a
   message, so a broken allocator is caught rather than timed. A block less
   aligned than malloc owes (16 bytes from size 16 on) is recorded and
   reported in the result line (misaligned=<first size>), not fatal. */
#ifndef BENCH_H
#define BENCH_H

#define _GNU_SOURCE 1

#ifndef BENCH_MIALLOC
#define BENCH_MIALLOC 0
#endif
#ifndef BENCH_NAME
#if BENCH_MIALLOC
#define BENCH_NAME mialloc
#else
#define BENCH_NAME glibc
#endif
#endif
#define BENCH_STR2(x) #x
#define BENCH_STR(x) BENCH_STR2(x)

#include <dlfcn.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#if BENCH_MIALLOC
#define MIALLOC_IMPLEMENTATION
#include "../mialloc.h"
#define bench_malloc mia_malloc
#define bench_calloc mia_calloc
#define bench_realloc mia_realloc
#define bench_free mia_free
#else
#define bench_malloc malloc
#define bench_calloc calloc
#define bench_realloc realloc
#define bench_free free
#endif

#if defined(__GNUC__) || defined(__clang__)
#define BENCH_NOINLINE __attribute__((noinline))
#define BENCH_UNUSED __attribute__((unused))
#define BENCH_NORETURN __attribute__((noreturn))
#define bench_unlikely(x) __builtin_expect(!!(x), 0)
#else
#define BENCH_NOINLINE
#define BENCH_UNUSED
#define BENCH_NORETURN
#define bench_unlikely(x) (x)
#endif

/* Make `p` visible to the outside world so no compiler drops a malloc/free pair. */
#define bench_escape(p) __asm__ volatile("" : : "r"(p) : "memory")

/* The workload being run, for messages. */
static const char* bench_workload = "?";
/* The first size whose block came back less aligned than malloc owes (0: none
   yet). A misaligned block is recorded, not fatal (it corrupts nothing): the
   result line reports it and bench/suite.py lists it under the table. */
static atomic_size_t bench_misaligned_size;

/* Stop the program: a failed check, a failed allocation or a bad argument. */
BENCH_UNUSED BENCH_NORETURN static void bench_die(const char* what, const void* p, size_t size) {
  fprintf(stderr, "bench %s [%s]: %s (block %p, size %zu)\n", BENCH_STR(BENCH_NAME), bench_workload, what, p,
          size);
  fflush(stderr);
  _Exit(3);
}

/* ---------------------------------------------------------------------------
   Random numbers: xorshift64*, one state per thread (no sharing).
--------------------------------------------------------------------------- */
typedef struct rng_s { uint64_t s; } rng_t;

BENCH_UNUSED static rng_t rng_make(uint64_t seed) {
  rng_t r = {seed * 0x9e3779b97f4a7c15ull + 0x2545f4914f6cdd1dull};
  if (r.s == 0) r.s = 1;
  return r;
}
static inline uint64_t rng_next(rng_t* r) {
  uint64_t x = r->s;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  r->s = x;
  return x * 0x2545f4914f6cdd1dull;
}
/* Uniform in [0, n), n > 0 (multiply-shift, no division). */
static inline size_t rng_below(rng_t* r, size_t n) {
  return (size_t)(((rng_next(r) >> 32) * (uint64_t)n) >> 32);
}
/* Uniform in [lo, hi]. */
static inline size_t rng_range(rng_t* r, size_t lo, size_t hi) { return lo + rng_below(r, hi - lo + 1); }
/* Log-uniform in [lo, hi] (as many blocks in 16..32 as in 512..1024): small sizes dominate. */
static inline size_t rng_skewed(rng_t* r, size_t lo, size_t hi) {
  unsigned lo_bits = 63u - (unsigned)__builtin_clzll(lo), hi_bits = 63u - (unsigned)__builtin_clzll(hi);
  unsigned bits = lo_bits + (unsigned)rng_below(r, hi_bits - lo_bits + 1);
  size_t base = (size_t)1 << bits;
  size_t size = base + rng_below(r, base);
  return size < lo ? lo : size > hi ? hi : size;
}

/* ---------------------------------------------------------------------------
   Checked blocks. Layout of a block of `size` >= 8 bytes:
     [0, 8)            head = size << 32 | salt
     [size - 8, size)  tail = mix(head, address), when size >= 16
   The salt is per allocation (from the caller's generator), so two owners of
   one block leave different words behind.
--------------------------------------------------------------------------- */
static inline uint64_t blk_mix(uint64_t head, const void* p) {
  uint64_t x = head ^ (uint64_t)(uintptr_t)p;
  x ^= x >> 31;
  x *= 0xbf58476d1ce4e5b9ull;
  x ^= x >> 29;
  return x | 1;
}
/* The alignment malloc owes a block of `size` bytes: 16, or less for blocks smaller than 16. */
static inline uintptr_t blk_align_mask(size_t size) { return size >= 16 ? 15 : size >= 8 ? 7 : 0; }

/* Record a misaligned block (cold; one relaxed store the first time only, so no shared-line traffic after). */
BENCH_NOINLINE BENCH_UNUSED static void blk_misaligned(size_t size) {
  if (atomic_load_explicit(&bench_misaligned_size, memory_order_relaxed) == 0)
    atomic_store_explicit(&bench_misaligned_size, size, memory_order_relaxed);
}

static inline void blk_stamp(unsigned char* p, size_t size, uint32_t salt) {
  uint64_t head = (uint64_t)size << 32 | salt;
  memcpy(p, &head, 8);
  if (size >= 16) {
    uint64_t tail = blk_mix(head, p);
    memcpy(p + size - 8, &tail, 8);
  }
}
/* Verify a block's words; returns its size (from the head). `expect` = 0: any size. */
static inline size_t blk_check(const unsigned char* p, size_t expect) {
  if (bench_unlikely(p == NULL)) bench_die("NULL block", p, expect);
  uint64_t head;
  memcpy(&head, p, 8);
  size_t size = (size_t)(head >> 32);
  if (bench_unlikely(size < 8 || (expect != 0 && size != expect))) bench_die("head word overwritten", p, size);
  if (size >= 16) {
    uint64_t tail;
    memcpy(&tail, p + size - 8, 8);
    if (bench_unlikely(tail != blk_mix(head, p))) bench_die("tail word overwritten", p, size);
  }
  return size;
}
/* Allocate and stamp a block of `size` >= 8 bytes. */
static inline void* blk_new(size_t size, uint32_t salt) {
  if (bench_unlikely(size < 8)) bench_die("blocks are at least 8 bytes", NULL, size);
  unsigned char* p = (unsigned char*)bench_malloc(size);
  if (bench_unlikely(p == NULL)) bench_die("out of memory", p, size);
  if (bench_unlikely(((uintptr_t)p & blk_align_mask(size)) != 0)) blk_misaligned(size);
  blk_stamp(p, size, salt);
  return p;
}
/* calloc and stamp: checks the zeroing first (head, tail and one word per 4 KiB). */
static inline void* blk_new_zeroed(size_t size, uint32_t salt) {
  if (bench_unlikely(size < 8)) bench_die("blocks are at least 8 bytes", NULL, size);
  unsigned char* p = (unsigned char*)bench_calloc(1, size);
  if (bench_unlikely(p == NULL)) bench_die("out of memory", p, size);
  if (bench_unlikely(((uintptr_t)p & blk_align_mask(size)) != 0)) blk_misaligned(size);
  uint64_t w0, w1;
  memcpy(&w0, p, 8);
  memcpy(&w1, p + size - 8, 8);
  if (bench_unlikely((w0 | w1) != 0)) bench_die("calloc block not zeroed", p, size);
  for (size_t i = 4096; i + 8 <= size; i += 4096) {
    memcpy(&w0, p + i, 8);
    if (bench_unlikely(w0 != 0)) bench_die("calloc block not zeroed", p, size);
  }
  blk_stamp(p, size, salt);
  return p;
}
/* Verify and free. `expect` = 0: the size is read from the block. */
static inline void blk_free(void* p, size_t expect) {
  (void)blk_check((const unsigned char*)p, expect);
  bench_free(p);
}
/* Write one byte in every 4 KiB of the block past its head (use the memory, as a program would). */
static inline void blk_touch(void* p, size_t size) {
  unsigned char* b = (unsigned char*)p;
  for (size_t i = 4096; i + 8 < size; i += 4096) b[i] = (unsigned char)i;
}

/* ---------------------------------------------------------------------------
   Threads
--------------------------------------------------------------------------- */
/* A zeroed array of n elements of `size` bytes on 64-byte lines (per-thread
   arguments: no false sharing between them). Free with free(). */
BENCH_UNUSED static void* bench_array(size_t n, size_t size) {
  void* p = NULL;
  if (posix_memalign(&p, 64, n * size) != 0 || p == NULL) bench_die("out of memory (bench_array)", NULL, n * size);
  memset(p, 0, n * size);
  return p;
}

/* Run fn(base + i * stride) on n threads and wait for them all. */
BENCH_UNUSED static void threads_run(int n, void* (*fn)(void*), void* base, size_t stride) {
  pthread_t* th = (pthread_t*)calloc((size_t)n, sizeof(pthread_t));
  if (th == NULL) bench_die("out of memory (threads)", NULL, 0);
  for (int i = 0; i < n; i++) {
    if (pthread_create(&th[i], NULL, fn, (char*)base + (size_t)i * stride) != 0)
      bench_die("pthread_create failed", NULL, 0);
  }
  for (int i = 0; i < n; i++) pthread_join(th[i], NULL);
  free(th);
}

/* A message between threads: up to BATCH_CAP blocks, itself allocated with the
   allocator under test (so the message is a cross-thread free too). */
#define BATCH_CAP 64
typedef struct batch_s {
  struct batch_s* next;
  size_t count;
  void* items[BATCH_CAP];
} batch_t;

static inline batch_t* batch_new(void) {
  batch_t* b = (batch_t*)bench_malloc(sizeof(batch_t));
  if (b == NULL) bench_die("out of memory", b, sizeof(batch_t));
  b->next = NULL;
  b->count = 0;
  return b;
}
/* Verify and free every block of the batch, then the batch. */
static inline void batch_free_all(batch_t* b) {
  if (bench_unlikely(b->count > BATCH_CAP)) bench_die("batch overwritten", b, sizeof(batch_t));
  for (size_t i = 0; i < b->count; i++) blk_free(b->items[i], 0);
  bench_free(b);
}

/* A mailbox: a lock-free stack of batches; any thread pushes, the owner takes
   all. `pending` counts the batches in it, so a sender can wait while the
   receiver is behind: the blocks in flight stay bounded whatever the
   scheduler does (with one thread descheduled for a whole time slice, an
   unbounded mailbox would grow by hundreds of MiB and make peak RSS a
   matter of luck). */
#define MAILBOX_MAX_PENDING 32
typedef struct mailbox_s {
  _Atomic(batch_t*) head;
  atomic_size_t pending;
  char pad[64 - sizeof(batch_t*) - sizeof(atomic_size_t)];
} mailbox_t;

static inline void mailbox_push(mailbox_t* m, batch_t* b) {
  atomic_fetch_add_explicit(&m->pending, 1, memory_order_relaxed);
  batch_t* old = atomic_load_explicit(&m->head, memory_order_relaxed);
  do {
    b->next = old;
  } while (!atomic_compare_exchange_weak_explicit(&m->head, &old, b, memory_order_release, memory_order_relaxed));
}
/* Take every batch (a list linked by `next`, newest first), or NULL. */
static inline batch_t* mailbox_take(mailbox_t* m) {
  batch_t* b = atomic_exchange_explicit(&m->head, NULL, memory_order_acquire);
  size_t n = 0;
  for (batch_t* x = b; x != NULL; x = x->next) n++;
  if (n != 0) atomic_fetch_sub_explicit(&m->pending, n, memory_order_relaxed);
  return b;
}
/* Take every batch in the mailbox and free them all (blocks and batches); returns the block count. */
static inline size_t mailbox_drain(mailbox_t* m) {
  batch_t* b = mailbox_take(m);
  size_t n = 0;
  while (b != NULL) {
    batch_t* next = b->next;
    n += b->count;
    batch_free_all(b);
    b = next;
  }
  return n;
}
/* Wait a little (20 us) without burning the CPU the thread we wait for may need. */
static inline void bench_pause(void) {
  struct timespec ts = {0, 20000};
  nanosleep(&ts, NULL);
}
/* What a thread does with its own mail while it waits (drain it, or keep the blocks). */
typedef void (*mailbox_receive_fun)(mailbox_t* mine, void* ctx);

/* Send `b` to `to`; while `to` is full, receive one's own mail and pause (no deadlock:
   every waiting thread keeps emptying its own mailbox). */
static inline void mailbox_send(mailbox_t* to, batch_t* b, mailbox_t* mine, mailbox_receive_fun receive, void* ctx) {
  while (to != mine && atomic_load_explicit(&to->pending, memory_order_relaxed) >= MAILBOX_MAX_PENDING) {
    receive(mine, ctx);
    bench_pause();
  }
  mailbox_push(to, b);
}
/* At the end of a thread's work: count it finished, then keep receiving until
   every thread has finished (no one can send any more), and once more. */
static inline void mailbox_finish(atomic_int* finished, int threads, mailbox_t* mine, mailbox_receive_fun receive,
                                  void* ctx) {
  atomic_fetch_add_explicit(finished, 1, memory_order_acq_rel);
  while (atomic_load_explicit(finished, memory_order_acquire) < threads) {
    receive(mine, ctx);
    bench_pause();
  }
  receive(mine, ctx);
}

/* ---------------------------------------------------------------------------
   Run and report
--------------------------------------------------------------------------- */
/* Peak resident set of this process in KiB (VmHWM). Read in the process itself:
   on Linux a child's ru_maxrss also counts the parent's high-water mark at exec. */
BENCH_UNUSED static long bench_peak_rss_kib(void) {
  FILE* f = fopen("/proc/self/status", "r");
  if (f == NULL) return -1;
  char line[256];
  long kib = -1;
  while (fgets(line, sizeof line, f) != NULL) {
    if (strncmp(line, "VmHWM:", 6) == 0) {
      kib = strtol(line + 6, NULL, 10);
      break;
    }
  }
  fclose(f);
  return kib;
}

/* Which library provides the process's malloc (checks the peer override took effect):
   the path the dynamic loader opened it by (for a preload, the LD_PRELOAD path), so
   bench/suite.py can tell two libraries of the same file name apart. */
BENCH_UNUSED static const char* bench_malloc_provider(void) {
#if BENCH_MIALLOC
  return "mialloc.h";
#else
  void* sym = dlsym(RTLD_DEFAULT, "malloc");
  Dl_info info;
  if (sym != NULL && dladdr(sym, &info) != 0 && info.dli_fname != NULL && info.dli_fname[0] != '\0')
    return info.dli_fname;
  return "unknown";
#endif
}

BENCH_UNUSED static double bench_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* A workload: run with `threads` threads and the work scaled by `scale`;
   returns the operations done (mallocs) and sets *live_kib to its nominal
   live set (the bytes it holds at its peak, by construction). */
typedef uint64_t (*workload_fun)(int threads, double scale, size_t* live_kib);

typedef struct workload_s {
  const char* name;
  workload_fun run;
  int min_threads;  /* 2 for workloads that need a partner thread */
  const char* what; /* one line for --list */
} workload_t;

/* main: `prog <workload> [threads] [scale]`, or `prog --list`. Prints one line
     result <workload> alloc=<name> malloc=<provider> threads=<n> ops=<n>
            live_kib=<n> rss_kib=<n> seconds=<s> misaligned=<size or 0>
   and exits 0; a failed check exits 3. */
BENCH_UNUSED static int bench_main(int argc, char** argv, const workload_t* table, size_t count) {
  if (argc >= 2 && strcmp(argv[1], "--list") == 0) {
    for (size_t i = 0; i < count; i++) printf("%-16s %s\n", table[i].name, table[i].what);
    return 0;
  }
  if (argc < 2) {
    fprintf(stderr, "usage: %s <workload> [threads] [scale] | --list\n", argv[0]);
    return 2;
  }
  const workload_t* w = NULL;
  for (size_t i = 0; i < count; i++)
    if (strcmp(table[i].name, argv[1]) == 0) w = &table[i];
  if (w == NULL) {
    fprintf(stderr, "%s: unknown workload '%s' (--list)\n", argv[0], argv[1]);
    return 2;
  }
  int threads = argc > 2 ? atoi(argv[2]) : 1;
  double scale = argc > 3 ? strtod(argv[3], NULL) : 1.0;
  if (threads < 1 || threads > 256 || !(scale > 0 && scale <= 1000)) {
    fprintf(stderr, "%s: threads must be 1..256 and scale in (0, 1000]\n", argv[0]);
    return 2;
  }
  if (threads < w->min_threads) threads = w->min_threads;
  bench_workload = w->name;
  size_t live_kib = 0;
  double t0 = bench_now();
  uint64_t ops = w->run(threads, scale, &live_kib);
  double t1 = bench_now();
  printf("result %s alloc=%s malloc=%s threads=%d ops=%llu live_kib=%zu rss_kib=%ld seconds=%.4f misaligned=%zu\n",
         w->name, BENCH_STR(BENCH_NAME), bench_malloc_provider(), threads, (unsigned long long)ops, live_kib,
         bench_peak_rss_kib(), t1 - t0, atomic_load(&bench_misaligned_size));
  return 0;
}

/* Scale an iteration count, at least 1. */
static inline size_t bench_scaled(double base, double scale) {
  double n = base * scale;
  return n < 1 ? 1 : (size_t)n;
}

#endif /* BENCH_H */
