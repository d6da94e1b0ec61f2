/*
 * The latency the mediator adds to a GPU request, each figure beside its
 * baseline from the same run (docs/backends.md, docs/performance.md):
 *
 * - core+cuda: one REQUEST frame through the in-process mediator core
 *   (vgpu_mediator_conn_input: decode, validate, queue; then
 *   vgpu_mediator_dispatch: schedule, the CUDA backend's exec, encode the
 *   RESPONSE into the send callback), pool A mapped to "cuda:DEVICE";
 * - backend: the CUDA backend's exec() alone on the same request;
 * - bare: what any GPU offload of this request costs at least, written
 *   directly against the CUDA runtime with the same kernel: memcpy into a
 *   pinned buffer, cudaMemcpyAsync H2D, the kernel, cudaMemcpyAsync D2H,
 *   cudaStreamSynchronize, memcpy out;
 * - core+cpu: the same frame through the core with the CPU backend, for
 *   scale.
 * The four alternate in blocks of BLOCK requests so that all see the same
 * moments of the machine; each prints p50, p99 and mean in microseconds, and
 * the mediator-added latency is core+cuda's p50 less bare's.
 *
 * Without the CUDA backend or a usable device it says why and exits 77.
 * bench/cuda.sh builds it in Release and runs it with the socket-mode
 * throughput of 8 simulated VMs.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cuda_runtime_api.h>

#include "bench_common.h"
#include "kernels.h"
#include "vgpu/backend.h"
#include "vgpu/mediator.h"
#include "vgpu/proto.h"
#include "vgpu/regs.h"

#define BC_EXIT_SKIP  77
#define BC_DEF_ITERS  5000u
#define BC_WARMUP     200u
#define BC_BLOCK      100u
#define BC_KINDS      4u
#define BC_VM_ID      1u
#define BC_POOL       'A'
#define BC_FRAME_MAX  (VGPU_HDR_SIZE + VGPU_BUF_SIZE)
#define BC_MSG_MAX    256u
#define BC_SPEC_MAX   48u
#define BC_NS_PER_US  1000.0
#define BC_PERCENT    100u
#define BC_P99        99u
#define BC_DECIMAL    10
#define BC_DEVICE_MAX 1023ul

enum bc_kind { BC_CORE_CUDA, BC_BACKEND, BC_BARE, BC_CORE_CPU };

static const char *const bc_names[BC_KINDS] = {
    [BC_CORE_CUDA] = "core+cuda (mediator, in-process)",
    [BC_BACKEND] = "cuda backend exec() alone",
    [BC_BARE] = "bare copies + kernel (baseline)",
    [BC_CORE_CPU] = "core+cpu (for scale)",
};

/* One in-process mediator with one connected device. */
struct bc_core {
    struct vgpu_mediator *m;
    struct vgpu_mconn *conn;
    size_t sent; /* bytes the core sent since the last reset */
    uint32_t last_status;
};

/* The bare path's CUDA state. */
struct bc_bare {
    cudaStream_t stream;
    uint8_t *dev_in, *dev_out, *host_in, *host_out;
};

static uint64_t
bc_now(void *opaque)
{
    return bench_now_ns();
}

static int
bc_send(void *conn_opaque, const uint8_t *bytes, size_t len)
{
    struct bc_core *c = conn_opaque;
    struct vgpu_hdr h;

    if (len >= VGPU_HDR_SIZE) {
        vgpu_hdr_unpack(bytes, &h);
        c->last_status = h.status;
    }
    c->sent += len;
    return 0;
}

static void
bc_close(void *conn_opaque)
{
}

static const struct vgpu_mediator_ops bc_ops = {
    .send = bc_send,
    .close = bc_close,
    .now_ns = bc_now,
};

