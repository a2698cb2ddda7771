/* agent.c: coding agents in sandboxes (docs/agents.md).
 *
 * An agent comes from the npm registry, at the version pinned here. silo
 * fetches it on the host with npm (--ignore-scripts: none of its code runs
 * on the host) into <data>/agents/NAME-VERSION, once; a template build
 * (`silo template build --agent NAME`) copies the part the guest needs
 * into the guest's /opt/silo/agents/NAME and puts the command on PATH,
 * where the package's own install script would have: the agents below are
 * native programs that npm merely delivers, so the guest needs no Node.js.
 * `silo run --agent NAME` starts sandboxes from that template.
 */
#include "sandbox/sandbox.h"
#include "client/client.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

/* Versions tested with silo (tests/e2e/test_agents.py); the npm package's
 * platform part for linux-x64 holds the program. */
static const struct sb_agent agents[] = {
	{ .name = "claude",
	  .package = "@anthropic-ai/claude-code",
	  .version = "2.1.332",
	  .payload = "node_modules/@anthropic-ai/claude-code-linux-x64",
	  .program = "claude",
	  /* no telemetry, error reports or update checks: calls the
	   * sandbox's policy would have to allow for nothing */
	  .env = { "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1", "DISABLE_AUTOUPDATER=1" } },
	{ .name = "codex",
	  .package = "@openai/codex",
	  .version = "0.171.0",
	  .payload = "node_modules/@openai/codex-linux-x64/vendor/x86_64-unknown-linux-musl",
	  .program = "bin/codex",
	  .path = "codex-path",
	  .env = { "CODEX_API_KEY=silo-secret-openai" } },
};

const struct sb_agent *sb_agent_find(const char *name)
{
	for (size_t i = 0; i < sizeof(agents) / sizeof(agents[0]); i++)
		if (!strcmp(agents[i].name, name))
			return &agents[i];
	return NULL;
}

const char *sb_agent_names(void)
{
	return "claude, codex";
}

/* Run argv with stdin from /dev/null and its output into a memfd; its
 * exit status (-1: it could not start), and the output's last line in
 * last. */
static int spawn_wait(char *const argv[], char *last, size_t n)
{
	posix_spawn_file_actions_t fa;
	int out = memfd_create("silo-npm", MFD_CLOEXEC), st, r;
	pid_t pid;

	last[0] = 0;
	if (out < 0 || posix_spawn_file_actions_init(&fa)) {
		if (out >= 0)
			close(out);
		return -1;
	}
	r = posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	r = r ? r : posix_spawn_file_actions_adddup2(&fa, out, 1);
	r = r ? r : posix_spawn_file_actions_adddup2(&fa, out, 2);
	r = r ? r : posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (r) {
		close(out);
		errno = r;
		return -1;
	}
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR) {
			close(out);
			return -1;
		}
	/* the last line: npm ends with what went wrong */
	char *nl = strrchr(sb_fd_tail(out, last, n), '\n');
	if (nl)
		memmove(last, nl + 1, strlen(nl + 1) + 1);
	close(out);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

