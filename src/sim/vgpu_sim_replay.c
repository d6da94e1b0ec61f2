/*
 * vgpu-sim --replay PATH: a trace recorded by QEMU's vgpu-stub (trace=PATH,
 * docs/trace-format.md) replayed on a fresh device model, in one thread,
 * with no daemon.
 *
 * The trace is the device's whole world in order. Inputs (MMIO accesses,
 * bytes read from the socket, connection events, the request timer,
 * resets) are applied at the top level. Everything the model then does
 * must be the next event of the trace: a frame it sends (byte for byte), a
 * DMA write (address, length, bytes), the interrupt level, the link ending
 * the connection; and what it asks the world for (the clock, the bytes of a
 * DMA read) is answered from the trace. A register read that returns
 * another value than it did in QEMU, or an action the trace does not have
 * at that point, is a divergence: the first one is printed with the
 * event's number, byte offset and both values, and the replay stops.
 *
 * The adapter around the model mirrors QEMU's glue (src/qemu_glue): the
 * same link code, and the same few decisions the glue takes about its
 * socket, which the trace records (CONNECT, DEFER).
 *
 * --against-mediator sends the recorded requests to a real daemon instead,
 * one at a time on one connection opened with the recorded HELLO, and
 * compares each answer with the recorded one.
 *
 * Exit (every tool's rule: 0 done, 1 a runtime failure, 2 bad usage): 0
 * every event matched; 1 otherwise, with one line that says which: it
 * diverged (or an answer differed), the file cannot be read or is not a
 * trace (the byte offset is given), or the trace goes on past something
 * the replay cannot reproduce (a migration's LOAD; what came before it
 * matched). The RP_EXIT_* codes below keep those apart inside this file.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "vgpu/devmodel.h"
#include "vgpu/link.h"
#include "vgpu/proto.h"
#include "vgpu/trace.h"
#include "vgpu_sim_cli.h"

#define RP_EXIT_MATCH      0
#define RP_EXIT_DIVERGED   1
#define RP_EXIT_BAD_FILE   2
#define RP_EXIT_INCOMPLETE 3
#define RP_MSG_MAX         512
#define RP_TEXT_MAX        256
#define RP_NS_PER_MS       1e6
#define RP_READ_CHUNK      4096u

enum rp_conn { RP_DOWN, RP_CONNECTING, RP_OPEN };

struct replay {
    const char *path;
    uint8_t *buf; /* the whole file */
    size_t len;
    struct vgpu_trace_header hdr;
    size_t off;                   /* the next event to decode */
    size_t ev_off;                /* the current (last taken) event */
    unsigned long index;          /* its number, from 1 */
    struct vgpu_trace_event next; /* decoded lookahead */
    int have_next;
    int bad; /* a decode error at off */

    struct vgpu_dev dev;
    struct vgpu_link link;
    uint8_t *rx;
    uint8_t *qbuf;
    enum rp_conn conn;

    int diverged;
    char msg[RP_MSG_MAX + 64];
    uint64_t reads;
    uint64_t frames;
    uint64_t dma_bytes;
};

/* ---- The trace ---------------------------------------------------------- */

static int
rp_load(struct replay *r, const char *path)
{
    int rc = vgpu_trace_read_file(path, &r->buf, &r->len);

    r->path = path;
    if (rc < 0) {
        fprintf(stderr, PROG ": --replay %s: %s\n", path,
                rc == -EINVAL ? "not a regular file" : strerror(-rc));
        return -1;
    }
    return 0;
}

/* The next event, decoded but not taken; NULL at the end or at a decode
 * error (r->bad). */
static const struct vgpu_trace_event *
rp_peek(struct replay *r)
{
    size_t off = r->off;
    int rc;

    if (r->have_next) {
        return &r->next;
    }
    if (r->bad != 0) {
        return NULL;
    }
    rc = vgpu_trace_next(r->buf, r->len, &off, &r->next);
    if (rc < 0) {
        r->bad = rc;
        return NULL;
    }
    r->have_next = rc == 1;
    return r->have_next ? &r->next : NULL;
}

