# The man pages (docs/man/README.md): generated at build time, never kept by
# hand, and installed with the program or file they describe.
#
#   programs   help2man runs each built program with --help and --version:
#              the page is the help text, so it cannot fall behind it.
#   files      mediator.conf(5) and vms.conf(5) have no program to ask;
#              their text is docs/man/NAME.5.scd, which scdoc turns into
#              roff.
#
# VGPU_MAN_PAGES: AUTO builds them when help2man and scdoc are found (a
# developer's tree without them still builds, with one status line); ON
# requires both; OFF builds none. ci/test.sh and ci/package.sh install both,
# so CI always builds, installs and checks the pages (tests/docs).
#
# Included from cmake/VgpuInstall.cmake, after the targets exist.
set(VGPU_MAN_PAGES "AUTO" CACHE STRING
    "Man pages: AUTO (when help2man and scdoc are found), ON or OFF")
set_property(CACHE VGPU_MAN_PAGES PROPERTY STRINGS AUTO ON OFF)
find_program(VGPU_HELP2MAN help2man)
find_program(VGPU_SCDOC scdoc)

set(VGPU_MAN_ENABLED OFF)
if(NOT VGPU_MAN_PAGES STREQUAL "OFF")
    if(VGPU_HELP2MAN AND VGPU_SCDOC)
        set(VGPU_MAN_ENABLED ON)
    elseif(VGPU_MAN_PAGES STREQUAL "ON")
        message(FATAL_ERROR "VGPU_MAN_PAGES=ON needs help2man and scdoc "
                            "(Debian packages help2man, scdoc)")
    else()
        message(STATUS "vgpu: no man pages (help2man or scdoc not found: "
                       "apt-get install help2man scdoc)")
    endif()
endif()

# The pages built, as "SECTION/NAME" (for the test that renders each).
set(VGPU_MAN_LIST "")
set(VGPU_MAN_BUILD_DIR "${PROJECT_BINARY_DIR}/man")
set(VGPU_MAN_SOURCE_DIR "${PROJECT_SOURCE_DIR}/docs/man")

if(VGPU_MAN_ENABLED)
    set(man_outputs "")
    # vgpu_man_program(TARGET SECTION COMPONENT NAME-LINE)
    macro(vgpu_man_program target section component name)
        if(TARGET ${target})
            set(out "${VGPU_MAN_BUILD_DIR}/${target}.${section}")
            add_custom_command(OUTPUT "${out}"
                COMMAND ${CMAKE_COMMAND} -E make_directory
                        "${VGPU_MAN_BUILD_DIR}"
                COMMAND ${VGPU_HELP2MAN} --no-info --section=${section}
                        "--name=${name}"
                        "--include=${VGPU_MAN_SOURCE_DIR}/programs.h2m"
                        "--output=${out}"
                        "sh ${VGPU_MAN_SOURCE_DIR}/help2man-run.sh $<TARGET_FILE:${target}>"
                DEPENDS ${target} "${VGPU_MAN_SOURCE_DIR}/programs.h2m"
                        "${VGPU_MAN_SOURCE_DIR}/help2man-run.sh"
                COMMENT "help2man ${target}.${section}"
                VERBATIM)
            install(FILES "${out}"
                    DESTINATION ${CMAKE_INSTALL_MANDIR}/man${section}
                    COMPONENT ${component})
            list(APPEND man_outputs "${out}")
            list(APPEND VGPU_MAN_LIST "${section}/${target}")
        endif()
    endmacro()
    # vgpu_man_file(NAME SECTION COMPONENT): docs/man/NAME.SECTION.scd
    macro(vgpu_man_file name section component)
        set(src "${VGPU_MAN_SOURCE_DIR}/${name}.${section}.scd")
        set(out "${VGPU_MAN_BUILD_DIR}/${name}.${section}")
        add_custom_command(OUTPUT "${out}"
            COMMAND ${CMAKE_COMMAND} -E make_directory "${VGPU_MAN_BUILD_DIR}"
            COMMAND sh -c "\"$0\" <\"$1\" >\"$2\"" ${VGPU_SCDOC} "${src}"
                    "${out}"
            DEPENDS "${src}"
            COMMENT "scdoc ${name}.${section}"
            VERBATIM)
        install(FILES "${out}" DESTINATION ${CMAKE_INSTALL_MANDIR}/man${section}
                COMPONENT ${component})
        list(APPEND man_outputs "${out}")
        list(APPEND VGPU_MAN_LIST "${section}/${name}")
    endmacro()

    # The host (package vgpu-mediator).
    vgpu_man_program(vgpu-mediator 8 mediator
        "the vgpu-stub host daemon: schedules the VMs' requests onto backends")
    vgpu_man_program(vgpu-admin 8 mediator
        "the VM registry of vgpu-mediator, and each VM's device option")
    vgpu_man_program(vgpu-trace 1 mediator
        "print a vgpu-stub device trace as text")
    vgpu_man_program(vgpu-sim 1 mediator
        "simulated VMs with vgpu-stub devices, every result checked")
    vgpu_man_file(mediator.conf 5 mediator)
    vgpu_man_file(vms.conf 5 mediator)
    # The guest (package vgpu-guest).
    vgpu_man_program(vgpu-info 1 guest
        "print the identity of a vgpu-stub device")
    vgpu_man_program(vgpu-dump 1 guest
        "print the registers of a vgpu-stub device")
    vgpu_man_program(vgpu-selftest 1 guest
        "check a vgpu-stub device against the specification")
    vgpu_man_program(vgpu-vector-add 1 guest
        "add two integers or vectors on a vgpu-stub device")
    vgpu_man_program(vgpu-bench 1 guest
        "measure request latency and rate through a vgpu-stub device")
    vgpu_man_program(vgpu-legacy-client 1 guest
        "add two integers through vgpu-mediator's legacy file transport")
    add_custom_target(vgpu-man ALL DEPENDS ${man_outputs})
endif()
