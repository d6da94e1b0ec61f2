/*
 * The vgpu-stub register state machine (SPEC.md sections 3-5), and the
 * dispatch of the queue's registers to queue.c (section 11).
 *
 * Every access is checked first and acted on second; nothing a guest does
 * can fail, assert or touch memory outside the device's own buffers. Effects
 * leave only through dev->ops.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "dev_internal.h"

/* ---- Helpers ------------------------------------------------------------ */

static int
access_size_ok(unsigned size)
{
    return size == 1 || size == 2 || size == 4 || size == VGPU_BUF_MAX_ACCESS;
}

/* All ones in the low @size bytes: what a refused read returns. */
static uint64_t
all_ones(unsigned size)
{
    if (size >= sizeof(uint64_t)) {
        return UINT64_MAX;
    }
    return (UINT64_C(1) << (size * 8u)) - 1u;
}

/* Report a guest error: count it, and hand the adapter one formatted line.
 * The text lives in dev->why, so no allocation and no I/O happens here. */
void
vgpu_dev__guest_error(struct vgpu_dev *dev, const char *fmt, ...)
{
    va_list ap;

    dev->stats.guest_errors++;
    if (!dev->ops->guest_error) {
        return;
    }
    va_start(ap, fmt);
    vsnprintf(dev->why, sizeof(dev->why), fmt, ap);
    va_end(ap);
    dev->ops->guest_error(dev->opaque, dev->why);
}

static const char *
reg_label(uint64_t addr)
{
    const char *name = vgpu_reg_name(addr);

    return name ? name : "register space";
}

/* Raise or lower the line when IRQ_CTRL & IRQ_STATUS changes. Only changes
 * reach the adapter, so a rise is exactly where MSI sends its message. Bit 0
 * is the mailbox, bit 1 the queue (only a queue device ever sets it), so
 * completions of both that arrive together give one rise. */
void
vgpu_dev__update_irq(struct vgpu_dev *dev)
{
    int level = (dev->irq_ctrl & dev->irq_status & VGPU_IRQ_LINE_MASK) != 0;

    if (level != dev->irq_level) {
        dev->irq_level = level;
        dev->ops->set_irq(dev->opaque, level);
    }
}

/*
 * Every transition to DONE or ERROR ends here (SPEC.md section 4, "On
 * completion"): response bytes and RESPONSE_LEN, TIMESTAMP, IRQ_STATUS.
 * @len must already be at most VGPU_BUF_SIZE.
 */
static void
finish(struct vgpu_dev *dev, uint32_t err, const uint8_t *data, size_t len)
{
    if (len > 0) {
        memcpy(dev->resp_buf, data, len);
    }
    dev->response_len = (uint32_t)len;
    dev->error_code = err;
    dev->status = err == VGPU_ERR_NONE ? VGPU_STATUS_DONE : VGPU_STATUS_ERROR;
    if (err == VGPU_ERR_NONE) {
        dev->stats.completions++;
    } else {
        dev->stats.errors++;
    }
    dev->timestamp = dev->ops->now_ns(dev->opaque);
    dev->irq_status |= VGPU_IRQ_STATUS_DONE;
    vgpu_dev__update_irq(dev);
}

/* An error code from a transport or mediator, as ERROR_CODE will show it.
 * Codes the device cannot report (NONE, BUSY, unknown) are the peer breaking
 * the protocol. */
uint32_t
vgpu_dev__sanitize_error(uint32_t code)
{
    if (code <= VGPU_ERR_BUSY || code >= VGPU_ERR_COUNT) {
        return VGPU_ERR_PROTOCOL_ERROR;
    }
    return code;
}

/* ---- The doorbell (SPEC.md section 4) --------------------------------- */

