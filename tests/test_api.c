/* test_api.c - every public function of mialloc.h, its edge cases and its
   documented contracts (sizes, errno values, alignment, zeroing, in-place
   realloc, heaps, introspection, options, callbacks).

   Single-threaded except api_thread_init_done, which runs a helper thread.
   Zeroing tests first dirty the memory (allocate many blocks of the size, fill
   them with 0xAB, free them) so a zeroing call that skips its memset is seen. */
#include "../mialloc.h"
#include "runner.h"

#include <errno.h>
#include <pthread.h>
#include <wchar.h>
#if defined(_WIN32)
#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN
#endif
#include <windows.h> /* GetSystemInfo: Windows has no sysconf */
#else
#include <unistd.h>
#endif

void tests_api(void);

/* ---------------------------------------------------------------------------
   Helpers
--------------------------------------------------------------------------- */

static size_t os_page_size(void) {
#if defined(_WIN32)
  SYSTEM_INFO si;
  GetSystemInfo(&si);
  return si.dwPageSize > 0 ? (size_t)si.dwPageSize : 4096;
#else
  long ps = sysconf(_SC_PAGESIZE);
  return ps > 0 ? (size_t)ps : 4096;
#endif
}

/* Through opaque_ptr: the alloc_align attribute would let the compiler fold the test to true. */
static bool is_aligned(const void* p, size_t align) {
  return align == 0 || ((uintptr_t)opaque_ptr(p) % align) == 0;
}

/* Allocate many blocks of `size` from `heap` (NULL: the default heap), fill
   their whole usable size with 0xAB and free them, so that the next
   allocations of this size are likely to reuse dirty memory. */
#define DIRTY_MAX 16384
static void* dirty_blocks[DIRTY_MAX];
static void dirty(mia_heap_t* heap, size_t size) {
  size_t count = (size == 0) ? 64 : (1 * MiB) / size;
  if (count < 4) count = 4;
  if (count > DIRTY_MAX) count = DIRTY_MAX;
  if (runner.quick && count > 1024) count = 1024;
  size_t n = 0;
  for (; n < count; n++) {
    void* p = (heap != NULL) ? mia_heap_malloc(heap, size) : mia_malloc(size);
    if (p == NULL) break;
    memset(p, 0xAB, mia_usable_size(p));
    dirty_blocks[n] = p;
  }
  while (n > 0) mia_free(dirty_blocks[--n]);
}

/* Count of live blocks in `heap` (visits every block). */
static bool count_visitor(const mia_heap_t* heap, const mia_heap_area_t* area, void* block, size_t block_size, void* arg) {
  (void)heap;
  (void)area;
  (void)block_size;
  if (block != NULL) (*(size_t*)arg)++;
  return true;
}
static size_t heap_live_blocks(const mia_heap_t* heap) {
  size_t n = 0;
  mia_heap_visit_blocks(heap, true, count_visitor, &n);
  return n;
}

/* Split n into count * size for the calloc-style calls. */
static void split_count(size_t n, size_t* count, size_t* size) {
  if (n >= 8 && n % 8 == 0) {
    *count = n / 8;
    *size = 8;
  } else {
    *count = n;
    *size = 1;
  }
}

/* Sizes used by the zeroing tests: every page kind, class edges, huge. */
static const size_t zero_sizes[] = {
  1, 8, 15, 16, 24, 100, 500, 1024, 1025, 4000, 8192, 8193, 16384, 65536, 100000, 131072, 131073, 600000, 3 * MiB,
};
#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* ---------------------------------------------------------------------------
   Basic allocation
--------------------------------------------------------------------------- */

TEST(api_version) {
  CHECK_EQ_INT(mia_version(), MIALLOC_VERSION);
  CHECK(MIALLOC_VERSION > 0);
}

TEST(api_malloc_zero_and_one) {
  void* a = mia_malloc(0);
  void* b = mia_malloc(0);
  CHECK_NOT_NULL(a);
  CHECK_NOT_NULL(b);
  CHECK_NE_PTR(a, b);
  void* c = mia_malloc(1);
  CHECK_NOT_NULL(c);
  CHECK_GE_SZ(mia_usable_size(c), 1);
  if (c != NULL) {
    *(volatile char*)c = 'x';
    CHECK(*(volatile char*)c == 'x');
  }
  void* d = mia_malloc(1);
  CHECK_NE_PTR(c, d);
  mia_free(a);
  mia_free(b);
  mia_free(c);
  mia_free(d);
  /* NULL is a no-op for every free form; usable size of NULL is 0 */
  mia_free(NULL);
  mia_cfree(NULL);
  mia_free_size(NULL, 0);
  mia_free_aligned(NULL, 64);
  mia_free_size_aligned(NULL, 0, 64);
  CHECK_EQ_SZ(mia_usable_size(NULL), 0);
  CHECK_EQ_SZ(mia_malloc_usable_size(NULL), 0);
}

/* Boundaries of the size classes from mia_good_size: where good_size(n) jumps. */
TEST(api_size_class_boundaries) {
  const size_t limit = 2 * MiB + 4096;
  size_t bad_ge = 0, bad_mono = 0, bad_waste = 0, first_bad = 0;
  size_t prev = mia_good_size(1);
  size_t nbound = 0;
  static size_t bounds[4096];
  for (size_t n = 1; n <= limit; n++) {
    size_t g = mia_good_size(n);
    if (g < n) { if (bad_ge++ == 0) first_bad = n; }
    if (n > 1 && g < prev) { if (bad_mono++ == 0) first_bad = n; }
    if (n >= 64 && g > n + n / 4 + 16) { if (bad_waste++ == 0) first_bad = n; }
    if (n > 1 && g != prev) {
      if (nbound < ARRAY_LEN(bounds)) bounds[nbound] = n;
      nbound++;
    }
    prev = g;
  }
  CHECKF(bad_ge == 0, "%zu sizes with good_size(n) < n, first at %zu", bad_ge, first_bad);
  CHECKF(bad_mono == 0, "%zu sizes where good_size decreases, first at %zu", bad_mono, first_bad);
  CHECKF(bad_waste == 0, "%zu sizes with good_size(n) > n + n/4 + 16, first at %zu", bad_waste, first_bad);
  /* with debug padding good_size(n) == n: every size is a boundary and only the first ones are tried */
  CHECKF(nbound >= 16, "%zu class boundaries", nbound);
  if (nbound > ARRAY_LEN(bounds)) nbound = ARRAY_LEN(bounds);
  /* every boundary b (first size of a class): b-1, b, b+1 */
  /* counted, then checked once: the number of boundaries depends on the word size */
  size_t differ = 0, ex_n[3] = {0, 0, 0}, ex_u[3] = {0, 0, 0}, ex_g[3] = {0, 0, 0};
  size_t nulls = 0, short_blocks = 0, first_null = 0, first_short = 0;
  for (size_t i = 0; i < nbound; i++) {
    for (size_t d = 0; d < 3; d++) {
      size_t n = bounds[i] - 1 + d;
      unsigned char* p = (unsigned char*)mia_malloc(n);
      if (p == NULL) { if (nulls++ == 0) first_null = n; continue; }
      size_t u = mia_usable_size(p), g = mia_good_size(n);
      if (u < n && short_blocks++ == 0) first_short = n;
      if (u != g) {
        if (differ < 3) { ex_n[differ] = n; ex_u[differ] = u; ex_g[differ] = g; }
        differ++;
      }
      p[0] = 1;
      p[u - 1] = 2;
      mia_free(p);
    }
  }
  CHECKF(nulls == 0, "%zu sizes gave NULL, first malloc(%zu)", nulls, first_null);
  CHECKF(short_blocks == 0, "%zu sizes have usable_size(malloc(n)) < n, first n=%zu", short_blocks, first_short);
  CHECKF(differ == 0,
         "%zu of %zu sizes have usable_size(malloc(n)) != good_size(n), e.g. n=%zu: %zu vs %zu, n=%zu: %zu vs %zu, n=%zu: %zu vs %zu",
         differ, 3 * nbound, ex_n[0], ex_u[0], ex_g[0], ex_n[1], ex_u[1], ex_g[1], ex_n[2], ex_u[2], ex_g[2]);
  CHECK_GE_SZ(mia_good_size(0), 0);
}

/* Just under, at and over the size where the page kind changes. */
TEST(api_page_kind_sizes) {
  static const size_t kinds[] = {1 * KiB, 8 * KiB, 16 * KiB, 128 * KiB, 2 * MiB};
  for (size_t k = 0; k < ARRAY_LEN(kinds); k++) {
    for (size_t d = 0; d < 3; d++) {
      size_t n = kinds[k] - 1 + d;
      unsigned char* p = (unsigned char*)mia_malloc(n);
      unsigned char* q = (unsigned char*)mia_malloc(n);
      CHECKF(p != NULL && q != NULL, "malloc(%zu)", n);
      if (p == NULL || q == NULL) { mia_free(p); mia_free(q); continue; }
      size_t up = mia_usable_size(p), uq = mia_usable_size(q);
      CHECKF(up >= n && uq >= n, "malloc(%zu): usable %zu, %zu", n, up, uq);
      uintptr_t pa = (uintptr_t)opaque_ptr(p), qa = (uintptr_t)opaque_ptr(q);
      CHECKF(pa + up <= qa || qa + uq <= pa, "malloc(%zu) twice: blocks overlap", n);
      pattern_fill(p, up, n);
      pattern_fill(q, uq, n + 1);
      CHECKF(pattern_check(p, up, n) == up && pattern_check(q, uq, n + 1) == uq, "malloc(%zu): contents", n);
      mia_free(p);
      mia_free(q);
    }
  }
}

TEST(api_huge_1gib) {
  size_t n = opaque_size(1 * GiB);
  volatile unsigned char* p = (volatile unsigned char*)mia_malloc(n);
  CHECK_NOT_NULL((const void*)p);
  if (p == NULL) return;
  CHECK_GE_SZ(mia_usable_size((const void*)p), n);
  p[0] = 0x11;
  p[n - 1] = 0x22;
  CHECK(p[0] == 0x11 && p[n - 1] == 0x22);
  mia_free((void*)p);
}

TEST(api_enomem_sizes) {
  errno = 0;
  void* p = mia_malloc(opaque_size(SIZE_MAX));
  CHECK_NULL(p);
  CHECK_EQ_INT(errno, ENOMEM);
  errno = 0;
  p = mia_malloc(opaque_size((size_t)PTRDIFF_MAX + 1));
  CHECK_NULL(p);
  CHECK_EQ_INT(errno, ENOMEM);
  errno = 0;
  p = mia_zalloc(opaque_size(SIZE_MAX - 64));
  CHECK_NULL(p);
  CHECK_EQ_INT(errno, ENOMEM);
  errno = 0;
  p = mia_malloc_aligned(opaque_size((size_t)PTRDIFF_MAX + 1), 64);
  CHECK_NULL(p);
  CHECK_EQ_INT(errno, ENOMEM);
  mia_heap_t* h = mia_heap_new();
  CHECK_NOT_NULL(h);
  if (h != NULL) {
    errno = 0;
    p = mia_heap_malloc(h, opaque_size(SIZE_MAX));
    CHECK_NULL(p);
    CHECK_EQ_INT(errno, ENOMEM);
    mia_heap_delete(h);
  }
  /* a failed realloc leaves the block intact */
  void* q = mia_malloc(200);
  CHECK_NOT_NULL(q);
  if (q != NULL) {
    pattern_fill(q, 200, 5);
    errno = 0;
    void* r = mia_realloc(q, opaque_size(SIZE_MAX));
    CHECK_NULL(r);
    CHECK_EQ_INT(errno, ENOMEM);
    CHECK_EQ_SZ(pattern_check(q, 200, 5), 200);
    mia_free(q);
  }
  /* the allocator still works after the failures */
  void* s = mia_malloc(100);
  CHECK_NOT_NULL(s);
  mia_free(s);
}

TEST(api_overflow_counts) {
  const size_t half = opaque_size(SIZE_MAX / 2 + 1); /* half * 2 wraps to 0 */
  const size_t big = opaque_size((size_t)1 << (sizeof(size_t) * 4 + 1)); /* big * big overflows size_t (2^33 on 64-bit, 2^17 on 32-bit) */
  errno = 0;
  CHECK_NULL(mia_calloc(half, 2));
  CHECK_EQ_INT(errno, ENOMEM);
  errno = 0;
  CHECK_NULL(mia_calloc(big, big));
  CHECK_EQ_INT(errno, ENOMEM);
  errno = 0;
  CHECK_NULL(mia_mallocn(half, 2));
  CHECK_EQ_INT(errno, ENOMEM);
  errno = 0;
  CHECK_NULL(mia_calloc_aligned(half, 2, 64));
  CHECK_EQ_INT(errno, ENOMEM);
  mia_heap_t* h = mia_heap_new();
  if (h != NULL) {
    errno = 0;
    CHECK_NULL(mia_heap_calloc(h, half, 2));
    CHECK_EQ_INT(errno, ENOMEM);
    errno = 0;
    CHECK_NULL(mia_heap_mallocn(h, big, big));
    CHECK_EQ_INT(errno, ENOMEM);
    mia_heap_delete(h);
  }
  void* p = mia_malloc(100);
  CHECK_NOT_NULL(p);
  if (p == NULL) return;
  pattern_fill(p, 100, 9);
  errno = 0;
  CHECK_NULL(mia_reallocarray(p, half, 2));
  CHECK_EQ_INT(errno, ENOMEM);
  errno = 0;
  CHECK_NULL(mia_reallocn(p, half, 4));
  CHECK_EQ_INT(errno, ENOMEM);
  void* before = p;
  int rc = mia_reallocarr(&p, half, 2);
  CHECK_EQ_INT(rc, ENOMEM);
  CHECK_EQ_PTR(p, before);
  CHECK_EQ_SZ(pattern_check(p, 100, 9), 100);
  mia_free(p);
  /* recalloc overflow: the zeroed block stays intact */
  unsigned char* z = (unsigned char*)mia_calloc(10, 10);
  CHECK_NOT_NULL(z);
  if (z != NULL) {
    z[0] = 7;
    errno = 0;
    CHECK_NULL(mia_recalloc(z, half, 2));
    CHECK_EQ_INT(errno, ENOMEM);
    CHECK(z[0] == 7 && mem_is(z + 1, 0, 99));
    mia_free(z);
  }
}

