/*
 * vgpu-cuda-cross-check: every op of SPEC.md section 8 through the CPU and
 * the CUDA backends, on random and edge-case operands, compared
 * (docs/backends.md "Numeric rules"):
 *
 * - ECHO, ADD_I32: byte for byte.
 * - ADD_F32, SAXPY_F32, MATMUL_F32: bit for bit, except that a NaN matches
 *   any NaN. The GPU answers every NaN result with the canonical NaN
 *   0x7fffffff, while x86 propagates an input's payload (quietened) or makes
 *   0xffc00000 for an invalid operation, so neither the payload nor the sign
 *   of a NaN is part of the contract; that a result is NaN is.
 * - DOT_F32: within 1e-5 of the sum of |x[i] * y[i]| (computed in double),
 *   the bound vgpu-sim uses too; both NaN, or the same infinity, match.
 *   SPEC.md allows 1e-5 relative because the GPU sums in a tree, not in
 *   index order; measured against the magnitudes, a cancelling sum cannot
 *   fail a correct reordering.
 *
 * Request sizes run from n = 1 to the most one 1 KiB request holds
 * (VGPU_ADD_MAX_N, VGPU_SAXPY_MAX_N, VGPU_DOT_MAX_N, VGPU_ECHO_MAX_N) and
 * MATMUL_F32 shapes to its limits (m*k + k*p = VGPU_MATMUL_MAX_IN_ELEMS,
 * m*p = VGPU_MATMUL_MAX_OUT_ELEMS), and once each to the queue's limits of
 * 1 MiB (SPEC.md section 11: ECHO n = 1048568; ADD_*, DOT_F32 n = 131071;
 * SAXPY_F32 n = 131070; MATMUL_F32 m*k + k*p = 262140, m*p = 262144 and
 * 362 x 362 x 362). Both backends keep one context each for
 * the whole run, so the CUDA backend's reuse of its buffers is exercised.
 *
 * A plain C program (no cmocka), so that a GPU machine without Debian's
 * packages builds it with -DVGPU_BUILD_TESTS=OFF. Without the CUDA backend
 * or a usable device it prints "SKIP: ..." and exits 77.
 *
 * --emulate puts a C model of kernels.cu in the CUDA backend's place (no GPU
 * needed: it checks the comparison rules and the DOT_F32 tree order), and
 * --emulate-unfused a model with the forbidden unfused multiply-add, which
 * must be caught: the CTest tests cuda_cross_check_emulated and
 * cuda_cross_check_catches_unfused (label unit) run both on every build.
 *
 * Usage: vgpu-cuda-cross-check [--device N] [--seed S] [--rounds R]
 *                              [--emulate | --emulate-unfused]
 * Exit: 0 all matched, 1 a mismatch or an error, 2 bad arguments, 77 skip.
 */
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vgpu/backend.h"
#include "vgpu/proto.h"
#include "vgpu/regs.h"

#define XC_PROG       "vgpu-cuda-cross-check"
#define XC_EXIT_OK    0
#define XC_EXIT_FAIL  1
#define XC_EXIT_USAGE 2
#define XC_EXIT_SKIP  77
#define XC_DEF_SEED   20261121u
#define XC_DEF_ROUNDS 20u
#define XC_MAX_ROUNDS 100000u
#define XC_DOT_REL    1e-5
#define XC_SHOW_MAX   8u /* mismatches printed in full */
#define XC_MSG_MAX    256u
#define XC_DECIMAL    10
#define XC_SPEC_MAX   32u

/* A request's bytes, up to the queue's 1 MiB. One request is built at a
 * time, so every xc_req shares one static buffer (xc_begin() points it
 * there), and the stack stays small. */
struct xc_req {
    uint8_t *bytes;
    size_t len;
};

static uint8_t xc_req_store[VGPU_MAX_PAYLOAD];

/* The queue's largest counts (SPEC.md section 11). */
#define XC_Q_ECHO_MAX_N  (VGPU_MAX_PAYLOAD - VGPU_OP_HDR_SIZE)
#define XC_Q_ADD_MAX_N   ((VGPU_MAX_PAYLOAD - VGPU_OP_HDR_SIZE) / 8u)
#define XC_Q_SAXPY_MAX_N ((VGPU_MAX_PAYLOAD - VGPU_OP_HDR_SIZE - 4u) / 8u)

