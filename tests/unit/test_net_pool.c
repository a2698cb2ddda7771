/* test_net_pool.c: the synthetic address pool (src/net/pool.c): stable
 * mapping, reverse lookup, LRU eviction order, round-robin reuse and
 * wrap-around, bounds. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "net/pool.h"

static struct in_addr ip(const char *s)
{
	struct in_addr a;
	assert_int_equal(inet_pton(AF_INET, s, &a), 1);
	return a;
}

/* lookup_or_add, checking the result kind and the address */
static void add(struct pool *p, const char *name, int want_res, const char *want_ip)
{
	struct in_addr a;
	assert_int_equal(pool_lookup_or_add(p, name, &a), want_res);
	assert_int_equal(a.s_addr, ip(want_ip).s_addr);
}

static void test_stable_and_reverse(void **st)
{
	(void)st;
	struct pool p;
	assert_int_equal(
		pool_init(&p, ip("198.18.0.0"), POOL_DEFAULT_PREFIX, POOL_DEFAULT_CAPACITY, 42), 0);
	add(&p, "example.com", POOL_ADDED, "198.18.0.1");
	add(&p, "github.com", POOL_ADDED, "198.18.0.2");
	add(&p, "example.com", POOL_HIT, "198.18.0.1");
	assert_string_equal(pool_name_of(&p, ip("198.18.0.1")), "example.com");
	assert_string_equal(pool_name_of(&p, ip("198.18.0.2")), "github.com");
	assert_null(pool_name_of(&p, ip("198.18.0.3")));
	assert_null(pool_name_of(&p, ip("10.0.0.1")));
	assert_true(pool_in_range(&p, ip("198.18.0.0")));
	assert_true(pool_in_range(&p, ip("198.19.255.255")));
	assert_false(pool_in_range(&p, ip("198.20.0.0")));
	assert_false(pool_in_range(&p, ip("198.17.255.255")));
	assert_string_equal(pool_miss_reason(&p, ip("10.0.0.1")), "not a synthetic address");
	assert_non_null(strstr(pool_miss_reason(&p, ip("198.18.0.3")), "evicted"));
	pool_free(&p);
}

static void test_eviction_order(void **st)
{
	(void)st;
	struct pool p;
	assert_int_equal(pool_init(&p, ip("10.1.2.0"), 24, 3, 1), 0);
	add(&p, "a", POOL_ADDED, "10.1.2.1");
	add(&p, "b", POOL_ADDED, "10.1.2.2");
	add(&p, "c", POOL_ADDED, "10.1.2.3");
	/* recency now c, b, a; a DNS hit and a connect both count as use */
	add(&p, "a", POOL_HIT, "10.1.2.1");
	assert_string_equal(pool_name_of(&p, ip("10.1.2.2")), "b");
	/* b, a, c: c goes, and its address is not reused at once */
	add(&p, "d", POOL_EVICTED, "10.1.2.4");
	assert_string_equal(p.evicted, "c");
	assert_int_equal(p.evicted_addr.s_addr, ip("10.1.2.3").s_addr);
	assert_null(pool_name_of(&p, ip("10.1.2.3")));
	/* d, b, a: a goes */
	add(&p, "e", POOL_EVICTED, "10.1.2.5");
	assert_string_equal(p.evicted, "a");
	/* a comes back with a new address, pushing out b */
	add(&p, "a", POOL_EVICTED, "10.1.2.6");
	assert_string_equal(p.evicted, "b");
	assert_string_equal(pool_name_of(&p, ip("10.1.2.4")), "d");
	assert_string_equal(pool_name_of(&p, ip("10.1.2.5")), "e");
	assert_string_equal(pool_name_of(&p, ip("10.1.2.6")), "a");
	assert_null(pool_name_of(&p, ip("10.1.2.1")));
	assert_null(pool_name_of(&p, ip("10.1.2.2")));
	pool_free(&p);
}

