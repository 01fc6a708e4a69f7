# Makefile for mialloc.h (GNU make): tests, stress, examples, benchmark.
#
#   make test       every build-level check and test configuration, then one
#                   summary line "N passed, M failed" (exit 1 on any failure)
#   make stress     the stress program, 16 threads for 60 s (release build)
#   make examples   build examples/*.c into build/examples/
#   make bench      quick benchmark (<= 3 min): the churn table (bench/run.sh),
#                   then every workload x every installed allocator, linked
#                   and preloaded, and mialloc-secure (bench/suite.py):
#                   tables on stdout and in bench/results/
#   make bench-full the same, longer runs and 1/2/8/16 threads (~110 min)
#   make bench-memret  the memory-return tables alone (frame loop, large-block
#                   reuse, thread churn; bench/memret.mk); make bench ends with it
#   make bench-purge-delay  the same three workloads (header build) with
#                   MIALLOC_PURGE_DELAY at 0, 10, 100, 1000 and -1: the return
#                   policy's trade-off (bench/purge_delay.py, ~2.5 min)
#   make bench-instr  instructions per malloc/free pair under callgrind, every
#                   pattern x mialloc (header and preloaded) and every peer
#   make bench-readme make bench + bench-instr, then rewrite README's
#                   generated benchmark section (bench/readme.py)
#   make peers      the peers alone: Debian's, and mimalloc 3.x/2.x, rpmalloc
#                   and snmalloc built from checkouts (bench/peers.sh; the
#                   bench goals above build these first)
#   The Debian packages each of these needs are installed first when missing
#   (scripts/deps.sh: as root or through sudo -n; MIALLOC_NO_INSTALL=1: never)
#   make shared     build/libmialloc.so, for LD_PRELOAD (tests/override.mk)
#   make test-override  real programs under the preload (tests/override/run.sh)
#   make fuzz       tests/fuzz.c under libFuzzer, ASan/UBSan and MIALLOC_SECURE=4
#                   builds, FUZZ_SECONDS (60) each (tests/hardening.mk)
#   make test-long  the memory test alone (its producer/consumer runs 30 s)
#   make clean      remove build/
#
# Single steps of `make test` can be run alone: `make check-strict-gcc-c`,
# `make run-asan`, `make run-stress-tsan`, ... (see TEST_STEPS below).

SHELL := /bin/bash
.DEFAULT_GOAL := all
.SUFFIXES:
.DELETE_ON_ERROR:
BUILD := build

# ---------------------------------------------------------------------------
# Debian packages: the goals below first install what they need when it is
# missing (scripts/deps.sh says what it installs, or what it could not). This
# runs while the Makefile is read, before the compilers and libraries are
# looked for below, so what it installs is found. Not under make -n, not in
# sub-makes. MIALLOC_NO_INSTALL=1 (make variable or environment): install
# nothing, name what is missing.
# ---------------------------------------------------------------------------
DEPS_GROUP_test := test
DEPS_GROUP_test-override := test
DEPS_GROUP_test-ports := ports
DEPS_GROUP_ports-cortex-m4 := ports-cortex-m
DEPS_GROUP_ports-cortex-m0 := ports-cortex-m
$(foreach g,x86 aarch64 armhf s390x win64 rv32imac instr-st,$(eval DEPS_GROUP_ports-$(g) := ports-$(g)))
$(foreach g,bench bench-full bench-instr bench-readme,$(eval DEPS_GROUP_$(g) := bench))
DEPS_GROUPS := $(sort $(foreach g,$(MAKECMDGOALS),$(DEPS_GROUP_$(g))))
DEPS_DIR := $(BUILD)/deps
MIALLOC_NO_INSTALL ?= 0
ifneq ($(DEPS_GROUPS),)
  ifeq ($(MAKELEVEL)$(findstring n,$(firstword -$(MAKEFLAGS))),0)
    $(shell MIALLOC_NO_INSTALL=$(MIALLOC_NO_INSTALL) bash scripts/deps.sh --record $(DEPS_DIR) $(DEPS_GROUPS) >&2)
  endif
endif

# ---------------------------------------------------------------------------
# Compilers. Clang: the first of clang-19, clang-22, clang; cc if none.
# Override on the command line: make test CC_CLANG=clang-22 CXX_CLANG=clang++-22
# ---------------------------------------------------------------------------
ifndef CC_CLANG
  CLANG_FOUND := $(firstword $(foreach c,clang-19 clang-22 clang,$(shell command -v $(c) 2>/dev/null)))
  ifeq ($(CLANG_FOUND),)
    $(info mialloc: clang is absent (looked for clang-19, clang-22, clang); falling back to cc)
    CC_CLANG := cc
    CXX_CLANG := c++
  else
    CC_CLANG := $(CLANG_FOUND)
    CXX_CLANG := $(dir $(CLANG_FOUND))$(subst clang,clang++,$(notdir $(CLANG_FOUND)))
  endif
