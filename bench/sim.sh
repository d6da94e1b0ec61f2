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
vgpu_need_pkgs cmake ninja-build gcc valgrind pkg-config libinih-dev
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
    valgrind --tool=callgrind --callgrind-out-file=/dev/null \
        "$BENCH" --mode "$1" --op "$2" --iters "$3" 2>&1 |
        sed -n 's/.*Collected : *\([0-9]*\).*/\1/p'
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

T=$(mktemp -d "${TMPDIR:-/tmp}/vgpu-simbench.XXXXXX")
DPID=""
cleanup() {
    [ -z "$DPID" ] || kill -KILL "$DPID" 2>/dev/null || true
    rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
"$DAEMON" --socket "$T/m.sock" --log-file "$T/mediator.log" \
    --log-level warn --pool A=cpu &
DPID=$!
i=0
while [ ! -S "$T/m.sock" ]; do
    i=$((i + 1))
    [ "$i" -le 200 ] || { echo "no daemon socket after 10 s" >&2; exit 1; }
    kill -0 "$DPID" || { echo "the daemon exited" >&2; exit 1; }
    sleep 0.05
done
echo "== bench_sim --socket (daemon: --log-level warn --pool A=cpu)"
"$BENCH" --socket "$T/m.sock"
kill -TERM "$DPID"
rc=0
wait "$DPID" || rc=$?
DPID=""
echo "daemon exit status: $rc"
