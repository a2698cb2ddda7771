/* netflags.c: the network flags of silo create/run and silo policy
 * (--network, --allow, --deny, --allow-host-access, --allow-link-local),
 * turned into a policy (src/net/policy.h, docs/network.md). */
#include "cli/cli.h"
#include "net/policy.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* cli_failf prints the line and returns the exit code; these return -1. */
#define FAIL(...) (cli_failf(__VA_ARGS__), -1)

void cli_net_init(struct cli_net *n)
{
	memset(n, 0, sizeof(*n));
}

void cli_net_free(struct cli_net *n)
{
	free(n->rules);
	memset(n, 0, sizeof(*n));
}

int cli_net_mode(struct cli_net *n, const char *arg, bool allow_none)
{
	enum net_mode m;
	if (net_mode_parse(arg, &m) < 0 || (!allow_none && m == NET_MODE_NONE))
		return FAIL("invalid --network '%s': use open, allowlist%s", arg,
			    allow_none ? " or none" : " (none needs a new sandbox)");
	n->mode_set = true;
	n->mode = (int)m;
	return 0;
}

int cli_net_rule(struct cli_net *n, const char *arg, int action)
{
	struct net_rule r;
	const char *why = NULL;
	const char *flag = action == CLI_NET_ALLOW  ? "--allow"
			   : action == CLI_NET_DENY ? "--deny"
						    : "--remove";
	/* --remove takes a rule as --allow or --deny wrote it */
	if (net_rule_parse(arg, action == CLI_NET_DENY ? NET_DENY : NET_ALLOW, &r, &why) < 0)
		return FAIL("invalid %s '%s': %s", flag, arg, why ? why : "not a rule");
	if (n->nrules % 16 == 0) {
		struct cli_net_rule *m = realloc(n->rules, (n->nrules + 16) * sizeof(*m));
		if (!m)
			return FAIL("out of memory");
		n->rules = m;
	}
	n->rules[n->nrules].action = action;
	n->rules[n->nrules].text = arg;
	n->nrules++;
	return 0;
}

int cli_net_option(struct cli_net *n, int ch, const char *arg, bool new_sandbox)
{
	switch (ch) {
	case CLI_O_NETWORK:
		return cli_net_mode(n, arg, new_sandbox) < 0 ? -1 : 1;
	case CLI_O_ALLOW:
	case CLI_O_DENY:
	case CLI_O_REMOVE:
		return cli_net_rule(n, arg,
				    ch == CLI_O_ALLOW  ? CLI_NET_ALLOW
				    : ch == CLI_O_DENY ? CLI_NET_DENY
						       : CLI_NET_REMOVE) < 0
			       ? -1
			       : 1;
	case CLI_O_ALLOW_HOST:
		n->flags |= NET_POLICY_ALLOW_HOST;
		return 1;
	case CLI_O_ALLOW_LL:
		n->flags |= NET_POLICY_ALLOW_LINK_LOCAL;
		return 1;
	}
	return 0;
}

/* Apply n's flags and rules to p (rules in the order given). */
int cli_net_apply(const struct cli_net *n, struct net_policy *p)
{
	if (n->mode_set)
		p->mode = (enum net_mode)n->mode;
	p->flags |= n->flags;
	for (size_t i = 0; i < n->nrules; i++) {
		const struct cli_net_rule *c = &n->rules[i];
		struct net_rule r;
		const char *why = NULL;
		if (c->action == CLI_NET_REMOVE) {
			/* the rule as written, allow or deny, whichever exists */
			int removed = 0;
			for (int a = NET_DENY; a <= NET_ALLOW; a++)
				if (net_rule_parse(c->text, (enum net_verdict)a, &r, &why) == 0 &&
				    net_policy_remove(p, &r) == 0)
					removed = 1;
			if (!removed)
				return FAIL("no rule '%s' to remove (see 'silo policy NAME')",
					    c->text);
			continue;
		}
		if (net_rule_parse(c->text, c->action == CLI_NET_DENY ? NET_DENY : NET_ALLOW, &r,
				   &why) < 0)
			return FAIL("invalid rule '%s': %s", c->text, why);
		int rc = net_policy_add(p, &r);
		if (rc == -ENOSPC)
			return FAIL("too many rules (at most %d)", NET_POLICY_MAX_RULES);
	}
	return 0;
}

int cli_net_policy_text(const struct cli_net *n, char **out)
{
	*out = NULL;
	if (n->mode_set && n->mode == NET_MODE_NONE)
		return n->nrules || n->flags
			       ? FAIL("--network none takes no --allow, --deny or --allow-* flags")
			       : 0;
	struct net_policy *p = malloc(sizeof(*p));
	if (!p)
		return FAIL("out of memory");
	net_policy_init(p, NET_MODE_ALLOWLIST);
	/* No --network: allowlist with the developer preset (docs/network.md);
         * an explicit mode starts from the user's rules alone. */
	if (!n->mode_set)
		sb_net_preset_add(p);
	int rc = cli_net_apply(n, p);
	if (rc == 0 && sb_net_policy_text(p, out) < 0)
		rc = cli_fail();
	free(p);
	return rc;
}