struct xc {
    const struct vgpu_backend_ops *cpu;
    const struct vgpu_backend_ops *cuda;
    void *cpu_ctx;
    void *cuda_ctx;
    uint64_t rng;
    unsigned long requests;
    unsigned long values;
    unsigned long mismatches;
    /* by op code, for the summary */
    unsigned long op_mismatches[VGPU_OP_MATMUL_F32 + 1u];
};

/* Edge cases of binary32, by bits: zeros, ones, the extremes of the normal
 * and subnormal ranges, infinities, quiet and signalling NaNs with
 * payloads, values whose sums round to even, and overflow. */
static const uint32_t xc_special_bits[] = {
    0x00000000u,              /* +0 */
    0x80000000u,              /* -0 */
    0x3f800000u,              /* 1 */
    0xbf800000u,              /* -1 */
    0x3f800001u,              /* 1 + 2^-23 */
    0x33800000u,              /* 2^-24: 1 + this is a tie */
    0x34000000u,              /* 2^-23 */
    0x00000001u,              /* smallest subnormal */
    0x80000001u,              /* its negative */
    0x007fffffu,              /* largest subnormal */
    0x807fffffu, 0x00800000u, /* FLT_MIN */
    0x80800000u, 0x7f7fffffu, /* FLT_MAX */
    0xff7fffffu, 0x7f000000u, /* 2^127: twice it overflows */
    0x7f800000u,              /* +inf */
    0xff800000u,              /* -inf */
    0x7fc00000u,              /* quiet NaN */
    0xffc00001u,              /* negative quiet NaN with a payload */
    0x7fa00000u,              /* signalling NaN */
    0x7fc12345u,              /* quiet NaN with a payload */
    0x40490fdbu,              /* pi */
    0xc2f6e979u,              /* -123.456 */
};

#define XC_SPECIALS (sizeof(xc_special_bits) / sizeof(xc_special_bits[0]))

/* ---- Random operands ----------------------------------------------------- */

