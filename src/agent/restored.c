/* restored.c: RESTORED, what the guest does after a snapshot restore
 * (docs/snapshots.md "The guest after a restore").
 *
 * Every VM restored from one snapshot wakes with the same kernel RNG state,
 * the clock of the moment of the snapshot and the same identity. Our 6.1
 * guest has no ACPI, so no VMGenID to tell it: the host says so through
 * this frame instead, and we
 *   1. credit the host's fresh bytes to the input pool (RNDADDENTROPY) and
 *      force a CRNG reseed (RNDRESEEDCRNG): without the reseed the kernel
 *      keeps its old key until its next scheduled reseed (up to a minute),
 *      and every clone would hand out the same "random" bytes until then;
 *   2. set CLOCK_REALTIME to the host's (kvmclock is restored without a
 *      jump, so the wall clock is where the snapshot left it);
 *   3. set the hostname, and /etc/hostname when the image has one;
 *   4. write /etc/machine-id atomically.
 * All four are tried; the first failure is the ERROR the host gets. The
 * two files reach the disk after the reply (flush_identity): the host
 * waits for this frame before it runs anything in the guest, so a flush
 * here sat on every restored sandbox's start (two journal commits, each
 * a FLUSH that silo-vmm turns into an fdatasync of the scratch disk).
 */
#include "agent/agent.h"

#include <fcntl.h>
#include <linux/random.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define HOSTNAME_FILE	"/etc/hostname"
#define MACHINE_ID_FILE "/etc/machine-id"

struct step_err {
	int code;
	char msg[256];
};

static void fail(struct step_err *e, int code, const char *what)
{
	agent_log("restored: %s: %s", what, strerror(code));
	if (!e->code) {
		e->code = code;
		snprintf(e->msg, sizeof(e->msg), "restored: %s: %s", what, strerror(code));
	}
}

static void reseed(const struct proto_restored *r, struct step_err *e)
{
	union {
		struct rand_pool_info info;
		uint8_t raw[sizeof(struct rand_pool_info) + PROTO_ENTROPY_LEN];
	} u = { 0 };
	int fd = open("/dev/urandom", O_WRONLY | O_CLOEXEC);

	if (fd < 0) {
		fail(e, errno, "/dev/urandom");
		return;
	}
	/* Credited: the host's getrandom() is a CSPRNG output, as good as
	 * what virtio-rng hands the guest at boot. */
	u.info.entropy_count = (int)PROTO_ENTROPY_LEN * 8;
	u.info.buf_size = (int)PROTO_ENTROPY_LEN;
	memcpy(u.info.buf, r->entropy, PROTO_ENTROPY_LEN);
	if (ioctl(fd, RNDADDENTROPY, &u.info) < 0)
		fail(e, errno, "RNDADDENTROPY");
	else if (ioctl(fd, RNDRESEEDCRNG) < 0)
		fail(e, errno, "RNDRESEEDCRNG");
	explicit_bzero(&u, sizeof(u));
	close(fd);
}

/* Write path as tmp + rename, so a reader sees the old content or the
 * new, never a part; flush_identity makes both durable. */
static int write_atomic(const char *path, const char *text, mode_t mode)
{
	char tmp[64];
	size_t len = strlen(text);
	int rc = 0;

	snprintf(tmp, sizeof(tmp), "%s.silo-tmp", path);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
	if (fd < 0)
		return -errno;
	ssize_t n = write(fd, text, len);
	if (n != (ssize_t)len)
		rc = n < 0 ? -errno : -EIO;
	else if (fchmod(fd, mode) < 0)
		rc = -errno;
	close(fd);
	/* rename replaces a symlink itself, not its target */
	if (rc == 0 && rename(tmp, path) < 0)
		rc = -errno;
	if (rc < 0)
		unlink(tmp);
	return rc;
}

static void set_identity(const struct proto_restored *r, struct step_err *e)
{
	char text[PROTO_HOSTNAME_MAX + 2];
	struct stat st;
	int rc;

	if (sethostname(r->hostname, strlen(r->hostname)) < 0)
		fail(e, errno, "sethostname");
	snprintf(text, sizeof(text), "%s\n", r->hostname);
	if (lstat(HOSTNAME_FILE, &st) == 0 && (rc = write_atomic(HOSTNAME_FILE, text, 0644)) < 0)
		fail(e, -rc, HOSTNAME_FILE);
	snprintf(text, sizeof(text), "%s\n", r->machine_id);
	/* 0444, as systemd-machine-id-setup leaves it */
	if ((rc = write_atomic(MACHINE_ID_FILE, text, 0444)) < 0)
		fail(e, -rc, MACHINE_ID_FILE);
}

/* After the reply (this is the connection's own process, forked for it):
 * one syncfs of the file system holding /etc, instead of an fsync per
 * file before it. Only a guest that dies within ext4's commit interval
 * of a restore can lose the files' new content, and then the sandbox is
 * the template's identity on its next (cold) boot, as if not restored. */
static void flush_identity(void)
{
	int fd = open("/etc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0 || syncfs(fd) < 0)
		agent_log("restored: flushing /etc: %s", strerror(errno));
	if (fd >= 0)
		close(fd);
}

void restored_serve(int fd, const struct proto_frame *req, bool apply)
{
	struct proto_restored r;
	struct step_err e = { 0 };
	int rc = proto_dec_restored(req, &r);

	if (rc < 0) {
		proto_send_error(fd, -rc, "malformed RESTORED frame");
		return;
	}
	/* With --listen the agent is a host process: never touch the host's
	 * RNG, clock or hostname. */
	if (!apply) {
		proto_send_error(fd, EPERM,
				 "RESTORED: only silo-init as the guest's PID 1 applies it");
		return;
	}
	reseed(&r, &e);
	struct timespec ts = { .tv_sec = (time_t)r.realtime_sec, .tv_nsec = r.realtime_nsec };
	if (clock_settime(CLOCK_REALTIME, &ts) < 0)
		fail(&e, errno, "clock_settime");
	set_identity(&r, &e);
	explicit_bzero(&r.entropy, sizeof(r.entropy));
	if (e.code) {
		proto_send_error(fd, e.code, "%s", e.msg);
		return;
	}
	agent_log("restored: RNG reseeded, clock set, hostname %s", r.hostname);
	proto_send_empty(fd, PT_DONE);
	flush_identity();
}
