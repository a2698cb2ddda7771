/* src/net/policy_text.c: a policy's text form, kept in the sandbox's
 * directory so the rules survive stop/start (format in policy.h).
 *
 * The file is written by silo itself but may have been edited by hand, so it
 * is parsed like any input: bounded lines, every rule through
 * net_rule_parse, nothing applied unless the whole file is valid.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "net/policy.h"

static const struct {
	unsigned flag;
	const char *name;
} flag_names[] = {
	{ NET_POLICY_ALLOW_HOST, "allow-host" },
	{ NET_POLICY_ALLOW_LINK_LOCAL, "allow-link-local" },
};
#define NFLAGS (sizeof(flag_names) / sizeof(flag_names[0]))

struct out {
	char *buf;
	size_t len, pos; /* pos: what the whole text needs so far */
};

static void put(struct out *o, const char *fmt, ...)
{
	va_list ap;
	size_t room = o->pos < o->len ? o->len - o->pos : 0;
	va_start(ap, fmt);
	int n = vsnprintf(room ? o->buf + o->pos : NULL, room, fmt, ap);
	va_end(ap);
	if (n > 0)
		o->pos += (size_t)n;
}

size_t net_policy_format(const struct net_policy *p, char *buf, size_t len)
{
	struct out o = { buf, len, 0 };
	char rule[NET_RULE_TEXT_MAX + 1];
	if (len)
		buf[0] = '\0';
	put(&o, "mode %s\n", net_mode_name(p->mode));
	for (size_t i = 0; i < NFLAGS; i++)
		if (p->flags & flag_names[i].flag)
			put(&o, "flag %s\n", flag_names[i].name);
	for (size_t i = 0; i < p->nrules; i++) {
		/* cannot fail: the buffer holds the longest rule text */
		if (net_rule_format(&p->rules[i], rule, sizeof(rule)) < 0)
			continue;
		put(&o, "%s %s\n", p->rules[i].action == NET_ALLOW ? "allow" : "deny", rule);
	}
	/* a truncated text still ends in a NUL (vsnprintf saw to it) */
	return o.pos;
}

/* "keyword value", single space; the longest is "allow " + a rule */
#define LINE_MAX_LEN (6 + NET_RULE_TEXT_MAX)

struct parsed {
	bool have_mode;
	enum net_mode mode;
	unsigned flags;
	size_t nrules;
};

/* One line, NUL-terminated, without its newline. With p, apply it. */
static int parse_line(char *line, struct parsed *st, struct net_policy *p, const char **why)
{
	size_t n = strlen(line);
	if (n && line[n - 1] == '\r') /* a file edited on Windows */
		line[--n] = '\0';
	if (!n || line[0] == '#')
		return 0;
	char *val = strchr(line, ' ');
	if (!val || !val[1]) {
		*why = "expected 'KEYWORD VALUE'";
		return -EINVAL;
	}
	*val++ = '\0';
	if (!strcmp(line, "mode")) {
		if (st->have_mode) {
			*why = "mode given twice";
			return -EINVAL;
		}
		if (net_mode_parse(val, &st->mode) < 0) {
			*why = "unknown mode (open, allowlist, none)";
			return -EINVAL;
		}
		st->have_mode = true;
		return 0;
	}
	if (!strcmp(line, "flag")) {
		for (size_t i = 0; i < NFLAGS; i++)
			if (!strcmp(val, flag_names[i].name)) {
				st->flags |= flag_names[i].flag;
				return 0;
			}
		*why = "unknown flag (allow-host, allow-link-local)";
		return -EINVAL;
	}
	enum net_verdict action;
	if (!strcmp(line, "allow"))
		action = NET_ALLOW;
	else if (!strcmp(line, "deny"))
		action = NET_DENY;
	else {
		*why = "unknown keyword (mode, flag, allow, deny)";
		return -EINVAL;
	}
	struct net_rule r;
	if (net_rule_parse(val, action, &r, why) < 0)
		return -EINVAL;
	if (st->nrules == NET_POLICY_MAX_RULES) {
		*why = "too many rules";
		return -ENOSPC;
	}
	st->nrules++;
	return p ? net_policy_add(p, &r) : 0;
}

/* One pass over the text; with p, apply it. */
static int parse_all(const char *text, size_t len, struct parsed *st, struct net_policy *p,
		     unsigned *lineno, const char **why)
{
	char line[LINE_MAX_LEN + 2];
	size_t pos = 0;
	*lineno = 0;
	while (pos < len) {
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - (text + pos)) : len - pos;
		++*lineno;
		if (n > LINE_MAX_LEN) {
			*why = "line too long";
			return -EINVAL;
		}
		memcpy(line, text + pos, n);
		line[n] = '\0';
		if (strlen(line) != n) {
			*why = "NUL byte in policy text";
			return -EINVAL;
		}
		int rc = parse_line(line, st, p, why);
		if (rc < 0)
			return rc;
		pos += n + 1;
	}
	return 0;
}

int net_policy_parse(struct net_policy *p, const char *text, size_t len, unsigned *line,
		     const char **why)
{
	/* Validate everything first, so an error leaves p as it was without
         * a second (large) policy on the stack. */
	struct parsed st = { false, NET_MODE_ALLOWLIST, 0, 0 };
	int rc = parse_all(text, len, &st, NULL, line, why);
	if (rc < 0)
		return rc;
	p->mode = st.mode;
	p->flags = st.flags;
	p->nrules = 0;
	st = (struct parsed){ false, NET_MODE_ALLOWLIST, 0, 0 };
	/* cannot fail: the first pass accepted every line */
	rc = parse_all(text, len, &st, p, line, why);
	if (rc == 0) {
		*line = 0;
		*why = NULL;
	}
	return rc;
}
