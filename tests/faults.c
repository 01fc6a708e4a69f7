/* faults.c - the allocator under OS failure: hooks that wrap the built-in
   OS layer (mia_os_hooks_default / mia_os_hooks_set) and fail the Nth
   reserve, commit, decommit or protect call, for N over the whole range of
   calls a workload makes; then one run under setrlimit(RLIMIT_AS).

   Its own program (its own MIALLOC_IMPLEMENTATION), built twice by the
   Makefile: release, and -DMIALLOC_SECURE=1 (guard pages: protect is called).
      cc -std=gnu11 -O2 -pthread tests/faults.c -o faults && ./faults

   Two flavours of the wrapper: "plain" forwards to the built-in POSIX layer
   (decommit is madvise and never needs a commit; commit is not called), and
   "strict" makes decommit also turn the range inaccessible (PROT_NONE) and
   ask for a commit before reuse, which makes it accessible again, as on
   Windows: an allocator that touches memory it has not committed, or whose
   commit failed, crashes. reserve and protect faults run plain (strict
   commits would repair a guard page left behind), commit faults strict (the
   only flavour that calls commit), decommit faults both.

   For each operation and each N (every N up to 12, then 8 spread over the
   rest) a child process runs the workload with the Nth call failing once,
   and, at every fourth N, with every call from the Nth on failing until the
   fault is cleared. Requirements:
     - every allocation either succeeds (its block is written and verified,
       zeroed ones are checked zero) or returns NULL with errno ENOMEM
       (a failed decommit is a no-op, a failed protect only loses a guard);
     - no crash, no hang (alarm);
     - once the fault is cleared the same workload runs with no NULL at all.
   The last line is `N passed, N failed` (one count per child, plus the
   RLIMIT_AS run). */
#define MIALLOC_IMPLEMENTATION
#include "../mialloc.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#if MIALLOC_SECURE >= 1
#define FAULTS_CONFIG "MIALLOC_SECURE=1"
#else
#define FAULTS_CONFIG "release"
#endif

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define MiB ((size_t)1 << 20)

/* ---------------------------------------------------------------------------
   The hooks: count every call; fail call number fail_at .. fail_at+fail_len-1
--------------------------------------------------------------------------- */

enum { OP_RESERVE, OP_COMMIT, OP_DECOMMIT, OP_PROTECT, OP_RELEASE, OP_COUNT };
static const char* const op_names[OP_COUNT] = {"reserve", "commit", "decommit", "protect", "release"};

static mia_os_hooks_t os_base;
static _Atomic long op_calls[OP_COUNT];
static _Atomic long op_injected[OP_COUNT];
static _Atomic long fail_op = -1;
static _Atomic long fail_at;   /* 1-based call number */
static _Atomic long fail_len;  /* calls that fail from fail_at on */
static _Atomic long unprotect_calls; /* protect(false): a guard page moved or removed */
static bool strict;                  /* decommit -> PROT_NONE + needs_commit; commit -> read/write */

static bool should_fail(int op) {
  const long n = atomic_fetch_add(&op_calls[op], 1) + 1;
  if (atomic_load(&fail_op) != op) return false;
  const long at = atomic_load(&fail_at);
  if (n < at || n >= at + atomic_load(&fail_len)) return false;
  atomic_fetch_add(&op_injected[op], 1);
  return true;
}

static int hook_reserve(size_t size, size_t alignment, void** addr, void* arg) {
  (void)arg;
  if (should_fail(OP_RESERVE)) { *addr = NULL; return ENOMEM; }
  return os_base.reserve(size, alignment, addr, os_base.arg);
}
static int hook_release(void* addr, size_t size, void* arg) {
  (void)arg;
  (void)should_fail(OP_RELEASE); /* counted, never failed */
  return os_base.release(addr, size, os_base.arg);
}
static int hook_commit(void* addr, size_t size, void* arg) {
  (void)arg;
  if (should_fail(OP_COMMIT)) return ENOMEM;
  int err = os_base.commit(addr, size, os_base.arg);
  if (err == 0 && strict && mprotect(addr, size, PROT_READ | PROT_WRITE) != 0) err = errno;
  return err;
}
static int hook_decommit(void* addr, size_t size, bool* needs_commit, void* arg) {
  (void)arg;
  if (should_fail(OP_DECOMMIT)) { *needs_commit = false; return EIO; }
  int err = os_base.decommit(addr, size, needs_commit, os_base.arg);
  if (err == 0 && strict) {
    if (mprotect(addr, size, PROT_NONE) != 0) return errno;
    *needs_commit = true; /* strict: inaccessible until committed again */
  }
  return err;
}
static int hook_protect(void* addr, size_t size, bool protect, void* arg) {
  (void)arg;
  if (!protect) atomic_fetch_add(&unprotect_calls, 1);
  if (should_fail(OP_PROTECT)) return ENOMEM;
  return os_base.protect(addr, size, protect, os_base.arg);
}

