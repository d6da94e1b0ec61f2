/*
 * libvgpu-guest's client: one request at a time through BAR0 (SPEC.md
 * sections 3-5), over whatever bus the caller opened.
 *
 * A request is: the bytes into the request buffer, REQUEST_LEN, REQUEST_ID,
 * then DOORBELL. Its end is STATUS leaving BUSY, seen either by polling
 * STATUS or after the bus's interrupt. The device is hostile input like any
 * other: a STATUS, RESPONSE_LEN or message the SPEC does not allow ends the
 * call with an error code, never with a crash or an overrun.
 *
 * Decisions the header leaves open:
 * - vgpu_open_bus() does not call ops->close() when it fails: the caller
 *   still owns the bus then.
 * - A negative timeout_ms waits without a limit (poll()'s convention).
 * - vgpu_wait() also returns -ECANCELED when STATUS reads IDLE (a device
 *   reset abandoned the request, or nothing was submitted) and -EIO when
 *   STATUS or RESPONSE_LEN hold values SPEC.md does not allow (a BAR that
 *   reads all ones because the device is gone, for one). On -ENOBUFS,
 *   *resp_len tells the size that was needed.
 * - The ERROR message is RESPONSE_LEN bytes of the response buffer with
 *   control bytes replaced by '?', so that a tool can print it as one line.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "guest_internal.h"
#include "vgpu/guest.h"

/* The major version is the high half of PROTOCOL_VER (SPEC.md section 3). */
#define PROTOCOL_MAJOR(v) ((uint32_t)(v) >> 16)

#define NS_PER_MS  1000000ull
#define NS_PER_SEC 1000000000ull

struct vgpu_client {
    const struct vgpu_bus_ops *ops;
    void *ctx;
    uint32_t next_id; /* the id of the next request */
    int timeout_ms;   /* of the typed helpers */
    int use_irq;      /* wait on ops->wait_irq instead of polling */
    struct vgpu_error last;
    struct vgpu_helper_queue hq; /* the typed helpers' queue (ops.c) */
};

uint64_t
vgpu_poll_now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * NS_PER_SEC + (uint64_t)ts.tv_nsec;
}

static uint64_t
now_ns(void)
{
    return vgpu_poll_now_ns();
}

void
vgpu_poll_init(struct vgpu_poll *p, int timeout_ms, uint64_t spin_ns)
{
    uint64_t now = now_ns();

    p->spin_until = now + spin_ns;
    p->deadline =
        timeout_ms < 0 ? UINT64_MAX : now + (uint64_t)timeout_ms * NS_PER_MS;
    p->sleep_ns = VGPU_POLL_SLEEP_FIRST_NS;
}

int
vgpu_poll_pause(struct vgpu_poll *p)
{
    uint64_t now = now_ns();
    uint64_t left;
    struct timespec ts;

    if (now >= p->deadline) {
        return -ETIMEDOUT;
    }
    if (now < p->spin_until) {
        return 0;
    }
    left = p->deadline - now;
    ts.tv_sec = 0;
    ts.tv_nsec = (uint64_t)p->sleep_ns < left ? p->sleep_ns : (long)left;
    nanosleep(&ts, NULL); /* EINTR: the caller reads again */
    if (p->sleep_ns < VGPU_POLL_SLEEP_MAX_NS) {
        p->sleep_ns *= 2;
        if (p->sleep_ns > VGPU_POLL_SLEEP_MAX_NS) {
            p->sleep_ns = VGPU_POLL_SLEEP_MAX_NS;
        }
    }
    return 0;
}

static uint32_t
rd(struct vgpu_client *c, uint32_t off)
{
    return c->ops->read32(c->ctx, off);
}

static void
wr(struct vgpu_client *c, uint32_t off, uint32_t val)
{
    c->ops->write32(c->ctx, off, val);
}

/* Check the PCI identity, where the bus has one. Return 0, or -1 with @err
 * set and errno set. */
