/*
 * The guest tools' queue pipeline (qpipe.h). A slot's number is the tag of
 * the request in it, so a completion names its slot; a tag the pipeline
 * never gave is the device's fault and ends the run with -EPROTO.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qpipe.h"

/* A batch is kicked (one SQ_TAIL write) when it holds this many bytes of
 * requests, not only when the ring is full: the device then reads and
 * sends the first requests while the caller still builds the next ones. A
 * batch of small requests still costs one MMIO write. */
#define QPIPE_KICK_BYTES (64u * 1024u)

static uint32_t
ring_depth(uint32_t inflight)
{
    uint32_t d = 1;

    while (d < inflight) {
        d <<= 1;
    }
    return d;
}

int
vgpu_tool_qpipe_open(struct vgpu_tool_qpipe *p, struct vgpu_client *c,
                     uint32_t inflight, size_t in_cap, size_t out_cap,
                     char *err, size_t err_len)
{
    char why[256] = "";

    memset(p, 0, sizeof(*p));
    if (inflight == 0 || inflight > VGPU_Q_ENTRIES_MAX) {
        vgpu_set_err(err, err_len, "in flight: %u, want 1..%u", inflight,
                     VGPU_Q_ENTRIES_MAX);
        return -EINVAL;
    }
    p->c = c;
    p->in_cap = in_cap;
    p->out_cap = out_cap;
    p->q = vgpu_queue_open(c, ring_depth(inflight), why, sizeof(why));
    if (p->q == NULL) {
        vgpu_set_err(err, err_len, "%s", why);
        return -ENOTSUP;
    }
    p->in = calloc(inflight, sizeof(*p->in));
    p->out = calloc(inflight, sizeof(*p->out));
    if (p->in == NULL || p->out == NULL) {
        vgpu_set_err(err, err_len, "out of memory");
        vgpu_tool_qpipe_close(p);
        return -ENOMEM;
    }
    p->inflight = inflight;
    for (uint32_t s = 0; s < inflight; s++) {
        int rc = vgpu_dma_alloc(c, in_cap, &p->in[s]);

        if (rc == 0 && out_cap > 0) {
            rc = vgpu_dma_alloc(c, out_cap, &p->out[s]);
        }
        if (rc < 0) {
            vgpu_set_err(err, err_len,
                         "no DMA memory for slot %u of %u (%zu + %zu bytes): "
                         "%s",
                         s, inflight, in_cap, out_cap,
                         vgpu_dma_error(c)[0] != '\0' ? vgpu_dma_error(c)
                                                      : vgpu_strerror(rc));
            vgpu_tool_qpipe_close(p);
            return rc;
        }
    }
    return 0;
}

void
vgpu_tool_qpipe_close(struct vgpu_tool_qpipe *p)
{
    vgpu_queue_close(p->q);
    p->q = NULL;
    for (uint32_t s = 0; s < p->inflight; s++) {
        vgpu_dma_free(p->c, &p->in[s]);
        vgpu_dma_free(p->c, &p->out[s]);
    }
    free(p->in);
    free(p->out);
    p->in = NULL;
    p->out = NULL;
    p->inflight = 0;
}

int
vgpu_tool_qpipe_run(struct vgpu_tool_qpipe *p, uint64_t count,
                    vgpu_tool_qpipe_build build, vgpu_tool_qpipe_done done,
                    void *ctx, int timeout_ms)
{
    uint32_t n = p->inflight;
    uint64_t *req_of = calloc(n, sizeof(*req_of));
    uint32_t *free_slot = calloc(n, sizeof(*free_slot));
    struct vgpu_qcomp *comps = calloc(n, sizeof(*comps));
    uint32_t nfree = n;
    uint32_t busy = 0;
    uint64_t next = 0;
    int rc = 0;

    p->submitted = 0;
    p->ok = 0;
    p->failed = 0;
    if (req_of == NULL || free_slot == NULL || comps == NULL) {
        rc = -ENOMEM;
        goto out;
    }
    for (uint32_t s = 0; s < n; s++) {
        free_slot[s] = n - 1u - s;
    }
    while ((rc == 0 && next < count) || busy > 0) {
        size_t batch = 0;
        int w;
        int k;

        while (rc == 0 && next < count && nfree > 0) {
            uint32_t s = free_slot[--nfree];
            size_t len = build(ctx, next, p->in[s].ptr);
            int r = vgpu_queue_submit(p->q, &p->in[s], 0, (uint32_t)len,
                                      &p->out[s], 0, (uint32_t)p->out_cap, s);

            if (r != 0) {
                free_slot[nfree++] = s;
                rc = r;
                break;
            }
            req_of[s] = next++;
            busy++;
            p->submitted++;
            batch += len;
            if (batch >= QPIPE_KICK_BYTES) {
                vgpu_queue_kick(p->q);
                batch = 0;
            }
        }
        vgpu_queue_kick(p->q);
        if (busy == 0) {
            break;
        }
        w = vgpu_queue_wait(p->q, timeout_ms);
        if (w < 0) {
            rc = rc != 0 ? rc : w;
            break; /* the queue stopped: nothing more will complete */
        }
        if (w == 0) {
            rc = rc != 0 ? rc : -ETIMEDOUT;
            break;
        }
        k = vgpu_queue_reap(p->q, comps, n);
        if (k < 0) {
            rc = rc != 0 ? rc : k;
            break;
        }
        for (int i = 0; i < k; i++) {
            uint32_t s = comps[i].tag;
            int r;

            if (s >= n) {
                rc = rc != 0 ? rc : -EPROTO;
                continue;
            }
            if (comps[i].status == 0) {
                p->ok++;
            } else {
                p->failed++;
            }
            r = done(ctx, req_of[s], &comps[i], p->out[s].ptr);
            rc = rc != 0 ? rc : r;
            free_slot[nfree++] = s;
            busy--;
        }
    }

out:
    free(comps);
    free(free_slot);
    free(req_of);
    return rc;
}
