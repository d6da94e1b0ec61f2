/*
 * The CPU backend: every operation of SPEC.md section 8 in plain C.
 *
 * Float rules, which the CUDA backend matches for every op but DOT_F32:
 * - This file is compiled with -ffp-contract=off, so the compiler never fuses
 *   a * b + c on its own; the only fused operations are the fmaf() calls the
 *   SPEC asks for (SAXPY_F32 and MATMUL_F32).
 * - ADD_F32 is one IEEE single-precision addition per element.
 * - SAXPY_F32 is r[i] = fmaf(alpha, x[i], y[i]): one rounding.
 * - DOT_F32 multiplies each pair in single precision (rounded), then adds the
 *   products to a float accumulator that starts at +0.0f, in index order
 *   (x[0]*y[0] first). Two roundings per element, no fusion, no reordering;
 *   a GPU reduction sums in another order, so the SPEC allows 1e-5 relative.
 * - MATMUL_F32 computes C[i][j] as acc = 0.0f, then for t = 0 .. k-1 in
 *   order acc = fmaf(A[i][t], B[t][j], acc); with k = 0 every C[i][j] is +0.
 * NaN and infinity propagate as IEEE arithmetic makes them.
 *
 * Operands are read and results written little-endian through
 * vgpu_get_le32()/vgpu_put_le32() and memcpy between uint32_t and float,
 * never through a cast pointer: request bytes may be unaligned.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "vgpu/backend.h"
#include "vgpu/proto.h"

_Static_assert(sizeof(float) == VGPU_ELEM_SIZE, "float must be 32 bits");
_Static_assert(sizeof(uint32_t) == VGPU_ELEM_SIZE, "uint32_t is 32 bits");

/* A context holds no state the ops need but the testing delay; it exists so
 * that the CPU backend has the same lifecycle as any other, and so a stray
 * pointer is caught. */
#define CPU_CTX_MAGIC 0x43505530u /* "CPU0" */

/* The spec "delay_us=N": N microseconds of sleep in each exec, 0 .. max. */
#define CPU_SPEC_DELAY_KEY "delay_us="
#define CPU_SPEC_DELAY_MAX VGPU_BACKEND_CPU_DELAY_US_MAX
#define CPU_NS_PER_US      1000u
#define CPU_US_PER_SEC     1000000u

struct cpu_ctx {
    uint32_t magic;
    uint32_t delay_us;
};

static float
cpu_get_f32(const uint8_t *p)
{
    uint32_t bits = vgpu_get_le32(p);
    float f;

    memcpy(&f, &bits, sizeof(f));
    return f;
}

static void
cpu_put_f32(uint8_t *p, float f)
{
    uint32_t bits;

    memcpy(&bits, &f, sizeof(bits));
    vgpu_put_le32(p, bits);
}

/* The byte offset of element @i of an operand array. */
static size_t
cpu_off(size_t i)
{
    return i * VGPU_ELEM_SIZE;
}

static void
cpu_echo(const struct vgpu_op_desc *op, uint8_t *out)
{
    if (op->n > 0) {
        memcpy(out, op->operands, op->n);
    }
}

/* Two's-complement wrap: the sum is taken in uint32_t, where overflow is
 * defined, and the bit pattern is the int32 result. */
static void
cpu_add_i32(const struct vgpu_op_desc *op, uint8_t *out)
{
    const uint8_t *a = op->operands;
    const uint8_t *b = a + cpu_off(op->n);

    for (size_t i = 0; i < op->n; i++) {
        uint32_t c =
            vgpu_get_le32(a + cpu_off(i)) + vgpu_get_le32(b + cpu_off(i));
        vgpu_put_le32(out + cpu_off(i), c);
    }
}

static void
cpu_add_f32(const struct vgpu_op_desc *op, uint8_t *out)
{
    const uint8_t *a = op->operands;
    const uint8_t *b = a + cpu_off(op->n);

    for (size_t i = 0; i < op->n; i++) {
        float c = cpu_get_f32(a + cpu_off(i)) + cpu_get_f32(b + cpu_off(i));
        cpu_put_f32(out + cpu_off(i), c);
    }
}

static void
cpu_saxpy_f32(const struct vgpu_op_desc *op, uint8_t *out)
{
    float alpha = cpu_get_f32(op->operands);
    const uint8_t *x = op->operands + VGPU_ELEM_SIZE;
    const uint8_t *y = x + cpu_off(op->n);

    for (size_t i = 0; i < op->n; i++) {
        float r = fmaf(alpha, cpu_get_f32(x + cpu_off(i)),
                       cpu_get_f32(y + cpu_off(i)));
        cpu_put_f32(out + cpu_off(i), r);
    }
}

static void
cpu_dot_f32(const struct vgpu_op_desc *op, uint8_t *out)
{
    const uint8_t *x = op->operands;
    const uint8_t *y = x + cpu_off(op->n);
    float acc = 0.0f;

    for (size_t i = 0; i < op->n; i++) {
        /* Two statements, and -ffp-contract=off: the product is rounded
         * before it is added. */
        float prod = cpu_get_f32(x + cpu_off(i)) * cpu_get_f32(y + cpu_off(i));
        acc = acc + prod;
    }
    cpu_put_f32(out, acc);
}

/* Cost: m * p * k fmaf calls, at most 256 * 252 in a 1 KiB request; larger
 * counts are possible only through a larger frame and are bounded by out_len
 * and operands_len, which the caller's limits bound. */
