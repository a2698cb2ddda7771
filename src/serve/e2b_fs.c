/* e2b_fs.c: envd's filesystem.Filesystem and its /files endpoints
 * (docs/api-e2b.md 4.5, 4.6).
 *
 * Reading is the agent's (stat, list, a file's bytes). What changes the
 * tree runs as the call's user, through a shell in the guest (mkdir -p,
 * mv, rm -rf, cat > FILE), so files are owned, and refused, as they would
 * be for that user in E2B. An upload's multipart body is parsed by
 * libmicrohttpd's post processor and each part streamed into the guest as
 * it arrives: a 100 MB file never sits whole in the server.
 */
#include "serve/e2b.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const char *owner_name(uint32_t id, char *buf, size_t n)
{
	/* the image's users (guest/rootfs/build.sh) */
	static const char *const names[] = { [0] = "root" };
	if (id == 0)
		return names[0];
	if (id == 1000)
		return "agent";
	if (id == 1001)
		return E2B_USER;
	snprintf(buf, n, "%u", id);
	return buf;
}

/* An EntryInfo for path (dir/name) from the agent's stat. */
static json_t *entry(const char *path, const struct proto_stat *st, const char *link)
{
	char perm[11] = "----------", time[48], own[16], grp[16], size[24];
	static const char rwx[] = "rwxrwxrwx";
	const char *name = strrchr(path, '/');
	name = name && name[1] ? name + 1 : path;
	const char *type = S_ISDIR(st->mode)   ? "FILE_TYPE_DIRECTORY"
			   : S_ISLNK(st->mode) ? "FILE_TYPE_SYMLINK"
			   : S_ISREG(st->mode) ? "FILE_TYPE_FILE"
					       : "FILE_TYPE_UNSPECIFIED";
	/* Go's os.FileMode.String(), which envd sends */
	perm[0] = S_ISDIR(st->mode) ? 'd' : S_ISLNK(st->mode) ? 'L' : '-';
	for (int i = 0; i < 9; i++)
		if (st->mode & (0400u >> i))
			perm[i + 1] = rwx[i];
	struct tm tm;
	time_t t = (time_t)st->mtime_sec;
	gmtime_r(&t, &tm);
	size_t n = strftime(time, sizeof(time), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(time + n, sizeof(time) - n, ".%09uZ", st->mtime_nsec);
	snprintf(size, sizeof(size), "%llu", (unsigned long long)st->size);
	json_t *e = json_pack("{s:o,s:s,s:o,s:s,s:i,s:s,s:s,s:s,s:s}", "name", serve_str(name),
			      "type", type, "path", serve_str(path), "size", size, "mode",
			      (int)(st->mode & 07777), "permissions", perm, "owner",
			      owner_name(st->uid, own, sizeof(own)), "group",
			      owner_name(st->gid, grp, sizeof(grp)), "modifiedTime", time);
	if (e && link && link[0])
		json_object_set_new(e, "symlinkTarget", serve_str(link));
	return e;
}

static int stat_entry(const struct sandbox *sb, const char *path, json_t **out,
		      struct aclient_err *e)
{
	struct aclient_stat st;
	if (aclient_stat(sb->addr, path, false, &st, e) < 0)
		return -1;
	*out = entry(path, &st.st, st.link);
	return 0;
}

/* A call's error as Connect's: a missing path is not_found. */
static enum MHD_Result fs_error(struct MHD_Connection *c, const char *path,
				const struct aclient_err *e)
{
	if (e->code == ENOENT)
		return connect_error(c, CONNECT_NOT_FOUND, "path %s not found", path);
	if (e->code == EACCES || e->code == EPERM)
		return connect_error(c, CONNECT_PERMISSION_DENIED, "%s: %s", path, e->msg);
	return connect_error(c, e->remote ? CONNECT_INVALID_ARGUMENT : CONNECT_UNAVAILABLE,
			     "%s: %s", path, e->msg);
}

/* sh -c script sh ARGS... as user, stdin from in_fd (-1: none): its exit
 * status, its first line of stderr in err. */
static int as_user(const struct sandbox *sb, const char *user, const char *script, const char *a1,
		   const char *a2, int in_fd, char *err, size_t n)
{
	const char *argv[] = { "sh", "-c", script, "sh", a1, a2, NULL };
	int efd = memfd_create("silo-err", MFD_CLOEXEC);
	struct aclient_exec_opts o = { .argv = argv,
				       .cwd = "/",
				       .user = user,
				       .in_fd = in_fd,
				       .out_fd = -1,
				       .err_fd = efd,
				       .sig_fd = -1,
				       .tty_fd = -1 };
	struct aclient_err e = { 0 };
	struct proto_exit x;
	int rc = aclient_exec(sb->addr, &o, &x, &e);
	err[0] = 0;
	if (rc < 0) {
		snprintf(err, n, "%.*s", (int)(n - 1), e.msg);
	} else if (efd >= 0) {
		ssize_t got = pread(efd, err, n - 1, 0);
		err[got > 0 ? got : 0] = 0;
		err[strcspn(err, "\n")] = 0;
	}
	if (efd >= 0)
		close(efd);
	return rc < 0 ? -1 : (x.flags & EXIT_F_SIGNALED ? 128 + x.code : x.code);
}

struct lister {
	json_t *entries;
	const struct sandbox *sb;
	const char *dir;
	int depth;
	struct aclient_err *e;
};

static int list_cb(const struct proto_stat *st, void *arg)
{
	struct lister *l = arg;
	char path[PROTO_PATH_MAX];
	if (snprintf(path, sizeof(path), "%s/%s", strcmp(l->dir, "/") ? l->dir : "", st->name) >=
	    (int)sizeof(path))
		return 0;
	json_array_append_new(l->entries, entry(path, st, st->link));
	if (S_ISDIR(st->mode) && l->depth > 1) {
		struct lister sub = { l->entries, l->sb, path, l->depth - 1, l->e };
		aclient_list(l->sb->addr, path, list_cb, &sub, l->e);
	}
	return 0;
}

enum MHD_Result e2b_filesystem(struct serve_req *r, struct MHD_Connection *c, struct sandbox *sb,
			       const char *method, json_t *msg, bool stream)
{
	char user[64], path[PROTO_PATH_MAX], dest[PROTO_PATH_MAX], err[512];
	struct aclient_err e = { 0 };
	json_t *ent = NULL;
	(void)r;

	if (stream)
		return connect_stream_error(c, CONNECT_UNIMPLEMENTED,
					    "filesystem %s is not implemented by silo", method);
	e2b_user(c, user, sizeof(user));
	const char *p = json_string_value(json_object_get(msg, "path"));
	if (!strcmp(method, "Move"))
		p = json_string_value(json_object_get(msg, "source"));
	if (!p || e2b_path(user, p, path, sizeof(path)) < 0)
		return connect_error(c, CONNECT_INVALID_ARGUMENT, "invalid path");

	if (!strcmp(method, "Stat"))
		return stat_entry(sb, path, &ent, &e) < 0
			       ? fs_error(c, path, &e)
			       : connect_reply(c, json_pack("{s:o}", "entry", ent));
	if (!strcmp(method, "ListDir")) {
		json_int_t depth = json_integer_value(json_object_get(msg, "depth"));
		struct lister l = { json_array(), sb, path, depth < 1 ? 1 : (int)depth, &e };
		if (aclient_list(sb->addr, path, list_cb, &l, &e) < 0) {
			json_decref(l.entries);
			return fs_error(c, path, &e);
		}
		return connect_reply(c, json_pack("{s:o}", "entries", l.entries));
	}
	if (!strcmp(method, "MakeDir")) {
		if (stat_entry(sb, path, &ent, &e) == 0) {
			json_decref(ent);
			return connect_error(c, CONNECT_ALREADY_EXISTS, "%s already exists", path);
		}
		if (as_user(sb, user, "mkdir -p -- \"$1\"", path, NULL, -1, err, sizeof(err)))
			return connect_error(c, CONNECT_PERMISSION_DENIED, "%s", err);
		return stat_entry(sb, path, &ent, &e) < 0
			       ? fs_error(c, path, &e)
			       : connect_reply(c, json_pack("{s:o}", "entry", ent));
	}
	if (stat_entry(sb, path, &ent, &e) < 0)
		return fs_error(c, path, &e);
	json_decref(ent);
	if (!strcmp(method, "Remove")) {
		if (as_user(sb, user, "rm -rf -- \"$1\"", path, NULL, -1, err, sizeof(err)))
			return connect_error(c, CONNECT_PERMISSION_DENIED, "%s", err);
		return connect_reply(c, json_object());
	}
	if (!strcmp(method, "Move")) {
		const char *d = json_string_value(json_object_get(msg, "destination"));
		if (!d || e2b_path(user, d, dest, sizeof(dest)) < 0)
			return connect_error(c, CONNECT_INVALID_ARGUMENT, "invalid destination");
		if (as_user(sb, user, "mv -- \"$1\" \"$2\"", path, dest, -1, err, sizeof(err)))
			return connect_error(c, CONNECT_PERMISSION_DENIED, "%s", err);
		return stat_entry(sb, dest, &ent, &e) < 0
			       ? fs_error(c, dest, &e)
			       : connect_reply(c, json_pack("{s:o}", "entry", ent));
	}
	return connect_error(c, CONNECT_UNIMPLEMENTED, "filesystem %s is not implemented by silo",
			     method);
}

/* --- GET /files ------------------------------------------------------------- */

enum MHD_Result e2b_files_get(struct serve_req *r, struct MHD_Connection *c, struct sandbox *sb)
{
	char user[64], path[PROTO_PATH_MAX];
	uint32_t mode;
	uint64_t size;
	(void)r;

	e2b_user(c, user, sizeof(user));
	const char *p = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "path");
	if (!p || e2b_path(user, p, path, sizeof(path)) < 0)
		return serve_error(c, MHD_HTTP_BAD_REQUEST, "invalid path");
	struct aclient_err e = { 0 };
	struct aclient_rx *rx = aclient_rx_file(sb->addr, path, &mode, &size, &e);
	if (!rx)
		return serve_error(c,
				   e.code == ENOENT			  ? MHD_HTTP_NOT_FOUND
				   : e.code == EISDIR || e.code == EINVAL ? MHD_HTTP_BAD_REQUEST
									  : MHD_HTTP_BAD_GATEWAY,
				   "%s: %s", path, e.msg);
	return serve_rx_reply(c, rx, size, "application/octet-stream", NULL, 0);
}

