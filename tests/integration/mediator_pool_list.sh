#!/bin/sh
# A pool with a list of backend instances (docs/mediator.md, "Executors":
# `A = cuda:0, cuda:1` on a GPU machine): each item gets its own
# executor, and the pool's queue is spread over all of them. Here with two
# CPU items, each taking 200 ms per request, and one executor per cpu item:
# four requests queued at once finish in two rounds (about 400 ms), not
# four (800 ms). A list item that names no backend is refused at start.
set -eu
. "$(dirname "$0")/lib.sh"
it_init "$@"
ROUND_MS=200
start_daemon --cpu-workers 1 \
    --pool "A=cpu:delay_us=200000, cpu:delay_us=200000" --log-level debug
grep -q ' pools: A=cpu:delay_us=200000,cpu:delay_us=200000 ' "$LOG" ||
    fail "the start line lacks the list: $(head -n 1 "$LOG")"
# Two items of pool A, one executor each, and the unmapped pools' cpu.
grep -q ' executors=3 ' "$LOG" ||
    fail "not 3 executors: $(head -n 1 "$LOG")"
t0=$(mono_ms)
peer four --vm-id 1 --count 4 --pipeline 4 ||
    { cat "$T/four.out"; fail "the peer failed"; }
ms=$(($(mono_ms) - t0))
echo "4 requests of ${ROUND_MS} ms on a pool of two executors: ${ms} ms" \
    "(bound $((3 * ROUND_MS)) ms; one executor would take $((4 * ROUND_MS)))"
[ "$ms" -lt $((3 * ROUND_MS)) ] ||
    fail "4 requests took ${ms} ms: the pool's queue was not spread"
stop_daemon
[ "$DRC" -eq 0 ] || fail "daemon exit status $DRC"

prc=0
"$DAEMON" --socket "$SOCK" --pool "A=cpu, nosuch" >"$T/bad.out" 2>&1 ||
    prc=$?
[ "$prc" -eq 2 ] || fail "a bad list item: exit $prc, not 2"
grep -q "pool A: 'cpu, nosuch' does not name a backend" "$T/bad.out" ||
    fail "a bad list item: $(cat "$T/bad.out")"
echo "PASS: a pool's queue spread over its list of backends"
