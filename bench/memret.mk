# bench/memret.mk - the memory-return workloads (the "Memory return" issue):
# a game's frame loop, large-block reuse and thread churn, each a program of
# its own (bench/frame_loop.c, bench/large_reuse.c, bench/thread_churn.c,
# sharing bench/memret.h), run for every allocator by bench/memret.py.
# Included by the Makefile after the benchmark section (it uses BENCH_OUT,
# BENCH_CFLAGS, BENCH_PRELOADS and SHARED_LIB).
#
#   make bench-memret       quick (~30-60 s): one run per cell; make bench runs it
#   make bench-memret-full  full: median of 3 runs, longer windows; make bench-full runs it
#   make bench-memret MEMRET_ARGS="--only frame"    extra arguments for bench/memret.py
#   make bench-purge-delay  the return policy's trade-off (bench/purge_delay.py)
#
# Each program is built twice: against the header (-DBENCH_MIALLOC=1, the
# "mialloc" column) and with plain malloc/free (the "glibc" column, and every
# "<name> (preload)" column under LD_PRELOAD: build/libmialloc.so and the
# peers' libraries, the same list bench/suite.py gets). System calls are
# counted under strace when it is installed (bench/peers.sh installs it).

MEMRET_PROGS := frame_loop large_reuse thread_churn
MEMRET_BINS := $(foreach p,$(MEMRET_PROGS),$(BENCH_OUT)/$(p)-mialloc $(BENCH_OUT)/$(p)-glibc)
MEMRET_ARGS ?=
MEMRET = python3 bench/memret.py --bin $(BENCH_OUT) $(BENCH_PRELOADS)

define MEMRET_RULE
$(BENCH_OUT)/$(1)-$(2): bench/$(1).c bench/memret.h bench/bench.h $(if $(filter mialloc,$(2)),mialloc.h)
	@mkdir -p $$(@D)
	$(CC_CLANG) $(BENCH_CFLAGS) $(BENCH_DEF_$(2)) $$< -o $$@ $(LDLIBS)
endef
$(foreach p,$(MEMRET_PROGS),$(foreach a,mialloc glibc,$(eval $(call MEMRET_RULE,$(p),$(a)))))

bench-build: $(MEMRET_BINS)

bench-memret:
	@$(MAKE) --no-print-directory -j$(JOBS) $(MEMRET_BINS) $(SHARED_LIB)
	@echo "== memory return: frame loop, large-block reuse, thread churn (bench/memret.py)"
	@mkdir -p bench/results
	@$(MEMRET) --mode quick --out bench/results/memret $(MEMRET_ARGS)

bench-memret-full:
	@$(MAKE) --no-print-directory -j$(JOBS) $(MEMRET_BINS) $(SHARED_LIB)
	@echo "== memory return, full (bench/memret.py)"
	@mkdir -p bench/results
	@$(MEMRET) --mode full --out bench/results/memret-full $(MEMRET_ARGS)

# The return policy's trade-off: the three workloads (header build) with
# MIALLOC_PURGE_DELAY at 0, 10 (the default), 100, 1000 and -1, medians of 3
# (~2 min); the README's table under Configuration comes from it.
bench-purge-delay:
	@$(MAKE) --no-print-directory -j$(JOBS) $(filter %-mialloc,$(MEMRET_BINS))
	@mkdir -p bench/results
	@python3 bench/purge_delay.py --bin $(BENCH_OUT) --out bench/results/purge-delay

.PHONY: bench-memret bench-memret-full bench-purge-delay
