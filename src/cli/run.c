/* run.c: silo run = create + start + attach (a login shell as agent in
 * /workspace, or -- CMD...). The exit status is the command's. A run whose
 * sandbox never came up removes it again: nothing is left behind. */
#include "cli/cli.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int cmd_run(struct cli *c, int argc, char **argv)
{
	struct create_opts o;
	int first = cli_parse_create(argc, argv, &o, true);
	if (first < 0)
		return EXIT_OWN;
	if (cli_apply_agent(&o, true) < 0 || cli_apply_template(c, &o) < 0) {
		sb_config_free(&o.cfg);
		return EXIT_OWN;
	}
	if (first < argc && !strcmp(argv[first], "--"))
		first++;
	int rc = EXIT_OWN;
	const char **agent_argv = NULL;
	struct sandbox sb;
	cli_catch_cancel();
	cli_progress(c, o.quiet);
	if (sb_check_host(&c->paths) < 0 ||
	    sb_create(&sb, &c->paths, o.name, &o.cfg, o.workspace) < 0) {
		cli_fail();
		goto out;
	}
	char name[SB_NAME_MAX + 1];
	snprintf(name, sizeof(name), "%s", sb.name);
	sb_close(&sb);
	if (sb_open(&sb, &c->paths, name, true) < 0) {
		cli_fail();
		goto out;
	}
	sb.opts = &c->opts;
	if (sb_start(&sb) < 0) {
		sb_discard(&sb);
		cli_fail();
		sb_close(&sb);
		goto out;
	}
	/* Unlock while attached: stop and rm from elsewhere must work. */
	sb_close(&sb);
	if (o.cfg.wait_docker && cli_wait_docker(c, name) < 0) {
		cli_fail();
		goto remove;
	}
	if (sb_open(&sb, &c->paths, name, false) < 0) {
		cli_fail();
		goto out;
	}
	static const char *const shell[] = { "bash", "-l", NULL };
	bool interactive = isatty(0) && isatty(1);
	/* --agent: the agent, with what follows -- as its arguments */
	if (o.agent && !(agent_argv = calloc((size_t)(argc - first) + 2, sizeof(char *)))) {
		cli_failf("out of memory");
		goto out;
	}
	if (o.agent) {
		const char *prog = strrchr(o.agent->program, '/');
		agent_argv[0] = prog ? prog + 1 : o.agent->program;
		for (int i = first; i < argc; i++)
			agent_argv[i - first + 1] = argv[i];
	}
	char **env;
	if (sb_exec_env(&sb, NULL, &env) < 0) {
		sb_close(&sb);
		cli_fail();
		goto remove;
	}
	struct cli_exec_req r = { .argv = agent_argv	 ? agent_argv
					  : first < argc ? (const char *const *)argv + first
							 : shell,
				  .env = (const char *const *)env,
				  .cwd = "/workspace",
				  .user = "agent",
				  .tty = interactive,
				  .stdin = true };
	if (!o.name)
		fprintf(stderr, "silo: sandbox %s\n", name);
	rc = cli_exec(&sb, &r);
	sb_env_free(env);
	sb_close(&sb);
remove:
	/* --rm throws the disks away: nothing to flush, so the VM ends at
	 * once, as with rm -f, instead of the guest's shutdown (Docker's
	 * daemon stopping, sync, unmount: seconds, for nothing). */
	if (o.rm && sb_open(&sb, &c->paths, name, true) == 0) {
		if (sb_stop(&sb, 0) < 0 || sb_remove(&sb) < 0)
			cli_fail();
		sb_close(&sb);
	}
out:
	free(agent_argv);
	sb_config_free(&o.cfg);
	return rc;
}
