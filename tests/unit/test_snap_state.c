/* Snapshot state file (src/vmm/snapshot/state.c): round trip and hostile input. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "vmm/snapshot/state.h"

static uint8_t *file;
static size_t file_len;

/* A small file: two records and the header's identity fields. */
static void build(void)
{
	struct snap_writer w;
	struct snap_header h = { .cpu_signature = 0x806f8, .tsc_khz = 2400000 };
	uint64_t regs[4] = { 1, 2, 3, 4 };
	uint32_t khz = 2400000;
	const uint8_t *out;

	memcpy(h.cpu_vendor, "GenuineIntel", 12);
	memset(h.build_id, 0xab, 20);
	snap_writer_init(&w);
	snap_put(&w, SNAP_REC_REGS, 0, regs, sizeof(regs));
	snap_put(&w, SNAP_REC_TSC_KHZ, 1, &khz, 3); /* odd length: padding */
	assert_int_equal(snap_writer_finish(&w, &h, &out, &file_len), 0);
	file = malloc(file_len);
	memcpy(file, out, file_len);
	snap_writer_free(&w);
}

static int setup(void **state)
{
	(void)state;
	build();
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	free(file);
	return 0;
}

static void test_round_trip(void **state)
{
	struct snap_reader r;
	uint64_t regs[4];
	char err[160] = "";
	size_t len;

	(void)state;
	assert_int_equal(snap_reader_init(&r, file, file_len, err, sizeof(err)), 0);
	assert_memory_equal(r.hdr.cpu_vendor, "GenuineIntel", 12);
	assert_int_equal(r.hdr.tsc_khz, 2400000);
	assert_int_equal(snap_get_exact(&r, SNAP_REC_REGS, 0, regs, sizeof(regs)), 0);
	assert_int_equal(regs[3], 4);
	assert_non_null(snap_get(&r, SNAP_REC_TSC_KHZ, 1, &len));
	assert_int_equal(len, 3);
	assert_null(snap_get(&r, SNAP_REC_TSC_KHZ, 0, &len));
	assert_int_equal(snap_get_exact(&r, SNAP_REC_REGS, 0, regs, 8), -EINVAL);
	assert_int_equal(snap_get_exact(&r, SNAP_REC_LAPIC, 0, regs, 8), -ENOENT);
}

static void expect_reject(const uint8_t *buf, size_t len, const char *want)
{
	struct snap_reader r;
	char err[160] = "";

	assert_true(snap_reader_init(&r, buf, len, err, sizeof(err)) < 0);
	if (!strstr(err, want))
		fail_msg("error '%s' lacks '%s'", err, want);
	assert_null(strchr(err, '\n'));
	assert_null(snap_get(&r, SNAP_REC_REGS, 0, &len));
}

static void test_truncated(void **state)
{
	(void)state;
	for (size_t n = 0; n < file_len; n++)
		expect_reject(file, n, n < sizeof(struct snap_header) ? "truncated" : "");
	expect_reject(file, file_len - 1, "truncated");
}

static void test_every_bit_flip(void **state)
{
	uint8_t *copy = malloc(file_len);

	(void)state;
	/* The header, each record (its header too) and the padding are all checked. */
	for (size_t i = 0; i < file_len; i++) {
		for (int b = 0; b < 8; b++) {
			memcpy(copy, file, file_len);
			copy[i] ^= (uint8_t)(1u << b);
			expect_reject(copy, file_len, "");
		}
	}
	free(copy);
}

static void test_hostile_lengths(void **state)
{
	uint8_t *copy = malloc(file_len);
	struct snap_rec_hdr rh;
	size_t off = sizeof(struct snap_header);

	(void)state;
	memcpy(copy, file, file_len);
	memcpy(&rh, copy + off, sizeof(rh));
	rh.len = 0xfffffff0u;
	memcpy(copy + off, &rh, sizeof(rh));
	expect_reject(copy, file_len, "runs past the end");
	expect_reject(file, (size_t)SNAP_STATE_MAX + 1, "too large");
	memcpy(copy, file, file_len);
	memcpy(copy, "NOTSNAP!", 8);
	expect_reject(copy, file_len, "bad magic");
	free(copy);
}

static void test_writer_limits(void **state)
{
	struct snap_writer w;
	struct snap_header h = { 0 };
	const uint8_t *out;
	size_t len;
	uint8_t b = 0;

	(void)state;
	snap_writer_init(&w);
	snap_put(&w, SNAP_REC_END, 0, &b, 1);
	assert_int_equal(snap_writer_finish(&w, &h, &out, &len), -EINVAL);
	snap_writer_free(&w);
	snap_writer_init(&w);
	snap_put(&w, SNAP_REC_REGS, 0, &b, (size_t)SNAP_STATE_MAX + 1);
	assert_int_equal(snap_writer_finish(&w, &h, &out, &len), -E2BIG);
	snap_writer_free(&w);
}

static void test_crc32c(void **state)
{
	(void)state;
	/* The check value of CRC-32C (RFC 3720 B.4 uses the same polynomial). */
	assert_int_equal(snap_crc32c(0, "123456789", 9), 0xe3069283u);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_crc32c),		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_truncated),	cmocka_unit_test(test_every_bit_flip),
		cmocka_unit_test(test_hostile_lengths), cmocka_unit_test(test_writer_limits),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
