/*
 * libvgpu-guest over the sim bus: the whole guest -> devmodel -> backend path
 * in one process. The device's transport runs each request synchronously
 * through vgpu_op_validate() and the CPU backend and completes it, so every
 * typed helper is checked against exact results; other transport modes hold
 * a request, fail it, or answer it wrongly.
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
#include "vgpu/devmodel.h"
#include "vgpu/guest.h"
#include "vgpu/proto.h"

#define ERR_LEN 256

enum transport_mode {
    MODE_CPU,         /* validate, execute on the CPU backend, complete */
    MODE_HOLD,        /* accept and never complete */
    MODE_FAIL,        /* complete with BACKEND_ERROR and f->message */
    MODE_UNAVAILABLE, /* refuse: MEDIATOR_UNAVAILABLE, no message */
    MODE_SHORT,       /* execute, but answer 4 bytes short */
};

struct fake {
    struct vgpu_dev dev;
    void *cpu;
    enum transport_mode mode;
    const char *message;
    int submits;
    uint32_t last_gen;
    uint32_t last_id;
    uint64_t clock_ns;
    int irq_level;
    int irq_waits;
    struct vgpu_client *c;
};

static int
fake_submit(void *opaque, const struct vgpu_request *req)
{
    struct fake *f = opaque;
    struct vgpu_op_desc d;
    uint8_t out[VGPU_BUF_SIZE];
    char why[128] = "";
    size_t out_len = 0;
    int st;

    f->submits++;
    f->last_gen = req->generation;
    f->last_id = req->request_id;
    switch (f->mode) {
    case MODE_HOLD:
        return 0;
    case MODE_UNAVAILABLE:
        return VGPU_ERR_MEDIATOR_UNAVAILABLE;
    case MODE_FAIL:
        vgpu_dev_complete(&f->dev, req->generation, req->request_id,
                          VGPU_ERR_BACKEND_ERROR, (const uint8_t *)f->message,
                          strlen(f->message));
        return 0;
    case MODE_CPU:
    case MODE_SHORT:
        break;
    }
    if (vgpu_op_validate(req->data, req->len, &d, why, sizeof(why)) != 0) {
        vgpu_dev_complete(&f->dev, req->generation, req->request_id,
                          VGPU_ERR_INVALID_REQUEST, (const uint8_t *)why,
                          strlen(why));
        return 0;
    }
    st = vgpu_backend_cpu.exec(f->cpu, &d, out, sizeof(out), &out_len, why,
                               sizeof(why));
    if (st != VGPU_ERR_NONE) {
        vgpu_dev_complete(&f->dev, req->generation, req->request_id,
                          (uint32_t)st, (const uint8_t *)why, strlen(why));
        return 0;
    }
    if (f->mode == MODE_SHORT && out_len >= VGPU_ELEM_SIZE) {
        out_len -= VGPU_ELEM_SIZE;
    }
    vgpu_dev_complete(&f->dev, req->generation, req->request_id, VGPU_ERR_NONE,
                      out, out_len);
    return 0;
}

static void
fake_set_irq(void *opaque, int level)
{
    struct fake *f = opaque;

    f->irq_level = level;
}

static uint64_t
fake_now(void *opaque)
{
    struct fake *f = opaque;

    return f->clock_ns += 1000;
}

static const struct vgpu_dev_ops fake_ops = {
    .submit = fake_submit,
    .set_irq = fake_set_irq,
    .now_ns = fake_now,
    .guest_error = NULL,
};

static struct fake *
fake_new(void)
{
    static const struct vgpu_dev_config cfg = {
        .pool_id = 'B', .priority = VGPU_PRIO_HIGH, .vm_id = 200};
    struct fake *f = calloc(1, sizeof(*f));

    assert_non_null(f);
    assert_int_equal(vgpu_dev_init(&f->dev, &cfg, &fake_ops, f), 0);
    assert_int_equal(vgpu_backend_cpu.open("", &f->cpu, NULL, 0), 0);
    return f;
}

static void
fake_free(struct fake *f)
{
    vgpu_close(f->c);
    vgpu_backend_cpu.close(f->cpu);
    vgpu_dev_fini(&f->dev);
    free(f);
}

