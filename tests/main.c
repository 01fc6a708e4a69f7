/* main.c - the test program of mialloc.h: the one translation unit that holds
   the implementation, the runner's state and the list of test groups.

   Build and run (release; the Makefile has the same line):
      cc -std=gnu11 -O2 -pthread tests/main.c tests/test_*.c -o t && ./t
   Run one group or one test: ./t churn, ./t api_realloc
   MIALLOC_TEST_QUICK=1 keeps sizes and rounds modest (the sanitizer builds set it). */
#define MIALLOC_IMPLEMENTATION
#include "../mialloc.h"

#include "runner.h"

runner_state runner;

/* The groups, one per file; each runs its tests through RUN(). */
void tests_api(void);
void tests_churn(void);
void tests_threads(void);
void tests_hardening(void);
void tests_engine(void);
void tests_ownership(void);

int main(int argc, char** argv) {
  runner.filter = (argc > 1 && argv[1][0] != 0) ? argv[1] : NULL;
  runner.quick = getenv("MIALLOC_TEST_QUICK") != NULL;
  setvbuf(stdout, NULL, _IOLBF, 0);
  double t0 = runner_now();
  tests_api();
  tests_churn();
  tests_threads();
  tests_hardening();
  tests_engine();
  tests_ownership();
  printf("total %.2f s%s\n", runner_now() - t0, runner.quick ? " (quick)" : "");
  return runner_finish();
}
