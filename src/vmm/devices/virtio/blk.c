/*
 * virtio-blk (VIRTIO 1.2 §5.2) over a raw image file or block device.
 *
 * Requests are served synchronously, with preadv/pwritev straight into guest
 * memory (no bounce buffers), on the thread whose loop the transport gave
 * this disk: silo-vmm gives each disk its own (devices/device.h own_thread), so a slow write or
 * FLUSH stalls only this disk's queue, never vsock or the console. A chain is:
 *   readable:  struct virtio_blk_outhdr (16 bytes) [+ data for OUT]
 *   writable:  [data for IN / GET_ID] + 1 status byte (the chain's last byte)
 * Request-level mistakes complete with VIRTIO_BLK_S_IOERR; only ring-level
 * corruption (queue.c) puts the device in NEEDS_RESET.
 *
 * FLUSH is coalesced: the FLUSHes of one wakeup (at most VDEV_BUDGET chains)
 * complete together after one fdatasync, issued after every write of that
 * wakeup, and none at all when nothing was written since the last one. A
 * guest that floods the queue with FLUSH costs one sync per wakeup at most.
 *
 * WRITE_ZEROES and DISCARD (writable disks) become fallocate(2) on the
 * image: a range zeroed "may unmap" is punched out, so it reads back as
 * zeros and costs the host no space. This is what keeps a new scratch disk
 * small: the guest's mkfs and ext4's lazy init zero the journal and the
 * inode tables (~190 MiB on an 8 GiB disk) through WRITE_ZEROES when it is
 * offered, and wrote every one of those zeros into the image when it was
 * not, which a template's disk then carried into each clone.
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <linux/fs.h>
#include <linux/virtio_blk.h>
#include <linux/virtio_ids.h>

#include "vmm/devices/device.h"
#include "vmm/devices/virtio/vdev.h"
#include "vmm/devices/virtio/virtio.h"
#include "vmm/fdarg.h"
#include "vmm/log.h"

#define BLK_QUEUE_SIZE 256 /* Firecracker's choice */
#define SECTOR_SHIFT   9   /* §5.2.6: sector numbers are always 512-byte units */

_Static_assert(sizeof(struct virtio_blk_outhdr) == 16, "§5.2.6 request header");
_Static_assert(offsetof(struct virtio_blk_config, seg_max) == 0x0c, "§5.2.4 config");
_Static_assert(offsetof(struct virtio_blk_config, blk_size) == 0x14, "§5.2.4 config");
_Static_assert(offsetof(struct virtio_blk_config, wce) == 0x20, "§5.2.4 config");
_Static_assert(offsetof(struct virtio_blk_config, max_discard_sectors) == 0x24, "§5.2.4 config");
_Static_assert(offsetof(struct virtio_blk_config, max_write_zeroes_sectors) == 0x30,
	       "§5.2.4 config");
_Static_assert(offsetof(struct virtio_blk_config, write_zeroes_may_unmap) == 0x38, "§5.2.4 config");
_Static_assert(sizeof(struct virtio_blk_discard_write_zeroes) == 16, "§5.2.6 range");

/* §5.2.4: one range per DISCARD / WRITE_ZEROES request (as QEMU), of at
 * most 4 GiB - 512 (what a 32-bit sector count that Linux does not round
 * takes); discards in 4 KiB units (a hint for the guest: the host file
 * system frees only whole blocks of a punched range). */
#define BLK_ZERO_MAX_SECTORS 0x7fffffu
#define BLK_ZERO_ALIGN	     8u

/* A FLUSH waiting for the wakeup's one fdatasync: its chain and status byte. */
struct pending_flush {
	uint16_t head;
	uint8_t *status;
};

