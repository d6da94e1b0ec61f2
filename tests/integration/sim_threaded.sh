#!/bin/sh
# vgpu-sim in threaded mode: 8 guest threads, one per VM, and the in-process
# mediator core on its dispatcher thread; every result verified. Run from a
# -DVGPU_SANITIZE=thread build (pass that build's vgpu-sim), it is the TSan
# check of the simulator's locking: any report fails the test.
#
# usage: sim_threaded.sh VGPU_SIM
set -eu
if [ $# -lt 1 ]; then
    echo "usage: $0 VGPU_SIM" >&2
    exit 2
fi
SIM=$1
if [ ! -x "$SIM" ]; then
    echo "SKIP: $SIM is not built"
    exit 77
fi
T=$(mktemp -d "${TMPDIR:-/tmp}/vgpu-simthr.XXXXXX")
trap 'rm -rf "$T"' EXIT
trap 'exit 130' INT TERM

# TSan: fail at the first report, with its text in the output.
TSAN_OPTIONS="halt_on_error=1 ${TSAN_OPTIONS:-}"
export TSAN_OPTIONS

run() {
    name=$1
    shift
    rc=0
    "$SIM" --threads "$@" >"$T/$name.out" 2>&1 || rc=$?
    if [ "$rc" -ne 0 ] || grep -q 'ThreadSanitizer\|AddressSanitizer' \
        "$T/$name.out"; then
        cat "$T/$name.out"
        echo "FAIL: vgpu-sim --threads $* exited with status $rc"
        exit 1
    fi
    grep -q '^  mismatches  *0$' "$T/$name.out" ||
        { cat "$T/$name.out"; echo "FAIL: $name: mismatches"; exit 1; }
    echo "$name: $(sed -n 's/^  total requests  *//p' "$T/$name.out") requests," \
        "$(sed -n 's/^  requests\/s  *//p' "$T/$name.out") requests/s"
}

run add_i32 --vms 8 --requests 2000 --pools AB \
    --priorities high,medium,low
grep -q '^  total requests  *16000$' "$T/add_i32.out" ||
    { cat "$T/add_i32.out"; echo "FAIL: not 16000 requests"; exit 1; }
run dot_f32 --vms 8 --requests 300 --op dot_f32 --pools ABCD \
    --policy weighted
run matmul --vms 3 --requests 200 --op matmul_f32 --size 5
echo "sim_threaded: ok"
