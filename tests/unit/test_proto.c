/*
 * Unit tests of src/proto: the header codec, the frame encoder, the streaming
 * decoder, op validation and vgpu_strerror(). Every number comes from the
 * public headers; the one literal byte string is the golden frame printed in
 * docs/protocol.md, kept here so that the document cannot drift.
 */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "vgpu_test.h"

#include "vgpu/proto.h"

/* A test table entry named by its path (STYLE.md rule 13). */

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define U32          sizeof(uint32_t)

/* Test-local sizes: a stream of a few frames, and the frames remembered. */
#define STREAM_CAP  4096u
#define REC_PAYLOAD (VGPU_BUF_SIZE + VGPU_HDR_SIZE)
#define REC_MAX     16u
#define WHY_CAP     128u
#define ALL_TYPES   (VGPU_MSG_LAST - VGPU_MSG_FIRST + 1u)
#define SMALL_BUF   16u /* a decoder buffer smaller than most payloads */
#define LIB_CODES   (-(VGPU_E_LAST)-VGPU_E_BASE) /* how many VGPU_E_* */

/* Values of the example header: vm 200, pool B, priority high, id 7. */
#define EX_VM_ID      200u
#define EX_POOL       'B'
#define EX_PRIORITY   VGPU_PRIO_HIGH
#define EX_REQUEST_ID 7u

/* ---- Helpers ------------------------------------------------------------- */

static struct vgpu_hdr
example_hdr(uint16_t type)
{
    struct vgpu_hdr h;

    vgpu_hdr_init(&h, type);
    h.vm_id = EX_VM_ID;
    h.request_id = EX_REQUEST_ID;
    h.pool_id = EX_POOL;
    h.priority = EX_PRIORITY;
    return h;
}

/* Encode one frame at @buf and return its length. */
static size_t
put_frame(uint8_t *buf, size_t cap, const struct vgpu_hdr *h,
          const void *payload, size_t len)
{
    int n = vgpu_frame_encode(h, payload, len, buf, cap);

    assert_int_equal(n, VGPU_HDR_SIZE + len);
    return (size_t)n;
}

/* A frame as a test remembers it: the decoder's payload pointer is valid only
 * until its next call, so the bytes are copied out. */
struct rec {
    struct vgpu_hdr hdr;
    bool truncated;
    bool has_payload;
    uint8_t payload[REC_PAYLOAD];
};

struct recs {
    size_t count;
    struct rec r[REC_MAX];
};

static void
record(struct recs *out, const struct vgpu_frame *f)
{
    struct rec *r;

    assert_in_range(out->count, 0, REC_MAX - 1u);
    r = &out->r[out->count++];
    r->hdr = f->hdr;
    r->truncated = f->truncated;
    r->has_payload = f->payload != NULL;
    if (f->payload != NULL) {
        assert_in_range(f->hdr.payload_len, 0, REC_PAYLOAD);
        memcpy(r->payload, f->payload, f->hdr.payload_len);
    }
}

/* Feed @len bytes, looping on what is left after each frame. */
static int
feed_all(struct vgpu_decoder *d, const uint8_t *data, size_t len,
         struct recs *out)
{
    size_t pos = 0;

    while (pos < len) {
        struct vgpu_frame f;
        size_t used = SIZE_MAX;
        int rc = vgpu_decoder_feed(d, data + pos, len - pos, &used, &f);

        assert_in_range(used, 0, len - pos);
        pos += used;
        if (rc < 0) {
            return rc;
        }
        if (rc == 1) {
            assert_int_not_equal(used, 0);
            record(out, &f);
        } else {
            assert_int_equal(rc, 0);
            assert_int_equal(pos, len);
        }
    }
    return 0;
}

struct expect {
    struct vgpu_hdr hdr;
    const uint8_t *payload;
    size_t len;
};

/* Write one frame of every type, HELLO .. PONG, and what each must decode
 * to. Each frame gets its own request_id so that order is checked too. */
static size_t
build_all_types(uint8_t *stream, size_t cap, struct expect exp[ALL_TYPES])
{
    static const char reason[] = "mediator shutting down";
    uint8_t hello[VGPU_HELLO_PAYLOAD_SIZE];
    uint8_t ack[VGPU_HELLO_ACK_PAYLOAD_SIZE];
    uint8_t req[VGPU_OP_HDR_SIZE + 2 * VGPU_ELEM_SIZE];
    uint8_t resp[VGPU_ELEM_SIZE];
    size_t pos = 0;
    uint16_t t;

    vgpu_hello_pack(hello, VGPU_PROTOCOL_VERSION, VGPU_CAPABILITIES);
    vgpu_hello_ack_pack(ack, VGPU_CAPABILITIES, VGPU_BUF_SIZE);
    vgpu_put_le32(req, VGPU_OP_ADD_I32);
    vgpu_put_le32(req + U32, 1);
    vgpu_put_le32(req + 2 * U32, 100);
    vgpu_put_le32(req + 3 * U32, 200);
    vgpu_put_le32(resp, 300);

    for (t = VGPU_MSG_FIRST; t <= VGPU_MSG_LAST; t++) {
        struct vgpu_hdr h = example_hdr(t);
        const void *pl = NULL;
        size_t len = 0;
        struct expect *e = &exp[t - VGPU_MSG_FIRST];

        switch (t) {
        case VGPU_MSG_HELLO:
            pl = hello;
            len = sizeof(hello);
            break;
        case VGPU_MSG_HELLO_ACK:
            pl = ack;
            len = sizeof(ack);
            break;
        case VGPU_MSG_REQUEST:
            pl = req;
            len = sizeof(req);
            break;
        case VGPU_MSG_RESPONSE:
            pl = resp;
            len = sizeof(resp);
            break;
        case VGPU_MSG_ERROR:
            pl = reason;
            len = strlen(reason);
            h.status = VGPU_ERR_REJECTED;
            break;
        default: /* PING, PONG: no payload */
            break;
        }
        h.request_id = EX_REQUEST_ID + t;
        e->hdr = h;
        e->hdr.payload_len = (uint32_t)len;
        e->len = len;
        e->payload = stream + pos + VGPU_HDR_SIZE;
        pos += put_frame(stream + pos, cap - pos, &h, pl, len);
    }
    return pos;
}

static void
assert_hdr_equal(const struct vgpu_hdr *a, const struct vgpu_hdr *b)
{
    assert_int_equal(a->magic, b->magic);
    assert_int_equal(a->version, b->version);
    assert_int_equal(a->type, b->type);
    assert_int_equal(a->vm_id, b->vm_id);
    assert_int_equal(a->request_id, b->request_id);
    assert_int_equal(a->payload_len, b->payload_len);
    assert_int_equal(a->pool_id, b->pool_id);
    assert_int_equal(a->priority, b->priority);
    assert_int_equal(a->flags, b->flags);
    assert_int_equal(a->status, b->status);
    assert_int_equal(a->reserved, b->reserved);
}

static void
assert_recs_match(const struct recs *got, const struct expect *exp,
                  size_t count)
{
    size_t i;

    assert_int_equal(got->count, count);
    for (i = 0; i < count; i++) {
        assert_hdr_equal(&got->r[i].hdr, &exp[i].hdr);
        assert_false(got->r[i].truncated);
        assert_int_equal(got->r[i].has_payload, exp[i].len > 0);
        if (exp[i].len > 0) {
            assert_memory_equal(got->r[i].payload, exp[i].payload, exp[i].len);
        }
    }
}

/* ---- Header codec -------------------------------------------------------- */

static void
test_hdr_init(void **state)
{
    struct vgpu_hdr h;

    memset(&h, 0xA5, sizeof(h));
    vgpu_hdr_init(&h, VGPU_MSG_REQUEST);
    assert_int_equal(h.magic, VGPU_PROTO_MAGIC);
    assert_int_equal(h.version, VGPU_PROTO_VERSION);
    assert_int_equal(h.type, VGPU_MSG_REQUEST);
    assert_int_equal(h.vm_id, 0);
    assert_int_equal(h.request_id, 0);
    assert_int_equal(h.payload_len, 0);
    assert_int_equal(h.pool_id, 0);
    assert_int_equal(h.priority, 0);
    assert_int_equal(h.flags, 0);
    assert_int_equal(h.status, 0);
    assert_int_equal(h.reserved, 0);
}

/* Every field different and every byte of it distinct, so a swapped or
 * misplaced byte shows. */
static struct vgpu_hdr
odd_hdr(void)
{
    struct vgpu_hdr h;

    h.magic = VGPU_PROTO_MAGIC;
    h.version = 0x0102;
    h.type = 0x0304;
    h.vm_id = 0x11223344;
    h.request_id = 0x55667788;
    h.payload_len = 0x0A0B0C0D;
    h.pool_id = 'Q';
    h.priority = 0xEE;
    h.flags = 0xA1B2;
    h.status = 0xC3D4E5F6;
    h.reserved = 0x0F1E2D3C;
    return h;
}

static void
test_hdr_roundtrip(void **state)
{
    struct vgpu_hdr h = odd_hdr();
    struct vgpu_hdr back;
    uint8_t wire[VGPU_HDR_SIZE];

    vgpu_hdr_pack(&h, wire);
    memset(&back, 0, sizeof(back));
    vgpu_hdr_unpack(wire, &back);
    assert_hdr_equal(&back, &h);
}

static void
test_hdr_wire_offsets(void **state)
{
    struct vgpu_hdr h = odd_hdr();
    uint8_t wire[VGPU_HDR_SIZE + 1];

    memset(wire, 0x5A, sizeof(wire));
    vgpu_hdr_pack(&h, wire);

    /* The magic reads "VGPU" in memory order. */
    assert_int_equal(wire[VGPU_HDR_OFF_MAGIC + 0], 'V');
    assert_int_equal(wire[VGPU_HDR_OFF_MAGIC + 1], 'G');
    assert_int_equal(wire[VGPU_HDR_OFF_MAGIC + 2], 'P');
    assert_int_equal(wire[VGPU_HDR_OFF_MAGIC + 3], 'U');
    /* Little-endian, least significant byte first. */
    assert_int_equal(wire[VGPU_HDR_OFF_VERSION + 0], 0x02);
    assert_int_equal(wire[VGPU_HDR_OFF_VERSION + 1], 0x01);
    assert_int_equal(wire[VGPU_HDR_OFF_TYPE + 0], 0x04);
    assert_int_equal(wire[VGPU_HDR_OFF_TYPE + 1], 0x03);
    assert_int_equal(wire[VGPU_HDR_OFF_VM_ID + 0], 0x44);
    assert_int_equal(wire[VGPU_HDR_OFF_VM_ID + 1], 0x33);
    assert_int_equal(wire[VGPU_HDR_OFF_VM_ID + 2], 0x22);
    assert_int_equal(wire[VGPU_HDR_OFF_VM_ID + 3], 0x11);
    assert_int_equal(wire[VGPU_HDR_OFF_REQUEST_ID + 0], 0x88);
    assert_int_equal(wire[VGPU_HDR_OFF_REQUEST_ID + 3], 0x55);
    assert_int_equal(wire[VGPU_HDR_OFF_PAYLOAD_LEN + 0], 0x0D);
    assert_int_equal(wire[VGPU_HDR_OFF_PAYLOAD_LEN + 3], 0x0A);
    assert_int_equal(wire[VGPU_HDR_OFF_POOL_ID], 'Q');
    assert_int_equal(wire[VGPU_HDR_OFF_PRIORITY], 0xEE);
    assert_int_equal(wire[VGPU_HDR_OFF_FLAGS + 0], 0xB2);
    assert_int_equal(wire[VGPU_HDR_OFF_FLAGS + 1], 0xA1);
    assert_int_equal(wire[VGPU_HDR_OFF_STATUS + 0], 0xF6);
    assert_int_equal(wire[VGPU_HDR_OFF_STATUS + 3], 0xC3);
    assert_int_equal(wire[VGPU_HDR_OFF_RESERVED + 0], 0x3C);
    assert_int_equal(wire[VGPU_HDR_OFF_RESERVED + 3], 0x0F);
    /* The last field ends the header and nothing after it is written. */
    assert_int_equal(VGPU_HDR_OFF_RESERVED + U32, VGPU_HDR_SIZE);
    assert_int_equal(wire[VGPU_HDR_SIZE], 0x5A);
    /* And the accessors agree with the byte checks. */
    assert_int_equal(vgpu_get_le32(wire + VGPU_HDR_OFF_MAGIC),
                     VGPU_PROTO_MAGIC);
    assert_int_equal(vgpu_get_le32(wire + VGPU_HDR_OFF_STATUS), h.status);
    assert_int_equal(vgpu_get_le16(wire + VGPU_HDR_OFF_FLAGS), h.flags);
}