TEST(api_calloc_family) {
  unsigned char* p = (unsigned char*)mia_calloc(10, 100);
  CHECK(p != NULL && mem_is(p, 0, 1000));
  mia_free(p);
  p = (unsigned char*)mia_zalloc(333);
  CHECK(p != NULL && mem_is(p, 0, 333));
  mia_free(p);
  p = (unsigned char*)mia_calloc(0, 100);
  CHECK_NOT_NULL(p); /* like malloc(0): a unique pointer */
  mia_free(p);
  /* counted, then checked once: MIALLOC_SMALL_SIZE_MAX is 128 words (512 or 1024 bytes) */
  size_t bad_a = 0, bad_z = 0, first_a = 0, first_z = 0;
  for (size_t n = 1; n <= MIALLOC_SMALL_SIZE_MAX; n += 7) {
    void* a = mia_malloc_small(n);
    void* z = mia_zalloc_small(n);
    if (!(a != NULL && mia_usable_size(a) >= n) && bad_a++ == 0) first_a = n;
    if (!(z != NULL && mia_usable_size(z) >= n && mem_is(z, 0, n)) && bad_z++ == 0) first_z = n;
    if (a != NULL) memset(a, 0x5C, n);
    mia_free(a);
    mia_free(z);
  }
  CHECKF(bad_a == 0, "%zu malloc_small sizes failed, first %zu", bad_a, first_a);
  CHECKF(bad_z == 0, "%zu zalloc_small sizes failed or not zeroed, first %zu", bad_z, first_z);
  void* a = mia_malloc_small(MIALLOC_SMALL_SIZE_MAX);
  CHECK(a != NULL && mia_usable_size(a) >= MIALLOC_SMALL_SIZE_MAX);
  mia_free(a);
  void* m = mia_mallocn(10, 8);
  CHECK(m != NULL && mia_usable_size(m) >= 80);
  mia_free(m);
}

/* ---------------------------------------------------------------------------
   Zeroing after dirty reuse, every zeroing entry point
--------------------------------------------------------------------------- */

typedef void* (*zero_fn)(mia_heap_t* h, size_t n, size_t align, size_t offset);

static void* z_zalloc(mia_heap_t* h, size_t n, size_t a, size_t o) { (void)h; (void)a; (void)o; return mia_zalloc(n); }
static void* z_calloc(mia_heap_t* h, size_t n, size_t a, size_t o) {
  (void)h; (void)a; (void)o;
  size_t c, s;
  split_count(n, &c, &s);
  return mia_calloc(c, s);
}
static void* z_zalloc_small(mia_heap_t* h, size_t n, size_t a, size_t o) { (void)h; (void)a; (void)o; return mia_zalloc_small(n); }
static void* z_heap_zalloc(mia_heap_t* h, size_t n, size_t a, size_t o) { (void)a; (void)o; return mia_heap_zalloc(h, n); }
static void* z_heap_calloc(mia_heap_t* h, size_t n, size_t a, size_t o) {
  (void)a; (void)o;
  size_t c, s;
  split_count(n, &c, &s);
  return mia_heap_calloc(h, c, s);
}
static void* z_heap_zalloc_small(mia_heap_t* h, size_t n, size_t a, size_t o) { (void)a; (void)o; return mia_heap_zalloc_small(h, n); }
static void* z_zalloc_aligned(mia_heap_t* h, size_t n, size_t a, size_t o) { (void)h; (void)o; return mia_zalloc_aligned(n, a); }
static void* z_zalloc_aligned_at(mia_heap_t* h, size_t n, size_t a, size_t o) { (void)h; return mia_zalloc_aligned_at(n, a, o); }
static void* z_calloc_aligned(mia_heap_t* h, size_t n, size_t a, size_t o) {
  (void)h; (void)o;
  size_t c, s;
  split_count(n, &c, &s);
  return mia_calloc_aligned(c, s, a);
}
static void* z_calloc_aligned_at(mia_heap_t* h, size_t n, size_t a, size_t o) {
  (void)h;
  size_t c, s;
  split_count(n, &c, &s);
  return mia_calloc_aligned_at(c, s, a, o);
}
static void* z_heap_zalloc_aligned(mia_heap_t* h, size_t n, size_t a, size_t o) { (void)o; return mia_heap_zalloc_aligned(h, n, a); }
static void* z_heap_zalloc_aligned_at(mia_heap_t* h, size_t n, size_t a, size_t o) { return mia_heap_zalloc_aligned_at(h, n, a, o); }
static void* z_heap_calloc_aligned(mia_heap_t* h, size_t n, size_t a, size_t o) {
  (void)o;
  size_t c, s;
  split_count(n, &c, &s);
  return mia_heap_calloc_aligned(h, c, s, a);
}
static void* z_heap_calloc_aligned_at(mia_heap_t* h, size_t n, size_t a, size_t o) {
  size_t c, s;
  split_count(n, &c, &s);
  return mia_heap_calloc_aligned_at(h, c, s, a, o);
}
static void* z_rezalloc_null(mia_heap_t* h, size_t n, size_t a, size_t o) { (void)h; (void)a; (void)o; return mia_rezalloc(NULL, n); }
static void* z_recalloc_null(mia_heap_t* h, size_t n, size_t a, size_t o) {
  (void)h; (void)a; (void)o;
  size_t c, s;
  split_count(n, &c, &s);
  return mia_recalloc(NULL, c, s);
}

typedef struct zero_variant {
  const char* name;
  zero_fn fn;
  bool small_only; /* only sizes <= MIALLOC_SMALL_SIZE_MAX */
  bool in_heap;    /* allocates from the test heap (else the default heap) */
  size_t align, offset;
} zero_variant;

static const zero_variant zero_variants[] = {
  {"zalloc", z_zalloc, false, false, 0, 0},
  {"calloc", z_calloc, false, false, 0, 0},
  {"zalloc_small", z_zalloc_small, true, false, 0, 0},
  {"heap_zalloc", z_heap_zalloc, false, true, 0, 0},
  {"heap_calloc", z_heap_calloc, false, true, 0, 0},
  {"heap_zalloc_small", z_heap_zalloc_small, true, true, 0, 0},
  {"zalloc_aligned/64", z_zalloc_aligned, false, false, 64, 0},
  {"zalloc_aligned/4096", z_zalloc_aligned, false, false, 4096, 0},
  {"zalloc_aligned_at/64+8", z_zalloc_aligned_at, false, false, 64, 8},
  {"calloc_aligned/128", z_calloc_aligned, false, false, 128, 0},
  {"calloc_aligned_at/256+16", z_calloc_aligned_at, false, false, 256, 16},
  {"heap_zalloc_aligned/64", z_heap_zalloc_aligned, false, true, 64, 0},
  {"heap_zalloc_aligned_at/4096+24", z_heap_zalloc_aligned_at, false, true, 4096, 24},
  {"heap_calloc_aligned/32", z_heap_calloc_aligned, false, true, 32, 0},
  {"heap_calloc_aligned_at/512+8", z_heap_calloc_aligned_at, false, true, 512, 8},
  {"rezalloc(NULL)", z_rezalloc_null, false, false, 0, 0},
  {"recalloc(NULL)", z_recalloc_null, false, false, 0, 0},
};

TEST(api_zeroing_after_dirty) {
  mia_heap_t* h = mia_heap_new();
  CHECK_NOT_NULL(h);
  if (h == NULL) return;
  for (size_t v = 0; v < ARRAY_LEN(zero_variants); v++) {
    const zero_variant* zv = &zero_variants[v];
    size_t bad_null = 0, bad_zero = 0, bad_tail = 0, bad_align = 0, first = 0;
    for (size_t s = 0; s < ARRAY_LEN(zero_sizes); s++) {
      size_t n = zero_sizes[s];
      if (zv->small_only && n > MIALLOC_SMALL_SIZE_MAX) continue;
      if (runner.quick && n > 1 * MiB) continue;
      mia_heap_t* dh = zv->in_heap ? h : NULL;
      dirty(dh, n);
      if (zv->align > 16) dirty(dh, n + zv->align);
      unsigned char* p = (unsigned char*)zv->fn(h, n, zv->align, zv->offset);
      if (p == NULL) { if (bad_null++ == 0) first = n; continue; }
      if (!is_aligned(p + zv->offset, zv->align)) { if (bad_align++ == 0) first = n; }
      if (!mem_is(p, 0, n)) { if (bad_zero++ == 0) first = n; }
      size_t u = mia_usable_size(p);
      if (u < n || !mem_is(p + n, 0, u - n)) { if (bad_tail++ == 0) first = n; }
      memset(p, 0xCD, n); /* dirty it again for the next variant */
      mia_free(p);
    }
    CHECKF(bad_null == 0, "%s: %zu NULL results (first size %zu)", zv->name, bad_null, first);
    CHECKF(bad_align == 0, "%s: %zu misaligned (first size %zu)", zv->name, bad_align, first);
    CHECKF(bad_zero == 0, "%s: %zu blocks not zero (first size %zu)", zv->name, bad_zero, first);
    CHECKF(bad_tail == 0, "%s: %zu blocks with a non-zero usable tail (first size %zu)", zv->name, bad_tail, first);
  }
  mia_heap_destroy(h);
}

/* rezalloc / recalloc and their aligned and heap twins: contents kept, grown tail zero. */
typedef void* (*retail_fn)(mia_heap_t* h, void* p, size_t n, size_t a, size_t o);

static void* rt_rezalloc(mia_heap_t* h, void* p, size_t n, size_t a, size_t o) { (void)h; (void)a; (void)o; return mia_rezalloc(p, n); }
static void* rt_recalloc(mia_heap_t* h, void* p, size_t n, size_t a, size_t o) {
  (void)h; (void)a; (void)o;
  size_t c, s;
  split_count(n, &c, &s);
  return mia_recalloc(p, c, s);
}
static void* rt_heap_rezalloc(mia_heap_t* h, void* p, size_t n, size_t a, size_t o) { (void)a; (void)o; return mia_heap_rezalloc(h, p, n); }
static void* rt_heap_recalloc(mia_heap_t* h, void* p, size_t n, size_t a, size_t o) {
  (void)a; (void)o;
  size_t c, s;
  split_count(n, &c, &s);
  return mia_heap_recalloc(h, p, c, s);
}
static void* rt_rezalloc_aligned(mia_heap_t* h, void* p, size_t n, size_t a, size_t o) { (void)h; (void)o; return mia_rezalloc_aligned(p, n, a); }
static void* rt_rezalloc_aligned_at(mia_heap_t* h, void* p, size_t n, size_t a, size_t o) { (void)h; return mia_rezalloc_aligned_at(p, n, a, o); }
static void* rt_recalloc_aligned(mia_heap_t* h, void* p, size_t n, size_t a, size_t o) {
  (void)h; (void)o;
  size_t c, s;
  split_count(n, &c, &s);
  return mia_recalloc_aligned(p, c, s, a);
}
static void* rt_recalloc_aligned_at(mia_heap_t* h, void* p, size_t n, size_t a, size_t o) {
  (void)h;
  size_t c, s;
  split_count(n, &c, &s);
  return mia_recalloc_aligned_at(p, c, s, a, o);
}
static void* rt_heap_rezalloc_aligned(mia_heap_t* h, void* p, size_t n, size_t a, size_t o) { (void)o; return mia_heap_rezalloc_aligned(h, p, n, a); }
static void* rt_heap_rezalloc_aligned_at(mia_heap_t* h, void* p, size_t n, size_t a, size_t o) { return mia_heap_rezalloc_aligned_at(h, p, n, a, o); }
static void* rt_heap_recalloc_aligned(mia_heap_t* h, void* p, size_t n, size_t a, size_t o) {
  (void)o;
  size_t c, s;
  split_count(n, &c, &s);
  return mia_heap_recalloc_aligned(h, p, c, s, a);
}
static void* rt_heap_recalloc_aligned_at(mia_heap_t* h, void* p, size_t n, size_t a, size_t o) {
  size_t c, s;
  split_count(n, &c, &s);
  return mia_heap_recalloc_aligned_at(h, p, c, s, a, o);
}

typedef struct retail_variant {
  const char* name;
  zero_fn first;   /* the zeroing call that makes the block */
  retail_fn resize;
  bool in_heap;
  size_t align, offset;
} retail_variant;

static const retail_variant retail_variants[] = {
  {"rezalloc", z_zalloc, rt_rezalloc, false, 0, 0},
  {"recalloc", z_calloc, rt_recalloc, false, 0, 0},
  {"heap_rezalloc", z_heap_zalloc, rt_heap_rezalloc, true, 0, 0},
  {"heap_recalloc", z_heap_calloc, rt_heap_recalloc, true, 0, 0},
  {"rezalloc_aligned/64", z_zalloc_aligned, rt_rezalloc_aligned, false, 64, 0},
  {"rezalloc_aligned_at/128+8", z_zalloc_aligned_at, rt_rezalloc_aligned_at, false, 128, 8},
  {"recalloc_aligned/4096", z_calloc_aligned, rt_recalloc_aligned, false, 4096, 0},
  {"recalloc_aligned_at/64+24", z_calloc_aligned_at, rt_recalloc_aligned_at, false, 64, 24},
  {"heap_rezalloc_aligned/256", z_heap_zalloc_aligned, rt_heap_rezalloc_aligned, true, 256, 0},
  {"heap_rezalloc_aligned_at/64+16", z_heap_zalloc_aligned_at, rt_heap_rezalloc_aligned_at, true, 64, 16},
  {"heap_recalloc_aligned/32", z_heap_calloc_aligned, rt_heap_recalloc_aligned, true, 32, 0},
  {"heap_recalloc_aligned_at/1024+8", z_heap_calloc_aligned_at, rt_heap_recalloc_aligned_at, true, 1024, 8},
};

