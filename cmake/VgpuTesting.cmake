# Test helpers (STYLE.md rules 13-14): every test has labels and a timeout; a
# test that cannot run here exits 77 and is reported as skipped.
find_package(PkgConfig REQUIRED)
pkg_check_modules(CMOCKA REQUIRED IMPORTED_TARGET cmocka)

# vgpu_unit_test(NAME SOURCES... LIBS... [LABELS ...] [TIMEOUT s])
function(vgpu_unit_test name)
    cmake_parse_arguments(T "" "TIMEOUT" "SOURCES;LIBS;LABELS" ${ARGN})
    if(NOT T_TIMEOUT)
        set(T_TIMEOUT 60)
    endif()
    if(NOT T_LABELS)
        set(T_LABELS unit)
    endif()
    add_executable(${name} ${T_SOURCES})
    target_link_libraries(${name} PRIVATE ${T_LIBS} PkgConfig::CMOCKA)
    add_test(NAME ${name} COMMAND ${name})
    set_tests_properties(${name} PROPERTIES LABELS "${T_LABELS}"
                         TIMEOUT ${T_TIMEOUT} SKIP_RETURN_CODE 77)
endfunction()

# vgpu_script_test(NAME SCRIPT [ARGS ...] [LABELS ...] [TIMEOUT s])
function(vgpu_script_test name)
    cmake_parse_arguments(T "" "SCRIPT;TIMEOUT" "ARGS;LABELS;DEPENDS" ${ARGN})
    if(NOT T_TIMEOUT)
        set(T_TIMEOUT 120)
    endif()
    add_test(NAME ${name} COMMAND sh ${T_SCRIPT} ${T_ARGS})
    set_tests_properties(${name} PROPERTIES LABELS "${T_LABELS}"
                         TIMEOUT ${T_TIMEOUT} SKIP_RETURN_CODE 77)
endfunction()
