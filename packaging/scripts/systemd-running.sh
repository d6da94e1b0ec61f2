# vgpu_systemd_running: true when systemd is PID 1 (not in a chroot, an
# image build or a container without it, where systemctl must not run).
# Pasted into the maintainer scripts by cmake/VgpuPackage.cmake.
vgpu_systemd_running() {
    [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1
}