struct blk {
	int fd;
	bool ro;
	bool dirty;	  /* written since the last successful fdatasync */
	uint64_t syncs;	  /* fdatasync calls (metrics; relaxed atomics) */
	uint64_t flushes; /* FLUSH requests completed (metrics; relaxed atomics) */
	/*
	 * The host failing a guest write or flush (full filesystem, quota,
	 * I/O error): counted, the first one kept, logged once. Atomics, read
	 * by blk_metrics() without vd->lock. first_err is errno | op << 16,
	 * set once by CAS after first_time, so a reader that sees it sees the
	 * time too (release/acquire).
	 */
	uint64_t host_errs;
	int64_t first_time; /* CLOCK_REALTIME seconds of the first one */
	int first_err;
	unsigned int nr_flush;
	struct pending_flush flush[VDEV_BUDGET];
	uint64_t capacity; /* sectors */
	char serial[VIRTIO_BLK_ID_BYTES];
	struct virtio_blk_config cfg;
	struct vq_elem elem;		/* the chain being served */
	struct iovec data[VQ_MAX_SIZE]; /* its data part, header/status cut off */
};

static uint64_t blk_features(struct vdev *vd)
{
	struct blk *b = vd->priv;
	uint64_t f = (1ULL << VIRTIO_BLK_F_FLUSH) | (1ULL << VIRTIO_BLK_F_SEG_MAX);

	/* §5.2.3: with RO offered the driver will not write; we still refuse OUT. */
	if (b->ro)
		f |= 1ULL << VIRTIO_BLK_F_RO;
	else
		f |= (1ULL << VIRTIO_BLK_F_DISCARD) | (1ULL << VIRTIO_BLK_F_WRITE_ZEROES);
	return f;
}

static void blk_config_read(struct vdev *vd, uint32_t off, void *buf, uint32_t len)
{
	struct blk *b = vd->priv;

	vdev_config_copy(&b->cfg, sizeof(b->cfg), off, buf, len);
}

enum { HOST_OP_WRITE = 1, HOST_OP_FLUSH = 2, HOST_OP_ZERO = 3 };

static const char *host_op_name(int op)
{
	return op == HOST_OP_FLUSH ? "flush" : op == HOST_OP_ZERO ? "write of zeros" : "write";
}

/* The guest-facing name (vdb): the serial disk_create gives, without "silo-". */
static void blk_name(const struct blk *b, char name[VIRTIO_BLK_ID_BYTES + 1])
{
	size_t n = strnlen(b->serial, sizeof(b->serial));

	if (n > 5 && !memcmp(b->serial, "silo-", 5))
		snprintf(name, VIRTIO_BLK_ID_BYTES + 1, "%.*s", (int)(n - 5), b->serial + 5);
	else
		snprintf(name, VIRTIO_BLK_ID_BYTES + 1, "blk");
}

/*
 * The host refused a write or flush the guest asked for. The guest gets
 * VIRTIO_BLK_S_IOERR (its filesystem decides what to do); the host side
 * counts it and says once, on stderr (the console log under silo), why.
 */
static void host_error(struct blk *b, int op, int err)
{
	char name[VIRTIO_BLK_ID_BYTES + 1];
	int none = 0;

	__atomic_fetch_add(&b->host_errs, 1, __ATOMIC_RELAXED);
	if (__atomic_load_n(&b->first_err, __ATOMIC_ACQUIRE))
		return;
	__atomic_store_n(&b->first_time, (int64_t)time(NULL), __ATOMIC_RELAXED);
	if (!__atomic_compare_exchange_n(&b->first_err, &none, err | op << 16, false,
					 __ATOMIC_RELEASE, __ATOMIC_RELAXED))
		return;
	blk_name(b, name);
	fprintf(stderr, "silo-vmm: disk %s: host %s failed: %s%s; the guest sees I/O errors\n",
		name, host_op_name(op), strerror(err),
		err == ENOSPC || err == EDQUOT ? " (host disk full)" : "");
}

/* preadv/pwritev until done; *done = bytes moved. Short transfer (EOF) is -EIO. */
static int blk_rw(int fd, struct iovec *iov, unsigned int cnt, uint64_t off, bool wr, size_t *done)
{
	*done = 0;
	while (cnt) {
		ssize_t r = wr ? pwritev(fd, iov, (int)cnt, (off_t)off)
			       : preadv(fd, iov, (int)cnt, (off_t)off);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			return -EIO;
		*done += (size_t)r;
		off += (uint64_t)r;
		while (cnt && (size_t)r >= iov->iov_len) {
			r -= (ssize_t)iov->iov_len;
			iov++;
			cnt--;
		}
		if (cnt) {
			iov->iov_base = (uint8_t *)iov->iov_base + r;
			iov->iov_len -= (size_t)r;
		}
	}
	return 0;
}

