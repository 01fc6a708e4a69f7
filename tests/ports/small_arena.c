/* small_arena.c - the no-OS, single-thread configuration of mialloc.h (the
   one tests/ports.mk builds for Cortex-M and RISC-V), run on the host over a
   256 KiB static buffer, so its behaviour at exhaustion is seen.

   Build (tests/ports.mk has the same lines, with the strict flags):
      the defaults -- what a firmware programmer who copies the header gets:
      clang -std=gnu11 -O2 -DMIALLOC_NO_OS=1 -DMIALLOC_SINGLE_THREAD=1 \
        -I. -Itests tests/ports/small_arena.c -o small_arena
      or a geometry of one's own, e.g. the README's 128 KiB segments:
        ... -DMIALLOC_SEGMENT_SHIFT=17 -DMIALLOC_SMALL_PAGE_SHIFT=12 \
        -DMIALLOC_MEDIUM_PAGE_SHIFT=14 -DMIALLOC_SMALL_OBJ_SIZE_MAX=2048 ...
   Run: ./small_arena exclusive [OFFSET]  the buffer is an exclusive arena and
                                  the blocks come from mia_heap_new_in_arena
        ./small_arena shared [OFFSET]     the buffer is a shared arena and the
                                  blocks come from plain mia_malloc
   OFFSET (default 0): where the buffer starts past a 128 KiB boundary. 16 is
   the worst case for a buffer aligned only to 16 bytes: it starts just past a
   segment boundary, so the most of it lies before the first whole segment.

   Each of ROUNDS rounds allocates random sizes 8..2048 (the same sequence
   every round) until the first NULL, which must come with errno ENOMEM, then
   frees everything. The live bytes at the first NULL must be the same every
   round (nothing creeps) and at least MIN_UTILISATION of the buffer; the
   figures are printed, with those of other random sequences (printed, not
   checked: the spread of this measure). The rounds run twice: as a program
   would (free, then allocate again) and with mia_collect(true) after each
   free-all. Counting OS hooks are installed before the first allocation:
   neither configuration may call them (count 0). */
#if !MIALLOC_NO_OS || !MIALLOC_SINGLE_THREAD
#error "build with -DMIALLOC_NO_OS=1 -DMIALLOC_SINGLE_THREAD=1: see the build line above"
#endif
#define MIALLOC_IMPLEMENTATION
#include "../../mialloc.h"

#include "../runner.h"

#include <errno.h>

runner_state runner;

#define BUFFER_SIZE (256 * KiB)
#define ROUNDS 100
#define MIN_UTILISATION 0.60
#define MAX_BLOCKS (BUFFER_SIZE / 8)

#define STORAGE_ALIGN (128 * 1024)
static _Alignas(STORAGE_ALIGN) unsigned char storage[BUFFER_SIZE + STORAGE_ALIGN];
static unsigned char* buffer; /* storage + OFFSET */
static void* blocks[MAX_BLOCKS];

/* ---------------------------------------------------------------------------
   OS hooks that count every call and forward to the built-in layer (in a
   MIALLOC_NO_OS build, stubs that fail): the allocator must not call them.
--------------------------------------------------------------------------- */
static mia_os_hooks_t builtin;
static long os_calls;
static int count_reserve(size_t size, size_t align, void** addr, void* arg) { (void)arg; os_calls++; return builtin.reserve(size, align, addr, builtin.arg); }
static int count_release(void* addr, size_t size, void* arg) { (void)arg; os_calls++; return builtin.release(addr, size, builtin.arg); }
static int count_commit(void* addr, size_t size, void* arg) { (void)arg; os_calls++; return builtin.commit(addr, size, builtin.arg); }
static int count_decommit(void* addr, size_t size, bool* needs_commit, void* arg) { (void)arg; os_calls++; return builtin.decommit(addr, size, needs_commit, builtin.arg); }
static int count_protect(void* addr, size_t size, bool on, void* arg) { (void)arg; os_calls++; return builtin.protect(addr, size, on, builtin.arg); }

static bool exclusive;
static mia_heap_t* heap; /* exclusive: the arena's heap */

static void* alloc(size_t n) { return exclusive ? mia_heap_malloc(heap, n) : mia_malloc(n); }

