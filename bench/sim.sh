#!/bin/sh
# bench/sim.sh [BUILD]: build bench_sim, vgpu-mediator and their libraries
# in Release (default build dir: build-simbench), then
#  1. deterministic mode: NOP and ADD_I32 requests/s beside the bare
#     doorbell (bench_sim), and callgrind instructions per request, with
#     bench/run.sh's method (N and 2N iterations, the difference over N);
#  2. socket mode: start the daemon on a socket in a mktemp -d directory
#     (--log-level warn: no per-request log lines) and measure guest-side
#     NOP latency beside a bare Unix-socket ping-pong; stop the daemon.
# Figures go into docs/performance.md by hand.
set -eu
ROOT=$(CDPATH= cd -- "$(dirname -- "$0")/.." && pwd)
cd "$ROOT"
. ci/lib.sh
. bench/lib.sh
vgpu_need_pkgs cmake ninja-build gcc valgrind pkg-config
BUILD=${1:-build-simbench}
cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DVGPU_BUILD_TESTS=OFF >/dev/null
cmake --build "$BUILD" --target bench_sim vgpu-mediator -- -j2 >/dev/null
BENCH=$BUILD/bench/bench_sim
DAEMON=$BUILD/src/daemon/vgpu-mediator

echo "machine: $(nproc) cores, $(sed -n 's/^model name\t*: //p' /proc/cpuinfo | head -1)"
echo "== bench_sim (deterministic, one thread)"
"$BENCH"

# instructions MODE OP ITERS: callgrind's total for one run.
instructions() {
    bench_instructions "$BENCH" --mode "$1" --op "$2" --iters "$3"
}
N=20000
echo "== callgrind instructions per request (N=$N and 2N)"
for what in "subject nop" "subject add_i32" "baseline nop"; do
    set -- $what
    i1=$(instructions "$1" "$2" $N)
    i2=$(instructions "$1" "$2" $((2 * N)))
    label="sim $2"
    [ "$1" = baseline ] && label="devmodel doorbell (baseline)"
    echo "$label: $(((i2 - i1) / N)) instructions/request"
done

bench_tmp vgpu-simbench
bench_daemon "" --log-level warn --pool A=cpu
echo "== bench_sim --socket (daemon: --log-level warn --pool A=cpu)"
"$BENCH" --socket "$T/m.sock"
bench_daemon_stop
