/*
 * The CPU backend: every op of SPEC.md section 8 with known values, the float
 * rules of src/backend_cpu/cpu.c to the bit, and the failure codes.
 */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "vgpu_test.h"

#include "vgpu/backend.h"
#include "vgpu/proto.h"

/* Float bit patterns used by the fusion tests. With a = 1 + 2^-12,
 * a * a = 1 + 2^-11 + 2^-24 exactly; rounded to float it is 1 + 2^-11 (a tie,
 * to even). So fmaf(a, a, -(1 + 2^-11)) = 2^-24, but a * a + -(1 + 2^-11)
 * with a rounded product is 0. */
#define BITS_ONE_P_2M12     0x3F800800u /* 1 + 2^-12 */
#define BITS_NEG_ONE_P_2M11 0xBF801000u /* -(1 + 2^-11) */
#define BITS_2M24           0x33800000u /* 2^-24 */
#define BITS_POS_ZERO       0x00000000u
#define BITS_NEG_ZERO       0x80000000u

#define OP_UNKNOWN 0x7Fu /* an op code SPEC.md does not define */

#define OUT_CAP  VGPU_BUF_SIZE
#define REQ_CAP  (2 * VGPU_BUF_SIZE)
#define MSG_CAP  256
#define OUT_FILL 0xA5u

/* A request being built, at an odd offset so that every operand is
 * unaligned, and the response of running it. */
struct cpu_run {
    uint8_t req_store[REQ_CAP + 1];
    uint8_t *req;
    size_t len;
    uint8_t out_store[OUT_CAP + 4]; /* 3 to misalign, 1 guard byte */
    uint8_t *out;
    size_t out_len;
    char msg[MSG_CAP];
};

static uint32_t
f2u(float f)
{
    uint32_t u;

    memcpy(&u, &f, sizeof(u));
    return u;
}

static float
u2f(uint32_t u)
{
    float f;

    memcpy(&f, &u, sizeof(f));
    return f;
}

static void
run_begin(struct cpu_run *r, uint32_t op, uint32_t n)
{
    memset(r, 0, sizeof(*r));
    r->req = r->req_store + 1;
    r->out = r->out_store + 3;
    memset(r->out_store, OUT_FILL, sizeof(r->out_store));
    vgpu_put_le32(r->req, op);
    vgpu_put_le32(r->req + sizeof(uint32_t), n);
    r->len = VGPU_OP_HDR_SIZE;
}

static void
run_u32(struct cpu_run *r, uint32_t v)
{
    assert_true(r->len + VGPU_ELEM_SIZE <= REQ_CAP);
    vgpu_put_le32(r->req + r->len, v);
    r->len += VGPU_ELEM_SIZE;
}

static void
run_f32(struct cpu_run *r, float f)
{
    run_u32(r, f2u(f));
}

static void
run_byte(struct cpu_run *r, uint8_t b)
{
    assert_true(r->len < REQ_CAP);
    r->req[r->len++] = b;
}

/* Validate the request, as the mediator does, then execute it. */
static int
run_exec_cap(struct cpu_run *r, size_t out_cap)
{
    struct vgpu_op_desc desc;
    char why[MSG_CAP] = "";
    void *ctx = NULL;
    int status;

    assert_int_equal(vgpu_op_validate(r->req, r->len, &desc, why, sizeof(why)),
                     0);
    assert_int_equal(vgpu_backend_cpu.open(NULL, &ctx, NULL, 0), 0);
    assert_non_null(ctx);
    r->out_len = (size_t)-1;
    status = vgpu_backend_cpu.exec(ctx, &desc, r->out, out_cap, &r->out_len,
                                   r->msg, sizeof(r->msg));
    vgpu_backend_cpu.close(ctx);
    return status;
}

static void
run_exec(struct cpu_run *r, size_t want_out_len)
{
    assert_int_equal(run_exec_cap(r, OUT_CAP), VGPU_ERR_NONE);
    assert_int_equal(r->out_len, want_out_len);
    /* Nothing past the response is written. */
    assert_int_equal(r->out[r->out_len], OUT_FILL);
}

static uint32_t
out_u32(const struct cpu_run *r, size_t i)
{
    return vgpu_get_le32(r->out + i * VGPU_ELEM_SIZE);
}

static float
out_f32(const struct cpu_run *r, size_t i)
{
    return u2f(out_u32(r, i));
}

/* Deterministic operands in [-8, 8) with full mantissas. */
static float
lcg_float(uint32_t *state)
{
    *state = *state * 1664525u + 1013904223u;
    return (float)(int32_t)(*state >> 8) / (float)(1u << 20);
}

/* ---- Lookup and lifecycle ------------------------------------------------ */

static void
test_find(void **state)
{
    (void)state;
    assert_ptr_equal(vgpu_backend_find(VGPU_BACKEND_CPU_NAME),
                     &vgpu_backend_cpu);
    assert_string_equal(vgpu_backend_cpu.name, "cpu");
    assert_null(vgpu_backend_find("gpu"));
    assert_null(vgpu_backend_find("CPU"));
    assert_null(vgpu_backend_find(""));
    assert_null(vgpu_backend_find(NULL));
}

