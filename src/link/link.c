/*
 * The device's end of the wire protocol (vgpu/link.h): handshake, the table
 * of requests sent, the decoder loop and what each mediator frame does.
 * Pure: everything outside goes through struct vgpu_link_ops.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "vgpu/link.h"

#define LINK_LINE_MAX 256u

static void link_log(struct vgpu_link *l, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
link_log(struct vgpu_link *l, int level, const char *fmt, ...)
{
    char line[LINK_LINE_MAX];
    va_list ap;

    if (l->ops->log == NULL) {
        return;
    }
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    l->ops->log(l->opaque, level, line);
}

/* A header carrying the device's identity. */
static void
link_hdr(const struct vgpu_link *l, struct vgpu_hdr *h, uint16_t type)
{
    vgpu_hdr_init(h, type);
    h->vm_id = l->dev->cfg.vm_id;
    h->pool_id = l->dev->cfg.pool_id;
    h->priority = l->dev->cfg.priority;
}

/* The device offers the queue (SPEC.md section 11): it reaches guest
 * memory. */
static int
link_has_queue(const struct vgpu_link *l)
{
    return l->dev->ops->dma_read != NULL && l->dev->ops->dma_write != NULL;
}

/* ---- The table of requests sent ----------------------------------------- */

static void
sent_push(struct vgpu_link *l, uint32_t request_id, uint32_t generation)
{
    if (l->sent_count == VGPU_LINK_SENT_MAX) {
        /* Forget the oldest: the device's request-id check decides its
         * answer, if it ever comes. */
        memmove(&l->sent[0], &l->sent[1],
                (VGPU_LINK_SENT_MAX - 1u) * sizeof(l->sent[0]));
        l->sent_count--;
    }
    l->sent[l->sent_count].request_id = request_id;
    l->sent[l->sent_count].generation = generation;
    l->sent_count++;
}

/* The generation of the oldest request sent as @request_id; it alone leaves
 * the table, so answers may come in any order. Return: 1 if found. */
static int
sent_take(struct vgpu_link *l, uint32_t request_id, uint32_t *generation)
{
    for (unsigned i = 0; i < l->sent_count; i++) {
        if (l->sent[i].request_id == request_id) {
            *generation = l->sent[i].generation;
            l->sent_count--;
            if (i < l->sent_count) {
                memmove(&l->sent[i], &l->sent[i + 1u],
                        (l->sent_count - i) * sizeof(l->sent[0]));
            }
            return 1;
        }
    }
    return 0;
}

/* ---- Ending a connection ------------------------------------------------- */

/* Forget everything about the connection; the device is not told. */
static void
link_forget(struct vgpu_link *l)
{
    l->state = VGPU_LINK_DOWN;
    l->peer_max_payload = 0;
    l->peer_max_inflight = 0;
    l->sent_count = 0;
    l->pending_len = 0;
    vgpu_decoder_reset(&l->dec);
}

/* End the mailbox's request in flight, if any, with @status and @text, and
 * every queue entry in flight with MEDIATOR_UNAVAILABLE. */
static void
link_fail_inflight(struct vgpu_link *l, uint32_t status, const char *text)
{
    uint32_t gen;
    uint32_t id;

    if (vgpu_dev_busy(l->dev) &&
        (text != NULL || status != VGPU_ERR_MEDIATOR_UNAVAILABLE)) {
        vgpu_dev_inflight(l->dev, &gen, &id);
        vgpu_dev_complete(l->dev, gen, id, status, (const uint8_t *)text,
                          text != NULL ? strlen(text) : 0);
    }
    /* The mailbox (if still BUSY) and the queue's entries. */
    vgpu_dev_transport_lost(l->dev);
}

static void
link_keep_reason(struct vgpu_link *l, const char *why)
{
    snprintf(l->reason, sizeof(l->reason), "%s", why);
}

/* The link ends the connection: the caller closes it (ops->lost), then the
 * request in flight ends. Return -1 for the caller's convenience. */
static int
link_drop(struct vgpu_link *l, uint32_t status, const char *why,
          const char *text)
{
    link_keep_reason(l, text != NULL ? text : why);
    l->ops->lost(l->opaque, why);
    link_forget(l);
    link_fail_inflight(l, status, text);
    return -1;
}

/* Send one frame; a failure drops the connection. Return 0 or -1. */
static int
link_send(struct vgpu_link *l, const uint8_t *frame, size_t len,
          const char *what)
{
    char why[VGPU_LINK_MSG_MAX];
    int rc = l->ops->send(l->opaque, frame, len);

    if (rc == 0) {
        return 0;
    }
    snprintf(why, sizeof(why), "cannot send %s: %s", what, vgpu_strerror(rc));
    return link_drop(l, VGPU_ERR_MEDIATOR_UNAVAILABLE, why, NULL);
}

