/*
 * libvgpu-guest: the guest's client of a vgpu-stub device.
 *
 * The client talks to BAR0 through a bus (ARCHITECTURE.md): the sysfs bus
 * mmaps a real device's resource0 inside a Linux guest; the sim bus calls a
 * struct vgpu_dev in the same process. Everything above the bus is the same
 * code for both, so what the simulator tests is what a guest runs.
 *
 * Error convention: 0 on success, a negative code on failure (common.h).
 * When the device ends a request in ERROR, calls return VGPU_E_DEVICE and
 * vgpu_last_error() tells the device's ERROR_CODE and the mediator's message.
 *
 * Threading: a client is not thread-safe; one thread uses it at a time. Two
 * clients of one device would interleave their requests, so each device has
 * one client.
 */
#ifndef VGPU_GUEST_H
#define VGPU_GUEST_H

#include <stddef.h>
#include <stdint.h>

#include "vgpu/common.h"
#include "vgpu/regs.h"

/* VGPU_E_DEVICE, VGPU_E_BUSY and VGPU_E_NOT_VGPU are in common.h. */

/* ---- The bus ----------------------------------------------------------- */

/* Access to one device's BAR0. Offsets are BAR0 offsets from regs.h. */
struct vgpu_bus_ops {
    const char *name; /* "sysfs", "sim" */
    uint32_t (*read32)(void *ctx, uint32_t off);
    void (*write32)(void *ctx, uint32_t off, uint32_t val);
    /* Copy @len bytes from/to BAR0 at @off (a buffer), in any access size
     * the bus likes; the device clips at the buffer's end. */
    void (*read_buf)(void *ctx, uint32_t off, void *dst, size_t len);
    void (*write_buf)(void *ctx, uint32_t off, const void *src, size_t len);
    /* Wait up to @timeout_ms for the completion interrupt. Return 1 if it
     * came, 0 on timeout, or a negative code. NULL when the bus has no
     * interrupt: the client then polls STATUS. */
    int (*wait_irq)(void *ctx, int timeout_ms);
    /* Release the bus (unmap, close files). May be NULL. */
    void (*close)(void *ctx);
    /* PCI identity, for the check that this is a vgpu-stub: fill vendor,
     * device and revision. NULL: the bus has no PCI config (the sim). */
    int (*identity)(void *ctx, uint16_t *vendor, uint16_t *device,
                    uint8_t *revision);
    /* Memory the device can reach by DMA, for the queue (SPEC.md section
     * 11): @len bytes, aligned to VGPU_Q_BASE_ALIGN, zeroed; *@dev_addr
     * receives the address the device uses. Return the CPU's pointer, or
     * NULL with errno set. NULL members: the bus has no such memory, and
     * the client uses the mailbox only. */
    void *(*dma_alloc)(void *ctx, size_t len, uint64_t *dev_addr);
    void (*dma_free)(void *ctx, void *ptr, size_t len);
    /* Wait up to @timeout_ms for the queue's interrupt (IRQ_STATUS bit 1).
     * Return 1, 0 on timeout, or a negative code. NULL: the queue polls its
     * completion ring. */
    int (*wait_queue)(void *ctx, int timeout_ms);
    /* Why the last dma_alloc failed, as one line a user can act on, or
     * NULL. May be NULL. */
    const char *(*dma_error)(void *ctx);
};

/* ---- The sim bus ------------------------------------------------------- */

struct vgpu_dev;

/*
 * vgpu_bus_sim - the bus of a struct vgpu_dev in the same process (the
 * simulator and the unit tests). Pass the struct vgpu_dev * as ctx to
 * vgpu_open_bus(); the caller owns the device, which must outlive the client.
 * Registers are 4-byte vgpu_dev_mmio_read()/vgpu_dev_mmio_write() accesses;
 * buffers are copied in 8-byte accesses with a 1-byte tail. It has no
 * wait_irq (the client polls STATUS), no identity (the model has no PCI
 * config space) and no close. It takes no lock: whoever drives the device
 * from another thread serialises with the client (devmodel.h).
 */
VGPU_EXPORT extern const struct vgpu_bus_ops vgpu_bus_sim;

/* ---- The client -------------------------------------------------------- */

