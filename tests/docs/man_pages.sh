#!/bin/sh
# man_pages.sh DIR SECTION/NAME...: the CTest test docs/man. Renders each
# page DIR/NAME.SECTION (cmake/VgpuManPages.cmake) with `man -l`, as a
# reader would, and fails on any warning of man or groff, on a page whose
# header is not NAME(SECTION), and on a page with no NAME section or no
# DESCRIPTION (a program's page: no SYNOPSIS).
#
# Exit 0 pass, 1 fail, 77 skipped (no pages built: help2man or scdoc was
# missing at configure time; or no man-db).
set -u
DIR=${1:?usage: man_pages.sh DIR SECTION/NAME...}
shift
if [ $# -eq 0 ]; then
    echo "SKIP: no man pages in this build (help2man and scdoc: see" \
        "docs/man/README.md)"
    exit 77
fi
if ! command -v man >/dev/null 2>&1; then
    echo "SKIP: man is not installed (Debian package man-db)"
    exit 77
fi
T=$(mktemp -d "${TMPDIR:-/tmp}/vgpu-man.XXXXXX")
trap 'rm -rf "$T"' EXIT
bad=0
for p in "$@"; do
    section=${p%%/*}
    name=${p#*/}
    f=$DIR/$name.$section
    if [ ! -s "$f" ]; then
        echo "FAIL: $f: missing or empty"
        bad=1
        continue
    fi
    MANWIDTH=80 LC_ALL=C.UTF-8 man --warnings -l "$f" >"$T/out" 2>"$T/err"
    rc=$?
    if [ "$rc" -ne 0 ] || [ -s "$T/err" ]; then
        echo "FAIL: man -l $f: exit $rc"
        cat "$T/err"
        bad=1
        continue
    fi
    # The header names the page: "VGPU-SIM(1)" (help2man) or "vms.conf(5)".
    upper=$(printf '%s' "$name" | tr 'a-z' 'A-Z')
    if ! head -n 1 "$T/out" | grep -qF -e "$name($section)" \
        -e "$upper($section)"; then
        echo "FAIL: $f: the header is not $name($section):"
        head -n 1 "$T/out"
        bad=1
    fi
    want="NAME DESCRIPTION"
    [ "$section" = 5 ] || want="$want SYNOPSIS"
    for s in $want; do
        if ! grep -q "^$s\$" "$T/out"; then
            echo "FAIL: $f: no $s section"
            bad=1
        fi
    done
    if ! grep -q "^ *$name  *- ." "$T/out"; then
        echo "FAIL: $f: no 'NAME - what it is' line"
        bad=1
    fi
    echo "ok: $name($section): $(wc -l <"$T/out") lines"
done
[ "$bad" -eq 0 ] || exit 1
echo "PASS: $# man pages render without a warning"
