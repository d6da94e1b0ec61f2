/*
 * Fuzz the streaming frame decoder (SPEC.md section 7, vgpu/proto.h).
 *
 * Input: one byte picks the decoder's buffer size and payload limit and
 * whether to reset after an error; one byte gives the number of split sizes
 * that follow (each 0..255, used in turn); the rest is the byte stream, fed
 * to vgpu_decoder_feed() in those splits.
 *
 * Checks: every frame that comes out is exactly the bytes of the stream at
 * that place (its header packs to them, its payload is them unless it was
 * truncated), passes vgpu_hdr_check(), re-encodes with vgpu_frame_encode()
 * and decodes again to the same header and payload; a refused header is
 * refused with what vgpu_hdr_check() says of those 32 bytes; errors are
 * sticky; feed never consumes more than it was given nor past the frame it
 * yields; vgpu_decoder_finish() agrees with where the stream stopped.
 * The stream, the split table and the decoder's buffer are heap blocks of
 * exactly their size, so ASan sees any access outside them.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "vgpu/proto.h"

/* Decoder buffer sizes tried: none, too small for anything, one byte short
 * of a full request, a full request, larger. */
static const size_t fz_caps[] = {0,   1, 8, VGPU_BUF_SIZE - 1u, VGPU_BUF_SIZE,
                                 4096};
/* Payload limits tried. */
static const uint32_t fz_limits[] = {0, 8, VGPU_BUF_SIZE, VGPU_MAX_PAYLOAD,
                                     UINT32_MAX};

#define FZ_COUNT(a) (sizeof(a) / sizeof((a)[0]))

static bool
fz_hdr_equal(const struct vgpu_hdr *a, const struct vgpu_hdr *b)
{
    return a->magic == b->magic && a->version == b->version &&
           a->type == b->type && a->vm_id == b->vm_id &&
           a->request_id == b->request_id && a->payload_len == b->payload_len &&
           a->pool_id == b->pool_id && a->priority == b->priority &&
           a->flags == b->flags && a->status == b->status &&
           a->reserved == b->reserved;
}

/* The frame's limit as the decoder applies it. */
static uint32_t
fz_clamp(uint32_t limit)
{
    return limit > VGPU_MAX_PAYLOAD ? VGPU_MAX_PAYLOAD : limit;
}

/* Re-encode @fr and decode it again with a fresh decoder. */
static void
fz_roundtrip(const struct vgpu_frame *fr, uint32_t limit)
{
    struct vgpu_decoder d;
    struct vgpu_frame again;
    uint8_t *wire;
    uint8_t *buf;
    size_t len = fr->hdr.payload_len;
    size_t consumed;
    int n;

    wire = malloc(VGPU_HDR_SIZE + len);
    buf = malloc(len == 0 ? 1 : len);
    FUZZ_CHECK(wire != NULL && buf != NULL);
    n = vgpu_frame_encode(&fr->hdr, fr->payload, len, wire,
                          VGPU_HDR_SIZE + len);
    FUZZ_CHECK(n == (int)(VGPU_HDR_SIZE + len));
    /* One byte short of room: refused, nothing written. */
    FUZZ_CHECK(vgpu_frame_encode(&fr->hdr, fr->payload, len, wire,
                                 VGPU_HDR_SIZE + len - 1u) < 0);

    vgpu_decoder_init(&d, buf, len, limit);
    FUZZ_CHECK(vgpu_decoder_feed(&d, wire, (size_t)n, &consumed, &again) == 1);
    FUZZ_CHECK(consumed == (size_t)n);
    FUZZ_CHECK(fz_hdr_equal(&again.hdr, &fr->hdr));
    FUZZ_CHECK(!again.truncated);
    FUZZ_CHECK(len == 0 || memcmp(again.payload, fr->payload, len) == 0);
    FUZZ_CHECK(vgpu_decoder_finish(&d) == 0);
    free(buf);
    free(wire);
}

