/* template.c: templates on disk (docs/snapshots.md "Templates"): their
 * metadata, listing, removal, and what a sandbox made from one must be.
 *
 *   <data>/templates/.lock      flock: shared while a sandbox is being
 *                               made from a template, exclusive for rm
 *   <data>/templates/<T>/       template, mem, state, scratch.img
 *   <data>/templates/.<T>.tmp-<pid>/   a build in progress (hidden)
 *
 * A template is built in its hidden directory and renamed into place
 * (template_build.c), so a listed template is always complete. Who uses T:
 * a sandbox whose config says template=T and restore=1 (its first start
 * will map T's memory), or one running restored from T (<run>/<name>/
 * template, written before its silo-vmm starts).
 */
#include "sandbox/sandbox.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vmm/snapshot/wset.h"

int sb_templates_dir(const struct sb_paths *p, char *buf)
{
	return sb_path(buf, "%s/templates", p->data);
}

int sb_template_dir(const struct sb_paths *p, const char *name, char *buf)
{
	if (sb_name_check(name, "template") < 0)
		return -1;
	return sb_path(buf, "%s/templates/%s", p->data, name);
}

static int parse_num(const char *v, uint64_t *out)
{
	char *end;

	if (v[0] < '0' || v[0] > '9')
		return -1;
	errno = 0;
	*out = strtoull(v, &end, 10);
	return errno || *end ? -1 : 0;
}

/* The template file's keys, all required; their bit in the parser's mask. */
static const char *const template_keys[] = { "name",	 "cpus",      "memory",	      "disk",
					     "created",	 "docker",    "net",	      "base_dev",
					     "base_ino", "base_size", "base_mtime_ns" };
#define ALL_KEYS ((1u << (sizeof(template_keys) / sizeof(template_keys[0]))) - 1)

/* A numeric value into its field: -1 when out of range. */
static int template_num(struct sb_template *t, const char *k, uint64_t n)
{
	if (!strcmp(k, "cpus")) {
		if (n < 1 || n > 32)
			return -1;
		t->cpus = (unsigned)n;
	} else if (!strcmp(k, "docker") || !strcmp(k, "net")) {
		if (n > 1)
			return -1;
		if (k[0] == 'n')
			t->net = n == 1;
		else
			t->no_docker = n == 0;
	} else if (!strcmp(k, "created") || !strcmp(k, "base_mtime_ns")) {
		if (n > INT64_MAX)
			return -1;
		*(k[0] == 'c' ? &t->created : &t->base.mtime_ns) = (int64_t)n;
	} else {
		uint64_t *dst = !strcmp(k, "memory")	 ? &t->memory
				: !strcmp(k, "disk")	 ? &t->disk
				: !strcmp(k, "base_dev") ? &t->base.dev
				: !strcmp(k, "base_ino") ? &t->base.ino
							 : &t->base.size;
		*dst = n;
	}
	return 0;
}

/* One key=value into t: its bit in the mask of keys, 0 for a key we do
 * not know (a newer silo's: ignored), -1 for a bad value. */
static int template_key(struct sb_template *t, const char *k, const char *v)
{
	uint64_t n;

	for (unsigned i = 0; i < sizeof(template_keys) / sizeof(template_keys[0]); i++) {
		if (strcmp(k, template_keys[i]))
			continue;
		if (i == 0) {
			if (!sb_name_valid(v))
				return -1;
			snprintf(t->name, sizeof(t->name), "%s", v);
		} else if (parse_num(v, &n) < 0 || template_num(t, k, n) < 0) {
			return -1;
		}
		return 1 << i;
	}
	return 0;
}

int sb_template_parse(const char *text, struct sb_template *t)
{
	const char *p = text;
	unsigned seen = 0;

	memset(t, 0, sizeof(*t));
	while (*p) {
		const char *nl = strchrnul(p, '\n');
		char line[256];
		size_t len = (size_t)(nl - p);
		if (len >= sizeof(line))
			return sb_fail("template file: line too long");
		memcpy(line, p, len);
		line[len] = 0;
		p = *nl ? nl + 1 : nl;
		if (!line[0] || line[0] == '#')
			continue;
		char *v = strchr(line, '=');
		if (!v)
			return sb_fail("template file: bad line '%.40s'", line);
		*v++ = 0;
		if (!strcmp(line, "agent")) {
			/* optional: "NAME VERSION" of a --agent build */
			if (strlen(v) >= sizeof(t->agent) ||
			    strspn(v, "abcdefghijklmnopqrstuvwxyz"
				      "0123456789.-+ ") != strlen(v))
				return sb_fail("template file: bad value for agent: '%.40s'", v);
			snprintf(t->agent, sizeof(t->agent), "%s", v);
			continue;
		}
		int r = template_key(t, line, v);
		if (r < 0)
			return sb_fail("template file: bad value for %.40s: '%.40s'", line, v);
		seen |= (unsigned)r;
	}
	if (seen != ALL_KEYS || t->memory < SB_MIN_MEMORY || t->memory % (1 << 20) ||
	    t->disk < SB_MIN_DISK)
		return sb_fail("template file: incomplete");
	return 0;
}

