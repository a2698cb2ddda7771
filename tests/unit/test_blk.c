/* Unit tests for virtio-blk request handling (src/vmm/devices/virtio/blk.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>
#include <sys/resource.h>
#include <linux/virtio_blk.h>
#include <linux/virtio_mmio.h>

#include "virtio_fake.h"
#include "vmm/devices/virtio/vdev.h"

#define DISK_SECTORS 8
#define HDR	     (FAKE_DATA)	  /* request header */
#define DATA	     (FAKE_DATA + 0x1000) /* data buffer */
#define STATUS	     (FAKE_DATA + 0x3000) /* status byte */
#define R	     0
#define W	     VRING_DESC_F_WRITE
#define N	     VRING_DESC_F_NEXT

struct ctx {
	uint8_t *ram;
	struct fake f;
	struct vdev *vd;
	int fd; /* our own handle on the disk file */
	char path[64];
	uint32_t irq_bits;
	unsigned int irqs;
};

static void raise_stub(void *tp, uint32_t bits)
{
	struct ctx *c = tp;

	c->irq_bits |= bits;
	c->irqs++;
}

static uint8_t pattern(size_t i)
{
	return (uint8_t)((i * 7) ^ 0x5a);
}

static int open_disk(void **state, bool ro, const char *serial)
{
	struct ctx *c = calloc(1, sizeof(*c));
	uint8_t buf[DISK_SECTORS * 512];

	strcpy(c->path, "/tmp/silo-test-blk-XXXXXX");
	c->fd = mkstemp(c->path);
	assert_true(c->fd >= 0);
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = pattern(i);
	assert_int_equal(pwrite(c->fd, buf, sizeof(buf), 0), sizeof(buf));
	assert_int_equal(virtio_blk_create(&c->vd, c->path, ro, serial), 0);
	c->ram = aligned_alloc(4096, FAKE_SIZE);
	memset(c->ram, 0, FAKE_SIZE);
	fake_mem_init(&c->f, c->ram);
	c->vd->mem = &c->f.mem;
	c->vd->raise = raise_stub;
	c->vd->tp = c;
	assert_int_equal(fake_queue(&c->f, &c->vd->vq[0], 16, 0), 0);
	*state = c;
	return 0;
}

static int setup(void **state)
{
	return open_disk(state, false, "silo-disk");
}

static int setup_ro(void **state)
{
	return open_disk(state, true, "01234567890123456789");
}

static int teardown(void **state)
{
	struct ctx *c = *state;

	vdev_destroy(c->vd);
	close(c->fd);
	unlink(c->path);
	free(c->ram);
	free(c);
	return 0;
}

static void put_hdr(struct ctx *c, uint32_t type, uint64_t sector)
{
	struct virtio_blk_outhdr h = { htole32(type), 0, htole64(sector) };

	memcpy(fake_hva(&c->f, HDR), &h, sizeof(h));
	*(uint8_t *)fake_hva(&c->f, STATUS) = 0xee; /* poison: must be overwritten */
}

/* Standard 3-descriptor request: header, data (dlen bytes, dflags), status. */
static void req3(struct ctx *c, uint32_t type, uint64_t sector, uint32_t dlen, uint16_t dflags)
{
	put_hdr(c, type, sector);
	fake_desc(&c->f, FAKE_DESC, 0, HDR, 16, R | N, 1);
	fake_desc(&c->f, FAKE_DESC, 1, DATA, dlen, dflags | N, 2);
	fake_desc(&c->f, FAKE_DESC, 2, STATUS, 1, W, 0);
	fake_avail_add(&c->f, 0);
}

/* Header + status only (FLUSH, or malformed ones). */
static void req2(struct ctx *c, uint32_t type, uint32_t hlen, uint16_t sflags)
{
	put_hdr(c, type, 0);
	fake_desc(&c->f, FAKE_DESC, 0, HDR, hlen, R | N, 1);
	fake_desc(&c->f, FAKE_DESC, 1, STATUS, 1, sflags, 0);
	fake_avail_add(&c->f, 0);
}

static void run(struct ctx *c)
{
	c->vd->ops->queue_notify(c->vd, 0);
}

static uint8_t status(struct ctx *c)
{
	return *(uint8_t *)fake_hva(&c->f, STATUS);
}

