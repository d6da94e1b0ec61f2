/*
 * Unit tests of src/link, the device's end of the wire protocol: a real
 * struct vgpu_dev rung through its registers, and a fake connection that
 * records what the link sends and when it ends the connection. The
 * mediator's frames are made by src/proto and fed in any split.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "vgpu/devmodel.h"
#include "vgpu/link.h"
#include "vgpu/proto.h"
#include "vgpu/regs.h"
#include "vgpu_test.h"

#define VM_ID    7u
#define POOL     'C'
#define OUT_CAP  (8u * VGPU_LINK_FRAME_MAX)
#define MAX_LOGS 8u

struct fx {
    struct vgpu_dev dev;
    struct vgpu_link link;
    uint8_t out[OUT_CAP]; /* every byte the link sent */
    size_t out_len;
    size_t out_read; /* frames already taken by fx_next_sent() */
    int send_fail;   /* the next sends return this (0: succeed) */
    int lost;        /* ops->lost calls */
    char why[VGPU_LINK_MSG_MAX];
    int logs[MAX_LOGS]; /* levels of the log lines */
    unsigned n_logs;
};

static int
fx_send(void *opaque, const uint8_t *frame, size_t len)
{
    struct fx *f = opaque;

    if (f->send_fail != 0) {
        return f->send_fail;
    }
    assert_true(len <= sizeof(f->out) - f->out_len);
    memcpy(f->out + f->out_len, frame, len);
    f->out_len += len;
    return 0;
}

static void
fx_lost(void *opaque, const char *why)
{
    struct fx *f = opaque;

    f->lost++;
    snprintf(f->why, sizeof(f->why), "%s", why);
}

static void
fx_log(void *opaque, int level, const char *line)
{
    struct fx *f = opaque;

    assert_non_null(line);
    if (f->n_logs < MAX_LOGS) {
        f->logs[f->n_logs++] = level;
    }
}

static const struct vgpu_link_ops fx_link_ops = {
    .send = fx_send,
    .lost = fx_lost,
    .log = fx_log,
};

static int
fx_submit(void *opaque, const struct vgpu_request *req)
{
    struct fx *f = opaque;

    return vgpu_link_request(&f->link, req);
}

static void
fx_set_irq(void *opaque, int level)
{
    (void)opaque;
    (void)level;
}

static uint64_t
fx_now(void *opaque)
{
    (void)opaque;
    return 1;
}

static const struct vgpu_dev_ops fx_dev_ops = {
    .submit = fx_submit,
    .set_irq = fx_set_irq,
    .now_ns = fx_now,
    .guest_error = NULL,
};

static int
setup(void **state)
{
    static struct fx f;
    struct vgpu_dev_config cfg = {
        .pool_id = POOL, .priority = VGPU_PRIO_HIGH, .vm_id = VM_ID};

    memset(&f, 0, sizeof(f));
    assert_int_equal(vgpu_dev_init(&f.dev, &cfg, &fx_dev_ops, &f), 0);
    assert_int_equal(vgpu_link_init(&f.link, &f.dev, &fx_link_ops, &f), 0);
    *state = &f;
    return 0;
}

static int
teardown(void **state)
{
    struct fx *f = *state;

    vgpu_dev_fini(&f->dev);
    return 0;
}

/* ---- Helpers ---------------------------------------------------------------
 */

/* The next frame the link sent, decoded; fails the test if there is none. */
static struct vgpu_hdr
fx_next_sent(struct fx *f, const uint8_t **payload)
{
    struct vgpu_hdr h;

    assert_true(f->out_len - f->out_read >= VGPU_HDR_SIZE);
    vgpu_hdr_unpack(f->out + f->out_read, &h);
    assert_int_equal(vgpu_hdr_check(&h, VGPU_MAX_PAYLOAD), 0);
    assert_true(f->out_len - f->out_read >= VGPU_HDR_SIZE + h.payload_len);
    if (payload != NULL) {
        *payload = f->out + f->out_read + VGPU_HDR_SIZE;
    }
    f->out_read += VGPU_HDR_SIZE + h.payload_len;
    return h;
}

static size_t
fx_unsent(const struct fx *f)
{
    return f->out_len - f->out_read;
}

/* Feed a frame from the mediator, @split bytes at a time (0: whole). */
static int
fx_feed(struct fx *f, uint16_t type, uint32_t request_id, uint32_t status,
        const void *payload, size_t len, size_t split)
{
    static uint8_t buf[VGPU_HDR_SIZE + 2048u];
    struct vgpu_hdr h;
    int n;
    int rc = 0;

    vgpu_hdr_init(&h, type);
    h.vm_id = VM_ID;
    h.request_id = request_id;
    h.status = status;
    n = vgpu_frame_encode(&h, payload, len, buf, sizeof(buf));
    assert_true(n > 0);
    if (split == 0) {
        split = (size_t)n;
    }
    for (size_t off = 0; off < (size_t)n && rc == 0; off += split) {
        size_t chunk = (size_t)n - off < split ? (size_t)n - off : split;

        rc = vgpu_link_input(&f->link, buf + off, chunk);
    }
    return rc;
}