static void test_wrap(void **st)
{
	(void)st;
	struct pool p;
	/* a /29: offsets 1..6 are handed out, .0 and .7 never */
	assert_int_equal(pool_init(&p, ip("10.0.0.0"), 29, 3, 7), 0);
	add(&p, "keep", POOL_ADDED, "10.0.0.1");
	add(&p, "x1", POOL_ADDED, "10.0.0.2");
	add(&p, "x2", POOL_ADDED, "10.0.0.3");
	const char *next[] = { "x3", "x4", "x5" };
	const char *addr[] = { "10.0.0.4", "10.0.0.5", "10.0.0.6" };
	for (int i = 0; i < 3; i++) {
		assert_string_equal(pool_name_of(&p, ip("10.0.0.1")), "keep");
		add(&p, next[i], POOL_EVICTED, addr[i]);
	}
	/* the cursor wraps past .7 to .1, still held by keep, and takes .2 */
	assert_string_equal(pool_name_of(&p, ip("10.0.0.1")), "keep");
	add(&p, "x6", POOL_EVICTED, "10.0.0.2");
	assert_string_equal(p.evicted, "x4");
	assert_null(pool_name_of(&p, ip("10.0.0.0")));
	assert_null(pool_name_of(&p, ip("10.0.0.7")));
	pool_free(&p);

	/* a full /30: both usable addresses in use, eviction frees one */
	assert_int_equal(pool_init(&p, ip("10.0.0.4"), 30, 2, 7), 0);
	add(&p, "m", POOL_ADDED, "10.0.0.5");
	add(&p, "n", POOL_ADDED, "10.0.0.6");
	add(&p, "o", POOL_EVICTED, "10.0.0.5");
	add(&p, "n", POOL_HIT, "10.0.0.6");
	pool_free(&p);
}

static void test_invalid(void **st)
{
	(void)st;
	struct pool p;
	struct in_addr a;
	assert_int_equal(pool_init(&p, ip("198.18.0.0"), 0, 4, 0), -EINVAL);
	assert_int_equal(pool_init(&p, ip("198.18.0.0"), 31, 1, 0), -EINVAL);
	assert_int_equal(pool_init(&p, ip("198.18.0.1"), 15, 4, 0), -EINVAL);
	assert_int_equal(pool_init(&p, ip("198.18.0.0"), 15, 0, 0), -EINVAL);
	assert_int_equal(pool_init(&p, ip("10.0.0.0"), 29, 7, 0), -EINVAL);
	assert_int_equal(pool_init(&p, ip("0.0.0.0"), 1, POOL_MAX_CAPACITY + 1, 0), -EINVAL);
	assert_int_equal(pool_init(&p, ip("128.0.0.0"), 1, UINT32_MAX, 0), -EINVAL);
	assert_int_equal(pool_init(&p, ip("10.0.0.0"), 29, 6, 0), 0);
	assert_int_equal(pool_lookup_or_add(&p, "", &a), -EINVAL);
	char name[DNS_NAME_TEXT_MAX + 1];
	memset(name, 'a', sizeof(name));
	name[DNS_NAME_TEXT_MAX] = '\0';
	assert_int_equal(pool_lookup_or_add(&p, name, &a), -EINVAL);
	name[DNS_NAME_TEXT_MAX - 1] = '\0'; /* 253 characters: the longest name */
	assert_int_equal(pool_lookup_or_add(&p, name, &a), POOL_ADDED);
	assert_string_equal(pool_name_of(&p, a), name);
	pool_free(&p);
}

static void test_many(void **st)
{
	(void)st;
	struct pool p;
	char name[32];
	struct in_addr a;
	const uint32_t cap = POOL_DEFAULT_CAPACITY, total = 3 * POOL_DEFAULT_CAPACITY + 5;
	assert_int_equal(pool_init(&p, ip("198.18.0.0"), POOL_DEFAULT_PREFIX, cap, 99), 0);
	for (uint32_t i = 0; i < total; i++) {
		snprintf(name, sizeof(name), "host%u.example", i);
		assert_int_equal(pool_lookup_or_add(&p, name, &a),
				 i < cap ? POOL_ADDED : POOL_EVICTED);
		/* round robin: the i-th name gets offset i + 1 */
		assert_int_equal(ntohl(a.s_addr), 0xc6120000u + i + 1);
		assert_string_equal(pool_name_of(&p, a), name);
	}
	/* only the last `cap` names are left, each with its own address */
	for (uint32_t i = 0; i < total; i++) {
		struct in_addr want = { htonl(0xc6120000u + i + 1) };
		const char *got = pool_name_of(&p, want);
		snprintf(name, sizeof(name), "host%u.example", i);
		if (i < total - cap)
			assert_null(got);
		else
			assert_string_equal(got, name);
	}
	pool_free(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stable_and_reverse),
		cmocka_unit_test(test_eviction_order),
		cmocka_unit_test(test_wrap),
		cmocka_unit_test(test_invalid),
		cmocka_unit_test(test_many),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