static bool install_hooks(void) {
  mia_os_hooks_default(&os_base);
  mia_os_hooks_t h = os_base;
  h.reserve = hook_reserve;
  h.release = hook_release;
  h.commit = hook_commit;
  h.decommit = hook_decommit;
  h.protect = hook_protect;
  h.arg = NULL;
  return mia_os_hooks_set(&h);
}

static void arm(int op, long at, long len) {
  atomic_store(&fail_at, at);
  atomic_store(&fail_len, len);
  atomic_store(&fail_op, (long)op);
}
static void disarm(void) { atomic_store(&fail_op, -1L); }

/* ---------------------------------------------------------------------------
   The workload: every kind of page, reuse across kinds, a new thread, heaps
--------------------------------------------------------------------------- */

typedef struct tally {
  long allocs, nulls, bad_errno, corrupt, not_zero, misaligned;
} tally;

/* The first and last 4 KiB, one byte per page of the first 64 KiB and one
   per 64 KiB after that: cheap for the huge blocks, and every page right
   after a segment's metadata (where a guard page was) is touched. */
static size_t next_probe(size_t i) { return i + (i < 65536 ? 4096 : 65536); }
static void fill(unsigned char* p, size_t n, unsigned seed) {
  const size_t head = n < 4096 ? n : 4096;
  for (size_t i = 0; i < head; i++) p[i] = (unsigned char)(seed + i);
  for (size_t i = head; i < n; i = next_probe(i)) p[i] = (unsigned char)(seed + i);
  for (size_t i = (n > 4096 ? n - 4096 : head); i < n; i++) p[i] = (unsigned char)(seed + i);
}
static bool filled(const unsigned char* p, size_t n, unsigned seed) {
  const size_t head = n < 4096 ? n : 4096;
  for (size_t i = 0; i < head; i++) if (p[i] != (unsigned char)(seed + i)) return false;
  for (size_t i = head; i < n; i = next_probe(i)) if (p[i] != (unsigned char)(seed + i)) return false;
  for (size_t i = (n > 4096 ? n - 4096 : head); i < n; i++) if (p[i] != (unsigned char)(seed + i)) return false;
  return true;
}
static bool all_zero(const unsigned char* p, size_t n) {
  unsigned char acc = 0;
  for (size_t i = 0; i < n; i++) acc |= p[i];
  return acc == 0;
}

/* Record the outcome of one allocation; true if it gave a block. */
static bool outcome(tally* t, void* p, int err) {
  t->allocs++;
  if (p != NULL) return true;
  t->nulls++;
  if (err != ENOMEM) t->bad_errno++;
  return false;
}

typedef struct blk { unsigned char* p; size_t size; unsigned seed; } blk;

static void* alloc_fill(tally* t, blk* b, size_t size, unsigned seed) {
  errno = 0;
  b->p = (unsigned char*)mia_malloc(size);
  b->size = size;
  b->seed = seed;
  if (outcome(t, b->p, errno)) fill(b->p, size, seed);
  return b->p;
}
static void check_free(tally* t, blk* b) {
  if (b->p == NULL) return;
  if (!filled(b->p, b->size, b->seed)) t->corrupt++;
  mia_free(b->p);
  b->p = NULL;
}

/* Zeroed allocations over memory that was dirtied and freed (and purged, or
   not if the purge failed). */
