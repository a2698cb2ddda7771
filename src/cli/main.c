/* main.c: the silo command: global flags, then one subcommand per file.
 *
 *   silo [--data-dir DIR] [--run-dir DIR] COMMAND [ARGS]
 *
 * See docs/cli.md. "silo _supervise" is internal: the detached parent of a
 * sandbox's silo-vmm (src/sandbox/supervise.c).
 */
#include "cli/cli.h"
#include "client/client.h"
#include "oci/oci.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Error lines often carry guest text (agent errors, exit reasons, paths):
 * escaped here, at the one place they reach the terminal. */
static int fail_line(const char *msg)
{
	char esc[4096];
	fprintf(stderr, "silo: %s\n", sb_escape(msg, esc, sizeof(esc)));
	return EXIT_OWN;
}

int cli_fail(void)
{
	return fail_line(sb_errmsg());
}

int cli_failf(const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	return fail_line(buf);
}

void json_str(FILE *f, const char *s)
{
	sb_json_str(f, s);
}

int cli_open_running(struct cli *c, struct sandbox *sb, const char *name)
{
	struct sb_status st;
	if (sb_open(sb, &c->paths, name, false) < 0)
		return -1;
	if (sb_status(sb, &st) < 0) {
		sb_close(sb);
		return -1;
	}
	if (st.state != SB_RUNNING) {
		sb_close(sb);
		return sb_fail("sandbox %s is not running: start it with 'silo start %s'", name,
			       name);
	}
	if (st.paused) {
		sb_close(sb);
		return sb_fail("sandbox %s is paused; run `silo resume %s`", name, name);
	}
	return 0;
}

int cli_each_locked(struct cli *c, int argc, char **argv, const char *verb,
		    int (*fn)(struct sandbox *sb))
{
	if (argc < 2 || argv[1][0] == '-')
		return cli_failf("usage: silo %s NAME...", verb);
	int rc = 0;
	for (int i = 1; i < argc; i++) {
		struct sandbox sb;
		if (sb_open(&sb, &c->paths, argv[i], true) < 0) {
			rc = cli_fail();
			continue;
		}
		if (fn(&sb) < 0)
			rc = cli_fail();
		else
			printf("%s\n", sb.name);
		sb_close(&sb);
	}
	return rc;
}

/* c->opts.cancel: set by a signal, read by the library's waits */
static volatile sig_atomic_t cancelled;

static void on_cancel(int sig)
{
	(void)sig;
	cancelled = 1;
}

/* Ctrl-C while a sandbox boots: sb_start notices, kills what it spawned
 * (and run removes the half-made sandbox) instead of leaving it behind. */
void cli_catch_cancel(void)
{
	struct sigaction sa = { .sa_handler = on_cancel };
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
}

static const struct cli_cmd {
	const char *name;
	int (*fn)(struct cli *, int, char **);
	const char *usage;
} cmds[] = {
	{ "run", cmd_run,
	  "run [--name N] [--template T] [--cpus N] [--memory SIZE] [--disk SIZE] "
	  "[-e K=V]... [--workspace DIR] [--no-docker|--wait-docker] [NETWORK] [--rm] [-q] "
	  "[--agent NAME] [-- CMD...]" },
	{ "create", cmd_create,
	  "create [--name N] [--template T] [--cpus N] [--memory SIZE] [--disk SIZE] "
	  "[-e K=V]... [--workspace DIR] [--no-docker|--wait-docker] "
	  "[NETWORK]\n"
	  "         NETWORK: [--network open|allowlist|none] "
	  "[--allow RULE]... [--deny RULE]...\n"
	  "                  [-p [HOST_IP:]HOST_PORT:GUEST_PORT]... "
	  "[--allow-host-access] [--allow-link-local]" },
	{ "start", cmd_start, "start [-q] [--wait-docker] NAME..." },
	{ "stop", cmd_stop, "stop [-t SECONDS] NAME..." },
	{ "pause", cmd_pause, "pause NAME..." },
	{ "resume", cmd_resume, "resume NAME..." },
	{ "rm", cmd_rm, "rm [-f] NAME..." },
	{ "ls", cmd_ls, "ls [--json]" },
	{ "inspect", cmd_inspect, "inspect NAME" },
	{ "logs", cmd_logs, "logs NAME" },
	{ "exec", cmd_exec, "exec [-i] [-t] [-e K=V]... [-w DIR] [-u USER] NAME -- CMD..." },
	{ "cp", cmd_cp, "cp [--max-size SIZE] SRC DST   (NAME:/path on one side)" },
	{ "diff", cmd_diff, "diff NAME" },
	{ "policy", cmd_policy,
	  "policy NAME [--network open|allowlist] [--allow RULE]... "
	  "[--deny RULE]... [--remove RULE]..." },
	{ "net", cmd_net, "net log NAME [-f]" },
	{ "port", cmd_port, "port NAME" },
	{ "agent", cmd_agent, "agent ls | pull NAME...   (coding agents: docs/agents.md)" },
	{ "secret", cmd_secret,
	  "secret set NAME [--host H]... [--header HDR] [--format F] [--env VAR] | ls | "
	  "rm NAME...   (the value on stdin; docs/secrets.md)" },
	{ "mcp", cmd_mcp, "mcp   (an MCP server on stdin and stdout: docs/api.md)" },
	{ "serve", cmd_serve,
	  "serve [--listen ADDR:PORT] [--token-file FILE] [--max-busy N] [--ready-fd FD]" },
	{ "template", cmd_template,
	  "template build [--name T] [--cpus N] [--memory SIZE] [--disk SIZE] [--no-docker] "
	  "[--agent NAME] [NETWORK] [-- CMD...] | ls | rm T..." },
};

