#!/bin/sh
# ci/guest-image.sh [OUT_DIR]: build the guest image of the end-to-end boot
# tests (tests/e2e) into OUT_DIR (default build/guest):
#
#   OUT_DIR/vmlinuz              Debian's kernel (linux-image-amd64's version)
#   OUT_DIR/initramfs.cpio.gz    busybox-static, /init, /etc/vgpu-test.sh,
#                                the static guest tools, uio.ko and
#                                uio_pci_generic.ko
#   OUT_DIR/image.txt            what is inside (kernel, sizes, stamp)
#
# Steps, each skipped when its output is already there:
#  1. install what is missing (Debian packages, through ci/lib.sh);
#  2. the kernel: resolve linux-image-amd64's versioned dependency
#     (linux-image-6.1.0-N-amd64) with apt-cache depends, `apt-get download`
#     its .deb into OUT_DIR/kernel (never installed), and take vmlinuz and the
#     two uio modules out of it with dpkg-deb (only those files; a full
#     `dpkg -x` writes 400 MB). Modules compressed as .ko.xz are
#     decompressed: busybox insmod reads plain .ko only;
#  3. the guest tools, linked -static, in OUT_DIR/tools-build (Release,
#     VGPU_GUEST_STATIC_TOOLS=ON, no tests);
#  4. the initramfs, packed again only when its inputs changed: the stamp is
#     a hash of every file that goes into it.
#
# The guest's scripts live in tests/e2e/guest/ (init, vgpu-test.sh); the
# kernel command line picks the scenario: vgpu.test=NAME vgpu.args="...".
# Set VGPU_GUEST_KERNEL_PKG to use another kernel package than the one
# linux-image-amd64 depends on.
set -eu
ROOT=$(CDPATH='' cd -- "$(dirname -- "$0")/.." && pwd)
cd "$ROOT"
. ci/lib.sh

OUT=${1:-build/guest}
mkdir -p "$OUT"
OUT=$(CDPATH='' cd -- "$OUT" && pwd)
GUEST_SRC=$ROOT/tests/e2e/guest
TOOLS="vgpu-selftest vgpu-vector-add vgpu-info vgpu-dump vgpu-bench"
T0=$(date +%s)

say() {
    echo "guest-image: $*"
}

die() {
    echo "guest-image: $*" >&2
    exit 1
}

# seabios and qemu-system-data: the firmware that tests/e2e/boot.sh passes
# to QEMU with -L (the image itself does not need them).
vgpu_need_pkgs busybox-static cpio gzip xz-utils cmake ninja-build gcc \
    libc6-dev pkg-config seabios qemu-system-data

# ---- 2. The kernel ---------------------------------------------------------

# kernel_pkg: the versioned package linux-image-amd64 depends on, e.g.
# linux-image-6.1.0-56-amd64; empty when apt knows none.
kernel_pkg() {
    apt-cache depends linux-image-amd64 2>/dev/null |
        sed -n 's/^ *Depends: \(linux-image-[0-9][^ ]*-amd64\)$/\1/p' |
        head -n 1
}

KPKG=${VGPU_GUEST_KERNEL_PKG:-}
if [ -z "$KPKG" ]; then
    KPKG=$(kernel_pkg)
fi
if [ -z "$KPKG" ]; then
    # No package lists yet (a fresh container): update them once.
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo=sudo
    $sudo apt-get update -qq || true
    KPKG=$(kernel_pkg)
fi
KDIR=$OUT/kernel/$KPKG
if [ -z "$KPKG" ]; then
    # Offline: reuse a kernel taken earlier, if there is one.
    KDIR=$(find "$OUT/kernel" -mindepth 1 -maxdepth 1 -type d 2>/dev/null |
        sort | tail -n 1)
    [ -n "$KDIR" ] || die "apt-cache knows no linux-image-amd64 dependency"
    KPKG=$(basename "$KDIR")
    say "apt-cache knows no linux-image-amd64: reusing $KPKG"
fi

if [ -f "$KDIR/vmlinuz" ] && [ -f "$KDIR/uio.ko" ] &&
    [ -f "$KDIR/uio_pci_generic.ko" ]; then
    say "kernel: $KPKG (cached in $KDIR)"