static void
test_open(void **state)
{
    char err[MSG_CAP] = "";
    void *ctx = NULL;

    (void)state;
    assert_int_equal(vgpu_backend_cpu.open("", &ctx, err, sizeof(err)), 0);
    assert_non_null(ctx);
    vgpu_backend_cpu.close(ctx);

    ctx = NULL;
    assert_int_equal(vgpu_backend_cpu.open("fast", &ctx, err, sizeof(err)),
                     -EINVAL);
    assert_null(ctx);
    assert_non_null(strstr(err, "fast"));
    vgpu_backend_cpu.close(NULL);
}

/* Specs the CPU backend must refuse, each with -EINVAL and its text in the
 * message. */
static const char *const bad_specs[] = {
    "fast",
    "delay_us",
    "delay_us=",
    "delay_us=-1",
    "delay_us=+5",
    "delay_us= 5",
    "delay_us=5 ",
    "delay_us=1x",
    "delay_us=0x10",
    "delay_us=10000001",
    "delay_us=99999999999999999999999",
    "DELAY_US=5",
    "delay_ms=5",
    ":delay_us=5",
};

static void
test_open_spec_bad(void **state)
{
    char err[MSG_CAP];
    void *ctx;

    (void)state;
    for (size_t i = 0; i < sizeof(bad_specs) / sizeof(bad_specs[0]); i++) {
        ctx = NULL;
        err[0] = '\0';
        assert_int_equal(
            vgpu_backend_cpu.open(bad_specs[i], &ctx, err, sizeof(err)),
            -EINVAL);
        assert_null(ctx);
        if (strstr(err, bad_specs[i]) == NULL) {
            fail_msg("spec '%s': message '%s' does not name it", bad_specs[i],
                     err);
        }
    }
    /* No room for a message is fine too. */
    assert_int_equal(vgpu_backend_cpu.open("fast", &ctx, NULL, 0), -EINVAL);
}

static void
test_open_spec_good(void **state)
{
    static const char *const good[] = {"", "delay_us=0", "delay_us=1",
                                       "delay_us=007", "delay_us=10000000"};
    void *ctx;

    (void)state;
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        ctx = NULL;
        assert_int_equal(vgpu_backend_cpu.open(good[i], &ctx, NULL, 0), 0);
        assert_non_null(ctx);
        vgpu_backend_cpu.close(ctx);
    }
}

static uint64_t
mono_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* "delay_us=N" holds each exec at least N us and still computes the result. */
static void
test_open_spec_delay(void **state)
{
    const uint32_t delay_us = 20000;
    struct vgpu_op_desc desc;
    struct cpu_run r;
    void *ctx = NULL;
    uint64_t t0;
    uint64_t took;

    (void)state;
    run_begin(&r, VGPU_OP_ADD_I32, 1);
    run_u32(&r, 100);
    run_u32(&r, 200);
    assert_int_equal(vgpu_op_validate(r.req, r.len, &desc, NULL, 0), 0);

    assert_int_equal(vgpu_backend_cpu.open("delay_us=20000", &ctx, NULL, 0), 0);
    t0 = mono_ns();
    assert_int_equal(vgpu_backend_cpu.exec(ctx, &desc, r.out, OUT_CAP,
                                           &r.out_len, r.msg, sizeof(r.msg)),
                     VGPU_ERR_NONE);
    took = mono_ns() - t0;
    vgpu_backend_cpu.close(ctx);
    assert_int_equal(r.out_len, 4);
    assert_int_equal(vgpu_get_le32(r.out), 300);
    if (took < (uint64_t)delay_us * 1000u) {
        fail_msg("exec took %llu ns, want at least %u us",
                 (unsigned long long)took, delay_us);
    }
}

/* ---- NOP and ECHO -------------------------------------------------------- */

static void
test_nop(void **state)
{
    struct cpu_run r;

    (void)state;
    run_begin(&r, VGPU_OP_NOP, 0);
    run_exec(&r, 0);
}

static void
test_echo(void **state)
{
    static const uint8_t bytes[] = {'h', 'e', 'l', 'l', 'o'};
    struct cpu_run r;

    (void)state;
    run_begin(&r, VGPU_OP_ECHO, sizeof(bytes));
    for (size_t i = 0; i < sizeof(bytes); i++) {
        run_byte(&r, bytes[i]);
    }
    run_exec(&r, sizeof(bytes));
    assert_memory_equal(r.out, bytes, sizeof(bytes));

    run_begin(&r, VGPU_OP_ECHO, 0);
    run_exec(&r, 0);
}

static void
test_echo_max(void **state)
{
    struct cpu_run r;

    (void)state;
    run_begin(&r, VGPU_OP_ECHO, VGPU_ECHO_MAX_N);
    for (size_t i = 0; i < VGPU_ECHO_MAX_N; i++) {
        run_byte(&r, (uint8_t)(i * 7u + 3u));
    }
    run_exec(&r, VGPU_ECHO_MAX_N);
    assert_memory_equal(r.out, r.req + VGPU_OP_HDR_SIZE, VGPU_ECHO_MAX_N);
}

