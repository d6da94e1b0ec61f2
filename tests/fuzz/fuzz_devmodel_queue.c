/*
 * Fuzz the device model's queue (SPEC.md section 11). The input starts with
 * the guest memory's layout (where its FZ_GMEM_SIZE bytes sit, a faulting
 * range inside it, and its first bytes, ring contents included), then is a
 * program of steps: writes and reads of the queue registers (values picked
 * near the interesting ones: aligned bases inside and outside memory, sizes
 * around the powers of two, SQ_TAIL and CQ_HEAD around their counters),
 * pokes of guest memory and whole SQ entries, answers (to a wire id in
 * flight, a stale one or any; any status; data from the input or NULL with
 * any length), connection losses, kicks, in-flight limits, resets, bus
 * mastering on and off, mailbox doorbells, and IRQ writes. The fake submit,
 * driven by the input too, keeps the entry, answers it synchronously,
 * refuses it, says -EAGAIN, loses the connection or resets the device.
 *
 * Checked after every step: the counters' relations (SQ_TAIL - SQ_HEAD,
 * SQ_HEAD - CQ_HEAD and CQ_TAIL - CQ_HEAD at most N; while enabled,
 * SQ_HEAD - CQ_TAIL is the number in flight), the in-flight table agrees
 * with vgpu_dev_q_inflight(), an enabled queue has a valid base and size,
 * the interrupt line equals (IRQ_CTRL & IRQ_STATUS & 3) != 0. Checked in
 * the DMA ops: the device uses DMA only while the queue is enabled, and
 * writes (outputs, CQ entries) only while the CQ has room, so it never
 * overwrites a CQ entry the guest has not consumed. In submit: a queue entry
 * carries a wire id with VGPU_Q_WIRE_ID_BIT, 8 .. VGPU_Q_MAX_XFER bytes, and
 * the device is not stalled. Every q_buffer is a heap block of exactly the
 * asked size, and the device a block of exactly its size, so ASan sees any
 * overrun.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "vgpu/devmodel.h"

#define FZ_GMEM_SIZE  0x10000u /* guest memory: 64 KiB */
#define FZ_MAX_STEPS  2048u
#define FZ_MAX_ANSWER 4096u
#define FZ_MAX_WIRE   64u /* wire ids remembered */

enum fz_submit {
    SUB_KEEP,
    SUB_SYNC,
    SUB_REFUSE,
    SUB_EAGAIN,
    SUB_LOST,
    SUB_RESET,
    SUB_COUNT
};

/* How an address or a length is picked. */
enum fz_pick_addr { ADDR_PAGE, ADDR_INSIDE, ADDR_END, ADDR_ANY, ADDR_COUNT };
enum fz_pick_len { LEN_SMALL, LEN_MAX, LEN_U16, LEN_ANY, LEN_COUNT };

enum fz_step {
    STEP_QREG_WRITE,
    STEP_QREG_READ,
    STEP_SQ_TAIL,
    STEP_CQ_HEAD,
    STEP_POKE,
    STEP_SQE,
    STEP_ANSWER,
    STEP_LOST,
    STEP_KICK,
    STEP_MAX_INFLIGHT,
    STEP_RESET,
    STEP_BUS_MASTER,
    STEP_DOORBELL,
    STEP_IRQ,
    STEP_ENABLE,
    STEP_COUNT
};

struct fz {
    struct fuzz_cursor cur;
    struct vgpu_dev *dev;
    uint8_t *mem;
    uint64_t gbase;    /* guest-physical address of mem[0] */
    uint32_t fault_lo; /* [fault_lo, fault_hi) of mem faults */
    uint32_t fault_hi;
    int bus_master_off;
    int qbuf_null;
    uint8_t *qbuf; /* the last q_buffer, exactly its size */
    int irq_level;
    uint8_t submit_mode;
    int in_submit;
    uint32_t wires[FZ_MAX_WIRE]; /* wire ids seen, a ring */
    unsigned nwires;
};

/* ---- Fake adapter -------------------------------------------------------- */