endif
CXX_CLANG ?= $(subst clang,clang++,$(CC_CLANG))
GCC ?= gcc
GXX ?= g++
export CC_CLANG CXX_CLANG
CC_IS_CLANG := $(shell $(CC_CLANG) --version 2>/dev/null | grep -qi clang && echo 1)

# ---------------------------------------------------------------------------
# Flags. The strict set is STYLE.md's; gcc drops the clang-only warnings
# (-Wthread-safety; -Wextra-semi is C++-only in gcc) and says -flto for
# -flto=thin.
# ---------------------------------------------------------------------------
WARN := -Wall -Wextra -Wpedantic -Wconversion -Wshadow -Wundef -Wdouble-promotion \
        -Wformat=2 -Wvla -Wmissing-field-initializers -Wnull-dereference
WARN_GCC := $(WARN)
WARN_GXX := $(WARN) -Wextra-semi
ifeq ($(CC_IS_CLANG),1)
  WARN_CLANG := $(WARN) -Wextra-semi -Wthread-safety
  WARN_CLANGXX := $(WARN_CLANG)
  LTO_CLANG := -flto=thin
else
  WARN_CLANG := $(WARN_GCC)
  WARN_CLANGXX := $(WARN_GXX)
  LTO_CLANG := -flto
endif
MARCH := -march=x86-64-v3
THREADS := -pthread
LDLIBS := -lm

STRICT_C_CLANG   := -std=gnu11 -O3 $(LTO_CLANG) $(MARCH) -fno-exceptions $(WARN_CLANG) -Werror
STRICT_C_GCC     := -std=gnu11 -O3 -flto $(MARCH) -fno-exceptions $(WARN_GCC) -Werror
STRICT_CXX_CLANG := -std=c++17 -O3 $(LTO_CLANG) $(MARCH) -fno-exceptions $(WARN_CLANGXX) -Werror
STRICT_CXX_GCC   := -std=c++17 -O3 -flto $(MARCH) -fno-exceptions $(WARN_GXX) -Werror
BASELINE_C_CLANG := -std=gnu11 -O2 $(WARN_CLANG) -Werror

RESULTS := $(BUILD)/results
JOBS    ?= $(shell nproc 2>/dev/null || echo 2)
# Seconds one step of `make test` may run before it is stopped and counted failed.
RUN_TIMEOUT ?= 600
RECORD := bash scripts/record.sh

all: $(BUILD)/release/mialloc_tests examples

