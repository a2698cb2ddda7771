/*
 * Snapshot state file: writer and checking reader (state.h has the format).
 * The reader trusts nothing in the buffer: every length is checked against
 * what is left before it is used, and all records are verified before
 * snap_get() hands one out.
 */
#include "vmm/snapshot/state.h"

#include <endian.h>
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
	       "the state file stores structs as they are in memory: x86-64 only");

#define REC_ALIGN 8u

uint32_t snap_crc32c(uint32_t crc, const void *buf, size_t len)
{
	static uint32_t table[256];
	static int ready;
	const uint8_t *p = buf;

	/* Built once; racing builders write the same values. */
	if (!__atomic_load_n(&ready, __ATOMIC_ACQUIRE)) {
		for (uint32_t i = 0; i < 256; i++) {
			uint32_t c = i;

			for (int k = 0; k < 8; k++)
				c = (c & 1) ? (c >> 1) ^ 0x82f63b78u : c >> 1;
			table[i] = c;
		}
		__atomic_store_n(&ready, 1, __ATOMIC_RELEASE);
	}
	crc = ~crc;
	while (len--)
		crc = table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return ~crc;
}

static size_t pad8(size_t n)
{
	return (n + REC_ALIGN - 1) & ~(size_t)(REC_ALIGN - 1);
}

/* A record's CRC covers its type, id and length as well as the payload, so
 * a flipped id cannot move a record to another vCPU unnoticed. */
static uint32_t rec_crc(const struct snap_rec_hdr *rh, const void *data, size_t len)
{
	return snap_crc32c(snap_crc32c(0, rh, offsetof(struct snap_rec_hdr, crc)), data, len);
}

static bool zero(const uint8_t *p, size_t len)
{
	while (len--)
		if (*p++)
			return false;
	return true;
}

void snap_writer_init(struct snap_writer *w)
{
	memset(w, 0, sizeof(*w));
}

static int reserve(struct snap_writer *w, size_t more)
{
	size_t cap = w->cap ? w->cap : 64 << 10;
	uint8_t *nb;

	if (more > SNAP_STATE_MAX || w->len + more > SNAP_STATE_MAX)
		return -E2BIG;
	while (cap < w->len + more)
		cap *= 2;
	if (cap == w->cap)
		return 0;
	nb = realloc(w->buf, cap);
	if (!nb)
		return -ENOMEM;
	w->buf = nb;
	w->cap = cap;
	return 0;
}

static void put_raw(struct snap_writer *w, uint32_t type, uint32_t id, const void *data, size_t len)
{
	struct snap_rec_hdr rh = { .type = htole32(type), .id = htole32(id) };
	size_t total = sizeof(rh) + pad8(len);
	int ret;

	if (w->err)
		return;
	if (len > SNAP_STATE_MAX) {
		w->err = -E2BIG;
		return;
	}
	if (!w->len && (ret = reserve(w, sizeof(struct snap_header)))) {
		w->err = ret;
		return;
	}
	if (!w->len)
		w->len = sizeof(struct snap_header); /* filled in by finish */
	if ((ret = reserve(w, total))) {
		w->err = ret;
		return;
	}
	rh.len = htole32((uint32_t)len);
	rh.crc = htole32(rec_crc(&rh, data, len));
	memcpy(w->buf + w->len, &rh, sizeof(rh));
	if (len)
		memcpy(w->buf + w->len + sizeof(rh), data, len);
	memset(w->buf + w->len + sizeof(rh) + len, 0, pad8(len) - len);
	w->len += total;
}

void snap_put(struct snap_writer *w, uint32_t type, uint32_t id, const void *data, size_t len)
{
	if (type == SNAP_REC_END || type >= SNAP_REC_TYPE_MAX) {
		if (!w->err)
			w->err = -EINVAL;
		return;
	}
	put_raw(w, type, id, data, len);
	if (!w->err)
		w->nr_records++;
}

int snap_writer_finish(struct snap_writer *w, const struct snap_header *h, const uint8_t **out,
		       size_t *out_len)
{
	struct snap_header hdr = *h;

	put_raw(w, SNAP_REC_END, 0, NULL, 0);
	if (w->err)
		return w->err;
	memcpy(hdr.magic, SNAP_MAGIC, sizeof(hdr.magic));
	hdr.version = htole32(SNAP_VERSION);
	hdr.header_size = htole32(sizeof(hdr));
	hdr.cpu_signature = htole32(h->cpu_signature);
	hdr.tsc_khz = htole32(h->tsc_khz);
	hdr.nr_records = htole32(w->nr_records);
	hdr.body_len = htole64(w->len - sizeof(hdr));
	hdr.reserved = 0;
	hdr.header_crc = 0;
	hdr.header_crc = htole32(snap_crc32c(0, &hdr, sizeof(hdr)));
	memcpy(w->buf, &hdr, sizeof(hdr));
	*out = w->buf;
	*out_len = w->len;
	return 0;
}

void snap_writer_free(struct snap_writer *w)
{
	free(w->buf);
	memset(w, 0, sizeof(*w));
}