static void
fx_hello_ack(struct fx *f)
{
    uint8_t ack[VGPU_HELLO_ACK_PAYLOAD_SIZE];

    vgpu_hello_ack_pack(ack, VGPU_CAPABILITIES, VGPU_BUF_SIZE);
    assert_int_equal(fx_feed(f, VGPU_MSG_HELLO_ACK, 0, 0, ack, sizeof(ack), 0),
                     0);
}

/* Up and acknowledged; the HELLO is taken. */
static void
fx_connect(struct fx *f)
{
    struct vgpu_hdr h;

    assert_int_equal(vgpu_link_up(&f->link), 0);
    h = fx_next_sent(f, NULL);
    assert_int_equal(h.type, VGPU_MSG_HELLO);
    fx_hello_ack(f);
    assert_int_equal(vgpu_link_state(&f->link), VGPU_LINK_READY);
}

/* Ring the doorbell with an ECHO of @text as request @id. */
static void
fx_ring(struct fx *f, uint32_t id, const char *text)
{
    uint8_t req[64] = {0};
    size_t n = strlen(text);

    vgpu_put_le32(req, VGPU_OP_ECHO);
    vgpu_put_le32(req + 4, (uint32_t)n);
    memcpy(req + VGPU_OP_HDR_SIZE, text, n);
    for (size_t i = 0; i < VGPU_OP_HDR_SIZE + n; i++) {
        vgpu_dev_mmio_write(&f->dev, VGPU_REQ_BUF_OFFSET + i, req[i], 1);
    }
    vgpu_dev_mmio_write(&f->dev, VGPU_REG_REQUEST_LEN, VGPU_OP_HDR_SIZE + n, 4);
    vgpu_dev_mmio_write(&f->dev, VGPU_REG_REQUEST_ID, id, 4);
    vgpu_dev_mmio_write(&f->dev, VGPU_REG_DOORBELL, VGPU_DOORBELL_RING, 4);
}

static uint32_t
fx_reg(struct fx *f, uint32_t off)
{
    return (uint32_t)vgpu_dev_mmio_read(&f->dev, off, 4);
}

/* The text the device holds in its response buffer. */
static void
fx_resp(struct fx *f, char *out, size_t cap)
{
    uint32_t len = fx_reg(f, VGPU_REG_RESPONSE_LEN);

    assert_true(len < cap);
    for (uint32_t i = 0; i < len; i++) {
        out[i] = (char)vgpu_dev_mmio_read(&f->dev, VGPU_RESP_BUF_OFFSET + i, 1);
    }
    out[len] = '\0';
}

/* ---- Tests ------------------------------------------------------------------
 */

static void
test_init_checks(void **state)
{
    struct fx *f = *state;
    struct vgpu_link l;
    struct vgpu_link_ops no_lost = {.send = fx_send};

    assert_int_equal(vgpu_link_init(&l, &f->dev, NULL, f), -EINVAL);
    assert_int_equal(vgpu_link_init(&l, &f->dev, &no_lost, f), -EINVAL);
    assert_int_equal(vgpu_link_init(&l, NULL, &fx_link_ops, f), -EINVAL);
    assert_int_equal(vgpu_link_state(&f->link), VGPU_LINK_DOWN);
    assert_string_equal(vgpu_link_reason(&f->link), "");
}

static void
test_hello_carries_identity(void **state)
{
    struct fx *f = *state;
    const uint8_t *p;
    uint32_t version;
    uint32_t caps;
    struct vgpu_hdr h;

    assert_int_equal(vgpu_link_up(&f->link), 0);
    assert_int_equal(vgpu_link_state(&f->link), VGPU_LINK_HELLO);
    h = fx_next_sent(f, &p);
    assert_int_equal(h.type, VGPU_MSG_HELLO);
    assert_int_equal(h.vm_id, VM_ID);
    assert_int_equal(h.pool_id, POOL);
    assert_int_equal(h.priority, VGPU_PRIO_HIGH);
    assert_int_equal(vgpu_hello_unpack(p, h.payload_len, &version, &caps), 0);
    assert_int_equal(version, VGPU_PROTOCOL_VERSION);
    assert_int_equal(caps, VGPU_CAPABILITIES);
    fx_hello_ack(f);
    assert_int_equal(vgpu_link_state(&f->link), VGPU_LINK_READY);
    assert_int_equal(f->lost, 0);
}

