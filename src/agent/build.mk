# src/agent/build.mk: silo-init (guest agent), libsilo.a (proto + client),
# silo-agent (developer CLI) and the proto unit test.
#
# Included by the top Makefile (`include src/agent/build.mk`), where BUILD,
# CFLAGS, LDFLAGS, DEPFLAGS and the $(BUILD)/%.o rule already exist; or run
# on its own: `make -f src/agent/build.mk [BUILD=build] agent`.
#
#   $(BUILD)/silo-init       static, musl-gcc -Os: goes into the guest image
#   $(BUILD)/silo-init-host  same sources with the host compiler and CFLAGS,
#                            so `make asan` exercises the agent under ASan/UBSan
#   $(BUILD)/silo-agent      host developer client (src/tools/silo-agent.c)
#   $(BUILD)/libsilo.a       src/proto/*.c + src/client/*.c
#   $(BUILD)/tests/test_proto  cmocka unit test, linked with libsilo.a

ifeq ($(firstword $(MAKEFILE_LIST)),src/agent/build.mk)
# ---- standalone: the subset of the top Makefile we rely on ----
BUILD    ?= build
CC       ?= gcc
CFLAGS   := -std=gnu11 -O2 -g -Wall -Wextra -Werror -D_GNU_SOURCE \
            -fno-strict-aliasing -fstack-protector-strong -Isrc $(EXTRA_CFLAGS)
LDFLAGS  := $(EXTRA_LDFLAGS)
DEPFLAGS  = -MMD -MP
$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(DEPFLAGS) -c $< -o $@
$(BUILD)/tests/%: tests/unit/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(DEPFLAGS) -Itests/unit $< -o $@ $(LDFLAGS) -lcmocka -lpthread
-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
endif

MUSL_CC        ?= musl-gcc
AGENT_MUSL_INC := $(BUILD)/musl-include
SILO_LIB       := $(BUILD)/libsilo.a
PROTO_SRCS     := $(sort $(wildcard src/proto/*.c))
CLIENT_SRCS    := $(sort $(wildcard src/client/*.c))
AGENT_SRCS     := $(sort $(wildcard src/agent/*.c))
# The network daemon's header codecs and worker threads (plain C, shared
# with the host broker).
AGENT_NET_SRCS := src/net/wire.c src/net/dns.c src/net/workers.c src/net/acceptors.c
SILO_LIB_OBJS  := $(PROTO_SRCS:%.c=$(BUILD)/%.o) $(CLIENT_SRCS:%.c=$(BUILD)/%.o)
AGENT_MUSL_OBJS := $(AGENT_SRCS:%.c=$(BUILD)/musl/%.o) $(PROTO_SRCS:%.c=$(BUILD)/musl/%.o) \
                   $(AGENT_NET_SRCS:%.c=$(BUILD)/musl/%.o)
AGENT_HOST_OBJS := $(AGENT_SRCS:%.c=$(BUILD)/%.o) $(AGENT_NET_SRCS:%.c=$(BUILD)/%.o)
# musl has no sanitizer runtime; the host variant covers that.
MUSL_CFLAGS    := $(filter-out -fsanitize=% -fno-omit-frame-pointer,$(CFLAGS)) -Os \
                  -isystem $(AGENT_MUSL_INC)

.PHONY: agent agent-test
agent: $(BUILD)/silo-init $(BUILD)/silo-init-host $(BUILD)/silo-agent $(BUILD)/tests/test_proto

# musl-gcc does not see the kernel UAPI headers (linux/vm_sockets.h,
# linux/random.h); point it at the system's copies, and only those.
$(AGENT_MUSL_INC)/.stamp:
	@mkdir -p $(AGENT_MUSL_INC)
	ln -sfn /usr/include/linux $(AGENT_MUSL_INC)/linux
	ln -sfn /usr/include/$(shell gcc -print-multiarch)/asm $(AGENT_MUSL_INC)/asm
	ln -sfn /usr/include/asm-generic $(AGENT_MUSL_INC)/asm-generic
	@touch $@

$(BUILD)/musl/%.o: %.c $(AGENT_MUSL_INC)/.stamp
	@mkdir -p $(dir $@)
	$(MUSL_CC) $(MUSL_CFLAGS) $(DEPFLAGS) -c $< -o $@

$(BUILD)/silo-init: $(AGENT_MUSL_OBJS)
	$(MUSL_CC) -static -Os -s $^ -o $@

$(BUILD)/silo-init-host: $(AGENT_HOST_OBJS) $(SILO_LIB)
	$(CC) $(CFLAGS) $^ -o $@ $(LDFLAGS) -lpthread

$(SILO_LIB): $(SILO_LIB_OBJS)
	@rm -f $@
	$(AR) rcs $@ $^

$(BUILD)/silo-agent: $(BUILD)/src/tools/silo-agent.o $(SILO_LIB)
	$(CC) $(CFLAGS) $^ -o $@ $(LDFLAGS)

# The top Makefile links unit tests against libvmm.a only; add libsilo.a
# for ours (a target-specific append keeps its recipe unchanged).
$(BUILD)/tests/test_proto: $(SILO_LIB)
$(BUILD)/tests/test_proto: LDFLAGS += $(SILO_LIB)
# test_trim: the idle-trim schedule of silo-init, linked with its object.
$(BUILD)/tests/test_trim: $(BUILD)/src/agent/trim.o
$(BUILD)/tests/test_trim: LDFLAGS += $(BUILD)/src/agent/trim.o

# Host integration test: silo-init --listen unix:... driven by silo-agent.
agent-test: agent
	SILO_BUILD=$(BUILD) /usr/bin/python3 -m pytest -p no:cacheprovider -q tests/e2e/test_agent_host.py
