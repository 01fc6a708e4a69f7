/* fuzz.c - a libFuzzer harness: the input is a program of allocator calls,
   run against a shadow model that knows what every live block must hold.

   Build (the Makefile's `make fuzz` does this, plus a -DMIALLOC_SECURE=4 build):
      clang-19 -std=gnu11 -O1 -g -fsanitize=fuzzer,address,undefined tests/fuzz.c -o fuzz
      ./fuzz -max_total_time=30 corpus/
   scripts/fuzz.sh runs it and ends with `1 passed, 0 failed` or
   `0 passed, 1 failed`.

   Operations (one input byte picks one, the next bytes its arguments):
   malloc, calloc, zalloc, malloc_small, aligned (malloc_aligned,
   malloc_aligned_at, zalloc_aligned, posix_memalign), realloc, reallocarray
   (with an overflowing count now and then), free, free_size, usable_size,
   heap_new, heap_malloc, heap_delete, heap_destroy, "hand to the worker
   thread, which frees it", collect.
   The model checks, aborting with the reason on the first violation:
     - contents survive until the free (every block carries a pattern that is
       checked when it is freed, reallocated, or handed over), realloc keeps
       the old contents up to the new size, zeroing calls return zeros;
     - alignment: what was asked for, and 16 bytes for blocks of 16 bytes or
       more (8 below);
     - no two live blocks overlap (checked on every allocation);
     - usable_size >= the size asked for (== with MIALLOC_SECURE >= 4 or
       MIALLOC_DEBUG >= 1, where the padding records it), and the usable
       bytes past the size can be written;
     - failures are NULL with ENOMEM and leave the old block intact. */
#define MIALLOC_IMPLEMENTATION
#include "../mialloc.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_PADDED (MIALLOC_DEBUG >= 1 || MIALLOC_SECURE >= 4)
#define SLOTS 48
#define HEAPS 4
#define LIVE_MAX ((size_t)96 << 20)  /* bytes live at most: keeps the fuzzer's RSS bounded */

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

static void fail(const char* what, const void* p, size_t a, size_t b) {
  fprintf(stderr, "fuzz: model violation: %s (p=%p, %zu, %zu)\n", what, p, a, b);
  abort();
}

/* ---------------------------------------------------------------------------
   The shadow model
--------------------------------------------------------------------------- */

typedef struct slot {
  uint8_t* p;
  size_t size;     /* bytes that carry the pattern (the size asked for, or the usable size once claimed) */
  size_t align;    /* alignment asked for (1: none, natural; 0: none, an aligned_at block) */
  uint8_t seed;
  int heap;        /* index into heaps, or -1 for the thread's default heap */
} slot;

static slot slots[SLOTS];
static mia_heap_t* heaps[HEAPS];
static size_t live_bytes;

static uint8_t pat(uint8_t seed, size_t i) { return (uint8_t)(seed + (uint8_t)(i * 31u) + (uint8_t)(i >> 8)); }

/* The bytes that carry the pattern: all of the first 16 KiB, then one in 64
   (a set that does not depend on the block's size, so a prefix kept by
   realloc checks out against the same rule). */
#define DENSE ((size_t)16384)
static size_t first_sparse(size_t from) { return from <= DENSE ? DENSE : (from + 63) & ~(size_t)63; }
static void fill(uint8_t* p, size_t n, size_t from, uint8_t seed) {
  for (size_t i = from; i < n && i < DENSE; i++) p[i] = pat(seed, i);
  for (size_t i = first_sparse(from); i < n; i += 64) p[i] = pat(seed, i);
}
static void verify(const slot* s, size_t n) {
  if (n > s->size) n = s->size;
  for (size_t i = 0; i < n && i < DENSE; i++) if (s->p[i] != pat(s->seed, i)) fail("contents changed", s->p, i, n);
  for (size_t i = DENSE; i < n; i += 64) if (s->p[i] != pat(s->seed, i)) fail("contents changed", s->p, i, n);
}
static void verify_zero(const uint8_t* p, size_t n) {
  for (size_t i = 0; i < n && i < DENSE; i++) if (p[i] != 0) fail("zeroing call returned non-zero memory", p, i, n);
  for (size_t i = DENSE; i < n; i += 64) if (p[i] != 0) fail("zeroing call returned non-zero memory", p, i, n);
  if (n > 0 && p[n - 1] != 0) fail("zeroing call returned non-zero memory", p, n - 1, n);
}

