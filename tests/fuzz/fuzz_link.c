/*
 * Fuzz the device's end of the protocol (src/link, vgpu/link.h) from a
 * hostile mediator: its bytes in any split, interleaved with what a guest
 * and the adapter do (doorbells, timeouts, resets, connects, connections
 * that end, sends that fail).
 *
 * Input: a program read with the fuzz cursor. Each step's first byte picks
 * an action; the mediator's bytes come from the input itself, so the
 * fuzzer writes frames (the dictionary-free corpus holds valid ones).
 *
 * Checks: nothing crashes or reads outside a buffer (ASan); ops->lost is
 * called only when the link ends the connection, and the link is DOWN after
 * it; every frame the link sends is a valid frame of a type a device sends
 * (HELLO, REQUEST, PONG; a queue entry's REQUEST as its header, then
 * exactly its payload) carrying the device's identity, HELLO only right
 * after vgpu_link_up(), REQUEST only when READY, PONG only while connected;
 * the sent table never exceeds VGPU_LINK_SENT_MAX; the device's STATUS is
 * always one of the four states; a device that is not BUSY never becomes
 * BUSY from mediator input alone.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "vgpu/devmodel.h"
#include "vgpu/link.h"

#define FZ_VM_ID 9u

/* What one step of the program does. */
enum fz_action {
    FZ_INPUT, /* mediator bytes (three of the nine action values) */
    FZ_INPUT_2,
    FZ_INPUT_3,
    FZ_RING,      /* a doorbell */
    FZ_UP,        /* the adapter's connection is up */
    FZ_TIMEOUT,   /* the request timer fires */
    FZ_RESET,     /* device reset */
    FZ_DOWN,      /* the adapter's connection ends */
    FZ_SEND_MODE, /* sends fail from now on, or succeed */
    FZ_QUEUE,     /* queue entries from the input, and SQ_TAIL rung */
    FZ_ACTIONS,
};
#define FZ_POOL 'B'

struct fz {
    struct vgpu_dev dev;
    struct vgpu_link link;
    int send_fail;
    bool in_lost;
    unsigned lost_calls;
    size_t payload_due; /* a queue REQUEST's payload, sent after its header */
};

static int
fz_send(void *opaque, const uint8_t *frame, size_t len)
{
    struct fz *z = opaque;
    struct vgpu_hdr h;

    FUZZ_CHECK(!z->in_lost);
    if (z->payload_due != 0) {
        /* The second half of a queue entry's REQUEST: exactly its payload,
         * still on a READY connection. */
        FUZZ_CHECK(len == z->payload_due);
        FUZZ_CHECK(vgpu_link_state(&z->link) == VGPU_LINK_READY);
        z->payload_due = 0;
        return z->send_fail;
    }
    FUZZ_CHECK(len >= VGPU_HDR_SIZE);
    vgpu_hdr_unpack(frame, &h);
    FUZZ_CHECK(vgpu_hdr_check(&h, VGPU_MAX_PAYLOAD) == 0);
    if (len == VGPU_HDR_SIZE && h.type == VGPU_MSG_REQUEST &&
        (h.request_id & VGPU_Q_WIRE_ID_BIT) && h.payload_len > VGPU_BUF_SIZE) {
        FUZZ_CHECK(h.payload_len <= VGPU_Q_MAX_XFER);
        z->payload_due = z->send_fail == 0 ? h.payload_len : 0;
    } else {
        FUZZ_CHECK(len <= VGPU_LINK_FRAME_MAX);
        FUZZ_CHECK(h.payload_len == len - VGPU_HDR_SIZE);
    }
    FUZZ_CHECK(h.vm_id == FZ_VM_ID && h.pool_id == FZ_POOL);
    FUZZ_CHECK(h.type == VGPU_MSG_HELLO || h.type == VGPU_MSG_REQUEST ||
               h.type == VGPU_MSG_PONG);
    if (h.type == VGPU_MSG_HELLO) {
        FUZZ_CHECK(vgpu_link_state(&z->link) == VGPU_LINK_HELLO);
    } else if (h.type == VGPU_MSG_REQUEST) {
        FUZZ_CHECK(vgpu_link_state(&z->link) == VGPU_LINK_READY);
    } else {
        FUZZ_CHECK(vgpu_link_state(&z->link) != VGPU_LINK_DOWN);
    }
    return z->send_fail;
}

