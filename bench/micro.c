/* micro.c - single-thread allocation patterns, one per process, for `make bench`.

   Build (the Makefile does this once per allocator; see bench/bench.h):
     clang-19 -std=gnu11 -O2 -march=x86-64-v3 <STYLE.md warnings> -Werror -pthread \
       -DBENCH_MIALLOC=1 -DBENCH_NAME=mialloc bench/micro.c -o build/bench/micro-mialloc
     clang-19 ... -DBENCH_NAME=jemalloc bench/micro.c -o build/bench/micro-jemalloc \
       -Wl,--no-as-needed /usr/lib/x86_64-linux-gnu/libjemalloc.so.2
   Run:  build/bench/micro-mialloc <workload> [threads (ignored: 1)] [scale]
         build/bench/micro-mialloc --list
   Run length: at scale 1 (make bench) each workload takes 0.1-0.4 s with
   libmimalloc on a 2-core x86-64 server; make bench-full uses scale 3.
   Output: one `result ...` line (bench/bench.h); exit 3 if a block check fails.

   Tunables (fixed work, so every allocator does the same thing):
     CHURN_PAGE      the "page" of the churn patterns: 64 KiB (mimalloc's and
                     mialloc's small page); N blocks = pages * CHURN_PAGE / size
     each workload's base count of malloc/free pairs is in its table entry below.

   Workloads (sizes in bytes; every block is stamped and checked, bench.h):
     churn-S-Kp    alloc N blocks of S bytes (N fills K pages), free them in order;
                   S = 16, 64, 256, 1024 and K = 1, 2, 4
     churn-mix-Kp  the same, S rotating 16, 64, 256, 1024 from round to round
     pingpong      malloc(32) and free it at once
     batch-lifo    batches of 100 blocks of 16..256 (a fixed random sequence),
                   freed newest first
     interleaved   a pool of 64 Ki slots; a random slot is freed if full, else
                   filled with 16..512 (about half full: ~8 MiB live)
     multisize     10 000 blocks cycling 8, 16, ..., 256, freed even slots first
                   then odd ones
     realloc       four buffers grown in turn from 8 B to 1 MiB, step 8 + size/16,
                   the new part written each step (copy checked), then freed
     random-mixed  a live set of 10 000 blocks of 16..1024; each step frees a
                   random victim and puts a new block of random size in its place */
#include "bench.h"

#define CHURN_PAGE ((size_t)64 * 1024)

static void* slots[1 << 16];
static uint32_t sizes[1 << 16];

/* ---------------------------------------------------------------------------
   churn
--------------------------------------------------------------------------- */
static const size_t churn_sizes[4] = {16, 64, 256, 1024};

/* size 0: rotate through churn_sizes. */
static uint64_t churn(size_t size, size_t pages, double scale, size_t* live_kib) {
  size_t pairs = bench_scaled(12e6, scale), done = 0;
  size_t max_n = pages * CHURN_PAGE / 16;
  if (max_n > sizeof slots / sizeof slots[0]) bench_die("churn: too many blocks", NULL, max_n);
  for (size_t round = 0; done < pairs; round++) {
    size_t s = size != 0 ? size : churn_sizes[round % 4];
    size_t n = pages * CHURN_PAGE / s;
    for (size_t i = 0; i < n; i++) slots[i] = blk_new(s, (uint32_t)i);
    for (size_t i = 0; i < n; i++) blk_free(slots[i], s);
    done += n;
  }
  *live_kib = pages * CHURN_PAGE / 1024;
  return done;
}

#define CHURN_FUN(name, size, pages)                                        \
  static uint64_t name(int threads, double scale, size_t* live_kib) {       \
    (void)threads;                                                          \
    return churn(size, pages, scale, live_kib);                             \
  }
CHURN_FUN(churn_16_1, 16, 1)
CHURN_FUN(churn_64_1, 64, 1)
CHURN_FUN(churn_256_1, 256, 1)
CHURN_FUN(churn_1024_1, 1024, 1)
CHURN_FUN(churn_16_2, 16, 2)
CHURN_FUN(churn_64_2, 64, 2)
CHURN_FUN(churn_256_2, 256, 2)
CHURN_FUN(churn_1024_2, 1024, 2)
CHURN_FUN(churn_16_4, 16, 4)
CHURN_FUN(churn_64_4, 64, 4)
CHURN_FUN(churn_256_4, 256, 4)
CHURN_FUN(churn_1024_4, 1024, 4)
CHURN_FUN(churn_mix_2, 0, 2)
CHURN_FUN(churn_mix_4, 0, 4)
#undef CHURN_FUN

