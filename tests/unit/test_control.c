/* Control socket protocol over a real Unix socket, with a VM that has no vCPUs. */
#include <pthread.h>
#include <signal.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <cmocka.h>

#include "vmm/control.h"
#include "vmm/evloop.h"
#include "proto/contract.h"
#include "vmm/vm.h"

static void *loop(void *ev)
{
	ev_run(ev);
	return NULL;
}

static char buf[256]; /* the last reply */

static void ask(int fd, const char *req, const char *want_prefix)
{
	size_t len = 0;

	if (*req)
		assert_int_equal(write(fd, req, strlen(req)), (ssize_t)strlen(req));
	while (len == 0 || buf[len - 1] != '\n') {
		ssize_t n = read(fd, buf + len, sizeof(buf) - 1 - len);
		assert_true(n > 0);
		len += (size_t)n;
	}
	buf[len] = '\0';
	if (strncmp(buf, want_prefix, strlen(want_prefix)))
		fail_msg("request %s got '%s', want '%s...'", req, buf, want_prefix);
}

static void test_protocol(void **state)
{
	struct vm *vm = calloc(1, sizeof(*vm));
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char path[] = "/tmp/silo-ctl-test-XXXXXX";
	pthread_t th;
	int fd;
	(void)state;

	signal(SIGPIPE, SIG_IGN);
	assert_non_null(mkdtemp(path));
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/ctl", path);
	pthread_mutex_init(&vm->lock, NULL);
	pthread_cond_init(&vm->cond, NULL);
	vm->exit_code = -1;
	clock_gettime(CLOCK_MONOTONIC, &vm->t_start);
	assert_int_equal(ev_create(&vm->ev), 0);
	assert_int_equal(control_create(&vm->ctl, sa.sun_path, vm), 0);
	assert_int_equal(pthread_create(&th, NULL, loop, vm->ev), 0);

	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ask(fd, "status\n", "ok running vcpus=0 uptime_ms=");
	ask(fd, "pause\n", "ok");
	ask(fd, "status\n", "ok paused");
	ask(fd, "resume\n", "ok");
	ask(fd, "status\r\n", "ok running");
	ask(fd, "bogus\n", "error unknown command");
	/* One JSON line; this VM has no devices. */
	ask(fd, "metrics\n", "ok {\"uptime_ms\":");
	assert_non_null(strstr(
		buf,
		",\"unhandled_pio\":0,\"unhandled_mmio\":0,\"irq_errs\":0,\"prefetched_pages\":0,\"devices\":[]}\n"));
	ask(fd, "stop\n", "ok");
	assert_int_equal(vm->exit_code, VMM_EXIT_STOPPED);
	ask(fd, "pause\n", "error");
	close(fd);

	/* An over-long line is refused and the connection closed. */
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	{
		/* Exactly the server's line buffer (128 bytes), so no unread data
		 * turns the close into a reset that eats the reply. */
		char big[128];
		memset(big, 'a', sizeof(big));
		assert_int_equal(write(fd, big, sizeof(big)), (ssize_t)sizeof(big));
		ask(fd, "", "error line too long");
	}
	close(fd);

	ev_stop(vm->ev);
	pthread_join(th, NULL);
	control_destroy(vm->ctl);
	assert_int_not_equal(access(sa.sun_path, F_OK), 0); /* unlinked */
	ev_destroy(vm->ev);
	rmdir(path);
	pthread_cond_destroy(&vm->cond);
	pthread_mutex_destroy(&vm->lock);
	free(vm);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_protocol),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
