/* test_net_policy.c: the network policy engine (src/net/policy.c, addr.c,
 * policy_text.c): decisions for names, literal and resolved addresses across
 * modes, rule parsing and its errors, the policy's text form. Each case
 * checks the verdict and the exact log line. */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "net/policy.h"

enum qkind { NAME, ADDR, RESOLVED };

struct dcase {
	const char *policy; /* text form; the mode line first */
	enum qkind kind;
	const char *query;
	uint16_t port;
	enum net_verdict want;
	const char *line; /* net_decision_format */
};

#define OPEN "mode open\n"
#define AL   "mode allowlist\n"
#define NONE "mode none\n"
#define OK   NET_ALLOW
#define NO   NET_DENY

/* The host's own addresses, as the broker would add them from getifaddrs. */
static const char *const host_addrs[] = { "81.2.69.142", "10.1.1.5", "2a02:898:1::5" };

static const struct dcase cases[] = {
	/* ---- names: modes ---- */
	{ OPEN, NAME, "example.com", 443, OK, "allowed: open mode" },
	{ AL, NAME, "example.com", 443, NO, "no rule allows it (allowlist)" },
	{ NONE, NAME, "example.com", 443, NO, "network mode none" },
	{ NONE "allow example.com\n", NAME, "example.com", 443, NO, "network mode none" },
	/* ---- exact names, normalised ---- */
	{ AL "allow github.com\n", NAME, "github.com", 22, OK, "allowed by rule github.com" },
	{ AL "allow github.com\n", NAME, "GitHub.COM.", 443, OK, "allowed by rule github.com" },
	{ AL "allow GITHUB.com.\n", NAME, "github.com", 443, OK, "allowed by rule github.com" },
	{ AL "allow github.com\n", NAME, "api.github.com", 443, NO,
	  "no rule allows it (allowlist)" },
	{ AL "allow github.com\n", NAME, "github.com.evil.test", 443, NO,
	  "no rule allows it (allowlist)" },
	/* ---- wildcards: any depth below, never the apex ---- */
	{ AL "allow *.npmjs.org\n", NAME, "registry.npmjs.org", 443, OK,
	  "allowed by rule *.npmjs.org" },
	{ AL "allow *.npmjs.org\n", NAME, "a.b.c.npmjs.org", 443, OK,
	  "allowed by rule *.npmjs.org" },
	{ AL "allow *.npmjs.org\n", NAME, "npmjs.org", 443, NO, "no rule allows it (allowlist)" },
	{ AL "allow *.npmjs.org\n", NAME, "evilnpmjs.org", 443, NO,
	  "no rule allows it (allowlist)" },
	{ AL "allow *.npmjs.org\n", NAME, "npmjs.org.evil.test", 443, NO,
	  "no rule allows it (allowlist)" },
	{ AL "allow *.npmjs.org\nallow npmjs.org\n", NAME, "npmjs.org", 443, OK,
	  "allowed by rule npmjs.org" },
	/* ---- ports ---- */
	{ AL "allow github.com:22\n", NAME, "github.com", 22, OK, "allowed by rule github.com:22" },
	{ AL "allow github.com:22\n", NAME, "github.com", 443, NO,
	  "no rule allows it (allowlist)" },
	/* port 0 is a DNS query: allowed if some port is */
	{ AL "allow github.com:22\n", NAME, "github.com", 0, OK, "allowed by rule github.com:22" },
	/* ---- deny beats allow ---- */
	{ OPEN "deny *.evil.test\n", NAME, "x.evil.test", 443, NO, "denied by rule *.evil.test" },
	{ OPEN "deny *.evil.test\n", NAME, "evil.test", 443, OK, "allowed: open mode" },
	{ AL "allow *.evil.test\ndeny *.evil.test\n", NAME, "a.evil.test", 80, NO,
	  "denied by rule *.evil.test" },
	{ AL "allow *.example.com\ndeny bad.example.com\n", NAME, "bad.example.com", 443, NO,
	  "denied by rule bad.example.com" },
	{ AL "allow *.example.com\ndeny bad.example.com\n", NAME, "good.example.com", 443, OK,
	  "allowed by rule *.example.com" },
	{ AL "allow bad.example.com\ndeny *.example.com\n", NAME, "bad.example.com", 443, NO,
	  "denied by rule *.example.com" },
	{ AL "allow *.example.com\ndeny bad.example.com:25\n", NAME, "bad.example.com", 25, NO,
	  "denied by rule bad.example.com:25" },
	{ AL "allow *.example.com\ndeny bad.example.com:25\n", NAME, "bad.example.com", 443, OK,
	  "allowed by rule *.example.com" },
	/* a deny for one port does not refuse the DNS name */
	{ AL "allow *.example.com\ndeny bad.example.com:25\n", NAME, "bad.example.com", 0, OK,
	  "allowed by rule *.example.com" },
	{ OPEN "deny evil.test\n", NAME, "evil.test", 0, NO, "denied by rule evil.test" },
	/* the first matching rule is the one logged */
	{ OPEN "deny *.test\ndeny *.evil.test\n", NAME, "a.evil.test", 1, NO,
	  "denied by rule *.test" },
	/* CIDR rules never match a name */
	{ AL "allow 0.0.0.0/0\n", NAME, "example.com", 443, NO, "no rule allows it (allowlist)" },
	/* ---- localhost and its aliases: always denied ---- */
	{ OPEN, NAME, "localhost", 80, NO, "hard-deny: localhost name (RFC 6761 §6.3)" },
	{ OPEN, NAME, "LocalHost.", 80, NO, "hard-deny: localhost name (RFC 6761 §6.3)" },
	{ OPEN, NAME, "foo.localhost", 80, NO, "hard-deny: localhost name (RFC 6761 §6.3)" },
	{ OPEN, NAME, "ip6-localhost", 80, NO, "hard-deny: localhost name (RFC 6761 §6.3)" },
	{ OPEN, NAME, "localhost.localdomain", 80, NO,
	  "hard-deny: localhost name (RFC 6761 §6.3)" },
	{ OPEN "allow *.example.com\n", NAME, "localhost6", 0, NO,
	  "hard-deny: localhost name (RFC 6761 §6.3)" },
	{ OPEN, NAME, "notlocalhost", 80, OK, "allowed: open mode" },
	/* ---- IP literals in disguise are not names ---- */
	{ OPEN, NAME, "127.1", 80, NO,
	  "numeric name: write an IP address as a.b.c.d (decimal) or IPv6" },
	{ OPEN, NAME, "0x7f.1", 80, NO,
	  "numeric name: write an IP address as a.b.c.d (decimal) or IPv6" },
	{ OPEN, NAME, "0X7F.0.0.1", 80, NO,
	  "numeric name: write an IP address as a.b.c.d (decimal) or IPv6" },
	{ OPEN, NAME, "1.2.3.4", 80, NO,
	  "numeric name: write an IP address as a.b.c.d (decimal) or IPv6" },
	{ OPEN, NAME, "2130706433", 80, NO,
	  "numeric name: write an IP address as a.b.c.d (decimal) or IPv6" },
	{ OPEN, NAME, "0177.0.0.1.", 80, NO,
	  "numeric name: write an IP address as a.b.c.d (decimal) or IPv6" },
	{ OPEN, NAME, "123.example.com", 80, OK, "allowed: open mode" },
	{ OPEN, NAME, "1.2.3.4.nip.io", 80, OK, "allowed: open mode" },
	/* ---- invalid names ---- */
	{ OPEN, NAME, "", 80, NO, "invalid name: empty" },
	{ OPEN, NAME, ".", 80, NO, "invalid name: empty" },
	{ OPEN, NAME, "a..b", 80, NO, "invalid name: empty label" },
	{ OPEN, NAME, "a.b..", 80, NO, "invalid name: empty label" },
	{ OPEN, NAME, "a b.com", 80, NO,
	  "invalid name: bad character (letters, digits, '-', '_', '.')" },
	{ OPEN, NAME, "*.example.com", 80, NO,
	  "invalid name: bad character (letters, digits, '-', '_', '.')" },
	{ OPEN, NAME, "caf\xc3\xa9.com", 80, NO,
	  "invalid name: bad character (letters, digits, '-', '_', '.')" },
	{ OPEN, NAME, "-a.com", 80, NO, "invalid name: label starts or ends with '-'" },
	{ OPEN, NAME, "a-.com", 80, NO, "invalid name: label starts or ends with '-'" },
	{ OPEN, NAME, "_dmarc.example.com", 80, OK, "allowed: open mode" },
	{ OPEN, NAME, "xn--bcher-kva.example", 80, OK, "allowed: open mode" },

	/* ---- literal addresses ---- */
	{ OPEN, ADDR, "8.8.8.8", 53, OK, "allowed: open mode" },
	{ AL, ADDR, "8.8.8.8", 53, NO, "no rule allows it (allowlist)" },
	{ NONE "allow 8.8.8.8\n", ADDR, "8.8.8.8", 53, NO, "network mode none" },
	{ AL "allow 8.8.8.0/24\n", ADDR, "8.8.8.8", 53, OK, "allowed by rule 8.8.8.0/24" },
	{ AL "allow 8.8.8.0/24:53\n", ADDR, "8.8.8.8", 443, NO, "no rule allows it (allowlist)" },
	/* name rules never match an address */
	{ AL "allow github.com\n", ADDR, "140.82.112.3", 443, NO, "no rule allows it (allowlist)" },
	/* metadata: refused in every mode, even with a rule, unless the flag is set too */
	{ OPEN, ADDR, "169.254.169.254", 80, NO, "hard-deny: link-local (metadata)" },
	{ AL, ADDR, "169.254.169.254", 80, NO, "hard-deny: link-local (metadata)" },
	{ NONE, ADDR, "169.254.169.254", 80, NO, "network mode none" },
	{ OPEN "allow 169.254.169.254\n", ADDR, "169.254.169.254", 80, NO,
	  "hard-deny: link-local (metadata)" },
	{ OPEN "flag allow-link-local\n", ADDR, "169.254.169.254", 80, NO,
	  "hard-deny: link-local (metadata)" },
	{ OPEN "flag allow-link-local\nallow 169.254.169.254:80\n", ADDR, "169.254.169.254", 80, OK,
	  "allowed by rule 169.254.169.254:80" },
	{ OPEN, ADDR, "100.100.100.200", 80, NO, "hard-deny: cloud metadata (100.100.100.200)" },
	{ OPEN "allow 100.64.0.0/10\n", ADDR, "100.100.100.200", 80, NO,
	  "hard-deny: cloud metadata (100.100.100.200)" },
	{ OPEN "allow 100.64.0.0/10\n", ADDR, "100.101.2.3", 80, OK,
	  "allowed by rule 100.64.0.0/10" },
	{ OPEN, ADDR, "fd00:ec2::254", 80, NO, "hard-deny: cloud metadata (fd00:ec2::254)" },
	{ OPEN "allow fd00::/8\n", ADDR, "fd00:ec2::254", 80, NO,
	  "hard-deny: cloud metadata (fd00:ec2::254)" },
	{ OPEN "allow fd00::/8\n", ADDR, "fd00::5", 80, OK, "allowed by rule fd00::/8" },
	{ OPEN, ADDR, "fe80::1", 80, NO, "hard-deny: link-local" },
	/* private ranges: only a CIDR allow rule within the range opens them */
	{ OPEN, ADDR, "10.1.2.3", 80, NO, "hard-deny: private (RFC 1918)" },
	{ OPEN, ADDR, "172.31.255.255", 80, NO, "hard-deny: private (RFC 1918)" },
	{ OPEN, ADDR, "172.32.0.1", 80, OK, "allowed: open mode" },
	{ OPEN, ADDR, "192.168.1.1", 80, NO, "hard-deny: private (RFC 1918)" },
	{ OPEN, ADDR, "100.64.0.1", 80, NO, "hard-deny: shared address space (RFC 6598)" },
	{ OPEN, ADDR, "192.0.2.1", 80, NO, "hard-deny: documentation (RFC 5737)" },
	{ OPEN "allow 10.0.0.0/8\n", ADDR, "10.1.2.3", 80, OK, "allowed by rule 10.0.0.0/8" },
	{ AL "allow 10.99.0.0/24:8080\n", ADDR, "10.99.0.2", 8080, OK,
	  "allowed by rule 10.99.0.0/24:8080" },
	{ AL "allow 10.99.0.0/24:8080\n", ADDR, "10.99.0.2", 80, NO,
	  "hard-deny: private (RFC 1918)" },
	{ OPEN "allow 0.0.0.0/0\n", ADDR, "10.1.2.3", 80, NO, "hard-deny: private (RFC 1918)" },
	{ OPEN "allow 0.0.0.0/0\n", ADDR, "8.8.8.8", 80, OK, "allowed by rule 0.0.0.0/0" },
	{ OPEN "allow 10.0.0.0/8\ndeny 10.0.0.5\n", ADDR, "10.0.0.5", 80, NO,
	  "denied by rule 10.0.0.5" },
	{ OPEN "deny 8.8.0.0/16\nallow 8.8.8.8\n", ADDR, "8.8.8.8", 80, NO,
	  "denied by rule 8.8.0.0/16" },
	{ OPEN, ADDR, "fc00::1", 80, NO, "hard-deny: unique local (RFC 4193)" },
	{ OPEN, ADDR, "2001:db8::1", 80, NO, "hard-deny: documentation (RFC 3849)" },
	{ OPEN, ADDR, "2606:4700::1111", 443, OK, "allowed: open mode" },
	{ AL "allow [2606:4700::/32]:443\n", ADDR, "2606:4700::1111", 443, OK,
	  "allowed by rule [2606:4700::/32]:443" },
	{ AL "allow [2606:4700::/32]:443\n", ADDR, "2606:4700::1111", 80, NO,
	  "no rule allows it (allowlist)" },
	/* loopback and "this host": the flag and a rule within the range */
	{ OPEN, ADDR, "127.0.0.1", 80, NO, "hard-deny: loopback" },
	{ OPEN, ADDR, "127.255.0.9", 80, NO, "hard-deny: loopback" },
	{ OPEN "allow 127.0.0.0/8\n", ADDR, "127.0.0.1", 80, NO, "hard-deny: loopback" },
	{ OPEN "flag allow-host\nallow 127.0.0.1:5432\n", ADDR, "127.0.0.1", 5432, OK,
	  "allowed by rule 127.0.0.1:5432" },
	{ OPEN "flag allow-host\nallow 127.0.0.1:5432\n", ADDR, "127.0.0.1", 22, NO,
	  "hard-deny: loopback" },
	{ OPEN "flag allow-host\nallow 127.0.0.1\ndeny 127.0.0.1:22\n", ADDR, "127.0.0.1", 22, NO,
	  "denied by rule 127.0.0.1:22" },
	{ OPEN, ADDR, "0.0.0.0", 80, NO, "hard-deny: this host (0.0.0.0/8)" },
	{ OPEN, ADDR, "::1", 80, NO, "hard-deny: loopback" },
	{ OPEN, ADDR, "::", 80, NO, "hard-deny: unspecified (::)" },
	/* reserved: never, whatever the rules */
	{ OPEN, ADDR, "224.0.0.1", 80, NO, "hard-deny: multicast (RFC 5771)" },
	{ OPEN "allow 224.0.0.0/4\n", ADDR, "224.0.0.1", 80, NO,
	  "hard-deny: multicast (RFC 5771)" },
	{ OPEN, ADDR, "255.255.255.255", 80, NO, "hard-deny: limited broadcast (RFC 919)" },
	{ OPEN, ADDR, "250.1.2.3", 80, NO, "hard-deny: reserved (RFC 1112 §4)" },
	{ OPEN, ADDR, "198.18.0.5", 80, NO, "hard-deny: benchmarking / synthetic pool (RFC 2544)" },
	{ OPEN "allow 198.18.0.0/15\n", ADDR, "198.19.1.1", 80, NO,
	  "hard-deny: benchmarking / synthetic pool (RFC 2544)" },
	{ OPEN, ADDR, "ff02::1", 80, NO, "hard-deny: multicast (RFC 4291 §2.7)" },
	/* ---- IPv6 forms of IPv4 addresses ---- */
	{ OPEN, ADDR, "::ffff:127.0.0.1", 80, NO, "hard-deny: loopback" },
	{ OPEN, ADDR, "::ffff:a9fe:a9fe", 80, NO, "hard-deny: link-local (metadata)" },
	{ OPEN "allow 10.0.0.0/8\n", ADDR, "::ffff:10.2.3.4", 80, OK,
	  "allowed by rule 10.0.0.0/8" },
	{ OPEN, ADDR, "64:ff9b::a9fe:a9fe", 80, NO,
	  "hard-deny: link-local (metadata) via NAT64 64:ff9b::/96" },
	{ OPEN, ADDR, "64:ff9b::127.0.0.1", 80, NO, "hard-deny: loopback via NAT64 64:ff9b::/96" },
	{ OPEN, ADDR, "64:ff9b::8.8.8.8", 80, OK, "allowed: open mode" },
	{ OPEN, ADDR, "64:ff9b:1::a00:1", 80, NO, "hard-deny: local-use NAT64 (RFC 8215)" },
	{ OPEN, ADDR, "2002:a9fe:a9fe::1", 80, NO,
	  "hard-deny: link-local (metadata) via 6to4 2002::/16" },
	{ OPEN, ADDR, "2002:a00:1::", 80, NO, "hard-deny: private (RFC 1918) via 6to4 2002::/16" },
	{ OPEN "allow 2002:a00::/24\n", ADDR, "2002:a00:1::1", 80, OK,
	  "allowed by rule 2002:a00::/24" },
	{ OPEN "allow 2002::/16\n", ADDR, "2002:a00:1::1", 80, NO,
	  "hard-deny: private (RFC 1918) via 6to4 2002::/16" },
	{ OPEN "allow 10.0.0.0/8\n", ADDR, "2002:a00:1::1", 80, NO,
	  "hard-deny: private (RFC 1918) via 6to4 2002::/16" },
	{ OPEN, ADDR, "2002:808:808::1", 80, OK, "allowed: open mode" },
	{ OPEN, ADDR, "::7f00:1", 80, NO,
	  "hard-deny: IPv4-compatible (deprecated, RFC 4291 §2.5.5.1)" },
	{ OPEN, ADDR, "::8.8.8.8", 80, NO,
	  "hard-deny: IPv4-compatible (deprecated, RFC 4291 §2.5.5.1)" },
	/* Teredo: client 192.0.2.45 obfuscated (RFC 4380 §4), server public */
	{ OPEN, ADDR, "2001:0:4136:e378:8000:63bf:3fff:fdd2", 80, NO,
	  "hard-deny: documentation (RFC 5737) via Teredo client 2001::/32" },
	{ OPEN, ADDR, "2001:0:808:808::80ff:fffe", 80, NO,
	  "hard-deny: loopback via Teredo client 2001::/32" },
	{ OPEN, ADDR, "2001:0:a9fe:a9fe::f7f7:f7f7", 80, NO,
	  "hard-deny: link-local (metadata) via Teredo server 2001::/32" },
	/* ---- the host's own addresses ---- */
	{ OPEN, ADDR, "81.2.69.142", 80, NO, "hard-deny: host's own address" },
	{ OPEN "allow 81.2.69.142\n", ADDR, "81.2.69.142", 80, NO,
	  "hard-deny: host's own address" },
	{ OPEN "flag allow-host\nallow 81.2.69.0/24\n", ADDR, "81.2.69.142", 80, NO,
	  "hard-deny: host's own address" },
	{ OPEN "flag allow-host\nallow 81.2.69.142\n", ADDR, "81.2.69.142", 80, OK,
	  "allowed by rule 81.2.69.142" },
	{ OPEN, ADDR, "81.2.69.143", 80, OK, "allowed: open mode" },
	{ OPEN, ADDR, "::ffff:81.2.69.142", 80, NO, "hard-deny: host's own address" },
	{ OPEN, ADDR, "2002:5102:458e::1", 80, NO,
	  "hard-deny: host's own address via 6to4 2002::/16" },
	{ OPEN, ADDR, "2a02:898:1::5", 80, NO, "hard-deny: host's own address" },
	{ OPEN "allow 10.0.0.0/8\n", ADDR, "10.1.1.5", 80, NO, "hard-deny: host's own address" },
	{ OPEN "flag allow-host\nallow 10.1.1.5\n", ADDR, "10.1.1.5", 80, OK,
	  "allowed by rule 10.1.1.5" },

	/* ---- resolved addresses of an allowed name (DNS rebinding) ---- */
	{ AL "allow rebind.test\n", RESOLVED, "127.0.0.1", 80, NO, "hard-deny: loopback" },
	{ OPEN, RESOLVED, "169.254.169.254", 80, NO, "hard-deny: link-local (metadata)" },
	{ AL, RESOLVED, "93.184.216.34", 443, OK, "allowed: resolved address of an allowed name" },
	{ AL, RESOLVED, "10.99.0.2", 80, NO, "hard-deny: private (RFC 1918)" },
	{ AL "allow 10.99.0.0/24\n", RESOLVED, "10.99.0.2", 80, OK,
	  "allowed by rule 10.99.0.0/24" },
	{ OPEN "deny 93.184.216.0/24\n", RESOLVED, "93.184.216.34", 443, NO,
	  "denied by rule 93.184.216.0/24" },
	{ OPEN "deny 0.0.0.0/0:25\n", RESOLVED, "93.184.216.34", 25, NO,
	  "denied by rule 0.0.0.0/0:25" },
	{ OPEN "deny 0.0.0.0/0:25\n", RESOLVED, "93.184.216.34", 587, OK,
	  "allowed: resolved address of an allowed name" },
	{ NONE, RESOLVED, "93.184.216.34", 443, NO, "network mode none" },
	{ AL, RESOLVED, "::ffff:192.168.0.1", 443, NO, "hard-deny: private (RFC 1918)" },
};

