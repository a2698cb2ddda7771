/* pause.c: silo pause / silo resume. silo-vmm's control socket stops and
 * restarts the vCPUs (`pause` returns once every vCPU is out of KVM_RUN);
 * the guest's memory, disks and host processes stay, so a paused sandbox
 * costs its memory and no CPU.
 *
 * The state is a file in the run dir (SB_PAUSED_FILE), read by sb_status
 * like the pid files beside it: every silo command sees it, it survives
 * the silo that paused, and it goes with the run dir when the sandbox
 * stops. It is written before the pause and removed after the resume, so
 * in between it may say "paused" of a VM that still runs (an exec is then
 * refused a moment early), never "running" of a VM that cannot answer.
 */
#include "sandbox/sandbox.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* pause waits for every vCPU to leave KVM_RUN: quick, but the lab's
 * emulated KVM can take a while to deliver the kick. */
#define PAUSE_DEADLINE_MS 30000

static int running(struct sandbox *sb, struct sb_status *st, const char *verb)
{
	if (sb_status(sb, st) < 0)
		return -1;
	if (st->state != SB_RUNNING)
		return sb_fail("sandbox %s is not running: nothing to %s", sb->name, verb);
	return 0;
}

static void reason(const char *reply, char *buf, size_t n)
{
	if (!strncmp(reply, "error ", 6))
		reply += 6;
	snprintf(buf, n, "%s", reply[0] ? reply : "silo-vmm did not answer");
}

int sb_pause(struct sandbox *sb)
{
	struct sb_status st;
	char marker[SB_PATH_MAX], reply[256], why[256], now[32];

	if (running(sb, &st, "pause") < 0)
		return -1;
	if (st.paused)
		return sb_fail("sandbox %s is already paused", sb->name);
	if (sb_path(marker, "%s/" SB_PAUSED_FILE, sb->rundir) < 0)
		return -1;
	/* the content is for people: when it was paused */
	snprintf(now, sizeof(now), "%lld\n", (long long)time(NULL));
	if (sb_write_file_atomic(marker, now, strlen(now)) < 0)
		return sb_fail("cannot write %s: %s", marker, strerror(errno));
	if (sb_vmm_request(sb, "pause", reply, sizeof(reply), PAUSE_DEADLINE_MS) == 0)
		return 0;
	reason(reply, why, sizeof(why));
	/* A pause that timed out may still complete: undo it before the
	 * marker goes, or the sandbox would look running and not answer. */
	sb_vmm_request(sb, "resume", reply, sizeof(reply), PAUSE_DEADLINE_MS);
	unlink(marker);
	return sb_fail("sandbox %s: could not pause: %s", sb->name, why);
}

int sb_resume(struct sandbox *sb)
{
	struct sb_status st;
	char marker[SB_PATH_MAX], reply[256], why[256];

	if (running(sb, &st, "resume") < 0)
		return -1;
	if (!st.paused)
		return sb_fail("sandbox %s is not paused", sb->name);
	if (sb_path(marker, "%s/" SB_PAUSED_FILE, sb->rundir) < 0)
		return -1;
	if (sb_vmm_request(sb, "resume", reply, sizeof(reply), PAUSE_DEADLINE_MS) < 0) {
		reason(reply, why, sizeof(why));
		return sb_fail("sandbox %s: could not resume: %s", sb->name, why);
	}
	if (unlink(marker) < 0 && errno != ENOENT)
		return sb_fail("sandbox %s resumed, but %s stays: %s", sb->name, marker,
			       strerror(errno));
	return 0;
}
