#!/bin/sh
# bench/trace.sh [BUILD]: what recording a trace costs on the mailbox NOP
# path under qtest: bench_trace (Release; default build dir
# build-tracebench) against QEMU from build/qemu (ci/qemu-build.sh) and a
# real vgpu-mediator; plain and traced QEMUs alternate in the same run.
# Pinned on CPU 0 (taskset -c 0: the bench, QEMU and the daemon), then
# unpinned. Figures go into docs/performance.md by hand.
set -eu
ROOT=$(CDPATH= cd -- "$(dirname -- "$0")/.." && pwd)
cd "$ROOT"
. ci/lib.sh
vgpu_need_pkgs cmake ninja-build gcc pkg-config util-linux
BUILD=${1:-build-tracebench}
QEMU=${VGPU_QEMU:-$ROOT/build/qemu/qemu-system-x86_64}
[ -x "$QEMU" ] || {
    echo "bench/trace.sh: no QEMU at $QEMU (sh ci/qemu-build.sh build/qemu)" >&2
    exit 2
}
cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DVGPU_BUILD_TESTS=OFF >/dev/null
cmake --build "$BUILD" --target bench_trace vgpu-mediator -- -j2 >/dev/null
BENCH=$BUILD/bench/bench_trace
DAEMON=$BUILD/src/daemon/vgpu-mediator
echo "machine: $(nproc) cores, $(sed -n 's/^model name\t*: //p' /proc/cpuinfo | head -1)"
echo "== pinned (taskset -c 0)"
taskset -c 0 "$BENCH" --qemu "$QEMU" --mediator "$DAEMON"
echo "== unpinned"
"$BENCH" --qemu "$QEMU" --mediator "$DAEMON"
