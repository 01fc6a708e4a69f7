/* profiler.c - a memory profiler in forty lines: allocation hooks that build
   a size histogram and live bytes per heap.

   What you learn here: compile mialloc with MIALLOC_HOOKS=1 (this file
   defines it before the include) and hand mia_hooks_set three callbacks:
     alloc(heap, p, size, arg)      a block was handed out
     free(heap, p, size, arg)       a block is about to be freed (also for
                                    every block mia_heap_destroy releases)
     realloc(heap, old, new, size, arg)   one call per realloc
   Sizes are usable sizes (what mia_usable_size says), and `heap` is the heap
   the block belongs to, so mia_heap_get_name(heap) names the subsystem. A
   hook runs on the thread that allocates and must not allocate with mialloc
   itself; keep it short (atomic counters, a ring buffer for a capture tool).
   Set sample_bytes to N to get about one alloc call per N bytes instead of
   every call, for always-on profiling. Without MIALLOC_HOOKS the hooks are
   compiled out and cost nothing.

   The program runs a small frame loop (per-frame heap, a long-lived "world"
   heap, strings on the default heap), prints the histogram and the per-heap
   figures, and times the same loop with the hooks on, with them off, with
   malloc, and with mimalloc (-DWITH_MIMALLOC -lmimalloc).

   Build: make examples   (or: cc -O2 examples/profiler.c -o profiler -pthread)
          with mimalloc:   cc -O2 -DWITH_MIMALLOC examples/profiler.c -o profiler -pthread -lmimalloc
   Run:   ./build/examples/profiler [frames] */
#define MIALLOC_HOOKS 1
#define MIALLOC_IMPLEMENTATION
#include "../mialloc.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "peers.h"

/* ---- the profiler ---- */
#define BUCKETS 24   /* sizes 2^0 .. 2^23 and up */
#define MAX_HEAPS 8

typedef struct heap_row {
  const mia_heap_t* heap;
  _Atomic long long allocs, frees, bytes;
} heap_row;

static _Atomic long long histogram[BUCKETS]; /* allocations and reallocs by usable size */
static heap_row heap_rows[MAX_HEAPS];

static size_t bucket_of(size_t size) {
  size_t b = 0;
  while (b + 1 < BUCKETS && ((size_t)1 << (b + 1)) <= size) b++;
  return b;
}

/* Heaps are registered before the hooks see them (a lookup, no allocation in a hook). */
static heap_row* row_of(const mia_heap_t* heap) {
  for (size_t i = 0; i < MAX_HEAPS; i++)
    if (heap_rows[i].heap == heap) return &heap_rows[i];
  return &heap_rows[MAX_HEAPS - 1]; /* "other" */
}

static void on_alloc(const mia_heap_t* heap, void* p, size_t size, void* arg) {
  (void)p; (void)arg;
  atomic_fetch_add_explicit(&histogram[bucket_of(size)], 1, memory_order_relaxed);
  heap_row* r = row_of(heap);
  atomic_fetch_add_explicit(&r->allocs, 1, memory_order_relaxed);
  atomic_fetch_add_explicit(&r->bytes, (long long)size, memory_order_relaxed);
}

static void on_free(const mia_heap_t* heap, void* p, size_t size, void* arg) {
  (void)p; (void)size; (void)arg;
  atomic_fetch_add_explicit(&row_of(heap)->frees, 1, memory_order_relaxed);
}

/* A realloc replaces one block by one: the live count stays. (The event has the
   new size only; a tool that tracks live bytes keeps a pointer -> size map, or
   asks mia_heap_stats_get, which is exact.) */
static void on_realloc(const mia_heap_t* heap, void* old_p, void* new_p, size_t size, void* arg) {
  (void)old_p; (void)new_p; (void)arg;
  atomic_fetch_add_explicit(&histogram[bucket_of(size)], 1, memory_order_relaxed);
  atomic_fetch_add_explicit(&row_of(heap)->bytes, (long long)size, memory_order_relaxed);
}

static const mia_hooks_t profiler_hooks = { on_alloc, on_free, on_realloc, 0, NULL };

