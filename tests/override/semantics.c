/* semantics.c - the C library's allocation entry points, checked for glibc's
   exact behaviour, for a program that does not know which malloc it has.

   Build (the Makefile's lines, see tests/override.mk):
      cc -std=gnu11 -O2 -pthread tests/override/semantics.c -o semantics -ldl
      cc ... -DEXPECT_MIALLOC=1 tests/override/semantics.c -o semantics_owned -ldl
   Run:
      ./semantics                                       glibc's own malloc
      LD_PRELOAD=build/libmialloc.so ./semantics        the same checks, under mialloc
      LD_PRELOAD=build/libmialloc.so ./semantics_owned  and every pointer is mialloc's

   The same binary passes on glibc (that is how we know the checks say what
   glibc does) and must pass under the preload. What is checked: malloc(0) is
   unique and not NULL; realloc(p, 0) frees and returns NULL; realloc(NULL, 0)
   allocates; overflowing calloc, reallocarray, malloc, realloc,
   posix_memalign and aligned_alloc fail with ENOMEM and leave the old block
   intact; posix_memalign's EINVAL cases leave *p untouched; memalign rounds
   a non-power-of-two alignment up (24 -> 32); valloc and pvalloc are page
   aligned; malloc_usable_size >= the size asked for and 0 for NULL;
   free_sized / free_aligned_sized / cfree / __libc_malloc where the process
   has them; calloc zeroes reused memory; blocks of a thread that exited are
   freed by another; huge blocks freed by another thread give their address
   space back; a pthread key destructor allocates at thread exit; libc's
   own allocations (strdup, asprintf, getline, open_memstream, fopen) are
   freed by free.

   With EXPECT_MIALLOC=1 it also looks up mia_check_owned with
   dlsym(RTLD_DEFAULT, ...) (libmialloc.so exports the mia_ API), requires it
   to be there, and checks that the pointers of every entry point above
   (and of libc's internal allocations) are mialloc's, and that a stack
   address is not. The last line is "N passed, N failed". */
#define _GNU_SOURCE
#include "../runner.h"

#include <dlfcn.h>
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <unistd.h>

#ifndef EXPECT_MIALLOC
#define EXPECT_MIALLOC 0
#endif

runner_state runner;

typedef bool check_owned_fn(const void* p);
typedef void free_sized_fn(void* p, size_t size);
typedef void free_aligned_sized_fn(void* p, size_t alignment, size_t size);
typedef void cfree_fn(void* p);
typedef void* libc_malloc_fn(size_t size);
typedef void libc_free_fn(void* p);

static check_owned_fn* check_owned; /* mia_check_owned, or NULL when absent */

/* Look a function up by name in the whole process (the preloaded library first). */
static void* lookup(const char* name) { return dlsym(RTLD_DEFAULT, name); }