static int
bc_core_open(struct bc_core *c, const char *backend, char *err, size_t len)
{
    struct vgpu_mediator_config cfg;
    uint8_t frame[VGPU_HDR_SIZE + VGPU_HELLO_PAYLOAD_SIZE];
    uint8_t hello[VGPU_HELLO_PAYLOAD_SIZE];
    struct vgpu_hdr h;
    int n;

    memset(c, 0, sizeof(*c));
    vgpu_mediator_config_default(&cfg);
    cfg.pool_backend[BC_POOL - VGPU_POOL_FIRST] = backend;
    cfg.log_level = VGPU_LOG_ERROR; /* no per-request line */
    c->m = vgpu_mediator_create(&cfg, &bc_ops, c, err, len);
    if (c->m == NULL) {
        return -1;
    }
    c->conn = vgpu_mediator_conn_open(c->m, c);
    if (c->conn == NULL) {
        snprintf(err, len, "out of memory");
        return -1;
    }
    vgpu_hdr_init(&h, VGPU_MSG_HELLO);
    h.vm_id = BC_VM_ID;
    h.pool_id = BC_POOL;
    h.priority = VGPU_PRIO_MEDIUM;
    vgpu_hello_pack(hello, VGPU_PROTOCOL_VERSION, VGPU_CAPABILITIES);
    n = vgpu_frame_encode(&h, hello, sizeof(hello), frame, sizeof(frame));
    if (n < 0 || vgpu_mediator_conn_input(c->conn, frame, (size_t)n) < 0 ||
        c->sent == 0) {
        snprintf(err, len, "HELLO was not answered");
        return -1;
    }
    return 0;
}

static void
bc_core_close(struct bc_core *c)
{
    if (c->conn != NULL) {
        vgpu_mediator_conn_close(c->conn);
    }
    vgpu_mediator_destroy(c->m);
}

/* One request through the core; 0 when it was answered NONE. */
static int
bc_core_run(struct bc_core *c, const uint8_t *frame, size_t len)
{
    c->sent = 0;
    if (vgpu_mediator_conn_input(c->conn, frame, len) < 0) {
        return -1;
    }
    (void)vgpu_mediator_dispatch(c->m, 1);
    return c->sent > 0 && c->last_status == VGPU_ERR_NONE ? 0 : -1;
}

static int
bc_bare_open(struct bc_bare *b, int device, char *err, size_t len)
{
    cudaError_t e;

    memset(b, 0, sizeof(*b));
    e = cudaSetDevice(device);
    if (e == cudaSuccess) {
        e = cudaStreamCreateWithFlags(&b->stream, cudaStreamNonBlocking);
    }
    if (e == cudaSuccess) {
        e = cudaMalloc((void **)&b->dev_in, VGPU_BUF_SIZE);
    }
    if (e == cudaSuccess) {
        e = cudaMalloc((void **)&b->dev_out, VGPU_BUF_SIZE);
    }
    if (e == cudaSuccess) {
        e = cudaMallocHost((void **)&b->host_in, VGPU_BUF_SIZE);
    }
    if (e == cudaSuccess) {
        e = cudaMallocHost((void **)&b->host_out, VGPU_BUF_SIZE);
    }
    if (e != cudaSuccess) {
        snprintf(err, len, "cuda: %s", cudaGetErrorString(e));
        return -1;
    }
    return 0;
}

static void
bc_bare_close(struct bc_bare *b)
{
    if (b->stream != NULL) {
        cudaStreamDestroy(b->stream);
    }
    cudaFreeHost(b->host_out);
    cudaFreeHost(b->host_in);
    cudaFree(b->dev_out);
    cudaFree(b->dev_in);
}

/* ADD_I32 of n elements, the bare way. */
static int
bc_bare_run(struct bc_bare *b, const uint8_t *operands, uint32_t n,
            uint8_t *out)
{
    size_t in_len = (size_t)n * 2u * VGPU_ELEM_SIZE;
    size_t out_len = (size_t)n * VGPU_ELEM_SIZE;
    const uint32_t *a = (const uint32_t *)(void *)b->dev_in;

    memcpy(b->host_in, operands, in_len);
    if (cudaMemcpyAsync(b->dev_in, b->host_in, in_len, cudaMemcpyHostToDevice,
                        b->stream) != cudaSuccess ||
        vgpu_cuda_add_i32(b->stream, a, a + n, (uint32_t *)(void *)b->dev_out,
                          n) != cudaSuccess ||
        cudaMemcpyAsync(b->host_out, b->dev_out, out_len,
                        cudaMemcpyDeviceToHost, b->stream) != cudaSuccess ||
        cudaStreamSynchronize(b->stream) != cudaSuccess) {
        return -1;
    }
    memcpy(out, b->host_out, out_len);
    return 0;
}

