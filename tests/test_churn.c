/* test_churn.c - "many small allocations and frees in a short time" (BRIEF.md).

   Alloc-all/free-all rounds on one size at a time: as many blocks as fit one
   64 KiB small page, then 2 and 4 pages' worth, for sizes 8..1024 (every 8)
   and 2048, 4096, 8192 (the small-object maximum). In every round each block
   is filled with a per-round, per-block pattern and verified before it is
   freed; usable_size >= requested is checked on reused blocks; live blocks
   never overlap; every few rounds calloc must hand back zeroed memory although
   it reuses the blocks just dirtied. The free order changes from round to
   round (forward, reverse, odd-then-even, strided) so every free-list shape
   is exercised.

   The timing test pins the fast path: the per-op cost of churn (alloc one
   page's worth of 64-byte blocks, then free them all) must stay within 3x
   the steady-state ping-pong cost (malloc/free one block in a loop). An
   emptied page that falls into the slow path on every refill breaks it. */
#include "../mialloc.h"
#include "runner.h"

void tests_churn(void);

#define CHURN_PAGE (64 * KiB)
#define CHURN_MAX_BLOCKS (4 * CHURN_PAGE / 8)

/* Bookkeeping lives in libc memory so it does not disturb the pages under test. */
static void** churn_blocks;
static void** churn_sorted;

typedef struct churn_result {
  size_t nulls, bad_usable, bad_canary, overlaps, calloc_nonzero, rounds, allocs;
  size_t first_bad_size;
} churn_result;

static void note_bad(churn_result* r, size_t* counter, size_t size) {
  if (*counter == 0 && r->first_bad_size == 0) r->first_bad_size = size;
  (*counter)++;
}

/* The i-th block to free in a round with free order `order`. */
static size_t free_index(size_t i, size_t count, size_t order) {
  switch (order % 4) {
    case 0: return i;                          /* forward */
    case 1: return count - 1 - i;              /* reverse */
    case 2: {                                  /* odd indices, then even */
      size_t odd = count / 2;
      return (i < odd) ? 2 * i + 1 : 2 * (i - odd);
    }
    default:                                   /* stride-7 walk: a permutation when 7 does not divide count */
      return (count % 7 == 0) ? count - 1 - i : (i * 7) % count;
  }
}

static uint64_t block_seed(size_t round, size_t size, size_t i) {
  return ((uint64_t)round << 40) ^ ((uint64_t)size << 24) ^ (uint64_t)i;
}

/* One size, `count` blocks per round, `rounds` rounds. */
static void churn_size(size_t size, size_t count, size_t rounds, churn_result* r) {
  for (size_t round = 0; round < rounds; round++) {
    size_t n = 0;
    for (size_t i = 0; i < count; i++) {
      void* p = mia_malloc(size);
      if (p == NULL) { note_bad(r, &r->nulls, size); continue; }
      if (mia_usable_size(p) < size) note_bad(r, &r->bad_usable, size);
      pattern_fill(p, size, block_seed(round, size, n));
      churn_blocks[n++] = p;
    }
    r->allocs += n;
    /* no two live blocks overlap (every 16th round, and the first) */
    if (round % 16 == 0 && n > 1) {
      memcpy(churn_sorted, churn_blocks, n * sizeof(void*));
      qsort(churn_sorted, n, sizeof(void*), cmp_ptr);
      for (size_t i = 0; i + 1 < n; i++) {
        if ((uintptr_t)churn_sorted[i] + mia_usable_size(churn_sorted[i]) > (uintptr_t)churn_sorted[i + 1])
          note_bad(r, &r->overlaps, size);
      }
    }
    /* verify every canary, then free in this round's order */
    for (size_t i = 0; i < n; i++) {
      size_t k = free_index(i, n, round);
      if (pattern_check(churn_blocks[k], size, block_seed(round, size, k)) != size) note_bad(r, &r->bad_canary, size);
    }
    for (size_t i = 0; i < n; i++) mia_free(churn_blocks[free_index(i, n, round)]);
    /* calloc after dirty reuse: the blocks just freed are full of pattern */
    if (round % 8 == 7) {
      size_t m = 0;
      for (size_t i = 0; i < count; i++) {
        unsigned char* p = (unsigned char*)mia_calloc(1, size);
        if (p == NULL) { note_bad(r, &r->nulls, size); continue; }
        if (!mem_is(p, 0, size)) note_bad(r, &r->calloc_nonzero, size);
        if (mia_usable_size(p) < size) note_bad(r, &r->bad_usable, size);
        p[0] = 0x5A; /* dirty again */
        churn_blocks[m++] = p;
      }
      for (size_t i = 0; i < m; i++) mia_free(churn_blocks[i]);
    }
    r->rounds++;
  }
}

