# The runtime's unit tests again, runtime and tests built with
# -fsanitize=address,undefined (gcc's libasan and libubsan, which
# build-essential brings): memory errors, leaks and undefined behaviour in
# the runtime fail `make test`.   make test-unit-asan
ASAN_DIR   := $(BUILD)/asan
ASAN_FLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
ASAN_RT_OBJS := $(RT_SRCS:%.c=$(ASAN_DIR)/%.o)
ASAN_RT_LIB  := $(ASAN_DIR)/libsockleak_rt.a
ASAN_UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(ASAN_DIR)/tests/unit/%)

$(ASAN_DIR)/shim/%.o: shim/%.c $(SHIM_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(SHIM_CFLAGS) $(ASAN_FLAGS) -c -o $@ $<

$(ASAN_RT_LIB): $(ASAN_RT_OBJS)
	rm -f $@ && ar rcs $@ $^

$(ASAN_DIR)/tests/unit/%: tests/unit/%.c $(ASAN_RT_LIB) $(SHIM_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(UNIT_CFLAGS) $(ASAN_FLAGS) -o $@ $< $(ASAN_RT_LIB) $(SHIM_LIBS) -lcmocka $(UNIT_LIBS)

$(ASAN_DIR)/tests/unit/test_report: UNIT_LIBS := -ljson-c

test-unit-asan: $(ASAN_UNIT_BINS)
	@ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1 \
	  sh tests/cmocka-run.sh unit-asan $(ASAN_UNIT_BINS)

TEST_TARGETS += test-unit-asan
.PHONY: test-unit-asan
