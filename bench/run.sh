#!/bin/sh
# bench/run.sh [--quick] [BUILD]: build the benchmarks in Release, run each
# (times and the same-run baseline), then count instructions per operation
# with callgrind: each half runs with N and 2N iterations, and the difference
# over N removes start-up cost. These figures go into docs/performance.md by
# hand. Last, bench/plots.sh measures and draws the page's plots: their data
# into docs/img/data/*.dat and the PNG files into docs/img/ (gnuplot).
# --quick: only the plots, every measurement shortened, into
# build/plots-quick/ (docs/img/ keeps the full run's).
set -eu
ROOT=$(CDPATH= cd -- "$(dirname -- "$0")/.." && pwd)
cd "$ROOT"
. ci/lib.sh
if [ "${1:-}" = --quick ]; then
    exec sh bench/plots.sh --quick --out build/plots-quick
fi
vgpu_need_pkgs cmake ninja-build gcc valgrind
BUILD=${1:-build/bench}
cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DVGPU_BUILD_TESTS=OFF >/dev/null
cmake --build "$BUILD" --target bench_devmodel bench_codec -- -j2 >/dev/null

echo "machine: $(nproc) cores, $(sed -n 's/^model name\t*: //p' /proc/cpuinfo | head -1)"
for b in bench_devmodel bench_codec; do
    echo "== $b"
    "$BUILD/bench/$b"
done

# instructions MODE ITERS BENCH: callgrind's total for one run.
instructions() {
    valgrind --tool=callgrind --callgrind-out-file=/dev/null \
        "$BUILD/bench/$3" --mode "$1" --iters "$2" 2>&1 |
        sed -n 's/.*Collected : *\([0-9]*\).*/\1/p'
}
N=20000
echo "(bench_devmodel: one iteration is 5 register/buffer accesses; bench_codec: one 1 KiB frame)"
echo "== callgrind instructions per iteration (N=$N and 2N)"
for b in bench_devmodel bench_codec; do
    for m in subject baseline; do
        i1=$(instructions $m $N $b)
        i2=$(instructions $m $((2 * N)) $b)
        echo "$b $m: $(( (i2 - i1) / N )) instructions/iteration"
    done
done
echo "== plots: bench/plots.sh"
sh bench/plots.sh