EXAMPLE_SRCS := $(wildcard examples/*.c)
EXAMPLES := $(patsubst examples/%.c,$(BUILD)/examples/%,$(EXAMPLE_SRCS))
EXAMPLE_STEPS := $(patsubst examples/%.c,example-%,$(EXAMPLE_SRCS))

# ---------------------------------------------------------------------------
# (a) Build-level checks: scripts/compile_check.c under each configuration,
# linked (so gcc's LTO warnings are seen too) and run once.
# ---------------------------------------------------------------------------
CHECK_SRC := scripts/compile_check.c
COMPILE_CHECKS := strict-clang-c strict-gcc-c strict-clang-cxx strict-gxx-cxx \
                  static include-twice mimalloc-names mimalloc-names-cxx debug3 baseline-O2

CHECK_CMD_strict-clang-c   := $(CC_CLANG) $(STRICT_C_CLANG)
CHECK_CMD_strict-gcc-c     := $(GCC) $(STRICT_C_GCC)
CHECK_CMD_strict-clang-cxx := $(CXX_CLANG) -x c++ $(STRICT_CXX_CLANG)
CHECK_CMD_strict-gxx-cxx   := $(GXX) -x c++ $(STRICT_CXX_GCC)
CHECK_CMD_static           := $(CC_CLANG) $(STRICT_C_CLANG) -DMIALLOC_STATIC=1
CHECK_CMD_include-twice    := $(CC_CLANG) $(STRICT_C_CLANG) -DCHECK_INCLUDE_TWICE=1
CHECK_CMD_mimalloc-names   := $(CC_CLANG) $(STRICT_C_CLANG) -DMIALLOC_MIMALLOC_NAMES=1
CHECK_CMD_mimalloc-names-cxx := $(CXX_CLANG) -x c++ $(STRICT_CXX_CLANG) -DMIALLOC_MIMALLOC_NAMES=1
CHECK_CMD_debug3           := $(CC_CLANG) $(STRICT_C_CLANG) -DMIALLOC_DEBUG=3
CHECK_CMD_baseline-O2      := $(CC_CLANG) $(BASELINE_C_CLANG)

$(BUILD)/compile/%: $(CHECK_SRC) mialloc.h
	@mkdir -p $(@D)
	$(CHECK_CMD_$*) $(THREADS) $< -o $@ $(LDLIBS)

$(addprefix check-,$(COMPILE_CHECKS)): check-%: $(BUILD)/compile/%
	@$(RECORD) --needs $< check-$* $(RESULTS) $(RUN_TIMEOUT) $<

# Every helper macro the implementation defines is #undef'd at its end.
check-undef:
	@$(RECORD) check-undef $(RESULTS) $(RUN_TIMEOUT) bash scripts/check_undef.sh mialloc.h

# Every public function is a plain definition that ctags finds (no macro
# generates one).
check-ctags:
	@$(RECORD) check-ctags $(RESULTS) $(RUN_TIMEOUT) bash scripts/check_ctags.sh mialloc.h

# The implementation in a user's file under the user's strict flags, with no
# feature macros: C11/C17 (gcc, clang), C++11/14/17/20 (g++, clang++).
check-dialects:
	@$(RECORD) check-dialects $(RESULTS) $(RUN_TIMEOUT) bash scripts/check_dialects.sh $(BUILD)/dialects

# bench/peers.sh (the peers make bench builds from source) on made-up source trees.
check-peers-sh:
	@$(RECORD) check-peers-sh $(RESULTS) $(RUN_TIMEOUT) bash tests/peers_sh.sh $(BUILD)/peers-sh

# The examples are built with the strict warnings and each run once.
$(EXAMPLE_STEPS): example-%: $(BUILD)/examples/%
	@$(RECORD) --needs $< example-$* $(RESULTS) $(RUN_TIMEOUT) $<

# ---------------------------------------------------------------------------
# (b)-(f) The test runner: tests/main.c (defines MIALLOC_IMPLEMENTATION) and
# tests/test_*.c linked into build/<config>/mialloc_tests; tests/stress.c is
# build/<config>/stress. One set of object flags per configuration.
# ---------------------------------------------------------------------------
TEST_SRCS := tests/main.c $(sort $(wildcard tests/test_*.c))
TEST_CONFIGS := release gcc debug3 asan tsan secure
TEST_INC := -I. -Itests
SAN_ASAN := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
SAN_TSAN := -fsanitize=thread

TEST_CC_release     := $(CC_CLANG)
TEST_CFLAGS_release := -std=gnu11 -O2 -g $(MARCH) $(WARN_CLANG) -Werror $(THREADS)
TEST_LDFLAGS_release := $(THREADS)

TEST_CC_gcc         := $(GCC)
TEST_CFLAGS_gcc     := -std=gnu11 -O2 -g $(WARN_GCC) -Werror $(THREADS)
TEST_LDFLAGS_gcc    := $(THREADS)

TEST_CC_debug3      := $(CC_CLANG)
TEST_CFLAGS_debug3  := -std=gnu11 -O1 -g $(MARCH) -DMIALLOC_DEBUG=3 $(WARN_CLANG) -Werror $(THREADS)
TEST_LDFLAGS_debug3 := $(THREADS)

TEST_CC_asan        := $(CC_CLANG)
TEST_CFLAGS_asan    := -std=gnu11 -O1 -g $(MARCH) $(SAN_ASAN) $(WARN_CLANG) -Werror $(THREADS)
TEST_LDFLAGS_asan   := $(SAN_ASAN) $(THREADS)

TEST_CC_tsan        := $(CC_CLANG)
TEST_CFLAGS_tsan    := -std=gnu11 -O1 -g $(MARCH) $(SAN_TSAN) $(WARN_CLANG) -Werror $(THREADS)
TEST_LDFLAGS_tsan   := $(SAN_TSAN) $(THREADS)

TEST_CC_secure      := $(CC_CLANG)
TEST_CFLAGS_secure  := -std=gnu11 -O2 -g $(MARCH) -DMIALLOC_SECURE=4 $(WARN_CLANG) -Werror $(THREADS)
TEST_LDFLAGS_secure := $(THREADS)

# The environment of each run (sanitizer runs are cut short by MIALLOC_TEST_QUICK).
TEST_ENV_release :=
TEST_ENV_gcc     :=
TEST_ENV_debug3  :=
TEST_ENV_asan    := MIALLOC_TEST_QUICK=1 ASAN_OPTIONS=halt_on_error=1:abort_on_error=0 \
                    UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
TEST_ENV_tsan    := MIALLOC_TEST_QUICK=1 TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1
TEST_ENV_secure  :=

# Stress arguments: THREADS SECONDS.
STRESS_SHORT := 8 3
STRESS_TSAN  := 8 2
STRESS_LONG  := 16 60

define TEST_CONFIG_RULES
$(BUILD)/$(1)/%.o: tests/%.c mialloc.h
	@mkdir -p $$(@D)
	$$(TEST_CC_$(1)) $$(TEST_CFLAGS_$(1)) $$(TEST_INC) -MMD -MP -c $$< -o $$@

$(BUILD)/$(1)/mialloc_tests: $$(patsubst tests/%.c,$(BUILD)/$(1)/%.o,$$(TEST_SRCS))
	$$(TEST_CC_$(1)) $$(TEST_LDFLAGS_$(1)) $$^ -o $$@ $$(LDLIBS)

$(BUILD)/$(1)/stress: tests/stress.c mialloc.h
	@mkdir -p $$(@D)
	$$(TEST_CC_$(1)) $$(TEST_CFLAGS_$(1)) $$(TEST_INC) -MMD -MP $$< -o $$@ $$(LDLIBS)

$(BUILD)/$(1)/whitebox: tests/whitebox.c mialloc.h
	@mkdir -p $$(@D)
	$$(TEST_CC_$(1)) $$(TEST_CFLAGS_$(1)) $$(TEST_INC) -MMD -MP $$< -o $$@ $$(LDLIBS)

run-$(1): $(BUILD)/$(1)/mialloc_tests
	@$$(RECORD) --needs $$< run-$(1) $$(RESULTS) $$(RUN_TIMEOUT) env $$(TEST_ENV_$(1)) $$<
endef
$(foreach c,$(TEST_CONFIGS),$(eval $(call TEST_CONFIG_RULES,$(c))))

-include $(wildcard $(BUILD)/*/*.d)

