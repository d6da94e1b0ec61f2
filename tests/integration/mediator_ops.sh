#!/bin/sh
# Every operation, verified byte for byte against the CPU backend, from six
# concurrent peers (distinct vm_ids, pools A and B, every priority), then
# --stats must count each VM's requests.
set -eu
. "$(dirname "$0")/lib.sh"
it_init "$@"
start_daemon --pool A=cpu --pool B=cpu

# The largest request of each op first, one peer at a time.
vm=50
for op in nop echo add_i32 add_f32 saxpy_f32 dot_f32 matmul_f32; do
    vm=$((vm + 1))
    case $op in
    nop) n=0 ;; echo) n=1016 ;; saxpy_f32) n=126 ;; matmul_f32) n=11 ;;
    *) n=127 ;;
    esac
    peer max_$op --vm-id $vm --op $op --n $n --count 5 --verify ||
        { cat "$T/max_$op.out"; fail "--op $op --n $n"; }
done

prios="low medium high low medium high"
i=0
for prio in $prios; do
    i=$((i + 1))
    pool=A
    [ $((i % 2)) -eq 0 ] && pool=B
    peer_bg p$i --vm-id $((10 + i)) --pool $pool --priority $prio \
        --op random --count 300 --pipeline 4 --seed $i --verify
done
for i in 1 2 3 4 5 6; do
    peer_check p$i
    [ "$(field done "$T/p$i.out")" -eq 300 ] || fail "p$i: not 300 done"
    [ "$(field errors "$T/p$i.out")" -eq 0 ] || fail "p$i: errors"
done

"$DAEMON" --socket "$SOCK" --stats >"$T/stats.out" ||
    fail "--stats exited with status $?"
cat "$T/stats.out"
i=0
for prio in $prios; do
    i=$((i + 1))
    pool=A
    [ $((i % 2)) -eq 0 ] && pool=B
    grep -q "^vm=$((10 + i)) pool=$pool priority=$prio .*requests=300 responses=300 " \
        "$T/stats.out" || fail "--stats: vm=$((10 + i)) is not as expected"
done
for vm in 51 52 53 54 55 56 57; do
    grep -q "^vm=$vm pool=A priority=medium .*requests=5 responses=5 " \
        "$T/stats.out" || fail "--stats: vm=$vm did not count 5 requests"
done
grep -q '^vms 13$' "$T/stats.out" || fail "--stats: not 'vms 13'"
stop_daemon
[ "$DRC" -eq 0 ] || fail "daemon exit status $DRC"
echo "PASS: 6 x 300 random verified requests, 7 ops at their largest"