/* len zero bytes at off, without writing them where the host can: a
 * punched hole when the guest lets us unmap (§5.2.6.2), else allocated
 * zeros (FALLOC_FL_ZERO_RANGE, as Linux's loop driver does for NOUNMAP);
 * written out only where the file system has neither. */
static int zero_range(int fd, uint64_t off, uint64_t len, bool unmap)
{
	static const uint8_t zeros[64 * 1024];

	if (unmap &&
	    fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off, (off_t)len) == 0)
		return 0;
	if (fallocate(fd, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, (off_t)off, (off_t)len) == 0)
		return 0;
	if (errno != EOPNOTSUPP && errno != EINVAL && errno != ENODEV)
		return -errno;
	while (len) {
		size_t n = len < sizeof(zeros) ? (size_t)len : sizeof(zeros);
		ssize_t w = pwrite(fd, zeros, n, (off_t)off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return w < 0 ? -errno : -EIO;
		off += (uint64_t)w;
		len -= (uint64_t)w;
	}
	return 0;
}

/* §5.2.6.1: requests reaching past capacity fail (no partial I/O). */
static bool in_range(const struct blk *b, uint64_t sector, uint64_t len)
{
	return sector <= b->capacity && len <= ((b->capacity - sector) << SECTOR_SHIFT);
}

/*
 * DISCARD or WRITE_ZEROES (§5.2.6): one struct virtio_blk_discard_write_zeroes
 * after the header. Not offered on a read-only disk (IOERR, as for OUT); a
 * request of other than one range, or with a flag we do not know (or UNMAP
 * on a DISCARD, §5.2.6.2), is UNSUPP; a range out of bounds or too long
 * is IOERR (fallocate takes any sector range). A DISCARD is a hint: the host
 * refusing to punch is not the guest's error. The range's zeros reach the
 * disk with the next FLUSH.
 */
static uint8_t blk_zero(struct vdev *vd, struct blk *b, const struct vq_elem *e, bool discard,
			size_t out_data)
{
	struct virtio_blk_discard_write_zeroes r;
	uint64_t sector;
	uint32_t num, flags;
	int ret;

	if (out_data != sizeof(r) || iov_to_buf(e->iov, e->nr_out, sizeof(struct virtio_blk_outhdr),
						&r, sizeof(r)) < sizeof(r))
		goto unsupp;
	sector = le64toh(r.sector);
	num = le32toh(r.num_sectors);
	flags = le32toh(r.flags);
	if (flags & ~(uint32_t)VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP ||
	    (discard && flags & VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP))
		goto unsupp;
	if (b->ro || num > BLK_ZERO_MAX_SECTORS ||
	    !in_range(b, sector, (uint64_t)num << SECTOR_SHIFT)) {
		VDEV_STAT(vd, err, 1);
		return VIRTIO_BLK_S_IOERR;
	}
	b->dirty = true; /* the file's blocks changed: the next FLUSH syncs */
	ret = zero_range(b->fd, sector << SECTOR_SHIFT, (uint64_t)num << SECTOR_SHIFT,
			 discard || flags & VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP);
	if (ret && !discard) {
		VDEV_STAT(vd, err, 1);
		host_error(b, HOST_OP_ZERO, -ret);
		return VIRTIO_BLK_S_IOERR;
	}
	return VIRTIO_BLK_S_OK;
unsupp:
	VDEV_STAT(vd, err, 1);
	return VIRTIO_BLK_S_UNSUPP;
}

/* blk_do() result for a FLUSH: its completion waits for flush_pending(). */
#define BLK_S_DEFER 0xff