/* A doorbell while DOWN is kept; the caller connects; it goes at HELLO_ACK. */
static void
test_request_waits_for_hello_ack(void **state)
{
    struct fx *f = *state;
    const uint8_t *p;
    struct vgpu_hdr h;
    char text[64];

    fx_ring(f, 41, "abc");
    assert_int_equal(fx_reg(f, VGPU_REG_STATUS), VGPU_STATUS_BUSY);
    assert_int_equal(fx_unsent(f), 0);
    assert_int_equal(vgpu_link_up(&f->link), 0);
    h = fx_next_sent(f, NULL);
    assert_int_equal(h.type, VGPU_MSG_HELLO);
    assert_int_equal(fx_unsent(f), 0); /* not before HELLO_ACK */
    fx_hello_ack(f);
    h = fx_next_sent(f, &p);
    assert_int_equal(h.type, VGPU_MSG_REQUEST);
    assert_int_equal(h.request_id, 41);
    assert_int_equal(h.payload_len, VGPU_OP_HDR_SIZE + 3);
    assert_memory_equal(p + VGPU_OP_HDR_SIZE, "abc", 3);
    assert_int_equal(fx_feed(f, VGPU_MSG_RESPONSE, 41, 0, "abc", 3, 0), 0);
    assert_int_equal(fx_reg(f, VGPU_REG_STATUS), VGPU_STATUS_DONE);
    fx_resp(f, text, sizeof(text));
    assert_string_equal(text, "abc");
}

/* Every split of the mediator's bytes gives the same result. */
static void
test_response_any_split(void **state)
{
    struct fx *f = *state;
    char text[64];

    fx_connect(f);
    for (size_t split = 1; split <= 9; split++) {
        fx_ring(f, (uint32_t)split, "hello");
        assert_int_equal(fx_next_sent(f, NULL).type, VGPU_MSG_REQUEST);
        assert_int_equal(fx_feed(f, VGPU_MSG_RESPONSE, (uint32_t)split, 0,
                                 "hello", 5, split),
                         0);
        assert_int_equal(fx_reg(f, VGPU_REG_STATUS), VGPU_STATUS_DONE);
        fx_resp(f, text, sizeof(text));
        assert_string_equal(text, "hello");
    }
    assert_int_equal(f->link.stats.responses, 9);
    assert_int_equal(f->link.stats.requests_sent, 9);
}

static void
test_ping_answered_with_pong(void **state)
{
    struct fx *f = *state;
    struct vgpu_hdr h;

    fx_connect(f);
    assert_int_equal(fx_feed(f, VGPU_MSG_PING, 99, 0, NULL, 0, 0), 0);
    h = fx_next_sent(f, NULL);
    assert_int_equal(h.type, VGPU_MSG_PONG);
    assert_int_equal(h.request_id, 99);
    assert_int_equal(h.vm_id, VM_ID);
    assert_int_equal(fx_feed(f, VGPU_MSG_PONG, 1, 0, NULL, 0, 0), 0);
    assert_int_equal(fx_unsent(f), 0);
    assert_int_equal(f->link.stats.pings, 1);
    assert_int_equal(f->lost, 0);
}

/* ERROR: the connection ends, the request in flight ends in
 * MEDIATOR_UNAVAILABLE with the mediator's reason as its text. */
static void
test_error_frame(void **state)
{
    struct fx *f = *state;
    char text[64];

    fx_connect(f);
    fx_ring(f, 5, "x");
    assert_int_equal(
        fx_feed(f, VGPU_MSG_ERROR, 0, VGPU_ERR_REJECTED, "go\naway", 7, 0), -1);
    assert_int_equal(f->lost, 1);
    assert_non_null(strstr(f->why, "REJECTED"));
    assert_int_equal(vgpu_link_state(&f->link), VGPU_LINK_DOWN);
    assert_int_equal(fx_reg(f, VGPU_REG_STATUS), VGPU_STATUS_ERROR);
    assert_int_equal(fx_reg(f, VGPU_REG_ERROR_CODE),
                     VGPU_ERR_MEDIATOR_UNAVAILABLE);
    fx_resp(f, text, sizeof(text));
    assert_string_equal(text, "go?away"); /* made printable */
    assert_string_equal(vgpu_link_reason(&f->link), "go?away");
    /* Bytes after the end are not read. */
    assert_int_equal(fx_feed(f, VGPU_MSG_RESPONSE, 5, 0, "x", 1, 0), 0);
    assert_int_equal(f->link.stats.responses, 0);
}

static void
test_error_frame_without_reason(void **state)
{
    struct fx *f = *state;

    assert_int_equal(vgpu_link_up(&f->link), 0);
    assert_int_equal(
        fx_feed(f, VGPU_MSG_ERROR, 0, VGPU_ERR_REJECTED, NULL, 0, 0), -1);
    assert_string_equal(vgpu_link_reason(&f->link), "ERROR REJECTED");
    assert_int_equal(fx_reg(f, VGPU_REG_STATUS), VGPU_STATUS_IDLE);
}

/* Each frame SPEC.md section 7 refuses: PROTOCOL_ERROR, connection ends. */
static void
expect_protocol_error(struct fx *f, const char *needle)
{
    char text[VGPU_LINK_MSG_MAX];

    assert_int_equal(f->lost, 1);
    assert_int_equal(vgpu_link_state(&f->link), VGPU_LINK_DOWN);
    assert_int_equal(fx_reg(f, VGPU_REG_STATUS), VGPU_STATUS_ERROR);
    assert_int_equal(fx_reg(f, VGPU_REG_ERROR_CODE), VGPU_ERR_PROTOCOL_ERROR);
    fx_resp(f, text, sizeof(text));
    assert_non_null(strstr(text, needle));
    assert_int_equal(f->link.stats.protocol_errors, 1);
}

