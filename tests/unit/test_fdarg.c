/* test_fdarg.c: silo-vmm's resource arguments, a path or "fd:N"
 * (src/vmm/fdarg.c): which descriptors are taken, with what access, and
 * which are refused before the VM is built. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <cmocka.h>

#include "vmm/fdarg.h"

static char dir[64], file[128], sock[128];

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/silo-test-fdarg-XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	snprintf(file, sizeof(file), "%s/f", dir);
	snprintf(sock, sizeof(sock), "%s/s", dir);
	int fd = open(file, O_WRONLY | O_CREAT, 0600);
	if (fd < 0 || write(fd, "abc", 3) != 3)
		return -1;
	return close(fd);
}

static int teardown(void **state)
{
	(void)state;
	unlink(file);
	unlink(sock);
	return rmdir(dir);
}

/* fd at a high number, as a launcher's inherited one: F_DUPFD takes the
 * lowest free, so a moved number is not given back at once. */
static int high(int fd)
{
	int h = fcntl(fd, F_DUPFD, 200);
	assert_true(h >= 200);
	close(fd);
	return h;
}

static char *arg(int fd)
{
	static char buf[32];
	snprintf(buf, sizeof(buf), "fd:%d", fd);
	return buf;
}

static void test_numbers(void **state)
{
	int fds[4];
	(void)state;

	assert_int_equal(fdarg_number("fd:7"), 7);
	assert_int_equal(fdarg_number("fd:2"), -1); /* stdio is not a resource */
	assert_int_equal(fdarg_number("fd:"), -1);
	assert_int_equal(fdarg_number("fd:7x"), -1);
	assert_int_equal(fdarg_number("fd:-3"), -1);
	assert_int_equal(fdarg_number("fd:99999999999"), -1);
	assert_int_equal(fdarg_number("/fd:7"), -1);
	assert_true(fdarg_list("fd:3,4,5,6", fds, 4));
	assert_int_equal(fds[3], 6);
	assert_false(fdarg_list("fd:3,4,5", fds, 4));
	assert_false(fdarg_list("fd:3,4,5,6,7", fds, 4));
	assert_false(fdarg_list("fd:3,,5,6", fds, 4));
	assert_false(fdarg_list("fd:3,4,5,1", fds, 4));
}

/* A taken descriptor is the caller's, close-on-exec; its inherited number
 * is closed, so naming it twice fails; its access must allow the use. */
static void test_take(void **state)
{
	char buf[4] = { 0 };
	(void)state;

	int ro = high(open(file, O_RDONLY));
	assert_int_equal(fdarg_open(arg(ro), O_RDWR), -EACCES); /* a disk wants rw */
	int fd = fdarg_open(arg(ro), O_RDONLY);
	assert_true(fd >= 3 && fd != ro);
	assert_int_equal(fcntl(fd, F_GETFD), FD_CLOEXEC);
	assert_int_equal(pread(fd, buf, 3, 0), 3);
	assert_string_equal(buf, "abc");
	assert_int_equal(fcntl(ro, F_GETFD), -1);
	assert_int_equal(fdarg_open(arg(ro), O_RDONLY), -EBADF);
	close(fd);

	/* read-write serves a read-only use (a disk given ,ro) */
	int rw = high(open(file, O_RDWR));
	fd = fdarg_open(arg(rw), O_RDONLY);
	assert_true(fd >= 3);
	close(fd);

	assert_int_equal(fdarg_open("fd:x", O_RDONLY), -EBADF);
	/* a path is opened as before */
	fd = fdarg_open(file, O_RDONLY);
	assert_true(fd >= 3);
	assert_int_equal(fcntl(fd, F_GETFD), FD_CLOEXEC);
	close(fd);
	assert_int_equal(fdarg_open("/nonexistent/x", O_RDONLY), -ENOENT);
}

static int connect_to(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int c = socket(AF_UNIX, SOCK_STREAM, 0);
	strcpy(sa.sun_path, path);
	int r = connect(c, (struct sockaddr *)&sa, sizeof(sa));
	close(c);
	return r;
}

/* fd:N must be a listening Unix stream socket; a path is bound
 * owner-only, a dead socket file replaced and a live one refused. */
static void test_listeners(void **state)
{
	struct stat st;
	(void)state;

	umask(0);
	int l = unix_listen_path(sock, 4);
	assert_true(l >= 0);
	assert_int_equal(stat(sock, &st), 0);
	assert_int_equal(st.st_mode & 077, 0); /* owner-only, whatever our umask */
	assert_int_equal(unix_listen_path(sock, 4), -EADDRINUSE); /* live: kept */
	l = high(l);
	int fd = fdarg_listen(arg(l), 4);
	assert_true(fd >= 3);
	assert_true(fcntl(fd, F_GETFL) & O_NONBLOCK);
	assert_int_equal(fcntl(l, F_GETFD), -1);
	assert_int_equal(connect_to(sock), 0);
	close(fd);
	/* dead now: the next bind replaces the file */
	fd = fdarg_listen(sock, 4);
	assert_true(fd >= 0);
	close(fd);

	int unbound = high(socket(AF_UNIX, SOCK_STREAM, 0));
	assert_int_equal(fdarg_listen(arg(unbound), 4), -ENOTSOCK);
	int dgram = high(socket(AF_UNIX, SOCK_DGRAM, 0));
	assert_int_equal(fdarg_listen(arg(dgram), 4), -ENOTSOCK);
	int plain = high(open(file, O_RDONLY));
	assert_int_equal(fdarg_listen(arg(plain), 4), -ENOTSOCK);
	assert_int_equal(fdarg_listen("fd:250", 4), -EBADF);
	close(unbound), close(dgram), close(plain);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_numbers),
		cmocka_unit_test_setup_teardown(test_take, setup, teardown),
		cmocka_unit_test_setup_teardown(test_listeners, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
