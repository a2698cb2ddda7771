/* diff.c: silo diff NAME: files under /workspace added (A), changed (C) or
 * deleted (D) since the workspace was copied in. */
#include "cli/cli.h"

#include <stdlib.h>

int cmd_diff(struct cli *c, int argc, char **argv)
{
	if (argc != 2)
		return cli_failf("usage: silo diff NAME");
	struct sandbox sb;
	if (cli_open_running(c, &sb, argv[1]) < 0)
		return cli_fail();
	char *out;
	int rc = sb_workspace_diff(&sb, &out) < 0 ? cli_fail() : 0;
	if (rc == 0) {
		fputs(out, stdout); /* paths quoted by sb_manifest_diff */
		free(out);
	}
	sb_close(&sb);
	return rc;
}
