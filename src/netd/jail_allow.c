/* silo-netd's seccomp allowlist, one line per syscall (src/netd/jail.c):
 * read only by the build-time compiler jail-bpfgen, never linked into
 * silo-netd. One list for the whole process: its threads all do the same
 * kind of work (relay bytes, look names up, write the log).
 *
 * Not in it, among others: execve, ptrace, mount and every namespace call,
 * setuid and friends, bpf, io_uring, process_vm_*, kill (but tgkill),
 * listen (every listener is bound before the filter loads), rt_sigaction
 * but for glibc's one signal (the SIGSYS handler cannot be replaced), and socket families other than
 * IPv4, IPv6, Unix and netlink. */
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include "netd/jail.h"
#include "vmm/jail/allow.h"

const struct jail_rule netd_allow[] = {
	/* memory and threads */
	SYS(brk, "malloc: the main heap"),
	SYS(mmap, "malloc: large blocks, arenas; a new thread's stack"),
	SYS(munmap, "free of large blocks; a thread's stack"),
	SYS(mprotect, "malloc: growing an arena; a thread stack's guard page"),
	SYS(madvise, "free: trimming arenas; an idle worker's stack"),
	SYS(mremap, "realloc of large blocks"),
	SYS(clone3, "pthread_create: a connection or stats thread"),
	SYS(clone, "pthread_create on a kernel without clone3"),
	SYS(set_robust_list, "a new thread's start"),
	SYS(rseq, "a new thread's start"),
	SYS(futex, "mutexes, the policy's rwlock, condition variables"),
	SYS(sched_yield, "pthread internals"),
	SYS(rt_sigprocmask, "pthread internals; a new thread's signal mask"),
	/* glibc's first pthread_create installs the handler of its internal
	 * SIGSETXID (SIGRTMIN + 1 = 33, glibc's nptl/pthread_create.c); that
	 * one signal only, so the SIGSYS handler stays ours */
	{ SCMP_SYS(rt_sigaction), 0, 33, "glibc: its SIGSETXID handler, at the first thread" },
	SYS(rt_sigreturn, "return from a signal handler"),
	SYS(restart_syscall, "a wait interrupted by a signal continues"),
	SYS(getpid, "pthread internals"),
	SYS(gettid, "pthread internals"),
	SYS(tgkill, "pthread internals (raise, abort)"),
	SYS(exit, "a thread ends"),
	SYS(exit_group, "the process ends"),
	/* time */
	SYS(clock_gettime, "timestamps, when the vDSO falls back to the syscall"),
	SYS(clock_nanosleep, "short waits"),
	SYS(nanosleep, "short waits"),
	/* descriptors */
	SYS(read, "the guest's streams, the signalfd, the policy file"),
	SYS(write, "the guest's streams, the log"),
	SYS(readv, "stdio"),
	SYS(writev, "stdio"),
	SYS(close, "streams that ended"),
	SYS(poll, "every wait on a socket"),
	SYS(ppoll, "poll, as glibc may issue it"),
	SYS(lseek, "stdio; the log's size"),
	SYS(fstat, "stdio; the log's size at open"),
	SYS(newfstatat, "stdio; getaddrinfo checks /etc/resolv.conf for changes"),
	SYS(statx, "stat as newer glibc issues it"),
	FCNTL(F_GETFL, "a socket's flags"),
	FCNTL(F_SETFL, "a dialled socket back to blocking after its connect"),
	FCNTL(F_GETFD, "stdio"),
	FCNTL(F_SETFD, "close-on-exec"),
	IOCTL(FIONREAD, "getaddrinfo: how big a DNS answer is"),
	/* files: the log, its rotation, the stats file, a reloaded policy,
	 * getaddrinfo's /etc files; at the end, the listeners' sockets */
	SYS(openat, "the log, the stats file, the policy; /etc/hosts, resolv.conf"),
	SYS(rename, "the log's rotation; the stats file into place"),
	SYS(unlink, "the stats file's temp after a failure; the sockets at the end"),
	SYS(getrandom, "getaddrinfo's query ids; malloc's tcache"),
	SYS(uname, "getaddrinfo: the host's name"),
	SYS(sched_getaffinity, "malloc: how many CPUs, for its arenas (no /sys in its view)"),
	/* sockets */
	SOCKET(AF_INET, "dialling IPv4 destinations; the resolver's queries"),
	SOCKET(AF_INET6, "dialling IPv6 destinations; the resolver's queries"),
	SOCKET(AF_UNIX, "nscd's socket, which glibc tries first"),
	SOCKET(AF_NETLINK, "getifaddrs: the host's addresses (a reload, the lookup family)"),
	SYS(connect, "dialling a destination; the resolver; nscd"),
	SYS(bind, "getifaddrs' netlink socket"),
	SYS(accept4, "the guest's streams and published ports"),
	SYS(getsockname, "getifaddrs; the resolver"),
	SYS(getpeername, "a connection's peer"),
	SYS(getsockopt, "a non-blocking connect's result (SO_ERROR); what silo-vmm passed"),
	SYS(setsockopt, "SO_LINGER on a reset; the resolver's socket options"),
	SYS(shutdown, "half-closed streams"),
	SYS(sendto, "stream bytes (send); the resolver; netlink"),
	SYS(recvfrom, "stream bytes (recv); the resolver"),
	SYS(sendmsg, "stream bytes"),
	SYS(recvmsg, "netlink answers; the guest's streams from silo-vmm (--peer-fd)"),
	SYS(sendmmsg, "the resolver sends A and AAAA queries at once"),
};
ALLOWLIST_LEN(netd_allow);