static void
test_hdr_check_valid(void **state)
{
    uint16_t t;

    for (t = VGPU_MSG_FIRST; t <= VGPU_MSG_LAST; t++) {
        struct vgpu_hdr h = example_hdr(t);

        if (t == VGPU_MSG_HELLO) {
            h.payload_len = VGPU_HELLO_PAYLOAD_SIZE;
        } else if (t == VGPU_MSG_HELLO_ACK) {
            h.payload_len = VGPU_HELLO_ACK_PAYLOAD_SIZE;
        }
        assert_int_equal(vgpu_hdr_check(&h, VGPU_MAX_PAYLOAD), 0);
    }
}

static void
test_hdr_check_each_error(void **state)
{
    struct vgpu_hdr h;
    const int codes[] = {VGPU_E_BAD_MAGIC, VGPU_E_BAD_VERSION, VGPU_E_BAD_TYPE,
                         VGPU_E_TOO_LARGE, VGPU_E_BAD_PAYLOAD};
    size_t i;
    size_t j;

    h = example_hdr(VGPU_MSG_REQUEST);
    h.magic = VGPU_PROTO_MAGIC ^ 1u;
    assert_int_equal(vgpu_hdr_check(&h, VGPU_MAX_PAYLOAD), VGPU_E_BAD_MAGIC);

    h = example_hdr(VGPU_MSG_REQUEST);
    h.version = VGPU_PROTO_VERSION + 1u;
    assert_int_equal(vgpu_hdr_check(&h, VGPU_MAX_PAYLOAD), VGPU_E_BAD_VERSION);
    h.version = 0;
    assert_int_equal(vgpu_hdr_check(&h, VGPU_MAX_PAYLOAD), VGPU_E_BAD_VERSION);

    h = example_hdr(0);
    assert_int_equal(vgpu_hdr_check(&h, VGPU_MAX_PAYLOAD), VGPU_E_BAD_TYPE);
    h = example_hdr(VGPU_MSG_LAST + 1u);
    assert_int_equal(vgpu_hdr_check(&h, VGPU_MAX_PAYLOAD), VGPU_E_BAD_TYPE);
    h = example_hdr(UINT16_MAX);
    assert_int_equal(vgpu_hdr_check(&h, VGPU_MAX_PAYLOAD), VGPU_E_BAD_TYPE);

    h = example_hdr(VGPU_MSG_REQUEST);
    h.payload_len = VGPU_BUF_SIZE + 1u;
    assert_int_equal(vgpu_hdr_check(&h, VGPU_BUF_SIZE), VGPU_E_TOO_LARGE);
    h.payload_len = VGPU_BUF_SIZE;
    assert_int_equal(vgpu_hdr_check(&h, VGPU_BUF_SIZE), 0);

    h = example_hdr(VGPU_MSG_HELLO);
    h.payload_len = VGPU_HELLO_PAYLOAD_SIZE + 1u;
    assert_int_equal(vgpu_hdr_check(&h, VGPU_MAX_PAYLOAD), VGPU_E_BAD_PAYLOAD);

    /* The codes are distinct, so a caller can tell the cases apart. */
    for (i = 0; i < ARRAY_LEN(codes); i++) {
        for (j = i + 1; j < ARRAY_LEN(codes); j++) {
            assert_int_not_equal(codes[i], codes[j]);
        }
    }
}

/* The checks run in the documented order: the first failing one wins. */
static void
test_hdr_check_order(void **state)
{
    struct vgpu_hdr h = example_hdr(0);

    h.magic = 0;
    h.version = 0;
    h.payload_len = UINT32_MAX;
    assert_int_equal(vgpu_hdr_check(&h, 0), VGPU_E_BAD_MAGIC);
    h.magic = VGPU_PROTO_MAGIC;
    assert_int_equal(vgpu_hdr_check(&h, 0), VGPU_E_BAD_VERSION);
    h.version = VGPU_PROTO_VERSION;
    assert_int_equal(vgpu_hdr_check(&h, 0), VGPU_E_BAD_TYPE);
    h.type = VGPU_MSG_HELLO;
    assert_int_equal(vgpu_hdr_check(&h, 0), VGPU_E_TOO_LARGE);
    /* A HELLO of the wrong size over a low limit is too large first. */
    h.payload_len = VGPU_HELLO_PAYLOAD_SIZE + 1u;
    assert_int_equal(vgpu_hdr_check(&h, VGPU_HELLO_PAYLOAD_SIZE),
                     VGPU_E_TOO_LARGE);
    assert_int_equal(vgpu_hdr_check(&h, VGPU_MAX_PAYLOAD), VGPU_E_BAD_PAYLOAD);
}

static const struct {
    uint32_t len;
    int rc;
} ack_sizes[] = {
    {VGPU_HELLO_ACK_PAYLOAD_SIZE, 0},
    {VGPU_HELLO_ACK_PAYLOAD_SIZE - 1u, VGPU_E_BAD_PAYLOAD},
    {VGPU_HELLO_ACK_PAYLOAD_SIZE + 1u, VGPU_E_BAD_PAYLOAD},
    {VGPU_HELLO_ACK_QUEUE_PAYLOAD_SIZE, 0},
    {VGPU_HELLO_ACK_QUEUE_PAYLOAD_SIZE - 1u, VGPU_E_BAD_PAYLOAD},
    {VGPU_HELLO_ACK_QUEUE_PAYLOAD_SIZE + 1u, VGPU_E_BAD_PAYLOAD},
};

static void
test_hdr_check_fixed_sizes(void **state)
{
    struct vgpu_hdr h;

    h = example_hdr(VGPU_MSG_HELLO);
    h.payload_len = VGPU_HELLO_PAYLOAD_SIZE - 1u;
    assert_int_equal(vgpu_hdr_check(&h, VGPU_MAX_PAYLOAD), VGPU_E_BAD_PAYLOAD);
    h.payload_len = 0;
    assert_int_equal(vgpu_hdr_check(&h, VGPU_MAX_PAYLOAD), VGPU_E_BAD_PAYLOAD);

    /* HELLO_ACK: 8, or the queue's 12 (SPEC.md section 11), nothing else. */
    h = example_hdr(VGPU_MSG_HELLO_ACK);
    for (size_t i = 0; i < ARRAY_LEN(ack_sizes); i++) {
        h.payload_len = ack_sizes[i].len;
        assert_int_equal(vgpu_hdr_check(&h, VGPU_MAX_PAYLOAD), ack_sizes[i].rc);
    }
    /* HELLO keeps its one size. */
    h = example_hdr(VGPU_MSG_HELLO);
    h.payload_len = VGPU_HELLO_ACK_QUEUE_PAYLOAD_SIZE;
    assert_int_equal(vgpu_hdr_check(&h, VGPU_MAX_PAYLOAD), VGPU_E_BAD_PAYLOAD);

    h = example_hdr(VGPU_MSG_PING);
    h.payload_len = 1;
    assert_int_equal(vgpu_hdr_check(&h, VGPU_MAX_PAYLOAD), VGPU_E_BAD_PAYLOAD);
    h = example_hdr(VGPU_MSG_PONG);
    h.payload_len = 1;
    assert_int_equal(vgpu_hdr_check(&h, VGPU_MAX_PAYLOAD), VGPU_E_BAD_PAYLOAD);

    /* REQUEST, RESPONSE and ERROR take any size within the limit. */
    h = example_hdr(VGPU_MSG_REQUEST);
    assert_int_equal(vgpu_hdr_check(&h, VGPU_MAX_PAYLOAD), 0);
    h = example_hdr(VGPU_MSG_RESPONSE);
    h.payload_len = VGPU_MAX_PAYLOAD;
    assert_int_equal(vgpu_hdr_check(&h, VGPU_MAX_PAYLOAD), 0);
    h = example_hdr(VGPU_MSG_ERROR);
    h.payload_len = 1;
    assert_int_equal(vgpu_hdr_check(&h, VGPU_MAX_PAYLOAD), 0);
}

/* flags, reserved and status are not checked: a later version may use them. */
static void
test_hdr_check_ignores_flags_reserved(void **state)
{
    struct vgpu_hdr h = example_hdr(VGPU_MSG_PING);

    h.flags = UINT16_MAX;
    h.reserved = UINT32_MAX;
    h.status = UINT32_MAX;
    assert_int_equal(vgpu_hdr_check(&h, VGPU_MAX_PAYLOAD), 0);
}

static void
test_hdr_check_limit_clamped(void **state)
{
    struct vgpu_hdr h = example_hdr(VGPU_MSG_RESPONSE);

    h.payload_len = VGPU_MAX_PAYLOAD;
    assert_int_equal(vgpu_hdr_check(&h, UINT32_MAX), 0);
    h.payload_len = VGPU_MAX_PAYLOAD + 1u;
    assert_int_equal(vgpu_hdr_check(&h, UINT32_MAX), VGPU_E_TOO_LARGE);
    h.payload_len = UINT32_MAX;
    assert_int_equal(vgpu_hdr_check(&h, UINT32_MAX), VGPU_E_TOO_LARGE);
    /* A limit of 0 admits only empty payloads. */
    h.payload_len = 0;
    assert_int_equal(vgpu_hdr_check(&h, 0), 0);
    h.payload_len = 1;
    assert_int_equal(vgpu_hdr_check(&h, 0), VGPU_E_TOO_LARGE);
}

/* ---- HELLO and HELLO_ACK payloads ---------------------------------------- */

static void
test_hello_roundtrip(void **state)
{
    uint8_t p[VGPU_HELLO_PAYLOAD_SIZE];
    uint32_t version = 0;
    uint32_t caps = 0;

    vgpu_hello_pack(p, VGPU_PROTOCOL_VERSION, VGPU_CAPABILITIES);
    assert_int_equal(vgpu_get_le32(p), VGPU_PROTOCOL_VERSION);
    assert_int_equal(vgpu_get_le32(p + U32), VGPU_CAPABILITIES);
    assert_int_equal(vgpu_hello_unpack(p, sizeof(p), &version, &caps), 0);
    assert_int_equal(version, VGPU_PROTOCOL_VERSION);
    assert_int_equal(caps, VGPU_CAPABILITIES);
}

static void
test_hello_bad_size(void **state)
{
    uint8_t p[VGPU_HELLO_PAYLOAD_SIZE + 1] = {0};
    uint32_t a = 0;
    uint32_t b = 0;

    assert_int_equal(vgpu_hello_unpack(p, VGPU_HELLO_PAYLOAD_SIZE - 1u, &a, &b),
                     VGPU_E_BAD_PAYLOAD);
    assert_int_equal(vgpu_hello_unpack(p, VGPU_HELLO_PAYLOAD_SIZE + 1u, &a, &b),
                     VGPU_E_BAD_PAYLOAD);
    assert_int_equal(vgpu_hello_unpack(p, 0, &a, &b), VGPU_E_BAD_PAYLOAD);
    assert_int_equal(vgpu_hello_unpack(NULL, VGPU_HELLO_PAYLOAD_SIZE, &a, &b),
                     VGPU_E_BAD_PAYLOAD);
    assert_int_equal(
        vgpu_hello_ack_unpack(p, VGPU_HELLO_ACK_PAYLOAD_SIZE - 1u, &a, &b),
        VGPU_E_BAD_PAYLOAD);
    assert_int_equal(
        vgpu_hello_ack_unpack(p, VGPU_HELLO_ACK_PAYLOAD_SIZE + 1u, &a, &b),
        VGPU_E_BAD_PAYLOAD);
    assert_int_equal(
        vgpu_hello_ack_unpack(NULL, VGPU_HELLO_ACK_PAYLOAD_SIZE, &a, &b),
        VGPU_E_BAD_PAYLOAD);
}

/* vgpu_hello_ack_unpack_queue() reads @len bytes at @p as these values. */
static void
expect_ack_queue(const uint8_t *p, size_t len, uint32_t caps, uint32_t max,
                 uint32_t inflight)
{
    uint32_t got_caps = 0;
    uint32_t got_max = 0;
    uint32_t got_inflight = 0;

    assert_int_equal(
        vgpu_hello_ack_unpack_queue(p, len, &got_caps, &got_max, &got_inflight),
        0);
    assert_int_equal(got_caps, caps);
    assert_int_equal(got_max, max);
    assert_int_equal(got_inflight, inflight);
}

static void
test_hello_ack_roundtrip(void **state)
{
    uint8_t p[VGPU_HELLO_ACK_PAYLOAD_SIZE];
    uint32_t caps = 0;
    uint32_t max = 0;

    vgpu_hello_ack_pack(p, VGPU_CAP_BASIC, VGPU_MAX_PAYLOAD);
    assert_int_equal(vgpu_get_le32(p), VGPU_CAP_BASIC);
    assert_int_equal(vgpu_get_le32(p + U32), VGPU_MAX_PAYLOAD);
    assert_int_equal(vgpu_hello_ack_unpack(p, sizeof(p), &caps, &max), 0);
    assert_int_equal(caps, VGPU_CAP_BASIC);
    assert_int_equal(max, VGPU_MAX_PAYLOAD);
    /* Read as the queue's: an older mediator's 8 bytes mean in-flight 1. */
    expect_ack_queue(p, sizeof(p), VGPU_CAP_BASIC, VGPU_MAX_PAYLOAD, 1);
}

