/*
 * Unit tests of the device model's queue (SPEC.md section 11), through a fake
 * adapter that owns a guest memory (GMEM_SIZE bytes at guest-physical 0, a
 * range in it that faults, and a bus-mastering switch), records every
 * request handed to submit and can answer inside submit, as the simulator
 * does.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "vgpu_test.h"

#include "vgpu/devmodel.h"
#include "vgpu/proto.h"

#define TEST_VM_ID 300u
#define TEST_POOL  'C'
#define TEST_PRIO  VGPU_PRIO_LOW

/* Guest memory: 4 MiB at 0; [FAULT_LO, FAULT_HI) is not guest memory. */
#define GMEM_SIZE  (4u << 20)
#define FAULT_LO   (3u << 20)
#define FAULT_HI   (FAULT_LO + 0x10000u)
#define QBASE      0x10000u  /* the queue area */
#define IN_BASE    0x100000u /* inputs, IN_STRIDE apart */
#define OUT_BASE   0x200000u /* outputs, OUT_STRIDE apart */
#define IN_STRIDE  0x1000u
#define OUT_STRIDE 0x1000u
#define OUT_FILL   0xEEu /* what output memory holds before a completion */

#define MAX_SUBMITS 1024

struct sub {
    uint32_t wire_id;
    uint32_t len;
    uint32_t generation;
    uint32_t vm_id;
    uint8_t pool_id, priority;
    int queued;
    uint8_t head[16]; /* the first bytes of the input */
};

enum sync_mode {
    SYNC_NONE,    /* answer later */
    SYNC_ECHO,    /* answer inside submit with the input */
    SYNC_LOST,    /* the transport is lost inside submit */
    SYNC_RESET,   /* the device is reset inside submit */
    SYNC_DISABLE, /* the guest disables the queue inside submit */
};

struct fixture {
    struct vgpu_dev dev;
    uint8_t *mem;
    uint8_t *qbuf;
    int qbuf_null;
    int bus_master_off;
    unsigned dma_reads, dma_writes;

    int nsub;
    struct sub subs[MAX_SUBMITS];
    int submit_rc;
    enum sync_mode sync;

    int irq_level;
    int irq_calls;
    int irq_rises;
    int guest_errors;
    char last_error[200];
};

/* ---- The fake adapter ---------------------------------------------------- */

static int
gmem_check(struct fixture *f, uint64_t addr, size_t len)
{
    if (f->bus_master_off) {
        return -EPERM;
    }
    if (addr > GMEM_SIZE || len > GMEM_SIZE - addr) {
        return -EFAULT;
    }
    if (addr < FAULT_HI && addr + len > FAULT_LO) {
        return -EFAULT;
    }
    return 0;
}

static int
fake_dma_read(void *opaque, uint64_t addr, void *buf, size_t len)
{
    struct fixture *f = opaque;
    int rc = gmem_check(f, addr, len);

    f->dma_reads++;
    if (rc == 0) {
        memcpy(buf, f->mem + addr, len);
    }
    return rc;
}

static int
fake_dma_write(void *opaque, uint64_t addr, const void *buf, size_t len)
{
    struct fixture *f = opaque;
    int rc = gmem_check(f, addr, len);

    f->dma_writes++;
    if (rc == 0) {
        memcpy(f->mem + addr, buf, len);
    }
    return rc;
}

static uint8_t *
fake_q_buffer(void *opaque, size_t len)
{
    struct fixture *f = opaque;

    assert_true(len <= VGPU_Q_MAX_XFER);
    return f->qbuf_null ? NULL : f->qbuf;
}

static int
fake_submit(void *opaque, const struct vgpu_request *req)
{
    struct fixture *f = opaque;
    struct sub *s;

    assert_true(f->nsub < MAX_SUBMITS);
    s = &f->subs[f->nsub++];
    s->wire_id = req->request_id;
    s->len = req->len;
    s->generation = req->generation;
    s->vm_id = req->vm_id;
    s->pool_id = req->pool_id;
    s->priority = req->priority;
    s->queued = req->queued;
    memcpy(s->head, req->data, req->len < 16 ? req->len : 16);
    if (req->queued && f->submit_rc == 0) {
        switch (f->sync) {
        case SYNC_ECHO:
            assert_int_equal(vgpu_dev_q_complete(&f->dev, req->request_id,
                                                 VGPU_ERR_NONE, req->data,
                                                 req->len),
                             0);
            break;
        case SYNC_LOST:
            vgpu_dev_transport_lost(&f->dev);
            break;
        case SYNC_RESET:
            vgpu_dev_reset(&f->dev);
            break;
        case SYNC_DISABLE:
            vgpu_dev_mmio_write(&f->dev, VGPU_REG_Q_CTRL, 0, VGPU_REG_SIZE);
            break;
        default:
            break;
        }
    }
    return f->submit_rc;
}

static void
fake_set_irq(void *opaque, int level)
{
    struct fixture *f = opaque;

    assert_int_not_equal(level, f->irq_level); /* only changes */
    f->irq_level = level;
    f->irq_calls++;
    f->irq_rises += level;
}

static uint64_t
fake_now(void *opaque)
{
    (void)opaque;
    return 42;
}

static void
fake_guest_error(void *opaque, const char *what)
{
    struct fixture *f = opaque;

    f->guest_errors++;
    snprintf(f->last_error, sizeof(f->last_error), "%s", what);
}

static const struct vgpu_dev_ops q_ops = {
    .submit = fake_submit,
    .set_irq = fake_set_irq,
    .now_ns = fake_now,
    .guest_error = fake_guest_error,
    .dma_read = fake_dma_read,
    .dma_write = fake_dma_write,
    .q_buffer = fake_q_buffer,
};

static const struct vgpu_dev_ops mailbox_ops = {
    .submit = fake_submit,
    .set_irq = fake_set_irq,
    .now_ns = fake_now,
    .guest_error = fake_guest_error,
};

static const struct vgpu_dev_config test_cfg = {
    .pool_id = TEST_POOL, .priority = TEST_PRIO, .vm_id = TEST_VM_ID};

static int
setup_with(void **state, const struct vgpu_dev_ops *ops)
{
    struct fixture *f = calloc(1, sizeof(*f));

    assert_non_null(f);
    f->mem = calloc(1, GMEM_SIZE);
    f->qbuf = malloc(VGPU_Q_MAX_XFER);
    assert_non_null(f->mem);
    assert_non_null(f->qbuf);
    memset(f->mem + OUT_BASE, OUT_FILL, FAULT_LO - OUT_BASE);
    assert_int_equal(vgpu_dev_init(&f->dev, &test_cfg, ops, f), 0);
    *state = f;
    return 0;
}

static int
setup(void **state)
{
    return setup_with(state, &q_ops);
}

static int
setup_mailbox(void **state)
{
    return setup_with(state, &mailbox_ops);
}

static int
teardown(void **state)
{
    struct fixture *f = *state;

    vgpu_dev_fini(&f->dev);
    free(f->qbuf);
    free(f->mem);
    free(f);
    return 0;
}

/* ---- Helpers ------------------------------------------------------------ */

static uint32_t
rd(struct fixture *f, uint64_t reg)
{
    return (uint32_t)vgpu_dev_mmio_read(&f->dev, reg, VGPU_REG_SIZE);
}

static void
wr(struct fixture *f, uint64_t reg, uint32_t val)
{
    vgpu_dev_mmio_write(&f->dev, reg, val, VGPU_REG_SIZE);
}

static void
put64(uint8_t *p, uint64_t v)
{
    vgpu_put_le32(p, (uint32_t)v);
    vgpu_put_le32(p + 4, (uint32_t)(v >> 32));
}

/* Configure and enable a queue of @n entries at @base; it must enable. */
static void
q_enable_at(struct fixture *f, uint64_t base, uint32_t n)
{
    wr(f, VGPU_REG_Q_BASE_LO, (uint32_t)base);
    wr(f, VGPU_REG_Q_BASE_HI, (uint32_t)(base >> 32));
    wr(f, VGPU_REG_Q_SIZE, n);
    wr(f, VGPU_REG_Q_CTRL, VGPU_Q_CTRL_ENABLE);
    assert_int_equal(rd(f, VGPU_REG_Q_CTRL), VGPU_Q_CTRL_ENABLE);
    assert_int_equal(rd(f, VGPU_REG_Q_ERROR), VGPU_ERR_NONE);
}

static void
q_enable(struct fixture *f, uint32_t n)
{
    q_enable_at(f, QBASE, n);
}

static uint64_t
in_addr(uint32_t i)
{
    return IN_BASE + (uint64_t)(i % 256u) * IN_STRIDE;
}

static uint64_t
out_addr(uint32_t i)
{
    return OUT_BASE + (uint64_t)(i % 256u) * OUT_STRIDE;
}

/* Write SQ entry number @i (free-running) of a ring of @n at QBASE. */
static void
put_sqe_raw(struct fixture *f, uint32_t n, uint32_t i, uint64_t in,
            uint32_t in_len, uint32_t tag, uint64_t out, uint32_t out_cap,
            uint32_t flags)
{
    uint8_t *e = f->mem + QBASE + (uint64_t)(i % n) * VGPU_Q_SQE_SIZE;

    put64(e + VGPU_SQE_IN_ADDR, in);
    vgpu_put_le32(e + VGPU_SQE_IN_LEN, in_len);
    vgpu_put_le32(e + VGPU_SQE_TAG, tag);
    put64(e + VGPU_SQE_OUT_ADDR, out);
    vgpu_put_le32(e + VGPU_SQE_OUT_CAP, out_cap);
    vgpu_put_le32(e + VGPU_SQE_FLAGS, flags);
}

