/* fork_init.c - fork while another thread initialises the allocator.

   Its own program (its own MIALLOC_IMPLEMENTATION, so the parent never
   initialises the allocator and every trial starts from a fresh one); the
   Makefile runs it as the run-fork-init step (tests/ownership.mk):
      cc -std=gnu11 -O2 -pthread tests/fork_init.c -o fork_init
      ./fork_init [--trials N]

   A trial forks a fresh process P. In P a thread makes the first allocation
   of the process (the allocator initialises itself in it) while P's main
   thread, after a delay that sweeps over the trials, forks a child C. P's
   environment is made long (the initialisation reads the options from it),
   so that the initialisation lasts long enough for the fork to land in it. C allocates and frees under alarm(5): a C that never returns hangs
   there (counted as a failure). C also records whether it started with the
   initialisation under way (a trial in the window); the program prints how
   many trials were. The last line is `N passed, N failed`, counting trials. */
#define MIALLOC_IMPLEMENTATION
#include "../mialloc.h"

#if defined(_WIN32)
#include <stdio.h>
int main(void) {
  printf("no fork on Windows\n0 passed, 0 failed\n");
  return 0;
}
#else
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static atomic_bool first_go;
extern char** environ;
#define LONG_ENV 40000
static char* long_env[LONG_ENV + 1];
static char env_text[LONG_ENV][24];

static double now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static void* first_allocation(void* arg) {
  (void)arg;
  atomic_store(&first_go, true);
  void* p = mia_malloc(24);
  mia_free(p);
  return NULL;
}

/* C: exit 0 (allocated; not in the window), 1 (allocated; in the window),
   2 (an allocation failed); SIGALRM if it hung. */
static void child(void) {
  alarm(5);
  const intptr_t state = (intptr_t)atomic_load(&mia__process_state);
  const bool in_window = (state != 0 && state != 2);
  int bad = 0;
  for (size_t size = 8; size <= 64 * 1024; size *= 2) {
    void* p = mia_malloc(size);
    if (p == NULL) bad = 1;
    else memset(p, 0x5A, size);
    mia_free(p);
  }
  _exit(bad ? 2 : in_window ? 1 : 0);
}

/* P: start the first allocation, fork C after `delay_us`, report C's fate. */
static void process(double delay_us) {
  for (int i = 0; i < LONG_ENV; i++) {
    snprintf(env_text[i], sizeof env_text[i], "FORK_INIT_%d=1", i);
    long_env[i] = env_text[i];
  }
  environ = long_env;
  pthread_t t;
  if (pthread_create(&t, NULL, first_allocation, NULL) != 0) _exit(10);
  while (!atomic_load(&first_go)) { }
  const double until = now_us() + delay_us;
  while (now_us() < until) { }
  const pid_t c = fork();
  if (c == 0) child();
  if (c < 0) _exit(11);
  int status = 0;
  while (waitpid(c, &status, 0) < 0) { }
  pthread_join(t, NULL);
  if (WIFSIGNALED(status) && WTERMSIG(status) == SIGALRM) _exit(12); /* hung */
  if (!WIFEXITED(status)) _exit(13);
  _exit(WEXITSTATUS(status)); /* 0, 1 or 2 */
}

int main(int argc, char** argv) {
  int trials = 300;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--trials") == 0 && i + 1 < argc) trials = atoi(argv[++i]);
  }
  int passed = 0, failed = 0, in_window = 0, hung = 0;
  for (int i = 0; i < trials; i++) {
    const double delay = 4000.0 * (double)(i % 64) / 64.0;
    const pid_t p = fork();
    if (p == 0) process(delay);
    if (p < 0) { failed++; continue; }
    int status = 0;
    while (waitpid(p, &status, 0) < 0) { }
    const int code = WIFEXITED(status) ? WEXITSTATUS(status) : 100;
    if (code == 0 || code == 1) passed++;
    else {
      failed++;
      if (code == 12) hung++;
      if (failed <= 5) printf("trial %d (delay %.1f us): %s (status %d)\n", i, delay, code == 12 ? "the child hung in its first allocation" : "failed", code);
    }
    if (code == 1) in_window++;
  }
  printf("%d trials: %d forked while the first allocation was initialising the allocator, %d children hung\n", trials, in_window, hung);
  printf("%d passed, %d failed\n", passed, failed);
  return failed == 0 ? 0 : 1;
}
#endif
