/* Helpers for the allowlist files (allow_*.c): one line per syscall. */
#ifndef SILO_VMM_JAIL_ALLOW_H
#define SILO_VMM_JAIL_ALLOW_H

#include <seccomp.h>

#include "vmm/jail/seccomp.h"

/* Any call of the syscall. */
#define SYS(name, why)                     \
	{                                  \
		SCMP_SYS(name), -1, 0, why \
	}
/* ioctl(2) with this request only: the request is argument 1. */
#define IOCTL(req, why)                        \
	{                                      \
		SCMP_SYS(ioctl), 1, (req), why \
	}
/* socket(2) of this family only: the family is argument 0. */
#define SOCKET(family, why)                        \
	{                                          \
		SCMP_SYS(socket), 0, (family), why \
	}
/* fcntl(2) with this command only: the command is argument 1. */
#define FCNTL(cmd, why)                        \
	{                                      \
		SCMP_SYS(fcntl), 1, (cmd), why \
	}

#define ALLOWLIST_LEN(list) const size_t list##_len = sizeof(list) / sizeof(list[0])

#endif
