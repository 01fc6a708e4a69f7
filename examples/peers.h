/* peers.h - what the timing examples share: the peers they race against
   (the C library's malloc, and mimalloc with -DWITH_MIMALLOC -lmimalloc) and
   a millisecond clock. Not part of mialloc; an example's allocator code does
   not need it. Include it after mialloc.h, <stdlib.h> and <time.h>. */
#ifndef MIALLOC_EXAMPLES_PEERS_H
#define MIALLOC_EXAMPLES_PEERS_H

#ifndef WITH_MIMALLOC
#define WITH_MIMALLOC 0
#endif
#if WITH_MIMALLOC
#include <mimalloc.h>
#endif

/* The C library's malloc. Linking -lmimalloc replaces malloc itself, so that
   build reaches glibc's through the names glibc exports for that purpose. */
#if WITH_MIMALLOC && defined(__GLIBC__)
extern void* __libc_malloc(size_t size);
extern void* __libc_realloc(void* p, size_t size);
extern void __libc_free(void* p);
#define sys_malloc __libc_malloc
#define sys_realloc __libc_realloc
#define sys_free __libc_free
#else
#define sys_malloc malloc
#define sys_realloc realloc
#define sys_free free
#endif

static inline double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

typedef enum { USE_MIALLOC, USE_MALLOC, USE_MIMALLOC } allocator_kind;

#endif
