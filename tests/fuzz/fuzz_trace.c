/*
 * Fuzz the trace decoder (vgpu/trace.h): the header and every event of an
 * arbitrary file, as vgpu-trace and vgpu-sim --replay read it.
 *
 * Checks: the decoder never reads outside the buffer (the input is a heap
 * block of exactly its size); each event it yields lies inside the buffer
 * and moves the offset forward by exactly its head and payload; an error
 * leaves the offset at the bad record; an event packs back to the same
 * head bytes; vgpu_trace_strerror() names every error.
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "vgpu/trace.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *buf = malloc(size > 0 ? size : 1);
    struct vgpu_trace_header h;
    size_t off = VGPU_TRACE_HDR_SIZE;
    int rc;

    if (buf == NULL) {
        return 0;
    }
    if (size > 0) {
        memcpy(buf, data, size);
    }
    rc = vgpu_trace_header_parse(buf, size, &h);
    FUZZ_CHECK(rc <= 0);
    FUZZ_CHECK(vgpu_trace_strerror(rc) != NULL);
    if (rc < 0) {
        /* Decode the events anyway, as a tool that skips the header would. */
        off = size < VGPU_TRACE_HDR_SIZE ? size : VGPU_TRACE_HDR_SIZE;
    } else {
        uint8_t again[VGPU_TRACE_HDR_SIZE];
        struct vgpu_trace_header h2;

        vgpu_trace_header_pack(&h, again);
        FUZZ_CHECK(vgpu_trace_header_parse(again, sizeof(again), &h2) == 0);
        FUZZ_CHECK(h2.vm_id == h.vm_id && h2.start_ns == h.start_ns);
    }
    for (;;) {
        struct vgpu_trace_event ev;
        uint8_t head[VGPU_TRACE_EV_SIZE];
        size_t before = off;

        rc = vgpu_trace_next(buf, size, &off, &ev);
        if (rc <= 0) {
            FUZZ_CHECK(off == before);
            FUZZ_CHECK(vgpu_trace_strerror(rc) != NULL);
            break;
        }
        FUZZ_CHECK(rc == 1);
        FUZZ_CHECK(off == before + VGPU_TRACE_EV_SIZE + ev.len);
        FUZZ_CHECK(off <= size);
        FUZZ_CHECK(ev.len <= VGPU_TRACE_PAYLOAD_MAX);
        FUZZ_CHECK(vgpu_trace_type_name(ev.type) != NULL);
        FUZZ_CHECK(ev.len == 0 ||
                   ev.payload == buf + before + VGPU_TRACE_EV_SIZE);
        vgpu_trace_event_pack(&ev, head);
        FUZZ_CHECK(memcmp(head, buf + before, VGPU_TRACE_EV_SIZE) == 0);
    }
    free(buf);
    return 0;
}
