/* src/net/policy.h: the network broker's policy engine: rules, name
 * normalisation, decisions and the policy's text form.
 *
 * Pure code, no I/O, no allocation. silo-netd (not written yet) asks it
 * about every DNS name and every connection; the CLI parses --allow/--deny
 * with it. The design, the matching order and the limits: docs/network.md.
 */
#ifndef SILO_NET_POLICY_H
#define SILO_NET_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "net/addr.h"

/* RFC 1035 §2.3.4: a label is at most 63 octets, a name at most 255 octets
 * on the wire, which is 253 characters in text without the trailing dot. */
#define NET_LABEL_MAX 63
#define NET_NAME_MAX  253

#define NET_POLICY_MAX_RULES	  1024
#define NET_POLICY_MAX_HOST_ADDRS 256
/* Longest rule text accepted: "*." + a name + ":65535", or "[v6/128]:65535" */
#define NET_RULE_TEXT_MAX	  (2 + NET_NAME_MAX + 6)

enum net_mode {
	NET_MODE_NONE = 0,  /* no network at all */
	NET_MODE_ALLOWLIST, /* only what an allow rule allows */
	NET_MODE_OPEN,	    /* everything not hard-denied and not denied by a rule */
};

/* A rule's action, and a decision's verdict. */
enum net_verdict {
	NET_DENY = 0,
	NET_ALLOW = 1,
};

enum net_rule_kind {
	NET_RULE_NAME,	   /* github.com: that name only */
	NET_RULE_WILDCARD, /* *.npmjs.org: any name below, not npmjs.org itself */
	NET_RULE_CIDR,	   /* 10.0.0.0/8, 2001:db8::1: literal and resolved addresses */
};

struct net_rule {
	enum net_verdict action;
	enum net_rule_kind kind;
	uint16_t port;	  /* 0: any port */
	uint8_t name_len; /* NAME, WILDCARD: strlen(name) */
	/* NAME, WILDCARD: normalised, the wildcard without its "*." */
	char name[NET_NAME_MAX + 1];
	struct net_cidr cidr; /* CIDR */
};

/* Policy flags: the only way to open the non-private hard-deny classes. Even
 * with the flag set, a CIDR allow rule within the range is still needed. */
enum {
	/* loopback, 0.0.0.0/8, ::, and the host's own addresses
         * (text form "flag allow-host"; CLI proposal: --allow-host-access) */
	NET_POLICY_ALLOW_HOST = 1u << 0,
	/* link-local, including the cloud metadata services
         * (text form "flag allow-link-local"; CLI proposal: --allow-link-local) */
	NET_POLICY_ALLOW_LINK_LOCAL = 1u << 1,
};

struct net_policy {
	enum net_mode mode;
	unsigned flags; /* NET_POLICY_ALLOW_* */
	size_t nrules;
	struct net_rule rules[NET_POLICY_MAX_RULES]; /* in the order added */
	/* runtime only, never serialised: the broker fills it from getifaddrs */
	size_t nhost;
	struct net_addr host[NET_POLICY_MAX_HOST_ADDRS];
};

/* ---- Names ---- */

enum net_name_kind {
	NET_NAME_OK = 0,
	NET_NAME_LOCALHOST = 1, /* a localhost alias; out is "localhost" */
};

/* Normalise a DNS name in text form (len bytes, no NUL needed): lowercase
 * ASCII, one trailing dot removed, letters/digits/'-'/'_' only, labels 1..63
 * and not starting or ending with '-', at most 253 characters. Names whose
 * last label is numeric ("127.1", "0x7f.1", "1.2.3.4") are refused: no
 * top-level domain is numeric (RFC 3696 §2) and getaddrinfo would take them
 * as an address. localhost aliases fold to "localhost" (RFC 6761 §6.3).
 * Returns a net_name_kind, or -EINVAL with *why set. */
int net_name_normalize(const char *in, size_t len, char out[NET_NAME_MAX + 1], const char **why);

/* ---- Rules ---- */

