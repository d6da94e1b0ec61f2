/*
 * The vgpu-stub device model: the 16 registers, the two buffers and the
 * doorbell state machine of SPEC.md sections 3-5, as a pure C library.
 *
 * The model does no I/O, allocates nothing, starts no thread, reads no clock
 * and has no globals. Everything it causes goes through the ops table given
 * to vgpu_dev_init(). QEMU's device (src/qemu_glue) and the simulator
 * (src/sim) are adapters around it.
 *
 * Threading: a device is not thread-safe; its owner serialises every call
 * (QEMU's big lock, the simulator's single thread or its per-VM lock).
 *
 * Re-entrancy: ops->submit may call vgpu_dev_complete() before it returns (the
 * simulator's deterministic mode does exactly that). The doorbell handler is
 * written for it: the request is fully in flight before submit is called, and
 * nothing the completion wrote is overwritten afterwards.
 */
#ifndef VGPU_DEVMODEL_H
#define VGPU_DEVMODEL_H

#include <stddef.h>
#include <stdint.h>

#include "vgpu/common.h"
#include "vgpu/regs.h"

/* The request handed to the transport at a doorbell. */
struct vgpu_request {
    uint32_t vm_id;
    uint32_t request_id; /* REQUEST_ID latched at the doorbell */
    uint32_t generation; /* pass back to vgpu_dev_complete() */
    uint8_t pool_id;     /* ASCII letter */
    uint8_t priority;    /* VGPU_PRIO_* */
    const uint8_t *data; /* the snapshot; valid only during ops->submit */
    uint32_t len;        /* 1 .. VGPU_BUF_SIZE */
};

/* The effects of the device, supplied by its adapter. */
struct vgpu_dev_ops {
    /* Hand a request to the transport. Return 0 when it is on its way (its
     * completion may already have happened, see above), or a VGPU_ERR_* code
     * (normally VGPU_ERR_MEDIATOR_UNAVAILABLE) to end it at once in ERROR. */
    int (*submit)(void *opaque, const struct vgpu_request *req);
    /* The interrupt condition (IRQ_CTRL & IRQ_STATUS bit 0) changed to
     * @level. Called only on a change; a rise is where MSI sends a message. */
    void (*set_irq)(void *opaque, int level);
    /* Nanoseconds on the adapter's clock, for TIMESTAMP. */
    uint64_t (*now_ns)(void *opaque);
    /* A guest did something the SPEC calls a guest error. @what is one
     * human-readable line naming the access; it is valid only during the
     * call. May be NULL to ignore guest errors. */
    void (*guest_error)(void *opaque, const char *what);
};

/* Identity of the device, fixed at init (SPEC.md section 6). */
struct vgpu_dev_config {
    uint8_t pool_id;  /* 'A' .. 'Z' */
    uint8_t priority; /* VGPU_PRIO_LOW .. VGPU_PRIO_HIGH */
    uint32_t vm_id;   /* 1 .. UINT32_MAX */
};

/* Counters for debugging and the simulator's reports. */
struct vgpu_dev_stats {
    uint64_t doorbells;       /* accepted doorbells (requests submitted) */
    uint64_t completions;     /* requests that reached DONE */
    uint64_t errors;          /* transitions to ERROR, synchronous included */
    uint64_t stale_responses; /* completions dropped: id/generation mismatch */
    uint64_t guest_errors;    /* accesses reported as guest errors */
};

/* The device. Fields are private to devmodel.c; the struct is public so that
 * an adapter can embed it (QEMU's state, vmstate) without allocation. */
struct vgpu_dev {
    const struct vgpu_dev_ops *ops;
    void *opaque;
    struct vgpu_dev_config cfg;

    uint32_t status;
    uint32_t error_code;
    uint32_t request_len;
    uint32_t response_len;
    uint32_t irq_ctrl;
    uint32_t irq_status;
    uint32_t request_id;
    uint32_t scratch;
    uint64_t timestamp;

    uint32_t inflight_id; /* REQUEST_ID latched at the doorbell */
    uint32_t generation;  /* bumped by every doorbell and every reset */
    int irq_level;        /* last level given to ops->set_irq */

    uint8_t req_buf[VGPU_BUF_SIZE];
    uint8_t resp_buf[VGPU_BUF_SIZE];
    uint8_t snapshot[VGPU_BUF_SIZE]; /* the request in flight */

    struct vgpu_dev_stats stats;
    char why[128]; /* text of the last guest error, for ops->guest_error */
};

/**
 * vgpu_dev_config_check() - is @cfg a valid identity?
 * Return: 0, or -EINVAL for a pool outside 'A'..'Z', a priority above
 * VGPU_PRIO_HIGH or vm_id 0.
 */