/* ---- ADD_I32 ------------------------------------------------------------- */

static void
test_add_i32(void **state)
{
    struct cpu_run r;

    (void)state;
    run_begin(&r, VGPU_OP_ADD_I32, 1);
    run_u32(&r, 100);
    run_u32(&r, 200);
    run_exec(&r, VGPU_ELEM_SIZE);
    assert_int_equal((int32_t)out_u32(&r, 0), 300);

    run_begin(&r, VGPU_OP_ADD_I32, 2);
    run_u32(&r, (uint32_t)-5);
    run_u32(&r, (uint32_t)-7);
    run_u32(&r, 3);
    run_u32(&r, 7);
    run_exec(&r, 2 * VGPU_ELEM_SIZE);
    assert_int_equal((int32_t)out_u32(&r, 0), -2);
    assert_int_equal((int32_t)out_u32(&r, 1), 0);
}

static void
test_add_i32_wrap(void **state)
{
    struct cpu_run r;

    (void)state;
    run_begin(&r, VGPU_OP_ADD_I32, 2);
    run_u32(&r, (uint32_t)INT32_MAX);
    run_u32(&r, (uint32_t)INT32_MIN);
    run_u32(&r, 1);
    run_u32(&r, (uint32_t)-1);
    run_exec(&r, 2 * VGPU_ELEM_SIZE);
    assert_int_equal((int32_t)out_u32(&r, 0), INT32_MIN);
    assert_int_equal((int32_t)out_u32(&r, 1), INT32_MAX);
}

static void
test_add_i32_max(void **state)
{
    struct cpu_run r;

    (void)state;
    run_begin(&r, VGPU_OP_ADD_I32, VGPU_ADD_MAX_N);
    for (uint32_t i = 0; i < VGPU_ADD_MAX_N; i++) {
        run_u32(&r, i);
    }
    for (uint32_t i = 0; i < VGPU_ADD_MAX_N; i++) {
        run_u32(&r, 1000u * i);
    }
    assert_int_equal(r.len, VGPU_BUF_SIZE);
    run_exec(&r, VGPU_ADD_MAX_N * VGPU_ELEM_SIZE);
    for (uint32_t i = 0; i < VGPU_ADD_MAX_N; i++) {
        assert_int_equal(out_u32(&r, i), 1001u * i);
    }

    run_begin(&r, VGPU_OP_ADD_I32, 0);
    run_exec(&r, 0);
}

/* ---- ADD_F32 ------------------------------------------------------------- */

static void
test_add_f32(void **state)
{
    volatile float a = 0.1f;
    volatile float b = 0.2f;
    struct cpu_run r;

    (void)state;
    run_begin(&r, VGPU_OP_ADD_F32, 2);
    run_f32(&r, 1.5f);
    run_f32(&r, a);
    run_f32(&r, 2.25f);
    run_f32(&r, b);
    run_exec(&r, 2 * VGPU_ELEM_SIZE);
    assert_int_equal(out_u32(&r, 0), f2u(3.75f));
    assert_int_equal(out_u32(&r, 1), f2u(a + b));
}

static void
test_add_f32_special(void **state)
{
    struct cpu_run r;

    (void)state;
    run_begin(&r, VGPU_OP_ADD_F32, 4);
    run_f32(&r, NAN);
    run_f32(&r, INFINITY);
    run_f32(&r, INFINITY);
    run_u32(&r, BITS_NEG_ZERO);
    run_f32(&r, 1.0f);
    run_f32(&r, 1.0f);
    run_f32(&r, -INFINITY);
    run_u32(&r, BITS_NEG_ZERO);
    run_exec(&r, 4 * VGPU_ELEM_SIZE);
    assert_true(isnan(out_f32(&r, 0)));
    assert_true(isinf(out_f32(&r, 1)) && out_f32(&r, 1) > 0);
    assert_true(isnan(out_f32(&r, 2)));
    assert_int_equal(out_u32(&r, 3), BITS_NEG_ZERO);
}

/* ---- SAXPY_F32 ----------------------------------------------------------- */

static void
test_saxpy(void **state)
{
    struct cpu_run r;

    (void)state;
    run_begin(&r, VGPU_OP_SAXPY_F32, 3);
    run_f32(&r, 2.0f);
    run_f32(&r, 1.0f);
    run_f32(&r, 2.0f);
    run_f32(&r, 3.0f);
    run_f32(&r, 10.0f);
    run_f32(&r, 20.0f);
    run_f32(&r, 30.0f);
    run_exec(&r, 3 * VGPU_ELEM_SIZE);
    assert_int_equal(out_u32(&r, 0), f2u(12.0f));
    assert_int_equal(out_u32(&r, 1), f2u(24.0f));
    assert_int_equal(out_u32(&r, 2), f2u(36.0f));
}

