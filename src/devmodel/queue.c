/*
 * The queue of SPEC.md section 11: a submission and a completion ring in
 * guest memory, read and written through ops->dma_read/dma_write.
 *
 * Decisions the SPEC leaves open are documented in docs/registers.md and
 * docs/state-machine.md; the short version:
 * - a bad Q_SIZE at enable is Q_ERROR INVALID_LENGTH, a Q_BASE that is not
 *   4 KiB aligned (or whose rings would pass the top of the address space)
 *   INVALID_REQUEST; the queue area is not read at enable;
 * - an SQ_TAIL write that moves back, or more than N ahead of SQ_HEAD, and a
 *   CQ_HEAD write outside CQ_HEAD .. CQ_TAIL are ignored (guest error);
 *   SQ_TAIL and CQ_HEAD writes while disabled likewise;
 * - an entry with flags != 0 completes with INVALID_REQUEST;
 * - a stopped queue keeps its counters for the guest to read; writing
 *   Q_CTRL (either value) zeroes them.
 *
 * The device takes an entry only while SQ_HEAD - CQ_HEAD < N, so every entry
 * it took has a CQ slot waiting (CQ_TAIL <= SQ_HEAD) and a completion never
 * overwrites one the guest has not consumed.
 */
#include <errno.h>
#include <string.h>

#include "dev_internal.h"
#include "vgpu/proto.h"

enum { TAKE_NEXT, TAKE_STOP };

/* ---- Little-endian fields (vgpu_get_le32() and friends are inline) ------ */

static uint64_t
get_le64(const uint8_t *p)
{
    return (uint64_t)vgpu_get_le32(p) | (uint64_t)vgpu_get_le32(p + 4) << 32;
}

/* ---- State -------------------------------------------------------------- */

static int
q_enabled(const struct vgpu_dev *dev)
{
    return (dev->q_ctrl & VGPU_Q_CTRL_ENABLE) != 0;
}

static uint64_t
q_base(const struct vgpu_dev *dev)
{
    return (uint64_t)dev->q_base_hi << 32 | dev->q_base_lo;
}

/* Q_MAX_INFLIGHT: min(N, accepted). While disabled N is not known yet, so it
 * reads what the largest ring would give, for a guest sizing its ring. */
static uint32_t
q_max_inflight(const struct vgpu_dev *dev)
{
    uint32_t n = q_enabled(dev) ? dev->q_size : VGPU_Q_ENTRIES_MAX;

    return dev->q_accepted < n ? dev->q_accepted : n;
}

/* Forget every entry in flight: their answers become stale, and no CQ entry
 * is written for them. */
static void
q_abandon(struct vgpu_dev *dev)
{
    for (unsigned i = 0; i < VGPU_Q_ENTRIES_MAX; i++) {
        dev->q_slots[i].in_use = 0;
    }
    dev->q_inflight = 0;
    dev->q_stalled = 0;
    dev->q_ctrl = 0;
    dev->q_epoch++; /* an entry being submitted right now notices */
}

static void
q_zero_counters(struct vgpu_dev *dev)
{
    dev->sq_tail = 0;
    dev->sq_head = 0;
    dev->cq_tail = 0;
    dev->cq_head = 0;
}

/* The ring itself could not be read or written: stop (SPEC.md section 11).
 * The counters stay, so the guest can see where it stopped. */
static void
q_stop(struct vgpu_dev *dev, const char *what, uint64_t addr, int rc)
{
    dev->stats.q_dma_errors++;
    dev->stats.q_stops++;
    q_abandon(dev);
    dev->q_error = VGPU_ERR_DMA_ERROR;
    vgpu_dev__guest_error(dev,
                          "queue stopped: %s at guest address 0x%llx not "
                          "accessible by DMA (%d)",
                          what, (unsigned long long)addr, rc);
}

/* Write one CQ entry, advance CQ_TAIL, set IRQ_STATUS bit 1.
 * Return: 0, or -EIO if the CQ could not be written (the queue stopped). */
