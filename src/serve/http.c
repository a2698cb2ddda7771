/* http.c: the server around the routes: its listening socket, the
 * libmicrohttpd daemon, authentication and body limits before any route
 * runs, and a graceful stop.
 *
 * Stopping (SIGTERM, SIGINT): the listener closes at once
 * (MHD_quiesce_daemon), sandbox starts still waiting are cancelled
 * (sb_opts.cancel: they remove what they made), and requests at work get
 * grace_s to finish before the daemon closes what is left (a command's
 * output stream then ends, and the command with it: exec.c). Sandboxes are
 * daemonless and keep running.
 */
#include "serve/serve.h"
#include "serve/e2b.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

json_t *serve_str(const char *s)
{
	char buf[4096];
	return json_string(sb_escape(s ? s : "", buf, sizeof(buf)));
}

enum MHD_Result serve_reply(struct MHD_Connection *c, unsigned status, const char *type, char *body,
			    size_t len)
{
	struct MHD_Response *resp =
		MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
	if (!resp) {
		free(body);
		return MHD_NO; /* out of memory: drop the connection */
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	if (status == MHD_HTTP_TOO_MANY_REQUESTS || status == MHD_HTTP_SERVICE_UNAVAILABLE)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, "1");
	if (status == MHD_HTTP_UNAUTHORIZED)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
	enum MHD_Result r = MHD_queue_response(c, status, resp);
	MHD_destroy_response(resp);
	return r;
}

