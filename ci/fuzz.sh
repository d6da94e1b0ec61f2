#!/bin/sh
# ci/fuzz.sh [BUILD_DIR] [SECONDS]: the libFuzzer harnesses of tests/fuzz
# (tests/fuzz/README.md). Installs what is missing (clang and its libFuzzer
# runtime), configures BUILD_DIR (default build/fuzz) with clang, ASan and
# UBSan and -DVGPU_FUZZ=ON, builds only the harnesses, runs `ctest -L fuzz`
# (each harness fuzzes SECONDS, default 20, on a copy of its seed corpus, and
# replays its regression inputs), and prints one line per harness:
#   fuzz NAME: N executions, C crashes
# Exit status: 0 when nothing crashed, leaked or hung; 1 otherwise.
set -eu
ROOT=$(CDPATH='' cd -- "$(dirname -- "$0")/.." && pwd)
cd "$ROOT"
. ci/lib.sh

BUILD=${1:-build/fuzz}
SECS=${2:-20}
case $SECS in
'' | *[!0-9]*)
    echo "usage: ci/fuzz.sh [BUILD_DIR] [SECONDS]" >&2
    exit 2
    ;;
esac

vgpu_need_pkgs cmake ninja-build clang llvm pkg-config libc6-dev \
    libcmocka-dev

# fuzz_links: can clang link a libFuzzer harness? (Debian ships the runtime
# in libclang-rt-N-dev, only recommended by clang.)
fuzz_links() {
    tmp=$(mktemp -d)
    printf '%s\n' '#include <stddef.h>' '#include <stdint.h>' \
        'int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);' \
        'int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)' \
        '{ (void)d; (void)n; return 0; }' >"$tmp/t.c"
    ok=0
    clang -fsanitize=fuzzer,address,undefined "$tmp/t.c" -o "$tmp/t" \
        >/dev/null 2>&1 || ok=1
    rm -rf "$tmp"
    return "$ok"
}
if ! fuzz_links; then
    major=$(clang -dumpversion | cut -d. -f1)
    vgpu_need_pkgs "libclang-rt-$major-dev"
    if ! fuzz_links; then
        echo "ci/fuzz.sh: clang cannot link -fsanitize=fuzzer" >&2
        exit 1
    fi
fi

# A build directory configured with another compiler cannot switch.
if [ -f "$BUILD/CMakeCache.txt" ] &&
    ! grep -q '^CMAKE_C_COMPILER_ID:.*Clang' "$BUILD/CMakeCache.txt" &&
    ! grep -q '^CMAKE_C_COMPILER:.*clang' "$BUILD/CMakeCache.txt"; then
    echo "ci/fuzz.sh: $BUILD was configured without clang; reconfiguring"
    rm -rf "$BUILD/CMakeCache.txt" "$BUILD/CMakeFiles"
fi

echo "== configure ($BUILD: clang, address,undefined, fuzz ${SECS}s)"
cmake -S . -B "$BUILD" -G Ninja -DCMAKE_C_COMPILER=clang \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo -DVGPU_SANITIZE=address,undefined \
    -DVGPU_FUZZ=ON -DVGPU_FUZZ_SECONDS="$SECS" -DVGPU_BUILD_TESTS=ON \
    -DVGPU_WERROR=ON -DVGPU_WITH_CUDA=OFF >/dev/null
echo "== build (the fuzz harnesses only)"
cmake --build "$BUILD" --target fuzz -- -j2

echo "== fuzz"
rc=0
ctest --test-dir "$BUILD" -L fuzz --output-on-failure >"$BUILD/fuzz-ctest.log" \
    2>&1 || rc=1
grep -E '(Test +#|tests passed|FAILED|fuzz .*:)' "$BUILD/fuzz-ctest.log" || :

echo "== summary"
total=0
crashes=0
for log in "$BUILD"/tests/fuzz/work/*/fuzz.log; do
    [ -f "$log" ] || continue
    work=$(dirname "$log")
    name=$(basename "$work")
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" |
        tail -n 1)
    n=$(find "$work/artifacts" -type f 2>/dev/null | wc -l)
    echo "fuzz $name: ${execs:-0} executions, $n crashes"
    total=$((total + ${execs:-0}))
    crashes=$((crashes + n))
done
if [ "$crashes" -ne 0 ]; then
    rc=1
fi
echo "ci/fuzz.sh: $total executions, $crashes crashes ($BUILD/fuzz-ctest.log)"
exit "$rc"
