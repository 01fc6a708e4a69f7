/* test_ownership.c - who owns a heap, a segment, a lock: the seven cases of
   the ownership issue, each one a test.

     1 a heap in an arena is deleted, its live block freed afterwards by the
       same thread (the block shares a segment with the backing heap's, in a
       shared arena; or two heaps of one exclusive arena; or a full page)
     2 a non-owner's mia_heap_destroy racing the owner's exit (the heap has a
       shared part): the descriptor must be freed exactly once
     3 an 8 MiB exclusive arena serves 100 short-lived threads in turn (their
       segments come back to the arena)
     4 a heap that other threads allocated from, deleted: its shared part
       goes too (10 rounds keep committed memory flat)
     5 a heap whose creating thread exits before anyone else used it lives on
       until mia_heap_delete or mia_heap_destroy, whoever calls it
     6 fork while another thread holds the arena lock, a shared part's lock,
       or frees into full pages; and in the child, the segments of the
       parent's other threads are abandoned (frees into them come back)
     7 a pointer mialloc never returned (unmapped, static, stack, another
       allocator's, mapped memory that looks like a segment) given to
       mia_free, mia_realloc, mia_usable_size, mia_heap_contains_block:
       reported through mia_register_error, ignored, no crash

   Every case can crash or hang the process on a broken allocator, so each
   runs in a child process of its own (own_isolated): the child's CHECK
   counts come back through a pipe; a child killed by a signal, or still
   running after its time limit (then killed with its process group), is one
   failed CHECK that says so. The racy cases (2, 6) repeat their race many
   times and widen its window with timing alone; a header built with
   MIALLOC_TEST_HOOKS=1 that offers mia_test_set_yield (MIALLOC_TEST_SITES
   defined) lets them hold a thread at the exact site instead, every round.
   Threads never CHECK: they count, and the test thread checks the counts
   after the join. */
#include "../mialloc.h"
#include "runner.h"

#if defined(_WIN32) /* no fork, mmap or process groups: every test skips itself */
#define OWN_POSIX 0
#else
#define OWN_POSIX 1
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#endif

void tests_ownership(void);

#ifdef MIALLOC_SEGMENT_SHIFT
#define OWN_SEGMENT ((size_t)1 << MIALLOC_SEGMENT_SHIFT)
#else
#define OWN_SEGMENT ((size_t)4 * MiB)
#endif
#define OWN_LEN(a) (sizeof(a) / sizeof((a)[0]))

#if defined(__SANITIZE_THREAD__)
#define OWN_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define OWN_TSAN 1
#endif
#endif
#ifndef OWN_TSAN
#define OWN_TSAN 0
#endif

/* The test hooks of the header (see the note at the top), when it has them. */
#if defined(MIALLOC_TEST_SITES)
#define OWN_HOOKS 1
#else
#define OWN_HOOKS 0
#endif

#if OWN_POSIX

/* ---------------------------------------------------------------------------
   Small helpers
--------------------------------------------------------------------------- */

static uintptr_t own_segment_of(const void* p) { return (uintptr_t)p & ~(uintptr_t)(OWN_SEGMENT - 1); }

static size_t own_committed(void) {
  size_t commit = 0;
  mia_process_info(NULL, NULL, NULL, NULL, NULL, &commit, NULL, NULL);
  return commit;
}

static double own_mib(size_t n) { return (double)n / (double)MiB; }

/* `size` bytes of fresh anonymous memory aligned to `align` (never unmapped:
   the tests run in children that exit). NULL if mmap fails. */
static void* own_map_aligned(size_t size, size_t align) {
  void* m = mmap(NULL, size + align, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (m == MAP_FAILED) return NULL;
  return (void*)(((uintptr_t)m + align - 1) & ~(uintptr_t)(align - 1));
}

/* An arena of `size` bytes, aligned to a segment (so it holds size / segment
   units); 0 on failure. */
static mia_arena_id_t own_arena(size_t size, bool exclusive, uint8_t** start) {
  uint8_t* mem = (uint8_t*)own_map_aligned(size, OWN_SEGMENT);
  mia_arena_id_t id = 0;
  if (mem == NULL) return 0;
  if (!mia_manage_os_memory_ex(mem, size, true /* committed */, false /* large */, true /* zero */, -1, exclusive, &id)) return 0;
  if (start != NULL) *start = mem;
  return id;
}

static bool own_in(const void* p, const uint8_t* start, size_t size) {
  return (const uint8_t*)p >= start && (const uint8_t*)p < start + size;
}

static void own_spin(size_t n) {
  for (volatile size_t i = 0; i < n; i++) { }
}

static void own_sleep_ms(unsigned ms) { usleep(ms * 1000u); }

/* Errors and messages the allocator reports while a case runs. */
typedef struct own_report {
  _Atomic int calls;
  _Atomic int last;
  _Atomic size_t len;
  char text[4096];
} own_report;
static own_report own_rep;

static void own_on_error(int err, void* arg) {
  (void)arg;
  atomic_store(&own_rep.last, err);
  atomic_fetch_add(&own_rep.calls, 1);
}
static void own_on_output(const char* msg, void* arg) {
  (void)arg;
  size_t n = strlen(msg);
  size_t at = atomic_fetch_add(&own_rep.len, n);
  if (at >= sizeof(own_rep.text) - 1) return;
  if (n > sizeof(own_rep.text) - 1 - at) n = sizeof(own_rep.text) - 1 - at;
  memcpy(own_rep.text + at, msg, n);
}
/* Catch every error and message from here on (the child's own copy). */
static void own_report_install(void) {
  atomic_store(&own_rep.calls, 0);
  atomic_store(&own_rep.last, 0);
  atomic_store(&own_rep.len, 0);
  memset(own_rep.text, 0, sizeof own_rep.text);
  mia_option_enable(mia_option_show_errors);
  mia_register_error(own_on_error, NULL);
  mia_register_output(own_on_output, NULL);
}
/* The messages so far, terminated. */
static const char* own_report_text(void) {
  size_t n = atomic_load(&own_rep.len);
  own_rep.text[n < sizeof(own_rep.text) ? n : sizeof(own_rep.text) - 1] = 0;
  return own_rep.text;
}

static const char* own_signal_name(int sig) {
  switch (sig) {
    case SIGSEGV: return "SIGSEGV";
    case SIGBUS: return "SIGBUS";
    case SIGABRT: return "SIGABRT";
    case SIGILL: return "SIGILL";
    case SIGFPE: return "SIGFPE";
    case SIGKILL: return "SIGKILL";
    case SIGALRM: return "SIGALRM";
    case SIGTRAP: return "SIGTRAP";
    default: return "signal";
  }
}

/* What a wait status says, in words. */
static void own_describe(int status, char* out, size_t cap) {
  if (WIFSIGNALED(status)) snprintf(out, cap, "killed by signal %d (%s)", WTERMSIG(status), own_signal_name(WTERMSIG(status)));
  else if (WIFEXITED(status)) snprintf(out, cap, "exit code %d%s", WEXITSTATUS(status), WEXITSTATUS(status) == 66 ? " (a sanitizer report, above)" : "");
  else snprintf(out, cap, "status 0x%x", (unsigned)status);
}

/* Wait for `pid` at most `timeout_s` seconds; past it, kill its process
   group (`group`) or the process alone. True if it ended by itself. */
static bool own_wait(pid_t pid, double timeout_s, bool group, int* status) {
  const double deadline = runner_now() + timeout_s;
  unsigned nap_us = 200;
  for (;;) {
    pid_t w = waitpid(pid, status, WNOHANG);
    if (w == pid) return true;
    if (w < 0 && errno != EINTR) { *status = 0; return true; }
    if (runner_now() > deadline) break;
    usleep(nap_us);
    if (nap_us < 5000) nap_us *= 2;
  }
  if (group) {
    /* SIGTERM first: the child says where it hung (own_on_fatal) */
    kill(pid, SIGTERM);
    const double grace = runner_now() + 1.0;
    pid_t w = 0;
    while ((w = waitpid(pid, status, WNOHANG)) == 0 && runner_now() < grace) usleep(2000);
    kill(-pid, SIGKILL); /* its children too */
    if (w == pid) return false;
  }
  kill(pid, SIGKILL);
  while (waitpid(pid, status, 0) < 0 && errno == EINTR) { }
  return false;
}

/* ---------------------------------------------------------------------------
   Isolation: run a case in a child process
--------------------------------------------------------------------------- */

/* Where the child is (set by the case as it goes): a child that crashes, or
   is stopped for hanging (SIGTERM first), prints it before it dies. */
static char own_progress[160];
static struct sigaction own_old_actions[NSIG];
static const int own_caught[] = { SIGSEGV, SIGBUS, SIGABRT, SIGILL, SIGFPE, SIGTERM };

static void own_on_fatal(int sig) {
  char line[256];
  int n = snprintf(line, sizeof line, "     (%s in the child; it was at: %s)\n", sig == SIGTERM ? "stopped, hung," : own_signal_name(sig),
                   own_progress[0] ? own_progress : "the start");
  if (n > 0) { ssize_t w = write(2, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1); (void)w; }
  /* the previous action (the default, or a sanitizer's) takes it from here:
     a fault happens again on return, SIGTERM and abort are raised again */
  sigaction(sig, &own_old_actions[sig], NULL);
  if (sig == SIGTERM || sig == SIGABRT) raise(sig);
}
static void own_catch_fatal(void) {
  own_progress[0] = 0;
  for (size_t i = 0; i < OWN_LEN(own_caught); i++) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = own_on_fatal;
    sigemptyset(&sa.sa_mask);
    sigaction(own_caught[i], &sa, &own_old_actions[own_caught[i]]);
  }
}
static void own_at(const char* what) { snprintf(own_progress, sizeof own_progress, "%.150s", what); }
static void own_at_round(const char* what, size_t round, size_t rounds) {
  snprintf(own_progress, sizeof own_progress, "%s %zu of %zu", what, round, rounds);
}

