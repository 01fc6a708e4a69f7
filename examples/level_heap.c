/* level_heap.c - a level's memory in one heap, with a budget, a name and live
   figures; unloading the level is one call.

   What you learn here: everything a level loads -- entities, their names,
   mesh and texture buffers, a lookup table -- goes into a heap made for the
   level. Three calls make it a subsystem you can watch:
     mia_heap_set_name(heap, "level-3")      shows in mia_stats_print_json
     mia_heap_set_limit(heap, 48 << 20)      an allocation that would take the
                                             heap's pages past 48 MiB fails
                                             (NULL, errno ENOMEM, and the
                                             function given to mia_register_error
                                             is called) instead of eating the
                                             memory of the next subsystem
     mia_heap_stats_get(heap, &st)           live bytes and blocks, pages and
                                             committed bytes, on request (no cost
                                             per allocation)
   Unloading is mia_heap_destroy(heap): no walk over the level's data.
   The program loads and unloads levels three ways and prints the time of each:
     mialloc   a heap per level, mia_heap_destroy
     malloc    the C library, every block freed on unload
     mimalloc  mi_heap_new per level, mi_heap_destroy (-DWITH_MIMALLOC -lmimalloc)

   Build: make examples   (or: cc -O2 examples/level_heap.c -o level_heap -pthread)
          with mimalloc:   cc -O2 -DWITH_MIMALLOC examples/level_heap.c -o level_heap -pthread -lmimalloc
   Run:   ./build/examples/level_heap [levels] */
#define MIALLOC_IMPLEMENTATION
#include "../mialloc.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "peers.h"


/* A level's allocator. malloc keeps a list of its blocks for the unload. */
typedef struct level_alloc {
  allocator_kind kind;
  mia_heap_t* heap;
#if WITH_MIMALLOC
  mi_heap_t* mi;
#endif
  void** blocks;
  size_t count, cap;
} level_alloc;

static void* level_malloc(level_alloc* la, size_t size) {
  switch (la->kind) {
    case USE_MIALLOC: return mia_heap_malloc(la->heap, size);
#if WITH_MIMALLOC
    case USE_MIMALLOC: return mi_heap_malloc(la->mi, size);
#endif
    default:
      if (la->count == la->cap) return NULL;
      return la->blocks[la->count++] = sys_malloc(size);
  }
}

typedef struct entity {
  char* name;
  float position[3];
  float* mesh;          /* vertex buffer */
  size_t mesh_floats;
  struct entity* next_in_bucket;
} entity;

typedef struct level {
  entity** buckets;     /* name -> entity */
  size_t bucket_count;
  entity** entities;
  size_t entity_count;
  unsigned char* lightmap;
} level;

static size_t hash_name(const char* s) {
  size_t h = 1469598103934665603u;
  for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211u;
  return h;
}

/* "Load" level `n`: entities with names and meshes, a hash table, a light map. */
static level* load_level(level_alloc* la, int n, size_t entities) {
  level* lv = (level*)level_malloc(la, sizeof(level));
  if (lv == NULL) return NULL;
  lv->bucket_count = entities;
  lv->buckets = (entity**)level_malloc(la, entities * sizeof(entity*));
  lv->entities = (entity**)level_malloc(la, entities * sizeof(entity*));
  lv->lightmap = (unsigned char*)level_malloc(la, 1u << 20);
  if (lv->buckets == NULL || lv->entities == NULL || lv->lightmap == NULL) return NULL;
  memset(lv->buckets, 0, entities * sizeof(entity*));
  memset(lv->lightmap, n, 1u << 20);
  lv->entity_count = 0;
  unsigned seed = (unsigned)n * 7919u + 1;
  for (size_t i = 0; i < entities; i++) {
    seed = seed * 1103515245u + 12345u;
    entity* e = (entity*)level_malloc(la, sizeof(entity));
    char* name = (char*)level_malloc(la, 48);
    size_t floats = 12 + (seed >> 16) % 600; /* small props to large meshes */
    float* mesh = (float*)level_malloc(la, floats * sizeof(float));
    if (e == NULL || name == NULL || mesh == NULL) return NULL; /* over budget: the caller unloads */
    snprintf(name, 48, "level%d/entity%zu", n, i);
    for (size_t f = 0; f < floats; f++) mesh[f] = (float)f;
    e->name = name;
    e->mesh = mesh;
    e->mesh_floats = floats;
    e->position[0] = e->position[1] = e->position[2] = (float)i;
    size_t b = hash_name(name) % lv->bucket_count;
    e->next_in_bucket = lv->buckets[b];
    lv->buckets[b] = e;
    lv->entities[lv->entity_count++] = e;
  }
  return lv;
}

/* Play: look entities up by name. */
static unsigned long play_level(const level* lv, int n) {
  unsigned long sum = 0;
  char name[48];
  for (size_t i = 0; i < lv->entity_count; i += 3) {
    snprintf(name, sizeof name, "level%d/entity%zu", n, i);
    for (const entity* e = lv->buckets[hash_name(name) % lv->bucket_count]; e != NULL; e = e->next_in_bucket)
      if (strcmp(e->name, name) == 0) sum += e->mesh_floats;
  }
  return sum + lv->lightmap[12345];
}