static void
ring_doorbell(struct vgpu_dev *dev)
{
    struct vgpu_request req;
    uint32_t gen;
    int rc;

    if (dev->status == VGPU_STATUS_BUSY) {
        vgpu_dev__guest_error(
            dev, "DOORBELL rung while BUSY (request id %u in flight)",
            dev->inflight_id);
        return;
    }
    if (dev->request_len == 0 || dev->request_len > VGPU_BUF_SIZE) {
        finish(dev, VGPU_ERR_INVALID_LENGTH, NULL, 0);
        return;
    }

    /* The request is entirely in flight before the transport sees it, so a
     * transport that completes it synchronously finds a consistent device. */
    memcpy(dev->snapshot, dev->req_buf, dev->request_len);
    dev->inflight_id = dev->request_id;
    dev->error_code = VGPU_ERR_NONE;
    dev->response_len = 0;
    dev->status = VGPU_STATUS_BUSY;
    gen = ++dev->generation;
    dev->stats.doorbells++;

    req.vm_id = dev->cfg.vm_id;
    req.request_id = dev->inflight_id;
    req.generation = gen;
    req.pool_id = dev->cfg.pool_id;
    req.priority = dev->cfg.priority;
    req.data = dev->snapshot;
    req.len = dev->request_len;
    req.queued = 0;

    rc = dev->ops->submit(dev->opaque, &req);
    /* Fail only this request, and only if nothing has ended it meanwhile. */
    if (rc != 0 && dev->status == VGPU_STATUS_BUSY && dev->generation == gen) {
        finish(dev,
               rc > 0 ? vgpu_dev__sanitize_error((uint32_t)rc)
                      : VGPU_ERR_MEDIATOR_UNAVAILABLE,
               NULL, 0);
    }
}

/* ---- Registers ---------------------------------------------------------- */

/* The IRQ_CTRL and IRQ_STATUS bits this device has: bit 1 only with the
 * queue, so a mailbox-only device reads exactly as before it. */
static uint32_t
irq_mask(const struct vgpu_dev *dev)
{
    return dev->has_queue ? VGPU_IRQ_LINE_MASK : VGPU_IRQ_CTRL_MASK;
}

static uint32_t
reg_read(const struct vgpu_dev *dev, uint64_t addr)
{
    switch (addr) {
    case VGPU_REG_DOORBELL:
        return 0;
    case VGPU_REG_STATUS:
        return dev->status;
    case VGPU_REG_POOL_ID:
        return dev->cfg.pool_id;
    case VGPU_REG_PRIORITY:
        return dev->cfg.priority;
    case VGPU_REG_VM_ID:
        return dev->cfg.vm_id;
    case VGPU_REG_ERROR_CODE:
        return dev->error_code;
    case VGPU_REG_REQUEST_LEN:
        return dev->request_len;
    case VGPU_REG_RESPONSE_LEN:
        return dev->response_len;
    case VGPU_REG_PROTOCOL_VER:
        return VGPU_PROTOCOL_VERSION;
    case VGPU_REG_CAPABILITIES:
        return dev->has_queue ? VGPU_CAPABILITIES | VGPU_CAP_QUEUE
                              : VGPU_CAPABILITIES;
    case VGPU_REG_IRQ_CTRL:
        return dev->irq_ctrl;
    case VGPU_REG_IRQ_STATUS:
        return dev->irq_status;
    case VGPU_REG_REQUEST_ID:
        return dev->request_id;
    case VGPU_REG_TIMESTAMP_LO:
        return (uint32_t)dev->timestamp;
    case VGPU_REG_TIMESTAMP_HI:
        return (uint32_t)(dev->timestamp >> 32);
    case VGPU_REG_SCRATCH:
        return dev->scratch;
    default:
        return 0; /* unreachable: every aligned offset is named above */
    }
}

