/*
 * The backend ops table (ARCHITECTURE.md "backend", STYLE.md rule 7): how the
 * mediator executes one operation of SPEC.md section 8. The CPU backend
 * (src/backend_cpu) implements every op; the CUDA backend (src/backend_cuda)
 * implements the same table. The mediator picks a backend per pool by name
 * with vgpu_backend_find().
 *
 * A backend trusts only a struct vgpu_op_desc that vgpu_op_validate()
 * accepted: the counts, operands_len and out_len in it are consistent, and
 * operands points to operands_len readable bytes. It reads operands with
 * vgpu_get_le32() and memcpy, never through a cast pointer, because the
 * request bytes may sit at any alignment.
 */
#ifndef VGPU_BACKEND_H
#define VGPU_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include "vgpu/common.h"
#include "vgpu/proto.h"

/* The name of each backend, as vgpu_backend_find() and the config spell it. */
#define VGPU_BACKEND_CPU_NAME  "cpu"
#define VGPU_BACKEND_CUDA_NAME "cuda"

/*
 * One backend. Every member but probe is set; the table is a constant that
 * lives for the whole program.
 */
struct vgpu_backend_ops {
    /* The backend's name ("cpu", "cuda"): a static string. */
    const char *name;

    /**
     * open() - make an execution context.
     * @spec:    backend options, NULL or "" for the defaults. The CPU backend
     *           takes "" or "delay_us=N" (see vgpu_backend_cpu) and refuses
     *           anything else with -EINVAL and a message naming the spec; the
     *           CUDA backend takes a device index ("0"). Read during the call
     *           only.
     * @ctx:     set to the new context on success; untouched on failure.
     * @err:     on failure, receives a one-line reason (NUL-terminated,
     *           truncated to @err_len); may be NULL if @err_len is 0.
     *
     * The caller owns the context and releases it with close().
     * Thread-safe: open() may run on any thread, concurrently.
     *
     * Return: 0, or a negative errno code (-EINVAL for a bad @spec,
     * -ENOMEM, -ENODEV when the hardware is missing).
     */
    int (*open)(const char *spec, void **ctx, char *err, size_t err_len);

    /**
     * exec() - execute one validated operation.
     * @ctx:     a context from open().
     * @op:      the request as vgpu_op_validate() described it; its operands
     *           stay valid and unchanged during the call. Read only.
     * @out:     receives the response bytes (SPEC.md section 8, little-endian);
     *           must not overlap @op->operands. May be NULL if @out_cap is 0.
     * @out_cap: bytes available at @out.
     * @out_len: set to the bytes written: @op->out_len on success, else 0.
     * @msg:     on failure, receives a one-line reason (NUL-terminated,
     *           truncated to @msg_len) that the mediator sends as the
     *           RESPONSE payload; may be NULL if @msg_len is 0.
     *
     * Integer and elementwise float results are bit-identical on every
     * backend; DOT_F32 agrees within 1e-5 relative (SPEC.md section 8).
     *
     * Thread-safe on distinct contexts. One context serves one executor: the
     * caller serialises exec() calls on it (the CPU backend happens to allow
     * concurrent calls, but a caller must not count on it).
     *
     * Return: a device status code, never negative: VGPU_ERR_NONE on
     * success; VGPU_ERR_RESPONSE_TOO_LARGE when @op->out_len exceeds
     * @out_cap (nothing is computed); VGPU_ERR_BACKEND_ERROR, with @msg set,
     * for anything else that stops it (an op the backend lacks, a descriptor
     * that does not hold together, a device failure).
     */
    int (*exec)(void *ctx, const struct vgpu_op_desc *op, uint8_t *out,
                size_t out_cap, size_t *out_len, char *msg, size_t msg_len);

    /**
     * close() - release a context from open(). @ctx may be NULL (a no-op).
     * No exec() on it may be running. Thread-safe on distinct contexts.
     */
    void (*close)(void *ctx);

    /**
     * probe() - can open(@spec) work on this machine? Optional: NULL means
     * the backend needs nothing but the CPU (cpu). Cheap next to open(): it
     * looks for the hardware, allocates nothing and creates no context (the
     * CUDA backend counts the devices and reads the one @spec names).
     * @spec:    as for open(); NULL or "" for the default device.
     * @why:     receives one line: on failure the reason ("no CUDA device
     *           (cudaGetDeviceCount: no CUDA-capable device is detected)"),
     *           on success what was found ("device 0 of 1: NVIDIA H100,
     *           sm_90"); may be NULL if @why_len is 0.
     *
     * Thread-safe.
     *
     * Return: 0 when usable; -EINVAL for a @spec open() would refuse;
     * -ENODEV when the hardware is missing or unusable (no device, the
     * device @spec names is not there, a driver older than the runtime).
     * open() may still fail after a 0 (out of device memory).
     */
    int (*probe)(const char *spec, char *why, size_t why_len);