typedef struct own_counts {
  long passed, failed, sites;
} own_counts;

/* Run body(arg) in a child (its own process group, no core file). Its CHECKs
   are added to ours; a crash or a hang is one failed CHECK naming `what`. */
static void own_isolated(const char* what, double timeout_s, void (*body)(void*), void* arg) {
  int fds[2];
  if (pipe(fds) != 0) { CHECKF(false, "%s: pipe failed", what); return; }
  fflush(stdout);
  fflush(stderr);
  const pid_t pid = fork();
  if (pid < 0) { CHECKF(false, "%s: fork failed", what); close(fds[0]); close(fds[1]); return; }
  if (pid == 0) {
    close(fds[0]);
    setpgid(0, 0);
    struct rlimit no_core = { 0, 0 };
    setrlimit(RLIMIT_CORE, &no_core);
    own_catch_fatal();
    const own_counts before = { atomic_load(&runner.passed), atomic_load(&runner.failed), atomic_load(&runner.sites) };
    body(arg);
    const own_counts delta = { atomic_load(&runner.passed) - before.passed, atomic_load(&runner.failed) - before.failed,
                               atomic_load(&runner.sites) - before.sites };
    fflush(stdout);
    fflush(stderr);
    ssize_t wrote = write(fds[1], &delta, sizeof delta);
    _exit(wrote == (ssize_t)sizeof delta ? 0 : 3);
  }
  close(fds[1]);
  setpgid(pid, pid); /* both sides: no race with the child's own call */
  int status = 0;
  const bool ended = own_wait(pid, timeout_s, true, &status);
  own_counts got;
  memset(&got, 0, sizeof got);
  ssize_t n = 0;
  for (;;) {
    n = read(fds[0], &got, sizeof got);
    if (n < 0 && errno == EINTR) continue;
    break;
  }
  close(fds[0]);
  const bool reported = (n == (ssize_t)sizeof got);
  if (reported) {
    atomic_fetch_add(&runner.passed, got.passed);
    atomic_fetch_add(&runner.failed, got.failed);
    atomic_fetch_add(&runner.sites, got.sites);
    if (got.failed != 0) atomic_store(&runner.test_failed, true);
  }
  char desc[128];
  if (!ended) snprintf(desc, sizeof desc, "hung: still running after %.0f s (killed)", timeout_s);
  else own_describe(status, desc, sizeof desc);
  const bool clean = ended && reported && WIFEXITED(status) && WEXITSTATUS(status) == 0;
  CHECKF(clean, "%s: the child was %s%s", what, desc, reported ? "" : " before it finished");
}

/* Fork a child that runs fn(arg) and _exits with what it returns; wait for
   it at most `timeout_s` (then kill it). Used inside a case, from a
   process that may have other threads running. */
enum { OWN_FORK_OK, OWN_FORK_FAILED, OWN_FORK_HUNG, OWN_FORK_ERROR };
static int own_fork_run(int (*fn)(void*), void* arg, double timeout_s, int* status) {
  fflush(stdout);
  fflush(stderr);
  const pid_t pid = fork();
  if (pid < 0) return OWN_FORK_ERROR;
  if (pid == 0) _exit(fn(arg));
  *status = 0;
  if (!own_wait(pid, timeout_s, false, status)) return OWN_FORK_HUNG;
  return (WIFEXITED(*status) && WEXITSTATUS(*status) == 0) ? OWN_FORK_OK : OWN_FORK_FAILED;
}

/* The time limit of one case: sanitizers and debug builds are slower. */
static double own_timeout(double seconds) {
  return runner.quick ? seconds * 4 : seconds;
}

/* After a case has run: mia_collect(true), then blocks of every small and
   medium size class (8 B .. 16 KiB in eighths, ~256 KiB of each) allocated,
   filled, checked and freed. A block handed out twice (a double free
   earlier) shows up as a duplicate address or a damaged pattern. Returns
   the number of such blocks; *nulls counts failed allocations. */
static size_t own_sweep(size_t* nulls, const void* must_not_contain) {
  mia_collect(true);
  enum { SWEEP_MAX = 24000 };
  void** ps = (void**)malloc(SWEEP_MAX * sizeof(void*));
  size_t* sz = (size_t*)malloc(SWEEP_MAX * sizeof(size_t));
  if (ps == NULL || sz == NULL) { free(ps); free(sz); (*nulls)++; return 0; }
  size_t n = 0, bad = 0;
  for (size_t size = 8; size <= 16 * KiB && n < SWEEP_MAX; size += (size < 64 ? 8 : size / 8)) {
    size_t count = (256 * KiB) / size;
    if (count < 16) count = 16;
    if (count > 2048) count = 2048;
    for (size_t i = 0; i < count && n < SWEEP_MAX; i++) {
      void* p = mia_malloc(size);
      if (p == NULL) { (*nulls)++; continue; }
      if (must_not_contain != NULL && (const uint8_t*)must_not_contain >= (uint8_t*)p &&
          (const uint8_t*)must_not_contain < (uint8_t*)p + size) bad++;
      pattern_fill(p, size, (uint64_t)n + 1);
      ps[n] = p;
      sz[n] = size;
      n++;
    }
  }
  for (size_t i = 0; i < n; i++) bad += pattern_check(ps[i], sz[i], (uint64_t)i + 1) != sz[i];
  void** sorted = (void**)malloc((n > 0 ? n : 1) * sizeof(void*));
  if (sorted != NULL) {
    memcpy(sorted, ps, n * sizeof(void*));
    qsort(sorted, n, sizeof(void*), cmp_ptr);
    for (size_t i = 1; i < n; i++) bad += (sorted[i] == sorted[i - 1]);
    free(sorted);
  }
  /* a duplicate is freed once only */
  qsort(ps, n, sizeof(void*), cmp_ptr);
  for (size_t i = 0; i < n; i++)
    if (i == 0 || ps[i] != ps[i - 1]) mia_free(ps[i]);
  free(ps);
  free(sz);
  return bad;
}

/* ---------------------------------------------------------------------------
   The header's test hooks (MIALLOC_TEST_HOOKS=1), when it has them. One site
   at a time is armed; the first thread that reaches it is held there: it
   runs the arming's action, or (no action) says it is there and waits until
   released (at most 5 s).
--------------------------------------------------------------------------- */
#if OWN_HOOKS
typedef struct own_hold {
  _Atomic int site;            /* the armed site, or -1 */
  _Atomic int reached;         /* a thread is held there */
  _Atomic int released;
  _Atomic int left;            /* the held thread went on */
  _Atomic size_t holds;        /* threads held so far */
  void (*action)(void*);       /* run by the held thread instead of waiting */
  void* action_arg;
} own_hold;
static own_hold own_held;

static void own_yield_hook(mia_test_site_t site, void* arg) {
  own_hold* h = (own_hold*)arg;
  int expected = (int)site;
  if (atomic_load_explicit(&h->site, memory_order_relaxed) != expected) return;
  if (!atomic_compare_exchange_strong(&h->site, &expected, -1)) return; /* one thread per arming */
  atomic_fetch_add(&h->holds, 1);
  if (h->action != NULL) { h->action(h->action_arg); return; }
  atomic_store(&h->reached, 1);
  const double deadline = runner_now() + 5.0;
  while (!atomic_load(&h->released) && runner_now() < deadline) sched_yield();
  atomic_store(&h->left, 1);
}
static void own_hold_arm(mia_test_site_t site, void (*action)(void*), void* action_arg) {
  own_held.action = action;
  own_held.action_arg = action_arg;
  atomic_store(&own_held.reached, 0);
  atomic_store(&own_held.released, 0);
  atomic_store(&own_held.left, 0);
  mia_test_set_yield(own_yield_hook, &own_held);
  atomic_store(&own_held.site, (int)site);
}
static void own_hold_disarm(void) { atomic_store(&own_held.site, -1); }
/* Wait until a thread is held at the armed site (false after `seconds`: disarmed). */
static bool own_hold_wait(double seconds) {
  const double deadline = runner_now() + seconds;
  while (!atomic_load(&own_held.reached)) {
    if (runner_now() > deadline) {
      int expected = atomic_load(&own_held.site);
      if (expected != -1 && atomic_compare_exchange_strong(&own_held.site, &expected, -1)) return false;
    }
    sched_yield();
  }
  return true;
}
/* Let the held thread go on, and wait until it has (so the next arming starts afresh). */
static void own_hold_release(void) {
  atomic_store(&own_held.released, 1);
  const double deadline = runner_now() + 5.0;
  while (!atomic_load(&own_held.left) && runner_now() < deadline) sched_yield();
}
#endif

