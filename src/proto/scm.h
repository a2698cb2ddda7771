/* scm.h: the descriptors a Unix socket message brought (SCM_RIGHTS,
 * unix(7)), for silo-vmm and silo-netd, which pass streams and sockets to
 * each other (docs/silo-vmm.md "vsock", docs/network.md). Header only: the
 * two link no library in common. */
#ifndef SILO_PROTO_SCM_H
#define SILO_PROTO_SCM_H

#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

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
