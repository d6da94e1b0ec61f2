/*
 * Fuzz the mediator core (vgpu/mediator.h) through its transport interface:
 * one mediator with the CPU backend and FZ_CONNS device connections with a
 * fake transport. The input is a program: raw bytes for a connection (any
 * split), well-formed HELLO, REQUEST and PING frames built from input bytes
 * (so the fuzzer gets past the handshake quickly; HELLOs offer the queue or
 * not, and requests may be up to 1 MiB), dispatch with a budget, with a
 * small in-flight count and memory cap so that both are reached,
 * a transport that closes and reopens a connection, reaps the ones the core
 * gave up on, fails a send (a full output buffer), and shutdown.
 *
 * Checks: the core never sends on a connection after it called ops->close
 * for it or after an ERROR frame, nor on one the transport closed; every
 * send is whole, valid frames of a type the mediator may send, with a
 * payload of at most VGPU_BUF_SIZE (VGPU_MAX_PAYLOAD once a HELLO offering
 * the queue got the 12-byte HELLO_ACK, which only such a HELLO gets); a
 * failed send ends in ops->close;
 * conn_input's return says whether the connection is closing; log lines are
 * one line; nothing is pending, and no request byte held, once every
 * connection is closed; and
 * LeakSanitizer finds nothing once everything is destroyed.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "vgpu/backend.h"
#include "vgpu/mediator.h"
#include "vgpu/proto.h"

#define FZ_CONNS        3u
#define FZ_MAX_STEPS    1024u
#define FZ_MAX_RAW      2048u
#define FZ_TICK_NS      1000u
#define FZ_VM_IDS       6u /* vm_ids 1..6: duplicates are likely */
/* The admit callback refuses vm_ids that are multiples of this. */
#define FZ_ADMIT_REFUSE 5u

enum fz_step {
    STEP_RAW,
    STEP_HELLO,
    STEP_REQUEST,
    STEP_REQUEST2, /* requests are the common case */
    STEP_PING,
    STEP_DISPATCH,
    STEP_CLOSE,
    STEP_REOPEN,
    STEP_REAP,
    STEP_FAIL_SEND,
    STEP_SHUTDOWN,
    STEP_STATS,
    STEP_COUNT
};

struct fz;

struct fz_conn {
    struct fz *f;
    struct vgpu_mconn *mc; /* NULL: not open */
    bool closing;          /* the core called ops->close */
    bool error_sent;       /* an ERROR frame went out */
    bool fail_send;        /* fail the next send */
    bool send_failed;      /* a send was failed */
    uint32_t vm_id;        /* as greeted by STEP_HELLO (0: not yet) */
    uint8_t pool;
    uint8_t priority;
    uint32_t next_request_id;
    bool offered_queue;      /* the last HELLO offered VGPU_CAP_QUEUE */
    bool queue;              /* a 12-byte HELLO_ACK came back */
    bool raw_seen;           /* raw bytes went in: any HELLO may be there */
    struct vgpu_decoder dec; /* what the device would read */
    uint8_t dec_buf[VGPU_BUF_SIZE]; /* a larger answer is checked, not kept */
};

struct fz {
    struct fuzz_cursor cur;
    struct vgpu_mediator *m;
    uint64_t now;
    struct fz_conn conns[FZ_CONNS];
};

/* ---- The fake transport -------------------------------------------------- */

