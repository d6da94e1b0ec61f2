/*
 * libvgpu-guest's queue (vgpu/guest.h, SPEC.md section 11): a submission
 * ring and a completion ring in DMA memory, and the registers that move
 * them. Like the mailbox client, the device is hostile input: a completion
 * ring SPEC.md does not allow is reported, never trusted.
 *
 * The guest's side of the counters:
 *   sq_tail   entries written to the submission ring (free-running)
 *   cq_head   completions consumed (free-running); CQ_HEAD is written after
 *             each reap, which hands those slots back to the device
 * Completions cq_head .. CQ_TAIL are ready: the guest reads CQ_TAIL (one
 * MMIO read per reap or poll), then the entries in memory, which the device
 * wrote before it moved CQ_TAIL and does not touch again until CQ_HEAD
 * passes them. Each entry's PHASE bit must be the pass's phase (1 on the
 * first pass over the ring, 0 on the second, ...); a device that breaks
 * that, or moves CQ_TAIL past what was submitted, fails the reap with -EIO.
 *
 * The device never takes more than N entries beyond CQ_HEAD, so the guest
 * never has more than N submitted and not reaped: vgpu_queue_submit()
 * refuses with -EAGAIN beyond that.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "guest_internal.h"
#include "vgpu/guest.h"
#include "vgpu/proto.h"

#define Q_NS_PER_MS   1000000ull
#define Q_WAIT_MAX_MS 3600000u /* one wait_queue() call at most */
#define Q_PEEK_ROUNDS 4096u    /* memory peeks between register reads */

struct vgpu_queue {
    struct vgpu_client *c;
    const struct vgpu_bus_ops *ops;
    void *ctx;
    uint32_t depth;
    struct vgpu_dma rings; /* SQ then CQ */
    uint8_t *sq;
    const uint8_t *cq;
    uint32_t sq_tail;
    uint32_t cq_head;
    int use_irq;
};

int
vgpu_dma_alloc(struct vgpu_client *c, size_t len, struct vgpu_dma *out)
{
    void *ctx;
    const struct vgpu_bus_ops *ops = vgpu_bus(c, &ctx);

    if (ops == NULL || out == NULL || len == 0) {
        return -EINVAL;
    }
    memset(out, 0, sizeof(*out));
    if (ops->dma_alloc == NULL || ops->dma_free == NULL) {
        return -ENOTSUP;
    }
    out->ptr = ops->dma_alloc(ctx, len, &out->dev_addr);
    if (out->ptr == NULL) {
        return errno != 0 ? -errno : -ENOMEM;
    }
    out->len = len;
    return 0;
}

const char *
vgpu_dma_error(struct vgpu_client *c)
{
    void *ctx;
    const struct vgpu_bus_ops *ops = vgpu_bus(c, &ctx);
    const char *why = NULL;

    if (ops != NULL && ops->dma_error != NULL) {
        why = ops->dma_error(ctx);
    }
    return why != NULL ? why : "";
}

void
vgpu_dma_free(struct vgpu_client *c, struct vgpu_dma *buf)
{
    void *ctx;
    const struct vgpu_bus_ops *ops = vgpu_bus(c, &ctx);

    if (ops == NULL || buf == NULL || buf->ptr == NULL) {
        return;
    }
    ops->dma_free(ctx, buf->ptr, buf->len);
    memset(buf, 0, sizeof(*buf));
}

