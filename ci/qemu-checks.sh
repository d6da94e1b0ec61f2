#!/bin/sh
# ci/qemu-checks.sh [STEP [SECONDS]]: QEMU's own checks on the vgpu-stub device,
# on top of our own tests (docs/qemu.md, docs/reliability.md):
#
#   xen     the device in XCP-ng's qemu-dm configuration (i386-softmmu,
#           --enable-xen, --disable-tcg --disable-kvm, no default devices,
#           --enable-werror; Debian's libxen-dev), and the qtest driver
#           (vgpu-qtest) run against that binary under -accel qtest
#   full    QEMU with the machines' default devices, and QEMU's own
#           device-introspect-test (slow mode), qom-test and test-hmp
#           against it, with the device compiled in
#   fuzz    QEMU's generic-fuzz (clang, --enable-fuzzing
#           --enable-sanitizers) on the device: SECONDS (default 120)
#           without a mediator and SECONDS with the real daemon, from the
#           seeds of tests/fuzz/qemu/seeds.sh, after replaying every input
#           in tests/fuzz/qemu/regressions. A crash fails the step and its
#           input is copied into that folder, to be committed.
#   current the device in the newest QEMU of Debian's next stable release
#           (trixie's source: QEMU 10.0, ci/qemu-build.sh with
#           VGPU_QEMU_SUITE=trixie into build/qemu10), and against it the
#           qtest driver (every check vgpu-qtest makes on 7.2, the queue's
#           DMA and migration included) and one guest boot
#           (tests/e2e/e2e_guest_basic.sh with VGPU_QEMU set)
#
# STEP is xen, full, fuzz, current or all (the default); ci/test.sh runs each as a
# stage of its own, so its wall-time line shows each.
#
# Each QEMU is built by ci/qemu-build.sh OUT VARIANT from the same
# integrated source as build/qemu (cached like it). The daemon and
# vgpu-qtest come from $VGPU_BUILD_DIR (default build/ci), built before.
# One line per step and its figures; exit 1 if any step failed.
set -eu
ROOT=$(CDPATH='' cd -- "$(dirname -- "$0")/.." && pwd)
cd "$ROOT"
. ci/lib.sh

STEP=${1:-all}
SECS=${2:-${VGPU_QEMU_FUZZ_SECONDS:-120}}
case $STEP:$SECS in
xen:* | full:* | fuzz:* | current:* | all:*) ;;
*)
    echo "usage: ci/qemu-checks.sh [xen|full|fuzz|current|all [SECONDS]]" >&2
    exit 2
    ;;
esac
case $SECS in
'' | *[!0-9]*)
    echo "usage: ci/qemu-checks.sh [xen|full|fuzz|current|all [SECONDS]]" >&2
    exit 2
    ;;
esac
BUILD=${VGPU_BUILD_DIR:-build/ci}
MEDIATOR=$ROOT/$BUILD/src/daemon/vgpu-mediator
QTEST=$ROOT/$BUILD/tests/e2e/vgpu-qtest
SIM=$ROOT/$BUILD/src/sim/vgpu-sim
FIRMWARE="-L /usr/share/seabios -L /usr/share/qemu"
for f in "$MEDIATOR" "$QTEST" "$SIM"; do
    [ -x "$f" ] || {
        echo "ci/qemu-checks.sh: $f is not built (build $BUILD first)" >&2
        exit 2
    }
done

T=$(mktemp -d "${TMPDIR:-/tmp}/vgpu-qemu-checks.XXXXXX")
DPID=""
cleanup() {
    [ -z "$DPID" ] || kill "$DPID" 2>/dev/null || true
    rm -rf "$T"
}
trap cleanup EXIT

rc=0
summary=""
# step NAME CMD...: run it, count it, keep going.
step() {
    step_name=$1
    shift
    echo "== qemu-checks: $step_name"
    s0=$(date +%s)
    if "$@"; then
        verdict=ok
    else
        verdict=FAILED
        rc=1
    fi
    summary="$summary $step_name=$(($(date +%s) - s0))s($verdict)"
}

# ---- XCP-ng's configuration ------------------------------------------------

xen_check() {
    sh ci/qemu-build.sh build/qemu-xen xen || return 1
    "$QTEST" --qemu "$ROOT/build/qemu-xen/qemu-system-i386" \
        --mediator "$MEDIATOR" --sim "$SIM" --root "$ROOT" >"$T/xen.log" 2>&1
    qrc=$?
    grep -v '^ok' "$T/xen.log" || true
    [ "$qrc" -eq 0 ]
}

# ---- The current QEMU (Debian trixie's 10.0) --------------------------------

current_check() {
    VGPU_QEMU_SUITE=trixie sh ci/qemu-build.sh build/qemu10 || return 1
    q10=$ROOT/build/qemu10/qemu-system-x86_64
    "$QTEST" --qemu "$q10" --mediator "$MEDIATOR" --sim "$SIM" \
        --root "$ROOT" >"$T/current.log" 2>&1
    qrc=$?
    grep -v '^ok' "$T/current.log" || true
    [ "$qrc" -eq 0 ] || return 1
    VGPU_QEMU=$q10 timeout 300 sh tests/e2e/e2e_guest_basic.sh "$MEDIATOR" \
        "$ROOT" >"$T/current-boot.log" 2>&1 || {
        tail -n 40 "$T/current-boot.log"
        echo "current: the guest boot on $("$q10" --version | head -n 1) failed"
        return 1
    }
    echo "current: $("$q10" --version | head -n 1):" \
        "$(grep -E '^(boot vm1|vm=1) ' "$T/current-boot.log" | tr '\n' ' ')"
}