static int
fz_send(void *conn_opaque, const uint8_t *bytes, size_t len)
{
    struct fz_conn *c = conn_opaque;
    size_t pos = 0;

    FUZZ_CHECK(c->mc != NULL);   /* not after the transport closed it */
    FUZZ_CHECK(!c->closing);     /* not after ops->close */
    FUZZ_CHECK(!c->error_sent);  /* ERROR is the last frame */
    FUZZ_CHECK(!c->send_failed); /* a failed send closes */
    FUZZ_CHECK(bytes != NULL && len >= VGPU_HDR_SIZE);
    if (c->fail_send) {
        c->fail_send = false;
        c->send_failed = true;
        return -ENOBUFS;
    }
    /* Whole, valid frames, of the types a mediator sends. */
    while (pos < len) {
        struct vgpu_frame fr;
        size_t used = 0;
        int rc = vgpu_decoder_feed(&c->dec, bytes + pos, len - pos, &used, &fr);

        FUZZ_CHECK(rc >= 0);
        pos += used;
        if (rc == 0) {
            break;
        }
        /* Only a queue connection's answers may pass the 1 KiB kept. */
        FUZZ_CHECK(!fr.truncated || c->queue);
        if (fr.hdr.type == VGPU_MSG_HELLO_ACK) {
            uint32_t caps = 0, max = 0, inflight = 0;

            FUZZ_CHECK(vgpu_hello_ack_unpack_queue(fr.payload,
                                                   fr.hdr.payload_len, &caps,
                                                   &max, &inflight) == 0);
            c->queue = fr.hdr.payload_len == VGPU_HELLO_ACK_QUEUE_PAYLOAD_SIZE;
            /* 12 bytes exactly when the HELLO offered the queue. */
            FUZZ_CHECK(c->raw_seen || c->queue == c->offered_queue);
            FUZZ_CHECK(c->queue ? max == VGPU_MAX_PAYLOAD && inflight >= 1 &&
                                      (caps & VGPU_CAP_QUEUE) != 0
                                : max == VGPU_BUF_SIZE && inflight == 1 &&
                                      (caps & VGPU_CAP_QUEUE) == 0);
        }
        FUZZ_CHECK(fr.hdr.payload_len <=
                   (c->queue ? VGPU_MAX_PAYLOAD : VGPU_BUF_SIZE));
        FUZZ_CHECK(fr.hdr.type == VGPU_MSG_HELLO_ACK ||
                   fr.hdr.type == VGPU_MSG_RESPONSE ||
                   fr.hdr.type == VGPU_MSG_ERROR ||
                   fr.hdr.type == VGPU_MSG_PONG);
        FUZZ_CHECK(fr.hdr.status < VGPU_ERR_COUNT);
        FUZZ_CHECK(!c->error_sent);
        if (fr.hdr.type == VGPU_MSG_ERROR) {
            c->error_sent = true;
        }
    }
    FUZZ_CHECK(pos == len);
    FUZZ_CHECK(vgpu_decoder_finish(&c->dec) == 0);
    return 0;
}

static void
fz_close(void *conn_opaque)
{
    struct fz_conn *c = conn_opaque;

    FUZZ_CHECK(c->mc != NULL);
    FUZZ_CHECK(!c->closing); /* once */
    c->closing = true;
}

static uint64_t
fz_now_ns(void *opaque)
{
    struct fz *f = opaque;

    f->now += FZ_TICK_NS;
    return f->now;
}

static void
fz_log(void *opaque, int level, const char *line)
{
    (void)opaque;
    FUZZ_CHECK(level >= VGPU_LOG_ERROR && level <= VGPU_LOG_DEBUG);
    FUZZ_CHECK(line != NULL && line[0] != '\0');
    FUZZ_CHECK(strchr(line, '\n') == NULL);
}

static int
fz_admit(void *opaque, uint32_t vm_id, uint8_t pool, uint8_t priority,
         char *why, size_t why_len)
{
    (void)opaque;
    FUZZ_CHECK(pool >= VGPU_POOL_FIRST && pool <= VGPU_POOL_LAST);
    FUZZ_CHECK(priority <= VGPU_PRIO_HIGH);
    if (vm_id % FZ_ADMIT_REFUSE == 0) {
        snprintf(why, why_len, "vm %u is not in the registry", (unsigned)vm_id);
        return VGPU_ERR_REJECTED;
    }
    return 0;
}

static const struct vgpu_mediator_ops fz_ops_full = {
    .send = fz_send,
    .close = fz_close,
    .now_ns = fz_now_ns,
    .log = fz_log,
    .admit = fz_admit,
};

static const struct vgpu_mediator_ops fz_ops_bare = {
    .send = fz_send,
    .close = fz_close,
    .now_ns = fz_now_ns,
};

/* ---- Connections --------------------------------------------------------- */

static void
fz_conn_open(struct fz *f, struct fz_conn *c)
{
    c->f = f;
    c->closing = false;
    c->error_sent = false;
    c->fail_send = false;
    c->send_failed = false;
    c->vm_id = 0;
    c->next_request_id = 1;
    c->offered_queue = false;
    c->queue = false;
    c->raw_seen = false;
    vgpu_decoder_init(&c->dec, c->dec_buf, sizeof(c->dec_buf),
                      VGPU_MAX_PAYLOAD);
    c->mc = vgpu_mediator_conn_open(f->m, c);
    FUZZ_CHECK(c->mc != NULL);
}

