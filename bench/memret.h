/* memret.h - what the memory-return programs share (bench/frame_loop.c,
   bench/large_reuse.c, bench/thread_churn.c): the process's page faults, CPU
   time and resident set read without allocating, a marker system call that
   brackets a measured window for strace, and the options and result line.

   Build: included by those programs, never alone, after bench/bench.h (which
   picks the allocator: -DBENCH_MIALLOC=1 compiles mialloc.h in and calls
   mia_*, -DBENCH_MIALLOC=0 calls plain malloc/free, whoever provides them).

   Result line, one per run, on stdout:
     memret <workload> alloc=<build> malloc=<provider> key=value ...
   The keys are the program's own (bench/memret.py reads them by name).
   Nothing here calls malloc: /proc files are read with open/read into stack
   buffers, so the figures are the workload's, not the measuring's. */
#ifndef MEMRET_H
#define MEMRET_H

#include "bench.h"

#include <fcntl.h>
#include <math.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Faults and CPU time of the whole process (exited threads included: Linux
   folds a thread's usage into RUSAGE_SELF when it exits). */
typedef struct memret_usage_s {
  long minflt, majflt;
  double cpu; /* user + system seconds */
} memret_usage_t;

static inline memret_usage_t memret_usage(void) {
  struct rusage ru;
  memset(&ru, 0, sizeof ru);
  getrusage(RUSAGE_SELF, &ru);
  memret_usage_t u;
  u.minflt = ru.ru_minflt;
  u.majflt = ru.ru_majflt;
  u.cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6 + (double)ru.ru_stime.tv_sec +
          (double)ru.ru_stime.tv_usec * 1e-6;
  return u;
}

/* Read a small /proc file into buf (NUL-terminated); returns the length, or -1. */
static inline long memret_read_proc(const char* path, char* buf, size_t cap) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  size_t len = 0;
  while (len + 1 < cap) {
    ssize_t n = read(fd, buf + len, cap - 1 - len);
    if (n <= 0) break;
    len += (size_t)n;
  }
  close(fd);
  buf[len] = '\0';
  return (long)len;
}

/* Resident set now, in KiB (/proc/self/statm, second field, in pages). */
static inline long memret_rss_kib(void) {
  char buf[256];
  if (memret_read_proc("/proc/self/statm", buf, sizeof buf) <= 0) return -1;
  char* p = buf;
  (void)strtol(p, &p, 10);
  long pages = strtol(p, NULL, 10);
  return pages * (sysconf(_SC_PAGESIZE) / 1024);
}

/* A "Vm...:" field of /proc/self/status in KiB (VmHWM: peak resident set), or -1. */
static inline long memret_status_kib(const char* field) {
  char buf[4096];
  if (memret_read_proc("/proc/self/status", buf, sizeof buf) <= 0) return -1;
  const char* p = strstr(buf, field);
  return p != NULL ? strtol(p + strlen(field), NULL, 10) : -1;
}

/* Reset VmHWM to the resident set now (Linux >= 4.0: "5" to clear_refs). */
static inline bool memret_reset_peak(void) {
  int fd = open("/proc/self/clear_refs", O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  bool ok = write(fd, "5", 1) == 1;
  close(fd);
  return ok;
}

/* The window marker: one getppid system call, which nothing else in these
   programs makes. bench/memret.py traces `-e trace=%memory,getppid` and counts
   the memory calls between the first marker and the second. */
static inline void memret_mark(void) { (void)syscall(SYS_getppid); }

/* Log-uniform in [lo, hi], 0 < lo <= hi: as many blocks in 1..2 KiB as in 32..64
   KiB (bench.h's rng_skewed clamps to hi instead, piling up blocks of exactly hi). */
static inline size_t memret_log_uniform(rng_t* r, size_t lo, size_t hi) {
  double u = (double)(rng_next(r) >> 11) * 0x1p-53;
  size_t size = (size_t)((double)lo * exp2(u * log2((double)hi / (double)lo)));
  return size < lo ? lo : size > hi ? hi : size;
}

/* Monotonic seconds. */
static inline double memret_now(void) { return bench_now(); }

/* Sleep until the monotonic clock reads `t` seconds. */
static inline void memret_sleep_until(double t) {
  struct timespec ts;
  ts.tv_sec = (time_t)t;
  ts.tv_nsec = (long)((t - (double)ts.tv_sec) * 1e9);
  while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) != 0) {
  }
}

/* Options: `name=value` arguments, each a whole number or a decimal.
   memret_opt returns the value of `name` in argv, else `def`. */
static inline double memret_opt(int argc, char** argv, const char* name, double def) {
  size_t n = strlen(name);
  for (int i = 1; i < argc; i++)
    if (strncmp(argv[i], name, n) == 0 && argv[i][n] == '=') return strtod(argv[i] + n + 1, NULL);
  return def;
}
/* Stop the program (exit 2) at an argument that is not `name=value` with a name
   in `known`, a space-separated list. */
static inline void memret_check_opts(int argc, char** argv, const char* known) {
  for (int i = 1; i < argc; i++) {
    const char* eq = strchr(argv[i], '=');
    size_t n = eq != NULL ? (size_t)(eq - argv[i]) : 0;
    const char* k = known;
    bool found = false;
    while (n != 0 && *k != '\0') {
      size_t len = strcspn(k, " ");
      if (len == n && strncmp(k, argv[i], n) == 0) found = true;
      k += len;
      while (*k == ' ') k++;
    }
    if (!found) {
      fprintf(stderr, "%s: unknown argument '%s' (options: %s, each as name=value)\n", argv[0], argv[i], known);
      exit(2);
    }
  }
}

/* The head of the result line: "memret <workload> alloc=<build> malloc=<provider>". */
static inline void memret_result_head(const char* workload) {
  printf("memret %s alloc=%s malloc=%s", workload, BENCH_STR(BENCH_NAME), bench_malloc_provider());
}

#endif /* MEMRET_H */
