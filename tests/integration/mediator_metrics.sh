#!/bin/sh
# The metrics endpoint (docs/mediator.md, "Metrics"): scraped with curl
# while vgpu-sim drives four VMs through the daemon, and its numbers checked
# against what the simulator counted; the histograms' shape; 404 and 405;
# bad metrics_listen values refused at start; the TCP form.
#
# usage: mediator_metrics.sh VGPU_MEDIATOR VGPU_SIM
set -eu
. "$(dirname "$0")/lib.sh"
it_init "$@"
SIM=$PEER
command -v curl >/dev/null 2>&1 || { echo "SKIP: no curl"; exit 77; }

MSOCK=$T/metrics.sock
printf '[mediator]\nmetrics_listen = unix:%s\n' "$MSOCK" >"$T/m.conf"
scrape() {
    curl -sS --max-time 10 --unix-socket "$MSOCK" "http://localhost$1"
}
# metric NAME_AND_LABELS: the value of the one sample in $T/m.txt that
# starts with it (labels in the order the daemon writes them).
metric() {
    awk -v k="$1" 'index($0, k) == 1 && substr($0, length(k) + 1, 1) == " " \
        { print $2; n++ } END { if (n != 1) exit 1 }' "$T/m.txt" ||
        { cat "$T/m.txt"; fail "not exactly one sample $1"; }
}

# Each request sleeps 2 ms in the backend, so the run lasts a while.
start_daemon --config "$T/m.conf" --pool A=cpu:delay_us=2000 --pool B=cpu
wait_socket "$MSOCK" "$DPID" || fail "no metrics socket"
scrape /metrics >"$T/m.txt"
grep -q '^vgpu_mediator_build_info{version="[0-9][^"]*"} 1$' "$T/m.txt" ||
    { cat "$T/m.txt"; fail "no build_info"; }
[ "$(metric vgpu_mediator_vms_connected)" -eq 0 ] || fail "VMs before any"
start=$(metric vgpu_mediator_start_time_seconds)
[ "$start" -gt 1000000000 ] || fail "start_time_seconds $start"

# Four VMs on pools A and B, two priorities; scraped while they run.
"$SIM" --socket "$SOCK" --vms 4 --pools AB --priorities high,low \
    --op add_i32 --requests 500 --vm-id-base 100 --seed 7 \
    >"$T/sim.out" 2>&1 &
SPID=$!
i=0
while :; do
    scrape /metrics >"$T/m.txt" || fail "scrape during the run"
    [ "$(metric vgpu_mediator_vms_connected)" -eq 4 ] && break
    kill -0 "$SPID" 2>/dev/null || fail "the simulator ended before 4 VMs showed"
    i=$((i + 1))
    [ "$i" -le 400 ] || fail "never 4 VMs connected in the metrics"
    sleep 0.025
done
echo "during the run: $(grep -c '^vgpu_mediator_requests_total{' "$T/m.txt") VMs"
src=0
wait "$SPID" || src=$?
[ "$src" -eq 0 ] || { cat "$T/sim.out"; fail "vgpu-sim exited with $src"; }

# After the run: the daemon's counts against the simulator's.
i=0
while :; do
    scrape /metrics >"$T/m.txt"
    [ "$(metric vgpu_mediator_vms_connected)" -eq 0 ] && break
    i=$((i + 1))
    [ "$i" -le 200 ] || fail "VMs still connected 10 s after the run"
    sleep 0.05
done
"$DAEMON" --socket "$SOCK" --stats >"$T/stats" || fail "--stats failed"
total=0
for line in $(sed -n 's/^vm=\([0-9]*\) pool=\(.\) priority=\([a-z]*\) requests=\([0-9]*\) errors=\([0-9]*\) .*/\1:\2:\3:\4:\5/p' "$T/sim.out"); do
    IFS=: read -r vm pool prio req errs <<EOF2
$line
EOF2
    l="vm_id=\"$vm\",pool=\"$pool\",priority=\"$prio\""
    got=$(metric "vgpu_mediator_requests_total{$l}")
    [ "$got" -eq "$req" ] || fail "vm $vm: $got requests, the simulator sent $req"
    ok=$(metric "vgpu_mediator_responses_total{$l,status=\"NONE\"}")
    [ "$ok" -eq $((req - errs)) ] || fail "vm $vm: $ok answers NONE, not $((req - errs))"
    ran=$(metric "vgpu_mediator_requests_executed_total{$l,op=\"ADD_I32\",status=\"NONE\"}")
    [ "$ran" -eq $((req - errs)) ] || fail "vm $vm: $ran ADD_I32 executed, not $((req - errs))"
    for h in wait service; do
        n=$(metric "vgpu_mediator_request_${h}_seconds_count{$l}")
        inf=$(metric "vgpu_mediator_request_${h}_seconds_bucket{$l,le=\"+Inf\"}")
        [ "$n" -eq "$req" ] && [ "$inf" -eq "$n" ] ||
            fail "vm $vm: $h histogram count $n, +Inf $inf, not $req"
        # Cumulative: never decreasing, never over the count.
        grep "^vgpu_mediator_request_${h}_seconds_bucket{$l," "$T/m.txt" |
            awk -v n="$n" '$2 < prev || $2 > n { bad = 1 } { prev = $2 }
                           END { exit bad }' || fail "vm $vm: $h buckets"
    done
    # A backend delay of 2 ms: pool A's service times are all over 1 ms.
    if [ "$pool" = A ]; then
        b=$(metric "vgpu_mediator_request_service_seconds_bucket{$l,le=\"0.001048576\"}")
        [ "$b" -eq 0 ] || fail "vm $vm: $b requests under 1 ms on a 2 ms backend"
    fi
    [ "$(metric "vgpu_mediator_vm_connected{$l}")" -eq 0 ] || fail "vm $vm connected"
    # Executor time (issue 23): what --stats says, in seconds; at least
    # 2 ms a request on pool A; the share and target gauges in 0..1.
    ex=$(metric "vgpu_mediator_vm_executor_seconds_total{$l}")
    ex_us=$(sed -n "s/^vm=$vm .* executor_us=\([0-9]*\).*/\1/p" "$T/stats")
    [ -n "$ex_us" ] || { cat "$T/stats"; fail "vm $vm: no executor_us in --stats"; }
    awk -v m="$ex" -v u="$ex_us" 'BEGIN { d = m * 1e6 - u; exit !(d < 1 && d > -1) }' ||
        fail "vm $vm: executor ${ex} s in the metrics, ${ex_us} us in --stats"
    if [ "$pool" = A ]; then
        awk -v m="$ex" -v r="$req" 'BEGIN { exit !(m >= r * 0.002) }' ||
            fail "vm $vm: executor $ex s for $req requests of 2 ms"
    fi
    for g in share share_target; do
        v=$(metric "vgpu_mediator_vm_${g}_ratio{$l}")
        awk -v v="$v" 'BEGIN { exit !(v >= 0 && v <= 1) }' ||
            fail "vm $vm: ${g}_ratio $v"
    done
    [ "$(metric "vgpu_mediator_queue_depth{$l}")" -eq 0 ] || fail "vm $vm queued"
    total=$((total + req))