/* ---------------------------------------------------------------------------
   1. A heap in an arena deleted; its live block freed later by the same thread
--------------------------------------------------------------------------- */

typedef struct own1_ctx {
  mia_arena_id_t arena, exclusive_arena;
  uint8_t* arena_start;
  size_t arena_size;
  /* results, counted by the thread */
  bool q_in_arena, heap_made, same_segment, freed, full_page;
  size_t bad, nulls;
} own1_ctx;

/* Blocks are fine and the thread can go on allocating. */
static void own_churn(own1_ctx* c, mia_heap_t* heap) {
  void* ps[500];
  for (size_t i = 0; i < OWN_LEN(ps); i++) {
    const size_t size = 16 + (i % 40) * 24;
    ps[i] = heap != NULL ? mia_heap_malloc(heap, size) : mia_malloc(size);
    if (ps[i] == NULL) { c->nulls++; continue; }
    pattern_fill(ps[i], size, 0xC0 + i);
  }
  for (size_t i = 0; i < OWN_LEN(ps); i++) {
    if (ps[i] == NULL) continue;
    c->bad += pattern_check(ps[i], 16 + (i % 40) * 24, 0xC0 + i) != 16 + (i % 40) * 24;
    mia_free(ps[i]);
  }
}

/* The issue's sequence on a fresh thread (its backing heap has no segment yet). */
static void* own1_same_segment(void* arg) {
  own1_ctx* c = (own1_ctx*)arg;
  void* q = mia_malloc(32); /* the backing heap's first segment: from the shared arena */
  if (q == NULL) { c->nulls++; return NULL; }
  c->q_in_arena = own_in(q, c->arena_start, c->arena_size);
  pattern_fill(q, 32, 1);
  mia_heap_t* h = mia_heap_new_in_arena(c->arena);
  c->heap_made = (h != NULL);
  if (h == NULL) { mia_free(q); return NULL; }
  void* p = mia_heap_malloc(h, 32);
  if (p == NULL) { c->nulls++; mia_heap_delete(h); mia_free(q); return NULL; }
  c->same_segment = own_segment_of(p) == own_segment_of(q);
  pattern_fill(p, 32, 2);
  own_at("mia_heap_delete(h)");
  mia_heap_delete(h); /* p stays valid */
  c->bad += pattern_check(p, 32, 2) != 32;
  own_at("mia_free(p) after mia_heap_delete(h)");
  mia_free(p);        /* crashed here */
  own_at("after mia_free(p)");
  c->freed = true;
  c->bad += pattern_check(q, 32, 1) != 32;
  own_churn(c, NULL);
  mia_free(q);
  mia_collect(true);
  own_churn(c, NULL);
  return NULL;
}

/* Two heaps of one exclusive arena share a segment; one is deleted. */
static void* own1_two_heaps(void* arg) {
  own1_ctx* c = (own1_ctx*)arg;
  mia_heap_t* h1 = mia_heap_new_in_arena(c->exclusive_arena);
  mia_heap_t* h2 = mia_heap_new_in_arena(c->exclusive_arena);
  c->heap_made = (h1 != NULL && h2 != NULL);
  if (!c->heap_made) return NULL;
  void* p1 = mia_heap_malloc(h1, 32);
  void* p2 = mia_heap_malloc(h2, 32);
  if (p1 == NULL || p2 == NULL) { c->nulls++; return NULL; }
  c->same_segment = own_segment_of(p1) == own_segment_of(p2);
  c->q_in_arena = own_in(p1, c->arena_start, c->arena_size) && own_in(p2, c->arena_start, c->arena_size);
  pattern_fill(p1, 32, 3);
  pattern_fill(p2, 32, 4);
  own_at("mia_heap_delete(h1)");
  mia_heap_delete(h1);
  c->bad += pattern_check(p1, 32, 3) != 32;
  own_at("mia_free(p1) after mia_heap_delete(h1)");
  mia_free(p1);
  own_at("after mia_free(p1)");
  c->freed = true;
  own_churn(c, h2);
  c->bad += pattern_check(p2, 32, 4) != 32;
  mia_free(p2);
  mia_heap_delete(h2);
  mia_collect(true);
  return NULL;
}

/* The same with full pages (in the full queue): the heap's pages share the
   backing heap's segment; the heap is deleted, then every block freed by the
   same thread. */
static void* own1_full_page(void* arg) {
  own1_ctx* c = (own1_ctx*)arg;
  void* q = mia_malloc(32); /* the backing heap's first segment: from the shared arena */
  if (q == NULL) { c->nulls++; return NULL; }
  c->q_in_arena = own_in(q, c->arena_start, c->arena_size);
  mia_heap_t* h = mia_heap_new_in_arena(c->arena);
  c->heap_made = (h != NULL);
  if (h == NULL) { mia_free(q); return NULL; }
  enum { N = 3 * 2048 + 100 }; /* 32-byte blocks: three 64 KiB pages and a bit */
  void** ps = (void**)malloc(N * sizeof(void*));
  if (ps == NULL) { c->nulls++; mia_heap_delete(h); mia_free(q); return NULL; }
  for (size_t i = 0; i < N; i++) {
    ps[i] = mia_heap_malloc(h, 32);
    if (ps[i] == NULL) { c->nulls++; continue; }
    pattern_fill(ps[i], 32, i);
  }
  mia_heap_stats_t st;
  c->full_page = mia_heap_stats_get(h, &st) && st.pages >= 3;
  c->same_segment = ps[0] != NULL && own_segment_of(ps[0]) == own_segment_of(q);
  own_at("mia_heap_delete(h) with full pages");
  mia_heap_delete(h);
  own_at("freeing the blocks of the deleted heap's full pages");
  for (size_t i = 0; i < N; i++) {
    if (ps[i] == NULL) continue;
    c->bad += pattern_check(ps[i], 32, i) != 32;
    mia_free(ps[i]);
  }
  own_at("after the frees");
  c->freed = true;
  free(ps);
  own_churn(c, NULL);
  mia_free(q);
  mia_collect(true);
  return NULL;
}

static void own1_body(void* arg) {
  void* (*fn)(void*) = *(void* (**)(void*))arg;
  own1_ctx c;
  memset(&c, 0, sizeof c);
  c.arena_size = 64 * MiB;
  const bool exclusive = (fn == own1_two_heaps);
  mia_arena_id_t id = own_arena(c.arena_size, exclusive, &c.arena_start);
  CHECKF(id != 0, "mia_manage_os_memory_ex(64 MiB, %s) failed", exclusive ? "exclusive" : "shared");
  if (id == 0) return;
  c.arena = c.exclusive_arena = id;
  /* segments abandoned by the parent's earlier tests go to this thread now,
     so the fresh thread's first segment comes from the arena, not from them */
  mia_collect(true);
  pthread_t t;
  CHECK_EQ_INT(pthread_create(&t, NULL, fn, &c), 0);
  pthread_join(t, NULL);
  CHECK(c.heap_made);
  CHECKF(c.q_in_arena, "the blocks did not come from the arena: the case measures nothing");
  /* on 652394d the blocks shared a segment (the seam the case was written
     for); now each heap has segments of its own, which is what makes the
     delete safe: check that it holds */
  CHECKF(!c.same_segment, "blocks of two heaps share a segment: a heap's memory must be its own");
  if (fn == own1_full_page) CHECKF(c.full_page, "the heap did not fill three pages");
  CHECK(c.freed);
  CHECK_EQ_SZ(c.bad, 0);
  CHECK_EQ_SZ(c.nulls, 0);
}

