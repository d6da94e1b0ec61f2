# Sourced by ci/gpu.sh and bench/cuda.sh (POSIX sh): configure and build a
# CUDA build without Debian packages (docs/backends.md "On a GPU machine").
#
# gpu_build BUILD TARGET...: configure BUILD in Release with
# -DVGPU_WITH_CUDA=ON -DVGPU_BUILD_TESTS=OFF and build the TARGETs (the
# daemon needs no library beyond libc: its INI reader is src/util's). Ninja
# when there is one, else make.
gpu_build() {
    gb_dir=$1
    shift
    gb_gen=""
    command -v ninja >/dev/null 2>&1 && gb_gen="-G Ninja"
    # shellcheck disable=SC2086 # an empty generator option vanishes
    cmake -S . -B "$gb_dir" $gb_gen -DCMAKE_BUILD_TYPE=Release \
        -DVGPU_WITH_CUDA=ON -DVGPU_BUILD_TESTS=OFF >/dev/null
    cmake --build "$gb_dir" --target "$@" -j "$(nproc)"
}