static void
test_hello_ack_queue_roundtrip(void **state)
{
    uint8_t p[VGPU_HELLO_ACK_QUEUE_PAYLOAD_SIZE];
    uint32_t caps = 0;
    uint32_t max = 0;

    vgpu_hello_ack_pack_queue(p, VGPU_CAPABILITIES | VGPU_CAP_QUEUE,
                              VGPU_MAX_PAYLOAD, VGPU_Q_DEFAULT_INFLIGHT);
    assert_int_equal(vgpu_get_le32(p), VGPU_CAPABILITIES | VGPU_CAP_QUEUE);
    assert_int_equal(vgpu_get_le32(p + U32), VGPU_MAX_PAYLOAD);
    assert_int_equal(vgpu_get_le32(p + 2u * U32), VGPU_Q_DEFAULT_INFLIGHT);
    expect_ack_queue(p, sizeof(p), VGPU_CAPABILITIES | VGPU_CAP_QUEUE,
                     VGPU_MAX_PAYLOAD, VGPU_Q_DEFAULT_INFLIGHT);
    /* The old unpacker keeps its one size. */
    assert_int_equal(vgpu_hello_ack_unpack(p, sizeof(p), &caps, &max),
                     VGPU_E_BAD_PAYLOAD);
}

static void
test_hello_ack_queue_bad_size(void **state)
{
    uint8_t p[VGPU_HELLO_ACK_QUEUE_PAYLOAD_SIZE + 1u] = {0};
    const size_t bad[] = {0, VGPU_HELLO_ACK_PAYLOAD_SIZE - 1u,
                          VGPU_HELLO_ACK_PAYLOAD_SIZE + 1u,
                          VGPU_HELLO_ACK_QUEUE_PAYLOAD_SIZE - 1u,
                          VGPU_HELLO_ACK_QUEUE_PAYLOAD_SIZE + 1u};
    uint32_t a = 1;
    uint32_t b = 2;
    uint32_t c = 3;

    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        assert_int_equal(vgpu_hello_ack_unpack_queue(p, bad[i], &a, &b, &c),
                         VGPU_E_BAD_PAYLOAD);
    }
    assert_int_equal(vgpu_hello_ack_unpack_queue(
                         NULL, VGPU_HELLO_ACK_QUEUE_PAYLOAD_SIZE, &a, &b, &c),
                     VGPU_E_BAD_PAYLOAD);
    /* Nothing written on failure. */
    assert_int_equal(a, 1);
    assert_int_equal(b, 2);
    assert_int_equal(c, 3);
}

/* ---- Frame encoder ------------------------------------------------------- */

static void
test_frame_layout(void **state)
{
    static const uint8_t payload[] = {'a', 'b', 'c'};
    struct vgpu_hdr h = example_hdr(VGPU_MSG_ERROR);
    struct vgpu_hdr back;
    uint8_t buf[VGPU_HDR_SIZE + sizeof(payload)];

    h.payload_len = UINT32_MAX; /* ignored: len is written instead */
    assert_int_equal(
        vgpu_frame_encode(&h, payload, sizeof(payload), buf, sizeof(buf)),
        sizeof(buf));
    vgpu_hdr_unpack(buf, &back);
    h.payload_len = sizeof(payload);
    assert_hdr_equal(&back, &h);
    assert_memory_equal(buf + VGPU_HDR_SIZE, payload, sizeof(payload));
}

static void
test_frame_enobufs(void **state)
{
    static const uint8_t payload[] = {1, 2, 3, 4};
    struct vgpu_hdr h = example_hdr(VGPU_MSG_REQUEST);
    uint8_t buf[VGPU_HDR_SIZE + sizeof(payload)];
    uint8_t untouched[sizeof(buf)];
    size_t cap;

    memset(untouched, 0xAA, sizeof(untouched));
    for (cap = 0; cap < sizeof(buf); cap++) {
        memcpy(buf, untouched, sizeof(buf));
        assert_int_equal(
            vgpu_frame_encode(&h, payload, sizeof(payload), buf, cap),
            -ENOBUFS);
        assert_memory_equal(buf, untouched, sizeof(buf));
    }
    assert_int_equal(
        vgpu_frame_encode(&h, payload, sizeof(payload), NULL, sizeof(buf)),
        -ENOBUFS);
    /* An empty payload needs exactly the header. */
    assert_int_equal(vgpu_frame_encode(&h, NULL, 0, buf, VGPU_HDR_SIZE - 1u),
                     -ENOBUFS);
    assert_int_equal(vgpu_frame_encode(&h, NULL, 0, buf, VGPU_HDR_SIZE),
                     VGPU_HDR_SIZE);
}

static void
test_frame_too_large(void **state)
{
    struct vgpu_hdr h = example_hdr(VGPU_MSG_RESPONSE);
    size_t cap = VGPU_HDR_SIZE + VGPU_MAX_PAYLOAD + 1u;
    uint8_t *payload = calloc(1, VGPU_MAX_PAYLOAD + 1u);
    uint8_t *buf = malloc(cap);

    assert_non_null(payload);
    assert_non_null(buf);
    /* Too large wins even when the buffer would hold it. */
    assert_int_equal(
        vgpu_frame_encode(&h, payload, VGPU_MAX_PAYLOAD + 1u, buf, cap),
        VGPU_E_TOO_LARGE);
    assert_int_equal(vgpu_frame_encode(&h, payload, SIZE_MAX, buf, cap),
                     VGPU_E_TOO_LARGE);
    /* Exactly the limit is fine. */
    assert_int_equal(vgpu_frame_encode(&h, payload, VGPU_MAX_PAYLOAD, buf, cap),
                     VGPU_HDR_SIZE + VGPU_MAX_PAYLOAD);
    assert_int_equal(vgpu_get_le32(buf + VGPU_HDR_OFF_PAYLOAD_LEN),
                     VGPU_MAX_PAYLOAD);
    free(buf);
    free(payload);
}

static void
test_frame_null_payload(void **state)
{
    struct vgpu_hdr h = example_hdr(VGPU_MSG_REQUEST);
    uint8_t buf[VGPU_HDR_SIZE + 1];

    assert_int_equal(vgpu_frame_encode(&h, NULL, 1, buf, sizeof(buf)), -EINVAL);
}

/*
 * The annotated frame of docs/protocol.md: ADD_I32 n=1 a=100 b=200 from vm
 * 200, pool B, priority high, request_id 7. A golden vector on purpose.
 */
static void
test_frame_doc_example(void **state)
{
    static const uint8_t golden[] = {
        'V',  'G',  'P',  'U',  /* magic */
        0x01, 0x00,             /* version 1 */
        0x03, 0x00,             /* type REQUEST */
        0xC8, 0x00, 0x00, 0x00, /* vm_id 200 */
        0x07, 0x00, 0x00, 0x00, /* request_id 7 */
        0x10, 0x00, 0x00, 0x00, /* payload_len 16 */
        'B',                    /* pool_id */
        0x02,                   /* priority high */
        0x00, 0x00,             /* flags */
        0x00, 0x00, 0x00, 0x00, /* status */
        0x00, 0x00, 0x00, 0x00, /* reserved */
        0x10, 0x00, 0x00, 0x00, /* op ADD_I32 */
        0x01, 0x00, 0x00, 0x00, /* n 1 */
        0x64, 0x00, 0x00, 0x00, /* a[0] 100 */
        0xC8, 0x00, 0x00, 0x00, /* b[0] 200 */
    };
    struct vgpu_hdr h = example_hdr(VGPU_MSG_REQUEST);
    uint8_t req[VGPU_OP_HDR_SIZE + 2 * VGPU_ELEM_SIZE];
    uint8_t buf[sizeof(golden)];
    struct vgpu_op_desc desc;

    vgpu_put_le32(req, VGPU_OP_ADD_I32);
    vgpu_put_le32(req + U32, 1);
    vgpu_put_le32(req + 2 * U32, 100);
    vgpu_put_le32(req + 3 * U32, 200);
    assert_int_equal(vgpu_frame_encode(&h, req, sizeof(req), buf, sizeof(buf)),
                     sizeof(golden));
    assert_memory_equal(buf, golden, sizeof(golden));
    assert_int_equal(
        vgpu_op_validate(buf + VGPU_HDR_SIZE, sizeof(req), &desc, NULL, 0), 0);
    assert_int_equal(desc.out_len, VGPU_ELEM_SIZE);
}

/* ---- Streaming decoder --------------------------------------------------- */

/* Paused at each header, the caller gives each payload its own storage: the
 * bytes land there, and no other buffer is touched. */
static void
test_dec_pause_own_buffer(void **state)
{
    static uint8_t stream[2u * (VGPU_HDR_SIZE + VGPU_MAX_PAYLOAD)];
    static uint8_t big[VGPU_MAX_PAYLOAD];
    static uint8_t dst[VGPU_MAX_PAYLOAD];
    uint8_t small[VGPU_HDR_SIZE];
    struct vgpu_hdr h = example_hdr(VGPU_MSG_REQUEST);
    struct vgpu_decoder d;
    struct vgpu_frame f;
    size_t len = 0;
    size_t pos = 0;
    size_t used = 0;
    int rc;

    for (size_t i = 0; i < sizeof(big); i++) {
        big[i] = (uint8_t)(i * 7u);
    }
    len += put_frame(stream, sizeof(stream), &h, big, sizeof(big));
    h = example_hdr(VGPU_MSG_PING);
    len += put_frame(stream + len, sizeof(stream) - len, &h, NULL, 0);
    vgpu_decoder_init(&d, small, sizeof(small), VGPU_MAX_PAYLOAD);
    vgpu_decoder_pause_at_header(&d, true);

    rc = vgpu_decoder_feed(&d, stream, len, &used, &f);
    assert_int_equal(rc, VGPU_DECODER_HEADER);
    assert_int_equal(used, VGPU_HDR_SIZE);
    assert_int_equal(f.hdr.type, VGPU_MSG_REQUEST);
    assert_int_equal(f.hdr.payload_len, VGPU_MAX_PAYLOAD);
    assert_null(f.payload);
    pos += used;
    assert_int_equal(
        vgpu_decoder_set_buffer(&d, dst, sizeof(dst), VGPU_MAX_PAYLOAD), 0);
    /* Half the payload, then the rest: set_buffer is refused in between. */
    rc = vgpu_decoder_feed(&d, stream + pos, VGPU_MAX_PAYLOAD / 2u, &used, &f);
    assert_int_equal(rc, 0);
    pos += used;
    assert_int_equal(
        vgpu_decoder_set_buffer(&d, small, sizeof(small), VGPU_MAX_PAYLOAD),
        -EBUSY);
    rc = vgpu_decoder_feed(&d, stream + pos, len - pos, &used, &f);
    assert_int_equal(rc, 1);
    pos += used;
    assert_false(f.truncated);
    assert_ptr_equal(f.payload, dst);
    assert_memory_equal(dst, big, sizeof(big));
    /* An empty payload is yielded at once, never paused. */
    rc = vgpu_decoder_feed(&d, stream + pos, len - pos, &used, &f);
    assert_int_equal(rc, 1);
    assert_int_equal(f.hdr.type, VGPU_MSG_PING);
    assert_int_equal(pos + used, len);
}

/* Paused, a caller that gives no storage gets the payload discarded. */
static void
test_dec_pause_discard(void **state)
{
    uint8_t stream[STREAM_CAP];
    uint8_t payload[VGPU_OP_HDR_SIZE] = {0};
    uint8_t buf[VGPU_OP_HDR_SIZE];
    struct vgpu_hdr h = example_hdr(VGPU_MSG_REQUEST);
    struct vgpu_decoder d;
    struct vgpu_frame f;
    size_t len =
        put_frame(stream, sizeof(stream), &h, payload, sizeof(payload));
    size_t used = 0;

    vgpu_decoder_init(&d, buf, sizeof(buf), VGPU_BUF_SIZE);
    vgpu_decoder_pause_at_header(&d, true);
    assert_int_equal(vgpu_decoder_feed(&d, stream, len, &used, &f),
                     VGPU_DECODER_HEADER);
    assert_int_equal(vgpu_decoder_set_buffer(&d, NULL, 0, VGPU_BUF_SIZE), 0);
    assert_int_equal(
        vgpu_decoder_feed(&d, stream + used, len - used, &used, &f), 1);
    assert_true(f.truncated);
    assert_null(f.payload);
    assert_int_equal(vgpu_decoder_finish(&d), 0);
}