static int
check_identity(const struct vgpu_bus_ops *ops, void *ctx, char *err,
               size_t err_len)
{
    uint16_t vendor = 0;
    uint16_t device = 0;
    uint8_t revision = 0;
    int rc;

    if (ops->identity == NULL) {
        return 0;
    }
    rc = ops->identity(ctx, &vendor, &device, &revision);
    if (rc < 0) {
        vgpu_set_err(err, err_len, "%s bus: cannot read the PCI identity: %s",
                     ops->name ? ops->name : "?", vgpu_strerror(rc));
        errno = -rc;
        return -1;
    }
    if (vendor != VGPU_PCI_VENDOR_ID || device != VGPU_PCI_DEVICE_ID ||
        revision != VGPU_PCI_REVISION) {
        vgpu_set_err(
            err, err_len,
            "%s: vendor 0x%04x device 0x%04x revision 0x%02x, expected "
            "vendor 0x%04x device 0x%04x revision 0x%02x",
            vgpu_strerror(VGPU_E_NOT_VGPU), vendor, device, revision,
            VGPU_PCI_VENDOR_ID, VGPU_PCI_DEVICE_ID, VGPU_PCI_REVISION);
        errno = ENODEV;
        return -1;
    }
    return 0;
}

struct vgpu_client *
vgpu_open_bus(const struct vgpu_bus_ops *ops, void *ctx, char *err,
              size_t err_len)
{
    struct vgpu_client *c;
    uint32_t ver;

    if (ops == NULL || ops->read32 == NULL || ops->write32 == NULL ||
        ops->read_buf == NULL || ops->write_buf == NULL) {
        vgpu_set_err(err, err_len, "bus ops lack read32, write32 or a copy");
        errno = EINVAL;
        return NULL;
    }
    if (check_identity(ops, ctx, err, err_len) != 0) {
        return NULL;
    }
    ver = ops->read32(ctx, VGPU_REG_PROTOCOL_VER);
    if (PROTOCOL_MAJOR(ver) != PROTOCOL_MAJOR(VGPU_PROTOCOL_VERSION)) {
        vgpu_set_err(err, err_len,
                     "device speaks protocol 0x%08x (major %u); this library "
                     "speaks 0x%08x (major %u)",
                     ver, PROTOCOL_MAJOR(ver), VGPU_PROTOCOL_VERSION,
                     PROTOCOL_MAJOR(VGPU_PROTOCOL_VERSION));
        errno = EPROTO;
        return NULL;
    }
    c = calloc(1, sizeof(*c));
    if (c == NULL) {
        vgpu_set_err(err, err_len, "out of memory");
        errno = ENOMEM;
        return NULL;
    }
    c->ops = ops;
    c->ctx = ctx;
    c->timeout_ms = (int)VGPU_DEFAULT_TIMEOUT_MS;
    c->next_id = ops->read32(ctx, VGPU_REG_REQUEST_ID) + 1u;
    if (ops->wait_irq != NULL &&
        (ops->read32(ctx, VGPU_REG_CAPABILITIES) & VGPU_CAP_IRQ)) {
        c->use_irq = 1;
        ops->write32(ctx, VGPU_REG_IRQ_CTRL, VGPU_IRQ_CTRL_ENABLE);
    }
    return c;
}

void
vgpu_close(struct vgpu_client *c)
{
    if (c == NULL) {
        return;
    }
    vgpu_guest_hq_close(c);
    if (c->use_irq) {
        wr(c, VGPU_REG_IRQ_CTRL, 0);
    }
    if (c->ops->close != NULL) {
        c->ops->close(c->ctx);
    }
    free(c);
}

int
vgpu_info(struct vgpu_client *c, struct vgpu_info *info)
{
    if (c == NULL || info == NULL) {
        return -EINVAL;
    }
    info->pool = (char)rd(c, VGPU_REG_POOL_ID);
    info->priority = rd(c, VGPU_REG_PRIORITY);
    info->vm_id = rd(c, VGPU_REG_VM_ID);
    info->protocol_version = rd(c, VGPU_REG_PROTOCOL_VER);
    info->capabilities = rd(c, VGPU_REG_CAPABILITIES);
    return 0;
}

