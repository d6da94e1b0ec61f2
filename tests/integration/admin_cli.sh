#!/bin/sh
# vgpu-admin as a process: every subcommand, --registry before and after the
# command, refusals exit 2 and leave the file as it was, the exact
# qemu-args and xe-args lines, xe-args --apply with and without xe on PATH,
# eight register-vm at once (none lost), and check: a duplicate in a
# hand-edited file, a missing legacy directory, and registered VMs that a
# running mediator has never seen.
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
U1=0b7c2b56-8a5e-4c1b-9f4e-2c1d3e5f7a90
U2=1c8d3c67-9b6f-4d2c-8a5f-3d2e4f6a8b01

# expect_rc WANT CMD...: run CMD (output in $T/out), check its exit status.
expect_rc() {
    want=$1
    shift
    got=0
    "$@" >"$T/out" 2>&1 || got=$?
    [ "$got" -eq "$want" ] || {
        cat "$T/out"
        fail "exit status $got, not $want: $*"
    }
}

# expect_out TEXT: the output of the last command is exactly TEXT.
expect_out() {
    printf '%s\n' "$1" >"$T/want"
    cmp -s "$T/want" "$T/out" || {
        echo "want:"
        cat "$T/want"
        echo "got:"
        cat "$T/out"
        fail "unexpected output"
    }
}

# expect_grep REGEX: the output of the last command has a line matching.
expect_grep() {
    grep -qE -- "$1" "$T/out" || {
        cat "$T/out"
        fail "no line matches '$1'"
    }
}

# ---- usage
expect_rc 0 "$ADMIN" --help
for word in register-vm list show remove qemu-args xe-args check \
    --registry --legacy-dir /etc/vgpu/vms.conf; do
    expect_grep "$word"
done
expect_rc 0 "$ADMIN" --version
expect_grep '^vgpu-admin [0-9]'
expect_rc 2 "$ADMIN"
expect_rc 2 "$ADMIN" frobnicate
expect_grep "^vgpu-admin: unknown command 'frobnicate'"
expect_rc 2 "$ADMIN" list --bogus
expect_grep "unknown option '--bogus'"
expect_rc 2 "$ADMIN" list --vm-id 3 --registry "$R"
expect_grep "^vgpu-admin: list: --vm-id does not apply"
expect_rc 2 "$ADMIN" show --registry "$R"
expect_grep "show: which VM"
expect_rc 2 "$ADMIN" --registry
expect_grep "option '--registry' needs a value"

# ---- register-vm: --registry before and after, --opt=value and --opt value
expect_rc 0 "$ADMIN" --registry "$R" register-vm --vm-name Test-1 --pool A \
    --priority high --vm-id 1
expect_grep "^registered 'Test-1' in $R: vm_id 1, pool A, priority high"
expect_rc 0 "$ADMIN" register-vm --vm-name=Test-4 --pool=B --priority=high \
    --vm-id=4 --uuid="$U1" --registry "$R"
expect_rc 0 "$ADMIN" register-vm --registry="$R" --vm-name Test-7 --vm-id 7 \
    --pool C --priority low
[ "$(stat -c %a "$R")" = 644 ] || fail "new registry mode $(stat -c %a "$R")"

# ---- refusals: exit 2, a message naming the value, the file untouched
cp "$R" "$T/before"
refuse() { # REGEX ARGS...: register-vm ARGS is refused with REGEX
    re=$1
    shift
    expect_rc 2 "$ADMIN" register-vm --registry "$R" "$@"
    expect_grep "$re"
    cmp -s "$T/before" "$R" || fail "a refused register-vm changed $R"
}
refuse "^vgpu-admin: register-vm: vm_id 1 is already registered to 'Test-1'$" \
    --vm-name Other --vm-id 1 --pool A --priority high
refuse "^vgpu-admin: register-vm: a VM named 'Test-4' is already registered \(vm_id 4\)$" \
    --vm-name Test-4 --vm-id 5 --pool A --priority high
refuse "^vgpu-admin: register-vm: uuid $U1 is already registered to 'Test-4'" \
    --vm-name Other --vm-id 5 --pool A --priority high --uuid "$U1"
refuse "^vgpu-admin: --pool: 'AB' is not one letter A-Z$" \
    --vm-name Other --vm-id 5 --pool AB --priority high
refuse "^vgpu-admin: --pool: 'a' is not one letter A-Z$" \
    --vm-name Other --vm-id 5 --pool a --priority high
refuse "^vgpu-admin: --priority: '3' is not one of low, medium, high \(or 0, 1, 2\)$" \
    --vm-name Other --vm-id 5 --pool A --priority 3