/* splitmix64 */
static uint64_t
xc_next(struct xc *x)
{
    uint64_t z = (x->rng += UINT64_C(0x9e3779b97f4a7c15));

    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

static uint32_t
xc_u32(struct xc *x)
{
    return (uint32_t)(xc_next(x) >> 32);
}

static uint32_t
xc_f32_bits(float f)
{
    uint32_t b;

    memcpy(&b, &f, sizeof(b));
    return b;
}

static float
xc_bits_f32(uint32_t b)
{
    float f;

    memcpy(&f, &b, sizeof(f));
    return f;
}

/* A finite float of moderate size, |v| in [2^-20, 2^20] or 0: what DOT_F32
 * and MATMUL_F32 are compared on (no overflow in any order of summation). */
static uint32_t
xc_moderate(struct xc *x)
{
    uint32_t r = xc_u32(x);
    uint32_t exp = 127u - 20u + (r % 41u); /* 2^-20 .. 2^20 */
    uint32_t sign = (r >> 31) << 31;

    if ((r & 0xffu) == 0) {
        return sign; /* a signed zero now and then */
    }
    return sign | (exp << 23) | (xc_u32(x) & 0x7fffffu);
}

/* Any float: random bits (every class, NaNs and subnormals included), a
 * special, a moderate value or a small integer. */
enum xc_kind { XC_KIND_BITS, XC_KIND_SPECIAL, XC_KIND_MODERATE, XC_KINDS };

static uint32_t
xc_any(struct xc *x)
{
    switch (xc_u32(x) % (XC_KINDS + 1u)) {
    case XC_KIND_BITS:
        return xc_u32(x);
    case XC_KIND_SPECIAL:
        return xc_special_bits[xc_u32(x) % XC_SPECIALS];
    case XC_KIND_MODERATE:
        return xc_moderate(x);
    default: /* a small integer */
        return xc_f32_bits((float)((int32_t)(xc_u32(x) % 2001u) - 1000));
    }
}

/* ---- Requests ------------------------------------------------------------ */

static void
xc_begin(struct xc_req *r, uint32_t op, uint32_t n)
{
    r->bytes = xc_req_store;
    memset(r->bytes, 0, VGPU_MATMUL_HDR_SIZE);
    vgpu_put_le32(r->bytes, op);
    vgpu_put_le32(r->bytes + VGPU_ELEM_SIZE, n);
    r->len = VGPU_OP_HDR_SIZE;
}

static void
xc_push(struct xc_req *r, uint32_t v)
{
    vgpu_put_le32(r->bytes + r->len, v);
    r->len += VGPU_ELEM_SIZE;
}

static void
xc_begin_matmul(struct xc_req *r, uint32_t m, uint32_t k, uint32_t p)
{
    xc_begin(r, VGPU_OP_MATMUL_F32, m);
    xc_push(r, k);
    xc_push(r, p);
}

/* ---- Comparison ---------------------------------------------------------- */

static void
xc_count(struct xc *x, uint32_t op)
{
    x->mismatches++;
    if (op <= VGPU_OP_MATMUL_F32) {
        x->op_mismatches[op]++;
    }
}

static void
xc_report(struct xc *x, const char *what, size_t i, uint32_t cpu, uint32_t gpu)
{
    if (x->mismatches <= XC_SHOW_MAX) {
        printf("MISMATCH %s [%zu]: cpu 0x%08x (%a) gpu 0x%08x (%a)\n", what, i,
               (unsigned)cpu, (double)xc_bits_f32(cpu), (unsigned)gpu,
               (double)xc_bits_f32(gpu));
    }
}

/* Bits equal, or both NaN. */
static int
xc_same_f32(uint32_t a, uint32_t b)
{
    return a == b || (isnan(xc_bits_f32(a)) && isnan(xc_bits_f32(b)));
}

/* sum |x[i] * y[i]| in double, of DOT_F32's operands at @ops. */
static double
xc_dot_magnitude(const uint8_t *ops, uint32_t n)
{
    double sum = 0.0;

    for (uint32_t i = 0; i < n; i++) {
        double a = xc_bits_f32(vgpu_get_le32(ops + (size_t)i * VGPU_ELEM_SIZE));
        double b =
            xc_bits_f32(vgpu_get_le32(ops + ((size_t)n + i) * VGPU_ELEM_SIZE));

        sum += fabs(a * b);
    }
    return sum;
}

static int
xc_dot_close(uint32_t cpu, uint32_t gpu, double magnitude)
{
    float c = xc_bits_f32(cpu);
    float g = xc_bits_f32(gpu);

    if (isnan(c) || isnan(g)) {
        return isnan(c) && isnan(g);
    }
    if (isinf(c) || isinf(g)) {
        return c == g;
    }
    return fabs((double)c - (double)g) <= XC_DOT_REL * magnitude;
}

/* Run @r on both backends and compare. @tag names the case in messages. */
static int
xc_run(struct xc *x, const struct xc_req *r, const char *tag)
{
    static uint8_t out_cpu[VGPU_MAX_PAYLOAD];
    static uint8_t out_gpu[VGPU_MAX_PAYLOAD];
    char msg_cpu[XC_MSG_MAX] = "";
    char msg_gpu[XC_MSG_MAX] = "";
    char why[XC_MSG_MAX];
    struct vgpu_op_desc d;
    size_t len_cpu = 0;
    size_t len_gpu = 0;
    char what[96];
    int st_cpu;
    int st_gpu;

    if (vgpu_op_validate(r->bytes, r->len, &d, why, sizeof(why)) != 0) {
        printf("FAIL %s: the test built a bad request: %s\n", tag, why);
        x->mismatches++;
        return -1;
    }
    st_cpu = x->cpu->exec(x->cpu_ctx, &d, out_cpu, sizeof(out_cpu), &len_cpu,
                          msg_cpu, sizeof(msg_cpu));
    st_gpu = x->cuda->exec(x->cuda_ctx, &d, out_gpu, sizeof(out_gpu), &len_gpu,
                           msg_gpu, sizeof(msg_gpu));
    x->requests++;
    if (st_cpu != st_gpu || len_cpu != len_gpu) {
        printf("FAIL %s: cpu status %s len %zu (%s), cuda status %s len %zu "
               "(%s)\n",
               tag, vgpu_strerror(st_cpu), len_cpu, msg_cpu,
               vgpu_strerror(st_gpu), len_gpu, msg_gpu);
        xc_count(x, d.op);
        return -1;
    }
    if (st_cpu != (int)VGPU_ERR_NONE) {
        return 0; /* the same refusal */
    }
    snprintf(what, sizeof(what), "%s %s n=%u", tag, vgpu_op_name(d.op),
             (unsigned)d.n);
    if (d.op == VGPU_OP_ECHO || d.op == VGPU_OP_NOP) {
        x->values += len_cpu;
        if (len_cpu > 0 && memcmp(out_cpu, out_gpu, len_cpu) != 0) {
            printf("MISMATCH %s: the bytes differ\n", what);
            xc_count(x, d.op);
            return -1;
        }
        return 0;
    }
    for (size_t i = 0; i < len_cpu / VGPU_ELEM_SIZE; i++) {
        uint32_t c = vgpu_get_le32(out_cpu + i * VGPU_ELEM_SIZE);
        uint32_t g = vgpu_get_le32(out_gpu + i * VGPU_ELEM_SIZE);
        int ok;

        if (d.op == VGPU_OP_ADD_I32) {
            ok = c == g;
        } else if (d.op == VGPU_OP_DOT_F32) {
            ok = xc_dot_close(c, g, xc_dot_magnitude(d.operands, d.n));
        } else {
            ok = xc_same_f32(c, g);
        }
        x->values++;
        if (!ok) {
            xc_count(x, d.op);
            xc_report(x, what, i, c, g);
        }
    }
    return 0;
}

/* ---- The cases ----------------------------------------------------------- */

static void
xc_echo(struct xc *x)
{
    static const uint32_t sizes[] = {0, 1, 3, 4, 5, VGPU_ECHO_MAX_N};
    struct xc_req r;

    for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
        xc_begin(&r, VGPU_OP_ECHO, sizes[s]);
        for (uint32_t i = 0; i < sizes[s]; i++) {
            r.bytes[r.len++] = (uint8_t)xc_u32(x);
        }
        xc_run(x, &r, "echo");
    }
    xc_begin(&r, VGPU_OP_NOP, 0);
    xc_run(x, &r, "nop");
}