static int
setup(void **state)
{
    struct fake *f = fake_new();
    char err[ERR_LEN] = "";

    f->c = vgpu_open_bus(&vgpu_bus_sim, &f->dev, err, sizeof(err));
    if (f->c == NULL) {
        fail_msg("vgpu_open_bus: %s", err);
    }
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    fake_free(*state);
    return 0;
}

static uint32_t
reg(struct fake *f, uint32_t off)
{
    return (uint32_t)vgpu_dev_mmio_read(&f->dev, off, VGPU_REG_SIZE);
}

static uint32_t
f2u(float v)
{
    uint32_t u;

    memcpy(&u, &v, sizeof(u));
    return u;
}

/* Deterministic values of varied sign and magnitude, so that the order of
 * float additions shows in the result. */
static float
rnd(uint32_t *s)
{
    static const float scale[] = {1e-2f, 0.3f, 1.0f, 7.0f, 1e2f};

    *s = *s * 1664525u + 1013904223u;
    return ((float)(*s >> 8) / 16777216.0f - 0.5f) * scale[(*s >> 27) % 5];
}

static double
elapsed_ms(const struct timespec *a)
{
    struct timespec b;

    clock_gettime(CLOCK_MONOTONIC, &b);
    return (double)(b.tv_sec - a->tv_sec) * 1e3 +
           (double)(b.tv_nsec - a->tv_nsec) / 1e6;
}

/* ---- Opening ------------------------------------------------------------ */

static void
test_info(void **state)
{
    struct fake *f = *state;
    struct vgpu_info info;
    void *ctx = NULL;

    assert_int_equal(vgpu_info(f->c, &info), 0);
    assert_int_equal(info.pool, 'B');
    assert_int_equal(info.priority, VGPU_PRIO_HIGH);
    assert_int_equal(info.vm_id, 200);
    assert_int_equal(info.protocol_version, VGPU_PROTOCOL_VERSION);
    assert_int_equal(info.capabilities, VGPU_CAPABILITIES);
    assert_ptr_equal(vgpu_bus(f->c, &ctx), &vgpu_bus_sim);
    assert_ptr_equal(ctx, &f->dev);
    /* The sim bus has no interrupt: the client polls, IRQ_CTRL stays 0. */
    assert_int_equal(reg(f, VGPU_REG_IRQ_CTRL), 0);
}

/* A bus in front of the sim bus whose PROTOCOL_VER and identity a test
 * chooses. */
static uint32_t fake_version;
static uint16_t fake_vendor;
static uint8_t fake_revision;

static uint32_t
versioned_read32(void *ctx, uint32_t off)
{
    if (off == VGPU_REG_PROTOCOL_VER) {
        return fake_version;
    }
    return vgpu_bus_sim.read32(ctx, off);
}

static int
fake_identity(void *ctx, uint16_t *vendor, uint16_t *device, uint8_t *revision)
{
    *vendor = fake_vendor;
    *device = VGPU_PCI_DEVICE_ID;
    *revision = fake_revision;
    return 0;
}

static struct vgpu_bus_ops
wrapped_bus(void)
{
    struct vgpu_bus_ops ops = vgpu_bus_sim;

    ops.name = "test";
    ops.read32 = versioned_read32;
    ops.identity = fake_identity;
    fake_version = VGPU_PROTOCOL_VERSION;
    fake_vendor = VGPU_PCI_VENDOR_ID;
    fake_revision = VGPU_PCI_REVISION;
    return ops;
}

static void
test_open_protocol(void **state)
{
    struct fake *f = fake_new();
    struct vgpu_bus_ops ops = wrapped_bus();
    struct vgpu_client *c;
    char err[ERR_LEN] = "";

    fake_version = 0x00020000u; /* major 2 */
    errno = 0;
    assert_null(vgpu_open_bus(&ops, &f->dev, err, sizeof(err)));
    assert_int_equal(errno, EPROTO);
    assert_non_null(strstr(err, "0x00020000"));
    assert_non_null(strstr(err, "major 2"));

    fake_version = 0xFFFFFFFFu; /* a BAR that reads all ones */
    assert_null(vgpu_open_bus(&ops, &f->dev, err, sizeof(err)));

    fake_version = VGPU_PROTOCOL_VERSION + 3u; /* another minor: fine */
    c = vgpu_open_bus(&ops, &f->dev, err, sizeof(err));
    assert_non_null(c);
    vgpu_close(c);
    fake_free(f);
}

