/* whitebox.c - tests that read mialloc's internals: size classes, the
   AVX2/scalar free-list builders, pointer -> segment -> page, the page and
   heap invariants, retirement (the brief's "local_free becomes free" rule),
   frees into full pages, abandonment and reclaim, and fork.

   Its own program (its own MIALLOC_IMPLEMENTATION, so the private mia__
   functions are visible):
      cc -std=gnu11 -O2 -pthread tests/whitebox.c -o wb && ./wb
   The last line is `N passed, N failed`. */
#define MIALLOC_IMPLEMENTATION
#define MIALLOC_WHITEBOX 1 /* keep the internal macros (MIA__SEGMENT_SIZE, ...) */
#include "../mialloc.h"

#include "runner.h"

#include <pthread.h>
#include <stdatomic.h>
#include <sys/wait.h>
#include <unistd.h>

runner_state runner;

/* Run fn(arg) on a thread of its own and wait for it (its exit abandons what it leaves). */
static void wb_in_thread(void* (*fn)(void*), void* arg) {
  pthread_t t;
  CHECK_EQ_INT(pthread_create(&t, NULL, fn, arg), 0);
  pthread_join(t, NULL);
}

/* ---- size classes ---- */

TEST(wb_bins_cover_every_size) {
  size_t bad_cover = 0, bad_monotone = 0, bad_waste = 0, bad_align = 0;
  size_t prev_bin = 1;
  for (size_t size = 1; size <= MIA__LARGE_OBJ_SIZE_MAX; size += (size < 65536 ? 1 : 97)) {
    const size_t bin = mia__bin(size);
    const size_t bsize = mia__bin_size(bin);
    if (bsize < size) bad_cover++;
    if (bin < prev_bin) bad_monotone++;
    prev_bin = bin;
    /* worst case of 4 bins per power of two: 20% of the block */
    if (size > 64 && (bsize - size) * 5 > bsize) bad_waste++;
    if (bsize > 64 && bsize % 16 != 0) bad_align++; /* so blocks above 64 bytes are 16-aligned */
  }
  CHECK_EQ_SZ(bad_cover, 0);
  CHECK_EQ_SZ(bad_monotone, 0);
  CHECK_EQ_SZ(bad_waste, 0);
  CHECK_EQ_SZ(bad_align, 0);
  CHECK_LT_SZ(mia__bin(MIA__LARGE_OBJ_SIZE_MAX), (size_t)MIA__BIN_HUGE);
  CHECK_EQ_SZ(mia__bin(MIA__LARGE_OBJ_SIZE_MAX + 1), (size_t)MIA__BIN_HUGE);
}

TEST(wb_bins_16_aligned_then_four_per_doubling) {
  /* 8, then 16-byte steps to 64 (blocks of 16 bytes or more are 16-aligned, as max_align_t) */
  CHECK_EQ_SZ(mia__bin_size(mia__bin(8)), (size_t)8);
  for (size_t size = 9; size <= 64; size++) {
    const size_t b = mia__bin_size(mia__bin(size));
    CHECKF(b >= size && b % 16 == 0 && b < size + 16, "size %zu -> %zu", size, b);
  }
  /* every direct page slot of a bin points at the bin's first page */
  mia_heap_t* heap = mia_heap_new();
  for (size_t size = 1; size <= MIALLOC_SMALL_SIZE_MAX - MIA__PADDING; size += 7) {
    void* p = mia_heap_malloc(heap, size);
    mia__page_t* page = mia__segment_page_of(mia__segment_of(p), p);
    CHECKF(heap->pages_direct[mia__direct_slot(size + MIA__PADDING)] == page, "size %zu", size);
  }
  mia_heap_destroy(heap);
  CHECK_EQ_SZ(mia__bin(0), (size_t)1);
  /* between 2^k and 2^(k+1) words there are exactly four block sizes */
  for (size_t k = 3; k < 16; k++) {
    size_t distinct = 0, last = 0;
    for (size_t w = ((size_t)1 << k) + 1; w <= ((size_t)1 << (k + 1)); w++) {
      const size_t b = mia__bin(w * MIA__WSIZE);
      if (b != last) { distinct++; last = b; }
    }
    CHECKF(distinct == 4, "k=%zu: %zu bins", k, distinct);
  }
}

TEST(wb_good_size_matches_bins) {
  size_t bad = 0;
  for (size_t size = 0; size <= 70000; size++) {
    /* with padding (debug/secure), usable_size is exactly the size asked for */
    if (mia_good_size(size) != (MIA__PADDING_ON ? size : mia__bin_size(mia__bin(size)))) bad++;
  }
  CHECK_EQ_SZ(bad, 0);
}

/* ---- run-time dispatch: the AVX2 and scalar list builders agree ---- */

static bool wb_lists_equal(size_t bsize, size_t n, void (*build)(uint8_t*, size_t, size_t, mia__block_t*)) {
  static uint8_t area_a[64 * 1024], area_b[64 * 1024];
  memset(area_a, 0xEE, sizeof(area_a));
  memset(area_b, 0xEE, sizeof(area_b));
  mia__block_t sentinel;
  mia__build_list__scalar(area_a, bsize, n, &sentinel);
  build(area_b, bsize, n, &sentinel);
  const mia__block_t* a = (const mia__block_t*)(void*)area_a;
  const mia__block_t* b = (const mia__block_t*)(void*)area_b;
  for (size_t i = n * bsize; i < sizeof(area_b); i++) {
    if (area_b[i] != 0xEE) return false; /* nothing written past the last block */
  }
  for (size_t i = 0; i < n; i++) { /* past its link, a block is untouched or zero (a fresh page's blocks stay zero for calloc) */
    for (size_t k = sizeof(void*); k < bsize; k++) {
      if (area_b[i * bsize + k] != 0xEE && area_b[i * bsize + k] != 0) return false;
    }
  }
  for (size_t i = 0; i < n; i++) {
    const ptrdiff_t da = (const uint8_t*)a->next - area_a, db = (const uint8_t*)b->next - area_b;
    if (i + 1 < n && (da != (ptrdiff_t)((i + 1) * bsize) || db != da)) return false;
    if (i + 1 == n) return a->next == &sentinel && b->next == &sentinel;
    a = a->next; b = b->next;
  }
  return true;
}

TEST(wb_simd_list_build_matches_scalar) {
  mia__process_init();
  size_t bad = 0;
  const size_t sizes[] = { 8, 16, 24, 32, 48, 64, 1024 };
  for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
    for (size_t n = 1; n <= 200 && n * sizes[s] <= 64 * 1024; n++) {
      if (!wb_lists_equal(sizes[s], n, mia__simd.build_list)) bad++;
#if MIA__HAS_AVX2_PATHS
      if (mia__simd.avx2 && !wb_lists_equal(sizes[s], n, mia__build_list__avx2)) bad++;
#endif
    }
  }
  CHECK_EQ_SZ(bad, 0);
#if MIA__HAS_AVX2_PATHS
  printf("     avx2 paths %s on this CPU\n", mia__simd.avx2 ? "selected" : "not available");
  CHECK(mia__simd.avx2 == (bool)__builtin_cpu_supports("avx2"));
#endif
}

/* ---- pointer -> segment -> page ---- */

TEST(wb_segment_and_page_of_every_kind) {
  const size_t sizes[] = { 8, 1024, 8 * 1024, 8 * 1024 + 1, 128 * 1024, 128 * 1024 + 1, 2 * 1024 * 1024, 2 * 1024 * 1024 + 1, 9 * 1024 * 1024 };
  const int kinds[] = { MIA__PAGE_SMALL, MIA__PAGE_SMALL, MIA__PAGE_SMALL, MIA__PAGE_MEDIUM, MIA__PAGE_MEDIUM, MIA__PAGE_LARGE, MIA__PAGE_LARGE, MIA__PAGE_HUGE, MIA__PAGE_HUGE };
  for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
    uint8_t* p = (uint8_t*)mia_malloc(sizes[i] > MIA__PADDING ? sizes[i] - MIA__PADDING : sizes[i]);
    CHECK_NOT_NULL(p);
    if (p == NULL) continue;
    mia__segment_t* segment = mia__segment_of(p);
    mia__page_t* page = mia__segment_page_of(segment, p);
    CHECKF(segment->page_kind == kinds[i], "size %zu kind %d", sizes[i], (int)segment->page_kind);
    CHECK(p >= page->page_start && p < page->page_start + (size_t)page->reserved * page->block_size);
    CHECK(mia__segment_is_valid(segment));
    CHECK(mia__page_is_valid(page));
    CHECK(mia__atomic_load(&segment->thread_id, relaxed) == mia__thread_id());
    mia_free(p);
  }
  /* a block aligned to a whole segment sits at segment + SEGMENT_SIZE */
  uint8_t* q = (uint8_t*)mia_malloc_aligned(100, MIA__SEGMENT_SIZE);
  CHECK_NOT_NULL(q);
  if (q != NULL) {
    mia__segment_t* segment = mia__segment_of(q);
    CHECK((uint8_t*)segment + MIA__SEGMENT_SIZE == q);
    CHECK(mia__segment_page_of(segment, q)->page_start == q);
    mia_free(q);
  }
}