/* The pointer is mialloc's (EXPECT_MIALLOC), checked on the thread that allocated it. */
#define CHECK_OURS(p)                                                                     \
  do {                                                                                    \
    if (EXPECT_MIALLOC) CHECKF(check_owned != NULL && check_owned(p), "%s = %p", #p, (const void*)(p)); \
  } while (0)

static bool aligned_to(const void* p, size_t alignment) {
  return ((uintptr_t)opaque_ptr(p) & (alignment - 1)) == 0;
}

static size_t page_size(void) { return (size_t)sysconf(_SC_PAGESIZE); }

TEST(mia_api_present) {
  check_owned = (check_owned_fn*)(uintptr_t)lookup("mia_check_owned");
  if (EXPECT_MIALLOC) {
    CHECKF(check_owned != NULL, "dlsym(RTLD_DEFAULT, \"mia_check_owned\") found nothing: is the preload on?");
    int local = 0;
    if (check_owned != NULL) CHECK(!check_owned(&local)); /* the check can say no */
  } else {
    CHECK(true); /* plain build: it may or may not be there */
  }
}

TEST(malloc_zero_unique) {
  void* a = malloc(opaque_size(0));
  void* b = malloc(opaque_size(0));
  CHECK_NOT_NULL(a);
  CHECK_NOT_NULL(b);
  CHECK_NE_PTR(a, b);
  CHECK_OURS(a);
  free(a);
  free(b);
  void* c = realloc(NULL, opaque_size(0)); /* glibc: realloc(NULL, 0) is malloc(0) */
  CHECK_NOT_NULL(c);
  CHECK_OURS(c);
  free(c);
}

TEST(realloc_zero_frees) {
  void* p = malloc(100);
  CHECK_NOT_NULL(p);
  errno = 0;
  void* q = realloc(p, opaque_size(0)); /* glibc: frees p, returns NULL */
  CHECK_NULL(q);
  free(q);
}

TEST(realloc_keeps_contents) {
  size_t sizes[] = {1, 7, 16, 100, 1000, 5000, 70000, 600000, 3u << 20, 9u << 20, 50, 3};
  unsigned char* p = NULL;
  size_t prev = 0;
  for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
    unsigned char* q = (unsigned char*)realloc(p, sizes[i]);
    CHECKF(q != NULL, "realloc to %zu", sizes[i]);
    if (q == NULL) break;
    size_t keep = prev < sizes[i] ? prev : sizes[i];
    CHECKF(pattern_check(q, keep, 42) == keep, "realloc %zu -> %zu lost the contents", prev, sizes[i]);
    CHECK_OURS(q);
    pattern_fill(q, sizes[i], 42);
    p = q;
    prev = sizes[i];
  }
  free(p);
}

TEST(overflow_enomem) {
  errno = 0;
  void* p = calloc(opaque_size(SIZE_MAX / 2), 3);
  CHECK_NULL(p);
  CHECK_EQ_INT(errno, ENOMEM);
  errno = 0;
  p = malloc(opaque_size(SIZE_MAX));
  CHECK_NULL(p);
  CHECK_EQ_INT(errno, ENOMEM);
  errno = 0;
  p = malloc(opaque_size(SIZE_MAX - 4096));
  CHECK_NULL(p);
  CHECK_EQ_INT(errno, ENOMEM);

  unsigned char* keep = (unsigned char*)malloc(64);
  CHECK_NOT_NULL(keep);
  if (keep == NULL) return;
  pattern_fill(keep, 64, 7);
  errno = 0;
  void* r = reallocarray(keep, opaque_size(SIZE_MAX / 2), 4);
  CHECK_NULL(r);
  CHECK_EQ_INT(errno, ENOMEM);
  errno = 0;
  r = realloc(keep, opaque_size(SIZE_MAX - 64));
  CHECK_NULL(r);
  CHECK_EQ_INT(errno, ENOMEM);
  CHECK_EQ_SZ(pattern_check(keep, 64, 7), 64); /* the old block is intact */
  r = reallocarray(keep, 100, 10);            /* and can still be resized */
  CHECK_NOT_NULL(r);
  if (r != NULL) {
    CHECK_EQ_SZ(pattern_check(r, 64, 7), 64);
    CHECK_GE_SZ(malloc_usable_size(r), 1000);
    CHECK_OURS(r);
    keep = (unsigned char*)r;
  }
  free(keep);

  void* sentinel = (void*)&errno;
  void* out = sentinel;
  CHECK_EQ_INT(posix_memalign(&out, 64, opaque_size(SIZE_MAX - 64)), ENOMEM);
  CHECK_EQ_PTR(out, sentinel);
  errno = 0;
  p = aligned_alloc(64, opaque_size(SIZE_MAX - 64));
  CHECK_NULL(p);
  CHECK_EQ_INT(errno, ENOMEM);
  errno = 0;
  p = memalign(4096, opaque_size(SIZE_MAX - 4096));
  CHECK_NULL(p);
  CHECK_EQ_INT(errno, ENOMEM);
}