int sb_agent_fetch(const struct sb_paths *p, const struct sb_agent *a, char *dir)
{
	char top[SB_PATH_MAX], tmp[SB_PATH_MAX], spec[256], payload[SB_PATH_MAX];
	struct stat st;

	if (sb_path(top, "%s/agents", p->data) < 0 ||
	    sb_path(dir, "%s/%s-%s", top, a->name, a->version) < 0 ||
	    sb_path(payload, "%s/%s/%s", dir, a->payload, a->program) < 0)
		return -1;
	/* complete once renamed into place (below) */
	if (stat(payload, &st) == 0)
		return 0;
	if (sb_mkdir_p(top, 0700) < 0)
		return sb_fail("cannot create %s: %s", top, strerror(errno));
	if (sb_path(tmp, "%s/.%s-%s.%d", top, a->name, a->version, (int)getpid()) < 0)
		return -1;
	snprintf(spec, sizeof(spec), "%s@%s", a->package, a->version);
	/* the guest's platform, whatever the host's; no scripts: the
	 * package's code runs in the guest or not at all */
	char *argv[] = {
		"npm",		"install",	    "--prefix",	  tmp,		"--ignore-scripts",
		"--no-audit",	"--no-fund",	    "--omit=dev", "--os=linux", "--cpu=x64",
		"--libc=glibc", "--loglevel=error", spec,	  NULL
	};
	char last[512];
	sb_rmtree(tmp);
	int rc = spawn_wait(argv, last, sizeof(last));
	if (rc != 0) {
		int e = errno;
		sb_rmtree(tmp);
		if (rc < 0)
			return sb_fail(
				"agent %s: cannot run npm (%s): install it (apt-get install npm)",
				a->name, strerror(e));
		return sb_fail("agent %s: npm install %s failed (exit %d%s%s): is the npm registry "
			       "reachable?",
			       a->name, spec, rc, last[0] ? ": " : "", last);
	}
	if (sb_path(payload, "%s/%s/%s", tmp, a->payload, a->program) < 0 ||
	    stat(payload, &st) < 0 || !S_ISREG(st.st_mode)) {
		sb_rmtree(tmp);
		return sb_fail("agent %s: npm installed %s without %s/%s: not the package silo "
			       "knows",
			       a->name, spec, a->payload, a->program);
	}
	if (rename(tmp, dir) == 0)
		return 0;
	int e = errno;
	sb_rmtree(tmp);
	/* another fetch won the race: theirs is as good; anything else there
	 * is not ours to remove */
	if (sb_path(payload, "%s/%s/%s", dir, a->payload, a->program) == 0 &&
	    stat(payload, &st) == 0)
		return 0;
	return sb_fail("cannot create %s: %s", dir,
		       e == ENOTEMPTY || e == EEXIST ? "something else is there: remove it"
						     : strerror(e));
}

int sb_agent_install(const struct sandbox *sb, const struct sb_agent *a, const char *dir)
{
	char src[SB_PATH_MAX], dest[SB_PATH_MAX], *script = NULL, *out = NULL;
	if (sb_path(src, "%s/%s", dir, a->payload) < 0 ||
	    sb_path(dest, "/opt/silo/agents/%s", a->name) < 0)
		return -1;
	/* the payload as a tar stream into the guest */
	char *argv[] = { "tar", "-C", src, "-cf", "-", ".", NULL };
	int pipefd[2];
	if (pipe2(pipefd, O_CLOEXEC) < 0)
		return sb_fail("pipe: %s", strerror(errno));
	posix_spawn_file_actions_t fa;
	pid_t pid = -1;
	int r = posix_spawn_file_actions_init(&fa);
	r = r ? r : posix_spawn_file_actions_adddup2(&fa, pipefd[1], 1);
	r = r ? r : posix_spawnp(&pid, "tar", &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(pipefd[1]);
	struct aclient_err e = { 0 };
	int put = r ? -1 : aclient_put_tar(sb->addr, dest, pipefd[0], &e);
	close(pipefd[0]);
	int st = 0;
	if (pid > 0) {
		if (put < 0)
			kill(pid, SIGTERM);
		while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
			;
	}
	if (r)
		return sb_fail("agent %s: cannot run tar: %s", a->name, strerror(r));
	if (put < 0)
		return sb_fail("agent %s: copying it into %s: %s", a->name, sb->name, e.msg);
	if (!WIFEXITED(st) || WEXITSTATUS(st))
		return sb_fail("agent %s: cannot read %s (tar failed)", a->name, src);
	/* root's, and on PATH as a small script: the program's own
	 * directory of helpers (codex's ripgrep) first on its PATH */
	const char *name = strrchr(a->program, '/') ? strrchr(a->program, '/') + 1 : a->program;
	char path[SB_PATH_MAX + 64] = "";
	if (a->path)
		snprintf(path, sizeof(path), "PATH=%s/%s:$PATH; export PATH\n", dest, a->path);
	if (asprintf(&script,
		     "set -e; chown -R 0:0 %s; chmod -R go-w %s\n"
		     "cat > /usr/local/bin/%s <<'EOF'\n#!/bin/sh\n%sexec %s/%s \"$@\"\nEOF\n"
		     "chmod 755 /usr/local/bin/%s\n"
		     "su -s /bin/sh agent -c '/usr/local/bin/%s --version' >/dev/null\n",
		     dest, dest, name, path, dest, a->program, name, name) < 0)
		return sb_fail("out of memory");
	r = sb_guest_sh(sb, script, &out, NULL);
	free(script);
	free(out);
	if (r != 0)
		return sb_fail("agent %s: it does not run in the guest: %s", a->name, sb_errmsg());
	return 0;
}