/* A frame that came out of the decoder at @start of @stream. */
static void
fz_check_frame(const struct vgpu_frame *fr, const uint8_t *stream, size_t start,
               size_t end, size_t cap, uint32_t limit)
{
    uint8_t packed[VGPU_HDR_SIZE];
    size_t len = fr->hdr.payload_len;

    FUZZ_CHECK(vgpu_hdr_check(&fr->hdr, limit) == 0);
    FUZZ_CHECK(len <= fz_clamp(limit));
    FUZZ_CHECK(end == start + VGPU_HDR_SIZE + len);
    vgpu_hdr_pack(&fr->hdr, packed);
    FUZZ_CHECK(memcmp(packed, stream + start, VGPU_HDR_SIZE) == 0);
    FUZZ_CHECK(fr->truncated == (len > cap));
    if (len == 0 || fr->truncated) {
        FUZZ_CHECK(fr->payload == NULL);
    } else {
        FUZZ_CHECK(fr->payload != NULL);
        FUZZ_CHECK(memcmp(fr->payload, stream + start + VGPU_HDR_SIZE, len) ==
                   0);
        fz_roundtrip(fr, limit);
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_cursor cur;
    struct vgpu_decoder d;
    struct vgpu_frame fr;
    const uint8_t *p;
    uint8_t *splits = NULL;
    uint8_t *stream = NULL;
    uint8_t *buf;
    size_t nsplits;
    size_t len;
    size_t cap;
    size_t pos = 0;   /* bytes of the stream fed and consumed */
    size_t start = 0; /* where the frame being decoded starts */
    size_t k = 0;
    uint32_t limit;
    uint8_t mode;
    bool reset_on_error;
    int error = 0;

    fuzz_cursor_init(&cur, data, size);
    mode = fuzz_u8(&cur);
    cap = fz_caps[mode % FZ_COUNT(fz_caps)];
    limit = fz_limits[(mode / FZ_COUNT(fz_caps)) % FZ_COUNT(fz_limits)];
    reset_on_error = (mode & 0x80u) != 0;
    nsplits = fuzz_u8(&cur) % 16u;
    p = fuzz_bytes(&cur, nsplits, &nsplits);
    if (nsplits > 0) {
        splits = malloc(nsplits);
        FUZZ_CHECK(splits != NULL);
        memcpy(splits, p, nsplits);
    }
    p = fuzz_bytes(&cur, fuzz_left(&cur), &len);
    stream = malloc(len == 0 ? 1 : len);
    buf = cap == 0 ? NULL : malloc(cap);
    FUZZ_CHECK(stream != NULL && (cap == 0 || buf != NULL));
    memcpy(stream, p, len);

    vgpu_decoder_init(&d, buf, cap, limit);
    while (pos < len) {
        /* Split sizes in turn; 0 feeds an empty chunk once, then 1 byte. */
        size_t chunk = nsplits == 0 ? len - pos : splits[k++ % nsplits];
        size_t fed = 0;

        if (chunk > len - pos) {
            chunk = len - pos;
        }
        if (chunk == 0) {
            size_t consumed = 1;
            int rc = vgpu_decoder_feed(&d, stream + pos, 0, &consumed, &fr);

            FUZZ_CHECK(consumed == 0);
            FUZZ_CHECK(rc == error);
            chunk = 1;
        }
        while (fed < chunk) {
            size_t consumed = SIZE_MAX;
            int rc = vgpu_decoder_feed(&d, stream + pos, chunk - fed, &consumed,
                                       &fr);

            FUZZ_CHECK(consumed <= chunk - fed);
            if (error != 0) {
                /* Sticky: the same code, nothing consumed. */
                FUZZ_CHECK(rc == error);
                FUZZ_CHECK(consumed == 0);
                FUZZ_CHECK(vgpu_decoder_finish(&d) == error);
                if (!reset_on_error) {
                    goto out;
                }
                vgpu_decoder_reset(&d);
                FUZZ_CHECK(vgpu_decoder_finish(&d) == 0);
                error = 0;
                start = pos; /* a new stream starts here */
                continue;
            }
            pos += consumed;
            fed += consumed;
            if (rc == 1) {
                fz_check_frame(&fr, stream, start, pos, cap, limit);
                start = pos;
            } else if (rc == 0) {
                FUZZ_CHECK(fed == chunk);
            } else {
                struct vgpu_hdr h;

                /* Refused on the header alone, as vgpu_hdr_check() says. */
                FUZZ_CHECK(rc < 0);
                FUZZ_CHECK(pos == start + VGPU_HDR_SIZE);
                vgpu_hdr_unpack(stream + start, &h);
                FUZZ_CHECK(vgpu_hdr_check(&h, limit) == rc);
                error = rc;
            }
        }
    }
    if (error != 0) {
        FUZZ_CHECK(vgpu_decoder_finish(&d) == error);
    } else if (start == pos) {
        FUZZ_CHECK(vgpu_decoder_finish(&d) == 0);
    } else {
        FUZZ_CHECK(vgpu_decoder_finish(&d) == VGPU_E_TRUNCATED);
    }

out:
    free(buf);
    free(stream);
    free(splits);
    return 0;
}