static void
fz_conn_close(struct fz_conn *c)
{
    if (c->mc != NULL) {
        vgpu_mediator_conn_close(c->mc);
        c->mc = NULL;
    }
}

/* Feed @len bytes to @c in up to two pieces, as a socket might split them. */
static void
fz_feed(struct fz *f, struct fz_conn *c, const uint8_t *bytes, size_t len)
{
    size_t split = len == 0 ? 0 : fuzz_u16(&f->cur) % (len + 1u);
    bool was_closing = c->closing;
    int rc;

    if (c->mc == NULL) {
        return;
    }
    rc = vgpu_mediator_conn_input(c->mc, bytes, split);
    if (rc == 0) {
        rc = vgpu_mediator_conn_input(c->mc, bytes + split, len - split);
    }
    FUZZ_CHECK((rc < 0) == c->closing);
    FUZZ_CHECK(!was_closing || rc < 0);
}

static struct fz_conn *
fz_pick(struct fz *f)
{
    return &f->conns[fuzz_u8(&f->cur) % FZ_CONNS];
}

/* A frame of @type for @c with @len payload bytes, fed to the core. */
static void
fz_feed_frame(struct fz *f, struct fz_conn *c, struct vgpu_hdr *h,
              const uint8_t *payload, size_t len)
{
    size_t cap = VGPU_HDR_SIZE + len;
    uint8_t *wire = malloc(cap);
    int n;

    FUZZ_CHECK(wire != NULL);
    if (len > VGPU_MAX_PAYLOAD) {
        /* One over the frame limit: packed by hand, for the core to
         * refuse (vgpu_frame_encode() will not write it). */
        h->payload_len = (uint32_t)len;
        vgpu_hdr_pack(h, wire);
        memcpy(wire + VGPU_HDR_SIZE, payload, len);
    } else {
        n = vgpu_frame_encode(h, payload, len, wire, cap);
        FUZZ_CHECK(n == (int)cap);
    }
    fz_feed(f, c, wire, cap);
    free(wire);
}

static void
fz_step_hello(struct fz *f, struct fz_conn *c)
{
    uint8_t payload[VGPU_HELLO_PAYLOAD_SIZE];
    struct vgpu_hdr h;
    uint8_t b = fuzz_u8(&f->cur);
    uint32_t version = VGPU_PROTOCOL_VERSION;
    uint32_t caps;

    vgpu_hdr_init(&h, VGPU_MSG_HELLO);
    h.vm_id = 1u + fuzz_u8(&f->cur) % FZ_VM_IDS;
    h.pool_id = (uint8_t)(VGPU_POOL_FIRST + fuzz_u8(&f->cur) % 3u);
    h.priority = (uint8_t)(fuzz_u8(&f->cur) % VGPU_PRIO_COUNT);
    if (b == 0xffu) {
        /* Something a device should not claim. */
        h.vm_id = fuzz_u32(&f->cur);
        h.pool_id = fuzz_u8(&f->cur);
        h.priority = fuzz_u8(&f->cur);
        version = fuzz_u32(&f->cur);
    }
    caps = fuzz_u32(&f->cur);
    vgpu_hello_pack(payload, version, caps);
    if (c->mc != NULL && !c->closing && !c->queue && c->vm_id == 0) {
        /* The first HELLO on this connection decides its HELLO_ACK. */
        c->offered_queue = (caps & VGPU_CAP_QUEUE) != 0;
    }
    c->vm_id = h.vm_id;
    c->pool = h.pool_id;
    c->priority = h.priority;
    fz_feed_frame(f, c, &h, payload, sizeof(payload));
}

/* The op header of a request: op, n, and MATMUL_F32's k and p. */
static void
fz_put_op(uint8_t *req, uint32_t op, uint32_t n, uint32_t k, uint32_t p)
{
    vgpu_put_le32(req, op);
    vgpu_put_le32(req + sizeof(uint32_t), n);
    if (op == VGPU_OP_MATMUL_F32) {
        vgpu_put_le32(req + 2 * sizeof(uint32_t), k);
        vgpu_put_le32(req + 3 * sizeof(uint32_t), p);
    }
}

/* A request's bytes: a well-formed op with operands from the input, or any
 * bytes. Returns a heap block of *len bytes. */
