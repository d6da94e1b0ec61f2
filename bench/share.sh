#!/bin/sh
# bench/share.sh [BUILD]: build bench_share in Release (default build dir:
# build-sharebench) and run it: the scheduler's ns per decision at 10, 100,
# 1,000 and 10,000 VMs with work (best_effort, equal, fixed), and each VM's
# share per 1 s window against its target in the deterministic simulation;
# then callgrind's instructions per decision at each size.
# The share table goes to docs/img/data/shares.dat and, when gnuplot is
# installed, its plot to docs/img/shares.png (bench/plots/shares.gp). The
# daemon's figures come from tests/integration/mediator_shares.sh. Figures
# go into docs/performance.md by hand.
set -eu
ROOT=$(CDPATH= cd -- "$(dirname -- "$0")/.." && pwd)
cd "$ROOT"
. ci/lib.sh
. bench/lib.sh
vgpu_need_pkgs cmake ninja-build gcc valgrind
BUILD=${1:-build-sharebench}
cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DVGPU_BUILD_TESTS=OFF >/dev/null
cmake --build "$BUILD" --target bench_share -- -j2 >/dev/null

echo "machine: $(nproc) cores, $(sed -n 's/^model name\t*: //p' /proc/cpuinfo | head -1)"
mkdir -p docs/img/data
"$BUILD/bench/bench_share" --dat docs/img/data/shares.dat
# Instructions per decision, which a loaded machine does not blur: the
# difference of N and 2N decisions over N (the set-up cancels out).
N=200000
echo "== callgrind instructions per decision (N=$N and 2N)"
for mode in best_effort equal fixed; do
    line="$mode:"
    for vms in 10 100 1000 10000; do
        i1=$(bench_instructions "$BUILD/bench/bench_share" --decide "$mode" "$vms" --iters $N)
        i2=$(bench_instructions "$BUILD/bench/bench_share" --decide "$mode" "$vms" --iters $((2 * N)))
        line="$line $vms VMs $(((i2 - i1) / N))"
    done
    echo "$line"
done
if command -v gnuplot >/dev/null 2>&1; then
    gnuplot -e "dat='docs/img/data/shares.dat'; out='docs/img/shares.png'" \
        bench/plots/shares.gp
    echo "plot: docs/img/shares.png"
else
    echo "gnuplot not installed: no plot (the table is docs/img/data/shares.dat)"
fi
