/* state.c: container ids as silo names, the state record, and what runc
 * prints (pure; tests/unit/test_oci.c).
 */
#include "oci/oci.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NAME_PREFIX "oci-"

int oci_err(char *err, size_t n, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, n, fmt, ap);
	va_end(ap);
	return -1;
}

void oci_silo_name(const char *id, char out[SB_NAME_MAX + 1])
{
	snprintf(out, SB_NAME_MAX + 1, NAME_PREFIX "%s", id);
	if (strlen(id) <= SB_NAME_MAX - strlen(NAME_PREFIX) && sb_name_valid(out))
		return;
	/* 64 hex digits (containerd, Docker) or a character silo names do
	 * not take: a prefix of the id to recognise it by, and FNV-1a 64 of
	 * all of it so that ids which share the prefix stay apart */
	uint64_t h = 0xcbf29ce484222325ull;
	for (const unsigned char *p = (const unsigned char *)id; *p; p++)
		h = (h ^ *p) * 0x100000001b3ull;
	char keep[13]; /* 12: the name stays short, for the run dir's sockets */
	size_t k = 0;
	for (const char *p = id; *p && k < sizeof(keep) - 1; p++)
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9'))
			keep[k++] = *p;
	keep[k] = 0;
	snprintf(out, SB_NAME_MAX + 1, NAME_PREFIX "%s%s%016llx", keep, k ? "-" : "",
		 (unsigned long long)h);
}

void oci_time_text(int64_t ns, char *buf, size_t n)
{
	time_t s = (time_t)(ns / 1000000000);
	struct tm tm;
	gmtime_r(&s, &tm);
	char day[32];
	strftime(day, sizeof(day), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf, n, "%s.%09lldZ", day, (long long)(ns % 1000000000));
}

static const char *const kinds[] = { "vm", "pod-sandbox", "pod-container" };

int oci_state_format(const struct oci_state *st, char **out)
{
	json_t *j =
		json_pack("{s:s, s:s, s:s, s:s, s:i, s:I, s:I}", "id", st->id, "bundle", st->bundle,
			  "sandbox", st->sandbox, "kind", kinds[st->kind], "pid", st->pid, "start",
			  (json_int_t)st->start, "created", (json_int_t)st->created_ns);
	if (!j)
		return -1;
	if (st->annotations)
		json_object_set(j, "annotations", st->annotations);
	if (st->cgroup[0])
		json_object_set_new(j, "cgroup", json_string(st->cgroup));
	*out = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	return *out ? 0 : -1;
}

int oci_state_parse(const char *text, struct oci_state *st, char *err, size_t n)
{
	json_error_t je;
	memset(st, 0, sizeof(*st));
	json_t *j = json_loads(text, 0, &je);
	const char *id, *bundle, *sandbox, *kind;
	json_int_t pid, start, created;
	if (!j ||
	    json_unpack(j, "{s:s, s:s, s:s, s:s, s:I, s:I, s:I}", "id", &id, "bundle", &bundle,
			"sandbox", &sandbox, "kind", &kind, "pid", &pid, "start", &start, "created",
			&created) < 0 ||
	    strlen(id) > OCI_ID_MAX || strlen(bundle) >= sizeof(st->bundle) ||
	    !sb_name_valid(sandbox) || pid < 0 || pid > INT32_MAX || start < 0) {
		snprintf(err, n, "damaged state.json");
		json_decref(j);
		return -1;
	}
	unsigned k = 0;
	while (k < 3 && strcmp(kinds[k], kind))
		k++;
	if (k == 3) {
		snprintf(err, n, "damaged state.json: kind '%s'", kind);
		json_decref(j);
		return -1;
	}
	snprintf(st->id, sizeof(st->id), "%s", id);
	snprintf(st->bundle, sizeof(st->bundle), "%s", bundle);
	snprintf(st->sandbox, sizeof(st->sandbox), "%s", sandbox);
	st->kind = (enum oci_kind)k;
	st->pid = (int)pid;
	st->start = (unsigned long long)start;
	st->created_ns = created;
	json_t *cg = json_object_get(j, "cgroup");
	if (json_is_string(cg) && strlen(json_string_value(cg)) < sizeof(st->cgroup))
		snprintf(st->cgroup, sizeof(st->cgroup), "%s", json_string_value(cg));
	json_t *ann = json_object_get(j, "annotations");
	st->annotations = json_is_object(ann) ? json_incref(ann) : NULL;
	json_decref(j);
	return 0;
}

void oci_state_free(struct oci_state *st)
{
	json_decref(st->annotations);
	st->annotations = NULL;
}

json_t *oci_state_runc(const struct oci_state *st, const char *status)
{
	char created[64], rootfs[SB_PATH_MAX + 8];
	oci_time_text(st->created_ns, created, sizeof(created));
	snprintf(rootfs, sizeof(rootfs), "%s/rootfs", st->bundle);
	/* runc's: a stopped container's pid is 0 */
	json_t *j =
		json_pack("{s:s, s:s, s:i, s:s, s:s, s:s, s:s, s:s}", "ociVersion", "1.0.2", "id",
			  st->id, "pid", strcmp(status, "stopped") ? st->pid : 0, "status", status,
			  "bundle", st->bundle, "rootfs", rootfs, "created", created, "owner", "");
	if (j)
		json_object_set_new(j, "annotations",
				    st->annotations ? json_incref(st->annotations) : json_object());
	return j;
}

int oci_log_line(const char *level, const char *msg, int64_t now_ns, char **out)
{
	char t[64];
	oci_time_text(now_ns, t, sizeof(t));
	json_t *j = json_pack("{s:s, s:s, s:s}", "level", level, "msg", msg, "time", t);
	char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
	if (!s)
		return -1;
	size_t len = strlen(s);
	char *line = realloc(s, len + 2);
	if (!line) {
		free(s);
		return -1;
	}
	line[len] = '\n';
	line[len + 1] = 0;
	*out = line;
	return 0;
}
