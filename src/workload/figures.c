/*
 * Latency figures (workload.h): the monotonic clock, sorting, and
 * nearest-rank percentiles, as vgpu-sim and vgpu-bench print them.
 */
#include <stdlib.h>
#include <time.h>

#include "workload.h"

#define NS_PER_SEC 1000000000ull
#define NS_PER_US  1000.0
#define PCT_ALL    100u

uint64_t
vgpu_wl_now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * NS_PER_SEC + (uint64_t)ts.tv_nsec;
}

static int
cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a;
    uint64_t y = *(const uint64_t *)b;

    return x < y ? -1 : x > y;
}

void
vgpu_wl_sort_u64(uint64_t *v, size_t n)
{
    if (n > 0) {
        qsort(v, n, sizeof(*v), cmp_u64);
    }
}

double
vgpu_wl_pct_us(const uint64_t *sorted, size_t n, unsigned pct)
{
    size_t rank;

    if (n == 0) {
        return 0.0;
    }
    rank = (n * pct + PCT_ALL - 1u) / PCT_ALL;
    if (rank == 0) {
        rank = 1;
    }
    return (double)sorted[rank - 1u] / NS_PER_US;
}
