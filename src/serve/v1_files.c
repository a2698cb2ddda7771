/* v1_files.c: files in and out of a sandbox as tar, as `silo cp` moves them
 * (the agent packs and unpacks them in the guest: docs/agent-protocol.md),
 * and the console log, as `silo logs` shows it.
 *
 *   GET /v1/sandboxes/NAME/files?path=P   a tar of P (one member, P's name)
 *   PUT /v1/sandboxes/NAME/files?path=DIR a tar body unpacked under DIR
 *   GET /v1/sandboxes/NAME/logs           the console log, text/plain
 *
 * The tar going in streams from the request into the agent through a pipe
 * and a worker thread, never held whole; coming out, it is read one agent
 * frame at a time as the client takes it.
 */
#include "serve/serve.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* --- GET files --------------------------------------------------------------- */

struct rx_out {
	struct aclient_rx *rx;
	struct aclient_err e;
	const void *buf;
	size_t len, off;
};

static ssize_t rx_read(void *cls, uint64_t pos, char *out, size_t max)
{
	struct rx_out *t = cls;
	(void)pos;
	if (t->off == t->len) {
		long n = aclient_rx_read(t->rx, &t->buf, &t->e);
		if (n <= 0)
			return n == 0 ? MHD_CONTENT_READER_END_OF_STREAM
				      : MHD_CONTENT_READER_END_WITH_ERROR;
		t->len = (size_t)n;
		t->off = 0;
	}
	return serve_pending(out, max, t->buf, t->len, &t->off);
}

static void rx_free(void *cls)
{
	struct rx_out *t = cls;
	aclient_rx_close(t->rx);
	free(t);
}

enum MHD_Result serve_rx_reply(struct MHD_Connection *c, struct aclient_rx *rx, uint64_t size,
			       const char *type, const void *first, size_t n)
{
	struct rx_out *t = calloc(1, sizeof(*t));
	if (!t) {
		aclient_rx_close(rx);
		return MHD_NO;
	}
	*t = (struct rx_out){ .rx = rx, .buf = first, .len = n };
	return serve_stream(c, size, type, rx_read, t, rx_free);
}

static const char *query_path(struct MHD_Connection *c)
{
	const char *p = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "path");
	return p && p[0] == '/' ? p : NULL;
}

enum MHD_Result v1_files_get(struct MHD_Connection *c, struct sandbox *sb)
{
	const char *path = query_path(c);
	if (!path)
		return serve_error(c, MHD_HTTP_BAD_REQUEST, "give ?path=ABSOLUTE_PATH");
	struct aclient_err e = { 0 };
	const void *first = NULL;
	/* the first frame tells a missing path from a stream */
	struct aclient_rx *rx = aclient_rx_tar(sb->addr, path, &e);
	long n = rx ? aclient_rx_read(rx, &first, &e) : -1;
	if (n < 0) {
		if (rx)
			aclient_rx_close(rx);
		return serve_error(c,
				   e.code == ENOENT ? MHD_HTTP_NOT_FOUND
				   : e.remote	    ? MHD_HTTP_BAD_REQUEST
						    : MHD_HTTP_BAD_GATEWAY,
				   "%s: %s", path, e.msg);
	}
	return serve_rx_reply(c, rx, MHD_SIZE_UNKNOWN, "application/x-tar", first, (size_t)n);
}

/* --- PUT files --------------------------------------------------------------- */

struct tar_in {
	struct sandbox sb;
	bool opened, started, failed;
	char dest[PROTO_PATH_MAX];
	int pipe_w, pipe_r;
	pthread_t th;
	int rc;
	struct aclient_err e;
	unsigned status;
	char why[PROTO_PATH_MAX + 256];
};

static void *put_worker(void *arg)
{
	struct tar_in *t = arg;
	t->rc = aclient_put_tar(t->sb.addr, t->dest, t->pipe_r, &t->e);
	/* the request may still be sending: what it writes now fails */
	close(t->pipe_r);
	t->pipe_r = -1;
	return NULL;
}

static void put_data(struct serve_req *r, const char *data, size_t len)
{
	struct tar_in *t = r->upload;
	for (size_t off = 0; t && !t->failed && off < len;) {
		ssize_t w = write(t->pipe_w, data + off, len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			t->failed = true; /* the agent stopped reading: its error says why */
			break;
		}
		off += (size_t)w;
	}
}