refuse "^vgpu-admin: --vm-id: '007' is not a vm_id \(1..4294967295, in decimal without a leading zero\)$" \
    --vm-name Other --vm-id 007 --pool A --priority high
refuse "^vgpu-admin: --vm-id: '0' is not a vm_id" \
    --vm-name Other --vm-id 0 --pool A --priority high
refuse "^vgpu-admin: --vm-id: '4294967296' is not a vm_id" \
    --vm-name Other --vm-id 4294967296 --pool A --priority high
refuse "^vgpu-admin: --vm-name: 'a b' is not a name" \
    --vm-name "a b" --vm-id 5 --pool A --priority high
refuse "^vgpu-admin: --uuid: 'xyz' is not a uuid" \
    --vm-name Other --vm-id 5 --pool A --priority high --uuid xyz
refuse "^vgpu-admin: register-vm: --pool is required" \
    --vm-name Other --vm-id 5 --priority high

# ---- list, show
expect_rc 0 "$ADMIN" list --registry "$R"
expect_out "NAME        VM_ID POOL PRIORITY SHARE CAP UUID
Test-1          1 A    high     -     -   -
Test-4          4 B    high     -     -   $U1
Test-7          7 C    low      -     -   -"
expect_rc 0 "$ADMIN" show Test-4 --registry "$R"
expect_out "name = Test-4
vm_id = 4
pool = B
priority = high
uuid = $U1
share = -
cap = -
device = -device vgpu-stub,pool_id=B,priority=high,vm_id=4"
expect_rc 1 "$ADMIN" --registry "$R" show Nobody
expect_out "vgpu-admin: no VM named 'Nobody' in $R"

# ---- one vocabulary: a priority's number is its name (SPEC.md section 6)
expect_rc 0 "$ADMIN" register-vm --registry "$T/num.conf" --vm-name Num \
    --vm-id 9 --pool A --priority 2
expect_rc 0 "$ADMIN" show Num --registry "$T/num.conf"
expect_grep "^priority = high$"

# ---- qemu-args: exactly the -device option
expect_rc 0 "$ADMIN" --registry "$R" qemu-args Test-1
expect_out "-device vgpu-stub,pool_id=A,priority=high,vm_id=1"
expect_rc 0 "$ADMIN" qemu-args Test-4 --registry "$R" \
    --socket /run/vgpu/mediator.sock
expect_out "-device vgpu-stub,pool_id=B,priority=high,vm_id=4,socket=/run/vgpu/mediator.sock"
expect_rc 2 "$ADMIN" qemu-args Test-4 --registry "$R" --socket /a,b
expect_grep "^vgpu-admin: --socket: '/a,b' is not a path"
expect_rc 1 "$ADMIN" qemu-args Nobody --registry "$R"

# ---- xe-args: the seed's line; --apply without and with xe on PATH
XE_LINE="xe vm-param-set uuid=$U1 platform:device-model-args=\"-device vgpu-stub,pool_id=B,priority=high,vm_id=4\""
expect_rc 0 "$ADMIN" xe-args Test-4 --registry "$R"
expect_out "$XE_LINE"
expect_rc 0 "$ADMIN" xe-args Test-1 --uuid "$U2" --registry "$R"
expect_out "xe vm-param-set uuid=$U2 platform:device-model-args=\"-device vgpu-stub,pool_id=A,priority=high,vm_id=1\""
expect_rc 2 "$ADMIN" xe-args Test-1 --registry "$R"
expect_grep "^vgpu-admin: xe-args: VM 'Test-1' has no uuid in $R: give --uuid"
mkdir "$T/nobin" "$T/bin"
expect_rc 1 env PATH="$T/nobin" "$ADMIN" xe-args Test-4 --apply \
    --registry "$R"
expect_out "xe: not found on this host (XCP-ng dom0 only); the command would be: $XE_LINE"
# A stand-in xe that records its arguments, one per line.
cat >"$T/bin/xe" <<EOF
#!/bin/sh
for a in "\$@"; do printf '%s\n' "\$a"; done >"$T/xe.args"
EOF
chmod +x "$T/bin/xe"
expect_rc 0 env PATH="$T/bin:$PATH" "$ADMIN" --registry "$R" xe-args Test-4 \
    --apply
printf '%s\n' vm-param-set "uuid=$U1" \
    "platform:device-model-args=-device vgpu-stub,pool_id=B,priority=high,vm_id=4" \
    >"$T/want"
cmp -s "$T/want" "$T/xe.args" || {
    cat "$T/xe.args"
    fail "xe --apply ran with other arguments"
}

