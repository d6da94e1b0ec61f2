/*
 * A VM's executor time over the last second, for its share in --stats
 * (SPEC.md section 9, vm_share): ten buckets of 100 ms, each stamped with
 * the interval it counts, so old ones are ignored without a sweep. Pure:
 * the caller passes the time. Internal to src/core.
 */
#ifndef VGPU_SHARE_WINDOW_H
#define VGPU_SHARE_WINDOW_H

#include <stdint.h>

#define VGPU_SHARE_WINDOW_BUCKETS 10u
#define VGPU_SHARE_WINDOW_NS      1000000000ull

struct vgpu_share_window {
    uint64_t busy[VGPU_SHARE_WINDOW_BUCKETS];  /* executor ns */
    uint64_t epoch[VGPU_SHARE_WINDOW_BUCKETS]; /* interval number + 1 */
    uint64_t total;                            /* executor ns since start */
};

/** vgpu_share_window_add() - @ns of executor time that ended at @now_ns. */
void vgpu_share_window_add(struct vgpu_share_window *w, uint64_t now_ns,
                           uint64_t ns);

/**
 * vgpu_share_window_bp() - the executor time of the last second before
 * @now_ns (the buckets of the last ten 100 ms intervals), in basis points
 * of one second (10000: one executor all the time).
 */
uint32_t vgpu_share_window_bp(const struct vgpu_share_window *w,
                              uint64_t now_ns);

#endif /* VGPU_SHARE_WINDOW_H */
