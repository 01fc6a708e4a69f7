/* frame_loop.c - a game's frame loop: page faults per frame once warm, OS
   calls per 300 frames once warm, and how much memory comes back when the
   level is unloaded and only light frames run.

   Build (make bench-memret does this; see bench/memret.mk):
     clang-19 -std=gnu11 -O2 -march=x86-64-v3 <STYLE.md warnings> -Werror -pthread \
       -DBENCH_MIALLOC=1 -DBENCH_NAME=mialloc bench/frame_loop.c -o build/bench/frame_loop-mialloc
     clang-19 ... -DBENCH_MIALLOC=0 -DBENCH_NAME=glibc bench/frame_loop.c -o build/bench/frame_loop-glibc
   (the glibc build calls plain malloc/free; bench/memret.py runs it under
   LD_PRELOAD of each peer and of build/libmialloc.so).
   Run:  build/bench/frame_loop-mialloc [warm=300] [window=600] [light=3] [blocks=3000] [seed=1]

   Heavy frames, back to back (no sleeping): each allocates `blocks` blocks,
   85% of 16..512 B, 14% of 513 B..64 KiB, 1% of 256 KiB..2 MiB (log-uniform
   within each range: small sizes dominate), writes every byte of each (the
   head and tail words are bench.h's check words, the rest is memset), and
   gives each a lifetime of 0..FRAME_LIFE_MAX frames from a seeded generator
   (see frame_life: most blocks are transient, the rest live up to 100
   frames); at the end of the frame the blocks whose lifetime is up are
   freed. Frames 0..warm-1 warm up; the next `window` frames are measured:
   minor faults (getrusage), and the window is bracketed by two marker system
   calls (memret_mark) so that strace can count the memory calls inside it.
   The resident set (/proc/self/statm) is sampled in every frame once its
   blocks are allocated: its maximum is the peak.
   Then the level is unloaded: every live block is freed, and light frames
   run at 60 per second of wall time (sleeping to each frame's start), each
   allocating LIGHT_BLOCKS blocks of 16..256 B and freeing the previous
   frame's, for `light` seconds; the resident set is read right after the
   unload, at 1 s and at the end. A second pair of markers brackets the light
   phase.
   Run length: 4-10 ms a heavy frame on a 2-core x86-64 server (mostly the
   memset of ~32 MiB), so warm=300 window=600 is 4-9 s per allocator plus the
   light seconds; make bench uses warm=100 window=150.

   Output: "memret: light phase" when the light phase begins (bench/memret.py
   starts its next program then: what is left is mostly sleeping), then one line
     memret frame alloc=<build> malloc=<provider> warm=<n> window=<n>
       faults_per_frame=<minor faults per window frame> majflt=<major, window>
       cpu_window_s=<user+sys over the window> cpu_s=<user+sys, heavy frames>
       heavy_s=<wall, heavy frames> peak_rss_kib=<max statm sample> hwm_kib=<VmHWM>
       rss_unload_kib=<right after the unload> rss_1s_kib=<1 s of light frames>
       rss_end_kib=<at the end of the light phase> light_s=<its wall seconds>
       live_peak_warm_kib=<the program's live set (bytes requested, not freed) at its
       peak over the warm-up> live_peak_kib=<at its peak over every heavy frame>
       floor_faults_per_frame=<(live_peak - live_peak_warm) / 4 KiB / window: the
       faults no allocator avoids without memory written before the window>
   exit 3 if a block check fails (bench.h). */
#include "memret.h"

/* Lifetimes are 0..FRAME_LIFE_MAX frames; the blocks due at frame f wait in bucket f % FRAME_RING. */
#define FRAME_LIFE_MAX 100
#define FRAME_RING (FRAME_LIFE_MAX + 1)
/* Blocks one bucket can hold: each frame adds blocks/101 on average to each bucket, and transient ones to the next few. */
#define FRAME_BUCKET_CAP 16384
/* Light frames: blocks per frame and frames per second of wall time. */
#define LIGHT_BLOCKS 8
#define LIGHT_FPS 60

typedef struct bucket_s {
  size_t count;
  void* items[FRAME_BUCKET_CAP];
  size_t sizes[FRAME_BUCKET_CAP]; /* requested sizes: the live set, whatever the allocator */
} bucket_t;

static bucket_t frame_buckets[FRAME_RING]; /* static: the bookkeeping is not the allocator's */

/* 85% 16..512 B, 14% 513 B..64 KiB, 1% 256 KiB..2 MiB. */
static size_t frame_size(rng_t* r) {
  size_t u = rng_below(r, 100);
  if (u < 85) return memret_log_uniform(r, 16, 512);
  if (u < 99) return memret_log_uniform(r, 513, (size_t)64 << 10);
  return memret_log_uniform(r, (size_t)256 << 10, (size_t)2 << 20);
}

/* Lifetime in frames: 7 in 8 blocks die in the frame that made them or one
   of the next 3 (per-frame scratch, command lists), 1 in 8 lives uniformly
   0..100 frames (assets streamed in and out): 7.6 frames on average; ~32 MiB
   is allocated a frame and the peak resident set is 330-380 MiB. */
