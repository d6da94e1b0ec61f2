#!/bin/sh
# Peers that never speak, and too many of them (docs/mediator.md, "Silent
# peers and the connection cap"): the daemon runs under a limit of 64
# descriptors; 200 connections that never send HELLO are opened and held.
#   - the cap derived from the limit (32) is logged at start;
#   - each connection over the cap is closed at once, each under it at its
#     HELLO deadline (--hello-timeout-ms 1000): all 200 are closed by the
#     daemon within a few seconds, none held for ever;
#   - --stats answers during the flood (the control socket has its own cap);
#   - the log has at most one line a second about it (counted), never the
#     old ten "accept failed" lines a second;
#   - a real device is served once the flood is over.
# Skips (77) without python3 (the flood's client).
set -eu
. "$(dirname "$0")/lib.sh"
it_init "$@"
if ! command -v python3 >/dev/null 2>&1; then
    echo "SKIP: python3 (the flood's client) is not installed"
    exit 77
fi
FLOOD=200
HOLD_S=4

# The daemon alone runs under the limit (soft and hard: it cannot raise
# it); the flood's client does not.
REAL=$DAEMON
printf '#!/bin/sh\nulimit -n 64\nexec "%s" "$@"\n' "$REAL" >"$T/lowfd.sh"
chmod +x "$T/lowfd.sh"
DAEMON=$T/lowfd.sh
start_daemon --pool A=cpu --hello-timeout-ms 1000
DAEMON=$REAL
grep -q 'soft limit 64 .*at most 32 device connections; HELLO within 1000 ms' \
    "$LOG" || fail "the limits are not logged: $(grep descriptors "$LOG")"

# The flood: open FLOOD connections, hold them HOLD_S seconds, print how
# many the daemon closed (a read of 0 bytes or a reset) in that time.
python3 - "$SOCK" "$FLOOD" "$HOLD_S" >"$T/flood.out" 2>&1 <<'PY' &
import socket, sys, time, select
path, n, hold = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
socks = []
for _ in range(n):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(path)
    except OSError:
        s.close()
        continue
    socks.append(s)
open_ = set(socks)
end = time.time() + hold
while open_ and time.time() < end:
    r, _, _ = select.select(list(open_), [], [], 0.1)
    for s in r:
        try:
            data = s.recv(64)
        except OSError:
            data = b""
        if not data:
            open_.discard(s)
print("connected %d closed-by-daemon %d" % (len(socks), len(socks) - len(open_)))
PY
FPID=$!
echo "$FPID" >"$T/flood.pid"

# During the flood: --stats gets in.
sleep 0.5
rc=0
timeout 10 "$DAEMON" --socket "$SOCK" --stats >"$T/stats" 2>&1 || rc=$?
[ "$rc" -eq 0 ] || fail "--stats during the flood: status $rc: $(cat "$T/stats")"

wait_exit "$FPID" 20 || fail "the flood client did not finish in 20 s"
wait "$FPID" || true
cat "$T/flood.out"
set -- $(cat "$T/flood.out")
[ "${2:-0}" -gt 0 ] || fail "no flood connection was accepted"
[ "$2" = "$4" ] ||
    fail "$2 connections, only $4 closed by the daemon within ${HOLD_S} s"

kill -0 "$DPID" || fail "the daemon died under the flood"
capped=$(grep -c 'closed at the connection cap' "$LOG" || true)
silent=$(grep -c 'no HELLO within hello_timeout_ms' "$LOG" || true)
accept=$(grep -c 'accept' "$LOG" || true)
echo "log lines: $capped at the cap, $silent silent, $accept about accept"
# HOLD_S seconds of flood: one line a second at most of each kind.
[ "$capped" -ge 1 ] || fail "the cap left no log line"
[ "$silent" -ge 1 ] || fail "the HELLO deadline left no log line"
[ "$capped" -le $((HOLD_S + 2)) ] || fail "$capped cap lines in ${HOLD_S} s"
[ "$silent" -le $((HOLD_S + 2)) ] || fail "$silent silent lines in ${HOLD_S} s"
grep -q 'connection cap ([0-9]* since start)' "$LOG" ||
    fail "the cap line carries no count"

peer ok --vm-id 1 --pool A --count 5 || fail "a device after the flood: $(tail -n 5 "$T/ok.out")"
stop_daemon || fail "the daemon did not exit 0"
echo "PASS: 200 silent connections under 64 descriptors, all closed, log bounded"
