/*
 * The snapshot state file (docs/snapshots.md): a fixed header naming the
 * silo-vmm build and the host CPU it was taken on, then records of
 * (type, id, length, CRC32C, payload), then an END record. Every field is
 * little endian; payloads are fixed-layout structs (x86 KVM structs are
 * stored as the kernel defines them: x86-64 is little endian), never a
 * generic serializer.
 *
 * Pure: no KVM, no files. The writer builds the file in memory; the reader
 * checks the whole buffer (sizes, CRCs, record bounds, the END record)
 * before anything is handed out, so a truncated, corrupt or hostile file is
 * one error string and never a crash (tests/unit/test_snap_state.c,
 * tests/fuzz/fuzz_snap_state.c).
 */
#ifndef SILO_VMM_SNAPSHOT_STATE_H
#define SILO_VMM_SNAPSHOT_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SNAP_MAGIC	  "SILOSNAP"
#define SNAP_VERSION	  1
#define SNAP_BUILD_ID_MAX 32
/* Far above what 32 vCPUs and 8 devices need (~400 KiB); bounds what a
 * reader allocates for a hostile file. */
#define SNAP_STATE_MAX	  (16u << 20)
#define SNAP_RECORDS_MAX  4096

/* Record types; the id says which vCPU, irqchip or device. */
enum snap_rec_type {
	SNAP_REC_END = 0,
	SNAP_REC_VM_INFO = 1, /* struct snap_vm_info */
	/* per vCPU (id = vCPU index), in Firecracker's save order */
	SNAP_REC_MP_STATE = 16,
	SNAP_REC_REGS = 17,
	SNAP_REC_SREGS = 18,
	SNAP_REC_XSAVE = 19,
	SNAP_REC_XCRS = 20,
	SNAP_REC_DEBUGREGS = 21,
	SNAP_REC_LAPIC = 22,
	SNAP_REC_TSC_KHZ = 23, /* le32 */
	SNAP_REC_CPUID = 24,   /* kvm_cpuid_entry2[] */
	SNAP_REC_MSRS = 25,    /* struct snap_msr[] */
	SNAP_REC_VCPU_EVENTS = 26,
	/* VM-wide */
	SNAP_REC_PIT2 = 32,
	SNAP_REC_CLOCK = 33,
	SNAP_REC_IRQCHIP = 34, /* id = chip_id */
	/* devices (id = virtio slot) */
	SNAP_REC_MMIO = 48, /* struct snap_mmio */
	SNAP_REC_DEV = 49,  /* device extras, the device's own layout */
	SNAP_REC_SERIAL = 50,
	SNAP_REC_I8042 = 51,
	SNAP_REC_TYPE_MAX = 64,
};

/* The file header; header_crc covers it with header_crc itself zero. */
struct snap_header {
	char magic[8];
	uint32_t version;
	uint32_t header_size;
	uint8_t build_id[SNAP_BUILD_ID_MAX]; /* silo-vmm's ELF build id, zero padded */
	char cpu_vendor[12];		     /* CPUID leaf 0 EBX, EDX, ECX */
	uint32_t cpu_signature;		     /* CPUID leaf 1 EAX: family, model, stepping */
	uint32_t tsc_khz;
	uint32_t nr_records; /* without END */
	uint64_t body_len;   /* bytes of records after the header, END included */
	uint32_t reserved;
	uint32_t header_crc;
};
_Static_assert(sizeof(struct snap_header) == 88, "snap_header is 88 bytes on disk");

struct snap_rec_hdr {
	uint32_t type;
	uint32_t id;
	uint32_t len; /* payload bytes; records are padded to 8 bytes */
	uint32_t crc; /* CRC32C of type, id, len and the payload; padding is zero */
};
_Static_assert(sizeof(struct snap_rec_hdr) == 16, "snap_rec_hdr is 16 bytes on disk");

/* What must match between the snapshot and the restoring command line. */
struct snap_vm_info {
	uint32_t nr_vcpus;
	uint32_t nr_virtio;
	uint64_t mem_size;    /* bytes of guest RAM = size of the memory file */
	uint32_t dev_ids[16]; /* VIRTIO_ID_* per slot (VIRTIO_MMIO_MAX_DEVS) */
	uint32_t disk_ro;     /* bit per slot: the disk was read-only */
	uint32_t reserved;
};
_Static_assert(sizeof(struct snap_vm_info) == 88, "snap_vm_info is 88 bytes on disk");

struct snap_msr {
	uint32_t index;
	uint32_t reserved;
	uint64_t data;
};
_Static_assert(sizeof(struct snap_msr) == 16, "snap_msr is 16 bytes on disk");

struct snap_vq {
	uint16_t num, last_avail, used_idx, signalled_used;
	uint8_t ready, live, signalled_valid, reserved;
	uint32_t reserved2;
	uint64_t desc_gpa, avail_gpa, used_gpa;
};
_Static_assert(sizeof(struct snap_vq) == 40, "snap_vq is 40 bytes on disk");

/* One virtio-mmio transport and the generic device state behind it. */
struct snap_mmio {
	uint32_t device_id;
	uint32_t status;
	uint32_t dev_feat_sel, drv_feat_sel, queue_sel;
	uint32_t isr;
	uint32_t config_gen;
	uint32_t needs_reset;
	uint64_t drv_features; /* what the driver wrote */
	uint64_t features;     /* negotiated */
	struct snap_vq vq[4];
};
_Static_assert(sizeof(struct snap_mmio) == 48 + 4 * 40, "snap_mmio is 208 bytes on disk");

/* CRC32C (Castagnoli), as in iSCSI and ext4; crc = 0 to start. */
uint32_t snap_crc32c(uint32_t crc, const void *buf, size_t len);

struct snap_writer {
	uint8_t *buf;
	size_t len, cap;
	uint32_t nr_records;
	int err; /* first -errno; later puts do nothing */
};

void snap_writer_init(struct snap_writer *w);
void snap_put(struct snap_writer *w, uint32_t type, uint32_t id, const void *data, size_t len);
/*
 * Finish the file: the END record, the header (h's identity fields are
 * kept; the rest is filled in). On success *out and *out_len is the whole file
 * (owned by the writer). -errno of the first failed put, or -ENOMEM.
 */
int snap_writer_finish(struct snap_writer *w, const struct snap_header *h, const uint8_t **out,
		       size_t *out_len);
void snap_writer_free(struct snap_writer *w);

struct snap_reader {
	const uint8_t *buf;
	size_t len;
	struct snap_header hdr;
};

/*
 * Check the whole file in buf (not copied; must outlive r): header, every
 * record's bounds and CRC, END last and nothing after it. 0, or -EINVAL
 * (or -E2BIG) with a one-line reason in err.
 */
int snap_reader_init(struct snap_reader *r, const void *buf, size_t len, char *err, size_t errlen);
/* The payload of record (type, id) or NULL; *len its length. */
const void *snap_get(const struct snap_reader *r, uint32_t type, uint32_t id, size_t *len);
/* Copy record (type, id) of exactly len bytes into dst. 0, or -ENOENT / -EINVAL. */
int snap_get_exact(const struct snap_reader *r, uint32_t type, uint32_t id, void *dst, size_t len);

#endif