static const struct vgpu_trace_event *
rp_take(struct replay *r)
{
    const struct vgpu_trace_event *ev = rp_peek(r);

    if (ev != NULL) {
        r->ev_off = r->off;
        r->off += VGPU_TRACE_EV_SIZE + ev->len;
        r->index++;
        r->have_next = 0;
    }
    return ev;
}

static double
rp_ms(const struct replay *r, const struct vgpu_trace_event *ev)
{
    return (double)(ev->t - r->hdr.start_ns) / RP_NS_PER_MS;
}

static void __attribute__((format(printf, 2, 3)))
rp_diverge(struct replay *r, const char *fmt, ...)
{
    char what[RP_MSG_MAX];
    va_list ap;

    if (r->diverged) {
        return;
    }
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    snprintf(r->msg, sizeof(r->msg), "event %lu (byte offset %zu): %s",
             r->index + (r->have_next ? 1u : 0u),
             r->have_next ? r->off : r->ev_off, what);
    r->diverged = 1;
}

static const char *
rp_name(unsigned type)
{
    const char *n = vgpu_trace_type_name(type);

    return n != NULL ? n : "?";
}

/* The model did @type: take that event from the trace, or diverge. */
static const struct vgpu_trace_event *
rp_expect(struct replay *r, unsigned type)
{
    const struct vgpu_trace_event *ev;

    if (r->diverged) {
        return NULL;
    }
    ev = rp_peek(r);
    if (ev == NULL || ev->type != type) {
        rp_diverge(r, "the model did %s; QEMU's device did %s here",
                   rp_name(type),
                   ev != NULL ? rp_name(ev->type) : "nothing more");
        return NULL;
    }
    return rp_take(r);
}

/* Compare @len bytes the model produced with the event's payload. */
static int
rp_same_bytes(struct replay *r, const struct vgpu_trace_event *ev,
              const uint8_t *got, size_t len, const char *what)
{
    size_t n = len < ev->len ? len : ev->len;

    for (size_t i = 0; i < n; i++) {
        if (got[i] != ev->payload[i]) {
            rp_diverge(r,
                       "%s byte %zu: the model has 0x%02x, QEMU's device had "
                       "0x%02x",
                       what, i, got[i], ev->payload[i]);
            return 0;
        }
    }
    if (len != ev->len) {
        rp_diverge(r, "%s: the model has %zu bytes, QEMU's device had %u", what,
                   len, (unsigned)ev->len);
        return 0;
    }
    return 1;
}

static void
rp_text(const struct vgpu_trace_event *ev, char *out)
{
    size_t n = ev->len < RP_TEXT_MAX - 1u ? ev->len : RP_TEXT_MAX - 1u;

    if (n > 0) {
        memcpy(out, ev->payload, n);
    }
    out[n] = '\0';
}

/* ---- The adapter: QEMU's glue, mirrored --------------------------------- */

static void
rp_conn_up(struct replay *r)
{
    r->conn = RP_OPEN;
    vgpu_link_up(&r->link);
}

/* The glue opened a connection: a connect that succeeds at once has its
 * CONN_UP (and HELLO) before the CONNECT that reports it. */
static int
rp_connect(struct replay *r)
{
    const struct vgpu_trace_event *ev = rp_peek(r);
    int rc;

    if (ev != NULL && ev->type == VGPU_TRACE_CONN_UP) {
        rp_take(r);
        rp_conn_up(r);
    }
    ev = rp_expect(r, VGPU_TRACE_CONNECT);
    if (ev == NULL) {
        return -EIO;
    }
    rc = (int)(int64_t)ev->b;
    if (rc < 0) {
        r->conn = RP_DOWN;
    } else if (r->conn != RP_OPEN) {
        r->conn = RP_CONNECTING;
    }
    return rc;
}

