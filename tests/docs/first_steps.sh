#!/bin/sh
# first_steps.sh SOURCE_DIR BUILD_DIR: the CTest test docs/first-steps. What
# a newcomer runs first, taken from the pages themselves, against this
# build installed into a temporary root (DESTDIR):
#
#  1. README.md's two commands name scripts that exist; the first,
#     ci/demo.sh, runs with the installed vgpu-mediator and vgpu-sim
#     (VGPU_DEMO_BIN) and 50 requests a VM instead of 2000; ci/test.sh is
#     not run here (it runs this test);
#  2. docs/admin-guide.md's first steps with the installed programs and a
#     copy of the installed, empty registry: section 2's `register-vm`
#     line, section 3's `qemu-args` (its output must be the line the page
#     shows), section 6's `check` (no problems), then a daemon with that
#     registry served to vgpu-sim and `check --socket` against it;
#  3. the install has a man page for every program in bin and for both
#     configuration files, and every page and file the systemd unit's
#     Documentation= lines name.
#
# Exit 0 pass, 1 fail.
set -u
SRC=${1:?usage: first_steps.sh SOURCE_DIR BUILD_DIR}
BUILD=${2:?usage: first_steps.sh SOURCE_DIR BUILD_DIR}
T=$(mktemp -d "${TMPDIR:-/tmp}/vgpu-first.XXXXXX")
DPID=""
cleanup() {
    [ -z "$DPID" ] || kill -KILL "$DPID" 2>/dev/null
    rm -rf "$T"
}
trap cleanup EXIT
fail() {
    echo "FAIL: $*"
    [ ! -s "$T/log" ] || tail -n 20 "$T/log"
    exit 1
}

R=$T/root
DESTDIR=$R cmake --install "$BUILD" >"$T/install.log" 2>&1 || {
    cat "$T/install.log"
    fail "cmake --install"
}
cache() {
    sed -n "s/^$1:[A-Z]*=//p" "$BUILD/CMakeCache.txt"
}
PREFIX=$R$(cache CMAKE_INSTALL_PREFIX)
BIN=$PREFIX/bin
LIBDIR=$(cache CMAKE_INSTALL_LIBDIR)
export LD_LIBRARY_PATH="$PREFIX/$LIBDIR${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
echo "installed into $PREFIX"

# ---- 1. README.md ----------------------------------------------------------
cmds=$(sed -n 's/^    \(ci\/[a-z]*\.sh\)$/\1/p' "$SRC/README.md")
[ "$(echo "$cmds" | wc -w)" -eq 2 ] ||
    fail "README.md: expected its two commands, found: $cmds"
for c in $cmds; do
    [ -f "$SRC/$c" ] || fail "README.md names $c, which does not exist"
done
first=$(echo "$cmds" | head -n 1)
echo "== README.md: $first (installed programs, 50 requests a VM)"
VGPU_DEMO_BIN=$BIN VGPU_DEMO_REQUESTS=50 sh "$SRC/$first" >"$T/demo.out" 2>&1
rc=$?
cat "$T/demo.out"
[ "$rc" -eq 0 ] || fail "$first exited $rc"
grep -q "requests=50 errors=0 mismatches=0" "$T/demo.out" ||
    fail "$first: no VM with 50 requests, no errors and no mismatches"

# ---- 2. docs/admin-guide.md ------------------------------------------------
GUIDE=$SRC/docs/admin-guide.md
# The page's command lines (4-space code blocks), with the program run from
# the install and the registry a copy of the installed one.
REG=$T/vms.conf
installed_reg=$(find "$R" -path '*/vgpu/vms.conf' | head -n 1)
[ -n "$installed_reg" ] || fail "no installed vgpu/vms.conf"
cp "$installed_reg" "$REG" || fail "cp $installed_reg"
admin() {
    "$BIN/vgpu-admin" --registry "$REG" "$@"
}
register=$(sed -n 's/^    vgpu-admin \(register-vm .*\)$/\1/p' "$GUIDE" | head -n 1)
[ -n "$register" ] || fail "admin-guide.md: no 'vgpu-admin register-vm' line"
echo "== admin-guide.md: vgpu-admin $register"
# shellcheck disable=SC2086 # the page's words
admin $register || fail "register-vm exited $?"
qa=$(sed -n 's/^    \$ vgpu-admin \(qemu-args .*\)$/\1/p' "$GUIDE" | head -n 1)
want=$(sed -n '/^    \$ vgpu-admin qemu-args /{n;s/^    //p;}' "$GUIDE" | head -n 1)
[ -n "$qa" ] && [ -n "$want" ] ||
    fail "admin-guide.md: no '\$ vgpu-admin qemu-args' example"