/* ---- retirement: the brief's fast path when a page empties ---- */

TEST(wb_retire_keeps_page_and_promotes_local_free) {
  mia_heap_t* heap = mia_heap_new();
  CHECK_NOT_NULL(heap);
  if (heap == NULL) return;
  /* fill exactly the first extension of a 64-byte page, then free it all */
  enum { N = 64 };
  void* ps[N];
  for (size_t i = 0; i < N; i++) ps[i] = mia_heap_malloc(heap, 64 - MIA__PADDING);
  mia__page_t* page = mia__segment_page_of(mia__segment_of(ps[0]), ps[0]);
  const uint32_t capacity = page->capacity;
  CHECK(page->free == NULL); /* 4 KiB / 64 B: the extension is used up */
  for (size_t i = 0; i < N; i++) mia_free(ps[i]);
  CHECK_EQ_SZ(page->used, 0);
  CHECK(page->retire_expire != 0);            /* kept: the only page of its bin */
  CHECK(page->free != NULL);                   /* local_free became free at retirement */
  CHECK(page->local_free == NULL);
  CHECK(heap->pages_direct[mia__direct_slot(64)] == page);
  /* the next allocations stay on the fast path: same page, no new extension */
  void* again = mia_heap_malloc(heap, 64 - MIA__PADDING);
  CHECK(mia__segment_page_of(mia__segment_of(again), again) == page);
  CHECK_EQ_SZ(page->capacity, capacity);
  mia_free(again);
  mia_heap_destroy(heap);
}

/* A large block allocated and freed in a loop, alone in its segment: its
   page is kept (retired) like a small or medium one, so the next malloc
   takes the same block back instead of a rebuilt segment; one large page
   is kept at a time. */
TEST(wb_retire_keeps_large_page) {
  mia_heap_t* heap = mia_heap_new();
  CHECK_NOT_NULL(heap);
  if (heap == NULL) return;
  const size_t size = 200000;
  void* p = mia_heap_malloc(heap, size);
  CHECK_NOT_NULL(p);
  if (p == NULL) { mia_heap_destroy(heap); return; }
  mia__segment_t* segment = mia__segment_of(p);
  mia__page_t* page = mia__segment_page_of(segment, p);
  CHECK(segment->page_kind == MIA__PAGE_LARGE && segment->used == 1);
  mia_free(p);
  CHECKF(page->segment_in_use && page->retire_expire != 0, "the emptied large page was freed (in use %d, retire %d)", (int)page->segment_in_use,
         (int)page->retire_expire);
  for (int i = 0; i < 100; i++) {
    void* q = mia_heap_malloc(heap, size);
    CHECK(q == p);
    mia_free(q);
  }
  /* one kept at a time: a large page of another bin, kept, sends the first back to its segment */
  void* other = mia_heap_malloc(heap, 3 * size);
  CHECK(other != NULL && mia__page_bin(mia__segment_page_of(mia__segment_of(other), other)) != mia__page_bin(page));
  mia_free(other);
  mia__page_t* other_page = mia__segment_page_of(mia__segment_of(other), other);
  CHECK(other_page->segment_in_use && other_page->retire_expire != 0);
  CHECKF(!page->segment_in_use || page != heap->pages[mia__bin(size + MIA__PADDING)].first, "two large pages kept (bins %zu and %zu)",
         (size_t)mia__page_bin(page), (size_t)mia__page_bin(other_page));
  CHECK(mia__heap_is_valid(heap));
  mia_heap_destroy(heap);
}

/* The brief's row B: sizes cycling 16..1024, malloc then free, from a cold
   heap. Every bin's first touch is a slow path (64 heartbeats in the first
   round); no page may be freed and rebuilt in the rounds after it. */
TEST(wb_rotation_keeps_retired_pages) {
  mia_heap_t* heap = mia_heap_new();
  for (size_t i = 0; i < 64; i++) mia_free(mia_heap_malloc(heap, 16 + 16 * i)); /* warm: one page per bin */
  const int64_t pages_total = mia__atomic_load(&mia__stats.pages.total, relaxed);
  for (size_t i = 0; i < 64 * 200; i++) mia_free(mia_heap_malloc(heap, 16 + 16 * (i % 64)));
  CHECK_EQ_INT(mia__atomic_load(&mia__stats.pages.total, relaxed), pages_total); /* no page built again */
  mia_heap_destroy(heap);
}

TEST(wb_retired_page_freed_after_idle_heartbeats) {
  mia_heap_t* heap = mia_heap_new();
  CHECK_NOT_NULL(heap);
  if (heap == NULL) return;
  void* p = mia_heap_malloc(heap, 48);
  mia__page_t* page = mia__segment_page_of(mia__segment_of(p), p);
  mia_free(p);
  CHECK(page->retire_expire != 0 && page->segment_in_use);
  /* other bins take the slow path; each slow path is a heartbeat */
  const size_t pages_before = heap->page_count;
  for (int i = 0; i < 4 * MIA__RETIRE_CYCLES * MIA__RETIRE_EVERY; i++) {
    void* q = mia_heap_malloc(heap, 2048 + (size_t)(i % 8) * 1024); /* medium-ish sizes: generic path */
    mia_free(q);
    mia__heap_heartbeat(heap);
  }
  CHECK(heap->pages[mia__bin(48)].first == NULL);  /* idle retired page went back to its segment */
  CHECK_LE_SZ(heap->page_count, pages_before + 8);
  mia_heap_destroy(heap);
}

/* A retired page that keeps being used (malloc then free, emptying it each
   time: the brief's row A) between heartbeats is not freed however many
   heartbeats pass: the heartbeat sees its free list head move. Once idle it
   goes after RETIRE_CYCLES aging steps. */
TEST(wb_retired_page_in_use_survives_heartbeats) {
  mia_heap_t* heap = mia_heap_new();
  CHECK_NOT_NULL(heap);
  if (heap == NULL) return;
  void* p = mia_heap_malloc(heap, 32);
  mia__page_t* page = mia__segment_page_of(mia__segment_of(p), p);
  mia_free(p);
  CHECK(page->retire_expire != 0);
  const size_t bin = mia__page_bin(page);
  const int64_t pages_total = mia__atomic_load(&mia__stats.pages.total, relaxed);
  for (int i = 0; i < 8 * MIA__RETIRE_CYCLES * MIA__RETIRE_EVERY; i++) {
    for (int k = 0; k < 3; k++) mia_free(mia_heap_malloc(heap, 32)); /* empties the page each time */
    mia__heap_heartbeat(heap);
  }
  CHECK(heap->pages[bin].first == page && page->segment_in_use);
  CHECK_EQ_INT(mia__atomic_load(&mia__stats.pages.total, relaxed), pages_total); /* never freed and rebuilt */
  /* idle now: freed within RETIRE_CYCLES + 1 aging steps */
  for (int i = 0; i < (MIA__RETIRE_CYCLES + 1) * MIA__RETIRE_EVERY; i++) mia__heap_heartbeat(heap);
  CHECK(heap->pages[bin].first == NULL);
  mia_heap_destroy(heap);
}

/* ---- frees into full pages: found by the owner, never announced ---- */

typedef struct wb_blocks { void** ps; size_t n; } wb_blocks;
static void* wb_free_all(void* arg) {
  wb_blocks* b = (wb_blocks*)arg;
  for (size_t i = 0; i < b->n; i++) mia_free(b->ps[i]);
  return NULL;
}
static void wb_free_elsewhere(void** ps, size_t n) {
  wb_blocks b = { ps, n };
  wb_in_thread(wb_free_all, &b);
}

/* The unfull order depends on the heap's memory: a full page that gets a
   block back goes to the back of its bin in a heap on the OS (the page in
   use stays first) and to the front in a heap of an arena (allocation keeps
   to pages that get blocks back, so others can empty and return to the
   arena). Local frees here; the remote path is wb_full_page_remote_free. */
