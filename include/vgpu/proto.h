/*
 * The device <-> mediator wire protocol (SPEC.md section 7) and the request
 * layout of the operations (section 8): constants, the frame codec, the
 * streaming decoder and the one validator of request bytes.
 *
 * Everything here is pure: no I/O, no allocation, no globals, no clock.
 * Every function is thread-safe on distinct objects.
 */
#ifndef VGPU_PROTO_H
#define VGPU_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vgpu/common.h"
#include "vgpu/regs.h"

/* ---- Frame header (SPEC.md section 7) ------------------------------------ */
#define VGPU_PROTO_MAGIC   0x55504756u /* bytes 'V' 'G' 'P' 'U' on the wire */
#define VGPU_PROTO_VERSION 1u
#define VGPU_HDR_SIZE      32u
#define VGPU_MAX_PAYLOAD   (1u << 20) /* 1 MiB: the largest payload_len */

/* Byte offset of each header field. */
#define VGPU_HDR_OFF_MAGIC       0u
#define VGPU_HDR_OFF_VERSION     4u
#define VGPU_HDR_OFF_TYPE        6u
#define VGPU_HDR_OFF_VM_ID       8u
#define VGPU_HDR_OFF_REQUEST_ID  12u
#define VGPU_HDR_OFF_PAYLOAD_LEN 16u
#define VGPU_HDR_OFF_POOL_ID     20u
#define VGPU_HDR_OFF_PRIORITY    21u
#define VGPU_HDR_OFF_FLAGS       22u
#define VGPU_HDR_OFF_STATUS      24u
#define VGPU_HDR_OFF_RESERVED    28u

/* Message types. */
#define VGPU_MSG_HELLO     1u /* device -> mediator: version, capabilities */
#define VGPU_MSG_HELLO_ACK 2u /* mediator -> device: caps, largest payload */
#define VGPU_MSG_REQUEST   3u /* device -> mediator: request bytes */
#define VGPU_MSG_RESPONSE  4u /* mediator -> device: response or message */
#define VGPU_MSG_ERROR     5u /* mediator -> device: reason, then close */
#define VGPU_MSG_PING      6u /* either way, no payload */
#define VGPU_MSG_PONG      7u /* either way, no payload */
#define VGPU_MSG_FIRST     VGPU_MSG_HELLO
#define VGPU_MSG_LAST      VGPU_MSG_PONG

#define VGPU_HELLO_PAYLOAD_SIZE           8u /* u32 version, u32 capabilities */
#define VGPU_HELLO_ACK_PAYLOAD_SIZE       8u /* u32 capabilities, u32 max payload */
/* The queue's HELLO_ACK (SPEC.md section 11) adds u32 max in-flight. It goes
 * only to a device whose HELLO offered VGPU_CAP_QUEUE. */
#define VGPU_HELLO_ACK_QUEUE_PAYLOAD_SIZE 12u
/* Requests a mediator accepts in flight from one queue connection unless
 * configured otherwise; an 8-byte HELLO_ACK means 1. */
#define VGPU_Q_DEFAULT_INFLIGHT           64u

/* ---- Operations (SPEC.md section 8) -------------------------------------- */
#define VGPU_OP_NOP        0x00u
#define VGPU_OP_ECHO       0x01u
#define VGPU_OP_ADD_I32    0x10u
#define VGPU_OP_ADD_F32    0x11u
#define VGPU_OP_SAXPY_F32  0x12u
#define VGPU_OP_DOT_F32    0x13u
#define VGPU_OP_MATMUL_F32 0x20u

#define VGPU_OP_HDR_SIZE     8u  /* u32 op, u32 n */
#define VGPU_MATMUL_HDR_SIZE 16u /* u32 op, u32 m, u32 k, u32 p */
#define VGPU_ELEM_SIZE       4u  /* int32 and float operands */

/*
 * The largest counts that fit one request in the 1 KiB buffer: 1016, 127,
 * 126 and 127; MATMUL_F32 needs m*k + k*p <= 252 and m*p <= 256.
 */
#define VGPU_ECHO_MAX_N           (VGPU_BUF_SIZE - VGPU_OP_HDR_SIZE)
#define VGPU_ADD_MAX_N            ((VGPU_BUF_SIZE - VGPU_OP_HDR_SIZE) / 8u)
#define VGPU_SAXPY_MAX_N          ((VGPU_BUF_SIZE - VGPU_OP_HDR_SIZE - 4u) / 8u)
#define VGPU_DOT_MAX_N            VGPU_ADD_MAX_N
#define VGPU_MATMUL_MAX_IN_ELEMS  ((VGPU_BUF_SIZE - VGPU_MATMUL_HDR_SIZE) / 4u)
#define VGPU_MATMUL_MAX_OUT_ELEMS (VGPU_BUF_SIZE / 4u)

