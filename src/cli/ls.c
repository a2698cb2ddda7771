/* ls.c: silo ls [--json]: every sandbox with its status and limits. */
#include "cli/cli.h"

#include <string.h>
#include <time.h>

int cmd_ls(struct cli *c, int argc, char **argv)
{
	bool json = argc == 2 && !strcmp(argv[1], "--json");
	if (argc > 2 || (argc == 2 && !json))
		return cli_failf("usage: silo ls [--json]");
	char **names;
	size_t n;
	if (sb_list(&c->paths, &names, &n) < 0)
		return cli_fail();
	if (json)
		printf("[");
	else
		printf("%-24s %-32s %4s %7s %7s %s\n", "NAME", "STATUS", "CPUS", "MEMORY", "DISK",
		       "CREATED");
	bool first = true;
	for (size_t i = 0; i < n; i++) {
		struct sandbox sb;
		struct sb_status st;
		/* a sandbox removed while we list is simply not shown */
		if (sb_open(&sb, &c->paths, names[i], false) < 0)
			continue;
		if (sb_status(&sb, &st) < 0) {
			sb_close(&sb);
			continue;
		}
		char raw[300], status[1200], name[4 * SB_NAME_MAX + 8], mem[32], disk[32];
		char when[32];
		time_t t = (time_t)sb.cfg.created;
		struct tm tm;
		/* the exit reason comes from silo-vmm, the name from a
                 * directory entry: neither reaches the terminal raw */
		sb_status_text(&st, raw, sizeof(raw));
		/* the host refusing the guest's writes: say so (health.c) */
		char why[64], detail[256] = "";
		if (st.state == SB_RUNNING &&
		    sb_degraded(&sb, why, sizeof(why), detail, sizeof(detail)) > 0)
			snprintf(raw, sizeof(raw), "%s (degraded: %s)", sb_status_name(&st), why);
		sb_format_size(sb.cfg.memory, mem, sizeof(mem));
		sb_format_size(sb.cfg.disk, disk, sizeof(disk));
		strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", localtime_r(&t, &tm));
		if (json) {
			printf("%s{\"name\":", first ? "" : ",");
			json_str(stdout, sb.name);
			printf(",\"state\":\"%s\",\"status\":", sb_status_name(&st));
			json_str(stdout, raw);
			if (detail[0]) {
				printf(",\"degraded\":");
				json_str(stdout, detail);
			}
			printf(",\"cpus\":%u,\"memory\":%llu,\"disk\":%llu,\"created\":%lld}",
			       sb.cfg.cpus, (unsigned long long)sb.cfg.memory,
			       (unsigned long long)sb.cfg.disk, (long long)sb.cfg.created);
		} else {
			printf("%-24s %-32s %4u %7s %7s %s\n",
			       sb_quote(sb.name, name, sizeof(name)),
			       sb_escape(raw, status, sizeof(status)), sb.cfg.cpus, mem, disk,
			       when);
		}
		first = false;
		sb_close(&sb);
	}
	if (json)
		printf("]\n");
	sb_names_free(names, n);
	return 0;
}
