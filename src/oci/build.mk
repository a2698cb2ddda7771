# src/oci/build.mk: silo as an OCI runtime (silo-runtime; docs/containerd.md).
# Included by the top Makefile after src/cli/build.mk (needs its libraries).
#
#   $(BUILD)/libsilo-oci.a     src/oci/*.c but runtime.c: `silo oci`, in silo
#   $(BUILD)/silo-runtime      the same on its own (runtime.c), with only the
#                              libraries it needs: engines run it for every
#                              step of every container
#   $(BUILD)/tests/test_oci    cmocka: runc's argv, config.json, ids, state

OCI_LIB  := $(BUILD)/libsilo-oci.a
OCI_SRCS := $(filter-out src/oci/runtime.c,$(sort $(wildcard src/oci/*.c)))

$(OCI_LIB): $(OCI_SRCS:%.c=$(BUILD)/%.o)
	@rm -f $@
	$(AR) rcs $@ $^

$(BUILD)/src/oci/runtime.o: $(BUILD)/version.h
$(BUILD)/src/oci/runtime.o: CFLAGS += -I$(BUILD)
$(BUILD)/silo-runtime: $(BUILD)/src/oci/runtime.o $(OCI_LIB) $(SANDBOX_LIB) $(SANDBOX_NET) $(SILO_LIB)
	$(CC) $(CFLAGS) $^ -o $@ $(LDFLAGS) -ljansson

$(BUILD)/tests/test_oci: $(OCI_LIB) $(SANDBOX_LIB) $(SANDBOX_NET) $(SILO_LIB)
$(BUILD)/tests/test_oci: LDFLAGS += $(OCI_LIB) $(SANDBOX_LIB) $(SANDBOX_NET) $(SILO_LIB) -ljansson
