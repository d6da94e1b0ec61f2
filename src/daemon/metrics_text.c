/*
 * The exposition text of the metrics endpoint (metrics.h): Prometheus'
 * text format 0.0.4, base units (seconds, bytes), one family at a time.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "vgpu/mediator_metrics.h"
#include "vgpu/proto.h"

#define NS_PER_S 1e9

struct metrics_all {
    struct vgpu_vm_metrics *vms;
    size_t n;
    size_t cap;
    int failed;
};

static void
metrics_collect(const struct vgpu_vm_metrics *vm, void *arg)
{
    struct metrics_all *a = arg;

    if (a->failed) {
        return;
    }
    if (a->n == a->cap) {
        size_t cap = a->cap ? a->cap * 2u : 16u;
        struct vgpu_vm_metrics *p = realloc(a->vms, cap * sizeof(*p));

        if (p == NULL) {
            a->failed = 1;
            return;
        }
        a->vms = p;
        a->cap = cap;
    }
    a->vms[a->n++] = *vm;
}

static void
metrics_family(FILE *f, const char *name, const char *type, const char *help)
{
    fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* The labels of one VM, without braces. */
static void
metrics_vm_labels(const struct vgpu_vm_stats *s, char *buf, size_t len)
{
    const char *prio = vgpu_prio_name(s->priority);

    snprintf(buf, len, "vm_id=\"%u\",pool=\"%c\",priority=\"%s\"",
             (unsigned)s->vm_id, vgpu_pool_valid(s->pool) ? (char)s->pool : '-',
             prio != NULL ? prio : "unknown");
}

/* One sample per VM of the value @get picks. */
static void
metrics_per_vm(FILE *f, const struct metrics_all *a, const char *name,
               uint64_t (*get)(const struct vgpu_vm_metrics *), double scale)
{
    char labels[128];

    for (size_t i = 0; i < a->n; i++) {
        metrics_vm_labels(&a->vms[i].stats, labels, sizeof(labels));
        if (scale != 0) {
            fprintf(f, "%s{%s} %.9g\n", name, labels,
                    (double)get(&a->vms[i]) * scale);
        } else {
            fprintf(f, "%s{%s} %llu\n", name, labels,
                    (unsigned long long)get(&a->vms[i]));
        }
    }
}

static uint64_t
get_connected(const struct vgpu_vm_metrics *v)
{
    return v->stats.connected ? 1u : 0u;
}

static uint64_t
get_requests(const struct vgpu_vm_metrics *v)
{
    return v->stats.requests;
}

static uint64_t
get_bytes_in(const struct vgpu_vm_metrics *v)
{
    return v->stats.bytes_in;
}

static uint64_t
get_bytes_out(const struct vgpu_vm_metrics *v)
{
    return v->stats.bytes_out;
}

static uint64_t
get_queued(const struct vgpu_vm_metrics *v)
{
    return v->queued;
}

static uint64_t
get_running(const struct vgpu_vm_metrics *v)
{
    return v->running;
}

static uint64_t
get_executor_ns(const struct vgpu_vm_metrics *v)
{
    return v->stats.executor_total;
}

static uint64_t
get_share_bp(const struct vgpu_vm_metrics *v)
{
    return v->stats.share_1s_bp;
}

static uint64_t
get_target_bp(const struct vgpu_vm_metrics *v)
{
    return v->stats.target_bp;
}

/* The families with one sample per VM, in the order written; get NULL:
 * vgpu_mediator_responses_total, which has a sample per status too. */
struct metrics_per_vm_family {
    const char *name;
    const char *type;
    const char *help;
    uint64_t (*get)(const struct vgpu_vm_metrics *);
    double scale; /* the sample is get() * scale; 0: 1, printed whole */
};

static const struct metrics_per_vm_family metrics_per_vm_families[] = {
    {"vgpu_mediator_vm_connected", "gauge", "1 while the VM is connected.",
     get_connected, 0},
    {"vgpu_mediator_requests_total", "counter", "REQUEST frames received.",
     get_requests, 0},
    {NULL, NULL, NULL, NULL, 0},
    {"vgpu_mediator_request_bytes_total", "counter",
     "Request payload bytes received.", get_bytes_in, 0},
    {"vgpu_mediator_response_bytes_total", "counter",
     "Response payload bytes sent.", get_bytes_out, 0},
    {"vgpu_mediator_queue_depth", "gauge",
     "Requests waiting in the scheduler now.", get_queued, 0},
    {"vgpu_mediator_requests_in_flight", "gauge",
     "Requests an executor runs now.", get_running, 0},
    {"vgpu_mediator_vm_executor_seconds_total", "counter",
     "Executor time charged to the VM (each request from its take to its "
     "answer's hand-back).",
     get_executor_ns, 1.0 / NS_PER_S},
    {"vgpu_mediator_vm_share_ratio", "gauge",
     "The VM's share of one executor's time over the last second (0..1).",
     get_share_bp, 1e-4},
    {"vgpu_mediator_vm_share_target_ratio", "gauge",
     "The share the pool's vm_share and the VM's registry entry give it now "
     "(0..1; 0: no target, best_effort).",
     get_target_bp, 1e-4},
};

