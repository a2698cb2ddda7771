/* trim.c: give the guest's page cache back to the host when the sandbox idles.
 *
 * What an idle sandbox costs the host is every guest page it ever touched
 * (docs/memory.md). Most of an idle Docker sandbox's is page cache: the
 * daemons' binaries as they started, files a command read. The host holds
 * the same blocks in its own page cache already (the base image is one file
 * shared by every sandbox), so once the work is done the guest's copy is pure
 * cost. A trim asks the guest kernel to reclaim what it can: cgroup v2
 * memory.reclaim on the root cgroup (Linux 5.19+; with no swap only clean
 * file pages and slab go), and free page reporting (virtio-balloon, VIRTIO
 * 1.2 §5.5.6.7) hands the freed pages to silo-vmm, which drops them.
 *
 * Reclaim frees pages one by one into a fragmented buddy allocator, and the
 * kernel reports only free blocks of page_reporting_order and up (2 MiB by
 * default, sized for hosts that back guests with huge pages). silo-vmm backs
 * guest RAM with 4 KiB pages (src/vmm/vm.c), so we lower the order to 0: a
 * reported 4 KiB page frees a whole host page. Measured in the lab, an idle
 * Docker sandbox: 201 560 KiB resident before a trim, 111 380 KiB after.
 *
 * When (silo.idle_trim=SECONDS on the kernel command line; absent or 0: never,
 * so tests running silo-init on a host never touch the host's memory):
 *  - when the Docker watcher exits: the boot's burst of reads is over;
 *  - after agent work: no session open and none started for SECONDS.
 * Never while a session runs: a build's sources would be read again. A
 * kernel without memory.reclaim gets one line on the console and no trims.
 * The trim runs in a child of PID 1, which keeps serving meanwhile.
 *
 * A session that starts while a trim runs stops it. Reclaim evicts what the
 * session is about to run, and the session's faults bring it back for the
 * reclaim to evict again: an exec that arrived as a trim began took 10-12 s
 * in the lab instead of 0.8 s. So the child asks for TRIM_CHUNK at a time
 * (the kernel checks for a pending signal between its reclaim passes, and a
 * chunk bounds one pass), and trim_session() kills it. What it left undone
 * waits for the next idle period.
 */
#include "agent/agent.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/sysinfo.h>
#include <time.h>
#include <unistd.h>

#define RECLAIM	     "/sys/fs/cgroup/memory.reclaim"
#define REPORT_ORDER "/sys/module/page_reporting/parameters/page_reporting_order"
#define MAX_BUSY     256	/* sessions tracked; more still count as busy */
#define TRIM_CHUNK   (8u << 20) /* bytes per memory.reclaim write */

static struct {
	unsigned idle_s;      /* 0: trimming off */
	pid_t busy[MAX_BUSY]; /* sessions, the Docker watcher, a running trim */
	unsigned nbusy, untracked;
	pid_t watcher;
	pid_t trimmer;	  /* the running trim, stopped by a new session */
	bool dirty;	  /* work since the last trim */
	long quiet_since; /* ms: when the last session ended or started */
} t;

/* 0, or -errno; logs all but EAGAIN, memory.reclaim's "freed less than
 * asked", which ends a trim. */
static int write_knob(const char *path, const char *val)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC), ret = 0;

	if (fd < 0 || write(fd, val, strlen(val)) < 0) {
		ret = -errno;
		if (errno != EAGAIN)
			agent_log("%s: %s", path, strerror(errno));
	}
	if (fd >= 0)
		close(fd);
	return ret;
}

void trim_configure(unsigned idle_s)
{
	memset(&t, 0, sizeof(t));
	t.idle_s = idle_s;
}

void trim_kernel_setup(void)
{
	if (!t.idle_s)
		return;
	if (access(RECLAIM, W_OK) < 0) { /* Linux < 5.19, or no cgroup2 */
		agent_log("%s: %s: no idle trims", RECLAIM, strerror(errno));
		t.idle_s = 0;
		return;
	}
	write_knob(REPORT_ORDER, "0");
}

static void busy_add(pid_t pid)
{
	if (t.nbusy < MAX_BUSY)
		t.busy[t.nbusy++] = pid;
	else
		t.untracked++;
}

void trim_session(pid_t pid)
{
	if (!t.idle_s)
		return;
	if (t.trimmer > 0)
		kill(t.trimmer, SIGKILL); /* reaped, and forgotten, by trim_reaped() */
	busy_add(pid);
	t.dirty = true;
	t.quiet_since = agent_now_ms();
}

void trim_after(pid_t watcher)
{
	if (!t.idle_s || watcher <= 0)
		return;
	busy_add(watcher);
	t.watcher = watcher;
}

void trim_reaped(pid_t pid)
{
	for (unsigned i = 0; i < t.nbusy; i++) {
		if (t.busy[i] != pid)
			continue;
		t.busy[i] = t.busy[--t.nbusy];
		t.quiet_since = agent_now_ms();
		if (pid == t.trimmer)
			t.trimmer = 0;
		if (pid == t.watcher) { /* Docker is up (or gave up): trim now */
			t.watcher = 0;
			t.dirty = true;
			t.quiet_since -= t.idle_s * 1000L;
		}
		return;
	}
	/* A session we could not track ended: an orphan's exit looks the same,
	 * so this only ever lets the count reach zero a little early. */
	if (t.untracked)
		t.untracked--;
}

int trim_poll_ms(void)
{
	if (!t.idle_s || !t.dirty || t.nbusy || t.untracked)
		return -1;
	long left = t.quiet_since + t.idle_s * 1000L - agent_now_ms();
	return left <= 0 ? 0 : left > INT_MAX ? INT_MAX : (int)left;
}

void trim_started(pid_t pid)
{
	t.dirty = false;
	t.trimmer = pid;
	busy_add(pid); /* no second trim while this one runs */
}

void trim_tick(void)
{
	if (trim_poll_ms() != 0)
		return;
	struct sysinfo si;
	char chunk[16];
	pid_t pid;

	if (sysinfo(&si) < 0)
		return;
	pid = fork();
	if (pid == 0) {
		/* Chunks until the kernel frees less than one (EAGAIN), or all
		 * of RAM has been asked for. */
		unsigned long long total = (unsigned long long)si.totalram * si.mem_unit;

		snprintf(chunk, sizeof(chunk), "%u", TRIM_CHUNK);
		for (unsigned long long done = 0; done < total; done += TRIM_CHUNK)
			if (write_knob(RECLAIM, chunk) < 0)
				break;
		_exit(0);
	}
	if (pid < 0) {
		agent_log("trim: fork: %s", strerror(errno));
		t.quiet_since = agent_now_ms(); /* try again after another idle period */
		return;
	}
	trim_started(pid);
}
