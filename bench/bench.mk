# Benchmarks, run by `make bench` (never by `make test`): each one adds its
# target to BENCH_TARGETS and prints its figures with and without the shim.

# bench-hooks: the cost of the wrapped calls (read, recv, EOF, socket+close,
# TCP connect) -- the program runs itself with and without LD_PRELOAD.
HOOKS_BENCH := $(BUILD)/bench/hooks_bench

$(HOOKS_BENCH): bench/hooks_bench.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(WARN) -D_GNU_SOURCE -o $@ $<

all: $(HOOKS_BENCH)

bench-hooks: $(HOOKS_BENCH) $(LIB)
	$(HOOKS_BENCH) $(LIB)

BENCH_TARGETS += bench-hooks
.PHONY: bench-hooks

# bench-watcher: one CLOSE_WAIT scan with 10,000 idle connections and 10 in
# CLOSE_WAIT (the runtime linked in, its scan called directly), and the
# program's ping-pong throughput with and without the shim's watcher.
WATCHER_BENCH := $(BUILD)/bench/watcher_bench

$(WATCHER_BENCH): bench/watcher_bench.c $(RT_LIB) $(SHIM_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(WARN) -D_GNU_SOURCE -pthread -Ishim -o $@ $< $(RT_LIB) $(SHIM_LIBS)

all: $(WATCHER_BENCH)

bench-watcher: $(WATCHER_BENCH) $(LIB)
	$(WATCHER_BENCH) $(LIB)

BENCH_TARGETS += bench-watcher
.PHONY: bench-watcher
