/*
 * The queue (SPEC.md section 11) end to end in the simulator: libvgpu-guest's
 * queue API -> the device model's rings and DMA -> the link -> the mediator
 * core -> the CPU backend, and back into guest memory. The rules of the
 * device model itself are tested in test_devmodel_queue.c; these tests are
 * about the adapters (the sim's guest memory, its transports, the link) and
 * the guest library.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "vgpu/devmodel.h"
#include "vgpu/guest.h"
#include "vgpu/proto.h"
#include "vgpu/sim.h"
#include "vgpu_test.h"

#define ERR_LEN 256
#define WAIT_MS 10000

static struct vgpu_sim *
qsim(int mode, unsigned n, int no_mediator)
{
    static const struct vgpu_sim_vm vms[] = {
        {.vm_id = 1, .pool = 'A', .priority = VGPU_PRIO_HIGH},
        {.vm_id = 2, .pool = 'A', .priority = VGPU_PRIO_LOW},
        {.vm_id = 3, .pool = 'B', .priority = VGPU_PRIO_MEDIUM},
    };
    struct vgpu_sim_config cfg = {
        .mode = mode,
        .n_vms = n,
        .vms = vms,
        .no_mediator = no_mediator,
        .guest_mem_bytes = 64u << 20,
    };
    char err[ERR_LEN] = "";
    struct vgpu_sim *sim = vgpu_sim_create(&cfg, err, sizeof(err));

    if (sim == NULL) {
        fail_msg("vgpu_sim_create: %s", err);
    }
    return sim;
}

static struct vgpu_queue *
qopen(struct vgpu_client *c, uint32_t depth)
{
    char err[ERR_LEN] = "";
    struct vgpu_queue *q = vgpu_queue_open(c, depth, err, sizeof(err));

    if (q == NULL) {
        fail_msg("vgpu_queue_open: %s", err);
    }
    return q;
}

/* An ADD_I32 request of @n elements at @p: a[i] = seed + i, b[i] = 3i. */
static uint32_t
put_add_i32(uint8_t *p, uint32_t n, uint32_t seed)
{
    vgpu_put_le32(p, VGPU_OP_ADD_I32);
    vgpu_put_le32(p + 4, n);
    for (uint32_t i = 0; i < n; i++) {
        vgpu_put_le32(p + VGPU_OP_HDR_SIZE + 4u * i, seed + i);
        vgpu_put_le32(p + VGPU_OP_HDR_SIZE + 4u * (n + i), 3u * i);
    }
    return VGPU_OP_HDR_SIZE + 8u * n;
}

static void
check_add_i32(const uint8_t *out, uint32_t n, uint32_t seed)
{
    for (uint32_t i = 0; i < n; i++) {
        if (vgpu_get_le32(out + 4u * i) != seed + i + 3u * i) {
            fail_msg("element %u: %u, want %u", i, vgpu_get_le32(out + 4u * i),
                     seed + i + 3u * i);
        }
    }
}

/* Reap until @want completions came, into @comps. */
static void
reap_all(struct vgpu_queue *q, struct vgpu_qcomp *comps, unsigned want)
{
    unsigned got = 0;

    while (got < want) {
        int n;

        assert_int_equal(vgpu_queue_wait(q, WAIT_MS), 1);
        n = vgpu_queue_reap(q, comps + got, want - got);
        assert_true(n > 0);
        got += (unsigned)n;
    }
}

/* @depth requests of @n elements each, one kick, every result checked. */
static void
run_batch(struct vgpu_client *c, uint32_t depth, uint32_t n)
{
    struct vgpu_queue *q = qopen(c, depth);
    uint32_t in_len = VGPU_OP_HDR_SIZE + 8u * n;
    uint32_t out_cap = 4u * n;
    struct vgpu_dma in;
    struct vgpu_dma out;
    struct vgpu_qcomp comps[VGPU_Q_ENTRIES_MAX];

    assert_int_equal(vgpu_dma_alloc(c, (size_t)depth * in_len, &in), 0);
    assert_int_equal(vgpu_dma_alloc(c, (size_t)depth * out_cap, &out), 0);
    for (uint32_t i = 0; i < depth; i++) {
        put_add_i32((uint8_t *)in.ptr + (size_t)i * in_len, n, 1000u * i);
        assert_int_equal(vgpu_queue_submit(q, &in, (size_t)i * in_len, in_len,
                                           &out, (size_t)i * out_cap, out_cap,
                                           i),
                         0);
    }
    assert_int_equal(vgpu_queue_room(q), 0);
    vgpu_queue_kick(q);
    reap_all(q, comps, depth);
    for (uint32_t i = 0; i < depth; i++) {
        uint32_t tag = comps[i].tag;

        assert_true(tag < depth);
        assert_int_equal(comps[i].status, 0);
        assert_int_equal(comps[i].out_len, out_cap);
        check_add_i32((uint8_t *)out.ptr + (size_t)tag * out_cap, n,
                      1000u * tag);
    }
    assert_int_equal(vgpu_queue_room(q), depth);
    vgpu_dma_free(c, &in);
    vgpu_dma_free(c, &out);
    vgpu_queue_close(q);
}

