#!/bin/sh
# e2e_trace: record a real guest's session in QEMU and replay it.
#
# One guest with -device vgpu-stub,...,trace=$T/vm7.trc runs vgpu-bench
# (ECHO, mailbox) against a real vgpu-mediator. Then, on the host:
#   - vgpu-trace lists the trace (a DOORBELL write, frames both ways);
#   - vgpu-sim --replay matches it, event for event (exit 0);
#   - a copy with one STATUS read changed is reported as a divergence at
#     that event's number and byte offset (exit 1);
#   - a truncated copy and a copy with a corrupted event type are refused
#     with the byte offset (exit 2), and so is a file that is not a trace;
#   - a second guest (vm8) uses the queue (a 262144-float add by DMA) and
#     the mailbox; its trace replays too, DMA bytes and all;
#   - vgpu-sim --replay --against-mediator sends the recorded requests to
#     the daemon again and gets the same answers.
#
# Arguments (from CMake): VGPU_MEDIATOR SOURCE_DIR VGPU_SIM VGPU_TRACE.
set -eu
. "$(dirname "$0")/e2e_lib.sh"
SIM=${3:?usage: $0 MEDIATOR SOURCE_DIR VGPU_SIM VGPU_TRACE}
TRACE_TOOL=${4:?usage: $0 MEDIATOR SOURCE_DIR VGPU_SIM VGPU_TRACE}
e2e_init "$1" "$2"

start_mediator --pool A=cpu --log-level warn
TRC=$T/vm7.trc
boot_bg vm7 --test run --args "vgpu-bench --op echo --count 200" \
    --socket "$SOCK" --device "pool_id=A,priority=high,vm_id=7,trace=$TRC"
boot_wait vm7 || fail "the guest's scenario failed"
[ -s "$TRC" ] || fail "QEMU wrote no trace at $TRC"
echo "trace: $(wc -c <"$TRC") bytes"

# vgpu-trace: the text listing and its filters.
"$TRACE_TOOL" "$TRC" >"$T/trace.txt" || fail "vgpu-trace failed"
head -n 3 "$T/trace.txt"
grep -q 'MMIO_WRITE off=0x000 (DOORBELL)' "$T/trace.txt" ||
    fail "vgpu-trace shows no DOORBELL write"
grep -q 'FRAME_OUT .*type=' "$T/trace.txt" || fail "no frame sent in the trace"
grep -q 'FRAME_IN ' "$T/trace.txt" || fail "no frame received in the trace"
"$TRACE_TOOL" --type frame_in,frame_out "$TRC" >"$T/frames.txt"
if grep -v '^#' "$T/frames.txt" | grep -qv ' FRAME_'; then
    fail "--type frame_in,frame_out printed other types"
fi
[ "$(grep -c ' FRAME_OUT ' "$T/frames.txt")" -ge 201 ] ||
    fail "fewer than 201 frames sent (HELLO and 200 requests)"
"$TRACE_TOOL" --from 0 --to 0.000001 "$TRC" >"$T/none.txt"
[ "$(grep -vc '^#' "$T/none.txt")" -le 1 ] || fail "--to did not filter"

# The replay matches.
"$SIM" --replay "$TRC" >"$T/replay.txt" 2>&1 || {
    cat "$T/replay.txt"
    fail "the replay of an untouched trace diverged"
}
cat "$T/replay.txt"
grep -q 'events matched' "$T/replay.txt" || fail "no 'events matched'"

# One STATUS read changed: the replay names that event and its offset.
line=$(grep 'MMIO_READ off=0x004 (STATUS)' "$T/trace.txt" | sed -n 10p)
[ -n "$line" ] || fail "no tenth STATUS read in the trace"
num=$(echo "$line" | sed 's/^#\([0-9]*\) .*/\1/')
off=$(echo "$line" | sed 's/^#[0-9]* @\([0-9]*\) .*/\1/')
cp "$TRC" "$T/bad.trc"
# The read's value is field b, bytes 24-31 of the event: make it 0x7e.
printf '\176' | dd of="$T/bad.trc" bs=1 seek=$((off + 24)) conv=notrunc \
    2>/dev/null
set +e
"$SIM" --replay "$T/bad.trc" >"$T/bad.txt" 2>&1
rc=$?
set -e
cat "$T/bad.txt"
[ "$rc" -eq 1 ] || fail "a changed STATUS read: exit $rc, want 1"
grep -q "DIVERGED at event $num (byte offset $off): read of STATUS" \
    "$T/bad.txt" || fail "the divergence is not reported at event $num"

# Bad files: truncated, a corrupted type, not a trace.
head -c $((off + 5)) "$TRC" >"$T/short.trc"
cp "$TRC" "$T/type.trc"
printf '\377' | dd of="$T/type.trc" bs=1 seek="$off" conv=notrunc 2>/dev/null
echo "not a trace at all, just text" >"$T/text.trc"
for f in short type text; do
    set +e
    "$SIM" --replay "$T/$f.trc" >"$T/$f.txt" 2>&1
    rc=$?
    "$TRACE_TOOL" "$T/$f.trc" >/dev/null 2>"$T/$f.tool.txt"
    trc=$?
    set -e
    cat "$T/$f.txt"
    [ "$rc" -eq 2 ] || fail "$f.trc: vgpu-sim --replay exit $rc, want 2"
    [ "$trc" -eq 1 ] || fail "$f.trc: vgpu-trace exit $trc, want 1"
    grep -q 'byte offset' "$T/$f.txt" || fail "$f.trc: no byte offset given"
done
grep -q "byte offset $off.*truncated" "$T/short.txt" ||
    fail "the truncated trace is not reported at byte offset $off"

# A guest that uses the queue (uio_pci_generic, hugepages): the DMA of a
# 262144-float add and a mailbox add, recorded and replayed.
QTRC=$T/vm8.trc
boot_bg vm8 --test qmixed --args "A high 8 5 1" --socket "$SOCK" \
    --device "pool_id=A,priority=high,vm_id=8,trace=$QTRC"
boot_wait vm8 || fail "the queue guest's scenario failed"
"$SIM" --replay "$QTRC" >"$T/qreplay.txt" 2>&1 || {
    cat "$T/qreplay.txt"
    fail "the replay of the queue guest's trace diverged"
}
cat "$T/qreplay.txt"
dma=$(sed -n 's/.*frames, \([0-9]*\) DMA bytes.*/\1/p' "$T/qreplay.txt")
[ "${dma:-0}" -ge 3145728 ] ||
    fail "the queue guest's replay moved ${dma:-0} DMA bytes, want >= 3 MiB"

# The recorded requests against the daemon again.
"$SIM" --replay "$TRC" --against-mediator --socket "$SOCK" \
    >"$T/against.txt" 2>&1 || {
    cat "$T/against.txt"
    fail "--against-mediator found different answers"
}
cat "$T/against.txt"
grep -q ' 0 different' "$T/against.txt" || fail "answers differed"
stop_mediator
echo "PASS: e2e_trace in $(elapsed_s) s"
