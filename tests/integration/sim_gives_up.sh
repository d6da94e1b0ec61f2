#!/bin/sh
# vgpu-sim gives up when the mediator goes away (docs/mediator.md, "Clients
# give up"): two VMs of 50 million requests each, the daemon killed once
# they run; with --reconnect-ms 1000 vgpu-sim must exit 1 within 15 s (not
# retry for ever), printing one line that names the socket, the requests
# answered and the last error. Both paths: the mailbox and the queue.
#
# usage: sim_gives_up.sh VGPU_MEDIATOR VGPU_SIM
set -eu
. "$(dirname "$0")/lib.sh"
it_init "$@"
SIM=$PEER

for mode in "" "--queue-depth 4"; do
    start_daemon --pool A=cpu
    "$SIM" --socket "$SOCK" --vms 2 --requests 50000000 --op nop \
        --reconnect-ms 1000 $mode >"$T/sim.out" 2>&1 &
    SPID=$!
    echo "$SPID" >"$T/sim.pid"
    wait_log 'vm=1' "vgpu-sim did not connect"
    sleep 0.3
    kill -KILL "$DPID"
    wait "$DPID" 2>/dev/null || true
    DPID=""
    rm -f "$SOCK" "$SOCK.ctl" # a killed daemon leaves them
    wait_exit "$SPID" 15 || fail "vgpu-sim $mode still retrying 15 s after the daemon died"
    src=0
    wait "$SPID" || src=$?
    rm -f "$T/sim.pid"
    [ "$src" -eq 1 ] || { cat "$T/sim.out"; fail "vgpu-sim $mode: status $src, want 1"; }
    line=$(grep "^vgpu-sim: gave up: the mediator at $SOCK answered nothing for 1000 ms" \
        "$T/sim.out") || { tail -n 5 "$T/sim.out"; fail "no give-up line"; }
    echo "$line" | grep -Eq '[0-9]+ of 100000000 requests answered before.*last error: ' ||
        fail "the line lacks the counts or the last error: $line"
    if grep -q 'service_total_us' "$T/sim.out"; then
        fail "vgpu-sim $mode reported stats of a daemon that went away"
    fi
    echo "${mode:-mailbox}: $line"
done
echo "PASS: vgpu-sim gives up when the mediator goes away"