static int
fz_range(struct fz *f, uint64_t addr, size_t len, size_t *off)
{
    uint64_t o;

    if (f->bus_master_off) {
        return -EPERM;
    }
    if (addr < f->gbase || addr - f->gbase > FZ_GMEM_SIZE ||
        len > FZ_GMEM_SIZE - (addr - f->gbase)) {
        return -EFAULT;
    }
    o = addr - f->gbase;
    if (o < f->fault_hi && o + len > f->fault_lo) {
        return -EFAULT;
    }
    *off = (size_t)o;
    return 0;
}

static int
fz_q_enabled(const struct fz *f)
{
    return (f->dev->q_ctrl & VGPU_Q_CTRL_ENABLE) != 0;
}

static uint64_t
fz_q_base(const struct fz *f)
{
    return (uint64_t)f->dev->q_base_hi << 32 | f->dev->q_base_lo;
}

static int
fz_dma_read(void *opaque, uint64_t addr, void *buf, size_t len)
{
    struct fz *f = opaque;
    size_t off = 0;
    int rc;

    FUZZ_CHECK(fz_q_enabled(f));
    FUZZ_CHECK(len >= 1 && len <= VGPU_Q_MAX_XFER);
    rc = fz_range(f, addr, len, &off);
    if (rc == 0) {
        memcpy(buf, f->mem + off, len);
    }
    return rc;
}

static int
fz_dma_write(void *opaque, uint64_t addr, const void *buf, size_t len)
{
    struct fz *f = opaque;
    const struct vgpu_dev *d = f->dev;
    size_t off = 0;
    int rc;

    FUZZ_CHECK(fz_q_enabled(f));
    FUZZ_CHECK(len >= 1 && len <= VGPU_Q_MAX_XFER);
    /* Outputs and CQ entries are written only for entries the device
     * took with a CQ slot free for them: the CQ always has room. */
    FUZZ_CHECK(d->cq_tail - d->cq_head < d->q_size);
    rc = fz_range(f, addr, len, &off);
    if (rc == 0) {
        memcpy(f->mem + off, buf, len);
    }
    return rc;
}

static uint8_t *
fz_q_buffer(void *opaque, size_t len)
{
    struct fz *f = opaque;

    FUZZ_CHECK(len >= VGPU_Q_MIN_IN_LEN && len <= VGPU_Q_MAX_XFER);
    free(f->qbuf);
    f->qbuf = NULL;
    if (f->qbuf_null) {
        return NULL;
    }
    f->qbuf = malloc(len);
    FUZZ_CHECK(f->qbuf != NULL);
    return f->qbuf;
}

static void
fz_remember(struct fz *f, uint32_t wire)
{
    f->wires[f->nwires++ % FZ_MAX_WIRE] = wire;
}

static int
fz_submit(void *opaque, const struct vgpu_request *req)
{
    struct fz *f = opaque;
    int rc = 0;

    if (!req->queued) {
        return f->submit_mode & 0x80u ? VGPU_ERR_MEDIATOR_UNAVAILABLE : 0;
    }
    FUZZ_CHECK(req->request_id & VGPU_Q_WIRE_ID_BIT);
    FUZZ_CHECK(req->len >= VGPU_Q_MIN_IN_LEN && req->len <= VGPU_Q_MAX_XFER);
    FUZZ_CHECK(req->data == f->qbuf);
    FUZZ_CHECK(!f->dev->q_stalled);
    FUZZ_CHECK(f->in_submit == 0);
    fz_remember(f, req->request_id);
    f->in_submit = 1;
    switch (f->submit_mode % SUB_COUNT) {
    case SUB_SYNC:
        FUZZ_CHECK(vgpu_dev_q_complete(f->dev, req->request_id, 0, req->data,
                                       req->len) == 0);
        break;
    case SUB_REFUSE:
        rc = (int)((f->submit_mode >> 3) % (VGPU_ERR_COUNT + 2u));
        if (rc == 0) {
            rc = -EIO;
        }
        break;
    case SUB_EAGAIN:
        rc = -EAGAIN;
        break;
    case SUB_LOST:
        vgpu_dev_transport_lost(f->dev);
        break;
    case SUB_RESET:
        vgpu_dev_reset(f->dev);
        break;
    default:
        break;
    }
    f->in_submit = 0;
    return rc;
}

