# VGPU_EXTRA_PREFIX: the folder where .deb packages were unpacked with
# `dpkg -x PKG.deb FOLDER`, on a machine that has no Debian mirror (a GPU
# machine; docs/backends.md "On a GPU machine"). Their pkg-config files say
# prefix=/usr; copies whose prefix points into FOLDER/usr are written to the
# build folder and put first on PKG_CONFIG_PATH, so pkg_check_modules()
# (libinih for the daemon) finds the unpacked headers and libraries.
set(VGPU_EXTRA_PREFIX "" CACHE PATH
    "Root of .deb packages unpacked with dpkg -x (optional)")
if(VGPU_EXTRA_PREFIX)
    get_filename_component(vgpu_extra_root "${VGPU_EXTRA_PREFIX}" ABSOLUTE)
    file(GLOB_RECURSE vgpu_extra_pcs "${vgpu_extra_root}/usr/lib/*.pc"
         "${vgpu_extra_root}/usr/share/pkgconfig/*.pc")
    if(NOT vgpu_extra_pcs)
        message(FATAL_ERROR "VGPU_EXTRA_PREFIX=${VGPU_EXTRA_PREFIX}: no "
                            "pkg-config file under usr/lib or usr/share")
    endif()
    set(vgpu_extra_pc_dir "${CMAKE_BINARY_DIR}/extra-pkgconfig")
    file(MAKE_DIRECTORY "${vgpu_extra_pc_dir}")
    foreach(pc IN LISTS vgpu_extra_pcs)
        file(READ "${pc}" vgpu_pc_text)
        string(REGEX REPLACE "(^|\n)prefix=/usr" "\\1prefix=${vgpu_extra_root}/usr"
               vgpu_pc_text "${vgpu_pc_text}")
        get_filename_component(vgpu_pc_name "${pc}" NAME)
        file(WRITE "${vgpu_extra_pc_dir}/${vgpu_pc_name}" "${vgpu_pc_text}")
    endforeach()
    set(ENV{PKG_CONFIG_PATH} "${vgpu_extra_pc_dir}:$ENV{PKG_CONFIG_PATH}")
    message(STATUS "vgpu: pkg-config files from ${vgpu_extra_root}")
endif()
