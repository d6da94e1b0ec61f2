# vgpu-guest %post/%postun: refresh the dynamic linker's cache for
# libvgpu-guest.so (distributions with glibc file triggers do it anyway).
if command -v ldconfig >/dev/null 2>&1; then
    ldconfig || :
fi
exit 0
