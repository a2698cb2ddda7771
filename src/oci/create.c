/* create.c: create, start, exec and delete: the VM and the relays behind a
 * container (docs/containerd.md "Semantics").
 *
 *   create  makes the container's VM (its own, or the pod's for a pod's
 *           sandbox container) or finds its pod's, then forks the relay,
 *           which boots a VM of its own in a child while it waits on
 *           <root>/<id>/exec.fifo (runc's pattern): the engine's work
 *           between create and start overlaps the boot
 *   start   waits for the boot, opens the fifo: the relay goes on and
 *           runs the process
 *   exec    a relay that runs at once
 *   delete  ends the relay and, for a VM's owner, stops and removes the VM
 */
#include "oci/rt.h"
#include "net/policy.h"
#include "sandbox/cgroup.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void nap_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };
	nanosleep(&ts, NULL);
}

/* The policy text of the container's VM: dev.silo.network, else what a
 * new sandbox gets (the allowlist preset, docs/network.md). */
static int policy_text(const struct oci_spec *s, char **out)
{
	*out = NULL;
	if (s->network && !strcmp(s->network, "none"))
		return 0;
	struct net_policy *p = malloc(sizeof(*p));
	if (!p)
		return sb_fail("out of memory");
	bool open = s->network && !strcmp(s->network, "open");
	net_policy_init(p, open ? NET_MODE_OPEN : NET_MODE_ALLOWLIST);
	if (!open)
		sb_net_preset_add(p);
	int rc = sb_net_policy_text(p, out);
	free(p);
	return rc;
}

/* A new silo sandbox called name for the container (not started yet);
 * its silo-vmm and silo-netd in cgroup (under the cgroup root) when not "". */
static int make_vm(struct oci_rt *rt, const struct oci_spec *s, const char *name,
		   const char *cgroup)
{
	struct sb_config cfg;
	struct sandbox sb;
	sb_config_init(&cfg);
	snprintf(cfg.cgroup, sizeof(cfg.cgroup), "%s", cgroup);
	cfg.no_docker = s->no_docker;
	if (policy_text(s, &cfg.policy) < 0)
		goto fail;
	if (s->template[0]) {
		/* a template fixes the VM's size: the container's limits are
		 * not asked for again (only the network, when annotated) */
		struct sb_template t;
		if (sb_template_load(&rt->paths, s->template, &t) < 0 ||
		    sb_template_apply(&t, s->network ? SB_GIVEN_NET : 0, &cfg) < 0)
			goto fail;
	} else {
		if (s->cpus)
			cfg.cpus = s->cpus;
		if (s->memory)
			cfg.memory = s->memory;
	}
	if (sb_check_host(&rt->paths) < 0 || sb_create(&sb, &rt->paths, name, &cfg, NULL) < 0)
		goto fail;
	sb_close(&sb);
	sb_config_free(&cfg);
	return 0;
fail:
	sb_config_free(&cfg);
	return -1;
}

/* Stop and remove the VM called name; quiet when it is gone already. */
static void drop_vm(struct oci_rt *rt, const char *name)
{
	struct sandbox sb;
	if (sb_open(&sb, &rt->paths, name, true) < 0)
		return;
	sb_stop(&sb, 0);
	sb_remove(&sb);
	sb_close(&sb);
}

/* A container's own VM boots behind its create (its relay boots it,
 * relay.c): wait until the relay says it is up, or why not. what names
 * the VM in errors ("the pod's VM"). */