static int
rp_submit(void *opaque, const struct vgpu_request *req)
{
    struct replay *r = opaque;
    const struct vgpu_trace_event *ev = rp_peek(r);
    int rc;

    if (req->queued) {
        if (ev != NULL && ev->type == VGPU_TRACE_DEFER) {
            rp_take(r); /* the glue's output was full */
            return -EAGAIN;
        }
        rc = vgpu_link_request(&r->link, req);
        if (rc == -EAGAIN) {
            if (r->conn == RP_DOWN && rp_connect(r) < 0) {
                return (int)VGPU_ERR_MEDIATOR_UNAVAILABLE;
            }
            return -EAGAIN;
        }
        return rc < 0 ? (int)VGPU_ERR_INVALID_LENGTH : rc;
    }
    if (vgpu_link_request(&r->link, req) < 0) {
        return (int)VGPU_ERR_INVALID_LENGTH;
    }
    if (r->conn == RP_DOWN && rp_connect(r) < 0) {
        vgpu_link_down(&r->link, VGPU_ERR_MEDIATOR_UNAVAILABLE, NULL, NULL);
        return (int)VGPU_ERR_MEDIATOR_UNAVAILABLE;
    }
    return 0;
}

static void
rp_set_irq(void *opaque, int level)
{
    struct replay *r = opaque;
    const struct vgpu_trace_event *ev = rp_expect(r, VGPU_TRACE_IRQ);

    if (ev != NULL && ev->size != (uint8_t)level) {
        rp_diverge(r, "interrupt level: the model set %d, QEMU's device %u",
                   level, (unsigned)ev->size);
    }
}

static uint64_t
rp_now_ns(void *opaque)
{
    const struct vgpu_trace_event *ev = rp_expect(opaque, VGPU_TRACE_CLOCK);

    return ev != NULL ? ev->a : 0;
}

/* The DMA the model asks for: the same address and length as in QEMU. */
static const struct vgpu_trace_event *
rp_dma(struct replay *r, unsigned type, uint64_t addr, size_t len)
{
    const struct vgpu_trace_event *ev = rp_expect(r, type);

    if (ev != NULL &&
        (ev->a != addr || VGPU_TRACE_DMA_LEN(ev->b) != (uint32_t)len)) {
        rp_diverge(r,
                   "%s: the model wants 0x%llx + %zu, QEMU's device did "
                   "0x%llx + %u",
                   rp_name(type), (unsigned long long)addr, len,
                   (unsigned long long)ev->a,
                   (unsigned)VGPU_TRACE_DMA_LEN(ev->b));
        return NULL;
    }
    return ev;
}

static int
rp_dma_read(void *opaque, uint64_t addr, void *buf, size_t len)
{
    struct replay *r = opaque;
    const struct vgpu_trace_event *ev =
        rp_dma(r, VGPU_TRACE_DMA_READ, addr, len);
    int rc;

    if (ev == NULL) {
        return -EFAULT;
    }
    rc = VGPU_TRACE_DMA_RC(ev->b);
    if (rc == 0) {
        if (ev->len != len) {
            rp_diverge(r, "DMA_READ carries %u bytes for %zu",
                       (unsigned)ev->len, len);
            return -EFAULT;
        }
        memcpy(buf, ev->payload, len);
        r->dma_bytes += len;
    }
    return rc;
}

static int
rp_dma_write(void *opaque, uint64_t addr, const void *buf, size_t len)
{
    struct replay *r = opaque;
    const struct vgpu_trace_event *ev =
        rp_dma(r, VGPU_TRACE_DMA_WRITE, addr, len);

    if (ev == NULL || !rp_same_bytes(r, ev, buf, len, "DMA_WRITE")) {
        return -EFAULT;
    }
    r->dma_bytes += len;
    return VGPU_TRACE_DMA_RC(ev->b);
}

