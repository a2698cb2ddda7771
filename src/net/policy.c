/* src/net/policy.c: rules, name normalisation, decisions, text form.
 *
 * Matching order (docs/network.md "Matching order"):
 *   1. mode none: deny;  2. invalid input: deny;
 *   3. the hard deny set (localhost names; special-purpose addresses), which
 *      only a CIDR allow rule within the denied range opens, and for
 *      loopback/host/link-local only with the policy flag as well;
 *   4. deny rules;  5. allow rules;  6. the mode's default.
 * Among rules of one action the first in the list decides (it is the one
 * named in the log). Every loop is bounded by NET_POLICY_MAX_RULES or
 * NET_POLICY_MAX_HOST_ADDRS; nothing recurses; no allocation.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "net/policy.h"

/* ---- Names ---- */

static bool all_digits(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

static bool is_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

/* A label inet_aton(3) would read as a number: decimal, octal (leading 0,
 * still digits) or 0x-hex. Lowercased input. */
static bool numeric_label(const char *s, size_t n)
{
	if (n >= 2 && s[0] == '0' && s[1] == 'x') {
		for (size_t i = 2; i < n; i++)
			if (!is_hex(s[i]))
				return false;
		return true;
	}
	return all_digits(s, n);
}

/* The names /etc/hosts gives the loopback address on Debian and Red Hat
 * systems, besides "localhost" and *.localhost (RFC 6761 §6.3). */
static const char *const localhost_names[] = {
	"localhost",  "localhost.localdomain",	 "localhost4",	  "localhost4.localdomain4",
	"localhost6", "localhost6.localdomain6", "ip6-localhost", "ip6-loopback",
};

static bool is_localhost(const char *s, size_t n)
{
	static const char sfx[] = ".localhost";
	for (size_t i = 0; i < sizeof(localhost_names) / sizeof(localhost_names[0]); i++)
		if (strlen(localhost_names[i]) == n && !memcmp(localhost_names[i], s, n))
			return true;
	return n > sizeof(sfx) - 1 && !memcmp(s + n - (sizeof(sfx) - 1), sfx, sizeof(sfx) - 1);
}

int net_name_normalize(const char *in, size_t len, char out[NET_NAME_MAX + 1], const char **why)
{
	out[0] = '\0';
	if (len && in[len - 1] == '.') /* the root label: "a.b." is "a.b" */
		len--;
	if (!len) {
		*why = "invalid name: empty";
		return -EINVAL;
	}
	if (len > NET_NAME_MAX) {
		*why = "invalid name: longer than 253 characters";
		return -EINVAL;
	}
	size_t start = 0, last = 0;
	for (size_t i = 0; i <= len; i++) {
		char c = i < len ? in[i] : '.';
		if (c == '.') {
			size_t n = i - start;
			if (!n) {
				*why = "invalid name: empty label";
				return -EINVAL;
			}
			if (n > NET_LABEL_MAX) {
				*why = "invalid name: label longer than 63 characters";
				return -EINVAL;
			}
			/* RFC 1123 §2.1 host names: no hyphen at either end */
			if (out[start] == '-' || out[i - 1] == '-') {
				*why = "invalid name: label starts or ends with '-'";
				return -EINVAL;
			}
			last = start;
			start = i + 1;
			if (i < len)
				out[i] = '.';
			continue;
		}
		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		/* letters, digits, hyphen (RFC 1123 §2.1); '_' occurs in real
                 * host names (RFC 2181 §11 allows any octet; we do not) */
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_')) {
			*why = "invalid name: bad character (letters, digits, '-', '_', '.')";
			return -EINVAL;
		}
		out[i] = c;
	}
	out[len] = '\0';
	if (numeric_label(out + last, len - last)) {
		*why = "numeric name: write an IP address as a.b.c.d (decimal) or IPv6";
		out[0] = '\0';
		return -EINVAL;
	}
	if (is_localhost(out, len)) {
		memcpy(out, "localhost", sizeof("localhost"));
		return NET_NAME_LOCALHOST;
	}
	return NET_NAME_OK;
}

/* ---- Rules ---- */

static int parse_port(const char *s, uint16_t *port)
{
	unsigned v = 0;
	if (!*s || *s == '0' || strlen(s) > 5)
		return -1;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		v = v * 10 + (unsigned)(*s - '0');
	}
	if (v > 65535)
		return -1;
	*port = (uint16_t)v;
	return 0;
}

