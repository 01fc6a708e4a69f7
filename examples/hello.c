/* hello.c - the first program with mialloc.h.

   What you learn here: how to put the allocator into a program (define
   MIALLOC_IMPLEMENTATION in exactly one file, then include the header), that
   mia_malloc, mia_calloc, mia_realloc and mia_free are drop-in versions of the
   C library's calls, how to ask for aligned memory, and that a block is
   usually a little larger than you asked for: mia_usable_size tells you how
   many bytes you may really use, because sizes are rounded up to the block
   size of a size class.

   Build: make examples   (or: cc -O2 examples/hello.c -o hello -pthread)
   Run:   ./build/examples/hello */
#define MIALLOC_IMPLEMENTATION
#include "../mialloc.h"

#include <stdio.h>
#include <string.h>

int main(void) {
  /* malloc: uninitialised bytes. Size 0 is allowed and gives a unique pointer. */
  char* greeting = (char*)mia_malloc(32);
  if (greeting == NULL) return 1;
  strcpy(greeting, "hello from mialloc");
  printf("%s (version %d)\n", greeting, mia_version());

  /* The block is rounded up to its size class; all of it is yours to use. */
  printf("asked  %5s  usable\n", "");
  static const size_t sizes[] = {1, 24, 100, 1000, 5000, 70000};
  for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
    void* p = mia_malloc(sizes[i]);
    if (p == NULL) return 1;
    printf("%6zu  ->  %6zu\n", sizes[i], mia_usable_size(p));
    mia_free(p);
  }

  /* calloc: zeroed, and the count * size product is checked for overflow. */
  int* counters = (int*)mia_calloc(100, sizeof(int));
  if (counters == NULL) return 1;
  counters[7] += 1;
  printf("calloc: counters[0] = %d, counters[7] = %d\n", counters[0], counters[7]);

  /* realloc: grows in place when the block has room, otherwise moves it;
     the contents are kept either way. */
  char* text = (char*)mia_realloc(greeting, 4000);
  if (text == NULL) return 1;
  strcat(text, ", now in a bigger block");
  printf("realloc: \"%s\", usable %zu\n", text, mia_usable_size(text));

  /* Aligned memory: any power of two. mia_free releases it like any block. */
  void* line = mia_malloc_aligned(100, 64);
  void* page = mia_aligned_alloc(4096, 4096);
  if (line == NULL || page == NULL) return 1;
  printf("aligned: %p %% 64 = %zu, %p %% 4096 = %zu\n", line,
         (size_t)((uintptr_t)line % 64), page, (size_t)((uintptr_t)page % 4096));

  mia_free(page);
  mia_free(line);
  mia_free(text);
  mia_free(counters);
  mia_free(NULL); /* a no-op, as free(NULL) */
  return 0;
}
