/* stop.c: silo stop [-t SECONDS] NAME... : graceful through the agent (the
 * guest syncs and unmounts), then the control socket, then SIGKILL. */
#include "cli/cli.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int cmd_stop(struct cli *c, int argc, char **argv)
{
	int timeout = 10, ch;
	char *end;
	optind = 1;
	opterr = 0;
	while ((ch = getopt(argc, argv, "+t:")) != -1) {
		if (ch != 't')
			return cli_failf("usage: silo stop [-t SECONDS] NAME...");
		long t = strtol(optarg, &end, 10);
		if (*end || end == optarg || t < 0 || t > 86400)
			return cli_failf("invalid -t '%s': use seconds (0 = stop at once)", optarg);
		timeout = (int)t;
	}
	if (optind >= argc)
		return cli_failf("usage: silo stop [-t SECONDS] NAME...");
	int rc = 0;
	for (int i = optind; i < argc; i++) {
		struct sandbox sb;
		if (sb_open(&sb, &c->paths, argv[i], true) < 0) {
			rc = cli_fail();
			continue;
		}
		if (sb_stop(&sb, timeout) < 0)
			rc = cli_fail();
		else
			printf("%s\n", sb.name);
		sb_close(&sb);
	}
	return rc;
}