/* The 12-byte HELLO_ACK decodes; 10 bytes do not. */
static void
test_dec_hello_ack_queue(void **state)
{
    uint8_t stream[STREAM_CAP];
    uint8_t ack[VGPU_HELLO_ACK_QUEUE_PAYLOAD_SIZE];
    uint8_t buf[VGPU_BUF_SIZE];
    struct vgpu_hdr h = example_hdr(VGPU_MSG_HELLO_ACK);
    struct vgpu_decoder d;
    struct recs got = {0};
    size_t len;

    vgpu_hello_ack_pack_queue(ack, VGPU_CAP_QUEUE, VGPU_MAX_PAYLOAD,
                              VGPU_Q_DEFAULT_INFLIGHT);
    len = put_frame(stream, sizeof(stream), &h, ack, sizeof(ack));
    vgpu_decoder_init(&d, buf, sizeof(buf), VGPU_MAX_PAYLOAD);
    assert_int_equal(feed_all(&d, stream, len, &got), 0);
    assert_int_equal(got.count, 1);
    assert_int_equal(got.r[0].hdr.payload_len, sizeof(ack));
    assert_memory_equal(got.r[0].payload, ack, sizeof(ack));

    len = put_frame(stream, sizeof(stream), &h, ack, sizeof(ack) - 2u);
    vgpu_decoder_init(&d, buf, sizeof(buf), VGPU_MAX_PAYLOAD);
    assert_int_equal(feed_all(&d, stream, len, &got), VGPU_E_BAD_PAYLOAD);
}

static void
test_dec_every_type(void **state)
{
    uint8_t stream[STREAM_CAP];
    uint8_t buf[VGPU_BUF_SIZE];
    struct expect exp[ALL_TYPES];
    struct vgpu_decoder d;
    struct recs got = {0};
    size_t len = build_all_types(stream, sizeof(stream), exp);
    uint32_t version = 0;
    uint32_t caps = 0;
    uint32_t max = 0;

    vgpu_decoder_init(&d, buf, sizeof(buf), VGPU_MAX_PAYLOAD);
    assert_int_equal(feed_all(&d, stream, len, &got), 0);
    assert_recs_match(&got, exp, ALL_TYPES);
    assert_int_equal(vgpu_decoder_finish(&d), 0);

    /* The handshake payloads read back through their unpackers. */
    assert_int_equal(got.r[0].hdr.type, VGPU_MSG_HELLO);
    assert_int_equal(vgpu_hello_unpack(got.r[0].payload,
                                       got.r[0].hdr.payload_len, &version,
                                       &caps),
                     0);
    assert_int_equal(version, VGPU_PROTOCOL_VERSION);
    assert_int_equal(caps, VGPU_CAPABILITIES);
    assert_int_equal(got.r[1].hdr.type, VGPU_MSG_HELLO_ACK);
    assert_int_equal(vgpu_hello_ack_unpack(got.r[1].payload,
                                           got.r[1].hdr.payload_len, &caps,
                                           &max),
                     0);
    assert_int_equal(max, VGPU_BUF_SIZE);
}

static void
test_dec_one_byte_at_a_time(void **state)
{
    uint8_t stream[STREAM_CAP];
    uint8_t buf[VGPU_BUF_SIZE];
    struct expect exp[ALL_TYPES];
    struct vgpu_decoder d;
    struct recs got = {0};
    size_t len = build_all_types(stream, sizeof(stream), exp);
    size_t frame_end = VGPU_HDR_SIZE + exp[0].len;
    size_t i;

    vgpu_decoder_init(&d, buf, sizeof(buf), VGPU_MAX_PAYLOAD);
    for (i = 0; i < len; i++) {
        struct vgpu_frame f;
        size_t used = SIZE_MAX;
        int rc = vgpu_decoder_feed(&d, stream + i, 1, &used, &f);

        assert_int_equal(used, 1);
        if (i + 1 == frame_end) {
            /* The frame completes on its last byte, not before. */
            assert_int_equal(rc, 1);
            record(&got, &f);
            if (got.count < ALL_TYPES) {
                frame_end += VGPU_HDR_SIZE + exp[got.count].len;
            }
            assert_int_equal(vgpu_decoder_finish(&d), 0);
        } else {
            assert_int_equal(rc, 0);
            assert_int_equal(vgpu_decoder_finish(&d), VGPU_E_TRUNCATED);
        }
    }
    assert_recs_match(&got, exp, ALL_TYPES);
}

static void
test_dec_several_in_one_buffer(void **state)
{
    uint8_t stream[STREAM_CAP];
    uint8_t buf[VGPU_BUF_SIZE];
    struct expect exp[ALL_TYPES];
    struct vgpu_decoder d;
    struct vgpu_frame f;
    size_t len = build_all_types(stream, sizeof(stream), exp);
    size_t pos = 0;
    size_t i;

    vgpu_decoder_init(&d, buf, sizeof(buf), VGPU_MAX_PAYLOAD);
    for (i = 0; i < ALL_TYPES; i++) {
        size_t used = SIZE_MAX;

        /* One call stops at the end of the first whole frame. */
        assert_int_equal(
            vgpu_decoder_feed(&d, stream + pos, len - pos, &used, &f), 1);
        assert_int_equal(used, VGPU_HDR_SIZE + exp[i].len);
        assert_hdr_equal(&f.hdr, &exp[i].hdr);
        if (exp[i].len > 0) {
            /* The payload lives in the caller's buffer. */
            assert_ptr_equal(f.payload, buf);
            assert_memory_equal(f.payload, exp[i].payload, exp[i].len);
        } else {
            assert_null(f.payload);
        }
        pos += used;
    }
    assert_int_equal(pos, len);
}

static void
test_dec_split_everywhere(void **state)
{
    uint8_t stream[STREAM_CAP];
    uint8_t buf[VGPU_BUF_SIZE];
    struct expect exp[ALL_TYPES];
    struct vgpu_decoder d;
    size_t len = build_all_types(stream, sizeof(stream), exp);
    size_t i;
    size_t j;

    /* Two pieces, split at every offset. */
    for (i = 0; i <= len; i++) {
        struct recs got = {0};

        vgpu_decoder_init(&d, buf, sizeof(buf), VGPU_MAX_PAYLOAD);
        assert_int_equal(feed_all(&d, stream, i, &got), 0);
        assert_int_equal(feed_all(&d, stream + i, len - i, &got), 0);
        assert_recs_match(&got, exp, ALL_TYPES);
        assert_int_equal(vgpu_decoder_finish(&d), 0);
    }
    /* Three pieces, at every pair of offsets. */
    for (i = 0; i <= len; i++) {
        for (j = i; j <= len; j++) {
            struct recs got = {0};

            vgpu_decoder_init(&d, buf, sizeof(buf), VGPU_MAX_PAYLOAD);
            assert_int_equal(feed_all(&d, stream, i, &got), 0);
            assert_int_equal(feed_all(&d, stream + i, j - i, &got), 0);
            assert_int_equal(feed_all(&d, stream + j, len - j, &got), 0);
            assert_int_equal(got.count, ALL_TYPES);
            assert_int_equal(got.r[ALL_TYPES - 1].hdr.type, VGPU_MSG_LAST);
        }
    }
}

static void
test_dec_empty_payload(void **state)
{
    uint8_t stream[VGPU_HDR_SIZE * 2];
    struct vgpu_hdr h = example_hdr(VGPU_MSG_PING);
    struct vgpu_decoder d;
    struct vgpu_frame f;
    size_t used;

    put_frame(stream, sizeof(stream), &h, NULL, 0);
    h.type = VGPU_MSG_PONG;
    put_frame(stream + VGPU_HDR_SIZE, VGPU_HDR_SIZE, &h, NULL, 0);

    /* No buffer at all is fine for frames without payload. */
    vgpu_decoder_init(&d, NULL, 0, VGPU_MAX_PAYLOAD);
    assert_int_equal(vgpu_decoder_feed(&d, stream, sizeof(stream), &used, &f),
                     1);
    assert_int_equal(used, VGPU_HDR_SIZE);
    assert_int_equal(f.hdr.type, VGPU_MSG_PING);
    assert_null(f.payload);
    assert_false(f.truncated);
    assert_int_equal(
        vgpu_decoder_feed(&d, stream + VGPU_HDR_SIZE, VGPU_HDR_SIZE, &used, &f),
        1);
    assert_int_equal(used, VGPU_HDR_SIZE);
    assert_int_equal(f.hdr.type, VGPU_MSG_PONG);
    assert_int_equal(vgpu_decoder_finish(&d), 0);
}

static void
test_dec_empty_feed(void **state)
{
    uint8_t stream[VGPU_HDR_SIZE + VGPU_ELEM_SIZE];
    uint8_t buf[VGPU_BUF_SIZE];
    uint8_t payload[VGPU_ELEM_SIZE] = {0};
    struct vgpu_hdr h = example_hdr(VGPU_MSG_RESPONSE);
    struct vgpu_decoder d;
    struct vgpu_frame f;
    size_t used = SIZE_MAX;

    put_frame(stream, sizeof(stream), &h, payload, sizeof(payload));
    vgpu_decoder_init(&d, buf, sizeof(buf), VGPU_MAX_PAYLOAD);
    assert_int_equal(vgpu_decoder_feed(&d, NULL, 0, &used, &f), 0);
    assert_int_equal(used, 0);
    assert_int_equal(vgpu_decoder_finish(&d), 0);
    /* Header whole, payload not begun: still mid-frame. */
    assert_int_equal(vgpu_decoder_feed(&d, stream, VGPU_HDR_SIZE, &used, &f),
                     0);
    assert_int_equal(used, VGPU_HDR_SIZE);
    assert_int_equal(vgpu_decoder_finish(&d), VGPU_E_TRUNCATED);
    assert_int_equal(vgpu_decoder_feed(&d, NULL, 0, &used, &f), 0);
    assert_int_equal(used, 0);
    assert_int_equal(vgpu_decoder_feed(&d, stream + VGPU_HDR_SIZE,
                                       VGPU_ELEM_SIZE, &used, &f),
                     1);
    assert_int_equal(used, VGPU_ELEM_SIZE);
}

/* Feed a stream that begins with a bad header one byte at a time: nothing
 * happens until the 32nd byte, which fails with @want. */
static void
expect_header_error(const struct vgpu_hdr *h, uint32_t max_payload, int want)
{
    uint8_t stream[VGPU_HDR_SIZE + VGPU_HELLO_PAYLOAD_SIZE] = {0};
    uint8_t buf[VGPU_BUF_SIZE];
    struct vgpu_decoder d;
    struct vgpu_frame f;
    size_t used;
    size_t i;

    vgpu_hdr_pack(h, stream);
    vgpu_decoder_init(&d, buf, sizeof(buf), max_payload);
    for (i = 0; i + 1 < VGPU_HDR_SIZE; i++) {
        assert_int_equal(vgpu_decoder_feed(&d, stream + i, 1, &used, &f), 0);
        assert_int_equal(used, 1);
    }
    assert_int_equal(
        vgpu_decoder_feed(&d, stream + i, sizeof(stream) - i, &used, &f), want);
    /* Only the header's last byte was taken; no payload byte was read. */
    assert_int_equal(used, 1);
    assert_int_equal(vgpu_decoder_finish(&d), want);

    /* The same in one call. */
    vgpu_decoder_init(&d, buf, sizeof(buf), max_payload);
    assert_int_equal(vgpu_decoder_feed(&d, stream, sizeof(stream), &used, &f),
                     want);
    assert_int_equal(used, VGPU_HDR_SIZE);
}

static void
test_dec_bad_magic(void **state)
{
    struct vgpu_hdr h = example_hdr(VGPU_MSG_PING);

    h.magic = VGPU_PROTO_MAGIC >> 8;
    expect_header_error(&h, VGPU_MAX_PAYLOAD, VGPU_E_BAD_MAGIC);
}

static void
test_dec_bad_version(void **state)
{
    struct vgpu_hdr h = example_hdr(VGPU_MSG_PING);

    h.version = VGPU_PROTO_VERSION + 1u;
    expect_header_error(&h, VGPU_MAX_PAYLOAD, VGPU_E_BAD_VERSION);
}

static void
test_dec_bad_type_zero(void **state)
{
    struct vgpu_hdr h = example_hdr(0);

    expect_header_error(&h, VGPU_MAX_PAYLOAD, VGPU_E_BAD_TYPE);
}

static void
test_dec_bad_type_last(void **state)
{
    struct vgpu_hdr h = example_hdr(VGPU_MSG_LAST + 1u);

    expect_header_error(&h, VGPU_MAX_PAYLOAD, VGPU_E_BAD_TYPE);
}

static void
test_dec_too_large(void **state)
{
    struct vgpu_hdr h = example_hdr(VGPU_MSG_RESPONSE);

    /* Refused on the header alone, before any payload byte. */
    h.payload_len = VGPU_BUF_SIZE + 1u;
    expect_header_error(&h, VGPU_BUF_SIZE, VGPU_E_TOO_LARGE);
    h.payload_len = VGPU_MAX_PAYLOAD + 1u;
    expect_header_error(&h, UINT32_MAX, VGPU_E_TOO_LARGE);
    h.payload_len = UINT32_MAX;
    expect_header_error(&h, UINT32_MAX, VGPU_E_TOO_LARGE);
}

