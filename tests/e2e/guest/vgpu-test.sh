#!/bin/sh
# /etc/vgpu-test.sh NAME [ARG...]: the scenarios of the end-to-end guest
# (run by /init, which prints the VGPU-E2E-RESULT line). Exit 0: the scenario
# passed; otherwise the reason is the one line in /tmp/vgpu-why.
#
# Lines for the host (tests/e2e/*.sh tail the serial log for them):
#   VGPU-E2E-MARK: WORD ...   a phase was reached (the host may act on it)
#   + CMD                     each tool run, followed by its output
#
# Scenarios:
#   basic POOL PRIO VM_ID     vgpu-selftest with that identity; vector adds
#                             (100 + 200, 100000 random elements, seed 42);
#                             the same with --irq on uio_pci_generic, with
#                             the interrupt count checked in /proc/interrupts
#   vecadd POOL PRIO VM_ID SEED ROUNDS N
#                             vgpu-selftest, then ROUNDS verified random
#                             vector adds of N elements, seeds SEED, SEED+1...
#   failures POOL PRIO VM_ID  no mediator at boot, then up, lost, back (the
#                             host drives it on the marks; see
#                             tests/e2e/e2e_failures.sh)
#   bench COUNT [OP]          vgpu-bench --op OP (default nop) --count COUNT
#   qperf POOL PRIO VM_ID N INFLIGHT
#                             N-float vector adds through the queue, then
#                             the mailbox, verified; both times in a mark
#   qmixed POOL PRIO VM_ID SEED ROUNDS
#                             queue and mailbox vector adds, alternating
#   qkill POOL PRIO VM_ID     32 queue requests in flight when the host kills
#                             the mediator; then the host restarts it (see
#                             tests/e2e/e2e_queue_failures.sh)
#   latency COUNT             vgpu-bench NOP polled, then with --irq on
#                             uio_pci_generic (the two p50s of
#                             docs/performance.md)
#   run CMD...                any command line (for debugging by hand)
set -u
WHY=/tmp/vgpu-why
RETRY_S=60   # how long the guest waits for the mediator to appear or go
TOOL_S=30    # how long one tool may run (the host's bound is 90 s a boot)
BDF=""

fail() {
    echo "$*" >"$WHY"
    echo "FAIL: $*"
    exit 1
}

mark() {
    echo "VGPU-E2E-MARK: $*"
}

# cap CMD...: run CMD (killed after TOOL_S seconds), print its command line
# and its output (stdout and stderr), keep the output in $CAP; returns CMD's
# exit status.
cap() {
    echo "+ $*"
    CAP=$(timeout -s KILL "$TOOL_S" "$@" 2>&1)
    cap_rc=$?
    if [ "$cap_rc" -eq 137 ]; then
        CAP="${CAP:+$CAP
}(killed: still running after $TOOL_S s)"
    fi
    [ -z "$CAP" ] || echo "$CAP"
    return "$cap_rc"
}

# find_device: BDF of the first PCI device with vendor 0x1234, device 0x5647
# (sysfs only; the image has no lspci).
find_device() {
    n=0
    for d in /sys/bus/pci/devices/*; do
        [ -f "$d/vendor" ] || continue
        n=$((n + 1))
        if [ "$(cat "$d/vendor")" = 0x1234 ] &&
            [ "$(cat "$d/device")" = 0x5647 ]; then
            BDF=${d##*/}
            echo "vgpu-stub at $BDF"
            return 0
        fi
    done
    fail "no vgpu-stub (vendor 0x1234 device 0x5647) among $n PCI devices"
}

# identity POOL PRIO VM_ID: the selftest's expectations.
identity() {
    echo "--expect-pool $1 --expect-priority $2 --expect-vm-id $3"
}

need_args() {
    want=$1
    shift
    [ "$#" -eq "$want" ] || fail "$SCENARIO: want $want arguments, got $#: $*"
}

# vector_add_n N SEED [--irq]: a verified random vector add through the
# mailbox (requests of 127 elements; the queue has scenarios of its own).
vector_add_n() {
    # shellcheck disable=SC2086 # no word at all when there is no $3
    cap vgpu-vector-add --device "$BDF" ${3:-} --n "$1" --random --seed "$2" \
        --path mailbox ||
        fail "vgpu-vector-add --n $1 --seed $2 ${3:-} failed: $(echo "$CAP" |
            head -n 1)"
    echo "$CAP" | grep -qx "n=$1 ok" ||
        fail "vgpu-vector-add --n $1 --seed $2 did not print n=$1 ok"
}

