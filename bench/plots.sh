#!/bin/sh
# bench/plots.sh [--quick] [--out DIR] [--no-build] [--draw-only] [BUILD]:
# the figures of docs/performance.md (bench/run.sh runs it last). Builds
# vgpu-mediator, vgpu-testpeer, bench_mediator and bench_queue in Release
# (default build dir: build/bench-plots; with --no-build BUILD must hold them
# already, as a CTest build does), measures, writes each figure's data as a
# whitespace-separated .dat file (its columns named in the '#' header) under
# DIR/data/ and draws it with gnuplot
# (bench/plots/NAME.gp; pngcairo, else png) into DIR/NAME.png. DIR defaults
# to docs/img. Figures:
#
#   latency          NOP round trip p50/p90/p99/p99.9 through the daemon
#                    beside the bare Unix-socket ping-pong to a forked
#                    process (bench_mediator), pinned (taskset -c 0: the
#                    daemon and the benchmark on CPU 0) and unpinned
#   throughput       aggregate NOP/s against the number of VMs (1, 2, 4, 8,
#                    16 clients, each its own connection and vm_id) beside
#                    a bare epoll server process, pinned and unpinned
#   weighted_shares  policy weighted 4:2:1 on one executor taking 2 ms a
#                    request: each class's share of executor time per time
#                    slice while low, medium and high are backlogged in
#                    turn (low all along, medium in the middle two thirds,
#                    high in the middle third), beside the 4:2:1 target
#   queue_payload    the queue's MiB/s of ADD_F32 input against payload
#                    size (bench_queue --only big --big-n N) beside a bare
#                    Unix-socket stream of the same frames, pinned and
#                    unpinned
#
# --quick shortens every measurement (a few seconds in all) for the CTest
# test bench_plots, which checks the pipeline, not the figures. --draw-only
# measures nothing and draws DIR/*.png from the .dat files already in
# DIR/data/ (after a change to bench/plots/*.gp).
set -eu
ROOT=$(CDPATH='' cd -- "$(dirname -- "$0")/.." && pwd)
cd "$ROOT"
. ci/lib.sh
. bench/lib.sh

QUICK=0
BUILD_IT=1
DRAW_ONLY=0
OUT=docs/img
while [ $# -gt 0 ]; do
    case $1 in
    --quick) QUICK=1 ;;
    --no-build) BUILD_IT=0 ;;
    --draw-only) DRAW_ONLY=1 ;;
    --out)
        [ $# -ge 2 ] || { echo "bench/plots.sh: --out needs a DIR" >&2; exit 2; }
        OUT=$2
        shift
        ;;
    --help)
        sed -n '2,/^set -eu/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'
        exit 0
        ;;
    -*)
        echo "bench/plots.sh: unknown option $1 (see --help)" >&2
        exit 2
        ;;
    *) break ;;
    esac
    shift
done
BUILD=${1:-build/bench-plots}

# draw: each figure's PNG from its .dat file; any word from gnuplot (a
# warning such as "Skipping data file with no valid points" included) is an
# error.
draw() {
    term_name=pngcairo
    gnuplot -e 'set terminal pngcairo' 2>/dev/null || term_name=png
    for f in latency throughput weighted_shares queue_payload; do
        msg=$(gnuplot -e "termname='$term_name'; datafile='$OUT/data/$f.dat'; outfile='$OUT/$f.png'" \
            bench/plots/$f.gp 2>&1) && [ -z "$msg" ] || {
            printf '%s\n' "$msg" >&2
            echo "bench/plots.sh: gnuplot could not draw $f.png" >&2
            exit 1
        }
        echo "wrote $OUT/$f.png ($(wc -c <"$OUT/$f.png") bytes) from $OUT/data/$f.dat"
    done
}
command -v gnuplot >/dev/null 2>&1 || {
    echo "bench/plots.sh: no gnuplot (Debian: gnuplot-nox)" >&2
    exit 1
}
if [ "$DRAW_ONLY" = 1 ]; then
    OUT=$(CDPATH='' cd -- "$OUT" && pwd)
    draw
    exit 0
fi

if [ "$BUILD_IT" = 1 ]; then
    vgpu_need_pkgs cmake ninja-build gcc pkg-config libcmocka-dev \
        util-linux gnuplot-nox
    cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release \
        -DVGPU_BUILD_TESTS=ON >/dev/null
    cmake --build "$BUILD" --target vgpu-mediator vgpu-testpeer \
        bench_mediator bench_queue -- -j2 >/dev/null
fi
DAEMON=$BUILD/src/daemon/vgpu-mediator
PEER=$BUILD/tests/tools/vgpu-testpeer
BMED=$BUILD/bench/bench_mediator
BQUEUE=$BUILD/bench/bench_queue
for b in "$DAEMON" "$PEER" "$BMED" "$BQUEUE"; do
    [ -x "$b" ] || { echo "bench/plots.sh: $b is not built" >&2; exit 1; }
