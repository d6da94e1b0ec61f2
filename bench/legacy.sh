#!/bin/sh
# bench/legacy.sh [BUILD [ITERS]]: the legacy file transport's latency
# against the socket path's, on the same daemon in the same run (the seeds'
# "benchmark vs NFS", on local filesystems here).
#
# Builds vgpu-mediator and bench_legacy in Release (default build dir:
# build/bench-legacy), then, for each filesystem the legacy directory can
# be put on here, starts the daemon (--log-level warn: no per-request log
# lines; --legacy-dir in a mktemp -d directory on that filesystem; its
# socket in another), runs bench_legacy (ITERS sequential ADD_I32 requests
# each way, default 2000, in 5 alternating blocks) and stops the daemon:
#   - a directory under the build tree: the repository's own filesystem,
#     a real disk, where the daemon's fsync of each response.txt costs what
#     the disk makes it cost;
#   - a directory in /dev/shm (tmpfs, when there is one): the same protocol
#     with fsync free, so the difference is the disk's share.
# VGPU_BENCH_CPUS=0 pins the daemon and the benchmark onto one CPU (as
# bench/mediator.sh does). Figures go into docs/performance.md by hand.
set -eu
ROOT=$(CDPATH= cd -- "$(dirname -- "$0")/.." && pwd)
cd "$ROOT"
. bench/lib.sh # bench_daemon
BUILD=${1:-build/bench-legacy}
ITERS=${2:-2000}
cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DVGPU_BUILD_TESTS=OFF >/dev/null
cmake --build "$BUILD" --target vgpu-mediator bench_legacy -- -j2 >/dev/null
DAEMON=$BUILD/src/daemon/vgpu-mediator
BENCH=$BUILD/bench/bench_legacy
if [ ! -x "$DAEMON" ] || [ ! -x "$BENCH" ]; then
    echo "vgpu-mediator or bench_legacy not built in $BUILD" >&2
    exit 1
fi

PIN=""
if [ -n "${VGPU_BENCH_CPUS:-}" ]; then
    PIN="taskset -c $VGPU_BENCH_CPUS"
fi

T=$(mktemp -d "${TMPDIR:-/tmp}/vgpu-bench-legacy.XXXXXX")
DPID=""
PARENTS="$ROOT/$BUILD"
[ -d /dev/shm ] && [ -w /dev/shm ] && PARENTS="$PARENTS /dev/shm"
LGS=""
cleanup() {
    [ -z "$DPID" ] || kill -KILL "$DPID" 2>/dev/null || true
    rm -rf "$T"
    for d in $LGS; do
        rm -rf "$d"
    done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "machine: $(nproc) cores, $(sed -n 's/^model name\t*: //p' /proc/cpuinfo | head -1), kernel $(uname -r)"
echo "daemon: $DAEMON --log-level warn --pool A=cpu --legacy-dir DIR"
echo "pinning: ${PIN:-none}"
for parent in $PARENTS; do
    LG=$(mktemp -d "$parent/vgpu-legacy.XXXXXX")
    LGS="$LGS $LG"
    mkdir "$LG/vm1001"
    echo "legacy directory: $LG ($(df -PT "$LG" | awk 'NR == 2 { print $2 " on " $1 }'))"
    bench_daemon "$PIN" --log-level warn --pool A=cpu --legacy-dir "$LG"
    $PIN "$BENCH" --socket "$T/m.sock" --dir "$LG/vm1001" --iters "$ITERS"
    kill -TERM "$DPID"
    rc=0
    wait "$DPID" || rc=$?
    DPID=""
    echo "daemon exit status: $rc"
    if [ -s "$T/mediator.log" ]; then
        echo "daemon warnings:"
        cat "$T/mediator.log"
        : >"$T/mediator.log"
    fi
    rm -rf "$LG"
done
