/*
 * libvgpu-sim: the whole guest -> devmodel -> codec -> mediator core ->
 * scheduler -> backend -> codec -> devmodel flow in one process, through
 * libvgpu-guest's typed helpers, with exact results; the error paths of
 * SPEC.md section 4; and the socket transport against a fake mediator (a
 * thread in this test) that answers, stays silent, hangs up, answers late
 * or too much, as each case needs.
 *
 * RESPONSE_TOO_LARGE has two paths and both are tested: the core refuses a
 * request whose response would not fit before executing it (MATMUL_F32
 * 20x0x20: a RESPONSE with status RESPONSE_TOO_LARGE and a message), and
 * the device itself reads and discards a RESPONSE payload over 1024 bytes
 * (the fake mediator sends 2000 bytes: ERROR with no message, and the
 * connection stays up).
 */
#include <errno.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "vgpu_test.h"

#include "vgpu/backend.h"
#include "vgpu/devmodel.h"
#include "vgpu/guest.h"
#include "vgpu/mediator.h"
#include "vgpu/proto.h"
#include "vgpu/sim.h"

#define ERR_LEN      256
#define WAIT_MS      3000
#define N_LONG       300 /* more than one request of ADD/DOT holds */
#define ISO_VMS      32u
#define ISO_N        16u
#define BIG_RESPONSE 2000u
#define TIMEOUT_MS   100u
#define THREAD_CALLS 200
#define FAKE_POLL_MS 20
#define FAKE_HELD    4

/* ---- Helpers ------------------------------------------------------------- */

static struct vgpu_sim *
sim_new(int mode, unsigned n, const struct vgpu_sim_vm *vms,
        const char *socket_path)
{
    struct vgpu_sim_config cfg = {
        .mode = mode,
        .n_vms = n,
        .vms = vms,
        .socket_path = socket_path,
        .timeout_ms = TIMEOUT_MS,
    };
    char err[ERR_LEN] = "";
    struct vgpu_sim *sim = vgpu_sim_create(&cfg, err, sizeof(err));

    if (sim == NULL) {
        fail_msg("vgpu_sim_create: %s", err);
    }
    return sim;
}

static struct vgpu_sim *
sim_one(void)
{
    static const struct vgpu_sim_vm vm = {
        .vm_id = 7, .pool = 'B', .priority = VGPU_PRIO_HIGH};

    return sim_new(VGPU_SIM_DETERMINISTIC, 1, &vm, NULL);
}

/* sim_one()'s VM on a device built before the queue (no DMA, 8-byte
 * HELLO_ACK, 1 KiB limits). */
static struct vgpu_sim *
sim_one_no_queue(void)
{
    static const struct vgpu_sim_vm vm = {
        .vm_id = 7, .pool = 'B', .priority = VGPU_PRIO_HIGH};
    struct vgpu_sim_config cfg = {
        .mode = VGPU_SIM_DETERMINISTIC,
        .n_vms = 1,
        .vms = &vm,
        .timeout_ms = TIMEOUT_MS,
        .no_queue = 1,
    };
    char err[ERR_LEN] = "";
    struct vgpu_sim *sim = vgpu_sim_create(&cfg, err, sizeof(err));

    if (sim == NULL) {
        fail_msg("vgpu_sim_create: %s", err);
    }
    return sim;
}

static float
frand(unsigned *s)
{
    *s = *s * 1103515245u + 12345u;
    return (float)((int)((*s >> 8) % 20001u) - 10000) / 100.0f;
}

static uint32_t
reg(struct vgpu_client *c, uint32_t off)
{
    void *ctx;
    const struct vgpu_bus_ops *bus = vgpu_bus(c, &ctx);

    return bus->read32(ctx, off);
}

static void
assert_device_error(struct vgpu_client *c, int rc, uint32_t code)
{
    assert_int_equal(rc, VGPU_E_DEVICE);
    assert_string_equal(vgpu_strerror((int)vgpu_last_error(c)->code),
                        vgpu_strerror((int)code));
    assert_int_equal(reg(c, VGPU_REG_STATUS), VGPU_STATUS_ERROR);
    assert_int_equal(reg(c, VGPU_REG_ERROR_CODE), code);
}

struct stats_find {
    uint32_t vm_id;
    struct vgpu_vm_stats s;
    int found;
};

static void
stats_find_cb(const struct vgpu_vm_stats *s, void *arg)
{
    struct stats_find *f = arg;

    if (s->vm_id == f->vm_id) {
        f->s = *s;
        f->found = 1;
    }
}

static struct vgpu_vm_stats
stats_of(struct vgpu_sim *sim, uint32_t vm_id)
{
    struct stats_find f = {.vm_id = vm_id};

    vgpu_sim_stats(sim, stats_find_cb, &f);
    assert_true(f.found);
    return f.s;
}

/* ---- Every op, exact results --------------------------------------------- */

static void
test_op_nop(void **state)
{
    struct vgpu_sim *sim = sim_one();
    struct vgpu_client *c = vgpu_sim_client(sim, 0);

    (void)state;
    assert_int_equal(vgpu_nop(c), 0);
    assert_int_equal(reg(c, VGPU_REG_STATUS), VGPU_STATUS_DONE);
    assert_int_equal(reg(c, VGPU_REG_RESPONSE_LEN), 0);
    vgpu_sim_destroy(sim);
}

static void
test_op_echo(void **state)
{
    struct vgpu_sim *sim = sim_one();
    struct vgpu_client *c = vgpu_sim_client(sim, 0);
    uint8_t in[VGPU_ECHO_MAX_N * 2 + 5];
    uint8_t out[sizeof(in)];

    (void)state;
    for (size_t i = 0; i < sizeof(in); i++) {
        in[i] = (uint8_t)(i * 7u + 3u);
    }
    assert_int_equal(vgpu_echo(c, in, out, sizeof(in)), 0);
    assert_memory_equal(in, out, sizeof(in));
    vgpu_sim_destroy(sim);
}

static void
test_op_add_i32(void **state)
{
    struct vgpu_sim *sim = sim_one();
    struct vgpu_client *c = vgpu_sim_client(sim, 0);
    int32_t a[N_LONG], b[N_LONG], out[N_LONG];

    (void)state;
    for (int i = 0; i < N_LONG; i++) {
        a[i] = i * 1000 - 7;
        b[i] = -i * 3;
    }
    a[0] = INT32_MAX; /* wraps */
    b[0] = 1;
    assert_int_equal(vgpu_add_i32(c, a, b, out, N_LONG), 0);
    assert_int_equal(out[0], INT32_MIN);
    for (int i = 1; i < N_LONG; i++) {
        assert_int_equal(out[i], a[i] + b[i]);
    }
    vgpu_sim_destroy(sim);
}