static void
test_saxpy_fused(void **state)
{
    volatile float prod;
    struct cpu_run r;

    (void)state;
    /* The unfused result really differs: the rounded product cancels. */
    prod = u2f(BITS_ONE_P_2M12) * u2f(BITS_ONE_P_2M12);
    assert_int_equal(f2u(prod + u2f(BITS_NEG_ONE_P_2M11)), BITS_POS_ZERO);

    run_begin(&r, VGPU_OP_SAXPY_F32, 1);
    run_u32(&r, BITS_ONE_P_2M12);
    run_u32(&r, BITS_ONE_P_2M12);
    run_u32(&r, BITS_NEG_ONE_P_2M11);
    run_exec(&r, VGPU_ELEM_SIZE);
    assert_int_equal(out_u32(&r, 0), BITS_2M24);
}

static void
test_saxpy_special(void **state)
{
    struct cpu_run r;

    (void)state;
    run_begin(&r, VGPU_OP_SAXPY_F32, 2);
    run_f32(&r, INFINITY);
    run_f32(&r, 0.0f); /* inf * 0: invalid */
    run_f32(&r, 1.0f);
    run_f32(&r, 1.0f);
    run_f32(&r, NAN);
    run_exec(&r, 2 * VGPU_ELEM_SIZE);
    assert_true(isnan(out_f32(&r, 0)));
    assert_true(isnan(out_f32(&r, 1)));
}

static void
test_saxpy_max(void **state)
{
    float x[VGPU_SAXPY_MAX_N];
    float y[VGPU_SAXPY_MAX_N];
    float alpha = 1.0f / 3.0f;
    uint32_t seed = 1;
    struct cpu_run r;

    (void)state;
    run_begin(&r, VGPU_OP_SAXPY_F32, VGPU_SAXPY_MAX_N);
    run_f32(&r, alpha);
    for (size_t i = 0; i < VGPU_SAXPY_MAX_N; i++) {
        x[i] = lcg_float(&seed);
        run_f32(&r, x[i]);
    }
    for (size_t i = 0; i < VGPU_SAXPY_MAX_N; i++) {
        y[i] = lcg_float(&seed);
        run_f32(&r, y[i]);
    }
    run_exec(&r, VGPU_SAXPY_MAX_N * VGPU_ELEM_SIZE);
    for (size_t i = 0; i < VGPU_SAXPY_MAX_N; i++) {
        assert_int_equal(out_u32(&r, i), f2u(fmaf(alpha, x[i], y[i])));
    }

    run_begin(&r, VGPU_OP_SAXPY_F32, 0);
    run_f32(&r, alpha);
    run_exec(&r, 0);
}

/* ---- DOT_F32 ------------------------------------------------------------- */

static void
test_dot(void **state)
{
    struct cpu_run r;

    (void)state;
    run_begin(&r, VGPU_OP_DOT_F32, 3);
    run_f32(&r, 1.0f);
    run_f32(&r, 2.0f);
    run_f32(&r, 3.0f);
    run_f32(&r, 4.0f);
    run_f32(&r, 5.0f);
    run_f32(&r, 6.0f);
    run_exec(&r, VGPU_ELEM_SIZE);
    assert_int_equal(out_u32(&r, 0), f2u(32.0f));

    run_begin(&r, VGPU_OP_DOT_F32, 0);
    run_exec(&r, VGPU_ELEM_SIZE);
    assert_int_equal(out_u32(&r, 0), BITS_POS_ZERO);
}

/* In index order, with float accumulation: 1e8 + 1 rounds back to 1e8. */
static void
test_dot_order(void **state)
{
    struct cpu_run r;

    (void)state;
    run_begin(&r, VGPU_OP_DOT_F32, 3);
    run_f32(&r, 1e8f);
    run_f32(&r, 1.0f);
    run_f32(&r, -1e8f);
    run_f32(&r, 1.0f);
    run_f32(&r, 1.0f);
    run_f32(&r, 1.0f);
    run_exec(&r, VGPU_ELEM_SIZE);
    assert_int_equal(out_u32(&r, 0), BITS_POS_ZERO);
}

/* Each product is rounded before it is added: a fused multiply-add would
 * leave 2^-24 here. */
static void
test_dot_unfused(void **state)
{
    struct cpu_run r;

    (void)state;
    run_begin(&r, VGPU_OP_DOT_F32, 2);
    run_f32(&r, 1.0f);
    run_u32(&r, BITS_ONE_P_2M12);
    run_u32(&r, BITS_NEG_ONE_P_2M11);
    run_u32(&r, BITS_ONE_P_2M12);
    run_exec(&r, VGPU_ELEM_SIZE);
    assert_int_equal(out_u32(&r, 0), BITS_POS_ZERO);
}

static void
test_dot_max(void **state)
{
    float x[VGPU_DOT_MAX_N];
    float y[VGPU_DOT_MAX_N];
    float acc = 0.0f;
    uint32_t seed = 7;
    struct cpu_run r;

    (void)state;
    run_begin(&r, VGPU_OP_DOT_F32, VGPU_DOT_MAX_N);
    for (size_t i = 0; i < VGPU_DOT_MAX_N; i++) {
        x[i] = lcg_float(&seed);
        run_f32(&r, x[i]);
    }
    for (size_t i = 0; i < VGPU_DOT_MAX_N; i++) {
        y[i] = lcg_float(&seed);
        run_f32(&r, y[i]);
    }
    for (size_t i = 0; i < VGPU_DOT_MAX_N; i++) {
        volatile float prod = x[i] * y[i]; /* rounded, never fused */
        acc = acc + prod;
    }
    run_exec(&r, VGPU_ELEM_SIZE);
    assert_int_equal(out_u32(&r, 0), f2u(acc));
}

