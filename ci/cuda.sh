#!/bin/sh
# ci/cuda.sh: the CUDA backend's checks on any machine, GPU or not
# (docs/backends.md). ci/test.sh runs it as one stage.
#  1. BUILD_ON (default build/cuda): -DVGPU_WITH_CUDA=ON, -Werror, the tests;
#     only where nvcc is found (else said, and skipped). Builds everything
#     (kernels.cu through nvcc) and runs the CUDA tests: cuda_fallback
#     (--backends, the fallback, cuda_fallback = fail), cuda_cross_check
#     (label gpu: exit 77, skipped, without a usable GPU), the emulated
#     cross-checks, test_backends (the fallback, --backends, the flags) and
#     the backend registry's and the config's unit tests.
#  2. BUILD_GPU (default build/cuda-notests): -DVGPU_WITH_CUDA=ON
#     -DVGPU_BUILD_TESTS=OFF, what a GPU machine without cmocka builds
#     (ci/gpu.sh): the daemon, vgpu-sim, the cross-check and bench_cuda.
#  3. BUILD_OFF (default build/nocuda): -DVGPU_WITH_CUDA=OFF, the cpu-only
#     build: the same tests, where cuda is "not built".
# Exit: 0 when every step passed, 1 otherwise.
set -eu
ROOT=$(CDPATH= cd -- "$(dirname -- "$0")/.." && pwd)
cd "$ROOT"
. ci/lib.sh
vgpu_need_pkgs cmake ninja-build gcc g++ libc6-dev pkg-config libcmocka-dev \
   

BUILD_ON=${VGPU_CUDA_BUILD_DIR:-build/cuda}
BUILD_GPU=${VGPU_CUDA_NOTESTS_DIR:-build/cuda-notests}
BUILD_OFF=${VGPU_NOCUDA_BUILD_DIR:-build/nocuda}
TESTS='^(cuda_fallback|cuda_cross_check.*|test_backends|test_backend_cpu|test_config)$'
rc=0

NVCC=$(command -v nvcc || true)
[ -n "$NVCC" ] || [ ! -x /usr/local/cuda/bin/nvcc ] ||
    NVCC=/usr/local/cuda/bin/nvcc
if [ -n "$NVCC" ]; then
    echo "== CUDA build ($BUILD_ON, $NVCC)"
    start=$(date +%s)
    cmake -S . -B "$BUILD_ON" -G Ninja -DCMAKE_BUILD_TYPE=Debug \
        -DVGPU_WITH_CUDA=ON -DVGPU_WERROR=ON -DVGPU_BUILD_TESTS=ON >/dev/null
    cmake --build "$BUILD_ON" -- -j2 >"$BUILD_ON/build.log" 2>&1 ||
        { tail -n 40 "$BUILD_ON/build.log"; exit 1; }
    echo "built in $(($(date +%s) - start)) s"
    "$BUILD_ON/src/daemon/vgpu-mediator" --backends
    ctest --test-dir "$BUILD_ON" --output-on-failure -R "$TESTS" || rc=1

    echo "== CUDA build without the tests ($BUILD_GPU: what ci/gpu.sh builds)"
    cmake -S . -B "$BUILD_GPU" -G Ninja -DCMAKE_BUILD_TYPE=Release \
        -DVGPU_WITH_CUDA=ON -DVGPU_WERROR=ON -DVGPU_BUILD_TESTS=OFF >/dev/null
    cmake --build "$BUILD_GPU" --target vgpu-mediator vgpu-sim \
        vgpu-cuda-cross-check bench_cuda -- -j2 >"$BUILD_GPU/build.log" 2>&1 ||
        { tail -n 40 "$BUILD_GPU/build.log"; exit 1; }
    ctest --test-dir "$BUILD_GPU" --output-on-failure -L gpu || rc=1
else
    echo "== no nvcc here: the CUDA builds are skipped"
fi

echo "== cpu-only build ($BUILD_OFF)"
cmake -S . -B "$BUILD_OFF" -G Ninja -DCMAKE_BUILD_TYPE=Debug \
    -DVGPU_WITH_CUDA=OFF -DVGPU_WERROR=ON -DVGPU_BUILD_TESTS=ON >/dev/null
cmake --build "$BUILD_OFF" --target vgpu-mediator vgpu-testpeer \
    vgpu-cuda-cross-check test_backends test_backend_cpu test_config -- -j2 \
    >"$BUILD_OFF/build.log" 2>&1 ||
    { tail -n 40 "$BUILD_OFF/build.log"; exit 1; }
"$BUILD_OFF/src/daemon/vgpu-mediator" --backends
ctest --test-dir "$BUILD_OFF" --output-on-failure -R "$TESTS" || rc=1

[ "$rc" -eq 0 ] && echo "ci/cuda.sh: ok" || echo "ci/cuda.sh: FAILED"
exit "$rc"