TEST(posix_memalign_cases) {
  int local = 0;
  void* sentinel = &local;
  /* EINVAL: 0, not a multiple of sizeof(void*), not a power of two; *p untouched */
  size_t bad[] = {0, 1, 2, 4, 12, 24, 48, 100, 4097};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    void* p = sentinel;
    int rc = posix_memalign(&p, opaque_size(bad[i]), 16);
    CHECKF(rc == EINVAL, "posix_memalign(alignment %zu) returned %d", bad[i], rc);
    CHECKF(p == sentinel, "posix_memalign(alignment %zu) wrote *p = %p", bad[i], p);
  }
  size_t good[] = {8, 16, 32, 64, 256, 4096, 65536, 1u << 20, 4u << 20};
  size_t sizes[] = {0, 1, 24, 1000, 100000};
  for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
    for (size_t j = 0; j < sizeof sizes / sizeof sizes[0]; j++) {
      void* p = sentinel;
      int rc = posix_memalign(&p, good[i], sizes[j]);
      CHECKF(rc == 0 && p != sentinel && p != NULL, "posix_memalign(%zu, %zu) rc %d", good[i], sizes[j], rc);
      if (rc != 0) continue;
      CHECKF(aligned_to(p, good[i]), "posix_memalign(%zu, %zu) = %p", good[i], sizes[j], p);
      CHECK_GE_SZ(malloc_usable_size(p), sizes[j]);
      memset(p, 0x5a, sizes[j]);
      CHECK_OURS(p);
      free(p);
    }
  }
}

TEST(memalign_rounds_up) {
  /* glibc rounds a non-power-of-two alignment up to the next power of two */
  struct { size_t alignment, expect; } cases[] = {{24, 32}, {48, 64}, {100, 128}, {3000, 4096}, {5, 8}, {1, 1}};
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    for (size_t n = 1; n <= 4096; n *= 8) {
      void* p = memalign(opaque_size(cases[i].alignment), n);
      CHECKF(p != NULL, "memalign(%zu, %zu)", cases[i].alignment, n);
      if (p == NULL) continue;
      CHECKF(aligned_to(p, cases[i].expect), "memalign(%zu, %zu) = %p, want %zu-aligned", cases[i].alignment, n, p,
             cases[i].expect);
      CHECK_GE_SZ(malloc_usable_size(p), n);
      CHECK_OURS(p);
      free(p);
    }
  }
  void* big = memalign(1u << 21, 10); /* 2 MiB alignment, small block */
  CHECK_NOT_NULL(big);
  CHECK(aligned_to(big, 1u << 21));
  CHECK_OURS(big);
  free(big);
}

TEST(aligned_alloc_cases) {
  size_t aligns[] = {1, 2, 8, 16, 64, 128, 4096, 1u << 16, 1u << 22};
  size_t sizes[] = {1, 10, 100, 4096, 100000, 5u << 20};
  for (size_t i = 0; i < sizeof aligns / sizeof aligns[0]; i++) {
    for (size_t j = 0; j < sizeof sizes / sizeof sizes[0]; j++) {
      void* p = aligned_alloc(aligns[i], sizes[j]); /* size need not be a multiple (glibc) */
      CHECKF(p != NULL && aligned_to(p, aligns[i]), "aligned_alloc(%zu, %zu) = %p", aligns[i], sizes[j], p);
      if (p == NULL) continue;
      CHECK_GE_SZ(malloc_usable_size(p), sizes[j]);
      memset(p, 1, sizes[j]);
      CHECK_OURS(p);
      free(p);
    }
  }
}

TEST(valloc_pvalloc_page_aligned) {
  const size_t page = page_size();
  size_t sizes[] = {1, 100, 4095, 4096, 4097, 65536, 1u << 20, 5u << 20};
  for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
    void* v = valloc(sizes[i]);
    CHECKF(v != NULL && aligned_to(v, page), "valloc(%zu) = %p", sizes[i], v);
    if (v != NULL) {
      CHECK_GE_SZ(malloc_usable_size(v), sizes[i]);
      memset(v, 2, sizes[i]);
      CHECK_OURS(v);
    }
    free(v);
    void* pv = pvalloc(sizes[i]);
    const size_t rounded = (sizes[i] + page - 1) / page * page;
    CHECKF(pv != NULL && aligned_to(pv, page), "pvalloc(%zu) = %p", sizes[i], pv);
    if (pv != NULL) {
      CHECKF(malloc_usable_size(pv) >= rounded, "pvalloc(%zu): usable %zu < %zu", sizes[i], malloc_usable_size(pv),
             rounded);
      memset(pv, 3, rounded); /* the whole rounded size is ours to write */
      CHECK_OURS(pv);
    }
    free(pv);
  }
}

