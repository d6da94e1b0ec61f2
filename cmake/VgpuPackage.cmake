# CPack: two binary packages per format from the install components of
# cmake/VgpuInstall.cmake (which includes this file, after every install rule):
#
#   vgpu-mediator  (component mediator) the host daemon, vgpu-admin, the
#                  systemd unit, /etc/vgpu/mediator.conf and vms.conf
#                  (conffiles), the vgpu system user (maintainer scripts)
#   vgpu-guest     (component guest) libvgpu-guest, headers, pkg-config file,
#                  the guest tools and vgpu-legacy-client
#
# Generators: DEB and RPM (`cpack -G DEB`, `cpack -G RPM`; ci/package.sh
# builds and checks both). Configure with -DCMAKE_INSTALL_PREFIX=/usr for
# packages: the default /usr/local is for `cmake --install` by hand.
set(VGPU_PACKAGE_CONTACT
    "vgpu-stub maintainers <vgpu-stub-maintainers@example.invalid>"
    CACHE STRING "Maintainer (Debian) and vendor (RPM) of the packages")
set(VGPU_PACKAGE_RELEASE "1" CACHE STRING
    "Package release (Debian revision, RPM Release) of this version")

set(CPACK_PACKAGE_NAME "vgpu-stub")
set(CPACK_PACKAGE_VERSION "${PROJECT_VERSION}")
set(CPACK_PACKAGE_VENDOR "vgpu-stub")
set(CPACK_PACKAGE_CONTACT "${VGPU_PACKAGE_CONTACT}")
# No CPACK_PACKAGE_DESCRIPTION_SUMMARY: the DEB generator would put it above
# each package's own summary line.
set(CPACK_PACKAGING_INSTALL_PREFIX "${CMAKE_INSTALL_PREFIX}")
set(CPACK_GENERATOR "DEB;RPM")
set(CPACK_SOURCE_GENERATOR "")
set(CPACK_PACKAGE_DIRECTORY "${PROJECT_BINARY_DIR}/packages")
set(CPACK_STRIP_FILES ON)
# Not relocatable: the unit and the configuration name absolute paths.
set(CPACK_PACKAGE_RELOCATABLE OFF)

# One package per component, and only these two: an install rule someone adds
# without a COMPONENT lands in "Unspecified", which is packaged nowhere
# (ci/package.sh fails when `cmake --install` installs a file that no
# package holds).
set(CPACK_COMPONENTS_ALL mediator guest)
set(CPACK_COMPONENTS_GROUPING IGNORE)
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_RPM_COMPONENT_INSTALL ON)

set(VGPU_MEDIATOR_SUMMARY
    "vgpu-stub host mediator: schedules the vGPU requests of the VMs")
set(VGPU_MEDIATOR_DESCRIPTION
    "The vgpu-mediator daemon serves the vgpu-stub devices of every VM (in
QEMU) on one Unix socket, /run/vgpu/mediator.sock, schedules their requests
by pool and priority and runs them on a backend (the CPU, or CUDA when built
with it). Includes vgpu-admin, which maintains the VM registry
/etc/vgpu/vms.conf, and the systemd unit vgpu-mediator.service.")
set(VGPU_GUEST_SUMMARY
    "vgpu-stub guest library and tools: libvgpu-guest, vgpu-selftest, ...")