static uint32_t used_len(struct ctx *c, uint16_t n)
{
	struct vring_used *u = fake_used(&c->f);

	assert_int_equal(le16toh(u->idx), n);
	return le32toh(u->ring[(n - 1) % 16].len);
}

static void test_read(void **state)
{
	struct ctx *c = *state;
	uint8_t *d = fake_hva(&c->f, DATA);

	req3(c, VIRTIO_BLK_T_IN, 1, 1024, W);
	run(c);
	assert_int_equal(status(c), VIRTIO_BLK_S_OK);
	assert_int_equal(used_len(c, 1), 1025); /* data + status (§2.7.8) */
	for (size_t i = 0; i < 1024; i++)
		assert_int_equal(d[i], pattern(512 + i));
	assert_int_equal(d[1024], 0);
	assert_int_equal(c->irqs, 1);
	assert_int_equal(c->irq_bits, VIRTIO_MMIO_INT_VRING);
	assert_int_equal(c->vd->m.bytes_in, 1024);
}

static void test_read_last_sector_and_beyond(void **state)
{
	struct ctx *c = *state;
	uint8_t *d = fake_hva(&c->f, DATA);

	req3(c, VIRTIO_BLK_T_IN, DISK_SECTORS - 1, 512, W);
	run(c);
	assert_int_equal(status(c), VIRTIO_BLK_S_OK);
	assert_int_equal(d[511], pattern(DISK_SECTORS * 512 - 1));
	memset(d, 0, 1024);
	req3(c, VIRTIO_BLK_T_IN, DISK_SECTORS - 1, 1024, W);
	run(c);
	assert_int_equal(status(c), VIRTIO_BLK_S_IOERR);
	assert_int_equal(used_len(c, 2), 1);
	assert_int_equal(d[0], 0); /* nothing read */
	req3(c, VIRTIO_BLK_T_IN, UINT64_MAX, 512, W);
	run(c);
	assert_int_equal(status(c), VIRTIO_BLK_S_IOERR);
	req3(c, VIRTIO_BLK_T_OUT, (UINT64_MAX >> 9) + 1, 512, R); /* sector*512 wraps */
	run(c);
	assert_int_equal(status(c), VIRTIO_BLK_S_IOERR);
	assert_false(c->vd->needs_reset);
}

static void test_write(void **state)
{
	struct ctx *c = *state;
	uint8_t buf[1024];

	memset(fake_hva(&c->f, DATA), 0xab, 512);
	req3(c, VIRTIO_BLK_T_OUT, 2, 512, R);
	run(c);
	assert_int_equal(status(c), VIRTIO_BLK_S_OK);
	assert_int_equal(used_len(c, 1), 1); /* only the status byte was written */
	assert_int_equal(pread(c->fd, buf, sizeof(buf), 512), sizeof(buf));
	for (size_t i = 0; i < 512; i++)
		assert_int_equal(buf[i], pattern(512 + i)); /* sector 1 untouched */
	for (size_t i = 512; i < 1024; i++)
		assert_int_equal(buf[i], 0xab);
	assert_int_equal(c->vd->m.bytes_out, 512);
}

static void test_write_split_header_and_data(void **state)
{
	struct ctx *c = *state;
	uint8_t buf[8];

	/* Header over two descriptors, data in the second one's tail. */
	put_hdr(c, VIRTIO_BLK_T_OUT, 3);
	memcpy(fake_hva(&c->f, DATA), fake_hva(&c->f, HDR + 8), 8);
	memset(fake_hva(&c->f, DATA + 8), 0xcd, 512);
	fake_desc(&c->f, FAKE_DESC, 0, HDR, 8, R | N, 1);
	fake_desc(&c->f, FAKE_DESC, 1, DATA, 8 + 512, R | N, 2);
	fake_desc(&c->f, FAKE_DESC, 2, STATUS, 1, W, 0);
	fake_avail_add(&c->f, 0);
	run(c);
	assert_int_equal(status(c), VIRTIO_BLK_S_OK);
	assert_int_equal(pread(c->fd, buf, sizeof(buf), 3 * 512), sizeof(buf));
	assert_memory_equal(buf, "\xcd\xcd\xcd\xcd\xcd\xcd\xcd\xcd", 8);
}