struct vgpu_client;

/* Identity and capabilities (SPEC.md section 3). */
struct vgpu_info {
    char pool;         /* 'A'..'Z' */
    uint32_t priority; /* VGPU_PRIO_* */
    uint32_t vm_id;
    uint32_t protocol_version;
    uint32_t capabilities; /* VGPU_CAP_* */
};

/* How a request ended, when it ended in ERROR. */
struct vgpu_error {
    uint32_t code;                   /* VGPU_ERR_* */
    char message[VGPU_BUF_SIZE + 1]; /* the mediator's message, or "" */
};

/* Options of vgpu_open_sysfs(). */
#define VGPU_OPEN_IRQ (1u << 0) /* wait on the UIO interrupt if bound */

/**
 * vgpu_open_bus() - a client on a bus the caller set up.
 * @ops, @ctx: the bus; the client calls ops->close(ctx) at close.
 * @err:      a one-line reason on failure.
 * Checks the PCI identity (if the bus has one) and PROTOCOL_VER, and sets
 * the request id counter from REQUEST_ID.
 * Return: the client, or NULL (errno set; the caller still owns the bus).
 */
VGPU_EXPORT struct vgpu_client *vgpu_open_bus(const struct vgpu_bus_ops *ops,
                                              void *ctx, char *err,
                                              size_t err_len);

/**
 * vgpu_open_sysfs() - find a vgpu-stub under /sys/bus/pci/devices (or the
 * one at @bdf, "0000:00:04.0" or "00:04.0"), enable it and mmap resource0.
 * With VGPU_OPEN_IRQ and the device bound to uio_pci_generic, waits use the
 * UIO interrupt instead of polling.
 * @sysfs_root: NULL for "/sys" (tests pass a fake tree).
 * Return: the client, or NULL with @err set.
 */
VGPU_EXPORT struct vgpu_client *vgpu_open_sysfs(const char *bdf,
                                                const char *sysfs_root,
                                                unsigned flags, char *err,
                                                size_t err_len);

/** vgpu_close() - release the client and its bus. NULL is fine. */
VGPU_EXPORT void vgpu_close(struct vgpu_client *c);

/** vgpu_info() - read the identity registers. Return: 0. */
VGPU_EXPORT int vgpu_info(struct vgpu_client *c, struct vgpu_info *info);

/** vgpu_bus() - the bus of a client, for tools that dump registers. */
VGPU_EXPORT const struct vgpu_bus_ops *vgpu_bus(struct vgpu_client *c,
                                                void **ctx);

/**
 * vgpu_bar_size() - the size of BAR0 as the platform assigned it, for the
 * self-test's identity check: on the sysfs bus, the size of the device's
 * resource0 file (the kernel sizes it to the BAR).
 * @size: receives the size in bytes.
 * Return: 0; -ENOTSUP on a bus without PCI resources (the sim bus, or a bus
 * of the caller's); -EINVAL for a NULL argument; a negated errno if the file
 * cannot be examined. Thread-safety as the client.
 */
VGPU_EXPORT int vgpu_bar_size(struct vgpu_client *c, size_t *size);

/**
 * vgpu_submit() - write a request and ring the doorbell.
 * @req, @len: the request bytes (SPEC.md section 8), 1..VGPU_BUF_SIZE.
 * @request_id: if non-NULL, receives the id given to the request; ids
 *              increase by one per request.
 * Return: 0; -EINVAL for a bad length; VGPU_E_BUSY if a request is in
 * flight.
 */
VGPU_EXPORT int vgpu_submit(struct vgpu_client *c, const void *req, size_t len,
                            uint32_t *request_id);

/**
 * vgpu_wait() - wait for the request in flight to end.
 * @timeout_ms: how long to wait (polling STATUS, or on the interrupt);
 *              negative: no limit.
 * @resp, @cap: receives the response bytes; @resp_len their number.
 * Return: 0 on DONE; VGPU_E_DEVICE on ERROR (see vgpu_last_error());
 * -ETIMEDOUT; -ENOBUFS if @cap is smaller than RESPONSE_LEN (@resp_len then
 * tells the size needed); -ECANCELED if STATUS reads IDLE (a device reset
 * abandoned the request); -EIO if STATUS or RESPONSE_LEN hold values SPEC.md
 * does not allow (a device that is gone reads all ones).
 */
