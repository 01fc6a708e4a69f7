/* compile_check.c - the build-level test of mialloc.h (as sokol's tests/compile).

   One translation unit that includes the header with its implementation and
   calls a few functions of each API group, so that the strict flag set
   (STYLE.md) sees the whole header used, not just parsed. The Makefile compiles
   it as C and as C++ (`-x c++`), with clang and gcc, and under the macros it
   passes with -D:
      CHECK_INCLUDE_TWICE=1    include the header once for its declarations,
                               then again with MIALLOC_IMPLEMENTATION
      MIALLOC_STATIC=1         internal linkage for every function
      MIALLOC_MIMALLOC_NAMES=1 call through mimalloc's names (mi_malloc, ...)
      MIALLOC_DEBUG=3          every debug check compiled in
   The program returns 0 when every call behaved; it prints only on failure.
   The code is C that is also C++ (casts on every void*). */
#ifndef CHECK_INCLUDE_TWICE
#define CHECK_INCLUDE_TWICE 0
#endif

#if CHECK_INCLUDE_TWICE
#include "../mialloc.h"
#endif
#define MIALLOC_IMPLEMENTATION
#include "../mialloc.h"

#include <stdio.h>
#include <string.h>

/* No helper macro of the implementation leaks into this file (STYLE.md). */
#if defined(MIA__INLINE) || defined(MIA__PRIVATE) || defined(MIA__SEGMENT_SIZE) || defined(mia__atomic_load) || \
    defined(MIA__PADDING) || defined(MIA__HOOKED_FREE) || defined(MIA__FOREIGN_HEAP) || defined(mia__assert)
#error "a helper macro of mialloc.h's implementation is still defined after it"
#endif

#if MIALLOC_MIMALLOC_NAMES
#define CHECK_MALLOC mi_malloc
#define CHECK_CALLOC mi_calloc
#define CHECK_REALLOC mi_realloc
#define CHECK_FREE mi_free
#define CHECK_USABLE mi_usable_size
#define CHECK_HEAP_T mi_heap_t
#define CHECK_HEAP_NEW mi_heap_new
#define CHECK_HEAP_MALLOC mi_heap_malloc
#define CHECK_HEAP_DESTROY mi_heap_destroy
#define CHECK_MALLOC_ALIGNED mi_malloc_aligned
#define CHECK_OPTION_GET mi_option_get
#define CHECK_OPTION_VERBOSE mi_option_verbose
#else
#define CHECK_MALLOC mia_malloc
#define CHECK_CALLOC mia_calloc
#define CHECK_REALLOC mia_realloc
#define CHECK_FREE mia_free
#define CHECK_USABLE mia_usable_size
#define CHECK_HEAP_T mia_heap_t
#define CHECK_HEAP_NEW mia_heap_new
#define CHECK_HEAP_MALLOC mia_heap_malloc
#define CHECK_HEAP_DESTROY mia_heap_destroy
#define CHECK_MALLOC_ALIGNED mia_malloc_aligned
#define CHECK_OPTION_GET mia_option_get
#define CHECK_OPTION_VERBOSE mia_option_verbose
#endif

static int check_failures;

static void check(int ok, const char* what) {
  if (!ok) {
    check_failures++;
    fprintf(stderr, "compile_check: FAILED: %s\n", what);
  }
}

int main(void) {
  char* a = (char*)CHECK_MALLOC(100);
  check(a != NULL, "malloc(100) != NULL");
  if (a != NULL) {
    memset(a, 0x5a, 100);
    check(CHECK_USABLE(a) >= 100, "usable_size >= 100");
  }

  unsigned char* z = (unsigned char*)CHECK_CALLOC(10, 32);
  check(z != NULL && z[0] == 0 && z[319] == 0, "calloc(10, 32) zeroed");

  char* b = (char*)CHECK_REALLOC(a, 5000);
  check(b != NULL && b[0] == 0x5a && b[99] == 0x5a, "realloc keeps contents");
  if (b == NULL) CHECK_FREE(a);

  void* al = CHECK_MALLOC_ALIGNED(200, 256);
  check(al != NULL && ((uintptr_t)al & 255u) == 0, "malloc_aligned(200, 256) aligned");

  CHECK_HEAP_T* heap = CHECK_HEAP_NEW();
  check(heap != NULL, "heap_new != NULL");
  if (heap != NULL) {
    for (int i = 0; i < 100; i++) {
      void* p = CHECK_HEAP_MALLOC(heap, (size_t)(16 + i));
      check(p != NULL, "heap_malloc != NULL");
    }
    CHECK_HEAP_DESTROY(heap);
  }

  check(CHECK_OPTION_GET(CHECK_OPTION_VERBOSE) >= 0, "option_get(verbose) >= 0");

  CHECK_FREE(al);
  CHECK_FREE(b);
  CHECK_FREE(z);
  CHECK_FREE(NULL);
  return check_failures == 0 ? 0 : 1;
}
