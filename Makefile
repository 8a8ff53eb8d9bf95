# sockleak: build the preload library, the command, examples, tests and benchmarks.
#
#   make          build everything (warning-free with -Wall -Wextra)
#   make test     build and run every test; the last line is "N passed, N failed"
#   make deps     install build and test dependencies (Debian 12, as root)
#   make bench    run the benchmarks (figures with and without the shim)
#   make install PREFIX=/usr/local

CC       ?= cc
CFLAGS   ?= -O2 -g
WARN     := -Wall -Wextra
BUILD    := build
PREFIX   ?= /usr/local

PKGS_SHIM := libunwind libdw libmnl
SHIM_CFLAGS := $(CFLAGS) $(WARN) -fPIC -fvisibility=hidden -pthread \
               -D_GNU_SOURCE -Ishim $(shell pkg-config --cflags $(PKGS_SHIM) 2>/dev/null)
# JVMTI headers (default-jdk-headless): without them Java frames are off.
JDK_INC := $(firstword $(wildcard /usr/lib/jvm/default-java/include /usr/lib/jvm/java-17-openjdk-amd64/include))
SHIM_CFLAGS += $(if $(JDK_INC),-I$(JDK_INC) -I$(JDK_INC)/linux)
SHIM_LIBS := $(shell pkg-config --libs $(PKGS_SHIM) 2>/dev/null || echo -lunwind -ldw -lelf -lmnl) -ldl -pthread

# The runtime (everything but the interposed hooks) is also linked into the
# unit tests, so it lives in its own archive.
RT_SRCS  := shim/real.c shim/attach.c shim/runtime.c shim/fdtable.c shim/stackdepot.c \
            shim/options.c shim/report.c shim/sockinfo.c shim/output.c shim/ownfd.c \
            shim/symbolize.c shim/suppress.c shim/live_host.c shim/live_signal.c shim/langframe.c \
            shim/lang.c shim/lang_python.c shim/lang_java.c shim/lang_node.c shim/objrange.c \
            shim/live_closed.c shim/sockdiag.c
RT_OBJS  := $(RT_SRCS:%.c=$(BUILD)/%.o)
HOOK_OBJS := $(BUILD)/shim/hooks.o $(BUILD)/shim/hooks_lang.o
SHIM_HDRS := $(wildcard shim/*.h shim/*.inc)

LIB      := $(BUILD)/libsockleak.so
RT_LIB   := $(BUILD)/libsockleak_rt.a

# The watcher process a program under the shim starts (live detection); it
# is found next to the library, so it is built and installed beside it.
WATCHER  := $(BUILD)/sockleak-watcher
WATCH_SRCS := shim/watch_main.c shim/watch_quiet.c shim/watch_fin.c shim/watch_peers.c \
              shim/watch_pressure.c shim/watch_snapshot.c
DIAG_OBJ := $(BUILD)/shim/sockdiag.o
MNL_LIBS := $(shell pkg-config --libs libmnl 2>/dev/null || echo -lmnl)


NODE_PRELOAD := $(BUILD)/sockleak-node.js

all: $(LIB) $(NODE_PRELOAD) $(WATCHER)

# node's preload lives next to the library, which finds it there.
$(NODE_PRELOAD): shim/lang_node.js
	@mkdir -p $(dir $@)
	cp $< $@

# The library is linked with link-time optimization: every socket event
# goes from a hook through the runtime's small functions in other files (the
# fd table, the records, the live region), which LTO inlines. The objects
# are fat, so the runtime archive (unit tests, the watcher) links without it.
SHIM_LTO := -flto=auto -ffat-lto-objects

$(BUILD)/shim/%.o: shim/%.c $(SHIM_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(SHIM_CFLAGS) $(SHIM_LTO) -c -o $@ $<

$(LIB): $(HOOK_OBJS) $(RT_OBJS)
	$(CC) $(CFLAGS) $(WARN) $(SHIM_LTO) -shared -Wl,-z,defs -Wl,-z,now -o $@ $^ $(SHIM_LIBS)

$(RT_LIB): $(RT_OBJS)
	rm -f $@ && ar rcs $@ $^

$(WATCHER): $(WATCH_SRCS:%.c=$(BUILD)/%.o) $(RT_LIB)
	$(CC) -o $@ $^ $(SHIM_LIBS) $(MNL_LIBS)

# Each part of the tree adds its own targets to these lists.
TEST_TARGETS :=
BENCH_TARGETS :=
-include examples/examples.mk
-include tools/tools.mk
-include tests/unit/unit.mk
-include tests/unit/asan.mk
-include tests/e2e/e2e.mk
-include tests/fuzz/fuzz.mk
-include tests/docs/docs.mk
-include bench/bench.mk

test: all
	@sh tests/run-all.sh $(TEST_TARGETS)

bench: all $(BENCH_TARGETS)

deps:
	apt-get update -q
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
	  build-essential pkg-config libunwind-dev libdw-dev libelf-dev libcmocka-dev \
	  libjson-c-dev libmnl-dev python3 curl socat default-jdk-headless redis-server iproute2 \
	  nginx-light clang libclang-rt-14-dev nodejs

install: all
	install -d $(DESTDIR)$(PREFIX)/lib $(DESTDIR)$(PREFIX)/bin
	install -m 0755 $(LIB) $(WATCHER) $(DESTDIR)$(PREFIX)/lib/
	install -m 0644 $(NODE_PRELOAD) $(DESTDIR)$(PREFIX)/lib/
	$(if $(wildcard $(BUILD)/sockleak),install -m 0755 $(BUILD)/sockleak $(DESTDIR)$(PREFIX)/bin/)
	$(if $(wildcard docs/sockleak.1),install -d $(DESTDIR)$(PREFIX)/share/man/man1 && install -m 0644 docs/sockleak.1 $(DESTDIR)$(PREFIX)/share/man/man1/)

clean:
	rm -rf $(BUILD)

.PHONY: all test bench deps install clean