TEST(api_zero_tail_after_resize) {
  static const size_t pairs[][2] = {
    {10, 20}, {24, 32}, {10, 1000}, {1000, 1024}, {1000, 100000}, {5000, 600000}, {100, 3 * MiB},
    {100000, 10}, {600000, 5000}, {64, 64},
  };
  mia_heap_t* h = mia_heap_new();
  CHECK_NOT_NULL(h);
  if (h == NULL) return;
  for (size_t v = 0; v < ARRAY_LEN(retail_variants); v++) {
    const retail_variant* rv = &retail_variants[v];
    size_t bad_null = 0, bad_keep = 0, bad_zero = 0, bad_align = 0, first = 0;
    for (size_t i = 0; i < ARRAY_LEN(pairs); i++) {
      size_t n1 = pairs[i][0], n2 = pairs[i][1];
      if (runner.quick && n2 > 1 * MiB) continue;
      mia_heap_t* dh = rv->in_heap ? h : NULL;
      dirty(dh, n1);
      unsigned char* p = (unsigned char*)rv->first(h, n1, rv->align, rv->offset);
      if (p == NULL) { if (bad_null++ == 0) first = i; continue; }
      pattern_fill(p, n1, n1 * 31 + v);
      dirty(dh, n2);
      if (rv->align > 16) dirty(dh, n2 + rv->align);
      unsigned char* q = (unsigned char*)rv->resize(h, p, n2, rv->align, rv->offset);
      if (q == NULL) { if (bad_null++ == 0) first = i; mia_free(p); continue; }
      size_t keep = n1 < n2 ? n1 : n2;
      if (pattern_check(q, keep, n1 * 31 + v) != keep) { if (bad_keep++ == 0) first = i; }
      if (n2 > n1 && !mem_is(q + n1, 0, n2 - n1)) { if (bad_zero++ == 0) first = i; }
      if (!is_aligned(q + rv->offset, rv->align)) { if (bad_align++ == 0) first = i; }
      mia_free(q);
    }
    CHECKF(bad_null == 0, "%s: %zu NULL results (first pair %zu)", rv->name, bad_null, first);
    CHECKF(bad_keep == 0, "%s: %zu lost contents (first pair %zu)", rv->name, bad_keep, first);
    CHECKF(bad_zero == 0, "%s: %zu grown tails not zero (first pair %zu)", rv->name, bad_zero, first);
    CHECKF(bad_align == 0, "%s: %zu misaligned (first pair %zu)", rv->name, bad_align, first);
  }
  mia_heap_destroy(h);
}

/* usable_size >= requested for 0..70000 (step 1 to 4096, then 61), fresh and after reuse. */
TEST(api_usable_size_sweep) {
  for (int pass = 0; pass < 2; pass++) {
    size_t bad = 0, bad_glibc = 0, nulls = 0, first = 0;
    for (size_t n = 0; n <= 70000; n += (n < 4096 ? 1 : 61)) {
      unsigned char* p = (unsigned char*)mia_malloc(n);
      if (p == NULL) { nulls++; continue; }
      size_t u = mia_usable_size(p);
      if (u < n) { if (bad++ == 0) first = n; }
      if (mia_malloc_usable_size(p) != u) bad_glibc++;
      if (n > 0) {
        p[0] = 0xEE;
        p[n - 1] = 0xEF;
      }
      mia_free(p);
    }
    CHECKF(nulls == 0, "pass %d: %zu NULL results", pass, nulls);
    CHECKF(bad == 0, "pass %d: %zu sizes with usable < requested, first %zu", pass, bad, first);
    CHECKF(bad_glibc == 0, "pass %d: malloc_usable_size differs from usable_size %zu times", pass, bad_glibc);
  }
  /* after reuse with many live blocks: allocate a batch, free every other, allocate again */
  enum { BATCH = 512 };
  static void* blocks[BATCH];
  static size_t sizes[BATCH];
  uint64_t rng = 0x1234567ULL;
  size_t bad = 0, nulls = 0;
  for (size_t i = 0; i < BATCH; i++) {
    sizes[i] = rng_range(&rng, 0, 20000);
    blocks[i] = mia_malloc(sizes[i]);
  }
  for (size_t i = 0; i < BATCH; i += 2) {
    mia_free(blocks[i]);
    sizes[i] = rng_range(&rng, 0, 20000);
    blocks[i] = mia_malloc(sizes[i]);
  }
  for (size_t i = 0; i < BATCH; i++) {
    if (blocks[i] == NULL) nulls++;
    else if (mia_usable_size(blocks[i]) < sizes[i]) bad++;
    mia_free(blocks[i]);
  }
  CHECK_EQ_SZ(nulls, 0);
  CHECK_EQ_SZ(bad, 0);
}

/* The alignment malloc owes: every block 8-aligned, every block of 16 bytes
   or more 16-aligned (alignof(max_align_t) on x86-64 and i386 glibc), on every
   target. Each size 1..4096 and a few larger, several blocks of the size live
   at once (a page's first block can be aligned when its neighbours are not).
   A failure names the sizes, as ranges: "17-28 33-44 ...". */
typedef struct size_ranges { size_t sizes, ranges, last; char text[160]; } size_ranges;
static void size_ranges_add(size_ranges* r, size_t n) {
  const size_t len = strlen(r->text);
  if (r->sizes++ > 0 && n == r->last + 1) { /* extends the open range: rewrite its end */
    char* dash = strrchr(r->text, '-');
    char* space = strrchr(r->text, ' ');
    if (r->ranges <= 10) {
      char* end = (dash != NULL && (space == NULL || dash > space)) ? dash : r->text + len;
      snprintf(end, sizeof r->text - (size_t)(end - r->text), "-%zu", n);
    }
  } else if (r->ranges++ < 10) {
    snprintf(r->text + len, sizeof r->text - len, "%s%zu", len > 0 ? " " : "", n);
  }
  r->last = n;
}
TEST(api_alignment_sweep) {
  static const size_t larger[] = { 4097, 5000, 8200, 16392, 65560, 131096, 1 * MiB + 40, 4 * MiB + 56 };
  enum { LIVE = 4, NLARGER = sizeof(larger) / sizeof(larger[0]) };
  size_ranges bad_8, bad_16;
  memset(&bad_8, 0, sizeof bad_8);
  memset(&bad_16, 0, sizeof bad_16);
  size_t nulls = 0;
  for (size_t k = 0; k < 4096 + NLARGER; k++) {
    const size_t n = (k < 4096 ? k + 1 : larger[k - 4096]);
    void* p[LIVE];
    bool not_8 = false, not_16 = false;
    for (size_t i = 0; i < LIVE; i++) {
      p[i] = mia_malloc(n);
      if (p[i] == NULL) { nulls++; continue; }
      if (!is_aligned(p[i], 8)) not_8 = true;
      if (n >= 16 && !is_aligned(p[i], 16)) not_16 = true;
    }
    for (size_t i = 0; i < LIVE; i++) mia_free(p[i]);
    if (not_8) size_ranges_add(&bad_8, n);
    if (not_16) size_ranges_add(&bad_16, n);
  }
  CHECKF(nulls == 0, "%zu NULL results", nulls);
  CHECKF(bad_8.sizes == 0, "%zu sizes give blocks not 8-aligned: %s%s", bad_8.sizes, bad_8.text, bad_8.ranges > 10 ? " ..." : "");
  CHECKF(bad_16.sizes == 0, "%zu sizes >= 16 give blocks not 16-aligned: %s%s", bad_16.sizes, bad_16.text,
         bad_16.ranges > 10 ? " ..." : "");
}

/* ---------------------------------------------------------------------------
   realloc and friends
--------------------------------------------------------------------------- */

TEST(api_realloc_grow_shrink) {
  static const size_t steps[] = {
    1, 7, 8, 9, 16, 100, 1000, 1024, 1025, 8192, 8193, 16384, 70000, 131072, 131073, 600000, 2 * MiB + 1, 5 * MiB,
  };
  const size_t nsteps = ARRAY_LEN(steps);
  unsigned char* p = NULL;
  size_t cur = 0;
  uint64_t seed = 1;
  size_t bad = 0, nulls = 0;
  /* up, then down, then up again */
  for (size_t k = 0; k < 3 * nsteps; k++) {
    size_t idx = (k < nsteps) ? k : (k < 2 * nsteps) ? (2 * nsteps - 1 - k) : (k - 2 * nsteps);
    size_t n = steps[idx];
    unsigned char* q = (unsigned char*)mia_realloc(p, n);
    if (q == NULL) { nulls++; continue; }
    size_t keep = cur < n ? cur : n;
    size_t off = pattern_check(q, keep, seed);
    CHECKF(off == keep, "realloc %zu -> %zu: contents differ at %zu", cur, n, off);
    if (off != keep) bad++;
    CHECKF(mia_usable_size(q) >= n, "realloc to %zu: usable %zu", n, mia_usable_size(q));
    seed++;
    pattern_fill(q, n, seed);
    p = q;
    cur = n;
  }
  CHECK_EQ_SZ(nulls, 0);
  CHECK_EQ_SZ(bad, 0);
  mia_free(p);
}

/* The documented in-place rule: usable/2 <= newsize <= usable keeps the pointer.
   usable_size is read again before every step: a build that records the
   requested size (debug padding) reports the new size after an in-place shrink. */
TEST(api_realloc_in_place) {
  static const size_t sizes[] = {8, 24, 100, 1000, 5000, 20000, 100000, 300000, 3 * MiB};
  for (size_t i = 0; i < ARRAY_LEN(sizes); i++) {
    size_t n = sizes[i];
    void* p = mia_malloc(n);
    CHECK_NOT_NULL(p);
    if (p == NULL) continue;
    size_t u = mia_usable_size(p);
    pattern_fill(p, u, n);
    void* q = mia_realloc(p, u);
    CHECKF(q == p, "realloc(malloc(%zu), usable %zu) moved", n, u);
    if (q != p) { p = q; pattern_fill(p, u, n); }
    u = mia_usable_size(p);
    q = mia_realloc(p, u / 2);
    CHECKF(q == p, "realloc(malloc(%zu), usable/2 = %zu) moved", n, u / 2);
    if (q != p) { p = q; pattern_fill(p, u / 2, n); }
    const size_t keep = u / 2;
    u = mia_usable_size(p);
    CHECKF(u >= keep, "size %zu: usable %zu after realloc to %zu", n, u, keep);
    const size_t last = u - u / 4; /* between usable/2 and usable */
    q = mia_realloc(p, last);
    CHECKF(q == p, "realloc(malloc(%zu), 3/4 of usable %zu) moved", n, u);
    p = q;
    const size_t kept = keep < last ? keep : last;
    CHECKF(p != NULL && pattern_check(p, kept, n) == kept, "realloc in place lost contents (size %zu)", n);
    mia_free(p);
    /* growing within the usable size keeps the pointer */
    size_t m = n > 8 ? n - 7 : n;
    p = mia_malloc(m);
    if (p == NULL) continue;
    u = mia_usable_size(p);
    if (u > m) {
      q = mia_realloc(p, u);
      CHECKF(q == p, "realloc(malloc(%zu), its usable %zu) moved", m, u);
      p = q;
    }
    mia_free(p);
  }
}

/* A buffer that grows by 16 B a call from 8 B to 64 KiB: when it has to move
   it moves with room for 3/8 more: 23 moves, not one at almost every size
   class on the way (43 on bd96987, which moved to exactly the size asked for
   and grew in place only within a class); its bytes survive
   every move. A jump to twice the size gets no extra room. */
TEST(api_realloc_growth_moves) {
  unsigned char* p = NULL;
  size_t moves = 0, bad = 0;
  for (size_t size = 8; size <= 65536; size += 16) {
    unsigned char* q = (unsigned char*)mia_realloc(p, size);
    if (q == NULL) { CHECK_NOT_NULL(q); break; }
    if (p != NULL && q != p) moves++;
    if (size > 8 && q[size - 17] != (unsigned char)((size - 17) & 0xFF)) bad++; /* the last byte written before */
    for (size_t i = (size > 16 ? size - 16 : 0); i < size; i++) q[i] = (unsigned char)(i & 0xFF);
    p = q;
  }
  size_t wrong = 0;
  for (size_t i = 0; p != NULL && i < 65536 - 8; i++) wrong += (p[i] != (unsigned char)(i & 0xFF));
  CHECK_EQ_SZ(bad + wrong, 0);
  printf("     %zu moves growing 8 B -> 64 KiB by 16 B\n", moves);
  CHECKF(moves >= 10 && moves <= 30, "%zu moves growing 8 B -> 64 KiB by 16 B", moves);
  void* j = mia_realloc(mia_malloc(3000), 6000); /* a jump: exactly what was asked, no more than its size class */
  CHECK_NOT_NULL(j);
  CHECK_LE_SZ(mia_usable_size(j), 6000 + 6000 / 4);
  mia_free(j);
  mia_free(p);
}

TEST(api_realloc_edge) {
  void* p = mia_realloc(NULL, 100);
  CHECK(p != NULL && mia_usable_size(p) >= 100);
  if (p != NULL) pattern_fill(p, 100, 3);
  void* q = mia_realloc(p, 0);
  CHECK_NOT_NULL(q); /* a valid minimal block, not a free */
  mia_free(q);
  void* r = mia_realloc(NULL, 0);
  CHECK_NOT_NULL(r);
  mia_free(r);
  void* s = mia_reallocn(NULL, 10, 10);
  CHECK(s != NULL && mia_usable_size(s) >= 100);
  if (s != NULL) pattern_fill(s, 100, 4);
  void* t = mia_reallocn(s, 100, 100);
  CHECK(t != NULL && mia_usable_size(t) >= 10000 && pattern_check(t, 100, 4) == 100);
  mia_free(t);
}

TEST(api_reallocf) {
  mia_heap_t* h = mia_heap_new();
  CHECK_NOT_NULL(h);
  if (h == NULL) return;
  mia_heap_t* prev = mia_heap_set_default(h);
  void* p = mia_malloc(100);
  CHECK_NOT_NULL(p);
  if (p != NULL) pattern_fill(p, 100, 11);
  void* q = mia_reallocf(p, 10000);
  CHECK(q != NULL && pattern_check(q, 100, 11) == 100);
  CHECK_EQ_SZ(heap_live_blocks(h), 1);
  void* r = mia_reallocf(q, opaque_size(SIZE_MAX));
  CHECK_NULL(r);
  CHECK_EQ_SZ(heap_live_blocks(h), 0); /* the failed reallocf freed q */
  mia_heap_set_default(prev);
  mia_heap_delete(h);
}