/* One round: allocate until the first NULL, then free everything. */
typedef struct round_result {
  size_t blocks, requested, usable;
  int err;           /* errno at the first NULL */
  size_t bad;        /* blocks outside the buffer or with damaged contents */
} round_result;

#define SEED 0x5EED5EED12345ULL

static round_result run_round_seeded(uint64_t seed) {
  round_result r = {0, 0, 0, 0, 0};
  uint64_t rng = seed;
  const uintptr_t lo = (uintptr_t)buffer, hi = lo + BUFFER_SIZE;
  for (;;) {
    size_t n = rng_range(&rng, 8, 2048);
    errno = 0;
    void* p = alloc(n);
    if (p == NULL) { r.err = errno; break; }
    if (r.blocks == MAX_BLOCKS) { mia_free(p); break; } /* cannot happen: 8-byte blocks at least */
    const uintptr_t a = (uintptr_t)opaque_ptr(p);
    if (a < lo || a + n > hi) r.bad++;
    pattern_fill(p, n, r.blocks);
    blocks[r.blocks++] = p;
    r.requested += n;
    r.usable += mia_usable_size(p);
  }
  rng = seed; /* the same sequence again: the sizes to check */
  for (size_t i = 0; i < r.blocks; i++) {
    size_t n = rng_range(&rng, 8, 2048);
    if (pattern_check(blocks[i], n, i) != n) r.bad++;
    mia_free(blocks[i]);
  }
  return r;
}
static round_result run_round(void) { return run_round_seeded(SEED); }

/* ROUNDS rounds; `collect`: mia_collect(true) (mia_heap_collect for the arena's heap) first and after each free-all. */
static void check_rounds(bool collect) {
  round_result first = {0, 0, 0, 0, 0};
  size_t differ = 0, wrong_errno = 0, bad = 0, first_differ = 0, distinct = 0;
  size_t lo = SIZE_MAX, hi = 0, values[ROUNDS];
  if (collect) { if (exclusive) mia_heap_collect(heap, true); else mia_collect(true); }
  for (int round = 0; round < ROUNDS; round++) {
    round_result r = run_round();
    if (collect) { if (exclusive) mia_heap_collect(heap, true); else mia_collect(true); }
    if (round == 0) first = r;
    else if (r.blocks != first.blocks || r.requested != first.requested || r.usable != first.usable) {
      if (differ++ == 0) first_differ = (size_t)round;
    }
    if (r.err != ENOMEM) wrong_errno++;
    bad += r.bad;
    if (r.requested < lo) lo = r.requested;
    if (r.requested > hi) hi = r.requested;
    size_t k = 0;
    while (k < distinct && values[k] != r.requested) k++;
    if (k == distinct) values[distinct++] = r.requested;
  }
  printf("     %s arena of %zu KiB%s: at the first NULL %zu blocks live, %zu bytes requested = %.1f%% of the buffer (%zu usable = %.1f%%)\n",
         exclusive ? "exclusive" : "shared", BUFFER_SIZE / KiB, collect ? ", collected between rounds" : "",
         first.blocks, first.requested, 100.0 * (double)first.requested / (double)BUFFER_SIZE,
         first.usable, 100.0 * (double)first.usable / (double)BUFFER_SIZE);
  printf("     %d rounds: %zu distinct figures, %zu..%zu bytes (%.1f%%..%.1f%%)\n", ROUNDS, distinct, lo, hi,
         100.0 * (double)lo / (double)BUFFER_SIZE, 100.0 * (double)hi / (double)BUFFER_SIZE);
  CHECKF(first.blocks > 0, "no block was allocated");
  CHECKF(differ == 0, "%zu of %d rounds ended elsewhere than round 0 (first: round %zu)", differ, ROUNDS, first_differ);
  CHECKF(wrong_errno == 0, "%zu rounds ended with an errno other than ENOMEM", wrong_errno);
  CHECKF(bad == 0, "%zu blocks outside the buffer or damaged", bad);
  CHECKF((double)lo >= MIN_UTILISATION * (double)BUFFER_SIZE, "utilisation %.1f%% < %.0f%%",
         100.0 * (double)lo / (double)BUFFER_SIZE, 100.0 * MIN_UTILISATION);
}