static uint8_t *
rp_q_buffer(void *opaque, size_t len)
{
    struct replay *r = opaque;

    return len <= VGPU_Q_MAX_XFER ? r->qbuf : NULL;
}

static const struct vgpu_dev_ops rp_dev_ops = {
    .submit = rp_submit,
    .set_irq = rp_set_irq,
    .now_ns = rp_now_ns,
    .dma_read = rp_dma_read,
    .dma_write = rp_dma_write,
    .q_buffer = rp_q_buffer,
};

static int
rp_send(void *opaque, const uint8_t *frame, size_t len)
{
    struct replay *r = opaque;
    const struct vgpu_trace_event *ev = rp_expect(r, VGPU_TRACE_FRAME_OUT);

    if (ev == NULL || !rp_same_bytes(r, ev, frame, len, "frame sent")) {
        return 0; /* diverged: the replay stops at the top level */
    }
    r->frames++;
    return (int)(int64_t)ev->b;
}

static void
rp_lost(void *opaque, const char *why)
{
    struct replay *r = opaque;
    const struct vgpu_trace_event *ev = rp_expect(r, VGPU_TRACE_LINK_LOST);
    char text[RP_TEXT_MAX];

    r->conn = RP_DOWN;
    if (ev == NULL) {
        return;
    }
    rp_text(ev, text);
    if (strcmp(text, why) != 0) {
        rp_diverge(r,
                   "the link ended the connection with '%s'; QEMU's with "
                   "'%s'",
                   why, text);
    }
}

static const struct vgpu_link_ops rp_link_ops = {
    .send = rp_send,
    .lost = rp_lost,
};

/* ---- The replay --------------------------------------------------------- */

/* Apply one input event. Return 0, or RP_EXIT_INCOMPLETE. */
static int
rp_apply(struct replay *r, const struct vgpu_trace_event *ev)
{
    char text[RP_TEXT_MAX];
    uint64_t v;

    switch (ev->type) {
    case VGPU_TRACE_MMIO_WRITE:
        vgpu_dev_mmio_write(&r->dev, ev->a, ev->b, ev->size);
        break;
    case VGPU_TRACE_MMIO_READ:
        v = vgpu_dev_mmio_read(&r->dev, ev->a, ev->size);
        r->reads++;
        if (v != ev->b) {
            const char *reg = vgpu_reg_name((uint32_t)ev->a);

            rp_diverge(r,
                       "read of %s (offset 0x%llx, %u bytes) at +%.3f ms: the "
                       "model returns 0x%llx, QEMU returned 0x%llx",
                       reg != NULL ? reg : "BAR0", (unsigned long long)ev->a,
                       (unsigned)ev->size, rp_ms(r, ev), (unsigned long long)v,
                       (unsigned long long)ev->b);
        }
        break;
    case VGPU_TRACE_FRAME_IN:
        (void)vgpu_link_input(&r->link, ev->payload, ev->len);
        break;
    case VGPU_TRACE_CONN_UP:
        rp_conn_up(r);
        break;
    case VGPU_TRACE_CONNECT:
        r->conn = (int64_t)ev->b < 0 ? RP_DOWN : RP_CONNECTING;
        break;
    case VGPU_TRACE_LOST:
        rp_text(ev, text);
        r->conn = RP_DOWN;
        vgpu_link_down(&r->link, (uint32_t)ev->b, text, NULL);
        break;
    case VGPU_TRACE_TIMEOUT:
        (void)vgpu_link_timeout(&r->link);
        break;
    case VGPU_TRACE_KICK:
        vgpu_dev_q_kick(&r->dev);
        break;
    case VGPU_TRACE_RESET:
        vgpu_dev_reset(&r->dev);
        vgpu_link_reset(&r->link);
        r->conn = RP_DOWN;
        break;
    case VGPU_TRACE_LOAD:
        return RP_EXIT_INCOMPLETE;
    default:
        rp_diverge(r, "QEMU's device did %s here; the model did nothing",
                   rp_name(ev->type));
        break;
    }
    return 0;
}