static void
test_op_add_f32(void **state)
{
    struct vgpu_sim *sim = sim_one();
    struct vgpu_client *c = vgpu_sim_client(sim, 0);
    float a[N_LONG], b[N_LONG], out[N_LONG];
    unsigned s = 1;

    (void)state;
    for (int i = 0; i < N_LONG; i++) {
        a[i] = frand(&s);
        b[i] = frand(&s);
    }
    assert_int_equal(vgpu_add_f32(c, a, b, out, N_LONG), 0);
    for (int i = 0; i < N_LONG; i++) {
        float want = a[i] + b[i];

        assert_memory_equal(&out[i], &want, sizeof(want));
    }
    vgpu_sim_destroy(sim);
}

static void
test_op_saxpy_f32(void **state)
{
    struct vgpu_sim *sim = sim_one();
    struct vgpu_client *c = vgpu_sim_client(sim, 0);
    float x[N_LONG], y[N_LONG], out[N_LONG];
    float alpha = 1.37f;
    unsigned s = 2;

    (void)state;
    for (int i = 0; i < N_LONG; i++) {
        x[i] = frand(&s);
        y[i] = frand(&s);
    }
    assert_int_equal(vgpu_saxpy_f32(c, alpha, x, y, out, N_LONG), 0);
    for (int i = 0; i < N_LONG; i++) {
        float want = fmaf(alpha, x[i], y[i]);

        assert_memory_equal(&out[i], &want, sizeof(want));
    }
    vgpu_sim_destroy(sim);
}

/* DOT_F32 of @n elements as the helper computes it: each chunk of @chunk
 * elements summed in order by the device, the chunks' results in order. */
static float
dot_chunked(const float *x, const float *y, size_t n, size_t chunk)
{
    float want = 0.0f;

    for (size_t done = 0; done < n; done += chunk) {
        size_t end = done + chunk < n ? done + chunk : n;
        float part = 0.0f;

        for (size_t i = done; i < end; i++) {
            float prod = x[i] * y[i];
            part = part + prod;
        }
        want = done == 0 ? part : want + part;
    }
    return want;
}

/* More than one mailbox request: through the queue on a device that has
 * it (chunks of VGPU_Q_DOT_MAX_N), through the mailbox on one without
 * (chunks of VGPU_DOT_MAX_N). */
static void
test_op_dot_f32(void **state)
{
    float x[N_LONG], y[N_LONG], got = 0.0f, want;
    unsigned s = 3;

    (void)state;
    for (int i = 0; i < N_LONG; i++) {
        x[i] = frand(&s);
        y[i] = frand(&s);
    }
    for (int queue = 1; queue >= 0; queue--) {
        struct vgpu_sim *sim = queue ? sim_one() : sim_one_no_queue();
        struct vgpu_client *c = vgpu_sim_client(sim, 0);

        want = dot_chunked(x, y, N_LONG,
                           queue ? VGPU_Q_DOT_MAX_N : VGPU_DOT_MAX_N);
        assert_int_equal(vgpu_dot_f32(c, x, y, &got, N_LONG), 0);
        assert_memory_equal(&got, &want, sizeof(want));
        assert_int_equal(vgpu_sim_dev(sim, 0)->stats.q_completions,
                         queue ? 1 : 0);
        vgpu_sim_destroy(sim);
    }
}

static void
test_op_matmul_f32(void **state)
{
    enum { M = 9, K = 7, P = 8 };
    struct vgpu_sim *sim = sim_one();
    struct vgpu_client *c = vgpu_sim_client(sim, 0);
    float a[M * K], b[K * P], out[M * P];
    unsigned s = 4;

    (void)state;
    for (int i = 0; i < M * K; i++) {
        a[i] = frand(&s);
    }
    for (int i = 0; i < K * P; i++) {
        b[i] = frand(&s);
    }
    assert_int_equal(vgpu_matmul_f32(c, a, b, out, M, K, P), 0);
    for (int i = 0; i < M; i++) {
        for (int j = 0; j < P; j++) {
            float acc = 0.0f;

            for (int t = 0; t < K; t++) {
                acc = fmaf(a[i * K + t], b[t * P + j], acc);
            }
            assert_memory_equal(&out[i * P + j], &acc, sizeof(acc));
        }
    }
    vgpu_sim_destroy(sim);
}

/* ---- Error paths (deterministic) ----------------------------------------- */

/* vgpu_submit() refuses a length of 0, so the test writes REQUEST_LEN and
 * rings the doorbell through the bus, as a careless guest would. */
static void
test_err_invalid_length(void **state)
{
    struct vgpu_sim *sim = sim_one();
    struct vgpu_client *c = vgpu_sim_client(sim, 0);
    void *ctx;
    const struct vgpu_bus_ops *bus = vgpu_bus(c, &ctx);
    uint32_t lens[] = {0, VGPU_BUF_SIZE + 1u};

    (void)state;
    for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
        bus->write32(ctx, VGPU_REG_REQUEST_LEN, lens[i]);
        bus->write32(ctx, VGPU_REG_DOORBELL, VGPU_DOORBELL_RING);
        assert_device_error(c, vgpu_wait(c, 0, NULL, 0, NULL),
                            VGPU_ERR_INVALID_LENGTH);
    }
    assert_int_equal(vgpu_sim_dev(sim, 0)->stats.doorbells, 0);
    /* The device still works. */
    assert_int_equal(vgpu_nop(c), 0);
    vgpu_sim_destroy(sim);
}

static void
test_err_no_mediator(void **state)
{
    static const struct vgpu_sim_vm vm = {
        .vm_id = 3, .pool = 'A', .priority = VGPU_PRIO_LOW};
    struct vgpu_sim_config cfg = {
        .mode = VGPU_SIM_DETERMINISTIC,
        .n_vms = 1,
        .vms = &vm,
        .no_mediator = 1,
    };
    char err[ERR_LEN];
    struct vgpu_sim *sim = vgpu_sim_create(&cfg, err, sizeof(err));
    struct vgpu_client *c;

    (void)state;
    assert_non_null(sim);
    c = vgpu_sim_client(sim, 0);
    assert_device_error(c, vgpu_nop(c), VGPU_ERR_MEDIATOR_UNAVAILABLE);
    assert_int_equal(vgpu_sim_stats(sim, NULL, NULL), 0);
    vgpu_sim_destroy(sim);

    /* The same through the guest tools' --sim entry point. */
    c = vgpu_sim_open_single(3, 'A', VGPU_PRIO_LOW, 1, err, sizeof(err));
    assert_non_null(c);
    assert_device_error(c, vgpu_nop(c), VGPU_ERR_MEDIATOR_UNAVAILABLE);
    vgpu_close(c);
}