VGPU_EXPORT int vgpu_wait(struct vgpu_client *c, int timeout_ms, void *resp,
                          size_t cap, size_t *resp_len);

/** vgpu_call() - vgpu_submit() then vgpu_wait(). */
VGPU_EXPORT int vgpu_call(struct vgpu_client *c, const void *req, size_t len,
                          void *resp, size_t cap, size_t *resp_len,
                          int timeout_ms);

/** vgpu_last_error() - how the last request that ended in ERROR ended. */
VGPU_EXPORT const struct vgpu_error *vgpu_last_error(struct vgpu_client *c);

/** vgpu_set_timeout() - the timeout of the typed helpers (default 10000). */
VGPU_EXPORT void vgpu_set_timeout(struct vgpu_client *c, int timeout_ms);

/* ---- The queue (SPEC.md section 11) ------------------------------------ */

/*
 * Many requests in flight, each up to VGPU_Q_MAX_XFER bytes in and out,
 * through a submission and a completion ring in memory the device reaches
 * by DMA. Needs a device with CAPABILITIES bit 2 (VGPU_CAP_QUEUE) and a bus
 * with dma_alloc. The mailbox stays usable beside it.
 *
 * A request's input and output live in DMA memory the caller allocated
 * with vgpu_dma_alloc(); they must stay untouched from vgpu_queue_submit()
 * until the request's completion is reaped.
 *
 * Not thread-safe, like the client: one thread submits and reaps.
 */

/* A block of DMA memory: the CPU's pointer and the device's address. */
struct vgpu_dma {
    void *ptr;
    uint64_t dev_addr;
    size_t len;
};

/* A completion: the submitter's tag, the status (0 or a VGPU_ERR_* code)
 * and the bytes written at the request's output (on an error, the message,
 * cut to its out_cap). */
struct vgpu_qcomp {
    uint32_t tag;
    uint32_t status;
    uint32_t out_len;
};

struct vgpu_queue;

/**
 * vgpu_dma_alloc() - @len bytes of DMA memory, zeroed, 4 KiB aligned.
 * Return: 0, -ENOTSUP when the bus has none, -EINVAL, or -ENOMEM.
 */
VGPU_EXPORT int vgpu_dma_alloc(struct vgpu_client *c, size_t len,
                               struct vgpu_dma *out);

/**
 * vgpu_dma_error() - why the last vgpu_dma_alloc() (or the DMA memory of
 * vgpu_queue_open()) failed, as the bus tells it: on the sysfs bus a line
 * that names what is missing (root, hugepages, an IOMMU in passthrough).
 * Return: the reason, or "" when the bus gives none. Valid until the next
 * call on the client.
 */
VGPU_EXPORT const char *vgpu_dma_error(struct vgpu_client *c);

/** vgpu_dma_free() - give it back. A zeroed struct is fine. */
VGPU_EXPORT void vgpu_dma_free(struct vgpu_client *c, struct vgpu_dma *buf);

/**
 * vgpu_queue_open() - set up the rings (@depth entries, a power of two,
 * 1..VGPU_Q_ENTRIES_MAX) and enable the queue. Uses the queue interrupt
 * when the bus can wait for it. One queue per client.
 * Return: the queue, or NULL with @err set: the device or the bus has no
 * queue, a bad depth, no DMA memory, or the device refused the rings
 * (Q_ERROR).
 */
VGPU_EXPORT struct vgpu_queue *vgpu_queue_open(struct vgpu_client *c,
                                               uint32_t depth, char *err,
                                               size_t err_len);

/** vgpu_queue_close() - disable the queue (abandoning what is in flight)
 * and free the rings. NULL is fine. */
VGPU_EXPORT void vgpu_queue_close(struct vgpu_queue *q);

/** vgpu_queue_depth() - the ring size; vgpu_queue_max_inflight() - what the
 * device keeps in flight at once (Q_MAX_INFLIGHT). */
VGPU_EXPORT uint32_t vgpu_queue_depth(const struct vgpu_queue *q);
VGPU_EXPORT uint32_t vgpu_queue_max_inflight(struct vgpu_queue *q);

