/*
 * The mediator core's figures for a monitoring system (docs/mediator.md,
 * "Metrics"): each VM's counters (struct vgpu_vm_stats), what it has queued
 * and running now, and its queue wait and service time as cumulative
 * histograms with fixed bounds, the shape Prometheus' histograms have.
 *
 * Kept apart from vgpu/mediator.h so that the core's stats stay as they are:
 * these figures are read from the same records (src/core/metrics.c).
 */
#ifndef VGPU_MEDIATOR_METRICS_H
#define VGPU_MEDIATOR_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "vgpu/mediator.h"

/* The histograms' bounds: bound i is 2^(FIRST_LOG2 + STEP_LOG2 * i) ns,
 * from 1.024 us to 4.29 s, each four times the one before. They are bucket
 * bounds of the core's own histogram, so the counts below them are exact. */
#define VGPU_METRICS_BOUNDS     12u
#define VGPU_METRICS_FIRST_LOG2 10u
#define VGPU_METRICS_STEP_LOG2  2u

/* The operations counted apart (vgpu_metrics_op()): NOP, ECHO, ADD_I32,
 * ADD_F32, SAXPY_F32, DOT_F32, MATMUL_F32. */
#define VGPU_METRICS_OPS 7u

/* One histogram: below[i] values were under bound i (ns). */
struct vgpu_metrics_hist {
    uint64_t count;
    uint64_t sum_ns;
    uint64_t below[VGPU_METRICS_BOUNDS];
};

/* The figures of one VM. */
struct vgpu_vm_metrics {
    struct vgpu_vm_stats stats;    /* the counters and percentiles */
    uint32_t queued;               /* requests waiting in the scheduler now */
    uint32_t running;              /* requests an executor runs now */
    struct vgpu_metrics_hist wait; /* queue wait */
    struct vgpu_metrics_hist service; /* service time */
    /* Requests an executor ran, by operation slot and final status. */
    uint64_t ran[VGPU_METRICS_OPS][VGPU_ERR_COUNT];
};

/** vgpu_metrics_op() - the operation code of slot @i (< VGPU_METRICS_OPS). */
VGPU_EXPORT uint32_t vgpu_metrics_op(unsigned int i);

/**
 * vgpu_metrics_op_slot() - the slot of operation code @op.
 * Return: 0 .. VGPU_METRICS_OPS - 1, or -1 for a code that is no operation.
 */
VGPU_EXPORT int vgpu_metrics_op_slot(uint32_t op);

/** vgpu_metrics_bound_ns() - bound @i (< VGPU_METRICS_BOUNDS), in ns. */
static inline uint64_t
vgpu_metrics_bound_ns(unsigned int i)
{
    return UINT64_C(1) << (VGPU_METRICS_FIRST_LOG2 +
                           VGPU_METRICS_STEP_LOG2 * i);
}

/**
 * vgpu_mediator_metrics() - call @fn with the figures of each VM the
 * mediator has seen, in vm_id order. Costs O(VMs * connections).
 * Return: the number of VMs. Not thread-safe: the owner's thread, as every
 * call into the core.
 */
VGPU_EXPORT size_t vgpu_mediator_metrics(
    const struct vgpu_mediator *m,
    void (*fn)(const struct vgpu_vm_metrics *, void *), void *arg);

#endif /* VGPU_MEDIATOR_METRICS_H */
