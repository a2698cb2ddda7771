# silo — top-level build. `make help` lists the targets.
CC       ?= gcc
BUILD    ?= build
OPT      ?= -O2
# The flags every C build shares (host binaries, unit tests, fuzzers).
BASE_CFLAGS := -std=gnu11 -g -Wall -Wextra -Werror -D_GNU_SOURCE -Isrc
CFLAGS   := $(BASE_CFLAGS) $(OPT) -fno-strict-aliasing -fstack-protector-strong $(EXTRA_CFLAGS)
LDFLAGS  := $(EXTRA_LDFLAGS)
DEPFLAGS  = -MMD -MP
# Objects compile through ccache when it is installed (make deps does), its
# cache beside the guest artifacts: a fresh clone on a machine that built
# before (CI) compiles nothing again. `make CCACHE=` compiles without it.
ifeq ($(origin CCACHE),undefined)
CCACHE   := $(shell command -v ccache 2>/dev/null)
endif
ifndef CCACHE_DIR
export CCACHE_DIR := $(shell . scripts/cache.sh && echo "$$SILO_CACHE")/ccache
endif
export CCACHE_BASEDIR := $(CURDIR)
export CCACHE_NOHASHDIR := true

# The jail's allowlists and their compiler are build-time only (below).
JAIL_GEN_SRCS := src/vmm/jail/bpfgen.c $(sort $(wildcard src/vmm/jail/allow_*.c)) \
                 src/netd/jail_allow.c
VMM_SRCS  := $(filter-out $(JAIL_GEN_SRCS),$(shell find src/vmm -name '*.c' | sort))
VMM_OBJS  := $(VMM_SRCS:%.c=$(BUILD)/%.o) $(BUILD)/gen/jail_bpf.o
VMM_LIB   := $(BUILD)/libvmm.a
UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)
FUZZ_SRCS := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BINS := $(FUZZ_SRCS:tests/fuzz/%.c=$(BUILD)/fuzz/%)

PHONY_EXTRA := test-hooks e2b-sdk agents
.PHONY: $(PHONY_EXTRA) soak all deps image lab test unit fuzz fuzz-build e2e bench asan asan-build demo clean help
all: deps $(BUILD)/silo-vmm $(BUILD)/silo-init $(BUILD)/silo-init-host $(BUILD)/silo-agent $(BUILD)/silo $(BUILD)/silo-serve $(BUILD)/silo-runtime $(BUILD)/silo-netd

help:
	@echo "make          host binaries ($(BUILD)/silo-vmm, silo-agent) and the guest agent silo-init"
	@echo "make image    guest kernel + test initramfs (cached in ~/.cache/silo)"
	@echo "make test     unit tests, fuzz runs, e2e tests (in the lab when /dev/kvm cannot boot Linux)"
	@echo "make fuzz     libFuzzer targets (make fuzz-build builds them), FUZZ_SECONDS each"
	@echo "make bench    benchmarks (table + JSON)"
	@echo "make asan     sanitizer build; runs the unit tests and the e2e boot test with it"
	@echo "make test ASAN=1   make test and make asan's tests together (what CI runs)"
	@echo "make install [PREFIX=/usr/local] [DESTDIR=]   (and make uninstall); make deb: build/silo_*.deb"
	@echo "make demo     a sandbox builds and runs a Docker container (in the lab without usable KVM)"
	@echo "make format   C style of src/ and tests (.clang-format); make format-check checks it"

deps:
	@scripts/deps.sh build unit agent

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CCACHE) $(CC) $(CFLAGS) $(DEPFLAGS) -c $< -o $@

$(VMM_LIB): $(filter-out $(BUILD)/src/vmm/main.o,$(VMM_OBJS))
	@rm -f $@
	$(AR) rcs $@ $^

$(BUILD)/silo-vmm: $(BUILD)/src/vmm/main.o $(VMM_LIB)
	$(CC) $(CFLAGS) $^ -o $@ $(LDFLAGS) -lpthread

# silo-vmm's seccomp filters, compiled from src/vmm/jail/allow_*.c with
# libseccomp at build time (src/vmm/jail/bpfgen.c): silo-vmm only loads them.
$(BUILD)/jail-bpfgen: $(JAIL_GEN_SRCS) src/vmm/jail/seccomp.h src/vmm/jail/allow.h src/netd/jail.h
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CFLAGS) -O1 $(JAIL_GEN_SRCS) -o $@ -lseccomp

$(BUILD)/gen/jail_bpf.c: $(BUILD)/jail-bpfgen
	@mkdir -p $(dir $@)
	$< > $@.tmp && mv $@.tmp $@

$(BUILD)/gen/jail_bpf.o: $(BUILD)/gen/jail_bpf.c
	$(CCACHE) $(CC) $(CFLAGS) $(DEPFLAGS) -c $< -o $@

