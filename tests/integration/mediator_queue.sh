#!/bin/sh
# The queue's side of the mediator (SPEC.md section 11) against
# vgpu-testpeer --queue: the 12-byte HELLO_ACK and its in-flight count;
# every op at the largest n that 1 MiB allows, checked against the CPU
# backend; a mailbox device beside it keeps its 8-byte HELLO_ACK and 1 KiB
# limit; past the in-flight count, and past the memory cap, requests are
# answered REJECTED, never dropped.
set -eu
. "$(dirname "$0")/lib.sh"
it_init "$@"

# A 362 x 362 MATMUL (the largest) is 47 million multiply-adds: under
# TSan the daemon spends ten seconds on each while every peer waits, so a
# sanitizer build runs it at 128 and waits longer.
W=10000
MM=362
if is_sanitized; then
    W=60000
    MM=128
fi

start_daemon --queue-inflight 8
peer q0 --vm-id 1 --queue --op nop || fail "queue HELLO (see $T/q0.out)"
grep -q '^hello_ack caps=0x7 max_payload=1048576 inflight=8$' "$T/q0.out" ||
    fail "HELLO_ACK: $(grep hello_ack "$T/q0.out")"
vm=10
for case in echo:1048568 add_i32:131071 add_f32:131071 saxpy_f32:131070 \
    dot_f32:131071 matmul_f32:$MM; do
    op=${case%%:*}
    n=${case#*:}
    vm=$((vm + 1))
    peer_bg $op --vm-id $vm --queue --op "$op" --n "$n" --count 4 \
        --pipeline 4 --verify --timeout-ms $W
done
for case in echo add_i32 add_f32 saxpy_f32 dot_f32 matmul_f32; do
    peer_check $case
done
# A device without the queue: the 8 bytes, 1 KiB requests as ever.
peer mbox --vm-id 2 --op echo --n 1016 --count 3 --verify ||
    fail "mailbox device (see $T/mbox.out)"
grep -q hello_ack "$T/mbox.out" && fail "a mailbox peer printed a queue ACK"
stop_daemon
[ "$DRC" -eq 0 ] || fail "daemon exit status $DRC"

# In-flight 4: while the executor is busy with another VM's request (300
# ms, from 150 ms before), a greeted queue device sends 8 NOPs; they are
# read together, 4 are held and the 4 past the count are REJECTED, and
# answered.
start_daemon --queue-inflight 4 --pool A=cpu:delay_us=300000
start=$(($(mono_ms) + 1000))
peer_bg over --vm-id 3 --queue --op nop --count 8 --pipeline 8 \
    --allow-status REJECTED --ready-file "$T/over.ready" --start-at-ms $start
peer_ready over
peer_bg occupier --vm-id 9 --op nop --count 1 --start-at-ms $((start - 150))
peer_check over
peer_check occupier
grep -q 'REJECTED=4' "$T/over.out" ||
    fail "want 4 REJECTED: $(grep -e statuses -e '^vm=' "$T/over.out")"
grep -q 'queue full: vm 3 has 4 requests queued or running' "$LOG" ||
    fail "no 'queue full' line in the log"
stop_daemon
[ "$DRC" -eq 0 ] || fail "daemon exit status $DRC"

# A 4 MiB memory cap under 8 devices of 8 x 1 MiB: every request is
# answered (peer_check: done = requests), done or REJECTED; how many are
# refused depends on how fast the executor drains them (the unit test
# /mediator/queue/memory-cap checks the rule itself).
start_daemon --request-memory-mib 4
for vm in 41 42 43 44 45 46 47 48; do
    peer_bg mem$vm --vm-id $vm --queue --op dot_f32 --n 131071 --count 8 \
        --pipeline 8 --allow-status REJECTED
done
for vm in 41 42 43 44 45 46 47 48; do
    peer_check mem$vm
done
rej=$(cat "$T"/mem*.out |
    sed -n 's/.*REJECTED=\([0-9]*\).*/\1/p' | awk '{ s += $1 } END { print s + 0 }')
echo "memory cap: $rej of 64 REJECTED"
stop_daemon
[ "$DRC" -eq 0 ] || fail "daemon exit status $DRC"
echo "PASS"
