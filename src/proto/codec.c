/*
 * Frame codec: the 32-byte header and the HELLO / HELLO_ACK payloads
 * (SPEC.md section 7). Every field is written and read byte by byte in
 * little-endian order, so the wire form never depends on the host's layout.
 */
#include <errno.h>
#include <string.h>

#include "vgpu/proto.h"

void
vgpu_hdr_init(struct vgpu_hdr *h, uint16_t type)
{
    *h = (struct vgpu_hdr){
        .magic = VGPU_PROTO_MAGIC, .version = VGPU_PROTO_VERSION, .type = type};
}

void
vgpu_hdr_pack(const struct vgpu_hdr *h, uint8_t *out)
{
    vgpu_put_le32(out + VGPU_HDR_OFF_MAGIC, h->magic);
    vgpu_put_le16(out + VGPU_HDR_OFF_VERSION, h->version);
    vgpu_put_le16(out + VGPU_HDR_OFF_TYPE, h->type);
    vgpu_put_le32(out + VGPU_HDR_OFF_VM_ID, h->vm_id);
    vgpu_put_le32(out + VGPU_HDR_OFF_REQUEST_ID, h->request_id);
    vgpu_put_le32(out + VGPU_HDR_OFF_PAYLOAD_LEN, h->payload_len);
    out[VGPU_HDR_OFF_POOL_ID] = h->pool_id;
    out[VGPU_HDR_OFF_PRIORITY] = h->priority;
    vgpu_put_le16(out + VGPU_HDR_OFF_FLAGS, h->flags);
    vgpu_put_le32(out + VGPU_HDR_OFF_STATUS, h->status);
    vgpu_put_le32(out + VGPU_HDR_OFF_RESERVED, h->reserved);
}

void
vgpu_hdr_unpack(const uint8_t *in, struct vgpu_hdr *h)
{
    h->magic = vgpu_get_le32(in + VGPU_HDR_OFF_MAGIC);
    h->version = vgpu_get_le16(in + VGPU_HDR_OFF_VERSION);
    h->type = vgpu_get_le16(in + VGPU_HDR_OFF_TYPE);
    h->vm_id = vgpu_get_le32(in + VGPU_HDR_OFF_VM_ID);
    h->request_id = vgpu_get_le32(in + VGPU_HDR_OFF_REQUEST_ID);
    h->payload_len = vgpu_get_le32(in + VGPU_HDR_OFF_PAYLOAD_LEN);
    h->pool_id = in[VGPU_HDR_OFF_POOL_ID];
    h->priority = in[VGPU_HDR_OFF_PRIORITY];
    h->flags = vgpu_get_le16(in + VGPU_HDR_OFF_FLAGS);
    h->status = vgpu_get_le32(in + VGPU_HDR_OFF_STATUS);
    h->reserved = vgpu_get_le32(in + VGPU_HDR_OFF_RESERVED);
}

/*
 * The payload size a message type must carry, or -1 when any size within the
 * limit is allowed (REQUEST, RESPONSE, ERROR).
 */
static long
fixed_payload_size(uint16_t type)
{
    switch (type) {
    case VGPU_MSG_HELLO:
        return VGPU_HELLO_PAYLOAD_SIZE;
    case VGPU_MSG_HELLO_ACK:
        /* 8, or 12 (checked by the caller) */
        return VGPU_HELLO_ACK_PAYLOAD_SIZE;
    case VGPU_MSG_PING:
    case VGPU_MSG_PONG:
        return 0;
    default:
        return -1;
    }
}