static void
xc_add_i32(struct xc *x, uint32_t n)
{
    static const uint32_t edge[] = {
        0x7fffffffu, 0x80000000u, 0xffffffffu, 0x00000001u,
        0x00000000u, 0x7ffffffeu, 0x80000001u,
    };
    const size_t ne = sizeof(edge) / sizeof(edge[0]);
    struct xc_req r;

    /* Every pair of edge values: INT32_MAX + 1, INT32_MIN + -1, ... */
    xc_begin(&r, VGPU_OP_ADD_I32, (uint32_t)(ne * ne));
    for (size_t i = 0; i < ne * ne; i++) {
        xc_push(&r, edge[i / ne]);
    }
    for (size_t i = 0; i < ne * ne; i++) {
        xc_push(&r, edge[i % ne]);
    }
    xc_run(x, &r, "add_i32 edges");

    xc_begin(&r, VGPU_OP_ADD_I32, n);
    for (uint32_t i = 0; i < 2u * n; i++) {
        xc_push(&r, xc_u32(x));
    }
    xc_run(x, &r, "add_i32 random");
}

/* ADD_F32 over every pair of specials, in requests of at most
 * VGPU_ADD_MAX_N elements. */
static void
xc_add_f32_specials(struct xc *x)
{
    const uint32_t pairs = (uint32_t)(XC_SPECIALS * XC_SPECIALS);
    struct xc_req r;

    for (uint32_t base = 0; base < pairs; base += VGPU_ADD_MAX_N) {
        uint32_t cnt =
            pairs - base < VGPU_ADD_MAX_N ? pairs - base : VGPU_ADD_MAX_N;

        xc_begin(&r, VGPU_OP_ADD_F32, cnt);
        for (uint32_t i = 0; i < cnt; i++) {
            xc_push(&r, xc_special_bits[(base + i) / XC_SPECIALS]);
        }
        for (uint32_t i = 0; i < cnt; i++) {
            xc_push(&r, xc_special_bits[(base + i) % XC_SPECIALS]);
        }
        xc_run(x, &r, "add_f32 specials");
    }
}

static void
xc_add_f32(struct xc *x, uint32_t n)
{
    struct xc_req r;

    xc_begin(&r, VGPU_OP_ADD_F32, n);
    for (uint32_t i = 0; i < 2u * n; i++) {
        xc_push(&r, xc_any(x));
    }
    xc_run(x, &r, "add_f32 random");
}

/* SAXPY_F32 with each special alpha against specials and random x, y. */
static void
xc_saxpy_specials(struct xc *x)
{
    struct xc_req r;

    for (size_t a = 0; a < XC_SPECIALS; a++) {
        xc_begin(&r, VGPU_OP_SAXPY_F32, VGPU_SAXPY_MAX_N);
        xc_push(&r, xc_special_bits[a]);
        for (uint32_t i = 0; i < VGPU_SAXPY_MAX_N; i++) {
            xc_push(&r, i < XC_SPECIALS ? xc_special_bits[i] : xc_any(x));
        }
        for (uint32_t i = 0; i < VGPU_SAXPY_MAX_N; i++) {
            xc_push(&r, xc_special_bits[(i + a) % XC_SPECIALS]);
        }
        xc_run(x, &r, "saxpy_f32 specials");
    }
}

