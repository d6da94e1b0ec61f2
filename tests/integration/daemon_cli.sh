#!/bin/sh
# vgpu-mediator as a process: --help, bad flags, --check-config, the socket
# (directory created, mode 0660), --stats, a second daemon refused, a stale
# socket replaced, SIGHUP reopening the log, SIGTERM exiting 0 and removing
# the sockets.
set -eu
DAEMON=${1:?usage: $0 VGPU_MEDIATOR [VGPU_CTLQUERY]}
CTLQ=${2:-}
if [ ! -x "$DAEMON" ]; then
    echo "SKIP: $DAEMON is not built"
    exit 77
fi
T=$(mktemp -d "${TMPDIR:-/tmp}/vgpu-cli.XXXXXX")
DPID=""
cleanup() {
    rc=$?
    if [ -n "$DPID" ]; then
        kill -KILL "$DPID" 2>/dev/null || true
    fi
    if [ "$rc" -ne 0 ] && [ -f "$T/log" ]; then
        echo "---- daemon log ----"
        cat "$T/log"
    fi
    rm -rf "$T"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

fail() {
    echo "FAIL: $*"
    exit 1
}

# expect_rc WANT CMD...: run CMD (output in $T/out), check its exit status.
expect_rc() {
    want=$1
    shift
    got=0
    "$@" >"$T/out" 2>&1 || got=$?
    [ "$got" -eq "$want" ] || {
        cat "$T/out"
        fail "exit status $got, not $want: $*"
    }
}

# wait_socket PATH PID: at most 10 s for PATH to be a socket.
wait_socket() {
    i=0
    while [ ! -S "$1" ]; do
        kill -0 "$2" 2>/dev/null || fail "the daemon exited at start"
        i=$((i + 1))
        [ "$i" -le 200 ] || fail "no socket at $1 after 10 s"
        sleep 0.05
    done
}

# wait_exit PID SECONDS: wait until PID has exited.
wait_exit() {
    i=0
    while kill -0 "$1" 2>/dev/null; do
        i=$((i + 1))
        [ "$i" -le $(($2 * 20)) ] || return 1
        sleep 0.05
    done
}

# ---- --help and --version list and exit 0
expect_rc 0 "$DAEMON" --help
for flag in --config --socket --control --policy --weights --max-wait-ms \
    --vm-queue-cap --pool --default-backend --output-kib --log-level \
    --log-file --check-config --stats --cpu-workers --help --version; do
    grep -qE -- "^ +(-h, )?$flag( |\$)" "$T/out" ||
        fail "--help does not list $flag"
done
expect_rc 0 "$DAEMON" --version
grep -q '^vgpu-mediator [0-9]' "$T/out" || fail "--version: $(cat "$T/out")"

# ---- bad flags exit 2 and name the flag and the value
expect_rc 2 "$DAEMON" --bogus-flag
grep -q -- "--bogus-flag" "$T/out" || fail "bad flag not named"
expect_rc 2 "$DAEMON" --policy fast
grep -q -- "^vgpu-mediator: --policy: 'fast' is not one of priority, weighted" \
    "$T/out" || fail "bad --policy: $(cat "$T/out")"
expect_rc 2 "$DAEMON" --pool A=nosuch
grep -q -- "--pool.*'nosuch'" "$T/out" || fail "bad --pool: $(cat "$T/out")"
expect_rc 2 "$DAEMON" --max-wait-ms 3600001
grep -q -- "--max-wait-ms: '3600001'" "$T/out" || fail "bad --max-wait-ms"
expect_rc 2 "$DAEMON" --socket
grep -q -- "--socket" "$T/out" || fail "missing value not named"
expect_rc 2 "$DAEMON" --cpu-workers 0
grep -q -- "^vgpu-mediator: --cpu-workers: '0' is not an integer in 1..64" \
    "$T/out" || fail "bad --cpu-workers: $(cat "$T/out")"

# ---- --check-config
cat >"$T/good.conf" <<EOF
; a good file
[mediator]
policy = weighted
weight_high = 8
max_wait_ms = 500
output_kib = 64
cpu_workers = 3

[pools]
A = cpu
B = cpu:delay_us=1000
EOF
printf '[mediator]\nlog_level = info\npolicy = fast\n' >"$T/bad.conf"
printf '[mediator]\n[nosuch]\n' >"$T/badsec.conf"
printf '[mediator]\ncpu_workers = many\n' >"$T/badworkers.conf"
expect_rc 0 "$DAEMON" --check-config "$T/good.conf"
grep -qx "$T/good.conf: ok" "$T/out" || fail "check-config: $(cat "$T/out")"
expect_rc 2 "$DAEMON" --check-config "$T/bad.conf"
grep -q "^$T/bad.conf:3: policy: 'fast' is not one of priority, weighted" \
    "$T/out" || fail "check-config bad: $(cat "$T/out")"
expect_rc 2 "$DAEMON" --check-config "$T/badworkers.conf"
grep -q "^$T/badworkers.conf:2: cpu_workers: 'many' is not an integer" \
    "$T/out" || fail "check-config cpu_workers: $(cat "$T/out")"
expect_rc 2 "$DAEMON" --check-config "$T/badsec.conf"
grep -q "^$T/badsec.conf:2: unknown section \[nosuch\]" "$T/out" ||
    fail "check-config unknown section: $(cat "$T/out")"
expect_rc 2 "$DAEMON" --check-config "$T/none.conf"
grep -q "$T/none.conf" "$T/out" || fail "check-config missing file"
# A bad file given to --config stops the daemon with the same message.
expect_rc 2 "$DAEMON" --config "$T/bad.conf" --socket "$T/x.sock"
grep -q "^$T/bad.conf:3: policy: 'fast'" "$T/out" || fail "--config bad"

# ---- the daemon: directory created, socket 0660, --stats
SOCK=$T/run/vgpu/mediator.sock
"$DAEMON" --socket "$SOCK" --config "$T/good.conf" --log-file "$T/log" \
    --log-level debug >"$T/daemon.out" 2>&1 &
DPID=$!
wait_socket "$SOCK" "$DPID"
[ -S "$SOCK.ctl" ] || fail "no control socket at $SOCK.ctl"
# cpu_workers = 3 for each cpu string: "cpu" (A and the unmapped pools)
# and "cpu:delay_us=1000" (B).
grep -q " executors=6 " "$T/log" ||
    fail "cpu_workers = 3 did not start 6 executors: $(head -n 2 "$T/log")"
mode=$(stat -c %a "$SOCK")
[ "$mode" = 660 ] || fail "socket mode $mode, not 660"
mode=$(stat -c %a "$T/run/vgpu")
[ "$mode" = 755 ] || fail "socket directory mode $mode, not 755"
# --stats ends with the daemon's version, the one --version prints.
STATS0=$(printf 'vms 0\nversion %s' "$("$DAEMON" --version | cut -d' ' -f2)")
expect_rc 0 "$DAEMON" --socket "$SOCK" --stats
[ "$(cat "$T/out")" = "$STATS0" ] || fail "--stats: $(cat "$T/out")"
expect_rc 0 "$DAEMON" --control "$SOCK.ctl" --stats
[ "$(cat "$T/out")" = "$STATS0" ] || fail "--stats --control: $(cat "$T/out")"
# The control socket lists its commands; an unknown one points at help.
if [ -n "$CTLQ" ]; then
    expect_rc 0 "$CTLQ" "$SOCK.ctl" help
    grep -q "^  help " "$T/out" && grep -q "^  stats " "$T/out" &&
        grep -q "^  live " "$T/out" ||
        fail "help: $(cat "$T/out")"
    expect_rc 0 "$CTLQ" "$SOCK.ctl" frobnicate
    [ "$(cat "$T/out")" = "error: unknown command 'frobnicate' (try 'help')" ] ||
        fail "unknown command: $(cat "$T/out")"
fi
# Without a daemon: --reconnect-ms bounds the wait (default 5 s), then one
# line naming the control socket, exit 1.
t0=$(date +%s)
expect_rc 1 timeout 20 "$DAEMON" --socket "$T/nowhere.sock" --stats
grep -q "cannot reach the mediator at $T/nowhere.sock.ctl" "$T/out" ||
    fail "--stats without a daemon: $(cat "$T/out")"
dt=$(($(date +%s) - t0))
[ "$dt" -ge 4 ] && [ "$dt" -le 15 ] ||
    fail "--stats without a daemon gave up after $dt s, not about 5"
expect_rc 1 timeout 5 "$DAEMON" --socket "$T/nowhere.sock" --stats \
    --reconnect-ms 0
# A daemon that comes up within the window is answered.
"$DAEMON" --socket "$T/late.sock" --reconnect-ms 10000 --stats \
    >"$T/late.out" 2>&1 &
LPID=$!
sleep 1
"$DAEMON" --socket "$T/late.sock" --log-file "$T/late.log" &
L2=$!
wait "$LPID" || fail "--stats with a late daemon: $(cat "$T/late.out")"
[ "$(cat "$T/late.out")" = "$STATS0" ] ||
    fail "--stats with a late daemon: $(cat "$T/late.out")"
kill -TERM "$L2"
wait "$L2" || fail "the late daemon did not exit 0"

# ---- a second daemon on the same socket refuses to start
expect_rc 1 timeout 10 "$DAEMON" --socket "$SOCK" --log-file "$T/log2"
grep -q "another mediator is answering" "$T/out" ||
    fail "second daemon: $(cat "$T/out")"
[ -S "$SOCK" ] || fail "the second daemon removed the first one's socket"
expect_rc 0 "$DAEMON" --socket "$SOCK" --stats

# ---- SIGHUP reopens the log file
mv "$T/log" "$T/log.1"
kill -HUP "$DPID"
i=0
while [ ! -s "$T/log" ]; do
    i=$((i + 1))
    [ "$i" -le 100 ] || fail "no new log file 5 s after SIGHUP"
    sleep 0.05
done
grep -q 'SIGHUP: log reopened' "$T/log" || fail "new log: $(cat "$T/log")"
grep -q 'listening on' "$T/log.1" || fail "old log lost its lines"

# ---- SIGTERM exits 0 and removes the sockets
kill -TERM "$DPID"
wait_exit "$DPID" 5 || fail "the daemon did not exit 5 s after SIGTERM"
rc=0
wait "$DPID" || rc=$?
DPID=""
[ "$rc" -eq 0 ] || fail "exit status $rc after SIGTERM"
[ ! -e "$SOCK" ] || fail "the socket is still there after SIGTERM"
[ ! -e "$SOCK.ctl" ] || fail "the control socket is still there"
grep -q 'SIGTERM: shutting down' "$T/log" || fail "no shutdown line"

# ---- a stale socket (a killed daemon's) is replaced
"$DAEMON" --socket "$SOCK" --log-file "$T/log" >"$T/daemon.out" 2>&1 &
DPID=$!
wait_socket "$SOCK" "$DPID"
kill -KILL "$DPID"
wait "$DPID" 2>/dev/null || true
DPID=""
[ -S "$SOCK" ] || fail "SIGKILL removed the socket (test premise)"
"$DAEMON" --socket "$SOCK" --log-file "$T/log" >"$T/daemon.out" 2>&1 &
DPID=$!
i=0
until grep -q 'replaced a stale socket' "$T/log" 2>/dev/null; do
    kill -0 "$DPID" 2>/dev/null || fail "no start over a stale socket"
    i=$((i + 1))
    [ "$i" -le 200 ] || fail "the stale socket was not replaced"
    sleep 0.05
done
wait_socket "$SOCK" "$DPID"
expect_rc 0 "$DAEMON" --socket "$SOCK" --stats
kill -INT "$DPID"
wait_exit "$DPID" 5 || fail "the daemon did not exit 5 s after SIGINT"
rc=0
wait "$DPID" || rc=$?
DPID=""
[ "$rc" -eq 0 ] || fail "exit status $rc after SIGINT"

# ---- a path that is not a socket is never removed
: >"$T/plain"
expect_rc 1 timeout 10 "$DAEMON" --socket "$T/plain"
grep -q "is not a socket" "$T/out" || fail "plain file: $(cat "$T/out")"
[ -f "$T/plain" ] || fail "the plain file was removed"

echo "PASS: daemon command line, sockets and signals"
