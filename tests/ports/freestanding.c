/* freestanding.c - mialloc.h as firmware would compile it: no OS layer, one
   thread, freestanding (-ffreestanding: the header then needs only <stddef.h>,
   <stdint.h>, <stdbool.h>, <stdarg.h>, and memset/memcpy/memmove). This
   translation unit is only compiled for each bare-metal target of
   tests/ports.mk (Cortex-M4, Cortex-M0, RISC-V rv32imac), then measured and its
   undefined symbols listed by tests/ports/freestanding_check.sh.

   Build (tests/ports.mk adds the strict warnings and -Werror):
      arm-none-eabi-gcc -mcpu=cortex-m4 -mthumb -Os -ffreestanding -std=gnu11 \
        -DMIALLOC_NO_OS=1 -DMIALLOC_SINGLE_THREAD=1 -I. -c tests/ports/freestanding.c
      (Cortex-M0: -mcpu=cortex-m0; RISC-V: riscv64-unknown-elf-gcc
       -march=rv32imac -mabi=ilp32)

   A firmware image hands the allocator its RAM with mia_manage_os_memory_ex
   (see tests/ports/small_arena.c, which runs the no-OS configuration on the host). */
#if !MIALLOC_NO_OS || !MIALLOC_SINGLE_THREAD
#error "build with -DMIALLOC_NO_OS=1 -DMIALLOC_SINGLE_THREAD=1: see the build line above"
#endif
#define MIALLOC_IMPLEMENTATION
#include "../../mialloc.h"
