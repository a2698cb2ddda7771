/* test_oci.c: silo-runtime's pure parts (src/oci/): runc's command line as
 * containerd's runc shim and other engines write it, config.json to what
 * silo runs (CRI annotations, resources, the mount policy), container ids
 * as silo names, the state record, and the JSON runc prints. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <signal.h>

#include "oci/oci.h"

#define ARGV(...)	   ((char *[]){ "silo-runtime", __VA_ARGS__, NULL })
#define ARGC(...)	   ((int)(sizeof((char *[]){ "silo-runtime", __VA_ARGS__ }) / sizeof(char *)))
#define PARSE(a, err, ...) oci_parse_args(ARGC(__VA_ARGS__), ARGV(__VA_ARGS__), a, err, sizeof(err))

/* go-runc's create, exactly as the runc v2 shim runs it */
static void test_args_shim_create(void **state)
{
	(void)state;
	struct oci_args a;
	char err[256];
	assert_int_equal(PARSE(&a, err, "--root", "/run/containerd/runc/k8s.io", "--log",
			       "/b/log.json", "--log-format", "json", "--systemd-cgroup", "create",
			       "--bundle", "/b", "--pid-file", "/b/init.pid", "--console-socket",
			       "/tmp/pty.sock", "--no-pivot", "c1"),
			 0);
	assert_string_equal(a.root, "/run/containerd/runc/k8s.io");
	assert_string_equal(a.log, "/b/log.json");
	assert_string_equal(a.log_format, "json");
	assert_true(a.systemd_cgroup);
	assert_string_equal(a.cmd, "create");
	assert_string_equal(a.bundle, "/b");
	assert_string_equal(a.pid_file, "/b/init.pid");
	assert_string_equal(a.console_socket, "/tmp/pty.sock");
	assert_int_equal(a.noper, 1);
	assert_string_equal(a.oper[0], "c1");
}

/* --flag=value, Go's single dash, short flags, -- before operands */
static void test_args_forms(void **state)
{
	(void)state;
	struct oci_args a;
	char err[256];
	assert_int_equal(PARSE(&a, err, "-root=/r", "-log", "/l", "exec", "-d", "--pid-file=/p",
			       "-p", "/proc.json", "-e", "A=1", "--env=B=2", "id", "--", "x"),
			 0);
	assert_string_equal(a.root, "/r");
	assert_string_equal(a.log, "/l");
	assert_true(a.detach);
	assert_string_equal(a.pid_file, "/p");
	assert_string_equal(a.process, "/proc.json");
	assert_int_equal(a.nenv, 2);
	assert_string_equal(a.env[1], "B=2");
	assert_int_equal(a.noper, 3);
	assert_string_equal(a.oper[2], "x");

	assert_int_equal(PARSE(&a, err, "kill", "--all", "id", "KILL"), 0);
	assert_true(a.all);
	assert_string_equal(a.oper[1], "KILL");
	assert_int_equal(PARSE(&a, err, "delete", "-f", "id"), 0);
	assert_true(a.force);
	assert_int_equal(PARSE(&a, err, "delete", "--force=false", "id"), 0);
	assert_false(a.force);
	assert_int_equal(PARSE(&a, err, "ps", "--format", "json", "id"), 0);
	assert_string_equal(a.format, "json");
	assert_int_equal(PARSE(&a, err, "update", "--resources", "-", "id"), 0);
	assert_string_equal(a.resources, "-");
	/* flags end at the first operand: the command's own stay operands */
	assert_int_equal(PARSE(&a, err, "exec", "id", "ls", "-l"), 0);
	assert_int_equal(a.noper, 3);
	assert_string_equal(a.oper[2], "-l");
	assert_int_equal(PARSE(&a, err, "--version"), 0);
	assert_true(a.version);
	assert_null(a.cmd);
}