static void
test_open_identity(void **state)
{
    struct fake *f = fake_new();
    struct vgpu_bus_ops ops = wrapped_bus();
    char err[ERR_LEN] = "";

    fake_vendor = 0x8086u;
    errno = 0;
    assert_null(vgpu_open_bus(&ops, &f->dev, err, sizeof(err)));
    assert_int_equal(errno, ENODEV);
    assert_non_null(strstr(err, "not a vgpu-stub"));
    assert_non_null(strstr(err, "vendor 0x8086"));

    fake_vendor = VGPU_PCI_VENDOR_ID;
    fake_revision = 0x03u;
    assert_null(vgpu_open_bus(&ops, &f->dev, err, sizeof(err)));
    assert_non_null(strstr(err, "revision 0x03"));

    assert_null(vgpu_open_bus(NULL, &f->dev, err, sizeof(err)));
    fake_free(f);
}

/* ---- Typed helpers ------------------------------------------------------ */

static void
test_nop(void **state)
{
    struct fake *f = *state;

    assert_int_equal(vgpu_nop(f->c), 0);
    assert_int_equal(f->submits, 1);
    assert_int_equal(reg(f, VGPU_REG_STATUS), VGPU_STATUS_DONE);
    /* wait() cleared the completion */
    assert_int_equal(reg(f, VGPU_REG_IRQ_STATUS), 0);
}

static void
test_echo_split(void **state)
{
    struct fake *f = *state;
    enum { N = 3000 }; /* 1016 + 1016 + 968 */
    uint8_t in[N];
    uint8_t out[N];

    for (size_t i = 0; i < N; i++) {
        in[i] = (uint8_t)(i * 7u + 3u);
    }
    memset(out, 0, sizeof(out));
    assert_int_equal(vgpu_echo(f->c, in, out, N), 0);
    assert_int_equal(f->submits, 3);
    assert_memory_equal(in, out, N);

    /* 13 bytes: one request, a tail that is not a multiple of 8 */
    memset(out, 0, sizeof(out));
    assert_int_equal(vgpu_echo(f->c, in + 1, out, 13), 0);
    assert_int_equal(f->submits, 4);
    assert_memory_equal(in + 1, out, 13);
    assert_int_equal(out[13], 0);
}

static void
test_add_i32_split(void **state)
{
    struct fake *f = *state;
    enum { N = 1000 }; /* 7 * 127 + 111: 8 requests */
    int32_t a[N], b[N], out[N];

    for (size_t i = 0; i < N; i++) {
        a[i] = (int32_t)(i * 1000003u);
        b[i] = (int32_t)(0x7FFFFF00u + i); /* wraps for large a */
    }
    a[0] = INT32_MAX;
    b[0] = 1;
    assert_int_equal(vgpu_add_i32(f->c, a, b, out, N), 0);
    assert_int_equal(f->submits, 8);
    for (size_t i = 0; i < N; i++) {
        uint32_t want = (uint32_t)a[i] + (uint32_t)b[i];

        assert_int_equal((uint32_t)out[i], want);
    }
    assert_int_equal(out[0], INT32_MIN);
}

static void
test_add_i32_one(void **state)
{
    struct fake *f = *state;
    int32_t a = 100, b = 200, out = 0;

    assert_int_equal(vgpu_add_i32(f->c, &a, &b, &out, 1), 0);
    assert_int_equal(out, 300);
    assert_int_equal(f->submits, 1);
}

