/*
 * The core's figures for monitoring (vgpu/mediator_metrics.h): the stats
 * records (stats.h) read with their queue state and histograms. Kept out
 * of stats.c: it only reads what stats.c and conn.c keep.
 */
#include <string.h>

#include "core_internal.h"
#include "metrics_internal.h"
#include "vgpu/mediator_metrics.h"
#include "vgpu/proto.h"

static const uint32_t metrics_ops[VGPU_METRICS_OPS] = {
    VGPU_OP_NOP,       VGPU_OP_ECHO,    VGPU_OP_ADD_I32,    VGPU_OP_ADD_F32,
    VGPU_OP_SAXPY_F32, VGPU_OP_DOT_F32, VGPU_OP_MATMUL_F32,
};

uint32_t
vgpu_metrics_op(unsigned int i)
{
    return i < VGPU_METRICS_OPS ? metrics_ops[i] : UINT32_MAX;
}

int
vgpu_metrics_op_slot(uint32_t op)
{
    for (unsigned int i = 0; i < VGPU_METRICS_OPS; i++) {
        if (metrics_ops[i] == op) {
            return (int)i;
        }
    }
    return -1;
}

void
vgpu_metrics_count_run(struct vgpu_stats_vm *r, uint32_t op, int status)
{
    int slot = vgpu_metrics_op_slot(op);

    if (slot < 0) {
        return; /* not reached: a request is validated before it runs */
    }
    if (status < 0 || status >= (int)VGPU_ERR_COUNT) {
        status = VGPU_ERR_BACKEND_ERROR;
    }
    r->ran[slot][status]++;
}

struct metrics_walk {
    const struct vgpu_mediator *m;
    void (*fn)(const struct vgpu_vm_metrics *, void *);
    void *arg;
};

/* The core histogram @h summed below each bound: bound 2^k ns is the first
 * value of the core's bucket (k - SUB_BITS + 1) * SUB (stats.h), so every
 * bucket before that one holds only values under it. */
static void
metrics_hist(const struct vgpu_hist *h, struct vgpu_metrics_hist *out)
{
    uint64_t seen = 0;
    size_t next = 0;

    out->count = h->count;
    out->sum_ns = h->sum;
    for (unsigned int i = 0; i < VGPU_METRICS_BOUNDS; i++) {
        unsigned int k = VGPU_METRICS_FIRST_LOG2 + VGPU_METRICS_STEP_LOG2 * i;
        size_t first = (size_t)(k - VGPU_HIST_SUB_BITS + 1u) * VGPU_HIST_SUB;

        while (next < first && next < VGPU_HIST_BUCKETS) {
            seen += h->buckets[next++];
        }
        out->below[i] = seen;
    }
}

static void
metrics_vm(const struct vgpu_vm_stats *s, void *arg)
{
    struct metrics_walk *w = arg;
    const struct vgpu_stats_vm *rec = vgpu_stats_find(w->m->stats, s->vm_id);
    struct vgpu_vm_metrics out;
    uint32_t held;

    memset(&out, 0, sizeof(out));
    out.stats = *s;
    if (rec != NULL) {
        metrics_hist(&rec->wait, &out.wait);
        metrics_hist(&rec->service, &out.service);
        memcpy(out.ran, rec->ran, sizeof(out.ran));
    }
    for (const struct vgpu_mconn *c = w->m->conns; c != NULL; c = c->next) {
        if (c->stats != rec || rec == NULL) {
            continue;
        }
        /* held_reqs counts the request being received (rx) too. */
        held = c->held_reqs - (c->rx != NULL && c->held_reqs > 0 ? 1u : 0u);
        out.running += c->running;
        out.queued += held > c->running ? held - c->running : 0u;
    }
    w->fn(&out, w->arg);
}

size_t
vgpu_mediator_metrics(const struct vgpu_mediator *m,
                      void (*fn)(const struct vgpu_vm_metrics *, void *),
                      void *arg)
{
    struct metrics_walk w = {.m = m, .fn = fn, .arg = arg};

    /* Through vgpu_mediator_stats(), so that each record comes with its
     * share over the last second and its target (SPEC.md section 9). */
    return vgpu_mediator_stats(m, fn != NULL ? metrics_vm : NULL, &w);
}
