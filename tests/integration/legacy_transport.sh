#!/bin/sh
# The legacy file transport (vgpu-mediator --legacy-dir, docs/mediator.md):
# the real daemon serves DIR/vmN/request.txt and its socket at once.
#   - vgpu-legacy-client 100 200 prints 300; request.txt is consumed and
#     response.txt written atomically (no temporary file left);
#   - a vm_id that is not the directory's is answered REJECTED, naming both;
#   - malformed lines (empty, missing fields, non-numbers, int32 overflow,
#     a huge file, binary junk, two lines, a FIFO, a symbolic link) are
#     answered INVALID_REQUEST and the daemon keeps serving;
#   - a vmN directory made after start is served, vm012 is not, a removed
#     one is dropped and served again when made again;
#   - a new pool/priority reconnects; --stats counts the legacy VMs;
#   - a vm_id connected on the socket is refused in its directory;
#   - both transports at once: verified vgpu-testpeer requests on the socket
#     while legacy clients run in parallel, every answer correct;
#   - vgpu-legacy-client's usage errors exit 2;
#   - SIGTERM answers a queued legacy request REJECTED; the daemon exits 0.
# Usage: legacy_transport.sh VGPU_MEDIATOR VGPU_TESTPEER VGPU_LEGACY_CLIENT
set -eu
. "$(dirname "$0")/lib.sh"
it_init "$@"
CLIENT=${3:-}
it_need "$CLIENT" vgpu-legacy-client
LG=$T/legacy

# client VM ARGS...: vgpu-legacy-client on $LG/vmVM; output in $T/c.out.
client() {
    d=$LG/vm$1
    shift
    crc=0
    "$CLIENT" --dir "$d" --timeout-ms 5000 "$@" >"$T/c.out" 2>&1 || crc=$?
    return "$crc"
}

# expect_sum VM A B: the client prints A + B for vmVM.
expect_sum() {
    client "$1" -- "$2" "$3" || { cat "$T/c.out"; fail "vm$1: $2 + $3"; }
    [ "$(cat "$T/c.out")" = "$(($2 + $3))" ] ||
        fail "vm$1: $2 + $3 printed '$(cat "$T/c.out")'"
}

# raw VM: stdin becomes vmVM/request.txt (renamed into place); prints
# response.txt and removes it; the request must have been consumed.
raw() {
    d=$LG/vm$1
    rm -f "$d/response.txt"
    cat >"$d/.raw.tmp"
    mv "$d/.raw.tmp" "$d/request.txt"
    wait_file "$d/response.txt"
    cat "$d/response.txt"
    rm -f "$d/response.txt"
    consumed "$1"
}

# consumed VM: no request file and no temporary response left.
consumed() {
    for f in request.txt request.txt.taken response.txt.tmp; do
        [ ! -e "$LG/vm$1/$f" ] || fail "vm$1/$f is still there"
    done
}

# expect_raw VM PATTERN: the answer to stdin matches PATTERN (grep -E).
expect_raw() {
    vm=$1
    raw "$vm" >"$T/raw.out"
    grep -Eq "$2" "$T/raw.out" ||
        fail "vm$vm: answer '$(cat "$T/raw.out")' does not match '$2'"
    echo "  $(cat "$T/raw.out")"
}

mkdir -p "$LG/vm3" "$LG/vm4" "$LG/vm012" "$LG/vm31" "$LG/vm32" "$LG/vm33" \
    "$LG/vm34"
# A request written before the daemon starts is served at start.
printf 'A:2:4:20:22\n' >"$LG/vm4/request.txt"
start_daemon --pool A=cpu --pool B=cpu --pool C=cpu:delay_us=1000000 \
    --legacy-dir "$LG"
wait_file "$LG/vm4/response.txt"
[ "$(cat "$LG/vm4/response.txt")" = "ok:4:42" ] ||
    fail "vm4 at start: '$(cat "$LG/vm4/response.txt")'"
consumed 4