# tests/whitebox.c, when present, is its own program (it reads the internals):
# run once in the release configuration.
WHITEBOX_STEPS := $(if $(wildcard tests/whitebox.c),run-whitebox)
WHITEBOX_BINARIES := $(if $(wildcard tests/whitebox.c),$(BUILD)/release/whitebox)
run-whitebox: $(BUILD)/release/whitebox
	@$(RECORD) --needs $< run-whitebox $(RESULTS) $(RUN_TIMEOUT) $<

# The bench programs' workloads as tests (tests/bench_smoke.sh): each
# workload of bench/classic.c and bench/micro.c at scale 0.1, 2 and 4
# threads, in the header build with MIALLOC_DEBUG=3 under ASan and UBSan;
# every block a workload allocates is stamped and checked when freed.
BENCH_SMOKE_BINARIES := $(BUILD)/bench-smoke/classic $(BUILD)/bench-smoke/micro
$(BUILD)/bench-smoke/%: bench/%.c bench/bench.h mialloc.h
	@mkdir -p $(@D)
	$(CC_CLANG) -std=gnu11 -O1 -g $(MARCH) $(SAN_ASAN) $(WARN_CLANG) -Werror $(THREADS) -DMIALLOC_DEBUG=3 \
	  -DBENCH_MIALLOC=1 -DBENCH_NAME=mialloc-debug3 $< -o $@ $(LDLIBS)
run-bench-smoke: $(BENCH_SMOKE_BINARIES)
	@$(RECORD) --needs $(BUILD)/bench-smoke/micro run-bench-smoke $(RESULTS) $(RUN_TIMEOUT) \
	  env $(TEST_ENV_asan) bash tests/bench_smoke.sh 0.1 $(BENCH_SMOKE_BINARIES)

# (h) MIALLOC_SINGLE_THREAD=1: the suite's groups that start no thread (api,
# churn), with the single-thread semantics (api_single_thread_*).
TEST_CC_st          := $(CC_CLANG)
TEST_CFLAGS_st      := $(TEST_CFLAGS_release) -DMIALLOC_SINGLE_THREAD=1
TEST_LDFLAGS_st     := $(THREADS)
$(eval $(call TEST_CONFIG_RULES,st))
run-single-thread: $(BUILD)/st/mialloc_tests
	@$(RECORD) --needs $< run-single-thread $(RESULTS) $(RUN_TIMEOUT) $< 'api_|churn_'

# (g) The stress program, short: release, then under TSan.
run-stress-release: $(BUILD)/release/stress
	@$(RECORD) --needs $< run-stress-release $(RESULTS) $(RUN_TIMEOUT) $< $(STRESS_SHORT)
run-stress-tsan: $(BUILD)/tsan/stress
	@$(RECORD) --needs $< run-stress-tsan $(RESULTS) $(RUN_TIMEOUT) env $(TEST_ENV_tsan) $< $(STRESS_TSAN)