enum MHD_Result serve_stream(struct MHD_Connection *c, uint64_t size, const char *type,
			     MHD_ContentReaderCallback read, void *cls,
			     MHD_ContentReaderFreeCallback done)
{
	/* 64 KiB: a whole NDJSON line or frame per call of read */
	struct MHD_Response *resp =
		MHD_create_response_from_callback(size, 64 * 1024, read, cls, done);
	if (!resp) {
		done(cls);
		return MHD_NO;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	enum MHD_Result ret = MHD_queue_response(c, MHD_HTTP_OK, resp);
	MHD_destroy_response(resp);
	return ret;
}

ssize_t serve_pending(char *buf, size_t max, const void *frame, size_t len, size_t *off)
{
	size_t n = len - *off < max ? len - *off : max;
	memcpy(buf, (const char *)frame + *off, n);
	*off += n;
	return (ssize_t)n;
}

/* OpenSSL's table encoder, not libsodium's: sodium_bin2base64 is
 * constant-time, made for secrets, and about eight times slower; output
 * is no secret from its reader, and 8 MiB of it took ~150 ms of the
 * server's CPU in the lab (bench/serve.py). */
size_t serve_b64(char *dst, const void *src, size_t n)
{
	return (size_t)EVP_EncodeBlock((unsigned char *)dst, src, (int)n);
}

enum MHD_Result serve_json(struct MHD_Connection *c, unsigned status, json_t *v)
{
	char *text = v ? json_dumps(v, JSON_COMPACT) : NULL;
	json_decref(v);
	if (!text)
		return MHD_NO;
	size_t len = strlen(text);
	text[len] = '\n'; /* replaces the NUL: the body is a line */
	return serve_reply(c, status, "application/json", text, len + 1);
}

enum MHD_Result serve_error(struct MHD_Connection *c, unsigned status, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return serve_json(c, status,
			  json_pack("{s:i,s:o}", "code", (int)status, "message", serve_str(msg)));
}

bool serve_take_slot(struct serve_req *r)
{
	struct serve *s = r->srv;
	if (atomic_load(&s->stopping))
		return false;
	if (atomic_fetch_add(&s->busy, 1) >= s->opts->max_busy) {
		atomic_fetch_sub(&s->busy, 1);
		return false;
	}
	r->counted = true;
	return true;
}

/* libmicrohttpd calls this for each request: first with no body (we set
 * up and check the key), then once per body chunk (kept, up to
 * SERVE_BODY_MAX), then with none left (the route runs). */
static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
				  const char *method, const char *version, const char *upload_data,
				  size_t *upload_size, void **req_cls)
{
	struct serve *s = cls;
	struct serve_req *r = *req_cls;
	(void)version;

	if (!r) {
		r = calloc(1, sizeof(*r));
		if (!r)
			return MHD_NO;
		r->srv = s;
		*req_cls = r;
		r->kind = strncmp(url, "/v1/", 4) ? e2b_kind(c, url) : 0;
		/* the only unauthenticated call: is the server up */
		if (!r->kind && !strcmp(url, "/health") && !strcmp(method, "GET"))
			return serve_json(c, MHD_HTTP_OK, json_pack("{s:s}", "status", "ok"));
		/* envd's calls carry their sandbox's token, checked per sandbox */
		if (r->kind != 2 && !serve_authorized(s, c))
			return serve_error(c, MHD_HTTP_UNAUTHORIZED,
					   "missing or wrong API key: send 'X-API-Key: KEY' or "
					   "'Authorization: Bearer KEY'");
		/* an upload streams into the guest as it comes: no limit here */
		if (r->kind == 2 && !strcmp(url, "/files") && !strcmp(method, "POST"))
			return e2b_upload_begin(r, c) < 0 && !r->upload ? MHD_NO : MHD_YES;
		char name[SB_NAME_MAX + 2], verb[8];
		if (!r->kind && !strcmp(method, "PUT") &&
		    sscanf(url, "/v1/sandboxes/%64[^/]/%7s", name, verb) == 2 &&
		    !strcmp(verb, "files")) {
			v1_files_put_begin(r, c, name);
			return MHD_YES;
		}
		const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
							     MHD_HTTP_HEADER_CONTENT_LENGTH);
		if (cl && strtoull(cl, NULL, 10) > SERVE_BODY_MAX)
			return serve_error(c, MHD_HTTP_CONTENT_TOO_LARGE,
					   "request body over %u bytes", SERVE_BODY_MAX);
		return MHD_YES;
	}
	if (*upload_size && r->sink) {
		r->sink(r, upload_data, *upload_size);
		*upload_size = 0;
		return MHD_YES;
	}
	if (*upload_size) {
		/* chunked bodies have no Content-Length: the limit holds here */
		if (!r->too_big && r->len + *upload_size <= SERVE_BODY_MAX) {
			char *b = realloc(r->body, r->len + *upload_size + 1);
			if (!b)
				return MHD_NO;
			memcpy(b + r->len, upload_data, *upload_size);
			r->body = b;
			r->len += *upload_size;
			r->body[r->len] = 0;
		} else {
			r->too_big = true;
		}
		*upload_size = 0;
		return MHD_YES;
	}
	if (r->too_big)
		return serve_error(c, MHD_HTTP_CONTENT_TOO_LARGE, "request body over %u bytes",
				   SERVE_BODY_MAX);
	if (r->kind == 1)
		return e2b_api_route(r, c, method, url);
	if (r->kind == 2)
		return e2b_envd_route(r, c, method, url);
	if (!strncmp(url, "/v1/", 4))
		return v1_route(r, c, method, url + 3);
	return serve_error(c, MHD_HTTP_NOT_FOUND, "no such endpoint: %s %s", method, url);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **req_cls,
			 enum MHD_RequestTerminationCode why)
{
	struct serve_req *r = *req_cls;
	(void)c;
	(void)why;
	if (!r)
		return;
	if (r->counted)
		atomic_fetch_sub(&((struct serve *)cls)->busy, 1);
	if (r->sink_free)
		r->sink_free(r);
	free(r->body);
	free(r);
	*req_cls = NULL;
}

/* "ADDR:PORT" or "[V6]:PORT", numeric only: a listener on a name that
 * resolves differently tomorrow is not what anyone means. */
