/* fuzz_net_pool.c: libFuzzer target for the synthetic address pool (src/net/pool.c).
 *
 * The input is a sequence of operations (look a name up, connect to an
 * address) on a small pool, checked step by step against a naive model
 * written here: an array scanned linearly, recency as a counter, the next
 * address found by walking the range from a cursor. The pool's hash chains
 * and index-linked LRU list must agree with it on every result, address
 * and eviction, for a pool small enough that evictions and wrap-around are
 * frequent and names collide in few buckets.
 */
#include <arpa/inet.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "net/pool.h"

#define CHECK(c)                          \
	do {                              \
		if (!(c))                 \
			__builtin_trap(); \
	} while (0)

#define RANGE_BASE 0x0a000040u /* 10.0.0.64, host order */
#define MAX_CAP	   14u	       /* a /28 has 14 usable addresses */

struct model {
	struct {
		char name[8];
		uint32_t addr;
		uint64_t used;
	} e[MAX_CAP];
	uint32_t n, cap, size, cursor;
	uint64_t tick;
};

static int model_find_name(const struct model *m, const char *name)
{
	for (uint32_t i = 0; i < m->n; i++)
		if (!strcmp(m->e[i].name, name))
			return (int)i;
	return -1;
}

static int model_find_addr(const struct model *m, uint32_t a)
{
	for (uint32_t i = 0; i < m->n; i++)
		if (m->e[i].addr == a)
			return (int)i;
	return -1;
}

/* Returns the pool_result the real pool must give; *addr, *evicted out. */
static int model_lookup(struct model *m, const char *name, uint32_t *addr, char *evicted)
{
	int i = model_find_name(m, name);
	m->tick++;
	if (i >= 0) {
		m->e[i].used = m->tick;
		*addr = m->e[i].addr;
		return POOL_HIT;
	}
	int res = POOL_ADDED;
	if (m->n == m->cap) {
		uint32_t old = 0;
		for (uint32_t k = 1; k < m->n; k++)
			if (m->e[k].used < m->e[old].used)
				old = k;
		strcpy(evicted, m->e[old].name);
		m->e[old] = m->e[--m->n];
		res = POOL_EVICTED;
	}
	uint32_t a;
	do {
		a = RANGE_BASE + m->cursor;
		m->cursor = m->cursor + 1 < m->size - 1 ? m->cursor + 1 : 1;
	} while (model_find_addr(m, a) >= 0);
	snprintf(m->e[m->n].name, sizeof(m->e[m->n].name), "%s", name);
	m->e[m->n].addr = a;
	m->e[m->n].used = m->tick;
	m->n++;
	*addr = a;
	return res;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	struct pool p;
	struct model m = { .size = 16, .cursor = 1 };
	m.cap = 1 + data[0] % MAX_CAP;
	struct in_addr base = { htonl(RANGE_BASE) };
	/* seed from the input too: different chain layouts, same answers */
	CHECK(pool_init(&p, base, 28, m.cap, data[1]) == 0);

	for (size_t i = 2; i < size; i++) {
		uint8_t op = data[i];
		if (op & 0x80) {
			/* connect to an address in or next to the range */
			uint32_t a = RANGE_BASE - 2 + (op & 0x1f);
			struct in_addr in = { htonl(a) };
			const char *got = pool_name_of(&p, in);
			int k = model_find_addr(&m, a);
			CHECK(pool_in_range(&p, in) == (a >= RANGE_BASE && a < RANGE_BASE + 16));
			if (k < 0) {
				CHECK(got == NULL);
				CHECK(pool_miss_reason(&p, in) != NULL);
				continue;
			}
			CHECK(got && !strcmp(got, m.e[k].name));
			m.e[k].used = ++m.tick;
		} else {
			/* look up one of 40 names: "n0".."n39" */
			char name[8], evicted[8] = "";
			snprintf(name, sizeof(name), "n%u", op % 40u);
			uint32_t want;
			int res = model_lookup(&m, name, &want, evicted);
			struct in_addr got;
			CHECK(pool_lookup_or_add(&p, name, &got) == res);
			CHECK(ntohl(got.s_addr) == want);
			if (res == POOL_EVICTED)
				CHECK(!strcmp(p.evicted, evicted));
		}
	}
	/* every live name maps both ways */
	for (uint32_t k = 0; k < m.n; k++) {
		struct in_addr in = { htonl(m.e[k].addr) };
		const char *got = pool_name_of(&p, in);
		CHECK(got && !strcmp(got, m.e[k].name));
	}
	pool_free(&p);
	return 0;
}