static void test_args_errors(void **state)
{
	(void)state;
	struct oci_args a;
	char err[256];
	assert_int_equal(PARSE(&a, err, "--bogus", "state", "x"), -1);
	assert_non_null(strstr(err, "--bogus"));
	/* a flag of another subcommand */
	assert_int_equal(PARSE(&a, err, "start", "--bundle", "/b", "x"), -1);
	assert_non_null(strstr(err, "for start"));
	assert_int_equal(PARSE(&a, err, "create", "--bundle"), -1);
	assert_non_null(strstr(err, "needs a value"));
	assert_int_equal(PARSE(&a, err, "delete", "--force=maybe", "x"), -1);
	assert_int_equal(PARSE(&a, err, "--root", "/r"), -1);
	assert_non_null(strstr(err, "no command"));
}

static void test_ids_and_signals(void **state)
{
	(void)state;
	assert_true(oci_id_valid("c1"));
	assert_true(oci_id_valid("a_b+c-d.e"));
	assert_false(oci_id_valid(""));
	assert_false(oci_id_valid("."));
	assert_false(oci_id_valid(".."));
	assert_false(oci_id_valid("a/b"));
	assert_false(oci_id_valid("a b"));
	assert_int_equal(oci_signal_parse("9"), SIGKILL);
	assert_int_equal(oci_signal_parse("KILL"), SIGKILL);
	assert_int_equal(oci_signal_parse("SIGTERM"), SIGTERM);
	assert_int_equal(oci_signal_parse("sigwinch"), SIGWINCH);
	assert_int_equal(oci_signal_parse("0"), -1);
	assert_int_equal(oci_signal_parse("65"), -1);
	assert_int_equal(oci_signal_parse("9x"), -1);
	assert_int_equal(oci_signal_parse("NOPE"), -1);
	assert_int_equal(oci_signal_parse(""), -1);
}

static void test_silo_names(void **state)
{
	(void)state;
	char n[SB_NAME_MAX + 1], m[SB_NAME_MAX + 1];
	oci_silo_name("c1", n);
	assert_string_equal(n, "oci-c1");
	/* containerd's and Docker's 64 hex digits: too long for a name */
	const char *h1 = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
	const char *h2 = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde0";
	oci_silo_name(h1, n);
	oci_silo_name(h2, m);
	assert_true(sb_name_valid(n));
	assert_true(sb_name_valid(m));
	assert_string_not_equal(n, m);
	assert_int_equal(strncmp(n, "oci-0123456789", 14), 0);
	/* characters names do not take (runc's '+') */
	oci_silo_name("a+b", n);
	assert_true(sb_name_valid(n));
	oci_silo_name("a-b", m);
	assert_string_not_equal(n, m);
	/* the same id, the same name */
	oci_silo_name(h1, m);
	oci_silo_name(h1, n);
	assert_string_equal(n, m);
}

static const char ctr_config[] = "{\"ociVersion\":\"1.0.2\",\"process\":{"
				 "\"user\":{\"uid\":1000,\"gid\":100},"
				 "\"args\":[\"sh\",\"-c\",\"echo hi\"],"
				 "\"env\":[\"PATH=/usr/bin:/bin\",\"A=b=c\"],"
				 "\"cwd\":\"/work\",\"terminal\":true,"
				 "\"consoleSize\":{\"height\":40,\"width\":120}},"
				 "\"root\":{\"path\":\"rootfs\"},"
				 "\"mounts\":[{\"destination\":\"/proc\",\"type\":\"proc\"},"
				 "{\"destination\":\"/etc/resolv.conf\",\"type\":\"bind\","
				 "\"source\":\"/x/resolv.conf\",\"options\":[\"rbind\",\"ro\"]}],"
				 "\"linux\":{\"resources\":{\"memory\":{\"limit\":1610612736},"
				 "\"cpu\":{\"quota\":150000,\"period\":100000}}}}";

static void test_spec_ctr(void **state)
{
	(void)state;
	struct oci_spec s;
	char err[256];
	assert_int_equal(oci_spec_parse(ctr_config, &s, err, sizeof(err)), 0);
	assert_int_equal(s.kind, OCI_VM);
	assert_string_equal(s.proc.args[2], "echo hi");
	assert_null(s.proc.args[3]);
	assert_string_equal(s.proc.env[1], "A=b=c");
	assert_string_equal(s.proc.cwd, "/work");
	assert_string_equal(s.proc.user, "1000:100");
	assert_true(s.proc.terminal);
	assert_int_equal(s.proc.rows, 40);
	assert_int_equal(s.proc.cols, 120);
	assert_int_equal(s.cpus, 2); /* 1.5 CPUs: rounded up */
	assert_int_equal(s.memory, 1536ull << 20);
	assert_string_equal(s.template, "");
	assert_null(s.network);
	assert_false(s.no_docker);
	oci_spec_free(&s);
}

