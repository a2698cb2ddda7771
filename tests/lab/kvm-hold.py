#!/usr/bin/python3
"""Keep one idle KVM VM (irqchip + one vCPU that never runs) open for the
lab host's lifetime.

Why: creating the first VM and destroying the last one flips static keys in
the lab host's kernel (preempt notifiers in __schedule; the LAPIC
sw/hw-disabled keys in kvm.ko), and each flip live-patches kernel text with
int3 (text_poke_bp). Under QEMU TCG (7.2, multi-threaded) a vCPU can keep
executing a stale translation of that int3 after the text was restored, and
the whole lab host wedges: both CPUs loop in asm_exc_int3 at __schedule with
interrupts off (seen after 16 to 40 back-to-back nested boots). With one VM
always alive the keys never return to zero, so the text is never patched
again after the first boot.
"""
import fcntl
import os
import signal

KVM_CREATE_VM = 0xAE01        # _IO(KVMIO, 0x01), linux/kvm.h
KVM_CREATE_IRQCHIP = 0xAE60   # _IO(KVMIO, 0x60)
KVM_CREATE_VCPU = 0xAE41      # _IO(KVMIO, 0x41)

kvm = os.open("/dev/kvm", os.O_RDWR | os.O_CLOEXEC)
vm = fcntl.ioctl(kvm, KVM_CREATE_VM, 0)
fcntl.ioctl(vm, KVM_CREATE_IRQCHIP, 0)
vcpu = fcntl.ioctl(vm, KVM_CREATE_VCPU, 0)

while True:
    signal.pause()