static void
fz_lost(void *opaque, const char *why)
{
    struct fz *z = opaque;

    FUZZ_CHECK(why != NULL && why[0] != '\0');
    FUZZ_CHECK(vgpu_link_state(&z->link) != VGPU_LINK_DOWN);
    z->lost_calls++;
}

static void
fz_log(void *opaque, int level, const char *line)
{
    (void)opaque;
    FUZZ_CHECK(level >= VGPU_LOG_ERROR && level <= VGPU_LOG_DEBUG);
    FUZZ_CHECK(line != NULL);
}

static const struct vgpu_link_ops fz_link_ops = {
    .send = fz_send,
    .lost = fz_lost,
    .log = fz_log,
};

static int
fz_submit(void *opaque, const struct vgpu_request *req)
{
    struct fz *z = opaque;

    return vgpu_link_request(&z->link, req);
}

static void
fz_set_irq(void *opaque, int level)
{
    (void)opaque;
    (void)level;
}

static uint64_t
fz_now(void *opaque)
{
    (void)opaque;
    return 42;
}

/* The guest memory of a queue-capable device: the rings (4 entries) at
 * its start, then room for inputs and outputs. */
#define FZ_MEM_BASE 0x100000u
#define FZ_MEM_SIZE (64u << 10)

static uint8_t fz_mem[FZ_MEM_SIZE];
static uint8_t fz_qbuf[VGPU_Q_MAX_XFER];

static int
fz_dma_read(void *opaque, uint64_t addr, void *buf, size_t len)
{
    (void)opaque;
    if (addr < FZ_MEM_BASE || addr - FZ_MEM_BASE > FZ_MEM_SIZE ||
        len > FZ_MEM_SIZE - (addr - FZ_MEM_BASE)) {
        return -EFAULT;
    }
    memcpy(buf, fz_mem + (addr - FZ_MEM_BASE), len);
    return 0;
}

static int
fz_dma_write(void *opaque, uint64_t addr, const void *buf, size_t len)
{
    (void)opaque;
    if (addr < FZ_MEM_BASE || addr - FZ_MEM_BASE > FZ_MEM_SIZE ||
        len > FZ_MEM_SIZE - (addr - FZ_MEM_BASE)) {
        return -EFAULT;
    }
    memcpy(fz_mem + (addr - FZ_MEM_BASE), buf, len);
    return 0;
}

static uint8_t *
fz_q_buffer(void *opaque, size_t len)
{
    (void)opaque;
    return len <= sizeof(fz_qbuf) ? fz_qbuf : NULL;
}

static int fz_submit(void *opaque, const struct vgpu_request *req);
static void fz_set_irq(void *opaque, int level);
static uint64_t fz_now(void *opaque);

static const struct vgpu_dev_ops fz_dev_ops_queue = {
    .submit = fz_submit,
    .set_irq = fz_set_irq,
    .now_ns = fz_now,
    .guest_error = NULL,
    .dma_read = fz_dma_read,
    .dma_write = fz_dma_write,
    .q_buffer = fz_q_buffer,
};

/* Up to four SQ entries from the input (addresses mostly inside guest
 * memory), then SQ_TAIL moved by what the input says. */