static void
reg_write(struct vgpu_dev *dev, uint64_t addr, uint32_t val)
{
    switch (addr) {
    case VGPU_REG_DOORBELL:
        if (val == VGPU_DOORBELL_RING) {
            ring_doorbell(dev);
        } else {
            vgpu_dev__guest_error(
                dev, "DOORBELL: value 0x%x ignored (only %u rings)", val,
                VGPU_DOORBELL_RING);
        }
        break;
    case VGPU_REG_REQUEST_LEN:
        dev->request_len = val; /* checked at the doorbell */
        break;
    case VGPU_REG_IRQ_CTRL:
        dev->irq_ctrl = val & irq_mask(dev);
        vgpu_dev__update_irq(dev);
        break;
    case VGPU_REG_IRQ_STATUS:
        dev->irq_status &= ~(val & irq_mask(dev));
        vgpu_dev__update_irq(dev);
        break;
    case VGPU_REG_REQUEST_ID:
        dev->request_id = val;
        break;
    case VGPU_REG_SCRATCH:
        dev->scratch = val;
        break;
    default:
        vgpu_dev__guest_error(dev,
                              "write of 0x%x to read-only register %s (0x%03x)",
                              val, reg_label(addr), (unsigned)addr);
        break;
    }
}

/* ---- Buffers --------------------------------------------------------------
 */

/*
 * Little-endian buffer access. An access that lies wholly inside the buffer
 * takes the fast path: fixed-width byte assembly, which compilers turn into
 * one load or store. Only an access that crosses the buffer's end takes the
 * byte loop, where bytes past the end read as 0 and are never written,
 * whatever the offset and size (the seed's overrun at 1021-1023).
 */
static uint64_t
load_le(const uint8_t *p, unsigned size)
{
    uint64_t v = p[0];

    if (size >= 2) {
        v |= (uint64_t)p[1] << 8;
    }
    if (size >= 4) {
        v |= (uint64_t)p[2] << 16 | (uint64_t)p[3] << 24;
    }
    if (size == 8) {
        v |= (uint64_t)p[4] << 32 | (uint64_t)p[5] << 40 |
             (uint64_t)p[6] << 48 | (uint64_t)p[7] << 56;
    }
    return v;
}

static void
store_le(uint8_t *p, uint64_t v, unsigned size)
{
    p[0] = (uint8_t)v;
    if (size >= 2) {
        p[1] = (uint8_t)(v >> 8);
    }
    if (size >= 4) {
        p[2] = (uint8_t)(v >> 16);
        p[3] = (uint8_t)(v >> 24);
    }
    if (size == 8) {
        p[4] = (uint8_t)(v >> 32);
        p[5] = (uint8_t)(v >> 40);
        p[6] = (uint8_t)(v >> 48);
        p[7] = (uint8_t)(v >> 56);
    }
}

static uint64_t
buf_read(const uint8_t *buf, uint64_t off, unsigned size)
{
    uint64_t val = 0;

    if (off + size <= VGPU_BUF_SIZE) {
        return load_le(buf + off, size);
    }
    for (unsigned i = 0; i < size; i++) {
        if (off + i < VGPU_BUF_SIZE) {
            val |= (uint64_t)buf[off + i] << (8u * i);
        }
    }
    return val;
}

static void
buf_write(uint8_t *buf, uint64_t off, uint64_t val, unsigned size)
{
    if (off + size <= VGPU_BUF_SIZE) {
        store_le(buf + off, val, size);
        return;
    }
    for (unsigned i = 0; i < size; i++) {
        if (off + i < VGPU_BUF_SIZE) {
            buf[off + i] = (uint8_t)(val >> (8u * i));
        }
    }
}

static int
in_range(uint64_t addr, uint64_t base)
{
    return addr >= base && addr - base < VGPU_BUF_SIZE;
}

/* The queue's registers exist only on a device with the queue; elsewhere
 * their range is reserved space. */
static int
in_q_regs(const struct vgpu_dev *dev, uint64_t addr)
{
    return dev->has_queue && addr >= VGPU_Q_REG_OFFSET && addr < VGPU_Q_REG_END;
}

