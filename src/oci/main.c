/* main.c: silo-runtime's subcommands (runc's command line: args.c) and
 * what they share: the log, the state directory, the relay's liveness.
 *
 * Errors: exit status 1 and one line, both on stderr and as runc's JSON
 * log line in --log (containerd's runc shim reports the last "error" line
 * of that file to its user). What a VM cannot do (pause, checkpoint)
 * fails that way at once, never hangs.
 */
#include "oci/rt.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int oci_fail(const struct oci_rt *rt, const char *fmt, ...)
{
	char msg[2048], esc[4096];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* guest and config text may be in it: printable, valid UTF-8 */
	sb_escape(msg, esc, sizeof(esc));
	fprintf(stderr, "silo-runtime: %s\n", esc);
	if (!rt || !rt->a.log)
		return 1;
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	int64_t now = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
	char *line = NULL, text[4200];
	if (rt->a.log_format && !strcmp(rt->a.log_format, "json")) {
		if (oci_log_line("error", esc, now, &line) < 0)
			return 1;
	} else {
		char t[64];
		oci_time_text(now, t, sizeof(t));
		snprintf(text, sizeof(text), "time=\"%s\" level=error msg=\"%s\"\n", t, esc);
	}
	const char *out = line ? line : text;
	int fd = open(rt->a.log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (fd >= 0) {
		if (write(fd, out, strlen(out)) < 0) {
			/* stderr has it */
		}
		close(fd);
	}
	free(line);
	return 1;
}

int oci_path(const struct oci_rt *rt, char *buf, const char *id, const char *file)
{
	return file ? sb_path(buf, "%s/%s/%s", rt->root, id, file)
		    : sb_path(buf, "%s/%s", rt->root, id);
}

int oci_load(const struct oci_rt *rt, const char *id, struct oci_state *st, char *err, size_t n)
{
	char f[SB_PATH_MAX], *text;
	if (!oci_id_valid(id)) {
		snprintf(err, n, "invalid container id '%s'", id);
		return -1;
	}
	if (oci_path(rt, f, id, OCI_STATE_FILE) < 0) {
		snprintf(err, n, "--root %s: path too long", rt->root);
		return -1;
	}
	if (sb_read_file(f, &text, NULL) < 0)
		return errno == ENOENT ? 1 : (snprintf(err, n, "%s", sb_errmsg()), -1);
	int rc = oci_state_parse(text, st, err, n);
	free(text);
	return rc;
}

bool oci_alive(const struct oci_state *st)
{
	unsigned long long start;
	char state;
	return st->pid > 0 && sb_proc_start(st->pid, &start, &state) == 0 && start == st->start &&
	       state != 'Z' && state != 'X';
}

const char *oci_status(const struct oci_rt *rt, const struct oci_state *st)
{
	char fifo[SB_PATH_MAX];
	if (!oci_alive(st))
		return "stopped";
	return oci_path(rt, fifo, st->id, OCI_FIFO) == 0 && sb_exists(fifo) ? "created" : "running";
}

int oci_write_pid(const char *file, int pid)
{
	char buf[16];
	int len = snprintf(buf, sizeof(buf), "%d", pid);
	if (sb_write_file_atomic(file, buf, (size_t)len) < 0)
		return sb_fail("--pid-file %s: %s", file, sb_errmsg());
	return 0;
}

int oci_load_one(struct oci_rt *rt, const char *usage, struct oci_state *st)
{
	char err[512];
	if (rt->a.noper < 1)
		return oci_fail(rt, "usage: %s", usage);
	int r = oci_load(rt, rt->a.oper[0], st, err, sizeof(err));
	if (r > 0)
		return oci_fail(rt, "container %s does not exist", rt->a.oper[0]);
	return r < 0 ? oci_fail(rt, "%s", err) : 0;
}

static int print_json(json_t *j, size_t flags)
{
	if (!j || json_dumpf(j, stdout, flags) < 0) {
		json_decref(j);
		return 1;
	}
	json_decref(j);
	putchar('\n');
	return fflush(stdout) ? 1 : 0;
}

static int cmd_state(struct oci_rt *rt)
{
	struct oci_state st;
	int r = oci_load_one(rt, "state ID", &st);
	if (r)
		return r;
	r = print_json(oci_state_runc(&st, oci_status(rt, &st)), JSON_INDENT(2));
	oci_state_free(&st);
	return r;
}

static int cmd_kill(struct oci_rt *rt)
{
	struct oci_state st;
	int r = oci_load_one(rt, "kill [--all] ID [SIGNAL]", &st);
	if (r)
		return r;
	const char *name = rt->a.noper > 1 ? rt->a.oper[1] : "SIGTERM";
	int sig = oci_signal_parse(name);
	bool alive = oci_alive(&st);
	oci_state_free(&st);
	if (sig < 0)
		return oci_fail(rt, "invalid signal '%s'", name);
	/* the runc shim takes "container not running" as "process already
	 * finished" */
	if (!alive)
		return oci_fail(rt, "container not running");
	/* --all is the same: everything of the container is behind its relay
	 * (for a VM's owner, the VM) */
	if (sigqueue(st.pid, OCI_RELAY_SIG, (union sigval){ .sival_int = sig }) < 0)
		return errno == ESRCH ? oci_fail(rt, "container not running")
				      : oci_fail(rt, "kill: %s", strerror(errno));
	return 0;
}

/* The host's processes of a container, as runc lists its cgroup's: the
 * relays, and for a VM's owner its silo-vmm and silo-netd (the guest's
 * own processes are behind the VM boundary). Without a cgroup, the relay. */
static json_t *host_pids(const struct oci_state *st, bool alive)
{
	json_t *a = json_array();
	char f[SB_PATH_MAX + 16], *text = NULL;
	if (st->cgroup[0] && snprintf(f, sizeof(f), "%s/cgroup.procs", st->cgroup) > 0 &&
	    sb_read_file(f, &text, NULL) == 0) {
		for (char *p = text, *end; *p; p = end) {
			long pid = strtol(p, &end, 10);
			if (end == p)
				break;
			json_array_append_new(a, json_integer(pid));
		}
		free(text);
	} else if (alive) {
		json_array_append_new(a, json_integer(st->pid));
	}
	return a;
}

static int cmd_ps(struct oci_rt *rt)
{
	struct oci_state st;
	int r = oci_load_one(rt, "ps [--format table|json] ID", &st);
	if (r)
		return r;
	json_t *pids = host_pids(&st, oci_alive(&st));
	oci_state_free(&st);
	const char *fmt = rt->a.format ? rt->a.format : "table";
	if (!strcmp(fmt, "json"))
		return print_json(pids, JSON_COMPACT);
	if (strcmp(fmt, "table")) {
		json_decref(pids);
		return oci_fail(rt, "invalid --format '%s': table or json", fmt);
	}
	printf("PID\n");
	size_t i;
	json_t *v;
	json_array_foreach(pids, i, v)
	{
		printf("%lld\n", (long long)json_integer_value(v));
	}
	json_decref(pids);
	return 0;
}

static int cmd_update(struct oci_rt *rt)
{
	struct oci_state st;
	int r = oci_load_one(rt, "update --resources FILE|- ID", &st);
	if (r)
		return r;
	oci_state_free(&st);
	if (!rt->a.resources)
		return oci_fail(rt, "update takes --resources FILE (or - for stdin) only");
	json_error_t je;
	json_t *j = !strcmp(rt->a.resources, "-") ? json_loadf(stdin, 0, &je)
						  : json_load_file(rt->a.resources, 0, &je);
	if (!json_is_object(j)) {
		json_decref(j);
		return oci_fail(rt, "--resources: not a JSON object (%s)", je.text);
	}
	json_decref(j);
	/* A VM's vCPUs and RAM are fixed when it boots (docs/containerd.md):
	 * the new limits are taken and apply to nothing inside. */
	return 0;
}

static int cmd_features(void)
{
	json_t *j = json_pack("{s:s, s:s, s:[], s:[s,s,s,s], s:{s:b}, s:{s:s}}", "ociVersionMin",
			      "1.0.0", "ociVersionMax", "1.1.0", "hooks", "mountOptions", "bind",
			      "rbind", "ro", "rw", "linux", "enabled", 0, "annotations",
			      "dev.silo.runtime", "microVM");
	return print_json(j, JSON_INDENT(2));
}

/* What runc has and a VM cannot: refused, with why. */
static const struct {
	const char *cmd, *why;
} refused[] = {
	{ "pause", "a silo VM is paused with 'silo pause', not through the OCI runtime" },
	{ "resume", "a silo VM is resumed with 'silo resume', not through the OCI runtime" },
	{ "checkpoint", "silo keeps VM snapshots as templates ('silo template build')" },
	{ "restore", "silo restores VM snapshots from templates (annotation dev.silo.template)" },
	{ "events", "silo-runtime reports no events; the shim reads the container's cgroup" },
	{ "run", "use create and start" },
	{ "spec", "write config.json with your engine (ctr, Docker, Podman)" },
	{ "list", "use 'silo ls'" },
};

int oci_main(int argc, char **argv, const struct sb_settings *set, const char *version)
{
	struct oci_rt rt;
	char err[512];
	memset(&rt, 0, sizeof(rt));
	/* a bad flag after --log is still logged there */
	if (oci_parse_args(argc, argv, &rt.a, err, sizeof(err)) < 0)
		return oci_fail(&rt, "%s", err);
	rt.root = rt.a.root ? rt.a.root : OCI_ROOT_DEFAULT;
	if (rt.a.version || !strcmp(rt.a.cmd, "version")) {
		printf("silo-runtime version %s\nspec: 1.0.2\n", version);
		return 0;
	}
	if (!strcmp(rt.a.cmd, "features"))
		return cmd_features();
	for (size_t k = 0; k < sizeof(refused) / sizeof(refused[0]); k++)
		if (!strcmp(rt.a.cmd, refused[k].cmd))
			return oci_fail(&rt, "%s is not supported for a VM container: %s", rt.a.cmd,
					refused[k].why);
	static const struct {
		const char *cmd;
		int (*fn)(struct oci_rt *);
	} cmds[] = {
		{ "create", oci_create }, { "start", oci_start },   { "state", cmd_state },
		{ "kill", cmd_kill },	  { "delete", oci_delete }, { "exec", oci_exec },
		{ "ps", cmd_ps },	  { "update", cmd_update },
	};
	for (size_t k = 0; k < sizeof(cmds) / sizeof(cmds[0]); k++) {
		if (strcmp(rt.a.cmd, cmds[k].cmd))
			continue;
		if (sb_paths_init(&rt.paths, set) < 0)
			return oci_fail(&rt, "%s", sb_errmsg());
		return cmds[k].fn(&rt);
	}
	return oci_fail(&rt, "unknown command '%s'", rt.a.cmd);
}
