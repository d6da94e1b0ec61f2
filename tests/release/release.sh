#!/bin/sh
# release.sh SOURCE_DIR: ci/release.sh, checked as an operator would use it.
#
# A snapshot of the working tree (its tracked and untracked, not ignored
# files) becomes a fresh git repository with one commit, so that the test
# runs on what is being changed, from a clean tree. Then:
#  - ci/release.sh refuses a tree with a change, a version without a
#    CHANGELOG.md section, a non-empty OUTDIR, and bad usage (exit 2);
#  - it builds the release into a temporary folder: `sha256sum -c
#    SHA256SUMS` passes, and fails once a byte of a package changes;
#  - the tarball holds the tree; the vgpu-mediator .deb, unpacked with
#    dpkg -x into a scratch root, prints "vgpu-mediator X.Y.Z" with the
#    version of CMakeLists.txt, and its CHANGELOG.md has that section.
# Exit 0 ok, 1 failure, 77 skipped (no git, or the packaging tools cannot
# be installed).
set -eu
SRC=${1:?usage: release.sh SOURCE_DIR}
command -v git >/dev/null 2>&1 || {
    echo "SKIP: no git"
    exit 77
}
T=$(mktemp -d "${TMPDIR:-/tmp}/vgpu-release-test.XXXXXX")
trap 'rm -rf "$T"' EXIT
trap 'exit 130' INT TERM
fail() {
    echo "release test: FAIL: $*" >&2
    exit 1
}
ok() {
    echo "  ok: $*"
}

# The snapshot: files that exist (a deleted tracked file is left out).
mkdir "$T/src"
(cd "$SRC" && git ls-files -z -co --exclude-standard |
    xargs -0 sh -c 'for f; do [ -e "$f" ] && printf "%s\0" "$f"; done' sh |
    tar --null -T - -cf -) | tar -xf - -C "$T/src"
G="git -C $T/src"
$G init -q
$G config user.name "release test"
$G config user.email "release-test@localhost"
$G add -A
$G commit -q -m snapshot
REL="sh $T/src/ci/release.sh"
VERSION=$(sed -n 's/^project(vgpu-stub VERSION \([0-9][0-9.]*\) .*/\1/p' \
    "$T/src/CMakeLists.txt")
[ -n "$VERSION" ] || fail "no version in CMakeLists.txt"
echo "== version $VERSION"

# expect RC OUT_FILE CMD...: run CMD, want exit RC; its output in OUT_FILE.
expect() {
    want=$1
    out=$2
    shift 2
    rc=0
    "$@" >"$out" 2>&1 || rc=$?
    [ "$rc" -eq "$want" ] || {
        cat "$out"
        fail "$* exited $rc, not $want"
    }
}

echo "== refusals"
expect 2 "$T/o" $REL
grep -q 'usage' "$T/o" || fail "no usage: $(cat "$T/o")"
expect 0 "$T/o" $REL --help
grep -q 'SHA256SUMS' "$T/o" || fail "--help: $(cat "$T/o")"
echo "changed" >>"$T/src/README.md"
expect 1 "$T/o" $REL "$T/out-dirty"
grep -q 'not clean' "$T/o" || fail "dirty tree: $(cat "$T/o")"
[ ! -e "$T/out-dirty" ] || fail "a refused release wrote $T/out-dirty"
$G checkout -q -- README.md
touch "$T/src/untracked-file"
expect 1 "$T/o" $REL "$T/out-dirty"
grep -q 'not clean' "$T/o" || fail "untracked file: $(cat "$T/o")"
rm "$T/src/untracked-file"
sed -i "s/^project(vgpu-stub VERSION $VERSION /project(vgpu-stub VERSION 99.0.0 /" \
    "$T/src/CMakeLists.txt"
$G commit -q -am "version 99.0.0 without a CHANGELOG section"
expect 1 "$T/o" $REL "$T/out-99"
grep -q "no '## \[99.0.0\]' section" "$T/o" || fail "no section: $(cat "$T/o")"
$G reset -q --hard HEAD~1
mkdir "$T/full" && touch "$T/full/x"
expect 1 "$T/o" $REL "$T/full"
grep -q 'not empty' "$T/o" || fail "non-empty OUTDIR: $(cat "$T/o")"
ok "usage (2), a changed file, an untracked file, version 99.0.0 without" \
    "a section, a non-empty OUTDIR (1)"

echo "== the release"
OUT=$T/out
rc=0
VGPU_PACKAGE_SKIP_OK=1 $REL "$OUT" >"$T/release.log" 2>&1 || rc=$?
if [ "$rc" -eq 77 ]; then
    cat "$T/release.log"
    exit 77
fi
[ "$rc" -eq 0 ] || {
    tail -n 40 "$T/release.log"
    fail "ci/release.sh exited $rc"
}
tail -n 7 "$T/release.log"
(cd "$OUT" && sha256sum -c SHA256SUMS) >"$T/o" 2>&1 || {
    cat "$T/o"
    fail "sha256sum -c SHA256SUMS"
}
[ "$(grep -c ': OK$' "$T/o")" -eq 5 ] || fail "not 5 files checked: $(cat "$T/o")"
[ "$(ls "$OUT" | wc -l)" -eq 6 ] || fail "not 5 files + SHA256SUMS: $(ls "$OUT")"
ok "sha256sum -c SHA256SUMS: 5 files OK"
cp -r "$OUT" "$T/bad"
DEB=$(cd "$OUT" && ls vgpu-mediator_"$VERSION"-*.deb)
printf 'X' | dd of="$T/bad/$DEB" bs=1 seek=100 conv=notrunc 2>/dev/null
if (cd "$T/bad" && sha256sum -c --quiet SHA256SUMS) >/dev/null 2>&1; then
    fail "sha256sum -c passed on a changed package"
fi
ok "a changed byte in $DEB fails the check"

tar -tzf "$OUT/vgpu-stub-$VERSION.tar.gz" >"$T/tar.list"
for f in CMakeLists.txt CHANGELOG.md ci/release.sh src/daemon/main.c; do
    grep -qx "vgpu-stub-$VERSION/$f" "$T/tar.list" || fail "tarball lacks $f"
done
ok "vgpu-stub-$VERSION.tar.gz: $(wc -l <"$T/tar.list") entries"

dpkg -x "$OUT/$DEB" "$T/root"
out=$("$T/root/usr/bin/vgpu-mediator" --version) ||
    fail "the installed vgpu-mediator --version"
[ "$out" = "vgpu-mediator $VERSION" ] || fail "--version printed '$out'"
grep -q "^## \[$VERSION\]" "$T/root/usr/share/doc/vgpu-mediator/CHANGELOG.md" ||
    fail "the package's CHANGELOG.md has no section for $VERSION"
ok "dpkg -x $DEB; usr/bin/vgpu-mediator --version: $out; its CHANGELOG.md"
echo "release test: ok"
