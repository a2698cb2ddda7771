/*
 * vCPU and VM state to and from the snapshot state file, in the orders
 * Firecracker uses (src/vmm/src/arch/x86_64/vcpu.rs save_state and
 * restore_state, arch/x86_64/vm.rs; summarised in docs/snapshots.md).
 * The reasons for each order are written next to the calls: KVM applies
 * side effects between these ioctls, so the order is part of the format.
 * All vCPUs must be out of KVM_RUN (paused, or not started yet).
 */
#include "vmm/snapshot/kvm_state.h"

#include <errno.h>
#include <linux/kvm.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "vmm/log.h"
#include "vmm/snapshot/state.h"

#define MSR_IA32_TSC	      0x10
#define MSR_IA32_TSC_DEADLINE 0x6e0

_Static_assert(sizeof(struct kvm_regs) == 144, "kvm_regs layout");
_Static_assert(sizeof(struct kvm_sregs) == 312, "kvm_sregs layout");
_Static_assert(sizeof(struct kvm_xsave) == 4096, "kvm_xsave layout");
_Static_assert(sizeof(struct kvm_xcrs) == 392, "kvm_xcrs layout");
_Static_assert(sizeof(struct kvm_debugregs) == 128, "kvm_debugregs layout");
_Static_assert(sizeof(struct kvm_lapic_state) == 1024, "kvm_lapic_state layout");
_Static_assert(sizeof(struct kvm_mp_state) == 4, "kvm_mp_state layout");
_Static_assert(sizeof(struct kvm_vcpu_events) == 64, "kvm_vcpu_events layout");
_Static_assert(sizeof(struct kvm_cpuid_entry2) == 40, "kvm_cpuid_entry2 layout");
_Static_assert(sizeof(struct kvm_pit_state2) == 112, "kvm_pit_state2 layout");
_Static_assert(sizeof(struct kvm_clock_data) == 48, "kvm_clock_data layout");
_Static_assert(sizeof(struct kvm_irqchip) == 520, "kvm_irqchip layout");
_Static_assert(sizeof(struct kvm_msr_entry) == sizeof(struct snap_msr), "msr entry layout");

/*
 * Which MSRs a snapshot keeps: KVM's list (KVM_GET_MSR_INDEX_LIST)
 * intersected with these ranges, as Firecracker's SERIALIZABLE_MSR_RANGES
 * (arch/x86_64/msr.rs) does: the architectural state a Linux guest
 * programs, not host-model feature MSRs.
 */
static bool msr_wanted(uint32_t i)
{
	static const struct {
		uint32_t lo, hi;
	} r[] = {
		{ 0x10, 0x12 },		    /* TSC, kvmclock's legacy MSRs */
		{ 0x1b, 0x1b },		    /* APIC base */
		{ 0x3a, 0x3b },		    /* FEATURE_CONTROL, TSC_ADJUST */
		{ 0x48, 0x48 },		    /* SPEC_CTRL */
		{ 0x174, 0x176 },	    /* SYSENTER_CS/ESP/EIP */
		{ 0x1a0, 0x1a0 },	    /* MISC_ENABLE */
		{ 0x200, 0x2ff },	    /* MTRRs, PAT */
		{ 0x6e0, 0x6e0 },	    /* TSC_DEADLINE */
		{ 0xda0, 0xda0 },	    /* XSS */
		{ 0xc0000080, 0xc0000084 }, /* EFER, STAR, LSTAR, CSTAR, SYSCALL_MASK */
		{ 0xc0000102, 0xc0000103 }, /* KERNEL_GS_BASE, TSC_AUX */
		{ 0x4b564d00, 0x4b564dff }, /* KVM paravirtual MSRs (kvmclock, steal, ...) */
	};

	for (size_t k = 0; k < sizeof(r) / sizeof(r[0]); k++)
		if (i >= r[k].lo && i <= r[k].hi)
			return true;
	return false;
}