set(VGPU_GUEST_DESCRIPTION
    "libvgpu-guest (shared and static) drives a vgpu-stub PCI device from
inside a VM, through its sysfs BAR; headers and the vgpu-guest pkg-config
file are included. Tools: vgpu-info, vgpu-dump, vgpu-selftest,
vgpu-vector-add, vgpu-bench (each also runs on a simulated device with
--sim), and vgpu-legacy-client.")

set(CPACK_COMPONENT_MEDIATOR_DISPLAY_NAME "vgpu-mediator")
set(CPACK_COMPONENT_MEDIATOR_DESCRIPTION "${VGPU_MEDIATOR_DESCRIPTION}")
set(CPACK_COMPONENT_GUEST_DISPLAY_NAME "vgpu-guest")
set(CPACK_COMPONENT_GUEST_DESCRIPTION "${VGPU_GUEST_DESCRIPTION}")

# ---- Maintainer scripts (packaging/deb, packaging/rpm) ---------------------
# They get the shell functions they use pasted in from packaging/scripts:
# vgpu_create_user (@VGPU_CREATE_USER_SH@) and vgpu_systemd_running
# (@VGPU_SYSTEMD_SH@).
set(VGPU_PKG_SRC "${PROJECT_SOURCE_DIR}/packaging")
set(VGPU_PKG_STAGE "${PROJECT_BINARY_DIR}/packaging")
file(READ "${VGPU_PKG_SRC}/scripts/create-user.sh" VGPU_CREATE_USER_SH)
file(READ "${VGPU_PKG_SRC}/scripts/systemd-running.sh" VGPU_SYSTEMD_SH)
set_property(DIRECTORY "${PROJECT_SOURCE_DIR}" APPEND PROPERTY
             CMAKE_CONFIGURE_DEPENDS "${VGPU_PKG_SRC}/scripts/create-user.sh"
                                     "${VGPU_PKG_SRC}/scripts/systemd-running.sh")
foreach(script postinst prerm postrm)
    # Debian wants the control scripts executable (0755).
    configure_file("${VGPU_PKG_SRC}/deb/${script}.in"
                   "${VGPU_PKG_STAGE}/deb/${script}" @ONLY
                   FILE_PERMISSIONS OWNER_READ OWNER_WRITE OWNER_EXECUTE
                                    GROUP_READ GROUP_EXECUTE
                                    WORLD_READ WORLD_EXECUTE)
endforeach()
foreach(script pre post preun postun)
    configure_file("${VGPU_PKG_SRC}/rpm/${script}.sh.in"
                   "${VGPU_PKG_STAGE}/rpm/${script}.sh" @ONLY)
endforeach()

# /etc/vgpu's two files are the administrator's: an upgrade never overwrites
# an edited one (dpkg asks; RPM keeps it and installs the new one as
# .rpmnew).
set(VGPU_CONFFILES "${VGPU_CONFDIR}/mediator.conf" "${VGPU_CONFDIR}/vms.conf")
string(REPLACE ";" "\n" VGPU_CONFFILES_TEXT "${VGPU_CONFFILES}")
file(WRITE "${VGPU_PKG_STAGE}/deb/conffiles.tmp" "${VGPU_CONFFILES_TEXT}\n")
configure_file("${VGPU_PKG_STAGE}/deb/conffiles.tmp"
               "${VGPU_PKG_STAGE}/deb/conffiles" COPYONLY)

# ---- DEB --------------------------------------------------------------------
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_RELEASE "${VGPU_PACKAGE_RELEASE}")
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_COMPRESSION_TYPE xz)
# dpkg-shlibdeps (dpkg-dev) computes each package's library dependencies
# (libc6) from its ELF files; without it, they are
# named here.
find_program(VGPU_DPKG_SHLIBDEPS dpkg-shlibdeps)
mark_as_advanced(VGPU_DPKG_SHLIBDEPS)
if(VGPU_DPKG_SHLIBDEPS)
    set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
    set(VGPU_DEB_MEDIATOR_LIBS "")
    set(VGPU_DEB_GUEST_DEPENDS "")
else()
    set(VGPU_DEB_MEDIATOR_LIBS "libc6, ")
    if(VGPU_HAVE_METRICS)
        # the metrics endpoint (src/daemon/metrics_http.c)
        string(APPEND VGPU_DEB_MEDIATOR_LIBS "libmicrohttpd12, ")
    endif()
    set(VGPU_DEB_GUEST_DEPENDS "libc6")
endif()

set(CPACK_DEBIAN_MEDIATOR_PACKAGE_NAME "vgpu-mediator")
set(CPACK_DEBIAN_MEDIATOR_PACKAGE_SECTION admin)
set(CPACK_DEBIAN_MEDIATOR_DESCRIPTION
    "${VGPU_MEDIATOR_SUMMARY}\n${VGPU_MEDIATOR_DESCRIPTION}")
# passwd: groupadd and useradd (postinst).
set(CPACK_DEBIAN_MEDIATOR_PACKAGE_DEPENDS "${VGPU_DEB_MEDIATOR_LIBS}passwd")
set(CPACK_DEBIAN_MEDIATOR_PACKAGE_CONTROL_EXTRA
    "${VGPU_PKG_STAGE}/deb/postinst;${VGPU_PKG_STAGE}/deb/prerm;${VGPU_PKG_STAGE}/deb/postrm;${VGPU_PKG_STAGE}/deb/conffiles")
