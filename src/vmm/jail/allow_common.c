/* What every silo-vmm thread may call: memory, locks, time, logging, its
 * own end. Role lists (allow_*.c) add to this. */
#include <fcntl.h>

#include "vmm/jail/allow.h"

const struct jail_rule jail_allow_common[] = {
	SYS(futex, "pthread mutexes and condition variables"),
	SYS(brk, "malloc: the main heap"),
	SYS(mmap, "malloc: large blocks and new arenas"),
	SYS(munmap, "free of large blocks"),
	SYS(mprotect, "malloc: growing a thread's arena"),
	SYS(madvise, "free: trimming arenas (MADV_DONTNEED)"),
	SYS(mremap, "realloc of large blocks"),
	SYS(write, "log lines (stderr or the console file) and eventfd signals"),
	SYS(lseek, "the console file: where a write ended (its size cap)"),
	/* The console file's cap (console.c cap_rotate) turns PATH.2 into
	 * PATH.1 and starts a new PATH.2 from whichever thread wrote the byte
	 * over the limit (a vCPU, for the guest's serial output). openat is
	 * allowed with exactly the flags of that new file, so no thread but
	 * the event thread can open a file to read; the paths are checked by
	 * no filter (an empty root will narrow them, issue 18). */
	{ SCMP_SYS(openat), 2, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC | O_NOFOLLOW,
	  "the console file's cap: a new PATH.2" },
	SYS(rename, "the console file's cap: PATH.2 becomes PATH.1"),
	SYS(newfstatat, "the console file's cap: PATH.1's size; stdio"),
	SYS(ftruncate, "the console file's cap: dropping a segment it cannot rotate"),
	SYS(pwrite64, "the console file's cap: the bytes-dropped marker"),
	SYS(fstat, "stdio, on its first write to a stream"),
	SYS(timerfd_settime, "vsock: the connection timer, armed by whichever thread queues"),
	SYS(clock_gettime, "timestamps, when the vDSO falls back to the syscall"),
	SYS(clock_nanosleep, "short waits"),
	SYS(nanosleep, "short waits"),
	SYS(rt_sigprocmask, "pthread internals"),
	SYS(rt_sigreturn, "return from the vCPU kick handler"),
	SYS(restart_syscall, "a wait interrupted by a signal continues"),
	SYS(getpid, "pthread_kill (tgkill needs the process id)"),
	SYS(gettid, "pthread internals"),
	SYS(tgkill, "kicking a vCPU out of KVM_RUN (pause, stop, exit)"),
	SYS(exit, "a thread ends"),
	SYS(exit_group, "the process ends"),
};
ALLOWLIST_LEN(jail_allow_common);
