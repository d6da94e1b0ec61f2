#!/bin/sh
# vgpu-sim through the queue (SPEC.md section 11, --queue-depth) in every
# mode: against a real vgpu-mediator (socket), and in-process
# (deterministic, threaded). The socket case is the issue's own command:
# 4 VMs, 32 entries each in flight, ADD_F32 with n = 131071 (1 MiB of
# operands per request), every element verified. Run from a
# -DVGPU_SANITIZE=thread build, the threaded case is a TSan check of the
# queue's locking.
#
# usage: sim_queue.sh VGPU_MEDIATOR VGPU_SIM
set -eu
. "$(dirname "$0")/lib.sh"
it_init "$@"
SIM=$PEER
TSAN_OPTIONS="halt_on_error=1 ${TSAN_OPTIONS:-}"
export TSAN_OPTIONS

# check NAME TOTAL: NAME's run verified TOTAL requests, none failed.
check() {
    grep -q "^  total requests  *$2\$" "$T/$1.out" ||
        { cat "$T/$1.out"; fail "$1: not $2 requests"; }
    grep -q '^  errors  *0$' "$T/$1.out" ||
        { cat "$T/$1.out"; fail "$1: errors"; }
    grep -q '^  mismatches  *0$' "$T/$1.out" ||
        { cat "$T/$1.out"; fail "$1: mismatches"; }
    if grep -q 'ThreadSanitizer\|AddressSanitizer' "$T/$1.out"; then
        cat "$T/$1.out"
        fail "$1: a sanitizer report"
    fi
    echo "$1: $2 requests verified," \
        "$(sed -n 's/^  requests\/s  *//p' "$T/$1.out") requests/s"
}

# sim NAME ARGS...: run vgpu-sim, output in $T/NAME.out.
sim() {
    name=$1
    shift
    src=0
    "$SIM" "$@" >"$T/$name.out" 2>&1 || src=$?
    [ "$src" -eq 0 ] ||
        { cat "$T/$name.out"; fail "vgpu-sim $* exited with status $src"; }
}

# Under a sanitizer (TSan is 5-15 times slower) the same cases, fewer
# requests of each.
BIG=40
NOPS=5000
if grep -qa -e __tsan_init -e __asan_init "$SIM"; then
    BIG=4
    NOPS=500
fi

start_daemon --pool A=cpu --pool B=cpu --log-level warn
sim socket_1mib --socket "$SOCK" --vms 4 --queue-depth 32 --size 131071 \
    --op add_f32 --requests $BIG
check socket_1mib $((4 * BIG))
sim socket_nop --socket "$SOCK" --vms 4 --queue-depth 32 --op nop \
    --requests $NOPS --vm-id-base 10
check socket_nop $((4 * NOPS))
# Each op at the queue's largest size (MATMUL: 128 x 128, 64 KiB of
# results: its largest, 362, is 47 M multiply-adds a request).
for op in echo add_i32 saxpy_f32 dot_f32 matmul_f32; do
    size=
    [ "$op" = matmul_f32 ] && size="--size 128"
    # shellcheck disable=SC2086
    sim "socket_$op" --socket "$SOCK" --vms 2 --queue-depth 8 --op "$op" \
        --requests 16 --vm-id-base 20 $size
    check "socket_$op" 32
done
# The mailbox beside it, on the same daemon.
sim socket_mailbox --socket "$SOCK" --vms 2 --op add_i32 --requests 200 \
    --vm-id-base 30
check socket_mailbox 400
stop_daemon
[ "$DRC" -eq 0 ] || fail "the daemon exited with status $DRC"

sim det --vms 4 --queue-depth 64 --size 65536 --op add_i32 --requests $BIG
check det $((4 * BIG))
sim threaded --threads --vms 4 --queue-depth 16 --size 4096 --op saxpy_f32 \
    --requests $((5 * BIG))
check threaded $((20 * BIG))
echo "sim_queue: ok"
