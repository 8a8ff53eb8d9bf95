# End-to-end tests: real programs (examples/, the programs in tests/e2e/progs,
# curl, python3, java, redis, socat) run under LD_PRELOAD=build/libsockleak.so;
# the python3 tests assert on their JSON reports. Only the test names
# matching E2E_FILTER run, e.g.  E2E_FILTER=fork make test-e2e
E2E_DIR   := $(BUILD)/tests/e2e
E2E_PROGS := clean fortify dup fork exit closefd dtor_main kinds scm_rights \
             stdio_echo threads errno_check single_thread rawclose forkcopy pool_leak hostfds exit_signal churn exitmix \
             report_churn zone_race vforkclose
E2E_BINS  := $(E2E_PROGS:%=$(E2E_DIR)/progs/%) $(E2E_DIR)/progs/libdtor.so \
             $(E2E_DIR)/progs/libctor.so $(E2E_DIR)/progs/ctor_main
E2E_BINS  += $(patsubst tests/e2e/progs/%.c,$(E2E_DIR)/progs/%,$(wildcard tests/e2e/progs/live_*.c))
E2E_CFLAGS := $(CFLAGS) $(WARN) -D_GNU_SOURCE -pthread
E2E_HDRS  := tests/e2e/progs/e2e_prog.h

$(E2E_DIR)/progs/%: tests/e2e/progs/%.c $(E2E_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(E2E_CFLAGS) -o $@ $<

# recv()/read() into a fixed buffer must compile to __recv_chk/__read_chk.
$(E2E_DIR)/progs/fortify: tests/e2e/progs/fortify.c $(E2E_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(E2E_CFLAGS) -O2 -U_FORTIFY_SOURCE -D_FORTIFY_SOURCE=2 -o $@ $<

$(E2E_DIR)/progs/libdtor.so: tests/e2e/progs/dtor_lib.c
	@mkdir -p $(dir $@)
	$(CC) $(E2E_CFLAGS) -fPIC -shared -o $@ $<

$(E2E_DIR)/progs/libctor.so: tests/e2e/progs/ctor_lib.c
	@mkdir -p $(dir $@)
	$(CC) $(E2E_CFLAGS) -fPIC -shared -o $@ $<

$(E2E_DIR)/progs/ctor_main: tests/e2e/progs/ctor_main.c $(E2E_DIR)/progs/libctor.so
	$(CC) $(E2E_CFLAGS) -o $@ $< -L$(E2E_DIR)/progs -lctor -Wl,-rpath,'$$ORIGIN'

$(E2E_DIR)/progs/dtor_main: tests/e2e/progs/dtor_main.c $(E2E_DIR)/progs/libdtor.so $(E2E_HDRS)
	$(CC) $(E2E_CFLAGS) -o $@ $< -L$(E2E_DIR)/progs -ldtor -Wl,-rpath,'$$ORIGIN'

# sockleak attach: the same service as a full-RELRO PIE and without a PLT.
E2E_BINS  += $(E2E_DIR)/progs/attach_svc $(E2E_DIR)/progs/attach_churn \
             $(E2E_DIR)/progs/attach_svc_relro $(E2E_DIR)/progs/attach_svc_noplt \
             $(E2E_DIR)/progs/static_sleeper
$(E2E_DIR)/progs/attach_svc_relro: tests/e2e/progs/attach_svc.c $(E2E_HDRS)
	$(CC) $(E2E_CFLAGS) -fPIE -pie -Wl,-z,relro,-z,now -o $@ $<

$(E2E_DIR)/progs/attach_svc_noplt: tests/e2e/progs/attach_svc.c $(E2E_HDRS)
	$(CC) $(E2E_CFLAGS) -fno-plt -o $@ $<

E2E_BINS  += $(E2E_DIR)/progs/libattachdl.so
$(E2E_DIR)/progs/libattachdl.so: tests/e2e/progs/attach_dl_lib.c
	@mkdir -p $(dir $@)
	$(CC) $(E2E_CFLAGS) -fPIC -shared -Wl,-z,relro,-z,now -o $@ $<

# a statically linked program: sockleak attach must refuse it
$(E2E_DIR)/progs/static_sleeper: tests/e2e/progs/static_sleeper.c
	$(CC) $(E2E_CFLAGS) -static -o $@ $<

e2e-progs: $(E2E_BINS)

test-e2e: all $(E2E_BINS)
	@python3 tests/e2e/run.py $(E2E_FILTER)

TEST_TARGETS += test-e2e
.PHONY: test-e2e e2e-progs