/* SAXPY_F32 on a random alpha. Every other y is -(alpha * x) rounded, where
 * fmaf's result is the rounding error of the product, which a separate
 * multiply and add (a contracted or uncontracted mistake) would get wrong. */
static void
xc_saxpy(struct xc *x, uint32_t n)
{
    float alpha = xc_bits_f32(xc_moderate(x));
    static float xs[XC_Q_SAXPY_MAX_N];
    struct xc_req r;

    xc_begin(&r, VGPU_OP_SAXPY_F32, n);
    xc_push(&r, xc_f32_bits(alpha));
    for (uint32_t i = 0; i < n; i++) {
        xs[i] = xc_bits_f32(xc_moderate(x));
        xc_push(&r, xc_f32_bits(xs[i]));
    }
    for (uint32_t i = 0; i < n; i++) {
        float prod = alpha * xs[i];

        xc_push(&r, i % 2u ? xc_f32_bits(-prod) : xc_any(x));
    }
    xc_run(x, &r, "saxpy_f32 random");
}

static void
xc_dot(struct xc *x, uint32_t n)
{
    struct xc_req r;

    xc_begin(&r, VGPU_OP_DOT_F32, n);
    for (uint32_t i = 0; i < 2u * n; i++) {
        xc_push(&r, xc_moderate(x));
    }
    xc_run(x, &r, "dot_f32 random");

    /* Cancellation: x . y with y = (1, -1, 1, -1, ...) over equal pairs. */
    xc_begin(&r, VGPU_OP_DOT_F32, n);
    for (uint32_t i = 0; i < n; i++) {
        xc_push(&r, i % 2u ? vgpu_get_le32(r.bytes + r.len - VGPU_ELEM_SIZE)
                           : xc_moderate(x));
    }
    for (uint32_t i = 0; i < n; i++) {
        xc_push(&r, xc_f32_bits(i % 2u ? -1.0f : 1.0f));
    }
    xc_run(x, &r, "dot_f32 cancelling");
}

/* DOT_F32 cases whose result is the same in any order of summation: a NaN
 * anywhere, one infinity, +inf and -inf, subnormal products, signed zeros. */
static void
xc_dot_edges(struct xc *x)
{
    static const struct {
        const char *tag;
        uint32_t xv, yv;   /* at index 0; the rest are moderate * +0 */
        uint32_t xv2, yv2; /* at index n - 1 */
    } cases[] = {
        {"dot_f32 nan", 0x7fc12345u, 0x3f800000u, 0x3f800000u, 0x3f800000u},
        {"dot_f32 inf", 0x7f800000u, 0x3f800000u, 0x3f800000u, 0x3f800000u},
        {"dot_f32 inf-inf", 0x7f800000u, 0x3f800000u, 0xff800000u, 0x3f800000u},
        {"dot_f32 inf*0", 0x7f800000u, 0x00000000u, 0x3f800000u, 0x3f800000u},
        {"dot_f32 subnormal", 0x00000001u, 0x3f000000u, 0x007fffffu,
         0x3f800000u},
        {"dot_f32 -0", 0x80000000u, 0x3f800000u, 0x80000000u, 0x3f800000u},
    };
    static const uint32_t sizes[] = {1, 2, VGPU_DOT_MAX_N};
    struct xc_req r;

    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
            uint32_t n = sizes[s];

            xc_begin(&r, VGPU_OP_DOT_F32, n);
            for (uint32_t i = 0; i < n; i++) {
                xc_push(&r, i == 0       ? cases[c].xv
                            : i == n - 1 ? cases[c].xv2
                                         : xc_moderate(x));
            }
            for (uint32_t i = 0; i < n; i++) {
                xc_push(&r, i == 0       ? cases[c].yv
                            : i == n - 1 ? cases[c].yv2
                                         : 0x00000000u);
            }
            xc_run(x, &r, cases[c].tag);
        }
    }
}

/* MATMUL_F32 of each shape {m, k, p} of @shapes, on random operands (any
 * floats with @specials, else moderate ones). */
static void
xc_matmul_shapes(struct xc *x, const uint32_t (*shapes)[3], size_t count,
                 int specials, const char *tag)
{
    struct xc_req r;

    for (size_t s = 0; s < count; s++) {
        uint32_t m = shapes[s][0];
        uint32_t k = shapes[s][1];
        uint32_t p = shapes[s][2];

        xc_begin_matmul(&r, m, k, p);
        for (uint32_t i = 0; i < m * k + k * p; i++) {
            xc_push(&r, specials ? xc_any(x) : xc_moderate(x));
        }
        xc_run(x, &r, tag);
    }
}

