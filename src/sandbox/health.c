/* health.c: is a running sandbox degraded? silo-vmm counts the guest
 * writes and flushes the host refused (full filesystem, quota, I/O error)
 * per disk and reports them in its control socket's `metrics` reply
 * (docs/silo-vmm.md); silo ls and inspect show them. One request with a
 * short deadline: a hung or stopped VMM makes ls say nothing, not hang. */
#include "sandbox/sandbox.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HEALTH_DEADLINE_MS 300	 /* per sandbox: ls stays quick with many */
#define HEALTH_REPLY_MAX   16384 /* metrics are a few KiB (src/vmm/control.c) */

static unsigned long long num_after(const char *from, const char *key, const char *end)
{
	const char *p = strstr(from, key);
	return p && (!end || p < end) ? strtoull(p + strlen(key), NULL, 10) : 0;
}

int sb_degraded(const struct sandbox *sb, char *why, size_t wn, char *detail, size_t dn)
{
	char *buf = malloc(HEALTH_REPLY_MAX);
	unsigned long long total = 0, first_errno = 0;
	char disk[24] = "", disks[128] = "";

	if (!buf)
		return 0;
	if (sb_vmm_request(sb, "metrics", buf, HEALTH_REPLY_MAX, HEALTH_DEADLINE_MS) < 0) {
		free(buf);
		return 0;
	}
	/* Each blk device's "dev" object is {"disk":"vdb",...,"host_errs":N
         * [,"first_error":{"errno":E,...}]} (blk_metrics in silo-vmm). */
	for (char *p = strstr(buf, "{\"disk\":\""); p; p = strstr(p + 1, "{\"disk\":\"")) {
		char *next = strstr(p + 1, "{\"disk\":\"");
		unsigned long long errs = num_after(p, "\"host_errs\":", next);
		size_t dl = strcspn(p + 9, "\"");
		if (!errs)
			continue;
		snprintf(disk, sizeof(disk), "%.*s", (int)(dl < 16 ? dl : 16), p + 9);
		size_t used = strlen(disks);
		snprintf(disks + used, sizeof(disks) - used, "%s%s", used ? ", " : "", disk);
		if (!first_errno)
			first_errno = num_after(p, "\"first_error\":{\"errno\":", next);
		total += errs;
	}
	free(buf);
	if (!total)
		return 0;
	int e = (int)first_errno;
	bool full = e == ENOSPC || e == EDQUOT;
	snprintf(why, wn, "%s", full ? "host disk full" : "host disk I/O errors");
	snprintf(detail, dn, "%s: %llu write%s failed on %s (%s)", why, total,
		 total == 1 ? "" : "s", disks, e ? strerror(e) : "unknown error");
	return 1;
}