static void
test_response_before_hello_ack(void **state)
{
    struct fx *f = *state;

    fx_ring(f, 3, "a");
    assert_int_equal(vgpu_link_up(&f->link), 0);
    assert_int_equal(fx_feed(f, VGPU_MSG_RESPONSE, 3, 0, "a", 1, 0), -1);
    expect_protocol_error(f, "before HELLO_ACK");
}

static void
test_second_hello_ack(void **state)
{
    struct fx *f = *state;
    uint8_t ack[VGPU_HELLO_ACK_PAYLOAD_SIZE];

    fx_connect(f);
    fx_ring(f, 3, "a");
    vgpu_hello_ack_pack(ack, 0, 0);
    assert_int_equal(fx_feed(f, VGPU_MSG_HELLO_ACK, 0, 0, ack, sizeof(ack), 0),
                     -1);
    expect_protocol_error(f, "second HELLO_ACK");
}

static void
test_unexpected_type(void **state)
{
    struct fx *f = *state;

    fx_connect(f);
    fx_ring(f, 3, "a");
    assert_int_equal(fx_feed(f, VGPU_MSG_REQUEST, 3, 0, "a", 1, 0), -1);
    expect_protocol_error(f, "unexpected frame type");
}

static void
test_bad_magic(void **state)
{
    struct fx *f = *state;
    uint8_t junk[VGPU_HDR_SIZE];

    fx_connect(f);
    fx_ring(f, 3, "a");
    memset(junk, 0x5a, sizeof(junk));
    assert_int_equal(fx_next_sent(f, NULL).request_id, 3);
    assert_int_equal(vgpu_link_input(&f->link, junk, sizeof(junk)), -1);
    expect_protocol_error(f, "magic");
    /* The next connection starts clean. */
    fx_ring(f, 4, "b");
    fx_connect(f);
    assert_int_equal(fx_next_sent(f, NULL).type, VGPU_MSG_REQUEST);
    assert_int_equal(fx_feed(f, VGPU_MSG_RESPONSE, 4, 0, "b", 1, 0), 0);
    assert_int_equal(fx_reg(f, VGPU_REG_STATUS), VGPU_STATUS_DONE);
}

/* A payload over 1 KiB is read and discarded: RESPONSE_TOO_LARGE, and the
 * connection stays up. */
static void
test_response_too_large(void **state)
{
    struct fx *f = *state;
    static uint8_t big[VGPU_BUF_SIZE + 1];

    fx_connect(f);
    fx_ring(f, 8, "a");
    assert_int_equal(fx_feed(f, VGPU_MSG_RESPONSE, 8, 0, big, sizeof(big), 100),
                     0);
    assert_int_equal(fx_reg(f, VGPU_REG_STATUS), VGPU_STATUS_ERROR);
    assert_int_equal(fx_reg(f, VGPU_REG_ERROR_CODE),
                     VGPU_ERR_RESPONSE_TOO_LARGE);
    assert_int_equal(vgpu_link_state(&f->link), VGPU_LINK_READY);
    assert_int_equal(f->lost, 0);
    assert_true(f->n_logs >= 1);
    assert_int_equal(f->logs[f->n_logs - 1], VGPU_LOG_WARN);
}

/* A request that timed out: its late answer is stale, counted and logged. */
static void
test_timeout_then_late_answer(void **state)
{
    struct fx *f = *state;

    fx_connect(f);
    assert_int_equal(vgpu_link_timeout(&f->link), 0); /* nothing in flight */
    fx_ring(f, 12, "a");
    assert_int_equal(vgpu_link_timeout(&f->link), 1);
    assert_int_equal(fx_reg(f, VGPU_REG_ERROR_CODE), VGPU_ERR_TIMEOUT);
    assert_int_equal(fx_feed(f, VGPU_MSG_RESPONSE, 12, 0, "a", 1, 0), 0);
    assert_int_equal(fx_reg(f, VGPU_REG_STATUS), VGPU_STATUS_ERROR);
    assert_int_equal(f->link.stats.stale, 1);
    assert_int_equal(f->dev.stats.stale_responses, 1);
    assert_int_equal(f->logs[f->n_logs - 1], VGPU_LOG_INFO);
}

/* A request waiting for HELLO_ACK when its timeout fires is never sent. */
static void
test_timeout_before_hello_ack(void **state)
{
    struct fx *f = *state;

    fx_ring(f, 12, "a");
    assert_int_equal(vgpu_link_up(&f->link), 0);
    assert_int_equal(fx_next_sent(f, NULL).type, VGPU_MSG_HELLO);
    assert_int_equal(vgpu_link_timeout(&f->link), 1);
    fx_hello_ack(f);
    assert_int_equal(fx_unsent(f), 0);
}

/* Request id N abandoned by a reset, then N again: the late answer to the
 * first does not complete the second, and answers may come in any order. */
