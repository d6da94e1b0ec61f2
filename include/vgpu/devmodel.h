/*
 * The vgpu-stub device model: the 16 registers, the two buffers and the
 * doorbell state machine of SPEC.md sections 3-5 (the mailbox), and the
 * submission/completion queue of section 11, as a pure C library.
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
 * nothing the completion wrote is overwritten afterwards. The same holds for
 * the queue: ops->submit of a queue entry may call vgpu_dev_q_complete(),
 * vgpu_dev_transport_lost() or vgpu_dev_reset() before it returns.
 *
 * The queue exists only when the adapter gives dma_read, dma_write and
 * q_buffer: then CAPABILITIES has VGPU_CAP_QUEUE and the registers at
 * VGPU_Q_REG_OFFSET work. Without them that range is reserved space and the
 * device is exactly the mailbox device. docs/registers.md and
 * docs/state-machine.md describe both.
 */
#ifndef VGPU_DEVMODEL_H
#define VGPU_DEVMODEL_H

#include <stddef.h>
#include <stdint.h>

#include "vgpu/common.h"
#include "vgpu/regs.h"

/*
 * The request handed to the transport: a doorbell's (queued 0) or a queue
 * entry's (queued 1).
 *
 * Mailbox: request_id is REQUEST_ID latched at the doorbell, generation goes
 * back to vgpu_dev_complete(), data is the device's snapshot, len
 * 1 .. VGPU_BUF_SIZE.
 *
 * Queue entry: request_id is the device's own wire id, VGPU_Q_WIRE_ID_BIT |
 * sequence << VGPU_Q_WIRE_SEQ_SHIFT | slot (slot 0 .. VGPU_Q_ENTRIES_MAX - 1
 * in the in-flight table; the 23-bit sequence grows with every entry taken
 * and survives resets, so an answer to an abandoned entry matches nothing
 * for the next 2^23 entries); pass it back to vgpu_dev_q_complete().
 * generation is the queue's epoch (informational, not checked). data points
 * into the adapter's own ops->q_buffer, where the device has just DMA-read
 * the entry's input; len is 8 .. VGPU_Q_MAX_XFER. The bytes are the
 * adapter's buffer: the device does not touch them after submit returns, and
 * the adapter must keep them valid at least until then.
 */
struct vgpu_request {
    uint32_t vm_id;
    uint32_t request_id; /* mailbox: REQUEST_ID; queue: the wire id */
    uint32_t generation; /* mailbox: pass back to vgpu_dev_complete() */
    uint8_t pool_id;     /* ASCII letter */
    uint8_t priority;    /* VGPU_PRIO_* */
    const uint8_t *data; /* valid only during ops->submit */
    uint32_t len;        /* mailbox 1 .. VGPU_BUF_SIZE; queue 8 .. MAX_XFER */
    int queued;          /* 0 mailbox, 1 queue entry */
};

/* The effects of the device, supplied by its adapter. */
struct vgpu_dev_ops {
    /* Hand a request to the transport. Return 0 when it is on its way (its
     * completion may already have happened, see above), or a VGPU_ERR_* code
     * (normally VGPU_ERR_MEDIATOR_UNAVAILABLE) to end it at once in ERROR
     * (mailbox) or with a CQ entry of that status (queue; the device goes
     * on with the next entry). Another negative value is
     * MEDIATOR_UNAVAILABLE, except -EAGAIN for a queue entry: "not now" (the
     * adapter is connecting): the entry stays in the SQ, SQ_HEAD does not
     * move, and the device takes no entry until vgpu_dev_q_kick() (or
     * vgpu_dev_transport_lost(), or a reset or disable). An adapter that
     * returns -EAGAIN must call one of them later. */
    int (*submit)(void *opaque, const struct vgpu_request *req);
    /* The interrupt condition changed to @level: (IRQ_CTRL & IRQ_STATUS &
     * VGPU_IRQ_LINE_MASK) != 0, bit 0 the mailbox, bit 1 the queue. Called
     * only on a change; a rise is where MSI sends a message. */
    void (*set_irq)(void *opaque, int level);
    /* Nanoseconds on the adapter's clock, for TIMESTAMP. */
    uint64_t (*now_ns)(void *opaque);
    /* A guest did something the SPEC calls a guest error. @what is one
     * human-readable line naming the access; it is valid only during the
     * call. May be NULL to ignore guest errors. */
    void (*guest_error)(void *opaque, const char *what);