static int
bc_cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a;
    uint64_t y = *(const uint64_t *)b;

    return x < y ? -1 : x > y;
}

static double
bc_pct(const uint64_t *sorted, uint64_t count, unsigned pct)
{
    uint64_t i = count * pct / BC_PERCENT;

    return (double)sorted[i < count ? i : count - 1] / BC_NS_PER_US;
}

static void
bc_print(enum bc_kind k, uint64_t *lat, uint64_t count, double *p50)
{
    double sum = 0;

    qsort(lat, count, sizeof(lat[0]), bc_cmp_u64);
    for (uint64_t i = 0; i < count; i++) {
        sum += (double)lat[i];
    }
    *p50 = bc_pct(lat, count, BC_PERCENT / 2u);
    printf("%-34s p50 %8.2f us  p99 %8.2f us  mean %8.2f us\n", bc_names[k],
           *p50, bc_pct(lat, count, BC_P99),
           sum / (double)count / BC_NS_PER_US);
}

static void
bc_usage(FILE *f, const char *argv0)
{
    fprintf(f,
            "usage: %s [--iters N] [--n N] [--device D]\n"
            "Latency of ADD_I32 requests of N elements (default %u):\n"
            "through the in-process mediator core with the CUDA backend,\n"
            "the backend alone, and bare copies + kernel, same run.\n",
            argv0, VGPU_ADD_MAX_N);
}

static unsigned long
bc_num(const char *flag, const char *s, unsigned long min, unsigned long max)
{
    char *end;
    unsigned long v;

    errno = 0;
    v = strtoul(s, &end, BC_DECIMAL);
    if (*s == '\0' || *s == '-' || *end != '\0' || errno != 0 || v < min ||
        v > max) {
        fprintf(stderr, "%s: expected a number in %lu..%lu\n", flag, min, max);
        exit(2);
    }
    return v;
}

