/* client_priv.h: helpers shared by client.c and client_exec.c. */
#ifndef SILO_CLIENT_PRIV_H
#define SILO_CLIENT_PRIV_H

#include "client/client.h"

struct cl {
	int fd;
	struct proto_reader r;
	uint64_t deadline; /* cl_now_ms() + request_ms, set by cl_open */
};

/* CLOCK_MONOTONIC in ms; what is left until deadline, for poll(2). */
uint64_t cl_now_ms(void);
int cl_left_ms(uint64_t deadline);
/* Connect, send one request frame, set up a reader and the deadline. */
int cl_open(struct cl *c, const char *addr, struct pbuf *req, struct aclient_err *err);
void cl_close(struct cl *c);
int cl_fail(struct aclient_err *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* f is an ERROR frame: copy it into err. Returns -1. */
int cl_remote(struct aclient_err *err, const struct proto_frame *f);
/* rc/f from proto_read_frame were not what `what` expected (f is unused
 * when rc <= 0; -ETIMEDOUT says the agent took too long). Returns -1. */
int cl_unexpected(struct aclient_err *err, int rc, const struct proto_frame *f, const char *what);

#endif