static void
test_dec_bad_hello_size(void **state)
{
    struct vgpu_hdr h = example_hdr(VGPU_MSG_HELLO);

    h.payload_len = VGPU_HELLO_PAYLOAD_SIZE - 1u;
    expect_header_error(&h, VGPU_MAX_PAYLOAD, VGPU_E_BAD_PAYLOAD);
    h.payload_len = 0;
    expect_header_error(&h, VGPU_MAX_PAYLOAD, VGPU_E_BAD_PAYLOAD);
}

static void
test_dec_finish_truncated(void **state)
{
    uint8_t stream[STREAM_CAP];
    uint8_t buf[VGPU_BUF_SIZE];
    struct expect exp[ALL_TYPES];
    struct vgpu_decoder d;
    size_t len = build_all_types(stream, sizeof(stream), exp);
    size_t first = VGPU_HDR_SIZE + exp[0].len;
    size_t cut;

    /* Every cut inside the first frame leaves the stream truncated. */
    for (cut = 1; cut < first; cut++) {
        struct recs got = {0};

        vgpu_decoder_init(&d, buf, sizeof(buf), VGPU_MAX_PAYLOAD);
        assert_int_equal(feed_all(&d, stream, cut, &got), 0);
        assert_int_equal(got.count, 0);
        assert_int_equal(vgpu_decoder_finish(&d), VGPU_E_TRUNCATED);
    }
    /* A stream cut at a frame boundary is not. */
    {
        struct recs got = {0};

        vgpu_decoder_init(&d, buf, sizeof(buf), VGPU_MAX_PAYLOAD);
        assert_int_equal(vgpu_decoder_finish(&d), 0);
        assert_int_equal(feed_all(&d, stream, first, &got), 0);
        assert_int_equal(vgpu_decoder_finish(&d), 0);
        assert_int_equal(feed_all(&d, stream + first, len - first - 1, &got),
                         0);
        assert_int_equal(vgpu_decoder_finish(&d), VGPU_E_TRUNCATED);
    }
}

static void
test_dec_sticky_error_and_reset(void **state)
{
    uint8_t stream[STREAM_CAP];
    uint8_t bad[VGPU_HDR_SIZE];
    uint8_t buf[VGPU_BUF_SIZE];
    struct expect exp[ALL_TYPES];
    struct vgpu_hdr h = example_hdr(VGPU_MSG_PING);
    struct vgpu_decoder d;
    struct vgpu_frame f;
    struct recs got = {0};
    size_t len = build_all_types(stream, sizeof(stream), exp);
    size_t used;

    h.version = 0;
    vgpu_hdr_pack(&h, bad);
    vgpu_decoder_init(&d, buf, sizeof(buf), VGPU_MAX_PAYLOAD);
    assert_int_equal(vgpu_decoder_feed(&d, bad, sizeof(bad), &used, &f),
                     VGPU_E_BAD_VERSION);
    /* Good bytes after the error change nothing and are not consumed. */
    used = SIZE_MAX;
    assert_int_equal(vgpu_decoder_feed(&d, stream, len, &used, &f),
                     VGPU_E_BAD_VERSION);
    assert_int_equal(used, 0);
    assert_int_equal(vgpu_decoder_finish(&d), VGPU_E_BAD_VERSION);

    vgpu_decoder_reset(&d);
    assert_int_equal(vgpu_decoder_finish(&d), 0);
    assert_int_equal(feed_all(&d, stream, len, &got), 0);
    assert_recs_match(&got, exp, ALL_TYPES);
}

static void
test_dec_reset_mid_frame(void **state)
{
    uint8_t stream[STREAM_CAP];
    uint8_t buf[VGPU_BUF_SIZE];
    struct expect exp[ALL_TYPES];
    struct vgpu_decoder d;
    struct recs got = {0};
    size_t len = build_all_types(stream, sizeof(stream), exp);

    vgpu_decoder_init(&d, buf, sizeof(buf), VGPU_MAX_PAYLOAD);
    assert_int_equal(feed_all(&d, stream, VGPU_HDR_SIZE + 1u, &got), 0);
    assert_int_equal(vgpu_decoder_finish(&d), VGPU_E_TRUNCATED);
    vgpu_decoder_reset(&d);
    assert_int_equal(vgpu_decoder_finish(&d), 0);
    assert_int_equal(feed_all(&d, stream, len, &got), 0);
    assert_recs_match(&got, exp, ALL_TYPES);
}

/* A payload larger than the buffer but within the limit is read, discarded
 * and reported truncated; the next frame decodes normally. */
static void
check_oversize(size_t buf_cap, size_t big_len, bool bytewise)
{
    uint8_t stream[STREAM_CAP];
    uint8_t big[STREAM_CAP / 2];
    uint8_t *buf = malloc(buf_cap);
    struct vgpu_hdr h = example_hdr(VGPU_MSG_RESPONSE);
    struct vgpu_decoder d;
    struct recs got = {0};
    size_t len;
    size_t i;

    assert_non_null(buf);
    assert_in_range(big_len, 0, sizeof(big));
    for (i = 0; i < big_len; i++) {
        big[i] = (uint8_t)i;
    }
    len = put_frame(stream, sizeof(stream), &h, big, big_len);
    h.request_id++;
    len += put_frame(stream + len, sizeof(stream) - len, &h, big, buf_cap);
    h.type = VGPU_MSG_PING;
    len += put_frame(stream + len, sizeof(stream) - len, &h, NULL, 0);

    vgpu_decoder_init(&d, buf, buf_cap, VGPU_MAX_PAYLOAD);
    if (bytewise) {
        for (i = 0; i < len; i++) {
            assert_int_equal(feed_all(&d, stream + i, 1, &got), 0);
        }
    } else {
        assert_int_equal(feed_all(&d, stream, len, &got), 0);
    }
    assert_int_equal(got.count, 3);
    assert_int_equal(got.r[0].hdr.payload_len, big_len);
    assert_true(got.r[0].truncated);
    assert_false(got.r[0].has_payload);
    /* A payload of exactly the buffer's size is kept whole. */
    assert_int_equal(got.r[1].hdr.payload_len, buf_cap);
    assert_int_equal(got.r[1].hdr.request_id, EX_REQUEST_ID + 1u);
    assert_false(got.r[1].truncated);
    assert_true(got.r[1].has_payload);
    assert_memory_equal(got.r[1].payload, big, buf_cap);
    assert_int_equal(got.r[2].hdr.type, VGPU_MSG_PING);
    assert_false(got.r[2].truncated);
    assert_int_equal(vgpu_decoder_finish(&d), 0);
    free(buf);
}

static void
test_dec_oversize_discarded(void **state)
{
    check_oversize(SMALL_BUF, VGPU_BUF_SIZE / 8u, false);
    check_oversize(SMALL_BUF, VGPU_BUF_SIZE / 8u, true);
}

/* SPEC.md section 7: the device reads a RESPONSE over 1024 bytes whole and
 * discards it; the connection stays usable. */
static void
test_dec_response_over_buffer(void **state)
{
    check_oversize(VGPU_BUF_SIZE, VGPU_BUF_SIZE + 1u, false);
    check_oversize(VGPU_BUF_SIZE, VGPU_BUF_SIZE + 1u, true);
}

static void
test_dec_limit_clamped(void **state)
{
    uint8_t hdr[VGPU_HDR_SIZE];
    uint8_t buf[VGPU_BUF_SIZE];
    uint8_t *zeros = calloc(1, VGPU_MAX_PAYLOAD);
    struct vgpu_hdr h = example_hdr(VGPU_MSG_RESPONSE);
    struct vgpu_decoder d;
    struct vgpu_frame f;
    size_t used;

    assert_non_null(zeros);
    /* A limit over 1 MiB is 1 MiB. */
    h.payload_len = VGPU_MAX_PAYLOAD + 1u;
    vgpu_hdr_pack(&h, hdr);
    vgpu_decoder_init(&d, buf, sizeof(buf), UINT32_MAX);
    assert_int_equal(vgpu_decoder_feed(&d, hdr, sizeof(hdr), &used, &f),
                     VGPU_E_TOO_LARGE);

    /* Exactly 1 MiB is accepted, read and discarded. */
    h.payload_len = VGPU_MAX_PAYLOAD;
    vgpu_hdr_pack(&h, hdr);
    vgpu_decoder_init(&d, buf, sizeof(buf), UINT32_MAX);
    assert_int_equal(vgpu_decoder_feed(&d, hdr, sizeof(hdr), &used, &f), 0);
    assert_int_equal(
        vgpu_decoder_feed(&d, zeros, VGPU_MAX_PAYLOAD - 1u, &used, &f), 0);
    assert_int_equal(used, VGPU_MAX_PAYLOAD - 1u);
    assert_int_equal(vgpu_decoder_finish(&d), VGPU_E_TRUNCATED);
    assert_int_equal(vgpu_decoder_feed(&d, zeros, VGPU_MAX_PAYLOAD, &used, &f),
                     1);
    assert_int_equal(used, 1);
    assert_true(f.truncated);
    assert_null(f.payload);
    assert_int_equal(f.hdr.payload_len, VGPU_MAX_PAYLOAD);
    free(zeros);
}

static void
test_dec_no_buffer(void **state)
{
    uint8_t stream[STREAM_CAP];
    struct expect exp[ALL_TYPES];
    struct vgpu_decoder d;
    struct recs got = {0};
    size_t len = build_all_types(stream, sizeof(stream), exp);
    size_t i;

    /* A NULL buffer counts as none, whatever capacity is claimed. */
    vgpu_decoder_init(&d, NULL, VGPU_BUF_SIZE, VGPU_MAX_PAYLOAD);
    assert_int_equal(feed_all(&d, stream, len, &got), 0);
    assert_int_equal(got.count, ALL_TYPES);
    for (i = 0; i < ALL_TYPES; i++) {
        assert_hdr_equal(&got.r[i].hdr, &exp[i].hdr);
        assert_false(got.r[i].has_payload);
        assert_int_equal(got.r[i].truncated, exp[i].len > 0);
    }
}

/* ---- Operations ---------------------------------------------------------- */

struct op_case {
    uint32_t op;
    uint32_t n;
    uint32_t k;
    uint32_t p;
    uint64_t req_len; /* expected, from the SPEC formula */
    uint64_t out_len;
};

#define ELEM VGPU_ELEM_SIZE
#define OPH  VGPU_OP_HDR_SIZE
#define MMH  VGPU_MATMUL_HDR_SIZE

static const struct op_case case_nop = {VGPU_OP_NOP, 0, 0, 0, OPH, 0};
static const struct op_case case_echo = {VGPU_OP_ECHO, 5, 0, 0, OPH + 5, 5};
static const struct op_case case_echo_max = {
    VGPU_OP_ECHO, VGPU_ECHO_MAX_N, 0, 0, VGPU_BUF_SIZE, VGPU_ECHO_MAX_N};
static const struct op_case case_add_i32 = {VGPU_OP_ADD_I32,    3,       0, 0,
                                            OPH + 2 * 3 * ELEM, 3 * ELEM};
static const struct op_case case_add_f32 = {
    VGPU_OP_ADD_F32,     VGPU_ADD_MAX_N, 0, 0, OPH + 2 * VGPU_ADD_MAX_N *ELEM,
    VGPU_ADD_MAX_N *ELEM};
static const struct op_case case_saxpy = {
    VGPU_OP_SAXPY_F32, 2, 0, 0, OPH + ELEM + 2 * 2 * ELEM, 2 * ELEM};
static const struct op_case case_dot = {VGPU_OP_DOT_F32,    4,   0, 0,
                                        OPH + 2 * 4 * ELEM, ELEM};
static const struct op_case case_matmul = {
    VGPU_OP_MATMUL_F32, 2, 3, 4, MMH + (2 * 3 + 3 * 4) * ELEM, 2 * 4 * ELEM};
static const struct op_case case_matmul_1 = {VGPU_OP_MATMUL_F32, 1,   1, 1,
                                             MMH + 2 * ELEM,     ELEM};

static const uint32_t all_ops[] = {
    VGPU_OP_NOP,       VGPU_OP_ECHO,    VGPU_OP_ADD_I32,    VGPU_OP_ADD_F32,
    VGPU_OP_SAXPY_F32, VGPU_OP_DOT_F32, VGPU_OP_MATMUL_F32,
};

/* Write the op header of a request; the operand bytes are a pattern. */
static void
build_req(uint8_t *buf, size_t len, uint32_t op, uint32_t n, uint32_t k,
          uint32_t p)
{
    size_t i;

    for (i = 0; i < len; i++) {
        buf[i] = (uint8_t)(i * 7u + 1u);
    }
    if (len >= VGPU_OP_HDR_SIZE) {
        vgpu_put_le32(buf, op);
        vgpu_put_le32(buf + U32, n);
    }
    if (len >= VGPU_MATMUL_HDR_SIZE && op == VGPU_OP_MATMUL_F32) {
        vgpu_put_le32(buf + 2 * U32, k);
        vgpu_put_le32(buf + 3 * U32, p);
    }
}

