#!/bin/sh
# ci/package.sh [BUILD_DIR]: build the vgpu-mediator and vgpu-guest packages
# (.deb and .rpm, cmake/VgpuPackage.cmake) and check them:
#
#  1. install what is missing (dpkg-dev, rpm, file, ...: Debian packages);
#  2. configure a Release build with tests off into BUILD_DIR (default
#     build/package; prefix /usr, CUDA off unless VGPU_PACKAGE_CUDA=AUTO|ON)
#     and build it;
#  3. `cmake --install` into a temporary DESTDIR and check the layout;
#  4. cpack: two .deb and two .rpm files; check their control data, conffiles,
#     the man pages and guides each carries, maintainer scripts (run
#     against stubs: no user is created here), and that the .deb and .rpm
#     of each package hold the same files, that the two packages share
#     none, and that together they hold everything `cmake --install`
#     installs;
#  5. unpack both .deb files with `dpkg -x` into a temporary root and run
#     what they installed: the daemon (--version, --help, --check-config on
#     the shipped config, a real start on a temporary socket served to
#     vgpu-sim, --stats, SIGTERM), the guest tools on the simulator, and a
#     program compiled against the installed headers and libvgpu-guest
#     through pkg-config (shared and static).
#
# Environment: VGPU_PACKAGE_CUDA (OFF), VGPU_PACKAGE_SKIP_OK=1 (exit 77,
# skipped, instead of failing when the tools cannot be installed: CTest).
# Prints its wall time. Exit 0 ok, 1 failure, 77 skipped.
set -eu
START=$(date +%s)
ROOT=$(CDPATH='' cd -- "$(dirname -- "$0")/.." && pwd)
cd "$ROOT"
# shellcheck source=ci/lib.sh
. ci/lib.sh

BUILD=${1:-build/package}
CUDA=${VGPU_PACKAGE_CUDA:-OFF}

if ! vgpu_need_pkgs cmake ninja-build gcc libc6-dev binutils pkg-config \
    dpkg-dev rpm file help2man scdoc man-db libmicrohttpd-dev; then
    if [ "${VGPU_PACKAGE_SKIP_OK:-}" = 1 ]; then
        echo "SKIP: cannot install the packaging tools (dpkg-dev, rpm, file)"
        exit 77
    fi
    echo "ci/package.sh: cannot install the packaging tools" >&2
    exit 1
fi

T=$(mktemp -d "${TMPDIR:-/tmp}/vgpu-package.XXXXXX")
DPID=""
cleanup() {
    rc=$?
    if [ -n "$DPID" ]; then
        kill -KILL "$DPID" 2>/dev/null || true
    fi
    if [ "$rc" -ne 0 ] && [ -f "$T/daemon.log" ]; then
        echo "---- installed daemon's log ----"
        tail -n 30 "$T/daemon.log"
    fi
    if [ -n "${VGPU_PACKAGE_KEEP:-}" ]; then
        echo "kept $T"
    else
        rm -rf "$T"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

fail() {
    echo "ci/package.sh: FAIL: $*" >&2
    exit 1
}
ok() {
    echo "  ok: $*"
}
# must_exist PATH...: each a non-empty file (or a link to one).
must_exist() {
    for f in "$@"; do
        [ -s "$f" ] || fail "missing or empty: $f"
    done
}

echo "== configure ($BUILD: Release, tests off, prefix /usr, CUDA $CUDA)"
cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DVGPU_BUILD_TESTS=OFF -DCMAKE_INSTALL_PREFIX=/usr \
    -DVGPU_MAN_PAGES=ON \
    -DVGPU_WITH_CUDA="$CUDA" >"$T/configure.log" 2>&1 ||
    {
        cat "$T/configure.log"
        fail "configure"
    }
echo "== build"
cmake --build "$BUILD" -- -j2 >"$T/build.log" 2>&1 || {
    tail -n 40 "$T/build.log"
    fail "build"
}

cache() {
    sed -n "s/^$1:[A-Z]*=//p" "$BUILD/CMakeCache.txt"
}
VERSION=$(cache CMAKE_PROJECT_VERSION)
LIBDIR=$(cache CMAKE_INSTALL_LIBDIR)
if [ -z "$VERSION" ] || [ -z "$LIBDIR" ]; then
    fail "no version or libdir in $BUILD/CMakeCache.txt"
fi

# The optional programs: packaged when (and only when) the tree builds them.
OPTIONAL=""
for exe in vgpu-admin vgpu-legacy-client; do
    if [ -n "$(find "$BUILD/src" -name "$exe" -type f -perm -u+x)" ]; then
        OPTIONAL="$OPTIONAL $exe"
    else
        echo "  note: $exe is not built in this tree: not packaged"
    fi
done
MEDIATOR_BINS="vgpu-mediator vgpu-trace vgpu-sim"
GUEST_BINS="vgpu-info vgpu-dump vgpu-selftest vgpu-vector-add vgpu-bench"
case " $OPTIONAL " in *" vgpu-admin "*) MEDIATOR_BINS="$MEDIATOR_BINS vgpu-admin" ;; esac
case " $OPTIONAL " in
*" vgpu-legacy-client "*) GUEST_BINS="$GUEST_BINS vgpu-legacy-client" ;;
esac

