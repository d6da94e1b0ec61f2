#!/bin/sh
# ci/gpu.sh [BUILD]: the CUDA backend on a machine with an NVIDIA GPU
# (docs/backends.md "On a GPU machine"). Such a machine may have the CUDA
# toolkit, cmake and a compiler but no Debian mirror, so nothing is
# installed: the daemon needs only libc, and the tests need no cmocka
# (-DVGPU_BUILD_TESTS=OFF).
#
# Then: --backends; the cross-check of every op against the CPU backend
# (ctest -L gpu); the daemon with every pool on cuda (--cuda-fallback fail)
# serving 8 simulated VMs of vgpu-sim in socket mode, each op, every result
# verified against the CPU backend.
# Exit: 0 passed, 1 failed, 77 no usable GPU (said why).
set -eu
ROOT=$(CDPATH= cd -- "$(dirname -- "$0")/.." && pwd)
cd "$ROOT"
BUILD=${1:-build/gpu}
EXTRA=$ROOT/build/extra
. ci/gpu-build.sh
gpu_build "$BUILD" vgpu-mediator vgpu-sim vgpu-cuda-cross-check
DAEMON=$BUILD/src/daemon/vgpu-mediator
SIM=$BUILD/src/sim/vgpu-sim

"$DAEMON" --backends | tee "$BUILD/backends.txt"
if ! grep -q '^cuda: built, usable' "$BUILD/backends.txt"; then
    echo "SKIP: no usable CUDA device: $(sed -n \
        '/^cuda: /{s/^cuda: //;s/^built, not usable: //;p;}' \
        "$BUILD/backends.txt")"
    exit 77
fi
rc=0
ctest --test-dir "$BUILD" --output-on-failure -L gpu || rc=1

T=$(mktemp -d "${TMPDIR:-/tmp}/vgpu-gpu.XXXXXX")
DPID=""
cleanup() {
    [ -z "$DPID" ] || kill -KILL "$DPID" 2>/dev/null || true
    rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
"$DAEMON" --socket "$T/m.sock" --log-file "$T/mediator.log" \
    --log-level warn --default-backend cuda --cuda-fallback fail &
DPID=$!
i=0
while [ ! -S "$T/m.sock" ]; do
    i=$((i + 1))
    [ "$i" -le 200 ] || { echo "no daemon socket after 10 s" >&2; exit 1; }
    kill -0 "$DPID" || { cat "$T/mediator.log"; exit 1; }
    sleep 0.05
done
for op in echo add_i32 add_f32 saxpy_f32 dot_f32 matmul_f32; do
    echo "== vgpu-sim --socket: 8 VMs, $op on cuda, verified"
    "$SIM" --socket "$T/m.sock" --vms 8 --requests 500 --op "$op" || rc=1
done
kill -TERM "$DPID"
wait "$DPID" || rc=1
DPID=""
if grep -q ' error \| warn ' "$T/mediator.log"; then
    cat "$T/mediator.log"
    rc=1
fi
[ "$rc" -eq 0 ] && echo "ci/gpu.sh: ok" || echo "ci/gpu.sh: FAILED"
exit "$rc"