static void test_spec_cri(void **state)
{
	(void)state;
	struct oci_spec s;
	char err[256];
	const char *pod = "{\"process\":{\"args\":[\"/pause\"]},\"annotations\":{"
			  "\"io.kubernetes.cri.container-type\":\"sandbox\","
			  "\"io.kubernetes.cri.sandbox-id\":\"abc\","
			  "\"io.kubernetes.cri.sandbox-memory\":\"100000000\","
			  "\"io.kubernetes.cri.sandbox-cpu-quota\":\"400000\","
			  "\"io.kubernetes.cri.sandbox-cpu-period\":\"100000\","
			  "\"dev.silo.network\":\"open\",\"dev.silo.docker\":\"false\","
			  "\"dev.silo.template\":\"agent-claude\"}}";
	assert_int_equal(oci_spec_parse(pod, &s, err, sizeof(err)), 0);
	assert_int_equal(s.kind, OCI_POD_SANDBOX);
	assert_int_equal(s.cpus, 4);
	/* below what a guest needs: raised to it */
	assert_int_equal(s.memory, OCI_MIN_MEMORY);
	assert_string_equal(s.network, "open");
	assert_true(s.no_docker);
	assert_string_equal(s.template, "agent-claude");
	/* no process defaults: root in / */
	assert_string_equal(s.proc.user, "0:0");
	assert_string_equal(s.proc.cwd, "/");
	oci_spec_free(&s);

	const char *ctr = "{\"process\":{\"args\":[\"true\"]},\"annotations\":{"
			  "\"io.kubernetes.cri.container-type\":\"container\","
			  "\"io.kubernetes.cri.sandbox-id\":\"abc\"}}";
	assert_int_equal(oci_spec_parse(ctr, &s, err, sizeof(err)), 0);
	assert_int_equal(s.kind, OCI_POD_CONTAINER);
	assert_string_equal(s.pod, "abc");
	oci_spec_free(&s);
	/* CRI-O's names */
	const char *crio = "{\"process\":{\"args\":[\"true\"]},\"annotations\":{"
			   "\"io.kubernetes.cri-o.ContainerType\":\"container\","
			   "\"io.kubernetes.cri-o.SandboxID\":\"p1\"}}";
	assert_int_equal(oci_spec_parse(crio, &s, err, sizeof(err)), 0);
	assert_int_equal(s.kind, OCI_POD_CONTAINER);
	assert_string_equal(s.pod, "p1");
	oci_spec_free(&s);
}

