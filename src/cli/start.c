/* start.c: silo start NAME... */
#include "cli/cli.h"

int cmd_start(struct cli *c, int argc, char **argv)
{
        if (argc < 2)
                return cli_failf("usage: silo start NAME...");
        int rc = 0;
        cli_catch_cancel();
        for (int i = 1; i < argc; i++) {
                struct sandbox sb;
                if (sb_open(&sb, &c->paths, argv[i], true) < 0) {
                        rc = cli_fail();
                        continue;
                }
                /* a warning only: its disk exists already */
                sb_disk_check(&c->paths, 0);
                if (sb_start(&sb) < 0)
                        rc = cli_fail();
                else
                        printf("%s\n", sb.name);
                sb_close(&sb);
        }
        return rc;
}