TEST(api_expand) {
  static const size_t sizes[] = {100, 5000, 200000};
  for (size_t i = 0; i < ARRAY_LEN(sizes); i++) {
    void* p = mia_malloc(sizes[i]);
    CHECK_NOT_NULL(p);
    if (p == NULL) continue;
    size_t u = mia_usable_size(p);
    pattern_fill(p, u, 21);
    CHECK_EQ_PTR(mia_expand(p, u), p);
    CHECK_NULL(mia_expand(p, u + 1));
    CHECK_NULL(mia_expand(p, 4 * u));
    CHECK_EQ_SZ(mia_usable_size(p), u); /* a failed expand leaves p as it was */
    CHECK_EQ_SZ(pattern_check(p, u, 21), u);
    const size_t half = sizes[i] / 2;
    CHECK_EQ_PTR(mia_expand(p, half), p); /* shrinking always fits */
    CHECK_GE_SZ(mia_usable_size(p), half);
    CHECK_EQ_SZ(pattern_check(p, half, 21), half);
    mia_free(p);
  }
}

TEST(api_strdup) {
  char* s = mia_strdup("hello, world");
  CHECK(s != NULL && strcmp(s, "hello, world") == 0);
  CHECK_GE_SZ(mia_usable_size(s), 13);
  mia_free(s);
  s = mia_strdup("");
  CHECK(s != NULL && s[0] == 0);
  mia_free(s);
  CHECK_NULL(mia_strdup(NULL));
  s = mia_strndup("hello", 3);
  CHECK(s != NULL && strcmp(s, "hel") == 0);
  mia_free(s);
  s = mia_strndup("hi", 10);
  CHECK(s != NULL && strcmp(s, "hi") == 0);
  mia_free(s);
  s = mia_strndup("abc", 0);
  CHECK(s != NULL && s[0] == 0);
  mia_free(s);
  /* a long string through a medium block */
  char* big = (char*)mia_malloc(20001);
  CHECK_NOT_NULL(big);
  if (big != NULL) {
    memset(big, 'q', 20000);
    big[20000] = 0;
    s = mia_strdup(big);
    CHECK(s != NULL && strlen(s) == 20000 && memcmp(s, big, 20001) == 0);
    mia_free(s);
    s = mia_strndup(big, 15000);
    CHECK(s != NULL && strlen(s) == 15000);
    mia_free(s);
    mia_free(big);
  }
}

/* The sized and aligned frees: each really frees (the heap's live count drops). */
TEST(api_free_forms) {
  mia_heap_t* h = mia_heap_new();
  CHECK_NOT_NULL(h);
  if (h == NULL) return;
  mia_heap_t* prev = mia_heap_set_default(h);
  void* p = mia_malloc(100);
  CHECK_EQ_SZ(heap_live_blocks(h), 1);
  mia_free_size(p, 100);
  CHECK_EQ_SZ(heap_live_blocks(h), 0);
  p = mia_malloc_aligned(300, 256);
  CHECK(p != NULL && is_aligned(p, 256));
  CHECK_EQ_SZ(heap_live_blocks(h), 1);
  mia_free_aligned(p, 256);
  CHECK_EQ_SZ(heap_live_blocks(h), 0);
  p = mia_malloc_aligned(5000, 4096);
  CHECK(p != NULL && is_aligned(p, 4096));
  mia_free_size_aligned(p, 5000, 4096);
  CHECK_EQ_SZ(heap_live_blocks(h), 0);
  p = mia_malloc(40);
  CHECK_EQ_SZ(heap_live_blocks(h), 1);
  mia_cfree(p);
  CHECK_EQ_SZ(heap_live_blocks(h), 0);
  mia_heap_t* back = mia_heap_set_default(prev);
  CHECK_EQ_PTR(back, h);
  mia_heap_delete(h);
}

/* ---------------------------------------------------------------------------
   Aligned allocation
--------------------------------------------------------------------------- */

TEST(api_aligned_powers) {
  size_t bad_null = 0, bad_align = 0, bad_usable = 0, first_a = 0, first_n = 0;
  for (size_t a = 1; a <= 4 * MiB; a *= 2) {
    const size_t sizes[] = {1, 48, 1000, a + 1};
    for (size_t i = 0; i < ARRAY_LEN(sizes); i++) {
      size_t n = sizes[i];
      unsigned char* p = (unsigned char*)mia_malloc_aligned(n, a);
      if (p == NULL) { if (bad_null++ == 0) { first_a = a; first_n = n; } continue; }
      if (!is_aligned(p, a)) { if (bad_align++ == 0) { first_a = a; first_n = n; } }
      size_t u = mia_usable_size(p);
      if (u < n) { if (bad_usable++ == 0) { first_a = a; first_n = n; } }
      memset(p, 0x3C, u); /* the whole block is writable */
      mia_free(p);
    }
  }
  CHECKF(bad_null == 0, "%zu NULL results (first alignment %zu size %zu)", bad_null, first_a, first_n);
  CHECKF(bad_align == 0, "%zu misaligned (first alignment %zu size %zu)", bad_align, first_a, first_n);
  CHECKF(bad_usable == 0, "%zu with usable < size (first alignment %zu size %zu)", bad_usable, first_a, first_n);
  /* many live aligned blocks, mixed with plain ones, each filled over its whole
     usable size: none overlaps another (usable_size is not overstated) */
  enum { N = 96 };
  void* ps[N];
  size_t us[N];
  for (size_t i = 0; i < N; i++) {
    ps[i] = (i % 3 == 2) ? mia_malloc(100 + i * 37) : mia_malloc_aligned(100 + i * 37, (size_t)1 << (i % 14));
    us[i] = ps[i] != NULL ? mia_usable_size(ps[i]) : 0;
  }
  size_t overlaps = 0, nulls = 0;
  for (size_t i = 0; i < N; i++) {
    if (ps[i] == NULL) { nulls++; continue; }
    pattern_fill(ps[i], us[i], i);
  }
  for (size_t i = 0; i < N; i++) {
    if (ps[i] != NULL && pattern_check(ps[i], us[i], i) != us[i]) overlaps++;
    mia_free(ps[i]);
  }
  CHECK_EQ_SZ(nulls, 0);
  CHECK_EQ_SZ(overlaps, 0);
  /* heap twin with a large alignment */
  mia_heap_t* h = mia_heap_new();
  if (h != NULL) {
    void* p = mia_heap_malloc_aligned(h, 1000, 1 * MiB);
    CHECK(p != NULL && is_aligned(p, 1 * MiB) && mia_heap_contains_block(h, p));
    mia_free(p);
    mia_heap_delete(h);
  }
}

TEST(api_aligned_invalid) {
  static const size_t bad[] = {0, 3, 24, 48, 100, 4095};
  for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
    size_t a = opaque_size(bad[i]);
    errno = 0;
    void* p = mia_malloc_aligned(100, a);
    CHECKF(p == NULL && errno == EINVAL, "malloc_aligned(100, %zu): %p errno %d", a, p, errno);
    mia_free(p);
    errno = 0;
    p = mia_zalloc_aligned(100, a);
    CHECKF(p == NULL && errno == EINVAL, "zalloc_aligned(100, %zu): %p errno %d", a, p, errno);
    mia_free(p);
    errno = 0;
    p = mia_calloc_aligned(10, 10, a);
    CHECKF(p == NULL && errno == EINVAL, "calloc_aligned(10, 10, %zu): %p errno %d", a, p, errno);
    mia_free(p);
    errno = 0;
    p = mia_malloc_aligned_at(100, a, 8);
    CHECKF(p == NULL && errno == EINVAL, "malloc_aligned_at(100, %zu, 8): %p errno %d", a, p, errno);
    mia_free(p);
    errno = 0;
    p = mia_memalign(a, 100);
    CHECKF(p == NULL && errno == EINVAL, "memalign(%zu, 100): %p errno %d", a, p, errno);
    mia_free(p);
    errno = 0;
    p = mia_aligned_alloc(a, 100);
    CHECKF(p == NULL && errno == EINVAL, "aligned_alloc(%zu, 100): %p errno %d", a, p, errno);
    mia_free(p);
    /* a failed aligned realloc leaves the block intact */
    void* q = mia_malloc_aligned(64, 64);
    if (q != NULL) {
      pattern_fill(q, 64, 8);
      errno = 0;
      p = mia_realloc_aligned(q, 1000, a);
      CHECKF(p == NULL && errno == EINVAL, "realloc_aligned(q, 1000, %zu): %p errno %d", a, p, errno);
      if (p == NULL) {
        CHECKF(pattern_check(q, 64, 8) == 64, "realloc_aligned(q, 1000, %zu) damaged q", a);
        mia_free(q);
      } else {
        mia_free(p); /* q was resized (and freed) despite the bad alignment */
      }
    }
  }
  mia_heap_t* h = mia_heap_new();
  if (h != NULL) {
    errno = 0;
    void* p = mia_heap_malloc_aligned(h, 100, opaque_size(0));
    CHECK(p == NULL && errno == EINVAL);
    errno = 0;
    p = mia_heap_zalloc_aligned_at(h, 100, opaque_size(12), 0);
    CHECK(p == NULL && errno == EINVAL);
    mia_heap_delete(h);
  }
  /* a power of two but absurdly large: no memory for it */
  void* p = mia_malloc_aligned(100, opaque_size((SIZE_MAX >> 1) + 1));
  CHECK_NULL(p);
}

TEST(api_aligned_at) {
  static const size_t aligns[] = {8, 16, 64, 256, 4096, 65536};
  static const size_t offsets[] = {0, 1, 8, 24, 99};
  static const size_t sizes[] = {100, 5000};
  size_t bad = 0, nulls = 0, first_a = 0, first_o = 0;
  for (size_t ai = 0; ai < ARRAY_LEN(aligns); ai++)
    for (size_t oi = 0; oi < ARRAY_LEN(offsets); oi++)
      for (size_t si = 0; si < ARRAY_LEN(sizes); si++) {
        size_t a = aligns[ai], o = offsets[oi], n = sizes[si];
        unsigned char* p = (unsigned char*)mia_malloc_aligned_at(n, a, o);
        if (p == NULL) { nulls++; continue; }
        if (!is_aligned(p + o, a) || mia_usable_size(p) < n) { if (bad++ == 0) { first_a = a; first_o = o; } }
        memset(p, 0x77, n);
        mia_free(p);
      }
  CHECK_EQ_SZ(nulls, 0);
  CHECKF(bad == 0, "%zu misaligned (first alignment %zu offset %zu)", bad, first_a, first_o);
}

TEST(api_realloc_aligned) {
  unsigned char* p = (unsigned char*)mia_malloc_aligned(100, 256);
  CHECK(p != NULL && is_aligned(p, 256));
  if (p == NULL) return;
  pattern_fill(p, 100, 41);
  unsigned char* q = (unsigned char*)mia_realloc_aligned(p, 10000, 256);
  CHECK(q != NULL && is_aligned(q, 256) && pattern_check(q, 100, 41) == 100);
  if (q == NULL) return;
  pattern_fill(q, 10000, 42);
  p = (unsigned char*)mia_realloc_aligned(q, 50, 256);
  CHECK(p != NULL && is_aligned(p, 256) && pattern_check(p, 50, 42) == 50);
  if (p == NULL) return;
  q = (unsigned char*)mia_realloc_aligned(p, 200000, 65536);
  CHECK(q != NULL && is_aligned(q, 65536) && pattern_check(q, 50, 42) == 50);
  mia_free(q);
  p = (unsigned char*)mia_malloc_aligned_at(100, 128, 16);
  CHECK(p != NULL && is_aligned(p + 16, 128));
  if (p == NULL) return;
  pattern_fill(p, 100, 43);
  q = (unsigned char*)mia_realloc_aligned_at(p, 3000, 128, 16);
  CHECK(q != NULL && is_aligned(q + 16, 128) && pattern_check(q, 100, 43) == 100);
  mia_free(q);
  /* realloc_aligned from NULL acts as malloc_aligned */
  p = (unsigned char*)mia_realloc_aligned(NULL, 100, 512);
  CHECK(p != NULL && is_aligned(p, 512));
  mia_free(p);
}

TEST(api_posix_family) {
  const size_t ps = os_page_size();
  void* sentinel = (void*)&runner;
  void* p = sentinel;
  CHECK_EQ_INT(mia_posix_memalign(&p, opaque_size(3), 100), EINVAL);
  CHECK_EQ_PTR(p, sentinel);
  CHECK_EQ_INT(mia_posix_memalign(&p, opaque_size(sizeof(void*) / 2), 100), EINVAL);
  CHECK_EQ_PTR(p, sentinel);
  CHECK_EQ_INT(mia_posix_memalign(&p, opaque_size(0), 100), EINVAL);
  CHECK_EQ_PTR(p, sentinel);
  CHECK_EQ_INT(mia_posix_memalign(&p, opaque_size(24), 100), EINVAL);
  CHECK_EQ_PTR(p, sentinel);
  CHECK_EQ_INT(mia_posix_memalign(&p, 64, opaque_size(SIZE_MAX)), ENOMEM);
  CHECK_EQ_PTR(p, sentinel);
  static const size_t good[] = {sizeof(void*), 16, 4096, 1 * MiB};
  for (size_t i = 0; i < ARRAY_LEN(good); i++) {
    p = sentinel;
    int rc = mia_posix_memalign(&p, good[i], 100);
    CHECKF(rc == 0 && p != sentinel && p != NULL && is_aligned(p, good[i]), "posix_memalign(%zu): rc %d", good[i], rc);
    if (rc == 0) {
      memset(p, 1, 100);
      mia_free(p);
    }
  }
  p = mia_memalign(64, 100);
  CHECK(p != NULL && is_aligned(p, 64) && mia_usable_size(p) >= 100);
  mia_free(p);
  p = mia_valloc(100);
  CHECK(p != NULL && is_aligned(p, ps) && mia_usable_size(p) >= 100);
  mia_free(p);
  p = mia_pvalloc(100);
  CHECK(p != NULL && is_aligned(p, ps) && mia_usable_size(p) >= ps);
  if (p != NULL) memset(p, 2, ps);
  mia_free(p);
  p = mia_pvalloc(ps + 1);
  CHECK(p != NULL && is_aligned(p, ps) && mia_usable_size(p) >= 2 * ps);
  mia_free(p);
  p = mia_aligned_alloc(64, 100); /* size not a multiple of the alignment: accepted */
  CHECK(p != NULL && is_aligned(p, 64) && mia_usable_size(p) >= 100);
  mia_free(p);
  p = mia_aligned_alloc(4096, 4096);
  CHECK(p != NULL && is_aligned(p, 4096));
  mia_free(p);
}