static void
test_err_invalid_request(void **state)
{
    struct vgpu_sim *sim = sim_one();
    struct vgpu_client *c = vgpu_sim_client(sim, 0);
    uint8_t req[VGPU_OP_HDR_SIZE + 4];
    uint8_t resp[VGPU_BUF_SIZE];
    size_t len = 0;

    (void)state;
    vgpu_put_le32(req, 0x77u); /* no such op */
    vgpu_put_le32(req + 4, 0);
    assert_device_error(
        c,
        vgpu_call(c, req, VGPU_OP_HDR_SIZE, resp, sizeof(resp), &len, WAIT_MS),
        VGPU_ERR_INVALID_REQUEST);
    assert_true(strlen(vgpu_last_error(c)->message) > 0);

    /* ADD_I32 with n = 1 and 4 bytes of operands instead of 8. */
    vgpu_put_le32(req, VGPU_OP_ADD_I32);
    vgpu_put_le32(req + 4, 1);
    vgpu_put_le32(req + 8, 5);
    assert_device_error(
        c, vgpu_call(c, req, sizeof(req), resp, sizeof(resp), &len, WAIT_MS),
        VGPU_ERR_INVALID_REQUEST);
    assert_int_equal(stats_of(sim, 7).errors[VGPU_ERR_INVALID_REQUEST], 2);
    vgpu_sim_destroy(sim);
}

/* The core's path: a response that cannot fit is refused before exec. A
 * device without the queue gets the 1 KiB limit in its HELLO_ACK. */
static void
test_err_too_large_core(void **state)
{
    struct vgpu_sim *sim = sim_one_no_queue();
    struct vgpu_client *c = vgpu_sim_client(sim, 0);
    uint8_t req[VGPU_MATMUL_HDR_SIZE];
    uint8_t resp[VGPU_BUF_SIZE];
    size_t len = 0;

    (void)state;
    vgpu_put_le32(req, VGPU_OP_MATMUL_F32);
    vgpu_put_le32(req + 4, 20);  /* m */
    vgpu_put_le32(req + 8, 0);   /* k: no operands at all */
    vgpu_put_le32(req + 12, 20); /* p: 400 floats of result */
    assert_device_error(
        c, vgpu_call(c, req, sizeof(req), resp, sizeof(resp), &len, WAIT_MS),
        VGPU_ERR_RESPONSE_TOO_LARGE);
    assert_non_null(strstr(vgpu_last_error(c)->message, "1600"));
    vgpu_sim_destroy(sim);
}

/* A device with the queue: the mediator answers up to 1 MiB, and the
 * mailbox's own 1 KiB limit ends the request in RESPONSE_TOO_LARGE. */
static void
test_err_too_large_mailbox_of_queue_device(void **state)
{
    struct vgpu_sim *sim = sim_one();
    struct vgpu_client *c = vgpu_sim_client(sim, 0);
    uint8_t req[VGPU_MATMUL_HDR_SIZE];
    uint8_t resp[VGPU_BUF_SIZE];
    size_t len = 0;

    (void)state;
    vgpu_put_le32(req, VGPU_OP_MATMUL_F32);
    vgpu_put_le32(req + 4, 20);  /* m */
    vgpu_put_le32(req + 8, 0);   /* k */
    vgpu_put_le32(req + 12, 20); /* p: 1600 bytes of result */
    assert_device_error(
        c, vgpu_call(c, req, sizeof(req), resp, sizeof(resp), &len, WAIT_MS),
        VGPU_ERR_RESPONSE_TOO_LARGE);
    assert_int_equal(vgpu_nop(c), 0); /* the connection stays up */
    vgpu_sim_destroy(sim);
}

/* ---- backend_override ---------------------------------------------------- */

static int
tb_open(const char *spec, void **ctx, char *err, size_t err_len)
{
    static int token;

    (void)spec;
    (void)err;
    (void)err_len;
    *ctx = &token;
    return 0;
}

/* ADD_I32 computes a - b (so a result proves this backend ran); every other
 * op fails with a message. */
static int
tb_exec(void *ctx, const struct vgpu_op_desc *op, uint8_t *out, size_t out_cap,
        size_t *out_len, char *msg, size_t msg_len)
{
    (void)ctx;
    *out_len = 0;
    if (op->op != VGPU_OP_ADD_I32 || op->out_len > out_cap) {
        snprintf(msg, msg_len, "sim-test backend: no %s", vgpu_op_name(op->op));
        return VGPU_ERR_BACKEND_ERROR;
    }
    for (uint32_t i = 0; i < op->n; i++) {
        uint32_t a = vgpu_get_le32(op->operands + 4u * i);
        uint32_t b = vgpu_get_le32(op->operands + 4u * (op->n + i));

        vgpu_put_le32(out + 4u * i, a - b);
    }
    *out_len = op->out_len;
    return VGPU_ERR_NONE;
}

static void
tb_close(void *ctx)
{
    (void)ctx;
}

static const struct vgpu_backend_ops test_backend = {
    .name = "sim-test",
    .open = tb_open,
    .exec = tb_exec,
    .close = tb_close,
};

static void
test_backend_override(void **state)
{
    struct vgpu_sim_vm vms[4];
    struct vgpu_sim_config cfg = {
        .mode = VGPU_SIM_DETERMINISTIC,
        .n_vms = 4,
        .vms = vms,
        .backend_override = &test_backend,
    };
    char err[ERR_LEN];
    struct vgpu_sim *sim;

    (void)state;
    for (unsigned i = 0; i < 4; i++) {
        vms[i].vm_id = 10 + i;
        vms[i].pool = (uint8_t)('A' + i);
        vms[i].priority = (uint8_t)(i % VGPU_PRIO_COUNT);
    }
    sim = vgpu_sim_create(&cfg, err, sizeof(err));
    assert_non_null(sim);
    for (unsigned i = 0; i < 4; i++) {
        struct vgpu_client *c = vgpu_sim_client(sim, i);
        int32_t a[2] = {10, 20}, b[2] = {3, 4}, out[2];

        assert_int_equal(vgpu_add_i32(c, a, b, out, 2), 0);
        assert_int_equal(out[0], 7);
        assert_int_equal(out[1], 16);
        assert_device_error(c, vgpu_nop(c), VGPU_ERR_BACKEND_ERROR);
        assert_string_equal(vgpu_last_error(c)->message,
                            "sim-test backend: no NOP");
    }
    vgpu_sim_destroy(sim);

    /* A second table under a built-in's name is refused. */
    {
        struct vgpu_backend_ops clash = test_backend;

        clash.name = VGPU_BACKEND_CPU_NAME;
        cfg.backend_override = &clash;
        assert_null(vgpu_sim_create(&cfg, err, sizeof(err)));
        assert_non_null(strstr(err, "another backend has that name"));
    }
}