static int
q_post(struct vgpu_dev *dev, uint32_t tag, uint32_t status, uint32_t out_len)
{
    uint8_t cqe[VGPU_Q_CQE_SIZE];
    uint32_t n = dev->q_size;
    uint64_t addr = q_base(dev) + (uint64_t)n * VGPU_Q_SQE_SIZE +
                    (uint64_t)(dev->cq_tail & (n - 1)) * VGPU_Q_CQE_SIZE;
    int rc;

    vgpu_put_le32(cqe + VGPU_CQE_TAG, tag);
    vgpu_put_le32(cqe + VGPU_CQE_STATUS, status);
    vgpu_put_le32(cqe + VGPU_CQE_OUT_LEN, out_len);
    /* PHASE 1 on passes 0, 2, 4...: N divides 2^32, so the pass parity
     * stays right when the counter wraps. */
    vgpu_put_le32(cqe + VGPU_CQE_FLAGS,
                  (dev->cq_tail / n) & 1u ? 0 : VGPU_CQE_PHASE);
    rc = dev->ops->dma_write(dev->opaque, addr, cqe, sizeof(cqe));
    if (rc != 0) {
        q_stop(dev, "CQ entry", addr, rc);
        return -EIO;
    }
    dev->cq_tail++;
    dev->stats.q_completions++;
    if (status != VGPU_ERR_NONE) {
        dev->stats.q_errors++;
    }
    dev->irq_status |= VGPU_IRQ_STATUS_QUEUE;
    vgpu_dev__update_irq(dev);
    return 0;
}

/* ---- Taking entries ------------------------------------------------------ */

static int
q_can_take(const struct vgpu_dev *dev)
{
    return q_enabled(dev) && !dev->q_stalled && dev->sq_head != dev->sq_tail &&
           dev->sq_head - dev->cq_head < dev->q_size &&
           dev->q_inflight < q_max_inflight(dev);
}

/* The entry at SQ_HEAD is taken and completes at once with @status. */
static int
q_finish_now(struct vgpu_dev *dev, uint32_t tag, uint32_t status)
{
    dev->sq_head++;
    dev->stats.q_taken++;
    return q_post(dev, tag, status, 0) == 0 ? TAKE_NEXT : TAKE_STOP;
}

/* A free slot of the in-flight table. One exists: q_can_take() keeps
 * q_inflight below Q_MAX_INFLIGHT <= VGPU_Q_ENTRIES_MAX. */
static uint32_t
q_slot_alloc(const struct vgpu_dev *dev)
{
    uint32_t i = 0;

    while (i < VGPU_Q_ENTRIES_MAX - 1 && dev->q_slots[i].in_use) {
        i++;
    }
    return i;
}

static void
q_slot_free(struct vgpu_dev *dev, struct vgpu_q_slot *s)
{
    s->in_use = 0;
    dev->q_inflight--;
}