echo "== cmake --install into a DESTDIR"
D=$T/destdir
DESTDIR=$D cmake --install "$BUILD" >"$T/install.log" 2>&1 || {
    cat "$T/install.log"
    fail "cmake --install"
}
for b in $MEDIATOR_BINS $GUEST_BINS; do
    [ -x "$D/usr/bin/$b" ] || fail "not installed: /usr/bin/$b"
done
must_exist "$D/usr/$LIBDIR/libvgpu-guest.so.0" "$D/usr/$LIBDIR/libvgpu-guest.a" \
    "$D/usr/$LIBDIR/pkgconfig/vgpu-guest.pc" \
    "$D/usr/include/vgpu/guest.h" "$D/usr/include/vgpu/common.h" \
    "$D/usr/include/vgpu/regs.h" \
    "$D/etc/vgpu/mediator.conf" "$D/etc/vgpu/vms.conf" \
    "$D/usr/lib/systemd/system/vgpu-mediator.service" \
    "$D/usr/share/vgpu-mediator/grafana/vgpu-mediator.json" \
    "$D/usr/share/vgpu-mediator/prometheus/vgpu-mediator.yml"
[ -L "$D/usr/$LIBDIR/libvgpu-guest.so" ] || fail "no libvgpu-guest.so link"
grep -q '^prefix=/usr$' "$D/usr/$LIBDIR/pkgconfig/vgpu-guest.pc" ||
    fail "vgpu-guest.pc: prefix is not /usr"
grep -q '^ExecStart=/usr/bin/vgpu-mediator --config /etc/vgpu/mediator.conf$' \
    "$D/usr/lib/systemd/system/vgpu-mediator.service" ||
    fail "the unit's ExecStart is not the packaged one"
ok "layout: bin, $LIBDIR (+pkgconfig), include/vgpu, etc/vgpu, lib/systemd/system"
(cd "$D" && find . ! -type d | sed 's|^\.||' | sort) >"$T/installed.list"

