/*
 * Control socket, served on the event thread. The protocol is line based so
 * `socat - UNIX-CONNECT:sock` works by hand:
 *
 *   status  → "ok running|paused vcpus=N uptime_ms=M"
 *   pause   → "ok"  (every vCPU is out of KVM_RUN when the reply is sent)
 *   resume  → "ok"
 *   stop    → "ok", then the VM ends with VMM_EXIT_STOPPED
 *   metrics → "ok {JSON}": the VMM's and every virtio device's counters
 *   snapshot → "ok" once guest RAM and the VM's state are written to the
 *              two files sent with the request (SCM_RIGHTS, memory then
 *              state, in the sendmsg that carries the line): silo-vmm
 *              opens no file itself (docs/security.md "The jail"); the VM
 *              stays paused (resume or stop next); "error REASON" else
 *   working-set → "ok PAGES" once the pages a restored VM wrote since its
 *              restore are written to the file sent with the request
 *              (SCM_RIGHTS; format: snapshot/wset.h); "error REASON" else
 *   other   → "error unknown command"
 *
 * A line longer than CTL_LINE_MAX, or too many clients, closes the
 * connection. Anyone who can connect controls the VM: the socket is created
 * 0600 inside the caller's state directory.
 */
#include "vmm/control.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "vmm/evloop.h"
#include "vmm/fdarg.h"
#include "vmm/jail/seccomp.h"
#include "proto/contract.h"
#include "vmm/log.h"
#include "vmm/snapshot/snapshot.h"
#include "vmm/vm.h"

#define CTL_LINE_MAX	128
#define CTL_MAX_CLIENTS 8

/* Descriptors one request may carry: a snapshot's memory and state files. */
#define CTL_MAX_FDS 2

struct ctl_client {
	struct control *ctl;
	int fd;
	char buf[CTL_LINE_MAX];
	size_t len;
	int fds[CTL_MAX_FDS]; /* received with the bytes read last, for `snapshot` */
	unsigned int nfds;
};

struct control {
	struct vm *vm;
	struct evloop *ev;
	int fd;
	char *path;
	struct ctl_client *clients[CTL_MAX_CLIENTS];
};

static void drop_fds(struct ctl_client *cl)
{
	while (cl->nfds)
		close(cl->fds[--cl->nfds]);
}

void control_handle(struct vm *vm, const char *req, const int *fds, unsigned int nfds, FILE *reply)
{
	char st[96];

	if (!strcmp(req, "status")) {
		vm_status(vm, st, sizeof(st));
		fprintf(reply, "ok %s", st);
	} else if (!strcmp(req, "pause")) {
		fputs(vm_pause(vm) ? "error stopping" : "ok", reply);
	} else if (!strcmp(req, "resume")) {
		vm_resume(vm);
		fputs("ok", reply);
	} else if (!strcmp(req, "stop")) {
		vm_request_exit(vm, VMM_EXIT_STOPPED, "stopped via the control socket");
		fputs("ok", reply);
	} else if (!strcmp(req, "snapshot")) {
		char err[300];

		if (nfds != 2)
			fputs("error snapshot takes its memory and state files as two descriptors "
			      "(SCM_RIGHTS) sent with the request",
			      reply);
		else if (vm_snapshot(vm, fds[0], fds[1], err, sizeof(err)))
			fprintf(reply, "error %s", err);
		else
			fputs("ok", reply);
	} else if (!strncmp(req, "snapshot ", strlen("snapshot "))) {
		/* The path form of earlier silo-vmm: the jailed process cannot
		 * create files, so say what replaced it. */
		fputs("error snapshot DIR is gone: send `snapshot` with the memory and state "
		      "files as descriptors (SCM_RIGHTS)",
		      reply);
	} else if (!strcmp(req, "working-set")) {
		char err[300];
		uint64_t pages;

		if (nfds != 1)
			fputs("error working-set takes its file as one descriptor (SCM_RIGHTS) sent "
			      "with the request",
			      reply);
		else if (vm_working_set(vm, fds[0], &pages, err, sizeof(err)))
			fprintf(reply, "error %s", err);
		else
			fprintf(reply, "ok %llu", (unsigned long long)pages);
	} else if (!strcmp(req, "metrics")) {
		fputs("ok ", reply);
		vm_metrics_json(vm, reply);
#ifdef SILO_VMM_TEST_HOOKS
	} else if (!strncmp(req, "test-syscall ", strlen("test-syscall "))) {
		jail_test_request(vm, req + strlen("test-syscall "), reply);
#endif
	} else {
		fputs("error unknown command", reply);
	}
}

static void client_close(struct ctl_client *cl)
{
	struct control *c = cl->ctl;

	for (unsigned int i = 0; i < CTL_MAX_CLIENTS; i++)
		if (c->clients[i] == cl)
			c->clients[i] = NULL;
	drop_fds(cl);
	ev_del(c->ev, cl->fd);
	close(cl->fd);
	free(cl);
}

