/*
 * Split virtqueue, device side (VIRTIO 1.2 §2.7).
 *
 * The guest owns the ring memory and may change it under our feet, so each
 * descriptor is copied once into a local before it is checked and used, and
 * indices read from the rings are bounded before they index anything.
 */
#include <endian.h>
#include <errno.h>
#include <string.h>
#include <linux/virtio_config.h>

#include "queue.h"

static int bad(const char **why, const char *reason)
{
	if (why)
		*why = reason;
	return -EINVAL;
}

static uint16_t ld16(const void *p, int order)
{
	return le16toh(__atomic_load_n((const uint16_t *)p, order));
}

static void st16(void *p, uint16_t v, int order)
{
	__atomic_store_n((uint16_t *)p, htole16(v), order);
}

/* used_event lives after avail->ring[num], avail_event after used->ring[num] (§2.7.10). */
static uint16_t *used_event(struct vq *q)
{
	return &q->avail->ring[q->size];
}

static uint16_t *avail_event(struct vq *q)
{
	return (uint16_t *)&q->used->ring[q->size];
}

int vq_setup(struct vq *q, const struct guest_mem *mem, uint64_t features, const char **why)
{
	/* Validate and use one copy: nothing below reads q->cfg again. */
	const struct vq_cfg c = q->cfg;
	uint64_t n = c.num;
	struct vring_desc *desc;
	struct vring_avail *avail;
	struct vring_used *used;

	q->live = false;
	/* §2.7: split queue sizes are powers of two; we offered at most VQ_MAX_SIZE. */
	if (n == 0 || n > VQ_MAX_SIZE || (n & (n - 1)))
		return bad(why, "queue size not a power of two in 1..QueueNumMax");
	/* §2.7 table "Virtqueue Part Alignment": 16 / 2 / 4 bytes. */
	if ((c.desc_gpa & 15) || (c.avail_gpa & 1) || (c.used_gpa & 3))
		return bad(why, "misaligned ring address");
	/* Sizes include used_event / avail_event, which exist in guest memory
	 * whether or not EVENT_IDX was negotiated (§2.7.6, §2.7.8). */
	desc = gpa_to_hva(mem, c.desc_gpa, 16 * n);
	avail = gpa_to_hva(mem, c.avail_gpa, 6 + 2 * n);
	used = gpa_to_hva(mem, c.used_gpa, 6 + 8 * n);
	if (!desc || !avail || !used)
		return bad(why, "ring outside guest RAM");
	q->size = (uint16_t)n;
	q->desc = desc;
	q->avail = avail;
	q->used = used;
	q->mem = mem;
	q->indirect = features & (1ULL << VIRTIO_RING_F_INDIRECT_DESC);
	q->event_idx = features & (1ULL << VIRTIO_RING_F_EVENT_IDX);
	/* A fresh queue starts at index 0 on both rings (§2.7.13 and §2.7.14). */
	q->last_avail = 0;
	q->used_idx = 0;
	q->signalled_valid = false;
	q->live = true;
	return 0;
}

void vq_reset(struct vq *q)
{
	memset(q, 0, sizeof(*q));
}

/* Append one checked descriptor to the element. */
static int add_desc(struct vq *q, struct vq_elem *e, const struct vring_desc *d, uint64_t *out_len,
		    uint64_t *in_len, const char **why)
{
	uint64_t addr = le64toh(d->addr);
	uint32_t len = le32toh(d->len);
	uint16_t flags = le16toh(d->flags);
	void *hva;

	/* A zero-length buffer carries nothing; no driver we serve makes one and
	 * accepting it would let a chain grow without consuming any bytes. */
	if (len == 0)
		return bad(why, "zero-length descriptor");
	hva = gpa_to_hva(q->mem, addr, len);
	if (!hva)
		return bad(why, "descriptor buffer outside guest RAM");
	if (e->nr_out + e->nr_in >= VQ_MAX_SIZE)
		return bad(why, "descriptor chain too long");
	if (flags & VRING_DESC_F_WRITE) {
		*in_len += len;
		if (*in_len > UINT32_MAX)
			return bad(why, "writable length overflows 32 bits");
		e->nr_in++;
	} else {
		/* §2.7.4.2: device-readable elements come before writable ones. */
		if (e->nr_in)
			return bad(why, "readable descriptor after writable one");
		*out_len += len;
		if (*out_len > UINT32_MAX)
			return bad(why, "readable length overflows 32 bits");
		e->nr_out++;
	}
	e->iov[e->nr_out + e->nr_in - 1] = (struct iovec){ .iov_base = hva, .iov_len = len };
	return 0;
}