/* --- POST /files ------------------------------------------------------------ */

struct upload {
	struct MHD_PostProcessor *pp;
	struct sandbox sb;
	bool have_sb;
	char user[64], qpath[PROTO_PATH_MAX];
	/* the part being written: a shell as the user reads it from a pipe */
	struct run run;
	int in_w;
	char path[PROTO_PATH_MAX];
	bool writing;
	json_t *written; /* the reply: [{name, type, path}] */
	unsigned status;
	char why[PROTO_PATH_MAX + 1200];
};

/* The end of a part: its writer's status into the reply. */
static void part_end(struct upload *u)
{
	char err[512] = "", buf[4096];
	size_t len, have = 0;
	int which;

	if (!u->writing)
		return;
	u->writing = false;
	close(u->in_w);
	u->in_w = -1;
	/* what the shell said on stderr: why it could not write */
	while (run_next(&u->run, -1, -1, buf, sizeof(buf), &len, &which) == RUN_DATA)
		if (which == 2 && have < sizeof(err) - 1) {
			size_t n = len < sizeof(err) - 1 - have ? len : sizeof(err) - 1 - have;
			memcpy(err + have, buf, n);
			have += n;
		}
	err[strcspn(err, "\n")] = 0;
	if (u->run.rc < 0 || u->run.x.code != 0 || (u->run.x.flags & EXIT_F_SIGNALED)) {
		if (!u->status) {
			u->status = MHD_HTTP_BAD_REQUEST;
			snprintf(u->why, sizeof(u->why), "cannot write %s: %s", u->path,
				 u->run.rc < 0 ? u->run.e.msg
				 : err[0]      ? err
					       : "failed");
		}
	} else {
		const char *name = strrchr(u->path, '/');
		json_array_append_new(u->written,
				      json_pack("{s:o,s:s,s:o}", "name",
						serve_str(name ? name + 1 : u->path), "type",
						"file", "path", serve_str(u->path)));
	}
	run_free(&u->run);
}