static mia__page_t* wb_fill_page(mia_heap_t* heap, void** ps, size_t* n, size_t max, size_t bsize) {
  *n = 0;
  ps[(*n)++] = mia_heap_malloc(heap, bsize - MIA__PADDING);
  mia__page_t* page = mia__segment_page_of(mia__segment_of(ps[0]), ps[0]);
  while (*n < max) {
    void* p = mia_heap_malloc(heap, bsize - MIA__PADDING);
    if (mia__segment_page_of(mia__segment_of(p), p) != page) { mia_free(p); break; }
    ps[(*n)++] = p;
  }
  return page;
}
TEST(wb_unfull_order_os_back_arena_front) {
  enum { MAXN = 64 };
  const size_t bsize = 4096;
  void* ps[MAXN];
  void* area = NULL;
  const size_t area_size = 2 * MIA__SEGMENT_SIZE;
  CHECK_EQ_INT(posix_memalign(&area, MIA__SEGMENT_SIZE, area_size), 0);
  mia_arena_id_t arena = 0;
  CHECK(area != NULL && mia_manage_os_memory_ex(area, area_size, true, false, false, -1, true, &arena));
  mia_heap_t* heaps[2] = { mia_heap_new(), mia_heap_new_in_arena(arena) };
  for (int h = 0; h < 2; h++) {
    mia_heap_t* heap = heaps[h];
    CHECK_NOT_NULL(heap);
    if (heap == NULL) continue;
    size_t n = 0;
    mia__page_t* page = wb_fill_page(heap, ps, &n, MAXN, bsize);
    void* other = mia_heap_malloc(heap, bsize - MIA__PADDING); /* parks `page` in the full queue */
    CHECK(mia__atomic_load(&page->flags, relaxed) & MIA__PAGE_IN_FULL);
    mia__page_t* current = heap->pages[mia__bin(bsize)].first;
    CHECK(current != NULL && current != page);
    mia_free(ps[0]); /* a local free into the full page: it returns to its bin */
    CHECK((mia__atomic_load(&page->flags, relaxed) & MIA__PAGE_IN_FULL) == 0);
    if (h == 0) CHECK(heap->pages[mia__bin(bsize)].first == current && heap->pages[mia__bin(bsize)].last == page);
    else CHECK(heap->pages[mia__bin(bsize)].first == page);
    CHECK(mia__heap_is_valid(heap));
    for (size_t i = 1; i < n; i++) mia_free(ps[i]);
    mia_free(other);
    mia_heap_delete(heap);
  }
}

/* A bin whose first page has room never handed out and whose later page
   has a free block takes the free block: the first page is not extended
   (mia__find_free_page; before, the extension wrote new memory while the
   freed block waited). */
TEST(wb_free_block_before_extension) {
  enum { MAXN = 64 };
  const size_t bsize = 4096;
  void* ps[MAXN];
  mia_heap_t* heap = mia_heap_new();
  CHECK_NOT_NULL(heap);
  if (heap == NULL) return;
  size_t n = 0;
  mia__page_t* page = wb_fill_page(heap, ps, &n, MAXN, bsize);
  void* more[MAXN];
  size_t m = 0;
  more[m++] = mia_heap_malloc(heap, bsize - MIA__PADDING); /* parks `page` in the full queue */
  mia__page_t* current = mia__segment_page_of(mia__segment_of(more[0]), more[0]);
  CHECK(current != page && heap->pages[mia__bin(bsize)].first == current);
  while ((current->free != NULL || current->local_free != NULL) && m < MAXN) more[m++] = mia_heap_malloc(heap, bsize - MIA__PADDING);
  const uint32_t capacity = current->capacity;
  CHECKF(current->free == NULL && current->local_free == NULL && capacity < current->reserved, "the current page's first extension is used up with room left (capacity %u of %u)",
         (unsigned)capacity, (unsigned)current->reserved);
  mia_free(ps[0]); /* back to its bin, behind `current` */
  void* p = mia_heap_malloc(heap, bsize - MIA__PADDING);
  CHECKF(p == ps[0], "the freed block of the older page was not taken (%p, freed %p)", p, ps[0]);
  CHECKF(current->capacity == capacity, "the current page was extended (capacity %u -> %u) while a freed block waited", (unsigned)capacity,
         (unsigned)current->capacity);
  CHECK(mia__heap_is_valid(heap));
  /* with no free block anywhere, the page with room is extended */
  void* q = mia_heap_malloc(heap, bsize - MIA__PADDING);
  CHECK(mia__segment_page_of(mia__segment_of(q), q) == current && current->capacity > capacity);
  mia_free(q);
  mia_free(p);
  for (size_t i = 1; i < n; i++) mia_free(ps[i]);
  for (size_t i = 0; i < m; i++) mia_free(more[i]);
  mia_heap_delete(heap);
}

/* ---- abandonment and reclaim ---- */

static void* wb_leave_blocks(void* arg) {
  wb_blocks* b = (wb_blocks*)arg;
  for (size_t i = 0; i < b->n; i++) b->ps[i] = mia_malloc(100 + i % 900);
  return NULL; /* exits with every block live: its segments are abandoned */
}

/* Another thread's free into a full page is one CAS onto its thread_free:
   the page stays in the full queue until the owner looks at it
   (mia__heap_unfull_some, oldest first), which sends it to the back of its
   bin (the page in use stays first) -- and a heap whose bin has no free
   block looks there before it takes a fresh page. */
TEST(wb_full_page_remote_free) {
  enum { MAXN = 64 };
  const size_t bsize = 4096;
  const size_t bin = mia__bin(bsize);
  void* ps[MAXN];
  void* qs[MAXN + 2];
  mia_heap_t* heap = mia_heap_new();
  CHECK_NOT_NULL(heap);
  if (heap == NULL) return;
  size_t n = 0;
  mia__page_t* page = wb_fill_page(heap, ps, &n, MAXN, bsize); /* its last probe parks the page in the full queue */
  CHECK(mia__atomic_load(&page->flags, relaxed) & MIA__PAGE_IN_FULL);
  mia__page_t* current = heap->pages[bin].first;
  CHECK(current != NULL && current != page);
  wb_free_elsewhere(ps, 2);
  /* no one is told: the page is still full, its blocks wait on thread_free */
  CHECK(mia__atomic_load(&page->flags, relaxed) & MIA__PAGE_IN_FULL);
  CHECK(mia__tf_block(mia__atomic_load(&page->xthread_free, relaxed)) != NULL);
  CHECK_EQ_SZ(page->used, n);
  mia__heap_unfull_some(heap, MIA__FULL_SCAN);
  CHECK((mia__atomic_load(&page->flags, relaxed) & MIA__PAGE_IN_FULL) == 0);
  CHECK(heap->pages[bin].first == current && heap->pages[bin].last == page);
  CHECK_EQ_SZ(page->used, n - 2);
  CHECK(mia__heap_is_valid(heap));
  /* use up `current`, then the two blocks of `page`: both are full then */
  size_t m = 0;
  while (m < MAXN) {
    qs[m] = mia_heap_malloc(heap, bsize - MIA__PADDING);
    if (mia__segment_page_of(mia__segment_of(qs[m]), qs[m]) != current) break;
    m++;
  }
  CHECK(m > 0 && m < MAXN);
  if (m == 0 || m >= MAXN) return;
  CHECK(mia__segment_page_of(mia__segment_of(qs[m]), qs[m]) == page);
  qs[m + 1] = mia_heap_malloc(heap, bsize - MIA__PADDING);
  CHECK(mia__segment_page_of(mia__segment_of(qs[m + 1]), qs[m + 1]) == page);
  m += 2;
  /* another thread frees a block of `current`; the next allocation finds its
     bin without a free block and looks at the full queue before it takes a
     fresh page: it gets that block back */
  wb_free_elsewhere(qs, 1);
  void* last = mia_heap_malloc(heap, bsize - MIA__PADDING);
  CHECK(mia__segment_page_of(mia__segment_of(last), last) == current);
  CHECK(mia__heap_is_valid(heap));
  mia_free(last);
  for (size_t i = 1; i < m; i++) mia_free(qs[i]);
  for (size_t i = 2; i < n; i++) mia_free(ps[i]);
  mia_heap_destroy(heap);
}

/* The owner looks at its full queue a few pages at a time, oldest first: a
   page without frees goes to the back, so the next look reaches the others. */
