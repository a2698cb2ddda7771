/* Working-set file (src/vmm/snapshot/wset.c): recorded from this process's
 * own pagemap, read back, prefetched; hostile files refused. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <cmocka.h>

#include "vmm/snapshot/state.h"
#include "vmm/snapshot/wset.h"

#define PG    4096
#define PAGES 16
#define RAM   ((uint64_t)PAGES * PG)

static int pagemap = -1;

static int setup(void **state)
{
	(void)state;
	pagemap = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	return pagemap < 0;
}

static int teardown(void **state)
{
	(void)state;
	close(pagemap);
	return 0;
}

/* A memfd of PAGES pages with data in every page, mapped MAP_PRIVATE as a
 * restore maps its memory file: one region of guest RAM. */
static struct guest_mem map_file(int *fd)
{
	struct guest_mem m = { .nr = 1 };
	char page[PG];

	*fd = memfd_create("wset", MFD_CLOEXEC);
	assert_true(*fd >= 0);
	memset(page, 0x5a, sizeof(page));
	for (int i = 0; i < PAGES; i++)
		assert_int_equal(pwrite(*fd, page, PG, (off_t)i * PG), PG);
	m.r[0].size = RAM;
	m.r[0].hva = mmap(NULL, RAM, PROT_READ | PROT_WRITE, MAP_PRIVATE, *fd, 0);
	assert_true(m.r[0].hva != MAP_FAILED);
	return m;
}

/* Record m into a memfd and parse it back. */
static uint32_t record(const struct guest_mem *m, struct wset_range **r, uint64_t *pages)
{
	char err[160];
	uint8_t buf[4096];
	uint32_t nr;
	int out = memfd_create("wset-out", MFD_CLOEXEC);
	ssize_t n;

	assert_true(out >= 0);
	assert_int_equal(wset_record(out, pagemap, m, pages, err, sizeof(err)), 0);
	n = pread(out, buf, sizeof(buf), 0);
	assert_true(n >= (ssize_t)sizeof(struct wset_header));
	assert_int_equal(wset_parse(buf, (size_t)n, RAM, r, &nr, err, sizeof(err)), 0);
	close(out);
	return nr;
}

/* Pages read stay the file's (shared): only written ones are recorded,
 * and runs of them are one range each. */
static void test_record_written_pages_only(void **state)
{
	struct wset_range *r;
	uint64_t pages;
	volatile uint8_t sink = 0;
	int fd;
	struct guest_mem m = map_file(&fd);

	(void)state;
	sink ^= m.r[0].hva[0];	     /* read: the page cache's page */
	sink ^= m.r[0].hva[9 * PG];  /* read */
	for (int i = 2; i <= 4; i++) /* written: private copies */
		m.r[0].hva[i * PG] = 1;
	m.r[0].hva[11 * PG + 17] = 1;
	(void)sink;
	assert_int_equal(record(&m, &r, &pages), 2);
	assert_int_equal(pages, 4);
	assert_int_equal(r[0].off, 2 * PG);
	assert_int_equal(r[0].len, 3 * PG);
	assert_int_equal(r[1].off, 11 * PG);
	assert_int_equal(r[1].len, PG);
	free(r);
	munmap(m.r[0].hva, RAM);
	close(fd);
}

/* Prefetched ranges are private copies of the file's pages afterwards,
 * with the file's data in them, and nothing else was touched. */
static void test_prefetch_makes_those_pages_private(void **state)
{
	struct wset_range want[2] = { { PG, 2 * PG }, { 10 * PG, PG } }, *r;
	uint64_t pages;
	int fd;
	struct guest_mem m = map_file(&fd);

	(void)state;
	assert_int_equal(wset_prefetch(&m, want, 2, &pages), 0);
	assert_int_equal(pages, 3);
	assert_int_equal(record(&m, &r, &pages), 2);
	assert_memory_equal(r, want, sizeof(want));
	assert_int_equal(m.r[0].hva[PG], 0x5a);
	assert_int_equal(m.r[0].hva[10 * PG + 4095], 0x5a);
	free(r);
	munmap(m.r[0].hva, RAM);
	close(fd);
}

