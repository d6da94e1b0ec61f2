#!/bin/sh
# e2e_failures: the mediator's absence, start, crash and restart, as one guest
# sees them (-device vgpu-stub,pool_id=B,priority=medium,vm_id=7). The guest
# (scenario "failures" of tests/e2e/guest/vgpu-test.sh) prints a
# VGPU-E2E-MARK line at each phase; this script drives the host side on those
# marks, each wait bounded:
#  1. no mediator at boot: vgpu-selftest --expect-no-mediator passes and
#     `vgpu-vector-add 1 2` fails with ERROR MEDIATOR_UNAVAILABLE
#     (mark no-mediator);
#  2. the guest retries `vgpu-vector-add 100 200` every 0.5 s; the host starts
#     the mediator 1 s after the mark; the next try prints 300
#     (mark mediator-up);
#  3. the guest runs verified vector adds in a loop (mark streaming); the host
#     kills the mediator with SIGKILL while they run; the guest must see
#     ERROR MEDIATOR_UNAVAILABLE, and nothing else (mark mediator-lost);
#  4. the host restarts the mediator 1 s later; the guest's retries succeed
#     again and a last verified vector add passes (mark mediator-back).
#
# Arguments (from CMake): VGPU_MEDIATOR SOURCE_DIR. Environment: VGPU_QEMU,
# VGPU_GUEST_IMAGE (see e2e_lib.sh).
set -eu
. "$(dirname "$0")/e2e_lib.sh"
e2e_init "$@"

boot_bg vm7 --test failures --args "B medium 7" --socket "$SOCK" \
    --device pool_id=B,priority=medium,vm_id=7
wait_mark vm7 no-mediator 60
sleep 1
start_mediator --pool B=cpu --log-level warn
wait_mark vm7 mediator-up 30
wait_mark vm7 streaming 30
sleep 0.5
kill_mediator
wait_mark vm7 mediator-lost 30
sleep 1
start_mediator --pool B=cpu --log-level warn
wait_mark vm7 mediator-back 30
boot_wait vm7 || fail "the guest's scenario failed"
stop_mediator
echo "PASS: e2e_failures in $(elapsed_s) s"