static int
rp_open(struct replay *r, const char *path)
{
    int rc;

    memset(r, 0, sizeof(*r));
    if (rp_load(r, path) < 0) {
        return RP_EXIT_BAD_FILE;
    }
    rc = vgpu_trace_header_parse(r->buf, r->len, &r->hdr);
    if (rc < 0) {
        fprintf(stderr, PROG ": --replay %s: byte offset 0: %s\n", path,
                vgpu_trace_strerror(rc));
        return RP_EXIT_BAD_FILE;
    }
    r->off = VGPU_TRACE_HDR_SIZE;
    r->ev_off = r->off;
    return 0;
}

static int
rp_run(struct replay *r)
{
    const struct vgpu_trace_event *ev;
    struct vgpu_dev_config cfg = {
        .pool_id = r->hdr.pool_id,
        .priority = r->hdr.priority,
        .vm_id = r->hdr.vm_id,
    };
    struct vgpu_dev_ops ops = rp_dev_ops;
    int rc = 0;

    if (!(r->hdr.flags & VGPU_TRACE_F_QUEUE)) {
        ops.dma_read = NULL;
        ops.dma_write = NULL;
        ops.q_buffer = NULL;
    }
    r->rx = malloc(VGPU_Q_MAX_XFER);
    r->qbuf = malloc(VGPU_Q_MAX_XFER);
    if (r->rx == NULL || r->qbuf == NULL ||
        vgpu_dev_init(&r->dev, &cfg, &ops, r) != 0 ||
        vgpu_link_init(&r->link, &r->dev, &rp_link_ops, r) != 0) {
        fprintf(stderr, PROG ": --replay %s: cannot set up the device\n",
                r->path);
        return RP_EXIT_BAD_FILE;
    }
    if (ops.q_buffer != NULL) {
        vgpu_link_set_rx(&r->link, r->rx, VGPU_Q_MAX_XFER);
    }
    while (!r->diverged && rc == 0 && (ev = rp_take(r)) != NULL) {
        rc = rp_apply(r, ev);
    }
    if (r->bad != 0) {
        fprintf(stderr,
                PROG ": --replay %s: byte offset %zu (after event %lu): "
                     "%s\n",
                r->path, r->off, r->index, vgpu_trace_strerror(r->bad));
        return RP_EXIT_BAD_FILE;
    }
    if (r->diverged) {
        printf("replay: DIVERGED at %s\n", r->msg);
        return RP_EXIT_DIVERGED;
    }
    printf("replay: %s: vm_id %u pool %c, %lu events matched (%llu register "
           "reads, %llu frames, %llu DMA bytes)%s\n",
           r->path, (unsigned)r->hdr.vm_id, r->hdr.pool_id, r->index,
           (unsigned long long)r->reads, (unsigned long long)r->frames,
           (unsigned long long)r->dma_bytes,
           rc == RP_EXIT_INCOMPLETE
               ? "; stopped at a migration's LOAD (the state it loaded is "
                 "not in the trace)"
               : "");
    return rc;
}

/* ---- Against a real daemon ---------------------------------------------- */

/* One direction of the trace's traffic, decoded frame by frame. */
struct rp_stream {
    struct vgpu_decoder dec;
    uint8_t *buf;
};

/* The recorded answer to @request_id in the input stream, from offset
 * @from: its status and payload copied into @payload. Return 1 if found. */
