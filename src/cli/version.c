/* version.c: silo version / silo --version: this build (version and git
 * commit, baked in by mk/version.mk) and the guest parts it would boot (the
 * manifest scripts/image.sh writes next to them). */
#include "cli/cli.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "version.h"

const char *cli_version_text(void)
{
	return SILO_VERSION;
}

/* Works without a data or run directory: only reads where the parts are. */
int cli_version(const struct sb_settings *s)
{
	char self[SB_PATH_MAX], guest[SB_PATH_MAX], vmm[SB_PATH_MAX], f[SB_PATH_MAX + 16];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	self[n > 0 ? n : 0] = 0;
	printf("silo %s\ncommit: %s\n", SILO_VERSION, SILO_COMMIT);
	if (sb_find_parts(self, s, vmm, guest) < 0)
		return cli_fail();
	printf("silo-vmm: %s%s\n", vmm, access(vmm, X_OK) ? " (missing)" : "");
	printf("guest: %s\n", guest);
	/* key=value lines: kernel, initramfs, rootfs (image.sh) */
	snprintf(f, sizeof(f), "%s/manifest", guest);
	FILE *m = fopen(f, "r");
	if (!m) {
		printf("guest image: unknown (no %s: run 'make image')\n", f);
		return 0;
	}
	char line[512];
	while (fgets(line, sizeof(line), m)) {
		char *eq = strchr(line, '=');
		if (!eq)
			continue;
		*eq = 0;
		printf("guest %s: %s", line, eq + 1);
	}
	fclose(m);
	return 0;
}
