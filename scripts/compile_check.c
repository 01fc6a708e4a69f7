/* compile_check.c - the build-level test of mialloc.h (as sokol's tests/compile).

   One translation unit that includes the header with its implementation and
   calls a few functions of each API group, so that the strict flag set
   (STYLE.md) sees the whole header used, not just parsed. The Makefile compiles
   it as C and as C++ (`-x c++`), with clang and gcc, and under the macros it
   passes with -D:
      CHECK_INCLUDE_TWICE=1    include the header once for its declarations,
                               then again with MIALLOC_IMPLEMENTATION
      MIALLOC_STATIC=1         internal linkage for every function
      MIALLOC_MIMALLOC_NAMES=1 call through mimalloc's names (mi_malloc, ...),
                               as C and as C++ (every mimalloc 2.2+/3.x call
                               and macro we have: check_compat below)
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
#ifdef __cplusplus
#include <vector>
#endif

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
#define CHECK_NAME(name) mi_##name
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
#define CHECK_NAME(name) mia_##name
#endif

static int check_failures;

static void check(int ok, const char* what) {
  if (!ok) {
    check_failures++;
    fprintf(stderr, "compile_check: FAILED: %s\n", what);
  }
}

/* The mimalloc 2.2+/3.x calls and macros (the usable-size family, realpath,
   OS arenas, the dup functions, the typed macros and, in C++, a default-
   constructed heap_destroy_stl_allocator), each used once. */