# ---------------------------------------------------------------------------
# make test: build everything in parallel (keep going past failures), run the
# steps one at a time in order, then add up the results.
# ---------------------------------------------------------------------------
TEST_STEPS := $(addprefix check-,$(COMPILE_CHECKS)) check-undef check-ctags check-dialects check-peers-sh $(EXAMPLE_STEPS) \
              $(addprefix run-,$(TEST_CONFIGS)) run-single-thread $(WHITEBOX_STEPS) \
              run-stress-release run-stress-tsan run-bench-smoke
TEST_BINARIES := $(addprefix $(BUILD)/compile/,$(COMPILE_CHECKS)) $(EXAMPLES) \
                 $(foreach c,$(TEST_CONFIGS) st,$(BUILD)/$(c)/mialloc_tests) \
                 $(WHITEBOX_BINARIES) $(BUILD)/release/stress $(BUILD)/tsan/stress $(BENCH_SMOKE_BINARIES)
include tests/override.mk
include tests/ports.mk
include tests/hardening.mk
include tests/engine.mk
include tests/ownership.mk

test:
	@rm -rf $(RESULTS); mkdir -p $(RESULTS)
	@echo "== compilers: $(CC_CLANG) $(CXX_CLANG) $(GCC) $(GXX)"
	@$(MAKE) --no-print-directory -k -j$(JOBS) -O test-build || true
	@$(MAKE) --no-print-directory -k $(addprefix -o ,$(TEST_BINARIES)) test-run || true
	@bash scripts/total.sh --missing $(DEPS_DIR)/test.missing $(RESULTS) $(TEST_STEPS)

test-build: $(TEST_BINARIES)
test-run: $(TEST_STEPS)

stress: $(BUILD)/release/stress
	$< $(STRESS_LONG)

# ---------------------------------------------------------------------------
# Examples and benchmark
# ---------------------------------------------------------------------------
EXAMPLE_CFLAGS := -std=gnu11 -O2 $(MARCH) $(WARN_CLANG) -Werror $(THREADS)

examples: $(EXAMPLES)
$(BUILD)/examples/%: examples/%.c mialloc.h
	@mkdir -p $(@D)
	$(CC_CLANG) $(EXAMPLE_CFLAGS) $< -o $@ $(LDLIBS)

# ---------------------------------------------------------------------------
# Benchmarks (bench/). Each program is built once per allocator from the same
# source: mialloc through the header (-DBENCH_MIALLOC=1, mia_* calls), and
# again with -DMIALLOC_SECURE=4 (mialloc-secure), the peers by linking their
# shared library first so its malloc overrides glibc's (plain malloc/free
# calls), glibc as it is. bench/suite.py also runs the glibc build under
# LD_PRELOAD of build/libmialloc.so (`make shared`) and of each peer's library:
# the "<name> (preload)" columns. A peer whose library is absent is skipped
# with a line saying so (make bench installs them first: scripts/deps.sh bench).
#
# Peers built from source (mimalloc 3.x and 2.x, rpmalloc, snmalloc): no
# source enters this repository and nothing is downloaded. bench/peers.sh
# builds them, as shared libraries that override malloc, from checkouts found
# on the machine -- every source tree in MIALLOC_PEER_SRC (default
# $(MIALLOC_PEER_DIR)/src), or one per peer in PEER_SRC_MIMALLOC3,
# PEER_SRC_MIMALLOC2, PEER_SRC_RPMALLOC, PEER_SRC_SNMALLOC (a tree, or
# REPO@REF of a git repository) -- into the layout below; make bench,
# bench-full, bench-instr and bench-readme run it first (it rebuilds only a
# peer whose source changed: ~40 s for all of them the first time), and
# make peers runs it alone. Prebuilt libraries may be put there by hand too.
# They get a "(preload)" column only (the glibc build under LD_PRELOAD) and
# rows in bench-instr. Where they are looked for:
#   MIALLOC_PEER_DIR  a directory laid out as below (default ../peers: a
#                     peers/ directory next to this checkout)
#   PEER_MIMALLOC3    default $(MIALLOC_PEER_DIR)/mimalloc-3/libmimalloc.so
#   PEER_MIMALLOC2    default $(MIALLOC_PEER_DIR)/mimalloc-2/libmimalloc.so
#   PEER_RPMALLOC     default $(MIALLOC_PEER_DIR)/rpmalloc/librpmalloc.so
#   PEER_SNMALLOC     default $(MIALLOC_PEER_DIR)/snmalloc/libsnmallocshim.so
#   PEER_SNMALLOC_VALGRIND  default $(MIALLOC_PEER_DIR)/snmalloc-valgrind/libsnmallocshim.so:
#                     used by bench-instr instead of PEER_SNMALLOC when present.
#                     snmalloc reserves a 256 GiB pagemap (48-bit address space)
#                     at start-up, which valgrind refuses ("Failed to initialise
#                     snmalloc"); this is a snmalloc whose pagemap covers the 37
#                     address bits valgrind gives its client (it crashes natively).
#                     Without it the snmalloc cells of bench-instr read "fail".
# each settable on the command line or in the environment, e.g.
#   make bench MIALLOC_PEER_DIR=/work/peers
#   make bench-instr PEER_SNMALLOC=/opt/snmalloc/lib/libsnmallocshim.so
# An optional file VERSION beside a library ("mimalloc 3.4.3") names its
# version in the tables. A library that is not there is skipped with a line
# saying so; mimalloc 3.x, when present, is the second reference of the tables.
# ---------------------------------------------------------------------------
BENCH_OUT := $(BUILD)/bench
BENCH_CFLAGS := -std=gnu11 -O2 $(MARCH) $(WARN_CLANG) -Werror $(THREADS)
BENCH_MULTIARCH := $(shell $(GCC) -print-multiarch 2>/dev/null)
BENCH_LIBDIRS := $(sort $(if $(BENCH_MULTIARCH),/usr/lib/$(BENCH_MULTIARCH)) /usr/lib/$(shell uname -m)-linux-gnu) \
                 /usr/lib64 /usr/lib /usr/local/lib
