/* Unit tests for the virtio-mmio transport (mmio.c), driven through registers with virtio-rng. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>
#include <linux/virtio_config.h>
#include <linux/virtio_ids.h>
#include <linux/virtio_mmio.h>

#include "virtio_fake.h"
#include "vmm/devices/virtio/vdev.h"
#include "vmm/evloop.h"

/*
 * Fake guest RAM is followed by canary bytes, more than the farthest a ring
 * index can reach (avail_event of a 0xffff-entry used ring is 512 KiB past
 * its start), then by an inaccessible guard: a device write outside guest
 * RAM shows as a changed canary (a clean test failure), or faults.
 */
#define CANARY_SIZE  (1ULL << 20)
#define CANARY	     0xa5
#define RAM_MAP_SIZE (FAKE_SIZE + 2 * CANARY_SIZE)

struct ctx {
	uint8_t *ram;
	struct fake f;
	struct virtio_host h;
	struct virtio_mmio *t;
	struct vdev *vd;
	struct bus_dev bd;
};

static int setup_with(void **state, struct evloop *ev)
{
	struct ctx *c = calloc(1, sizeof(*c));
	struct vdev *vd;

	c->ram = mmap(NULL, RAM_MAP_SIZE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(c->ram != MAP_FAILED);
	assert_int_equal(mprotect(c->ram, FAKE_SIZE + CANARY_SIZE, PROT_READ | PROT_WRITE), 0);
	memset(c->ram + FAKE_SIZE, CANARY, CANARY_SIZE);
	fake_mem_init(&c->f, c->ram);
	c->h.mem = &c->f.mem;
	c->h.irqfd = eventfd(0, EFD_NONBLOCK);
	c->h.ev = ev;
	assert_int_equal(virtio_rng_create(&vd), 0);
	c->t = virtio_mmio_create(&c->h, 0xd0000000, vd);
	assert_non_null(c->t);
	c->vd = vd;
	virtio_mmio_bus_dev(c->t, &c->bd);
	*state = c;
	return 0;
}

static int setup(void **state)
{
	return setup_with(state, NULL);
}

/* With an event loop: kicks go through the queue's eventfd to the loop. */
static int setup_ev(void **state)
{
	struct evloop *ev;

	assert_int_equal(ev_create(&ev), 0);
	return setup_with(state, ev);
}

static int teardown(void **state)
{
	struct ctx *c = *state;

	virtio_mmio_destroy(c->t);
	ev_destroy(c->h.ev); /* after the transport left it; NULL-safe */
	close(c->h.irqfd);
	munmap(c->ram, RAM_MAP_SIZE);
	free(c);
	return 0;
}

/* Offset of the first changed canary byte past guest RAM, -1 if none. */
static long canary_hit(struct ctx *c)
{
	for (uint64_t i = 0; i < CANARY_SIZE; i++)
		if (c->ram[FAKE_SIZE + i] != CANARY)
			return (long)i;
	return -1;
}

static uint32_t rd(struct ctx *c, uint64_t off)
{
	return fake_mmio_rd(&c->bd, off);
}

static void wr(struct ctx *c, uint64_t off, uint32_t v)
{
	fake_mmio_wr(&c->bd, off, v);
}

static uint64_t irqs(struct ctx *c)
{
	uint64_t n = 0;

	if (read(c->h.irqfd, &n, 8) != 8)
		return 0;
	return n;
}

/* Driver init sequence, §3.1.1, up to (not including) DRIVER_OK. */
static void negotiate_lo(struct ctx *c, uint32_t hi, uint32_t lo)
{
	wr(c, VIRTIO_MMIO_STATUS, 0);
	wr(c, VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE);
	wr(c, VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER);
	wr(c, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
	wr(c, VIRTIO_MMIO_DRIVER_FEATURES, hi);
	wr(c, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
	wr(c, VIRTIO_MMIO_DRIVER_FEATURES, lo);
	wr(c, VIRTIO_MMIO_STATUS, 0xb);
}

static void negotiate(struct ctx *c, uint32_t hi)
{
	negotiate_lo(c, hi, 0);
}

static void setup_queue(struct ctx *c, uint32_t num)
{
	wr(c, VIRTIO_MMIO_QUEUE_SEL, 0);
	wr(c, VIRTIO_MMIO_QUEUE_NUM, num);
	wr(c, VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t)FAKE_DESC);
	wr(c, VIRTIO_MMIO_QUEUE_DESC_HIGH, 0);
	wr(c, VIRTIO_MMIO_QUEUE_AVAIL_LOW, (uint32_t)FAKE_AVAIL);
	wr(c, VIRTIO_MMIO_QUEUE_USED_LOW, (uint32_t)FAKE_USED);
	wr(c, VIRTIO_MMIO_QUEUE_READY, 1);
}

static void test_identity(void **state)
{
	struct ctx *c = *state;
	uint8_t b[2] = { 0xff, 0xff };

	assert_int_equal(rd(c, VIRTIO_MMIO_MAGIC_VALUE), 0x74726976);
	assert_int_equal(rd(c, VIRTIO_MMIO_VERSION), 2);
	assert_int_equal(rd(c, VIRTIO_MMIO_DEVICE_ID), VIRTIO_ID_RNG);
	assert_int_equal(rd(c, VIRTIO_MMIO_QUEUE_NUM_MAX), 64);
	wr(c, VIRTIO_MMIO_QUEUE_SEL, 1);
	assert_int_equal(rd(c, VIRTIO_MMIO_QUEUE_NUM_MAX), 0); /* no queue 1 */
	wr(c, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
	assert_int_equal(rd(c, VIRTIO_MMIO_DEVICE_FEATURES), 1); /* VERSION_1 = bit 32 */
	/* Sub-word register reads are ignored (§4.2.2.2). */
	c->bd.read(c->bd.opaque, VIRTIO_MMIO_MAGIC_VALUE, b, 2);
	assert_int_equal(b[0], 0);
	assert_int_equal(c->bd.len, VIRTIO_MMIO_SIZE);
}

static void test_features_need_version_1(void **state)
{
	struct ctx *c = *state;

	negotiate(c, 0); /* legacy driver: no VERSION_1 */
	assert_int_equal(rd(c, VIRTIO_MMIO_STATUS), 3);
	negotiate(c, 1 << 2); /* unoffered bit 34 (RING_PACKED) */
	assert_int_equal(rd(c, VIRTIO_MMIO_STATUS), 3);
	negotiate(c, 1);
	assert_int_equal(rd(c, VIRTIO_MMIO_STATUS), 0xb);
}

static void test_status_must_go_forward(void **state)
{
	struct ctx *c = *state;

	wr(c, VIRTIO_MMIO_STATUS, 0xf);
	assert_int_equal(rd(c, VIRTIO_MMIO_STATUS), 0);
	wr(c, VIRTIO_MMIO_STATUS, 1);
	wr(c, VIRTIO_MMIO_STATUS, 0xb); /* skipped DRIVER */
	assert_int_equal(rd(c, VIRTIO_MMIO_STATUS), 1);
	wr(c, VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_FAILED);
	assert_int_equal(rd(c, VIRTIO_MMIO_STATUS), 1 | VIRTIO_CONFIG_S_FAILED);
	wr(c, VIRTIO_MMIO_STATUS, 0);
	assert_int_equal(rd(c, VIRTIO_MMIO_STATUS), 0);
}

static void test_rng_request_and_interrupt(void **state)
{
	struct ctx *c = *state;
	uint8_t *buf = fake_hva(&c->f, FAKE_DATA);
	struct vq dummy = { .size = 8 };

	negotiate(c, 1);
	setup_queue(c, 8);
	wr(c, VIRTIO_MMIO_STATUS, 0xf);
	assert_int_equal(rd(c, VIRTIO_MMIO_STATUS), 0xf);

	c->f.q = &dummy; /* fake_avail_add only needs num */
	fake_desc(&c->f, FAKE_DESC, 0, FAKE_DATA, 64, VRING_DESC_F_WRITE, 0);
	fake_avail_add(&c->f, 0);
	memset(buf, 0, 64);
	wr(c, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	assert_int_equal(le16toh(fake_used(&c->f)->idx), 1);
	assert_int_equal(le32toh(fake_used(&c->f)->ring[0].len), 64);
	assert_int_equal(le32toh(fake_used(&c->f)->ring[0].id), 0);
	int nonzero = 0;
	for (int i = 0; i < 64; i++)
		nonzero += buf[i] != 0;
	assert_true(nonzero > 32);
	assert_int_equal(rd(c, VIRTIO_MMIO_INTERRUPT_STATUS), VIRTIO_MMIO_INT_VRING);
	assert_int_equal(irqs(c), 1);
	wr(c, VIRTIO_MMIO_INTERRUPT_ACK, VIRTIO_MMIO_INT_VRING);
	assert_int_equal(rd(c, VIRTIO_MMIO_INTERRUPT_STATUS), 0);

	/* Queue layout is frozen while ready. */
	wr(c, VIRTIO_MMIO_QUEUE_NUM, 4);
	assert_int_equal(c->vd->vq[0].cfg.num, 8);
	assert_int_equal(c->vd->vq[0].size, 8);

	char *js = NULL;
	size_t jl = 0;
	FILE *f = open_memstream(&js, &jl);
	virtio_mmio_metrics_json(c->t, f);
	fclose(f);
	assert_non_null(strstr(js, "\"device\":\"rng\""));
	assert_non_null(strstr(js, "\"notify\":1"));
	assert_non_null(strstr(js, "\"bytes_in\":64"));
	free(js);
}

static void test_malformed_ring_needs_reset(void **state)
{
	struct ctx *c = *state;
	struct vq dummy = { .size = 8 };

	negotiate(c, 1);
	setup_queue(c, 8);
	wr(c, VIRTIO_MMIO_STATUS, 0xf);
	c->f.q = &dummy;
	fake_desc(&c->f, FAKE_DESC, 0, FAKE_DATA, 64, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 0);
	fake_avail_add(&c->f, 0);
	wr(c, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	assert_int_equal(rd(c, VIRTIO_MMIO_STATUS), 0xf | VIRTIO_CONFIG_S_NEEDS_RESET);
	assert_int_equal(rd(c, VIRTIO_MMIO_INTERRUPT_STATUS), VIRTIO_MMIO_INT_CONFIG);
	assert_int_equal(irqs(c), 1);
	wr(c, VIRTIO_MMIO_STATUS, 0);
	assert_int_equal(rd(c, VIRTIO_MMIO_STATUS), 0);
	assert_int_equal(rd(c, VIRTIO_MMIO_INTERRUPT_STATUS), 0);
	assert_int_equal(rd(c, VIRTIO_MMIO_QUEUE_READY), 0);
}

static void test_bad_ring_address_at_driver_ok(void **state)
{
	struct ctx *c = *state;

	negotiate(c, 1);
	setup_queue(c, 6); /* not a power of two */
	wr(c, VIRTIO_MMIO_STATUS, 0xf);
	assert_int_equal(rd(c, VIRTIO_MMIO_STATUS), 0xf | VIRTIO_CONFIG_S_NEEDS_RESET);
}

/* Publish one 64-byte device-writable buffer at ring slot idx % 8 (a size-8 queue). */
static void post_rng_buf(struct ctx *c, uint16_t idx)
{
	struct vring_avail *a = fake_avail(&c->f);

	fake_desc(&c->f, FAKE_DESC, 0, FAKE_DATA, 64, VRING_DESC_F_WRITE, 0);
	a->ring[idx % 8] = 0;
	a->idx = htole16((uint16_t)(idx + 1));
}

/*
 * Issue 14 item 1: after DRIVER_OK the driver clears QueueReady, writes a
 * huge QueueNum and another used ring address, sets QueueReady again and
 * kicks. With EVENT_IDX the device then stores avail_event at
 * used->ring[QueueNum], 512 KiB past the end of guest RAM (into the guard
 * here, a fault). The writes must be ignored (VIRTIO 1.2 §3.1.1: queues are
 * set up before DRIVER_OK; without VIRTIO_F_RING_RESET only a device reset
 * re-opens them) and the queue must keep the size it was validated with.
 */
static void test_queue_resize_after_driver_ok(void **state)
{
	struct ctx *c = *state;
	uint16_t *avail_event8 = (uint16_t *)&fake_used(&c->f)->ring[8];
	uint8_t *moved_used = fake_hva(&c->f, FAKE_DATA + 0x1000);

	negotiate_lo(c, 1, 1u << VIRTIO_RING_F_EVENT_IDX);
	setup_queue(c, 8);
	wr(c, VIRTIO_MMIO_STATUS, 0xf);
	assert_int_equal(rd(c, VIRTIO_MMIO_STATUS), 0xf);

	/* A resize of the ready queue is dead: it keeps its validated size 8
	 * and used ring. */
	wr(c, VIRTIO_MMIO_QUEUE_SEL, 0);
	wr(c, VIRTIO_MMIO_QUEUE_NUM, 0xfff0);
	wr(c, VIRTIO_MMIO_QUEUE_USED_LOW, (uint32_t)(FAKE_DATA + 0x1000));
	post_rng_buf(c, 0);
	wr(c, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	assert_int_equal(le16toh(fake_used(&c->f)->idx), 1);
	assert_int_equal(le32toh(fake_used(&c->f)->ring[0].len), 64);
	assert_int_equal(le16toh(*avail_event8), 1); /* §2.7.10: after ring[size] */
	for (int i = 0; i < 64; i++)
		assert_int_equal(moved_used[i], 0);

	/* The sequence: stop, resize, re-enable, kick. Stopping is
	 * allowed (§4.2.2.2); the rest is ignored, and the stopped queue stays
	 * stopped until a reset. */
	wr(c, VIRTIO_MMIO_QUEUE_READY, 0);
	wr(c, VIRTIO_MMIO_QUEUE_NUM, 0xfff0);
	wr(c, VIRTIO_MMIO_QUEUE_USED_LOW, (uint32_t)(FAKE_DATA + 0x1000));
	wr(c, VIRTIO_MMIO_QUEUE_READY, 1);
	wr(c, VIRTIO_MMIO_QUEUE_NOTIFY, 0); /* empty ring: the old code wrote avail_event */
	assert_int_equal(canary_hit(c), -1);
	assert_int_equal(rd(c, VIRTIO_MMIO_QUEUE_READY), 0);
	assert_int_equal(rd(c, VIRTIO_MMIO_STATUS), 0xf); /* ignored, not fatal */
	post_rng_buf(c, 1);
	wr(c, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	assert_int_equal(le16toh(fake_used(&c->f)->idx), 1);
	for (int i = 0; i < 64; i++)
		assert_int_equal(moved_used[i], 0);
	assert_int_equal(canary_hit(c), -1);

	/* A device reset re-opens the queue registers (§2.4). */
	wr(c, VIRTIO_MMIO_STATUS, 0);
	memset(c->ram, 0, FAKE_SIZE);
	negotiate_lo(c, 1, 1u << VIRTIO_RING_F_EVENT_IDX);
	setup_queue(c, 8);
	wr(c, VIRTIO_MMIO_STATUS, 0xf);
	post_rng_buf(c, 0);
	wr(c, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	assert_int_equal(le16toh(fake_used(&c->f)->idx), 1);
}

/* n chains of one 64-byte writable buffer each on a size-64 queue after DRIVER_OK. */
static void rng_ready_with_chains(struct ctx *c, uint16_t n)
{
	struct vring_avail *a = fake_avail(&c->f);

	negotiate(c, 1);
	setup_queue(c, 64);
	wr(c, VIRTIO_MMIO_STATUS, 0xf);
	fake_desc(&c->f, FAKE_DESC, 0, FAKE_DATA, 64, VRING_DESC_F_WRITE, 0);
	for (uint16_t i = 0; i < n; i++)
		a->ring[i] = 0;
	a->idx = htole16(n);
}

/*
 * Issue 14 item 8: a guest that keeps a queue full must not hold the thread
 * that serves it. One kick serves at most VDEV_BUDGET chains; the rest wait
 * for the next run of the queue.
 */
static void test_kick_serves_at_most_budget(void **state)
{
	struct ctx *c = *state;
	char *js;

	rng_ready_with_chains(c, VDEV_BUDGET + 8);
	wr(c, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	assert_int_equal(le16toh(fake_used(&c->f)->idx), VDEV_BUDGET);
	js = fake_metrics(c->vd);
	assert_non_null(strstr(js, "\"yields\":1"));
	free(js);
	wr(c, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	assert_int_equal(le16toh(fake_used(&c->f)->idx), VDEV_BUDGET + 8);
	js = fake_metrics(c->vd);
	assert_non_null(strstr(js, "\"yields\":1"));
	free(js);
}

static void *loop_thread(void *ev)
{
	ev_run(ev);
	return NULL;
}

/*
 * ... and with an event loop the device re-signals its queue's eventfd after
 * the budget, so the loop comes back to it (after other ready fds) and
 * serves the rest without another guest kick: two runs, one yield.
 */
static void test_budget_requeues_through_event_loop(void **state)
{
	struct ctx *c = *state;
	uint16_t *used_idx = &fake_used(&c->f)->idx;
	pthread_t th;
	char *js;

	rng_ready_with_chains(c, VDEV_BUDGET + 8);
	assert_int_equal(pthread_create(&th, NULL, loop_thread, c->h.ev), 0);
	wr(c, VIRTIO_MMIO_QUEUE_NOTIFY, 0); /* no ioeventfd: the transport signals the eventfd */
	/* Wait for progress, not for a time: give up only after ~10 s. */
	for (int i = 0;
	     i < 10000 && le16toh(__atomic_load_n(used_idx, __ATOMIC_ACQUIRE)) < VDEV_BUDGET + 8;
	     i++)
		usleep(1000);
	ev_stop(c->h.ev);
	pthread_join(th, NULL);
	assert_int_equal(le16toh(*used_idx), VDEV_BUDGET + 8);
	js = fake_metrics(c->vd);
	assert_non_null(strstr(js, "\"notify\":2"));
	assert_non_null(strstr(js, "\"yields\":1"));
	free(js);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_identity),
		T(test_features_need_version_1),
		T(test_status_must_go_forward),
		T(test_rng_request_and_interrupt),
		T(test_malformed_ring_needs_reset),
		T(test_bad_ring_address_at_driver_ok),
		T(test_queue_resize_after_driver_ok),
		T(test_kick_serves_at_most_budget),
		cmocka_unit_test_setup_teardown(test_budget_requeues_through_event_loop, setup_ev,
						teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