/* read(), plus any descriptors that came with these bytes: kept (replacing
 * earlier ones) for the request they belong to. More than CTL_MAX_FDS, or
 * anything but SCM_RIGHTS, and the kernel truncates: we close what we got
 * and the request fails for want of them. */
static ssize_t recv_with_fds(struct ctl_client *cl)
{
	union {
		char buf[CMSG_SPACE(CTL_MAX_FDS * sizeof(int))];
		struct cmsghdr align;
	} u;
	struct iovec iov = { cl->buf + cl->len, sizeof(cl->buf) - cl->len };
	struct msghdr mh = { .msg_iov = &iov,
			     .msg_iovlen = 1,
			     .msg_control = u.buf,
			     .msg_controllen = sizeof(u.buf) };
	ssize_t n = recvmsg(cl->fd, &mh, MSG_CMSG_CLOEXEC);

	if (n < 0)
		return n;
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
		size_t k;

		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS ||
		    cm->cmsg_len < CMSG_LEN(0))
			continue;
		k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		drop_fds(cl);
		for (size_t i = 0; i < k; i++) {
			int fd;

			memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
			if (cl->nfds < CTL_MAX_FDS && !(mh.msg_flags & MSG_CTRUNC))
				cl->fds[cl->nfds++] = fd;
			else
				close(fd);
		}
	}
	return n;
}

static void on_client(void *opaque, uint32_t events)
{
	struct ctl_client *cl = opaque;
	ssize_t n;

	(void)events;
	n = recv_with_fds(cl);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		client_close(cl);
		return;
	}
	cl->len += (size_t)n;
	for (;;) {
		char *nl = memchr(cl->buf, '\n', cl->len);
		char *reply = NULL;
		size_t used, rl = 0;
		FILE *f;
		bool sent;

		if (!nl) {
			if (cl->len == sizeof(cl->buf)) {
				static const char e[] = "error line too long\n";
				if (send(cl->fd, e, sizeof(e) - 1, MSG_NOSIGNAL | MSG_DONTWAIT) <
				    0) {
					/* closing anyway */
				}
				client_close(cl);
			}
			return;
		}
		*nl = '\0';
		if (nl > cl->buf && nl[-1] == '\r')
			nl[-1] = '\0';
		f = open_memstream(&reply, &rl);
		if (!f) {
			client_close(cl);
			return;
		}
		control_handle(cl->ctl->vm, cl->buf, cl->fds, cl->nfds, f);
		/* Descriptors serve the request they came with, and no other. */
		drop_fds(cl);
		fputc('\n', f);
		if (fclose(f)) {
			free(reply);
			client_close(cl);
			return;
		}
		/* Replies are a few KiB at most (metrics), far below a Unix socket's
		 * buffer; a client that does not read them is dropped. */
		sent = send(cl->fd, reply, rl, MSG_NOSIGNAL | MSG_DONTWAIT) == (ssize_t)rl;
		free(reply);
		if (!sent) {
			client_close(cl);
			return;
		}
		used = (size_t)(nl - cl->buf) + 1;
		memmove(cl->buf, cl->buf + used, cl->len - used);
		cl->len -= used;
	}
}

static void on_accept(void *opaque, uint32_t events)
{
	struct control *c = opaque;
	struct ctl_client *cl;
	unsigned int slot;
	int fd;

	(void)events;
	fd = accept4(c->fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (fd < 0)
		return;
	for (slot = 0; slot < CTL_MAX_CLIENTS && c->clients[slot]; slot++)
		;
	cl = slot < CTL_MAX_CLIENTS ? calloc(1, sizeof(*cl)) : NULL;
	if (!cl) {
		close(fd);
		return;
	}
	cl->ctl = c;
	cl->fd = fd;
	if (ev_add(c->ev, fd, EPOLLIN, on_client, cl) < 0) {
		close(fd);
		free(cl);
		return;
	}
	c->clients[slot] = cl;
}

int control_create(struct control **out, const char *path, struct vm *vm)
{
	struct control *c;
	int ret;

	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->vm = vm;
	c->ev = vm->ev;
	c->fd = fdarg_listen(path, 8);
	if (c->fd < 0) {
		ret = c->fd;
		goto err;
	}
	/* A socket the launcher bound is its to remove (we could not: the
	 * jail hides the path). */
	if (!fdarg_is_fd(path) && !(c->path = strdup(path))) {
		ret = -ENOMEM;
		goto err;
	}
	ret = ev_add(c->ev, c->fd, EPOLLIN, on_accept, c);
	if (ret)
		goto err;
	*out = c;
	return 0;
err:
	err_ret(ret, "control socket %s: %s", path, strerror(-ret));
	if (c->fd >= 0)
		close(c->fd);
	if (c->path)
		unlink(c->path);
	free(c->path);
	free(c);
	return ret;
}

void control_destroy(struct control *c)
{
	if (!c)
		return;
	for (unsigned int i = 0; i < CTL_MAX_CLIENTS; i++)
		if (c->clients[i])
			client_close(c->clients[i]);
	ev_del(c->ev, c->fd);
	close(c->fd);
	if (c->path)
		unlink(c->path);
	free(c->path);
	free(c);
}