TEST(ownership_1_arena_heap_delete_then_free) {
  void* (*fn)(void*) = own1_same_segment;
  own_isolated("q = mia_malloc(32) from a 64 MiB shared arena, h in the arena, p = mia_heap_malloc(h, 32) in q's segment, "
               "mia_heap_delete(h), mia_free(p)", own_timeout(20), own1_body, &fn);
}
TEST(ownership_1_exclusive_arena_two_heaps) {
  void* (*fn)(void*) = own1_two_heaps;
  own_isolated("two heaps of one exclusive arena, one deleted, its block freed", own_timeout(20), own1_body, &fn);
}
TEST(ownership_1_arena_heap_full_pages) {
  void* (*fn)(void*) = own1_full_page;
  own_isolated("a shared-arena heap with full pages in the backing heap's segment deleted, its blocks freed", own_timeout(20), own1_body, &fn);
}

/* ---------------------------------------------------------------------------
   2. A non-owner's mia_heap_destroy racing the owner's exit
--------------------------------------------------------------------------- */

typedef struct own2_round {
  _Atomic(mia_heap_t*) heap;
  _Atomic int stage;       /* 1: the heap is made; 2: go (the owner returns) */
  void* keep[16];          /* default-heap blocks the owner leaves live */
  size_t nulls;
  pthread_t owner;
  bool joined;
  size_t owner_delay;      /* spins between "go" and the owner's return */
} own2_round;

static size_t own2_keep_size(size_t i) { return 1024 + i * 256; }

static void* own2_owner(void* arg) {
  own2_round* r = (own2_round*)arg;
  mia_heap_t* h = mia_heap_new();
  if (h == NULL) { r->nulls++; atomic_store(&r->heap, (mia_heap_t*)NULL); atomic_store(&r->stage, 1); return NULL; }
  for (size_t i = 0; i < 16; i++) {
    if (mia_heap_malloc(h, 16 + i * 48) == NULL) r->nulls++; /* the owner's part: destroy frees them */
    /* live blocks near the descriptor's size, so its segment is abandoned, not freed */
    r->keep[i] = mia_malloc(own2_keep_size(i));
    if (r->keep[i] == NULL) r->nulls++;
    else pattern_fill(r->keep[i], own2_keep_size(i), 0x2000 + i);
  }
  atomic_store(&r->heap, h);
  atomic_store(&r->stage, 1);
  while (atomic_load_explicit(&r->stage, memory_order_acquire) < 2) sched_yield(); /* never a bare spin: 2 busy cores */
  own_spin(r->owner_delay);
  return NULL; /* thread exit: races the other thread's mia_heap_destroy */
}

/* One block of each of `kinds` size classes from `h` (this thread is not its owner). */
static size_t own2_fill_shared(mia_heap_t* h, size_t kinds) {
  size_t nulls = 0, size = 16;
  for (size_t i = 0; i < kinds; i++) {
    void* p = mia_heap_malloc(h, size);
    if (p == NULL) nulls++;
    else memset(p, 0x5C, size < 64 ? size : 64);
    size += (size < 128 ? 16 : size / 4);
  }
  return nulls;
}

typedef struct own2_args { size_t rounds; } own2_args;

#if OWN_HOOKS
/* Held after the shared part is freed, before the owner is asked: the owner
   exits meanwhile (joined here, in the destroying thread). */
static void own2_join_owner(void* arg) {
  own2_round* r = (own2_round*)arg;
  atomic_store_explicit(&r->stage, 2, memory_order_release);
  pthread_join(r->owner, NULL);
  r->joined = true;
}
#endif

static void own2_body(void* arg) {
  const own2_args* a = (const own2_args*)arg;
  own_report_install();
  uint64_t rng = 0x2D2D2D2DULL;
  size_t nulls = 0, made = 0, held = 0, bad_blocks = 0, first_bad_round = 0, rounds_run = 0;
  const double t0 = runner_now();
  for (size_t round = 0; round < a->rounds; round++) {
    own_at_round("round", round + 1, a->rounds);
    own2_round r;
    memset(&r, 0, sizeof r);
    atomic_store(&r.heap, (mia_heap_t*)NULL);
    atomic_store(&r.stage, 0);
    /* who comes first varies: no delay on either side, or up to ~20 us */
    const size_t owner_delay = (rng_next(&rng) % 4 == 0) ? 0 : (size_t)(rng_next(&rng) % 20000);
    const size_t destroy_delay = (rng_next(&rng) % 4 == 0) ? 0 : (size_t)(rng_next(&rng) % 20000);
    r.owner_delay = owner_delay;
    if (pthread_create(&r.owner, NULL, own2_owner, &r) != 0) { nulls++; continue; }
    while (atomic_load(&r.stage) < 1) sched_yield();
    mia_heap_t* h = atomic_load(&r.heap);
    if (h != NULL) {
      made++;
      /* the shared part: small, medium and large pages, so destroying it
         (and unmapping its segments) takes a while: that is the window */
      nulls += own2_fill_shared(h, 40);
#if OWN_HOOKS
      (void)destroy_delay;
      own_hold_arm(mia_test_site_destroy_shared_freed, own2_join_owner, &r);
#else
      atomic_store_explicit(&r.stage, 2, memory_order_release);
      own_spin(destroy_delay);
#endif
      mia_heap_destroy(h);
#if OWN_HOOKS
      own_hold_disarm();
      held += r.joined;
#endif
    }
    atomic_store(&r.stage, 2);
    if (!r.joined) pthread_join(r.owner, NULL);
    /* the owner's blocks: intact, or the allocator handed out memory twice
       (then they are not freed: that would only crash) */
    size_t damaged = 0;
    for (size_t i = 0; i < 16; i++) {
      if (r.keep[i] == NULL) continue;
      if (pattern_check(r.keep[i], own2_keep_size(i), 0x2000 + i) != own2_keep_size(i)) damaged++;
      else mia_free(r.keep[i]);
    }
    nulls += r.nulls;
    if (damaged != 0) {
      bad_blocks += damaged;
      first_bad_round = round + 1;
      rounds_run = round + 1;
      break;
    }
    rounds_run = round + 1;
  }
  const double secs = runner_now() - t0;
  const int errors = atomic_load(&own_rep.calls);
  size_t sweep_nulls = 0;
  const size_t dup = (bad_blocks == 0 ? own_sweep(&sweep_nulls, NULL) : 0);
  printf("     %zu of %zu rounds in %.2f s (%s); %d errors reported; %zu of the owner's live blocks damaged; sweep: %zu bad blocks\n", rounds_run,
         a->rounds, secs, OWN_HOOKS ? "test hooks: the owner exits inside every destroy" : "timing only", errors, bad_blocks, dup);
  CHECKF(bad_blocks == 0, "round %zu: %zu of the exited owner's live blocks were overwritten (memory handed out twice: the descriptor freed twice?)",
         first_bad_round, bad_blocks);
  CHECK_EQ_SZ(made, rounds_run);
  if (OWN_HOOKS) CHECK_EQ_SZ(held, made);
  CHECK_EQ_SZ(nulls, 0);
  CHECKF(errors == 0, "%d errors reported in %zu rounds (the first: %.200s)", errors, a->rounds, own_report_text());
  CHECKF(dup == 0, "%zu blocks handed out twice or damaged after the rounds (a descriptor freed twice?)", dup);
  CHECK_EQ_SZ(sweep_nulls, 0);
}

TEST(ownership_2_destroy_races_owner_exit) {
  own2_args a = { runner.quick ? (OWN_TSAN ? 100 : 400) : 2000 };
  own_isolated("non-owner mia_heap_destroy racing the owner's exit", own_timeout(60), own2_body, &a);
}

/* ---------------------------------------------------------------------------
   3. Segments of an exclusive arena whose thread exited come back
--------------------------------------------------------------------------- */

typedef struct own3_ctx {
  mia_arena_id_t arena;
  void* p;
  bool heap_made;
} own3_ctx;

static void* own3_thread(void* arg) {
  own3_ctx* c = (own3_ctx*)arg;
  mia_heap_t* h = mia_heap_new_in_arena(c->arena);
  c->heap_made = (h != NULL);
  if (h == NULL) return NULL;
  c->p = mia_heap_malloc(h, 64);
  if (c->p != NULL) pattern_fill(c->p, 64, 0x33);
  mia_heap_delete(h); /* the block stays valid */
  return NULL;        /* and the thread exits */
}

