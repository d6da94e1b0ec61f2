/*
 * The CUDA backend (vgpu_backend_cuda, "cuda"): every operation of SPEC.md
 * section 8 on an NVIDIA GPU through the CUDA runtime, with the CPU
 * backend's results (docs/backends.md).
 *
 * Spec: "" or a device index ("0", "1", ...); the pool config spells it
 * "cuda" or "cuda:1". A context owns one CUDA stream on its device and four
 * buffers of VGPU_MAX_PAYLOAD (1 MiB: the queue's largest request and
 * answer, SPEC.md section 11), allocated at open() and reused by every
 * exec(): the operands and the result on the device (cudaMalloc), and their
 * pinned host staging copies (cudaMallocHost), so that a request costs one
 * memcpy in, one H2D copy, one kernel, one D2H copy, one stream
 * synchronisation and one memcpy out, and never an allocation.
 *
 * The request bytes are little-endian, as are the host (checked below) and
 * the GPU, so operands are copied to the device as they are and the kernels
 * read them as int32/float arrays; the device buffers are cudaMalloc'ed and
 * so aligned, whatever the alignment of the request bytes.
 *
 * Every CUDA runtime error becomes VGPU_ERR_BACKEND_ERROR with the message
 * "cuda: <cudaGetErrorString()> (<the call>)", which the mediator sends as
 * the RESPONSE payload; its per-request log line shows the status. An error
 * that poisons the CUDA context (a kernel fault) keeps failing every later
 * request on it with the same kind of message, never a crash.
 *
 * cudaSetDevice() is called at the top of exec() and close(): the daemon's
 * one thread may hold contexts on several devices, and the CUDA current
 * device is per thread.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cuda_runtime_api.h>

#include "kernels.h"
#include "vgpu/backend.h"
#include "vgpu/proto.h"

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the CUDA backend copies little-endian request bytes as they are"
#endif

_Static_assert(sizeof(float) == VGPU_ELEM_SIZE, "float must be 32 bits");

/* A stray or freed context is caught, never dereferenced further. */
#define CUDA_CTX_MAGIC 0x43554430u /* "CUD0" */

/* The device buffers: the operands of any request the mediator accepts (a
 * queue connection's payload is at most VGPU_MAX_PAYLOAD bytes, header
 * included), and the largest response it sends (VGPU_MAX_PAYLOAD bytes).
 * 1 MiB each, four per context (two on the device, two pinned): 4 MiB per
 * open backend, allocated once. */
#define CUDA_IN_BYTES  VGPU_MAX_PAYLOAD
#define CUDA_OUT_BYTES VGPU_MAX_PAYLOAD

/* The spec: a device index, decimal, at most this. */
#define CUDA_DEVICE_MAX 1023u

/* CUDA spells version X.Y as X * 1000 + Y * 10. */
#define CUDA_VERSION_BASE 1000
#define CUDA_MINOR_BASE   10

struct cuda_ctx {
    uint32_t magic;
    int device;
    cudaStream_t stream;
    uint8_t *dev_in;   /* CUDA_IN_BYTES on the device */
    uint8_t *dev_out;  /* CUDA_OUT_BYTES on the device */
    uint8_t *host_in;  /* CUDA_IN_BYTES pinned */
    uint8_t *host_out; /* CUDA_OUT_BYTES pinned */
};

/* The CUDA call that failed, for the message. */
struct cuda_fail {
    cudaError_t err;
    const char *call;
};

static int
cuda_note(struct cuda_fail *f, cudaError_t err, const char *call)
{
    if (err != cudaSuccess) {
        f->err = err;
        f->call = call;
        return -1;
    }
    return 0;
}

/* "" or NULL is device 0; otherwise decimal digits, 0 .. CUDA_DEVICE_MAX. */
static int
cuda_parse_spec(const char *spec, int *device)
{
    uint32_t v = 0;

    *device = 0;
    if (spec == NULL || spec[0] == '\0') {
        return 0;
    }
    if (vgpu_parse_decimal(spec, strlen(spec), CUDA_DEVICE_MAX, &v) < 0) {
        return -EINVAL;
    }
    *device = (int)v;
    return 0;
}

