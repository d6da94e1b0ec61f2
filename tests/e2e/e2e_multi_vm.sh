#!/bin/sh
# e2e_multi_vm: three guests at once against one vgpu-mediator:
#   vm 1: pool A, high      vm 2: pool A, low      vm 3: pool B, medium
# Each (scenario "vecadd") runs vgpu-selftest with its identity, then
# ROUNDS random vector adds of N elements with its own seeds (1000.., 2000..,
# 3000..), each checked element by element in the guest: a response that
# belonged to another VM fails the check. All three must PASS; the daemon's
# --stats must list the three VMs with their pools and priorities, their
# requests and no errors; its per-request log shows whether their requests
# interleaved.
#
# Arguments (from CMake): VGPU_MEDIATOR SOURCE_DIR. Environment: VGPU_QEMU,
# VGPU_GUEST_IMAGE (see e2e_lib.sh).
set -eu
. "$(dirname "$0")/e2e_lib.sh"
e2e_init "$@"

ROUNDS=4
N=25400 # 200 requests of 127 elements
start_mediator --pool A=cpu --pool B=cpu --log-level info
for vm in "1 A high 1000" "2 A low 2000" "3 B medium 3000"; do
    # shellcheck disable=SC2086 # split into its fields
    set -- $vm
    boot_bg "vm$1" --test vecadd --args "$2 $3 $1 $4 $ROUNDS $N" \
        --socket "$SOCK" --device "pool_id=$2,priority=$3,vm_id=$1"
done
wait_all vm1 vm2 vm3
read_stats 3
for vm in "1 A high" "2 A low" "3 B medium"; do
    # shellcheck disable=SC2086 # split into its fields
    set -- $vm
    stats_vm "$1" "$2" "$3"
    requests=$(echo "$STATS_LINE" |
        sed -n 's/.* requests=\([0-9]*\) .*/\1/p')
    want=$((ROUNDS * N / 127))
    [ "${requests:-0}" -ge "$want" ] ||
        fail "vm $1: $requests requests, want >= $want"
done
stop_mediator

# How the three streams interleaved at the mediator: the number of times the
# VM changes from one logged request to the next.
switches=$(sed -n 's/.* vm=\([0-9]*\) req=.*/\1/p' "$MLOG" |
    awk 'NR > 1 && $1 != prev { n++ } { prev = $1 } END { print n + 0 }')
echo "requests of different VMs interleaved: $switches switches in the log"
echo "PASS: e2e_multi_vm in $(elapsed_s) s"