/* ---- API ------------------------------------------------------------------
 */

int
vgpu_link_init(struct vgpu_link *link, struct vgpu_dev *dev,
               const struct vgpu_link_ops *ops, void *opaque)
{
    if (link == NULL || dev == NULL || ops == NULL || ops->send == NULL ||
        ops->lost == NULL) {
        return -EINVAL;
    }
    memset(link, 0, sizeof(*link));
    link->dev = dev;
    link->ops = ops;
    link->opaque = opaque;
    link->rx = link->rx_small;
    link->rx_cap = sizeof(link->rx_small);
    vgpu_decoder_init(&link->dec, link->rx, link->rx_cap, VGPU_MAX_PAYLOAD);
    link_forget(link);
    return 0;
}

int
vgpu_link_set_rx(struct vgpu_link *link, uint8_t *buf, size_t cap)
{
    if (buf == NULL || cap < VGPU_BUF_SIZE || link->state != VGPU_LINK_DOWN) {
        return -EINVAL;
    }
    link->rx = buf;
    link->rx_cap = cap;
    vgpu_decoder_init(&link->dec, link->rx, link->rx_cap, VGPU_MAX_PAYLOAD);
    return 0;
}

int
vgpu_link_up(struct vgpu_link *link)
{
    uint8_t frame[VGPU_HDR_SIZE + VGPU_HELLO_PAYLOAD_SIZE];
    uint8_t payload[VGPU_HELLO_PAYLOAD_SIZE];
    struct vgpu_hdr h;
    int n;

    link->stats.connects++;
    link->state = VGPU_LINK_HELLO;
    link->reason[0] = '\0';
    vgpu_decoder_reset(&link->dec);
    link_hdr(link, &h, VGPU_MSG_HELLO);
    vgpu_hello_pack(payload, VGPU_PROTOCOL_VERSION,
                    VGPU_CAPABILITIES |
                        (link_has_queue(link) ? VGPU_CAP_QUEUE : 0u));
    n = vgpu_frame_encode(&h, payload, sizeof(payload), frame, sizeof(frame));
    if (n < 0) {
        return link_drop(link, VGPU_ERR_MEDIATOR_UNAVAILABLE,
                         "cannot encode HELLO", NULL); /* not reached */
    }
    return link_send(link, frame, (size_t)n, "HELLO");
}

/* A queue entry: its wire id is the device's own, which the device checks
 * itself when the answer comes, so it takes no place in the sent table. A
 * payload over 1 KiB goes as a second send after the header, so a 1 MiB
 * payload is never copied here. */
static int
link_request_queued(struct vgpu_link *l, const struct vgpu_request *req)
{
    uint8_t frame[VGPU_LINK_FRAME_MAX];
    struct vgpu_hdr h;
    int rc;

    if (req->len > VGPU_Q_MAX_XFER) {
        return -EINVAL;
    }
    if (l->state != VGPU_LINK_READY) {
        return -EAGAIN; /* the device keeps it until vgpu_dev_q_kick() */
    }
    if (req->len > l->peer_max_payload) {
        /* A mediator from before the queue takes 1 KiB: sending more would
         * be a protocol error that drops the connection for every entry. */
        l->stats.too_long++;
        return (int)VGPU_ERR_INVALID_LENGTH;
    }
    link_hdr(l, &h, VGPU_MSG_REQUEST);
    h.request_id = req->request_id;
    h.payload_len = req->len;
    vgpu_hdr_pack(&h, frame);
    if (req->len <= VGPU_BUF_SIZE) {
        /* Small: one frame, one send (a copy of at most 1 KiB). */
        if (req->len > 0) {
            memcpy(frame + VGPU_HDR_SIZE, req->data, req->len);
        }
        rc = link_send(l, frame, VGPU_HDR_SIZE + req->len, "REQUEST");
    } else {
        rc = link_send(l, frame, VGPU_HDR_SIZE, "REQUEST");
        if (rc == 0) {
            rc = link_send(l, req->data, req->len, "REQUEST");
        }
    }
    if (rc < 0) {
        /* The connection is gone and every entry in flight ended; this
         * one was not in flight yet. */
        return (int)VGPU_ERR_MEDIATOR_UNAVAILABLE;
    }
    l->stats.requests_sent++;
    l->stats.queued_sent++;
    return 0;
}

