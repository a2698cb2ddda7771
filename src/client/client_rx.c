/* client_rx.c: downloads read frame by frame (GET_TAR, GET_FILE).
 *
 * client.c's aclient_get_tar/aclient_get_file copy the whole stream to an fd,
 * however long the guest makes it. Here the caller pulls one DATA payload at
 * a time and stops when its own bound is reached (silo cp --max-size, the
 * size GET_FILE announced), so the guest decides nothing about how much the
 * host stores or buffers: at most one frame (PROTO_DATA_MAX) at a time.
 */
#include "client/client.h"
#include "client/client_priv.h"

#include <stdlib.h>

struct aclient_rx {
	struct cl c;
	const char *what;
};

static struct aclient_rx *rx_open(const char *addr, uint16_t type, const char *path,
				  const char *what, struct aclient_err *err)
{
	struct aclient_rx *rx = calloc(1, sizeof(*rx));
	struct pbuf b;
	if (!rx) {
		cl_fail(err, ENOMEM, "out of memory");
		return NULL;
	}
	rx->what = what;
	pbuf_init(&b);
	proto_enc_path(&b, type, path);
	int rc = b.err ? cl_fail(err, -b.err, "%s: request too large", what)
		       : cl_open(&rx->c, addr, &b, err);
	pbuf_free(&b);
	if (rc < 0) {
		free(rx);
		return NULL;
	}
	return rx;
}

struct aclient_rx *aclient_rx_tar(const char *addr, const char *path, struct aclient_err *err)
{
	return rx_open(addr, PT_GET_TAR, path, "get-tar", err);
}

struct aclient_rx *aclient_rx_file(const char *addr, const char *path, uint32_t *mode,
				   uint64_t *size, struct aclient_err *err)
{
	struct aclient_rx *rx = rx_open(addr, PT_GET_FILE, path, "get", err);
	struct proto_frame f;
	struct proto_stat st;
	if (!rx)
		return NULL;
	/* GET_FILE: STAT_REPLY comes before the data */
	int r = proto_read_frame(&rx->c.r, &f);
	if (r > 0 && f.type == PT_STAT_REPLY && proto_dec_stat(&f, &st) == 0) {
		*mode = st.mode;
		*size = st.size;
		return rx;
	}
	cl_unexpected(err, r, &f, rx->what);
	aclient_rx_close(rx);
	return NULL;
}

long aclient_rx_read(struct aclient_rx *rx, const void **buf, struct aclient_err *err)
{
	struct proto_frame f;
	int r;
	/* an empty DATA frame carries nothing: read on */
	while ((r = proto_read_frame(&rx->c.r, &f)) > 0 && f.type == PT_DATA && f.len == 0)
		;
	if (r > 0 && f.type == PT_DATA) {
		*buf = f.payload;
		return (long)f.len;
	}
	if (r > 0 && f.type == PT_END && proto_dec_empty(&f) == 0)
		return 0;
	return cl_unexpected(err, r, &f, rx->what);
}

void aclient_rx_close(struct aclient_rx *rx)
{
	if (!rx)
		return;
	cl_close(&rx->c);
	free(rx);
}
