/* exec.c: silo exec [-i] [-t] [-e K=V]... [-w DIR] [-u USER] NAME -- CMD...
 * and cli_exec, which silo run shares: a command in a sandbox through the
 * exec front end (client/exec_fe.h) that silo-agent uses too. */
#include "cli/cli.h"
#include "client/exec_fe.h"

#include <string.h>
#include <unistd.h>

int cli_exec(const struct sandbox *sb, const struct cli_exec_req *r)
{
	struct aclient_exec_opts o = { .argv = r->argv,
				       .env = r->env,
				       .cwd = r->cwd,
				       .user = r->user,
				       .tty = r->tty,
				       .in_fd = r->stdin ? 0 : -1,
				       .out_fd = 1,
				       .err_fd = 2 };
	struct aclient_err err = { 0 };
	struct proto_exit x;
	int rc = aclient_exec_fe(sb->addr, &o, &x, &err);
	if (rc < 0)
		cli_failf("%s", err.msg); /* the agent's text: escaped */
	return aclient_exit_status(rc, &x, &err);
}

int cmd_exec(struct cli *c, int argc, char **argv)
{
	bool in = false, tty = false;
	const char *cwd = "/workspace", *user = "agent";
	const char *env[SB_ENV_MAX + 1];
	size_t nenv = 0;
	int ch;
	optind = 1;
	opterr = 0;
	while ((ch = getopt(argc, argv, "+ite:w:u:")) != -1) {
		switch (ch) {
		case 'i':
			in = true;
			break;
		case 't':
			tty = true;
			break;
		case 'w':
			cwd = optarg;
			break;
		case 'u':
			user = optarg;
			break;
		case 'e':
			if (!strchr(optarg, '=') || optarg[0] == '=' || nenv >= SB_ENV_MAX)
				return cli_failf("invalid -e '%s': use KEY=VALUE", optarg);
			env[nenv++] = optarg;
			break;
		default:
			return cli_failf("usage: silo exec [-i] [-t] [-e K=V]... [-w DIR] "
					 "[-u USER] NAME -- CMD...");
		}
	}
	if (optind + 1 >= argc)
		return cli_failf("usage: silo exec [-i] [-t] [-e K=V]... [-w DIR] [-u USER] "
				 "NAME -- CMD...");
	const char *name = argv[optind++];
	if (!strcmp(argv[optind], "--"))
		optind++;
	if (optind >= argc)
		return cli_failf("exec: no command given");
	struct sandbox sb;
	if (cli_open_running(c, &sb, name) < 0)
		return cli_fail();
	/* the run's, the sandbox-wide -e, then this exec's: later ones win */
	char **all;
	env[nenv] = NULL;
	if (sb_exec_env(&sb, env, &all) < 0) {
		sb_close(&sb);
		return cli_fail();
	}
	struct cli_exec_req r = { .argv = (const char *const *)argv + optind,
				  .env = (const char *const *)all,
				  .cwd = cwd,
				  .user = user,
				  .tty = tty,
				  .stdin = in };
	int rc = cli_exec(&sb, &r);
	sb_env_free(all);
	sb_close(&sb);
	return rc;
}