# ---- the seed's example ----------------------------------------------------
client 3 100 200 || { cat "$T/c.out"; fail "vgpu-legacy-client exited $crc"; }
[ "$(cat "$T/c.out")" = "300" ] || fail "100 200 printed '$(cat "$T/c.out")'"
consumed 3
[ ! -e "$LG/vm3/response.txt" ] || fail "the client left response.txt"
echo "vgpu-legacy-client 100 200: 300"
expect_sum 3 -5 2
expect_sum 3 2147483647 0
client 3 2147483647 1 || fail "wrap: status $crc"
[ "$(cat "$T/c.out")" = "-2147483648" ] ||
    fail "2147483647 + 1 printed '$(cat "$T/c.out")', want the int32 wrap"
printf 'A:high:3:100:200\n' | expect_raw 3 '^ok:3:300$'

# ---- vm_id mismatch --------------------------------------------------------
if client 3 --vm-id 7 1 2; then fail "--vm-id 7 in vm3 was served"; fi
[ "$crc" -eq 1 ] || fail "--vm-id 7 in vm3: status $crc, want 1"
grep -q 'REJECTED: request vm_id 7 in directory vm3 (vm_id 3)' "$T/c.out" ||
    fail "mismatch: $(cat "$T/c.out")"
printf 'A:2:7:1:2' |
    expect_raw 3 '^error:REJECTED:request vm_id 7 in directory vm3 \(vm_id 3\)$'
grep -q 'legacy vm=3: request.txt refused: status=REJECTED' "$LOG" ||
    fail "the mismatch is not in the log"

# ---- malformed lines: each answered, the daemon keeps serving --------------
bad='^error:INVALID_REQUEST:'
printf '' | expect_raw 3 "${bad}empty request"
printf '\n \n' | expect_raw 3 "${bad}empty request"
printf 'A:2:3:100\n' | expect_raw 3 "${bad}4 fields"
printf 'A:2:3:100:200:5\n' | expect_raw 3 "${bad}6 fields"
printf 'A:2:3:x:1\n' | expect_raw 3 "${bad}num1 'x'"
printf 'A:2:3:1:2147483648\n' | expect_raw 3 "${bad}num2 '2147483648'"
printf 'A:2:0:1:2\n' | expect_raw 3 "${bad}vm_id '0'"
printf 'a:2:3:1:2\n' | expect_raw 3 "${bad}pool 'a'"
printf 'A:9:3:1:2\n' | expect_raw 3 "${bad}priority '9'"
printf 'A:2:3:1:2\nA:2:3:1:2\n' | expect_raw 3 "${bad}more than one line"
printf 'A:2:3:1\0:2' | expect_raw 3 "${bad}byte 0x00 at offset 7"
printf '\001\377\033[m' | expect_raw 3 "${bad}byte 0x01"
head -c 100000 /dev/zero | tr '\0' '7' |
    expect_raw 3 "${bad}request of 100000 bytes is over the limit"
# In place (no rename): the close after writing is what is seen.
rm -f "$LG/vm3/response.txt"
printf 'A:2:3:oops:1\n' >"$LG/vm3/request.txt"
wait_file "$LG/vm3/response.txt"
grep -q "${bad}num1 'oops'" "$LG/vm3/response.txt" ||
    fail "in-place write: $(cat "$LG/vm3/response.txt")"
rm -f "$LG/vm3/response.txt"
# Not a regular file: never opened for reading, refused all the same.
mkfifo "$LG/vm3/fifo"
mv "$LG/vm3/fifo" "$LG/vm3/request.txt"
wait_file "$LG/vm3/response.txt"
grep -q "${bad}request.txt is a FIFO, not a regular file" "$LG/vm3/response.txt" ||
    fail "FIFO: $(cat "$LG/vm3/response.txt")"
rm -f "$LG/vm3/response.txt"
consumed 3
ln -s /etc/hostname "$LG/vm3/link"
mv "$LG/vm3/link" "$LG/vm3/request.txt"
wait_file "$LG/vm3/response.txt"
grep -q "${bad}request.txt is a symbolic link, not a regular file" \
    "$LG/vm3/response.txt" || fail "symlink: $(cat "$LG/vm3/response.txt")"
