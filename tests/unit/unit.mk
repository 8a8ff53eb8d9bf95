# cmocka unit tests of the runtime: one tests/unit/test_<module>.c per module,
# each linked against the runtime archive.
UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/unit/%)
UNIT_CFLAGS := $(CFLAGS) $(WARN) -D_GNU_SOURCE -pthread -Ishim $(shell pkg-config --cflags cmocka 2>/dev/null)

$(BUILD)/tests/unit/%: tests/unit/%.c $(RT_LIB) $(SHIM_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(UNIT_CFLAGS) -o $@ $< $(RT_LIB) $(SHIM_LIBS) -lcmocka $(UNIT_LIBS)

# test_report parses the JSON Lines it writes with json-c.
$(BUILD)/tests/unit/test_report: UNIT_LIBS := -ljson-c

all: $(UNIT_BINS)

test-unit: $(UNIT_BINS)
	@sh tests/cmocka-run.sh unit $(UNIT_BINS)

TEST_TARGETS += test-unit
.PHONY: test-unit