static void
test_det_batch(void **state)
{
    struct vgpu_sim *sim = qsim(VGPU_SIM_DETERMINISTIC, 1, 0);
    struct vgpu_client *c = vgpu_sim_client(sim, 0);
    struct vgpu_info info;

    (void)state;
    assert_int_equal(vgpu_info(c, &info), 0);
    assert_true(info.capabilities & VGPU_CAP_QUEUE);
    run_batch(c, 32, 1000);
    run_batch(c, 256, 3);
    run_batch(c, 1, 5);
    assert_int_equal(vgpu_sim_dev(sim, 0)->stats.q_completions, 32 + 256 + 1);
    vgpu_sim_destroy(sim);
}

/* 1 MiB in (ADD_F32, n = 131071: the queue's limit), 512 KiB out. */
static void
test_det_one_mib(void **state)
{
    struct vgpu_sim *sim = qsim(VGPU_SIM_DETERMINISTIC, 1, 0);
    struct vgpu_client *c = vgpu_sim_client(sim, 0);
    struct vgpu_queue *q = qopen(c, 2);
    const uint32_t n = (VGPU_Q_MAX_XFER - VGPU_OP_HDR_SIZE) / 8u;
    struct vgpu_dma in;
    struct vgpu_dma out;
    struct vgpu_qcomp comp;
    uint8_t *p;

    (void)state;
    assert_int_equal(n, 131071);
    assert_int_equal(vgpu_dma_alloc(c, VGPU_Q_MAX_XFER, &in), 0);
    assert_int_equal(vgpu_dma_alloc(c, 4u * n, &out), 0);
    p = in.ptr;
    vgpu_put_le32(p, VGPU_OP_ADD_F32);
    vgpu_put_le32(p + 4, n);
    for (uint32_t i = 0; i < n; i++) {
        float a = (float)i * 0.5f;
        float b = 2.0f;
        uint32_t ab;
        uint32_t bb;

        memcpy(&ab, &a, 4);
        memcpy(&bb, &b, 4);
        vgpu_put_le32(p + 8 + 4u * i, ab);
        vgpu_put_le32(p + 8 + 4u * (n + i), bb);
    }
    assert_int_equal(vgpu_queue_submit(q, &in, 0, VGPU_OP_HDR_SIZE + 8u * n,
                                       &out, 0, 4u * n, 77),
                     0);
    vgpu_queue_kick(q);
    reap_all(q, &comp, 1);
    assert_int_equal(comp.tag, 77);
    assert_int_equal(comp.status, 0);
    assert_int_equal(comp.out_len, 4u * n);
    for (uint32_t i = 0; i < n; i++) {
        float want = (float)i * 0.5f + 2.0f;
        uint32_t bits = vgpu_get_le32((uint8_t *)out.ptr + 4u * i);
        float got;

        memcpy(&got, &bits, 4);
        if (got != want) {
            fail_msg("element %u: %g, want %g", i, got, want);
        }
    }
    vgpu_dma_free(c, &in);
    vgpu_dma_free(c, &out);
    vgpu_queue_close(q);
    vgpu_sim_destroy(sim);
}

/* Per-entry errors: a length out of range, a response over out_cap, input
 * the device cannot read, an op the core refuses; the queue goes on. */