TEST(wb_full_queue_rotates) {
  enum { MAXN = 64 };
  const size_t bsize = 4096;
  void* ps[2][MAXN];
  size_t n[2] = { 0, 0 };
  mia_heap_t* heap = mia_heap_new();
  CHECK_NOT_NULL(heap);
  if (heap == NULL) return;
  mia__page_t* a = wb_fill_page(heap, ps[0], &n[0], MAXN, bsize); /* each parked in the full queue by its fill's last probe */
  mia__page_t* b = wb_fill_page(heap, ps[1], &n[1], MAXN, bsize);
  CHECK(heap->pages[MIA__BIN_FULL].first == a && heap->pages[MIA__BIN_FULL].last == b);
  wb_free_elsewhere(ps[1], 1); /* into b, the second oldest */
  mia__heap_unfull_some(heap, 1); /* looks at a: nothing freed there, to the back */
  CHECK(heap->pages[MIA__BIN_FULL].first == b && heap->pages[MIA__BIN_FULL].last == a);
  CHECK(mia__atomic_load(&b->flags, relaxed) & MIA__PAGE_IN_FULL);
  mia__heap_unfull_some(heap, 1); /* looks at b: back to its bin */
  CHECK((mia__atomic_load(&b->flags, relaxed) & MIA__PAGE_IN_FULL) == 0);
  CHECK(heap->pages[MIA__BIN_FULL].first == a && heap->pages[MIA__BIN_FULL].last == a);
  CHECK(mia__heap_is_valid(heap));
  for (size_t j = 0; j < n[0]; j++) mia_free(ps[0][j]);
  for (size_t j = 1; j < n[1]; j++) mia_free(ps[1][j]);
  mia_heap_destroy(heap);
}

TEST(wb_abandon_then_reclaim) {
  enum { N = 5000 };
  static void* ps[N];
  wb_blocks b = { ps, N };
  const size_t abandoned_before = mia__atomic_load(&mia__abandoned_count, relaxed);
  wb_in_thread(wb_leave_blocks, &b);
  CHECK_GT_SZ(mia__atomic_load(&mia__abandoned_count, relaxed), abandoned_before);
  mia__segment_t* segment = mia__segment_of(ps[0]);
  CHECK(mia__atomic_load(&segment->thread_id, relaxed) == 0);
  /* free them from here: they go to the pages' thread_free lists */
  for (size_t i = 0; i < N; i++) mia_free(ps[i]);
  /* a forced collect reclaims abandoned segments; all-free pages go back */
  mia_collect(true);
  CHECK_EQ_SZ(mia__atomic_load(&mia__abandoned_count, relaxed), 0);
  CHECK(mia__heap_is_valid(mia_heap_get_backing()));
}

/* Every segment of an exited thread adopted or given back: the abandoned stack is empty. */
static void wb_empty_abandoned_stack(void) {
  mia_collect(true);
  CHECK_EQ_SZ(mia__atomic_load(&mia__abandoned_count, relaxed), 0);
}

/* The heartbeat's adoption goes by need (mia__segment_try_reclaim_needed):
   a heap short of free pages of the segment's kind (fewer than a segment
   holds) adopts it; one with more cleans the deepest abandoned segment and
   puts it back on top. Before, the heartbeat adopted whatever was on top,
   and one thread of a pair took nearly every abandoned segment while the
   other mapped new ones (larson). */
enum { WB_NEED_BLOCKS = 8400 }; /* ~1000 B blocks, 64 to a 64 KiB page: ~131 pages, three segments */
typedef struct wb_need {
  void* one;                     /* the exited thread's live block */
  void* blocks[WB_NEED_BLOCKS];
  int poor_adopted, rich_adopted, rich_on_stack;
  size_t poor_free, rich_free;
} wb_need;
static void* wb_leave_one(void* arg) {
  *(void**)arg = mia_malloc(96);
  return NULL; /* exits with it live: its segment is abandoned */
}
static void* wb_need_body(void* arg) {
  wb_need* r = (wb_need*)arg;
  mia_heap_t* heap = mia_heap_get_backing(); /* a new thread's: no segment yet */
  mia__segment_t* first = (mia__segment_t*)mia__atomic_load(&mia__abandoned, relaxed);
  r->poor_free = mia__heap_free_slices(heap, MIA__PAGE_SMALL, SIZE_MAX);
  (void)mia__segment_try_reclaim_needed(heap);
  r->poor_adopted = (first != NULL && mia__atomic_load(&first->thread_id, relaxed) == mia__thread_id() && first->heap == heap);
  /* pages over three segments, then all freed but the first block and the last: two segments stay, mostly free */
  for (int i = 0; i < WB_NEED_BLOCKS; i++) r->blocks[i] = mia_malloc(1000);
  for (int i = 1; i < WB_NEED_BLOCKS - 1; i++) { mia_free(r->blocks[i]); r->blocks[i] = NULL; }
  r->rich_free = mia__heap_free_slices(heap, MIA__PAGE_SMALL, SIZE_MAX);
  void* other = NULL;
  wb_in_thread(wb_leave_one, &other);
  mia__segment_t* second = (other == NULL ? NULL : mia__segment_of(other));
  (void)mia__segment_try_reclaim_needed(heap);
  r->rich_adopted = (second != NULL && mia__atomic_load(&second->thread_id, relaxed) != 0);
  r->rich_on_stack = (second != NULL && (mia__segment_t*)mia__atomic_load(&mia__abandoned, relaxed) == second);
  mia_free(other); /* into the abandoned segment */
  mia_free(r->blocks[0]);
  mia_free(r->blocks[WB_NEED_BLOCKS - 1]);
  return NULL;
}
TEST(wb_heartbeat_adopts_by_need) {
  wb_empty_abandoned_stack();
  static wb_need r;
  memset(&r, 0, sizeof r);
  wb_in_thread(wb_leave_one, &r.one);
  CHECK_EQ_SZ(mia__atomic_load(&mia__abandoned_count, relaxed), 1);
  wb_in_thread(wb_need_body, &r);
  CHECKF(r.poor_free < MIA__SMALL_PAGES_PER_SEGMENT, "the new thread's heap had %zu free small pages", r.poor_free);
  CHECKF(r.poor_adopted, "a heap with %zu free small pages did not adopt the abandoned small segment", r.poor_free);
  CHECKF(r.rich_free >= MIA__SMALL_PAGES_PER_SEGMENT, "the setup left the heap %zu free small pages (not a segment's worth)", r.rich_free);
  CHECKF(!r.rich_adopted, "a heap with %zu free small pages adopted another small segment", r.rich_free);
  CHECKF(r.rich_on_stack, "the segment it did not adopt is not back on top of the abandoned stack");
  mia_free(r.one);
  mia_collect(true);
  CHECK_EQ_SZ(mia__atomic_load(&mia__abandoned_count, relaxed), 0);
}

/* The pool keeps the dirty pages of what enters it only while threads come
   and go and take from it (mia__pool_put): a segment a thread had cached
   goes to the pool at its exit with its free pages dirty if a segment was
   taken from the pool within MIA__POOL_WINDOW ms, purged otherwise -- even
   while threads churn (a segment of an exited thread was adopted lately). */
static void* wb_cache_one_segment(void* arg) {
  enum { N = 1200 }; /* ~1000 B blocks: ~19 small pages of one segment, written, then all freed */
  void** ps = (void**)arg;
  for (int i = 0; i < N; i++) { ps[i] = mia_malloc(1000); if (ps[i] != NULL) memset(ps[i], 5, 1000); }
  for (int i = 0; i < N; i++) mia_free(ps[i]);
  return NULL; /* the emptied segment sits in the thread's cache; at the exit it goes to the pool */
}
/* A heap that needs a fresh page for a bin adopts, first, an abandoned
   segment with room in a page of that bin -- even when it has free pages of
   that kind itself (the heartbeat's need rule would not adopt then): the
   exited thread's freed blocks serve the bin instead of new memory. */
enum { WB_ROOM_SIZE = 1200, WB_ROOM_BLOCKS = 40 };
typedef struct wb_room {
  void* ps[WB_ROOM_BLOCKS];
  void* p;
  mia__segment_t* left;
  int adopted, valid;
} wb_room;
static void* wb_leave_room(void* arg) {
  void** ps = (void**)arg;
  for (int i = 0; i < WB_ROOM_BLOCKS; i++) ps[i] = mia_malloc(WB_ROOM_SIZE - MIA__PADDING);
  for (int i = 0; i < WB_ROOM_BLOCKS; i += 2) { mia_free(ps[i]); ps[i] = NULL; }
  return NULL; /* exits with the odd blocks live: its page has room, its segment is abandoned */
}
static void* wb_room_body(void* arg) {
  wb_room* r = (wb_room*)arg;
  void* own = mia_malloc(2000); /* a small segment of its own, with free pages, before the other thread exits */
  wb_in_thread(wb_leave_room, r->ps);
  r->left = mia__segment_of(r->ps[1]);
  mia_heap_t* heap = mia_heap_get_backing();
  heap->tld->heartbeat = 1; /* no heartbeat adoption on this call */
  r->p = mia_malloc(WB_ROOM_SIZE - MIA__PADDING);
  r->adopted = (mia__atomic_load(&r->left->thread_id, relaxed) == mia__thread_id() && r->left->heap == heap);
  r->valid = mia__heap_is_valid(heap);
  for (int i = 1; i < WB_ROOM_BLOCKS; i += 2) mia_free(r->ps[i]);
  mia_free(r->p);
  mia_free(own);
  return NULL;
}
TEST(wb_fresh_page_adopts_room_of_its_bin) {
  wb_empty_abandoned_stack();
  static wb_room r;
  memset(&r, 0, sizeof r);
  wb_in_thread(wb_room_body, &r);
  CHECKF(mia__segment_of(r.p) == r.left, "a fresh page was taken (%p) while an abandoned segment had room in the bin (%p)", r.p, (void*)r.left);
  CHECK(r.adopted);
  CHECK(r.valid);
  mia_collect(true);
}