VGPU_EXPORT int vgpu_dev_config_check(const struct vgpu_dev_config *cfg);

/**
 * vgpu_dev_init() - initialise a device in caller-owned storage, in reset
 * state.
 * @ops:    the effects; submit, set_irq and now_ns are required. Must outlive
 *          the device.
 * @opaque: passed to every op.
 * Return: 0, or -EINVAL for a bad @cfg or a missing op.
 */
VGPU_EXPORT int vgpu_dev_init(struct vgpu_dev *dev,
                              const struct vgpu_dev_config *cfg,
                              const struct vgpu_dev_ops *ops, void *opaque);

/** vgpu_dev_fini() - forget the device; lowers the interrupt if raised. */
VGPU_EXPORT void vgpu_dev_fini(struct vgpu_dev *dev);

/**
 * vgpu_dev_mmio_read() - a guest read of BAR0.
 * @addr: offset in BAR0; @size: 1, 2, 4 or 8.
 *
 * Never fails: a bad register access returns all ones of @size bytes (and is
 * a guest error), bytes outside the buffers and reserved space read 0.
 * Return: the value, little-endian bytes assembled into the low @size bytes.
 */
VGPU_EXPORT uint64_t vgpu_dev_mmio_read(struct vgpu_dev *dev, uint64_t addr,
                                        unsigned size);

/**
 * vgpu_dev_mmio_write() - a guest write of BAR0. Never fails: what SPEC.md
 * says to ignore is ignored (and reported through ops->guest_error). A write
 * of VGPU_DOORBELL_RING to DOORBELL may call ops->submit.
 */
VGPU_EXPORT void vgpu_dev_mmio_write(struct vgpu_dev *dev, uint64_t addr,
                                     uint64_t val, unsigned size);

/**
 * vgpu_dev_complete() - the transport's answer to a request.
 * @generation, @request_id: from the struct vgpu_request being answered. A
 *          mismatch with the request in flight (or no request in flight)
 *          drops the answer and counts it in stats.stale_responses.
 * @status: 0 for success, else a VGPU_ERR_* code.
 * @data, @len: the response bytes; when @status is not 0, an optional UTF-8
 *          message. Over VGPU_BUF_SIZE bytes, either one ends the request in
 *          ERROR RESPONSE_TOO_LARGE; @data may then be NULL (a transport that
 *          read and discarded the payload passes only its length).
 *          A @status the device cannot report (NONE is success; BUSY and
 *          unknown codes) becomes PROTOCOL_ERROR.
 * Return: 0 if it completed the request, -ESTALE if it was dropped.
 */
VGPU_EXPORT int vgpu_dev_complete(struct vgpu_dev *dev, uint32_t generation,
                                  uint32_t request_id, uint32_t status,
                                  const uint8_t *data, size_t len);

/**
 * vgpu_dev_transport_lost() - the connection to the mediator is gone. A
 * request in flight ends in ERROR MEDIATOR_UNAVAILABLE; otherwise nothing.
 */
VGPU_EXPORT void vgpu_dev_transport_lost(struct vgpu_dev *dev);

/**
 * vgpu_dev_timeout() - the adapter's timer for the request in flight fired.
 * If the device is BUSY, the request ends in ERROR TIMEOUT; otherwise the
 * call does nothing (a timer that lost the race with a completion).
 */
VGPU_EXPORT void vgpu_dev_timeout(struct vgpu_dev *dev);

/**
 * vgpu_dev_reset() - device reset: RW registers 0, STATUS IDLE, ERROR_CODE,
 * RESPONSE_LEN and TIMESTAMP 0, buffers zeroed, interrupt lowered, the request
 * in flight abandoned (its late answer becomes stale). Identity is kept.
 */
VGPU_EXPORT void vgpu_dev_reset(struct vgpu_dev *dev);

/** vgpu_dev_busy() - 1 while a request is in flight, else 0. */
VGPU_EXPORT int vgpu_dev_busy(const struct vgpu_dev *dev);

/** vgpu_dev_inflight() - the generation and request id a completion must
 * carry; only meaningful while vgpu_dev_busy(). Either pointer may be NULL. */
VGPU_EXPORT void vgpu_dev_inflight(const struct vgpu_dev *dev,
                                   uint32_t *generation, uint32_t *request_id);

/** vgpu_dev_get_stats() - copy the counters. */
VGPU_EXPORT void vgpu_dev_get_stats(const struct vgpu_dev *dev,
                                    struct vgpu_dev_stats *out);

/** vgpu_reg_name() - "STATUS" for VGPU_REG_STATUS, or NULL. */
VGPU_EXPORT const char *vgpu_reg_name(uint64_t offset);

#endif /* VGPU_DEVMODEL_H */
