/* A user's file that includes system headers before the implementation, in
   a strict ISO mode: glibc has then hidden MAP_ANONYMOUS and madvise before
   mialloc.h could ask for them (the header declares what it needs). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#define MIALLOC_IMPLEMENTATION
#include "mialloc.h"

int main(void) {
  int failed = 0;
  void* blocks[64];
  for (int round = 0; round < 4; round++) {
    for (int i = 0; i < 64; i++) {
      blocks[i] = mia_malloc((size_t)(i + 1) * 1000);
      if (blocks[i] == NULL) failed++;
      else memset(blocks[i], i, (size_t)(i + 1) * 1000);
    }
    for (int i = 0; i < 64; i++) mia_free(blocks[i]);
    mia_collect(true); /* decommits: madvise must be the real one */
  }
  printf("%s\n", failed == 0 ? "ok" : "FAILED");
  return failed == 0 ? 0 : 1;
}
