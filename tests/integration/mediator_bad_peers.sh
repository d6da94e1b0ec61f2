#!/bin/sh
# Each kind of bad peer is answered as SPEC.md section 7 says and logged as
# one line naming the reason, while two good peers keep running verified
# requests undisturbed.
set -eu
. "$(dirname "$0")/lib.sh"
it_init "$@"
start_daemon --pool A=cpu --log-level warn

# The good peers run until peer_stop, so they overlap every bad peer
# however slowly a sanitizer build runs.
peer_bg good1 --vm-id 1 --priority high --op random --verify --pipeline 2 \
    --duration-ms 600000 --ready-file "$T/good1.ready"
peer_bg good2 --vm-id 2 --priority low --op random --verify --pipeline 2 \
    --duration-ms 600000 --ready-file "$T/good2.ready"
peer_ready good1
peer_ready good2

# Frame-level misbehaviours: ERROR PROTOCOL_ERROR, then the close.
vm=100
for mode in magic version type oversize before-hello second-hello; do
    vm=$((vm + 1))
    peer bad_$mode --vm-id $vm --bad $mode ||
        { cat "$T/bad_$mode.out"; fail "--bad $mode"; }
    head -n 1 "$T/bad_$mode.out"
    grep -q "^bad=$mode: got ERROR PROTOCOL_ERROR \".*\", connection closed" \
        "$T/bad_$mode.out" || fail "--bad $mode: not answered as expected"
done
peer bad_length --vm-id 110 --bad bad-length ||
    { cat "$T/bad_length.out"; fail "--bad bad-length"; }
head -n 1 "$T/bad_length.out"

# A second connection claiming vm_id 1, which good1 holds.
peer dup --vm-id 1 --expect-hello-error REJECTED ||
    { cat "$T/dup.out"; fail "duplicate vm_id 1 was not refused"; }
head -n 1 "$T/dup.out"

kill -0 "$(cat "$T/good1.pid")" 2>/dev/null ||
    fail "good1 ended before the bad peers were done"
peer_stop good1
peer_stop good2
peer_check good1
peer_check good2
[ "$(field done "$T/good1.out")" -gt 10 ] || fail "good1 was barely served"

# One log line per bad peer, naming the reason (warn level: the good
# peers' requests are not logged).
sleep 0.2
echo "---- log lines of the bad peers ----"
grep -i -e 'protocol error' -e 'vm=110 ' -e 'refus' -e 'reject' "$LOG" |
    grep -v ' status=NONE ' || true
logline() { # NAME REGEX: exactly one line
    c=$(grep -ciE "$2" "$LOG" || true)
    [ "$c" -eq 1 ] || fail "log: $c lines for $1 (want 1 matching '$2')"
}
logline magic 'vm=101.*protocol error.*magic'
logline version 'vm=102.*protocol error.*version'
logline type 'vm=103.*protocol error.*type'
logline oversize 'vm=104.*protocol error.*(large|limit|over|exceed)'
logline before-hello 'protocol error.*(before| expected|first|without).*hello'
logline second-hello 'vm=106.*protocol error.*hello'
logline bad-length 'vm=110 req=1 .*status=INVALID_REQUEST'
logline duplicate 'vm=1[^0-9].*(already|duplicate|in use)'
[ "$(grep -ci 'protocol error' "$LOG")" -eq 6 ] ||
    fail "log: not exactly 6 protocol error lines"
stop_daemon
[ "$DRC" -eq 0 ] || fail "daemon exit status $DRC"
echo "PASS: 7 bad peers and a duplicate vm_id, good peers undisturbed"
