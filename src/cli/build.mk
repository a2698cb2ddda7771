# src/cli/build.mk: the silo CLI and its sandbox lifecycle library.
# Included by the top Makefile after src/agent/build.mk (needs SILO_LIB).
#
#   $(BUILD)/libsilo-sandbox.a  src/sandbox/*.c (lifecycle; also for the API later)
#   $(BUILD)/silo               src/cli/*.c + libsilo-sandbox.a + libsilo.a
#   $(BUILD)/silo-serve         the same with src/serve/ (silo serve, silo mcp)
#   $(BUILD)/tests/test_cli_parse  cmocka: sizes, names, config/exit records, diff
#   $(BUILD)/tests/test_extract    cmocka: hostile tar streams into sb_extract_tar
#   $(BUILD)/tests/test_quote      cmocka: quoting guest text for the terminal and JSON
#   $(BUILD)/tests/test_exec_fe    cmocka: the exit status of an exec (client/exec_fe.c)
#   $(BUILD)/tests/test_vmm_cmd    cmocka: the command line sb_start runs (vmm_cmd.c)
#   $(BUILD)/tests/test_vmm_fds    cmocka: its paths opened by the launcher (vmm_fds.c)
#   $(BUILD)/tests/test_cgroup     cmocka: a sandbox's cgroup limits and files (cgroup.c)