/* Exactly two full requests, then one element more: a third. */
static void
test_split_boundaries(void **state)
{
    struct fake *f = *state;
    static uint8_t bytes[2 * VGPU_ECHO_MAX_N + 1];
    static float x[2 * VGPU_ADD_MAX_N + 1], y[2 * VGPU_ADD_MAX_N + 1];
    static float out[2 * VGPU_ADD_MAX_N + 1];
    static int32_t xi[2 * VGPU_ADD_MAX_N + 1], outi[2 * VGPU_ADD_MAX_N + 1];
    static const struct {
        uint32_t op;
        size_t max_n;
    } cases[] = {
        {VGPU_OP_ECHO, VGPU_ECHO_MAX_N},
        {VGPU_OP_ADD_I32, VGPU_ADD_MAX_N},
        {VGPU_OP_ADD_F32, VGPU_ADD_MAX_N},
        {VGPU_OP_SAXPY_F32, VGPU_SAXPY_MAX_N},
        {VGPU_OP_DOT_F32, VGPU_DOT_MAX_N},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        for (size_t extra = 0; extra < 2; extra++) {
            size_t n = 2 * cases[i].max_n + extra;
            int before = f->submits;
            int rc = -1;

            switch (cases[i].op) {
            case VGPU_OP_ECHO:
                rc = vgpu_echo(f->c, bytes, bytes, n);
                break;
            case VGPU_OP_ADD_I32:
                rc = vgpu_add_i32(f->c, xi, xi, outi, n);
                break;
            case VGPU_OP_ADD_F32:
                rc = vgpu_add_f32(f->c, x, y, out, n);
                break;
            case VGPU_OP_SAXPY_F32:
                rc = vgpu_saxpy_f32(f->c, 2.0f, x, y, out, n);
                break;
            case VGPU_OP_DOT_F32:
                rc = vgpu_dot_f32(f->c, x, y, out, n);
                break;
            }
            assert_int_equal(rc, 0);
            assert_int_equal(f->submits - before, 2 + (int)extra);
        }
    }
    /* An empty vector is still one request. */
    assert_int_equal(vgpu_add_i32(f->c, NULL, NULL, NULL, 0), 0);
    assert_int_equal(vgpu_dot_f32(f->c, NULL, NULL, out, 0), 0);
    assert_int_equal(f2u(out[0]), f2u(0.0f));
}

static void
test_add_f32(void **state)
{
    struct fake *f = *state;
    enum { N = 300 };
    float a[N], b[N], out[N];
    uint32_t s = 1;

    for (size_t i = 0; i < N; i++) {
        a[i] = rnd(&s);
        b[i] = rnd(&s);
    }
    assert_int_equal(vgpu_add_f32(f->c, a, b, out, N), 0);
    assert_int_equal(f->submits, 3);
    for (size_t i = 0; i < N; i++) {
        assert_int_equal(f2u(out[i]), f2u(a[i] + b[i]));
    }
}

static void
test_saxpy_split(void **state)
{
    struct fake *f = *state;
    enum { N = 1000 }; /* 7 * 126 + 118: 8 requests */
    float x[N], y[N], out[N];
    float alpha = 1.0f / 3.0f;
    uint32_t s = 2;

    for (size_t i = 0; i < N; i++) {
        x[i] = rnd(&s);
        y[i] = rnd(&s);
    }
    assert_int_equal(vgpu_saxpy_f32(f->c, alpha, x, y, out, N), 0);
    assert_int_equal(f->submits, 8);
    for (size_t i = 0; i < N; i++) {
        assert_int_equal(f2u(out[i]), f2u(fmaf(alpha, x[i], y[i])));
    }
}

/* DOT_F32 as the CPU backend computes it: rounded products, summed in
 * order from +0 (this file is compiled with -ffp-contract=off). */
static float
dot_ref(const float *x, const float *y, size_t n)
{
    float acc = 0.0f;

    for (size_t i = 0; i < n; i++) {
        float prod = x[i] * y[i];

        acc = acc + prod;
    }
    return acc;
}