/* Take the entry at SQ_HEAD: read it, check it, read its input, submit it. */
static int
q_take(struct vgpu_dev *dev)
{
    uint8_t sqe[VGPU_Q_SQE_SIZE];
    uint64_t addr = q_base(dev) + (uint64_t)(dev->sq_head & (dev->q_size - 1)) *
                                      VGPU_Q_SQE_SIZE;
    uint32_t epoch = dev->q_epoch;
    struct vgpu_request req;
    struct vgpu_q_slot *s;
    uint64_t in_addr;
    uint32_t in_len, tag, out_cap, flags, slot, wire;
    uint8_t *buf;
    int rc, live;

    rc = dev->ops->dma_read(dev->opaque, addr, sqe, sizeof(sqe));
    if (rc != 0) {
        q_stop(dev, "SQ entry", addr, rc);
        return TAKE_STOP;
    }
    in_addr = get_le64(sqe + VGPU_SQE_IN_ADDR);
    in_len = vgpu_get_le32(sqe + VGPU_SQE_IN_LEN);
    tag = vgpu_get_le32(sqe + VGPU_SQE_TAG);
    out_cap = vgpu_get_le32(sqe + VGPU_SQE_OUT_CAP);
    flags = vgpu_get_le32(sqe + VGPU_SQE_FLAGS);

    if (in_len < VGPU_Q_MIN_IN_LEN || in_len > VGPU_Q_MAX_XFER ||
        out_cap > VGPU_Q_MAX_XFER) {
        return q_finish_now(dev, tag, VGPU_ERR_INVALID_LENGTH);
    }
    if (flags != 0) {
        /* No flag is defined yet: refuse rather than ignore a future one. */
        return q_finish_now(dev, tag, VGPU_ERR_INVALID_REQUEST);
    }
    buf = dev->ops->q_buffer(dev->opaque, in_len);
    if (!buf || dev->ops->dma_read(dev->opaque, in_addr, buf, in_len) != 0) {
        dev->stats.q_dma_errors++;
        return q_finish_now(dev, tag, VGPU_ERR_DMA_ERROR);
    }

    /* In flight before the transport sees it: submit may answer it. */
    slot = q_slot_alloc(dev);
    wire = VGPU_Q_WIRE_ID_BIT |
           (dev->q_seq & VGPU_Q_WIRE_SEQ_MASK) << VGPU_Q_WIRE_SEQ_SHIFT | slot;
    dev->q_seq++;
    s = &dev->q_slots[slot];
    s->in_use = 1;
    s->wire_id = wire;
    s->tag = tag;
    s->out_addr = get_le64(sqe + VGPU_SQE_OUT_ADDR);
    s->out_cap = out_cap;
    dev->q_inflight++;

    req.vm_id = dev->cfg.vm_id;
    req.request_id = wire;
    req.generation = epoch;
    req.pool_id = dev->cfg.pool_id;
    req.priority = dev->cfg.priority;
    req.data = buf;
    req.len = in_len;
    req.queued = 1;
    rc = dev->ops->submit(dev->opaque, &req);

    if (dev->q_epoch != epoch) {
        return TAKE_STOP; /* reset, disabled or stopped meanwhile */
    }
    live = s->in_use && s->wire_id == wire;
    if (rc == -EAGAIN && live) {
        q_slot_free(dev, s); /* not taken: it stays in the SQ */
        dev->q_stalled = 1;
        return TAKE_STOP;
    }
    dev->sq_head++;
    dev->stats.q_taken++;
    if (rc == 0 || !live) {
        dev->stats.q_submitted += rc == 0;
        return TAKE_NEXT;
    }
    q_slot_free(dev, s);
    return q_post(dev, tag,
                  rc > 0 ? vgpu_dev__sanitize_error((uint32_t)rc)
                         : VGPU_ERR_MEDIATOR_UNAVAILABLE,
                  0) == 0
               ? TAKE_NEXT
               : TAKE_STOP;
}

/* Take every entry the rules allow. Re-entrant calls (a completion inside
 * ops->submit) only ask the running loop to look again. */
static void
q_pump(struct vgpu_dev *dev)
{
    if (dev->q_pumping) {
        dev->q_repump = 1;
        return;
    }
    dev->q_pumping = 1;
    do {
        dev->q_repump = 0;
        while (q_can_take(dev) && q_take(dev) == TAKE_NEXT) {
        }
    } while (dev->q_repump);
    dev->q_pumping = 0;
}

/* ---- Registers ---------------------------------------------------------- */

uint32_t
vgpu_dev__q_reg_read(const struct vgpu_dev *dev, uint64_t addr)
{
    switch (addr) {
    case VGPU_REG_Q_BASE_LO:
        return dev->q_base_lo;
    case VGPU_REG_Q_BASE_HI:
        return dev->q_base_hi;
    case VGPU_REG_Q_SIZE:
        return dev->q_size;
    case VGPU_REG_Q_CTRL:
        return dev->q_ctrl;
    case VGPU_REG_SQ_TAIL:
        return dev->sq_tail;
    case VGPU_REG_SQ_HEAD:
        return dev->sq_head;
    case VGPU_REG_CQ_TAIL:
        return dev->cq_tail;
    case VGPU_REG_CQ_HEAD:
        return dev->cq_head;
    case VGPU_REG_Q_ERROR:
        return dev->q_error;
    case VGPU_REG_Q_MAX_INFLIGHT:
        return q_max_inflight(dev);
    default: /* VGPU_REG_Q_MAX_XFER, the last one */
        return VGPU_Q_MAX_XFER;
    }
}

