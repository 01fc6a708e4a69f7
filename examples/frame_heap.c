/* frame_heap.c - a heap per frame, thrown away when the frame ends.

   What you learn here: a game makes many short-lived allocations each frame
   (render commands, temporary strings, visibility lists) that all die when
   the frame is presented. Give the frame its own heap: allocate with
   mia_heap_malloc(frame, size), and end the frame with mia_heap_destroy(frame),
   which releases every block of it at once -- no list of pointers to keep, no
   free per block, no leak when a code path forgets one. mia_heap_new is cheap
   enough to call every frame. The program runs the same frames three ways and
   prints the time of each:
     mialloc   mia_heap_new + mia_heap_malloc, then mia_heap_destroy
     malloc    the C library: malloc, and a free for every block at frame end
     mimalloc  mi_heap_new + mi_heap_malloc, then mi_heap_destroy
               (built with -DWITH_MIMALLOC -lmimalloc)

   Rules that come with it: no block of a destroyed heap may be used after
   the destroy (keep frame data out of anything that outlives the frame), and
   only the heap's owner should allocate from it on the fast path (other
   threads may too, through a lock; see job_system.c).

   Build: make examples   (or: cc -O2 examples/frame_heap.c -o frame_heap -pthread)
          with mimalloc:   cc -O2 -DWITH_MIMALLOC examples/frame_heap.c -o frame_heap -pthread -lmimalloc
   Run:   ./build/examples/frame_heap [frames] [allocations-per-frame] */
#define MIALLOC_IMPLEMENTATION
#include "../mialloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "peers.h"

/* One frame's temporary data: draw commands of varying size, each with a name. */
typedef struct draw_cmd {
  struct draw_cmd* next;
  char* label;
  size_t vertex_count;
  float vertices[]; /* 3 floats per vertex */
} draw_cmd;


/* The frame's allocator: a heap (mialloc, mimalloc) or malloc with a list of
   what to free at frame end. */
typedef struct frame_alloc {
  allocator_kind kind;
  mia_heap_t* heap;
#if WITH_MIMALLOC
  mi_heap_t* mi;
#endif
  void** blocks; /* malloc only: every block, freed at frame end */
  size_t count;
} frame_alloc;

static void* frame_malloc(frame_alloc* fa, size_t size) {
  switch (fa->kind) {
    case USE_MIALLOC: return mia_heap_malloc(fa->heap, size);
#if WITH_MIMALLOC
    case USE_MIMALLOC: return mi_heap_malloc(fa->mi, size);
#endif
    default: {
      void* p = sys_malloc(size);
      if (p != NULL) fa->blocks[fa->count++] = p;
      return p;
    }
  }
}

static void frame_begin(frame_alloc* fa) {
  fa->count = 0;
  if (fa->kind == USE_MIALLOC) fa->heap = mia_heap_new();
#if WITH_MIMALLOC
  if (fa->kind == USE_MIMALLOC) fa->mi = mi_heap_new();
#endif
}

static void frame_end(frame_alloc* fa) {
  if (fa->kind == USE_MIALLOC) mia_heap_destroy(fa->heap); /* every block at once */
#if WITH_MIMALLOC
  if (fa->kind == USE_MIMALLOC) mi_heap_destroy(fa->mi);
#endif
  if (fa->kind == USE_MALLOC)
    for (size_t i = 0; i < fa->count; i++) sys_free(fa->blocks[i]);
}

/* Build one frame's command list and "submit" it (a checksum stands in for the GPU). */
static unsigned long run_frame(frame_alloc* fa, size_t commands, unsigned seed) {
  draw_cmd* head = NULL;
  for (size_t i = 0; i < commands; i++) {
    seed = seed * 1103515245u + 12345u;
    size_t vertices = 1 + (seed >> 16) % 24;
    draw_cmd* c = (draw_cmd*)frame_malloc(fa, sizeof(draw_cmd) + vertices * 3 * sizeof(float));
    char* label = (char*)frame_malloc(fa, 24);
    if (c == NULL || label == NULL) {
      fprintf(stderr, "out of memory\n");
      exit(1);
    }
    snprintf(label, 24, "mesh-%u", (unsigned)i);
    c->label = label;
    c->vertex_count = vertices;
    for (size_t v = 0; v < vertices * 3; v++) c->vertices[v] = (float)v;
    c->next = head;
    head = c;
  }
  unsigned long sum = 0;
  for (draw_cmd* c = head; c != NULL; c = c->next) sum += c->vertex_count + (unsigned char)c->label[5];
  return sum;
}

static double run(allocator_kind kind, int frames, size_t commands, unsigned long* checksum) {
  frame_alloc fa;
  memset(&fa, 0, sizeof fa);
  fa.kind = kind;
  if (kind == USE_MALLOC) fa.blocks = (void**)malloc(2 * commands * sizeof(void*));
  double t0 = now_ms();
  for (int f = 0; f < frames; f++) {
    frame_begin(&fa);
    *checksum += run_frame(&fa, commands, (unsigned)f);
    frame_end(&fa);
  }
  double ms = now_ms() - t0;
  free(fa.blocks);
  return ms;
}

int main(int argc, char** argv) {
  int frames = argc > 1 ? atoi(argv[1]) : 200;
  size_t commands = argc > 2 ? (size_t)strtoul(argv[2], NULL, 10) : 5000;
  if (frames <= 0 || commands == 0) {
    fprintf(stderr, "usage: %s [frames > 0] [allocations-per-frame > 0]\n", argv[0]);
    return 2;
  }
  /* three rounds, interleaved, best of each: the machine's noise hurts all alike */
  double best[3] = { 1e30, 1e30, 1e30 };
  unsigned long sums[3] = { 0, 0, 0 };
  for (int round = 0; round < 3; round++) {
    for (int k = 0; k < 3; k++) {
      if (k == USE_MIMALLOC && !WITH_MIMALLOC) continue;
      double ms = run((allocator_kind)k, frames, commands, &sums[k]);
      if (ms < best[k]) best[k] = ms;
    }
  }
  printf("%d frames, %zu draw commands (2 blocks each) per frame\n", frames, commands);
  printf("  mialloc  (heap per frame, mia_heap_destroy): %8.2f ms\n", best[USE_MIALLOC]);
  printf("  malloc   (free every block):                 %8.2f ms\n", best[USE_MALLOC]);
  if (WITH_MIMALLOC) printf("  mimalloc (heap per frame, mi_heap_destroy):  %8.2f ms\n", best[USE_MIMALLOC]);
  else printf("  mimalloc: not built in (-DWITH_MIMALLOC -lmimalloc)\n");
  if (sums[0] != sums[1] || (WITH_MIMALLOC && sums[0] != sums[2])) {
    fprintf(stderr, "checksums differ\n");
    return 1;
  }
  /* one line for examples/run_all.sh */
  if (WITH_MIMALLOC) printf("result: mialloc_ms=%.2f malloc_ms=%.2f mimalloc_ms=%.2f\n", best[0], best[1], best[2]);
  else printf("result: mialloc_ms=%.2f malloc_ms=%.2f mimalloc_ms=-\n", best[0], best[1]);
  return 0;
}