TEST(usable_size_and_alignment) {
  CHECK_EQ_SZ(malloc_usable_size(NULL), 0);
  size_t bad_usable = 0, bad_align = 0, not_ours = 0, first_bad_align = 0;
  for (size_t n = 1; n <= (1u << 22); n = n < 64 ? n + 1 : n + n / 7) {
    unsigned char* p = (unsigned char*)malloc(n);
    if (p == NULL) { bad_usable++; continue; }
    size_t u = malloc_usable_size(p);
    if (u < n) bad_usable++;
    memset(p, 0x77, u); /* all of the usable size may be written */
    /* glibc: every block is aligned to 16 (max_align_t); a block of at least
       16 bytes must be, as it may hold a max_align_t (mialloc's header says so too) */
    if ((n >= 16 && !aligned_to(p, 16)) || (n >= 8 && !aligned_to(p, 8))) {
      if (bad_align++ == 0) first_bad_align = n;
    }
    if (EXPECT_MIALLOC && (check_owned == NULL || !check_owned(p))) not_ours++;
    free(p);
  }
  CHECK_EQ_SZ(bad_usable, 0);
  CHECKF(bad_align == 0, "%zu sizes >= 16 bytes not 16-aligned, the first malloc(%zu)", bad_align, first_bad_align);
  CHECK_EQ_SZ(not_ours, 0);
}

TEST(calloc_zeroes_reused_memory) {
  size_t sizes[] = {8, 24, 100, 1000, 8000, 70000, 300000, 2u << 20, 6u << 20};
  size_t dirty = 0;
  for (int round = 0; round < 3; round++) {
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
      void* junk[8];
      for (int k = 0; k < 8; k++) {
        junk[k] = malloc(sizes[i]);
        if (junk[k] != NULL) memset(junk[k], 0xff, sizes[i]);
      }
      for (int k = 0; k < 8; k++) free(junk[k]);
      unsigned char* z = (unsigned char*)calloc(1, sizes[i]);
      CHECKF(z != NULL, "calloc(1, %zu)", sizes[i]);
      if (z == NULL) continue;
      for (size_t b = 0; b < sizes[i]; b++) dirty += (z[b] != 0);
      CHECK_OURS(z);
      free(z);
    }
  }
  CHECK_EQ_SZ(dirty, 0);
}

TEST(sized_and_glibc_names) {
  /* free_sized and free_aligned_sized are C23 (glibc has them from 2.39; our
     Debian's 2.36 does not): call them where the process has them. */
  free_sized_fn* fs = (free_sized_fn*)(uintptr_t)lookup("free_sized");
  free_aligned_sized_fn* fas = (free_aligned_sized_fn*)(uintptr_t)lookup("free_aligned_sized");
  cfree_fn* cf = (cfree_fn*)(uintptr_t)lookup("cfree");
  libc_malloc_fn* lm = (libc_malloc_fn*)(uintptr_t)lookup("__libc_malloc");
  libc_free_fn* lf = (libc_free_fn*)(uintptr_t)lookup("__libc_free");
  if (EXPECT_MIALLOC) {
    CHECK(fs != NULL);
    CHECK(fas != NULL);
    CHECK(cf != NULL);
    CHECK(lm != NULL);
    CHECK(lf != NULL);
  }
  if (fs != NULL) {
    for (size_t n = 1; n < 200000; n = n * 3 + 1) {
      void* p = malloc(n);
      CHECK_NOT_NULL(p);
      fs(p, n);
    }
    fs(NULL, 0);
  }
  if (fas != NULL) {
    for (size_t a = 16; a <= 65536; a *= 4) {
      void* p = aligned_alloc(a, 3 * a);
      CHECK(p != NULL && aligned_to(p, a));
      fas(p, a, 3 * a);
    }
  }
  if (cf != NULL) cf(malloc(10));
  if (lm != NULL && lf != NULL) {
    void* p = lm(1000); /* glibc's internal name, freed by free and the other way round */
    CHECK_NOT_NULL(p);
    CHECK_OURS(p);
    free(p);
    void* q = malloc(1000);
    CHECK_NOT_NULL(q);
    lf(q);
  }
  CHECK(true); /* the test ran (the lookups may all be absent on plain glibc) */
}