done
mkdir -p "$OUT/data"
OUT=$(CDPATH='' cd -- "$OUT" && pwd)
bench_tmp vgpu-plots

if [ "$QUICK" = 1 ]; then
    ITERS=2000 SECONDS_EACH=0.25 SHARES_MS=1500 SLICE_MS=100
    BIG_BYTES=$((16 * 1048576)) BIG_MIN=8 BIG_MAX=200
else
    ITERS=20000 SECONDS_EACH=2 SHARES_MS=6000 SLICE_MS=200
    BIG_BYTES=$((400 * 1048576)) BIG_MIN=40 BIG_MAX=4000
fi
PAYLOAD_N="16 64 256 1024 4096 16384 65536 131071"
MACHINE="$(nproc) cores, $(sed -n 's/^model name\t*: //p' /proc/cpuinfo | head -n 1)"
echo "machine: $MACHINE; load before: $(cut -d' ' -f1-3 /proc/loadavg)"

# header FILE TITLE COLUMNS...: the '#' lines that open FILE.
header() {
    f=$1
    shift
    {
        echo "# $1"
        shift
        echo "# made by: sh bench/plots.sh$([ "$QUICK" = 1 ] && echo ' --quick')" \
            "on $(date -u +%Y-%m-%d), $MACHINE"
        echo "# columns: $*"
    } >"$f"
}

# ---- the daemon's NOP path and the queue, pinned and unpinned -------------
# measure TAG PIN: bench_mediator and bench_queue against a fresh daemon,
# all under PIN; their output in $T/med-TAG.txt and $T/queue-TAG.txt.
measure() {
    bench_daemon "$2" --log-level warn --pool A=cpu
    echo "== $1 (${2:-no pinning}): bench_mediator"
    $2 "$BMED" --socket "$T/m.sock" --iters "$ITERS" \
        --seconds "$SECONDS_EACH" --clients 1,2,4,8,16 >"$T/med-$1.txt"
    : >"$T/queue-$1.txt"
    for n in $PAYLOAD_N; do
        count=$((BIG_BYTES / (8 * n + 8)))
        [ "$count" -ge "$BIG_MIN" ] || count=$BIG_MIN
        [ "$count" -le "$BIG_MAX" ] || count=$BIG_MAX
        echo "== $1: bench_queue --only big --big-n $n --big $count"
        $2 "$BQUEUE" --socket "$T/m.sock" --only big --big "$count" \
            --big-n "$n" >>"$T/queue-$1.txt"
    done
    bench_daemon_stop
}
measure pinned "taskset -c ${VGPU_BENCH_CPUS:-0}"
measure unpinned ""

# pct FILE WHO: the four percentiles of the "percentiles WHO" line.
pct() {
    sed -n "s/^percentiles $2 p50 \([0-9.]*\) p90 \([0-9.]*\) p99 \([0-9.]*\) p99.9 \([0-9.]*\) us$/\1 \2 \3 \4/p" "$1"
}
header "$OUT/data/latency.dat" \
    "NOP round trip in microseconds, $ITERS sequential NOPs each (bench_mediator)" \
    percentile mediator_pinned bare_pinned mediator_unpinned bare_unpinned
pct "$T/med-pinned.txt" mediator >"$T/a"
pct "$T/med-pinned.txt" bare >"$T/b"
pct "$T/med-unpinned.txt" mediator >"$T/c"
pct "$T/med-unpinned.txt" bare >"$T/d"
cat "$T/a" "$T/b" "$T/c" "$T/d" | awk '
    { for (i = 1; i <= 4; i++) v[NR, i] = $i }
    END {
        if (NR != 4) exit 1
        split("p50 p90 p99 p99.9", name, " ")
        for (i = 1; i <= 4; i++)
            printf "%s %s %s %s %s\n", name[i], v[1, i], v[2, i], v[3, i], v[4, i]
    }' >>"$OUT/data/latency.dat" ||
    { echo "bench/plots.sh: no percentiles in bench_mediator's output" >&2; exit 1; }

# tput FILE: "clients median min max median min max" of each table row.
tput() {
    grep -E '^ *[0-9]+ +[0-9]+ \(' "$1" | tr '()-' '   ' |
        awk '{ print $1, $2, $3, $4, $5, $6, $7 }'
}
header "$OUT/data/throughput.dat" \
    "aggregate NOP/s, one request in flight per VM, median of 5 rounds of $SECONDS_EACH/5 s (min, max)" \
    vms mediator_pinned min max bare_pinned min max \
    mediator_unpinned min max bare_unpinned min max