static int
cuda_bad_spec(const char *spec, char *why, size_t why_len)
{
    vgpu_set_err(why, why_len,
                 "cuda backend: bad spec '%s' (want a device index 0..%u, "
                 "e.g. \"0\")",
                 spec, CUDA_DEVICE_MAX);
    return -EINVAL;
}

/* "13.0" from CUDA's major * 1000 + minor * 10. */
static void
cuda_version_str(int v, char *buf, size_t len)
{
    snprintf(buf, len, "%d.%d", v / CUDA_VERSION_BASE,
             (v % CUDA_VERSION_BASE) / CUDA_MINOR_BASE);
}

/* Why cudaGetDeviceCount() failed, in words a person can act on. */
static void
cuda_explain_count(cudaError_t err, char *why, size_t why_len)
{
    int drv = 0;
    int rt = 0;
    char drv_s[16];
    char rt_s[16];

    if (err == cudaErrorNoDevice) {
        vgpu_set_err(why, why_len, "no CUDA device (cudaGetDeviceCount: %s)",
                     cudaGetErrorString(err));
        return;
    }
    if (err == cudaErrorInsufficientDriver) {
        (void)cudaDriverGetVersion(&drv);
        (void)cudaRuntimeGetVersion(&rt);
        cuda_version_str(rt, rt_s, sizeof(rt_s));
        if (drv == 0) {
            vgpu_set_err(why, why_len,
                         "no CUDA driver (libcuda) for the CUDA %s runtime "
                         "(cudaGetDeviceCount: %s)",
                         rt_s, cudaGetErrorString(err));
        } else {
            cuda_version_str(drv, drv_s, sizeof(drv_s));
            vgpu_set_err(why, why_len,
                         "the CUDA driver supports CUDA %s, older than the "
                         "CUDA %s runtime (cudaGetDeviceCount: %s)",
                         drv_s, rt_s, cudaGetErrorString(err));
        }
        return;
    }
    vgpu_set_err(why, why_len, "cudaGetDeviceCount: %s",
                 cudaGetErrorString(err));
}

/*
 * Is @device there and allowed to run kernels? Cheap: no CUDA context is
 * created. On success @why (if any) describes the device.
 */
static int
cuda_probe_device(int device, char *why, size_t why_len)
{
    struct cudaDeviceProp prop;
    cudaError_t err;
    int count = 0;
    int mode = 0;

    err = cudaGetDeviceCount(&count);
    if (err != cudaSuccess) {
        cuda_explain_count(err, why, why_len);
        return -ENODEV;
    }
    if (count <= 0) {
        vgpu_set_err(why, why_len,
                     "no CUDA device (cudaGetDeviceCount: 0 devices)");
        return -ENODEV;
    }
    if (device >= count) {
        vgpu_set_err(why, why_len,
                     "no CUDA device %d (this machine has %d: 0..%d)", device,
                     count, count - 1);
        return -ENODEV;
    }
    err = cudaDeviceGetAttribute(&mode, cudaDevAttrComputeMode, device);
    if (err == cudaSuccess && mode == cudaComputeModeProhibited) {
        vgpu_set_err(why, why_len,
                     "CUDA device %d is in the prohibited compute mode",
                     device);
        return -ENODEV;
    }
    err = cudaGetDeviceProperties(&prop, device);
    if (err != cudaSuccess) {
        vgpu_set_err(why, why_len, "cudaGetDeviceProperties(%d): %s", device,
                     cudaGetErrorString(err));
        return -ENODEV;
    }
    vgpu_set_err(why, why_len, "device %d of %d: %s, sm_%d%d", device, count,
                 prop.name, prop.major, prop.minor);
    return 0;
}

static int
cuda_probe(const char *spec, char *why, size_t why_len)
{
    int device;

    if (cuda_parse_spec(spec, &device) < 0) {
        return cuda_bad_spec(spec, why, why_len);
    }
    return cuda_probe_device(device, why, why_len);
}

/* Free what open() got; @c may be half built (NULL members are skipped). */
static void
cuda_release(struct cuda_ctx *c)
{
    (void)cudaSetDevice(c->device);
    if (c->stream != NULL) {
        (void)cudaStreamSynchronize(c->stream);
        (void)cudaStreamDestroy(c->stream);
    }
    (void)cudaFreeHost(c->host_out);
    (void)cudaFreeHost(c->host_in);
    (void)cudaFree(c->dev_out);
    (void)cudaFree(c->dev_in);
    c->magic = 0;
    free(c);
}

