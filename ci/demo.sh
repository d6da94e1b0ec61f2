#!/bin/sh
# The main job (README): install what is missing, build, start a real
# vgpu-mediator on a private socket, and run four simulated VMs against it
# with vgpu-sim: each VM is the device model driven by libvgpu-guest, with
# its own connection to the daemon, and every result is checked against
# the CPU backend run locally. Prints vgpu-sim's per-VM lines and summary,
# stops the daemon with SIGTERM (it must exit 0), and exits with vgpu-sim's
# status (0: every request succeeded and matched).
#
# Environment: VGPU_BUILD_DIR (default build/demo); VGPU_DEMO_KEEP=1 keeps
# the temporary directory (socket, daemon log) for a look afterwards;
# VGPU_DEMO_BIN=DIR runs the vgpu-mediator and vgpu-sim in DIR (installed
# ones) instead of building, and VGPU_DEMO_REQUESTS=N sends N requests a VM
# instead of 2000 (the CTest test docs/first-steps runs the demo so).
set -eu
ROOT=$(CDPATH= cd -- "$(dirname -- "$0")/.." && pwd)
cd "$ROOT"
. ci/lib.sh
vgpu_need_pkgs cmake ninja-build gcc libc6-dev pkg-config
BUILD=${VGPU_BUILD_DIR:-build/demo}
REQUESTS=${VGPU_DEMO_REQUESTS:-2000}

if [ -n "${VGPU_DEMO_BIN:-}" ]; then
    DAEMON=$VGPU_DEMO_BIN/vgpu-mediator
    SIM=$VGPU_DEMO_BIN/vgpu-sim
else
    echo "== build ($BUILD, Release)"
    cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release \
        -DVGPU_BUILD_TESTS=OFF >/dev/null
    cmake --build "$BUILD" --target vgpu-mediator vgpu-sim -- -j2 >/dev/null
    DAEMON=$BUILD/src/daemon/vgpu-mediator
    SIM=$BUILD/src/sim/vgpu-sim
fi

T=$(mktemp -d "${TMPDIR:-/tmp}/vgpu-demo.XXXXXX")
SOCK=$T/mediator.sock
LOG=$T/mediator.log
DPID=""

cleanup() {
    rc=$?
    if [ -n "$DPID" ]; then
        kill -KILL "$DPID" 2>/dev/null || true
    fi
    if [ -n "${VGPU_DEMO_KEEP:-}" ]; then
        echo "kept $T"
    else
        rm -rf "$T"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "== start vgpu-mediator on $SOCK (pools A and B on the CPU backend)"
"$DAEMON" --socket "$SOCK" --pool A=cpu --pool B=cpu --log-file "$LOG" \
    >"$T/daemon.out" 2>&1 &
DPID=$!
i=0
while [ ! -S "$SOCK" ]; do
    if ! kill -0 "$DPID" 2>/dev/null; then
        cat "$T/daemon.out" "$LOG" 2>/dev/null || true
        DPID=""
        echo "demo: the daemon exited at start" >&2
        exit 1
    fi
    i=$((i + 1))
    if [ "$i" -gt 200 ]; then
        echo "demo: no socket at $SOCK after 10 s" >&2
        exit 1
    fi
    sleep 0.05
done

echo "== vgpu-sim: 4 VMs, pools A/B, priorities high/medium/low/medium," \
    "$REQUESTS ADD_I32 requests each"
SRC=0
"$SIM" --socket "$SOCK" --vms 4 --pools AB \
    --priorities high,medium,low,medium --op add_i32 --requests "$REQUESTS" ||
    SRC=$?

echo "== stop vgpu-mediator (SIGTERM)"
kill -TERM "$DPID"
i=0
while kill -0 "$DPID" 2>/dev/null; do
    i=$((i + 1))
    if [ "$i" -gt 200 ]; then
        echo "demo: the daemon did not exit 10 s after SIGTERM" >&2
        exit 1
    fi
    sleep 0.05
done
DRC=0
wait "$DPID" || DRC=$?
DPID=""
echo "daemon: exit status $DRC, $(grep -c ' op=ADD_I32 status=NONE ' "$LOG") requests in its log"
if [ "$DRC" -ne 0 ]; then
    tail -n 20 "$LOG"
    echo "demo: the daemon exited with status $DRC" >&2
    [ "$SRC" -ne 0 ] || SRC=1
fi
echo "demo: vgpu-sim exit status $SRC"
exit "$SRC"