static int
rp_find_answer(struct replay *r, uint32_t request_id, uint32_t *status,
               uint8_t *payload, uint32_t *len)
{
    struct vgpu_trace_event ev;
    struct rp_stream in;
    size_t off = VGPU_TRACE_HDR_SIZE;
    int found = 0;

    in.buf = malloc(VGPU_Q_MAX_XFER);
    if (in.buf == NULL) {
        return 0;
    }
    vgpu_decoder_init(&in.dec, in.buf, VGPU_Q_MAX_XFER, VGPU_MAX_PAYLOAD);
    while (!found && vgpu_trace_next(r->buf, r->len, &off, &ev) == 1) {
        size_t pos = 0;

        if (ev.type == VGPU_TRACE_CONN_UP || ev.type == VGPU_TRACE_RESET) {
            vgpu_decoder_init(&in.dec, in.buf, VGPU_Q_MAX_XFER,
                              VGPU_MAX_PAYLOAD);
        }
        while (ev.type == VGPU_TRACE_FRAME_IN && pos < ev.len && !found) {
            struct vgpu_frame f;
            size_t used = 0;
            int rc = vgpu_decoder_feed(&in.dec, ev.payload + pos, ev.len - pos,
                                       &used, &f);

            pos += used;
            if (rc <= 0) {
                break;
            }
            if (f.hdr.type == VGPU_MSG_RESPONSE &&
                f.hdr.request_id == request_id && !f.truncated) {
                *status = f.hdr.status;
                *len = f.hdr.payload_len;
                if (*len > 0) {
                    memcpy(payload, f.payload, *len);
                }
                found = 1;
            }
        }
    }
    free(in.buf);
    return found;
}

static int
rp_sock_open(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int fd;

    if (strlen(path) >= sizeof(sa.sun_path)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(sa.sun_path, path, strlen(path) + 1);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        close(fd);
        fd = -1;
    }
    return fd;
}

/* Read one frame from @fd into @f (payload in @buf). Return 0 or -1. */
static int
rp_sock_frame(int fd, struct vgpu_decoder *dec, uint8_t *pending, size_t *plen,
              struct vgpu_frame *f)
{
    for (;;) {
        size_t used = 0;
        int rc =
            *plen > 0 ? vgpu_decoder_feed(dec, pending, *plen, &used, f) : 0;

        memmove(pending, pending + used, *plen - used);
        *plen -= used;
        if (rc < 0) {
            return -1;
        }
        if (rc > 0) {
            return 0;
        }
        {
            ssize_t n = read(fd, pending + *plen, RP_READ_CHUNK);

            if (n <= 0) {
                return -1;
            }
            *plen += (size_t)n;
        }
    }
}

/* Every recorded REQUEST (and the first HELLO) in the output stream, sent
 * to the daemon at @socket one at a time; each answer compared with the
 * recorded one. */
