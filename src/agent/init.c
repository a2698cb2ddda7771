/* init.c: PID-1 duties of silo-init: mounts, root filesystem, loopback,
 * hostname, RNG seeding, and the power-off sequence.
 *
 * Kernel command line (read from /proc/cmdline; the words are named in
 * proto/contract.h, which the host builds it from):
 *   silo.base=/dev/vda      read-only ext4 base image (shared by all sandboxes)
 *   silo.scratch=/dev/vdb   per-sandbox disk: overlay upper layer; formatted
 *                           on first boot with the base image's /sbin/mke2fs
 *   silo.hostname=NAME      default "sandbox"
 *   silo.idle_trim=SECONDS  give page cache back to the host after this long
 *                           idle (trim.c); absent or 0: never
 *   silo.docker=0           do not start the base image's Docker daemon (a
 *                           sandbox that needs no containers starts lighter)
 *   silo.net=1              give the guest its network (net.c): egress over
 *                           vsock to the host broker; absent: no network
 * (or from $SILO_INIT_CMDLINE, for tests that run us in a namespace).
 * Without silo.base/silo.scratch we stay on the initramfs (test mode).
 * Failures are logged and we carry on with less: PID 1 has nowhere to
 * return an error to, and a reachable agent beats a dead guest.
 */
#include "agent/agent.h"
#include "agent/netfwd.h"

#include <fcntl.h>
#include <linux/random.h>
#include <net/if.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/random.h>
#include <sys/reboot.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SILO_DIR    "/.silo" /* our mount points, in every root */
#define BASE_MNT    SILO_DIR "/base"
#define SCRATCH_MNT SILO_DIR "/scratch"
#define NEWROOT	    SILO_DIR "/root"
#define BLANK_CHECK (64 * 1024) /* a scratch disk this zero is new */

struct cmdline {
	char base[64], scratch[64], hostname[64];
	unsigned idle_trim;
	bool no_docker;
	bool net;
};

static int xmount(const char *src, const char *dst, const char *type, unsigned long fl,
		  const char *data)
{
	mkdir(dst, 0755);
	if (mount(src, dst, type, fl, data) < 0 && errno != EBUSY) {
		agent_log("mount %s on %s: %s", type ? type : src, dst, strerror(errno));
		return -errno;
	}
	return 0;
}

/* fds 0-2 must be open before we create any other fd, or a socket could
 * become "stdout" of the commands we run. */
static void std_fds(void)
{
	int fd;
	while ((fd = open("/dev/console", O_RDWR | O_NOCTTY)) >= 0 && fd < 3)
		;
	if (fd > 2)
		close(fd);
	while ((fd = open("/dev/null", O_RDWR)) >= 0 && fd < 3)
		;
	if (fd > 2)
		close(fd);
}

/* The value of a KEY=value word (KEY from proto/contract.h, '=' included),
 * or NULL when w is another word. */
static const char *word_value(const char *w, const char *key)
{
	size_t n = strlen(key);
	return strncmp(w, key, n) ? NULL : w + n;
}

static void read_cmdline(struct cmdline *c)
{
	char buf[4096];
	snprintf(c->hostname, sizeof(c->hostname), "sandbox");
	/* SILO_INIT_CMDLINE replaces /proc/cmdline: tests running us as
         * PID 1 of a namespace use it, and it can itself come from the
         * kernel command line (dot-less key=value words become init's env). */
	const char *env = getenv("SILO_INIT_CMDLINE");
	if (env) {
		snprintf(buf, sizeof(buf), "%s", env);
	} else {
		int fd = open("/proc/cmdline", O_RDONLY | O_CLOEXEC);
		ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;
		if (fd >= 0)
			close(fd);
		buf[n > 0 ? n : 0] = 0;
	}
	for (char *save, *w = strtok_r(buf, " \t\n", &save); w;
	     w = strtok_r(NULL, " \t\n", &save)) {
		const char *v;
		if ((v = word_value(w, SILO_ARG_BASE)))
			snprintf(c->base, sizeof(c->base), "%s", v);
		else if ((v = word_value(w, SILO_ARG_SCRATCH)))
			snprintf(c->scratch, sizeof(c->scratch), "%s", v);
		else if ((v = word_value(w, SILO_ARG_HOSTNAME)))
			snprintf(c->hostname, sizeof(c->hostname), "%s", v);
		else if ((v = word_value(w, SILO_ARG_IDLE_TRIM)))
			c->idle_trim = (unsigned)strtoul(v, NULL, 10);
		else if (!strcmp(w, SILO_ARG_NO_DOCKER))
			c->no_docker = true;
		else if (!strcmp(w, SILO_ARG_NET))
			c->net = true;
	}
}

