# src/oci/build.mk: silo as an OCI runtime (silo-runtime; docs/containerd.md).
# Included by the top Makefile after src/cli/build.mk (needs its libraries).
#
#   $(BUILD)/libsilo-oci.a     src/oci/*.c, linked into silo
#   $(BUILD)/silo-runtime      a hard link to silo: called by that name,
#                              silo is the runtime (src/cli/main.c). Not a
#                              symlink: ctr and the runc shim resolve those,
#                              and the name would be lost.
#   $(BUILD)/tests/test_oci    cmocka: runc's argv, config.json, ids, state

OCI_LIB  := $(BUILD)/libsilo-oci.a
OCI_SRCS := $(sort $(wildcard src/oci/*.c))

$(OCI_LIB): $(OCI_SRCS:%.c=$(BUILD)/%.o)
	@rm -f $@
	$(AR) rcs $@ $^

$(BUILD)/silo-runtime: $(BUILD)/silo
	ln -f $< $@

$(BUILD)/tests/test_oci: $(OCI_LIB) $(SANDBOX_LIB) $(SANDBOX_NET) $(SILO_LIB)
$(BUILD)/tests/test_oci: LDFLAGS += $(OCI_LIB) $(SANDBOX_LIB) $(SANDBOX_NET) $(SILO_LIB) -ljansson