/* ---- MATMUL_F32 ---------------------------------------------------------- */

static void
run_matmul_begin(struct cpu_run *r, uint32_t m, uint32_t k, uint32_t p)
{
    run_begin(r, VGPU_OP_MATMUL_F32, m);
    run_u32(r, k);
    run_u32(r, p);
}

static void
test_matmul(void **state)
{
    static const float a[] = {1, 2, 3, 4, 5, 6};    /* 2 x 3 */
    static const float b[] = {7, 8, 9, 10, 11, 12}; /* 3 x 2 */
    static const float c[] = {58, 64, 139, 154};    /* 2 x 2 */
    struct cpu_run r;

    (void)state;
    run_matmul_begin(&r, 2, 3, 2);
    for (size_t i = 0; i < 6; i++) {
        run_f32(&r, a[i]);
    }
    for (size_t i = 0; i < 6; i++) {
        run_f32(&r, b[i]);
    }
    run_exec(&r, 4 * VGPU_ELEM_SIZE);
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(out_u32(&r, i), f2u(c[i]));
    }
}

/* Bit-equality with the SPEC's loop: acc = fmaf(A[i][t], B[t][j], acc). */
static void
check_matmul_reference(uint32_t m, uint32_t k, uint32_t p, uint32_t seed)
{
    float a[VGPU_MATMUL_MAX_IN_ELEMS];
    float b[VGPU_MATMUL_MAX_IN_ELEMS];
    struct cpu_run r;

    assert_true(m * k + k * p <= VGPU_MATMUL_MAX_IN_ELEMS);
    assert_true(m * p <= VGPU_MATMUL_MAX_OUT_ELEMS);
    run_matmul_begin(&r, m, k, p);
    for (size_t i = 0; i < m * k; i++) {
        a[i] = lcg_float(&seed);
        run_f32(&r, a[i]);
    }
    for (size_t i = 0; i < k * p; i++) {
        b[i] = lcg_float(&seed);
        run_f32(&r, b[i]);
    }
    run_exec(&r, (size_t)m * p * VGPU_ELEM_SIZE);
    for (size_t i = 0; i < m; i++) {
        for (size_t j = 0; j < p; j++) {
            float acc = 0.0f;
            for (size_t t = 0; t < k; t++) {
                acc = fmaf(a[i * k + t], b[t * p + j], acc);
            }
            assert_int_equal(out_u32(&r, i * p + j), f2u(acc));
        }
    }
}

static void
test_matmul_reference(void **state)
{
    (void)state;
    check_matmul_reference(8, 15, 8, 11);
    check_matmul_reference(1, 126, 1, 12);
    check_matmul_reference(3, 1, 5, 13);
}

static void
test_matmul_max(void **state)
{
    (void)state;
    /* m*p = 256 outputs (1 KiB), m*k + k*p = 224 inputs. */
    check_matmul_reference(16, 7, 16, 21);
    /* m*k + k*p = 252 inputs. */
    check_matmul_reference(2, 63, 2, 22);
}

static void
test_matmul_fused(void **state)
{
    struct cpu_run r;

    (void)state;
    run_matmul_begin(&r, 1, 2, 1);
    run_f32(&r, 1.0f);
    run_u32(&r, BITS_ONE_P_2M12);
    run_u32(&r, BITS_NEG_ONE_P_2M11);
    run_u32(&r, BITS_ONE_P_2M12);
    run_exec(&r, VGPU_ELEM_SIZE);
    assert_int_equal(out_u32(&r, 0), BITS_2M24);
}

static void
test_matmul_k0(void **state)
{
    struct cpu_run r;

    (void)state;
    run_matmul_begin(&r, 2, 0, 3);
    run_exec(&r, 6 * VGPU_ELEM_SIZE);
    for (size_t i = 0; i < 6; i++) {
        assert_int_equal(out_u32(&r, i), BITS_POS_ZERO);
    }

    /* m = p = 0 with k = 4: no operands, no results. */
    run_matmul_begin(&r, 0, 4, 0);
    run_exec(&r, 0);
}

/* ---- Failures ------------------------------------------------------------ */

static void
test_too_large(void **state)
{
    struct cpu_run r;

    (void)state;
    run_begin(&r, VGPU_OP_ECHO, 16);
    for (size_t i = 0; i < 16; i++) {
        run_byte(&r, (uint8_t)i);
    }
    assert_int_equal(run_exec_cap(&r, 15), VGPU_ERR_RESPONSE_TOO_LARGE);
    assert_int_equal(r.out_len, 0);
    assert_int_equal(r.out[0], OUT_FILL);
    assert_true(strlen(r.msg) > 0);

    /* Exactly enough is enough. */
    assert_int_equal(run_exec_cap(&r, 16), VGPU_ERR_NONE);
    assert_int_equal(r.out_len, 16);

    /* k = 0 makes a 16-byte request with a 16 GiB response. */
    run_matmul_begin(&r, 1u << 16, 0, 1u << 16);
    assert_int_equal(run_exec_cap(&r, OUT_CAP), VGPU_ERR_RESPONSE_TOO_LARGE);
    assert_int_equal(r.out_len, 0);
    assert_int_equal(r.out[0], OUT_FILL);
}