static struct net_policy *policy_from(const char *text)
{
	static struct net_policy p;
	unsigned line;
	const char *why = NULL;
	net_policy_init(&p, NET_MODE_NONE);
	for (size_t i = 0; i < sizeof(host_addrs) / sizeof(host_addrs[0]); i++) {
		struct net_addr a;
		assert_int_equal(net_addr_parse(host_addrs[i], &a), 0);
		assert_int_equal(net_policy_add_host_addr(&p, &a), 0);
	}
	if (net_policy_parse(&p, text, strlen(text), &line, &why) != 0)
		fail_msg("policy %s: line %u: %s", text, line, why);
	return &p;
}

static void test_decision_table(void **state)
{
	(void)state;
	size_t n = sizeof(cases) / sizeof(cases[0]);
	assert_true(n >= 60);
	for (size_t i = 0; i < n; i++) {
		const struct dcase *c = &cases[i];
		struct net_policy *p = policy_from(c->policy);
		struct net_decision d;
		enum net_verdict v;
		if (c->kind == NAME) {
			v = net_decide_name(p, c->query, c->port, &d);
		} else {
			struct net_addr a;
			if (net_addr_parse(c->query, &a) != 0)
				fail_msg("case %zu: bad address %s", i, c->query);
			v = c->kind == ADDR ? net_decide_addr(p, &a, c->port, &d)
					    : net_decide_resolved(p, &a, c->port, &d);
		}
		char line[512];
		net_decision_format(&d, line, sizeof(line));
		if (v != c->want || d.verdict != v || strcmp(line, c->line))
			fail_msg("case %zu (%s %u under \"%s\"): got %s \"%s\", want %s \"%s\"", i,
				 c->query, c->port, c->policy, v == NET_ALLOW ? "allow" : "deny",
				 line, c->want == NET_ALLOW ? "allow" : "deny", c->line);
		/* a hard deny is never an allow, and says so */
		if (d.hd != NET_HD_NONE)
			assert_int_equal(v, NET_DENY);
	}
}