# add_100_200: vgpu-vector-add 100 200 must print 300.
add_100_200() {
    cap vgpu-vector-add --device "$BDF" 100 200 ||
        fail "vgpu-vector-add 100 200 failed: $(echo "$CAP" | head -n 1)"
    [ "$CAP" = 300 ] || fail "vgpu-vector-add 100 200 printed '$CAP'"
}

# uio_irqs: the interrupt count of uio_pci_generic in /proc/interrupts
# (0 when it has no line yet).
uio_irqs() {
    awk '/uio_pci_generic/ {
        for (i = 2; i <= NF && $i ~ /^[0-9]+$/; i++) { s += $i }
    } END { print s + 0 }' /proc/interrupts
}

# bind_uio: load the uio modules and bind the device to uio_pci_generic;
# waits (at most 5 s) for its /dev/uioN.
bind_uio() {
    insmod /lib/modules/uio.ko || fail "insmod uio.ko failed"
    insmod /lib/modules/uio_pci_generic.ko ||
        fail "insmod uio_pci_generic.ko failed"
    echo "1234 5647" >/sys/bus/pci/drivers/uio_pci_generic/new_id ||
        fail "cannot write uio_pci_generic's new_id"
    i=0
    while :; do
        for u in /sys/bus/pci/devices/"$BDF"/uio/uio*; do
            if [ -e "$u" ] && [ -c "/dev/${u##*/}" ]; then
                echo "$BDF bound to uio_pci_generic: /dev/${u##*/}"
                return 0
            fi
        done
        i=$((i + 1))
        [ "$i" -le 50 ] || fail "$BDF: no /dev/uioN 5 s after binding"
        sleep 0.1
    done
}

# is_unavailable: $CAP names MEDIATOR_UNAVAILABLE.
is_unavailable() {
    echo "$CAP" | grep -q '^ERROR MEDIATOR_UNAVAILABLE '
}

# ---- Scenarios -------------------------------------------------------------

scn_basic() {
    need_args 3 "$@"
    find_device
    cap vgpu-info --device "$BDF" || fail "vgpu-info failed"
    # shellcheck disable=SC2046 # identity's words are separate options
    cap vgpu-selftest --device "$BDF" $(identity "$@") ||
        fail "vgpu-selftest: $(echo "$CAP" | grep '^FAIL' | head -n 1)"
    add_100_200
    vector_add_n 100000 42
    mark polling-ok

    bind_uio
    irq=$(cat "/sys/bus/pci/devices/$BDF/irq")
    before=$(uio_irqs)
    irq_rc=0
    cap vgpu-vector-add --device "$BDF" --irq --n 100000 --random --seed 42 \
        --path mailbox || irq_rc=$?
    after=$(uio_irqs)
    rose=$((after - before))
    unhandled=$(sed -n 's/^unhandled //p' "/proc/irq/$irq/spurious")
    # 788 requests. A completion raises the line when it is unmasked: the
    # handler masks it, and the client unmasks it at its next wait, which
    # it skips when STATUS is already DONE at its first look; so about half
    # the requests raise one (430 and 788 in two runs on TCG). Polling
    # raises none: at least 79 (a tenth) shows the interrupt path at work.
    # At most one per request and a few spurious ones (a line that fell
    # before the CPU took it): a storm (a line left asserted) is thousands,
    # most of them unhandled, until the kernel says "nobody cared" and
    # disables the IRQ.
    echo "uio_pci_generic (irq $irq): $before -> $after interrupts" \
        "(+$rose) for 788 requests; unhandled: $unhandled"
    grep uio_pci_generic /proc/interrupts
    if dmesg | grep -e 'nobody cared' -e 'Disabling IRQ'; then
        fail "--irq: interrupt storm: the kernel disabled irq $irq"
    fi
    if [ "$rose" -gt 1000 ] || [ "${unhandled:-0}" -gt 100 ]; then
        fail "--irq: interrupt storm: $rose interrupts, $unhandled" \
            "unhandled, for 788 requests (want <= 1000 and <= 100)"
    fi
    [ "$irq_rc" -eq 0 ] ||
        fail "vgpu-vector-add --irq --n 100000 failed: $(echo "$CAP" |
            tail -n 1)"
    echo "$CAP" | grep -qx "n=100000 ok" ||
        fail "vgpu-vector-add --irq --n 100000 did not print n=100000 ok"
    [ "$rose" -ge 79 ] ||
        fail "--irq: only $rose uio interrupts for 788 requests (want >= 79)"
    cap vgpu-vector-add --device "$BDF" --irq 100 200 ||
        fail "vgpu-vector-add --irq 100 200 failed"
    [ "$CAP" = 300 ] || fail "vgpu-vector-add --irq 100 200 printed '$CAP'"
    mark irq-ok "$rose"
}

