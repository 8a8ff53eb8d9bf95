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

# bench-live: the issue's bars with default options (live detection on):
# recv/read loop, ping-pong between two processes, connect/accept/close
# churn and an epoll keep-alive server, with and without the shim: three
# long-lived programs (without, with, without again) taking turns in bursts,
# 15 rounds, medians of the per-round ratios; a fourth program, without the
# shim, makes the kernel calls of #9's socket identity in the churn (what of
# the churn bar they alone take on this machine); then the idle cost of
# 10,000 connections.
LIVE_BENCH := $(BUILD)/bench/live_bench
KA_SERVER  := $(BUILD)/bench/ka_server

$(BUILD)/bench/%: bench/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(WARN) -D_GNU_SOURCE -o $@ $<

all: $(LIVE_BENCH) $(KA_SERVER)

bench-live: $(LIVE_BENCH) $(KA_SERVER) $(LIB) $(WATCHER)
	$(LIVE_BENCH) $(LIB) $(KA_SERVER)

BENCH_TARGETS += bench-live
.PHONY: bench-live

# bench-lang: Python create_connection (and a bare socket()+close()), Java
# Socket and node net.connect to a local server, with and without the shim
# (language frames recorded), medians of interleaved runs.
bench-lang: $(LIB) $(NODE_PRELOAD)
	python3 bench/lang_bench.py $(LIB)

BENCH_TARGETS += bench-lang
.PHONY: bench-lang

# bench-attach: command to attached (and detach) for quiet targets, 20 cycles.
bench-attach: $(LIB) $(BUILD)/sockleak $(E2E_DIR)/progs/attach_svc
	python3 bench/attach_bench.py $(BUILD)

BENCH_TARGETS += bench-attach
.PHONY: bench-attach

# bench-exit: what the shim adds to exit(0) and _exit(0) of a program that
# holds 100 or 10,000 idle connections (issue 9: the exit path's cost grows
# with the leaks, not the connections), without and with the shim; give an
# older build to compare:  make bench-exit EXIT_BENCH_BEFORE=/path/libsockleak.so
EXIT_BENCH := $(BUILD)/bench/exit_bench

# it also times one sock_diag dump (shim/sockdiag.c, libmnl)
$(EXIT_BENCH): bench/exit_bench.c shim/sockdiag.c shim/sockdiag.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(WARN) -D_GNU_SOURCE -Ishim -o $@ bench/exit_bench.c shim/sockdiag.c $(MNL_LIBS)

all: $(EXIT_BENCH)

bench-exit: $(EXIT_BENCH) $(LIB) $(WATCHER)
	$(EXIT_BENCH) 9 $(if $(EXIT_BENCH_BEFORE),before=$(EXIT_BENCH_BEFORE)) shim=$(abspath $(LIB))

BENCH_TARGETS += bench-exit
.PHONY: bench-exit
