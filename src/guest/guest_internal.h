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

/* The typed helpers' own queue (ops.c), opened at their first call that
 * needs more than one mailbox request on a device with the queue, and
 * closed with the client. */
struct vgpu_helper_queue {
    int state; /* 0 not tried, 1 open, -1 unavailable */
    struct vgpu_queue *q;
    struct vgpu_dma in;  /* VGPU_HQ_DEPTH input slots */
    struct vgpu_dma out; /* VGPU_HQ_DEPTH output slots */
    size_t in_slot;      /* bytes per input slot */
    size_t out_slot;     /* bytes per output slot */
};

#define VGPU_HQ_DEPTH 4u

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

#endif /* VGPU_GUEST_INTERNAL_H */