static void
test_det_entry_errors(void **state)
{
    struct vgpu_sim *sim = qsim(VGPU_SIM_DETERMINISTIC, 1, 0);
    struct vgpu_client *c = vgpu_sim_client(sim, 0);
    struct vgpu_queue *q = qopen(c, 8);
    struct vgpu_dma in;
    struct vgpu_dma out;
    struct vgpu_qcomp comps[5];
    uint32_t len;

    (void)state;
    assert_int_equal(vgpu_dma_alloc(c, 4 * 4096, &in), 0);
    assert_int_equal(vgpu_dma_alloc(c, 4096, &out), 0);
    len = put_add_i32(in.ptr, 10, 0);
    /* 0: in_len 7. */
    assert_int_equal(vgpu_queue_submit(q, &in, 0, 7, &out, 0, 40, 0), 0);
    /* 1: 40 bytes of result into 39. */
    assert_int_equal(vgpu_queue_submit(q, &in, 0, len, &out, 0, 39, 1), 0);
    /* 2: input in a faulting page. */
    put_add_i32((uint8_t *)in.ptr + 4096, 10, 0);
    assert_int_equal(vgpu_sim_dma_fault(sim, 0, in.dev_addr + 4096, 4096), 0);
    assert_int_equal(vgpu_queue_submit(q, &in, 4096, len, &out, 0, 40, 2), 0);
    /* 3: an unknown op: the core answers INVALID_REQUEST with a message. */
    vgpu_put_le32((uint8_t *)in.ptr + 8192, 0x7f);
    vgpu_put_le32((uint8_t *)in.ptr + 8192 + 4, 0);
    assert_int_equal(vgpu_queue_submit(q, &in, 8192, 8, &out, 100, 64, 3), 0);
    /* 4: a good one after them. */
    assert_int_equal(vgpu_queue_submit(q, &in, 0, len, &out, 0, 40, 4), 0);
    vgpu_queue_kick(q);
    reap_all(q, comps, 5);
    for (unsigned i = 0; i < 5; i++) {
        static const uint32_t want[5] = {
            VGPU_ERR_INVALID_LENGTH, VGPU_ERR_RESPONSE_TOO_LARGE,
            VGPU_ERR_DMA_ERROR, VGPU_ERR_INVALID_REQUEST, VGPU_ERR_NONE};

        assert_true(comps[i].tag < 5);
        assert_int_equal(comps[i].status, want[comps[i].tag]);
    }
    /* The core's refusal carries a message, cut to out_cap. */
    for (unsigned i = 0; i < 5; i++) {
        if (comps[i].tag == 3) {
            assert_true(comps[i].out_len > 0 && comps[i].out_len <= 64);
        }
    }
    check_add_i32(out.ptr, 10, 0);
    vgpu_sim_dma_fault(sim, 0, 0, 0);
    vgpu_dma_free(c, &in);
    vgpu_dma_free(c, &out);
    vgpu_queue_close(q);
    vgpu_sim_destroy(sim);
}

/* A ring the device cannot read stops the queue: reap says -EIO. */
static void
test_det_ring_fault(void **state)
{
    struct vgpu_sim *sim = qsim(VGPU_SIM_DETERMINISTIC, 1, 0);
    struct vgpu_client *c = vgpu_sim_client(sim, 0);
    struct vgpu_queue *q = qopen(c, 4);
    struct vgpu_dma in;
    struct vgpu_dma out;
    struct vgpu_qcomp comp;
    uint32_t len;

    (void)state;
    assert_int_equal(vgpu_dma_alloc(c, 4096, &in), 0);
    assert_int_equal(vgpu_dma_alloc(c, 4096, &out), 0);
    len = put_add_i32(in.ptr, 4, 0);
    assert_int_equal(vgpu_queue_submit(q, &in, 0, len, &out, 0, 16, 1), 0);
    vgpu_sim_bus_master(sim, 0, 0);
    vgpu_queue_kick(q);
    assert_int_equal(vgpu_queue_reap(q, &comp, 1), -EIO);
    assert_int_equal(vgpu_queue_error(q), VGPU_ERR_DMA_ERROR);
    assert_int_equal(vgpu_queue_wait(q, 0), -EIO);
    vgpu_sim_bus_master(sim, 0, 1);
    vgpu_queue_close(q);
    /* A new queue works again. */
    run_batch(c, 4, 4);
    vgpu_dma_free(c, &in);
    vgpu_dma_free(c, &out);
    vgpu_sim_destroy(sim);
}

/* The mailbox and the queue on one device, one after the other. */
static void
test_det_mailbox_beside(void **state)
{
    struct vgpu_sim *sim = qsim(VGPU_SIM_DETERMINISTIC, 1, 0);
    struct vgpu_client *c = vgpu_sim_client(sim, 0);
    int32_t a[3] = {1, 2, 3};
    int32_t b[3] = {10, 20, 30};
    int32_t r[3];

    (void)state;
    for (int round = 0; round < 3; round++) {
        assert_int_equal(vgpu_nop(c), 0);
        run_batch(c, 8, 16);
        assert_int_equal(vgpu_add_i32(c, a, b, r, 3), 0);
        assert_int_equal(r[2], 33);
    }
    vgpu_sim_destroy(sim);
}

