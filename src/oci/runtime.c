/* runtime.c: silo-runtime, the OCI runtime on its own (docs/containerd.md):
 * `silo oci` without the rest of silo. An engine runs it for every step of
 * every container (create, start, state, delete...), so it links only what
 * those need (the sandbox library, jansson): starting it costs a fraction
 * of what silo's libraries (the HTTP server's among them) cost to load.
 * "silo-runtime _supervise" is a sandbox's supervisor, as for silo. */
#include "oci/oci.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "version.h"

int main(int argc, char **argv)
{
	if (argc >= 2 && !strcmp(argv[1], "_supervise"))
		sb_supervise_main(argc - 2, argv + 2);
	signal(SIGPIPE, SIG_IGN);
	struct sb_settings set;
	if (sb_settings_env(&set, NULL, NULL) < 0) {
		fprintf(stderr, "silo-runtime: %s\n", sb_errmsg());
		return 1;
	}
	return oci_main(argc, argv, &set, SILO_VERSION);
}