/* Q_CTRL with ENABLE: check base and size, then start with zero counters. */
static void
q_enable(struct vgpu_dev *dev)
{
    uint32_t n = dev->q_size;
    uint64_t base = q_base(dev);
    uint64_t area = (uint64_t)n * (VGPU_Q_SQE_SIZE + VGPU_Q_CQE_SIZE);

    if (n == 0 || n > VGPU_Q_ENTRIES_MAX || (n & (n - 1)) != 0) {
        dev->q_error = VGPU_ERR_INVALID_LENGTH;
        vgpu_dev__guest_error(dev,
                              "Q_CTRL: ENABLE refused: Q_SIZE %u is not a "
                              "power of two in 1..%u",
                              n, VGPU_Q_ENTRIES_MAX);
        return;
    }
    if (base % VGPU_Q_BASE_ALIGN != 0 || base > UINT64_MAX - area + 1) {
        dev->q_error = VGPU_ERR_INVALID_REQUEST;
        vgpu_dev__guest_error(dev,
                              "Q_CTRL: ENABLE refused: Q_BASE 0x%llx is not "
                              "%u-byte aligned or its rings wrap",
                              (unsigned long long)base, VGPU_Q_BASE_ALIGN);
        return;
    }
    q_zero_counters(dev);
    dev->q_error = VGPU_ERR_NONE;
    dev->q_stalled = 0;
    dev->q_epoch++;
    dev->q_ctrl = VGPU_Q_CTRL_ENABLE;
}

static void
q_write_ctrl(struct vgpu_dev *dev, uint32_t val)
{
    if (val & VGPU_Q_CTRL_ENABLE) {
        if (!q_enabled(dev)) {
            q_enable(dev);
        }
        return;
    }
    /* Disable: abandon what is in flight, zero the counters (also after a
     * stop, which kept them). Q_ERROR stays until the next enable. */
    q_abandon(dev);
    q_zero_counters(dev);
}

static void
q_write_sq_tail(struct vgpu_dev *dev, uint32_t val)
{
    uint32_t ahead = val - dev->sq_head;

    if (!q_enabled(dev)) {
        vgpu_dev__guest_error(dev,
                              "SQ_TAIL %u written while the queue is "
                              "disabled: ignored",
                              val);
        return;
    }
    if (ahead > dev->q_size || ahead < dev->sq_tail - dev->sq_head) {
        vgpu_dev__guest_error(dev,
                              "SQ_TAIL %u ignored: it must lie between the "
                              "old SQ_TAIL %u and SQ_HEAD %u + N %u",
                              val, dev->sq_tail, dev->sq_head, dev->q_size);
        return;
    }
    dev->sq_tail = val;
    q_pump(dev);
}

static void
q_write_cq_head(struct vgpu_dev *dev, uint32_t val)
{
    if (!q_enabled(dev)) {
        vgpu_dev__guest_error(dev,
                              "CQ_HEAD %u written while the queue is "
                              "disabled: ignored",
                              val);
        return;
    }
    if (val - dev->cq_head > dev->cq_tail - dev->cq_head) {
        vgpu_dev__guest_error(dev,
                              "CQ_HEAD %u ignored: it must lie between the "
                              "old CQ_HEAD %u and CQ_TAIL %u",
                              val, dev->cq_head, dev->cq_tail);
        return;
    }
    dev->cq_head = val;
    q_pump(dev); /* the CQ has room again */
}