int sb_template_format(const struct sb_template *t, FILE *f)
{
	fprintf(f,
		"name=%s\ncpus=%u\nmemory=%" PRIu64 "\ndisk=%" PRIu64 "\ncreated=%" PRId64
		"\ndocker=%d\nnet=%d\nbase_dev=%" PRIu64 "\nbase_ino=%" PRIu64
		"\nbase_size=%" PRIu64 "\nbase_mtime_ns=%" PRId64 "\n",
		t->name, t->cpus, t->memory, t->disk, t->created, !t->no_docker, t->net,
		t->base.dev, t->base.ino, t->base.size, t->base.mtime_ns);
	if (t->agent[0])
		fprintf(f, "agent=%s\n", t->agent);
	return ferror(f) ? -1 : 0;
}

int sb_template_load(const struct sb_paths *p, const char *name, struct sb_template *t)
{
	char base[SB_PATH_MAX], dir[SB_PATH_MAX], f[SB_PATH_MAX], *text;

	if (sb_template_dir(p, name, dir) < 0 || sb_path(f, "%s/%s", dir, SB_TEMPLATE_FILE) < 0 ||
	    sb_templates_dir(p, base) < 0)
		return -1;
	/* a missing directory is checked as "no such template" below */
	if (sb_dir_private(base, "templates directory", p->data_hint, false) < 0 ||
	    sb_dir_private(dir, "template directory", "", false) < 0)
		return -1;
	if (sb_read_file(f, &text, NULL) < 0) {
		if (errno == ENOENT || errno == ENOTDIR)
			return sb_fail("no such template: %s (see 'silo template ls'; 'silo "
				       "template build --name %s' makes it)",
				       name, name);
		return sb_fail("%s: %s", f, strerror(errno));
	}
	int r = sb_template_parse(text, t);
	free(text);
	if (r < 0) {
		char why[256]; /* sb_fail writes where sb_errmsg points */
		snprintf(why, sizeof(why), "%s", sb_errmsg());
		return sb_fail("template %s: %s (remove it with 'silo template rm %s')", name, why,
			       name);
	}
	if (strcmp(t->name, name))
		return sb_fail("template %s: its file names '%s'", name, t->name);
	return 0;
}

int sb_template_list(const struct sb_paths *p, char ***names, size_t *n)
{
	char d[SB_PATH_MAX];

	*names = NULL;
	*n = 0;
	/* hidden: the lock, builds in progress */
	if (sb_templates_dir(p, d) < 0 ||
	    sb_dir_private(d, "templates directory", p->data_hint, false) < 0)
		return -1;
	return sb_dir_names(d, names, n);
}

uint64_t sb_template_du(const struct sb_paths *p, const char *name)
{
	static const char *const files[] = { SB_TEMPLATE_FILE, "mem", "state", "scratch.img",
					     WSET_FILE };
	char dir[SB_PATH_MAX], f[SB_PATH_MAX];
	uint64_t sum = 0;
	struct stat st;

	if (sb_template_dir(p, name, dir) < 0)
		return 0;
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++)
		if (sb_path(f, "%s/%s", dir, files[i]) == 0 && lstat(f, &st) == 0)
			sum += (uint64_t)st.st_blocks * 512;
	return sum;
}

