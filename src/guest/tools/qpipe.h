/*
 * A queue pipeline for the guest tools (vgpu-vector-add, vgpu-bench): one
 * queue of a client, one DMA block per slot for a request's input and one
 * for its output, and a loop that keeps up to @inflight requests in flight
 * until @count of them completed.
 *
 * Each slot's blocks are separate allocations: a real guest's bus gives
 * physically contiguous memory only up to one hugepage (docs/guest-api.md),
 * and one request may carry 1 MiB.
 *
 * Not thread-safe, like the client.
 */
#ifndef VGPU_TOOLS_QPIPE_H
#define VGPU_TOOLS_QPIPE_H

#include <stddef.h>
#include <stdint.h>

#include "vgpu/guest.h"

struct vgpu_tool_qpipe {
    struct vgpu_client *c;
    struct vgpu_queue *q;
    uint32_t inflight; /* slots: requests in flight at most */
    struct vgpu_dma *in;
    struct vgpu_dma *out;
    size_t in_cap;
    size_t out_cap;
    /* What the last run saw: requests submitted, completions with status
     * 0 and with an error status. submitted - ok - failed were never
     * completed (the run stopped on a timeout or a stopped queue). */
    uint64_t submitted;
    uint64_t ok;
    uint64_t failed;
};

/* Fill @in (in_cap bytes) with request number @i; return its length. */
typedef size_t (*vgpu_tool_qpipe_build)(void *ctx, uint64_t i, uint8_t *in);

/* Request number @i completed: @comp, its output at @out. Return 0 to go
 * on, or a negative code to stop (the requests in flight are still reaped,
 * and the run returns that code). */
typedef int (*vgpu_tool_qpipe_done)(void *ctx, uint64_t i,
                                    const struct vgpu_qcomp *comp,
                                    const uint8_t *out);

/**
 * vgpu_tool_qpipe_open() - the queue (a ring of the next power of two at
 * or above @inflight) and @inflight slots of @in_cap and @out_cap bytes.
 * Return: 0, or a negative code with @err set (the device has no queue,
 * no DMA memory and why).
 */
int vgpu_tool_qpipe_open(struct vgpu_tool_qpipe *p, struct vgpu_client *c,
                         uint32_t inflight, size_t in_cap, size_t out_cap,
                         char *err, size_t err_len);

/** vgpu_tool_qpipe_close() - close the queue and free the slots. */
void vgpu_tool_qpipe_close(struct vgpu_tool_qpipe *p);

/**
 * vgpu_tool_qpipe_run() - requests 0..@count-1, built by @build as slots
 * free up, each completion given to @done (in the order they come), with
 * one SQ_TAIL write per batch; @build runs just before its request is
 * submitted (a bench takes the submit time there).
 * Return: 0 when every request completed and @done accepted it; the first
 * code @done returned; -ETIMEDOUT when no completion came for @timeout_ms;
 * -EIO when the device stopped the queue (Q_ERROR).
 */
int vgpu_tool_qpipe_run(struct vgpu_tool_qpipe *p, uint64_t count,
                        vgpu_tool_qpipe_build build, vgpu_tool_qpipe_done done,
                        void *ctx, int timeout_ms);

#endif /* VGPU_TOOLS_QPIPE_H */