static void
test_dot_split(void **state)
{
    struct fake *f = *state;
    enum { N = 1000 };
    float x[N], y[N], out = 0.0f;
    float want = 0.0f;
    uint32_t s = 3;

    for (size_t i = 0; i < N; i++) {
        x[i] = rnd(&s);
        y[i] = rnd(&s);
    }
    /* The in-order sum of the chunks' dots: 7 of 127 and one of 111. */
    for (size_t at = 0; at < N; at += VGPU_DOT_MAX_N) {
        size_t cnt = N - at < VGPU_DOT_MAX_N ? N - at : VGPU_DOT_MAX_N;
        float part = dot_ref(x + at, y + at, cnt);

        want = at == 0 ? part : want + part;
    }
    assert_int_equal(vgpu_dot_f32(f->c, x, y, &out, N), 0);
    assert_int_equal(f->submits, 8);
    assert_int_equal(f2u(out), f2u(want));
    /* The data is such that the chunking shows: one long dot differs. */
    assert_int_not_equal(f2u(want), f2u(dot_ref(x, y, N)));

    /* One request: exactly the backend's dot. */
    assert_int_equal(vgpu_dot_f32(f->c, x, y, &out, 100), 0);
    assert_int_equal(f->submits, 9);
    assert_int_equal(f2u(out), f2u(dot_ref(x, y, 100)));
}

static void
matmul_ref(const float *a, const float *b, float *c, uint32_t m, uint32_t k,
           uint32_t p)
{
    for (uint32_t i = 0; i < m; i++) {
        for (uint32_t j = 0; j < p; j++) {
            float acc = 0.0f;

            for (uint32_t t = 0; t < k; t++) {
                acc = fmaf(a[i * k + t], b[t * p + j], acc);
            }
            c[i * p + j] = acc;
        }
    }
}

static void
check_matmul(struct fake *f, uint32_t m, uint32_t k, uint32_t p, int requests)
{
    float *a = calloc((size_t)m * k + 1, sizeof(float));
    float *b = calloc((size_t)k * p + 1, sizeof(float));
    float *out = calloc((size_t)m * p + 1, sizeof(float));
    float *want = calloc((size_t)m * p + 1, sizeof(float));
    uint32_t s = m * 131u + k * 7u + p;
    int before = f->submits;

    assert_true(a && b && out && want);
    for (size_t i = 0; i < (size_t)m * k; i++) {
        a[i] = rnd(&s);
    }
    for (size_t i = 0; i < (size_t)k * p; i++) {
        b[i] = rnd(&s);
    }
    matmul_ref(a, b, want, m, k, p);
    assert_int_equal(vgpu_matmul_f32(f->c, a, b, out, m, k, p), 0);
    assert_int_equal(f->submits - before, requests);
    for (size_t i = 0; i < (size_t)m * p; i++) {
        assert_int_equal(f2u(out[i]), f2u(want[i]));
    }
    free(a);
    free(b);
    free(out);
    free(want);
}

static void
test_matmul_split(void **state)
{
    struct fake *f = *state;

    /* 40x5 * 5x10: at most 25 rows per request (m*p <= 256): 25 + 15 */
    check_matmul(f, 40, 5, 10, 2);
    /* 100x2 * 2x2: (252 - 4) / 2 = 124 rows fit: one request */
    check_matmul(f, 100, 2, 2, 1);
    /* 300x2 * 2x2: 124 + 124 + 52 */
    check_matmul(f, 300, 2, 2, 3);
    /* 4x3 * 3x2 */
    check_matmul(f, 4, 3, 2, 1);
}

static void
test_matmul_too_big(void **state)
{
    struct fake *f = *state;
    static float a[16 * 16], b[16 * 300], out[16 * 300];

    /* k*p + k = 272 > 252: not one row fits */
    assert_int_equal(vgpu_matmul_f32(f->c, a, b, out, 1, 16, 16), -E2BIG);
    /* p = 300 > 256 outputs per row */
    assert_int_equal(vgpu_matmul_f32(f->c, a, b, out, 1, 0, 300), -E2BIG);
    assert_int_equal(f->submits, 0);
}

static void
test_helpers_null(void **state)
{
    struct fake *f = *state;
    int32_t v = 0;

    assert_int_equal(vgpu_add_i32(f->c, NULL, &v, &v, 1), -EINVAL);
    assert_int_equal(vgpu_echo(f->c, NULL, &v, 1), -EINVAL);
    assert_int_equal(vgpu_dot_f32(f->c, NULL, NULL, NULL, 0), -EINVAL);
    assert_int_equal(vgpu_nop(NULL), -EINVAL);
    assert_int_equal(f->submits, 0);
}