# ---- remove
expect_rc 0 "$ADMIN" remove Test-7 --registry "$R"
expect_grep "^removed 'Test-7' \(vm_id 7\) from $R$"
expect_rc 1 "$ADMIN" --registry "$R" remove Test-7
expect_out "vgpu-admin: remove: no VM named 'Test-7' in $R"
expect_rc 1 "$ADMIN" show Test-7 --registry "$R"

# ---- eight admins at once: the lock keeps every entry
i=10
while [ "$i" -lt 18 ]; do
    "$ADMIN" register-vm --registry "$R" --vm-name "par-$i" --vm-id "$i" \
        --pool D --priority medium >"$T/par$i.out" 2>&1 &
    echo $! >"$T/par$i.pid"
    i=$((i + 1))
done
i=10
while [ "$i" -lt 18 ]; do
    wait "$(cat "$T/par$i.pid")" || fail "register-vm par-$i: $(cat "$T/par$i.out")"
    rm -f "$T/par$i.pid"
    i=$((i + 1))
done
expect_rc 0 "$ADMIN" list --registry "$R"
[ "$(grep -c '^par-' "$T/out")" -eq 8 ] || {
    cat "$T/out"
    fail "concurrent register-vm lost entries"
}
i=10
while [ "$i" -lt 18 ]; do
    "$ADMIN" remove "par-$i" --registry "$R" >/dev/null
    i=$((i + 1))
done

# ---- check: clean, then a missing legacy directory
expect_rc 0 "$ADMIN" check --registry "$R"
expect_out "$R: 2 VMs, no problems"
mkdir -p "$T/legacy/vm1"
expect_rc 1 "$ADMIN" check --registry "$R" --legacy-dir "$T/legacy"
expect_out "problem: vm_id 4 ('Test-4'): legacy directory $T/legacy/vm4 is missing
$R: 2 VMs, 1 problem"
mkdir "$T/legacy/vm4"
expect_rc 0 "$ADMIN" check --registry "$R" --legacy-dir "$T/legacy"
# A legacy directory that is not there is a problem, said even when the
# registry is not there either.
expect_rc 1 "$ADMIN" check --registry "$R" --legacy-dir "$T/nolegacy"
expect_out "problem: --legacy-dir: $T/nolegacy: No such file or directory
$R: 2 VMs, 1 problem"
expect_rc 1 "$ADMIN" check --registry "$T/none.conf" --legacy-dir "$T/nolegacy"
expect_grep "^problem: --legacy-dir: $T/nolegacy: No such file or directory$"

# ---- list: a registry that does not exist is said so (exit 1); an empty
# one that exists is an empty table (exit 0)
expect_rc 1 "$ADMIN" list --registry "$T/none.conf"
expect_out "vgpu-admin: list: $T/none.conf does not exist (register-vm creates it)"
: >"$T/empty.conf"
expect_rc 0 "$ADMIN" list --registry "$T/empty.conf"
expect_out "NAME      VM_ID POOL PRIORITY SHARE CAP UUID"

# ---- check: a hand-edited file with a duplicate vm_id is reported, not
# refused; the commands that need one answer refuse it and say where
cp "$R" "$T/hand.conf"
printf '\n[vm "Test-4b"]\nvm_id = 4\npool = B\npriority = high\n' \
    >>"$T/hand.conf"
line=$(grep -n 'Test-4b' "$T/hand.conf" | cut -d: -f1)
first=$(grep -n '"Test-4"' "$T/hand.conf" | cut -d: -f1)
expect_rc 1 "$ADMIN" check --registry "$T/hand.conf"
expect_out "problem: $T/hand.conf:$line: vm_id 4 of 'Test-4b' is also the vm_id of 'Test-4' (line $first)
$T/hand.conf: 3 VMs, 1 problem"
expect_rc 0 "$ADMIN" list --registry "$T/hand.conf"
expect_grep '^Test-4b +4 B +high'
expect_rc 2 "$ADMIN" qemu-args Test-1 --registry "$T/hand.conf"
expect_grep "^vgpu-admin: $T/hand.conf:$(($line + 1)): vm_id: '4' is already the vm_id of 'Test-4'"
expect_grep "vgpu-admin check lists every problem"
# remove fixes it.
expect_rc 0 "$ADMIN" remove Test-4b --registry "$T/hand.conf"
expect_rc 0 "$ADMIN" check --registry "$T/hand.conf"
# ---- share and cap: given, shown, written; a pool's shares at most 100
cp "$R" "$T/share.conf"
expect_rc 0 "$ADMIN" register-vm --registry "$T/share.conf" --vm-name Fix-30 \
    --vm-id 30 --pool S --priority medium --share 30 --cap 50