/* Serve one request; returns the status, *written = data bytes put into the guest. */
static uint8_t blk_do(struct vdev *vd, struct blk *b, const struct vq_elem *e, uint32_t *written)
{
	const struct iovec *in = e->iov + e->nr_out;
	size_t in_data = e->in_len - 1; /* caller guarantees the status byte */
	size_t out_data, done = 0;
	struct virtio_blk_outhdr hdr;
	uint64_t sector;
	unsigned int n;
	int ret;

	if (iov_to_buf(e->iov, e->nr_out, 0, &hdr, sizeof(hdr)) < sizeof(hdr)) {
		VDEV_STAT(vd, err, 1);
		vdev_warn(vd, "request header shorter than %zu bytes", sizeof(hdr));
		return VIRTIO_BLK_S_IOERR;
	}
	out_data = e->out_len - sizeof(hdr);
	sector = le64toh(hdr.sector);

	switch (le32toh(hdr.type)) {
	case VIRTIO_BLK_T_IN:
		if (!in_range(b, sector, in_data))
			goto ioerr;
		n = iov_slice(in, e->nr_in, 0, in_data, b->data);
		ret = blk_rw(b->fd, b->data, n, sector << SECTOR_SHIFT, false, &done);
		*written = (uint32_t)done;
		VDEV_STAT(vd, bytes_in, done);
		return ret ? VIRTIO_BLK_S_IOERR : VIRTIO_BLK_S_OK;
	case VIRTIO_BLK_T_OUT:
		if (b->ro || !in_range(b, sector, out_data))
			goto ioerr;
		n = iov_slice(e->iov, e->nr_out, sizeof(hdr), out_data, b->data);
		b->dirty = true; /* even a failed write may have reached the file */
		ret = blk_rw(b->fd, b->data, n, sector << SECTOR_SHIFT, true, &done);
		if (ret) {
			VDEV_STAT(vd, err, 1);
			host_error(b, HOST_OP_WRITE, -ret);
			return VIRTIO_BLK_S_IOERR;
		}
		VDEV_STAT(vd, bytes_out, done);
		return VIRTIO_BLK_S_OK;
	case VIRTIO_BLK_T_FLUSH:
		return BLK_S_DEFER; /* completed by flush_pending() */
	case VIRTIO_BLK_T_DISCARD:
	case VIRTIO_BLK_T_WRITE_ZEROES:
		return blk_zero(vd, b, e, le32toh(hdr.type) == VIRTIO_BLK_T_DISCARD, out_data);
	case VIRTIO_BLK_T_GET_ID:
		/* §5.2.6: up to 20 bytes, NUL-padded, not terminated when 20 long. */
		n = iov_slice(in, e->nr_in, 0, in_data, b->data);
		done = buf_to_iov(b->data, n, 0, b->serial, sizeof(b->serial));
		*written = (uint32_t)done;
		return VIRTIO_BLK_S_OK;
	default:
		return VIRTIO_BLK_S_UNSUPP;
	}
ioerr:
	VDEV_STAT(vd, err, 1);
	return VIRTIO_BLK_S_IOERR;
}

/*
 * Complete the wakeup's FLUSHes. §5.2.6.2: writes completed before a FLUSH
 * must be durable when it completes; every one of them was issued before
 * this single fdatasync, and none needs it when nothing was written since
 * the last one succeeded.
 */
static void flush_pending(struct vdev *vd, struct blk *b, unsigned int qidx)
{
	uint8_t status = VIRTIO_BLK_S_OK;

	if (!b->nr_flush)
		return;
	if (b->dirty) {
		__atomic_fetch_add(&b->syncs, 1, __ATOMIC_RELAXED);
		if (fdatasync(b->fd) == 0) {
			b->dirty = false;
		} else {
			VDEV_STAT(vd, err, 1);
			host_error(b, HOST_OP_FLUSH, errno);
			status = VIRTIO_BLK_S_IOERR;
		}
	}
	for (unsigned int i = 0; i < b->nr_flush; i++) {
		*b->flush[i].status = status;
		vq_push(&vd->vq[qidx], b->flush[i].head, 1); /* the status byte (§2.7.8) */
		VDEV_STAT(vd, reqs, 1);
	}
	__atomic_fetch_add(&b->flushes, b->nr_flush, __ATOMIC_RELAXED);
	b->nr_flush = 0;
}

