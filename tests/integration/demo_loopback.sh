#!/bin/sh
# The loopback demo runs its three doorbells and reports each outcome.
set -eu
DEMO=$1
out=$("$DEMO")
echo "$out"
echo "$out" | grep -q '^  0x004 STATUS .*DONE$'
echo "$out" | grep -q 'response (11 bytes): "hello, vgpu"'
echo "$out" | grep -q 'INVALID_LENGTH'
echo "$out" | grep -q 'ADD_I32 with n=1 needs 16 bytes, got 15'
echo "$out" | grep -q '^3 passed, 0 failed$'
"$DEMO" --pool 7 >/dev/null 2>&1 && { echo "bad --pool accepted"; exit 1; }
"$DEMO" --help | grep -q '^usage:'
# --quiet: nothing at all when every step passes.
[ -z "$("$DEMO" --quiet 2>&1)" ] || { echo "--quiet printed"; exit 1; }
"$DEMO" --vm-id 007 >/dev/null 2>&1 && { echo "--vm-id 007 accepted"; exit 1; }
"$DEMO" --vm-id 7 --quiet || { echo "--vm-id 7 refused"; exit 1; }
"$DEMO" --help | grep -q '^Exit status: '