int snap_msr_list(int kvm_fd, uint32_t **out, unsigned int *nr)
{
	struct kvm_msr_list probe = { .nmsrs = 0 }, *l;
	unsigned int n = 0, deadline = 0;
	uint32_t *idx;

	if (ioctl(kvm_fd, KVM_GET_MSR_INDEX_LIST, &probe) < 0 && errno != E2BIG)
		return err_ret(-errno, "KVM_GET_MSR_INDEX_LIST: %m");
	l = calloc(1, sizeof(*l) + probe.nmsrs * sizeof(l->indices[0]));
	idx = calloc(probe.nmsrs + 1, sizeof(*idx));
	if (!l || !idx) {
		free(l);
		free(idx);
		return -ENOMEM;
	}
	l->nmsrs = probe.nmsrs;
	if (ioctl(kvm_fd, KVM_GET_MSR_INDEX_LIST, l) < 0) {
		free(l);
		free(idx);
		return err_ret(-errno, "KVM_GET_MSR_INDEX_LIST: %m");
	}
	for (unsigned int i = 0; i < l->nmsrs; i++) {
		if (l->indices[i] == MSR_IA32_TSC_DEADLINE)
			deadline = 1;
		else if (msr_wanted(l->indices[i]))
			idx[n++] = l->indices[i];
	}
	/* Last, so that on restore it is set after MSR_IA32_TSC: the deadline
	 * is a TSC value, and KVM arms the LAPIC timer against the TSC it
	 * has when the MSR is written (Firecracker DEFERRED_MSRS). */
	if (deadline)
		idx[n++] = MSR_IA32_TSC_DEADLINE;
	free(l);
	*out = idx;
	*nr = n;
	return 0;
}

/* KVM_GET_MSRS stops at the first MSR it refuses (one the guest's CPUID
 * does not have): keep what it read, skip that one, go on. */
static int save_msrs(struct snap_writer *w, int fd, unsigned int id, const uint32_t *idx,
		     unsigned int nr)
{
	struct kvm_msrs *m = calloc(1, sizeof(*m) + nr * sizeof(m->entries[0]));
	struct snap_msr *out = calloc(nr ? nr : 1, sizeof(*out));
	unsigned int i = 0, got = 0;

	if (!m || !out) {
		free(m);
		free(out);
		return -ENOMEM;
	}
	while (i < nr) {
		int ret;

		m->nmsrs = nr - i;
		for (unsigned int k = 0; k < m->nmsrs; k++)
			m->entries[k] = (struct kvm_msr_entry){ .index = idx[i + k] };
		ret = ioctl(fd, KVM_GET_MSRS, m);
		if (ret < 0) {
			free(m);
			free(out);
			return err_ret(-errno, "KVM_GET_MSRS vcpu %u: %m", id);
		}
		for (int k = 0; k < ret; k++)
			out[got++] = (struct snap_msr){ .index = m->entries[k].index,
							.data = m->entries[k].data };
		i += (unsigned int)ret + 1; /* entry i+ret was refused */
	}
	snap_put(w, SNAP_REC_MSRS, id, out, got * sizeof(*out));
	free(m);
	free(out);
	return 0;
}

/* Get one fixed-size struct with ioctl req and put it as record type. */
static int save_one(struct snap_writer *w, int fd, unsigned long req, const char *name,
		    uint32_t type, uint32_t id, void *buf, size_t len)
{
	if (ioctl(fd, req, buf) < 0)
		return err_ret(-errno, "%s (id %u): %m", name, id);
	snap_put(w, type, id, buf, len);
	return 0;
}
#define SAVE(w, fd, req, type, id, obj) save_one(w, fd, req, #req, type, id, obj, sizeof(*(obj)))

/* One vCPU state struct at a time, for save and restore. */
union vcpu_state {
	struct kvm_mp_state mp;
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	struct kvm_xcrs xcrs;
	struct kvm_debugregs dregs;
	struct kvm_lapic_state lapic;
	struct kvm_vcpu_events ev;
};

