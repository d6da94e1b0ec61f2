#!/bin/sh
# bench/e2e_latency.sh [BUILD] [COUNT]: NOP latency as a QEMU guest sees it,
# beside the bare Unix-socket round trip on the host, in one run.
#
#  1. the host half: bench/mediator.sh BUILD (default build-bench2: a Release
#     vgpu-mediator and bench_mediator), whose first section is the NOP round
#     trip through the daemon beside a bare Unix-socket ping-pong of the same
#     message sizes (its throughput rounds are shortened to 0.5 s);
#  2. the guest half: a Release vgpu-mediator from BUILD (--log-level warn
#     --pool A=cpu) on a socket in a mktemp -d directory, and one guest
#     (tests/e2e/boot.sh, scenario "bench") with
#     -device vgpu-stub,pool_id=A,priority=high,vm_id=1 running
#     `vgpu-bench --op nop --count COUNT` (default 20000): each NOP is the
#     guest's register writes and reads (MMIO exits to QEMU), the device's
#     frame to the daemon and back, and the guest's polling of STATUS;
#  3. a summary: the guest's p50/p99, the host's, and their ratios.
#
# QEMU and the image as for the e2e tests: VGPU_QEMU (default
# build/qemu/qemu-system-x86_64, from ci/qemu-build.sh) and VGPU_GUEST_IMAGE
# (default build/guest, from ci/guest-image.sh). VGPU_BENCH_CPUS=LIST pins
# everything with taskset. Figures go into docs/performance.md by hand.
set -eu
ROOT=$(CDPATH='' cd -- "$(dirname -- "$0")/.." && pwd)
cd "$ROOT"
. bench/lib.sh # bench_daemon
BUILD=${1:-build-bench2}
COUNT=${2:-20000}
QEMU=${VGPU_QEMU:-build/qemu/qemu-system-x86_64}
IMAGE=${VGPU_GUEST_IMAGE:-build/guest}
[ -x "$QEMU" ] || {
    echo "no QEMU at $QEMU: run sh ci/qemu-build.sh build/qemu" >&2
    exit 1
}
[ -f "$IMAGE/initramfs.cpio.gz" ] || {
    echo "no guest image in $IMAGE: run sh ci/guest-image.sh build/guest" >&2
    exit 1
}
PIN=""
if [ -n "${VGPU_BENCH_CPUS:-}" ]; then
    PIN="taskset -c $VGPU_BENCH_CPUS"
fi

T=$(mktemp -d "${TMPDIR:-/tmp}/vgpu-e2ebench.XXXXXX")
DPID=""
cleanup() {
    [ -z "$DPID" ] || kill -KILL "$DPID" 2>/dev/null || true
    rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "== host: bench/mediator.sh $BUILD --seconds 0.5"
sh bench/mediator.sh "$BUILD" --seconds 0.5 | tee "$T/host.txt"
DAEMON=$(find "$BUILD" -name vgpu-mediator -type f -perm -u+x | head -n 1)

echo "== guest: vgpu-bench --op nop --count $COUNT under $QEMU"
bench_daemon "$PIN" --log-level warn --pool A=cpu
echo "qemu: $QEMU ($("$QEMU" --version | head -n 1))"
echo "image: $(sed -n 's/^kernel package: //p' "$IMAGE/image.txt")"
$PIN sh tests/e2e/boot.sh --qemu "$QEMU" --image "$IMAGE" \
    --log "$T/serial.log" --test bench --args "$COUNT nop" \
    --socket "$T/m.sock" --device pool_id=A,priority=high,vm_id=1 \
    --timeout 300 --label bench ||
    { cat "$T/serial.log"; exit 1; }
sed -n '/^+ vgpu-bench/,/^requests\/s/p' "$T/serial.log" | tr -d '\r'
kill -TERM "$DPID"
wait "$DPID" || true
DPID=""

g50=$(sed -n 's/^latency_us p50=\([0-9.]*\) .*/\1/p' "$T/serial.log" | head -n 1)
g99=$(sed -n 's/^latency_us .* p99=\([0-9.]*\) .*/\1/p' "$T/serial.log" |
    head -n 1)
host_line() {
    grep "^$1" "$T/host.txt" | head -n 1
}
m50=$(host_line "through vgpu-mediator" | awk '{ print $(NF - 4) }')
m99=$(host_line "through vgpu-mediator" | awk '{ print $(NF - 1) }')
b50=$(host_line "bare Unix-socket ping-pong" | awk '{ print $(NF - 4) }')
b99=$(host_line "bare Unix-socket ping-pong" | awk '{ print $(NF - 1) }')
echo "== summary (us)"
awk -v g50="$g50" -v g99="$g99" -v m50="$m50" -v m99="$m99" \
    -v b50="$b50" -v b99="$b99" 'BEGIN {
    printf "guest NOP (vgpu-bench, QEMU TCG)         p50 %8.2f  p99 %8.2f\n", g50, g99
    printf "host NOP through vgpu-mediator           p50 %8.2f  p99 %8.2f\n", m50, m99
    printf "host bare Unix-socket ping-pong          p50 %8.2f  p99 %8.2f\n", b50, b99
    printf "ratio guest/ping-pong: p50 %.1fx, p99 %.1fx\n", g50 / b50, g99 / b99
    printf "ratio guest/host-through-mediator: p50 %.1fx, p99 %.1fx\n", g50 / m50, g99 / m99
}'
