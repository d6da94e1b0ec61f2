#!/bin/sh
# The progress meter of vgpu-sim and vgpu-bench (src/util/progress.c) as a
# person sees it: in a pseudo-terminal (script(1)) each tool redraws one
# line on stderr with a carriage return, at most ten times a second, and
# erases it before its summary; with --quiet, or with stderr not a
# terminal, there is none, and the summary is the same.
#
# VGPU_PROGRESS_AFTER_MS=0 makes the meter start at once (by default only
# runs over a second show one), so the test does not depend on the speed
# of the machine.
#
# usage: progress_meter.sh VGPU_SIM VGPU_BENCH
set -eu

if [ $# -ne 2 ]; then
    echo "usage: $0 VGPU_SIM VGPU_BENCH" >&2
    exit 2
fi
SIM=$1
BENCH=$2
for b in "$SIM" "$BENCH"; do
    if [ ! -x "$b" ]; then
        echo "SKIP: $b is not built"
        exit 77
    fi
done
if ! command -v script >/dev/null 2>&1; then
    echo "SKIP: no script(1) (package bsdutils)"
    exit 77
fi

T=$(mktemp -d "${TMPDIR:-/tmp}/vgpu-progress.XXXXXX")
trap '[ -n "${VGPU_IT_KEEP:-}" ] || rm -rf "$T"' EXIT
trap 'exit 130' INT TERM

fail() {
    echo "FAIL: $*"
    exit 1
}

now_ms() {
    echo $(($(date +%s%N) / 1000000))
}

# in_pty NAME CMD: run CMD (one string) in a pseudo-terminal; what the
# terminal showed is in $T/NAME.tty, the time it took in $ms.
in_pty() {
    t0=$(now_ms)
    rc=0
    VGPU_PROGRESS_AFTER_MS=0 script -qefc "$2" /dev/null >"$T/$1.tty" \
        2>&1 </dev/null || rc=$?
    ms=$(($(now_ms) - t0))
    [ "$rc" -eq 0 ] || { cat "$T/$1.tty"; fail "$1: exit status $rc"; }
}

# meters NAME PROG: how many times PROG's meter was drawn.
meters() {
    tr '\r' '\n' <"$T/$1.tty" | grep -Ec "^$2: [0-9]+/[0-9]+ requests  [0-9]+/s  [0-9]+\.[0-9] s" || true
}

# check_meter NAME PROG TOTAL: drawn at least once, never more often than
# ten times a second (and one at the start), counting up to TOTAL, and
# erased (a carriage return, blanks, a carriage return) before the summary.
check_meter() {
    n=$(meters "$1" "$2")
    [ "$n" -ge 1 ] || { cat -A "$T/$1.tty"; fail "$1: no meter in a terminal"; }
    max=$((ms / 100 + 2))
    [ "$n" -le "$max" ] || fail "$1: $n redraws in $ms ms (at most $max)"
    tr '\r' '\n' <"$T/$1.tty" | grep -Eq "^$2: [0-9]+/$3 requests" ||
        fail "$1: the meter does not count to $3"
    grep -q "$(printf '\r') *$(printf '\r')" "$T/$1.tty" ||
        fail "$1: the meter is not erased"
    echo "$1: $n redraws in $ms ms"
}

# ---- vgpu-sim
SIMARGS="--vms 2 --requests 3000 --op add_i32"
in_pty sim "$SIM $SIMARGS"
check_meter sim vgpu-sim 6000
grep -q '^  total requests *6000' "$T/sim.tty" || fail "sim: no summary"

in_pty sim_quiet "$SIM $SIMARGS --quiet"
[ "$(meters sim_quiet vgpu-sim)" -eq 0 ] || fail "sim --quiet: a meter"
grep -q '^  total requests *6000' "$T/sim_quiet.tty" ||
    fail "sim --quiet: no summary"

# stderr not a terminal: no meter, not one carriage return.
VGPU_PROGRESS_AFTER_MS=0 "$SIM" $SIMARGS >"$T/sim.out" 2>"$T/sim.err" ||
    fail "sim (no terminal): exit status $?"
[ ! -s "$T/sim.err" ] || { cat "$T/sim.err"; fail "sim: stderr not empty"; }
! grep -q "$(printf '\r')" "$T/sim.out" || fail "sim: a carriage return"
grep -q '^  total requests *6000' "$T/sim.out" || fail "sim: no summary"

# ---- vgpu-bench (mailbox and queue)
BENCHARGS="--sim --op add_i32 --n 16 --count 2000 --warmup 0"
in_pty bench "$BENCH $BENCHARGS"
check_meter bench vgpu-bench 2000
grep -q 'op=ADD_I32 n=16 count=2000' "$T/bench.tty" || fail "bench: no summary"
in_pty bench_q "$BENCH $BENCHARGS --path queue --inflight 4"
check_meter bench_q vgpu-bench 2000

in_pty bench_quiet "$BENCH $BENCHARGS --quiet"
[ "$(meters bench_quiet vgpu-bench)" -eq 0 ] || fail "bench --quiet: a meter"

VGPU_PROGRESS_AFTER_MS=0 "$BENCH" $BENCHARGS >"$T/bench.out" \
    2>"$T/bench.err" || fail "bench (no terminal): exit status $?"
[ ! -s "$T/bench.err" ] || { cat "$T/bench.err"; fail "bench: stderr"; }
grep -q '^op=ADD_I32 n=16 count=2000' "$T/bench.out" || fail "bench: no summary"

echo "PASS: progress_meter"
