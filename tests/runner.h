/* runner.h - the tiny test runner of the mialloc.h test suite.

   Why not assert(): it vanishes under NDEBUG, stops at the first failure and
   cannot count. Here every CHECK is an expression that can fail; a failing
   CHECK prints file:line, the test and the expression, marks the test failed
   and carries on. The last line main() prints is exactly

      N passed, N failed

   where the numbers count CHECK executions; the exit code is non-zero on any
   failure.

   Use:
      TEST(api_malloc_zero) { void* p = mia_malloc(0); CHECK(p != NULL); ... }
      void tests_api(void) { RUN(api_malloc_zero); ... }   // the group, listed in main.c

   A test that is written but not RUN is an unused static function, which
   -Wall reports. `./t churn` runs only the tests whose name contains "churn".

   State lives in one struct, `runner`, declared here and defined in main.c
   (stress.c defines its own). Its counters are atomic, so a CHECK may run on
   any thread; keep CHECKs out of the innermost loops all the same (count
   failures in a local and CHECK the count), so a test measures the allocator
   and not the runner.

   The second half of the file holds small helpers shared by the test files:
   a PRNG, fill/verify patterns, an opaque value to keep constant-folding
   compilers from warning about SIZE_MAX arguments, a clock. */
#ifndef MIALLOC_TESTS_RUNNER_H
#define MIALLOC_TESTS_RUNNER_H

#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#if defined(__MINGW32__) && !defined(__clang__)
#define RUNNER_PRINTF(f, a) __attribute__((format(gnu_printf, f, a))) /* %zu: build with -D__USE_MINGW_ANSI_STDIO=1 */
#elif defined(__GNUC__) || defined(__clang__)
#define RUNNER_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define RUNNER_PRINTF(f, a)
#endif

/* Failures printed at most (the counts stay exact past it). */
#define RUNNER_MAX_PRINTED 200

typedef struct runner_state {
  _Atomic long passed;        /* CHECKs that held */
  _Atomic long failed;        /* CHECKs that did not */
  _Atomic long sites;         /* distinct CHECK sites executed at least once */
  _Atomic long printed;       /* failure messages printed so far */
  _Atomic bool test_failed;   /* the current test has a failed CHECK */
  const char* filter;         /* run only tests whose name contains this, or one of its
                                 '|'-separated parts (NULL: all) */
  const char* current;        /* name of the running test */
  int tests_run;
  int tests_failed;
  bool quick;                 /* MIALLOC_TEST_QUICK is set: sanitizer builds, keep sizes modest */
  bool skipped;               /* the current test called SKIP() */
} runner_state;

extern runner_state runner;

/* Count a CHECK site the first time it runs (one static flag per site). */
#define RUNNER_SITE_()                                                            \
  static _Atomic bool runner_site_seen_ = false;                                  \
  if (!atomic_load_explicit(&runner_site_seen_, memory_order_relaxed) &&          \
      !atomic_exchange_explicit(&runner_site_seen_, true, memory_order_relaxed))  \
    atomic_fetch_add_explicit(&runner.sites, 1, memory_order_relaxed)

static inline void runner_pass(void) {
  atomic_fetch_add_explicit(&runner.passed, 1, memory_order_relaxed);
}

/* Record a failure; print it (with an optional printf-style detail) unless too many were printed. */
static inline RUNNER_PRINTF(4, 5) void runner_fail(const char* file, int line, const char* expr, const char* fmt, ...) {
  atomic_fetch_add_explicit(&runner.failed, 1, memory_order_relaxed);
  atomic_store_explicit(&runner.test_failed, true, memory_order_relaxed);
  long n = atomic_fetch_add_explicit(&runner.printed, 1, memory_order_relaxed);
  if (n >= RUNNER_MAX_PRINTED) {
    if (n == RUNNER_MAX_PRINTED) fprintf(stderr, "  (further failures not printed)\n");
    return;
  }
  char detail[256];
  detail[0] = 0;
  if (fmt != NULL) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
  }
  fprintf(stderr, "%s:%d: FAILED in %s: CHECK(%s)%s%s\n", file, line,
          runner.current != NULL ? runner.current : "?", expr, detail[0] ? " -- " : "", detail);
}