/* MATMUL_F32 shapes from 1x1x1 to the limits of one request. */
static void
xc_matmul(struct xc *x, int specials)
{
    static const uint32_t shapes[][3] = {
        {1, 1, 1},    {2, 3, 4},   {16, 7, 16}, /* m*p = 256, in 224 */
        {1, 126, 1},                            /* m*k + k*p = 252 */
        {1, 1, 251},                            /* 252 in, 251 out */
        {128, 1, 2},                            /* 256 out */
        {12, 10, 12}, {16, 0, 16},              /* k = 0: all +0 */
        {0, 5, 3},    {3, 5, 0},   {14, 9, 14}, /* 252 in, 196 out */
    };

    xc_matmul_shapes(x, shapes, sizeof(shapes) / sizeof(shapes[0]), specials,
                     specials ? "matmul_f32 any" : "matmul_f32 moderate");
}

/* Every op once at the queue's largest sizes (1 MiB requests, answers up
 * to 1 MiB): what the CUDA backend's 1 MiB device buffers must hold. */
static void
xc_queue_max(struct xc *x)
{
    static const uint32_t shapes[][3] = {
        {2, 65535, 2},   /* m*k + k*p = 262140: a 1 MiB request */
        {1, 1, 262139},  /* 262140 in, 262139 out */
        {512, 0, 512},   /* m*p = 262144: a 1 MiB answer, all +0 */
        {362, 362, 362}, /* 262088 in, 131044 out, k = 362 */
    };
    struct xc_req r;

    xc_begin(&r, VGPU_OP_ECHO, XC_Q_ECHO_MAX_N);
    for (uint32_t i = 0; i < XC_Q_ECHO_MAX_N; i++) {
        r.bytes[r.len++] = (uint8_t)xc_u32(x);
    }
    xc_run(x, &r, "queue echo");
    xc_add_i32(x, XC_Q_ADD_MAX_N);
    xc_add_f32(x, XC_Q_ADD_MAX_N);
    xc_saxpy(x, XC_Q_SAXPY_MAX_N);
    xc_dot(x, XC_Q_ADD_MAX_N);
    xc_matmul_shapes(x, shapes, sizeof(shapes) / sizeof(shapes[0]), 0,
                     "queue matmul_f32");
}

/* A response larger than the caller's buffer is refused alike. */
static void
xc_too_large(struct xc *x)
{
    uint8_t out[VGPU_ELEM_SIZE];
    char msg[XC_MSG_MAX];
    struct vgpu_op_desc d;
    struct xc_req r;
    size_t len;
    int st_cpu;
    int st_gpu;

    xc_begin(&r, VGPU_OP_ADD_I32, 2);
    for (uint32_t i = 0; i < 4; i++) {
        xc_push(&r, i);
    }
    if (vgpu_op_validate(r.bytes, r.len, &d, NULL, 0) != 0) {
        xc_count(x, VGPU_OP_ADD_I32);
        return;
    }
    st_cpu =
        x->cpu->exec(x->cpu_ctx, &d, out, sizeof(out), &len, msg, sizeof(msg));
    st_gpu = x->cuda->exec(x->cuda_ctx, &d, out, sizeof(out), &len, msg,
                           sizeof(msg));
    x->requests += 2;
    if (st_cpu != (int)VGPU_ERR_RESPONSE_TOO_LARGE || st_gpu != st_cpu) {
        printf("FAIL too large: cpu %s, cuda %s\n", vgpu_strerror(st_cpu),
               vgpu_strerror(st_gpu));
        xc_count(x, VGPU_OP_ADD_I32);
    }
}

/* ---- The emulated GPU ---------------------------------------------------- */

/* --emulate replaces the CUDA backend by this C model of kernels.cu (the
 * same order of operations, the GPU's canonical NaN), so the comparison
 * rules and the DOT_F32 tree order are checked on any machine;
 * --emulate-unfused adds the mistake the rules forbid (SAXPY_F32 and
 * MATMUL_F32 as a rounded multiply, then an add), which must be caught. */

#define XC_EMU_THREADS 256u        /* VGPU_CUDA_THREADS of kernels.h */
#define XC_GPU_NAN     0x7fffffffu /* what the GPU makes of every NaN */

static int xc_emu_unfused;

static float
xc_emu_get(const struct vgpu_op_desc *d, size_t i)
{
    return xc_bits_f32(vgpu_get_le32(d->operands + i * VGPU_ELEM_SIZE));
}

