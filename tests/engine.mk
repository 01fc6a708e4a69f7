# tests/engine.mk - the game-engine facilities' own programs (included by the
# Makefile after TEST_STEPS and TEST_BINARIES are defined, as tests/hardening.mk
# is; it uses BUILD, CC_CLANG, CXX_CLANG, WARN_*, SAN_*, RECORD, RESULTS, ...).
# Each step ends with "N passed, N failed" for scripts/total.sh. (The engine
# tests of the main runner are tests/test_engine.c, in every TEST_CONFIGS run.)
#
#   run-hooks         tests/hooks.c, -DMIALLOC_HOOKS=1 -DMIALLOC_STATS=1: every
#                     entry point reports once with its usable size, heap
#                     destroy reports every live block, 8 threads against a
#                     shadow map, exact per-heap peaks (~1 s)
#   run-hooks-tsan    the same under TSan, MIALLOC_TEST_QUICK=1 (~2 s)
#   run-stl           tests/test_stl.cpp (C++17) under ASan/UBSan: std::map,
#                     unordered_map, vector, basic_string with 10^6 elements on
#                     mia_stl_allocator, mia_heap_stl_allocator and
#                     mia_heap_destroy_stl_allocator (~3 s)
#   run-stl-release   the same with the strict C++ release flags (~1 s)
#
#   make bench-instr-engine   instructions per malloc/free pair under callgrind:
#                     release, hooks compiled out, MIALLOC_HOOKS=1 with no hook
#                     and with no-op hooks, MIALLOC_STATS=1, and
#                     mia_malloc_aligned(32, 16/32/64) (tests/instr_engine.sh)

ENGINE_BIN := $(BUILD)/engine
ENGINE_CFLAGS := -std=gnu11 -O2 -g $(MARCH) $(WARN_CLANG) -Werror $(THREADS)
ENGINE_HOOKS_DEF := -DMIALLOC_HOOKS=1 -DMIALLOC_STATS=1

$(ENGINE_BIN)/hooks: tests/hooks.c mialloc.h tests/runner.h
	@mkdir -p $(@D)
	$(CC_CLANG) $(ENGINE_CFLAGS) $(ENGINE_HOOKS_DEF) $(TEST_INC) $< -o $@ $(LDLIBS)
$(ENGINE_BIN)/hooks-tsan: tests/hooks.c mialloc.h tests/runner.h
	@mkdir -p $(@D)
	$(CC_CLANG) $(TEST_CFLAGS_tsan) $(ENGINE_HOOKS_DEF) $(TEST_INC) $< -o $@ $(TEST_LDFLAGS_tsan) $(LDLIBS)
$(ENGINE_BIN)/test_stl: tests/test_stl.cpp mialloc.h
	@mkdir -p $(@D)
	$(CXX_CLANG) $(STRICT_CXX_CLANG) $(THREADS) -I. $< -o $@
$(ENGINE_BIN)/test_stl-asan: tests/test_stl.cpp mialloc.h
	@mkdir -p $(@D)
	$(CXX_CLANG) -std=c++17 -O1 -g $(MARCH) $(SAN_ASAN) $(WARN_CLANGXX) -Werror $(THREADS) -I. $< -o $@

run-hooks: $(ENGINE_BIN)/hooks
	@$(RECORD) --needs $< run-hooks $(RESULTS) $(RUN_TIMEOUT) $<
run-hooks-tsan: $(ENGINE_BIN)/hooks-tsan
	@$(RECORD) --needs $< run-hooks-tsan $(RESULTS) $(RUN_TIMEOUT) env $(TEST_ENV_tsan) $<
run-stl: $(ENGINE_BIN)/test_stl-asan
	@$(RECORD) --needs $< run-stl $(RESULTS) $(RUN_TIMEOUT) env $(TEST_ENV_asan) $<
run-stl-release: $(ENGINE_BIN)/test_stl
	@$(RECORD) --needs $< run-stl-release $(RESULTS) $(RUN_TIMEOUT) $<

ENGINE_STEPS := run-hooks run-hooks-tsan run-stl run-stl-release
TEST_STEPS += $(ENGINE_STEPS)
TEST_BINARIES += $(addprefix $(ENGINE_BIN)/,hooks hooks-tsan test_stl test_stl-asan)

# ---------------------------------------------------------------------------
# Instructions per pair (callgrind): one binary per configuration.
# ---------------------------------------------------------------------------
ENGINE_INSTR_CFLAGS := -std=gnu11 -O2 $(MARCH) -fno-exceptions $(WARN_CLANG) -Werror $(THREADS)
ENGINE_INSTR_CONFIGS := release off hooks stats
ENGINE_INSTR_DEF_release :=
ENGINE_INSTR_DEF_off := -DMIALLOC_HOOKS=0 -DMIALLOC_STATS=0
ENGINE_INSTR_DEF_hooks := -DMIALLOC_HOOKS=1
ENGINE_INSTR_DEF_stats := -DMIALLOC_STATS=1
ENGINE_INSTR_BINS := $(addprefix $(ENGINE_BIN)/instr-,$(ENGINE_INSTR_CONFIGS))

$(ENGINE_INSTR_BINS): $(ENGINE_BIN)/instr-%: tests/instr_engine.c mialloc.h
	@mkdir -p $(@D)
	$(CC_CLANG) $(ENGINE_INSTR_CFLAGS) $(ENGINE_INSTR_DEF_$*) -I. $< -o $@ $(LDLIBS)

bench-instr-engine: $(ENGINE_INSTR_BINS)
	@bash tests/instr_engine.sh $(ENGINE_BIN)

.PHONY: $(ENGINE_STEPS) bench-instr-engine