static void
test_reused_id_after_reset(void **state)
{
    struct fx *f = *state;
    char text[64];

    fx_connect(f);
    fx_ring(f, 30, "AAAA");
    vgpu_dev_reset(&f->dev);
    fx_ring(f, 30, "BBBB");
    fx_ring(f, 31, "CCCC"); /* refused: BUSY, never sent */
    assert_int_equal(fx_next_sent(f, NULL).request_id, 30);
    assert_int_equal(fx_next_sent(f, NULL).request_id, 30);
    assert_int_equal(fx_unsent(f), 0);
    assert_int_equal(fx_feed(f, VGPU_MSG_RESPONSE, 30, 0, "AAAA", 4, 0), 0);
    assert_int_equal(fx_reg(f, VGPU_REG_STATUS), VGPU_STATUS_BUSY);
    assert_int_equal(f->link.stats.stale, 1);
    assert_int_equal(fx_feed(f, VGPU_MSG_RESPONSE, 30, 0, "BBBB", 4, 0), 0);
    assert_int_equal(fx_reg(f, VGPU_REG_STATUS), VGPU_STATUS_DONE);
    fx_resp(f, text, sizeof(text));
    assert_string_equal(text, "BBBB");
}

/* More abandoned requests than the table holds: the oldest is forgotten,
 * and the device's own request-id check still drops its answer. */
static void
test_sent_table_overflow(void **state)
{
    struct fx *f = *state;

    fx_connect(f);
    for (uint32_t i = 0; i <= VGPU_LINK_SENT_MAX; i++) {
        fx_ring(f, 100 + i, "a");
        assert_int_equal(vgpu_link_timeout(&f->link), 1);
    }
    assert_int_equal(f->link.sent_count, VGPU_LINK_SENT_MAX);
    fx_ring(f, 500, "z");
    assert_int_equal(fx_feed(f, VGPU_MSG_RESPONSE, 100, 0, "a", 1, 0), 0);
    assert_int_equal(fx_feed(f, VGPU_MSG_RESPONSE, 101, 0, "a", 1, 0), 0);
    assert_int_equal(fx_reg(f, VGPU_REG_STATUS), VGPU_STATUS_BUSY);
    assert_int_equal(f->dev.stats.stale_responses, 2);
    assert_int_equal(fx_feed(f, VGPU_MSG_RESPONSE, 500, 0, "z", 1, 0), 0);
    assert_int_equal(fx_reg(f, VGPU_REG_STATUS), VGPU_STATUS_DONE);
}

/* A REQUEST that cannot be written (the mediator went away): the link ends
 * the connection but keeps the request for one fresh connection. */
static void
test_send_failure_keeps_request(void **state)
{
    struct fx *f = *state;
    struct vgpu_hdr h;

    fx_connect(f);
    f->send_fail = -EPIPE;
    fx_ring(f, 60, "q");
    assert_int_equal(f->lost, 1);
    assert_int_equal(vgpu_link_state(&f->link), VGPU_LINK_DOWN);
    assert_int_equal(fx_reg(f, VGPU_REG_STATUS), VGPU_STATUS_BUSY);
    f->send_fail = 0;
    fx_connect(f);
    h = fx_next_sent(f, NULL);
    assert_int_equal(h.type, VGPU_MSG_REQUEST);
    assert_int_equal(h.request_id, 60);
    assert_int_equal(fx_feed(f, VGPU_MSG_RESPONSE, 60, 0, "q", 1, 0), 0);
    assert_int_equal(fx_reg(f, VGPU_REG_STATUS), VGPU_STATUS_DONE);
}

/* HELLO or a PONG that cannot be written ends the connection and the
 * request in flight with MEDIATOR_UNAVAILABLE. */
static void
test_send_failure_on_hello_and_pong(void **state)
{
    struct fx *f = *state;

    fx_ring(f, 1, "a");
    f->send_fail = -ENOBUFS;
    assert_int_equal(vgpu_link_up(&f->link), -1);
    assert_int_equal(f->lost, 1);
    assert_int_equal(fx_reg(f, VGPU_REG_ERROR_CODE),
                     VGPU_ERR_MEDIATOR_UNAVAILABLE);
    f->send_fail = 0;
    fx_connect(f);
    fx_ring(f, 2, "a");
    f->send_fail = -EPIPE;
    assert_int_equal(fx_feed(f, VGPU_MSG_PING, 0, 0, NULL, 0, 0), -1);
    assert_int_equal(f->lost, 2);
    assert_non_null(strstr(f->why, "PONG"));
    assert_int_equal(fx_reg(f, VGPU_REG_ERROR_CODE),
                     VGPU_ERR_MEDIATOR_UNAVAILABLE);
}