static void unload_level(level_alloc* la) {
  if (la->kind == USE_MIALLOC) mia_heap_destroy(la->heap);
#if WITH_MIMALLOC
  if (la->kind == USE_MIMALLOC) mi_heap_destroy(la->mi);
#endif
  if (la->kind == USE_MALLOC) {
    for (size_t i = 0; i < la->count; i++) sys_free(la->blocks[i]);
    la->count = 0;
  }
}

static double run(allocator_kind kind, int levels, size_t entities, unsigned long* checksum, bool report) {
  level_alloc la;
  memset(&la, 0, sizeof la);
  la.kind = kind;
  la.cap = 3 * entities + 8;
  if (kind == USE_MALLOC) la.blocks = (void**)malloc(la.cap * sizeof(void*));
  double t0 = now_ms();
  for (int n = 0; n < levels; n++) {
    if (kind == USE_MIALLOC) {
      la.heap = mia_heap_new();
      char name[32];
      snprintf(name, sizeof name, "level-%d", n);
      mia_heap_set_name(la.heap, name);
      mia_heap_set_limit(la.heap, (size_t)48 << 20); /* the level's budget */
    }
#if WITH_MIMALLOC
    if (kind == USE_MIMALLOC) la.mi = mi_heap_new();
#endif
    level* lv = load_level(&la, n, entities);
    if (lv == NULL) {
      fprintf(stderr, "level %d did not fit\n", n);
      exit(1);
    }
    *checksum += play_level(lv, n);
    if (report && n == 0) {
      mia_heap_stats_t st;
      mia_heap_stats_get(la.heap, &st);
      printf("level-0 loaded: %zu blocks, %.1f MiB live, %.1f MiB in %zu pages (limit %zu MiB)\n", st.live_blocks,
             (double)st.live_bytes / 1048576.0, (double)st.committed_bytes / 1048576.0, st.pages,
             mia_heap_get_limit(la.heap) >> 20);
    }
    unload_level(&la);
  }
  double ms = now_ms() - t0;
  free(la.blocks);
  return ms;
}

/* The budget at work: a level too big for its limit fails cleanly. */
static void on_error(int err, void* arg) {
  (void)arg;
  if (err == ENOMEM) printf("  error function: ENOMEM (a heap's budget or the system)\n");
}
static void show_budget(size_t entities) {
  level_alloc la;
  memset(&la, 0, sizeof la);
  la.kind = USE_MIALLOC;
  la.heap = mia_heap_new();
  mia_heap_set_name(la.heap, "level-too-big");
  mia_heap_set_limit(la.heap, (size_t)4 << 20);
  mia_register_error(on_error, NULL);
  printf("loading %zu entities into a heap limited to 4 MiB:\n", entities);
  level* lv = load_level(&la, 99, entities);
  printf("  load_level: %s (errno %s)\n", lv == NULL ? "failed, as it should" : "fitted", errno == ENOMEM ? "ENOMEM" : "-");
  mia_register_error(NULL, NULL);
  mia_heap_destroy(la.heap); /* whatever was loaded goes at once */
}

int main(int argc, char** argv) {
  int levels = argc > 1 ? atoi(argv[1]) : 8;
  const size_t entities = 20000;
  if (levels <= 0) {
    fprintf(stderr, "usage: %s [levels > 0]\n", argv[0]);
    return 2;
  }
  double best[3] = { 1e30, 1e30, 1e30 };
  unsigned long sums[3] = { 0, 0, 0 };
  for (int round = 0; round < 3; round++) {
    for (int k = 0; k < 3; k++) {
      if (k == USE_MIMALLOC && !WITH_MIMALLOC) continue;
      double ms = run((allocator_kind)k, levels, entities, &sums[k], round == 0 && k == USE_MIALLOC);
      if (ms < best[k]) best[k] = ms;
    }
  }
  show_budget(entities);
  printf("%d levels of %zu entities loaded, played and unloaded\n", levels, entities);
  printf("  mialloc  (heap per level, mia_heap_destroy): %8.2f ms\n", best[USE_MIALLOC]);
  printf("  malloc   (free every block):                 %8.2f ms\n", best[USE_MALLOC]);
  if (WITH_MIMALLOC) printf("  mimalloc (heap per level, mi_heap_destroy):  %8.2f ms\n", best[USE_MIMALLOC]);
  else printf("  mimalloc: not built in (-DWITH_MIMALLOC -lmimalloc)\n");
  if (sums[0] != sums[1] || (WITH_MIMALLOC && sums[0] != sums[2])) {
    fprintf(stderr, "checksums differ\n");
    return 1;
  }
  if (WITH_MIMALLOC) printf("result: mialloc_ms=%.2f malloc_ms=%.2f mimalloc_ms=%.2f\n", best[0], best[1], best[2]);
  else printf("result: mialloc_ms=%.2f malloc_ms=%.2f mimalloc_ms=-\n", best[0], best[1]);
  return 0;
}