/* Entry @i: @in_len bytes of input at in_addr(i) (a pattern of @i), out_cap
 * OUT_STRIDE at out_addr(i). */
static void
put_sqe(struct fixture *f, uint32_t n, uint32_t i, uint32_t in_len,
        uint32_t tag)
{
    uint8_t *in = f->mem + in_addr(i);

    for (uint32_t k = 0; k < in_len && k < IN_STRIDE; k++) {
        in[k] = (uint8_t)(i * 31u + k);
    }
    put_sqe_raw(f, n, i, in_addr(i), in_len, tag, out_addr(i), OUT_STRIDE, 0);
}

struct cqe {
    uint32_t tag, status, out_len, flags;
};

static struct cqe
get_cqe(struct fixture *f, uint32_t n, uint32_t i)
{
    const uint8_t *e = f->mem + QBASE + (uint64_t)n * VGPU_Q_SQE_SIZE +
                       (uint64_t)(i % n) * VGPU_Q_CQE_SIZE;
    struct cqe c = {
        vgpu_get_le32(e + VGPU_CQE_TAG), vgpu_get_le32(e + VGPU_CQE_STATUS),
        vgpu_get_le32(e + VGPU_CQE_OUT_LEN), vgpu_get_le32(e + VGPU_CQE_FLAGS)};

    return c;
}

static void
assert_cqe(struct fixture *f, uint32_t n, uint32_t i, uint32_t tag,
           uint32_t status, uint32_t out_len)
{
    struct cqe c = get_cqe(f, n, i);

    assert_int_equal(c.tag, tag);
    assert_int_equal(c.status, status);
    assert_int_equal(c.out_len, out_len);
    assert_int_equal(c.flags, (i / n) % 2 == 0 ? VGPU_CQE_PHASE : 0);
}

static void
answer(struct fixture *f, uint32_t wire, const void *data, size_t len)
{
    assert_int_equal(
        vgpu_dev_q_complete(&f->dev, wire, VGPU_ERR_NONE, data, len), 0);
}

/* ---- Presence ------------------------------------------------------------ */

static void
test_absent_without_dma(void **state)
{
    struct fixture *f = *state;
    struct vgpu_dev dev;
    struct vgpu_dev_ops partial = q_ops;

    assert_int_equal(rd(f, VGPU_REG_CAPABILITIES), VGPU_CAPABILITIES);
    assert_int_equal(vgpu_dev_has_queue(&f->dev), 0);
    /* The queue's range is reserved space: any size reads 0, writes are
     * ignored as guest errors. */
    for (uint64_t a = VGPU_Q_REG_OFFSET; a < VGPU_Q_REG_END; a += 4) {
        wr(f, a, 0xffffffffu);
        assert_int_equal(rd(f, a), 0);
        assert_int_equal(vgpu_dev_mmio_read(&f->dev, a + 1, 2), 0);
    }
    assert_int_equal(f->guest_errors, VGPU_Q_REG_COUNT);
    assert_int_equal(vgpu_dev_mmio_read(&f->dev, VGPU_Q_REG_OFFSET, 8), 0);
    /* IRQ bit 1 does not exist. */
    wr(f, VGPU_REG_IRQ_CTRL, VGPU_IRQ_LINE_MASK);
    assert_int_equal(rd(f, VGPU_REG_IRQ_CTRL), VGPU_IRQ_CTRL_ENABLE);
    assert_int_equal(
        vgpu_dev_q_complete(&f->dev, VGPU_Q_WIRE_ID_BIT, 0, NULL, 0), -ESTALE);
    assert_int_equal(f->dev.stats.stale_responses, 1);
    vgpu_dev_q_kick(&f->dev);
    vgpu_dev_transport_lost(&f->dev);
    assert_int_equal(f->nsub, 0);
    assert_int_equal(vgpu_dev_q_inflight(&f->dev), 0);
    /* All three queue ops or none. */
    partial.q_buffer = NULL;
    assert_int_equal(vgpu_dev_init(&dev, &test_cfg, &partial, NULL), -EINVAL);
    partial = q_ops;
    partial.dma_write = NULL;
    assert_int_equal(vgpu_dev_init(&dev, &test_cfg, &partial, NULL), -EINVAL);
}

static void
test_registers(void **state)
{
    struct fixture *f = *state;
    const uint64_t ro[] = {VGPU_REG_SQ_HEAD, VGPU_REG_CQ_TAIL, VGPU_REG_Q_ERROR,
                           VGPU_REG_Q_MAX_INFLIGHT, VGPU_REG_Q_MAX_XFER};

    assert_int_equal(rd(f, VGPU_REG_CAPABILITIES),
                     VGPU_CAPABILITIES | VGPU_CAP_QUEUE);
    assert_int_equal(vgpu_dev_has_queue(&f->dev), 1);
    assert_int_equal(rd(f, VGPU_REG_Q_MAX_XFER), VGPU_Q_MAX_XFER);
    assert_int_equal(rd(f, VGPU_REG_Q_MAX_INFLIGHT), VGPU_Q_ENTRIES_MAX);
    wr(f, VGPU_REG_Q_BASE_LO, 0x12345000u);
    wr(f, VGPU_REG_Q_BASE_HI, 0x9u);
    wr(f, VGPU_REG_Q_SIZE, 77);
    assert_int_equal(rd(f, VGPU_REG_Q_BASE_LO), 0x12345000u);
    assert_int_equal(rd(f, VGPU_REG_Q_BASE_HI), 0x9u);
    assert_int_equal(rd(f, VGPU_REG_Q_SIZE), 77);
    assert_int_equal(f->guest_errors, 0);
    for (size_t i = 0; i < sizeof(ro) / sizeof(ro[0]); i++) {
        uint32_t before = rd(f, ro[i]);

        wr(f, ro[i], 0x5555u);
        assert_int_equal(rd(f, ro[i]), before);
        assert_int_equal(f->guest_errors, (int)i + 1);
        assert_non_null(strstr(f->last_error, vgpu_reg_name(ro[i])));
    }
    /* Aligned 4-byte accesses only. */
    assert_int_equal(vgpu_dev_mmio_read(&f->dev, VGPU_REG_Q_SIZE, 2), 0xffff);
    assert_int_equal(vgpu_dev_mmio_read(&f->dev, VGPU_REG_Q_SIZE + 1, 4),
                     0xffffffffu);
    assert_int_equal(vgpu_dev_mmio_read(&f->dev, VGPU_REG_Q_BASE_LO, 8),
                     UINT64_MAX);
    vgpu_dev_mmio_write(&f->dev, VGPU_REG_Q_SIZE, 4, 8);
    vgpu_dev_mmio_write(&f->dev, VGPU_REG_Q_SIZE + 2, 4, 2);
    assert_int_equal(rd(f, VGPU_REG_Q_SIZE), 77);
    assert_int_equal(f->guest_errors, 10);
    /* The reserved space starts after them. */
    assert_int_equal(vgpu_dev_mmio_read(&f->dev, VGPU_RESERVED_OFFSET, 8), 0);
    assert_int_equal(VGPU_RESERVED_OFFSET, VGPU_Q_REG_END);
    /* Names. */
    assert_string_equal(vgpu_reg_name(VGPU_REG_SQ_TAIL), "SQ_TAIL");
    assert_string_equal(vgpu_reg_name(VGPU_REG_Q_MAX_XFER), "Q_MAX_XFER");
    for (uint64_t a = VGPU_Q_REG_OFFSET; a < VGPU_Q_REG_END; a += 4) {
        assert_non_null(vgpu_reg_name(a));
    }
    assert_null(vgpu_reg_name(VGPU_Q_REG_END));
    assert_null(vgpu_reg_name(VGPU_REG_SQ_TAIL + 2));
    /* IRQ bit 1 exists here. */
    wr(f, VGPU_REG_IRQ_CTRL, 0xffffffffu);
    assert_int_equal(rd(f, VGPU_REG_IRQ_CTRL), VGPU_IRQ_LINE_MASK);
}

/* ---- Enable -------------------------------------------------------------- */

static void
check_refused(struct fixture *f, uint64_t base, uint32_t n, uint32_t err)
{
    int errors = f->guest_errors;

    wr(f, VGPU_REG_Q_BASE_LO, (uint32_t)base);
    wr(f, VGPU_REG_Q_BASE_HI, (uint32_t)(base >> 32));
    wr(f, VGPU_REG_Q_SIZE, n);
    wr(f, VGPU_REG_Q_CTRL, VGPU_Q_CTRL_ENABLE);
    assert_int_equal(rd(f, VGPU_REG_Q_CTRL), 0);
    assert_int_equal(rd(f, VGPU_REG_Q_ERROR), err);
    assert_int_equal(f->guest_errors, errors + 1);
}

