# Sourced by ci/gpu.sh and bench/cuda.sh (POSIX sh): configure and build a
# CUDA build without Debian packages (docs/backends.md "On a GPU machine").
#
# gpu_build BUILD TARGET...: unpack build/debs/*.deb (libinih1, libinih-dev)
# into $EXTRA (default build/extra) with dpkg -x when they are there and
# libinih is not installed, then configure BUILD in Release with
# -DVGPU_WITH_CUDA=ON -DVGPU_BUILD_TESTS=OFF (and -DVGPU_EXTRA_PREFIX) and
# build the TARGETs. Ninja when there is one, else make.
gpu_build() {
    gb_dir=$1
    shift
    gb_extra=${EXTRA:-$PWD/build/extra}
    gb_prefix=""
    if ! pkg-config --exists inih 2>/dev/null; then
        for deb in build/debs/*.deb; do
            [ -f "$deb" ] || {
                echo "libinih is not installed and build/debs has no .deb:" \
                    "fetch them where a Debian mirror is with" \
                    "'apt-get download libinih1 libinih-dev'" >&2
                return 1
            }
            dpkg -x "$deb" "$gb_extra"
        done
        gb_prefix="-DVGPU_EXTRA_PREFIX=$gb_extra"
    fi
    gb_gen=""
    command -v ninja >/dev/null 2>&1 && gb_gen="-G Ninja"
    # shellcheck disable=SC2086 # empty options vanish on purpose
    cmake -S . -B "$gb_dir" $gb_gen -DCMAKE_BUILD_TYPE=Release \
        -DVGPU_WITH_CUDA=ON -DVGPU_BUILD_TESTS=OFF $gb_prefix >/dev/null
    cmake --build "$gb_dir" --target "$@" -j "$(nproc)"
}
