/*
 * Device traces: what a vgpu-stub device saw and did, recorded in QEMU
 * (the `trace=PATH` property) and replayed in the simulator
 * (`vgpu-sim --replay PATH`), printed by `vgpu-trace`. docs/trace-format.md
 * is the format's reference.
 *
 * A trace is a header, then events, all little-endian:
 *
 *   header (VGPU_TRACE_HDR_SIZE bytes)
 *     0  u8[8] VGPU_TRACE_MAGIC      16 u8  pool_id ('A'..'Z')
 *     8  u16   version (1)           17 u8  priority (VGPU_PRIO_*)
 *    10  u16   header size (32)      18 u8  flags (VGPU_TRACE_F_*)
 *    12  u32   vm_id                 19 u8  0
 *    20  u32   timeout_ms            24 u64 start: host monotonic ns
 *
 *   event: a VGPU_TRACE_EV_SIZE-byte head, then `len` payload bytes
 *     0  u8  type (VGPU_TRACE_*)     8  u64 t: host monotonic ns
 *     1  u8  size (MMIO access size, IRQ level; else 0)
 *     2  u16 0                       16 u64 a (per type, below)
 *     4  u32 len: payload bytes      24 u64 b (per type, below)
 *
 * Inputs are what the device's world did to it (the guest, the socket, the
 * clock, QEMU); outputs are what the device did. The replayer applies the
 * inputs to a fresh device model, serves the model's requests for outside
 * data (the clock, DMA reads) from the trace, and checks every output
 * against it, in order.
 *
 * Like src/proto, this module is pure: it encodes and decodes bytes and
 * does no I/O. The recorder (vgpu_trace_rec_*, src/trace/recorder.c) owns
 * the file.
 */
#ifndef VGPU_TRACE_H
#define VGPU_TRACE_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>

#include "vgpu/common.h"
#include "vgpu/regs.h"

#define VGPU_TRACE_MAGIC       "VGPUTRC\n"
#define VGPU_TRACE_MAGIC_LEN   8u
#define VGPU_TRACE_VERSION     1u
#define VGPU_TRACE_HDR_SIZE    32u
#define VGPU_TRACE_EV_SIZE     32u
#define VGPU_TRACE_F_QUEUE     (1u << 0) /* the device offered the queue */
#define VGPU_TRACE_F_MASK      VGPU_TRACE_F_QUEUE
/* The largest payload: a queue entry's DMA or its REQUEST's payload. */
#define VGPU_TRACE_PAYLOAD_MAX VGPU_Q_MAX_XFER
/* A DMA event's b: the requested length, and the op's result. */
#define VGPU_TRACE_DMA_B(rc, len)                                              \
    (((uint64_t)(uint32_t)(int32_t)(rc) << 32) | (uint32_t)(len))
#define VGPU_TRACE_DMA_RC(b)  ((int32_t)(uint32_t)((b) >> 32))
#define VGPU_TRACE_DMA_LEN(b) ((uint32_t)(b))

/* Event types. In: applied by the replayer. Out: checked by it. Data: the
 * model asked the world, and the replayer answers from the trace. */
enum vgpu_trace_type {
    VGPU_TRACE_MMIO_READ = 1,  /* in: size, a offset, b the value read */
    VGPU_TRACE_MMIO_WRITE = 2, /* in: size, a offset, b value */
    VGPU_TRACE_FRAME_OUT = 3,  /* out: bytes given to the socket; b send rc */
    VGPU_TRACE_FRAME_IN = 4,   /* in: bytes read from the socket */
    VGPU_TRACE_DMA_READ = 5,   /* data: a addr, b DMA_B; bytes if rc 0 */
    VGPU_TRACE_DMA_WRITE = 6,  /* out: a addr, b DMA_B; the bytes */
    VGPU_TRACE_CLOCK = 7,      /* data: a the clock's value (TIMESTAMP) */
    VGPU_TRACE_IRQ = 8,        /* out: size the new level */
    VGPU_TRACE_CONNECT = 9,    /* in: a connection opened; b rc (< 0 failed) */
    VGPU_TRACE_CONN_UP = 10,   /* in: connected; the link sends HELLO */
    VGPU_TRACE_LOST = 11,      /* in: the socket ended; b status, text why */
    VGPU_TRACE_LINK_LOST = 12, /* out: the link ended it; text why */
    VGPU_TRACE_TIMEOUT = 13,   /* in: the request timer fired */
    VGPU_TRACE_KICK = 14,      /* in: output drained; the queue is kicked */
    VGPU_TRACE_RESET = 15,     /* in: device reset */
    VGPU_TRACE_DEFER = 16,     /* in: a queue entry waits (output full) */
    VGPU_TRACE_LOAD = 17,      /* in: state loaded by a migration */
    VGPU_TRACE_TYPE_MAX = VGPU_TRACE_LOAD,
};

struct vgpu_trace_header {
    uint32_t version;
    uint32_t vm_id;
    uint8_t pool_id;
    uint8_t priority;
    uint8_t flags;
    uint32_t timeout_ms;
    uint64_t start_ns;
};

struct vgpu_trace_event {
    uint8_t type;
    uint8_t size;
    uint32_t len;
    uint64_t t;
    uint64_t a;
    uint64_t b;
    const uint8_t *payload; /* decoded: points into the buffer; len bytes */
};

