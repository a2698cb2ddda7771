/* silo-agent.c: silo-agent, a developer command for driving the guest agent.
 *
 *   silo-agent SOCK ping
 *   silo-agent SOCK exec [-t] [-i] [-e K=V]... [-w DIR] [-u USER] [-T MS] -- CMD...
 *   silo-agent SOCK put-tar DIR < tar       silo-agent SOCK get-tar PATH > tar
 *   silo-agent SOCK put SRC DST             silo-agent SOCK get SRC DST
 *   silo-agent SOCK stat P | ls P | mkdir [-p] [-m MODE] P | rm [-r] P | shutdown
 *   silo-agent SOCK rt N                    N timed pings and execs of `true`
 *   silo-agent SOCK restored HOSTNAME [MACHINE_ID]   after a snapshot restore:
 *                                           new entropy, clock and identity
 *
 * SOCK is vsock:PATH (a VMM's vsock socket) or unix:PATH (silo-init --listen).
 * Exit status: exec returns the command's status (128+N if killed by signal
 * N, 127 if it was not found, 126 if it could not be started); everything
 * else 0 on success; 125 for errors of silo-agent itself or the transport,
 * with one line on stderr. Signals, terminal and exit status of exec are
 * silo exec's: the same front end (client/exec_fe.h).
 */
#include "client/client.h"
#include "client/exec_fe.h"

#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define EXIT_OWN ACLIENT_EXIT_OWN

static int die(const struct aclient_err *e)
{
	fprintf(stderr, "silo-agent: %s\n", e->msg);
	return EXIT_OWN;
}

static int usage(void)
{
	fprintf(stderr,
		"usage: silo-agent SOCK CMD [ARGS]   (SOCK = vsock:PATH | unix:PATH)\n"
		"  ping\n"
		"  exec [-t] [-i] [-e K=V]... [-w DIR] [-u USER] [-T TIMEOUT_MS] -- CMD [ARG]...\n"
		"  put-tar DIR < TAR          get-tar PATH > TAR\n"
		"  put LOCAL REMOTE           get REMOTE LOCAL\n"
		"  stat PATH | ls PATH | mkdir [-p] [-m MODE] PATH | rm [-r] PATH | shutdown\n"
		"  rt N                       time N pings and N execs of true (JSON, ms)\n"
		"  restored HOSTNAME [MACHINE_ID]   after a restore: entropy, clock, identity\n");
	return EXIT_OWN;
}

static int cmd_exec(const char *addr, int argc, char **argv)
{
	struct aclient_exec_opts o = { .in_fd = -1, .out_fd = 1, .err_fd = 2 };
	const char *env[256];
	size_t nenv = 0;
	bool interactive = false;
	int c;
	optind = 1;
	while ((c = getopt(argc, argv, "+tie:w:u:T:")) != -1) {
		switch (c) {
		case 't':
			o.tty = true;
			break;
		case 'i':
			interactive = true;
			break;
		case 'e':
			if (nenv + 1 >= sizeof(env) / sizeof(env[0]) || !strchr(optarg, '=') ||
			    optarg[0] == '=') {
				fprintf(stderr, "silo-agent: -e wants K=V (at most 255)\n");
				return EXIT_OWN;
			}
			env[nenv++] = optarg;
			break;
		case 'w':
			o.cwd = optarg;
			break;
		case 'u':
			o.user = optarg;
			break;
		case 'T':
			o.timeout_ms = (uint32_t)strtoul(optarg, NULL, 10);
			break;
		default:
			return usage();
		}
	}
	if (optind >= argc)
		return usage();
	env[nenv] = NULL;
	o.argv = (const char *const *)argv + optind;
	o.env = env;
	if (interactive)
		o.in_fd = 0;

	struct aclient_err err = { 0 };
	struct proto_exit x;
	int rc = aclient_exec_fe(addr, &o, &x, &err);
	if (rc < 0)
		fprintf(stderr, "silo-agent: %s\n", err.msg);
	else if (x.flags & EXIT_F_TIMEOUT)
		fprintf(stderr, "silo-agent: command timed out after %u ms\n", o.timeout_ms);
	return aclient_exit_status(rc, &x, &err);
}