static void blk_queue_notify(struct vdev *vd, unsigned int qidx)
{
	struct blk *b = vd->priv;
	struct vq_elem *e = &b->elem;
	unsigned int done = 0;

	while (vdev_pop_budget(vd, qidx, e, done) > 0) {
		uint32_t written = 0;

		done++;
		if (e->in_len == 0) {
			/* Nowhere to put a status: complete it empty so the
			 * descriptors come back to the driver (§5.2.6.1). */
			VDEV_STAT(vd, err, 1);
			vdev_warn(vd, "request without a writable status byte");
		} else {
			const struct iovec *last = &e->iov[e->nr_out + e->nr_in - 1];
			uint8_t *sp = (uint8_t *)last->iov_base + last->iov_len - 1;
			uint8_t status = blk_do(vd, b, e, &written);

			if (status == BLK_S_DEFER) {
				/* done <= VDEV_BUDGET bounds nr_flush. */
				b->flush[b->nr_flush++] = (struct pending_flush){ e->head, sp };
				continue;
			}
			*sp = status;
			written++; /* used.len counts the status byte (§2.7.8) */
		}
		vq_push(&vd->vq[qidx], e->head, written);
		VDEV_STAT(vd, reqs, 1);
	}
	flush_pending(vd, b, qidx);
	if (done)
		vdev_signal_used(vd, qidx);
}

/*
 * blk's own counters: fdatasync calls against FLUSH requests served, and
 * the host's failed writes/flushes with the first one ("host_errs",
 * "first_error": {"errno","error","op","time"}; silo ls reads them). Read
 * without vd->lock, which the disk's I/O thread holds through a write that
 * may block on the host's filesystem: the control socket's metrics must
 * answer then too (the counters are atomics, like struct virtio_metrics).
 */
static void blk_metrics(struct vdev *vd, FILE *f)
{
	struct blk *b = vd->priv;

	int first = __atomic_load_n(&b->first_err, __ATOMIC_ACQUIRE);
	char name[VIRTIO_BLK_ID_BYTES + 1];

	/* The serial is the guest's, set by disk_create: [a-z0-9-] only, no JSON escaping. */
	blk_name(b, name);
	fprintf(f, "{\"disk\":\"%s\",\"flushes\":%llu,\"syncs\":%llu,\"host_errs\":%llu", name,
		(unsigned long long)__atomic_load_n(&b->flushes, __ATOMIC_RELAXED),
		(unsigned long long)__atomic_load_n(&b->syncs, __ATOMIC_RELAXED),
		(unsigned long long)__atomic_load_n(&b->host_errs, __ATOMIC_RELAXED));
	if (first)
		fprintf(f,
			",\"first_error\":{\"errno\":%d,\"error\":\"%s\",\"op\":\"%s\","
			"\"time\":%lld}",
			first & 0xffff, strerror(first & 0xffff), host_op_name(first >> 16),
			(long long)__atomic_load_n(&b->first_time, __ATOMIC_RELAXED));
	fputc('}', f);
}

static void blk_destroy(struct vdev *vd)
{
	struct blk *b = vd->priv;

	close(b->fd);
	free(b);
}

static const struct virtio_dev_ops blk_ops = {
	.device_id = VIRTIO_ID_BLOCK,
	.name = "blk",
	.num_queues = 1, /* no VIRTIO_BLK_F_MQ */
	.queue_max = BLK_QUEUE_SIZE,
	.features = blk_features,
	.config_read = blk_config_read,
	.config_write = NULL, /* nothing writable without CONFIG_WCE */
	.activate = NULL,
	.queue_notify = blk_queue_notify,
	.reset = NULL, /* requests complete synchronously: nothing in flight */
	.save = NULL,
	.restore = NULL,
	.destroy = blk_destroy,
	.metrics = blk_metrics,
};