echo "== admin-guide.md: vgpu-admin $qa"
# shellcheck disable=SC2086
got=$(admin $qa) || fail "qemu-args exited $?"
echo "$got"
[ "$got" = "$want" ] || fail "qemu-args printed '$got', the page shows '$want'"
echo "== admin-guide.md: vgpu-admin check"
out=$(admin check) || fail "check exited $?: $out"
echo "$out"
case $out in *"no problems"*) ;; *) fail "check: '$out'" ;; esac

# The daemon with that registry, one VM as registered, check --socket.
SOCK=$T/m.sock
"$BIN/vgpu-mediator" --socket "$SOCK" --registry "$REG" --pool A=cpu \
    --pool B=cpu --log-file "$T/log" >"$T/daemon.out" 2>&1 &
DPID=$!
i=0
while [ ! -S "$SOCK" ]; do
    kill -0 "$DPID" 2>/dev/null || fail "the daemon exited at start"
    i=$((i + 1))
    [ "$i" -le 400 ] || fail "no socket after 20 s"
    sleep 0.05
done
vm=$(echo "$want" | sed -n 's/.*vm_id=\([0-9]*\).*/\1/p')
pool=$(echo "$want" | sed -n 's/.*pool_id=\([A-Z]\).*/\1/p')
prio=$(echo "$want" | sed -n 's/.*priority=\([a-z]*\).*/\1/p')
"$BIN/vgpu-sim" --socket "$SOCK" --vms 1 --vm-id-base "$vm" --pools "$pool" \
    --priorities "$prio" --requests 5 >"$T/sim.out" 2>&1 ||
    { cat "$T/sim.out"; fail "vgpu-sim as the registered VM"; }
echo "== admin-guide.md: vgpu-admin check --socket"
out=$(admin check --socket "$SOCK") || fail "check --socket exited $?: $out"
echo "$out"
case $out in *"no problems"*) ;; *) fail "check --socket: '$out'" ;; esac
kill -TERM "$DPID"
wait "$DPID" || fail "the daemon exited $? after SIGTERM"
DPID=""

# ---- 3. the pages an install carries ---------------------------------------
MAN=$(find "$R" -type d -name man8 | head -n 1)
MAN=${MAN%/man8}
if [ -z "$MAN" ]; then
    echo "no man pages installed (help2man or scdoc missing at configure" \
        "time): part 3 skipped"
    echo "PASS (without man pages)"
    exit 0
fi
for b in "$BIN"/*; do
    n=${b##*/}
    [ -f "$MAN/man1/$n.1" ] || [ -f "$MAN/man8/$n.8" ] ||
        fail "$n is installed without a man page"
done
UNIT=$(find "$R" -name vgpu-mediator.service | head -n 1)
[ -n "$UNIT" ] || fail "no installed vgpu-mediator.service"
for d in $(sed -n 's/^Documentation=//p' "$UNIT"); do
    case $d in
    man:*)
        p=${d#man:}
        s=${p##*(}
        s=${s%)}
        [ -f "$MAN/man$s/${p%(*}.$s" ] || fail "the unit names $d: not installed"
        ;;
    file:*)
        [ -f "$R${d#file:}" ] || fail "the unit names $d: not installed"
        ;;
    *) fail "the unit's Documentation=$d is neither man: nor file:" ;;
    esac
done
echo "PASS"
