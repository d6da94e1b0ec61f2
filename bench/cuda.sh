#!/bin/sh
# bench/cuda.sh [BUILD]: the CUDA backend's benchmarks, on a GPU machine
# (docs/backends.md; build as ci/gpu.sh does, default build dir build/gpu):
#  1. bench_cuda: the mediator-added latency of one request, through the
#     in-process core with the CUDA backend, beside bare copies + kernel of
#     the same size, same run;
#  2. throughput of 8 simulated VMs in socket mode (vgpu-sim --socket) on a
#     daemon whose pools run on cuda, then on cpu, for ADD_I32 (n = 127) and
#     MATMUL_F32 (11 x 11 x 11);
#  3. the same 8 VMs in-process (vgpu-sim --backend cuda, deterministic).
# Figures go into docs/performance.md by hand, with the device's name.
# Exit 77 with the reason when the machine has no usable GPU.
set -eu
ROOT=$(CDPATH= cd -- "$(dirname -- "$0")/.." && pwd)
cd "$ROOT"
BUILD=${1:-build/gpu}
. ci/gpu-build.sh
gpu_build "$BUILD" vgpu-mediator vgpu-sim bench_cuda
DAEMON=$BUILD/src/daemon/vgpu-mediator
SIM=$BUILD/src/sim/vgpu-sim

"$DAEMON" --backends | tee "$BUILD/backends.txt"
if ! grep -q '^cuda: built, usable' "$BUILD/backends.txt"; then
    echo "SKIP: no usable CUDA device: $(sed -n \
        '/^cuda: /{s/^cuda: //;s/^built, not usable: //;p;}' \
        "$BUILD/backends.txt")"
    exit 77
fi
echo "machine: $(nproc) cores, $(sed -n 's/^model name\t*: //p' /proc/cpuinfo | head -1)"
command -v nvidia-smi >/dev/null 2>&1 &&
    nvidia-smi --query-gpu=name,driver_version --format=csv,noheader

echo "== bench_cuda (ADD_I32, n = 127)"
"$BUILD/bench/bench_cuda"
echo "== bench_cuda (ADD_I32, n = 1)"
"$BUILD/bench/bench_cuda" --n 1

T=$(mktemp -d "${TMPDIR:-/tmp}/vgpu-cudabench.XXXXXX")
DPID=""
cleanup() {
    [ -z "$DPID" ] || kill -KILL "$DPID" 2>/dev/null || true
    rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# socket_run BACKEND: a daemon with every pool on BACKEND, 8 VMs on it.
socket_run() {
    rm -f "$T/m.sock"
    "$DAEMON" --socket "$T/m.sock" --log-file "$T/mediator.log" \
        --log-level warn --default-backend "$1" --cuda-fallback fail &
    DPID=$!
    i=0
    while [ ! -S "$T/m.sock" ]; do
        i=$((i + 1))
        [ "$i" -le 200 ] || { echo "no daemon socket after 10 s" >&2; exit 1; }
        kill -0 "$DPID" || exit 1
        sleep 0.05
    done
    for op in "add_i32 127" "matmul_f32 11"; do
        set -- $op
        echo "-- socket mode, 8 VMs, pools A-H on $backend: $1 size $2"
        "$SIM" --socket "$T/m.sock" --vms 8 --pools ABCDEFGH \
            --requests 5000 --op "$1" --size "$2" |
            grep -E '^summary|requests/s|latency p' || true
    done
    kill -TERM "$DPID"
    wait "$DPID" || true
    DPID=""
}
for backend in cuda cpu; do
    echo "== vgpu-sim --socket, daemon --default-backend $backend"
    socket_run "$backend"
done
for backend in cuda cpu; do
    echo "== vgpu-sim in-process (deterministic), --backend $backend"
    "$SIM" --vms 8 --pools ABCDEFGH --requests 5000 --op add_i32 \
        --backend "$backend" |
        grep -E '^summary|requests/s|latency p' || true
done