else
    say "kernel: downloading $KPKG"
    rm -rf "$KDIR" "$OUT/kernel/deb"
    mkdir -p "$OUT/kernel/deb" "$KDIR/x"
    # apt-get download writes into the current directory; as root, apt
    # warns that its _apt user cannot write there, so download as root.
    (cd "$OUT/kernel/deb" &&
        apt-get download -q -o APT::Sandbox::User=root "$KPKG" >/dev/null)
    DEB=$(find "$OUT/kernel/deb" -name "${KPKG}_*.deb" | head -n 1)
    [ -n "$DEB" ] || die "apt-get download $KPKG left no .deb"
    dpkg-deb --fsys-tarfile "$DEB" |
        tar -x -C "$KDIR/x" --wildcards './boot/vmlinuz-*' \
            './lib/modules/*/kernel/drivers/uio/uio.ko*' \
            './lib/modules/*/kernel/drivers/uio/uio_pci_generic.ko*'
    cp "$(find "$KDIR/x/boot" -name 'vmlinuz-*' | head -n 1)" \
        "$KDIR/vmlinuz.tmp"
    for m in uio uio_pci_generic; do
        f=$(find "$KDIR/x/lib/modules" -name "$m.ko*" | head -n 1)
        [ -n "$f" ] || die "$DEB has no $m.ko"
        case $f in
        *.ko.xz) xz -dc "$f" >"$KDIR/$m.ko" ;;
        *.ko.zst) die "$f: zstd modules are not handled" ;;
        *.ko) cp "$f" "$KDIR/$m.ko" ;;
        *) die "$f: unknown module format" ;;
        esac
    done
    mv "$KDIR/vmlinuz.tmp" "$KDIR/vmlinuz"
    rm -rf "$KDIR/x" "$OUT/kernel/deb"
    # Only the kernel in use stays.
    for d in "$OUT/kernel"/*; do
        [ "$d" = "$KDIR" ] || rm -rf "$d"
    done
fi

# ---- 3. The static guest tools ---------------------------------------------

TB=$OUT/tools-build
say "tools: static build in $TB"
cmake -S "$ROOT" -B "$TB" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DVGPU_GUEST_STATIC_TOOLS=ON -DVGPU_BUILD_TESTS=OFF >/dev/null
# shellcheck disable=SC2086 # the list of targets is split on purpose
cmake --build "$TB" --target $TOOLS -- -j2 >/dev/null ||
    die "building the guest tools failed (cmake --build $TB)"

# ---- 4. The initramfs ------------------------------------------------------

BUSYBOX=/bin/busybox
[ -x "$BUSYBOX" ] || die "$BUSYBOX is missing (package busybox-static)"
# A dynamically linked busybox cannot run in the image.
if LC_ALL=C readelf -l "$BUSYBOX" | grep -q 'program interpreter'; then
    die "$BUSYBOX is not static (install busybox-static, not busybox)"
fi

# The inputs, in a fixed order: their hash is the stamp (this script too,
# for the image's layout).
INPUTS="$ROOT/ci/guest-image.sh $BUSYBOX $GUEST_SRC/init \
$GUEST_SRC/vgpu-test.sh $KDIR/uio.ko $KDIR/uio_pci_generic.ko"
for t in $TOOLS; do
    f=$(find "$TB/src/guest/tools" -maxdepth 1 -name "$t" -type f)
    [ -n "$f" ] || die "$t was not built in $TB"
    INPUTS="$INPUTS $f"
done
# shellcheck disable=SC2086
STAMP=$( (echo "$KPKG" && sha256sum $INPUTS | cut -d' ' -f1) |
    sha256sum | cut -d' ' -f1)

IMG=$OUT/initramfs.cpio.gz
if [ -f "$IMG" ] && [ -f "$OUT/vmlinuz" ] && [ -f "$OUT/stamp" ] &&
    [ "$(cat "$OUT/stamp")" = "$STAMP" ]; then
    say "initramfs: up to date ($IMG)"
else
    say "initramfs: packing $IMG"
    R=$OUT/rootfs
    rm -rf "$R"
    mkdir -p "$R/bin" "$R/sbin" "$R/usr/bin" "$R/usr/sbin" "$R/etc" \
        "$R/proc" "$R/sys" "$R/dev" "$R/tmp" "$R/root" "$R/lib/modules"
    cp "$BUSYBOX" "$R/bin/busybox"
    # The applet links, where busybox itself would put them.
    "$BUSYBOX" --list-full | while read -r applet; do
        case $applet in
        bin/busybox) ;;
        bin/* | sbin/* | usr/bin/* | usr/sbin/*)
            [ -e "$R/$applet" ] || ln -s /bin/busybox "$R/$applet"
            ;;
        esac
    done
    install -m 0755 "$GUEST_SRC/init" "$R/init"
    install -m 0755 "$GUEST_SRC/vgpu-test.sh" "$R/etc/vgpu-test.sh"
    for t in $TOOLS; do
        install -m 0755 "$TB/src/guest/tools/$t" "$R/usr/bin/$t"
    done
    install -m 0644 "$KDIR/uio.ko" "$KDIR/uio_pci_generic.ko" "$R/lib/modules/"
    echo "$KPKG" >"$R/etc/vgpu-kernel"
    (cd "$R" && find . | LC_ALL=C sort |
        cpio -o -H newc -R 0:0 --quiet) | gzip -6 >"$IMG.tmp"
    cp "$KDIR/vmlinuz" "$OUT/vmlinuz.tmp"
    mv "$OUT/vmlinuz.tmp" "$OUT/vmlinuz"
    mv "$IMG.tmp" "$IMG"
    echo "$STAMP" >"$OUT/stamp"
    rm -rf "$R"
fi

{
    echo "kernel package: $KPKG"
    echo "vmlinuz: $(wc -c <"$OUT/vmlinuz") bytes"
    echo "initramfs: $(wc -c <"$IMG") bytes"
    echo "tools: $TOOLS (static, $TB)"
    echo "stamp: $STAMP"
} >"$OUT/image.txt"
say "done in $(($(date +%s) - T0)) s: $OUT/vmlinuz $IMG"