scn_vecadd() {
    need_args 6 "$@"
    find_device
    # shellcheck disable=SC2046
    cap vgpu-selftest --device "$BDF" $(identity "$1" "$2" "$3") ||
        fail "vgpu-selftest: $(echo "$CAP" | grep '^FAIL' | head -n 1)"
    r=0
    while [ "$r" -lt "$5" ]; do
        vector_add_n "$6" $(($4 + r))
        r=$((r + 1))
    done
    mark vecadd-ok "vm=$3 rounds=$5 n=$6"
}

# retry_until_ok WHAT: vgpu-vector-add 100 200 every 0.5 s until it prints
# 300 (at most RETRY_S); any failure other than MEDIATOR_UNAVAILABLE fails.
retry_until_ok() {
    tries=0
    limit=$((RETRY_S * 2))
    while :; do
        tries=$((tries + 1))
        if cap vgpu-vector-add --device "$BDF" 100 200; then
            [ "$CAP" = 300 ] || fail "vgpu-vector-add 100 200 printed '$CAP'"
            echo "$1: success after $tries tries"
            return 0
        fi
        is_unavailable || fail "$1: want MEDIATOR_UNAVAILABLE, got: $CAP"
        [ "$tries" -lt "$limit" ] ||
            fail "$1: still MEDIATOR_UNAVAILABLE after $RETRY_S s"
        sleep 0.5
    done
}

scn_failures() {
    need_args 3 "$@"
    find_device
    # Phase 1: no mediator.
    # shellcheck disable=SC2046
    cap vgpu-selftest --device "$BDF" $(identity "$@") --expect-no-mediator ||
        fail "vgpu-selftest --expect-no-mediator: $(echo "$CAP" |
            grep '^FAIL' | head -n 1)"
    if cap vgpu-vector-add --device "$BDF" 1 2; then
        fail "vgpu-vector-add 1 2 succeeded with no mediator"
    fi
    is_unavailable || fail "no mediator: want MEDIATOR_UNAVAILABLE, got: $CAP"
    mark no-mediator

    # Phase 2: the host starts the mediator.
    retry_until_ok "mediator start"
    mark mediator-up

    # Phase 3: requests in a loop until the host kills the mediator.
    runs=0
    t_end=$(($(cut -d. -f1 /proc/uptime) + RETRY_S))
    while :; do
        runs=$((runs + 1))
        if ! cap vgpu-vector-add --device "$BDF" --n 12700 --random \
            --seed "$runs" --path mailbox; then
            is_unavailable ||
                fail "mediator killed: want MEDIATOR_UNAVAILABLE, got: $CAP"
            break
        fi
        echo "$CAP" | grep -qx "n=12700 ok" ||
            fail "run $runs: vgpu-vector-add did not print n=12700 ok"
        [ "$runs" -ne 1 ] || mark streaming
        [ "$(cut -d. -f1 /proc/uptime)" -lt "$t_end" ] ||
            fail "the mediator was not killed within $RETRY_S s"
    done
    mark mediator-lost "after $((runs - 1)) good runs"

    # Phase 4: the host restarts it.
    retry_until_ok "mediator restart"
    vector_add_n 12700 4242
    mark mediator-back
}

scn_bench() {
    if [ "$#" -lt 1 ] || [ "$#" -gt 2 ]; then
        fail "bench: want COUNT [OP]"
    fi
    find_device
    cap vgpu-bench --device "$BDF" --op "${2:-nop}" --count "$1" ||
        fail "vgpu-bench failed: $(echo "$CAP" | tail -n 1)"
}

# ---- The queue (SPEC.md section 11) ---------------------------------------