/* The same limits in the queue, where a request and a response hold
 * VGPU_Q_MAX_XFER bytes (SPEC.md section 11): 1048568, 131071, 131070,
 * 131071. */
#define VGPU_Q_ECHO_MAX_N  (VGPU_Q_MAX_XFER - VGPU_OP_HDR_SIZE)
#define VGPU_Q_ADD_MAX_N   ((VGPU_Q_MAX_XFER - VGPU_OP_HDR_SIZE) / 8u)
#define VGPU_Q_SAXPY_MAX_N ((VGPU_Q_MAX_XFER - VGPU_OP_HDR_SIZE - 4u) / 8u)
#define VGPU_Q_DOT_MAX_N   VGPU_Q_ADD_MAX_N

/* ---- Little-endian field access ------------------------------------------ */
static inline uint16_t
vgpu_get_le16(const uint8_t *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}

static inline uint32_t
vgpu_get_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
           ((uint32_t)p[3] << 24);
}

static inline void
vgpu_put_le16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static inline void
vgpu_put_le32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

/* ---- Header codec -------------------------------------------------------- */

/* A decoded header. Host byte order; the wire form is only ever produced by
 * vgpu_hdr_pack(), never by copying this struct. */
struct vgpu_hdr {
    uint32_t magic;
    uint16_t version;
    uint16_t type;
    uint32_t vm_id;
    uint32_t request_id;
    uint32_t payload_len;
    uint8_t pool_id;
    uint8_t priority;
    uint16_t flags;
    uint32_t status;
    uint32_t reserved;
};

/**
 * vgpu_hdr_init() - fill @h with magic, version and @type; zero the rest.
 */
VGPU_EXPORT void vgpu_hdr_init(struct vgpu_hdr *h, uint16_t type);

/**
 * vgpu_hdr_pack() - write @h as the 32 little-endian wire bytes at @out.
 */
VGPU_EXPORT void vgpu_hdr_pack(const struct vgpu_hdr *h, uint8_t *out);

/**
 * vgpu_hdr_unpack() - read 32 wire bytes at @in into @h. Checks nothing;
 * see vgpu_hdr_check().
 */
VGPU_EXPORT void vgpu_hdr_unpack(const uint8_t *in, struct vgpu_hdr *h);

/**
 * vgpu_hdr_check() - decide whether a receiver accepts a header.
 * @max_payload: the receiver's payload limit (clamped to VGPU_MAX_PAYLOAD).
 *
 * Checks, in this order: magic (VGPU_E_BAD_MAGIC), version
 * (VGPU_E_BAD_VERSION), type (VGPU_E_BAD_TYPE), payload_len against
 * @max_payload (VGPU_E_TOO_LARGE), and the fixed payload size of HELLO (8),
 * HELLO_ACK (8, or 12 with the queue's in-flight count), PING and PONG (0)
 * (VGPU_E_BAD_PAYLOAD). flags and reserved are not
 * checked, so that a later version may use them.
 *
 * Return: 0 if acceptable, else the first failing code above.
 */
VGPU_EXPORT int vgpu_hdr_check(const struct vgpu_hdr *h, uint32_t max_payload);

/**
 * vgpu_frame_encode() - write a header and a payload into @buf.
 * @h:       the header; its payload_len is ignored and @len written instead.
 * @payload: @len bytes, or NULL when @len is 0.
 * @buf:     destination of VGPU_HDR_SIZE + @len bytes; @cap its size.
 *
 * Return: the number of bytes written, VGPU_E_TOO_LARGE if @len exceeds
 * VGPU_MAX_PAYLOAD, or -ENOBUFS if @cap is too small (nothing is written).
 */
VGPU_EXPORT int vgpu_frame_encode(const struct vgpu_hdr *h, const void *payload,
                                  size_t len, uint8_t *buf, size_t cap);

/* HELLO carries (version, capabilities); HELLO_ACK carries (capabilities,
 * largest payload accepted). Each packs to 8 bytes. The unpackers return 0,
 * or VGPU_E_BAD_PAYLOAD when @len is not 8. */