static void
test_bad_desc(void **state)
{
    static const uint8_t operands[2 * VGPU_ELEM_SIZE];
    uint8_t out[VGPU_ELEM_SIZE];
    struct vgpu_op_desc desc = {
        .op = VGPU_OP_ADD_I32,
        .n = 1,
        .operands = operands,
        .operands_len = sizeof(operands),
        .out_len = VGPU_ELEM_SIZE,
    };
    char msg[MSG_CAP];
    size_t out_len = 1;
    void *ctx = NULL;

    (void)state;
    assert_int_equal(vgpu_backend_cpu.open(NULL, &ctx, NULL, 0), 0);
    assert_int_equal(vgpu_backend_cpu.exec(ctx, &desc, out, sizeof(out),
                                           &out_len, msg, sizeof(msg)),
                     VGPU_ERR_NONE);
    assert_int_equal(out_len, VGPU_ELEM_SIZE);

    /* Counts that no longer match the lengths. */
    desc.n = 2;
    msg[0] = '\0';
    assert_int_equal(vgpu_backend_cpu.exec(ctx, &desc, out, sizeof(out),
                                           &out_len, msg, sizeof(msg)),
                     VGPU_ERR_BACKEND_ERROR);
    assert_int_equal(out_len, 0);
    assert_non_null(strstr(msg, "ADD_I32"));

    /* An op proto does not know. */
    desc.op = OP_UNKNOWN;
    desc.n = 1;
    msg[0] = '\0';
    assert_int_equal(vgpu_backend_cpu.exec(ctx, &desc, out, sizeof(out),
                                           &out_len, msg, sizeof(msg)),
                     VGPU_ERR_BACKEND_ERROR);
    assert_true(strlen(msg) > 0);

    /* No context. */
    desc.op = VGPU_OP_ADD_I32;
    assert_int_equal(
        vgpu_backend_cpu.exec(NULL, &desc, out, sizeof(out), &out_len, NULL, 0),
        VGPU_ERR_BACKEND_ERROR);
    vgpu_backend_cpu.close(ctx);
}

/* ---- The queue's sizes (SPEC.md section 11) ----------------------------- */

/* The largest counts of a 1 MiB request and response. */
#define Q_ECHO_MAX_N     (VGPU_MAX_PAYLOAD - VGPU_OP_HDR_SIZE)
#define Q_ADD_MAX_N      ((VGPU_MAX_PAYLOAD - VGPU_OP_HDR_SIZE) / 8u)
#define Q_SAXPY_MAX_N    ((VGPU_MAX_PAYLOAD - VGPU_OP_HDR_SIZE - 4u) / 8u)
#define Q_MATMUL_MAX_IN  ((VGPU_MAX_PAYLOAD - VGPU_MATMUL_HDR_SIZE) / 4u)
#define Q_MATMUL_MAX_OUT (VGPU_MAX_PAYLOAD / 4u)

/* A request and its response on the heap, each followed by a guard byte. */
struct big_run {
    uint8_t *req;
    size_t len;
    uint8_t *out;
    size_t out_len;
};

static void
big_begin(struct big_run *r, uint32_t op, uint32_t n, uint32_t k, uint32_t p)
{
    uint64_t len = vgpu_op_request_len(op, n, k, p);

    assert_true(len > 0 && len <= VGPU_MAX_PAYLOAD);
    r->req = calloc(1, (size_t)len);
    r->out = malloc(VGPU_MAX_PAYLOAD + 1u);
    assert_non_null(r->req);
    assert_non_null(r->out);
    memset(r->out, OUT_FILL, VGPU_MAX_PAYLOAD + 1u);
    r->len = (size_t)len;
    vgpu_put_le32(r->req, op);
    vgpu_put_le32(r->req + 4, n);
    if (op == VGPU_OP_MATMUL_F32) {
        vgpu_put_le32(r->req + 8, k);
        vgpu_put_le32(r->req + 12, p);
    }
}

/* Run it with an output of exactly @want bytes; nothing past it written. */
static void
big_exec(struct big_run *r, size_t want)
{
    struct vgpu_op_desc desc;
    char msg[MSG_CAP] = "";
    void *ctx = NULL;

    assert_int_equal(vgpu_op_validate(r->req, r->len, &desc, msg, sizeof(msg)),
                     0);
    assert_int_equal(vgpu_backend_cpu.open(NULL, &ctx, NULL, 0), 0);
    assert_int_equal(vgpu_backend_cpu.exec(ctx, &desc, r->out, want,
                                           &r->out_len, msg, sizeof(msg)),
                     VGPU_ERR_NONE);
    vgpu_backend_cpu.close(ctx);
    assert_int_equal(r->out_len, want);
    assert_int_equal(r->out[want], OUT_FILL);
}

static void
big_end(struct big_run *r)
{
    free(r->req);
    free(r->out);
}