static bool is_blank(const char *dev)
{
	static uint8_t buf[BLANK_CHECK];
	int fd = open(dev, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	ssize_t n = pread(fd, buf, sizeof(buf), 0);
	close(fd);
	if (n != (ssize_t)sizeof(buf))
		return false;
	for (size_t i = 0; i < sizeof(buf); i++)
		if (buf[i])
			return false;
	return true;
}

/* mke2fs and e2fsck come from the base image (e2fsprogs, present in every
 * Debian root), not from the initramfs: they are dynamically linked, so run
 * them chrooted into the base with /dev and /proc bound in. Returns the
 * tool's wait status, or -errno. */
static int base_tool(char *const argv[])
{
	xmount("/dev", BASE_MNT "/dev", NULL, MS_BIND, NULL);
	xmount("/proc", BASE_MNT "/proc", NULL, MS_BIND, NULL);
	pid_t pid = fork();
	if (pid == 0) {
		if (chroot(BASE_MNT) < 0 || chdir("/") < 0)
			_exit(126);
		execv(argv[0], argv);
		dprintf(2, "silo-init: exec %s in the base image: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	int st = pid > 0 ? agent_wait(pid) : -errno;
	umount2(BASE_MNT "/proc", MNT_DETACH);
	umount2(BASE_MNT "/dev", MNT_DETACH);
	return st;
}

static int format_scratch(const char *dev)
{
	agent_log("formatting blank scratch disk %s", dev);
	int st = base_tool((char *[]){ "/sbin/mke2fs", "-q", "-F", "-t", "ext4", "-L",
				       "silo-scratch", (char *)dev, NULL });
	if (st != 0) {
		agent_log("mke2fs %s failed (status %d)", dev, st);
		return -EIO;
	}
	return 0;
}

/* Check the scratch disk before mounting it. A sandbox killed mid-write, or
 * whose host disk filled up (the guest's writes then failed with EIO), can
 * leave errors the journal does not cover; ext4 would find them later, at a
 * worse time. -p (preen) repairs what is safe without a person and only
 * reads the superblock when the fs is clean, so a normal boot pays almost
 * nothing. Exit codes, e2fsck(8): 0 clean, 1 errors corrected, 2 corrected
 * (reboot: not needed, nothing is mounted yet), 4 left uncorrected, 8 and
 * up, e2fsck itself failed. Either way we mount and carry on: a sandbox
 * with a damaged disk still beats one that does not boot, and the console
 * says what happened. */
static void check_scratch(const char *dev)
{
	int st = base_tool((char *[]){ "/sbin/e2fsck", "-p", (char *)dev, NULL });
	int code = st >= 0 && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
	if (code == 0)
		return;
	if (code == 1 || code == 2)
		agent_log("fsck: scratch disk %s had errors, repaired (e2fsck exit %d)", dev, code);
	else
		agent_log("fsck: scratch disk %s has errors e2fsck -p could not repair (exit %d, "
			  "status %d): mounting it anyway",
			  dev, code, st);
}

/* Leave the initramfs for overlay(base ro, scratch rw). The initramfs is
 * "rootfs", which pivot_root(2) refuses (EINVAL), so the fallback is what
 * switch_root does: move the new root over / and chroot into it. */
static int setup_root(const struct cmdline *c)
{
	int rc;
	mkdir(SILO_DIR, 0700);
	if ((rc = xmount(c->base, BASE_MNT, "ext4", MS_RDONLY, "")) < 0)
		return rc;
	if (is_blank(c->scratch)) {
		if ((rc = format_scratch(c->scratch)) < 0)
			return rc;
	} else {
		check_scratch(c->scratch);
	}
	if ((rc = xmount(c->scratch, SCRATCH_MNT, "ext4", MS_NOATIME, "")) < 0)
		return rc;
	mkdir(SCRATCH_MNT "/upper", 0755);
	mkdir(SCRATCH_MNT "/work", 0700);
	if ((rc = xmount("overlay", NEWROOT, "overlay", 0,
			 "lowerdir=" BASE_MNT ",upperdir=" SCRATCH_MNT "/upper,workdir=" SCRATCH_MNT
			 "/work")) < 0)
		return rc;
	/* Keep the disks reachable under /.silo in the new root: the scratch
         * fs is where non-overlay data (e.g. /var/lib/docker) will live. */
	mkdir(NEWROOT SILO_DIR, 0700);
	static const char *moves[][2] = {
		{ "/dev", NEWROOT "/dev" },	{ "/proc", NEWROOT "/proc" },
		{ "/sys", NEWROOT "/sys" },	{ SCRATCH_MNT, NEWROOT SCRATCH_MNT },
		{ BASE_MNT, NEWROOT BASE_MNT },
	};
	for (size_t i = 0; i < sizeof(moves) / sizeof(moves[0]); i++)
		if (xmount(moves[i][0], moves[i][1], NULL, MS_MOVE, NULL) < 0)
			agent_log("continuing without %s in the new root", moves[i][0]);
	if (chdir(NEWROOT) < 0)
		return -errno;
	if (syscall(SYS_pivot_root, ".", ".") == 0) {
		umount2(".", MNT_DETACH); /* old root, stacked under the new */
	} else if (mount(".", "/", NULL, MS_MOVE, NULL) < 0 || chroot(".") < 0) {
		rc = -errno;
		agent_log("switching root: %s", strerror(errno));
		return rc;
	}
	return chdir("/") < 0 ? -errno : 0;
}

static void loopback_up(void)
{
	struct ifreq ifr = { 0 };
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
	/* The kernel adds 127.0.0.1/8 and ::1 itself when lo comes up. */
	if (fd < 0 || ioctl(fd, SIOCGIFFLAGS, &ifr) < 0 ||
	    (ifr.ifr_flags |= IFF_UP | IFF_RUNNING, ioctl(fd, SIOCSIFFLAGS, &ifr) < 0))
		agent_log("loopback up: %s", strerror(errno));
	if (fd >= 0)
		close(fd);
}

/* Credit entropy only for bytes from a hardware RNG (virtio-rng); bytes from
 * getrandom() are mixed in without credit, since they came from the pool. */
static void seed_rng(void)
{
	union {
		struct rand_pool_info info;
		uint8_t raw[sizeof(struct rand_pool_info) + 64];
	} u = { 0 };
	uint8_t *data = (uint8_t *)u.info.buf;
	ssize_t n = -1;
	int fd = open("/dev/hwrng", O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (fd >= 0) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		if (poll(&p, 1, 100) > 0)
			n = read(fd, data, 64);
		close(fd);
	}
	if (n > 0) {
		u.info.entropy_count = (int)n * 8;
	} else {
		n = getrandom(data, 64, GRND_NONBLOCK);
		u.info.entropy_count = 0;
	}
	if (n <= 0)
		return;
	u.info.buf_size = (int)n;
	fd = open("/dev/urandom", O_WRONLY | O_CLOEXEC);
	if (fd < 0 || ioctl(fd, RNDADDENTROPY, &u.info) < 0)
		agent_log("seeding the RNG: %s", strerror(errno));
	if (fd >= 0)
		close(fd);
}

/* Transparent huge pages only where a program asks (madvise), not for every
 * anonymous mapping: the host backs guest RAM with 4 KiB pages on first touch,
 * so each 2 MiB page the guest kernel zeroes for a mostly idle dockerd heap
 * costs the host 2 MiB. The guest kernel's build default is "always". */
static void tune_memory(void)
{
	static const char *const knobs[] = {
		"/sys/kernel/mm/transparent_hugepage/enabled",
		"/sys/kernel/mm/transparent_hugepage/defrag",
	};
	for (size_t i = 0; i < sizeof(knobs) / sizeof(knobs[0]); i++) {
		int fd = open(knobs[i], O_WRONLY | O_CLOEXEC);
		if (fd < 0)
			continue; /* kernel without THP: nothing to do */
		if (write(fd, "madvise", 7) != 7)
			agent_log("%s: %s", knobs[i], strerror(errno));
		close(fd);
	}
}

void init_early(void)
{
	umask(022);
	xmount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
	xmount("sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
	xmount("devtmpfs", "/dev", "devtmpfs", MS_NOSUID, "mode=0755");
	std_fds();
}

int init_system(void)
{
	struct cmdline c = { 0 };
	bool on_base = false;
	read_cmdline(&c);
	if (c.base[0] && c.scratch[0]) {
		if (setup_root(&c) < 0)
			agent_log("root filesystem setup failed: staying on the initramfs");
		else
			on_base = true;
	}
	xmount("devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC,
	       "gid=5,mode=620,ptmxmode=666");
	xmount("shm", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777");
	xmount("tmpfs", "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755");
	xmount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777");
	xmount("cgroup2", "/sys/fs/cgroup", "cgroup2", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
	loopback_up();
	if (sethostname(c.hostname, strlen(c.hostname)) < 0)
		agent_log("sethostname: %s", strerror(errno));
	seed_rng();
	tune_memory();
	trim_configure(c.idle_trim);
	trim_kernel_setup();
	/* The network before Docker: dockerd copies resolv.conf into its
         * containers and adds its iptables chains next to ours (net.c). The
         * tools it runs come from the base image, so not in test mode. */
	if (on_base && c.net) {
		net_setup();
		net_start();
	}
	if (on_base && !c.no_docker)
		trim_after(docker_start());
	return 0;
}

static void reap_all(int ms)
{
	struct timespec ts = { 0, 20 * 1000 * 1000 };
	for (int waited = 0; waited < ms; waited += 20) {
		while (waitpid(-1, NULL, WNOHANG) > 0)
			;
		if (waitpid(-1, NULL, WNOHANG) < 0 && errno == ECHILD)
			return;
		nanosleep(&ts, NULL);
	}
}

/* Unmount in reverse mount order, so children go before parents. "/" and
 * filesystems still busy stay, but are synced; a clean ext4 journal is what
 * the next boot needs. */
static void unmount_all(void)
{
	static char buf[64 * 1024];
	char *lines[512];
	int n = 0, fd = open("/proc/self/mounts", O_RDONLY | O_CLOEXEC);
	ssize_t len = 0, r;
	while (fd >= 0 && len < (ssize_t)sizeof(buf) - 1 &&
	       (r = read(fd, buf + len, sizeof(buf) - 1 - (size_t)len)) > 0)
		len += r;
	if (fd >= 0)
		close(fd);
	buf[len] = 0;
	for (char *save, *l = strtok_r(buf, "\n", &save); l && n < 512;
	     l = strtok_r(NULL, "\n", &save))
		lines[n++] = l;
	while (n-- > 0) {
		char *target = strchr(lines[n], ' ');
		if (!target)
			continue;
		target++;
		*strchrnul(target, ' ') = 0;
		if (strcmp(target, "/") && umount2(target, 0) < 0)
			mount(NULL, target, NULL, MS_REMOUNT | MS_RDONLY, NULL);
	}
	mount(NULL, "/", NULL, MS_REMOUNT | MS_RDONLY, NULL);
}

void init_poweroff(void)
{
	agent_log("shutting down");
	kill(-1, SIGTERM);
	reap_all(10000); /* dockerd stops its containers first: let it */
	kill(-1, SIGKILL);
	reap_all(1000);
	sync();
	unmount_all();
	sync();
	/* The VMM has no power-off device: with reboot=k on the kernel
         * command line this reboot resets through the i8042, which the VMM
         * treats as "VM exited" (docs/silo-vmm.md, exit code 0). */
	reboot(RB_AUTOBOOT);
	for (;;)
		pause();
}
