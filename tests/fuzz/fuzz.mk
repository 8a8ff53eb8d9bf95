# Fuzz targets (libFuzzer, clang, ASan + UBSan): the SOCKLEAK_OPTIONS parser,
# the suppression-file parser and the sockleak command's report reader.
#   make test-fuzz        a bounded run of each (FUZZ_SECONDS each, default 10)
#   make fuzz FUZZ_SECONDS=600   a longer run, corpus kept in build/fuzz/
FUZZ_DIR    := $(BUILD)/fuzz
FUZZ_CC     := clang -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
               -D_GNU_SOURCE -Ishim -Itools
FUZZ_TARGETS := $(FUZZ_DIR)/fuzz_options $(FUZZ_DIR)/fuzz_suppress $(FUZZ_DIR)/fuzz_reader

$(FUZZ_DIR)/fuzz_options: tests/fuzz/fuzz_options.c shim/options.c shim/options.h shim/options.inc
	@mkdir -p $(dir $@)
	$(FUZZ_CC) -o $@ tests/fuzz/fuzz_options.c shim/options.c

$(FUZZ_DIR)/fuzz_suppress: tests/fuzz/fuzz_suppress.c shim/suppress.c shim/suppress.h
	@mkdir -p $(dir $@)
	$(FUZZ_CC) -o $@ tests/fuzz/fuzz_suppress.c shim/suppress.c

$(FUZZ_DIR)/fuzz_reader: tools/fuzz_reader.c $(TOOLS_SRCS) $(TOOLS_HDRS)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(shell pkg-config --cflags json-c) -o $@ tools/fuzz_reader.c $(TOOLS_SRCS) $(TOOLS_LIBS)

test-fuzz: $(FUZZ_TARGETS)
	@FUZZ_SECONDS=$${FUZZ_SECONDS:-10} sh tests/fuzz/run.sh $(FUZZ_DIR)

fuzz: $(FUZZ_TARGETS)
	@FUZZ_SECONDS=$${FUZZ_SECONDS:-600} FUZZ_KEEP=1 sh tests/fuzz/run.sh $(FUZZ_DIR)

TEST_TARGETS += test-fuzz
.PHONY: test-fuzz fuzz
