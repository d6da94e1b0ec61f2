#!/bin/sh
# A VM that disconnects while an executor runs its request (docs/mediator.md,
# "Executors"): the request runs to its end, its answer is dropped and
# counted in the log, nothing else is disturbed, and the same vm_id can
# connect again at once and is served.
#
# Pool A sleeps 500 ms per exec; the peer gives up after 100 ms (exit 3,
# a timed-out wait) and closes its connection while the exec runs.
set -eu
. "$(dirname "$0")/lib.sh"
it_init "$@"
start_daemon --pool A=cpu:delay_us=500000

prc=0
peer gone --vm-id 1 --count 1 --timeout-ms 100 || prc=$?
[ "$prc" -eq 3 ] || { cat "$T/gone.out"; fail "the peer exited $prc, not 3"; }
# The vm_id is free while its old request still runs: served again.
peer again --vm-id 1 --count 1 --timeout-ms 5000 ||
    { cat "$T/again.out"; fail "vm 1 was not served after reconnecting"; }
i=0
while ! grep -q 'vm=1 req=1: answer dropped, the connection is gone' "$LOG"; do
    i=$((i + 1))
    [ "$i" -le 100 ] || fail "no 'answer dropped' line in 5 s"
    sleep 0.05
done
grep 'answer dropped' "$LOG"
stop_daemon
[ "$DRC" -eq 0 ] || fail "daemon exit status $DRC"
echo "PASS: the orphan's answer was dropped and counted; vm 1 served again"