/* Lengths at the limits of RFC 1035 §2.3.4. */
static void test_name_lengths(void **state)
{
	(void)state;
	char name[300], out[NET_NAME_MAX + 1];
	const char *why = NULL;
	/* 63-character label: fine; 64: refused */
	memset(name, 'a', 63);
	strcpy(name + 63, ".com");
	assert_int_equal(net_name_normalize(name, strlen(name), out, &why), NET_NAME_OK);
	memset(name, 'a', 64);
	strcpy(name + 64, ".com");
	assert_int_equal(net_name_normalize(name, strlen(name), out, &why), -EINVAL);
	assert_string_equal(why, "invalid name: label longer than 63 characters");
	/* 253 characters (four labels 63+1+63+1+63+1+61), plus a trailing dot: fine */
	for (int i = 0; i < 253; i++)
		name[i] = (i % 64 == 63) ? '.' : 'b';
	name[253] = '\0';
	assert_int_equal(net_name_normalize(name, 253, out, &why), NET_NAME_OK);
	assert_int_equal(strlen(out), 253);
	name[253] = '.';
	assert_int_equal(net_name_normalize(name, 254, out, &why), NET_NAME_OK);
	name[253] = 'b';
	assert_int_equal(net_name_normalize(name, 254, out, &why), -EINVAL);
	assert_string_equal(why, "invalid name: longer than 253 characters");
	/* and through the decision, which bounds its strnlen */
	struct net_policy *p = policy_from(OPEN);
	struct net_decision d;
	name[254] = '\0';
	assert_int_equal(net_decide_name(p, name, 443, &d), NET_DENY);
	assert_string_equal(d.reason, "invalid name: longer than 253 characters");
	name[253] = '\0';
	assert_int_equal(net_decide_name(p, name, 443, &d), NET_ALLOW);
}

