# Helpers shared by the benchmark scripts (bench/*.sh). POSIX sh; sourced,
# never run:
#
#   . bench/lib.sh
#   bench_tmp vgpu-xbench        # $T, removed (and the daemon killed) at exit
#   bench_daemon [PIN] ARGS...   # start $DAEMON on $T/m.sock; waits for it
#   bench_daemon_stop            # SIGTERM, wait; prints its exit status
#   bench_instructions CMD...    # callgrind's instruction total of CMD

# bench_tmp NAME: a private directory $T and the EXIT trap that cleans up.
bench_tmp() {
    T=$(mktemp -d "${TMPDIR:-/tmp}/$1.XXXXXX")
    DPID=""
    trap bench_cleanup EXIT
    trap 'exit 130' INT TERM
}

bench_cleanup() {
    [ -z "$DPID" ] || kill -KILL "$DPID" 2>/dev/null || true
    rm -rf "$T"
}

# bench_daemon PIN ARGS...: start $DAEMON on $T/m.sock under PIN (a command
# prefix such as "taskset -c 0", or ""), with --log-file $T/mediator.log and
# ARGS; wait at most 10 s for its socket. Sets DPID.
bench_daemon() {
    pin=$1
    shift
    rm -f "$T/m.sock"
    $pin "$DAEMON" --socket "$T/m.sock" --log-file "$T/mediator.log" "$@" &
    DPID=$!
    i=0
    while [ ! -S "$T/m.sock" ]; do
        i=$((i + 1))
        [ "$i" -le 200 ] || { echo "no daemon socket after 10 s" >&2; exit 1; }
        kill -0 "$DPID" || { echo "the daemon exited" >&2; exit 1; }
        sleep 0.05
    done
}

# bench_daemon_stop: SIGTERM and wait; print its exit status.
bench_daemon_stop() {
    kill -TERM "$DPID"
    rc=0
    wait "$DPID" || rc=$?
    DPID=""
    echo "daemon exit status: $rc"
}

# bench_instructions CMD...: the instructions callgrind counts for CMD.
bench_instructions() {
    valgrind --tool=callgrind --callgrind-out-file=/dev/null "$@" 2>&1 |
        sed -n 's/.*Collected : *\([0-9]*\).*/\1/p'
}