static void print_mode(uint32_t m, char out[11])
{
	const char *t = "?-dlcbps";
	int ti = S_ISREG(m)    ? 1
		 : S_ISDIR(m)  ? 2
		 : S_ISLNK(m)  ? 3
		 : S_ISCHR(m)  ? 4
		 : S_ISBLK(m)  ? 5
		 : S_ISFIFO(m) ? 6
		 : S_ISSOCK(m) ? 7
			       : 0;
	out[0] = t[ti];
	for (int i = 0; i < 9; i++)
		out[1 + i] = (m & (0400u >> i)) ? "rwx"[i % 3] : '-';
	out[10] = 0;
}

static void print_stat(const struct proto_stat *s, const char *name)
{
	char mode[11], when[32];
	time_t t = (time_t)s->mtime_sec;
	struct tm tm;
	print_mode(s->mode, mode);
	strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", gmtime_r(&t, &tm));
	printf("%s %04o %5u %5u %12llu %s %s%s%s\n", mode, s->mode & 07777, s->uid, s->gid,
	       (unsigned long long)s->size, when, name, s->link[0] ? " -> " : "", s->link);
}

struct entries {
	struct aclient_stat *v;
	size_t n, cap;
};

static int collect(const struct proto_stat *st, void *arg)
{
	struct entries *e = arg;
	if (e->n == e->cap) {
		size_t cap = e->cap ? e->cap * 2 : 64;
		struct aclient_stat *v = realloc(e->v, cap * sizeof(*v));
		if (!v)
			return -1;
		e->v = v, e->cap = cap;
	}
	struct aclient_stat *a = &e->v[e->n++];
	a->st = *st;
	snprintf(a->name, sizeof(a->name), "%s", st->name);
	snprintf(a->link, sizeof(a->link), "%s", st->link);
	return 0;
}

static int by_name(const void *a, const void *b)
{
	const struct aclient_stat *x = a, *y = b;
	return strcmp(x->name, y->name);
}

static int cmd_ls(const char *addr, const char *path)
{
	struct entries e = { 0 };
	struct aclient_err err;
	int rc = aclient_list(addr, path, collect, &e, &err);
	if (rc == 0) {
		qsort(e.v, e.n, sizeof(*e.v), by_name);
		for (size_t i = 0; i < e.n; i++) {
			e.v[i].st.link = e.v[i].link;
			print_stat(&e.v[i].st, e.v[i].name);
		}
	}
	free(e.v);
	return rc == 0 ? 0 : die(&err);
}

static int cmd_put(const char *addr, const char *src, const char *dst)
{
	struct aclient_err err;
	struct stat st;
	int fd = open(src, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		fprintf(stderr, "silo-agent: %s: %s\n", src, strerror(errno));
		return EXIT_OWN;
	}
	int rc = aclient_put_file(addr, fd, st.st_mode & 07777, dst, &err);
	close(fd);
	return rc == 0 ? 0 : die(&err);
}

/* Into a temporary name first, so a failed download never leaves a
 * truncated file under the name the user asked for. */
