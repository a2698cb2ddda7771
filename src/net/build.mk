# src/net/build.mk: the network broker's pure parts (policy engine, DNS,
# wire headers), as a library testable without a VM.
# Included by the top Makefile after src/cli/build.mk.
#
#   $(BUILD)/libsilo-net.a    src/net/*.c
#   $(BUILD)/tests/test_net_* cmocka tests (tests/unit/test_net_*.c), linked with it

NET_LIB   := $(BUILD)/libsilo-net.a
NET_SRCS  := $(sort $(wildcard src/net/*.c))
NET_TESTS := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(wildcard tests/unit/test_net_*.c))

$(NET_LIB): $(NET_SRCS:%.c=$(BUILD)/%.o)
	@rm -f $@
	$(AR) rcs $@ $^

# The top Makefile links unit tests against libvmm.a only; add ours.
$(NET_TESTS): $(NET_LIB)
$(NET_TESTS): LDFLAGS += $(NET_LIB)