void
vgpu_dev__q_reg_write(struct vgpu_dev *dev, uint64_t addr, uint32_t val)
{
    switch (addr) {
    case VGPU_REG_Q_BASE_LO:
    case VGPU_REG_Q_BASE_HI:
    case VGPU_REG_Q_SIZE:
        if (q_enabled(dev)) {
            vgpu_dev__guest_error(dev,
                                  "write of 0x%x to %s while the queue is "
                                  "enabled: ignored",
                                  val, vgpu_reg_name(addr));
        } else if (addr == VGPU_REG_Q_BASE_LO) {
            dev->q_base_lo = val;
        } else if (addr == VGPU_REG_Q_BASE_HI) {
            dev->q_base_hi = val;
        } else {
            dev->q_size = val;
        }
        break;
    case VGPU_REG_Q_CTRL:
        q_write_ctrl(dev, val);
        break;
    case VGPU_REG_SQ_TAIL:
        q_write_sq_tail(dev, val);
        break;
    case VGPU_REG_CQ_HEAD:
        q_write_cq_head(dev, val);
        break;
    default:
        vgpu_dev__guest_error(dev,
                              "write of 0x%x to read-only register %s "
                              "(0x%03x)",
                              val, vgpu_reg_name(addr), (unsigned)addr);
        break;
    }
}

/* ---- Lifecycle ---------------------------------------------------------- */

void
vgpu_dev__q_reset(struct vgpu_dev *dev)
{
    q_abandon(dev);
    q_zero_counters(dev);
    dev->q_base_lo = 0;
    dev->q_base_hi = 0;
    dev->q_size = 0;
    dev->q_error = VGPU_ERR_NONE;
}

void
vgpu_dev__q_transport_lost(struct vgpu_dev *dev)
{
    for (unsigned i = 0; i < VGPU_Q_ENTRIES_MAX && q_enabled(dev); i++) {
        struct vgpu_q_slot *s = &dev->q_slots[i];

        if (s->in_use) {
            q_slot_free(dev, s);
            (void)q_post(dev, s->tag, VGPU_ERR_MEDIATOR_UNAVAILABLE, 0);
        }
    }
    dev->q_stalled = 0;
    q_pump(dev);
}

/* ---- Public API ------------------------------------------------------------
 */

int
vgpu_dev_q_complete(struct vgpu_dev *dev, uint32_t wire_id, uint32_t status,
                    const uint8_t *data, size_t len)
{
    struct vgpu_q_slot *s = &dev->q_slots[wire_id & VGPU_Q_WIRE_SLOT_MASK];
    uint32_t code = VGPU_ERR_NONE;
    size_t out_len = 0;

    if (!dev->has_queue || !(wire_id & VGPU_Q_WIRE_ID_BIT) || !s->in_use ||
        s->wire_id != wire_id) {
        dev->stats.stale_responses++;
        return -ESTALE;
    }
    q_slot_free(dev, s);
    if (status != VGPU_ERR_NONE) {
        code = vgpu_dev__sanitize_error(status);
        out_len = len < s->out_cap ? len : s->out_cap;
    } else if (len > s->out_cap) {
        code = VGPU_ERR_RESPONSE_TOO_LARGE;
    } else {
        out_len = len;
    }
    if (!data) {
        out_len = 0;
    }
    if (out_len > 0 &&
        dev->ops->dma_write(dev->opaque, s->out_addr, data, out_len) != 0) {
        dev->stats.q_dma_errors++;
        code = VGPU_ERR_DMA_ERROR;
        out_len = 0;
    }
    (void)q_post(dev, s->tag, code, (uint32_t)out_len);
    q_pump(dev);
    return 0;
}

void
vgpu_dev_q_set_max_inflight(struct vgpu_dev *dev, uint32_t accepted)
{
    /* Q_MAX_INFLIGHT caps it at N <= VGPU_Q_ENTRIES_MAX. */
    dev->q_accepted = accepted == 0 ? 1 : accepted;
}

void
vgpu_dev_q_kick(struct vgpu_dev *dev)
{
    if (!dev->has_queue) {
        return;
    }
    dev->q_stalled = 0;
    q_pump(dev);
}

unsigned
vgpu_dev_q_inflight(const struct vgpu_dev *dev)
{
    return dev->q_inflight;
}

int
vgpu_dev_has_queue(const struct vgpu_dev *dev)
{
    return dev->has_queue;
}