/* A range that runs from one region into the next is split between them. */
static void test_prefetch_across_regions(void **state)
{
	struct wset_range want = { PG, 3 * PG };
	struct guest_mem m = { .nr = 2 };
	uint64_t pages;
	uint8_t *p = mmap(NULL, 4 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	(void)state;
	assert_true(p != MAP_FAILED);
	m.r[0] = (struct guest_region){ .gpa = 0, .size = 2 * PG, .hva = p };
	m.r[1] = (struct guest_region){ .gpa = 1ULL << 32, .size = 2 * PG, .hva = p + 2 * PG };
	assert_int_equal(wset_prefetch(&m, &want, 1, &pages), 0);
	assert_int_equal(pages, 3);
	munmap(p, 4 * PG);
}

/* A file of the given ranges, header filled in as the writer would. */
static size_t build(uint8_t *buf, const struct wset_range *r, uint32_t nr)
{
	struct wset_header h = { .version = WSET_VERSION, .nr = nr, .ram_size = RAM };

	memcpy(h.magic, WSET_MAGIC, sizeof(h.magic));
	h.crc = snap_crc32c(0, r, nr * sizeof(*r));
	memcpy(buf, &h, sizeof(h));
	memcpy(buf + sizeof(h), r, nr * sizeof(*r));
	return sizeof(h) + nr * sizeof(*r);
}

static int parse(const uint8_t *buf, size_t len, char *err)
{
	struct wset_range *r;
	uint32_t nr;
	int ret = wset_parse(buf, len, RAM, &r, &nr, err, 160);

	if (!ret)
		free(r);
	return ret;
}

static void test_hostile_files(void **state)
{
	static const struct {
		struct wset_range r[2];
		const char *why;
	} bad[] = {
		{ { { 0, PG }, { PG, PG } }, "range 1" },		 /* touching */
		{ { { 2 * PG, PG }, { PG, PG } }, "range 1" },		 /* unsorted */
		{ { { 0, 2 * PG }, { PG, PG } }, "range 1" },		 /* overlapping */
		{ { { 100, PG }, { 4 * PG, PG } }, "range 0" },		 /* unaligned */
		{ { { 0, 0 }, { 4 * PG, PG } }, "range 0" },		 /* empty */
		{ { { 0, PG }, { 15 * PG, 2 * PG } }, "range 1" },	 /* past RAM */
		{ { { 0, PG }, { 2 * PG, -(uint64_t)PG } }, "range 1" }, /* wraps */
		{ { { 0, PG }, { RAM + PG, PG } }, "range 1" },		 /* beyond */
	};
	uint8_t buf[256], good[256];
	struct wset_range ok[2] = { { 0, PG }, { 2 * PG, 14 * PG } };
	char err[160];
	size_t len;

	(void)state;
	len = build(good, ok, 2);
	assert_int_equal(parse(good, len, err), 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		size_t n = build(buf, bad[i].r, 2);

		assert_int_equal(parse(buf, n, err), -EINVAL);
		assert_non_null(strstr(err, bad[i].why));
	}
	/* header fields, one at a time */
	memcpy(buf, good, len);
	buf[0] ^= 1;
	assert_int_equal(parse(buf, len, err), -EINVAL);
	assert_string_equal(err, "not a working-set file");
	memcpy(buf, good, len);
	buf[offsetof(struct wset_header, version)] = 2;
	assert_int_equal(parse(buf, len, err), -EINVAL);
	assert_non_null(strstr(err, "version 2"));
	memcpy(buf, good, len);
	buf[offsetof(struct wset_header, ram_size)] ^= 0x10;
	assert_int_equal(parse(buf, len, err), -EINVAL);
	assert_non_null(strstr(err, "RAM"));
	memcpy(buf, good, len);
	buf[len - 1] ^= 0x80; /* a range's byte: the checksum says so */
	assert_int_equal(parse(buf, len, err), -EINVAL);
	assert_string_equal(err, "checksum mismatch");
	/* truncated, and longer than its ranges */
	assert_int_equal(parse(good, len - 1, err), -EINVAL);
	assert_int_equal(parse(good, sizeof(struct wset_header) - 1, err), -EINVAL);
	memcpy(buf, good, len);
	buf[offsetof(struct wset_header, nr)] = 3;
	assert_int_equal(parse(buf, len, err), -EINVAL);
	memcpy(buf, good, len);
	buf[offsetof(struct wset_header, zero)] = 1;
	assert_int_equal(parse(buf, len, err), -EINVAL);
	/* no ranges at all is a valid (empty) working set */
	len = build(buf, ok, 0);
	assert_int_equal(parse(buf, len, err), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_record_written_pages_only),
		cmocka_unit_test(test_prefetch_makes_those_pages_private),
		cmocka_unit_test(test_prefetch_across_regions),
		cmocka_unit_test(test_hostile_files),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
