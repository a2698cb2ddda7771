/* start.c: silo start [-q] [--wait-docker] NAME... */
#include "cli/cli.h"

#include <string.h>
#include <unistd.h>

void cli_progress(struct cli *c, bool quiet)
{
	/* stderr, not stdout: stdout is the command's output (run) or the
	 * names started (start), which scripts capture */
	sb_progress_open(&c->progress, STDERR_FILENO, quiet, NULL);
}

int cli_wait_docker(struct cli *c, const char *name)
{
	struct sandbox sb;
	if (sb_open(&sb, &c->paths, name, false) < 0)
		return -1;
	sb.opts = &c->opts;
	int rc = sb_wait_docker(&sb, sb_boot_timeout(&sb));
	sb_close(&sb);
	return rc;
}

static int start_one(struct cli *c, const char *name, bool wait_docker)
{
	struct sandbox sb;
	if (sb_open(&sb, &c->paths, name, true) < 0)
		return -1;
	sb.opts = &c->opts;
	/* a warning only: its disk exists already */
	sb_disk_check(&c->paths, 0);
	int rc = sb_start(&sb);
	wait_docker |= sb.cfg.wait_docker;
	/* Unlocked while waiting for Docker: stop and rm from elsewhere work. */
	sb_close(&sb);
	if (rc == 0 && wait_docker)
		rc = cli_wait_docker(c, name);
	return rc;
}

int cmd_start(struct cli *c, int argc, char **argv)
{
	bool wait_docker = false, quiet = false;
	int first = 1;
	for (; first < argc && argv[first][0] == '-'; first++) {
		if (!strcmp(argv[first], "-q") || !strcmp(argv[first], "--quiet"))
			quiet = true;
		else if (!strcmp(argv[first], "--wait-docker"))
			wait_docker = true;
		else
			return cli_failf(
				"unknown option '%s': usage: silo start [-q] [--wait-docker] "
				"NAME...",
				argv[first]);
	}
	if (first >= argc)
		return cli_failf("usage: silo start [-q] [--wait-docker] NAME...");
	int rc = 0;
	cli_catch_cancel();
	cli_progress(c, quiet);
	for (int i = first; i < argc; i++) {
		if (start_one(c, argv[i], wait_docker) < 0)
			rc = cli_fail();
		else
			printf("%s\n", argv[i]);
	}
	return rc;
}