static void check_new(const uint8_t* p, size_t size, size_t align, int skip) {
  if (p == NULL) return;
  const uintptr_t u = (uintptr_t)p;
  if (align > 1 && (u & (align - 1)) != 0) fail("not aligned as asked", p, align, size);
  /* natural alignment: every block of 16 bytes or more is 16-aligned (the
     size classes are 8, 16, 32, 48, 64, then multiples of 16) */
  const size_t natural = (size >= 16 ? 16 : 8);
  if (align == 1 && (u & (natural - 1)) != 0) fail("not naturally aligned", p, natural, size);
  const size_t usable = mia_usable_size(p);
  if (usable < size) fail("usable_size below the size asked for", p, usable, size);
  if (FUZZ_PADDED && usable != size) fail("usable_size differs from the size asked for (padding build)", p, usable, size);
  const uintptr_t end = u + (size == 0 ? 1 : size);
  for (int i = 0; i < SLOTS; i++) {
    if (i == skip || slots[i].p == NULL) continue;
    const uintptr_t a = (uintptr_t)slots[i].p, b = a + (slots[i].size == 0 ? 1 : slots[i].size);
    if (u < b && a < end) fail("overlaps a live block", p, (size_t)a, size);
  }
}

/* ---------------------------------------------------------------------------
   The worker thread: frees what it is handed, checking the pattern first
--------------------------------------------------------------------------- */

#define WQ 64
static pthread_mutex_t wq_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wq_cond = PTHREAD_COND_INITIALIZER;
static pthread_cond_t wq_idle = PTHREAD_COND_INITIALIZER;
static slot wq[WQ];
static size_t wq_n, wq_busy;
static bool worker_started;

static void* worker(void* arg) {
  (void)arg;
  pthread_mutex_lock(&wq_lock);
  for (;;) {
    while (wq_n == 0) pthread_cond_wait(&wq_cond, &wq_lock);
    slot s = wq[--wq_n];
    wq_busy++;
    pthread_mutex_unlock(&wq_lock);
    verify(&s, s.size);
    mia_free(s.p);
    pthread_mutex_lock(&wq_lock);
    wq_busy--;
    if (wq_n == 0 && wq_busy == 0) pthread_cond_broadcast(&wq_idle);
  }
  return NULL;
}

static void worker_drain(void) {
  pthread_mutex_lock(&wq_lock);
  while (wq_n != 0 || wq_busy != 0) pthread_cond_wait(&wq_idle, &wq_lock);
  pthread_mutex_unlock(&wq_lock);
}

static bool worker_give(const slot* s) {
  if (!worker_started) {
    pthread_t t;
    if (pthread_create(&t, NULL, worker, NULL) != 0) return false;
    pthread_detach(t);
    worker_started = true;
  }
  pthread_mutex_lock(&wq_lock);
  while (wq_n == WQ) {
    pthread_mutex_unlock(&wq_lock);
    worker_drain();
    pthread_mutex_lock(&wq_lock);
  }
  wq[wq_n++] = *s;
  pthread_cond_signal(&wq_cond);
  pthread_mutex_unlock(&wq_lock);
  return true;
}

/* ---------------------------------------------------------------------------
   The interpreter
--------------------------------------------------------------------------- */

typedef struct reader { const uint8_t* d; size_t n, at; } reader;
static uint8_t u8(reader* r) { return r->at < r->n ? r->d[r->at++] : 0; }
static size_t u16(reader* r) { size_t a = u8(r); return a | ((size_t)u8(r) << 8); }

/* Mostly small sizes; medium, large and huge ones more rarely; 0 too. */
static size_t pick_size(reader* r) {
  const uint8_t k = u8(r);
  switch (k >> 5) {
    case 0: case 1: case 2: return u8(r);
    case 3: return 256 + (u16(r) & 1023);
    case 4: return u16(r);
    case 5: return u16(r) * 8;                     /* up to 512 KiB */
    case 6: return (k & 1) ? 0 : (size_t)u8(r) * 16;
    default: return (k & 7) == 7 ? (size_t)u16(r) * 96 : u8(r); /* up to 6 MiB, rarely */
  }
}
static size_t pick_align(reader* r) {
  const uint8_t k = u8(r);
  if ((k & 0xF0) == 0xF0) return (size_t)1 << (12 + (k & 7)); /* 4 KiB .. 512 KiB */
  return (size_t)1 << (k % 13);                                /* 1 .. 4 KiB */
}

