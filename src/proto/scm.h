/* scm.h: descriptors sent with a Unix socket message and taken from one
 * (SCM_RIGHTS, unix(7)): silo-vmm and silo-netd pass streams and sockets to
 * each other (docs/silo-vmm.md "vsock", docs/network.md), silo passes a
 * snapshot's files to silo-vmm, silo-runtime a pty to runc's caller.
 * Header only: those programs link no library in common. */
#ifndef SILO_PROTO_SCM_H
#define SILO_PROTO_SCM_H

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define SCM_MAX_FDS 4

/* sendmsg(2) of len bytes of buf with nfds (at most SCM_MAX_FDS)
 * descriptors on them; flags as sendmsg's. Its result; -1 and EINVAL for
 * too many descriptors. */
static inline ssize_t scm_send_fds(int sock, const void *buf, size_t len, const int *fds,
				   unsigned int nfds, int flags)
{
	union {
		char b[CMSG_SPACE(SCM_MAX_FDS * sizeof(int))];
		struct cmsghdr align;
	} u;
	struct iovec iov = { (void *)buf, len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };

	if (nfds > SCM_MAX_FDS) {
		errno = EINVAL;
		return -1;
	}
	if (nfds) {
		struct cmsghdr *cm;

		mh.msg_control = u.b;
		mh.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(nfds * sizeof(int));
		memcpy(CMSG_DATA(cm), fds, nfds * sizeof(int));
	}
	return sendmsg(sock, &mh, flags);
}

/* The first descriptor of mh's SCM_RIGHTS messages (-1 if none); every
 * other one is closed, since only one is ever expected and the rest would
 * leak. *nfds: how many came in all. */
static inline int scm_first_fd(struct msghdr *mh, int *nfds)
{
	int fd = -1, n = 0;

	for (struct cmsghdr *cm = CMSG_FIRSTHDR(mh); cm; cm = CMSG_NXTHDR(mh, cm)) {
		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS ||
		    cm->cmsg_len < CMSG_LEN(0))
			continue;
		for (size_t i = 0; i < (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int); i++) {
			int f;

			memcpy(&f, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
			if (n++ == 0)
				fd = f;
			else
				close(f);
		}
	}
	*nfds = n;
	return fd;
}

#endif