static void test_status_shares_data_descriptor(void **state)
{
	struct ctx *c = *state;
	uint8_t *d = fake_hva(&c->f, DATA);

	put_hdr(c, VIRTIO_BLK_T_IN, 0);
	d[512] = 0xee;
	fake_desc(&c->f, FAKE_DESC, 0, HDR, 16, R | N, 1);
	fake_desc(&c->f, FAKE_DESC, 1, DATA, 513, W, 0);
	fake_avail_add(&c->f, 0);
	run(c);
	assert_int_equal(d[512], VIRTIO_BLK_S_OK);
	assert_int_equal(d[0], pattern(0));
	assert_int_equal(d[511], pattern(511));
	assert_int_equal(used_len(c, 1), 513);
}

static void test_write_readonly(void **state)
{
	struct ctx *c = *state;
	uint8_t buf[512];

	assert_true(c->vd->ops->features(c->vd) & (1ULL << VIRTIO_BLK_F_RO));
	memset(fake_hva(&c->f, DATA), 0xab, 512);
	req3(c, VIRTIO_BLK_T_OUT, 0, 512, R);
	run(c);
	assert_int_equal(status(c), VIRTIO_BLK_S_IOERR);
	assert_int_equal(used_len(c, 1), 1);
	assert_int_equal(pread(c->fd, buf, sizeof(buf), 0), sizeof(buf));
	assert_int_equal(buf[0], pattern(0));
	/* Reads still work. */
	req3(c, VIRTIO_BLK_T_IN, 0, 512, W);
	run(c);
	assert_int_equal(status(c), VIRTIO_BLK_S_OK);
}

static void test_flush(void **state)
{
	struct ctx *c = *state;

	req2(c, VIRTIO_BLK_T_FLUSH, 16, W);
	run(c);
	assert_int_equal(status(c), VIRTIO_BLK_S_OK);
	assert_int_equal(used_len(c, 1), 1);
}

/* Publish the FLUSH chain at descriptor 0 n more times. */
static void flushes(struct ctx *c, unsigned int n)
{
	for (unsigned int i = 0; i < n; i++)
		fake_avail_add(&c->f, 0);
}

/*
 * Issue 14 item 8: a FLUSH storm costs at most one fdatasync per wakeup, and
 * none when nothing was written since the last; every FLUSH still completes
 * OK after the sync that covers the writes before it (§5.2.6.2).
 */
static void test_flush_coalesced(void **state)
{
	struct ctx *c = *state;
	struct vring_used *u = fake_used(&c->f);
	char *js;

	req2(c, VIRTIO_BLK_T_FLUSH, 16, W);
	flushes(c, 7);
	run(c);
	assert_int_equal(le16toh(u->idx), 8);
	for (unsigned int i = 0; i < 8; i++)
		assert_int_equal(le32toh(u->ring[i].len), 1);
	assert_int_equal(status(c), VIRTIO_BLK_S_OK);
	js = fake_metrics(c->vd);
	assert_non_null(strstr(js, "\"flushes\":8,\"syncs\":1"));
	free(js);

	/* Nothing written since: FLUSHes complete without another sync. */
	flushes(c, 4);
	run(c);
	assert_int_equal(le16toh(u->idx), 12);
	js = fake_metrics(c->vd);
	assert_non_null(strstr(js, "\"flushes\":12,\"syncs\":1"));
	free(js);

	/* A write makes the next FLUSH sync again, after the write. */
	req3(c, VIRTIO_BLK_T_OUT, 1, 512, R);
	run(c);
	assert_int_equal(status(c), VIRTIO_BLK_S_OK);
	req2(c, VIRTIO_BLK_T_FLUSH, 16, W);
	run(c);
	assert_int_equal(status(c), VIRTIO_BLK_S_OK);
	js = fake_metrics(c->vd);
	assert_non_null(strstr(js, "\"flushes\":13,\"syncs\":2"));
	free(js);
}

/*
 * Issue 23: the host failing a guest write (here EFBIG from RLIMIT_FSIZE,
 * standing in for ENOSPC) completes it with IOERR, as before, and is now
 * counted with the first error kept, in blk's metrics.
 */
