# tests/ownership.mk - the lifecycle fuzzer (tests/lifecycle_fuzz.c, its own
# program): seeded random sequences of heap new/delete/destroy by owner and
# non-owner, heaps in exclusive and shared arenas, thread start and exit,
# cross-thread frees, races of an owner's exit with a delete, and fork,
# checked against a shadow model; at the end, with everything freed and
# collected, committed memory is within one segment per live thread of where
# it started. Included by the Makefile (uses TEST_*, RECORD, RESULTS, ...).
#
#   run-lifecycle-release, run-lifecycle-asan, run-lifecycle-tsan
#                     in make test: LIFECYCLE_SECONDS (6) each, with
#                     LIFECYCLE_ARGS (empty: heaps outlive their creator too;
#                     --no-orphan: every thread ends its heaps before it exits)
#   make run-lifecycle          the three steps alone
#   make run-lifecycle-orphans  release alone, outside the test record
# Replay one episode: build/lifecycle/lifecycle_fuzz-release --seed N --episodes 1 --trace
#
#   run-fork-init     in make test: tests/fork_init.c, a fork while another
#                     thread initialises the allocator (300 trials, ~5 s)

LIFECYCLE_SECONDS ?= 6
LIFECYCLE_ARGS ?=
LIFECYCLE_BIN := $(BUILD)/lifecycle
LIFECYCLE_CONFIGS := release asan tsan
LIFECYCLE_STEPS := $(addprefix run-lifecycle-,$(LIFECYCLE_CONFIGS))
LIFECYCLE_BINARIES := $(addprefix $(LIFECYCLE_BIN)/lifecycle_fuzz-,$(LIFECYCLE_CONFIGS))

$(LIFECYCLE_BINARIES): $(LIFECYCLE_BIN)/lifecycle_fuzz-%: tests/lifecycle_fuzz.c mialloc.h tests/runner.h
	@mkdir -p $(@D)
	$(TEST_CC_$*) $(TEST_CFLAGS_$*) $(TEST_INC) $< -o $@ $(TEST_LDFLAGS_$*) $(LDLIBS)

$(LIFECYCLE_STEPS): run-lifecycle-%: $(LIFECYCLE_BIN)/lifecycle_fuzz-%
	@$(RECORD) --needs $< run-lifecycle-$* $(RESULTS) $(RUN_TIMEOUT) env $(TEST_ENV_$*) $< --seconds $(LIFECYCLE_SECONDS) $(LIFECYCLE_ARGS)

run-lifecycle:
	@mkdir -p $(RESULTS)
	@$(MAKE) --no-print-directory -k -j$(JOBS) -O $(LIFECYCLE_BINARIES) || true
	@$(MAKE) --no-print-directory -k $(LIFECYCLE_STEPS) || true
	@bash scripts/total.sh $(RESULTS) $(LIFECYCLE_STEPS)

run-lifecycle-orphans: $(LIFECYCLE_BIN)/lifecycle_fuzz-release
	$< --seconds $(LIFECYCLE_SECONDS)

$(LIFECYCLE_BIN)/fork_init: tests/fork_init.c mialloc.h
	@mkdir -p $(@D)
	$(TEST_CC_release) $(TEST_CFLAGS_release) $(TEST_INC) $< -o $@ $(TEST_LDFLAGS_release) $(LDLIBS)

run-fork-init: $(LIFECYCLE_BIN)/fork_init
	@$(RECORD) --needs $< run-fork-init $(RESULTS) $(RUN_TIMEOUT) $<

TEST_STEPS += $(LIFECYCLE_STEPS) run-fork-init
TEST_BINARIES += $(LIFECYCLE_BINARIES) $(LIFECYCLE_BIN)/fork_init

.PHONY: run-lifecycle run-lifecycle-orphans run-fork-init $(LIFECYCLE_STEPS)