static void
test_wrong_response_len(void **state)
{
    struct fake *f = *state;
    int32_t a[4] = {1, 2, 3, 4}, out[4];

    f->mode = MODE_SHORT;
    assert_int_equal(vgpu_add_i32(f->c, a, a, out, 4), -EPROTO);
}

/* ---- Requests, ids and errors ------------------------------------------- */

static void
test_request_ids(void **state)
{
    struct fake *f = fake_new();
    char err[ERR_LEN] = "";
    uint8_t req[VGPU_OP_HDR_SIZE];
    uint32_t id = 0;

    /* The counter starts after what REQUEST_ID holds at open. */
    vgpu_dev_mmio_write(&f->dev, VGPU_REG_REQUEST_ID, 41, VGPU_REG_SIZE);
    f->c = vgpu_open_bus(&vgpu_bus_sim, &f->dev, err, sizeof(err));
    assert_non_null(f->c);
    vgpu_put_le32(req, VGPU_OP_NOP);
    vgpu_put_le32(req + 4, 0);
    for (uint32_t want = 42; want < 45; want++) {
        assert_int_equal(vgpu_submit(f->c, req, sizeof(req), &id), 0);
        assert_int_equal(id, want);
        assert_int_equal(f->last_id, want); /* what the device latched */
        assert_int_equal(vgpu_wait(f->c, 1000, NULL, 0, NULL), 0);
    }
    /* The typed helpers take ids from the same counter. */
    assert_int_equal(vgpu_nop(f->c), 0);
    assert_int_equal(f->last_id, 45);
    fake_free(f);
}

static void
test_busy(void **state)
{
    struct fake *f = *state;
    uint8_t req[VGPU_OP_HDR_SIZE + 4];
    uint8_t resp[8];
    uint32_t id = 0;
    size_t len = 0;

    vgpu_put_le32(req, VGPU_OP_ECHO);
    vgpu_put_le32(req + 4, 4);
    memcpy(req + 8, "ping", 4);
    f->mode = MODE_HOLD;
    assert_int_equal(vgpu_submit(f->c, req, sizeof(req), &id), 0);
    assert_int_equal(vgpu_submit(f->c, req, sizeof(req), NULL), VGPU_E_BUSY);
    assert_int_equal(vgpu_last_error(f->c)->code, VGPU_ERR_BUSY);
    assert_int_equal(f->submits, 1);
    assert_int_equal(vgpu_nop(f->c), VGPU_E_BUSY);

    /* The held request ends; its waiter gets the answer. */
    assert_int_equal(vgpu_dev_complete(&f->dev, f->last_gen, id, VGPU_ERR_NONE,
                                       (const uint8_t *)"pong", 4),
                     0);
    assert_int_equal(vgpu_wait(f->c, 1000, resp, sizeof(resp), &len), 0);
    assert_int_equal(len, 4);
    assert_memory_equal(resp, "pong", 4);
}

static void
test_bad_length(void **state)
{
    struct fake *f = *state;
    static uint8_t req[VGPU_BUF_SIZE + 1];
    struct vgpu_dev_stats st;

    assert_int_equal(vgpu_submit(f->c, req, 0, NULL), -EINVAL);
    assert_int_equal(vgpu_submit(f->c, req, VGPU_BUF_SIZE + 1, NULL), -EINVAL);
    assert_int_equal(vgpu_submit(f->c, NULL, 8, NULL), -EINVAL);
    vgpu_dev_get_stats(&f->dev, &st);
    assert_int_equal(st.doorbells, 0);
    assert_int_equal(st.errors, 0); /* the device never saw a doorbell */
    assert_int_equal(reg(f, VGPU_REG_STATUS), VGPU_STATUS_IDLE);
}

static void
test_error_message(void **state)
{
    struct fake *f = *state;
    const struct vgpu_error *e;

    f->mode = MODE_FAIL;
    f->message = "boom";
    assert_int_equal(vgpu_nop(f->c), VGPU_E_DEVICE);
    e = vgpu_last_error(f->c);
    assert_int_equal(e->code, VGPU_ERR_BACKEND_ERROR);
    assert_string_equal(e->message, "boom");
    assert_int_equal(reg(f, VGPU_REG_IRQ_STATUS), 0);

    /* Control bytes would break a one-line report. */
    f->message = "two\nlines";
    assert_int_equal(vgpu_nop(f->c), VGPU_E_DEVICE);
    assert_string_equal(vgpu_last_error(f->c)->message, "two?lines");
}