# need_queue_selftest POOL PRIO VM_ID: vgpu-selftest passes, the device has
# the queue, and its NOP through the queue completed (DMA memory works).
need_queue_selftest() {
    # shellcheck disable=SC2046
    cap vgpu-selftest --device "$BDF" $(identity "$@") ||
        fail "vgpu-selftest: $(echo "$CAP" | grep '^FAIL' | head -n 1)"
    echo "$CAP" | grep -q '^PASS queue-nop' ||
        fail "no queue: $(echo "$CAP" |
            grep -e '^PASS queue-absent' -e '^SKIP queue' | head -n 1)"
    grep -i -e '^HugePages_Total' -e '^HugePages_Free' /proc/meminfo
}

# queue_add N SEED INFLIGHT [MORE...]: a verified float vector add through
# the queue; sets ELAPSED_MS.
queue_add() {
    cap vgpu-vector-add --device "$BDF" --n "$1" --f32 --random --seed "$2" \
        --path queue --inflight "$3" ||
        fail "vgpu-vector-add --path queue --n $1 failed: $(echo "$CAP" |
            grep -v '^ERROR' | tail -n 1) $(echo "$CAP" | grep '^ERROR' |
            head -n 1)"
    echo "$CAP" | grep -qx "n=$1 ok" ||
        fail "vgpu-vector-add --path queue --n $1 did not print n=$1 ok"
    echo "$CAP" | grep -q '^path queue, ' ||
        fail "vgpu-vector-add --path queue did not use the queue"
    ELAPSED_MS=$(echo "$CAP" | sed -n 's/^elapsed \([0-9.]*\) ms,.*/\1/p')
}

# mailbox_add N SEED: the same through the mailbox; sets ELAPSED_MS.
mailbox_add() {
    cap vgpu-vector-add --device "$BDF" --n "$1" --f32 --random --seed "$2" \
        --path mailbox ||
        fail "vgpu-vector-add --path mailbox --n $1 failed: $(echo "$CAP" |
            tail -n 1)"
    echo "$CAP" | grep -qx "n=$1 ok" ||
        fail "vgpu-vector-add --path mailbox --n $1 did not print n=$1 ok"
    ELAPSED_MS=$(echo "$CAP" | sed -n 's/^elapsed \([0-9.]*\) ms,.*/\1/p')
}

# scn_qperf POOL PRIO VM_ID N INFLIGHT: N-element float vectors through the
# queue (INFLIGHT requests at once) twice, then through the mailbox, each
# verified element by element; the times in one mark for the host. The
# first queue run is the cold one (QEMU translates the guest code and the
# device's DMA paths for the first time); the second is the one compared.
scn_qperf() {
    need_args 5 "$@"
    find_device
    need_queue_selftest "$1" "$2" "$3"
    queue_add "$4" 12 "$5"
    cold_ms=$ELAPSED_MS
    queue_add "$4" 13 "$5"
    q_ms=$ELAPSED_MS
    mailbox_add "$4" 13
    m_ms=$ELAPSED_MS
    mark qperf "queue_ms=$q_ms mailbox_ms=$m_ms queue_cold_ms=$cold_ms" \
        "n=$4 inflight=$5"
}

# scn_qmixed POOL PRIO VM_ID SEED ROUNDS: ROUNDS times a verified queue add
# (262144 floats, 8 in flight) and a verified mailbox add (12700 int32).
scn_qmixed() {
    need_args 5 "$@"
    find_device
    need_queue_selftest "$1" "$2" "$3"
    r=0
    while [ "$r" -lt "$5" ]; do
        queue_add 262144 $(($4 + r)) 8
        vector_add_n 12700 $(($4 + r))
        r=$((r + 1))
    done
    mark qmixed-ok "vm=$3 rounds=$5"
}

# sq_head: SQ_HEAD of the device, as vgpu-dump prints it (hex).
sq_head() {
    vgpu-dump --device "$BDF" 2>/dev/null | awk '$2 == "SQ_HEAD" { print $3 }'
}

