/* A user's file as an engine or firmware writes it: the implementation is the
   first include, no feature macros of the user's. Compiled as C and as C++
   in every dialect from C11 / C++11 by scripts/check_dialects.sh. */
#define MIALLOC_IMPLEMENTATION
#include "mialloc.h"
#include <stdio.h>
#include <string.h>

int main(void) {
  int failed = 0;
  for (size_t n = 1; n <= 4096; n += 7) {
    unsigned char* p = (unsigned char*)mia_malloc(n);
    if (p == NULL || (n >= 16 && ((uintptr_t)p & 15) != 0)) failed++;
    if (p != NULL) memset(p, 0xAB, n);
    mia_free(p);
  }
  void* q = mia_calloc(100, 8);
  if (q == NULL || ((unsigned char*)q)[799] != 0) failed++;
  q = mia_realloc(q, 100000);
  if (q == NULL) failed++;
  mia_free(q);
  printf("%s\n", failed == 0 ? "ok" : "FAILED");
  return failed == 0 ? 0 : 1;
}