int
vgpu_hdr_check(const struct vgpu_hdr *h, uint32_t max_payload)
{
    long fixed;

    if (max_payload > VGPU_MAX_PAYLOAD) {
        max_payload = VGPU_MAX_PAYLOAD;
    }
    if (h->magic != VGPU_PROTO_MAGIC) {
        return VGPU_E_BAD_MAGIC;
    }
    if (h->version != VGPU_PROTO_VERSION) {
        return VGPU_E_BAD_VERSION;
    }
    if (h->type < VGPU_MSG_FIRST || h->type > VGPU_MSG_LAST) {
        return VGPU_E_BAD_TYPE;
    }
    if (h->payload_len > max_payload) {
        return VGPU_E_TOO_LARGE;
    }
    /* flags and reserved are deliberately not looked at: a later version
     * may give them a meaning that this one must tolerate. */
    fixed = fixed_payload_size(h->type);
    if (h->type == VGPU_MSG_HELLO_ACK &&
        h->payload_len == VGPU_HELLO_ACK_QUEUE_PAYLOAD_SIZE) {
        return 0; /* the queue's form (SPEC.md section 11) */
    }
    if (fixed >= 0 && h->payload_len != (uint32_t)fixed) {
        return VGPU_E_BAD_PAYLOAD;
    }
    return 0;
}

int
vgpu_frame_encode(const struct vgpu_hdr *h, const void *payload, size_t len,
                  uint8_t *buf, size_t cap)
{
    struct vgpu_hdr out;

    if (len > VGPU_MAX_PAYLOAD) {
        return VGPU_E_TOO_LARGE;
    }
    if (payload == NULL && len > 0) {
        return -EINVAL;
    }
    if (buf == NULL || cap < VGPU_HDR_SIZE || cap - VGPU_HDR_SIZE < len) {
        return -ENOBUFS;
    }
    out = *h;
    out.payload_len = (uint32_t)len;
    vgpu_hdr_pack(&out, buf);
    if (len > 0) {
        memcpy(buf + VGPU_HDR_SIZE, payload, len);
    }
    return (int)(VGPU_HDR_SIZE + len);
}

void
vgpu_hello_pack(uint8_t *out, uint32_t version, uint32_t caps)
{
    vgpu_put_le32(out, version);
    vgpu_put_le32(out + sizeof(uint32_t), caps);
}

int
vgpu_hello_unpack(const uint8_t *p, size_t len, uint32_t *version,
                  uint32_t *caps)
{
    if (p == NULL || len != VGPU_HELLO_PAYLOAD_SIZE) {
        return VGPU_E_BAD_PAYLOAD;
    }
    *version = vgpu_get_le32(p);
    *caps = vgpu_get_le32(p + sizeof(uint32_t));
    return 0;
}

void
vgpu_hello_ack_pack(uint8_t *out, uint32_t caps, uint32_t max_payload)
{
    vgpu_put_le32(out, caps);
    vgpu_put_le32(out + sizeof(uint32_t), max_payload);
}

int
vgpu_hello_ack_unpack(const uint8_t *p, size_t len, uint32_t *caps,
                      uint32_t *max_payload)
{
    if (p == NULL || len != VGPU_HELLO_ACK_PAYLOAD_SIZE) {
        return VGPU_E_BAD_PAYLOAD;
    }
    *caps = vgpu_get_le32(p);
    *max_payload = vgpu_get_le32(p + sizeof(uint32_t));
    return 0;
}

void
vgpu_hello_ack_pack_queue(uint8_t *out, uint32_t caps, uint32_t max_payload,
                          uint32_t max_inflight)
{
    vgpu_hello_ack_pack(out, caps, max_payload);
    vgpu_put_le32(out + VGPU_HELLO_ACK_PAYLOAD_SIZE, max_inflight);
}

int
vgpu_hello_ack_unpack_queue(const uint8_t *p, size_t len, uint32_t *caps,
                            uint32_t *max_payload, uint32_t *max_inflight)
{
    if (p == NULL || (len != VGPU_HELLO_ACK_PAYLOAD_SIZE &&
                      len != VGPU_HELLO_ACK_QUEUE_PAYLOAD_SIZE)) {
        return VGPU_E_BAD_PAYLOAD;
    }
    *caps = vgpu_get_le32(p);
    *max_payload = vgpu_get_le32(p + sizeof(uint32_t));
    /* A mediator that sends 8 bytes accepts one request in flight. */
    *max_inflight = len == VGPU_HELLO_ACK_QUEUE_PAYLOAD_SIZE
                        ? vgpu_get_le32(p + VGPU_HELLO_ACK_PAYLOAD_SIZE)
                        : 1u;
    return 0;
}