/* Parse one --allow/--deny rule:
 *   NAME[:PORT]       github.com, github.com:22
 *   *.NAME[:PORT]     *.npmjs.org (subdomains at any depth, not the apex)
 *   IPV4[/N][:PORT]   10.0.0.0/8, 10.1.2.3:5432
 *   IPV6[/N]          2001:db8::/32 (no port without brackets)
 *   [IPV6[/N]]:PORT   [2001:db8::1]:443
 * PORT is 1..65535. Returns 0, or -EINVAL with *why a one-line reason for
 * the user (the CLI prints it and exits 125). */
int net_rule_parse(const char *text, enum net_verdict action, struct net_rule *out,
		   const char **why);

/* The canonical text of a rule (without its action), which net_rule_parse
 * reads back to the same rule. Returns its length, or -ENOSPC. */
int net_rule_format(const struct net_rule *r, char *buf, size_t len);

bool net_rule_equal(const struct net_rule *a, const struct net_rule *b);

/* ---- Policies ---- */

/* Mode, no rules, no flags, no host addresses. */
void net_policy_init(struct net_policy *p, enum net_mode mode);

/* Append a rule; an identical rule already there is not added twice.
 * 0 or -ENOSPC. */
int net_policy_add(struct net_policy *p, const struct net_rule *r);
/* Remove an identical rule: 0 or -ENOENT. */
int net_policy_remove(struct net_policy *p, const struct net_rule *r);
/* One of the host's own addresses (normalised; duplicates ignored).
 * 0 or -ENOSPC. */
int net_policy_add_host_addr(struct net_policy *p, const struct net_addr *a);

int net_mode_parse(const char *s, enum net_mode *out);
const char *net_mode_name(enum net_mode m);

/* ---- Decisions ---- */

struct net_decision {
	enum net_verdict verdict;
	/* The rule that decided (a deny rule, an allow rule, or the allow rule
         * that opened a private range), or NULL. Points into the policy. */
	const struct net_rule *rule;
	/* Static text, never NULL: "denied by rule", "allowed by rule",
         * "hard-deny: link-local (metadata)", "no rule allows it (allowlist)" */
	const char *reason;
	const char *via;      /* NULL, or how a hard-denied IPv4 address was embedded */
	enum net_hd_class hd; /* NET_HD_NONE unless the hard deny set decided */
};

/* A name from a DNS query, or the name behind a synthetic address. port 0
 * means "any port" (a DNS query): allowed if some connection to the name
 * could be, i.e. an allow rule for any port (allowlist) and no deny rule for
 * every port. Name rules only; CIDR rules never match a name. */
enum net_verdict net_decide_name(const struct net_policy *p, const char *name, uint16_t port,
				 struct net_decision *d);

/* A literal address the guest connects to (not a synthetic one). CIDR rules
 * only; name rules never match an address. */
enum net_verdict net_decide_addr(const struct net_policy *p, const struct net_addr *a,
				 uint16_t port, struct net_decision *d);

/* Each address an allowed name resolved to, before dialing it: the hard deny
 * set and CIDR deny rules apply (DNS rebinding to 10.x or 127.x is refused),
 * but no allow rule is needed, the name already had one. */
enum net_verdict net_decide_resolved(const struct net_policy *p, const struct net_addr *a,
				     uint16_t port, struct net_decision *d);

/* One line for the log: "allowed by rule github.com:22", "denied: hard-deny:
 * loopback via NAT64 64:ff9b::/96". Returns snprintf's count (truncated if
 * len is too small). */
int net_decision_format(const struct net_decision *d, char *buf, size_t len);

/* ---- Text form, for the sandbox's config ----
 * One item per line:
 *   mode open|allowlist|none
 *   flag allow-host|allow-link-local
 *   allow RULE
 *   deny RULE
 * Blank lines and lines starting with '#' are ignored. */

/* Write p's text form to buf (always NUL-terminated if len > 0). Returns the
 * length the whole text needs, like snprintf: retry with a bigger buffer if
 * it is >= len. */
size_t net_policy_format(const struct net_policy *p, char *buf, size_t len);

/* Replace p's mode, flags and rules with those in text (len bytes); the host
 * addresses are kept. Without a mode line the mode is allowlist. Returns 0,
 * or -EINVAL (-ENOSPC: over NET_POLICY_MAX_RULES rules) with p unchanged and
 * *line (1-based) and *why saying where and what. */
int net_policy_parse(struct net_policy *p, const char *text, size_t len, unsigned *line,
		     const char **why);

#endif