/* A thread caches one dirty segment and exits; the pool's (only) segment: its
   dirty pages (purge_map) as it entered. `taken_ago`: ms since the last take
   from the pool. */
static size_t wb_pooled_dirty_pages(int64_t taken_ago) {
  static void* ps[1200];
  mia_collect(true); /* the pool is empty */
  const int64_t now = mia__clock_now();
  mia__atomic_store(&mia__reclaimed_at, now, relaxed); /* threads churn */
  mia__atomic_store(&mia__pool_taken_at, now - taken_ago, relaxed);
  wb_in_thread(wb_cache_one_segment, ps);
  mia__spin_lock(&mia__pool_lock);
  const size_t n = (mia__pool == NULL ? SIZE_MAX : (size_t)mia__popcount(mia__pool->purge_map));
  mia__spin_unlock(&mia__pool_lock);
  return n;
}
TEST(wb_pool_keeps_dirty_pages_only_for_takers) {
  const size_t taking = wb_pooled_dirty_pages(0);
  const size_t idle = wb_pooled_dirty_pages(10 * MIA__POOL_WINDOW);
  mia_collect(true);
  CHECKF(taking != SIZE_MAX && idle != SIZE_MAX, "the exited thread's cached segment did not reach the pool (%zu, %zu)", taking, idle);
  CHECKF(taking >= 10, "a segment entered the pool with %zu dirty pages while threads take from it (its ~19 written pages were purged)", taking);
  CHECKF(idle == 0, "a segment entered the pool with %zu dirty pages while nobody had taken from it for %d ms", idle, 10 * MIA__POOL_WINDOW);
}

/* A thread that adopts abandoned segments pushes the rest of the stack back
   before it does the adoption's work (collecting the frees, giving empty
   pages back), so that other threads find them meanwhile; before, the
   stack stayed empty until the adopter was done, and a thread that needed
   a segment then mapped a new one. Seen from inside the adoption: the
   decommit of a page that the adoption found empty (purge delay 0: at
   once) runs with the other segment already back on the stack. */
typedef struct wb_pair { pthread_barrier_t* both; void* p[4]; void* other; } wb_pair;
static void* wb_leave_four(void* arg) {
  wb_pair* x = (wb_pair*)arg;
  for (int i = 0; i < 4; i++) x->p[i] = mia_malloc(96);
  x->other = mia_malloc(2000); /* another page of the segment: it stays live */
  pthread_barrier_wait(x->both); /* both allocated before either exits: neither adopts the other's segment */
  return NULL;
}
static mia_os_hooks_t wb_os_base;
static int wb_decommits, wb_decommits_with_stack;
static int wb_decommit_seeing_stack(void* addr, size_t size, bool* needs_commit, void* arg) {
  (void)arg;
  wb_decommits++;
  if (mia__atomic_load(&mia__abandoned, relaxed) != 0) wb_decommits_with_stack++;
  return wb_os_base.decommit(addr, size, needs_commit, wb_os_base.arg);
}
TEST(wb_reclaim_pushes_rest_back_first) {
  wb_empty_abandoned_stack();
  void* keep = mia_malloc(96); /* this thread's heap has its page of that size: no adoption on the way */
  pthread_barrier_t both;
  pthread_barrier_init(&both, NULL, 2);
  wb_pair x[2];
  memset(x, 0, sizeof x);
  pthread_t t[2];
  for (int i = 0; i < 2; i++) {
    x[i].both = &both;
    pthread_create(&t[i], NULL, wb_leave_four, &x[i]);
  }
  for (int i = 0; i < 2; i++) pthread_join(t[i], NULL);
  pthread_barrier_destroy(&both);
  mia__segment_t* top = (mia__segment_t*)mia__atomic_load(&mia__abandoned, relaxed);
  CHECK_NOT_NULL(top);
  if (top == NULL) return;
  mia__segment_t* below = top->abandoned_next;
  CHECK(below != NULL && below->abandoned_next == NULL);
  if (below == NULL) return;
  /* the 96-byte blocks of the top segment freed from here: the adoption finds their page empty */
  for (int i = 0; i < 2; i++)
    for (int k = 0; k < 4; k++)
      if (mia__segment_of(x[i].p[k]) == top) { mia_free(x[i].p[k]); x[i].p[k] = NULL; }
  const long delay = mia_option_get(mia_option_purge_delay);
  mia_option_set(mia_option_purge_delay, 0);
  mia_os_hooks_default(&wb_os_base);
  mia_os_hooks_t hooks = wb_os_base;
  hooks.decommit = wb_decommit_seeing_stack;
  CHECK(mia_os_hooks_set(&hooks));
  wb_decommits = wb_decommits_with_stack = 0;
  CHECK(mia__segment_try_reclaim(mia_heap_get_backing(), 1)); /* adopts the top one */
  CHECK(mia_os_hooks_set(NULL));
  mia_option_set(mia_option_purge_delay, delay);
  CHECKF(wb_decommits > 0, "the adoption gave nothing back (the test shows nothing)");
  CHECKF(wb_decommits_with_stack == wb_decommits, "%d of %d decommits during the adoption saw an empty abandoned stack",
         wb_decommits - wb_decommits_with_stack, wb_decommits);
  CHECK((mia__segment_t*)mia__atomic_load(&mia__abandoned, relaxed) == below);
  CHECK(mia__heap_is_valid(mia_heap_get_backing()));
  for (int i = 0; i < 2; i++) {
    for (int k = 0; k < 4; k++) mia_free(x[i].p[k]);
    mia_free(x[i].other);
  }
  mia_free(keep);
  mia_collect(true);
  CHECK_EQ_SZ(mia__atomic_load(&mia__abandoned_count, relaxed), 0);
}

static void* wb_alloc_huge(void* arg) {
  *(void**)arg = mia_malloc(9 * MiB);
  memset(*(void**)arg, 0x77, 4096);
  return NULL; /* exits with the huge block live */
}

TEST(wb_huge_block_of_exited_thread_released_by_its_free) {
  void* p = NULL;
  wb_in_thread(wb_alloc_huge, &p);
  CHECK_NOT_NULL(p);
  if (p == NULL) return;
  mia__segment_t* segment = mia__segment_of(p);
  CHECK(mia__atomic_load(&segment->thread_id, relaxed) == 0);
  CHECK(mia__atomic_load(&mia__segment_page_of(segment, p)->xthread_free, relaxed) & MIA__TF_ABANDONED);
  const int64_t huge_before = mia__atomic_load(&mia__stats.huge.current, relaxed);
  const int64_t reserved_before = mia__atomic_load(&mia__stats.reserved.current, relaxed);
  const bool in_region = segment->in_region; /* the huge region keeps its address space: the units go back to it */
  mia_free(p); /* no owner: this free releases the segment */
  CHECK_EQ_INT(mia__atomic_load(&mia__stats.huge.current, relaxed), huge_before - 1);
  CHECK(!mia__segment_map_contains(segment));
  CHECK(in_region || mia__atomic_load(&mia__stats.reserved.current, relaxed) <= reserved_before - (int64_t)(9 * MiB));
}

/* ---- fork: the child allocates in every size class and frees inherited blocks ---- */

static void* wb_spin_alloc(void* arg) {
  _Atomic int* stop = (_Atomic int*)arg;
  while (!atomic_load_explicit(stop, memory_order_relaxed)) { void* p = mia_malloc(64); mia_free(p); }
  return NULL;
}

