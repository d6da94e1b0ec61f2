#!/bin/sh
# Round robin with many requests per VM (SPEC.md sections 9 and 11): a queue
# device keeps 64 requests queued; a second VM of the same priority whose
# one request arrives later is served at the next turn, not after the 64.
#
# Pool A sleeps 20 ms in every exec, so the heavy VM's 64 take about 1.3 s;
# the light VM sends at about 0.5 s, with some 40 of them still queued. The
# order is read from the daemon's log (debug: a "queued" line per request,
# then a "taken" line when an executor gets it), so that neither a client's
# reading speed nor the number of executors (several run at once) matters.
set -eu
. "$(dirname "$0")/lib.sh"
it_init "$@"
# One executor: the timing above assumes one request at a time (the
# rotation with several executors is mediator_round_robin_x2 and _x4).
start_daemon --pool A=cpu:delay_us=20000 --max-wait-ms 3600000 \
    --log-level debug --cpu-workers 1

peer_bg light --vm-id 22 --queue --op echo --n 4096 --count 1 \
    --ready-file "$T/light.ready" --start-at-ms $(($(mono_ms) + 600))
peer_ready light
peer_bg heavy --vm-id 21 --queue --op echo --n 4096 --count 64 \
    --pipeline 64
peer_check heavy
peer_check light
# In log order: heavy's requests queued and taken before light's arrival,
# then heavy's requests taken between light's arrival and light's turn.
set -- $(awk '
    / vm=21 req=[0-9]+ op=ECHO queued/ { if (!arrived) q++ }
    / vm=21 req=[0-9]+ op=ECHO taken/ { if (arrived) between++; else r++ }
    / vm=22 req=1 op=ECHO queued/ { arrived = 1 }
    / vm=22 req=1 op=ECHO taken/ { print q - r, between + 0; exit }
' "$LOG")
[ $# -eq 2 ] || fail "the light VM's request is not in the log"
echo "heavy VM's backlog when the light VM's request arrived: $1;" \
    "heavy requests run before it: $2"
[ "$1" -ge 20 ] || fail "the heavy VM had only $1 queued: no backlog"
[ "$2" -le 1 ] ||
    fail "the light VM waited behind $2 of the heavy VM's requests"
stop_daemon
[ "$DRC" -eq 0 ] || fail "daemon exit status $DRC"
echo "PASS: served after $2 of $1 queued"
