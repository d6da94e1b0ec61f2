/*
 * Per-VM counters and the log-bucketed latency histogram (stats.h).
 */
#include <stdlib.h>
#include <string.h>

#include "stats.h"

#define STATS_MIN_CAP 16u
#define PCT_ALL       100u

struct vgpu_stats {
    struct vgpu_stats_vm **vms; /* sorted by vm_id */
    size_t count;
    size_t cap;
};

/* ---- Histogram ----------------------------------------------------------- */

/* The bucket of @v: values below VGPU_HIST_SUB are their own bucket; for a
 * larger value whose top bit is e, group e - SUB_BITS + 1 holds it, and the
 * SUB_BITS bits below the top bit pick the bucket inside the group. */
static size_t
hist_index(uint64_t v)
{
    unsigned int e;
    unsigned int shift;

    if (v < VGPU_HIST_SUB) {
        return (size_t)v;
    }
    e = 63u - (unsigned int)__builtin_clzll(v);
    shift = e - VGPU_HIST_SUB_BITS;
    return (size_t)(e - VGPU_HIST_SUB_BITS + 1u) * VGPU_HIST_SUB +
           (size_t)((v >> shift) & (VGPU_HIST_SUB - 1u));
}

/* The midpoint of bucket @i: the inverse of hist_index(). */
static uint64_t
hist_mid(size_t i)
{
    size_t group = i / VGPU_HIST_SUB;
    uint64_t sub = i % VGPU_HIST_SUB;
    unsigned int shift;
    uint64_t lo;

    if (group == 0) {
        return (uint64_t)i;
    }
    shift = (unsigned int)(group - 1u);
    lo = (VGPU_HIST_SUB + sub) << shift;
    return lo + (((uint64_t)1 << shift) - 1u) / 2u;
}

void
vgpu_hist_record(struct vgpu_hist *h, uint64_t value)
{
    if (h->count == 0 || value < h->min) {
        h->min = value;
    }
    if (h->count == 0 || value > h->max) {
        h->max = value;
    }
    h->count++;
    h->sum += value;
    h->buckets[hist_index(value)]++;
}

uint64_t
vgpu_hist_percentile(const struct vgpu_hist *h, unsigned int pct)
{
    uint64_t rank;
    uint64_t seen = 0;
    uint64_t v;

    if (h->count == 0) {
        return 0;
    }
    if (pct > PCT_ALL) {
        pct = PCT_ALL;
    }
    /* Nearest rank, computed so that count * pct cannot overflow. */
    rank = h->count / PCT_ALL * pct +
           (h->count % PCT_ALL * pct + PCT_ALL - 1u) / PCT_ALL;
    if (rank == 0) {
        rank = 1;
    }
    if (rank >= h->count) {
        return h->max; /* the largest value is known exactly */
    }
    for (size_t i = 0; i < VGPU_HIST_BUCKETS; i++) {
        seen += h->buckets[i];
        if (seen >= rank) {
            v = hist_mid(i);
            if (v < h->min) {
                v = h->min;
            }
            if (v > h->max) {
                v = h->max;
            }
            return v;
        }
    }
    return h->max; /* not reached: the buckets sum to count */
}

/* ---- Records ------------------------------------------------------------- */

struct vgpu_stats *
vgpu_stats_create(void)
{
    return calloc(1, sizeof(struct vgpu_stats));
}

void
vgpu_stats_destroy(struct vgpu_stats *s)
{
    if (s == NULL) {
        return;
    }
    for (size_t i = 0; i < s->count; i++) {
        free(s->vms[i]);
    }
    free(s->vms);
    free(s);
}

/* The index of @vm_id in s->vms, or where it would be inserted. */
static size_t
stats_lower_bound(const struct vgpu_stats *s, uint32_t vm_id)
{
    size_t lo = 0;
    size_t hi = s->count;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2u;

        if (s->vms[mid]->vm_id < vm_id) {
            lo = mid + 1u;
        } else {
            hi = mid;
        }
    }
    return lo;
}

struct vgpu_stats_vm *
vgpu_stats_find(const struct vgpu_stats *s, uint32_t vm_id)
{
    size_t i = stats_lower_bound(s, vm_id);

    if (i < s->count && s->vms[i]->vm_id == vm_id) {
        return s->vms[i];
    }
    return NULL;
}

struct vgpu_stats_vm *
vgpu_stats_get(struct vgpu_stats *s, uint32_t vm_id)
{
    size_t i = stats_lower_bound(s, vm_id);
    struct vgpu_stats_vm *r;

    if (i < s->count && s->vms[i]->vm_id == vm_id) {
        return s->vms[i];
    }
    if (s->count == s->cap) {
        size_t cap = s->cap == 0 ? STATS_MIN_CAP : s->cap * 2u;
        struct vgpu_stats_vm **vms = realloc(s->vms, cap * sizeof(*vms));

        if (vms == NULL) {
            return NULL;
        }
        s->vms = vms;
        s->cap = cap;
    }
    r = calloc(1, sizeof(*r));
    if (r == NULL) {
        return NULL;
    }
    r->vm_id = vm_id;
    memmove(&s->vms[i + 1u], &s->vms[i], (s->count - i) * sizeof(s->vms[0]));
    s->vms[i] = r;
    s->count++;
    return r;
}

void
vgpu_stats_response(struct vgpu_stats_vm *r, uint32_t status,
                    size_t payload_len)
{
    if (status >= VGPU_ERR_COUNT) {
        status = VGPU_ERR_BACKEND_ERROR;
    }
    r->responses++;
    r->errors[status]++;
    r->bytes_out += payload_len;
}

void
vgpu_stats_fill(const struct vgpu_stats_vm *r, struct vgpu_vm_stats *out)
{
    memset(out, 0, sizeof(*out));
    out->vm_id = r->vm_id;
    out->pool = r->pool;
    out->priority = r->priority;
    out->connected = r->connected;
    out->requests = r->requests;
    out->responses = r->responses;
    memcpy(out->errors, r->errors, sizeof(out->errors));
    out->bytes_in = r->bytes_in;
    out->bytes_out = r->bytes_out;
    out->wait_p50 = vgpu_hist_percentile(&r->wait, 50u);
    out->wait_p99 = vgpu_hist_percentile(&r->wait, 99u);
    out->service_p50 = vgpu_hist_percentile(&r->service, 50u);
    out->service_p99 = vgpu_hist_percentile(&r->service, 99u);
    out->service_total = r->service.sum;
}

size_t
vgpu_stats_foreach(const struct vgpu_stats *s,
                   void (*fn)(const struct vgpu_vm_stats *, void *), void *arg)
{
    struct vgpu_vm_stats out;

    if (fn != NULL) {
        for (size_t i = 0; i < s->count; i++) {
            vgpu_stats_fill(s->vms[i], &out);
            fn(&out, arg);
        }
    }
    return s->count;
}