# silo-netd's, from src/netd/jail_allow.c (src/netd/jail.c loads it).
$(BUILD)/gen/netd_bpf.c: $(BUILD)/jail-bpfgen
	@mkdir -p $(dir $@)
	$< netd > $@.tmp && mv $@.tmp $@

$(BUILD)/gen/netd_bpf.o: $(BUILD)/gen/netd_bpf.c
	$(CCACHE) $(CC) $(CFLAGS) $(DEPFLAGS) -c $< -o $@

# silo-vmm with the test-only control command "test-syscall ROLE"
# (src/vmm/jail/testhook.c): tests/e2e/test_jail.py makes each thread role
# attempt a forbidden call with it. Never installed.
HOOK_OBJS := $(VMM_SRCS:%.c=$(BUILD)/hooks/%.o) $(BUILD)/gen/jail_bpf.o
$(BUILD)/hooks/%.o: %.c
	@mkdir -p $(dir $@)
	$(CCACHE) $(CC) $(CFLAGS) -DSILO_VMM_TEST_HOOKS $(DEPFLAGS) -c $< -o $@

$(BUILD)/silo-vmm-test-hooks: $(HOOK_OBJS)
	$(CC) $(CFLAGS) $^ -o $@ $(LDFLAGS) -lpthread

test-hooks: $(BUILD)/silo-vmm-test-hooks

# Kept (not removed as an intermediate): ccache and make -MMD know them.
.PRECIOUS: $(BUILD)/tests/%.o
$(BUILD)/tests/%.o: tests/unit/%.c
	@mkdir -p $(dir $@)
	$(CCACHE) $(CC) $(CFLAGS) $(DEPFLAGS) -Itests/unit -c $< -o $@

$(BUILD)/tests/%: $(BUILD)/tests/%.o $(VMM_LIB)
	$(CC) $(CFLAGS) $< $(VMM_LIB) -o $@ $(LDFLAGS) -lcmocka -lpthread

unit: deps $(UNIT_BINS)

# silo-init (guest agent, static musl), libsilo.a (proto + client), silo-agent.
include src/agent/build.mk
include src/cli/build.mk
include src/net/build.mk
include src/netd/build.mk
include src/oci/build.mk
# version.h, make install/uninstall, make deb.
include mk/install.mk
include mk/format.mk

# Guest artifacts: each script builds into the cache only when its inputs changed
# and prints the cache directory; build/guest/ holds symlinks to the results.
image: $(BUILD)/silo-init
	@scripts/deps.sh kernel rootfs
	@scripts/image.sh

lab: image
	@scripts/deps.sh lab
	@tests/lab/build.sh >/dev/null

# What `make asan` runs end to end with the sanitizer build: the agent on the
# host, silo cp unpacking hostile tar streams, silo-vmm booting a guest and
# serving a disk on its own thread (in the lab without usable KVM), and
# silo-netd fed malformed headers by a fake guest, silo serve fed bad
# requests and a flood of them, and silo-runtime's command line and errors.
ASAN_E2E_MODULES := tests/e2e/test_agent_host.py tests/e2e/test_cp_hostile.py tests/e2e/test_vmm.py \
                    tests/e2e/test_netd.py tests/e2e/test_netd_secrets.py tests/e2e/test_serve_host.py \
                    tests/e2e/test_oci_host.py
ASAN_E2E_FILTER  := test_agent_host or test_cp_hostile or boot_to_marker or bzimage or balloon or stalled_disk \
                    or test_netd or test_serve_host or test_oci_host

# `make test ASAN=1` also runs what `make asan` runs, in the same lab host:
# one lab boot fewer, and its boots share the lab's two lanes (.ci/run).
# The E2B SDK and its Node, from the npm registry into the cache, for
# tests/e2e/test_e2b.py (scripts/e2b-sdk.sh); build/e2b-sdk links to them.
e2b-sdk:
	@mkdir -p build && ln -sfn "$$(scripts/e2b-sdk.sh)" build/e2b-sdk

# The coding agents' npm packages (scripts/agents.sh), for
# tests/e2e/test_agents.py and bench/agent.py: build/agents links to them.
agents: $(BUILD)/silo
	@mkdir -p build && ln -sfn "$$(scripts/agents.sh $(BUILD)/silo claude codex)" build/agents

test: all unit image test-hooks e2b-sdk agents $(E2E_HELPERS) $(if $(ASAN),asan-build)
	@scripts/deps.sh e2e fuzz
	@$(if $(ASAN),SILO_ASAN_BUILD=build/asan SILO_ASAN_E2E_MODULES="$(ASAN_E2E_MODULES)" \
	  SILO_ASAN_E2E_FILTER="$(ASAN_E2E_FILTER)") scripts/test.sh

