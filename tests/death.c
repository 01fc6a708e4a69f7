/* death.c - bad input must be reported, never followed: the misuse checks of
   mialloc.h (MIALLOC_DEBUG >= 1 or MIALLOC_SECURE >= 4).

   Its own program (its own MIALLOC_IMPLEMENTATION), built twice by the
   Makefile:
      cc -std=gnu11 -O2 -pthread -DMIALLOC_DEBUG=1  tests/death.c -o death-debug
      cc -std=gnu11 -O2 -pthread -DMIALLOC_SECURE=4 tests/death.c -o death-secure

   Every case (a double free, an interior or foreign pointer, an overflow into
   the padding, a write into a freed block's link, a wrong size or alignment
   given to a sized free, ...) runs twice, each time in a child of its own
   with stderr on a pipe:
     abort    no error function: the child must be killed by SIGABRT and its
              stderr must hold "mialloc: error: <expected text>";
     handled  mia_register_error and mia_register_output installed: the child
              must not abort, the error function must be called exactly once
              with the documented code (EAGAIN double free, EINVAL bad pointer
              or size or alignment, EFAULT overflow or corrupted list), the
              message must reach the output function, the bad operation must
              have been skipped (the block is untouched and stays usable, or
              is not handed out twice), and the allocator must keep working.
   The table at the end lists each case and the message it printed. The last
   line is `N passed, N failed` (one count per case and mode). */
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
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#if MIALLOC_SECURE >= 4
#define DEATH_CONFIG "MIALLOC_SECURE=4"
#elif MIALLOC_DEBUG >= 1
#define DEATH_CONFIG "MIALLOC_DEBUG=1"
#else
#error "death.c needs the misuse checks: build it with -DMIALLOC_DEBUG=1 or -DMIALLOC_SECURE=4"
#endif

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* ---------------------------------------------------------------------------
   The child's view: the error function, the output function, helpers
--------------------------------------------------------------------------- */

static _Atomic int err_calls;     /* times the error function ran */
static _Atomic int err_last;      /* its last code */
static char out_buf[4096];        /* what the output function received */
static _Atomic size_t out_len;

static void on_error(int err, void* arg) {
  (void)arg;
  atomic_store(&err_last, err);
  atomic_fetch_add(&err_calls, 1);
}

/* Called on any thread (the cross-thread case): append under an atomic cursor. */
static void on_output(const char* msg, void* arg) {
  (void)arg;
  size_t n = strlen(msg);
  size_t at = atomic_fetch_add(&out_len, n);
  if (at >= sizeof(out_buf) - 1) return;
  if (n > sizeof(out_buf) - 1 - at) n = sizeof(out_buf) - 1 - at;
  memcpy(out_buf + at, msg, n);
}