/* ---- Connections, stats, isolation (deterministic) ----------------------- */

static void
test_disconnect_reconnect(void **state)
{
    struct vgpu_sim *sim = sim_one();
    struct vgpu_client *c = vgpu_sim_client(sim, 0);

    (void)state;
    assert_int_equal(vgpu_nop(c), 0);
    vgpu_sim_disconnect(sim, 0);
    assert_int_equal(stats_of(sim, 7).connected, 0);
    /* The next doorbell reconnects (a new connection and HELLO). */
    assert_int_equal(vgpu_nop(c), 0);
    assert_int_equal(stats_of(sim, 7).connected, 1);
    assert_int_equal(stats_of(sim, 7).requests, 2);
    vgpu_sim_destroy(sim);
}

static void
test_stats_passthrough(void **state)
{
    struct vgpu_sim *sim = sim_one();
    struct vgpu_client *c = vgpu_sim_client(sim, 0);
    int32_t a[4] = {1, 2, 3, 4}, out[4];
    struct vgpu_vm_stats s;

    (void)state;
    for (int i = 0; i < 5; i++) {
        assert_int_equal(vgpu_add_i32(c, a, a, out, 4), 0);
    }
    assert_int_equal(vgpu_sim_stats(sim, NULL, NULL), 1);
    s = stats_of(sim, 7);
    assert_int_equal(s.pool, 'B');
    assert_int_equal(s.priority, VGPU_PRIO_HIGH);
    assert_int_equal(s.requests, 5);
    assert_int_equal(s.responses, 5);
    assert_int_equal(s.errors[VGPU_ERR_NONE], 5);
    assert_int_equal(s.bytes_out, 5 * 16);
    assert_true(s.service_total > 0);
    assert_true(s.service_total >= s.service_p50);
    vgpu_sim_destroy(sim);
}

/* 32 VMs, pools A-D, every priority: all ring their doorbells, then each
 * reads its own response buffer, which must hold its own sums only. */
static void
test_isolation(void **state)
{
    struct vgpu_sim_vm vms[ISO_VMS];
    struct vgpu_sim *sim;

    (void)state;
    for (unsigned i = 0; i < ISO_VMS; i++) {
        vms[i].vm_id = 1000u + 17u * i;
        vms[i].pool = (uint8_t)('A' + i % 4u);
        vms[i].priority = (uint8_t)(i % VGPU_PRIO_COUNT);
    }
    sim = sim_new(VGPU_SIM_DETERMINISTIC, ISO_VMS, vms, NULL);
    for (unsigned i = 0; i < ISO_VMS; i++) {
        uint8_t req[VGPU_OP_HDR_SIZE + 2u * 4u * ISO_N];

        vgpu_put_le32(req, VGPU_OP_ADD_I32);
        vgpu_put_le32(req + 4, ISO_N);
        for (unsigned j = 0; j < ISO_N; j++) {
            vgpu_put_le32(req + 8 + 4 * j, i * 100000u + j);
            vgpu_put_le32(req + 8 + 4 * (ISO_N + j), i);
        }
        assert_int_equal(
            vgpu_submit(vgpu_sim_client(sim, i), req, sizeof(req), NULL), 0);
    }
    for (unsigned i = 0; i < ISO_VMS; i++) {
        struct vgpu_client *c = vgpu_sim_client(sim, i);
        uint8_t resp[4u * ISO_N];
        struct vgpu_info info;
        size_t len = 0;

        assert_int_equal(vgpu_wait(c, 0, resp, sizeof(resp), &len), 0);
        assert_int_equal(len, sizeof(resp));
        for (unsigned j = 0; j < ISO_N; j++) {
            assert_int_equal(vgpu_get_le32(resp + 4 * j), i * 100000u + j + i);
        }
        assert_int_equal(vgpu_info(c, &info), 0);
        assert_int_equal(info.vm_id, vms[i].vm_id);
        assert_int_equal(info.pool, vms[i].pool);
        assert_int_equal(info.priority, vms[i].priority);
        assert_int_equal(stats_of(sim, vms[i].vm_id).requests, 1);
        assert_int_equal(stats_of(sim, vms[i].vm_id).pool, vms[i].pool);
    }
    assert_int_equal(vgpu_sim_stats(sim, NULL, NULL), ISO_VMS);
    vgpu_sim_destroy(sim);
}

static void
test_open_single(void **state)
{
    char err[ERR_LEN];
    struct vgpu_client *c =
        vgpu_sim_open_single(200, 'B', VGPU_PRIO_HIGH, 0, err, sizeof(err));
    struct vgpu_info info;
    uint8_t in[3] = {1, 2, 3}, out[3];

    (void)state;
    assert_non_null(c);
    assert_int_equal(vgpu_info(c, &info), 0);
    assert_int_equal(info.vm_id, 200);
    assert_int_equal(info.pool, 'B');
    assert_int_equal(info.priority, VGPU_PRIO_HIGH);
    assert_int_equal(info.protocol_version, VGPU_PROTOCOL_VERSION);
    assert_int_equal(vgpu_echo(c, in, out, sizeof(in)), 0);
    assert_memory_equal(in, out, sizeof(in));
    vgpu_close(c); /* destroys the simulator (ASan checks the leak) */
}

