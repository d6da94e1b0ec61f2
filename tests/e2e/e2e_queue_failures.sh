#!/bin/sh
# e2e_queue_failures: the mediator killed while 32 queue requests are in
# flight (-device vgpu-stub,pool_id=B,priority=medium,vm_id=7). The guest
# (scenario "qkill" of tests/e2e/guest/vgpu-test.sh) and this script take
# turns on VGPU-E2E-MARK lines, each wait bounded:
#  1. the mediator runs pool B on a CPU backend that sleeps 2 s in each
#     request, so that nothing completes before the kill; the guest submits
#     a 32768-float vector add as 32 queue requests of 1024 floats and marks
#     `inflight` once SQ_HEAD reads 32 (the device took all of them: it
#     bounds the bytes it holds for the socket, so the requests are small);
#  2. this script kills the mediator (SIGKILL); in the guest every one of
#     the 32 must complete with MEDIATOR_UNAVAILABLE and none may stay
#     unfinished (mark queue-lost);
#  3. this script restarts the mediator (no delay); the guest retries the
#     same batch until it succeeds, verified (mark queue-back).
#
# Arguments (from CMake): VGPU_MEDIATOR SOURCE_DIR. Environment: VGPU_QEMU,
# VGPU_GUEST_IMAGE (see e2e_lib.sh).
set -eu
. "$(dirname "$0")/e2e_lib.sh"
e2e_init "$@"

start_mediator --pool B=cpu:delay_us=2000000 --log-level warn
boot_bg vm7 --test qkill --args "B medium 7" --socket "$SOCK" \
    --device pool_id=B,priority=medium,vm_id=7 --timeout 150
wait_mark vm7 inflight 90
kill_mediator
wait_mark vm7 queue-lost 30
sleep 1
start_mediator --pool B=cpu --log-level warn
wait_mark vm7 queue-back 60
boot_wait vm7 || fail "the guest's scenario failed"
stop_mediator
echo "PASS: e2e_queue_failures in $(elapsed_s) s"