/* ---------------------------------------------------------------------------
   pingpong, batch-lifo
--------------------------------------------------------------------------- */
static uint64_t w_pingpong(int threads, double scale, size_t* live_kib) {
  (void)threads;
  size_t pairs = bench_scaled(20e6, scale);
  for (size_t i = 0; i < pairs; i++) blk_free(blk_new(32, (uint32_t)i), 32);
  *live_kib = 0;
  return pairs;
}

#define LIFO_BATCH 100
static uint64_t w_batch_lifo(int threads, double scale, size_t* live_kib) {
  (void)threads;
  size_t pairs = bench_scaled(12e6, scale), done = 0;
  rng_t r = rng_make(7);
  for (size_t i = 0; i < LIFO_BATCH; i++) sizes[i] = (uint32_t)rng_range(&r, 16, 256);
  while (done < pairs) {
    for (size_t i = 0; i < LIFO_BATCH; i++) slots[i] = blk_new(sizes[i], (uint32_t)i);
    for (size_t i = LIFO_BATCH; i > 0; i--) blk_free(slots[i - 1], sizes[i - 1]);
    done += LIFO_BATCH;
  }
  *live_kib = LIFO_BATCH * 136 / 1024;
  return done;
}

/* ---------------------------------------------------------------------------
   interleaved, multisize
--------------------------------------------------------------------------- */
#define POOL_SLOTS (1 << 16)
static uint64_t w_interleaved(int threads, double scale, size_t* live_kib) {
  (void)threads;
  size_t steps = bench_scaled(6e6, scale), allocs = 0;
  rng_t r = rng_make(11);
  for (size_t i = 0; i < steps; i++) {
    size_t k = rng_below(&r, POOL_SLOTS);
    if (slots[k] != NULL) {
      blk_free(slots[k], sizes[k]);
      slots[k] = NULL;
    } else {
      sizes[k] = (uint32_t)rng_range(&r, 16, 512);
      slots[k] = blk_new(sizes[k], (uint32_t)i);
      allocs++;
    }
  }
  for (size_t k = 0; k < POOL_SLOTS; k++) {
    if (slots[k] != NULL) blk_free(slots[k], sizes[k]);
    slots[k] = NULL;
  }
  *live_kib = (size_t)POOL_SLOTS / 2 * 264 / 1024;
  return allocs;
}

#define MULTI_BLOCKS 10000
static uint64_t w_multisize(int threads, double scale, size_t* live_kib) {
  (void)threads;
  size_t pairs = bench_scaled(10e6, scale), done = 0;
  while (done < pairs) {
    for (size_t i = 0; i < MULTI_BLOCKS; i++) slots[i] = blk_new(8 + 8 * (i % 32), (uint32_t)i);
    for (size_t i = 0; i < MULTI_BLOCKS; i += 2) blk_free(slots[i], 8 + 8 * (i % 32));
    for (size_t i = 1; i < MULTI_BLOCKS; i += 2) blk_free(slots[i], 8 + 8 * (i % 32));
    done += MULTI_BLOCKS;
  }
  *live_kib = (size_t)MULTI_BLOCKS * 132 / 1024;
  return done;
}