static void
test_create_errors(void **state)
{
    struct vgpu_sim_vm vms[2] = {
        {.vm_id = 5, .pool = 'A', .priority = VGPU_PRIO_LOW},
        {.vm_id = 5, .pool = 'B', .priority = VGPU_PRIO_LOW},
    };
    struct vgpu_sim_config cfg = {
        .mode = VGPU_SIM_DETERMINISTIC, .n_vms = 0, .vms = vms};
    char err[ERR_LEN];

    (void)state;
    assert_null(vgpu_sim_create(NULL, err, sizeof(err)));
    assert_null(vgpu_sim_create(&cfg, err, sizeof(err)));
    assert_non_null(strstr(err, "n_vms"));
    cfg.n_vms = 2; /* the same vm_id twice: the core refuses the second */
    assert_null(vgpu_sim_create(&cfg, err, sizeof(err)));
    assert_non_null(strstr(err, "already connected"));
    vms[1].vm_id = 6;
    vms[1].pool = '1';
    assert_null(vgpu_sim_create(&cfg, err, sizeof(err)));
    assert_non_null(strstr(err, "pool"));
    vms[1].pool = 'B';
    cfg.mode = VGPU_SIM_SOCKET;
    assert_null(vgpu_sim_create(&cfg, err, sizeof(err)));
    assert_non_null(strstr(err, "socket_path"));
    cfg.socket_path = "/nonexistent/vgpu-sim-test.sock";
    assert_null(vgpu_sim_create(&cfg, err, sizeof(err)));
    assert_non_null(strstr(err, "cannot connect"));
    cfg.mode = 9;
    assert_null(vgpu_sim_create(&cfg, err, sizeof(err)));
    assert_non_null(strstr(err, "mode"));
}

/* ---- Threaded mode ------------------------------------------------------- */

struct thr_arg {
    struct vgpu_client *c;
    int32_t base;
    int ok;
};

static void *
thr_vm(void *p)
{
    struct thr_arg *a = p;

    a->ok = 1;
    for (int i = 0; i < THREAD_CALLS && a->ok; i++) {
        int32_t x[3] = {a->base, i, -i}, y[3] = {1, 2, 3}, out[3];

        if (vgpu_add_i32(a->c, x, y, out, 3) != 0 || out[0] != a->base + 1 ||
            out[1] != i + 2 || out[2] != 3 - i) {
            a->ok = 0;
        }
    }
    return NULL;
}

static void
test_threaded(void **state)
{
    struct vgpu_sim_vm vms[2] = {
        {.vm_id = 1, .pool = 'A', .priority = VGPU_PRIO_HIGH},
        {.vm_id = 2, .pool = 'A', .priority = VGPU_PRIO_LOW},
    };
    struct vgpu_sim *sim = sim_new(VGPU_SIM_THREADED, 2, vms, NULL);
    struct thr_arg args[2];
    pthread_t th[2];

    (void)state;
    for (int i = 0; i < 2; i++) {
        args[i].c = vgpu_sim_client(sim, (unsigned)i);
        args[i].base = 1000 * (i + 1);
        assert_int_equal(pthread_create(&th[i], NULL, thr_vm, &args[i]), 0);
    }
    for (int i = 0; i < 2; i++) {
        pthread_join(th[i], NULL);
        assert_true(args[i].ok);
    }
    assert_int_equal(stats_of(sim, 1).responses, THREAD_CALLS);
    assert_int_equal(stats_of(sim, 2).responses, THREAD_CALLS);
    vgpu_sim_disconnect(sim, 0);
    assert_int_equal(stats_of(sim, 1).connected, 0);
    assert_int_equal(vgpu_nop(vgpu_sim_client(sim, 0)), 0);
    assert_int_equal(stats_of(sim, 1).connected, 1);
    vgpu_sim_destroy(sim);
}

/* ---- Socket mode against a fake mediator --------------------------------- */

enum fake_mode {
    FAKE_ANSWER,  /* RESPONSE NONE: empty, or the ECHO bytes */
    FAKE_SILENT,  /* read, never answer */
    FAKE_CLOSE,   /* hang up when a REQUEST arrives */
    FAKE_HOLD,    /* keep the REQUESTs; answer them when released */
    FAKE_BIG,     /* answer with a BIG_RESPONSE-byte payload */
    FAKE_ERROR,   /* an ERROR frame, then hang up */
    FAKE_GARBAGE, /* 32 bytes that are no header */
    FAKE_REFUSE,  /* answer HELLO with ERROR */
};

struct fake_srv {
    char dir[128];
    char path[160];
    int lfd;
    int wake[2];
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    enum fake_mode mode;
    int requests;
    int accepts;
    int release;
    int stop;
    /* The server thread's own. */
    int cfd;
    struct vgpu_decoder dec;
    uint8_t payload[VGPU_BUF_SIZE];
    struct vgpu_frame held[FAKE_HELD]; /* payload points into held_bytes */
    uint8_t held_bytes[FAKE_HELD][VGPU_BUF_SIZE];
    int n_held;
};

static void
fake_send(struct fake_srv *f, const struct vgpu_hdr *about, uint16_t type,
          uint32_t status, const void *payload, size_t len)
{
    static uint8_t wire[VGPU_HDR_SIZE + BIG_RESPONSE];
    struct vgpu_hdr h;
    int n;

    vgpu_hdr_init(&h, type);
    h.vm_id = about->vm_id;
    h.request_id = about->request_id;
    h.pool_id = about->pool_id;
    h.priority = about->priority;
    h.status = status;
    n = vgpu_frame_encode(&h, payload, len, wire, sizeof(wire));
    if (n > 0 && write(f->cfd, wire, (size_t)n) != n) {
        fprintf(stderr, "fake server: short write\n");
    }
}

static void
fake_hangup(struct fake_srv *f)
{
    if (f->cfd >= 0) {
        close(f->cfd);
        f->cfd = -1;
    }
}

/* A RESPONSE NONE: the ECHO bytes for an ECHO, else empty. */
static void
fake_answer(struct fake_srv *f, const struct vgpu_frame *fr)
{
    if (fr->hdr.payload_len > VGPU_OP_HDR_SIZE &&
        vgpu_get_le32(fr->payload) == VGPU_OP_ECHO) {
        fake_send(f, &fr->hdr, VGPU_MSG_RESPONSE, 0,
                  fr->payload + VGPU_OP_HDR_SIZE,
                  fr->hdr.payload_len - VGPU_OP_HDR_SIZE);
    } else {
        fake_send(f, &fr->hdr, VGPU_MSG_RESPONSE, 0, NULL, 0);
    }
}