    /* The queue (SPEC.md section 11): give all three, or none (no queue).
     *
     * dma_read/dma_write: copy @len bytes between guest-physical @addr and
     * @buf. Return 0, or a negative errno: -EFAULT for a range outside guest
     * memory, -EPERM while bus mastering is off. A failure of the ring itself
     * stops the queue (Q_ERROR DMA_ERROR); of an entry's input or output,
     * that entry completes with DMA_ERROR. @len is at most VGPU_Q_MAX_XFER.
     * The device never calls them while the queue is disabled. */
    int (*dma_read)(void *opaque, uint64_t addr, void *buf, size_t len);
    int (*dma_write)(void *opaque, uint64_t addr, const void *buf, size_t len);
    /* A buffer of at least @len (8 .. VGPU_Q_MAX_XFER) bytes, owned by the
     * adapter, into which the device DMA-reads a queue entry's input just
     * before ops->submit; it must stay valid until that submit returns (the
     * device keeps no pointer to it). NULL: the entry completes with
     * DMA_ERROR. */
    uint8_t *(*q_buffer)(void *opaque, size_t len);
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
    /* The queue: stale answers count in stale_responses too. */
    uint64_t q_taken;       /* SQ entries taken (SQ_HEAD advanced) */
    uint64_t q_submitted;   /* ... that ops->submit accepted (returned 0) */
    uint64_t q_completions; /* CQ entries written */
    uint64_t q_errors;      /* ... of them with a status other than 0 */
    uint64_t q_dma_errors;  /* DMA failures: input, output or ring */
    uint64_t q_stops;       /* queue stopped by a ring it could not use */
};

/* One entry of the queue's in-flight table. */
struct vgpu_q_slot {
    uint32_t in_use;   /* 1 while its answer is awaited */
    uint32_t wire_id;  /* the request_id it was sent with */
    uint32_t tag;      /* the guest's, for the CQ entry */
    uint32_t out_cap;  /* bytes at out_addr */
    uint64_t out_addr; /* where the response goes */
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