static uint8_t *
fz_request_bytes(struct fz *f, size_t *len)
{
    static const uint32_t ops[] = {
        VGPU_OP_NOP,       VGPU_OP_ECHO,    VGPU_OP_ADD_I32,    VGPU_OP_ADD_F32,
        VGPU_OP_SAXPY_F32, VGPU_OP_DOT_F32, VGPU_OP_MATMUL_F32,
    };
    uint8_t b = fuzz_u8(&f->cur);
    uint32_t op = ops[b % (sizeof(ops) / sizeof(ops[0]))];
    uint32_t n = fuzz_u8(&f->cur) % 16u;
    uint32_t k = fuzz_u8(&f->cur) % 8u;
    uint32_t p = fuzz_u8(&f->cur) % 8u;
    size_t hdr =
        op == VGPU_OP_MATMUL_F32 ? VGPU_MATMUL_HDR_SIZE : VGPU_OP_HDR_SIZE;
    uint8_t *req;
    const uint8_t *src;
    size_t got;

    if (b >= 0xe8u && b < 0xf0u) {
        /* Large: up to one over the queue's 1 MiB, mostly zeros (valid
         * requests when the length fits the op), from the input's bytes. */
        uint32_t big = fuzz_u32(&f->cur);

        n = big % (VGPU_MAX_PAYLOAD / 4u);
        k = (big >> 20) % 512u;
        p = (big >> 8) % 512u;
        *len = op == VGPU_OP_NOP ? (size_t)(big % (VGPU_MAX_PAYLOAD + 2u))
                                 : (size_t)vgpu_op_request_len(op, n, k, p);
        if (*len > VGPU_MAX_PAYLOAD + 1u) {
            *len = VGPU_MAX_PAYLOAD + 1u;
        }
        req = calloc(1, *len < hdr ? hdr : *len);
        FUZZ_CHECK(req != NULL);
        fz_put_op(req, op, n, k, p);
        if (*len > hdr) {
            src = fuzz_bytes(&f->cur, fuzz_u8(&f->cur), &got);
            memcpy(req + hdr, src, got < *len - hdr ? got : *len - hdr);
        }
        return req;
    }
    if (b >= 0xf0u) {
        /* Any bytes at all, up to one over the buffer. */
        *len = fuzz_u16(&f->cur) % (VGPU_BUF_SIZE + 2u);
        req = malloc(*len == 0 ? 1 : *len);
        FUZZ_CHECK(req != NULL);
        src = fuzz_bytes(&f->cur, *len, &got);
        memcpy(req, src, got);
        memset(req + got, 0, *len - got);
        return req;
    }
    if (op == VGPU_OP_NOP) {
        n = 0;
    }
    *len = (size_t)vgpu_op_request_len(op, n, k, p);
    req = calloc(1, *len);
    FUZZ_CHECK(req != NULL);
    fz_put_op(req, op, n, k, p);
    src = fuzz_bytes(&f->cur, *len - hdr, &got);
    memcpy(req + hdr, src, got);
    return req;
}

static void
fz_step_request(struct fz *f, struct fz_conn *c)
{
    struct vgpu_hdr h;
    uint8_t twist = fuzz_u8(&f->cur);
    size_t len;
    uint8_t *req = fz_request_bytes(f, &len);

    vgpu_hdr_init(&h, VGPU_MSG_REQUEST);
    h.vm_id = c->vm_id;
    h.pool_id = c->pool;
    h.priority = c->priority;
    h.request_id = c->next_request_id++;
    /* Now and then, an identity that differs from the HELLO's. */
    if (twist == 1u) {
        h.vm_id ^= 1u;
    } else if (twist == 2u) {
        h.pool_id++;
    } else if (twist == 3u) {
        h.priority ^= 1u;
    } else if (twist == 4u) {
        h.request_id = fuzz_u32(&f->cur);
    }
    fz_feed_frame(f, c, &h, req, len);
    free(req);
}

static void
fz_step_raw(struct fz *f, struct fz_conn *c)
{
    size_t got;
    const uint8_t *src =
        fuzz_bytes(&f->cur, fuzz_u16(&f->cur) % FZ_MAX_RAW, &got);
    uint8_t *copy = malloc(got == 0 ? 1 : got);

    FUZZ_CHECK(copy != NULL);
    memcpy(copy, src, got);
    c->raw_seen = true;
    fz_feed(f, c, copy, got);
    free(copy);
}