static int
cuda_open(const char *spec, void **ctx, char *err, size_t err_len)
{
    struct cuda_fail f = {cudaSuccess, NULL};
    struct cuda_ctx *c;
    int device;
    int rc;

    if (cuda_parse_spec(spec, &device) < 0) {
        return cuda_bad_spec(spec, err, err_len);
    }
    rc = cuda_probe_device(device, err, err_len);
    if (rc < 0) {
        return rc;
    }
    c = calloc(1, sizeof(*c));
    if (c == NULL) {
        vgpu_set_err(err, err_len, "cuda backend: out of memory");
        return -ENOMEM;
    }
    c->magic = CUDA_CTX_MAGIC;
    c->device = device;
    if (cuda_note(&f, cudaSetDevice(device), "cudaSetDevice") < 0 ||
        cuda_note(&f,
                  cudaStreamCreateWithFlags(&c->stream, cudaStreamNonBlocking),
                  "cudaStreamCreateWithFlags") < 0 ||
        cuda_note(&f, cudaMalloc((void **)&c->dev_in, CUDA_IN_BYTES),
                  "cudaMalloc") < 0 ||
        cuda_note(&f, cudaMalloc((void **)&c->dev_out, CUDA_OUT_BYTES),
                  "cudaMalloc") < 0 ||
        cuda_note(&f, cudaMallocHost((void **)&c->host_in, CUDA_IN_BYTES),
                  "cudaMallocHost") < 0 ||
        cuda_note(&f, cudaMallocHost((void **)&c->host_out, CUDA_OUT_BYTES),
                  "cudaMallocHost") < 0) {
        goto err;
    }
    *ctx = c;
    return 0;

err:
    vgpu_set_err(err, err_len, "cuda: %s (%s on device %d)",
                 cudaGetErrorString(f.err), f.call, device);
    cuda_release(c);
    return f.err == cudaErrorMemoryAllocation ? -ENOMEM : -ENODEV;
}

static int
cuda_check_fit(const struct vgpu_op_desc *op, char *msg, size_t msg_len)
{
    if (op->operands_len > CUDA_IN_BYTES || op->out_len > CUDA_OUT_BYTES) {
        vgpu_set_err(msg, msg_len,
                     "cuda backend: %s with %zu operand bytes and %llu result "
                     "bytes exceeds the device buffers (%u bytes each)",
                     vgpu_op_name(op->op), op->operands_len,
                     (unsigned long long)op->out_len, CUDA_IN_BYTES);
        return -E2BIG;
    }
    return 0;
}

static float
cuda_get_f32(const uint8_t *p)
{
    uint32_t bits = vgpu_get_le32(p);
    float f;

    memcpy(&f, &bits, sizeof(f));
    return f;
}

/* The op's kernel on the operands already in c->dev_in; result in dev_out. */
static cudaError_t
cuda_launch(struct cuda_ctx *c, const struct vgpu_op_desc *op)
{
    const uint32_t *in_u = (const uint32_t *)(void *)c->dev_in;
    const float *in_f = (const float *)(void *)c->dev_in;
    uint32_t *out_u = (uint32_t *)(void *)c->dev_out;
    float *out_f = (float *)(void *)c->dev_out;
    size_t n = op->n;

    switch (op->op) {
    case VGPU_OP_ADD_I32:
        return vgpu_cuda_add_i32(c->stream, in_u, in_u + n, out_u, op->n);
    case VGPU_OP_ADD_F32:
        return vgpu_cuda_add_f32(c->stream, in_f, in_f + n, out_f, op->n);
    case VGPU_OP_SAXPY_F32:
        /* alpha travels by value; x and y follow it on the device. */
        return vgpu_cuda_saxpy_f32(c->stream, cuda_get_f32(op->operands),
                                   in_f + 1, in_f + 1 + n, out_f, op->n);
    case VGPU_OP_DOT_F32:
        return vgpu_cuda_dot_f32(c->stream, in_f, in_f + n, out_f, op->n);
    case VGPU_OP_MATMUL_F32:
        return vgpu_cuda_matmul_f32(c->stream, in_f,
                                    in_f + (size_t)op->n * op->k, out_f, op->n,
                                    op->k, op->p);
    default:
        return cudaSuccess; /* ECHO: the copies alone */
    }
}