TEST(api_reallocarray_arr) {
  void* p = mia_reallocarray(NULL, 10, 10);
  CHECK(p != NULL && mia_usable_size(p) >= 100);
  if (p == NULL) return;
  pattern_fill(p, 100, 51);
  void* q = mia_reallocarray(p, 100, 100);
  CHECK(q != NULL && mia_usable_size(q) >= 10000 && pattern_check(q, 100, 51) == 100);
  if (q == NULL) return;
  pattern_fill(q, 10000, 52);
  int rc = mia_reallocarr(&q, 1000, 10);
  CHECK_EQ_INT(rc, 0);
  CHECK(q != NULL && mia_usable_size(q) >= 10000 && pattern_check(q, 10000, 52) == 10000);
  rc = mia_reallocarr(&q, 10, 2);
  CHECK_EQ_INT(rc, 0);
  CHECK(q != NULL && pattern_check(q, 20, 52) == 20);
  mia_free(q);
  void* r = NULL;
  rc = mia_reallocarr(&r, 4, 4);
  CHECK(rc == 0 && r != NULL && mia_usable_size(r) >= 16);
  mia_free(r);
}

/* ---------------------------------------------------------------------------
   Heaps
--------------------------------------------------------------------------- */

TEST(api_heap_default_backing) {
  mia_heap_t* backing = mia_heap_get_backing();
  CHECK_NOT_NULL(backing);
  CHECK_EQ_PTR(mia_heap_get_default(), backing);
  mia_heap_t* h = mia_heap_new();
  CHECK_NOT_NULL(h);
  if (h == NULL) return;
  CHECK_NE_PTR(h, backing);
  mia_heap_t* prev = mia_heap_set_default(h);
  CHECK_EQ_PTR(prev, backing);
  CHECK_EQ_PTR(mia_heap_get_default(), h);
  CHECK_EQ_PTR(mia_heap_get_backing(), backing);
  void* p = mia_malloc(100);
  void* z = mia_zalloc_aligned(100, 64);
  CHECK(p != NULL && mia_heap_contains_block(h, p) && !mia_heap_contains_block(backing, p));
  CHECK(z != NULL && mia_heap_contains_block(h, z));
  CHECK_EQ_PTR(mia_heap_set_default(prev), h);
  CHECK_EQ_PTR(mia_heap_get_default(), backing);
  void* b = mia_malloc(100);
  CHECK(b != NULL && mia_heap_contains_block(backing, b) && !mia_heap_contains_block(h, b));
  mia_free(p);
  mia_free(z);
  mia_free(b);
  mia_heap_delete(h);
}

#define CHECK_IN_HEAP(h, p) CHECKF((p) != NULL && mia_heap_contains_block((h), (p)), "%s not a block of the heap", #p)

/* The mia_heap_* twin of every allocation function allocates from its heap. */
TEST(api_heap_twins) {
  mia_heap_t* h = mia_heap_new();
  CHECK_NOT_NULL(h);
  if (h == NULL) return;
  unsigned char* p;
  p = (unsigned char*)mia_heap_malloc(h, 100);
  CHECK_IN_HEAP(h, p);
  if (p != NULL) pattern_fill(p, 100, 61);
  unsigned char* r = (unsigned char*)mia_heap_realloc(h, p, 5000);
  CHECK_IN_HEAP(h, r);
  CHECK(r != NULL && pattern_check(r, 100, 61) == 100);
  unsigned char* rn = (unsigned char*)mia_heap_reallocn(h, r, 100, 100);
  CHECK_IN_HEAP(h, rn);
  CHECK(rn != NULL && pattern_check(rn, 100, 61) == 100);
  unsigned char* rf = (unsigned char*)mia_heap_reallocf(h, rn, 20000);
  CHECK_IN_HEAP(h, rf);
  CHECK(rf != NULL && pattern_check(rf, 100, 61) == 100);
  mia_free(rf);

  unsigned char* z = (unsigned char*)mia_heap_zalloc(h, 300);
  CHECK_IN_HEAP(h, z);
  CHECK(z != NULL && mem_is(z, 0, 300));
  unsigned char* rz = (unsigned char*)mia_heap_rezalloc(h, z, 3000);
  CHECK_IN_HEAP(h, rz);
  CHECK(rz != NULL && mem_is(rz, 0, 3000));
  mia_free(rz);
  unsigned char* c = (unsigned char*)mia_heap_calloc(h, 10, 30);
  CHECK_IN_HEAP(h, c);
  CHECK(c != NULL && mem_is(c, 0, 300));
  unsigned char* rc = (unsigned char*)mia_heap_recalloc(h, c, 100, 30);
  CHECK_IN_HEAP(h, rc);
  CHECK(rc != NULL && mem_is(rc, 0, 3000));
  mia_free(rc);

  void* s = mia_heap_malloc_small(h, 64);
  CHECK_IN_HEAP(h, s);
  mia_free(s);
  unsigned char* zs = (unsigned char*)mia_heap_zalloc_small(h, 64);
  CHECK_IN_HEAP(h, zs);
  CHECK(zs != NULL && mem_is(zs, 0, 64));
  mia_free(zs);
  void* mn = mia_heap_mallocn(h, 10, 10);
  CHECK_IN_HEAP(h, mn);
  CHECK(mn != NULL && mia_usable_size(mn) >= 100);
  mia_free(mn);
  char* sd = mia_heap_strdup(h, "heap string");
  CHECK_IN_HEAP(h, sd);
  CHECK(sd != NULL && strcmp(sd, "heap string") == 0);
  mia_free(sd);
  char* snd = mia_heap_strndup(h, "heap string", 4);
  CHECK_IN_HEAP(h, snd);
  CHECK(snd != NULL && strcmp(snd, "heap") == 0);
  mia_free(snd);

  unsigned char* a = (unsigned char*)mia_heap_malloc_aligned(h, 100, 128);
  CHECK_IN_HEAP(h, a);
  CHECK(is_aligned(a, 128));
  if (a != NULL) pattern_fill(a, 100, 62);
  unsigned char* ra = (unsigned char*)mia_heap_realloc_aligned(h, a, 9000, 128);
  CHECK_IN_HEAP(h, ra);
  CHECK(ra != NULL && is_aligned(ra, 128) && pattern_check(ra, 100, 62) == 100);
  mia_free(ra);
  unsigned char* aat = (unsigned char*)mia_heap_malloc_aligned_at(h, 100, 128, 8);
  CHECK_IN_HEAP(h, aat);
  CHECK(is_aligned(aat + 8, 128));
  if (aat != NULL) pattern_fill(aat, 100, 63);
  unsigned char* raat = (unsigned char*)mia_heap_realloc_aligned_at(h, aat, 9000, 128, 8);
  CHECK_IN_HEAP(h, raat);
  CHECK(raat != NULL && is_aligned(raat + 8, 128) && pattern_check(raat, 100, 63) == 100);
  mia_free(raat);

  unsigned char* za = (unsigned char*)mia_heap_zalloc_aligned(h, 100, 64);
  CHECK_IN_HEAP(h, za);
  CHECK(za != NULL && is_aligned(za, 64) && mem_is(za, 0, 100));
  unsigned char* rza = (unsigned char*)mia_heap_rezalloc_aligned(h, za, 7000, 64);
  CHECK_IN_HEAP(h, rza);
  CHECK(rza != NULL && is_aligned(rza, 64) && mem_is(rza, 0, 7000));
  mia_free(rza);
  unsigned char* zaat = (unsigned char*)mia_heap_zalloc_aligned_at(h, 100, 64, 8);
  CHECK_IN_HEAP(h, zaat);
  CHECK(zaat != NULL && is_aligned(zaat + 8, 64) && mem_is(zaat, 0, 100));
  unsigned char* rzaat = (unsigned char*)mia_heap_rezalloc_aligned_at(h, zaat, 7000, 64, 8);
  CHECK_IN_HEAP(h, rzaat);
  CHECK(rzaat != NULL && is_aligned(rzaat + 8, 64) && mem_is(rzaat, 0, 7000));
  mia_free(rzaat);
  unsigned char* ca = (unsigned char*)mia_heap_calloc_aligned(h, 10, 10, 256);
  CHECK_IN_HEAP(h, ca);
  CHECK(ca != NULL && is_aligned(ca, 256) && mem_is(ca, 0, 100));
  unsigned char* rca = (unsigned char*)mia_heap_recalloc_aligned(h, ca, 100, 100, 256);
  CHECK_IN_HEAP(h, rca);
  CHECK(rca != NULL && is_aligned(rca, 256) && mem_is(rca, 0, 10000));
  mia_free(rca);
  unsigned char* caat = (unsigned char*)mia_heap_calloc_aligned_at(h, 10, 10, 256, 16);
  CHECK_IN_HEAP(h, caat);
  CHECK(caat != NULL && is_aligned(caat + 16, 256) && mem_is(caat, 0, 100));
  unsigned char* rcaat = (unsigned char*)mia_heap_recalloc_aligned_at(h, caat, 100, 100, 256, 16);
  CHECK_IN_HEAP(h, rcaat);
  CHECK(rcaat != NULL && is_aligned(rcaat + 16, 256) && mem_is(rcaat, 0, 10000));
  mia_free(rcaat);
  CHECK_EQ_SZ(heap_live_blocks(h), 0);
  mia_heap_delete(h);
}

TEST(api_heap_contains_owned) {
  mia_heap_t* h1 = mia_heap_new();
  mia_heap_t* h2 = mia_heap_new();
  CHECK(h1 != NULL && h2 != NULL && h1 != h2);
  if (h1 == NULL || h2 == NULL) return;
  static const size_t sizes[] = {16, 1000, 20000, 300000, 3 * MiB};
  int on_stack = 0;
  for (size_t i = 0; i < ARRAY_LEN(sizes); i++) {
    unsigned char* a = (unsigned char*)mia_heap_malloc(h1, sizes[i]);
    unsigned char* b = (unsigned char*)mia_heap_malloc(h2, sizes[i]);
    unsigned char* d = (unsigned char*)mia_malloc(sizes[i]);
    CHECKF(a != NULL && b != NULL && d != NULL, "size %zu", sizes[i]);
    if (a == NULL || b == NULL || d == NULL) { mia_free(a); mia_free(b); mia_free(d); continue; }
    CHECKF(mia_heap_contains_block(h1, a), "size %zu", sizes[i]);
    CHECKF(!mia_heap_contains_block(h2, a), "size %zu", sizes[i]);
    CHECKF(mia_heap_contains_block(h2, b), "size %zu", sizes[i]);
    CHECKF(!mia_heap_contains_block(h1, b), "size %zu", sizes[i]);
    CHECKF(!mia_heap_contains_block(h1, d), "size %zu", sizes[i]);
    CHECKF(mia_heap_check_owned(h1, a) && mia_heap_check_owned(h1, a + 8), "size %zu", sizes[i]);
    CHECKF(!mia_heap_check_owned(h2, a), "size %zu", sizes[i]);
    CHECKF(mia_check_owned(d) && !mia_check_owned(a), "size %zu", sizes[i]);
    mia_free(a);
    mia_free(b);
    mia_free(d);
  }
  CHECK(!mia_heap_contains_block(h1, &on_stack));
  CHECK(!mia_heap_check_owned(h1, &on_stack));
  CHECK(!mia_check_owned(&on_stack));
  CHECK(!mia_check_owned(&runner));
  CHECK(!mia_heap_contains_block(h1, NULL));
  CHECK(!mia_check_owned(NULL));
  mia_heap_delete(h1);
  mia_heap_delete(h2);
}

/* Heap delete with live blocks: they move to the backing heap and stay valid. */
TEST(api_heap_delete_live) {
  mia_heap_t* h = mia_heap_new();
  CHECK_NOT_NULL(h);
  if (h == NULL) return;
  static const size_t sizes[] = {8, 64, 100, 1000, 8000, 20000, 100000, 300000, 3 * MiB};
  enum { PER = 5 };
  void* blocks[ARRAY_LEN(sizes) * PER];
  size_t nb = 0, nulls = 0;
  for (size_t i = 0; i < ARRAY_LEN(sizes); i++)
    for (size_t k = 0; k < PER; k++) {
      void* p = mia_heap_malloc(h, sizes[i]);
      if (p == NULL) { nulls++; continue; }
      pattern_fill(p, sizes[i], i * 100 + k);
      blocks[nb++] = p;
    }
  CHECK_EQ_SZ(nulls, 0);
  CHECK_EQ_SZ(heap_live_blocks(h), nb);
  mia_heap_delete(h);
  mia_heap_t* backing = mia_heap_get_backing();
  size_t bad = 0, not_backing = 0, j = 0;
  for (size_t i = 0; i < ARRAY_LEN(sizes); i++)
    for (size_t k = 0; k < PER && j < nb; k++, j++) {
      if (pattern_check(blocks[j], sizes[i], i * 100 + k) != sizes[i]) bad++;
      if (!mia_heap_contains_block(backing, blocks[j])) not_backing++;
    }
  CHECK_EQ_SZ(bad, 0);
  CHECK_EQ_SZ(not_backing, 0);
  for (size_t i = 0; i < nb; i++) mia_free(blocks[i]);
  /* the blocks are really free again: a fresh heap works as usual */
  mia_heap_t* h2 = mia_heap_new();
  CHECK_NOT_NULL(h2);
  if (h2 != NULL) {
    void* p = mia_heap_malloc(h2, 1000);
    CHECK_IN_HEAP(h2, p);
    mia_free(p);
    mia_heap_delete(h2);
  }
}