int
main(int argc, char **argv)
{
    unsigned long iters = BC_DEF_ITERS;
    unsigned long device = 0;
    uint32_t n = VGPU_ADD_MAX_N;
    uint8_t req[VGPU_BUF_SIZE];
    uint8_t frame[BC_FRAME_MAX];
    uint8_t out[VGPU_BUF_SIZE];
    char spec[BC_SPEC_MAX];
    char err[BC_MSG_MAX];
    const struct vgpu_backend_ops *cuda;
    struct bc_core core_cuda, core_cpu;
    struct vgpu_op_desc desc;
    struct bc_bare bare;
    struct vgpu_hdr h;
    uint64_t *lat[BC_KINDS];
    uint64_t done = 0;
    double p50[BC_KINDS];
    void *ctx = NULL;
    size_t req_len;
    int frame_len;
    int rc = 1;

    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--iters") && i + 1 < argc) {
            iters = bc_num("--iters", argv[++i], 1, 100000000ul);
        } else if (!strcmp(argv[i], "--n") && i + 1 < argc) {
            n = (uint32_t)bc_num("--n", argv[++i], 1, VGPU_ADD_MAX_N);
        } else if (!strcmp(argv[i], "--device") && i + 1 < argc) {
            device = bc_num("--device", argv[++i], 0, BC_DEVICE_MAX);
        } else {
            bc_usage(strcmp(argv[i], "--help") ? stderr : stdout, argv[0]);
            return strcmp(argv[i], "--help") ? 2 : 0;
        }
    }
    snprintf(spec, sizeof(spec), "%lu", device);
    cuda = vgpu_backend_find(VGPU_BACKEND_CUDA_NAME);
    if (cuda == NULL || cuda->probe(spec, err, sizeof(err)) != 0) {
        printf("SKIP: no usable CUDA device: %s\n",
               cuda == NULL ? "this build has no CUDA backend" : err);
        return BC_EXIT_SKIP;
    }
    printf("cuda: %s; ADD_I32 n=%u (%zu request bytes), %lu requests each\n",
           err, (unsigned)n, (size_t)VGPU_OP_HDR_SIZE + 8u * n, iters);

    /* The request, its frame and its descriptor. */
    vgpu_put_le32(req, VGPU_OP_ADD_I32);
    vgpu_put_le32(req + VGPU_ELEM_SIZE, n);
    req_len = VGPU_OP_HDR_SIZE;
    for (uint32_t i = 0; i < 2u * n; i++, req_len += VGPU_ELEM_SIZE) {
        vgpu_put_le32(req + req_len, i * 2654435761u);
    }
    vgpu_hdr_init(&h, VGPU_MSG_REQUEST);
    h.vm_id = BC_VM_ID;
    h.pool_id = BC_POOL;
    h.priority = VGPU_PRIO_MEDIUM;
    frame_len = vgpu_frame_encode(&h, req, req_len, frame, sizeof(frame));
    if (frame_len < 0 ||
        vgpu_op_validate(req, req_len, &desc, err, sizeof(err)) != 0) {
        fprintf(stderr, "bench_cuda: bad request: %s\n", err);
        return 1;
    }

    snprintf(spec, sizeof(spec), "%s:%lu", VGPU_BACKEND_CUDA_NAME, device);
    if (bc_core_open(&core_cuda, spec, err, sizeof(err)) < 0 ||
        bc_core_open(&core_cpu, VGPU_BACKEND_CPU_NAME, err, sizeof(err)) < 0 ||
        cuda->open(spec + strlen(VGPU_BACKEND_CUDA_NAME) + 1, &ctx, err,
                   sizeof(err)) < 0 ||
        bc_bare_open(&bare, (int)device, err, sizeof(err)) < 0) {
        fprintf(stderr, "bench_cuda: %s\n", err);
        return 1;
    }
    for (unsigned k = 0; k < BC_KINDS; k++) {
        lat[k] = calloc(iters, sizeof(uint64_t));
        if (lat[k] == NULL) {
            fprintf(stderr, "bench_cuda: out of memory\n");
            return 1;
        }
    }

    /* Warm up every path (first launches load the module), then alternate
     * blocks of BC_BLOCK requests. */
    for (unsigned i = 0; i < BC_WARMUP; i++) {
        size_t out_len;

        if (bc_core_run(&core_cuda, frame, (size_t)frame_len) < 0 ||
            bc_core_run(&core_cpu, frame, (size_t)frame_len) < 0 ||
            cuda->exec(ctx, &desc, out, sizeof(out), &out_len, err,
                       sizeof(err)) != (int)VGPU_ERR_NONE ||
            bc_bare_run(&bare, desc.operands, n, out) < 0) {
            fprintf(stderr, "bench_cuda: a warm-up request failed\n");
            goto out;
        }
    }
    while (done < iters) {
        uint64_t block = iters - done < BC_BLOCK ? iters - done : BC_BLOCK;

        for (unsigned k = 0; k < BC_KINDS; k++) {
            for (uint64_t i = done; i < done + block; i++) {
                uint64_t t0 = bench_now_ns();
                size_t out_len;
                int bad;

                switch (k) {
                case BC_CORE_CUDA:
                    bad = bc_core_run(&core_cuda, frame, (size_t)frame_len);
                    break;
                case BC_BACKEND:
                    bad = cuda->exec(ctx, &desc, out, sizeof(out), &out_len,
                                     err, sizeof(err)) != (int)VGPU_ERR_NONE;
                    break;
                case BC_BARE:
                    bad = bc_bare_run(&bare, desc.operands, n, out);
                    break;
                default:
                    bad = bc_core_run(&core_cpu, frame, (size_t)frame_len);
                    break;
                }
                lat[k][i] = bench_now_ns() - t0;
                if (bad) {
                    fprintf(stderr, "bench_cuda: %s: request %llu failed\n",
                            bc_names[k], (unsigned long long)i);
                    goto out;
                }
            }
        }
        done += block;
    }
    for (unsigned k = 0; k < BC_KINDS; k++) {
        bc_print((enum bc_kind)k, lat[k], iters, &p50[k]);
    }
    printf("mediator-added latency (p50 core+cuda - bare): %.2f us; of it "
           "the backend's own (p50 backend - bare): %.2f us\n",
           p50[BC_CORE_CUDA] - p50[BC_BARE], p50[BC_BACKEND] - p50[BC_BARE]);
    rc = 0;

out:
    for (unsigned k = 0; k < BC_KINDS; k++) {
        free(lat[k]);
    }
    bc_bare_close(&bare);
    cuda->close(ctx);
    bc_core_close(&core_cpu);
    bc_core_close(&core_cuda);
    return rc;
}
