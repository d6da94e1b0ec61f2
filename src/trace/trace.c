/*
 * The trace format's codec (vgpu/trace.h, docs/trace-format.md): pure, no
 * I/O, shared by QEMU's recorder, vgpu-sim's replayer and vgpu-trace.
 */
#include <string.h>
#include <strings.h>

#include "vgpu/proto.h"
#include "vgpu/trace.h"

static const char *const type_names[VGPU_TRACE_TYPE_MAX + 1] = {
    [VGPU_TRACE_MMIO_READ] = "MMIO_READ",
    [VGPU_TRACE_MMIO_WRITE] = "MMIO_WRITE",
    [VGPU_TRACE_FRAME_OUT] = "FRAME_OUT",
    [VGPU_TRACE_FRAME_IN] = "FRAME_IN",
    [VGPU_TRACE_DMA_READ] = "DMA_READ",
    [VGPU_TRACE_DMA_WRITE] = "DMA_WRITE",
    [VGPU_TRACE_CLOCK] = "CLOCK",
    [VGPU_TRACE_IRQ] = "IRQ",
    [VGPU_TRACE_CONNECT] = "CONNECT",
    [VGPU_TRACE_CONN_UP] = "CONN_UP",
    [VGPU_TRACE_LOST] = "LOST",
    [VGPU_TRACE_LINK_LOST] = "LINK_LOST",
    [VGPU_TRACE_TIMEOUT] = "TIMEOUT",
    [VGPU_TRACE_KICK] = "KICK",
    [VGPU_TRACE_RESET] = "RESET",
    [VGPU_TRACE_DEFER] = "DEFER",
    [VGPU_TRACE_LOAD] = "LOAD",
};

static uint64_t
get_le64(const uint8_t *p)
{
    return (uint64_t)vgpu_get_le32(p) | (uint64_t)vgpu_get_le32(p + 4) << 32;
}

static void
put_le64(uint8_t *p, uint64_t v)
{
    vgpu_put_le32(p, (uint32_t)v);
    vgpu_put_le32(p + 4, (uint32_t)(v >> 32));
}

void
vgpu_trace_header_pack(const struct vgpu_trace_header *h, uint8_t *out)
{
    memset(out, 0, VGPU_TRACE_HDR_SIZE);
    memcpy(out, VGPU_TRACE_MAGIC, VGPU_TRACE_MAGIC_LEN);
    vgpu_put_le16(out + 8, VGPU_TRACE_VERSION);
    vgpu_put_le16(out + 10, VGPU_TRACE_HDR_SIZE);
    vgpu_put_le32(out + 12, h->vm_id);
    out[16] = h->pool_id;
    out[17] = h->priority;
    out[18] = h->flags;
    vgpu_put_le32(out + 20, h->timeout_ms);
    put_le64(out + 24, h->start_ns);
}

int
vgpu_trace_header_parse(const uint8_t *buf, size_t len,
                        struct vgpu_trace_header *h)
{
    if (len < VGPU_TRACE_MAGIC_LEN ||
        memcmp(buf, VGPU_TRACE_MAGIC, VGPU_TRACE_MAGIC_LEN) != 0) {
        return len < VGPU_TRACE_MAGIC_LEN &&
                       memcmp(buf, VGPU_TRACE_MAGIC, len) == 0
                   ? VGPU_TRACE_E_TRUNCATED
                   : VGPU_TRACE_E_MAGIC;
    }
    if (len < VGPU_TRACE_HDR_SIZE) {
        return VGPU_TRACE_E_TRUNCATED;
    }
    memset(h, 0, sizeof(*h));
    h->version = vgpu_get_le16(buf + 8);
    if (h->version != VGPU_TRACE_VERSION) {
        return VGPU_TRACE_E_VERSION;
    }
    h->vm_id = vgpu_get_le32(buf + 12);
    h->pool_id = buf[16];
    h->priority = buf[17];
    h->flags = buf[18];
    h->timeout_ms = vgpu_get_le32(buf + 20);
    h->start_ns = get_le64(buf + 24);
    if (vgpu_get_le16(buf + 10) != VGPU_TRACE_HDR_SIZE || h->vm_id == 0 ||
        h->pool_id < VGPU_POOL_FIRST || h->pool_id > VGPU_POOL_LAST ||
        h->priority > VGPU_PRIO_HIGH || (h->flags & ~VGPU_TRACE_F_MASK) ||
        buf[19] != 0) {
        return VGPU_TRACE_E_FIELD;
    }
    return 0;
}

void
vgpu_trace_event_pack(const struct vgpu_trace_event *ev, uint8_t *out)
{
    out[0] = ev->type;
    out[1] = ev->size;
    vgpu_put_le16(out + 2, 0);
    vgpu_put_le32(out + 4, ev->len);
    put_le64(out + 8, ev->t);
    put_le64(out + 16, ev->a);
    put_le64(out + 24, ev->b);
}

int
vgpu_trace_next(const uint8_t *buf, size_t len, size_t *off,
                struct vgpu_trace_event *ev)
{
    const uint8_t *p = buf + *off;
    size_t left = len - *off;

    if (*off >= len) {
        return 0;
    }
    if (left < VGPU_TRACE_EV_SIZE) {
        return VGPU_TRACE_E_TRUNCATED;
    }
    memset(ev, 0, sizeof(*ev));
    ev->type = p[0];
    ev->size = p[1];
    ev->len = vgpu_get_le32(p + 4);
    ev->t = get_le64(p + 8);
    ev->a = get_le64(p + 16);
    ev->b = get_le64(p + 24);
    if (ev->type == 0 || ev->type > VGPU_TRACE_TYPE_MAX ||
        vgpu_get_le16(p + 2) != 0) {
        return VGPU_TRACE_E_FIELD;
    }
    if ((ev->type == VGPU_TRACE_MMIO_READ ||
         ev->type == VGPU_TRACE_MMIO_WRITE) &&
        ((ev->size != 1 && ev->size != 2 && ev->size != 4 && ev->size != 8) ||
         ev->len != 0)) {
        return VGPU_TRACE_E_FIELD;
    }
    if (ev->len > VGPU_TRACE_PAYLOAD_MAX) {
        return VGPU_TRACE_E_OVERSIZED;
    }
    if (left - VGPU_TRACE_EV_SIZE < ev->len) {
        return VGPU_TRACE_E_TRUNCATED;
    }
    ev->payload = ev->len > 0 ? p + VGPU_TRACE_EV_SIZE : NULL;
    *off += VGPU_TRACE_EV_SIZE + ev->len;
    return 1;
}

const char *
vgpu_trace_type_name(unsigned type)
{
    return type <= VGPU_TRACE_TYPE_MAX ? type_names[type] : NULL;
}

int
vgpu_trace_type_parse(const char *name)
{
    for (unsigned t = 1; t <= VGPU_TRACE_TYPE_MAX; t++) {
        if (strcasecmp(name, type_names[t]) == 0) {
            return (int)t;
        }
    }
    return -1;
}

const char *
vgpu_trace_strerror(int err)
{
    switch (err) {
    case VGPU_TRACE_E_TRUNCATED:
        return "the file ends inside a record (truncated)";
    case VGPU_TRACE_E_MAGIC:
        return "not a vgpu-stub trace (bad magic)";
    case VGPU_TRACE_E_VERSION:
        return "a trace version this build does not read";
    case VGPU_TRACE_E_FIELD:
        return "a field out of range (corrupted)";
    case VGPU_TRACE_E_OVERSIZED:
        return "a payload over the 1 MiB maximum (corrupted)";
    default:
        return "unknown trace error";
    }
}
