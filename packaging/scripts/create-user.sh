# vgpu_create_user: make the system group and user `vgpu` that vgpu-mediator
# runs as (no login shell, no home), each only if missing. groupadd/useradd
# (Debian's passwd, RPM's shadow-utils) first, Debian's adduser otherwise.
# Pasted into the maintainer scripts by cmake/VgpuPackage.cmake.
vgpu_create_user() {
    nologin=/bin/false
    for f in /usr/sbin/nologin /sbin/nologin; do
        if [ -x "$f" ]; then
            nologin=$f
            break
        fi
    done
    if ! getent group vgpu >/dev/null 2>&1; then
        if command -v groupadd >/dev/null 2>&1; then
            groupadd --system vgpu
        else
            addgroup --system --quiet vgpu
        fi
    fi
    if ! getent passwd vgpu >/dev/null 2>&1; then
        if command -v useradd >/dev/null 2>&1; then
            useradd --system --gid vgpu --no-create-home \
                --home-dir /nonexistent --shell "$nologin" \
                --comment "vgpu-stub mediator" vgpu
        else
            adduser --system --ingroup vgpu --no-create-home \
                --home /nonexistent --shell "$nologin" \
                --gecos "vgpu-stub mediator" --quiet vgpu
        fi
    fi
}
