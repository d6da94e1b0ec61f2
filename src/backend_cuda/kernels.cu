/*
 * The CUDA backend's kernels: one per operation of SPEC.md section 8 that
 * computes (ADD_I32, ADD_F32, SAXPY_F32, DOT_F32, MATMUL_F32). See kernels.h
 * for the contract and the float rules.
 *
 * Every float operation is spelt as the round-to-nearest intrinsic that the
 * CPU backend's C expression means (__fadd_rn for a + b, __fmul_rn for a * b,
 * __fmaf_rn for fmaf), and the file is compiled with --fmad=false on top, so
 * no contraction can sneak in. A request holds at most a few hundred
 * elements, so the kernels favour one simple, fixed order over occupancy.
 */
#include "kernels.h"

/* Blocks of VGPU_CUDA_THREADS threads that cover @count elements. */
static unsigned int
kernels_blocks(uint64_t count)
{
    return (unsigned int)((count + VGPU_CUDA_THREADS - 1u) / VGPU_CUDA_THREADS);
}

/* The launch error, if any: a launch never fails synchronously otherwise. */
static cudaError_t
kernels_launched(void)
{
    return cudaGetLastError();
}

static __global__ void
kernels_add_i32(const uint32_t *a, const uint32_t *b, uint32_t *c, uint32_t n)
{
    uint64_t i = (uint64_t)blockIdx.x * blockDim.x + threadIdx.x;

    if (i < n) {
        c[i] = a[i] + b[i]; /* unsigned: wraps modulo 2^32 */
    }
}

static __global__ void
kernels_add_f32(const float *a, const float *b, float *c, uint32_t n)
{
    uint64_t i = (uint64_t)blockIdx.x * blockDim.x + threadIdx.x;

    if (i < n) {
        c[i] = __fadd_rn(a[i], b[i]);
    }
}

static __global__ void
kernels_saxpy_f32(float alpha, const float *x, const float *y, float *r,
                  uint32_t n)
{
    uint64_t i = (uint64_t)blockIdx.x * blockDim.x + threadIdx.x;

    if (i < n) {
        r[i] = __fmaf_rn(alpha, x[i], y[i]);
    }
}

/* One block of VGPU_CUDA_THREADS threads (a power of two). */
static __global__ void
kernels_dot_f32(const float *x, const float *y, float *r, uint32_t n)
{
    __shared__ float part[VGPU_CUDA_THREADS];
    unsigned int t = threadIdx.x;
    float acc = 0.0f;

    for (uint64_t i = t; i < n; i += VGPU_CUDA_THREADS) {
        acc = __fadd_rn(acc, __fmul_rn(x[i], y[i]));
    }
    part[t] = acc;
    __syncthreads();
    for (unsigned int s = VGPU_CUDA_THREADS / 2u; s > 0; s /= 2u) {
        if (t < s) {
            part[t] = __fadd_rn(part[t], part[t + s]);
        }
        __syncthreads();
    }
    if (t == 0) {
        *r = part[0];
    }
}

static __global__ void
kernels_matmul_f32(const float *a, const float *b, float *c, uint32_t m,
                   uint32_t k, uint32_t p)
{
    uint64_t e = (uint64_t)blockIdx.x * blockDim.x + threadIdx.x;

    if (e < (uint64_t)m * p) {
        uint64_t i = e / p;
        uint64_t j = e % p;
        float acc = 0.0f;

        for (uint64_t t = 0; t < k; t++) {
            acc = __fmaf_rn(a[i * k + t], b[t * p + j], acc);
        }
        c[e] = acc;
    }
}

extern "C" cudaError_t
vgpu_cuda_add_i32(cudaStream_t stream, const uint32_t *a, const uint32_t *b,
                  uint32_t *c, uint32_t n)
{
    if (n == 0) {
        return cudaSuccess;
    }
    kernels_add_i32<<<kernels_blocks(n), VGPU_CUDA_THREADS, 0, stream>>>(a, b,
                                                                         c, n);
    return kernels_launched();
}

extern "C" cudaError_t
vgpu_cuda_add_f32(cudaStream_t stream, const float *a, const float *b, float *c,
                  uint32_t n)
{
    if (n == 0) {
        return cudaSuccess;
    }
    kernels_add_f32<<<kernels_blocks(n), VGPU_CUDA_THREADS, 0, stream>>>(a, b,
                                                                         c, n);
    return kernels_launched();
}

extern "C" cudaError_t
vgpu_cuda_saxpy_f32(cudaStream_t stream, float alpha, const float *x,
                    const float *y, float *r, uint32_t n)
{
    if (n == 0) {
        return cudaSuccess;
    }
    kernels_saxpy_f32<<<kernels_blocks(n), VGPU_CUDA_THREADS, 0, stream>>>(
        alpha, x, y, r, n);
    return kernels_launched();
}

extern "C" cudaError_t
vgpu_cuda_dot_f32(cudaStream_t stream, const float *x, const float *y, float *r,
                  uint32_t n)
{
    /* Launched for n = 0 too: the result is then +0.0f. */
    kernels_dot_f32<<<1, VGPU_CUDA_THREADS, 0, stream>>>(x, y, r, n);
    return kernels_launched();
}

extern "C" cudaError_t
vgpu_cuda_matmul_f32(cudaStream_t stream, const float *a, const float *b,
                     float *c, uint32_t m, uint32_t k, uint32_t p)
{
    uint64_t count = (uint64_t)m * p;

    if (count == 0) {
        return cudaSuccess;
    }
    kernels_matmul_f32<<<kernels_blocks(count), VGPU_CUDA_THREADS, 0, stream>>>(
        a, b, c, m, k, p);
    return kernels_launched();
}