struct rcase {
	const char *in;
	const char *canon; /* NULL: an error, and then `why` */
	const char *why;
};

static const struct rcase rule_cases[] = {
	{ "github.com", "github.com", NULL },
	{ "GitHub.com.", "github.com", NULL },
	{ "github.com:22", "github.com:22", NULL },
	{ "*.npmjs.org", "*.npmjs.org", NULL },
	{ "*.NPMJS.org.:443", "*.npmjs.org:443", NULL },
	{ "10.0.0.0/8", "10.0.0.0/8", NULL },
	{ "10.0.0.0/8:443", "10.0.0.0/8:443", NULL },
	{ "10.1.2.3", "10.1.2.3", NULL },
	{ "10.1.2.3/32", "10.1.2.3", NULL },
	{ "0.0.0.0/0", "0.0.0.0/0", NULL },
	{ "2001:db8::/32", "2001:db8::/32", NULL },
	{ "2001:DB8:0::1", "2001:db8::1", NULL },
	{ "[2001:db8::1]:443", "[2001:db8::1]:443", NULL },
	{ "[2001:db8::/32]:443", "[2001:db8::/32]:443", NULL },
	{ "[2001:db8::1]", "2001:db8::1", NULL },
	{ "::ffff:10.0.0.0/104", "10.0.0.0/8", NULL },
	{ "[::ffff:10.1.2.3]:22", "10.1.2.3:22", NULL },
	{ "::/0", "::/0", NULL },
	{ "a.b:65535", "a.b:65535", NULL },
	{ "_sip.example.com", "_sip.example.com", NULL },
	{ "", NULL, "empty rule" },
	{ "github.com:0", NULL, "invalid port (1..65535)" },
	{ "github.com:65536", NULL, "invalid port (1..65535)" },
	{ "github.com:", NULL, "invalid port (1..65535)" },
	{ "github.com:022", NULL, "invalid port (1..65535)" },
	{ "github.com:-1", NULL, "invalid port (1..65535)" },
	{ "github.com:http", NULL, "invalid port (1..65535)" },
	{ "10.0.0.0/33", NULL, "invalid CIDR prefix (0..32)" },
	{ "10.0.0.0/", NULL, "invalid CIDR prefix (0..32)" },
	{ "10.0.0.0/08", NULL, "invalid CIDR prefix (0..32)" },
	{ "2001:db8::/129", NULL, "invalid CIDR prefix (0..128)" },
	{ "10.1.0.0/8", NULL, "invalid CIDR: host bits set after the prefix" },
	{ "2001:db8::1/32", NULL, "invalid CIDR: host bits set after the prefix" },
	{ "example.com/8", NULL, "invalid CIDR: not an IP address before '/'" },
	{ "256.1.1.1", NULL, "numeric name: write an IP address as a.b.c.d (decimal) or IPv6" },
	{ "127.1", NULL, "numeric name: write an IP address as a.b.c.d (decimal) or IPv6" },
	{ "0x7f.1:80", NULL, "numeric name: write an IP address as a.b.c.d (decimal) or IPv6" },
	{ "010.0.0.1", NULL, "numeric name: write an IP address as a.b.c.d (decimal) or IPv6" },
	{ "2001:db8::g", NULL, "invalid IP address" },
	{ "fe80::1%eth0", NULL, "invalid IP address" },
	{ "[2001:db8::1", NULL, "missing ']'" },
	{ "[2001:db8::1]443", NULL, "expected ':PORT' after ']'" },
	{ "[10.0.0.1]:80", NULL, "brackets are for IPv6 addresses" },
	{ "[example.com]:80", NULL, "invalid IP address" },
	{ "a..b", NULL, "invalid name: empty label" },
	{ ".a.b", NULL, "invalid name: empty label" },
	{ "exa mple.com", NULL,
	  "bad character in rule (spaces, controls and non-ASCII are refused)" },
	{ "ex\x01.com", NULL,
	  "bad character in rule (spaces, controls and non-ASCII are refused)" },
	{ "b\xc3\xbc"
	  "cher.de",
	  NULL, "bad character in rule (spaces, controls and non-ASCII are refused)" },
	{ "ex!.com", NULL, "invalid name: bad character (letters, digits, '-', '_', '.')" },
	{ "*", NULL, "'*' only as a whole first label (*.example.com)" },
	{ "*.", NULL, "invalid name: empty" },
	{ "a.*.com", NULL, "'*' only as a whole first label (*.example.com)" },
	{ "*example.com", NULL, "'*' only as a whole first label (*.example.com)" },
	{ "*.*.com", NULL, "'*' only as a whole first label (*.example.com)" },
	{ "localhost", NULL, "localhost is always denied; it cannot be allowed" },
	{ "*.localhost:80", NULL, "localhost is always denied; it cannot be allowed" },
	{ "ip6-loopback", NULL, "localhost is always denied; it cannot be allowed" },
};

