# tests/hardening.mk - the hardening suite's own programs (included by the
# Makefile after TEST_STEPS and TEST_BINARIES are defined, as tests/override.mk
# is; it uses BUILD, CC_CLANG, WARN_CLANG, RECORD, RESULTS, ...). Each step
# ends with "N passed, N failed" for scripts/total.sh.
#
#   run-death-debug     tests/death.c, -DMIALLOC_DEBUG=1: every misuse case
#                       (double free, interior/foreign pointer, overflow into
#                       the padding, write to a freed link, wrong size or
#                       alignment to a sized free) in a child: killed by
#                       SIGABRT with the expected message; then again with
#                       mia_register_error: reported, skipped, still working
#   run-death-secure    the same, -DMIALLOC_SECURE=4
#   run-faults-release  tests/faults.c: the Nth reserve/commit/decommit/protect
#                       call fails (N over the workload's range), then a run
#                       under RLIMIT_AS
#   run-faults-secure1  the same, -DMIALLOC_SECURE=1 (guard pages: protect)
#   run-memory          tests/memory.c: 1 GiB freed and collected, RSS after
#                       the purge delay, producer/consumer RSS (30 s), remote
#                       frees while the owner is idle or gone
#   run-fuzz-asan       tests/fuzz.c under libFuzzer + ASan/UBSan, FUZZ_TEST_SECONDS
#   run-fuzz-secure     the same with -DMIALLOC_SECURE=4 (clang only)
#
#   make fuzz FUZZ_SECONDS=N   both fuzz builds, N seconds each (default 60)
#   make test-long             the memory test alone (what run-memory runs)
# (run-secure, the test runner under -DMIALLOC_SECURE=4, is a TEST_CONFIGS
# entry of the Makefile.)

HARD_BIN := $(BUILD)/hardening
HARD_CFLAGS := -std=gnu11 -O2 -g $(MARCH) $(WARN_CLANG) -Werror $(THREADS)

HARD_PROGRAMS := death-debug death-secure faults-release faults-secure1 memory
HARD_SRC_death-debug    := tests/death.c
HARD_DEF_death-debug    := -DMIALLOC_DEBUG=1
HARD_SRC_death-secure   := tests/death.c
HARD_DEF_death-secure   := -DMIALLOC_SECURE=4
HARD_SRC_faults-release := tests/faults.c
HARD_DEF_faults-release :=
HARD_SRC_faults-secure1 := tests/faults.c
HARD_DEF_faults-secure1 := -DMIALLOC_SECURE=1
HARD_SRC_memory         := tests/memory.c
HARD_DEF_memory         :=

define HARD_RULES
$(HARD_BIN)/$(1): $(HARD_SRC_$(1)) mialloc.h tests/runner.h
	@mkdir -p $$(@D)
	$(CC_CLANG) $(HARD_CFLAGS) $(HARD_DEF_$(1)) $(TEST_INC) $$< -o $$@ $(LDLIBS)

run-$(1): $(HARD_BIN)/$(1)
	@$$(RECORD) --needs $$< run-$(1) $$(RESULTS) $$(RUN_TIMEOUT) $$<
endef
$(foreach p,$(HARD_PROGRAMS),$(eval $(call HARD_RULES,$(p))))

test-long: $(HARD_BIN)/memory
	@$<

# ---------------------------------------------------------------------------
# Fuzzing: clang with libFuzzer's runtime (libclang-rt-19-dev) only.
# ---------------------------------------------------------------------------
FUZZ_SECONDS ?= 60
FUZZ_TEST_SECONDS ?= 30
FUZZ_DIR := $(BUILD)/fuzz
FUZZ_CFLAGS := -std=gnu11 -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
               -fno-omit-frame-pointer $(WARN_CLANG) -Werror $(THREADS)
FUZZ_RT := $(if $(filter 1,$(CC_IS_CLANG)),$(shell $(CC_CLANG) -print-file-name=libclang_rt.fuzzer-$(shell uname -m).a 2>/dev/null))
FUZZ_OK := $(if $(FUZZ_RT),$(wildcard $(FUZZ_RT)))
FUZZ_BUILDS := asan secure
FUZZ_DEF_asan :=
FUZZ_DEF_secure := -DMIALLOC_SECURE=4

define FUZZ_RULES
$(FUZZ_DIR)/fuzz-$(1): tests/fuzz.c mialloc.h
	@mkdir -p $$(@D)
	$(CC_CLANG) $(FUZZ_CFLAGS) $(FUZZ_DEF_$(1)) $$< -o $$@

run-fuzz-$(1): $(FUZZ_DIR)/fuzz-$(1)
	@$$(RECORD) --needs $$< run-fuzz-$(1) $$(RESULTS) $$(RUN_TIMEOUT) bash scripts/fuzz.sh $$< $$(FUZZ_TEST_SECONDS) $(FUZZ_DIR)/corpus-$(1)
endef
$(foreach b,$(FUZZ_BUILDS),$(eval $(call FUZZ_RULES,$(b))))

fuzz: $(addprefix $(FUZZ_DIR)/fuzz-,$(FUZZ_BUILDS))
	@for b in $(FUZZ_BUILDS); do bash scripts/fuzz.sh $(FUZZ_DIR)/fuzz-$$b $(FUZZ_SECONDS) $(FUZZ_DIR)/corpus-$$b || exit 1; done

HARD_STEPS := $(addprefix run-,$(HARD_PROGRAMS))
TEST_BINARIES += $(addprefix $(HARD_BIN)/,$(HARD_PROGRAMS))
ifneq ($(FUZZ_OK),)
  HARD_STEPS += $(addprefix run-fuzz-,$(FUZZ_BUILDS))
  TEST_BINARIES += $(addprefix $(FUZZ_DIR)/fuzz-,$(FUZZ_BUILDS))
else ifneq ($(filter test fuzz,$(MAKECMDGOALS)),)
  $(info mialloc: run-fuzz-* left out: no libFuzzer runtime for $(CC_CLANG) (install libclang-rt-19-dev))
endif
TEST_STEPS += $(HARD_STEPS)

.PHONY: test-long fuzz $(HARD_STEPS) run-fuzz-asan run-fuzz-secure

# The memory checks with the strict cross-thread bound (a known gap: see the notes).
.PHONY: test-memory-strict
test-memory-strict: $(BUILD)/hardening/memory
	MIALLOC_TEST_STRICT_MEMORY=1 $(BUILD)/hardening/memory