static void test_host_write_error_counted(void **state)
{
	struct ctx *c = *state;
	struct rlimit old, lim;
	void (*old_xfsz)(int) = signal(SIGXFSZ, SIG_IGN);
	char *js;

	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	lim = (struct rlimit){ .rlim_cur = 1024, .rlim_max = old.rlim_max };
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
	req3(c, VIRTIO_BLK_T_OUT, 2, 512, R); /* offset 1024: past the limit */
	run(c);
	assert_int_equal(status(c), VIRTIO_BLK_S_IOERR);
	req3(c, VIRTIO_BLK_T_OUT, 3, 512, R);
	run(c);
	assert_int_equal(status(c), VIRTIO_BLK_S_IOERR);
	/* Below the limit writes still work and are not counted. */
	req3(c, VIRTIO_BLK_T_OUT, 0, 512, R);
	run(c);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	signal(SIGXFSZ, old_xfsz);
	assert_int_equal(status(c), VIRTIO_BLK_S_OK);
	js = fake_metrics(c->vd);
	assert_non_null(strstr(js, "\"disk\":\"disk\""));
	assert_non_null(strstr(js, "\"host_errs\":2,"));
	assert_non_null(strstr(js, "\"first_error\":{\"errno\":27,"));
	assert_non_null(strstr(js, "\"op\":\"write\""));
	free(js);
}

static void test_get_id_padded(void **state)
{
	struct ctx *c = *state;
	uint8_t *d = fake_hva(&c->f, DATA);

	memset(d, 0xff, 32);
	req3(c, VIRTIO_BLK_T_GET_ID, 0, VIRTIO_BLK_ID_BYTES, W);
	run(c);
	assert_int_equal(status(c), VIRTIO_BLK_S_OK);
	assert_int_equal(used_len(c, 1), 21);
	assert_memory_equal(d, "silo-disk\0\0\0\0\0\0\0\0\0\0\0", 20);
	assert_int_equal(d[20], 0xff);
}

static void test_get_id_full_and_truncated(void **state)
{
	struct ctx *c = *state;
	uint8_t *d = fake_hva(&c->f, DATA);

	memset(d, 0xff, 32);
	req3(c, VIRTIO_BLK_T_GET_ID, 0, 32, W);
	run(c);
	assert_int_equal(used_len(c, 1), 21); /* exactly 20 bytes, no NUL */
	assert_memory_equal(d, "01234567890123456789", 20);
	assert_int_equal(d[20], 0xff);
	memset(d, 0xff, 32);
	req3(c, VIRTIO_BLK_T_GET_ID, 0, 8, W);
	run(c);
	assert_int_equal(status(c), VIRTIO_BLK_S_OK);
	assert_int_equal(used_len(c, 2), 9);
	assert_memory_equal(d, "01234567\xff", 9);
}

static void test_unknown_type(void **state)
{
	struct ctx *c = *state;

	req2(c, 99, 16, W);
	run(c);
	assert_int_equal(status(c), VIRTIO_BLK_S_UNSUPP);
	assert_int_equal(used_len(c, 1), 1);
}

/* One DISCARD / WRITE_ZEROES range (§5.2.6) in DATA. */
static void put_range(struct ctx *c, uint64_t sector, uint32_t num, uint32_t flags)
{
	struct virtio_blk_discard_write_zeroes r = { htole64(sector), htole32(num),
						     htole32(flags) };

	memcpy(fake_hva(&c->f, DATA), &r, sizeof(r));
}

static bool zero_bytes(int fd, off_t off, size_t len)
{
	uint8_t buf[DISK_SECTORS * 512];

	assert_true(len <= sizeof(buf));
	assert_int_equal(pread(fd, buf, len, off), (ssize_t)len);
	for (size_t i = 0; i < len; i++)
		if (buf[i])
			return false;
	return true;
}

/* WRITE_ZEROES: the range reads back as zeros, the rest is untouched;
 * with UNMAP the whole (4 KiB) disk becomes a hole: no space used. */
static void test_write_zeroes(void **state)
{
	struct ctx *c = *state;
	uint8_t b;

	assert_true(c->vd->ops->features(c->vd) & (1ULL << VIRTIO_BLK_F_WRITE_ZEROES));
	put_range(c, 2, 3, 0);
	req3(c, VIRTIO_BLK_T_WRITE_ZEROES, 0, 16, R);
	run(c);
	assert_int_equal(status(c), VIRTIO_BLK_S_OK);
	assert_true(zero_bytes(c->fd, 2 * 512, 3 * 512));
	assert_int_equal(pread(c->fd, &b, 1, 2 * 512 - 1), 1);
	assert_int_equal(b, pattern(2 * 512 - 1));
	assert_int_equal(pread(c->fd, &b, 1, 5 * 512), 1);
	assert_int_equal(b, pattern(5 * 512));

	put_range(c, 0, DISK_SECTORS, VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP);
	req3(c, VIRTIO_BLK_T_WRITE_ZEROES, 0, 16, R);
	run(c);
	assert_int_equal(status(c), VIRTIO_BLK_S_OK);
	assert_true(zero_bytes(c->fd, 0, DISK_SECTORS * 512));
	assert_int_equal(lseek(c->fd, 0, SEEK_DATA), -1);
	assert_int_equal(errno, ENXIO);
}

