#!/bin/sh
# e2e_guest_basic: one guest with
#   -device vgpu-stub,pool_id=A,priority=high,vm_id=1,socket=<the mediator's>
# against a real vgpu-mediator. In the guest (scenario "basic" of
# tests/e2e/guest/vgpu-test.sh): vgpu-selftest expecting A/high/1;
# `vgpu-vector-add 100 200` prints 300; a verified random vector add of
# 100000 elements (seed 42, 788 requests); then the device bound to
# uio_pci_generic and the same vector add with --irq, which must raise the
# uio interrupt count in /proc/interrupts. The host then checks the
# mediator's --stats: vm 1, pool A, high, the requests counted, no errors.
#
# Arguments (from CMake): VGPU_MEDIATOR SOURCE_DIR. Environment: VGPU_QEMU,
# VGPU_GUEST_IMAGE (see e2e_lib.sh).
set -eu
. "$(dirname "$0")/e2e_lib.sh"
e2e_init "$@"

start_mediator --pool A=cpu --log-level warn
boot_bg vm1 --test basic --args "A high 1" --socket "$SOCK" \
    --device pool_id=A,priority=high,vm_id=1
boot_wait vm1 || fail "the guest's scenario failed"
grep -a '^VGPU-E2E-MARK: irq-ok' "$T/vm1.serial"

"$MEDIATOR" --socket "$SOCK" --stats >"$T/stats" ||
    fail "vgpu-mediator --stats failed"
cat "$T/stats"
line=$(grep '^vm=1 ' "$T/stats") || fail "--stats has no vm=1"
case $line in
*" pool=A priority=high "*) ;;
*) fail "vm 1 is not pool A, high: $line" ;;
esac
requests=$(echo "$line" | sed -n 's/.* requests=\([0-9]*\) .*/\1/p')
# selftest (NOP, ECHO, IRQ) + 1 + 788 + 788 + 1 requests at least.
[ "${requests:-0}" -ge 1578 ] || fail "vm 1: $requests requests, want >= 1578"
case $line in
*" errors=-"*) ;;
*) fail "vm 1 had errors: $line" ;;
esac
stop_mediator
echo "PASS: e2e_guest_basic in $(elapsed_s) s"