static int wait_booted(struct oci_rt *rt, const struct oci_state *ps, const char *what)
{
	char ready[SB_PATH_MAX], failed[SB_PATH_MAX], *why;
	if (oci_path(rt, ready, ps->id, OCI_BOOTED) < 0 ||
	    oci_path(rt, failed, ps->id, OCI_BOOT_ERROR) < 0)
		return sb_fail("--root %s: path too long", rt->root);
	/* the boot's own timeouts end it well before this; a relay gone
	 * leaves the booter a moment to write why (a VM that failed after
	 * its cgroup was made took the relay with it) */
	long gone_ms = -1;
	for (long ms = 0; ms < (rt->paths.boot_timeout + 60) * 1000L; ms += 10) {
		if (sb_exists(ready))
			return 0;
		if (sb_read_file(failed, &why, NULL) == 0) {
			why[strcspn(why, "\n")] = 0;
			int rc = sb_fail("%s did not start: %s", what, why);
			free(why);
			return rc;
		}
		if (gone_ms < 0 && !oci_alive(ps))
			gone_ms = ms;
		if (gone_ms >= 0 && ms - gone_ms > 5000)
			return sb_fail("the container %s is not running", ps->id);
		nap_ms(10);
	}
	return sb_fail("%s did not start within %d s", what, rt->paths.boot_timeout + 60);
}

/* The relay's booter made the VM's cgroup and moved the relay in (one
 * byte on rd), or failed before that (EOF; its error in boot.error). */
static int wait_cgroup(struct oci_rt *rt, int rd, const char *failed)
{
	struct pollfd p = { .fd = rd, .events = POLLIN };
	char b, *why;
	int r;
	while ((r = poll(&p, 1, (rt->paths.boot_timeout + 60) * 1000)) < 0 && errno == EINTR)
		;
	if (r > 0 && read(rd, &b, 1) == 1)
		return 0;
	if (r == 0)
		return sb_fail("the VM did not start within %d s", rt->paths.boot_timeout + 60);
	if (sb_read_file(failed, &why, NULL) < 0)
		return sb_fail("the VM did not start (its relay ended)");
	why[strcspn(why, "\n")] = 0;
	r = sb_fail("%s", why);
	free(why);
	return r;
}

/* The VM a pod's container runs in: its sandbox container's, up. */
static int pod_vm(struct oci_rt *rt, const char *pod, char *name)
{
	struct oci_state ps;
	char err[256];
	int r = oci_load(rt, pod, &ps, err, sizeof(err));
	if (r)
		/* gone: deleted once its relay ended, with a VM that failed */
		return r > 0 ? sb_fail("the pod's sandbox container %s does not exist "
				       "(its VM did not start, or has ended)",
				       pod)
			     : sb_fail("%s", err);
	snprintf(name, SB_NAME_MAX + 1, "%s", ps.sandbox);
	r = ps.kind == OCI_POD_SANDBOX ? wait_booted(rt, &ps, "the pod's VM") : 0;
	bool alive = oci_alive(&ps);
	oci_state_free(&ps);
	if (r == 0 && !alive)
		return sb_fail("the pod's sandbox container %s is not running", pod);
	return r;
}

static int read_config(const char *bundle, struct oci_spec *s, char *err, size_t n)
{
	char f[SB_PATH_MAX], *text;
	if (sb_path(f, "%s/config.json", bundle) < 0 || sb_read_file(f, &text, NULL) < 0) {
		snprintf(err, n, "%.512s/config.json: %.400s", bundle, sb_errmsg());
		return -1;
	}
	int rc = oci_spec_parse(text, s, err, n);
	free(text);
	return rc;
}

/* Kill a relay that is not our child: SIGKILL, then wait until it is gone
 * (its reaper, the shim, collects it). */
static void end_relay(const struct oci_state *st)
{
	if (!oci_alive(st))
		return;
	/* through the relay first: the guest process ends too */
	sigqueue(st->pid, OCI_RELAY_SIG, (union sigval){ .sival_int = SIGKILL });
	for (int i = 0; i < 20 && oci_alive(st); i++)
		nap_ms(50);
	if (oci_alive(st))
		kill(st->pid, SIGKILL);
}

