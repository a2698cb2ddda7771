#!/usr/bin/env bash
# Exit 0 when this machine's /dev/kvm can boot a stock Linux guest, 1 when
# it cannot (no /dev/kvm, or a KVM without hardware virtualisation such as
# kvm-pvm, whose CPU flags show neither vmx nor svm; see docs/lab.md).
# Prints the reason on stdout.
if [ ! -c /dev/kvm ]; then echo "no /dev/kvm"; exit 1; fi
if [ ! -r /dev/kvm ] || [ ! -w /dev/kvm ]; then echo "/dev/kvm is not accessible to $(id -un)"; exit 1; fi
if ! grep -qwE 'vmx|svm' /proc/cpuinfo; then
  echo "/dev/kvm has no hardware virtualisation behind it (no vmx/svm: e.g. kvm-pvm)"; exit 1
fi
echo "/dev/kvm with $(grep -owE 'vmx|svm' /proc/cpuinfo | head -1)"