static void zeroed(tally* t, size_t size, size_t count) {
  for (size_t i = 0; i < count; i++) {
    errno = 0;
    unsigned char* p = (unsigned char*)(i % 2 == 0 ? mia_zalloc(size) : mia_calloc(1, size));
    if (!outcome(t, p, errno)) continue;
    if (!all_zero(p, size)) t->not_zero++;
    memset(p, 0xAB, size);
    mia_free(p);
  }
}

static void* thread_work(void* arg) {
  tally* t = (tally*)arg;
  blk b[16];
  for (size_t i = 0; i < ARRAY_LEN(b); i++) alloc_fill(t, &b[i], 100 + i * 3000, (unsigned)i);
  for (size_t i = 0; i < ARRAY_LEN(b); i += 2) check_free(t, &b[i]);
  /* the odd ones stay live: the thread exits, its segments are abandoned */
  static blk left[8];
  for (size_t i = 1, k = 0; i < ARRAY_LEN(b); i += 2, k++) left[k] = b[i];
  return left;
}

/* A segment freed to the thread's cache comes back for another page kind:
   its metadata size changes, so under MIALLOC_SECURE its guard page moves
   (protect(false) on the old place, protect(true) on the new one). */
static void kind_change(tally* t) {
  static blk b[1500];
  for (size_t i = 0; i < ARRAY_LEN(b); i++) alloc_fill(t, &b[i], 64 + (i % 8) * 64, (unsigned)i);
  for (size_t i = 0; i < ARRAY_LEN(b); i++) check_free(t, &b[i]);
  mia_collect(false); /* the empty small pages go back; the segment to the cache */
  for (size_t i = 0; i < 3; i++) alloc_fill(t, &b[i], 1 * MiB + i * 100000, (unsigned)i); /* large pages */
  for (size_t i = 0; i < 3; i++) check_free(t, &b[i]);
  mia_collect(false);
  for (size_t i = 0; i < 40; i++) alloc_fill(t, &b[i], 20000 + i * 100, (unsigned)i); /* medium pages */
  for (size_t i = 0; i < 40; i++) check_free(t, &b[i]);
  mia_collect(false);
  for (size_t i = 0; i < 1000; i++) alloc_fill(t, &b[i], 100 + (i % 8) * 64, (unsigned)i); /* small again */
  for (size_t i = 0; i < 1000; i++) check_free(t, &b[i]);
}