struct vgpu_queue *
vgpu_queue_open(struct vgpu_client *c, uint32_t depth, char *err,
                size_t err_len)
{
    struct vgpu_queue *q;
    void *ctx;
    const struct vgpu_bus_ops *ops = vgpu_bus(c, &ctx);
    uint32_t caps;
    size_t area;
    int rc;

    if (ops == NULL) {
        vgpu_set_err(err, err_len, "no client");
        return NULL;
    }
    caps = ops->read32(ctx, VGPU_REG_CAPABILITIES);
    if (!(caps & VGPU_CAP_QUEUE)) {
        vgpu_set_err(err, err_len,
                     "the device has no queue (CAPABILITIES 0x%x lacks bit 2)",
                     caps);
        return NULL;
    }
    if (depth == 0 || depth > VGPU_Q_ENTRIES_MAX || (depth & (depth - 1u))) {
        vgpu_set_err(err, err_len, "queue depth %u: want a power of two, 1..%u",
                     depth, VGPU_Q_ENTRIES_MAX);
        return NULL;
    }
    q = calloc(1, sizeof(*q));
    if (q == NULL) {
        vgpu_set_err(err, err_len, "out of memory");
        return NULL;
    }
    q->c = c;
    q->ops = ops;
    q->ctx = ctx;
    q->depth = depth;
    area = (size_t)depth * (VGPU_Q_SQE_SIZE + VGPU_Q_CQE_SIZE);
    rc = vgpu_dma_alloc(c, area, &q->rings);
    if (rc < 0) {
        const char *why = vgpu_dma_error(c);

        vgpu_set_err(err, err_len, "%s bus: no DMA memory for the rings: %s",
                     ops->name ? ops->name : "?",
                     why[0] != '\0' ? why : vgpu_strerror(rc));
        free(q);
        return NULL;
    }
    if (q->rings.dev_addr % VGPU_Q_BASE_ALIGN != 0) {
        vgpu_set_err(err, err_len,
                     "%s bus: DMA memory at 0x%llx is not %u-byte aligned",
                     ops->name ? ops->name : "?",
                     (unsigned long long)q->rings.dev_addr, VGPU_Q_BASE_ALIGN);
        vgpu_dma_free(c, &q->rings);
        free(q);
        return NULL;
    }
    q->sq = q->rings.ptr;
    q->cq = q->sq + (size_t)depth * VGPU_Q_SQE_SIZE;
    ops->write32(ctx, VGPU_REG_Q_CTRL, 0);
    ops->write32(ctx, VGPU_REG_Q_BASE_LO, (uint32_t)q->rings.dev_addr);
    ops->write32(ctx, VGPU_REG_Q_BASE_HI, (uint32_t)(q->rings.dev_addr >> 32));
    ops->write32(ctx, VGPU_REG_Q_SIZE, depth);
    ops->write32(ctx, VGPU_REG_Q_CTRL, VGPU_Q_CTRL_ENABLE);
    if (!(ops->read32(ctx, VGPU_REG_Q_CTRL) & VGPU_Q_CTRL_ENABLE)) {
        vgpu_set_err(err, err_len, "the device refused the rings: Q_ERROR %s",
                     vgpu_strerror((int)ops->read32(ctx, VGPU_REG_Q_ERROR)));
        vgpu_dma_free(c, &q->rings);
        free(q);
        return NULL;
    }
    if (ops->wait_queue != NULL) {
        q->use_irq = 1;
        ops->write32(ctx, VGPU_REG_IRQ_CTRL,
                     ops->read32(ctx, VGPU_REG_IRQ_CTRL) | VGPU_IRQ_CTRL_QUEUE);
    }
    return q;
}

void
vgpu_queue_close(struct vgpu_queue *q)
{
    if (q == NULL) {
        return;
    }
    q->ops->write32(q->ctx, VGPU_REG_Q_CTRL, 0);
    if (q->use_irq) {
        q->ops->write32(q->ctx, VGPU_REG_IRQ_CTRL,
                        q->ops->read32(q->ctx, VGPU_REG_IRQ_CTRL) &
                            ~VGPU_IRQ_CTRL_QUEUE);
        q->ops->write32(q->ctx, VGPU_REG_IRQ_STATUS, VGPU_IRQ_STATUS_QUEUE);
    }
    vgpu_dma_free(q->c, &q->rings);
    free(q);
}

uint32_t
vgpu_queue_depth(const struct vgpu_queue *q)
{
    return q->depth;
}

uint32_t
vgpu_queue_max_inflight(struct vgpu_queue *q)
{
    return q->ops->read32(q->ctx, VGPU_REG_Q_MAX_INFLIGHT);
}

