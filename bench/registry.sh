#!/bin/sh
# bench/registry.sh [BUILD]: the VM registry from 1,000 to 100,000 VMs
# (docs/performance.md, "A registry of 100,000 VMs"). Builds in Release
# (default build dir: build/bench-registry) and prints:
#   1. bench_registry: load, check, lookup of every vm_id and one add
#      (vgpu-admin register-vm's work), against read(2) of the file's bytes,
#      and the ratio of the 100k load to the 10k load (linear: 10);
#   2. the daemon's start with --registry of N VMs, until its socket exists
#      (best of 3): "ready";
#   3. a running VM's NOP latency (vgpu-testpeer, one in flight, 4 s) with a
#      100,000-VM registry, without and then with a SIGHUP every 0.5 s: the
#      largest latency of each run;
#   4. vgpu-admin register-vm into a 100,000-VM registry (best of 3).
# Figures go into docs/performance.md by hand.
set -eu
ROOT=$(CDPATH= cd -- "$(dirname -- "$0")/.." && pwd)
cd "$ROOT"
BUILD=${1:-build/bench-registry}
cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DVGPU_BUILD_TESTS=ON >/dev/null
cmake --build "$BUILD" --target vgpu-mediator vgpu-admin vgpu-testpeer \
    bench_registry -- -j2 >/dev/null
DAEMON=$BUILD/src/daemon/vgpu-mediator
ADMIN=$BUILD/src/admin/vgpu-admin
PEER=$BUILD/tests/tools/vgpu-testpeer
BENCH=$BUILD/bench/bench_registry

. bench/lib.sh
bench_tmp vgpu-bench-registry

now_ms() {
    echo $(($(date +%s%N) / 1000000))
}

# start N: the daemon on a registry of N VMs; START_MS: the ms to its
# socket. (Not run in $(...): the daemon would hold its pipe open.)
start() {
    rm -f "$T/m.sock" "$T/m.sock.ctl"
    t0=$(now_ms)
    "$DAEMON" --socket "$T/m.sock" --registry "$T/vms-$1.conf" \
        --log-file "$T/log" --log-level "${LEVEL:-warn}" --pool A=cpu \
        --pool B=cpu &
    DPID=$!
    while [ ! -S "$T/m.sock" ]; do
        kill -0 "$DPID" 2>/dev/null || { cat "$T/log"; exit 1; }
        sleep 0.002
    done
    START_MS=$(($(now_ms) - t0))
}

stop() {
    kill -TERM "$DPID"
    wait "$DPID" || true
    DPID=""
}

echo "machine: $(nproc) cores, $(sed -n 's/^model name\t*: //p' /proc/cpuinfo | head -1)"
echo "== 1. bench_registry"
"$BENCH"

echo "== 2. daemon ready (ms to the socket, best of 3)"
for n in 1000 10000 100000; do
    "$BENCH" --write "$T/vms-$n.conf" "$n"
    best=""
    for r in 1 2 3; do
        start "$n"
        stop
        if [ -z "$best" ] || [ "$START_MS" -lt "$best" ]; then
            best=$START_MS
        fi
    done
    echo "$n VMs: ready in $best ms"
done

echo "== 3. NOP latency of a running VM, 100,000-VM registry"
# vm-1 of bench_registry's file: vm_id 1, pool B, priority medium. The log
# is at info in both runs (a line per request), so that the reloads show.
LEVEL=info
for hup in 0 1; do
    start 100000
    "$PEER" --socket "$T/m.sock" --vm-id 1 --pool B --priority medium \
        --op nop --duration-ms 4000 >"$T/peer.out" 2>&1 &
    PPID_=$!
    if [ "$hup" = 1 ]; then
        for i in 1 2 3 4 5 6; do
            sleep 0.5
            kill -HUP "$DPID"
        done
    fi
    wait "$PPID_" || { cat "$T/peer.out"; exit 1; }
    reloads=$(grep -c 'registry .* reloaded' "$T/log" || true)
    stop
    summary=$(grep '^vm=' "$T/peer.out")
    echo "SIGHUP $([ "$hup" = 1 ] && echo 'every 0.5 s' || echo 'none'):" \
        "$(echo "$summary" | sed 's/.*\(done=[0-9]*\).*\(lat_avg_us=[0-9]*\).*\(lat_max_us=[0-9]*\).*/\1 \2 \3/')" \
        "(reloads logged: $reloads)"
done

echo "== 4. vgpu-admin register-vm into 100,000 VMs (best of 3)"
best=""
for r in 1 2 3; do
    t0=$(now_ms)
    "$ADMIN" --registry "$T/vms-100000.conf" register-vm --vm-name "new-$r" \
        --vm-id $((200000 + r)) --pool A --priority low >/dev/null
    ms=$(($(now_ms) - t0))
    if [ -z "$best" ] || [ "$ms" -lt "$best" ]; then best=$ms; fi
done
echo "register-vm: $best ms"
