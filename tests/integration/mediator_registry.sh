#!/bin/sh
# The daemon with a registry (SPEC.md section 9), the registry named by the
# `registry` key of its --config file: a registered VM is served; an unknown
# vm_id, a pool or a priority that differ from the registry are refused at
# HELLO with a log line naming both values. vgpu-admin then edits the
# registry and SIGHUP reloads it: the newly registered VM is admitted, a
# removed VM is refused on its next connection while its open connection
# stays up, and a registry broken by hand is not loaded (one error line; the
# old one stays in force). A registry that does not load at start stops the
# daemon with exit 2, naming file and line; so does --check-config.
set -eu
ADMIN=${1:?usage: $0 VGPU_ADMIN VGPU_MEDIATOR VGPU_TESTPEER}
shift
if [ ! -x "$ADMIN" ]; then
    echo "SKIP: $ADMIN is not built"
    exit 77
fi
. "$(dirname "$0")/lib.sh"
it_init "$@"
R=$T/vms.conf

admin() {
    "$ADMIN" --registry "$R" "$@" >"$T/admin.out" 2>&1 ||
        fail "vgpu-admin $*: $(cat "$T/admin.out")"
}

# refused NAME REASON PEER_ARGS...: HELLO refused with REJECTED, the ERROR
# text and exactly one log line carrying REASON.
refused() {
    name=$1
    reason=$2
    shift 2
    peer "$name" --expect-hello-error REJECTED "$@" ||
        fail "$name: HELLO not refused: $(cat "$T/$name.out")"
    head -n 1 "$T/$name.out"
    grep -qF "ERROR REJECTED \"$reason\"" "$T/$name.out" ||
        fail "$name: the ERROR text is not \"$reason\": $(cat "$T/$name.out")"
    c=$(grep -cF "hello refused: $reason; closing" "$LOG" || true)
    [ "$c" -eq 1 ] || fail "$name: $c log lines with '$reason' (want 1)"
}

# wait_log COUNT TEXT: at most 5 s until the log has COUNT lines with TEXT.
wait_log() {
    i=0
    while [ "$(grep -cF "$2" "$LOG" || true)" -lt "$1" ]; do
        i=$((i + 1))
        [ "$i" -le 100 ] || fail "the log never had $1 lines with '$2'"
        sleep 0.05
    done
}

admin register-vm --vm-name Test-1 --vm-id 1 --pool A --priority high
admin register-vm --vm-name Test-3 --vm-id 3 --pool A --priority medium
printf '[mediator]\nregistry = %s\n[pools]\nA = cpu\nB = cpu\n' "$R" \
    >"$T/mediator.conf"
"$DAEMON" --check-config "$T/mediator.conf" >"$T/check.out" 2>&1 ||
    fail "--check-config: $(cat "$T/check.out")"
start_daemon --config "$T/mediator.conf"
grep -q "registry $R: 2 VMs" "$LOG" || fail "no registry line at start"

# ---- the registry is authoritative
peer served1 --vm-id 1 --pool A --priority high --op add_i32 --count 20 \
    --verify || fail "Test-1 not served: $(cat "$T/served1.out")"
refused unknown "vm_id 2 is not in the registry" --vm-id 2 --pool A \
    --priority high
refused pool "vm_id 3: pool B differs from the registry's A (VM 'Test-3')" \
    --vm-id 3 --pool B --priority medium
refused prio \
    "vm_id 3: priority high differs from the registry's medium (VM 'Test-3')" \
    --vm-id 3 --pool A --priority high
peer served3 --vm-id 3 --pool A --priority medium --count 5 --verify ||
    fail "Test-3 not served: $(cat "$T/served3.out")"

# ---- edit with vgpu-admin, SIGHUP: Test-2 now admitted; Test-1 removed
# while connected: its open connection keeps being served, its next
# connection is refused
# held1 says HELLO now and sends its requests only after the reload.
start=$(($(mono_ms) + 1500))
peer_bg held1 --vm-id 1 --pool A --priority high --op add_i32 --count 5 \
    --verify --start-at-ms "$start"