static void
xc_emu_put(uint8_t *out, size_t i, float f)
{
    vgpu_put_le32(out + i * VGPU_ELEM_SIZE,
                  isnan(f) ? XC_GPU_NAN : xc_f32_bits(f));
}

static float
xc_emu_fma(float a, float b, float c)
{
    if (xc_emu_unfused) {
        float prod = a * b;

        return prod + c;
    }
    return fmaf(a, b, c);
}

/* kernels_dot_f32: per-thread strided sums, then a halving tree. */
static float
xc_emu_dot(const struct vgpu_op_desc *d)
{
    float part[XC_EMU_THREADS];

    for (size_t t = 0; t < XC_EMU_THREADS; t++) {
        float acc = 0.0f;

        for (size_t i = t; i < d->n; i += XC_EMU_THREADS) {
            float prod = xc_emu_get(d, i) * xc_emu_get(d, d->n + i);

            acc = acc + prod;
        }
        part[t] = acc;
    }
    for (size_t s = XC_EMU_THREADS / 2u; s > 0; s /= 2u) {
        for (size_t t = 0; t < s; t++) {
            part[t] = part[t] + part[t + s];
        }
    }
    return part[0];
}

static int
xc_emu_open(const char *spec, void **ctx, char *err, size_t err_len)
{
    *ctx = &xc_emu_unfused;
    return 0;
}

static void
xc_emu_matmul(const struct vgpu_op_desc *d, uint8_t *out)
{
    size_t b0 = (size_t)d->n * d->k; /* B follows A */

    for (size_t i = 0; i < d->n; i++) {
        for (size_t j = 0; j < d->p; j++) {
            float acc = 0.0f;

            for (size_t t = 0; t < d->k; t++) {
                acc = xc_emu_fma(xc_emu_get(d, i * d->k + t),
                                 xc_emu_get(d, b0 + t * d->p + j), acc);
            }
            xc_emu_put(out, i * d->p + j, acc);
        }
    }
}

static int
xc_emu_exec(void *ctx, const struct vgpu_op_desc *d, uint8_t *out,
            size_t out_cap, size_t *out_len, char *msg, size_t msg_len)
{
    size_t n = d->n;

    *out_len = 0;
    if (d->out_len > out_cap) {
        return VGPU_ERR_RESPONSE_TOO_LARGE;
    }
    switch (d->op) {
    case VGPU_OP_NOP:
        break;
    case VGPU_OP_ECHO:
        memcpy(out, d->operands, n);
        break;
    case VGPU_OP_ADD_I32:
        for (size_t i = 0; i < n; i++) {
            uint32_t a = vgpu_get_le32(d->operands + i * VGPU_ELEM_SIZE);
            uint32_t b = vgpu_get_le32(d->operands + (n + i) * VGPU_ELEM_SIZE);

            vgpu_put_le32(out + i * VGPU_ELEM_SIZE, a + b);
        }
        break;
    case VGPU_OP_ADD_F32:
        for (size_t i = 0; i < n; i++) {
            xc_emu_put(out, i, xc_emu_get(d, i) + xc_emu_get(d, n + i));
        }
        break;
    case VGPU_OP_SAXPY_F32:
        for (size_t i = 0; i < n; i++) {
            xc_emu_put(out, i,
                       xc_emu_fma(xc_emu_get(d, 0), xc_emu_get(d, 1 + i),
                                  xc_emu_get(d, 1 + n + i)));
        }
        break;
    case VGPU_OP_DOT_F32:
        xc_emu_put(out, 0, xc_emu_dot(d));
        break;
    case VGPU_OP_MATMUL_F32:
        xc_emu_matmul(d, out);
        break;
    default:
        vgpu_set_err(msg, msg_len, "emulated gpu: op %s not implemented",
                     vgpu_op_name(d->op));
        return VGPU_ERR_BACKEND_ERROR;
    }
    *out_len = (size_t)d->out_len;
    return VGPU_ERR_NONE;
}

static void
xc_emu_close(void *ctx)
{
}

static const struct vgpu_backend_ops xc_emu_backend = {
    .name = "cuda-emulated",
    .open = xc_emu_open,
    .exec = xc_emu_exec,
    .close = xc_emu_close,
};

/* ---- main ---------------------------------------------------------------- */

