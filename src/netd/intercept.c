/* src/netd/intercept.c: one guest connection to a secret's host, with the
 * secret added on the way out (docs/secrets.md).
 *
 * Order: the API server first. Its certificate is checked (the host's trust
 * store, the name the guest asked for) before the guest's handshake is
 * answered, so nothing the guest sends reaches a server that failed the
 * check, and a guest that gets a handshake knows the server passed. Then
 * the guest's TLS is terminated with our certificate for that name, and
 * each of its requests is framed (net/http1.h) with the secret's header set;
 * the answers go back as they come. Both sockets are non-blocking and
 * served by this one thread: an SSL object must not be read and written
 * from two threads at once.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "net/http1.h"
#include "netd/netd.h"

#define BUF (16 * 1024) /* one TLS record */

struct side {
	SSL *ssl;
	int fd;
	bool eof;   /* it sent close_notify or closed */
	short want; /* what poll must wait for before the next try */
};

/* One SSL call's outcome: > 0 bytes, 0 "try again after want", -1 the end
 * of that side (EOF, close_notify, a reset, a protocol error). */
static int step(struct side *s, int r)
{
	if (r > 0)
		return r;
	switch (SSL_get_error(s->ssl, r)) {
	case SSL_ERROR_WANT_READ:
		s->want |= POLLIN;
		return 0;
	case SSL_ERROR_WANT_WRITE:
		s->want |= POLLOUT;
		return 0;
	default:
		ERR_clear_error();
		return -1;
	}
}

/* A handshake (connect or accept) within NETD_DIAL_MS. 0, or -1. */
static int handshake(struct side *s, bool client)
{
	int64_t end = netd_now_ms() + NETD_DIAL_MS;
	for (;;) {
		s->want = 0;
		int r = step(s, client ? SSL_connect(s->ssl) : SSL_accept(s->ssl));
		if (r > 0)
			return 0;
		int64_t left = end - netd_now_ms();
		if (r < 0 || left <= 0)
			return -1;
		struct pollfd p = { .fd = s->fd, .events = s->want };
		if (poll(&p, 1, (int)left) < 0 && errno != EINTR)
			return -1;
	}
}

/* Move what from has (through the framer, when f) to to. Returns true on
 * progress; *done when the connection is over. */
static bool pump(struct side *from, struct side *to, struct http1_framer *f, struct http1_buf *q,
		 size_t *off, struct netd *n, const char *dest, bool *done)
{
	uint8_t in[BUF];
	bool moved = false;
	const char *why;

	if (*off == q->len && !from->eof) {
		q->len = *off = 0;
		int r = step(from, SSL_read(from->ssl, in, sizeof(in)));
		if (r > 0) {
			moved = true;
			if (f ? http1_feed(f, in, (size_t)r, q, &why) < 0
			      : (q->len = (size_t)r, memcpy(q->p, in, (size_t)r), 0)) {
				netd_log_bad(n, "https", dest, why);
				*done = true;
				return true;
			}
		} else if (r < 0) {
			from->eof = moved = true;
		}
	}
	if (*off < q->len) {
		int r = step(to, SSL_write(to->ssl, q->p + *off, (int)(q->len - *off)));
		if (r > 0) {
			*off += (size_t)r;
			moved = true;
		} else if (r < 0) {
			*done = true;
		}
	}
	/* one side ended and all it sent was passed on: say so to the other
	 * (close_notify) and end. HTTP does not half-close. */
	if (from->eof && *off == q->len) {
		SSL_shutdown(to->ssl);
		*done = true;
	}
	return moved;
}

static void relay(struct netd *n, struct side *g, struct side *u, struct http1_framer *f,
		  const char *dest)
{
	struct http1_buf up = { 0 }, down = { 0 };
	size_t up_off = 0, down_off = 0;
	bool done = false;

	if (!(down.p = malloc(BUF)) || !(up.p = malloc(BUF))) {
		free(down.p);
		return;
	}
	down.cap = up.cap = BUF;
	while (!done) {
		g->want = u->want = 0;
		bool moved = pump(g, u, f, &up, &up_off, n, dest, &done);
		if (!done)
			moved |= pump(u, g, NULL, &down, &down_off, n, dest, &done);
		if (done || moved)
			continue;
		struct pollfd p[2] = { { .fd = g->fd, .events = g->want },
				       { .fd = u->fd, .events = u->want } };
		if (!p[0].events && !p[1].events)
			break; /* nothing could wake us */
		if (poll(p, 2, -1) < 0 && errno != EINTR)
			break;
	}
	explicit_bzero(up.p, up.cap); /* it held the secret */
	http1_buf_free(&up);
	http1_buf_free(&down);
}

void netd_intercept(struct netd *n, int gfd, int ufd, const struct netd_secret *s, const char *dest)
{
	struct side g = { .fd = gfd }, u = { .fd = ufd };
	struct http1_framer *f = malloc(sizeof(*f));
	char why[300];

	if (!f || http1_init(f, s->header, s->value) < 0 || !(g.ssl = SSL_new(s->server)) ||
	    !(u.ssl = SSL_new(n->tls.client)) || !SSL_set_fd(g.ssl, gfd) ||
	    !SSL_set_fd(u.ssl, ufd) || !SSL_set_tlsext_host_name(u.ssl, s->host) ||
	    !SSL_set1_host(u.ssl, s->host)) {
		netd_log_event(n, "https %s %s: cannot set up TLS", s->host, dest);
		goto out;
	}
	fcntl(gfd, F_SETFL, fcntl(gfd, F_GETFL) | O_NONBLOCK);
	fcntl(ufd, F_SETFL, fcntl(ufd, F_GETFL) | O_NONBLOCK);
	if (handshake(&u, true) < 0) {
		long v = SSL_get_verify_result(u.ssl);
		snprintf(why, sizeof(why), "API server's TLS failed: %s",
			 v != X509_V_OK ? X509_verify_cert_error_string(v) : "handshake");
		netd_log_decision(n, false, "https", s->host, dest, why);
		netd_count(n, &n->stats.dial_failures);
		goto out;
	}
	if (handshake(&g, false) < 0) {
		netd_log_bad(n, "https", dest, "the guest's TLS handshake failed");
		goto out;
	}
	/* the header's name and the secret's, never its value */
	netd_log_event(n, "https %s %s: secret %s sets %s", s->host, dest, s->name, s->header);
	relay(n, &g, &u, f, dest);
out:
	SSL_free(g.ssl);
	SSL_free(u.ssl);
	if (f)
		explicit_bzero(f, sizeof(*f));
	free(f);
}