static int parse_name_rule(char *host, struct net_rule *r, const char **why)
{
	r->kind = NET_RULE_NAME;
	if (!strncmp(host, "*.", 2)) {
		r->kind = NET_RULE_WILDCARD;
		host += 2;
	}
	if (strchr(host, '*')) {
		*why = "'*' only as a whole first label (*.example.com)";
		return -EINVAL;
	}
	int k = net_name_normalize(host, strlen(host), r->name, why);
	if (k < 0)
		return k;
	if (k == NET_NAME_LOCALHOST && r->action == NET_ALLOW) {
		*why = "localhost is always denied; it cannot be allowed";
		return -EINVAL;
	}
	r->name_len = (uint8_t)strlen(r->name);
	/* a name below the wildcard is at least two characters longer */
	if (r->kind == NET_RULE_WILDCARD && r->name_len > NET_NAME_MAX - 2) {
		*why = "invalid name: longer than 253 characters";
		return -EINVAL;
	}
	return 0;
}

int net_rule_parse(const char *text, enum net_verdict action, struct net_rule *r, const char **why)
{
	char buf[NET_RULE_TEXT_MAX + 1];
	size_t n = strnlen(text, sizeof(buf));
	memset(r, 0, sizeof(*r));
	r->action = action;
	*why = NULL;
	if (!n) {
		*why = "empty rule";
		return -EINVAL;
	}
	if (n == sizeof(buf)) {
		*why = "rule too long";
		return -EINVAL;
	}
	for (size_t i = 0; i < n; i++)
		if (text[i] <= ' ' || text[i] >= 0x7f) {
			*why = "bad character in rule (spaces, controls and non-ASCII are refused)";
			return -EINVAL;
		}
	memcpy(buf, text, n + 1);

	char *host = buf, *port = NULL;
	bool bracket = false;
	if (buf[0] == '[') {
		/* RFC 3986 §3.2.2: an IPv6 literal with a port is bracketed */
		char *close = strchr(buf, ']');
		if (!close) {
			*why = "missing ']'";
			return -EINVAL;
		}
		*close = '\0';
		host = buf + 1;
		bracket = true;
		if (close[1] == ':')
			port = close + 2;
		else if (close[1]) {
			*why = "expected ':PORT' after ']'";
			return -EINVAL;
		}
	} else {
		char *colon = strchr(buf, ':');
		/* two colons or more: a bare IPv6 address, no port */
		if (colon && !strchr(colon + 1, ':')) {
			*colon = '\0';
			port = colon + 1;
		}
	}
	if (port && parse_port(port, &r->port) < 0) {
		*why = "invalid port (1..65535)";
		return -EINVAL;
	}
	struct net_addr probe;
	char *slash = strchr(host, '/');
	if (slash)
		*slash = '\0';
	bool is_ip = strchr(host, ':') || net_addr_parse(host, &probe) == 0;
	if (slash)
		*slash = '/';
	if (!is_ip && !bracket) {
		if (slash) {
			*why = "invalid CIDR: not an IP address before '/'";
			return -EINVAL;
		}
		return parse_name_rule(host, r, why);
	}
	r->kind = NET_RULE_CIDR;
	if (net_cidr_parse(host, &r->cidr, why) < 0)
		return -EINVAL;
	if (bracket && r->cidr.addr.family == AF_INET && !strchr(host, ':')) {
		*why = "brackets are for IPv6 addresses";
		return -EINVAL;
	}
	return 0;
}

int net_rule_format(const struct net_rule *r, char *buf, size_t len)
{
	char host[NET_RULE_TEXT_MAX + 1];
	int n;
	if (r->kind == NET_RULE_CIDR) {
		n = net_cidr_format(&r->cidr, host, sizeof(host));
		if (n < 0)
			return n;
	} else {
		n = snprintf(host, sizeof(host), "%s%s", r->kind == NET_RULE_WILDCARD ? "*." : "",
			     r->name);
	}
	bool v6 = r->kind == NET_RULE_CIDR && r->cidr.addr.family == AF_INET6;
	if (!r->port)
		n = snprintf(buf, len, "%s", host);
	else if (v6)
		n = snprintf(buf, len, "[%s]:%u", host, r->port);
	else
		n = snprintf(buf, len, "%s:%u", host, r->port);
	if (n < 0 || (size_t)n >= len) {
		if (len)
			buf[0] = '\0';
		return -ENOSPC;
	}
	return n;
}

bool net_rule_equal(const struct net_rule *a, const struct net_rule *b)
{
	if (a->action != b->action || a->kind != b->kind || a->port != b->port)
		return false;
	if (a->kind == NET_RULE_CIDR)
		return a->cidr.prefix == b->cidr.prefix &&
		       net_addr_equal(&a->cidr.addr, &b->cidr.addr);
	return !strcmp(a->name, b->name);
}