const struct vgpu_bus_ops *
vgpu_bus(struct vgpu_client *c, void **ctx)
{
    if (c == NULL) {
        return NULL;
    }
    if (ctx != NULL) {
        *ctx = c->ctx;
    }
    return c->ops;
}

static void
set_last(struct vgpu_client *c, uint32_t code, const char *msg)
{
    c->last.code = code;
    snprintf(c->last.message, sizeof(c->last.message), "%s", msg);
}

int
vgpu_submit(struct vgpu_client *c, const void *req, size_t len,
            uint32_t *request_id)
{
    uint32_t id;

    if (c == NULL || req == NULL || len == 0 || len > VGPU_BUF_SIZE) {
        return -EINVAL;
    }
    if (rd(c, VGPU_REG_STATUS) == VGPU_STATUS_BUSY) {
        set_last(c, VGPU_ERR_BUSY, "a request is already in flight");
        return VGPU_E_BUSY;
    }
    id = c->next_id++;
    if (c->use_irq) {
        /* A completion nobody waited for would hold the line up. */
        wr(c, VGPU_REG_IRQ_STATUS, VGPU_IRQ_STATUS_DONE);
    }
    c->ops->write_buf(c->ctx, VGPU_REQ_BUF_OFFSET, req, len);
    wr(c, VGPU_REG_REQUEST_LEN, (uint32_t)len);
    wr(c, VGPU_REG_REQUEST_ID, id);
    wr(c, VGPU_REG_DOORBELL, VGPU_DOORBELL_RING);
    if (request_id != NULL) {
        *request_id = id;
    }
    return 0;
}

/* What a STATUS other than BUSY means for a waiter: the status itself for
 * DONE and ERROR, else an error code (see the top of the file). */
static int
settled(uint32_t status)
{
    switch (status) {
    case VGPU_STATUS_DONE:
    case VGPU_STATUS_ERROR:
        return (int)status;
    case VGPU_STATUS_IDLE:
        return -ECANCELED;
    default:
        return -EIO;
    }
}

static uint64_t
deadline_of(int timeout_ms)
{
    if (timeout_ms < 0) {
        return UINT64_MAX;
    }
    return now_ns() + (uint64_t)timeout_ms * NS_PER_MS;
}

/* Poll STATUS until it leaves BUSY: spin, then sleep with a doubling
 * backoff, never past the deadline (struct vgpu_poll). */
static int
poll_status(struct vgpu_client *c, int timeout_ms)
{
    struct vgpu_poll p;

    vgpu_poll_init(&p, timeout_ms, VGPU_POLL_SPIN_NS);
    for (;;) {
        uint32_t status = rd(c, VGPU_REG_STATUS);
        int rc;

        if (status != VGPU_STATUS_BUSY) {
            return settled(status);
        }
        rc = vgpu_poll_pause(&p);
        if (rc < 0) {
            return rc;
        }
    }
}

/* Wait on the bus's interrupt. An interrupt is only a hint: STATUS decides,
 * so a spurious or shared one costs one more round. */
static int
irq_status(struct vgpu_client *c, int timeout_ms)
{
    uint64_t deadline = deadline_of(timeout_ms);

    for (;;) {
        uint32_t status = rd(c, VGPU_REG_STATUS);
        int wait_ms = -1;
        int rc;

        if (status != VGPU_STATUS_BUSY) {
            return settled(status);
        }
        if (deadline != UINT64_MAX) {
            uint64_t now = now_ns();
            uint64_t left_ms;

            if (now >= deadline) {
                return -ETIMEDOUT;
            }
            left_ms = (deadline - now + NS_PER_MS - 1) / NS_PER_MS;
            wait_ms =
                left_ms > (uint64_t)timeout_ms ? timeout_ms : (int)left_ms;
        }
        rc = c->ops->wait_irq(c->ctx, wait_ms);
        if (rc < 0) {
            return rc;
        }
    }
}