    /* The queue (section 11); has_queue is fixed at init. */
    int has_queue;
    uint32_t q_base_lo;
    uint32_t q_base_hi;
    uint32_t q_size; /* as written; checked at enable */
    uint32_t q_ctrl;
    uint32_t sq_tail;
    uint32_t sq_head;
    uint32_t cq_tail;
    uint32_t cq_head;
    uint32_t q_error;
    uint32_t q_accepted; /* the mediator's in-flight count, >= 1 */
    uint32_t q_seq;      /* next wire id sequence */
    uint32_t q_epoch;    /* bumped by enable, disable, stop and reset */
    uint32_t q_inflight; /* slots in use */
    int q_stalled;       /* submit said -EAGAIN: wait for a kick */
    int q_pumping;       /* taking entries (ops->submit may re-enter) */
    int q_repump;        /* something freed room while taking */
    struct vgpu_q_slot q_slots[VGPU_Q_ENTRIES_MAX];

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
 * @ops:    the effects; submit, set_irq and now_ns are required; dma_read,
 *          dma_write and q_buffer all three (a queue-capable device) or
 *          none. Must outlive the device.
 * @opaque: passed to every op.
 * Return: 0, or -EINVAL for a bad @cfg, a missing op or only some of the
 * queue's ops.
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
 * mailbox request in flight ends in ERROR MEDIATOR_UNAVAILABLE; every queue
 * entry in flight completes with MEDIATOR_UNAVAILABLE (a CQ entry each). A
 * stall from -EAGAIN ends, and the device takes the entries still in the SQ
 * (so ops->submit may be called: it answers for the new connection).
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
 * in flight abandoned (its late answer becomes stale). The queue: disabled,
 * its registers and counters 0, every entry in flight abandoned (late
 * answers are stale). Identity and the mediator's accepted in-flight count
 * are kept.
 */
VGPU_EXPORT void vgpu_dev_reset(struct vgpu_dev *dev);

/** vgpu_dev_busy() - 1 while a request is in flight, else 0. */
VGPU_EXPORT int vgpu_dev_busy(const struct vgpu_dev *dev);

/** vgpu_dev_inflight() - the generation and request id a completion must
 * carry; only meaningful while vgpu_dev_busy(). Either pointer may be NULL. */
VGPU_EXPORT void vgpu_dev_inflight(const struct vgpu_dev *dev,
                                   uint32_t *generation, uint32_t *request_id);

/**
 * vgpu_dev_q_complete() - the mediator's answer to a queue entry.
 * @wire_id: the request_id of the struct vgpu_request being answered. An
 *          unknown or abandoned one (reset, disable, a stopped queue, a
 *          slot reused since) is dropped and counted in stale_responses.
 * @status: 0 for success, else a VGPU_ERR_* code (one the device cannot
 *          report becomes PROTOCOL_ERROR, as for the mailbox).
 * @data, @len: the response bytes, or with @status not 0 an optional UTF-8
 *          message. Success with @len <= the entry's out_cap: DMA-written to
 *          out_addr (a failed write: the entry's status is DMA_ERROR, out_len
 *          0). Success with @len > out_cap: RESPONSE_TOO_LARGE, nothing
 *          written; @data may then be NULL (a transport that discarded the
 *          payload passes only its length; NULL otherwise means no bytes:
 *          out_len 0). An error's message is cut to out_cap.
 *
 * Writes the CQ entry {tag, status, out_len, PHASE} at slot CQ_TAIL mod N,
 * advances CQ_TAIL and sets IRQ_STATUS bit 1. A CQ entry that cannot be
 * written stops the queue (Q_ERROR DMA_ERROR, ENABLE 0, in flight
 * abandoned). The room this frees lets the device take further SQ entries:
 * ops->submit may be called from inside this function.
 * Return: 0, or -ESTALE if the answer was dropped.
 */
VGPU_EXPORT int vgpu_dev_q_complete(struct vgpu_dev *dev, uint32_t wire_id,
                                    uint32_t status, const uint8_t *data,
                                    size_t len);

/**
 * vgpu_dev_q_set_max_inflight() - the in-flight count the mediator accepted
 * (HELLO_ACK). Q_MAX_INFLIGHT reads min(N, @accepted), capped at
 * VGPU_Q_ENTRIES_MAX; 0 counts as 1. Until the first call the device assumes
 * VGPU_Q_ENTRIES_MAX. A reset keeps it. The device takes no entry here: a
 * raised count takes effect at the next SQ_TAIL write, completion or
 * vgpu_dev_q_kick(). Entries already in flight beyond a lowered count stay.
 */
VGPU_EXPORT void vgpu_dev_q_set_max_inflight(struct vgpu_dev *dev,
                                             uint32_t accepted);

/**
 * vgpu_dev_q_kick() - the adapter can take requests again (its connection
 * became ready after a -EAGAIN): end the stall and take SQ entries now
 * (ops->submit may be called). Harmless at any other time.
 */
VGPU_EXPORT void vgpu_dev_q_kick(struct vgpu_dev *dev);

/** vgpu_dev_q_inflight() - queue entries awaiting an answer (0 without a
 * queue or while it is disabled). */
VGPU_EXPORT unsigned vgpu_dev_q_inflight(const struct vgpu_dev *dev);

/** vgpu_dev_has_queue() - 1 if the device was given the queue's ops. */
VGPU_EXPORT int vgpu_dev_has_queue(const struct vgpu_dev *dev);

/** vgpu_dev_get_stats() - copy the counters. */
VGPU_EXPORT void vgpu_dev_get_stats(const struct vgpu_dev *dev,
                                    struct vgpu_dev_stats *out);

/** vgpu_reg_name() - "STATUS" for VGPU_REG_STATUS, "SQ_TAIL" for
 * VGPU_REG_SQ_TAIL, or NULL. */
VGPU_EXPORT const char *vgpu_reg_name(uint64_t offset);

#endif /* VGPU_DEVMODEL_H */