static void churn_report(const char* what, const churn_result* r) {
  CHECKF(r->nulls == 0, "%s: %zu NULL results (first size %zu)", what, r->nulls, r->first_bad_size);
  CHECKF(r->bad_usable == 0, "%s: %zu blocks with usable < requested (first size %zu)", what, r->bad_usable, r->first_bad_size);
  CHECKF(r->bad_canary == 0, "%s: %zu corrupted canaries (first size %zu)", what, r->bad_canary, r->first_bad_size);
  CHECKF(r->overlaps == 0, "%s: %zu overlapping live blocks (first size %zu)", what, r->overlaps, r->first_bad_size);
  CHECKF(r->calloc_nonzero == 0, "%s: %zu calloc blocks not zero after reuse (first size %zu)", what, r->calloc_nonzero, r->first_bad_size);
  CHECKF(r->allocs > 0, "%s: nothing allocated", what);
}

static bool churn_setup(void) {
  if (churn_blocks == NULL) churn_blocks = (void**)malloc(CHURN_MAX_BLOCKS * sizeof(void*));
  if (churn_sorted == NULL) churn_sorted = (void**)malloc(CHURN_MAX_BLOCKS * sizeof(void*));
  return churn_blocks != NULL && churn_sorted != NULL;
}

static size_t current_commit(void) {
  size_t commit = 0;
  mia_process_info(NULL, NULL, NULL, NULL, NULL, &commit, NULL, NULL);
  return commit;
}

/* Freed blocks are reused: hundreds of rounds must not grow the committed memory
   beyond a few pages per size (a leak of one page per round would be 1.6 GiB). */
static void check_commit_growth(const char* what, size_t before) {
  size_t after = current_commit();
  CHECKF(after <= before || after - before <= 64 * MiB, "%s: committed memory grew from %zu to %zu KiB", what,
         before / KiB, after / KiB);
}

/* sizes 8..1024 every 8, and the medium ones, with `pages` pages' worth per round */
static void churn_all_sizes(size_t pages, size_t rounds) {
  CHECK(churn_setup());
  if (churn_blocks == NULL || churn_sorted == NULL) return;
  const size_t commit_before = current_commit();
  churn_result r;
  memset(&r, 0, sizeof r);
  for (size_t size = 8; size <= 1024; size += 8) {
    churn_result one;
    memset(&one, 0, sizeof one);
    churn_size(size, pages * CHURN_PAGE / size, rounds, &one);
    CHECKF(one.nulls + one.bad_usable + one.bad_canary + one.overlaps + one.calloc_nonzero == 0,
           "size %zu x %zu pages: %zu nulls, %zu bad usable, %zu bad canaries, %zu overlaps, %zu calloc non-zero",
           size, pages, one.nulls, one.bad_usable, one.bad_canary, one.overlaps, one.calloc_nonzero);
    r.nulls += one.nulls; r.bad_usable += one.bad_usable; r.bad_canary += one.bad_canary;
    r.overlaps += one.overlaps; r.calloc_nonzero += one.calloc_nonzero; r.allocs += one.allocs;
    r.rounds += one.rounds;
    if (r.first_bad_size == 0) r.first_bad_size = one.first_bad_size;
  }
  const char* what = pages == 1 ? "8..1024, one page" : pages == 2 ? "8..1024, two pages" : "8..1024, four pages";
  churn_report(what, &r);
  CHECK_EQ_SZ(r.rounds, 128 * rounds);
  check_commit_growth(what, commit_before);
}

static size_t churn_rounds(size_t full) {
  return runner.quick ? (full / 10 > 8 ? full / 10 : 8) : full;
}

TEST(churn_small_single_page) { churn_all_sizes(1, churn_rounds(200)); }
TEST(churn_small_two_pages) { churn_all_sizes(2, churn_rounds(100)); }
TEST(churn_small_four_pages) { churn_all_sizes(4, churn_rounds(100)); }

TEST(churn_medium_sizes) {
  CHECK(churn_setup());
  if (churn_blocks == NULL || churn_sorted == NULL) return;
  static const size_t sizes[] = {2048, 4096, 8192};
  static const size_t pages[] = {1, 2, 4};
  const size_t commit_before = current_commit();
  for (size_t s = 0; s < 3; s++) {
    churn_result r;
    memset(&r, 0, sizeof r);
    for (size_t k = 0; k < 3; k++) churn_size(sizes[s], pages[k] * CHURN_PAGE / sizes[s], churn_rounds(300), &r);
    char what[64];
    snprintf(what, sizeof what, "size %zu, 1/2/4 pages", sizes[s]);
    churn_report(what, &r);
  }
  check_commit_growth("2048..8192", commit_before);
}

/* Odd sizes between the classes, with mixed sizes live at once (blocks of
   neighbouring classes interleave). */
