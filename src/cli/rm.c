/* rm.c: silo rm [-f] NAME... : removes everything the sandbox owned. */
#include "cli/cli.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

/* rm -f waits this long for the lock before it kills the sandbox's VM, and
 * as long again after: a start or stop that holds the lock fails at once
 * when its VM dies. */
#define RM_LOCK_WAIT_MS 3000

/* rm -f must win, also against a silo that holds the lock while it waits
 * on a hung guest (up to its agent timeouts) or is stuck for good (say,
 * stopped with SIGSTOP). Kill the VM, which ends any wait on the guest;
 * if the lock is still taken after that, remove the sandbox without it. */
static int open_force(struct cli *c, struct sandbox *sb, const char *name)
{
	if (sb_open(sb, &c->paths, name, false) < 0)
		return -1;
	if (sb_lock(sb, RM_LOCK_WAIT_MS) == 0)
		return 0;
	if (errno == EWOULDBLOCK) {
		sb_kill(sb);
		if (sb_lock(sb, RM_LOCK_WAIT_MS) == 0)
			return 0;
		if (errno == EWOULDBLOCK) {
			fprintf(stderr,
				"silo: warning: %s: another silo command still holds "
				"its lock; removing it anyway\n",
				name);
			return 0;
		}
	}
	sb_close(sb);
	return -1;
}

int cmd_rm(struct cli *c, int argc, char **argv)
{
	bool force = false;
	int ch;
	optind = 1;
	opterr = 0;
	while ((ch = getopt(argc, argv, "+f")) != -1) {
		if (ch != 'f')
			return cli_failf("usage: silo rm [-f] NAME...");
		force = true;
	}
	if (optind >= argc)
		return cli_failf("usage: silo rm [-f] NAME...");
	int rc = 0;
	for (int i = optind; i < argc; i++) {
		struct sandbox sb;
		if (force ? open_force(c, &sb, argv[i]) < 0
			  : sb_open(&sb, &c->paths, argv[i], true) < 0) {
			rc = cli_fail();
			continue;
		}
		/* -f: no graceful shutdown, the disk is going away anyway */
		if ((force && sb_stop(&sb, 0) < 0) || sb_remove(&sb) < 0)
			rc = cli_fail();
		else
			printf("%s\n", sb.name);
		sb_close(&sb);
	}
	return rc;
}