/** vgpu_queue_room() - entries that can be submitted now: the depth less
 * what was submitted and not yet reaped. */
VGPU_EXPORT uint32_t vgpu_queue_room(const struct vgpu_queue *q);

/**
 * vgpu_queue_submit() - put one request in the submission ring without
 * ringing: the device sees it at the next vgpu_queue_kick().
 * @in:  the request bytes (SPEC.md section 8), @in_len of them at @in_off
 *       in @in_buf; 8..VGPU_Q_MAX_XFER.
 * @out: where the response goes, @out_cap bytes at @out_off in @out_buf.
 * @tag: echoed in the completion; need not be unique.
 * Return: 0; -EAGAIN when the ring is full (reap first); -EINVAL for a
 * range outside its buffer or a length over VGPU_Q_MAX_XFER.
 */
VGPU_EXPORT int vgpu_queue_submit(struct vgpu_queue *q,
                                  const struct vgpu_dma *in_buf, size_t in_off,
                                  uint32_t in_len,
                                  const struct vgpu_dma *out_buf,
                                  size_t out_off, uint32_t out_cap,
                                  uint32_t tag);

/** vgpu_queue_kick() - ring SQ_TAIL once for everything submitted. */
VGPU_EXPORT void vgpu_queue_kick(struct vgpu_queue *q);

/**
 * vgpu_queue_reap() - take up to @max completions, in the order the device
 * wrote them, and hand their slots back to the device (CQ_HEAD).
 * Return: how many (0 when none is ready), or -EIO when the device stopped
 * the queue (Q_ERROR, see vgpu_queue_error()).
 */
VGPU_EXPORT int vgpu_queue_reap(struct vgpu_queue *q, struct vgpu_qcomp *out,
                                unsigned max);

/**
 * vgpu_queue_wait() - wait up to @timeout_ms (negative: no limit) until a
 * completion is ready to reap: on the bus's queue interrupt, or by polling
 * CQ_TAIL (a 1 ms spin, then sleeps from 10 us doubling up to 1 ms).
 * Return: 1, 0 on timeout or when nothing is in flight, or -EIO when the
 * queue stopped with requests in flight.
 */
VGPU_EXPORT int vgpu_queue_wait(struct vgpu_queue *q, int timeout_ms);

/** vgpu_queue_error() - Q_ERROR: 0, or why the device stopped the queue. */
VGPU_EXPORT uint32_t vgpu_queue_error(struct vgpu_queue *q);

/* ---- Typed helpers: one per operation ---------------------------------- */

/*
 * Each builds the request, and splits vectors larger than one request into
 * as many requests as needed, joining the results. Return as vgpu_wait(),
 * or -EINVAL for a NULL array, -EPROTO for a response of the wrong length,
 * -E2BIG for a MATMUL_F32 whose single row does not fit one request. */

VGPU_EXPORT int vgpu_nop(struct vgpu_client *c);
VGPU_EXPORT int vgpu_echo(struct vgpu_client *c, const void *in, void *out,
                          size_t n);
VGPU_EXPORT int vgpu_add_i32(struct vgpu_client *c, const int32_t *a,
                             const int32_t *b, int32_t *out, size_t n);
VGPU_EXPORT int vgpu_add_f32(struct vgpu_client *c, const float *a,
                             const float *b, float *out, size_t n);
VGPU_EXPORT int vgpu_saxpy_f32(struct vgpu_client *c, float alpha,
                               const float *x, const float *y, float *out,
                               size_t n);
/* DOT_F32 of a long vector is the sum, in order, of the chunks' results. */
VGPU_EXPORT int vgpu_dot_f32(struct vgpu_client *c, const float *x,
                             const float *y, float *out, size_t n);
/* C[m*p] = A[m*k] * B[k*p], row-major; split by rows of A when one request
 * cannot hold it (k*p <= 252 - k and p <= 256 are needed for one row). */
VGPU_EXPORT int vgpu_matmul_f32(struct vgpu_client *c, const float *a,
                                const float *b, float *out, uint32_t m,
                                uint32_t k, uint32_t p);

#endif /* VGPU_GUEST_H */
