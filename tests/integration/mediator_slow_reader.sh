#!/bin/sh
# A peer that sends requests and never reads is disconnected once its output
# buffer (--output-kib) fills; the daemon's memory stays bounded and a good
# peer is served throughout.
set -eu
. "$(dirname "$0")/lib.sh"
it_init "$@"
RSS_MAX_KIB=$((64 * 1024))
# The flood may end (disconnected) between two RSS samples, so the peak is
# also read from VmHWM, the kernel's high-water mark, which cannot miss it:
# it may grow by the output bound and working buffers, far below this.
HWM_GROWTH_MAX_KIB=$((8 * 1024))
start_daemon --pool A=cpu --output-kib 256 --log-level warn

hwm_kib() {
    awk '/^VmHWM:/ { print $2 }' "/proc/$1/status"
}
peer_bg good --vm-id 1 --op random --verify --pipeline 2 --duration-ms 3000
sleep 0.2
hwm0=$(hwm_kib "$DPID")
peer_bg flood --vm-id 2 --no-read --duration-ms 8000
max=0
while [ -f "$T/flood.pid" ] && kill -0 "$(cat "$T/flood.pid")" 2>/dev/null; do
    r=$(rss_kib "$DPID")
    [ "$r" -le "$max" ] || max=$r
    sleep 0.05
done
frc=0
peer_wait flood || frc=$?
hwm1=$(hwm_kib "$DPID")
cat "$T/flood.out"
[ "$frc" -eq 0 ] || fail "the non-reading peer was not disconnected"
peer_check good
lat=$(field lat_max_us "$T/good.out")
echo "daemon VmRSS peak while flooded: $max KiB; good peer's slowest" \
    "response: $lat us"
echo "daemon VmHWM: $hwm0 KiB before the flood, $hwm1 KiB after" \
    "($((hwm1 - hwm0)) KiB growth; output bound 256 KiB)"
[ "$lat" -lt 1000000 ] || fail "the good peer waited $lat us"
if is_sanitized; then
    echo "(sanitizer build: RSS bound of $RSS_MAX_KIB KiB not enforced)"
else
    [ "$max" -le "$RSS_MAX_KIB" ] || fail "RSS $max KiB over $RSS_MAX_KIB"
    [ $((hwm1 - hwm0)) -le "$HWM_GROWTH_MAX_KIB" ] ||
        fail "VmHWM grew by $((hwm1 - hwm0)) KiB"
fi
# The server names the full output buffer; the core names the VM it closes.
grep -E 'output buffer full.*not reading' "$LOG" ||
    fail "no log line about the full output buffer"
grep -E 'vm=2: .*closing' "$LOG" || fail "no log line closing vm=2"
stop_daemon
[ "$DRC" -eq 0 ] || fail "daemon exit status $DRC"
echo "PASS: slow reader disconnected"