static size_t frame_life(rng_t* r) {
  return rng_below(r, 8) != 0 ? rng_below(r, 4) : rng_below(r, FRAME_LIFE_MAX + 1);
}

/* Allocate a block and write all of it: bench.h's head and tail words, memset between. */
static void* frame_block(size_t size, uint32_t salt, int fill) {
  unsigned char* p = (unsigned char*)blk_new(size, salt);
  if (size > 16) memset(p + 8, fill, size - 16);
  return p;
}

/* Bytes requested and not yet freed: the program's own live set. */
static size_t frame_live;

static void bucket_free_all(bucket_t* b) {
  for (size_t i = 0; i < b->count; i++) {
    blk_free(b->items[i], 0);
    frame_live -= b->sizes[i];
  }
  b->count = 0;
}

int main(int argc, char** argv) {
  memret_check_opts(argc, argv, "warm window light blocks seed");
  size_t warm = (size_t)memret_opt(argc, argv, "warm", 300);
  size_t window = (size_t)memret_opt(argc, argv, "window", 600);
  double light = memret_opt(argc, argv, "light", 3.0);
  size_t blocks = (size_t)memret_opt(argc, argv, "blocks", 3000);
  uint64_t seed = (uint64_t)memret_opt(argc, argv, "seed", 1);
  if (window == 0 || blocks == 0 || !(light >= 0)) {
    fprintf(stderr, "%s: window and blocks must be > 0, light >= 0\n", argv[0]);
    return 2;
  }
  bench_workload = "frame";
  rng_t r = rng_make(seed);

  /* ---- heavy frames ---- */
  memret_usage_t u0 = memret_usage(), uw0 = u0, uw1 = u0;
  double t0 = memret_now();
  long peak_rss = 0;
  size_t live_peak = 0, live_peak_warm = 0; /* the live set's peak over all heavy frames, and over the warm-up */
  for (size_t f = 0; f < warm + window; f++) {
    if (f == warm) {
      memret_mark();
      uw0 = memret_usage();
      live_peak_warm = live_peak;
    }
    int fill = (int)(f & 0xff) | 1;
    for (size_t i = 0; i < blocks; i++) {
      size_t size = frame_size(&r);
      bucket_t* b = &frame_buckets[(f + frame_life(&r)) % FRAME_RING];
      if (bench_unlikely(b->count == FRAME_BUCKET_CAP)) bench_die("bucket full (raise FRAME_BUCKET_CAP)", NULL, 0);
      b->sizes[b->count] = size;
      b->items[b->count++] = frame_block(size, (uint32_t)i, fill);
      frame_live += size;
    }
    if (frame_live > live_peak) live_peak = frame_live;
    long rss = memret_rss_kib();
    if (rss > peak_rss) peak_rss = rss;
    bucket_free_all(&frame_buckets[f % FRAME_RING]);
  }
  uw1 = memret_usage();
  memret_mark();
  double t1 = memret_now();

  /* ---- unload, then light frames at 60 per second ---- */
  for (size_t k = 0; k < FRAME_RING; k++) bucket_free_all(&frame_buckets[k]);
  long rss_unload = memret_rss_kib(), rss_1s = rss_unload, rss_end = rss_unload;
  /* the runner may start its next program now: the rest is mostly sleeping */
  printf("memret: light phase\n");
  fflush(stdout);
  memret_mark();
  void* prev[LIGHT_BLOCKS] = {0};
  size_t light_frames = (size_t)(light * LIGHT_FPS);
  double l0 = memret_now();
  for (size_t k = 0; k < light_frames; k++) {
    for (size_t i = 0; i < LIGHT_BLOCKS; i++) {
      if (prev[i] != NULL) blk_free(prev[i], 0);
      prev[i] = frame_block(memret_log_uniform(&r, 16, 256), (uint32_t)i, (int)(k & 0xff) | 1);
    }
    if (k + 1 == LIGHT_FPS) rss_1s = memret_rss_kib();
    memret_sleep_until(l0 + (double)(k + 1) / LIGHT_FPS);
  }
  rss_end = memret_rss_kib();
  double l1 = memret_now();
  memret_mark();
  for (size_t i = 0; i < LIGHT_BLOCKS; i++)
    if (prev[i] != NULL) blk_free(prev[i], 0);

  memret_result_head("frame");
  printf(" warm=%zu window=%zu faults_per_frame=%.2f majflt=%ld cpu_window_s=%.4f cpu_s=%.4f heavy_s=%.4f"
         " peak_rss_kib=%ld hwm_kib=%ld rss_unload_kib=%ld rss_1s_kib=%ld rss_end_kib=%ld light_s=%.3f"
         " live_peak_warm_kib=%zu live_peak_kib=%zu floor_faults_per_frame=%.2f misaligned=%zu\n",
         warm, window, (double)(uw1.minflt - uw0.minflt) / (double)window, uw1.majflt - uw0.majflt,
         uw1.cpu - uw0.cpu, uw1.cpu - u0.cpu, t1 - t0, peak_rss, memret_status_kib("VmHWM:"), rss_unload, rss_1s,
         rss_end, l1 - l0, live_peak_warm >> 10, live_peak >> 10,
         (double)(live_peak - live_peak_warm) / 4096.0 / (double)window, atomic_load(&bench_misaligned_size));
  return 0;
}