static void test_rule_parse(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(rule_cases) / sizeof(rule_cases[0]); i++) {
		const struct rcase *c = &rule_cases[i];
		struct net_rule r, back;
		const char *why = NULL;
		char text[NET_RULE_TEXT_MAX + 1];
		int rc = net_rule_parse(c->in, NET_ALLOW, &r, &why);
		if (!c->canon) {
			if (rc != -EINVAL || !why || strcmp(why, c->why))
				fail_msg("\"%s\": rc %d why \"%s\", want \"%s\"", c->in, rc,
					 why ? why : "(null)", c->why);
			continue;
		}
		if (rc != 0)
			fail_msg("\"%s\": %s", c->in, why);
		assert_true(net_rule_format(&r, text, sizeof(text)) > 0);
		if (strcmp(text, c->canon))
			fail_msg("\"%s\" formats as \"%s\", want \"%s\"", c->in, text, c->canon);
		/* the canonical text reads back to the same rule */
		assert_int_equal(net_rule_parse(text, NET_ALLOW, &back, &why), 0);
		assert_true(net_rule_equal(&r, &back));
	}
}

static void test_rule_limits(void **state)
{
	(void)state;
	struct net_rule r;
	const char *why = NULL;
	char text[400];
	/* localhost can be denied (a no-op) though not allowed */
	assert_int_equal(net_rule_parse("localhost", NET_DENY, &r, &why), 0);
	assert_string_equal(r.name, "localhost");
	/* a wildcard's suffix leaves room for one more label */
	memset(text, 'a', 252);
	text[252] = '\0';
	for (int i = 63; i < 252; i += 64)
		text[i] = '.';
	assert_int_equal(net_rule_parse(text, NET_ALLOW, &r, &why), 0);
	char wild[400] = "*.";
	strcat(wild, text + 1);
	assert_int_equal(net_rule_parse(wild, NET_ALLOW, &r, &why), 0);
	strcpy(wild, "*.");
	strcat(wild, text);
	assert_int_equal(net_rule_parse(wild, NET_ALLOW, &r, &why), -EINVAL);
	assert_string_equal(why, "invalid name: longer than 253 characters");
	memset(text, 'a', sizeof(text) - 1);
	text[sizeof(text) - 1] = '\0';
	assert_int_equal(net_rule_parse(text, NET_ALLOW, &r, &why), -EINVAL);
	assert_string_equal(why, "rule too long");
	/* formatting into a short buffer fails cleanly */
	assert_int_equal(net_rule_parse("[2001:db8::1]:443", NET_ALLOW, &r, &why), 0);
	assert_int_equal(net_rule_format(&r, text, 8), -ENOSPC);
	assert_string_equal(text, "");
}