static void
fake_frame(struct fake_srv *f, const struct vgpu_frame *fr, enum fake_mode m)
{
    static uint8_t big[BIG_RESPONSE];
    static const char garbage[VGPU_HDR_SIZE] =
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    uint8_t ack[VGPU_HELLO_ACK_PAYLOAD_SIZE];

    if (fr->hdr.type == VGPU_MSG_HELLO) {
        if (m == FAKE_REFUSE) {
            fake_send(f, &fr->hdr, VGPU_MSG_ERROR, VGPU_ERR_REJECTED,
                      "fake: vm refused", strlen("fake: vm refused"));
            fake_hangup(f);
            return;
        }
        vgpu_hello_ack_pack(ack, VGPU_CAPABILITIES, VGPU_BUF_SIZE);
        fake_send(f, &fr->hdr, VGPU_MSG_HELLO_ACK, 0, ack, sizeof(ack));
        return;
    }
    if (fr->hdr.type != VGPU_MSG_REQUEST) {
        return;
    }
    pthread_mutex_lock(&f->mu);
    f->requests++;
    pthread_cond_broadcast(&f->cv);
    pthread_mutex_unlock(&f->mu);
    switch (m) {
    case FAKE_ANSWER:
        fake_answer(f, fr);
        break;
    case FAKE_CLOSE:
        fake_hangup(f);
        break;
    case FAKE_HOLD:
        if (f->n_held < FAKE_HELD) {
            struct vgpu_frame *h = &f->held[f->n_held];

            *h = *fr;
            memcpy(f->held_bytes[f->n_held], fr->payload, fr->hdr.payload_len);
            h->payload = f->held_bytes[f->n_held];
            f->n_held++;
        }
        break;
    case FAKE_BIG:
        memset(big, 0x5a, sizeof(big));
        fake_send(f, &fr->hdr, VGPU_MSG_RESPONSE, 0, big, sizeof(big));
        break;
    case FAKE_ERROR:
        fake_send(f, &fr->hdr, VGPU_MSG_ERROR, VGPU_ERR_PROTOCOL_ERROR,
                  "fake: go away", strlen("fake: go away"));
        fake_hangup(f);
        break;
    case FAKE_GARBAGE:
        if (write(f->cfd, garbage, sizeof(garbage)) < 0) {
            fake_hangup(f);
        }
        break;
    case FAKE_SILENT:
    case FAKE_REFUSE:
        break;
    }
}

static void
fake_input(struct fake_srv *f, enum fake_mode m)
{
    uint8_t buf[4096];
    ssize_t n = read(f->cfd, buf, sizeof(buf));
    size_t pos = 0;

    if (n <= 0) {
        fake_hangup(f);
        return;
    }
    while (f->cfd >= 0 && pos < (size_t)n) {
        struct vgpu_frame fr;
        size_t used = 0;
        int rc =
            vgpu_decoder_feed(&f->dec, buf + pos, (size_t)n - pos, &used, &fr);

        pos += used;
        if (rc < 0) {
            fake_hangup(f);
        } else if (rc == 0) {
            break;
        } else {
            fake_frame(f, &fr, m);
        }
    }
}

static void *
fake_main(void *arg)
{
    struct fake_srv *f = arg;

    for (;;) {
        struct pollfd p[3] = {
            {.fd = f->lfd, .events = POLLIN},
            {.fd = f->wake[0], .events = POLLIN},
            {.fd = f->cfd, .events = POLLIN},
        };
        enum fake_mode m;
        int release;

        poll(p, f->cfd >= 0 ? 3 : 2, FAKE_POLL_MS);
        pthread_mutex_lock(&f->mu);
        if (f->stop) {
            pthread_mutex_unlock(&f->mu);
            break;
        }
        m = f->mode;
        release = f->release;
        f->release = 0;
        pthread_mutex_unlock(&f->mu);
        if (p[1].revents != 0) {
            char b[16];

            if (read(f->wake[0], b, sizeof(b)) < 0) {
                break;
            }
        }
        if (release && f->cfd >= 0) {
            for (int i = 0; i < f->n_held; i++) {
                fake_answer(f, &f->held[i]);
            }
            f->n_held = 0;
        }
        if (p[0].revents != 0) {
            int fd = accept(f->lfd, NULL, NULL);

            if (fd >= 0) {
                fake_hangup(f);
                f->cfd = fd;
                vgpu_decoder_reset(&f->dec);
                pthread_mutex_lock(&f->mu);
                f->accepts++;
                pthread_mutex_unlock(&f->mu);
            }
        }
        if (f->cfd >= 0 && p[2].revents != 0) {
            fake_input(f, m);
        }
    }
    fake_hangup(f);
    return NULL;
}

static struct fake_srv *
fake_start(enum fake_mode mode)
{
    struct fake_srv *f = calloc(1, sizeof(*f));
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    const char *tmp = getenv("TMPDIR");

    assert_non_null(f);
    snprintf(f->dir, sizeof(f->dir), "%s/vgpu-sim-test.XXXXXX",
             tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof(f->path), "%s/m.sock", f->dir);
    assert_true(strlen(f->path) < sizeof(sa.sun_path));
    memcpy(sa.sun_path, f->path, strlen(f->path) + 1u);
    f->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(f->lfd >= 0);
    assert_int_equal(bind(f->lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(f->lfd, 8), 0);
    assert_int_equal(pipe(f->wake), 0);
    f->cfd = -1;
    f->mode = mode;
    vgpu_decoder_init(&f->dec, f->payload, sizeof(f->payload), VGPU_BUF_SIZE);
    pthread_mutex_init(&f->mu, NULL);
    pthread_cond_init(&f->cv, NULL);
    assert_int_equal(pthread_create(&f->th, NULL, fake_main, f), 0);
    return f;
}

static void
fake_poke(struct fake_srv *f)
{
    if (write(f->wake[1], "x", 1) != 1) {
        fprintf(stderr, "fake server: cannot wake\n");
    }
}

static void
fake_release(struct fake_srv *f)
{
    pthread_mutex_lock(&f->mu);
    f->release = 1;
    pthread_mutex_unlock(&f->mu);
    fake_poke(f);
}

static void
fake_set(struct fake_srv *f, enum fake_mode mode)
{
    pthread_mutex_lock(&f->mu);
    f->mode = mode;
    pthread_mutex_unlock(&f->mu);
}

static int
fake_get(struct fake_srv *f, const int *field)
{
    int v;

    pthread_mutex_lock(&f->mu);
    v = *field;
    pthread_mutex_unlock(&f->mu);
    return v;
}

/* Wait until the server has seen @n REQUESTs (at most WAIT_MS). */
static void
fake_wait_requests(struct fake_srv *f, int n)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += WAIT_MS / 1000;
    pthread_mutex_lock(&f->mu);
    while (f->requests < n) {
        if (pthread_cond_timedwait(&f->cv, &f->mu, &ts) != 0) {
            break;
        }
    }
    pthread_mutex_unlock(&f->mu);
    assert_true(fake_get(f, &f->requests) >= n);
}