static int
rp_against(struct replay *r, const char *socket_path)
{
    uint8_t *out_buf = malloc(VGPU_Q_MAX_XFER);
    uint8_t *ans = malloc(VGPU_Q_MAX_XFER);
    uint8_t *rbuf = malloc(VGPU_Q_MAX_XFER);
    uint8_t *frame = malloc(VGPU_HDR_SIZE + VGPU_Q_MAX_XFER);
    uint8_t pending[2u * RP_READ_CHUNK];
    struct vgpu_decoder out_dec;
    struct vgpu_decoder in_dec;
    struct vgpu_trace_event ev;
    size_t off = VGPU_TRACE_HDR_SIZE;
    size_t plen = 0;
    unsigned long sent = 0;
    unsigned long same = 0;
    unsigned long differ = 0;
    unsigned long unanswered = 0;
    int fd = -1;
    int hello = 0;

    if (out_buf == NULL || ans == NULL || rbuf == NULL || frame == NULL) {
        fprintf(stderr, PROG ": out of memory\n");
        return RP_EXIT_BAD_FILE;
    }
    fd = rp_sock_open(socket_path);
    if (fd < 0) {
        fprintf(stderr, PROG ": --against-mediator: cannot connect to %s: %s\n",
                socket_path, strerror(errno));
        return RP_EXIT_DIVERGED;
    }
    vgpu_decoder_init(&out_dec, out_buf, VGPU_Q_MAX_XFER, VGPU_MAX_PAYLOAD);
    vgpu_decoder_init(&in_dec, rbuf, VGPU_Q_MAX_XFER, VGPU_MAX_PAYLOAD);
    while (vgpu_trace_next(r->buf, r->len, &off, &ev) == 1) {
        size_t pos = 0;

        if (ev.type == VGPU_TRACE_CONN_UP || ev.type == VGPU_TRACE_RESET) {
            vgpu_decoder_init(&out_dec, out_buf, VGPU_Q_MAX_XFER,
                              VGPU_MAX_PAYLOAD);
        }
        while (ev.type == VGPU_TRACE_FRAME_OUT && pos < ev.len) {
            struct vgpu_frame f;
            struct vgpu_frame a;
            size_t used = 0;
            uint32_t st = 0;
            uint32_t alen = 0;
            int rc = vgpu_decoder_feed(&out_dec, ev.payload + pos, ev.len - pos,
                                       &used, &f);
            int n;

            pos += used;
            if (rc <= 0) {
                break;
            }
            if (f.hdr.type == VGPU_MSG_HELLO && hello) {
                continue; /* one connection to the daemon */
            }
            if (f.hdr.type != VGPU_MSG_HELLO &&
                f.hdr.type != VGPU_MSG_REQUEST) {
                continue;
            }
            n = vgpu_frame_encode(&f.hdr, f.payload, f.hdr.payload_len, frame,
                                  VGPU_HDR_SIZE + VGPU_Q_MAX_XFER);
            if (n < 0 || send(fd, frame, (size_t)n, MSG_NOSIGNAL) != n ||
                rp_sock_frame(fd, &in_dec, pending, &plen, &a) < 0) {
                fprintf(stderr,
                        PROG ": --against-mediator: the daemon at %s went "
                             "away after %lu requests\n",
                        socket_path, sent);
                close(fd);
                return RP_EXIT_DIVERGED;
            }
            if (f.hdr.type == VGPU_MSG_HELLO) {
                hello = 1;
                if (a.hdr.type != VGPU_MSG_HELLO_ACK) {
                    fprintf(stderr,
                            PROG ": --against-mediator: HELLO refused "
                                 "(frame type %u)\n",
                            (unsigned)a.hdr.type);
                    close(fd);
                    return RP_EXIT_DIVERGED;
                }
                continue;
            }
            sent++;
            if (!rp_find_answer(r, f.hdr.request_id, &st, ans, &alen)) {
                unanswered++; /* QEMU's device never got one */
            } else if (a.hdr.status == st && a.hdr.payload_len == alen &&
                       (alen == 0 || memcmp(a.payload, ans, alen) == 0)) {
                same++;
            } else {
                differ++;
                printf("replay: request 0x%x: the daemon answers status %u "
                       "with %u bytes; QEMU's device got status %u with %u "
                       "bytes\n",
                       (unsigned)f.hdr.request_id, (unsigned)a.hdr.status,
                       (unsigned)a.hdr.payload_len, (unsigned)st,
                       (unsigned)alen);
            }
        }
    }
    close(fd);
    free(out_buf);
    free(ans);
    free(rbuf);
    free(frame);
    printf("replay: against %s: %lu requests sent, %lu answers the same, %lu "
           "different, %lu not answered in the trace\n",
           socket_path, sent, same, differ, unanswered);
    return differ == 0 ? RP_EXIT_MATCH : RP_EXIT_DIVERGED;
}

int
sim_replay(const char *path, const char *against_socket)
{
    struct replay r;
    int rc = rp_open(&r, path);

    if (rc == 0) {
        rc = against_socket != NULL ? rp_against(&r, against_socket)
                                    : rp_run(&r);
    }
    free(r.buf);
    free(r.rx);
    free(r.qbuf);
    return rc == RP_EXIT_MATCH ? 0 : 1;
}