/* Stage, copy in, compute, copy out, wait. */
static int
cuda_run(struct cuda_ctx *c, const struct vgpu_op_desc *op, struct cuda_fail *f)
{
    /* ECHO's result is its operands: the D2H copy reads dev_in. */
    const uint8_t *result = op->op == VGPU_OP_ECHO ? c->dev_in : c->dev_out;

    if (op->operands_len > 0) {
        memcpy(c->host_in, op->operands, op->operands_len);
        if (cuda_note(f,
                      cudaMemcpyAsync(c->dev_in, c->host_in, op->operands_len,
                                      cudaMemcpyHostToDevice, c->stream),
                      "cudaMemcpyAsync H2D") < 0) {
            return -1;
        }
    }
    if (cuda_note(f, cuda_launch(c, op), "kernel launch") < 0) {
        return -1;
    }
    if (op->out_len > 0 &&
        cuda_note(f,
                  cudaMemcpyAsync(c->host_out, result, (size_t)op->out_len,
                                  cudaMemcpyDeviceToHost, c->stream),
                  "cudaMemcpyAsync D2H") < 0) {
        return -1;
    }
    return cuda_note(f, cudaStreamSynchronize(c->stream),
                     "cudaStreamSynchronize");
}

static int
cuda_exec(void *ctx, const struct vgpu_op_desc *op, uint8_t *out,
          size_t out_cap, size_t *out_len, char *msg, size_t msg_len)
{
    struct cuda_fail f = {cudaSuccess, NULL};
    struct cuda_ctx *c = ctx;

    *out_len = 0;
    if (c == NULL || c->magic != CUDA_CTX_MAGIC || op == NULL) {
        vgpu_set_err(msg, msg_len, "cuda backend: bad context or descriptor");
        return VGPU_ERR_BACKEND_ERROR;
    }
    if (vgpu_op_desc_check(op, "cuda backend", msg, msg_len) < 0) {
        return VGPU_ERR_BACKEND_ERROR;
    }
    if (op->out_len > out_cap) {
        vgpu_set_err(
            msg, msg_len, "%s response of %llu bytes exceeds the %zu available",
            vgpu_op_name(op->op), (unsigned long long)op->out_len, out_cap);
        return VGPU_ERR_RESPONSE_TOO_LARGE;
    }
    if (cuda_check_fit(op, msg, msg_len) < 0) {
        return VGPU_ERR_BACKEND_ERROR;
    }
    switch (op->op) {
    case VGPU_OP_NOP:
        return VGPU_ERR_NONE; /* nothing to compute, nothing to answer */
    case VGPU_OP_ECHO:
    case VGPU_OP_ADD_I32:
    case VGPU_OP_ADD_F32:
    case VGPU_OP_SAXPY_F32:
    case VGPU_OP_DOT_F32:
    case VGPU_OP_MATMUL_F32:
        break;
    default:
        vgpu_set_err(msg, msg_len, "cuda backend: op %s not implemented",
                     vgpu_op_name(op->op));
        return VGPU_ERR_BACKEND_ERROR;
    }
    if (cuda_note(&f, cudaSetDevice(c->device), "cudaSetDevice") < 0 ||
        cuda_run(c, op, &f) < 0) {
        vgpu_set_err(msg, msg_len, "cuda: %s (%s, %s)",
                     cudaGetErrorString(f.err), f.call, vgpu_op_name(op->op));
        return VGPU_ERR_BACKEND_ERROR;
    }
    if (op->out_len > 0) {
        memcpy(out, c->host_out, (size_t)op->out_len);
    }
    *out_len = (size_t)op->out_len;
    return VGPU_ERR_NONE;
}

static void
cuda_close(void *ctx)
{
    struct cuda_ctx *c = ctx;

    if (c != NULL && c->magic == CUDA_CTX_MAGIC) {
        cuda_release(c);
    }
}

const struct vgpu_backend_ops vgpu_backend_cuda = {
    .name = VGPU_BACKEND_CUDA_NAME,
    .open = cuda_open,
    .exec = cuda_exec,
    .close = cuda_close,
    .probe = cuda_probe,
};
