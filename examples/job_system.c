/* job_system.c - worker threads that allocate from one shared heap and free
   each other's blocks.

   What you learn here: a heap made by one thread (here the main thread, for
   the "jobs" subsystem) may be used by every worker. mia_heap_malloc(heap, n)
   from a thread that is not the heap's owner goes through the heap's shared
   part: one uncontended lock on top of the usual path. Any thread may free
   any block with mia_free, with one atomic operation. So a job can allocate
   its result in the subsystem's heap, hand it to the next job on another
   worker, and that worker frees it. The heap keeps the subsystem's memory
   together: mia_heap_stats_get shows its live bytes, mia_heap_set_limit caps
   it, and mia_heap_destroy releases whatever is left at shutdown.

   Each worker takes jobs from its queue; a job reads the message it was
   given (and frees it), allocates 1-8 new messages of 16..1024 bytes and
   posts them to the next worker's queue. The program runs the same jobs
   three ways and prints the time of each:
     mialloc   mia_heap_malloc from the shared heap, mia_free anywhere
     malloc    the C library's malloc and free
     mimalloc  mi_malloc / mi_free (-DWITH_MIMALLOC -lmimalloc; a mimalloc
               heap may only be used by its own thread, so each worker
               allocates from its thread's default heap)

   Build: make examples   (or: cc -O2 examples/job_system.c -o job_system -pthread)
          with mimalloc:   cc -O2 -DWITH_MIMALLOC examples/job_system.c -o job_system -pthread -lmimalloc
   Run:   ./build/examples/job_system [workers] [jobs-per-worker] */
#define MIALLOC_IMPLEMENTATION
#include "../mialloc.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "peers.h"


typedef struct message {
  size_t size;        /* bytes of payload */
  unsigned checksum;  /* of the payload's first bytes, checked by the receiver */
  unsigned char payload[];
} message;

#define MAX_WORKERS 16
#define QUEUE_CAP 4096

/* A worker's queue: a mutex-protected ring of messages (the bookkeeping is libc's). */
typedef struct queue {
  pthread_mutex_t lock;
  pthread_cond_t ready;
  message* items[QUEUE_CAP];
  size_t head, count;
} queue;

typedef struct system {
  allocator_kind kind;
  mia_heap_t* heap;   /* the jobs subsystem's heap, made by the main thread */
  int workers;
  long jobs_per_worker;
  queue queues[MAX_WORKERS];
  unsigned long bad; /* damaged messages seen (must stay 0) */
  pthread_mutex_t bad_lock;
} system_t;

static void* msg_alloc(system_t* s, size_t size) {
  switch (s->kind) {
    case USE_MIALLOC: return mia_heap_malloc(s->heap, size); /* any thread, the shared heap */
#if WITH_MIMALLOC
    case USE_MIMALLOC: return mi_malloc(size);
#endif
    default: return sys_malloc(size);
  }
}

static void msg_free(system_t* s, void* p) {
  switch (s->kind) {
    case USE_MIALLOC: mia_free(p); return; /* any thread, any heap */
#if WITH_MIMALLOC
    case USE_MIMALLOC: mi_free(p); return;
#endif
    default: sys_free(p);
  }
}

/* Post a message to a queue; false if it is full (the sender then frees it itself). */
static bool post(queue* q, message* m) {
  pthread_mutex_lock(&q->lock);
  bool ok = q->count < QUEUE_CAP;
  if (ok) {
    q->items[(q->head + q->count) % QUEUE_CAP] = m;
    q->count++;
    pthread_cond_signal(&q->ready);
  }
  pthread_mutex_unlock(&q->lock);
  return ok;
}

static message* take(queue* q) {
  pthread_mutex_lock(&q->lock);
  message* m = NULL;
  if (q->count > 0) {
    m = q->items[q->head];
    q->head = (q->head + 1) % QUEUE_CAP;
    q->count--;
  }
  pthread_mutex_unlock(&q->lock);
  return m;
}

/* A checksum of the first 64 bytes (the job's "work" stays small next to the allocator's). */
static unsigned sum_bytes(const unsigned char* p, size_t n) {
  unsigned s = 0;
  for (size_t i = 0; i < n && i < 64; i++) s = s * 31 + p[i];
  return s;
}

typedef struct worker_arg {
  system_t* sys;
  int id;
} worker_arg;

