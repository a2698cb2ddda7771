/* spec.c: config.json (OCI runtime spec 1.x, config.md) to what silo runs
 * (pure; tests/unit/test_oci.c). What is taken, ignored or refused is the
 * table in docs/containerd.md: the image's rootfs, namespaces, capabilities
 * and devices describe a host container, and a silo VM has its own kernel
 * and disk instead.
 */
#include "oci/oci.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void strv_free(char **v)
{
	for (size_t i = 0; v && v[i]; i++)
		free(v[i]);
	free(v);
}

/* A JSON array of strings (missing: an empty list) into a NULL-terminated
 * malloc'd vector. */
static int strv(json_t *arr, char ***out, const char *what, char *err, size_t n)
{
	*out = NULL;
	if (arr && !json_is_array(arr))
		return oci_err(err, n, "config: %s is not an array of strings", what);
	size_t len = arr ? json_array_size(arr) : 0;
	char **v = calloc(len + 1, sizeof(*v));
	if (!v)
		return oci_err(err, n, "out of memory");
	for (size_t i = 0; i < len; i++) {
		json_t *s = json_array_get(arr, i);
		if (!json_is_string(s) || !(v[i] = strdup(json_string_value(s)))) {
			strv_free(v);
			return oci_err(err, n, "config: %s[%zu] is not a string", what, i);
		}
	}
	*out = v;
	return 0;
}

static bool uint_field(json_t *o, const char *key, uint64_t *out)
{
	json_t *v = json_object_get(o, key);
	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return false;
	*out = (uint64_t)json_integer_value(v);
	return true;
}

void oci_proc_free(struct oci_proc *p)
{
	strv_free(p->args);
	strv_free(p->env);
	p->args = p->env = NULL;
}

int oci_proc_parse(json_t *process, struct oci_proc *p, char *err, size_t n)
{
	memset(p, 0, sizeof(*p));
	if (!json_is_object(process))
		return oci_err(err, n, "config: no process object");
	if (strv(json_object_get(process, "args"), &p->args, "process.args", err, n) < 0 ||
	    strv(json_object_get(process, "env"), &p->env, "process.env", err, n) < 0)
		goto err;
	for (size_t i = 0; p->env[i]; i++)
		if (!strchr(p->env[i], '=') || p->env[i][0] == '=') {
			oci_err(err, n, "config: process.env[%zu] is not KEY=VALUE", i);
			goto err;
		}
	json_t *cwd = json_object_get(process, "cwd");
	const char *c = json_is_string(cwd) ? json_string_value(cwd) : "/";
	if (c[0] != '/' || strlen(c) >= sizeof(p->cwd)) {
		oci_err(err, n, "config: process.cwd must be an absolute path");
		goto err;
	}
	snprintf(p->cwd, sizeof(p->cwd), "%s", c);
	/* The guest's own users: uid and gid as numbers (the agent takes
	 * "uid:gid" without a passwd entry, like docker exec -u). */
	json_t *user = json_object_get(process, "user");
	uint64_t uid = 0, gid = 0;
	if (user && (!json_is_object(user) ||
		     (json_object_get(user, "uid") && !uint_field(user, "uid", &uid)) ||
		     (json_object_get(user, "gid") && !uint_field(user, "gid", &gid)) ||
		     uid > UINT32_MAX || gid > UINT32_MAX)) {
		oci_err(err, n, "config: process.user needs numeric uid and gid");
		goto err;
	}
	snprintf(p->user, sizeof(p->user), "%llu:%llu", (unsigned long long)uid,
		 (unsigned long long)gid);
	p->terminal = json_is_true(json_object_get(process, "terminal"));
	json_t *cs = json_object_get(process, "consoleSize");
	uint64_t h = 0, w = 0;
	if (json_is_object(cs) && uint_field(cs, "height", &h) && uint_field(cs, "width", &w) &&
	    h <= 0xffff && w <= 0xffff) {
		p->rows = (unsigned)h;
		p->cols = (unsigned)w;
	}
	return 0;
err:
	oci_proc_free(p);
	return -1;
}

int oci_proc_text(const char *text, struct oci_proc *p, char *err, size_t n)
{
	json_error_t je;
	json_t *j = json_loads(text, 0, &je);
	if (!j)
		return oci_err(err, n, "process: not JSON (line %d: %s)", je.line, je.text);
	int rc = oci_proc_parse(j, p, err, n);
	json_decref(j);
	return rc;
}

static const char *annotation(json_t *ann, const char *key)
{
	json_t *v = json_object_get(ann, key);
	return json_is_string(v) ? json_string_value(v) : NULL;
}

