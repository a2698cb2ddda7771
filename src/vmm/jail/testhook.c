/*
 * Test builds only (-DSILO_VMM_TEST_HOOKS, `make test-hooks`, never the
 * silo-vmm that is installed): the control command "test-syscall ROLE"
 * makes a thread of that role attempt what its filter forbids, so a test
 * can see the process end with VMM_EXIT_SECCOMP and the reason line. The
 * event thread opens an AF_INET socket (silo-vmm has no network of its
 * own), or with "event-open" a host file, as the others do (/etc/passwd),
 * or with "event-connect" calls connect(2), which it has only without
 * --vsock-peer (seccomp.h).
 */
#ifdef SILO_VMM_TEST_HOOKS
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "vmm/evloop.h"
#include "vmm/jail/seccomp.h"
#include "vmm/vcpu.h"
#include "vmm/vm.h"

static int pending = -1; /* atomic: the role whose thread must try */

enum what { T_SOCKET, T_FILE, T_CONNECT };

/* Returns only when the filter let the call through. */
static int attempt(enum jail_role role, enum what what)
{
	struct sockaddr sa = { .sa_family = AF_UNSPEC };
	int fd = what == T_SOCKET ? socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)
		 : what == T_FILE ? open("/etc/passwd", O_RDONLY | O_CLOEXEC)
				  : socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	/* AF_UNSPEC: what would dissolve a TCP socket's connection */
	if (what == T_CONNECT && fd >= 0)
		(void)connect(fd, &sa, sizeof(sa));

	fprintf(stderr, "silo-vmm: test-syscall: the %s thread was not stopped (fd %d)\n",
		jail_role_name(role), fd);
	if (fd >= 0)
		close(fd);
	return fd;
}

void jail_test_poll(enum jail_role role)
{
	int want = (int)role;

	if (__atomic_compare_exchange_n(&pending, &want, -1, false, __ATOMIC_SEQ_CST,
					__ATOMIC_SEQ_CST))
		attempt(role, T_FILE);
}

static void on_io_hook(void *opaque, uint32_t events)
{
	(void)opaque;
	(void)events;
	attempt(JAIL_IO, T_FILE);
}

void jail_test_request(struct vm *vm, const char *role, FILE *reply)
{
	if (!strcmp(role, "event") || !strcmp(role, "event-open") ||
	    !strcmp(role, "event-connect")) {
		attempt(JAIL_EVENT, !strcmp(role, "event-open")	     ? T_FILE
				    : !strcmp(role, "event-connect") ? T_CONNECT
								     : T_SOCKET);
		fputs("error the event thread was not stopped", reply);
	} else if (!strcmp(role, "vcpu")) {
		__atomic_store_n(&pending, JAIL_VCPU, __ATOMIC_SEQ_CST);
		vcpu_kick(&vm->vcpus[0]);
		fputs("ok asked", reply);
	} else if (!strcmp(role, "main")) {
		__atomic_store_n(&pending, JAIL_MAIN, __ATOMIC_SEQ_CST);
		pthread_mutex_lock(&vm->lock);
		pthread_cond_broadcast(&vm->cond);
		pthread_mutex_unlock(&vm->lock);
		fputs("ok asked", reply);
	} else if (!strcmp(role, "io")) {
		for (unsigned int i = 0; i < vm->nr_virtio; i++) {
			int efd;

			if (!vm->virtio[i].io_ev)
				continue;
			/* a readable eventfd on the disk thread's loop: the
			 * loop calls on_io_hook there */
			efd = eventfd(1, EFD_CLOEXEC | EFD_NONBLOCK);
			if (efd < 0 ||
			    ev_add(vm->virtio[i].io_ev, efd, EPOLLIN, on_io_hook, NULL)) {
				fprintf(reply, "error eventfd: %s", strerror(errno));
				return;
			}
			fputs("ok asked", reply);
			return;
		}
		fputs("error no disk with an I/O thread", reply);
	} else {
		fputs("error test-syscall wants event, io, vcpu or main", reply);
	}
}
#endif