/* Heap destroy with live blocks of every kind, huge ones included. */
TEST(api_heap_destroy_live) {
  static const size_t sizes[] = {8, 64, 100, 1000, 8000, 20000, 100000, 300000, 3 * MiB, 5 * MiB};
  for (int round = 0; round < 3; round++) {
    mia_heap_t* h = mia_heap_new();
    CHECK_NOT_NULL(h);
    if (h == NULL) return;
    size_t nulls = 0, count = 0;
    for (size_t i = 0; i < ARRAY_LEN(sizes); i++)
      for (size_t k = 0; k < 20; k++) {
        if (sizes[i] > 1 * MiB && k >= 2) break;
        void* p = mia_heap_malloc(h, sizes[i]);
        if (p == NULL) { nulls++; continue; }
        memset(p, 0x99, sizes[i]);
        count++;
      }
    CHECK_EQ_SZ(nulls, 0);
    CHECK_EQ_SZ(heap_live_blocks(h), count);
    mia_heap_destroy(h);
    CHECK_EQ_PTR(mia_heap_get_default(), mia_heap_get_backing());
  }
  /* allocation goes on normally after the destroys */
  void* p = mia_malloc(3 * MiB);
  CHECK_NOT_NULL(p);
  mia_free(p);
}

/* visit_blocks sees exactly the live blocks. */
typedef struct visit_state {
  const mia_heap_t* heap;
  void** blocks;
  size_t n, cap;
  size_t areas, area_used, bad_area, bad_heap, block_calls;
  size_t stop_after; /* return false after this many calls (0: never) */
  size_t calls;
} visit_state;

static bool collect_visitor(const mia_heap_t* heap, const mia_heap_area_t* area, void* block, size_t block_size, void* arg) {
  visit_state* st = (visit_state*)arg;
  st->calls++;
  if (heap != st->heap) st->bad_heap++;
  if (block == NULL) {
    st->areas++;
    if (area == NULL) { st->bad_area++; }
    else {
      st->area_used += area->used;
      if (area->blocks == NULL || area->block_size == 0 || area->committed > area->reserved ||
          area->full_block_size < area->block_size)
        st->bad_area++;
    }
  } else {
    st->block_calls++;
    if (block_size == 0 || area == NULL || block_size < area->block_size) st->bad_area++;
    if (st->n < st->cap) st->blocks[st->n++] = block;
  }
  return st->stop_after == 0 || st->calls < st->stop_after;
}

TEST(api_heap_visit_all) {
  enum { NBLOCKS = 1000 };
  static void* all[NBLOCKS];
  static void* expected[NBLOCKS];
  static void* seen[NBLOCKS + 16];
  mia_heap_t* h = mia_heap_new();
  CHECK_NOT_NULL(h);
  if (h == NULL) return;
  uint64_t rng = 0xC0FFEEULL;
  size_t nulls = 0;
  for (size_t i = 0; i < NBLOCKS; i++) {
    size_t r = rng_range(&rng, 0, 99), n;
    if (r < 70) n = rng_range(&rng, 1, 1024);
    else if (r < 95) n = rng_range(&rng, 1025, 70000);
    else if (r < 99 || i % 2 == 0) n = rng_range(&rng, 70001, 600000);
    else n = rng_range(&rng, 2 * MiB + 1, 3 * MiB);
    all[i] = mia_heap_malloc(h, n);
    if (all[i] == NULL) nulls++;
  }
  CHECK_EQ_SZ(nulls, 0);
  size_t nexp = 0;
  for (size_t i = 0; i < NBLOCKS; i++) {
    if (i % 3 == 0) mia_free(all[i]);
    else if (all[i] != NULL) expected[nexp++] = all[i];
  }
  visit_state st;
  memset(&st, 0, sizeof st);
  st.heap = h;
  st.blocks = seen;
  st.cap = ARRAY_LEN(seen);
  bool done = mia_heap_visit_blocks(h, true, collect_visitor, &st);
  CHECK(done);
  CHECK_EQ_SZ(st.bad_heap, 0);
  CHECK_EQ_SZ(st.bad_area, 0);
  CHECK_GE_SZ(st.areas, 1);
  CHECK_EQ_SZ(st.block_calls, nexp);
  CHECK_EQ_SZ(st.area_used, nexp);
  qsort(expected, nexp, sizeof(void*), cmp_ptr);
  qsort(seen, st.n, sizeof(void*), cmp_ptr);
  CHECK_EQ_SZ(st.n, nexp);
  size_t mismatch = 0;
  for (size_t i = 0; i < nexp && i < st.n; i++)
    if (expected[i] != seen[i]) mismatch++;
  CHECKF(mismatch == 0, "%zu visited blocks differ from the live set", mismatch);
  /* a visitor returning false stops the walk */
  memset(&st, 0, sizeof st);
  st.heap = h;
  st.blocks = seen;
  st.cap = ARRAY_LEN(seen);
  st.stop_after = 3;
  done = mia_heap_visit_blocks(h, true, collect_visitor, &st);
  CHECK(!done);
  CHECK_EQ_SZ(st.calls, 3);
  mia_heap_destroy(h);
}

TEST(api_heap_visit_areas) {
  mia_heap_t* h = mia_heap_new();
  CHECK_NOT_NULL(h);
  if (h == NULL) return;
  enum { N = 300 };
  void* ps[N];
  for (size_t i = 0; i < N; i++) ps[i] = mia_heap_malloc(h, 16 + (i % 30) * 700);
  visit_state st;
  memset(&st, 0, sizeof st);
  st.heap = h;
  bool done = mia_heap_visit_blocks(h, false, collect_visitor, &st);
  CHECK(done);
  CHECK_GE_SZ(st.areas, 1);
  CHECK_EQ_SZ(st.block_calls, 0); /* block == NULL on every call */
  CHECK_EQ_SZ(st.calls, st.areas);
  CHECK_EQ_SZ(st.area_used, N);
  CHECK_EQ_SZ(st.bad_area, 0);
  for (size_t i = 0; i < N; i++) mia_free(ps[i]);
  /* an empty heap: no live block visited */
  memset(&st, 0, sizeof st);
  st.heap = h;
  mia_heap_collect(h, true);
  CHECK(mia_heap_visit_blocks(h, true, collect_visitor, &st));
  CHECK_EQ_SZ(st.block_calls, 0);
  mia_heap_delete(h);
}

/* collect never touches live blocks */
TEST(api_collect) {
  enum { N = 400 };
  void* ps[N];
  mia_heap_t* h = mia_heap_new();
  CHECK_NOT_NULL(h);
  if (h == NULL) return;
  for (size_t i = 0; i < N; i++) {
    size_t n = 8 + (i * 997) % 200000;
    ps[i] = (i % 2) ? mia_malloc(n) : mia_heap_malloc(h, n);
    if (ps[i] != NULL) pattern_fill(ps[i], n, i);
  }
  for (size_t i = 0; i < N; i += 3) { mia_free(ps[i]); ps[i] = NULL; }
  mia_collect(false);
  mia_heap_collect(h, false);
  mia_collect(true);
  mia_heap_collect(h, true);
  size_t bad = 0;
  for (size_t i = 0; i < N; i++) {
    size_t n = 8 + (i * 997) % 200000;
    if (ps[i] != NULL && pattern_check(ps[i], n, i) != n) bad++;
    mia_free(ps[i]);
  }
  CHECK_EQ_SZ(bad, 0);
  void* p = mia_malloc(100);
  CHECK_NOT_NULL(p);
  mia_free(p);
  mia_heap_delete(h);
}

/* ---------------------------------------------------------------------------
   Threads, process, callbacks, options
--------------------------------------------------------------------------- */

typedef struct thread_result {
  mia_heap_t* def;
  mia_heap_t* backing;
  void* block;
  void* after_done;
} thread_result;

static void* api_thread_main(void* arg) {
  thread_result* r = (thread_result*)arg;
  mia_thread_init();
  r->def = mia_heap_get_default();
  r->backing = mia_heap_get_backing();
  r->block = mia_malloc(1000);
  if (r->block != NULL) pattern_fill(r->block, 1000, 71);
  mia_thread_done();
  return NULL;
}

TEST(api_thread_init_done) {
#if defined(MIALLOC_SINGLE_THREAD) && MIALLOC_SINGLE_THREAD
  SKIP("MIALLOC_SINGLE_THREAD: no other thread (api_single_thread_keeps_its_memory)");
#endif
  mia_thread_init(); /* idempotent on an initialised thread */
  thread_result r;
  memset(&r, 0, sizeof r);
  pthread_t t;
  CHECK_EQ_INT(pthread_create(&t, NULL, api_thread_main, &r), 0);
  pthread_join(t, NULL);
  CHECK_NOT_NULL(r.def);
  CHECK_NE_PTR(r.def, mia_heap_get_default());
  CHECK_NE_PTR(r.backing, mia_heap_get_backing());
  CHECK(r.block != NULL && pattern_check(r.block, 1000, 71) == 1000);
  mia_free(r.block); /* a block of a thread that is done and gone */
  void* p = mia_malloc(1000);
  CHECK_NOT_NULL(p);
  mia_free(p);
}

#if defined(MIALLOC_SINGLE_THREAD) && MIALLOC_SINGLE_THREAD
/* One thread: mia_thread_done collects and keeps the thread's heaps; a heap
   of an exclusive arena deleted with live blocks -- a huge one among them --
   leaves them valid, the thread frees them, and the arena is whole again. */
TEST(api_single_thread_keeps_its_memory) {
  void* p = mia_malloc(100);
  CHECK_NOT_NULL(p);
  if (p == NULL) return;
  pattern_fill(p, 100, 91);
  mia_heap_t* def = mia_heap_get_default();
  mia_thread_done();
  CHECK_EQ_PTR(mia_heap_get_default(), def);
  CHECK_EQ_SZ(pattern_check(p, 100, 91), (size_t)100);
  mia_free(p);

  const size_t size = 32 * MiB, align = 4 * MiB;
  void* buf = NULL;
  CHECK_EQ_INT(posix_memalign(&buf, align, size), 0);
  if (buf == NULL) return;
  mia_arena_id_t id = 0;
  CHECK(mia_manage_os_memory_ex(buf, size, true, false, false, -1, true, &id));
  mia_heap_t* h = mia_heap_new_in_arena(id);
  CHECK_NOT_NULL(h);
  if (h == NULL) return;
  void* small = mia_heap_malloc(h, 64);
  void* huge = mia_heap_malloc(h, 9 * MiB);
  CHECK(small != NULL && huge != NULL);
  if (small == NULL || huge == NULL) return;
  pattern_fill(small, 64, 92);
  pattern_fill(huge, 9 * MiB, 93);
  mia_heap_delete(h); /* its blocks stay valid */
  mia_heap_t* h3 = mia_heap_new_in_arena(id);
  void* third = (h3 == NULL ? NULL : mia_heap_malloc(h3, 1000));
  CHECK_NOT_NULL(third);
  if (third != NULL) pattern_fill(third, 1000, 94);
  mia_heap_delete(h3); /* a second deleted heap: its pages join the first's */
  CHECK_EQ_SZ(pattern_check(small, 64, 92), (size_t)64);
  CHECK_EQ_SZ(pattern_check(huge, 9 * MiB, 93), (size_t)9 * MiB);
  CHECK_EQ_SZ(mia_usable_size(huge) >= 9 * MiB, (size_t)1);
  mia_free(small);
  mia_free(huge);
  if (third != NULL) CHECK_EQ_SZ(pattern_check(third, 1000, 94), (size_t)1000);
  mia_free(third);
  mia_collect(true); /* the deleted heaps' memory, all free now, goes back to the arena */
  mia_heap_t* h2 = mia_heap_new_in_arena(id);
  CHECK_NOT_NULL(h2);
  void* big = (h2 == NULL ? NULL : mia_heap_malloc(h2, 24 * MiB)); /* only if the huge block's units came back */
  CHECK_NOT_NULL(big);
  mia_free(big);
  mia_heap_delete(h2);
}
#endif

TEST(api_process_info) {
  size_t elapsed = 0, user = 0, sys = 0, rss = 0, peak_rss = 0, commit = 0, peak_commit = 0, faults = 0;
  void* p = mia_malloc(4 * MiB);
  if (p != NULL) memset(p, 1, 4 * MiB);
  mia_process_info(&elapsed, &user, &sys, &rss, &peak_rss, &commit, &peak_commit, &faults);
  CHECK_GT_SZ(rss, 4 * MiB);
  CHECK_GE_SZ(peak_rss, rss);
  CHECK_GE_SZ(commit, 4 * MiB);
  CHECK_GE_SZ(peak_commit, commit);
  CHECK_LT_SZ(elapsed, (size_t)3600 * 1000);
  CHECK_LE_SZ(user + sys, elapsed * 4 + 1000);
  mia_free(p);
  mia_process_info(NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL); /* every argument may be NULL */
  size_t rss2 = 0;
  mia_process_info(NULL, NULL, NULL, &rss2, NULL, NULL, NULL, NULL);
  CHECK_GT_SZ(rss2, 0);
}

typedef struct out_buf {
  char text[4096];
  size_t len, calls;
} out_buf;

static void out_capture(const char* msg, void* arg) {
  out_buf* b = (out_buf*)arg;
  b->calls++;
  if (msg == NULL) return;
  size_t n = strlen(msg);
  if (b->len + n >= sizeof b->text) n = sizeof b->text - 1 - b->len;
  memcpy(b->text + b->len, msg, n);
  b->len += n;
  b->text[b->len] = 0;
}

TEST(api_output_and_stats) {
  static out_buf direct, registered, printed;
  memset(&direct, 0, sizeof direct);
  memset(&registered, 0, sizeof registered);
  memset(&printed, 0, sizeof printed);
  void* p = mia_malloc(1000);
  mia_stats_reset();
  mia_stats_merge();
  mia_stats_print_out(out_capture, &direct);
  CHECK_GT_SZ(direct.len, 0);
  CHECK_GT_SZ(direct.calls, 0);
  mia_register_output(out_capture, &registered);
  mia_stats_print_out(NULL, NULL); /* NULL: the registered output */
  mia_register_output(out_capture, &printed);
  mia_stats_print(NULL);
  mia_register_output(NULL, NULL);
  CHECK_GT_SZ(registered.len, 0);
  CHECK_GT_SZ(printed.len, 0);
  mia_stats_reset();
  mia_free(p);
}

typedef struct err_state {
  int last;
  size_t calls;
} err_state;

static void err_capture(int err, void* arg) {
  err_state* e = (err_state*)arg;
  e->last = err;
  e->calls++;
}