static void
fake_stop(struct fake_srv *f)
{
    pthread_mutex_lock(&f->mu);
    f->stop = 1;
    pthread_mutex_unlock(&f->mu);
    fake_poke(f);
    pthread_join(f->th, NULL);
    close(f->lfd);
    close(f->wake[0]);
    close(f->wake[1]);
    unlink(f->path);
    rmdir(f->dir);
    pthread_cond_destroy(&f->cv);
    pthread_mutex_destroy(&f->mu);
    free(f);
}

static const struct vgpu_sim_vm sock_vm = {
    .vm_id = 42, .pool = 'C', .priority = VGPU_PRIO_MEDIUM};

static void
test_socket_ok(void **state)
{
    struct fake_srv *f = fake_start(FAKE_ANSWER);
    struct vgpu_sim *sim = sim_new(VGPU_SIM_SOCKET, 1, &sock_vm, f->path);
    struct vgpu_client *c = vgpu_sim_client(sim, 0);
    uint8_t in[5] = {9, 8, 7, 6, 5}, out[5];

    (void)state;
    assert_int_equal(vgpu_nop(c), 0);
    assert_int_equal(vgpu_echo(c, in, out, sizeof(in)), 0);
    assert_memory_equal(in, out, sizeof(in));
    /* Polling: submit, then vgpu_sim_poll() collects the completion. */
    assert_int_equal(vgpu_submit(c, "\0\0\0\0\0\0\0\0", VGPU_OP_HDR_SIZE, NULL),
                     0);
    assert_int_equal(vgpu_sim_poll(sim, WAIT_MS), 1);
    assert_int_equal(vgpu_wait(c, 0, NULL, 0, NULL), 0);
    assert_int_equal(vgpu_sim_stats(sim, NULL, NULL), 0);
    assert_int_equal(fake_get(f, &f->accepts), 1);
    vgpu_sim_destroy(sim);
    fake_stop(f);
}

static void
test_socket_timeout(void **state)
{
    struct fake_srv *f = fake_start(FAKE_SILENT);
    struct vgpu_sim *sim = sim_new(VGPU_SIM_SOCKET, 1, &sock_vm, f->path);
    struct vgpu_client *c = vgpu_sim_client(sim, 0);
    struct timespec t0, t1;
    long ms;

    (void)state;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_int_equal(vgpu_submit(c, "\0\0\0\0\0\0\0\0", VGPU_OP_HDR_SIZE, NULL),
                     0);
    assert_device_error(c, vgpu_wait(c, WAIT_MS, NULL, 0, NULL),
                        VGPU_ERR_TIMEOUT);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
    assert_true(ms >= (long)TIMEOUT_MS);
    assert_true(ms < WAIT_MS);
    vgpu_sim_destroy(sim);
    fake_stop(f);
}

static void
test_socket_lost(void **state)
{
    struct fake_srv *f = fake_start(FAKE_CLOSE);
    struct vgpu_sim *sim = sim_new(VGPU_SIM_SOCKET, 1, &sock_vm, f->path);
    struct vgpu_client *c = vgpu_sim_client(sim, 0);

    (void)state;
    assert_device_error(c, vgpu_nop(c), VGPU_ERR_MEDIATOR_UNAVAILABLE);
    /* The next doorbell reconnects. */
    fake_set(f, FAKE_ANSWER);
    assert_int_equal(vgpu_nop(c), 0);
    assert_int_equal(fake_get(f, &f->accepts), 2);
    vgpu_sim_destroy(sim);
    fake_stop(f);
}

/* A request in flight, the caller drops the connection. */
static void
test_socket_disconnect_busy(void **state)
{
    struct fake_srv *f = fake_start(FAKE_SILENT);
    struct vgpu_sim *sim = sim_new(VGPU_SIM_SOCKET, 1, &sock_vm, f->path);
    struct vgpu_client *c = vgpu_sim_client(sim, 0);

    (void)state;
    assert_int_equal(vgpu_submit(c, "\0\0\0\0\0\0\0\0", VGPU_OP_HDR_SIZE, NULL),
                     0);
    fake_wait_requests(f, 1);
    vgpu_sim_disconnect(sim, 0);
    assert_device_error(c, vgpu_wait(c, 0, NULL, 0, NULL),
                        VGPU_ERR_MEDIATOR_UNAVAILABLE);
    vgpu_sim_destroy(sim);
    fake_stop(f);
}

static void
test_socket_stale_after_reset(void **state)
{
    struct fake_srv *f = fake_start(FAKE_HOLD);
    struct vgpu_sim *sim = sim_new(VGPU_SIM_SOCKET, 1, &sock_vm, f->path);
    struct vgpu_client *c = vgpu_sim_client(sim, 0);
    struct vgpu_dev *dev = vgpu_sim_dev(sim, 0);

    (void)state;
    assert_int_equal(vgpu_submit(c, "\0\0\0\0\0\0\0\0", VGPU_OP_HDR_SIZE, NULL),
                     0);
    fake_wait_requests(f, 1);
    vgpu_dev_reset(dev);
    assert_int_equal(reg(c, VGPU_REG_STATUS), VGPU_STATUS_IDLE);
    fake_release(f);
    for (int i = 0;
         i < WAIT_MS / FAKE_POLL_MS && dev->stats.stale_responses == 0; i++) {
        vgpu_sim_poll(sim, FAKE_POLL_MS);
    }
    assert_int_equal(dev->stats.stale_responses, 1);
    assert_int_equal(reg(c, VGPU_REG_STATUS), VGPU_STATUS_IDLE);
    assert_int_equal(dev->stats.completions, 0);
    vgpu_sim_destroy(sim);
    fake_stop(f);
}

/* Request id N is abandoned by a reset, and the guest rings again with the
 * same id N: the late answer to the first must not complete the second. */