/* silo COMMAND --help: its usage line, and what -q means where it applies */
static int cmd_help(const struct cli_cmd *c)
{
	printf("usage: silo %s\n", c->usage);
	if (!strcmp(c->name, "run") || !strcmp(c->name, "start"))
		printf("  -q, --quiet  no status line on a terminal while the sandbox comes up\n");
	printf("See 'man silo'.\n");
	return 0;
}

static int usage(FILE *f)
{
	fprintf(f, "usage: silo [--data-dir DIR] [--run-dir DIR] COMMAND\n"
		   "       silo version | --version\n"
		   "       silo oci COMMAND ...   (the OCI runtime, silo-runtime's: "
		   "docs/containerd.md)\n");
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		fprintf(f, "  silo %s\n", cmds[i].usage);
	return f == stdout ? 0 : EXIT_OWN;
}

int main(int argc, char **argv)
{
	const char *data = NULL, *run = NULL;
	int i = 1;
	if (argc >= 2 && !strcmp(argv[1], "_supervise"))
		sb_supervise_main(argc - 2, argv + 2);
	signal(SIGPIPE, SIG_IGN);
	for (; i < argc && argv[i][0] == '-'; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "-h") || !strcmp(a, "--help"))
			return usage(stdout);
		if (!strcmp(a, "--version"))
			break;
		const char **dst = !strncmp(a, "--data-dir", 10) ? &data
				   : !strncmp(a, "--run-dir", 9) ? &run
								 : NULL;
		const char *eq = strchr(a, '=');
		if (!dst)
			return cli_failf("unknown option '%s' (see 'silo --help')", a);
		if (eq)
			*dst = eq + 1;
		else if (i + 1 < argc)
			*dst = argv[++i];
		else
			return cli_failf("%s needs a directory", a);
	}
	if (i >= argc)
		return usage(stderr);
	struct sb_settings set;
	if (sb_settings_env(&set, data, run) < 0)
		return cli_fail();
	if (!strcmp(argv[i], "version") || !strcmp(argv[i], "--version"))
		return cli_version(&set);
	if (!strcmp(argv[i], "oci"))
		return oci_main(argc - i, argv + i, &set, cli_version_text());
	/* SILO_AGENT_TIMEOUT=S: wait at most S seconds for the guest agent
         * at every step (connect, an answer, a silent stream) instead of
         * the defaults in client.h; mostly for tests. */
	int at = sb_env_seconds("SILO_AGENT_TIMEOUT");
	if (at < 0)
		return cli_fail();
	if (at > 0) {
		uint32_t ms = (uint32_t)at * 1000;
		aclient_set_timeouts(&(struct aclient_timeouts){ ms, ms, ms });
	}
	struct cli c = { .opts = { .cancel = &cancelled } };
	c.opts.progress = &c.progress;
	sb_progress_init(&c.progress, -1, NULL); /* off until cli_progress */
	if (sb_paths_init(&c.paths, &set) < 0)
		return cli_fail();
	for (size_t k = 0; k < sizeof(cmds) / sizeof(cmds[0]); k++) {
		if (strcmp(argv[i], cmds[k].name))
			continue;
		/* names start with a letter or digit: never an operand */
		if (i + 1 < argc && (!strcmp(argv[i + 1], "-h") || !strcmp(argv[i + 1], "--help")))
			return cmd_help(&cmds[k]);
		return cmds[k].fn(&c, argc - i, argv + i);
	}
	if (!strcmp(argv[i], "help"))
		return usage(stdout);
	return cli_failf("unknown command '%s' (see 'silo --help')", argv[i]);
}