static void own3_body(void* arg) {
  (void)arg;
  uint8_t* start = NULL;
  const mia_arena_id_t id = own_arena(8 * MiB, true, &start);
  CHECKF(id != 0, "mia_manage_os_memory_ex(8 MiB, exclusive) failed");
  if (id == 0) return;
  enum { ROUNDS = 100 };
  size_t nulls = 0, first_null = 0, outside = 0, bad = 0, no_heap = 0;
  char rounds_null[512];
  size_t at = 0;
  rounds_null[0] = 0;
  for (size_t round = 1; round <= ROUNDS; round++) {
    own_at_round("round", round, ROUNDS);
    own3_ctx c;
    memset(&c, 0, sizeof c);
    c.arena = id;
    pthread_t t;
    if (pthread_create(&t, NULL, own3_thread, &c) != 0) { no_heap++; continue; }
    pthread_join(t, NULL);
    if (!c.heap_made) no_heap++;
    if (c.p == NULL) {
      if (nulls++ == 0) first_null = round;
      if (at + 8 < sizeof rounds_null) at += (size_t)snprintf(rounds_null + at, sizeof rounds_null - at, "%s%zu", at ? " " : "", round);
    } else {
      outside += !own_in(c.p, start, 8 * MiB);
      bad += pattern_check(c.p, 64, 0x33) != 64;
      mia_free(c.p); /* main frees the block */
    }
    mia_collect(true);
  }
  printf("     an 8 MiB exclusive arena, %d threads in turn: %zu got NULL%s%s\n", ROUNDS, nulls, nulls ? ", rounds " : "", rounds_null);
  CHECKF(nulls == 0, "%zu of %d threads got NULL from their heap in the arena, the first in round %zu (rounds %s)", nulls, ROUNDS,
         first_null, rounds_null);
  CHECK_EQ_SZ(no_heap, 0);
  CHECK_EQ_SZ(outside, 0);
  CHECK_EQ_SZ(bad, 0);
}

TEST(ownership_3_exclusive_arena_threads_in_turn) {
  own_isolated("an 8 MiB exclusive arena serving 100 short-lived threads", own_timeout(30), own3_body, NULL);
}

/* ---------------------------------------------------------------------------
   4. A heap other threads allocated from, deleted: its shared part goes too
--------------------------------------------------------------------------- */

typedef struct own4_worker {
  mia_heap_t* heap;
  size_t id, iters, nulls, bad;
} own4_worker;

static void* own4_work(void* arg) {
  own4_worker* w = (own4_worker*)arg;
  uint64_t rng = 0x44444444ULL + w->id;
  enum { N = 1000 };
  void* ps[N];
  size_t sizes[N];
  for (size_t it = 0; it < w->iters; it++) {
    for (size_t i = 0; i < N; i++) {
      sizes[i] = rng_range(&rng, 16, 976);
      ps[i] = mia_heap_malloc(w->heap, sizes[i]);
      if (ps[i] == NULL) { w->nulls++; continue; }
      memset(ps[i], (int)(i & 0xFF), 16);
    }
    for (size_t i = 0; i < N; i++) {
      if (ps[i] == NULL) continue;
      w->bad += !mem_is(ps[i], (int)(i & 0xFF), 16);
      mia_free(ps[i]);
    }
  }
  return NULL;
}

static void own4_body(void* arg) {
  (void)arg;
  enum { ROUNDS = 10, WORKERS = 4 };
  const size_t iters = runner.quick ? 5 : 20;
  mia_heap_t* h = mia_heap_new();
  CHECK_NOT_NULL(h);
  if (h == NULL) return;
  mia_collect(true);
  const size_t base = own_committed();
  size_t after[ROUNDS];
  size_t nulls = 0, bad = 0, started = 0;
  for (size_t round = 0; round < ROUNDS; round++) {
    own_at_round("round", round + 1, ROUNDS);
    own4_worker ws[WORKERS];
    pthread_t t[WORKERS];
    bool ok[WORKERS];
    for (size_t i = 0; i < WORKERS; i++) {
      memset(&ws[i], 0, sizeof ws[i]);
      ws[i].heap = h;
      ws[i].id = round * WORKERS + i;
      ws[i].iters = iters;
      ok[i] = pthread_create(&t[i], NULL, own4_work, &ws[i]) == 0;
    }
    for (size_t i = 0; i < WORKERS; i++) {
      if (!ok[i]) continue;
      pthread_join(t[i], NULL);
      started++;
      nulls += ws[i].nulls;
      bad += ws[i].bad;
    }
    mia_heap_delete(h);
    h = mia_heap_new();
    mia_collect(true);
    after[round] = own_committed();
    if (h == NULL) { nulls++; break; }
  }
  if (h != NULL) mia_heap_delete(h);
  char series[400];
  size_t at = 0;
  size_t worst = 0;
  for (size_t i = 0; i < ROUNDS; i++) {
    if (at + 12 < sizeof series) at += (size_t)snprintf(series + at, sizeof series - at, "%s%.1f", i ? " " : "", own_mib(after[i]));
    if (after[i] > worst) worst = after[i];
  }
  printf("     committed: %.1f MiB before; after each round (MiB): %s\n", own_mib(base), series);
  CHECK_EQ_SZ(started, (size_t)ROUNDS * WORKERS);
  CHECK_EQ_SZ(nulls, 0);
  CHECK_EQ_SZ(bad, 0);
  /* flat: no round ends more than one segment above the start, and the last
     is no higher than the first (allowing 1 MiB of jitter) */
  CHECKF(worst <= base + OWN_SEGMENT, "committed memory rose from %.1f to %.1f MiB over %d rounds with nothing live (%s)", own_mib(base),
         own_mib(worst), ROUNDS, series);
  CHECKF(after[ROUNDS - 1] <= after[0] + MiB, "committed memory grew from round 1 (%.1f MiB) to round %d (%.1f MiB)", own_mib(after[0]),
         ROUNDS, own_mib(after[ROUNDS - 1]));
}

TEST(ownership_4_shared_part_freed_with_heap) {
  own_isolated("a heap 4 threads allocated from, deleted and made again, 10 rounds", own_timeout(60), own4_body, NULL);
}

/* ---------------------------------------------------------------------------
   5. A heap lives until mia_heap_delete or mia_heap_destroy, whoever calls it
--------------------------------------------------------------------------- */

enum { OWN5_LOADER_BLOCKS = 64, OWN5_WORKERS = 4, OWN5_WORKER_BLOCKS = 400 };

typedef struct own5_ctx {
  mia_heap_t* heap;
  void* loader_blocks[OWN5_LOADER_BLOCKS];
  size_t nulls, bad;
} own5_ctx;

static size_t own5_size(size_t i) { return 24 + (i % 37) * 40; }

static void* own5_loader(void* arg) {
  own5_ctx* c = (own5_ctx*)arg;
  c->heap = mia_heap_new();  /* the level heap */
  if (c->heap == NULL) { c->nulls++; return NULL; }
  mia_heap_set_name(c->heap, "level");
  for (size_t i = 0; i < OWN5_LOADER_BLOCKS; i++) {
    c->loader_blocks[i] = mia_heap_malloc(c->heap, own5_size(i));
    if (c->loader_blocks[i] == NULL) c->nulls++;
    else pattern_fill(c->loader_blocks[i], own5_size(i), 0x5000 + i);
  }
  return NULL; /* exits; nobody else has used the heap yet */
}

typedef struct own5_worker {
  mia_heap_t* heap;
  size_t id;
  void* blocks[OWN5_WORKER_BLOCKS];
  size_t nulls, bad;
} own5_worker;

static void* own5_work(void* arg) {
  own5_worker* w = (own5_worker*)arg;
  for (size_t i = 0; i < OWN5_WORKER_BLOCKS; i++) {
    const size_t size = own5_size(i + w->id);
    w->blocks[i] = mia_heap_malloc(w->heap, size);
    if (w->blocks[i] == NULL) { w->nulls++; continue; }
    pattern_fill(w->blocks[i], size, (w->id << 20) + i);
  }
  /* free every other block here; the rest outlive the thread */
  for (size_t i = 0; i < OWN5_WORKER_BLOCKS; i += 2) {
    if (w->blocks[i] == NULL) continue;
    const size_t size = own5_size(i + w->id);
    w->bad += pattern_check(w->blocks[i], size, (w->id << 20) + i) != size;
    mia_free(w->blocks[i]);
    w->blocks[i] = NULL;
  }
  return NULL;
}

typedef struct own5_args { bool destroy; } own5_args;