TEST(libc_internal_allocations) {
  char* s = strdup("a string that libc copies with its own malloc call");
  CHECK_NOT_NULL(s);
  CHECK_OURS(s);
  free(s);
  char* t = strndup("0123456789", 4);
  CHECK(t != NULL && strcmp(t, "0123") == 0);
  CHECK_OURS(t);
  free(t);
  char* a = NULL;
  CHECK_EQ_INT(asprintf(&a, "%s-%d-%0500d", "x", 42, 7), 505);
  CHECK_OURS(a);
  free(a);

  char* buf = NULL;
  size_t len = 0;
  FILE* mem = open_memstream(&buf, &len);
  CHECK(mem != NULL);
  if (mem != NULL) {
    for (int i = 0; i < 20000; i++) fprintf(mem, "line %d\n", i);
    CHECK_EQ_INT(fclose(mem), 0); /* buf grows by realloc inside libc */
    CHECK_GT_SZ(len, 100000);
    CHECK(buf != NULL && strncmp(buf, "line 0\nline 1\n", 14) == 0);
    CHECK_OURS(buf);
    free(buf);
  }

  FILE* f = tmpfile(); /* its buffer comes from malloc, freed by fclose */
  CHECK(f != NULL);
  if (f != NULL) {
    for (int i = 0; i < 3000; i++) fprintf(f, "%d %s\n", i, i % 7 == 0 ? "a much longer line of text to read back" : "x");
    rewind(f);
    char* line = NULL;
    size_t cap = 0;
    long lines = 0;
    while (getline(&line, &cap, f) > 0) lines++;
    CHECK_EQ_INT(lines, 3000);
    CHECK_OURS(line);
    free(line);
    CHECK_EQ_INT(fclose(f), 0);
  }
  CHECK_EQ_INT(malloc_trim(0) >= 0, 1); /* glibc's; harmless whoever allocates */
}

/* ---- threads that exit while others still hold their blocks ---- */

enum { EXIT_BLOCKS = 2000 };
typedef struct exit_batch {
  void* blocks[EXIT_BLOCKS];
  size_t sizes[EXIT_BLOCKS];
  uint64_t seed;
  size_t not_ours; /* blocks that mia_check_owned refused (EXPECT_MIALLOC) */
} exit_batch;

static void* exiting_thread(void* arg) {
  exit_batch* b = (exit_batch*)arg;
  uint64_t rng = b->seed;
  for (size_t i = 0; i < EXIT_BLOCKS; i++) {
    size_t r = rng_range(&rng, 0, 99);
    size_t n = r < 80 ? rng_range(&rng, 1, 1024) : r < 97 ? rng_range(&rng, 1025, 100000) : rng_range(&rng, 100001, 3u << 20);
    b->sizes[i] = n;
    b->blocks[i] = malloc(n);
    if (b->blocks[i] == NULL) continue;
    pattern_fill(b->blocks[i], n < 256 ? n : 256, b->seed + i);
    if (EXPECT_MIALLOC && (check_owned == NULL || !check_owned(b->blocks[i]))) b->not_ours++;
    if (i % 3 == 0) { /* some are freed at once, by the owner */
      free(b->blocks[i]);
      b->blocks[i] = NULL;
    }
  }
  return NULL; /* the thread exits with about 2/3 of its blocks alive */
}

