#!/bin/sh
# The one test command (README, .ci/run): install what is missing, build with
# coverage and warnings as errors, run every CTest test, then report the line
# coverage of src/devmodel and src/proto (each must be >= 90%). Then a
# ThreadSanitizer build runs the threaded simulator.
#
# Environment: VGPU_BUILD_DIR (default build/ci), VGPU_MIN_COVERAGE (90).
set -eu
ROOT=$(CDPATH= cd -- "$(dirname -- "$0")/.." && pwd)
cd "$ROOT"
. ci/lib.sh

vgpu_need_pkgs cmake ninja-build gcc libc6-dev pkg-config libcmocka-dev \
    libinih-dev lcov clang-format

BUILD=${VGPU_BUILD_DIR:-build/ci}
MIN=${VGPU_MIN_COVERAGE:-90}

echo "== configure ($BUILD: coverage, -Werror)"
cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Debug \
    -DVGPU_COVERAGE=ON -DVGPU_WERROR=ON -DVGPU_BUILD_TESTS=ON >/dev/null
echo "== build"
cmake --build "$BUILD" -- -j2

echo "== test"
find "$BUILD" -name '*.gcda' -delete
rc=0
extra_pass=0
extra_fail=0
# stage NAME CMD...: a check outside CTest, counted in the final line.
stage() {
    name=$1
    shift
    if "$@"; then
        extra_pass=$((extra_pass + 1))
    else
        echo "ci: stage '$name' FAILED"
        extra_fail=$((extra_fail + 1))
        rc=1
    fi
}
ctest --test-dir "$BUILD" --output-on-failure -j2 | tee "$BUILD/ctest.log" ||
    rc=1
grep -q '^100% tests passed' "$BUILD/ctest.log" || rc=1

echo "== coverage"
stage coverage sh ci/coverage.sh "$BUILD" "$MIN" src/devmodel src/proto

echo "== threaded simulator under ThreadSanitizer (build/tsan)"
cmake -S . -B build/tsan -G Ninja -DCMAKE_BUILD_TYPE=Debug \
    -DVGPU_SANITIZE=thread -DVGPU_WERROR=ON -DVGPU_BUILD_TESTS=OFF >/dev/null
cmake --build build/tsan --target vgpu-sim -- -j2 >/dev/null
stage sim_threaded_tsan sh tests/integration/sim_threaded.sh \
    build/tsan/src/sim/vgpu-sim

# One closing line over everything: the CTest tests and the stages above.
total=$(sed -n 's/.*tests failed out of \([0-9]*\).*/\1/p' "$BUILD/ctest.log")
failed=$(sed -n 's/.*, \([0-9]*\) tests failed out of.*/\1/p' "$BUILD/ctest.log")
total=${total:-0}
failed=${failed:-0}
echo "ci/test.sh: $((total - failed + extra_pass)) passed, $((failed + extra_fail)) failed"
exit "$rc"
