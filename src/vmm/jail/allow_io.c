/* A disk's I/O thread: its queue's requests on its image file. */
#include <linux/fs.h>

#include "vmm/jail/allow.h"

const struct jail_rule jail_allow_io[] = {
	SYS(epoll_wait, "the thread's event loop"),
	SYS(epoll_ctl, "the thread's event loop"),
	SYS(read, "the queue's notify eventfd"),
	SYS(preadv, "guest reads"),
	SYS(pwritev, "guest writes"),
	SYS(pread64, "guest reads"),
	SYS(pwrite64, "guest writes"),
	SYS(fdatasync, "guest flushes (VIRTIO_BLK_T_FLUSH)"),
	SYS(fsync, "guest flushes"),
	SYS(fallocate, "discard and write-zeroes (punching holes)"),
};
ALLOWLIST_LEN(jail_allow_io);