static void
cpu_matmul_f32(const struct vgpu_op_desc *op, uint8_t *out)
{
    size_t m = op->n;
    size_t k = op->k;
    size_t p = op->p;
    const uint8_t *a = op->operands;
    const uint8_t *b = a + cpu_off(m * k);

    /* An empty result needs no work, however large the other count: m =
     * 2^32 - 1 with k = p = 0 is a valid 16-byte request that would
     * otherwise loop 4 billion times (tests/fuzz/regressions/fuzz_op_cpu). */
    if (m == 0 || p == 0) {
        return;
    }
    for (size_t i = 0; i < m; i++) {
        for (size_t j = 0; j < p; j++) {
            float acc = 0.0f;
            for (size_t t = 0; t < k; t++) {
                acc = fmaf(cpu_get_f32(a + cpu_off(i * k + t)),
                           cpu_get_f32(b + cpu_off(t * p + j)), acc);
            }
            cpu_put_f32(out + cpu_off(i * p + j), acc);
        }
    }
}

/*
 * Parse the spec: NULL or "" (no delay), or "delay_us=N" with N plain decimal
 * digits (no sign, no spaces) in 0 .. CPU_SPEC_DELAY_MAX. Digits are added
 * one at a time and checked against the bound at each step, so a long string
 * of digits cannot overflow.
 */
static int
cpu_parse_spec(const char *spec, uint32_t *delay_us)
{
    size_t key_len = strlen(CPU_SPEC_DELAY_KEY);
    const char *p;

    *delay_us = 0;
    if (spec == NULL || spec[0] == '\0') {
        return 0;
    }
    if (strncmp(spec, CPU_SPEC_DELAY_KEY, key_len) != 0) {
        return -EINVAL;
    }
    p = spec + key_len;
    return vgpu_parse_decimal(p, strlen(p), CPU_SPEC_DELAY_MAX, delay_us);
}

/* Sleep @us microseconds, resuming after a signal. */
static void
cpu_delay(uint32_t us)
{
    struct timespec ts = {
        .tv_sec = (time_t)(us / CPU_US_PER_SEC),
        .tv_nsec = (long)(us % CPU_US_PER_SEC) * (long)CPU_NS_PER_US,
    };

    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
        continue;
    }
}

static int
cpu_open(const char *spec, void **ctx, char *err, size_t err_len)
{
    struct cpu_ctx *c;
    uint32_t delay_us;

    if (cpu_parse_spec(spec, &delay_us) < 0) {
        vgpu_set_err(err, err_len,
                     "cpu backend: bad spec '%s' (want \"\" or \"delay_us=N\", "
                     "N in 0..%u)",
                     spec, CPU_SPEC_DELAY_MAX);
        return -EINVAL;
    }
    c = calloc(1, sizeof(*c));
    if (c == NULL) {
        vgpu_set_err(err, err_len, "cpu backend: out of memory");
        return -ENOMEM;
    }
    c->magic = CPU_CTX_MAGIC;
    c->delay_us = delay_us;
    *ctx = c;
    return 0;
}

static int
cpu_exec(void *ctx, const struct vgpu_op_desc *op, uint8_t *out, size_t out_cap,
         size_t *out_len, char *msg, size_t msg_len)
{
    const struct cpu_ctx *c = ctx;

    *out_len = 0;
    if (c == NULL || c->magic != CPU_CTX_MAGIC || op == NULL) {
        vgpu_set_err(msg, msg_len, "cpu backend: bad context or descriptor");
        return VGPU_ERR_BACKEND_ERROR;
    }
    if (c->delay_us > 0) {
        /* The testing knob of the spec: a slow device. */
        cpu_delay(c->delay_us);
    }
    if (vgpu_op_desc_check(op, "cpu backend", msg, msg_len) < 0) {
        return VGPU_ERR_BACKEND_ERROR;
    }
    if (op->out_len > out_cap) {
        vgpu_set_err(
            msg, msg_len, "%s response of %llu bytes exceeds the %zu available",
            vgpu_op_name(op->op), (unsigned long long)op->out_len, out_cap);
        return VGPU_ERR_RESPONSE_TOO_LARGE;
    }

    switch (op->op) {
    case VGPU_OP_NOP:
        break;
    case VGPU_OP_ECHO:
        cpu_echo(op, out);
        break;
    case VGPU_OP_ADD_I32:
        cpu_add_i32(op, out);
        break;
    case VGPU_OP_ADD_F32:
        cpu_add_f32(op, out);
        break;
    case VGPU_OP_SAXPY_F32:
        cpu_saxpy_f32(op, out);
        break;
    case VGPU_OP_DOT_F32:
        cpu_dot_f32(op, out);
        break;
    case VGPU_OP_MATMUL_F32:
        cpu_matmul_f32(op, out);
        break;
    default:
        /* Known to proto but not implemented here: a build mismatch. */
        vgpu_set_err(msg, msg_len, "cpu backend: op %s not implemented",
                     vgpu_op_name(op->op));
        return VGPU_ERR_BACKEND_ERROR;
    }
    *out_len = (size_t)op->out_len;
    return VGPU_ERR_NONE;
}

static void
cpu_close(void *ctx)
{
    struct cpu_ctx *c = ctx;

    if (c != NULL) {
        c->magic = 0;
        free(c);
    }
}

/* A NOP computes nothing: cheaper inline than a thread hop, unless the
 * context's delay makes it a slow device on purpose. */
static int
cpu_cheap(void *ctx, const struct vgpu_op_desc *op)
{
    const struct cpu_ctx *c = ctx;

    return c != NULL && c->magic == CPU_CTX_MAGIC && c->delay_us == 0 &&
           op->op == VGPU_OP_NOP;
}

const struct vgpu_backend_ops vgpu_backend_cpu = {
    .name = VGPU_BACKEND_CPU_NAME,
    .open = cpu_open,
    .exec = cpu_exec,
    .close = cpu_close,
    .cheap = cpu_cheap,
};