/* Validate the first @len bytes of @src from a heap copy of exactly @len
 * bytes, so that AddressSanitizer sees any read past the end. */
static int
validate_copy(const uint8_t *src, size_t len, struct vgpu_op_desc *desc,
              char *why, size_t why_len)
{
    uint8_t *copy = malloc(len);
    int rc;

    if (len > 0) {
        assert_non_null(copy);
        memcpy(copy, src, len);
    }
    rc = vgpu_op_validate(copy, len, desc, why, why_len);
    free(copy);
    return rc;
}

static void
test_op_sizes(void **state)
{
    const struct op_case *c = *state;
    size_t len = (size_t)c->req_len;
    size_t hdr = c->op == VGPU_OP_MATMUL_F32 ? MMH : OPH;
    uint8_t *req = malloc(len + 1);
    struct vgpu_op_desc desc;
    char why[WHY_CAP];
    uint8_t *copy;

    assert_non_null(req);
    assert_int_equal(vgpu_op_request_len(c->op, c->n, c->k, c->p), c->req_len);
    assert_int_equal(vgpu_op_response_len(c->op, c->n, c->k, c->p), c->out_len);
    build_req(req, len + 1, c->op, c->n, c->k, c->p);

    /* The exact size is accepted and described; the copy is exactly
     * @len bytes, so an over-read shows under AddressSanitizer. */
    copy = malloc(len);
    assert_non_null(copy);
    memcpy(copy, req, len);
    memset(&desc, 0, sizeof(desc));
    strcpy(why, "stale");
    assert_int_equal(vgpu_op_validate(copy, len, &desc, why, sizeof(why)), 0);
    assert_string_equal(why, "");
    assert_int_equal(desc.op, c->op);
    assert_int_equal(desc.n, c->n);
    assert_int_equal(desc.k, c->k);
    assert_int_equal(desc.p, c->p);
    assert_ptr_equal(desc.operands, copy + hdr);
    assert_int_equal(desc.operands_len, len - hdr);
    assert_int_equal(desc.out_len, c->out_len);
    free(copy);

    /* One byte short and one byte long are refused, naming the op (or,
     * below the op header, saying that it is short). */
    why[0] = '\0';
    assert_int_equal(validate_copy(req, len - 1, &desc, why, sizeof(why)),
                     VGPU_E_INVALID_REQUEST);
    assert_non_null(
        strstr(why, len - 1 < OPH ? "shorter" : vgpu_op_name(c->op)));
    why[0] = '\0';
    assert_int_equal(validate_copy(req, len + 1, &desc, why, sizeof(why)),
                     VGPU_E_INVALID_REQUEST);
    assert_non_null(strstr(why, vgpu_op_name(c->op)));
    free(req);
}

static void
test_op_nop_nonzero_n(void **state)
{
    uint8_t req[VGPU_OP_HDR_SIZE];
    char why[WHY_CAP];

    build_req(req, sizeof(req), VGPU_OP_NOP, 1, 0, 0);
    assert_int_equal(validate_copy(req, sizeof(req), NULL, why, sizeof(why)),
                     VGPU_E_INVALID_REQUEST);
    assert_string_equal(why, "NOP needs n=0, got n=1");
    build_req(req, sizeof(req), VGPU_OP_NOP, UINT32_MAX, 0, 0);
    assert_int_equal(validate_copy(req, sizeof(req), NULL, NULL, 0),
                     VGPU_E_INVALID_REQUEST);
}

static void
test_op_unknown(void **state)
{
    uint8_t req[VGPU_OP_HDR_SIZE];
    char why[WHY_CAP];

    build_req(req, sizeof(req), 0x99, 0, 0, 0);
    assert_int_equal(validate_copy(req, sizeof(req), NULL, why, sizeof(why)),
                     VGPU_E_INVALID_REQUEST);
    assert_string_equal(why, "unknown op 0x99");
    assert_null(vgpu_op_name(0x99));
    assert_int_equal(vgpu_op_request_len(0x99, 1, 1, 1), 0);
    assert_int_equal(vgpu_op_response_len(0x99, 1, 1, 1), 0);
    build_req(req, sizeof(req), UINT32_MAX, 0, 0, 0);
    assert_int_equal(validate_copy(req, sizeof(req), NULL, why, sizeof(why)),
                     VGPU_E_INVALID_REQUEST);
    assert_string_equal(why, "unknown op 0xffffffff");
}

static void
test_op_why_message(void **state)
{
    uint8_t req[VGPU_BUF_SIZE];
    char why[WHY_CAP];
    char want[WHY_CAP];
    size_t need = OPH + 2 * 3 * ELEM;

    build_req(req, sizeof(req), VGPU_OP_ADD_I32, 3, 0, 0);
    assert_int_equal(validate_copy(req, need - 2, NULL, why, sizeof(why)),
                     VGPU_E_INVALID_REQUEST);
    snprintf(want, sizeof(want), "ADD_I32 with n=3 needs %zu bytes, got %zu",
             need, need - 2);
    assert_string_equal(why, want);

    need = MMH + (2 * 3 + 3 * 4) * ELEM;
    build_req(req, sizeof(req), VGPU_OP_MATMUL_F32, 2, 3, 4);
    assert_int_equal(validate_copy(req, need + 4, NULL, why, sizeof(why)),
                     VGPU_E_INVALID_REQUEST);
    snprintf(want, sizeof(want),
             "MATMUL_F32 with m=2 k=3 p=4 needs %zu bytes, got %zu", need,
             need + 4);
    assert_string_equal(why, want);

    /* A short buffer truncates the reason but still terminates it. */
    memset(why, 'x', sizeof(why));
    assert_int_equal(validate_copy(req, need + 4, NULL, why, ELEM),
                     VGPU_E_INVALID_REQUEST);
    assert_int_equal(strlen(why), ELEM - 1);
    /* why_len 0 writes nothing; why NULL is allowed. */
    memset(why, 'x', sizeof(why));
    assert_int_equal(validate_copy(req, need + 4, NULL, why, 0),
                     VGPU_E_INVALID_REQUEST);
    assert_int_equal(why[0], 'x');
    assert_int_equal(validate_copy(req, need + 4, NULL, NULL, sizeof(why)),
                     VGPU_E_INVALID_REQUEST);
    /* desc and why are optional on success too. */
    assert_int_equal(validate_copy(req, need, NULL, NULL, 0), 0);
}

/* Requests shorter than their op header are refused without reading past
 * their end: 0..7 bytes for every op, 8..15 for MATMUL_F32. */
static void
test_op_short_buffers(void **state)
{
    uint8_t req[VGPU_MATMUL_HDR_SIZE];
    char why[WHY_CAP];
    size_t i;
    size_t len;

    for (i = 0; i < ARRAY_LEN(all_ops); i++) {
        build_req(req, sizeof(req), all_ops[i], 1, 1, 1);
        for (len = 0; len < VGPU_OP_HDR_SIZE; len++) {
            assert_int_equal(validate_copy(req, len, NULL, why, sizeof(why)),
                             VGPU_E_INVALID_REQUEST);
            assert_non_null(strstr(why, "shorter"));
        }
    }
    build_req(req, sizeof(req), VGPU_OP_MATMUL_F32, 0, 0, 0);
    for (len = VGPU_OP_HDR_SIZE; len < VGPU_MATMUL_HDR_SIZE; len++) {
        assert_int_equal(validate_copy(req, len, NULL, why, sizeof(why)),
                         VGPU_E_INVALID_REQUEST);
        assert_non_null(strstr(why, "MATMUL_F32"));
    }
    /* m = k = p = 0 is exactly the matmul header. */
    assert_int_equal(validate_copy(req, VGPU_MATMUL_HDR_SIZE, NULL, NULL, 0),
                     0);
    assert_int_equal(vgpu_op_validate(NULL, 0, NULL, why, sizeof(why)),
                     VGPU_E_INVALID_REQUEST);
    assert_int_equal(vgpu_op_validate(NULL, VGPU_OP_HDR_SIZE, NULL, NULL, 0),
                     VGPU_E_INVALID_REQUEST);
}

/* A count whose length wraps in 32 (or, for MATMUL_F32, 64) bits must not
 * match the small buffer that the wrapped length would name. */
static void
check_wrap(uint32_t op, uint32_t n, uint32_t k, uint32_t p, size_t wrapped)
{
    uint8_t req[VGPU_BUF_SIZE];
    char why[WHY_CAP];

    assert_in_range(wrapped, 0, sizeof(req));
    assert_int_not_equal(vgpu_op_request_len(op, n, k, p), wrapped);
    build_req(req, sizeof(req), op, n, k, p);
    assert_int_equal(validate_copy(req, wrapped, NULL, why, sizeof(why)),
                     VGPU_E_INVALID_REQUEST);
    assert_non_null(strstr(why, vgpu_op_name(op)));
}

static void
test_op_huge_counts(void **state)
{
    const uint32_t n8 = UINT32_MAX / (2 * ELEM) + 2u; /* 8n wraps to 8 */
    const uint32_t half = 1u << 31;

    /* ADD/DOT: 8 + 8n; SAXPY: 12 + 8n; ECHO 8 + n. In 64 bits, exact. */
    assert_int_equal(vgpu_op_request_len(VGPU_OP_ADD_I32, UINT32_MAX, 0, 0),
                     OPH + 2 * ELEM * (uint64_t)UINT32_MAX);
    assert_int_equal(vgpu_op_request_len(VGPU_OP_SAXPY_F32, UINT32_MAX, 0, 0),
                     OPH + ELEM + 2 * ELEM * (uint64_t)UINT32_MAX);
    assert_int_equal(vgpu_op_request_len(VGPU_OP_ECHO, UINT32_MAX, 0, 0),
                     OPH + (uint64_t)UINT32_MAX);
    assert_int_equal(vgpu_op_response_len(VGPU_OP_ADD_F32, UINT32_MAX, 0, 0),
                     ELEM * (uint64_t)UINT32_MAX);

    check_wrap(VGPU_OP_ADD_I32, n8, 0, 0,
               (uint32_t)(OPH + 2 * ELEM * (uint32_t)n8));
    check_wrap(VGPU_OP_ADD_F32, n8, 0, 0,
               (uint32_t)(OPH + 2 * ELEM * (uint32_t)n8));
    check_wrap(VGPU_OP_DOT_F32, n8, 0, 0,
               (uint32_t)(OPH + 2 * ELEM * (uint32_t)n8));
    check_wrap(VGPU_OP_SAXPY_F32, n8 - 1u, 0, 0,
               (uint32_t)(OPH + ELEM + 2 * ELEM * (uint32_t)(n8 - 1u)));
    check_wrap(VGPU_OP_ECHO, UINT32_MAX, 0, 0, OPH);
    check_wrap(VGPU_OP_ADD_I32, UINT32_MAX, 0, 0, OPH);

    /* MATMUL_F32: 16 + 4(m*k + k*p) is 16 + 2^65 here, which a plain 64-bit
     * sum wraps to 16. The length saturates instead. */
    assert_int_equal(vgpu_op_request_len(VGPU_OP_MATMUL_F32, half, half, half),
                     UINT64_MAX);
    check_wrap(VGPU_OP_MATMUL_F32, half, half, half,
               (size_t)(uint64_t)(MMH + ELEM * ((uint64_t)half * half +
                                                (uint64_t)half * half)));
    check_wrap(VGPU_OP_MATMUL_F32, UINT32_MAX, UINT32_MAX, UINT32_MAX, MMH);
    assert_int_equal(vgpu_op_request_len(VGPU_OP_MATMUL_F32, UINT32_MAX,
                                         UINT32_MAX, UINT32_MAX),
                     UINT64_MAX);
    assert_int_equal(vgpu_op_request_len(VGPU_OP_MATMUL_F32, 1, half, 1),
                     MMH + ELEM * (2 * (uint64_t)half));
    /* m*p*4 over 64 bits saturates too. */
    assert_int_equal(
        vgpu_op_response_len(VGPU_OP_MATMUL_F32, UINT32_MAX, 1, UINT32_MAX),
        UINT64_MAX);
    assert_int_equal(vgpu_op_response_len(VGPU_OP_MATMUL_F32, half, 1, 2),
                     ELEM * (2 * (uint64_t)half));
}

/* k = 0 makes a 16-byte MATMUL_F32 whatever m and p are: the request is
 * well-formed, and out_len tells the caller the response cannot fit. */
static void
test_op_matmul_k_zero(void **state)
{
    uint8_t req[VGPU_MATMUL_HDR_SIZE];
    struct vgpu_op_desc desc;

    build_req(req, sizeof(req), VGPU_OP_MATMUL_F32, UINT32_MAX, 0, UINT32_MAX);
    assert_int_equal(validate_copy(req, sizeof(req), &desc, NULL, 0), 0);
    assert_int_equal(desc.operands_len, 0);
    assert_int_equal(desc.out_len, UINT64_MAX);
}

/* The largest counts of SPEC.md section 8 fit the 1 KiB buffer; one more
 * does not. */