bench_find_lib = $(firstword $(wildcard $(addsuffix /$(1),$(BENCH_LIBDIRS))))
BENCH_LIB_mimalloc := $(call bench_find_lib,libmimalloc.so.2)
BENCH_LIB_jemalloc := $(call bench_find_lib,libjemalloc.so.2)
BENCH_LIB_tcmalloc := $(call bench_find_lib,libtcmalloc_minimal.so.4)
BENCH_PEERS := mimalloc jemalloc tcmalloc
BENCH_ALLOCS := mialloc mialloc-secure glibc $(foreach p,$(BENCH_PEERS),$(if $(BENCH_LIB_$(p)),$(p)))
BENCH_MISSING := $(foreach p,$(BENCH_PEERS),$(if $(BENCH_LIB_$(p)),,$(p)))
BENCH_PROGS := micro classic
BENCH_BINS := $(foreach p,$(BENCH_PROGS),$(foreach a,$(BENCH_ALLOCS),$(BENCH_OUT)/$(p)-$(a)))
BENCH_INSTR_BINS := $(BENCH_OUT)/instr-mialloc $(BENCH_OUT)/instr-mialloc-nosimd $(BENCH_OUT)/instr-plain
BENCH_COMMA := ,
BENCH_SPACE := $(subst ,, )
BENCH_SAY_SKIPPED = $(foreach p,$(BENCH_MISSING),echo "bench: $(p) skipped (its library was not found in $(BENCH_LIBDIRS); bash scripts/deps.sh bench installs it)";) \
                    $(foreach p,$(BENCH_SRC_MISSING),echo "bench: $(p) skipped ($(BENCH_SRC_VAR_$(p))=$(BENCH_SRC_WANT_$(p)) is absent; set MIALLOC_PEER_DIR or $(BENCH_SRC_VAR_$(p)), see the Makefile's bench section)";)

# The peers built from source, outside the repository (see above).
MIALLOC_PEER_DIR ?= ../peers
PEER_MIMALLOC3 ?= $(MIALLOC_PEER_DIR)/mimalloc-3/libmimalloc.so
PEER_MIMALLOC2 ?= $(MIALLOC_PEER_DIR)/mimalloc-2/libmimalloc.so
PEER_RPMALLOC  ?= $(MIALLOC_PEER_DIR)/rpmalloc/librpmalloc.so
PEER_SNMALLOC  ?= $(MIALLOC_PEER_DIR)/snmalloc/libsnmallocshim.so
MIALLOC_PEER_SRC ?= $(MIALLOC_PEER_DIR)/src
PEER_SRC_MIMALLOC3 ?=
PEER_SRC_MIMALLOC2 ?=
PEER_SRC_RPMALLOC ?=
PEER_SRC_SNMALLOC ?=
PEERS_SH = MIALLOC_PEER_DIR='$(MIALLOC_PEER_DIR)' MIALLOC_PEER_SRC='$(MIALLOC_PEER_SRC)' \
           PEER_SRC_MIMALLOC3='$(PEER_SRC_MIMALLOC3)' PEER_SRC_MIMALLOC2='$(PEER_SRC_MIMALLOC2)' \
           PEER_SRC_RPMALLOC='$(PEER_SRC_RPMALLOC)' PEER_SRC_SNMALLOC='$(PEER_SRC_SNMALLOC)' \
           CC='$(GCC)' JOBS=$(JOBS) bash bench/peers.sh