/* The caller's connection ends: with text, the guest reads it. */
static void
test_down_by_caller(void **state)
{
    struct fx *f = *state;
    char text[64];

    fx_connect(f);
    fx_ring(f, 1, "a");
    vgpu_link_down(&f->link, VGPU_ERR_PROTOCOL_ERROR, "eof", "cut short");
    assert_int_equal(f->lost, 0);
    assert_int_equal(fx_reg(f, VGPU_REG_ERROR_CODE), VGPU_ERR_PROTOCOL_ERROR);
    fx_resp(f, text, sizeof(text));
    assert_string_equal(text, "cut short");
    assert_string_equal(vgpu_link_reason(&f->link), "eof");
    fx_ring(f, 2, "a");
    vgpu_link_down(&f->link, VGPU_ERR_MEDIATOR_UNAVAILABLE, NULL, NULL);
    assert_int_equal(fx_reg(f, VGPU_REG_ERROR_CODE),
                     VGPU_ERR_MEDIATOR_UNAVAILABLE);
    assert_int_equal(fx_reg(f, VGPU_REG_RESPONSE_LEN), 0);
}

/* A device reset forgets the connection, but not the device's state. */
static void
test_reset_forgets_connection(void **state)
{
    struct fx *f = *state;
    struct vgpu_link_stats st;

    fx_connect(f);
    fx_ring(f, 1, "a");
    vgpu_link_reset(&f->link);
    assert_int_equal(vgpu_link_state(&f->link), VGPU_LINK_DOWN);
    assert_int_equal(f->link.sent_count, 0);
    assert_int_equal(fx_reg(f, VGPU_REG_STATUS), VGPU_STATUS_BUSY);
    vgpu_link_get_stats(&f->link, &st);
    assert_int_equal(st.connects, 1);
    assert_int_equal(st.requests_sent, 1);
}

/* A HELLO_ACK with a payload of the wrong size is a protocol error. */
static void
test_malformed_hello_ack(void **state)
{
    struct fx *f = *state;

    fx_ring(f, 1, "a");
    assert_int_equal(vgpu_link_up(&f->link), 0);
    assert_int_equal(fx_feed(f, VGPU_MSG_HELLO_ACK, 0, 0, "abc", 3, 0), -1);
    assert_int_equal(f->lost, 1);
    assert_int_equal(fx_reg(f, VGPU_REG_ERROR_CODE), VGPU_ERR_PROTOCOL_ERROR);
}

/* A request the protocol cannot carry is refused, not truncated. */
static void
test_request_too_long(void **state)
{
    struct fx *f = *state;
    static uint8_t data[VGPU_BUF_SIZE + 1];
    struct vgpu_request req = {
        .request_id = 1, .len = sizeof(data), .data = data};

    assert_int_equal(vgpu_link_request(&f->link, &req), -EINVAL);
    assert_int_equal(f->link.sent_count, 0);
}

/* ---- The queue's side ------------------------------------------------------
 */

#define QMEM_BASE 0x10000u
#define QMEM_SIZE (2u << 20)
#define QRINGS    QMEM_BASE              /* 4 entries: SQ, then CQ */
#define QIN       (QMEM_BASE + 0x1000u)  /* inputs, 0x1000 apart */
#define QOUT      (QMEM_BASE + 0x10000u) /* outputs, 0x1000 apart */

static uint8_t qmem[QMEM_SIZE];
static uint8_t qbuf[VGPU_Q_MAX_XFER];

static int
fxq_dma_read(void *opaque, uint64_t addr, void *buf, size_t len)
{
    (void)opaque;
    if (addr < QMEM_BASE || addr - QMEM_BASE + len > QMEM_SIZE) {
        return -EFAULT;
    }
    memcpy(buf, qmem + (addr - QMEM_BASE), len);
    return 0;
}

static int
fxq_dma_write(void *opaque, uint64_t addr, const void *buf, size_t len)
{
    (void)opaque;
    if (addr < QMEM_BASE || addr - QMEM_BASE + len > QMEM_SIZE) {
        return -EFAULT;
    }
    memcpy(qmem + (addr - QMEM_BASE), buf, len);
    return 0;
}

static uint8_t *
fxq_buffer(void *opaque, size_t len)
{
    (void)opaque;
    return len <= sizeof(qbuf) ? qbuf : NULL;
}

static const struct vgpu_dev_ops fxq_dev_ops = {
    .submit = fx_submit,
    .set_irq = fx_set_irq,
    .now_ns = fx_now,
    .guest_error = NULL,
    .dma_read = fxq_dma_read,
    .dma_write = fxq_dma_write,
    .q_buffer = fxq_buffer,
};

static int
setup_queue(void **state)
{
    static struct fx f;
    struct vgpu_dev_config cfg = {
        .pool_id = POOL, .priority = VGPU_PRIO_HIGH, .vm_id = VM_ID};

    memset(&f, 0, sizeof(f));
    memset(qmem, 0, sizeof(qmem));
    assert_int_equal(vgpu_dev_init(&f.dev, &cfg, &fxq_dev_ops, &f), 0);
    assert_int_equal(vgpu_link_init(&f.link, &f.dev, &fx_link_ops, &f), 0);
    vgpu_dev_mmio_write(&f.dev, VGPU_REG_Q_BASE_LO, QRINGS, 4);
    vgpu_dev_mmio_write(&f.dev, VGPU_REG_Q_BASE_HI, 0, 4);
    vgpu_dev_mmio_write(&f.dev, VGPU_REG_Q_SIZE, 4, 4);
    vgpu_dev_mmio_write(&f.dev, VGPU_REG_Q_CTRL, VGPU_Q_CTRL_ENABLE, 4);
    assert_int_equal(fx_reg(&f, VGPU_REG_Q_CTRL), VGPU_Q_CTRL_ENABLE);
    *state = &f;
    return 0;
}

