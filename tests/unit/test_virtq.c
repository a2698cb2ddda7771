/* Unit tests for the split virtqueue walker (src/vmm/devices/virtio/queue.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <errno.h>
#include <sys/mman.h>
#include <linux/virtio_config.h>

#include "virtio_fake.h"

#define F_INDIRECT  (1ULL << VIRTIO_RING_F_INDIRECT_DESC)
#define F_EVENT_IDX (1ULL << VIRTIO_RING_F_EVENT_IDX)
#define R	    0
#define W	    VRING_DESC_F_WRITE
#define N	    VRING_DESC_F_NEXT
#define I	    VRING_DESC_F_INDIRECT

struct ctx {
	uint8_t *ram;
	struct fake f;
	struct vq q;
	struct vq_elem e;
};

static int setup(void **state)
{
	struct ctx *c = calloc(1, sizeof(*c));

	c->ram = aligned_alloc(4096, FAKE_SIZE);
	memset(c->ram, 0, FAKE_SIZE);
	fake_mem_init(&c->f, c->ram);
	assert_int_equal(fake_queue(&c->f, &c->q, 8, F_INDIRECT), 0);
	*state = c;
	return 0;
}

static int teardown(void **state)
{
	struct ctx *c = *state;

	free(c->ram);
	free(c);
	return 0;
}

/* Pop expecting a malformed ring; check the reason mentions `word`. */
static void expect_bad(struct ctx *c, const char *word)
{
	const char *why = NULL;

	assert_int_equal(vq_pop(&c->q, &c->e, &why), -EINVAL);
	assert_non_null(why);
	assert_non_null(strstr(why, word));
}

static void test_normal_chain(void **state)
{
	struct ctx *c = *state;
	const char *why = NULL;

	fake_desc(&c->f, FAKE_DESC, 2, FAKE_DATA, 16, R | N, 5);
	fake_desc(&c->f, FAKE_DESC, 5, FAKE_DATA + 0x100, 512, W | N, 7);
	fake_desc(&c->f, FAKE_DESC, 7, FAKE_DATA + 0x400, 1, W, 0);
	fake_avail_add(&c->f, 2);

	assert_int_equal(vq_pop(&c->q, &c->e, &why), 1);
	assert_int_equal(c->e.head, 2);
	assert_int_equal(c->e.nr_out, 1);
	assert_int_equal(c->e.nr_in, 2);
	assert_int_equal(c->e.out_len, 16);
	assert_int_equal(c->e.in_len, 513);
	assert_ptr_equal(c->e.iov[0].iov_base, fake_hva(&c->f, FAKE_DATA));
	assert_int_equal(c->e.iov[0].iov_len, 16);
	assert_ptr_equal(c->e.iov[1].iov_base, fake_hva(&c->f, FAKE_DATA + 0x100));
	assert_int_equal(c->e.iov[1].iov_len, 512);
	assert_ptr_equal(c->e.iov[2].iov_base, fake_hva(&c->f, FAKE_DATA + 0x400));
	assert_int_equal(c->e.iov[2].iov_len, 1);
	/* Ring now empty. */
	assert_int_equal(vq_pop(&c->q, &c->e, &why), 0);
}

static void test_buffer_at_end_of_ram(void **state)
{
	struct ctx *c = *state;

	/* Last byte of RAM is fine; one more is not. */
	fake_desc(&c->f, FAKE_DESC, 0, FAKE_END - 8, 8, W, 0);
	fake_avail_add(&c->f, 0);
	assert_int_equal(vq_pop(&c->q, &c->e, NULL), 1);
	assert_ptr_equal(c->e.iov[0].iov_base, c->ram + FAKE_SIZE - 8);
}

static void test_loop(void **state)
{
	struct ctx *c = *state;

	fake_desc(&c->f, FAKE_DESC, 0, FAKE_DATA, 16, R | N, 1);
	fake_desc(&c->f, FAKE_DESC, 1, FAKE_DATA, 16, R | N, 0);
	fake_avail_add(&c->f, 0);
	expect_bad(c, "loop");
}