TEST(threads_exit_with_live_blocks) {
  static exit_batch batches[4];
  for (int round = 0; round < 6; round++) {
    pthread_t th[4];
    int started = 0;
    for (int t = 0; t < 4; t++) {
      memset(&batches[t], 0, sizeof batches[t]);
      batches[t].seed = (uint64_t)(round * 4 + t + 1) * 0x9E3779B97F4A7C15ULL;
      if (pthread_create(&th[t], NULL, exiting_thread, &batches[t]) == 0) started++;
    }
    CHECK_EQ_INT(started, 4);
    for (int t = 0; t < started; t++) pthread_join(th[t], NULL);
    size_t damaged = 0, missing = 0, not_ours = 0;
    for (int t = 0; t < started; t++) {
      exit_batch* b = &batches[t];
      not_ours += b->not_ours;
      for (size_t i = 0; i < EXIT_BLOCKS; i++) {
        if (i % 3 == 0) continue;
        if (b->blocks[i] == NULL) { missing++; continue; }
        size_t n = b->sizes[i] < 256 ? b->sizes[i] : 256;
        if (pattern_check(b->blocks[i], n, b->seed + i) != n) damaged++;
        if (malloc_usable_size(b->blocks[i]) < b->sizes[i]) damaged++;
        free(b->blocks[i]); /* freed by a thread that did not allocate it */
      }
    }
    CHECK_EQ_SZ(missing, 0);
    CHECK_EQ_SZ(damaged, 0);
    CHECK_EQ_SZ(not_ours, 0);
    /* the space comes back: allocate again after the owners are gone */
    void* again = malloc(3u << 20);
    CHECK_NOT_NULL(again);
    free(again);
  }
}

/* ---- huge blocks freed by another thread give their address space back ---- */

static _Atomic(void*) handoff;
static atomic_bool handoff_done;

static void* huge_freer(void* arg) {
  (void)arg;
  while (!atomic_load(&handoff_done) || atomic_load(&handoff) != NULL) {
    void* p = atomic_exchange(&handoff, NULL);
    if (p != NULL) free(p); /* not the thread that allocated it */
  }
  return NULL;
}

/* VmSize of this process in KiB (-1 if /proc is not there). */
static long vm_size_kib(void) {
  FILE* f = fopen("/proc/self/status", "r");
  if (f == NULL) return -1;
  char line[256];
  long kib = -1;
  while (fgets(line, sizeof line, f) != NULL)
    if (strncmp(line, "VmSize:", 7) == 0) kib = strtol(line + 7, NULL, 10);
  fclose(f);
  return kib;
}

/* 1,000 blocks of 3 MiB, each freed by another thread while this one keeps
   allocating: the address space must not grow by their sum (3 GiB). A
   process that keeps each one mapped runs into vm.max_map_count (65530
   mappings) after ~65,000 such frees, and then mmap -- so malloc in any
   thread with nothing of its own to release -- fails with ENOMEM. */
TEST(huge_cross_thread_free_unmaps) {
  atomic_store(&handoff, NULL);
  atomic_store(&handoff_done, false);
  pthread_t th;
  CHECK_EQ_INT(pthread_create(&th, NULL, huge_freer, NULL), 0);
  const long before = vm_size_kib();
  size_t failed = 0;
  for (int i = 0; i < 1000; i++) {
    char* p = (char*)malloc(3u << 20);
    if (p == NULL) { failed++; continue; }
    p[0] = 1;
    p[(3u << 20) - 1] = 2;
    void* expected = NULL;
    while (!atomic_compare_exchange_weak(&handoff, &expected, p)) expected = NULL;
  }
  const long after = vm_size_kib();
  atomic_store(&handoff_done, true);
  pthread_join(th, NULL);
  CHECK_EQ_SZ(failed, 0);
  CHECK(before > 0 && after > 0);
  CHECKF(after - before < 1024 * 1024, "VmSize grew by %ld MiB (from %ld MiB) over 1000 cross-thread frees of 3 MiB",
         (after - before) / 1024, before / 1024);
}

/* ---- allocation in a pthread key destructor ---- */

static pthread_key_t dtor_key;
static _Atomic int dtor_calls;
static _Atomic int dtor_bad;
static void* _Atomic dtor_handoff[8]; /* one block per thread, freed by main */