done
[ "$total" -eq 2000 ] || { cat "$T/sim.out"; fail "the simulator's VMs: $total requests"; }
busy=$(metric 'vgpu_mediator_executor_busy_seconds_total{pool="A",backend="cpu:delay_us=2000"}')
awk -v b="$busy" 'BEGIN { exit !(b >= 2.0) }' ||
    fail "pool A busy $busy s, under 1000 requests x 2 ms"
echo "requests $total as counted by vgpu-sim; pool A busy $busy s"

# Every metric the Grafana dashboard (packaging/grafana) asks for is one
# the daemon serves.
DASH=$(dirname "$0")/../../packaging/grafana/vgpu-mediator.json
[ -f "$DASH" ] || fail "no dashboard at $DASH"
# Balanced brackets (a light check of the JSON; the suite uses no Python).
count() { tr -cd "$1" <"$DASH" | wc -c; }
[ "$(count '{')" -eq "$(count '}')" ] && [ "$(count '[')" -eq "$(count ']')" ] ||
    fail "the dashboard's brackets are unbalanced"
names=$(grep -o 'vgpu_mediator_[a-z_]*' "$DASH" | sed 's/_bucket$//' | sort -u)
[ -n "$names" ] || fail "no metric in the dashboard"
for name in $names; do
    grep -q "^# TYPE $name " "$T/m.txt" || fail "the dashboard's $name is not served"
done
echo "the dashboard's $(echo "$names" | wc -l) metrics are all served"

# Only GET/HEAD of /metrics.
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 \
    --unix-socket "$MSOCK" http://localhost/other)
[ "$code" = 404 ] || fail "/other: HTTP $code, not 404"
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 -X POST -d x \
    --unix-socket "$MSOCK" http://localhost/metrics)
[ "$code" = 405 ] || fail "POST: HTTP $code, not 405"
# A request over the 16 KiB bound: refused (431), and the next is served.
big=$(head -c 20000 /dev/zero | tr '\0' a)
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 -H "X-Big: $big" \
    --unix-socket "$MSOCK" http://localhost/metrics)
[ "$code" = 431 ] || fail "a 20000-byte header: HTTP $code, not 431"
curl -sS -I --max-time 10 --unix-socket "$MSOCK" http://localhost/metrics |
    grep -qi '^content-type: text/plain; version=0.0.4' || fail "content type"
stop_daemon
[ "$DRC" -eq 0 ] || fail "the daemon exited with status $DRC"
[ ! -e "$MSOCK" ] || fail "the metrics socket is left behind"

# Bad values: one line naming the key, exit 2.
for v in 'unix:relative/path' '0.0.0.0' '127.0.0.1:0' '127.0.0.1:70000' \
    'localhost:9400' '[::1:9400'; do
    printf '[mediator]\nmetrics_listen = %s\n' "$v" >"$T/bad.conf"
    rc=0
    "$DAEMON" --socket "$SOCK" --config "$T/bad.conf" >"$T/bad.out" 2>&1 || rc=$?
    [ "$rc" -eq 2 ] || { cat "$T/bad.out"; fail "metrics_listen = $v: status $rc"; }
    grep -q 'metrics_listen' "$T/bad.out" || { cat "$T/bad.out"; fail "$v: no key named"; }
done

# The TCP form, on a port the kernel picks free: try a few.
for port in 19471 19483 19497 19511 19523; do
    printf '[mediator]\nmetrics_listen = 127.0.0.1:%s\n' "$port" >"$T/tcp.conf"
    start_daemon --config "$T/tcp.conf"
    if curl -sS --max-time 10 "http://127.0.0.1:$port/metrics" >"$T/m.txt" 2>/dev/null &&
        grep -q '^vgpu_mediator_vms_connected 0$' "$T/m.txt"; then
        stop_daemon
        echo "mediator_metrics: ok"
        exit 0
    fi
    stop_daemon
done
fail "no scrape over TCP on any of the ports tried"