static void workload(tally* t) {
  static blk small[2000], medium[60], large[4], huge[1];
  kind_change(t);
  /* small blocks over many bins */
  for (size_t i = 0; i < ARRAY_LEN(small); i++) alloc_fill(t, &small[i], 16 + (i * 40) % 1000, (unsigned)i);
  for (size_t i = 0; i < ARRAY_LEN(small); i += 2) check_free(t, &small[i]);
  zeroed(t, 200, 200);
  /* medium, large, huge */
  for (size_t i = 0; i < ARRAY_LEN(medium); i++) alloc_fill(t, &medium[i], 9000 + i * 900, (unsigned)i);
  for (size_t i = 0; i < ARRAY_LEN(large); i++) alloc_fill(t, &large[i], 300000 + i * 100000, (unsigned)i);
  for (size_t i = 0; i < ARRAY_LEN(huge); i++) alloc_fill(t, &huge[i], 5 * MiB + i * 3 * MiB, (unsigned)i);
  for (size_t i = 0; i < ARRAY_LEN(medium); i++) check_free(t, &medium[i]);
  for (size_t i = 0; i < ARRAY_LEN(large); i += 2) check_free(t, &large[i]);
  zeroed(t, 20000, 40);
  zeroed(t, 700000, 2);
  /* aligned, including a segment-aligned huge block */
  static const size_t aligns[] = {64, 4096, 65536, (size_t)1 << 22};
  for (size_t i = 0; i < ARRAY_LEN(aligns); i++) {
    errno = 0;
    unsigned char* p = (unsigned char*)mia_malloc_aligned(1000 + i * 50000, aligns[i]);
    if (!outcome(t, p, errno)) continue;
    if (((uintptr_t)p & (aligns[i] - 1)) != 0) t->misaligned++;
    fill(p, 1000 + i * 50000, 7);
    if (!filled(p, 1000 + i * 50000, 7)) t->corrupt++;
    mia_free(p);
  }
  /* a realloc chain from 16 bytes to 4 MiB */
  blk r = {NULL, 0, 0};
  alloc_fill(t, &r, 16, 3);
  for (size_t size = 32; r.p != NULL && size <= 4 * MiB; size *= 2) {
    errno = 0;
    unsigned char* q = (unsigned char*)mia_realloc(r.p, size);
    if (!outcome(t, q, errno)) break; /* r stays valid and intact */
    if (!filled(q, r.size, r.seed)) t->corrupt++;
    r.p = q;
    r.size = size;
    fill(q, size, r.seed);
  }
  check_free(t, &r);
  /* free everything, collect, and reuse the cached segments for other kinds */
  for (size_t i = 1; i < ARRAY_LEN(small); i += 2) check_free(t, &small[i]);
  for (size_t i = 1; i < ARRAY_LEN(large); i += 2) check_free(t, &large[i]);
  for (size_t i = 0; i < ARRAY_LEN(huge); i++) check_free(t, &huge[i]);
  for (size_t i = 0; i < ARRAY_LEN(medium); i++) alloc_fill(t, &medium[i], 9000 + i * 900, (unsigned)i + 1);
  zeroed(t, 100, 1000);
  for (size_t i = 0; i < ARRAY_LEN(medium); i++) check_free(t, &medium[i]);
  mia_collect(true);
  for (size_t i = 0; i < 400; i++) alloc_fill(t, &small[i], 2000 + i, (unsigned)i);
  for (size_t i = 0; i < 400; i++) check_free(t, &small[i]);
  /* a thread's first allocation (its data comes from reserve), exit with live blocks */
  tally tt = {0, 0, 0, 0, 0, 0};
  pthread_t th;
  void* left = NULL;
  if (pthread_create(&th, NULL, thread_work, &tt) == 0) {
    pthread_join(th, &left);
    blk* l = (blk*)left;
    for (size_t i = 0; l != NULL && i < 8; i++) check_free(t, &l[i]); /* into abandoned segments */
  }
  t->allocs += tt.allocs; t->nulls += tt.nulls; t->bad_errno += tt.bad_errno; t->corrupt += tt.corrupt;
  /* a heap made and destroyed */
  mia_heap_t* h = mia_heap_new();
  if (outcome(t, h, h == NULL ? ENOMEM : 0)) {
    for (size_t i = 0; i < 200; i++) {
      errno = 0;
      void* p = mia_heap_malloc(h, 64 + i * 500);
      if (outcome(t, p, errno)) memset(p, 1, 64 + i * 500);
    }
    mia_heap_destroy(h);
  }
  mia_collect(true);
}

/* ---------------------------------------------------------------------------
   The children
--------------------------------------------------------------------------- */

/* What a child reports through its pipe. */
typedef struct report {
  long calls[OP_COUNT];
  long unprotects;
  long injected;
  tally armed, recovered;
} report;

static void child_setup(void) {
  struct rlimit no_core = {0, 0};
  setrlimit(RLIMIT_CORE, &no_core);
  alarm(60);
  mia_option_set(mia_option_purge_delay, 0); /* purge (decommit) at once */
  if (!install_hooks()) _exit(90);
}

/* op < 0: a dry run that only counts. */
static void child_run(int op, long at, long len, bool strict_os, int fd) {
  strict = strict_os;
  child_setup();
  report r;
  memset(&r, 0, sizeof r);
  for (int i = 0; i < OP_COUNT; i++) atomic_store(&op_calls[i], 0L);
  if (op >= 0) arm(op, at, len);
  workload(&r.armed);
  disarm();
  for (int i = 0; i < OP_COUNT; i++) r.calls[i] = atomic_load(&op_calls[i]);
  r.unprotects = atomic_load(&unprotect_calls);
  r.injected = (op >= 0 ? atomic_load(&op_injected[op]) : 0);
  workload(&r.recovered);
  if (write(fd, &r, sizeof r) != (ssize_t)sizeof r) _exit(91);
  _exit(0);
}

typedef struct run_result {
  bool completed;   /* the child reported */
  int status;
  report r;
} run_result;