static void test_policy_edit(void **state)
{
	(void)state;
	static struct net_policy p;
	struct net_rule a, b;
	const char *why;
	net_policy_init(&p, NET_MODE_ALLOWLIST);
	assert_int_equal(net_rule_parse("github.com", NET_ALLOW, &a, &why), 0);
	assert_int_equal(net_rule_parse("GITHUB.com.", NET_ALLOW, &b, &why), 0);
	assert_int_equal(net_policy_add(&p, &a), 0);
	assert_int_equal(net_policy_add(&p, &b), 0); /* the same rule */
	assert_int_equal(p.nrules, 1);
	assert_int_equal(net_rule_parse("github.com", NET_DENY, &b, &why), 0);
	assert_int_equal(net_policy_add(&p, &b), 0); /* another action: another rule */
	assert_int_equal(p.nrules, 2);
	assert_int_equal(net_policy_remove(&p, &a), 0);
	assert_int_equal(net_policy_remove(&p, &a), -ENOENT);
	assert_int_equal(p.nrules, 1);
	assert_true(net_rule_equal(&p.rules[0], &b));
	/* full */
	for (unsigned i = 0; p.nrules < NET_POLICY_MAX_RULES; i++) {
		char t[32];
		snprintf(t, sizeof(t), "h%u.example", i);
		assert_int_equal(net_rule_parse(t, NET_ALLOW, &a, &why), 0);
		assert_int_equal(net_policy_add(&p, &a), 0);
	}
	assert_int_equal(net_rule_parse("one-more.example", NET_ALLOW, &a, &why), 0);
	assert_int_equal(net_policy_add(&p, &a), -ENOSPC);
	/* host addresses: normalised, deduplicated, bounded */
	struct net_addr h;
	assert_int_equal(net_addr_parse("::ffff:192.0.2.1", &h), 0);
	assert_int_equal(h.family, AF_INET);
	assert_int_equal(net_policy_add_host_addr(&p, &h), 0);
	assert_int_equal(net_addr_parse("192.0.2.1", &h), 0);
	assert_int_equal(net_policy_add_host_addr(&p, &h), 0);
	assert_int_equal(p.nhost, 1);
	for (unsigned i = 0; p.nhost < NET_POLICY_MAX_HOST_ADDRS; i++) {
		h.bytes[3] = (uint8_t)i;
		h.bytes[2] = (uint8_t)(i >> 8) + 1;
		assert_int_equal(net_policy_add_host_addr(&p, &h), 0);
	}
	h.bytes[1] = 99;
	assert_int_equal(net_policy_add_host_addr(&p, &h), -ENOSPC);
}

