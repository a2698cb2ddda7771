/* test_net_publish.c: published-port specs (src/net/publish.c): the forms
 * accepted, every rejection, and format/parse round trips. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "net/publish.h"

static void roundtrip(const char *in, const char *canon, uint16_t hp, uint16_t gp)
{
	struct net_publish p, q;
	const char *why = "unset";
	char buf[NET_PUBLISH_TEXT_MAX];

	assert_int_equal(net_publish_parse(in, &p, &why), 0);
	assert_null(why);
	assert_int_equal(p.host_port, hp);
	assert_int_equal(p.guest_port, gp);
	assert_int_equal(net_publish_format(&p, buf, sizeof(buf)), (int)strlen(canon));
	assert_string_equal(buf, canon);
	assert_int_equal(net_publish_parse(buf, &q, &why), 0);
	assert_memory_equal(&p, &q, sizeof(p));
}

static void test_accepted(void **st)
{
	(void)st;
	roundtrip("8080:80", "127.0.0.1:8080:80", 8080, 80);
	roundtrip("1:65535", "127.0.0.1:1:65535", 1, 65535);
	roundtrip("0.0.0.0:8080:80", "0.0.0.0:8080:80", 8080, 80);
	roundtrip("192.168.1.5:443:8443", "192.168.1.5:443:8443", 443, 8443);
	roundtrip("[::1]:8080:80", "[::1]:8080:80", 8080, 80);
	roundtrip("[::]:22:22", "[::]:22:22", 22, 22);
	/* IPv4-mapped is stored (and written) as IPv4, like every address */
	roundtrip("[::ffff:127.0.0.1]:8080:80", "127.0.0.1:8080:80", 8080, 80);
}

static void rejected(const char *in, const char *why_has)
{
	struct net_publish p;
	const char *why = NULL;

	assert_int_equal(net_publish_parse(in, &p, &why), -EINVAL);
	assert_non_null(why);
	if (!strstr(why, why_has))
		fail_msg("%s: reason '%s' lacks '%s'", in, why, why_has);
}

static void test_rejected(void **st)
{
	(void)st;
	rejected("", "expected");
	rejected("8080", "expected");
	rejected(":80", "host port");
	rejected("8080:", "guest port");
	rejected("0:80", "host port");
	rejected("8080:0", "guest port");
	rejected("65536:80", "host port");
	rejected("08080:80", "host port");
	rejected("+80:80", "host port");
	rejected("80:8 0", "guest port");
	rejected("123456:80", "host port");
	rejected("127.1:8080:80", "host address");
	rejected("localhost:8080:80", "host address");
	rejected(":8080:80", "host address");
	rejected("::1:8080:80", "IPv6");
	rejected("[127.0.0.1]:8080:80", "IPv6 only");
	rejected("[::1:8080:80", "IPv6");
	rejected("[]:8080:80", "IPv6");
	rejected("[fe80::1%eth0]:8080:80", "host address");
	rejected("1.2.3.4:5:6:7", "host address");
	rejected("1.2.3.4:8080:80 ", "guest port");
	char big[300];
	memset(big, '1', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	rejected(big, "expected");
}

static void test_format_short_buffer(void **st)
{
	(void)st;
	struct net_publish p;
	const char *why;
	char buf[8] = "x";

	assert_int_equal(net_publish_parse("8080:80", &p, &why), 0);
	assert_int_equal(net_publish_format(&p, buf, sizeof(buf)), -ENOSPC);
	assert_string_equal(buf, "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_accepted),
		cmocka_unit_test(test_rejected),
		cmocka_unit_test(test_format_short_buffer),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