static void
fz_set_irq(void *opaque, int level)
{
    struct fz *f = opaque;

    FUZZ_CHECK(level != f->irq_level);
    f->irq_level = level;
}

static uint64_t
fz_now(void *opaque)
{
    (void)opaque;
    return 1;
}

static const struct vgpu_dev_ops fz_ops = {
    .submit = fz_submit,
    .set_irq = fz_set_irq,
    .now_ns = fz_now,
    .dma_read = fz_dma_read,
    .dma_write = fz_dma_write,
    .q_buffer = fz_q_buffer,
};

/* ---- Picks --------------------------------------------------------------- */

static uint32_t
fz_reg(struct fz *f, uint32_t reg)
{
    return (uint32_t)vgpu_dev_mmio_read(f->dev, reg, VGPU_REG_SIZE);
}

static void
fz_wr(struct fz *f, uint32_t reg, uint32_t val)
{
    vgpu_dev_mmio_write(f->dev, reg, val, VGPU_REG_SIZE);
}

/* A guest-physical address: in memory (aligned or not), near its ends, or
 * anything. */
static uint64_t
fz_addr(struct fz *f)
{
    uint8_t how = fuzz_u8(&f->cur);

    switch (how % ADDR_COUNT) {
    case ADDR_PAGE:
        return f->gbase + (uint64_t)(fuzz_u8(&f->cur) % 16u) * 0x1000u;
    case ADDR_INSIDE:
        return f->gbase + fuzz_u16(&f->cur) % FZ_GMEM_SIZE;
    case ADDR_END:
        return f->gbase + FZ_GMEM_SIZE - fuzz_u8(&f->cur);
    default:
        return fuzz_u64(&f->cur);
    }
}

/* A length around the limits. */
static uint32_t
fz_len(struct fz *f)
{
    uint8_t how = fuzz_u8(&f->cur);

    switch (how % LEN_COUNT) {
    case LEN_SMALL:
        return fuzz_u8(&f->cur);
    case LEN_MAX:
        return VGPU_Q_MAX_XFER - 1u + fuzz_u8(&f->cur) % 3u;
    case LEN_U16:
        return fuzz_u16(&f->cur);
    default:
        return fuzz_u32(&f->cur);
    }
}

static uint32_t
fz_size(struct fz *f)
{
    uint8_t b = fuzz_u8(&f->cur);

    if (b & 0x80u) {
        return 1u << (b % 10u); /* 1 .. 512 */
    }
    return b & 0x40u ? fuzz_u32(&f->cur) : b;
}

/* ---- Steps --------------------------------------------------------------- */

static void
fz_step_qreg_write(struct fz *f)
{
    uint32_t reg = VGPU_Q_REG_OFFSET + (fuzz_u8(&f->cur) % 12u) * 4u;
    uint8_t how = fuzz_u8(&f->cur);

    if (how & 1u) {
        /* Any size and alignment. */
        vgpu_dev_mmio_write(f->dev, reg + (how >> 1) % 4u, fuzz_u64(&f->cur),
                            1u << ((how >> 3) % 4u));
        return;
    }
    switch (reg) {
    case VGPU_REG_Q_BASE_LO:
        fz_wr(f, reg, (uint32_t)fz_addr(f));
        break;
    case VGPU_REG_Q_SIZE:
        fz_wr(f, reg, fz_size(f));
        break;
    default:
        fz_wr(f, reg, fuzz_u32(&f->cur));
        break;
    }
}

static void
fz_step_qreg_read(struct fz *f)
{
    uint32_t reg = VGPU_Q_REG_OFFSET + (fuzz_u8(&f->cur) % 12u) * 4u;
    uint8_t how = fuzz_u8(&f->cur);
    unsigned size = 1u << (how % 4u);
    uint64_t v = vgpu_dev_mmio_read(f->dev, reg + (how >> 2) % 4u, size);

    if (size != VGPU_REG_SIZE || (how >> 2) % 4u != 0) {
        FUZZ_CHECK(
            reg + (how >> 2) % 4u >= VGPU_Q_REG_END ||
            v == (size == 8 ? UINT64_MAX : (UINT64_C(1) << (8 * size)) - 1));
    } else if (reg == VGPU_REG_Q_MAX_XFER) {
        FUZZ_CHECK(v == VGPU_Q_MAX_XFER);
    } else if (reg >= VGPU_Q_REG_END) {
        FUZZ_CHECK(v == 0);
    }
}

