#!/bin/sh
# ci/qemu-build.sh [OUT_DIR [VARIANT]]: build QEMU 7.2 with the vgpu-stub
# device, from Debian's source package, into OUT_DIR (default build/qemu).
#
# VARIANT (default tcg) picks the configuration, all from one source tree
# (the one under build/qemu/src, or $VGPU_QEMU_SRC_OUT/src), each in its own
# OUT_DIR/obj:
#   tcg   the minimal x86_64 emulator every e2e test uses (below)
#   fuzz  clang, --enable-fuzzing --enable-sanitizers: qemu-fuzz-x86_64 for
#         QEMU's generic-fuzz (ci/qemu-checks.sh)
#   full  x86_64 with the machines' default devices, and QEMU's own qtests
#         device-introspect-test, qom-test and test-hmp
#   xen   XCP-ng's qemu-dm configuration (i386-softmmu, --enable-xen,
#         --disable-tcg --disable-kvm, --without-default-devices,
#         --enable-werror) with Debian's libxen-dev: qemu-system-i386
#
#   OUT_DIR/qemu-system-x86_64   the binary (a copy)
#   OUT_DIR/firmware-args        the -L flags it needs: -L /usr/share/seabios -L /usr/share/qemu
#   OUT_DIR/src/qemu-*/          Debian's tree (patches applied) with the device
#   OUT_DIR/obj/                 QEMU's build directory
#   OUT_DIR/apt/                 the private apt configuration used to fetch it
#
# Steps: install the missing Debian packages; fetch `qemu` with `apt-get
# source` through a private apt configuration (the system's apt sources are
# never touched); run src/qemu_glue/integrate.sh; configure a minimal x86_64
# system emulator (q35 and pc machines, PCI, MSI, ISA serial, the device);
# `ninja qemu-system-x86_64`.
#
# Cached: the source is fetched once; configure runs again only when its
# flags change; when a stamp of the device's sources (glue, devmodel, proto,
# headers) matches the binary, nothing is rebuilt. Otherwise the sources are
# copied again and ninja rebuilds incrementally (seconds).
#
# Environment: VGPU_JOBS (ninja -j, default 2), VGPU_DEBIAN_MIRROR (default:
# the mirror the system's apt uses, else http://deb.debian.org/debian),
# VGPU_QEMU_SUITE (default bookworm: QEMU 7.2; trixie: QEMU 10.0, which
# ci/qemu-checks.sh current builds into build/qemu10).
#
# A QEMU of 8.1 or later (its tree has pythondeps.toml) configures through
# its own Python venv and wants a newer meson than bookworm's; Debian's +ds
# tarball drops the bundled wheel. The meson it is built with in that suite
# (Debian's binary package, pure Python) is downloaded through the same
# private apt configuration, unpacked under OUT_DIR/meson and put on
# PYTHONPATH for Debian's /usr/bin/python3. Such a QEMU also no longer
# selects the boards under --without-default-devices: q35 and pc are
# enabled by name.
set -eu

ROOT=$(CDPATH='' cd -- "$(dirname -- "$0")/.." && pwd)
. "$ROOT/ci/lib.sh"

OUT=${1:-$ROOT/build/qemu}
VARIANT=${2:-tcg}
JOBS=${VGPU_JOBS:-2}
SUITE=${VGPU_QEMU_SUITE:-bookworm}
T0=$(date +%s)

say() {
    echo "qemu-build: $*"
}

die() {
    echo "qemu-build: $*" >&2
    exit 1
}

elapsed() {
    echo $(($(date +%s) - $1))
}

vgpu_need_pkgs dpkg-dev xz-utils debian-archive-keyring python3 python3-venv gcc \
    pkg-config meson ninja-build libglib2.0-dev libpixman-1-dev libfdt-dev \
    zlib1g-dev flex bison seabios qemu-system-data
case $VARIANT in
tcg | full) ;;
fuzz)
    vgpu_need_pkgs clang llvm
    vgpu_need_pkgs "libclang-rt-$(clang -dumpversion | cut -d. -f1)-dev"
    ;;
xen) vgpu_need_pkgs libxen-dev ;;
*) die "VARIANT '$VARIANT' is not one of tcg, fuzz, full, xen" ;;
esac

mkdir -p "$OUT"
OUT=$(CDPATH='' cd -- "$OUT" && pwd)
# Where the source lives: OUT itself for the tcg build, else the tcg
# build's folder, so every variant compiles the same integrated tree.
SRCOUT=$OUT
if [ "$VARIANT" != tcg ]; then
    SRCOUT=${VGPU_QEMU_SRC_OUT:-$ROOT/build/qemu}
    mkdir -p "$SRCOUT"
    SRCOUT=$(CDPATH='' cd -- "$SRCOUT" && pwd)
fi

# One build at a time per OUT_DIR (several engineers share a checkout).
if command -v flock >/dev/null 2>&1; then
    exec 9>"$OUT/.lock"
    if ! flock -n 9; then
        say "waiting for another qemu-build.sh on $OUT"
        flock 9
    fi