/* Registers, the mailbox's and the queue's, take aligned 4-byte accesses. */
static int
reg_access_ok(struct vgpu_dev *dev, const char *verb, uint64_t addr,
              unsigned size)
{
    if (size == VGPU_REG_SIZE && addr % VGPU_REG_SIZE == 0) {
        return 1;
    }
    vgpu_dev__guest_error(dev,
                          "%s of %u bytes at 0x%03llx: registers take "
                          "aligned %u-byte accesses",
                          verb, size, (unsigned long long)addr, VGPU_REG_SIZE);
    return 0;
}

/* ---- Public API ------------------------------------------------------------
 */

int
vgpu_dev_config_check(const struct vgpu_dev_config *cfg)
{
    if (!cfg || cfg->pool_id < VGPU_POOL_FIRST ||
        cfg->pool_id > VGPU_POOL_LAST || cfg->priority > VGPU_PRIO_HIGH ||
        cfg->vm_id < VGPU_VM_ID_MIN) {
        return -EINVAL;
    }
    return 0;
}

int
vgpu_dev_init(struct vgpu_dev *dev, const struct vgpu_dev_config *cfg,
              const struct vgpu_dev_ops *ops, void *opaque)
{
    int dma_ops;

    if (!dev || vgpu_dev_config_check(cfg) != 0 || !ops || !ops->submit ||
        !ops->set_irq || !ops->now_ns) {
        return -EINVAL;
    }
    dma_ops = !!ops->dma_read + !!ops->dma_write + !!ops->q_buffer;
    if (dma_ops != 0 && dma_ops != 3) {
        return -EINVAL;
    }
    memset(dev, 0, sizeof(*dev));
    dev->ops = ops;
    dev->opaque = opaque;
    dev->cfg = *cfg;
    dev->status = VGPU_STATUS_IDLE;
    dev->has_queue = dma_ops == 3;
    dev->q_accepted = VGPU_Q_ENTRIES_MAX;
    return 0;
}

void
vgpu_dev_fini(struct vgpu_dev *dev)
{
    if (dev->irq_level) {
        dev->irq_level = 0;
        dev->ops->set_irq(dev->opaque, 0);
    }
    dev->ops = NULL;
    dev->opaque = NULL;
}

uint64_t
vgpu_dev_mmio_read(struct vgpu_dev *dev, uint64_t addr, unsigned size)
{
    if (!access_size_ok(size) || addr >= VGPU_BAR0_SIZE) {
        vgpu_dev__guest_error(dev,
                              "read of %u bytes at 0x%llx: not a BAR0 access",
                              size, (unsigned long long)addr);
        return all_ones(size);
    }
    if (addr < VGPU_REG_SPACE_END) {
        if (!reg_access_ok(dev, "read", addr, size)) {
            return all_ones(size);
        }
        return reg_read(dev, addr);
    }
    /* The buffers before the queue's registers: the ranges are disjoint,
     * and a buffer copy is many accesses. */
    if (in_range(addr, VGPU_REQ_BUF_OFFSET)) {
        return buf_read(dev->req_buf, addr - VGPU_REQ_BUF_OFFSET, size);
    }
    if (in_range(addr, VGPU_RESP_BUF_OFFSET)) {
        return buf_read(dev->resp_buf, addr - VGPU_RESP_BUF_OFFSET, size);
    }
    if (in_q_regs(dev, addr)) {
        if (!reg_access_ok(dev, "read", addr, size)) {
            return all_ones(size);
        }
        return vgpu_dev__q_reg_read(dev, addr);
    }
    return 0; /* reserved space */
}

