/*
 * What the files of libvgpu-guest share and the public header does not show.
 * Nothing here is exported from the library.
 */
#ifndef VGPU_GUEST_INTERNAL_H
#define VGPU_GUEST_INTERNAL_H

#include "vgpu/guest.h"

/**
 * vgpu_guest_timeout() - the timeout of the typed helpers, as set by
 * vgpu_set_timeout(), in milliseconds. Not thread-safe (as the client).
 */
int vgpu_guest_timeout(const struct vgpu_client *c);

#define VGPU_HQ_DEPTH 4u

/* The typed helpers' own queue (ops.c), opened at their first call that
 * needs more than one mailbox request on a device with the queue, and
 * closed with the client. */
struct vgpu_helper_queue {
    int state; /* 0 not tried, 1 open, -1 unavailable */
    struct vgpu_queue *q;
    /* One block per slot: a bus may give physically contiguous memory
     * only up to a size (the sysfs bus: one hugepage), and a slot may
     * hold a 1 MiB request. */
    struct vgpu_dma in[VGPU_HQ_DEPTH];
    struct vgpu_dma out[VGPU_HQ_DEPTH];
    size_t in_slot;  /* bytes per input slot */
    size_t out_slot; /* bytes per output slot */
};

/** vgpu_guest_hq() - the client's helper queue (never NULL). */
struct vgpu_helper_queue *vgpu_guest_hq(struct vgpu_client *c);

/** vgpu_guest_hq_close() - close it and free its DMA memory. */
void vgpu_guest_hq_close(struct vgpu_client *c);

/**
 * vgpu_guest_set_error() - record how a request ended in ERROR (@code and
 * @len bytes of message at @msg, made printable) for vgpu_last_error().
 */
void vgpu_guest_set_error(struct vgpu_client *c, uint32_t code,
                          const uint8_t *msg, size_t len);

/* ---- Polling (client.c) --------------------------------------------------
 * How a waiter without an interrupt spends the time between two reads of a
 * register: it spins (reads again at once) for VGPU_POLL_SPIN_NS (the
 * queue: VGPU_QPOLL_SPIN_NS), then
 * sleeps, from VGPU_POLL_SLEEP_FIRST_NS doubling up to
 * VGPU_POLL_SLEEP_MAX_NS. The spin is what keeps a polled request's latency
 * close to the device's: under QEMU TCG a guest's nanosleep() of 1 us lasts
 * about 60 us (timer slack and the emulated timer), so sleeping at the
 * first miss added that much to every request (docs/performance.md). A
 * request that takes longer than the spin costs sleeps, not a CPU. */
#define VGPU_POLL_SPIN_NS        1000000ull /* 1 ms: the mailbox */
/* The queue spins for less: its requests move up to 1 MiB each and take
 * milliseconds, and under QEMU a spinning vCPU takes a host core from the
 * emulator's I/O thread and the mediator, which move those bytes; on a
 * 2-core host a 1 ms spin made a 32-request batch slower. */
#define VGPU_QPOLL_SPIN_NS       50000ull /* 50 us */
#define VGPU_POLL_SLEEP_FIRST_NS 10000L
#define VGPU_POLL_SLEEP_MAX_NS   1000000L

struct vgpu_poll {
    uint64_t spin_until; /* ns, CLOCK_MONOTONIC */
    uint64_t deadline;   /* ns; UINT64_MAX: none */
    long sleep_ns;       /* the next sleep */
};

/** vgpu_poll_now_ns() - CLOCK_MONOTONIC in nanoseconds. */
uint64_t vgpu_poll_now_ns(void);

/** vgpu_poll_init() - start a wait of @timeout_ms (negative: no limit)
 * that spins for @spin_ns first. */
void vgpu_poll_init(struct vgpu_poll *p, int timeout_ms, uint64_t spin_ns);

/**
 * vgpu_poll_pause() - after a read that found nothing: return at once while
 * spinning, else sleep the next step (never past the deadline).
 * Return: 0, or -ETIMEDOUT once the deadline has passed.
 */
int vgpu_poll_pause(struct vgpu_poll *p);

/* ---- DMA memory of the sysfs bus (sysfs_dma.c) ---------------------------
 * Hugepages (or a locked 4 KiB page) whose guest-physical addresses come
 * from /proc/self/pagemap; see the top of sysfs_dma.c. */
struct dma_arena;

struct vgpu_sysfs_dma {
    int ready; /* vgpu_sysfs_dma_prepare() succeeded */
    struct dma_arena *arenas;
    char why[384]; /* why the last call failed */
};

/**
 * vgpu_sysfs_dma_prepare() - check that the device at @dev_dir (sysfs,
 * named @bdf in messages) sees guest-physical addresses (no IOMMU, or one
 * in passthrough) and enable its bus mastering. Done once; later calls
 * return 0 at once. Return: 0, or a negative code with the reason in
 * vgpu_sysfs_dma_why().
 */
int vgpu_sysfs_dma_prepare(struct vgpu_sysfs_dma *d, const char *dev_dir,
                           const char *bdf);

/**
 * vgpu_sysfs_dma_alloc() - @len bytes (at most one hugepage), zeroed,
 * VGPU_Q_BASE_ALIGN aligned and physically contiguous; *@dev_addr receives
 * their guest-physical address. Needs a successful prepare.
 * Return: the pointer, or NULL with errno set and the reason in
 * vgpu_sysfs_dma_why().
 */
void *vgpu_sysfs_dma_alloc(struct vgpu_sysfs_dma *d, size_t len,
                           uint64_t *dev_addr);

/** vgpu_sysfs_dma_free() - give a block back; its hugepage goes when its
 * last block does. A pointer it never gave is ignored. */
void vgpu_sysfs_dma_free(struct vgpu_sysfs_dma *d, void *ptr, size_t len);

/** vgpu_sysfs_dma_fini() - unmap every page (the blocks become invalid). */
void vgpu_sysfs_dma_fini(struct vgpu_sysfs_dma *d);

/** vgpu_sysfs_dma_why() - the last failure's reason, or "". */
const char *vgpu_sysfs_dma_why(const struct vgpu_sysfs_dma *d);

#endif /* VGPU_GUEST_INTERNAL_H */