VGPU_EXPORT void vgpu_hello_pack(uint8_t *out, uint32_t version, uint32_t caps);
VGPU_EXPORT int vgpu_hello_unpack(const uint8_t *p, size_t len,
                                  uint32_t *version, uint32_t *caps);
VGPU_EXPORT void vgpu_hello_ack_pack(uint8_t *out, uint32_t caps,
                                     uint32_t max_payload);
VGPU_EXPORT int vgpu_hello_ack_unpack(const uint8_t *p, size_t len,
                                      uint32_t *caps, uint32_t *max_payload);

/**
 * vgpu_hello_ack_pack_queue() - the 12-byte HELLO_ACK of a queue-capable
 * mediator (SPEC.md section 11): @caps, @max_payload, then @max_inflight,
 * the most requests it accepts in flight from this connection. Send it only
 * to a device whose HELLO offered VGPU_CAP_QUEUE.
 * @out: VGPU_HELLO_ACK_QUEUE_PAYLOAD_SIZE bytes.
 */
VGPU_EXPORT void vgpu_hello_ack_pack_queue(uint8_t *out, uint32_t caps,
                                           uint32_t max_payload,
                                           uint32_t max_inflight);

/**
 * vgpu_hello_ack_unpack_queue() - read either HELLO_ACK form: 8 bytes (a
 * mediator without the queue: *@max_inflight is 1) or 12 bytes.
 * Return: 0, or VGPU_E_BAD_PAYLOAD when @len is neither 8 nor 12 or @p is
 * NULL (nothing is written then).
 */
VGPU_EXPORT int vgpu_hello_ack_unpack_queue(const uint8_t *p, size_t len,
                                            uint32_t *caps,
                                            uint32_t *max_payload,
                                            uint32_t *max_inflight);

/* ---- Streaming decoder --------------------------------------------------- */

/* One whole frame, as yielded by vgpu_decoder_feed(). */
struct vgpu_frame {
    struct vgpu_hdr hdr;
    /* hdr.payload_len bytes inside the decoder's buffer, valid until the next
     * call on the decoder; NULL when the payload is empty or truncated. */
    const uint8_t *payload;
    /* true when hdr.payload_len was within the limit but larger than the
     * decoder's buffer: the bytes were read and discarded. */
    bool truncated;
};

/* Decoder state. The fields are private; it is a struct here only so that a
 * caller can embed it without allocation. */
struct vgpu_decoder {
    uint8_t hdr_buf[VGPU_HDR_SIZE];
    size_t hdr_have;
    struct vgpu_hdr hdr;
    uint8_t *buf;
    size_t buf_cap;
    uint32_t max_payload;
    size_t payload_have;
    int state;
    int error;
    bool pause; /* vgpu_decoder_pause_at_header() */
};

/* vgpu_decoder_feed()'s answer when paused at a header (see
 * vgpu_decoder_pause_at_header()). */
#define VGPU_DECODER_HEADER 2

/**
 * vgpu_decoder_init() - prepare a decoder.
 * @buf:         storage for payloads, owned by the caller; may be NULL if
 *               @buf_cap is 0.
 * @buf_cap:     its size. A payload larger than this but within @max_payload
 *               is consumed and discarded (frame.truncated).
 * @max_payload: the receiver's limit; a larger payload_len is
 *               VGPU_E_TOO_LARGE. Clamped to VGPU_MAX_PAYLOAD.
 */
VGPU_EXPORT void vgpu_decoder_init(struct vgpu_decoder *d, uint8_t *buf,
                                   size_t buf_cap, uint32_t max_payload);

/**
 * vgpu_decoder_feed() - give the decoder bytes, in any split.
 * @data, @len: the bytes received.
 * @consumed:   set to the number of bytes of @data used.
 * @frame:      filled when a frame completes.
 *
 * Consumes bytes up to the end of the first frame that completes, and no
 * further, so the caller loops while bytes remain.
 *
 * Return: 1 when @frame holds a whole frame; VGPU_DECODER_HEADER when paused
 * at a header (vgpu_decoder_pause_at_header()); 0 when all of @data was
 * consumed and no frame completed; a negative VGPU_E_* code from
 * vgpu_hdr_check() when a header is refused. An error is sticky until
 * vgpu_decoder_reset().
 */
VGPU_EXPORT int vgpu_decoder_feed(struct vgpu_decoder *d, const uint8_t *data,
                                  size_t len, size_t *consumed,
                                  struct vgpu_frame *frame);