/* Every bad config.json is one error naming what is wrong, never a crash. */
static void test_spec_errors(void **state)
{
	(void)state;
	static const struct {
		const char *json, *want;
	} bad[] = {
		{ "not json", "not JSON" },
		{ "[]", "not an object" },
		{ "{}", "no process" },
		{ "{\"process\":{\"args\":[]}}", "nothing to run" },
		{ "{\"process\":{\"args\":\"sh\"}}", "process.args" },
		{ "{\"process\":{\"args\":[1]}}", "process.args[0]" },
		{ "{\"process\":{\"args\":[\"x\"],\"env\":[\"NOEQUALS\"]}}", "process.env[0]" },
		{ "{\"process\":{\"args\":[\"x\"],\"cwd\":\"rel\"}}", "cwd" },
		{ "{\"process\":{\"args\":[\"x\"],\"user\":{\"uid\":-1}}}", "uid" },
		{ "{\"process\":{\"args\":[\"x\"],\"user\":{\"uid\":\"root\"}}}", "uid" },
		{ "{\"process\":{\"args\":[\"x\"]},\"mounts\":[{\"destination\":\"/data\","
		  "\"type\":\"bind\",\"source\":\"/srv/data\"}]}",
		  "bind mount of /srv/data on /data" },
		{ "{\"process\":{\"args\":[\"x\"]},\"mounts\":[{\"destination\":\"/v\","
		  "\"type\":\"none\",\"source\":\"/s\",\"options\":[\"rbind\"]}]}",
		  "bind mount of /s on /v" },
		{ "{\"process\":{\"args\":[\"x\"]},\"annotations\":{"
		  "\"io.kubernetes.cri.container-type\":\"container\"}}",
		  "sandbox id" },
		{ "{\"process\":{\"args\":[\"x\"]},\"annotations\":{"
		  "\"dev.silo.network\":\"wide\"}}",
		  "dev.silo.network" },
		{ "{\"process\":{\"args\":[\"x\"]},\"annotations\":{"
		  "\"dev.silo.template\":\"../x\"}}",
		  "dev.silo.template" },
		{ "{\"process\":{\"args\":[\"x\"]},\"annotations\":{"
		  "\"dev.silo.docker\":\"yes\"}}",
		  "dev.silo.docker" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct oci_spec s;
		char err[256] = "";
		if (oci_spec_parse(bad[i].json, &s, err, sizeof(err)) != -1 ||
		    !strstr(err, bad[i].want))
			fail_msg("%s: got '%s', want '%s'", bad[i].json, err, bad[i].want);
		assert_null(strchr(err, '\n'));
	}
}

static void test_state_round_trip(void **state)
{
	(void)state;
	struct oci_state st = { .kind = OCI_POD_CONTAINER,
				.pid = 4242,
				.start = 987654321ull,
				.created_ns = 1764979200123456789ll };
	strcpy(st.id, "c1");
	strcpy(st.bundle, "/run/b");
	strcpy(st.sandbox, "oci-pod");
	json_error_t je;
	st.annotations = json_loads("{\"k\":\"v\"}", 0, &je);
	char *text, err[128];
	assert_int_equal(oci_state_format(&st, &text), 0);
	struct oci_state back;
	assert_int_equal(oci_state_parse(text, &back, err, sizeof(err)), 0);
	free(text);
	assert_string_equal(back.id, "c1");
	assert_string_equal(back.bundle, "/run/b");
	assert_string_equal(back.sandbox, "oci-pod");
	assert_int_equal(back.kind, OCI_POD_CONTAINER);
	assert_int_equal(back.pid, 4242);
	assert_int_equal(back.start, 987654321ull);
	assert_int_equal(back.created_ns, st.created_ns);
	assert_string_equal(json_string_value(json_object_get(back.annotations, "k")), "v");

	/* runc's document: what go-runc's State reads */
	json_t *j = oci_state_runc(&back, "running");
	assert_string_equal(json_string_value(json_object_get(j, "status")), "running");
	assert_int_equal(json_integer_value(json_object_get(j, "pid")), 4242);
	assert_string_equal(json_string_value(json_object_get(j, "rootfs")), "/run/b/rootfs");
	assert_string_equal(json_string_value(json_object_get(j, "created")),
			    "2025-12-06T00:00:00.123456789Z");
	json_decref(j);
	j = oci_state_runc(&back, "stopped");
	assert_int_equal(json_integer_value(json_object_get(j, "pid")), 0);
	json_decref(j);
	oci_state_free(&back);
	oci_state_free(&st);

	static const char *const damaged[] = {
		"",
		"{}",
		"{\"id\":\"c\"}",
		"{\"id\":\"c\",\"bundle\":\"/b\",\"sandbox\":\"../x\",\"kind\":\"vm\",\"pid\":1,"
		"\"start\":1,\"created\":1}",
		"{\"id\":\"c\",\"bundle\":\"/b\",\"sandbox\":\"s\",\"kind\":\"pod\",\"pid\":1,"
		"\"start\":1,\"created\":1}",
		"{\"id\":\"c\",\"bundle\":\"/b\",\"sandbox\":\"s\",\"kind\":\"vm\",\"pid\":-1,"
		"\"start\":1,\"created\":1}",
	};
	for (size_t i = 0; i < sizeof(damaged) / sizeof(damaged[0]); i++)
		assert_int_equal(oci_state_parse(damaged[i], &back, err, sizeof(err)), -1);
}

/* linux.cgroupsPath in both of runc's forms */
static void test_cgroup_paths(void **state)
{
	(void)state;
	static const struct {
		const char *in;
		bool systemd;
		const char *want; /* NULL: refused */
	} cases[] = {
		{ "/silo-test/c2", false, "/silo-test/c2" },
		{ "k8s.io/abc", false, "/k8s.io/abc" },
		{ "/kubepods/burstable/pod1/c", false, "/kubepods/burstable/pod1/c" },
		{ "/a/../etc", false, NULL },
		{ "/a/./b", false, NULL },
		{ "/", false, NULL },
		{ "/a\nb", false, NULL },
		{ "system.slice:cri-containerd:abc", true,
		  "/system.slice/cri-containerd-abc.scope" },
		{ "kubepods-burstable-pod1.slice:cri-containerd:abc", true,
		  "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1.slice/"
		  "cri-containerd-abc.scope" },
		{ ":docker:abc", true, "/system.slice/docker-abc.scope" },
		{ "-.slice::abc", true, "/abc.scope" },
		{ "machine.slice:x:y.slice", true, "/machine.slice/y.slice" },
		{ "/a/b", true, NULL },
		{ "bad-.slice:p:n", true, NULL },
		{ "a--b.slice:p:n", true, NULL },
		{ "notaslice:p:n", true, NULL },
		{ "a.slice:p:", true, NULL },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char out[SB_CGROUP_PATH_MAX], err[256] = "";
		int r = oci_cgroup_path(cases[i].in, cases[i].systemd, out, sizeof(out), err,
					sizeof(err));
		if (cases[i].want && (r != 0 || strcmp(out, cases[i].want)))
			fail_msg("%s: got %d '%s' (%s), want '%s'", cases[i].in, r, r ? "" : out,
				 err, cases[i].want);
		if (!cases[i].want && (r != -1 || !strstr(err, "linux.cgroupsPath")))
			fail_msg("%s: accepted as '%s'", cases[i].in, out);
	}
}

/* the engine's cgroup is recorded with the sandbox (config key cgroup=) */
static void test_config_cgroup_key(void **state)
{
	(void)state;
	struct sb_config c, back;
	sb_config_init(&c);
	snprintf(c.name, sizeof(c.name), "oci-c1");
	snprintf(c.cgroup, sizeof(c.cgroup), "/silo-test/c1");
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	assert_int_equal(sb_config_format(&c, f), 0);
	fclose(f);
	assert_non_null(strstr(text, "cgroup=/silo-test/c1\n"));
	assert_int_equal(sb_config_parse(text, &back), 0);
	assert_string_equal(back.cgroup, "/silo-test/c1");
	sb_config_free(&back);
	free(text);
	assert_int_equal(sb_config_parse("name=x\ncgroup=/a/../b\n", &back), -1);
	assert_int_equal(sb_config_parse("name=x\ncgroup=rel\n", &back), -1);
	sb_config_free(&c);
}

/* runc's JSON log line, which the shim shows: valid JSON whatever msg is */
static void test_log_line(void **state)
{
	(void)state;
	char *line;
	assert_int_equal(oci_log_line("error", "a \"quoted\"\tthing", 0, &line), 0);
	assert_string_equal(line, "{\"level\":\"error\",\"msg\":\"a \\\"quoted\\\"\\tthing\","
				  "\"time\":\"1970-01-01T00:00:00.000000000Z\"}\n");
	free(line);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_args_shim_create), cmocka_unit_test(test_args_forms),
		cmocka_unit_test(test_args_errors),	 cmocka_unit_test(test_ids_and_signals),
		cmocka_unit_test(test_silo_names),	 cmocka_unit_test(test_spec_ctr),
		cmocka_unit_test(test_spec_cri),	 cmocka_unit_test(test_spec_errors),
		cmocka_unit_test(test_state_round_trip), cmocka_unit_test(test_log_line),
		cmocka_unit_test(test_cgroup_paths),	 cmocka_unit_test(test_config_cgroup_key),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