static void
fz_stats_cb(const struct vgpu_vm_stats *s, void *arg)
{
    uint64_t sum = 0;

    (void)arg;
    FUZZ_CHECK(s->vm_id >= VGPU_VM_ID_MIN);
    FUZZ_CHECK(s->pool >= VGPU_POOL_FIRST && s->pool <= VGPU_POOL_LAST);
    FUZZ_CHECK(s->priority <= VGPU_PRIO_HIGH);
    for (size_t i = 0; i < VGPU_ERR_COUNT; i++) {
        sum += s->errors[i];
    }
    FUZZ_CHECK(sum == s->responses);
    /* At most one answer per request. */
    FUZZ_CHECK(s->responses <= s->requests);
}

static void
fz_check_conns(struct fz *f)
{
    for (size_t i = 0; i < FZ_CONNS; i++) {
        const struct fz_conn *c = &f->conns[i];

        if (c->mc == NULL) {
            continue;
        }
        /* A failed send and an ERROR frame both end in ops->close. */
        FUZZ_CHECK(!c->send_failed || c->closing);
        FUZZ_CHECK(!c->error_sent || c->closing);
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct vgpu_mediator_config cfg;
    char err[256];
    struct fz *f = calloc(1, sizeof(*f));
    uint8_t mode;

    FUZZ_CHECK(f != NULL);
    fuzz_cursor_init(&f->cur, data, size);
    mode = fuzz_u8(&f->cur);
    vgpu_mediator_config_default(&cfg);
    cfg.vm_queue_cap = 1u + (mode & 0x7u); /* small: the cap is reached */
    cfg.queue_inflight = 1u + ((mode >> 3) & 0x3u);
    /* 2 or 3 MiB: a few large requests reach it */
    cfg.request_memory =
        (2u + ((mode >> 5) & 0x1u)) * (uint64_t)VGPU_MAX_PAYLOAD;
    cfg.log_level = VGPU_LOG_DEBUG;
    f->m =
        vgpu_mediator_create(&cfg, (mode & 0x80u) ? &fz_ops_bare : &fz_ops_full,
                             f, err, sizeof(err));
    FUZZ_CHECK(f->m != NULL);
    for (size_t i = 0; i < FZ_CONNS; i++) {
        fz_conn_open(f, &f->conns[i]);
    }

    for (unsigned step = 0; step < FZ_MAX_STEPS && fuzz_left(&f->cur) > 0;
         step++) {
        struct fz_conn *c = fz_pick(f);

        switch (fuzz_u8(&f->cur) % STEP_COUNT) {
        case STEP_RAW:
            fz_step_raw(f, c);
            break;
        case STEP_HELLO:
            fz_step_hello(f, c);
            break;
        case STEP_REQUEST:
        case STEP_REQUEST2:
            fz_step_request(f, c);
            break;
        case STEP_PING: {
            struct vgpu_hdr h;

            vgpu_hdr_init(&h, VGPU_MSG_PING);
            h.vm_id = c->vm_id;
            fz_feed_frame(f, c, &h, NULL, 0);
            break;
        }
        case STEP_DISPATCH:
            vgpu_mediator_dispatch(f->m, fuzz_u8(&f->cur) % 4u);
            break;
        case STEP_CLOSE:
            fz_conn_close(c);
            break;
        case STEP_REOPEN:
            if (c->mc == NULL) {
                fz_conn_open(f, c);
            }
            break;
        case STEP_REAP:
            for (size_t i = 0; i < FZ_CONNS; i++) {
                if (f->conns[i].closing) {
                    fz_conn_close(&f->conns[i]);
                }
            }
            break;
        case STEP_FAIL_SEND:
            c->fail_send = true;
            break;
        case STEP_SHUTDOWN:
            vgpu_mediator_shutdown(f->m);
            FUZZ_CHECK(vgpu_mediator_pending(f->m) == 0);
            break;
        case STEP_STATS:
            vgpu_mediator_stats(f->m, fz_stats_cb, NULL);
            break;
        default:
            break;
        }
        fz_check_conns(f);
    }

    vgpu_mediator_dispatch(f->m, 0);
    FUZZ_CHECK(vgpu_mediator_pending(f->m) == 0);
    vgpu_mediator_stats(f->m, fz_stats_cb, NULL);
    for (size_t i = 0; i < FZ_CONNS; i++) {
        fz_conn_close(&f->conns[i]);
    }
    FUZZ_CHECK(vgpu_mediator_pending(f->m) == 0);
    FUZZ_CHECK(vgpu_mediator_held_bytes(f->m) == 0);
    vgpu_mediator_destroy(f->m);
    free(f);
    return 0;
}