/* Copy the ERROR message into last_error, printable as one line. */
static void
read_message(struct vgpu_client *c, uint32_t len)
{
    char *msg = c->last.message;

    if (len > VGPU_BUF_SIZE) {
        len = VGPU_BUF_SIZE;
    }
    if (len > 0) {
        c->ops->read_buf(c->ctx, VGPU_RESP_BUF_OFFSET, msg, len);
    }
    msg[len] = '\0';
    for (uint32_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)msg[i];

        if (ch < ' ' || ch == '\177') {
            msg[i] = '?';
        }
    }
}

int
vgpu_wait(struct vgpu_client *c, int timeout_ms, void *resp, size_t cap,
          size_t *resp_len)
{
    uint32_t len;
    int rc;

    if (resp_len != NULL) {
        *resp_len = 0;
    }
    if (c == NULL || (resp == NULL && cap > 0)) {
        return -EINVAL;
    }
    rc = c->use_irq ? irq_status(c, timeout_ms) : poll_status(c, timeout_ms);
    if (rc < 0) {
        return rc;
    }
    len = rd(c, VGPU_REG_RESPONSE_LEN);
    if (rc == VGPU_STATUS_ERROR) {
        c->last.code = rd(c, VGPU_REG_ERROR_CODE);
        read_message(c, len);
        rc = VGPU_E_DEVICE;
    } else if (len > VGPU_BUF_SIZE) {
        rc = -EIO;
    } else if (len > cap) {
        if (resp_len != NULL) {
            *resp_len = len;
        }
        rc = -ENOBUFS;
    } else {
        if (len > 0) {
            c->ops->read_buf(c->ctx, VGPU_RESP_BUF_OFFSET, resp, len);
        }
        if (resp_len != NULL) {
            *resp_len = len;
        }
        rc = 0;
    }
    wr(c, VGPU_REG_IRQ_STATUS, VGPU_IRQ_STATUS_DONE);
    return rc;
}

int
vgpu_call(struct vgpu_client *c, const void *req, size_t len, void *resp,
          size_t cap, size_t *resp_len, int timeout_ms)
{
    int rc = vgpu_submit(c, req, len, NULL);

    if (rc != 0) {
        if (resp_len != NULL) {
            *resp_len = 0;
        }
        return rc;
    }
    return vgpu_wait(c, timeout_ms, resp, cap, resp_len);
}

const struct vgpu_error *
vgpu_last_error(struct vgpu_client *c)
{
    return c != NULL ? &c->last : NULL;
}

void
vgpu_set_timeout(struct vgpu_client *c, int timeout_ms)
{
    if (c != NULL) {
        c->timeout_ms = timeout_ms;
    }
}

int
vgpu_guest_timeout(const struct vgpu_client *c)
{
    return c->timeout_ms;
}

struct vgpu_helper_queue *
vgpu_guest_hq(struct vgpu_client *c)
{
    return &c->hq;
}

void
vgpu_guest_hq_close(struct vgpu_client *c)
{
    struct vgpu_helper_queue *h = &c->hq;

    vgpu_queue_close(h->q);
    for (unsigned s = 0; s < VGPU_HQ_DEPTH; s++) {
        vgpu_dma_free(c, &h->in[s]);
        vgpu_dma_free(c, &h->out[s]);
    }
    memset(h, 0, sizeof(*h));
}

void
vgpu_guest_set_error(struct vgpu_client *c, uint32_t code, const uint8_t *msg,
                     size_t len)
{
    if (len > sizeof(c->last.message) - 1u) {
        len = sizeof(c->last.message) - 1u;
    }
    for (size_t i = 0; i < len; i++) {
        c->last.message[i] =
            (msg[i] < ' ' || msg[i] == '\177') ? '?' : (char)msg[i];
    }
    c->last.message[len] = '\0';
    c->last.code = code;
}