static int cmd_get(const char *addr, const char *src, const char *dst)
{
	struct aclient_err err;
	char tmp[4096];
	uint32_t mode = 0644;
	snprintf(tmp, sizeof(tmp), "%s.silo-tmp.%d", dst, (int)getpid());
	int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		fprintf(stderr, "silo-agent: %s: %s\n", tmp, strerror(errno));
		return EXIT_OWN;
	}
	int rc = aclient_get_file(addr, src, fd, &mode, &err);
	if (rc == 0 && (fchmod(fd, mode & 07777) < 0 || close(fd) < 0 || rename(tmp, dst) < 0)) {
		snprintf(err.msg, sizeof(err.msg), "%s: %s", dst, strerror(errno));
		rc = -1;
		fd = -1;
	} else if (rc == 0) {
		return 0;
	}
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	return die(&err);
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int by_value(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* rt N: round trips timed inside this process with the client library,
 * each on a new stream as `silo exec` does: ping, and exec of `true` to its
 * EXIT. What a `silo exec` costs minus spawning the client, without the
 * overhead of an interpreter around the protocol (bench/agent.py). */
static int cmd_rt(const char *addr, const char *count)
{
	char *end;
	long n = strtol(count, &end, 10);
	if (*end || n < 1 || n > 100000)
		return usage();
	static const char *const argv[] = { "true", NULL };
	struct aclient_exec_opts o = {
		.argv = argv, .in_fd = -1, .out_fd = -1, .err_fd = -1, .sig_fd = -1, .tty_fd = -1
	};
	double *t = calloc((size_t)n, sizeof(*t));
	struct aclient_err err = { 0 };
	const char *names[] = { "ping", "exec" };
	if (!t)
		return perror("silo-agent"), EXIT_OWN;
	printf("{");
	for (int kind = 0; kind < 2; kind++) {
		for (long i = -5; i < n; i++) { /* 5 untimed warm-up rounds */
			double t0 = now_s();
			struct proto_exit x;
			uint32_t v;
			int rc = kind ? aclient_exec(addr, &o, &x, &err)
				      : aclient_ping(addr, &v, &err);
			if (rc == 0 && kind && (x.flags || x.code)) {
				snprintf(err.msg, sizeof(err.msg), "exec true: exit %d, flags %#x",
					 x.code, x.flags);
				rc = -1;
			}
			if (rc < 0)
				return free(t), die(&err);
			if (i >= 0)
				t[i] = (now_s() - t0) * 1e3;
		}
		qsort(t, (size_t)n, sizeof(*t), by_value);
		printf("%s\"%s_rt_median_ms\": %.3f, \"%s_rt_p99_ms\": %.3f", kind ? ", " : "",
		       names[kind], n % 2 ? t[n / 2] : (t[n / 2 - 1] + t[n / 2]) / 2, names[kind],
		       t[(n * 99 + 99) / 100 - 1]);
	}
	printf(", \"count\": %ld}\n", n);
	free(t);
	return 0;
}

int main(int argc, char **argv)
{
	struct aclient_err err = { 0 };
	if (argc < 3)
		return usage();
	const char *addr = argv[1], *cmd = argv[2];
	int n = argc - 3;
	char **a = argv + 3;
	signal(SIGPIPE, SIG_IGN);

	if (!strcmp(cmd, "exec"))
		return cmd_exec(addr, argc - 2, argv + 2);
	if (!strcmp(cmd, "ping") && n == 0) {
		uint32_t v;
		if (aclient_ping(addr, &v, &err) < 0)
			return die(&err);
		printf("pong (protocol version %u)\n", v);
		return 0;
	}
	if (!strcmp(cmd, "put-tar") && n == 1)
		return aclient_put_tar(addr, a[0], 0, &err) < 0 ? die(&err) : 0;
	if (!strcmp(cmd, "get-tar") && n == 1)
		return aclient_get_tar(addr, a[0], 1, &err) < 0 ? die(&err) : 0;
	if (!strcmp(cmd, "put") && n == 2)
		return cmd_put(addr, a[0], a[1]);
	if (!strcmp(cmd, "get") && n == 2)
		return cmd_get(addr, a[0], a[1]);
	if (!strcmp(cmd, "stat") && n == 1) {
		struct aclient_stat st;
		if (aclient_stat(addr, a[0], false, &st, &err) < 0)
			return die(&err);
		print_stat(&st.st, a[0]);
		return 0;
	}
	if (!strcmp(cmd, "ls") && n == 1)
		return cmd_ls(addr, a[0]);
	if (!strcmp(cmd, "mkdir") || !strcmp(cmd, "rm")) {
		bool flag = false;
		uint32_t mode = 0755;
		int c;
		optind = 1;
		while ((c = getopt(argc - 2, argv + 2, "+prm:")) != -1) {
			if (c == 'm')
				mode = (uint32_t)strtoul(optarg, NULL, 8);
			else if ((c == 'p' && cmd[0] == 'm') || (c == 'r' && cmd[0] == 'r'))
				flag = true;
			else
				return usage();
		}
		if (optind != argc - 3)
			return usage();
		const char *p = argv[2 + optind];
		int rc = cmd[0] == 'm' ? aclient_mkdir(addr, p, mode, flag, &err)
				       : aclient_remove(addr, p, flag, &err);
		return rc < 0 ? die(&err) : 0;
	}
	if (!strcmp(cmd, "rt") && n == 1)
		return cmd_rt(addr, a[0]);
	if (!strcmp(cmd, "shutdown") && n == 0)
		return aclient_shutdown(addr, &err) < 0 ? die(&err) : 0;
	if (!strcmp(cmd, "restored") && (n == 1 || n == 2))
		return aclient_restored(addr, a[0], n == 2 ? a[1] : NULL, &err) < 0 ? die(&err) : 0;
	return usage();
}
