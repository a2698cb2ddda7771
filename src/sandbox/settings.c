/* settings.c: struct sb_settings from a process's environment, for the
 * commands (silo, silo-runtime). The library itself reads none of it: a
 * server's requests must not depend on its environment (sandbox.h). */
#include "sandbox/sandbox.h"

#include <pwd.h>
#include <stdlib.h>
#include <unistd.h>

int sb_env_seconds(const char *name)
{
	const char *v = getenv(name);
	if (!v || !v[0])
		return 0;
	char *end;
	unsigned long s = strtoul(v, &end, 10);
	if (*end || s < 1 || s > 86400)
		return sb_fail("invalid %s '%s': use seconds, 1..86400", name, v);
	return (int)s;
}

int sb_settings_env(struct sb_settings *s, const char *data_flag, const char *run_flag)
{
	*s = (struct sb_settings){ .data_flag = data_flag,
				   .data_env = getenv("SILO_DATA_DIR"),
				   .run_flag = run_flag,
				   .run_env = getenv("SILO_RUN_DIR"),
				   .home = getenv("HOME"),
				   .xdg_data = getenv("XDG_DATA_HOME"),
				   .xdg_run = getenv("XDG_RUNTIME_DIR"),
				   .vmm = getenv("SILO_VMM"),
				   .guest_dir = getenv("SILO_GUEST_DIR"),
				   .netd = getenv("SILO_NETD"),
				   .boot_timeout = sb_env_seconds("SILO_BOOT_TIMEOUT"),
				   .cmdline_extra = getenv("SILO_GUEST_CMDLINE_EXTRA"),
				   .egress_ca = getenv("SILO_EGRESS_CA") };
	/* a service's environment may have no HOME (containerd's, which
	 * runs silo-runtime): the user's home all the same */
	struct passwd *pw;
	if (!s->home && (pw = getpwuid(getuid())))
		s->home = pw->pw_dir;
	return s->boot_timeout < 0 ? -1 : 0;
}
