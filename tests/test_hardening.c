/* test_hardening.c - the edges a hardened allocator must hold.

   Sizes: PTRDIFF_MAX + 1, SIZE_MAX, SIZE_MAX - 8 and sizes that overflow the
   internal rounding (SIZE_MAX - 4095 for the page-aligned calls) give NULL
   and ENOMEM from every allocating call; count * size overflows give NULL and
   ENOMEM with the old block intact; invalid alignments give EINVAL with the
   out-pointer untouched; a failed realloc leaves the old block
   byte-identical; realloc or free is the very first call of a new thread.

   Thread lifecycle: 10,000 short-lived threads (1,000 under
   MIALLOC_TEST_QUICK) each leave one block that another thread frees;
   allocation and free inside pthread-key destructors that run after
   mialloc's own thread-exit clean-up; a producer that exits while a consumer
   that never allocated frees its blocks; heaps created, deleted and
   destroyed on their owning thread while other threads allocate and free
   across threads.

   Fork: 8 threads allocate and free across threads while a ninth forks 1,000
   times in the release build (250 in the gcc, debug and secure builds, 50
   under MIALLOC_TEST_QUICK, 10 under TSan); each child allocates in every size class and frees the blocks it
   inherited. A hang fails: a child that hangs is ended by its alarm and
   counted, a parent that hangs by the test's alarm.

   Threads never CHECK in their loops: they count, and the test checks the
   counts after the join. */
#include "../mialloc.h"
#include "runner.h"

#include <errno.h>
#include <pthread.h>
#if defined(_WIN32) /* no fork, alarm or sysconf: the fork test skips itself */
#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN
#endif
#include <windows.h>
#define HARD_HAS_FORK 0
#else
#include <signal.h>
#if defined(__GLIBC__)
#include <execinfo.h>
#endif
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#define HARD_HAS_FORK 1
#endif

void tests_hardening(void);

#define HARD_LEN(a) (sizeof(a) / sizeof((a)[0]))

#if defined(__SANITIZE_THREAD__)
#define HARD_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define HARD_TSAN 1
#endif
#endif
#ifndef HARD_TSAN
#define HARD_TSAN 0
#endif
/* The fork test's full 1,000 forks run in the release build (clang, no
   MIALLOC_DEBUG or MIALLOC_SECURE); the other full builds (gcc, debug3,
   secure) take the same paths and fork 250 times: a fork of this process
   costs 15-25 ms on a busy 2-core machine. */
#if defined(__clang__) && !defined(MIALLOC_DEBUG) && !defined(MIALLOC_SECURE)
#define HARD_FORKS_FULL 1
#else
#define HARD_FORKS_FULL 0
#endif

static size_t hard_page_size(void) {
#if defined(_WIN32)
  SYSTEM_INFO si;
  GetSystemInfo(&si);
  return si.dwPageSize > 0 ? (size_t)si.dwPageSize : 4096;
#else
  long ps = sysconf(_SC_PAGESIZE);
  return ps > 0 ? (size_t)ps : 4096;
#endif
}

/* Sizes by word size (the same number of cases on every target):
   HARD_POW2_TOO_LARGE  a power of two no allocation can have (2^62; on 32-bit
                        targets 2^31, above PTRDIFF_MAX)
   HARD_SQUARE_OVERFLOWS  x with x * x overflowing size_t (2^32; 2^16)
   HARD_OS_REFUSES      a size the OS is likely to refuse (64 TiB; 1 GiB on
                        32-bit targets, where it may also be granted: both
                        outcomes are checked) */
#if SIZE_MAX > 0xFFFFFFFFu
#define HARD_POW2_TOO_LARGE ((size_t)1 << 62)
#define HARD_SQUARE_OVERFLOWS ((size_t)1 << 32)
#define HARD_OS_REFUSES ((size_t)1 << 46)
#else
#define HARD_POW2_TOO_LARGE ((size_t)1 << 31)
#define HARD_SQUARE_OVERFLOWS ((size_t)1 << 16)
#define HARD_OS_REFUSES ((size_t)1 << 30)
#endif

static size_t hard_commit(void) {
  size_t commit = 0;
  mia_process_info(NULL, NULL, NULL, NULL, NULL, &commit, NULL, NULL);
  return commit;
}

/* The `threads current` figure of mia_stats_print_out: threads with a heap. */
typedef struct hard_text { char buf[8192]; size_t len; } hard_text;
static void hard_text_out(const char* msg, void* arg) {
  hard_text* t = (hard_text*)arg;
  size_t n = strlen(msg);
  if (n > sizeof(t->buf) - 1 - t->len) n = sizeof(t->buf) - 1 - t->len;
  memcpy(t->buf + t->len, msg, n);
  t->len += n;
  t->buf[t->len] = 0;
}
static long hard_threads_with_heap(void) {
  static hard_text text;
  text.len = 0;
  text.buf[0] = 0;
  mia_stats_print_out(hard_text_out, &text);
  const char* at = strstr(text.buf, "threads");
  long current = -1;
  if (at != NULL && sscanf(at, "threads current %ld", &current) != 1) {
    const char* c = strstr(at, "current");
    if (c == NULL || sscanf(c, "current %ld", &current) != 1) current = -1;
  }
  return current;
}

/* ---------------------------------------------------------------------------
   Sizes that cannot be served
--------------------------------------------------------------------------- */

/* Every allocating entry point with size n: NULL and ENOMEM. `old` (a live
   block of old_size bytes filled with the pattern of old_seed) goes through
   the resizing calls and must come out untouched. Returns the failures. */