static void put_free(struct serve_req *r)
{
	struct tar_in *t = r->upload;
	if (!t)
		return;
	if (t->pipe_w >= 0)
		close(t->pipe_w);
	if (t->started)
		pthread_join(t->th, NULL);
	if (t->pipe_r >= 0)
		close(t->pipe_r);
	if (t->opened)
		sb_close(&t->sb);
	free(t);
	r->upload = NULL;
}

int v1_files_put_begin(struct serve_req *r, struct MHD_Connection *c, const char *name)
{
	struct tar_in *t = calloc(1, sizeof(*t));
	int p[2];
	if (!t)
		return -1;
	t->pipe_w = t->pipe_r = -1;
	r->upload = t;
	r->sink = put_data;
	r->sink_free = put_free;
	const char *dest = query_path(c);
	struct sb_status st;
	if (!dest) {
		t->status = MHD_HTTP_BAD_REQUEST;
		snprintf(t->why, sizeof(t->why), "give ?path=ABSOLUTE_DIRECTORY");
	} else if (sb_open(&t->sb, r->srv->paths, name, false) < 0) {
		t->status = MHD_HTTP_NOT_FOUND;
		snprintf(t->why, sizeof(t->why), "%s", sb_errmsg());
	} else if ((t->opened = true, sb_status(&t->sb, &st) < 0 || st.state != SB_RUNNING)) {
		t->status = 409;
		snprintf(t->why, sizeof(t->why), "sandbox %s is not running: start it first", name);
	} else if (!serve_take_slot(r)) {
		t->status = MHD_HTTP_TOO_MANY_REQUESTS;
		snprintf(t->why, sizeof(t->why), "too many requests at work: retry later");
	} else if (pipe2(p, O_CLOEXEC) < 0) {
		t->status = MHD_HTTP_INTERNAL_SERVER_ERROR;
		snprintf(t->why, sizeof(t->why), "pipe: %s", strerror(errno));
	} else {
		snprintf(t->dest, sizeof(t->dest), "%s", dest);
		t->pipe_r = p[0];
		t->pipe_w = p[1];
		t->started = pthread_create(&t->th, NULL, put_worker, t) == 0;
		if (t->started)
			return 0;
		t->status = MHD_HTTP_INTERNAL_SERVER_ERROR;
		snprintf(t->why, sizeof(t->why), "no thread");
	}
	/* refused: the body is read and dropped, the reply comes at its end */
	t->failed = true;
	(void)c;
	return -1;
}

enum MHD_Result v1_files_put_end(struct serve_req *r, struct MHD_Connection *c)
{
	struct tar_in *t = r->upload;
	if (!t)
		return serve_error(c, MHD_HTTP_BAD_REQUEST, "no body");
	if (t->status)
		return serve_error(c, t->status, "%s", t->why);
	close(t->pipe_w);
	t->pipe_w = -1;
	pthread_join(t->th, NULL);
	t->started = false;
	if (t->rc < 0)
		return serve_error(c, t->e.remote ? MHD_HTTP_BAD_REQUEST : MHD_HTTP_BAD_GATEWAY,
				   "cannot unpack into %s: %s", t->dest, t->e.msg);
	return serve_json(c, MHD_HTTP_OK, json_pack("{s:o}", "path", serve_str(t->dest)));
}

/* --- logs -------------------------------------------------------------------- */

enum MHD_Result v1_logs(struct MHD_Connection *c, struct sandbox *sb)
{
	char path[SB_PATH_MAX + 16];
	snprintf(path, sizeof(path), "%s/console.log", sb->dir);
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	off_t len = fd >= 0 ? lseek(fd, 0, SEEK_END) : -1;
	struct MHD_Response *resp;
	if (fd < 0 || len < 0) {
		if (fd >= 0)
			close(fd);
		/* never started: nothing logged yet */
		resp = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
	} else {
		resp = MHD_create_response_from_fd_at_offset64((uint64_t)len, fd, 0);
	}
	if (!resp) {
		close(fd);
		return MHD_NO;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; charset=utf-8");
	enum MHD_Result ret = MHD_queue_response(c, MHD_HTTP_OK, resp);
	MHD_destroy_response(resp);
	return ret;
}
