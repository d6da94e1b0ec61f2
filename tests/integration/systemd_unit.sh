# --man=no: the man: pages it names are not installed here (tests/docs
# checks that an install has every page the unit names).
systemd-analyze verify --man=no "$T/vgpu-mediator.service" \
    >"$T/verify.out" 2>&1 || true#!/bin/sh
# The systemd unit as installed (build/.../packaging/vgpu-mediator.service,
# what cmake --install puts in lib/systemd/system): `systemd-analyze verify`
# says nothing about it, and it gives each documented option what it needs:
#   - LimitNOFILE (systemd's default soft limit, 1024, is too few for 1,000
#     VMs; docs/admin-guide.md, "Limits and deadlines");
#   - a writable legacy directory under ProtectSystem=strict: StateDirectory
#     and ReadWritePaths=-/var/vgpu (docs/admin-guide.md, "The legacy
#     directory");
#   - the shipped mediator.conf passes --check-config.
# systemd-analyze comes from the `systemd` package, installed through
# ci/lib.sh when missing; skips (77) when it cannot be installed or cannot
# run here (a container without systemd's libraries), saying why.
# Usage: systemd_unit.sh UNIT VGPU_MEDIATOR MEDIATOR_CONF
set -eu
UNIT=${1:?usage: $0 UNIT VGPU_MEDIATOR MEDIATOR_CONF}
DAEMON=${2:?}
CONF=${3:?}
ROOT=$(CDPATH= cd -- "$(dirname -- "$0")/../.." && pwd)
T=$(mktemp -d "${TMPDIR:-/tmp}/vgpu-unit.XXXXXX")
trap 'rm -rf "$T"' EXIT
trap 'exit 130' INT TERM

fail() {
    echo "FAIL: $*"
    exit 1
}

for k in 'LimitNOFILE=65536' 'StateDirectory=vgpu' 'ReadWritePaths=-/var/vgpu' \
    'ProtectSystem=strict'; do
    grep -qxF "$k" "$UNIT" || fail "the unit lacks '$k'"
done
echo "the unit has LimitNOFILE, StateDirectory and ReadWritePaths"

# The shipped configuration, with the paths this machine has.
sed -e "s|^registry = .*|registry = $T/vms.conf|" "$CONF" >"$T/mediator.conf"
: >"$T/vms.conf"
"$DAEMON" --check-config "$T/mediator.conf" >"$T/check.out" 2>&1 ||
    fail "the shipped mediator.conf: $(cat "$T/check.out")"

if ! command -v systemd-analyze >/dev/null 2>&1; then
    # shellcheck disable=SC1091
    . "$ROOT/ci/lib.sh"
    if ! vgpu_need_pkgs systemd >/dev/null 2>&1 ||
        ! command -v systemd-analyze >/dev/null 2>&1; then
        echo "SKIP: systemd-analyze is missing and the systemd package" \
            "cannot be installed here"
        exit 77
    fi
fi
if ! systemd-analyze --version >/dev/null 2>&1; then
    echo "SKIP: systemd-analyze is installed but cannot run in this" \
        "container: $(systemd-analyze --version 2>&1 | head -n 1)"
    exit 77
fi
# verify, with ExecStart pointing at the binary built here; any word from
# it (an unknown key, a bad value, a missing binary) is a failure.
sed "s|^ExecStart=[^ ]*vgpu-mediator |ExecStart=$DAEMON |" "$UNIT" \
    >"$T/vgpu-mediator.service"
# --man=no: the man pages it names are not installed on this machine
# (tests/docs/install.sh checks that an install has every page it names).
systemd-analyze verify --man=no "$T/vgpu-mediator.service" \
    >"$T/verify.out" 2>&1 || true
if [ -s "$T/verify.out" ]; then
    cat "$T/verify.out"
    fail "systemd-analyze verify complained about the unit"
fi
echo "PASS: systemd-analyze verify: clean"