int oci_create(struct oci_rt *rt)
{
	struct oci_args *a = &rt->a;
	if (a->noper != 1)
		return oci_fail(rt, "usage: create [--bundle DIR] [--pid-file F] "
				    "[--console-socket S] ID");
	const char *id = a->oper[0];
	if (!oci_id_valid(id))
		return oci_fail(rt, "invalid container id '%s'", id);
	char bundle[SB_PATH_MAX], dir[SB_PATH_MAX], fifo[SB_PATH_MAX], f[SB_PATH_MAX], err[1024];
	if (!realpath(a->bundle ? a->bundle : ".", bundle))
		return oci_fail(rt, "bundle %s: %s", a->bundle ? a->bundle : ".", strerror(errno));
	struct oci_spec s;
	if (read_config(bundle, &s, err, sizeof(err)) < 0)
		return oci_fail(rt, "%s", err);
	if (oci_path(rt, dir, id, NULL) < 0 || oci_path(rt, fifo, id, OCI_FIFO) < 0 ||
	    oci_path(rt, f, id, OCI_STATE_FILE) < 0) {
		oci_spec_free(&s);
		return oci_fail(rt, "--root %s: path too long", rt->root);
	}
	if (sb_mkdir_p(rt->root, 0700) < 0 || mkdir(dir, 0700) < 0) {
		int e = errno;
		oci_spec_free(&s);
		return e == EEXIST ? oci_fail(rt, "container with id %s already exists", id)
				   : oci_fail(rt, "%s: %s", dir, e ? strerror(e) : sb_errmsg());
	}
	struct oci_state st = { .kind = s.kind,
				.created_ns = now_ns(),
				.annotations = s.annotations };
	snprintf(st.id, sizeof(st.id), "%s", id);
	snprintf(st.bundle, sizeof(st.bundle), "%s", bundle);
	bool own_vm = s.kind != OCI_POD_CONTAINER;
	/* linux.cgroupsPath: the VM's and the relay's group, so that the
	 * engine's accounting covers the VM; as root only (rootless, the
	 * sandbox keeps silo's own, docs/containerd.md) */
	char rel[SB_CGROUP_PATH_MAX] = "", cgroup[SB_PATH_MAX] = "";
	if (s.cgroups_path && geteuid() == 0 &&
	    oci_cgroup_path(s.cgroups_path, a->systemd_cgroup, rel, sizeof(rel), err, sizeof(err)) <
		    0) {
		sb_rmtree(dir);
		oci_spec_free(&s);
		return oci_fail(rt, "%s", err);
	}
	/* A container's own VM (and a pod's, its sandbox container's) is
	 * made here and booted by its relay: the engine goes on meanwhile
	 * (with the start that follows a create; with the pod, starting it
	 * and making its containers). create waits only until the relay is
	 * in the VM's cgroup; start waits for the boot, and fails with its
	 * error, as does a pod's container's create (pod_vm). */
	int rc = own_vm ? (oci_silo_name(id, st.sandbox), make_vm(rt, &s, st.sandbox, rel))
			: pod_vm(rt, s.pod, st.sandbox);
	if (rc == 0 && rel[0]) {
		/* the VM's start made its group; a pod's container gets its
		 * own (for the relay alone: its process is in the pod's VM) */
		int fd = sb_cg_make(SB_CGROUP_FS, rel, cgroup, err, sizeof(err));
		if (fd >= 0)
			close(fd);
		else
			cgroup[0] = 0;
		snprintf(st.cgroup, sizeof(st.cgroup), "%s", cgroup);
	}
	if (rc < 0) {
		snprintf(err, sizeof(err), "%s", sb_errmsg());
		sb_rmtree(dir);
		oci_spec_free(&s);
		return oci_fail(rt, "%s", err);
	}
	char booted[SB_PATH_MAX], failed[SB_PATH_MAX], *text = NULL;
	int ready[2] = { -1, -1 };
	struct oci_relay r = { .paths = &rt->paths,
			       .kind = s.kind,
			       .proc = &s.proc,
			       .fifo = fifo,
			       .console_socket = a->console_socket,
			       .cgroup = cgroup[0] ? cgroup : NULL,
			       .ready_fd = -1 };
	if (own_vm) {
		if (oci_path(rt, booted, id, OCI_BOOTED) < 0 ||
		    oci_path(rt, failed, id, OCI_BOOT_ERROR) < 0) {
			sb_fail("--root %s: path too long", rt->root);
			goto undo;
		}
		if (pipe2(ready, O_CLOEXEC) < 0) {
			sb_fail("pipe: %s", strerror(errno));
			goto undo;
		}
		r.booted = booted;
		r.boot_error = failed;
		r.ready_fd = ready[1];
	}
	snprintf(r.sandbox, sizeof(r.sandbox), "%s", st.sandbox);
	if (mkfifo(fifo, 0600) < 0) {
		sb_fail("%s: %s", fifo, strerror(errno));
		goto undo;
	}
	if (oci_relay_spawn(&r, &st.pid) < 0)
		goto undo; /* st.pid stays 0: no relay to end */
	if (own_vm) {
		close(ready[1]);
		ready[1] = -1;
	}
	char state;
	if ((own_vm && wait_cgroup(rt, ready[0], failed) < 0) ||
	    sb_proc_start(st.pid, &st.start, &state) < 0 || oci_state_format(&st, &text) < 0 ||
	    sb_write_file_atomic(f, text, strlen(text)) < 0 ||
	    (a->pid_file && oci_write_pid(a->pid_file, st.pid) < 0)) {
		if (!sb_errmsg()[0])
			sb_fail("cannot record container %s", id);
		goto undo;
	}
	if (own_vm)
		close(ready[0]);
	free(text);
	oci_spec_free(&s);
	return 0;
undo:
	snprintf(err, sizeof(err), "%s", sb_errmsg());
	for (int i = 0; i < 2; i++)
		if (ready[i] >= 0)
			close(ready[i]);
	if (st.pid > 0) {
		kill(st.pid, SIGKILL);
		waitpid(st.pid, NULL, 0);
	}
	free(text);
	if (own_vm)
		drop_vm(rt, st.sandbox);
	else if (st.cgroup[0])
		rmdir(st.cgroup);
	sb_rmtree(dir);
	oci_spec_free(&s);
	return oci_fail(rt, "%s", err);
}

