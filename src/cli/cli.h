/* cli.h: shared by the silo subcommands (one file each, see main.c). */
#ifndef SILO_CLI_H
#define SILO_CLI_H

#include "client/exec_fe.h"
#include "sandbox/sandbox.h"

#include <stdbool.h>
#include <stdio.h>

/* Docker's convention: the command's own status for exec/run, 125 when
 * silo itself failed (126 cannot start, 127 not found: exec_fe.h). */
#define EXIT_OWN ACLIENT_EXIT_OWN

struct cli {
	struct sb_paths paths;
	/* what the library's long calls get (sb->opts): Ctrl-C and the
	 * status line of this command (main.c, cli_progress) */
	struct sb_opts opts;
	struct sb_progress progress;
};

/* Print "silo: <sb_errmsg()>" (or the formatted line) and return 125. */
int cli_fail(void);
int cli_failf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Flags shared by create and run. */
/* The network flags (netflags.c), shared by create/run and policy. */
enum { CLI_NET_ALLOW, CLI_NET_DENY, CLI_NET_REMOVE };
struct cli_net_rule {
	int action;	  /* CLI_NET_* */
	const char *text; /* as typed (argv) */
};
struct cli_net {
	bool mode_set;
	int mode;	/* enum net_mode when mode_set */
	unsigned flags; /* NET_POLICY_ALLOW_* */
	struct cli_net_rule *rules;
	size_t nrules;
};
struct net_policy;
void cli_net_init(struct cli_net *n);
void cli_net_free(struct cli_net *n);
/* Each validates and prints the one-line error itself (returns -1). */
int cli_net_mode(struct cli_net *n, const char *arg, bool allow_none);
int cli_net_rule(struct cli_net *n, const char *arg, int action);
/* The network options, for getopt_long tables: create/run take them all
 * but --remove, silo policy all of them. */
enum {
	CLI_O_NETWORK = 0x200,
	CLI_O_ALLOW,
	CLI_O_DENY,
	CLI_O_REMOVE,
	CLI_O_ALLOW_HOST,
	CLI_O_ALLOW_LL
};
#define CLI_NET_OPTIONS                                                       \
	{ "network", required_argument, NULL, CLI_O_NETWORK },                \
		{ "allow", required_argument, NULL, CLI_O_ALLOW },            \
		{ "deny", required_argument, NULL, CLI_O_DENY },              \
		{ "allow-host-access", no_argument, NULL, CLI_O_ALLOW_HOST }, \
	{                                                                     \
		"allow-link-local", no_argument, NULL, CLI_O_ALLOW_LL         \
	}
/* Handle getopt's ch if it is one of those: 1 (done), -1 (error printed);
 * 0 when ch is not a network option. new_sandbox: --network none is
 * allowed (only a new sandbox can be made without a network). */
int cli_net_option(struct cli_net *n, int ch, const char *arg, bool new_sandbox);
int cli_net_apply(const struct cli_net *n, struct net_policy *p);
/* The policy text a new sandbox gets in *out (malloc'd; NULL for
 * --network none). 0, or -1 with the error printed. */
int cli_net_policy_text(const struct cli_net *n, char **out);

struct create_opts {
	const char *name, *workspace;
	const char *template;	      /* --template T */
	const struct sb_agent *agent; /* --agent NAME (run, template build) */
	unsigned given;		      /* SB_GIVEN_*: the flags a template must agree with */
	struct sb_config cfg;
	bool rm;    /* run --rm */
	bool quiet; /* run -q: no progress line */
};
/* Parses from argv[1]; returns the index of the first operand or -1 (error
 * printed). allow_rm: accept run's own options, --rm and -q. */
int cli_parse_create(int argc, char **argv, struct create_opts *o, bool allow_rm);

/* --template: load it and make o->cfg a sandbox of it (sb_template_apply);
 * 0, or -1 with the error printed. No --template: nothing to do. */
int cli_apply_template(struct cli *c, struct create_opts *o);
/* --agent NAME. run: its variables into o->cfg, and its template as
 * --template unless one was given; template build: the template's name
 * unless --name. 0, or -1 with the error printed. */
int cli_apply_agent(struct create_opts *o, bool run);

/* The status line while a start waits (c->progress, sandbox.h): on stderr
 * when it is a terminal, unless quiet. */
void cli_progress(struct cli *c, bool quiet);

/* Open NAME and require it to be running and not paused. */
int cli_open_running(struct cli *c, struct sandbox *sb, const char *name);
/* argv[1..]: NAME operands (no options). Each is opened locked and given
 * to fn; prints its name, or its one-line error. 0, or 125 if any failed
 * (silo pause, silo resume). */
int cli_each_locked(struct cli *c, int argc, char **argv, const char *verb,
		    int (*fn)(struct sandbox *sb));
/* silo version: needs no data or run directory (src/cli/version.c). */
int cli_version(const struct sb_settings *s);
const char *cli_version_text(void); /* "0.x.y" */

struct cli_exec_req {
	const char *const *argv;
	const char *const *env; /* NULL-terminated; sandbox env first */
	const char *cwd, *user;
	bool tty, stdin;
};
/* Run in the sandbox, forwarding signals and the terminal size; returns the
 * exit status as Docker users expect (128+N for signal N). */
int cli_exec(const struct sandbox *sb, const struct cli_exec_req *r);

/* Turn SIGINT/SIGTERM/SIGHUP into a cancel of the command's long calls
 * (c->opts.cancel, for create/start/run/template build). */
void cli_catch_cancel(void);

/* --wait-docker: until the guest's dockerd answers (SILO_BOOT_TIMEOUT);
 * -1 with sb_errmsg() when it failed or took too long. */
int cli_wait_docker(struct cli *c, const char *name);

/* JSON string (with quotes) to f. */
void json_str(FILE *f, const char *s);

int cmd_run(struct cli *c, int argc, char **argv);
int cmd_create(struct cli *c, int argc, char **argv);
int cmd_start(struct cli *c, int argc, char **argv);
int cmd_stop(struct cli *c, int argc, char **argv);
int cmd_pause(struct cli *c, int argc, char **argv);
int cmd_resume(struct cli *c, int argc, char **argv);
int cmd_rm(struct cli *c, int argc, char **argv);
int cmd_ls(struct cli *c, int argc, char **argv);
int cmd_inspect(struct cli *c, int argc, char **argv);
int cmd_logs(struct cli *c, int argc, char **argv);
int cmd_exec(struct cli *c, int argc, char **argv);
int cmd_cp(struct cli *c, int argc, char **argv);
int cmd_diff(struct cli *c, int argc, char **argv);
int cmd_policy(struct cli *c, int argc, char **argv);
int cmd_net(struct cli *c, int argc, char **argv);
int cmd_port(struct cli *c, int argc, char **argv);
int cmd_template(struct cli *c, int argc, char **argv);
int cmd_serve(struct cli *c, int argc, char **argv);
int cmd_secret(struct cli *c, int argc, char **argv);
int cmd_agent(struct cli *c, int argc, char **argv);
int cmd_mcp(struct cli *c, int argc, char **argv);

#endif
