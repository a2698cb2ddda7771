/* pool.h: the per-sandbox pool of synthetic addresses handed out by DNS.
 *
 * The broker answers an allowed A query with an address from this pool
 * and remembers which name it stands for; when the guest later connects to
 * that address (vsock port 1080), pool_name_of() gives the name back, so the
 * connection is decided and dialled by name, on any port. The default range
 * is 198.18.0.0/15, reserved for benchmarking (RFC 2544 §C.2.2, RFC 6890
 * §2.2.2): never a real destination, so a synthetic address cannot shadow one.
 *
 * Bounded: a fixed table sized at pool_init() (one allocation), no
 * allocation per query. When the table is full, the least recently used
 * name (looked up or connected to) is evicted. Addresses are handed out
 * round-robin through the whole range, so an evicted address is not reused
 * until every other free address was; a guest that still holds an evicted
 * address (it cached the answer past its TTL) finds that pool_name_of()
 * returns NULL: the broker refuses the connection and logs
 * pool_miss_reason(), and the guest's next lookup of the name gets a
 * fresh address.
 *
 * Lookups hash the name with a per-pool seed so a guest cannot choose
 * names that collide on every host; even so, a chain is at most `capacity`
 * entries long, and the guest only slows its own broker.
 */
#ifndef SILO_NET_POOL_H
#define SILO_NET_POOL_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>

#include "net/dns.h"

#define POOL_DEFAULT_BASE     0xc6120000u /* 198.18.0.0, host order */
#define POOL_DEFAULT_PREFIX   15u
#define POOL_DEFAULT_CAPACITY 4096u
#define POOL_MAX_CAPACITY     (1u << 20) /* keeps the table sizes far from overflow */

struct pool_entry {
	char name[DNS_NAME_TEXT_MAX];
	uint32_t addr;		       /* host order */
	uint32_t lru_prev, lru_next;   /* towards more / less recently used */
	uint32_t name_next, addr_next; /* hash chains */
};

struct pool {
	uint32_t base, size; /* the range: host-order base, addresses in it */
	uint32_t capacity, count;
	uint32_t mask;	   /* buckets - 1 */
	uint32_t cursor;   /* offset of the next address to try */
	uint32_t mru, lru; /* ends of the recency list */
	uint64_t seed;
	uint32_t *name_bucket, *addr_bucket;
	struct pool_entry *e;
	/* the name the last POOL_EVICTED result pushed out, for the log */
	char evicted[DNS_NAME_TEXT_MAX];
	struct in_addr evicted_addr;
};

/* base/prefix: the range (network order base, aligned to the prefix,
 * prefix 1..30); capacity: names kept at once, at most the range's size
 * minus its first and last address (never handed out) and at most
 * POOL_MAX_CAPACITY. seed: from
 * getrandom() in the broker, fixed in tests. 0, -EINVAL or -ENOMEM. */
int pool_init(struct pool *p, struct in_addr base, unsigned prefix, uint32_t capacity,
	      uint64_t seed);
void pool_free(struct pool *p);

enum pool_result {
	POOL_HIT = 0,	  /* the name already had an address */
	POOL_ADDED = 1,	  /* a new address, the table had room */
	POOL_EVICTED = 2, /* a new address; p->evicted lost its own */
};
/* The address for name (the normalised text dns_query_parse() gives),
 * adding it if needed, and mark it most recently used. Returns an
 * enum pool_result, or -EINVAL for an empty or over-long name. */
int pool_lookup_or_add(struct pool *p, const char *name, struct in_addr *out);

/* The name a synthetic address stands for, or NULL; marks it most
 * recently used. The string lives in the table until the next
 * pool_lookup_or_add(). */
const char *pool_name_of(struct pool *p, struct in_addr addr);

/* True if addr is in the pool's range (whether or not it is mapped): the
 * broker then never treats it as a literal destination. */
bool pool_in_range(const struct pool *p, struct in_addr addr);

/* One line for the log when pool_name_of() returned NULL. */
const char *pool_miss_reason(const struct pool *p, struct in_addr addr);

#endif