wait_log 2 "vm=1: connected"
admin register-vm --vm-name Test-2 --vm-id 2 --pool B --priority low
admin remove Test-1
kill -HUP "$DPID"
wait_log 1 "SIGHUP: registry $R reloaded: 2 VMs"
peer served2 --vm-id 2 --pool B --priority low --count 5 --verify ||
    fail "Test-2 not admitted after SIGHUP: $(cat "$T/served2.out")"
peer_check held1
[ "$(field done "$T/held1.out")" -eq 5 ] || fail "held1 was not served"
# Its requests (the 21st to 25th of vm 1) came after the reload.
reload_at=$(grep -n "SIGHUP: registry $R reloaded" "$LOG" | cut -d: -f1)
held_at=$(grep -n 'vm=1 req=' "$LOG" | sed -n 21p | cut -d: -f1)
[ "$(grep -c 'vm=1 req=' "$LOG")" -eq 25 ] && [ "$reload_at" -lt "$held_at" ] ||
    fail "held1's requests were not served after the reload"
refused removed "vm_id 1 is not in the registry" --vm-id 1 --pool A \
    --priority high

# ---- a registry broken by hand: one error line, the old one stays
printf '\n[vm "Test-5"]\nvm_id = 0\n' >>"$R"
kill -HUP "$DPID"
wait_log 1 "SIGHUP: registry not reloaded"
grep -F "SIGHUP: registry not reloaded" "$LOG"
grep -qF "SIGHUP: registry not reloaded, keeping the one loaded before (2 VMs): $R:" \
    "$LOG" || fail "the reload error does not name the file and line"
[ "$(grep -c ' error ' "$LOG")" -eq 1 ] || fail "not exactly one error line"
peer again2 --vm-id 2 --pool B --priority low --count 1 ||
    fail "Test-2 refused after a failed reload: $(cat "$T/again2.out")"
peer again3 --vm-id 3 --pool A --priority medium --count 1 ||
    fail "Test-3 refused after a failed reload: $(cat "$T/again3.out")"
kill -0 "$DPID" || fail "the daemon died on a bad registry"
stop_daemon
[ "$DRC" -eq 0 ] || fail "daemon exit status $DRC"

# ---- a registry that does not load: exit 2 at start, naming file:line
rc=0
"$DAEMON" --socket "$T/other.sock" --registry "$R" --pool A=cpu \
    >"$T/start.out" 2>&1 || rc=$?
cat "$T/start.out"
[ "$rc" -eq 2 ] || fail "start with a bad registry: exit $rc, not 2"
line=$(wc -l <"$R")
grep -qxF "vgpu-mediator: $R:$line: vm_id: '0' is not a vm_id (1..4294967295, in decimal without a leading zero)" \
    "$T/start.out" || fail "the error does not name $R:$line"
[ ! -S "$T/other.sock" ] || fail "a socket was made"
rc=0
"$DAEMON" --check-config "$T/mediator.conf" >"$T/check.out" 2>&1 || rc=$?
[ "$rc" -eq 2 ] || fail "--check-config with a bad registry: exit $rc"
grep -qF "$T/mediator.conf: $R:$line:" "$T/check.out" ||
    fail "--check-config: $(cat "$T/check.out")"
rc=0
"$DAEMON" --socket "$T/other.sock" --registry "$T/none.conf" --pool A=cpu \
    >"$T/start.out" 2>&1 || rc=$?
[ "$rc" -eq 2 ] || fail "start with a missing registry: exit $rc, not 2"
grep -qF "$T/none.conf: cannot read" "$T/start.out" ||
    fail "missing registry: $(cat "$T/start.out")"
echo "PASS: registry admission, reload on SIGHUP, bad registries"
