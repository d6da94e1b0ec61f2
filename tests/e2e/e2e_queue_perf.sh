#!/bin/sh
# e2e_queue_perf: one guest (-device vgpu-stub,pool_id=A,priority=high,
# vm_id=1) adds two 1,000,000-element float vectors through the queue with
# 32 requests in flight (31250 elements, 250 KB in and 125 KB out each, in
# hugepage DMA memory), verifies every element, then does the same through
# the mailbox (7875 requests of 127 elements) and verifies again (scenario
# "qperf" of tests/e2e/guest/vgpu-test.sh). The times come from the same
# boot, each of the requests alone (the queue's DMA memory is set up before
# its clock starts, as the client is opened before either); the queue runs
# twice and its second, warm run is compared with the mailbox.
#
# Issue 13's target is 20x. The test prints the ratio against it, but fails
# only below VGPU_E2E_QUEUE_MIN_RATIO (default 5): a queue that lost its
# parallelism or fell back to small transfers. The target itself depends on
# the daemon's build: the ctest build is Debug (CI adds coverage), whose
# CPU backend at -O0 spends most of the queue's time, and on a shared
# 2-core host the figures swing by 2x from boot to boot (docs/performance.md
# has the measured ratios with a Debug and a Release daemon).
#
# Needs a QEMU whose vgpu-stub has the queue (CAPABILITIES bit 2): with an
# older one the guest's selftest finds no queue and the test fails.
#
# Arguments (from CMake): VGPU_MEDIATOR SOURCE_DIR. Environment: VGPU_QEMU,
# VGPU_GUEST_IMAGE (see e2e_lib.sh).
set -eu
. "$(dirname "$0")/e2e_lib.sh"
e2e_init "$@"

N=1000000
INFLIGHT=32
TARGET_RATIO=20
MIN_RATIO=${VGPU_E2E_QUEUE_MIN_RATIO:-5}
start_mediator --pool A=cpu --log-level warn
boot_bg vm1 --test qperf --args "A high 1 $N $INFLIGHT" --socket "$SOCK" \
    --device pool_id=A,priority=high,vm_id=1 --timeout 150
boot_wait vm1 || fail "the guest's scenario failed"
line=$(grep -a '^VGPU-E2E-MARK: qperf ' "$T/vm1.serial" | tr -d '\r')
q_ms=$(echo "$line" | sed -n 's/.* queue_ms=\([0-9.]*\) .*/\1/p')
m_ms=$(echo "$line" | sed -n 's/.* mailbox_ms=\([0-9.]*\) .*/\1/p')
cold_ms=$(echo "$line" | sed -n 's/.* queue_cold_ms=\([0-9.]*\) .*/\1/p')
if [ -z "$q_ms" ] || [ -z "$m_ms" ]; then
    fail "no times in the mark: $line"
fi
ratio=$(awk -v q="$q_ms" -v m="$m_ms" 'BEGIN { printf "%.1f", m / q }')
met=missed
awk -v r="$ratio" -v t="$TARGET_RATIO" 'BEGIN { exit !(r >= t) }' && met=met
echo "n=$N floats: queue ($INFLIGHT in flight) $q_ms ms (cold run:" \
    "$cold_ms ms), mailbox $m_ms ms: the queue is ${ratio}x faster" \
    "(target ${TARGET_RATIO}x: $met; fails below ${MIN_RATIO}x)"
awk -v r="$ratio" -v min="$MIN_RATIO" 'BEGIN { exit !(r >= min) }' ||
    fail "the queue is only ${ratio}x faster than the mailbox"
stop_mediator
echo "PASS: e2e_queue_perf in $(elapsed_s) s"