static void test_self_loop(void **state)
{
	struct ctx *c = *state;

	fake_desc(&c->f, FAKE_DESC, 3, FAKE_DATA, 16, W | N, 3);
	fake_avail_add(&c->f, 3);
	expect_bad(c, "loop");
}

static void test_longest_chain_ok(void **state)
{
	struct ctx *c = *state;

	/* Exactly queue-size descriptors is legal (§2.7.5.3.1). */
	for (uint16_t i = 0; i < 8; i++)
		fake_desc(&c->f, FAKE_DESC, i, FAKE_DATA + 16 * i, 16, R | (i < 7 ? N : 0), i + 1);
	fake_avail_add(&c->f, 0);
	assert_int_equal(vq_pop(&c->q, &c->e, NULL), 1);
	assert_int_equal(c->e.nr_out, 8);
	assert_int_equal(c->e.out_len, 128);
}

static void test_next_out_of_range(void **state)
{
	struct ctx *c = *state;

	fake_desc(&c->f, FAKE_DESC, 0, FAKE_DATA, 16, R | N, 8);
	fake_avail_add(&c->f, 0);
	expect_bad(c, "out of range");
}

static void test_head_out_of_range(void **state)
{
	struct ctx *c = *state;

	fake_avail_add(&c->f, 200);
	expect_bad(c, "out of range");
}

static void test_addr_below_ram(void **state)
{
	struct ctx *c = *state;

	fake_desc(&c->f, FAKE_DESC, 0, FAKE_GPA - 16, 16, R, 0);
	fake_avail_add(&c->f, 0);
	expect_bad(c, "outside guest RAM");
}

static void test_addr_straddles_end(void **state)
{
	struct ctx *c = *state;

	fake_desc(&c->f, FAKE_DESC, 0, FAKE_END - 8, 16, W, 0);
	fake_avail_add(&c->f, 0);
	expect_bad(c, "outside guest RAM");
}

static void test_addr_wraps_u64(void **state)
{
	struct ctx *c = *state;

	fake_desc(&c->f, FAKE_DESC, 0, UINT64_MAX - 7, 16, R, 0);
	fake_avail_add(&c->f, 0);
	expect_bad(c, "outside guest RAM");
}

static void test_zero_length(void **state)
{
	struct ctx *c = *state;

	fake_desc(&c->f, FAKE_DESC, 0, FAKE_DATA, 0, R, 0);
	fake_avail_add(&c->f, 0);
	expect_bad(c, "zero-length");
}

static void test_readable_after_writable(void **state)
{
	struct ctx *c = *state;

	fake_desc(&c->f, FAKE_DESC, 0, FAKE_DATA, 16, W | N, 1);
	fake_desc(&c->f, FAKE_DESC, 1, FAKE_DATA + 16, 16, R, 0);
	fake_avail_add(&c->f, 0);
	expect_bad(c, "readable descriptor after writable");
}

static void test_avail_idx_jump(void **state)
{
	struct ctx *c = *state;

	fake_desc(&c->f, FAKE_DESC, 0, FAKE_DATA, 16, R, 0);
	fake_avail(&c->f)->idx = htole16(9); /* 9 outstanding in an 8-entry ring */
	expect_bad(c, "avail idx");
}

static void test_avail_idx_full_ring_ok(void **state)
{
	struct ctx *c = *state;

	fake_desc(&c->f, FAKE_DESC, 0, FAKE_DATA, 16, R, 0);
	for (int i = 0; i < 8; i++)
		fake_avail_add(&c->f, 0);
	for (int i = 0; i < 8; i++)
		assert_int_equal(vq_pop(&c->q, &c->e, NULL), 1);
	assert_int_equal(vq_pop(&c->q, &c->e, NULL), 0);
}