TEST(api_register_error) {
  static err_state es;
  memset(&es, 0, sizeof es);
  mia_register_error(err_capture, &es);
  void* p = mia_malloc(opaque_size(SIZE_MAX));
  CHECK_NULL(p);
  CHECK_GE_SZ(es.calls, 1);
  CHECK_EQ_INT(es.last, ENOMEM);
  mia_register_error(NULL, NULL);
  size_t calls = es.calls;
  p = mia_malloc(opaque_size(SIZE_MAX));
  CHECK_NULL(p);
  CHECK_EQ_SZ(es.calls, calls); /* unregistered: not called any more */
}

/* free(NULL), in every form, is silent: on 64-bit release builds it goes
   through the slow path (MIA__NULL_FREE_SLOW), past the check that reports
   pointers mialloc never handed out -- also in a thread that never
   allocated, whose table of segments is empty. */
static void free_null_forms(void) {
  mia_free(NULL);
  mia_cfree(NULL);
  mia_free_size(NULL, 0);
  mia_free_aligned(NULL, 64);
  mia_free_size_aligned(NULL, 0, 64);
}
static void* free_null_thread(void* arg) {
  (void)arg;
  free_null_forms();
  return NULL;
}
TEST(api_free_null_reports_nothing) {
  static err_state es;
  memset(&es, 0, sizeof es);
  mia_register_error(err_capture, &es);
  free_null_forms();
  pthread_t t;
  CHECK_EQ_INT(pthread_create(&t, NULL, free_null_thread, NULL), 0);
  pthread_join(t, NULL);
  void* p = mia_malloc(32); /* and with segments in the table */
  free_null_forms();
  mia_free(p);
  mia_register_error(NULL, NULL);
  CHECK_EQ_SZ(es.calls, 0);
}

typedef struct deferred_state {
  _Atomic size_t calls;
  _Atomic unsigned long long last_heartbeat;
} deferred_state;

static void deferred_capture(bool force, unsigned long long heartbeat, void* arg) {
  (void)force;
  deferred_state* d = (deferred_state*)arg;
  atomic_fetch_add(&d->calls, 1);
  atomic_store(&d->last_heartbeat, heartbeat);
}

TEST(api_register_deferred_free) {
  static deferred_state ds;
  atomic_store(&ds.calls, 0);
  mia_register_deferred_free(deferred_capture, &ds);
  size_t n = runner.quick ? 500 : 2000;
  void** ps = (void**)mia_malloc(n * sizeof(void*));
  CHECK_NOT_NULL(ps);
  if (ps == NULL) return;
  for (size_t i = 0; i < n; i++) ps[i] = mia_malloc(32 * KiB); /* new pages all the way */
  for (size_t i = 0; i < n; i++) mia_free(ps[i]);
  mia_free(ps);
  mia_register_deferred_free(NULL, NULL);
  CHECK_GT_SZ(atomic_load(&ds.calls), 0);
  size_t calls = atomic_load(&ds.calls);
  for (size_t i = 0; i < 100; i++) mia_free(mia_malloc(64 * KiB));
  CHECK_EQ_SZ(atomic_load(&ds.calls), calls);
}

TEST(api_options) {
  const long verbose = mia_option_get(mia_option_verbose);
  mia_option_set(mia_option_verbose, 1);
  CHECK_EQ_INT(mia_option_get(mia_option_verbose), 1);
  CHECK(mia_option_is_enabled(mia_option_verbose));
  mia_option_disable(mia_option_verbose);
  CHECK(!mia_option_is_enabled(mia_option_verbose));
  CHECK_EQ_INT(mia_option_get(mia_option_verbose), 0);
  mia_option_enable(mia_option_verbose);
  CHECK(mia_option_is_enabled(mia_option_verbose));
  mia_option_set_enabled(mia_option_verbose, false);
  CHECK(!mia_option_is_enabled(mia_option_verbose));
  mia_option_set_enabled(mia_option_verbose, true);
  CHECK(mia_option_is_enabled(mia_option_verbose));
  mia_option_set(mia_option_verbose, verbose);
  CHECK_EQ_INT(mia_option_get(mia_option_verbose), verbose);

  const long delay = mia_option_get(mia_option_purge_delay);
  mia_option_set(mia_option_purge_delay, 500);
  CHECK_EQ_INT(mia_option_get(mia_option_purge_delay), 500);
  CHECK_EQ_INT(mia_option_get_clamp(mia_option_purge_delay, 0, 100), 100);
  CHECK_EQ_INT(mia_option_get_clamp(mia_option_purge_delay, 1000, 2000), 1000);
  CHECK_EQ_INT(mia_option_get_clamp(mia_option_purge_delay, 0, 1000), 500);
  mia_option_set(mia_option_purge_delay, -1);
  CHECK_EQ_INT(mia_option_get(mia_option_purge_delay), -1);
  mia_option_set(mia_option_purge_delay, delay);
  CHECK_EQ_INT(mia_option_get(mia_option_purge_delay), delay);

  const long errors = mia_option_get(mia_option_max_errors);
  mia_option_set(mia_option_max_errors, 123);
  CHECK_EQ_INT(mia_option_get(mia_option_max_errors), 123);
  mia_option_set(mia_option_max_errors, errors);

  const long reserve = mia_option_get(mia_option_reserve_os_memory);
  mia_option_set(mia_option_reserve_os_memory, 64);
  CHECK_EQ_SZ(mia_option_get_size(mia_option_reserve_os_memory), 64 * KiB);
  mia_option_set(mia_option_reserve_os_memory, reserve);

  if (getenv("MIALLOC_MAX_WARNINGS") == NULL) {
    const long warnings = mia_option_get(mia_option_max_warnings);
    mia_option_set_default(mia_option_max_warnings, 7);
    CHECK_EQ_INT(mia_option_get(mia_option_max_warnings), 7);
    mia_option_set(mia_option_max_warnings, warnings);
  }
  /* every option reads back what was set */
  size_t bad = 0;
  for (int o = 0; o < (int)mia_option_last; o++) {
    mia_option_t opt = (mia_option_t)o;
    long v = mia_option_get(opt);
    mia_option_set(opt, v);
    if (mia_option_get(opt) != v) bad++;
  }
  CHECK_EQ_SZ(bad, 0);
}

/* ---------------------------------------------------------------------------
   mimalloc 2.2+/3.x calls: the usable-size family, realpath, OS arenas, the
   C runtime's dup functions, the typed macros
--------------------------------------------------------------------------- */

/* A value no usable size has: an out-parameter still holding it was not written. */
#define UNTOUCHED ((size_t)0x5A5A5A5Au)

/* Sizes of every page kind for the usable-size family (class edges, huge). */
static const size_t usable_sizes[] = { 0, 1, 8, 24, 100, 1000, 1024, 1025, 5000, 70000, 131073, 600000, 3 * MiB, 5 * MiB };

/* Each call reports the usable size of its block, exactly mia_usable_size;
   malloc, realloc and free through the family keep contents and count blocks. */
TEST(api_usable_family) {
  mia_heap_t* h = mia_heap_new();
  CHECK_NOT_NULL(h);
  if (h == NULL) return;
  mia_heap_t* prev = mia_heap_set_default(h);
  for (size_t i = 0; i < ARRAY_LEN(usable_sizes); i++) {
    const size_t size = usable_sizes[i];
    size_t bs = UNTOUCHED;
    char* p = (char*)mia_umalloc(size, &bs);
    CHECKF(p != NULL && bs == mia_usable_size(p) && bs >= size, "mia_umalloc(%zu): block size %zu", size, bs);
    if (p == NULL) continue;
    pattern_fill(p, size, i + 1);
    /* grow: pre is the old usable size, post the new one, the contents move */
    const size_t old_usable = mia_usable_size(p);
    size_t pre = UNTOUCHED, post = UNTOUCHED;
    char* q = (char*)mia_urealloc(p, 2 * size + 100, &pre, &post);
    CHECKF(q != NULL && pre == old_usable && post == mia_usable_size(q) && post >= 2 * size + 100,
           "mia_urealloc(%zu -> %zu): pre %zu (usable %zu), post %zu", size, 2 * size + 100, pre, old_usable, post);
    if (q == NULL) { mia_free(p); continue; }
    CHECKF(pattern_check(q, size, i + 1) == size, "mia_urealloc(%zu) lost the contents", size);
    /* shrink: in place or not, the report matches */
    const size_t grown = mia_usable_size(q);
    char* r = (char*)mia_urealloc(q, size / 2 + 1, &pre, &post);
    CHECKF(r != NULL && pre == grown && post == mia_usable_size(r), "mia_urealloc shrink of %zu", size);
    if (r == NULL) { mia_free(q); continue; }
    CHECKF(pattern_check(r, size / 2 + 1 < size ? size / 2 + 1 : size, i + 1) == (size / 2 + 1 < size ? size / 2 + 1 : size),
           "mia_urealloc shrink of %zu lost the contents", size);
    const size_t usable = mia_usable_size(r);
    size_t fs = UNTOUCHED;
    mia_ufree(r, &fs);
    CHECKF(fs == usable, "mia_ufree reported %zu, the block had %zu", fs, usable);
  }
  CHECK_EQ_SZ(heap_live_blocks(h), 0);

  /* calloc and the zeroing forms: zeroed after dirty memory */
  for (size_t i = 0; i < ARRAY_LEN(usable_sizes); i++) {
    const size_t size = usable_sizes[i];
    size_t count = 0, each = 0;
    split_count(size == 0 ? 8 : size, &count, &each);
    dirty(h, count * each);
    size_t bs = UNTOUCHED;
    unsigned char* z = (unsigned char*)mia_ucalloc(count, each, &bs);
    CHECKF(z != NULL && bs == mia_usable_size(z) && mem_is(z, 0, count * each), "mia_ucalloc(%zu, %zu): block size %zu", count, each, bs);
    mia_ufree(z, NULL);
  }
  CHECK_EQ_SZ(heap_live_blocks(h), 0);

  /* aligned: every alignment honoured, the usable size counted from the pointer */
  static const size_t aligns[] = { 8, 16, 64, 256, 4096, 65536 };
  size_t bad = 0;
  for (size_t a = 0; a < ARRAY_LEN(aligns); a++) {
    for (size_t i = 0; i < ARRAY_LEN(usable_sizes); i++) {
      const size_t size = (usable_sizes[i] > MiB ? usable_sizes[i] / 8 : usable_sizes[i]);
      size_t bs = UNTOUCHED;
      void* p = mia_umalloc_aligned(size, aligns[a], &bs);
      if (p == NULL || !is_aligned(p, aligns[a]) || bs != mia_usable_size(p) || bs < size) bad++;
      mia_ufree(p, NULL);
      dirty(h, size);
      bs = UNTOUCHED;
      unsigned char* z = (unsigned char*)mia_uzalloc_aligned(size, aligns[a], &bs);
      if (z == NULL || !is_aligned(z, aligns[a]) || bs != mia_usable_size(z) || !mem_is(z, 0, size)) bad++;
      mia_ufree(z, NULL);
    }
  }
  CHECK_EQ_SZ(bad, 0);

  /* small: every size up to MIALLOC_SMALL_SIZE_MAX */
  bad = 0;
  for (size_t size = 1; size <= MIALLOC_SMALL_SIZE_MAX; size += (size < 64 ? 1 : 37)) {
    size_t bs = UNTOUCHED;
    void* p = mia_umalloc_small(size, &bs);
    if (p == NULL || bs != mia_usable_size(p) || bs < size) bad++;
    mia_free_small(p);
    dirty(h, size);
    bs = UNTOUCHED;
    unsigned char* z = (unsigned char*)mia_uzalloc_small(size, &bs);
    if (z == NULL || bs != mia_usable_size(z) || !mem_is(z, 0, size)) bad++;
    mia_free_small(z);
  }
  CHECK_EQ_SZ(bad, 0);
  CHECK_EQ_SZ(heap_live_blocks(h), 0);

  /* mia_free_small frees */
  void* s = mia_malloc_small(48);
  CHECK_EQ_SZ(heap_live_blocks(h), 1);
  mia_free_small(s);
  CHECK_EQ_SZ(heap_live_blocks(h), 0);

  /* NULL out-parameters are allowed */
  void* n = mia_umalloc(10, NULL);
  CHECK_NOT_NULL(n);
  n = mia_urealloc(n, 20000, NULL, NULL);
  CHECK_NOT_NULL(n);
  mia_ufree(n, NULL);
  CHECK_EQ_SZ(heap_live_blocks(h), 0);

  /* NULL pointers: ufree does nothing and writes nothing; urealloc(NULL) allocates, pre is 0 */
  size_t fs = UNTOUCHED;
  mia_ufree(NULL, &fs);
  CHECK_EQ_SZ(fs, UNTOUCHED);
  mia_ufree(NULL, NULL);
  size_t pre = UNTOUCHED, post = UNTOUCHED;
  void* m = mia_urealloc(NULL, 50, &pre, &post);
  CHECK(m != NULL && pre == 0 && post == mia_usable_size(m));
  mia_ufree(m, NULL);

  /* failures: NULL, errno ENOMEM, the block size left alone (urealloc: pre written, p intact) */
  size_t bs = UNTOUCHED;
  errno = 0;
  CHECK(mia_umalloc(opaque_size(SIZE_MAX), &bs) == NULL && errno == ENOMEM && bs == UNTOUCHED);
  errno = 0;
  CHECK(mia_ucalloc(opaque_size(SIZE_MAX / 2 + 1), 2, &bs) == NULL && errno == ENOMEM && bs == UNTOUCHED);
  errno = 0;
  CHECK(mia_umalloc_aligned(opaque_size(SIZE_MAX - 64), 64, &bs) == NULL && errno == ENOMEM && bs == UNTOUCHED);
  errno = 0;
  CHECK(mia_uzalloc_aligned(100, opaque_size(48), &bs) == NULL && errno == EINVAL && bs == UNTOUCHED); /* not a power of two */
  char* keep = (char*)mia_umalloc(300, NULL);
  CHECK_NOT_NULL(keep);
  if (keep != NULL) {
    pattern_fill(keep, 300, 77);
    pre = post = UNTOUCHED;
    errno = 0;
    CHECK(mia_urealloc(keep, opaque_size(SIZE_MAX), &pre, &post) == NULL && errno == ENOMEM);
    CHECK(pre == mia_usable_size(keep) && post == UNTOUCHED && pattern_check(keep, 300, 77) == 300);
    mia_ufree(keep, NULL);
  }
  CHECK_EQ_SZ(heap_live_blocks(h), 0);
  CHECK_EQ_PTR(mia_heap_set_default(prev), h);
  mia_heap_delete(h);
}