tput "$T/med-pinned.txt" >"$T/a"
tput "$T/med-unpinned.txt" >"$T/b"
[ "$(wc -l <"$T/a")" -eq 5 ] && [ "$(wc -l <"$T/b")" -eq 5 ] ||
    { echo "bench/plots.sh: no throughput table in bench_mediator's output" >&2; exit 1; }
paste -d' ' "$T/a" "$T/b" | awk '{
    printf "%s %s %s %s %s %s %s", $1, $2, $3, $4, $5, $6, $7
    printf " %s %s %s %s %s %s\n", $9, $10, $11, $12, $13, $14 }' \
    >>"$OUT/data/throughput.dat"

# mibs FILE: "payload_bytes queue bare" of each bench_queue run.
mibs() {
    awk '/^socket ADD_F32 n=/ { split($3, kv, "="); sub(",", "", kv[2]); n = kv[2]; q = $5 }
         /^bare stream/ { print 8 * n + 8, q, $6 }' "$1"
}
header "$OUT/data/queue_payload.dat" \
    "ADD_F32 through the queue (8 in flight), MiB/s of request input, beside a bare Unix-socket stream of the same frames (bench_queue --only big)" \
    payload_bytes queue_pinned bare_pinned queue_unpinned bare_unpinned
mibs "$T/queue-pinned.txt" >"$T/a"
mibs "$T/queue-unpinned.txt" >"$T/b"
[ -s "$T/a" ] && [ "$(wc -l <"$T/a")" -eq "$(wc -l <"$T/b")" ] ||
    { echo "bench/plots.sh: bench_queue's output does not parse" >&2; exit 1; }
paste -d' ' "$T/a" "$T/b" | awk '{ print $1, $2, $3, $5, $6 }' \
    >>"$OUT/data/queue_payload.dat"

# ---- weighted shares over time --------------------------------------------
# One executor taking 2 ms a request; low sends for the whole run, medium
# for its middle two thirds, high for its middle third; each keeps 8
# requests in flight.
echo "== weighted shares, $SHARES_MS ms"
bench_daemon "" --log-level warn --policy weighted --weights 4:2:1 \
    --cpu-workers 1 --pool A=cpu:delay_us=2000
start=$(($("$PEER" --socket none --clock) + 300))
sixth=$((SHARES_MS / 6))
for c in "low 1 0 6" "medium 2 1 4" "high 3 2 2"; do
    set -- $c # shellcheck disable=SC2086: the words are the fields
    "$PEER" --socket "$T/m.sock" --vm-id "$2" --priority "$1" --pipeline 8 \
        --start-at-ms $((start + $3 * sixth)) --duration-ms $(($4 * sixth)) \
        --timestamps >"$T/peer-$1.txt" 2>&1 &
    echo $! >"$T/peer-$1.pid"
done
for c in low medium high; do
    wait "$(cat "$T/peer-$c.pid")" ||
        { tail -n 5 "$T/peer-$c.txt" >&2; echo "bench/plots.sh: peer $c failed" >&2; exit 1; }
done
bench_daemon_stop
header "$OUT/data/weighted_shares.dat" \
    "policy weighted 4:2:1, one executor, 2 ms a request: percent of the executor's completed requests (= of its time) per slice (t_s: its middle, slice_s: its length); want_* is the 4:2:1 share among the classes backlogged then" \
    t_s slice_s high medium low want_high want_medium want_low
awk -v start="$start" -v slice="$SLICE_MS" -v sixth="$sixth" '
    /^done / {
        for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
        ms = v["t_ns"] / 1e6 - start
        if (ms < 0) next
        s = int(ms / slice); c[s, FILENAME]++; tot[s]++
        if (s > last) last = s
    }
    END {
        w["high"] = 4; w["medium"] = 2; w["low"] = 1
        for (s = 0; s <= last; s++) {
            # Slices wholly inside one phase of the schedule only.
            a = s * slice; b = a + slice
            if (int(a / sixth) != int((b - 1) / sixth) || tot[s] == 0) continue
            ph = int(a / sixth)
            on["low"] = ph <= 5; on["medium"] = ph >= 1 && ph <= 4
            on["high"] = ph >= 2 && ph <= 3
            sum = 0
            for (k in w) if (on[k]) sum += w[k]
            if (sum == 0) continue # the drain after the last sender stops
            printf "%.3f %.3f", (a + slice / 2) / 1000, slice / 1000
            for (i = 1; i <= 3; i++) printf " %.1f", 100 * c[s, ARGV[i]] / tot[s]
            printf " %.1f %.1f %.1f\n", on["high"] ? 100 * 4 / sum : 0,
                on["medium"] ? 100 * 2 / sum : 0, on["low"] ? 100 / sum : 0
        }
    }' "$T/peer-high.txt" "$T/peer-medium.txt" "$T/peer-low.txt" \
    >>"$OUT/data/weighted_shares.dat"

draw
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