static int fail(char *err, size_t errlen, int ret, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int fail(char *err, size_t errlen, int ret, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return ret;
}

static int check_header(struct snap_reader *r, char *err, size_t errlen)
{
	struct snap_header *h = &r->hdr;
	uint32_t crc;

	if (r->len < sizeof(*h))
		return fail(err, errlen, -EINVAL, "state file truncated (%zu bytes, header is %zu)",
			    r->len, sizeof(*h));
	memcpy(h, r->buf, sizeof(*h));
	if (memcmp(h->magic, SNAP_MAGIC, sizeof(h->magic)))
		return fail(err, errlen, -EINVAL, "not a silo snapshot state file (bad magic)");
	if (le32toh(h->version) != SNAP_VERSION)
		return fail(err, errlen, -EINVAL,
			    "state file format version %u, this silo-vmm reads %u",
			    le32toh(h->version), SNAP_VERSION);
	crc = le32toh(h->header_crc);
	h->header_crc = 0;
	if (snap_crc32c(0, h, sizeof(*h)) != crc)
		return fail(err, errlen, -EINVAL,
			    "state file header is corrupt (checksum mismatch)");
	h->header_crc = crc;
	if (le32toh(h->header_size) != sizeof(*h))
		return fail(err, errlen, -EINVAL, "state file header size %u, expected %zu",
			    le32toh(h->header_size), sizeof(*h));
	if (le64toh(h->body_len) != r->len - sizeof(*h))
		return fail(
			err, errlen, -EINVAL,
			"state file truncated or padded: %zu bytes of records, header says %llu",
			r->len - sizeof(*h), (unsigned long long)le64toh(h->body_len));
	if (le32toh(h->nr_records) > SNAP_RECORDS_MAX)
		return fail(err, errlen, -EINVAL, "state file claims %u records (at most %u)",
			    le32toh(h->nr_records), SNAP_RECORDS_MAX);
	return 0;
}

/* Walks the records; with want_type set, stops at that record. */
static const uint8_t *walk(const struct snap_reader *r, char *err, size_t errlen, int *ret,
			   bool find, uint32_t want_type, uint32_t want_id, size_t *want_len)
{
	size_t off = sizeof(struct snap_header);
	uint32_t n = 0;

	*ret = 0;
	for (;;) {
		struct snap_rec_hdr rh;
		uint32_t type, len;

		if (r->len - off < sizeof(rh)) {
			*ret = fail(err, errlen, -EINVAL, "state file truncated at byte %zu", off);
			return NULL;
		}
		memcpy(&rh, r->buf + off, sizeof(rh));
		type = le32toh(rh.type);
		len = le32toh(rh.len);
		off += sizeof(rh);
		if (type >= SNAP_REC_TYPE_MAX || len > r->len - off || pad8(len) > r->len - off) {
			*ret = fail(
				err, errlen, -EINVAL,
				"state file corrupt: record %u (type %u, %u bytes) runs past the end",
				n, type, len);
			return NULL;
		}
		if (find && type == want_type && le32toh(rh.id) == want_id) {
			*want_len = len;
			return r->buf + off;
		}
		if (!find && (rec_crc(&rh, r->buf + off, len) != le32toh(rh.crc) ||
			      !zero(r->buf + off + len, pad8(len) - len))) {
			*ret = fail(err, errlen, -EINVAL,
				    "state file corrupt: record %u (type %u) fails its checksum", n,
				    type);
			return NULL;
		}
		off += pad8(len);
		if (type == SNAP_REC_END)
			break;
		if (++n > le32toh(r->hdr.nr_records))
			break;
	}
	if (find)
		return NULL;
	if (n != le32toh(r->hdr.nr_records) || off != r->len)
		*ret = fail(err, errlen, -EINVAL,
			    "state file corrupt: %u records before END, header says %u", n,
			    le32toh(r->hdr.nr_records));
	return NULL;
}

int snap_reader_init(struct snap_reader *r, const void *buf, size_t len, char *err, size_t errlen)
{
	int ret;

	memset(r, 0, sizeof(*r));
	if (len > SNAP_STATE_MAX)
		return fail(err, errlen, -E2BIG, "state file too large (%zu bytes, at most %u)",
			    len, SNAP_STATE_MAX);
	r->buf = buf;
	r->len = len;
	ret = check_header(r, err, errlen);
	if (!ret)
		walk(r, err, errlen, &ret, false, 0, 0, NULL);
	if (ret) /* nothing of a rejected file is handed out */
		memset(r, 0, sizeof(*r));
	return ret;
}

const void *snap_get(const struct snap_reader *r, uint32_t type, uint32_t id, size_t *len)
{
	int ret;

	if (!r->buf || type == SNAP_REC_END)
		return NULL;
	return walk(r, NULL, 0, &ret, true, type, id, len);
}

int snap_get_exact(const struct snap_reader *r, uint32_t type, uint32_t id, void *dst, size_t len)
{
	size_t have;
	const void *p = snap_get(r, type, id, &have);

	if (!p)
		return -ENOENT;
	if (have != len)
		return -EINVAL;
	memcpy(dst, p, len);
	return 0;
}
