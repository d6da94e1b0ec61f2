/*
 * A VM's executor time over the last second (share_window.h).
 */
#include "share_window.h"

#define WINDOW_BUCKET_NS (VGPU_SHARE_WINDOW_NS / VGPU_SHARE_WINDOW_BUCKETS)
#define WINDOW_BP_FULL   10000ull

void
vgpu_share_window_add(struct vgpu_share_window *w, uint64_t now_ns, uint64_t ns)
{
    uint64_t e = now_ns / WINDOW_BUCKET_NS + 1u;
    uint64_t b = e % VGPU_SHARE_WINDOW_BUCKETS;

    if (w->epoch[b] != e) {
        w->epoch[b] = e;
        w->busy[b] = 0;
    }
    w->busy[b] += ns;
    w->total += ns;
}

uint32_t
vgpu_share_window_bp(const struct vgpu_share_window *w, uint64_t now_ns)
{
    uint64_t e = now_ns / WINDOW_BUCKET_NS + 1u;
    uint64_t sum = 0;

    for (unsigned int b = 0; b < VGPU_SHARE_WINDOW_BUCKETS; b++) {
        if (w->epoch[b] != 0 && w->epoch[b] <= e &&
            e - w->epoch[b] < VGPU_SHARE_WINDOW_BUCKETS) {
            sum += w->busy[b];
        }
    }
    sum = sum * WINDOW_BP_FULL / VGPU_SHARE_WINDOW_NS;
    return sum > UINT32_MAX ? UINT32_MAX : (uint32_t)sum;
}