/* ---------------------------------------------------------------------------
   realloc
--------------------------------------------------------------------------- */
#define GROW_BUFFERS 4
#define GROW_MAX ((size_t)1 << 20)
static uint64_t w_realloc(int threads, double scale, size_t* live_kib) {
  (void)threads;
  size_t cycles = bench_scaled(200, scale), reallocs = 0;
  unsigned char* buf[GROW_BUFFERS];
  size_t len[GROW_BUFFERS];
  for (size_t c = 0; c < cycles; c++) {
    for (size_t b = 0; b < GROW_BUFFERS; b++) {
      buf[b] = (unsigned char*)blk_new(8, (uint32_t)b);
      len[b] = 8;
    }
    bool growing = true;
    while (growing) {
      growing = false;
      for (size_t b = 0; b < GROW_BUFFERS; b++) {
        size_t old = len[b];
        if (old >= GROW_MAX) continue;
        growing = true;
        size_t want = old + 8 + old / 16;
        if (want > GROW_MAX) want = GROW_MAX;
        (void)blk_check(buf[b], old);
        uint64_t head, tail;
        memcpy(&head, buf[b], 8);
        memcpy(&tail, buf[b] + old - 8, 8);
        unsigned char* p = (unsigned char*)bench_realloc(buf[b], want);
        if (p == NULL) bench_die("out of memory", p, want);
        uint64_t head2, tail2;
        memcpy(&head2, p, 8);
        memcpy(&tail2, p + old - 8, 8);
        if (head2 != head || tail2 != tail) bench_die("realloc lost the contents", p, want);
        memset(p + old, (int)(want & 0xff), want - old);
        blk_stamp(p, want, (uint32_t)b);
        buf[b] = p;
        len[b] = want;
        reallocs++;
      }
    }
    for (size_t b = 0; b < GROW_BUFFERS; b++) blk_free(buf[b], GROW_MAX);
  }
  *live_kib = GROW_BUFFERS * GROW_MAX / 1024;
  return reallocs;
}

/* ---------------------------------------------------------------------------
   random-mixed
--------------------------------------------------------------------------- */
#define MIXED_LIVE 10000
static uint64_t w_random_mixed(int threads, double scale, size_t* live_kib) {
  (void)threads;
  size_t steps = bench_scaled(5e6, scale);
  rng_t r = rng_make(13);
  for (size_t i = 0; i < MIXED_LIVE; i++) {
    sizes[i] = (uint32_t)rng_range(&r, 16, 1024);
    slots[i] = blk_new(sizes[i], (uint32_t)i);
  }
  for (size_t i = 0; i < steps; i++) {
    size_t k = rng_below(&r, MIXED_LIVE);
    blk_free(slots[k], sizes[k]);
    sizes[k] = (uint32_t)rng_range(&r, 16, 1024);
    slots[k] = blk_new(sizes[k], (uint32_t)i);
  }
  for (size_t i = 0; i < MIXED_LIVE; i++) blk_free(slots[i], sizes[i]);
  *live_kib = (size_t)MIXED_LIVE * 520 / 1024;
  return steps + MIXED_LIVE;
}

static const workload_t workloads[] = {
  {"churn-16-1p", churn_16_1, 1, "alloc then free one 64 KiB page of 16 B blocks"},
  {"churn-64-1p", churn_64_1, 1, "... 64 B blocks"},
  {"churn-256-1p", churn_256_1, 1, "... 256 B blocks"},
  {"churn-1024-1p", churn_1024_1, 1, "... 1 KiB blocks"},
  {"churn-16-2p", churn_16_2, 1, "two pages' worth of 16 B blocks"},
  {"churn-64-2p", churn_64_2, 1, "two pages of 64 B"},
  {"churn-256-2p", churn_256_2, 1, "two pages of 256 B"},
  {"churn-1024-2p", churn_1024_2, 1, "two pages of 1 KiB"},
  {"churn-16-4p", churn_16_4, 1, "four pages of 16 B"},
  {"churn-64-4p", churn_64_4, 1, "four pages of 64 B"},
  {"churn-256-4p", churn_256_4, 1, "four pages of 256 B"},
  {"churn-1024-4p", churn_1024_4, 1, "four pages of 1 KiB"},
  {"churn-mix-2p", churn_mix_2, 1, "two pages, size rotating 16/64/256/1024 per round"},
  {"churn-mix-4p", churn_mix_4, 1, "four pages, size rotating 16/64/256/1024 per round"},
  {"pingpong", w_pingpong, 1, "malloc(32) then free, in a loop"},
  {"batch-lifo", w_batch_lifo, 1, "batches of 100 (16..256 B) freed newest first"},
  {"interleaved", w_interleaved, 1, "random alloc/free over a 64 Ki-slot pool, 16..512 B"},
  {"multisize", w_multisize, 1, "10 000 blocks of 8..256 B interleaved; free evens then odds"},
  {"realloc", w_realloc, 1, "four buffers grown 8 B -> 1 MiB step by step"},
  {"random-mixed", w_random_mixed, 1, "10 000 live blocks of 16..1024 B, random victim each step"},
};

int main(int argc, char** argv) { return bench_main(argc, argv, workloads, sizeof workloads / sizeof workloads[0]); }
