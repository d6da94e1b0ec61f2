#!/bin/sh
# e2e_queue_multi_vm: three guests at once on one vgpu-mediator, queue and
# mailbox mixed:
#   vm 11: pool A, high      vm 12: pool A, low      vm 13: pool B, medium
# Each (scenario "qmixed") runs vgpu-selftest (the queue registers and a NOP
# through the queue included), then ROUNDS times a verified float vector add
# of 262144 elements through the queue (8 requests in flight) and a verified
# int32 vector add of 12700 elements through the mailbox, with its own
# seeds: a result that belonged to another VM, or to another request, fails
# the element-by-element check. All three must PASS, and the daemon's
# --stats must list the three VMs with their pools and no errors.
#
# Arguments (from CMake): VGPU_MEDIATOR SOURCE_DIR. Environment: VGPU_QEMU,
# VGPU_GUEST_IMAGE (see e2e_lib.sh).
set -eu
. "$(dirname "$0")/e2e_lib.sh"
e2e_init "$@"

ROUNDS=3
start_mediator --pool A=cpu --pool B=cpu --log-level warn
for vm in "11 A high 1100" "12 A low 1200" "13 B medium 1300"; do
    # shellcheck disable=SC2086 # split into its fields
    set -- $vm
    boot_bg "vm$1" --test qmixed --args "$2 $3 $1 $4 $ROUNDS" \
        --socket "$SOCK" --device "pool_id=$2,priority=$3,vm_id=$1" \
        --timeout 150
done
wait_all vm11 vm12 vm13
read_stats 3
for vm in "11 A high" "12 A low" "13 B medium"; do
    # shellcheck disable=SC2086 # split into its fields
    set -- $vm
    stats_vm "$1" "$2" "$3"
done
stop_mediator
echo "PASS: e2e_queue_multi_vm in $(elapsed_s) s"