static void
test_enable_checks(void **state)
{
    struct fixture *f = *state;

    check_refused(f, QBASE, 0, VGPU_ERR_INVALID_LENGTH);
    check_refused(f, QBASE, 3, VGPU_ERR_INVALID_LENGTH);
    check_refused(f, QBASE, 2 * VGPU_Q_ENTRIES_MAX, VGPU_ERR_INVALID_LENGTH);
    check_refused(f, QBASE, 0x80000000u, VGPU_ERR_INVALID_LENGTH);
    check_refused(f, QBASE + 0x800, 4, VGPU_ERR_INVALID_REQUEST);
    check_refused(f, QBASE + 4, 4, VGPU_ERR_INVALID_REQUEST);
    /* Rings that would pass the top of the address space. */
    check_refused(f, UINT64_MAX - VGPU_Q_BASE_ALIGN + 1, 256,
                  VGPU_ERR_INVALID_REQUEST);
    /* Each power of two 1..256 enables; the area is not read at enable. */
    for (uint32_t n = 1; n <= VGPU_Q_ENTRIES_MAX; n *= 2) {
        q_enable(f, n);
        wr(f, VGPU_REG_Q_CTRL, 0);
    }
    /* A faulting or absent area enables too: it is read only when used. */
    q_enable_at(f, FAULT_LO, 4);
    wr(f, VGPU_REG_Q_CTRL, 0);
    q_enable_at(f, UINT64_C(1) << 40, 256);
    assert_int_equal(f->dma_reads + f->dma_writes, 0);
    /* The top page of the address space fits a 1-entry queue. */
    wr(f, VGPU_REG_Q_CTRL, 0);
    q_enable_at(f, UINT64_MAX - VGPU_Q_BASE_ALIGN + 1, 1);
}

static void
test_enabled_config_locked(void **state)
{
    struct fixture *f = *state;

    q_enable(f, 8);
    put_sqe(f, 8, 0, 8, 1);
    wr(f, VGPU_REG_SQ_TAIL, 1);
    assert_int_equal(f->nsub, 1);
    wr(f, VGPU_REG_Q_BASE_LO, 0x40000);
    wr(f, VGPU_REG_Q_BASE_HI, 1);
    wr(f, VGPU_REG_Q_SIZE, 16);
    assert_int_equal(f->guest_errors, 3);
    assert_non_null(strstr(f->last_error, "Q_SIZE"));
    assert_int_equal(rd(f, VGPU_REG_Q_BASE_LO), QBASE);
    assert_int_equal(rd(f, VGPU_REG_Q_BASE_HI), 0);
    assert_int_equal(rd(f, VGPU_REG_Q_SIZE), 8);
    /* ENABLE again changes nothing: the counters and the entry stay. */
    wr(f, VGPU_REG_Q_CTRL, VGPU_Q_CTRL_ENABLE | 0x10);
    assert_int_equal(rd(f, VGPU_REG_Q_CTRL), VGPU_Q_CTRL_ENABLE);
    assert_int_equal(rd(f, VGPU_REG_SQ_HEAD), 1);
    assert_int_equal(vgpu_dev_q_inflight(&f->dev), 1);
}

/* ---- One entry ----------------------------------------------------------- */

static void
test_one_entry(void **state)
{
    struct fixture *f = *state;
    uint8_t out[24];
    struct vgpu_dev_stats st;

    for (size_t i = 0; i < sizeof(out); i++) {
        out[i] = (uint8_t)(0xA0 + i);
    }
    q_enable(f, 4);
    put_sqe(f, 4, 0, 40, 0xfeedbeefu);
    wr(f, VGPU_REG_SQ_TAIL, 1);
    assert_int_equal(f->nsub, 1);
    assert_int_equal(f->subs[0].queued, 1);
    assert_int_equal(f->subs[0].len, 40);
    assert_int_equal(f->subs[0].vm_id, TEST_VM_ID);
    assert_int_equal(f->subs[0].pool_id, TEST_POOL);
    assert_int_equal(f->subs[0].priority, TEST_PRIO);
    assert_memory_equal(f->subs[0].head, f->mem + in_addr(0), 16);
    assert_true(f->subs[0].wire_id & VGPU_Q_WIRE_ID_BIT);
    assert_int_equal(rd(f, VGPU_REG_SQ_HEAD), 1);
    assert_int_equal(rd(f, VGPU_REG_CQ_TAIL), 0);
    assert_int_equal(vgpu_dev_q_inflight(&f->dev), 1);
    /* Nothing completed yet: no CQ entry, no interrupt status. */
    assert_int_equal(get_cqe(f, 4, 0).flags, 0);
    assert_int_equal(rd(f, VGPU_REG_IRQ_STATUS), 0);

    answer(f, f->subs[0].wire_id, out, sizeof(out));
    assert_memory_equal(f->mem + out_addr(0), out, sizeof(out));
    assert_int_equal(f->mem[out_addr(0) + sizeof(out)], OUT_FILL);
    assert_cqe(f, 4, 0, 0xfeedbeefu, VGPU_ERR_NONE, sizeof(out));
    assert_int_equal(rd(f, VGPU_REG_CQ_TAIL), 1);
    assert_int_equal(rd(f, VGPU_REG_IRQ_STATUS), VGPU_IRQ_STATUS_QUEUE);
    assert_int_equal(vgpu_dev_q_inflight(&f->dev), 0);
    /* The same answer again is stale. */
    assert_int_equal(
        vgpu_dev_q_complete(&f->dev, f->subs[0].wire_id, 0, out, sizeof(out)),
        -ESTALE);
    vgpu_dev_get_stats(&f->dev, &st);
    assert_int_equal(st.q_taken, 1);
    assert_int_equal(st.q_submitted, 1);
    assert_int_equal(st.q_completions, 1);
    assert_int_equal(st.q_errors, 0);
    assert_int_equal(st.stale_responses, 1);
    assert_int_equal(f->guest_errors, 0);
}

/* ---- Interrupts ---------------------------------------------------------- */

static void
test_irq(void **state)
{
    struct fixture *f = *state;

    q_enable(f, 8);
    for (uint32_t i = 0; i < 3; i++) {
        put_sqe(f, 8, i, 8, i);
    }
    wr(f, VGPU_REG_SQ_TAIL, 3);
    assert_int_equal(f->nsub, 3);
    /* Disabled: status set, line low. */
    answer(f, f->subs[0].wire_id, NULL, 0);
    assert_int_equal(rd(f, VGPU_REG_IRQ_STATUS), VGPU_IRQ_STATUS_QUEUE);
    assert_int_equal(f->irq_calls, 0);
    /* IRQ_CTRL bit 0 alone does not raise it for the queue. */
    wr(f, VGPU_REG_IRQ_CTRL, VGPU_IRQ_CTRL_ENABLE);
    assert_int_equal(f->irq_level, 0);
    wr(f, VGPU_REG_IRQ_CTRL, VGPU_IRQ_CTRL_QUEUE);
    assert_int_equal(f->irq_level, 1);
    assert_int_equal(f->irq_rises, 1);
    /* A second completion while pending: no new rise. */
    answer(f, f->subs[1].wire_id, NULL, 0);
    assert_int_equal(f->irq_rises, 1);
    /* W1C of bit 0 does not clear bit 1. */
    wr(f, VGPU_REG_IRQ_STATUS, VGPU_IRQ_STATUS_DONE);
    assert_int_equal(rd(f, VGPU_REG_IRQ_STATUS), VGPU_IRQ_STATUS_QUEUE);
    wr(f, VGPU_REG_IRQ_STATUS, VGPU_IRQ_STATUS_QUEUE);
    assert_int_equal(rd(f, VGPU_REG_IRQ_STATUS), 0);
    assert_int_equal(f->irq_level, 0);
    /* The next completion rises again. */
    answer(f, f->subs[2].wire_id, NULL, 0);
    assert_int_equal(f->irq_level, 1);
    assert_int_equal(f->irq_rises, 2);

    /* Mailbox and queue together: the line stays up until both clear. */
    wr(f, VGPU_REG_IRQ_CTRL, VGPU_IRQ_LINE_MASK);
    wr(f, VGPU_REG_REQUEST_LEN, 8);
    wr(f, VGPU_REG_DOORBELL, VGPU_DOORBELL_RING);
    assert_int_equal(vgpu_dev_complete(&f->dev, f->subs[3].generation,
                                       f->subs[3].wire_id, 0, NULL, 0),
                     0);
    assert_int_equal(rd(f, VGPU_REG_IRQ_STATUS), VGPU_IRQ_LINE_MASK);
    assert_int_equal(f->irq_rises, 2);
    wr(f, VGPU_REG_IRQ_STATUS, VGPU_IRQ_STATUS_QUEUE);
    assert_int_equal(f->irq_level, 1);
    wr(f, VGPU_REG_IRQ_STATUS, VGPU_IRQ_STATUS_DONE);
    assert_int_equal(f->irq_level, 0);
}

/* ---- Rings that DMA cannot reach ----------------------------------------- */

static void
assert_stopped(struct fixture *f)
{
    assert_int_equal(rd(f, VGPU_REG_Q_CTRL), 0);
    assert_int_equal(rd(f, VGPU_REG_Q_ERROR), VGPU_ERR_DMA_ERROR);
    assert_int_equal(vgpu_dev_q_inflight(&f->dev), 0);
}

/* A ring of this many entries just below FAULT_LO: its SQ (4 KiB, so the
 * base is aligned) is readable, its CQ faults. */