# ---- QEMU's own qtests, with the default devices ---------------------------

full_check() {
    # The default devices include NICs whose option ROMs Debian ships in
    # ipxe-qemu.
    vgpu_need_pkgs ipxe-qemu
    sh ci/qemu-build.sh build/qemu-full full || return 1
    # QEMU's qtests start $QTEST_QEMU_BINARY, which must be named
    # qemu-system-x86_64; a wrapper adds the firmware path.
    mkdir -p "$T/bin"
    printf '#!/bin/sh\nexec %s %s "$@"\n' \
        "$ROOT/build/qemu-full/qemu-system-x86_64" \
        "$FIRMWARE -L /usr/lib/ipxe/qemu" \
        >"$T/bin/qemu-system-x86_64"
    chmod +x "$T/bin/qemu-system-x86_64"
    ok=0
    for t in device-introspect-test qom-test test-hmp; do
        mode=""
        [ "$t" != device-introspect-test ] || mode="-m slow"
        # shellcheck disable=SC2086 # the mode is words
        if QTEST_QEMU_BINARY=$T/bin/qemu-system-x86_64 \
            timeout 600 "$ROOT/build/qemu-full/$t" $mode >"$T/$t.log" 2>&1; then
            echo "$t: $(grep -c '^ok ' "$T/$t.log") ok, $(grep -c '^not ok ' \
                "$T/$t.log") not ok"
        else
            echo "$t: FAILED"
            tail -n 20 "$T/$t.log"
            ok=1
        fi
    done
    "$ROOT/build/qemu-full/qemu-system-x86_64" -device help 2>&1 |
        grep -q '"vgpu-stub"' || {
        echo "full: the device is not in the default-devices build"
        ok=1
    }
    return "$ok"
}

# ---- generic-fuzz ------------------------------------------------------------

FUZZ=$ROOT/build/qemu-fuzz/qemu-fuzz-x86_64
REGRESS=$ROOT/tests/fuzz/qemu/regressions

# fuzz_run NAME SOCKET ARGS...: generic-fuzz on the device; figures.
fuzz_run() {
    name=$1
    sock=$2
    shift 2
    QEMU_FUZZ_ARGS="$FIRMWARE -machine q35 -nodefaults \
-device vgpu-stub,pool_id=A,vm_id=1,timeout_ms=100,socket=$sock" \
        QEMU_FUZZ_OBJECTS="vgpu*" "$FUZZ" --fuzz-target=generic-fuzz \
        -print_final_stats=1 -print_coverage=1 -artifact_prefix="$T/$name-" \
        "$@" >"$T/$name.log" 2>&1
    frc=$?
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$T/$name.log" |
        tail -n 1)
    cov=$(sed -n 's/.* cov: \([0-9]*\) .*/\1/p' "$T/$name.log" | tail -n 1)
    crashes=$(find "$T" -maxdepth 1 -name "$name-*" | wc -l)
    echo "qemu generic-fuzz $name: ${runs:-0} runs, coverage ${cov:-?}" \
        "edges, $crashes crashes"
    for f in devmodel.c queue.c; do
        grep -E '^(UN)?COVERED_FUNC' "$T/$name.log" | grep "vgpu/devmodel/$f" |
            sed -n 's/.*edges: \([0-9]*\)\/\([0-9]*\).*/\1 \2/p' |
            awk -v f="$f" '{ a += $1; b += $2 }
                END { if (b) printf "  src/devmodel/%s: %d of %d edges\n", f, a, b }'
    done
    if [ "$frc" -ne 0 ] || [ "$crashes" -gt 0 ]; then
        tail -n 30 "$T/$name.log"
        mkdir -p "$REGRESS"
        for f in "$T/$name"-*; do
            [ -f "$f" ] || continue
            cp "$f" "$REGRESS/" && echo "saved $REGRESS/$(basename "$f")"
        done
        return 1
    fi
}

fuzz_check() {
    sh ci/qemu-build.sh build/qemu-fuzz fuzz || return 1
    rm -rf "$T/corpus"
    sh tests/fuzz/qemu/seeds.sh "$T/corpus" >/dev/null
    ok=0
    if [ -d "$REGRESS" ] && [ -n "$(ls "$REGRESS" 2>/dev/null)" ]; then
        # Every saved input once (libFuzzer runs files given by name).
        fuzz_run regressions "$T/none.sock" -runs=0 "$REGRESS"/* || ok=1
    fi
    fuzz_run no-mediator "$T/none.sock" -max_total_time="$SECS" \
        "$T/corpus" || ok=1
    "$MEDIATOR" --socket "$T/m.sock" --pool A=cpu --log-level warn \
        --log-file "$T/m.log" &
    DPID=$!
    i=0
    while ! "$MEDIATOR" --socket "$T/m.sock" --stats >/dev/null 2>&1; do
        i=$((i + 1))
        [ "$i" -le 100 ] || {
            echo "fuzz: the daemon did not start"
            return 1
        }
        sleep 0.1
    done
    fuzz_run mediator "$T/m.sock" -max_total_time="$SECS" "$T/corpus" || ok=1
    kill "$DPID" 2>/dev/null || true
    wait "$DPID" 2>/dev/null || true
    DPID=""
    return "$ok"
}

for s in xen current full fuzz; do
    [ "$STEP" = all ] || [ "$STEP" = "$s" ] || continue
    step "$s" "${s}_check"
done
echo "== qemu-checks:$summary"
exit "$rc"
