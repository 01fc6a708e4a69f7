/* instr_engine.c - the loops that tests/instr_engine.sh counts under callgrind
   (`make bench-instr-engine`): ITERATIONS pairs of mia_malloc(32) and
   mia_free, or of mia_malloc_aligned(32, A) and mia_free. Built once per
   configuration from this file (release; MIALLOC_HOOKS=0 MIALLOC_STATS=0
   spelled out; MIALLOC_HOOKS=1; MIALLOC_STATS=1); the script runs each for N
   and 2N iterations and divides the difference by N, so start-up and exit
   cancel.

   Build (tests/engine.mk has the same lines, with the strict flags):
      clang -std=gnu11 -O2 -march=x86-64-v3 -pthread -I. tests/instr_engine.c -o instr-release
      clang ... -DMIALLOC_HOOKS=1 tests/instr_engine.c -o instr-hooks
   Run: ./instr-hooks MODE ITERATIONS
      MODE  plain     mia_malloc(32)
            a16 a32 a64  mia_malloc_aligned(32, 16 / 32 / 64)
            noop      mia_malloc(32) with do-nothing hooks installed
                      (MIALLOC_HOOKS=1 builds only) */
#define MIALLOC_IMPLEMENTATION
#include "../mialloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void noop_alloc(const mia_heap_t* heap, void* p, size_t size, void* arg) { (void)heap; (void)p; (void)size; (void)arg; }
static void noop_free(const mia_heap_t* heap, void* p, size_t size, void* arg) { (void)heap; (void)p; (void)size; (void)arg; }
static void noop_realloc(const mia_heap_t* heap, void* o, void* p, size_t size, void* arg) {
  (void)heap; (void)o; (void)p; (void)size; (void)arg;
}

int main(int argc, char** argv) {
  const char* mode = argc > 1 ? argv[1] : "plain";
  const long n = argc > 2 ? atol(argv[2]) : 100000;
  void* volatile sink = NULL; /* the compiler must not drop a pair */
  size_t align = 0;
  if (strcmp(mode, "a16") == 0) align = 16;
  else if (strcmp(mode, "a32") == 0) align = 32;
  else if (strcmp(mode, "a64") == 0) align = 64;
  else if (strcmp(mode, "noop") == 0) {
    const mia_hooks_t hooks = { noop_alloc, noop_free, noop_realloc, 0, NULL };
    if (!mia_hooks_set(&hooks)) {
      fprintf(stderr, "noop: this build has no hooks (MIALLOC_HOOKS=0)\n");
      return 2;
    }
  } else if (strcmp(mode, "plain") != 0) {
    fprintf(stderr, "usage: %s plain|a16|a32|a64|noop [iterations]\n", argv[0]);
    return 2;
  }
  if (align == 0) {
    for (long i = 0; i < n; i++) {
      void* p = mia_malloc(32);
      sink = p;
      mia_free(p);
    }
  } else {
    for (long i = 0; i < n; i++) {
      void* p = mia_malloc_aligned(32, align);
      sink = p;
      mia_free(p);
    }
  }
  return sink == NULL && n > 0;
}