#define CQ_FAULT_N (VGPU_Q_BASE_ALIGN / VGPU_Q_SQE_SIZE)

static void
test_ring_faults(void **state)
{
    struct fixture *f = *state;

    /* An SQ in the faulting range: the first SQ_TAIL write stops it. */
    q_enable_at(f, FAULT_LO, 4);
    wr(f, VGPU_REG_SQ_TAIL, 1);
    assert_stopped(f);
    assert_int_equal(f->nsub, 0);
    assert_int_equal(f->dev.stats.q_stops, 1);
    assert_non_null(strstr(f->last_error, "SQ entry"));
    /* A stopped queue ignores the doorbell... */
    wr(f, VGPU_REG_SQ_TAIL, 2);
    assert_int_equal(rd(f, VGPU_REG_SQ_TAIL), 1);
    /* ...and shows where it stopped until Q_CTRL is written. */
    wr(f, VGPU_REG_Q_CTRL, 0);
    assert_int_equal(rd(f, VGPU_REG_SQ_TAIL), 0);
    assert_int_equal(rd(f, VGPU_REG_Q_ERROR), VGPU_ERR_DMA_ERROR);

    /* Outside guest memory. */
    q_enable_at(f, GMEM_SIZE, 4);
    wr(f, VGPU_REG_SQ_TAIL, 1);
    assert_stopped(f);

    /* Bus mastering off (-EPERM). */
    q_enable(f, 4);
    f->bus_master_off = 1;
    wr(f, VGPU_REG_SQ_TAIL, 1);
    assert_stopped(f);
    f->bus_master_off = 0;

    /* SQ readable, CQ in the faulting range: the entries go out; the first
     * completion stops the queue and abandons the others. */
    q_enable_at(f, FAULT_LO - CQ_FAULT_N * VGPU_Q_SQE_SIZE, CQ_FAULT_N);
    for (uint32_t i = 0; i < 2; i++) {
        uint8_t *e = f->mem + FAULT_LO - CQ_FAULT_N * VGPU_Q_SQE_SIZE +
                     i * VGPU_Q_SQE_SIZE;

        put64(e + VGPU_SQE_IN_ADDR, in_addr(i));
        vgpu_put_le32(e + VGPU_SQE_IN_LEN, 8);
        vgpu_put_le32(e + VGPU_SQE_TAG, i);
        put64(e + VGPU_SQE_OUT_ADDR, out_addr(i));
        vgpu_put_le32(e + VGPU_SQE_OUT_CAP, 8);
        vgpu_put_le32(e + VGPU_SQE_FLAGS, 0);
    }
    wr(f, VGPU_REG_SQ_TAIL, 2);
    assert_int_equal(f->nsub, 2);
    assert_int_equal(
        vgpu_dev_q_complete(&f->dev, f->subs[0].wire_id, 0, NULL, 0), 0);
    assert_stopped(f);
    assert_non_null(strstr(f->last_error, "CQ entry"));
    assert_int_equal(rd(f, VGPU_REG_CQ_TAIL), 0);
    assert_int_equal(
        vgpu_dev_q_complete(&f->dev, f->subs[1].wire_id, 0, NULL, 0), -ESTALE);
    assert_int_equal(f->dev.stats.q_stops, 4);

    /* Re-enabling a good ring clears Q_ERROR and works. */
    q_enable(f, 4);
    put_sqe(f, 4, 0, 8, 9);
    wr(f, VGPU_REG_SQ_TAIL, 1);
    answer(f, f->subs[2].wire_id, NULL, 0);
    assert_cqe(f, 4, 0, 9, VGPU_ERR_NONE, 0);
}

/* ---- SQ_TAIL and CQ_HEAD writes ------------------------------------------ */

static void
test_sq_tail_rules(void **state)
{
    struct fixture *f = *state;

    /* While disabled: ignored. */
    wr(f, VGPU_REG_SQ_TAIL, 1);
    wr(f, VGPU_REG_CQ_HEAD, 1);
    assert_int_equal(f->guest_errors, 2);
    assert_int_equal(rd(f, VGPU_REG_SQ_TAIL), 0);
    assert_int_equal(rd(f, VGPU_REG_CQ_HEAD), 0);

    q_enable(f, 4);
    vgpu_dev_q_set_max_inflight(&f->dev, 1);
    for (uint32_t i = 0; i < 4; i++) {
        put_sqe(f, 4, i, 8, i);
    }
    /* More than N ahead of SQ_HEAD: ignored, nothing taken. */
    wr(f, VGPU_REG_SQ_TAIL, 5);
    assert_int_equal(rd(f, VGPU_REG_SQ_TAIL), 0);
    assert_int_equal(f->nsub, 0);
    assert_int_equal(f->guest_errors, 3);
    /* Far ahead (a wrapped "negative" tail): ignored. */
    wr(f, VGPU_REG_SQ_TAIL, 0xffffffffu);
    assert_int_equal(rd(f, VGPU_REG_SQ_TAIL), 0);
    assert_int_equal(f->guest_errors, 4);
    /* Exactly N: taken up to the in-flight limit (1). */
    wr(f, VGPU_REG_SQ_TAIL, 4);
    assert_int_equal(rd(f, VGPU_REG_SQ_TAIL), 4);
    assert_int_equal(rd(f, VGPU_REG_SQ_HEAD), 1);
    assert_int_equal(f->nsub, 1);
    /* Back, even to a value still ahead of SQ_HEAD: ignored. */
    wr(f, VGPU_REG_SQ_TAIL, 2);
    assert_int_equal(rd(f, VGPU_REG_SQ_TAIL), 4);
    assert_int_equal(f->guest_errors, 5);
    assert_non_null(strstr(f->last_error, "SQ_TAIL 2 ignored"));
    /* The same value again is allowed (no guest error). */
    wr(f, VGPU_REG_SQ_TAIL, 4);
    assert_int_equal(f->guest_errors, 5);
    /* SQ_HEAD + N with SQ_HEAD 1: 5 is fine now... */
    wr(f, VGPU_REG_SQ_TAIL, 5);
    assert_int_equal(rd(f, VGPU_REG_SQ_TAIL), 5);
    /* ...6 is not. */
    wr(f, VGPU_REG_SQ_TAIL, 6);
    assert_int_equal(rd(f, VGPU_REG_SQ_TAIL), 5);
    assert_int_equal(f->guest_errors, 6);
    /* Nothing the ignored writes did reached the transport. */
    assert_int_equal(f->nsub, 1);

    /* CQ_HEAD beyond CQ_TAIL, or back: ignored. */
    answer(f, f->subs[0].wire_id, NULL, 0);
    assert_int_equal(rd(f, VGPU_REG_CQ_TAIL), 1);
    wr(f, VGPU_REG_CQ_HEAD, 2);
    assert_int_equal(rd(f, VGPU_REG_CQ_HEAD), 0);
    assert_int_equal(f->guest_errors, 7);
    wr(f, VGPU_REG_CQ_HEAD, 1);
    assert_int_equal(rd(f, VGPU_REG_CQ_HEAD), 1);
    wr(f, VGPU_REG_CQ_HEAD, 0);
    assert_int_equal(rd(f, VGPU_REG_CQ_HEAD), 1);
    assert_int_equal(f->guest_errors, 8);
}

/* ---- Entries ------------------------------------------------------------- */

static void
test_entry_lengths(void **state)
{
    struct fixture *f = *state;
    uint8_t *big = f->mem + IN_BASE;

    q_enable(f, 8);
    put_sqe(f, 8, 0, VGPU_Q_MIN_IN_LEN - 1, 100); /* 7 */
    put_sqe(f, 8, 1, VGPU_Q_MIN_IN_LEN, 101);     /* 8 */
    put_sqe_raw(f, 8, 2, IN_BASE, VGPU_Q_MAX_XFER, 102, OUT_BASE,
                VGPU_Q_MAX_XFER, 0);
    put_sqe_raw(f, 8, 3, IN_BASE, VGPU_Q_MAX_XFER + 1, 103, OUT_BASE, 0, 0);
    put_sqe_raw(f, 8, 4, IN_BASE, 8, 104, OUT_BASE, VGPU_Q_MAX_XFER + 1, 0);
    put_sqe_raw(f, 8, 5, IN_BASE, 8, 105, OUT_BASE, 0, 1);
    put_sqe_raw(f, 8, 6, IN_BASE, 0, 106, OUT_BASE, 0, 0);
    for (uint32_t k = 0; k < VGPU_Q_MAX_XFER; k++) {
        big[k] = (uint8_t)(k * 7u + (k >> 12));
    }
    wr(f, VGPU_REG_SQ_TAIL, 7);
    assert_int_equal(rd(f, VGPU_REG_SQ_HEAD), 7);
    /* Only the 8-byte and the 1 MiB entries went out, with their bytes. */
    assert_int_equal(f->nsub, 2);
    assert_int_equal(f->subs[0].len, VGPU_Q_MIN_IN_LEN);
    assert_int_equal(f->subs[1].len, VGPU_Q_MAX_XFER);
    assert_memory_equal(f->qbuf, big, VGPU_Q_MAX_XFER);
    /* The others completed at once, in SQ order. */
    assert_cqe(f, 8, 0, 100, VGPU_ERR_INVALID_LENGTH, 0);
    assert_cqe(f, 8, 1, 103, VGPU_ERR_INVALID_LENGTH, 0);
    assert_cqe(f, 8, 2, 104, VGPU_ERR_INVALID_LENGTH, 0);
    assert_cqe(f, 8, 3, 105, VGPU_ERR_INVALID_REQUEST, 0);
    assert_cqe(f, 8, 4, 106, VGPU_ERR_INVALID_LENGTH, 0);
    assert_int_equal(rd(f, VGPU_REG_CQ_TAIL), 5);
    /* A 1 MiB answer into a 1 MiB out_cap. */
    answer(f, f->subs[1].wire_id, big, VGPU_Q_MAX_XFER);
    assert_cqe(f, 8, 5, 102, VGPU_ERR_NONE, VGPU_Q_MAX_XFER);
    assert_memory_equal(f->mem + OUT_BASE, big, VGPU_Q_MAX_XFER);
    assert_int_equal(f->dev.stats.q_errors, 5);
    assert_int_equal(f->guest_errors, 0);
}

