# VGPU_WITH_CUDA: AUTO enables the CUDA backend when nvcc is found (and
# works); ON requires it; OFF never looks. The result is VGPU_CUDA_ENABLED.
# When enabled, the CUDA language is enabled here, at the top level, so that
# every target linking the backend may; see docs/backends.md.
set(VGPU_CUDA_ENABLED OFF)
if(NOT VGPU_WITH_CUDA MATCHES "^(AUTO|ON|OFF)$")
    message(FATAL_ERROR
            "VGPU_WITH_CUDA='${VGPU_WITH_CUDA}': expected AUTO, ON or OFF")
endif()
if(NOT VGPU_WITH_CUDA STREQUAL "OFF")
    find_program(VGPU_NVCC nvcc HINTS /usr/local/cuda/bin ENV CUDA_HOME
                 PATH_SUFFIXES bin)
    if(VGPU_NVCC)
        set(VGPU_CUDA_ENABLED ON)
        message(STATUS "vgpu: nvcc found at ${VGPU_NVCC}")
    elseif(VGPU_WITH_CUDA STREQUAL "ON")
        message(FATAL_ERROR "VGPU_WITH_CUDA=ON but nvcc was not found "
                            "(looked in PATH and /usr/local/cuda/bin)")
    else()
        message(STATUS "vgpu: nvcc not found; CUDA backend off")
    endif()
endif()

if(VGPU_CUDA_ENABLED)
    # The nvcc found above, for enable_language() and check_language()
    # (which runs in a child CMake that sees only the environment).
    if(NOT DEFINED CMAKE_CUDA_COMPILER AND NOT DEFINED ENV{CUDACXX})
        set(ENV{CUDACXX} "${VGPU_NVCC}")
    endif()
    # Hopper machine code (sm_90) plus PTX for compute_75, the oldest
    # architecture CUDA 13 supports, which the driver compiles at load time
    # for any newer GPU (Ampere, Ada, Blackwell). Override with
    # -DCMAKE_CUDA_ARCHITECTURES=... or the CUDAARCHS environment variable.
    if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES AND NOT DEFINED ENV{CUDAARCHS})
        set(CMAKE_CUDA_ARCHITECTURES "90-real;75-virtual" CACHE STRING
            "CUDA architectures of the CUDA backend")
    endif()
    if(VGPU_WITH_CUDA STREQUAL "AUTO")
        # AUTO must not break the build on a machine whose nvcc cannot
        # compile (no supported host compiler): try it first.
        include(CheckLanguage)
        check_language(CUDA)
        if(NOT CMAKE_CUDA_COMPILER)
            message(STATUS "vgpu: nvcc does not work here; CUDA backend off")
            set(VGPU_CUDA_ENABLED OFF)
        endif()
    endif()
endif()

if(VGPU_CUDA_ENABLED)
    enable_language(CUDA)
    find_package(CUDAToolkit)
    if(NOT CUDAToolkit_FOUND)
        if(VGPU_WITH_CUDA STREQUAL "ON")
            message(FATAL_ERROR "VGPU_WITH_CUDA=ON but the CUDA toolkit "
                                "(cudart) was not found")
        endif()
        message(STATUS "vgpu: CUDA toolkit not found; CUDA backend off")
        set(VGPU_CUDA_ENABLED OFF)
    else()
        message(STATUS "vgpu: CUDA backend on (CUDA ${CUDAToolkit_VERSION}, "
                       "architectures ${CMAKE_CUDA_ARCHITECTURES})")
    endif()
endif()
