/* particles.c - thousands of small objects born and killed every frame.

   What you learn here: the most common game allocation pattern -- particles,
   projectiles, decals, sound voices: small objects of a few sizes, created in
   bursts and dying a few dozen frames later -- needs no pool of your own.
   mia_malloc and mia_free of a small size take a few instructions each: the
   block comes from the thread's page for that size class, and a freed block
   goes back to it, so memory stays hot in cache and is reused at once. Sizes
   that vary a little (a particle with or without a trail) cost nothing extra;
   each size class has its own pages. Put the system's objects in their own
   heap (mia_heap_malloc) if you want its figures apart (mia_heap_stats_get)
   or a budget (mia_heap_set_limit).

   Each frame emits a few thousand particles (48..160 bytes), moves every live
   particle and kills those whose life ran out; about 60 000 are alive at a
   time. The program runs the same frames three ways and prints the time of
   each: mia_heap_malloc/mia_free on a "particles" heap, malloc/free, and
   mi_heap_malloc/mi_free (-DWITH_MIMALLOC -lmimalloc).

   Build: make examples   (or: cc -O2 examples/particles.c -o particles -pthread)
          with mimalloc:   cc -O2 -DWITH_MIMALLOC examples/particles.c -o particles -pthread -lmimalloc
   Run:   ./build/examples/particles [frames] [emitted-per-frame] */
#define MIALLOC_IMPLEMENTATION
#include "../mialloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "peers.h"


typedef struct particle {
  float pos[3], vel[3];
  int life;            /* frames left */
  int trail_length;    /* 0..14 points of trail follow */
  float trail[][2];
} particle;

typedef struct particle_system {
  allocator_kind kind;
  mia_heap_t* heap;
#if WITH_MIMALLOC
  mi_heap_t* mi;
#endif
  particle** live;     /* the bookkeeping array is libc's, allocated once */
  size_t count, cap;
  unsigned seed;
} particle_system;

static unsigned next_random(unsigned* s) {
  *s = *s * 1103515245u + 12345u;
  return *s >> 16;
}

static particle* spawn(particle_system* ps) {
  int trail = (int)(next_random(&ps->seed) % 15);
  size_t size = sizeof(particle) + (size_t)trail * 2 * sizeof(float); /* 32..144 + header */
  particle* p;
  switch (ps->kind) {
    case USE_MIALLOC: p = (particle*)mia_heap_malloc(ps->heap, size); break;
#if WITH_MIMALLOC
    case USE_MIMALLOC: p = (particle*)mi_heap_malloc(ps->mi, size); break;
#endif
    default: p = (particle*)sys_malloc(size); break;
  }
  if (p == NULL) return NULL;
  p->pos[0] = p->pos[1] = p->pos[2] = 0.0f;
  p->vel[0] = (float)(next_random(&ps->seed) % 100) * 0.01f;
  p->vel[1] = 1.0f;
  p->vel[2] = 0.5f;
  p->life = 10 + (int)(next_random(&ps->seed) % 30);
  p->trail_length = trail;
  return p;
}

static void kill(particle_system* ps, particle* p) {
  switch (ps->kind) {
    case USE_MIALLOC: mia_free(p); break;
#if WITH_MIMALLOC
    case USE_MIMALLOC: mi_free(p); break;
#endif
    default: sys_free(p); break;
  }
}

