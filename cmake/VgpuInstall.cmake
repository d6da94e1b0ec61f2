# The install layout (GNUInstallDirs), in two components that become the two
# packages of cmake/VgpuPackage.cmake:
#
#   mediator  the host: vgpu-mediator, vgpu-admin, vgpu-trace, vgpu-sim (the
#             simulator a CI user runs against the daemon), the systemd
#             unit, <sysconfdir>/vgpu/mediator.conf and vms.conf, the
#             operator's guides in <datarootdir>/doc/vgpu-mediator
#   guest     the VM: libvgpu-guest (shared and static, with the archives the
#             static one needs), its headers, vgpu-guest.pc, the guest tools
#             and vgpu-legacy-client, the guest API pages in
#             <datarootdir>/doc/vgpu-guest
#
# Every program and both configuration files have a man page, in the
# component of what it describes (cmake/VgpuManPages.cmake).
#
# libvgpu-guest's own rules live in src/guest and src/guest/tools (COMPONENT
# guest). Targets that are still being written elsewhere are installed only
# when they exist, so that a tree without them still builds and installs.
#
# Packages are built with CMAKE_INSTALL_PREFIX=/usr (ci/package.sh): then
# GNUInstallDirs puts the configuration in /etc (not /usr/etc), which is what
# the systemd unit and mediator.conf name. With another prefix, both files are
# rewritten to name the installed paths.
#
# Included from the top-level CMakeLists.txt after add_subdirectory(src).
include(GNUInstallDirs)

set(VGPU_SYSTEMD_UNITDIR "lib/systemd/system" CACHE STRING
    "Where the systemd unit goes (relative to the install prefix, or absolute)")

# Absolute: the packages' files under /etc are conffiles named by full path.
set(VGPU_CONFDIR "${CMAKE_INSTALL_FULL_SYSCONFDIR}/vgpu")
set(VGPU_PACKAGING_DIR "${PROJECT_SOURCE_DIR}/packaging")
set(VGPU_MEDIATOR_DOCDIR "${CMAKE_INSTALL_FULL_DATAROOTDIR}/doc/vgpu-mediator")

# ---- mediator ---------------------------------------------------------------
if(TARGET vgpu-mediator)
    install(TARGETS vgpu-mediator RUNTIME
            DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT mediator)
endif()
if(TARGET vgpu-admin)
    install(TARGETS vgpu-admin RUNTIME
            DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT mediator)
endif()
if(TARGET vgpu-trace)
    install(TARGETS vgpu-trace RUNTIME
            DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT mediator)
endif()
if(TARGET vgpu-sim)
    install(TARGETS vgpu-sim RUNTIME
            DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT mediator)
endif()

# vgpu_install_rewrite(SRC DST): copy SRC to DST (in the build tree), with
# the packages' paths (/usr/bin, /etc/vgpu) replaced by this build's. DST is
# rewritten only when its text changes.
function(vgpu_install_rewrite src dst)
    file(READ "${src}" text)
    string(REPLACE "/usr/bin/" "${CMAKE_INSTALL_FULL_BINDIR}/" text "${text}")
    string(REPLACE "/etc/vgpu/" "${VGPU_CONFDIR}/" text "${text}")
    string(REPLACE "/usr/share/doc/vgpu-mediator/" "${VGPU_MEDIATOR_DOCDIR}/"
           text "${text}")
    file(WRITE "${dst}.tmp" "${text}")
    configure_file("${dst}.tmp" "${dst}" COPYONLY)
    file(REMOVE "${dst}.tmp")
    set_property(DIRECTORY "${PROJECT_SOURCE_DIR}" APPEND
                 PROPERTY CMAKE_CONFIGURE_DEPENDS "${src}")
endfunction()

set(VGPU_INSTALL_STAGE "${PROJECT_BINARY_DIR}/packaging")
vgpu_install_rewrite("${VGPU_PACKAGING_DIR}/systemd/vgpu-mediator.service"
                     "${VGPU_INSTALL_STAGE}/vgpu-mediator.service")
vgpu_install_rewrite("${VGPU_PACKAGING_DIR}/etc/mediator.conf"
                     "${VGPU_INSTALL_STAGE}/mediator.conf")
vgpu_install_rewrite("${VGPU_PACKAGING_DIR}/etc/vms.conf"
                     "${VGPU_INSTALL_STAGE}/vms.conf")

install(FILES "${VGPU_INSTALL_STAGE}/vgpu-mediator.service"
        DESTINATION ${VGPU_SYSTEMD_UNITDIR} COMPONENT mediator)
install(FILES "${VGPU_INSTALL_STAGE}/mediator.conf"
              "${VGPU_INSTALL_STAGE}/vms.conf"
        DESTINATION ${VGPU_CONFDIR} COMPONENT mediator)
# The operator's pages (the unit's Documentation= lines name four of them)
# and vgpu-sim's (debugging.md).
install(FILES "${PROJECT_SOURCE_DIR}/docs/admin-guide.md"
              "${PROJECT_SOURCE_DIR}/docs/mediator.md"
              "${PROJECT_SOURCE_DIR}/docs/socket-permissions.md"
              "${PROJECT_SOURCE_DIR}/docs/reliability.md"
              "${PROJECT_SOURCE_DIR}/docs/debugging.md"
              "${PROJECT_SOURCE_DIR}/docs/compatibility.md"
              "${PROJECT_SOURCE_DIR}/docs/migration.md"
              "${PROJECT_SOURCE_DIR}/CHANGELOG.md"
        DESTINATION ${CMAKE_INSTALL_DATAROOTDIR}/doc/vgpu-mediator
        COMPONENT mediator)
# Monitoring: the Grafana dashboard and the Prometheus scrape example
# (docs/admin-guide.md, "Monitoring").
install(FILES "${VGPU_PACKAGING_DIR}/grafana/vgpu-mediator.json"
        DESTINATION ${CMAKE_INSTALL_DATAROOTDIR}/vgpu-mediator/grafana
        COMPONENT mediator)
install(FILES "${VGPU_PACKAGING_DIR}/prometheus/vgpu-mediator.yml"
        DESTINATION ${CMAKE_INSTALL_DATAROOTDIR}/vgpu-mediator/prometheus
        COMPONENT mediator)

# ---- guest ------------------------------------------------------------------
# (libvgpu-guest, its headers, vgpu-guest.pc and the five guest tools: see
# src/guest/CMakeLists.txt and src/guest/tools/CMakeLists.txt.)
if(TARGET vgpu-legacy-client)
    install(TARGETS vgpu-legacy-client RUNTIME
            DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT guest)
endif()
install(FILES "${PROJECT_SOURCE_DIR}/docs/guest-api.md"
              "${PROJECT_SOURCE_DIR}/docs/registers.md"
              "${PROJECT_SOURCE_DIR}/docs/protocol.md"
        DESTINATION ${CMAKE_INSTALL_DATAROOTDIR}/doc/vgpu-guest
        COMPONENT guest)

include(${CMAKE_CURRENT_LIST_DIR}/VgpuManPages.cmake)

include(${CMAKE_CURRENT_LIST_DIR}/VgpuPackage.cmake)
