/* sb_concurrent.c: one process drives N sandboxes at once through the
 * sandbox library, one thread each, as `silo serve` will (issue 21): create,
 * start, a command in the guest, a file copied out, an error of its own,
 * stop, remove. tests/e2e/test_library.py runs it in the lab and checks that
 * nothing is left behind.
 *
 *   sb_concurrent N DATA_DIR RUN_DIR
 *
 * Like any program on the library it passes its settings in (the library
 * reads no environment) and answers "_supervise" as silo does, since
 * sb_start runs this executable as the sandbox's supervisor. Prints one
 * line per thread, "ok NAME" or "FAIL NAME: why"; exits 0 when all are ok.
 */
#include "sandbox/sandbox.h"
#include "sandbox/extract.h"
#include "client/client.h"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_THREADS 16

struct job {
	const struct sb_paths *paths;
	char name[32];
	char why[512];
	/* each thread's own: cancelling one request never stops another */
	volatile sig_atomic_t cancel;
	struct sb_opts opts;
};

struct rx_src {
	struct aclient_rx *rx;
	struct aclient_err e;
};

static long rx_read(void *arg, const void **buf)
{
	struct rx_src *s = arg;
	long n = aclient_rx_read(s->rx, buf, &s->e);
	if (n < 0)
		sb_fail("copy: %s", s->e.msg);
	return n;
}

/* The guest's /tmp/who as a tar, unpacked under <run>/<name>.out:
 * sb_extract_tar works in the thread's own working directory. */
static int copy_out(struct sandbox *sb, char *got, size_t n)
{
	char dir[SB_PATH_MAX + 8], f[SB_PATH_MAX + 32];
	struct sb_extract x = { .max_bytes = 1 << 20 };
	struct rx_src s = { 0 };
	int rc = -1;

	snprintf(dir, sizeof(dir), "%s.out", sb->rundir);
	if (mkdir(dir, 0700) < 0)
		return sb_fail("mkdir %s: %m", dir);
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	s.rx = aclient_rx_tar(sb->addr, "/tmp/who", &s.e);
	if (!s.rx)
		sb_fail("copy: %s", s.e.msg);
	else if (sb_extract_tar(dfd, rx_read, &s, &x) == 0)
		rc = 0;
	if (s.rx)
		aclient_rx_close(s.rx);
	close(dfd);
	char *text = NULL;
	snprintf(f, sizeof(f), "%s/who", dir);
	if (rc == 0 && sb_read_file(f, &text, NULL) == 0) {
		snprintf(got, n, "%s", text);
		free(text);
	} else if (rc == 0) {
		rc = -1;
	}
	unlink(f);
	rmdir(dir);
	return rc;
}

/* The CLI's run and rm, step by step (src/cli/run.c, rm.c). */
static int one_sandbox(struct job *j)
{
	struct sandbox sb;
	struct sb_config cfg;
	char *out = NULL, other[64], got[64] = "";
	int rc = -1;

	sb_config_init(&cfg);
	cfg.no_docker = true;
	cfg.memory = 256ull << 20;
	if (sb_create(&sb, j->paths, j->name, &cfg, NULL) < 0)
		return -1;
	sb_close(&sb);
	if (sb_open(&sb, j->paths, j->name, true) < 0)
		return -1;
	sb.opts = &j->opts;
	if (sb_start(&sb) < 0)
		goto remove;
	/* the guest is this sandbox's: its hostname is our name */
	if (sb_guest_sh(&sb, "hostname | tee /tmp/who", &out, NULL) != 0)
		goto remove;
	if (strncmp(out, j->name, strlen(j->name)) || out[strlen(j->name)] != '\n') {
		sb_fail("hostname says '%s', not %s", out, j->name);
		goto remove;
	}
	if (copy_out(&sb, got, sizeof(got)) < 0)
		goto remove;
	if (strncmp(got, j->name, strlen(j->name))) {
		sb_fail("copied hostname says '%s', not %s", got, j->name);
		goto remove;
	}
	/* an error of this thread's: the message is its own, whatever the
	 * others fail with meanwhile */
	snprintf(other, sizeof(other), "%s-missing", j->name);
	struct sandbox none;
	if (sb_open(&none, j->paths, other, false) == 0) {
		sb_close(&none);
		sb_fail("sandbox %s should not exist", other);
		goto remove;
	}
	if (!strstr(sb_errmsg(), other)) {
		sb_fail("the error '%s' is not about %s", sb_errmsg(), other);
		goto remove;
	}
	rc = 0;
remove:
	free(out);
	if (rc < 0)
		snprintf(j->why, sizeof(j->why), "%s", sb_errmsg());
	if (sb_stop(&sb, 10) < 0 || sb_remove(&sb) < 0) {
		if (rc == 0)
			snprintf(j->why, sizeof(j->why), "remove: %s", sb_errmsg());
		rc = -1;
	}
	sb_close(&sb);
	sb_config_free(&cfg);
	return rc;
}

static void *run_job(void *arg)
{
	struct job *j = arg;
	if (one_sandbox(j) < 0 && !j->why[0])
		snprintf(j->why, sizeof(j->why), "%s", sb_errmsg());
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc >= 2 && !strcmp(argv[1], "_supervise"))
		sb_supervise_main(argc - 2, argv + 2);
	signal(SIGPIPE, SIG_IGN);
	int n = argc == 4 ? atoi(argv[1]) : 0;
	if (n < 1 || n > MAX_THREADS) {
		fprintf(stderr, "usage: sb_concurrent N(1..%d) DATA_DIR RUN_DIR\n", MAX_THREADS);
		return 2;
	}
	/* the lab's guest command line, and where silo's parts are */
	const char *bt = getenv("SILO_BOOT_TIMEOUT");
	struct sb_settings set = { .data_flag = argv[2],
				   .run_flag = argv[3],
				   .vmm = getenv("SILO_VMM"),
				   .guest_dir = getenv("SILO_GUEST_DIR"),
				   .boot_timeout = bt ? atoi(bt) : 0,
				   .cmdline_extra = getenv("SILO_GUEST_CMDLINE_EXTRA") };
	struct sb_paths paths;
	if (sb_paths_init(&paths, &set) < 0 || sb_check_host(&paths) < 0) {
		fprintf(stderr, "sb_concurrent: %s\n", sb_errmsg());
		return 1;
	}
	struct job jobs[MAX_THREADS];
	pthread_t th[MAX_THREADS];
	for (int i = 0; i < n; i++) {
		jobs[i] = (struct job){ .paths = &paths };
		jobs[i].opts.cancel = &jobs[i].cancel;
		snprintf(jobs[i].name, sizeof(jobs[i].name), "conc-%d", i);
		if (pthread_create(&th[i], NULL, run_job, &jobs[i])) {
			fprintf(stderr, "sb_concurrent: pthread_create failed\n");
			return 1;
		}
	}
	int bad = 0;
	for (int i = 0; i < n; i++) {
		pthread_join(th[i], NULL);
		if (jobs[i].why[0])
			printf("FAIL %s: %s\n", jobs[i].name, jobs[i].why);
		else
			printf("ok %s\n", jobs[i].name);
		bad += jobs[i].why[0] != 0;
	}
	return bad ? 1 : 0;
}