static run_result run_child(int op, long at, long len, bool strict_os) {
  run_result res;
  memset(&res, 0, sizeof res);
  int fds[2];
  if (pipe(fds) != 0) return res;
  fflush(stdout);
  const pid_t pid = fork();
  if (pid == 0) { close(fds[0]); child_run(op, at, len, strict_os, fds[1]); }
  close(fds[1]);
  if (pid < 0) { close(fds[0]); return res; }
  size_t got = 0;
  while (got < sizeof res.r) {
    const ssize_t k = read(fds[0], (char*)&res.r + got, sizeof res.r - got);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) break;
    got += (size_t)k;
  }
  close(fds[0]);
  while (waitpid(pid, &res.status, 0) < 0 && errno == EINTR) { }
  res.completed = (got == sizeof res.r) && WIFEXITED(res.status) && WEXITSTATUS(res.status) == 0;
  return res;
}

static void describe_status(int status, char* buf, size_t cap) {
  if (WIFSIGNALED(status)) snprintf(buf, cap, "killed by signal %d (%s)", WTERMSIG(status), strsignal(WTERMSIG(status)));
  else snprintf(buf, cap, "exit code %d", WEXITSTATUS(status));
}

/* Every N up to 12, then about 8 more spread over the rest. */
static size_t pick_points(long total, long* out, size_t cap) {
  size_t n = 0;
  for (long i = 1; i <= total && i <= 12 && n < cap; i++) out[n++] = i;
  if (total > 12) {
    const long step = (total - 12) / 8 + 1;
    for (long i = 12 + step; i <= total && n < cap; i += step) out[n++] = i;
    if (n < cap && out[n - 1] != total) out[n++] = total;
  }
  return n;
}

typedef struct op_summary {
  long calls, runs, injected, null_results, recovered_runs, failures;
} op_summary;

/* ---------------------------------------------------------------------------
   RLIMIT_AS: allocate until NULL, free, allocate again
--------------------------------------------------------------------------- */

static size_t vm_size_now(void) {
  FILE* f = fopen("/proc/self/statm", "r");
  unsigned long pages = 0;
  if (f != NULL) {
    if (fscanf(f, "%lu", &pages) != 1) pages = 0;
    fclose(f);
  }
  return (size_t)pages * (size_t)sysconf(_SC_PAGESIZE);
}

typedef struct fill_result { size_t bytes, blocks; int err; bool corrupt; } fill_result;

/* Allocate blocks of mixed sizes until one fails; they are chained through
   their first word. */
static void* fill_until_null(fill_result* fr, size_t (*size_of)(size_t)) {
  void* head = NULL;
  memset(fr, 0, sizeof *fr);
  for (size_t i = 0;; i++) {
    const size_t size = size_of(i);
    errno = 0;
    unsigned char* p = (unsigned char*)mia_malloc(size);
    if (p == NULL) { fr->err = errno; break; }
    memcpy(p, &head, sizeof head);
    memcpy(p + sizeof head, &size, sizeof size);
    memset(p + sizeof head + sizeof size, 0x3C, size - sizeof head - sizeof size);
    head = p;
    fr->bytes += size;
    fr->blocks++;
  }
  return head;
}
static void free_chain(void* head, fill_result* fr) {
  while (head != NULL) {
    unsigned char* p = (unsigned char*)head;
    size_t size;
    memcpy(&head, p, sizeof head);
    memcpy(&size, p + sizeof head, sizeof size);
    if (p[size - 1] != 0x3C) fr->corrupt = true;
    mia_free(p);
  }
}
static size_t mixed_size(size_t i) {
  static const size_t sizes[] = {48, 1000, 20000, 300000, 3 * MiB, 7 * MiB, 100, 60000};
  return sizes[i % ARRAY_LEN(sizes)];
}
static size_t small_size(size_t i) { return 32 + (i % 64) * 16; }

