/* args.c: runc's command line (pure; tests/unit/test_oci.c).
 *
 * What containerd's runc shim runs (go-runc): `BIN --root R --log L
 * --log-format json [--systemd-cgroup] CMD [FLAGS] ID [...]`. runc parses
 * with urfave/cli on Go's flag package, so "-root R", "--root=R" and
 * "--root R" are all one flag; flags end at the first operand or "--".
 */
#include "oci/oci.h"

#include <ctype.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* F_IGNORED takes a value, F_NOOP none: runc's, meaningless for a VM */
enum kind { F_BOOL, F_VALUE, F_IGNORED, F_NOOP, F_ENV };
struct flag {
	const char *name;
	char shrt; /* runc's one-letter alias, or 0 */
	enum kind kind;
	size_t off; /* into struct oci_args */
};
#define OFF(f) offsetof(struct oci_args, f)

static const struct flag globals[] = {
	{ "root", 0, F_VALUE, OFF(root) },
	{ "log", 0, F_VALUE, OFF(log) },
	{ "log-format", 0, F_VALUE, OFF(log_format) },
	{ "systemd-cgroup", 0, F_BOOL, OFF(systemd_cgroup) },
	{ "debug", 0, F_BOOL, OFF(debug) },
	{ "version", 'v', F_BOOL, OFF(version) },
	/* a VM is neither checkpointed by CRIU nor a rootless container */
	{ "criu", 0, F_IGNORED, 0 },
	{ "rootless", 0, F_IGNORED, 0 },
	{ NULL, 0, 0, 0 },
};

static const struct flag f_create[] = {
	{ "bundle", 'b', F_VALUE, OFF(bundle) },
	{ "pid-file", 0, F_VALUE, OFF(pid_file) },
	{ "console-socket", 0, F_VALUE, OFF(console_socket) },
	{ "no-pivot", 0, F_NOOP, 0 },
	{ "no-new-keyring", 0, F_NOOP, 0 },
	{ "preserve-fds", 0, F_IGNORED, 0 },
	{ NULL, 0, 0, 0 },
};
static const struct flag f_exec[] = {
	{ "process", 'p', F_VALUE, OFF(process) },
	{ "detach", 'd', F_BOOL, OFF(detach) },
	{ "pid-file", 0, F_VALUE, OFF(pid_file) },
	{ "console-socket", 0, F_VALUE, OFF(console_socket) },
	{ "tty", 't', F_BOOL, OFF(tty) },
	{ "cwd", 0, F_VALUE, OFF(cwd) },
	{ "user", 'u', F_VALUE, OFF(user) },
	{ "env", 'e', F_ENV, 0 },
	{ "preserve-fds", 0, F_IGNORED, 0 },
	{ "no-new-privs", 0, F_NOOP, 0 },
	{ NULL, 0, 0, 0 },
};
static const struct flag f_kill[] = {
	{ "all", 'a', F_BOOL, OFF(all) },
	{ NULL, 0, 0, 0 },
};
static const struct flag f_delete[] = {
	{ "force", 'f', F_BOOL, OFF(force) },
	{ NULL, 0, 0, 0 },
};
static const struct flag f_ps[] = {
	{ "format", 'f', F_VALUE, OFF(format) },
	{ NULL, 0, 0, 0 },
};
static const struct flag f_update[] = {
	{ "resources", 'r', F_VALUE, OFF(resources) },
	{ NULL, 0, 0, 0 },
};
static const struct flag f_none[] = { { NULL, 0, 0, 0 } };

/* The subcommands silo takes flags for; the others (pause, checkpoint...)
 * are parsed with none and refused by main.c. */
static const struct {
	const char *cmd;
	const struct flag *flags;
} cmds[] = {
	{ "create", f_create }, { "exec", f_exec },  { "kill", f_kill },
	{ "delete", f_delete }, { "ps", f_ps },	     { "update", f_update },
	{ "start", f_none },	{ "state", f_none }, { "features", f_none },
};