static void
fz_queue(struct fz *z, struct fuzz_cursor *c)
{
    uint32_t tail = (uint32_t)vgpu_dev_mmio_read(&z->dev, VGPU_REG_SQ_HEAD, 4);
    unsigned n = fuzz_u8(c) % 5u;

    for (unsigned i = 0; i < n; i++) {
        uint8_t *e = fz_mem + (size_t)((tail + i) % 4u) * VGPU_Q_SQE_SIZE;
        uint32_t in = FZ_MEM_BASE + 0x1000u + (fuzz_u16(c) % 0x8000u);
        uint32_t out = FZ_MEM_BASE + 0x9000u + (fuzz_u16(c) % 0x6000u);

        vgpu_put_le32(e + VGPU_SQE_IN_ADDR, in);
        vgpu_put_le32(e + VGPU_SQE_IN_ADDR + 4, 0);
        vgpu_put_le32(e + VGPU_SQE_IN_LEN, fuzz_u16(c));
        vgpu_put_le32(e + VGPU_SQE_TAG, i);
        vgpu_put_le32(e + VGPU_SQE_OUT_ADDR, out);
        vgpu_put_le32(e + VGPU_SQE_OUT_ADDR + 4, 0);
        vgpu_put_le32(e + VGPU_SQE_OUT_CAP, fuzz_u16(c));
        vgpu_put_le32(e + VGPU_SQE_FLAGS, 0);
    }
    vgpu_dev_mmio_write(&z->dev, VGPU_REG_SQ_TAIL, tail + n, 4);
    if (fuzz_u8(c) & 1u) {
        vgpu_dev_mmio_write(
            &z->dev, VGPU_REG_CQ_HEAD,
            (uint32_t)vgpu_dev_mmio_read(&z->dev, VGPU_REG_CQ_TAIL, 4), 4);
    }
}

static const struct vgpu_dev_ops fz_dev_ops = {
    .submit = fz_submit,
    .set_irq = fz_set_irq,
    .now_ns = fz_now,
    .guest_error = NULL,
};

static void
fz_invariants(struct fz *z)
{
    uint32_t st = (uint32_t)vgpu_dev_mmio_read(&z->dev, VGPU_REG_STATUS, 4);

    FUZZ_CHECK(st <= VGPU_STATUS_ERROR);
    FUZZ_CHECK(z->link.sent_count <= VGPU_LINK_SENT_MAX);
    FUZZ_CHECK(z->link.pending_len <= VGPU_LINK_FRAME_MAX);
    FUZZ_CHECK(strlen(vgpu_link_reason(&z->link)) < VGPU_LINK_MSG_MAX);
}

/* A doorbell with @len bytes of the input as the request. */
static void
fz_ring(struct fz *z, struct fuzz_cursor *c)
{
    size_t want = fuzz_u16(c) % (VGPU_BUF_SIZE + 2u);
    size_t got;
    const uint8_t *p = fuzz_bytes(c, want, &got);

    for (size_t i = 0; i < got; i++) {
        vgpu_dev_mmio_write(&z->dev, VGPU_REQ_BUF_OFFSET + i, p[i], 1);
    }
    vgpu_dev_mmio_write(&z->dev, VGPU_REG_REQUEST_LEN, (uint32_t)want, 4);
    vgpu_dev_mmio_write(&z->dev, VGPU_REG_REQUEST_ID, fuzz_u8(c) % 4u, 4);
    vgpu_dev_mmio_write(&z->dev, VGPU_REG_DOORBELL, VGPU_DOORBELL_RING, 4);
}

