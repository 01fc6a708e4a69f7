/* grow.c - strings and arrays that grow by realloc.

   What you learn here: mia_realloc grows a block in place while the new size
   still fits its size class, and mia_usable_size tells you how far that is,
   so a growing buffer can use the slack it already has instead of asking
   again. Three growth patterns, common in engines (log lines, JSON/text
   builders, per-frame command arrays, asset path lists):
     string  append a few characters at a time, realloc to the exact length
             each time (the worst case for an allocator: many tiny growths)
     array   push elements one at a time into an array doubled by realloc
     slack   the same string, but growing only when mia_usable_size says the
             block is full (with malloc: malloc_usable_size; with mimalloc:
             mi_usable_size) -- the allocator's rounding is free capacity
   The program runs each pattern with mia_realloc, realloc and mi_realloc
   (-DWITH_MIMALLOC -lmimalloc) and prints the times.

   Build: make examples   (or: cc -O2 examples/grow.c -o grow -pthread)
          with mimalloc:   cc -O2 -DWITH_MIMALLOC examples/grow.c -o grow -pthread -lmimalloc
   Run:   ./build/examples/grow [rounds] */
#define MIALLOC_IMPLEMENTATION
#include "../mialloc.h"

#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "peers.h"


static void* any_realloc(allocator_kind k, void* p, size_t size) {
  switch (k) {
    case USE_MIALLOC: return mia_realloc(p, size);
#if WITH_MIMALLOC
    case USE_MIMALLOC: return mi_realloc(p, size);
#endif
    default: return sys_realloc(p, size);
  }
}
static void any_free(allocator_kind k, void* p) {
  switch (k) {
    case USE_MIALLOC: mia_free(p); return;
#if WITH_MIMALLOC
    case USE_MIMALLOC: mi_free(p); return;
#endif
    default: sys_free(p);
  }
}
static size_t any_usable(allocator_kind k, void* p) {
  switch (k) {
    case USE_MIALLOC: return mia_usable_size(p);
#if WITH_MIMALLOC
    case USE_MIMALLOC: return mi_usable_size(p);
#endif
    default: return malloc_usable_size(p);
  }
}

static void* checked(void* p) {
  if (p == NULL) {
    fprintf(stderr, "out of memory\n");
    exit(1);
  }
  return p;
}

static const char* words[] = { "entity", " spawned at ", "(12.5, 3, -7)", " by ", "system/ai", "; ", "ok\n" };

/* Append words to a string, realloc'ing to the exact length each time. */
static unsigned long grow_string(allocator_kind k, size_t appends, bool use_slack) {
  char* s = NULL;
  size_t len = 0, cap = 0;
  unsigned long sum = 0;
  for (size_t i = 0; i < appends; i++) {
    const char* w = words[i % 7];
    size_t n = strlen(w);
    if (!use_slack || len + n + 1 > cap) {
      s = (char*)checked(any_realloc(k, s, len + n + 1));
      cap = use_slack ? any_usable(k, s) : len + n + 1;
    }
    memcpy(s + len, w, n + 1);
    len += n;
    if (len > 4096) { /* a full log line goes out; start the next */
      sum += (unsigned char)s[len / 2];
      len = 0;
      if (i % 3 == 0) {
        any_free(k, s);
        s = NULL;
        cap = 0;
      }
    }
  }
  any_free(k, s);
  return sum + len;
}

/* Push integers into an array doubled by realloc; many arrays, kept alive together. */
static unsigned long grow_arrays(allocator_kind k, size_t arrays, size_t pushes) {
  unsigned long sum = 0;
  int** a = (int**)calloc(arrays, sizeof(int*));
  size_t* cap = (size_t*)calloc(arrays, sizeof(size_t));
  if (a == NULL || cap == NULL) exit(1);
  for (size_t i = 0; i < pushes; i++) {
    for (size_t j = 0; j < arrays; j++) {
      if (i == cap[j]) {
        cap[j] = cap[j] == 0 ? 4 : cap[j] * 2;
        a[j] = (int*)checked(any_realloc(k, a[j], cap[j] * sizeof(int)));
      }
      a[j][i] = (int)(i + j);
    }
  }
  for (size_t j = 0; j < arrays; j++) {
    sum += (unsigned long)a[j][pushes - 1];
    any_free(k, a[j]);
  }
  free(a);
  free(cap);
  return sum;
}

int main(int argc, char** argv) {
  int rounds = argc > 1 ? atoi(argv[1]) : 3;
  if (rounds <= 0) {
    fprintf(stderr, "usage: %s [rounds > 0]\n", argv[0]);
    return 2;
  }
  const char* names[3] = { "string (exact realloc)", "arrays (doubling)", "string (use the slack)" };
  double best[3][3];
  unsigned long sums[3][3];
  for (int p = 0; p < 3; p++)
    for (int k = 0; k < 3; k++) {
      best[p][k] = 1e30;
      sums[p][k] = 0;
    }
  for (int round = 0; round < rounds; round++) {
    for (int k = 0; k < 3; k++) {
      if (k == USE_MIMALLOC && !WITH_MIMALLOC) continue;
      for (int p = 0; p < 3; p++) {
        double t0 = now_ms();
        unsigned long s = (p == 0)   ? grow_string((allocator_kind)k, 1500000, false)
                          : (p == 1) ? grow_arrays((allocator_kind)k, 2000, 3000)
                                     : grow_string((allocator_kind)k, 1500000, true);
        double ms = now_ms() - t0;
        if (ms < best[p][k]) best[p][k] = ms;
        sums[p][k] = s;
      }
    }
  }
  double total[3] = { 0, 0, 0 };
  printf("%-24s %12s %12s %12s\n", "pattern", "mialloc ms", "malloc ms", "mimalloc ms");
  for (int p = 0; p < 3; p++) {
    char mi[32] = "-";
    if (WITH_MIMALLOC) snprintf(mi, sizeof mi, "%.2f", best[p][2]);
    printf("%-24s %12.2f %12.2f %12s\n", names[p], best[p][0], best[p][1], mi);
    for (int k = 0; k < 3; k++) total[k] += best[p][k];
    if (sums[p][0] != sums[p][1] || (WITH_MIMALLOC && sums[p][0] != sums[p][2])) {
      fprintf(stderr, "%s: results differ\n", names[p]);
      return 1;
    }
  }
  if (WITH_MIMALLOC) printf("result: mialloc_ms=%.2f malloc_ms=%.2f mimalloc_ms=%.2f\n", total[0], total[1], total[2]);
  else printf("result: mialloc_ms=%.2f malloc_ms=%.2f mimalloc_ms=-\n", total[0], total[1]);
  return 0;
}
