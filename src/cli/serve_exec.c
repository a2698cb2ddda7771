/* serve_exec.c: silo serve and silo mcp in the silo executable, which
 * hands them to silo-serve.
 *
 * silo-serve is this CLI linked with the HTTP API (src/serve/) and its
 * libraries: libmicrohttpd with GnuTLS, libcrypto, libsodium. Loading and
 * relocating those cost every silo command ~10 ms on a host, ~90 ms in the
 * lab's emulated one (`silo --version`: 149 ms against silo-vmm's 59), and
 * the sandbox's supervisor, which is this executable again, paid it once
 * more on every start. Only serve and mcp use them.
 *
 * Found as silo's other parts are (sb_find_part: beside this executable in
 * the build tree, PREFIX/libexec/silo/ when installed); the data and run
 * directories go along in the environment, as --data-dir and --run-dir
 * resolved them.
 */
#include "cli/cli.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int exec_serve(struct cli *c, int argc, char **argv)
{
	char serve[SB_PATH_MAX];

	if (sb_find_part(serve, c->paths.self, NULL, "silo-serve", "libexec/silo/silo-serve") < 0)
		return cli_fail();
	if (setenv("SILO_DATA_DIR", c->paths.data, 1) < 0 ||
	    setenv("SILO_RUN_DIR", c->paths.run, 1) < 0)
		return cli_failf("setenv: %s", strerror(errno));
	char **args = calloc((size_t)argc + 2, sizeof(char *));
	if (!args)
		return cli_failf("out of memory");
	args[0] = "silo-serve";
	memcpy(args + 1, argv, (size_t)argc * sizeof(char *));
	execv(serve, args);
	free(args);
	return cli_failf("cannot run %s: %s (run 'make', or reinstall silo)", serve,
			 strerror(errno));
}

int cmd_serve(struct cli *c, int argc, char **argv)
{
	return exec_serve(c, argc, argv);
}

int cmd_mcp(struct cli *c, int argc, char **argv)
{
	return exec_serve(c, argc, argv);
}
