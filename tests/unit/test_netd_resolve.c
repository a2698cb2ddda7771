/* test_netd_resolve.c: silo-netd's host lookups (src/netd/resolve.c): the
 * address families asked for, by glibc's AI_ADDRCONFIG rule, decided once
 * and kept; answers kept and served from the cache. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>

#include "netd/netd.h"

/* A getifaddrs-style list of the given addresses ("127.0.0.1", "fe80::1",
 * or NULL for an entry without an address), in storage. */
struct fake_if {
	struct ifaddrs ifa;
	struct sockaddr_storage ss;
};

static const struct ifaddrs *list_of(struct fake_if *f, const char *const *addrs, size_t k)
{
	for (size_t i = 0; i < k; i++) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&f[i].ss;
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&f[i].ss;
		memset(&f[i], 0, sizeof(f[i]));
		f[i].ifa.ifa_next = i + 1 < k ? &f[i + 1].ifa : NULL;
		if (!addrs[i])
			continue;
		f[i].ifa.ifa_addr = (struct sockaddr *)&f[i].ss;
		if (inet_pton(AF_INET, addrs[i], &s4->sin_addr) == 1) {
			s4->sin_family = AF_INET;
		} else {
			assert_int_equal(inet_pton(AF_INET6, addrs[i], &s6->sin6_addr), 1);
			s6->sin6_family = AF_INET6;
		}
	}
	return k ? &f[0].ifa : NULL;
}

#define FAMILY(...)                                                                  \
	({                                                                           \
		const char *const a_[] = { __VA_ARGS__ };                            \
		struct fake_if f_[sizeof(a_) / sizeof(a_[0])];                       \
		netd_addrconfig_family(list_of(f_, a_, sizeof(a_) / sizeof(a_[0]))); \
	})

static void test_addrconfig_rule(void **st)
{
	(void)st;
	assert_int_equal(netd_addrconfig_family(NULL), AF_UNSPEC);
	/* loopback alone counts for neither: both are asked for */
	assert_int_equal(FAMILY("127.0.0.1", "::1", NULL), AF_UNSPEC);
	assert_int_equal(FAMILY("127.0.0.1", "192.0.2.2", "::1"), AF_INET);
	assert_int_equal(FAMILY("::1", "fd00::2", "127.0.0.1"), AF_INET6);
	assert_int_equal(FAMILY("192.0.2.2", "fd00::2"), AF_UNSPEC);
	/* a link-local address reaches nothing silo-netd may dial: it does
	 * not count (glibc counts it) */
	assert_int_equal(FAMILY("10.0.0.1", "fe80::1"), AF_INET);
	assert_int_equal(FAMILY("169.254.1.2", "2001:db8::2"), AF_INET6);
	assert_int_equal(FAMILY("169.254.1.2", "fe80::1", "::1"), AF_UNSPEC);
	/* glibc's rule: a loopback address other than 127.0.0.1 counts */
	assert_int_equal(FAMILY("127.0.0.2", "::1"), AF_INET);
}

static struct netd n;

static int setup(void **st)
{
	(void)st;
	memset(&n, 0, sizeof(n));
	pthread_mutex_init(&n.log_lock, NULL);
	pthread_mutex_init(&n.stats_io_lock, NULL);
	pthread_mutex_init(&n.resolve_lock, NULL);
	n.log_fd = -1;
	n.resolved = calloc(NETD_RESOLVE_SLOTS, sizeof(*n.resolved));
	return n.resolved ? 0 : -1;
}

static int teardown(void **st)
{
	(void)st;
	free(n.resolved);
	return 0;
}

/* A literal needs no resolver: one address, asked for once, then kept,
 * with the family decision kept too. */
static void test_resolve_kept(void **st)
{
	struct net_addr a[NETD_RESOLVE_ADDRS];
	int64_t until;

	(void)st;
	assert_int_equal(netd_resolve(&n, "192.0.2.7", a, NETD_RESOLVE_ADDRS), 1);
	assert_int_equal(a[0].family, AF_INET);
	assert_int_equal(n.stats.resolves, 1);
	until = n.gai_family_until_ms;
	assert_true(until > netd_now_ms());
	assert_int_equal(netd_resolve(&n, "192.0.2.7", a, NETD_RESOLVE_ADDRS), 1);
	assert_int_equal(n.stats.resolves, 1);
	assert_int_equal(n.stats.resolve_hits, 1);
	assert_int_equal(netd_resolve(&n, "192.0.2.8", a, NETD_RESOLVE_ADDRS), 1);
	assert_int_equal(n.stats.resolves, 2);
	assert_true(n.gai_family_until_ms == until); /* not looked at again */
	/* a literal of a family the lookup does not ask for: no address */
	if (n.gai_family == AF_INET)
		assert_true(netd_resolve(&n, "2001:db8::1", a, NETD_RESOLVE_ADDRS) < 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_addrconfig_rule),
		cmocka_unit_test_setup_teardown(test_resolve_kept, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