int
vgpu_link_request(struct vgpu_link *link, const struct vgpu_request *req)
{
    struct vgpu_hdr h;
    int n;

    if (req->queued) {
        return link_request_queued(link, req);
    }
    if (req->len > VGPU_BUF_SIZE) {
        return -EINVAL;
    }
    link_hdr(link, &h, VGPU_MSG_REQUEST);
    h.request_id = req->request_id;
    n = vgpu_frame_encode(&h, req->data, req->len, link->pending,
                          sizeof(link->pending));
    if (n < 0) {
        return -EINVAL; /* not reached: the length was checked */
    }
    sent_push(link, req->request_id, req->generation);
    if (link->state != VGPU_LINK_READY) {
        link->pending_len = (size_t)n; /* sent at HELLO_ACK */
        return 0;
    }
    if (link->ops->send(link->opaque, link->pending, (size_t)n) != 0) {
        char why[VGPU_LINK_MSG_MAX];

        /* The mediator went away and its EOF was not read yet. The request
         * does not end here: it is kept for the caller's one fresh
         * connection (vgpu_link_up()), as if none had been open. */
        snprintf(why, sizeof(why), "cannot send REQUEST req=%u; reconnecting",
                 (unsigned)req->request_id);
        link_keep_reason(link, why);
        link->ops->lost(link->opaque, why);
        link_forget(link);
        sent_push(link, req->request_id, req->generation);
        link->pending_len = (size_t)n;
        return 0;
    }
    link->stats.requests_sent++;
    return 0;
}

/* ---- Frames from the mediator -------------------------------------------- */

static int
link_hello_ack(struct vgpu_link *l, const struct vgpu_frame *f)
{
    uint32_t caps;
    uint32_t max_payload;
    uint32_t inflight;
    size_t len = l->pending_len;

    if (vgpu_hello_ack_unpack_queue(f->payload,
                                    f->truncated ? 0 : f->hdr.payload_len,
                                    &caps, &max_payload, &inflight) < 0) {
        return link_drop(l, VGPU_ERR_PROTOCOL_ERROR,
                         "protocol error: a malformed HELLO_ACK",
                         "protocol error: a malformed HELLO_ACK");
    }
    l->state = VGPU_LINK_READY;
    l->peer_max_payload = max_payload;
    l->peer_max_inflight = inflight;
    link_log(l, VGPU_LOG_DEBUG, "vm=%u: HELLO_ACK caps=0x%x max_payload=%u",
             (unsigned)l->dev->cfg.vm_id, (unsigned)caps,
             (unsigned)max_payload);
    if (len > 0) {
        l->pending_len = 0;
        if (link_send(l, l->pending, len, "REQUEST") < 0) {
            return -1;
        }
        l->stats.requests_sent++;
    }
    if (link_has_queue(l)) {
        /* A mediator without the queue accepts one request at a time. */
        vgpu_dev_q_set_max_inflight(l->dev,
                                    (caps & VGPU_CAP_QUEUE) ? inflight : 1u);
        vgpu_dev_q_kick(l->dev); /* entries that waited for the handshake */
    }
    return l->state == VGPU_LINK_READY ? 0 : -1;
}

static void
link_count_stale(struct vgpu_link *l, const struct vgpu_hdr *h, int rc)
{
    if (rc == -ESTALE) {
        l->stats.stale++;
        link_log(l, VGPU_LOG_INFO,
                 "vm=%u req=%u: stale response dropped (the device abandoned "
                 "that request)",
                 (unsigned)l->dev->cfg.vm_id, (unsigned)h->request_id);
    }
}

static void
link_response(struct vgpu_link *l, const struct vgpu_frame *f)
{
    const struct vgpu_hdr *h = &f->hdr;
    uint32_t gen;
    int rc;

    l->stats.responses++;
    if (f->truncated) {
        /* Read and discarded by the decoder (SPEC.md section 7). */
        link_log(l, VGPU_LOG_WARN,
                 "vm=%u req=%u: response of %u bytes is over the %zu-byte "
                 "buffer: RESPONSE_TOO_LARGE",
                 (unsigned)l->dev->cfg.vm_id, (unsigned)h->request_id,
                 (unsigned)h->payload_len, l->rx_cap);
    }
    if (sent_take(l, h->request_id, &gen)) {
        /* A mailbox request sent on this connection. */
    } else if ((h->request_id & VGPU_Q_WIRE_ID_BIT) && link_has_queue(l)) {
        /* A queue entry's: the device checks its own wire id. */
        rc = vgpu_dev_q_complete(
            l->dev, h->request_id,
            f->truncated ? VGPU_ERR_RESPONSE_TOO_LARGE : h->status,
            f->truncated ? NULL : f->payload, h->payload_len);
        link_count_stale(l, h, rc);
        return;
    } else {
        /* Not a request sent on this connection: the device's request-id
         * check decides. */
        vgpu_dev_inflight(l->dev, &gen, NULL);
    }
    if (f->truncated) {
        rc = vgpu_dev_complete(l->dev, gen, h->request_id,
                               VGPU_ERR_RESPONSE_TOO_LARGE, NULL,
                               h->payload_len);
    } else {
        rc = vgpu_dev_complete(l->dev, gen, h->request_id, h->status,
                               f->payload, h->payload_len);
    }
    link_count_stale(l, h, rc);
}

