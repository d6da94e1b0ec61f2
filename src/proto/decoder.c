/*
 * Streaming frame decoder. Bytes arrive in any split (one at a time, several
 * frames at once); the decoder gathers the 32-byte header, checks it the
 * moment it is whole, then gathers or discards the payload. It never reads
 * past the end of the first frame that completes, so a caller that loops on
 * the unconsumed rest sees every frame in order.
 */
#include <errno.h>
#include <string.h>

#include "vgpu/proto.h"

/* Values of struct vgpu_decoder.state. */
enum {
    DEC_HEADER = 0,  /* gathering the header into hdr_buf */
    DEC_PAYLOAD = 1, /* header accepted; gathering or discarding payload */
};

static size_t
min_size(size_t a, size_t b)
{
    return a < b ? a : b;
}

void
vgpu_decoder_init(struct vgpu_decoder *d, uint8_t *buf, size_t buf_cap,
                  uint32_t max_payload)
{
    d->buf = buf;
    d->buf_cap = buf == NULL ? 0 : buf_cap;
    d->max_payload =
        max_payload > VGPU_MAX_PAYLOAD ? VGPU_MAX_PAYLOAD : max_payload;
    d->pause = false;
    vgpu_decoder_reset(d);
}

void
vgpu_decoder_pause_at_header(struct vgpu_decoder *d, bool on)
{
    d->pause = on;
}

int
vgpu_decoder_set_buffer(struct vgpu_decoder *d, uint8_t *buf, size_t buf_cap,
                        uint32_t max_payload)
{
    if (d->state == DEC_PAYLOAD && d->payload_have > 0) {
        return -EBUSY;
    }
    d->buf = buf;
    d->buf_cap = buf == NULL ? 0 : buf_cap;
    d->max_payload =
        max_payload > VGPU_MAX_PAYLOAD ? VGPU_MAX_PAYLOAD : max_payload;
    return 0;
}

void
vgpu_decoder_reset(struct vgpu_decoder *d)
{
    memset(d->hdr_buf, 0, sizeof(d->hdr_buf));
    d->hdr_have = 0;
    vgpu_hdr_init(&d->hdr, 0);
    d->payload_have = 0;
    d->state = DEC_HEADER;
    d->error = 0;
}

/* Hand out the frame whose header is d->hdr and get ready for the next. */
static int
yield_frame(struct vgpu_decoder *d, struct vgpu_frame *frame)
{
    frame->hdr = d->hdr;
    frame->truncated = d->hdr.payload_len > d->buf_cap;
    if (d->hdr.payload_len == 0 || frame->truncated) {
        frame->payload = NULL;
    } else {
        frame->payload = d->buf;
    }
    d->hdr_have = 0;
    d->payload_have = 0;
    d->state = DEC_HEADER;
    return 1;
}

int
vgpu_decoder_feed(struct vgpu_decoder *d, const uint8_t *data, size_t len,
                  size_t *consumed, struct vgpu_frame *frame)
{
    size_t pos = 0;
    size_t take;
    int rc;

    *consumed = 0;
    if (d->error != 0) {
        return d->error;
    }

    if (d->state == DEC_HEADER) {
        take = min_size(VGPU_HDR_SIZE - d->hdr_have, len);
        if (take > 0) {
            memcpy(d->hdr_buf + d->hdr_have, data, take);
        }
        d->hdr_have += take;
        pos += take;
        *consumed = pos;
        if (d->hdr_have < VGPU_HDR_SIZE) {
            return 0;
        }
        /* Check now, before any payload byte is read: an oversize
         * payload_len or a bad magic fails on the header alone. */
        vgpu_hdr_unpack(d->hdr_buf, &d->hdr);
        rc = vgpu_hdr_check(&d->hdr, d->max_payload);
        if (rc != 0) {
            d->error = rc;
            return rc;
        }
        d->payload_have = 0;
        d->state = DEC_PAYLOAD;
        if (d->hdr.payload_len == 0) {
            return yield_frame(d, frame);
        }
        if (d->pause) {
            /* The caller places this payload; the next feed gathers it. */
            frame->hdr = d->hdr;
            frame->payload = NULL;
            frame->truncated = false;
            return VGPU_DECODER_HEADER;
        }
    }

    /* DEC_PAYLOAD: keep the bytes if they fit the buffer, else drop them. */
    take = min_size(d->hdr.payload_len - d->payload_have, len - pos);
    if (take > 0 && d->hdr.payload_len <= d->buf_cap) {
        memcpy(d->buf + d->payload_have, data + pos, take);
    }
    d->payload_have += take;
    pos += take;
    *consumed = pos;
    if (d->payload_have < d->hdr.payload_len) {
        return 0;
    }
    return yield_frame(d, frame);
}

int
vgpu_decoder_finish(const struct vgpu_decoder *d)
{
    if (d->error != 0) {
        return d->error;
    }
    if (d->state != DEC_HEADER || d->hdr_have > 0) {
        return VGPU_E_TRUNCATED;
    }
    return 0;
}
