/* logs.c: silo logs NAME: the guest console (kernel, silo-init, silo-vmm's
 * exit line), raw as the guest wrote it (like docker logs). It lives in the
 * data dir, so it survives a host reboot. */
#include "cli/cli.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

/* Appends path to stdout; 0 also when it does not exist. */
static int cat(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : cli_failf("%s: %s", path, strerror(errno));
	char buf[65536];
	ssize_t r;
	while ((r = read(fd, buf, sizeof(buf))) > 0)
		if (write(1, buf, (size_t)r) != r)
			break;
	close(fd);
	return 0;
}

int cmd_logs(struct cli *c, int argc, char **argv)
{
	if (argc != 2)
		return cli_failf("usage: silo logs NAME");
	struct sandbox sb;
	if (sb_open(&sb, &c->paths, argv[1], false) < 0)
		return cli_fail();
	/* silo-vmm caps the console (src/vmm/console.c): console.log is the
         * boot, ending in "[N bytes dropped]" once the tail rotated; then
         * the previous and the current tail segment. Never started: none. */
	static const char *const parts[] = SB_CONSOLE_PARTS;
	int rc = 0;
	for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]) && !rc; i++) {
		char f[SB_PATH_MAX];
		rc = sb_path(f, "%s/%s", sb.dir, parts[i]) < 0 ? cli_fail() : cat(f);
	}
	sb_close(&sb);
	return rc;
}