static void
test_error_without_message(void **state)
{
    struct fake *f = *state;
    const struct vgpu_error *e;

    f->mode = MODE_FAIL;
    f->message = "stale";
    assert_int_equal(vgpu_nop(f->c), VGPU_E_DEVICE);
    f->mode = MODE_UNAVAILABLE;
    assert_int_equal(vgpu_nop(f->c), VGPU_E_DEVICE);
    e = vgpu_last_error(f->c);
    assert_int_equal(e->code, VGPU_ERR_MEDIATOR_UNAVAILABLE);
    assert_string_equal(e->message, "");
}

static void
test_invalid_request(void **state)
{
    struct fake *f = *state;
    uint8_t req[VGPU_OP_HDR_SIZE + 7];

    memset(req, 0, sizeof(req));
    vgpu_put_le32(req, VGPU_OP_ADD_I32);
    vgpu_put_le32(req + 4, 1); /* needs 8 operand bytes, has 7 */
    assert_int_equal(vgpu_call(f->c, req, sizeof(req), NULL, 0, NULL, 1000),
                     VGPU_E_DEVICE);
    assert_int_equal(vgpu_last_error(f->c)->code, VGPU_ERR_INVALID_REQUEST);
    assert_true(strlen(vgpu_last_error(f->c)->message) > 0);
}

static void
test_timeout(void **state)
{
    struct fake *f = *state;
    struct timespec t0;
    double ms;

    f->mode = MODE_HOLD;
    vgpu_set_timeout(f->c, 50);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_int_equal(vgpu_nop(f->c), -ETIMEDOUT);
    ms = elapsed_ms(&t0);
    assert_true(ms >= 50.0);
    assert_true(ms < 1000.0);
    /* Still in flight: a zero timeout answers at once. */
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_int_equal(vgpu_wait(f->c, 0, NULL, 0, NULL), -ETIMEDOUT);
    assert_true(elapsed_ms(&t0) < 50.0);
}

static void
test_reset_cancels(void **state)
{
    struct fake *f = *state;
    uint8_t req[VGPU_OP_HDR_SIZE];
    struct timespec t0;

    vgpu_put_le32(req, VGPU_OP_NOP);
    vgpu_put_le32(req + 4, 0);
    f->mode = MODE_HOLD;
    assert_int_equal(vgpu_submit(f->c, req, sizeof(req), NULL), 0);
    vgpu_dev_reset(&f->dev); /* abandons the request: STATUS IDLE */
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_int_equal(vgpu_wait(f->c, 5000, NULL, 0, NULL), -ECANCELED);
    assert_true(elapsed_ms(&t0) < 1000.0);
}

static void
test_enobufs(void **state)
{
    struct fake *f = *state;
    uint8_t req[VGPU_OP_HDR_SIZE + 16];
    uint8_t resp[8];
    size_t len = 0;

    memset(req, 'e', sizeof(req));
    vgpu_put_le32(req, VGPU_OP_ECHO);
    vgpu_put_le32(req + 4, 16);
    assert_int_equal(
        vgpu_call(f->c, req, sizeof(req), resp, sizeof(resp), &len, 1000),
        -ENOBUFS);
    assert_int_equal(len, 16); /* the size that was needed */
    assert_int_equal(reg(f, VGPU_REG_IRQ_STATUS), 0);
}

/* ---- The interrupt path ------------------------------------------------- */

/* A sim bus with a wait_irq that ends the held request, as a completion
 * interrupt would announce it. */
static struct fake *irq_fake;

static int
fake_wait_irq(void *ctx, int timeout_ms)
{
    struct fake *f = irq_fake;

    f->irq_waits++;
    if (f->irq_waits == 1) {
        return 1; /* a spurious (shared) interrupt: still BUSY */
    }
    vgpu_dev_complete(&f->dev, f->last_gen, f->last_id, VGPU_ERR_NONE,
                      (const uint8_t *)"irq!", 4);
    return f->irq_level ? 1 : 0;
}

