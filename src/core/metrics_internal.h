/*
 * The core's hook for the metrics (internal to src/core; metrics.c): what
 * the dispatch counts that the stats do not.
 */
#ifndef VGPU_MEDIATOR_METRICS_INTERNAL_H
#define VGPU_MEDIATOR_METRICS_INTERNAL_H

#include <stdint.h>

#include "stats.h"

/**
 * vgpu_metrics_count_run() - count a request of operation @op that an
 * executor ran and that ended with @status (a status past the known codes
 * counts as BACKEND_ERROR).
 */
void vgpu_metrics_count_run(struct vgpu_stats_vm *r, uint32_t op, int status);

#endif /* VGPU_MEDIATOR_METRICS_INTERNAL_H */