int virtio_blk_create_fd(struct vdev **out, int fd, bool readonly, const char *serial)
{
	size_t slen = serial ? strlen(serial) : 0;
	struct vdev *vd = NULL;
	struct blk *b = NULL;
	uint64_t bytes;
	struct stat st;
	int ret;

	if (slen > VIRTIO_BLK_ID_BYTES)
		return -EINVAL;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (S_ISBLK(st.st_mode)) {
		if (ioctl(fd, BLKGETSIZE64, &bytes) < 0)
			return -errno;
	} else if (S_ISREG(st.st_mode)) {
		bytes = (uint64_t)st.st_size;
	} else {
		return -EINVAL;
	}
	vd = calloc(1, sizeof(*vd));
	b = calloc(1, sizeof(*b));
	if (!vd || !b) {
		ret = -ENOMEM;
		goto err;
	}
	b->fd = fd;
	b->ro = readonly;
	b->dirty = true; /* the first FLUSH syncs whatever came before us */
	/* A trailing partial sector is not addressable by the guest. */
	b->capacity = bytes >> SECTOR_SHIFT;
	if (slen)
		memcpy(b->serial, serial, slen);
	b->cfg.capacity = htole64(b->capacity);
	/* §5.2.4: seg_max leaves room for the header and status descriptors. */
	b->cfg.seg_max = htole32(BLK_QUEUE_SIZE - 2);
	b->cfg.max_discard_sectors = htole32(BLK_ZERO_MAX_SECTORS);
	b->cfg.max_discard_seg = htole32(1);
	b->cfg.discard_sector_alignment = htole32(BLK_ZERO_ALIGN);
	b->cfg.max_write_zeroes_sectors = htole32(BLK_ZERO_MAX_SECTORS);
	b->cfg.max_write_zeroes_seg = htole32(1);
	b->cfg.write_zeroes_may_unmap = 1;
	ret = vdev_init(vd, &blk_ops, b);
	if (ret)
		goto err;
	*out = vd;
	return 0;
err:
	free(b);
	free(vd);
	return ret;
}

int virtio_blk_create(struct vdev **out, const char *path, bool readonly, const char *serial)
{
	int fd, ret;

	if (serial && strlen(serial) > VIRTIO_BLK_ID_BYTES)
		return -EINVAL;
	fd = fdarg_open(path, readonly ? O_RDONLY : O_RDWR);
	if (fd < 0)
		return fd;
	ret = virtio_blk_create_fd(out, fd, readonly, serial);
	if (ret)
		close(fd);
	return ret;
}

/* --disk PATH[,ro]: the path is arg up to *pathlen; false on an unknown flag. */
static bool disk_split(const char *arg, size_t *pathlen, bool *readonly)
{
	const char *comma = strchr(arg, ',');

	*pathlen = comma ? (size_t)(comma - arg) : strlen(arg);
	*readonly = comma != NULL;
	return !comma || !strcmp(comma, ",ro");
}

static int disk_check(const char *arg, const char *const *prev, unsigned int nr_prev, char *err,
		      size_t errlen)
{
	size_t len, plen;
	bool ro;

	if (!disk_split(arg, &len, &ro)) {
		snprintf(err, errlen, "--disk PATH[,ro]: unknown flag in '%s'", arg);
		return -1;
	}
	if (!len) {
		snprintf(err, errlen, "--disk needs a path");
		return -1;
	}
	for (unsigned int i = 0; i < nr_prev; i++) {
		disk_split(prev[i], &plen, &ro);
		if (plen == len && !memcmp(prev[i], arg, len)) {
			snprintf(err, errlen, "disk '%.*s' given twice", (int)len, arg);
			return -1;
		}
	}
	return 0;
}

static int disk_create(struct vdev **out, const char *arg, unsigned int idx,
		       const struct vmm_dev_env *env, char *what, size_t whatlen)
{
	char serial[20];
	size_t len;
	bool ro;
	int ret;

	(void)env;
	disk_split(arg, &len, &ro);
	snprintf(what, whatlen, "%.*s", (int)len, arg);
	snprintf(serial, sizeof(serial), "silo-vd%c", 'a' + idx);
	ret = virtio_blk_create(out, what, ro, serial);
	if (ret)
		return err_ret(ret, "disk %s: %s", what, strerror(-ret));
	return 0;
}

const struct vmm_device virtio_blk_device = {
	.name = "disk",
	.metavar = "PATH[,ro]",
	.help = "virtio-blk disk; repeatable, in order /dev/vda, vdb, ...",
	.max = VM_MAX_DISKS,
	.own_thread = true,
	.check = disk_check,
	.create = disk_create,
};
