#!/bin/sh
# bench_plots BUILD: the figures' pipeline of docs/performance.md, fast.
# Runs `bench/plots.sh --quick --no-build --out DIR BUILD` (BUILD: this
# CTest build, which holds vgpu-mediator, vgpu-testpeer, bench_mediator and
# bench_queue) into a mktemp -d directory, then checks that each figure's
# .dat file has its '#' header and rows of numbers with as many fields as
# the header names, and that each PNG is a non-empty PNG file. Skips (77)
# without gnuplot (ci/test.sh installs gnuplot-nox).
set -eu
ROOT=$(CDPATH='' cd -- "$(dirname -- "$0")/../.." && pwd)
if [ $# -ne 1 ]; then
    echo "usage: $0 BUILD" >&2
    exit 2
fi
BUILD=$1
command -v gnuplot >/dev/null 2>&1 || {
    echo "SKIP: no gnuplot (Debian: gnuplot-nox)"
    exit 77
}
T=$(mktemp -d "${TMPDIR:-/tmp}/vgpu-plots.XXXXXX")
trap 'rm -rf "$T"' EXIT
trap 'exit 130' INT TERM
fail() {
    echo "FAIL: $*"
    exit 1
}

sh "$ROOT/bench/plots.sh" --quick --no-build --out "$T/img" "$BUILD" \
    >"$T/plots.log" 2>&1 || {
    cat "$T/plots.log"
    fail "bench/plots.sh --quick exited with an error"
}
cat "$T/plots.log"

# The first bytes of a PNG file: \211 P N G \r \n \032 \n.
png_magic=$(printf '\211PNG\r\n\032\n' | od -An -tx1 | tr -d ' \n')
for f in latency throughput weighted_shares queue_payload; do
    dat=$T/img/data/$f.dat
    png=$T/img/$f.png
    [ -s "$dat" ] || fail "no $dat"
    cols=$(sed -n 's/^# columns: //p' "$dat" | wc -w)
    [ "$cols" -ge 2 ] || fail "$f.dat: no '# columns:' header"
    # Every row: COLS fields, all numbers (the first of latency.dat is the
    # percentile's name).
    awk -v cols="$cols" -v f="$f" '
        /^#/ { next }
        {
            rows++
            if (NF != cols) { print f ".dat row " NR ": " NF " fields, want " cols; bad = 1 }
            for (i = (f == "latency" ? 2 : 1); i <= NF; i++)
                if ($i !~ /^[0-9]+(\.[0-9]+)?$/) { print f ".dat row " NR ": " $i " is not a number"; bad = 1 }
        }
        END { if (rows == 0) { print f ".dat: no rows"; bad = 1 }; exit bad }' "$dat" ||
        fail "$f.dat does not hold the figure's data"
    [ -s "$png" ] || fail "no $png, or it is empty"
    magic=$(od -An -tx1 -N8 "$png" | tr -d ' \n')
    [ "$magic" = "$png_magic" ] || fail "$png is not a PNG file ($magic)"
    echo "$f: $(grep -vc '^#' "$dat") rows, $(wc -c <"$png") bytes of PNG"
done
# The figures' own rows: 4 percentiles, 5 VM counts, 8 payload sizes, and
# the three classes' shares in several slices of the weighted run.
[ "$(grep -vc '^#' "$T/img/data/latency.dat")" -eq 4 ] || fail "latency.dat: not 4 rows"
[ "$(grep -vc '^#' "$T/img/data/throughput.dat")" -eq 5 ] || fail "throughput.dat: not 5 rows"
[ "$(grep -vc '^#' "$T/img/data/queue_payload.dat")" -eq 8 ] || fail "queue_payload.dat: not 8 rows"
[ "$(grep -vc '^#' "$T/img/data/weighted_shares.dat")" -ge 6 ] ||
    fail "weighted_shares.dat: fewer than 6 slices"
# In each slice the three shares make 100 percent.
awk '!/^#/ { s = $3 + $4 + $5; if (s < 99.5 || s > 100.5) { print "slice " $1 ": " s "%"; bad = 1 } }
     END { exit bad }' "$T/img/data/weighted_shares.dat" ||
    fail "weighted_shares.dat: shares that do not add up to 100"
echo "PASS: bench/plots.sh --quick drew 4 figures from their data"
