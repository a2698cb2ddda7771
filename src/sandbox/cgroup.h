/* cgroup.h: one cgroup v2 group per running sandbox, holding its silo-vmm
 * and silo-netd (never the supervisor), with memory, CPU, task and I/O
 * limits from its flags (docs/security.md, "cgroups").
 *
 *   as root:  <fs>/silo/<name>-<id>
 *   rootless: <P>/silo/<name>-<id>, P the parent of silo's own cgroup, when
 *             P is delegated to the user (writable, with the controllers)
 *
 * <id> is 12 hex digits of a hash of the sandbox's data directory: two
 * silo data directories may hold sandboxes of one name. sb_start makes the
 * group (sb_cgroup_setup) and records it in <rundir>/SB_CGROUP_FILE; the
 * supervisor moves each child in between fork and exec (silo-vmm unshares
 * a cgroup namespace of its own once it runs: it must be inside by then)
 * and removes the group once both ended; stop, rm and the next start
 * remove what a crash left (sb_cgroup_remove). No cgroup v2, or rootless
 * without delegation: one warning line at start, never a failure.
 */
#ifndef SILO_SANDBOX_CGROUP_H
#define SILO_SANDBOX_CGROUP_H

#include "sandbox/sandbox.h"

#define SB_CGROUP_FS	 "/sys/fs/cgroup"
#define SB_CGROUP_PARENT "silo"
#define SB_CGROUP_FILE	 "cgroup" /* in <rundir>: path= and note= of this run */

/* Controllers, in the order their names are printed. */
enum {
	SB_CG_MEMORY = 1u << 0,
	SB_CG_CPU = 1u << 1,
	SB_CG_PIDS = 1u << 2,
	SB_CG_IO = 1u << 3,
};
#define SB_CG_ALL      (SB_CG_MEMORY | SB_CG_CPU | SB_CG_PIDS | SB_CG_IO)
/* A start warns when one of these is missing; io only "when available". */
#define SB_CG_REQUIRED (SB_CG_MEMORY | SB_CG_CPU | SB_CG_PIDS)

/* memory.max = guest RAM + SB_CG_VMM_OVERHEAD + RAM / SB_CG_MARGIN_DIV.
 * Measured in the lab (tests/e2e/test_cgroup.py prints it; figures in
 * docs/security.md "cgroups"): with a 1 GiB guest that filled its RAM and
 * wrote its disk, what cannot be reclaimed (anon + kernel, the kernel's
 * part 14-15 MiB: slab, KVM's page tables, which grow with RAM, hence the
 * proportional part) stayed within 10 MiB of silo-vmm's peak RSS. The rest is
 * room for silo-netd's connection stacks (NETD_MAX_CONNS x 256 KiB at
 * most) and for page cache of disk writes, which the kernel reclaims at
 * the limit instead of killing. */
#define SB_CG_VMM_OVERHEAD (96ull << 20)
#define SB_CG_MARGIN_DIV   16
/* pids.max counts threads. silo-vmm: main, event, one I/O thread per
 * disk, one per vCPU (src/vmm/threads.c), plus room; silo-netd: at most
 * NETD_MAX_CONNS connection workers, plus its main, stats and DNS
 * threads and room. silo-vmm cannot fork (seccomp): this bounds a thread
 * flood, not a fork bomb. */
#define SB_CG_VMM_TASKS	   16
#define SB_CG_NETD_TASKS   (256 + 16) /* NETD_MAX_CONNS + 16, checked in cgroup.c */
#define SB_CG_CPU_PERIOD   100000     /* cpu.max's default period, microseconds */
#define SB_CG_IO_WEIGHT	   100	      /* the kernel's default: every sandbox alike */

struct sb_cg_limits {
	uint64_t memory_max; /* memory.max, bytes */
	unsigned cpu_quota;  /* cpu.max "QUOTA PERIOD", microseconds */
	unsigned cpu_period;
	unsigned pids_max;  /* pids.max: threads of silo-vmm and silo-netd */
	unsigned io_weight; /* io.weight "default N" */
};

/* --- pure (tests/unit/test_cgroup.c) ----------------------------------- */
/* The limits of a sandbox of cfg, with (netd) or without a network. */
void sb_cg_limits(const struct sb_config *cfg, bool netd, struct sb_cg_limits *l);
/* The cgroup v2 path ("0::PATH") in /proc/self/cgroup's text: 0, or -1
 * when there is none (a cgroup v1 host) or it does not fit in n. */
int sb_cg_parse_self(const char *text, char *path, size_t n);
/* cgroup.controllers / cgroup.subtree_control text: SB_CG_* bits. */
unsigned sb_cg_parse_controllers(const char *text);
/* The value of key in a flat keyed file (memory.events), or -1. */
long long sb_cg_parse_key(const char *text, const char *key);
/* "memory, cpu, pids, io" for mask, into buf. */
char *sb_cg_names(unsigned mask, char *buf, size_t n);
/* <name>-<12 hex digits of the hash of dir>: 0, or -1 if n is too small. */
int sb_cg_group_name(const char *name, const char *dir, char *buf, size_t n);

/* --- file writing (a temporary directory stands in for cgroupfs in the
 * unit tests: every file is opened, never created) ---------------------- */
/* Enable in dirfd's cgroup.subtree_control each controller of want that
 * its cgroup.controllers offers and that is not on yet, one write each (a
 * missing io controller must not keep memory off). The controllers now
 * on, of want. */
unsigned sb_cg_enable(int dirfd, unsigned want);
/* Write l into the group gfd: memory.max (with memory.swap.max 0 and
 * memory.oom.group 1), cpu.max, pids.max, io.weight. A file is there only
 * when its controller is on: the SB_CG_* bits written. */
unsigned sb_cg_write_limits(int gfd, const struct sb_cg_limits *l);

/* The group fsroot + rel (a valid sb_cgroup_path_valid path), made with
 * its missing parents, each handing the controllers down: its directory's
 * fd, and its full path in path (SB_PATH_MAX); -1 with why. */
int sb_cg_make(const char *fsroot, const char *rel, char *path, char *why, size_t n);

/* --- a sandbox's group ------------------------------------------------- */
struct sb_cgroup {
	char path[SB_PATH_MAX]; /* "" when there is none */
	unsigned enforced;	/* SB_CG_* */
	char note[512];		/* which limits are not enforced and why; "" */
};
/* Make sb's group under fsroot (SB_CGROUP_FS), with the limits of its
 * config, and record it in its run dir. Never fails: whatever it cannot
 * enforce it says in one warning line and in cg->note. */
void sb_cgroup_setup(const struct sandbox *sb, const char *fsroot, bool netd, struct sb_cgroup *cg);
/* Kill what is left in sb's group and remove it: the recorded one, and as
 * root the one its name gives. For a sandbox that is not running. */
void sb_cgroup_remove(const struct sandbox *sb, const char *fsroot);
/* The record of the last start (path and note), from the run dir:
 * 0, or -1 when there is none. */
int sb_cgroup_load(const struct sandbox *sb, struct sb_cgroup *cg);

/* --- the supervisor (supervise.c) -------------------------------------- */
/* Move the calling process into the group whose cgroup.procs is fd:
 * 0 or -errno. Between fork and exec. */
int sb_cg_join(int procs_fd);
/* True when the kernel's OOM killer killed a process of the group at
 * path (memory.events oom_kill). */
bool sb_cg_oom_killed(const char *path);

#endif