/* The check: counts one pass or one failure. Never aborts. */
#define CHECK(expr)                                                       \
  do {                                                                    \
    RUNNER_SITE_();                                                       \
    if (expr) runner_pass();                                              \
    else runner_fail(__FILE__, __LINE__, #expr, NULL);                    \
  } while (0)

/* CHECK with a printf-style detail printed on failure: CHECKF(p != NULL, "size %zu", n). */
#define CHECKF(expr, ...)                                                 \
  do {                                                                    \
    RUNNER_SITE_();                                                       \
    if (expr) runner_pass();                                              \
    else runner_fail(__FILE__, __LINE__, #expr, __VA_ARGS__);             \
  } while (0)

/* A pointer the compiler knows nothing about. The allocation functions carry
   malloc and alloc_align attributes: without this, a compiler may fold
   `p != q` or `p % 64 == 0` to true for their results, and a test of that
   property would pass whatever the allocator did. */
static inline const void* opaque_ptr(const void* p) {
  volatile uintptr_t u = (uintptr_t)p;
  return (const void*)u;
}

/* Typed comparisons that print both sides. */
#define RUNNER_CMP_(T, fmtspec, a, op, b, text)                                       \
  do {                                                                                \
    RUNNER_SITE_();                                                                   \
    T runner_a_ = (a), runner_b_ = (b);                                               \
    if (runner_a_ op runner_b_) runner_pass();                                        \
    else runner_fail(__FILE__, __LINE__, text,                                        \
                     "left " fmtspec ", right " fmtspec, runner_a_, runner_b_);       \
  } while (0)

#define CHECK_EQ_SZ(a, b) RUNNER_CMP_(size_t, "%zu", a, ==, b, #a " == " #b)
#define CHECK_NE_SZ(a, b) RUNNER_CMP_(size_t, "%zu", a, !=, b, #a " != " #b)
#define CHECK_LE_SZ(a, b) RUNNER_CMP_(size_t, "%zu", a, <=, b, #a " <= " #b)
#define CHECK_LT_SZ(a, b) RUNNER_CMP_(size_t, "%zu", a, <, b, #a " < " #b)
#define CHECK_GE_SZ(a, b) RUNNER_CMP_(size_t, "%zu", a, >=, b, #a " >= " #b)
#define CHECK_GT_SZ(a, b) RUNNER_CMP_(size_t, "%zu", a, >, b, #a " > " #b)
#define CHECK_EQ_INT(a, b) RUNNER_CMP_(long, "%ld", a, ==, b, #a " == " #b)
#define CHECK_NE_INT(a, b) RUNNER_CMP_(long, "%ld", a, !=, b, #a " != " #b)
typedef const void* runner_ptr; /* one name, so `T a, b` declares two pointers */
#define CHECK_EQ_PTR(a, b) RUNNER_CMP_(runner_ptr, "%p", opaque_ptr(a), ==, opaque_ptr(b), #a " == " #b)
#define CHECK_NE_PTR(a, b) RUNNER_CMP_(runner_ptr, "%p", opaque_ptr(a), !=, opaque_ptr(b), #a " != " #b)
#define CHECK_NULL(a) CHECK_EQ_PTR(a, NULL)
#define CHECK_NOT_NULL(a) CHECK_NE_PTR(a, NULL)

/* Skip the current test on this target, before its first CHECK, with the
   reason printed ("skip <test>: <reason>"; the result line says SKIP). Only
   under a clear #if for a target that cannot run it (no fork on Windows, ...):
   tests/ports/check_n.sh lists the skips and adds the test's native CHECK
   count back when it compares a port's total with the native one. */
#define SKIP(reason)        \
  do {                      \
    runner_skip(reason);    \
    return;                 \
  } while (0)
static inline void runner_skip(const char* reason) {
  runner.skipped = true;
  printf("skip %s: %s\n", runner.current != NULL ? runner.current : "?", reason);
}

/* A test is a function; RUN registers and runs it inside its group function. */
#define TEST(name) static void name(void)
#define RUN(name) runner_run(#name, name)

static inline double runner_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Does `name` contain one of the '|'-separated parts of the filter? */
static inline bool runner_selected(const char* name) {
  if (runner.filter == NULL) return true;
  for (const char* part = runner.filter;;) {
    const char* end = strchr(part, '|');
    const size_t n = (end != NULL ? (size_t)(end - part) : strlen(part));
    for (const char* s = name; *s != 0; s++) if (strncmp(s, part, n) == 0) return true;
    if (end == NULL) return false;
    part = end + 1;
  }
}

static inline void runner_run(const char* name, void (*fn)(void)) {
  if (!runner_selected(name)) return;
  runner.current = name;
  atomic_store_explicit(&runner.test_failed, false, memory_order_relaxed);
  runner.skipped = false;
  long before = atomic_load(&runner.passed) + atomic_load(&runner.failed);
  double t0 = runner_now();
  fn();
  double ms = (runner_now() - t0) * 1e3;
  long checks = atomic_load(&runner.passed) + atomic_load(&runner.failed) - before;
  bool failed = atomic_load_explicit(&runner.test_failed, memory_order_relaxed);
  runner.tests_run++;
  if (failed) runner.tests_failed++;
  printf("%-4s %-44s %7ld checks %9.1f ms\n", failed ? "FAIL" : runner.skipped ? "SKIP" : "ok", name, checks, ms);
  fflush(stdout);
  runner.current = NULL;
}

/* Print the summary; the last line is exactly "N passed, N failed". Returns the exit code. */
static inline int runner_finish(void) {
  long passed = atomic_load(&runner.passed), failed = atomic_load(&runner.failed);
  if (runner.tests_run == 0) {
    printf("no test name contains \"%s\"\n", runner.filter != NULL ? runner.filter : "");
  }
  printf("%d tests, %d failed; %ld distinct CHECK sites executed\n", runner.tests_run, runner.tests_failed,
         atomic_load(&runner.sites));
  printf("%ld passed, %ld failed\n", passed, failed);
  fflush(stdout);
  return (failed != 0 || runner.tests_failed != 0 || runner.tests_run == 0) ? 1 : 0;
}

/* ---------------------------------------------------------------------------
   Helpers shared by the test files
--------------------------------------------------------------------------- */

/* xorshift64*: a fast deterministic PRNG; the state must not be 0. */
static inline uint64_t rng_next(uint64_t* s) {
  uint64_t x = *s;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  *s = x;
  return x * 0x2545F4914F6CDD1DULL;
}

/* Uniform in [lo, hi] (hi - lo small compared with 2^64). */
static inline size_t rng_range(uint64_t* s, size_t lo, size_t hi) {
  return lo + (size_t)(rng_next(s) % (uint64_t)(hi - lo + 1));
}

/* A value the compiler cannot see through (keeps alloc_size warnings off SIZE_MAX tests). */
static inline size_t opaque_size(size_t x) {
  volatile size_t v = x;
  return v;
}

/* The pattern of block `seed`: the 8-byte word at offset i (a multiple of 8)
   is w ^ i. Byte k depends only on (seed, k), so any prefix of a filled block
   checks out against the same seed (realloc keeps prefixes). */
static inline uint64_t pattern_word(uint64_t seed, size_t i) {
  return (seed * 0x9E3779B97F4A7C15ULL + 0x632BE59BD9B4E019ULL) ^ ((uint64_t)i * 0x0101010101010101ULL);
}

/* Fill `n` bytes of p with the pattern of `seed`. */
static inline void pattern_fill(void* p, size_t n, uint64_t seed) {
  unsigned char* b = (unsigned char*)p;
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t v = pattern_word(seed, i);
    memcpy(b + i, &v, 8);
  }
  if (i < n) {
    uint64_t v = pattern_word(seed, i);
    memcpy(b + i, &v, n - i);
  }
}

/* Offset of the first byte of p that differs from pattern_fill(seed), or n if none does.
   The first pass has no early exit, so compilers vectorise it. */
static inline size_t pattern_check(const void* p, size_t n, uint64_t seed) {
  const unsigned char* b = (const unsigned char*)p;
  uint64_t diff = 0;
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t v;
    memcpy(&v, b + i, 8);
    diff |= v ^ pattern_word(seed, i);
  }
  if (i < n) {
    uint64_t e = pattern_word(seed, i), v = e;
    memcpy(&v, b + i, n - i);
    diff |= v ^ e;
  }
  if (diff == 0) return n;
  for (i = 0; i < n; i += 8) { /* locate the first damaged byte */
    uint64_t e = pattern_word(seed, i);
    const unsigned char* eb = (const unsigned char*)&e;
    size_t k = (n - i < 8) ? n - i : 8;
    for (size_t j = 0; j < k; j++)
      if (b[i + j] != eb[j]) return i + j;
  }
  return n;
}

/* True if all `n` bytes at p equal `byte`. */
static inline bool mem_is(const void* p, int byte, size_t n) {
  const unsigned char* b = (const unsigned char*)p;
  const uint64_t w = 0x0101010101010101ULL * (unsigned char)byte;
  uint64_t diff = 0;
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t v;
    memcpy(&v, b + i, 8);
    diff |= v ^ w;
  }
  for (; i < n; i++) diff |= (uint64_t)(b[i] ^ (unsigned char)byte);
  return diff == 0;
}

static inline int cmp_ptr(const void* a, const void* b) {
  uintptr_t x = (uintptr_t)*(void* const*)a, y = (uintptr_t)*(void* const*)b;
  return (x > y) - (x < y);
}

#define KiB ((size_t)1024)
#define MiB ((size_t)1024 * 1024)
#define GiB ((size_t)1024 * 1024 * 1024)

#endif /* MIALLOC_TESTS_RUNNER_H */
