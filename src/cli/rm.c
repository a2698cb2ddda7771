/* rm.c: silo rm [-f] NAME... : removes everything the sandbox owned. */
#include "cli/cli.h"

#include <string.h>
#include <unistd.h>

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
                if (sb_open(&sb, &c->paths, argv[i], true) < 0) {
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