/* argv[*i] is a flag: match it in t and take its value. 0, or -1. */
static int one_flag(const struct flag *t, int argc, char **argv, int *i, struct oci_args *a,
		    const char *where, char *err, size_t n)
{
	const char *arg = argv[*i], *name = arg + 1, *val = NULL;
	if (*name == '-')
		name++;
	size_t len = strcspn(name, "=");
	if (name[len] == '=')
		val = name + len + 1;
	const struct flag *f = NULL;
	for (; t->name && !f; t++)
		if ((strlen(t->name) == len && !strncmp(t->name, name, len)) ||
		    (t->shrt && len == 1 && name[0] == t->shrt && arg[1] != '-'))
			f = t;
	if (!f)
		return oci_err(err, n, "unknown flag '%.*s'%s", (int)(name - arg + len), arg,
			       where);
	if (f->kind == F_BOOL || f->kind == F_NOOP) {
		/* Go's -flag=false */
		bool on = !val || !strcmp(val, "true") || !strcmp(val, "1");
		if (val && !on && strcmp(val, "false") && strcmp(val, "0"))
			return oci_err(err, n, "flag '%s' takes true or false", arg);
		if (f->kind == F_BOOL)
			*(bool *)((char *)a + f->off) = on;
		return 0;
	}
	if (!val) {
		if (*i + 1 >= argc)
			return oci_err(err, n, "flag '%s' needs a value", arg);
		val = argv[++*i];
	}
	if (f->kind == F_ENV) {
		if (a->nenv >= OCI_ENV_MAX)
			return oci_err(err, n, "more than %d -e flags", OCI_ENV_MAX);
		a->env[a->nenv++] = val;
	} else if (f->kind == F_VALUE) {
		*(const char **)((char *)a + f->off) = val;
	}
	return 0;
}

int oci_parse_args(int argc, char **argv, struct oci_args *a, char *err, size_t n)
{
	memset(a, 0, sizeof(*a));
	int i = 1;
	for (; i < argc && argv[i][0] == '-' && argv[i][1]; i++)
		if (one_flag(globals, argc, argv, &i, a, "", err, n) < 0)
			return -1;
	if (i >= argc) {
		if (a->version)
			return 0;
		return oci_err(err, n,
			       "no command: give one of create, start, state, kill, delete, "
			       "exec, ps, update, features");
	}
	a->cmd = argv[i++];
	const struct flag *t = f_none;
	for (size_t k = 0; k < sizeof(cmds) / sizeof(cmds[0]); k++)
		if (!strcmp(cmds[k].cmd, a->cmd))
			t = cmds[k].flags;
	char where[64];
	snprintf(where, sizeof(where), " for %s", a->cmd);
	for (; i < argc; i++) {
		if (!strcmp(argv[i], "--")) {
			i++;
			break;
		}
		if (argv[i][0] != '-' || !argv[i][1])
			break;
		if (one_flag(t, argc, argv, &i, a, where, err, n) < 0)
			return -1;
	}
	for (; i < argc; i++) {
		if (a->noper >= OCI_OPER_MAX)
			return oci_err(err, n, "more than %d operands", OCI_OPER_MAX);
		a->oper[a->noper++] = argv[i];
	}
	return 0;
}

bool oci_id_valid(const char *id)
{
	size_t len = strlen(id);
	if (!len || len > OCI_ID_MAX || !strcmp(id, ".") || !strcmp(id, ".."))
		return false;
	for (const char *p = id; *p; p++)
		if (!isalnum((unsigned char)*p) && !strchr("_+-.", *p))
			return false;
	return true;
}

int oci_signal_parse(const char *s)
{
	static const struct {
		const char *name;
		int sig;
	} names[] = {
		{ "HUP", SIGHUP },	 { "INT", SIGINT },   { "QUIT", SIGQUIT },
		{ "ILL", SIGILL },	 { "TRAP", SIGTRAP }, { "ABRT", SIGABRT },
		{ "BUS", SIGBUS },	 { "FPE", SIGFPE },   { "KILL", SIGKILL },
		{ "USR1", SIGUSR1 },	 { "SEGV", SIGSEGV }, { "USR2", SIGUSR2 },
		{ "PIPE", SIGPIPE },	 { "ALRM", SIGALRM }, { "TERM", SIGTERM },
		{ "CHLD", SIGCHLD },	 { "CONT", SIGCONT }, { "STOP", SIGSTOP },
		{ "TSTP", SIGTSTP },	 { "TTIN", SIGTTIN }, { "TTOU", SIGTTOU },
		{ "URG", SIGURG },	 { "XCPU", SIGXCPU }, { "XFSZ", SIGXFSZ },
		{ "VTALRM", SIGVTALRM }, { "PROF", SIGPROF }, { "WINCH", SIGWINCH },
		{ "IO", SIGIO },	 { "PWR", SIGPWR },   { "SYS", SIGSYS },
	};
	if (!s || !*s)
		return -1;
	if (isdigit((unsigned char)*s)) {
		char *end;
		long v = strtol(s, &end, 10);
		return *end || v < 1 || v > 64 ? -1 : (int)v;
	}
	if (!strncasecmp(s, "SIG", 3))
		s += 3;
	for (size_t k = 0; k < sizeof(names) / sizeof(names[0]); k++)
		if (!strcasecmp(s, names[k].name))
			return names[k].sig;
	return -1;
}
