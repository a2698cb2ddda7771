/*
 * The working set of a template's clones: recorded from /proc/self/pagemap,
 * checked when read, prefetched at restore (wset.h has the format).
 */
#include "vmm/snapshot/wset.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "vmm/snapshot/state.h"

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
	       "the working-set file stores structs as they are in memory: x86-64 only");

/* Documentation/admin-guide/mm/pagemap.rst: bit 63 present, bit 61 "page
 * is a file page or shared anonymous". A page the guest wrote after a
 * restore is a private anonymous copy: present, bit 61 clear. */
#define PM_PRESENT (1ULL << 63)
#define PM_FILE	   (1ULL << 61)
#define PM_CHUNK   4096 /* entries read at once: 16 MiB of guest RAM */

static int fail(char *err, size_t errlen, int ret, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return ret;
}

int wset_parse(const void *buf, size_t len, uint64_t ram_size, struct wset_range **out,
	       uint32_t *nr, char *err, size_t errlen)
{
	struct wset_header h;
	struct wset_range *r;
	uint64_t end = 0;

	*out = NULL;
	*nr = 0;
	if (len < sizeof(h))
		return fail(err, errlen, -EINVAL, "shorter than its header (%zu bytes)", len);
	memcpy(&h, buf, sizeof(h));
	if (memcmp(h.magic, WSET_MAGIC, sizeof(h.magic)))
		return fail(err, errlen, -EINVAL, "not a working-set file");
	if (h.version != WSET_VERSION)
		return fail(err, errlen, -EINVAL, "version %u, this silo-vmm reads %u", h.version,
			    WSET_VERSION);
	if (h.ram_size != ram_size)
		return fail(err, errlen, -EINVAL, "recorded for %llu bytes of RAM, the VM has %llu",
			    (unsigned long long)h.ram_size, (unsigned long long)ram_size);
	if (h.nr > WSET_MAX_RANGES || h.zero ||
	    (len - sizeof(h)) != (uint64_t)h.nr * sizeof(struct wset_range))
		return fail(err, errlen, -EINVAL, "%u ranges in %zu bytes", h.nr, len);
	if (snap_crc32c(0, (const uint8_t *)buf + sizeof(h), len - sizeof(h)) != h.crc)
		return fail(err, errlen, -EINVAL, "checksum mismatch");
	if (!h.nr)
		return 0;
	r = malloc((size_t)h.nr * sizeof(*r));
	if (!r)
		return fail(err, errlen, -ENOMEM, "out of memory");
	memcpy(r, (const uint8_t *)buf + sizeof(h), (size_t)h.nr * sizeof(*r));
	for (uint32_t i = 0; i < h.nr; i++) {
		/* after the previous one with a gap (merged runs never touch),
		 * page aligned, inside RAM; no sum can wrap */
		if (((r[i].off | r[i].len) & (WSET_PAGE - 1)) || !r[i].len ||
		    (i && r[i].off <= end) || r[i].off > ram_size ||
		    r[i].len > ram_size - r[i].off) {
			struct wset_range bad = r[i];

			free(r);
			return fail(err, errlen, -EINVAL, "range %u (%#llx+%#llx) is not valid", i,
				    (unsigned long long)bad.off, (unsigned long long)bad.len);
		}
		end = r[i].off + r[i].len;
	}
	*out = r;
	*nr = h.nr;
	return 0;
}

/* A growing array of ranges; runs that touch are merged. */
struct ranges {
	struct wset_range *r;
	uint32_t nr, cap;
};

