#!/bin/sh
# bench/queue_memory.sh [BUILD] [CONNS] [DEPTH]: the mediator's peak memory
# when queue devices keep large requests in flight (docs/performance.md,
# "Queue: memory held").
#
# CONNS vgpu-testpeer --queue devices (default 64) each keep DEPTH requests
# of 1 MiB in flight (default 64: DOT_F32, n = 131071, a 1 MiB request with
# a 4-byte answer, so that answers hold no memory). Pool A sleeps 20 ms per
# request, so requests pile up in the daemon as fast as it can read them.
# After 15 s the daemon gets SIGTERM (it answers what is queued REJECTED);
# its peak RSS (VmHWM) is printed, once with the default request_memory_mib
# (1024) and once with the cap out of the way (1048576 MiB).
#
# Needs about CONNS * DEPTH MiB of free memory for the run without the cap.
set -eu
ROOT=$(CDPATH= cd -- "$(dirname -- "$0")/.." && pwd)
BUILD=${1:-$ROOT/build/dev}
CONNS=${2:-64}
DEPTH=${3:-64}
DAEMON=$BUILD/src/daemon/vgpu-mediator
PEER=$BUILD/tests/tools/vgpu-testpeer
T=$(mktemp -d "${TMPDIR:-/tmp}/vgpu-qmem.XXXXXX")
trap 'for f in "$T"/*.pid; do [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null; done; rm -rf "$T"' EXIT

run() {
    label=$1
    shift
    sock=$T/m.sock
    "$DAEMON" --socket "$sock" --log-file "$T/m.log" --log-level warn \
        --pool A=cpu:delay_us=20000 "$@" &
    echo $! >"$T/daemon.pid"
    dpid=$!
    while [ ! -S "$sock" ]; do sleep 0.05; done
    i=0
    while [ "$i" -lt "$CONNS" ]; do
        i=$((i + 1))
        "$PEER" --socket "$sock" --vm-id "$i" --queue --op dot_f32 \
            --n 131071 --count "$DEPTH" --pipeline "$DEPTH" \
            --timeout-ms 120000 --allow-status REJECTED \
            >"$T/p$i.out" 2>&1 &
        echo $! >"$T/p$i.pid"
    done
    peak=0
    for s in $(seq 1 30); do
        sleep 0.5
        rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$dpid/status")
        [ "$rss" -gt "$peak" ] && peak=$rss
    done
    hwm=$(awk '/^VmHWM:/ { print $2 }' "/proc/$dpid/status")
    kill -TERM "$dpid"
    wait "$dpid" || true
    rej=0
    i=0
    while [ "$i" -lt "$CONNS" ]; do
        i=$((i + 1))
        wait "$(cat "$T/p$i.pid")" || true
        rm -f "$T/p$i.pid"
        r=$(sed -n 's/.*REJECTED=\([0-9]*\).*/\1/p' "$T/p$i.out")
        rej=$((rej + ${r:-0}))
    done
    rm -f "$T/daemon.pid"
    echo "$label: peak RSS (VmHWM) $((hwm / 1024)) MiB; REJECTED $rej of" \
        "$((CONNS * DEPTH)) (the queued ones at SIGTERM included)"
}

echo "$CONNS queue devices x $DEPTH requests of 1 MiB in flight"
run "request_memory_mib 1024 (default)"
run "request_memory_mib 1048576 (no cap)" --request-memory-mib 1048576