static unsigned long
xc_num(const char *flag, const char *s, unsigned long max)
{
    char *end;
    unsigned long v;

    errno = 0;
    v = strtoul(s, &end, XC_DECIMAL);
    if (*s == '\0' || *s == '-' || *end != '\0' || errno != 0 || v > max) {
        fprintf(stderr, XC_PROG ": %s: '%s' is not a number in 0..%lu\n", flag,
                s, max);
        exit(XC_EXIT_USAGE);
    }
    return v;
}

int
main(int argc, char **argv)
{
    struct xc x = {0};
    char spec[XC_SPEC_MAX] = "";
    char why[XC_MSG_MAX];
    unsigned long seed = XC_DEF_SEED;
    unsigned long rounds = XC_DEF_ROUNDS;
    int emulate = 0;
    static const uint32_t vec_sizes[] = {1, 2, 31, 32, 33, VGPU_SAXPY_MAX_N};
    int rc;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--device") == 0 && i + 1 < argc) {
            snprintf(spec, sizeof(spec), "%lu",
                     xc_num("--device", argv[++i], INT32_MAX));
        } else if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc) {
            seed = xc_num("--seed", argv[++i], UINT32_MAX);
        } else if (strcmp(argv[i], "--rounds") == 0 && i + 1 < argc) {
            rounds = xc_num("--rounds", argv[++i], XC_MAX_ROUNDS);
        } else if (strcmp(argv[i], "--emulate") == 0) {
            emulate = 1;
        } else if (strcmp(argv[i], "--emulate-unfused") == 0) {
            emulate = 1;
            xc_emu_unfused = 1;
        } else {
            fprintf(stderr, "usage: " XC_PROG " [--device N] [--seed S] "
                            "[--rounds R] [--emulate|--emulate-unfused]\n");
            return XC_EXIT_USAGE;
        }
    }
    x.rng = seed;
    x.cpu = vgpu_backend_find(VGPU_BACKEND_CPU_NAME);
    x.cuda =
        emulate ? &xc_emu_backend : vgpu_backend_find(VGPU_BACKEND_CUDA_NAME);
    if (x.cuda == NULL) {
        printf("SKIP: this build has no CUDA backend (configure with "
               "-DVGPU_WITH_CUDA=ON)\n");
        return XC_EXIT_SKIP;
    }
    if (x.cuda->probe != NULL && x.cuda->probe(spec, why, sizeof(why)) != 0) {
        printf("SKIP: no usable CUDA device: %s\n", why);
        return XC_EXIT_SKIP;
    }
    printf("%s: %s\n", x.cuda->name,
           emulate ? "a C model of kernels.cu, no GPU" : why);
    if (x.cpu->open("", &x.cpu_ctx, why, sizeof(why)) != 0) {
        printf("FAIL: cpu backend: %s\n", why);
        return XC_EXIT_FAIL;
    }
    rc = x.cuda->open(spec, &x.cuda_ctx, why, sizeof(why));
    if (rc != 0) {
        printf("FAIL: the device probed usable, but open failed: %s\n", why);
        x.cpu->close(x.cpu_ctx);
        return XC_EXIT_FAIL;
    }

    xc_echo(&x);
    xc_add_f32_specials(&x);
    xc_saxpy_specials(&x);
    xc_dot_edges(&x);
    xc_too_large(&x);
    xc_queue_max(&x);
    for (unsigned long round = 0; round < rounds; round++) {
        for (size_t s = 0; s < sizeof(vec_sizes) / sizeof(vec_sizes[0]); s++) {
            xc_add_i32(&x, vec_sizes[s]);
            xc_add_f32(&x, vec_sizes[s]);
            xc_saxpy(&x, vec_sizes[s]);
            xc_dot(&x, vec_sizes[s]);
        }
        xc_add_i32(&x, VGPU_ADD_MAX_N);
        xc_add_f32(&x, VGPU_ADD_MAX_N);
        xc_dot(&x, VGPU_DOT_MAX_N);
        xc_matmul(&x, 0);
        xc_matmul(&x, 1);
    }

    x.cuda->close(x.cuda_ctx);
    x.cpu->close(x.cpu_ctx);
    printf("%s: seed %lu, %lu rounds, %lu requests, %lu values compared, "
           "%lu mismatches",
           x.mismatches ? "FAIL" : "PASS", seed, rounds, x.requests, x.values,
           x.mismatches);
    for (uint32_t op = 0; op <= VGPU_OP_MATMUL_F32; op++) {
        if (x.op_mismatches[op] > 0) {
            printf(" %s=%lu", vgpu_op_name(op), x.op_mismatches[op]);
        }
    }
    printf("\n");
    return x.mismatches ? XC_EXIT_FAIL : XC_EXIT_OK;
}
