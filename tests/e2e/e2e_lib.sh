# Helpers shared by the end-to-end boot tests (tests/e2e/e2e_*.sh). POSIX sh;
# sourced, never run. Each test calls:
#
#   . "$(dirname "$0")/e2e_lib.sh"
#   e2e_init "$@"                      # MEDIATOR SOURCE_DIR from CMake
#   start_mediator --pool A=cpu        # the daemon on $SOCK, log $T/mediator.log
#   boot_bg NAME --test ... --device ...   # tests/e2e/boot.sh in the background
#   wait_mark NAME WORD SECONDS        # a VGPU-E2E-MARK line in NAME's log
#   boot_wait NAME                     # its exit status; report in $T/NAME.out
#   stop_mediator                      # SIGTERM and a bounded wait
#
# QEMU comes from $VGPU_QEMU (default SOURCE_DIR/build/qemu/qemu-system-x86_64,
# built by ci/qemu-build.sh) and the image from $VGPU_GUEST_IMAGE (default
# SOURCE_DIR/build/guest, built by ci/guest-image.sh); a relative path is
# taken from SOURCE_DIR. Without either the test exits 77 and says which
# script to run. Every test has its own mktemp -d directory ($T) with the
# socket, the logs and the serial consoles; the EXIT trap kills what is
# still running, prints the logs on failure and removes $T (kept when
# VGPU_E2E_KEEP is set).