static void
test_socket_late_answer_same_id(void **state)
{
    struct fake_srv *f = fake_start(FAKE_HOLD);
    struct vgpu_sim *sim = sim_new(VGPU_SIM_SOCKET, 1, &sock_vm, f->path);
    struct vgpu_client *c = vgpu_sim_client(sim, 0);
    struct vgpu_dev *dev = vgpu_sim_dev(sim, 0);
    void *ctx;
    const struct vgpu_bus_ops *bus = vgpu_bus(c, &ctx);
    uint8_t first[VGPU_OP_HDR_SIZE + 4] = {0, 0, 0,   0,   4,   0,
                                           0, 0, 'A', 'A', 'A', 'A'};
    uint8_t second[sizeof(first)] = {0, 0, 0,   0,   4,   0,
                                     0, 0, 'B', 'B', 'B', 'B'};
    uint8_t resp[4];
    size_t len = 0;
    uint32_t id = 0;

    (void)state;
    vgpu_put_le32(first, VGPU_OP_ECHO);
    vgpu_put_le32(second, VGPU_OP_ECHO);
    assert_int_equal(vgpu_submit(c, first, sizeof(first), &id), 0);
    fake_wait_requests(f, 1);
    vgpu_dev_reset(dev);
    bus->write_buf(ctx, VGPU_REQ_BUF_OFFSET, second, sizeof(second));
    bus->write32(ctx, VGPU_REG_REQUEST_LEN, sizeof(second));
    bus->write32(ctx, VGPU_REG_REQUEST_ID, id);
    bus->write32(ctx, VGPU_REG_DOORBELL, VGPU_DOORBELL_RING);
    fake_wait_requests(f, 2);
    fake_release(f);
    assert_int_equal(vgpu_wait(c, WAIT_MS, resp, sizeof(resp), &len), 0);
    assert_int_equal(len, sizeof(resp));
    assert_memory_equal(resp, "BBBB", sizeof(resp));
    assert_int_equal(dev->stats.stale_responses, 1);
    vgpu_sim_destroy(sim);
    fake_stop(f);
}

/* The device's path: a RESPONSE payload over 1 KiB is read and discarded,
 * the request ends in RESPONSE_TOO_LARGE, the connection stays up. */
static void
test_socket_too_large_device(void **state)
{
    struct fake_srv *f = fake_start(FAKE_BIG);
    struct vgpu_sim *sim = sim_new(VGPU_SIM_SOCKET, 1, &sock_vm, f->path);
    struct vgpu_client *c = vgpu_sim_client(sim, 0);

    (void)state;
    assert_device_error(c, vgpu_nop(c), VGPU_ERR_RESPONSE_TOO_LARGE);
    assert_string_equal(vgpu_last_error(c)->message, "");
    assert_int_equal(reg(c, VGPU_REG_RESPONSE_LEN), 0);
    fake_set(f, FAKE_ANSWER);
    assert_int_equal(vgpu_nop(c), 0);
    assert_int_equal(fake_get(f, &f->accepts), 1);
    vgpu_sim_destroy(sim);
    fake_stop(f);
}

static void
test_socket_error_frame(void **state)
{
    struct fake_srv *f = fake_start(FAKE_ERROR);
    struct vgpu_sim *sim = sim_new(VGPU_SIM_SOCKET, 1, &sock_vm, f->path);
    struct vgpu_client *c = vgpu_sim_client(sim, 0);

    (void)state;
    assert_device_error(c, vgpu_nop(c), VGPU_ERR_MEDIATOR_UNAVAILABLE);
    assert_string_equal(vgpu_last_error(c)->message, "fake: go away");
    fake_set(f, FAKE_ANSWER);
    assert_int_equal(vgpu_nop(c), 0);
    vgpu_sim_destroy(sim);
    fake_stop(f);
}

static void
test_socket_protocol_error(void **state)
{
    struct fake_srv *f = fake_start(FAKE_GARBAGE);
    struct vgpu_sim *sim = sim_new(VGPU_SIM_SOCKET, 1, &sock_vm, f->path);
    struct vgpu_client *c = vgpu_sim_client(sim, 0);

    (void)state;
    assert_device_error(c, vgpu_nop(c), VGPU_ERR_PROTOCOL_ERROR);
    assert_non_null(strstr(vgpu_last_error(c)->message, "magic"));
    fake_set(f, FAKE_ANSWER);
    assert_int_equal(vgpu_nop(c), 0); /* reconnected */
    assert_int_equal(fake_get(f, &f->accepts), 2);
    vgpu_sim_destroy(sim);
    fake_stop(f);
}

static void
test_socket_hello_refused(void **state)
{
    struct fake_srv *f = fake_start(FAKE_REFUSE);
    struct vgpu_sim_config cfg = {
        .mode = VGPU_SIM_SOCKET,
        .n_vms = 1,
        .vms = &sock_vm,
        .socket_path = f->path,
    };
    char err[ERR_LEN] = "";

    (void)state;
    assert_null(vgpu_sim_create(&cfg, err, sizeof(err)));
    assert_non_null(strstr(err, "fake: vm refused"));
    fake_stop(f);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        VGPU_TEST("/sim/op/nop", test_op_nop),
        VGPU_TEST("/sim/op/echo", test_op_echo),
        VGPU_TEST("/sim/op/add_i32", test_op_add_i32),
        VGPU_TEST("/sim/op/add_f32", test_op_add_f32),
        VGPU_TEST("/sim/op/saxpy_f32", test_op_saxpy_f32),
        VGPU_TEST("/sim/op/dot_f32", test_op_dot_f32),
        VGPU_TEST("/sim/op/matmul_f32", test_op_matmul_f32),
        VGPU_TEST("/sim/error/invalid_length", test_err_invalid_length),
        VGPU_TEST("/sim/error/no_mediator", test_err_no_mediator),
        VGPU_TEST("/sim/error/invalid_request", test_err_invalid_request),
        VGPU_TEST("/sim/error/too_large/core", test_err_too_large_core),
        VGPU_TEST("/sim/error/too_large/queue_device_mailbox",
                  test_err_too_large_mailbox_of_queue_device),
        VGPU_TEST("/sim/error/too_large/device", test_socket_too_large_device),
        VGPU_TEST("/sim/backend/override", test_backend_override),
        VGPU_TEST("/sim/conn/disconnect_reconnect", test_disconnect_reconnect),
        VGPU_TEST("/sim/stats/passthrough", test_stats_passthrough),
        VGPU_TEST("/sim/isolation/32_vms", test_isolation),
        VGPU_TEST("/sim/open_single", test_open_single),
        VGPU_TEST("/sim/create/errors", test_create_errors),
        VGPU_TEST("/sim/threaded/two_vms", test_threaded),
        VGPU_TEST("/sim/socket/ok", test_socket_ok),
        VGPU_TEST("/sim/socket/timeout", test_socket_timeout),
        VGPU_TEST("/sim/socket/lost", test_socket_lost),
        VGPU_TEST("/sim/socket/disconnect_busy", test_socket_disconnect_busy),
        VGPU_TEST("/sim/socket/stale_after_reset",
                  test_socket_stale_after_reset),
        VGPU_TEST("/sim/socket/late_answer_same_id",
                  test_socket_late_answer_same_id),
        VGPU_TEST("/sim/socket/error_frame", test_socket_error_frame),
        VGPU_TEST("/sim/socket/protocol_error", test_socket_protocol_error),
        VGPU_TEST("/sim/socket/hello_refused", test_socket_hello_refused),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