/* Walk the chain starting at head; direct table, then at most one indirect table. */
static int walk(struct vq *q, uint16_t head, struct vq_elem *e, const char **why)
{
	const struct vring_desc *table = q->desc;
	uint32_t tsize = q->size, seen = 0, idx = head;
	uint64_t out_len = 0, in_len = 0;
	bool in_indirect = false;
	struct vring_desc d;
	int ret;

	e->head = head;
	e->nr_out = e->nr_in = 0;
	for (;;) {
		if (idx >= tsize)
			return bad(why, "descriptor index out of range");
		/* Bounding the walk by the table size defeats loops (a->b->a) and
		 * also enforces §2.7.5.3.1 "chain not longer than Queue Size". */
		if (++seen > tsize)
			return bad(why, "descriptor chain loops or exceeds table size");
		memcpy(&d, &table[idx], sizeof(d)); /* one snapshot: no TOCTOU */
		uint16_t flags = le16toh(d.flags);

		if (flags & VRING_DESC_F_INDIRECT) {
			uint32_t len = le32toh(d.len);

			/* §2.7.5.3.1: feature must be negotiated, no NEXT together with
			 * INDIRECT, no indirect inside an indirect table, len a
			 * multiple of 16. */
			if (!q->indirect)
				return bad(why, "INDIRECT descriptor without the feature");
			if (in_indirect)
				return bad(why, "nested INDIRECT descriptor");
			if (flags & VRING_DESC_F_NEXT)
				return bad(why, "INDIRECT descriptor with NEXT");
			if (len == 0 || len % sizeof(struct vring_desc))
				return bad(why, "bad indirect table length");
			table = gpa_to_hva(q->mem, le64toh(d.addr), len);
			if (!table)
				return bad(why, "indirect table outside guest RAM");
			tsize = len / sizeof(struct vring_desc);
			seen = 0;
			idx = 0;
			in_indirect = true;
			continue;
		}
		ret = add_desc(q, e, &d, &out_len, &in_len, why);
		if (ret)
			return ret;
		if (!(flags & VRING_DESC_F_NEXT))
			break;
		idx = le16toh(d.next);
	}
	e->out_len = (uint32_t)out_len;
	e->in_len = (uint32_t)in_len;
	return 0;
}

int vq_pop(struct vq *q, struct vq_elem *e, const char **why)
{
	uint16_t avail_idx, head;

	if (!q->live)
		return 0;
	/* Acquire: ring entries are read only after the idx that published them. */
	avail_idx = ld16(&q->avail->idx, __ATOMIC_ACQUIRE);
	if (avail_idx == q->last_avail) {
		if (!q->event_idx)
			return 0;
		/* §2.7.10: ask for a kick when the driver publishes entry
		 * last_avail, then re-check: the driver may have added a buffer
		 * and read the old avail_event before our store was visible. */
		st16(avail_event(q), q->last_avail, __ATOMIC_RELAXED);
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		avail_idx = ld16(&q->avail->idx, __ATOMIC_ACQUIRE);
		if (avail_idx == q->last_avail)
			return 0;
	}
	/* The driver cannot have more than num chains outstanding. */
	if ((uint16_t)(avail_idx - q->last_avail) > q->size)
		return bad(why, "avail idx moved by more than the queue size");
	head = ld16(&q->avail->ring[q->last_avail & (q->size - 1)], __ATOMIC_RELAXED);
	q->last_avail++;
	return walk(q, head, e, why) ? -EINVAL : 1;
}

uint16_t vq_avail_idx(struct vq *q)
{
	return q->live ? ld16(&q->avail->idx, __ATOMIC_ACQUIRE) : 0;
}

uint16_t vq_watch_avail(struct vq *q)
{
	if (q->live && q->event_idx) {
		st16(avail_event(q), vq_avail_idx(q), __ATOMIC_RELAXED);
		/* as in vq_pop: the store before the driver's next read of it */
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
	}
	return vq_avail_idx(q);
}

void vq_push(struct vq *q, uint16_t head, uint32_t len)
{
	struct vring_used_elem *u;

	if (!q->live)
		return;
	u = &q->used->ring[q->used_idx & (q->size - 1)];
	__atomic_store_n(&u->id, htole32(head), __ATOMIC_RELAXED);
	__atomic_store_n(&u->len, htole32(len), __ATOMIC_RELAXED);
	q->used_idx++;
	/* Release: the element must be visible before the idx that publishes it
	 * (§2.7.8.2 "device MUST NOT ... before"). */
	st16(&q->used->idx, q->used_idx, __ATOMIC_RELEASE);
}

bool vq_should_notify(struct vq *q)
{
	uint16_t old, new;
	bool valid;

	if (!q->live)
		return false;
	/* Our used->idx store must be globally visible before we read the
	 * driver's suppression state, or both sides may decide to wait. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (!q->event_idx)
		return !(ld16(&q->avail->flags, __ATOMIC_RELAXED) & VRING_AVAIL_F_NO_INTERRUPT);
	old = q->signalled_used;
	new = q->used_idx;
	valid = q->signalled_valid;
	q->signalled_used = new;
	q->signalled_valid = true;
	if (!valid)
		return true;
	return vring_need_event(ld16(used_event(q), __ATOMIC_RELAXED), new, old);
}