fi

# ---- 1. Debian's QEMU source, fetched once --------------------------------

# The Debian mirror the system already uses (deb822 or one-line form).
debian_mirror() {
    if [ -n "${VGPU_DEBIAN_MIRROR:-}" ]; then
        echo "$VGPU_DEBIAN_MIRROR"
        return
    fi
    m=$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null |
        awk '$1 == "URIs:" && $2 ~ /\/debian\/?$/ { print $2; exit }')
    if [ -z "$m" ]; then
        m=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list \
            2>/dev/null | awk '$1 == "deb" {
                for (i = 2; i <= NF; i++) {
                    if ($i ~ /^https?:\/\/.*\/debian\/?$/) { print $i; exit }
                }
            }')
    fi
    echo "${m:-http://deb.debian.org/debian}"
}

# apt_opts LIST: the private apt configuration's options for a sources list
# of our own (its state and cache under $SRCOUT/apt); the system's apt
# sources are never read or changed.
apt_opts() {
    apt_dir=$SRCOUT/apt
    mkdir -p "$apt_dir/lists-$1/partial" "$apt_dir/cache/archives/partial"
    APT_OPTS="-o Dir::Etc::SourceList=$apt_dir/$1.list \
-o Dir::Etc::SourceParts=/dev/null -o Dir::State::Lists=$apt_dir/lists-$1 \
-o Dir::Cache=$apt_dir/cache"
    if [ "$(id -u)" -eq 0 ]; then
        # Root's downloads would run as _apt, which cannot write here.
        APT_OPTS="$APT_OPTS -o APT::Sandbox::User=root"
    fi
}

KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg

fetch_source() {
    apt_opts sources
    echo "deb-src [signed-by=$KEYRING] $(debian_mirror) $SUITE main" \
        >"$apt_dir/sources.list"
    say "fetching Debian's qemu source ($(cat "$apt_dir/sources.list"))"
    # shellcheck disable=SC2086 # the options are words
    apt-get $APT_OPTS -qq update
    rm -rf "$SRCOUT/src.tmp"
    mkdir -p "$SRCOUT/src.tmp"
    # shellcheck disable=SC2086
    (cd "$SRCOUT/src.tmp" && apt-get $APT_OPTS -q source qemu >apt-source.log 2>&1) ||
        {
            tail -n 20 "$SRCOUT/src.tmp/apt-source.log" >&2
            die "apt-get source qemu failed"
        }
    rm -rf "$SRCOUT/src"
    mv "$SRCOUT/src.tmp" "$SRCOUT/src"
}

# suite_meson: the suite's meson unpacked under $SRCOUT/meson; prints the
# folder to put on PYTHONPATH.
suite_meson() {
    site=$SRCOUT/meson/root/usr/lib/python3/dist-packages
    if [ ! -d "$site/mesonbuild" ]; then
        apt_opts binary
        echo "deb [signed-by=$KEYRING] $(debian_mirror) $SUITE main" \
            >"$apt_dir/binary.list"
        # shellcheck disable=SC2086
        apt-get $APT_OPTS -qq update >&2
        rm -rf "$SRCOUT/meson"
        mkdir -p "$SRCOUT/meson"
        # shellcheck disable=SC2086
        (cd "$SRCOUT/meson" && apt-get $APT_OPTS -q download meson >download.log 2>&1 &&
            dpkg-deb -x meson_*.deb root) || {
            tail -n 20 "$SRCOUT/meson/download.log" >&2
            die "could not fetch $SUITE's meson"
        }
        say "$SUITE's meson: $(basename "$SRCOUT"/meson/meson_*.deb)" >&2
    fi
    echo "$site"
}

find_source() {
    for d in "$SRCOUT"/src/qemu-*/; do
        if [ -f "$d/VERSION" ] && [ -f "$d/configure" ]; then
            echo "${d%/}"
            return
        fi
    done
}

# A variant shares the tcg build's source: hold its lock while the tree is
# fetched and the device copied in.
if [ "$VARIANT" != tcg ] && command -v flock >/dev/null 2>&1; then
    exec 8>"$SRCOUT/.lock"
    flock 8
fi
t=$(date +%s)
SRC=$(find_source)
if [ -z "$SRC" ]; then
    fetch_source
    SRC=$(find_source)
    [ -n "$SRC" ] || die "no qemu-*/ tree was unpacked in $SRCOUT/src"
    say "fetched $(basename "$SRC") in $(elapsed "$t") s"
fi
say "source: $SRC (QEMU $(cat "$SRC/VERSION"))"

# ---- 2. The device in the tree --------------------------------------------

sh "$ROOT/src/qemu_glue/integrate.sh" "$SRC"
# This build has no default devices: enable the device by its Kconfig
# symbol. The q35 and pc boards (already =y there) select PCI, MSI, the
# APIC and the ISA serial port.
MAK=$SRC/configs/devices/i386-softmmu/default.mak
[ -f "$MAK" ] || die "$MAK is missing"
if ! grep -qx 'CONFIG_VGPU_STUB=y' "$MAK"; then
    printf '\n# vgpu-stub (added by ci/qemu-build.sh)\nCONFIG_VGPU_STUB=y\n' \
        >>"$MAK"