/* Entry @i: an ECHO of @n bytes of 'a' + i at QIN + i * 0x1000, answered
 * at QOUT + i * 0x1000 (@cap bytes). Rings SQ_TAIL = @tail. */
static void
fxq_entry(struct fx *f, uint32_t i, uint32_t n, uint32_t cap, uint32_t tail)
{
    uint8_t *e = qmem + (QRINGS - QMEM_BASE) + (size_t)i * VGPU_Q_SQE_SIZE;
    uint8_t *in = qmem + (QIN - QMEM_BASE) + (size_t)i * 0x1000u;

    vgpu_put_le32(in, VGPU_OP_ECHO);
    vgpu_put_le32(in + 4, n);
    memset(in + 8, 'a' + (int)i, n);
    memset(e, 0, VGPU_Q_SQE_SIZE);
    vgpu_put_le32(e + VGPU_SQE_IN_ADDR, QIN + i * 0x1000u);
    vgpu_put_le32(e + VGPU_SQE_IN_LEN, 8 + n);
    vgpu_put_le32(e + VGPU_SQE_TAG, 100 + i);
    vgpu_put_le32(e + VGPU_SQE_OUT_ADDR, QOUT + i * 0x1000u);
    vgpu_put_le32(e + VGPU_SQE_OUT_CAP, cap);
    vgpu_dev_mmio_write(&f->dev, VGPU_REG_SQ_TAIL, tail, 4);
}

/* Completion @i's status. */
static uint32_t
fxq_status(uint32_t i)
{
    return vgpu_get_le32(qmem + (QRINGS - QMEM_BASE) + 4 * VGPU_Q_SQE_SIZE +
                         (size_t)i * VGPU_Q_CQE_SIZE + VGPU_CQE_STATUS);
}

static void
fxq_ack(struct fx *f, uint32_t caps, uint32_t max_payload, uint32_t inflight,
        int twelve)
{
    uint8_t ack[VGPU_HELLO_ACK_QUEUE_PAYLOAD_SIZE];

    if (twelve) {
        vgpu_hello_ack_pack_queue(ack, caps, max_payload, inflight);
    } else {
        vgpu_hello_ack_pack(ack, caps, max_payload);
    }
    assert_int_equal(fx_feed(f, VGPU_MSG_HELLO_ACK, 0, 0, ack,
                             twelve ? VGPU_HELLO_ACK_QUEUE_PAYLOAD_SIZE
                                    : VGPU_HELLO_ACK_PAYLOAD_SIZE,
                             0),
                     0);
}

/* Entries wait in the ring while DOWN; HELLO offers the queue; the
 * 12-byte HELLO_ACK sets the in-flight count and lets them go, each as a
 * header and a payload; the answers land in guest memory. */
static void
test_queue_handshake_and_flow(void **state)
{
    struct fx *f = *state;
    const uint8_t *p;
    uint32_t version;
    uint32_t caps;
    struct vgpu_hdr h;
    uint32_t ids[2];

    fxq_entry(f, 0, 3, 64, 1);
    fxq_entry(f, 1, 5, 64, 2);
    assert_int_equal(fx_reg(f, VGPU_REG_SQ_HEAD), 0); /* -EAGAIN: waiting */
    assert_int_equal(vgpu_link_up(&f->link), 0);
    h = fx_next_sent(f, &p);
    assert_int_equal(vgpu_hello_unpack(p, h.payload_len, &version, &caps), 0);
    assert_true(caps & VGPU_CAP_QUEUE);
    fxq_ack(f, VGPU_CAPABILITIES | VGPU_CAP_QUEUE, VGPU_Q_MAX_XFER, 3, 1);
    assert_int_equal(fx_reg(f, VGPU_REG_Q_MAX_INFLIGHT), 3);
    assert_int_equal(fx_reg(f, VGPU_REG_SQ_HEAD), 2);
    for (int i = 0; i < 2; i++) {
        h = fx_next_sent(f, &p);
        assert_int_equal(h.type, VGPU_MSG_REQUEST);
        assert_true(h.request_id & VGPU_Q_WIRE_ID_BIT);
        assert_int_equal(h.payload_len, 8 + (i == 0 ? 3 : 5));
        assert_int_equal(p[8], 'a' + i);
        ids[i] = h.request_id;
    }
    assert_int_equal(f->link.stats.queued_sent, 2);
    /* Answers in reverse order. */
    assert_int_equal(fx_feed(f, VGPU_MSG_RESPONSE, ids[1], 0, "bbbbb", 5, 3),
                     0);
    assert_int_equal(fx_feed(f, VGPU_MSG_RESPONSE, ids[0], 0, "aaa", 3, 0), 0);
    assert_int_equal(fx_reg(f, VGPU_REG_CQ_TAIL), 2);
    assert_memory_equal(qmem + (QOUT - QMEM_BASE), "aaa", 3);
    assert_memory_equal(qmem + (QOUT - QMEM_BASE) + 0x1000u, "bbbbb", 5);
    /* A late repeat of an answer is stale. */
    assert_int_equal(fx_feed(f, VGPU_MSG_RESPONSE, ids[0], 0, "aaa", 3, 0), 0);
    assert_int_equal(f->link.stats.stale, 1);
}

