#!/bin/sh
# The daemon under valgrind memcheck: verified requests of every op, each
# kind of bad peer, a duplicate vm_id, a peer that never reads, connect
# cycles, a stats query, and SIGTERM with requests queued. A memcheck error
# or a definitely or indirectly lost block makes valgrind exit 1, which
# fails the test.
#
# usage: mediator_valgrind.sh VGPU_MEDIATOR VGPU_TESTPEER [WRAPPER...]
# WRAPPER is the command the daemon runs under; default:
#   valgrind --error-exitcode=1 --leak-check=full
#            --errors-for-leak-kinds=definite,indirect
# Skips (77) without valgrind, or when the daemon is a sanitizer build.
set -eu
. "$(dirname "$0")/lib.sh"
if [ $# -lt 2 ]; then
    echo "usage: $0 VGPU_MEDIATOR VGPU_TESTPEER [WRAPPER...]" >&2
    exit 2
fi
it_init "$1" "$2"
shift 2
if [ $# -eq 0 ]; then
    if ! command -v valgrind >/dev/null 2>&1; then
        echo "SKIP: valgrind is not installed (Debian package valgrind)"
        exit 77
    fi
    set -- valgrind --error-exitcode=1 --leak-check=full \
        --errors-for-leak-kinds=definite,indirect
fi
if is_sanitized; then
    echo "SKIP: $DAEMON is a sanitizer build; memcheck needs a plain one"
    exit 77
fi
REAL=$DAEMON
# start_daemon runs $DAEMON: make it the wrapper around the real daemon.
{
    echo '#!/bin/sh'
    printf 'exec'
    for a in "$@" "$REAL"; do
        printf " '%s'" "$a"
    done
    printf ' "$@"\n'
} >"$T/wrapped"
chmod +x "$T/wrapped"
DAEMON=$T/wrapped
echo "daemon under: $*"

start_daemon --pool A=cpu --pool B=cpu:delay_us=20000 --output-kib 64 \
    --log-level info
W=30000 # peers' waits: memcheck makes the daemon 20-50 times slower

peer ops --vm-id 1 --op random --verify --count 300 --pipeline 4 \
    --timeout-ms $W || { cat "$T/ops.out"; fail "verified requests"; }
sed -n '/^vm=/p' "$T/ops.out"
for mode in magic version type oversize before-hello second-hello \
    bad-length; do
    peer "bad_$mode" --vm-id 100 --bad "$mode" --timeout-ms $W ||
        { cat "$T/bad_$mode.out"; fail "--bad $mode"; }
done
# The holder keeps vm_id 2 until told to stop (SIGUSR1), so the duplicate's
# HELLO always meets it, however slowly the daemon under memcheck reads.
peer_bg hold --vm-id 2 --op nop --pipeline 1 --duration-ms 600000 \
    --ready-file "$T/hold.ready" --timeout-ms $W
peer_ready hold
peer dup --vm-id 2 --expect-hello-error REJECTED --timeout-ms $W ||
    { cat "$T/dup.out"; fail "duplicate vm_id 2 was not refused"; }
peer_stop hold
peer_check hold
peer flood --vm-id 3 --no-read --duration-ms 20000 --timeout-ms $W ||
    { cat "$T/flood.out"; fail "the non-reading peer was not disconnected"; }
peer cycles --vm-id 4 --connect-cycles 50 --timeout-ms $W ||
    { cat "$T/cycles.out"; fail "connect cycles"; }
src=0
"$REAL" --socket "$SOCK" --stats >"$T/stats.out" 2>&1 || src=$?
[ "$src" -eq 0 ] || { cat "$T/stats.out"; fail "--stats exited $src"; }
grep -q '^vm=1 .* requests=300 responses=300 ' "$T/stats.out" ||
    { cat "$T/stats.out"; fail "--stats: vm=1 did not report 300/300"; }
echo "stats: $(head -n 1 "$T/stats.out")"

# SIGTERM while pool B (20 ms a request) has requests queued.
peer_bg queued --vm-id 5 --pool B --op nop --count 100 --pipeline 100 \
    --allow-status REJECTED --timestamps --timeout-ms $W
sleep 1
stop_daemon
peer_check queued
nrej=$(grep -c '^done .* status=REJECTED ' "$T/queued.out" || true)
echo "queued at SIGTERM and answered REJECTED: $nrej of 100"
[ "$nrej" -ge 1 ] || fail "nothing was queued at SIGTERM"
grep -E 'ERROR SUMMARY|definitely lost|indirectly lost|in use at exit' \
    "$T/daemon.out" || true
[ "$DRC" -eq 0 ] || {
    tail -n 60 "$T/daemon.out"
    fail "the daemon under '$*' exited $DRC"
}
if grep -q 'ERROR SUMMARY' "$T/daemon.out"; then
    grep -q 'ERROR SUMMARY: 0 errors' "$T/daemon.out" ||
        fail "memcheck reported errors"
fi
echo "PASS: the daemon ran clean under $1"
