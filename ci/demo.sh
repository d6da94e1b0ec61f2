#!/bin/sh
# The main job (README): install what is missing, build, and run the
# device-model demo with its loopback transport.
set -eu
ROOT=$(CDPATH= cd -- "$(dirname -- "$0")/.." && pwd)
cd "$ROOT"
. ci/lib.sh
vgpu_need_pkgs cmake ninja-build gcc libc6-dev
BUILD=${VGPU_BUILD_DIR:-build/demo}
cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DVGPU_BUILD_TESTS=OFF >/dev/null
cmake --build "$BUILD" --target vgpu-loopback-demo -- -j2 >/dev/null
exec "$BUILD/src/sim/vgpu-loopback-demo" "$@"
