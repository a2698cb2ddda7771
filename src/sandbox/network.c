/* network.c: a sandbox's network policy on the host side (docs/network.md).
 *
 * The policy text (net_policy_format) lives in <dir>/policy, so rules are
 * kept across stop and start; no such file means the sandbox has no network
 * (--network none, or a sandbox made before networks existed). While the
 * sandbox runs, its broker silo-netd (src/netd/, spawned by the supervisor)
 * reads the file at start and again on SIGHUP, which is how `silo policy`
 * changes the rules of a running sandbox without a restart.
 */
#include "sandbox/sandbox.h"
#include "net/policy.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* What a new sandbox may reach when --network is not given: deny by
 * default, as Docker Sandboxes' "Balanced" policy, with the package
 * registries and source hosts a coding agent needs on its first day and the
 * model APIs it talks to. Each entry is a rule (docs/network.md "Rules");
 * test_cli_parse checks that every one parses. */
const char *const sb_net_preset[] = {
	/* Debian and Ubuntu archives (apt-get) */
	"deb.debian.org",
	"security.debian.org",
	"archive.ubuntu.com",
	"security.ubuntu.com",
	/* Python (pip) */
	"pypi.org",
	"files.pythonhosted.org",
	/* JavaScript (npm, yarn) */
	"registry.npmjs.org",
	"registry.yarnpkg.com",
	/* Go modules, Rust crates */
	"proxy.golang.org",
	"sum.golang.org",
	"crates.io",
	"static.crates.io",
	"index.crates.io",
	/* GitHub (git clone over https and ssh, releases, raw files) */
	"github.com",
	"*.github.com",
	"*.githubusercontent.com",
	"codeload.github.com",
	/* Docker Hub (docker pull) */
	"registry-1.docker.io",
	"auth.docker.io",
	"production.cloudflare.docker.com",
	/* the model APIs of the common coding agents */
	"api.anthropic.com",
	"api.openai.com",
	"generativelanguage.googleapis.com",
	NULL,
};

static int policy_path(const struct sandbox *sb, char *buf)
{
	return sb_path(buf, "%s/%s", sb->dir, SB_POLICY_FILE);
}

int sb_net_load(const struct sandbox *sb, struct net_policy **out)
{
	char f[SB_PATH_MAX], *text = NULL;
	size_t len = 0;
	*out = NULL;
	if (policy_path(sb, f) < 0)
		return -1;
	if (!sb_exists(f))
		return 0;
	if (sb_read_file(f, &text, &len) < 0)
		return -1;
	struct net_policy *p = malloc(sizeof(*p));
	if (!p) {
		free(text);
		return sb_fail("out of memory");
	}
	net_policy_init(p, NET_MODE_ALLOWLIST);
	unsigned line = 0;
	const char *why = NULL;
	int rc = net_policy_parse(p, text, len, &line, &why);
	free(text);
	if (rc < 0) {
		free(p);
		return sb_fail("%s line %u: %s (fix it with 'silo policy %s')", f, line,
			       why ? why : "invalid", sb->name);
	}
	*out = p;
	return 1;
}

/* The pid in <rundir>/netd.pid if that process is still a silo-netd (a
 * pid file can outlive its process, and the number be reused). */
int sb_netd_pid(const struct sandbox *sb)
{
	char f[SB_PATH_MAX], *text = NULL, *cmd = NULL;
	size_t len = 0;
	if (sb_path(f, "%s/%s", sb->rundir, SB_NETD_PID) < 0 || !sb_exists(f) ||
	    sb_read_file(f, &text, NULL) < 0)
		return 0;
	int pid = atoi(text);
	free(text);
	if (pid <= 0 || sb_path(f, "/proc/%d/cmdline", pid) < 0 || sb_read_file(f, &cmd, &len) < 0)
		return 0;
	const char *base = strrchr(cmd, '/');
	bool ok = len > 0 && !strcmp(base ? base + 1 : cmd, "silo-netd");
	free(cmd);
	return ok ? pid : 0;
}

int sb_net_save(const struct sandbox *sb, const struct net_policy *p)
{
	char f[SB_PATH_MAX];
	if (policy_path(sb, f) < 0)
		return -1;
	size_t need = net_policy_format(p, NULL, 0);
	char *text = malloc(need + 1);
	if (!text)
		return sb_fail("out of memory");
	net_policy_format(p, text, need + 1);
	int rc = sb_write_file_atomic(f, text, strlen(text));
	free(text);
	if (rc < 0)
		return -1;
	int pid = sb_netd_pid(sb);
	if (pid > 0 && kill(pid, SIGHUP) < 0)
		return sb_fail("sandbox %s: cannot signal its network broker (pid %d): %s",
			       sb->name, pid, strerror(errno));
	return 0;
}

int sb_net_stats(const struct sandbox *sb, unsigned long long *allowed, unsigned long long *denied)
{
	char f[SB_PATH_MAX], *text = NULL;
	*allowed = *denied = 0;
	if (sb_path(f, "%s/%s", sb->rundir, SB_NET_STATS) < 0 || !sb_exists(f) ||
	    sb_read_file(f, &text, NULL) < 0)
		return -1;
	for (char *l = text; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
		if (!strncmp(l, "allowed=", 8))
			*allowed = strtoull(l + 8, NULL, 10);
		else if (!strncmp(l, "denied=", 7))
			*denied = strtoull(l + 7, NULL, 10);
	}
	free(text);
	return 0;
}

void sb_net_preset_add(struct net_policy *p)
{
	for (size_t i = 0; sb_net_preset[i]; i++) {
		struct net_rule r;
		const char *why;
		if (net_rule_parse(sb_net_preset[i], NET_ALLOW, &r, &why) == 0)
			net_policy_add(p, &r);
	}
}

int sb_net_policy_text(const struct net_policy *p, char **out)
{
	size_t need = net_policy_format(p, NULL, 0);
	if (!(*out = malloc(need + 1)))
		return sb_fail("out of memory");
	net_policy_format(p, *out, need + 1);
	return 0;
}

int sb_netd_path(const struct sb_paths *p, char *buf, size_t n)
{
	if ((size_t)snprintf(buf, n, "%s", p->netd) >= n)
		return sb_fail("silo-netd path too long");
	if (access(buf, X_OK) < 0)
		return sb_fail("network broker %s: %s (run 'make', or set SILO_NETD)", buf,
			       strerror(errno));
	return 0;
}