static void test_policy_text_roundtrip(void **state)
{
	(void)state;
	static struct net_policy p, q;
	static const char text[] = "# kept across stop/start\n"
				   "mode open\r\n"
				   "\n"
				   "flag allow-link-local\n"
				   "allow GitHub.com:22\n"
				   "allow *.npmjs.org\n"
				   "deny 10.0.0.0/8:25\n"
				   "allow [2001:db8::/32]:443\n"
				   "deny *.evil.test";
	static const char canon[] = "mode open\n"
				    "flag allow-link-local\n"
				    "allow github.com:22\n"
				    "allow *.npmjs.org\n"
				    "deny 10.0.0.0/8:25\n"
				    "allow [2001:db8::/32]:443\n"
				    "deny *.evil.test\n";
	unsigned line;
	const char *why;
	char buf[1024];
	net_policy_init(&p, NET_MODE_NONE);
	assert_int_equal(net_policy_parse(&p, text, strlen(text), &line, &why), 0);
	assert_int_equal(p.mode, NET_MODE_OPEN);
	assert_int_equal(p.flags, NET_POLICY_ALLOW_LINK_LOCAL);
	assert_int_equal(p.nrules, 5);
	assert_int_equal(net_policy_format(&p, buf, sizeof(buf)), strlen(canon));
	assert_string_equal(buf, canon);
	/* and back */
	net_policy_init(&q, NET_MODE_NONE);
	assert_int_equal(net_policy_parse(&q, buf, strlen(buf), &line, &why), 0);
	assert_int_equal(q.mode, p.mode);
	assert_int_equal(q.flags, p.flags);
	assert_int_equal(q.nrules, p.nrules);
	for (size_t i = 0; i < p.nrules; i++)
		assert_true(net_rule_equal(&p.rules[i], &q.rules[i]));
	/* a short buffer: the needed length, a NUL-terminated prefix */
	assert_int_equal(net_policy_format(&p, buf, 10), strlen(canon));
	assert_string_equal(buf, "mode open");
	/* no mode line: allowlist, the careful default */
	assert_int_equal(net_policy_parse(&q, "allow a.test\n", 13, &line, &why), 0);
	assert_int_equal(q.mode, NET_MODE_ALLOWLIST);
	assert_int_equal(net_policy_format(&q, buf, sizeof(buf)),
			 strlen("mode allowlist\nallow a.test\n"));
	assert_int_equal(net_policy_parse(&q, "", 0, &line, &why), 0);
	assert_int_equal(q.nrules, 0);
}

static void test_policy_text_errors(void **state)
{
	(void)state;
	static struct net_policy p;
	static const struct {
		const char *text;
		unsigned line;
		const char *why;
	} bad[] = {
		{ "mode open\nallow github.com:0\n", 2, "invalid port (1..65535)" },
		{ "mode closed\n", 1, "unknown mode (open, allowlist, none)" },
		{ "mode open\nmode none\n", 2, "mode given twice" },
		{ "allow\n", 1, "expected 'KEYWORD VALUE'" },
		{ "allow \n", 1, "expected 'KEYWORD VALUE'" },
		{ "permit a.test\n", 1, "unknown keyword (mode, flag, allow, deny)" },
		{ "flag allow-everything\n", 1, "unknown flag (allow-host, allow-link-local)" },
		{ "\n\n\nallow  a.test\n", 4,
		  "bad character in rule (spaces, controls and non-ASCII are refused)" },
		{ "allow a.test\nallow a\0b\n", 2, "NUL byte in policy text" },
	};
	unsigned line;
	const char *why;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		net_policy_init(&p, NET_MODE_OPEN);
		struct net_rule r;
		assert_int_equal(net_rule_parse("kept.test", NET_DENY, &r, &why), 0);
		assert_int_equal(net_policy_add(&p, &r), 0);
		size_t len = strlen(bad[i].text);
		if (i == sizeof(bad) / sizeof(bad[0]) - 1)
			len = 23; /* past the NUL */
		assert_int_equal(net_policy_parse(&p, bad[i].text, len, &line, &why), -EINVAL);
		if (line != bad[i].line || strcmp(why, bad[i].why))
			fail_msg("\"%s\": line %u \"%s\", want %u \"%s\"", bad[i].text, line, why,
				 bad[i].line, bad[i].why);
		/* nothing applied */
		assert_int_equal(p.mode, NET_MODE_OPEN);
		assert_int_equal(p.nrules, 1);
		assert_string_equal(p.rules[0].name, "kept.test");
	}
	/* an over-long line */
	char big[600];
	memset(big, 'a', sizeof(big));
	assert_int_equal(net_policy_parse(&p, big, sizeof(big), &line, &why), -EINVAL);
	assert_string_equal(why, "line too long");
}

