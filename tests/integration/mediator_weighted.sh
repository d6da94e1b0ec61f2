#!/bin/sh
# Policy weighted (4:2:1): three saturating peers, high, medium and low, on a
# pool that takes 2 ms per request, run by W executors (VGPU_IT_WORKERS;
# each peer keeps 8 W requests in flight, so all of them stay busy). In the window where all three are
# served, their shares of completions must be 4/7, 2/7 and 1/7, each within
# 5 percentage points.
set -eu
. "$(dirname "$0")/lib.sh"
it_init "$@"
start_daemon --policy weighted --weights 4:2:1 --pool A=cpu:delay_us=2000

start=$(($(mono_ms) + 300))
peer_bg low --vm-id 1 --priority low --pipeline $((8 * W)) --duration-ms 4000 \
    --timestamps --start-at-ms $start
peer_bg medium --vm-id 2 --priority medium --pipeline $((8 * W)) --duration-ms 4000 \
    --timestamps --start-at-ms $start
peer_bg high --vm-id 3 --priority high --pipeline $((8 * W)) --duration-ms 4000 \
    --timestamps --start-at-ms $start
for p in low medium high; do
    peer_check $p
done
# The common window: from the latest first completion to the earliest last
# completion of the three.
shares=$(awk '
    /^done / {
        for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
        t = v["t_ns"] + 0; f = FILENAME
        if (!(f in first)) first[f] = t
        last[f] = t; n++; tt[n] = t; ff[n] = f
    }
    END {
        s = 0; e = -1
        for (f in first) {
            if (s == 0 || first[f] > s) s = first[f]
            if (e < 0 || last[f] < e) e = last[f]
        }
        for (i = 1; i <= n; i++) if (tt[i] >= s && tt[i] <= e) { c[ff[i]]++; tot++ }
        printf "%.1f %.1f %.1f %d %.0f\n", 100 * c[ARGV[1]] / tot,
            100 * c[ARGV[2]] / tot, 100 * c[ARGV[3]] / tot, tot, (e - s) / 1e6
    }' "$T/high.out" "$T/medium.out" "$T/low.out")
set -- $shares
echo "shares in the common window (${5} ms, $4 completions):" \
    "high $1%, medium $2%, low $3% (want 57.1, 28.6, 14.3 +- 5)"
[ "$4" -ge 300 ] || fail "only $4 completions in the common window"
within() { # MEASURED WANT: |MEASURED - WANT| <= 5
    awk -v m="$1" -v w="$2" 'BEGIN { d = m - w; if (d < 0) d = -d; exit !(d <= 5) }'
}
within "$1" 57.14 || fail "high share $1% is not 57.1 +- 5"
within "$2" 28.57 || fail "medium share $2% is not 28.6 +- 5"
within "$3" 14.29 || fail "low share $3% is not 14.3 +- 5"
stop_daemon
[ "$DRC" -eq 0 ] || fail "daemon exit status $DRC"
echo "PASS: weighted shares"
