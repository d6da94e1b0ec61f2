#!/bin/sh
# ci/release.sh OUTDIR: build the release of the version in CMakeLists.txt
# from this clean git tree, into OUTDIR (created; must be empty):
#
#   vgpu-stub-X.Y.Z.tar.gz        the source, `git archive` of HEAD
#   vgpu-mediator_X.Y.Z-1_*.deb   the packages, built by ci/package.sh from
#   vgpu-guest_X.Y.Z-1_*.deb      the unpacked tarball (so the tarball is
#   vgpu-mediator-X.Y.Z-1.*.rpm   known to build, and the packages hold
#   vgpu-guest-X.Y.Z-1.*.rpm      exactly what it holds)
#   SHA256SUMS                    `sha256sum -c SHA256SUMS` checks them all
#
# It refuses (exit 1, nothing built) when CHANGELOG.md has no "## [X.Y.Z]"
# section for the version, or when `git status` shows any change or
# untracked file. Environment: VGPU_PACKAGE_SKIP_OK=1 passes on to
# ci/package.sh (exit 77, skipped, where dpkg-dev and rpm cannot be
# installed). Exit: 0 released, 1 refused or failed, 2 usage, 77 skipped.
set -eu
PROG=ci/release.sh
ROOT=$(CDPATH='' cd -- "$(dirname -- "$0")/.." && pwd)

usage() {
    sed -n '2,17s/^# \{0,1\}//p' "$ROOT/ci/release.sh"
}
case "${1:-}" in
-h | --help)
    usage
    exit 0
    ;;
"" | -*)
    usage >&2
    echo "$PROG: usage: $PROG OUTDIR" >&2
    exit 2
    ;;
esac
[ $# -eq 1 ] || {
    echo "$PROG: one argument, OUTDIR (see --help)" >&2
    exit 2
}
OUT=$1

refuse() {
    echo "$PROG: refused: $*" >&2
    exit 1
}
cd "$ROOT"
VERSION=$(sed -n 's/^project(vgpu-stub VERSION \([0-9][0-9.]*\) .*/\1/p' \
    CMakeLists.txt)
[ -n "$VERSION" ] || refuse "no 'project(vgpu-stub VERSION ...)' in CMakeLists.txt"
grep -q "^## \[$VERSION\]" CHANGELOG.md 2>/dev/null ||
    refuse "CHANGELOG.md has no '## [$VERSION]' section for version $VERSION" \
        "(CMakeLists.txt): write it before releasing"
git rev-parse --verify -q HEAD >/dev/null ||
    refuse "$ROOT is not a git tree with a commit"
dirty=$(git status --porcelain)
if [ -n "$dirty" ]; then
    echo "$dirty" | head -n 10 >&2
    refuse "the tree is not clean (commit or remove the files above)"
fi
mkdir -p "$OUT"
OUT=$(CDPATH='' cd -- "$OUT" && pwd)
[ -z "$(ls -A "$OUT")" ] || refuse "$OUT is not empty"

T=$(mktemp -d "${TMPDIR:-/tmp}/vgpu-release.XXXXXX")
trap 'rm -rf "$T"' EXIT
trap 'exit 130' INT TERM

NAME=vgpu-stub-$VERSION
COMMIT=$(git rev-parse HEAD)
echo "== $NAME from $COMMIT"
git archive --format=tar.gz --prefix="$NAME/" -o "$OUT/$NAME.tar.gz" HEAD
tar -xzf "$OUT/$NAME.tar.gz" -C "$T"

echo "== packages (ci/package.sh in the unpacked tarball)"
rc=0
sh "$T/$NAME/ci/package.sh" "$T/build" >"$T/package.log" 2>&1 || rc=$?
if [ "$rc" -eq 77 ]; then
    cat "$T/package.log"
    exit 77
fi
if [ "$rc" -ne 0 ]; then
    tail -n 40 "$T/package.log" >&2
    echo "$PROG: ci/package.sh failed ($rc)" >&2
    exit 1
fi
tail -n 1 "$T/package.log"
for f in "$T"/build/packages/*.deb "$T"/build/packages/*.rpm; do
    case $(basename "$f") in
    *"$VERSION"*) cp "$f" "$OUT/" ;;
    *)
        echo "$PROG: a package without version $VERSION: $f" >&2
        exit 1
        ;;
    esac
done

echo "== SHA256SUMS"
(cd "$OUT" && sha256sum -- *.tar.gz *.deb *.rpm >SHA256SUMS &&
    sha256sum -c --quiet SHA256SUMS)
cat "$OUT/SHA256SUMS"
echo "$PROG: ok: $NAME ($COMMIT) in $OUT"