uint32_t
vgpu_queue_room(const struct vgpu_queue *q)
{
    return q->depth - (q->sq_tail - q->cq_head);
}

uint32_t
vgpu_queue_error(struct vgpu_queue *q)
{
    return q->ops->read32(q->ctx, VGPU_REG_Q_ERROR);
}

/* @off + @len lies inside @buf. */
static int
q_in_buf(const struct vgpu_dma *buf, size_t off, size_t len)
{
    return buf != NULL && buf->ptr != NULL && off <= buf->len &&
           len <= buf->len - off;
}

int
vgpu_queue_submit(struct vgpu_queue *q, const struct vgpu_dma *in_buf,
                  size_t in_off, uint32_t in_len,
                  const struct vgpu_dma *out_buf, size_t out_off,
                  uint32_t out_cap, uint32_t tag)
{
    uint64_t in_addr;
    uint64_t out_addr;
    uint8_t *e;

    if (q == NULL || in_len > VGPU_Q_MAX_XFER || out_cap > VGPU_Q_MAX_XFER ||
        !q_in_buf(in_buf, in_off, in_len) ||
        (out_cap > 0 && !q_in_buf(out_buf, out_off, out_cap))) {
        return -EINVAL;
    }
    if (vgpu_queue_room(q) == 0) {
        return -EAGAIN;
    }
    e = q->sq + (size_t)(q->sq_tail & (q->depth - 1u)) * VGPU_Q_SQE_SIZE;
    in_addr = in_buf->dev_addr + in_off;
    out_addr = out_cap > 0 ? out_buf->dev_addr + out_off : 0;
    vgpu_put_le32(e + VGPU_SQE_IN_ADDR, (uint32_t)in_addr);
    vgpu_put_le32(e + VGPU_SQE_IN_ADDR + 4, (uint32_t)(in_addr >> 32));
    vgpu_put_le32(e + VGPU_SQE_IN_LEN, in_len);
    vgpu_put_le32(e + VGPU_SQE_TAG, tag);
    vgpu_put_le32(e + VGPU_SQE_OUT_ADDR, (uint32_t)out_addr);
    vgpu_put_le32(e + VGPU_SQE_OUT_ADDR + 4, (uint32_t)(out_addr >> 32));
    vgpu_put_le32(e + VGPU_SQE_OUT_CAP, out_cap);
    vgpu_put_le32(e + VGPU_SQE_FLAGS, 0);
    q->sq_tail++;
    return 0;
}

void
vgpu_queue_kick(struct vgpu_queue *q)
{
    /* The entries are in memory before the doorbell. The bus's write32 is
     * a call the compiler cannot move stores across, and its MMIO store is
     * ordered after them (x86 TSO; a bus for a weaker architecture puts its
     * write barrier inside write32). */
    q->ops->write32(q->ctx, VGPU_REG_SQ_TAIL, q->sq_tail);
}

/* The expected PHASE of completion number @n. */
static uint32_t
q_phase(const struct vgpu_queue *q, uint32_t n)
{
    return ((n / q->depth) & 1u) ? 0u : VGPU_CQE_PHASE;
}

static int
q_stopped(struct vgpu_queue *q)
{
    return !(q->ops->read32(q->ctx, VGPU_REG_Q_CTRL) & VGPU_Q_CTRL_ENABLE);
}

/* Completions ready to reap, from CQ_TAIL; -EIO for a tail SPEC.md does
 * not allow (past what was submitted: a device that is gone reads all
 * ones). */
static int
q_ready(struct vgpu_queue *q, uint32_t *tail)
{
    uint32_t t = q->ops->read32(q->ctx, VGPU_REG_CQ_TAIL);

    if (t - q->cq_head > q->sq_tail - q->cq_head) {
        return -EIO;
    }
    *tail = t;
    return (int)(t - q->cq_head);
}