/* ---- the workload ---- */

typedef struct entity {
  struct entity* next;
  char* name;
  float transform[16];
} entity;

/* One frame: temporaries in a frame heap, a few entities into the world, a log string. */
static unsigned long frame(allocator_kind k, int f, void* world_heap, entity** world, void** trash, size_t* ntrash) {
  unsigned long sum = 0;
  void* frame_heap = NULL;
  if (k == USE_MIALLOC) frame_heap = mia_heap_new();
#if WITH_MIMALLOC
  if (k == USE_MIMALLOC) frame_heap = mi_heap_new();
#endif
  *ntrash = 0;
  for (int i = 0; i < 3000; i++) {
    size_t size = 16 + (size_t)((i * 37 + f) % 700);
    void* p;
    switch (k) {
      case USE_MIALLOC: p = mia_heap_malloc((mia_heap_t*)frame_heap, size); break;
#if WITH_MIMALLOC
      case USE_MIMALLOC: p = mi_heap_malloc((mi_heap_t*)frame_heap, size); break;
#endif
      default: p = sys_malloc(size); trash[(*ntrash)++] = p; break;
    }
    if (p == NULL) exit(1);
    memset(p, i, 16);
    sum += ((unsigned char*)p)[3];
  }
  if (f % 4 == 0) { /* a new entity in the world */
    entity* e;
    char* name;
    switch (k) {
      case USE_MIALLOC: e = (entity*)mia_heap_malloc((mia_heap_t*)world_heap, sizeof(entity)); name = mia_heap_strdup((mia_heap_t*)world_heap, "spawned-entity"); break;
#if WITH_MIMALLOC
      case USE_MIMALLOC: e = (entity*)mi_heap_malloc((mi_heap_t*)world_heap, sizeof(entity)); name = mi_heap_strdup((mi_heap_t*)world_heap, "spawned-entity"); break;
#endif
      default: e = (entity*)sys_malloc(sizeof(entity)); name = (char*)sys_malloc(15); if (name != NULL) memcpy(name, "spawned-entity", 15); break;
    }
    if (e == NULL || name == NULL) exit(1);
    e->name = name;
    e->next = *world;
    *world = e;
  }
  switch (k) { /* the frame ends */
    case USE_MIALLOC: mia_heap_destroy((mia_heap_t*)frame_heap); break;
#if WITH_MIMALLOC
    case USE_MIMALLOC: mi_heap_destroy((mi_heap_t*)frame_heap); break;
#endif
    default: for (size_t i = 0; i < *ntrash; i++) sys_free(trash[i]); break;
  }
  return sum;
}

static double run(allocator_kind k, int frames, unsigned long* checksum, bool report) {
  void* world_heap = NULL;
  if (k == USE_MIALLOC) {
    world_heap = mia_heap_new();
    mia_heap_set_name((mia_heap_t*)world_heap, "world");
    heap_rows[1].heap = (mia_heap_t*)world_heap;
  }
#if WITH_MIMALLOC
  if (k == USE_MIMALLOC) world_heap = mi_heap_new();
#endif
  static void* trash[4096];
  size_t ntrash = 0;
  entity* world = NULL;
  double t0 = now_ms();
  for (int f = 0; f < frames; f++) *checksum += frame(k, f, world_heap, &world, trash, &ntrash);
  double ms = now_ms() - t0;
  if (k == USE_MIALLOC && report) { /* exact live figures, on request */
    mia_heap_stats_t st;
    mia_heap_stats_get((mia_heap_t*)world_heap, &st);
    printf("world heap before it is destroyed (mia_heap_stats_get): %zu live blocks, %zu live bytes\n", st.live_blocks,
           st.live_bytes);
  }
  switch (k) { /* the level ends */
    case USE_MIALLOC: mia_heap_destroy((mia_heap_t*)world_heap); heap_rows[1].heap = NULL; break;
#if WITH_MIMALLOC
    case USE_MIMALLOC: mi_heap_destroy((mi_heap_t*)world_heap); break;
#endif
    default:
      while (world != NULL) {
        entity* next = world->next;
        sys_free(world->name);
        sys_free(world);
        world = next;
      }
      break;
  }
  return ms;
}