/* A dropped connection: the next kick reconnects and the entries run. */
static void
test_det_reconnect(void **state)
{
    struct vgpu_sim *sim = qsim(VGPU_SIM_DETERMINISTIC, 1, 0);
    struct vgpu_client *c = vgpu_sim_client(sim, 0);

    (void)state;
    run_batch(c, 4, 8);
    vgpu_sim_disconnect(sim, 0);
    run_batch(c, 4, 8);
    vgpu_sim_destroy(sim);
}

/* Without a mediator every entry ends in MEDIATOR_UNAVAILABLE. */
static void
test_det_no_mediator(void **state)
{
    struct vgpu_sim *sim = qsim(VGPU_SIM_DETERMINISTIC, 1, 1);
    struct vgpu_client *c = vgpu_sim_client(sim, 0);
    struct vgpu_queue *q = qopen(c, 4);
    struct vgpu_dma in;
    struct vgpu_qcomp comps[3];
    uint32_t len;

    (void)state;
    assert_int_equal(vgpu_dma_alloc(c, 4096, &in), 0);
    len = put_add_i32(in.ptr, 1, 0);
    for (uint32_t i = 0; i < 3; i++) {
        assert_int_equal(vgpu_queue_submit(q, &in, 0, len, &in, 2048, 4, i), 0);
    }
    vgpu_queue_kick(q);
    reap_all(q, comps, 3);
    for (unsigned i = 0; i < 3; i++) {
        assert_int_equal(comps[i].status, VGPU_ERR_MEDIATOR_UNAVAILABLE);
    }
    vgpu_dma_free(c, &in);
    vgpu_queue_close(q);
    vgpu_sim_destroy(sim);
}

/* A device without the queue: the library says so, the mailbox works. */
static void
test_no_queue_device(void **state)
{
    static const struct vgpu_sim_vm vm = {
        .vm_id = 9, .pool = 'A', .priority = VGPU_PRIO_MEDIUM};
    struct vgpu_sim_config cfg = {
        .mode = VGPU_SIM_DETERMINISTIC, .n_vms = 1, .vms = &vm, .no_queue = 1};
    char err[ERR_LEN] = "";
    struct vgpu_sim *sim = vgpu_sim_create(&cfg, err, sizeof(err));
    struct vgpu_client *c;
    struct vgpu_dma buf;

    (void)state;
    assert_non_null(sim);
    c = vgpu_sim_client(sim, 0);
    assert_null(vgpu_queue_open(c, 4, err, sizeof(err)));
    assert_non_null(strstr(err, "no queue"));
    assert_int_equal(vgpu_dma_alloc(c, 4096, &buf), -ENOTSUP);
    assert_int_equal(vgpu_nop(c), 0);
    vgpu_sim_destroy(sim);
}

static void
test_open_errors(void **state)
{
    struct vgpu_sim *sim = qsim(VGPU_SIM_DETERMINISTIC, 1, 0);
    struct vgpu_client *c = vgpu_sim_client(sim, 0);
    char err[ERR_LEN] = "";
    struct vgpu_queue *q;
    struct vgpu_dma buf;

    (void)state;
    assert_null(vgpu_queue_open(c, 3, err, sizeof(err)));
    assert_non_null(strstr(err, "power of two"));
    assert_null(vgpu_queue_open(c, 512, err, sizeof(err)));
    q = qopen(c, 2);
    assert_int_equal(vgpu_dma_alloc(c, 4096, &buf), 0);
    assert_int_equal(vgpu_queue_submit(q, &buf, 4000, 200, &buf, 0, 4, 0),
                     -EINVAL);
    assert_int_equal(
        vgpu_queue_submit(q, &buf, 0, VGPU_Q_MAX_XFER + 1u, &buf, 0, 4, 0),
        -EINVAL);
    assert_int_equal(vgpu_queue_submit(q, &buf, 0, 8, &buf, 0, 4, 0), 0);
    assert_int_equal(vgpu_queue_submit(q, &buf, 0, 8, &buf, 0, 4, 0), 0);
    assert_int_equal(vgpu_queue_submit(q, &buf, 0, 8, &buf, 0, 4, 0), -EAGAIN);
    vgpu_dma_free(c, &buf);
    vgpu_queue_close(q);
    vgpu_sim_destroy(sim);
}

/* The typed helpers: a vector that needs more than one mailbox request goes
 * through the client's own queue, in chunks of the queue's limits. */
