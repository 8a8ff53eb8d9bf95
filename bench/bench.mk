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