echo "== cpack (DEB, RPM)"
PKGS=$BUILD/packages
rm -f "$PKGS"/*.deb "$PKGS"/*.rpm
(cd "$BUILD" && cpack -G "DEB;RPM") >"$T/cpack.log" 2>&1 || {
    tail -n 40 "$T/cpack.log"
    fail "cpack"
}
MED_DEB=$(ls "$PKGS"/vgpu-mediator_"$VERSION"-*_*.deb)
GST_DEB=$(ls "$PKGS"/vgpu-guest_"$VERSION"-*_*.deb)
MED_RPM=$(ls "$PKGS"/vgpu-mediator-"$VERSION"-*.rpm)
GST_RPM=$(ls "$PKGS"/vgpu-guest-"$VERSION"-*.rpm)
must_exist "$MED_DEB" "$GST_DEB" "$MED_RPM" "$GST_RPM"
set -- "$PKGS"/*.deb "$PKGS"/*.rpm
[ $# -eq 4 ] || fail "expected 4 packages, got: $*"
for f in "$MED_DEB" "$GST_DEB" "$MED_RPM" "$GST_RPM"; do
    echo "  $(basename "$f") ($(wc -c <"$f") bytes)"
done

echo "== package metadata"
field() { dpkg-deb -f "$1" "$2"; }
[ "$(field "$MED_DEB" Package)" = vgpu-mediator ] || fail "deb name"
[ "$(field "$GST_DEB" Package)" = vgpu-guest ] || fail "deb name"
for f in "$MED_DEB" "$GST_DEB"; do
    field "$f" Version | grep -q "^$VERSION-" || fail "$f: version"
    [ -n "$(field "$f" Maintainer)" ] || fail "$f: no maintainer"
    [ -n "$(field "$f" Description)" ] || fail "$f: no description"
done
field "$MED_DEB" Depends | grep -q 'libc6' ||
    fail "vgpu-mediator.deb does not depend on libc6"
field "$GST_DEB" Depends | grep -q 'libc6' ||
    fail "vgpu-guest.deb does not depend on libc6"
# The metrics endpoint links libmicrohttpd (src/daemon/metrics_http.c).
field "$MED_DEB" Depends | grep -q 'libmicrohttpd' ||
    fail "vgpu-mediator.deb does not depend on libmicrohttpd"
rpm -qpR "$MED_RPM" 2>/dev/null | grep -q 'libmicrohttpd\.so' ||
    fail "vgpu-mediator.rpm does not require libmicrohttpd.so"
rpm -qpR "$MED_RPM" 2>/dev/null | grep -q 'libc\.so\.6' ||
    fail "vgpu-mediator.rpm does not require libc.so.6"
[ "$(rpm -qp --qf '%{NAME} %{VERSION}' "$MED_RPM" 2>/dev/null)" = \
    "vgpu-mediator $VERSION" ] || fail "rpm name/version"
[ "$(rpm -qp --qf '%{NAME} %{VERSION}' "$GST_RPM" 2>/dev/null)" = \
    "vgpu-guest $VERSION" ] || fail "rpm name/version"
ok "names, versions $VERSION, maintainer, descriptions, dependencies"
echo "  vgpu-mediator.deb Depends: $(field "$MED_DEB" Depends)"
echo "  vgpu-guest.deb Depends:    $(field "$GST_DEB" Depends)"

# The configuration is the administrator's: conffiles / %config(noreplace).
mkdir -p "$T/control"
dpkg-deb -e "$MED_DEB" "$T/control"
for c in /etc/vgpu/mediator.conf /etc/vgpu/vms.conf; do
    grep -qx "$c" "$T/control/conffiles" || fail "deb: $c is not a conffile"
    rpm -qp --qf '[%{FILEFLAGS:fflags} %{FILENAMES}\n]' "$MED_RPM" \
        2>/dev/null | grep -qx "cn $c" ||
        fail "rpm: $c is not %config(noreplace)"
done
ok "conffiles (deb) and %config(noreplace) (rpm): mediator.conf, vms.conf"

echo "== maintainer scripts (against stubs: nothing is created here)"
for s in postinst prerm postrm; do
    [ -x "$T/control/$s" ] || fail "deb: no executable $s"
    sh -n "$T/control/$s" || fail "deb $s: syntax"
done
rpm -qp --scripts "$MED_RPM" >"$T/rpm-scripts" 2>/dev/null
for s in preinstall postinstall preuninstall postuninstall; do
    grep -q "^$s scriptlet" "$T/rpm-scripts" || fail "rpm: no $s scriptlet"
done
# Stubs of the commands the scripts run, each logging its arguments; getent
# answers "missing" (or "present" with STUB_USER_EXISTS=1); systemctl fails,
# as in a container without systemd.
STUB=$T/stub
mkdir -p "$STUB"
for c in groupadd useradd addgroup adduser systemctl; do
    printf '#!/bin/sh\necho "%s $*" >>"%s/calls"\n' "$c" "$STUB" >"$STUB/$c"
done
echo 'exit 1' >>"$STUB/systemctl"
# shellcheck disable=SC2016 # expanded by the stub, not here
printf '#!/bin/sh\n[ "${STUB_USER_EXISTS:-0}" = 1 ]\n' >"$STUB/getent"
chmod +x "$STUB"/*
: >"$STUB/calls"
PATH=$STUB:$PATH sh "$T/control/postinst" configure ||
    fail "postinst configure failed with the user missing"
grep -qx 'groupadd --system vgpu' "$STUB/calls" ||
    fail "postinst did not create group vgpu: $(cat "$STUB/calls")"
grep -q '^useradd --system --gid vgpu --no-create-home --home-dir /nonexistent --shell [^ ]*nologin --comment .* vgpu$' \
    "$STUB/calls" ||
    fail "postinst did not create a no-login user vgpu: $(cat "$STUB/calls")"
: >"$STUB/calls"
STUB_USER_EXISTS=1 PATH=$STUB:$PATH sh "$T/control/postinst" configure ||
    fail "postinst configure failed with the user present"
if grep -q 'add' "$STUB/calls"; then
    fail "postinst recreated an existing user: $(cat "$STUB/calls")"
fi
for s in prerm postrm; do
    STUB_USER_EXISTS=1 PATH=$STUB:$PATH sh "$T/control/$s" remove ||
        fail "$s remove failed"
done
# The RPM %pre is the same function: run it too.
sed -n '/^preinstall scriptlet/,/^postinstall scriptlet/p' "$T/rpm-scripts" |
    sed '1d;$d' >"$T/rpm-pre.sh"
: >"$STUB/calls"
PATH=$STUB:$PATH sh "$T/rpm-pre.sh" 1 || fail "rpm %pre failed"
grep -q '^useradd --system' "$STUB/calls" || fail "rpm %pre made no user"
if [ -d /run/systemd/system ]; then
    ok "scripts create vgpu:vgpu (no login, no home) once; a failing systemctl is ignored"
else
    ok "scripts create vgpu:vgpu (no login, no home) once; no systemd here: systemctl not called"
fi

echo "== package contents"
# deb_files DEB / rpm_files RPM: the files and links it holds, sorted.
deb_files() {
    dpkg-deb -c "$1" | awk '$1 !~ /^d/ { print $6 }' | sed 's|^\./|/|' | sort
}
rpm_files() {
    rpm -qp --qf '[%{FILEMODES:perms} %{FILENAMES}\n]' "$1" 2>/dev/null |
        awk '$1 !~ /^d/ { print $2 }' | sort
}
deb_files "$MED_DEB" >"$T/med.deb.list"
deb_files "$GST_DEB" >"$T/gst.deb.list"
rpm_files "$MED_RPM" >"$T/med.rpm.list"
rpm_files "$GST_RPM" >"$T/gst.rpm.list"
cmp -s "$T/med.deb.list" "$T/med.rpm.list" || {
    diff "$T/med.deb.list" "$T/med.rpm.list" || true
    fail "vgpu-mediator: the .deb and the .rpm hold different files"
}
cmp -s "$T/gst.deb.list" "$T/gst.rpm.list" || {
    diff "$T/gst.deb.list" "$T/gst.rpm.list" || true
    fail "vgpu-guest: the .deb and the .rpm hold different files"
}
[ -z "$(comm -12 "$T/med.deb.list" "$T/gst.deb.list")" ] ||
    fail "files in both packages: $(comm -12 "$T/med.deb.list" "$T/gst.deb.list")"
sort "$T/med.deb.list" "$T/gst.deb.list" >"$T/packaged.list"
cmp -s "$T/packaged.list" "$T/installed.list" || {
    echo "  (< packaged only, > installed but in no package: an install()"
    echo "   rule without COMPONENT mediator or guest?)"
    diff "$T/packaged.list" "$T/installed.list" || true
    fail "the packages do not hold exactly what cmake --install installs"
}
for b in $MEDIATOR_BINS; do
    grep -qx "/usr/bin/$b" "$T/med.deb.list" || fail "$b not in vgpu-mediator"
done
for b in $GUEST_BINS; do
    grep -qx "/usr/bin/$b" "$T/gst.deb.list" || fail "$b not in vgpu-guest"
done
ok "deb and rpm agree; no overlap; together = cmake --install"
echo "  vgpu-mediator:"
sed 's/^/    /' "$T/med.deb.list"
echo "  vgpu-guest:"
sed 's/^/    /' "$T/gst.deb.list"

echo "== man pages and docs (each in the package of what it describes)"
# in_pkg LIST PATH...: each PATH is in the package file list LIST.
in_pkg() {
    l=$1
    shift
    for p in "$@"; do
        grep -qx "$p" "$T/$l.deb.list" || fail "$p is not in the $l package"
    done
}
man_of() {
    case $1 in
    vgpu-mediator | vgpu-admin) echo "/usr/share/man/man8/$1.8" ;;
    *) echo "/usr/share/man/man1/$1.1" ;;
    esac
}
for b in $MEDIATOR_BINS; do
    in_pkg med "$(man_of "$b")"
done
for b in $GUEST_BINS; do
    in_pkg gst "$(man_of "$b")"
done
in_pkg med /usr/share/man/man5/mediator.conf.5 /usr/share/man/man5/vms.conf.5
for d in admin-guide mediator socket-permissions reliability; do
    in_pkg med "/usr/share/doc/vgpu-mediator/$d.md"
done
for d in guest-api registers protocol; do
    in_pkg gst "/usr/share/doc/vgpu-guest/$d.md"
done
# The unit's Documentation= lines name what the package installs.
for d in $(sed -n 's/^Documentation=//p' \
    "$D/usr/lib/systemd/system/vgpu-mediator.service"); do
    case $d in
    man:*)
        p=${d#man:}
        s=${p##*(}
        s=${s%)}
        in_pkg med "/usr/share/man/man$s/${p%(*}.$s"
        ;;
    file:*) in_pkg med "${d#file:}" ;;
    *) fail "the unit's Documentation=$d is neither man: nor file:" ;;
    esac
done
# Each page renders without a warning (tests/docs/man_pages.sh does the
# same in CTest, on the build tree's pages).
for p in $(grep -h '^/usr/share/man/' "$T/med.deb.list" "$T/gst.deb.list"); do
    MANWIDTH=80 man --warnings -l "$D$p" >/dev/null 2>"$T/man.err" ||
        fail "man -l $p failed"
    [ ! -s "$T/man.err" ] || {
        cat "$T/man.err"
        fail "man -l $p: warnings"
    }
done
ok "a man page for each program and both files; the guides; the unit's Documentation="

echo "== the systemd unit"
UNIT=$D/usr/lib/systemd/system/vgpu-mediator.service
if command -v systemd-analyze >/dev/null 2>&1; then
    # verify, with ExecStart pointing at a binary that exists here; any word
    # from it (an unknown key, a bad value) is a failure.
    mkdir -p "$T/unit"
    sed "s|^ExecStart=/usr/bin/|ExecStart=$D/usr/bin/|" "$UNIT" \
        >"$T/unit/vgpu-mediator.service"
    # --man=no: the pages are checked above, in the package.
    systemd-analyze verify --man=no "$T/unit/vgpu-mediator.service" \
        >"$T/unit/verify.out" 2>&1 || true
    if [ -s "$T/unit/verify.out" ]; then
        cat "$T/unit/verify.out"
        fail "systemd-analyze verify complained about the unit"
    fi
    exposure=$(systemd-analyze security --offline=true \
        "$T/unit/vgpu-mediator.service" 2>/dev/null |
        sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')
    ok "systemd-analyze verify: clean; security exposure ${exposure:-?} (of 10)"
else
    echo "  note: no systemd-analyze here: the unit is not verified"
fi
# shellcheck disable=SC2016 # $MAINPID is the unit's
for k in 'User=vgpu' 'Group=vgpu' 'RuntimeDirectory=vgpu' \
    'RuntimeDirectoryMode=0750' 'UMask=0007' 'NoNewPrivileges=yes' \
    'ProtectSystem=strict' 'ProtectHome=yes' 'PrivateTmp=yes' \
    'Restart=on-failure' 'ExecReload=/bin/kill -HUP $MAINPID'; do
    grep -qxF "$k" "$UNIT" || fail "the unit lacks '$k'"
done
ok "User/Group vgpu, /run/vgpu 0750, UMask 0007, hardening, reload"

echo "== run what the .deb files installed (dpkg -x into a temporary root)"
R=$T/root
dpkg -x "$MED_DEB" "$R"
dpkg -x "$GST_DEB" "$R"
MED=$R/usr/bin/vgpu-mediator
out=$("$MED" --version) || fail "--version"
[ "$out" = "vgpu-mediator $VERSION" ] || fail "--version printed '$out'"
"$MED" --help >"$T/help.out" 2>&1 || fail "--help"
grep -q -- '--check-config' "$T/help.out" || fail "--help lacks --check-config"
ok "vgpu-mediator --version: $out; --help"

# The shipped config with its paths moved into the temporary root: the
# registry and the sockets. --check-config must not need the socket's
# directory to exist.
CONF=$T/mediator.conf
sed -e "s|/etc/vgpu/|$R/etc/vgpu/|g" -e "s|/run/vgpu/|$T/run/|g" \
    "$R/etc/vgpu/mediator.conf" >"$CONF"
if ! grep -q '^registry *=' "$CONF"; then
    fail "the shipped mediator.conf names no registry"
fi
if ! grep -q -- '--registry' "$T/help.out"; then
    echo "  note: this daemon has no registry yet (no --registry):" \
        "checking the config without its 'registry' line"
    sed -i '/^registry *=/d' "$CONF"
fi
out=$("$MED" --check-config "$CONF" 2>&1) || fail "--check-config: $out"
[ "$out" = "$CONF: ok" ] || fail "--check-config printed '$out'"
[ ! -e "$T/run" ] || fail "--check-config created the socket directory"
ok "--check-config on the shipped mediator.conf: ok"

# Start it (without the registry: the shipped one lists no VM) on a socket
# in the temporary directory, and serve vgpu-sim's VMs through it.
sed '/^registry *=/d' "$CONF" >"$T/serve.conf"
SOCK=$T/run/mediator.sock
"$MED" --config "$T/serve.conf" --socket "$SOCK" --log-file "$T/daemon.log" \
    >"$T/daemon.out" 2>&1 &
DPID=$!
i=0
while [ ! -S "$SOCK" ]; do
    i=$((i + 1))
    if [ "$i" -gt 100 ] || ! kill -0 "$DPID" 2>/dev/null; then
        cat "$T/daemon.out"
        fail "the installed daemon did not create $SOCK within 10 s"
    fi
    sleep 0.1
done
[ "$(stat -c %a "$SOCK")" = 660 ] || fail "socket mode $(stat -c %a "$SOCK")"
out=$("$MED" --socket "$SOCK" --stats) || fail "--stats"
[ "$(echo "$out" | head -n 1)" = "vms 0" ] || fail "--stats: $out"
# The packaged vgpu-sim (vgpu-mediator), as a CI user runs it.
SIM=$R/usr/bin/vgpu-sim
if [ -x "$SIM" ]; then
    "$SIM" --socket "$SOCK" --vms 2 --pools AB --requests 50 \
        >"$T/sim.out" 2>&1 || {
        cat "$T/sim.out"
        fail "vgpu-sim through the installed daemon"
    }
    out=$("$MED" --socket "$SOCK" --stats) || fail "--stats"
    [ "$(echo "$out" | head -n 1)" = "vms 2" ] || fail "--stats: $out"
    echo "$out" | grep -q 'requests=50 responses=50' || fail "--stats: $out"
    ok "the packaged vgpu-sim: 2 VMs x 50 verified requests through the installed daemon"
fi
kill -TERM "$DPID"
rc=0
wait "$DPID" || rc=$?
DPID=""
[ "$rc" -eq 0 ] || fail "the daemon exited $rc on SIGTERM"
[ ! -e "$SOCK" ] || fail "the socket outlived the daemon"
ok "daemon: socket 0660, --stats, SIGTERM exit 0, socket removed"

out=$("$R/usr/bin/vgpu-selftest" --sim 2>&1) || {
    echo "$out"
    fail "vgpu-selftest --sim"
}
ok "vgpu-selftest --sim: $(echo "$out" | tail -n 1)"
out=$("$R/usr/bin/vgpu-vector-add" --sim 100 200) || fail "vgpu-vector-add"
[ "$out" = 300 ] || fail "vgpu-vector-add --sim 100 200 printed '$out'"
ok "vgpu-vector-add --sim 100 200: 300"
for b in $OPTIONAL; do
    "$R/usr/bin/$b" --help >/dev/null 2>&1 || fail "$b --help"
    ok "$b --help"
done

echo "== build against the installed libvgpu-guest (pkg-config)"
PC="env PKG_CONFIG_PATH=$R/usr/$LIBDIR/pkgconfig PKG_CONFIG_SYSROOT_DIR=$R"
PC="$PC PKG_CONFIG_LIBDIR=/nonexistent pkg-config"
[ "$($PC --modversion vgpu-guest)" = "$VERSION" ] || fail "pkg-config version"
CFLAGS_LIBS=$($PC --cflags --libs vgpu-guest)
echo "  pkg-config --cflags --libs vgpu-guest: $CFLAGS_LIBS"
cat >"$T/t.c" <<'EOF'
#include <stdio.h>
#include <vgpu/guest.h>
#include <vgpu/regs.h>

int
main(void)
{
    printf("%s\n", vgpu_strerror(VGPU_ERR_INVALID_LENGTH));
    return 0;
}
EOF
# shellcheck disable=SC2046 # pkg-config's words
cc -std=c11 -Wall -Werror -o "$T/t-shared" "$T/t.c" \
    $($PC --cflags --libs vgpu-guest) || fail "compile against the package"
readelf -d "$T/t-shared" | grep -q 'NEEDED.*libvgpu-guest\.so\.0' ||
    fail "the program does not use libvgpu-guest.so.0"
out=$(LD_LIBRARY_PATH=$R/usr/$LIBDIR "$T/t-shared") || fail "run (shared)"
[ "$out" = INVALID_LENGTH ] || fail "vgpu_strerror(2) printed '$out'"
# shellcheck disable=SC2046
cc -std=c11 -Wall -Werror -o "$T/t-static" "$T/t.c" \
    $($PC --cflags vgpu-guest) -Wl,-Bstatic $($PC --static --libs vgpu-guest) \
    -Wl,-Bdynamic || fail "static link against the package"
out=$("$T/t-static") || fail "run (static)"
[ "$out" = INVALID_LENGTH ] || fail "static: vgpu_strerror(2) printed '$out'"
ok "vgpu_strerror(2) = INVALID_LENGTH, linked shared and static"

echo "ci/package.sh: ok: $(basename "$MED_DEB") $(basename "$GST_DEB")" \
    "$(basename "$MED_RPM") $(basename "$GST_RPM") in $PKGS" \
    "($(($(date +%s) - START)) s)"