/* Total length overflow needs > 4 GiB of "guest RAM": reserve address space only. */
static void test_total_length_overflow(void **state)
{
	struct ctx *c = *state;
	const uint64_t big = 3ULL << 30;
	uint8_t *ram = mmap(NULL, big, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	struct fake f;
	struct vq q;

	assert_true(ram != MAP_FAILED);
	fake_mem_init(&f, ram);
	f.mem.r[0].size = big;
	assert_int_equal(fake_queue(&f, &q, 8, 0), 0);
	fake_desc(&f, FAKE_DESC, 0, FAKE_DATA, 0xb0000000u, W | N, 1);
	fake_desc(&f, FAKE_DESC, 1, FAKE_DATA, 0xb0000000u, W, 0);
	fake_avail_add(&f, 0);
	const char *why = NULL;
	assert_int_equal(vq_pop(&q, &c->e, &why), -EINVAL);
	assert_non_null(strstr(why, "overflows"));
	munmap(ram, big);
}

static void test_indirect_ok(void **state)
{
	struct ctx *c = *state;
	const uint64_t tbl = FAKE_DATA + 0x1000;

	fake_desc(&c->f, tbl, 0, FAKE_DATA, 16, R | N, 2);
	fake_desc(&c->f, tbl, 2, FAKE_DATA + 0x100, 100, W | N, 1);
	fake_desc(&c->f, tbl, 1, FAKE_DATA + 0x200, 1, W, 0);
	/* §2.7.5.3.1: the device ignores WRITE on the descriptor naming the table. */
	fake_desc(&c->f, FAKE_DESC, 4, tbl, 3 * 16, I | W, 0);
	fake_avail_add(&c->f, 4);
	assert_int_equal(vq_pop(&c->q, &c->e, NULL), 1);
	assert_int_equal(c->e.head, 4);
	assert_int_equal(c->e.nr_out, 1);
	assert_int_equal(c->e.nr_in, 2);
	assert_int_equal(c->e.in_len, 101);
	assert_ptr_equal(c->e.iov[2].iov_base, fake_hva(&c->f, FAKE_DATA + 0x200));
}

static void test_indirect_without_feature(void **state)
{
	struct ctx *c = *state;

	assert_int_equal(fake_queue(&c->f, &c->q, 8, 0), 0);
	fake_desc(&c->f, FAKE_DATA + 0x1000, 0, FAKE_DATA, 16, R, 0);
	fake_desc(&c->f, FAKE_DESC, 0, FAKE_DATA + 0x1000, 16, I, 0);
	fake_avail_add(&c->f, 0);
	expect_bad(c, "without the feature");
}

static void test_indirect_with_next(void **state)
{
	struct ctx *c = *state;

	fake_desc(&c->f, FAKE_DATA + 0x1000, 0, FAKE_DATA, 16, R, 0);
	fake_desc(&c->f, FAKE_DESC, 0, FAKE_DATA + 0x1000, 16, I | N, 1);
	fake_avail_add(&c->f, 0);
	expect_bad(c, "with NEXT");
}

static void test_indirect_nested(void **state)
{
	struct ctx *c = *state;

	fake_desc(&c->f, FAKE_DATA + 0x1000, 0, FAKE_DATA + 0x1000, 16, I, 0);
	fake_desc(&c->f, FAKE_DESC, 0, FAKE_DATA + 0x1000, 16, I, 0);
	fake_avail_add(&c->f, 0);
	expect_bad(c, "nested");
}

static void test_indirect_bad_len(void **state)
{
	struct ctx *c = *state;

	fake_desc(&c->f, FAKE_DESC, 0, FAKE_DATA + 0x1000, 24, I, 0);
	fake_desc(&c->f, FAKE_DESC, 1, FAKE_DATA + 0x1000, 0, I, 0);
	fake_avail_add(&c->f, 0);
	fake_avail_add(&c->f, 1);
	expect_bad(c, "indirect table length");
	expect_bad(c, "indirect table length");
}

static void test_indirect_table_outside_ram(void **state)
{
	struct ctx *c = *state;

	fake_desc(&c->f, FAKE_DESC, 0, FAKE_END - 16, 32, I, 0);
	fake_avail_add(&c->f, 0);
	expect_bad(c, "indirect table outside");
}

static void test_indirect_loop_and_range(void **state)
{
	struct ctx *c = *state;
	const uint64_t tbl = FAKE_DATA + 0x1000;

	fake_desc(&c->f, tbl, 0, FAKE_DATA, 16, R | N, 1);
	fake_desc(&c->f, tbl, 1, FAKE_DATA, 16, R | N, 0); /* loop inside the table */
	fake_desc(&c->f, FAKE_DESC, 0, tbl, 32, I, 0);
	fake_desc(&c->f, FAKE_DESC, 1, tbl, 16, I, 0); /* table of 1: next=1 out of range */
	fake_avail_add(&c->f, 0);
	fake_avail_add(&c->f, 1);
	expect_bad(c, "loop");
	expect_bad(c, "out of range");
}

static void test_indirect_too_many_segments(void **state)
{
	struct ctx *c = *state;
	const uint64_t tbl = FAKE_DATA + 0x1000;
	const uint16_t n = VQ_MAX_SIZE + 1;

	for (uint16_t i = 0; i < n; i++)
		fake_desc(&c->f, tbl, i, FAKE_DATA, 1, R | (i + 1 < n ? N : 0), i + 1);
	fake_desc(&c->f, FAKE_DESC, 0, tbl, 16u * n, I, 0);
	fake_avail_add(&c->f, 0);
	expect_bad(c, "too long");
}

static void test_push_used_ring(void **state)
{
	struct ctx *c = *state;
	struct vring_used *u = fake_used(&c->f);

	for (uint32_t i = 0; i < 10; i++)
		vq_push(&c->q, (uint16_t)i, 100 + i);
	assert_int_equal(le16toh(u->idx), 10);
	/* Entries 8 and 9 wrapped onto slots 0 and 1. */
	assert_int_equal(le32toh(u->ring[0].id), 8);
	assert_int_equal(le32toh(u->ring[0].len), 108);
	assert_int_equal(le32toh(u->ring[1].id), 9);
	assert_int_equal(le32toh(u->ring[1].len), 109);
	assert_int_equal(le32toh(u->ring[7].id), 7);
	assert_int_equal(le32toh(u->ring[7].len), 107);
}

static void test_notify_no_interrupt_flag(void **state)
{
	struct ctx *c = *state;

	vq_push(&c->q, 0, 1);
	assert_true(vq_should_notify(&c->q));
	fake_avail(&c->f)->flags = htole16(VRING_AVAIL_F_NO_INTERRUPT);
	vq_push(&c->q, 0, 1);
	assert_false(vq_should_notify(&c->q));
}

static void test_notify_event_idx(void **state)
{
	struct ctx *c = *state;
	uint16_t *used_event;

	assert_int_equal(fake_queue(&c->f, &c->q, 8, F_EVENT_IDX), 0);
	used_event = &fake_avail(&c->f)->ring[8];
	/* The flag is ignored with EVENT_IDX (§2.7.10). */
	fake_avail(&c->f)->flags = htole16(VRING_AVAIL_F_NO_INTERRUPT);
	vq_push(&c->q, 0, 1);
	assert_true(vq_should_notify(&c->q)); /* first decision always notifies */
	*used_event = htole16(1);	      /* interrupt when used idx passes 1 */
	vq_push(&c->q, 0, 1);		      /* idx 2 */
	assert_true(vq_should_notify(&c->q));
	*used_event = htole16(5);
	vq_push(&c->q, 0, 1); /* idx 3 */
	assert_false(vq_should_notify(&c->q));
	vq_push(&c->q, 0, 1); /* idx 4 */
	vq_push(&c->q, 0, 1); /* idx 5 */
	assert_false(vq_should_notify(&c->q));
	vq_push(&c->q, 0, 1); /* idx 6 crosses 5 */
	assert_true(vq_should_notify(&c->q));
}

static void test_avail_event_written_when_empty(void **state)
{
	struct ctx *c = *state;
	uint16_t *avail_event;

	assert_int_equal(fake_queue(&c->f, &c->q, 8, F_EVENT_IDX), 0);
	avail_event = (uint16_t *)&fake_used(&c->f)->ring[8];
	fake_desc(&c->f, FAKE_DESC, 0, FAKE_DATA, 16, R, 0);
	fake_avail_add(&c->f, 0);
	fake_avail_add(&c->f, 0);
	assert_int_equal(vq_pop(&c->q, &c->e, NULL), 1);
	assert_int_equal(vq_pop(&c->q, &c->e, NULL), 1);
	assert_int_equal(vq_pop(&c->q, &c->e, NULL), 0);
	assert_int_equal(le16toh(*avail_event), 2);
}

/*
 * The ring uses only what vq_setup() validated: driver-side values written
 * afterwards (the transport refuses them, issue 14) change nothing here.
 */
static void test_live_ring_ignores_cfg(void **state)
{
	struct ctx *c = *state;
	uint16_t *avail_event;

	assert_int_equal(fake_queue(&c->f, &c->q, 8, F_EVENT_IDX), 0);
	avail_event = (uint16_t *)&fake_used(&c->f)->ring[8];
	c->q.cfg = (struct vq_cfg){ .num = 0xfff0,
				    .ready = true,
				    .desc_gpa = FAKE_END,
				    .avail_gpa = FAKE_END,
				    .used_gpa = FAKE_END };
	fake_desc(&c->f, FAKE_DESC, 0, FAKE_DATA, 16, W, 0);
	fake_avail_add(&c->f, 0);
	assert_int_equal(vq_pop(&c->q, &c->e, NULL), 1);
	vq_push(&c->q, 0, 16);
	assert_int_equal(vq_pop(&c->q, &c->e, NULL), 0);
	assert_int_equal(c->q.size, 8);
	assert_int_equal(le16toh(*avail_event), 1);
	assert_int_equal(le16toh(fake_used(&c->f)->idx), 1);
}

static void test_setup_rejects(void **state)
{
	struct ctx *c = *state;
	const char *why;

	c->q.cfg.num = 6; /* not a power of two */
	assert_int_equal(vq_setup(&c->q, &c->f.mem, 0, &why), -EINVAL);
	c->q.cfg.num = 512; /* above VQ_MAX_SIZE */
	assert_int_equal(vq_setup(&c->q, &c->f.mem, 0, &why), -EINVAL);
	c->q.cfg.num = 8;
	c->q.cfg.desc_gpa = FAKE_DESC + 8; /* descriptor table needs 16-byte alignment */
	assert_int_equal(vq_setup(&c->q, &c->f.mem, 0, &why), -EINVAL);
	c->q.cfg.desc_gpa = FAKE_DESC;
	c->q.cfg.used_gpa = FAKE_END - 16; /* 6 + 8*8 bytes do not fit */
	assert_int_equal(vq_setup(&c->q, &c->f.mem, 0, &why), -EINVAL);
	assert_non_null(strstr(why, "outside"));
	c->q.cfg.used_gpa = FAKE_USED;
	assert_int_equal(vq_setup(&c->q, &c->f.mem, 0, &why), 0);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_normal_chain),
		T(test_buffer_at_end_of_ram),
		T(test_loop),
		T(test_self_loop),
		T(test_longest_chain_ok),
		T(test_next_out_of_range),
		T(test_head_out_of_range),
		T(test_addr_below_ram),
		T(test_addr_straddles_end),
		T(test_addr_wraps_u64),
		T(test_zero_length),
		T(test_readable_after_writable),
		T(test_avail_idx_jump),
		T(test_avail_idx_full_ring_ok),
		T(test_total_length_overflow),
		T(test_indirect_ok),
		T(test_indirect_without_feature),
		T(test_indirect_with_next),
		T(test_indirect_nested),
		T(test_indirect_bad_len),
		T(test_indirect_table_outside_ram),
		T(test_indirect_loop_and_range),
		T(test_indirect_too_many_segments),
		T(test_push_used_ring),
		T(test_notify_no_interrupt_flag),
		T(test_notify_event_idx),
		T(test_avail_event_written_when_empty),
		T(test_live_ring_ignores_cfg),
		T(test_setup_rejects),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
