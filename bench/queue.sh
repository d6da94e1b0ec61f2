#!/bin/sh
# bench/queue.sh [BUILD]: build bench_queue, vgpu-mediator and their
# libraries in Release (default build dir: build-queuebench), then
#  1. deterministic mode: NOP requests/s through the queue (32 per SQ_TAIL
#     write) beside the mailbox, pinned on CPU 0 and unpinned; callgrind
#     instructions per request of each (N and 2N requests, the difference
#     over N);
#  2. socket mode against a real daemon (--log-level warn --pool A=cpu):
#     NOP with 32 in flight beside the mailbox, and ADD_F32 n = 131071
#     (1 MiB in) beside a bare Unix-socket stream to a forked peer; both
#     sides pinned on CPU 0 (taskset -c 0), then unpinned.
# Figures go into docs/performance.md by hand.
set -eu
ROOT=$(CDPATH= cd -- "$(dirname -- "$0")/.." && pwd)
cd "$ROOT"
. ci/lib.sh
. bench/lib.sh
vgpu_need_pkgs cmake ninja-build gcc valgrind pkg-config \
    util-linux
BUILD=${1:-build-queuebench}
cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DVGPU_BUILD_TESTS=OFF >/dev/null
cmake --build "$BUILD" --target bench_queue vgpu-mediator -- -j2 >/dev/null
BENCH=$BUILD/bench/bench_queue
DAEMON=$BUILD/src/daemon/vgpu-mediator

echo "machine: $(nproc) cores, $(sed -n 's/^model name\t*: //p' /proc/cpuinfo | head -1)"
echo "== deterministic, pinned (taskset -c 0)"
taskset -c 0 "$BENCH"
echo "== deterministic, unpinned"
"$BENCH"

instructions() {
    bench_instructions "$BENCH" --only "$1" --iters "$2"
}
N=20000
echo "== callgrind instructions per request (N=$N and 2N)"
for what in queue mailbox; do
    i1=$(instructions "$what" $N)
    i2=$(instructions "$what" $((2 * N)))
    echo "deterministic NOP, $what: $(((i2 - i1) / N)) instructions/request"
done

bench_tmp vgpu-queuebench
# socket_run PIN: the daemon and the socket half, both under PIN.
socket_run() {
    bench_daemon "$1" --log-level warn --pool A=cpu
    $1 "$BENCH" --socket "$T/m.sock" --iters 100000
    bench_daemon_stop
}
echo "== socket, daemon and bench pinned on CPU 0 (taskset -c 0)"
socket_run "taskset -c 0"
echo "== socket, unpinned"
socket_run ""