TEST(wb_fork_child_allocates) {
  enum { N = 200 };
  void* inherited[N];
  for (size_t i = 0; i < N; i++) inherited[i] = mia_malloc(16 + i * 40);
  _Atomic int stop = 0; /* atomic: TSan saw the plain flag as a race */
  pthread_t t;
  pthread_create(&t, NULL, wb_spin_alloc, (void*)&stop);
  int ok_children = 0;
  for (int round = 0; round < 20; round++) {
    pid_t pid = fork();
    if (pid == 0) {
      alarm(10);
      int bad = 0;
      for (size_t i = 0; i < N; i++) mia_free(inherited[i]);
      for (size_t size = 1; size <= 4 * MiB; size = size * 2 + 1) {
        uint8_t* p = (uint8_t*)mia_malloc(size);
        if (p == NULL) { bad++; continue; }
        memset(p, 0x42, size);
        mia_free(p);
      }
      mia_collect(true);
      _exit(bad == 0 ? 0 : 1);
    }
    int status = 0;
    if (pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0) ok_children++;
  }
  atomic_store_explicit(&stop, 1, memory_order_relaxed);
  pthread_join(t, NULL);
  CHECK_EQ_INT(ok_children, 20);
  for (size_t i = 0; i < N; i++) mia_free(inherited[i]);
}

/* Large blocks (medium max .. 2 MiB): each is a page of its own, a span of
   slices in a shared large segment sized to its bin, so a freed large
   block gives back exactly its span (the producer/consumer RSS bound in
   tests/memory.c depends on it). Run on a fresh thread: its segments are new. */
static void* wb_large_spans(void* arg) {
  (void)arg;
  enum { N = 12 };
  const size_t size = 300 * 1024; /* bin 320 KiB: 5 slices */
  const size_t slices = (mia__bin_size(mia__bin(size + MIA__PADDING)) + MIA__SMALL_PAGE_SIZE - 1) / MIA__SMALL_PAGE_SIZE;
  if (MIA__SEGMENT_SIZE != 4 * MiB || MIA__SMALL_PAGE_SIZE != 64 * 1024) return NULL; /* the default geometry */
  uint8_t* ps[N];
  for (size_t i = 0; i < N; i++) {
    ps[i] = (uint8_t*)mia_malloc(size);
    CHECK_NOT_NULL(ps[i]);
    if (ps[i] == NULL) return NULL;
    memset(ps[i], (int)i, size);
  }
  mia__segment_t* segment = mia__segment_of(ps[0]);
  const size_t first = (segment->info_size + MIA__SMALL_PAGE_SIZE - 1) / MIA__SMALL_PAGE_SIZE; /* slices under the metadata */
  const size_t usable = MIA__SMALL_PAGES_PER_SEGMENT - first;
  CHECK_EQ_SZ(usable, 63);
  for (size_t i = 0; i < N; i++) {
    mia__segment_t* s = mia__segment_of(ps[i]);
    mia__page_t* page = mia__segment_page_of(s, ps[i]);
    CHECK(s == segment); /* 63 free slices hold 12 spans of 5 */
    CHECK_EQ_INT(s->page_kind, MIA__PAGE_LARGE);
    CHECK_EQ_SZ(page->reserved, 1);
    CHECK_EQ_SZ(page->slice_count, slices);
    CHECK(page->page_start == ps[i]);
    CHECK(ps[i] == (uint8_t*)segment + (first + i * slices) * MIA__SMALL_PAGE_SIZE); /* first fit, in order */
    CHECK(mia__segment_page_of(s, ps[i] + size - 1) == page); /* every slice maps to the page */
  }
  CHECK(mia__segment_is_valid(segment));
  /* free every other block: exactly their slices come free (once the page
     the last one leaves, its bin's only page and so kept, is collected) */
  for (size_t i = 1; i < N; i += 2) mia_free(ps[i]);
  mia_heap_collect(mia_heap_get_default(), false);
  CHECK(mia__segment_is_valid(segment));
  CHECK_EQ_SZ(segment->used, N / 2);
  CHECK_EQ_INT(__builtin_popcountll(segment->free_map), (int)(usable - (N / 2) * slices));
  /* the same size takes the first freed span; one of twice the slices fits
     no gap (each is 5, the tail 3) and needs another segment */
  uint8_t* q = (uint8_t*)mia_malloc(size);
  CHECK(q == ps[1]);
  uint8_t* r = (uint8_t*)mia_malloc(2 * slices * MIA__SMALL_PAGE_SIZE - MIA__SMALL_PAGE_SIZE / 2);
  CHECK_NOT_NULL(r);
  CHECK(mia__segment_of(r) != segment);
  mia_free(r);
  mia_free(q);
  for (size_t i = 0; i < N; i += 2) {
    size_t bad = 0;
    for (size_t k = 0; k < size; k += 4096) bad += (ps[i][k] != (uint8_t)i);
    CHECK_EQ_SZ(bad, 0);
    mia_free(ps[i]);
  }
  return NULL;
}
TEST(wb_large_block_is_a_span_of_slices) {
  wb_in_thread(wb_large_spans, NULL);
}

/* Purge state of large spans: a span freed with purge delay 0 is purged at
   once (each of its slices); a span allocated over a purged and a dirty
   free span is zeroed by zalloc (the page counts as purged only if every
   slice is), takes the dirty slices' pending purge off the segment's
   purge map, and a forced purge pass leaves its memory alone. */
static void* wb_large_purge_body(void* arg) {
  (void)arg;
  if (MIA__SEGMENT_SIZE != 4 * MiB || MIA__SMALL_PAGE_SIZE != 64 * 1024) return NULL; /* the default geometry */
  const long delay = mia_option_get(mia_option_purge_delay);
  const size_t size = 300 * 1024; /* 5 slices */
  const size_t slice = MIA__SMALL_PAGE_SIZE;
  uint8_t* ps[4];
  for (size_t i = 0; i < 4; i++) {
    ps[i] = (uint8_t*)mia_malloc(size);
    CHECK_NOT_NULL(ps[i]);
    if (ps[i] == NULL) return NULL;
    memset(ps[i], 0x11 * (int)(i + 1), size);
  }
  mia__segment_t* segment = mia__segment_of(ps[0]);
  mia__page_t* pages = mia__segment_pages(segment);
  for (size_t i = 1; i < 4; i++) CHECK(ps[i] == ps[0] + i * 5 * slice); /* first fit, in a row */
  const size_t b = mia__segment_page_of(segment, ps[1])->page_index;
  const size_t c = mia__segment_page_of(segment, ps[2])->page_index;
  mia_option_set(mia_option_purge_delay, 0);
  mia_free(ps[1]); /* purged now, every slice */
  size_t unpurged = 0;
  for (size_t k = b; k < b + 5; k++) unpurged += !pages[k].is_purged;
  CHECK_EQ_SZ(unpurged, 0);
  CHECK((segment->purge_map & mia__span_mask(b, 5)) == 0);
  mia_option_set(mia_option_purge_delay, 1000 * 1000); /* c stays dirty, its purge pending */
  mia_free(ps[2]);
  CHECK((segment->purge_map & mia__span_mask(c, 5)) == mia__span_mask(c, 5));
  CHECK(!pages[c].is_purged);
  /* 600 KiB: the 640 KiB bin, 10 slices: the first fit is b and c together */
  const size_t big = 600 * 1024;
  uint8_t* e = (uint8_t*)mia_zalloc(big);
  CHECK(e == ps[1]);
  if (e == ps[1]) {
    mia__page_t* page = mia__segment_page_of(segment, e);
    CHECK_EQ_SZ(page->slice_count, 10);
    CHECK(!page->is_purged);                                  /* half of it is dirty */
    CHECK((segment->purge_map & mia__span_mask(b, 10)) == 0); /* no purge pending under a page in use */
    CHECK(mia__segment_is_valid(segment));
  }
  size_t nonzero = 0;
  if (e != NULL) for (size_t k = 0; k < big; k++) nonzero += (e[k] != 0);
  CHECK_EQ_SZ(nonzero, 0);
  if (e != NULL) {
    memset(e, 0x5A, big);
    (void)mia__segment_purge(segment, true, 0); /* everything due, now */
    size_t changed = 0;
    for (size_t k = 0; k < big; k += 512) changed += (e[k] != 0x5A);
    CHECK_EQ_SZ(changed, 0);
  }
  mia_option_set(mia_option_purge_delay, delay);
  mia_free(e);
  mia_free(ps[0]);
  mia_free(ps[3]);
  return NULL;
}
TEST(wb_large_span_purge_state) {
  wb_in_thread(wb_large_purge_body, NULL);
}

/* A large span whose block another thread freed is given back during its
   owner's exit, and the segment is abandoned then (another span in it is
   live). That span's memory must be purged (or at least due for purging),
   not left dirty in an abandoned segment: nothing would ever purge it, not
   even after the segment is reclaimed (it is in no purge map). */
