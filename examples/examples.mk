# The CLOSE_WAIT story as runnable programs (see examples/demo.sh):
# db_server refuses logins and hangs up; leaky_client leaks every refused
# connection; fixed_client is the same with the fix.
EXAMPLES := db_server leaky_client fixed_client
EXAMPLE_BINS := $(EXAMPLES:%=$(BUILD)/examples/%)

$(BUILD)/examples/%: examples/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(WARN) -o $@ $<

all: $(EXAMPLE_BINS)

examples: $(EXAMPLE_BINS)
.PHONY: examples