/* ---- Policies ---- */

void net_policy_init(struct net_policy *p, enum net_mode mode)
{
	p->mode = mode;
	p->flags = 0;
	p->nrules = 0;
	p->nhost = 0;
}

int net_policy_add(struct net_policy *p, const struct net_rule *r)
{
	for (size_t i = 0; i < p->nrules; i++)
		if (net_rule_equal(&p->rules[i], r))
			return 0;
	if (p->nrules == NET_POLICY_MAX_RULES)
		return -ENOSPC;
	p->rules[p->nrules++] = *r;
	return 0;
}

int net_policy_remove(struct net_policy *p, const struct net_rule *r)
{
	for (size_t i = 0; i < p->nrules; i++)
		if (net_rule_equal(&p->rules[i], r)) {
			/* keep the order: the first matching rule is the one logged */
			memmove(&p->rules[i], &p->rules[i + 1],
				(p->nrules - i - 1) * sizeof(p->rules[0]));
			p->nrules--;
			return 0;
		}
	return -ENOENT;
}

int net_policy_add_host_addr(struct net_policy *p, const struct net_addr *a)
{
	struct net_addr n = *a;
	net_addr_normalize(&n);
	for (size_t i = 0; i < p->nhost; i++)
		if (net_addr_equal(&p->host[i], &n))
			return 0;
	if (p->nhost == NET_POLICY_MAX_HOST_ADDRS)
		return -ENOSPC;
	p->host[p->nhost++] = n;
	return 0;
}

static const char *const mode_names[] = {
	[NET_MODE_NONE] = "none",
	[NET_MODE_ALLOWLIST] = "allowlist",
	[NET_MODE_OPEN] = "open",
};

int net_mode_parse(const char *s, enum net_mode *out)
{
	for (size_t i = 0; i < sizeof(mode_names) / sizeof(mode_names[0]); i++)
		if (!strcmp(s, mode_names[i])) {
			*out = (enum net_mode)i;
			return 0;
		}
	return -EINVAL;
}

const char *net_mode_name(enum net_mode m)
{
	return (unsigned)m < sizeof(mode_names) / sizeof(mode_names[0]) ? mode_names[m] : "?";
}

/* ---- Decisions ---- */

/* A deny rule for one port does not deny "any port" (port 0); an allow rule
 * for one port does allow "some port". */
static bool port_matches(const struct net_rule *r, uint16_t port)
{
	return !r->port || r->port == port || (r->action == NET_ALLOW && !port);
}

static bool name_matches(const struct net_rule *r, const char *name, size_t len)
{
	size_t n = r->name_len;
	if (r->kind == NET_RULE_NAME)
		return len == n && !memcmp(name, r->name, n);
	if (r->kind == NET_RULE_WILDCARD)
		return len > n + 1 && name[len - n - 1] == '.' &&
		       !memcmp(name + len - n, r->name, n);
	return false;
}

static const struct net_rule *first_name_rule(const struct net_policy *p, enum net_verdict action,
					      const char *name, size_t len, uint16_t port)
{
	for (size_t i = 0; i < p->nrules; i++) {
		const struct net_rule *r = &p->rules[i];
		if (r->action == action && port_matches(r, port) && name_matches(r, name, len))
			return r;
	}
	return NULL;
}

/* min_prefix: the rule must lie within a denied range that long (0: any rule). */
static const struct net_rule *first_cidr_rule(const struct net_policy *p, enum net_verdict action,
					      const struct net_addr *a, uint16_t port,
					      unsigned min_prefix)
{
	for (size_t i = 0; i < p->nrules; i++) {
		const struct net_rule *r = &p->rules[i];
		if (r->action == action && r->kind == NET_RULE_CIDR &&
		    r->cidr.prefix >= min_prefix && port_matches(r, port) &&
		    net_cidr_contains(&r->cidr, a))
			return r;
	}
	return NULL;
}

static enum net_verdict decide(struct net_decision *d, enum net_verdict v, const struct net_rule *r,
			       const char *reason)
{
	d->verdict = v;
	d->rule = r;
	d->reason = reason;
	return v;
}

static enum net_verdict by_rule(struct net_decision *d, const struct net_rule *r)
{
	return decide(d, r->action, r,
		      r->action == NET_ALLOW ? "allowed by rule" : "denied by rule");
}