/* An ERROR frame's reason, printable, in @msg. */
static void
link_error_reason(const struct vgpu_frame *f, char *msg, size_t cap)
{
    size_t len = f->payload != NULL ? f->hdr.payload_len : 0;

    if (len > cap - 1u) {
        len = cap - 1u;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = f->payload[i];

        msg[i] = (ch < ' ' || ch == '\177') ? '?' : (char)ch;
    }
    msg[len] = '\0';
    if (len == 0) {
        snprintf(msg, cap, "ERROR %s", vgpu_strerror((int)f->hdr.status));
    }
}

/* One whole frame. Return 0, or -1 when the connection was dropped. */
static int
link_frame(struct vgpu_link *l, const struct vgpu_frame *f)
{
    char msg[VGPU_LINK_MSG_MAX];
    char why[VGPU_LINK_MSG_MAX + 64u];
    uint8_t pong[VGPU_HDR_SIZE];
    struct vgpu_hdr h;

    switch (f->hdr.type) {
    case VGPU_MSG_HELLO_ACK:
        if (l->state == VGPU_LINK_HELLO) {
            return link_hello_ack(l, f);
        }
        snprintf(msg, sizeof(msg), "protocol error: a second HELLO_ACK");
        break;
    case VGPU_MSG_RESPONSE:
        if (l->state == VGPU_LINK_READY) {
            link_response(l, f);
            return 0;
        }
        snprintf(msg, sizeof(msg), "protocol error: RESPONSE before HELLO_ACK");
        break;
    case VGPU_MSG_ERROR:
        l->stats.errors++;
        link_error_reason(f, msg, sizeof(msg));
        snprintf(why, sizeof(why), "the mediator sent ERROR %s: %s",
                 vgpu_strerror((int)f->hdr.status), msg);
        return link_drop(l, VGPU_ERR_MEDIATOR_UNAVAILABLE, why, msg);
    case VGPU_MSG_PING:
        l->stats.pings++;
        link_hdr(l, &h, VGPU_MSG_PONG);
        h.request_id = f->hdr.request_id;
        vgpu_hdr_pack(&h, pong);
        return link_send(l, pong, sizeof(pong), "PONG");
    case VGPU_MSG_PONG:
        return 0;
    default:
        snprintf(msg, sizeof(msg),
                 "protocol error: unexpected frame type %u from the mediator",
                 (unsigned)f->hdr.type);
        break;
    }
    l->stats.protocol_errors++;
    return link_drop(l, VGPU_ERR_PROTOCOL_ERROR, msg, msg);
}

int
vgpu_link_input(struct vgpu_link *link, const uint8_t *data, size_t len)
{
    size_t pos = 0;

    if (link->state == VGPU_LINK_DOWN) {
        return 0; /* bytes after the end: nothing to read them for */
    }
    while (pos < len) {
        char msg[VGPU_LINK_MSG_MAX];
        struct vgpu_frame f;
        size_t used = 0;
        int rc =
            vgpu_decoder_feed(&link->dec, data + pos, len - pos, &used, &f);

        pos += used;
        if (rc < 0) {
            link->stats.protocol_errors++;
            snprintf(msg, sizeof(msg), "protocol error: %s", vgpu_strerror(rc));
            return link_drop(link, VGPU_ERR_PROTOCOL_ERROR, msg, msg);
        }
        if (rc == 0) {
            break;
        }
        if (link_frame(link, &f) < 0) {
            return -1;
        }
    }
    return 0;
}

void
vgpu_link_down(struct vgpu_link *link, uint32_t status, const char *why,
               const char *text)
{
    if (why != NULL) {
        link_keep_reason(link, why);
    }
    link_forget(link);
    link_fail_inflight(link, status, text);
}

int
vgpu_link_timeout(struct vgpu_link *link)
{
    link->pending_len = 0; /* not sent yet: never send it */
    if (!vgpu_dev_busy(link->dev)) {
        return 0;
    }
    vgpu_dev_timeout(link->dev);
    return 1;
}

void
vgpu_link_reset(struct vgpu_link *link)
{
    link_forget(link);
}

enum vgpu_link_state
vgpu_link_state(const struct vgpu_link *link)
{
    return link->state;
}

const char *
vgpu_link_reason(const struct vgpu_link *link)
{
    return link->reason;
}

void
vgpu_link_get_stats(const struct vgpu_link *link, struct vgpu_link_stats *out)
{
    *out = link->stats;
}
