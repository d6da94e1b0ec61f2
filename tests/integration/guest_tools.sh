#!/bin/sh
# The guest tools (vgpu-info, vgpu-dump, vgpu-selftest, vgpu-vector-add,
# vgpu-bench) with --sim, and on a fake sysfs tree (<root>/bus/pci/devices/
# <bdf>/ with a plain 4096-byte file as resource0: memory, not a device, so
# the self-test must find the read-only registers writable and fail).
#
# usage: guest_tools.sh VGPU_INFO VGPU_DUMP VGPU_SELFTEST VGPU_VECTOR_ADD
#                       VGPU_BENCH
set -eu

if [ $# -ne 5 ]; then
    echo "usage: $0 VGPU_INFO VGPU_DUMP VGPU_SELFTEST VGPU_VECTOR_ADD" \
        "VGPU_BENCH" >&2
    exit 2
fi
INFO=$1
DUMP=$2
SELFTEST=$3
VADD=$4
BENCH=$5
for b in "$INFO" "$DUMP" "$SELFTEST" "$VADD" "$BENCH"; do
    if [ ! -x "$b" ]; then
        echo "SKIP: $b is not built"
        exit 77
    fi
done

T=$(mktemp -d "${TMPDIR:-/tmp}/vgpu-tools.XXXXXX")
trap '[ -n "${VGPU_IT_KEEP:-}" ] || rm -rf "$T"' EXIT
trap 'exit 130' INT TERM
checks=0

fail() {
    echo "FAIL: $*"
    exit 1
}

# run NAME CMD...: run CMD with stdout and stderr in $T/NAME.out; sets $rc.
run() {
    name=$1
    shift
    set +e
    "$@" >"$T/$name.out" 2>&1
    rc=$?
    set -e
    checks=$((checks + 1))
}

show() {
    echo "---- $name: $rc"
    cat "$T/$name.out"
}

expect_rc() {
    [ "$rc" -eq "$1" ] || { show; fail "$name: exit $rc, want $1"; }
}

# expect_line RE: some line of the output matches the extended regex RE.
expect_line() {
    grep -Eq -- "$1" "$T/$name.out" || { show; fail "$name: no line /$1/"; }
}

expect_no_line() {
    if grep -Eq -- "$1" "$T/$name.out"; then
        show
        fail "$name: a line matches /$1/"
    fi
}

expect_last() {
    last=$(tail -n 1 "$T/$name.out")
    echo "$last" | grep -Eq -- "$1" || { show; fail "$name: last line" \
        "'$last' does not match /$1/"; }
}

# ---- vgpu-info ------------------------------------------------------------
run info "$INFO" --sim --sim-pool B --sim-priority high --sim-vm-id 200
expect_rc 0
expect_line '^bus: +sim$'
expect_line '^pool: +B$'
expect_line '^priority: +high$'
expect_line '^vm_id: +200$'
expect_line '^protocol: +1\.0$'
expect_line '^capabilities: +BASIC IRQ QUEUE$'

# ---- vgpu-dump ------------------------------------------------------------
run dump "$DUMP" --sim --sim-pool C --sim-vm-id 7
expect_rc 0
n=$(grep -Ec '^0x0[0-3][0-9a-f] [A-Z_]+ +0x[0-9a-f]{8}  ' "$T/dump.out")
[ "$n" -eq 16 ] || { show; fail "dump: $n register lines, want 16"; }
expect_line '^0x004 STATUS +0x00000000  IDLE$'
expect_line '^0x008 POOL_ID +0x00000043  pool C$'
expect_line '^0x010 VM_ID +0x00000007  vm 7$'
expect_line '^0x020 PROTOCOL_VER +0x00010000  version 1\.0$'
expect_line '^0x03c SCRATCH '
run dump_buffers "$DUMP" --sim --buffers
expect_rc 0
expect_line '^request buffer \(0 bytes at 0x040\):$'

# ---- vgpu-selftest: passes on a good device ---------------------------------
run selftest "$SELFTEST" --sim --sim-pool B --sim-priority high \
    --sim-vm-id 200
expect_rc 0
expect_last '^[0-9]+ passed, 0 failed$'
expect_no_line '^FAIL '
for check in protocol-version capabilities pool priority vm-id scratch \
    request-id read-only doorbell-reads-0 request-buffer response-buffer \
    reserved zero-length-doorbell oversize-doorbell nop echo \
    request-id-kept timestamp irq-status; do
    expect_line "^PASS $check: "
done
expect_line '^SKIP identity: the simulator has no PCI config space$'
passed=$(grep -c '^PASS ' "$T/selftest.out")
expect_last "^$passed passed, 0 failed\$"

run selftest_nomed "$SELFTEST" --sim-no-mediator --expect-no-mediator
expect_rc 0
expect_last '^[0-9]+ passed, 0 failed$'
expect_line '^PASS no-mediator: .*ERROR MEDIATOR_UNAVAILABLE$'
expect_line '^SKIP nop: '

# ---- vgpu-selftest: fails when it should ------------------------------------
run selftest_vm "$SELFTEST" --sim --expect-vm-id 999
expect_rc 1
expect_line '^FAIL vm-id: got 1, want 999$'
expect_last '^[0-9]+ passed, 1 failed$'

run selftest_pool "$SELFTEST" --sim --sim-pool B --expect-pool A \
    --expect-priority low
expect_rc 1
expect_line '^FAIL pool: got B, want A$'
expect_line '^FAIL priority: got medium \(1\), want low$'
expect_last '^[0-9]+ passed, 2 failed$'

# A mediator was promised but there is none: the NOP must fail.
run selftest_lost "$SELFTEST" --sim-no-mediator
expect_rc 1
expect_line '^FAIL nop: got ERROR MEDIATOR_UNAVAILABLE'
# No mediator was promised but there is one.
run selftest_extra "$SELFTEST" --sim --expect-no-mediator
expect_rc 1
expect_line '^FAIL no-mediator: got DONE'

# ---- vgpu-vector-add --------------------------------------------------------
run vadd "$VADD" --sim 100 200
expect_rc 0
[ "$(cat "$T/vadd.out")" = "300" ] || { show; fail "vadd: want 300"; }
run vadd_neg "$VADD" --sim -- -5 3
expect_rc 0
expect_line '^-2$'
run vadd_wrap "$VADD" --sim 2147483647 1
expect_rc 0
expect_line '^-2147483648$'
run vadd_vec "$VADD" --sim --n 100000 --random --seed 7 --path mailbox
expect_rc 0
expect_line '^n=100000 ok$'
expect_line '^path mailbox, 127 elements per request$'
expect_line '^elapsed [0-9.]+ ms, 788 requests, [0-9]+ requests/s$'
# The simulator has the queue: --path auto takes it.
run vadd_queue "$VADD" --sim --n 1000000 --f32 --random --seed 7 \
    --inflight 32
expect_rc 0
expect_line '^n=1000000 ok$'
expect_line '^path queue, 31250 elements per request, 32 in flight$'
expect_line '^elapsed [0-9.]+ ms, 32 requests, [0-9]+ requests/s$'
run vadd_chunk "$VADD" --sim --n 300000 --chunk 131071 --path queue
expect_rc 0
expect_line '^elapsed [0-9.]+ ms, 3 requests, [0-9]+ requests/s$'
run vadd_noq "$VADD" --sim-no-mediator --n 1000 --path queue
expect_rc 1
expect_line '^ERROR MEDIATOR_UNAVAILABLE \(0x03\): request 0: '
run bench_queue "$BENCH" --sim --path queue --inflight 4 --op add_f32 \
    --count 20
expect_rc 0
expect_line '^op=ADD_F32 n=131071 count=20 request=1048576 bytes'
expect_line '^path=queue inflight=4$'
run vadd_err "$VADD" --sim-no-mediator 1 2
expect_rc 1
expect_line '^ERROR MEDIATOR_UNAVAILABLE \(0x03\): '

# ---- vgpu-bench -------------------------------------------------------------
run bench "$BENCH" --sim --op add_i32 --count 200
expect_rc 0
expect_line '^op=ADD_I32 n=127 count=200 '
expect_line '^latency_us p50=[0-9.]+ p90=[0-9.]+ p99=[0-9.]+ max=[0-9.]+$'
expect_line '^requests/s [0-9]+$'
run bench_json "$BENCH" --sim --op matmul_f32 --count 50 --json
expect_rc 0
expect_line '^\{"op":"MATMUL_F32","n":11,"count":50,.*"p99_us":[0-9.]+,'
run bench_err "$BENCH" --sim-no-mediator --op nop --count 5
expect_rc 1
expect_line '^ERROR MEDIATOR_UNAVAILABLE \(0x03\): '

# ---- wrong arguments: usage and exit 2 --------------------------------------
for tool in "$INFO" "$DUMP" "$SELFTEST" "$VADD" "$BENCH"; do
    run bad_opt "$tool" --sim --no-such-option
    expect_rc 2
    expect_line "unknown option '--no-such-option'"
    expect_line '^vgpu-[a-z-]*: see --help$'
    expect_no_line '^usage:'
    run bad_timeout "$tool" --sim --timeout-ms soon
    expect_rc 2
    run bad_both "$tool" --sim --device 00:04.0
    expect_rc 2
    expect_line 'exclude each other'
    run help "$tool" --help
    expect_rc 0
    expect_line '^usage: vgpu-'
done
run bad_operand "$INFO" --sim extra
expect_rc 2
run bad_pool "$INFO" --sim-pool 7
expect_rc 2
expect_line "--sim-pool: '7' is not a letter A-Z"
run bad_prio "$DUMP" --sim-priority urgent
expect_rc 2
run bad_expect "$SELFTEST" --sim --expect-vm-id 0
expect_rc 2
run no_expect "$SELFTEST" --device 00:04.0
expect_rc 2
expect_line 'required with a real device'
run vadd_one "$VADD" --sim 100
expect_rc 2
run vadd_nan "$VADD" --sim 100 abc
expect_rc 2
expect_line "is not an integer in -2147483648..2147483647"
run vadd_negative "$VADD" --sim -5 3
expect_rc 2
expect_line "unknown option '-5': put -- before a negative operand"
run vadd_big "$VADD" --sim 2147483648 1
expect_rc 2
run vadd_both "$VADD" --sim --n 10 1 2
expect_rc 2
run vadd_seed "$VADD" --sim --seed 3 1 2
expect_rc 2
run vadd_path "$VADD" --sim --n 10 --path fast
expect_rc 2
run vadd_inflight "$VADD" --sim --n 10 --inflight 257
expect_rc 2
run vadd_f32_ops "$VADD" --sim --f32 1 2
expect_rc 2
run bench_op "$BENCH" --sim --op fma
expect_rc 2
expect_line "--op: 'fma' is not one of"
run bench_n "$BENCH" --sim --op matmul_f32 --n 12
expect_rc 2
expect_line 'must have n in 1\.\.11'
run bench_count "$BENCH" --sim --count 0
expect_rc 2

# ---- real devices: a clear error, exit 1 ------------------------------------
run no_dev "$INFO" --device 0000:ff:1f.7
expect_rc 1
expect_line '^vgpu-info: no PCI device 0000:ff:1f\.7'
run bad_bdf "$DUMP" --device not-a-bdf
expect_rc 1
expect_line "'not-a-bdf' is not a PCI address"

# A fake sysfs tree: 00:03.0 is a host bridge, 00:04.0 a "vgpu-stub" whose
# BAR is a plain file, 00:05.0 one whose BAR is 8192 bytes.
DEVS=$T/sys/bus/pci/devices
mkdir -p "$DEVS"

# le32 V: the 4 little-endian bytes of V.
le32() {
    v=$1
    fmt=""
    for _ in 1 2 3 4; do
        fmt="$fmt$(printf '\\%03o' $((v % 256)))"
        v=$((v / 256))
    done
    # shellcheck disable=SC2059 # the format is the octal escapes
    printf "$fmt"
}

# poke FILE OFFSET VALUE: a 32-bit register of a fake BAR.
poke() {
    le32 "$3" | dd of="$1" bs=1 seek="$2" conv=notrunc 2>/dev/null
}

# fake_dev BDF VENDOR DEVICE REVISION BAR_SIZE
fake_dev() {
    d=$DEVS/$1
    mkdir -p "$d"
    echo "$2" >"$d/vendor"
    echo "$3" >"$d/device"
    echo "$4" >"$d/revision"
    echo 0 >"$d/enable"
    dd if=/dev/zero of="$d/resource0" bs="$5" count=1 2>/dev/null
    poke "$d/resource0" 32 65536 # PROTOCOL_VER 0x00010000
    poke "$d/resource0" 36 3     # CAPABILITIES BASIC IRQ
    poke "$d/resource0" 8 67     # POOL_ID 'C'
    poke "$d/resource0" 12 0     # PRIORITY low
    poke "$d/resource0" 16 77    # VM_ID
}
fake_dev 0000:00:03.0 0x8086 0x29c0 0x02 4096
fake_dev 0000:00:04.0 0x1234 0x5647 0x02 4096
fake_dev 0000:00:05.0 0x1234 0x5647 0x02 8192

run fake_info "$INFO" --sysfs-root "$T/sys"
expect_rc 0
expect_line '^bus: +sysfs$'
expect_line '^pool: +C$'
expect_line '^priority: +low$'
expect_line '^vm_id: +77$'
run fake_not_vgpu "$INFO" --sysfs-root "$T/sys" --device 00:03.0
expect_rc 1
expect_line 'the device is not a vgpu-stub: vendor 0x8086 device 0x29c0'
run fake_selftest "$SELFTEST" --sysfs-root "$T/sys" --device 00:04.0 \
    --expect-pool C --expect-priority low --expect-vm-id 77 --timeout-ms 200
expect_rc 1
expect_line '^PASS identity: vendor 0x1234 device 0x5647 rev 0x02$'
expect_line '^PASS bar0-size: 4096 bytes$'
expect_line '^PASS vm-id: 77$'
expect_line '^FAIL read-only: STATUS got 0x'
expect_line '^FAIL zero-length-doorbell: got IDLE NONE, want ERROR'
expect_last '^[0-9]+ passed, [1-9][0-9]* failed$'
run fake_bar "$SELFTEST" --sysfs-root "$T/sys" --device 0000:00:05.0 \
    --expect-pool C --expect-priority low --expect-vm-id 77 --timeout-ms 200
expect_rc 1
expect_line '^FAIL bar0-size: got 8192 bytes, want 4096$'

echo "guest_tools: $checks runs ok"