static void
test_irq_wait(void **state)
{
    struct fake *f = fake_new();
    struct vgpu_bus_ops ops = vgpu_bus_sim;
    char err[ERR_LEN] = "";
    uint8_t out[4];

    ops.wait_irq = fake_wait_irq;
    irq_fake = f;
    f->c = vgpu_open_bus(&ops, &f->dev, err, sizeof(err));
    assert_non_null(f->c);
    assert_int_equal(reg(f, VGPU_REG_IRQ_CTRL), VGPU_IRQ_CTRL_ENABLE);
    f->mode = MODE_HOLD;
    assert_int_equal(vgpu_echo(f->c, "abcd", out, 4), 0);
    assert_memory_equal(out, "irq!", 4);
    assert_int_equal(f->irq_waits, 2);
    /* The line went up with the completion, and down at the clear. */
    assert_int_equal(f->irq_level, 0);
    assert_int_equal(reg(f, VGPU_REG_IRQ_STATUS), 0);
    vgpu_close(f->c);
    f->c = NULL;
    assert_int_equal(reg(f, VGPU_REG_IRQ_CTRL), 0);
    fake_free(f);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        VGPU_TEST_FIXTURE("/guest/open/info", test_info, setup, teardown),
        VGPU_TEST("/guest/open/protocol_major", test_open_protocol),
        VGPU_TEST("/guest/open/identity", test_open_identity),
        VGPU_TEST_FIXTURE("/guest/ops/nop", test_nop, setup, teardown),
        VGPU_TEST_FIXTURE("/guest/ops/echo_split", test_echo_split, setup,
                          teardown),
        VGPU_TEST_FIXTURE("/guest/ops/add_i32_one", test_add_i32_one, setup,
                          teardown),
        VGPU_TEST_FIXTURE("/guest/ops/add_i32_split", test_add_i32_split, setup,
                          teardown),
        VGPU_TEST_FIXTURE("/guest/ops/split_boundaries", test_split_boundaries,
                          setup, teardown),
        VGPU_TEST_FIXTURE("/guest/ops/add_f32", test_add_f32, setup, teardown),
        VGPU_TEST_FIXTURE("/guest/ops/saxpy_split", test_saxpy_split, setup,
                          teardown),
        VGPU_TEST_FIXTURE("/guest/ops/dot_split", test_dot_split, setup,
                          teardown),
        VGPU_TEST_FIXTURE("/guest/ops/matmul_split_rows", test_matmul_split,
                          setup, teardown),
        VGPU_TEST_FIXTURE("/guest/ops/matmul_too_big", test_matmul_too_big,
                          setup, teardown),
        VGPU_TEST_FIXTURE("/guest/ops/null_args", test_helpers_null, setup,
                          teardown),
        VGPU_TEST_FIXTURE("/guest/ops/wrong_response_len",
                          test_wrong_response_len, setup, teardown),
        VGPU_TEST("/guest/submit/request_ids", test_request_ids),
        VGPU_TEST_FIXTURE("/guest/submit/busy", test_busy, setup, teardown),
        VGPU_TEST_FIXTURE("/guest/submit/bad_length", test_bad_length, setup,
                          teardown),
        VGPU_TEST_FIXTURE("/guest/wait/error_message", test_error_message,
                          setup, teardown),
        VGPU_TEST_FIXTURE("/guest/wait/error_without_message",
                          test_error_without_message, setup, teardown),
        VGPU_TEST_FIXTURE("/guest/wait/invalid_request", test_invalid_request,
                          setup, teardown),
        VGPU_TEST_FIXTURE("/guest/wait/timeout", test_timeout, setup, teardown),
        VGPU_TEST_FIXTURE("/guest/wait/reset_cancels", test_reset_cancels,
                          setup, teardown),
        VGPU_TEST_FIXTURE("/guest/wait/enobufs", test_enobufs, setup, teardown),
        VGPU_TEST("/guest/wait/irq", test_irq_wait),
    };

    return cmocka_run_group_tests_name("guest", tests, NULL, NULL);
}