#define FITS(x)     assert_in_range((x), 0, VGPU_BUF_SIZE)
#define NOT_FITS(x) assert_in_range((x), VGPU_BUF_SIZE + 1u, UINT64_MAX)

static void
test_op_buffer_limits(void **state)
{
    assert_int_equal(vgpu_op_request_len(VGPU_OP_ECHO, VGPU_ECHO_MAX_N, 0, 0),
                     VGPU_BUF_SIZE);
    NOT_FITS(vgpu_op_request_len(VGPU_OP_ECHO, VGPU_ECHO_MAX_N + 1u, 0, 0));
    FITS(vgpu_op_request_len(VGPU_OP_ADD_I32, VGPU_ADD_MAX_N, 0, 0));
    NOT_FITS(vgpu_op_request_len(VGPU_OP_ADD_I32, VGPU_ADD_MAX_N + 1u, 0, 0));
    FITS(vgpu_op_request_len(VGPU_OP_SAXPY_F32, VGPU_SAXPY_MAX_N, 0, 0));
    NOT_FITS(
        vgpu_op_request_len(VGPU_OP_SAXPY_F32, VGPU_SAXPY_MAX_N + 1u, 0, 0));
    FITS(vgpu_op_request_len(VGPU_OP_DOT_F32, VGPU_DOT_MAX_N, 0, 0));
    NOT_FITS(vgpu_op_request_len(VGPU_OP_DOT_F32, VGPU_DOT_MAX_N + 1u, 0, 0));
    assert_int_equal(vgpu_op_request_len(VGPU_OP_MATMUL_F32, 1,
                                         VGPU_MATMUL_MAX_IN_ELEMS / 2u, 1),
                     VGPU_BUF_SIZE);
    assert_int_equal(vgpu_op_response_len(VGPU_OP_MATMUL_F32,
                                          VGPU_MATMUL_MAX_OUT_ELEMS, 0, 1),
                     VGPU_BUF_SIZE);
    assert_int_equal(vgpu_op_response_len(VGPU_OP_NOP, 0, 0, 0), 0);
    assert_int_equal(vgpu_op_response_len(VGPU_OP_DOT_F32, UINT32_MAX, 0, 0),
                     ELEM);
}

static void
test_op_name_lookup(void **state)
{
    static const struct {
        uint32_t op;
        const char *name;
        const char *lower;
    } names[] = {
        {VGPU_OP_NOP, "NOP", "nop"},
        {VGPU_OP_ECHO, "ECHO", "echo"},
        {VGPU_OP_ADD_I32, "ADD_I32", "add_i32"},
        {VGPU_OP_ADD_F32, "ADD_F32", "add_f32"},
        {VGPU_OP_SAXPY_F32, "SAXPY_F32", "saxpy_f32"},
        {VGPU_OP_DOT_F32, "DOT_F32", "dot_f32"},
        {VGPU_OP_MATMUL_F32, "MATMUL_F32", "matmul_f32"},
    };
    size_t i;
    uint32_t op;

    assert_int_equal(ARRAY_LEN(names), ARRAY_LEN(all_ops));
    for (i = 0; i < ARRAY_LEN(names); i++) {
        assert_string_equal(vgpu_op_name(names[i].op), names[i].name);
        op = UINT32_MAX;
        assert_int_equal(vgpu_op_lookup(names[i].name, &op), 0);
        assert_int_equal(op, names[i].op);
        op = UINT32_MAX;
        assert_int_equal(vgpu_op_lookup(names[i].lower, &op), 0);
        assert_int_equal(op, names[i].op);
        assert_int_equal(vgpu_op_lookup(vgpu_op_name(all_ops[i]), &op), 0);
        assert_int_equal(op, all_ops[i]);
    }
    assert_int_equal(vgpu_op_lookup("Add_I32", &op), 0);
    assert_int_equal(op, VGPU_OP_ADD_I32);
    assert_int_equal(vgpu_op_lookup("sAxPy_F32", NULL), 0);
    assert_int_equal(vgpu_op_lookup("add_i64", &op), -ENOENT);
    assert_int_equal(vgpu_op_lookup("add_i3", &op), -ENOENT);
    assert_int_equal(vgpu_op_lookup("add_i32x", &op), -ENOENT);
    assert_int_equal(vgpu_op_lookup("add i32", &op), -ENOENT);
    assert_int_equal(vgpu_op_lookup("", &op), -ENOENT);
    assert_int_equal(vgpu_op_lookup(NULL, &op), -ENOENT);
}

/* ---- Priority and pool names ----------------------------------------------
 */

/* vgpu_prio_parse() of the C string @s with @flags: the priority, or -1. */
static int
prio_of(const char *s, unsigned flags)
{
    uint8_t p = 0xEE;

    if (vgpu_prio_parse(s, strlen(s), flags, &p) != 0) {
        assert_int_equal(p, 0xEE); /* untouched on failure */
        return -1;
    }
    return p;
}

static void
test_prio_name(void **state)
{
    assert_string_equal(vgpu_prio_name(VGPU_PRIO_LOW), "low");
    assert_string_equal(vgpu_prio_name(VGPU_PRIO_MEDIUM), "medium");
    assert_string_equal(vgpu_prio_name(VGPU_PRIO_HIGH), "high");
    assert_null(vgpu_prio_name(VGPU_PRIO_COUNT));
    assert_null(vgpu_prio_name(UINT32_MAX));
}

static void
test_prio_parse_names(void **state)
{
    for (uint32_t p = 0; p < VGPU_PRIO_COUNT; p++) {
        assert_int_equal(prio_of(vgpu_prio_name(p), 0), (int)p);
    }
    assert_int_equal(prio_of("HIGH", 0), -1);
    assert_int_equal(prio_of("2", 0), -1);
    assert_int_equal(prio_of("h", 0), -1);
    assert_int_equal(prio_of("", 0), -1);
    assert_int_equal(prio_of("hig", 0), -1);
    assert_int_equal(prio_of("highx", 0), -1);
    assert_int_equal(prio_of("urgent", VGPU_PARSE_DIGITS | VGPU_PARSE_INITIALS |
                                           VGPU_PARSE_ANYCASE),
                     -1);
    assert_int_equal(vgpu_prio_parse(NULL, 0, 0, NULL), -ENOENT);
}

/* Only @len bytes count: the legacy parser hands a field of a line. */
static void
test_prio_parse_length(void **state)
{
    uint8_t p = 0xEE;

    assert_int_equal(vgpu_prio_parse("low:2:1", 3, 0, &p), 0);
    assert_int_equal(p, VGPU_PRIO_LOW);
    assert_int_equal(vgpu_prio_parse("medium", 3, 0, &p), -ENOENT);
    assert_int_equal(vgpu_prio_parse("2:1", 1, VGPU_PARSE_DIGITS, &p), 0);
    assert_int_equal(p, VGPU_PRIO_HIGH);
}

static void
test_prio_parse_flags(void **state)
{
    assert_int_equal(prio_of("0", VGPU_PARSE_DIGITS), VGPU_PRIO_LOW);
    assert_int_equal(prio_of("1", VGPU_PARSE_DIGITS), VGPU_PRIO_MEDIUM);
    assert_int_equal(prio_of("2", VGPU_PARSE_DIGITS), VGPU_PRIO_HIGH);
    assert_int_equal(prio_of("3", VGPU_PARSE_DIGITS), -1);
    assert_int_equal(prio_of("01", VGPU_PARSE_DIGITS), -1);
    assert_int_equal(prio_of("l", VGPU_PARSE_INITIALS), VGPU_PRIO_LOW);
    assert_int_equal(prio_of("m", VGPU_PARSE_INITIALS), VGPU_PRIO_MEDIUM);
    assert_int_equal(prio_of("h", VGPU_PARSE_INITIALS), VGPU_PRIO_HIGH);
    assert_int_equal(prio_of("H", VGPU_PARSE_INITIALS), -1);
    assert_int_equal(prio_of("H", VGPU_PARSE_INITIALS | VGPU_PARSE_ANYCASE),
                     VGPU_PRIO_HIGH);
    assert_int_equal(prio_of("MeDiUm", VGPU_PARSE_ANYCASE), VGPU_PRIO_MEDIUM);
    assert_int_equal(prio_of("x", VGPU_PARSE_INITIALS), -1);
    assert_int_equal(prio_of("1", VGPU_PARSE_INITIALS), -1);
}

static void
test_pool_valid(void **state)
{
    for (uint32_t c = 0; c < 256; c++) {
        assert_int_equal(vgpu_pool_valid(c), c >= 'A' && c <= 'Z');
    }
    assert_false(vgpu_pool_valid('A' + 256));
}

static void
test_pool_parse(void **state)
{
    uint8_t pool = 0;

    assert_int_equal(vgpu_pool_parse("A", 1, 0, &pool), 0);
    assert_int_equal(pool, 'A');
    assert_int_equal(vgpu_pool_parse("Z:1", 1, 0, &pool), 0);
    assert_int_equal(pool, 'Z');
    pool = 0;
    assert_int_equal(vgpu_pool_parse("a", 1, 0, &pool), -EINVAL);
    assert_int_equal(vgpu_pool_parse("AB", 2, 0, &pool), -EINVAL);
    assert_int_equal(vgpu_pool_parse("", 0, 0, &pool), -EINVAL);
    assert_int_equal(vgpu_pool_parse("@", 1, 0, &pool), -EINVAL);
    assert_int_equal(vgpu_pool_parse("[", 1, 0, &pool), -EINVAL);
    assert_int_equal(vgpu_pool_parse(NULL, 1, 0, &pool), -EINVAL);
    assert_int_equal(pool, 0);
    assert_int_equal(vgpu_pool_parse("q", 1, VGPU_PARSE_ANYCASE, &pool), 0);
    assert_int_equal(pool, 'Q');
    assert_int_equal(vgpu_pool_parse("1", 1, VGPU_PARSE_ANYCASE, &pool),
                     -EINVAL);
}

/* vgpu_parse_decimal() of the C string @s: the value, or -1. */
static long long
decimal_of(const char *s, uint32_t max)
{
    uint32_t v = 0xDEADBEEF;

    if (vgpu_parse_decimal(s, strlen(s), max, &v) != 0) {
        assert_int_equal(v, 0xDEADBEEF); /* untouched on failure */
        return -1;
    }
    return v;
}

static void
test_parse_decimal(void **state)
{
    uint32_t v = 0;

    assert_int_equal(decimal_of("0", 0), 0);
    assert_int_equal(decimal_of("1023", 1023), 1023);
    assert_int_equal(decimal_of("1024", 1023), -1);
    assert_int_equal(decimal_of("007", 10), 7);
    assert_int_equal(decimal_of("4294967295", UINT32_MAX), UINT32_MAX);
    assert_int_equal(decimal_of("4294967296", UINT32_MAX), -1);
    assert_int_equal(decimal_of("99999999999999999999", UINT32_MAX), -1);
    assert_int_equal(decimal_of("", 10), -1);
    assert_int_equal(decimal_of("+1", 10), -1);
    assert_int_equal(decimal_of("-1", 10), -1);
    assert_int_equal(decimal_of(" 1", 10), -1);
    assert_int_equal(decimal_of("1 ", 10), -1);
    assert_int_equal(decimal_of("0x1", 10), -1);
    assert_int_equal(vgpu_parse_decimal("12abc", 2, 99, &v), 0);
    assert_int_equal(v, 12);
    assert_int_equal(vgpu_parse_decimal(NULL, 1, 99, &v), -EINVAL);
}

/* vgpu_vm_id_parse() of the C string @s: the vm_id, or -1. */
static long long
vm_id_of(const char *s)
{
    uint32_t v = 0;

    if (vgpu_vm_id_parse(s, strlen(s), &v) != 0) {
        return -1;
    }
    return v;
}

/* One vm_id rule: 1..4294967295, decimal, no leading zero. */
static void
test_vm_id_parse(void **state)
{
    uint8_t p = 0;
    uint32_t v = 5;

    assert_int_equal(vm_id_of("1"), 1);
    assert_int_equal(vm_id_of("200"), 200);
    assert_int_equal(vm_id_of("4294967295"), 4294967295ll);
    assert_int_equal(vm_id_of("0"), -1);
    assert_int_equal(vm_id_of("007"), -1);
    assert_int_equal(vm_id_of("012"), -1);
    assert_int_equal(vm_id_of("4294967296"), -1);
    assert_int_equal(vm_id_of("+7"), -1);
    assert_int_equal(vm_id_of(" 7"), -1);
    assert_int_equal(vm_id_of("0x7"), -1);
    assert_int_equal(vm_id_of(""), -1);
    assert_int_equal(vgpu_vm_id_parse(NULL, 1, &v), -EINVAL);
    assert_int_equal(v, 5); /* untouched on failure */
    assert_int_equal(vgpu_vm_id_parse("12:3", 2, &v), 0);
    assert_int_equal(v, 12);
    /* The one priority vocabulary: names in any case, or the digits. */
    assert_int_equal(vgpu_prio_parse("2", 1, VGPU_PARSE_PRIORITY, &p), 0);
    assert_int_equal(p, VGPU_PRIO_HIGH);
    assert_int_equal(vgpu_prio_parse("Low", 3, VGPU_PARSE_PRIORITY, &p), 0);
    assert_int_equal(p, VGPU_PRIO_LOW);
    assert_int_equal(vgpu_prio_parse("3", 1, VGPU_PARSE_PRIORITY, &p), -ENOENT);
    assert_int_equal(vgpu_prio_parse("h", 1, VGPU_PARSE_PRIORITY, &p), -ENOENT);
}

