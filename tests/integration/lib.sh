# Helpers shared by the mediator integration tests (mediator_*.sh). POSIX sh;
# sourced, never run. Each test calls:
#
#   . "$(dirname "$0")/lib.sh"
#   it_init "$@"                # DAEMON and PEER from the arguments
#   start_daemon --pool A=cpu   # then the daemon's own flags
#   peer_bg NAME ARGS...        # a vgpu-testpeer in the background
#   peer_wait NAME              # its exit status; its output in $T/NAME.out
#   stop_daemon                 # SIGTERM and a bounded wait; its exit status
#
# Every test has its own mktemp -d directory ($T) holding the socket ($SOCK),
# the daemon's log ($LOG) and each peer's output; the EXIT trap kills what
# is still running and removes it (kept when VGPU_IT_KEEP is set), printing
# the daemon's log on failure.

# it_init DAEMON PEER: check the binaries, make $T, set the trap.
# VGPU_IT_WORKERS in the environment (the scheduling tests run with 1, 2
# and 4) is given to every daemon as --cpu-workers; without it the
# daemon's default (the cores) holds. W is VGPU_IT_WORKERS, or 1.
it_init() {
    if [ $# -lt 2 ]; then
        echo "usage: $0 VGPU_MEDIATOR VGPU_TESTPEER" >&2
        exit 2
    fi
    DAEMON=$1
    PEER=$2
    WORKERS=${VGPU_IT_WORKERS:-}
    W=${WORKERS:-1}
    for b in "$DAEMON" "$PEER"; do
        if [ ! -x "$b" ]; then
            echo "SKIP: $b is not built"
            exit 77
        fi
    done
    T=$(mktemp -d "${TMPDIR:-/tmp}/vgpu-it.XXXXXX")
    SOCK=$T/mediator.sock
    LOG=$T/mediator.log
    DPID=""
    IT_OK=0
    trap it_cleanup EXIT
    trap 'exit 130' INT TERM
}

# it_need PATH NAME: skip the test (77) when the binary NAME at PATH is not
# built.
it_need() {
    if [ -z "$1" ] || [ ! -x "$1" ]; then
        echo "SKIP: $2 is not built"
        exit 77
    fi
}

# wait_file PATH: at most 10 s for PATH to appear.
wait_file() {
    i=0
    while [ ! -e "$1" ]; do
        i=$((i + 1))
        [ "$i" -le 200 ] || fail "no $1 after 10 s"
        sleep 0.05
    done
}

# wait_log PATTERN WHAT: at most 10 s for the daemon's log to match PATTERN
# (grep); fails naming WHAT.
wait_log() {
    i=0
    until grep -q "$1" "$LOG" 2>/dev/null; do
        i=$((i + 1))
        [ "$i" -le 200 ] || fail "$2 (no '$1' in the log after 10 s)"
        sleep 0.05
    done
}

# Kill every background job this test started, then remove $T.
it_cleanup() {
    rc=$?
    for f in "$T"/*.pid; do
        [ -f "$f" ] || continue
        kill "$(cat "$f")" 2>/dev/null || true
    done
    if [ -n "$DPID" ]; then
        kill -KILL "$DPID" 2>/dev/null || true
    fi
    if [ "$rc" -ne 0 ] && [ "$rc" -ne 77 ] && [ -f "$LOG" ]; then
        echo "---- daemon log (last 40 lines) ----"
        tail -n 40 "$LOG"
    fi
    if [ -n "${VGPU_IT_KEEP:-}" ]; then
        echo "kept $T"
    else
        rm -rf "$T"
    fi
    exit "$rc"
}

fail() {
    echo "FAIL: $*"
    exit 1
}

# is_sanitized: true when the daemon was built with a sanitizer, whose
# shadow memory and quarantine make RSS figures meaningless.
is_sanitized() {
    grep -qa -e __asan_init -e __tsan_init "$DAEMON"
}

# start_daemon FLAGS...: start the daemon on $SOCK with --log-file $LOG and
# wait (at most 10 s) for the socket to appear. Sets DPID.
start_daemon() {
    : >"$LOG"
    if [ -n "$WORKERS" ]; then
        set -- --cpu-workers "$WORKERS" "$@"
    fi
    "$DAEMON" --socket "$SOCK" --log-file "$LOG" "$@" \
        >"$T/daemon.out" 2>&1 &
    DPID=$!
    wait_socket "$SOCK" "$DPID" || {
        cat "$T/daemon.out"
        DPID=""
        fail "the daemon exited at start ($*)"
    }
}

# wait_socket PATH PID: wait (at most 10 s) for the socket PATH; return 1
# when PID exits first, fail the test when the time runs out.
wait_socket() {
    i=0
    while [ ! -S "$1" ]; do
        kill -0 "$2" 2>/dev/null || return 1
        i=$((i + 1))
        [ "$i" -le 200 ] || fail "no socket at $1 after 10 s"
        sleep 0.05
    done
}

# wait_exit PID SECONDS: wait until PID has exited, at most SECONDS.
wait_exit() {
    i=0
    while kill -0 "$1" 2>/dev/null; do
        i=$((i + 1))
        [ "$i" -le $(($2 * 20)) ] || return 1
        sleep 0.05
    done
    return 0
}

# stop_daemon: SIGTERM, then at most 10 s for it to exit. Sets DRC to its
# exit status; fails the test when it does not exit.
stop_daemon() {
    [ -n "$DPID" ] || return 0
    kill -TERM "$DPID" 2>/dev/null || true
    wait_exit "$DPID" 10 || fail "the daemon did not exit 10 s after SIGTERM"
    DRC=0
    wait "$DPID" || DRC=$?
    DPID=""
    [ "$DRC" -eq 0 ] || echo "daemon exited with status $DRC"
    return 0
}

# peer_bg NAME ARGS...: run vgpu-testpeer on $SOCK in the background; its
# output goes to $T/NAME.out. A ready file of an earlier peer of that name
# is removed first, so that peer_ready waits for this one.
peer_bg() {
    name=$1
    shift
    rm -f "$T/$name.ready"
    "$PEER" --socket "$SOCK" "$@" >"$T/$name.out" 2>&1 &
    echo $! >"$T/$name.pid"
}

# peer_ready NAME: wait (at most 60 s) until peer NAME, started with
# --ready-file "$T/NAME.ready", has had its HELLO accepted. Fails the test
# when the peer exits first. A peer that must outlive what follows is run
# with a long --duration-ms and stopped with peer_stop.
peer_ready() {
    i=0
    while [ ! -e "$T/$1.ready" ]; do
        kill -0 "$(cat "$T/$1.pid")" 2>/dev/null ||
            { cat "$T/$1.out"; fail "peer $1 exited before its HELLO was accepted"; }
        i=$((i + 1))
        [ "$i" -le 1200 ] || fail "peer $1: HELLO not accepted in 60 s"
        sleep 0.05
    done
}

# peer_stop NAME: SIGUSR1: it stops sending and collects what is in flight.
peer_stop() {
    kill -USR1 "$(cat "$T/$1.pid")" 2>/dev/null || true
}

# peer_wait NAME: wait for it and return its exit status.
peer_wait() {
    pid=$(cat "$T/$1.pid")
    prc=0
    wait "$pid" || prc=$?
    rm -f "$T/$1.pid"
    return "$prc"
}

# peer_check NAME: wait; it must exit 0 with bad=0. Prints its summary.
peer_check() {
    prc=0
    peer_wait "$1" || prc=$?
    sed -n '/^vm=/p' "$T/$1.out" | sed "s/^/$1: /"
    if [ "$prc" -ne 0 ] || ! grep -q '^vm=.* bad=0 ' "$T/$1.out"; then
        grep -v '^done ' "$T/$1.out" | tail -n 20
        fail "peer $1 exited with status $prc"
    fi
}

# peer NAME ARGS...: run vgpu-testpeer in the foreground, output in
# $T/NAME.out; returns its exit status.
peer() {
    name=$1
    shift
    prc=0
    "$PEER" --socket "$SOCK" "$@" >"$T/$name.out" 2>&1 || prc=$?
    return "$prc"
}

# field KEY FILE: the value of KEY=... on the summary line of FILE.
field() {
    sed -n "s/^vm=.* $1=\([0-9]*\).*/\1/p" "$2" | tail -n 1
}

# rss_kib PID / fd_count PID: from /proc.
rss_kib() {
    awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"
}

fd_count() {
    ls "/proc/$1/fd" | wc -l
}

# mono_ms: CLOCK_MONOTONIC in milliseconds (for --start-at-ms).
mono_ms() {
    "$PEER" --socket none --clock
}

# done_order FILE...: the vm of every `done` line of FILEs, by time.
done_order() {
    cat "$@" | awk '/^done / {
        for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
        print v["t_ns"], v["vm"]
    }' | sort -n | awk '{ print $2 }' | tr '\n' ' '
}

# taken_order VM...: the vm of every request of those VMs in the order the
# scheduler gave them to an executor (the daemon's debug "taken" lines;
# start it with --log-level debug). With several executors this, not the
# completion order, is what the policy decides.
taken_order() {
    awk -v vms=" $* " '/ taken wait_us=/ {
        for (i = 1; i <= NF; i++) if ($i ~ /^vm=/) { v = substr($i, 4); break }
        if (index(vms, " " v " ")) printf "%s ", v
    }' "$LOG"
}

# repeat N WORD: WORD, N times, each followed by a space.
repeat() {
    i=0
    while [ "$i" -lt "$1" ]; do
        printf '%s ' "$2"
        i=$((i + 1))
    done
}