static int add(struct ranges *v, uint64_t off, uint64_t len)
{
	if (v->nr && v->r[v->nr - 1].off + v->r[v->nr - 1].len == off) {
		v->r[v->nr - 1].len += len;
		return 0;
	}
	if (v->nr == WSET_MAX_RANGES)
		return -E2BIG;
	if (v->nr == v->cap) {
		uint32_t cap = v->cap ? v->cap * 2 : 1024;
		struct wset_range *n = realloc(v->r, (size_t)cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		v->r = n;
		v->cap = cap;
	}
	v->r[v->nr++] = (struct wset_range){ off, len };
	return 0;
}

/* The private pages of one region, at RAM offset base. */
static int scan(struct ranges *v, int pagemap_fd, const struct guest_region *g, uint64_t base,
		uint64_t *pages)
{
	static uint64_t ent[PM_CHUNK]; /* the event thread's only caller */
	uint64_t npages = g->size / WSET_PAGE, first = (uintptr_t)g->hva / WSET_PAGE;

	for (uint64_t i = 0; i < npages;) {
		uint64_t want = npages - i < PM_CHUNK ? npages - i : PM_CHUNK;
		ssize_t got = pread(pagemap_fd, ent, want * 8, (off_t)((first + i) * 8));
		int ret;

		if (got < 0)
			return -errno;
		if (got < 8)
			return -EIO;
		for (uint64_t j = 0; j < (uint64_t)got / 8; j++) {
			if ((ent[j] & (PM_PRESENT | PM_FILE)) != PM_PRESENT)
				continue;
			if ((ret = add(v, base + (i + j) * WSET_PAGE, WSET_PAGE)))
				return ret;
			(*pages)++;
		}
		i += (uint64_t)got / 8;
	}
	return 0;
}

static int write_all(int fd, const void *p, size_t len, off_t off)
{
	while (len) {
		ssize_t n = pwrite(fd, p, len, off);

		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		p = (const uint8_t *)p + n;
		len -= (size_t)n;
		off += n;
	}
	return 0;
}

int wset_record(int out_fd, int pagemap_fd, const struct guest_mem *m, uint64_t *pages, char *err,
		size_t errlen)
{
	struct wset_header h = { .version = WSET_VERSION };
	struct ranges v = { 0 };
	uint64_t base = 0;
	size_t bytes;
	int ret = 0;

	*pages = 0;
	if (pagemap_fd < 0)
		return fail(err, errlen, -EBADF, "/proc/self/pagemap was not opened at start");
	for (unsigned int i = 0; !ret && i < m->nr; i++) {
		ret = scan(&v, pagemap_fd, &m->r[i], base, pages);
		base += m->r[i].size;
	}
	if (ret) {
		free(v.r);
		return fail(err, errlen, ret, "reading /proc/self/pagemap: %s", strerror(-ret));
	}
	memcpy(h.magic, WSET_MAGIC, sizeof(h.magic));
	h.nr = v.nr;
	h.ram_size = base;
	bytes = (size_t)v.nr * sizeof(*v.r);
	h.crc = snap_crc32c(0, v.r, bytes);
	if (ftruncate(out_fd, 0) < 0 || (ret = write_all(out_fd, &h, sizeof(h), 0)) ||
	    (ret = write_all(out_fd, v.r, bytes, sizeof(h))))
		ret = ret ? ret : -errno;
	free(v.r);
	if (ret)
		return fail(err, errlen, ret, "writing the working set: %s", strerror(-ret));
	return 0;
}

int wset_prefetch(const struct guest_mem *m, const struct wset_range *r, uint32_t nr,
		  uint64_t *pages)
{
	*pages = 0;
	for (uint32_t i = 0; i < nr; i++) {
		uint64_t off = r[i].off, len = r[i].len, base = 0;

		/* a range may run from one RAM region into the next */
		for (unsigned int k = 0; k < m->nr && len; k++) {
			const struct guest_region *g = &m->r[k];

			if (off < base + g->size) {
				uint64_t at = off - base;
				uint64_t n = len < g->size - at ? len : g->size - at;

				if (madvise(g->hva + at, n, MADV_POPULATE_WRITE) < 0)
					return -errno;
				*pages += n / WSET_PAGE;
				off += n;
				len -= n;
			}
			base += g->size;
		}
	}
	return 0;
}
