#!/bin/sh
# SIGTERM with work queued: every request of every peer is answered (DONE
# for what ran, REJECTED "mediator shutting down" for what was queued), no
# peer times out, and the daemon exits 0.
set -eu
. "$(dirname "$0")/lib.sh"
it_init "$@"
start_daemon --pool A=cpu:delay_us=100000

for vm in 1 2 3; do
    peer_bg p$vm --vm-id $vm --count 5 --pipeline 5 --allow-status REJECTED \
        --timestamps --timeout-ms 8000
done
sleep 0.45 # about four requests have run; eleven are queued
kill -TERM "$DPID"
wait_exit "$DPID" 5 || fail "the daemon did not exit 5 s after SIGTERM"
DRC=0
wait "$DPID" || DRC=$?
DPID=""
echo "daemon exit status $DRC"
[ "$DRC" -eq 0 ] || fail "daemon exit status $DRC"

for vm in 1 2 3; do
    peer_check p$vm
    [ "$(field done "$T/p$vm.out")" -eq 5 ] || fail "p$vm: not 5 answers"
done
ndone=$(cat "$T"/p*.out | grep -c '^done .* status=NONE ' || true)
nrej=$(cat "$T"/p*.out |
    grep -c '^done .* status=REJECTED .*msg="mediator shutting down"' || true)
echo "answers: $ndone DONE, $nrej REJECTED \"mediator shutting down\""
[ $((ndone + nrej)) -eq 15 ] || fail "answers other than those two"
[ "$ndone" -ge 1 ] || fail "nothing ran before SIGTERM"
[ "$nrej" -ge 1 ] || fail "nothing was queued at SIGTERM"
echo "PASS: every request answered, daemon exited 0"
