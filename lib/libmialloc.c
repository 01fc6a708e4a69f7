/* libmialloc.c - mialloc as a shared library that replaces malloc.

   Build (what `make shared` runs):
      cc -std=gnu11 -O2 -fPIC -fno-semantic-interposition -shared -pthread lib/libmialloc.c -o libmialloc.so
   (-fno-semantic-interposition: the library's calls to its own functions
   bind inside it instead of going through its PLT.)
   Use:
      LD_PRELOAD=./libmialloc.so program args...
   Every malloc, free, calloc, realloc, aligned_alloc, posix_memalign, memalign,
   valloc, pvalloc, malloc_usable_size (and C++ new/delete, which call them) of
   the program and its libraries then goes through mialloc. The mia_* API is
   exported as well. */
#define MIALLOC_IMPLEMENTATION
#define MIALLOC_OVERRIDE 1
#include "../mialloc.h"