typedef struct check_pair_s { int a; double b; } check_pair_t;
static void check_compat(void) {
  size_t bs = 0, pre = 0, post = 0;
  void* u = CHECK_NAME(umalloc)(100, &bs);
  check(u != NULL && bs == CHECK_USABLE(u), "umalloc reports the usable size");
  u = CHECK_NAME(urealloc)(u, 5000, &pre, &post);
  check(u != NULL && pre >= 100 && post == CHECK_USABLE(u), "urealloc reports both usable sizes");
  CHECK_NAME(ufree)(u, &bs);
  check(bs == post, "ufree reports the usable size");
  unsigned char* c = (unsigned char*)CHECK_NAME(ucalloc)(10, 10, &bs);
  check(c != NULL && c[99] == 0 && bs == CHECK_USABLE(c), "ucalloc zeroes and reports");
  CHECK_NAME(ufree)(c, NULL);
  void* a = CHECK_NAME(umalloc_aligned)(100, 128, &bs);
  check(a != NULL && ((uintptr_t)a & 127u) == 0 && bs == CHECK_USABLE(a), "umalloc_aligned aligns and reports");
  CHECK_FREE(a);
  a = CHECK_NAME(uzalloc_aligned)(100, 128, &bs);
  check(a != NULL && ((uintptr_t)a & 127u) == 0 && bs == CHECK_USABLE(a), "uzalloc_aligned aligns and reports");
  CHECK_FREE(a);
  a = CHECK_NAME(umalloc_small)(64, &bs);
  check(a != NULL && bs == CHECK_USABLE(a), "umalloc_small reports");
  CHECK_NAME(free_small)(a);
  a = CHECK_NAME(uzalloc_small)(64, &bs);
  check(a != NULL && bs == CHECK_USABLE(a), "uzalloc_small reports");
  CHECK_NAME(free_small)(a);

  char* rp = CHECK_NAME(realpath)(".", NULL);
  check(rp != NULL && rp[0] != 0, "realpath(\".\") gives a path");
  CHECK_FREE(rp);
  CHECK_HEAP_T* heap = CHECK_HEAP_NEW();
  rp = CHECK_NAME(heap_realpath)(heap, ".", NULL);
  check(rp != NULL, "heap_realpath(\".\") gives a path");
  CHECK_FREE(rp);
  CHECK_HEAP_DESTROY(heap);

  CHECK_NAME(arena_id_t) id = 0;
  const size_t seg = CHECK_NAME(arena_min_size)();
  check(CHECK_NAME(reserve_os_memory_ex)(seg, true, false, true, &id) == 0 && id != 0, "reserve_os_memory_ex makes an arena");
  size_t area_size = 0;
  void* area = CHECK_NAME(arena_area)(id, &area_size);
  check(area != NULL && area_size == seg && ((uintptr_t)area & (CHECK_NAME(arena_min_alignment)() - 1)) == 0, "arena_area");
  check(CHECK_NAME(arena_contains)(id, area), "arena_contains");
  check(CHECK_NAME(reserve_os_memory)(seg, false, false) == 0, "reserve_os_memory makes an arena");
  CHECK_NAME(option_set_enabled_default)(CHECK_OPTION_VERBOSE, false);

  char* env = NULL;
  check(CHECK_NAME(dupenv_s)(&env, NULL, "PATH") == 0, "dupenv_s");
  CHECK_FREE(env);
  wchar_t* wenv = NULL;
  (void)CHECK_NAME(wdupenv_s)(&wenv, NULL, L"PATH");
  CHECK_FREE(wenv);
  wchar_t* w = CHECK_NAME(wcsdup)(L"wide");
  check(w != NULL && w[3] == L'e' && w[4] == 0, "wcsdup");
  CHECK_FREE(w);
  const unsigned char mb[] = { 'm', 'b', 0 };
  unsigned char* m = CHECK_NAME(mbsdup)(mb);
  check(m != NULL && m[1] == 'b', "mbsdup");
  CHECK_FREE(m);

  int* one = CHECK_NAME(malloc_tp)(int);
  check_pair_t* z = CHECK_NAME(zalloc_tp)(check_pair_t);
  check_pair_t* cz = CHECK_NAME(calloc_tp)(check_pair_t, 4);
  check_pair_t* n = CHECK_NAME(mallocn_tp)(check_pair_t, 4);
  n = CHECK_NAME(reallocn_tp)(check_pair_t, n, 40);
  cz = CHECK_NAME(recalloc_tp)(check_pair_t, cz, 40);
  check(one != NULL && z != NULL && z->a == 0 && n != NULL && CHECK_USABLE(n) >= 40 * sizeof(check_pair_t) && cz != NULL && cz[39].a == 0,
        "typed macros");
  CHECK_FREE(one);
  CHECK_FREE(z);
  CHECK_FREE(cz);
  CHECK_FREE(n);
  heap = CHECK_HEAP_NEW();
  one = CHECK_NAME(heap_malloc_tp)(int, heap);
  z = CHECK_NAME(heap_zalloc_tp)(check_pair_t, heap);
  cz = CHECK_NAME(heap_calloc_tp)(check_pair_t, heap, 4);
  n = CHECK_NAME(heap_mallocn_tp)(check_pair_t, heap, 4);
  n = CHECK_NAME(heap_reallocn_tp)(check_pair_t, heap, n, 40);
  cz = CHECK_NAME(heap_recalloc_tp)(check_pair_t, heap, cz, 40);
  check(one != NULL && z != NULL && z->b == 0.0 && n != NULL && cz != NULL && cz[39].b == 0.0, "heap typed macros");
  CHECK_HEAP_DESTROY(heap);

#if MIALLOC_MIMALLOC_NAMES
  /* names that map onto calls of other names */
  void* s = mi_malloc_small(MI_SMALL_SIZE_MAX);
  check(s != NULL && mi_malloc_size(s) >= MI_SMALL_WSIZE_MAX * sizeof(void*) && mi_malloc_good_size(10) >= 10, "malloc_size, good_size");
  mi_free_small(s);
  void* r = mi_aligned_recalloc(NULL, 4, 8, 64);
  r = mi_aligned_offset_recalloc(r, 8, 8, 64, 0);
  check(r != NULL && ((uintptr_t)r & 63u) == 0, "aligned_recalloc");
  mi_free(r);
#endif
#ifdef __cplusplus
  {
    /* a heap of the allocator's own, destroyed with the vector */
    std::vector<int, CHECK_NAME(heap_destroy_stl_allocator)<int>> v;
    for (int i = 0; i < 1000; i++) v.push_back(i);
    check(v.size() == 1000 && v[999] == 999, "vector on a default-constructed heap_destroy_stl_allocator");
  }
#endif
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
  check_compat();
  return check_failures == 0 ? 0 : 1;
}