static void key_destructor(void* value) {
  atomic_fetch_add(&dtor_calls, 1);
  unsigned char* v = (unsigned char*)value;
  if (v[0] != 0xab) atomic_fetch_add(&dtor_bad, 1);
  int thread = v[1];
  int round = v[2];
  free(v);
  /* allocate and free a burst at thread exit, in many size classes */
  for (size_t n = 8; n < 300000; n += n / 2 + 8) {
    unsigned char* p = (unsigned char*)malloc(n);
    if (p == NULL) { atomic_fetch_add(&dtor_bad, 1); continue; }
    memset(p, 0x11, n);
    free(p);
  }
  if (round == 0) {
    unsigned char* h = (unsigned char*)malloc(777); /* survives the thread */
    if (h == NULL) atomic_fetch_add(&dtor_bad, 1);
    else {
      memset(h, 0x22, 777);
      atomic_store(&dtor_handoff[thread], h);
    }
    unsigned char* again = (unsigned char*)malloc(64); /* one more round of destructors */
    if (again == NULL) { atomic_fetch_add(&dtor_bad, 1); return; }
    again[0] = 0xab;
    again[1] = (unsigned char)thread;
    again[2] = 1;
    if (pthread_setspecific(dtor_key, again) != 0) atomic_fetch_add(&dtor_bad, 1);
  }
}

static void* dtor_thread(void* arg) {
  int thread = (int)(intptr_t)arg;
  void* tmp[100];
  for (int i = 0; i < 100; i++) tmp[i] = malloc((size_t)(i * 37 + 1)); /* the heap is set up */
  for (int i = 0; i < 100; i += 2) free(tmp[i]);
  unsigned char* v = (unsigned char*)malloc(32);
  if (v == NULL) return NULL;
  v[0] = 0xab;
  v[1] = (unsigned char)thread;
  v[2] = 0;
  pthread_setspecific(dtor_key, v);
  for (int i = 1; i < 100; i += 2) free(tmp[i]);
  return NULL;
}

TEST(key_destructor_allocates) {
  CHECK_EQ_INT(pthread_key_create(&dtor_key, key_destructor), 0);
  atomic_store(&dtor_calls, 0);
  atomic_store(&dtor_bad, 0);
  pthread_t th[8];
  for (int t = 0; t < 8; t++) CHECK_EQ_INT(pthread_create(&th[t], NULL, dtor_thread, (void*)(intptr_t)t), 0);
  for (int t = 0; t < 8; t++) pthread_join(th[t], NULL);
  CHECK_EQ_INT(atomic_load(&dtor_calls), 16); /* two rounds per thread */
  CHECK_EQ_INT(atomic_load(&dtor_bad), 0);
  size_t bad = 0;
  for (int t = 0; t < 8; t++) {
    unsigned char* h = (unsigned char*)atomic_load(&dtor_handoff[t]);
    if (h == NULL) { bad++; continue; }
    for (size_t i = 0; i < 777; i++) bad += (h[i] != 0x22);
    free(h);
  }
  CHECK_EQ_SZ(bad, 0);
  pthread_key_delete(dtor_key);
}

int main(void) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  printf("semantics: glibc entry points%s\n", EXPECT_MIALLOC ? ", pointers checked with mia_check_owned" : "");
  RUN(mia_api_present);
  RUN(malloc_zero_unique);
  RUN(realloc_zero_frees);
  RUN(realloc_keeps_contents);
  RUN(overflow_enomem);
  RUN(posix_memalign_cases);
  RUN(memalign_rounds_up);
  RUN(aligned_alloc_cases);
  RUN(valloc_pvalloc_page_aligned);
  RUN(usable_size_and_alignment);
  RUN(calloc_zeroes_reused_memory);
  RUN(sized_and_glibc_names);
  RUN(libc_internal_allocations);
  RUN(threads_exit_with_live_blocks);
  RUN(huge_cross_thread_free_unmaps);
  RUN(key_destructor_allocates);
  return runner_finish();
}