int
vgpu_queue_reap(struct vgpu_queue *q, struct vgpu_qcomp *out, unsigned max)
{
    unsigned n = 0;
    uint32_t tail;
    int ready;

    if (q == NULL || (out == NULL && max > 0)) {
        return -EINVAL;
    }
    if (q->use_irq) {
        /* Cleared before CQ_TAIL is read, so a completion written after
         * that raises it again. */
        q->ops->write32(q->ctx, VGPU_REG_IRQ_STATUS, VGPU_IRQ_STATUS_QUEUE);
    }
    /* CQ_TAIL is read (a bus call) before the entries it covers; the same
     * reasoning as vgpu_queue_kick()'s orders the loads. */
    ready = q_ready(q, &tail);
    if (ready < 0) {
        return ready;
    }
    while (n < max && q->cq_head != tail) {
        const uint8_t *e =
            q->cq + (size_t)(q->cq_head & (q->depth - 1u)) * VGPU_Q_CQE_SIZE;

        if ((vgpu_get_le32(e + VGPU_CQE_FLAGS) & VGPU_CQE_PHASE) !=
            q_phase(q, q->cq_head)) {
            return -EIO;
        }
        out[n].tag = vgpu_get_le32(e + VGPU_CQE_TAG);
        out[n].status = vgpu_get_le32(e + VGPU_CQE_STATUS);
        out[n].out_len = vgpu_get_le32(e + VGPU_CQE_OUT_LEN);
        n++;
        q->cq_head++;
    }
    if (n > 0) {
        q->ops->write32(q->ctx, VGPU_REG_CQ_HEAD, q->cq_head);
        return (int)n;
    }
    if (q->cq_head != q->sq_tail && q_stopped(q)) {
        return -EIO;
    }
    return 0;
}

/* Whether the completion at cq_head carries this pass's PHASE in memory.
 * A hint only, read without an MMIO exit: under QEMU every register read
 * takes the emulator's big lock, so a guest spinning on CQ_TAIL slows the
 * very I/O it waits for. CQ_TAIL stays what decides (q_ready()); the entry
 * may be half written when its PHASE shows. */
static int
q_peek(const struct vgpu_queue *q)
{
    const volatile uint8_t *flags =
        q->cq + (size_t)(q->cq_head & (q->depth - 1u)) * VGPU_Q_CQE_SIZE +
        VGPU_CQE_FLAGS;

    /* PHASE is bit 0 of a little-endian word: its first byte. */
    return (flags[0] & VGPU_CQE_PHASE) == q_phase(q, q->cq_head);
}

int
vgpu_queue_wait(struct vgpu_queue *q, int timeout_ms)
{
    struct vgpu_poll p;

    if (q == NULL) {
        return -EINVAL;
    }
    vgpu_poll_init(&p, timeout_ms, VGPU_QPOLL_SPIN_NS);
    for (;;) {
        uint32_t tail;
        uint64_t now;
        int ready = q_ready(q, &tail);

        if (ready != 0) {
            return ready < 0 ? ready : 1;
        }
        if (q->cq_head == q->sq_tail || q_stopped(q)) {
            /* Nothing in flight can ever complete. */
            return q->cq_head == q->sq_tail ? 0 : -EIO;
        }
        if (q->use_irq) {
            uint64_t left;
            int rc;

            now = vgpu_poll_now_ns();
            if (now >= p.deadline) {
                return 0;
            }
            left = (p.deadline - now + Q_NS_PER_MS - 1u) / Q_NS_PER_MS;
            rc = q->ops->wait_queue(
                q->ctx,
                p.deadline == UINT64_MAX
                    ? -1
                    : (int)(left > Q_WAIT_MAX_MS ? Q_WAIT_MAX_MS : left));
            if (rc < 0) {
                return rc;
            }
            continue;
        }
        /* Spin on memory while vgpu_poll_pause() spins; the registers are
         * read again when the entry changes, every Q_PEEK_ROUNDS peeks (a
         * stopped queue writes none) and after every sleep. */
        for (unsigned i = 0; i < Q_PEEK_ROUNDS; i++) {
            int sleeping = vgpu_poll_now_ns() >= p.spin_until;

            if (vgpu_poll_pause(&p) < 0) {
                return 0;
            }
            if (sleeping || q_peek(q)) {
                break;
            }
        }
    }
}