SANDBOX_LIB  := $(BUILD)/libsilo-sandbox.a
# The sandbox library uses the network policy code (src/net/build.mk, which
# is included after this file: hence the path, not $(NET_LIB)).
SANDBOX_NET  := $(BUILD)/libsilo-net.a
SANDBOX_SRCS := $(sort $(wildcard src/sandbox/*.c))
CLI_SRCS     := $(sort $(wildcard src/cli/*.c))

# From silo-vmm's sources, what its launcher shares with it: userns.o, the
# supervisor's clone of silo-vmm maps ids as silo-vmm's own jail does
# (src/vmm/jail/userns.h); fdarg.o and console_files.o, the launcher opens
# silo-vmm's files and binds its sockets as silo-vmm would (vmm_fds.c).
SANDBOX_VMM_SHARED := $(addprefix $(BUILD)/src/vmm/,jail/userns.o fdarg.o console_files.o)
$(SANDBOX_LIB): $(SANDBOX_SRCS:%.c=$(BUILD)/%.o) $(SANDBOX_VMM_SHARED)
	@rm -f $@
	$(AR) rcs $@ $^

# libarchive (libarchive-dev, scripts/deps.sh build): reading the guest's
# tar streams in silo cp (src/sandbox/extract.c).
# silo serve (src/serve/): libmicrohttpd, jansson, libsodium and
# libcrypto (its base64; scripts/deps.sh build).
SERVE_SRCS := $(sort $(wildcard src/serve/*.c))
SERVE_LIBS := -lmicrohttpd -ljansson -lsodium -lcrypto -lpthread
# The OCI runtime (src/oci/build.mk, included after this file).
SILO_OCI := $(BUILD)/libsilo-oci.a
# Two executables from one CLI: silo, whose serve and mcp run silo-serve
# (cli/serve_exec.c), so no other command loads the HTTP API's libraries;
# and silo-serve (PREFIX/libexec/silo/), the same CLI with src/serve/ and
# those libraries linked in.
CLI_COMMON := $(filter-out src/cli/serve.c src/cli/serve_exec.c,$(CLI_SRCS))
CLI_LIBS   := $(SILO_OCI) $(SANDBOX_LIB) $(SANDBOX_NET) $(SILO_LIB)
$(BUILD)/silo: $(CLI_COMMON:%.c=$(BUILD)/%.o) $(BUILD)/src/cli/serve_exec.o $(CLI_LIBS)
	$(CC) $(CFLAGS) $^ -o $@ $(LDFLAGS) -ljansson
$(BUILD)/silo-serve: $(CLI_COMMON:%.c=$(BUILD)/%.o) $(BUILD)/src/cli/serve.o \
		$(SERVE_SRCS:%.c=$(BUILD)/%.o) $(CLI_LIBS)
	$(CC) $(CFLAGS) $^ -o $@ $(LDFLAGS) $(SERVE_LIBS)

# The top Makefile links unit tests against libvmm.a only; add ours.
$(BUILD)/tests/test_cli_parse: $(SANDBOX_LIB) $(SANDBOX_NET) $(SILO_LIB)
$(BUILD)/tests/test_cli_parse: LDFLAGS += $(SANDBOX_LIB) $(SANDBOX_NET) $(SILO_LIB)
$(BUILD)/tests/test_quote: $(SANDBOX_LIB) $(SANDBOX_NET) $(SILO_LIB)
$(BUILD)/tests/test_quote: LDFLAGS += $(SANDBOX_LIB) $(SANDBOX_NET) $(SILO_LIB)

$(BUILD)/tests/test_extract: $(SANDBOX_LIB) $(SANDBOX_NET) $(SILO_LIB)
$(BUILD)/tests/test_extract: LDFLAGS += $(SANDBOX_LIB) $(SANDBOX_NET) $(SILO_LIB) -larchive

.PHONY: cli
cli: $(BUILD)/silo $(BUILD)/silo-serve

# cmocka: run/data directory checks, no-follow file work, config encoding.
$(BUILD)/tests/test_sandbox_dirs: $(SANDBOX_LIB) $(SANDBOX_NET) $(SILO_LIB)
$(BUILD)/tests/test_sandbox_dirs: LDFLAGS += $(SANDBOX_LIB) $(SANDBOX_NET) $(SILO_LIB)

# cmocka: the exit status of an exec (client/exec_fe.c, in libsilo.a), the
# one front end of silo exec, silo run and silo-agent.
$(BUILD)/tests/test_exec_fe: $(SILO_LIB)
$(BUILD)/tests/test_exec_fe: LDFLAGS += $(SILO_LIB)
# cmocka: the status line silo run/start draw while they wait (progress.c).
$(BUILD)/tests/test_progress: $(SANDBOX_LIB) $(SANDBOX_NET) $(SILO_LIB)
$(BUILD)/tests/test_progress: LDFLAGS += $(SANDBOX_LIB) $(SANDBOX_NET) $(SILO_LIB)
# cmocka: the supervisor + silo-vmm command line sb_start builds (vmm_cmd.c).
$(BUILD)/tests/test_vmm_cmd: $(SANDBOX_LIB) $(SANDBOX_NET) $(SILO_LIB)
$(BUILD)/tests/test_vmm_cmd: LDFLAGS += $(SANDBOX_LIB) $(SANDBOX_NET) $(SILO_LIB)
# cmocka: the launcher turns silo-vmm's paths into descriptors (vmm_fds.c).
$(BUILD)/tests/test_vmm_fds: $(SANDBOX_LIB) $(SANDBOX_NET) $(SILO_LIB)
$(BUILD)/tests/test_vmm_fds: LDFLAGS += $(SANDBOX_LIB) $(SANDBOX_NET) $(SILO_LIB)
# cmocka: cgroup limits, /proc/self/cgroup and controller parsing, the
# limit files written into a stand-in cgroupfs (cgroup.c).
$(BUILD)/tests/test_cgroup: $(SANDBOX_LIB) $(SANDBOX_NET) $(SILO_LIB)
$(BUILD)/tests/test_cgroup: LDFLAGS += $(SANDBOX_LIB) $(SANDBOX_NET) $(SILO_LIB)
# cmocka: the template file, sb_template_apply, sparse disk copies (template.c, clone.c).
$(BUILD)/tests/test_template: $(SANDBOX_LIB) $(SANDBOX_NET) $(SILO_LIB)
$(BUILD)/tests/test_template: LDFLAGS += $(SANDBOX_LIB) $(SANDBOX_NET) $(SILO_LIB)

# Not a unit test: tests/e2e/test_library.py runs it in the lab, N sandboxes
# at once from the threads of one process on the library, as a server will.
E2E_HELPERS += $(BUILD)/tests/sb_concurrent
$(BUILD)/tests/sb_concurrent: tests/e2e/sb_concurrent.c $(SANDBOX_LIB) $(SANDBOX_NET) $(SILO_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(DEPFLAGS) $< $(SANDBOX_LIB) $(SANDBOX_NET) $(SILO_LIB) -o $@ \
		$(LDFLAGS) -lpthread
