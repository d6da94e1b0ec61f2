#!/bin/sh
# vgpu-admin status and top (docs/admin-guide.md, "A live view") against a
# daemon that vgpu-sim keeps busy: status's VM rows with the registry's
# names and live rates; top run in tmux as a person runs it: its screen
# (capture-pane) shows the VMs, a resize cuts its lines to the new width,
# q quits with status 0, and a daemon that goes away ends it with status 1.
#
# usage: admin_top.sh VGPU_MEDIATOR VGPU_SIM VGPU_ADMIN
set -eu
. "$(dirname "$0")/lib.sh"
it_init "$1" "$2"
SIM=$PEER
ADMIN=$3
it_need "$ADMIN" vgpu-admin
command -v tmux >/dev/null 2>&1 || { echo "SKIP: no tmux"; exit 77; }
# A tmux server of its own for each run of top: a server whose last
# session just ended may still be going away when the next one starts.
NTOP=0
TM="tmux -S $T/tmux0.sock"
# The EXIT trap: the tmux server goes too; it_cleanup reads the status.
top_cleanup() {
    itrc=$?
    for sock in "$T"/tmux*.sock; do
        [ -S "$sock" ] && tmux -S "$sock" kill-server >/dev/null 2>&1 || true
    done
    (exit "$itrc") || it_cleanup
    it_cleanup
}
trap top_cleanup EXIT

{
    printf '[vm "web-1"]\nvm_id = 100\npool = A\npriority = high\n'
    printf '[vm "batch-2"]\nvm_id = 101\npool = B\npriority = low\n'
    printf '[vm "db-3"]\nvm_id = 102\npool = A\npriority = high\n'
} >"$T/vms.conf"

# Usage errors and --help.
"$ADMIN" top --help | grep -q 'q quits' || fail "top --help"
"$ADMIN" status --help | grep -q '^usage: vgpu-admin status' || fail "status --help"
rc=0
"$ADMIN" top --interval 0 2>"$T/err" || rc=$?
[ "$rc" -eq 2 ] && grep -q -- '--interval' "$T/err" || fail "--interval 0: $rc"
rc=0
"$ADMIN" status --control "$T/nothing.ctl" 2>"$T/err" || rc=$?
[ "$rc" -eq 1 ] && grep -q 'cannot reach the mediator' "$T/err" ||
    fail "status without a daemon: $rc $(cat "$T/err")"

start_daemon --pool A=cpu:delay_us=2000 --pool B=cpu:delay_us=2000
"$SIM" --socket "$SOCK" --vms 3 --pools AB --priorities high,low \
    --op add_i32 --requests 100000 --vm-id-base 100 >"$T/sim.out" 2>&1 &
echo $! >"$T/sim.pid"

# status: the three VMs, named, connected, with requests/s once they run.
i=0
while :; do
    "$ADMIN" status --socket "$SOCK" --registry "$T/vms.conf" \
        --interval 0.3 >"$T/status.out"
    n=$(grep -cE '^ +10[0-2] (web-1|batch-2|db-3) +[AB] +(high|low) +yes +[1-9]' \
        "$T/status.out" || true)
    [ "$n" -eq 3 ] && break
    i=$((i + 1))
    [ "$i" -le 40 ] || { cat "$T/status.out"; fail "status: not 3 busy VMs"; }
done
grep -qE '^A +2 +[0-9.]+ +[1-9][0-9.]*$' "$T/status.out" ||
    { cat "$T/status.out"; fail "status: pool A's row"; }
cat "$T/status.out"

# screen PATTERN: wait (at most 10 s) until top's screen has a line that
# matches the extended regular expression; the screen is in $T/screen.
screen() {
    i=0
    while :; do
        $TM capture-pane -p -t top >"$T/screen" 2>/dev/null || true
        grep -qE "$1" "$T/screen" && return 0
        i=$((i + 1))
        [ "$i" -le 200 ] || { cat "$T/screen"; fail "top's screen never showed /$1/"; }
        sleep 0.05
    done
}
start_top() {
    rm -f "$T/top.rc"
    NTOP=$((NTOP + 1))
    TM="tmux -S $T/tmux$NTOP.sock"
    $TM new-session -d -s top -x 120 -y 30 \
        "'$ADMIN' top --socket '$SOCK' --registry '$T/vms.conf' --interval 0.2 2>'$T/top.err'; echo \$? >'$T/top.rc'"
}

start_top
screen '^vgpu-admin top - '
screen '^ +100 web-1 +A +high +yes +[1-9]'
for row in '101 batch-2 +B +low' '102 db-3 +A +high'; do
    grep -qE "^ +$row +yes" "$T/screen" || { cat "$T/screen"; fail "no row $row"; }
done
cat "$T/screen"

# A narrower terminal, as a window manager makes it: the pane's tty gets a
# new size (the kernel sends top SIGWINCH). tmux keeps drawing 120
# columns (its resize-window once brought tmux 3.3a's server down here), so
# a top that did not follow would still show lines over 50 columns.
tty=$($TM display-message -p -t top '#{pane_tty}')
[ -c "$tty" ] || fail "no tty for top's pane: '$tty'"
stty -F "$tty" cols 50 rows 20
screen '^vgpu-admin top - .{33}$'
awk 'length($0) > 50 { bad = 1 } END { exit bad }' "$T/screen" ||
    { cat "$T/screen"; fail "a line over 50 columns after the resize"; }
[ "$(grep -c . "$T/screen")" -le 20 ] || fail "more than 20 lines after the resize"
grep -qE '^ +100 web-1 ' "$T/screen" || { cat "$T/screen"; fail "no row 100 after the resize"; }

# q quits, status 0.
$TM send-keys -t top q
wait_file "$T/top.rc"
[ "$(cat "$T/top.rc")" -eq 0 ] || fail "top exited with $(cat "$T/top.rc") after q"

# The daemon goes away: top ends, status 1, saying so.
start_top
screen '^ +100 web-1 '
kill "$(cat "$T/sim.pid")" 2>/dev/null || true
stop_daemon
wait_file "$T/top.rc"
[ "$(cat "$T/top.rc")" -eq 1 ] || fail "top exited with $(cat "$T/top.rc") when the daemon went"
grep -q 'went away' "$T/top.err" || { cat "$T/top.err"; fail "top did not say why"; }
echo "admin_top: ok"