/* Errors of the decoder (negative errno values). */
#define VGPU_TRACE_E_TRUNCATED (-ENODATA)  /* the file ends inside a record */
#define VGPU_TRACE_E_MAGIC     (-EBADMSG)  /* not a trace */
#define VGPU_TRACE_E_VERSION   (-ENOTSUP)  /* a version this build lacks */
#define VGPU_TRACE_E_FIELD     (-EPROTO)   /* a field out of range */
#define VGPU_TRACE_E_OVERSIZED (-EMSGSIZE) /* a payload over the maximum */

/** vgpu_trace_header_pack() - VGPU_TRACE_HDR_SIZE bytes into @out. */
VGPU_EXPORT void vgpu_trace_header_pack(const struct vgpu_trace_header *h,
                                        uint8_t *out);

/**
 * vgpu_trace_header_parse() - the header at the start of @buf.
 * Return: 0, or a VGPU_TRACE_E_* value (vgpu_trace_strerror()).
 */
VGPU_EXPORT int vgpu_trace_header_parse(const uint8_t *buf, size_t len,
                                        struct vgpu_trace_header *h);

/** vgpu_trace_event_pack() - the event's VGPU_TRACE_EV_SIZE-byte head
 * (ev->len is the payload length that follows it). */
VGPU_EXPORT void vgpu_trace_event_pack(const struct vgpu_trace_event *ev,
                                       uint8_t *out);

/**
 * vgpu_trace_next() - decode the event at offset *@off of @buf (@len bytes).
 * Return: 1 with *@ev filled (its payload points into @buf) and *@off moved
 * past it; 0 at the end of @buf; or a VGPU_TRACE_E_* value, *@off left at
 * the bad record.
 */
VGPU_EXPORT int vgpu_trace_next(const uint8_t *buf, size_t len, size_t *off,
                                struct vgpu_trace_event *ev);

/** vgpu_trace_type_name() - "MMIO_WRITE" for VGPU_TRACE_MMIO_WRITE, or
 * NULL. */
VGPU_EXPORT const char *vgpu_trace_type_name(unsigned type);

/** vgpu_trace_type_parse() - the type named @name (any case), or -1. */
VGPU_EXPORT int vgpu_trace_type_parse(const char *name);

/** vgpu_trace_strerror() - one phrase for a VGPU_TRACE_E_* value. */
VGPU_EXPORT const char *vgpu_trace_strerror(int err);

/**
 * vgpu_trace_read_file() - read the trace at @path whole into a malloc'd
 * buffer (*@buf, *@len; the caller frees it). Never follows the path into
 * a FIFO or a device: only a regular file is read.
 * Return: 0, or a negative errno value (-EINVAL: not a regular file).
 */
VGPU_EXPORT int vgpu_trace_read_file(const char *path, uint8_t **buf,
                                     size_t *len);

/*
 * The recorder: events buffered in memory and written by
 * vgpu_trace_rec_flush(), which the adapter calls at the end of each of its
 * entry points (an MMIO access, a socket read, a timer), so that a crash
 * loses at most the event being handled. When the file would pass
 * @max_bytes it is renamed to PATH.1 (replacing an older one) and a new
 * file with the same header begins.
 */
struct vgpu_trace_rec {
    int fd;
    char *path;
    uint64_t max_bytes; /* 0: no limit */
    uint64_t written;   /* bytes in the current file */
    uint8_t *buf;
    size_t len;
    size_t cap;
    struct vgpu_trace_header hdr;
    int error; /* the first write error (negative errno); recording stops */
};

/**
 * vgpu_trace_rec_open() - create (truncate) @path and write the header.
 * Return: 0, or a negative errno value (@rec is then closed).
 */
VGPU_EXPORT int vgpu_trace_rec_open(struct vgpu_trace_rec *rec,
                                    const char *path, uint64_t max_bytes,
                                    const struct vgpu_trace_header *h);

/**
 * vgpu_trace_rec_event() - append an event (@payload: ev->len bytes, or
 * NULL for none). Return: its offset in the buffer, for
 * vgpu_trace_rec_set_b() before the next flush.
 */
VGPU_EXPORT size_t vgpu_trace_rec_event(struct vgpu_trace_rec *rec,
                                        const struct vgpu_trace_event *ev,
                                        const void *payload);

/** vgpu_trace_rec_set_b() - rewrite field b of the event at @pos (an MMIO
 * read's value, known only after the model answered). */
VGPU_EXPORT void vgpu_trace_rec_set_b(struct vgpu_trace_rec *rec, size_t pos,
                                      uint64_t b);

/** vgpu_trace_rec_flush() - write what is buffered, rotating first when
 * the file would pass the limit. Return: 0 or the (sticky) error. */
VGPU_EXPORT int vgpu_trace_rec_flush(struct vgpu_trace_rec *rec);

/** vgpu_trace_rec_close() - flush and close; safe on a closed recorder. */
VGPU_EXPORT void vgpu_trace_rec_close(struct vgpu_trace_rec *rec);

/** vgpu_trace_rec_active() - 1 while recording (open, no error). */
static inline int
vgpu_trace_rec_active(const struct vgpu_trace_rec *rec)
{
    return rec->fd >= 0 && rec->error == 0;
}

#endif
