#!/bin/sh
# bench/mediator.sh [BUILD [BENCH_ARGS...]]: build vgpu-mediator and
# bench_mediator in Release (default build dir: build-bench2), then twice:
# start the daemon on a socket in a mktemp -d directory (--log-level warn:
# no per-request log lines), run bench_mediator against it (its baselines
# are forked server processes), stop the daemon. The first pass pins the
# daemon and the benchmark to CPU $VGPU_BENCH_CPUS (default 0) with
# taskset; the second runs them unpinned beside it (VGPU_BENCH_UNPINNED=0
# leaves it out). Figures go into docs/performance.md by hand.
set -eu
ROOT=$(CDPATH= cd -- "$(dirname -- "$0")/.." && pwd)
cd "$ROOT"
BUILD=${1:-build-bench2}
cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DVGPU_BUILD_TESTS=OFF >/dev/null
cmake --build "$BUILD" --target vgpu-mediator bench_mediator -- -j2 >/dev/null
DAEMON=$(find "$BUILD" -name vgpu-mediator -type f -perm -u+x | head -n 1)
[ -n "$DAEMON" ] || { echo "vgpu-mediator not found in $BUILD" >&2; exit 1; }
shift $(($# > 0 ? 1 : 0))

. bench/lib.sh
bench_tmp vgpu-bench

echo "machine: $(nproc) cores, $(sed -n 's/^model name\t*: //p' /proc/cpuinfo | head -1)"
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
for PIN in "taskset -c ${VGPU_BENCH_CPUS:-0}" ""; do
    if [ -z "$PIN" ] && [ "${VGPU_BENCH_UNPINNED:-1}" = 0 ]; then
        continue
    fi
    bench_daemon "$PIN" --log-level warn --pool A=cpu
    echo "daemon: $DAEMON --log-level warn --pool A=cpu"
    echo "pinning: ${PIN:-none}"
    $PIN "$BUILD/bench/bench_mediator" --socket "$T/m.sock" \
        --daemon-pid "$DPID" "$@"
    bench_daemon_stop
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