static void
test_entry_dma_errors(void **state)
{
    struct fixture *f = *state;

    q_enable(f, 8);
    put_sqe_raw(f, 8, 0, FAULT_LO - 4, 8, 1, OUT_BASE, 64, 0);
    put_sqe_raw(f, 8, 1, GMEM_SIZE - 4, 8, 2, OUT_BASE, 64, 0);
    put_sqe_raw(f, 8, 2, UINT64_MAX - 3, 8, 3, OUT_BASE, 64, 0);
    put_sqe(f, 8, 3, 8, 4);
    wr(f, VGPU_REG_SQ_TAIL, 4);
    /* Each bad input completes with DMA_ERROR; the queue goes on. */
    assert_cqe(f, 8, 0, 1, VGPU_ERR_DMA_ERROR, 0);
    assert_cqe(f, 8, 1, 2, VGPU_ERR_DMA_ERROR, 0);
    assert_cqe(f, 8, 2, 3, VGPU_ERR_DMA_ERROR, 0);
    assert_int_equal(rd(f, VGPU_REG_Q_CTRL), VGPU_Q_CTRL_ENABLE);
    assert_int_equal(rd(f, VGPU_REG_Q_ERROR), 0);
    assert_int_equal(f->nsub, 1);
    /* No buffer from the adapter: DMA_ERROR too. */
    f->qbuf_null = 1;
    put_sqe(f, 8, 4, 8, 5);
    wr(f, VGPU_REG_SQ_TAIL, 5);
    assert_cqe(f, 8, 3, 5, VGPU_ERR_DMA_ERROR, 0);
    assert_int_equal(f->nsub, 1);
    assert_int_equal(f->dev.stats.q_dma_errors, 4);
    assert_int_equal(f->dev.stats.q_stops, 0);
}

static void
test_out_cap(void **state)
{
    struct fixture *f = *state;
    uint8_t resp[64];
    const char msg[] = "backend: out of memory";

    memset(resp, 0x5c, sizeof(resp));
    q_enable(f, 8);
    for (uint32_t i = 0; i < 6; i++) {
        put_sqe_raw(f, 8, i, in_addr(i), 8, i, out_addr(i), 16, 0);
    }
    put_sqe_raw(f, 8, 6, in_addr(6), 8, 6, FAULT_LO, 16, 0);
    wr(f, VGPU_REG_SQ_TAIL, 7);
    assert_int_equal(f->nsub, 7);
    /* Exactly out_cap: fine. */
    answer(f, f->subs[0].wire_id, resp, 16);
    assert_cqe(f, 8, 0, 0, VGPU_ERR_NONE, 16);
    /* One more: RESPONSE_TOO_LARGE and nothing written. */
    answer(f, f->subs[1].wire_id, resp, 17);
    assert_cqe(f, 8, 1, 1, VGPU_ERR_RESPONSE_TOO_LARGE, 0);
    assert_int_equal(f->mem[out_addr(1)], OUT_FILL);
    /* Oversize with the payload discarded (data NULL). */
    answer(f, f->subs[2].wire_id, NULL, 2 * VGPU_Q_MAX_XFER);
    assert_cqe(f, 8, 2, 2, VGPU_ERR_RESPONSE_TOO_LARGE, 0);
    /* An error's message is cut to out_cap. */
    assert_int_equal(vgpu_dev_q_complete(&f->dev, f->subs[3].wire_id,
                                         VGPU_ERR_BACKEND_ERROR,
                                         (const uint8_t *)msg, strlen(msg)),
                     0);
    assert_cqe(f, 8, 3, 3, VGPU_ERR_BACKEND_ERROR, 16);
    assert_memory_equal(f->mem + out_addr(3), msg, 16);
    assert_int_equal(f->mem[out_addr(3) + 16], OUT_FILL);
    /* A code the device cannot report: PROTOCOL_ERROR. */
    assert_int_equal(vgpu_dev_q_complete(&f->dev, f->subs[4].wire_id,
                                         VGPU_ERR_COUNT, NULL, 0),
                     0);
    assert_cqe(f, 8, 4, 4, VGPU_ERR_PROTOCOL_ERROR, 0);
    /* An error without a message. */
    assert_int_equal(vgpu_dev_q_complete(&f->dev, f->subs[5].wire_id,
                                         VGPU_ERR_REJECTED, NULL, 5),
                     0);
    assert_cqe(f, 8, 5, 5, VGPU_ERR_REJECTED, 0);
    /* Output that DMA cannot write: DMA_ERROR, the queue goes on. */
    answer(f, f->subs[6].wire_id, resp, 8);
    assert_cqe(f, 8, 6, 6, VGPU_ERR_DMA_ERROR, 0);
    assert_int_equal(rd(f, VGPU_REG_Q_CTRL), VGPU_Q_CTRL_ENABLE);
}

/* ---- Order, tags, room --------------------------------------------------- */

static void
test_reverse_order(void **state)
{
    struct fixture *f = *state;
    uint8_t resp[8];

    q_enable(f, 4);
    for (uint32_t i = 0; i < 4; i++) {
        put_sqe(f, 4, i, 8, 0x100 + i);
    }
    wr(f, VGPU_REG_SQ_TAIL, 4);
    assert_int_equal(f->nsub, 4);
    for (int i = 3; i >= 0; i--) {
        memset(resp, 0x10 + i, sizeof(resp));
        answer(f, f->subs[i].wire_id, resp, (size_t)i + 1);
    }
    /* CQ entries in completion order, each output at its own out_addr. */
    for (uint32_t k = 0; k < 4; k++) {
        uint32_t i = 3 - k;

        assert_cqe(f, 4, k, 0x100 + i, VGPU_ERR_NONE, i + 1);
        assert_int_equal(f->mem[out_addr(i)], 0x10 + i);
        assert_int_equal(f->mem[out_addr(i) + i], 0x10 + i);
        assert_int_equal(f->mem[out_addr(i) + i + 1], OUT_FILL);
    }
}

static void
test_tags_repeated(void **state)
{
    struct fixture *f = *state;
    uint8_t resp[4];

    q_enable(f, 4);
    for (uint32_t i = 0; i < 3; i++) {
        put_sqe(f, 4, i, 8, 7);
    }
    wr(f, VGPU_REG_SQ_TAIL, 3);
    assert_int_equal(f->nsub, 3);
    /* Three distinct wire ids, one per slot. */
    assert_int_not_equal(f->subs[0].wire_id, f->subs[1].wire_id);
    assert_int_not_equal(f->subs[1].wire_id, f->subs[2].wire_id);
    assert_int_not_equal(f->subs[0].wire_id, f->subs[2].wire_id);
    /* Answer the middle one: its bytes go to its own out_addr. */
    memset(resp, 0x42, sizeof(resp));
    answer(f, f->subs[1].wire_id, resp, sizeof(resp));
    assert_int_equal(f->mem[out_addr(1)], 0x42);
    assert_int_equal(f->mem[out_addr(0)], OUT_FILL);
    assert_int_equal(f->mem[out_addr(2)], OUT_FILL);
    memset(resp, 0x43, sizeof(resp));
    answer(f, f->subs[2].wire_id, resp, sizeof(resp));
    assert_int_equal(f->mem[out_addr(2)], 0x43);
    assert_int_equal(f->mem[out_addr(0)], OUT_FILL);
    assert_cqe(f, 4, 0, 7, VGPU_ERR_NONE, 4);
    assert_cqe(f, 4, 1, 7, VGPU_ERR_NONE, 4);
    assert_int_equal(vgpu_dev_q_inflight(&f->dev), 1);
}