#define METRICS_NPER_VM                                                        \
    (sizeof(metrics_per_vm_families) / sizeof(metrics_per_vm_families[0]))

static void
metrics_histogram(FILE *f, const struct metrics_all *a, const char *name,
                  int service)
{
    char labels[128];

    for (size_t i = 0; i < a->n; i++) {
        const struct vgpu_metrics_hist *h =
            service ? &a->vms[i].service : &a->vms[i].wait;

        metrics_vm_labels(&a->vms[i].stats, labels, sizeof(labels));
        for (unsigned int b = 0; b < VGPU_METRICS_BOUNDS; b++) {
            fprintf(f, "%s_bucket{%s,le=\"%.12g\"} %llu\n", name, labels,
                    (double)vgpu_metrics_bound_ns(b) / NS_PER_S,
                    (unsigned long long)h->below[b]);
        }
        fprintf(f, "%s_bucket{%s,le=\"+Inf\"} %llu\n", name, labels,
                (unsigned long long)h->count);
        fprintf(f, "%s_sum{%s} %.9f\n", name, labels,
                (double)h->sum_ns / NS_PER_S);
        fprintf(f, "%s_count{%s} %llu\n", name, labels,
                (unsigned long long)h->count);
    }
}

static void
metrics_responses(FILE *f, const struct metrics_all *a)
{
    char labels[128];

    metrics_family(f, "vgpu_mediator_responses_total", "counter",
                   "RESPONSE frames sent, by status (NONE: success; the "
                   "others: refusals and failures by reason).");
    for (size_t i = 0; i < a->n; i++) {
        metrics_vm_labels(&a->vms[i].stats, labels, sizeof(labels));
        for (int code = VGPU_ERR_NONE; code < (int)VGPU_ERR_COUNT; code++) {
            fprintf(f, "vgpu_mediator_responses_total{%s,status=\"%s\"} %llu\n",
                    labels, vgpu_strerror(code),
                    (unsigned long long)a->vms[i].stats.errors[code]);
        }
    }
}

/* One counter per pool that has VMs: @v[p], in seconds from ns when
 * @seconds. */
static void
metrics_pool_family(FILE *f, const struct vgpu_metrics_info *info,
                    const int *seen, const uint64_t *v, int seconds,
                    const char *name, const char *help)
{
    metrics_family(f, name, "counter", help);
    for (size_t p = 0; p < VGPU_POOL_COUNT; p++) {
        if (!seen[p]) {
            continue;
        }
        fprintf(f, "%s{pool=\"%c\",backend=\"%s\"} ", name,
                (char)(VGPU_POOL_FIRST + p),
                info->backend[p] ? info->backend[p] : "");
        if (seconds) {
            fprintf(f, "%.9f\n", (double)v[p] / NS_PER_S);
        } else {
            fprintf(f, "%llu\n", (unsigned long long)v[p]);
        }
    }
}

/* Requests executed, by operation and status: only the pairs seen, so a
 * VM has a handful of series rather than every operation times every
 * status. */
static void
metrics_executed(FILE *f, const struct metrics_all *a)
{
    char labels[128];

    metrics_family(f, "vgpu_mediator_requests_executed_total", "counter",
                   "Requests an executor ran, by operation and the status "
                   "they ended with.");
    for (size_t i = 0; i < a->n; i++) {
        metrics_vm_labels(&a->vms[i].stats, labels, sizeof(labels));
        for (unsigned int op = 0; op < VGPU_METRICS_OPS; op++) {
            for (int code = VGPU_ERR_NONE; code < (int)VGPU_ERR_COUNT; code++) {
                const char *name = vgpu_op_name(vgpu_metrics_op(op));

                if (a->vms[i].ran[op][code] == 0) {
                    continue;
                }
                fprintf(f,
                        "vgpu_mediator_requests_executed_total{%s,op=\"%s\","
                        "status=\"%s\"} %llu\n",
                        labels, name != NULL ? name : "?", vgpu_strerror(code),
                        (unsigned long long)a->vms[i].ran[op][code]);
            }
        }
    }
}