static int part_begin(struct upload *u, const char *filename)
{
	int in[2];
	const char *target = u->qpath[0] ? u->qpath : filename;
	if (!target || e2b_path(u->user, target, u->path, sizeof(u->path)) < 0)
		return sb_fail("invalid path");
	run_init(&u->run);
	snprintf(u->run.addr, sizeof(u->run.addr), "%s", u->sb.addr);
	char **argv = calloc(6, sizeof(char *));
	u->run.argv = argv;
	u->run.env = calloc(1, sizeof(char *));
	if (!argv || !u->run.env || pipe2(in, O_CLOEXEC) < 0)
		return sb_fail("out of memory");
	argv[0] = strdup("sh");
	argv[1] = strdup("-c");
	/* the parents as the user, as envd makes them; the file replaced */
	argv[2] = strdup("mkdir -p -- \"$(dirname -- \"$1\")\" && cat > \"$1\"");
	argv[3] = strdup("sh");
	argv[4] = strdup(u->path);
	u->run.user = strdup(u->user);
	u->run.cwd = strdup("/");
	u->run.in_fd = in[0];
	u->in_w = in[1];
	if (run_start(&u->run) < 0)
		return -1;
	u->writing = true;
	return 0;
}

static enum MHD_Result on_part(void *cls, enum MHD_ValueKind kind, const char *key,
			       const char *filename, const char *type, const char *enc,
			       const char *data, uint64_t off, size_t size)
{
	struct upload *u = cls;
	(void)kind;
	(void)type;
	(void)enc;
	if (u->status || strcmp(key, "file"))
		return MHD_YES;
	if (off == 0) {
		part_end(u);
		if (part_begin(u, filename) < 0) {
			u->status = MHD_HTTP_BAD_REQUEST;
			snprintf(u->why, sizeof(u->why), "%s", sb_errmsg());
			return MHD_YES;
		}
	}
	for (size_t done = 0; done < size;) {
		ssize_t w = write(u->in_w, data + done, size - done);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			/* the writer ended early: part_end says why */
			part_end(u);
			return MHD_YES;
		}
		done += (size_t)w;
	}
	return MHD_YES;
}

