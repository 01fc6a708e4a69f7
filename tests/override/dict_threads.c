/* dict_threads.c - an interpreter's dicts built by worker threads and freed
   by the main thread, round after round: does the memory of exited threads
   come back (peak resident set flat from round to round), and at what cost
   in madvise calls? (The "Memory return" issue, acceptance 4.)

   Build (tests/override.mk): cc -std=gnu11 -O2 -pthread tests/override/dict_threads.c -o dict_threads
   Run:   LD_PRELOAD=build/libmialloc.so ./dict_threads [rounds=12] [threads=6]
   Runs under any malloc (plain malloc/free calls): tests/override/run.sh
   runs it under mialloc and libmimalloc.so.2, plain for the resident set
   and again under `strace -f -c -e trace=madvise` for the call count, and
   compares (make test-override-return).

   Each round the main thread starts `threads` threads and joins them. A
   thread builds SMALL_DICTS dicts of 5..40 entries and LARGE_DICTS of
   LARGE_ENTRIES entries: string keys ("k<round>.<thread>.<dict>.<i>",
   malloc'd), string values of 8..200 bytes, one malloc'd node per entry,
   chained buckets in an array that doubles (calloc the new, rehash, free
   the old) past 3/4 load, as CPython's dict and Lua's table grow. Then it
   overwrites a quarter of the large dicts' values (free the old string,
   malloc a new one) and deletes a tenth of their entries, and exits,
   leaving its dicts to the main thread. The main thread looks up every
   key of every dict, checks the value's bytes, and frees everything: every
   block is freed by a thread other than the (exited) one that made it.
   The peak resident set of each round is VmHWM after writing "5" to
   /proc/self/clear_refs at the round's start (Linux >= 4.0).

   Output: one line per round, "round R peak_kib=P rss_kib=R" (R: after
   the frees), then "dicts: ..." and "N passed, N failed" (the checks: every
   lookup found the right value, no malloc failed, the peak could be reset).
   Run length: ~0.1 s per round on 2 cores. */
#define _GNU_SOURCE
#include "../runner.h"

#include <fcntl.h>
#include <pthread.h>
#include <unistd.h>

runner_state runner;

enum { MAX_THREADS = 64, SMALL_DICTS = 200, LARGE_DICTS = 4, LARGE_ENTRIES = 8000 };

typedef struct entry {
  struct entry* next;
  uint64_t hash;
  char* key;
  char* value;
  uint32_t value_len;
  uint32_t version; /* how often the value was overwritten: part of its content */
} entry;

typedef struct dict {
  entry** buckets;
  size_t mask; /* bucket count - 1 */
  size_t count;
  size_t entries; /* keys ever inserted (0..entries-1), deleted ones included */
} dict;

typedef struct worker_arg {
  int round, id;
  dict** dicts;
  size_t ndicts;
  long nomem;
} worker_arg;

/* FNV-1a. */
static uint64_t hash_str(const char* s) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (; *s != '\0'; s++) h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
  return h;
}

static char* key_of(int round, int id, size_t d, size_t i) {
  char buf[64];
  int n = snprintf(buf, sizeof buf, "k%d.%d.%zu.%zu", round, id, d, i);
  char* k = (char*)malloc((size_t)n + 1);
  if (k != NULL) memcpy(k, buf, (size_t)n + 1);
  return k;
}

/* The value of a key at a version: its length and bytes follow from (hash, version). */
static uint32_t value_len_of(uint64_t h, uint32_t version) {
  return 8 + (uint32_t)(((h >> 7) + version * 61u) % 193u);
}
static char value_byte(uint64_t h, uint32_t version, uint32_t j) {
  return (char)('a' + (char)((h + version + j) % 26u));
}
static char* value_new(uint64_t h, uint32_t version, uint32_t* len) {
  *len = value_len_of(h, version);
  char* v = (char*)malloc(*len + 1);
  if (v == NULL) return NULL;
  for (uint32_t j = 0; j < *len; j++) v[j] = value_byte(h, version, j);
  v[*len] = '\0';
  return v;
}
static bool value_ok(const entry* e) {
  if (e->value_len != value_len_of(e->hash, e->version) || e->value[e->value_len] != '\0') return false;
  for (uint32_t j = 0; j < e->value_len; j++)
    if (e->value[j] != value_byte(e->hash, e->version, j)) return false;
  return true;
}

