#!/bin/sh
# vgpu-sim in socket mode against a real vgpu-mediator: 8 VMs on pools A-D
# with every priority, each VM its own connection, every operation verified
# against the CPU backend run locally; and the --json summary parses.
#
# usage: sim_socket.sh VGPU_MEDIATOR VGPU_SIM
set -eu
. "$(dirname "$0")/lib.sh"
it_init "$@"
SIM=$PEER

start_daemon --pool A=cpu --pool B=cpu

base=100
for op in nop echo add_i32 add_f32 saxpy_f32 dot_f32 matmul_f32; do
    src=0
    "$SIM" --socket "$SOCK" --vms 8 --pools ABCD --priorities high,medium,low \
        --op "$op" --requests 200 --vm-id-base "$base" --seed "$base" \
        >"$T/$op.out" 2>&1 || src=$?
    if [ "$src" -ne 0 ]; then
        cat "$T/$op.out"
        fail "vgpu-sim --op $op exited with status $src"
    fi
    grep -q '^  total requests  *1600$' "$T/$op.out" ||
        { cat "$T/$op.out"; fail "$op: not 1600 requests"; }
    grep -q '^  mismatches  *0$' "$T/$op.out" ||
        { cat "$T/$op.out"; fail "$op: mismatches"; }
    [ "$(grep -c '^vm=.* requests=200 errors=0 mismatches=0 ' "$T/$op.out")" \
        -eq 8 ] || { cat "$T/$op.out"; fail "$op: a VM line is wrong"; }
    echo "$op: $(sed -n 's/^  requests\/s  *//p' "$T/$op.out") requests/s"
    base=$((base + 100))
done

# The daemon saw the simulated devices' requests.
grep -q 'vm=100 req=.* op=NOP status=NONE' "$LOG" ||
    fail "no NOP of vm 100 in the daemon's log"
grep -q 'vm=707 req=.* op=MATMUL_F32 status=NONE' "$LOG" ||
    fail "no MATMUL_F32 of vm 707 in the daemon's log"

# --json: one object with the summary's keys.
"$SIM" --socket "$SOCK" --vms 8 --pools ABCD --op add_i32 --requests 100 \
    --vm-id-base 900 --json >"$T/json.out" 2>"$T/json.err" ||
    { cat "$T/json.out" "$T/json.err"; fail "vgpu-sim --json failed"; }
[ "$(wc -l <"$T/json.out")" -eq 1 ] || fail "--json printed more than a line"
for key in '"mode":"socket"' '"op":"ADD_I32"' '"vms":8' '"requests":800' \
    '"errors":0' '"errors_by_name":{}' '"mismatches":0' '"requests_per_s":' \
    '"latency_us":{"p50":' '"executor_share":' '"per_vm":\[{"vm":900,'; do
    grep -q "$key" "$T/json.out" || { cat "$T/json.out"; fail "no $key"; }
done
# One object, balanced brackets (a light check; the suite uses no Python).
j=$(cat "$T/json.out")
case "$j" in
"{"*"}") ;;
*) fail "the --json output is not one object" ;;
esac
count() { printf '%s' "$j" | tr -cd "$1" | wc -c; }
[ "$(count '{')" -eq "$(count '}')" ] && [ "$(count '[')" -eq "$(count ']')" ] ||
    fail "the --json output has unbalanced brackets"
# The daemon reports service_total_us, so the executor share is measured.
grep -q '"executor_share":{"high":[0-9]' "$T/json.out" ||
    { cat "$T/json.out"; fail "executor_share not measured in socket mode"; }

stop_daemon
[ "$DRC" -eq 0 ] || fail "the daemon exited with status $DRC"
echo "sim_socket: ok"
