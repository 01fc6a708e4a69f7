# tests/ports.mk - `make test-ports`: mialloc.h on other targets (included by
# the Makefile, whose variables it uses: BUILD, CC_CLANG, WARN_*, TEST_SRCS, ...).
#
#   make test-ports    every step below, then one line "N passed, M failed"
#                      (exit 1 on any failure); ~3-5 minutes on 2 cores: the
#                      builds, then ~40 s per qemu target (fork test included)
#   make bench-instr-st  the callgrind step alone
#
# Steps, in order (each alone: make ports-x86, make ports-cortex-m4, ...):
#   ports-native        the quick test suite (tests/main.c + tests/test_*.c,
#                       MIALLOC_TEST_QUICK=1) on the host: the reference count
#   ports-x86           the same suite, x86 32-bit (clang -m32): natively when
#                       the kernel runs 32-bit x86 binaries (a probe built with
#                       the same flags runs), else under qemu-i386
#                       (tests/ports/run_x86.sh says which); PORTS_X86_QEMU=1
#                       (make variable or environment) forces qemu-i386
#   ports-aarch64       aarch64 under qemu-aarch64    (gcc-aarch64-linux-gnu)
#   ports-armhf         32-bit ARM under qemu-arm     (gcc-arm-linux-gnueabihf)
#   ports-s390x         big-endian 64-bit under qemu-s390x (gcc-s390x-linux-gnu)
#   ports-win64         Windows x64 (mingw-w64, winpthreads) under wine
#                       Each port must execute as many CHECKs as ports-native;
#                       a test skipped on a target (SKIP in tests/runner.h) is
#                       listed with its reason (tests/ports/check_n.sh).
#   ports-cortex-m4     arm-none-eabi-gcc -mcpu=cortex-m4 -Os -ffreestanding of
#                       -DMIALLOC_NO_OS=1 -DMIALLOC_SINGLE_THREAD=1 (nothing else):
#                       warning-clean, .text + .rodata <= 16 KiB, and no
#                       undefined symbol but memset/memcpy/memmove
#   ports-cortex-m0, ports-rv32imac
#                       the same for -mcpu=cortex-m0 (ARMv6-M) and RISC-V
#                       rv32imac/ilp32, whose allowed compiler-runtime
#                       helpers are listed below (make ports-freestanding-sizes:
#                       all three, also in the 128 KiB geometry)
#   ports-small-exclusive, ports-small-shared
#                       that configuration in the README's 128 KiB geometry
#                       (PORTS_SMALL) on the host over a 256 KiB buffer aligned
#                       to 128 KiB (tests/ports/small_arena.c): exhaustion,
#                       utilisation, no OS call
#   ports-noos-defaults-exclusive, ports-noos-defaults-shared
#                       the same with no macro but MIALLOC_NO_OS and
#                       MIALLOC_SINGLE_THREAD (the default small geometry),
#                       over a buffer 16 bytes past a segment boundary
#   ports-arena-threads an exclusive arena over a 64 MiB buffer under threads
#                       (tests/ports/arena_threads.c), ~5 s
#   ports-instr-st      instructions per malloc/free pair under callgrind,
#                       threaded vs MIALLOC_SINGLE_THREAD=1 (tests/ports/instr_st.sh)
#
# Toolchains: Debian 12 packages, one group per step in scripts/deps.sh
# (make test-ports installs the "ports" group when it may). A step whose
# packages are not installed is not run: under CI=true it fails, naming them;
# otherwise it is listed as skipped, with them, in the summary.

PORTS_DIR     := $(BUILD)/ports
PORTS_RESULTS := $(PORTS_DIR)/results
# Seconds one port step may run (qemu and wine are slow; each takes < 60 s).
PORTS_TIMEOUT ?= 300

# The small-memory geometry (its host test; and ports-freestanding-sizes).
PORTS_SMALL := -DMIALLOC_NO_OS=1 -DMIALLOC_SINGLE_THREAD=1 -DMIALLOC_SEGMENT_SHIFT=17 \
               -DMIALLOC_SMALL_PAGE_SHIFT=12 -DMIALLOC_MEDIUM_PAGE_SHIFT=14 -DMIALLOC_SMALL_OBJ_SIZE_MAX=2048

