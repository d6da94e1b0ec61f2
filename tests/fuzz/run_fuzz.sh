#!/bin/sh
# Run one libFuzzer harness for CTest (tests/fuzz/CMakeLists.txt).
#
#   run_fuzz.sh fuzz NAME BINARY SEEDS WORK SECONDS [DICT]
#       Copy the seed corpus SEEDS into WORK/corpus (so the run never grows
#       the repository), fuzz for SECONDS, keep libFuzzer's output in
#       WORK/fuzz.log and any crashing input in WORK/artifacts/, and print
#       "fuzz NAME: N executions, C crashes". Fails on a crash, a leak or
#       a timeout.
#   run_fuzz.sh replay NAME BINARY DIR...
#       Run every file under each DIR once (missing DIRs are skipped).
#       Fails if any of them crashes.
set -eu

# UBSan stops at the first report (-fno-sanitize-recover) with a stack.
UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}
export UBSAN_OPTIONS

mode=$1
name=$2
bin=$3
shift 3

case $mode in
fuzz)
    seeds=$1
    work=$2
    secs=$3
    dict=${4:-}
    rm -rf "$work"
    mkdir -p "$work/corpus" "$work/artifacts"
    if [ -d "$seeds" ]; then
        find "$seeds" -type f -exec cp {} "$work/corpus/" \;
    fi
    set -- -max_total_time="$secs" -print_final_stats=1 -timeout=10 \
        -rss_limit_mb=2048 -artifact_prefix="$work/artifacts/"
    if [ -n "$dict" ]; then
        set -- "$@" -dict="$dict"
    fi
    rc=0
    "$bin" "$@" "$work/corpus" >"$work/fuzz.log" 2>&1 || rc=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' \
        "$work/fuzz.log" | tail -n 1)
    crashes=$(find "$work/artifacts" -type f | wc -l)
    echo "fuzz $name: ${execs:-0} executions, $crashes crashes"
    if [ "$rc" -ne 0 ] || [ "$crashes" -ne 0 ]; then
        tail -n 60 "$work/fuzz.log"
        for a in "$work"/artifacts/*; do
            [ -f "$a" ] || continue
            echo "crashing input: $a"
            echo "  reproduce: $bin $a"
            echo "  keep it: cp $a tests/fuzz/regressions/$name/ (and fix)"
        done
        echo "fuzz $name: FAILED (libFuzzer exit $rc)"
        exit 1
    fi
    ;;
replay)
    files=$(mktemp)
    trap 'rm -f "$files"' EXIT
    for d in "$@"; do
        if [ -d "$d" ]; then
            find "$d" -type f ! -name '.*' | sort >>"$files"
        fi
    done
    n=$(wc -l <"$files")
    if [ "$n" -eq 0 ]; then
        echo "fuzz $name: nothing to replay"
        exit 0
    fi
    # libFuzzer runs each file it is given once (and does not fuzz); an
    # input that runs over 10 s is a failure (a hang found earlier).
    # shellcheck disable=SC2046 # one argument per file name (no blanks)
    if ! "$bin" -timeout=10 $(cat "$files") >"$files.log" 2>&1; then
        tail -n 60 "$files.log"
        rm -f "$files.log"
        echo "fuzz $name: replay FAILED"
        exit 1
    fi
    rm -f "$files.log"
    echo "fuzz $name: $n inputs replayed, 0 crashes"
    ;;
*)
    echo "usage: run_fuzz.sh fuzz|replay NAME BINARY ..." >&2
    exit 2
    ;;
esac