int e2b_upload_begin(struct serve_req *r, struct MHD_Connection *c)
{
	struct upload *u = calloc(1, sizeof(*u));
	enum MHD_Result ret;
	if (!u)
		return -1;
	u->in_w = -1;
	run_init(&u->run);
	u->written = json_array();
	r->upload = u;
	r->sink = e2b_upload_data;
	r->sink_free = e2b_upload_free;
	if (e2b_envd_sandbox(r, c, &u->sb, true, &ret) < 0)
		return -1;
	u->have_sb = true;
	e2b_user(c, u->user, sizeof(u->user));
	const char *q = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "path");
	snprintf(u->qpath, sizeof(u->qpath), "%s", q ? q : "");
	u->pp = MHD_create_post_processor(c, 64 * 1024, on_part, u);
	if (!u->pp) {
		serve_error(c, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE,
			    "upload a file as multipart/form-data (field \"file\")");
		return -1;
	}
	return 0;
}

void e2b_upload_data(struct serve_req *r, const char *data, size_t size)
{
	struct upload *u = r->upload;
	if (u && u->pp && MHD_post_process(u->pp, data, size) != MHD_YES && !u->status) {
		u->status = MHD_HTTP_BAD_REQUEST;
		snprintf(u->why, sizeof(u->why), "malformed multipart body");
	}
}

enum MHD_Result e2b_upload_end(struct serve_req *r, struct MHD_Connection *c)
{
	struct upload *u = r->upload;
	if (!u)
		return serve_error(c, MHD_HTTP_BAD_REQUEST, "no upload");
	part_end(u);
	if (u->status)
		return serve_error(c, u->status, "%s", u->why);
	if (!json_array_size(u->written))
		return serve_error(
			c, MHD_HTTP_BAD_REQUEST,
			"no file in the body: send multipart/form-data with a \"file\" part");
	json_t *w = u->written;
	u->written = NULL;
	return serve_json(c, MHD_HTTP_OK, w);
}

void e2b_upload_free(struct serve_req *r)
{
	struct upload *u = r->upload;
	if (!u)
		return;
	if (u->writing) {
		close(u->in_w);
		u->in_w = -1;
		run_kill(&u->run);
	}
	run_free(&u->run);
	if (u->pp)
		MHD_destroy_post_processor(u->pp);
	if (u->have_sb)
		sb_close(&u->sb);
	json_decref(u->written);
	free(u);
	r->upload = NULL;
}
