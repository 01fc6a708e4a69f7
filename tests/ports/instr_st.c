/* instr_st.c - the loop that tests/ports/instr_st.sh counts under callgrind:
   ITERATIONS pairs of mia_malloc(32) and mia_free. Built twice, threaded (the
   default) and with MIALLOC_SINGLE_THREAD=1; the script runs each for N and
   2N iterations and divides the difference by N, so start-up and exit cancel.

   Build (tests/ports.mk has the same line, with the strict flags):
      clang -std=gnu11 -O2 -march=x86-64-v3 -pthread -I. tests/ports/instr_st.c -o instr_mt
      clang -std=gnu11 -O2 -march=x86-64-v3 -DMIALLOC_SINGLE_THREAD=1 -I. tests/ports/instr_st.c -o instr_st
   Run: ./instr_st ITERATIONS (default 100000) */
#define MIALLOC_IMPLEMENTATION
#include "../../mialloc.h"

#include <stdlib.h>

int main(int argc, char** argv) {
  const long n = argc > 1 ? atol(argv[1]) : 100000;
  void* volatile sink = NULL; /* the compiler must not drop a pair */
  for (long i = 0; i < n; i++) {
    void* p = mia_malloc(32);
    sink = p;
    mia_free(p);
  }
  return sink == NULL && n > 0;
}