/* The current directory as the OS spells it, or "" if it cannot say. */
static void current_dir(char* buf, size_t n) {
  buf[0] = 0;
#if defined(_WIN32)
  DWORD len = GetCurrentDirectoryA((DWORD)n, buf);
  if (len == 0 || len >= n) buf[0] = 0;
#else
  if (getcwd(buf, n) == NULL) buf[0] = 0;
#endif
}

/* realpath: a new block of ours (mia_free releases it), or the caller's buffer. */
TEST(api_realpath) {
  static char cwd[4096], buf[4096];
  current_dir(cwd, sizeof cwd);
  CHECK(cwd[0] != 0);
  char* s = mia_realpath(".", NULL);
  CHECK_NOT_NULL(s);
  if (s == NULL) return;
  CHECKF(strcmp(s, cwd) == 0, "mia_realpath(\".\") is \"%s\", the current directory \"%s\"", s, cwd);
  CHECK(mia_usable_size(s) >= strlen(s) + 1);
  CHECKF(mia_check_owned(s), "the result is not a block of the default heap");
  char* r = mia_realpath(".", buf);
  CHECK(r == buf && strcmp(buf, s) == 0);
  /* the path is resolved, not copied */
  char* t = mia_realpath("./.", NULL);
  CHECK(t != NULL && strcmp(t, s) == 0);
  mia_free(t);
  mia_free(s);

  /* from a heap */
  mia_heap_t* h = mia_heap_new();
  CHECK_NOT_NULL(h);
  if (h != NULL) {
    char* u = mia_heap_realpath(h, ".", NULL);
    CHECK(u != NULL && strcmp(u, cwd) == 0 && mia_heap_contains_block(h, u));
    CHECK_EQ_SZ(heap_live_blocks(h), 1);
    mia_free(u);
    CHECK_EQ_SZ(heap_live_blocks(h), 0);
    mia_heap_delete(h);
  }

  /* a path that does not exist */
  errno = 0;
  char* v = mia_realpath("mialloc-no-such-directory/no-such-file", NULL);
#if defined(_WIN32)
  CHECK(v != NULL); /* GetFullPathNameA does not look at the file system */
#else
  CHECK(v == NULL && errno == ENOENT);
#endif
  mia_free(v);
}

/* Arenas reserved from the OS: an exclusive one serves its heaps only; a
   shared one serves the next segment anyone needs. */
static void* shared_arena_block; /* kept: the shared arena stays full, later tests see the OS as before */
TEST(api_reserve_os_memory) {
  const size_t seg = mia_arena_min_size();
  CHECK(seg >= 4096 && (seg & (seg - 1)) == 0 && mia_arena_min_alignment() == seg);

  /* exclusive: rounded up to whole segments, aligned, used by its heaps only */
  mia_arena_id_t id = 0;
  CHECK_EQ_INT(mia_reserve_os_memory_ex(2 * seg + 1, true /* commit */, false /* large */, true /* exclusive */, &id), 0);
  CHECK(id != 0);
  size_t size = UNTOUCHED;
  uint8_t* area = (uint8_t*)mia_arena_area(id, &size);
  CHECK(area != NULL && is_aligned(area, mia_arena_min_alignment()));
  CHECK_EQ_SZ(size, 3 * seg);
  mia_heap_t* h = mia_heap_new_in_arena(id);
  CHECK_NOT_NULL(h);
  if (h != NULL) {
    void* p = mia_heap_malloc(h, 1000);
    void* big = mia_heap_malloc(h, seg / 4);
    void* q = mia_malloc(1000);
    CHECK(p != NULL && mia_arena_contains(id, p) && (uint8_t*)p >= area && (uint8_t*)p < area + size);
    CHECK(big != NULL && mia_arena_contains(id, big));
    CHECK(q != NULL && !mia_arena_contains(id, q));
    mia_free(q);
    mia_heap_destroy(h);
  }
  /* unknown ids */
  size = UNTOUCHED;
  CHECK(mia_arena_area(0, &size) == NULL && size == 0);
  CHECK(mia_arena_area(100000, NULL) == NULL);
  CHECK(!mia_arena_contains(0, area) && !mia_arena_contains(-1, area));
  CHECK_EQ_INT(mia_reserve_os_memory_ex(0, true, false, true, &id), ENOMEM);
  CHECK_EQ_INT(id, 0);
  CHECK_EQ_INT(mia_reserve_os_memory(opaque_size(SIZE_MAX), true, false), ENOMEM);

  /* shared: one OS reservation, then a segment-aligned block (its segment
     spans three units: never cached, always reserved) comes from it */
  mia_stats_t before, after, used;
  mia_stats_get(&before);
  CHECK_EQ_INT(mia_reserve_os_memory(3 * seg, false /* commit */, true /* large */), 0);
  mia_stats_get(&after);
  CHECK_EQ_SZ(after.os_reserves, before.os_reserves + 1);
  shared_arena_block = mia_malloc_aligned(1000, seg);
  mia_stats_get(&used);
  CHECK(shared_arena_block != NULL && is_aligned(shared_arena_block, seg));
  CHECKF(used.os_reserves == after.os_reserves, "the block took %zu more OS reservations: not the arena's",
         used.os_reserves - after.os_reserves);
}

/* The C runtime's dup functions (mimalloc keeps them for Windows programs). */
TEST(api_dup_functions) {
  const char* path = getenv("PATH");
  CHECK_NOT_NULL(path);
  char* buf = NULL;
  size_t size = UNTOUCHED;
  CHECK_EQ_INT(mia_dupenv_s(&buf, &size, "PATH"), 0);
  CHECK(buf != NULL && path != NULL && strcmp(buf, path) == 0 && size == strlen(path) + 1 && mia_check_owned(buf));
  mia_free(buf);
  buf = (char*)1;
  CHECK_EQ_INT(mia_dupenv_s(&buf, &size, "MIALLOC_TEST_NO_SUCH_VARIABLE"), 0);
  CHECK(buf == NULL && size == 0);
  size = UNTOUCHED;
  CHECK(mia_dupenv_s(NULL, &size, "PATH") == EINVAL && size == 0);
  CHECK_EQ_INT(mia_dupenv_s(&buf, NULL, NULL), EINVAL);

  wchar_t* wbuf = NULL;
  size = UNTOUCHED;
  const int rc = mia_wdupenv_s(&wbuf, &size, L"PATH");
#if defined(_WIN32)
  const wchar_t* wpath = _wgetenv(L"PATH");
  CHECK(rc == 0 && wbuf != NULL && wpath != NULL && wcscmp(wbuf, wpath) == 0 && size == wcslen(wpath) + 1);
#else
  CHECK(rc == EINVAL && wbuf == NULL && size == 0); /* no wide environment, as in mimalloc */
#endif
  mia_free(wbuf);

  const wchar_t* ws = L"wide \x263A string";
  wchar_t* wd = mia_wcsdup(ws);
  CHECK(wd != NULL && wcscmp(wd, ws) == 0 && mia_usable_size(wd) >= (wcslen(ws) + 1) * sizeof(wchar_t) && mia_check_owned(wd));
  mia_free(wd);
  CHECK_NULL(mia_wcsdup(NULL));
  const unsigned char mb[] = { 'm', 0xC3, 0xA9, 'b', 0 };
  unsigned char* md = mia_mbsdup(mb);
  CHECK(md != NULL && memcmp(md, mb, sizeof mb) == 0 && mia_check_owned(md));
  mia_free(md);
  CHECK_NULL(mia_mbsdup(NULL));
}

/* mia_option_set_enabled_default: a default, which the environment overrides. */
TEST(api_option_enabled_default) {
  const mia_option_t o = mia_option_abandoned_reclaim_on_free; /* accepted, no effect */
  const long old = mia_option_get(o);
  const bool from_env = (getenv("MIALLOC_ABANDONED_RECLAIM_ON_FREE") != NULL);
  mia_option_set_enabled_default(o, true);
  CHECK_EQ_INT(mia_option_get(o), from_env ? old : 1);
  mia_option_set_enabled_default(o, false);
  CHECK_EQ_INT(mia_option_get(o), from_env ? old : 0);
  mia_option_set(o, old);
}

/* The typed macros: the type's size, times the count; zeroing where asked. */
typedef struct typed_s {
  double d;
  char c[13];
} typed_t;
TEST(api_typed_macros) {
  int* i = mia_malloc_tp(int);
  CHECK(i != NULL && mia_usable_size(i) >= sizeof(int));
  mia_free(i);
  dirty(NULL, sizeof(typed_t));
  typed_t* z = mia_zalloc_tp(typed_t);
  CHECK(z != NULL && mia_usable_size(z) >= sizeof(typed_t) && mem_is(z, 0, sizeof(typed_t)));
  mia_free(z);
  dirty(NULL, 7 * sizeof(typed_t));
  typed_t* c = mia_calloc_tp(typed_t, 7);
  CHECK(c != NULL && mia_usable_size(c) >= 7 * sizeof(typed_t) && mem_is(c, 0, 7 * sizeof(typed_t)));
  typed_t* n = mia_mallocn_tp(typed_t, 5);
  CHECK(n != NULL && mia_usable_size(n) >= 5 * sizeof(typed_t));
  if (n != NULL) pattern_fill(n, 5 * sizeof(typed_t), 9);
  typed_t* n2 = mia_reallocn_tp(typed_t, n, 500);
  CHECK(n2 != NULL && mia_usable_size(n2) >= 500 * sizeof(typed_t) && pattern_check(n2, 5 * sizeof(typed_t), 9) == 5 * sizeof(typed_t));
  mia_free(n2 != NULL ? n2 : n);
  typed_t* c2 = mia_recalloc_tp(typed_t, c, 300);
  CHECK(c2 != NULL && mia_usable_size(c2) >= 300 * sizeof(typed_t) && mem_is(c2, 0, 300 * sizeof(typed_t)));
  mia_free(c2 != NULL ? c2 : c);
  CHECK_NULL(mia_mallocn_tp(typed_t, opaque_size(SIZE_MAX / 8)));

  mia_heap_t* h = mia_heap_new();
  CHECK_NOT_NULL(h);
  if (h == NULL) return;
  int* hi = mia_heap_malloc_tp(int, h);
  CHECK(hi != NULL && mia_heap_contains_block(h, hi) && mia_usable_size(hi) >= sizeof(int));
  dirty(h, sizeof(typed_t));
  typed_t* hz = mia_heap_zalloc_tp(typed_t, h);
  CHECK(hz != NULL && mia_heap_contains_block(h, hz) && mem_is(hz, 0, sizeof(typed_t)));
  dirty(h, 9 * sizeof(typed_t));
  typed_t* hc = mia_heap_calloc_tp(typed_t, h, 9);
  CHECK(hc != NULL && mia_heap_contains_block(h, hc) && mem_is(hc, 0, 9 * sizeof(typed_t)));
  typed_t* hn = mia_heap_mallocn_tp(typed_t, h, 11);
  CHECK(hn != NULL && mia_heap_contains_block(h, hn) && mia_usable_size(hn) >= 11 * sizeof(typed_t));
  if (hn != NULL) pattern_fill(hn, 11 * sizeof(typed_t), 10);
  typed_t* hn2 = mia_heap_reallocn_tp(typed_t, h, hn, 400);
  CHECK(hn2 != NULL && mia_heap_contains_block(h, hn2) && mia_usable_size(hn2) >= 400 * sizeof(typed_t) &&
        pattern_check(hn2, 11 * sizeof(typed_t), 10) == 11 * sizeof(typed_t));
  typed_t* hc2 = mia_heap_recalloc_tp(typed_t, h, hc, 200);
  CHECK(hc2 != NULL && mia_heap_contains_block(h, hc2) && mem_is(hc2, 0, 200 * sizeof(typed_t)));
  CHECK_EQ_SZ(heap_live_blocks(h), 4);
  mia_heap_destroy(h);
}

void tests_api(void) {
  RUN(api_version);
  RUN(api_malloc_zero_and_one);
  RUN(api_size_class_boundaries);
  RUN(api_page_kind_sizes);
  RUN(api_huge_1gib);
  RUN(api_enomem_sizes);
  RUN(api_overflow_counts);
  RUN(api_calloc_family);
  RUN(api_zeroing_after_dirty);
  RUN(api_zero_tail_after_resize);
  RUN(api_usable_size_sweep);
  RUN(api_alignment_sweep);
  RUN(api_realloc_grow_shrink);
  RUN(api_realloc_in_place);
  RUN(api_realloc_growth_moves);
  RUN(api_realloc_edge);
  RUN(api_reallocf);
  RUN(api_expand);
  RUN(api_strdup);
  RUN(api_free_forms);
  RUN(api_aligned_powers);
  RUN(api_aligned_invalid);
  RUN(api_aligned_at);
  RUN(api_realloc_aligned);
  RUN(api_posix_family);
  RUN(api_reallocarray_arr);
  RUN(api_heap_default_backing);
  RUN(api_heap_twins);
  RUN(api_heap_contains_owned);
  RUN(api_heap_delete_live);
  RUN(api_heap_destroy_live);
  RUN(api_heap_visit_all);
  RUN(api_heap_visit_areas);
  RUN(api_collect);
  RUN(api_thread_init_done);
#if defined(MIALLOC_SINGLE_THREAD) && MIALLOC_SINGLE_THREAD
  RUN(api_single_thread_keeps_its_memory);
#endif
  RUN(api_process_info);
  RUN(api_output_and_stats);
  RUN(api_register_error);
  RUN(api_free_null_reports_nothing);
  RUN(api_register_deferred_free);
  RUN(api_options);
  RUN(api_usable_family);
  RUN(api_realpath);
  RUN(api_reserve_os_memory);
  RUN(api_dup_functions);
  RUN(api_option_enabled_default);
  RUN(api_typed_macros);
}