static void own5_body(void* arg) {
  const own5_args* a = (const own5_args*)arg;
  own5_ctx c;
  memset(&c, 0, sizeof c);
  pthread_t t;
  CHECK_EQ_INT(pthread_create(&t, NULL, own5_loader, &c), 0);
  pthread_join(t, NULL);
  CHECK_NOT_NULL(c.heap);
  if (c.heap == NULL) return;
  /* memory comes back from the exited loader; blocks of every size are
     handed out and filled: none may hold the (live) heap's descriptor */
  size_t sweep_nulls = 0;
  const size_t overlap = own_sweep(&sweep_nulls, c.heap);
  CHECKF(overlap == 0, "a block handed out after the loader exited holds the level heap's descriptor %p: the heap was freed with its creator",
         (void*)c.heap);
  if (overlap != 0) return; /* using the heap now would only crash */
  size_t bad = 0;
  for (size_t i = 0; i < OWN5_LOADER_BLOCKS; i++)
    if (c.loader_blocks[i] != NULL) bad += pattern_check(c.loader_blocks[i], own5_size(i), 0x5000 + i) != own5_size(i);
  CHECKF(bad == 0, "%zu of the loader's blocks damaged after it exited", bad);
  own5_worker ws[OWN5_WORKERS];
  pthread_t wt[OWN5_WORKERS];
  size_t started = 0, nulls = c.nulls;
  for (size_t i = 0; i < OWN5_WORKERS; i++) {
    memset(&ws[i], 0, sizeof ws[i]);
    ws[i].heap = c.heap;
    ws[i].id = i + 1;
    if (pthread_create(&wt[i], NULL, own5_work, &ws[i]) == 0) started++;
  }
  for (size_t i = 0; i < started; i++) {
    pthread_join(wt[i], NULL);
    nulls += ws[i].nulls;
    bad += ws[i].bad;
  }
  CHECK_EQ_SZ(started, OWN5_WORKERS);
  if (a->destroy) {
    mia_heap_destroy(c.heap); /* by a thread that never owned it: every block goes */
  } else {
    mia_heap_delete(c.heap);  /* by a thread that never owned it: the blocks stay */
    for (size_t i = 0; i < OWN5_LOADER_BLOCKS; i++) {
      if (c.loader_blocks[i] == NULL) continue;
      bad += pattern_check(c.loader_blocks[i], own5_size(i), 0x5000 + i) != own5_size(i);
      mia_free(c.loader_blocks[i]);
    }
    for (size_t w = 0; w < started; w++)
      for (size_t i = 1; i < OWN5_WORKER_BLOCKS; i += 2) {
        if (ws[w].blocks[i] == NULL) continue;
        const size_t size = own5_size(i + ws[w].id);
        bad += pattern_check(ws[w].blocks[i], size, (ws[w].id << 20) + i) != size;
        mia_free(ws[w].blocks[i]);
      }
  }
  const size_t dup = own_sweep(&sweep_nulls, NULL);
  CHECK_EQ_SZ(nulls, 0);
  CHECK_EQ_SZ(bad, 0);
  CHECK_EQ_SZ(dup, 0);
  CHECK_EQ_SZ(sweep_nulls, 0);
}

TEST(ownership_5_heap_outlives_creator_delete) {
  own5_args a = { false };
  own_isolated("a loader's heap used by 4 workers after the loader exited, then deleted by main", own_timeout(30), own5_body, &a);
}
TEST(ownership_5_heap_outlives_creator_destroy) {
  own5_args a = { true };
  own_isolated("a loader's heap used by 4 workers after the loader exited, then destroyed by main", own_timeout(30), own5_body, &a);
}

/* ---------------------------------------------------------------------------
   6. fork while another thread holds a lock; the child abandons the
      segments of the parent's other threads
--------------------------------------------------------------------------- */

typedef struct own6_ctx {
  _Atomic bool stop;
  _Atomic size_t ops;
  mia_heap_t* heap;        /* 6b: the heap whose shared part the hammer locks */
  _Atomic bool heap_ready, owner_release;
  size_t nulls;
} own6_ctx;

static own6_ctx own6;

/* 6a: huge blocks from the shared arena: the arena lock taken twice a loop. */
static void* own6_arena_hammer(void* arg) {
  (void)arg;
  while (!atomic_load_explicit(&own6.stop, memory_order_relaxed)) {
    void* p = mia_malloc(5 * MiB);
    if (p == NULL) { own6.nulls++; continue; }
    ((volatile uint8_t*)p)[0] = 1;
    mia_free(p);
    atomic_fetch_add_explicit(&own6.ops, 1, memory_order_relaxed);
  }
  return NULL;
}
static int own6_arena_child(void* arg) {
  (void)arg;
  void* p = mia_malloc(5 * MiB); /* the arena lock */
  if (p == NULL) return 2;
  memset(p, 1, 4096);
  mia_free(p);
  void* q = mia_malloc(100);
  if (q == NULL) return 3;
  mia_free(q);
  return 0;
}

/* 6b: the owner makes the heap and waits; the hammer allocates from it
   (under its shared part's lock) and frees. */
static void* own6_heap_owner(void* arg) {
  (void)arg;
  own6.heap = mia_heap_new();
  atomic_store(&own6.heap_ready, true);
  while (!atomic_load(&own6.owner_release)) own_sleep_ms(1);
  return NULL; /* leaves the heap to whoever deletes it */
}
static void* own6_shared_hammer(void* arg) {
  (void)arg;
  while (!atomic_load_explicit(&own6.stop, memory_order_relaxed)) {
    void* p = mia_heap_malloc(own6.heap, 64);
    if (p == NULL) { own6.nulls++; continue; }
    mia_free(p);
    atomic_fetch_add_explicit(&own6.ops, 1, memory_order_relaxed);
  }
  return NULL;
}
static int own6_shared_child(void* arg) {
  (void)arg;
  void* p = mia_heap_malloc(own6.heap, 64); /* a non-owner: the shared part's lock */
  if (p == NULL) return 2;
  memset(p, 1, 64);
  mia_free(p);
  return 0;
}

/* 6c: the forking thread fills pages (they go to the full queue); the hammer
   frees its blocks from another thread, each a CAS onto a full page's
   thread_free (the child collects them: mia__heap_unfull_some). */
#define OWN6_BLOCKS 8192
static _Atomic(uintptr_t) own6_blocks[OWN6_BLOCKS];
static void* own6_remote_hammer(void* arg) {
  (void)arg;
  while (!atomic_load_explicit(&own6.stop, memory_order_relaxed)) {
    size_t freed = 0;
    for (size_t i = 0; i < OWN6_BLOCKS; i++) {
      const uintptr_t p = atomic_exchange_explicit(&own6_blocks[i], (uintptr_t)0, memory_order_acquire);
      if (p != 0) { mia_free((void*)p); freed++; }
    }
    if (freed == 0) sched_yield();
    atomic_fetch_add_explicit(&own6.ops, freed, memory_order_relaxed);
  }
  return NULL;
}
static int own6_remote_child(void* arg) {
  (void)arg;
  /* the blocks the hammer had not freed yet are this thread's now: freed
     here, they take their pages (the one a free was crossing at the fork
     among them) out of the full queue */
  for (size_t i = 0; i < OWN6_BLOCKS; i++) {
    const uintptr_t p = atomic_exchange_explicit(&own6_blocks[i], (uintptr_t)0, memory_order_relaxed);
    if (p != 0) mia_free((void*)p);
  }
  /* the first allocations of the forking thread's heap in that size class:
     they find the pages freed into and take them back from the full queue */
  for (size_t i = 0; i < 3 * OWN6_BLOCKS; i++) {
    void* p = mia_malloc(16);
    if (p == NULL) return 2;
    if (i % 3 == 0) mia_free(p);
  }
  mia_collect(true);
  return 0;
}
static void own6_refill(void) {
  for (size_t i = 0; i < OWN6_BLOCKS; i++) {
    if (atomic_load_explicit(&own6_blocks[i], memory_order_relaxed) != 0) continue;
    void* p = mia_malloc(16);
    if (p == NULL) { own6.nulls++; continue; }
    atomic_store_explicit(&own6_blocks[i], (uintptr_t)p, memory_order_release);
  }
}

typedef enum { OWN6_ARENA_LOCK, OWN6_SHARED_LOCK, OWN6_REMOTE_FREE } own6_kind;
/* Forks per case: with the test hooks every fork lands in the window. */
static size_t own6_forks(void) { return OWN_HOOKS ? 20 : runner.quick ? 40 : 200; }
typedef struct own6_args { own6_kind kind; size_t forks; } own6_args;