static void test_addr_helpers(void **state)
{
	(void)state;
	struct net_addr a, b;
	struct net_cidr c;
	const char *why;
	char buf[NET_CIDR_STRLEN];
	/* socket addresses, as getaddrinfo/getifaddrs give them */
	struct sockaddr_in6 s6 = { .sin6_family = AF_INET6, .sin6_port = htons(443) };
	inet_pton(AF_INET6, "::ffff:169.254.169.254", &s6.sin6_addr);
	uint16_t port = 0;
	assert_int_equal(net_addr_from_sockaddr((struct sockaddr *)&s6, sizeof(s6), &a, &port), 0);
	assert_int_equal(port, 443);
	assert_int_equal(a.family, AF_INET);
	assert_int_equal(net_addr_format(&a, buf, sizeof(buf)), 15);
	assert_string_equal(buf, "169.254.169.254");
	struct sockaddr_in s4 = { .sin_family = AF_INET, .sin_port = htons(80) };
	s4.sin_addr.s_addr = htonl(0x0a000001);
	assert_int_equal(net_addr_from_sockaddr((struct sockaddr *)&s4, sizeof(s4), &b, NULL), 0);
	assert_int_equal(net_addr_format(&b, buf, sizeof(buf)), 8);
	assert_string_equal(buf, "10.0.0.1");
	assert_int_equal(net_addr_from_sockaddr((struct sockaddr *)&s4, sizeof(s4) - 1, &b, NULL),
			 -EAFNOSUPPORT);
	struct sockaddr su = { .sa_family = AF_UNIX };
	assert_int_equal(net_addr_from_sockaddr(&su, sizeof(su), &b, NULL), -EAFNOSUPPORT);
	/* CIDR containment at the edges */
	assert_int_equal(net_cidr_parse("172.16.0.0/12", &c, &why), 0);
	assert_int_equal(net_addr_parse("172.31.255.255", &a), 0);
	assert_true(net_cidr_contains(&c, &a));
	assert_int_equal(net_addr_parse("172.32.0.0", &a), 0);
	assert_false(net_cidr_contains(&c, &a));
	assert_int_equal(net_addr_parse("::ffff:172.16.0.1", &a), 0);
	assert_true(net_cidr_contains(&c, &a));
	assert_int_equal(net_cidr_parse("fe80::/10", &c, &why), 0);
	assert_int_equal(net_addr_parse("febf:ffff::1", &a), 0);
	assert_true(net_cidr_contains(&c, &a));
	assert_int_equal(net_addr_parse("fec0::1", &a), 0);
	assert_false(net_cidr_contains(&c, &a));
	assert_int_equal(net_cidr_parse("::/0", &c, &why), 0);
	assert_int_equal(net_addr_parse("10.0.0.1", &a), 0);
	assert_false(net_cidr_contains(&c, &a)); /* a v6 rule never matches IPv4 */
	assert_int_equal(net_cidr_format(&c, buf, 3), -ENOSPC);
	assert_int_equal(net_cidr_format(&c, buf, 5), 4);
	assert_string_equal(buf, "::/0");
	/* a longest address and prefix fits NET_CIDR_STRLEN */
	assert_int_equal(net_cidr_parse("ffff:ffff:ffff:ffff:ffff:ffff:ffff:fff0/124", &c, &why),
			 0);
	assert_int_equal(net_cidr_format(&c, buf, sizeof(buf)), 43);
	/* classification with hits from several places, strictest first */
	struct net_hd_hit hits[NET_HD_MAX_HITS];
	assert_int_equal(net_addr_parse("100.100.100.200", &a), 0);
	assert_int_equal(net_hd_classify(&a, NULL, 0, hits), 2);
	assert_int_equal(hits[0].cls, NET_HD_LINK_LOCAL);
	assert_int_equal(hits[0].prefix, 32);
	assert_int_equal(hits[1].cls, NET_HD_PRIVATE);
	assert_int_equal(hits[1].prefix, 10);
	assert_int_equal(net_addr_parse("2002:a00:1::", &a), 0);
	assert_int_equal(net_hd_classify(&a, NULL, 0, hits), 1);
	assert_int_equal(hits[0].prefix, 16 + 8);
	assert_int_equal(net_addr_parse("8.8.8.8", &a), 0);
	assert_int_equal(net_hd_classify(&a, NULL, 0, hits), 0);
}

static void test_modes(void **state)
{
	(void)state;
	enum net_mode m;
	assert_int_equal(net_mode_parse("open", &m), 0);
	assert_int_equal(m, NET_MODE_OPEN);
	assert_int_equal(net_mode_parse("allowlist", &m), 0);
	assert_int_equal(m, NET_MODE_ALLOWLIST);
	assert_int_equal(net_mode_parse("none", &m), 0);
	assert_int_equal(m, NET_MODE_NONE);
	assert_int_equal(net_mode_parse("Open", &m), -EINVAL);
	assert_int_equal(net_mode_parse("", &m), -EINVAL);
	assert_string_equal(net_mode_name(NET_MODE_ALLOWLIST), "allowlist");
	assert_string_equal(net_mode_name((enum net_mode)7), "?");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_decision_table),
		cmocka_unit_test(test_name_lengths),
		cmocka_unit_test(test_rule_parse),
		cmocka_unit_test(test_rule_limits),
		cmocka_unit_test(test_policy_edit),
		cmocka_unit_test(test_policy_text_roundtrip),
		cmocka_unit_test(test_policy_text_errors),
		cmocka_unit_test(test_addr_helpers),
		cmocka_unit_test(test_modes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