/* ---- vgpu_strerror ------------------------------------------------------- */

static void
test_strerror_device_codes(void **state)
{
    static const struct {
        unsigned int code;
        const char *name;
    } names[] = {
        {VGPU_ERR_NONE, "NONE"},
        {VGPU_ERR_BUSY, "BUSY"},
        {VGPU_ERR_INVALID_LENGTH, "INVALID_LENGTH"},
        {VGPU_ERR_MEDIATOR_UNAVAILABLE, "MEDIATOR_UNAVAILABLE"},
        {VGPU_ERR_TIMEOUT, "TIMEOUT"},
        {VGPU_ERR_INVALID_REQUEST, "INVALID_REQUEST"},
        {VGPU_ERR_BACKEND_ERROR, "BACKEND_ERROR"},
        {VGPU_ERR_RESPONSE_TOO_LARGE, "RESPONSE_TOO_LARGE"},
        {VGPU_ERR_REJECTED, "REJECTED"},
        {VGPU_ERR_PROTOCOL_ERROR, "PROTOCOL_ERROR"},
        {VGPU_ERR_DMA_ERROR, "DMA_ERROR"},
    };
    size_t i;

    assert_int_equal(ARRAY_LEN(names), VGPU_ERR_COUNT);
    for (i = 0; i < ARRAY_LEN(names); i++) {
        assert_string_equal(vgpu_strerror((int)names[i].code), names[i].name);
    }
    assert_string_equal(vgpu_strerror(VGPU_ERR_COUNT), "UNKNOWN");
    assert_string_equal(vgpu_strerror(INT_MAX), "UNKNOWN");
}

static void
assert_all_distinct(const int *codes, size_t count)
{
    size_t i;
    size_t j;

    for (i = 0; i < count; i++) {
        const char *s = vgpu_strerror(codes[i]);

        assert_non_null(s);
        assert_string_not_equal(s, "unknown error");
        assert_string_not_equal(s, "UNKNOWN");
        for (j = i + 1; j < count; j++) {
            assert_string_not_equal(s, vgpu_strerror(codes[j]));
        }
    }
}

static void
test_strerror_library_codes(void **state)
{
    int codes[LIB_CODES];
    size_t count = 0;
    int c;

    for (c = VGPU_E_LAST; c <= -(VGPU_E_BASE + 1); c++) {
        codes[count++] = c;
    }
    assert_int_equal(count, LIB_CODES);
    assert_all_distinct(codes, count);
    assert_string_equal(vgpu_strerror(-VGPU_E_BASE), "unknown error");
    assert_string_equal(vgpu_strerror(VGPU_E_LAST - 1), "unknown error");
    assert_string_equal(vgpu_strerror(INT_MIN), "unknown error");
}

static void
test_strerror_errno(void **state)
{
    static const int codes[] = {
        -EPERM,      -ENOENT,       -EINTR,        -EIO,       -E2BIG,
        -EBADF,      -EAGAIN,       -ENOMEM,       -EACCES,    -EBUSY,
        -EEXIST,     -ENODEV,       -EINVAL,       -ENOSPC,    -EPIPE,
        -ERANGE,     -ENAMETOOLONG, -ENOSYS,       -EPROTO,    -EOVERFLOW,
        -EMSGSIZE,   -ENOTSUP,      -EADDRINUSE,   -ENOBUFS,   -ENOTCONN,
        -ECONNRESET, -ETIMEDOUT,    -ECONNREFUSED, -ECANCELED,
    };
    int all[ARRAY_LEN(codes) + LIB_CODES];
    size_t i;

    assert_string_equal(vgpu_strerror(-EINVAL), "Invalid argument");
    assert_string_equal(vgpu_strerror(-ENOMEM), "Cannot allocate memory");
    assert_string_equal(vgpu_strerror(-ENOBUFS), "No buffer space available");
    /* errno texts and library texts never collide. */
    for (i = 0; i < ARRAY_LEN(codes); i++) {
        all[i] = codes[i];
    }
    for (i = 0; i < LIB_CODES; i++) {
        all[ARRAY_LEN(codes) + i] = VGPU_E_LAST + (int)i;
    }
    assert_all_distinct(all, ARRAY_LEN(all));
}

/* A descriptor from vgpu_op_validate passes the re-check; one altered
 * afterwards does not, and the reason names who checked. */
static void
test_op_desc_check(void **state)
{
    uint8_t req[VGPU_OP_HDR_SIZE + 2 * VGPU_ELEM_SIZE] = {0};
    struct vgpu_op_desc d;
    char why[128];

    (void)state;
    vgpu_put_le32(req, VGPU_OP_ADD_I32);
    vgpu_put_le32(req + 4, 1);
    assert_int_equal(vgpu_op_validate(req, sizeof(req), &d, NULL, 0), 0);
    assert_int_equal(vgpu_op_desc_check(&d, "x", why, sizeof(why)), 0);
    d.out_len++;
    assert_int_equal(vgpu_op_desc_check(&d, "cpu backend", why, sizeof(why)),
                     VGPU_E_INVALID_REQUEST);
    assert_string_equal(why,
                        "cpu backend: descriptor of ADD_I32 does not match "
                        "its counts");
    d.out_len--;
    d.operands = NULL;
    assert_int_equal(vgpu_op_desc_check(&d, "x", why, sizeof(why)),
                     VGPU_E_INVALID_REQUEST);
    d.op = 0x99;
    assert_int_equal(vgpu_op_desc_check(&d, "x", why, sizeof(why)),
                     VGPU_E_INVALID_REQUEST);
    assert_string_equal(why, "x: unknown op 0x99");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        VGPU_TEST("/proto/hdr/init", test_hdr_init),
        VGPU_TEST("/proto/hdr/roundtrip", test_hdr_roundtrip),
        VGPU_TEST("/proto/hdr/wire_offsets", test_hdr_wire_offsets),
        VGPU_TEST("/proto/hdr/check/valid", test_hdr_check_valid),
        VGPU_TEST("/proto/hdr/check/each_error", test_hdr_check_each_error),
        VGPU_TEST("/proto/hdr/check/order", test_hdr_check_order),
        VGPU_TEST("/proto/hdr/check/fixed_sizes", test_hdr_check_fixed_sizes),
        VGPU_TEST("/proto/hdr/check/ignores_flags_reserved",
                  test_hdr_check_ignores_flags_reserved),
        VGPU_TEST("/proto/hdr/check/limit_clamped",
                  test_hdr_check_limit_clamped),
        VGPU_TEST("/proto/hello/roundtrip", test_hello_roundtrip),
        VGPU_TEST("/proto/hello/bad_size", test_hello_bad_size),
        VGPU_TEST("/proto/hello_ack/roundtrip", test_hello_ack_roundtrip),
        VGPU_TEST("/proto/hello_ack/queue/roundtrip",
                  test_hello_ack_queue_roundtrip),
        VGPU_TEST("/proto/hello_ack/queue/bad_size",
                  test_hello_ack_queue_bad_size),
        VGPU_TEST("/proto/frame/layout", test_frame_layout),
        VGPU_TEST("/proto/frame/enobufs", test_frame_enobufs),
        VGPU_TEST("/proto/frame/too_large", test_frame_too_large),
        VGPU_TEST("/proto/frame/null_payload", test_frame_null_payload),
        VGPU_TEST("/proto/frame/doc_example", test_frame_doc_example),
        VGPU_TEST("/proto/decoder/every_type", test_dec_every_type),
        VGPU_TEST("/proto/decoder/one_byte_at_a_time",
                  test_dec_one_byte_at_a_time),
        VGPU_TEST("/proto/decoder/several_in_one_buffer",
                  test_dec_several_in_one_buffer),
        VGPU_TEST("/proto/decoder/split_everywhere", test_dec_split_everywhere),
        VGPU_TEST("/proto/decoder/empty_payload", test_dec_empty_payload),
        VGPU_TEST("/proto/decoder/empty_feed", test_dec_empty_feed),
        VGPU_TEST("/proto/decoder/bad_magic", test_dec_bad_magic),
        VGPU_TEST("/proto/decoder/bad_version", test_dec_bad_version),
        VGPU_TEST("/proto/decoder/bad_type_zero", test_dec_bad_type_zero),
        VGPU_TEST("/proto/decoder/bad_type_last_plus_one",
                  test_dec_bad_type_last),
        VGPU_TEST("/proto/decoder/too_large", test_dec_too_large),
        VGPU_TEST("/proto/decoder/bad_hello_size", test_dec_bad_hello_size),
        VGPU_TEST("/proto/decoder/finish_truncated", test_dec_finish_truncated),
        VGPU_TEST("/proto/decoder/sticky_error_and_reset",
                  test_dec_sticky_error_and_reset),
        VGPU_TEST("/proto/decoder/reset_mid_frame", test_dec_reset_mid_frame),
        VGPU_TEST("/proto/decoder/oversize_discarded",
                  test_dec_oversize_discarded),
        VGPU_TEST("/proto/decoder/response_over_buffer",
                  test_dec_response_over_buffer),
        VGPU_TEST("/proto/decoder/limit_clamped", test_dec_limit_clamped),
        VGPU_TEST("/proto/decoder/no_buffer", test_dec_no_buffer),
        VGPU_TEST("/proto/decoder/pause/own_buffer", test_dec_pause_own_buffer),
        VGPU_TEST("/proto/decoder/pause/discard", test_dec_pause_discard),
        VGPU_TEST("/proto/decoder/hello_ack_queue", test_dec_hello_ack_queue),
        VGPU_TEST_STATE("/proto/ops/nop/sizes", test_op_sizes, &case_nop),
        VGPU_TEST_STATE("/proto/ops/echo/sizes", test_op_sizes, &case_echo),
        VGPU_TEST_STATE("/proto/ops/echo/max_sizes", test_op_sizes,
                        &case_echo_max),
        VGPU_TEST_STATE("/proto/ops/add_i32/sizes", test_op_sizes,
                        &case_add_i32),
        VGPU_TEST_STATE("/proto/ops/add_f32/max_sizes", test_op_sizes,
                        &case_add_f32),
        VGPU_TEST_STATE("/proto/ops/saxpy_f32/sizes", test_op_sizes,
                        &case_saxpy),
        VGPU_TEST_STATE("/proto/ops/dot_f32/sizes", test_op_sizes, &case_dot),
        VGPU_TEST_STATE("/proto/ops/matmul_f32/sizes", test_op_sizes,
                        &case_matmul),
        VGPU_TEST_STATE("/proto/ops/matmul_f32/unit_sizes", test_op_sizes,
                        &case_matmul_1),
        VGPU_TEST("/proto/ops/desc_check", test_op_desc_check),
        VGPU_TEST("/proto/ops/nop/nonzero_n", test_op_nop_nonzero_n),
        VGPU_TEST("/proto/ops/unknown", test_op_unknown),
        VGPU_TEST("/proto/ops/why_message", test_op_why_message),
        VGPU_TEST("/proto/ops/short_buffers", test_op_short_buffers),
        VGPU_TEST("/proto/ops/huge_counts", test_op_huge_counts),
        VGPU_TEST("/proto/ops/matmul_f32/k_zero", test_op_matmul_k_zero),
        VGPU_TEST("/proto/ops/buffer_limits", test_op_buffer_limits),
        VGPU_TEST("/proto/ops/name_lookup", test_op_name_lookup),
        VGPU_TEST("/proto/prio/name", test_prio_name),
        VGPU_TEST("/proto/prio/parse/names", test_prio_parse_names),
        VGPU_TEST("/proto/prio/parse/length", test_prio_parse_length),
        VGPU_TEST("/proto/prio/parse/flags", test_prio_parse_flags),
        VGPU_TEST("/proto/pool/valid", test_pool_valid),
        VGPU_TEST("/proto/pool/parse", test_pool_parse),
        VGPU_TEST("/proto/decimal/parse", test_parse_decimal),
        VGPU_TEST("/proto/decimal/vm_id", test_vm_id_parse),
        VGPU_TEST("/proto/strerror/device_codes", test_strerror_device_codes),
        VGPU_TEST("/proto/strerror/library_codes", test_strerror_library_codes),
        VGPU_TEST("/proto/strerror/errno", test_strerror_errno),
    };

    return cmocka_run_group_tests_name("proto", tests, NULL, NULL);
}
