#!/bin/sh
# migration.sh DAEMON PEER ADMIN SIM LEGACY_CLIENT GUIDE: docs/migration.md,
# walked as far as it runs on this machine.
#
# Every host command comes from the guide (GUIDE, docs/migration.md): `run`
# finds the line there, maps the packaged paths to this test's temporary
# ones (/etc/vgpu, /srv/vgpu, /run/vgpu) and runs it; a command the guide no
# longer prints fails the test. A simulated device (vgpu-sim, with the
# identity `vgpu-admin qemu-args` prints) stands in for the VM started with
# its device, and a logging stand-in for XCP-ng's `xe`.
#
#  1. Two VMs registered, the daemon with the registry and the files
#     directory: both answered on files; `check` (with the directory) clean.
#  2. vm-one moved: its directory renamed (the daemon drops it), its device
#     set with `xe-args --apply`, the device answered while vm-two goes on
#     with its files at the same time; `check` clean, and with the directory
#     it lists exactly vm-one.
#  3. vm-one back: `xe-args --remove --apply`, the directory back, answered
#     on files again; `check` with the directory clean.
#  Each VM's requests are counted where they are sent and in --stats:
#  every one answered once, none lost.
set -eu
. "$(dirname "$0")/lib.sh"
[ $# -eq 6 ] || {
    echo "usage: $0 VGPU_MEDIATOR VGPU_TESTPEER VGPU_ADMIN VGPU_SIM" \
        "VGPU_LEGACY_CLIENT GUIDE" >&2
    exit 2
}
ADMIN=$3
SIM=$4
LEGACY=$5
GUIDE=$6
it_init "$1" "$2"
for b in "$ADMIN" "$SIM" "$LEGACY"; do
    [ -x "$b" ] || {
        echo "SKIP: $b is not built"
        exit 77
    }
done
[ -f "$GUIDE" ] || fail "no guide at $GUIDE"

REG=$T/etc/vms.conf
CONF=$T/etc/mediator.conf
LDIR=$T/srv
mkdir -p "$T/etc" "$LDIR/vm1" "$LDIR/vm2" "$T/bin"
# xe: log the arguments, as dom0's would take them.
printf '#!/bin/sh\necho "xe $*" >>"%s/xe.log"\n' "$T" >"$T/bin/xe"
chmod +x "$T/bin/xe"
: >"$T/xe.log"
PATH=$T/bin:$PATH

# here TEXT: TEXT with the guide's paths mapped to this test's.
here() {
    printf '%s\n' "$1" | sed -e "s|/etc/vgpu/vms.conf|$REG|g" \
        -e "s|/etc/vgpu/mediator.conf|$CONF|g" -e "s|/srv/vgpu|$LDIR|g" \
        -e "s|/run/vgpu/mediator.sock|$SOCK|g"
}

# run WANT_RC 'COMMAND' [SED]: COMMAND must be a line of the guide; run it
# here (output in $T/out), after the sed expression SED when given (the
# guide's command for another VM), want exit WANT_RC.
run() {
    want=$1
    cmd=$2
    sed 's/^ *//' "$GUIDE" | grep -qxF -- "$cmd" ||
        fail "the guide no longer has the command: $cmd"
    line=$(here "$cmd" | sed -e "${3:-p;d}" |
        sed -e "s|^vgpu-admin |$ADMIN --registry $REG |" \
            -e "s|^vgpu-mediator |$DAEMON |" -e "s|^vgpu-legacy-client |$LEGACY |")
    rc=0
    eval "$line" >"$T/out" 2>&1 || rc=$?
    [ "$rc" -eq "$want" ] || {
        cat "$T/out"
        fail "'$cmd' exited $rc, not $want"
    }
}

# says TEXT: the last command printed the line TEXT (guide paths mapped).
says() {
    grep -qxF -- "$(here "$1")" "$T/out" || {
        cat "$T/out"
        fail "no line '$1'"
    }
}

# stat VM KEY: KEY's value on vm=VM's line of --stats ("" when no line).
stat_of() {
    "$DAEMON" --socket "$SOCK" --stats >"$T/stats" || fail "--stats"
    sed -n "s/^vm=$1 .* $2=\([^ ]*\).*/\1/p" "$T/stats"
}