static enum net_verdict by_mode(const struct net_policy *p, struct net_decision *d)
{
	if (p->mode == NET_MODE_OPEN)
		return decide(d, NET_ALLOW, NULL, "allowed: open mode");
	return decide(d, NET_DENY, NULL, "no rule allows it (allowlist)");
}

static void decision_init(struct net_decision *d)
{
	*d = (struct net_decision){ NET_DENY, NULL, "denied", NULL, NET_HD_NONE };
}

enum net_verdict net_decide_name(const struct net_policy *p, const char *name, uint16_t port,
				 struct net_decision *d)
{
	char norm[NET_NAME_MAX + 1];
	const char *why;
	const struct net_rule *r;
	decision_init(d);
	if (p->mode == NET_MODE_NONE)
		return decide(d, NET_DENY, NULL, "network mode none");
	/* bounded: anything longer than a name plus its dot is invalid anyway */
	int k = net_name_normalize(name, strnlen(name, NET_NAME_MAX + 2), norm, &why);
	if (k < 0)
		return decide(d, NET_DENY, NULL, why);
	if (k == NET_NAME_LOCALHOST) {
		d->hd = NET_HD_LOOPBACK;
		return decide(d, NET_DENY, NULL, "hard-deny: localhost name (RFC 6761 §6.3)");
	}
	size_t len = strlen(norm);
	if ((r = first_name_rule(p, NET_DENY, norm, len, port)) ||
	    (r = first_name_rule(p, NET_ALLOW, norm, len, port)))
		return by_rule(d, r);
	return by_mode(p, d);
}

static bool class_may_open(const struct net_policy *p, enum net_hd_class c)
{
	switch (c) {
	case NET_HD_PRIVATE:
		return true;
	case NET_HD_HOST:
	case NET_HD_LOOPBACK:
		return p->flags & NET_POLICY_ALLOW_HOST;
	case NET_HD_LINK_LOCAL:
		return p->flags & NET_POLICY_ALLOW_LINK_LOCAL;
	default:
		return false;
	}
}

static enum net_verdict decide_ip(const struct net_policy *p, const struct net_addr *in,
				  uint16_t port, bool resolved, struct net_decision *d)
{
	struct net_hd_hit hits[NET_HD_MAX_HITS];
	struct net_addr a = *in;
	const struct net_rule *opened = NULL, *r;
	decision_init(d);
	if (p->mode == NET_MODE_NONE)
		return decide(d, NET_DENY, NULL, "network mode none");
	if (a.family != AF_INET && a.family != AF_INET6)
		return decide(d, NET_DENY, NULL, "invalid address family");
	net_addr_normalize(&a);
	int n = net_hd_classify(&a, p->host, p->nhost, hits);
	/* Every hit must be opened by an allow rule within its range: a broad
         * rule (0.0.0.0/0) never opens 10/8 by accident. */
	for (int i = 0; i < n; i++) {
		r = class_may_open(p, hits[i].cls)
			    ? first_cidr_rule(p, NET_ALLOW, &a, port, hits[i].prefix)
			    : NULL;
		if (!r) {
			d->hd = hits[i].cls;
			d->via = hits[i].via;
			return decide(d, NET_DENY, NULL, hits[i].what);
		}
		if (!opened)
			opened = r;
	}
	if ((r = first_cidr_rule(p, NET_DENY, &a, port, 0)))
		return by_rule(d, r);
	if (opened)
		return by_rule(d, opened);
	if ((r = first_cidr_rule(p, NET_ALLOW, &a, port, 0)))
		return by_rule(d, r);
	if (resolved)
		return decide(d, NET_ALLOW, NULL, "allowed: resolved address of an allowed name");
	return by_mode(p, d);
}

enum net_verdict net_decide_addr(const struct net_policy *p, const struct net_addr *a,
				 uint16_t port, struct net_decision *d)
{
	return decide_ip(p, a, port, false, d);
}

enum net_verdict net_decide_resolved(const struct net_policy *p, const struct net_addr *a,
				     uint16_t port, struct net_decision *d)
{
	return decide_ip(p, a, port, true, d);
}

int net_decision_format(const struct net_decision *d, char *buf, size_t len)
{
	char rule[NET_RULE_TEXT_MAX + 1] = "";
	if (d->rule && net_rule_format(d->rule, rule, sizeof(rule)) < 0)
		rule[0] = '\0';
	return snprintf(buf, len, "%s%s%s%s%s", d->reason, d->rule ? " " : "", rule,
			d->via ? " via " : "", d->via ? d->via : "");
}