int sb_templates_lock(const struct sb_paths *p, bool exclusive)
{
	char d[SB_PATH_MAX], f[SB_PATH_MAX];

	if (sb_templates_dir(p, d) < 0 || sb_path(f, "%s/.lock", d) < 0)
		return -1;
	if (sb_mkdir_p(d, 0700) < 0)
		return sb_fail("cannot create %s: %s", d, strerror(errno));
	if (sb_dir_private(d, "templates directory", p->data_hint, false) < 0)
		return -1;
	int fd = open(f, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return sb_fail("%s: %s", f, strerror(errno));
	while (flock(fd, exclusive ? LOCK_EX : LOCK_SH) < 0)
		if (errno != EINTR) {
			close(fd);
			return sb_fail("lock %s: %s", f, strerror(errno));
		}
	return fd;
}

/* The sandbox that uses template name, in user (SB_NAME_MAX + 1); 0 when
 * none does. */
static int template_user(const struct sb_paths *p, const char *name, char *user)
{
	char **names, f[SB_PATH_MAX];
	size_t n;
	int found = 0;

	if (sb_list(p, &names, &n) < 0)
		return -1;
	for (size_t i = 0; i < n && !found; i++) {
		struct sandbox sb;
		struct sb_status st;
		if (sb_open(&sb, p, names[i], false) < 0)
			continue;
		if (!strcmp(sb.cfg.template, name)) {
			found = sb.cfg.restore_pending;
			if (!found && sb_status(&sb, &st) == 0 && st.state == SB_RUNNING &&
			    sb_path(f, "%s/template", sb.rundir) == 0 && sb_exists(f))
				found = 1;
			if (found)
				snprintf(user, SB_NAME_MAX + 1, "%s", sb.name);
		}
		sb_close(&sb);
	}
	sb_names_free(names, n);
	return found;
}

int sb_template_remove(const struct sb_paths *p, const char *name)
{
	char base[SB_PATH_MAX], dir[SB_PATH_MAX], user[SB_NAME_MAX + 1], gone[SB_NAME_MAX + 32];
	struct stat st;
	int lock, r;

	if (sb_template_dir(p, name, dir) < 0 || sb_templates_dir(p, base) < 0)
		return -1;
	if (lstat(dir, &st) < 0 || !S_ISDIR(st.st_mode))
		return sb_fail("no such template: %s (see 'silo template ls')", name);
	lock = sb_templates_lock(p, true);
	if (lock < 0)
		return -1;
	r = template_user(p, name, user);
	if (r > 0)
		r = sb_fail("template %s is in use by sandbox %s: remove it (or stop it, once it "
			    "has started) first",
			    name, user);
	if (r == 0) {
		/* as sb_remove: renamed away first, so a half-removed
		 * template is never listed */
		snprintf(gone, sizeof(gone), ".rm-%s-%d", name, (int)getpid());
		int dfd = open(base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (dfd < 0 || renameat(dfd, name, dfd, gone) < 0 || sb_rmtree_at(dfd, gone) < 0)
			r = sb_fail("cannot remove %s: %s", dir, strerror(errno));
		if (dfd >= 0)
			close(dfd);
	}
	close(lock);
	return r;
}

int sb_base_id(const struct sb_paths *p, struct sb_base_id *id)
{
	char f[SB_PATH_MAX];
	struct stat st;

	if (sb_path(f, "%s/rootfs.ext4", p->guest) < 0)
		return -1;
	if (stat(f, &st) < 0)
		return sb_fail("guest image %s: %s: run 'make image'", f, strerror(errno));
	*id = (struct sb_base_id){ .dev = st.st_dev,
				   .ino = st.st_ino,
				   .size = (uint64_t)st.st_size,
				   .mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 +
					       st.st_mtim.tv_nsec };
	return 0;
}

/* A flag given with another value than the template's. */
static int mismatch(const struct sb_template *t, const char *flag, const char *have)
{
	return sb_fail("template %s has %s %s: give the same or leave %s out (a restored "
		       "sandbox keeps its template's)",
		       t->name, flag, have, flag);
}

int sb_template_apply(const struct sb_template *t, unsigned given, struct sb_config *cfg)
{
	char have[32];

	if ((given & SB_GIVEN_CPUS) && cfg->cpus != t->cpus) {
		snprintf(have, sizeof(have), "%u", t->cpus);
		return mismatch(t, "--cpus", have);
	}
	if ((given & SB_GIVEN_MEMORY) && cfg->memory != t->memory)
		return mismatch(t, "--memory", sb_format_size(t->memory, have, sizeof(have)));
	if ((given & SB_GIVEN_DISK) && cfg->disk != t->disk)
		return mismatch(t, "--disk", sb_format_size(t->disk, have, sizeof(have)));
	/* The guest's side of both was set up at the template's boot. */
	if (cfg->no_docker && !t->no_docker)
		return sb_fail("template %s runs Docker: --no-docker cannot turn it off", t->name);
	if (cfg->wait_docker && t->no_docker)
		return sb_fail("template %s was built with --no-docker: it has no Docker to "
			       "wait for",
			       t->name);
	if ((given & SB_GIVEN_NET) && !cfg->policy != !t->net)
		return sb_fail("template %s was built %s a network: %s", t->name,
			       t->net ? "with" : "without",
			       t->net ? "--network none cannot restore it"
				      : "its sandboxes have none (leave out the network flags)");
	if (!t->net) {
		free(cfg->policy);
		cfg->policy = NULL;
	}
	if (!cfg->policy && cfg->npublish)
		return sb_fail("-p needs a network: template %s has none", t->name);
	cfg->cpus = t->cpus;
	cfg->memory = t->memory;
	cfg->disk = t->disk;
	cfg->no_docker = t->no_docker;
	snprintf(cfg->template, sizeof(cfg->template), "%s", t->name);
	return 0;
}
