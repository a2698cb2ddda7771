/* pause.c: silo pause NAME... : stop the sandbox's vCPUs, keeping its
 * memory (src/sandbox/pause.c); silo resume continues it. */
#include "cli/cli.h"

int cmd_pause(struct cli *c, int argc, char **argv)
{
	return cli_each_locked(c, argc, argv, "pause", sb_pause);
}