static void own6_body(void* arg) {
  const own6_args* a = (const own6_args*)arg;
  memset(&own6, 0, sizeof own6);
  for (size_t i = 0; i < OWN6_BLOCKS; i++) atomic_store(&own6_blocks[i], (uintptr_t)0);
  pthread_t owner, hammer;
  bool have_owner = false;
  void* (*hammer_fn)(void*) = NULL;
  int (*child_fn)(void*) = NULL;
  const char* what = "";
  if (a->kind == OWN6_ARENA_LOCK) {
    CHECKF(own_arena(256 * MiB, false, NULL) != 0, "mia_manage_os_memory_ex(256 MiB, shared) failed");
    hammer_fn = own6_arena_hammer;
    child_fn = own6_arena_child;
    what = "the arena lock";
  } else if (a->kind == OWN6_SHARED_LOCK) {
    have_owner = pthread_create(&owner, NULL, own6_heap_owner, NULL) == 0;
    CHECK(have_owner);
    while (have_owner && !atomic_load(&own6.heap_ready)) own_sleep_ms(1);
    CHECK_NOT_NULL(own6.heap);
    hammer_fn = own6_shared_hammer;
    child_fn = own6_shared_child;
    what = "a shared part's lock";
  } else {
    own6_refill();
    hammer_fn = own6_remote_hammer;
    child_fn = own6_remote_child;
    what = "frees into full pages";
  }
  if (own6.heap == NULL && a->kind == OWN6_SHARED_LOCK) return;
  const bool hammering = pthread_create(&hammer, NULL, hammer_fn, NULL) == 0;
  CHECK(hammering);
  while (hammering && atomic_load(&own6.ops) < 100) sched_yield();
  size_t ok = 0, failed = 0, hung = 0, errors = 0, done = 0;
  int first_status = 0;
  const double child_limit = OWN_TSAN ? 3.0 : runner.quick ? 2.0 : 1.0; /* a child's work takes milliseconds */
#if OWN_HOOKS
  const mia_test_site_t site = a->kind == OWN6_ARENA_LOCK ? mia_test_site_arena_locked
                             : a->kind == OWN6_SHARED_LOCK ? mia_test_site_shared_locked : mia_test_site_thread_free_pushed;
#endif
  size_t not_reached = 0;
  for (size_t i = 0; i < a->forks && hung < 3; i++) {
    own_at_round("fork", i + 1, a->forks);
    if (a->kind == OWN6_REMOTE_FREE) own6_refill();
#if OWN_HOOKS
    /* fork exactly while the other thread is held at the site */
    own_hold_arm(site, NULL, NULL);
    if (!own_hold_wait(2.0)) { not_reached++; continue; }
#endif
    int status = 0;
    const int r = own_fork_run(child_fn, NULL, child_limit, &status);
#if OWN_HOOKS
    own_hold_release();
#endif
    done++;
    if (r == OWN_FORK_OK) ok++;
    else if (r == OWN_FORK_HUNG) hung++;
    else if (r == OWN_FORK_ERROR) errors++;
    else if (failed++ == 0) first_status = status;
  }
  atomic_store(&own6.stop, true);
  if (hammering) pthread_join(hammer, NULL);
  if (have_owner) {
    atomic_store(&own6.owner_release, true);
    pthread_join(owner, NULL);
    mia_heap_delete(own6.heap);
  }
  for (size_t i = 0; i < OWN6_BLOCKS; i++) {
    const uintptr_t p = atomic_exchange(&own6_blocks[i], (uintptr_t)0);
    if (p != 0) mia_free((void*)p);
  }
  char desc[128];
  own_describe(first_status, desc, sizeof desc);
  printf("     fork while another thread uses %s (%s): %zu forks, %zu ok, %zu hung (%s), %zu failed; %zu hammer operations\n", what,
         OWN_HOOKS ? "held there by the test hooks" : "timing only", done, ok, hung, hung >= 3 ? "stopped at 3" : "all forks made", failed,
         atomic_load(&own6.ops));
  CHECKF(hung == 0, "%zu of %zu children forked while another thread used %s hung in their first allocation (killed after %.0f s)", hung,
         done, what, child_limit);
  CHECKF(failed == 0, "%zu children failed, the first %s", failed, desc);
  CHECK_EQ_SZ(errors, 0);
  /* a free into a full page needs a page that the owner has seen full: not every try gets one in time */
  CHECKF(not_reached <= a->forks / 4, "the other thread did not reach the site in %zu of %zu tries", not_reached, a->forks);
  CHECK_EQ_SZ(done + not_reached, a->forks);
  CHECK_EQ_SZ(own6.nulls, 0);
}

TEST(ownership_6_fork_arena_lock_held) {
  own6_args a = { OWN6_ARENA_LOCK, own6_forks() };
  own_isolated("fork while another thread takes the arena lock", own_timeout(90), own6_body, &a);
}
TEST(ownership_6_fork_shared_lock_held) {
  own6_args a = { OWN6_SHARED_LOCK, own6_forks() };
  own_isolated("fork while another thread holds a shared part's lock", own_timeout(90), own6_body, &a);
}
TEST(ownership_6_fork_in_remote_free) {
  own6_args a = { OWN6_REMOTE_FREE, own6_forks() };
  own_isolated("fork while another thread frees into full pages", own_timeout(90), own6_body, &a);
}

/* 6d: a thread's segments, in the child, come back once their blocks are freed. */
enum { OWN6D_BLOCKS = 24 * 1024 };
typedef struct own6d_shared {
  size_t base, peak, after, abandoned_after, nulls;
  int step;
} own6d_shared;
static void* own6d_blocks[OWN6D_BLOCKS];
static _Atomic bool own6d_release, own6d_ready;

static void* own6d_thread(void* arg) {
  size_t* nulls = (size_t*)arg;
  for (size_t i = 0; i < OWN6D_BLOCKS; i++) {
    own6d_blocks[i] = mia_malloc(1024); /* 24 MiB in small pages: 6+ segments */
    if (own6d_blocks[i] == NULL) (*nulls)++;
    else memset(own6d_blocks[i], 0x6D, 64);
  }
  atomic_store(&own6d_ready, true);
  while (!atomic_load(&own6d_release)) own_sleep_ms(1);
  for (size_t i = 0; i < OWN6D_BLOCKS; i++) mia_free(own6d_blocks[i]);
  return NULL;
}
static own6d_shared* own6d_out; /* MAP_SHARED: the grandchild writes, the child reads */
static int own6d_child(void* arg) {
  (void)arg;
  own6d_shared* o = own6d_out;
  o->peak = own_committed();
  size_t bad = 0;
  for (size_t i = 0; i < OWN6D_BLOCKS; i++) {
    if (own6d_blocks[i] == NULL) continue;
    bad += !mem_is(own6d_blocks[i], 0x6D, 64);
    mia_free(own6d_blocks[i]); /* into the segments of a thread the child does not have */
  }
  mia_collect(true);
  o->after = own_committed();
  mia_stats_t st;
  mia_stats_get(&st);
  o->abandoned_after = st.abandoned;
  o->step = 1;
  return bad == 0 ? 0 : 4;
}