static int rlimit_child(int fd) {
  alarm(60);
  struct rlimit no_core = {0, 0};
  setrlimit(RLIMIT_CORE, &no_core);
  const size_t limit = vm_size_now() + 256 * MiB;
  struct rlimit as = {limit, limit};
  if (setrlimit(RLIMIT_AS, &as) != 0) return 2;
  fill_result a, b, c, d;
  void* chain = fill_until_null(&a, mixed_size);        /* mixed sizes until NULL */
  void* small_chain = fill_until_null(&b, small_size);  /* then small ones in what is left */
  free_chain(small_chain, &b);
  free_chain(chain, &a);
  mia_collect(true);
  chain = fill_until_null(&c, mixed_size);              /* and again */
  free_chain(chain, &c);
  mia_collect(true);
  chain = fill_until_null(&d, small_size);
  free_chain(chain, &d);
  char line[512];
  const int n = snprintf(line, sizeof line,
                         "     RLIMIT_AS = VM + 256 MiB: mixed sizes %zu blocks, %.1f MiB until NULL (errno %d); then small %zu blocks, "
                         "%.1f MiB (errno %d); after free + collect: mixed %.1f MiB (errno %d), small only %.1f MiB (errno %d)\n",
                         a.blocks, (double)a.bytes / (double)MiB, a.err, b.blocks, (double)b.bytes / (double)MiB, b.err,
                         (double)c.bytes / (double)MiB, c.err, (double)d.bytes / (double)MiB, d.err);
  if (n > 0 && write(fd, line, (size_t)n) != n) return 3;
  int bad = 0;
  if (a.err != ENOMEM || b.err != ENOMEM || c.err != ENOMEM || d.err != ENOMEM) bad |= 4;
  if (a.corrupt || b.corrupt || c.corrupt || d.corrupt) bad |= 8;
  if (a.bytes < 128 * MiB) bad |= 16;               /* most of the 256 MiB was usable */
  if (c.bytes < a.bytes / 10 * 9) bad |= 32;        /* and usable again after the free */
  if (d.bytes < 64 * MiB) bad |= 64;                /* small blocks: freed segments were reused or released */
  return bad;
}

