#!/bin/sh
# The daemon and the CUDA backend on any machine (docs/backends.md):
# --backends names cpu and cuda, built or not, usable or not; a pool mapped to
# cuda where CUDA cannot run falls back to cpu with one log line and is served
# (cuda_fallback = cpu, the default), or stops the start with exit 1 naming
# the pool (cuda_fallback = fail); --check-config agrees.
#
# Usage: cuda_fallback.sh VGPU_MEDIATOR VGPU_TESTPEER CUDA_BUILT(0|1)
# On a machine with a usable GPU the "unusable" pool is cuda:1023, a device
# no machine has, so the test means the same everywhere.
set -eu
. "$(dirname "$0")/lib.sh"
it_init "$1" "$2"
BUILT=${3:?CUDA_BUILT (0 or 1) missing}

# ---- --backends
"$DAEMON" --backends >"$T/backends.out" 2>&1 ||
    { cat "$T/backends.out"; fail "--backends exited with status $?"; }
cat "$T/backends.out"
[ "$(wc -l <"$T/backends.out")" -eq 2 ] || fail "--backends: not 2 lines"
grep -qx 'cpu: built, usable' "$T/backends.out" ||
    fail "--backends: no 'cpu: built, usable' line"
if [ "$BUILT" = 1 ]; then
    grep -Eq '^cuda: built, (usable|not usable: .+)$' "$T/backends.out" ||
        fail "--backends: cuda is built but not listed as built"
else
    grep -qx 'cuda: not built (configure with -DVGPU_WITH_CUDA=ON)' \
        "$T/backends.out" || fail "--backends: cuda should be 'not built'"
fi
if grep -q '^cuda: built, usable' "$T/backends.out"; then
    CUDA=cuda:1023
else
    CUDA=cuda
fi
echo "the unusable cuda pool here: $CUDA"

# ---- cuda_fallback = cpu (the default): one line, then served on cpu
start_daemon --pool A="$CUDA" --pool B=cpu
peer a --vm-id 1 --pool A --op random --count 50 --verify ||
    { cat "$T/a.out"; fail "pool A was not served after the fallback"; }
grep -q '^vm=1 .* bad=0 ' "$T/a.out" || fail "pool A: bad results"
stop_daemon
[ "$DRC" -eq 0 ] || fail "the daemon exited with status $DRC"
[ "$(grep -c 'cuda not usable' "$LOG")" -eq 1 ] ||
    fail "not exactly one fallback line in the log"
grep -q "warn cuda not usable, running on cpu instead (cuda_fallback = cpu): A=$CUDA: ." \
    "$LOG" || fail "the fallback line does not name pool A and a reason"
grep -q 'pools: A=cpu B=cpu ' "$LOG" || fail "the start line: A is not cpu"
if [ "$BUILT" = 0 ]; then
    grep -q 'A=cuda: this build has no CUDA backend' "$LOG" ||
        fail "the reason is not 'this build has no CUDA backend'"
fi

# The same from a file, the default backend included (unmapped pools).
cat >"$T/cpu.conf" <<EOF
[mediator]
cuda_fallback = cpu
default_backend = $CUDA

[pools]
C = $CUDA
EOF
start_daemon --config "$T/cpu.conf"
peer c --vm-id 2 --pool C --op saxpy_f32 --n 126 --count 5 --verify ||
    { cat "$T/c.out"; fail "pool C was not served"; }
peer d --vm-id 3 --pool D --op matmul_f32 --n 11 --count 5 --verify ||
    { cat "$T/d.out"; fail "pool D (default backend) was not served"; }
stop_daemon
[ "$(grep -c 'cuda not usable' "$LOG")" -eq 1 ] ||
    fail "file: not exactly one fallback line"
grep -q "cuda_fallback = cpu): C=$CUDA default=$CUDA: " "$LOG" ||
    fail "file: the line does not name pool C and the default backend"
"$DAEMON" --check-config "$T/cpu.conf" >"$T/check.out" 2>&1 ||
    { cat "$T/check.out"; fail "--check-config refused a fallback config"; }

# ---- cuda_fallback = fail: exit 1, naming the pool, no socket
rc=0
"$DAEMON" --socket "$SOCK" --log-file "$LOG" --pool A=cpu --pool B="$CUDA" \
    --cuda-fallback fail >"$T/fail.out" 2>&1 || rc=$?
cat "$T/fail.out"
[ "$rc" -eq 1 ] || fail "cuda_fallback = fail: exit status $rc, not 1"
grep -q "^vgpu-mediator: pool B: backend '$CUDA': cuda not usable: .* (cuda_fallback = fail)$" \
    "$T/fail.out" || fail "cuda_fallback = fail: the message does not name pool B"
[ ! -S "$SOCK" ] || fail "cuda_fallback = fail: the socket was created"

sed 's/cuda_fallback = cpu/cuda_fallback = fail/' "$T/cpu.conf" >"$T/fail.conf"
rc=0
"$DAEMON" --socket "$SOCK" --config "$T/fail.conf" >"$T/fail2.out" 2>&1 ||
    rc=$?
[ "$rc" -eq 1 ] || fail "file cuda_fallback = fail: exit $rc, not 1"
grep -q "pool C: backend '$CUDA': cuda not usable" "$T/fail2.out" ||
    fail "file cuda_fallback = fail: pool C not named"
rc=0
"$DAEMON" --check-config "$T/fail.conf" >"$T/check2.out" 2>&1 || rc=$?
[ "$rc" -eq 2 ] || fail "--check-config with fail: exit $rc, not 2"
grep -q "pool C: backend '$CUDA'" "$T/check2.out" ||
    fail "--check-config with fail: pool C not named"

# ---- bad values
rc=0
"$DAEMON" --socket "$SOCK" --cuda-fallback maybe >"$T/bad.out" 2>&1 || rc=$?
[ "$rc" -eq 2 ] || fail "--cuda-fallback maybe: exit $rc, not 2"
grep -q "^vgpu-mediator: --cuda-fallback: 'maybe' is not one of cpu, fail$" \
    "$T/bad.out" || fail "--cuda-fallback maybe: wrong message"
if [ "$BUILT" = 1 ]; then
    # A spec the backend refuses is a configuration error, never a fallback.
    rc=0
    "$DAEMON" --socket "$SOCK" --pool A=cuda:x >"$T/spec.out" 2>&1 || rc=$?
    [ "$rc" -eq 2 ] || fail "--pool A=cuda:x: exit $rc, not 2"
    grep -q "pool A: backend 'cuda:x': cuda backend: bad spec 'x'" \
        "$T/spec.out" || fail "--pool A=cuda:x: wrong message"
fi
echo "PASS"
