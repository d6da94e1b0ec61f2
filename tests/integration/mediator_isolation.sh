#!/bin/sh
# Isolation between pools (docs/mediator.md, "Executors"): pool B's backend
# takes 50 ms per request and is kept saturated; pool A runs NOPs. Pool A
# must not notice: its p99 NOP latency stays under 2x what it is with pool
# B idle, and a new VM connecting to pool A gets its HELLO_ACK within 10 ms.
# Before executors, one thread ran every pool, so each of pool A's requests
# could wait behind a 50 ms exec of pool B's.
#
# Slack for a loaded 2-core VM: the 2x bound is at least P99_FLOOR_US (a
# p99 of 40 us with B idle would otherwise allow 80 us, less than one
# scheduler tick of the machine), and the saturated run is tried up to
# TRIES times, the best counting: the other engineers' builds on the same
# 2 cores give a tail of some ms now and then. A daemon that ran pool B's
# execs on the loop thread fails every try: with B saturated nearly every
# pool A request would wait for part of a 50 ms exec (the daemon before
# executors: p99 73 ms).
set -eu
. "$(dirname "$0")/lib.sh"
it_init "$@"
P99_FLOOR_US=2000
HELLO_MAX_US=10000
COUNT=2000
TRIES=3
start_daemon --pool A=cpu --pool B=cpu:delay_us=50000

# p99 FILE: the 99th percentile of the lat_us of FILE's done lines.
p99() {
    sed -n 's/^done .* lat_us=\([0-9]*\).*/\1/p' "$1" | sort -n |
        awk '{ v[NR] = $1 } END { i = int(NR * 0.99); if (i < 1) i = 1; print v[i] }'
}

# b_served: pool B's requests answered so far (the daemon's log).
b_served() {
    grep -c ' vm=21 req=[0-9]* op=NOP status=NONE' "$LOG" || true
}

peer idle --vm-id 1 --pool A --count $COUNT --timestamps ||
    { cat "$T/idle.out"; fail "pool A peer failed (B idle)"; }
idle=$(p99 "$T/idle.out")
bound=$((2 * idle))
[ "$bound" -ge "$P99_FLOOR_US" ] || bound=$P99_FLOOR_US

# Saturate pool B: one VM keeps 16 requests queued or running.
peer_bg b --vm-id 21 --pool B --pipeline 16 --duration-ms 600000 \
    --ready-file "$T/b.ready" --timeout-ms 60000
peer_ready b
try=1
while :; do
    b_before=$(b_served)
    peer busy --vm-id 2 --pool A --count $COUNT --timestamps ||
        { cat "$T/busy.out"; fail "pool A peer failed (B saturated)"; }
    busy=$(p99 "$T/busy.out")
    # Pool B must really have been busy meanwhile: it was served.
    b_done=$(($(b_served) - b_before))
    echo "try $try: pool A NOP p99 ${busy} us with B saturated (bound" \
        "${bound} us); pool B ran $b_done requests meanwhile"
    [ "$b_done" -ge 2 ] || fail "pool B ran only $b_done requests: not busy"
    [ "$busy" -gt "$bound" ] && [ "$try" -lt "$TRIES" ] || break
    try=$((try + 1))
done
peer newvm --vm-id 3 --pool A --count 1 ||
    { cat "$T/newvm.out"; fail "the new pool A VM failed"; }
hello=$(field hello_us "$T/newvm.out")
peer_stop b
peer_check b

echo "pool A NOP p99: ${idle} us with B idle, ${busy} us with B saturated"
echo "new pool A VM: HELLO_ACK after ${hello} us (bound ${HELLO_MAX_US} us)"
[ "$busy" -le "$bound" ] ||
    fail "pool A p99 ${busy} us with B saturated, over ${bound} us"
[ "$hello" -le "$HELLO_MAX_US" ] ||
    fail "HELLO_ACK took ${hello} us while pool B was saturated"
stop_daemon
[ "$DRC" -eq 0 ] || fail "daemon exit status $DRC"
echo "PASS: pool A unaffected by a saturated pool B"