/* As a program uses it: free everything, allocate again. */
TEST(small_arena_rounds) { check_rounds(false); }

/* The same with a forced collect after each free-all (the heap starts each round empty). */
TEST(small_arena_rounds_collected) { check_rounds(true); }

/* Other random sequences: their figures, and the blocks stay in the buffer. */
TEST(small_arena_other_sequences) {
  double lo = 1.0, hi = 0.0, sum = 0.0;
  size_t bad = 0;
  const int n = 16;
  for (int i = 1; i <= n; i++) {
    round_result r = run_round_seeded(SEED + (uint64_t)i * 0x9E3779B97F4A7C15ULL);
    const double u = (double)r.requested / (double)BUFFER_SIZE;
    bad += r.bad;
    if (u < lo) lo = u;
    if (u > hi) hi = u;
    sum += u;
  }
  printf("     %d other sequences: at the first NULL %.1f%%..%.1f%% of the buffer requested (mean %.1f%%)\n",
         n, 100.0 * lo, 100.0 * hi, 100.0 * sum / n);
  CHECKF(bad == 0, "%zu blocks outside the buffer or damaged", bad);
}

TEST(small_arena_still_usable) {
  /* after 100 exhaustions: a block of every size class is still there */
  size_t nulls = 0;
  for (size_t n = 8; n <= 2048; n += 8) {
    void* p = alloc(n);
    if (p == NULL) nulls++;
    mia_free(p);
  }
  CHECKF(nulls == 0, "%zu sizes gave NULL", nulls);
}

TEST(small_arena_no_os_calls) {
  CHECKF(os_calls == 0, "%ld calls into the OS hooks", os_calls);
}

int main(int argc, char** argv) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  if (argc < 2 || (strcmp(argv[1], "exclusive") != 0 && strcmp(argv[1], "shared") != 0)) {
    fprintf(stderr, "usage: %s exclusive|shared [OFFSET]\n", argv[0]);
    return 2;
  }
  exclusive = strcmp(argv[1], "exclusive") == 0;
  const size_t offset = (argc > 2 ? (size_t)strtoul(argv[2], NULL, 0) : 0);
  if (offset >= STORAGE_ALIGN) {
    fprintf(stderr, "OFFSET must be below %d\n", STORAGE_ALIGN);
    return 2;
  }
  buffer = storage + offset;
  printf("     segments of %zu KiB (small pages %zu KiB, medium %zu KiB); the buffer starts %zu bytes past a %d KiB boundary\n",
         (size_t)1 << (MIALLOC_SEGMENT_SHIFT - 10), (size_t)1 << (MIALLOC_SMALL_PAGE_SHIFT - 10),
         (size_t)1 << (MIALLOC_MEDIUM_PAGE_SHIFT - 10), offset, STORAGE_ALIGN / 1024);
  /* before the first allocation: hooks that count */
  mia_os_hooks_default(&builtin);
  mia_os_hooks_t counting = builtin;
  counting.reserve = count_reserve;
  counting.release = count_release;
  counting.commit = count_commit;
  counting.decommit = count_decommit;
  counting.protect = count_protect;
  bool hooked = mia_os_hooks_set(&counting);
  CHECKF(hooked, "mia_os_hooks_set refused the counting hooks");
  mia_arena_id_t arena = 0;
  bool managed = mia_manage_os_memory_ex(buffer, BUFFER_SIZE, true /* committed */, false /* large */,
                                         true /* zero */, -1, exclusive, &arena);
  CHECKF(managed && arena != 0, "mia_manage_os_memory_ex failed (arena %d)", arena);
  if (!managed) return runner_finish();
  if (exclusive) {
    heap = mia_heap_new_in_arena(arena);
    CHECKF(heap != NULL, "mia_heap_new_in_arena(%d) failed", arena);
    if (heap == NULL) return runner_finish();
  }
  RUN(small_arena_rounds);
  RUN(small_arena_rounds_collected);
  RUN(small_arena_other_sequences);
  RUN(small_arena_still_usable);
  RUN(small_arena_no_os_calls);
  return runner_finish();
}