/**
 * vgpu_decoder_finish() - the stream has ended; was that at a frame boundary?
 * Return: 0 if so, VGPU_E_TRUNCATED if a frame was cut short, or the sticky
 * error.
 */
VGPU_EXPORT int vgpu_decoder_finish(const struct vgpu_decoder *d);

/**
 * vgpu_decoder_pause_at_header() - with @on, vgpu_decoder_feed() stops after
 * each accepted header whose payload is not empty and returns
 * VGPU_DECODER_HEADER with frame->hdr filled (payload NULL), before reading
 * any payload byte, so that the caller can decide where that payload goes
 * (vgpu_decoder_set_buffer()) and give it storage of exactly its size: a
 * receiver of large payloads holds each once, with no copy. The next feed
 * gathers the payload as usual. Kept across vgpu_decoder_reset().
 */
VGPU_EXPORT void vgpu_decoder_pause_at_header(struct vgpu_decoder *d, bool on);

/**
 * vgpu_decoder_set_buffer() - use @buf (@buf_cap bytes, owned by the caller)
 * for payloads from now on, and @max_payload as the limit of the headers to
 * come (clamped to VGPU_MAX_PAYLOAD). Call it between frames, or while
 * paused at a header (the payload of that frame then goes to @buf, or is
 * discarded as truncated when it is larger than @buf_cap).
 * Return: 0, or -EBUSY when part of a payload has been gathered already.
 */
VGPU_EXPORT int vgpu_decoder_set_buffer(struct vgpu_decoder *d, uint8_t *buf,
                                        size_t buf_cap, uint32_t max_payload);

/** vgpu_decoder_reset() - forget any partial frame and any error. */
VGPU_EXPORT void vgpu_decoder_reset(struct vgpu_decoder *d);

/* ---- Operation requests -------------------------------------------------- */

/* What vgpu_op_validate() learned about a request. */
struct vgpu_op_desc {
    uint32_t op;
    uint32_t n;              /* element count; m for MATMUL_F32 */
    uint32_t k;              /* MATMUL_F32 only, else 0 */
    uint32_t p;              /* MATMUL_F32 only, else 0 */
    const uint8_t *operands; /* first byte after the op header */
    size_t operands_len;     /* exactly what op and counts imply */
    uint64_t out_len;        /* bytes of the response this request produces */
};

/**
 * vgpu_op_name() - the SPEC.md name of @op ("ADD_I32"), or NULL if unknown.
 */
VGPU_EXPORT const char *vgpu_op_name(uint32_t op);

/**
 * vgpu_op_lookup() - the op whose name is @name, case-insensitively
 * ("add_i32" or "ADD_I32"). Return: 0 and *@op set, or -ENOENT.
 */
VGPU_EXPORT int vgpu_op_lookup(const char *name, uint32_t *op);

/* ---- Priority and pool names (SPEC.md section 6) ------------------------- */

/* Spellings vgpu_prio_parse() and vgpu_pool_parse() accept besides the
 * lower-case names and upper-case letters. */
#define VGPU_PARSE_DIGITS   (1u << 0) /* priority "0", "1", "2" */
#define VGPU_PARSE_INITIALS (1u << 1) /* priority "l", "m", "h" */
#define VGPU_PARSE_ANYCASE  (1u << 2) /* "HIGH", "High"; pool "a" */

/* The one vocabulary of a priority that every tool, property, file and
 * line a person writes accepts (docs/admin-guide.md, "Names and numbers"):
 * a name in any case, or its number. Messages print the names. */
#define VGPU_PARSE_PRIORITY (VGPU_PARSE_DIGITS | VGPU_PARSE_ANYCASE)
#define VGPU_PRIO_SPELLINGS "low, medium, high (or 0, 1, 2)"

/**
 * vgpu_prio_name() - the name of priority @prio: "low", "medium", "high",
 * or NULL when @prio is not below VGPU_PRIO_COUNT. The strings are static.
 * Thread-safe.
 */
VGPU_EXPORT const char *vgpu_prio_name(uint32_t prio);

/**
 * vgpu_prio_parse() - the priority spelled by the @len bytes at @s (no NUL
 * needed): a name of vgpu_prio_name(), exactly, plus what @flags
 * (VGPU_PARSE_*) allows. Return: 0 and *@prio set, or -ENOENT (*@prio
 * untouched). Thread-safe.
 */