static void own6d_body(void* arg) {
  (void)arg;
  mia_collect(true);
  own6d_out = (own6d_shared*)mmap(NULL, sizeof(own6d_shared), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  CHECK(own6d_out != MAP_FAILED);
  if (own6d_out == MAP_FAILED) return;
  memset(own6d_out, 0, sizeof *own6d_out);
  own6d_out->base = own_committed();
  size_t nulls = 0;
  atomic_store(&own6d_ready, false);
  atomic_store(&own6d_release, false);
  pthread_t t;
  CHECK_EQ_INT(pthread_create(&t, NULL, own6d_thread, &nulls), 0);
  while (!atomic_load(&own6d_ready)) own_sleep_ms(1);
  int status = 0;
  const int r = own_fork_run(own6d_child, NULL, own_timeout(20), &status);
  atomic_store(&own6d_release, true);
  pthread_join(t, NULL);
  const own6d_shared* o = own6d_out;
  char desc[128];
  own_describe(status, desc, sizeof desc);
  printf("     child: committed %.1f MiB before the thread allocated, %.1f MiB at the fork, %.1f MiB after freeing its 24 MiB and mia_collect(true); "
         "%zu segments abandoned after\n", own_mib(o->base), own_mib(o->peak), own_mib(o->after), o->abandoned_after);
  CHECKF(r == OWN_FORK_OK, "the child was %s", r == OWN_FORK_HUNG ? "hung" : desc);
  CHECK_EQ_SZ(nulls, 0);
  CHECKF(o->step == 1, "the child did not finish");
  CHECKF(o->peak > o->base + 16 * MiB, "the thread's blocks did not raise committed memory (%.1f -> %.1f MiB): the case measures nothing",
         own_mib(o->base), own_mib(o->peak));
  CHECKF(o->after <= o->base + 2 * OWN_SEGMENT,
         "in the child, the other thread's segments kept %.1f MiB committed after all their blocks were freed and mia_collect(true) "
         "(%.1f MiB before it allocated): frees into them are lost", own_mib(o->after), own_mib(o->base));
}

TEST(ownership_6_fork_abandons_other_threads) {
  own_isolated("in a forked child, the parent's other threads' segments come back", own_timeout(40), own6d_body, NULL);
}

/* ---------------------------------------------------------------------------
   7. Pointers mialloc never returned
--------------------------------------------------------------------------- */

typedef enum { OWN7_FREE, OWN7_REALLOC, OWN7_USABLE_SIZE, OWN7_CONTAINS, OWN7_FUNCS } own7_func;
static const char* const own7_func_names[OWN7_FUNCS] = { "mia_free", "mia_realloc", "mia_usable_size", "mia_heap_contains_block" };

typedef enum { OWN7_UNMAPPED_ISSUE, OWN7_UNMAPPED, OWN7_STATIC, OWN7_STACK, OWN7_LIBC, OWN7_MAPPED_JUNK, OWN7_MAPPED_COPY, OWN7_KINDS } own7_kind;
static const char* const own7_kind_names[OWN7_KINDS] = {
  "the issue's address 0x3990080", "an unmapped address", "a static array", "the stack", "a libc malloc block",
  "mapped memory with junk where a segment header would be", "mapped memory holding a copy of a real segment's metadata"
};

static unsigned char own7_static[4096];

/* True if the page at `p` is mapped (msync fails with ENOMEM otherwise). */
static bool own_mapped(const void* p) {
  const long ps = sysconf(_SC_PAGESIZE);
  const uintptr_t page = (uintptr_t)p & ~(uintptr_t)((ps > 0 ? (size_t)ps : 4096) - 1);
  return msync((void*)page, 1, MS_ASYNC) == 0 || errno != ENOMEM;
}

/* An address whose whole segment-sized unit is unmapped. */
static void* own_unmapped(void) {
  uint8_t* m = (uint8_t*)own_map_aligned(2 * OWN_SEGMENT, OWN_SEGMENT);
  if (m == NULL) return NULL;
  munmap(m, 2 * OWN_SEGMENT);
  return m + OWN_SEGMENT / 3 * 2 + 0x80;
}

/* Copy what is readable of [src, src + n) to dst, page by page, through a
   pipe: write() fails with EFAULT on a page it cannot read (a guard page)
   instead of raising a signal. Returns the bytes copied. */
static size_t own_copy_readable(void* dst, const void* src, size_t n) {
  int fds[2];
  if (pipe(fds) != 0) return 0;
  size_t done = 0;
  const size_t page = 4096;
  while (done + page <= n) {
    if (write(fds[1], (const uint8_t*)src + done, page) != (ssize_t)page) break;
    if (read(fds[0], (uint8_t*)dst + done, page) != (ssize_t)page) break;
    done += page;
  }
  close(fds[0]);
  close(fds[1]);
  return done;
}

typedef struct own7_args { own7_kind kind; own7_func func; } own7_args;

static void own7_body(void* arg) {
  const own7_args* a = (const own7_args*)arg;
  unsigned char stack_buf[256];
  void* libc_block = NULL;
  uint8_t* p = NULL;
  size_t len = 64;
  void* real = mia_malloc(32); /* a real block, for the copied metadata (and the allocator is up) */
  CHECK_NOT_NULL(real);
  /* earlier tests of the runner may have used up the printed-error budget */
  mia_option_set(mia_option_max_errors, 1000000);
  switch (a->kind) {
    case OWN7_UNMAPPED_ISSUE:
      p = (uint8_t*)(uintptr_t)0x3990080u;
      if (own_mapped((const void*)own_segment_of(p)) || own_mapped(p)) p = (uint8_t*)own_unmapped(); /* in use here: any unmapped one */
      len = 0;
      break;
    case OWN7_UNMAPPED: p = (uint8_t*)own_unmapped(); len = 0; break;
    case OWN7_STATIC: p = own7_static + 1024; break;
    case OWN7_STACK: p = stack_buf + 64; break;
    case OWN7_LIBC: libc_block = malloc(256); p = (uint8_t*)libc_block; break;
    case OWN7_MAPPED_JUNK: {
      uint8_t* m = (uint8_t*)own_map_aligned(OWN_SEGMENT, OWN_SEGMENT);
      if (m != NULL) {
        for (size_t i = 0; i < 64 * KiB; i += 8) { uint64_t v = 0x0101010101010101ULL * (uint64_t)(1 + (i / 8) % 200); memcpy(m + i, &v, 8); }
        p = m + OWN_SEGMENT / 2 + 0x40;
      }
      break;
    }
    case OWN7_MAPPED_COPY: {
      uint8_t* m = (uint8_t*)own_map_aligned(OWN_SEGMENT, OWN_SEGMENT);
      if (m != NULL && real != NULL) {
        const size_t copied = own_copy_readable(m, (const void*)own_segment_of(real), 64 * KiB);
        CHECKF(copied >= 4096, "could not read the real segment's metadata");
        p = m + ((uintptr_t)real - own_segment_of(real));
        len = 32;
      }
      break;
    }
    case OWN7_KINDS: break;
  }
  CHECKF(p != NULL, "no pointer for %s", own7_kind_names[a->kind]);
  if (p == NULL) return;
  if (len > 0) pattern_fill(p, len, 0x77);
  char at[200];
  snprintf(at, sizeof at, "%s(%s)", own7_func_names[a->func], own7_kind_names[a->kind]);
  own_at(at);
  own_report_install();
  void* result = (void*)1;
  size_t usable = 1;
  bool contained = true;
  switch (a->func) {
    case OWN7_FREE: mia_free(p); break;
    case OWN7_REALLOC: result = mia_realloc(p, 100); break;
    case OWN7_USABLE_SIZE: usable = mia_usable_size(p); break;
    case OWN7_CONTAINS: contained = mia_heap_contains_block(mia_heap_get_default(), p); break;
    case OWN7_FUNCS: break;
  }
  const int calls = atomic_load(&own_rep.calls), code = atomic_load(&own_rep.last);
  char pstr[32];
  snprintf(pstr, sizeof pstr, "%p", (void*)p);
  const char* text = own_report_text();
  mia_register_error(NULL, NULL);
  mia_register_output(NULL, NULL);
  if (a->func == OWN7_CONTAINS) {
    CHECKF(!contained, "mia_heap_contains_block said yes for %s", own7_kind_names[a->kind]);
    CHECKF(calls <= 1, "%d errors reported", calls);
  } else {
    CHECKF(calls == 1 && code == EINVAL, "%s(%s) reported %d errors (last code %d), expected one EINVAL", own7_func_names[a->func],
           own7_kind_names[a->kind], calls, code);
    CHECKF(strstr(text, "mialloc: error: ") != NULL && strstr(text, pstr) != NULL && strstr(text, "not allocated by mialloc") != NULL,
           "the message does not say \"... %s: not allocated by mialloc\" (got \"%.200s\")", pstr, text);
    if (a->func == OWN7_REALLOC) CHECKF(result == NULL, "mia_realloc returned %p", result);
    if (a->func == OWN7_USABLE_SIZE) CHECKF(usable == 0, "mia_usable_size returned %zu", usable);
  }
  if (len > 0) CHECKF(pattern_check(p, len, 0x77) == len, "the memory at %s was written", own7_kind_names[a->kind]);
  /* the allocator still works */
  void* q = mia_malloc(48);
  CHECK_NOT_NULL(q);
  mia_free(q);
  mia_free(real);
  free(libc_block);
}

TEST(ownership_7_foreign_pointers) {
  for (int f = 0; f < OWN7_FUNCS; f++) {
    for (int k = 0; k < OWN7_KINDS; k++) {
      own7_args a = { (own7_kind)k, (own7_func)f };
      char what[200];
      snprintf(what, sizeof what, "%s(%s)", own7_func_names[f], own7_kind_names[k]);
      own_isolated(what, own_timeout(10), own7_body, &a);
    }
  }
}

#endif /* OWN_POSIX */

/* The tests, in order (Windows: each skips itself, so tests/ports/check_n.sh
   can add back their native CHECK counts). */
#define OWN_TESTS(X)                                \
  X(ownership_1_arena_heap_delete_then_free)        \
  X(ownership_1_exclusive_arena_two_heaps)          \
  X(ownership_1_arena_heap_full_pages)              \
  X(ownership_2_destroy_races_owner_exit)           \
  X(ownership_3_exclusive_arena_threads_in_turn)    \
  X(ownership_4_shared_part_freed_with_heap)        \
  X(ownership_5_heap_outlives_creator_delete)       \
  X(ownership_5_heap_outlives_creator_destroy)      \
  X(ownership_6_fork_arena_lock_held)               \
  X(ownership_6_fork_shared_lock_held)              \
  X(ownership_6_fork_in_remote_free)               \
  X(ownership_6_fork_abandons_other_threads)        \
  X(ownership_7_foreign_pointers)

#if !OWN_POSIX
#define OWN_SKIPPED(name) TEST(name) { SKIP("no fork(), mmap or process groups on Windows"); }
OWN_TESTS(OWN_SKIPPED)
#undef OWN_SKIPPED
#endif

/* The seven cases of the ownership issue, in every configuration. */
void tests_ownership(void) {
  RUN(ownership_1_arena_heap_delete_then_free);
  RUN(ownership_1_exclusive_arena_two_heaps);
  RUN(ownership_1_arena_heap_full_pages);
  RUN(ownership_2_destroy_races_owner_exit);
  RUN(ownership_3_exclusive_arena_threads_in_turn);
  RUN(ownership_4_shared_part_freed_with_heap);
  RUN(ownership_5_heap_outlives_creator_delete);
  RUN(ownership_5_heap_outlives_creator_destroy);
  RUN(ownership_6_fork_arena_lock_held);
  RUN(ownership_6_fork_shared_lock_held);
  RUN(ownership_6_fork_in_remote_free);
  RUN(ownership_6_fork_abandons_other_threads);
  RUN(ownership_7_foreign_pointers);
}