/* A mediator from before the queue: 8-byte HELLO_ACK, 1 KiB limit. The
 * device keeps one in flight, and an entry over 1 KiB ends in
 * INVALID_LENGTH instead of breaking the connection for everyone. */
static void
test_queue_old_mediator(void **state)
{
    struct fx *f = *state;
    struct vgpu_hdr h;

    assert_int_equal(vgpu_link_up(&f->link), 0);
    assert_int_equal(fx_next_sent(f, NULL).type, VGPU_MSG_HELLO);
    fxq_ack(f, VGPU_CAPABILITIES, VGPU_BUF_SIZE, 0, 0);
    assert_int_equal(fx_reg(f, VGPU_REG_Q_MAX_INFLIGHT), 1);
    fxq_entry(f, 0, 2000, 4096, 1);
    assert_int_equal(fx_reg(f, VGPU_REG_CQ_TAIL), 1);
    assert_int_equal(fxq_status(0), VGPU_ERR_INVALID_LENGTH);
    assert_int_equal(fx_unsent(f), 0);
    assert_int_equal(f->link.stats.too_long, 1);
    fxq_entry(f, 1, 16, 64, 2);
    h = fx_next_sent(f, NULL);
    assert_int_equal(h.payload_len, 24);
    assert_int_equal(vgpu_link_state(&f->link), VGPU_LINK_READY);
    assert_int_equal(f->lost, 0);
}

/* The connection ends: every entry in flight completes in
 * MEDIATOR_UNAVAILABLE. */
static void
test_queue_lost(void **state)
{
    struct fx *f = *state;

    assert_int_equal(vgpu_link_up(&f->link), 0);
    assert_int_equal(fx_next_sent(f, NULL).type, VGPU_MSG_HELLO);
    fxq_ack(f, VGPU_CAPABILITIES | VGPU_CAP_QUEUE, VGPU_Q_MAX_XFER, 64, 1);
    fxq_entry(f, 0, 3, 64, 1);
    fxq_entry(f, 1, 3, 64, 2);
    assert_int_equal(
        fx_feed(f, VGPU_MSG_ERROR, 0, VGPU_ERR_REJECTED, "bye", 3, 0), -1);
    assert_int_equal(fx_reg(f, VGPU_REG_CQ_TAIL), 2);
    assert_int_equal(fxq_status(0), VGPU_ERR_MEDIATOR_UNAVAILABLE);
    assert_int_equal(fxq_status(1), VGPU_ERR_MEDIATOR_UNAVAILABLE);
}

#define T(path, fn)  VGPU_TEST_FIXTURE(path, fn, setup, teardown)
#define TQ(path, fn) VGPU_TEST_FIXTURE(path, fn, setup_queue, teardown)

int
main(void)
{
    const struct CMUnitTest tests[] = {
        T("/link/init/checks", test_init_checks),
        T("/link/hello/identity", test_hello_carries_identity),
        T("/link/request/waits-for-hello-ack",
          test_request_waits_for_hello_ack),
        T("/link/response/any-split", test_response_any_split),
        T("/link/ping/pong", test_ping_answered_with_pong),
        T("/link/error/reason", test_error_frame),
        T("/link/error/no-reason", test_error_frame_without_reason),
        T("/link/protocol/response-before-ack", test_response_before_hello_ack),
        T("/link/protocol/second-ack", test_second_hello_ack),
        T("/link/protocol/unexpected-type", test_unexpected_type),
        T("/link/protocol/bad-magic", test_bad_magic),
        T("/link/protocol/malformed-ack", test_malformed_hello_ack),
        T("/link/response/too-large", test_response_too_large),
        T("/link/stale/timeout", test_timeout_then_late_answer),
        T("/link/stale/timeout-before-ack", test_timeout_before_hello_ack),
        T("/link/stale/reused-id", test_reused_id_after_reset),
        T("/link/stale/table-overflow", test_sent_table_overflow),
        T("/link/send/failure-keeps-request", test_send_failure_keeps_request),
        T("/link/send/failure-hello-pong", test_send_failure_on_hello_and_pong),
        T("/link/down/by-caller", test_down_by_caller),
        T("/link/reset", test_reset_forgets_connection),
        T("/link/request/too-long", test_request_too_long),
        TQ("/link/queue/handshake-and-flow", test_queue_handshake_and_flow),
        TQ("/link/queue/old-mediator", test_queue_old_mediator),
        TQ("/link/queue/lost", test_queue_lost),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
