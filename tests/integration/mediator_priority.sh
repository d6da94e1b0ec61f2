#!/bin/sh
# Policy priority: with every executor held busy, W requests each from a
# low, a medium and a high VM, arriving together, are taken high, medium,
# low and complete in that order (W executors: VGPU_IT_WORKERS).
#
# Pool A sleeps 200 ms in every exec. An occupier (low, vm 9) keeps 6 W
# requests queued so the W executors are busy from about 0.3 s to 1.5 s.
# The three peers HELLO at once, then send at the same CLOCK_MONOTONIC
# instant (0.8 s), inside one exec, so the scheduler sees all of them before
# it picks again; the executors free together, so each priority's W
# requests run as one batch, 200 ms after the one before.
set -eu
. "$(dirname "$0")/lib.sh"
it_init "$@"
start_daemon --pool A=cpu:delay_us=200000 --max-wait-ms 3600000 \
    --log-level debug

start=$(($(mono_ms) + 800))
peer_bg low --vm-id 1 --priority low --count $W --pipeline $W \
    --timestamps --start-at-ms $start
peer_bg medium --vm-id 2 --priority medium --count $W --pipeline $W \
    --timestamps --start-at-ms $start
peer_bg high --vm-id 3 --priority high --count $W --pipeline $W \
    --timestamps --start-at-ms $start
sleep 0.2
peer_bg occupier --vm-id 9 --priority low --count $((6 * W)) \
    --pipeline $((6 * W))
for p in low medium high occupier; do
    peer_check $p
done
want="$(repeat $W 3)$(repeat $W 2)$(repeat $W 1)"
order=$(done_order "$T/low.out" "$T/medium.out" "$T/high.out")
taken=$(taken_order 1 2 3)
echo "executors: $W"
echo "taken order by vm (3 high, 2 medium, 1 low): $taken"
echo "completion order by vm: $order"
echo "with the occupier (vm 9): $(done_order "$T"/*.out)"
[ "$taken" = "$want" ] || fail "taken order is '$taken', not '$want'"
[ "$order" = "$want" ] || fail "completion order is '$order', not '$want'"
stop_daemon
[ "$DRC" -eq 0 ] || fail "daemon exit status $DRC"
echo "PASS: high, medium, low"