int snap_save_vcpu(struct snap_writer *w, int fd, unsigned int id, const uint32_t *msrs,
		   unsigned int nr_msrs, size_t xsave_size)
{
	union vcpu_state u;
	struct kvm_cpuid2 *c;
	void *xsave;
	uint32_t khz;
	int ret;

	memset(&u, 0, sizeof(u));
	/* MP_STATE first: it runs kvm_apic_accept_events(), which can change
	 * the LAPIC and the vCPU state the later GETs read. */
	if ((ret = SAVE(w, fd, KVM_GET_MP_STATE, SNAP_REC_MP_STATE, id, &u.mp)) ||
	    (ret = SAVE(w, fd, KVM_GET_REGS, SNAP_REC_REGS, id, &u.regs)) ||
	    (ret = SAVE(w, fd, KVM_GET_SREGS, SNAP_REC_SREGS, id, &u.sregs)))
		return ret;
	/* KVM_GET_XSAVE2 when the state is larger than struct kvm_xsave
	 * (KVM_CAP_XSAVE2, e.g. AMX); xsave_size is then that size. */
	xsave = calloc(1, xsave_size);
	if (!xsave)
		return -ENOMEM;
	ret = save_one(w, fd,
		       xsave_size > sizeof(struct kvm_xsave) ? KVM_GET_XSAVE2 : KVM_GET_XSAVE,
		       "KVM_GET_XSAVE", SNAP_REC_XSAVE, id, xsave, xsave_size);
	free(xsave);
	if (ret || (ret = SAVE(w, fd, KVM_GET_XCRS, SNAP_REC_XCRS, id, &u.xcrs)) ||
	    (ret = SAVE(w, fd, KVM_GET_DEBUGREGS, SNAP_REC_DEBUGREGS, id, &u.dregs)) ||
	    (ret = SAVE(w, fd, KVM_GET_LAPIC, SNAP_REC_LAPIC, id, &u.lapic)))
		return ret;
	ret = ioctl(fd, KVM_GET_TSC_KHZ, 0);
	if (ret <= 0)
		return err_ret(-errno, "KVM_GET_TSC_KHZ vcpu %u: %m", id);
	khz = (uint32_t)ret;
	snap_put(w, SNAP_REC_TSC_KHZ, id, &khz, sizeof(khz));
	c = calloc(1, sizeof(*c) + KVM_SNAP_CPUID_MAX * sizeof(c->entries[0]));
	if (!c)
		return -ENOMEM;
	c->nent = KVM_SNAP_CPUID_MAX;
	if (ioctl(fd, KVM_GET_CPUID2, c) < 0) {
		free(c);
		return err_ret(-errno, "KVM_GET_CPUID2 vcpu %u: %m", id);
	}
	snap_put(w, SNAP_REC_CPUID, id, c->entries, c->nent * sizeof(c->entries[0]));
	free(c);
	if ((ret = save_msrs(w, fd, id, msrs, nr_msrs)))
		return ret;
	/* VCPU_EVENTS last: the GETs above may still change pending events. */
	return SAVE(w, fd, KVM_GET_VCPU_EVENTS, SNAP_REC_VCPU_EVENTS, id, &u.ev);
}

int snap_save_vm(struct snap_writer *w, int vm_fd)
{
	struct kvm_pit_state2 pit;
	struct kvm_clock_data clk;
	int ret;

	memset(&pit, 0, sizeof(pit));
	memset(&clk, 0, sizeof(clk));
	if ((ret = SAVE(w, vm_fd, KVM_GET_PIT2, SNAP_REC_PIT2, 0, &pit)) ||
	    (ret = SAVE(w, vm_fd, KVM_GET_CLOCK, SNAP_REC_CLOCK, 0, &clk)))
		return ret;
	for (uint32_t chip = 0; chip < 3; chip++) {
		struct kvm_irqchip ic = { .chip_id = chip }; /* PIC master, PIC slave, IOAPIC */

		if ((ret = SAVE(w, vm_fd, KVM_GET_IRQCHIP, SNAP_REC_IRQCHIP, chip, &ic)))
			return ret;
	}
	return 0;
}