static void print_profile(void) {
  printf("allocation sizes (usable), as the alloc hook saw them:\n");
  long long most = 1;
  for (size_t b = 0; b < BUCKETS; b++) if (histogram[b] > most) most = histogram[b];
  for (size_t b = 0; b < BUCKETS; b++) {
    if (histogram[b] == 0) continue;
    int bar = (int)(50 * histogram[b] / most);
    printf("  %8zu .. %8zu  %9lld  ", (size_t)1 << b, ((size_t)2 << b) - 1, (long long)histogram[b]);
    for (int i = 0; i < bar; i++) putchar('#');
    putchar('\n');
  }
  printf("per heap (frame heaps fall under \"other\"):\n");
  printf("  %-10s %10s %10s %12s %16s\n", "heap", "allocs", "frees", "live blocks", "bytes allocated");
  const char* names[MAX_HEAPS] = { "default", "world", "", "", "", "", "", "other" };
  for (size_t i = 0; i < MAX_HEAPS; i++) {
    if (heap_rows[i].allocs == 0) continue;
    long long a = heap_rows[i].allocs, f = heap_rows[i].frees;
    printf("  %-10s %10lld %10lld %12lld %16lld\n", names[i], a, f, a - f, (long long)heap_rows[i].bytes);
  }
}

int main(int argc, char** argv) {
  int frames = argc > 1 ? atoi(argv[1]) : 150;
  if (frames <= 0) {
    fprintf(stderr, "usage: %s [frames > 0]\n", argv[0]);
    return 2;
  }
  heap_rows[0].heap = mia_heap_get_default();
  /* one profiled run for the report */
  unsigned long sum = 0;
  mia_hooks_set(&profiler_hooks);
  (void)run(USE_MIALLOC, frames, &sum, true);
  char* line = mia_strdup("the default heap is profiled too");
  line = (char*)mia_realloc(line, 200);
  mia_free(line);
  mia_hooks_set(NULL);
  print_profile();

  /* timings: hooks on, hooks off, malloc, mimalloc (best of 3, interleaved) */
  double on = 1e30, off = 1e30, sys = 1e30, mi = 1e30;
  unsigned long s_on = 0, s_off = 0, s_sys = 0, s_mi = 0;
  for (int round = 0; round < 3; round++) {
    mia_hooks_set(&profiler_hooks);
    double t = run(USE_MIALLOC, frames, &s_on, false);
    mia_hooks_set(NULL);
    if (t < on) on = t;
    t = run(USE_MIALLOC, frames, &s_off, false);
    if (t < off) off = t;
    t = run(USE_MALLOC, frames, &s_sys, false);
    if (t < sys) sys = t;
    if (WITH_MIMALLOC) {
      t = run(USE_MIMALLOC, frames, &s_mi, false);
      if (t < mi) mi = t;
    }
  }
  printf("%d frames of 3000 frame-heap blocks each:\n", frames);
  printf("  mialloc, profiler hooks on:  %8.2f ms\n", on);
  printf("  mialloc, hooks off:          %8.2f ms  (the hooks cost %.0f%%)\n", off, off > 0 ? 100.0 * (on - off) / off : 0.0);
  printf("  malloc:                      %8.2f ms\n", sys);
  if (WITH_MIMALLOC) printf("  mimalloc:                    %8.2f ms\n", mi);
  else printf("  mimalloc: not built in (-DWITH_MIMALLOC -lmimalloc)\n");
  if (s_on != s_off || s_on != s_sys || (WITH_MIMALLOC && s_on != s_mi)) {
    fprintf(stderr, "checksums differ\n");
    return 1;
  }
  if (WITH_MIMALLOC) printf("result: mialloc_ms=%.2f malloc_ms=%.2f mimalloc_ms=%.2f\n", on, sys, mi);
  else printf("result: mialloc_ms=%.2f malloc_ms=%.2f mimalloc_ms=-\n", on, sys);
  return 0;
}