# ---------------------------------------------------------------------------
# The quick test suite on each target: compiler, flags, how to run it.
# ---------------------------------------------------------------------------
PORT_TARGETS := x86 aarch64 armhf s390x win64
PORT_FLAGS_GCC := -std=gnu11 -O2 $(WARN_GCC) -Werror $(THREADS)

PORT_CC_native     := $(CC_CLANG)
PORT_CFLAGS_native := -std=gnu11 -O2 $(MARCH) $(WARN_CLANG) -Werror $(THREADS)

# Debian's libc6-dev-i386 without gcc-multilib (which conflicts with the cross
# compilers) lacks <asm/*.h> for -m32: the x86-64 ones serve both widths.
PORTS_ASM_DIR := $(firstword $(wildcard /usr/include/i386-linux-gnu/asm /usr/include/x86_64-linux-gnu/asm))
PORT_CC_x86     := $(CC_CLANG) -m32 -isystem $(PORTS_DIR)/m32-include
PORT_CFLAGS_x86 := -std=gnu11 -O2 $(WARN_CLANG) -Werror $(THREADS)
PORT_DEPS_x86   := $(PORTS_DIR)/m32-include/asm
# Natively if the kernel runs the probe, else qemu-i386; PORTS_X86_QEMU=1 forces qemu.
PORTS_X86_QEMU  ?= 0
PORTS_X86_PROBE := $(PORTS_DIR)/x86/m32_probe
PORT_RUN_x86    := PORTS_X86_QEMU=$(PORTS_X86_QEMU) bash tests/ports/run_x86.sh $(PORTS_X86_PROBE)
PORT_STEP_DEPS_x86 := $(PORTS_X86_PROBE)

PORT_CC_aarch64     := aarch64-linux-gnu-gcc
PORT_CFLAGS_aarch64 := $(PORT_FLAGS_GCC)
PORT_RUN_aarch64    := qemu-aarch64 -L /usr/aarch64-linux-gnu

PORT_CC_armhf     := arm-linux-gnueabihf-gcc
PORT_CFLAGS_armhf := $(PORT_FLAGS_GCC)
PORT_RUN_armhf    := qemu-arm -L /usr/arm-linux-gnueabihf

PORT_CC_s390x     := s390x-linux-gnu-gcc
PORT_CFLAGS_s390x := $(PORT_FLAGS_GCC)
PORT_RUN_s390x    := qemu-s390x -L /usr/s390x-linux-gnu

# mingw: C99 printf (%zu) from mingw's stdio, everything linked statically so
# wine needs no DLL path; a wine prefix of our own (first run: ~10 s to set up).
PORT_CC_win64      := x86_64-w64-mingw32-gcc
PORT_CFLAGS_win64  := $(PORT_FLAGS_GCC) -D__USE_MINGW_ANSI_STDIO=1
PORT_LDFLAGS_win64 := -static
PORT_EXE_win64     := .exe
PORT_RUN_win64     := WINEPREFIX=$(abspath $(PORTS_DIR))/wine WINEDEBUG=-all WINEDLLOVERRIDES=mscoree,mshtml= wine

$(PORTS_X86_PROBE): tests/ports/m32_probe.c | $(PORT_DEPS_x86)
	@mkdir -p $(@D)
	$(PORT_CC_x86) $(PORT_CFLAGS_x86) $< -o $@

$(PORTS_DIR)/m32-include/asm:
	@mkdir -p $(@D)
	@if [ -z "$(PORTS_ASM_DIR)" ]; then echo "ports: no <asm/> headers for -m32 (install linux-libc-dev)"; exit 1; fi
	ln -sfn $(PORTS_ASM_DIR) $@

