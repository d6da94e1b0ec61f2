#!/bin/sh
# Round robin among the VMs of one priority: three medium VMs each pipeline
# 3 requests, arriving together while the executor is busy; the completions
# must rotate through the VMs (A1 B1 C1 A2 B2 C2 A3 B3 C3, any rotation).
#
# Pool A sleeps 100 ms in every exec; a low occupier (vm 9) keeps it busy
# from about 0.3 s; the three peers send at the same instant (0.6 s).
set -eu
. "$(dirname "$0")/lib.sh"
it_init "$@"
start_daemon --pool A=cpu:delay_us=100000 --max-wait-ms 3600000

start=$(($(mono_ms) + 600))
for vm in 11 12 13; do
    peer_bg vm$vm --vm-id $vm --priority medium --count 3 --pipeline 3 \
        --timestamps --start-at-ms $start
done
sleep 0.2
peer_bg occupier --vm-id 9 --priority low --count 6 --pipeline 6
for p in vm11 vm12 vm13 occupier; do
    peer_check $p
done
order=$(done_order "$T/vm11.out" "$T/vm12.out" "$T/vm13.out")
echo "completion order by vm: $order"
set -- $order
[ $# -eq 9 ] || fail "expected 9 completions, got $#"
a=$1 b=$2 c=$3
[ "$a" != "$b" ] && [ "$b" != "$c" ] && [ "$a" != "$c" ] ||
    fail "the first three completions are not three different VMs"
[ "$order" = "$a $b $c $a $b $c $a $b $c " ] ||
    fail "completions do not rotate $a $b $c: $order"
stop_daemon
[ "$DRC" -eq 0 ] || fail "daemon exit status $DRC"
echo "PASS: rotation $a $b $c"