/* DISCARD punches too; what the spec refuses is UNSUPP (more than one
 * range, an unknown flag, UNMAP on a DISCARD), a range past the end or
 * too long IOERR; none of them touches the disk. */
static void test_discard_and_bad_ranges(void **state)
{
	struct ctx *c = *state;
	static const struct {
		uint32_t type;
		uint64_t sector;
		uint32_t num, flags, len;
		uint8_t want;
	} bad[] = {
		{ VIRTIO_BLK_T_DISCARD, 0, 1, VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP, 16,
		  VIRTIO_BLK_S_UNSUPP },
		{ VIRTIO_BLK_T_WRITE_ZEROES, 0, 1, 2, 16, VIRTIO_BLK_S_UNSUPP },
		{ VIRTIO_BLK_T_WRITE_ZEROES, 0, 1, 0, 32, VIRTIO_BLK_S_UNSUPP },
		{ VIRTIO_BLK_T_WRITE_ZEROES, 0, 1, 0, 8, VIRTIO_BLK_S_UNSUPP },
		{ VIRTIO_BLK_T_WRITE_ZEROES, DISK_SECTORS - 1, 2, 0, 16, VIRTIO_BLK_S_IOERR },
		{ VIRTIO_BLK_T_DISCARD, UINT64_MAX >> 9, 1, 0, 16, VIRTIO_BLK_S_IOERR },
		{ VIRTIO_BLK_T_WRITE_ZEROES, 0, 0x800000, 0, 16, VIRTIO_BLK_S_IOERR },
	};
	uint16_t n = 0;

	assert_true(c->vd->ops->features(c->vd) & (1ULL << VIRTIO_BLK_F_DISCARD));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		put_range(c, bad[i].sector, bad[i].num, bad[i].flags);
		req3(c, bad[i].type, 0, bad[i].len, R);
		run(c);
		assert_int_equal(used_len(c, ++n), 1);
		assert_int_equal(status(c), bad[i].want);
	}
	for (size_t i = 0; i < DISK_SECTORS * 512; i += 511) {
		uint8_t b;
		assert_int_equal(pread(c->fd, &b, 1, (off_t)i), 1);
		assert_int_equal(b, pattern(i));
	}
	put_range(c, 4, 4, 0);
	req3(c, VIRTIO_BLK_T_DISCARD, 0, 16, R);
	run(c);
	assert_int_equal(used_len(c, ++n), 1);
	assert_int_equal(status(c), VIRTIO_BLK_S_OK);
	assert_true(zero_bytes(c->fd, 4 * 512, 4 * 512));
}

/* A read-only disk offers neither, and refuses both. */
static void test_write_zeroes_readonly(void **state)
{
	struct ctx *c = *state;
	uint64_t f = c->vd->ops->features(c->vd);

	assert_false(f & (1ULL << VIRTIO_BLK_F_WRITE_ZEROES));
	assert_false(f & (1ULL << VIRTIO_BLK_F_DISCARD));
	put_range(c, 0, 1, 0);
	req3(c, VIRTIO_BLK_T_WRITE_ZEROES, 0, 16, R);
	run(c);
	assert_int_equal(status(c), VIRTIO_BLK_S_IOERR);
	assert_false(zero_bytes(c->fd, 0, 512));
}

static void test_header_too_short(void **state)
{
	struct ctx *c = *state;

	req2(c, VIRTIO_BLK_T_IN, 8, W);
	run(c);
	assert_int_equal(status(c), VIRTIO_BLK_S_IOERR);
	assert_int_equal(used_len(c, 1), 1);
	assert_int_equal(c->vd->m.err, 1);
	assert_false(c->vd->needs_reset);
}

