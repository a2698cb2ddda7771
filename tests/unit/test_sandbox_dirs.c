/* test_sandbox_dirs.c: what another local user (or a planted symlink) can
 * do to silo's state directories and files: run/data directories they own
 * or can write, symlinks where silo writes a temporary or removes a tree,
 * a config value that smuggles in a key, sockets bound under a loose umask.
 * Needs root only for the chown to another uid (skipped otherwise). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "sandbox/sandbox.h"
#include "vmm/console.h"
#include "vmm/devices/virtio/vsock/muxer.h"

static char top[64];

static int setup(void **state)
{
	(void)state;
	snprintf(top, sizeof(top), "/tmp/silo-dirs-test-XXXXXX");
	return mkdtemp(top) ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	char cmd[256];
	snprintf(cmd, sizeof(cmd), "chmod -R u+rwx %s 2>/dev/null; rm -rf %s", top, top);
	return system(cmd) == 0 ? 0 : -1;
}

static void put(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
}

static char *get(const char *path)
{
	char *text;
	assert_int_equal(sb_read_file(path, &text, NULL), 0);
	return text;
}

static int paths_init(struct sb_paths *p, const char *data, const char *run)
{
	return sb_paths_init(p, &(struct sb_settings){ .data_flag = data, .run_flag = run });
}

static void paths_fail(const char *data, const char *run, const char *want)
{
	struct sb_paths p;
	assert_int_equal(paths_init(&p, data, run), -1);
	if (!strstr(sb_errmsg(), want))
		fail_msg("error '%s' does not say '%s'", sb_errmsg(), want);
}

/* ssh-agent and tmux rules: a real directory, ours, no group/other access. */
static void test_run_dir_must_be_private(void **state)
{
	(void)state;
	char run[128], data[128], other[128];
	struct sb_paths p;
	struct stat st;

	snprintf(data, sizeof(data), "%s/data", top);
	snprintf(run, sizeof(run), "%s/run", top);
	snprintf(other, sizeof(other), "%s/other", top);

	/* missing: created 0700 whatever the umask */
	mode_t old = umask(0);
	assert_int_equal(paths_init(&p, data, run), 0);
	umask(old);
	assert_int_equal(lstat(run, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0700);

	assert_int_equal(chmod(run, 0777), 0);
	paths_fail(data, run, "open to other users (mode 0777)");
	assert_int_equal(chmod(run, 0750), 0);
	paths_fail(data, run, "chmod 700");
	assert_int_equal(chmod(run, 0700), 0);
	assert_int_equal(paths_init(&p, data, run), 0);

	/* a symlink to a directory that would pass is still refused */
	assert_int_equal(rename(run, other), 0);
	assert_int_equal(symlink(other, run), 0);
	paths_fail(data, run, "is a symbolic link");
	assert_int_equal(unlink(run), 0);
	put(run, "");
	paths_fail(data, run, "is not a directory");
	assert_int_equal(unlink(run), 0);
	assert_int_equal(rename(other, run), 0);

	if (geteuid() == 0) {
		assert_int_equal(chown(run, 65534, 65534), 0);
		paths_fail(data, run, "is owned by uid 65534 (not you): remove it");
		assert_int_equal(chown(run, 0, 0), 0);
	}

	/* the data directory, when it exists, by the same rules */
	assert_int_equal(mkdir(data, 0755), 0);
	paths_fail(data, run, "data directory");
	assert_int_equal(chmod(data, 0700), 0);
	assert_int_equal(paths_init(&p, data, run), 0);
}

/* The library reads no environment (a server's requests must not depend
 * on it): what the CLI takes from SILO_* variables comes in sb_settings,
 * and variables set in the process change nothing. */
static void test_settings_not_environment(void **state)
{
	(void)state;
	char home[128], run[128], want[192];
	struct sb_paths p;

	snprintf(home, sizeof(home), "%s/home", top);
	snprintf(run, sizeof(run), "%s/run", top);
	setenv("SILO_DATA_DIR", "/nonexistent-silo/data", 1);
	setenv("SILO_NETD", "/nonexistent-silo/netd", 1);
	setenv("SILO_BOOT_TIMEOUT", "7", 1);
	setenv("SILO_GUEST_CMDLINE_EXTRA", "from=env", 1);
	setenv("XDG_DATA_HOME", "/nonexistent-silo/xdg", 1);
	struct sb_settings s = { .run_flag = run, .home = home };
	assert_int_equal(sb_paths_init(&p, &s), 0);
	snprintf(want, sizeof(want), "%s/.local/share/silo", home);
	if (geteuid() != 0)
		assert_string_equal(p.data, want);
	else
		assert_string_equal(p.data, "/var/lib/silo");
	assert_int_equal(p.boot_timeout, SB_BOOT_TIMEOUT_DEFAULT);
	assert_string_equal(p.cmdline_extra, "");
	assert_null(strstr(p.netd, "nonexistent"));
	assert_non_null(strstr(p.netd, "silo-netd"));
	/* the same, given as settings */
	s = (struct sb_settings){ .data_env = "/d",
				  .run_flag = run,
				  .netd = "/n/silo-netd",
				  .boot_timeout = 7,
				  .cmdline_extra = "a=b" };
	assert_int_equal(sb_paths_init(&p, &s), 0);
	assert_string_equal(p.data, "/d");
	assert_string_equal(p.netd, "/n/silo-netd");
	assert_int_equal(p.boot_timeout, 7);
	assert_string_equal(p.cmdline_extra, "a=b");
	/* a flag still wins over its variable, and says so in the hint */
	s.data_flag = home;
	assert_int_equal(sb_paths_init(&p, &s), 0);
	assert_string_equal(p.data, home);
	assert_non_null(strstr(p.data_hint, "--data-dir"));
	s.boot_timeout = -1;
	assert_int_equal(sb_paths_init(&p, &s), -1);
	assert_non_null(strstr(sb_errmsg(), "boot timeout"));
	unsetenv("SILO_DATA_DIR");
	unsetenv("SILO_NETD");
	unsetenv("SILO_BOOT_TIMEOUT");
	unsetenv("SILO_GUEST_CMDLINE_EXTRA");
	unsetenv("XDG_DATA_HOME");
}

/* A sandbox's own directory is held to the same rules when opened. */
static void test_sandbox_dir_must_be_private(void **state)
{
	(void)state;
	char data[128], run[128], dir[192], f[256];
	struct sb_paths p;
	struct sandbox sb;

	snprintf(data, sizeof(data), "%s/data", top);
	snprintf(run, sizeof(run), "%s/run", top);
	assert_int_equal(mkdir(data, 0700), 0);
	snprintf(dir, sizeof(dir), "%s/sandboxes", data);
	assert_int_equal(mkdir(dir, 0700), 0);
	snprintf(dir, sizeof(dir), "%s/sandboxes/box", data);
	assert_int_equal(mkdir(dir, 0700), 0);
	snprintf(f, sizeof(f), "%s/config", dir);
	put(f, "name=box\n");
	assert_int_equal(paths_init(&p, data, run), 0);
	assert_int_equal(sb_open(&sb, &p, "box", false), 0);
	sb_close(&sb);

	assert_int_equal(chmod(dir, 0777), 0);
	assert_int_equal(sb_open(&sb, &p, "box", false), -1);
	assert_non_null(strstr(sb_errmsg(), "sandbox directory"));
	assert_non_null(strstr(sb_errmsg(), "mode 0777"));
	assert_int_equal(chmod(dir, 0700), 0);

	/* a per-sandbox run directory someone else made */
	snprintf(f, sizeof(f), "%s/box", run);
	assert_int_equal(mkdir(f, 0777), 0);
	assert_int_equal(chmod(f, 0777), 0);
	assert_int_equal(sb_open(&sb, &p, "box", false), -1);
	assert_non_null(strstr(sb_errmsg(), "run directory"));
}

/* The temporary of an atomic write is never opened through a symlink. */
static void test_write_atomic_no_follow(void **state)
{
	(void)state;
	char path[128], tmp[192], victim[128];
	struct stat st;

	snprintf(path, sizeof(path), "%s/config", top);
	snprintf(victim, sizeof(victim), "%s/victim", top);
	put(victim, "precious\n");
	/* the name silo used to pick for its temporary */
	snprintf(tmp, sizeof(tmp), "%s.tmp%d", path, (int)getpid());
	assert_int_equal(symlink(victim, tmp), 0);

	assert_int_equal(sb_write_file_atomic(path, "name=a\n", 7), 0);
	char *v = get(victim), *c = get(path);
	assert_string_equal(v, "precious\n");
	assert_string_equal(c, "name=a\n");
	free(v);
	free(c);
	assert_int_equal(lstat(path, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0600);
}

static int count_files(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;
	assert_non_null(d);
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

/* Eight files a symlink will point to. */
static void make_victim(const char *victim)
{
	char f[256];
	assert_int_equal(mkdir(victim, 0700), 0);
	for (int i = 0; i < 8; i++) {
		snprintf(f, sizeof(f), "%s/f%d", victim, i);
		put(f, "x");
	}
}

/* A planted symlink inside a tree: removed, its target left alone. */
static void test_rmtree_keeps_symlink_targets(void **state)
{
	(void)state;
	char victim[128], tree[128], f[256];
	snprintf(victim, sizeof(victim), "%s/victim", top);
	snprintf(tree, sizeof(tree), "%s/tree", top);
	make_victim(victim);
	assert_int_equal(mkdir(tree, 0700), 0);
	snprintf(f, sizeof(f), "%s/d", tree);
	assert_int_equal(mkdir(f, 0700), 0);
	snprintf(f, sizeof(f), "%s/d/link", tree);
	assert_int_equal(symlink(victim, f), 0);
	snprintf(f, sizeof(f), "%s/flink", tree);
	assert_int_equal(symlink(victim, f), 0);
	assert_int_equal(sb_rmtree(tree), 0);
	assert_false(sb_exists(tree));
	assert_int_equal(count_files(victim), 8);

	/* the tree's own name a symlink: only the link goes */
	assert_int_equal(symlink(victim, tree), 0);
	assert_int_equal(sb_rmtree(tree), 0);
	assert_false(sb_exists(tree));
	assert_int_equal(count_files(victim), 8);
	assert_int_equal(sb_rmtree(tree), 0); /* nothing there: nothing to do */
}

struct swapper {
	char a[192], b[192];
	volatile int stop;
};

static void *swap_loop(void *arg)
{
	struct swapper *s = arg;
	while (!s->stop)
		renameat2(AT_FDCWD, s->a, AT_FDCWD, s->b, RENAME_EXCHANGE);
	return NULL;
}

/* A directory swapped for a symlink while the tree is being removed (what a
 * path walk like nftw cannot see): the symlink's target survives. The swap
 * is a race, so try it many times; one follow is enough to fail. */
static void test_rmtree_race_never_follows(void **state)
{
	(void)state;
	char victim[128], tree[128], f[256], cmd[256];
	snprintf(victim, sizeof(victim), "%s/victim", top);
	snprintf(tree, sizeof(tree), "%s/tree", top);
	make_victim(victim);
	struct swapper s;
	snprintf(s.a, sizeof(s.a), "%s/sub", tree);
	snprintf(s.b, sizeof(s.b), "%s/alt", tree);
	for (int round = 0; round < 3000; round++) {
		assert_int_equal(mkdir(tree, 0700), 0);
		assert_int_equal(mkdir(s.a, 0700), 0);
		for (int i = 0; i < 8; i++) {
			snprintf(f, sizeof(f), "%s/f%d", s.a, i);
			put(f, "y");
		}
		assert_int_equal(symlink(victim, s.b), 0);
		pthread_t th;
		s.stop = 0;
		assert_int_equal(pthread_create(&th, NULL, swap_loop, &s), 0);
		sb_rmtree(tree); /* may fail in the race: never follow */
		s.stop = 1;
		pthread_join(th, NULL);
		snprintf(cmd, sizeof(cmd), "rm -rf %s", tree);
		if (sb_exists(tree))
			assert_int_equal(system(cmd), 0);
		if (count_files(victim) != 8)
			fail_msg("round %d: sb_rmtree followed the symlink and deleted the "
				 "files it points to",
				 round);
	}
}

/* workspace=PATH with a newline must not become a second key. */
static void test_config_value_with_newline(void **state)
{
	(void)state;
	static const char *const paths[] = {
		"/tmp/a\nname=evil",
		"/tmp/back\\slash\\n",
		"/tmp/tab\there\r\x01\x7f",
		"/tmp/ok",
	};
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		struct sb_config c, d;
		char *text = NULL;
		size_t len = 0;
		sb_config_init(&c);
		snprintf(c.name, sizeof(c.name), "good");
		snprintf(c.workspace, sizeof(c.workspace), "%s", paths[i]);
		c.workspace_pending = true;
		FILE *f = open_memstream(&text, &len);
		assert_int_equal(sb_config_format(&c, f), 0);
		assert_int_equal(fclose(f), 0);
		assert_null(strstr(text, "\nname=evil"));
		/* one line per key: name, cpus, memory, disk, created, workspace, pending */
		size_t lines = 0;
		for (char *p = text; *p; p++)
			lines += *p == '\n';
		assert_int_equal(lines, 7);
		assert_int_equal(sb_config_parse(text, &d), 0);
		assert_string_equal(d.name, "good");
		assert_string_equal(d.workspace, paths[i]);
		assert_true(d.workspace_pending);
		sb_config_free(&d);
		free(text);
	}
	/* configs written before the encoding: a plain path reads the same */
	struct sb_config d;
	assert_int_equal(sb_config_parse("name=a\nworkspace=/home/u/my src\n", &d), 0);
	assert_string_equal(d.workspace, "/home/u/my src");
	sb_config_free(&d);
}

static void check_private(const char *path)
{
	struct stat st;
	assert_int_equal(lstat(path, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	if (st.st_mode & 077)
		fail_msg("%s has mode 0%o: other users can connect", path, st.st_mode & 0777);
}

static void on_console(void *opaque, enum console_event ev)
{
	(void)opaque, (void)ev;
}

/* silo-vmm's sockets are private to their owner whatever the umask. */
static void test_sockets_private(void **state)
{
	(void)state;
	char path[128];
	mode_t old = umask(0);

	struct vsock_mux *m = calloc(1, sizeof(*m));
	assert_non_null(m);
	snprintf(path, sizeof(path), "%s/vsock.sock", top);
	assert_int_equal(vsock_mux_init(m, 3, path), 0);
	check_private(path);
	vsock_mux_fini(m);
	free(m);

	struct console *c;
	char spec[160];
	snprintf(path, sizeof(path), "%s/console.sock", top);
	snprintf(spec, sizeof(spec), "unix:%s", path);
	assert_int_equal(console_open(&c, spec, 0, NULL, on_console, NULL), 0);
	check_private(path);
	console_close(c);
	umask(old);
}

/* sb_find_part: the setting wins, then the build tree beside the
 * executable, then PREFIX/libexec/silo and PREFIX/share/silo (make install),
 * PREFIX above bin/ or, for silo-serve, libexec/silo/; with neither, the
 * build-tree path (what the "run make" errors name). */
static void test_find_part_layouts(void **state)
{
	(void)state;
	char self[300], dir[200], got[SB_PATH_MAX], want[300];
	snprintf(dir, sizeof(dir), "%s/usr/bin", top);
	assert_int_equal(sb_mkdir_p(dir, 0755), 0);
	snprintf(self, sizeof(self), "%s/silo", dir);
	/* nothing installed yet */
	assert_int_equal(sb_find_part(got, self, NULL, "silo-vmm", "libexec/silo/silo-vmm"), 0);
	snprintf(want, sizeof(want), "%s/silo-vmm", dir);
	assert_string_equal(got, want);
	/* installed: bin/../libexec/silo, written without the ".." */
	snprintf(dir, sizeof(dir), "%s/usr/libexec/silo", top);
	assert_int_equal(sb_mkdir_p(dir, 0755), 0);
	snprintf(want, sizeof(want), "%s/silo-vmm", dir);
	put(want, "");
	assert_int_equal(sb_find_part(got, self, "", "silo-vmm", "libexec/silo/silo-vmm"), 0);
	assert_string_equal(got, want);
	snprintf(dir, sizeof(dir), "%s/usr/share/silo", top);
	assert_int_equal(sb_mkdir_p(dir, 0755), 0);
	assert_int_equal(sb_find_part(got, self, NULL, "guest", "share/silo"), 0);
	assert_string_equal(got, dir);
	/* from silo-serve in PREFIX/libexec/silo: the same PREFIX */
	char serve[300];
	snprintf(serve, sizeof(serve), "%s/usr/libexec/silo/silo-serve", top);
	assert_int_equal(sb_find_part(got, serve, NULL, "guest", "share/silo"), 0);
	assert_string_equal(got, dir);
	put(self, "");
	assert_int_equal(sb_find_part(got, serve, NULL, "silo", "bin/silo"), 0);
	assert_string_equal(got, self);
	/* a build tree beside the executable comes first */
	snprintf(want, sizeof(want), "%s/usr/bin/silo-vmm", top);
	put(want, "");
	assert_int_equal(sb_find_part(got, self, NULL, "silo-vmm", "libexec/silo/silo-vmm"), 0);
	assert_string_equal(got, want);
	/* and the setting (SILO_VMM) before both */
	assert_int_equal(
		sb_find_part(got, self, "/opt/x/silo-vmm", "silo-vmm", "libexec/silo/silo-vmm"), 0);
	assert_string_equal(got, "/opt/x/silo-vmm");
}

/* The state sb_status reads from the run dir: a live supervisor (a process
 * whose command line names the run dir) is running, the paused file makes
 * it paused, and a paused file beside dead pids says nothing. */
static void test_status_paused(void **st)
{
	(void)st;
	struct sandbox sb = { .lock_fd = -1 };
	struct sb_status s;
	char f[SB_PATH_MAX + 32], text[64];
	snprintf(sb.name, sizeof(sb.name), "pz");
	snprintf(sb.rundir, sizeof(sb.rundir), "%s/pz", top);
	assert_int_equal(sb_status(&sb, &s), 0);
	assert_int_equal(s.state, SB_STOPPED);
	assert_string_equal(sb_status_name(&s), "stopped");
	assert_int_equal(mkdir(sb.rundir, 0700), 0);

	pid_t pid = fork();
	if (pid == 0) {
		execl("/bin/sh", "sh", "-c", "sleep 30", sb.rundir, (char *)NULL);
		_exit(127);
	}
	assert_true(pid > 0);
	snprintf(f, sizeof(f), "%s/supervisor.pid", sb.rundir);
	snprintf(text, sizeof(text), "%d\n", (int)pid);
	/* until the child has exec'd, its command line is ours */
	for (int i = 0; i < 500; i++) {
		assert_int_equal(sb_write_file_atomic(f, text, strlen(text)), 0);
		assert_int_equal(sb_status(&sb, &s), 0);
		if (s.state == SB_RUNNING)
			break;
		usleep(10000);
	}
	assert_int_equal(s.state, SB_RUNNING);
	assert_false(s.paused);
	assert_string_equal(sb_status_name(&s), "running");

	snprintf(f, sizeof(f), "%s/" SB_PAUSED_FILE, sb.rundir);
	assert_int_equal(sb_write_file_atomic(f, "1\n", 2), 0);
	assert_int_equal(sb_status(&sb, &s), 0);
	assert_int_equal(s.state, SB_RUNNING);
	assert_true(s.paused);
	assert_string_equal(sb_status_name(&s), "paused");
	sb_status_text(&s, text, sizeof(text));
	assert_string_equal(text, "paused");

	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	assert_int_equal(sb_status(&sb, &s), 0);
	assert_int_equal(s.state, SB_EXITED);
	assert_false(s.paused);
	assert_string_equal(sb_status_name(&s), "exited");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_run_dir_must_be_private, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sandbox_dir_must_be_private, setup, teardown),
		cmocka_unit_test_setup_teardown(test_settings_not_environment, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_atomic_no_follow, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rmtree_keeps_symlink_targets, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rmtree_race_never_follows, setup, teardown),
		cmocka_unit_test_setup_teardown(test_config_value_with_newline, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sockets_private, setup, teardown),
		cmocka_unit_test_setup_teardown(test_find_part_layouts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_status_paused, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