int oci_start(struct oci_rt *rt)
{
	struct oci_state st;
	char fifo[SB_PATH_MAX];
	int r = oci_load_one(rt, "start ID", &st);
	if (r)
		return r;
	const char *id = rt->a.oper[0];
	oci_state_free(&st);
	if (oci_path(rt, fifo, id, OCI_FIFO) < 0)
		return oci_fail(rt, "--root %s: path too long", rt->root);
	/* a VM of its own boots behind create: its process runs once it is
	 * up, and a boot that failed fails start (a pod's sandbox container
	 * has no process: its VM is waited for by the pod's containers) */
	if (st.kind == OCI_VM && sb_exists(fifo) && wait_booted(rt, &st, "its VM") < 0)
		return oci_fail(rt, "cannot start container %s: %s", id, sb_errmsg());
	int fd = open(fifo, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? oci_fail(rt,
						  "cannot start container %s: it was "
						  "started already",
						  id)
				       : oci_fail(rt, "%s: %s", fifo, strerror(errno));
	/* The relay's open(O_WRONLY) returns now and it writes its byte. A
	 * relay that died never will: checked while waiting. */
	char b;
	ssize_t got = -1;
	for (int i = 0; i < 200 && got <= 0; i++) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		if (poll(&p, 1, 50) > 0)
			got = read(fd, &b, 1);
		if (got <= 0 && !oci_alive(&st))
			break;
	}
	close(fd);
	if (got != 1)
		return oci_fail(rt, "cannot start container %s: its process is gone", id);
	unlink(fifo);
	return 0;
}

int oci_delete(struct oci_rt *rt)
{
	if (rt->a.noper != 1)
		return oci_fail(rt, "usage: delete [--force] ID");
	const char *id = rt->a.oper[0];
	struct oci_state st;
	char dir[SB_PATH_MAX], err[512];
	int r = oci_load(rt, id, &st, err, sizeof(err));
	if (r > 0)
		return rt->a.force ? 0 : oci_fail(rt, "container %s does not exist", id);
	if (r < 0 || oci_path(rt, dir, id, NULL) < 0) {
		if (!rt->a.force)
			return oci_fail(rt, "%s", r < 0 ? err : "--root: path too long");
		/* --force: whatever is left of it goes */
		return oci_path(rt, dir, id, NULL) == 0 && sb_rmtree(dir) == 0
			       ? 0
			       : oci_fail(rt, "cannot remove container %s", id);
	}
	/* runc deletes a created container (its init never ran) without
	 * --force, a running one only with it */
	if (!strcmp(oci_status(rt, &st), "running") && !rt->a.force) {
		oci_state_free(&st);
		return oci_fail(rt,
				"cannot delete container %s that is not stopped: stop it "
				"first or use --force",
				id);
	}
	end_relay(&st);
	if (st.kind != OCI_POD_CONTAINER)
		drop_vm(rt, st.sandbox);
	else if (st.cgroup[0] && rmdir(st.cgroup) < 0 && errno != ENOENT)
		sb_warn("cannot remove the cgroup %s: %s", st.cgroup, strerror(errno));
	oci_state_free(&st);
	if (sb_rmtree(dir) < 0)
		return oci_fail(rt, "%s", sb_errmsg());
	return 0;
}

