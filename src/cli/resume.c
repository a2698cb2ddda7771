/* resume.c: silo resume NAME... : run a paused sandbox's vCPUs again. */
#include "cli/cli.h"

int cmd_resume(struct cli *c, int argc, char **argv)
{
	return cli_each_locked(c, argc, argv, "resume", sb_resume);
}