static void* worker(void* arg) {
  worker_arg* wa = (worker_arg*)arg;
  system_t* s = wa->sys;
  queue* mine = &s->queues[wa->id];
  queue* next = &s->queues[(wa->id + 1) % s->workers];
  unsigned seed = 2654435761u * (unsigned)(wa->id + 1);
  unsigned long bad = 0;
  for (long job = 0; job < s->jobs_per_worker; job++) {
    /* consume what the previous worker sent */
    message* in;
    while ((in = take(mine)) != NULL) {
      if (sum_bytes(in->payload, in->size) != in->checksum) bad++;
      msg_free(s, in); /* a block another thread allocated */
    }
    /* produce 1-8 messages for the next worker */
    seed = seed * 1103515245u + 12345u;
    int produce = 1 + (int)((seed >> 16) % 8);
    for (int k = 0; k < produce; k++) {
      seed = seed * 1103515245u + 12345u;
      size_t size = 16 + (seed >> 16) % 1009;
      message* m = (message*)msg_alloc(s, sizeof(message) + size);
      if (m == NULL) {
        fprintf(stderr, "out of memory\n");
        exit(1);
      }
      m->size = size;
      for (size_t i = 0; i < size && i < 64; i++) m->payload[i] = (unsigned char)(seed + i);
      m->checksum = sum_bytes(m->payload, size);
      if (!post(next, m)) msg_free(s, m);
    }
  }
  pthread_mutex_lock(&s->bad_lock);
  s->bad += bad;
  pthread_mutex_unlock(&s->bad_lock);
  return NULL;
}

static double run(allocator_kind kind, int workers, long jobs, unsigned long* bad) {
  static system_t s;
  memset(&s, 0, sizeof s);
  s.kind = kind;
  s.workers = workers;
  s.jobs_per_worker = jobs;
  pthread_mutex_init(&s.bad_lock, NULL);
  if (kind == USE_MIALLOC) {
    s.heap = mia_heap_new();
    mia_heap_set_name(s.heap, "jobs");
  }
  for (int i = 0; i < workers; i++) {
    pthread_mutex_init(&s.queues[i].lock, NULL);
    pthread_cond_init(&s.queues[i].ready, NULL);
  }
  pthread_t threads[MAX_WORKERS];
  worker_arg args[MAX_WORKERS];
  double t0 = now_ms();
  for (int i = 0; i < workers; i++) {
    args[i].sys = &s;
    args[i].id = i;
    if (pthread_create(&threads[i], NULL, worker, &args[i]) != 0) {
      fprintf(stderr, "pthread_create failed\n");
      exit(1);
    }
  }
  for (int i = 0; i < workers; i++) pthread_join(threads[i], NULL);
  /* messages still queued at the end */
  for (int i = 0; i < workers; i++) {
    message* m;
    while ((m = take(&s.queues[i])) != NULL) msg_free(&s, m);
  }
  double ms = now_ms() - t0;
  if (kind == USE_MIALLOC) {
    mia_heap_stats_t st;
    mia_heap_stats_get(s.heap, &st);
    if (st.live_blocks != 0) fprintf(stderr, "jobs heap: %zu blocks still live\n", st.live_blocks);
    mia_heap_destroy(s.heap);
  }
  for (int i = 0; i < workers; i++) {
    pthread_mutex_destroy(&s.queues[i].lock);
    pthread_cond_destroy(&s.queues[i].ready);
  }
  pthread_mutex_destroy(&s.bad_lock);
  *bad += s.bad;
  return ms;
}

int main(int argc, char** argv) {
  int workers = argc > 1 ? atoi(argv[1]) : 4;
  long jobs = argc > 2 ? atol(argv[2]) : 20000;
  if (workers < 2 || workers > MAX_WORKERS || jobs <= 0) {
    fprintf(stderr, "usage: %s [workers 2..%d] [jobs-per-worker > 0]\n", argv[0], MAX_WORKERS);
    return 2;
  }
  double best[3] = { 1e30, 1e30, 1e30 };
  unsigned long bad = 0;
  for (int round = 0; round < 3; round++) {
    for (int k = 0; k < 3; k++) {
      if (k == USE_MIMALLOC && !WITH_MIMALLOC) continue;
      double ms = run((allocator_kind)k, workers, jobs, &bad);
      if (ms < best[k]) best[k] = ms;
    }
  }
  printf("%d workers, %ld jobs each, 1-8 messages of 16..1024 bytes per job, freed by the next worker\n", workers, jobs);
  printf("  mialloc  (one shared heap, mia_free anywhere): %8.2f ms\n", best[USE_MIALLOC]);
  printf("  malloc:                                        %8.2f ms\n", best[USE_MALLOC]);
  if (WITH_MIMALLOC) printf("  mimalloc (mi_malloc, thread-local heaps):      %8.2f ms\n", best[USE_MIMALLOC]);
  else printf("  mimalloc: not built in (-DWITH_MIMALLOC -lmimalloc)\n");
  if (bad != 0) {
    fprintf(stderr, "%lu damaged messages\n", bad);
    return 1;
  }
  if (WITH_MIMALLOC) printf("result: mialloc_ms=%.2f malloc_ms=%.2f mimalloc_ms=%.2f\n", best[0], best[1], best[2]);
  else printf("result: mialloc_ms=%.2f malloc_ms=%.2f mimalloc_ms=-\n", best[0], best[1]);
  return 0;
}
