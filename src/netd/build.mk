# src/netd/build.mk: silo-netd, the host-side network broker (one process
# per sandbox; docs/network.md). Included by the top Makefile after
# src/net/build.mk (needs NET_LIB).
#
#   $(BUILD)/silo-netd             src/netd/*.c + libsilo-net.a
#   $(BUILD)/tests/test_netd_log   cmocka (tests/unit/test_netd_log.c)
#   $(BUILD)/tests/test_netd_resolve  cmocka (tests/unit/test_netd_resolve.c)

NETD_SRCS := $(filter-out src/netd/jail_allow.c,$(sort $(wildcard src/netd/*.c)))

# userns.o: the user namespace of its filesystem view (view.c), as
# silo-vmm's jail makes its own (src/vmm/jail/userns.h)
NETD_SHARED := $(BUILD)/src/vmm/jail/userns.o

$(BUILD)/silo-netd: $(NETD_SRCS:%.c=$(BUILD)/%.o) $(NETD_SHARED) $(BUILD)/gen/netd_bpf.o $(NET_LIB)
	$(CC) $(CFLAGS) $^ -o $@ $(LDFLAGS) -lssl -lcrypto -lpthread

# silo-netd with the test-only SILO_NETD_TEST_SYSCALL (src/netd/jail.c):
# tests/e2e/test_netd.py makes it attempt a forbidden call. Never installed.
$(BUILD)/hooks/src/netd/jail.o: src/netd/jail.c
	@mkdir -p $(dir $@)
	$(CCACHE) $(CC) $(CFLAGS) -DSILO_NETD_TEST_HOOKS $(DEPFLAGS) -c $< -o $@

$(BUILD)/silo-netd-test-hooks: $(filter-out $(BUILD)/src/netd/jail.o,$(NETD_SRCS:%.c=$(BUILD)/%.o)) \
		$(BUILD)/hooks/src/netd/jail.o $(NETD_SHARED) $(BUILD)/gen/netd_bpf.o $(NET_LIB)
	$(CC) $(CFLAGS) $^ -o $@ $(LDFLAGS) -lssl -lcrypto -lpthread

test-hooks: $(BUILD)/silo-netd-test-hooks

# cmocka: the log line, escaping, stats file and rotation (log.c), linked
# with the two objects it needs rather than the whole daemon.
NETD_LOG_OBJS := $(BUILD)/src/netd/log.o $(BUILD)/src/netd/io.o
$(BUILD)/tests/test_netd_log: $(NETD_LOG_OBJS) $(NET_LIB)
$(BUILD)/tests/test_netd_log: LDFLAGS += $(NETD_LOG_OBJS) $(NET_LIB)

# cmocka: host lookups, the address families asked for, the cache (resolve.c).
NETD_RESOLVE_OBJS := $(BUILD)/src/netd/resolve.o $(NETD_LOG_OBJS)
$(BUILD)/tests/test_netd_resolve: $(NETD_RESOLVE_OBJS) $(NET_LIB)
$(BUILD)/tests/test_netd_resolve: LDFLAGS += $(NETD_RESOLVE_OBJS) $(NET_LIB)