    /**
     * cheap() - may exec(@ctx, @op) run on the mediator's event-loop thread?
     * Optional: NULL means never. Say yes only for work that is bounded
     * and far cheaper than a hand-off to another thread (some microseconds):
     * the CPU backend says yes for NOP when it has no delay_us. The daemon
     * then runs it inline, in scheduling order, instead of on an executor
     * thread (docs/mediator.md, "Executors"). Thread-safe; reads @ctx only.
     */
    int (*cheap)(void *ctx, const struct vgpu_op_desc *op);
};

/* The largest N of the CPU backend's "delay_us=N" spec: 10 s. */
#define VGPU_BACKEND_CPU_DELAY_US_MAX 10000000u

/**
 * vgpu_backend_cpu - the CPU backend: every op of SPEC.md section 8 in plain
 * C, with the exact float rules of src/backend_cpu/cpu.c (fmaf where the SPEC
 * says so, no other fusion, in-order float accumulation for DOT_F32).
 *
 * Spec (the part after ':' in "cpu:delay_us=5000"): "" for plain execution,
 * or "delay_us=N", N decimal digits in 0 .. VGPU_BACKEND_CPU_DELAY_US_MAX,
 * which makes every exec() on that context sleep N microseconds before it
 * computes. The delay is a testing knob that simulates a slow device (the
 * scheduling tests use it to keep an executor busy); it blocks the calling
 * thread. Any other spec is refused with -EINVAL.
 */
VGPU_EXPORT extern const struct vgpu_backend_ops vgpu_backend_cpu;

/**
 * vgpu_backend_cuda - the CUDA backend (src/backend_cuda, docs/backends.md):
 * every op of SPEC.md section 8 on an NVIDIA GPU, bit-identical to the CPU
 * backend except DOT_F32 (a tree sum, within 1e-5 of the sum of |x*y|).
 * Defined only in a build with the CUDA backend (CMake's VGPU_CUDA_ENABLED,
 * from VGPU_WITH_CUDA); portable code reaches it through
 * vgpu_backend_find("cuda"), which is NULL in other builds.
 *
 * Spec: "" (device 0) or a device index, decimal ("1"). open() fails with
 * -ENODEV and the reason when the device is missing or unusable (see
 * probe()); each context owns a CUDA stream and its buffers until close().
 */
VGPU_EXPORT extern const struct vgpu_backend_ops vgpu_backend_cuda;

/**
 * vgpu_backend_find() - the backend called @name.
 * @name: "cpu", or "cuda" in a build with VGPU_WITH_CUDA; compared exactly.
 *
 * Return: the backend's ops table (static, never freed), or NULL when @name
 * is NULL, unknown, or names a backend this build lacks. Thread-safe.
 */
VGPU_EXPORT const struct vgpu_backend_ops *vgpu_backend_find(const char *name);

/**
 * vgpu_backend_probe() - whether the backend string @str ("<name>[:<spec>]",
 * as a pool is configured: "cpu", "cuda:1") can be opened on this machine,
 * without opening it: vgpu_backend_find() on the name, then its probe().
 * @why: receives one line: the reason on failure, what was found on
 *       success ("" for a backend without probe()); may be NULL if
 *       @why_len is 0.
 *
 * Thread-safe.
 *
 * Return: 0 when usable; -ENOENT when this build has no backend of that
 * name (a "cuda" pool in a build without CUDA); otherwise what probe()
 * returned (-EINVAL for a bad spec, -ENODEV for missing hardware).
 */
VGPU_EXPORT int vgpu_backend_probe(const char *str, char *why, size_t why_len);

/* How many backends vgpu_backend_register() can add to the built-in ones. */
#define VGPU_BACKEND_EXTRA_MAX 8u

/**
 * vgpu_backend_register() - add a backend to the ones vgpu_backend_find()
 * knows, for the rest of the program: the simulator's backend_override, and
 * tests that need a backend the build lacks. A mediator configured with
 * @ops->name for a pool then uses @ops there.
 * @ops: a complete table that lives for the whole program (a constant);
 *       its name must not be a built-in backend's.
 *
 * Registering the same table again does nothing. Tables are never removed.
 * Thread-safe against vgpu_backend_find(); two threads registering tables
 * of the same name at once may both succeed (do not do that).
 *
 * Return: 0; -EINVAL when @ops or a member is NULL; -EEXIST when another
 * table already has that name; -ENOSPC when VGPU_BACKEND_EXTRA_MAX tables
 * are registered already.
 */
VGPU_EXPORT int vgpu_backend_register(const struct vgpu_backend_ops *ops);

#endif /* VGPU_BACKEND_H */