rm -f "$LG/vm3/response.txt"
consumed 3
kill -0 "$DPID" || fail "the daemon died on a malformed request"
expect_sum 3 1 2
echo "malformed requests: each answered INVALID_REQUEST, daemon still serving"

# ---- directories: made after start, removed, not vmN ----------------------
mkdir "$LG/vm12"
expect_sum 12 5 6
if client 012 --vm-id 12 --timeout-ms 300 1 2; then
    fail "vm012 was served"
fi
[ "$crc" -eq 3 ] || fail "vm012: status $crc, want 3 (timeout)"
grep -q 'no response in .*vm012 after 300 ms' "$T/c.out" ||
    fail "timeout message: $(cat "$T/c.out")"
[ ! -e "$LG/vm012/request.txt" ] || fail "the client left its request"
rm -rf "$LG/vm12"
i=0
until grep -q 'legacy vm=12: .*/vm12 is gone' "$LOG"; do
    i=$((i + 1))
    [ "$i" -le 100 ] || fail "the removal of vm12 is not in the log"
    sleep 0.05
done
# Its connection went with it: a device may now have vm_id 12.
peer p12 --vm-id 12 --count 1 ||
    { cat "$T/p12.out"; fail "vm_id 12 on the socket after vm12 was removed"; }
mkdir "$LG/vm12"
expect_sum 12 7 8
echo "vm12 made after start: served; vm012: not; vm12 removed and made again"

# ---- identity: a new pool/priority reconnects ------------------------------
client 3 --pool B --priority low 1 1 || fail "pool B: status $crc"
[ "$(cat "$T/c.out")" = "2" ] || fail "pool B: '$(cat "$T/c.out")'"
"$DAEMON" --socket "$SOCK" --stats >"$T/stats.out" || fail "--stats"
grep -q '^vm=3 pool=B priority=low connected=1 ' "$T/stats.out" ||
    { cat "$T/stats.out"; fail "--stats: vm=3 is not pool B, low"; }
grep -q 'legacy vm=3: pool A priority medium -> pool B priority low' "$LOG" ||
    fail "the reconnection is not in the log"

# ---- a vm_id connected on the socket is refused in its directory ----------
mkdir "$LG/vm20"
# 4 s: long enough that the client below runs while it is up, even on a
# loaded machine.
peer_bg sock20 --vm-id 20 --op nop --duration-ms 4000 --pipeline 1
i=0
until "$DAEMON" --socket "$SOCK" --stats 2>/dev/null |
    grep -q '^vm=20 .*connected=1 '; do
    i=$((i + 1))
    [ "$i" -le 100 ] || fail "the socket peer vm=20 did not connect"
    sleep 0.05
done
if client 20 1 2; then fail "vm20 was served while its socket was up"; fi
grep -q 'REJECTED: vm_id 20 is already connected' "$T/c.out" ||
    fail "vm20: $(cat "$T/c.out")"
peer_check sock20
expect_sum 20 3 4
echo "vm20: refused while the socket had it, served after"

# ---- both transports at once -----------------------------------------------
peer_bg s1 --vm-id 50 --op random --count 1500 --pipeline 4 --seed 5 --verify
peer_bg s2 --vm-id 51 --pool B --priority high --op add_i32 --n 127 \
    --count 1500 --pipeline 2 --seed 6 --verify
for vm in 31 32 33 34; do
    (
        k=0
        while [ "$k" -lt 25 ]; do
            k=$((k + 1))
            out=$("$CLIENT" --dir "$LG/vm$vm" --priority high -- \
                "$((vm * 1000 + k))" "-$k" 2>&1) || true
            echo "$k $out"
        done
    ) >"$T/l$vm.out" 2>&1 &
    echo $! >"$T/l$vm.pid"
done
for vm in 31 32 33 34; do
    wait "$(cat "$T/l$vm.pid")" || true
    rm -f "$T/l$vm.pid"
    k=0
    while [ "$k" -lt 25 ]; do
        k=$((k + 1))
        grep -qx "$k $((vm * 1000))" "$T/l$vm.out" ||
            { cat "$T/l$vm.out"; fail "vm$vm request $k: wrong or missing"; }
    done