/* A failed check inside a case (handled mode): say which, count it. */
static int case_failures;
#define EXPECT(cond)                                                                      \
  do {                                                                                    \
    if (!(cond)) {                                                                        \
      fprintf(stderr, "detail: %s:%d: expected %s\n", __FILE__, __LINE__, #cond);         \
      case_failures++;                                                                    \
    }                                                                                     \
  } while (0)

/* A pointer value the compiler cannot reason about (no folding, no warnings
   about freeing non-heap objects: that is the point of these cases). */
static void* hide(void* p) {
  volatile uintptr_t u = (uintptr_t)p;
  return (void*)u;
}

static void fill(void* p, size_t n, unsigned char seed) {
  unsigned char* b = (unsigned char*)p;
  for (size_t i = 0; i < n; i++) b[i] = (unsigned char)(seed + i * 7u);
}
static bool filled(const void* p, size_t n, unsigned char seed) {
  const unsigned char* b = (const unsigned char*)p;
  for (size_t i = 0; i < n; i++)
    if (b[i] != (unsigned char)(seed + i * 7u)) return false;
  return true;
}

static int cmp_ptr(const void* a, const void* b) {
  uintptr_t x = (uintptr_t)*(void* const*)a, y = (uintptr_t)*(void* const*)b;
  return (x > y) - (x < y);
}

/* `n` live blocks of `size` bytes are pairwise distinct and none is `avoid`
   (a block whose free was skipped must not be handed out again). */
static void expect_distinct_blocks(size_t size, size_t n, const void* avoid) {
  void** ps = (void**)calloc(n, sizeof(void*));
  if (ps == NULL) { case_failures++; return; }
  size_t got = 0;
  for (; got < n; got++) {
    ps[got] = mia_malloc(size);
    if (ps[got] == NULL) break;
  }
  EXPECT(got == n);
  size_t hits = 0, dups = 0;
  for (size_t i = 0; i < got; i++) if (avoid != NULL && ps[i] == avoid) hits++;
  qsort(ps, got, sizeof(void*), cmp_ptr);
  for (size_t i = 1; i < got; i++) if (ps[i] == ps[i - 1]) dups++;
  EXPECT(hits == 0);
  EXPECT(dups == 0);
  for (size_t i = 0; i < got; i++) {
    if (i > 0 && ps[i] == ps[i - 1]) continue; /* never free a duplicate twice */
    mia_free(ps[i]);
  }
  free(ps);
}

/* The allocator still works: mixed sizes on this thread and frees from
   another, every block's contents verified. */
#define CHURN_N 2000
static void* churn_blocks[CHURN_N];
static size_t churn_sizes[CHURN_N];
static void* churn_free_half(void* arg) {
  (void)arg;
  for (size_t i = 0; i < CHURN_N; i += 2) { mia_free(churn_blocks[i]); churn_blocks[i] = NULL; }
  return NULL;
}
static void expect_still_working(void) {
  uint64_t s = 0x9E3779B97F4A7C15ull;
  size_t bad = 0, nulls = 0;
  for (size_t i = 0; i < CHURN_N; i++) {
    s ^= s << 13; s ^= s >> 7; s ^= s << 17;
    size_t size = (i % 97 == 0) ? (size_t)(s % (3u << 20)) + 1 : (size_t)(s % 5000) + 1;
    churn_sizes[i] = size;
    churn_blocks[i] = mia_malloc(size);
    if (churn_blocks[i] == NULL) { nulls++; continue; }
    fill(churn_blocks[i], size, (unsigned char)i);
  }
  pthread_t t;
  bool threaded = pthread_create(&t, NULL, churn_free_half, NULL) == 0;
  if (threaded) pthread_join(t, NULL);
  for (size_t i = 1; i < CHURN_N; i += 2) {
    if (churn_blocks[i] == NULL) continue;
    if (!filled(churn_blocks[i], churn_sizes[i], (unsigned char)i)) bad++;
    void* q = mia_realloc(churn_blocks[i], churn_sizes[i] * 2);
    if (q == NULL) { nulls++; continue; }
    if (!filled(q, churn_sizes[i], (unsigned char)i)) bad++;
    mia_free(q);
  }
  if (!threaded) for (size_t i = 0; i < CHURN_N; i += 2) mia_free(churn_blocks[i]);
  mia_collect(true);
  EXPECT(threaded);
  EXPECT(nulls == 0);
  EXPECT(bad == 0);
}

/* ---------------------------------------------------------------------------
   The cases. Each does its misuse; in abort mode it never returns. In
   handled mode it then checks that the misuse was skipped.
--------------------------------------------------------------------------- */

static void case_double_free_immediate(void) {
  void* keep = mia_malloc(40); /* a neighbour keeps the page in use */
  void* p = mia_malloc(40);
  mia_free(p);
  mia_free(hide(p));
  expect_distinct_blocks(40, 1000, NULL); /* pushed once, handed out once */
  mia_free(keep);
}

static void case_double_free_delayed(void) {
  void* keep = mia_malloc(40);
  void* p = mia_malloc(40);
  void* q = mia_malloc(40);
  mia_free(p);
  mia_free(q);
  mia_free(hide(p));
  expect_distinct_blocks(40, 1000, NULL);
  mia_free(keep);
}

static void* double_free_thread(void* p) {
  mia_free(p);
  mia_free(hide(p));
  return NULL;
}
static void case_double_free_cross_thread(void) {
  void* keep = mia_malloc(40);
  void* p = mia_malloc(40);
  pthread_t t;
  if (pthread_create(&t, NULL, double_free_thread, p) != 0) { case_failures++; fprintf(stderr, "detail: pthread_create failed\n"); return; }
  pthread_join(t, NULL);
  expect_distinct_blocks(40, 1000, NULL);
  mia_free(keep);
}

/* A page-emptying double free: the block was the only one of its page.
   The page stays (its bin's only page is kept), so the second free finds
   the block on its free list, as for a small block (EAGAIN). */
static void case_double_free_large(void) {
  void* p = mia_malloc(200000);
  mia_free(p);
  mia_free(hide(p));
  expect_distinct_blocks(200000, 8, NULL);
}
/* The same once the page went back to its segment (a heap keeps one emptied
   large page: q's, kept after p's, sends p's back): the second free finds
   no page there (reported as a pointer outside any block in use, EINVAL,
   rather than a tagged block). */
static void case_double_free_large_page_gone(void) {
  void* q = mia_malloc(300000);
  void* p = mia_malloc(200000);
  mia_free(p);
  mia_free(q);
  mia_free(hide(p));
  expect_distinct_blocks(200000, 8, NULL);
}

/* Freed, and its segment already given back to the OS (a huge block): the
   segment map no longer knows the address. */
static void case_double_free_huge(void) {
  void* p = mia_malloc(16u << 20);
  mia_free(p);
  mia_collect(true);
  mia_free(hide(p));
}

static void case_interior_pointer(void) {
  unsigned char* p = (unsigned char*)mia_malloc(64);
  fill(p, 64, 1);
  mia_free(hide(p + 8));
  EXPECT(filled(p, 64, 1));
  EXPECT(mia_usable_size(p) >= 64);
  expect_distinct_blocks(64, 200, p); /* p is still live: never handed out */
  EXPECT(filled(p, 64, 1));
  mia_free(p);
}

static void case_pointer_or_1(void) {
  unsigned char* p = (unsigned char*)mia_malloc(64);
  fill(p, 64, 2);
  mia_free(hide((void*)((uintptr_t)p | 1)));
  EXPECT(filled(p, 64, 2));
  expect_distinct_blocks(64, 200, p);
  mia_free(p);
}

static void case_stack_pointer(void) {
  unsigned char buf[64];
  fill(buf, sizeof buf, 3);
  mia_free(hide(buf));
  EXPECT(filled(buf, sizeof buf, 3));
}

static void case_glibc_pointer(void) {
  unsigned char* p = (unsigned char*)malloc(64);
  if (p == NULL) { case_failures++; return; }
  fill(p, 64, 4);
  mia_free(hide(p));
  EXPECT(filled(p, 64, 4));
  free(p); /* still glibc's: its own free works */
}

static unsigned char static_array[256];
static void case_static_pointer(void) {
  fill(static_array, sizeof static_array, 5);
  mia_free(hide(static_array + 64));
  EXPECT(filled(static_array, sizeof static_array, 5));
}

/* Overflows: with the free skipped the block is not touched (no link, no
   freed tag written into it) and not handed out again. */
static void overflow_case(size_t size, size_t len, unsigned char byte) {
  unsigned char* p = (unsigned char*)mia_malloc(size);
  fill(p, size, 6);
  memset(hide(p + size), byte, len);
  mia_free(p);
  EXPECT(filled(p, size, 6));
  expect_distinct_blocks(size, 200, p);
}
static void case_overflow_1(void) { overflow_case(24, 1, 'X'); }
static void case_overflow_8(void) { overflow_case(24, 8, 'A'); }
/* 48 + 16 bytes of padding fill a 64-byte block: the canary follows at once. */
static void case_overflow_canary(void) { overflow_case(48, 1, 0x55); }

/* Use after free: write into a freed block's link word, then allocate that
   size until the corrupted link is met (it is reported, not followed). */
static void case_use_after_free_link(void) {
  unsigned char* p = (unsigned char*)mia_malloc(64);
  mia_free(p);
  const uint64_t junk = 0x4141414141414141ull;
  memcpy(hide(p), &junk, sizeof junk);
  void** got = (void**)calloc(100000, sizeof(void*));
  if (got == NULL) { case_failures++; return; }
  size_t n = 0;
  while (n < 100000 && atomic_load(&err_calls) == 0) {
    got[n] = mia_malloc(64);
    if (got[n] == NULL) break;
    n++;
  }
  EXPECT(atomic_load(&err_calls) == 1); /* detected, within 100000 allocations */
  size_t outside = 0;
  for (size_t i = 0; i < n; i++) if ((uintptr_t)got[i] == (uintptr_t)junk) outside++;
  EXPECT(outside == 0); /* the junk link was never followed */
  for (size_t i = 0; i < n; i++) mia_free(got[i]);
  free(got);
  expect_distinct_blocks(64, 5000, NULL);
}

static void case_free_size_wrong(void) {
  unsigned char* p = (unsigned char*)mia_malloc(100);
  fill(p, 100, 7);
  mia_free_size(p, 50);
  EXPECT(filled(p, 100, 7));
  expect_distinct_blocks(100, 200, p);
  const int before = atomic_load(&err_calls);
  mia_free_size(p, 100); /* the right size is accepted */
  EXPECT(atomic_load(&err_calls) == before);
}

static void case_free_aligned_wrong(void) {
  unsigned char* p = (unsigned char*)mia_malloc_aligned(100, 64);
  fill(p, 100, 8);
  const uintptr_t low = (uintptr_t)p & (~(uintptr_t)p + 1); /* largest power of two dividing p */
  mia_free_size_aligned(p, 100, (size_t)low * 2);
  EXPECT(filled(p, 100, 8));
  expect_distinct_blocks(100, 200, p);
  const int before = atomic_load(&err_calls);
  mia_free_size_aligned(p, 100, 64);
  EXPECT(atomic_load(&err_calls) == before);
}

static void case_aligned_double_free(void) {
  void* keep = mia_malloc_aligned(100, 256);
  void* p = mia_malloc_aligned(100, 256);
  mia_free(p);
  mia_free(hide(p));
  void* q[64];
  size_t dups = 0;
  for (size_t i = 0; i < ARRAY_LEN(q); i++) {
    q[i] = mia_malloc_aligned(100, 256);
    for (size_t j = 0; j < i; j++) if (q[j] == q[i]) dups++;
  }
  EXPECT(dups == 0);
  for (size_t i = 0; i < ARRAY_LEN(q); i++) mia_free(q[i]);
  mia_free(keep);
}

static void case_aligned_interior(void) {
  unsigned char* p = (unsigned char*)mia_malloc_aligned(100, 256);
  fill(p, 100, 9);
  mia_free(hide(p + 16));
  EXPECT(filled(p, 100, 9));
  const int before = atomic_load(&err_calls);
  mia_free(p);
  EXPECT(atomic_load(&err_calls) == before);
}

typedef struct death_case {
  const char* name;
  const char* expect;      /* the message after "mialloc: error: " starts with this */
  const char* expect_also; /* and contains this (NULL: nothing more) */
  int err;                 /* the code the error function gets */
  void (*run)(void);
} death_case;

static const death_case cases[] = {
  { "double free (p, p)",              "double free of ", NULL, EAGAIN, case_double_free_immediate },
  { "double free delayed (p, q, p)",   "double free of ", NULL, EAGAIN, case_double_free_delayed },
  { "double free by another thread",   "double free of ", NULL, EAGAIN, case_double_free_cross_thread },
  { "double free, 200 KB block",       "double free of ", NULL, EAGAIN, case_double_free_large },
  { "double free, 200 KB, page gone",  "invalid pointer ", ": not in a block in use (freed twice?)", EINVAL, case_double_free_large_page_gone },
  { "double free, 16 MiB released",    "invalid pointer ", ": not allocated by mialloc", EINVAL, case_double_free_huge },
  { "interior pointer p+8",            "invalid pointer ", ": not the start of a block", EINVAL, case_interior_pointer },
  { "pointer p|1",                     "invalid pointer ", ": not the start of a block", EINVAL, case_pointer_or_1 },
  { "stack pointer",                   "invalid pointer ", ": not allocated by mialloc", EINVAL, case_stack_pointer },
  { "glibc malloc pointer",            "invalid pointer ", ": not allocated by mialloc", EINVAL, case_glibc_pointer },
  { "static array pointer",            "invalid pointer ", ": not allocated by mialloc", EINVAL, case_static_pointer },
  { "overflow 1 byte (24 B block)",    "buffer overflow: block ", " of 24 bytes was written at offset 24", EFAULT, case_overflow_1 },
  { "overflow 8 bytes (24 B block)",   "buffer overflow: block ", " of 24 bytes was written at offset 24", EFAULT, case_overflow_8 },
  { "overflow into canary (48 B)",     "buffer overflow: block ", " of 48 bytes was written at offset 48", EFAULT, case_overflow_canary },
  { "write to freed link, allocate",   "corrupted free list in page ", "(written after free?)", EFAULT, case_use_after_free_link },
  { "mia_free_size wrong size",        "mia_free_size(", ": wrong size, the block was allocated with 100 bytes", EINVAL, case_free_size_wrong },
  { "mia_free_size_aligned bad align", "mia_free_aligned(", ": the pointer is not aligned to ", EINVAL, case_free_aligned_wrong },
  { "aligned block double free",       "double free of ", NULL, EAGAIN, case_aligned_double_free },
  { "aligned block interior p+16",     "invalid pointer ", ": not the start of a block", EINVAL, case_aligned_interior },
};

/* ---------------------------------------------------------------------------
   The parent: one child per case and mode, stderr captured
--------------------------------------------------------------------------- */

enum { MODE_ABORT, MODE_HANDLED };
enum { EXIT_RETURNED = 70, EXIT_HANDLED_BAD = 71 };

static const char* err_name(int err) {
  switch (err) {
    case EINVAL: return "EINVAL";
    case EAGAIN: return "EAGAIN";
    case EFAULT: return "EFAULT";
    case ENOMEM: return "ENOMEM";
    case 0: return "none";
    default: return "other";
  }
}

/* The first line of `text` holding "mialloc: error: " (copied into `line`). */
static bool find_error_line(const char* text, char* line, size_t cap) {
  const char* at = strstr(text, "mialloc: error: ");
  if (at == NULL) return false;
  size_t n = strcspn(at, "\n");
  if (n >= cap) n = cap - 1;
  memcpy(line, at, n);
  line[n] = 0;
  return true;
}

/* The line matches the case: the prefix right after "mialloc: error: ", the rest anywhere. */
static bool line_matches(const char* line, const death_case* c) {
  const char* msg = line + strlen("mialloc: error: ");
  if (strncmp(msg, c->expect, strlen(c->expect)) != 0) return false;
  return c->expect_also == NULL || strstr(msg, c->expect_also) != NULL;
}

static void child_run(const death_case* c, int mode) {
  struct rlimit no_core = { 0, 0 };
  setrlimit(RLIMIT_CORE, &no_core); /* the aborts are expected: no core files */
  alarm(30);                        /* a hang fails */
  if (mode == MODE_HANDLED) {
    mia_register_error(on_error, NULL);
    mia_register_output(on_output, NULL);
  }
  c->run();
  if (mode == MODE_ABORT) {
    fprintf(stderr, "detail: the misuse returned instead of aborting\n");
    fflush(stderr);
    _exit(EXIT_RETURNED);
  }
  /* handled: exactly one report, with the right code, through the output function */
  const int calls = atomic_load(&err_calls), code = atomic_load(&err_last);
  if (calls != 1 || code != c->err) {
    fprintf(stderr, "detail: error function called %d times, last code %s (expected once, %s)\n", calls, err_name(code), err_name(c->err));
    case_failures++;
  }
  size_t len = atomic_load(&out_len);
  out_buf[len < sizeof(out_buf) ? len : sizeof(out_buf) - 1] = 0;
  char line[512];
  if (!find_error_line(out_buf, line, sizeof line) || !line_matches(line, c)) {
    fprintf(stderr, "detail: the output function did not get the expected message (got \"%s\")\n", out_buf);
    case_failures++;
  }
  expect_still_working();
  if (atomic_load(&err_calls) != calls) {
    fprintf(stderr, "detail: %d more errors while checking the allocator still works\n", atomic_load(&err_calls) - calls);
    case_failures++;
  }
  /* show the parent the message the output function received */
  fputs(out_buf, stderr);
  fprintf(stderr, "handled: code %s\n", err_name(code));
  fflush(stderr);
  _exit(case_failures == 0 ? 0 : EXIT_HANDLED_BAD);
}

typedef struct outcome {
  bool ok;
  char line[512];   /* the message line, or what went wrong */
} outcome;

static outcome run_case(const death_case* c, int mode) {
  outcome r = { false, "" };
  int fds[2];
  if (pipe(fds) != 0) { snprintf(r.line, sizeof r.line, "pipe failed"); return r; }
  fflush(stdout);
  fflush(stderr);
  pid_t pid = fork();
  if (pid < 0) { snprintf(r.line, sizeof r.line, "fork failed"); close(fds[0]); close(fds[1]); return r; }
  if (pid == 0) {
    close(fds[0]);
    dup2(fds[1], 2);
    close(fds[1]);
    child_run(c, mode);
    _exit(EXIT_RETURNED);
  }
  close(fds[1]);
  static char text[65536];
  size_t n = 0;
  for (;;) {
    ssize_t k = read(fds[0], text + n, sizeof(text) - 1 - n);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) break;
    n += (size_t)k;
    if (n == sizeof(text) - 1) { char sink[4096]; while (read(fds[0], sink, sizeof sink) > 0) { } break; }
  }
  text[n] = 0;
  close(fds[0]);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) { }
  const bool have_line = find_error_line(text, r.line, sizeof r.line);
  const bool matches = have_line && line_matches(r.line, c);
  if (mode == MODE_ABORT) {
    const bool aborted = WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT;
    r.ok = aborted && matches;
    if (!aborted) {
      char what[64];
      if (WIFSIGNALED(status)) snprintf(what, sizeof what, "killed by signal %d", WTERMSIG(status));
      else snprintf(what, sizeof what, "exit code %d", WEXITSTATUS(status));
      fprintf(stderr, "  %s [abort]: not killed by SIGABRT (%s)\n", c->name, what);
    }
  } else {
    const bool clean = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    r.ok = clean && matches;
    if (!clean) {
      if (WIFSIGNALED(status)) fprintf(stderr, "  %s [handled]: killed by signal %d\n", c->name, WTERMSIG(status));
      else fprintf(stderr, "  %s [handled]: exit code %d\n", c->name, WEXITSTATUS(status));
    }
  }
  if (!matches) {
    fprintf(stderr, "  %s [%s]: expected \"mialloc: error: %s...%s\"\n", c->name, mode == MODE_ABORT ? "abort" : "handled",
            c->expect, c->expect_also != NULL ? c->expect_also : "");
  }
  if (!r.ok) {
    /* show what the child said */
    char* save = NULL;
    for (char* l = strtok_r(text, "\n", &save); l != NULL; l = strtok_r(NULL, "\n", &save)) fprintf(stderr, "    | %s\n", l);
    if (!have_line) snprintf(r.line, sizeof r.line, "(no message)");
  }
  return r;
}

int main(void) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  /* initialise the allocator in the parent so every child starts alike */
  mia_free(mia_malloc(1));
  printf("death tests, %s: %zu cases x {abort, handled}\n", DEATH_CONFIG, ARRAY_LEN(cases));
  int passed = 0, failed = 0;
  static outcome results[ARRAY_LEN(cases)][2];
  for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
    for (int mode = MODE_ABORT; mode <= MODE_HANDLED; mode++) {
      results[i][mode] = run_case(&cases[i], mode);
      if (results[i][mode].ok) passed++;
      else failed++;
    }
    printf("%-4s %-34s abort: %-4s handled: %-4s (%s)\n", results[i][0].ok && results[i][1].ok ? "ok" : "FAIL", cases[i].name,
           results[i][0].ok ? "ok" : "FAIL", results[i][1].ok ? "ok" : "FAIL", err_name(cases[i].err));
  }
  printf("\n| case (%s) | message (abort mode) |\n|---|---|\n", DEATH_CONFIG);
  for (size_t i = 0; i < ARRAY_LEN(cases); i++) printf("| %s | `%s` |\n", cases[i].name, results[i][0].line);
  printf("\n%d passed, %d failed\n", passed, failed);
  return failed == 0 ? 0 : 1;
}