static void
test_helpers_use_queue(void **state)
{
    enum { N = 300000 };
    static float a[N], b[N], sum[N];
    static int32_t ia[N], ib[N], isum[N];
    static uint8_t bytes[3u << 20], back[3u << 20];
    struct vgpu_sim *sim = qsim(VGPU_SIM_DETERMINISTIC, 1, 0);
    struct vgpu_client *c = vgpu_sim_client(sim, 0);
    const struct vgpu_dev *dev = vgpu_sim_dev(sim, 0);

    (void)state;
    for (uint32_t i = 0; i < N; i++) {
        a[i] = (float)i;
        b[i] = 0.25f;
        ia[i] = (int32_t)i;
        ib[i] = -2 * (int32_t)i;
    }
    assert_int_equal(vgpu_add_f32(c, a, b, sum, N), 0);
    for (uint32_t i = 0; i < N; i++) {
        if (sum[i] != (float)i + 0.25f) {
            fail_msg("add_f32 element %u: %g", i, sum[i]);
        }
    }
    /* 300000 elements: 3 chunks of at most VGPU_Q_ADD_MAX_N. */
    assert_int_equal(dev->stats.q_completions, 3);
    assert_int_equal(vgpu_add_i32(c, ia, ib, isum, N), 0);
    for (uint32_t i = 0; i < N; i++) {
        if (isum[i] != -(int32_t)i) {
            fail_msg("add_i32 element %u: %d", i, isum[i]);
        }
    }
    for (size_t i = 0; i < sizeof(bytes); i++) {
        bytes[i] = (uint8_t)(i * 7u);
    }
    assert_int_equal(vgpu_echo(c, bytes, back, sizeof(bytes)), 0);
    assert_memory_equal(bytes, back, sizeof(bytes));
    /* One request's worth stays on the mailbox. */
    assert_int_equal(vgpu_add_f32(c, a, b, sum, VGPU_ADD_MAX_N), 0);
    assert_int_equal(dev->stats.completions, 1);
    vgpu_sim_destroy(sim);
}

/* A helper whose chunks fail returns the device's error, and the next call
 * works: the chunks in flight were reaped. */
static void
test_helpers_queue_errors(void **state)
{
    enum { N = 1000 };
    static float a[N], out[N];
    struct vgpu_sim *sim = qsim(VGPU_SIM_DETERMINISTIC, 1, 1);
    struct vgpu_client *c = vgpu_sim_client(sim, 0);

    (void)state;
    assert_int_equal(vgpu_add_f32(c, a, a, out, N), VGPU_E_DEVICE);
    assert_int_equal(vgpu_last_error(c)->code, VGPU_ERR_MEDIATOR_UNAVAILABLE);
    assert_int_equal(vgpu_add_f32(c, a, a, out, N), VGPU_E_DEVICE);
    vgpu_sim_destroy(sim);
}

/* The threaded mode: each VM's own thread keeps a queue busy. */
struct thr_arg {
    struct vgpu_client *c;
};

static void *
thr_vm(void *p)
{
    struct thr_arg *a = p;

    for (int i = 0; i < 20; i++) {
        run_batch(a->c, 16, 64);
    }
    return NULL;
}

static void
test_threaded(void **state)
{
    struct vgpu_sim *sim = qsim(VGPU_SIM_THREADED, 3, 0);
    struct thr_arg args[3];
    pthread_t th[3];

    (void)state;
    for (unsigned i = 0; i < 3; i++) {
        args[i].c = vgpu_sim_client(sim, i);
        assert_int_equal(pthread_create(&th[i], NULL, thr_vm, &args[i]), 0);
    }
    for (unsigned i = 0; i < 3; i++) {
        pthread_join(th[i], NULL);
    }
    for (unsigned i = 0; i < 3; i++) {
        assert_int_equal(vgpu_sim_dev(sim, i)->stats.q_completions, 20 * 16);
    }
    vgpu_sim_destroy(sim);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        VGPU_TEST("/sim/queue/det/batch", test_det_batch),
        VGPU_TEST("/sim/queue/det/one-mib", test_det_one_mib),
        VGPU_TEST("/sim/queue/det/entry-errors", test_det_entry_errors),
        VGPU_TEST("/sim/queue/det/ring-fault", test_det_ring_fault),
        VGPU_TEST("/sim/queue/det/mailbox-beside", test_det_mailbox_beside),
        VGPU_TEST("/sim/queue/det/reconnect", test_det_reconnect),
        VGPU_TEST("/sim/queue/det/no-mediator", test_det_no_mediator),
        VGPU_TEST("/sim/queue/no-queue-device", test_no_queue_device),
        VGPU_TEST("/sim/queue/open-errors", test_open_errors),
        VGPU_TEST("/sim/queue/helpers/use-queue", test_helpers_use_queue),
        VGPU_TEST("/sim/queue/helpers/errors", test_helpers_queue_errors),
        VGPU_TEST("/sim/queue/threaded", test_threaded),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
