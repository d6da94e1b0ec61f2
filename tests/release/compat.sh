#!/bin/sh
# compat.sh DAEMON PEER SIM OLDMED: the version pairs of
# docs/compatibility.md, through real sockets.
#
#  1. The newest daemon and devices built before the queue (HELLO without
#     capability bit 2): vgpu-sim --mailbox-only (the device model and the
#     guest library) and vgpu-testpeer, whose HELLO_ACK reader takes only
#     the 8-byte form; every request verified, the daemon logs caps 0x3.
#     A queue device on the same daemon still gets the 12-byte HELLO_ACK.
#  2. The newest device (HELLO with bit 2) and a mediator as 0.1.0 answered
#     (vgpu-oldmed: the 8-byte HELLO_ACK, 1 KiB payloads): vgpu-sim through
#     the mailbox and through the queue, every request verified; a queue
#     entry over the old limit ends in INVALID_LENGTH, and the connection
#     stays up.
# Exit 0 ok, 1 failure, 77 skipped (a binary not built).
set -eu
. "$(dirname "$0")/../integration/lib.sh"
[ $# -eq 4 ] || {
    echo "usage: $0 VGPU_MEDIATOR VGPU_TESTPEER VGPU_SIM VGPU_OLDMED" >&2
    exit 2
}
SIM=$3
OLDMED=$4
it_init "$1" "$2"
for b in "$SIM" "$OLDMED"; do
    [ -x "$b" ] || {
        echo "SKIP: $b is not built"
        exit 77
    }
done

# sim NAME ARGS...: vgpu-sim, which must verify every request; output in
# $T/NAME.out.
sim() {
    name=$1
    shift
    "$SIM" "$@" >"$T/$name.out" 2>&1 || {
        cat "$T/$name.out"
        fail "vgpu-sim $*"
    }
    grep -q '^  mismatches  *0$' "$T/$name.out" || fail "$name: mismatches"
}

echo "== 1. the newest daemon, devices with the mailbox only"
start_daemon --pool A=cpu --pool B=cpu
sim mbox --socket "$SOCK" --vms 2 --requests 50 --mailbox-only
grep -q '^  errors  *0$' "$T/mbox.out" || fail "mailbox-only: errors"
n=$(grep -c 'connected: .* caps 0x3$' "$LOG" || true)
[ "$n" -eq 2 ] || fail "the daemon did not accept caps 0x3 from 2 devices"
echo "  ok: vgpu-sim --mailbox-only: 2 VMs x 50 verified, caps 0x3"
peer p7 --vm-id 7 --op add_i32 --n 64 --count 50 --verify ||
    fail "testpeer: $(cat "$T/p7.out")"
grep -q 'done=50 errors=0' "$T/p7.out" || fail "testpeer: $(cat "$T/p7.out")"
echo "  ok: vgpu-testpeer without --queue: 8-byte HELLO_ACK, 50 verified"
peer p8 --vm-id 8 --queue --op add_i32 --n 64 --count 10 --verify ||
    fail "testpeer --queue: $(cat "$T/p8.out")"
grep -q '^hello_ack caps=0x7 max_payload=1048576 inflight=' "$T/p8.out" ||
    fail "a queue device got no 12-byte HELLO_ACK: $(cat "$T/p8.out")"
echo "  ok: a queue device beside them: $(grep hello_ack "$T/p8.out")"
"$DAEMON" --socket "$SOCK" --stats >"$T/stats" || fail "--stats"
grep -q '^vm=1 .* requests=50 responses=50 ' "$T/stats" || fail "stats vm=1"
grep -q '^vm=7 .* requests=50 responses=50 ' "$T/stats" || fail "stats vm=7"
stop_daemon

echo "== 2. the newest device, a mediator that sends the 8-byte HELLO_ACK"
OSOCK=$T/old.sock
"$OLDMED" --socket "$OSOCK" >"$T/oldmed.out" 2>&1 &
echo $! >"$T/oldmed.pid"
wait_socket "$OSOCK" "$(cat "$T/oldmed.pid")" || fail "vgpu-oldmed exited"
sim old-mbox --socket "$OSOCK" --vms 2 --requests 50
grep -q '^  errors  *0$' "$T/old-mbox.out" || fail "old mediator: errors"
echo "  ok: vgpu-sim (mailbox): 2 VMs x 50 verified"
sim old-queue --socket "$OSOCK" --vms 2 --requests 50 --queue-depth 8 \
    --op add_i32 --size 64
grep -q '^  errors  *0$' "$T/old-queue.out" || fail "old mediator: queue errors"
echo "  ok: vgpu-sim --queue-depth 8: 2 VMs x 50 verified through the queue"
sim old-big --socket "$OSOCK" --vms 1 --requests 4 --queue-depth 4 \
    --op echo --size 2000 --allow-errors
grep -q '^  errors  *4 INVALID_LENGTH:4$' "$T/old-big.out" ||
    fail "2000-byte queue entries: $(grep errors "$T/old-big.out")"
echo "  ok: queue entries over the old limit end in INVALID_LENGTH"
n=$(grep -c '^hello vm=[0-9]* caps=0x7 ack_bytes=8$' "$T/oldmed.out" || true)
[ "$n" -eq 5 ] || fail "not 5 queue HELLOs answered with 8 bytes: $(cat "$T/oldmed.out")"
grep -vq '^hello vm=[0-9]* caps=0x7 ack_bytes=8$' "$T/oldmed.out" &&
    fail "vgpu-oldmed: $(cat "$T/oldmed.out")"
echo "  ok: 5 HELLOs offered caps 0x7, each answered with 8 bytes"
kill -TERM "$(cat "$T/oldmed.pid")"
rm "$T/oldmed.pid"
echo "compat: ok"
