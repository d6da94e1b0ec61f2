#!/bin/sh
# bench/mediator.sh [BUILD]: build vgpu-mediator and bench_mediator in
# Release (default build dir: build-bench2), start the daemon on a socket in
# a mktemp -d directory (--log-level warn: no per-request log lines), run
# bench_mediator against it, stop the daemon. Figures go into
# docs/performance.md by hand.
set -eu
ROOT=$(CDPATH= cd -- "$(dirname -- "$0")/.." && pwd)
cd "$ROOT"
BUILD=${1:-build-bench2}
cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DVGPU_BUILD_TESTS=OFF >/dev/null
cmake --build "$BUILD" --target vgpu-mediator bench_mediator -- -j2 >/dev/null
DAEMON=$(find "$BUILD" -name vgpu-mediator -type f -perm -u+x | head -n 1)
[ -n "$DAEMON" ] || { echo "vgpu-mediator not found in $BUILD" >&2; exit 1; }

PIN=""
if [ -n "${VGPU_BENCH_CPUS:-}" ]; then
    PIN="taskset -c $VGPU_BENCH_CPUS"
fi

. bench/lib.sh
bench_tmp vgpu-bench
bench_daemon "$PIN" --log-level warn --pool A=cpu

echo "machine: $(nproc) cores, $(sed -n 's/^model name\t*: //p' /proc/cpuinfo | head -1)"
echo "daemon: $DAEMON --log-level warn --pool A=cpu"
echo "pinning: ${PIN:-none}"
shift $(($# > 0 ? 1 : 0))
$PIN "$BUILD/bench/bench_mediator" --socket "$T/m.sock" --daemon-pid "$DPID" "$@"
bench_daemon_stop