static bool ann_u64(json_t *ann, const char *key, uint64_t *out)
{
	const char *s = annotation(ann, key);
	char *end;
	if (!s || !*s)
		return false;
	unsigned long long v = strtoull(s, &end, 10);
	if (*end || s[0] == '-')
		return false;
	*out = v;
	return true;
}

/* The pod's (CRI's annotations, containerd >= 1.7) or the container's
 * (linux.resources) CPU quota and memory limit as the VM's size. */
static void resources(json_t *root, json_t *ann, struct oci_spec *s)
{
	uint64_t quota = 0, period = 0, mem = 0;
	json_t *res = json_object_get(json_object_get(root, "linux"), "resources");
	json_t *cpu = json_object_get(res, "cpu"), *m = json_object_get(res, "memory");
	if (!ann_u64(ann, "io.kubernetes.cri.sandbox-cpu-quota", &quota) ||
	    !ann_u64(ann, "io.kubernetes.cri.sandbox-cpu-period", &period)) {
		quota = period = 0;
		uint_field(cpu, "quota", &quota);
		uint_field(cpu, "period", &period);
	}
	if (!ann_u64(ann, "io.kubernetes.cri.sandbox-memory", &mem) || !mem)
		uint_field(m, "limit", &mem);
	if (quota && period) {
		uint64_t c = (quota + period - 1) / period;
		s->cpus = c > SB_MAX_CPUS ? SB_MAX_CPUS : (unsigned)c;
	}
	if (mem) {
		mem = (mem + (1ull << 20) - 1) & ~((1ull << 20) - 1);
		s->memory = mem < OCI_MIN_MEMORY ? OCI_MIN_MEMORY : mem;
	}
}

/* Bind mounts the engines add for every container, each of which the
 * guest has its own of: taken as satisfied. */
static const char *const own_mounts[] = {
	"/etc/hosts",		"/etc/hostname",      "/etc/resolv.conf", "/dev/shm",
	"/dev/termination-log", "/run/.containerenv", "/run/secrets",	  NULL,
};

/* A silo VM shares no host directory (docs/containerd.md): a volume's
 * bind mount is refused rather than silently left out. */
static int mounts(json_t *root, char *err, size_t n)
{
	json_t *ms = json_object_get(root, "mounts"), *m;
	size_t i;
	json_array_foreach(ms, i, m)
	{
		const char *type = json_string_value(json_object_get(m, "type"));
		const char *dst = json_string_value(json_object_get(m, "destination"));
		const char *src = json_string_value(json_object_get(m, "source"));
		bool bind = type && !strcmp(type, "bind");
		json_t *opts = json_object_get(m, "options"), *o;
		size_t k;
		json_array_foreach(opts, k, o)
		{
			const char *v = json_string_value(o);
			bind |= v && (!strcmp(v, "bind") || !strcmp(v, "rbind"));
		}
		if (!bind || !dst)
			continue;
		bool own = false;
		for (const char *const *d = own_mounts; *d && !own; d++)
			own = !strcmp(dst, *d);
		if (!own)
			return oci_err(
				err, n,
				"config: bind mount of %s on %s: a silo VM shares no host "
				"directory; drop the volume, or copy the files in with silo cp",
				src ? src : "?", dst);
	}
	return 0;
}

/* systemd's slice "a-b.slice" is /a.slice/a-b.slice (systemd.slice(5):
 * dashes nest); "-.slice" and "" are the root. */
static int expand_slice(const char *slice, char *out, size_t n)
{
	size_t len = strlen(slice), o = 0;
	out[0] = 0;
	if (!len || !strcmp(slice, "-.slice"))
		return 0;
	if (len < 7 || strcmp(slice + len - 6, ".slice") || strchr(slice, '/'))
		return -1;
	len -= 6;
	for (size_t i = 0; i <= len; i++) {
		if (i < len && slice[i] != '-')
			continue;
		if (!i || slice[i - 1] == '-')
			return -1; /* "-a.slice", "a--b.slice" */
		int w = snprintf(out + o, n - o, "/%.*s.slice", (int)i, slice);
		if (w < 0 || (size_t)w >= n - o)
			return -1;
		o += (size_t)w;
	}
	return 0;
}