static void
fz_step_sq_tail(struct fz *f)
{
    uint8_t b = fuzz_u8(&f->cur);
    uint32_t head = f->dev->sq_head;

    fz_wr(f, VGPU_REG_SQ_TAIL,
          b & 0x80u ? fuzz_u32(&f->cur)
                    : head + (uint32_t)((int)(b & 0x7fu) - 32));
}

static void
fz_step_cq_head(struct fz *f)
{
    uint8_t b = fuzz_u8(&f->cur);

    fz_wr(f, VGPU_REG_CQ_HEAD,
          b & 0x80u ? fuzz_u32(&f->cur) : f->dev->cq_tail - (b & 0x3fu));
}

static void
fz_step_poke(struct fz *f)
{
    uint16_t at = fuzz_u16(&f->cur);
    size_t n;
    const uint8_t *p = fuzz_bytes(&f->cur, fuzz_u8(&f->cur) % 64u, &n);

    at %= FZ_GMEM_SIZE;
    if (n > FZ_GMEM_SIZE - at) {
        n = FZ_GMEM_SIZE - at;
    }
    memcpy(f->mem + at, p, n);
}

/* A whole SQ entry at slot (SQ_TAIL + k) of the current ring, in memory. */
static void
fz_step_sqe(struct fz *f)
{
    uint8_t k = fuzz_u8(&f->cur);
    uint8_t flags = fuzz_u8(&f->cur);
    uint32_t n = f->dev->q_size;
    uint64_t at;
    uint8_t e[VGPU_Q_SQE_SIZE];
    uint64_t in = fz_addr(f);
    uint32_t in_len = flags & 1u ? fz_len(f) : 8u + fuzz_u8(&f->cur);
    uint64_t out = fz_addr(f);
    uint32_t out_cap = flags & 2u ? fz_len(f) : fuzz_u16(&f->cur) % 256u;

    if (n == 0 || n > VGPU_Q_ENTRIES_MAX || (n & (n - 1)) != 0) {
        return;
    }
    at = fz_q_base(f) +
         (uint64_t)((f->dev->sq_tail + k % 4u) & (n - 1)) * VGPU_Q_SQE_SIZE;
    if (at < f->gbase || at - f->gbase > FZ_GMEM_SIZE - VGPU_Q_SQE_SIZE) {
        return;
    }
    for (int i = 0; i < 8; i++) {
        e[i] = (uint8_t)(in >> (8 * i));
        e[16 + i] = (uint8_t)(out >> (8 * i));
    }
    for (int i = 0; i < 4; i++) {
        e[8 + i] = (uint8_t)(in_len >> (8 * i));
        e[12 + i] = (uint8_t)(k >> (8 * i));
        e[24 + i] = (uint8_t)(out_cap >> (8 * i));
        e[28 + i] = (uint8_t)(flags & 4u ? flags >> 3 : 0);
    }
    memcpy(f->mem + (at - f->gbase), e, sizeof(e));
}

static void
fz_step_answer(struct fz *f)
{
    uint8_t how = fuzz_u8(&f->cur);
    uint32_t wire;
    uint32_t status =
        how & 0x10u ? fuzz_u8(&f->cur) % (VGPU_ERR_COUNT + 2) : VGPU_ERR_NONE;
    size_t n = fz_len(f);
    uint8_t *buf = NULL;
    size_t got = 0;
    const uint8_t *p;
    int rc;

    if (how & 1u && f->nwires > 0) {
        wire = f->wires[fuzz_u8(&f->cur) %
                        (f->nwires < FZ_MAX_WIRE ? f->nwires : FZ_MAX_WIRE)];
    } else {
        wire = fuzz_u32(&f->cur);
    }
    if (how & 2u) {
        if (n > FZ_MAX_ANSWER) {
            n = FZ_MAX_ANSWER;
        }
        p = fuzz_bytes(&f->cur, n, &got);
        buf = malloc(n ? n : 1);
        FUZZ_CHECK(buf != NULL);
        memset(buf, 0x5a, n);
        memcpy(buf, p, got);
    }
    rc = vgpu_dev_q_complete(f->dev, wire, status, buf, n);
    FUZZ_CHECK(rc == 0 || rc == -ESTALE);
    free(buf);
}

