/* src/net/publish.c: parse and format published-port specs (publish.h). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "net/publish.h"

/* Decimal 1..65535, no sign, no leading zeros, no spaces (like rule ports
 * in policy.c): one spelling per port, so a stored spec compares equal. */
static int parse_port(const char *s, size_t n, uint16_t *out)
{
	unsigned v = 0;

	if (n == 0 || n > 5 || s[0] == '0')
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	if (v > 65535)
		return -EINVAL;
	*out = (uint16_t)v;
	return 0;
}

int net_publish_parse(const char *spec, struct net_publish *out, const char **why)
{
	char host[INET6_ADDRSTRLEN + 1];
	const char *ports, *colon;
	size_t hlen;

	memset(out, 0, sizeof(*out));
	*why = "invalid port spec: expected [HOST_IP:]HOST_PORT:GUEST_PORT";
	if (!spec || strlen(spec) >= NET_PUBLISH_TEXT_MAX)
		return -EINVAL;
	/* The last two fields are the ports; whatever comes before is the
         * address. An IPv6 address has colons of its own, hence brackets
         * (RFC 3986 §3.2.2), as in rules. */
	colon = strrchr(spec, ':');
	if (!colon)
		return -EINVAL;
	ports = spec;
	for (const char *c = colon; c > spec; c--) {
		if (c[-1] == ':') {
			ports = c;
			break;
		}
	}
	if (ports == spec) {
		hlen = 0;
		strcpy(host, NET_PUBLISH_DEFAULT_HOST);
	} else if (spec[0] == '[') {
		/* "[v6]:" before the ports */
		hlen = (size_t)(ports - spec) - 1;
		if (hlen < 3 || spec[hlen - 1] != ']' || hlen - 2 >= sizeof(host)) {
			*why = "invalid host address: write an IPv6 address as [ADDR]";
			return -EINVAL;
		}
		memcpy(host, spec + 1, hlen - 2);
		host[hlen - 2] = '\0';
		if (!strchr(host, ':')) {
			*why = "invalid host address: brackets are for IPv6 only";
			return -EINVAL;
		}
	} else {
		hlen = (size_t)(ports - spec) - 1;
		if (hlen == 0 || hlen >= sizeof(host)) {
			*why = "invalid host address";
			return -EINVAL;
		}
		memcpy(host, spec, hlen);
		host[hlen] = '\0';
		if (strchr(host, ':')) {
			*why = "invalid host address: write an IPv6 address as [ADDR]";
			return -EINVAL;
		}
	}
	if (net_addr_parse(host, &out->host) < 0) {
		*why = "invalid host address: expected a.b.c.d or [IPv6]";
		return -EINVAL;
	}
	if (parse_port(ports, (size_t)(colon - ports), &out->host_port) < 0) {
		*why = "invalid host port (1..65535)";
		return -EINVAL;
	}
	if (parse_port(colon + 1, strlen(colon + 1), &out->guest_port) < 0) {
		*why = "invalid guest port (1..65535)";
		return -EINVAL;
	}
	*why = NULL;
	return 0;
}

int net_publish_format(const struct net_publish *p, char *buf, size_t len)
{
	char a[NET_CIDR_STRLEN];
	int n;

	if (net_addr_format(&p->host, a, sizeof(a)) < 0)
		goto nospc;
	if (p->host.family == AF_INET6)
		n = snprintf(buf, len, "[%s]:%u:%u", a, p->host_port, p->guest_port);
	else
		n = snprintf(buf, len, "%s:%u:%u", a, p->host_port, p->guest_port);
	if (n < 0 || (size_t)n >= len)
		goto nospc;
	return n;
nospc:
	if (len)
		buf[0] = '\0';
	return -ENOSPC;
}
