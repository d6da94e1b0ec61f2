#!/bin/sh
# tests/e2e/boot.sh: boot one guest of the end-to-end tests and report its
# scenario's result.
#
#   sh tests/e2e/boot.sh --qemu BIN --image DIR --log LOG --test NAME
#       [--args "ARG ..."] [--socket PATH] [--device PROPS] [--timeout S]
#       [--label TEXT]
#
#   --qemu BIN        qemu-system-x86_64 with the vgpu-stub device
#   --image DIR       what ci/guest-image.sh built: DIR/vmlinuz and
#                     DIR/initramfs.cpio.gz
#   --log LOG         the guest's serial console goes to this file
#   --test NAME       the scenario (tests/e2e/guest/vgpu-test.sh), with
#   --args "..."      its arguments (no double quotes in them)
#   --device PROPS    add `-device vgpu-stub,PROPS` (e.g.
#                     pool_id=A,priority=high,vm_id=1); with
#   --socket PATH     ",socket=PATH" appended to it
#   --timeout S       the boot's bound in seconds (default 90): a guest still
#                     running then is killed and the boot fails (a hang)
#   --label TEXT      how the boot is named in the report line (default NAME)
#
# The machine: q35, 256 MiB (32 hugepages of 2 MiB reserved on the kernel
# command line, for the queue's DMA memory), no default devices, no display, the serial port
# to LOG, no reboot (a kernel panic ends QEMU), firmware from Debian's
# seabios and qemu-system-data (-L). VGPU_E2E_ACCEL, if set, is passed as
# -accel (default: QEMU's, TCG for this project's build).
#
# The result is the last `VGPU-E2E-RESULT:` line of LOG. Prints one line,
#   boot LABEL: PASS in 7.1 s        or     boot LABEL: FAIL WHY in 7.1 s
# (on failure also the end of the log) and exits 0 for PASS, 1 for FAIL,
# 2 for wrong arguments.
set -eu

QEMU=""
IMAGE=""
LOG=""
TEST=""
ARGS=""
SOCKET=""
DEVICE=""
TIMEOUT=90
LABEL=""

usage() {
    sed -n '2,/^set -eu/p' "$0" | sed -e '/^set -eu/d' -e 's/^# \{0,1\}//' >&2
    exit 2
}

while [ "$#" -gt 0 ]; do
    [ "$#" -ge 2 ] || usage
    case $1 in
    --qemu) QEMU=$2 ;;
    --image) IMAGE=$2 ;;
    --log) LOG=$2 ;;
    --test) TEST=$2 ;;
    --args) ARGS=$2 ;;
    --socket) SOCKET=$2 ;;
    --device) DEVICE=$2 ;;
    --timeout) TIMEOUT=$2 ;;
    --label) LABEL=$2 ;;
    *) usage ;;
    esac
    shift 2
done
if [ -z "$QEMU" ] || [ -z "$IMAGE" ] || [ -z "$LOG" ] || [ -z "$TEST" ]; then
    usage
fi
case $ARGS in
*'"'*) echo "boot.sh: --args must not hold double quotes" >&2 && exit 2 ;;
esac
LABEL=${LABEL:-$TEST}

now() {
    date +%s.%N
}

T0=$(now)
elapsed() {
    awk -v a="$T0" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'
}

report_fail() {
    echo "boot $LABEL: FAIL $* in $(elapsed) s"
    if [ -s "$LOG" ]; then
        echo "---- $LOG (last 30 lines) ----"
        tail -n 30 "$LOG"
        echo "----"
    fi
    exit 1
}

for f in "$IMAGE/vmlinuz" "$IMAGE/initramfs.cpio.gz"; do
    [ -f "$f" ] || report_fail "$f is missing (run: sh ci/guest-image.sh)"
done
[ -x "$QEMU" ] || report_fail "$QEMU is not an executable"

set -- -machine q35 -m 256 -nodefaults -display none -no-reboot \
    -serial "file:$LOG" -L /usr/share/seabios -L /usr/share/qemu
[ -z "${VGPU_E2E_ACCEL:-}" ] || set -- "$@" -accel "$VGPU_E2E_ACCEL"
if [ -n "$DEVICE" ]; then
    dev="vgpu-stub,$DEVICE"
    [ -z "$SOCKET" ] || dev="$dev,socket=$SOCKET"
    set -- "$@" -device "$dev"
fi
# hugepages: the DMA memory of the queue (docs/guest-api.md); 32 of 2 MiB
# leave the 256 MiB guest ample room.
APPEND="console=ttyS0 quiet panic=-1 hugepages=32 vgpu.test=$TEST"
[ -z "$ARGS" ] || APPEND="$APPEND vgpu.args=\"$ARGS\""
set -- "$@" -kernel "$IMAGE/vmlinuz" -initrd "$IMAGE/initramfs.cpio.gz" \
    -append "$APPEND"

: >"$LOG"
rc=0
# QEMU's own messages (a bad -device property, say) go to LOG.qemu.
# timeout(1) runs QEMU in a process group of its own; a TERM to this script
# goes to timeout, which passes it on to QEMU (and KILLs it 5 s later).
timeout -k 5 "$TIMEOUT" "$QEMU" "$@" >"$LOG.qemu" 2>&1 </dev/null &
TPID=$!
trap 'kill -TERM "$TPID" 2>/dev/null; exit 143' TERM INT HUP
wait "$TPID" || rc=$?
trap - TERM INT HUP
if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
    report_fail "hang: still running after $TIMEOUT s (killed)"
fi
result=$(grep -a '^VGPU-E2E-RESULT: ' "$LOG" | tail -n 1 | tr -d '\r')
if [ -z "$result" ]; then
    if [ -s "$LOG.qemu" ]; then
        echo "---- QEMU said (exit status $rc) ----"
        cat "$LOG.qemu"
    fi
    report_fail "no VGPU-E2E-RESULT line (QEMU exit status $rc)"
fi
case $result in
"VGPU-E2E-RESULT: PASS $TEST")
    [ "$rc" -eq 0 ] || report_fail "PASS, but QEMU exited with status $rc"
    echo "boot $LABEL: PASS in $(elapsed) s"
    ;;
*)
    report_fail "${result#VGPU-E2E-RESULT: FAIL "$TEST" }"
    ;;
esac
