/* mialloc.h - a mimalloc-class general-purpose memory allocator in one C11 header.

   Do this:
      #define MIALLOC_IMPLEMENTATION
   before you include this file in *one* C or C++ file to create the
   implementation. Every other file includes it without the define and sees
   the declarations only.

      #include ...
      #define MIALLOC_IMPLEMENTATION
      #include "mialloc.h"

   Dialects: C11 or later, or C++11 or later, with or without GNU extensions
   and feature macros of yours (-std=c11, -std=c++11 and up compile warning-
   free under -Wall -Wextra -Wpedantic -Wconversion -Wshadow -Wcast-align).

   WHAT IT IS
      Thread-local heaps of pages, each page serving one block size from three
      free lists (`free` for allocation, `local_free` for frees by the owning
      thread, atomic `thread_free` for frees by other threads); pages live in
      4 MiB segments aligned to their size, so `free(p)` finds the page of `p`
      with a mask and a shift. Allocation and local free take a handful of
      instructions and no atomics; a free from another thread is one CAS.
      Threads that exit abandon their segments; other threads reclaim them.

   CONFIGURATION FLAGS (numbers, always tested with #if; define before the
   implementation include, 0 = off unless noted)
      MIALLOC_STATIC         1: every function has internal linkage (static)
      MIALLOC_DEBUG          0..3: 1 checks API misuse (double free, bad
                             pointer), 2 adds internal asserts, 3 walks every
                             page and queue invariant (slow)
      MIALLOC_SECURE         0..4: 1 guard pages after segment metadata;
                             2 free-list links encoded with per-page keys and
                             checked on every use (a use-after-free write to a
                             link is reported, not followed); 3 randomised
                             free-list order; 4 a padding canary after every
                             block and double-free detection on every free
      MIALLOC_MIMALLOC_NAMES 1: map mimalloc's names (mi_malloc, mi_heap_t,
                             mi_option_verbose, ...) onto ours
      MIALLOC_OVERRIDE       1: this translation unit also defines malloc, free,
                             calloc, realloc, aligned_alloc, posix_memalign, ...
                             (glibc semantics) and, in C++, every operator
                             new/delete: the whole program then allocates
                             with mialloc (Linux/BSD; macOS interposes; not on
                             Windows). `make shared` builds libmialloc.so for
                             LD_PRELOAD the same way.
      MIALLOC_STATS          1: exact per-heap peaks and per-size-class counters,
                             kept by each heap's owner without atomics (adds
                             a few instructions to malloc and free)
      MIALLOC_HOOKS          1: profiler callbacks (mia_hooks_set) on every
                             allocation, free and realloc; 0: they cost nothing
      MIALLOC_NO_OS          1: no OS layer: memory comes only from arenas the
                             program hands over (mia_manage_os_memory_ex)
      MIALLOC_SINGLE_THREAD  1: one thread only: no atomics, no TLS, no
                             pthread or Win32 thread calls (mia_thread_done
                             keeps the thread's heaps); with MIALLOC_NO_OS
                             the file builds -ffreestanding and needs only
                             memset, memcpy and memmove (and, on cores
                             without them, libgcc's bit-scan and division
                             helpers: see GEOMETRY AND METADATA)
      MIALLOC_SMALL_OBJ_SIZE_MAX  largest block in a small page (default:
                             small page / 8); small-memory builds raise it
      MIALLOC_VALGRIND       1: tell valgrind's memcheck which blocks are
                             live (needs <valgrind/memcheck.h>)
      MIALLOC_NO_SIMD        1: never use the AVX2 paths (the run-time
                             dispatch then always picks the scalar code)
      MIALLOC_FOREIGN_CHECK  1 (default): free, realloc and usable_size of a
                             pointer mialloc never handed out (a static array,
                             another allocator's block, an unmapped address)
                             report it through the error callback and ignore
                             it. free's fast path asks a table of the calling
                             thread's own segments (one thread-local load,
                             no segment header read), so only a miss reads
                             the map of all our segments: malloc(32)+free is
                             28 instructions either way (make bench-instr). 0:
                             release builds skip the map too, such a pointer
                             is undefined behaviour (debug and secure builds
                             always check)
      MIALLOC_SEGMENT_SHIFT  log2 of the segment size (default 22: 4 MiB;
                             with MIALLOC_NO_OS 14: 16 KiB)
      MIALLOC_SMALL_PAGE_SHIFT  log2 of a small page (default 16: 64 KiB;
                             with MIALLOC_NO_OS 11: 2 KiB)
      MIALLOC_MEDIUM_PAGE_SHIFT log2 of a medium page (default 19: 512 KiB;
                             with MIALLOC_NO_OS 13: 8 KiB)
                             The MIALLOC_NO_OS defaults apply when none of
                             the three is defined.

   GEOMETRY AND METADATA (per segment: header, page slots, 128 bytes per
   page descriptor, rounded up to the OS page -- 256 bytes with
   MIALLOC_NO_OS; measured on x86-64)
      default (22/16/19)          small and large segments 12 KiB of 4 MiB
                                  (0.3%), medium 4 KiB (0.1%)
      MIALLOC_NO_OS (14/11/13)    1.25 KiB of each 16 KiB segment (7.8%).
                                  Blocks over 8 KiB take whole segments; an
                                  arena uses at most 1024 segments (16 MiB).
                                  A 256 KiB buffer aligned only to 16 bytes
                                  holds 63.5% of its size in live blocks at
                                  the first NULL for random sizes 8..2048
                                  (17 random sequences: 60.8-67.2%), since at
                                  most one 16 KiB segment of it is lost to
                                  alignment
      17/12/14, SMALL_OBJ 2048    128 KiB segments: 4.5 KiB of metadata each
                                  (3.5%); the same 256 KiB buffer holds 65.7%
                                  if aligned to 128 KiB, 26% if not
      Cortex-M4 (-Os, NO_OS + SINGLE_THREAD, the defaults): 12.3 KiB of
      .text + .rodata, 6.0 KiB .bss; only memset and memcpy referenced.
      Cortex-M0: 13.0 KiB, and libgcc's __clzsi2, __ctzsi2, __aeabi_uidiv
      and __aeabi_uidivmod; RISC-V rv32imac: 15.3 KiB, __clzsi2, __ctzsi2.
      Under -Os (__OPTIMIZE_SIZE__) the fast paths are plain `static
      inline`: the compiler decides what to inline (-1.4 KiB on rv32imac).

   REDEFINABLE HOOKS
      MIALLOC_ASSERT(c)      the check used by MIALLOC_DEBUG (default: print
                             the failed condition and abort)
      mia_os_hooks_set()     at run time: where memory comes from (reserve,
                             release, commit, decommit, protect, page size);
                             the POSIX and Windows layers are the defaults

   RUN-TIME OPTIONS (mia_option_set, or the environment at first use)
      MIALLOC_VERBOSE=1          print informational messages
      MIALLOC_SHOW_ERRORS=1      print error messages (default on in debug)
      MIALLOC_SHOW_STATS=1       print statistics at process exit
      MIALLOC_PURGE_DELAY=N      milliseconds before freed memory is returned
                                 to the OS (default 10; 0 = at once, -1 = never)
      MIALLOC_LARGE_OS_PAGES=1   ask the OS for 2 MiB pages (transparent huge
                                 pages on Linux) for every segment: fewer page
                                 faults, a resident set in 2 MiB steps (the
                                 README measures both)
      MIALLOC_THP_MIN_SEGMENTS=N a thread's new segments go on transparent 2 MiB
                                 pages once it owns N of them (default 8:
                                 32 MiB; 0 = every segment; -1 = none); the
                                 README measures the trade-off
      MIALLOC_ALLOW_THP=0        no transparent 2 MiB pages at all (default 1:
                                 huge blocks, and segments as above)
      MIALLOC_SEGMENT_CACHE=N    free segments a thread keeps for reuse, purged
                                 after the purge delay (default 16)
      MIALLOC_MAX_ERRORS=N       stop printing errors after N (default 16)

   THREADING MODEL
      Every thread allocates from its own default heap, created on its first
      allocation; no lock is taken on the owner's allocation or free paths.
      Any thread may free any block. A heap made with mia_heap_new belongs to
      the thread that made it, which allocates from it lock-free; other
      threads may allocate from it too (through its shared part, one
      uncontended lock per allocation), delete or destroy it (see
      mia_heap_s). A heap lives until mia_heap_delete or mia_heap_destroy,
      whoever calls it: when its creator exits first, its pages join its
      shared part, and the heap stays usable from every thread until then.
      Each heap's pages lie in segments of its own, so its memory changes
      hands whole. At thread exit the thread's segments are abandoned and
      later reclaimed by other threads; the segments of an exclusive arena are given back to it by the
      next heap of that arena that runs out of memory there, or by
      mia_collect(true). MIALLOC_SINGLE_THREAD builds assume one thread.

   API SUMMARY
      basic        mia_malloc mia_calloc mia_realloc mia_free mia_zalloc ...
      aligned      mia_malloc_aligned mia_malloc_aligned_at ... mia_posix_memalign
      heaps        mia_heap_new mia_heap_delete mia_heap_destroy mia_heap_malloc ...
      introspect   mia_usable_size mia_heap_visit_blocks mia_check_owned ...
      process      mia_collect mia_thread_init mia_thread_done mia_process_info
      budgets      mia_heap_set_limit mia_heap_set_name mia_heap_stats_get
                   mia_stats_get mia_stats_print_json mia_hooks_set
      arenas       mia_manage_os_memory_ex mia_heap_new_in_arena mia_os_hooks_set
      C++          mia_stl_allocator mia_heap_stl_allocator mia_heap_destroy_stl_allocator
      options      mia_option_get mia_option_set ... mia_stats_print_out
      mimalloc 3.x mia_umalloc mia_urealloc mia_ufree ... mia_realpath
                   mia_reserve_os_memory mia_arena_area mia_malloc_tp ...

   MEASURED (valgrind callgrind, instructions per malloc/free pair net of the
   loop, x86-64, clang-19 -O2, header included): one 32-byte size 35, sizes
   cycling 16..1024 44, 1000 mallocs then 1000 frees 36; single-thread build
   33 against 35. Time ratios against the peers: `make bench`.

   LICENSE
      Dual licensed: MIT or public domain (Unlicense); see the end of the file.
*/
#ifndef MIALLOC_H
#define MIALLOC_H

#define MIALLOC_VERSION_MAJOR 0
#define MIALLOC_VERSION_MINOR 1
#define MIALLOC_VERSION_PATCH 0
#define MIALLOC_VERSION (MIALLOC_VERSION_MAJOR * 10000 + MIALLOC_VERSION_MINOR * 100 + MIALLOC_VERSION_PATCH)

#ifndef MIALLOC_STATIC
#define MIALLOC_STATIC 0
#endif
#ifndef MIALLOC_MIMALLOC_NAMES
#define MIALLOC_MIMALLOC_NAMES 0
#endif

#if MIALLOC_STATIC
#define MIALLOC_DEF static
#else
#define MIALLOC_DEF extern
#endif

/* The implementation needs mmap's MAP_ANONYMOUS and madvise, which glibc
   hides under strict ISO modes (-std=c11). When this is the first system
   include of the file, asking for the default feature set here is enough; if
   the user's file included a system header first, the implementation
   declares what is missing itself (see >>os). */
#if defined(MIALLOC_IMPLEMENTATION) && !defined(MIALLOC_IMPLEMENTATION_INCLUDED) && defined(__linux__) && \
    !defined(_DEFAULT_SOURCE) && !defined(_GNU_SOURCE) && !defined(_BSD_SOURCE)
#define _DEFAULT_SOURCE 1
#endif

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#if defined(__GNUC__) || defined(__clang__)
#define MIALLOC_ATTR_MALLOC __attribute__((malloc))
#define MIALLOC_ATTR_ALLOC_SIZE(i) __attribute__((alloc_size(i)))
#define MIALLOC_ATTR_ALLOC_SIZE2(i, j) __attribute__((alloc_size(i, j)))
#define MIALLOC_ATTR_ALLOC_ALIGN(i) __attribute__((alloc_align(i)))
#define MIALLOC_ATTR_NODISCARD __attribute__((warn_unused_result))
#else
#define MIALLOC_ATTR_MALLOC
#define MIALLOC_ATTR_ALLOC_SIZE(i)
#define MIALLOC_ATTR_ALLOC_SIZE2(i, j)
#define MIALLOC_ATTR_ALLOC_ALIGN(i)
#define MIALLOC_ATTR_NODISCARD
#endif
/* An allocating function: fresh memory (never on realloc, which may return its argument). */
#define MIALLOC_ALLOC MIALLOC_ATTR_NODISCARD MIALLOC_ATTR_MALLOC

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------------------
   Types
--------------------------------------------------------------------------- */

/* A first-class heap: a set of pages one thread allocates from. */
typedef struct mia_heap_s mia_heap_t;

/* One page of a heap as seen by mia_heap_visit_blocks: blocks of one size. */
typedef struct mia_heap_area_s {
  void*  blocks;          /* start of the page's block area */
  size_t reserved;        /* bytes reserved for blocks in this area */
  size_t committed;       /* bytes committed (of reserved) */
  size_t used;            /* live blocks in this area */
  size_t block_size;      /* usable size of one block */
  size_t full_block_size; /* size of one block with padding and metadata */
} mia_heap_area_t;

/* Called per area (block == NULL) and, if asked, per live block; return false to stop. */
typedef bool (mia_block_visit_fun)(const mia_heap_t* heap, const mia_heap_area_t* area, void* block, size_t block_size, void* arg);
/* Receives every message the allocator prints (statistics, warnings, errors). */
typedef void (mia_output_fun)(const char* msg, void* arg);
/* Called on every error with its errno code (ENOMEM, EINVAL, EFAULT for corruption, EAGAIN for a double free). */
typedef void (mia_error_fun)(int err, void* arg);
/* Called from the allocator's slow path so a program can free memory it holds lazily. */
typedef void (mia_deferred_free_fun)(bool force, unsigned long long heartbeat, void* arg);

/* ---------------------------------------------------------------------------
   Basic allocation
   Thread safety: every function here may be called from any thread; a block
   may be freed by a thread other than the one that allocated it.
--------------------------------------------------------------------------- */

/* Allocate `size` bytes (size 0 gives a unique pointer); NULL with errno ENOMEM on failure. */
MIALLOC_DEF MIALLOC_ALLOC MIALLOC_ATTR_ALLOC_SIZE(1) void* mia_malloc(size_t size);
/* Allocate `count * size` zeroed bytes; NULL with ENOMEM if the product overflows. */
MIALLOC_DEF MIALLOC_ALLOC MIALLOC_ATTR_ALLOC_SIZE2(1, 2) void* mia_calloc(size_t count, size_t size);
/* Resize `p` to `newsize`, keeping its contents; in place when it fits; NULL leaves `p` intact. */
MIALLOC_DEF MIALLOC_ATTR_NODISCARD MIALLOC_ATTR_ALLOC_SIZE(2) void* mia_realloc(void* p, size_t newsize);
/* Free `p`; NULL is a no-op. */
MIALLOC_DEF void mia_free(void* p);
/* Allocate `size` zeroed bytes. */
MIALLOC_DEF MIALLOC_ALLOC MIALLOC_ATTR_ALLOC_SIZE(1) void* mia_zalloc(size_t size);
/* mia_malloc for a size known to be <= MIALLOC_SMALL_SIZE_MAX (1 KiB): skips the size test. */
MIALLOC_DEF MIALLOC_ALLOC MIALLOC_ATTR_ALLOC_SIZE(1) void* mia_malloc_small(size_t size);
/* mia_zalloc for a size <= MIALLOC_SMALL_SIZE_MAX. */
MIALLOC_DEF MIALLOC_ALLOC MIALLOC_ATTR_ALLOC_SIZE(1) void* mia_zalloc_small(size_t size);
/* Allocate `count * size` bytes (not zeroed); NULL with ENOMEM on overflow. */
MIALLOC_DEF MIALLOC_ALLOC MIALLOC_ATTR_ALLOC_SIZE2(1, 2) void* mia_mallocn(size_t count, size_t size);
/* Resize `p` to `count * size` bytes; NULL with ENOMEM on overflow (p intact). */
MIALLOC_DEF MIALLOC_ATTR_NODISCARD MIALLOC_ATTR_ALLOC_SIZE2(2, 3) void* mia_reallocn(void* p, size_t count, size_t size);
/* Like mia_realloc but frees `p` when it fails (so a failed resize never leaks). */
MIALLOC_DEF MIALLOC_ATTR_NODISCARD MIALLOC_ATTR_ALLOC_SIZE(2) void* mia_reallocf(void* p, size_t newsize);
/* Resize in place only: `p` if `newsize` fits in the block, otherwise NULL (p untouched). */
MIALLOC_DEF MIALLOC_ATTR_NODISCARD void* mia_expand(void* p, size_t newsize);
/* Resize to `newcount * size` bytes; bytes past the old size are zeroed (p must come from a zeroing call). */
MIALLOC_DEF MIALLOC_ATTR_NODISCARD MIALLOC_ATTR_ALLOC_SIZE2(2, 3) void* mia_recalloc(void* p, size_t newcount, size_t size);
/* Resize to `newsize`; bytes past the old usable size are zeroed (p must come from a zeroing call). */
MIALLOC_DEF MIALLOC_ATTR_NODISCARD MIALLOC_ATTR_ALLOC_SIZE(2) void* mia_rezalloc(void* p, size_t newsize);
/* Copy the string `s` into a new block; NULL if s is NULL or memory runs out. */
MIALLOC_DEF MIALLOC_ALLOC char* mia_strdup(const char* s);
/* Copy at most `n` characters of `s` into a new, terminated block. */
MIALLOC_DEF MIALLOC_ALLOC char* mia_strndup(const char* s, size_t n);
/* Bytes usable in the block `p` (>= the size asked for); 0 for NULL. */
MIALLOC_DEF size_t mia_usable_size(const void* p);
/* The usable size an allocation of `size` bytes would get. */
MIALLOC_DEF size_t mia_good_size(size_t size);
/* Free `p` that was allocated with `size` bytes (checked under MIALLOC_DEBUG). */
MIALLOC_DEF void mia_free_size(void* p, size_t size);

/* ---------------------------------------------------------------------------
   Aligned allocation. `alignment` must be a power of two (else NULL, EINVAL);
   the `_at` forms align `p + offset` instead of `p`.
--------------------------------------------------------------------------- */

/* Allocate `size` bytes aligned to `alignment`. */
MIALLOC_DEF MIALLOC_ALLOC MIALLOC_ATTR_ALLOC_SIZE(1) MIALLOC_ATTR_ALLOC_ALIGN(2) void* mia_malloc_aligned(size_t size, size_t alignment);
/* Allocate `size` bytes such that `p + offset` is aligned to `alignment`. */
MIALLOC_DEF MIALLOC_ALLOC MIALLOC_ATTR_ALLOC_SIZE(1) void* mia_malloc_aligned_at(size_t size, size_t alignment, size_t offset);
/* Allocate `size` zeroed bytes aligned to `alignment`. */
MIALLOC_DEF MIALLOC_ALLOC MIALLOC_ATTR_ALLOC_SIZE(1) MIALLOC_ATTR_ALLOC_ALIGN(2) void* mia_zalloc_aligned(size_t size, size_t alignment);
/* Allocate zeroed bytes such that `p + offset` is aligned. */
MIALLOC_DEF MIALLOC_ALLOC MIALLOC_ATTR_ALLOC_SIZE(1) void* mia_zalloc_aligned_at(size_t size, size_t alignment, size_t offset);
/* Allocate `count * size` zeroed bytes aligned to `alignment`. */
MIALLOC_DEF MIALLOC_ALLOC MIALLOC_ATTR_ALLOC_SIZE2(1, 2) MIALLOC_ATTR_ALLOC_ALIGN(3) void* mia_calloc_aligned(size_t count, size_t size, size_t alignment);
/* Allocate `count * size` zeroed bytes with `p + offset` aligned. */
MIALLOC_DEF MIALLOC_ALLOC MIALLOC_ATTR_ALLOC_SIZE2(1, 2) void* mia_calloc_aligned_at(size_t count, size_t size, size_t alignment, size_t offset);
/* Resize `p` keeping `alignment`. */
MIALLOC_DEF MIALLOC_ATTR_NODISCARD MIALLOC_ATTR_ALLOC_SIZE(2) MIALLOC_ATTR_ALLOC_ALIGN(3) void* mia_realloc_aligned(void* p, size_t newsize, size_t alignment);
/* Resize `p` keeping `p + offset` aligned. */
MIALLOC_DEF MIALLOC_ATTR_NODISCARD MIALLOC_ATTR_ALLOC_SIZE(2) void* mia_realloc_aligned_at(void* p, size_t newsize, size_t alignment, size_t offset);
/* Resize an aligned zeroed block, zeroing the new tail. */
MIALLOC_DEF MIALLOC_ATTR_NODISCARD MIALLOC_ATTR_ALLOC_SIZE(2) MIALLOC_ATTR_ALLOC_ALIGN(3) void* mia_rezalloc_aligned(void* p, size_t newsize, size_t alignment);
/* Resize an aligned-at zeroed block, zeroing the new tail. */
MIALLOC_DEF MIALLOC_ATTR_NODISCARD MIALLOC_ATTR_ALLOC_SIZE(2) void* mia_rezalloc_aligned_at(void* p, size_t newsize, size_t alignment, size_t offset);
/* Resize an aligned zeroed array, zeroing the new tail. */
MIALLOC_DEF MIALLOC_ATTR_NODISCARD MIALLOC_ATTR_ALLOC_SIZE2(2, 3) MIALLOC_ATTR_ALLOC_ALIGN(4) void* mia_recalloc_aligned(void* p, size_t newcount, size_t size, size_t alignment);
/* Resize an aligned-at zeroed array, zeroing the new tail. */
MIALLOC_DEF MIALLOC_ATTR_NODISCARD MIALLOC_ATTR_ALLOC_SIZE2(2, 3) void* mia_recalloc_aligned_at(void* p, size_t newcount, size_t size, size_t alignment, size_t offset);
/* Free an aligned block (the alignment is checked under MIALLOC_DEBUG). */
MIALLOC_DEF void mia_free_aligned(void* p, size_t alignment);
/* Free an aligned block of `size` bytes (both checked under MIALLOC_DEBUG). */
MIALLOC_DEF void mia_free_size_aligned(void* p, size_t size, size_t alignment);

/* ---------------------------------------------------------------------------
   POSIX and glibc compatible forms (same semantics as the C library's)
--------------------------------------------------------------------------- */

/* Store an aligned block in *p; returns 0, EINVAL (bad alignment, *p untouched) or ENOMEM. */
MIALLOC_DEF int mia_posix_memalign(void** p, size_t alignment, size_t size);
/* Allocate `size` bytes aligned to `alignment` (glibc memalign). */
MIALLOC_DEF MIALLOC_ALLOC MIALLOC_ATTR_ALLOC_SIZE(2) MIALLOC_ATTR_ALLOC_ALIGN(1) void* mia_memalign(size_t alignment, size_t size);
/* Allocate `size` bytes aligned to the OS page size. */
MIALLOC_DEF MIALLOC_ALLOC MIALLOC_ATTR_ALLOC_SIZE(1) void* mia_valloc(size_t size);
/* Allocate `size` rounded up to whole OS pages, page aligned. */
MIALLOC_DEF MIALLOC_ALLOC void* mia_pvalloc(size_t size);
/* C11 aligned_alloc (any size is accepted, as glibc does). */
MIALLOC_DEF MIALLOC_ALLOC MIALLOC_ATTR_ALLOC_SIZE(2) MIALLOC_ATTR_ALLOC_ALIGN(1) void* mia_aligned_alloc(size_t alignment, size_t size);
/* Resize `p` to `count * size`; NULL with ENOMEM on overflow (p intact). */
MIALLOC_DEF MIALLOC_ATTR_NODISCARD MIALLOC_ATTR_ALLOC_SIZE2(2, 3) void* mia_reallocarray(void* p, size_t count, size_t size);
/* NetBSD reallocarr: `p` points to the pointer to resize; returns 0 or an errno code (pointer intact). */
MIALLOC_DEF int mia_reallocarr(void* p, size_t count, size_t size);
/* glibc malloc_usable_size. */
MIALLOC_DEF size_t mia_malloc_usable_size(const void* p);
/* Old name of free. */
MIALLOC_DEF void mia_cfree(void* p);

/* ---------------------------------------------------------------------------
   First-class heaps
   Thread safety: any thread may allocate from any heap, collect, delete or
   destroy it. The thread that created a heap (its owner) allocates without
   a lock; another thread allocates through the heap's shared part, under a
   lock taken per call. Blocks of any heap may be freed by any thread
   (mia_free). See THREADING MODEL in the doc block.
--------------------------------------------------------------------------- */

/* Create a new heap owned by the calling thread (it allocates from it lock-free);
   NULL on failure. The heap lives until mia_heap_delete or mia_heap_destroy,
   from any thread, even after the calling thread exits. */
MIALLOC_DEF mia_heap_t* mia_heap_new(void);
/* Delete a heap; its live blocks move to the thread's backing heap and stay valid. */
MIALLOC_DEF void mia_heap_delete(mia_heap_t* heap);
/* Destroy a heap and free all its blocks at once (no block of it may be used afterwards). */
MIALLOC_DEF void mia_heap_destroy(mia_heap_t* heap);
/* Make `heap` the calling thread's default (used by mia_malloc); returns the previous default. */
MIALLOC_DEF mia_heap_t* mia_heap_set_default(mia_heap_t* heap);
/* The calling thread's default heap. */
MIALLOC_DEF mia_heap_t* mia_heap_get_default(void);
/* The calling thread's backing heap (the one its thread-local allocations start in). */
MIALLOC_DEF mia_heap_t* mia_heap_get_backing(void);
/* Release free memory of `heap` (force: also memory kept for quick reuse). */
MIALLOC_DEF void mia_heap_collect(mia_heap_t* heap, bool force);

/* mia_malloc from `heap`. */
MIALLOC_DEF MIALLOC_ALLOC MIALLOC_ATTR_ALLOC_SIZE(2) void* mia_heap_malloc(mia_heap_t* heap, size_t size);
/* mia_zalloc from `heap`. */
MIALLOC_DEF MIALLOC_ALLOC MIALLOC_ATTR_ALLOC_SIZE(2) void* mia_heap_zalloc(mia_heap_t* heap, size_t size);
/* mia_calloc from `heap`. */
MIALLOC_DEF MIALLOC_ALLOC MIALLOC_ATTR_ALLOC_SIZE2(2, 3) void* mia_heap_calloc(mia_heap_t* heap, size_t count, size_t size);
/* mia_malloc_small from `heap`. */
MIALLOC_DEF MIALLOC_ALLOC MIALLOC_ATTR_ALLOC_SIZE(2) void* mia_heap_malloc_small(mia_heap_t* heap, size_t size);
/* mia_zalloc_small from `heap`. */
MIALLOC_DEF MIALLOC_ALLOC MIALLOC_ATTR_ALLOC_SIZE(2) void* mia_heap_zalloc_small(mia_heap_t* heap, size_t size);
/* mia_mallocn from `heap`. */
MIALLOC_DEF MIALLOC_ALLOC MIALLOC_ATTR_ALLOC_SIZE2(2, 3) void* mia_heap_mallocn(mia_heap_t* heap, size_t count, size_t size);
/* mia_realloc within `heap` (a moved block comes from `heap`). */
MIALLOC_DEF MIALLOC_ATTR_NODISCARD MIALLOC_ATTR_ALLOC_SIZE(3) void* mia_heap_realloc(mia_heap_t* heap, void* p, size_t newsize);
/* mia_reallocn within `heap`. */
MIALLOC_DEF MIALLOC_ATTR_NODISCARD MIALLOC_ATTR_ALLOC_SIZE2(3, 4) void* mia_heap_reallocn(mia_heap_t* heap, void* p, size_t count, size_t size);
/* mia_reallocf within `heap`. */
MIALLOC_DEF MIALLOC_ATTR_NODISCARD MIALLOC_ATTR_ALLOC_SIZE(3) void* mia_heap_reallocf(mia_heap_t* heap, void* p, size_t newsize);
/* mia_recalloc within `heap`. */
MIALLOC_DEF MIALLOC_ATTR_NODISCARD MIALLOC_ATTR_ALLOC_SIZE2(3, 4) void* mia_heap_recalloc(mia_heap_t* heap, void* p, size_t newcount, size_t size);
/* mia_rezalloc within `heap`. */
MIALLOC_DEF MIALLOC_ATTR_NODISCARD MIALLOC_ATTR_ALLOC_SIZE(3) void* mia_heap_rezalloc(mia_heap_t* heap, void* p, size_t newsize);
/* mia_strdup from `heap`. */
MIALLOC_DEF MIALLOC_ALLOC char* mia_heap_strdup(mia_heap_t* heap, const char* s);
/* mia_strndup from `heap`. */
MIALLOC_DEF MIALLOC_ALLOC char* mia_heap_strndup(mia_heap_t* heap, const char* s, size_t n);
/* mia_malloc_aligned from `heap`. */
MIALLOC_DEF MIALLOC_ALLOC MIALLOC_ATTR_ALLOC_SIZE(2) MIALLOC_ATTR_ALLOC_ALIGN(3) void* mia_heap_malloc_aligned(mia_heap_t* heap, size_t size, size_t alignment);
/* mia_malloc_aligned_at from `heap`. */
MIALLOC_DEF MIALLOC_ALLOC MIALLOC_ATTR_ALLOC_SIZE(2) void* mia_heap_malloc_aligned_at(mia_heap_t* heap, size_t size, size_t alignment, size_t offset);
/* mia_zalloc_aligned from `heap`. */
MIALLOC_DEF MIALLOC_ALLOC MIALLOC_ATTR_ALLOC_SIZE(2) MIALLOC_ATTR_ALLOC_ALIGN(3) void* mia_heap_zalloc_aligned(mia_heap_t* heap, size_t size, size_t alignment);
/* mia_zalloc_aligned_at from `heap`. */
MIALLOC_DEF MIALLOC_ALLOC MIALLOC_ATTR_ALLOC_SIZE(2) void* mia_heap_zalloc_aligned_at(mia_heap_t* heap, size_t size, size_t alignment, size_t offset);
/* mia_calloc_aligned from `heap`. */
MIALLOC_DEF MIALLOC_ALLOC MIALLOC_ATTR_ALLOC_SIZE2(2, 3) MIALLOC_ATTR_ALLOC_ALIGN(4) void* mia_heap_calloc_aligned(mia_heap_t* heap, size_t count, size_t size, size_t alignment);
/* mia_calloc_aligned_at from `heap`. */
MIALLOC_DEF MIALLOC_ALLOC MIALLOC_ATTR_ALLOC_SIZE2(2, 3) void* mia_heap_calloc_aligned_at(mia_heap_t* heap, size_t count, size_t size, size_t alignment, size_t offset);
/* mia_realloc_aligned within `heap`. */
MIALLOC_DEF MIALLOC_ATTR_NODISCARD MIALLOC_ATTR_ALLOC_SIZE(3) MIALLOC_ATTR_ALLOC_ALIGN(4) void* mia_heap_realloc_aligned(mia_heap_t* heap, void* p, size_t newsize, size_t alignment);
/* mia_realloc_aligned_at within `heap`. */
MIALLOC_DEF MIALLOC_ATTR_NODISCARD MIALLOC_ATTR_ALLOC_SIZE(3) void* mia_heap_realloc_aligned_at(mia_heap_t* heap, void* p, size_t newsize, size_t alignment, size_t offset);
/* mia_rezalloc_aligned within `heap`. */
MIALLOC_DEF MIALLOC_ATTR_NODISCARD MIALLOC_ATTR_ALLOC_SIZE(3) MIALLOC_ATTR_ALLOC_ALIGN(4) void* mia_heap_rezalloc_aligned(mia_heap_t* heap, void* p, size_t newsize, size_t alignment);
/* mia_rezalloc_aligned_at within `heap`. */
MIALLOC_DEF MIALLOC_ATTR_NODISCARD MIALLOC_ATTR_ALLOC_SIZE(3) void* mia_heap_rezalloc_aligned_at(mia_heap_t* heap, void* p, size_t newsize, size_t alignment, size_t offset);
/* mia_recalloc_aligned within `heap`. */
MIALLOC_DEF MIALLOC_ATTR_NODISCARD MIALLOC_ATTR_ALLOC_SIZE2(3, 4) MIALLOC_ATTR_ALLOC_ALIGN(5) void* mia_heap_recalloc_aligned(mia_heap_t* heap, void* p, size_t newcount, size_t size, size_t alignment);
/* mia_recalloc_aligned_at within `heap`. */
MIALLOC_DEF MIALLOC_ATTR_NODISCARD MIALLOC_ATTR_ALLOC_SIZE2(3, 4) void* mia_heap_recalloc_aligned_at(mia_heap_t* heap, void* p, size_t newcount, size_t size, size_t alignment, size_t offset);

/* ---------------------------------------------------------------------------
   Introspection
   Thread safety: the heap functions must be called by the heap's owner.
--------------------------------------------------------------------------- */

/* True if `p` points into a block (live or free) of a page owned by `heap`. */
MIALLOC_DEF bool mia_heap_contains_block(mia_heap_t* heap, const void* p);
/* True if `p` is the start of (or inside) a block that `heap` handed out. Slower: walks the heap's pages. */
MIALLOC_DEF bool mia_heap_check_owned(mia_heap_t* heap, const void* p);
/* mia_heap_check_owned on the calling thread's default heap. */
MIALLOC_DEF bool mia_check_owned(const void* p);
/* Visit every page area of `heap` and, if visit_all_blocks, every live block; false if the visitor stopped early. */
MIALLOC_DEF bool mia_heap_visit_blocks(const mia_heap_t* heap, bool visit_all_blocks, mia_block_visit_fun* visitor, void* arg);

/* ---------------------------------------------------------------------------
   Process and threads
--------------------------------------------------------------------------- */

/* Release free memory of the calling thread (force: everything it can, and reclaim abandoned segments). */
MIALLOC_DEF void mia_collect(bool force);
/* Set up the calling thread's heap now (otherwise done on first allocation). */
MIALLOC_DEF void mia_thread_init(void);
/* Tear down the calling thread's heaps now (otherwise done at thread exit); live blocks stay valid.
   MIALLOC_SINGLE_THREAD: the one thread keeps its heaps; this is mia_collect(true). */
MIALLOC_DEF void mia_thread_done(void);
/* Process figures; any argument may be NULL. RSS and commit in bytes, times in milliseconds. */
MIALLOC_DEF void mia_process_info(size_t* elapsed_msecs, size_t* user_msecs, size_t* system_msecs, size_t* current_rss, size_t* peak_rss, size_t* current_commit, size_t* peak_commit, size_t* page_faults);
/* MIALLOC_VERSION of the implementation. */
MIALLOC_DEF int mia_version(void);
/* Send the allocator's messages to `out` (NULL: back to stderr). Thread safety: call before threads start. */
MIALLOC_DEF void mia_register_output(mia_output_fun* out, void* arg);
/* Call `fun` on every error (NULL: none). Thread safety: call before threads start. */
MIALLOC_DEF void mia_register_error(mia_error_fun* fun, void* arg);
/* Call `fun` from the slow path so the program can release lazily held memory. */
MIALLOC_DEF void mia_register_deferred_free(mia_deferred_free_fun* fun, void* arg);
/* Print the statistics through `out` (NULL: the registered output). */
MIALLOC_DEF void mia_stats_print_out(mia_output_fun* out, void* arg);
/* Print the statistics to the registered output (`out` is ignored; kept for mimalloc). */
MIALLOC_DEF void mia_stats_print(void* out);
/* Reset the statistics counters (peaks start again from the current values). */
MIALLOC_DEF void mia_stats_reset(void);
/* Kept for mimalloc compatibility: statistics are process wide already. */
MIALLOC_DEF void mia_stats_merge(void);

/* ---------------------------------------------------------------------------
   Budgets, names and statistics (game engines: a budget per subsystem, live
   numbers for a debug overlay).
--------------------------------------------------------------------------- */

/* Limit the bytes of pages `heap` holds (its shared part included) to `bytes`; 0: no limit.
   An allocation that needs a fresh page past it fails with ENOMEM and calls the error function.
   Thread safety: any thread. */
MIALLOC_DEF void mia_heap_set_limit(mia_heap_t* heap, size_t bytes);
/* The heap's limit (0: none). */
MIALLOC_DEF size_t mia_heap_get_limit(const mia_heap_t* heap);
/* Name the heap (copied, at most 31 characters) for profilers and statistics. */
MIALLOC_DEF void mia_heap_set_name(mia_heap_t* heap, const char* name);
/* The heap's name ("" if none). */
MIALLOC_DEF const char* mia_heap_get_name(const mia_heap_t* heap);

/* One heap's figures, gathered on request from its pages (no cost per block). */
typedef struct mia_heap_stats_s {
  size_t live_bytes;       /* bytes in live blocks (usable sizes) */
  size_t live_blocks;      /* live blocks */
  size_t committed_bytes;  /* bytes of the heap's pages: what its limit counts */
  size_t pages;            /* pages the heap holds */
  size_t peak_live_bytes;  /* MIALLOC_STATS: highest live_bytes since creation or reset (else 0) */
  size_t allocs;           /* MIALLOC_STATS: blocks allocated (else 0) */
  size_t frees;            /* MIALLOC_STATS: blocks freed (else 0) */
} mia_heap_stats_t;
/* Fill `stats` for `heap` (with its shared part). Thread safety: call from the heap's owner,
   or from any thread while the owner does not use the heap; false for NULL arguments. */
MIALLOC_DEF bool mia_heap_stats_get(mia_heap_t* heap, mia_heap_stats_t* stats);

/* The process's figures. */
typedef struct mia_stats_s {
  size_t reserved, reserved_peak;    /* bytes reserved from the OS and arenas */
  size_t committed, committed_peak;  /* bytes committed */
  size_t segments, segments_peak;
  size_t pages, pages_peak;
  size_t huge_blocks;                /* blocks of their own segment: live, or the heap's one kept for the next (retired) */
  size_t threads;                    /* threads with a heap */
  size_t abandoned;                  /* segments of exited threads not yet reclaimed */
  size_t purged_total;               /* bytes given back to the OS so far */
  size_t os_reserves;                /* calls that reserved memory */
} mia_stats_t;
/* Fill `stats` (any thread). */
MIALLOC_DEF void mia_stats_get(mia_stats_t* stats);
/* Print the process figures and the calling thread's heaps as one JSON object through `out` (NULL: the registered output). */
MIALLOC_DEF void mia_stats_print_json(mia_output_fun* out, void* arg);

/* ---------------------------------------------------------------------------
   Profiler hooks (compiled in with MIALLOC_HOOKS=1; otherwise they cost
   nothing and mia_hooks_set returns false). Sizes are usable sizes. A
   realloc is one realloc call (old pointer NULL: a fresh block); every block
   mia_heap_destroy releases gets a free call. Called on the thread that
   allocates or frees; a hook must not allocate with mialloc.
--------------------------------------------------------------------------- */
typedef struct mia_hooks_s {
  /* A block was handed out. */
  void (*alloc)(const mia_heap_t* heap, void* p, size_t size, void* arg);
  /* A block is about to be freed. */
  void (*free)(const mia_heap_t* heap, void* p, size_t size, void* arg);
  /* A block moved or grew: `old_p` (NULL if none) is gone, `new_p` holds `new_size` bytes. */
  void (*realloc)(const mia_heap_t* heap, void* old_p, void* new_p, size_t new_size, void* arg);
  /* 0: every allocation calls `alloc`; N: about one call per N bytes allocated (sampling). */
  size_t sample_bytes;
  /* Passed to every hook. */
  void* arg;
} mia_hooks_t;
/* Install hooks (NULL: none). Thread safety: call before other threads allocate. */
MIALLOC_DEF bool mia_hooks_set(const mia_hooks_t* hooks);

/* ---------------------------------------------------------------------------
   Arenas: memory the program hands over (a static buffer, a region it
   reserved itself). The allocator carves segments out of it. An exclusive
   arena serves only heaps created in it (mia_heap_new_in_arena); when it is
   full, their allocations fail with ENOMEM and never fall back to the OS.
   Other arenas serve every heap before the OS is asked.
   Thread safety: any thread may add an arena at any time.
--------------------------------------------------------------------------- */

/* Identifies an arena (0: none). */
typedef int mia_arena_id_t;

/* Hand `size` bytes at `start` to the allocator; the id goes to *arena_id (may be NULL). False if the region is too small (less than one segment after alignment) or all arena slots are taken. is_large and numa_node are recorded only. */
MIALLOC_DEF bool mia_manage_os_memory_ex(void* start, size_t size, bool is_committed, bool is_large, bool is_zero, int numa_node, bool exclusive, mia_arena_id_t* arena_id);
/* mia_manage_os_memory_ex for a shared (not exclusive) arena. */
MIALLOC_DEF bool mia_manage_os_memory(void* start, size_t size, bool is_committed, bool is_large, bool is_zero, int numa_node);
/* A new heap of the calling thread that takes its memory from `arena_id` only. NULL for an unknown arena. */
MIALLOC_DEF mia_heap_t* mia_heap_new_in_arena(mia_arena_id_t arena_id);

/* ---------------------------------------------------------------------------
   OS hooks: where the allocator's memory comes from. The built-in POSIX
   (mmap) and Windows (VirtualAlloc) layers are instances of this struct;
   install your own for a platform mialloc does not know (console, RTOS,
   WASM), or wrap the defaults to inject faults in a test. Every function
   returns 0 or an errno code; sizes and addresses are multiples of
   page_size.
   Thread safety: install before the first allocation when the hooks replace
   the memory source; wrappers that forward to the defaults may be installed
   at any time while no other thread allocates.
--------------------------------------------------------------------------- */
typedef struct mia_os_hooks_s {
  /* Map `size` bytes of zeroed read/write memory aligned to `alignment` (a power of two >= page_size) into *addr. */
  int (*reserve)(size_t size, size_t alignment, void** addr, void* arg);
  /* Unmap exactly a range that reserve returned. */
  int (*release)(void* addr, size_t size, void* arg);
  /* Make a decommitted range usable again (a no-op where decommit keeps memory usable). */
  int (*commit)(void* addr, size_t size, void* arg);
  /* Give a range's physical memory back; it reads as zero afterwards. Set *needs_commit when commit must run before reuse. */
  int (*decommit)(void* addr, size_t size, bool* needs_commit, void* arg);
  /* protect: make the range inaccessible (guard pages); otherwise read/write again. */
  int (*protect)(void* addr, size_t size, bool protect, void* arg);
  /* The OS page size in bytes (a power of two). */
  size_t page_size;
  /* Passed to every function. */
  void* arg;
  /* Reserved for future use; set to NULL. */
  void* reserved_;
} mia_os_hooks_t;

/* Fill `hooks` with this platform's built-in layer (all NULL-free; ENOSYS stubs where there is none). */
MIALLOC_DEF void mia_os_hooks_default(mia_os_hooks_t* hooks);
/* Install `hooks` (NULL: back to the built-in layer); false if a function is missing or page_size is not a power of two. */
MIALLOC_DEF bool mia_os_hooks_set(const mia_os_hooks_t* hooks);

/* ---------------------------------------------------------------------------
   Options. Read from the environment (MIALLOC_<NAME>, e.g. MIALLOC_VERBOSE=1)
   on first use; mia_option_set overrides.
   Thread safety: set options before other threads allocate.
--------------------------------------------------------------------------- */

typedef enum mia_option_e {
  mia_option_show_errors,      /* print error messages */
  mia_option_show_stats,       /* print statistics at process exit */
  mia_option_verbose,          /* print informational messages */
  mia_option_large_os_pages,   /* use 2 MiB OS pages where available */
  mia_option_purge_delay,      /* ms before freed memory goes back to the OS (-1 never) */
  mia_option_segment_cache,    /* free segments a thread keeps */
  mia_option_max_errors,       /* error messages printed at most */
  mia_option_max_warnings,     /* warnings printed at most */
  mia_option_reserve_os_memory,/* KiB to reserve up front (0: none) */
  mia_option_purge_extend_delay, /* accepted for mimalloc compatibility; no effect (every purge waits purge_delay) */
  mia_option_abandoned_reclaim_on_free, /* accepted for mimalloc compatibility; no effect (every 64th free
                                           into abandoned segments reclaims one, always) */
  mia_option_allow_thp,        /* transparent 2 MiB pages where the OS has them, for huge blocks (> 2 MiB) and
                                  a thread's segments past mia_option_thp_min_segments (1; 0: 4 KiB pages) */
  mia_option_thp_min_segments, /* with allow_thp, a thread's new segments go on 2 MiB pages once it owns this many
                                  (8: 32 MiB; 0: every segment; -1: none) */
  mia_option_last
} mia_option_t;

/* Current value of an option. */
MIALLOC_DEF long mia_option_get(mia_option_t option);
/* Current value clamped to [min, max]. */
MIALLOC_DEF long mia_option_get_clamp(mia_option_t option, long min, long max);
/* Current value read as a size in bytes (values are KiB for size options). */
MIALLOC_DEF size_t mia_option_get_size(mia_option_t option);
/* Set an option's value. */
MIALLOC_DEF void mia_option_set(mia_option_t option, long value);
/* Set an option's value unless the environment already set it. */
MIALLOC_DEF void mia_option_set_default(mia_option_t option, long value);
/* True if the option's value is non-zero. */
MIALLOC_DEF bool mia_option_is_enabled(mia_option_t option);
/* Set an option to 1 or 0. */
MIALLOC_DEF void mia_option_set_enabled(mia_option_t option, bool enable);
/* Set a boolean option to 1. */
MIALLOC_DEF void mia_option_enable(mia_option_t option);
/* Set a boolean option to 0. */
MIALLOC_DEF void mia_option_disable(mia_option_t option);

/* ---------------------------------------------------------------------------
   mimalloc 2.2+/3.x calls, with mimalloc's signatures and semantics: the
   usable-size family (each `block_size` argument may be NULL and is written
   only when the call succeeds; the value is mia_usable_size of the result),
   realpath, arenas reserved from the OS, the C runtime's dup functions and
   the typed allocation macros (the type first, as in mimalloc 3.x; 2.x put
   it after the pointer or the heap).
   Thread safety: as the basic and arena functions.
--------------------------------------------------------------------------- */

/* mia_malloc that also stores the block's usable size in *block_size. */
MIALLOC_DEF MIALLOC_ALLOC MIALLOC_ATTR_ALLOC_SIZE(1) void* mia_umalloc(size_t size, size_t* block_size);
/* mia_calloc that also stores the block's usable size in *block_size. */
MIALLOC_DEF MIALLOC_ALLOC MIALLOC_ATTR_ALLOC_SIZE2(1, 2) void* mia_ucalloc(size_t count, size_t size, size_t* block_size);
/* mia_realloc; *block_size_pre gets p's usable size (0 for NULL) always, *block_size_post the result's on success. */
MIALLOC_DEF MIALLOC_ATTR_NODISCARD MIALLOC_ATTR_ALLOC_SIZE(2) void* mia_urealloc(void* p, size_t newsize, size_t* block_size_pre, size_t* block_size_post);
/* mia_free that first stores p's usable size in *block_size (left alone when p is NULL). */
MIALLOC_DEF void mia_ufree(void* p, size_t* block_size);
/* mia_malloc_aligned that also stores the block's usable size in *block_size. */
MIALLOC_DEF MIALLOC_ALLOC MIALLOC_ATTR_ALLOC_SIZE(1) MIALLOC_ATTR_ALLOC_ALIGN(2) void* mia_umalloc_aligned(size_t size, size_t alignment, size_t* block_size);
/* mia_zalloc_aligned that also stores the block's usable size in *block_size. */
MIALLOC_DEF MIALLOC_ALLOC MIALLOC_ATTR_ALLOC_SIZE(1) MIALLOC_ATTR_ALLOC_ALIGN(2) void* mia_uzalloc_aligned(size_t size, size_t alignment, size_t* block_size);
/* mia_malloc_small that also stores the block's usable size in *block_size. */
MIALLOC_DEF MIALLOC_ALLOC MIALLOC_ATTR_ALLOC_SIZE(1) void* mia_umalloc_small(size_t size, size_t* block_size);
/* mia_zalloc_small that also stores the block's usable size in *block_size. */
MIALLOC_DEF MIALLOC_ALLOC MIALLOC_ATTR_ALLOC_SIZE(1) void* mia_uzalloc_small(size_t size, size_t* block_size);
/* Free a block from mia_(heap_)(m|z)alloc_small: the same as mia_free. */
MIALLOC_DEF void mia_free_small(void* p);
/* The absolute path of `fname` (POSIX realpath; Windows GetFullPathNameA) in `resolved_name` when given, else in a new block (mia_free it); NULL with errno on failure. */
MIALLOC_DEF MIALLOC_ATTR_NODISCARD char* mia_realpath(const char* fname, char* resolved_name);
/* mia_realpath whose new block comes from `heap`. */
MIALLOC_DEF MIALLOC_ATTR_NODISCARD char* mia_heap_realpath(mia_heap_t* heap, const char* fname, char* resolved_name);
/* Reserve `size` bytes (rounded up to whole segments, at most one arena's worth) from the OS as a shared arena; 0 or ENOMEM. The memory comes read/write (`commit` is accepted; the OS backs pages on first touch); allow_large: huge pages if mia_option_large_os_pages is on. */
MIALLOC_DEF int mia_reserve_os_memory(size_t size, bool commit, bool allow_large);
/* mia_reserve_os_memory that can make the arena exclusive (see mia_heap_new_in_arena); its id goes to *arena_id (may be NULL). */
MIALLOC_DEF int mia_reserve_os_memory_ex(size_t size, bool commit, bool allow_large, bool exclusive, mia_arena_id_t* arena_id);
/* The alignment an arena's start should have so that none of it is lost (one segment). */
MIALLOC_DEF size_t mia_arena_min_alignment(void);
/* The smallest region, aligned to mia_arena_min_alignment, that makes an arena (one segment). */
MIALLOC_DEF size_t mia_arena_min_size(void);
/* The start of the arena's usable (segment-aligned) part and its size in *size (may be NULL); NULL and 0 for an unknown id. */
MIALLOC_DEF void* mia_arena_area(mia_arena_id_t arena_id, size_t* size);
/* True if `p` lies in the usable part of arena `arena_id`. */
MIALLOC_DEF bool mia_arena_contains(mia_arena_id_t arena_id, const void* p);
/* Set an option to 1 or 0 unless the environment already set it. */
MIALLOC_DEF void mia_option_set_enabled_default(mia_option_t option, bool enable);
/* The environment variable `name` copied into a new block in *buf (NULL if unset), its size with the terminator in *size (may be NULL); 0, or EINVAL, ENOMEM. */
MIALLOC_DEF int mia_dupenv_s(char** buf, size_t* size, const char* name);
/* mia_dupenv_s for wide strings (Windows; EINVAL elsewhere, as in mimalloc). */
MIALLOC_DEF int mia_wdupenv_s(wchar_t** buf, size_t* size, const wchar_t* name);
/* Copy the wide string `s` into a new block; NULL if s is NULL or memory runs out. */
MIALLOC_DEF MIALLOC_ALLOC wchar_t* mia_wcsdup(const wchar_t* s);
/* Copy the multibyte string `s` into a new block (mia_strdup). */
MIALLOC_DEF MIALLOC_ALLOC unsigned char* mia_mbsdup(const unsigned char* s);

/* One `tp`, not zeroed. */
#define mia_malloc_tp(tp) ((tp*)mia_malloc(sizeof(tp)))
/* One zeroed `tp`. */
#define mia_zalloc_tp(tp) ((tp*)mia_zalloc(sizeof(tp)))
/* `n` zeroed `tp`s. */
#define mia_calloc_tp(tp, n) ((tp*)mia_calloc(n, sizeof(tp)))
/* `n` `tp`s, not zeroed. */
#define mia_mallocn_tp(tp, n) ((tp*)mia_mallocn(n, sizeof(tp)))
/* Resize `p` to `n` `tp`s. */
#define mia_reallocn_tp(tp, p, n) ((tp*)mia_reallocn(p, n, sizeof(tp)))
/* Resize `p` to `n` `tp`s, zeroing the new ones. */
#define mia_recalloc_tp(tp, p, n) ((tp*)mia_recalloc(p, n, sizeof(tp)))
/* One `tp` from heap `hp`, not zeroed. */
#define mia_heap_malloc_tp(tp, hp) ((tp*)mia_heap_malloc(hp, sizeof(tp)))
/* One zeroed `tp` from heap `hp`. */
#define mia_heap_zalloc_tp(tp, hp) ((tp*)mia_heap_zalloc(hp, sizeof(tp)))
/* `n` zeroed `tp`s from heap `hp`. */
#define mia_heap_calloc_tp(tp, hp, n) ((tp*)mia_heap_calloc(hp, n, sizeof(tp)))
/* `n` `tp`s from heap `hp`, not zeroed. */
#define mia_heap_mallocn_tp(tp, hp, n) ((tp*)mia_heap_mallocn(hp, n, sizeof(tp)))
/* Resize `p` to `n` `tp`s in heap `hp`. */
#define mia_heap_reallocn_tp(tp, hp, p, n) ((tp*)mia_heap_reallocn(hp, p, n, sizeof(tp)))
/* Resize `p` to `n` `tp`s in heap `hp`, zeroing the new ones. */
#define mia_heap_recalloc_tp(tp, hp, p, n) ((tp*)mia_heap_recalloc(hp, p, n, sizeof(tp)))

#ifdef __cplusplus
}
#endif

/* Public size limits. */
#define MIALLOC_SMALL_SIZE_MAX (128 * sizeof(void*)) /* sizes served through the direct page array */

/* ---------------------------------------------------------------------------
   mimalloc names (opt-in)
--------------------------------------------------------------------------- */
#if MIALLOC_MIMALLOC_NAMES
#define mi_heap_t mia_heap_t
#define mi_heap_area_t mia_heap_area_t
#define mi_block_visit_fun mia_block_visit_fun
#define mi_output_fun mia_output_fun
#define mi_error_fun mia_error_fun
#define mi_deferred_free_fun mia_deferred_free_fun
#define mi_option_t mia_option_t
#define mi_option_show_errors mia_option_show_errors
#define mi_option_show_stats mia_option_show_stats
#define mi_option_verbose mia_option_verbose
#define mi_option_large_os_pages mia_option_large_os_pages
#define mi_option_allow_large_os_pages mia_option_large_os_pages
#define mi_option_purge_delay mia_option_purge_delay
#define mi_option_max_errors mia_option_max_errors
#define mi_option_max_warnings mia_option_max_warnings
#define mi_option_reserve_os_memory mia_option_reserve_os_memory
#define mi_option_purge_extend_delay mia_option_purge_extend_delay
#define mi_option_abandoned_reclaim_on_free mia_option_abandoned_reclaim_on_free
#define mi_option_allow_thp mia_option_allow_thp
#define MI_SMALL_SIZE_MAX MIALLOC_SMALL_SIZE_MAX
#define mi_malloc mia_malloc
#define mi_calloc mia_calloc
#define mi_realloc mia_realloc
#define mi_free mia_free
#define mi_zalloc mia_zalloc
#define mi_malloc_small mia_malloc_small
#define mi_zalloc_small mia_zalloc_small
#define mi_mallocn mia_mallocn
#define mi_reallocn mia_reallocn
#define mi_reallocf mia_reallocf
#define mi_expand mia_expand
#define mi_recalloc mia_recalloc
#define mi_rezalloc mia_rezalloc
#define mi_strdup mia_strdup
#define mi_strndup mia_strndup
#define mi_usable_size mia_usable_size
#define mi_good_size mia_good_size
#define mi_free_size mia_free_size
#define mi_malloc_aligned mia_malloc_aligned
#define mi_malloc_aligned_at mia_malloc_aligned_at
#define mi_zalloc_aligned mia_zalloc_aligned
#define mi_zalloc_aligned_at mia_zalloc_aligned_at
#define mi_calloc_aligned mia_calloc_aligned
#define mi_calloc_aligned_at mia_calloc_aligned_at
#define mi_realloc_aligned mia_realloc_aligned
#define mi_realloc_aligned_at mia_realloc_aligned_at
#define mi_rezalloc_aligned mia_rezalloc_aligned
#define mi_rezalloc_aligned_at mia_rezalloc_aligned_at
#define mi_recalloc_aligned mia_recalloc_aligned
#define mi_recalloc_aligned_at mia_recalloc_aligned_at
#define mi_free_aligned mia_free_aligned
#define mi_free_size_aligned mia_free_size_aligned
#define mi_posix_memalign mia_posix_memalign
#define mi_memalign mia_memalign
#define mi_valloc mia_valloc
#define mi_pvalloc mia_pvalloc
#define mi_aligned_alloc mia_aligned_alloc
#define mi_reallocarray mia_reallocarray
#define mi_reallocarr mia_reallocarr
#define mi_malloc_usable_size mia_malloc_usable_size
#define mi_cfree mia_cfree
#define mi_heap_new mia_heap_new
#define mi_heap_delete mia_heap_delete
#define mi_heap_destroy mia_heap_destroy
#define mi_heap_set_default mia_heap_set_default
#define mi_heap_get_default mia_heap_get_default
#define mi_heap_get_backing mia_heap_get_backing
#define mi_heap_collect mia_heap_collect
#define mi_heap_malloc mia_heap_malloc
#define mi_heap_zalloc mia_heap_zalloc
#define mi_heap_calloc mia_heap_calloc
#define mi_heap_malloc_small mia_heap_malloc_small
#define mi_heap_zalloc_small mia_heap_zalloc_small
#define mi_heap_mallocn mia_heap_mallocn
#define mi_heap_realloc mia_heap_realloc
#define mi_heap_reallocn mia_heap_reallocn
#define mi_heap_reallocf mia_heap_reallocf
#define mi_heap_recalloc mia_heap_recalloc
#define mi_heap_rezalloc mia_heap_rezalloc
#define mi_heap_strdup mia_heap_strdup
#define mi_heap_strndup mia_heap_strndup
#define mi_heap_malloc_aligned mia_heap_malloc_aligned
#define mi_heap_malloc_aligned_at mia_heap_malloc_aligned_at
#define mi_heap_zalloc_aligned mia_heap_zalloc_aligned
#define mi_heap_zalloc_aligned_at mia_heap_zalloc_aligned_at
#define mi_heap_calloc_aligned mia_heap_calloc_aligned
#define mi_heap_calloc_aligned_at mia_heap_calloc_aligned_at
#define mi_heap_realloc_aligned mia_heap_realloc_aligned
#define mi_heap_realloc_aligned_at mia_heap_realloc_aligned_at
#define mi_heap_rezalloc_aligned mia_heap_rezalloc_aligned
#define mi_heap_rezalloc_aligned_at mia_heap_rezalloc_aligned_at
#define mi_heap_recalloc_aligned mia_heap_recalloc_aligned
#define mi_heap_recalloc_aligned_at mia_heap_recalloc_aligned_at
#define mi_heap_contains_block mia_heap_contains_block
#define mi_heap_check_owned mia_heap_check_owned
#define mi_check_owned mia_check_owned
#define mi_heap_visit_blocks mia_heap_visit_blocks
#define mi_collect mia_collect
#define mi_thread_init mia_thread_init
#define mi_thread_done mia_thread_done
#define mi_process_info mia_process_info
#define mi_version mia_version
#define mi_register_output mia_register_output
#define mi_register_error mia_register_error
#define mi_register_deferred_free mia_register_deferred_free
#define mi_stats_print_out mia_stats_print_out
#define mi_stats_print mia_stats_print
#define mi_stats_reset mia_stats_reset
#define mi_stats_merge mia_stats_merge
#define mi_option_get mia_option_get
#define mi_option_get_clamp mia_option_get_clamp
#define mi_option_get_size mia_option_get_size
#define mi_option_set mia_option_set
#define mi_option_set_default mia_option_set_default
#define mi_option_is_enabled mia_option_is_enabled
#define mi_option_set_enabled mia_option_set_enabled
#define mi_option_enable mia_option_enable
#define mi_option_disable mia_option_disable
#define mi_arena_id_t mia_arena_id_t
#define mi_manage_os_memory mia_manage_os_memory
#define mi_manage_os_memory_ex mia_manage_os_memory_ex
#define mi_heap_new_in_arena mia_heap_new_in_arena
#define mi_stl_allocator mia_stl_allocator
#define mi_heap_stl_allocator mia_heap_stl_allocator
#define mi_heap_destroy_stl_allocator mia_heap_destroy_stl_allocator
/* mimalloc 2.2+/3.x calls */
#define MI_SMALL_SIZE_MAX MIALLOC_SMALL_SIZE_MAX
#define MI_SMALL_WSIZE_MAX (MIALLOC_SMALL_SIZE_MAX / sizeof(void*))
#define mi_umalloc mia_umalloc
#define mi_ucalloc mia_ucalloc
#define mi_urealloc mia_urealloc
#define mi_ufree mia_ufree
#define mi_umalloc_aligned mia_umalloc_aligned
#define mi_uzalloc_aligned mia_uzalloc_aligned
#define mi_umalloc_small mia_umalloc_small
#define mi_uzalloc_small mia_uzalloc_small
#define mi_free_small mia_free_small
#define mi_realpath mia_realpath
#define mi_heap_realpath mia_heap_realpath
#define mi_reserve_os_memory mia_reserve_os_memory
#define mi_reserve_os_memory_ex mia_reserve_os_memory_ex
#define mi_arena_min_alignment mia_arena_min_alignment
#define mi_arena_min_size mia_arena_min_size
#define mi_arena_area mia_arena_area
#define mi_arena_contains mia_arena_contains
#define mi_option_set_enabled_default mia_option_set_enabled_default
#define mi_dupenv_s mia_dupenv_s
#define mi_wdupenv_s mia_wdupenv_s
#define mi_wcsdup mia_wcsdup
#define mi_mbsdup mia_mbsdup
#define mi_malloc_size mia_malloc_usable_size
#define mi_malloc_good_size mia_good_size
#define mi_aligned_recalloc mia_recalloc_aligned
#define mi_aligned_offset_recalloc mia_recalloc_aligned_at
#define mi_malloc_tp mia_malloc_tp
#define mi_zalloc_tp mia_zalloc_tp
#define mi_calloc_tp mia_calloc_tp
#define mi_mallocn_tp mia_mallocn_tp
#define mi_reallocn_tp mia_reallocn_tp
#define mi_recalloc_tp mia_recalloc_tp
#define mi_heap_malloc_tp mia_heap_malloc_tp
#define mi_heap_zalloc_tp mia_heap_zalloc_tp
#define mi_heap_calloc_tp mia_heap_calloc_tp
#define mi_heap_mallocn_tp mia_heap_mallocn_tp
#define mi_heap_reallocn_tp mia_heap_reallocn_tp
#define mi_heap_recalloc_tp mia_heap_recalloc_tp
#endif /* MIALLOC_MIMALLOC_NAMES */

/* ---------------------------------------------------------------------------
   C++ allocators for the standard containers
     std::vector<int, mia_stl_allocator<int>> v;                  default heap
     mia_heap_t* level = mia_heap_new();
     std::map<K, V, std::less<K>, mia_heap_stl_allocator<std::pair<const K, V>>> m{mia_heap_stl_allocator<...>(level)};
     mia_heap_destroy_stl_allocator<T>: deallocate does nothing; the memory
     goes with mia_heap_destroy(heap) in one call (containers must be gone
     or never touched again by then). Default-constructed (as mimalloc's),
     it makes a heap of its own, destroyed when its last copy goes:
     std::vector<T, mia_heap_destroy_stl_allocator<T>> v;
   Failure throws std::bad_alloc (std::abort without exceptions).
--------------------------------------------------------------------------- */
#ifdef __cplusplus
#include <cstddef>
#include <cstdlib>
#include <memory>
#include <new>
template <class T> struct mia__stl_base {
  typedef T value_type;
  typedef std::size_t size_type;
  typedef std::ptrdiff_t difference_type;
  static T* mia__alloc(mia_heap_t* heap, std::size_t n) {
    if (n > static_cast<std::size_t>(-1) / sizeof(T)) mia__stl_fail();
    void* p = (alignof(T) > 2 * sizeof(void*)) ? mia_heap_malloc_aligned(heap, n * sizeof(T), alignof(T))
                                               : mia_heap_mallocn(heap, n, sizeof(T));
    if (p == nullptr) mia__stl_fail();
    return static_cast<T*>(p);
  }
  [[noreturn]] static void mia__stl_fail() {
#if defined(__cpp_exceptions)
    throw std::bad_alloc();
#else
    std::abort();
#endif
  }
};
/* Allocates from the calling thread's default heap. */
template <class T> struct mia_stl_allocator : mia__stl_base<T> {
  mia_stl_allocator() noexcept {}
  template <class U> mia_stl_allocator(const mia_stl_allocator<U>&) noexcept {}
  template <class U> struct rebind { typedef mia_stl_allocator<U> other; };
  T* allocate(std::size_t n) { return mia__stl_base<T>::mia__alloc(mia_heap_get_default(), n); }
  void deallocate(T* p, std::size_t) noexcept { mia_free(p); }
  template <class U> bool operator==(const mia_stl_allocator<U>&) const noexcept { return true; }
  template <class U> bool operator!=(const mia_stl_allocator<U>&) const noexcept { return false; }
};
/* Allocates from one heap (by default the calling thread's default heap). */
template <class T> struct mia_heap_stl_allocator : mia__stl_base<T> {
  mia_heap_t* heap;
  mia_heap_stl_allocator() noexcept : heap(mia_heap_get_default()) {}
  explicit mia_heap_stl_allocator(mia_heap_t* h) noexcept : heap(h) {}
  template <class U> mia_heap_stl_allocator(const mia_heap_stl_allocator<U>& other) noexcept : heap(other.heap) {}
  template <class U> struct rebind { typedef mia_heap_stl_allocator<U> other; };
  T* allocate(std::size_t n) { return mia__stl_base<T>::mia__alloc(heap, n); }
  void deallocate(T* p, std::size_t) noexcept { mia_free(p); }
  template <class U> bool operator==(const mia_heap_stl_allocator<U>& o) const noexcept { return heap == o.heap; }
  template <class U> bool operator!=(const mia_heap_stl_allocator<U>& o) const noexcept { return heap != o.heap; }
};
/* Allocates from one heap and never frees: mia_heap_destroy releases everything at once. */
template <class T> struct mia_heap_destroy_stl_allocator : mia__stl_base<T> {
  mia_heap_t* heap;
  /* A new heap, shared by the copies and rebinds of this allocator and destroyed (all its blocks with it) when the last one goes; std::bad_alloc if none can be made. */
  mia_heap_destroy_stl_allocator() : heap(mia_heap_new()), owned(heap, mia_heap_destroy) { if (heap == nullptr) mia__stl_base<T>::mia__stl_fail(); }
  explicit mia_heap_destroy_stl_allocator(mia_heap_t* h) noexcept : heap(h) {}
  /* Copies share the heap; a move copies too (an allocator's source keeps its value). */
  mia_heap_destroy_stl_allocator(const mia_heap_destroy_stl_allocator&) = default;
  mia_heap_destroy_stl_allocator& operator=(const mia_heap_destroy_stl_allocator&) = default;
  template <class U> mia_heap_destroy_stl_allocator(const mia_heap_destroy_stl_allocator<U>& other) noexcept : heap(other.heap), owned(other.owned) {}
  template <class U> struct rebind { typedef mia_heap_destroy_stl_allocator<U> other; };
  T* allocate(std::size_t n) { return mia__stl_base<T>::mia__alloc(heap, n); }
  void deallocate(T*, std::size_t) noexcept {}
  template <class U> bool operator==(const mia_heap_destroy_stl_allocator<U>& o) const noexcept { return heap == o.heap; }
  template <class U> bool operator!=(const mia_heap_destroy_stl_allocator<U>& o) const noexcept { return heap != o.heap; }
 private:
  template <class U> friend struct mia_heap_destroy_stl_allocator;
  /* The default constructor's heap (empty for a heap given by the caller, which the caller destroys). */
  std::shared_ptr<mia_heap_t> owned;
};
#endif /* __cplusplus */


#endif /* MIALLOC_H */

/* ===========================================================================
   IMPLEMENTATION
=========================================================================== */
#if defined(MIALLOC_IMPLEMENTATION) && !defined(MIALLOC_IMPLEMENTATION_INCLUDED)
#define MIALLOC_IMPLEMENTATION_INCLUDED

/* ---------------------------------------------------------------------------
   Configuration defaults and their validation
--------------------------------------------------------------------------- */
#ifndef MIALLOC_DEBUG
#define MIALLOC_DEBUG 0
#endif
#ifndef MIALLOC_SECURE
#define MIALLOC_SECURE 0
#endif
#ifndef MIALLOC_NO_SIMD
#define MIALLOC_NO_SIMD 0
#endif
#ifndef MIALLOC_FOREIGN_CHECK
#define MIALLOC_FOREIGN_CHECK 1
#endif
#ifndef MIALLOC_OVERRIDE
#define MIALLOC_OVERRIDE 0
#endif
#ifndef MIALLOC_NO_OS
#define MIALLOC_NO_OS 0
#endif
#ifndef MIALLOC_WHITEBOX
#define MIALLOC_WHITEBOX 0 /* 1: keep the internal macros after the implementation (white-box tests) */
#endif
#ifndef MIALLOC_STATS
#define MIALLOC_STATS 0
#endif
#ifndef MIALLOC_HOOKS
#define MIALLOC_HOOKS 0
#endif
#ifndef MIALLOC_VALGRIND
#define MIALLOC_VALGRIND 0
#endif
#ifndef MIALLOC_SINGLE_THREAD
#define MIALLOC_SINGLE_THREAD 0
#endif
#if MIALLOC_NO_OS && !defined(MIALLOC_SEGMENT_SHIFT) && !defined(MIALLOC_SMALL_PAGE_SHIFT) && !defined(MIALLOC_MEDIUM_PAGE_SHIFT)
/* no OS, no geometry given: the small-memory one (GEOMETRY AND METADATA) */
#define MIALLOC_SEGMENT_SHIFT 14
#define MIALLOC_SMALL_PAGE_SHIFT 11
#define MIALLOC_MEDIUM_PAGE_SHIFT 13
#endif
#ifndef MIALLOC_SEGMENT_SHIFT
#define MIALLOC_SEGMENT_SHIFT 22
#endif
#ifndef MIALLOC_SMALL_PAGE_SHIFT
#define MIALLOC_SMALL_PAGE_SHIFT 16
#endif
#ifndef MIALLOC_MEDIUM_PAGE_SHIFT
#define MIALLOC_MEDIUM_PAGE_SHIFT 19
#endif

#if MIALLOC_DEBUG < 0 || MIALLOC_DEBUG > 3
#error "MIALLOC_DEBUG must be 0, 1, 2 or 3"
#endif
#if MIALLOC_SECURE < 0 || MIALLOC_SECURE > 4
#error "MIALLOC_SECURE must be 0, 1, 2, 3 or 4"
#endif
#if MIALLOC_OVERRIDE && MIALLOC_NO_OS
#error "MIALLOC_OVERRIDE needs an OS to replace malloc in: it cannot be combined with MIALLOC_NO_OS"
#endif
#if MIALLOC_OVERRIDE && MIALLOC_STATIC
#error "MIALLOC_OVERRIDE defines malloc and free for the whole program: it cannot be combined with MIALLOC_STATIC"
#endif
#if MIALLOC_SMALL_PAGE_SHIFT >= MIALLOC_MEDIUM_PAGE_SHIFT || MIALLOC_MEDIUM_PAGE_SHIFT >= MIALLOC_SEGMENT_SHIFT
#error "page and segment shifts must grow: SMALL_PAGE_SHIFT < MEDIUM_PAGE_SHIFT < SEGMENT_SHIFT"
#endif
#if MIALLOC_SEGMENT_SHIFT - MIALLOC_SMALL_PAGE_SHIFT > 6
#error "a segment holds at most 64 small pages (SEGMENT_SHIFT - SMALL_PAGE_SHIFT <= 6)"
#endif
#if MIALLOC_SEGMENT_SHIFT > 23
#error "MIALLOC_SEGMENT_SHIFT > 23 needs more size bins than this version has"
#endif
#if MIALLOC_SMALL_PAGE_SHIFT < 11
#error "MIALLOC_SMALL_PAGE_SHIFT must be at least 11 (2 KiB)"
#endif

/* ---------------------------------------------------------------------------
   Platform detection (each 0 or 1)
--------------------------------------------------------------------------- */
#if defined(_WIN32) && !MIALLOC_NO_OS
#define MIA__OS_WINDOWS 1
#else
#define MIA__OS_WINDOWS 0
#endif
#if !MIA__OS_WINDOWS && !MIALLOC_NO_OS && (defined(__unix__) || defined(__APPLE__))
#define MIA__OS_POSIX 1
#else
#define MIA__OS_POSIX 0
#endif
#if defined(__linux__) && !MIALLOC_NO_OS
#define MIA__OS_LINUX 1
#else
#define MIA__OS_LINUX 0
#endif
#if defined(__APPLE__) && !MIALLOC_NO_OS
#define MIA__OS_MACOS 1
#else
#define MIA__OS_MACOS 0
#endif
#if defined(__x86_64__) || defined(_M_X64)
#define MIA__ARCH_X64 1
#else
#define MIA__ARCH_X64 0
#endif
#if defined(__GNUC__) || defined(__clang__)
#define MIA__GNUC 1
#else
#define MIA__GNUC 0
#endif
/* Hosted: a C library is there (errno, stdio, getenv, abort). A freestanding
   build (-ffreestanding) uses only memset, memcpy and memmove. */
#if defined(__STDC_HOSTED__) && __STDC_HOSTED__ == 0
#define MIA__HOSTED 0
#else
#define MIA__HOSTED 1
#endif
#if MIA__ARCH_X64 && MIA__GNUC && !MIALLOC_NO_SIMD && MIA__HOSTED
#define MIA__HAS_AVX2_PATHS 1
#else
#define MIA__HAS_AVX2_PATHS 0
#endif

#include <stdarg.h>
#if MIA__HOSTED
#include <string.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#define mia__memset memset
#define mia__memcpy memcpy
#define mia__memmove memmove
#define MIA__SET_ERRNO(e) (errno = (e))
#define MIA__ABORT() abort()
#else
/* freestanding: the compiler's builtins (they may call memset/memcpy/memmove) */
#define mia__memset __builtin_memset
#define mia__memcpy __builtin_memcpy
#define mia__memmove __builtin_memmove
#define MIA__SET_ERRNO(e) ((void)(e))
#define MIA__ABORT() __builtin_trap()
#endif
#ifndef ENOMEM
#define ENOMEM 12
#endif
#ifndef EINVAL
#define EINVAL 22
#endif
#ifndef EFAULT
#define EFAULT 14
#endif
#ifndef EAGAIN
#define EAGAIN 11
#endif
#ifndef ENOSYS
#define ENOSYS 38
#endif
#ifndef EOVERFLOW
#define EOVERFLOW 75
#endif
#if MIA__OS_WINDOWS
#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN
#endif
#include <windows.h>
#include <psapi.h>
#elif MIA__OS_POSIX
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <unistd.h>
#include <pthread.h>
#include <fcntl.h>
#include <time.h>
#endif
#if MIA__HAS_AVX2_PATHS
#include <immintrin.h>
#endif
/* MIALLOC_VALGRIND: tell memcheck which blocks are live, so a program's own
   use-after-free or uninitialised read in mialloc's blocks is reported. */
#if MIALLOC_VALGRIND
#include <valgrind/memcheck.h>
#define MIA__VG_ALLOC(p, size, zero) VALGRIND_MALLOCLIKE_BLOCK(p, size, 0, zero)
#define MIA__VG_FREE(p) VALGRIND_FREELIKE_BLOCK(p, 0)
#define MIA__VG_LINK(b) VALGRIND_MAKE_MEM_UNDEFINED(b, sizeof(void*)) /* our link word in a freed block */
#define MIA__VG_AREA(p, n) VALGRIND_MAKE_MEM_UNDEFINED(p, n)          /* a page's area, ours again */
#define MIA__VG_META(p, n) VALGRIND_MAKE_MEM_DEFINED(p, n)            /* our metadata over old blocks */
#define MIA__VG_RESIZE(p, old, n) VALGRIND_RESIZEINPLACE_BLOCK(p, old, n, 0) /* a large block grown in place */
#else
#define MIA__VG_RESIZE(p, old, n) ((void)0)
#define MIA__VG_META(p, n) ((void)0)
#define MIA__VG_ALLOC(p, size, zero) ((void)0)
#define MIA__VG_FREE(p) ((void)0)
#define MIA__VG_LINK(b) ((void)0)
#define MIA__VG_AREA(p, n) ((void)0)
#endif

/* Atomics: C11 <stdatomic.h> in C, <atomic> in C++; one set of macros.
   MIALLOC_SINGLE_THREAD: plain variables and plain operations (no atomics). */
#if MIALLOC_SINGLE_THREAD
#define mia__atomic(T) T
#define mia__atomic_load(p, mo) (*(p))
#define mia__atomic_store(p, v, mo) ((void)(*(p) = (v)))
#define mia__atomic_exchange(p, v, mo) mia__st_exchange((uintptr_t*)(void*)(p), (uintptr_t)(v))
#define mia__atomic_cas_weak(p, exp, des, mos, mof) ((*(p) == *(exp)) ? (*(p) = (des), true) : (*(exp) = *(p), false))
#define mia__atomic_cas_strong(p, exp, des, mos, mof) mia__atomic_cas_weak(p, exp, des, mos, mof)
#define mia__atomic_fetch_add(p, v, mo) ((*(p) += (v)) - (v))
#define mia__atomic_fetch_sub(p, v, mo) ((*(p) -= (v)) + (v))
#define mia__atomic_fetch_and(p, v, mo) (*(p) &= (v))
#define mia__atomic_fetch_or(p, v, mo) ((*(p) |= (v)) & ~(v)) /* the old value where it had none of v's bits, as at our one use */
#ifdef __cplusplus
#define MIA__ALIGNAS(n) alignas(n)
#define MIA__STATIC_ASSERT(c, m) static_assert(c, m)
#else
#define MIA__ALIGNAS(n) _Alignas(n)
#define MIA__STATIC_ASSERT(c, m) _Static_assert(c, m)
#endif
static inline uintptr_t mia__st_exchange(uintptr_t* p, uintptr_t v) { const uintptr_t old = *p; *p = v; return old; }
#define mia__signal_fence() ((void)0)
#elif defined(__cplusplus)
#include <atomic>
#define mia__atomic(T) std::atomic<T>
#define MIA__MO(x) std::memory_order_##x
#define mia__atomic_load(p, mo) std::atomic_load_explicit(p, MIA__MO(mo))
#define mia__atomic_store(p, v, mo) std::atomic_store_explicit(p, v, MIA__MO(mo))
#define mia__atomic_exchange(p, v, mo) std::atomic_exchange_explicit(p, v, MIA__MO(mo))
#define mia__atomic_cas_weak(p, exp, des, mos, mof) std::atomic_compare_exchange_weak_explicit(p, exp, des, MIA__MO(mos), MIA__MO(mof))
#define mia__atomic_cas_strong(p, exp, des, mos, mof) std::atomic_compare_exchange_strong_explicit(p, exp, des, MIA__MO(mos), MIA__MO(mof))
#define mia__atomic_fetch_add(p, v, mo) std::atomic_fetch_add_explicit(p, v, MIA__MO(mo))
#define mia__atomic_fetch_sub(p, v, mo) std::atomic_fetch_sub_explicit(p, v, MIA__MO(mo))
#define mia__atomic_fetch_and(p, v, mo) std::atomic_fetch_and_explicit(p, v, MIA__MO(mo))
#define mia__atomic_fetch_or(p, v, mo) std::atomic_fetch_or_explicit(p, v, MIA__MO(mo))
#define mia__signal_fence() std::atomic_signal_fence(std::memory_order_seq_cst)
#define MIA__ALIGNAS(n) alignas(n)
#define MIA__STATIC_ASSERT(c, m) static_assert(c, m)
#else
#include <stdatomic.h>
#define mia__atomic(T) _Atomic(T)
#define MIA__MO(x) memory_order_##x
#define mia__atomic_load(p, mo) atomic_load_explicit(p, MIA__MO(mo))
#define mia__atomic_store(p, v, mo) atomic_store_explicit(p, v, MIA__MO(mo))
#define mia__atomic_exchange(p, v, mo) atomic_exchange_explicit(p, v, MIA__MO(mo))
#define mia__atomic_cas_weak(p, exp, des, mos, mof) atomic_compare_exchange_weak_explicit(p, exp, des, MIA__MO(mos), MIA__MO(mof))
#define mia__atomic_cas_strong(p, exp, des, mos, mof) atomic_compare_exchange_strong_explicit(p, exp, des, MIA__MO(mos), MIA__MO(mof))
#define mia__atomic_fetch_add(p, v, mo) atomic_fetch_add_explicit(p, v, MIA__MO(mo))
#define mia__atomic_fetch_sub(p, v, mo) atomic_fetch_sub_explicit(p, v, MIA__MO(mo))
#define mia__atomic_fetch_and(p, v, mo) atomic_fetch_and_explicit(p, v, MIA__MO(mo))
#define mia__atomic_fetch_or(p, v, mo) atomic_fetch_or_explicit(p, v, MIA__MO(mo))
#define mia__signal_fence() atomic_signal_fence(memory_order_seq_cst)
#define MIA__ALIGNAS(n) _Alignas(n)
#define MIA__STATIC_ASSERT(c, m) _Static_assert(c, m)
#endif

/* Compiler helpers */
#if MIA__GNUC
#define mia_likely(x) (__builtin_expect(!!(x), 1))
#define mia_unlikely(x) (__builtin_expect(!!(x), 0))
#define MIA__NOINLINE __attribute__((noinline, cold))
#define MIA__OUTLINE __attribute__((noinline)) /* a warm path kept out of its callers */
#if defined(__OPTIMIZE_SIZE__)
#define MIA__INLINE static inline /* -Os: the compiler weighs each copy of a fast path */
#else
#define MIA__INLINE static inline __attribute__((always_inline))
#endif
#define MIA__PRIVATE static __attribute__((unused))
#define MIA__THREAD_LOCAL __thread __attribute__((tls_model("initial-exec")))
#elif defined(_MSC_VER)
#define mia_likely(x) (x)
#define mia_unlikely(x) (x)
#define MIA__NOINLINE __declspec(noinline)
#define MIA__OUTLINE __declspec(noinline)
#define MIA__INLINE static __forceinline
#define MIA__PRIVATE static
#define MIA__THREAD_LOCAL __declspec(thread)
#else
#define mia_likely(x) (x)
#define mia_unlikely(x) (x)
#define MIA__NOINLINE
#define MIA__OUTLINE
#define MIA__INLINE static inline
#define MIA__PRIVATE static
#define MIA__THREAD_LOCAL _Thread_local
#endif
#if MIALLOC_SINGLE_THREAD
#undef MIA__THREAD_LOCAL
#define MIA__THREAD_LOCAL /* one thread: a plain static */
#endif

/* Our messages go through our own formatter, which knows %zu everywhere. */
#if MIA__GNUC && defined(__MINGW32__) && !defined(__clang__)
#define MIA__PRINTF_FMT(f, a) __attribute__((format(gnu_printf, f, a)))
#elif MIA__GNUC
#define MIA__PRINTF_FMT(f, a) __attribute__((format(printf, f, a)))
#else
#define MIA__PRINTF_FMT(f, a)
#endif

#if MIALLOC_STATIC && MIA__GNUC
#define MIA__API static __attribute__((unused))
#elif MIALLOC_STATIC
#define MIA__API static
#else
#define MIA__API
#endif

/* Assertions: three levels. */
#ifndef MIALLOC_ASSERT
#define MIALLOC_ASSERT(c) ((c) ? (void)0 : mia__assert_fail(#c, __FILE__, __LINE__, __func__))
#endif
#if MIALLOC_DEBUG >= 1
#define mia__assert(c) MIALLOC_ASSERT(c)
#else
#define mia__assert(c) ((void)0)
#endif
#if MIALLOC_DEBUG >= 2
#define mia__assert_internal(c) MIALLOC_ASSERT(c)
#else
#define mia__assert_internal(c) ((void)0)
#endif
#if MIALLOC_DEBUG >= 3
#define mia__assert_expensive(c) MIALLOC_ASSERT(c)
#else
#define mia__assert_expensive(c) ((void)0)
#endif

/* ---------------------------------------------------------------------------
   Geometry
   A segment is MIA__SEGMENT_SIZE bytes aligned to its size; it holds small
   pages (64 KiB), medium pages (512 KiB) or large pages (one block each, a
   span of 64 KiB slices). A huge object gets a segment of its own, as large
   as it needs.
--------------------------------------------------------------------------- */
#define MIA__WSIZE (sizeof(uintptr_t))
#define MIA__KiB ((size_t)1024)
#define MIA__MiB (MIA__KiB * MIA__KiB)
#define MIA__SEGMENT_SIZE ((size_t)1 << MIALLOC_SEGMENT_SHIFT)
#define MIA__SEGMENT_MASK (MIA__SEGMENT_SIZE - 1)
#define MIA__SMALL_PAGE_SIZE ((size_t)1 << MIALLOC_SMALL_PAGE_SHIFT)
#define MIA__MEDIUM_PAGE_SIZE ((size_t)1 << MIALLOC_MEDIUM_PAGE_SHIFT)
#define MIA__SMALL_PAGES_PER_SEGMENT (MIA__SEGMENT_SIZE / MIA__SMALL_PAGE_SIZE)
#define MIA__MEDIUM_PAGES_PER_SEGMENT (MIA__SEGMENT_SIZE / MIA__MEDIUM_PAGE_SIZE)
/* Blocks up to this size live in small pages: >= 8 blocks per page by
   default; a small-memory build may raise it (fewer page kinds in play). */
#ifdef MIALLOC_SMALL_OBJ_SIZE_MAX
#define MIA__SMALL_OBJ_SIZE_MAX ((size_t)MIALLOC_SMALL_OBJ_SIZE_MAX)
#else
#define MIA__SMALL_OBJ_SIZE_MAX (MIA__SMALL_PAGE_SIZE / 8 >= 128 * sizeof(void*) ? MIA__SMALL_PAGE_SIZE / 8 : MIA__SMALL_PAGE_SIZE / 2)
#endif
#define MIA__MEDIUM_OBJ_SIZE_MAX (MIA__MEDIUM_PAGE_SIZE / 4) /* >= 4 blocks per medium page */
#define MIA__LARGE_OBJ_SIZE_MAX (MIA__SEGMENT_SIZE / 2)     /* one block in a large page */
#define MIA__LARGE_OBJ_WSIZE_MAX (MIA__LARGE_OBJ_SIZE_MAX / MIA__WSIZE)
/* The direct pages (pages_direct) have a slot per 1 << MIA__DIRECT_SHIFT
   bytes of size: per byte on 64-bit hosts, so that malloc indexes them with
   the size itself (no rounding: 2 instructions less than a slot per word;
   make bench-instr, LD_PRELOAD rows: A 46 -> 44, D 41 -> 39), for a table of
   8 KiB a heap instead of 1 KiB; per word on 32-bit targets and without the
   OS layer (MIALLOC_NO_OS), where a heap stays small. */
#if UINTPTR_MAX > 0xFFFFFFFFu
#define MIA__DIRECT_SHIFT (MIALLOC_NO_OS ? 3 : 0)
#else
#define MIA__DIRECT_SHIFT 2
#endif
#define MIA__PAGES_DIRECT ((MIALLOC_SMALL_SIZE_MAX >> MIA__DIRECT_SHIFT) + 1)
/* Past the direct pages, sizes up to MIA__MEDIUM_DIRECT_MAX (8 KiB on 64-bit)
   find their page through pages_medium[MIA__MEDIUM_SLOT(size)]:
   above 128 words a bin spans 32 words or a multiple of 32 (mia__bin_wide), so
   every size in a slot of 32 words has the same bin. */
#define MIA__PAGES_MEDIUM 32
#define MIA__MEDIUM_DIRECT_SHIFT (MIA__WSIZE == 8 ? 8 : 7) /* 32 words */
#define MIA__MEDIUM_DIRECT_MAX ((size_t)MIA__PAGES_MEDIUM << MIA__MEDIUM_DIRECT_SHIFT < MIA__MEDIUM_OBJ_SIZE_MAX ? (size_t)MIA__PAGES_MEDIUM << MIA__MEDIUM_DIRECT_SHIFT : MIA__MEDIUM_OBJ_SIZE_MAX)
#define MIA__MEDIUM_SLOT(size) (((size) - 1) >> MIA__MEDIUM_DIRECT_SHIFT) /* the pages_medium slot of a size (> 0) */
#define MIA__BIN_HUGE 73
#define MIA__BIN_FULL (MIA__BIN_HUGE + 1)
#define MIA__MAX_ALLOC_SIZE ((size_t)PTRDIFF_MAX)
#define MIA__MAX_ALIGN_SIZE 16                        /* alignment every block of size >= 16 gets */
#define MIA__ALIGNMENT_MAX (MIA__SEGMENT_SIZE << 8)   /* largest alignment we serve (1 GiB) */
#define MIA__MAX_EXTEND_SIZE (4 * MIA__KiB)           /* free list grows by at most this much */
#define MIA__MIN_EXTEND 4                             /* ...and at least this many blocks */
#define MIA__RETIRE_CYCLES 16                         /* aging steps an emptied page is kept */
#define MIA__RETIRE_EVERY 8                           /* heartbeats per aging step (so 128 heartbeats) */
#define MIA__CACHE_LINE 64
#define MIA__HUGE_CACHE_MAX (16 * MIA__SEGMENT_SIZE)     /* huge segments up to this size are cached */
/* With mia_option_allow_thp, a thread's new segments go on transparent huge
   pages once it owns this many (32 MiB): a big heap faults 2 MiB at a time
   (bench/frame_loop.c: 31.7 -> 1.2 faults a frame quick, 20.3 -> 0.6 full,
   peak RSS +2.7%), a small program's resident set keeps 4 KiB steps (a
   threshold on the process's segments instead, at 2-8, put larson, alloc-test,
   mstress and rptest of make bench on 2 MiB pages: peak RSS +20-75%, no time
   gained at that scale). Huge blocks: always (mia_option_allow_thp). The
   default of mia_option_thp_min_segments: where a 4 KiB fault is dear (a VM
   whose first write to a page costs 11-15 us), lower values trade resident
   memory for time (the README's table of 8, 4, 2, 1 and 0). */
#define MIA__THP_MIN_SEGMENTS 8
/* A thread that owns MIA__RUN_MIN_SEGMENTS segments or more reserves its
   next ones in runs of up to MIA__SPARE_MAX + 1 (see mia__segment_run_take). */
#define MIA__RUN_MIN_SEGMENTS 8
#define MIA__SPARE_MAX 15

/* What the debug and secure levels switch on (each 0 or 1). */
#define MIA__CHECKS (MIALLOC_DEBUG >= 1 || MIALLOC_SECURE >= 1)   /* pointer validation on free */
/* Address bits of a user-space pointer: the range the segment map covers. */
#if UINTPTR_MAX > 0xFFFFFFFFu
#define MIA__ADDRESS_BITS 48
#else
#define MIA__ADDRESS_BITS 32
#endif
#define MIA__GUARD (MIALLOC_SECURE >= 1)                          /* guard page after segment metadata */
#define MIA__ENCODE (MIALLOC_SECURE >= 2)                         /* encoded free-list links */
#define MIA__RANDOMIZE (MIALLOC_SECURE >= 3)                      /* shuffled free-list extension */
#define MIA__PADDING_ON (MIALLOC_DEBUG >= 1 || MIALLOC_SECURE >= 4) /* canary + double-free tag */
#define MIA__FILL (MIALLOC_DEBUG >= 1)                            /* debug byte patterns */
#if MIA__PADDING_ON
#define MIA__PADDING ((size_t)16) /* per block: [canary | delta] at the end */
#else
#define MIA__PADDING ((size_t)0)
#endif
#define MIA__FILL_UNINIT 0xD0   /* debug: fresh blocks (first 64 KiB) */
#define MIA__FILL_FREED 0xDF    /* debug: freed blocks (after the link and tag words) */
#define MIA__FILL_PADDING 0xDE  /* padding bytes after the requested size (first one is 0) */

MIA__STATIC_ASSERT(MIA__SMALL_PAGES_PER_SEGMENT <= 64, "free-page bitmap is one 64-bit word");
MIA__STATIC_ASSERT(MIALLOC_SMALL_SIZE_MAX <= MIA__SMALL_OBJ_SIZE_MAX, "direct pages are small pages: MIALLOC_SMALL_OBJ_SIZE_MAX >= 128 words");
MIA__STATIC_ASSERT(MIA__SMALL_OBJ_SIZE_MAX <= MIA__SMALL_PAGE_SIZE / 2, "a small page holds at least two blocks");
MIA__STATIC_ASSERT(MIA__SMALL_OBJ_SIZE_MAX < MIA__MEDIUM_OBJ_SIZE_MAX, "medium blocks are larger than small ones");

/* ---------------------------------------------------------------------------
   Internal types and their invariants
--------------------------------------------------------------------------- */

/* A free block: its first word links to the next free block of the same page. */
typedef struct mia__block_s {
  struct mia__block_s* next;
} mia__block_t;

/* page->xthread_free: the blocks other threads freed into the page, a stack
   each of them pushes with one CAS, whatever the page's state, and that only
   the owner takes (mia__page_thread_free_collect). The owner is not told of
   such a free: it finds them when it looks at the page -- in its bin queue
   on an allocation slow path, in its full queue a few pages at a time
   (mia__heap_unfull_some), and all of them in mia_collect. No state of the
   page or the heap is read or written by the freeing thread, so the page's
   heap may change hands or go at any time. Bit 0 (MIA__TF_ABANDONED) is
   used by huge pages alone; blocks are at least 4-byte aligned. */

/* Page flags: the local free path tests all of them with one byte compare. */
#define MIA__PAGE_IN_FULL 0x01u     /* the page sits in the heap's full queue */
#define MIA__PAGE_HAS_ALIGNED 0x02u /* some block was handed out at an interior (aligned) pointer */

struct mia_heap_s;

/* A page: blocks of one size carved from one stretch of a segment.
   Invariant (checked by mia__page_is_valid):
     used + |free| + |local_free| == capacity <= reserved
     |thread_free| <= used (blocks freed by other threads count as used
                            until the owner collects them)
     - `free` and `local_free` hold blocks of this page only, no cycles
     - capacity blocks from page_start have been handed to the free lists
       (lazy extension: the blocks beyond `capacity` were never touched)
     - owner_flags == flags (the owner writes both, see mia__page_flags_set)
     - xthread_free holds a block list and no flag, but MIA__TF_ABANDONED on
       a huge page (see xthread_free above)
   The first cache line holds the owner's hot fields; the second holds what
   other threads write (`xthread_free`) or read (`xheap`, `flags`), so a
   remote free never dirties the line the owner allocates from. */
typedef struct mia__page_s {
  /* line 0: owner thread only */
  mia__block_t* free;              /* allocation pops here */
  mia__block_t* local_free;        /* owner's frees push here */
  uint32_t used;                   /* live blocks, including ones in thread_free */
  uint8_t owner_flags;             /* the owner's copy of `flags` (a plain byte: the local free
                                      path tests it with one compare) */
  uint8_t free_is_zero;            /* blocks on `free` are zero but for their link word */
  uint8_t retire_expire;           /* heartbeats left before an empty page is freed (0: not retired) */
  uint8_t segment_in_use;          /* the page is handed to a heap */
  size_t block_size;               /* size of every block of this page */
  uint8_t* page_start;             /* first block */
  uint32_t capacity;               /* blocks built into the free lists so far */
  uint32_t reserved;               /* blocks that fit in the page */
  struct mia__page_s* next;        /* page queue links */
  struct mia__page_s* prev;
  /* line 1: shared with other threads */
  MIA__ALIGNAS(MIA__CACHE_LINE) mia__atomic(uintptr_t) xthread_free; /* blocks other threads freed (see above) */
  mia__atomic(struct mia_heap_s*) xheap;  /* owning heap (NULL while abandoned) */
  uint8_t is_committed;            /* memory is committed (no purge pending a recommit) */
  uint8_t is_purged;               /* memory was returned to the OS (reads as zero) */
  uint8_t page_index;              /* index in the segment */
  uint8_t page_kind;               /* mia__page_kind_t */
  uint8_t bin;                     /* its size class (for MIALLOC_STATS counters) */
  uint8_t slice_count;             /* large segments: slices the page spans (1 elsewhere) */
  mia__atomic(uint8_t) flags;      /* MIA__PAGE_IN_FULL | MIA__PAGE_HAS_ALIGNED; written by the owner
                                      (with owner_flags), read (relaxed) by any thread */
  uint8_t padding_[1];
  int64_t purge_expire;            /* ms clock at which a free page's memory is purged (0: none) */
  int64_t purged_at;               /* ms clock of its last purge (0: never): a reuse soon after is a refault */
  mia__block_t* retire_mark;       /* retired page: `free` at the last heartbeat (owner only, rarely written) */
  uintptr_t keys[2];               /* MIALLOC_SECURE >= 2: encode this page's free-list links */
} mia__page_t;

MIA__STATIC_ASSERT(offsetof(mia__page_t, prev) + sizeof(void*) <= MIA__CACHE_LINE, "page hot fields fit the first cache line");
MIA__STATIC_ASSERT(offsetof(mia__page_t, xthread_free) == MIA__CACHE_LINE, "thread-shared page fields start a new cache line");
MIA__STATIC_ASSERT(sizeof(mia__page_t) == 2 * MIA__CACHE_LINE, "a page descriptor is two cache lines");

typedef enum mia__page_kind_e {
  MIA__PAGE_SMALL,  /* 64 KiB pages, blocks <= 8 KiB */
  MIA__PAGE_MEDIUM, /* 512 KiB pages, blocks <= 128 KiB */
  MIA__PAGE_LARGE,  /* one block per page, a span of 64 KiB slices, blocks <= 2 MiB */
  MIA__PAGE_HUGE    /* one page in a segment of its own size */
} mia__page_kind_t;

struct mia__tld_s;

/* A bitmap of a segment's pages (or slices): 32 bits wide when a segment
   has no more than 32 of them (the MIALLOC_NO_OS geometry), so that 32-bit
   targets do it without 64-bit shifts. */
#if MIALLOC_SEGMENT_SHIFT - MIALLOC_SMALL_PAGE_SHIFT > 5
typedef uint64_t mia__pagemap_t;
#else
typedef uint32_t mia__pagemap_t;
#endif
#define MIA__PAGEMAP_BITS (sizeof(mia__pagemap_t) * 8)
#define MIA__WORD_BITS (sizeof(size_t) * 8) /* bits of a word of the arenas' bitmaps */

/* A segment: an OS allocation aligned to MIA__SEGMENT_SIZE, starting with this
   header and its page descriptors (mia__segment_page). Invariants:
     used == number of pages with segment_in_use
     free_map has bit i set  <=>  page i is not in use
     one party is responsible for the segment and every page in it:
       heap != NULL: that heap (its owner thread, thread_id == heap's), and
                     every page in use is in that heap's queues
       heap == NULL, thread_id == 0: nobody (abandoned): the segment is on
                     the abandoned stack, its pages in no queue; a thread
                     that pops it adopts it whole (mia__segment_adopt)
       heap == NULL, thread_id != 0: the thread cleaning it (in
                     mia__segment_adopt without a heap, or freeing it)
     a segment with free pages and a heap is in exactly one of that heap's
     free-segment queues (small, medium or large); others are in none.
   Large segments have the small geometry: a descriptor per SMALL_PAGE_SIZE
   slice, each with its own commit and purge state. A page in use there is a
   span of slice_count slices holding one block: its first slice's descriptor
   is the page, the slots of all its slices point at it, and the span's other
   slices are neither free (bit clear) nor in use. Slices under the metadata
   are never free. */
typedef struct mia__segment_s {
  /* line 0: read by every free */
  mia__atomic(uintptr_t) thread_id;  /* owning thread, 0 when abandoned */
  uint32_t page_shift;               /* log2 of the page (large: slice) size; SEGMENT_SHIFT + 1 for huge */
  uint8_t adopted;                   /* taken from the abandoned stack (not made by its owner) */
  struct mia__segment_s* abandoned_next; /* link in the abandoned stack */
  size_t segment_size;               /* bytes of this segment (> SEGMENT_SIZE for huge) */
  size_t info_size;                  /* bytes of header + page descriptors (rounded to OS pages) */
  size_t capacity;                   /* pages in this segment */
  size_t used;                       /* pages in use */
  struct mia_heap_s* heap;           /* the heap all its pages belong to (NULL: see above) */
  /* line 1: owner bookkeeping */
  mia__pagemap_t free_map;           /* bit i: page i is free */
  mia__pagemap_t purge_map;          /* bit i: page i is free and its memory not yet purged */
  struct mia__segment_s* next;       /* free-segment queue / segment cache links */
  struct mia__segment_s* prev;
  void* os_base;                     /* what the OS handed out (== segment unless over-aligned) */
  size_t os_size;
  uint8_t page_kind;                 /* mia__page_kind_t */
  uint8_t in_queue;                  /* in a free-segment queue of its owner */
  uint8_t huge_aligned;              /* huge block placed at segment + SEGMENT_SIZE */
  uint8_t arena_exclusive;           /* from an exclusive arena */
  uint8_t arena_index;               /* 1 + index of its arena, 0 when from the OS */
  uint8_t remote_purged;             /* a huge block's memory was decommitted by the thread that freed it */
  uint8_t in_region;                 /* a huge segment carved from the huge region (mia__region) */
  int64_t cache_expire;              /* while cached: ms clock at which to purge */
  /* slot i covers bytes [i, i+1) * SMALL_PAGE_SIZE of the segment: the page
     there. One masked load finds the page of a pointer, whatever the kind. */
  MIA__ALIGNAS(MIA__CACHE_LINE) mia__page_t* slots[MIA__SMALL_PAGES_PER_SEGMENT];
} mia__segment_t;

MIA__STATIC_ASSERT(offsetof(mia__segment_t, slots) <= 2 * MIA__CACHE_LINE, "segment header is two lines before its slots");
MIA__STATIC_ASSERT(sizeof(mia__segment_t) % MIA__CACHE_LINE == 0, "page descriptors after the header are line aligned");

/* A page queue: the pages of one bin, first to last. */
typedef struct mia__page_queue_s {
  mia__page_t* first;
  mia__page_t* last;
} mia__page_queue_t;

typedef struct mia__segment_queue_s {
  mia__segment_t* first;
  mia__segment_t* last;
} mia__segment_queue_t;

/* A heap. Invariants:
     pages_direct[i] == the first page of the bin of size i << DIRECT_SHIFT
                        (mia__direct_slot), or &mia__page_empty when that
                        bin is empty
     pages_medium[i] == the same for the sizes (i << MIA__MEDIUM_DIRECT_SHIFT,
                        (i + 1) << MIA__MEDIUM_DIRECT_SHIFT] past the direct
                        pages and up to MIA__MEDIUM_DIRECT_MAX (the other
                        slots: &mia__page_empty)
     every page in pages[b] serves bin b (BIN_FULL: full pages, flag IN_FULL)
     page_count == number of pages in all queues
     its pages lie in segments of its own (segment->heap == heap), never
     shared with another heap: a heap's memory changes hands whole
     (mia__heap_absorb), and an abandoned segment holds one heap's pages
   pages_direct is first: mia_malloc for a small size is one load from the heap
   and one from the page. Other threads only touch the last cache line.

   Heaps from any thread: the owner allocates from the heap's own pages
   without a lock, as from any heap. Another thread reaches the heap through
   `shared`, a second set of pages with its own segments and a lock, made on
   first use: each allocation by a non-owner costs it one uncontended lock
   and unlock (~20 ns) on top of the usual path, and blocks it frees go
   back with the usual one CAS. Its blocks may be freed by anyone.

   Lifetime: a heap lives until mia_heap_delete or mia_heap_destroy, whoever
   calls it; the owner's exit does not end it. Its `state` says who is
   responsible for the descriptor, and changes only under `life_lock`:
     LIVE       the owner thread. A non-owner's delete/destroy deals with the
                shared part at once (abandoned or freed) and leaves a
                request (*_REQUESTED) for the owner's part.
     *_REQUESTED the owner, which carries the request out on its next slow
                path or at its exit, and frees the descriptor.
     ORPHANED   the shared part: the owner exited, and its part's pages,
                with their segments, joined the shared part (thread_id is 0,
                so every thread reaches the heap through `shared`). The next
                delete/destroy, from any thread, ends it all at once.
   Because the owner's exit and a request take the same lock, exactly one
   party frees the descriptor. */
struct mia__heap_shared_s;
#define MIA__HEAP_LIVE 0
#define MIA__HEAP_DESTROY_REQUESTED 1
#define MIA__HEAP_DELETE_REQUESTED 2
#define MIA__HEAP_ORPHANED 3
struct mia_heap_s {
  mia__page_t* pages_direct[MIA__PAGES_DIRECT];
  mia__page_t* pages_medium[MIA__PAGES_MEDIUM];
  mia__page_queue_t pages[MIA__BIN_FULL + 1];
  mia__segment_queue_t segments[3];  /* its segments with free pages, by kind: small, medium, large */
  struct mia__tld_s* tld;            /* the owning thread's data (NULL once the owner exited) */
  struct mia_heap_s* next;           /* in the thread's list of heaps */
  mia__atomic(uintptr_t) thread_id;  /* owning thread (0: none any more) */
  size_t page_count;
  size_t page_retired_min;           /* bins that may hold retired pages */
  size_t page_retired_max;
  uintptr_t cookie;                  /* random, per heap */
  bool no_reclaim;                   /* never reclaims abandoned segments */
  bool is_shared_part;               /* this is the `shared` part of another heap */
  int arena_id;                      /* mia_arena_id_t its memory comes from (0: any) */
  size_t limit;                      /* budget in page bytes (0: none), see mia_heap_set_limit */
  char name[32];                     /* for profilers and statistics */
  size_t small_bytes;                /* page_bytes less huge pages: its part of the thread's use (mia__tld_reusing) */
  MIA__ALIGNAS(MIA__CACHE_LINE) mia__atomic(size_t) page_bytes;    /* bytes of the pages this heap holds (for the budget) */
  mia__atomic(struct mia__heap_shared_s*) shared; /* non-owner access, made on first use */
  mia__atomic(int) state;            /* MIA__HEAP_LIVE / ..._REQUESTED / ORPHANED, under life_lock */
  mia__atomic(int) life_lock;        /* orders the owner's exit against a non-owner's request */
#if MIALLOC_STATS
  struct mia__heap_counters_s {      /* owner only, no atomics */
    size_t live;                     /* bytes of live blocks (block sizes less padding) */
    size_t peak;
    size_t allocs;
    size_t frees;
    size_t bin_allocs[MIA__BIN_FULL + 1];
  } st;
#endif
};

/* Per-thread data: its heaps and the segments it owns. Owner thread only. */
typedef struct mia__tld_s {
  uintptr_t thread_id;
  mia_heap_t* heap_backing;          /* the heap the thread starts with */
  mia_heap_t* heaps;                 /* all heaps of the thread */
#if MIALLOC_SINGLE_THREAD
  mia_heap_t* heap_deleted;          /* the one thread's deleted arena heaps whose pages still
                                        hold live blocks (no other thread can adopt them): kept
                                        here, in the first such heap, until they are freed */
#endif
  mia__segment_t* cache;             /* free segments kept for reuse */
  size_t cache_count;
  size_t segment_count;              /* segments owned */
  unsigned long long heartbeat;      /* slow-path calls */
  int64_t purge_next;                /* ms clock of the next purge pass (0: none due) */
  void* spare[MIA__SPARE_MAX];       /* reserved, never written segments of its last run (mia__segment_run_take) */
  size_t spare_count;
  size_t use_peak;                   /* recent peak of its heaps' small_bytes, decaying (mia__tld_reusing) */
  int64_t use_peak_at;               /* ms clock of use_peak's last rise or halving */
  bool recurse;                      /* inside a deferred-free callback */
  bool is_main;
  bool over_budget;                  /* the last page request failed on a heap's limit */
  size_t abandoned_frees;            /* frees into segments of exited threads */
  unsigned in_slow;                  /* slow paths the thread is inside (mia__slow_enter) */
  struct mia__tld_s* next_tld;       /* in the list of every thread's data (fork: mia__fork_child) */
} mia__tld_t;

/* What a thread allocates for itself at first use (the main thread's is static). */
typedef struct mia__thread_data_s {
  mia_heap_t heap;
  mia__tld_t tld;
} mia__thread_data_t;

/* The page and heap every uninitialised thread starts with: the page has no
   free blocks, so the first malloc takes the slow path, which sets the
   thread up. No "initialised?" test on the fast path. */
static mia__page_t mia__page_empty;

#define MIA__PE &mia__page_empty,
#define MIA__PE4 MIA__PE MIA__PE MIA__PE MIA__PE
#define MIA__PE16 MIA__PE4 MIA__PE4 MIA__PE4 MIA__PE4
#define MIA__PE64 MIA__PE16 MIA__PE16 MIA__PE16 MIA__PE16
#define MIA__QE { NULL, NULL },
#define MIA__QE5 MIA__QE MIA__QE MIA__QE MIA__QE MIA__QE
#define MIA__QE25 MIA__QE5 MIA__QE5 MIA__QE5 MIA__QE5 MIA__QE5
#if MIA__DIRECT_SHIFT == 0
#define MIA__PE_DIRECT MIA__PE64 MIA__PE64 MIA__PE64 MIA__PE64 MIA__PE64 MIA__PE64 MIA__PE64 MIA__PE64 \
                       MIA__PE64 MIA__PE64 MIA__PE64 MIA__PE64 MIA__PE64 MIA__PE64 MIA__PE64 MIA__PE64
MIA__STATIC_ASSERT(MIA__PAGES_DIRECT == 1025, "the empty heap's initializer lists 1025 direct pages");
#else
#define MIA__PE_DIRECT MIA__PE64 MIA__PE64
MIA__STATIC_ASSERT(MIA__PAGES_DIRECT == 129, "the empty heap's initializer lists 129 direct pages");
#endif
MIA__STATIC_ASSERT(MIA__PAGES_MEDIUM == 32, "the empty heap's initializer lists 32 medium pages");
MIA__STATIC_ASSERT(MIA__BIN_FULL + 1 == 75, "the empty heap's initializer lists 75 queues");
/* An atomic member's initial value (zero): C++ before 17 cannot copy-initialize
   a std::atomic, so there it is value-initialized from {}. */
#ifdef __cplusplus
#define MIA__ATOMIC_ZERO {}
#else
#define MIA__ATOMIC_ZERO 0
#endif
static mia_heap_t mia__heap_empty = {
  { MIA__PE_DIRECT &mia__page_empty },
  { MIA__PE16 MIA__PE16 },
  { MIA__QE25 MIA__QE25 MIA__QE25 },
  { { NULL, NULL }, { NULL, NULL }, { NULL, NULL } },
  NULL, NULL, MIA__ATOMIC_ZERO, 0, 0, 0, 0, true, false, 0, 0, { 0 }, 0,
  MIA__ATOMIC_ZERO, MIA__ATOMIC_ZERO, MIA__ATOMIC_ZERO, MIA__ATOMIC_ZERO
#if MIALLOC_STATS
  , { 0, 0, 0, 0, { 0 } }
#endif
};
#undef MIA__PE
#undef MIA__PE4
#undef MIA__PE16
#undef MIA__PE64
#undef MIA__PE_DIRECT
#undef MIA__QE
#undef MIA__QE5
#undef MIA__QE25
#undef MIA__ATOMIC_ZERO

/* The calling thread's default heap: &mia__heap_empty until first use. */
static MIA__THREAD_LOCAL mia_heap_t* mia__heap_default = &mia__heap_empty;

/* Forward declarations of the slow paths the fast paths call. */
MIA__PRIVATE void* mia__malloc_generic(size_t size, mia_heap_t* heap, bool zero, size_t huge_alignment);
MIA__PRIVATE void mia__free_generic(mia__segment_t* segment, mia__page_t* page, bool is_local, void* p);
MIA__PRIVATE void mia__page_retire(mia__page_t* page);
MIA__PRIVATE void mia__heap_collect_ex(mia_heap_t* heap, bool force);
MIA__PRIVATE void mia__assert_fail(const char* cond, const char* file, int line, const char* func);
MIA__PRIVATE void mia__error(int err, const char* fmt, ...);

/* ---------------------------------------------------------------------------
   >>util: bits, thread id, clock
--------------------------------------------------------------------------- */
MIA__INLINE size_t mia__bsr(size_t x) { /* index of the highest set bit; x != 0 */
#if MIA__GNUC && SIZE_MAX > 0xFFFFFFFFu
  return (sizeof(unsigned long long) * 8 - 1) - (size_t)__builtin_clzll((unsigned long long)x); /* long is 32-bit on Windows */
#elif MIA__GNUC
  return 31 - (size_t)__builtin_clz((unsigned)x); /* a 32-bit count: no 64-bit runtime helper */
#else
  size_t i = 0; while (x >>= 1) i++; return i;
#endif
}
/* x >> shift, for a caller that masks the result below bit 64 - shift: the
   free fast path derives three values from its pointer (segment, table slot,
   page slot), and a plain shift right needs a copy of the pointer first (mov,
   shr). Compiled for BMI2 (-mbmi2, -march=x86-64-v3 or later), rorx rotates
   into another register instead: two instructions fewer per free. The shift
   is a literal at every call, as the asm's "i" operand needs (-O0 too). */
#if MIA__GNUC && defined(__x86_64__) && defined(__LP64__) && defined(__BMI2__)
#define MIA__SHR_LOW(x, shift) mia__rorx_##shift(x) /* the macro's name pasted, not its value */
MIA__INLINE uintptr_t mia__rorx_MIALLOC_SMALL_PAGE_SHIFT(uintptr_t x) {
  uintptr_t r; __asm__("rorxq %2, %1, %0" : "=r"(r) : "r"(x), "i"(MIALLOC_SMALL_PAGE_SHIFT)); return r;
}
MIA__INLINE uintptr_t mia__rorx_MIALLOC_SEGMENT_SHIFT(uintptr_t x) {
  uintptr_t r; __asm__("rorxq %2, %1, %0" : "=r"(r) : "r"(x), "i"(MIALLOC_SEGMENT_SHIFT)); return r;
}
#else
#define MIA__SHR_LOW(x, shift) ((x) >> (shift))
#endif
MIA__INLINE size_t mia__ctz64(uint64_t x) { /* index of the lowest set bit; x != 0 */
#if MIA__GNUC && UINTPTR_MAX > 0xFFFFFFFFu
  return (size_t)__builtin_ctzll(x);
#elif MIA__GNUC /* 32-bit: two 32-bit counts, no runtime-library call */
  return ((uint32_t)x != 0 ? (size_t)__builtin_ctz((uint32_t)x) : 32 + (size_t)__builtin_ctz((uint32_t)(x >> 32)));
#else
  size_t i = 0; while (!(x & 1)) { x >>= 1; i++; } return i;
#endif
}
MIA__INLINE size_t mia__popcount(uint64_t x) { /* set bits of x (a size_t, a page map of 64 bits on any target) */
#if MIA__GNUC
  return (size_t)__builtin_popcountll((unsigned long long)x);
#else
  size_t n = 0; while (x != 0) { x &= x - 1; n++; } return n;
#endif
}
MIA__INLINE size_t mia__align_up(size_t x, size_t a) { return (x + a - 1) & ~(a - 1); }
/* Where the target has no POPCNT instruction (baseline x86-64: the
   preloaded library), x - 1 passes through an empty asm: clang would see
   the pattern and make it a population count, in software there (about 15
   instructions; aligned_alloc(64, 48) + free through LD_PRELOAD: 86 -> 67
   instructions a pair). With POPCNT, that count is the shorter code. */
MIA__INLINE bool mia__is_power_of_two(size_t x) {
  size_t below = x - 1;
#if MIA__GNUC && !defined(__POPCNT__)
  __asm__("" : "+r"(below));
#endif
  return x != 0 && (x & below) == 0;
}
MIA__INLINE bool mia__mul_overflow(size_t a, size_t b, size_t* r) {
#if MIA__GNUC
  return __builtin_mul_overflow(a, b, r);
#else
  *r = a * b; return (a != 0 && *r / a != b);
#endif
}

/* A non-zero id of the calling thread, cheap enough for every free: the
   thread pointer register where we know it, else the address of a TLS byte. */
MIA__INLINE uintptr_t mia__thread_id(void) {
#if MIALLOC_SINGLE_THREAD
  return 1;
#elif MIA__OS_WINDOWS && MIA__GNUC && defined(__x86_64__)
  uintptr_t tp;
  __asm__("movq %%gs:0x30, %0" : "=r"(tp)); /* the TEB's self pointer */
  return tp;
#elif MIA__OS_WINDOWS
  return (uintptr_t)NtCurrentTeb();
#elif MIA__GNUC && defined(__x86_64__) && (MIA__OS_LINUX || defined(__FreeBSD__))
  uintptr_t tp;
  __asm__("movq %%fs:0, %0" : "=r"(tp));
  return tp;
#elif MIA__GNUC && defined(__aarch64__) && MIA__OS_LINUX
  uintptr_t tp;
  __asm__ volatile("mrs %0, tpidr_el0" : "=r"(tp));
  return tp;
#else
  static MIA__THREAD_LOCAL uintptr_t mia__tid_word; /* word aligned: never odd */
  return (uintptr_t)&mia__tid_word;
#endif
}

/* Milliseconds of a monotonic clock. */
MIA__PRIVATE int64_t mia__clock_now(void) {
#if MIA__OS_WINDOWS
  return (int64_t)GetTickCount64();
#elif MIA__OS_POSIX
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (int64_t)t.tv_sec * 1000 + (int64_t)(t.tv_nsec / 1000000);
#else
  return 0;
#endif
}

MIA__PRIVATE void mia__yield(void) {
#if MIALLOC_SINGLE_THREAD
#elif MIA__OS_WINDOWS
  SwitchToThread();
#elif MIA__OS_POSIX
  sched_yield();
#endif
}

/* The fork gate. fork() copies only the calling thread: a lock another thread
   holds, or a half-done two-step change (a stack of abandoned segments
   popped and not yet pushed back, a release of the huge region's range),
   would stay so in the child forever. Every such section runs inside
   mia__fork_enter/leave (nested ones count once per thread); the prepare
   handler of pthread_atfork closes the gate and waits until no section is
   open, so the child starts with every lock free and every change whole.
   Sections never wait for the gate while inside one, so a fork cannot
   deadlock them. Gate word: bit 0 closed, bits 1.. the open sections. */
#define MIA__FORK_GATE (MIA__OS_POSIX && !MIALLOC_SINGLE_THREAD)
#if MIA__FORK_GATE
static mia__atomic(uintptr_t) mia__fork_gate;
static MIA__THREAD_LOCAL unsigned mia__fork_depth;
MIA__PRIVATE void mia__fork_enter(void) {
  if (mia__fork_depth++ != 0) return;
  for (;;) {
    const uintptr_t g = mia__atomic_fetch_add(&mia__fork_gate, (uintptr_t)2, acquire);
    if ((g & 1) == 0) return;
    (void)mia__atomic_fetch_sub(&mia__fork_gate, (uintptr_t)2, relaxed); /* a fork is under way: let it pass */
    while (mia__atomic_load(&mia__fork_gate, acquire) & 1) mia__yield();
  }
}
MIA__PRIVATE void mia__fork_leave(void) {
  if (--mia__fork_depth == 0) (void)mia__atomic_fetch_sub(&mia__fork_gate, (uintptr_t)2, release);
}
/* A thread's own slow paths change its data (page queues, segment maps,
   heap lists) in several unlocked steps, which fork() may copy half done.
   The child sees each other thread as stopped at one instruction, as a
   signal would, so a count the thread keeps behind compiler fences tells
   it which threads were inside one: mia__fork_child leaves their data alone
   (leaked in the child) and adopts the others'. The fast paths are not
   counted: their two-step pop and push are repaired (mia__fork_repair). */
#define mia__slow_enter(tld) ((void)((tld)->in_slow++), mia__signal_fence())
#define mia__slow_leave(tld) (mia__signal_fence(), (void)((tld)->in_slow--))
#else
#define mia__fork_enter() ((void)0)
#define mia__fork_leave() ((void)0)
#define mia__slow_enter(tld) ((void)(tld))
#define mia__slow_leave(tld) ((void)(tld))
#endif

/* ---------------------------------------------------------------------------
   >>bins: size classes
   8 bytes, then 16, 32, 48 and 64 (bins 1, 2, 4, 6, 8: every block of 16
   bytes or more is 16-aligned, like max_align_t; 32-bit targets: 8, 16, 32,
   48, 64, every block 8-aligned); above that, four bins per
   power of two, so a block wastes at most 20% of its size (12.5% on average
   for uniformly spread sizes). Sizes above the large maximum go to BIN_HUGE.
--------------------------------------------------------------------------- */
MIA__INLINE size_t mia__wsize_from_size(size_t size) { return (size + MIA__WSIZE - 1) / MIA__WSIZE; }
/* The pages_direct slot of a size <= MIALLOC_SMALL_SIZE_MAX: the size itself on 64-bit hosts. */
MIA__INLINE size_t mia__direct_slot(size_t size) { return (size + ((size_t)1 << MIA__DIRECT_SHIFT) - 1) >> MIA__DIRECT_SHIFT; }

/* The bin of w words, 8 < w <= LARGE_OBJ_WSIZE_MAX: four bins a doubling. */
MIA__INLINE size_t mia__bin_wide(size_t w) {
  w--;
  const size_t b = mia__bsr(w); /* >= 3 */
  return ((b - 3) << 2) + ((w >> (b - 2)) & 3) + 9;
}
MIA__INLINE size_t mia__bin(size_t size) {
  size_t w = mia__wsize_from_size(size);
  if (w <= 1) return (MIA__WSIZE == 4 ? 2 : 1); /* 32-bit: 8 bytes at least, as malloc gives */
  /* every block of 16 bytes or more is a multiple of 16: 64-bit rounds to
     even word counts, 32-bit to multiples of four words below 16 words */
  if (MIA__WSIZE == 8 && w <= 8) return (w + 1) & ~(size_t)1;
  if (MIA__WSIZE == 4 && w <= 16) {
    if (w <= 2) return 2;
    w = (w + 3) & ~(size_t)3;
    if (w <= 8) return w;
  }
  if (w <= 8) return w;
  if (w > MIA__LARGE_OBJ_WSIZE_MAX) return MIA__BIN_HUGE;
  return mia__bin_wide(w);
}

/* The block size of a bin (the largest size that maps to it). */
MIA__INLINE size_t mia__bin_size(size_t bin) {
  if (bin <= 8) return bin * MIA__WSIZE;
  const size_t k = bin - 9;
  const size_t b = (k >> 2) + 3;
  return ((5 + (k & 3)) << (b - 2)) * MIA__WSIZE;
}

MIA__INLINE mia__page_kind_t mia__page_kind_of_size(size_t block_size) {
  if (block_size <= MIA__SMALL_OBJ_SIZE_MAX) return MIA__PAGE_SMALL;
  if (block_size <= MIA__MEDIUM_OBJ_SIZE_MAX) return MIA__PAGE_MEDIUM;
  if (block_size <= MIA__LARGE_OBJ_SIZE_MAX) return MIA__PAGE_LARGE;
  return MIA__PAGE_HUGE;
}

/* ---------------------------------------------------------------------------
   >>options
--------------------------------------------------------------------------- */
typedef struct mia__option_desc_s {
  long value;
  bool initialized;
  bool from_env;
  const char* name;
} mia__option_desc_t;

/* The names are read only to find MIALLOC_<NAME> in a hosted environment. */
#if MIA__HOSTED && !MIALLOC_NO_OS
#define MIA__OPTION(value, name) { value, false, false, name }
#else
#define MIA__OPTION(value, name) { value, false, false, NULL }
#endif
static mia__option_desc_t mia__options[mia_option_last] = {
  MIA__OPTION(MIALLOC_DEBUG > 0 ? 1 : 0, "show_errors"),
  MIA__OPTION(0, "show_stats"),
  MIA__OPTION(0, "verbose"),
  MIA__OPTION(0, "large_os_pages"),
  MIA__OPTION(10, "purge_delay"),
  MIA__OPTION(16, "segment_cache"), /* 16: malloc-large 0.31 -> 0.18 s, larson-2 0.39 -> 0.31 s, peak RSS within 5% (make bench) */
  MIA__OPTION(16, "max_errors"),
  MIA__OPTION(16, "max_warnings"),
  MIA__OPTION(0, "reserve_os_memory"),
  MIA__OPTION(0, "purge_extend_delay"),
  MIA__OPTION(0, "abandoned_reclaim_on_free"),
  MIA__OPTION(1, "allow_thp"), /* 1: bench/large_reuse.c n=1000 faults 76.7 -> 3.6 per replacement, peak RSS 558 -> 546 MiB; see MIA__THP_MIN_SEGMENTS */
  MIA__OPTION(MIA__THP_MIN_SEGMENTS, "thp_min_segments"),
};

/* Small string helpers (no C library needed). */
MIA__PRIVATE size_t mia__strlen(const char* s) { size_t n = 0; while (s[n] != 0) n++; return n; }
MIA__PRIVATE bool mia__streq(const char* a, const char* b) { while (*a != 0 && *a == *b) { a++; b++; } return *a == *b; }

/* Read MIALLOC_<NAME> from the environment without allocating (hosted builds). */
MIA__PRIVATE void mia__option_init(mia__option_desc_t* desc) {
#if MIA__HOSTED && !MIALLOC_NO_OS
  char name[64] = "MIALLOC_";
  size_t n = 8;
  for (const char* s = desc->name; *s != 0 && n + 1 < sizeof(name); s++, n++) {
    name[n] = (*s >= 'a' && *s <= 'z') ? (char)(*s - 'a' + 'A') : *s;
  }
  name[n] = 0;
  const char* v = getenv(name);
  if (v != NULL && *v != 0) {
    if (mia__streq(v, "true") || mia__streq(v, "on") || mia__streq(v, "yes")) desc->value = 1;
    else if (mia__streq(v, "false") || mia__streq(v, "off") || mia__streq(v, "no")) desc->value = 0;
    else {
      char* end = NULL;
      long val = strtol(v, &end, 10);
      if (end != v) desc->value = val;
    }
    desc->from_env = true;
  }
#endif
  desc->initialized = true;
}

MIA__API long mia_option_get(mia_option_t option) {
  if ((unsigned)option >= (unsigned)mia_option_last) return 0;
  mia__option_desc_t* desc = &mia__options[option];
  if mia_unlikely(!desc->initialized) mia__option_init(desc);
  return desc->value;
}
MIA__API long mia_option_get_clamp(mia_option_t option, long min, long max) {
  long v = mia_option_get(option);
  return (v < min ? min : (v > max ? max : v));
}
MIA__API size_t mia_option_get_size(mia_option_t option) {
  long v = mia_option_get(option);
  return (v < 0 ? 0 : (size_t)v * MIA__KiB);
}
MIA__PRIVATE void mia__purge_delay_reset(void);
MIA__API void mia_option_set(mia_option_t option, long value) {
  if ((unsigned)option >= (unsigned)mia_option_last) return;
  mia__options[option].value = value;
  mia__options[option].initialized = true;
  if (option == mia_option_purge_delay) mia__purge_delay_reset(); /* adaptation starts again from the new value */
}
MIA__API void mia_option_set_default(mia_option_t option, long value) {
  if ((unsigned)option >= (unsigned)mia_option_last) return;
  mia__option_desc_t* desc = &mia__options[option];
  if (!desc->initialized) mia__option_init(desc);
  if (!desc->from_env) desc->value = value;
}
MIA__API bool mia_option_is_enabled(mia_option_t option) { return mia_option_get(option) != 0; }
MIA__API void mia_option_set_enabled(mia_option_t option, bool enable) { mia_option_set(option, enable ? 1 : 0); }
MIA__API void mia_option_enable(mia_option_t option) { mia_option_set(option, 1); }
MIA__API void mia_option_disable(mia_option_t option) { mia_option_set(option, 0); }

/* ---------------------------------------------------------------------------
   >>output: messages, errors, statistics counters
--------------------------------------------------------------------------- */
static mia_output_fun* mia__out_fun = NULL;
static void* mia__out_arg = NULL;
static mia_error_fun* mia__error_fun = NULL;
static void* mia__error_arg = NULL;
static mia__atomic(long) mia__error_count;

MIA__PRIVATE void mia__out_default(const char* msg) {
#if MIA__OS_POSIX
  size_t n = mia__strlen(msg);
  while (n > 0) {
    ssize_t w = write(2, msg, n);
    if (w <= 0) break;
    msg += w; n -= (size_t)w;
  }
#elif MIA__HOSTED && !MIALLOC_NO_OS
  fputs(msg, stderr);
#else
  (void)msg; /* no OS: only a registered output function sees messages */
#endif
}

/* A small formatter (no C library): %s %c %d %u %x %p with l, ll, z and a
   width (a leading '-' pads on the right). Enough for our messages. */
typedef struct mia__fmt_buf_s { char* out; size_t len; size_t cap; } mia__fmt_buf_t;
MIA__PRIVATE void mia__fmt_putc(mia__fmt_buf_t* b, char c) { if (b->len + 1 < b->cap) b->out[b->len++] = c; }
MIA__PRIVATE void mia__fmt_field(mia__fmt_buf_t* b, const char* s, size_t n, size_t width, bool left) {
  if (!MIA__HOSTED) width = 0; /* only the statistics tables pad, and they are hosted */
  if (!left) for (size_t i = n; i < width; i++) mia__fmt_putc(b, ' ');
  for (size_t i = 0; i < n; i++) mia__fmt_putc(b, s[i]);
  if (left) for (size_t i = n; i < width; i++) mia__fmt_putc(b, ' ');
}
/* The widest integer a message prints: 64 bits in hosted builds (the
   statistics print long long), a word in freestanding ones (no 64-bit
   arithmetic on a 32-bit core). */
#if MIA__HOSTED
typedef unsigned long long mia__fmt_uint_t;
typedef long long mia__fmt_int_t;
#else
typedef size_t mia__fmt_uint_t;
typedef ptrdiff_t mia__fmt_int_t;
#endif
/* v /= 10, returning the remainder, with 32-bit divisions only (a 32-bit
   target then needs no 64-bit division routine). */
MIA__PRIVATE unsigned mia__udiv10(mia__fmt_uint_t* v) {
#if MIA__HOSTED
  const uint32_t hi = (uint32_t)(*v >> 32), lo = (uint32_t)*v;
  const uint32_t qhi = hi / 10u;
  uint32_t r = hi % 10u;
  const uint32_t mid = (r << 16) | (lo >> 16);
  const uint32_t qmid = mid / 10u;
  r = mid % 10u;
  const uint32_t low = (r << 16) | (lo & 0xFFFFu);
  const uint32_t qlow = low / 10u;
  r = low % 10u;
  *v = ((unsigned long long)qhi << 32) | ((unsigned long long)qmid << 16) | qlow;
  return (unsigned)r;
#else
  const unsigned r = (unsigned)(*v % 10u);
  *v /= 10u;
  return r;
#endif
}

MIA__PRIVATE void mia__vsnfmt(char* out, size_t cap, const char* fmt, va_list args) {
  mia__fmt_buf_t b = { out, 0, cap };
  for (const char* f = fmt; *f != 0; f++) {
    if (*f != '%') { mia__fmt_putc(&b, *f); continue; }
    f++;
    bool left = false;
    size_t width = 0;
    if (*f == '-') { left = true; f++; }
    while (*f >= '0' && *f <= '9') { width = width * 10 + (size_t)(*f - '0'); f++; }
    int longs = 0;
    bool is_size = false;
    while (*f == 'l') { longs++; f++; }
    if (*f == 'z') { is_size = true; f++; }
    char tmp[32];
    size_t n = 0;
    const char c = *f;
    if (c == 's') {
      const char* str = va_arg(args, const char*);
      if (str == NULL) str = "(null)";
      mia__fmt_field(&b, str, mia__strlen(str), width, left);
      continue;
    } else if (c == 'c') {
      tmp[0] = (char)va_arg(args, int);
      mia__fmt_field(&b, tmp, 1, width, left);
      continue;
    } else if (c == 'd' || c == 'u' || c == 'x' || c == 'p') {
      mia__fmt_uint_t v;
      bool neg = false;
      if (c == 'p') v = (mia__fmt_uint_t)(uintptr_t)va_arg(args, void*);
      else if (c == 'd') {
        const mia__fmt_int_t sv = (is_size ? (mia__fmt_int_t)va_arg(args, ptrdiff_t) : longs >= 2 ? (mia__fmt_int_t)va_arg(args, long long)
                                   : longs == 1 ? (mia__fmt_int_t)va_arg(args, long) : (mia__fmt_int_t)va_arg(args, int));
        neg = (sv < 0);
        v = (neg ? (mia__fmt_uint_t)0 - (mia__fmt_uint_t)sv : (mia__fmt_uint_t)sv);
      } else {
        v = (is_size ? (mia__fmt_uint_t)va_arg(args, size_t) : longs >= 2 ? (mia__fmt_uint_t)va_arg(args, unsigned long long)
             : longs == 1 ? (mia__fmt_uint_t)va_arg(args, unsigned long) : (mia__fmt_uint_t)va_arg(args, unsigned int));
      }
      const bool hex = (c == 'x' || c == 'p');
      char digits[24];
      size_t nd = 0;
      do {
        const unsigned d = (hex ? (unsigned)(v & 15u) : mia__udiv10(&v));
        if (hex) v >>= 4;
        digits[nd++] = (char)(d < 10 ? '0' + d : 'a' + d - 10);
      } while (v != 0);
      if (neg) tmp[n++] = '-';
      if (c == 'p') { tmp[n++] = '0'; tmp[n++] = 'x'; }
      while (nd > 0) tmp[n++] = digits[--nd];
      mia__fmt_field(&b, tmp, n, width, left);
      continue;
    } else if (c == '%') {
      mia__fmt_putc(&b, '%');
      continue;
    } else if (c == 0) {
      break;
    }
  }
  if (b.cap > 0) b.out[b.len < b.cap ? b.len : b.cap - 1] = 0;
}

#if MIA__GNUC
MIA__PRINTF_FMT(4, 0)
#endif
MIA__PRIVATE void mia__vprint(mia_output_fun* out, void* arg, const char* prefix, const char* fmt, va_list args) {
  char buf[512];
  size_t n = 0;
  if (prefix != NULL) { n = mia__strlen(prefix); if (n > 64) n = 64; mia__memcpy(buf, prefix, n); }
  mia__vsnfmt(buf + n, sizeof(buf) - n, fmt, args);
  if (out != NULL) out(buf, arg);
  else if (mia__out_fun != NULL) mia__out_fun(buf, mia__out_arg);
  else mia__out_default(buf);
}

#if MIA__GNUC
MIA__PRINTF_FMT(3, 4)
#endif
MIA__PRIVATE void mia__printf(mia_output_fun* out, void* arg, const char* fmt, ...) {
  va_list args;
  va_start(args, fmt);
  mia__vprint(out, arg, NULL, fmt, args);
  va_end(args);
}

#if MIA__GNUC
MIA__PRINTF_FMT(1, 2)
#endif
MIA__PRIVATE void mia__verbose(const char* fmt, ...) {
  /* freestanding: no verbose messages (their text is flash a firmware image pays for) */
  if (!MIA__HOSTED || !mia_option_is_enabled(mia_option_verbose)) return;
  va_list args;
  va_start(args, fmt);
  mia__vprint(NULL, NULL, "mialloc: ", fmt, args);
  va_end(args);
}

/* Report an error: print it (if show_errors, at most max_errors times), call
   the registered error function. Corruption (EFAULT) aborts in debug builds. */
#if MIA__GNUC
MIA__PRINTF_FMT(2, 3)
#endif
MIA__PRIVATE void mia__error(int err, const char* fmt, ...) {
  if (mia_option_is_enabled(mia_option_show_errors) || mia_option_is_enabled(mia_option_verbose)) {
    long count = mia__atomic_fetch_add(&mia__error_count, 1, relaxed);
    if (count < mia_option_get(mia_option_max_errors)) {
      va_list args;
      va_start(args, fmt);
      mia__vprint(NULL, NULL, "mialloc: error: ", fmt, args);
      va_end(args);
    }
  }
  if (mia__error_fun != NULL) mia__error_fun(err, mia__error_arg);
#if MIALLOC_DEBUG > 0
  if (err == EFAULT) MIA__ABORT();
#endif
}

/* Misuse found by the debug and secure checks: always printed (one line
   naming the pointer and the problem); then the registered error function is
   called and the operation skipped, or, with none registered, abort(). */
#if MIA__GNUC
MIA__PRINTF_FMT(2, 3)
#endif
MIA__PRIVATE void mia__error_fatal(int err, const char* fmt, ...) {
  va_list args;
  va_start(args, fmt);
  mia__vprint(NULL, NULL, "mialloc: error: ", fmt, args);
  va_end(args);
  if (mia__error_fun != NULL) { mia__error_fun(err, mia__error_arg); return; }
  MIA__ABORT();
}

MIA__PRIVATE void mia__assert_fail(const char* cond, const char* file, int line, const char* func) {
  mia__printf(NULL, NULL, "mialloc: assertion failed: %s:%d, %s: %s\n", file, line, func, cond);
  MIA__ABORT();
}

MIA__API void mia_register_output(mia_output_fun* out, void* arg) { mia__out_fun = out; mia__out_arg = arg; }
MIA__API void mia_register_error(mia_error_fun* fun, void* arg) { mia__error_fun = fun; mia__error_arg = arg; }

/* Process-wide counters; updated with relaxed atomics on slow paths only. */
typedef struct mia__stat_count_s {
  mia__atomic(int64_t) current;
  mia__atomic(int64_t) peak;
  mia__atomic(int64_t) total;
} mia__stat_count_t;

typedef struct mia__stats_s {
  mia__stat_count_t reserved;    /* bytes reserved from the OS */
  mia__stat_count_t committed;   /* bytes committed */
  mia__stat_count_t segments;    /* segments alive */
  mia__stat_count_t pages;       /* pages in use */
  mia__stat_count_t huge;        /* huge blocks alive */
  mia__stat_count_t threads;     /* threads with a heap */
  mia__stat_count_t abandoned;   /* segments abandoned and not reclaimed */
  mia__stat_count_t purged;      /* bytes purged */
  mia__stat_count_t reclaimed;   /* segments reclaimed */
  mia__stat_count_t mmap_calls;  /* OS reserve calls */
} mia__stats_t;

static mia__stats_t mia__stats;

MIA__PRIVATE void mia__stat_add(mia__stat_count_t* s, int64_t amount) {
  int64_t cur = mia__atomic_fetch_add(&s->current, amount, relaxed) + amount;
  if (amount > 0) {
    (void)mia__atomic_fetch_add(&s->total, amount, relaxed);
    int64_t peak = mia__atomic_load(&s->peak, relaxed);
    while (cur > peak && !mia__atomic_cas_weak(&s->peak, &peak, cur, relaxed, relaxed)) { }
  }
}

/* ---------------------------------------------------------------------------
   >>os: the operating system layer
   Everything the allocator asks of the OS goes through one mia_os_hooks_t
   (see its declaration for each function's contract). The POSIX and Windows
   layers below are two instances of it; a user installs another for a
   platform we do not know, or wraps these to inject faults.
--------------------------------------------------------------------------- */
#if MIA__OS_POSIX
/* Under a strict ISO mode with a system header included before this file,
   glibc leaves out MAP_ANONYMOUS and madvise: the Linux values (the same on
   every architecture we build for but alpha, mips and parisc) and madvise's
   POSIX prototype stand in. */
#if !defined(MAP_ANONYMOUS) && defined(MAP_ANON)
#define MAP_ANONYMOUS MAP_ANON
#endif
#if !defined(MAP_ANONYMOUS) && MIA__OS_LINUX
#if defined(__mips__)
#define MAP_ANONYMOUS 0x800
#elif defined(__alpha__) || defined(__hppa__)
#define MAP_ANONYMOUS 0x10
#else
#define MAP_ANONYMOUS 0x20
#endif
#endif
#if !defined(MADV_DONTNEED) && MIA__OS_LINUX
#if defined(__alpha__)
#define MADV_DONTNEED 6
#else
#define MADV_DONTNEED 4
#endif
#ifdef __cplusplus
extern "C" int madvise(void* addr, size_t len, int advice);
#else
extern int madvise(void* addr, size_t len, int advice);
#endif
#endif
MIA__PRIVATE int mia__os_reserve__posix(size_t size, size_t align, void** addr, void* arg) {
  (void)arg;
  *addr = NULL;
  void* p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return errno;
  if (((uintptr_t)p & (align - 1)) == 0) { *addr = p; return 0; }
  /* Over-allocate and trim to the alignment. */
  munmap(p, size);
  const size_t over = size + align;
  if (over < size) return ENOMEM;
  p = mmap(NULL, over, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return errno;
  uintptr_t start = ((uintptr_t)p + align - 1) & ~(uintptr_t)(align - 1);
  size_t head = (size_t)(start - (uintptr_t)p);
  size_t tail = over - head - size;
  if (head > 0) munmap(p, head);
  if (tail > 0) munmap((void*)(start + size), tail);
  *addr = (void*)start;
  return 0;
}
MIA__PRIVATE int mia__os_release__posix(void* addr, size_t size, void* arg) { (void)arg; return munmap(addr, size) == 0 ? 0 : errno; }
MIA__PRIVATE int mia__os_commit__posix(void* addr, size_t size, void* arg) { (void)addr; (void)size; (void)arg; return 0; }
MIA__PRIVATE int mia__os_decommit__posix(void* addr, size_t size, bool* needs_commit, void* arg) {
  (void)arg;
  *needs_commit = false;
  /* MADV_DONTNEED: the pages are dropped now and read as zero afterwards. */
  return madvise(addr, size, MADV_DONTNEED) == 0 ? 0 : errno;
}
MIA__PRIVATE int mia__os_protect__posix(void* addr, size_t size, bool on, void* arg) {
  (void)arg;
  return mprotect(addr, size, on ? PROT_NONE : (PROT_READ | PROT_WRITE)) == 0 ? 0 : errno;
}
MIA__PRIVATE int mia__os_huge__posix(void* addr, size_t size) {
#if defined(MADV_HUGEPAGE)
  return madvise(addr, size, MADV_HUGEPAGE) == 0 ? 0 : errno;
#else
  (void)addr; (void)size; return ENOSYS;
#endif
}
MIA__PRIVATE size_t mia__os_page_size__posix(void) {
  long r = sysconf(_SC_PAGESIZE);
  return (r > 0 ? (size_t)r : 4096);
}
#define MIA__OS_DEFAULT_HOOKS { mia__os_reserve__posix, mia__os_release__posix, mia__os_commit__posix, mia__os_decommit__posix, mia__os_protect__posix, 4096, NULL, NULL }
#endif /* MIA__OS_POSIX */

#if MIA__OS_WINDOWS
MIA__PRIVATE int mia__os_reserve__win32(size_t size, size_t align, void** addr, void* arg) {
  (void)arg;
  *addr = NULL;
  void* p = VirtualAlloc(NULL, size, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
  if (p == NULL) return ENOMEM;
  if (((uintptr_t)p & (align - 1)) == 0) { *addr = p; return 0; }
  VirtualFree(p, 0, MEM_RELEASE);
  /* Reserve more, release, and claim the aligned part; another thread may
     take the range in between, so retry a few times. */
  for (int tries = 0; tries < 16; tries++) {
    void* q = VirtualAlloc(NULL, size + align, MEM_RESERVE, PAGE_NOACCESS);
    if (q == NULL) return ENOMEM;
    uintptr_t start = ((uintptr_t)q + align - 1) & ~(uintptr_t)(align - 1);
    VirtualFree(q, 0, MEM_RELEASE);
    p = VirtualAlloc((void*)start, size, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
    if (p != NULL) { *addr = p; return 0; }
  }
  return ENOMEM;
}
MIA__PRIVATE int mia__os_release__win32(void* addr, size_t size, void* arg) { (void)size; (void)arg; return VirtualFree(addr, 0, MEM_RELEASE) ? 0 : EINVAL; }
MIA__PRIVATE int mia__os_commit__win32(void* addr, size_t size, void* arg) { (void)arg; return VirtualAlloc(addr, size, MEM_COMMIT, PAGE_READWRITE) != NULL ? 0 : ENOMEM; }
MIA__PRIVATE int mia__os_decommit__win32(void* addr, size_t size, bool* needs_commit, void* arg) {
  (void)arg;
  *needs_commit = true;
  return VirtualFree(addr, size, MEM_DECOMMIT) ? 0 : EINVAL;
}
MIA__PRIVATE int mia__os_protect__win32(void* addr, size_t size, bool on, void* arg) {
  (void)arg;
  DWORD old = 0;
  return VirtualProtect(addr, size, on ? PAGE_NOACCESS : PAGE_READWRITE, &old) ? 0 : EINVAL;
}
MIA__PRIVATE int mia__os_huge__win32(void* addr, size_t size) { (void)addr; (void)size; return ENOSYS; }
MIA__PRIVATE size_t mia__os_page_size__win32(void) {
  SYSTEM_INFO si;
  GetSystemInfo(&si);
  return (si.dwPageSize > 0 ? (size_t)si.dwPageSize : 4096);
}
#define MIA__OS_DEFAULT_HOOKS { mia__os_reserve__win32, mia__os_release__win32, mia__os_commit__win32, mia__os_decommit__win32, mia__os_protect__win32, 4096, NULL, NULL }
#endif /* MIA__OS_WINDOWS */

#ifdef MIA__OS_DEFAULT_HOOKS
static mia_os_hooks_t mia__os = MIA__OS_DEFAULT_HOOKS;
static const mia_os_hooks_t mia__os_builtin = MIA__OS_DEFAULT_HOOKS;
#else
/* No OS layer we know: the user installs one (mia_os_hooks_set) before the
   first allocation; until then every reserve fails with ENOSYS. */
MIA__PRIVATE int mia__os_none_reserve(size_t size, size_t align, void** addr, void* arg) { (void)size; (void)align; (void)arg; *addr = NULL; return ENOSYS; }
MIA__PRIVATE int mia__os_none_release(void* addr, size_t size, void* arg) { (void)addr; (void)size; (void)arg; return 0; }
MIA__PRIVATE int mia__os_none_commit(void* addr, size_t size, void* arg) { (void)addr; (void)size; (void)arg; return 0; }
MIA__PRIVATE int mia__os_none_decommit(void* addr, size_t size, bool* needs_commit, void* arg) { (void)addr; (void)size; (void)arg; *needs_commit = false; return ENOSYS; }
MIA__PRIVATE int mia__os_none_protect(void* addr, size_t size, bool on, void* arg) { (void)addr; (void)size; (void)on; (void)arg; return ENOSYS; }
#define MIA__OS_DEFAULT_HOOKS { mia__os_none_reserve, mia__os_none_release, mia__os_none_commit, mia__os_none_decommit, mia__os_none_protect, 256, NULL, NULL } /* no OS pages: metadata rounds to 256 bytes */
static mia_os_hooks_t mia__os = MIA__OS_DEFAULT_HOOKS;
static const mia_os_hooks_t mia__os_builtin = MIA__OS_DEFAULT_HOOKS;
#endif
static bool mia__os_user_page_size = false;

MIA__PRIVATE void mia__os_init(void) {
  if (mia__os_user_page_size) return;
#if MIA__OS_WINDOWS
  mia__os.page_size = mia__os_page_size__win32();
#elif MIA__OS_POSIX
  mia__os.page_size = mia__os_page_size__posix();
#endif
}
MIA__INLINE size_t mia__os_page_size(void) { return mia__os.page_size; }

MIA__API void mia_os_hooks_default(mia_os_hooks_t* hooks) {
  if (hooks == NULL) return;
  *hooks = mia__os_builtin;
#if MIA__OS_WINDOWS
  hooks->page_size = mia__os_page_size__win32();
#elif MIA__OS_POSIX
  hooks->page_size = mia__os_page_size__posix();
#endif
}
MIA__API bool mia_os_hooks_set(const mia_os_hooks_t* hooks) {
  if (hooks == NULL) { mia_os_hooks_default(&mia__os); mia__os_user_page_size = false; return true; }
  if (hooks->reserve == NULL || hooks->release == NULL || hooks->commit == NULL || hooks->decommit == NULL ||
      hooks->protect == NULL || !mia__is_power_of_two(hooks->page_size)) {
    mia__error(EINVAL, "mia_os_hooks_set: a hook is missing or page_size is not a power of two\n");
    return false;
  }
  mia__os = *hooks;
  mia__os_user_page_size = true;
  return true;
}

/* The allocator's calls into the hooks, with statistics. */
MIA__PRIVATE int mia__os_reserve(size_t size, size_t align, void** addr) {
  int err = mia__os.reserve(size, align, addr, mia__os.arg);
  if (err == 0 && (*addr == NULL || ((uintptr_t)*addr & (align - 1)) != 0)) {
    mia__error(EFAULT, "the OS hook reserve returned %p, not aligned to %zu\n", *addr, align);
    err = EFAULT;
  }
  if (err == 0) {
    mia__stat_add(&mia__stats.reserved, (int64_t)size);
    mia__stat_add(&mia__stats.committed, (int64_t)size);
    mia__stat_add(&mia__stats.mmap_calls, 1);
  }
  return err;
}
MIA__PRIVATE void mia__os_release(void* addr, size_t size, size_t committed) {
  if (mia__os.release(addr, size, mia__os.arg) == 0) {
    mia__stat_add(&mia__stats.reserved, -(int64_t)size);
    mia__stat_add(&mia__stats.committed, -(int64_t)committed);
  }
}
MIA__PRIVATE int mia__os_commit(void* addr, size_t size) {
  int err = mia__os.commit(addr, size, mia__os.arg);
  if (err == 0) mia__stat_add(&mia__stats.committed, (int64_t)size);
  return err;
}
/* Purge (decommit): 0 or an errno code; *needs_commit tells whether the
   range must be committed again before use. A failed purge leaves the
   memory as it was: still committed, contents unknown. */
MIA__PRIVATE int mia__os_purge(void* addr, size_t size, bool* needs_commit) {
  *needs_commit = false;
  const int err = mia__os.decommit(addr, size, needs_commit, mia__os.arg);
  if (err != 0) { *needs_commit = false; return err; }
  mia__stat_add(&mia__stats.purged, (int64_t)size);
  if (*needs_commit) mia__stat_add(&mia__stats.committed, -(int64_t)size); /* else: stays mapped, RSS drops */
  return 0;
}
MIA__PRIVATE int mia__os_protect(void* addr, size_t size, bool on) { return mia__os.protect(addr, size, on, mia__os.arg); }
MIA__PRIVATE int mia__os_huge(void* addr, size_t size) {
#if MIA__OS_WINDOWS
  return mia__os_huge__win32(addr, size);
#elif MIA__OS_POSIX
  if (mia__os.reserve != mia__os_builtin.reserve) return ENOSYS; /* user memory: not ours to advise */
  return mia__os_huge__posix(addr, size);
#else
  (void)addr; (void)size; return ENOSYS;
#endif
}

/* ---------------------------------------------------------------------------
   >>simd: run-time selected AVX2 helpers with scalar fallbacks
   Chosen once, at process start-up, with __builtin_cpu_supports; never on a
   per-call fast path. MIALLOC_NO_SIMD=1 keeps the scalar code only.
   What is here is what measured a gain: free-list building for 8- and
   16-byte blocks. Measured and removed: an AVX2 zeroing loop for calloc's
   generic path (glibc's memset, itself AVX2, took the same time from 256 B
   to 4 MiB: ratio 0.97-1.01), and BMI2 (no path here used an instruction
   of it; builds with -march=x86-64-v3 get BMI2 from the compiler).
--------------------------------------------------------------------------- */

/* Link `n` blocks of `bsize` bytes from `start` into a list ending in `last_next`. */
/* The block at byte address `p`: block addresses are page_start plus a
   multiple of a block size, both multiples of the word size (through void*,
   so -Wcast-align sees no alignment raised). */
MIA__INLINE mia__block_t* mia__block_at(uint8_t* p) { return (mia__block_t*)(void*)p; }
MIA__PRIVATE void mia__build_list__scalar(uint8_t* start, size_t bsize, size_t n, mia__block_t* last_next) {
  uint8_t* p = start;
  for (size_t i = 0; i + 1 < n; i++, p += bsize) mia__block_at(p)->next = mia__block_at(p + bsize);
  mia__block_at(p)->next = last_next;
}
#if MIA__HAS_AVX2_PATHS
/* The links of 8- and 16-byte blocks in whole 32-byte stores, 64 bytes a
   step: four links a store for 8-byte blocks; two for 16-byte blocks, whose
   second words get a zero (a fresh page's blocks must stay zero for calloc:
   free_is_zero). Other sizes have one link per 32 bytes or more: no store
   to share, the scalar loop. Gain: make bench-instr's F row (16-byte blocks
   into fresh pages), the mialloc column against mialloc (no SIMD). */
__attribute__((target("avx2")))
MIA__PRIVATE void mia__build_list__avx2(uint8_t* start, size_t bsize, size_t n, mia__block_t* last_next) {
  size_t i = 0;
  if (bsize == 8 || bsize == 16) {
    const long long s = (long long)(uintptr_t)start, b = (long long)bsize;
    const bool eight = (bsize == 8);
    /* 8: [s+8, s+16, s+24, s+32] links blocks 0..3; 16: [s+16, 0, s+32, 0] links blocks 0 and 1 */
    __m256i v0 = (eight ? _mm256_set_epi64x(s + 4 * b, s + 3 * b, s + 2 * b, s + b) : _mm256_set_epi64x(0, s + 2 * b, 0, s + b));
    const __m256i lanes = (eight ? _mm256_set1_epi64x(1) : _mm256_set_epi64x(0, 1, 0, 1)); /* the lanes that hold links */
    __m256i v1 = _mm256_add_epi64(v0, _mm256_slli_epi64(lanes, 5)); /* the links one store further on: +32 */
    const __m256i step = _mm256_slli_epi64(lanes, 6);               /* +64 a step */
    const unsigned per_shift = (eight ? 3 : 2); /* blocks per 64-byte step: 8 or 4 */
    const size_t steps = (n - 1) >> per_shift;  /* the last block is the scalar tail's: it links to last_next */
    uint8_t* p = start;
    uint8_t* const end = start + steps * 64;
    for (; p < end; p += 64) {
      _mm256_storeu_si256((__m256i*)(void*)p, v0);
      _mm256_storeu_si256((__m256i*)(void*)(p + 32), v1);
      v0 = _mm256_add_epi64(v0, step);
      v1 = _mm256_add_epi64(v1, step);
    }
    i = steps << per_shift;
  }
  mia__build_list__scalar(start + i * bsize, bsize, n - i, last_next);
}
#endif

typedef struct mia__simd_s {
  void (*build_list)(uint8_t* start, size_t bsize, size_t n, mia__block_t* last_next);
  bool avx2;
} mia__simd_t;

static mia__simd_t mia__simd = { mia__build_list__scalar, false };

MIA__PRIVATE void mia__simd_init(void) {
#if MIA__HAS_AVX2_PATHS
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx2")) {
    mia__simd.build_list = mia__build_list__avx2;
    mia__simd.avx2 = true;
  }
#endif
}

/* ---------------------------------------------------------------------------
   >>arena: where segments come from -- arenas (memory the program gives),
   the huge region, the OS
--------------------------------------------------------------------------- */

/* ---- arenas: user memory carved into segment-sized units ----
   Each arena is a bitmap of units (1 = in use) under a small spin lock taken
   only when a segment is allocated or freed (never on a block's path). */
#if MIALLOC_NO_OS
#define MIA__MAX_ARENAS 4           /* small targets: keep the static tables small */
#define MIA__ARENA_MAX_UNITS 1024   /* 16 MiB an arena in the default 16 KiB segments */
#else
#define MIA__MAX_ARENAS 16
#define MIA__ARENA_MAX_UNITS 4096
#endif
typedef struct mia__arena_s {
  mia__atomic(uintptr_t) base;       /* aligned to SEGMENT_SIZE; set last (0: slot not ready) */
  uint8_t* start;                    /* the same, for arithmetic */
  size_t units;
  bool exclusive;
  bool is_zero;                      /* units never used read as zero */
  mia__atomic(int) lock;
  size_t used[MIA__ARENA_MAX_UNITS / MIA__WORD_BITS];
  size_t dirty[MIA__ARENA_MAX_UNITS / MIA__WORD_BITS]; /* units written since the arena was added */
#if MIALLOC_NO_OS
  mia__atomic(uint32_t) starts[MIA__ARENA_MAX_UNITS / 32]; /* the segment map: a segment starts at the unit */
#endif
} mia__arena_t;
static mia__arena_t mia__arenas[MIA__MAX_ARENAS];
static mia__atomic(int) mia__arena_count;

#if MIALLOC_NO_OS
/* The segment map of a build without an OS (see mia__segment_map_set): the
   arena holding the segment, and a bit of that arena's. */
MIA__PRIVATE mia__atomic(uint32_t)* mia__segment_map_word(const mia__segment_t* segment, uint32_t* bit) {
  const int count = mia__atomic_load(&mia__arena_count, acquire);
  for (int i = 0; i < count && i < MIA__MAX_ARENAS; i++) {
    mia__arena_t* a = &mia__arenas[i];
    const uintptr_t base = mia__atomic_load(&a->base, acquire);
    const size_t unit = (size_t)((uintptr_t)segment - base) / MIA__SEGMENT_SIZE;
    if (base == 0 || (uintptr_t)segment < base || unit >= a->units) continue;
    *bit = (uint32_t)1 << (unit % 32);
    return &a->starts[unit / 32];
  }
  return NULL;
}
MIA__PRIVATE void mia__segment_map_set(const mia__segment_t* segment, bool on) {
  uint32_t bit = 0;
  mia__atomic(uint32_t)* word = mia__segment_map_word(segment, &bit);
  if (word == NULL) return;
  if (on) (void)mia__atomic_fetch_or(word, bit, release);
  else (void)mia__atomic_fetch_and(word, ~bit, release);
}
MIA__PRIVATE bool mia__segment_map_contains(const mia__segment_t* segment) {
  uint32_t bit = 0;
  mia__atomic(uint32_t)* word = mia__segment_map_word(segment, &bit);
  return word != NULL && (mia__atomic_load(word, relaxed) & bit) != 0;
}
#endif

MIA__PRIVATE void mia__arena_lock(mia__arena_t* a) {
  mia__fork_enter();
  int expected = 0;
  while (!mia__atomic_cas_weak(&a->lock, &expected, 1, acquire, relaxed)) { expected = 0; mia__yield(); }
}
MIA__PRIVATE void mia__arena_unlock(mia__arena_t* a) { mia__atomic_store(&a->lock, 0, release); mia__fork_leave(); }
MIA__INLINE bool mia__bit(const size_t* map, size_t i) { return (map[i / MIA__WORD_BITS] >> (i % MIA__WORD_BITS)) & 1; }
MIA__INLINE void mia__bit_set(size_t* map, size_t i, bool on) {
  const size_t bit = (size_t)1 << (i % MIA__WORD_BITS);
  if (on) map[i / MIA__WORD_BITS] |= bit; else map[i / MIA__WORD_BITS] &= ~bit;
}

/* The first run of `n` free units of arena `a` on a multiple of `step`
   (all of them dirty, with `dirty_only`); SIZE_MAX if none. Under its lock. */
MIA__PRIVATE size_t mia__arena_find(const mia__arena_t* a, size_t n, size_t step, bool dirty_only) {
  for (size_t i = 0; i + n <= a->units; i++) {
    if ((((uintptr_t)a->start / MIA__SEGMENT_SIZE) + i) % step != 0) continue;
    size_t j = 0;
    while (j < n && !mia__bit(a->used, i + j) && (!dirty_only || mia__bit(a->dirty, i + j))) j++;
    if (j == n) return i;
    i += j;
  }
  return SIZE_MAX;
}
/* Take `size` bytes (whole units) aligned to `align` from arena `a`. */
MIA__PRIVATE void* mia__arena_alloc(mia__arena_t* a, size_t size, size_t align, bool* is_zero) {
  const size_t n = (size + MIA__SEGMENT_SIZE - 1) / MIA__SEGMENT_SIZE;
  const size_t step = (align > MIA__SEGMENT_SIZE ? align / MIA__SEGMENT_SIZE : 1);
  mia__arena_lock(a);
  const size_t i = mia__arena_find(a, n, step, false);
  if (i != SIZE_MAX) {
    bool zero = a->is_zero;
    for (size_t j = 0; j < n; j++) {
      if (mia__bit(a->dirty, i + j)) zero = false;
      mia__bit_set(a->used, i + j, true);
      mia__bit_set(a->dirty, i + j, true);
    }
    *is_zero = zero;
  }
  mia__arena_unlock(a);
  return (i == SIZE_MAX ? NULL : a->start + i * MIA__SEGMENT_SIZE);
}
MIA__PRIVATE void mia__arena_free(mia__arena_t* a, void* p, size_t size) {
  const size_t first = (size_t)((uint8_t*)p - a->start) / MIA__SEGMENT_SIZE;
  const size_t n = (size + MIA__SEGMENT_SIZE - 1) / MIA__SEGMENT_SIZE;
  mia__arena_lock(a);
  for (size_t j = 0; j < n; j++) mia__bit_set(a->used, first + j, false);
  mia__arena_unlock(a);
}

MIA__API bool mia_manage_os_memory_ex(void* start, size_t size, bool is_committed, bool is_large, bool is_zero, int numa_node, bool exclusive, mia_arena_id_t* arena_id) {
  (void)is_large; (void)numa_node;
  if (arena_id != NULL) *arena_id = 0;
  if (start == NULL || !is_committed) {
    mia__error(EINVAL, "mia_manage_os_memory: the memory must be given committed (start %p)\n", start);
    return false;
  }
  uintptr_t begin = ((uintptr_t)start + MIA__SEGMENT_SIZE - 1) & ~(uintptr_t)MIA__SEGMENT_MASK;
  const uintptr_t end = (uintptr_t)start + size;
  if (end < (uintptr_t)start || begin >= end || end - begin < MIA__SEGMENT_SIZE) {
    mia__error(ENOMEM, "mia_manage_os_memory: %zu bytes at %p hold no aligned segment of %zu bytes\n", size, start, MIA__SEGMENT_SIZE);
    return false;
  }
  size_t units = (size_t)(end - begin) / MIA__SEGMENT_SIZE;
  if (units > MIA__ARENA_MAX_UNITS) {
    units = MIA__ARENA_MAX_UNITS;
    mia__verbose("arena at %p: the first %zu bytes used\n", start, units * MIA__SEGMENT_SIZE);
  }
  const int index = mia__atomic_fetch_add(&mia__arena_count, 1, acq_rel);
  if (index >= MIA__MAX_ARENAS) {
    (void)mia__atomic_fetch_sub(&mia__arena_count, 1, acq_rel);
    mia__error(ENOMEM, "mia_manage_os_memory: all %d arena slots are taken\n", MIA__MAX_ARENAS);
    return false;
  }
  mia__arena_t* a = &mia__arenas[index];
  a->units = units;
  a->exclusive = exclusive;
  a->is_zero = is_zero;
  mia__atomic_store(&a->lock, 0, relaxed);
  mia__memset(a->used, 0, sizeof(a->used));
  mia__memset(a->dirty, 0, sizeof(a->dirty));
#if MIALLOC_NO_OS
  for (size_t w = 0; w < MIA__ARENA_MAX_UNITS / 32; w++) mia__atomic_store(&a->starts[w], (uint32_t)0, relaxed);
#endif
  a->start = (uint8_t*)begin;
  mia__atomic_store(&a->base, begin, release); /* published last */
  if (arena_id != NULL) *arena_id = index + 1;
  mia__verbose("arena %d: %zu segments at %p%s\n", index + 1, units, (void*)begin, exclusive ? " (exclusive)" : "");
  return true;
}
MIA__API bool mia_manage_os_memory(void* start, size_t size, bool is_committed, bool is_large, bool is_zero, int numa_node) {
  return mia_manage_os_memory_ex(start, size, is_committed, is_large, is_zero, numa_node, false, NULL);
}
MIA__INLINE mia__arena_t* mia__arena_of_id(int arena_id) {
  if (arena_id <= 0 || arena_id > mia__atomic_load(&mia__arena_count, acquire) || arena_id > MIA__MAX_ARENAS) return NULL;
  mia__arena_t* a = &mia__arenas[arena_id - 1];
  return (mia__atomic_load(&a->base, acquire) == 0 ? NULL : a);
}
/* May a heap of arena `arena_id` use this segment? */
MIA__INLINE bool mia__segment_fits_arena(const mia__segment_t* segment, int arena_id) {
  if (arena_id != 0) return segment->arena_index == arena_id;
  return !segment->arena_exclusive;
}

/* ---- the huge region: huge blocks reused in place ----
   On 64-bit POSIX hosts one range of address space (MIA__REGION_UNITS
   segments, 256 MiB: with 1 GiB the test suite's fork children under
   qemu-aarch64 missed their 2 s limit, and large_reuse measured the same) is
   reserved at the first huge allocation and carved into
   segment-sized units as an arena is, for huge segments only. A freed huge
   block's units stay mapped and written (dirty) for the next huge block, of
   any size -- free neighbours coalesce in the bitmap, and a run of dirty
   units is taken before clean ones -- so a program that replaces large
   buffers faults nothing in again. A free dirty unit goes back to the OS at
   the first purge pass after it was seen free at the pass before (one to two
   purge delays, mia__purge_delay), at once under mia_collect(true), which
   also releases the whole region once nothing in it is in use. Huge blocks
   that do not fit go to the OS as before. Statistics: the region counts as
   reserved, and a unit as committed while it is in use or dirty. */
#define MIA__REGION (MIA__OS_POSIX && !MIALLOC_NO_OS && MIA__ADDRESS_BITS >= 48)
#define MIA__PURGE_DELAY_MAX ((int64_t)1000) /* the longest purge delay, ms (see mia__purge_delay) */
#define MIA__REGION_UNITS 64 /* one word of units (mia__region_alloc's search needs that) */
#if MIA__REGION
typedef struct mia__region_s {
  mia__arena_t arena;                /* used: units in use; dirty: written and not purged since */
  size_t stale[MIA__REGION_UNITS / 64]; /* free dirty units the last pass saw: purged at the next */
  size_t purged[MIA__REGION_UNITS / 64]; /* units purged and not used since (a reuse soon is a refault) */
  int64_t purged_at;                 /* ms clock of the last pass that purged */
  mia__atomic(int64_t) purge_at;     /* ms clock of the next pass (0: none pending) */
  mia__atomic(int) state;            /* 0 none, 1 reserving, 2 ready, 3 the OS refused (until mia_collect(true)) */
} mia__region_t;
static mia__region_t mia__region;
MIA__PRIVATE int64_t mia__purge_delay(void);
MIA__PRIVATE void mia__purge_refault(int64_t now);
MIA__PRIVATE size_t mia__region_units(size_t first, size_t n, const size_t* map, bool value) {
  size_t count = 0;
  for (size_t j = first; j < first + n; j++) count += (mia__bit(map, j) == value);
  return count;
}

/* The region, reserved on first use; NULL if there is none. */
MIA__PRIVATE mia__arena_t* mia__region_get(void) {
  mia__region_t* r = &mia__region;
  int state = mia__atomic_load(&r->state, acquire);
  if mia_likely(state == 2) return &r->arena;
  /* state 1 (reserving or releasing) is a two-step change: inside the fork gate */
  mia__fork_enter();
  if (state != 0 || !mia__atomic_cas_strong(&r->state, &state, 1, acq_rel, acquire)) {
    mia__fork_leave();
    while ((state = mia__atomic_load(&r->state, acquire)) == 1) mia__yield();
    return (state == 2 ? &r->arena : NULL);
  }
  void* start = NULL;
  const size_t size = (size_t)MIA__REGION_UNITS * MIA__SEGMENT_SIZE;
  if (mia__os_reserve(size, MIA__SEGMENT_SIZE, &start) != 0) {
    mia__atomic_store(&r->state, 3, release);
    mia__fork_leave();
    return NULL;
  }
  mia__stat_add(&mia__stats.committed, -(int64_t)size); /* units count as they are taken */
  if (mia_option_is_enabled(mia_option_allow_thp)) (void)mia__os_huge(start, size); /* only huge blocks live here */
  mia__arena_lock(&r->arena); /* a pass that waited for the lock of the region released before may hold it */
  mia__memset(r->arena.used, 0, sizeof(r->arena.used));
  mia__memset(r->arena.dirty, 0, sizeof(r->arena.dirty));
  mia__memset(r->stale, 0, sizeof(r->stale));
  mia__memset(r->purged, 0, sizeof(r->purged));
  r->purged_at = 0;
  r->arena.start = (uint8_t*)start;
  r->arena.units = MIA__REGION_UNITS;
  r->arena.exclusive = false;
  r->arena.is_zero = true;
  mia__atomic_store(&r->arena.base, (uintptr_t)start, relaxed);
  mia__atomic_store(&r->purge_at, (int64_t)0, relaxed);
  mia__atomic_store(&r->state, 2, release);
  mia__arena_unlock(&r->arena);
  mia__fork_leave();
  return &r->arena;
}

/* `size` bytes for a huge segment from the region, or NULL. */
MIA__PRIVATE void* mia__region_alloc(size_t size, bool* is_zero) {
  mia__arena_t* a = mia__region_get();
  if (a == NULL) return NULL;
  const size_t n = (size + MIA__SEGMENT_SIZE - 1) / MIA__SEGMENT_SIZE;
  mia__arena_lock(a);
  if (mia__atomic_load(&mia__region.state, relaxed) != 2) { mia__arena_unlock(a); return NULL; } /* released meanwhile */
  /* the run of n free units with the most dirty ones: the fewest faults
     (the region's units are the bits of one word: runs by shifts and ANDs) */
  size_t i = SIZE_MAX, best = 0;
  if (n <= a->units) {
    const size_t free_units = ~a->used[0];
    size_t starts = free_units & (a->units - n + 1 >= 64 ? ~(size_t)0 : ((size_t)1 << (a->units - n + 1)) - 1);
    for (size_t k = 1; k < n && starts != 0; k++) starts &= free_units >> k;
    const size_t run = (n >= 64 ? ~(size_t)0 : ((size_t)1 << n) - 1);
    for (; starts != 0 && best < n; starts &= starts - 1) {
      const size_t k = mia__ctz64(starts);
      const size_t dirty = mia__popcount((a->dirty[0] >> k) & run);
      if (i == SIZE_MAX || dirty > best) { i = k; best = dirty; }
    }
  }
  bool refault = false, failed = false;
  if (i != SIZE_MAX) {
    *is_zero = (mia__region_units(i, n, a->dirty, true) == 0);
    for (size_t j = i; j < i + n; j++) {
      if (!mia__bit(a->dirty, j)) { /* clean: committed again (a no-op where purged memory stays usable) */
        if (mia__os_commit(a->start + j * MIA__SEGMENT_SIZE, MIA__SEGMENT_SIZE) != 0) { failed = true; break; }
        if (mia__bit(mia__region.purged, j)) refault = true;
        mia__bit_set(a->dirty, j, true);
      }
      mia__bit_set(mia__region.purged, j, false);
      mia__bit_set(mia__region.stale, j, false);
      mia__bit_set(a->used, j, true);
    }
    if (failed) { for (size_t j = i; j < i + n; j++) mia__bit_set(a->used, j, false); }
  }
  const int64_t purged_at = mia__region.purged_at;
  mia__arena_unlock(a);
  if (refault) {
    const int64_t now = mia__clock_now();
    if (now - purged_at < 2 * MIA__PURGE_DELAY_MAX) mia__purge_refault(now);
  }
  return (i == SIZE_MAX || failed ? NULL : a->start + i * MIA__SEGMENT_SIZE);
}

/* Is a pass over the huge region due (or pending, with now == 0)? */
MIA__INLINE bool mia__region_due(int64_t now) {
  const int64_t at = mia__atomic_load(&mia__region.purge_at, relaxed);
  return at != 0 && (now == 0 || now >= at);
}
MIA__PRIVATE void mia__region_purge(int64_t now, bool force, bool release);
/* A huge segment of the region is freed: its units stay dirty, for the
   next huge block. (Also when the thread that freed the block purged most
   of it: its first and last pages were not, so the units do not read as
   zero, and the pass purges them again.) */
MIA__PRIVATE void mia__region_free(void* p, size_t size) {
  mia__arena_t* a = &mia__region.arena;
  const size_t first = (size_t)((uint8_t*)p - a->start) / MIA__SEGMENT_SIZE;
  const size_t n = (size + MIA__SEGMENT_SIZE - 1) / MIA__SEGMENT_SIZE;
  mia__arena_lock(a);
  for (size_t j = first; j < first + n; j++) mia__bit_set(a->used, j, false);
  mia__arena_unlock(a);
  const int64_t now = mia__clock_now(); /* frees advance the schedule too: a program that only frees still returns memory */
  if (mia__atomic_load(&mia__region.purge_at, relaxed) == 0) {
    const int64_t delay = mia__purge_delay();
    if (delay >= 0) mia__atomic_store(&mia__region.purge_at, now + delay, relaxed);
  } else if (mia__region_due(now)) {
    mia__region_purge(now, false, false);
  }
}

/* A purge pass (mia__tld_purge): the free dirty units the last pass saw go
   back (with `force` every free dirty unit); with `release`, the region
   itself if nothing in it is in use. */
MIA__PRIVATE void mia__region_purge(int64_t now, bool force, bool release) {
  mia__region_t* r = &mia__region;
  if (mia__atomic_load(&r->state, acquire) != 2) {
    if (release) { int failed = 3; (void)mia__atomic_cas_strong(&r->state, &failed, 0, acq_rel, relaxed); } /* the OS may agree now */
    return;
  }
  mia__arena_t* a = &r->arena;
  mia__fork_enter(); /* a release (state 1 until the OS has the range) is a two-step change */
  mia__arena_lock(a);
  if (mia__atomic_load(&r->state, relaxed) != 2) { mia__arena_unlock(a); mia__fork_leave(); return; } /* released while this pass waited */
  bool any_used = false, any_stale = false;
  for (size_t w = 0; w < MIA__REGION_UNITS / 64; w++) {
    const size_t free_dirty = a->dirty[w] & ~a->used[w];
    size_t due = (force ? free_dirty : free_dirty & r->stale[w]);
    while (due != 0) { /* runs of due units: one call each */
      const size_t i = mia__ctz64(due);
      size_t k = i;
      while (k < 64 && ((due >> k) & 1)) k++;
      const size_t run = (k - i >= 64 ? ~(size_t)0 : (((size_t)1 << (k - i)) - 1)) << i;
      bool needs_commit = false;
      if (mia__os_purge(a->start + (w * 64 + i) * MIA__SEGMENT_SIZE, (k - i) * MIA__SEGMENT_SIZE, &needs_commit) == 0) {
        if (!needs_commit) mia__stat_add(&mia__stats.committed, -(int64_t)((k - i) * MIA__SEGMENT_SIZE));
        a->dirty[w] &= ~run;
        r->purged[w] |= run;
        r->purged_at = now;
      }
      due &= ~run;
    }
    r->stale[w] = a->dirty[w] & ~a->used[w];
    any_stale = any_stale || r->stale[w] != 0;
    any_used = any_used || a->used[w] != 0;
  }
  const int64_t delay = mia__purge_delay();
  mia__atomic_store(&r->purge_at, (any_stale && delay >= 0 ? now + (delay > 0 ? delay : 1) : 0), relaxed);
  const bool free_all = (release && !any_used);
  if (free_all) mia__atomic_store(&r->state, 1, release); /* no new allocation while it goes */
  mia__arena_unlock(a);
  if (free_all) {
    mia__os_release(a->start, (size_t)MIA__REGION_UNITS * MIA__SEGMENT_SIZE, 0); /* every unit purged and uncounted above */
    mia__atomic_store(&r->state, 0, release);
  }
  mia__fork_leave();
}
#else
MIA__INLINE bool mia__region_due(int64_t now) { (void)now; return false; }
#endif

/* Memory for a segment: the heap's own arena, else the shared arenas, else
   (never for an exclusive arena, never without an OS) the OS. */
MIA__PRIVATE int mia__segment_reserve(size_t size, size_t align, int arena_id, void** base, int* from_arena, bool* is_zero) {
  *from_arena = 0;
  *is_zero = true;
  if (arena_id != 0) {
    mia__arena_t* a = mia__arena_of_id(arena_id);
    if (a != NULL && (*base = mia__arena_alloc(a, size, align, is_zero)) != NULL) { *from_arena = arena_id; return 0; }
    if (a == NULL || a->exclusive) return ENOMEM;
  } else {
    const int count = mia__atomic_load(&mia__arena_count, acquire);
    for (int i = 0; i < count && i < MIA__MAX_ARENAS; i++) {
      mia__arena_t* a = mia__arena_of_id(i + 1);
      if (a == NULL || a->exclusive) continue;
      if ((*base = mia__arena_alloc(a, size, align, is_zero)) != NULL) { *from_arena = i + 1; return 0; }
    }
  }
#if MIALLOC_NO_OS
  return ENOMEM; /* no OS to ask */
#else
  return mia__os_reserve(size, align, base);
#endif
}

/* ---------------------------------------------------------------------------
   >>segment: segments, their pages, the cache of free segments
--------------------------------------------------------------------------- */

/* Page descriptors follow the segment header. */
MIA__INLINE mia__page_t* mia__segment_pages(mia__segment_t* segment) {
  return (mia__page_t*)(void*)((uint8_t*)segment + sizeof(mia__segment_t));
}
/* The segment of any pointer into its first SEGMENT_SIZE bytes (p - 1, so that
   a block placed exactly at segment + SEGMENT_SIZE, as over-aligned huge
   blocks are, still maps back; no block starts at the segment's first byte). */
MIA__INLINE mia__segment_t* mia__segment_of(const void* p) {
  return (mia__segment_t*)(((uintptr_t)p - 1) & ~(uintptr_t)MIA__SEGMENT_MASK);
}
MIA__INLINE mia__page_t* mia__segment_page_of(mia__segment_t* segment, const void* p) {
  return segment->slots[MIA__SHR_LOW((uintptr_t)p, MIALLOC_SMALL_PAGE_SHIFT) & (MIA__SMALL_PAGES_PER_SEGMENT - 1)];
}
MIA__INLINE mia__segment_t* mia__page_segment(const mia__page_t* page) {
  return mia__segment_of(page); /* descriptors live in the segment's first bytes */
}
MIA__INLINE mia_heap_t* mia__page_heap(const mia__page_t* page) {
  return mia__atomic_load(&((mia__page_t*)(uintptr_t)page)->xheap, relaxed);
}
/* Bytes of the page's block area. */
/* Where a huge segment's block starts: after the header, or at
   segment + SEGMENT_SIZE when it was placed for a large alignment. */
MIA__INLINE size_t mia__huge_offset(const mia__segment_t* segment) {
  return (segment->huge_aligned ? MIA__SEGMENT_SIZE : segment->info_size);
}
MIA__PRIVATE size_t mia__page_area_size(const mia__segment_t* segment, const mia__page_t* page) {
  if (segment->page_kind == MIA__PAGE_HUGE) return segment->segment_size - mia__huge_offset(segment);
  if (segment->page_kind == MIA__PAGE_LARGE) { /* slices under the metadata have no area */
    return (((size_t)page->page_index << segment->page_shift) < segment->info_size ? 0 : (size_t)page->slice_count << segment->page_shift);
  }
  const size_t psize = (size_t)1 << segment->page_shift;
  const size_t start = (size_t)page->page_index << segment->page_shift;
  if (start + psize <= segment->info_size) return 0; /* all metadata (tiny pages) */
  return (start < segment->info_size ? start + psize - segment->info_size : psize);
}
MIA__PRIVATE uint8_t* mia__page_area(mia__segment_t* segment, const mia__page_t* page) {
  if (segment->page_kind == MIA__PAGE_HUGE) return (uint8_t*)segment + mia__huge_offset(segment);
  const size_t start = (size_t)page->page_index << segment->page_shift;
  return (uint8_t*)segment + (start < segment->info_size ? segment->info_size : start);
}
/* Large segments: bit i of the result is set when slices i .. i+n-1 are all
   free in `map` (a first fit is its lowest bit). */
MIA__INLINE mia__pagemap_t mia__span_starts(mia__pagemap_t map, size_t n) {
  mia__pagemap_t m = map;
  for (size_t k = 1; k < n && m != 0; k++) m &= map >> k;
  return m;
}
MIA__INLINE mia__pagemap_t mia__span_mask(size_t i, size_t n) {
  return (mia__pagemap_t)((n >= MIA__PAGEMAP_BITS ? ~(mia__pagemap_t)0 : (mia__pagemap_t)(((mia__pagemap_t)1 << n) - 1)) << i);
}

/* A small or medium page whose area the metadata has eaten (more than half
   of it: possible with tiny pages), or a large segment's slice that the
   metadata touches, is never handed out. */
MIA__INLINE bool mia__page_excluded(const mia__segment_t* segment, const mia__page_t* page) {
  if (segment->page_kind == MIA__PAGE_LARGE) return ((size_t)page->page_index << segment->page_shift) < segment->info_size;
  return segment->page_kind <= MIA__PAGE_MEDIUM && mia__page_area_size(segment, page) < ((size_t)1 << segment->page_shift) / 2;
}

/* Commit the pages i .. i+n-1 that are not committed: a large segment's
   adjacent slices in one call, other pages one by one (their areas as the
   segment's current layout has them). */
MIA__PRIVATE int mia__span_commit(mia__segment_t* segment, size_t i, size_t n) {
  mia__page_t* pages = mia__segment_pages(segment);
  const bool slices = (segment->page_kind == MIA__PAGE_LARGE);
  for (size_t k = i; k < i + n;) {
    if (pages[k].is_committed) { k++; continue; }
    size_t end = k + 1;
    while (slices && end < i + n && !pages[end].is_committed) end++;
    uint8_t* start = mia__page_area(segment, &pages[k]);
    const size_t size = (slices ? (size_t)((uint8_t*)segment + (end << segment->page_shift) - start) : mia__page_area_size(segment, &pages[k]));
    if (size != 0 && mia__os_commit(start, size) != 0) return ENOMEM;
    for (; k < end; k++) pages[k].is_committed = 1;
  }
  return 0;
}

/* The map of our segments: one bit per segment-sized unit of the address
   space, set while a segment starts there, so free, realloc and usable_size
   tell our pointers from any other without touching memory that may not be
   mapped (8 MiB of zero pages on 64-bit, touched only where segments are).
   Relaxed loads: the bit is set before any block of the segment is handed
   out, and whoever frees a block got it through the program's own
   synchronization. MIALLOC_NO_OS builds, whose segments all come from
   arenas, keep the bits per arena unit instead (mia__arena_s: no table over
   the address space, whatever the segment size). */
#if !MIALLOC_NO_OS
#define MIA__SEGMENT_MAP_WORDS (((size_t)1 << (MIA__ADDRESS_BITS - MIALLOC_SEGMENT_SHIFT)) / 64)
static mia__atomic(uint64_t) mia__segment_map[MIA__SEGMENT_MAP_WORDS];
MIA__PRIVATE void mia__segment_map_set(const mia__segment_t* segment, bool on) {
  const uintptr_t unit = (uintptr_t)segment >> MIALLOC_SEGMENT_SHIFT;
  if (unit / 64 >= MIA__SEGMENT_MAP_WORDS) return;
  const uint64_t bit = (uint64_t)1 << (unit % 64);
  if (on) (void)mia__atomic_fetch_or(&mia__segment_map[unit / 64], bit, release);
  else (void)mia__atomic_fetch_and(&mia__segment_map[unit / 64], ~bit, release);
}
MIA__INLINE bool mia__segment_map_contains(const mia__segment_t* segment) {
  const uintptr_t unit = (uintptr_t)segment >> MIALLOC_SEGMENT_SHIFT;
  if mia_unlikely(unit / 64 >= MIA__SEGMENT_MAP_WORDS) return false;
  return (mia__atomic_load(&mia__segment_map[unit / 64], relaxed) >> (unit % 64)) & 1;
}
#endif

/* The calling thread's own segments, as seen by the free fast path: a
   direct-mapped table indexed by segment number that holds the segment's
   address (compared with the one the free has computed already), so "is
   this block's segment mine?" is answered from thread-local memory, before
   any segment header is read. Invariant: an entry names a segment the
   thread's own data (its tld) owns -- entries go when the segment is freed
   or abandoned, and the table is emptied when the thread is done. A segment
   it owns may be missing (another of the same slot took the slot, or it was
   never put in: the shared parts' segments): its frees take the slow path,
   which checks the segment map and puts a segment of the thread's back.
   Empty slots hold a value no segment address has. 32 slots: 256 bytes of
   TLS on 64-bit. */
#define MIA__OWNED_SLOTS 32
#define MIA__OWNED_EMPTY UINTPTR_MAX
#define MIA__OE4 MIA__OWNED_EMPTY, MIA__OWNED_EMPTY, MIA__OWNED_EMPTY, MIA__OWNED_EMPTY
static MIA__THREAD_LOCAL uintptr_t mia__owned[MIA__OWNED_SLOTS] = { MIA__OE4, MIA__OE4, MIA__OE4, MIA__OE4, MIA__OE4, MIA__OE4, MIA__OE4, MIA__OE4 };
MIA__STATIC_ASSERT(MIA__OWNED_SLOTS == 32, "the initializer lists 32 empty slots");
MIA__INLINE uintptr_t* mia__owned_slot(const mia__segment_t* segment) {
  return &mia__owned[MIA__SHR_LOW((uintptr_t)segment, MIALLOC_SEGMENT_SHIFT) % MIA__OWNED_SLOTS];
}
MIA__INLINE bool mia__owned_has(const mia__segment_t* segment) { return *mia__owned_slot(segment) == (uintptr_t)segment; }
MIA__INLINE void mia__owned_put(const mia__segment_t* segment) { *mia__owned_slot(segment) = (uintptr_t)segment; } /* the thread owns it */
/* A segment `tld` now owns: in the table if `tld` is the calling thread's. */
MIA__PRIVATE void mia__owned_add(const mia__segment_t* segment, const struct mia__tld_s* tld) {
  if (tld->thread_id == mia__thread_id()) mia__owned_put(segment); /* else a heap's shared part, or another thread's data */
}
MIA__INLINE void mia__owned_remove(const mia__segment_t* segment) {
  if (mia__owned_has(segment)) *mia__owned_slot(segment) = MIA__OWNED_EMPTY;
}
MIA__PRIVATE void mia__owned_clear(void) {
  for (size_t i = 0; i < MIA__OWNED_SLOTS; i++) mia__owned[i] = MIA__OWNED_EMPTY;
}

static mia__atomic(uintptr_t) mia__abandoned;        /* stack of abandoned segments */
static mia__atomic(size_t) mia__abandoned_count;
static mia__atomic(int64_t) mia__reclaimed_at;      /* ms clock of the last adoption of one, or of a pooled segment */

MIA__PRIVATE mia__segment_queue_t* mia__segment_free_queue(const mia__segment_t* segment) {
  mia__assert_internal(segment->heap != NULL && segment->page_kind <= MIA__PAGE_LARGE);
  return &segment->heap->segments[segment->page_kind];
}
MIA__PRIVATE void mia__segment_queue_remove(mia__segment_queue_t* q, mia__segment_t* s) {
  if (s->prev != NULL) s->prev->next = s->next; else q->first = s->next;
  if (s->next != NULL) s->next->prev = s->prev; else q->last = s->prev;
  s->next = s->prev = NULL;
  s->in_queue = 0;
}
MIA__PRIVATE void mia__segment_queue_push(mia__segment_queue_t* q, mia__segment_t* s) {
  s->prev = q->last; s->next = NULL;
  if (q->last != NULL) q->last->next = s; else q->first = s;
  q->last = s;
  s->in_queue = 1;
}

/* The return policy (>>purge) */
MIA__PRIVATE void mia__segment_purge_later(mia__segment_t* segment, mia__pagemap_t mask, struct mia__tld_s* tld);
MIA__PRIVATE int64_t mia__segment_purge(mia__segment_t* segment, bool force, int64_t now);
MIA__PRIVATE void mia__tld_purge_note(struct mia__tld_s* tld, int64_t when);
MIA__PRIVATE bool mia__churning(int64_t now);
MIA__PRIVATE void mia__purge_refault(int64_t now);
/* Set up a segment header and its page descriptors over fresh or cached memory. */
MIA__PRIVATE void mia__segment_init(mia__segment_t* segment, mia__page_kind_t kind, size_t capacity, size_t info_size, size_t segment_size, mia__tld_t* tld, bool fresh, bool keep_page_state) {
  MIA__VG_META((uint8_t*)segment + sizeof(mia__segment_t), info_size - sizeof(mia__segment_t) - (MIA__GUARD ? mia__os_page_size() : 0)); /* old blocks may lie under the new descriptors */
  segment->page_shift = (kind == MIA__PAGE_SMALL || kind == MIA__PAGE_LARGE ? MIALLOC_SMALL_PAGE_SHIFT
                        : kind == MIA__PAGE_MEDIUM ? MIALLOC_MEDIUM_PAGE_SHIFT : MIALLOC_SEGMENT_SHIFT + 1);
  segment->abandoned_next = NULL;
  segment->adopted = 0;
  segment->segment_size = segment_size;
  segment->info_size = info_size;
  segment->capacity = capacity;
  segment->used = 0;
  segment->heap = NULL;
  segment->free_map = mia__span_mask(0, capacity);
  segment->purge_map = 0;
  segment->next = segment->prev = NULL;
  segment->page_kind = (uint8_t)kind;
  segment->in_queue = 0;
  segment->cache_expire = 0;
  mia__page_t* pages = mia__segment_pages(segment);
  const size_t slots_per_page = MIA__SMALL_PAGES_PER_SEGMENT / capacity;
  mia__page_t** slot = segment->slots;
  for (size_t i = 0; i < capacity; i++) {
    for (size_t k = 0; k < slots_per_page; k++) *slot++ = &pages[i]; /* stores of one value: no division a slot */
  }
  for (size_t i = 0; i < capacity; i++) {
    mia__page_t* page = &pages[i];
    /* a reused segment of the same kind keeps each page's memory state; one
       of another kind was committed whole by the caller and counts as dirty */
    const bool was_purged = (!fresh && keep_page_state && page->is_purged);
    const bool was_committed = (fresh || !keep_page_state || page->is_committed);
    const int64_t purged_at = (was_purged ? page->purged_at : 0);
    mia__memset((void*)page, 0, sizeof(*page));
    page->purged_at = purged_at;
    page->page_index = (uint8_t)i;
    page->page_kind = (uint8_t)kind;
    page->slice_count = 1;
    page->is_committed = (uint8_t)was_committed;
    page->is_purged = (uint8_t)(fresh || was_purged);
    if (mia__page_excluded(segment, page)) segment->free_map &= ~mia__span_mask(i, 1);
  }
  /* reused from the cache: its dirty free pages stay due for purging (in
     another kind's layout every page counts as dirty: all of them) */
  if (!fresh && !MIALLOC_NO_OS && segment->arena_index == 0) mia__segment_purge_later(segment, segment->free_map, tld);
  mia__atomic_store(&segment->thread_id, tld->thread_id, release);
  mia__owned_add(segment, tld);
}

/* ---- runs: a big heap's segments reserved several at a time ----
   A thread that owns MIA__RUN_MIN_SEGMENTS segments or more (a big heap:
   a frame loop grows by a segment every few dozen frames) takes its next
   segments from a run: one reservation of a quarter as many segments as it
   owns (at most MIA__SPARE_MAX + 1), and one MADV_HUGEPAGE for all of them
   when its segments go on huge pages, instead of a call or two per segment.
   The rest of the run waits in the thread's `spare` list, never written, so
   never resident; counted as reserved, not committed, until taken. Each
   segment is released on its own later (munmap of part of a mapping): so
   runs only with the built-in OS layer on 64-bit POSIX, where address space
   is plentiful (Windows releases a reservation whole; a user's hooks may
   too), and while no shared arena is registered (they come first). Spares
   go back to the OS when the thread exits and under mia_collect(true).
   bench/frame_loop.c warm=300 window=600: OS calls in the window 18 -> 2. */
#define MIA__RUNS (MIA__OS_POSIX && !MIALLOC_NO_OS && MIA__ADDRESS_BITS >= 48)
MIA__PRIVATE void* mia__segment_run_take(mia__tld_t* tld, bool thp) {
#if MIA__RUNS
  if (tld->segment_count < MIA__RUN_MIN_SEGMENTS || mia__os.reserve != mia__os_builtin.reserve || mia__atomic_load(&mia__arena_count, relaxed) != 0) return NULL;
  if (tld->spare_count == 0) {
    const size_t n = (tld->segment_count / 4 > MIA__SPARE_MAX + 1 ? MIA__SPARE_MAX + 1 : tld->segment_count / 4);
    void* run = NULL;
    if (mia__os_reserve(n * MIA__SEGMENT_SIZE, MIA__SEGMENT_SIZE, &run) != 0) return NULL; /* the caller tries one segment */
    if (thp) (void)mia__os_huge(run, n * MIA__SEGMENT_SIZE);
    mia__stat_add(&mia__stats.committed, -(int64_t)((n - 1) * MIA__SEGMENT_SIZE));
    for (size_t i = n - 1; i >= 1; i--) tld->spare[tld->spare_count++] = (uint8_t*)run + i * MIA__SEGMENT_SIZE; /* taken in address order */
    return run;
  }
  mia__stat_add(&mia__stats.committed, (int64_t)MIA__SEGMENT_SIZE);
  return tld->spare[--tld->spare_count];
#else
  (void)tld; (void)thp;
  return NULL;
#endif
}
/* The thread's spares back to the OS, a call for each run of neighbours. */
MIA__PRIVATE void mia__segment_spares_release(mia__tld_t* tld) {
  while (tld->spare_count > 0) {
    uint8_t* start = (uint8_t*)tld->spare[--tld->spare_count];
    size_t n = 1;
    while (tld->spare_count > 0 && tld->spare[tld->spare_count - 1] == start + n * MIA__SEGMENT_SIZE) { tld->spare_count--; n++; }
    mia__os_release(start, n * MIA__SEGMENT_SIZE, 0);
  }
}

/* Regular segments from the OS, pooled and cached ones included (the
   pool's room, below); arena, region and huge segments are not counted. */
static mia__atomic(size_t) mia__segments_mapped;
MIA__PRIVATE bool mia__segment_counted(const mia__segment_t* s) {
  return s->arena_index == 0 && !s->in_region && s->page_kind != MIA__PAGE_HUGE && s->segment_size == MIA__SEGMENT_SIZE;
}
MIA__PRIVATE void mia__segment_os_free(mia__segment_t* segment) {
  if (!MIALLOC_SINGLE_THREAD && mia__segment_counted(segment)) (void)mia__atomic_fetch_sub(&mia__segments_mapped, (size_t)1, relaxed);
  mia__segment_map_set(segment, false);
  mia__stat_add(&mia__stats.segments, -1);
#if MIA__REGION
  if (segment->in_region) {
#if MIA__GUARD
    (void)mia__os_protect((uint8_t*)segment + segment->info_size - mia__os_page_size(), mia__os_page_size(), false); /* the units stay mapped */
#endif
    mia__region_free(segment->os_base, segment->os_size);
    return;
  }
#endif
  if (MIALLOC_NO_OS || segment->arena_index != 0) { /* no OS: every segment is an arena's */
    mia__arena_t* a = mia__arena_of_id(segment->arena_index);
    if (a != NULL) mia__arena_free(a, segment->os_base, segment->os_size);
    return;
  }
  size_t committed = segment->os_size; /* less what decommit already counted */
  mia__page_t* pages = mia__segment_pages(segment);
  for (size_t i = 0; i < segment->capacity; i++) {
    if (!pages[i].is_committed) {
      /* a large segment's slice may have been decommitted as a small page (the two kinds share segments in the cache) */
      size_t a = mia__page_area_size(segment, &pages[i]);
      if (segment->page_kind == MIA__PAGE_LARGE) {
        const size_t start = i << segment->page_shift, end = start + ((size_t)1 << segment->page_shift);
        a = (end <= segment->info_size ? 0 : end - (start < segment->info_size ? segment->info_size : start));
      }
      committed = (committed >= a ? committed - a : 0);
    }
  }
  mia__os_release(segment->os_base, segment->os_size, committed);
}

/* A segment of the list `*list` (a thread's cache or the pool) that fits,
   unlinked: exactly one segment for the regular kinds; for a huge block, a
   huge segment with room for it that wastes less than half of itself. */
MIA__PRIVATE mia__segment_t* mia__segment_list_take(mia__segment_t** list, size_t* count, mia__page_kind_t kind, size_t huge_size, size_t info_size, int arena_id) {
  mia__segment_t** link = list;
  for (mia__segment_t* s = *list; s != NULL; link = &s->next, s = s->next) {
    if (!mia__segment_fits_arena(s, arena_id)) continue;
    bool fits;
    if (kind != MIA__PAGE_HUGE) fits = (s->segment_size == MIA__SEGMENT_SIZE && s->page_kind != MIA__PAGE_HUGE);
    else fits = (s->page_kind == MIA__PAGE_HUGE && s->segment_size - info_size >= huge_size && (s->segment_size - info_size) / 2 <= huge_size);
    if (fits) {
      *link = s->next;
      (*count)--;
      return s;
    }
  }
  return NULL;
}

/* The pool: free segments that exited threads had cached, for the next
   thread that needs a segment, before it asks the OS -- short-lived threads
   reuse memory instead of mapping and faulting it in anew. As many
   segments as its room (mia__pool_room, below), under a spin lock taken
   once per segment that enters or leaves. A segment keeps its pages'
   memory state: dirty pages stay dirty while threads come and go (an
   abandoned segment was adopted within MIA__PURGE_DELAY_MAX, see
   mia__churning) and take from the pool (mia__pool_taking), are purged on
   entry otherwise, and go back on the schedule of the thread that takes
   them.
   mia_collect(true) gives the pool back to the OS. */
#define MIA__POOL_MAX 4
static mia__segment_t* mia__pool;
static mia__atomic(size_t) mia__pool_count;  /* read unlocked: a peek before the lock */
static mia__atomic(int) mia__pool_lock;
/* The pool's room. At least MIA__POOL_MAX segments; more while threads
   take segments from it (one was taken in the last MIA__POOL_WINDOW ms):
   then as many as would bring the segments in use back up to their recent
   peak (the most in use at once in the last MIA__POOL_WINDOW ms), at most
   MIA__POOL_CAP. Threads that come and go in waves (two at a time handing
   blocks on, bench/thread_churn.c) empty adopted segments between two
   waves; a pool of four sent the rest back to the OS, and the next wave
   mapped and faulted them in again. Measured there (steps=5000, medians
   of 7 runs side by side with glibc): faults 25,940 -> 16,166, CPU 0.62x
   -> 0.42x glibc's, peak RSS 60.1 -> 62.3 MiB. A program whose threads
   stopped coming (nothing taken for the window) keeps four; what the pool
   holds past its room is purged with the rest once threads stop coming
   and going (mia__pool_purge). */
#define MIA__POOL_CAP 16
#define MIA__POOL_WINDOW 50
static mia__atomic(size_t) mia__segments_peak;    /* recent peak of segments in use (mapped, not pooled) */
static mia__atomic(int64_t) mia__segments_peak_at;
static mia__atomic(int64_t) mia__pool_taken_at;   /* ms clock of the last segment taken from the pool */
/* Do threads take segments from the pool now (one taken in the last
   MIA__POOL_WINDOW ms)? */
MIA__PRIVATE bool mia__pool_taking(int64_t now) { return now - mia__atomic_load(&mia__pool_taken_at, relaxed) <= MIA__POOL_WINDOW; }
/* How many segments the pool may hold now; `leaving`: a segment on its way
   in counts as in use no more. Relaxed throughout: a heuristic, where a
   stale read costs at most one segment more or less. */
MIA__PRIVATE size_t mia__pool_room(int64_t now, size_t leaving) {
  const size_t mapped = mia__atomic_load(&mia__segments_mapped, relaxed);
  const size_t pooled = mia__atomic_load(&mia__pool_count, relaxed);
  const size_t in_use = (mapped > pooled + leaving ? mapped - pooled - leaving : 0);
  size_t peak = mia__atomic_load(&mia__segments_peak, relaxed);
  if (in_use + leaving >= peak || now - mia__atomic_load(&mia__segments_peak_at, relaxed) > MIA__POOL_WINDOW) {
    peak = in_use + leaving;
    mia__atomic_store(&mia__segments_peak, peak, relaxed);
    mia__atomic_store(&mia__segments_peak_at, now, relaxed);
  }
  const size_t room = (mia__pool_taking(now) && peak > in_use ? peak - in_use : 0);
  return (room < MIA__POOL_MAX ? MIA__POOL_MAX : room > MIA__POOL_CAP ? MIA__POOL_CAP : room);
}
MIA__PRIVATE void mia__spin_lock(mia__atomic(int)* lock);
MIA__PRIVATE void mia__spin_unlock(mia__atomic(int)* lock);

/* A cached segment that fits (the thread's own cache, then the pool); NULL if none. */
MIA__PRIVATE mia__segment_t* mia__segment_cache_take(mia__tld_t* tld, mia__page_kind_t kind, size_t huge_size, size_t huge_align, size_t info_size, int arena_id) {
  if (MIALLOC_NO_OS || huge_align != 0) return NULL; /* arena segments are never cached */
  mia__segment_t* s = mia__segment_list_take(&tld->cache, &tld->cache_count, kind, huge_size, info_size, arena_id);
  if (s != NULL || MIALLOC_SINGLE_THREAD || mia__atomic_load(&mia__pool_count, relaxed) == 0) return s; /* a miss only maps anew */
  mia__spin_lock(&mia__pool_lock);
  size_t count = mia__atomic_load(&mia__pool_count, relaxed);
  s = mia__segment_list_take(&mia__pool, &count, kind, huge_size, info_size, arena_id);
  mia__atomic_store(&mia__pool_count, count, relaxed);
  mia__spin_unlock(&mia__pool_lock);
  if (s != NULL) {
    const int64_t now = mia__clock_now();
    mia__atomic_store(&mia__reclaimed_at, now, relaxed);
    mia__atomic_store(&mia__pool_taken_at, now, relaxed);
    (void)mia__pool_room(now, 0); /* the peak follows */
  }
  return s;
}

/* Get a segment of `kind` (huge: sized for `huge_size` bytes; `huge_align`:
   place the block on that alignment) from the thread's cache or the OS. */
MIA__PRIVATE mia__segment_t* mia__segment_alloc(mia__page_kind_t kind, size_t huge_size, size_t huge_align, mia__tld_t* tld, int arena_id) {
  const size_t capacity = (kind == MIA__PAGE_SMALL || kind == MIA__PAGE_LARGE ? MIA__SMALL_PAGES_PER_SEGMENT
                          : kind == MIA__PAGE_MEDIUM ? MIA__MEDIUM_PAGES_PER_SEGMENT : 1);
  const size_t info_size = mia__align_up(sizeof(mia__segment_t) + capacity * sizeof(mia__page_t), mia__os_page_size()) + (MIA__GUARD ? mia__os_page_size() : 0);
  mia__segment_t* cached = mia__segment_cache_take(tld, kind, huge_size, huge_align, info_size, arena_id);
  if (cached != NULL) {
    mia__segment_t* segment = cached;
    /* small and large segments share one geometry (a descriptor per 64 KiB) */
    const bool same_kind = (segment->page_shift == MIALLOC_SMALL_PAGE_SHIFT ? kind == MIA__PAGE_SMALL || kind == MIA__PAGE_LARGE
                                                                         : segment->page_kind == (uint8_t)kind);
    if (!same_kind) {
      /* page boundaries move: commit every page the old layout had purged
         (only those: the committed statistic counts each commit) */
      if (mia__span_commit(segment, 0, segment->capacity) != 0) {
        mia__segment_os_free(segment);
        return NULL;
      }
    }
#if MIA__GUARD
    if (segment->info_size != info_size && segment->arena_index == 0) { /* the guard page moves with the metadata's end */
      if (mia__os_protect((uint8_t*)segment + segment->info_size - mia__os_page_size(), mia__os_page_size(), false) != 0) {
        mia__segment_os_free(segment); /* the old guard would sit inside a page: not reusable */
        return NULL;
      }
      (void)mia__os_protect((uint8_t*)segment + info_size - mia__os_page_size(), mia__os_page_size(), true);
    }
#endif
    mia__segment_init(segment, kind, capacity, info_size, segment->segment_size, tld, false, same_kind);
    tld->segment_count++;
    return segment;
  }
  size_t segment_size = MIA__SEGMENT_SIZE;
  size_t os_size = MIA__SEGMENT_SIZE;
  if (kind == MIA__PAGE_HUGE) {
    if (huge_size > MIA__MAX_ALLOC_SIZE - info_size - MIA__SEGMENT_SIZE - huge_align) return NULL;
    if (huge_align == 0) segment_size = os_size = mia__align_up(info_size + huge_size, mia__os_page_size());
    else {
      /* The block goes at segment + SEGMENT_SIZE, aligned to huge_align
         (>= SEGMENT_SIZE): reserve enough to find such a place. */
      segment_size = MIA__SEGMENT_SIZE + mia__align_up(huge_size, mia__os_page_size());
      os_size = segment_size + huge_align;
    }
  }
  void* base = NULL;
  int from_arena = 0;
  bool is_zero = true;
  bool in_region = false;
#if MIA__REGION
  in_region = (kind == MIA__PAGE_HUGE && huge_align == 0 && arena_id == 0 && (base = mia__region_alloc(os_size, &is_zero)) != NULL);
#endif
  /* advised before the first write: a 2 MiB range already holding a 4 KiB page stays on 4 KiB pages */
  const long thp_min = mia_option_get(mia_option_thp_min_segments);
  const bool thp = mia_option_is_enabled(mia_option_large_os_pages) ||
                   (mia_option_is_enabled(mia_option_allow_thp) && (kind == MIA__PAGE_HUGE || (thp_min >= 0 && tld->segment_count >= (size_t)thp_min)));
  const bool in_run = (!in_region && kind != MIA__PAGE_HUGE && arena_id == 0 && (base = mia__segment_run_take(tld, thp)) != NULL); /* advised with its run */
  if (!in_region && !in_run && mia__segment_reserve(os_size, MIA__SEGMENT_SIZE, arena_id, &base, &from_arena, &is_zero) != 0) return NULL;
  if (from_arena == 0 && !in_region && !in_run && thp) (void)mia__os_huge(base, os_size); /* advice only: refused, the pages are 4 KiB */
  mia__segment_t* segment = (mia__segment_t*)base;
  if (huge_align != 0) {
    uintptr_t block = ((uintptr_t)base + MIA__SEGMENT_SIZE + huge_align - 1) & ~(uintptr_t)(huge_align - 1);
    segment = (mia__segment_t*)(block - MIA__SEGMENT_SIZE);
  }
  segment->os_base = base;
  segment->os_size = os_size;
  segment->huge_aligned = (huge_align != 0);
  segment->remote_purged = 0;
  segment->in_region = (uint8_t)in_region;
  segment->arena_index = (uint8_t)from_arena;
  segment->arena_exclusive = (uint8_t)(from_arena != 0 && mia__arenas[from_arena - 1].exclusive);
  mia__segment_init(segment, kind, capacity, info_size, segment_size, tld, true, false);
  if (!is_zero) {
    /* reused arena memory: the pages are not zero */
    for (size_t i = 0; i < capacity; i++) mia__segment_pages(segment)[i].is_purged = 0;
  }
#if MIA__GUARD
  if (from_arena == 0) mia__os_protect((uint8_t*)segment + info_size - mia__os_page_size(), mia__os_page_size(), true);
#endif
  mia__segment_map_set(segment, true);
  tld->segment_count++;
  mia__stat_add(&mia__stats.segments, 1);
  if (!MIALLOC_SINGLE_THREAD && mia__segment_counted(segment)) {
    (void)mia__atomic_fetch_add(&mia__segments_mapped, (size_t)1, relaxed);
    (void)mia__pool_room(mia__clock_now(), 0); /* the peak follows */
  }
  return segment;
}

/* A segment with no pages in use: keep it in the thread's cache (purged
   later) or give it back to the OS. */
MIA__PRIVATE bool mia__pool_put(mia__segment_t* segment, int64_t now, bool churning);
MIA__PRIVATE bool mia__tld_reusing(mia__tld_t* tld, int64_t now);
MIA__PRIVATE void mia__segment_free(mia__segment_t* segment, mia__tld_t* tld) {
  mia__owned_remove(segment);
  if (segment->in_queue) mia__segment_queue_remove(mia__segment_free_queue(segment), segment);
  tld->segment_count--;
  const long cache_max = mia_option_get(mia_option_segment_cache);
  /* an arena's segments go straight back to it: any heap of the arena, on
     any thread, may need them */
  const bool cacheable = !MIALLOC_NO_OS && segment->arena_index == 0 && !segment->in_region && !segment->remote_purged && (segment->page_kind != MIA__PAGE_HUGE ||
                          (!segment->huge_aligned && segment->segment_size <= MIA__HUGE_CACHE_MAX));
  if (!MIALLOC_SINGLE_THREAD && cacheable && segment->adopted && segment->page_kind != MIA__PAGE_HUGE) {
    /* another thread's memory, emptied here: for the threads that allocate */
    const int64_t now = mia__clock_now();
    if (!mia__pool_put(segment, now, mia__churning(now))) mia__segment_os_free(segment);
    return;
  }
  if (cacheable && ((long)tld->cache_count < cache_max || mia__tld_reusing(tld, mia__clock_now()))) {
    /* all its pages are free now: every page is due for purging */
    mia__segment_purge_later(segment, mia__span_mask(0, segment->capacity), tld);
    segment->next = tld->cache;
    tld->cache = segment;
    tld->cache_count++;
    return;
  }
  mia__segment_os_free(segment);
}

/* Release the thread's cached segments to the OS. */
MIA__PRIVATE void mia__segment_cache_free(mia__tld_t* tld) {
  while (tld->cache != NULL) {
    mia__segment_t* segment = tld->cache;
    tld->cache = segment->next;
    tld->cache_count--;
    mia__segment_os_free(segment);
  }
}
/* mia_collect(true): the thread's cached segments and the pool's to the OS,
   and the huge region's free units (the region too, if it holds nothing). */
MIA__PRIVATE void mia__segment_cache_release(mia__tld_t* tld) {
  mia__segment_cache_free(tld);
  mia__segment_spares_release(tld);
#if MIA__REGION
  mia__region_purge(mia__clock_now(), true, true);
#endif
  if (MIALLOC_SINGLE_THREAD || mia__atomic_load(&mia__pool_count, relaxed) == 0) return;
  mia__spin_lock(&mia__pool_lock);
  mia__segment_t* list = mia__pool;
  mia__pool = NULL;
  mia__atomic_store(&mia__pool_count, (size_t)0, relaxed);
  mia__spin_unlock(&mia__pool_lock);
  while (list != NULL) {
    mia__segment_t* segment = list;
    list = segment->next;
    mia__segment_os_free(segment);
  }
}

/* A free segment (no owner) to the pool, if it has room; its free memory
   goes back now unless threads are coming and going and taking from the
   pool. A pool that fills while nobody takes from it (a main thread
   freeing what exited workers built, bench's dict_threads) would hand its
   dirty pages to the next wave of threads, which takes them along with
   memory of its own: their resident set then varies with how much of it
   they happen to use. Measured with tests/override/dict_threads.c under
   LD_PRELOAD (12 rounds x 6 threads; each round's peak the median of 5
   runs, 3 such trials): largest round peak 44.8-46.6 -> 45.0-45.3 MiB,
   rounds 3..12 over round 3 1.007-1.053 -> 1.002-1.030 (the limit of
   make test-override-return is 1.05); bench/thread_churn.c, whose waves
   take the pool's segments within milliseconds, unchanged within its
   noise (faults, medians of 10: 14,800 -> 15,100, spread 12,000-17,200). */
MIA__PRIVATE bool mia__pool_put(mia__segment_t* segment, int64_t now, bool churning) {
  const size_t max = mia__pool_room(now, 1);
  if (mia__atomic_load(&mia__pool_count, relaxed) >= max) return false;
  mia__atomic_store(&segment->thread_id, (uintptr_t)0, relaxed);
  if (segment->purge_map != 0) (void)mia__segment_purge(segment, !(churning && mia__pool_taking(now)), now);
  mia__spin_lock(&mia__pool_lock);
  const size_t count = mia__atomic_load(&mia__pool_count, relaxed);
  const bool room = (count < max);
  if (room) {
    segment->next = mia__pool;
    mia__pool = segment;
    mia__atomic_store(&mia__pool_count, count + 1, relaxed);
  }
  mia__spin_unlock(&mia__pool_lock);
  return room;
}
/* A thread exits: its cached segments go to the pool, as many as fit; the
   rest back to the OS. */
MIA__PRIVATE void mia__segment_cache_to_pool(mia__tld_t* tld) {
  mia__segment_spares_release(tld);
  if (MIALLOC_SINGLE_THREAD || tld->cache == NULL) return;
  const int64_t now = mia__clock_now();
  const bool churning = mia__churning(now);
  while (tld->cache != NULL) {
    mia__segment_t* segment = tld->cache;
    tld->cache = segment->next;
    tld->cache_count--;
    if (!mia__pool_put(segment, now, churning)) mia__segment_os_free(segment);
  }
}

/* Give the free slices (pages) from .. from+count-1 to `page`, whose span
   starts at or before `from`: out of the free and purge maps, committed, the
   slots of the slices after the page's first mapped to it, and those slices
   marked dirty. *purged: every slice taken read as zero. false, with nothing
   changed, when the commit fails. */
MIA__PRIVATE bool mia__slices_take(mia__segment_t* segment, mia__page_t* page, size_t from, size_t count, bool* purged) {
  const mia__pagemap_t mask = mia__span_mask(from, count);
  const mia__pagemap_t purge_due = segment->purge_map & mask;
  segment->free_map &= ~mask;
  segment->purge_map &= ~mask;
  if (mia__span_commit(segment, from, count) != 0) {
    segment->free_map |= mask;
    segment->purge_map |= purge_due;
    return false;
  }
  mia__page_t* pages = mia__segment_pages(segment);
  bool all = true;
  int64_t purged_at = 0;
  for (size_t k = from; k < from + count; k++) {
    all = all && pages[k].is_purged;
    if (pages[k].is_purged && pages[k].purged_at > purged_at) purged_at = pages[k].purged_at;
    if (&pages[k] == page) continue; /* the page's own state is its caller's */
    pages[k].is_purged = 0;
    pages[k].purge_expire = 0;
    segment->slots[k] = page;
  }
  if (segment->free_map == 0 && segment->in_queue) mia__segment_queue_remove(mia__segment_free_queue(segment), segment);
  if (!MIALLOC_NO_OS && purged_at != 0) { /* purged memory taken again: soon enough that a longer delay would have kept it? */
    const int64_t now = mia__clock_now();
    if (now - purged_at < 2 * MIA__PURGE_DELAY_MAX) mia__purge_refault(now);
  }
  *purged = all;
  return true;
}

/* Take a free page of `kind` for `heap` (its owner's call): for a large
   page, a span of slices that holds `size` bytes; for a huge one, a segment. */
MIA__PRIVATE mia__page_t* mia__segment_page_alloc(mia__page_kind_t kind, size_t size, size_t huge_align, mia_heap_t* heap) {
  mia__tld_t* const tld = heap->tld;
  mia__segment_t* segment;
  const size_t n = (kind == MIA__PAGE_LARGE ? (size + MIA__SMALL_PAGE_SIZE - 1) >> MIALLOC_SMALL_PAGE_SHIFT : 1);
  if (kind != MIA__PAGE_HUGE) {
    mia__segment_queue_t* q = &heap->segments[kind];
    segment = q->first;
    while (segment != NULL && mia__span_starts(segment->free_map, n) == 0) segment = segment->next;
    if (segment == NULL) {
      segment = mia__segment_alloc(kind, 0, 0, tld, heap->arena_id);
      if (segment == NULL) return NULL;
      segment->heap = heap;
      mia__segment_queue_push(q, segment);
    }
  } else {
    segment = mia__segment_alloc(kind, size, huge_align, tld, heap->arena_id);
    if (segment == NULL) return NULL;
    segment->heap = heap;
  }
  mia__assert_internal(mia__span_starts(segment->free_map, n) != 0);
  const size_t i = mia__ctz64(mia__span_starts(segment->free_map, n));
  mia__page_t* page = &mia__segment_pages(segment)[i];
  bool purged = false;
  if (!mia__slices_take(segment, page, i, n, &purged)) {
    if (segment->used == 0) mia__segment_free(segment, tld); /* a new one: nothing else holds it */
    return NULL;
  }
  segment->used++;
  page->is_purged = (uint8_t)purged;
  page->slice_count = (uint8_t)n;
  page->purge_expire = 0;
  page->segment_in_use = 1;
  page->page_start = mia__page_area(segment, page);
  mia__stat_add(&mia__stats.pages, 1);
  return page;
}

/* A page with no live blocks goes back to its segment. */
MIA__PRIVATE void mia__segment_page_free(mia__page_t* page, mia__tld_t* tld) {
  mia__segment_t* segment = mia__page_segment(page);
  const size_t i = page->page_index;
  page->segment_in_use = 0;
  page->free = page->local_free = NULL;
  page->used = 0;
  page->capacity = page->reserved = 0;
  mia__atomic_store(&page->flags, (uint8_t)0, relaxed);
  page->owner_flags = 0;
  page->retire_expire = 0;
  page->is_purged = 0;
  page->next = page->prev = NULL;
  mia__atomic_store(&page->xthread_free, (uintptr_t)0, relaxed);
  mia__atomic_store(&page->xheap, (mia_heap_t*)NULL, relaxed);
  const size_t n = page->slice_count;
  const mia__pagemap_t mask = mia__span_mask(i, n);
  if (n > 1) {
    /* the span falls apart into free slices, each its own page again */
    mia__page_t* pages = mia__segment_pages(segment);
    for (size_t k = i; k < i + n; k++) segment->slots[k] = &pages[k];
    page->slice_count = 1;
  }
  segment->free_map |= mask;
  segment->used--;
  mia__stat_add(&mia__stats.pages, -1);
  if (segment->used == 0) {
    if (segment->page_kind == MIA__PAGE_HUGE) mia__stat_add(&mia__stats.huge, -1);
    mia__segment_free(segment, tld);
    return;
  }
  mia__segment_purge_later(segment, mask, tld);
  if (!segment->in_queue && segment->heap != NULL) mia__segment_queue_push(mia__segment_free_queue(segment), segment);
}

/* The segment changes heaps (mia__heap_absorb, its pages move with it):
   to another heap of the owner thread, or to a heap's shared part, whose
   pseudo thread then owns it (the caller holds the part's lock). */
MIA__PRIVATE void mia__segment_give(mia__segment_t* segment, mia_heap_t* to) {
  mia__tld_t* const from_tld = segment->heap->tld;
  const bool queued = segment->in_queue;
  if (queued) mia__segment_queue_remove(mia__segment_free_queue(segment), segment);
  segment->heap = to;
  if (queued) mia__segment_queue_push(mia__segment_free_queue(segment), segment);
  if (to->tld == from_tld) return;
  mia__owned_remove(segment);
  from_tld->segment_count--;
  to->tld->segment_count++;
  mia__atomic_store(&segment->thread_id, to->tld->thread_id, release);
  if (segment->purge_map != 0) mia__tld_purge_note(to->tld, 1); /* dirty free pages: purged on the new owner's schedule */
}

/* ---------------------------------------------------------------------------
   >>purge: the return policy -- when free memory goes back to the OS
   (the purge delay and how it adapts, reuse before return, the passes)
--------------------------------------------------------------------------- */

/* Give the memory of free pages back to the OS, now (force) or once their
   purge time has come. Returns the earliest purge time still pending. */
MIA__PRIVATE int64_t mia__segment_purge(mia__segment_t* segment, bool force, int64_t now) {
  int64_t next = 0;
  if (MIALLOC_NO_OS || segment->arena_index != 0) { segment->purge_map = 0; return 0; } /* arena memory is the program's: kept */
  mia__pagemap_t map = segment->purge_map;
  mia__page_t* pages = mia__segment_pages(segment);
  while (map != 0) {
    const size_t i = mia__ctz64(map);
    map &= map - 1;
    mia__page_t* page = &pages[i];
    if (force || page->purge_expire <= now) {
      /* the due pages (slices) that follow this one go in the same call:
         page areas of a small, medium or large segment are contiguous */
      size_t n = 1;
      if (segment->page_kind != MIA__PAGE_HUGE) {
        while (i + n < segment->capacity && (map & mia__span_mask(i + n, 1)) != 0 && (force || pages[i + n].purge_expire <= now)) {
          map &= ~mia__span_mask(i + n, 1);
          n++;
        }
      }
      uint8_t* start = mia__page_area(segment, page);
      uint8_t* const end = (n > 1 ? (uint8_t*)segment + ((i + n) << segment->page_shift) : start + mia__page_area_size(segment, page));
      const size_t psize = (end > start ? (size_t)(end - start) : 0);
      segment->purge_map &= ~mia__span_mask(i, n);
      if (psize == 0) continue;
      bool needs_commit = false;
      const bool purged = (mia__os_purge(start, psize, &needs_commit) == 0);
      if (purged && now == 0) now = mia__clock_now();
      for (size_t k = i; k < i + n; k++) {
        if (purged) {
          pages[k].is_purged = 1;
          pages[k].purged_at = now;
          if (needs_commit) pages[k].is_committed = 0;
        }
        pages[k].purge_expire = 0;
      }
    } else if (next == 0 || page->purge_expire < next) {
      next = page->purge_expire;
    }
  }
  return next;
}

MIA__PRIVATE void mia__tld_purge_note(mia__tld_t* tld, int64_t when) {
  if (when != 0 && (tld->purge_next == 0 || when < tld->purge_next)) tld->purge_next = when;
}

/* The purge delay adapts to the program (the return policy): it starts at
   the purge_delay option; every refault -- memory taken again within
   MIA__PURGE_DELAY_MAX of its purge, which a longer delay would have kept --
   doubles it, up to MIA__PURGE_DELAY_MAX; every pass that finds no refault
   for 4 x the delay halves it again. A steady loop that reuses its memory
   (a game's frames) stops purging and faulting; memory a program stopped
   using still goes back within MIA__PURGE_DELAY_MAX of its last use. 0 and
   -1 (purge at once, never) are not adapted. The delay is the process's,
   not a thread's: what one thread learned holds for the threads after it
   (short-lived threads otherwise each start at the option's value and purge
   what the next one faults in again). Relaxed atomics: a lost update only
   moves the delay a step later. */
/* Are threads coming and going -- was a segment of an exited thread taken
   within MIA__PURGE_DELAY_MAX? Then what exits now is likely taken soon. */
MIA__PRIVATE bool mia__churning(int64_t now) { return now - mia__atomic_load(&mia__reclaimed_at, relaxed) < MIA__PURGE_DELAY_MAX; }
static mia__atomic(int64_t) mia__purge_delay_ms;     /* the adapted delay (0: not set yet) */
static mia__atomic(int64_t) mia__refault_at;         /* ms clock of the last refault */
MIA__PRIVATE int64_t mia__purge_delay(void) {
  const long base = mia_option_get(mia_option_purge_delay);
  if (base <= 0) return base;
  const int64_t delay = mia__atomic_load(&mia__purge_delay_ms, relaxed);
  return (delay < base ? base : delay);
}
MIA__PRIVATE void mia__purge_delay_reset(void) { mia__atomic_store(&mia__purge_delay_ms, (int64_t)0, relaxed); }
MIA__PRIVATE void mia__purge_refault(int64_t now) {
  const int64_t delay = mia__purge_delay();
  if (delay <= 0) return;
  mia__atomic_store(&mia__refault_at, now, relaxed);
  mia__atomic_store(&mia__purge_delay_ms, (2 * delay < MIA__PURGE_DELAY_MAX ? 2 * delay : MIA__PURGE_DELAY_MAX), relaxed);
}
/* A purge pass that finds no refault for 4 x the delay halves it. */
MIA__PRIVATE void mia__purge_calm(int64_t now) {
  const int64_t base = mia_option_get(mia_option_purge_delay);
  const int64_t delay = mia__atomic_load(&mia__purge_delay_ms, relaxed);
  if (base > 0 && delay > base && now - mia__atomic_load(&mia__refault_at, relaxed) > 4 * delay) {
    mia__atomic_store(&mia__purge_delay_ms, (delay / 2 > base ? delay / 2 : base), relaxed);
  }
}
/* The pages in `mask` that hold dirty memory and are not due yet become due
   after the purge delay (0: purged now; -1: never). Ones already due keep
   their time. */
MIA__PRIVATE void mia__segment_purge_later(mia__segment_t* segment, mia__pagemap_t mask, mia__tld_t* tld) {
  if (MIALLOC_NO_OS) return; /* arena memory is the program's: never purged */
  const int64_t delay = mia__purge_delay();
  if (delay < 0) return;
  mia__page_t* pages = mia__segment_pages(segment);
  int64_t expire = 0;
  for (mia__pagemap_t m = mask & ~segment->purge_map; m != 0; m &= m - 1) {
    const size_t i = mia__ctz64(m);
    if (pages[i].is_purged || mia__page_area_size(segment, &pages[i]) == 0) continue;
    if (expire == 0 && delay > 0) expire = mia__clock_now() + delay;
    segment->purge_map |= mia__span_mask(i, 1);
    pages[i].purge_expire = expire;
  }
  if (delay == 0) { if (segment->purge_map != 0) mia__segment_purge(segment, true, 0); }
  else if (expire != 0) mia__tld_purge_note(tld, expire);
}

/* Threads stopped coming and going: the pool's dirty pages go back. */
MIA__PRIVATE void mia__pool_purge(int64_t now) {
  mia__spin_lock(&mia__pool_lock);
  for (mia__segment_t* s = mia__pool; s != NULL; s = s->next) {
    if (s->purge_map != 0) (void)mia__segment_purge(s, true, now);
  }
  mia__spin_unlock(&mia__pool_lock);
}


/* Reuse before return. The thread's use -- the bytes of its heaps' pages,
   huge ones aside -- has a recent peak whose excess over the use halves
   every purge delay (mia__purge_delay), at least every 250 ms (with the
   10 ms default the peak would follow every dip between two frames). While
   its segments, in use and cached, are within 1.5 x that peak, their free
   pages are what the same work takes again (a game's next frame): a purge
   pass leaves them, and an emptied segment stays cached past the
   segment_cache option. Once the use falls and stays down (a level
   unloaded, a phase over), the peak follows it within a few delays and the
   passes purge as before; a footprint that fragmentation keeps above 1.5 x
   the peak is purged as before too; mia_collect(true) forgets the peak.
   frame_loop.c warm=300 window=600: OS calls in the window 54 -> 18 (9 new
   segments, each an mmap and its MADV_HUGEPAGE), faults per frame 0.85 ->
   0.09; RSS 3 s after the unload 17 -> 21 MB (5% of the peak). A rise in
   use between two passes is seen at the next one: the peak can lag. */
MIA__PRIVATE bool mia__tld_reusing(mia__tld_t* tld, int64_t now) {
  const int64_t delay = mia__purge_delay();
  if (delay <= 0) return false; /* purge at once (0) or never (-1): no reuse to wait for */
  const int64_t half_life = (delay > MIA__PURGE_DELAY_MAX / 4 ? delay : MIA__PURGE_DELAY_MAX / 4);
  size_t use = 0;
  for (mia_heap_t* heap = tld->heaps; heap != NULL; heap = heap->next) use += heap->small_bytes;
  if (use >= tld->use_peak) {
    tld->use_peak = use;
    tld->use_peak_at = now;
  } else if (now - tld->use_peak_at >= half_life) {
    const int64_t halvings = (now - tld->use_peak_at) / half_life;
    const size_t excess = tld->use_peak - use;
    tld->use_peak = use + (halvings >= 63 ? 0 : excess >> halvings);
    tld->use_peak_at += halvings * half_life;
  }
  const size_t footprint = (tld->segment_count + tld->cache_count) * MIA__SEGMENT_SIZE;
  return use > 0 && footprint / 3 * 2 <= tld->use_peak;
}
/* Purge what is due in the thread's free-segment queues and cache. */
MIA__PRIVATE void mia__tld_purge(mia__tld_t* tld, bool force) {
  if (MIALLOC_NO_OS || (!force && tld->purge_next == 0 && !mia__region_due(0))) return;
  const int64_t now = mia__clock_now();
#if MIA__REGION
  if (force || mia__region_due(now)) mia__region_purge(now, force, false);
#endif
  if (!force && (tld->purge_next == 0 || now < tld->purge_next)) return;
  if (force) tld->use_peak = 0; /* mia_collect(true): what came before does not count */
  else if (mia__tld_reusing(tld, now)) { /* the next pass looks again */
    tld->purge_next = now + mia__purge_delay();
    return;
  }
  tld->purge_next = 0;
  mia__purge_calm(now);
  if (!MIALLOC_SINGLE_THREAD && mia__atomic_load(&mia__pool_count, relaxed) != 0 && !mia__churning(now)) mia__pool_purge(now);
  for (mia_heap_t* heap = tld->heaps; heap != NULL; heap = heap->next) {
    for (int q = 0; q < 3; q++) {
      for (mia__segment_t* s = heap->segments[q].first; s != NULL; s = s->next) {
        if (s->purge_map != 0) mia__tld_purge_note(tld, mia__segment_purge(s, force, now));
      }
    }
  }
  for (mia__segment_t* s = tld->cache; s != NULL; s = s->next) {
    if (s->purge_map != 0) mia__tld_purge_note(tld, mia__segment_purge(s, force, now));
  }
}


/* ---------------------------------------------------------------------------
   >>page: free lists, extension, collection, queues, retirement
--------------------------------------------------------------------------- */

/* Free-list links. Under MIALLOC_SECURE >= 2 a link is stored encoded with
   its page's keys; every read decodes it and, under any check level, verifies
   that it stays inside the page on a block boundary. */
MIA__INLINE uintptr_t mia__rotl(uintptr_t x, unsigned r) {
  r &= (unsigned)(sizeof(uintptr_t) * 8 - 1);
  return (r == 0 ? x : (x << r) | (x >> (sizeof(uintptr_t) * 8 - r)));
}
MIA__INLINE uintptr_t mia__rotr(uintptr_t x, unsigned r) {
  r &= (unsigned)(sizeof(uintptr_t) * 8 - 1);
  return (r == 0 ? x : (x >> r) | (x << (sizeof(uintptr_t) * 8 - r)));
}
MIA__INLINE mia__block_t* mia__block_encode(const mia__page_t* page, const mia__block_t* next) {
#if MIA__ENCODE
  return (mia__block_t*)(mia__rotl((uintptr_t)next ^ page->keys[0], (unsigned)page->keys[1]) + page->keys[1]);
#else
  (void)page;
  return (mia__block_t*)(uintptr_t)next;
#endif
}
MIA__INLINE mia__block_t* mia__block_decode(const mia__page_t* page, const mia__block_t* raw) {
#if MIA__ENCODE
  return (mia__block_t*)(mia__rotr((uintptr_t)raw - page->keys[1], (unsigned)page->keys[1]) ^ page->keys[0]);
#else
  (void)page;
  return (mia__block_t*)(uintptr_t)raw;
#endif
}
MIA__INLINE void mia__block_set_next(const mia__page_t* page, mia__block_t* block, const mia__block_t* next) {
  MIA__VG_LINK(block);
  block->next = mia__block_encode(page, next);
}
#if MIA__CHECKS
MIA__NOINLINE MIA__PRIVATE mia__block_t* mia__block_bad_link(const mia__page_t* page, const mia__block_t* block, const mia__block_t* next) {
  mia__error_fatal(EFAULT, "corrupted free list in page %p: block %p links to %p (written after free?)\n", (const void*)page, (const void*)block, (const void*)next);
  return NULL; /* drop the rest of the list rather than follow it */
}
#endif
/* The next block of a free list, verified when checks are on. */
MIA__INLINE mia__block_t* mia__block_next(const mia__page_t* page, const mia__block_t* block) {
  mia__block_t* next = mia__block_decode(page, block->next);
#if MIA__CHECKS
  const uintptr_t off = (uintptr_t)next - (uintptr_t)page->page_start;
  if mia_unlikely(next != NULL && (off >= (uintptr_t)page->reserved * page->block_size || off % page->block_size != 0)) {
    return mia__block_bad_link(page, block, next);
  }
#endif
  return next;
}

/* A small xorshift generator per heap (heap->cookie is its state). */
MIA__INLINE uintptr_t mia__random_next(mia_heap_t* heap) {
  uint64_t x = (uint64_t)heap->cookie;
  if (x == 0) x = 0x9E3779B97F4A7C15ull;
  x ^= x << 13; x ^= x >> 7; x ^= x << 17;
  heap->cookie = (uintptr_t)x;
  return (uintptr_t)x;
}

#if MIA__PADDING_ON
/* Padding: the last 16 bytes of a block hold [canary | delta], delta being
   the distance from the end of the requested bytes to the end of the block.
   The bytes from the requested end (at most 32 of them) up to the canary are
   0, then 0xDE; the canary's first byte is 0 as well, so a string read past
   the end stops there. Checked on free, naming the offset of an overflow.
   The second word of a freed block holds a tag: freeing it again is a
   double free. */
static uintptr_t mia__process_key = 0x5A17C0DEu;
#define MIA__PAD_CHECK_MAX 32
MIA__INLINE uintptr_t mia__pad_canary(const mia__block_t* block) { return ((uintptr_t)block ^ mia__process_key ^ (uintptr_t)0xC0FFEE00C0FFEEull) & ~(uintptr_t)0xFF; }
MIA__INLINE uintptr_t mia__freed_tag(const mia__block_t* block) { return (uintptr_t)block ^ mia__process_key ^ (uintptr_t)0xF4EEDF4EEDF4EEDull; }
MIA__INLINE uintptr_t mia__aligned_tag(const void* p) { return (uintptr_t)p ^ mia__process_key ^ (uintptr_t)0xA11A11A11A11A11ull; }

/* Write the padding for `size` user bytes at `p` inside `block`. */
MIA__PRIVATE void mia__padding_set(const mia__page_t* page, mia__block_t* block, const uint8_t* p, size_t size) {
  uint8_t* const b = (uint8_t*)block;
  const size_t bsize = page->block_size;
  const size_t start = (size_t)(p - b) + size;
  const size_t pad_at = bsize - MIA__PADDING;
  size_t fill_end = start + MIA__PAD_CHECK_MAX;
  if (fill_end > pad_at) fill_end = pad_at;
  if (start < fill_end) { b[start] = 0; if (start + 1 < fill_end) mia__memset(b + start + 1, MIA__FILL_PADDING, fill_end - start - 1); }
  const uintptr_t pad[2] = { mia__pad_canary(block), bsize - start };
  mia__memcpy(b + pad_at, pad, sizeof(pad));
}
/* The requested size of the block at `p` (from the padding). */
MIA__PRIVATE size_t mia__padding_size(const mia__page_t* page, const mia__block_t* block, const uint8_t* p) {
  uintptr_t pad[2];
  mia__memcpy(pad, (const uint8_t*)block + page->block_size - MIA__PADDING, sizeof(pad));
  const size_t off = (size_t)(p - (const uint8_t*)block);
  if (pad[1] > page->block_size - off) return 0;
  return page->block_size - off - pad[1];
}
/* Verify the padding; on an overflow report the first byte written. */
MIA__PRIVATE bool mia__padding_check(const mia__page_t* page, const mia__block_t* block, const uint8_t* p) {
  const uint8_t* const b = (const uint8_t*)block;
  const size_t bsize = page->block_size;
  const size_t pad_at = bsize - MIA__PADDING;
  const size_t off = (size_t)(p - b);
  uintptr_t pad[2];
  mia__memcpy(pad, b + pad_at, sizeof(pad));
  size_t start = (pad[1] <= bsize - off && pad[1] >= MIA__PADDING) ? bsize - pad[1] : off;
  size_t fill_end = start + MIA__PAD_CHECK_MAX;
  if (fill_end > pad_at) fill_end = pad_at;
  size_t bad = SIZE_MAX;
  if (start < fill_end) {
    if (b[start] != 0) bad = start;
    else {
      /* the fill a word at a time; the first wrong byte found byte by byte */
      const uint64_t fill = (uint64_t)0x0101010101010101ull * MIA__FILL_PADDING;
      size_t i = start + 1;
      uint64_t w;
      for (; i + 8 <= fill_end; i += 8) {
        mia__memcpy(&w, b + i, sizeof(w));
        if (w != fill) break;
      }
      if (i < fill_end && i + 8 > fill_end && fill_end >= start + 9) { /* the last bytes: one overlapping word */
        mia__memcpy(&w, b + fill_end - 8, sizeof(w));
        if (w == fill) i = fill_end;
      }
      for (; i < fill_end; i++) {
        if (b[i] != MIA__FILL_PADDING) { bad = i; break; }
      }
    }
  }
  if (bad == SIZE_MAX && pad[0] != mia__pad_canary(block)) {
    const uintptr_t expect = mia__pad_canary(block);
    const uint8_t* e = (const uint8_t*)&expect;
    for (size_t i = 0; i < sizeof(uintptr_t) && bad == SIZE_MAX; i++) if (b[pad_at + i] != e[i]) bad = pad_at + i;
    if (bad == SIZE_MAX) bad = pad_at;
  }
  if mia_likely(bad == SIZE_MAX) return true;
  mia__error_fatal(EFAULT, "buffer overflow: block %p of %zu bytes was written at offset %zu\n", (const void*)p, start - off, bad - off);
  return false;
}
#endif /* MIA__PADDING_ON */

/* Debug and secure work when a block is handed out: padding for `size`
   bytes at `block`, the freed tag cleared, the debug fill. */
MIA__INLINE void mia__block_on_alloc(const mia__page_t* page, mia__block_t* block, size_t size, bool zero) {
#if MIA__PADDING_ON
#if MIA__FILL
  if (!zero) mia__memset(block, MIA__FILL_UNINIT, size < 65536 ? size : 65536);
#else
  if (!zero) ((uintptr_t*)(void*)block)[1] = 0;
#endif
  mia__padding_set(page, block, (const uint8_t*)block, size);
#else
  (void)page; (void)block; (void)size; (void)zero;
#endif
}
#if MIA__PADDING_ON
#define MIA__ON_ALLOC(page, block, size, zero) mia__block_on_alloc(page, block, size, zero)
#else
#define MIA__ON_ALLOC(page, block, size, zero) ((void)0)
#endif

/* MIALLOC_STATS: exact per-heap counters, kept by the owner without atomics
   (frees by other threads count when the owner collects them). */
#if MIALLOC_STATS
MIA__INLINE void mia__stat_alloc(mia_heap_t* heap, const mia__page_t* page) {
  heap->st.live += page->block_size - MIA__PADDING;
  if (heap->st.live > heap->st.peak) heap->st.peak = heap->st.live;
  heap->st.allocs++;
  heap->st.bin_allocs[page->bin]++;
}
MIA__INLINE void mia__stat_free(const mia__page_t* page, size_t n) {
  mia_heap_t* heap = mia__page_heap(page);
  if (heap == NULL) return;
  const size_t bytes = n * (page->block_size - MIA__PADDING);
  heap->st.live = (heap->st.live >= bytes ? heap->st.live - bytes : 0);
  heap->st.frees += n;
}
#define MIA__STAT_ALLOC(heap, page) mia__stat_alloc(heap, page)
#define MIA__STAT_FREE(page, n) mia__stat_free(page, n)
#else
#define MIA__STAT_ALLOC(heap, page) ((void)0)
#define MIA__STAT_FREE(page, n) ((void)0)
#endif

/* Take `block`, the head of `page`'s free list, for `size` bytes: the one
   block pop of every allocation path (small, medium, aligned, generic). */
MIA__INLINE void* mia__page_pop(mia_heap_t* heap, mia__page_t* page, mia__block_t* block, size_t size, bool zero) {
  (void)heap; (void)size;
  page->free = mia__block_next(page, block);
  page->used++;
  MIA__VG_ALLOC(block, page->block_size, zero);
  if (zero) {
    if (page->free_is_zero) block->next = NULL;
    else mia__memset(block, 0, page->block_size);
  }
  MIA__ON_ALLOC(page, block, size, zero);
  MIA__STAT_ALLOC(heap, page);
  return block;
}

MIA__INLINE mia__block_t* mia__tf_block(uintptr_t tf) { return (mia__block_t*)(tf & ~(uintptr_t)3); }
/* Bit 0 of a huge page's xthread_free: the owner exited while the block was
   live. Whoever frees the block then releases the segment (see
   mia__free_huge_mt). */
#define MIA__TF_ABANDONED ((uintptr_t)1)

/* Set or clear page flags (owner thread; others only read them). */
MIA__INLINE void mia__page_flags_set(mia__page_t* page, uint8_t flag, bool on) {
  const uint8_t f = (uint8_t)(on ? (page->owner_flags | flag) : (page->owner_flags & ~flag));
  page->owner_flags = f;
  mia__atomic_store(&page->flags, f, relaxed);
}

/* Queue of a page in its heap. */
MIA__INLINE size_t mia__page_bin(const mia__page_t* page) {
  if (mia__atomic_load(&((mia__page_t*)(uintptr_t)page)->flags, relaxed) & MIA__PAGE_IN_FULL) return MIA__BIN_FULL;
  if (page->page_kind == MIA__PAGE_HUGE) return MIA__BIN_HUGE;
  return mia__bin(page->block_size);
}

/* Keep pages_direct in step with the first page of a small bin. */
MIA__PRIVATE void mia__heap_queue_first_update(mia_heap_t* heap, size_t bin) {
  if (bin >= MIA__BIN_HUGE) return;
  const size_t size = mia__bin_size(bin);
  if (size > MIA__MEDIUM_DIRECT_MAX) return;
  mia__page_t* page = heap->pages[bin].first;
  if (page == NULL) page = &mia__page_empty;
  if (size > MIALLOC_SMALL_SIZE_MAX) { /* the bin's sizes are (its predecessor's, its own]: whole slots */
    for (size_t i = MIA__MEDIUM_SLOT(mia__bin_size(bin - 1) + 1); i <= MIA__MEDIUM_SLOT(size); i++) heap->pages_medium[i] = page;
    return;
  }
  const size_t end = mia__direct_slot(size);
  /* down to the smallest slot of this bin: above 8 words the bins are
     contiguous ranges; below, a bin spans at most two word counts */
  size_t start = (bin > 9 ? mia__direct_slot(mia__bin_size(bin - 1)) + 1 : end);
  while (start > 0 && mia__bin((start - 1) << MIA__DIRECT_SHIFT) == bin) start--;
  for (size_t i = start; i <= end; i++) heap->pages_direct[i] = page;
}

/* The bytes of pages a heap holds (what its budget counts), kept as pages
   enter and leave its queues. Written by the owner only; read by anyone. */
MIA__INLINE void mia__heap_page_bytes_add(mia_heap_t* heap, const mia__page_t* page, bool add) {
  const size_t bytes = (size_t)page->reserved * page->block_size;
  if (page->block_size <= MIA__LARGE_OBJ_SIZE_MAX) heap->small_bytes = (add ? heap->small_bytes + bytes : (heap->small_bytes >= bytes ? heap->small_bytes - bytes : 0));
  const size_t cur = mia__atomic_load(&heap->page_bytes, relaxed);
  mia__atomic_store(&heap->page_bytes, add ? cur + bytes : (cur >= bytes ? cur - bytes : 0), relaxed);
}

MIA__PRIVATE void mia__page_queue_remove(mia_heap_t* heap, size_t bin, mia__page_t* page) {
  mia__page_queue_t* q = &heap->pages[bin];
  mia__heap_page_bytes_add(heap, page, false);
  if (page->prev != NULL) page->prev->next = page->next;
  if (page->next != NULL) page->next->prev = page->prev;
  if (q->last == page) q->last = page->prev;
  if (q->first == page) { q->first = page->next; mia__heap_queue_first_update(heap, bin); }
  page->next = page->prev = NULL;
  heap->page_count--;
}
MIA__PRIVATE void mia__page_queue_push_front(mia_heap_t* heap, size_t bin, mia__page_t* page) {
  mia__page_queue_t* q = &heap->pages[bin];
  mia__heap_page_bytes_add(heap, page, true);
  page->prev = NULL;
  page->next = q->first;
  if (q->first != NULL) q->first->prev = page; else q->last = page;
  q->first = page;
  heap->page_count++;
  mia__heap_queue_first_update(heap, bin);
}
MIA__PRIVATE void mia__page_queue_push_back(mia_heap_t* heap, size_t bin, mia__page_t* page) {
  mia__page_queue_t* q = &heap->pages[bin];
  mia__heap_page_bytes_add(heap, page, true);
  page->next = NULL;
  page->prev = q->last;
  if (q->last != NULL) q->last->next = page; else q->first = page;
  q->last = page;
  heap->page_count++;
  if (q->first == page) mia__heap_queue_first_update(heap, bin);
}

/* Move the blocks other threads freed (thread_free) to local_free. */
MIA__PRIVATE void mia__page_thread_free_collect(mia__page_t* page) {
  if (MIALLOC_SINGLE_THREAD) return; /* thread_free stays empty */
  uintptr_t tf = mia__atomic_load(&page->xthread_free, relaxed);
  mia__block_t* head;
  do {
    head = mia__tf_block(tf);
    if (head == NULL) return;
  } while (!mia__atomic_cas_weak(&page->xthread_free, &tf, tf & MIA__TF_ABANDONED, acquire, relaxed));
  uint32_t count = 1;
  mia__block_t* tail = head;
  mia__block_t* next;
  while ((next = mia__block_next(page, tail)) != NULL && count <= page->capacity) { tail = next; count++; }
  if (count > page->capacity) {
    mia__error(EFAULT, "corrupted thread-free list in page %p\n", (void*)page);
    return; /* leak the list rather than follow a cycle */
  }
  mia__block_set_next(page, tail, page->local_free);
  page->local_free = head;
  page->used -= count;
  MIA__STAT_FREE(page, count);
}

/* Bring the page's free blocks together: thread_free into local_free, and
   local_free into free when free is empty (or appended, when forced). */
MIA__PRIVATE void mia__page_collect(mia__page_t* page, bool force) {
  if (mia__tf_block(mia__atomic_load(&page->xthread_free, relaxed)) != NULL) mia__page_thread_free_collect(page);
  if (page->local_free != NULL) {
    if (page->free == NULL) {
      page->free = page->local_free;
      page->local_free = NULL;
      page->free_is_zero = 0;
    } else if (force) {
      mia__block_t* tail = page->local_free;
      mia__block_t* next;
      while ((next = mia__block_next(page, tail)) != NULL) tail = next;
      mia__block_set_next(page, tail, page->free);
      page->free = page->local_free;
      page->local_free = NULL;
      page->free_is_zero = 0;
    }
  }
}

#if MIA__ENCODE || MIA__RANDOMIZE
/* The secure list builder: links encoded, order shuffled (SECURE >= 3). */
MIA__PRIVATE void mia__page_build_list_secure(mia__page_t* page, uint8_t* start, size_t n) {
  const size_t bsize = page->block_size;
#if MIA__RANDOMIZE
  uint16_t order[MIA__MAX_EXTEND_SIZE / 8 + MIA__MIN_EXTEND];
  mia_heap_t* heap = mia__page_heap(page);
  for (size_t i = 0; i < n; i++) order[i] = (uint16_t)i;
  for (size_t i = n; i > 1; i--) {
    const size_t j = (size_t)(mia__random_next(heap) % i);
    const uint16_t t = order[i - 1]; order[i - 1] = order[j]; order[j] = t;
  }
#define MIA__NTH(i) ((mia__block_t*)(void*)(start + (size_t)order[i] * bsize))
#else
#define MIA__NTH(i) ((mia__block_t*)(void*)(start + (size_t)(i) * bsize))
#endif
  for (size_t i = 0; i + 1 < n; i++) mia__block_set_next(page, MIA__NTH(i), MIA__NTH(i + 1));
  mia__block_set_next(page, MIA__NTH(n - 1), NULL);
  page->free = MIA__NTH(0);
#undef MIA__NTH
}
#endif

/* Blocks one extension adds to a page's free list. */
MIA__INLINE size_t mia__page_extend_step(const mia__page_t* page) {
  const size_t n = MIA__MAX_EXTEND_SIZE / page->block_size;
  return (n < MIA__MIN_EXTEND ? MIA__MIN_EXTEND : n);
}
/* Build the free list a little further into never-touched memory. */
MIA__PRIVATE void mia__page_extend(mia__page_t* page) {
  mia__assert_internal(page->free == NULL && page->capacity < page->reserved);
  size_t n = page->reserved - page->capacity;
  const size_t max_n = mia__page_extend_step(page);
  if (n > max_n) n = max_n;
  uint8_t* start = page->page_start + (size_t)page->capacity * page->block_size;
#if MIA__ENCODE || MIA__RANDOMIZE
  mia__page_build_list_secure(page, start, n);
#else
  mia__simd.build_list(start, page->block_size, n, NULL);
  page->free = (mia__block_t*)(void*)start;
#endif
  page->free_is_zero = page->is_purged;
  page->capacity += (uint32_t)n;
}

/* An empty page kept for reuse (retired) hands its blocks out again by
   extension, 4 KiB at a time, as a fresh page does, instead of from one long
   free list: a program in light use then still takes the allocation slow
   path now and then, and with it the housekeeping that returns memory it
   stopped using (mia__heap_heartbeat: purges are due by the clock, and
   nothing else would look at the clock). Only while a purge is pending (the
   steady state has none: its pages keep their lists), and only for a page
   that holds more than one extension's blocks (one block allocated and
   freed in a loop would otherwise rebuild its list every time). Its memory
   is not zero any more. */
MIA__PRIVATE void mia__page_restart(mia__page_t* page, const mia__tld_t* tld) {
  mia__assert_internal(page->used == 0);
  if (tld->purge_next == 0 || page->capacity <= mia__page_extend_step(page)) return;
  MIA__VG_AREA(page->page_start, (size_t)page->reserved * page->block_size);
  page->free = page->local_free = NULL;
  page->capacity = 0;
  page->free_is_zero = 0;
  page->is_purged = 0;
}

MIA__PRIVATE bool mia__page_is_valid(mia__page_t* page);
MIA__PRIVATE bool mia__segment_is_valid(mia__segment_t* segment);
MIA__PRIVATE bool mia__heap_is_valid(mia_heap_t* heap);

/* Set up a page just taken from a segment for blocks of `block_size`. */
MIA__PRIVATE void mia__page_init(mia_heap_t* heap, mia__page_t* page, size_t block_size, size_t area_size) {
  MIA__VG_AREA(page->page_start, area_size);
  page->block_size = block_size;
  page->bin = (uint8_t)(page->page_kind == MIA__PAGE_HUGE ? MIA__BIN_HUGE : mia__bin(block_size));
  page->reserved = (uint32_t)(area_size / block_size);
  page->capacity = 0;
  page->used = 0;
  mia__atomic_store(&page->flags, (uint8_t)0, relaxed);
  page->owner_flags = 0;
  page->free = page->local_free = NULL;
  page->retire_expire = 0;
  mia__atomic_store(&page->xheap, heap, release);
  mia__atomic_store(&page->xthread_free, (uintptr_t)0, release);
#if MIA__ENCODE
  page->keys[0] = mia__random_next(heap) | 1;
  page->keys[1] = mia__random_next(heap);
#endif
  mia__page_extend(page);
  mia__assert_expensive(mia__page_is_valid(page));
}

/* The page has no free block: park it in the full queue, at the back (the
   owner looks for frees from the front, oldest first: mia__heap_unfull_some). */
MIA__PRIVATE void mia__page_to_full(mia_heap_t* heap, mia__page_t* page, size_t bin) {
  page->retire_expire = 0;
  mia__page_queue_remove(heap, bin, page);
  mia__page_flags_set(page, MIA__PAGE_IN_FULL, true);
  mia__page_queue_push_back(heap, MIA__BIN_FULL, page);
}

/* A full page got a free block: to the back of its bin, so the page in use
   stays first and one freed block does not pull the page to the front (a
   random free into a full page would otherwise bounce it between the bin
   and the full queue on every allocation). A heap in an arena, where memory
   is scarce, puts it in front instead: allocation then keeps to the pages
   that get blocks back and lets the others empty and go back to the arena
   (at the back, allocation spreads over every page and few ever empty: an
   exclusive 64 MiB arena under 4 threads ran out with 14 MiB live in 5 of
   10 loaded runs of tests/ports/arena_threads.c). */
MIA__PRIVATE void mia__page_unfull(mia__page_t* page) {
  mia_heap_t* heap = mia__page_heap(page);
  mia__page_queue_remove(heap, MIA__BIN_FULL, page);
  mia__page_flags_set(page, MIA__PAGE_IN_FULL, false);
  if (heap->arena_id != 0) mia__page_queue_push_front(heap, mia__page_bin(page), page);
  else mia__page_queue_push_back(heap, mia__page_bin(page), page);
}

/* Free a page with no live blocks back to its segment. */
MIA__PRIVATE void mia__page_free(mia__page_t* page) {
  mia_heap_t* heap = mia__page_heap(page);
  mia__page_queue_remove(heap, mia__page_bin(page), page);
  mia__segment_page_free(page, heap->tld);
}

/* The last live block of a page was freed by its owner. The only page of a
   small, medium or large bin is kept (retired) for RETIRE_CYCLES heartbeats
   in which nothing was allocated from it (so alloc/free churn does not free
   and rebuild it), and its local_free becomes its free list at once, so the
   next allocation stays on the fast path. So is the heap's only huge page,
   up to HUGE_CACHE_MAX: the next huge block it holds without wasting half
   of it takes it as it is (mia__find_free_page). Other empty pages go back
   to their segment. A retired page that empties again with blocks on `free`
   needs nothing: the heartbeat tells use from idleness by its free-list head
   (`retire_mark`; a page of one block, most large pages, looks idle to
   every aging step that finds it empty, so it goes after RETIRE_CYCLES / 4
   such steps even in use, and is rebuilt once).
   Large pages are kept (one a heap: mia__heap_unretire_large) since a
   large block (128 KiB .. 2 MiB) allocated and freed in a loop, alone in
   its segment, freed and rebuilt the segment every time: ~5,700
   instructions and 630-820 ns a pair, against 13 ns for a medium block;
   kept, 7-10 ns. bench/frame_loop.c (3 runs): 0.34 -> 0.39 faults a
   frame, RSS 3 s after the unload 21-33 -> 25 MiB of a 386 MiB peak. */
MIA__INLINE uint8_t mia__retire_cycles(const mia__page_t* page) {
  return (uint8_t)(page->block_size <= MIA__SMALL_OBJ_SIZE_MAX ? MIA__RETIRE_CYCLES : MIA__RETIRE_CYCLES / 4);
}
/* An empty page's freed blocks become its free list (they are not zero). */
MIA__INLINE void mia__page_swap_lists(mia__page_t* page) {
  page->free = page->local_free;
  page->local_free = NULL;
  page->free_is_zero = 0;
}
/* At most one retired large page a heap: the span of a kept page serves its
   own bin only, so before a large page is kept, another one kept goes back
   to its segment. With one kept per bin, bench/classic.c malloc-large (20
   live blocks of random sizes) wrote new spans while the freed ones waited
   for their bins: 1,187 -> 2,161 faults (medians of 11). */
MIA__NOINLINE MIA__PRIVATE void mia__heap_unretire_large(mia_heap_t* heap, size_t except) {
  const size_t lo = mia__bin(MIA__MEDIUM_OBJ_SIZE_MAX + 1);
  for (size_t bin = (heap->page_retired_min > lo ? heap->page_retired_min : lo); bin <= heap->page_retired_max && bin < MIA__BIN_HUGE; bin++) {
    mia__page_t* page = heap->pages[bin].first;
    if (bin == except || page == NULL || page->retire_expire == 0 || page->used != 0) continue;
    page->retire_expire = 0;
    mia__page_free(page);
  }
}
MIA__PRIVATE void mia__page_retire_now(mia__page_t* page) {
  mia__page_flags_set(page, MIA__PAGE_HAS_ALIGNED, false);
  if (mia__atomic_load(&page->flags, relaxed) & MIA__PAGE_IN_FULL) { mia__page_free(page); return; }
  if (page->free == NULL) mia__page_swap_lists(page);
  if (page->retire_expire != 0) return; /* retired already: the heartbeat sees `free` moved */
  mia_heap_t* heap = mia__page_heap(page);
  const size_t bin = mia__page_bin(page);
  const mia__segment_t* segment = mia__page_segment(page);
  const bool keeps = (bin < MIA__BIN_HUGE || (page->block_size <= MIA__HUGE_CACHE_MAX && !segment->remote_purged));
  if (keeps && segment->arena_index == 0 && !segment->adopted && /* arena memory is scarce, another thread's is for the pool: not kept */
      heap->pages[bin].first == page && heap->pages[bin].last == page) {
    mia__page_restart(page, heap->tld);
    page->retire_expire = mia__retire_cycles(page);
    page->retire_mark = page->free;
    if (bin < heap->page_retired_min) heap->page_retired_min = bin;
    if (bin > heap->page_retired_max) heap->page_retired_max = bin;
    if (bin < MIA__BIN_HUGE && page->block_size > MIA__MEDIUM_OBJ_SIZE_MAX) mia__heap_unretire_large(heap, bin);
    return;
  }
  mia__page_free(page);
}
MIA__NOINLINE MIA__PRIVATE void mia__page_retire(mia__page_t* page) {
  mia__tld_t* const tld = mia__page_heap(page)->tld; /* pages in a heap queue only */
  mia__slow_enter(tld);
  mia__page_retire_now(page);
  mia__slow_leave(tld);
}

/* Heartbeat: count down retired pages, free those that stayed empty. */
MIA__PRIVATE void mia__heap_collect_retired(mia_heap_t* heap, bool force) {
  size_t min = MIA__BIN_FULL, max = 0;
  for (size_t bin = heap->page_retired_min; bin <= heap->page_retired_max; bin++) {
    mia__page_t* page = heap->pages[bin].first;
    if (page == NULL || page->retire_expire == 0) continue;
    if (page->used == 0) {
      if (!force && page->free != page->retire_mark) {
        /* allocated from since the last heartbeat: in use, the count starts again */
        page->retire_mark = page->free;
        page->retire_expire = mia__retire_cycles(page);
      } else if (force || --page->retire_expire == 0) {
        page->retire_expire = 0;
        mia__page_free(page);
        continue;
      }
      if (bin < min) min = bin;
      if (bin > max) max = bin;
    } else {
      page->retire_expire = 0;
    }
  }
  heap->page_retired_min = min;
  heap->page_retired_max = max;
}

/* ---------------------------------------------------------------------------
   >>heap: page search, frees found in full pages, collection
--------------------------------------------------------------------------- */

/* Local free of one block, from the slow path. */
MIA__PRIVATE void mia__free_block_local(mia__page_t* page, mia__block_t* block) {
  MIA__STAT_FREE(page, 1);
  mia__block_set_next(page, block, page->local_free);
  page->local_free = block;
  page->used--;
  if (page->used == 0) mia__page_retire(page);
  else if (mia__atomic_load(&page->flags, relaxed) & MIA__PAGE_IN_FULL) mia__page_unfull(page);
}

/* Full pages other threads freed into (see xthread_free, before
   mia__page_t): the first `max` pages of the heap's full queue, its oldest,
   are looked at; one with blocks on its thread_free is collected and goes
   back to its bin (or to its segment, if it emptied), one without goes to
   the back, so the next look sees others. Called before a fresh page is
   taken -- a heap that allocates finds the space freed in its full pages
   before it takes more than one page per MIA__FULL_SCAN looked at -- and on
   every 16th heartbeat, so a heap that seldom needs a page still gets its
   freed pages (and large blocks) back. */
#define MIA__FULL_SCAN 8
MIA__PRIVATE void mia__heap_unfull_some(mia_heap_t* heap, size_t max) {
  mia__page_queue_t* const q = &heap->pages[MIA__BIN_FULL];
  for (size_t i = 0; i < max && q->first != NULL; i++) {
    mia__page_t* const page = q->first;
    if (mia__tf_block(mia__atomic_load(&page->xthread_free, relaxed)) == NULL) {
      if (page == q->last) return;
      mia__page_queue_remove(heap, MIA__BIN_FULL, page);
      mia__page_queue_push_back(heap, MIA__BIN_FULL, page);
      continue;
    }
    mia__page_collect(page, false);
    if (page->used == 0) mia__page_free(page);
    else mia__page_unfull(page);
  }
}

/* Visit every page of a heap; the visitor may remove the page it is given. */
typedef bool (mia__page_visitor_fn)(mia_heap_t* heap, size_t bin, mia__page_t* page, void* arg);
MIA__PRIVATE bool mia__heap_visit_pages(mia_heap_t* heap, mia__page_visitor_fn* fn, void* arg) {
  for (size_t bin = 0; bin <= MIA__BIN_FULL; bin++) {
    mia__page_t* page = heap->pages[bin].first;
    while (page != NULL) {
      mia__page_t* next = page->next;
      if (!fn(heap, bin, page, arg)) return false;
      page = next;
    }
  }
  return true;
}

MIA__PRIVATE mia_heap_t* mia__thread_heap_init(void);
MIA__PRIVATE bool mia__segment_try_reclaim(mia_heap_t* heap, size_t max_segments);
MIA__PRIVATE bool mia__segment_try_reclaim_ex(mia_heap_t* heap, size_t max_segments, bool clean);
MIA__PRIVATE bool mia__segment_try_reclaim_needed(mia_heap_t* heap);
MIA__PRIVATE bool mia__segment_try_reclaim_room(mia_heap_t* heap, size_t bin);

/* Budgets (mia_heap_set_limit): the bytes of the pages a heap holds, its
   shared part's included, may not pass its limit. Checked only when a heap
   takes a fresh page, so it costs nothing per block and holds to within a
   page. Over the limit, empty pages are given back first; if that is not
   enough, the allocation fails with ENOMEM and the error function is called. */
MIA__PRIVATE mia_heap_t* mia__heap_parent(mia_heap_t* heap);
MIA__PRIVATE void mia__heap_shared_collect(mia_heap_t* owner);
MIA__PRIVATE size_t mia__heap_budget_used(mia_heap_t* owner);
MIA__PRIVATE bool mia__heap_budget_allows(mia_heap_t* heap, size_t need) {
  mia_heap_t* owner = mia__heap_parent(heap);
  if mia_likely(owner->limit == 0) return true;
  if (mia__heap_budget_used(owner) + need <= owner->limit) return true;
  mia__heap_collect_ex(heap, false); /* empty pages first */
  if (heap == owner && !MIALLOC_SINGLE_THREAD) mia__heap_shared_collect(owner); /* and those of the shared part */
  if (mia__heap_budget_used(owner) + need <= owner->limit) return true;
  heap->tld->over_budget = true;
  mia__error(ENOMEM, "heap %p (%s) would pass its limit of %zu bytes (it holds %zu)\n", (void*)owner, owner->name, owner->limit, mia__heap_budget_used(owner));
  return false;
}

/* Find a page of `bin` with a free block: the bin's queue first (collecting
   as it goes, moving exhausted pages to the full queue), then a fresh page.
   Blocks already handed out once come before never-touched memory: a page
   with free blocks anywhere in the queue wins over extending the first page
   that has room left (looked for up to MIA__EXPAND_SCAN such pages deep).
   Extending first wrote new memory while adopted pages and pages that got
   blocks back (mia__page_unfull) held free ones further on. Measured side
   by side (bench/classic.c, 2 threads, medians of 5; peak RSS / faults):
   larson 19.0 -> 16.3 MiB / 5,340 -> 3,828, alloc-test 33.5 -> 29.8 MiB /
   9,096 -> 8,182, rptest 27.1 -> 24.9 MiB, sh8bench 30.2 -> 28.7 MiB,
   mstress 37.1 -> 32.0 MiB (median of 9, runs spread over 24-45 MiB);
   CPU time the same or lower. */
#define MIA__EXPAND_SCAN 4
MIA__PRIVATE mia__page_t* mia__find_free_page(mia_heap_t* heap, size_t size, size_t huge_align) {
  const size_t bin = (huge_align != 0 ? MIA__BIN_HUGE : mia__bin(size));
  if (bin != MIA__BIN_HUGE) {
    mia__page_t* found = NULL;
    mia__page_t* expandable = NULL; /* the first page with room never handed out */
    size_t expandables = 0;
    for (mia__page_t* page = heap->pages[bin].first; page != NULL && expandables < MIA__EXPAND_SCAN;) {
      mia__page_t* next = page->next;
      mia__page_collect(page, false);
      if (page->free != NULL) { found = page; break; }
      if (page->capacity < page->reserved) {
        if (expandables++ == 0) expandable = page;
      } else {
        mia__page_to_full(heap, page, bin);
      }
      page = next;
    }
    if (found == NULL && expandable != NULL) {
      mia__page_extend(expandable);
      found = expandable;
    }
    if (found != NULL) {
      mia__assert_expensive(mia__page_is_valid(found));
      found->retire_expire = 0;
      if (found != heap->pages[bin].first) {
        mia__page_queue_remove(heap, bin, found);
        mia__page_queue_push_front(heap, bin, found);
      }
      return found;
    }
    if (!MIALLOC_SINGLE_THREAD && heap->pages[MIA__BIN_FULL].first != NULL) {
      mia__heap_unfull_some(heap, MIA__FULL_SCAN);
      if (heap->pages[bin].first != NULL) return mia__find_free_page(heap, size, huge_align);
    }
  }
  if (bin == MIA__BIN_HUGE && huge_align == 0) {
    /* the heap's retired huge page (see mia__page_retire_now): taken as it is
       if the block fits it well, else freed first, so that its memory, still
       written, serves the new block (the huge region reuses it in place) */
    mia__page_t* page = heap->pages[MIA__BIN_HUGE].first;
    if (page != NULL && page->retire_expire != 0 && page->free != NULL) {
      page->retire_expire = 0;
      if (page->block_size >= size && page->block_size / 2 <= size) return page;
      mia__page_free(page);
    }
  }
  /* a fresh page */
  const size_t block_size = (bin == MIA__BIN_HUGE ? 0 : mia__bin_size(bin));
  const mia__page_kind_t kind = (bin == MIA__BIN_HUGE ? MIA__PAGE_HUGE : mia__page_kind_of_size(block_size));
  mia__tld_t* tld = heap->tld;
  if (!MIALLOC_SINGLE_THREAD && kind <= MIA__PAGE_MEDIUM && tld->cache == NULL && !heap->no_reclaim && heap->arena_id == 0 &&
      heap->segments[kind].first == NULL &&
      mia__atomic_load(&mia__abandoned_count, relaxed) > 0) {
    /* before asking the OS, adopt segments of threads that exited */
    if (mia__segment_try_reclaim(heap, 4) && heap->pages[bin].first != NULL) {
      return mia__find_free_page(heap, size, huge_align);
    }
  }
  if (!MIALLOC_SINGLE_THREAD && kind <= MIA__PAGE_MEDIUM && !heap->no_reclaim && heap->arena_id == 0 &&
      mia__atomic_load(&mia__abandoned_count, relaxed) > 0) {
    /* before a fresh page, a segment of a thread that exited with room in a
       page of this bin (mia__segment_try_reclaim_room) */
    if (mia__segment_try_reclaim_room(heap, bin) && heap->pages[bin].first != NULL) {
      return mia__find_free_page(heap, size, huge_align);
    }
  }
  const size_t need = (kind == MIA__PAGE_SMALL ? MIA__SMALL_PAGE_SIZE : kind == MIA__PAGE_MEDIUM ? MIA__MEDIUM_PAGE_SIZE : kind == MIA__PAGE_LARGE ? block_size : size);
  if (!mia__heap_budget_allows(heap, need)) return NULL;
  mia__page_t* page = mia__segment_page_alloc(kind, need, huge_align, heap);
  if (!MIALLOC_SINGLE_THREAD && page == NULL && heap->arena_id != 0 && mia__atomic_load(&mia__abandoned_count, relaxed) > 0) {
    /* the arena is full: give back what exited threads left empty there, once */
    if (mia__segment_try_reclaim_ex(heap, 0, true)) page = mia__segment_page_alloc(kind, need, huge_align, heap);
  }
  if (page == NULL) return NULL;
  if (kind == MIA__PAGE_HUGE) {
    mia__segment_t* segment = mia__page_segment(page);
    const size_t area = mia__page_area_size(segment, page);
    mia__page_init(heap, page, area, area);
    mia__stat_add(&mia__stats.huge, 1);
  } else {
    mia__page_init(heap, page, block_size, mia__page_area_size(mia__page_segment(page), page));
  }
  mia__page_queue_push_front(heap, bin, page);
  return page;
}

MIA__PRIVATE void mia__tld_process_requests(mia__tld_t* tld, mia_heap_t* except);
MIA__PRIVATE bool mia__heap_release_owner_part(mia_heap_t* heap, bool destroy);
MIA__PRIVATE void mia__heap_unlink_and_free(mia_heap_t* heap);

static mia_deferred_free_fun* mia__deferred_free = NULL;
static void* mia__deferred_arg = NULL;

/* Large and huge pages hold few blocks and much memory: blocks other threads
   freed there come back on the owner's next slow paths, not only when it
   asks for that size again. */
MIA__PRIVATE void mia__heap_collect_large(mia_heap_t* heap) {
  for (size_t bin = mia__bin(MIA__MEDIUM_OBJ_SIZE_MAX + 1); bin <= MIA__BIN_HUGE; bin++) {
    mia__page_t* page = heap->pages[bin].first;
    while (page != NULL) {
      mia__page_t* next = page->next;
      if (mia__tf_block(mia__atomic_load(&page->xthread_free, relaxed)) != NULL) {
        mia__page_collect(page, false);
        if (page->used == 0) mia__page_free(page);
      }
      page = next;
    }
  }
}

/* Housekeeping on every slow-path call. */
MIA__PRIVATE void mia__heap_heartbeat(mia_heap_t* heap) {
  mia__tld_t* tld = heap->tld;
  tld->heartbeat++;
  if (mia__deferred_free != NULL && !tld->recurse) {
    tld->recurse = true;
    mia__deferred_free(false, tld->heartbeat, mia__deferred_arg);
    tld->recurse = false;
  }
  /* retired pages age one step per MIA__RETIRE_EVERY heartbeats: a bin in a
     rotation of many (every bin's first touch is a slow path) keeps its page */
  if (heap->page_retired_min <= heap->page_retired_max && (tld->heartbeat % MIA__RETIRE_EVERY) == 0) mia__heap_collect_retired(heap, false);
  if (!MIALLOC_SINGLE_THREAD && (tld->heartbeat & 15) == 0 && tld->heaps != NULL && tld->heaps->next != NULL) mia__tld_process_requests(tld, heap);
  if (!MIALLOC_SINGLE_THREAD && (tld->heartbeat & 15) == 8) mia__heap_collect_large(heap);
  if (!MIALLOC_SINGLE_THREAD && (tld->heartbeat & 15) == 4) mia__heap_unfull_some(heap, MIA__FULL_SCAN);
  if (!MIALLOC_SINGLE_THREAD && (tld->heartbeat & 15) == 0 && !tld->heap_backing->no_reclaim && mia__atomic_load(&mia__abandoned_count, relaxed) > 0) {
    /* look at segments of exited threads steadily, so their memory is
       reused: adopted if the heap is short of free pages of their kind,
       else cleaned (mia__segment_try_reclaim_needed) */
    mia__segment_try_reclaim_needed(tld->heap_backing);
  }
  if ((tld->purge_next != 0 || mia__region_due(0)) && (tld->heartbeat & 7) == 0) mia__tld_purge(tld, false);
}

/* The slow path of every allocation: set the thread up, do housekeeping,
   find a page with a free block and allocate from it. */
MIA__NOINLINE MIA__PRIVATE void* mia__malloc_generic(size_t size, mia_heap_t* heap, bool zero, size_t huge_align) {
  if mia_unlikely(heap == &mia__heap_empty) {
    heap = mia__thread_heap_init();
    if (heap == NULL) { MIA__SET_ERRNO(ENOMEM); return NULL; }
  }
  mia__assert(mia__atomic_load(&heap->thread_id, relaxed) == mia__thread_id() || heap->is_shared_part);
  if mia_unlikely(size > MIA__MAX_ALLOC_SIZE - MIA__PADDING) {
    mia__error(ENOMEM, "allocation of %zu bytes is larger than the maximum\n", size);
    MIA__SET_ERRNO(ENOMEM);
    return NULL;
  }
  const size_t bsize = size + MIA__PADDING; /* what the block must hold */
  mia__page_t* page = NULL;
  if (bsize > MIALLOC_SMALL_SIZE_MAX && bsize <= MIA__LARGE_OBJ_SIZE_MAX && huge_align == 0) {
    /* sizes without a direct page: the first page of the bin, if it has a block */
    mia__page_t* first = heap->pages[mia__bin(bsize)].first;
    if (first != NULL && first->free != NULL) page = first;
  }
  if (page == NULL) {
    mia__tld_t* const tld = heap->tld;
    mia__slow_enter(tld);
    mia__heap_heartbeat(heap);
    page = mia__find_free_page(heap, bsize, huge_align);
    const bool over_budget = (page == NULL && tld->over_budget);
    if mia_unlikely(page == NULL && !over_budget) {
      mia__heap_collect_ex(heap, true);
      page = mia__find_free_page(heap, bsize, huge_align);
    }
    mia__slow_leave(tld);
    if mia_unlikely(over_budget) {
      tld->over_budget = false; /* reported already */
      MIA__SET_ERRNO(ENOMEM);
      return NULL;
    }
    if mia_unlikely(page == NULL) {
      mia__error(ENOMEM, "out of memory allocating %zu bytes\n", size);
      MIA__SET_ERRNO(ENOMEM);
      return NULL;
    }
  }
  mia__assert_internal(page->free != NULL && page->block_size >= size + MIA__PADDING);
  return mia__page_pop(heap, page, page->free, size, zero);
}

MIA__PRIVATE bool mia__collect_page_visitor(mia_heap_t* heap, size_t bin, mia__page_t* page, void* arg) {
  const bool force = *(const bool*)arg;
  (void)heap; (void)bin;
  mia__page_collect(page, force);
  if (page->used == 0) {
    page->retire_expire = 0;
    mia__page_free(page);
    return true;
  }
  page->retire_expire = 0; /* the heap's retired range is reset: retired again when it empties */
  if ((mia__atomic_load(&page->flags, relaxed) & MIA__PAGE_IN_FULL) && (page->free != NULL || page->local_free != NULL)) {
    mia__page_unfull(page);
  }
  return true;
}

MIA__PRIVATE void mia__heap_collect_now(mia_heap_t* heap, bool force);
MIA__PRIVATE void mia__heap_collect_ex(mia_heap_t* heap, bool force) {
  if (heap == NULL || heap == &mia__heap_empty) return;
  mia__tld_t* const tld = heap->tld;
  mia__slow_enter(tld);
  mia__heap_collect_now(heap, force);
  mia__slow_leave(tld);
}
MIA__PRIVATE void mia__heap_collect_now(mia_heap_t* heap, bool force) {
  mia__tld_t* tld = heap->tld;
  if (force && mia__deferred_free != NULL && !tld->recurse) {
    tld->recurse = true;
    mia__deferred_free(true, tld->heartbeat, mia__deferred_arg);
    tld->recurse = false;
  }
  if (!MIALLOC_SINGLE_THREAD && !heap->is_shared_part && tld->heaps != NULL && tld->heaps->next != NULL) mia__tld_process_requests(tld, heap); /* deletes other threads asked for */
#if MIALLOC_SINGLE_THREAD
  mia_heap_t* const deleted = tld->heap_deleted;
  if (deleted != NULL && deleted != heap) { /* deleted arena heaps: gone once their blocks are */
    mia__heap_collect_now(deleted, force);
    if (deleted->page_count == 0) { tld->heap_deleted = NULL; mia__heap_unlink_and_free(deleted); }
  }
#endif
  if (!MIALLOC_SINGLE_THREAD && force && !heap->is_shared_part) {
    /* adopt what this heap may; clean (give back the empty pages of) the rest */
    while (mia__segment_try_reclaim_ex(heap, SIZE_MAX, true)) { }
  }
  mia__assert_expensive(mia__heap_is_valid(heap));
  mia__heap_visit_pages(heap, mia__collect_page_visitor, &force);
  mia__assert_expensive(mia__heap_is_valid(heap));
  heap->page_retired_min = MIA__BIN_FULL;
  heap->page_retired_max = 0;
  mia__tld_purge(tld, force);
  if (force) mia__segment_cache_release(tld);
}

/* ---------------------------------------------------------------------------
   >>abandon: memory whose owner is gone -- a heap that ends (its thread's
   exit, the delete of an arena heap) abandons its segments; the next thread
   that needs memory adopts them, or cleans those it may not adopt
--------------------------------------------------------------------------- */
/* The owner gives the segment up: it has no heap any more (its heap took
   its pages out of its queues, see mia__heap_collect_abandon); any thread
   may adopt it whole from here on. */
MIA__PRIVATE void mia__segment_abandon(mia__segment_t* segment, mia__tld_t* tld) {
  mia__assert_internal(segment->used > 0 && segment->heap == NULL && !segment->in_queue);
  mia__owned_remove(segment);
  if (segment->purge_map != 0) {
    /* while threads come and go (a segment was adopted lately) the next one
       takes this segment as it is, dirty pages and all; otherwise its free
       memory goes back now (no thread may come to adopt it) */
    const int64_t now = mia__clock_now();
    mia__segment_purge(segment, !mia__churning(now), now);
  }
  tld->segment_count--;
  mia__atomic_store(&segment->thread_id, (uintptr_t)0, release);
  uintptr_t head = mia__atomic_load(&mia__abandoned, relaxed);
  do {
    segment->abandoned_next = (mia__segment_t*)head;
  } while (!mia__atomic_cas_weak(&mia__abandoned, &head, (uintptr_t)segment, release, relaxed));
  (void)mia__atomic_fetch_add(&mia__abandoned_count, (size_t)1, relaxed);
  mia__stat_add(&mia__stats.abandoned, 1);
}

/* A huge segment holds one block: no one needs to reclaim it, only to free
   it once that block is freed. Mark its page abandoned; if another thread
   freed the block in the meantime, release the segment now. */
MIA__PRIVATE void mia__huge_release(mia__segment_t* segment) {
  mia__stat_add(&mia__stats.pages, -1);
  mia__stat_add(&mia__stats.huge, -1);
  mia__segment_os_free(segment);
}
MIA__PRIVATE void mia__huge_abandon(mia__segment_t* segment, mia__page_t* page, mia__tld_t* tld) {
  mia__owned_remove(segment);
  tld->segment_count--;
  segment->heap = NULL;
  mia__atomic_store(&segment->thread_id, (uintptr_t)0, release);
  const uintptr_t tf = mia__atomic_fetch_or(&page->xthread_free, MIA__TF_ABANDONED, acq_rel);
  if (mia__tf_block(tf) != NULL) mia__huge_release(segment);
}

/* A page with live blocks leaves its heap for the abandoned stack: out of
   the queue, no heap, linked on `*gone` (its next link is free now). */
MIA__PRIVATE bool mia__abandon_page_visitor(mia_heap_t* heap, size_t bin, mia__page_t* page, void* arg) {
  mia__page_collect(page, false);
  if (page->used == 0) { mia__page_free(page); return true; }
  mia__page_queue_remove(heap, bin, page);
  mia__atomic_store(&page->xheap, (mia_heap_t*)NULL, release);
  mia__segment_t* segment = mia__page_segment(page);
  if (segment->page_kind == MIA__PAGE_HUGE) { mia__huge_abandon(segment, page, heap->tld); return true; }
  mia__page_t** gone = (mia__page_t**)arg;
  page->next = *gone;
  *gone = page;
  return true;
}

/* The heap gives up its memory (thread exit, delete of an arena heap): its
   empty pages are freed, and its segments, with every page that still has
   live blocks, are abandoned -- once every page is out of its queues and
   every segment detached from it: a thread may adopt a segment (and relink
   its pages) the moment it is abandoned. */
MIA__PRIVATE void mia__heap_collect_abandon(mia_heap_t* heap) {
  mia__assert_internal(!MIALLOC_SINGLE_THREAD);
  mia__page_t* gone = NULL;
  mia__heap_visit_pages(heap, mia__abandon_page_visitor, &gone);
  mia__segment_t* segments = NULL;
  while (gone != NULL) {
    mia__page_t* page = gone;
    gone = page->next;
    page->next = NULL;
    mia__segment_t* segment = mia__page_segment(page);
    if (segment->heap == NULL) continue; /* listed already */
    if (segment->in_queue) mia__segment_queue_remove(mia__segment_free_queue(segment), segment);
    segment->heap = NULL;
    segment->abandoned_next = segments;
    segments = segment;
  }
  while (segments != NULL) {
    mia__segment_t* segment = segments;
    segments = segment->abandoned_next;
    mia__segment_abandon(segment, heap->tld);
  }
  heap->page_retired_min = MIA__BIN_FULL;
  heap->page_retired_max = 0;
}

/* A segment popped off the abandoned stack, now `tld`'s: the frees that
   came into its pages are collected and its empty pages given back. With a
   heap, the segment is adopted: its other pages join that heap. Without one
   (the caller's heaps may not adopt it: another arena's, or a heap that
   never reclaims) it is cleaned: abandoned again, with no heap meanwhile
   (see mia__segment_t). Returns whether the segment itself went back to its
   arena or the OS (its last page emptied). */
MIA__PRIVATE bool mia__segment_adopt(mia__segment_t* segment, mia__tld_t* tld, mia_heap_t* heap) {
  mia__atomic_store(&segment->thread_id, tld->thread_id, release);
  (void)mia__atomic_fetch_sub(&mia__abandoned_count, (size_t)1, relaxed);
  mia__stat_add(&mia__stats.abandoned, -1);
  segment->abandoned_next = NULL;
  segment->adopted = 1;
  tld->segment_count++;
  if (heap != NULL) {
    mia__owned_add(segment, tld);
    mia__stat_add(&mia__stats.reclaimed, 1);
    segment->heap = heap;
    mia__atomic_store(&mia__reclaimed_at, mia__clock_now(), relaxed);
    if (segment->purge_map != 0) mia__tld_purge_note(tld, 1); /* dirty free pages: purged on this thread's schedule */
  }
  mia__page_t* pages = mia__segment_pages(segment);
  for (size_t i = 0; i < segment->capacity; i++) {
    mia__page_t* page = &pages[i];
    if (!page->segment_in_use) continue;
    if (heap != NULL) {
      mia__atomic_store(&page->xheap, heap, release);
      mia__page_flags_set(page, MIA__PAGE_IN_FULL, false);
      page->retire_expire = 0;
      page->next = page->prev = NULL;
    }
    mia__page_collect(page, false);
    if (page->used == 0) {
      const bool last = (segment->used == 1);
      mia__segment_page_free(page, tld);
      if (last) return true; /* the segment itself is gone */
    } else if (heap != NULL) {
      mia__page_queue_push_back(heap, mia__page_bin(page), page);
    }
  }
  if (heap == NULL) mia__segment_abandon(segment, tld);
  else if (segment->free_map != 0 && segment->page_kind <= MIA__PAGE_LARGE && !segment->in_queue) mia__segment_queue_push(mia__segment_free_queue(segment), segment);
  return false;
}

/* Free pages (slices) of `kind` (small, medium, large) in the heap's
   segments with free pages, counted until `limit` is reached. */
MIA__PRIVATE size_t mia__heap_free_slices(const mia_heap_t* heap, size_t kind, size_t limit) {
  mia__assert_internal(kind <= MIA__PAGE_LARGE);
  size_t n = 0;
  for (const mia__segment_t* s = heap->segments[kind].first; s != NULL && n < limit; s = s->next) n += mia__popcount(s->free_map);
  return n;
}
/* Is the heap short of pages of `segment`'s kind: less than a segment's
   worth free? Counted once a kind per call: `memo` is -1 until then. */
MIA__PRIVATE bool mia__heap_short_of(const mia_heap_t* heap, const mia__segment_t* segment, int8_t memo[MIA__PAGE_LARGE + 1]) {
  const size_t kind = segment->page_kind;
  if (kind > MIA__PAGE_LARGE) return false;
  if (memo[kind] < 0) memo[kind] = (int8_t)(mia__heap_free_slices(heap, kind, segment->capacity) < segment->capacity);
  return memo[kind] == 1;
}

/* Does the segment hold a page of `bin` with room for a block (free or never
   handed out)? Read off the abandoned stack, where its pages keep still. */
MIA__PRIVATE bool mia__segment_has_room(mia__segment_t* segment, size_t bin) {
  const mia__page_t* pages = mia__segment_pages(segment);
  for (size_t i = 0; i < segment->capacity; i++) {
    if (pages[i].segment_in_use && pages[i].bin == bin && pages[i].used < pages[i].reserved) return true;
  }
  return false;
}
#define MIA__ROOM_SCAN 8 /* abandoned segments looked into for room in a bin, per call */
/* Take the whole abandoned stack (an exchange: no ABA), pick up to
   `max_segments` of it to adopt and push the rest back -- before the picked
   ones are adopted, so that other threads find the rest meanwhile instead
   of an empty stack (they would map new segments). Lock-free. With `clean`,
   the segments `heap` may not adopt are cleaned (mia__segment_adopt without
   a heap) instead of pushed back: their empty pages go back to their arena
   or the OS. With `needed` (the heartbeat), a segment is adopted only if
   the heap holds less than a segment's worth of free pages of its kind
   (counted once a kind, up to that); if none is, the deepest segment the
   heap may adopt is cleaned instead (abandoned again, on top, so the next
   call cleans another). With a `bin` (not MIA__BIN_FULL), only a segment
   with room in a page of that bin is adopted, looked for in the first
   MIA__ROOM_SCAN segments of its page kind. Returns whether a
   segment was adopted or given back.
   Pushing back first, measured side by side (medians of 5): thread_churn
   steps=5000 faults 15,892 -> 13,923, peak RSS 68.5 -> 51.0 MiB, CPU 0.47
   -> 0.41 s (glibc 1.04); larson (bench/classic.c, 2 threads) faults 8,161
   -> 7,531; tests/override/dict_threads.c peak unchanged (48.9 / 49.1 MiB).
   The need rule: adopting whatever was on top made one thread of a pair
   take nearly every abandoned segment, free pages and all, while the other
   mapped new ones (larson, 2 threads: the thread that needed a segment
   owned none, the other 8-20 with 300-1000 free pages). Measured side by
   side (medians of 10): larson faults 6,300 -> 4,968, peak RSS 24.5 ->
   18.6 MiB; thread_churn steps=5000 faults 13,242 -> 11,451, peak 50.3 ->
   43.8 MiB; dict_threads max-round peak 47.7 -> 47.8 MiB. Not the free
   path (mia__free_into_abandoned): gated too (the segment freed into, or
   a kind the heap is short of) it cost dict_threads ~1.2 MiB of peak, its
   main thread left medium segments behind; and not a stricter rule (adopt
   only a kind the heap has no free page of): ~3 MiB, the workers stopped
   taking the segments of workers that exited before them. */
MIA__PRIVATE bool mia__segment_try_reclaim_pick(mia_heap_t* heap, size_t max_segments, bool clean, bool needed, size_t bin) {
  if (mia__atomic_load(&mia__abandoned_count, relaxed) == 0) return false;
  mia__fork_enter(); /* the stack is ours alone until the rest is pushed back */
  uintptr_t list = (uintptr_t)mia__atomic_exchange(&mia__abandoned, (uintptr_t)0, acquire);
  size_t n = 0, picked = 0;
  mia__segment_t* adopt = NULL;  /* off the stack: to adopt */
  mia__segment_t* cleans = NULL; /* off the stack: to clean */
  mia__segment_t* rest = NULL;
  mia__segment_t* rest_tail = NULL;
  mia__segment_t* bottom = NULL;      /* `needed`: the deepest segment of `rest` the heap may adopt */
  mia__segment_t* bottom_prev = NULL; /* and the one before it */
  int8_t is_short[MIA__PAGE_LARGE + 1] = { -1, -1, -1 }; /* `needed`: mia__heap_short_of's memo */
  size_t looked = 0;                                      /* `bin`: segments looked into */
  const size_t bin_kind = (size_t)(bin < MIA__BIN_HUGE ? mia__page_kind_of_size(mia__bin_size(bin)) : MIA__PAGE_HUGE);
  while (list != 0) {
    mia__segment_t* segment = (mia__segment_t*)list;
    list = (uintptr_t)segment->abandoned_next;
    const bool fits = (!heap->no_reclaim && mia__segment_fits_arena(segment, heap->arena_id));
    if (picked < max_segments && fits && (!needed || mia__heap_short_of(heap, segment, is_short)) &&
        (bin == MIA__BIN_FULL || (segment->page_kind == bin_kind && looked++ < MIA__ROOM_SCAN && mia__segment_has_room(segment, bin)))) {
      segment->abandoned_next = adopt;
      adopt = segment;
      picked++;
    } else if (clean) {
      segment->abandoned_next = cleans;
      cleans = segment;
    } else {
      if (needed && fits) { bottom = segment; bottom_prev = rest_tail; }
      segment->abandoned_next = NULL;
      if (rest_tail != NULL) rest_tail->abandoned_next = segment; else rest = segment;
      rest_tail = segment;
    }
  }
  if (needed && picked == 0 && bottom != NULL) {
    if (bottom_prev != NULL) bottom_prev->abandoned_next = bottom->abandoned_next; else rest = bottom->abandoned_next;
    if (rest_tail == bottom) rest_tail = bottom_prev;
    bottom->abandoned_next = cleans;
    cleans = bottom;
  }
  if (rest != NULL) {
    uintptr_t head = mia__atomic_load(&mia__abandoned, relaxed);
    do {
      rest_tail->abandoned_next = (mia__segment_t*)head;
    } while (!mia__atomic_cas_weak(&mia__abandoned, &head, (uintptr_t)rest, release, relaxed));
  }
  while (adopt != NULL) {
    mia__segment_t* segment = adopt;
    adopt = segment->abandoned_next;
    (void)mia__segment_adopt(segment, heap->tld, heap);
    n++;
  }
  while (cleans != NULL) {
    mia__segment_t* segment = cleans;
    cleans = segment->abandoned_next;
    if (mia__segment_adopt(segment, heap->tld, NULL)) n++; /* abandoned again, unless it emptied */
  }
  mia__fork_leave();
  return n > 0;
}
MIA__PRIVATE bool mia__segment_try_reclaim_ex(mia_heap_t* heap, size_t max_segments, bool clean) {
  return mia__segment_try_reclaim_pick(heap, max_segments, clean, false, MIA__BIN_FULL);
}
/* One segment of a kind the heap is short of, adopted; else one cleaned. */
MIA__PRIVATE bool mia__segment_try_reclaim_needed(mia_heap_t* heap) {
  return mia__segment_try_reclaim_pick(heap, 1, false, true, MIA__BIN_FULL);
}
/* One segment with room in a page of `bin` (among the first MIA__ROOM_SCAN
   of the stack), adopted before the heap takes a fresh page for that bin:
   the blocks its exited owner left free serve the bin, where a fresh page
   would write new memory while they sit in a segment nobody adopts (the
   heartbeat's need rule adopts by kind, and not while the heap has free
   pages of it). Measured side by side (bench/classic.c, 2 threads, medians
   of 9): mstress peak RSS 32.0 -> 22.8 MiB (runs spread over 24-45 MiB
   before, 22-24 after), faults 7,463 -> 5,726. */
MIA__PRIVATE bool mia__segment_try_reclaim_room(mia_heap_t* heap, size_t bin) {
  return mia__segment_try_reclaim_pick(heap, 1, false, false, bin);
}
MIA__PRIVATE bool mia__segment_try_reclaim(mia_heap_t* heap, size_t max_segments) {
  return mia__segment_try_reclaim_ex(heap, max_segments, false);
}

/* ---------------------------------------------------------------------------
   >>fork: pthread_atfork -- the child adopts what the parent's other threads
   owned (the gate itself is in >>util)
--------------------------------------------------------------------------- */
/* Every thread's data, for the fork child to adopt what the threads that do
   not exist in it owned. Changed under a spin lock, so inside the fork gate. */
MIA__PRIVATE void mia__spin_lock(mia__atomic(int)* lock);
MIA__PRIVATE void mia__spin_unlock(mia__atomic(int)* lock);
#if MIA__FORK_GATE
static mia__tld_t* mia__tlds;
static mia__atomic(int) mia__tlds_lock;
MIA__PRIVATE void mia__tlds_add(mia__tld_t* tld) {
  mia__spin_lock(&mia__tlds_lock);
  tld->next_tld = mia__tlds;
  mia__tlds = tld;
  mia__spin_unlock(&mia__tlds_lock);
}
MIA__PRIVATE void mia__tlds_remove(mia__tld_t* tld) {
  mia__spin_lock(&mia__tlds_lock);
  mia__tld_t** link = &mia__tlds;
  while (*link != NULL && *link != tld) link = &(*link)->next_tld;
  if (*link == tld) *link = tld->next_tld;
  mia__spin_unlock(&mia__tlds_lock);
}
/* pthread_atfork: prepare closes the gate and waits out every open section
   (but the caller's own, if it forks from inside one); the parent opens it
   again; the child, where only the forking thread exists, opens it and
   ends every other thread's data as at its exit: their heaps orphaned,
   their segments abandoned for the child to reclaim. */
MIA__PRIVATE void mia__fork_prepare(void) {
  uintptr_t g = mia__atomic_load(&mia__fork_gate, relaxed);
  for (;;) {
    if (g & 1) { mia__yield(); g = mia__atomic_load(&mia__fork_gate, relaxed); continue; } /* another thread forks */
    if (mia__atomic_cas_weak(&mia__fork_gate, &g, g | 1, acq_rel, relaxed)) break;
  }
  const uintptr_t own = (mia__fork_depth != 0 ? 1 : 0);
  while ((mia__atomic_load(&mia__fork_gate, acquire) >> 1) != own) mia__yield();
}
MIA__PRIVATE void mia__fork_parent(void) { (void)mia__atomic_fetch_and(&mia__fork_gate, ~(uintptr_t)1, release); }
MIA__PRIVATE void mia__thread_done_td(mia__thread_data_t* td);
/* In the fork child while it ends the other threads' data: a thread that was
   inside its own lock-free slow path at the fork (taking a segment, say) may
   have left a segment or a page unaccounted -- leaked in the child,
   not reused. */
static bool mia__fork_adopting;
/* A free list of a page copied from another thread, cut at its first link
   outside the page (a push copied half done); returns the blocks kept. */
MIA__PRIVATE uint32_t mia__fork_list_repair(mia__page_t* page, mia__block_t** head) {
  uint32_t n = 0;
  mia__block_t* prev = NULL;
  for (mia__block_t* b = *head; b != NULL; prev = b, b = mia__block_decode(page, b->next)) {
    const uint8_t* q = (const uint8_t*)b;
    if (q < page->page_start || q >= page->page_start + (size_t)page->capacity * page->block_size ||
        (size_t)(q - page->page_start) % page->block_size != 0 || n == page->capacity) {
      if (prev == NULL) *head = NULL;
      else mia__block_set_next(page, prev, NULL);
      break;
    }
    n++;
  }
  return n;
}
/* A page of a thread copied outside its slow paths (mia__slow_enter): a fast
   path may have been between its two steps, a pop (free advanced, used not
   yet counted) or a push (block linked, used not yet lowered), or a flag
   half set. `used` is counted again from the free lists (a block popped and
   not yet handed out stays used: leaked in the child). */
MIA__PRIVATE void mia__fork_page_repair(mia__page_t* page) {
  const uint32_t nfree = mia__fork_list_repair(page, &page->free);
  const uint32_t nlocal = mia__fork_list_repair(page, &page->local_free);
  page->used = (nfree + nlocal <= page->capacity ? page->capacity - nfree - nlocal : 0);
  const uint8_t f = (uint8_t)(page->owner_flags | mia__atomic_load(&page->flags, relaxed));
  page->owner_flags = f;
  mia__atomic_store(&page->flags, f, relaxed);
}
MIA__PRIVATE void mia__fork_tld_repair(mia__tld_t* tld) {
  for (mia_heap_t* heap = tld->heaps; heap != NULL; heap = heap->next) {
    for (size_t bin = 0; bin <= MIA__BIN_FULL; bin++) {
      for (mia__page_t* page = heap->pages[bin].first; page != NULL; page = page->next) mia__fork_page_repair(page);
    }
  }
}
MIA__PRIVATE void mia__fork_child(void) {
  mia__atomic_store(&mia__fork_gate, (uintptr_t)(mia__fork_depth != 0 ? 2 : 0), release);
  mia__fork_adopting = true;
  const uintptr_t self = mia__thread_id();
  for (;;) {
    mia__tld_t* other = mia__tlds;
    while (other != NULL && other->thread_id == self) other = other->next_tld;
    if (other == NULL) break;
    if (other->in_slow != 0) { mia__tlds_remove(other); continue; } /* copied half done: leaked */
    mia__fork_tld_repair(other);
    mia__thread_done_td((mia__thread_data_t*)(void*)((uint8_t*)other - offsetof(mia__thread_data_t, tld)));
  }
  mia__fork_adopting = false;
}
#define MIA__FORK_ADOPTING mia__fork_adopting
#else
#define MIA__FORK_ADOPTING false
#define mia__tlds_add(tld) ((void)(tld))
#define mia__tlds_remove(tld) ((void)(tld))
#endif

/* ---------------------------------------------------------------------------
   >>thread: thread data, set-up on first use, tear-down at exit
--------------------------------------------------------------------------- */
static mia__thread_data_t mia__td_static;          /* for the first thread (no OS call) */
static mia__atomic(int) mia__td_static_used;
#define MIA__TD_CACHE_SIZE 16
static mia__atomic(uintptr_t) mia__td_cache[MIA__TD_CACHE_SIZE];

MIA__INLINE size_t mia__td_os_size(void) { return mia__align_up(sizeof(mia__thread_data_t), mia__os_page_size()); }

MIA__PRIVATE mia__thread_data_t* mia__td_alloc(void) {
  if (MIALLOC_SINGLE_THREAD) return &mia__td_static; /* set up once: the one thread keeps it */
  int expected = 0;
  if (mia__atomic_cas_strong(&mia__td_static_used, &expected, 1, acq_rel, relaxed)) return &mia__td_static;
  for (size_t i = 0; i < MIA__TD_CACHE_SIZE; i++) {
    if (mia__atomic_load(&mia__td_cache[i], relaxed) != 0) {
      uintptr_t td = (uintptr_t)mia__atomic_exchange(&mia__td_cache[i], (uintptr_t)0, acquire);
      if (td != 0) return (mia__thread_data_t*)td;
    }
  }
  void* p = NULL;
  if (mia__os_reserve(mia__td_os_size(), mia__os_page_size(), &p) != 0) return NULL;
  return (mia__thread_data_t*)p;
}

MIA__PRIVATE void mia__td_free(mia__thread_data_t* td) {
  if (td == &mia__td_static) { mia__atomic_store(&mia__td_static_used, 0, release); return; }
  for (size_t i = 0; i < MIA__TD_CACHE_SIZE; i++) {
    uintptr_t expected = 0;
    if (mia__atomic_cas_strong(&mia__td_cache[i], &expected, (uintptr_t)td, release, relaxed)) return;
  }
  mia__os_release(td, mia__td_os_size(), mia__td_os_size());
}

MIA__PRIVATE void mia__heap_init(mia_heap_t* heap, mia__tld_t* tld) {
  mia__memset((void*)heap, 0, sizeof(*heap)); /* what is not set below starts at zero */
  for (size_t i = 0; i < MIA__PAGES_DIRECT; i++) heap->pages_direct[i] = &mia__page_empty;
  for (size_t i = 0; i < MIA__PAGES_MEDIUM; i++) heap->pages_medium[i] = &mia__page_empty;
  heap->tld = tld;
  mia__atomic_store(&heap->thread_id, tld->thread_id, relaxed);
  heap->page_retired_min = MIA__BIN_FULL;
  heap->cookie = (uintptr_t)heap ^ (uintptr_t)mia__clock_now() ^ ((uintptr_t)tld->heartbeat << 16);
  heap->next = tld->heaps;
  tld->heaps = heap;
}

/* 0 new, 2 ready; while a thread initialises, mia__process_init_mark() */
static mia__atomic(intptr_t) mia__process_state;
static int64_t mia__process_start;
/* Thread exit hooks: a pthread key (POSIX) or an FLS slot (Windows) whose
   destructor abandons the thread's heaps. None in single-thread builds. */
#define MIA__THREAD_EXIT_POSIX (MIA__OS_POSIX && !MIALLOC_SINGLE_THREAD)
#define MIA__THREAD_EXIT_WIN32 (MIA__OS_WINDOWS && !MIALLOC_SINGLE_THREAD)
#if MIA__THREAD_EXIT_POSIX
static pthread_key_t mia__thread_key;
#elif MIA__THREAD_EXIT_WIN32
static DWORD mia__fls_key = FLS_OUT_OF_INDEXES;
#endif

MIA__PRIVATE void mia__thread_done_td(mia__thread_data_t* td);

#if MIA__THREAD_EXIT_POSIX
MIA__PRIVATE void mia__thread_key_destructor(void* value) {
  if (value != NULL) mia__thread_done_td((mia__thread_data_t*)value);
}
#elif MIA__THREAD_EXIT_WIN32
MIA__PRIVATE void NTAPI mia__fls_callback(void* value) {
  if (value != NULL) mia__thread_done_td((mia__thread_data_t*)value);
}
#endif

MIA__PRIVATE void mia__thread_key_set(mia__thread_data_t* td) {
#if MIA__THREAD_EXIT_POSIX
  pthread_setspecific(mia__thread_key, td);
#elif MIA__THREAD_EXIT_WIN32
  if (mia__fls_key != FLS_OUT_OF_INDEXES) FlsSetValue(mia__fls_key, td);
#else
  (void)td;
#endif
}

#if MIA__HOSTED
MIA__PRIVATE void mia__process_done(void);
#endif

/* The mark of an initialisation under way: odd, and with the fork gate the
   process id too. A fork child can copy another thread's initialisation half
   done (before the fork handlers exist, so nothing waits for it): that
   thread is not in the child, and the child's first thread to need the
   allocator finds another process's mark and starts the work again. */
MIA__PRIVATE intptr_t mia__process_init_mark(void) {
#if MIA__FORK_GATE
  return 1 | ((intptr_t)getpid() << 2);
#else
  return 1;
#endif
}
MIA__PRIVATE void mia__process_init(void) {
  if mia_likely(mia__atomic_load(&mia__process_state, acquire) == 2) return;
  const intptr_t mark = mia__process_init_mark();
  for (;;) {
    intptr_t seen = mia__atomic_load(&mia__process_state, acquire);
    if (seen == 2) return;
    if (seen == mark) { mia__yield(); continue; } /* another thread of this process initialises */
    if (mia__atomic_cas_strong(&mia__process_state, &seen, mark, acq_rel, acquire)) break;
  }
  mia__os_init();
  mia__simd_init();
  for (int i = 0; i < (int)mia_option_last; i++) (void)mia_option_get((mia_option_t)i);
  mia__process_start = mia__clock_now();
#if MIA__THREAD_EXIT_POSIX
  pthread_key_create(&mia__thread_key, mia__thread_key_destructor);
#elif MIA__THREAD_EXIT_WIN32
  mia__fls_key = FlsAlloc(mia__fls_callback);
#endif
#if !MIA__GNUC && MIA__HOSTED
  atexit(mia__process_done);
#endif
  mia__atomic_store(&mia__process_state, (intptr_t)2, release);
#if MIA__FORK_GATE
  pthread_atfork(mia__fork_prepare, mia__fork_parent, mia__fork_child); /* after `ready`: it may allocate */
#endif
  mia__verbose("process initialised (avx2 paths: %s, segment %zu KiB)\n", mia__simd.avx2 ? "on" : "off", MIA__SEGMENT_SIZE / MIA__KiB);
}

/* show_stats at the process's end: hosted only (firmware does not end) */
#if MIA__HOSTED
#if MIA__GNUC
__attribute__((destructor))
#endif
MIA__PRIVATE void mia__process_done(void) {
  if (mia__atomic_load(&mia__process_state, acquire) != 2) return;
  if (mia_option_is_enabled(mia_option_show_stats)) mia_stats_print_out(NULL, NULL);
}
#endif

/* Set up the calling thread: its data, backing heap, and exit hook. */
MIA__PRIVATE mia_heap_t* mia__thread_heap_init(void) {
  mia__process_init();
  if (mia__heap_default != &mia__heap_empty) return mia__heap_default;
  mia__thread_data_t* td = mia__td_alloc();
  if (td == NULL) return NULL;
  mia__memset((void*)td, 0, sizeof(*td));
  mia__tld_t* tld = &td->tld;
  tld->thread_id = mia__thread_id();
  tld->is_main = (td == &mia__td_static);
  mia__heap_init(&td->heap, tld);
  tld->heap_backing = &td->heap;
  mia__heap_default = &td->heap;
  mia__thread_key_set(td);
  mia__tlds_add(tld);
  mia__stat_add(&mia__stats.threads, 1);
  return &td->heap;
}

MIA__PRIVATE void mia__heap_owner_exit(mia_heap_t* heap, mia_heap_t* backing); /* >>lifecycle */

MIA__PRIVATE void mia__thread_done_td(mia__thread_data_t* td) {
  mia__tld_t* tld = &td->tld;
  mia__tlds_remove(tld);
  mia_heap_t* backing = tld->heap_backing;
  mia_heap_t* heap = tld->heaps;
  while (heap != NULL) {
    mia_heap_t* next = heap->next;
    if (heap != backing) mia__heap_owner_exit(heap, backing);
    heap = next;
  }
  mia__heap_collect_abandon(backing);
  mia__segment_cache_to_pool(tld);
  mia__assert_internal(MIA__FORK_ADOPTING || tld->segment_count == 0);
  if (mia__heap_default != &mia__heap_empty && mia__heap_default->tld == tld) { mia__heap_default = &mia__heap_empty; mia__owned_clear(); }
  mia__stat_add(&mia__stats.threads, -1);
  mia__td_free(td);
}

/* ---------------------------------------------------------------------------
   >>alloc: the allocation fast paths
--------------------------------------------------------------------------- */


/* Pop a block of a small size: one load from the heap to the page, one from
   the page to the block. ~10 instructions, one branch (zero is a constant). */
MIA__INLINE void* mia__heap_malloc_small_zero(mia_heap_t* heap, size_t size, bool zero) {
  mia__page_t* const page = heap->pages_direct[mia__direct_slot(size + MIA__PADDING)];
  mia__block_t* const block = page->free;
  if mia_unlikely(block == NULL) return mia__malloc_generic(size, heap, zero, 0);
  return mia__page_pop(heap, page, block, size, zero);
}

/* Past the direct pages, up to medium blocks: the first page of the size
   class, if it has a free block -- what the generic path would take, without
   its register saves (out of line: the small path above stays small enough
   to inline). Up to 8 KiB the page is one load away (pages_medium). */
MIA__OUTLINE MIA__PRIVATE void* mia__heap_malloc_medium(size_t size, mia_heap_t* heap, bool zero) {
  if mia_likely(size <= MIA__MEDIUM_DIRECT_MAX - MIA__PADDING) {
    mia__page_t* const page = heap->pages_medium[MIA__MEDIUM_SLOT(size + MIA__PADDING)];
    mia__block_t* const block = page->free;
    if mia_likely(block != NULL) return mia__page_pop(heap, page, block, size, zero);
  } else if (size <= MIA__MEDIUM_OBJ_SIZE_MAX - MIA__PADDING) {
    mia__page_t* const page = heap->pages[mia__bin_wide(mia__wsize_from_size(size + MIA__PADDING))].first; /* > 128 words */
    if (page != NULL && page->free != NULL) return mia__page_pop(heap, page, page->free, size, zero);
  }
  return mia__malloc_generic(size, heap, zero, 0);
}
MIA__INLINE void* mia__heap_malloc_zero(mia_heap_t* heap, size_t size, bool zero) {
  if mia_likely(size <= MIALLOC_SMALL_SIZE_MAX - MIA__PADDING) return mia__heap_malloc_small_zero(heap, size, zero);
  return mia__heap_malloc_medium(size, heap, zero);
}

/* ---------------------------------------------------------------------------
   >>hooks: profiler callbacks around the public functions (MIALLOC_HOOKS)
   Each public allocating function is a plain definition whose first
   statement is MIA__HOOK_*: nothing with hooks compiled out; with them in,
   the outermost call of the thread reports (nested public calls report
   nothing).
--------------------------------------------------------------------------- */
#if MIALLOC_HOOKS
static mia_hooks_t mia__hooks;
static bool mia__hooks_on = false;
static MIA__THREAD_LOCAL int mia__hook_depth;
static MIA__THREAD_LOCAL size_t mia__hook_sampled;

/* Over-aligned blocks handed out at an interior pointer record the offset in
   their first word, so mia_heap_destroy can report the pointer the program has. */
MIA__INLINE uintptr_t mia__hook_offset_tag(const void* block) { return ((uintptr_t)block ^ (uintptr_t)0x5EC7A11E5EC7A11Eull) << 24; }
MIA__PRIVATE const mia_heap_t* mia__hook_heap_of(const void* p) {
  mia_heap_t* heap = mia__page_heap(mia__segment_page_of(mia__segment_of(p), p));
  return (heap == NULL ? NULL : mia__heap_parent(heap));
}
MIA__PRIVATE void mia__hook_alloc(void* p) {
  if (!mia__hooks_on || p == NULL || mia__hooks.alloc == NULL) return;
  const size_t size = mia_usable_size(p);
  if (mia__hooks.sample_bytes != 0) {
    mia__hook_sampled += size;
    if (mia__hook_sampled < mia__hooks.sample_bytes) return;
    mia__hook_sampled %= mia__hooks.sample_bytes;
  }
  mia__hooks.alloc(mia__hook_heap_of(p), p, size, mia__hooks.arg);
}
MIA__PRIVATE void mia__hook_free(void* p) {
  if (!mia__hooks_on || p == NULL || mia__hook_depth != 0 || mia__hooks.free == NULL) return;
  mia__hooks.free(mia__hook_heap_of(p), p, mia_usable_size(p), mia__hooks.arg);
}
MIA__PRIVATE void mia__hook_realloc(void* old_p, void* new_p) {
  if (!mia__hooks_on || new_p == NULL || mia__hooks.realloc == NULL) return;
  mia__hooks.realloc(mia__hook_heap_of(new_p), old_p, new_p, mia_usable_size(new_p), mia__hooks.arg);
}
/* The first statement of each public allocating function: the outermost
   call of the thread (hooks on, depth 0) runs the function again one level
   down and reports its result; nested calls and hooks off go straight on. */
#define MIA__HOOK_ALLOC(T, call)                                        \
  if mia_unlikely(mia__hooks_on && mia__hook_depth == 0) {              \
    mia__hook_depth++;                                                  \
    T r_ = call;                                                        \
    mia__hook_depth--;                                                  \
    mia__hook_alloc(r_);                                                \
    return r_;                                                          \
  }
/* realloc: one realloc report; `frees_on_failure` (reallocf): a failure
   frees the old block, reported as a free of its old size. */
#define MIA__HOOK_REALLOC_EX(T, call, frees_on_failure)                                         \
  if mia_unlikely(mia__hooks_on && mia__hook_depth == 0) {                                      \
    void* old_ = p;                                                                             \
    const size_t old_size_ = ((frees_on_failure) && old_ != NULL ? mia_usable_size(old_) : 0);  \
    const mia_heap_t* old_heap_ = (old_size_ != 0 ? mia__hook_heap_of(old_) : NULL);            \
    mia__hook_depth++;                                                                          \
    T r_ = call;                                                                                \
    mia__hook_depth--;                                                                          \
    if (r_ != NULL) mia__hook_realloc(old_, r_);                                                \
    else if (old_size_ != 0 && mia__hooks.free != NULL) mia__hooks.free(old_heap_, old_, old_size_, mia__hooks.arg); \
    return r_;                                                                                  \
  }
#define MIA__HOOK_REALLOC(T, call) MIA__HOOK_REALLOC_EX(T, call, false)
#define MIA__HOOK_REALLOCF(T, call) MIA__HOOK_REALLOC_EX(T, call, true)
#define MIA__HOOK_FREE(call)                                            \
  if mia_unlikely(mia__hooks_on && mia__hook_depth == 0) {              \
    mia__hook_free(p);                                                  \
    mia__hook_depth++;                                                  \
    call;                                                               \
    mia__hook_depth--;                                                  \
    return;                                                             \
  }
MIA__API bool mia_hooks_set(const mia_hooks_t* hooks) {
  if (hooks == NULL) { mia__hooks_on = false; return true; }
  mia__hooks = *hooks;
  mia__hooks_on = true;
  return true;
}
/* The allocator's own blocks (heap descriptors) are not the program's: not reported. */
#define MIA__HOOK_INTERNAL_BEGIN() (mia__hook_depth++)
#define MIA__HOOK_INTERNAL_END() (mia__hook_depth--)
#else
#define MIA__HOOK_INTERNAL_BEGIN() ((void)0)
#define MIA__HOOK_INTERNAL_END() ((void)0)
#define MIA__HOOK_ALLOC(T, call)
#define MIA__HOOK_REALLOC(T, call)
#define MIA__HOOK_REALLOCF(T, call)
#define MIA__HOOK_FREE(call)
MIA__API bool mia_hooks_set(const mia_hooks_t* hooks) { (void)hooks; return false; }
#endif

/* ---------------------------------------------------------------------------
   >>free: the free fast path and its slow paths
--------------------------------------------------------------------------- */

/* The block that `p` points into (p may be an aligned interior pointer). */
MIA__INLINE mia__block_t* mia__page_block_of(const mia__page_t* page, const void* p) {
  const size_t diff = (size_t)((const uint8_t*)p - page->page_start);
  return (mia__block_t*)(uintptr_t)((uintptr_t)p - (diff % page->block_size));
}

/* A huge block freed by another thread: give its memory back now and push
   it; if the owner has exited (abandoned mark), the segment is ours to release. */
MIA__PRIVATE void mia__free_huge_mt(mia__segment_t* segment, mia__page_t* page, mia__block_t* block) {
  const size_t psize = mia__os_page_size();
  bool needs_commit = false; /* straight to the hook: the segment is released whole later, and its statistics with it */
  if (page->block_size > 2 * psize && segment->arena_index == 0) segment->remote_purged = 1; /* before the push that publishes it */
  if (page->block_size > 2 * psize && segment->arena_index == 0) (void)mia__os.decommit(page->page_start + psize, mia__align_up(page->block_size, psize) - 2 * psize, &needs_commit, mia__os.arg);
  uintptr_t tf = mia__atomic_load(&page->xthread_free, relaxed);
  do {
    mia__block_set_next(page, block, mia__tf_block(tf));
  } while (!mia__atomic_cas_weak(&page->xthread_free, &tf, (uintptr_t)block | (tf & MIA__TF_ABANDONED), acq_rel, relaxed));
  if (tf & MIA__TF_ABANDONED) mia__huge_release(segment);
}

MIA__PRIVATE void mia__free_block_mt(mia__segment_t* segment, mia__page_t* page, mia__block_t* block) {
  if (segment->page_kind == MIA__PAGE_HUGE) { mia__free_huge_mt(segment, page, block); return; }
  uintptr_t tf = mia__atomic_load(&page->xthread_free, relaxed);
  do {
    mia__block_set_next(page, block, mia__tf_block(tf));
  } while (!mia__atomic_cas_weak(&page->xthread_free, &tf, (uintptr_t)block, release, relaxed));
}

/* A free into a segment whose owner exited: now and then, adopt abandoned
   segments here, so their memory comes back even if this thread seldom
   takes an allocation slow path (reclaim on free). */
MIA__NOINLINE MIA__PRIVATE void mia__free_into_abandoned(void) {
  if (MIALLOC_SINGLE_THREAD) return;
  mia_heap_t* heap = mia_heap_get_default(); /* a thread that only frees gets a heap here */
  if (heap == NULL || heap->tld == NULL) return;
  mia__tld_t* tld = heap->tld;
  if ((++tld->abandoned_frees % 64) != 0 || tld->heap_backing->no_reclaim) return;
  mia__slow_enter(tld);
  mia__segment_try_reclaim(tld->heap_backing, 1);
  mia__slow_leave(tld);
}

MIA__NOINLINE MIA__PRIVATE void mia__free_generic(mia__segment_t* segment, mia__page_t* page, bool is_local, void* p) {
  const uint8_t flags = mia__atomic_load(&page->flags, relaxed);
  mia__block_t* block = (flags & MIA__PAGE_HAS_ALIGNED) ? mia__page_block_of(page, p) : (mia__block_t*)p;
  mia__assert(page->segment_in_use);
  if (is_local) {
    mia__tld_t* const tld = mia__page_heap(page)->tld; /* this thread's */
    mia__slow_enter(tld);
    mia__free_block_local(page, block);
    mia__slow_leave(tld);
    return;
  }
  /* read before the push: once the block is pushed, a reclaiming thread may free the segment */
  const bool into_abandoned = (mia__atomic_load(&segment->thread_id, relaxed) == 0 && segment->page_kind != MIA__PAGE_HUGE);
  mia__free_block_mt(segment, page, block);
  if mia_unlikely(into_abandoned) mia__free_into_abandoned();
}

/* A pointer that is in no segment of ours, given to `what`: reported
   through the error callback (EINVAL) and otherwise ignored. Returns false. */
MIA__NOINLINE MIA__PRIVATE bool mia__not_ours(const void* p, const char* what) {
  mia__error(EINVAL, "invalid pointer %p: not allocated by mialloc (given to %s)\n", p, what);
  return false;
}
/* Is `p` in a segment of ours (any pointer; reads no memory but the map)? */
MIA__INLINE bool mia__ptr_is_ours(const void* p) { /* the calling thread's table first: most pointers are its own */
  const mia__segment_t* const segment = mia__segment_of(p);
  return mia__owned_has(segment) || mia__segment_map_contains(segment);
}

#if MIA__CHECKS
/* Debug/secure: is `p` a live block of ours? Checks, in order: a segment of
   ours, a page in use, the start of a block (or a recorded aligned pointer),
   not freed already, padding intact. Reports and returns false otherwise. */
MIA__NOINLINE MIA__PRIVATE bool mia__free_check(mia__segment_t* segment, const void* p) {
  if (!mia__segment_map_contains(segment)) {
    mia__error_fatal(EINVAL, "invalid pointer %p: not allocated by mialloc\n", p);
    return false;
  }
  const mia__page_t* page = mia__segment_page_of(segment, p);
  const uint8_t* start = page->page_start;
  const size_t bsize = page->block_size;
  if (!page->segment_in_use || bsize == 0 || (const uint8_t*)p < start || (size_t)((const uint8_t*)p - start) >= (size_t)page->reserved * bsize) {
    mia__error_fatal(EINVAL, "invalid pointer %p: not in a block in use (freed twice?)\n", p);
    return false;
  }
  mia__block_t* block = (mia__block_t*)(uintptr_t)((const uint8_t*)p - (size_t)((const uint8_t*)p - start) % bsize);
#if MIA__PADDING_ON
  uintptr_t* words = (uintptr_t*)(void*)block;
  if (words[1] == mia__freed_tag(block)) {
    mia__error_fatal(EAGAIN, "double free of %p\n", p);
    return false;
  }
#endif
  if ((const void*)block != p) {
    bool recorded = false;
#if MIA__PADDING_ON
    uintptr_t tag = 0;
    if ((const uint8_t*)p - (const uint8_t*)block >= (ptrdiff_t)sizeof(uintptr_t)) mia__memcpy(&tag, (const uint8_t*)p - sizeof(uintptr_t), sizeof(tag));
    recorded = (tag == mia__aligned_tag(p));
#endif
    if (!recorded && !(MIA__PADDING == 0 && (mia__atomic_load(&((mia__page_t*)(uintptr_t)page)->flags, relaxed) & MIA__PAGE_HAS_ALIGNED))) {
      mia__error_fatal(EINVAL, "invalid pointer %p: not the start of a block\n", p);
      return false;
    }
  }
#if MIA__PADDING_ON
  if (!mia__padding_check(page, block, (const uint8_t*)p)) return false;
  words[1] = mia__freed_tag(block);
#if MIA__FILL
  if (bsize > 2 * sizeof(uintptr_t)) mia__memset(words + 2, MIA__FILL_FREED, (bsize - 2 * sizeof(uintptr_t) < 65536 ? bsize - 2 * sizeof(uintptr_t) : 65536));
#endif
#endif
  return true;
}
#define MIA__FREE_CHECK(segment, p) mia__free_check(segment, p)
#else
#define MIA__FREE_CHECK(segment, p) true /* release: foreign pointers are found on the slow path (mia__free_slow) */
#endif

/* The owner's free of a block of a page with no flags set: onto local_free. */
MIA__INLINE void mia__free_local_push(mia__page_t* page, void* p) {
  mia__block_t* const block = (mia__block_t*)p;
  mia__block_set_next(page, block, page->local_free);
  page->local_free = block;
  MIA__STAT_FREE(page, 1);
  if mia_unlikely(--page->used == 0) {
    if (page->retire_expire == 0) mia__page_retire(page);
    else if (page->free == NULL) mia__page_swap_lists(page); /* retired already: what mia__page_retire would do */
  }
}

/* A free off the fast path: a page with flags set (full, aligned blocks),
   or a segment not in the calling thread's table (mia__owned) --
   a pointer mialloc never handed out (reported and ignored: the map is
   read, never the memory around the pointer), a block of another thread's
   or of a heap's shared part, or one of this thread's segments that lost
   its slot (it gets it back). */
MIA__NOINLINE MIA__PRIVATE void mia__free_slow(void* p, mia__segment_t* segment) {
  if (p == NULL) return; /* with MIA__NULL_FREE_SLOW, free(NULL) comes here */
  if (!MIA__CHECKS && MIALLOC_FOREIGN_CHECK && !mia__owned_has(segment) && !mia__segment_map_contains(segment)) { (void)mia__not_ours(p, "free"); return; }
  MIA__VG_FREE(p);
  mia__page_t* const page = mia__segment_page_of(segment, p);
  const bool is_local = (MIALLOC_SINGLE_THREAD || mia__thread_id() == mia__atomic_load(&segment->thread_id, relaxed));
  if (is_local) mia__owned_put(segment);
  if (is_local && page->owner_flags == 0) mia__free_local_push(page, p);
  else mia__free_generic(segment, page, is_local, p);
}

/* NULL's segment, (0 - 1) & ~MASK, is the last one of the address space:
   the kernel's on 64-bit hosts, so the thread's table never holds it and
   free(NULL) leaves through the slow path with no test of its own here. The
   checked builds test first (mia__free_check would report it), and so do
   32-bit targets, whose top addresses may be memory. */
#define MIA__NULL_FREE_SLOW (MIA__ADDRESS_BITS >= 48 && !MIA__CHECKS)

/* Free: pointer -> segment (mask); a segment of the calling thread's (one
   compare with its table, no header read before that) -> page (shift); no
   page flags set: push onto local_free. 16 instructions on x86-64 with
   BMI2, 18 without (MIA__SHR_LOW), and 4 more when the page empties (the
   table's compare costs one more than the owner's id in the segment header
   did, which read any pointer's "header"), no atomics. */
MIA__API void mia_free(void* p) {
  MIA__HOOK_FREE(mia_free(p));
  if (!MIA__NULL_FREE_SLOW && mia_unlikely(p == NULL)) return;
  mia__segment_t* const segment = mia__segment_of(p);
  if mia_unlikely(!MIA__FREE_CHECK(segment, p)) return; /* debug/secure: misuse, foreign pointers included, reported */
  if mia_likely(mia__owned_has(segment)) {
    mia__assert_internal(MIALLOC_SINGLE_THREAD || mia__atomic_load(&segment->thread_id, relaxed) == mia__thread_id());
    mia__page_t* const page = mia__segment_page_of(segment, p);
    if mia_likely(page->owner_flags == 0) {
      MIA__VG_FREE(p);
      mia__free_local_push(page, p);
      return;
    }
  }
  mia__free_slow(p, segment);
}

/* ---------------------------------------------------------------------------
   >>shared: heaps reached from threads other than their owner
   (see the comment at mia_heap_s)
--------------------------------------------------------------------------- */
typedef struct mia__heap_shared_s {
  mia__atomic(int) lock;
  mia_heap_t* parent;
  mia__tld_t tld;                    /* its own segments: thread_id is a pseudo id no thread has */
  mia_heap_t heap;                   /* the pages non-owners allocate from, under `lock` */
} mia__heap_shared_t;


MIA__PRIVATE void mia__spin_lock(mia__atomic(int)* lock) {
  mia__fork_enter();
  int expected = 0;
  size_t spins = 0;
  while (!mia__atomic_cas_weak(lock, &expected, 1, acquire, relaxed)) {
    expected = 0;
    if (++spins > 8) mia__yield();
  }
}
MIA__PRIVATE void mia__spin_unlock(mia__atomic(int)* lock) { mia__atomic_store(lock, 0, release); mia__fork_leave(); }

/* Is the caller allowed on this heap's lock-free path? The owner, or a
   thread holding the shared part's lock (for the shared part itself). */
MIA__INLINE bool mia__heap_is_owned(const mia_heap_t* heap) {
  if (MIALLOC_SINGLE_THREAD) return true;
  return mia__atomic_load(&((mia_heap_t*)(uintptr_t)heap)->thread_id, relaxed) == mia__thread_id() || heap->is_shared_part;
}

/* Get (making it on first use) the heap's shared part, locked. NULL with ENOMEM if it cannot be made. */
MIA__NOINLINE MIA__PRIVATE mia__heap_shared_t* mia__heap_shared_enter(mia_heap_t* heap) {
  mia__heap_shared_t* sh = mia__atomic_load(&heap->shared, acquire);
  if (sh == NULL) {
    mia__process_init();
    void* mem = NULL;
    if (mia__os_reserve(mia__align_up(sizeof(mia__heap_shared_t), mia__os_page_size()), mia__os_page_size(), &mem) != 0) {
      mia__error(ENOMEM, "cannot make the shared part of heap %p\n", (void*)heap);
      MIA__SET_ERRNO(ENOMEM);
      return NULL;
    }
    mia__heap_shared_t* fresh = (mia__heap_shared_t*)mem;
    mia__atomic_store(&fresh->lock, 0, relaxed);
    fresh->parent = heap;
    mia__memset((void*)&fresh->tld, 0, sizeof(fresh->tld));
    fresh->tld.thread_id = ((uintptr_t)&fresh->tld) | 1; /* odd: no thread has it */
    mia__heap_init(&fresh->heap, &fresh->tld);
    fresh->tld.heap_backing = &fresh->heap;
    fresh->heap.is_shared_part = true;
    fresh->heap.no_reclaim = true;
    fresh->heap.arena_id = heap->arena_id;
    mia__memcpy(fresh->heap.name, heap->name, sizeof(heap->name));
    mia__heap_shared_t* expected = NULL;
    if (mia__atomic_cas_strong(&heap->shared, &expected, fresh, acq_rel, acquire)) sh = fresh;
    else { sh = expected; mia__os_release(mem, mia__align_up(sizeof(mia__heap_shared_t), mia__os_page_size()), mia__align_up(sizeof(mia__heap_shared_t), mia__os_page_size())); }
  }
  mia__spin_lock(&sh->lock);
  return sh;
}
MIA__PRIVATE void mia__heap_shared_leave(mia__heap_shared_t* sh) { mia__spin_unlock(&sh->lock); }

/* First statement of every mia_heap_* allocation: a non-owner runs the same
   call on the shared part, under its lock. (The empty heap is the calling
   thread's own default before its first allocation: it goes on, and the slow
   path sets the thread up.) */
#if MIALLOC_SINGLE_THREAD
#define MIA__FOREIGN_HEAP(heap, T, call) /* one thread: every heap is its own */
#else
#define MIA__FOREIGN_HEAP(heap, T, call)                                   \
  if mia_unlikely(!mia__heap_is_owned(heap) && heap != &mia__heap_empty) { \
    mia__heap_shared_t* sh_ = mia__heap_shared_enter(heap);                \
    if (sh_ == NULL) return NULL;                                          \
    T r_ = call;                                                           \
    mia__heap_shared_leave(sh_);                                           \
    return r_;                                                             \
  }
#endif

MIA__PRIVATE void mia__heap_destroy_pages(mia_heap_t* heap);
MIA__PRIVATE void mia__heap_absorb(mia_heap_t* to, mia_heap_t* from);

MIA__PRIVATE mia_heap_t* mia__heap_parent(mia_heap_t* heap) {
  if (!heap->is_shared_part) return heap;
  return ((mia__heap_shared_t*)(void*)((uint8_t*)heap - offsetof(mia__heap_shared_t, heap)))->parent;
}
MIA__PRIVATE size_t mia__heap_budget_used(mia_heap_t* owner) {
  size_t used = mia__atomic_load(&owner->page_bytes, relaxed);
  mia__heap_shared_t* sh = mia__atomic_load(&owner->shared, acquire);
  if (sh != NULL) used += mia__atomic_load(&sh->heap.page_bytes, relaxed);
  return used;
}

/* Give back the empty pages of a heap's shared part (any thread). */
MIA__PRIVATE void mia__heap_shared_collect(mia_heap_t* owner) {
  mia__heap_shared_t* sh = mia__atomic_load(&owner->shared, acquire);
  if (sh == NULL) return;
  mia__spin_lock(&sh->lock);
  mia__heap_collect_ex(&sh->heap, false);
  mia__spin_unlock(&sh->lock);
}

/* ---------------------------------------------------------------------------
   >>lifecycle: a heap from mia_heap_new to its delete or destroy, by its
   owner or any other thread, and at its owner's exit (the states are
   written at mia_heap_s)
--------------------------------------------------------------------------- */
/* Heap descriptors come from the backing heap; when it has no memory (no OS
   and only exclusive arenas), from a small static pool. */
#define MIA__HEAP_POOL_SIZE (MIALLOC_NO_OS ? 2 : 8)
static mia_heap_t mia__heap_pool[MIA__HEAP_POOL_SIZE];
static mia__atomic(int) mia__heap_pool_used[MIA__HEAP_POOL_SIZE];

MIA__PRIVATE mia_heap_t* mia__heap_new_ex(int arena_id) {
  mia_heap_t* backing = mia_heap_get_backing();
  if (backing == NULL) return NULL;
  MIA__HOOK_INTERNAL_BEGIN();
  mia_heap_t* heap = (mia_heap_t*)mia_heap_malloc_aligned(backing, sizeof(mia_heap_t), MIA__CACHE_LINE);
  MIA__HOOK_INTERNAL_END();
  for (int i = 0; heap == NULL && i < MIA__HEAP_POOL_SIZE; i++) {
    int expected = 0;
    if (mia__atomic_cas_strong(&mia__heap_pool_used[i], &expected, 1, acq_rel, relaxed)) heap = &mia__heap_pool[i];
  }
  if (heap == NULL) { MIA__SET_ERRNO(ENOMEM); return NULL; }
  mia__slow_enter(backing->tld);
  mia__heap_init(heap, backing->tld);
  heap->no_reclaim = true; /* only its own blocks: destroy frees nothing it does not own */
  heap->arena_id = arena_id;
  mia__slow_leave(backing->tld);
  return heap;
}
/* Remove a (non-backing) heap from its thread and free its descriptor. */
MIA__PRIVATE void mia__heap_unlink_and_free(mia_heap_t* heap) {
  mia__tld_t* tld = heap->tld;
  if (tld != NULL) {
    mia_heap_t** link = &tld->heaps;
    while (*link != NULL && *link != heap) link = &(*link)->next;
    if (*link == heap) *link = heap->next;
    if (mia__heap_default == heap) mia__heap_default = tld->heap_backing;
  }
  const uintptr_t pool = (uintptr_t)&mia__heap_pool[0];
  if ((uintptr_t)heap >= pool && (uintptr_t)heap < pool + sizeof(mia__heap_pool)) {
    mia__atomic_store(&mia__heap_pool_used[((uintptr_t)heap - pool) / sizeof(mia_heap_t)], 0, release);
  } else {
    MIA__HOOK_INTERNAL_BEGIN();
    mia_free(heap);
    MIA__HOOK_INTERNAL_END();
  }
}

/* Move every page of `from`, with the segments they lie in, into `to`: a
   heap of the same thread, or the shared part of `from` at its owner's exit
   (mia__heap_owner_exit). The caller is from's owner. */
MIA__PRIVATE void mia__heap_collect_retired(mia_heap_t* heap, bool force);
MIA__PRIVATE void mia__heap_absorb(mia_heap_t* to, mia_heap_t* from) {
  mia__heap_collect_retired(from, true); /* empty retired pages go; none moves with a retire count */
  for (size_t bin = 0; bin <= MIA__BIN_FULL; bin++) {
    mia__page_t* page;
    while ((page = from->pages[bin].first) != NULL) {
      mia__page_queue_remove(from, bin, page);
      mia__segment_t* const segment = mia__page_segment(page);
      if (segment->heap == from) mia__segment_give(segment, to);
      mia__atomic_store(&page->xheap, to, release);
      mia__page_queue_push_back(to, bin, page);
    }
  }
  from->page_retired_min = MIA__BIN_FULL;
  from->page_retired_max = 0;
  mia__assert_internal(from->segments[0].first == NULL && from->segments[1].first == NULL && from->segments[2].first == NULL);
#if MIALLOC_STATS
  to->st.live += from->st.live;
  if (to->st.live > to->st.peak) to->st.peak = to->st.live;
  from->st.live = 0;
#endif
}

/* The owner's part of a heap goes: its pages, with their segments, to the
   backing heap (delete; an arena heap's are abandoned instead, to stay in
   their arena -- with one thread, kept in tld->heap_deleted) or back to
   their segments (destroy). Returns whether the descriptor may go now (not
   when it became tld->heap_deleted). */
MIA__PRIVATE bool mia__heap_release_owner_part(mia_heap_t* heap, bool destroy) {
  if (destroy) mia__heap_destroy_pages(heap);
  else if (heap->arena_id == 0) mia__heap_absorb(heap->tld->heap_backing, heap);
#if MIALLOC_SINGLE_THREAD
  else {
    mia__tld_t* const tld = heap->tld;
    mia__heap_collect_now(heap, false); /* its empty pages go; not a forced collect: the thread's segment cache stays */
    if (heap->page_count == 0) return true;
    if (tld->heap_deleted == NULL) { tld->heap_deleted = heap; return false; }
    mia__heap_absorb(tld->heap_deleted, heap);
  }
#else
  else mia__heap_collect_abandon(heap);
#endif
  return true;
}

/* A delete or destroy of a heap, by whoever is responsible for it now (the
   owner, or anyone once it is orphaned): the shared part is abandoned
   (delete: its blocks stay valid) or freed (destroy), the owner's part
   likewise unless the owner exited already, then the descriptor goes. */
MIA__PRIVATE void mia__heap_shared_end(mia_heap_t* heap, bool destroy);
MIA__PRIVATE void mia__heap_carry_out(mia_heap_t* heap, int request) {
  const bool destroy = (request == MIA__HEAP_DESTROY_REQUESTED);
  mia__heap_shared_end(heap, destroy);
  if (heap->tld != NULL && !mia__heap_release_owner_part(heap, destroy)) return;
  mia__heap_unlink_and_free(heap);
}

/* Requests from non-owners, carried out by the owner (on its slow path and
   at its exit). */
MIA__PRIVATE void mia__tld_process_requests(mia__tld_t* tld, mia_heap_t* except) {
  mia_heap_t* heap = tld->heaps;
  while (heap != NULL) {
    mia_heap_t* next = heap->next;
    const int state = mia__atomic_load(&heap->state, acquire);
    if (heap != except && heap != tld->heap_backing && (state == MIA__HEAP_DESTROY_REQUESTED || state == MIA__HEAP_DELETE_REQUESTED)) {
      /* the requester set the state under life_lock and let go of the heap */
      mia__spin_lock(&heap->life_lock);
      mia__spin_unlock(&heap->life_lock);
      mia__heap_carry_out(heap, state);
    }
    heap = next;
  }
}

/* A non-owner's delete or destroy: the shared part is dealt with at once;
   the owner's part is the owner's to release (a request), unless the owner
   exited (orphaned heap): then all of it goes here. Under life_lock, so that
   an owner's exit, which moves its part into the shared part, comes wholly
   before or after. */
MIA__PRIVATE void mia__heap_request(mia_heap_t* heap, int request) {
  mia__spin_lock(&heap->life_lock);
  const int state = mia__atomic_load(&heap->state, relaxed);
  if (state == MIA__HEAP_LIVE) {
    mia__heap_shared_end(heap, request == MIA__HEAP_DESTROY_REQUESTED);
    mia__atomic_store(&heap->state, request, release);
    mia__spin_unlock(&heap->life_lock); /* from here on the heap is the owner's to free */
    return;
  }
  mia__spin_unlock(&heap->life_lock);
  if (state == MIA__HEAP_ORPHANED) mia__heap_carry_out(heap, request);
  else mia__error(EINVAL, "heap %p was deleted or destroyed twice\n", (void*)heap);
}

MIA__PRIVATE bool mia__destroy_page_visitor(mia_heap_t* heap, size_t bin, mia__page_t* page, void* arg) {
  (void)arg;
  mia__page_queue_remove(heap, bin, page);
  mia__segment_page_free(page, heap->tld);
  return true;
}

#if MIALLOC_HOOKS
/* A destroyed heap's live blocks each get a free report. */
MIA__PRIVATE bool mia__hook_destroy_visitor(const mia_heap_t* heap, const mia_heap_area_t* area, void* block, size_t block_size, void* arg) {
  (void)area; (void)arg; (void)block_size;
  if (block == NULL || mia__hooks.free == NULL) return true;
  uint8_t* p = (uint8_t*)block;
  const mia__page_t* page = mia__segment_page_of(mia__segment_of(block), block);
  if (mia__atomic_load(&((mia__page_t*)(uintptr_t)page)->flags, relaxed) & MIA__PAGE_HAS_ALIGNED) {
    uintptr_t rec;
    mia__memcpy(&rec, block, sizeof(rec));
    const uintptr_t off = rec - mia__hook_offset_tag(block);
    if (off >= sizeof(uintptr_t) && off < page->block_size) p += off; /* the pointer the program was given */
  }
  mia__hooks.free(mia__heap_parent((mia_heap_t*)(uintptr_t)heap), p, mia_usable_size(p), mia__hooks.arg);
  return true;
}
#endif

/* Every page of `heap` back to its segments, live blocks and all. */
#if MIALLOC_VALGRIND
MIA__PRIVATE bool mia__vg_destroy_visitor(const mia_heap_t* heap, const mia_heap_area_t* area, void* block, size_t block_size, void* arg) {
  (void)heap; (void)area; (void)block_size; (void)arg;
  if (block != NULL) MIA__VG_FREE(block);
  return true;
}
#endif
MIA__PRIVATE void mia__heap_destroy_pages(mia_heap_t* heap) {
#if MIALLOC_VALGRIND
  mia_heap_visit_blocks(heap, true, mia__vg_destroy_visitor, NULL);
#endif
#if MIALLOC_HOOKS
  if (mia__hooks_on) mia_heap_visit_blocks(heap, true, mia__hook_destroy_visitor, NULL);
#endif
  mia__heap_visit_pages(heap, mia__destroy_page_visitor, NULL);
  mia__atomic_store(&heap->page_bytes, (size_t)0, relaxed);
  heap->small_bytes = 0;
  heap->page_retired_min = MIA__BIN_FULL;
  heap->page_retired_max = 0;
#if MIALLOC_STATS
  heap->st.live = 0;
#endif
}

/* End the shared part of a heap: delete (its pages with live blocks are
   abandoned with their segments, any thread may reclaim them, the blocks stay
   valid) or destroy (every page freed); then the part's own memory goes. */
MIA__PRIVATE void mia__heap_shared_end(mia_heap_t* heap, bool destroy) {
  if (MIALLOC_SINGLE_THREAD) return;
  mia__heap_shared_t* sh = (mia__heap_shared_t*)mia__atomic_exchange(&heap->shared, (mia__heap_shared_t*)NULL, acq_rel);
  if (sh == NULL) return;
  mia__spin_lock(&sh->lock);
  if (destroy) mia__heap_destroy_pages(&sh->heap); else mia__heap_collect_abandon(&sh->heap);
  mia__segment_cache_release(&sh->tld);
  mia__spin_unlock(&sh->lock);
  const size_t size = mia__align_up(sizeof(mia__heap_shared_t), mia__os_page_size());
  mia__os_release(sh, size, size);
}

/* The owner of a (non-backing) heap exits: a pending request is carried
   out; otherwise the heap is orphaned -- its owner part's pages, with their
   segments, join its shared part, and the descriptor stays for
   mia_heap_delete or mia_heap_destroy from any thread (see mia_heap_s). */
MIA__PRIVATE void mia__heap_owner_exit(mia_heap_t* heap, mia_heap_t* backing) {
  mia__spin_lock(&heap->life_lock);
  const int state = mia__atomic_load(&heap->state, relaxed);
  if (state != MIA__HEAP_LIVE) {
    mia__spin_unlock(&heap->life_lock); /* a requester never touches the heap again */
    mia__heap_carry_out(heap, state);
    return;
  }
  struct mia__heap_shared_s* sh = mia__heap_shared_enter(heap);
  if (sh != NULL) {
    mia__heap_absorb(&sh->heap, heap);
    mia__heap_shared_leave(sh);
  } else {
    (void)mia__heap_release_owner_part(heap, false); /* reported: its blocks stay valid, but a destroy cannot reach them */
  }
  mia__tld_t* tld = heap->tld;
  mia_heap_t** link = &tld->heaps;
  while (*link != NULL && *link != heap) link = &(*link)->next;
  if (*link == heap) *link = heap->next;
  if (mia__heap_default == heap) mia__heap_default = backing;
  heap->tld = NULL;
  mia__atomic_store(&heap->thread_id, (uintptr_t)0, release);
  mia__atomic_store(&heap->state, MIA__HEAP_ORPHANED, relaxed);
  mia__spin_unlock(&heap->life_lock);
}

/* ---------------------------------------------------------------------------
   >>api: the public functions
--------------------------------------------------------------------------- */
#define MIA__HEAP_DEFAULT() (mia__heap_default)

MIA__INLINE bool mia__count_size(size_t count, size_t size, size_t* total) {
  if mia_unlikely(mia__mul_overflow(count, size, total)) {
    mia__error(ENOMEM, "allocation size overflow (%zu * %zu bytes)\n", count, size);
    MIA__SET_ERRNO(ENOMEM);
    return false;
  }
  return true;
}

MIA__API void* mia_heap_malloc(mia_heap_t* heap, size_t size) { MIA__HOOK_ALLOC(void*, mia_heap_malloc(heap, size)); MIA__FOREIGN_HEAP(heap, void*, mia_heap_malloc(&sh_->heap, size)); return mia__heap_malloc_zero(heap, size, false); }
MIA__API void* mia_heap_zalloc(mia_heap_t* heap, size_t size) { MIA__HOOK_ALLOC(void*, mia_heap_zalloc(heap, size)); MIA__FOREIGN_HEAP(heap, void*, mia_heap_zalloc(&sh_->heap, size)); return mia__heap_malloc_zero(heap, size, true); }
MIA__API void* mia_heap_malloc_small(mia_heap_t* heap, size_t size) { MIA__HOOK_ALLOC(void*, mia_heap_malloc_small(heap, size)); MIA__FOREIGN_HEAP(heap, void*, mia_heap_malloc_small(&sh_->heap, size));
  mia__assert(size <= MIALLOC_SMALL_SIZE_MAX);
  if (MIA__PADDING > 0) return mia__heap_malloc_zero(heap, size, false); /* padding may push it past the direct pages */
  return mia__heap_malloc_small_zero(heap, size, false);
}
MIA__API void* mia_heap_zalloc_small(mia_heap_t* heap, size_t size) { MIA__HOOK_ALLOC(void*, mia_heap_zalloc_small(heap, size)); MIA__FOREIGN_HEAP(heap, void*, mia_heap_zalloc_small(&sh_->heap, size));
  mia__assert(size <= MIALLOC_SMALL_SIZE_MAX);
  if (MIA__PADDING > 0) return mia__heap_malloc_zero(heap, size, true);
  return mia__heap_malloc_small_zero(heap, size, true);
}
MIA__API void* mia_heap_calloc(mia_heap_t* heap, size_t count, size_t size) { MIA__HOOK_ALLOC(void*, mia_heap_calloc(heap, count, size)); MIA__FOREIGN_HEAP(heap, void*, mia_heap_calloc(&sh_->heap, count, size));
  size_t total;
  if (!mia__count_size(count, size, &total)) return NULL;
  return mia__heap_malloc_zero(heap, total, true);
}
MIA__API void* mia_heap_mallocn(mia_heap_t* heap, size_t count, size_t size) { MIA__HOOK_ALLOC(void*, mia_heap_mallocn(heap, count, size)); MIA__FOREIGN_HEAP(heap, void*, mia_heap_mallocn(&sh_->heap, count, size));
  size_t total;
  if (!mia__count_size(count, size, &total)) return NULL;
  return mia__heap_malloc_zero(heap, total, false);
}

MIA__API void* mia_malloc(size_t size) { MIA__HOOK_ALLOC(void*, mia_malloc(size)); return mia__heap_malloc_zero(MIA__HEAP_DEFAULT(), size, false); }
MIA__API void* mia_zalloc(size_t size) { MIA__HOOK_ALLOC(void*, mia_zalloc(size)); return mia__heap_malloc_zero(MIA__HEAP_DEFAULT(), size, true); }
MIA__API void* mia_malloc_small(size_t size) { MIA__HOOK_ALLOC(void*, mia_malloc_small(size)); return mia_heap_malloc_small(MIA__HEAP_DEFAULT(), size); }
MIA__API void* mia_zalloc_small(size_t size) { MIA__HOOK_ALLOC(void*, mia_zalloc_small(size)); return mia_heap_zalloc_small(MIA__HEAP_DEFAULT(), size); }
MIA__API void* mia_calloc(size_t count, size_t size) {
  MIA__HOOK_ALLOC(void*, mia_calloc(count, size));
  size_t total;
  if (!mia__count_size(count, size, &total)) return NULL;
  return mia__heap_malloc_zero(MIA__HEAP_DEFAULT(), total, true);
}
MIA__API void* mia_mallocn(size_t count, size_t size) { MIA__HOOK_ALLOC(void*, mia_mallocn(count, size)); return mia_heap_mallocn(MIA__HEAP_DEFAULT(), count, size); }

/* The usable size of a block of ours (checked by the caller). */
MIA__INLINE size_t mia__usable_size_of(const void* p) {
  const mia__page_t* const page = mia__segment_page_of(mia__segment_of(p), p);
#if MIA__PADDING_ON
  return mia__padding_size(page, mia__page_block_of(page, p), (const uint8_t*)p);
#else
  if mia_unlikely(mia__atomic_load(&((mia__page_t*)(uintptr_t)page)->flags, relaxed) & MIA__PAGE_HAS_ALIGNED) {
    const mia__block_t* block = mia__page_block_of(page, p);
    return page->block_size - (size_t)((const uint8_t*)p - (const uint8_t*)block);
  }
  return page->block_size;
#endif
}
MIA__API size_t mia_usable_size(const void* p) {
  if (p == NULL) return 0;
  if mia_unlikely((MIALLOC_FOREIGN_CHECK || MIA__CHECKS) && !mia__ptr_is_ours(p)) { (void)mia__not_ours(p, "usable_size"); return 0; }
  return mia__usable_size_of(p);
}

/* Bytes the block at `p` can hold from p on: the usable size, or with
   padding on, everything up to the padding (usable_size is then exactly the
   size asked for, so the bytes after it can be checked). */
MIA__INLINE size_t mia__block_capacity(const void* p) {
#if MIA__PADDING_ON
  const mia__page_t* page = mia__segment_page_of(mia__segment_of(p), p);
  return page->block_size - MIA__PADDING - (size_t)((const uint8_t*)p - (const uint8_t*)mia__page_block_of(page, p));
#else
  return mia__usable_size_of(p);
#endif
}

/* Grow a large block in place to hold `newsize` bytes: its span takes the
   free slices right after it (the owner thread only, which alone changes its
   segment's slice map). false when it cannot: another kind of block, not
   this thread's segment, an aligned (interior) pointer, a heap with a
   budget, or the next slices in use. A growing buffer is then not copied.
   Freestanding builds leave it out (code size: 664 B on Cortex-M4). */
MIA__PRIVATE bool mia__large_grow_in_place(void* p, size_t newsize) {
  mia__segment_t* segment = mia__segment_of(p);
  if (segment->page_kind != MIA__PAGE_LARGE || mia__atomic_load(&segment->thread_id, relaxed) != mia__thread_id()) return false;
  mia__page_t* page = mia__segment_page_of(segment, p);
  mia_heap_t* heap = mia__page_heap(page);
  if ((uint8_t*)p != page->page_start || heap == NULL || mia__heap_parent(heap)->limit != 0) return false;
  if (newsize > MIA__LARGE_OBJ_SIZE_MAX - MIA__PADDING) return false;
  const size_t bsize = mia__bin_size(mia__bin(newsize + MIA__PADDING));
  const size_t i = page->page_index, n = page->slice_count;
  const size_t m = (bsize + MIA__SMALL_PAGE_SIZE - 1) >> MIALLOC_SMALL_PAGE_SHIFT;
  if (bsize <= page->block_size || m <= n || i + m > MIA__SMALL_PAGES_PER_SEGMENT) return false;
  const mia__pagemap_t extra = mia__span_mask(i + n, m - n);
  if ((segment->free_map & extra) != extra) return false;
  mia__slow_enter(heap->tld);
  bool purged = false;
  const bool took = mia__slices_take(segment, page, i + n, m - n, &purged);
  /* the page moves to the queue of its new size class (its byte count with it) */
  const size_t queue = mia__page_bin(page);
  const size_t old_bsize = page->block_size;
  if (took) {
    mia__page_queue_remove(heap, queue, page);
    page->slice_count = (uint8_t)m;
    page->block_size = bsize;
    page->bin = (uint8_t)mia__bin(bsize);
    if (queue == MIA__BIN_FULL) mia__page_queue_push_back(heap, MIA__BIN_FULL, page);
    else mia__page_queue_push_front(heap, page->bin, page);
  }
  mia__slow_leave(heap->tld);
  if (!took) return false;
#if MIALLOC_STATS
  heap->st.live += bsize - old_bsize;
  if (heap->st.live > heap->st.peak) heap->st.peak = heap->st.live;
#endif
  MIA__VG_RESIZE(p, old_bsize, bsize);
  (void)old_bsize;
  return true;
}

/* In-place resize: with padding on, the padding moves to the new end. */
MIA__INLINE void* mia__resize_in_place(void* p, size_t newsize) {
#if MIA__PADDING_ON
  const mia__page_t* page = mia__segment_page_of(mia__segment_of(p), p);
  mia__padding_set(page, mia__page_block_of(page, p), (const uint8_t*)p, newsize);
#else
  (void)newsize;
#endif
  return p;
}
MIA__API size_t mia_malloc_usable_size(const void* p) { return mia_usable_size(p); }

MIA__API size_t mia_good_size(size_t size) {
  if (MIA__PADDING_ON) return size; /* with padding, usable_size is exactly the size asked for */
  if (size <= MIA__LARGE_OBJ_SIZE_MAX) return mia__bin_size(mia__bin(size));
  if (size > MIA__MAX_ALLOC_SIZE) return size;
  return mia__align_up(size, mia__os_page_size());
}

/* Debug/secure: the size given to a sized free must be the size asked for
   (with padding on) or fit the block; the alignment must hold. */
MIA__PRIVATE bool mia__free_size_ok(const void* p, size_t size) {
#if MIA__CHECKS
  if (p == NULL || !mia__ptr_is_ours(p)) return true; /* mia_free reports it */
  const size_t usable = mia_usable_size(p);
  if (MIA__PADDING_ON ? size != usable : size > usable) {
    mia__error_fatal(EINVAL, "mia_free_size(%p, %zu): wrong size, the block was allocated with %zu bytes\n", p, size, usable);
    return false;
  }
#else
  (void)p; (void)size;
#endif
  return true;
}
MIA__PRIVATE bool mia__free_alignment_ok(const void* p, size_t alignment) {
#if MIA__CHECKS
  if (p != NULL && (!mia__is_power_of_two(alignment) || ((uintptr_t)p & (alignment - 1)) != 0)) {
    mia__error_fatal(EINVAL, "mia_free_aligned(%p, %zu): the pointer is not aligned to %zu\n", p, alignment, alignment);
    return false;
  }
#else
  (void)p; (void)alignment;
#endif
  return true;
}
MIA__API void mia_free_size(void* p, size_t size) {
  MIA__HOOK_FREE(mia_free_size(p, size));
  if (!mia__free_size_ok(p, size)) return;
  mia_free(p);
}
MIA__API void mia_free_aligned(void* p, size_t alignment) {
  MIA__HOOK_FREE(mia_free_aligned(p, alignment));
  if (!mia__free_alignment_ok(p, alignment)) return;
  mia_free(p);
}
MIA__API void mia_free_size_aligned(void* p, size_t size, size_t alignment) {
  MIA__HOOK_FREE(mia_free_size_aligned(p, size, alignment));
  if (!mia__free_alignment_ok(p, alignment) || !mia__free_size_ok(p, size)) return;
  mia_free(p);
}
MIA__API void mia_cfree(void* p) { MIA__HOOK_FREE(mia_cfree(p)); mia_free(p); }

/* realloc: in place when the new size fits the block and uses at least half
   of it; otherwise allocate, copy and free. `zero`: bytes past the old usable
   size are zeroed. */
MIA__PRIVATE void* mia__heap_realloc_zero(mia_heap_t* heap, void* p, size_t newsize, bool zero) {
  if (p == NULL) return mia__heap_malloc_zero(heap, newsize, zero);
  if mia_unlikely((MIALLOC_FOREIGN_CHECK || MIA__CHECKS) && !mia__ptr_is_ours(p)) { (void)mia__not_ours(p, "realloc"); MIA__SET_ERRNO(EINVAL); return NULL; }
  const size_t size = mia__usable_size_of(p);
  if mia_likely(newsize <= mia__block_capacity(p) && newsize >= size / 2 && newsize > 0) {
    if (zero && newsize > size) mia__memset((uint8_t*)p + size, 0, newsize - size);
    return mia__resize_in_place(p, newsize);
  }
  if (MIA__HOSTED && newsize > size && newsize > MIA__MEDIUM_OBJ_SIZE_MAX && mia__large_grow_in_place(p, newsize)) { /* freestanding: code size first */
    if (zero) mia__memset((uint8_t*)p + size, 0, newsize - size);
    return mia__resize_in_place(p, newsize);
  }
  /* a block that grows by a little at a time (a buffer appended to) moves
     with room for 3/8 more, so that it does not move again at every size
     class: a growth from 8 B to 64 KiB by 16 B a call copies ~1/4 of the
     bytes it would otherwise (make bench-instr G) */
  const size_t room = size + size / 4 + size / 8;
  const size_t asked = (newsize > size && newsize < room && room <= MIA__MEDIUM_OBJ_SIZE_MAX - MIA__PADDING ? room : newsize);
  void* newp = mia__heap_malloc_zero(heap, asked, false);
  if mia_unlikely(newp == NULL) return NULL;
  if (zero && newsize > size) {
    const size_t usable = mia_usable_size(newp);
    mia__memset((uint8_t*)newp + size, 0, usable - size);
  }
  mia__memcpy(newp, p, (newsize < size ? newsize : size));
  mia_free(p);
  return (asked == newsize ? newp : mia__resize_in_place(newp, newsize)); /* padding: the size asked for */
}

MIA__API void* mia_heap_realloc(mia_heap_t* heap, void* p, size_t newsize) { MIA__HOOK_REALLOC(void*, mia_heap_realloc(heap, p, newsize)); MIA__FOREIGN_HEAP(heap, void*, mia_heap_realloc(&sh_->heap, p, newsize)); return mia__heap_realloc_zero(heap, p, newsize, false); }
MIA__API void* mia_heap_reallocn(mia_heap_t* heap, void* p, size_t count, size_t size) { MIA__HOOK_REALLOC(void*, mia_heap_reallocn(heap, p, count, size)); MIA__FOREIGN_HEAP(heap, void*, mia_heap_reallocn(&sh_->heap, p, count, size));
  size_t total;
  if (!mia__count_size(count, size, &total)) return NULL;
  return mia_heap_realloc(heap, p, total);
}
MIA__API void* mia_heap_reallocf(mia_heap_t* heap, void* p, size_t newsize) { MIA__HOOK_REALLOCF(void*, mia_heap_reallocf(heap, p, newsize)); MIA__FOREIGN_HEAP(heap, void*, mia_heap_reallocf(&sh_->heap, p, newsize));
  void* newp = mia_heap_realloc(heap, p, newsize);
  if (newp == NULL && p != NULL) mia_free(p);
  return newp;
}
MIA__API void* mia_heap_rezalloc(mia_heap_t* heap, void* p, size_t newsize) { MIA__HOOK_REALLOC(void*, mia_heap_rezalloc(heap, p, newsize)); MIA__FOREIGN_HEAP(heap, void*, mia_heap_rezalloc(&sh_->heap, p, newsize)); return mia__heap_realloc_zero(heap, p, newsize, true); }
MIA__API void* mia_heap_recalloc(mia_heap_t* heap, void* p, size_t newcount, size_t size) { MIA__HOOK_REALLOC(void*, mia_heap_recalloc(heap, p, newcount, size)); MIA__FOREIGN_HEAP(heap, void*, mia_heap_recalloc(&sh_->heap, p, newcount, size));
  size_t total;
  if (!mia__count_size(newcount, size, &total)) return NULL;
  return mia_heap_rezalloc(heap, p, total);
}
MIA__API void* mia_realloc(void* p, size_t newsize) { MIA__HOOK_REALLOC(void*, mia_realloc(p, newsize)); return mia__heap_realloc_zero(MIA__HEAP_DEFAULT(), p, newsize, false); }
MIA__API void* mia_reallocn(void* p, size_t count, size_t size) { MIA__HOOK_REALLOC(void*, mia_reallocn(p, count, size)); return mia_heap_reallocn(MIA__HEAP_DEFAULT(), p, count, size); }
MIA__API void* mia_reallocf(void* p, size_t newsize) { MIA__HOOK_REALLOCF(void*, mia_reallocf(p, newsize)); return mia_heap_reallocf(MIA__HEAP_DEFAULT(), p, newsize); }
MIA__API void* mia_rezalloc(void* p, size_t newsize) { MIA__HOOK_REALLOC(void*, mia_rezalloc(p, newsize)); return mia_heap_rezalloc(MIA__HEAP_DEFAULT(), p, newsize); }
MIA__API void* mia_recalloc(void* p, size_t newcount, size_t size) { MIA__HOOK_REALLOC(void*, mia_recalloc(p, newcount, size)); return mia_heap_recalloc(MIA__HEAP_DEFAULT(), p, newcount, size); }
MIA__API void* mia_reallocarray(void* p, size_t count, size_t size) { MIA__HOOK_REALLOC(void*, mia_reallocarray(p, count, size)); return mia_reallocn(p, count, size); }
MIA__API int mia_reallocarr(void* p, size_t count, size_t size) {
  if (p == NULL) { MIA__SET_ERRNO(EINVAL); return EINVAL; }
  void** op = (void**)p;
  void* newp = mia_reallocarray(*op, count, size);
  if (newp == NULL) return ENOMEM; /* overflow or out of memory */
  *op = newp;
  return 0;
}
MIA__API void* mia_expand(void* p, size_t newsize) {
  if (p == NULL || newsize > mia_usable_size(p)) return NULL;
  return p; /* the block already holds it; its usable size stays */
}

MIA__API char* mia_heap_strdup(mia_heap_t* heap, const char* s) { MIA__HOOK_ALLOC(char*, mia_heap_strdup(heap, s)); MIA__FOREIGN_HEAP(heap, char*, mia_heap_strdup(&sh_->heap, s));
  if (s == NULL) return NULL;
  const size_t n = mia__strlen(s);
  char* t = (char*)mia_heap_malloc(heap, n + 1);
  if (t != NULL) mia__memcpy(t, s, n + 1);
  return t;
}
MIA__API char* mia_heap_strndup(mia_heap_t* heap, const char* s, size_t n) { MIA__HOOK_ALLOC(char*, mia_heap_strndup(heap, s, n)); MIA__FOREIGN_HEAP(heap, char*, mia_heap_strndup(&sh_->heap, s, n));
  if (s == NULL) return NULL;
  size_t m = 0;
  while (m < n && s[m] != 0) m++;
  char* t = (char*)mia_heap_malloc(heap, m + 1);
  if (t != NULL) { mia__memcpy(t, s, m); t[m] = 0; }
  return t;
}
MIA__API char* mia_strdup(const char* s) { MIA__HOOK_ALLOC(char*, mia_strdup(s)); return mia_heap_strdup(MIA__HEAP_DEFAULT(), s); }
MIA__API char* mia_strndup(const char* s, size_t n) { MIA__HOOK_ALLOC(char*, mia_strndup(s, n)); return mia_heap_strndup(MIA__HEAP_DEFAULT(), s, n); }

/* ---- aligned allocation ---- */

/* Every case the fast path does not take: validation, sizes whose blocks
   are naturally aligned, over-allocation with an interior pointer, and
   alignments of a segment or more (a huge segment placed for it). */
MIA__NOINLINE MIA__PRIVATE void* mia__heap_malloc_aligned_generic(mia_heap_t* heap, size_t size, size_t alignment, size_t offset, bool zero) {
  if mia_unlikely(!mia__is_power_of_two(alignment)) {
    mia__error(EINVAL, "alignment %zu is not a power of two\n", alignment);
    MIA__SET_ERRNO(EINVAL);
    return NULL;
  }
  if mia_unlikely(alignment > MIA__ALIGNMENT_MAX || size > MIA__MAX_ALLOC_SIZE - alignment) {
    mia__error(ENOMEM, "cannot allocate %zu bytes aligned to %zu\n", size, alignment);
    MIA__SET_ERRNO(ENOMEM);
    return NULL;
  }
  offset &= (alignment - 1);
  if (alignment <= MIA__WSIZE && offset == 0) return mia__heap_malloc_zero(heap, size, zero);
  if (alignment > MIA__LARGE_OBJ_SIZE_MAX) {
    if (offset != 0) {
      mia__error(EINVAL, "an offset is not supported with alignment %zu\n", alignment);
      MIA__SET_ERRNO(EINVAL);
      return NULL;
    }
    if (heap == &mia__heap_empty) { heap = mia__thread_heap_init(); if (heap == NULL) { MIA__SET_ERRNO(ENOMEM); return NULL; } }
    return mia__malloc_generic((size == 0 ? 1 : size), heap, zero, alignment);
  }
  if (offset == 0 && alignment <= mia__os_page_size()) {
    /* blocks whose size is a multiple of the alignment are all aligned */
    const size_t asize = mia__align_up(size == 0 ? 1 : size, alignment);
    if (asize + MIA__PADDING <= MIA__LARGE_OBJ_SIZE_MAX && (mia__bin_size(mia__bin(asize + MIA__PADDING)) & (alignment - 1)) == 0) {
      void* p = mia__heap_malloc_zero(heap, asize, zero);
      mia__assert_internal(p == NULL || ((uintptr_t)p & (alignment - 1)) == 0);
      return (p == NULL ? NULL : mia__resize_in_place(p, size)); /* padding: the size asked for */
    }
  }
  /* over-allocate and hand out an interior pointer (with padding on, 8 more
     bytes hold a tag before it that marks it as handed out) */
  const size_t extra = (MIA__PADDING_ON || MIALLOC_HOOKS ? sizeof(uintptr_t) : 0);
  const size_t oversize = size + alignment - 1 + extra + (offset != 0 ? alignment : 0);
  uint8_t* p = (uint8_t*)mia__heap_malloc_zero(heap, oversize, zero);
  if (p == NULL) return NULL;
  uint8_t* aligned = (uint8_t*)(((uintptr_t)p + extra + offset + alignment - 1) & ~(uintptr_t)(alignment - 1)) - offset;
  if (aligned < p + extra) aligned += alignment;
  if (aligned != p) {
    mia__segment_t* segment = mia__segment_of(p);
    mia__page_t* page = mia__segment_page_of(segment, p);
    mia__page_flags_set(page, MIA__PAGE_HAS_ALIGNED, true);
#if MIALLOC_HOOKS
    { const uintptr_t rec = mia__hook_offset_tag(p) + (uintptr_t)(aligned - p); mia__memcpy(p, &rec, sizeof(rec)); } /* for destroy's reports */
#endif
    MIA__VG_FREE(p);
    MIA__VG_ALLOC(aligned, mia__block_capacity(aligned), zero);
#if MIA__PADDING_ON
    const uintptr_t tag = mia__aligned_tag(aligned);
    mia__memcpy(aligned - sizeof(uintptr_t), &tag, sizeof(tag));
    mia__padding_set(page, (mia__block_t*)(void*)p, aligned, size);
#endif
  }
  return aligned;
}

/* Alignments up to an OS page with no offset: a size class whose block size
   is a multiple of the alignment has every block aligned (pages start on OS
   pages), so the size rounded up to the alignment is an ordinary allocation
   (posix_memalign(4096, 4096): 176 -> 106 instructions a pair). Anything
   else: the generic path. */
MIA__OUTLINE MIA__PRIVATE void* mia__heap_malloc_aligned_page(mia_heap_t* heap, size_t size, size_t alignment, size_t offset, bool zero) {
  if (offset == 0 && (alignment & (alignment - 1)) == 0 && alignment - 1 < mia__os_page_size() && size <= MIA__MEDIUM_OBJ_SIZE_MAX - MIA__PADDING - alignment) { /* 0 is no power of two: alignment - 1 wraps */
    const size_t asize = mia__align_up(size == 0 ? 1 : size, alignment);
    const bool small = (asize <= MIALLOC_SMALL_SIZE_MAX - MIA__PADDING);
    const size_t bin = (small ? mia__bin(asize + MIA__PADDING) : mia__bin_wide(mia__wsize_from_size(asize + MIA__PADDING)));
    /* a power of two is a size class of its own (no formula to evaluate) */
    if (((asize + MIA__PADDING) & (asize + MIA__PADDING - 1)) == 0 || (mia__bin_size(bin) & (alignment - 1)) == 0) {
      mia__page_t* const page = (small ? NULL : heap->pages[bin].first);
      void* p = (page != NULL && page->free != NULL ? mia__page_pop(heap, page, page->free, asize, zero) : mia__heap_malloc_zero(heap, asize, zero));
      return (MIA__PADDING == 0 || p == NULL ? p : mia__resize_in_place(p, size)); /* padding: the size asked for */
    }
  }
  return mia__heap_malloc_aligned_generic(heap, size, alignment, offset, zero);
}

/* Aligned fast path: a small size whose next free block happens to be aligned. */
#if MIA__HOSTED
#define MIA__ALIGNED_FAST MIA__INLINE
#else
#define MIA__ALIGNED_FAST MIA__PRIVATE /* freestanding: one copy (flash is scarcer than cycles) */
#endif
MIA__ALIGNED_FAST void* mia__heap_malloc_aligned_at_zero(mia_heap_t* heap, size_t size, size_t alignment, size_t offset, bool zero) {
  /* the size rounded up to the alignment picks a size class whose blocks are
     mostly (for alignments up to 64: all) aligned already */
  const size_t asize = (offset == 0 && size <= MIALLOC_SMALL_SIZE_MAX && alignment - 1 < MIALLOC_SMALL_SIZE_MAX
                       ? (size + alignment - 1) & ~(alignment - 1) : size); /* no overflow: both small */
  if mia_likely(asize <= MIALLOC_SMALL_SIZE_MAX - MIA__PADDING && alignment - 1 < MIALLOC_SMALL_SIZE_MAX && mia__is_power_of_two(alignment)) {
    mia__page_t* const page = heap->pages_direct[mia__direct_slot(asize + MIA__PADDING)];
    mia__block_t* const block = page->free;
    if mia_likely(block != NULL && (((uintptr_t)block + offset) & (alignment - 1)) == 0) return mia__page_pop(heap, page, block, size, zero);
  }
  return mia__heap_malloc_aligned_page(heap, size, alignment, offset, zero);
}

MIA__API void* mia_heap_malloc_aligned_at(mia_heap_t* heap, size_t size, size_t alignment, size_t offset) { MIA__HOOK_ALLOC(void*, mia_heap_malloc_aligned_at(heap, size, alignment, offset)); MIA__FOREIGN_HEAP(heap, void*, mia_heap_malloc_aligned_at(&sh_->heap, size, alignment, offset)); return mia__heap_malloc_aligned_at_zero(heap, size, alignment, offset, false); }
MIA__API void* mia_heap_malloc_aligned(mia_heap_t* heap, size_t size, size_t alignment) { MIA__HOOK_ALLOC(void*, mia_heap_malloc_aligned(heap, size, alignment)); MIA__FOREIGN_HEAP(heap, void*, mia_heap_malloc_aligned(&sh_->heap, size, alignment)); return mia__heap_malloc_aligned_at_zero(heap, size, alignment, 0, false); }
MIA__API void* mia_heap_zalloc_aligned_at(mia_heap_t* heap, size_t size, size_t alignment, size_t offset) { MIA__HOOK_ALLOC(void*, mia_heap_zalloc_aligned_at(heap, size, alignment, offset)); MIA__FOREIGN_HEAP(heap, void*, mia_heap_zalloc_aligned_at(&sh_->heap, size, alignment, offset)); return mia__heap_malloc_aligned_at_zero(heap, size, alignment, offset, true); }
MIA__API void* mia_heap_zalloc_aligned(mia_heap_t* heap, size_t size, size_t alignment) { MIA__HOOK_ALLOC(void*, mia_heap_zalloc_aligned(heap, size, alignment)); MIA__FOREIGN_HEAP(heap, void*, mia_heap_zalloc_aligned(&sh_->heap, size, alignment)); return mia__heap_malloc_aligned_at_zero(heap, size, alignment, 0, true); }
MIA__API void* mia_heap_calloc_aligned_at(mia_heap_t* heap, size_t count, size_t size, size_t alignment, size_t offset) { MIA__HOOK_ALLOC(void*, mia_heap_calloc_aligned_at(heap, count, size, alignment, offset)); MIA__FOREIGN_HEAP(heap, void*, mia_heap_calloc_aligned_at(&sh_->heap, count, size, alignment, offset));
  size_t total;
  if (!mia__count_size(count, size, &total)) return NULL;
  return mia__heap_malloc_aligned_at_zero(heap, total, alignment, offset, true);
}
MIA__API void* mia_heap_calloc_aligned(mia_heap_t* heap, size_t count, size_t size, size_t alignment) { MIA__HOOK_ALLOC(void*, mia_heap_calloc_aligned(heap, count, size, alignment)); MIA__FOREIGN_HEAP(heap, void*, mia_heap_calloc_aligned(&sh_->heap, count, size, alignment)); return mia_heap_calloc_aligned_at(heap, count, size, alignment, 0); }

MIA__API void* mia_malloc_aligned(size_t size, size_t alignment) { MIA__HOOK_ALLOC(void*, mia_malloc_aligned(size, alignment)); return mia__heap_malloc_aligned_at_zero(MIA__HEAP_DEFAULT(), size, alignment, 0, false); }
MIA__API void* mia_malloc_aligned_at(size_t size, size_t alignment, size_t offset) { MIA__HOOK_ALLOC(void*, mia_malloc_aligned_at(size, alignment, offset)); return mia__heap_malloc_aligned_at_zero(MIA__HEAP_DEFAULT(), size, alignment, offset, false); }
MIA__API void* mia_zalloc_aligned(size_t size, size_t alignment) { MIA__HOOK_ALLOC(void*, mia_zalloc_aligned(size, alignment)); return mia__heap_malloc_aligned_at_zero(MIA__HEAP_DEFAULT(), size, alignment, 0, true); }
MIA__API void* mia_zalloc_aligned_at(size_t size, size_t alignment, size_t offset) { MIA__HOOK_ALLOC(void*, mia_zalloc_aligned_at(size, alignment, offset)); return mia_heap_zalloc_aligned_at(MIA__HEAP_DEFAULT(), size, alignment, offset); }
MIA__API void* mia_calloc_aligned(size_t count, size_t size, size_t alignment) { MIA__HOOK_ALLOC(void*, mia_calloc_aligned(count, size, alignment)); return mia_heap_calloc_aligned(MIA__HEAP_DEFAULT(), count, size, alignment); }
MIA__API void* mia_calloc_aligned_at(size_t count, size_t size, size_t alignment, size_t offset) { MIA__HOOK_ALLOC(void*, mia_calloc_aligned_at(count, size, alignment, offset)); return mia_heap_calloc_aligned_at(MIA__HEAP_DEFAULT(), count, size, alignment, offset); }

/* Resize keeping `p + offset` aligned; zero: the new tail is zeroed. */
MIA__PRIVATE void* mia__heap_realloc_aligned_zero(mia_heap_t* heap, void* p, size_t newsize, size_t alignment, size_t offset, bool zero) {
  if (alignment <= MIA__WSIZE && offset == 0 && mia__is_power_of_two(alignment)) return mia__heap_realloc_zero(heap, p, newsize, zero);
  if (p == NULL) return mia__heap_malloc_aligned_at_zero(heap, newsize, alignment, offset, zero);
  const size_t size = mia_usable_size(p);
  if (newsize <= mia__block_capacity(p) && newsize >= size / 2 && newsize > 0 && mia__is_power_of_two(alignment) && (((uintptr_t)p + offset) & (alignment - 1)) == 0) {
    if (zero && newsize > size) mia__memset((uint8_t*)p + size, 0, newsize - size);
    return mia__resize_in_place(p, newsize);
  }
  void* newp = mia__heap_malloc_aligned_at_zero(heap, newsize, alignment, offset, false);
  if (newp == NULL) return NULL;
  if (zero && newsize > size) {
    const size_t usable = mia_usable_size(newp);
    mia__memset((uint8_t*)newp + size, 0, usable - size);
  }
  mia__memcpy(newp, p, (newsize < size ? newsize : size));
  mia_free(p);
  return newp;
}
MIA__API void* mia_heap_realloc_aligned_at(mia_heap_t* heap, void* p, size_t newsize, size_t alignment, size_t offset) { MIA__HOOK_REALLOC(void*, mia_heap_realloc_aligned_at(heap, p, newsize, alignment, offset)); MIA__FOREIGN_HEAP(heap, void*, mia_heap_realloc_aligned_at(&sh_->heap, p, newsize, alignment, offset)); return mia__heap_realloc_aligned_zero(heap, p, newsize, alignment, offset, false); }
MIA__API void* mia_heap_realloc_aligned(mia_heap_t* heap, void* p, size_t newsize, size_t alignment) { MIA__HOOK_REALLOC(void*, mia_heap_realloc_aligned(heap, p, newsize, alignment)); MIA__FOREIGN_HEAP(heap, void*, mia_heap_realloc_aligned(&sh_->heap, p, newsize, alignment)); return mia__heap_realloc_aligned_zero(heap, p, newsize, alignment, 0, false); }
MIA__API void* mia_heap_rezalloc_aligned_at(mia_heap_t* heap, void* p, size_t newsize, size_t alignment, size_t offset) { MIA__HOOK_REALLOC(void*, mia_heap_rezalloc_aligned_at(heap, p, newsize, alignment, offset)); MIA__FOREIGN_HEAP(heap, void*, mia_heap_rezalloc_aligned_at(&sh_->heap, p, newsize, alignment, offset)); return mia__heap_realloc_aligned_zero(heap, p, newsize, alignment, offset, true); }
MIA__API void* mia_heap_rezalloc_aligned(mia_heap_t* heap, void* p, size_t newsize, size_t alignment) { MIA__HOOK_REALLOC(void*, mia_heap_rezalloc_aligned(heap, p, newsize, alignment)); MIA__FOREIGN_HEAP(heap, void*, mia_heap_rezalloc_aligned(&sh_->heap, p, newsize, alignment)); return mia__heap_realloc_aligned_zero(heap, p, newsize, alignment, 0, true); }
MIA__API void* mia_heap_recalloc_aligned_at(mia_heap_t* heap, void* p, size_t newcount, size_t size, size_t alignment, size_t offset) { MIA__HOOK_REALLOC(void*, mia_heap_recalloc_aligned_at(heap, p, newcount, size, alignment, offset)); MIA__FOREIGN_HEAP(heap, void*, mia_heap_recalloc_aligned_at(&sh_->heap, p, newcount, size, alignment, offset));
  size_t total;
  if (!mia__count_size(newcount, size, &total)) return NULL;
  return mia__heap_realloc_aligned_zero(heap, p, total, alignment, offset, true);
}
MIA__API void* mia_heap_recalloc_aligned(mia_heap_t* heap, void* p, size_t newcount, size_t size, size_t alignment) { MIA__HOOK_REALLOC(void*, mia_heap_recalloc_aligned(heap, p, newcount, size, alignment)); MIA__FOREIGN_HEAP(heap, void*, mia_heap_recalloc_aligned(&sh_->heap, p, newcount, size, alignment)); return mia_heap_recalloc_aligned_at(heap, p, newcount, size, alignment, 0); }
MIA__API void* mia_realloc_aligned(void* p, size_t newsize, size_t alignment) { MIA__HOOK_REALLOC(void*, mia_realloc_aligned(p, newsize, alignment)); return mia_heap_realloc_aligned(MIA__HEAP_DEFAULT(), p, newsize, alignment); }
MIA__API void* mia_realloc_aligned_at(void* p, size_t newsize, size_t alignment, size_t offset) { MIA__HOOK_REALLOC(void*, mia_realloc_aligned_at(p, newsize, alignment, offset)); return mia_heap_realloc_aligned_at(MIA__HEAP_DEFAULT(), p, newsize, alignment, offset); }
MIA__API void* mia_rezalloc_aligned(void* p, size_t newsize, size_t alignment) { MIA__HOOK_REALLOC(void*, mia_rezalloc_aligned(p, newsize, alignment)); return mia_heap_rezalloc_aligned(MIA__HEAP_DEFAULT(), p, newsize, alignment); }
MIA__API void* mia_rezalloc_aligned_at(void* p, size_t newsize, size_t alignment, size_t offset) { MIA__HOOK_REALLOC(void*, mia_rezalloc_aligned_at(p, newsize, alignment, offset)); return mia_heap_rezalloc_aligned_at(MIA__HEAP_DEFAULT(), p, newsize, alignment, offset); }
MIA__API void* mia_recalloc_aligned(void* p, size_t newcount, size_t size, size_t alignment) { MIA__HOOK_REALLOC(void*, mia_recalloc_aligned(p, newcount, size, alignment)); return mia_heap_recalloc_aligned(MIA__HEAP_DEFAULT(), p, newcount, size, alignment); }
MIA__API void* mia_recalloc_aligned_at(void* p, size_t newcount, size_t size, size_t alignment, size_t offset) { MIA__HOOK_REALLOC(void*, mia_recalloc_aligned_at(p, newcount, size, alignment, offset)); return mia_heap_recalloc_aligned_at(MIA__HEAP_DEFAULT(), p, newcount, size, alignment, offset); }

/* ---- POSIX forms ---- */
MIA__API int mia_posix_memalign(void** p, size_t alignment, size_t size) {
  if (p == NULL || !mia__is_power_of_two(alignment) || (alignment % sizeof(void*)) != 0) return EINVAL;
  void* q = mia_malloc_aligned(size, alignment);
  if (q == NULL) return ENOMEM;
  *p = q;
  return 0;
}
MIA__API void* mia_memalign(size_t alignment, size_t size) { MIA__HOOK_ALLOC(void*, mia_memalign(alignment, size)); return mia_malloc_aligned(size, alignment); }
MIA__API void* mia_aligned_alloc(size_t alignment, size_t size) { MIA__HOOK_ALLOC(void*, mia_aligned_alloc(alignment, size)); return mia_malloc_aligned(size, alignment); }
MIA__API void* mia_valloc(size_t size) {
  MIA__HOOK_ALLOC(void*, mia_valloc(size));
  mia__process_init();
  return mia_malloc_aligned(size, mia__os_page_size());
}
MIA__API void* mia_pvalloc(size_t size) {
  MIA__HOOK_ALLOC(void*, mia_pvalloc(size));
  mia__process_init();
  const size_t psize = mia__os_page_size();
  if (size > MIA__MAX_ALLOC_SIZE) { MIA__SET_ERRNO(ENOMEM); return NULL; }
  const size_t asize = (size == 0 ? psize : mia__align_up(size, psize));
  return mia_malloc_aligned(asize, psize);
}

/* ---- heaps ---- */
MIA__API mia_heap_t* mia_heap_get_default(void) {
  if (mia__heap_default == &mia__heap_empty) return mia__thread_heap_init();
  return mia__heap_default;
}
MIA__API mia_heap_t* mia_heap_get_backing(void) {
  mia_heap_t* heap = mia_heap_get_default();
  return (heap == NULL ? NULL : heap->tld->heap_backing);
}
MIA__API mia_heap_t* mia_heap_set_default(mia_heap_t* heap) {
  mia_heap_t* old = mia_heap_get_default();
  if (heap != NULL && heap != &mia__heap_empty) {
    mia__assert(mia__atomic_load(&heap->thread_id, relaxed) == mia__thread_id() || heap->is_shared_part);
    mia__heap_default = heap;
  }
  return old;
}

MIA__API mia_heap_t* mia_heap_new(void) { return mia__heap_new_ex(0); }
MIA__API mia_heap_t* mia_heap_new_in_arena(mia_arena_id_t arena_id) {
  if (mia__arena_of_id(arena_id) == NULL) {
    mia__error(EINVAL, "mia_heap_new_in_arena: unknown arena %d\n", arena_id);
    MIA__SET_ERRNO(EINVAL);
    return NULL;
  }
  return mia__heap_new_ex(arena_id);
}

MIA__API void mia_heap_delete(mia_heap_t* heap) {
  if (heap == NULL || heap == &mia__heap_empty || heap->is_shared_part) return;
  if (!MIALLOC_SINGLE_THREAD && mia__atomic_load(&heap->thread_id, relaxed) != mia__thread_id()) {
    mia__heap_request(heap, MIA__HEAP_DELETE_REQUESTED);
    return;
  }
  mia__tld_t* const tld = heap->tld;
  if (heap == tld->heap_backing) { mia__heap_collect_ex(heap, false); return; }
  mia__slow_enter(tld);
  mia__heap_carry_out(heap, MIA__HEAP_DELETE_REQUESTED);
  mia__slow_leave(tld);
}

MIA__API void mia_heap_destroy(mia_heap_t* heap) {
  if (heap == NULL || heap == &mia__heap_empty || heap->is_shared_part) return;
  if (!MIALLOC_SINGLE_THREAD && mia__atomic_load(&heap->thread_id, relaxed) != mia__thread_id()) {
    mia__heap_request(heap, MIA__HEAP_DESTROY_REQUESTED);
    return;
  }
  if (heap == heap->tld->heap_backing) {
    mia__error(EINVAL, "the backing heap cannot be destroyed (it was collected instead)\n");
    mia__heap_collect_ex(heap, false);
    return;
  }
  mia__tld_t* const tld = heap->tld;
  mia__slow_enter(tld);
  mia__heap_carry_out(heap, MIA__HEAP_DESTROY_REQUESTED);
  mia__slow_leave(tld);
}

MIA__API void mia_heap_collect(mia_heap_t* heap, bool force) {
  if (heap == NULL || heap == &mia__heap_empty) return;
  if (!mia__heap_is_owned(heap)) {
    mia__heap_shared_t* sh = mia__atomic_load(&heap->shared, acquire);
    if (sh == NULL) return;
    mia__spin_lock(&sh->lock);
    mia__heap_collect_ex(&sh->heap, force);
    mia__spin_unlock(&sh->lock);
    return;
  }
  mia__heap_collect_ex(heap, force);
}
MIA__API void mia_collect(bool force) {
  /* forced, even a thread that never allocated adopts abandoned segments */
  mia__heap_collect_ex(force ? mia_heap_get_default() : mia__heap_default, force);
}

/* ---- introspection ---- */
typedef struct mia__find_s { const void* p; bool whole_reserved; bool found; } mia__find_t;

MIA__PRIVATE bool mia__find_page_visitor(mia_heap_t* heap, size_t bin, mia__page_t* page, void* arg) {
  mia__find_t* f = (mia__find_t*)arg;
  (void)heap; (void)bin;
  const uint8_t* start = page->page_start;
  const size_t n = (f->whole_reserved ? page->reserved : page->capacity);
  if ((const uint8_t*)f->p >= start && (const uint8_t*)f->p < start + n * page->block_size) { f->found = true; return false; }
  return true;
}
MIA__API bool mia_heap_contains_block(mia_heap_t* heap, const void* p) {
  if (heap == NULL || heap == &mia__heap_empty || p == NULL) return false;
  mia__find_t f = { p, true, false };
  mia__heap_visit_pages(heap, mia__find_page_visitor, &f);
  return f.found;
}
MIA__API bool mia_heap_check_owned(mia_heap_t* heap, const void* p) {
  if (heap == NULL || heap == &mia__heap_empty || p == NULL) return false;
  if (((uintptr_t)p & (MIA__WSIZE - 1)) != 0) return false;
  mia__find_t f = { p, false, false };
  mia__heap_visit_pages(heap, mia__find_page_visitor, &f);
  return f.found;
}
MIA__API bool mia_check_owned(const void* p) { return mia_heap_check_owned(mia__heap_default, p); }

#define MIA__MAX_BLOCKS_PER_PAGE (MIA__SMALL_PAGE_SIZE / MIA__WSIZE)
MIA__STATIC_ASSERT(MIA__MEDIUM_PAGE_SIZE / MIA__SMALL_OBJ_SIZE_MAX <= MIA__MAX_BLOCKS_PER_PAGE, "visit bitmap covers medium pages");

typedef struct mia__visit_s {
  const mia_heap_t* heap;
  bool visit_all;
  mia_block_visit_fun* visitor;
  void* arg;
} mia__visit_t;

MIA__PRIVATE void mia__mark_free(size_t* map, const mia__page_t* page, const mia__block_t* b) {
  for (; b != NULL; b = mia__block_decode(page, b->next)) {
    const size_t i = (size_t)((const uint8_t*)b - page->page_start) / page->block_size;
    if (i < page->capacity) mia__bit_set(map, i, true);
  }
}

MIA__PRIVATE bool mia__visit_page_visitor(mia_heap_t* heap, size_t bin, mia__page_t* page, void* arg) {
  mia__visit_t* v = (mia__visit_t*)arg;
  (void)heap; (void)bin;
  mia_heap_area_t area;
  area.blocks = page->page_start;
  area.reserved = page->reserved * page->block_size;
  area.committed = page->capacity * page->block_size;
  area.block_size = page->block_size;
  area.full_block_size = page->block_size;
  mia__page_thread_free_collect(page); /* owner only: makes `used` exact */
  area.used = page->used;
  if (!v->visitor(v->heap, &area, NULL, page->block_size, v->arg)) return false;
  if (!v->visit_all || page->used == 0) return true;
  size_t map[MIA__MAX_BLOCKS_PER_PAGE / MIA__WORD_BITS];
  mia__memset(map, 0, sizeof(map));
  mia__mark_free(map, page, page->free);
  mia__mark_free(map, page, page->local_free);
  for (size_t i = 0; i < page->capacity; i++) {
    if (mia__bit(map, i)) continue;
    if (!v->visitor(v->heap, &area, page->page_start + i * page->block_size, page->block_size, v->arg)) return false;
  }
  return true;
}

MIA__API bool mia_heap_visit_blocks(const mia_heap_t* heap, bool visit_all_blocks, mia_block_visit_fun* visitor, void* arg) {
  if (heap == NULL || heap == &mia__heap_empty || visitor == NULL) return true;
  mia_heap_t* h = (mia_heap_t*)(uintptr_t)heap;
  mia__visit_t v = { heap, visit_all_blocks, visitor, arg };
  return mia__heap_visit_pages(h, mia__visit_page_visitor, &v);
}

/* ---- budgets, names, statistics ---- */
MIA__API void mia_heap_set_limit(mia_heap_t* heap, size_t bytes) { if (heap != NULL && heap != &mia__heap_empty) heap->limit = bytes; }
MIA__API size_t mia_heap_get_limit(const mia_heap_t* heap) { return (heap == NULL ? 0 : heap->limit); }
MIA__API void mia_heap_set_name(mia_heap_t* heap, const char* name) {
  if (heap == NULL || heap == &mia__heap_empty) return;
  size_t n = 0;
  if (name != NULL) while (name[n] != 0 && n + 1 < sizeof(heap->name)) { heap->name[n] = name[n]; n++; }
  heap->name[n] = 0;
}
MIA__API const char* mia_heap_get_name(const mia_heap_t* heap) { return (heap == NULL ? "" : heap->name); }

MIA__PRIVATE size_t mia__list_count_valid(const mia__page_t* page, const mia__block_t* b, bool* ok);
typedef struct mia__stats_visit_s { mia_heap_stats_t* st; bool owner; } mia__stats_visit_t;
MIA__PRIVATE bool mia__stats_page_visitor(mia_heap_t* heap, size_t bin, mia__page_t* page, void* arg) {
  mia__stats_visit_t* v = (mia__stats_visit_t*)arg;
  mia_heap_stats_t* st = v->st;
  (void)heap; (void)bin;
  size_t used = page->used;
  if (v->owner) { mia__page_thread_free_collect(page); used = page->used; }
  else {
    /* read only: blocks other threads freed and the owner has not collected yet still count */
    bool ok = true;
    const size_t pending = mia__list_count_valid(page, mia__tf_block(mia__atomic_load(&page->xthread_free, acquire)), &ok);
    used = (pending <= used ? used - pending : 0);
  }
  st->live_blocks += used;
  st->live_bytes += used * (page->block_size - MIA__PADDING);
  st->committed_bytes += (size_t)page->reserved * page->block_size;
  st->pages++;
  return true;
}
MIA__PRIVATE void mia__heap_stats_add(mia_heap_t* heap, mia_heap_stats_t* stats, bool owner) {
  mia__stats_visit_t v = { stats, owner };
  mia__heap_visit_pages(heap, mia__stats_page_visitor, &v);
#if MIALLOC_STATS
  stats->peak_live_bytes += heap->st.peak;
  stats->allocs += heap->st.allocs;
  stats->frees += heap->st.frees;
#endif
}
MIA__API bool mia_heap_stats_get(mia_heap_t* heap, mia_heap_stats_t* stats) {
  if (heap == NULL || stats == NULL) return false;
  mia__memset(stats, 0, sizeof(*stats));
  if (heap == &mia__heap_empty) return true;
  if (heap->tld != NULL) mia__heap_stats_add(heap, stats, mia__atomic_load(&heap->thread_id, relaxed) == mia__thread_id());
  mia__heap_shared_t* sh = (MIALLOC_SINGLE_THREAD ? NULL : mia__atomic_load(&heap->shared, acquire));
  if (sh != NULL) {
    mia__spin_lock(&sh->lock);
    mia__heap_stats_add(&sh->heap, stats, true);
    mia__spin_unlock(&sh->lock);
  }
  return true;
}

MIA__PRIVATE size_t mia__stat_cur(mia__stat_count_t* s) { const int64_t v = mia__atomic_load(&s->current, relaxed); return (v < 0 ? 0 : (size_t)v); }
MIA__PRIVATE size_t mia__stat_peak(mia__stat_count_t* s) { const int64_t v = mia__atomic_load(&s->peak, relaxed); return (v < 0 ? 0 : (size_t)v); }
MIA__API void mia_stats_get(mia_stats_t* stats) {
  if (stats == NULL) return;
  stats->reserved = mia__stat_cur(&mia__stats.reserved);
  stats->reserved_peak = mia__stat_peak(&mia__stats.reserved);
  stats->committed = mia__stat_cur(&mia__stats.committed);
  stats->committed_peak = mia__stat_peak(&mia__stats.committed);
  stats->segments = mia__stat_cur(&mia__stats.segments);
  stats->segments_peak = mia__stat_peak(&mia__stats.segments);
  stats->pages = mia__stat_cur(&mia__stats.pages);
  stats->pages_peak = mia__stat_peak(&mia__stats.pages);
  stats->huge_blocks = mia__stat_cur(&mia__stats.huge);
  stats->threads = mia__stat_cur(&mia__stats.threads);
  stats->abandoned = mia__stat_cur(&mia__stats.abandoned);
  stats->purged_total = (size_t)mia__atomic_load(&mia__stats.purged.total, relaxed);
  stats->os_reserves = (size_t)mia__atomic_load(&mia__stats.mmap_calls.total, relaxed);
}

/* JSON strings: heap names are the program's, so escape them. */
MIA__PRIVATE void mia__json_escape(char* out, size_t cap, const char* s) {
  size_t n = 0;
  for (; *s != 0 && n + 7 < cap; s++) {
    const unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\') { out[n++] = '\\'; out[n++] = (char)c; }
    else if (c < 0x20) { const char* hex = "0123456789abcdef"; out[n++] = '\\'; out[n++] = 'u'; out[n++] = '0'; out[n++] = '0'; out[n++] = hex[c >> 4]; out[n++] = hex[c & 15]; }
    else out[n++] = (char)c;
  }
  out[n] = 0;
}
MIA__API void mia_stats_print_json(mia_output_fun* out, void* arg) {
#if !MIA__HOSTED
  /* freestanding: the process figures only */
  mia__printf(out, arg, "{\"version\":%d,\"reserved\":%zu,\"segments\":%zu,\"pages\":%zu}\n", mia_version(),
              (size_t)mia__atomic_load(&mia__stats.reserved.current, relaxed), (size_t)mia__atomic_load(&mia__stats.segments.current, relaxed),
              (size_t)mia__atomic_load(&mia__stats.pages.current, relaxed));
#else
  mia_stats_t st;
  mia_stats_get(&st);
  size_t elapsed = 0, rss = 0, peak_rss = 0;
  mia_process_info(&elapsed, NULL, NULL, &rss, &peak_rss, NULL, NULL, NULL);
  mia__printf(out, arg, "{\"version\":%d,\"elapsed_ms\":%zu,\"rss\":%zu,\"peak_rss\":%zu,\"reserved\":%zu,\"reserved_peak\":%zu,"
              "\"committed\":%zu,\"committed_peak\":%zu,\"segments\":%zu,\"pages\":%zu,\"huge_blocks\":%zu,"
              "\"threads\":%zu,\"abandoned\":%zu,\"purged_total\":%zu,\"os_reserves\":%zu,\"heaps\":[",
              mia_version(), elapsed, rss, peak_rss, st.reserved, st.reserved_peak, st.committed, st.committed_peak,
              st.segments, st.pages, st.huge_blocks, st.threads, st.abandoned, st.purged_total, st.os_reserves);
  mia_heap_t* heap = mia__heap_default;
  bool first = true;
  if (heap != &mia__heap_empty && heap->tld != NULL) {
    for (mia_heap_t* h = heap->tld->heaps; h != NULL; h = h->next) {
      mia_heap_stats_t hs;
      mia_heap_stats_get(h, &hs);
      char name[80];
      mia__json_escape(name, sizeof(name), h->name);
      mia__printf(out, arg, "%s{\"heap\":\"%p\",\"name\":\"%s\",\"backing\":%s,\"live_bytes\":%zu,\"live_blocks\":%zu,"
                  "\"committed_bytes\":%zu,\"pages\":%zu,\"limit\":%zu,\"peak_live_bytes\":%zu,\"allocs\":%zu,\"frees\":%zu}",
                  first ? "" : ",", (void*)h, name, h == heap->tld->heap_backing ? "true" : "false", hs.live_bytes, hs.live_blocks,
                  hs.committed_bytes, hs.pages, h->limit, hs.peak_live_bytes, hs.allocs, hs.frees);
      first = false;
    }
  }
  mia__printf(out, arg, "]}\n");
#endif
}

/* Debug: the page invariant written at mia__page_t. */
MIA__PRIVATE size_t mia__list_count_valid(const mia__page_t* page, const mia__block_t* b, bool* ok) {
  size_t n = 0;
  for (; b != NULL; b = mia__block_decode(page, b->next)) {
    const uint8_t* q = (const uint8_t*)b;
    if (q < page->page_start || q >= page->page_start + (size_t)page->capacity * page->block_size ||
        (size_t)(q - page->page_start) % page->block_size != 0 || ++n > page->capacity) { *ok = false; return n; }
  }
  return n;
}
MIA__PRIVATE bool mia__page_is_valid(mia__page_t* page) {
  if (!page->segment_in_use || page->capacity > page->reserved) return false;
  if (page->owner_flags != mia__atomic_load(&page->flags, relaxed)) return false;
  bool ok = true;
  const size_t nfree = mia__list_count_valid(page, page->free, &ok);
  const size_t nlocal = mia__list_count_valid(page, page->local_free, &ok);
  const uintptr_t tf = mia__atomic_load(&page->xthread_free, acquire);
  if ((tf & 3 & ~(page->page_kind == MIA__PAGE_HUGE ? MIA__TF_ABANDONED : (uintptr_t)0)) != 0) return false;
  const size_t ntf = mia__list_count_valid(page, mia__tf_block(tf), &ok);
  return ok && ntf <= page->used && page->used + nfree + nlocal == page->capacity;
}

/* Debug: the segment invariant written at mia__segment_t. */
MIA__PRIVATE bool mia__segment_is_valid(mia__segment_t* segment) {
  size_t in_use = 0;
  mia__page_t* pages = mia__segment_pages(segment);
  for (size_t i = 0; i < segment->capacity; i++) {
    const bool is_free = (segment->free_map >> i) & 1;
    if (mia__page_excluded(segment, &pages[i])) { if (is_free || pages[i].segment_in_use) return false; continue; }
    if (is_free == (pages[i].segment_in_use != 0)) return false;
    if (segment->page_kind != MIA__PAGE_HUGE && segment->slots[i * MIA__SMALL_PAGES_PER_SEGMENT / segment->capacity] != &pages[i]) return false;
    if (is_free) { if (pages[i].slice_count != 1) return false; continue; }
    in_use++;
    if (segment->heap != NULL && mia__atomic_load(&pages[i].xheap, relaxed) != segment->heap) return false; /* one heap's pages */
    /* a large span: its other slices are neither free nor in use, and map to it */
    const size_t n = pages[i].slice_count;
    if (n == 0 || i + n > segment->capacity || (segment->page_kind != MIA__PAGE_LARGE && n != 1)) return false;
    for (size_t k = i + 1; k < i + n; k++) {
      if (((segment->free_map >> k) & 1) != 0 || pages[k].segment_in_use || segment->slots[k] != &pages[i]) return false;
    }
    i += n - 1;
  }
  return in_use == segment->used;
}

/* Debug: the heap invariant written at mia_heap_s, with every page checked. */
MIA__PRIVATE bool mia__heap_is_valid(mia_heap_t* heap) {
  size_t count = 0;
  for (size_t bin = 0; bin <= MIA__BIN_FULL; bin++) {
    for (mia__page_t* page = heap->pages[bin].first; page != NULL; page = page->next) {
      count++;
      if (mia__page_heap(page) != heap || mia__page_bin(page) != bin) return false;
      if (!mia__page_is_valid(page) || !mia__segment_is_valid(mia__page_segment(page))) return false;
    }
    if (bin >= 1 && bin < MIA__BIN_HUGE && mia__bin_size(bin) > MIALLOC_SMALL_SIZE_MAX && mia__bin_size(bin) <= MIA__MEDIUM_DIRECT_MAX &&
        mia__bin(mia__bin_size(bin)) == bin) {
      mia__page_t* first = (heap->pages[bin].first != NULL ? heap->pages[bin].first : &mia__page_empty);
      if (heap->pages_medium[MIA__MEDIUM_SLOT(mia__bin_size(bin))] != first) return false;
    }
  }
  for (size_t i = 0; i < MIA__PAGES_DIRECT; i++) { /* every direct slot: the first page of its size's bin */
    const mia__page_queue_t* q = &heap->pages[mia__bin(i << MIA__DIRECT_SHIFT)];
    if (heap->pages_direct[i] != (q->first != NULL ? q->first : &mia__page_empty)) return false;
  }
  return count == heap->page_count;
}

/* ---- process and threads ---- */
MIA__API void mia_thread_init(void) { (void)mia_heap_get_default(); }
MIA__API void mia_thread_done(void) {
  mia_heap_t* heap = mia__heap_default;
  if (heap == &mia__heap_empty) return;
  if (MIALLOC_SINGLE_THREAD) { mia_collect(true); return; } /* no other thread to leave its memory to */
  mia__thread_data_t* td = (mia__thread_data_t*)(void*)((uint8_t*)heap->tld - offsetof(mia__thread_data_t, tld));
  mia__thread_key_set(NULL);
  mia__thread_done_td(td);
}
MIA__API int mia_version(void) { return MIALLOC_VERSION; }
MIA__API void mia_register_deferred_free(mia_deferred_free_fun* fun, void* arg) { mia__deferred_free = fun; mia__deferred_arg = arg; }

MIA__API void mia_process_info(size_t* elapsed_msecs, size_t* user_msecs, size_t* system_msecs, size_t* current_rss, size_t* peak_rss, size_t* current_commit, size_t* peak_commit, size_t* page_faults) {
  mia__process_init();
  size_t elapsed = (size_t)(mia__clock_now() - mia__process_start);
  size_t utime = 0, stime = 0, rss = 0, prss = 0, faults = 0;
#if MIA__OS_POSIX
  struct rusage ru;
  if (getrusage(RUSAGE_SELF, &ru) == 0) {
    utime = (size_t)ru.ru_utime.tv_sec * 1000 + (size_t)ru.ru_utime.tv_usec / 1000;
    stime = (size_t)ru.ru_stime.tv_sec * 1000 + (size_t)ru.ru_stime.tv_usec / 1000;
    faults = (size_t)ru.ru_majflt;
#if MIA__OS_MACOS
    prss = (size_t)ru.ru_maxrss;
#else
    prss = (size_t)ru.ru_maxrss * 1024;
#endif
  }
#if MIA__OS_LINUX
  int fd = open("/proc/self/statm", O_RDONLY);
  if (fd >= 0) {
    char buf[128];
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n > 0) {
      buf[n] = 0;
      const char* s = buf;
      while (*s != 0 && *s != ' ') s++;
      rss = (size_t)strtoull(s, NULL, 10) * mia__os_page_size();
    }
  }
#endif
#elif MIA__OS_WINDOWS
  FILETIME ct, et, kt, ut;
  if (GetProcessTimes(GetCurrentProcess(), &ct, &et, &kt, &ut)) {
    utime = (size_t)((((uint64_t)ut.dwHighDateTime << 32) | ut.dwLowDateTime) / 10000);
    stime = (size_t)((((uint64_t)kt.dwHighDateTime << 32) | kt.dwLowDateTime) / 10000);
  }
  PROCESS_MEMORY_COUNTERS pmc;
  if (GetProcessMemoryInfo(GetCurrentProcess(), &pmc, sizeof(pmc))) {
    rss = pmc.WorkingSetSize; prss = pmc.PeakWorkingSetSize; faults = pmc.PageFaultCount;
  }
#endif
  if (rss == 0) rss = (size_t)mia__atomic_load(&mia__stats.committed.current, relaxed);
  if (prss < rss) prss = rss; /* the kernel's high-water mark can trail the current figure */
  if (elapsed_msecs) *elapsed_msecs = elapsed;
  if (user_msecs) *user_msecs = utime;
  if (system_msecs) *system_msecs = stime;
  if (current_rss) *current_rss = rss;
  if (peak_rss) *peak_rss = prss;
  if (current_commit) *current_commit = (size_t)mia__atomic_load(&mia__stats.committed.current, relaxed);
  if (peak_commit) *peak_commit = (size_t)mia__atomic_load(&mia__stats.committed.peak, relaxed);
  if (page_faults) *page_faults = faults;
}

MIA__PRIVATE void mia__stat_print(mia_output_fun* out, void* arg, const char* name, mia__stat_count_t* s, bool bytes) {
  const long long cur = (long long)mia__atomic_load(&s->current, relaxed);
  const long long peak = (long long)mia__atomic_load(&s->peak, relaxed);
  const long long total = (long long)mia__atomic_load(&s->total, relaxed);
  if (bytes) mia__printf(out, arg, "  %-10s current %10lld KiB  peak %10lld KiB  total %12lld KiB\n", name, cur / 1024, peak / 1024, total / 1024);
  else mia__printf(out, arg, "  %-10s current %10lld      peak %10lld      total %12lld\n", name, cur, peak, total);
}

#if !MIA__HOSTED
/* Freestanding: the figures in one line (the table and its labels cost flash). */
MIA__API void mia_stats_print_out(mia_output_fun* out, void* arg) {
  mia__printf(out, arg, "mialloc: reserved %zu, segments %zu, pages %zu\n", (size_t)mia__atomic_load(&mia__stats.reserved.current, relaxed),
              (size_t)mia__atomic_load(&mia__stats.segments.current, relaxed), (size_t)mia__atomic_load(&mia__stats.pages.current, relaxed));
}
#else
MIA__API void mia_stats_print_out(mia_output_fun* out, void* arg) {
  mia__printf(out, arg, "mialloc %d.%d.%d statistics:\n", MIALLOC_VERSION_MAJOR, MIALLOC_VERSION_MINOR, MIALLOC_VERSION_PATCH);
  mia__stat_print(out, arg, "reserved", &mia__stats.reserved, true);
  mia__stat_print(out, arg, "committed", &mia__stats.committed, true);
  mia__stat_print(out, arg, "purged", &mia__stats.purged, true);
  mia__stat_print(out, arg, "segments", &mia__stats.segments, false);
  mia__stat_print(out, arg, "pages", &mia__stats.pages, false);
  mia__stat_print(out, arg, "huge", &mia__stats.huge, false);
  mia__stat_print(out, arg, "threads", &mia__stats.threads, false);
  mia__stat_print(out, arg, "abandoned", &mia__stats.abandoned, false);
  mia__stat_print(out, arg, "reclaimed", &mia__stats.reclaimed, false);
  mia__stat_print(out, arg, "os-allocs", &mia__stats.mmap_calls, false);
  size_t elapsed, utime, stime, rss, prss, commit, pcommit, faults;
  mia_process_info(&elapsed, &utime, &stime, &rss, &prss, &commit, &pcommit, &faults);
  mia__printf(out, arg, "  process: elapsed %zu ms, user %zu ms, system %zu ms, rss %zu KiB, peak rss %zu KiB, faults %zu\n",
              elapsed, utime, stime, rss / 1024, prss / 1024, faults);
}
#endif
MIA__API void mia_stats_print(void* out) { (void)out; mia_stats_print_out(NULL, NULL); }
MIA__API void mia_stats_merge(void) { }
MIA__API void mia_stats_reset(void) {
  mia__stat_count_t* all[] = { &mia__stats.reserved, &mia__stats.committed, &mia__stats.segments, &mia__stats.pages,
                               &mia__stats.huge, &mia__stats.threads, &mia__stats.abandoned, &mia__stats.purged,
                               &mia__stats.reclaimed, &mia__stats.mmap_calls };
  for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
    mia__atomic_store(&all[i]->peak, mia__atomic_load(&all[i]->current, relaxed), relaxed);
    mia__atomic_store(&all[i]->total, (int64_t)0, relaxed);
  }
}

/* ---- mimalloc 2.2+/3.x calls ----
   Each goes through the public call it extends (hooks, statistics and debug
   checks see one ordinary allocation or free) and reads the usable size
   back: a segment mask and a page index, no lock. */

/* Store the usable size of `p` in *block_size when both are given; returns p. */
MIA__PRIVATE void* mia__usable_out(void* p, size_t* block_size) {
  if (p != NULL && block_size != NULL) *block_size = mia_usable_size(p);
  return p;
}
MIA__API void* mia_umalloc(size_t size, size_t* block_size) { return mia__usable_out(mia_malloc(size), block_size); }
MIA__API void* mia_ucalloc(size_t count, size_t size, size_t* block_size) { return mia__usable_out(mia_calloc(count, size), block_size); }
MIA__API void* mia_urealloc(void* p, size_t newsize, size_t* block_size_pre, size_t* block_size_post) {
  if (block_size_pre != NULL) *block_size_pre = mia_usable_size(p); /* 0 for NULL */
  return mia__usable_out(mia_realloc(p, newsize), block_size_post);
}
MIA__API void mia_ufree(void* p, size_t* block_size) {
#if MIA__CHECKS
  const bool ours = (p != NULL && mia__ptr_is_ours(p)); /* a foreign pointer: mia_free reports it */
#else
  const bool ours = (p != NULL);
#endif
  if (ours && block_size != NULL) *block_size = mia_usable_size(p);
  mia_free(p);
}
MIA__API void* mia_umalloc_aligned(size_t size, size_t alignment, size_t* block_size) { return mia__usable_out(mia_malloc_aligned(size, alignment), block_size); }
MIA__API void* mia_uzalloc_aligned(size_t size, size_t alignment, size_t* block_size) { return mia__usable_out(mia_zalloc_aligned(size, alignment), block_size); }
MIA__API void* mia_umalloc_small(size_t size, size_t* block_size) { return mia__usable_out(mia_malloc_small(size), block_size); }
MIA__API void* mia_uzalloc_small(size_t size, size_t* block_size) { return mia__usable_out(mia_zalloc_small(size), block_size); }
MIA__API void mia_free_small(void* p) { mia_free(p); }

#if MIA__OS_LINUX && !defined(__cplusplus) && !defined(__USE_XOPEN_EXTENDED) && !defined(__USE_XOPEN2K8)
/* As madvise in >>os: a strict ISO mode hides realpath when a system header came before this file (C++ compilers define _GNU_SOURCE). */
extern char* realpath(const char* name, char* resolved);
#endif
MIA__API char* mia_heap_realpath(mia_heap_t* heap, const char* fname, char* resolved_name) {
#if MIA__OS_POSIX
  if (resolved_name != NULL) return realpath(fname, resolved_name);
  /* POSIX.1-2008: the C library allocates the result with its malloc (under
     MIALLOC_OVERRIDE or a sanitizer, whichever malloc the process has), so
     the C library's free releases it */
  char* rname = realpath(fname, NULL);
  if (rname == NULL) return NULL; /* errno from realpath */
  char* result = mia_heap_strdup(heap, rname);
  free(rname);
  return result;
#elif MIA__OS_WINDOWS
  char buf[MAX_PATH];
  const DWORD n = GetFullPathNameA(fname, MAX_PATH, (resolved_name != NULL ? resolved_name : buf), NULL);
  if (n == 0 || n >= MAX_PATH) { MIA__SET_ERRNO(EINVAL); return NULL; } /* no path, or longer than MAX_PATH */
  if (resolved_name != NULL) return resolved_name;
  return mia_heap_strndup(heap, buf, n);
#else
  (void)heap; (void)fname; (void)resolved_name;
  MIA__SET_ERRNO(ENOSYS);
  return NULL;
#endif
}
MIA__API char* mia_realpath(const char* fname, char* resolved_name) { return mia_heap_realpath(MIA__HEAP_DEFAULT(), fname, resolved_name); }

MIA__API int mia_reserve_os_memory_ex(size_t size, bool commit, bool allow_large, bool exclusive, mia_arena_id_t* arena_id) {
  (void)commit; /* the reserve hook maps read/write memory: the OS backs each page on first touch */
  if (arena_id != NULL) *arena_id = 0;
#if MIALLOC_NO_OS
  (void)size; (void)allow_large; (void)exclusive;
  return ENOMEM; /* no OS: arenas come from mia_manage_os_memory_ex only */
#else
  if (size == 0 || size > SIZE_MAX - MIA__SEGMENT_SIZE) return ENOMEM;
  mia__process_init();
  size_t units = (size + MIA__SEGMENT_SIZE - 1) / MIA__SEGMENT_SIZE;
  if (units > MIA__ARENA_MAX_UNITS) units = MIA__ARENA_MAX_UNITS; /* what one arena maps; no overflow: units * SEGMENT_SIZE < size + SEGMENT_SIZE */
  const size_t asize = units * MIA__SEGMENT_SIZE;
  void* start = NULL;
  if (mia__os_reserve(asize, MIA__SEGMENT_SIZE, &start) != 0) return ENOMEM;
  const bool large = (allow_large && mia_option_is_enabled(mia_option_large_os_pages) && mia__os_huge(start, asize) == 0);
  if (!mia_manage_os_memory_ex(start, asize, true /* committed */, large, true /* zero */, -1, exclusive, arena_id)) {
    mia__os_release(start, asize, asize);
    return ENOMEM;
  }
  return 0;
#endif
}
MIA__API int mia_reserve_os_memory(size_t size, bool commit, bool allow_large) {
  return mia_reserve_os_memory_ex(size, commit, allow_large, false /* exclusive */, NULL);
}
MIA__API size_t mia_arena_min_alignment(void) { return MIA__SEGMENT_SIZE; }
MIA__API size_t mia_arena_min_size(void) { return MIA__SEGMENT_SIZE; }
MIA__API void* mia_arena_area(mia_arena_id_t arena_id, size_t* size) {
  mia__arena_t* a = mia__arena_of_id(arena_id);
  if (size != NULL) *size = (a == NULL ? 0 : a->units * MIA__SEGMENT_SIZE);
  return (a == NULL ? NULL : a->start);
}
MIA__API bool mia_arena_contains(mia_arena_id_t arena_id, const void* p) {
  size_t size;
  const void* start = mia_arena_area(arena_id, &size);
  return (start != NULL && (uintptr_t)p - (uintptr_t)start < size); /* below start: wraps past size */
}
MIA__API void mia_option_set_enabled_default(mia_option_t option, bool enable) { mia_option_set_default(option, enable ? 1 : 0); }

MIA__API int mia_dupenv_s(char** buf, size_t* size, const char* name) {
  if (size != NULL) *size = 0;
  if (buf == NULL || name == NULL) return EINVAL;
  *buf = NULL;
#if MIA__HOSTED
  const char* value = getenv(name);
  if (value == NULL) return 0;
  *buf = mia_strdup(value);
  if (*buf == NULL) return ENOMEM;
  if (size != NULL) *size = mia__strlen(value) + 1;
#endif
  return 0; /* freestanding: no environment, every name is unset */
}
MIA__API int mia_wdupenv_s(wchar_t** buf, size_t* size, const wchar_t* name) {
  if (size != NULL) *size = 0;
  if (buf == NULL || name == NULL) return EINVAL;
  *buf = NULL;
#if MIA__OS_WINDOWS
  const wchar_t* value = _wgetenv(name);
  if (value == NULL) return 0;
  *buf = mia_wcsdup(value);
  if (*buf == NULL) return ENOMEM;
  if (size != NULL) { size_t n = 0; while (value[n] != 0) n++; *size = n + 1; }
  return 0;
#else
  return EINVAL; /* no wide environment */
#endif
}
MIA__API wchar_t* mia_wcsdup(const wchar_t* s) {
  if (s == NULL) return NULL;
  size_t n = 0;
  while (s[n] != 0) n++;
  wchar_t* t = (wchar_t*)mia_mallocn(n + 1, sizeof(wchar_t));
  if (t != NULL) mia__memcpy(t, s, (n + 1) * sizeof(wchar_t));
  return t;
}
MIA__API unsigned char* mia_mbsdup(const unsigned char* s) { return (unsigned char*)mia_strdup((const char*)s); }

#undef MIA__HEAP_DEFAULT

/* ---------------------------------------------------------------------------
   >>override: the C library's entry points and C++ new/delete
   (MIALLOC_OVERRIDE=1, in the implementation's translation unit)
   Semantics are glibc's: realloc(p, 0) frees p and returns NULL, memalign
   rounds a non-power-of-two alignment up, posix_memalign wants a power of two
   that is a multiple of sizeof(void*). Pointers must come from this malloc:
   mixing with a second allocator in one process is not supported.
--------------------------------------------------------------------------- */
#if MIALLOC_OVERRIDE
#if defined(__cplusplus)
#define MIA__NOEXCEPT noexcept
#else
#define MIA__NOEXCEPT
#endif
#if MIA__GNUC
#define MIA__EXPORT __attribute__((visibility("default"), used))
#else
#define MIA__EXPORT
#endif

MIA__PRIVATE void* mia__override_realloc(void* p, size_t size) {
  if (p != NULL && size == 0) { mia_free(p); return NULL; } /* glibc */
  return mia_realloc(p, size);
}
MIA__PRIVATE void* mia__override_memalign(size_t alignment, size_t size) {
  if (alignment <= MIA__MAX_ALIGN_SIZE) return mia_malloc(size);
  if (!mia__is_power_of_two(alignment)) {
    /* glibc rounds the alignment up to the next power of two */
    size_t a = MIA__MAX_ALIGN_SIZE;
    while (a < alignment && a <= (SIZE_MAX >> 1)) a <<= 1;
    if (a < alignment) { MIA__SET_ERRNO(EINVAL); return NULL; }
    alignment = a;
  }
  return mia_malloc_aligned(size, alignment);
}

#if defined(__cplusplus)
extern "C" {
#endif
#if MIA__OS_MACOS
/* macOS: interpose the system's entry points (the dylib is loaded with
   DYLD_INSERT_LIBRARIES); the libc's own definitions stay in place. */
#include <malloc/malloc.h>
MIA__PRIVATE size_t mia__override_malloc_size(const void* p) { return mia_usable_size(p); }
struct mia__interpose_s { const void* replacement; const void* target; };
#define MIA__INTERPOSE(repl, target) { (const void*)(uintptr_t)&repl, (const void*)(uintptr_t)&target }
__attribute__((used)) static const struct mia__interpose_s mia__interposers[] __attribute__((section("__DATA,__interpose"))) = {
  MIA__INTERPOSE(mia_malloc, malloc), MIA__INTERPOSE(mia_calloc, calloc),
  MIA__INTERPOSE(mia__override_realloc, realloc), MIA__INTERPOSE(mia_free, free),
  MIA__INTERPOSE(mia_posix_memalign, posix_memalign), MIA__INTERPOSE(mia_valloc, valloc),
  MIA__INTERPOSE(mia_aligned_alloc, aligned_alloc), MIA__INTERPOSE(mia_reallocf, reallocf),
  MIA__INTERPOSE(mia__override_malloc_size, malloc_size), MIA__INTERPOSE(mia_strdup, strdup),
  MIA__INTERPOSE(mia_strndup, strndup),
};
#undef MIA__INTERPOSE
#elif MIA__OS_WINDOWS
/* Windows: the CRT's malloc cannot be interposed from a library; use the
   mia_* names (or MIALLOC_MIMALLOC_NAMES) and the C++ operators below. */
#else
MIA__EXPORT void* malloc(size_t size) MIA__NOEXCEPT { return mia_malloc(size); }
MIA__EXPORT void* calloc(size_t count, size_t size) MIA__NOEXCEPT { return mia_calloc(count, size); }
MIA__EXPORT void* realloc(void* p, size_t size) MIA__NOEXCEPT { return mia__override_realloc(p, size); }
MIA__EXPORT void free(void* p) MIA__NOEXCEPT { mia_free(p); }
MIA__EXPORT void* reallocarray(void* p, size_t count, size_t size) MIA__NOEXCEPT {
  size_t total;
  if (mia__mul_overflow(count, size, &total)) { MIA__SET_ERRNO(ENOMEM); return NULL; }
  return mia__override_realloc(p, total);
}
MIA__EXPORT void* aligned_alloc(size_t alignment, size_t size) MIA__NOEXCEPT { return mia_aligned_alloc(alignment, size); }
MIA__EXPORT int posix_memalign(void** p, size_t alignment, size_t size) MIA__NOEXCEPT { return mia_posix_memalign(p, alignment, size); }
MIA__EXPORT void* memalign(size_t alignment, size_t size) MIA__NOEXCEPT { return mia__override_memalign(alignment, size); }
MIA__EXPORT void* valloc(size_t size) MIA__NOEXCEPT { return mia_valloc(size); }
MIA__EXPORT void* pvalloc(size_t size) MIA__NOEXCEPT { return mia_pvalloc(size); }
MIA__EXPORT size_t malloc_usable_size(void* p) MIA__NOEXCEPT { return mia_usable_size(p); }
MIA__EXPORT void cfree(void* p) MIA__NOEXCEPT { mia_free(p); }
MIA__EXPORT void free_sized(void* p, size_t size) MIA__NOEXCEPT { mia_free_size(p, size); }
MIA__EXPORT void free_aligned_sized(void* p, size_t alignment, size_t size) MIA__NOEXCEPT { mia_free_size_aligned(p, size, alignment); }
#if defined(__GLIBC__)
/* glibc's internal names, which some libraries call directly */
MIA__EXPORT void* __libc_malloc(size_t size) MIA__NOEXCEPT { return mia_malloc(size); }
MIA__EXPORT void* __libc_calloc(size_t count, size_t size) MIA__NOEXCEPT { return mia_calloc(count, size); }
MIA__EXPORT void* __libc_realloc(void* p, size_t size) MIA__NOEXCEPT { return mia__override_realloc(p, size); }
MIA__EXPORT void __libc_free(void* p) MIA__NOEXCEPT { mia_free(p); }
MIA__EXPORT void* __libc_memalign(size_t alignment, size_t size) MIA__NOEXCEPT { return mia__override_memalign(alignment, size); }
MIA__EXPORT void* __libc_valloc(size_t size) MIA__NOEXCEPT { return mia_valloc(size); }
MIA__EXPORT void* __libc_pvalloc(size_t size) MIA__NOEXCEPT { return mia_pvalloc(size); }
MIA__EXPORT int __posix_memalign(void** p, size_t alignment, size_t size) MIA__NOEXCEPT { return mia_posix_memalign(p, alignment, size); }
#endif
#endif /* platform */
#if defined(__cplusplus)
} /* extern "C" */
#endif

#if defined(__cplusplus)
#include <new>
/* new: on failure call the new_handler until it gives up, then throw (or
   return nullptr for the nothrow forms). */
static void* mia__cpp_new_retry(std::size_t size, std::size_t alignment, bool nothrow) {
  for (;;) {
    std::new_handler handler = std::get_new_handler();
    if (handler == nullptr) {
      if (nothrow) return nullptr;
#if defined(__cpp_exceptions)
      throw std::bad_alloc();
#else
      abort();
#endif
    }
#if defined(__cpp_exceptions)
    try { handler(); } catch (const std::bad_alloc&) { if (nothrow) return nullptr; throw; }
#else
    handler();
#endif
    void* p = (alignment != 0 ? mia_malloc_aligned(size, alignment) : mia_malloc(size));
    if (p != nullptr) return p;
  }
}
static inline void* mia__cpp_new(std::size_t size, std::size_t alignment, bool nothrow) {
  void* p = (alignment != 0 ? mia_malloc_aligned(size, alignment) : mia_malloc(size));
  if mia_unlikely(p == nullptr) p = mia__cpp_new_retry(size, alignment, nothrow);
  return p;
}
void* operator new(std::size_t n) { return mia__cpp_new(n, 0, false); }
void* operator new[](std::size_t n) { return mia__cpp_new(n, 0, false); }
void* operator new(std::size_t n, const std::nothrow_t&) noexcept { return mia__cpp_new(n, 0, true); }
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept { return mia__cpp_new(n, 0, true); }
void operator delete(void* p) noexcept { mia_free(p); }
void operator delete[](void* p) noexcept { mia_free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { mia_free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { mia_free(p); }
#if defined(__cpp_sized_deallocation)
void operator delete(void* p, std::size_t n) noexcept { mia_free_size(p, n); }
void operator delete[](void* p, std::size_t n) noexcept { mia_free_size(p, n); }
#endif
#if defined(__cpp_aligned_new)
void* operator new(std::size_t n, std::align_val_t al) { return mia__cpp_new(n, static_cast<std::size_t>(al), false); }
void* operator new[](std::size_t n, std::align_val_t al) { return mia__cpp_new(n, static_cast<std::size_t>(al), false); }
void* operator new(std::size_t n, std::align_val_t al, const std::nothrow_t&) noexcept { return mia__cpp_new(n, static_cast<std::size_t>(al), true); }
void* operator new[](std::size_t n, std::align_val_t al, const std::nothrow_t&) noexcept { return mia__cpp_new(n, static_cast<std::size_t>(al), true); }
void operator delete(void* p, std::align_val_t al) noexcept { mia_free_aligned(p, static_cast<std::size_t>(al)); }
void operator delete[](void* p, std::align_val_t al) noexcept { mia_free_aligned(p, static_cast<std::size_t>(al)); }
void operator delete(void* p, std::size_t n, std::align_val_t al) noexcept { mia_free_size_aligned(p, n, static_cast<std::size_t>(al)); }
void operator delete[](void* p, std::size_t n, std::align_val_t al) noexcept { mia_free_size_aligned(p, n, static_cast<std::size_t>(al)); }
void operator delete(void* p, std::align_val_t al, const std::nothrow_t&) noexcept { mia_free_aligned(p, static_cast<std::size_t>(al)); }
void operator delete[](void* p, std::align_val_t al, const std::nothrow_t&) noexcept { mia_free_aligned(p, static_cast<std::size_t>(al)); }
#endif
#endif /* __cplusplus */
#undef MIA__NOEXCEPT
#undef MIA__EXPORT
#endif /* MIALLOC_OVERRIDE */

/* The implementation's helper macros end here: none leaks into the file that
   includes it (MIALLOC_WHITEBOX=1 keeps them, for white-box tests). */
#if !MIALLOC_WHITEBOX
#undef MIA__ABORT
#undef MIA__ADDRESS_BITS
#undef MIA__ALIGNAS
#undef MIA__ALIGNED_FAST
#undef MIA__ALIGNMENT_MAX
#undef MIA__API
#undef MIA__ARCH_X64
#undef MIA__ARENA_MAX_UNITS
#undef MIA__BIN_FULL
#undef MIA__BIN_HUGE
#undef MIA__CACHE_LINE
#undef MIA__CHECKS
#undef MIA__ENCODE
#undef MIA__EXPORT
#undef MIA__FILL
#undef MIA__FILL_FREED
#undef MIA__FILL_PADDING
#undef MIA__FILL_UNINIT
#undef MIA__FREE_CHECK
#undef MIA__FOREIGN_HEAP
#undef MIA__GNUC
#undef MIA__GUARD
#undef MIA__HAS_AVX2_PATHS
#undef MIA__HEAP_DEFAULT
#undef MIA__HEAP_DELETE_REQUESTED
#undef MIA__HEAP_DESTROY_REQUESTED
#undef MIA__HEAP_LIVE
#undef MIA__HEAP_ORPHANED
#undef MIA__HEAP_POOL_SIZE
#undef MIA__HOOK_ALLOC
#undef MIA__HOOK_FREE
#undef MIA__HOOK_REALLOC
#undef MIA__HOOK_REALLOCF
#undef MIA__HOOK_REALLOC_EX
#undef MIA__HOOK_INTERNAL_BEGIN
#undef MIA__HOOK_INTERNAL_END
#undef MIA__HOSTED
#undef MIA__HUGE_CACHE_MAX
#undef MIA__INLINE
#undef MIA__INTERPOSE
#undef MIA__KiB
#undef MIA__LARGE_OBJ_SIZE_MAX
#undef MIA__LARGE_OBJ_WSIZE_MAX
#undef MIA__MAX_ALIGN_SIZE
#undef MIA__MAX_ALLOC_SIZE
#undef MIA__MAX_ARENAS
#undef MIA__MAX_BLOCKS_PER_PAGE
#undef MIA__MAX_EXTEND_SIZE
#undef MIA__MEDIUM_OBJ_SIZE_MAX
#undef MIA__MEDIUM_PAGES_PER_SEGMENT
#undef MIA__MEDIUM_PAGE_SIZE
#undef MIA__MIN_EXTEND
#undef MIA__MO
#undef MIA__MiB
#undef MIA__NOEXCEPT
#undef MIA__NOINLINE
#undef MIA__OUTLINE
#undef MIA__NTH
#undef MIA__ON_ALLOC
#undef MIA__OS_DEFAULT_HOOKS
#undef MIA__OS_LINUX
#undef MIA__OS_MACOS
#undef MIA__OS_POSIX
#undef MIA__OS_WINDOWS
#undef MIA__PADDING
#undef MIA__PADDING_ON
#undef MIA__PAD_CHECK_MAX
#undef MIA__PAGES_DIRECT
#undef MIA__DIRECT_SHIFT
#undef MIA__PAGES_MEDIUM
#undef MIA__THP_MIN_SEGMENTS
#undef MIA__RUN_MIN_SEGMENTS
#undef MIA__SPARE_MAX
#undef MIA__RUNS
#undef MIA__NULL_FREE_SLOW
#undef MIA__SHR_LOW
#undef MIA__MEDIUM_DIRECT_SHIFT
#undef MIA__MEDIUM_DIRECT_MAX
#undef MIA__MEDIUM_SLOT
#undef MIA__PAGE_HAS_ALIGNED
#undef MIA__PURGE_DELAY_MAX
#undef MIA__POOL_MAX
#undef MIA__POOL_CAP
#undef MIA__POOL_WINDOW
#undef MIA__REGION
#undef MIA__REGION_UNITS
#undef MIA__FORK_GATE
#undef mia__fork_enter
#undef mia__fork_leave
#undef mia__slow_enter
#undef mia__slow_leave
#undef mia__tlds_add
#undef MIA__FORK_ADOPTING
#undef MIA__FULL_SCAN
#undef MIA__EXPAND_SCAN
#undef MIA__ROOM_SCAN
#undef mia__tlds_remove
#undef MIA__PAGE_IN_FULL
#undef MIA__PE
#undef MIA__PE16
#undef MIA__PE4
#undef MIA__PE64
#undef MIA__PE_DIRECT
#undef MIA__PRINTF_FMT
#undef MIA__PRIVATE
#undef MIA__QE
#undef MIA__QE25
#undef MIA__QE5
#undef MIA__RANDOMIZE
#undef MIA__RETIRE_CYCLES
#undef MIA__RETIRE_EVERY
#undef MIA__SEGMENT_MAP_WORDS
#undef MIA__OWNED_SLOTS
#undef MIA__OWNED_EMPTY
#undef MIA__OE4
#undef MIA__OPTION
#undef MIA__PAGEMAP_BITS
#undef MIA__WORD_BITS
#undef MIA__SEGMENT_MASK
#undef MIA__SEGMENT_SIZE
#undef MIA__SET_ERRNO
#undef MIA__SMALL_OBJ_SIZE_MAX
#undef MIA__SMALL_PAGES_PER_SEGMENT
#undef MIA__SMALL_PAGE_SIZE
#undef MIA__STATIC_ASSERT
#undef MIA__STAT_ALLOC
#undef MIA__STAT_FREE
#undef MIA__TD_CACHE_SIZE
#undef MIA__TF_ABANDONED
#undef MIA__THREAD_EXIT_POSIX
#undef MIA__THREAD_EXIT_WIN32
#undef MIA__THREAD_LOCAL
#undef MIA__VG_ALLOC
#undef MIA__VG_AREA
#undef MIA__VG_FREE
#undef MIA__VG_LINK
#undef MIA__VG_META
#undef MIA__VG_RESIZE
#undef MIA__WSIZE
#undef mia__assert
#undef mia__assert_expensive
#undef mia__assert_internal
#undef mia__atomic
#undef mia__atomic_cas_strong
#undef mia__atomic_cas_weak
#undef mia__atomic_exchange
#undef mia__atomic_fetch_add
#undef mia__atomic_fetch_and
#undef mia__atomic_fetch_or
#undef mia__signal_fence
#undef mia__atomic_fetch_sub
#undef mia__atomic_load
#undef mia__atomic_store
#undef mia__memcpy
#undef mia__memmove
#undef mia__memset
#undef mia__segment_map_set
#endif

#endif /* MIALLOC_IMPLEMENTATION */

/*
------------------------------------------------------------------------------
This software is available under 2 licenses -- choose whichever you prefer.
------------------------------------------------------------------------------
ALTERNATIVE A - MIT License
Copyright (c) 2026 the mialloc.h authors
Permission is hereby granted, free of charge, to any person obtaining a copy of
this software and associated documentation files (the "Software"), to deal in
the Software without restriction, including without limitation the rights to
use, copy, modify, merge, publish, distribute, sublicense, and/or sell copies
of the Software, and to permit persons to whom the Software is furnished to do
so, subject to the following conditions:
The above copyright notice and this permission notice shall be included in all
copies or substantial portions of the Software.
THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
SOFTWARE.
------------------------------------------------------------------------------
ALTERNATIVE B - Public Domain (www.unlicense.org)
This is free and unencumbered software released into the public domain.
Anyone is free to copy, modify, publish, use, compile, sell, or distribute this
software, either in source code form or as a compiled binary, for any purpose,
commercial or non-commercial, and by any means.
In jurisdictions that recognize copyright laws, the author or authors of this
software dedicate any and all copyright interest in the software to the public
domain. We make this dedication in recognition of our intent to benefit the
public at large and to the detriment of our heirs and successors. We intend
this dedication to be an overt act of relinquishment in perpetuity of all
present and future rights to this software under copyright law.
THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER LIABILITY, WHETHER IN AN
ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM, OUT OF OR IN CONNECTION
WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE SOFTWARE.
------------------------------------------------------------------------------
*/