# wait_stat VM KEY VALUE: at most 10 s for it.
wait_stat() {
    i=0
    while [ "$(stat_of "$1" "$2")" != "$3" ]; do
        i=$((i + 1))
        [ "$i" -le 200 ] || fail "vm=$1 $2 is not $3 after 10 s: $(cat "$T/stats")"
        sleep 0.05
    done
}

SENT1=0 # requests each VM sent, and had answered right
SENT2=0
# files VM POOL PRIORITY: the guide's request on files for vm-one, made
# for VM, answered 300.
files() {
    run 0 "vgpu-legacy-client --dir /srv/vgpu/vm1 --pool A --priority high 100 200" \
        "s|/vm1 --pool A --priority high |/vm$1 --pool $2 --priority $3 |"
    [ "$(cat "$T/out")" = 300 ] || fail "vm$1 on files: $(cat "$T/out")"
    eval "SENT$1=\$((SENT$1 + 1))"
}
# counted VM: --stats counted SENT<VM> requests and as many responses.
counted() {
    eval "want=\$SENT$1"
    [ "$(stat_of "$1" requests)" = "$want" ] &&
        [ "$(stat_of "$1" responses)" = "$want" ] ||
        fail "vm=$1: sent $want, stats: $(grep "^vm=$1 " "$T/stats")"
}
# on_files_clean: `check` with the files directory reports no problem, and
# --stats counted every request of both VMs once.
on_files_clean() {
    run 0 "vgpu-admin check --socket /run/vgpu/mediator.sock --legacy-dir /srv/vgpu"
    says "/etc/vgpu/vms.conf: 2 VMs, no problems"
    counted 1
    counted 2
}
VERSION=$("$DAEMON" --version | cut -d' ' -f2)

echo "== 1. both transports, every VM registered, both VMs on files"
run 0 "vgpu-admin register-vm --vm-name vm-one --vm-id 1 --pool A --priority high --uuid 5e1a0000-0000-4000-8000-000000000001"
says "registered 'vm-one' in /etc/vgpu/vms.conf: vm_id 1, pool A, priority high"
run 0 "vgpu-admin register-vm --vm-name vm-two --vm-id 2 --pool B --priority medium --uuid 5e1a0000-0000-4000-8000-000000000002"
{
    echo "[mediator]"
    sed 's/^ *//' "$GUIDE" | grep -E '^(registry|legacy_dir) = ' |
        while IFS= read -r l; do here "$l"; done
} >"$CONF"
[ "$(grep -c ' = ' "$CONF")" -eq 2 ] || fail "the guide's config lines: $(cat "$CONF")"
run 0 "vgpu-mediator --check-config /etc/vgpu/mediator.conf"
says "/etc/vgpu/mediator.conf: ok"
start_daemon --config "$CONF"
grep -q "vgpu-mediator $VERSION listening on $SOCK " "$LOG" ||
    fail "start-up line: $(head -n 1 "$LOG")"
files 1 A high
files 2 B medium
on_files_clean
echo "  ok: vm-one and vm-two on files; check clean; stats count 1 + 1"

echo "== 2. vm-one moved to its device, vm-two still on files"
run 0 "mv /srv/vgpu/vm1 /srv/vgpu/moved-vm1"
wait_stat 1 connected 0
run 0 "vgpu-admin xe-args vm-one --apply"
says 'running: xe vm-param-set uuid=5e1a0000-0000-4000-8000-000000000001 platform:device-model-args="-device vgpu-stub,pool_id=A,priority=high,vm_id=1"'
grep -qxF 'xe vm-param-set uuid=5e1a0000-0000-4000-8000-000000000001 platform:device-model-args=-device vgpu-stub,pool_id=A,priority=high,vm_id=1' \
    "$T/xe.log" || fail "xe got: $(cat "$T/xe.log")"