# Built while the Makefile is read (as the Debian packages are installed,
# above), so that the libraries are found below. Not under make -n, not in sub-makes.
ifneq ($(filter bench bench-full bench-instr bench-readme,$(MAKECMDGOALS)),)
  ifeq ($(MAKELEVEL)$(findstring n,$(firstword -$(MAKEFLAGS))),0)
    $(shell $(PEERS_SH) --no-deps >&2)
  endif
endif
BENCH_SRC_PEERS := mimalloc-3 mimalloc-2 rpmalloc snmalloc
BENCH_SRC_VAR_mimalloc-3 := PEER_MIMALLOC3
BENCH_SRC_VAR_mimalloc-2 := PEER_MIMALLOC2
BENCH_SRC_VAR_rpmalloc   := PEER_RPMALLOC
BENCH_SRC_VAR_snmalloc   := PEER_SNMALLOC
$(foreach p,$(BENCH_SRC_PEERS),$(eval BENCH_SRC_WANT_$(p) := $($(BENCH_SRC_VAR_$(p)))))
$(foreach p,$(BENCH_SRC_PEERS),$(eval BENCH_SRC_LIB_$(p) := $(wildcard $(BENCH_SRC_WANT_$(p)))))
BENCH_SRC_FOUND := $(foreach p,$(BENCH_SRC_PEERS),$(if $(BENCH_SRC_LIB_$(p)),$(p)))
BENCH_SRC_MISSING := $(filter-out $(BENCH_SRC_FOUND),$(BENCH_SRC_PEERS))
# What bench-instr preloads: the same libraries, but snmalloc's valgrind build when there is one.
PEER_SNMALLOC_VALGRIND ?= $(MIALLOC_PEER_DIR)/snmalloc-valgrind/libsnmallocshim.so
$(foreach p,$(BENCH_SRC_PEERS),$(eval BENCH_INSTR_LIB_$(p) := $(BENCH_SRC_LIB_$(p))))
BENCH_INSTR_LIB_snmalloc := $(or $(wildcard $(PEER_SNMALLOC_VALGRIND)),$(BENCH_SRC_LIB_snmalloc))
BENCH_INSTR_SRC_FOUND := $(foreach p,$(BENCH_SRC_PEERS),$(if $(BENCH_INSTR_LIB_$(p)),$(p)))

BENCH_DEF_mialloc := -DBENCH_MIALLOC=1 -DBENCH_NAME=mialloc
BENCH_DEF_mialloc-secure := -DBENCH_MIALLOC=1 -DMIALLOC_SECURE=4 -DBENCH_NAME=mialloc-secure
BENCH_DEF_glibc   := -DBENCH_MIALLOC=0 -DBENCH_NAME=glibc
$(foreach p,$(BENCH_PEERS),$(eval BENCH_DEF_$(p) := -DBENCH_MIALLOC=0 -DBENCH_NAME=$(p)))
$(foreach p,$(BENCH_PEERS),$(eval BENCH_LINK_$(p) := -Wl,--no-as-needed $(BENCH_LIB_$(p))))

define BENCH_RULE
$(BENCH_OUT)/$(1)-$(2): bench/$(1).c bench/bench.h $(if $(filter mialloc%,$(2)),mialloc.h)
	@mkdir -p $$(@D)
	$(CC_CLANG) $(BENCH_CFLAGS) $(BENCH_DEF_$(2)) $$< -o $$@ $(BENCH_LINK_$(2)) $(LDLIBS)
endef
$(foreach p,$(BENCH_PROGS),$(foreach a,mialloc mialloc-secure glibc $(BENCH_PEERS),$(eval $(call BENCH_RULE,$(p),$(a)))))

$(BENCH_OUT)/instr-mialloc: bench/instr.c mialloc.h
	@mkdir -p $(@D)
	$(CC_CLANG) $(BENCH_CFLAGS) -DBENCH_MIALLOC=1 $< -o $@ $(LDLIBS)
$(BENCH_OUT)/instr-mialloc-nosimd: bench/instr.c mialloc.h
	@mkdir -p $(@D)
	$(CC_CLANG) $(BENCH_CFLAGS) -DBENCH_MIALLOC=1 -DMIALLOC_NO_SIMD=1 $< -o $@ $(LDLIBS)
$(BENCH_OUT)/instr-plain: bench/instr.c
	@mkdir -p $(@D)
	$(CC_CLANG) $(BENCH_CFLAGS) -DBENCH_MIALLOC=0 $< -o $@ $(LDLIBS)