static void
test_cq_not_consumed(void **state)
{
    struct fixture *f = *state;
    const uint32_t n = 4;

    q_enable(f, n);
    for (uint32_t i = 0; i < n; i++) {
        put_sqe(f, n, i, 8, 0x200 + i);
    }
    wr(f, VGPU_REG_SQ_TAIL, n);
    for (uint32_t i = 0; i < n; i++) {
        answer(f, f->subs[i].wire_id, NULL, 0);
        put_sqe(f, n, n + i, 8, 0x200 + n + i);
    }
    assert_int_equal(rd(f, VGPU_REG_CQ_TAIL), n);
    /* The guest submits n more without consuming: the device takes none. */
    wr(f, VGPU_REG_SQ_TAIL, 2 * n);
    assert_int_equal(rd(f, VGPU_REG_SQ_TAIL), 2 * n);
    assert_int_equal(rd(f, VGPU_REG_SQ_HEAD), n);
    assert_int_equal(f->nsub, (int)n);
    /* Two consumed: exactly two taken. */
    wr(f, VGPU_REG_CQ_HEAD, 2);
    assert_int_equal(rd(f, VGPU_REG_SQ_HEAD), n + 2);
    assert_int_equal(f->nsub, (int)n + 2);
    /* Their completions overwrite only consumed CQ slots (second pass). */
    answer(f, f->subs[n + 1].wire_id, NULL, 0);
    answer(f, f->subs[n].wire_id, NULL, 0);
    assert_cqe(f, n, n, 0x200 + n + 1, VGPU_ERR_NONE, 0);
    assert_cqe(f, n, n + 1, 0x200 + n, VGPU_ERR_NONE, 0);
    assert_cqe(f, n, 2, 0x202, VGPU_ERR_NONE, 0); /* unconsumed, intact */
    assert_cqe(f, n, 3, 0x203, VGPU_ERR_NONE, 0);
    /* The rest once the guest consumes; none lost. */
    wr(f, VGPU_REG_CQ_HEAD, n + 2);
    assert_int_equal(rd(f, VGPU_REG_SQ_HEAD), 2 * n);
    answer(f, f->subs[n + 2].wire_id, NULL, 0);
    answer(f, f->subs[n + 3].wire_id, NULL, 0);
    assert_int_equal(rd(f, VGPU_REG_CQ_TAIL), 2 * n);
    assert_cqe(f, n, n + 2, 0x200 + n + 2, VGPU_ERR_NONE, 0);
    assert_cqe(f, n, n + 3, 0x200 + n + 3, VGPU_ERR_NONE, 0);
    assert_int_equal(f->dev.stats.q_completions, 2 * n);
}

static void
test_phase(void **state)
{
    struct fixture *f = *state;

    /* A one-entry ring: every completion is a new pass. */
    q_enable(f, 1);
    f->sync = SYNC_ECHO;
    for (uint32_t i = 0; i < 5; i++) {
        put_sqe(f, 1, i, 8, i);
        wr(f, VGPU_REG_SQ_TAIL, i + 1);
        assert_int_equal(rd(f, VGPU_REG_CQ_TAIL), i + 1);
        assert_cqe(f, 1, i, i, VGPU_ERR_NONE, 8);
        wr(f, VGPU_REG_CQ_HEAD, i + 1);
    }
    assert_int_equal(get_cqe(f, 1, 0).flags, VGPU_CQE_PHASE); /* pass 4 */
}

static void
test_counters_wrap(void **state)
{
    struct fixture *f = *state;

    /* Near 2^32 the free-running counters wrap; PHASE stays right. */
    q_enable(f, 2);
    f->dev.sq_tail = f->dev.sq_head = f->dev.cq_tail = f->dev.cq_head =
        0xfffffffeu;
    f->sync = SYNC_ECHO;
    for (uint32_t k = 0; k < 4; k++) {
        uint32_t i = 0xfffffffeu + k;

        put_sqe(f, 2, i, 8, k);
        wr(f, VGPU_REG_SQ_TAIL, i + 1);
        assert_int_equal(rd(f, VGPU_REG_CQ_TAIL), i + 1);
        assert_cqe(f, 2, i, k, VGPU_ERR_NONE, 8);
        wr(f, VGPU_REG_CQ_HEAD, i + 1);
    }
    assert_int_equal(rd(f, VGPU_REG_CQ_TAIL), 2);
}

/* ---- In-flight limit, -EAGAIN, refusals ---------------------------------- */

static void
test_max_inflight(void **state)
{
    struct fixture *f = *state;

    vgpu_dev_q_set_max_inflight(&f->dev, 1000);
    assert_int_equal(rd(f, VGPU_REG_Q_MAX_INFLIGHT), VGPU_Q_ENTRIES_MAX);
    vgpu_dev_q_set_max_inflight(&f->dev, 0);
    assert_int_equal(rd(f, VGPU_REG_Q_MAX_INFLIGHT), 1);
    vgpu_dev_q_set_max_inflight(&f->dev, 2);
    assert_int_equal(rd(f, VGPU_REG_Q_MAX_INFLIGHT), 2);
    q_enable(f, 8);
    assert_int_equal(rd(f, VGPU_REG_Q_MAX_INFLIGHT), 2);
    for (uint32_t i = 0; i < 5; i++) {
        put_sqe(f, 8, i, 8, i);
    }
    wr(f, VGPU_REG_SQ_TAIL, 5);
    assert_int_equal(f->nsub, 2);
    assert_int_equal(vgpu_dev_q_inflight(&f->dev), 2);
    /* An answer frees room: the device takes the next from inside it. */
    answer(f, f->subs[1].wire_id, NULL, 0);
    assert_int_equal(f->nsub, 3);
    assert_int_equal(vgpu_dev_q_inflight(&f->dev), 2);
    /* A raised count takes effect at the next kick. */
    vgpu_dev_q_set_max_inflight(&f->dev, 64);
    assert_int_equal(rd(f, VGPU_REG_Q_MAX_INFLIGHT), 8);
    assert_int_equal(f->nsub, 3);
    vgpu_dev_q_kick(&f->dev);
    assert_int_equal(f->nsub, 5);
    assert_int_equal(rd(f, VGPU_REG_SQ_HEAD), 5);
    /* min(N, accepted) with N smaller. */
    wr(f, VGPU_REG_Q_CTRL, 0);
    q_enable(f, 4);
    assert_int_equal(rd(f, VGPU_REG_Q_MAX_INFLIGHT), 4);
    /* A reset keeps the mediator's count. */
    vgpu_dev_reset(&f->dev);
    assert_int_equal(rd(f, VGPU_REG_Q_MAX_INFLIGHT), 64);
}

static void
test_eagain_then_kick(void **state)
{
    struct fixture *f = *state;

    q_enable(f, 8);
    for (uint32_t i = 0; i < 3; i++) {
        put_sqe(f, 8, i, 8, i);
    }
    f->submit_rc = -EAGAIN;
    wr(f, VGPU_REG_SQ_TAIL, 2);
    /* One try, then the device waits: nothing taken, nothing completed. */
    assert_int_equal(f->nsub, 1);
    assert_int_equal(rd(f, VGPU_REG_SQ_HEAD), 0);
    assert_int_equal(rd(f, VGPU_REG_CQ_TAIL), 0);
    assert_int_equal(vgpu_dev_q_inflight(&f->dev), 0);
    /* More doorbells while stalled: no submit. */
    wr(f, VGPU_REG_SQ_TAIL, 3);
    assert_int_equal(f->nsub, 1);
    assert_int_equal(rd(f, VGPU_REG_SQ_TAIL), 3);
    /* The connection is ready: everything goes, the first entry again. */
    f->submit_rc = 0;
    vgpu_dev_q_kick(&f->dev);
    assert_int_equal(f->nsub, 4);
    assert_memory_equal(f->subs[1].head, f->subs[0].head, 8);
    assert_int_equal(rd(f, VGPU_REG_SQ_HEAD), 3);
    assert_int_equal(vgpu_dev_q_inflight(&f->dev), 3);
    assert_int_equal(f->dev.stats.q_taken, 3);

    /* A lost connection also ends a stall. */
    f->submit_rc = -EAGAIN;
    put_sqe(f, 8, 3, 8, 3);
    wr(f, VGPU_REG_SQ_TAIL, 4);
    assert_int_equal(f->nsub, 5);
    f->submit_rc = 0;
    vgpu_dev_transport_lost(&f->dev);
    assert_int_equal(f->nsub, 6);
    assert_int_equal(rd(f, VGPU_REG_SQ_HEAD), 4);
}

static void
test_submit_refusals(void **state)
{
    struct fixture *f = *state;

    q_enable(f, 8);
    for (uint32_t i = 0; i < 4; i++) {
        put_sqe(f, 8, i, 8, i);
    }
    f->submit_rc = VGPU_ERR_REJECTED;
    wr(f, VGPU_REG_SQ_TAIL, 1);
    f->submit_rc = -EIO;
    wr(f, VGPU_REG_SQ_TAIL, 2);
    f->submit_rc = 99;
    wr(f, VGPU_REG_SQ_TAIL, 3);
    f->submit_rc = 0;
    wr(f, VGPU_REG_SQ_TAIL, 4);
    assert_int_equal(f->nsub, 4);
    assert_cqe(f, 8, 0, 0, VGPU_ERR_REJECTED, 0);
    assert_cqe(f, 8, 1, 1, VGPU_ERR_MEDIATOR_UNAVAILABLE, 0);
    assert_cqe(f, 8, 2, 2, VGPU_ERR_PROTOCOL_ERROR, 0);
    assert_int_equal(rd(f, VGPU_REG_SQ_HEAD), 4);
    assert_int_equal(rd(f, VGPU_REG_CQ_TAIL), 3);
    assert_int_equal(vgpu_dev_q_inflight(&f->dev), 1);
    /* A refused entry's wire id is not in flight. */
    assert_int_equal(
        vgpu_dev_q_complete(&f->dev, f->subs[0].wire_id, 0, NULL, 0), -ESTALE);
    assert_int_equal(f->dev.stats.q_submitted, 1);
}