int oci_exec(struct oci_rt *rt)
{
	struct oci_args *a = &rt->a;
	if (a->noper < 1 || (!a->process && a->noper < 2))
		return oci_fail(rt, "usage: exec [--process FILE | CMD...] [--detach] "
				    "[--pid-file F] [--console-socket S] ID");
	const char *id = a->oper[0];
	struct oci_state st;
	struct oci_proc p;
	char err[1024], *text;
	int r = oci_load(rt, id, &st, err, sizeof(err));
	if (r)
		return r > 0 ? oci_fail(rt, "container %s does not exist", id)
			     : oci_fail(rt, "%s", err);
	bool running = !strcmp(oci_status(rt, &st), "running");
	if (!running) {
		oci_state_free(&st);
		return oci_fail(rt, "cannot exec in container %s: it is not running", id);
	}
	if (a->process) {
		if (sb_read_file(a->process, &text, NULL) < 0) {
			oci_state_free(&st);
			return oci_fail(rt, "--process %s: %s", a->process, sb_errmsg());
		}
		r = oci_proc_text(text, &p, err, sizeof(err));
		free(text);
	} else {
		/* runc exec ID CMD... with -e, --cwd, -u, -t */
		json_t *args = json_array(), *env = json_array();
		for (unsigned i = 1; i < a->noper; i++)
			json_array_append_new(args, json_string(a->oper[i]));
		for (unsigned i = 0; i < a->nenv; i++)
			json_array_append_new(env, json_string(a->env[i]));
		json_t *proc = json_pack("{s:o, s:o, s:s, s:b}", "args", args, "env", env, "cwd",
					 a->cwd ? a->cwd : "/", "terminal", a->tty);
		r = proc ? oci_proc_parse(proc, &p, err, sizeof(err)) : -1;
		if (!proc)
			snprintf(err, sizeof(err), "exec: an argument is not UTF-8");
		json_decref(proc);
		if (r == 0 && a->user)
			snprintf(p.user, sizeof(p.user), "%s", a->user);
	}
	if (r == 0 && !p.args[0]) {
		oci_proc_free(&p);
		snprintf(err, sizeof(err), "exec: process.args is empty: nothing to run");
		r = -1;
	}
	if (r < 0) {
		oci_state_free(&st);
		return oci_fail(rt, "%s", err);
	}
	/* in the container's cgroup, as runc's exec joins it */
	struct oci_relay rl = { .paths = &rt->paths,
				.kind = st.kind == OCI_POD_SANDBOX ? OCI_VM : st.kind,
				.proc = &p,
				.console_socket = a->console_socket,
				.cgroup = st.cgroup[0] ? st.cgroup : NULL };
	snprintf(rl.sandbox, sizeof(rl.sandbox), "%s", st.sandbox);
	oci_state_free(&st);
	int pid;
	r = oci_relay_spawn(&rl, &pid);
	oci_proc_free(&p);
	if (r < 0)
		return oci_fail(rt, "%s", sb_errmsg());
	if (a->pid_file && oci_write_pid(a->pid_file, pid) < 0) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		return oci_fail(rt, "%s", sb_errmsg());
	}
	if (a->detach)
		return 0;
	int ws;
	while (waitpid(pid, &ws, 0) < 0 && errno == EINTR)
		;
	return WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
}
