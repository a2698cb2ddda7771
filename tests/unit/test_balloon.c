/* Unit tests for virtio-balloon free page reporting (src/vmm/devices/virtio/balloon.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <sys/mman.h>
#include <linux/virtio_balloon.h>
#include <linux/virtio_ids.h>

#include "virtio_fake.h"
#include "vmm/devices/virtio/vdev.h"
#include "vmm/devices/virtio/virtio.h"

#define Q_INFLATE   0
#define Q_REPORTING 2 /* third queue: STATS_VQ and FREE_PAGE_HINT not offered */
#define PAGE	    0x1000
#define PAGES	    (FAKE_DATA + 0x4000) /* four guest pages that get reported */
#define PFNS	    (FAKE_DATA)		 /* inflate PFN array */
#define W	    VRING_DESC_F_WRITE
#define N	    VRING_DESC_F_NEXT

struct ctx {
	uint8_t *ram; /* mmap'ed, like silo-vmm's guest RAM: DONTNEED really zeroes */
	struct fake f;
	struct vdev *vd;
	unsigned int irqs;
};

static void raise_stub(void *tp, uint32_t bits)
{
	(void)bits;
	((struct ctx *)tp)->irqs++;
}

static int setup(void **state)
{
	struct ctx *c = calloc(1, sizeof(*c));

	c->ram = mmap(NULL, FAKE_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(c->ram != MAP_FAILED);
	fake_mem_init(&c->f, c->ram);
	assert_int_equal(virtio_balloon_create(&c->vd), 0);
	c->vd->mem = &c->f.mem;
	c->vd->raise = raise_stub;
	c->vd->tp = c;
	*state = c;
	return 0;
}

static int teardown(void **state)
{
	struct ctx *c = *state;

	vdev_destroy(c->vd);
	munmap(c->ram, FAKE_SIZE);
	free(c);
	return 0;
}

static uint8_t *page(struct ctx *c, int i)
{
	return fake_hva(&c->f, PAGES + (uint64_t)i * PAGE);
}

static void fill_pages(struct ctx *c)
{
	for (int i = 0; i < 4; i++)
		memset(page(c, i), 0xa0 + i, PAGE);
}

static bool all(const uint8_t *p, uint8_t v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != v)
			return false;
	return true;
}

static void used_is(struct ctx *c, uint16_t n, uint16_t qsize)
{
	struct vring_used *u = fake_used(&c->f);

	assert_int_equal(le16toh(u->idx), n);
	assert_int_equal(le32toh(u->ring[(n - 1) % qsize].len), 0); /* §5.5.6.7: nothing written */
}

static void test_device_shape(void **state)
{
	struct ctx *c = *state;
	uint32_t v = 0;
	uint32_t actual = htole32(123), np = htole32(77);

	assert_int_equal(c->vd->ops->device_id, VIRTIO_ID_BALLOON);
	assert_int_equal(c->vd->ops->num_queues, 3);
	assert_true(c->vd->ops->queue_max >= 32); /* Linux: PAGE_REPORTING_CAPACITY */
	assert_int_equal(c->vd->ops->features(c->vd), 1ull << VIRTIO_BALLOON_F_REPORTING);

	/* num_pages is ours (0: never inflate); actual is the driver's. */
	c->vd->ops->config_write(c->vd, offsetof(struct virtio_balloon_config, num_pages), &np, 4);
	c->vd->ops->config_write(c->vd, offsetof(struct virtio_balloon_config, actual), &actual, 4);
	c->vd->ops->config_read(c->vd, offsetof(struct virtio_balloon_config, num_pages), &v, 4);
	assert_int_equal(v, 0);
	c->vd->ops->config_read(c->vd, offsetof(struct virtio_balloon_config, actual), &v, 4);
	assert_int_equal(le32toh(v), 123);
	c->vd->ops->config_read(c->vd, 64, &v, 4); /* beyond the struct: zeros */
	assert_int_equal(v, 0);
}

static void test_reported_ranges_are_dropped(void **state)
{
	struct ctx *c = *state;

	assert_int_equal(fake_queue(&c->f, &c->vd->vq[Q_REPORTING], 64, 0), 0);
	fill_pages(c);
	/* Pages 0 and 2-3 reported in one chain; page 1 stays in use. */
	fake_desc(&c->f, FAKE_DESC, 0, PAGES, PAGE, W | N, 1);
	fake_desc(&c->f, FAKE_DESC, 1, PAGES + 2 * PAGE, 2 * PAGE, W, 0);
	fake_avail_add(&c->f, 0);
	c->vd->ops->queue_notify(c->vd, Q_REPORTING);

	used_is(c, 1, 64);
	assert_int_equal(c->irqs, 1);
	assert_true(all(page(c, 0), 0, PAGE));
	assert_true(all(page(c, 1), 0xa1, PAGE));
	assert_true(all(page(c, 2), 0, 2 * PAGE));
	assert_int_equal(c->vd->m.bytes_out, 3 * PAGE);
	assert_int_equal(c->vd->m.err, 0);
}

static void test_unaligned_or_readable_range_kept(void **state)
{
	struct ctx *c = *state;

	assert_int_equal(fake_queue(&c->f, &c->vd->vq[Q_REPORTING], 64, 0), 0);
	fill_pages(c);
	/* A range that is not whole pages is counted and left alone; so is a
	 * device-readable buffer (reports are device-writable, §5.5.6.7). */
	fake_desc(&c->f, FAKE_DESC, 0, PAGES + 16, PAGE, W, 0);
	fake_avail_add(&c->f, 0);
	fake_desc(&c->f, FAKE_DESC, 1, PAGES + PAGE, PAGE, 0, 0);
	fake_avail_add(&c->f, 1);
	c->vd->ops->queue_notify(c->vd, Q_REPORTING);

	used_is(c, 2, 64);
	assert_true(all(page(c, 0), 0xa0, PAGE));
	assert_true(all(page(c, 1), 0xa1, PAGE));
	assert_int_equal(c->vd->m.bytes_out, 0);
	assert_int_equal(c->vd->m.err, 1);
	assert_false(c->vd->needs_reset);
}

static void test_inflate_pfns(void **state)
{
	struct ctx *c = *state;
	uint32_t pfns[3] = {
		htole32((uint32_t)((PAGES + PAGE) >> VIRTIO_BALLOON_PFN_SHIFT)),
		htole32(0xfffff), /* outside guest RAM */
		htole32((uint32_t)((PAGES + 3 * PAGE) >> VIRTIO_BALLOON_PFN_SHIFT)),
	};

	assert_int_equal(fake_queue(&c->f, &c->vd->vq[Q_INFLATE], 16, 0), 0);
	fill_pages(c);
	memcpy(fake_hva(&c->f, PFNS), pfns, sizeof(pfns));
	fake_desc(&c->f, FAKE_DESC, 0, PFNS, sizeof(pfns), 0, 0);
	fake_avail_add(&c->f, 0);
	c->vd->ops->queue_notify(c->vd, Q_INFLATE);

	used_is(c, 1, 16);
	assert_true(all(page(c, 0), 0xa0, PAGE));
	assert_true(all(page(c, 1), 0, PAGE));
	assert_true(all(page(c, 2), 0xa2, PAGE));
	assert_true(all(page(c, 3), 0, PAGE));
	assert_int_equal(c->vd->m.bytes_out, 2 * PAGE);
	assert_int_equal(c->vd->m.err, 1);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_device_shape),
		T(test_reported_ranges_are_dropped),
		T(test_unaligned_or_readable_range_kept),
		T(test_inflate_pfns),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
