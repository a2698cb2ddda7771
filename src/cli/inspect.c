/* inspect.c: silo inspect NAME: config, status, processes, paths as JSON. */
#include "cli/cli.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "net/policy.h"
#include "sandbox/cgroup.h"

static void kv(const char *k, const char *v, bool comma)
{
	printf("  \"%s\": ", k);
	json_str(stdout, v);
	printf("%s\n", comma ? "," : "");
}

/* "network": mode, rules, published ports and, while running, the
 * broker's counters (src/sandbox/network.c). */
static void print_network(const struct sandbox *sb, bool running)
{
	struct net_policy *p = NULL;
	unsigned long long allowed = 0, denied = 0;
	if (sb_net_load(sb, &p) < 0)
		p = NULL; /* a broken file: shown as none, policy says why */
	if (running)
		sb_net_stats(sb, &allowed, &denied);
	printf("  \"network\": {\"mode\": \"%s\", \"rules\": %zu, \"allow_host_access\": %s, "
	       "\"allow_link_local\": %s, \"published\": [",
	       net_mode_name(p ? p->mode : NET_MODE_NONE), p ? p->nrules : 0,
	       p && p->flags & NET_POLICY_ALLOW_HOST ? "true" : "false",
	       p && p->flags & NET_POLICY_ALLOW_LINK_LOCAL ? "true" : "false");
	for (unsigned i = 0; i < sb->cfg.npublish; i++) {
		printf("%s", i ? ", " : "");
		json_str(stdout, sb->cfg.publish[i]);
	}
	printf("], \"allowed\": %llu, \"denied\": %llu},\n", allowed, denied);
	free(p);
}

/* "cgroup": the group this run's silo-vmm and silo-netd are in, with its
 * limits as the kernel reads them back, and which limits are not
 * enforced and why (src/sandbox/cgroup.c). */
static void print_cgroup(const struct sandbox *sb, bool running)
{
	static const char *const files[] = { "memory.max", "memory.swap.max", "cpu.max", "pids.max",
					     "io.weight" };
	struct sb_cgroup cg;
	bool first = true;

	if (!running || sb_cgroup_load(sb, &cg) < 0) {
		cg = (struct sb_cgroup){ 0 };
		snprintf(cg.note, sizeof(cg.note), "%s",
			 running ? "started by a silo without cgroups" : "not running");
	}
	printf("  \"cgroup\": {\"path\": ");
	json_str(stdout, cg.path);
	printf(", \"not_enforced\": ");
	json_str(stdout, cg.note);
	printf(", \"limits\": {");
	for (size_t i = 0; cg.path[0] && i < sizeof(files) / sizeof(files[0]); i++) {
		char f[SB_PATH_MAX], *v = NULL;
		size_t len;
		if (sb_path(f, "%s/%s", cg.path, files[i]) < 0 || sb_read_file(f, &v, &len) < 0)
			continue;
		v[strcspn(v, "\n")] = 0;
		printf("%s\"%s\": ", first ? "" : ", ", files[i]);
		json_str(stdout, v);
		first = false;
		free(v);
	}
	printf("}},\n");
}

int cmd_inspect(struct cli *c, int argc, char **argv)
{
	if (argc != 2)
		return cli_failf("usage: silo inspect NAME");
	struct sandbox sb;
	struct sb_status st;
	if (sb_open(&sb, &c->paths, argv[1], false) < 0 || sb_status(&sb, &st) < 0)
		return cli_fail();
	char status[300], path[SB_PATH_MAX + 64];
	sb_status_text(&st, status, sizeof(status));
	/* host write failures silo-vmm counted on a disk (health.c) */
	char why[64], degraded[256] = "";
	if (st.state == SB_RUNNING &&
	    sb_degraded(&sb, why, sizeof(why), degraded, sizeof(degraded)) > 0)
		snprintf(status, sizeof(status), "%s (degraded: %s)", sb_status_name(&st), why);
	/* The guest's own report (src/sandbox/docker.c). */
	enum sb_docker docker = SB_DOCKER_UNKNOWN;
	char docker_why[768] = "";
	sb_docker_state(&sb, &docker, docker_why, sizeof(docker_why));
	printf("{\n");
	kv("name", sb.name, true);
	kv("state", sb_status_name(&st), true);
	kv("status", status, true);
	kv("degraded", degraded, true);
	printf("  \"exit_code\": %d,\n  \"exit_signal\": %d,\n",
	       st.state == SB_EXITED ? st.exit.code : -1,
	       st.state == SB_EXITED ? st.exit.signal : 0);
	kv("exit_reason", st.state == SB_EXITED ? st.exit.reason : "", true);
	printf("  \"vmm_pid\": %d,\n  \"supervisor_pid\": %d,\n", st.vmm_pid, st.sup_pid);
	printf("  \"cpus\": %u,\n  \"memory\": %llu,\n  \"disk\": %llu,\n  \"created\": %lld,\n",
	       sb.cfg.cpus, (unsigned long long)sb.cfg.memory, (unsigned long long)sb.cfg.disk,
	       (long long)sb.cfg.created);
	kv("workspace", sb.cfg.workspace, true);
	/* --template T: "" for a sandbox that booted from the start */
	kv("template", sb.cfg.template, true);
	printf("  \"env\": [");
	for (unsigned i = 0; i < sb.cfg.nenv; i++) {
		printf("%s", i ? ", " : "");
		json_str(stdout, sb.cfg.env[i]);
	}
	printf("],\n");
	kv("docker", sb_docker_name(docker), true);
	if (docker == SB_DOCKER_FAILED)
		kv("docker_error", docker_why, true);
	print_network(&sb, st.state == SB_RUNNING);
	print_cgroup(&sb, st.state == SB_RUNNING);
	kv("data_dir", sb.dir, true);
	kv("run_dir", sb.rundir, true);
	snprintf(path, sizeof(path), "%s/scratch.img", sb.dir);
	kv("scratch", path, true);
	snprintf(path, sizeof(path), "%s/console.log", sb.dir);
	kv("console_log", path, true);
	kv("agent", sb.addr, true);
	snprintf(path, sizeof(path), "%s/control.sock", sb.rundir);
	kv("control", path, false);
	printf("}\n");
	sb_close(&sb);
	return 0;
}
