#!/bin/sh
# integrate.sh QEMU_SRC: put the vgpu-stub device into a QEMU 7.x (or later)
# source tree, so that QEMU's own build compiles it.
#
# Copies (never links) the glue, the sources and private headers of
# src/devmodel, src/proto, src/link and src/trace, and include/vgpu/*.h into
# QEMU_SRC/hw/misc/vgpu/, writes its
# meson.build, adds
# `subdir('vgpu')` to hw/misc/meson.build and a `config VGPU_STUB` entry to
# hw/misc/Kconfig. A build with default devices then has the device wherever
# PCI is; a --without-default-devices build also needs CONFIG_VGPU_STUB=y in
# its configs/devices/*/default.mak (ci/qemu-build.sh adds it).
#
# Idempotent: a file is rewritten only when its content differs, so running
# it twice changes nothing and a rebuild after it recompiles only what
# changed. Exits 2 when QEMU_SRC is not a meson-based QEMU tree.
set -eu

usage() {
    echo "usage: $0 QEMU_SRC" >&2
    exit 2
}

[ $# -eq 1 ] || usage
QEMU_SRC=$1
HERE=$(CDPATH='' cd -- "$(dirname -- "$0")" && pwd)
ROOT=$(CDPATH='' cd -- "$HERE/../.." && pwd)

die() {
    echo "integrate.sh: $*" >&2
    exit 2
}

[ -d "$QEMU_SRC" ] || die "$QEMU_SRC: no such directory"
if [ ! -f "$QEMU_SRC/VERSION" ] || [ ! -f "$QEMU_SRC/include/hw/pci/pci.h" ]; then
    die "$QEMU_SRC is not a QEMU source tree (no VERSION or include/hw/pci/pci.h)"
fi
MISC=$QEMU_SRC/hw/misc
if [ ! -f "$MISC/meson.build" ]; then
    if [ -f "$MISC/Makefile.objs" ]; then
        die "$QEMU_SRC is QEMU $(cat "$QEMU_SRC/VERSION") (Makefile.objs, before 5.2): follow the QEMU 4.2 route in docs/qemu.md"
    fi
    die "$QEMU_SRC has no hw/misc/meson.build"
fi
[ -f "$MISC/Kconfig" ] || die "$QEMU_SRC has no hw/misc/Kconfig"

# QEMU 8.1 renamed softmmu_ss to system_ss.
if grep -q '^system_ss\.add' "$MISC/meson.build"; then
    SS=system_ss
elif grep -q '^softmmu_ss\.add' "$MISC/meson.build"; then
    SS=softmmu_ss
else
    die "$MISC/meson.build uses neither softmmu_ss nor system_ss"
fi

CHANGED=0

# put SRC DST: copy SRC to DST unless DST already has the same bytes.
put() {
    if ! cmp -s "$1" "$2"; then
        cp "$1" "$2"
        CHANGED=$((CHANGED + 1))
    fi
}

# put_text DST: write stdin to DST unless DST already holds exactly that.
put_text() {
    tmp="$1.tmp.$$"
    cat >"$tmp"
    if cmp -s "$tmp" "$1"; then
        rm -f "$tmp"
    else
        mv "$tmp" "$1"
        CHANGED=$((CHANGED + 1))
    fi
}

DST=$MISC/vgpu
mkdir -p "$DST/devmodel" "$DST/proto" "$DST/link" "$DST/trace" "$DST/include/vgpu"
put "$HERE/vgpu-stub.c" "$DST/vgpu-stub.c"
sources="'vgpu-stub.c'"
for mod in devmodel proto link trace; do
    for f in "$ROOT/src/$mod"/*.c; do
        name=$(basename "$f")
        put "$f" "$DST/$mod/$name"
        sources="$sources, '$mod/$name'"
    done
    # A module's private headers, found beside the files that include them.
    for f in "$ROOT/src/$mod"/*.h; do
        [ -e "$f" ] || continue
        put "$f" "$DST/$mod/$(basename "$f")"
    done
done
for f in "$ROOT/include/vgpu"/*.h; do
    put "$f" "$DST/include/vgpu/$(basename "$f")"
done

put_text "$DST/meson.build" <<EOF
# vgpu-stub: written by vgpu-stub's src/qemu_glue/integrate.sh; edit there.
# The device (vgpu-stub.c) and the pure libraries it wraps, compiled by QEMU.
vgpu_stub_inc = include_directories('include')
$SS.add(when: 'CONFIG_VGPU_STUB', if_true: [
  files($sources),
  declare_dependency(include_directories: vgpu_stub_inc),
])
EOF

if ! grep -qx "subdir('vgpu')" "$MISC/meson.build"; then
    printf "\n# vgpu-stub (added by vgpu-stub's integrate.sh)\nsubdir('vgpu')\n" \
        >>"$MISC/meson.build"
    CHANGED=$((CHANGED + 1))
fi

if ! grep -qx 'config VGPU_STUB' "$MISC/Kconfig"; then
    cat >>"$MISC/Kconfig" <<'EOF'

# vgpu-stub (added by vgpu-stub's integrate.sh)
config VGPU_STUB
    bool
    default y
    depends on PCI
EOF
    CHANGED=$((CHANGED + 1))
fi

echo "integrate.sh: vgpu-stub in $DST ($SS; $CHANGED file(s) changed)"
