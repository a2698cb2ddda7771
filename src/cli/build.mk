# src/cli/build.mk: the silo CLI and its sandbox lifecycle library.
# Included by the top Makefile after src/agent/build.mk (needs SILO_LIB).
#
#   $(BUILD)/libsilo-sandbox.a  src/sandbox/*.c (lifecycle; also for the API later)
#   $(BUILD)/silo               src/cli/*.c + libsilo-sandbox.a + libsilo.a
#   $(BUILD)/tests/test_cli_parse  cmocka: sizes, names, config/exit records, diff
#   $(BUILD)/tests/test_quote      cmocka: quoting guest text for the terminal and JSON

SANDBOX_LIB  := $(BUILD)/libsilo-sandbox.a
SANDBOX_SRCS := $(sort $(wildcard src/sandbox/*.c))
CLI_SRCS     := $(sort $(wildcard src/cli/*.c))

$(SANDBOX_LIB): $(SANDBOX_SRCS:%.c=$(BUILD)/%.o)
	@rm -f $@
	$(AR) rcs $@ $^

$(BUILD)/silo: $(CLI_SRCS:%.c=$(BUILD)/%.o) $(SANDBOX_LIB) $(SILO_LIB)
	$(CC) $(CFLAGS) $^ -o $@ $(LDFLAGS)

# The top Makefile links unit tests against libvmm.a only; add ours.
$(BUILD)/tests/test_cli_parse: $(SANDBOX_LIB) $(SILO_LIB)
$(BUILD)/tests/test_cli_parse: LDFLAGS += $(SANDBOX_LIB) $(SILO_LIB)
$(BUILD)/tests/test_quote: $(SANDBOX_LIB) $(SILO_LIB)
$(BUILD)/tests/test_quote: LDFLAGS += $(SANDBOX_LIB) $(SILO_LIB)

.PHONY: cli
cli: $(BUILD)/silo
