# src/netd/build.mk: silo-netd, the host-side network broker (one process
# per sandbox; docs/network.md). Included by the top Makefile after
# src/net/build.mk (needs NET_LIB).
#
#   $(BUILD)/silo-netd    src/netd/*.c + libsilo-net.a

NETD_SRCS := $(sort $(wildcard src/netd/*.c))

$(BUILD)/silo-netd: $(NETD_SRCS:%.c=$(BUILD)/%.o) $(NET_LIB)
	$(CC) $(CFLAGS) $^ -o $@ $(LDFLAGS) -lpthread
