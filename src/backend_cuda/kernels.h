/*
 * The CUDA backend's kernels (kernels.cu) as plain C functions, so that
 * cuda_backend.c stays C11 and only kernels.cu goes through nvcc.
 *
 * Each function enqueues one kernel on @stream over device memory and returns
 * at once: cudaSuccess, or the launch error (a bad configuration, no device,
 * a sticky error of the context). Errors of the kernel itself surface at the
 * next synchronisation of the stream. The pointers are device pointers to
 * 4-byte aligned arrays (the backend's cudaMalloc buffers). Thread-safe on
 * distinct streams.
 *
 * Float rules (SPEC.md section 8, docs/backends.md): kernels.cu is compiled
 * with --fmad=false, so nvcc never fuses a multiply and an add on its own;
 * the only fused operations are the __fmaf_rn() calls the SPEC asks for, and
 * every other operation is the explicit round-to-nearest intrinsic
 * (__fadd_rn, __fmul_rn). Denormals are kept (no -ftz).
 */
#ifndef VGPU_CUDA_KERNELS_H
#define VGPU_CUDA_KERNELS_H

#include <cuda_runtime_api.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Threads per block of the elementwise kernels and of the DOT_F32 block. */
#define VGPU_CUDA_THREADS 256u

/* c[i] = a[i] + b[i] in uint32_t: the int32 two's-complement wrap. */
cudaError_t vgpu_cuda_add_i32(cudaStream_t stream, const uint32_t *a,
                              const uint32_t *b, uint32_t *c, uint32_t n);

/* c[i] = a[i] + b[i], one IEEE single-precision addition. */
cudaError_t vgpu_cuda_add_f32(cudaStream_t stream, const float *a,
                              const float *b, float *c, uint32_t n);

/* r[i] = fmaf(alpha, x[i], y[i]): one rounding. */
cudaError_t vgpu_cuda_saxpy_f32(cudaStream_t stream, float alpha,
                                const float *x, const float *y, float *r,
                                uint32_t n);

/*
 * *r = the sum of x[i] * y[i]: each product rounded, then one block of
 * VGPU_CUDA_THREADS threads adds them in a fixed tree order (thread t first
 * sums elements t, t + VGPU_CUDA_THREADS, ... in order, then a halving tree).
 * Deterministic for a given n; differs from the CPU's in-order sum only by
 * rounding, within 1e-5 of the sum of |x[i] * y[i]|.
 */
cudaError_t vgpu_cuda_dot_f32(cudaStream_t stream, const float *x,
                              const float *y, float *r, uint32_t n);

/*
 * C[m x p] = A[m x k] B[k x p], row-major; one thread per element of C, which
 * starts at +0.0f and takes acc = fmaf(A[i][t], B[t][j], acc) for t = 0 ..
 * k-1 in order: bit-identical to the CPU backend.
 */
cudaError_t vgpu_cuda_matmul_f32(cudaStream_t stream, const float *a,
                                 const float *b, float *c, uint32_t m,
                                 uint32_t k, uint32_t p);

#ifdef __cplusplus
}
#endif

#endif /* VGPU_CUDA_KERNELS_H */
