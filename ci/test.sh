#!/bin/sh
# The one test command (README, .ci/run): install what is missing, build with
# coverage and warnings as errors, run every CTest test, then report the line
# coverage of src/devmodel and src/proto (each must be >= 90%).
#
# Environment: VGPU_BUILD_DIR (default build/ci), VGPU_MIN_COVERAGE (90).
set -eu
ROOT=$(CDPATH= cd -- "$(dirname -- "$0")/.." && pwd)
cd "$ROOT"
. ci/lib.sh

vgpu_need_pkgs cmake ninja-build gcc libc6-dev pkg-config libcmocka-dev \
    lcov clang-format

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
ctest --test-dir "$BUILD" --output-on-failure -j2 || rc=$?

echo "== coverage"
sh ci/coverage.sh "$BUILD" "$MIN" src/devmodel src/proto || rc=${rc:-1}
[ "$rc" -eq 0 ] || rc=1
exit "$rc"