typedef struct wb_exit_spans {
  void* kept;
  void* freed;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int stage;
} wb_exit_spans;
static void* wb_exit_spans_owner(void* arg) {
  wb_exit_spans* x = (wb_exit_spans*)arg;
  x->kept = mia_malloc(200 * 1024);         /* a smaller bin: its page is abandoned first at exit */
  x->freed = mia_malloc(2000 * 1024);
  if (x->kept != NULL) memset(x->kept, 1, 200 * 1024);
  if (x->freed != NULL) memset(x->freed, 2, 2000 * 1024);
  pthread_mutex_lock(&x->mu);
  x->stage = 1;
  pthread_cond_broadcast(&x->cv);
  while (x->stage != 2) pthread_cond_wait(&x->cv, &x->mu);
  pthread_mutex_unlock(&x->mu);
  return NULL; /* exits: `freed` comes back through its thread_free list */
}
TEST(wb_large_span_freed_at_exit_is_purged) {
  if (MIA__SEGMENT_SIZE != 4 * MiB || mia_option_get(mia_option_purge_delay) < 0) return; /* the default geometry, purging on */
  wb_exit_spans x;
  memset(&x, 0, sizeof x);
  pthread_mutex_init(&x.mu, NULL);
  pthread_cond_init(&x.cv, NULL);
  pthread_t t;
  CHECK_EQ_INT(pthread_create(&t, NULL, wb_exit_spans_owner, &x), 0);
  pthread_mutex_lock(&x.mu);
  while (x.stage != 1) pthread_cond_wait(&x.cv, &x.mu);
  pthread_mutex_unlock(&x.mu);
  CHECK(x.kept != NULL && x.freed != NULL);
  mia__segment_t* segment = mia__segment_of(x.freed);
  CHECK(mia__segment_of(x.kept) == segment && segment->page_kind == MIA__PAGE_LARGE);
  const mia__page_t* page = mia__segment_page_of(segment, x.freed);
  const size_t i = page->page_index, n = page->slice_count;
  mia_free(x.freed); /* cross-thread: onto the page's thread_free */
  pthread_mutex_lock(&x.mu);
  x.stage = 2;
  pthread_cond_broadcast(&x.cv);
  pthread_mutex_unlock(&x.mu);
  pthread_join(t, NULL);
  CHECK(mia__atomic_load(&segment->thread_id, relaxed) == 0); /* abandoned, `kept` live */
  const uint64_t mask = mia__span_mask(i, n);
  CHECK((segment->free_map & mask) == mask);
  size_t dirty = 0;
  const mia__page_t* pages = mia__segment_pages(segment);
  for (size_t k = i; k < i + n; k++) dirty += (!pages[k].is_purged && ((segment->purge_map >> k) & 1) == 0);
  CHECKF(dirty == 0, "%zu of the span's %zu slices left dirty and in no purge map", dirty, n);
  mia_free(x.kept);
  mia_collect(true);
  pthread_mutex_destroy(&x.mu);
  pthread_cond_destroy(&x.cv);
}

/* A large segment whose spans were all freed goes to the cache with their
   purge pending; taken again for one block, its other free slices must stay
   due for purging (in the purge map) or be purged: otherwise they stay
   resident for as long as that one block lives (3.3 MiB here). The same
   when the one block is a medium one (512 KiB pages: another layout, in
   which every page counts as dirty): before, none of its free pages was
   due, and 3.5 MiB written by the large blocks stayed resident. */
static void* wb_cache_reuse_body(void* arg) {
  const size_t second = *(const size_t*)arg; /* the block that takes the cached segment again */
  mia_heap_t* heap = mia_heap_get_default();
  if (heap == NULL) return NULL;
  heap->no_reclaim = true; /* only this thread's own segments */
  enum { N = 12 };
  const size_t size = 300 * 1024;
  void* ps[N];
  for (size_t i = 0; i < N; i++) {
    ps[i] = mia_malloc(size);
    CHECK_NOT_NULL(ps[i]);
    if (ps[i] == NULL) return NULL;
    memset(ps[i], 1, size);
  }
  mia__segment_t* segment = mia__segment_of(ps[0]);
  CHECK(segment->page_kind == MIA__PAGE_LARGE);
  for (size_t i = 0; i < N; i++) mia_free(ps[i]);
  mia_heap_collect(heap, false); /* the last page, its bin's only one, was kept */
  CHECK(heap->tld->cache == segment); /* cached, not yet purged (the delay) */
  void* one = mia_malloc(second);
  CHECK(one != NULL && mia__segment_of(one) == segment);
  CHECK(segment->page_kind == (second > MIA__MEDIUM_OBJ_SIZE_MAX ? MIA__PAGE_LARGE : MIA__PAGE_MEDIUM));
  size_t dirty = 0, free_slices = 0;
  const mia__page_t* pages = mia__segment_pages(segment);
  for (size_t k = 0; k < segment->capacity; k++) {
    if (((segment->free_map >> k) & 1) == 0) continue;
    free_slices++;
    dirty += (!pages[k].is_purged && ((segment->purge_map >> k) & 1) == 0);
  }
  CHECK_GT_SZ(free_slices, 0);
  CHECKF(dirty == 0, "%zu of %zu free pages dirty and in no purge map (a second block of %zu bytes)", dirty, free_slices, second);
  mia_free(one);
  return NULL;
}
static void wb_cache_reuse(size_t second) {
  if (MIA__SEGMENT_SIZE != 4 * MiB || MIA__SMALL_PAGE_SIZE != 64 * 1024) return; /* the default geometry */
  const long delay = mia_option_get(mia_option_purge_delay);
  if (delay <= 0) return; /* purged at once (0) or never (< 0): nothing pending */
  wb_in_thread(wb_cache_reuse_body, &second);
}
TEST(wb_cached_segment_reuse_keeps_purges_due) { wb_cache_reuse(300 * 1024); }
TEST(wb_cached_segment_other_kind_keeps_purges_due) { wb_cache_reuse(20000); }

/* Committed-byte statistics across a segment that changes kind in the cache:
   a small segment whose page 0 was decommitted (an OS layer that needs a
   commit after a purge, as on Windows) is reused as a large segment, where
   slice 0 lies under the metadata, then released. mia__stats.committed must
   come back to where it was. */
static mia_os_hooks_t wb_builtin_hooks;
static int wb_decommit_needs_commit(void* addr, size_t size, bool* needs_commit, void* arg) {
  (void)arg;
  const int err = wb_builtin_hooks.decommit(addr, size, needs_commit, wb_builtin_hooks.arg);
  if (err == 0) *needs_commit = true; /* the memory stays usable; only the accounting differs */
  return err;
}
static void* wb_kind_change_body(void* arg) {
  int64_t* drift = (int64_t*)arg;
  mia_heap_t* heap = mia_heap_get_default();
  if (heap == NULL) return NULL;
  heap->no_reclaim = true; /* only this thread's own fresh segments */
  mia__tld_t* tld = heap->tld;
  const int64_t before = mia__atomic_load(&mia__stats.committed.current, relaxed);
  void* w = mia_malloc(16);
  mia__segment_t* segment = mia__segment_of(w);
  CHECK(segment->page_kind == MIA__PAGE_SMALL && mia__segment_page_of(segment, w)->page_index == 0);
  memset(w, 1, 16);
  mia_free(w);
  mia_collect(false); /* the retired page goes: the segment is cached, page 0 purged */
  CHECK(tld->cache == segment);
  CHECK(!mia__segment_pages(segment)[0].is_committed);
  const size_t size = (MIA__MEDIUM_OBJ_SIZE_MAX + MIA__LARGE_OBJ_SIZE_MAX) / 2;
  void* big = mia_malloc(size);
  CHECK(big != NULL && mia__segment_of(big) == segment && segment->page_kind == MIA__PAGE_LARGE);
  if (big != NULL) memset(big, 3, size);
  mia_free(big);
  mia_heap_collect(heap, false); /* its page, its bin's only one, was kept */
  mia__segment_cache_free(tld); /* the thread's cache only (cache_release also drains the process-wide pool) */
  *drift = mia__atomic_load(&mia__stats.committed.current, relaxed) - before;
  return NULL;
}
TEST(wb_committed_stat_across_small_to_large_reuse) {
  if (MIA__SEGMENT_SIZE != 4 * MiB || MIA__SMALL_PAGE_SIZE != 64 * 1024) return; /* the default geometry: small page 0 starts after the metadata */
  const long delay = mia_option_get(mia_option_purge_delay);
  mia_os_hooks_default(&wb_builtin_hooks);
  mia_os_hooks_t hooks = wb_builtin_hooks;
  hooks.decommit = wb_decommit_needs_commit;
  CHECK(mia_os_hooks_set(&hooks));
  mia_option_set(mia_option_purge_delay, 0);
  mia_collect(true); /* the process-wide pool empty: the thread's segments are fresh from the OS */
  int64_t drift = -1;
  wb_in_thread(wb_kind_change_body, &drift);
  mia_option_set(mia_option_purge_delay, delay);
  CHECK(mia_os_hooks_set(NULL));
  CHECK_EQ_INT(drift, 0);
}

