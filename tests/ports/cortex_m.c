/* cortex_m.c - mialloc.h as firmware would compile it: the single-thread,
   no-OS, small-memory configuration for a Cortex-M4, freestanding. This
   translation unit is only compiled (tests/ports.mk), then measured and its
   undefined symbols listed by tests/ports/cortex_m_check.sh.

   Build (tests/ports.mk adds the strict warnings and -Werror):
      arm-none-eabi-gcc -mcpu=cortex-m4 -mthumb -Os -ffreestanding -std=gnu11 \
        -DMIALLOC_NO_OS=1 -DMIALLOC_SINGLE_THREAD=1 -DMIALLOC_SEGMENT_SHIFT=17 \
        -DMIALLOC_SMALL_PAGE_SHIFT=12 -DMIALLOC_MEDIUM_PAGE_SHIFT=14 \
        -DMIALLOC_SMALL_OBJ_SIZE_MAX=2048 -I. -c tests/ports/cortex_m.c

   A firmware image hands the allocator its RAM with mia_manage_os_memory_ex
   (see tests/ports/small_arena.c, which runs this configuration on the host). */
#if !MIALLOC_NO_OS || !MIALLOC_SINGLE_THREAD
#error "build with the small configuration: see the build line above"
#endif
#define MIALLOC_IMPLEMENTATION
#include "../../mialloc.h"