static size_t too_large_all(size_t n, void* old, size_t old_size, uint64_t old_seed, mia_heap_t* heap) {
  size_t fails = 0;
  const size_t old_usable = mia_usable_size(old);
#define HARD_NULL_ENOMEM(call)                                                                 \
  do {                                                                                         \
    errno = 0;                                                                                 \
    void* r_ = (call);                                                                         \
    const int e_ = errno;                                                                      \
    if (r_ != NULL || e_ != ENOMEM) {                                                          \
      fails++;                                                                                 \
      fprintf(stderr, "  size %zu: %s gave %p, errno %d\n", n, #call, r_, e_);                 \
      if (r_ != NULL && r_ != old) mia_free(r_);                                               \
    }                                                                                          \
    if (pattern_check(old, old_size, old_seed) != old_size || mia_usable_size(old) != old_usable) { \
      fails++;                                                                                 \
      fprintf(stderr, "  size %zu: %s changed the old block\n", n, #call);                     \
    }                                                                                          \
  } while (0)
  HARD_NULL_ENOMEM(mia_malloc(n));
  HARD_NULL_ENOMEM(mia_zalloc(n));
  HARD_NULL_ENOMEM(mia_calloc(1, n));
  HARD_NULL_ENOMEM(mia_calloc(n, 1));
  HARD_NULL_ENOMEM(mia_mallocn(1, n));
  HARD_NULL_ENOMEM(mia_realloc(NULL, n));
  HARD_NULL_ENOMEM(mia_realloc(old, n));
  HARD_NULL_ENOMEM(mia_reallocn(old, n, 1));
  HARD_NULL_ENOMEM(mia_reallocarray(old, 1, n));
  HARD_NULL_ENOMEM(mia_rezalloc(old, n));
  HARD_NULL_ENOMEM(mia_recalloc(old, n, 1));
  HARD_NULL_ENOMEM(mia_malloc_aligned(n, 16));
  HARD_NULL_ENOMEM(mia_malloc_aligned(n, 64));
  HARD_NULL_ENOMEM(mia_malloc_aligned(n, 4096));
  HARD_NULL_ENOMEM(mia_malloc_aligned(n, (size_t)1 << 22));
  HARD_NULL_ENOMEM(mia_malloc_aligned_at(n, 64, 8));
  HARD_NULL_ENOMEM(mia_zalloc_aligned(n, 256));
  HARD_NULL_ENOMEM(mia_calloc_aligned(1, n, 64));
  HARD_NULL_ENOMEM(mia_realloc_aligned(old, n, 64));
  HARD_NULL_ENOMEM(mia_rezalloc_aligned(old, n, 64));
  HARD_NULL_ENOMEM(mia_memalign(64, n));
  HARD_NULL_ENOMEM(mia_aligned_alloc(4096, n));
  HARD_NULL_ENOMEM(mia_valloc(n));
  HARD_NULL_ENOMEM(mia_pvalloc(n));
  HARD_NULL_ENOMEM(mia_heap_malloc(heap, n));
  HARD_NULL_ENOMEM(mia_heap_zalloc(heap, n));
  HARD_NULL_ENOMEM(mia_heap_calloc(heap, n, 1));
  HARD_NULL_ENOMEM(mia_heap_malloc_aligned(heap, n, 128));
  HARD_NULL_ENOMEM(mia_heap_realloc(heap, old, n));
#undef HARD_NULL_ENOMEM
  /* posix_memalign: ENOMEM returned (errno untouched is allowed), *out untouched */
  void* out = (void*)(uintptr_t)0x1234;
  int rc = mia_posix_memalign(&out, 64, n);
  if (rc != ENOMEM || out != (void*)(uintptr_t)0x1234) {
    fails++;
    fprintf(stderr, "  size %zu: posix_memalign gave %d, out %p\n", n, rc, out);
  }
  /* reallocarr: ENOMEM, the pointer it points to untouched */
  void* arr = old;
  rc = mia_reallocarr(&arr, n, 1);
  if (rc != ENOMEM || arr != old) {
    fails++;
    fprintf(stderr, "  size %zu: reallocarr gave %d\n", n, rc);
  }
  /* expand cannot grow past the block */
  if (mia_expand(old, n) != NULL) { fails++; fprintf(stderr, "  size %zu: expand succeeded\n", n); }
  if (pattern_check(old, old_size, old_seed) != old_size) fails++;
  return fails;
}

TEST(hard_sizes_too_large) {
  const size_t ps = hard_page_size();
  const size_t sizes[] = {
    (size_t)PTRDIFF_MAX + 1, SIZE_MAX, SIZE_MAX - 8, SIZE_MAX - 16, SIZE_MAX - 4095, SIZE_MAX - ps + 1,
    SIZE_MAX - ((size_t)1 << 22), (size_t)PTRDIFF_MAX, (size_t)PTRDIFF_MAX - 8, (size_t)PTRDIFF_MAX - 4095,
    (size_t)PTRDIFF_MAX - ((size_t)1 << 22) + 1, HARD_POW2_TOO_LARGE,
  };
  mia_heap_t* heap = mia_heap_new();
  CHECK_NOT_NULL(heap);
  static const size_t olds[] = {24, 1000, 70000, 3 * MiB};
  for (size_t k = 0; k < HARD_LEN(olds); k++) {
    void* old = mia_malloc(olds[k]);
    CHECK_NOT_NULL(old);
    if (old == NULL) continue;
    pattern_fill(old, olds[k], 77 + k);
    for (size_t i = 0; i < HARD_LEN(sizes); i++) {
      const size_t n = opaque_size(sizes[i]);
      CHECKF(too_large_all(n, old, olds[k], 77 + k, heap) == 0, "size %zu (old block of %zu bytes)", n, olds[k]);
    }
    mia_free(old);
  }
  /* the heap and the process still work */
  void* p = mia_heap_malloc(heap, 100);
  CHECK_NOT_NULL(p);
  mia_free(p);
  mia_heap_delete(heap);
}

/* count * size overflows: NULL, ENOMEM, the old block intact. */
TEST(hard_count_overflow) {
  const size_t half = SIZE_MAX / 2 + 1;
  const size_t pairs[][2] = {
    {half, 2}, {2, half}, {HARD_SQUARE_OVERFLOWS, HARD_SQUARE_OVERFLOWS}, {SIZE_MAX, SIZE_MAX}, {(size_t)PTRDIFF_MAX, 3},
    {SIZE_MAX / 3 + 1, 3}, {SIZE_MAX / 24 + 1, 24},
  };
  uint8_t* old = (uint8_t*)mia_malloc(333);
  CHECK_NOT_NULL(old);
  if (old == NULL) return;
  pattern_fill(old, 333, 5);
  const size_t old_usable = mia_usable_size(old);
  mia_heap_t* heap = mia_heap_get_default();
  size_t fails = 0;
  for (size_t i = 0; i < HARD_LEN(pairs); i++) {
    const size_t c = opaque_size(pairs[i][0]), s = opaque_size(pairs[i][1]);
#define HARD_OVF(call)                                                                           \
    do {                                                                                         \
      errno = 0;                                                                                 \
      void* r_ = (call);                                                                         \
      const int e_ = errno;                                                                      \
      if (r_ != NULL || e_ != ENOMEM) {                                                          \
        fails++;                                                                                 \
        fprintf(stderr, "  %zu * %zu: %s gave %p, errno %d\n", c, s, #call, r_, e_);             \
        if (r_ != NULL && r_ != (void*)old) mia_free(r_);                                        \
      }                                                                                          \
      if (pattern_check(old, 333, 5) != 333 || mia_usable_size(old) != old_usable) {             \
        fails++;                                                                                 \
        fprintf(stderr, "  %zu * %zu: %s changed the old block\n", c, s, #call);                 \
      }                                                                                          \
    } while (0)
    HARD_OVF(mia_calloc(c, s));
    HARD_OVF(mia_mallocn(c, s));
    HARD_OVF(mia_reallocarray(old, c, s));
    HARD_OVF(mia_reallocn(old, c, s));
    HARD_OVF(mia_recalloc(old, c, s));
    HARD_OVF(mia_calloc_aligned(c, s, 64));
    HARD_OVF(mia_calloc_aligned_at(c, s, 64, 16));
    HARD_OVF(mia_recalloc_aligned(old, c, s, 64));
    HARD_OVF(mia_heap_calloc(heap, c, s));
    HARD_OVF(mia_heap_mallocn(heap, c, s));
    HARD_OVF(mia_heap_reallocn(heap, old, c, s));
    HARD_OVF(mia_heap_recalloc(heap, old, c, s));
#undef HARD_OVF
    void* arr = old;
    const int rc = mia_reallocarr(&arr, c, s);
    if (rc != ENOMEM || arr != (void*)old) { fails++; fprintf(stderr, "  %zu * %zu: reallocarr gave %d\n", c, s, rc); }
  }
  CHECK_EQ_SZ(fails, 0);
  CHECK_EQ_SZ(pattern_check(old, 333, 5), 333);
  /* the edge that fits: count * size == a small product is served */
  void* ok = mia_calloc(opaque_size(3), opaque_size(5));
  CHECK_NOT_NULL(ok);
  mia_free(ok);
  mia_free(old);
}

/* Alignments that are not powers of two: NULL and EINVAL, or EINVAL from
   posix_memalign with the out-pointer untouched. */
TEST(hard_invalid_alignment) {
  const size_t bad[] = {0, 3, 5, 6, 12, 24, 48, 100, 4095, 4097, ((size_t)1 << 20) + 64, SIZE_MAX, (size_t)PTRDIFF_MAX};
  uint8_t* old = (uint8_t*)mia_malloc(200);
  CHECK_NOT_NULL(old);
  if (old == NULL) return;
  pattern_fill(old, 200, 9);
  mia_heap_t* heap = mia_heap_get_default();
  size_t fails = 0;
  for (size_t i = 0; i < HARD_LEN(bad); i++) {
    const size_t a = opaque_size(bad[i]);
#define HARD_EINVAL(call)                                                                        \
    do {                                                                                         \
      errno = 0;                                                                                 \
      void* r_ = (call);                                                                         \
      const int e_ = errno;                                                                      \
      if (r_ != NULL || e_ != EINVAL) {                                                          \
        fails++;                                                                                 \
        fprintf(stderr, "  alignment %zu: %s gave %p, errno %d\n", a, #call, r_, e_);            \
        if (r_ != NULL && r_ != (void*)old) mia_free(r_);                                        \
      }                                                                                          \
    } while (0)
    HARD_EINVAL(mia_malloc_aligned(64, a));
    HARD_EINVAL(mia_malloc_aligned(5000, a));
    HARD_EINVAL(mia_malloc_aligned_at(64, a, 8));
    HARD_EINVAL(mia_zalloc_aligned(64, a));
    HARD_EINVAL(mia_calloc_aligned(4, 16, a));
    HARD_EINVAL(mia_aligned_alloc(a, 64));
    HARD_EINVAL(mia_memalign(a, 64));
    HARD_EINVAL(mia_heap_malloc_aligned(heap, 64, a));
    HARD_EINVAL(mia_realloc_aligned(old, 400, a));
    HARD_EINVAL(mia_realloc_aligned(NULL, 400, a));
#undef HARD_EINVAL
    if (pattern_check(old, 200, 9) != 200) { fails++; fprintf(stderr, "  alignment %zu: realloc_aligned changed the old block\n", a); }
  }
  /* posix_memalign also wants a multiple of sizeof(void*) */
  const size_t bad_posix[] = {0, 1, 2, sizeof(void*) / 2 /* 4 on 64-bit targets */, 3, 12, 24, 100, SIZE_MAX};
  for (size_t i = 0; i < HARD_LEN(bad_posix); i++) {
    void* out = (void*)(uintptr_t)0xABCD;
    const int rc = mia_posix_memalign(&out, opaque_size(bad_posix[i]), 64);
    if (rc != EINVAL || out != (void*)(uintptr_t)0xABCD) {
      fails++;
      fprintf(stderr, "  posix_memalign(alignment %zu) gave %d, out %p\n", bad_posix[i], rc, out);
    }
  }
  CHECK_EQ_SZ(fails, 0);
  /* a power of two too large to serve: NULL/ENOMEM, out untouched */
  void* out = (void*)(uintptr_t)0xABCD;
  const int rc = mia_posix_memalign(&out, opaque_size(HARD_POW2_TOO_LARGE), 64);
  CHECK_EQ_INT(rc, ENOMEM);
  CHECK_EQ_PTR(out, (void*)(uintptr_t)0xABCD);
  errno = 0;
  void* p = mia_malloc_aligned(64, opaque_size(HARD_POW2_TOO_LARGE));
  CHECK_NULL(p);
  CHECK_EQ_INT(errno, ENOMEM);
  /* and the valid neighbours work */
  CHECK_EQ_INT(mia_posix_memalign(&out, 8, 64), 0);
  CHECK(((uintptr_t)opaque_ptr(out) & 7) == 0);
  mia_free(out);
  CHECK_EQ_SZ(pattern_check(old, 200, 9), 200);
  mia_free(old);
}

/* A failed realloc leaves the old block byte-identical (all of its usable
   bytes, not just the requested ones), and the block still frees cleanly. */
TEST(hard_failed_realloc_keeps_block) {
  static const size_t sizes[] = {1, 8, 100, 1000, 16000, 70000, 600000, 5 * MiB};
  static const size_t huge_requests[] = {SIZE_MAX, (size_t)PTRDIFF_MAX, (size_t)PTRDIFF_MAX + 1, SIZE_MAX - 4095};
  size_t fails = 0, os_refused = 0;
  for (size_t i = 0; i < HARD_LEN(sizes); i++) {
    const size_t n = sizes[i];
    uint8_t* p = (uint8_t*)mia_malloc(n);
    CHECK_NOT_NULL(p);
    if (p == NULL) continue;
    const size_t u = mia_usable_size(p);
    pattern_fill(p, u, 1000 + i);
    uint8_t* snap = (uint8_t*)malloc(u); /* libc: outside the allocator under test */
    if (snap == NULL) { mia_free(p); continue; }
    memcpy(snap, p, u);
    for (size_t k = 0; k < HARD_LEN(huge_requests); k++) {
      const size_t req = opaque_size(huge_requests[k]);
      void* r[4];
      errno = 0;
      r[0] = mia_realloc(p, req);
      r[1] = mia_realloc_aligned(p, req, 64);
      r[2] = mia_rezalloc(p, req);
      r[3] = mia_heap_realloc(mia_heap_get_default(), p, req);
      for (size_t j = 0; j < 4; j++) if (r[j] != NULL) { fails++; fprintf(stderr, "  realloc #%zu of %zu to %zu succeeded\n", j, n, req); }
      if (errno != ENOMEM) { fails++; fprintf(stderr, "  realloc of %zu to %zu: errno %d\n", n, req, errno); }
      if (mia_usable_size(p) != u || memcmp(p, snap, u) != 0) { fails++; fprintf(stderr, "  realloc of %zu to %zu changed the block\n", n, req); }
    }
    /* a size the OS refuses (HARD_OS_REFUSES): if it is granted after all
       (overcommit), it must hold the contents */
    const size_t refused = HARD_OS_REFUSES;
    errno = 0;
    uint8_t* big = (uint8_t*)mia_realloc(p, opaque_size(HARD_OS_REFUSES));
    if (big == NULL) {
      os_refused++;
      if (errno != ENOMEM) { fails++; fprintf(stderr, "  realloc of %zu to %zu: errno %d\n", n, refused, errno); }
      if (mia_usable_size(p) != u || memcmp(p, snap, u) != 0) { fails++; fprintf(stderr, "  realloc of %zu to %zu changed the block\n", n, refused); }
      mia_free(p);
    } else {
      if (memcmp(big, snap, n) != 0) { fails++; fprintf(stderr, "  realloc of %zu to %zu lost the contents\n", n, refused); }
      mia_free(big);
    }
    free(snap);
  }
  CHECK_EQ_SZ(fails, 0);
  printf("     the OS refused a realloc to %zu bytes %zu of %zu times\n", (size_t)HARD_OS_REFUSES, os_refused, HARD_LEN(sizes));
}

/* ---------------------------------------------------------------------------
   The first call of a new thread is a realloc or a free
--------------------------------------------------------------------------- */

typedef struct first_call {
  int kind;
  void* p;        /* a block of the main thread (or NULL) */
  size_t size;    /* its size, filled with the pattern of `seed` */
  uint64_t seed;
  size_t bad;     /* what went wrong on the thread */
} first_call;

enum {
  FIRST_REALLOC_NULL, FIRST_REALLOC_GROW, FIRST_REALLOC_SHRINK, FIRST_REALLOCARRAY_NULL, FIRST_REALLOC_ALIGNED,
  FIRST_FREE, FIRST_FREE_NULL, FIRST_FREE_SIZE, FIRST_FREE_HUGE, FIRST_USABLE_SIZE, FIRST_KINDS
};

static void* first_call_thread(void* arg) {
  first_call* f = (first_call*)arg;
  switch (f->kind) {
    case FIRST_REALLOC_NULL: {
      uint8_t* q = (uint8_t*)mia_realloc(NULL, 100);
      if (q == NULL) { f->bad++; break; }
      pattern_fill(q, 100, 1);
      q = (uint8_t*)mia_realloc(q, 5000);
      if (q == NULL || pattern_check(q, 100, 1) != 100) f->bad++;
      mia_free(q);
      break;
    }
    case FIRST_REALLOC_GROW:
    case FIRST_REALLOC_SHRINK: {
      const size_t to = (f->kind == FIRST_REALLOC_GROW ? f->size * 3 : f->size / 3);
      uint8_t* q = (uint8_t*)mia_realloc(f->p, to);
      const size_t keep = (to < f->size ? to : f->size);
      if (q == NULL || pattern_check(q, keep, f->seed) != keep) f->bad++;
      mia_free(q);
      break;
    }
    case FIRST_REALLOCARRAY_NULL: {
      uint8_t* q = (uint8_t*)mia_reallocarray(NULL, 10, 10);
      if (q == NULL) f->bad++;
      mia_free(q);
      break;
    }
    case FIRST_REALLOC_ALIGNED: {
      uint8_t* q = (uint8_t*)mia_realloc_aligned(NULL, 100, 256);
      if (q == NULL || ((uintptr_t)opaque_ptr(q) & 255) != 0) f->bad++;
      mia_free(q);
      break;
    }
    case FIRST_FREE:
    case FIRST_FREE_HUGE:
      if (pattern_check(f->p, f->size, f->seed) != f->size) f->bad++;
      mia_free(f->p);
      break; /* and exit without any other call */
    case FIRST_FREE_NULL:
      mia_free(NULL);
      break;
    case FIRST_FREE_SIZE:
      mia_free_size(f->p, f->size);
      break;
    case FIRST_USABLE_SIZE:
      if (mia_usable_size(f->p) < f->size) f->bad++;
      break;
    default:
      f->bad++;
  }
  return NULL;
}

TEST(hard_first_call_of_a_thread) {
  const size_t rounds = runner.quick ? 3 : 20;
  size_t bad = 0, failed_create = 0;
  const long threads_before = hard_threads_with_heap();
  for (size_t r = 0; r < rounds; r++) {
    first_call f[FIRST_KINDS];
    pthread_t t[FIRST_KINDS];
    bool started[FIRST_KINDS];
    for (int k = 0; k < FIRST_KINDS; k++) {
      f[k].kind = k;
      f[k].bad = 0;
      f[k].size = (k == FIRST_FREE_HUGE ? 6 * MiB : 100 + (size_t)k * 1000 + r * 8);
      f[k].seed = 500 + (uint64_t)k + r;
      f[k].p = mia_malloc(f[k].size);
      if (f[k].p == NULL) { bad++; started[k] = false; continue; }
      pattern_fill(f[k].p, f[k].size, f[k].seed);
      started[k] = pthread_create(&t[k], NULL, first_call_thread, &f[k]) == 0;
      if (!started[k]) failed_create++;
    }
    for (int k = 0; k < FIRST_KINDS; k++) {
      if (!started[k]) { mia_free(f[k].p); continue; }
      pthread_join(t[k], NULL);
      bad += f[k].bad;
      /* blocks the thread did not free are still ours, intact */
      const bool freed_by_thread = (k == FIRST_REALLOC_GROW || k == FIRST_REALLOC_SHRINK || k == FIRST_FREE ||
                                    k == FIRST_FREE_HUGE || k == FIRST_FREE_SIZE);
      if (!freed_by_thread) {
        if (pattern_check(f[k].p, f[k].size, f[k].seed) != f[k].size) bad++;
        mia_free(f[k].p);
      }
    }
  }
  CHECK_EQ_SZ(failed_create, 0);
  CHECK_EQ_SZ(bad, 0);
  /* threads whose only call was a free or usable_size never set up a heap;
     those that did have torn theirs down at exit */
  mia_collect(true);
  CHECK_EQ_INT(hard_threads_with_heap(), threads_before);
  void* p = mia_malloc(1000);
  CHECK_NOT_NULL(p);
  mia_free(p);
}

/* ---------------------------------------------------------------------------
   10,000 short-lived threads, each leaving one block that another frees
--------------------------------------------------------------------------- */

#define SHORT_BATCH 50

typedef struct short_block {
  void* p;
  size_t size;
  uint64_t seed;
  mia_heap_t* heap; /* a heap the thread made and left behind, or NULL */
} short_block;

static short_block short_blocks[2][SHORT_BATCH];
static _Atomic size_t short_nulls;

static size_t short_size(size_t i) {
  if (i % 1000 == 999) return 5 * MiB + i;             /* huge */
  if (i % 100 == 37) return 300 * KiB + i;             /* large */
  if (i % 10 == 3) return 8 * KiB + (i % 4096);       /* medium */
  return 8 + (i * 37) % 900;                          /* small */
}

static void* short_thread(void* arg) {
  short_block* b = (short_block*)arg;
  const size_t i = (size_t)b->seed;
  if (i % 4 == 1) {
    /* from a heap of its own that the thread leaves behind: it outlives the
       thread (orphaned) until the freer deletes it */
    mia_heap_t* h = mia_heap_new();
    b->heap = h;
    b->p = (h != NULL) ? mia_heap_malloc(h, b->size) : NULL;
  } else if (i % 8 == 2) {
    b->p = mia_malloc_aligned(b->size, 128);
  } else {
    b->p = mia_malloc(b->size);
    void* scratch = mia_malloc(b->size / 2 + 1); /* and one freed by itself */
    mia_free(scratch);
  }
  if (b->p == NULL) atomic_fetch_add(&short_nulls, 1);
  else pattern_fill(b->p, b->size, b->seed);
  return NULL;
}

typedef struct short_freer_arg {
  short_block* blocks;
  size_t n;
  size_t bad;
} short_freer_arg;

static void* short_freer(void* arg) {
  short_freer_arg* a = (short_freer_arg*)arg;
  for (size_t i = 0; i < a->n; i++) {
    short_block* b = &a->blocks[i];
    if (b->p == NULL) continue;
    if (pattern_check(b->p, b->size, b->seed) != b->size) a->bad++;
    mia_free(b->p);
    b->p = NULL;
  }
  for (size_t i = 0; i < a->n; i++) {
    if (a->blocks[i].heap != NULL) mia_heap_delete(a->blocks[i].heap); /* by a non-owner, after its owner exited */
    a->blocks[i].heap = NULL;
  }
  return NULL;
}

TEST(hard_short_lived_threads) {
  const size_t total = runner.quick ? 1000 : 10000;
  const size_t commit0 = hard_commit();
  const long threads_before = hard_threads_with_heap();
  atomic_store(&short_nulls, 0);
  size_t bad = 0, failed_create = 0;
  const double t0 = runner_now();
  pthread_t freer;
  bool freer_running = false;
  short_freer_arg fa = {NULL, 0, 0};
  for (size_t base = 0, batch = 0; base < total; base += SHORT_BATCH, batch++) {
    short_block* blocks = short_blocks[batch & 1];
    pthread_t t[SHORT_BATCH];
    bool started[SHORT_BATCH];
    for (size_t k = 0; k < SHORT_BATCH; k++) {
      blocks[k].p = NULL;
      blocks[k].heap = NULL;
      blocks[k].seed = base + k;
      blocks[k].size = short_size(base + k);
      started[k] = pthread_create(&t[k], NULL, short_thread, &blocks[k]) == 0;
      if (!started[k]) failed_create++;
    }
    for (size_t k = 0; k < SHORT_BATCH; k++) if (started[k]) pthread_join(t[k], NULL);
    /* the previous batch's freer must be done before its array is reused */
    if (freer_running) { pthread_join(freer, NULL); bad += fa.bad; }
    /* another thread frees this batch while the next one starts and exits */
    fa.blocks = blocks;
    fa.n = SHORT_BATCH;
    fa.bad = 0;
    freer_running = pthread_create(&freer, NULL, short_freer, &fa) == 0;
    if (!freer_running) { failed_create++; short_freer(&fa); bad += fa.bad; }
  }
  if (freer_running) { pthread_join(freer, NULL); bad += fa.bad; }
  const double secs = runner_now() - t0;
  CHECK_EQ_SZ(failed_create, 0);
  CHECK_EQ_SZ(bad, 0);
  CHECK_EQ_SZ(atomic_load(&short_nulls), 0);
  const size_t commit1 = hard_commit();
  mia_collect(true);
  const size_t commit2 = hard_commit();
  CHECK_EQ_INT(hard_threads_with_heap(), threads_before);
  /* every thread's segment was abandoned, its block freed by another thread,
     and the segments adopted and released by the forced collect */
  CHECKF(commit2 <= commit0 + 16 * MiB, "committed %.1f MiB before, %.1f MiB after mia_collect(true)",
         (double)commit0 / (double)MiB, (double)commit2 / (double)MiB);
  printf("     %zu threads in %.2f s; committed %.1f MiB before, %.1f MiB after, %.1f MiB after mia_collect(true)\n", total, secs,
         (double)commit0 / (double)MiB, (double)commit1 / (double)MiB, (double)commit2 / (double)MiB);
}

/* ---------------------------------------------------------------------------
   Allocation and free in pthread-key destructors that run after mialloc's
   own thread-exit clean-up
--------------------------------------------------------------------------- */

/* mialloc's key is created at process start-up (the first allocation), so
   any key created later has a higher index, and glibc runs destructors in
   key order within each round: ours runs after mialloc has torn the thread
   down. The test creates its key after the calling thread's first
   allocation, as a program would. */
static pthread_key_t dtor_key;
#define DTOR_THREADS 32
#define DTOR_ROUNDS 2
typedef struct dtor_state {
  void* before_exit;       /* allocated by the thread before it exited */
  size_t before_size;
  void* handed;            /* allocated in the destructor, freed by the main thread */
  size_t handed_size;
  int rounds;
  size_t bad;
  size_t nulls;
} dtor_state;
static dtor_state dtor_states[DTOR_THREADS];

static void dtor_key_destructor(void* value) {
  dtor_state* s = (dtor_state*)value;
  s->rounds++;
  static const size_t sizes[] = {16, 1000, 20000, 300000, 3 * MiB};
  void* ps[HARD_LEN(sizes)];
  for (size_t i = 0; i < HARD_LEN(sizes); i++) {
    ps[i] = mia_malloc(sizes[i]);
    if (ps[i] == NULL) { s->nulls++; continue; }
    pattern_fill(ps[i], sizes[i], 40 + i);
  }
  for (size_t i = 0; i < HARD_LEN(sizes); i++) {
    if (ps[i] == NULL) continue;
    if (pattern_check(ps[i], sizes[i], 40 + i) != sizes[i]) s->bad++;
    mia_free(ps[i]);
  }
  if (s->rounds == 1) {
    /* free what the thread allocated before it exited (its heap is gone) */
    if (pattern_check(s->before_exit, s->before_size, 7) != s->before_size) s->bad++;
    mia_free(s->before_exit);
    s->before_exit = NULL;
    mia_heap_t* h = mia_heap_new();
    if (h == NULL) s->nulls++;
    else {
      void* q = mia_heap_malloc(h, 500);
      if (q == NULL) s->nulls++;
      mia_heap_destroy(h);
    }
  }
  if (s->rounds == DTOR_ROUNDS) {
    s->handed_size = 4000;
    s->handed = mia_malloc(s->handed_size);
    if (s->handed == NULL) s->nulls++;
    else pattern_fill(s->handed, s->handed_size, 99);
  } else {
    pthread_setspecific(dtor_key, s); /* run again in the next round */
  }
}

static void* dtor_thread(void* arg) {
  dtor_state* s = (dtor_state*)arg;
  s->before_size = 777;
  s->before_exit = mia_malloc(s->before_size); /* the thread's first allocation */
  if (s->before_exit == NULL) { s->nulls++; return NULL; }
  pattern_fill(s->before_exit, s->before_size, 7);
  pthread_setspecific(dtor_key, s);
  return NULL;
}

TEST(hard_key_destructor_allocates) {
#if defined(_WIN32)
  SKIP("mialloc's thread exit runs from an FLS callback, not a pthread key: no order to rely on");
#endif
  void* first = mia_malloc(64); /* this thread's first allocation came long before; the key comes after it */
  mia_free(first);
  CHECK_EQ_INT(pthread_key_create(&dtor_key, dtor_key_destructor), 0);
  const long threads_before = hard_threads_with_heap();
  const size_t commit0 = hard_commit();
  pthread_t t[DTOR_THREADS];
  size_t failed_create = 0;
  bool started[DTOR_THREADS];
  for (size_t i = 0; i < DTOR_THREADS; i++) {
    memset(&dtor_states[i], 0, sizeof(dtor_states[i]));
    started[i] = (pthread_create(&t[i], NULL, dtor_thread, &dtor_states[i]) == 0);
    if (!started[i]) failed_create++;
  }
  /* join first: the key destructors write the states while their threads exit */
  for (size_t i = 0; i < DTOR_THREADS; i++) if (started[i]) pthread_join(t[i], NULL);
  for (size_t i = 0; i < DTOR_THREADS; i++) if (!started[i]) dtor_states[i].rounds = -1;
  size_t bad = 0, nulls = 0, wrong_rounds = 0;
  for (size_t i = 0; i < DTOR_THREADS; i++) {
    dtor_state* s = &dtor_states[i];
    if (s->rounds == -1) continue;
    bad += s->bad;
    nulls += s->nulls;
    if (s->rounds != DTOR_ROUNDS) wrong_rounds++;
    if (s->handed != NULL) {
      if (pattern_check(s->handed, s->handed_size, 99) != s->handed_size) bad++;
      mia_free(s->handed);
    }
  }
  pthread_key_delete(dtor_key);
  CHECK_EQ_SZ(failed_create, 0);
  CHECK_EQ_SZ(wrong_rounds, 0);
  CHECK_EQ_SZ(bad, 0);
  CHECK_EQ_SZ(nulls, 0);
  /* the heaps the destructors set up again were torn down too (mialloc's
     key was set again, so its destructor ran in the next round) */
  mia_collect(true);
  CHECK_EQ_INT(hard_threads_with_heap(), threads_before);
  const size_t commit1 = hard_commit();
  CHECKF(commit1 <= commit0 + 8 * MiB, "committed %.1f MiB before, %.1f MiB after", (double)commit0 / (double)MiB,
         (double)commit1 / (double)MiB);
}

/* ---------------------------------------------------------------------------
   A producer that exits while a consumer that never allocated frees its blocks
--------------------------------------------------------------------------- */

#define PC_CAP 1024
typedef struct pc_queue {
  pthread_mutex_t lock;
  pthread_cond_t not_empty, not_full;
  short_block items[PC_CAP];
  size_t head, count;
  bool producer_gone;     /* set by the main thread once the producer has been joined */
  size_t produced, consumed, bad, nulls;
  size_t after_exit;      /* blocks the consumer freed after the producer had exited */
} pc_queue;

static void* pc_producer(void* arg) {
  pc_queue* q = (pc_queue*)arg;
  const size_t n = runner.quick ? 5000 : 40000;
  uint64_t rng = 0x1234567ULL;
  for (size_t i = 0; i < n; i++) {
    short_block b = {NULL, 0, 0, NULL};
    const uint64_t r = rng_next(&rng);
    b.size = (r % 200 == 0) ? (size_t)(r % (2 * MiB)) + 1 : (size_t)(r % 3000) + 1;
    b.seed = r | 1;
    b.p = mia_malloc(b.size);
    if (b.p == NULL) { q->nulls++; continue; }
    pattern_fill(b.p, b.size, b.seed);
    pthread_mutex_lock(&q->lock);
    while (q->count == PC_CAP) pthread_cond_wait(&q->not_full, &q->lock);
    q->items[(q->head + q->count) % PC_CAP] = b;
    q->count++;
    q->produced++;
    pthread_cond_signal(&q->not_empty);
    pthread_mutex_unlock(&q->lock);
  }
  return NULL; /* exits with more than PC_CAP / 2 of its blocks still queued */
}

/* Takes blocks only while more than half the queue is full, until the
   producer is gone: then it drains the rest, into abandoned segments. */
static void* pc_consumer(void* arg) {
  pc_queue* q = (pc_queue*)arg;
  for (;;) {
    pthread_mutex_lock(&q->lock);
    for (;;) {
      if (q->count > PC_CAP / 2 || (q->producer_gone && q->count > 0)) break;
      if (q->producer_gone) { pthread_mutex_unlock(&q->lock); return NULL; }
      pthread_cond_wait(&q->not_empty, &q->lock);
    }
    short_block b = q->items[q->head];
    q->head = (q->head + 1) % PC_CAP;
    q->count--;
    if (q->producer_gone) q->after_exit++;
    pthread_cond_signal(&q->not_full);
    pthread_mutex_unlock(&q->lock);
    if (pattern_check(b.p, b.size, b.seed) != b.size) q->bad++;
    mia_free(b.p); /* this thread never allocates */
    q->consumed++;
  }
}

TEST(hard_consumer_never_allocated) {
  static pc_queue q;
  memset(&q, 0, sizeof q);
  pthread_mutex_init(&q.lock, NULL);
  pthread_cond_init(&q.not_empty, NULL);
  pthread_cond_init(&q.not_full, NULL);
  const long threads_before = hard_threads_with_heap();
  const size_t commit0 = hard_commit();
  pthread_t prod, cons;
  CHECK_EQ_INT(pthread_create(&cons, NULL, pc_consumer, &q), 0);
  CHECK_EQ_INT(pthread_create(&prod, NULL, pc_producer, &q), 0);
  pthread_join(prod, NULL);
  pthread_mutex_lock(&q.lock);
  q.producer_gone = true;
  pthread_cond_broadcast(&q.not_empty);
  pthread_mutex_unlock(&q.lock);
  pthread_join(cons, NULL);
  CHECK_EQ_SZ(q.bad, 0);
  CHECK_EQ_SZ(q.nulls, 0);
  CHECK_EQ_SZ(q.produced, q.consumed);
  CHECK_GE_SZ(q.after_exit, PC_CAP / 2); /* those went into the exited producer's segments */
  mia_collect(true);
  CHECK_EQ_INT(hard_threads_with_heap(), threads_before); /* the consumer never had a heap */
  const size_t commit1 = hard_commit();
  CHECKF(commit1 <= commit0 + 8 * MiB, "committed %.1f MiB before, %.1f MiB after", (double)commit0 / (double)MiB,
         (double)commit1 / (double)MiB);
  pthread_mutex_destroy(&q.lock);
  pthread_cond_destroy(&q.not_empty);
  pthread_cond_destroy(&q.not_full);
}

/* ---------------------------------------------------------------------------
   Heaps created, deleted and destroyed while other threads allocate and free
--------------------------------------------------------------------------- */

#define HR_MAIL 4096
typedef struct hr_mailbox {
  pthread_mutex_t lock;
  short_block items[HR_MAIL];
  size_t n;
  _Atomic size_t sent, freed;
} hr_mailbox;

static hr_mailbox hr_box;          /* owner -> freeing thread */
static hr_mailbox hr_swap[2];      /* between the two churning threads */
static _Atomic bool hr_stop;
static _Atomic size_t hr_bad, hr_nulls;

static bool hr_put(hr_mailbox* m, short_block b) {
  pthread_mutex_lock(&m->lock);
  const bool ok = m->n < HR_MAIL;
  if (ok) { m->items[m->n++] = b; atomic_fetch_add(&m->sent, 1); }
  pthread_mutex_unlock(&m->lock);
  return ok;
}
static size_t hr_take(hr_mailbox* m, short_block* out, size_t max) {
  pthread_mutex_lock(&m->lock);
  size_t k = m->n < max ? m->n : max;
  m->n -= k;
  memcpy(out, m->items + m->n, k * sizeof(short_block));
  pthread_mutex_unlock(&m->lock);
  return k;
}
static void hr_check_free(short_block* b) {
  if (pattern_check(b->p, b->size, b->seed) != b->size) atomic_fetch_add(&hr_bad, 1);
  mia_free(b->p);
}

/* Frees what the owner sends, across threads, as it arrives. */
static void* hr_freer(void* arg) {
  (void)arg;
  short_block got[64];
  for (;;) {
    const size_t k = hr_take(&hr_box, got, 64);
    for (size_t i = 0; i < k; i++) { hr_check_free(&got[i]); atomic_fetch_add(&hr_box.freed, 1); }
    if (k == 0) {
      if (atomic_load(&hr_stop)) break;
      sched_yield();
    }
  }
  return NULL;
}

/* Two of these allocate and swap blocks with each other the whole time. */
static void* hr_churner(void* arg) {
  const size_t me = (size_t)(uintptr_t)arg;
  uint64_t rng = 0xABCDEF01ULL + me;
  short_block got[64];
  while (!atomic_load(&hr_stop)) {
    short_block b = {NULL, 0, 0, NULL};
    b.size = rng_range(&rng, 1, 4000);
    b.seed = rng_next(&rng) | 1;
    b.p = mia_malloc(b.size);
    if (b.p == NULL) { atomic_fetch_add(&hr_nulls, 1); continue; }
    pattern_fill(b.p, b.size, b.seed);
    if (!hr_put(&hr_swap[1 - me], b)) hr_check_free(&b);
    const size_t k = hr_take(&hr_swap[me], got, 64);
    for (size_t i = 0; i < k; i++) hr_check_free(&got[i]);
  }
  return NULL;
}

/* The owner: rounds of heap_new, allocations from it (half sent to the
   freer), then heap_destroy (after the freer has freed what was sent, as the
   API requires) or heap_delete (at once: its blocks stay valid). */
static void* hr_owner(void* arg) {
  const size_t rounds = (size_t)(uintptr_t)arg;
  uint64_t rng = 0x5151ULL;
  short_block* mine = (short_block*)malloc(400 * sizeof(short_block));
  short_block* kept = (short_block*)malloc(400 * 64 * sizeof(short_block)); /* blocks of deleted heaps, freed at the end */
  size_t nkept = 0;
  if (mine == NULL || kept == NULL) { atomic_fetch_add(&hr_nulls, 1); free(mine); free(kept); return NULL; }
  for (size_t r = 0; r < rounds; r++) {
    mia_heap_t* h = mia_heap_new();
    if (h == NULL) { atomic_fetch_add(&hr_nulls, 1); continue; }
    size_t nmine = 0;
    for (size_t i = 0; i < 400; i++) {
      short_block b = {NULL, 0, 0, NULL};
      const uint64_t x = rng_next(&rng);
      b.size = (x % 50 == 0) ? (size_t)(x % (600 * KiB)) + 1 : (size_t)(x % 2000) + 1;
      b.seed = x | 1;
      b.p = (i % 7 == 0) ? mia_heap_malloc_aligned(h, b.size, 64) : mia_heap_malloc(h, b.size);
      if (b.p == NULL) { atomic_fetch_add(&hr_nulls, 1); continue; }
      pattern_fill(b.p, b.size, b.seed);
      if (i % 2 == 0 && hr_put(&hr_box, b)) continue;
      mine[nmine++] = b;
    }
    /* free a third locally now, so frees of both kinds reach the heap's pages */
    size_t keep_from = nmine / 3;
    for (size_t i = 0; i < keep_from; i++) hr_check_free(&mine[i]);
    if (r % 2 == 0) {
      const size_t sent = atomic_load(&hr_box.sent);
      while (atomic_load(&hr_box.freed) < sent) sched_yield(); /* nothing of h left in flight */
      for (size_t i = keep_from; i < nmine; i++) {
        if (pattern_check(mine[i].p, mine[i].size, mine[i].seed) != mine[i].size) atomic_fetch_add(&hr_bad, 1);
      }
      mia_heap_destroy(h); /* frees the rest of its blocks at once */
    } else {
      mia_heap_delete(h); /* the rest stay valid, owned by the backing heap */
      for (size_t i = keep_from; i < nmine && nkept < 400 * 64; i++) kept[nkept++] = mine[i];
      if (nkept > 400 * 60) { for (size_t i = 0; i < nkept; i++) hr_check_free(&kept[i]); nkept = 0; }
    }
  }
  for (size_t i = 0; i < nkept; i++) hr_check_free(&kept[i]);
  free(mine);
  free(kept);
  return NULL;
}

TEST(hard_heap_destroy_races_cross_frees) {
  const size_t rounds = runner.quick ? 30 : 120;
  pthread_mutex_init(&hr_box.lock, NULL);
  hr_box.n = 0;
  atomic_store(&hr_box.sent, 0);
  atomic_store(&hr_box.freed, 0);
  for (int i = 0; i < 2; i++) { pthread_mutex_init(&hr_swap[i].lock, NULL); hr_swap[i].n = 0; }
  atomic_store(&hr_stop, false);
  atomic_store(&hr_bad, 0);
  atomic_store(&hr_nulls, 0);
  pthread_t owner, freer, churn[2];
  CHECK_EQ_INT(pthread_create(&freer, NULL, hr_freer, NULL), 0);
  CHECK_EQ_INT(pthread_create(&churn[0], NULL, hr_churner, (void*)(uintptr_t)0), 0);
  CHECK_EQ_INT(pthread_create(&churn[1], NULL, hr_churner, (void*)(uintptr_t)1), 0);
  CHECK_EQ_INT(pthread_create(&owner, NULL, hr_owner, (void*)(uintptr_t)rounds), 0);
  pthread_join(owner, NULL);
  atomic_store(&hr_stop, true);
  pthread_join(freer, NULL);
  pthread_join(churn[0], NULL);
  pthread_join(churn[1], NULL);
  /* what is still in the mailboxes */
  short_block got[64];
  for (int i = 0; i < 2; i++) {
    size_t k;
    while ((k = hr_take(&hr_swap[i], got, 64)) > 0) for (size_t j = 0; j < k; j++) hr_check_free(&got[j]);
  }
  size_t k;
  while ((k = hr_take(&hr_box, got, 64)) > 0) for (size_t j = 0; j < k; j++) hr_check_free(&got[j]);
  CHECK_EQ_SZ(atomic_load(&hr_bad), 0);
  CHECK_EQ_SZ(atomic_load(&hr_nulls), 0);
  CHECK_GT_SZ(atomic_load(&hr_box.sent), 0);
  pthread_mutex_destroy(&hr_box.lock);
  for (int i = 0; i < 2; i++) pthread_mutex_destroy(&hr_swap[i].lock);
  mia_collect(true);
}

/* ---------------------------------------------------------------------------
   Fork while 8 threads allocate and free across threads
--------------------------------------------------------------------------- */

#define FORK_SLOTS 512
#define FORK_THREADS 8
#if HARD_HAS_FORK
/* Each slot holds a live block whose first word is its size (the rest the
   pattern of that size), or NULL. A thread swaps a new block in and frees
   what it took out, so whatever a slot holds at fork time is live. */
static _Atomic(uintptr_t) fork_slots[FORK_SLOTS];
static _Atomic bool fork_stop;
static _Atomic size_t fork_bad, fork_nulls;

static bool fork_block_ok(const void* p) {
  size_t size;
  memcpy(&size, p, sizeof size);
  if (size < sizeof(size_t) || size > 4 * MiB) return false;
  return pattern_check((const uint8_t*)p + sizeof(size_t), size - sizeof(size_t), size) == size - sizeof(size_t);
}
static void* fork_block_new(size_t size) {
  uint8_t* p = (uint8_t*)mia_malloc(size);
  if (p == NULL) return NULL;
  memcpy(p, &size, sizeof size);
  pattern_fill(p + sizeof(size_t), size - sizeof(size_t), size);
  return p;
}

static void* fork_stress(void* arg) {
  uint64_t rng = 0xF0F0F0F0ULL + (uint64_t)(uintptr_t)arg;
  /* the lowest priority: with 8 of these on 2 cores the forking thread and
     its children would otherwise wait for a CPU most of the time; the
     threads still run between forks and are caught at random points */
#if defined(__linux__)
  (void)setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), 19);
#endif
  while (!atomic_load_explicit(&fork_stop, memory_order_relaxed)) {
    const uint64_t r = rng_next(&rng);
    /* small and medium blocks: large ones freed across threads stay
       resident for long (tests/memory.c, mem_cross_thread_large_blocks) and
       every fork would copy their page tables; the children allocate large
       and huge blocks themselves */
    const size_t size = (r % 500 == 0) ? (size_t)(r % (100 * KiB)) + 16 : (size_t)(r % 2000) + 16;
    void* p = fork_block_new(size);
    if (p == NULL) { atomic_fetch_add(&fork_nulls, 1); continue; }
    const uintptr_t old = atomic_exchange(&fork_slots[(r >> 20) % FORK_SLOTS], (uintptr_t)p);
    if (old != 0) {
      if (!fork_block_ok((void*)old)) atomic_fetch_add(&fork_bad, 1);
      mia_free((void*)old);
    }
  }
  return NULL;
}

/* A hung child says where it hangs before SIGALRM ends it (glibc). */
static void fork_child_alarm(int sig) {
#if defined(__GLIBC__)
  void* frames[32];
  static const char msg[] = "fork child hung; its stack:\n";
  if (write(2, msg, sizeof msg - 1) < 0) { }
  backtrace_symbols_fd(frames, backtrace(frames, 32), 2);
#endif
  signal(sig, SIG_DFL);
  raise(sig);
}

/* The child: free every inherited block, allocate in every size class. */
static void fork_child(void) {
  signal(SIGALRM, fork_child_alarm);
  alarm(10); /* a hang in the child ends it by SIGALRM: counted as a failure */
  int bad = 0;
  for (size_t i = 0; i < FORK_SLOTS; i++) {
    const uintptr_t p = atomic_load(&fork_slots[i]);
    if (p == 0) continue;
    if (!fork_block_ok((void*)p)) bad |= 1;
    mia_free((void*)p);
  }
  /* sizes stepping by an eighth: every bin of the small, medium and large
     pages, then huge */
  void* held[160];
  size_t nheld = 0;
  for (size_t size = 8; size <= 3 * MiB; size += (size < 64 ? 8 : size / 8)) {
    uint8_t* p = (uint8_t*)mia_malloc(size);
    if (p == NULL) { bad |= 2; continue; }
    memset(p, 0x5A, size < 256 ? size : 256);
    p[size - 1] = 0x5A;
    if (nheld < HARD_LEN(held)) held[nheld++] = p;
    else mia_free(p);
  }
  void* huge = mia_malloc(9 * MiB);
  if (huge == NULL) bad |= 2;
  else { memset(huge, 1, 4096); ((uint8_t*)huge)[9 * MiB - 1] = 1; }
  void* aligned = mia_malloc_aligned(1000, 4096);
  if (aligned == NULL || ((uintptr_t)aligned & 4095) != 0) bad |= 4;
  mia_free(aligned);
  mia_free(huge);
  for (size_t i = 0; i < nheld; i++) {
    if (!mem_is(held[i], 0x5A, mia_usable_size(held[i]) < 8 ? mia_usable_size(held[i]) : 8)) bad |= 8;
    mia_free(held[i]);
  }
  mia_collect(true);
  _exit(bad);
}

typedef struct fork_result {
  size_t forks, ok, failed, hung, fork_errors;
  int first_status;
} fork_result;

static void* fork_driver(void* arg) {
  fork_result* res = (fork_result*)arg;
  const size_t n = res->forks;
  res->first_status = -1;
  for (size_t i = 0; i < n; i++) {
    const pid_t pid = fork();
    if (pid == 0) fork_child();
    if (pid < 0) { res->fork_errors++; continue; }
    /* the child's alarm ends a hung child; the test's alarm a hung parent */
    int status = 0;
    pid_t w;
    while ((w = waitpid(pid, &status, 0)) < 0 && errno == EINTR) { }
    if (w == pid && WIFSIGNALED(status) && WTERMSIG(status) == SIGALRM) {
      res->hung++;
      continue;
    }
    if (w == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0) res->ok++;
    else {
      res->failed++;
      if (res->first_status == -1) res->first_status = status;
    }
  }
  return NULL;
}

#endif /* HARD_HAS_FORK */

TEST(hard_fork_while_threads_allocate) {
#if !HARD_HAS_FORK
  SKIP("no fork() on Windows");
#else
  const size_t forks = runner.quick ? (HARD_TSAN ? 10 : 50) : HARD_FORKS_FULL ? 1000 : 250;
  for (size_t i = 0; i < FORK_SLOTS; i++) atomic_store(&fork_slots[i], (uintptr_t)0);
  atomic_store(&fork_stop, false);
  atomic_store(&fork_bad, 0);
  atomic_store(&fork_nulls, 0);
  alarm(300); /* the whole test hanging ends the runner (and fails the step) */
  pthread_t t[FORK_THREADS], driver;
  size_t started = 0;
  for (size_t i = 0; i < FORK_THREADS; i++) if (pthread_create(&t[started], NULL, fork_stress, (void*)(uintptr_t)i) == 0) started++;
  CHECK_EQ_SZ(started, FORK_THREADS);
  usleep(20000); /* let the slots fill */
  fork_result res;
  memset(&res, 0, sizeof res);
  res.forks = forks;
  const double t0 = runner_now();
  CHECK_EQ_INT(pthread_create(&driver, NULL, fork_driver, &res), 0);
  pthread_join(driver, NULL);
  const double secs = runner_now() - t0;
  atomic_store(&fork_stop, true);
  for (size_t i = 0; i < started; i++) pthread_join(t[i], NULL);
  alarm(0);
  for (size_t i = 0; i < FORK_SLOTS; i++) {
    const uintptr_t p = atomic_exchange(&fork_slots[i], (uintptr_t)0);
    if (p == 0) continue;
    if (!fork_block_ok((void*)p)) atomic_fetch_add(&fork_bad, 1);
    mia_free((void*)p);
  }
  CHECK_EQ_SZ(res.fork_errors, 0);
  CHECK_EQ_SZ(res.hung, 0);
  CHECKF(res.failed == 0, "%zu children failed; the first: %s %d", res.failed,
         WIFSIGNALED(res.first_status) ? "signal" : "exit code",
         WIFSIGNALED(res.first_status) ? WTERMSIG(res.first_status) : WEXITSTATUS(res.first_status));
  CHECK_EQ_SZ(res.ok, forks);
  CHECK_EQ_SZ(atomic_load(&fork_bad), 0);
  CHECK_EQ_SZ(atomic_load(&fork_nulls), 0);
  printf("     %zu forks in %.2f s while %d threads allocated\n", forks, secs, FORK_THREADS);
#endif
}

/* Padding builds (MIALLOC_DEBUG >= 1, MIALLOC_SECURE >= 4): one wrong byte
   at any offset of the checked padding after a block of any small size is
   reported as an overflow at exactly that offset (the check reads the fill a
   word at a time; this pins the byte it names). With an error handler
   installed the bad free is reported and skipped. */
#if ((defined(MIALLOC_DEBUG) && MIALLOC_DEBUG >= 1) || (defined(MIALLOC_SECURE) && MIALLOC_SECURE >= 4)) && UINTPTR_MAX > 0xFFFFFFFFu
#define HARD_PADDING_BUILD 1
typedef struct pad_capture { int err; size_t errors; char msg[256]; } pad_capture;
static void pad_on_error(int err, void* arg) { pad_capture* c = (pad_capture*)arg; c->err = err; c->errors++; }
static void pad_on_output(const char* msg, void* arg) {
  pad_capture* c = (pad_capture*)arg;
  snprintf(c->msg, sizeof c->msg, "%s", msg);
}
TEST(hard_padding_overflow_names_offset) {
  static pad_capture cap;
  memset(&cap, 0, sizeof cap);
  mia_register_error(pad_on_error, &cap);
  mia_register_output(pad_on_output, &cap);
  size_t cases = 0, wrong = 0, missed = 0, expected = 0;
  for (size_t size = 1; size <= 100; size++) {
    /* 64-bit layout: blocks up to 128 B come in 16 B steps; the last 16
       bytes hold the canary word and the padding length; the fill between
       the requested size and the canary is checked for its first 32 bytes */
    const size_t block = (size + 16 + 15) / 16 * 16;
    const size_t canary = block - 16;
    for (size_t k = size; k < canary + 8; k++) {
      if (k < canary && k >= size + 32) continue; /* fill beyond the checked part */
      expected++;
      unsigned char* p = (unsigned char*)mia_malloc(size);
      if (p == NULL) { missed++; continue; }
      p[k] = (unsigned char)(p[k] ^ 0x5A);
      const size_t errors = cap.errors;
      mia_free(p); /* reported and skipped: the block stays allocated */
      if (cap.errors == errors) { if (missed++ == 0) printf("     size %zu, byte %zu: not detected\n", size, k); continue; }
      cases++;
      char expect[64];
      snprintf(expect, sizeof expect, "was written at offset %zu\n", k);
      if (cap.err != EFAULT || strstr(cap.msg, expect) == NULL) {
        if (wrong++ == 0) printf("     size %zu, byte %zu: error %d, message %s", size, k, cap.err, cap.msg);
      }
    }
  }
  mia_register_error(NULL, NULL);
  mia_register_output(NULL, NULL);
  CHECK_EQ_SZ(wrong, 0);
  CHECK_EQ_SZ(missed, 0);
  CHECK_EQ_SZ(cases, expected);
  CHECK_GT_SZ(cases, 1000);
}
#else
#define HARD_PADDING_BUILD 0
#endif

void tests_hardening(void) {
  RUN(hard_sizes_too_large);
#if HARD_PADDING_BUILD
  RUN(hard_padding_overflow_names_offset);
#endif
  RUN(hard_count_overflow);
  RUN(hard_invalid_alignment);
  RUN(hard_failed_realloc_keeps_block);
  RUN(hard_first_call_of_a_thread);
  RUN(hard_short_lived_threads);
  RUN(hard_key_destructor_allocates);
  RUN(hard_consumer_never_allocated);
  RUN(hard_heap_destroy_races_cross_frees);
  RUN(hard_fork_while_threads_allocate);
}
