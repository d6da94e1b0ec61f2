#!/bin/sh
# Every path a tool is given is checked for its type before it is read
# (docs/mediator.md, "Paths, files and flags"), and a bad file or flag is
# refused naming what and where, promptly:
#   - --check-config, --config, --registry on a directory, a FIFO, a socket,
#     a device: exit 2 naming the path and what it is; a FIFO never blocks
#     (each run has a 10 s timeout: 124 fails the test);
#   - --log-file on a directory or a FIFO, --legacy-dir on a FIFO: exit 2;
#   - vgpu-admin --registry on a directory or a FIFO, check --legacy-dir on
#     a FIFO: exit 2;
#   - an INI file with a NUL or a byte that is not ASCII: line and column;
#   - a 300-character log_file path works; a key given twice names both
#     lines; a flag given twice, and --socket X --control X, exit 2.
# Usage: hostile_paths.sh VGPU_MEDIATOR VGPU_TESTPEER VGPU_ADMIN
set -eu
. "$(dirname "$0")/lib.sh"
it_init "$@"
ADMIN=${3:-}
it_need "$ADMIN" vgpu-admin

# refused WHAT PATTERN CMD...: CMD exits 2 within 10 s, its stderr matching
# PATTERN (grep -E).
refused() {
    what=$1
    pat=$2
    shift 2
    rc=0
    timeout 10 "$@" >"$T/out" 2>&1 </dev/null || rc=$?
    [ "$rc" -ne 124 ] || fail "$what: still running after 10 s (blocked?)"
    [ "$rc" -eq 2 ] || fail "$what: exit status $rc, want 2: $(cat "$T/out")"
    grep -Eq -e "$pat" "$T/out" ||
        fail "$what: '$(cat "$T/out")' does not match '$pat'"
    echo "$what: $(head -n 1 "$T/out")"
}

mkdir "$T/dir"
mkfifo "$T/fifo"
python3 -c 'import socket,sys; s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1])' \
    "$T/sock" 2>/dev/null || true
S="--socket $T/m.sock"

for kind in dir fifo; do
    name=$([ "$kind" = dir ] && echo 'a directory' || echo 'a FIFO')
    p=$T/$kind
    refused "--check-config $kind" "^$p is $name, not a regular file" \
        "$DAEMON" --check-config "$p"
    refused "--config $kind" "$p is $name, not a regular file" \
        "$DAEMON" $S --config "$p"
    refused "--registry $kind" "--registry: $p is $name, not a regular file" \
        "$DAEMON" $S --registry "$p"
    refused "--log-file $kind" "--log-file: $p is $name, not a regular file" \
        "$DAEMON" $S --log-file "$p"
    refused "vgpu-admin --registry $kind list" "$p is $name" \
        "$ADMIN" --registry "$p" list
done
printf '[vm "a"]\nvm_id = 1\npool = A\npriority = low\n' >"$T/vms.conf"
refused "vgpu-admin check --legacy-dir fifo" \
    "check: --legacy-dir: $T/fifo is a FIFO, not a directory" \
    "$ADMIN" --registry "$T/vms.conf" check --legacy-dir "$T/fifo"
if [ -S "$T/sock" ]; then
    refused "--check-config socket" "is a socket, not a regular file" \
        "$DAEMON" --check-config "$T/sock"
fi
refused "--check-config /dev/zero" "is a character device" \
    "$DAEMON" --check-config /dev/zero
refused "--legacy-dir fifo" "--legacy-dir: $T/fifo is a FIFO, not a directory" \
    "$DAEMON" $S --legacy-dir "$T/fifo"
: >"$T/plain"
refused "--legacy-dir file" "is a regular file, not a directory" \
    "$DAEMON" $S --legacy-dir "$T/plain"

# ---- INI bytes: what and where
printf '[mediator]\npolicy = weighted\nlog_level = d\303\251bug\n' >"$T/utf8.conf"
refused "non-ASCII" "utf8.conf:3: column 14: byte 0xc3 is not ASCII" \
    "$DAEMON" --check-config "$T/utf8.conf"
printf '[mediator]\npol\000icy = weighted\n' >"$T/nul.conf"
refused "NUL" "nul.conf:2: column 4: NUL byte" \
    "$DAEMON" --check-config "$T/nul.conf"
printf '[mediator]\npolicy = weighted\nlog_level = info\npolicy = priority\n' \
    >"$T/twice.conf"
refused "key twice" "twice.conf:4: policy: given twice in \[mediator\] \(lines 2 and 4\)" \
    "$DAEMON" --check-config "$T/twice.conf"

# ---- a real path: 300 characters (inih stopped at 198)
long=$T/$(printf '%0100d' 0)/$(printf '%0100d' 1)/$(printf '%0090d' 2)
mkdir -p "$(dirname "$long")"
printf '[mediator]\nlog_file = %s\n' "$long" >"$T/long.conf"
rc=0
timeout 10 "$DAEMON" --check-config "$T/long.conf" >"$T/out" 2>&1 || rc=$?
[ "$rc" -eq 0 ] || fail "a ${#long}-character log_file: $(cat "$T/out")"
echo "a ${#long}-character log_file: $(cat "$T/out")"

# ---- flags
refused "flag twice" "--policy is given twice" \
    "$DAEMON" $S --policy weighted --policy priority
refused "--socket = --control" "--socket and --control .*same path" \
    "$DAEMON" --socket "$T/x.sock" --control "$T/x.sock"
refused "vgpu-admin flag twice" "--vm-name is given twice" \
    "$ADMIN" --registry "$T/r.conf" register-vm --vm-name a --vm-name b \
    --vm-id 1 --pool A --priority low
[ ! -e "$T/m.sock" ] || fail "a refused start left its socket"
echo "PASS: hostile paths, bytes and flags refused by name"