define PORT_RULES
PORT_BIN_$(1) := $(PORTS_DIR)/$(1)/mialloc_tests$(PORT_EXE_$(1))
$$(PORT_BIN_$(1)): $(TEST_SRCS) tests/runner.h mialloc.h | $(PORT_DEPS_$(1))
	@mkdir -p $$(@D)
	$(PORT_CC_$(1)) $(PORT_CFLAGS_$(1)) $(TEST_INC) $(TEST_SRCS) -o $$@ $(PORT_LDFLAGS_$(1)) $(LDLIBS)
endef
# $(call PORTS_IF_INSTALLED,STEP,GROUP,COMMAND): COMMAND if scripts/deps.sh's
# GROUP is installed; otherwise STEP is recorded failed (CI=true) or skipped.
PORTS_IF_INSTALLED = if bash scripts/deps.sh --step $(1) $(PORTS_RESULTS) $(2); then $(3); else test $$? -eq 2; fi

define PORT_STEP
ports-$(1): $$(PORT_BIN_$(1)) $(PORT_STEP_DEPS_$(1))
	@$$(call PORTS_IF_INSTALLED,ports-$(1),ports-$(1),$$(RECORD) --needs $$< ports-$(1) $(PORTS_RESULTS) $(PORTS_TIMEOUT) \
	  bash tests/ports/check_n.sh $(PORTS_RESULTS)/ports-native.log $(1) env MIALLOC_TEST_QUICK=1 $$(PORT_RUN_$(1)) $$<)
endef
$(foreach t,native $(PORT_TARGETS),$(eval $(call PORT_RULES,$(t))))
$(foreach t,$(PORT_TARGETS),$(eval $(call PORT_STEP,$(t))))

ports-native: $(PORT_BIN_native)
	@$(RECORD) --needs $< ports-native $(PORTS_RESULTS) $(PORTS_TIMEOUT) env MIALLOC_TEST_QUICK=1 $<

# ---------------------------------------------------------------------------
# Bare metal: tests/ports/freestanding.c compiled only, with
# -DMIALLOC_NO_OS=1 -DMIALLOC_SINGLE_THREAD=1 and nothing else (the default
# geometry), -Os -ffreestanding, then measured by tests/ports/freestanding_check.sh:
# .text + .rodata <= 16 KiB, no undefined symbol but memset/memcpy/memmove and
# the target's allowed compiler-runtime helpers (PORTS_FS_HELPERS_<target>).
# All three are steps of make test-ports. make ports-freestanding-sizes: all three, in this
# configuration and in the small geometry (PORTS_SMALL), one line each.
# ---------------------------------------------------------------------------
PORTS_FREESTANDING := -DMIALLOC_NO_OS=1 -DMIALLOC_SINGLE_THREAD=1
PORTS_FS_TARGETS := cortex-m4 cortex-m0 rv32imac
PORTS_FS_LIMIT := 16384
PORTS_FS_FLAGS := -Os -ffreestanding -std=gnu11 -fno-exceptions $(WARN_GCC) -Werror
# ARMv7E-M has CLZ and RBIT: no helper. ARMv6-M and rv32imac (no Zbb) have no
# bit-scan instruction: __clzsi2/__ctzsi2; ARMv6-M has no divide instruction
# either: __aeabi_uidiv/__aeabi_uidivmod (block counts, sizes in messages);
# arm-none-eabi-gcc 12 declares __aeabi_idiv/__aeabi_idivmod beside
# __aeabi_uidivmod without calling them (no relocation refers to them).
# No 64-bit shift or division helper anywhere.
PORTS_FS_TOOL_cortex-m4    := arm-none-eabi
PORTS_FS_ARCH_cortex-m4    := -mcpu=cortex-m4 -mthumb
PORTS_FS_HELPERS_cortex-m4 :=
PORTS_FS_GROUP_cortex-m4   := ports-cortex-m
PORTS_FS_TOOL_cortex-m0    := arm-none-eabi
PORTS_FS_ARCH_cortex-m0    := -mcpu=cortex-m0 -mthumb
PORTS_FS_HELPERS_cortex-m0 := __aeabi_uidiv __aeabi_uidivmod __aeabi_idiv __aeabi_idivmod __clzsi2 __ctzsi2
PORTS_FS_GROUP_cortex-m0   := ports-cortex-m
PORTS_FS_TOOL_rv32imac     := riscv64-unknown-elf
PORTS_FS_ARCH_rv32imac     := -march=rv32imac -mabi=ilp32
PORTS_FS_HELPERS_rv32imac  := __clzsi2 __ctzsi2
PORTS_FS_GROUP_rv32imac    := ports-rv32imac

