/*
 * Per-VM counters of the mediator core (internal to src/core): what
 * `vgpu-mediator --stats` prints, and a log-bucketed latency histogram for
 * the p50/p99 of queue wait and service time.
 *
 * A pure module: no I/O, no clock, no globals; the caller passes every time.
 * Not thread-safe: the mediator serialises every call.
 *
 * Records are kept in an array of pointers sorted by vm_id, so lookup is a
 * binary search, iteration is in vm_id order with no sorting, and a record's
 * address is stable from its creation until vgpu_stats_destroy() (the core
 * keeps a pointer to it in each connection). Records are never removed: the
 * counters of a VM that disconnected stay for --stats.
 */
#ifndef VGPU_MEDIATOR_STATS_H
#define VGPU_MEDIATOR_STATS_H

#include <stddef.h>
#include <stdint.h>

#include "share_window.h"
#include "vgpu/mediator.h"
#include "vgpu/mediator_metrics.h"

/*
 * The histogram: values below 2^SUB_BITS have a bucket each; above, every
 * power of two is split into 2^SUB_BITS buckets of equal width, so a bucket
 * spans at most 1/8 of its lower bound and its midpoint is within 6.25% of
 * any value in it. 496 buckets cover the whole uint64_t range (about 4 KiB).
 */
#define VGPU_HIST_SUB_BITS 3u
#define VGPU_HIST_SUB      (1u << VGPU_HIST_SUB_BITS)
#define VGPU_HIST_BUCKETS  ((64u - VGPU_HIST_SUB_BITS + 1u) * VGPU_HIST_SUB)

struct vgpu_hist {
    uint64_t count;
    uint64_t min; /* of the values recorded; 0 when count is 0 */
    uint64_t max;
    uint64_t sum; /* of the values recorded (wraps after 584 years of ns) */
    uint64_t buckets[VGPU_HIST_BUCKETS];
};

/** vgpu_hist_record() - add one value (nanoseconds, or any unit). O(1). */
void vgpu_hist_record(struct vgpu_hist *h, uint64_t value);

/**
 * vgpu_hist_percentile() - the @pct-th percentile (1..100) of the values
 * recorded, by nearest rank: the midpoint of the bucket that holds the value
 * of rank ceil(count * pct / 100), clamped to the recorded min and max (so a
 * single value, or values below 8, come back exactly); the last rank (as
 * pct 100 asks) is the recorded max.
 * Return: the estimate, or 0 when nothing was recorded. O(buckets).
 */
uint64_t vgpu_hist_percentile(const struct vgpu_hist *h, unsigned int pct);

/* The counters of one VM. */
struct vgpu_stats_vm {
    uint32_t vm_id;
    uint8_t pool;
    uint8_t priority;
    int connected;
    uint64_t requests;
    uint64_t responses;
    uint64_t errors[VGPU_ERR_COUNT]; /* responses by status code */
    uint64_t bytes_in;
    uint64_t bytes_out;
    struct vgpu_hist wait;    /* queue wait, ns */
    struct vgpu_hist service; /* service time, ns */
    /* Requests an executor ran, by operation (vgpu_metrics_op_slot()) and
     * the status they ended with: src/core/metrics.c keeps them. */
    uint64_t ran[VGPU_METRICS_OPS][VGPU_ERR_COUNT];
    struct vgpu_share_window share; /* executor time of the last second */
};

struct vgpu_stats;

/**
 * vgpu_stats_create() - an empty set of records.
 * Return: the set, owned by the caller (vgpu_stats_destroy()), or NULL when
 * out of memory.
 */
struct vgpu_stats *vgpu_stats_create(void);

/** vgpu_stats_destroy() - free the set and its records. @s may be NULL. */
void vgpu_stats_destroy(struct vgpu_stats *s);

/**
 * vgpu_stats_get() - the record of @vm_id, created (zeroed) if it is new.
 * Cost: O(log n) to find; O(n) pointer moves to insert a new VM.
 * Return: the record, owned by the set and valid until it is destroyed, or
 * NULL when out of memory.
 */
struct vgpu_stats_vm *vgpu_stats_get(struct vgpu_stats *s, uint32_t vm_id);

/**
 * vgpu_stats_find() - the record of @vm_id, or NULL if there is none.
 */
struct vgpu_stats_vm *vgpu_stats_find(const struct vgpu_stats *s,
                                      uint32_t vm_id);

/**
 * vgpu_stats_response() - count one RESPONSE sent with @status and
 * @payload_len bytes. A status past the known codes counts as
 * VGPU_ERR_BACKEND_ERROR.
 */
void vgpu_stats_response(struct vgpu_stats_vm *r, uint32_t status,
                         size_t payload_len);

/**
 * vgpu_stats_fill() - the public form of a record, with the percentiles
 * computed.
 */
void vgpu_stats_fill(const struct vgpu_stats_vm *r, struct vgpu_vm_stats *out);

/**
 * vgpu_stats_foreach() - call @fn with the public form of each record, in
 * vm_id order. Return: the number of records.
 */
size_t vgpu_stats_foreach(const struct vgpu_stats *s,
                          void (*fn)(const struct vgpu_vm_stats *, void *),
                          void *arg);

#endif /* VGPU_MEDIATOR_STATS_H */