/* Retired pages are eventually freed by heartbeats alone when idle, also
   after a mia_heap_collect(false) saw them in use (the collect resets the
   heap's retired range) and after mia_heap_delete moved them into the
   backing heap: emptied again by the free fast path, such a page keeps its
   retire count, and no heartbeat may lose track of it. */
TEST(wb_retired_page_freed_after_collect_or_delete) {
  const int beats = 4 * (MIA__RETIRE_CYCLES + 1) * MIA__RETIRE_EVERY;
  mia_heap_t* heap = mia_heap_new();
  CHECK_NOT_NULL(heap);
  if (heap == NULL) return;
  void* p = mia_heap_malloc(heap, 48);
  mia__page_t* page = mia__segment_page_of(mia__segment_of(p), p);
  const size_t bin = mia__page_bin(page);
  mia_free(p);
  CHECK(page->retire_expire != 0);
  void* q = mia_heap_malloc(heap, 48); /* the retired page, in use again */
  mia_heap_collect(heap, false);
  mia_free(q);                         /* empty again, by the fast path */
  for (int i = 0; i < beats; i++) mia__heap_heartbeat(heap);
  CHECKF(heap->pages[bin].first == NULL, "an idle page kept after %d heartbeats (retire_expire %d)", beats, (int)page->retire_expire);
  mia_heap_destroy(heap);
  /* mia_heap_delete: the backing heap gets the retired page */
  mia_heap_t* backing = mia_heap_get_backing();
  const size_t size = 3000 - MIA__PADDING;
  const size_t bin2 = mia__bin(size + MIA__PADDING);
  if (backing->pages[bin2].first != NULL) return; /* the bin must be empty in the backing heap */
  mia_heap_t* h2 = mia_heap_new();
  CHECK_NOT_NULL(h2);
  if (h2 == NULL) return;
  void* r = mia_heap_malloc(h2, size);
  mia__page_t* page2 = mia__segment_page_of(mia__segment_of(r), r);
  mia_free(r);
  CHECK(page2->retire_expire != 0);
  mia_heap_delete(h2);
  mia_free(mia_malloc(size)); /* used from the backing heap (the moved page, if it was kept) and emptied by the fast path */
  for (int i = 0; i < beats; i++) mia__heap_heartbeat(backing);
  CHECKF(backing->pages[bin2].first == NULL, "a moved idle page kept after %d heartbeats (retire_expire %d)", beats, backing->pages[bin2].first == page2 ? (int)page2->retire_expire : -1);
}

/* realloc of a large block grows its span in place when the slices after
   it are free (no copy), and moves it when they are not; rezalloc zeroes
   what it adds. Fresh thread: its large segment is new. */
static void* wb_large_grow(void* arg) {
  (void)arg;
  if (MIA__SEGMENT_SIZE != 4 * MiB || MIA__SMALL_PAGE_SIZE != 64 * 1024) return NULL; /* the default geometry */
  const size_t n1 = 300 * 1024, n2 = 600 * 1024, n3 = 1000 * 1024;
  uint8_t* a = (uint8_t*)mia_malloc(n1);
  CHECK_NOT_NULL(a);
  if (a == NULL) return NULL;
  for (size_t k = 0; k < n1; k++) a[k] = (uint8_t)(k * 7);
  mia__segment_t* segment = mia__segment_of(a);
  mia__page_t* page = mia__segment_page_of(segment, a);
  uint8_t* a2 = (uint8_t*)mia_rezalloc(a, n2);
  CHECK(a2 == a); /* grown in place: the slices after it were free */
  CHECK_EQ_SZ(page->slice_count, (mia__bin_size(mia__bin(n2 + MIA__PADDING)) + MIA__SMALL_PAGE_SIZE - 1) / MIA__SMALL_PAGE_SIZE);
  CHECK(mia__segment_page_of(segment, a2 + n2 - 1) == page);
  CHECK_GE_SZ(mia_usable_size(a2), n2);
  size_t bad = 0, nonzero = 0;
  for (size_t k = 0; k < n1; k++) bad += (a2[k] != (uint8_t)(k * 7));
  for (size_t k = n1; k < n2; k++) nonzero += (a2[k] != 0);
  CHECK_EQ_SZ(bad, 0);
  CHECK_EQ_SZ(nonzero, 0); /* rezalloc: the added bytes are zero */
  CHECK(mia__segment_is_valid(segment));
  /* a block right after it: no room to grow, the next realloc moves */
  uint8_t* b = (uint8_t*)mia_malloc(n1);
  CHECK(b == a2 + page->slice_count * MIA__SMALL_PAGE_SIZE);
  uint8_t* a3 = (uint8_t*)mia_realloc(a2, n3);
  CHECK(a3 != NULL && a3 != a2);
  bad = 0;
  for (size_t k = 0; k < n1; k++) bad += (a3[k] != (uint8_t)(k * 7));
  CHECK_EQ_SZ(bad, 0);
  CHECK(mia__segment_is_valid(segment));
  mia_free(a3);
  mia_free(b);
  return NULL;
}
TEST(wb_large_realloc_grows_in_place) {
  wb_in_thread(wb_large_grow, NULL);
}

/* The segment cache (default 16 per thread): a burst of large blocks freed
   and allocated again takes no new memory from the OS. */
TEST(wb_segment_cache_serves_a_burst) {
  enum { N = 12 };
  void* ps[N];
  for (size_t i = 0; i < N; i++) ps[i] = mia_malloc(3 * MiB);
  for (size_t i = 0; i < N; i++) mia_free(ps[i]);
  const int64_t reserves = mia__atomic_load(&mia__stats.mmap_calls.total, relaxed);
  for (size_t i = 0; i < N; i++) ps[i] = mia_malloc(3 * MiB);
  CHECK_EQ_INT(mia__atomic_load(&mia__stats.mmap_calls.total, relaxed), reserves);
  for (size_t i = 0; i < N; i++) mia_free(ps[i]);
  CHECK_EQ_INT(mia_option_get(mia_option_segment_cache), 16);
}

int main(int argc, char** argv) {
  runner.filter = (argc > 1 && argv[1][0] != 0) ? argv[1] : NULL;
  runner.quick = getenv("MIALLOC_TEST_QUICK") != NULL;
  setvbuf(stdout, NULL, _IOLBF, 0);
  RUN(wb_bins_cover_every_size);
  RUN(wb_bins_16_aligned_then_four_per_doubling);
  RUN(wb_good_size_matches_bins);
  RUN(wb_simd_list_build_matches_scalar);
  RUN(wb_segment_and_page_of_every_kind);
  RUN(wb_retire_keeps_page_and_promotes_local_free);
  RUN(wb_retire_keeps_large_page);
  RUN(wb_rotation_keeps_retired_pages);
  RUN(wb_segment_cache_serves_a_burst);
  RUN(wb_large_block_is_a_span_of_slices);
  RUN(wb_large_realloc_grows_in_place);
  RUN(wb_large_span_purge_state);
  RUN(wb_large_span_freed_at_exit_is_purged);
  RUN(wb_cached_segment_reuse_keeps_purges_due);
  RUN(wb_cached_segment_other_kind_keeps_purges_due);
  RUN(wb_committed_stat_across_small_to_large_reuse);
  RUN(wb_retired_page_freed_after_idle_heartbeats);
  RUN(wb_retired_page_in_use_survives_heartbeats);
  RUN(wb_retired_page_freed_after_collect_or_delete);
  RUN(wb_full_page_remote_free);
  RUN(wb_full_queue_rotates);
  RUN(wb_unfull_order_os_back_arena_front);
  RUN(wb_abandon_then_reclaim);
  RUN(wb_reclaim_pushes_rest_back_first);
  RUN(wb_heartbeat_adopts_by_need);
  RUN(wb_pool_keeps_dirty_pages_only_for_takers);
  RUN(wb_free_block_before_extension);
  RUN(wb_fresh_page_adopts_room_of_its_bin);
  RUN(wb_huge_block_of_exited_thread_released_by_its_free);
  RUN(wb_fork_child_allocates);
  return runner_finish();
}