define PORTS_FS_RULES
PORTS_FS_OBJ_$(1) := $(PORTS_DIR)/$(1)/mialloc.o
$(PORTS_DIR)/$(1)/mialloc.o: tests/ports/freestanding.c mialloc.h
	@mkdir -p $$(@D)
	$(PORTS_FS_TOOL_$(1))-gcc $(PORTS_FS_ARCH_$(1)) $(PORTS_FS_FLAGS) $(PORTS_FREESTANDING) -c $$< -o $$@
$(PORTS_DIR)/$(1)/mialloc-small.o: tests/ports/freestanding.c mialloc.h
	@mkdir -p $$(@D)
	$(PORTS_FS_TOOL_$(1))-gcc $(PORTS_FS_ARCH_$(1)) $(PORTS_FS_FLAGS) $(PORTS_SMALL) -c $$< -o $$@

ports-$(1): $(PORTS_DIR)/$(1)/mialloc.o
	@$$(call PORTS_IF_INSTALLED,ports-$(1),$(PORTS_FS_GROUP_$(1)),$$(RECORD) --needs $$< ports-$(1) $(PORTS_RESULTS) $(PORTS_TIMEOUT) \
	  bash tests/ports/freestanding_check.sh $$< $(PORTS_FS_LIMIT) $(1) $(PORTS_FS_TOOL_$(1)) $(PORTS_FS_HELPERS_$(1)))
endef
$(foreach t,$(PORTS_FS_TARGETS),$(eval $(call PORTS_FS_RULES,$(t))))

ports-freestanding-sizes: $(foreach t,$(PORTS_FS_TARGETS),$(PORTS_DIR)/$(t)/mialloc.o $(PORTS_DIR)/$(t)/mialloc-small.o)
	@for t in $(PORTS_FS_TARGETS); do \
	  for c in "" -small; do \
	    case $$t in rv32*) tool=riscv64-unknown-elf ;; *) tool=arm-none-eabi ;; esac; \
	    bash tests/ports/freestanding_check.sh $(PORTS_DIR)/$$t/mialloc$$c.o $(PORTS_FS_LIMIT) \
	      "$$t$${c:+ (PORTS_SMALL)}" $$tool | grep -E '(bytes|undefined symbols:)'; \
	  done; \
	done

# ---------------------------------------------------------------------------
# The small configuration on the host; an exclusive arena under threads.
# ---------------------------------------------------------------------------
PORTS_SMALL_BIN := $(PORTS_DIR)/small/small_arena
PORTS_NOOS_BIN := $(PORTS_DIR)/small/small_arena_defaults
PORTS_ARENA_BIN := $(PORTS_DIR)/arena/arena_threads

$(PORTS_SMALL_BIN): tests/ports/small_arena.c tests/runner.h mialloc.h
	@mkdir -p $(@D)
	$(CC_CLANG) $(STRICT_C_CLANG) $(PORTS_SMALL) $(TEST_INC) $< -o $@ $(LDLIBS)
$(PORTS_NOOS_BIN): tests/ports/small_arena.c tests/runner.h mialloc.h
	@mkdir -p $(@D)
	$(CC_CLANG) $(STRICT_C_CLANG) $(PORTS_FREESTANDING) $(TEST_INC) $< -o $@ $(LDLIBS)

$(PORTS_ARENA_BIN): tests/ports/arena_threads.c tests/runner.h mialloc.h
	@mkdir -p $(@D)
	$(CC_CLANG) $(STRICT_C_CLANG) $(THREADS) $(TEST_INC) $< -o $@ $(LDLIBS)