# libFuzzer targets (tests/fuzz/), built by clang into $(BUILD)/fuzz/ from
# objects of their own (the sanitizer and coverage flags differ from CFLAGS);
# scripts/fuzz.sh runs them. Only the pure virtio code (no KVM, no event loop)
# goes into the virtio fuzzers; fuzz_mmio gets the transport with every device
# behind it (no KVM: the test host gives no ioeventfd); the network broker's
# parsers (src/net/) fuzz on their own. fuzz_proto and fuzz_vsock #include
# the sources they test.
FUZZ_CC     ?= clang
FUZZ_CFLAGS := $(BASE_CFLAGS) -O1 -Itests/unit -fsanitize=fuzzer,address,undefined \
               -fno-sanitize-recover=undefined -fno-omit-frame-pointer
FUZZ_VIRTIO := src/vmm/devices/virtio/queue.c src/vmm/devices/virtio/vdev.c \
               src/vmm/devices/virtio/blk.c src/vmm/fdarg.c src/vmm/log.c
FUZZ_DEPS_fuzz_virtq   := src/vmm/devices/virtio/queue.c src/vmm/log.c
FUZZ_DEPS_fuzz_mmio    := $(FUZZ_VIRTIO) src/vmm/devices/virtio/mmio.c src/vmm/devices/virtio/rng.c \
                          src/vmm/snapshot/state.c \
                          src/vmm/devices/virtio/balloon.c \
                          $(sort $(wildcard src/vmm/devices/virtio/vsock/*.c)) src/vmm/evloop.c
FUZZ_DEPS_fuzz_rng     := $(FUZZ_VIRTIO) src/vmm/devices/virtio/rng.c
FUZZ_DEPS_fuzz_balloon := $(FUZZ_VIRTIO) src/vmm/devices/virtio/balloon.c
FUZZ_DEPS_fuzz_snap_state := src/vmm/snapshot/state.c
FUZZ_DEPS_fuzz_snap_wset  := src/vmm/snapshot/wset.c src/vmm/snapshot/state.c
FUZZ_NET               := $(sort $(wildcard src/net/*.c))
fuzz_deps = $(or $(FUZZ_DEPS_$(1)),$(if $(filter fuzz_net_%,$(1)),$(FUZZ_NET),$(FUZZ_VIRTIO)))
fuzz_objs = $(patsubst %.c,$(BUILD)/fuzz/obj/%.o,$(call fuzz_deps,$(1)))

.PRECIOUS: $(BUILD)/fuzz/obj/%.o
$(BUILD)/fuzz/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) $(DEPFLAGS) -c $< -o $@

.SECONDEXPANSION:
$(FUZZ_BINS): $(BUILD)/fuzz/%: $(BUILD)/fuzz/obj/tests/fuzz/%.o \
		$$(call fuzz_objs,$$*)
	$(FUZZ_CC) $(FUZZ_CFLAGS) $^ -o $@

fuzz-build: $(FUZZ_BINS)

fuzz: deps
	@scripts/deps.sh fuzz
	@scripts/fuzz.sh $(or $(FUZZ_SECONDS),60)

bench: all image e2b-sdk agents
	@scripts/deps.sh e2e
	@bench/run.sh

# Soak test with fault injection (tests/soak/soak.py): SOAK_MINUTES (30),
# SOAK_SANDBOXES (6), SOAK_SEED (random, printed). In the lab when this
# machine's KVM cannot boot Linux (tests/lab/run passes only SILO_*/LAB_*
# variables, hence arguments).
SOAK_ARGS = $(if $(SOAK_MINUTES),--minutes $(SOAK_MINUTES)) \
            $(if $(SOAK_SANDBOXES),--sandboxes $(SOAK_SANDBOXES)) $(if $(SOAK_SEED),--seed $(SOAK_SEED))
soak: all image
	@scripts/deps.sh e2e
	@if why=$$(scripts/kvm-usable.sh); then /usr/bin/python3 tests/soak/soak.py $(SOAK_ARGS); \
	 else echo "soak: $$why -> in the lab"; scripts/deps.sh lab && \
	 LAB_TIMEOUT=$${LAB_TIMEOUT:-7200} tests/lab/run /usr/bin/python3 tests/soak/soak.py $(SOAK_ARGS); fi

asan-build:
	@$(MAKE) --no-print-directory BUILD=build/asan OPT=-O1 \
	  EXTRA_CFLAGS="-fsanitize=address,undefined -fno-omit-frame-pointer" \
	  EXTRA_LDFLAGS="-fsanitize=address,undefined -static-libasan -static-libubsan" all unit

asan: asan-build
	@$(MAKE) --no-print-directory image
	@SILO_BUILD=build/asan SILO_AGENT_INIT=build/asan/silo-init-host \
	  SILO_E2E_MODULES="$${SILO_E2E_MODULES:-$(ASAN_E2E_MODULES)}" \
	  SILO_E2E_FILTER="$${SILO_E2E_FILTER:-$(ASAN_E2E_FILTER)}" \
	  SILO_NO_FUZZ=1 scripts/test.sh

demo: all image
	@scripts/demo.sh

clean:
	rm -rf build

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