static dict* dict_new(void) {
  dict* d = (dict*)malloc(sizeof(dict));
  if (d == NULL) return NULL;
  d->buckets = (entry**)calloc(8, sizeof(entry*));
  if (d->buckets == NULL) {
    free(d);
    return NULL;
  }
  d->mask = 7;
  d->count = 0;
  d->entries = 0;
  return d;
}

static entry* dict_find(const dict* d, const char* key, uint64_t h) {
  for (entry* e = d->buckets[h & d->mask]; e != NULL; e = e->next)
    if (e->hash == h && strcmp(e->key, key) == 0) return e;
  return NULL;
}

static bool dict_grow(dict* d) {
  size_t cap = (d->mask + 1) * 2;
  entry** nb = (entry**)calloc(cap, sizeof(entry*));
  if (nb == NULL) return false;
  for (size_t b = 0; b <= d->mask; b++) {
    entry* e = d->buckets[b];
    while (e != NULL) {
      entry* next = e->next;
      e->next = nb[e->hash & (cap - 1)];
      nb[e->hash & (cap - 1)] = e;
      e = next;
    }
  }
  free(d->buckets);
  d->buckets = nb;
  d->mask = cap - 1;
  return true;
}

/* Insert a new key (the dict takes it); false if malloc failed. */
static bool dict_insert(dict* d, char* key) {
  if ((d->count + 1) * 4 > (d->mask + 1) * 3 && !dict_grow(d)) return false;
  entry* e = (entry*)malloc(sizeof(entry));
  if (e == NULL) return false;
  e->hash = hash_str(key);
  e->key = key;
  e->version = 0;
  e->value = value_new(e->hash, 0, &e->value_len);
  if (e->value == NULL) {
    free(e);
    return false;
  }
  e->next = d->buckets[e->hash & d->mask];
  d->buckets[e->hash & d->mask] = e;
  d->count++;
  d->entries++;
  return true;
}

static void entry_free(entry* e) {
  free(e->key);
  free(e->value);
  free(e);
}

static void dict_delete(dict* d, const char* key) {
  uint64_t h = hash_str(key);
  for (entry** link = &d->buckets[h & d->mask]; *link != NULL; link = &(*link)->next) {
    entry* e = *link;
    if (e->hash == h && strcmp(e->key, key) == 0) {
      *link = e->next;
      entry_free(e);
      d->count--;
      return;
    }
  }
}

static void dict_free(dict* d) {
  for (size_t b = 0; b <= d->mask; b++) {
    entry* e = d->buckets[b];
    while (e != NULL) {
      entry* next = e->next;
      entry_free(e);
      e = next;
    }
  }
  free(d->buckets);
  free(d);
}

static void* worker(void* arg) {
  worker_arg* a = (worker_arg*)arg;
  uint64_t rng = 0x9e3779b97f4a7c15ull * ((uint64_t)a->round * MAX_THREADS + (uint64_t)a->id + 1u);
  a->ndicts = SMALL_DICTS + LARGE_DICTS;
  a->dicts = (dict**)calloc(a->ndicts, sizeof(dict*));
  if (a->dicts == NULL) {
    a->nomem++;
    a->ndicts = 0;
    return NULL;
  }
  for (size_t d = 0; d < a->ndicts; d++) {
    dict* t = dict_new();
    a->dicts[d] = t;
    if (t == NULL) {
      a->nomem++;
      continue;
    }
    size_t n = d < SMALL_DICTS ? rng_range(&rng, 5, 40) : LARGE_ENTRIES;
    for (size_t i = 0; i < n; i++) {
      char* k = key_of(a->round, a->id, d, i);
      if (k == NULL || !dict_insert(t, k)) {
        free(k);
        a->nomem++;
      }
    }
  }
  /* overwrite a quarter of the large dicts' values, delete a tenth of their keys */
  for (size_t d = SMALL_DICTS; d < a->ndicts; d++) {
    dict* t = a->dicts[d];
    if (t == NULL) continue;
    for (size_t i = 0; i < LARGE_ENTRIES; i++) {
      size_t r = rng_range(&rng, 0, 39);
      if (r >= 14) continue;
      char* k = key_of(a->round, a->id, d, i);
      if (k == NULL) {
        a->nomem++;
        continue;
      }
      if (r < 4) {
        dict_delete(t, k);
      } else {
        entry* e = dict_find(t, k, hash_str(k));
        if (e != NULL) {
          uint32_t len;
          char* v = value_new(e->hash, e->version + 1, &len);
          if (v == NULL) {
            a->nomem++;
          } else {
            free(e->value);
            e->value = v;
            e->value_len = len;
            e->version++;
          }
        }
      }
      free(k);
    }
  }
  return NULL;
}