static void
fz_step_doorbell(struct fz *f)
{
    fz_wr(f, VGPU_REG_REQUEST_LEN, fuzz_u8(&f->cur) % 16u);
    fz_wr(f, VGPU_REG_DOORBELL, VGPU_DOORBELL_RING);
    if (vgpu_dev_busy(f->dev) && (fuzz_u8(&f->cur) & 1u)) {
        uint32_t gen, id;

        vgpu_dev_inflight(f->dev, &gen, &id);
        FUZZ_CHECK(vgpu_dev_complete(f->dev, gen, id, 0, NULL, 0) == 0);
    }
}

/* ---- Invariants ---------------------------------------------------------- */

static void
fz_check(struct fz *f)
{
    struct vgpu_dev *d = f->dev;
    uint32_t ctrl = fz_reg(f, VGPU_REG_IRQ_CTRL);
    uint32_t irq = fz_reg(f, VGPU_REG_IRQ_STATUS);
    uint32_t sq_tail = fz_reg(f, VGPU_REG_SQ_TAIL);
    uint32_t sq_head = fz_reg(f, VGPU_REG_SQ_HEAD);
    uint32_t cq_tail = fz_reg(f, VGPU_REG_CQ_TAIL);
    uint32_t cq_head = fz_reg(f, VGPU_REG_CQ_HEAD);
    uint32_t n = fz_reg(f, VGPU_REG_Q_SIZE);
    unsigned used = 0;

    FUZZ_CHECK(fz_reg(f, VGPU_REG_CAPABILITIES) ==
               (VGPU_CAPABILITIES | VGPU_CAP_QUEUE));
    FUZZ_CHECK((ctrl & ~VGPU_IRQ_LINE_MASK) == 0);
    FUZZ_CHECK((irq & ~VGPU_IRQ_LINE_MASK) == 0);
    FUZZ_CHECK(f->irq_level == ((ctrl & irq & VGPU_IRQ_LINE_MASK) != 0));
    FUZZ_CHECK((fz_reg(f, VGPU_REG_Q_CTRL) & ~VGPU_Q_CTRL_ENABLE) == 0);
    FUZZ_CHECK(fz_reg(f, VGPU_REG_Q_ERROR) < VGPU_ERR_COUNT);
    for (unsigned i = 0; i < VGPU_Q_ENTRIES_MAX; i++) {
        used += d->q_slots[i].in_use != 0;
        if (d->q_slots[i].in_use) {
            FUZZ_CHECK((d->q_slots[i].wire_id & VGPU_Q_WIRE_SLOT_MASK) == i);
        }
    }
    FUZZ_CHECK(used == vgpu_dev_q_inflight(d));
    if (!fz_q_enabled(f)) {
        FUZZ_CHECK(used == 0);
        return;
    }
    FUZZ_CHECK(n >= 1 && n <= VGPU_Q_ENTRIES_MAX && (n & (n - 1)) == 0);
    FUZZ_CHECK(fz_q_base(f) % VGPU_Q_BASE_ALIGN == 0);
    FUZZ_CHECK(sq_tail - sq_head <= n);
    FUZZ_CHECK(sq_head - cq_head <= n);
    FUZZ_CHECK(cq_tail - cq_head <= n);
    FUZZ_CHECK(sq_head - cq_tail == used);
    FUZZ_CHECK(used <= n);
    FUZZ_CHECK(fz_reg(f, VGPU_REG_Q_MAX_INFLIGHT) <= n);
    FUZZ_CHECK(fz_reg(f, VGPU_REG_Q_ERROR) == VGPU_ERR_NONE);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct vgpu_dev_config cfg = {.pool_id = 'A', .priority = 1, .vm_id = 7};
    struct fz f;
    uint8_t layout;
    size_t got;
    const uint8_t *p;

    memset(&f, 0, sizeof(f));
    fuzz_cursor_init(&f.cur, data, size);
    layout = fuzz_u8(&f.cur);
    f.gbase = layout & 1u ? 0 : (uint64_t)fuzz_u16(&f.cur) << 16;
    f.fault_lo = fuzz_u16(&f.cur);
    f.fault_hi = layout & 2u ? f.fault_lo + fuzz_u16(&f.cur) : f.fault_lo;
    f.mem = calloc(1, FZ_GMEM_SIZE);
    f.dev = malloc(sizeof(*f.dev));
    FUZZ_CHECK(f.mem != NULL && f.dev != NULL);
    p = fuzz_bytes(&f.cur, fuzz_u16(&f.cur) % 1024u, &got);
    memcpy(f.mem, p, got);
    FUZZ_CHECK(vgpu_dev_init(f.dev, &cfg, &fz_ops, &f) == 0);
    fz_check(&f);

    for (unsigned step = 0; step < FZ_MAX_STEPS && fuzz_left(&f.cur) > 0;
         step++) {
        f.submit_mode = fuzz_u8(&f.cur);
        switch (fuzz_u8(&f.cur) % STEP_COUNT) {
        case STEP_QREG_WRITE:
            fz_step_qreg_write(&f);
            break;
        case STEP_QREG_READ:
            fz_step_qreg_read(&f);
            break;
        case STEP_SQ_TAIL:
            fz_step_sq_tail(&f);
            break;
        case STEP_CQ_HEAD:
            fz_step_cq_head(&f);
            break;
        case STEP_POKE:
            fz_step_poke(&f);
            break;
        case STEP_SQE:
            fz_step_sqe(&f);
            break;
        case STEP_ANSWER:
            fz_step_answer(&f);
            break;
        case STEP_LOST:
            vgpu_dev_transport_lost(f.dev);
            break;
        case STEP_KICK:
            vgpu_dev_q_kick(f.dev);
            break;
        case STEP_MAX_INFLIGHT:
            vgpu_dev_q_set_max_inflight(f.dev, fuzz_u8(&f.cur) % 40u);
            break;
        case STEP_RESET:
            vgpu_dev_reset(f.dev);
            FUZZ_CHECK(vgpu_dev_q_inflight(f.dev) == 0);
            FUZZ_CHECK(fz_reg(&f, VGPU_REG_Q_CTRL) == 0);
            break;
        case STEP_BUS_MASTER:
            f.bus_master_off = fuzz_u8(&f.cur) & 1u;
            f.qbuf_null = (fuzz_u8(&f.cur) & 7u) == 0;
            break;
        case STEP_DOORBELL:
            fz_step_doorbell(&f);
            break;
        case STEP_IRQ:
            fz_wr(&f,
                  fuzz_u8(&f.cur) & 1u ? VGPU_REG_IRQ_STATUS
                                       : VGPU_REG_IRQ_CTRL,
                  fuzz_u8(&f.cur) & 3u);
            break;
        default: /* STEP_ENABLE: a well-formed queue, to get going */
            fz_wr(&f, VGPU_REG_Q_BASE_LO,
                  (uint32_t)(f.gbase + (fuzz_u8(&f.cur) % 16u) * 0x1000u));
            fz_wr(&f, VGPU_REG_Q_BASE_HI, (uint32_t)(f.gbase >> 32));
            fz_wr(&f, VGPU_REG_Q_SIZE, 1u << (fuzz_u8(&f.cur) % 9u));
            fz_wr(&f, VGPU_REG_Q_CTRL, VGPU_Q_CTRL_ENABLE);
            break;
        }
        fz_check(&f);
    }

    vgpu_dev_fini(f.dev);
    FUZZ_CHECK(f.irq_level == 0);
    free(f.qbuf);
    free(f.dev);
    free(f.mem);
    return 0;
}