void
vgpu_dev_mmio_write(struct vgpu_dev *dev, uint64_t addr, uint64_t val,
                    unsigned size)
{
    if (!access_size_ok(size) || addr >= VGPU_BAR0_SIZE) {
        vgpu_dev__guest_error(dev,
                              "write of %u bytes at 0x%llx: not a BAR0 access",
                              size, (unsigned long long)addr);
        return;
    }
    if (addr < VGPU_REG_SPACE_END) {
        if (reg_access_ok(dev, "write", addr, size)) {
            reg_write(dev, addr, (uint32_t)val);
        }
        return;
    }
    if (in_range(addr, VGPU_REQ_BUF_OFFSET)) {
        buf_write(dev->req_buf, addr - VGPU_REQ_BUF_OFFSET, val, size);
        return;
    }
    if (in_range(addr, VGPU_RESP_BUF_OFFSET)) {
        vgpu_dev__guest_error(
            dev, "write to the read-only response buffer at 0x%03llx",
            (unsigned long long)addr);
        return;
    }
    if (in_q_regs(dev, addr)) {
        if (reg_access_ok(dev, "write", addr, size)) {
            vgpu_dev__q_reg_write(dev, addr, (uint32_t)val);
        }
        return;
    }
    vgpu_dev__guest_error(dev, "write to reserved space at 0x%03llx",
                          (unsigned long long)addr);
}

int
vgpu_dev_complete(struct vgpu_dev *dev, uint32_t generation,
                  uint32_t request_id, uint32_t status, const uint8_t *data,
                  size_t len)
{
    if (dev->status != VGPU_STATUS_BUSY || generation != dev->generation ||
        request_id != dev->inflight_id) {
        dev->stats.stale_responses++;
        return -ESTALE;
    }
    /* SPEC.md sections 4 and 7: more than the buffer holds is
     * RESPONSE_TOO_LARGE, whether it is a result or an error's message. */
    if (len > VGPU_BUF_SIZE) {
        finish(dev, VGPU_ERR_RESPONSE_TOO_LARGE, NULL, 0);
        return 0;
    }
    if (!data) {
        len = 0;
    }
    finish(dev,
           status == VGPU_ERR_NONE ? VGPU_ERR_NONE
                                   : vgpu_dev__sanitize_error(status),
           data, len);
    return 0;
}

void
vgpu_dev_transport_lost(struct vgpu_dev *dev)
{
    if (dev->status == VGPU_STATUS_BUSY) {
        finish(dev, VGPU_ERR_MEDIATOR_UNAVAILABLE, NULL, 0);
    }
    if (dev->has_queue) {
        vgpu_dev__q_transport_lost(dev);
    }
}

void
vgpu_dev_timeout(struct vgpu_dev *dev)
{
    if (dev->status == VGPU_STATUS_BUSY) {
        finish(dev, VGPU_ERR_TIMEOUT, NULL, 0);
    }
}

void
vgpu_dev_reset(struct vgpu_dev *dev)
{
    dev->generation++; /* a late answer to the abandoned request is stale */
    dev->status = VGPU_STATUS_IDLE;
    dev->error_code = VGPU_ERR_NONE;
    dev->request_len = 0;
    dev->response_len = 0;
    dev->irq_ctrl = 0;
    dev->irq_status = 0;
    dev->request_id = 0;
    dev->scratch = 0;
    dev->timestamp = 0;
    dev->inflight_id = 0;
    memset(dev->req_buf, 0, sizeof(dev->req_buf));
    memset(dev->resp_buf, 0, sizeof(dev->resp_buf));
    memset(dev->snapshot, 0, sizeof(dev->snapshot));
    vgpu_dev__q_reset(dev);
    vgpu_dev__update_irq(dev);
}

int
vgpu_dev_busy(const struct vgpu_dev *dev)
{
    return dev->status == VGPU_STATUS_BUSY;
}

void
vgpu_dev_inflight(const struct vgpu_dev *dev, uint32_t *generation,
                  uint32_t *request_id)
{
    if (generation) {
        *generation = dev->generation;
    }
    if (request_id) {
        *request_id = dev->inflight_id;
    }
}

void
vgpu_dev_get_stats(const struct vgpu_dev *dev, struct vgpu_dev_stats *out)
{
    *out = dev->stats;
}