static float
big_in_f32(const struct big_run *r, size_t off, size_t i)
{
    return u2f(vgpu_get_le32(r->req + off + i * VGPU_ELEM_SIZE));
}

static void
big_fill_f32(struct big_run *r, size_t off, uint32_t seed)
{
    for (size_t i = off; i + VGPU_ELEM_SIZE <= r->len; i += VGPU_ELEM_SIZE) {
        vgpu_put_le32(r->req + i, f2u(lcg_float(&seed)));
    }
}

static void
test_q_echo_max(void **state)
{
    struct big_run r;

    (void)state;
    big_begin(&r, VGPU_OP_ECHO, Q_ECHO_MAX_N, 0, 0);
    assert_int_equal(r.len, VGPU_MAX_PAYLOAD);
    for (size_t i = VGPU_OP_HDR_SIZE; i < r.len; i++) {
        r.req[i] = (uint8_t)(i * 7u + 3u);
    }
    big_exec(&r, Q_ECHO_MAX_N);
    assert_memory_equal(r.out, r.req + VGPU_OP_HDR_SIZE, Q_ECHO_MAX_N);
    big_end(&r);
}

static void
test_q_add_i32_max(void **state)
{
    struct big_run r;
    size_t b = VGPU_OP_HDR_SIZE + (size_t)Q_ADD_MAX_N * VGPU_ELEM_SIZE;

    (void)state;
    big_begin(&r, VGPU_OP_ADD_I32, Q_ADD_MAX_N, 0, 0);
    for (uint32_t i = 0; i < Q_ADD_MAX_N; i++) {
        vgpu_put_le32(r.req + VGPU_OP_HDR_SIZE + i * VGPU_ELEM_SIZE,
                      0x7FFFFFF0u + i);
        vgpu_put_le32(r.req + b + i * VGPU_ELEM_SIZE, 1000u * i);
    }
    big_exec(&r, (size_t)Q_ADD_MAX_N * VGPU_ELEM_SIZE);
    for (uint32_t i = 0; i < Q_ADD_MAX_N; i++) {
        assert_int_equal(vgpu_get_le32(r.out + i * VGPU_ELEM_SIZE),
                         (uint32_t)(0x7FFFFFF0u + i + 1000u * i));
    }
    big_end(&r);
}

static void
test_q_add_f32_max(void **state)
{
    struct big_run r;
    size_t b = (size_t)Q_ADD_MAX_N;

    (void)state;
    big_begin(&r, VGPU_OP_ADD_F32, Q_ADD_MAX_N, 0, 0);
    big_fill_f32(&r, VGPU_OP_HDR_SIZE, 3);
    big_exec(&r, (size_t)Q_ADD_MAX_N * VGPU_ELEM_SIZE);
    for (size_t i = 0; i < Q_ADD_MAX_N; i++) {
        float want = big_in_f32(&r, VGPU_OP_HDR_SIZE, i) +
                     big_in_f32(&r, VGPU_OP_HDR_SIZE, b + i);

        assert_int_equal(vgpu_get_le32(r.out + i * VGPU_ELEM_SIZE), f2u(want));
    }
    big_end(&r);
}

static void
test_q_saxpy_max(void **state)
{
    struct big_run r;
    size_t x = VGPU_OP_HDR_SIZE + VGPU_ELEM_SIZE;
    float alpha;

    (void)state;
    big_begin(&r, VGPU_OP_SAXPY_F32, Q_SAXPY_MAX_N, 0, 0);
    assert_int_equal(r.len, VGPU_MAX_PAYLOAD - 4u);
    big_fill_f32(&r, VGPU_OP_HDR_SIZE, 5);
    alpha = big_in_f32(&r, VGPU_OP_HDR_SIZE, 0);
    big_exec(&r, (size_t)Q_SAXPY_MAX_N * VGPU_ELEM_SIZE);
    for (size_t i = 0; i < Q_SAXPY_MAX_N; i++) {
        float want = fmaf(alpha, big_in_f32(&r, x, i),
                          big_in_f32(&r, x, Q_SAXPY_MAX_N + i));

        assert_int_equal(vgpu_get_le32(r.out + i * VGPU_ELEM_SIZE), f2u(want));
    }
    big_end(&r);
}

static void
test_q_dot_max(void **state)
{
    struct big_run r;
    float acc = 0.0f;

    (void)state;
    big_begin(&r, VGPU_OP_DOT_F32, Q_ADD_MAX_N, 0, 0);
    big_fill_f32(&r, VGPU_OP_HDR_SIZE, 7);
    for (size_t i = 0; i < Q_ADD_MAX_N; i++) {
        volatile float prod =
            big_in_f32(&r, VGPU_OP_HDR_SIZE, i) *
            big_in_f32(&r, VGPU_OP_HDR_SIZE, Q_ADD_MAX_N + i); /* unfused */
        acc = acc + prod;
    }
    big_exec(&r, VGPU_ELEM_SIZE);
    assert_int_equal(vgpu_get_le32(r.out), f2u(acc));
    big_end(&r);
}