expect_rc 0 "$ADMIN" register-vm --registry "$T/share.conf" --vm-name Fix-70 \
    --vm-id 70 --pool S --priority medium --share 70
expect_rc 2 "$ADMIN" register-vm --registry "$T/share.conf" --vm-name Fix-1 \
    --vm-id 71 --pool S --priority medium --share 1
expect_grep "share: 1% would bring pool S's shares to 101% \\(at most 100\\)"
expect_rc 2 "$ADMIN" register-vm --registry "$T/share.conf" --vm-name Bad \
    --vm-id 72 --pool T --priority medium --cap 0
expect_grep "^vgpu-admin: --cap: '0' is not an integer in 1..100"
expect_rc 2 "$ADMIN" register-vm --registry "$T/share.conf" --vm-name Bad \
    --vm-id 72 --pool T --priority medium --share 101
expect_grep "^vgpu-admin: --share: '101' is not an integer in 1..100"
expect_rc 0 "$ADMIN" list --registry "$T/share.conf"
expect_grep '^Fix-30 +30 S +medium +30 +50 +-$'
expect_grep '^Fix-70 +70 S +medium +70 +- +-$'
expect_rc 0 "$ADMIN" show Fix-30 --registry "$T/share.conf"
expect_grep '^share = 30$'
expect_grep '^cap = 50$'
expect_rc 0 "$ADMIN" check --registry "$T/share.conf"
# A hand-edited file whose shares pass 100 is reported by check.
printf '\n[vm "Fix-9"]\nvm_id = 9\npool = S\npriority = low\nshare = 9\n' \
    >>"$T/share.conf"
expect_rc 1 "$ADMIN" check --registry "$T/share.conf"
expect_grep "^problem: pool S: the shares of its VMs add up to 109% \\(at most 100\\)$"
printf '[vm "x"]\nvm_id = 1\npool = A\npriority = low\ncap = 0\n' \
    >"$T/bad.conf"
expect_rc 1 "$ADMIN" check --registry "$T/bad.conf"
expect_grep "^problem: $T/bad.conf:5: cap: '0' is not an integer in 1..100$"
# A file that does not load at all is a problem too.
printf '[vm "x"]\nvm_id = 1\npool = A\npriority = urgent\n' >"$T/bad.conf"
expect_rc 1 "$ADMIN" check --registry "$T/bad.conf"
expect_grep "^problem: $T/bad.conf:4: priority: 'urgent' is not one of low, medium, high \(or 0, 1, 2\)$"
expect_rc 2 "$ADMIN" list --registry "$T/bad.conf"

# ---- check against a running mediator: Test-1 connects, Test-4 never
# does, and vm 9 (not registered: this daemon has no --registry) does
expect_rc 1 "$ADMIN" check --registry "$R" --socket "$SOCK"
expect_grep "^problem: cannot reach the mediator at $SOCK.ctl: "
start_daemon --pool A=cpu --pool B=cpu
peer seen1 --vm-id 1 --pool A --priority high --count 2 ||
    fail "peer vm 1: $(cat "$T/seen1.out")"
peer seen9 --vm-id 9 --pool A --priority low --count 1 ||
    fail "peer vm 9: $(cat "$T/seen9.out")"
expect_rc 1 "$ADMIN" check --registry "$R" --socket "$SOCK"
expect_out "problem: vm_id 4 ('Test-4'): never seen by the mediator at $SOCK.ctl
problem: vm_id 9: seen by the mediator at $SOCK.ctl but not in the registry
$R: 2 VMs, 2 problems"
peer seen4 --vm-id 4 --pool B --priority high --count 1 ||
    fail "peer vm 4: $(cat "$T/seen4.out")"
expect_rc 1 "$ADMIN" check --registry "$R" --control "$SOCK.ctl"
expect_out "problem: vm_id 9: seen by the mediator at $SOCK.ctl but not in the registry
$R: 2 VMs, 1 problem"
expect_rc 0 "$ADMIN" register-vm --registry "$R" --vm-name Test-9 \
    --vm-id 9 --pool A --priority high
expect_rc 1 "$ADMIN" check --registry "$R" --socket "$SOCK"
expect_out "problem: vm_id 9 ('Test-9'): the mediator serves it as pool A priority low, the registry says pool A priority high (admitted before the registry changed: restart the VM's device)
$R: 3 VMs, 1 problem"
stop_daemon
[ "$DRC" -eq 0 ] || fail "daemon exit status $DRC"
echo "PASS: vgpu-admin subcommands, refusals, exact args, locking and check"
