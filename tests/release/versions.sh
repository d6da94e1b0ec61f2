#!/bin/sh
# versions.sh VERSION PROGRAM...: every program prints "NAME VERSION" for
# --version (NAME its file name) and exits 0: the one version of
# CMakeLists.txt reaches them all.
set -eu
VERSION=${1:?usage: versions.sh VERSION PROGRAM...}
shift
[ $# -gt 0 ] || {
    echo "usage: versions.sh VERSION PROGRAM..." >&2
    exit 2
}
for p in "$@"; do
    out=$("$p" --version) || {
        echo "FAIL: $p --version exited $?" >&2
        exit 1
    }
    want="$(basename "$p") $VERSION"
    [ "$out" = "$want" ] || {
        echo "FAIL: $p --version printed '$out', not '$want'" >&2
        exit 1
    }
    echo "  ok: $out"
done