int main(int argc, char** argv) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  const bool quick = getenv("MIALLOC_TEST_QUICK") != NULL || (argc > 1 && strcmp(argv[1], "quick") == 0);
  mia_free(mia_malloc(1)); /* initialise in the parent: every child starts alike */
  printf("fault injection, %s\n", FAULTS_CONFIG);
  int passed = 0, failed = 0;

  run_result dry[2];
  for (int st = 0; st < 2; st++) {
    dry[st] = run_child(-1, 0, 0, st == 1);
    const tally* a = &dry[st].r.armed;
    if (!dry[st].completed) {
      char s[128];
      describe_status(dry[st].status, s, sizeof s);
      printf("FAIL the workload without faults (%s): %s\n", st ? "strict" : "plain", s);
      failed++;
    } else if (a->nulls != 0 || a->corrupt != 0 || a->not_zero != 0 || a->bad_errno != 0 || a->misaligned != 0) {
      printf("FAIL the workload without faults (%s): %ld NULL, %ld corrupt, %ld not zeroed\n", st ? "strict" : "plain", a->nulls,
             a->corrupt, a->not_zero);
      failed++;
    } else {
      passed++;
    }
    printf("     %s OS layer, calls by the workload: reserve %ld, commit %ld, decommit %ld, protect %ld (%ld unprotect), release %ld; %ld allocations\n",
           st ? "strict" : "plain", dry[st].r.calls[OP_RESERVE], dry[st].r.calls[OP_COMMIT], dry[st].r.calls[OP_DECOMMIT],
           dry[st].r.calls[OP_PROTECT], dry[st].r.unprotects, dry[st].r.calls[OP_RELEASE], a->allocs);
  }

  /* which flavour of the OS layer each operation's faults run under */
  typedef struct sweep { int op; bool strict_os; } sweep;
  static const sweep sweeps[] = {
    {OP_RESERVE, false}, {OP_COMMIT, true}, {OP_DECOMMIT, false}, {OP_DECOMMIT, true}, {OP_PROTECT, false},
  };
  op_summary sum[ARRAY_LEN(sweeps)];
  memset(sum, 0, sizeof sum);
  static const long lens[] = {1, 1000000}; /* one call fails; every call from N on fails until cleared */
  for (size_t sw = 0; sw < ARRAY_LEN(sweeps); sw++) {
    const int op = sweeps[sw].op;
    const bool st = sweeps[sw].strict_os;
    const long total = dry[st].r.calls[op];
    sum[sw].calls = total;
    long points[128];
    size_t npoints = pick_points(total, points, ARRAY_LEN(points));
    if (quick && npoints > 12) npoints = 12;
    for (size_t li = 0; li < ARRAY_LEN(lens); li++) {
      for (size_t k = 0; k < npoints; k++) {
        if (lens[li] > 1 && k % 4 != 0) continue; /* the persistent fault at every 4th point */
        const long at = points[k];
        const run_result res = run_child(op, at, lens[li], st);
        sum[sw].runs++;
        const tally* a = &res.r.armed;
        const tally* rc = &res.r.recovered;
        char why[256] = "";
        if (!res.completed) {
          char s[128];
          describe_status(res.status, s, sizeof s);
          snprintf(why, sizeof why, "%s", s);
        } else if (a->bad_errno != 0 || rc->bad_errno != 0) {
          snprintf(why, sizeof why, "%ld NULL results without ENOMEM", a->bad_errno + rc->bad_errno);
        } else if (a->corrupt + rc->corrupt + a->not_zero + rc->not_zero + a->misaligned + rc->misaligned != 0) {
          snprintf(why, sizeof why, "%ld corrupted, %ld not zeroed, %ld misaligned blocks", a->corrupt + rc->corrupt,
                   a->not_zero + rc->not_zero, a->misaligned + rc->misaligned);
        } else if (rc->nulls != 0) {
          snprintf(why, sizeof why, "no recovery: %ld NULL results after the fault was cleared", rc->nulls);
        }
        if (res.completed) {
          sum[sw].injected += res.r.injected;
          sum[sw].null_results += a->nulls;
          if (rc->nulls == 0) sum[sw].recovered_runs++;
        }
        if (why[0] != 0) {
          failed++;
          sum[sw].failures++;
          printf("FAIL %s call #%ld fails%s (%s OS layer): %s\n", op_names[op], at, lens[li] > 1 ? " and every one after it" : "",
                 st ? "strict" : "plain", why);
        } else {
          passed++;
        }
      }
    }
  }
  printf("\n| %s: failing call | calls in the workload | children | faults injected | NULL+ENOMEM results | recovered | failed |\n"
         "|---|---|---|---|---|---|---|\n", FAULTS_CONFIG);
  for (size_t sw = 0; sw < ARRAY_LEN(sweeps); sw++) {
    printf("| %s (%s) | %ld | %ld | %ld | %ld | %ld | %ld |\n", op_names[sweeps[sw].op], sweeps[sw].strict_os ? "strict" : "plain",
           sum[sw].calls, sum[sw].runs, sum[sw].injected, sum[sw].null_results, sum[sw].recovered_runs, sum[sw].failures);
  }
  printf("\n");

  /* RLIMIT_AS */
  int fds[2];
  if (pipe(fds) == 0) {
    fflush(stdout);
    const pid_t pid = fork();
    if (pid == 0) { close(fds[0]); _exit(rlimit_child(fds[1])); }
    close(fds[1]);
    char text[1024];
    size_t n = 0;
    ssize_t k;
    while (n < sizeof text - 1 && (k = read(fds[0], text + n, sizeof text - 1 - n)) > 0) n += (size_t)k;
    text[n] = 0;
    close(fds[0]);
    int status = 0;
    while (pid > 0 && waitpid(pid, &status, 0) < 0 && errno == EINTR) { }
    fputs(text, stdout);
    if (pid > 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0) {
      printf("ok   RLIMIT_AS: allocation stopped with ENOMEM, no crash, and worked again after the free\n");
      passed++;
    } else {
      char s[128];
      describe_status(status, s, sizeof s);
      printf("FAIL RLIMIT_AS run: %s (flags: 4 errno, 8 corrupt, 16 little usable, 32 not usable again, 64 small)\n", s);
      failed++;
    }
  } else {
    failed++;
  }
  printf("%d passed, %d failed\n", passed, failed);
  return failed == 0 ? 0 : 1;
}