static int listen_on(const char *spec, char *shown, size_t n)
{
	char host[128];
	const char *colon = strrchr(spec, ':');
	struct sockaddr_storage ss = { 0 };
	socklen_t len;

	if (!colon || (size_t)(colon - spec) >= sizeof(host))
		return sb_fail("invalid --listen '%s': use ADDR:PORT (e.g. 127.0.0.1:7411)", spec);
	snprintf(host, sizeof(host), "%.*s", (int)(colon - spec), spec);
	char *end;
	unsigned long port = strtoul(colon + 1, &end, 10);
	if (*end || end == colon + 1 || port > 65535)
		return sb_fail("invalid --listen '%s': the port must be 0..65535", spec);
	if (host[0] == '[' && host[strlen(host) - 1] == ']') {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
		host[strlen(host) - 1] = 0;
		memmove(host, host + 1, strlen(host));
		a->sin6_family = AF_INET6;
		a->sin6_port = htons((uint16_t)port);
		if (inet_pton(AF_INET6, host, &a->sin6_addr) != 1)
			return sb_fail("invalid --listen '%s': not an IPv6 address", spec);
		len = sizeof(*a);
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;
		a->sin_family = AF_INET;
		a->sin_port = htons((uint16_t)port);
		if (inet_pton(AF_INET, host, &a->sin_addr) != 1)
			return sb_fail(
				"invalid --listen '%s': not an IPv4 address (IPv6: [ADDR]:PORT)",
				spec);
		len = sizeof(*a);
	}
	int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int one = 1;
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, 128) < 0) {
		int e = errno;
		if (fd >= 0)
			close(fd);
		return sb_fail("cannot listen on %s: %s", spec, strerror(e));
	}
	/* port 0: the kernel chose one; say which */
	len = sizeof(ss);
	getsockname(fd, (struct sockaddr *)&ss, &len);
	char addr[INET6_ADDRSTRLEN];
	if (ss.ss_family == AF_INET6)
		snprintf(shown, n, "[%s]:%u",
			 inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, addr,
				   sizeof(addr)),
			 ntohs(((struct sockaddr_in6 *)&ss)->sin6_port));
	else
		snprintf(shown, n, "%s:%u",
			 inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, addr,
				   sizeof(addr)),
			 ntohs(((struct sockaddr_in *)&ss)->sin_port));
	return fd;
}

static void stop_gracefully(struct serve *s, struct MHD_Daemon *d)
{
	atomic_store(&s->stopping, true);
	s->cancel = 1;
	int lfd = MHD_quiesce_daemon(d);
	if (lfd >= 0)
		close(lfd);
	struct timespec step = { 0, 50 * 1000000L };
	for (int i = 0; i < s->opts->grace_s * 20 && atomic_load(&s->busy); i++)
		nanosleep(&step, NULL);
	if (atomic_load(&s->busy))
		fprintf(stderr, "silo: serve: %u requests still at work after %d s: ending them\n",
			atomic_load(&s->busy), s->opts->grace_s);
	MHD_stop_daemon(d);
}

int serve_main(const struct sb_paths *p, const struct serve_opts *o)
{
	struct serve s = { .paths = p, .opts = o };
	char shown[96];
	sigset_t stop;

	if (serve_key_load(&s) < 0)
		return -1;
	int lfd = listen_on(o->listen ? o->listen : SERVE_LISTEN_DEFAULT, shown, sizeof(shown));
	if (lfd < 0)
		return -1;
	/* Blocked here, so every thread libmicrohttpd starts inherits the
	 * mask and only sigwait below takes them. */
	sigemptyset(&stop);
	sigaddset(&stop, SIGTERM);
	sigaddset(&stop, SIGINT);
	pthread_sigmask(SIG_BLOCK, &stop, NULL);
	struct MHD_Daemon *d = MHD_start_daemon(
		MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL |
			MHD_USE_ITC,
		0, NULL, NULL, on_request, &s, MHD_OPTION_LISTEN_SOCKET, lfd,
		MHD_OPTION_CONNECTION_LIMIT, o->max_conns, MHD_OPTION_CONNECTION_TIMEOUT,
		(unsigned)120, MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(64 * 1024),
		MHD_OPTION_NOTIFY_COMPLETED, on_completed, &s, MHD_OPTION_END);
	if (!d) {
		close(lfd);
		return sb_fail("cannot start the HTTP server on %s", shown);
	}
	if (e2b_reaper_start(&s) < 0) {
		MHD_stop_daemon(d);
		return -1;
	}
	fprintf(stderr, "silo: serving on http://%s (data %s)\n", shown, p->data);
	if (o->ready_fd >= 0) {
		dprintf(o->ready_fd, "%s\n", shown);
		close(o->ready_fd);
	}
	int sig;
	while (sigwait(&stop, &sig) != 0)
		;
	fprintf(stderr, "silo: serve: %s, stopping (sandboxes keep running)\n",
		sig == SIGINT ? "interrupted" : "terminated");
	stop_gracefully(&s, d);
	e2b_reaper_stop();
	return 0;
}
