# Shell helpers shared by the ci/ scripts. POSIX sh; sourced, never run.

# vgpu_need_pkgs PKG...: install the Debian packages among PKG that are not
# installed yet, and nothing else. Updates the package lists once, and only
# when something is missing.
vgpu_need_pkgs() {
    missing=""
    for p in "$@"; do
        if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
            grep -q "install ok installed"; then
            missing="$missing $p"
        fi
    done
    [ -z "$missing" ] && return 0
    echo "ci: installing missing Debian packages:$missing"
    sudo=""
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null 2>&1 || {
            echo "ci: need root (or sudo) to install:$missing" >&2
            return 1
        }
        sudo=sudo
    fi
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get update -qq
    # shellcheck disable=SC2086 # word splitting of the list is intended
    $sudo apt-get install -y -qq --no-install-recommends $missing >/dev/null
}

# vgpu_root: the repository root, whatever the caller's directory.
vgpu_root() {
    CDPATH= cd -- "$(dirname -- "$0")/.." && pwd
}