VGPU_EXPORT int vgpu_prio_parse(const char *s, size_t len, unsigned flags,
                                uint8_t *prio);

/**
 * vgpu_pool_valid() - whether @pool is a pool letter, VGPU_POOL_FIRST ..
 * VGPU_POOL_LAST ('A' .. 'Z'). Thread-safe.
 */
VGPU_EXPORT bool vgpu_pool_valid(uint32_t pool);

/**
 * vgpu_pool_parse() - the pool spelled by the @len bytes at @s: exactly one
 * letter 'A' .. 'Z' (with VGPU_PARSE_ANYCASE also 'a' .. 'z', returned in
 * upper case). Return: 0 and *@pool set, or -EINVAL (*@pool untouched).
 * Thread-safe.
 */
VGPU_EXPORT int vgpu_pool_parse(const char *s, size_t len, unsigned flags,
                                uint8_t *pool);

/**
 * vgpu_parse_decimal() - the number spelled by the @len bytes at @s: one or
 * more decimal digits and nothing else (no sign, space or prefix; leading
 * zeros allowed), at most @max. The backends parse their specs with it.
 * Return: 0 and *@out set, or -EINVAL (*@out untouched) for an empty
 * string, a byte that is not a digit, or a value above @max. Thread-safe.
 */
VGPU_EXPORT int vgpu_parse_decimal(const char *s, size_t len, uint32_t max,
                                   uint32_t *out);

/* How a vm_id is written, everywhere (SPEC.md section 6: 1 .. 4294967295):
 * decimal digits without a leading zero, so that one VM has one spelling
 * (the legacy transport's directory vmN, a registry line, a log line). */
#define VGPU_VM_ID_SPELLING "1..4294967295, in decimal without a leading zero"

/**
 * vgpu_vm_id_parse() - the vm_id spelled by the @len bytes at @s (no NUL
 * needed): VGPU_VM_ID_SPELLING, nothing else ("007", "+7", " 7", "0" and
 * "4294967296" are refused). The one parser of a vm_id: vgpu-admin and the
 * registry, the device property, the legacy line and directory names.
 * Return: 0 and *@out set, or -EINVAL (*@out untouched). Thread-safe.
 */
VGPU_EXPORT int vgpu_vm_id_parse(const char *s, size_t len, uint32_t *out);

/**
 * vgpu_op_request_len() - bytes of a well-formed request for @op with counts
 * @n (m), @k and @p (@k and @p are used by MATMUL_F32 only).
 * Return: the length, or 0 when @op is unknown. Computed in 64 bits, so
 * counts near UINT32_MAX do not wrap.
 */
VGPU_EXPORT uint64_t vgpu_op_request_len(uint32_t op, uint32_t n, uint32_t k,
                                         uint32_t p);

/**
 * vgpu_op_response_len() - bytes of the response to such a request, or 0.
 */
VGPU_EXPORT uint64_t vgpu_op_response_len(uint32_t op, uint32_t n, uint32_t k,
                                          uint32_t p);

/**
 * vgpu_op_validate() - the one place that decides whether request bytes match
 * their op (SPEC.md section 8). Backends trust only what it accepted.
 * @req, @len: the request bytes; nothing past @req + @len is read.
 * @desc:      filled on success.
 * @why:       if non-NULL, receives a one-line reason on failure (UTF-8,
 *             NUL-terminated, truncated to @why_len).
 *
 * NOP must have n == 0. Return: 0, or VGPU_E_INVALID_REQUEST for an unknown
 * op, a short header, or a length other than vgpu_op_request_len().
 */
VGPU_EXPORT int vgpu_op_validate(const uint8_t *req, size_t len,
                                 struct vgpu_op_desc *desc, char *why,
                                 size_t why_len);

/**
 * vgpu_op_desc_check() - does @desc still describe a well-formed request?
 * Backends receive a struct vgpu_op_desc from vgpu_op_validate(); before they
 * touch memory they re-check it (a few multiplications) rather than trust a
 * caller that may have built or altered the struct itself: a known op, and
 * operands_len and out_len equal to what the counts imply.
 * @who: prefixed to the reason, e.g. "cpu backend".
 * Return: 0, or VGPU_E_INVALID_REQUEST with a one-line reason in @why.
 */
VGPU_EXPORT int vgpu_op_desc_check(const struct vgpu_op_desc *desc,
                                   const char *who, char *why, size_t why_len);

#endif /* VGPU_PROTO_H */