/* MATMUL at the queue's limits, bit-equal to the SPEC's loop. */
static void
check_q_matmul(uint32_t m, uint32_t k, uint32_t p, uint32_t seed)
{
    struct big_run r;
    size_t a = VGPU_MATMUL_HDR_SIZE;
    size_t b = a + (size_t)m * k * VGPU_ELEM_SIZE;

    assert_true((uint64_t)m * k + (uint64_t)k * p <= Q_MATMUL_MAX_IN);
    assert_true((uint64_t)m * p <= Q_MATMUL_MAX_OUT);
    big_begin(&r, VGPU_OP_MATMUL_F32, m, k, p);
    big_fill_f32(&r, VGPU_MATMUL_HDR_SIZE, seed);
    big_exec(&r, (size_t)m * p * VGPU_ELEM_SIZE);
    for (size_t i = 0; i < m; i++) {
        for (size_t j = 0; j < p; j++) {
            float acc = 0.0f;

            for (size_t t = 0; t < k; t++) {
                acc = fmaf(big_in_f32(&r, a, i * k + t),
                           big_in_f32(&r, b, t * p + j), acc);
            }
            assert_int_equal(vgpu_get_le32(r.out + (i * p + j) * 4u), f2u(acc));
        }
    }
    big_end(&r);
}

static void
test_q_matmul_max(void **state)
{
    (void)state;
    /* m*k + k*p = 262140 inputs (1 MiB request), 4 outputs. */
    check_q_matmul(2, 65535, 2, 31);
    /* m*p = 262144 outputs (1 MiB response); with k = 0 each is +0. */
    check_q_matmul(512, 0, 512, 32);
    /* Both large: 362 x 362 x 362, 262088 inputs, 131044 outputs. */
    check_q_matmul(362, 362, 362, 33);
    /* One row by a wide B: 1 + 262139 inputs, 262139 outputs. */
    check_q_matmul(1, 1, 262139, 34);
}

int
main(void)
{
    static const struct CMUnitTest tests[] = {
        VGPU_TEST("/backend/cpu/find", test_find),
        VGPU_TEST("/backend/cpu/open", test_open),
        VGPU_TEST("/backend/cpu/open/spec-bad", test_open_spec_bad),
        VGPU_TEST("/backend/cpu/open/spec-good", test_open_spec_good),
        VGPU_TEST("/backend/cpu/open/spec-delay", test_open_spec_delay),
        VGPU_TEST("/backend/cpu/nop", test_nop),
        VGPU_TEST("/backend/cpu/echo/basic", test_echo),
        VGPU_TEST("/backend/cpu/echo/max-n", test_echo_max),
        VGPU_TEST("/backend/cpu/add_i32/basic", test_add_i32),
        VGPU_TEST("/backend/cpu/add_i32/wrap", test_add_i32_wrap),
        VGPU_TEST("/backend/cpu/add_i32/max-n", test_add_i32_max),
        VGPU_TEST("/backend/cpu/add_f32/basic", test_add_f32),
        VGPU_TEST("/backend/cpu/add_f32/nan-inf", test_add_f32_special),
        VGPU_TEST("/backend/cpu/saxpy_f32/basic", test_saxpy),
        VGPU_TEST("/backend/cpu/saxpy_f32/fused", test_saxpy_fused),
        VGPU_TEST("/backend/cpu/saxpy_f32/nan-inf", test_saxpy_special),
        VGPU_TEST("/backend/cpu/saxpy_f32/max-n", test_saxpy_max),
        VGPU_TEST("/backend/cpu/dot_f32/basic", test_dot),
        VGPU_TEST("/backend/cpu/dot_f32/in-order", test_dot_order),
        VGPU_TEST("/backend/cpu/dot_f32/unfused", test_dot_unfused),
        VGPU_TEST("/backend/cpu/dot_f32/max-n", test_dot_max),
        VGPU_TEST("/backend/cpu/matmul_f32/2x3x2", test_matmul),
        VGPU_TEST("/backend/cpu/matmul_f32/reference", test_matmul_reference),
        VGPU_TEST("/backend/cpu/matmul_f32/max", test_matmul_max),
        VGPU_TEST("/backend/cpu/matmul_f32/fused", test_matmul_fused),
        VGPU_TEST("/backend/cpu/matmul_f32/k0", test_matmul_k0),
        VGPU_TEST("/backend/cpu/response-too-large", test_too_large),
        VGPU_TEST("/backend/cpu/bad-descriptor", test_bad_desc),
        VGPU_TEST("/backend/cpu/queue/echo/max-n", test_q_echo_max),
        VGPU_TEST("/backend/cpu/queue/add_i32/max-n", test_q_add_i32_max),
        VGPU_TEST("/backend/cpu/queue/add_f32/max-n", test_q_add_f32_max),
        VGPU_TEST("/backend/cpu/queue/saxpy_f32/max-n", test_q_saxpy_max),
        VGPU_TEST("/backend/cpu/queue/dot_f32/max-n", test_q_dot_max),
        VGPU_TEST("/backend/cpu/queue/matmul_f32/max-n", test_q_matmul_max),
    };

    return cmocka_run_group_tests_name("backend_cpu", tests, NULL, NULL);
}
