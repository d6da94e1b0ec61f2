#!/bin/sh
# Round robin among the VMs of one priority: three medium VMs each pipeline
# 3 requests, arriving together while every executor is busy; the scheduler
# must hand them out rotating through the VMs (A1 B1 C1 A2 B2 C2 A3 B3 C3,
# any rotation). With one executor (W = 1, VGPU_IT_WORKERS) the
# completions rotate the same way; with W executors W requests run at once
# and may complete in any order within their batch, so the order they were
# taken in (the daemon's debug log) is what is checked.
#
# Pool A sleeps 100 ms in every exec; a low occupier (vm 9) keeps the W
# executors busy for 1 s from about 0.1-0.3 s (a sanitizer build starts its
# processes slowly); the three peers send at the same instant (0.8 s).
set -eu
. "$(dirname "$0")/lib.sh"
it_init "$@"
start_daemon --pool A=cpu:delay_us=100000 --max-wait-ms 3600000 \
    --log-level debug

start=$(($(mono_ms) + 800))
peer_bg occupier --vm-id 9 --priority low --count $((10 * W)) \
    --pipeline $((10 * W))
for vm in 11 12 13; do
    peer_bg vm$vm --vm-id $vm --priority medium --count 3 --pipeline 3 \
        --timestamps --start-at-ms $start
done
for p in vm11 vm12 vm13 occupier; do
    peer_check $p
done
# rotates ORDER: the nine vms rotate through three different VMs.
rotates() {
    set -- $1
    [ $# -eq 9 ] || return 1
    a=$1 b=$2 c=$3
    [ "$a" != "$b" ] && [ "$b" != "$c" ] && [ "$a" != "$c" ] || return 1
    [ "$*" = "$a $b $c $a $b $c $a $b $c" ]
}
taken=$(taken_order 11 12 13)
echo "executors: $W"
echo "taken order by vm: $taken"
rotates "$taken" || fail "requests were not taken rotating: $taken"
if [ "$W" -eq 1 ]; then
    order=$(done_order "$T/vm11.out" "$T/vm12.out" "$T/vm13.out")
    echo "completion order by vm: $order"
    rotates "$order" || fail "completions do not rotate: $order"
fi
stop_daemon
[ "$DRC" -eq 0 ] || fail "daemon exit status $DRC"
echo "PASS: rotation $taken"
