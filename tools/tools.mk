# The sockleak command (tools/) and its tests (tests/tools/).
#   make build/sockleak    the command
#   make test-tools        unit tests, the reader's fuzz loop and end-to-end tests
#   (the reader's libFuzzer target is built and run by tests/fuzz/fuzz.mk)
TOOLS_CFLAGS := $(CFLAGS) $(WARN) -D_GNU_SOURCE -Itools -Ishim $(shell pkg-config --cflags json-c 2>/dev/null)
TOOLS_LIBS   := $(shell pkg-config --libs json-c 2>/dev/null || echo -ljson-c) \
                $(shell pkg-config --libs libmnl 2>/dev/null || echo -lmnl)
TOOLS_SRCS   := tools/reader.c tools/group.c tools/suppress.c shim/suppress.c shim/langframe.c tools/baseline.c \
                tools/analyze.c tools/output_text.c tools/output_json.c tools/output_sarif.c \
                tools/cli.c tools/passthrough.c tools/cmd_report.c tools/cmd_run.c tools/cmd_scan.c \
                shim/sockdiag.c \
                tools/inject.c tools/cmd_attach.c
TOOLS_OBJS   := $(TOOLS_SRCS:%.c=$(BUILD)/%.o)
TOOLS_HDRS   := $(wildcard tools/*.h) shim/options.h shim/options.inc shim/suppress.h \
                shim/sockdiag.h shim/langframe.h
TOOLS_LIB    := $(BUILD)/tools/libsockleak_cli.a

$(BUILD)/tools/%.o: tools/%.c $(TOOLS_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(TOOLS_CFLAGS) -c -o $@ $<

$(TOOLS_LIB): $(TOOLS_OBJS)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/sockleak: $(BUILD)/tools/sockleak.o $(TOOLS_LIB)
	$(CC) $(CFLAGS) -o $@ $^ $(TOOLS_LIBS)

all: $(BUILD)/sockleak

# cmocka unit tests: one tests/tools/test_<module>.c per module.
TOOLS_TEST_SRCS := $(wildcard tests/tools/test_*.c)
TOOLS_TEST_BINS := $(TOOLS_TEST_SRCS:tests/tools/%.c=$(BUILD)/tests/tools/%)
# Small programs the end-to-end tests run under the shim.
TOOLS_PROG_SRCS := $(wildcard tests/tools/prog_*.c)
TOOLS_PROG_BINS := $(TOOLS_PROG_SRCS:tests/tools/%.c=$(BUILD)/tests/tools/%)

$(BUILD)/tests/tools/test_%: tests/tools/test_%.c tests/tools/fixtures.h $(TOOLS_LIB) $(TOOLS_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(TOOLS_CFLAGS) -DFIXTURES=\"tests/tools/fixtures\" $(shell pkg-config --cflags cmocka 2>/dev/null) \
	  -o $@ $< $(TOOLS_LIB) $(TOOLS_LIBS) -lcmocka

$(BUILD)/tests/tools/prog_%: tests/tools/prog_%.c tests/tools/prog_common.h
	@mkdir -p $(dir $@)
	$(CC) -O0 -g -fno-omit-frame-pointer -fno-inline $(WARN) -D_GNU_SOURCE -o $@ $<

test-tools: $(LIB) $(BUILD)/sockleak $(TOOLS_TEST_BINS) $(TOOLS_PROG_BINS)
	@sh tests/tools/run.sh $(TOOLS_TEST_BINS)

TEST_TARGETS += test-tools
.PHONY: test-tools