/* VmHWM (peak resident set) or VmRSS in KiB, read without malloc. */
static long status_kib(const char* field) {
  char buf[4096];
  int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return -1;
  buf[n] = '\0';
  const char* p = strstr(buf, field);
  return p != NULL ? strtol(p + strlen(field), NULL, 10) : -1;
}

static bool reset_peak(void) {
  int fd = open("/proc/self/clear_refs", O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  bool ok = write(fd, "5", 1) == 1;
  close(fd);
  return ok;
}

int main(int argc, char** argv) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  int rounds = argc > 1 ? atoi(argv[1]) : 12;
  int threads = argc > 2 ? atoi(argv[2]) : 6;
  if (rounds < 1 || threads < 1 || threads > MAX_THREADS) {
    fprintf(stderr, "usage: %s [rounds >= 1] [threads 1..%d]\n", argv[0], MAX_THREADS);
    return 2;
  }
  alarm(300); /* a hang ends in SIGALRM */
  runner.current = "dict_threads";
  worker_arg args[MAX_THREADS];
  long nomem = 0, peak_max = 0, bad_values = 0, missing = 0, resets = 0, spawned = 0;
  size_t looked_up = 0;
  double t0 = runner_now();
  for (int round = 1; round <= rounds; round++) {
    if (reset_peak()) resets++;
    pthread_t th[MAX_THREADS];
    bool started[MAX_THREADS];
    for (int t = 0; t < threads; t++) {
      memset(&args[t], 0, sizeof args[t]);
      args[t].round = round;
      args[t].id = t;
      started[t] = pthread_create(&th[t], NULL, worker, &args[t]) == 0;
      if (started[t]) spawned++;
    }
    for (int t = 0; t < threads; t++)
      if (started[t]) pthread_join(th[t], NULL);
    /* the main thread reads every dict, then frees it */
    for (int t = 0; t < threads; t++) {
      worker_arg* a = &args[t];
      nomem += a->nomem;
      for (size_t d = 0; d < a->ndicts; d++) {
        dict* dd = a->dicts[d];
        if (dd == NULL) continue;
        size_t found = 0;
        for (size_t i = 0; i < dd->entries; i++) {
          char buf[64];
          snprintf(buf, sizeof buf, "k%d.%d.%zu.%zu", round, t, d, i);
          entry* e = dict_find(dd, buf, hash_str(buf));
          if (e != NULL) {
            found++;
            if (!value_ok(e)) bad_values++;
          }
        }
        size_t live = 0;
        for (size_t b = 0; b <= dd->mask; b++)
          for (entry* e = dd->buckets[b]; e != NULL; e = e->next) live++;
        if (live != dd->count || found != dd->count) missing++;
        looked_up += found;
        dict_free(dd);
      }
      free(a->dicts);
    }
    long peak = status_kib("VmHWM:"), rss = status_kib("VmRSS:");
    if (peak > peak_max) peak_max = peak;
    printf("round %d peak_kib=%ld rss_kib=%ld\n", round, peak, rss);
  }
  printf("dicts: %d rounds of %d threads, %zu entries looked up, %ld bad values, %ld dicts with a wrong count, "
         "%ld failed mallocs, peak %ld KiB (%.2f s)\n",
         rounds, threads, looked_up, bad_values, missing, nomem, peak_max, runner_now() - t0);
  CHECK_EQ_INT(spawned, (long)rounds * threads);
  CHECK_EQ_INT(bad_values, 0);
  CHECK_EQ_INT(missing, 0);
  CHECK_EQ_INT(nomem, 0);
  CHECK(looked_up > 0);
  CHECK_EQ_INT(resets, rounds);
  long passed = atomic_load(&runner.passed), failed = atomic_load(&runner.failed);
  printf("%ld passed, %ld failed\n", passed, failed);
  return failed != 0 ? 1 : 0;
}