ports-small-exclusive ports-small-shared: ports-small-%: $(PORTS_SMALL_BIN)
	@$(RECORD) --needs $< ports-small-$* $(PORTS_RESULTS) $(PORTS_TIMEOUT) $< $*

# The defaults (no geometry macro) over a buffer aligned only to 16 bytes.
ports-noos-defaults-exclusive ports-noos-defaults-shared: ports-noos-defaults-%: $(PORTS_NOOS_BIN)
	@$(RECORD) --needs $< ports-noos-defaults-$* $(PORTS_RESULTS) $(PORTS_TIMEOUT) $< $* 16

ports-arena-threads: $(PORTS_ARENA_BIN)
	@$(RECORD) --needs $< ports-arena-threads $(PORTS_RESULTS) $(PORTS_TIMEOUT) $< 4.5

# ---------------------------------------------------------------------------
# Instructions per malloc(32)/free pair, threaded vs single-thread (callgrind).
# ---------------------------------------------------------------------------
PORTS_INSTR_FLAGS := -std=gnu11 -O2 $(MARCH) -fno-exceptions $(WARN_CLANG) -Werror
PORTS_INSTR_BINS := $(PORTS_DIR)/instr/instr-threaded $(PORTS_DIR)/instr/instr-single-thread

$(PORTS_DIR)/instr/instr-threaded: tests/ports/instr_st.c mialloc.h
	@mkdir -p $(@D)
	$(CC_CLANG) $(PORTS_INSTR_FLAGS) $(THREADS) $(TEST_INC) $< -o $@ $(LDLIBS)
$(PORTS_DIR)/instr/instr-single-thread: tests/ports/instr_st.c mialloc.h
	@mkdir -p $(@D)
	$(CC_CLANG) $(PORTS_INSTR_FLAGS) -DMIALLOC_SINGLE_THREAD=1 $(TEST_INC) $< -o $@ $(LDLIBS)

ports-instr-st: $(PORTS_INSTR_BINS)
	@$(call PORTS_IF_INSTALLED,ports-instr-st,ports-instr-st,$(RECORD) --needs $(lastword $^) ports-instr-st $(PORTS_RESULTS) $(PORTS_TIMEOUT) \
	  bash tests/ports/instr_st.sh $^)

bench-instr-st: $(PORTS_INSTR_BINS)
	@bash tests/ports/instr_st.sh $^

# ---------------------------------------------------------------------------
# make test-ports: build everything in parallel (keep going past failures),
# run the steps one at a time (ports-native first: the others compare with
# it), then add up the results.
# ---------------------------------------------------------------------------
PORTS_STEPS := ports-native $(addprefix ports-,$(PORT_TARGETS)) ports-cortex-m4 ports-cortex-m0 ports-rv32imac \
               ports-small-exclusive ports-small-shared ports-noos-defaults-exclusive ports-noos-defaults-shared \
               ports-arena-threads ports-instr-st
PORTS_BINARIES := $(foreach t,native $(PORT_TARGETS),$(PORT_BIN_$(t))) $(PORTS_X86_PROBE) $(foreach t,$(PORTS_FS_TARGETS),$(PORTS_FS_OBJ_$(t))) \
                  $(PORTS_SMALL_BIN) $(PORTS_NOOS_BIN) $(PORTS_ARENA_BIN) $(PORTS_INSTR_BINS)

test-ports:
	@rm -rf $(PORTS_RESULTS); mkdir -p $(PORTS_RESULTS)
	@$(MAKE) --no-print-directory -k -j$(JOBS) -O ports-build || true
	@$(MAKE) --no-print-directory -k $(addprefix -o ,$(PORTS_BINARIES)) ports-run || true
	@bash scripts/total.sh --missing $(DEPS_DIR)/ports.missing $(PORTS_RESULTS) $(PORTS_STEPS)

ports-build: $(PORTS_BINARIES)
ports-run: $(PORTS_STEPS)

.PHONY: test-ports ports-build ports-run bench-instr-st $(PORTS_STEPS) \
        ports-cortex-m0 ports-rv32imac ports-freestanding-sizes