done
peer_check s1
peer_check s2
[ "$(field "done" "$T/s1.out")" -eq 1500 ] || fail "s1: not 1500 done"
[ "$(field "done" "$T/s2.out")" -eq 1500 ] || fail "s2: not 1500 done"
echo "both transports: 3000 verified socket requests, 100 legacy requests"

# ---- --stats counts the legacy VMs -----------------------------------------
"$DAEMON" --socket "$SOCK" --stats >"$T/stats.out" || fail "--stats"
for vm in 31 32 33 34; do
    grep -q "^vm=$vm pool=A priority=high connected=1 requests=25 responses=25 " \
        "$T/stats.out" || { cat "$T/stats.out"; fail "--stats: vm=$vm"; }
done

# ---- the INI key ------------------------------------------------------------
printf '[mediator]\nlegacy_dir = %s\n' "$LG" >"$T/m.conf"
"$DAEMON" --check-config "$T/m.conf" >"$T/check.out" 2>&1 ||
    fail "--check-config with legacy_dir: $(cat "$T/check.out")"

# ---- the client's usage ----------------------------------------------------
"$CLIENT" --help >"$T/help.out" || fail "--help exited $?"
grep -q -- '--timeout-ms' "$T/help.out" || fail "--help does not list options"
for args in "--dir $LG/vm3 1" "--dir $LG/vm3 1 2 3" "--dir $LG/vm3 1 x" \
    "--dir $LG/vm3 --priority urgent 1 2" "--dir $LG/vm3 --pool AB 1 2" \
    "--dir $LG/vm3 --timeout-ms 0 1 2" "--dir $LG/vmx 1 2" "1 2" \
    "--dir $LG/vm3 --bogus 1 2"; do
    # shellcheck disable=SC2086 # the words are the arguments
    if "$CLIENT" $args >"$T/usage.out" 2>&1; then
        fail "vgpu-legacy-client $args: accepted"
    else
        urc=$?
    fi
    [ "$urc" -eq 2 ] || fail "vgpu-legacy-client $args: status $urc, want 2"
done
consumed 3

# ---- SIGTERM: a queued legacy request is answered, not dropped --------------
# vm60 on the socket keeps pool C busy (3 x 1 s, high priority: ample on a
# loaded machine); the legacy request of vm61 (low) waits behind them when
# SIGTERM comes.
mkdir "$LG/vm61"
peer_bg slow --vm-id 60 --pool C --priority high --op nop --count 3 \
    --pipeline 3 --allow-status REJECTED --timeout-ms 8000
# Its NOPs follow its HELLO at once; the first one holds the loop 1 s.
i=0
until grep -q 'vm=60: connected' "$LOG"; do
    i=$((i + 1))
    [ "$i" -le 200 ] || fail "the socket peer vm=60 did not connect"
    sleep 0.05
done
(
    lrc=0
    "$CLIENT" --dir "$LG/vm61" --pool C --priority low -- 1 2 || lrc=$?
    echo "rc=$lrc"
) >"$T/l61.out" 2>&1 &
echo $! >"$T/l61.pid"
# The HELLO of vm61 is logged in the callback that queues its request.
i=0
until grep -q 'vm=61: connected: pool C priority low' "$LOG"; do
    i=$((i + 1))
    [ "$i" -le 200 ] || fail "vm61: the request was not queued"
    sleep 0.05
done
stop_daemon
[ "$DRC" -eq 0 ] || fail "daemon exit status $DRC"
wait "$(cat "$T/l61.pid")" || true
rm -f "$T/l61.pid"
grep -q 'REJECTED: mediator shutting down' "$T/l61.out" ||
    { cat "$T/l61.out"; fail "vm61: not answered REJECTED at SIGTERM"; }
grep -q '^rc=1$' "$T/l61.out" || fail "vm61: $(cat "$T/l61.out")"
peer_check slow
echo "SIGTERM: the queued legacy request was answered REJECTED"
echo "PASS: legacy file transport beside the socket"
