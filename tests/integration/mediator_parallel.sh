#!/bin/sh
# Parallelism (docs/mediator.md, "Executors"): two pools of CPU work, one
# VM each, on two executors finish in at most 0.6x the time one executor
# takes for both. The work is real computation, no delay_us: queue
# requests of MATMUL_F32 (m = k = p = 320, some 33 M fused multiply-adds
# each, 1.2 MB of operands and result), so that the CPU, not a thread hop
# or the copies, is what executors share.
#
# Needs two free cores (the point is to use them): it exits 77 with fewer,
# or when the machine is too loaded to run two things at once (the
# engineers' builds share this 2-core VM): two spinning shells are timed
# first, side by side; on two free cores they take about as long as one
# alone, and when they take over FREE_MAX of it, two cores are not free
# here and now, so no daemon could meet the bound and the test says so and
# skips. CTest runs it alone (RUN_SERIAL).
#
# It also skips in a coverage build (below); ci/test.sh's "release" stage
# runs it in the optimised build and requires a pass.
set -eu
. "$(dirname "$0")/lib.sh"
it_init "$@"
RATIO_MAX=60 # percent: two executors against one
FREE_MAX=140 # percent: two spinning shells against one alone
COUNT=24
N=320
# A coverage build (gcc --coverage) counts every edge in shared counters
# without atomics: two executor threads running the same kernel fight over
# those cache lines, and two executors took 194% of one in ci/test.sh's
# coverage build. The bound is a property of the daemon, not of gcov:
# ci/test.sh checks it in its release build (the stage "release").
if grep -qa __gcov_ "$DAEMON"; then
    echo "SKIP: a coverage build's shared counters serialise the executors;" \
        "ci/test.sh runs this test in its release build"
    exit 77
fi
# Under a sanitizer (ci/sanitize.sh runs this under TSan for the
# executors' races) the kernel runs 5-15 times slower and timing means
# nothing: a small load, both configurations, every answer checked, and no
# bound.
RACES_ONLY=0
if is_sanitized; then
    RACES_ONLY=1
    COUNT=6
    N=96
fi
if [ "$(nproc)" -lt 2 ]; then
    echo "SKIP: one core; two executors cannot run at once here"
    exit 77
fi

# run_both WORKERS: ELAPSED_MS of both pools' peers, started together.
run_both() {
    start_daemon --pool A=cpu --pool B=cpu --cpu-workers "$1"
    t0=$(mono_ms)
    peer_bg a --vm-id 1 --pool A --queue --op matmul_f32 --n $N \
        --count $COUNT --pipeline 4 --timeout-ms 60000
    peer_bg b --vm-id 2 --pool B --queue --op matmul_f32 --n $N \
        --count $COUNT --pipeline 4 --timeout-ms 60000
    peer_check a
    peer_check b
    ELAPSED_MS=$(($(mono_ms) - t0))
    stop_daemon
    [ "$DRC" -eq 0 ] || fail "daemon exit status $DRC"
}

# spin: about a second of shell arithmetic on one core.
spin() {
    i=0
    while [ $i -lt 150000 ]; do i=$((i + 1)); done
}
if [ "$RACES_ONLY" -eq 0 ]; then
    # The best of three each: this VM's host steals time now and then.
    alone=0
    pair=0
    for _ in 1 2 3; do
        t0=$(mono_ms)
        spin
        t=$(($(mono_ms) - t0))
        [ "$alone" -ne 0 ] && [ "$t" -ge "$alone" ] || alone=$t
        t0=$(mono_ms)
        spin &
        spin
        wait
        t=$(($(mono_ms) - t0))
        [ "$pair" -ne 0 ] && [ "$t" -ge "$pair" ] || pair=$t
    done
    echo "two spinning shells take ${pair} ms, one ${alone} ms" \
        "($((100 * pair / alone))%)"
    if [ $((100 * pair)) -gt $((FREE_MAX * alone)) ]; then
        echo "SKIP: the machine cannot run two things at once now (load:" \
            "$(cut -d' ' -f1-3 /proc/loadavg)); the bound needs two free cores"
        exit 77
    fi
fi

# The best of two runs each: another process taking a core only adds time.
run_both 1
one=$ELAPSED_MS
run_both 1
[ "$ELAPSED_MS" -ge "$one" ] || one=$ELAPSED_MS
run_both 2
two=$ELAPSED_MS
run_both 2
[ "$ELAPSED_MS" -ge "$two" ] || two=$ELAPSED_MS
echo "two pools of MATMUL_F32 ${N}x${N} (${COUNT} each): one executor" \
    "${one} ms, two executors ${two} ms ($((100 * two / one))%," \
    "bound ${RATIO_MAX}%)"
if [ "$RACES_ONLY" -eq 1 ]; then
    echo "PASS: two executors ran two pools (a sanitized build: no bound)"
    exit 0
fi
[ $((100 * two)) -le $((RATIO_MAX * one)) ] ||
    fail "two executors took ${two} ms, over ${RATIO_MAX}% of ${one} ms"
echo "PASS: two executors run two pools in parallel"