# e2e_init MEDIATOR SOURCE_DIR
e2e_init() {
    if [ $# -lt 2 ]; then
        echo "usage: $0 VGPU_MEDIATOR SOURCE_DIR" >&2
        exit 2
    fi
    MEDIATOR=$1
    SRC=$2
    BOOT=$SRC/tests/e2e/boot.sh
    QEMU=${VGPU_QEMU:-build/qemu/qemu-system-x86_64}
    IMAGE=${VGPU_GUEST_IMAGE:-build/guest}
    case $QEMU in /*) ;; *) QEMU=$SRC/$QEMU ;; esac
    case $IMAGE in /*) ;; *) IMAGE=$SRC/$IMAGE ;; esac
    if [ ! -x "$QEMU" ]; then
        echo "SKIP: no QEMU at $QEMU (build it: sh ci/qemu-build.sh" \
            "build/qemu; or set VGPU_QEMU)"
        exit 77
    fi
    if [ ! -f "$IMAGE/vmlinuz" ] || [ ! -f "$IMAGE/initramfs.cpio.gz" ]; then
        echo "SKIP: no guest image in $IMAGE (build it: sh" \
            "ci/guest-image.sh build/guest; or set VGPU_GUEST_IMAGE)"
        exit 77
    fi
    if [ ! -x "$MEDIATOR" ]; then
        echo "SKIP: $MEDIATOR is not built"
        exit 77
    fi
    # A QEMU that exists but lacks the device is a broken build, not a skip.
    if ! "$QEMU" -device help 2>/dev/null | grep -q '"vgpu-stub"'; then
        echo "FAIL: $QEMU has no vgpu-stub device (-device help)"
        exit 1
    fi
    T=$(mktemp -d "${TMPDIR:-/tmp}/vgpu-e2e.XXXXXX")
    SOCK=$T/m.sock
    MLOG=$T/mediator.log
    MPID=""
    trap e2e_cleanup EXIT
    trap 'exit 130' INT TERM
    echo "qemu: $QEMU"
    echo "image: $IMAGE ($(sed -n 's/^kernel package: //p' \
        "$IMAGE/image.txt" 2>/dev/null))"
}

e2e_cleanup() {
    rc=$?
    for f in "$T"/*.bootpid; do
        [ -f "$f" ] || continue
        # boot.sh passes a TERM on to its QEMU (through timeout(1)).
        pid=$(cat "$f")
        kill -TERM "$pid" 2>/dev/null || true
        i=0
        while kill -0 "$pid" 2>/dev/null && [ "$i" -lt 50 ]; do
            i=$((i + 1))
            sleep 0.1
        done
    done
    if [ -n "$MPID" ]; then
        kill -KILL "$MPID" 2>/dev/null || true
    fi
    if [ "$rc" -ne 0 ] && [ "$rc" -ne 77 ]; then
        for f in "$T"/*.serial; do
            [ -f "$f" ] || continue
            echo "---- $(basename "$f") (last 40 lines) ----"
            tail -n 40 "$f"
        done
        if [ -f "$MLOG" ]; then
            echo "---- mediator log (last 20 lines) ----"
            tail -n 20 "$MLOG"
        fi
    fi
    if [ -n "${VGPU_E2E_KEEP:-}" ]; then
        echo "kept $T"
    else
        rm -rf "$T"
    fi
    exit "$rc"
}

fail() {
    echo "FAIL: $*"
    exit 1
}

# start_mediator FLAGS...: the daemon on $SOCK, logging to $MLOG (appended,
# so that a restart keeps the earlier lines); waits at most 10 s for the
# socket. Sets MPID.
start_mediator() {
    "$MEDIATOR" --socket "$SOCK" --log-file "$MLOG" "$@" \
        >>"$T/mediator.out" 2>&1 &
    MPID=$!
    i=0
    # A killed daemon leaves its socket file: wait for it to answer.
    while ! "$MEDIATOR" --socket "$SOCK" --stats --reconnect-ms 0 \
        >/dev/null 2>&1; do
        if ! kill -0 "$MPID" 2>/dev/null; then
            cat "$T/mediator.out"
            MPID=""
            fail "the mediator exited at start ($*)"
        fi
        i=$((i + 1))
        [ "$i" -le 200 ] || fail "the mediator did not answer in 10 s"
        sleep 0.05
    done
    echo "mediator started (pid $MPID)"
}

# kill_mediator: SIGKILL, as a crash would.
kill_mediator() {
    [ -n "$MPID" ] || return 0
    kill -KILL "$MPID" 2>/dev/null || true
    wait "$MPID" 2>/dev/null || true
    echo "mediator killed (pid $MPID)"
    MPID=""
}

# stop_mediator: SIGTERM, then at most 10 s for it to exit 0.
stop_mediator() {
    [ -n "$MPID" ] || return 0
    kill -TERM "$MPID" 2>/dev/null || true
    i=0
    while kill -0 "$MPID" 2>/dev/null; do
        i=$((i + 1))
        [ "$i" -le 200 ] || fail "the mediator did not exit 10 s after SIGTERM"
        sleep 0.05
    done
    mrc=0
    wait "$MPID" || mrc=$?
    MPID=""
    [ "$mrc" -eq 0 ] || fail "the mediator exited with status $mrc"
}

# wait_all NAME...: boot_wait each boot; fails when any of them failed.
wait_all() {
    wrc=0
    for name in "$@"; do
        boot_wait "$name" || wrc=1
    done
    [ "$wrc" -eq 0 ] || fail "a guest's scenario failed"
}

# read_stats VMS: the daemon's --stats into $T/stats, printed; it must say
# that VMS VMs are connected.
read_stats() {
    "$MEDIATOR" --socket "$SOCK" --stats >"$T/stats" ||
        fail "vgpu-mediator --stats failed"
    cat "$T/stats"
    grep -q "^vms $1\$" "$T/stats" || fail "--stats does not say 'vms $1'"
}

# stats_vm VM POOL PRIO: the daemon's --stats in $T/stats (read_stats)
# lists VM with POOL and PRIO and no errors; sets STATS_LINE to its line.
stats_vm() {
    STATS_LINE=$(grep "^vm=$1 " "$T/stats") || fail "--stats has no vm=$1"
    case $STATS_LINE in
    *" pool=$2 priority=$3 "*) ;;
    *) fail "vm $1 is not pool $2, $3: $STATS_LINE" ;;
    esac
    case $STATS_LINE in
    *" errors=-"*) ;;
    *) fail "vm $1 had errors: $STATS_LINE" ;;
    esac
}

# boot_bg NAME BOOT_ARGS...: tests/e2e/boot.sh in the background, its serial
# console in $T/NAME.serial and its report in $T/NAME.out.
boot_bg() {
    name=$1
    shift
    sh "$BOOT" --qemu "$QEMU" --image "$IMAGE" --log "$T/$name.serial" \
        --label "$name" "$@" >"$T/$name.out" 2>&1 &
    echo $! >"$T/$name.bootpid"
}

# boot_wait NAME: wait for it; prints its report; returns its exit status.
boot_wait() {
    pid=$(cat "$T/$1.bootpid")
    brc=0
    wait "$pid" || brc=$?
    rm -f "$T/$1.bootpid"
    cat "$T/$1.out"
    return "$brc"
}

# wait_mark NAME WORD SECONDS: wait until NAME's serial console has a line
# "VGPU-E2E-MARK: WORD...", at most SECONDS; fails when the boot ends first
# or time runs out.
wait_mark() {
    i=0
    while ! grep -aq "^VGPU-E2E-MARK: $2\\b" "$T/$1.serial" 2>/dev/null; do
        if ! kill -0 "$(cat "$T/$1.bootpid")" 2>/dev/null; then
            boot_wait "$1" || true
            fail "$1 ended before the mark '$2'"
        fi
        i=$((i + 1))
        [ "$i" -le $(($3 * 10)) ] || fail "$1: no mark '$2' within $3 s"
        sleep 0.1
    done
    echo "$1: mark $2 at $(elapsed_s) s"
}

# elapsed_s: seconds since e2e_init, one decimal.
E2E_T0=$(date +%s.%N)
elapsed_s() {
    awk -v a="$E2E_T0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'
}