/* Set one fixed-size record with ioctl req; a missing or misfit record is
 * a corrupt file (the reader already checked the CRCs). */
static int restore_one(const struct snap_reader *r, int fd, unsigned long req, const char *name,
		       uint32_t type, uint32_t id, void *buf, size_t len)
{
	if (snap_get_exact(r, type, id, buf, len))
		return err_ret(-EINVAL, "state file lacks a valid %s record for %u", name, id);
	if (ioctl(fd, req, buf) < 0)
		return err_ret(-errno, "%s (id %u): %m", name, id);
	return 0;
}
#define RESTORE(r, fd, req, type, id, obj) \
	restore_one(r, fd, req, #req, type, id, obj, sizeof(*(obj)))

static int restore_cpuid(const struct snap_reader *r, int fd, unsigned int id)
{
	struct kvm_cpuid2 *c;
	size_t len;
	const void *p = snap_get(r, SNAP_REC_CPUID, id, &len);
	int ret = 0;

	if (!p || len % sizeof(c->entries[0]) || len / sizeof(c->entries[0]) > KVM_SNAP_CPUID_MAX)
		return err_ret(-EINVAL, "state file: bad CPUID record for vcpu %u", id);
	c = calloc(1, sizeof(*c) + len);
	if (!c)
		return -ENOMEM;
	c->nent = (uint32_t)(len / sizeof(c->entries[0]));
	memcpy(c->entries, p, len);
	/* The very CPUID the guest booted with, not this host's current set. */
	if (ioctl(fd, KVM_SET_CPUID2, c) < 0)
		ret = err_ret(-errno, "KVM_SET_CPUID2 vcpu %u: %m", id);
	free(c);
	return ret;
}

static int restore_msrs(const struct snap_reader *r, int fd, unsigned int id)
{
	struct kvm_msrs *m;
	size_t len, n;
	const struct snap_msr *p = snap_get(r, SNAP_REC_MSRS, id, &len);
	uint64_t tsc = 0;
	int ret = 0;

	if (!p || len % sizeof(*p))
		return err_ret(-EINVAL, "state file: bad MSR record for vcpu %u", id);
	n = len / sizeof(*p);
	m = calloc(1, sizeof(*m) + len);
	if (!m)
		return -ENOMEM;
	m->nmsrs = (uint32_t)n;
	memcpy(m->entries, p, len);
	for (size_t i = 0; i < n; i++) {
		if (m->entries[i].index == MSR_IA32_TSC)
			tsc = m->entries[i].data;
	}
	/* The saved list has TSC_DEADLINE last (snap_msr_list), after
	 * MSR_IA32_TSC. A deadline of 0 (timer not armed when saved) becomes
	 * the TSC value, so the guest's next timer interrupt is not lost
	 * (Firecracker vcpu.rs restore_state). */
	for (size_t i = 0; i < n; i++) {
		if (m->entries[i].index == MSR_IA32_TSC_DEADLINE && !m->entries[i].data)
			m->entries[i].data = tsc;
	}
	ret = ioctl(fd, KVM_SET_MSRS, m);
	if (ret < 0)
		ret = err_ret(-errno, "KVM_SET_MSRS vcpu %u: %m", id);
	else if ((size_t)ret < n)
		ret = err_ret(-EINVAL, "KVM_SET_MSRS vcpu %u set %d of %zu (refused MSR %#x)", id,
			      ret, n, m->entries[ret].index);
	else
		ret = 0;
	free(m);
	return ret;
}

int snap_restore_vcpu(const struct snap_reader *r, int fd, unsigned int id, size_t xsave_size)
{
	union vcpu_state u;
	void *xsave;
	int ret;

	/*
	 * Order (Firecracker vcpu.rs restore_state; api.rst):
	 * - CPUID first: KVM derives the valid MSRs and XSAVE features from it.
	 * - MP_STATE before the registers (the BSP/AP state is known first).
	 * - REGS before VCPU_EVENTS: SET_REGS clears pending exceptions.
	 * - SREGS before LAPIC: SET_SREGS restores the APIC base MSR.
	 * - LAPIC before MSRS: TSC_DEADLINE needs a configured LAPIC.
	 * - VCPU_EVENTS after everything that can touch pending events.
	 * - KVMCLOCK_CTRL last: tells the guest it was paused (no soft lockup).
	 */
	memset(&u, 0, sizeof(u));
	if ((ret = restore_cpuid(r, fd, id)) ||
	    (ret = RESTORE(r, fd, KVM_SET_MP_STATE, SNAP_REC_MP_STATE, id, &u.mp)) ||
	    (ret = RESTORE(r, fd, KVM_SET_REGS, SNAP_REC_REGS, id, &u.regs)) ||
	    (ret = RESTORE(r, fd, KVM_SET_SREGS, SNAP_REC_SREGS, id, &u.sregs)))
		return ret;
	xsave = calloc(1, xsave_size);
	if (!xsave)
		return -ENOMEM;
	ret = restore_one(r, fd, KVM_SET_XSAVE, "KVM_SET_XSAVE", SNAP_REC_XSAVE, id, xsave,
			  xsave_size);
	free(xsave);
	if (ret || (ret = RESTORE(r, fd, KVM_SET_XCRS, SNAP_REC_XCRS, id, &u.xcrs)) ||
	    (ret = RESTORE(r, fd, KVM_SET_DEBUGREGS, SNAP_REC_DEBUGREGS, id, &u.dregs)) ||
	    (ret = RESTORE(r, fd, KVM_SET_LAPIC, SNAP_REC_LAPIC, id, &u.lapic)) ||
	    (ret = restore_msrs(r, fd, id)) ||
	    (ret = RESTORE(r, fd, KVM_SET_VCPU_EVENTS, SNAP_REC_VCPU_EVENTS, id, &u.ev)))
		return ret;
	/* EINVAL: the guest never enabled kvmclock; nothing to tell it. */
	if (ioctl(fd, KVM_KVMCLOCK_CTRL, 0) < 0 && errno != EINVAL)
		return err_ret(-errno, "KVM_KVMCLOCK_CTRL vcpu %u: %m", id);
	return 0;
}

int snap_restore_vm(const struct snap_reader *r, int vm_fd)
{
	struct kvm_pit_state2 pit;
	struct kvm_clock_data clk;
	int ret;

	if ((ret = RESTORE(r, vm_fd, KVM_SET_PIT2, SNAP_REC_PIT2, 0, &pit)))
		return ret;
	/* flags 0: kvmclock resumes where it was when saved, so guest timers
	 * do not all expire at once; silo-init sets the wall clock instead
	 * (KVM_CLOCK_REALTIME would advance it by the time since the save). */
	if (snap_get_exact(r, SNAP_REC_CLOCK, 0, &clk, sizeof(clk)))
		return err_ret(-EINVAL, "state file lacks the kvmclock record");
	clk.flags = 0;
	if (ioctl(vm_fd, KVM_SET_CLOCK, &clk) < 0)
		return err_ret(-errno, "KVM_SET_CLOCK: %m");
	for (uint32_t chip = 0; chip < 3; chip++) {
		struct kvm_irqchip ic;

		/* The record's chip_id picks the chip KVM sets: check it first. */
		if (snap_get_exact(r, SNAP_REC_IRQCHIP, chip, &ic, sizeof(ic)) ||
		    ic.chip_id != chip)
			return err_ret(-EINVAL, "state file: bad irqchip record %u", chip);
		if (ioctl(vm_fd, KVM_SET_IRQCHIP, &ic) < 0)
			return err_ret(-errno, "KVM_SET_IRQCHIP %u: %m", chip);
	}
	return 0;
}