/* Per pool: executor time used and backend errors, summed over its VMs. */
static void
metrics_pools(FILE *f, const struct metrics_all *a,
              const struct vgpu_metrics_info *info)
{
    uint64_t busy[VGPU_POOL_COUNT] = {0};
    uint64_t errs[VGPU_POOL_COUNT] = {0};
    int seen[VGPU_POOL_COUNT] = {0};

    for (size_t i = 0; i < a->n; i++) {
        const struct vgpu_vm_stats *s = &a->vms[i].stats;
        size_t p;

        if (!vgpu_pool_valid(s->pool)) {
            continue;
        }
        p = (size_t)(s->pool - VGPU_POOL_FIRST);
        seen[p] = 1;
        busy[p] += s->service_total;
        errs[p] += s->errors[VGPU_ERR_BACKEND_ERROR];
    }
    metrics_pool_family(f, info, seen, busy, 1,
                        "vgpu_mediator_executor_busy_seconds_total",
                        "Executor time spent on each pool's requests.");
    metrics_pool_family(f, info, seen, errs, 0,
                        "vgpu_mediator_backend_errors_total",
                        "Requests that failed in the backend "
                        "(BACKEND_ERROR).");
}

static void
metrics_write(FILE *f, const struct metrics_all *a,
              const struct vgpu_mediator *m,
              const struct vgpu_metrics_info *info)
{
    size_t connected = 0;

    for (size_t i = 0; i < a->n; i++) {
        connected += a->vms[i].stats.connected ? 1u : 0u;
    }
    metrics_family(f, "vgpu_mediator_build_info", "gauge",
                   "The daemon's version; always 1.");
    fprintf(f, "vgpu_mediator_build_info{version=\"%s\"} 1\n", info->version);
    metrics_family(f, "vgpu_mediator_start_time_seconds", "gauge",
                   "When the daemon started, Unix time: a restart resets it.");
    fprintf(f, "vgpu_mediator_start_time_seconds %llu\n",
            (unsigned long long)info->start_time_s);
    metrics_family(f, "vgpu_mediator_vms_connected", "gauge",
                   "VMs connected now.");
    fprintf(f, "vgpu_mediator_vms_connected %zu\n", connected);
    metrics_family(f, "vgpu_mediator_dropped_answers_total", "counter",
                   "Answers dropped because their connection had gone.");
    fprintf(f, "vgpu_mediator_dropped_answers_total %llu\n",
            (unsigned long long)vgpu_mediator_dropped_answers(m));
    for (size_t i = 0; i < METRICS_NPER_VM; i++) {
        const struct metrics_per_vm_family *pf = &metrics_per_vm_families[i];

        if (pf->get == NULL) {
            metrics_responses(f, a);
            continue;
        }
        metrics_family(f, pf->name, pf->type, pf->help);
        metrics_per_vm(f, a, pf->name, pf->get, pf->scale);
    }
    metrics_family(f, "vgpu_mediator_request_wait_seconds", "histogram",
                   "Time requests waited in the queue.");
    metrics_histogram(f, a, "vgpu_mediator_request_wait_seconds", 0);
    metrics_family(f, "vgpu_mediator_request_service_seconds", "histogram",
                   "Time the backend took to run requests.");
    metrics_histogram(f, a, "vgpu_mediator_request_service_seconds", 1);
    metrics_executed(f, a);
    metrics_pools(f, a, info);
}

char *
vgpu_metrics_text(const struct vgpu_mediator *m,
                  const struct vgpu_metrics_info *info)
{
    struct metrics_all a = {0};
    char *text = NULL;
    size_t len = 0;
    FILE *f;

    (void)vgpu_mediator_metrics(m, metrics_collect, &a);
    if (a.failed) {
        free(a.vms);
        return NULL;
    }
    f = open_memstream(&text, &len);
    if (f == NULL) {
        free(a.vms);
        return NULL;
    }
    metrics_write(f, &a, m, info);
    free(a.vms);
    if (ferror(f)) {
        fclose(f);
        free(text);
        return NULL;
    }
    if (fclose(f) != 0) {
        free(text);
        return NULL;
    }
    return text;
}
