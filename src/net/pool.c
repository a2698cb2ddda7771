/* pool.c: synthetic address pool (see pool.h): a fixed table of entries,
 * two chained hash tables (name -> entry, address -> entry) and an LRU list,
 * all linked by index so the one allocation at init is all there is. */
#include "net/pool.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define NONE UINT32_MAX

/* FNV-1a (64-bit), with the per-pool seed folded into the start value. */
static uint32_t name_hash(const struct pool *p, const char *s)
{
	uint64_t h = 0xcbf29ce484222325ull ^ p->seed;
	for (; *s; s++) {
		h ^= (uint8_t)*s;
		h *= 0x100000001b3ull;
	}
	return (uint32_t)(h ^ h >> 32) & p->mask;
}

static uint32_t addr_hash(const struct pool *p, uint32_t a)
{
	/* Fibonacci hashing: consecutive addresses spread over buckets. */
	return (uint32_t)(((uint64_t)a * 0x9e3779b97f4a7c15ull) >> 32) & p->mask;
}

int pool_init(struct pool *p, struct in_addr base, unsigned prefix, uint32_t capacity,
	      uint64_t seed)
{
	memset(p, 0, sizeof(*p));
	if (prefix < 1 || prefix > 30)
		return -EINVAL;
	uint32_t b = ntohl(base.s_addr);
	uint32_t size = 1u << (32 - prefix);
	/* The first and last address of the range are never handed out:
         * software treats all-zeros/all-ones host parts specially. */
	if ((b & (size - 1)) != 0 || capacity == 0 || capacity > size - 2 ||
	    capacity > POOL_MAX_CAPACITY)
		return -EINVAL;
	uint32_t buckets = 1;
	while (buckets < 2 * capacity)
		buckets <<= 1;

	size_t bytes = (size_t)capacity * sizeof(struct pool_entry) +
		       2 * (size_t)buckets * sizeof(uint32_t);
	void *mem = malloc(bytes);
	if (!mem)
		return -ENOMEM;
	p->e = mem;
	p->name_bucket = (uint32_t *)(p->e + capacity);
	p->addr_bucket = p->name_bucket + buckets;
	for (uint32_t i = 0; i < buckets; i++)
		p->name_bucket[i] = p->addr_bucket[i] = NONE;
	p->base = b;
	p->size = size;
	p->capacity = capacity;
	p->mask = buckets - 1;
	p->cursor = 1;
	p->mru = p->lru = NONE;
	p->seed = seed;
	return 0;
}

void pool_free(struct pool *p)
{
	free(p->e);
	memset(p, 0, sizeof(*p));
}

static void lru_unlink(struct pool *p, uint32_t i)
{
	struct pool_entry *e = &p->e[i];
	if (e->lru_prev != NONE)
		p->e[e->lru_prev].lru_next = e->lru_next;
	else
		p->mru = e->lru_next;
	if (e->lru_next != NONE)
		p->e[e->lru_next].lru_prev = e->lru_prev;
	else
		p->lru = e->lru_prev;
}

static void lru_push(struct pool *p, uint32_t i)
{
	struct pool_entry *e = &p->e[i];
	e->lru_prev = NONE;
	e->lru_next = p->mru;
	if (p->mru != NONE)
		p->e[p->mru].lru_prev = i;
	p->mru = i;
	if (p->lru == NONE)
		p->lru = i;
}

static void touch(struct pool *p, uint32_t i)
{
	if (p->mru != i) {
		lru_unlink(p, i);
		lru_push(p, i);
	}
}

static uint32_t find_addr(const struct pool *p, uint32_t a)
{
	uint32_t i = p->addr_bucket[addr_hash(p, a)];
	while (i != NONE && p->e[i].addr != a)
		i = p->e[i].addr_next;
	return i;
}

/* Remove entry i from a chain linked through the field at offset off. */
static void chain_remove(struct pool *p, uint32_t *head, uint32_t i, size_t off)
{
#define NEXT(k) (*(uint32_t *)((char *)&p->e[k] + off))
	if (*head == i) {
		*head = NEXT(i);
		return;
	}
	for (uint32_t k = *head; k != NONE; k = NEXT(k)) {
		if (NEXT(k) == i) {
			NEXT(k) = NEXT(i);
			return;
		}
	}
#undef NEXT
}

/* The next free address after the cursor. Called with at most capacity - 1
 * addresses in use and capacity ≤ size - 2, so a free one exists and the
 * scan ends within `count + 1` steps. */
static uint32_t next_free_addr(struct pool *p)
{
	for (;;) {
		uint32_t a = p->base + p->cursor;
		p->cursor = p->cursor + 1 < p->size - 1 ? p->cursor + 1 : 1;
		if (find_addr(p, a) == NONE)
			return a;
	}
}

int pool_lookup_or_add(struct pool *p, const char *name, struct in_addr *out)
{
	size_t n = strnlen(name, DNS_NAME_TEXT_MAX);
	if (n == 0 || n >= DNS_NAME_TEXT_MAX)
		return -EINVAL;

	uint32_t h = name_hash(p, name);
	for (uint32_t i = p->name_bucket[h]; i != NONE; i = p->e[i].name_next) {
		if (!strcmp(p->e[i].name, name)) {
			touch(p, i);
			out->s_addr = htonl(p->e[i].addr);
			return POOL_HIT;
		}
	}

	int res = POOL_ADDED;
	uint32_t i;
	if (p->count < p->capacity) {
		i = p->count++;
	} else {
		i = p->lru;
		struct pool_entry *old = &p->e[i];
		lru_unlink(p, i);
		chain_remove(p, &p->name_bucket[name_hash(p, old->name)], i,
			     offsetof(struct pool_entry, name_next));
		chain_remove(p, &p->addr_bucket[addr_hash(p, old->addr)], i,
			     offsetof(struct pool_entry, addr_next));
		memcpy(p->evicted, old->name, sizeof(p->evicted));
		p->evicted_addr.s_addr = htonl(old->addr);
		res = POOL_EVICTED;
	}
	struct pool_entry *e = &p->e[i];
	memcpy(e->name, name, n + 1);
	/* Pick the address with this entry unhashed, so an evicted
         * address is reused only when the cursor comes round to it. */
	e->addr = next_free_addr(p);
	e->name_next = p->name_bucket[h];
	p->name_bucket[h] = i;
	uint32_t ah = addr_hash(p, e->addr);
	e->addr_next = p->addr_bucket[ah];
	p->addr_bucket[ah] = i;
	lru_push(p, i);
	out->s_addr = htonl(e->addr);
	return res;
}

bool pool_in_range(const struct pool *p, struct in_addr addr)
{
	return (ntohl(addr.s_addr) & ~(p->size - 1)) == p->base;
}

const char *pool_name_of(struct pool *p, struct in_addr addr)
{
	if (!pool_in_range(p, addr))
		return NULL;
	uint32_t i = find_addr(p, ntohl(addr.s_addr));
	if (i == NONE)
		return NULL;
	touch(p, i);
	return p->e[i].name;
}

const char *pool_miss_reason(const struct pool *p, struct in_addr addr)
{
	if (!pool_in_range(p, addr))
		return "not a synthetic address";
	return "synthetic address maps to no name: evicted from the DNS pool "
	       "(least recently used) or never handed out; look the name up again";
}
