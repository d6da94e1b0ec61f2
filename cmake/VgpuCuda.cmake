# VGPU_WITH_CUDA: AUTO enables the CUDA backend when nvcc is found; ON requires
# it; OFF never looks. The result is VGPU_CUDA_ENABLED.
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
