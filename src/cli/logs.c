/* logs.c: silo logs NAME: the guest console (kernel, silo-init, silo-vmm's
 * exit line). It lives in the data dir, so it survives a host reboot. */
#include "cli/cli.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

int cmd_logs(struct cli *c, int argc, char **argv)
{
        if (argc != 2)
                return cli_failf("usage: silo logs NAME");
        struct sandbox sb;
        if (sb_open(&sb, &c->paths, argv[1], false) < 0)
                return cli_fail();
        char f[SB_PATH_MAX];
        int rc = 0;
        if (sb_path(f, "%s/console.log", sb.dir) < 0) {
                rc = cli_fail();
                goto out;
        }
        int fd = open(f, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
                if (errno != ENOENT)
                        rc = cli_failf("%s: %s", f, strerror(errno));
                goto out;               /* never started: no output yet */
        }
        char buf[65536];
        ssize_t r;
        while ((r = read(fd, buf, sizeof(buf))) > 0)
                if (write(1, buf, (size_t)r) != r)
                        break;
        close(fd);
out:
        sb_close(&sb);
        return rc;
}