int oci_cgroup_path(const char *given, bool systemd, char *out, size_t n, char *err, size_t en)
{
	if (!systemd) {
		if (snprintf(out, n, "%s%s", given[0] == '/' ? "" : "/", given) >= (int)n ||
		    !sb_cgroup_path_valid(out))
			return oci_err(err, en, "linux.cgroupsPath '%s' is not a cgroup path",
				       given);
		return 0;
	}
	char slice[256], prefix[256];
	const char *c1 = strchr(given, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
	if (!c2 || (size_t)(c1 - given) >= sizeof(slice) || (size_t)(c2 - c1 - 1) >= sizeof(prefix))
		return oci_err(err, en,
			       "linux.cgroupsPath '%s' is not slice:prefix:name (--systemd-cgroup)",
			       given);
	snprintf(slice, sizeof(slice), "%.*s", (int)(c1 - given), given);
	snprintf(prefix, sizeof(prefix), "%.*s", (int)(c2 - c1 - 1), c1 + 1);
	const char *name = c2 + 1;
	size_t nl = strlen(name);
	if (expand_slice(slice[0] ? slice : "system.slice", out, n) < 0 || !nl)
		return oci_err(err, en, "linux.cgroupsPath '%s': bad slice or name", given);
	size_t o = strlen(out);
	/* a name that is a slice is the unit; else a scope (runc's rule) */
	int w = nl > 6 && !strcmp(name + nl - 6, ".slice")
			? snprintf(out + o, n - o, "/%s", name)
			: snprintf(out + o, n - o, "/%s%s%s.scope", prefix, prefix[0] ? "-" : "",
				   name);
	if (w < 0 || (size_t)w >= n - o || !sb_cgroup_path_valid(out))
		return oci_err(err, en, "linux.cgroupsPath '%s' is not a cgroup path", given);
	return 0;
}

void oci_spec_free(struct oci_spec *s)
{
	oci_proc_free(&s->proc);
	json_decref(s->root);
	s->root = s->annotations = NULL;
}

int oci_spec_parse(const char *text, struct oci_spec *s, char *err, size_t n)
{
	json_error_t je;
	memset(s, 0, sizeof(*s));
	if (!(s->root = json_loads(text, 0, &je)))
		return oci_err(err, n, "config.json: not JSON (line %d: %s)", je.line, je.text);
	if (!json_is_object(s->root)) {
		oci_err(err, n, "config.json: not an object");
		goto err;
	}
	json_t *ann = json_object_get(s->root, "annotations");
	s->annotations = json_is_object(ann) ? ann : NULL;
	if (oci_proc_parse(json_object_get(s->root, "process"), &s->proc, err, n) < 0)
		goto err;
	/* containerd's CRI plugin, or CRI-O's */
	const char *type = annotation(ann, "io.kubernetes.cri.container-type");
	const char *pod = annotation(ann, "io.kubernetes.cri.sandbox-id");
	if (!type) {
		type = annotation(ann, "io.kubernetes.cri-o.ContainerType");
		pod = annotation(ann, "io.kubernetes.cri-o.SandboxID");
	}
	if (type && !strcmp(type, "container")) {
		s->kind = OCI_POD_CONTAINER;
		if (!pod || !oci_id_valid(pod)) {
			oci_err(err, n,
				"config.json: a pod's container without a valid sandbox id");
			goto err;
		}
		snprintf(s->pod, sizeof(s->pod), "%s", pod);
	} else {
		s->kind = type && !strcmp(type, "sandbox") ? OCI_POD_SANDBOX : OCI_VM;
	}
	if (s->kind != OCI_POD_SANDBOX && !s->proc.args[0]) {
		oci_err(err, n, "config.json: process.args is empty: nothing to run");
		goto err;
	}
	if (mounts(s->root, err, n) < 0)
		goto err;
	resources(s->root, ann, s);
	json_t *cgp = json_object_get(json_object_get(s->root, "linux"), "cgroupsPath");
	s->cgroups_path =
		json_is_string(cgp) && *json_string_value(cgp) ? json_string_value(cgp) : NULL;
	const char *t = annotation(ann, "dev.silo.template");
	if (t && !sb_name_valid(t)) {
		oci_err(err, n, "annotation dev.silo.template: invalid template name '%s'", t);
		goto err;
	}
	snprintf(s->template, sizeof(s->template), "%s", t ? t : "");
	s->network = annotation(ann, "dev.silo.network");
	if (s->network && strcmp(s->network, "open") && strcmp(s->network, "allowlist") &&
	    strcmp(s->network, "none")) {
		oci_err(err, n,
			"annotation dev.silo.network: '%s' is none of open, allowlist, none",
			s->network);
		goto err;
	}
	const char *d = annotation(ann, "dev.silo.docker");
	if (d && strcmp(d, "true") && strcmp(d, "false")) {
		oci_err(err, n, "annotation dev.silo.docker: '%s' is neither true nor false", d);
		goto err;
	}
	s->no_docker = d && !strcmp(d, "false");
	return 0;
err:
	oci_spec_free(s);
	return -1;
}
