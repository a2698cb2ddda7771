/* vmm_cmd.c: the command line sb_start runs for a sandbox: its supervisor
 * (silo _supervise, supervise.c) and, after "--", silo-vmm with the
 * sandbox's devices and guest command line (docs/silo-vmm.md).
 *
 * Pure: everything comes from struct sb_vmm_in (no environment, no files),
 * so tests/unit/test_vmm_cmd.c can check the whole argv.
 */
#include "sandbox/sandbox.h"
#include "proto/contract.h"

#include <stdio.h>

static int add(struct sb_vmm_cmd *c, size_t *n, const char *arg)
{
	/* room for the NULL that ends argv */
	if (*n + 1 >= SB_VMM_ARGC_MAX)
		return sb_fail("silo-vmm command line: more than %d arguments", SB_VMM_ARGC_MAX);
	c->argv[(*n)++] = (char *)arg;
	return 0;
}

static int add2(struct sb_vmm_cmd *c, size_t *n, const char *opt, const char *arg)
{
	return add(c, n, opt) < 0 || add(c, n, arg) < 0 ? -1 : 0;
}

/* silo.idle_trim: the guest gives its page cache back to the host after
 * this many seconds without agent work (src/agent/trim.c); silo.docker=0:
 * silo-init leaves dockerd off (--no-docker); silo.net=1: silo-init sets up
 * the guest's side of the network. Extra words come last, so
 * SILO_GUEST_CMDLINE_EXTRA can override. */
static void guest_cmdline(const struct sb_vmm_in *in, char *buf, size_t n)
{
	const char *extra = in->cmdline_extra;

	snprintf(buf, n,
		 SILO_ARG_BASE SILO_BASE_DEV " " SILO_ARG_SCRATCH SILO_SCRATCH_DEV
					     " " SILO_ARG_HOSTNAME "%s " SILO_ARG_IDLE_TRIM
					     "%d%s%s%s%s",
		 in->name, SB_IDLE_TRIM_S, in->cfg->no_docker ? " " SILO_ARG_NO_DOCKER : "",
		 in->netd ? " " SILO_ARG_NET : "", extra && extra[0] ? " " : "",
		 extra ? extra : "");
}

/* Paths and numbers, formatted into c's own buffers. */
static int format_args(const struct sb_vmm_in *in, struct sb_vmm_cmd *c)
{
	const struct sb_paths *p = in->paths;

	if (sb_path(c->vsock, "%s/vsock.sock", in->rundir) < 0 ||
	    sb_path(c->control, "%s/control.sock", in->rundir) < 0 ||
	    sb_path(c->console, "%s/console.log", in->dir) < 0 ||
	    sb_path(c->kernel, "%s/vmlinux", p->guest) < 0 ||
	    sb_path(c->initrd, "%s/agent.cpio.gz", p->guest) < 0 ||
	    sb_path(c->base, "%s/rootfs.ext4,ro", p->guest) < 0 ||
	    sb_path(c->scratch, "%s/scratch.img", in->dir) < 0)
		return -1;
	snprintf(c->mem, sizeof(c->mem), "%llu", (unsigned long long)(in->cfg->memory >> 20));
	snprintf(c->cpus, sizeof(c->cpus), "%u", in->cfg->cpus);
	snprintf(c->vsock_arg, sizeof(c->vsock_arg), "%u,%s", SILO_GUEST_CID, c->vsock);
	snprintf(c->console_arg, sizeof(c->console_arg), "file:%s", c->console);
	snprintf(c->tmo, sizeof(c->tmo), "%d", in->boot_timeout);
	/* RLIMIT_FSIZE for silo-vmm, a backstop behind its console cap
         * (16 MiB): every write past this offset fails. The scratch disk
         * is written up to its size, and a snapshot's memory file up to
         * the RAM size (template_build.c), so the larger is the lowest
         * safe limit. */
	snprintf(c->fsize, sizeof(c->fsize), "%llu",
		 (unsigned long long)(in->cfg->disk > in->cfg->memory ? in->cfg->disk
								      : in->cfg->memory));
	guest_cmdline(in, c->cmdline, sizeof(c->cmdline));
	return 0;
}

/* The sandbox's machine, the same for a boot and a restore (which needs
 * the same devices in the same order as the boot that saved the snapshot,
 * docs/snapshots.md): the one place the device set is written. */
static int machine_args(struct sb_vmm_cmd *c, size_t *n)
{
	const char *dev[] = { "--memory",  c->mem,     "--cpus",    c->cpus,
			      "--disk",	   c->base,    "--disk",    c->scratch,
			      "--balloon", "--rng",    "--vsock",   c->vsock_arg,
			      "--control", c->control, "--console", c->console_arg };
	int r = 0;

	for (size_t i = 0; r == 0 && i < sizeof(dev) / sizeof(dev[0]); i++)
		r = add(c, n, dev[i]);
	return r;
}

_Static_assert(SB_SECRETS_FD == 3, "--secrets-fd below spells SB_SECRETS_FD");

int sb_vmm_cmd(const struct sb_vmm_in *in, struct sb_vmm_cmd *c)
{
	const char *sup[] = { in->paths->super, "_supervise", in->rundir, "--fsize", c->fsize };
	size_t n = 0;
	int r = format_args(in, c);

	for (size_t i = 0; r == 0 && i < sizeof(sup) / sizeof(sup[0]); i++)
		r = add(c, &n, sup[i]);
	if (r == 0 && in->cgroup)
		r = add2(c, &n, "--cgroup", in->cgroup);
	if (r == 0 && in->netd) {
		r = add2(c, &n, "--netd", in->netd);
		if (r == 0)
			r = add2(c, &n, "--net-dir", in->dir);
		for (unsigned i = 0; r == 0 && i < in->cfg->npublish; i++)
			r = add2(c, &n, "--publish", in->cfg->publish[i]);
		if (r == 0 && in->secrets)
			r = add2(c, &n, "--secrets-fd", "3");
		if (r == 0 && in->secrets && in->paths->egress_ca[0])
			r = add2(c, &n, "--upstream-ca", in->paths->egress_ca);
	}
	if (r == 0)
		r = add(c, &n, "--");
	if (r == 0)
		r = add(c, &n, in->paths->vmm);
	/* --restore: no kernel, command line or boot timeout, the guest is
	 * already running */
	if (r == 0 && in->restore) {
		r = sb_path(c->restore, "%s", in->restore);
		if (r == 0)
			r = add2(c, &n, "--restore", c->restore);
	} else if (r == 0) {
		r = add2(c, &n, "--kernel", c->kernel);
		if (r == 0)
			r = add2(c, &n, "--initrd", c->initrd);
	}
	if (r == 0)
		r = machine_args(c, &n);
	if (r == 0 && !in->restore) {
		r = add2(c, &n, "--boot-timeout", c->tmo);
		if (r == 0)
			r = add2(c, &n, "--cmdline", c->cmdline);
	}
	c->argv[n] = NULL;
	return r;
}