/* Mediator input: up to 2 KiB of the input, fed in one split size. */
static void
fz_input(struct fz *z, struct fuzz_cursor *c)
{
    size_t want = fuzz_u16(c) % 2048u;
    size_t split = 1u + fuzz_u8(c);
    size_t got;
    const uint8_t *p = fuzz_bytes(c, want, &got);
    uint8_t *copy = malloc(got ? got : 1u); /* exact size, for ASan */
    int busy_before = vgpu_dev_busy(&z->dev);

    memcpy(copy, p, got);
    for (size_t off = 0; off < got; off += split) {
        size_t n = got - off < split ? got - off : split;
        unsigned before = z->lost_calls;
        int rc = vgpu_link_input(&z->link, copy + off, n);

        FUZZ_CHECK(rc == 0 || rc == -1);
        if (rc == -1) {
            FUZZ_CHECK(z->lost_calls == before + 1u);
            FUZZ_CHECK(vgpu_link_state(&z->link) == VGPU_LINK_DOWN);
        } else {
            FUZZ_CHECK(z->lost_calls == before);
        }
        fz_invariants(z);
    }
    FUZZ_CHECK(busy_before || !vgpu_dev_busy(&z->dev));
    free(copy);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct fz z;
    struct vgpu_dev_config cfg = {
        .pool_id = FZ_POOL, .priority = VGPU_PRIO_LOW, .vm_id = FZ_VM_ID};
    struct fuzz_cursor c;
    int queue;

    memset(&z, 0, sizeof(z));
    fuzz_cursor_init(&c, data, size);
    /* The first byte's bit 0: a device with the queue (rings enabled), whose
     * answers of a wire id with bit 31 go to vgpu_dev_q_complete(). */
    queue = fuzz_u8(&c) & 1u;
    FUZZ_CHECK(vgpu_dev_init(&z.dev, &cfg,
                             queue ? &fz_dev_ops_queue : &fz_dev_ops, &z) == 0);
    FUZZ_CHECK(vgpu_link_init(&z.link, &z.dev, &fz_link_ops, &z) == 0);
    if (queue) {
        FUZZ_CHECK(vgpu_link_set_rx(&z.link, fz_qbuf, sizeof(fz_qbuf)) == 0);
        memset(fz_mem, 0, sizeof(fz_mem));
        vgpu_dev_mmio_write(&z.dev, VGPU_REG_Q_BASE_LO, FZ_MEM_BASE, 4);
        vgpu_dev_mmio_write(&z.dev, VGPU_REG_Q_SIZE, 4, 4);
        vgpu_dev_mmio_write(&z.dev, VGPU_REG_Q_CTRL, VGPU_Q_CTRL_ENABLE, 4);
    }
    for (unsigned steps = 0; fuzz_left(&c) > 0 && steps < 256; steps++) {
        switch ((enum fz_action)(fuzz_u8(&c) % FZ_ACTIONS)) {
        case FZ_INPUT:
        case FZ_INPUT_2:
        case FZ_INPUT_3:
            fz_input(&z, &c);
            break;
        case FZ_RING:
            fz_ring(&z, &c);
            break;
        case FZ_UP:
            if (vgpu_link_state(&z.link) == VGPU_LINK_DOWN) {
                vgpu_link_up(&z.link);
            }
            break;
        case FZ_TIMEOUT:
            vgpu_link_timeout(&z.link);
            break;
        case FZ_RESET:
            vgpu_dev_reset(&z.dev);
            vgpu_link_reset(&z.link);
            break;
        case FZ_DOWN:
            vgpu_link_down(&z.link, fuzz_u8(&c) % VGPU_ERR_COUNT,
                           (fuzz_u8(&c) & 1u) ? "eof" : NULL,
                           (fuzz_u8(&c) & 1u) ? "text" : NULL);
            FUZZ_CHECK(vgpu_link_state(&z.link) == VGPU_LINK_DOWN);
            FUZZ_CHECK(!vgpu_dev_busy(&z.dev));
            break;
        case FZ_QUEUE:
            if (queue) {
                fz_queue(&z, &c);
            }
            break;
        case FZ_SEND_MODE:
        case FZ_ACTIONS:
            z.send_fail = (fuzz_u8(&c) & 1u) ? -EPIPE : 0;
            break;
        }
        fz_invariants(&z);
    }
    vgpu_dev_fini(&z.dev);
    return 0;
}