TEST(churn_mixed_sizes) {
  CHECK(churn_setup());
  if (churn_blocks == NULL || churn_sorted == NULL) return;
  enum { N = 4096 };
  static size_t sizes[N];
  uint64_t rng = 0xFEEDULL;
  size_t bad = 0, nulls = 0, overlaps = 0;
  const size_t rounds = churn_rounds(100);
  for (size_t round = 0; round < rounds; round++) {
    for (size_t i = 0; i < N; i++) {
      sizes[i] = rng_range(&rng, 1, 1100);
      churn_blocks[i] = mia_malloc(sizes[i]);
      if (churn_blocks[i] == NULL) { nulls++; continue; }
      pattern_fill(churn_blocks[i], sizes[i], block_seed(round, sizes[i], i));
    }
    if (round % 10 == 0) {
      size_t n = 0;
      for (size_t i = 0; i < N; i++)
        if (churn_blocks[i] != NULL) churn_sorted[n++] = churn_blocks[i];
      qsort(churn_sorted, n, sizeof(void*), cmp_ptr);
      for (size_t i = 0; i + 1 < n; i++)
        if ((uintptr_t)churn_sorted[i] + mia_usable_size(churn_sorted[i]) > (uintptr_t)churn_sorted[i + 1]) overlaps++;
    }
    for (size_t i = 0; i < N; i++) {
      size_t k = free_index(i, N, round);
      if (churn_blocks[k] == NULL) continue;
      if (pattern_check(churn_blocks[k], sizes[k], block_seed(round, sizes[k], k)) != sizes[k]) bad++;
      mia_free(churn_blocks[k]);
    }
  }
  CHECK_EQ_SZ(nulls, 0);
  CHECK_EQ_SZ(bad, 0);
  CHECK_EQ_SZ(overlaps, 0);
}

/* ---------------------------------------------------------------------------
   Timing: churn per op <= 3x ping-pong per op
--------------------------------------------------------------------------- */

#define TIMING_SIZE 64
#define TIMING_N (CHURN_PAGE / TIMING_SIZE) /* one page's worth of 64-byte blocks */

/* ns per operation (an operation is one malloc or one free) */
static double time_churn(size_t ops) {
  void** b = churn_blocks;
  size_t rounds = ops / (2 * TIMING_N);
  if (rounds == 0) rounds = 1;
  double t0 = runner_now();
  for (size_t r = 0; r < rounds; r++) {
    for (size_t i = 0; i < TIMING_N; i++) {
      b[i] = mia_malloc(TIMING_SIZE);
      *(volatile unsigned char*)b[i] = (unsigned char)i;
    }
    for (size_t i = 0; i < TIMING_N; i++) mia_free(b[i]);
  }
  return (runner_now() - t0) * 1e9 / (double)(rounds * 2 * TIMING_N);
}

static double time_pingpong(size_t ops) {
  size_t iters = ops / 2;
  double t0 = runner_now();
  for (size_t i = 0; i < iters; i++) {
    void* p = mia_malloc(TIMING_SIZE);
    *(volatile unsigned char*)p = (unsigned char)i;
    mia_free(p);
  }
  return (runner_now() - t0) * 1e9 / (double)(iters * 2);
}

static int cmp_double(const void* a, const void* b) {
  double x = *(const double*)a, y = *(const double*)b;
  return (x > y) - (x < y);
}

TEST(churn_timing_ratio) {
  CHECK(churn_setup());
  if (churn_blocks == NULL) return;
  const size_t ops = runner.quick ? 200000 : 2000000;
  enum { RUNS = 5, ATTEMPTS = 3 };
  double ratio = 0, med_churn = 0, med_pp = 0;
  int attempt = 0;
  for (attempt = 1; attempt <= ATTEMPTS; attempt++) {
    double churn[RUNS], pp[RUNS];
    time_churn(ops / 4); /* warm up: pages made, code paged in */
    time_pingpong(ops / 4);
    for (int r = 0; r < RUNS; r++) { /* interleaved, so both see the same load */
      churn[r] = time_churn(ops);
      pp[r] = time_pingpong(ops);
    }
    qsort(churn, RUNS, sizeof(double), cmp_double);
    qsort(pp, RUNS, sizeof(double), cmp_double);
    med_churn = churn[RUNS / 2];
    med_pp = pp[RUNS / 2];
    ratio = med_pp > 0 ? med_churn / med_pp : 0;
    printf("     churn %.2f ns/op, ping-pong %.2f ns/op, ratio %.2f (attempt %d)\n", med_churn, med_pp, ratio, attempt);
    if (ratio <= 3.0) break;
  }
  if (runner.quick) {
    /* sanitizer builds change the cost model (every access instrumented): report only */
    printf("     (ratio not checked under MIALLOC_TEST_QUICK)\n");
    CHECK(med_churn > 0 && med_pp > 0);
    return;
  }
  CHECKF(ratio > 0 && ratio <= 3.0, "churn %.2f ns/op vs ping-pong %.2f ns/op: ratio %.2f > 3 after %d attempts",
         med_churn, med_pp, ratio, attempt > ATTEMPTS ? ATTEMPTS : attempt);
}

void tests_churn(void) {
  RUN(churn_small_single_page);
  RUN(churn_small_two_pages);
  RUN(churn_small_four_pages);
  RUN(churn_medium_sizes);
  RUN(churn_mixed_sizes);
  RUN(churn_timing_ratio);
}