# scn_qkill POOL PRIO VM_ID: 32 queue requests in flight when the host
# kills the mediator (its backend sleeps 2 s a request, so none completes
# first): every one must complete with MEDIATOR_UNAVAILABLE, none may be
# left unfinished; after the host restarts the mediator the same batch
# succeeds.
scn_qkill() {
    need_args 3 "$@"
    find_device
    need_queue_selftest "$@"
    out=/tmp/qkill.out
    # 32 requests of 1024 floats (8 KiB each): the device takes all of
    # them at once (it bounds the bytes it has queued for the socket, so
    # 32 requests of 250 KB would not all be in flight).
    vgpu-vector-add --device "$BDF" --n 32768 --f32 --random --seed 5 \
        --path queue --inflight 32 >"$out" 2>&1 &
    pid=$!
    i=0
    while [ "$(sq_head)" != 0x00000020 ]; do
        i=$((i + 1))
        [ "$i" -le 100 ] || fail "SQ_HEAD is $(sq_head), not 32, after 10 s" \
            "($(vgpu-dump --device "$BDF" | grep -e CQ_TAIL -e Q_MAX_INFLIGHT |
                tr -s ' ' | tr '\n' ' '))"
        sleep 0.1
    done
    mark inflight "SQ_HEAD $(sq_head): 32 requests taken by the device"
    i=0
    while kill -0 "$pid" 2>/dev/null; do
        i=$((i + 1))
        [ "$i" -le 300 ] || fail "vgpu-vector-add hangs 30 s after the mark"
        sleep 0.1
    done
    rc=0
    wait "$pid" || rc=$?
    cat "$out"
    [ "$rc" -ne 0 ] || fail "the batch succeeded: the mediator was not killed"
    grep -qx 'queue: 32 submitted, 0 ok, 32 failed, 0 unfinished' "$out" ||
        fail "want all 32 failed, none unfinished: $(grep '^queue:' "$out")"
    unavailable=$(grep -c '^ERROR MEDIATOR_UNAVAILABLE ' "$out")
    [ "$unavailable" -eq 32 ] ||
        fail "$unavailable of 32 completions are MEDIATOR_UNAVAILABLE"
    mark queue-lost "32 of 32 requests ended MEDIATOR_UNAVAILABLE"

    tries=0
    while :; do
        tries=$((tries + 1))
        if cap vgpu-vector-add --device "$BDF" --n 32768 --f32 --random \
            --seed 6 --path queue --inflight 32; then
            echo "$CAP" | grep -qx 'n=32768 ok' ||
                fail "after the restart: no n=32768 ok"
            break
        fi
        echo "$CAP" | grep '^ERROR' | grep -vq '^ERROR MEDIATOR_UNAVAILABLE ' &&
            fail "after the kill: want MEDIATOR_UNAVAILABLE, got: $(echo \
                "$CAP" | grep '^ERROR' | grep -v MEDIATOR_UNAVAILABLE |
                head -n 1)"
        [ "$tries" -lt $((RETRY_S * 2)) ] ||
            fail "the queue still fails $RETRY_S s after the kill"
        sleep 0.5
    done
    mark queue-back "after $tries tries"
}

# scn_latency COUNT: vgpu-bench NOP polled, then bound to uio_pci_generic
# with --irq, in one boot (docs/performance.md compares the two p50s).
scn_latency() {
    need_args 1 "$@"
    find_device
    cap vgpu-bench --device "$BDF" --op nop --count "$1" ||
        fail "vgpu-bench (polling) failed: $(echo "$CAP" | tail -n 1)"
    mark latency-poll "$(echo "$CAP" | grep '^latency_us')"
    bind_uio
    cap vgpu-bench --device "$BDF" --irq --op nop --count "$1" ||
        fail "vgpu-bench --irq failed: $(echo "$CAP" | tail -n 1)"
    mark latency-irq "$(echo "$CAP" | grep '^latency_us')"
}

scn_run() {
    echo "+ $*"
    sh -c "$*" || fail "'$*' exited with status $?"
}

SCENARIO=${1:-}
[ "$#" -ge 1 ] && shift
case $SCENARIO in
basic) scn_basic "$@" ;;
vecadd) scn_vecadd "$@" ;;
failures) scn_failures "$@" ;;
bench) scn_bench "$@" ;;
latency) scn_latency "$@" ;;
qperf) scn_qperf "$@" ;;
qmixed) scn_qmixed "$@" ;;
qkill) scn_qkill "$@" ;;
run) scn_run "$@" ;;
*) fail "unknown scenario '$SCENARIO'" ;;
esac
exit 0
