/* docker.c: the guest's private Docker daemon as the host sees it.
 *
 * silo-init binds the Docker socket before its first session and hands it to
 * dockerd (socket activation, src/agent/docker.c), so Docker clients in the
 * guest wait for the daemon by themselves and `silo start` need not. What
 * the host reads here is the guest's own report: SILO_DOCKER_READY once
 * dockerd answered, SILO_DOCKER_FAILED with the reason when it never will
 * (proto/contract.h). `--wait-docker` polls for one of the two over the agent.
 */
#include "sandbox/sandbox.h"
#include "client/client.h"
#include "proto/contract.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define POLL_MS	  250
#define LOG_LINES "3" /* of dockerd's log, in the one-line error */

static const char *const names[] = {
	[SB_DOCKER_OFF] = "off",	   [SB_DOCKER_STOPPED] = "stopped",
	[SB_DOCKER_STARTING] = "starting", [SB_DOCKER_READY] = "ready",
	[SB_DOCKER_FAILED] = "failed",	   [SB_DOCKER_UNKNOWN] = "unknown",
};

const char *sb_docker_name(enum sb_docker d)
{
	return names[d];
}

/* Guest text into one printable line: controls become spaces, runs of
 * blanks one space, no leading or trailing blank. */
static void one_line(char *s)
{
	char *w = s;
	for (char *r = s; *r; r++) {
		char c = (unsigned char)*r < 0x20 || *r == 0x7f ? ' ' : *r;
		if (c == ' ' && (w == s || w[-1] == ' '))
			continue;
		*w++ = c;
	}
	while (w > s && w[-1] == ' ')
		w--;
	*w = 0;
}

/* Why Docker failed: the guest's reason and the end of dockerd's log. */
static void failure_reason(const struct sandbox *sb, char *why, size_t n)
{
	static const char script[] =
		"cat " SILO_DOCKER_FAILED "; echo; tail -n " LOG_LINES " " SILO_DOCKER_LOG
		" 2>/dev/null | cut -c1-240 | sed 's/^/| /'";
	char *out = NULL;
	snprintf(why, n, "reason unknown");
	if (sb_guest_sh(sb, script, &out, NULL) != 0 || !out)
		goto out;
	/* "<ms> ms: <reason>" -> "<reason>" */
	char *r = strstr(out, " ms: ");
	one_line(r ? r + 5 : out);
	snprintf(why, n, "%s", r ? r + 5 : out);
out:
	free(out);
}

int sb_docker_state(const struct sandbox *sb, enum sb_docker *d, char *why, size_t n)
{
	struct aclient_stat as;
	struct aclient_err e;
	struct sb_status st;
	if (why && n)
		why[0] = 0;
	if (sb->cfg.no_docker) {
		*d = SB_DOCKER_OFF;
		return 0;
	}
	if (sb_status(sb, &st) < 0)
		return -1;
	if (st.state != SB_RUNNING) {
		*d = SB_DOCKER_STOPPED;
		return 0;
	}
	if (st.paused) { /* its agent cannot answer: do not wait for it */
		*d = SB_DOCKER_UNKNOWN;
		if (why && n)
			snprintf(why, n, "the sandbox is paused");
		return 0;
	}
	if (aclient_stat(sb->addr, SILO_DOCKER_READY, false, &as, &e) == 0) {
		*d = SB_DOCKER_READY;
	} else if (e.remote && e.code == ENOENT) {
		if (aclient_stat(sb->addr, SILO_DOCKER_FAILED, false, &as, &e) == 0) {
			*d = SB_DOCKER_FAILED;
			if (why && n)
				failure_reason(sb, why, n);
		} else {
			*d = e.remote && e.code == ENOENT ? SB_DOCKER_STARTING : SB_DOCKER_UNKNOWN;
		}
	} else {
		*d = SB_DOCKER_UNKNOWN; /* the agent did not answer */
	}
	return 0;
}

static int wait_docker(const struct sandbox *sb, int timeout_s)
{
	struct timespec t0, now, nap = { 0, POLL_MS * 1000000L };
	enum sb_docker d;
	char why[768];
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		sb_progress_step(sb_status_line(sb), "waiting for Docker");
		if (sb_docker_state(sb, &d, why, sizeof(why)) < 0)
			return -1;
		switch (d) {
		case SB_DOCKER_READY:
			return 0;
		case SB_DOCKER_OFF:
			return sb_fail("sandbox %s has no Docker (created with --no-docker)",
				       sb->name);
		case SB_DOCKER_STOPPED:
			return sb_fail("sandbox %s stopped while Docker was starting; see "
				       "'silo logs %s'",
				       sb->name, sb->name);
		case SB_DOCKER_FAILED:
			return sb_fail("sandbox %s: Docker failed to start: %s", sb->name, why);
		case SB_DOCKER_STARTING:
		case SB_DOCKER_UNKNOWN:
			break;
		}
		if (sb_cancelled(sb))
			return sb_fail("sandbox %s: waiting for Docker interrupted", sb->name);
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec - t0.tv_sec >= timeout_s)
			return sb_fail("sandbox %s: Docker did not become ready within %d s; see "
				       "'silo logs %s' (SILO_BOOT_TIMEOUT raises the limit)",
				       sb->name, timeout_s, sb->name);
		nanosleep(&nap, NULL);
	}
}

int sb_wait_docker(const struct sandbox *sb, int timeout_s)
{
	sb_progress_begin(sb_status_line(sb), sb->name);
	int rc = wait_docker(sb, timeout_s);
	sb_progress_end(sb_status_line(sb));
	return rc;
}
