#!/bin/sh
# Policy priority: with the executor held busy, one request each from a low,
# a medium and a high VM, arriving together, complete high, medium, low.
#
# Pool A sleeps 200 ms in every exec. An occupier (low, vm 9) keeps 6 requests
# queued so the executor is busy from about 0.3 s to 1.5 s. The three peers
# HELLO at once, then send at the same CLOCK_MONOTONIC instant (0.8 s),
# inside one exec, so the scheduler sees all three before it picks again.
set -eu
. "$(dirname "$0")/lib.sh"
it_init "$@"
start_daemon --pool A=cpu:delay_us=200000 --max-wait-ms 3600000

start=$(($(mono_ms) + 800))
peer_bg low --vm-id 1 --priority low --timestamps --start-at-ms $start
peer_bg medium --vm-id 2 --priority medium --timestamps --start-at-ms $start
peer_bg high --vm-id 3 --priority high --timestamps --start-at-ms $start
sleep 0.2
peer_bg occupier --vm-id 9 --priority low --count 6 --pipeline 6
for p in low medium high occupier; do
    peer_check $p
done
order=$(done_order "$T/low.out" "$T/medium.out" "$T/high.out")
echo "completion order by vm (3 high, 2 medium, 1 low): $order"
echo "with the occupier (vm 9): $(done_order "$T"/*.out)"
[ "$order" = "3 2 1 " ] || fail "completion order is '$order', not '3 2 1 '"
stop_daemon
[ "$DRC" -eq 0 ] || fail "daemon exit status $DRC"
echo "PASS: high, medium, low"