static void slot_free(int i, bool sized) {
  slot* s = &slots[i];
  if (s->p == NULL) return;
  verify(s, s->size);
  if (sized) mia_free_size(s->p, s->size);
  else mia_free(s->p);
  live_bytes -= s->size;
  s->p = NULL;
}

static void slot_set(int i, uint8_t* p, size_t size, size_t align, int heap, uint8_t seed, bool zeroed) {
  check_new(p, size, align, i);
  if (p == NULL) return;
  if (zeroed) verify_zero(p, size);
  fill(p, size, 0, seed);
  slots[i] = (slot){p, size, align, seed, heap};
  live_bytes += size;
}

enum {
  OP_MALLOC, OP_CALLOC, OP_ZALLOC, OP_SMALL, OP_ALIGNED, OP_REALLOC, OP_REALLOCARRAY, OP_FREE, OP_FREE_SIZE,
  OP_USABLE, OP_HEAP_NEW, OP_HEAP_MALLOC, OP_HEAP_DELETE, OP_HEAP_DESTROY, OP_HAND_OVER, OP_COLLECT, OP_COUNT
};

static void run_op(reader* r) {
  const uint8_t op = (uint8_t)(u8(r) % OP_COUNT);
  const int i = u8(r) % SLOTS;
  const uint8_t seed = u8(r);
  switch (op) {
    case OP_MALLOC: case OP_CALLOC: case OP_ZALLOC: case OP_SMALL: {
      size_t size = pick_size(r);
      if (op == OP_SMALL) size &= 1023;
      if (live_bytes + size > LIVE_MAX) return;
      slot_free(i, false);
      errno = 0;
      uint8_t* p;
      if (op == OP_MALLOC) p = (uint8_t*)mia_malloc(size);
      else if (op == OP_CALLOC) p = (uint8_t*)mia_calloc(size / 4, 4);
      else if (op == OP_ZALLOC) p = (uint8_t*)mia_zalloc(size);
      else p = (uint8_t*)mia_malloc_small(size);
      if (op == OP_CALLOC) size = (size / 4) * 4;
      if (p == NULL) fail("allocation failed", NULL, size, (size_t)errno);
      slot_set(i, p, size, 1, -1, seed, op == OP_CALLOC || op == OP_ZALLOC);
      return;
    }
    case OP_ALIGNED: {
      const size_t size = pick_size(r), align = pick_align(r);
      const uint8_t how = u8(r) % 4;
      if (live_bytes + size + align > LIVE_MAX) return;
      slot_free(i, false);
      uint8_t* p = NULL;
      if (how == 0) p = (uint8_t*)mia_malloc_aligned(size, align);
      else if (how == 1) p = (uint8_t*)mia_zalloc_aligned(size, align);
      else if (how == 2) {
        const size_t offset = u8(r) % (align < 256 ? align : 256);
        p = (uint8_t*)mia_malloc_aligned_at(size, align, offset);
        if (p == NULL) fail("aligned_at failed", NULL, size, align);
        if ((((uintptr_t)p + offset) & (align - 1)) != 0) fail("p + offset not aligned", p, align, offset);
        slot_set(i, p, size, 0 /* p itself: any alignment */, -1, seed, false);
        return;
      } else {
        void* q = NULL;
        const size_t a = align < sizeof(void*) ? sizeof(void*) : align;
        if (mia_posix_memalign(&q, a, size) != 0) fail("posix_memalign failed", NULL, size, a);
        p = (uint8_t*)q;
      }
      if (p == NULL) fail("aligned allocation failed", NULL, size, align);
      slot_set(i, p, size, align, -1, seed, how == 1);
      return;
    }
    case OP_REALLOC: {
      slot* s = &slots[i];
      const size_t size = pick_size(r);
      if (live_bytes + size > LIVE_MAX) return;
      if (s->p == NULL) {
        uint8_t* p = (uint8_t*)mia_realloc(NULL, size);
        if (p == NULL) fail("realloc(NULL) failed", NULL, size, 0);
        slot_set(i, p, size, 1, -1, seed, false);
        return;
      }
      verify(s, s->size);
      uint8_t* q = (uint8_t*)mia_realloc(s->p, size);
      if (q == NULL) fail("realloc failed", s->p, s->size, size);
      const size_t keep = size < s->size ? size : s->size;
      live_bytes -= s->size;
      const slot old = *s;
      s->p = NULL; /* not live while checked for overlap */
      /* moved, it is a fresh block with the natural alignment; in place, it
         keeps its block's (natural too, unless it is an aligned_at pointer) */
      const size_t align = (q == old.p && old.align == 0 ? 0 : 1);
      check_new(q, size, align, i);
      slot moved = old;
      moved.p = q;
      moved.size = keep;
      verify(&moved, keep);
      fill(q, size, keep, old.seed);
      *s = (slot){q, size, align, old.seed, q == old.p ? old.heap : -1};
      live_bytes += size;
      return;
    }
    case OP_REALLOCARRAY: {
      slot* s = &slots[i];
      if (s->p == NULL) return;
      /* an overflowing count: NULL, ENOMEM, the block untouched */
      errno = 0;
      const size_t count = SIZE_MAX / 8 + 1 + u8(r);
      void* q = mia_reallocarray(s->p, count, 16);
      if (q != NULL || errno != ENOMEM) fail("overflowing reallocarray did not fail with ENOMEM", q, count, (size_t)errno);
      verify(s, s->size);
      return;
    }
    case OP_FREE: slot_free(i, false); return;
    case OP_FREE_SIZE: slot_free(i, true); return;
    case OP_USABLE: {
      slot* s = &slots[i];
      if (s->p == NULL) return;
      const size_t u = mia_usable_size(s->p);
      if (u < s->size) fail("usable_size shrank", s->p, u, s->size);
      if (FUZZ_PADDED && u != s->size) fail("usable_size differs from the size (padding build)", s->p, u, s->size);
      /* claim the usable bytes: they are ours to write (checked for overlap) */
      if (u > s->size && live_bytes + (u - s->size) <= LIVE_MAX) {
        const uint8_t* p = s->p;
        const size_t old = s->size;
        s->p = NULL;
        check_new(p, u, s->align == 1 ? 1 : 0, i);
        s->p = (uint8_t*)(uintptr_t)p;
        fill(s->p, u, old, s->seed);
        live_bytes += u - old;
        s->size = u;
      }
      return;
    }
    case OP_HEAP_NEW: {
      const int h = seed % HEAPS;
      if (heaps[h] == NULL) heaps[h] = mia_heap_new();
      return;
    }
    case OP_HEAP_MALLOC: {
      const int h = seed % HEAPS;
      const size_t size = pick_size(r);
      if (heaps[h] == NULL || live_bytes + size > LIVE_MAX) return;
      slot_free(i, false);
      uint8_t* p = (u8(r) & 1) ? (uint8_t*)mia_heap_malloc(heaps[h], size) : (uint8_t*)mia_heap_malloc_aligned(heaps[h], size, 64);
      if (p == NULL) fail("heap allocation failed", NULL, size, (size_t)h);
      slot_set(i, p, size, 1, h, seed, false);
      return;
    }
    case OP_HEAP_DELETE: case OP_HEAP_DESTROY: {
      const int h = seed % HEAPS;
      if (heaps[h] == NULL) return;
      if (op == OP_HEAP_DESTROY) {
        worker_drain(); /* nothing of the heap may be in flight */
        for (int k = 0; k < SLOTS; k++) {
          if (slots[k].p != NULL && slots[k].heap == h) {
            verify(&slots[k], slots[k].size);
            live_bytes -= slots[k].size;
            slots[k].p = NULL; /* freed by the destroy */
          }
        }
        mia_heap_destroy(heaps[h]);
      } else {
        mia_heap_delete(heaps[h]); /* its blocks stay valid in the backing heap */
        for (int k = 0; k < SLOTS; k++) if (slots[k].heap == h) slots[k].heap = -1;
      }
      heaps[h] = NULL;
      return;
    }
    case OP_HAND_OVER: {
      slot* s = &slots[i];
      if (s->p == NULL) return;
      verify(s, s->size);
      if (!worker_give(s)) { slot_free(i, false); return; }
      live_bytes -= s->size;
      s->p = NULL;
      return;
    }
    case OP_COLLECT:
      mia_collect((seed & 1) != 0);
      return;
    default:
      return;
  }
}

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  reader r = {data, size, 0};
  size_t ops = 0;
  while (r.at < r.n && ops < 2000) { run_op(&r); ops++; }
  /* leave nothing behind for the next input */
  worker_drain();
  for (int i = 0; i < SLOTS; i++) slot_free(i, false);
  for (int h = 0; h < HEAPS; h++) {
    if (heaps[h] == NULL) continue;
    if (h & 1) mia_heap_destroy(heaps[h]);
    else mia_heap_delete(heaps[h]);
    heaps[h] = NULL;
  }
  if (live_bytes != 0) fail("model lost count of the live bytes", NULL, live_bytes, 0);
  return 0;
}
