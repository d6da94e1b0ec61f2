#!/bin/sh
# The sanitizer and valgrind checks (docs/reliability.md, "Fault injection
# and sanitizers"). Stages, each timed; a failed stage fails the script but
# the later ones still run:
#
#   asan       build/asan, -DVGPU_SANITIZE=address,undefined: every unit
#              and integration test (vgpu-chaos included)
#   tsan       build/tsan, -DVGPU_SANITIZE=thread: the threaded simulator
#              (sim_threaded), the daemon's integration tests (its
#              executor threads included) and a short vgpu-chaos run
#   valgrind   build/valgrind, a plain build: the daemon under memcheck
#              (tests/integration/mediator_valgrind.sh)
#
# Every sanitizer report is written to build/sanitize-reports (log_path), so
# one from a background daemon whose output a test throws away still fails
# the stage. CUDA is off in these builds: its code cannot run here.
#
# Environment: VGPU_SANITIZE_EXCLUDE, a CTest -E regex of tests to leave out
# of the asan stage (default: package and release, which build .deb/.rpm
# files of their own, without sanitizers).
set -eu
ROOT=$(CDPATH= cd -- "$(dirname -- "$0")/.." && pwd)
cd "$ROOT"
. ci/lib.sh

vgpu_need_pkgs cmake ninja-build gcc libc6-dev pkg-config libcmocka-dev \
    libmicrohttpd-dev curl tmux \
    valgrind

EXCLUDE=${VGPU_SANITIZE_EXCLUDE:-^(package|release)\$}
REPORTS=$ROOT/build/sanitize-reports
rc=0
summary=""
T_ALL=$(date +%s)

# stage NAME CMD...: run CMD, print and remember its wall time and result.
stage() {
    name=$1
    shift
    echo "== $name"
    t0=$(date +%s)
    if "$@"; then
        res=ok
    else
        res=FAILED
        rc=1
    fi
    dt=$(($(date +%s) - t0))
    echo "== $name: $res, ${dt} s"
    summary="$summary
  $name: $res, ${dt} s"
}

configure() { # DIR SANITIZE
    cmake -S . -B "$1" -G Ninja -DCMAKE_BUILD_TYPE=Debug -DVGPU_WERROR=ON \
        -DVGPU_BUILD_TESTS=ON -DVGPU_WITH_CUDA=OFF -DVGPU_COVERAGE=OFF \
        -DVGPU_SANITIZE="$2" >/dev/null
}

build() { # DIR SANITIZE [TARGET...]
    dir=$1
    san=$2
    shift 2
    configure "$dir" "$san" || return 1
    if [ $# -gt 0 ]; then
        cmake --build "$dir" --target "$@" -- -j2
    else
        cmake --build "$dir" -- -j2
    fi
}

# Reports the sanitizers wrote since the stage began: print, then fail.
no_reports() {
    found=$(find "$REPORTS" -type f 2>/dev/null | sort)
    [ -z "$found" ] && return 0
    for f in $found; do
        echo "---- $f"
        head -n 60 "$f"
    done
    echo "sanitizer reports above"
    return 1
}

# ctest_san DIR LOGNAME CTEST-ARGS...: run CTest with the reports directed
# to $REPORTS; fail on a failed test or any report. A test that fails is
# run once more: the scheduling tests measure latencies, which a sanitizer's
# slowdown on a loaded machine can push past their bounds; a sanitizer
# report from the first run still fails the stage.
ctest_san() {
    dir=$1
    log=$2
    shift 2
    rm -rf "$REPORTS"
    mkdir -p "$REPORTS"
    crc=0
    ctest --test-dir "$dir" --output-on-failure -j2 --repeat until-pass:2 \
        "$@" | tee "$dir/$log" || crc=1
    grep -q '^100% tests passed' "$dir/$log" || crc=1
    no_reports || crc=1
    return "$crc"
}

asan_tests() {
    ASAN_OPTIONS="detect_leaks=1:halt_on_error=1:log_path=$REPORTS/asan" \
        UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:log_path=$REPORTS/ubsan" \
        ctest_san build/asan ctest-sanitize.log -L 'unit|integration' \
        -E "$EXCLUDE"
}

tsan_tests() {
    TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:log_path=$REPORTS/tsan" \
        ctest_san build/tsan ctest-sanitize.log -L integration \
        -R 'mediator_|sim_|daemon_' -E '^mediator_valgrind$' || return 1
    # The threaded simulator is the point of this build: it must have run.
    grep -qE 'sim_threaded \.+ +Passed' build/tsan/ctest-sanitize.log || {
        echo "sim_threaded did not run in build/tsan"
        return 1
    }
    # The daemon's executor threads (4 of them for pools A and B) under
    # the chaos test's faults, shortened: a TSan daemon is some 10x slower.
    rm -rf "$REPORTS"
    mkdir -p "$REPORTS"
    TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:log_path=$REPORTS/tsan" \
        build/tsan/tests/chaos/vgpu-chaos --vms 32 --requests-per-vm 300 \
        --duration-s 120 --seed 1 build/tsan/src/daemon/vgpu-mediator ||
        return 1
    no_reports
}

valgrind_daemon() {
    vrc=0
    sh tests/integration/mediator_valgrind.sh \
        build/valgrind/src/daemon/vgpu-mediator \
        build/valgrind/tests/tools/vgpu-testpeer || vrc=$?
    # valgrind is installed above: a skip here is a failure.
    [ "$vrc" -eq 0 ]
}

stage asan-build build build/asan address,undefined
stage asan-tests asan_tests
stage tsan-build build build/tsan thread
stage tsan-tests tsan_tests
stage valgrind-build build build/valgrind "" vgpu-mediator vgpu-testpeer
stage valgrind valgrind_daemon

echo "ci/sanitize.sh: $(($(date +%s) - T_ALL)) s$summary"
[ "$rc" -eq 0 ] && echo "ci/sanitize.sh: all clean" ||
    echo "ci/sanitize.sh: FAILED"
exit "$rc"