set(CPACK_DEBIAN_MEDIATOR_PACKAGE_CONTROL_STRICT_PERMISSION TRUE)

set(CPACK_DEBIAN_GUEST_PACKAGE_NAME "vgpu-guest")
set(CPACK_DEBIAN_GUEST_PACKAGE_SECTION libs)
set(CPACK_DEBIAN_GUEST_PACKAGE_DEPENDS "${VGPU_DEB_GUEST_DEPENDS}")
set(CPACK_DEBIAN_GUEST_DESCRIPTION
    "${VGPU_GUEST_SUMMARY}\n${VGPU_GUEST_DESCRIPTION}")
# A shlibs file for libvgpu-guest.so.0 (only vgpu-guest has a library; CPack
# has no per-component switch), and the ldconfig call with it.
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS ON)
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS_POLICY ">=")

# ---- RPM --------------------------------------------------------------------
set(CPACK_RPM_FILE_NAME RPM-DEFAULT)
set(CPACK_RPM_PACKAGE_RELEASE "${VGPU_PACKAGE_RELEASE}")
set(CPACK_RPM_PACKAGE_VENDOR "${VGPU_PACKAGE_CONTACT}")
# No /usr/lib/.build-id links (rpmbuild adds them on some hosts): they would
# make the two packages' file lists differ from the DEB ones for nothing.
set(CPACK_RPM_SPEC_MORE_DEFINE "%define _build_id_links none")
# Directories the system's own packages own: not claimed by ours.
set(CPACK_RPM_EXCLUDE_FROM_AUTO_FILELIST_ADDITION
    "${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_LIBDIR}"
    "${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_LIBDIR}/pkgconfig"
    "${CMAKE_INSTALL_PREFIX}/lib/systemd"
    "${CMAKE_INSTALL_PREFIX}/lib/systemd/system")

set(CPACK_RPM_MEDIATOR_PACKAGE_NAME "vgpu-mediator")
set(CPACK_RPM_MEDIATOR_PACKAGE_SUMMARY "${VGPU_MEDIATOR_SUMMARY}")
set(CPACK_RPM_MEDIATOR_PACKAGE_DESCRIPTION "${VGPU_MEDIATOR_DESCRIPTION}")
set(CPACK_RPM_MEDIATOR_PACKAGE_GROUP "System Environment/Daemons")
# libinih.so.1 comes from rpmbuild's automatic requirements.
set(CPACK_RPM_MEDIATOR_PACKAGE_REQUIRES_PRE "shadow-utils")
set(CPACK_RPM_MEDIATOR_USER_FILELIST
    "%config(noreplace) ${VGPU_CONFDIR}/mediator.conf"
    "%config(noreplace) ${VGPU_CONFDIR}/vms.conf")
set(CPACK_RPM_MEDIATOR_PRE_INSTALL_SCRIPT_FILE "${VGPU_PKG_STAGE}/rpm/pre.sh")
set(CPACK_RPM_MEDIATOR_POST_INSTALL_SCRIPT_FILE
    "${VGPU_PKG_STAGE}/rpm/post.sh")
set(CPACK_RPM_MEDIATOR_PRE_UNINSTALL_SCRIPT_FILE
    "${VGPU_PKG_STAGE}/rpm/preun.sh")
set(CPACK_RPM_MEDIATOR_POST_UNINSTALL_SCRIPT_FILE
    "${VGPU_PKG_STAGE}/rpm/postun.sh")

set(CPACK_RPM_GUEST_PACKAGE_NAME "vgpu-guest")
set(CPACK_RPM_GUEST_PACKAGE_SUMMARY "${VGPU_GUEST_SUMMARY}")
set(CPACK_RPM_GUEST_PACKAGE_DESCRIPTION "${VGPU_GUEST_DESCRIPTION}")
set(CPACK_RPM_GUEST_PACKAGE_GROUP "System Environment/Libraries")
set(CPACK_RPM_GUEST_POST_INSTALL_SCRIPT_FILE
    "${VGPU_PKG_SRC}/rpm/guest-ldconfig.sh")
set(CPACK_RPM_GUEST_POST_UNINSTALL_SCRIPT_FILE
    "${VGPU_PKG_SRC}/rpm/guest-ldconfig.sh")

include(CPack)