# The "(preload)" columns of bench/suite.py: the glibc build under LD_PRELOAD of each library.
BENCH_PRELOADS := --preload mialloc=$(SHARED_LIB) \
                  $(foreach p,$(BENCH_PEERS),$(if $(BENCH_LIB_$(p)),--preload $(p)=$(BENCH_LIB_$(p)))) \
                  $(foreach p,$(BENCH_SRC_FOUND),--preload $(p)=$(BENCH_SRC_LIB_$(p)))
# Extra arguments for bench/suite.py, e.g. make bench BENCH_SUITE_ARGS="--only larson --reps 1",
# and for bench/instr.py, e.g. make bench-instr BENCH_INSTR_ARGS="--patterns A,D"
BENCH_SUITE_ARGS ?=
BENCH_INSTR_ARGS ?=
BENCH_SUITE = python3 bench/suite.py --bin $(BENCH_OUT) --allocs $(subst $(BENCH_SPACE),$(BENCH_COMMA),$(BENCH_ALLOCS)) \
              $(BENCH_PRELOADS) --cc "$(CC_CLANG)"

bench-build: $(BENCH_BINS) $(SHARED_LIB)
bench-instr-build: $(BENCH_INSTR_BINS) $(SHARED_LIB)

# The memory-return workloads (frame loop, large-block reuse, thread churn): make bench-memret
include bench/memret.mk

# Quick: the churn table (mialloc/glibc and mialloc/mimalloc, bench/run.sh:
# 3 runs, 0.1 s per pattern), then bench/suite.py (29 workloads x up to 14
# columns, 3 reps, scale 0.3). Must stay <= 3 minutes on 2 cores.
bench:
	@$(BENCH_SAY_SKIPPED)
	@$(MAKE) --no-print-directory -j$(JOBS) bench-build
	@echo "== churn patterns: mialloc vs glibc vs libmimalloc (bench/run.sh)"
	@mkdir -p bench/results
	@set -o pipefail; CC=$(CC_CLANG) RUNS=3 BENCH_SECONDS=0.1 bash bench/run.sh | tee bench/results/churn.md
	@echo
	@echo "== workloads x allocators (bench/suite.py)"
	@$(BENCH_SUITE) --mode quick --out bench/results/latest $(BENCH_SUITE_ARGS)
	@echo
	@$(MAKE) --no-print-directory bench-memret

# Full: longer runs (scale 3), 5 reps, 1/2/8/16 threads, all 12 churn shapes,
# the same columns (~110 min on 2 cores with all 14 columns; not timed).
bench-full:
	@$(BENCH_SAY_SKIPPED)
	@$(MAKE) --no-print-directory -j$(JOBS) bench-build
	@echo "== churn patterns: mialloc vs glibc vs libmimalloc (bench/run.sh)"
	@mkdir -p bench/results
	@set -o pipefail; CC=$(CC_CLANG) bash bench/run.sh | tee bench/results/churn-full.md
	@echo
	@echo "== workloads x allocators, full (bench/suite.py)"
	@$(BENCH_SUITE) --mode full --out bench/results/full $(BENCH_SUITE_ARGS)
	@echo
	@$(MAKE) --no-print-directory bench-memret-full

bench-instr:
	@$(BENCH_SAY_SKIPPED)
	@$(MAKE) --no-print-directory -j$(JOBS) bench-instr-build
	@python3 bench/instr.py --bin $(BENCH_OUT) --out bench/results/instr --jobs $(JOBS) --cc "$(CC_CLANG)" \
	  --mialloc-preload $(SHARED_LIB) \
	  $(foreach p,$(BENCH_PEERS),$(if $(BENCH_LIB_$(p)),--peer $(p)=$(BENCH_LIB_$(p)))) \
	  $(foreach p,$(BENCH_INSTR_SRC_FOUND),--peer $(p)=$(BENCH_INSTR_LIB_$(p))) $(BENCH_INSTR_ARGS)

# The peers alone: Debian's (scripts/deps.sh bench) and those built from source.
peers:
	@$(PEERS_SH)

# A real run of both, then README.md's section between the bench markers is
# rewritten from bench/results/ (never edit that section by hand).
bench-readme:
	@$(MAKE) --no-print-directory bench
	@$(MAKE) --no-print-directory bench-instr
	@python3 bench/readme.py

clean:
	rm -rf $(BUILD)

.PHONY: all check-dialects test test-build test-run stress examples bench clean \
        bench-build bench-instr-build bench-full bench-instr bench-readme peers \
        $(addprefix check-,$(COMPILE_CHECKS)) check-undef check-ctags check-peers-sh $(EXAMPLE_STEPS) $(addprefix run-,$(TEST_CONFIGS)) \
        run-single-thread run-whitebox run-stress-release run-stress-tsan run-bench-smoke