static double run(allocator_kind kind, int frames, size_t emitted, unsigned long* checksum, bool report) {
  particle_system ps;
  memset(&ps, 0, sizeof ps);
  ps.kind = kind;
  ps.cap = emitted * 40 + 1;
  ps.live = (particle**)malloc(ps.cap * sizeof(particle*));
  ps.seed = 12345;
  if (kind == USE_MIALLOC) {
    ps.heap = mia_heap_new();
    mia_heap_set_name(ps.heap, "particles");
  }
#if WITH_MIMALLOC
  if (kind == USE_MIMALLOC) ps.mi = mi_heap_new();
#endif
  size_t peak = 0;
  double t0 = now_ms();
  for (int f = 0; f < frames; f++) {
    /* emit */
    for (size_t i = 0; i < emitted && ps.count < ps.cap; i++) {
      particle* p = spawn(&ps);
      if (p == NULL) {
        fprintf(stderr, "out of memory\n");
        exit(1);
      }
      ps.live[ps.count++] = p;
    }
    if (ps.count > peak) peak = ps.count;
    /* simulate; the dead go */
    for (size_t i = 0; i < ps.count;) {
      particle* p = ps.live[i];
      for (int k = 0; k < 3; k++) p->pos[k] += p->vel[k];
      if (p->trail_length > 0) {
        p->trail[p->trail_length - 1][0] = p->pos[0];
        p->trail[p->trail_length - 1][1] = p->pos[1];
      }
      if (--p->life <= 0) {
        *checksum += (unsigned long)p->pos[1];
        kill(&ps, p);
        ps.live[i] = ps.live[--ps.count];
      } else {
        i++;
      }
    }
  }
  double ms = now_ms() - t0;
  if (report) { /* the system's own figures, on request */
    mia_heap_stats_t st;
    mia_heap_stats_get(ps.heap, &st);
    printf("particles heap after the last frame: %zu live particles, %.1f KiB live, %zu pages\n", st.live_blocks,
           (double)st.live_bytes / 1024.0, st.pages);
  }
  for (size_t i = 0; i < ps.count; i++) kill(&ps, ps.live[i]);
  if (kind == USE_MIALLOC) mia_heap_destroy(ps.heap);
#if WITH_MIMALLOC
  if (kind == USE_MIMALLOC) mi_heap_destroy(ps.mi);
#endif
  free(ps.live);
  *checksum += peak;
  return ms;
}

int main(int argc, char** argv) {
  int frames = argc > 1 ? atoi(argv[1]) : 300;
  size_t emitted = argc > 2 ? (size_t)strtoul(argv[2], NULL, 10) : 2500;
  if (frames <= 0 || emitted == 0) {
    fprintf(stderr, "usage: %s [frames > 0] [emitted-per-frame > 0]\n", argv[0]);
    return 2;
  }
  double best[3] = { 1e30, 1e30, 1e30 };
  unsigned long sums[3] = { 0, 0, 0 };
  for (int round = 0; round < 3; round++) {
    for (int k = 0; k < 3; k++) {
      if (k == USE_MIMALLOC && !WITH_MIMALLOC) continue;
      double ms = run((allocator_kind)k, frames, emitted, &sums[k], round == 0 && k == USE_MIALLOC);
      if (ms < best[k]) best[k] = ms;
    }
  }
  long births = (long)frames * (long)emitted;
  printf("%d frames, %zu particles born per frame (%ld in all), each living 10..39 frames\n", frames, emitted, births);
  printf("  mialloc  (mia_heap_malloc / mia_free): %8.2f ms  (%.1f ns per birth and death)\n", best[USE_MIALLOC],
         best[USE_MIALLOC] * 1e6 / (double)births);
  printf("  malloc   (malloc / free):              %8.2f ms  (%.1f ns)\n", best[USE_MALLOC],
         best[USE_MALLOC] * 1e6 / (double)births);
  if (WITH_MIMALLOC)
    printf("  mimalloc (mi_heap_malloc / mi_free):   %8.2f ms  (%.1f ns)\n", best[USE_MIMALLOC],
           best[USE_MIMALLOC] * 1e6 / (double)births);
  else printf("  mimalloc: not built in (-DWITH_MIMALLOC -lmimalloc)\n");
  if (sums[0] != sums[1] || (WITH_MIMALLOC && sums[0] != sums[2])) {
    fprintf(stderr, "checksums differ\n");
    return 1;
  }
  if (WITH_MIMALLOC) printf("result: mialloc_ms=%.2f malloc_ms=%.2f mimalloc_ms=%.2f\n", best[0], best[1], best[2]);
  else printf("result: mialloc_ms=%.2f malloc_ms=%.2f mimalloc_ms=-\n", best[0], best[1]);
  return 0;
}
