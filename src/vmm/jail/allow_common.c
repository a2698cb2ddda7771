/* What every silo-vmm thread may call: memory, locks, time, logging, its
 * own end. Role lists (allow_*.c) add to this. */
#include "vmm/jail/allow.h"

const struct jail_rule jail_allow_common[] = {
	SYS(futex, "pthread mutexes and condition variables"),
	SYS(brk, "malloc: the main heap"),
	SYS(mmap, "malloc: large blocks and new arenas"),
	SYS(munmap, "free of large blocks"),
	SYS(mprotect, "malloc: growing a thread's arena"),
	SYS(madvise, "free: trimming arenas (MADV_DONTNEED)"),
	SYS(mremap, "realloc of large blocks"),
	SYS(sched_getaffinity, "malloc: how many CPUs, past 8 arenas (no /sys in the empty root)"),
	SYS(write, "log lines (stderr or the console file) and eventfd signals"),
	SYS(lseek, "the console file: where a write ended (its size cap)"),
	/* The console file's cap (console.c cap_rotate) copies PATH.2 over
	 * PATH.1 from whichever thread wrote the byte over the limit (a vCPU,
	 * for the guest's serial output), through descriptors opened at the
	 * start: no thread opens, creates or renames a file. */
	SYS(copy_file_range, "the console file's cap: PATH.2's bytes over PATH.1's"),
	SYS(newfstatat, "the console file's cap: PATH.1's size; stdio"),
	SYS(ftruncate, "the console file's cap: PATH.1 before the copy, PATH.2 after"),
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