fi
# QEMU 8.2 and later select no board under --without-default-devices.
if ! grep -qx 'CONFIG_Q35=y' "$MAK"; then
    printf 'CONFIG_I440FX=y\nCONFIG_Q35=y\n' >>"$MAK"
fi
MESON_PATH=""
if [ -f "$SRC/pythondeps.toml" ]; then
    MESON_PATH=$(suite_meson)
fi
if [ "$VARIANT" != tcg ] && command -v flock >/dev/null 2>&1; then
    flock -u 8
fi

# ---- 3. Configure, when the flags changed ----------------------------------

COMMON="--disable-docs --disable-tools --disable-user --disable-install-blobs"
MINIMAL="--target-list=x86_64-softmmu --without-default-features \
--without-default-devices --enable-tcg --disable-werror $COMMON"
if [ -n "$MESON_PATH" ]; then
    COMMON="$COMMON --python=/usr/bin/python3"
    MINIMAL="$MINIMAL --python=/usr/bin/python3"
fi
case $VARIANT in
tcg)
    CONFIGURE_FLAGS=$MINIMAL
    TARGETS="qemu-system-x86_64"
    ;;
fuzz)
    CONFIGURE_FLAGS="$MINIMAL --enable-fuzzing --enable-sanitizers --cc=clang \
--cxx=clang++"
    TARGETS="qemu-fuzz-x86_64"
    ;;
full)
    CONFIGURE_FLAGS="--target-list=x86_64-softmmu --without-default-features \
--enable-tcg --disable-werror $COMMON"
    TARGETS="qemu-system-x86_64 tests/qtest/device-introspect-test \
tests/qtest/qom-test tests/qtest/test-hmp"
    ;;
xen)
    CONFIGURE_FLAGS="--target-list=i386-softmmu --enable-xen --disable-tcg \
--disable-kvm --without-default-devices --enable-werror $COMMON"
    TARGETS="qemu-system-i386"
    ;;
esac
OBJ=$OUT/obj
if [ ! -f "$OBJ/build.ninja" ] ||
    [ "$(cat "$OBJ/vgpu-configure-flags" 2>/dev/null)" != "$CONFIGURE_FLAGS" ]; then
    t=$(date +%s)
    rm -rf "$OBJ"
    mkdir -p "$OBJ"
    say "configure $CONFIGURE_FLAGS"
    # shellcheck disable=SC2086 # the flags are words
    (cd "$OBJ" && PYTHONPATH=$MESON_PATH "$SRC/configure" $CONFIGURE_FLAGS \
        >configure.log 2>&1) || {
        tail -n 30 "$OBJ/configure.log" >&2
        die "configure failed (log: $OBJ/configure.log)"
    }
    echo "$CONFIGURE_FLAGS" >"$OBJ/vgpu-configure-flags"
    say "configured in $(elapsed "$t") s"
fi

# ---- 4. Build, unless the stamp says the binary is current ----------------

stamp_of() {
    (
        cd "$ROOT"
        cat src/qemu_glue/vgpu-stub.c src/qemu_glue/integrate.sh \
            src/devmodel/* src/proto/* src/link/* src/trace/*.c include/vgpu/*.h
        echo "$CONFIGURE_FLAGS $SRC"
    ) | sha256sum | cut -d' ' -f1
}

STAMP=$(stamp_of)
FIRST=${TARGETS%% *}
BIN=$OUT/$(basename "$FIRST")
if [ -x "$BIN" ] && [ "$(cat "$OUT/stamp" 2>/dev/null)" = "$STAMP" ]; then
    say "up to date ($BIN)"
else
    t=$(date +%s)
    say "ninja -j$JOBS $TARGETS"
    # shellcheck disable=SC2086 # the targets are words
    ninja -C "$OBJ" -j"$JOBS" $TARGETS >"$OBJ/ninja.log" 2>&1 || {
        tail -n 40 "$OBJ/ninja.log" >&2
        die "ninja failed (log: $OBJ/ninja.log)"
    }
    grep -E 'warning:' "$OBJ/ninja.log" | grep -F 'hw/misc/vgpu' || true
    for target in $TARGETS; do
        cp "$OBJ/$target" "$OUT/$(basename "$target").tmp"
        mv "$OUT/$(basename "$target").tmp" "$OUT/$(basename "$target")"
    done
    echo "$STAMP" >"$OUT/stamp"
    say "built in $(elapsed "$t") s"
fi

echo "-L /usr/share/seabios -L /usr/share/qemu" >"$OUT/firmware-args"
if [ "$VARIANT" != fuzz ]; then
    "$BIN" -device help 2>&1 | grep -q '"vgpu-stub"' ||
        die "$BIN has no vgpu-stub device"
    say "$BIN: vgpu-stub present; run it with $(cat "$OUT/firmware-args")"
fi
say "wall time $(elapsed "$T0") s"