static void
test_sync_completion(void **state)
{
    struct fixture *f = *state;
    const uint32_t n = 4;

    /* Answers inside submit (the simulator): the CQ fills, the device stops
     * at N beyond CQ_HEAD and loses nothing. */
    q_enable(f, n);
    f->sync = SYNC_ECHO;
    for (uint32_t i = 0; i < n; i++) {
        put_sqe(f, n, i, 8 + i, i);
    }
    wr(f, VGPU_REG_SQ_TAIL, n);
    assert_int_equal(rd(f, VGPU_REG_SQ_HEAD), n);
    assert_int_equal(rd(f, VGPU_REG_CQ_TAIL), n);
    for (uint32_t i = 0; i < n; i++) {
        assert_cqe(f, n, i, i, VGPU_ERR_NONE, 8 + i);
    }
    for (uint32_t i = n; i < 2 * n; i++) {
        put_sqe(f, n, i, 8 + i, i);
    }
    wr(f, VGPU_REG_SQ_TAIL, 2 * n);
    assert_int_equal(f->nsub, (int)n);
    assert_int_equal(rd(f, VGPU_REG_SQ_HEAD), n);
    wr(f, VGPU_REG_CQ_HEAD, n);
    assert_int_equal(f->nsub, 2 * (int)n);
    assert_int_equal(rd(f, VGPU_REG_CQ_TAIL), 2 * n);
    for (uint32_t i = 0; i < 2 * n; i++) {
        if (i >= n) {
            assert_cqe(f, n, i, i, VGPU_ERR_NONE, 8 + i);
        }
        assert_memory_equal(f->mem + out_addr(i), f->mem + in_addr(i), 8 + i);
    }
    assert_int_equal(vgpu_dev_q_inflight(&f->dev), 0);
}

/* ---- Abandon: reset, disable, connection lost ---------------------------- */

static void
test_reset_with_inflight(void **state)
{
    struct fixture *f = *state;
    uint8_t cq[4 * VGPU_Q_CQE_SIZE];
    uint32_t old;

    q_enable(f, 4);
    wr(f, VGPU_REG_IRQ_CTRL, VGPU_IRQ_LINE_MASK);
    for (uint32_t i = 0; i < 3; i++) {
        put_sqe(f, 4, i, 8, i);
    }
    wr(f, VGPU_REG_SQ_TAIL, 3);
    answer(f, f->subs[0].wire_id, NULL, 0);
    assert_int_equal(f->irq_level, 1);
    vgpu_dev_reset(&f->dev);
    assert_int_equal(f->irq_level, 0);
    for (uint64_t a = VGPU_Q_REG_OFFSET; a < VGPU_REG_Q_ERROR; a += 4) {
        assert_int_equal(rd(f, a), 0);
    }
    assert_int_equal(rd(f, VGPU_REG_Q_ERROR), 0);
    assert_int_equal(rd(f, VGPU_REG_IRQ_CTRL), 0);
    assert_int_equal(vgpu_dev_q_inflight(&f->dev), 0);
    /* Late answers: stale, and guest memory is not touched. */
    memcpy(cq, f->mem + QBASE + 4 * VGPU_Q_SQE_SIZE, sizeof(cq));
    old = f->subs[1].wire_id;
    assert_int_equal(vgpu_dev_q_complete(&f->dev, old, 0, NULL, 0), -ESTALE);
    assert_int_equal(vgpu_dev_q_complete(&f->dev, f->subs[2].wire_id, 0,
                                         (const uint8_t *)"late", 4),
                     -ESTALE);
    assert_memory_equal(cq, f->mem + QBASE + 4 * VGPU_Q_SQE_SIZE, sizeof(cq));
    assert_int_equal(f->mem[out_addr(2)], OUT_FILL);
    assert_int_equal(f->dev.stats.stale_responses, 2);
    /* The slots are used again, under new wire ids; the old ones stay
     * stale. */
    q_enable(f, 4);
    put_sqe(f, 4, 0, 8, 50);
    put_sqe(f, 4, 1, 8, 51);
    wr(f, VGPU_REG_SQ_TAIL, 2);
    assert_int_equal(f->nsub, 5);
    assert_int_equal(f->subs[3].wire_id & VGPU_Q_WIRE_SLOT_MASK,
                     f->subs[0].wire_id & VGPU_Q_WIRE_SLOT_MASK);
    assert_int_not_equal(f->subs[3].wire_id, f->subs[0].wire_id);
    assert_int_not_equal(f->subs[4].wire_id, old);
    assert_int_equal(vgpu_dev_q_complete(&f->dev, old, 0, NULL, 0), -ESTALE);
    assert_int_equal(vgpu_dev_q_inflight(&f->dev), 2);
    answer(f, f->subs[4].wire_id, NULL, 0);
    assert_cqe(f, 4, 0, 51, VGPU_ERR_NONE, 0);
}

static void
test_disable_with_inflight(void **state)
{
    struct fixture *f = *state;

    q_enable(f, 4);
    for (uint32_t i = 0; i < 3; i++) {
        put_sqe(f, 4, i, 8, i);
    }
    wr(f, VGPU_REG_SQ_TAIL, 3);
    answer(f, f->subs[2].wire_id, NULL, 0);
    wr(f, VGPU_REG_CQ_HEAD, 1);
    wr(f, VGPU_REG_Q_CTRL, 0);
    /* Counters zeroed, configuration kept, nothing in flight. */
    assert_int_equal(rd(f, VGPU_REG_SQ_TAIL), 0);
    assert_int_equal(rd(f, VGPU_REG_SQ_HEAD), 0);
    assert_int_equal(rd(f, VGPU_REG_CQ_TAIL), 0);
    assert_int_equal(rd(f, VGPU_REG_CQ_HEAD), 0);
    assert_int_equal(rd(f, VGPU_REG_Q_BASE_LO), QBASE);
    assert_int_equal(rd(f, VGPU_REG_Q_SIZE), 4);
    assert_int_equal(vgpu_dev_q_inflight(&f->dev), 0);
    assert_int_equal(
        vgpu_dev_q_complete(&f->dev, f->subs[0].wire_id, 0, NULL, 0), -ESTALE);
    /* Re-enabled, a late answer still matches nothing. */
    wr(f, VGPU_REG_Q_CTRL, VGPU_Q_CTRL_ENABLE);
    assert_int_equal(
        vgpu_dev_q_complete(&f->dev, f->subs[1].wire_id, 0, NULL, 0), -ESTALE);
    assert_int_equal(rd(f, VGPU_REG_CQ_TAIL), 0);
    assert_int_equal(f->dev.stats.stale_responses, 2);
}

static void
test_abandon_inside_submit(void **state)
{
    struct fixture *f = *state;

    /* The device is reset by the adapter while it submits. */
    q_enable(f, 4);
    put_sqe(f, 4, 0, 8, 1);
    put_sqe(f, 4, 1, 8, 2);
    f->sync = SYNC_RESET;
    wr(f, VGPU_REG_SQ_TAIL, 2);
    assert_int_equal(f->nsub, 1);
    assert_int_equal(rd(f, VGPU_REG_Q_CTRL), 0);
    assert_int_equal(rd(f, VGPU_REG_SQ_HEAD), 0);
    assert_int_equal(vgpu_dev_q_inflight(&f->dev), 0);
    /* The guest disables it from inside submit (another vCPU's write,
     * serialised). */
    q_enable(f, 4);
    f->sync = SYNC_DISABLE;
    wr(f, VGPU_REG_SQ_TAIL, 2);
    assert_int_equal(f->nsub, 2);
    assert_int_equal(rd(f, VGPU_REG_SQ_HEAD), 0);
    assert_int_equal(
        vgpu_dev_q_complete(&f->dev, f->subs[1].wire_id, 0, NULL, 0), -ESTALE);
    /* The connection drops inside submit: that entry completes with
     * MEDIATOR_UNAVAILABLE, the next goes out. */
    q_enable(f, 4);
    f->sync = SYNC_LOST;
    wr(f, VGPU_REG_SQ_TAIL, 2);
    assert_int_equal(f->nsub, 4);
    assert_cqe(f, 4, 0, 1, VGPU_ERR_MEDIATOR_UNAVAILABLE, 0);
    assert_cqe(f, 4, 1, 2, VGPU_ERR_MEDIATOR_UNAVAILABLE, 0);
    assert_int_equal(rd(f, VGPU_REG_SQ_HEAD), 2);
    assert_int_equal(vgpu_dev_q_inflight(&f->dev), 0);
}