static void test_missing_status(void **state)
{
	struct ctx *c = *state;

	put_hdr(c, VIRTIO_BLK_T_FLUSH, 0);
	fake_desc(&c->f, FAKE_DESC, 0, HDR, 16, R, 0);
	fake_avail_add(&c->f, 0);
	run(c);
	assert_int_equal(used_len(c, 1), 0); /* returned, nothing written */
	assert_int_equal(status(c), 0xee);
	assert_int_equal(c->vd->m.err, 1);
	assert_false(c->vd->needs_reset);
}

static void test_status_not_writable(void **state)
{
	struct ctx *c = *state;

	req2(c, VIRTIO_BLK_T_FLUSH, 16, R);
	run(c);
	assert_int_equal(used_len(c, 1), 0);
	assert_int_equal(status(c), 0xee);
}

static void test_status_readable_after_data_resets(void **state)
{
	struct ctx *c = *state;

	/* header R, data W, status R: a ring-level violation (§2.7.4.2). */
	put_hdr(c, VIRTIO_BLK_T_IN, 0);
	fake_desc(&c->f, FAKE_DESC, 0, HDR, 16, R | N, 1);
	fake_desc(&c->f, FAKE_DESC, 1, DATA, 512, W | N, 2);
	fake_desc(&c->f, FAKE_DESC, 2, STATUS, 1, R, 0);
	fake_avail_add(&c->f, 0);
	run(c);
	assert_true(c->vd->needs_reset);
	assert_int_equal(c->irq_bits, VIRTIO_MMIO_INT_CONFIG);
	assert_int_equal(status(c), 0xee);
	assert_int_equal(le16toh(fake_used(&c->f)->idx), 0);
	/* Further kicks are ignored until reset. */
	req3(c, VIRTIO_BLK_T_IN, 0, 512, W);
	run(c);
	assert_int_equal(le16toh(fake_used(&c->f)->idx), 0);
}

static void test_config_space(void **state)
{
	struct ctx *c = *state;
	uint64_t cap;
	uint32_t seg_max, beyond = 0xffffffff;

	c->vd->ops->config_read(c->vd, 0, &cap, 8);
	assert_int_equal(le64toh(cap), DISK_SECTORS);
	c->vd->ops->config_read(c->vd, 0x0c, &seg_max, 4);
	assert_int_equal(le32toh(seg_max), 254);
	/* §5.2.4: one range a request, up to 0x7fffff sectors, may unmap */
	c->vd->ops->config_read(c->vd, 0x30, &seg_max, 4);
	assert_int_equal(le32toh(seg_max), 0x7fffff);
	c->vd->ops->config_read(c->vd, 0x34, &seg_max, 4);
	assert_int_equal(le32toh(seg_max), 1);
	c->vd->ops->config_read(c->vd, 0x38, &seg_max, 1);
	assert_int_equal(seg_max & 0xff, 1);
	c->vd->ops->config_read(c->vd, 0x800, &beyond, 4);
	assert_int_equal(beyond, 0);
}

static void test_create_errors(void **state)
{
	struct vdev *vd;

	(void)state;
	assert_int_equal(virtio_blk_create(&vd, "/nonexistent/x", false, NULL), -ENOENT);
	assert_int_equal(virtio_blk_create(&vd, "/dev/null", true, "012345678901234567890"),
			 -EINVAL);
}

int main(void)
{
#define T(fn)	cmocka_unit_test_setup_teardown(fn, setup, teardown)
#define TRO(fn) cmocka_unit_test_setup_teardown(fn, setup_ro, teardown)
	const struct CMUnitTest tests[] = {
		T(test_read),
		T(test_read_last_sector_and_beyond),
		T(test_write),
		T(test_write_split_header_and_data),
		T(test_status_shares_data_descriptor),
		TRO(test_write_readonly),
		T(test_flush),
		T(test_flush_coalesced),
		T(test_host_write_error_counted),
		T(test_get_id_padded),
		TRO(test_get_id_full_and_truncated),
		T(test_unknown_type),
		T(test_write_zeroes),
		T(test_discard_and_bad_ranges),
		TRO(test_write_zeroes_readonly),
		T(test_header_too_short),
		T(test_missing_status),
		T(test_status_not_writable),
		T(test_status_readable_after_data_resets),
		T(test_config_space),
		cmocka_unit_test(test_create_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
