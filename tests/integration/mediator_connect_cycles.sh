#!/bin/sh
# 10,000 connect/HELLO/NOP/disconnect cycles leak neither file descriptors
# nor memory in the daemon.
set -eu
. "$(dirname "$0")/lib.sh"
it_init "$@"
CYCLES=${VGPU_CYCLES:-10000}
start_daemon --pool A=cpu --log-level warn

# Warm up first: the first connections allocate the VM's record, the
# allocator's arenas and the log's buffers.
peer warmup --vm-id 1 --connect-cycles 200 ||
    { cat "$T/warmup.out"; fail "warm-up cycles failed"; }
fd0=$(fd_count "$DPID")
rss0=$(rss_kib "$DPID")
peer cycles --vm-id 1 --connect-cycles "$CYCLES" --timeout-ms 5000 ||
    { cat "$T/cycles.out"; fail "cycles failed"; }
head -n 1 "$T/cycles.out"
sleep 0.2
fd1=$(fd_count "$DPID")
rss1=$(rss_kib "$DPID")
echo "daemon fds: $fd0 before, $fd1 after; VmRSS: $rss0 KiB before," \
    "$rss1 KiB after ($((rss1 - rss0)) KiB growth)"
[ "$fd1" -eq "$fd0" ] || fail "fd count grew from $fd0 to $fd1"
if is_sanitized; then
    echo "(sanitizer build: RSS growth not enforced)"
else
    [ $((rss1 - rss0)) -lt 1024 ] || fail "RSS grew by $((rss1 - rss0)) KiB"
fi
stop_daemon
[ "$DRC" -eq 0 ] || fail "daemon exit status $DRC"
echo "PASS: $CYCLES cycles, no growth"