static void
test_transport_lost(void **state)
{
    struct fixture *f = *state;

    q_enable(f, 8);
    for (uint32_t i = 0; i < 3; i++) {
        put_sqe(f, 8, i, 8, 0x30 + i);
    }
    wr(f, VGPU_REG_SQ_TAIL, 3);
    answer(f, f->subs[1].wire_id, NULL, 0);
    wr(f, VGPU_REG_REQUEST_LEN, 8);
    wr(f, VGPU_REG_DOORBELL, VGPU_DOORBELL_RING);
    assert_int_equal(rd(f, VGPU_REG_STATUS), VGPU_STATUS_BUSY);
    vgpu_dev_transport_lost(&f->dev);
    assert_int_equal(rd(f, VGPU_REG_STATUS), VGPU_STATUS_ERROR);
    assert_int_equal(rd(f, VGPU_REG_ERROR_CODE), VGPU_ERR_MEDIATOR_UNAVAILABLE);
    assert_int_equal(rd(f, VGPU_REG_CQ_TAIL), 3);
    assert_cqe(f, 8, 1, 0x30, VGPU_ERR_MEDIATOR_UNAVAILABLE, 0);
    assert_cqe(f, 8, 2, 0x32, VGPU_ERR_MEDIATOR_UNAVAILABLE, 0);
    assert_int_equal(vgpu_dev_q_inflight(&f->dev), 0);
    assert_int_equal(
        vgpu_dev_q_complete(&f->dev, f->subs[0].wire_id, 0, NULL, 0), -ESTALE);
    /* The queue stays enabled and usable. */
    assert_int_equal(rd(f, VGPU_REG_Q_CTRL), VGPU_Q_CTRL_ENABLE);
}

/* ---- Wire ids and the mailbox -------------------------------------------- */

static void
test_wire_ids(void **state)
{
    struct fixture *f = *state;
    uint32_t w0, w1;

    q_enable(f, 2);
    put_sqe(f, 2, 0, 8, 0);
    put_sqe(f, 2, 1, 8, 1);
    wr(f, VGPU_REG_SQ_TAIL, 1);
    w0 = f->subs[0].wire_id;
    answer(f, w0, NULL, 0);
    wr(f, VGPU_REG_SQ_TAIL, 2);
    w1 = f->subs[1].wire_id;
    /* The same slot, another sequence. */
    assert_int_equal(w0 & VGPU_Q_WIRE_SLOT_MASK, w1 & VGPU_Q_WIRE_SLOT_MASK);
    assert_int_not_equal(w0, w1);
    assert_true(w1 & VGPU_Q_WIRE_ID_BIT);
    /* Wrong sequence, no queue bit, a free slot: stale. */
    assert_int_equal(vgpu_dev_q_complete(&f->dev, w0, 0, NULL, 0), -ESTALE);
    assert_int_equal(
        vgpu_dev_q_complete(&f->dev, w1 & ~VGPU_Q_WIRE_ID_BIT, 0, NULL, 0),
        -ESTALE);
    assert_int_equal(vgpu_dev_q_complete(&f->dev, w1 ^ 1u, 0, NULL, 0),
                     -ESTALE);
    assert_int_equal(f->dev.stats.stale_responses, 3);
    answer(f, w1, NULL, 0);
}

static void
test_mailbox_interleaved(void **state)
{
    struct fixture *f = *state;
    uint8_t req[8] = {1, 0, 0, 0, 0, 0, 0, 0};
    uint8_t resp[3] = {7, 8, 9};
    struct sub mb;

    q_enable(f, 4);
    put_sqe(f, 4, 0, 8, 10);
    put_sqe(f, 4, 1, 8, 11);
    wr(f, VGPU_REG_SQ_TAIL, 1);
    for (size_t i = 0; i < sizeof(req); i++) {
        vgpu_dev_mmio_write(&f->dev, VGPU_REQ_BUF_OFFSET + i, req[i], 1);
    }
    wr(f, VGPU_REG_REQUEST_LEN, sizeof(req));
    wr(f, VGPU_REG_REQUEST_ID, 0x80000001u); /* looks like a wire id */
    wr(f, VGPU_REG_DOORBELL, VGPU_DOORBELL_RING);
    wr(f, VGPU_REG_SQ_TAIL, 2);
    assert_int_equal(f->nsub, 3);
    mb = f->subs[1];
    assert_int_equal(mb.queued, 0);
    assert_int_equal(mb.wire_id, 0x80000001u);
    assert_int_equal(f->subs[0].queued, 1);
    assert_int_equal(f->subs[2].queued, 1);
    /* Each path answers only its own. */
    assert_int_equal(vgpu_dev_complete(&f->dev, mb.generation,
                                       f->subs[0].wire_id, 0, NULL, 0),
                     -ESTALE);
    assert_int_equal(vgpu_dev_q_complete(&f->dev, mb.wire_id, 0, NULL, 0),
                     -ESTALE);
    answer(f, f->subs[2].wire_id, resp, 2);
    assert_int_equal(rd(f, VGPU_REG_STATUS), VGPU_STATUS_BUSY);
    assert_int_equal(vgpu_dev_complete(&f->dev, mb.generation, mb.wire_id, 0,
                                       resp, sizeof(resp)),
                     0);
    assert_int_equal(rd(f, VGPU_REG_STATUS), VGPU_STATUS_DONE);
    assert_int_equal(rd(f, VGPU_REG_RESPONSE_LEN), sizeof(resp));
    assert_int_equal(vgpu_dev_q_inflight(&f->dev), 1);
    answer(f, f->subs[0].wire_id, resp, 3);
    assert_cqe(f, 4, 0, 11, VGPU_ERR_NONE, 2);
    assert_cqe(f, 4, 1, 10, VGPU_ERR_NONE, 3);
    /* A mailbox error leaves the queue alone, and the reverse. */
    wr(f, VGPU_REG_REQUEST_LEN, 0);
    wr(f, VGPU_REG_DOORBELL, VGPU_DOORBELL_RING);
    assert_int_equal(rd(f, VGPU_REG_STATUS), VGPU_STATUS_ERROR);
    assert_int_equal(rd(f, VGPU_REG_Q_CTRL), VGPU_Q_CTRL_ENABLE);
    assert_int_equal(f->dev.stats.doorbells, 1);
    assert_int_equal(f->dev.stats.q_taken, 2);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        VGPU_TEST_FIXTURE("/devmodel/queue/absent_without_dma",
                          test_absent_without_dma, setup_mailbox, teardown),
        VGPU_TEST_FIXTURE("/devmodel/queue/registers", test_registers, setup,
                          teardown),
        VGPU_TEST_FIXTURE("/devmodel/queue/enable/checks", test_enable_checks,
                          setup, teardown),
        VGPU_TEST_FIXTURE("/devmodel/queue/enable/config_locked",
                          test_enabled_config_locked, setup, teardown),
        VGPU_TEST_FIXTURE("/devmodel/queue/one_entry", test_one_entry, setup,
                          teardown),
        VGPU_TEST_FIXTURE("/devmodel/queue/irq", test_irq, setup, teardown),
        VGPU_TEST_FIXTURE("/devmodel/queue/ring_faults", test_ring_faults,
                          setup, teardown),
        VGPU_TEST_FIXTURE("/devmodel/queue/sq_tail_cq_head_rules",
                          test_sq_tail_rules, setup, teardown),
        VGPU_TEST_FIXTURE("/devmodel/queue/entry/in_len_7_8_max_max1",
                          test_entry_lengths, setup, teardown),
        VGPU_TEST_FIXTURE("/devmodel/queue/entry/dma_errors",
                          test_entry_dma_errors, setup, teardown),
        VGPU_TEST_FIXTURE("/devmodel/queue/complete/out_cap", test_out_cap,
                          setup, teardown),
        VGPU_TEST_FIXTURE("/devmodel/queue/complete/reverse_order",
                          test_reverse_order, setup, teardown),
        VGPU_TEST_FIXTURE("/devmodel/queue/complete/tags_repeated",
                          test_tags_repeated, setup, teardown),
        VGPU_TEST_FIXTURE("/devmodel/queue/cq_not_consumed",
                          test_cq_not_consumed, setup, teardown),
        VGPU_TEST_FIXTURE("/devmodel/queue/phase", test_phase, setup, teardown),
        VGPU_TEST_FIXTURE("/devmodel/queue/counters_wrap", test_counters_wrap,
                          setup, teardown),
        VGPU_TEST_FIXTURE("/devmodel/queue/max_inflight", test_max_inflight,
                          setup, teardown),
        VGPU_TEST_FIXTURE("/devmodel/queue/eagain_then_kick",
                          test_eagain_then_kick, setup, teardown),
        VGPU_TEST_FIXTURE("/devmodel/queue/submit_refusals",
                          test_submit_refusals, setup, teardown),
        VGPU_TEST_FIXTURE("/devmodel/queue/sync_completion",
                          test_sync_completion, setup, teardown),
        VGPU_TEST_FIXTURE("/devmodel/queue/reset_with_inflight",
                          test_reset_with_inflight, setup, teardown),
        VGPU_TEST_FIXTURE("/devmodel/queue/disable_with_inflight",
                          test_disable_with_inflight, setup, teardown),
        VGPU_TEST_FIXTURE("/devmodel/queue/abandon_inside_submit",
                          test_abandon_inside_submit, setup, teardown),
        VGPU_TEST_FIXTURE("/devmodel/queue/transport_lost", test_transport_lost,
                          setup, teardown),
        VGPU_TEST_FIXTURE("/devmodel/queue/wire_ids", test_wire_ids, setup,
                          teardown),
        VGPU_TEST_FIXTURE("/devmodel/queue/mailbox_interleaved",
                          test_mailbox_interleaved, setup, teardown),
    };

    return cmocka_run_group_tests_name("devmodel_queue", tests, NULL, NULL);
}