run 0 "vgpu-admin qemu-args vm-one"
says "-device vgpu-stub,pool_id=A,priority=high,vm_id=1"
opt=$(cat "$T/out")
pool=$(echo "$opt" | sed -n 's/.*pool_id=\([A-Z]\).*/\1/p')
prio=$(echo "$opt" | sed -n 's/.*priority=\([a-z]*\).*/\1/p')
vmid=$(echo "$opt" | sed -n 's/.*vm_id=\([0-9]*\).*/\1/p')
# The VM starts with that device: vgpu-sim's device model, guest library
# and requests, while vm-two's requests go on through its files.
DEVREQ=60000
"$SIM" --socket "$SOCK" --vms 1 --vm-id-base "$vmid" --pools "$pool" \
    --priorities "$prio" --requests "$DEVREQ" >"$T/sim.out" 2>&1 &
SIMPID=$!
echo "$SIMPID" >"$T/sim.pid"
wait_stat 1 connected 1
together=0
while kill -0 "$SIMPID" 2>/dev/null || [ "$SENT2" -lt 6 ]; do
    files 2 B medium
    [ "$(stat_of 1 connected)" = 1 ] && together=$((together + 1))
done
rc=0
wait "$SIMPID" || rc=$?
rm "$T/sim.pid"
[ "$rc" -eq 0 ] || {
    cat "$T/sim.out"
    fail "the device (vgpu-sim) exited $rc"
}
grep -q "^vm=1 pool=A priority=high requests=$DEVREQ errors=0 mismatches=0 " \
    "$T/sim.out" || fail "the device's requests: $(head -n 1 "$T/sim.out")"
[ "$together" -ge 1 ] || fail "vm-two's files were never answered while vm-one's device was connected"
wait_stat 1 connected 0 # the VM stopped
SENT1=$((SENT1 + DEVREQ))
counted 1
counted 2
echo "  ok: $DEVREQ device requests verified for vm-one; $SENT2 file requests" \
    "for vm-two, $together of them while the device was connected"
run 0 "vgpu-admin check --socket /run/vgpu/mediator.sock"
says "/etc/vgpu/vms.conf: 2 VMs, no problems"
run 1 "vgpu-admin check --socket /run/vgpu/mediator.sock --legacy-dir /srv/vgpu"
says "problem: vm_id 1 ('vm-one'): legacy directory /srv/vgpu/vm1 is missing"
[ "$(grep -c '^problem:' "$T/out")" -eq 1 ] || fail "check: $(cat "$T/out")"
run 0 "vgpu-mediator --stats --socket /run/vgpu/mediator.sock"
grep -q '^vm=1 pool=A priority=high connected=0 ' "$T/out" || fail "stats vm=1"
run 0 "vgpu-admin list"
grep -q '^vm-one  *1 A  *high ' "$T/out" && grep -q '^vm-two  *2 B  *medium ' \
    "$T/out" || fail "list: $(cat "$T/out")"
echo "  ok: check clean; with the files directory it lists vm-one only"

echo "== 3. vm-one back to its files"
: >"$T/xe.log"
run 0 "vgpu-admin xe-args vm-one --remove --apply"
says "running: xe vm-param-remove uuid=5e1a0000-0000-4000-8000-000000000001 param-name=platform param-key=device-model-args"
grep -qxF 'xe vm-param-remove uuid=5e1a0000-0000-4000-8000-000000000001 param-name=platform param-key=device-model-args' \
    "$T/xe.log" || fail "xe got: $(cat "$T/xe.log")"
run 0 "mv /srv/vgpu/moved-vm1 /srv/vgpu/vm1"
files 1 A high
files 1 A high
files 2 B medium
on_files_clean
[ "$(stat_of 1 errors)" = - ] && [ "$(stat_of 2 errors)" = - ] ||
    fail "errors in --stats: $(cat "$T/stats")"
tail -n 1 "$T/stats" | grep -qx "version $VERSION" || fail "--stats version"
echo "  ok: vm-one answered on files again; check clean; every request" \
    "answered once (vm=1 $SENT1, vm=2 $SENT2)"
stop_daemon
[ "$DRC" -eq 0 ] || fail "the daemon exited $DRC"
echo "migration: ok"
