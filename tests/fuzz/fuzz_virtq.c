/*
 * libFuzzer target: descriptor-chain walking over fuzzer-supplied guest memory.
 * Input: 4 bytes of parameters, then the guest RAM image (rings + buffers).
 * Invariant checked: every iovec vq_pop() returns lies inside guest RAM.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/devices/virtio/queue.h"
#include "vmm/log.h"

#define RAM_GPA	 0x1000ULL
#define RAM_SIZE 0x4000ULL

static uint8_t *ram;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct guest_mem mem = { .nr = 1 };
	static struct vq_elem e;
	struct vq q = { 0 };
	const char *why;

	if (size < 4)
		return 0;
	if (!ram) {
		ram = aligned_alloc(4096, RAM_SIZE);
		log_set_level(LOG_ERR);
	}
	memset(ram, 0, RAM_SIZE);
	memcpy(ram, data + 4, size - 4 < RAM_SIZE ? size - 4 : RAM_SIZE);
	mem.r[0] = (struct guest_region){ .gpa = RAM_GPA, .size = RAM_SIZE, .hva = ram };

	/* Ring sizes 1..256 (powers of two); desc at RAM start, avail/used fixed. */
	q.cfg.num = (uint16_t)(1u << (data[0] % 9));
	q.cfg.desc_gpa = RAM_GPA;
	q.cfg.avail_gpa = RAM_GPA + 0x1000;
	q.cfg.used_gpa = RAM_GPA + 0x1800;
	if (data[1] & 0x80) /* sometimes let the fuzzer pick (mis)aligned addresses */
		q.cfg.used_gpa = RAM_GPA + 0x1800 + (data[1] & 0x7f);
	uint64_t features = (uint64_t)(data[2] & 3) << 28; /* INDIRECT_DESC, EVENT_IDX */
	if (vq_setup(&q, &mem, features, &why))
		return 0;
	q.last_avail = data[3];

	for (int i = 0; i < 64; i++) {
		int r = vq_pop(&q, &e, &why);

		if (r <= 0)
			break;
		for (unsigned int j = 0; j < e.nr_out + e.nr_in; j++) {
			uint8_t *b = e.iov[j].iov_base;

			if (b < ram || e.iov[j].iov_len > RAM_SIZE ||
			    (size_t)(b - ram) > RAM_SIZE - e.iov[j].iov_len)
				abort();
			if (j >= e.nr_out) /* writable: the device may scribble on it */
				memset(b, 0xa5, e.iov[j].iov_len);
		}
		vq_push(&q, e.head, e.in_len);
		(void)vq_should_notify(&q);
	}
	return 0;
}
