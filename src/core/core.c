/*
 * The mediator core (vgpu/mediator.h): create and destroy, the backends of
 * the pools, dispatch of queued requests, shutdown and the stats. The
 * per-connection protocol lives in conn.c.
 *
 * Cost of dispatch: per request, one vgpu_sched_next() (O(1)), the backend's
 * exec, two clock reads, one encoded RESPONSE and one free(). Nothing scans
 * the queues or the connections.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core_internal.h"
#include "metrics_internal.h"

/* The backend used when the configuration names none. */
#define MED_DEFAULT_BACKEND  VGPU_BACKEND_CPU_NAME
/* The longest backend name (before ':') that can be looked up. */
#define MED_BACKEND_NAME_MAX 64u
/* The longest item of a pool's backend list. */
#define MED_BACKEND_ITEM_MAX 128u

void
vgpu_med_log(struct vgpu_mediator *m, int level, const char *fmt, ...)
{
    char line[VGPU_MED_LOG_MAX];
    va_list ap;

    if (m->ops->log == NULL || level > m->log_level) {
        return;
    }
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    m->ops->log(m->opaque, level, line);
}

uint64_t
vgpu_med_now(struct vgpu_mediator *m)
{
    return m->ops->now_ns(m->opaque);
}

struct vgpu_med_request *
vgpu_med_request_of(struct vgpu_sched_item *item)
{
    return (struct vgpu_med_request *)((char *)item -
                                       offsetof(struct vgpu_med_request, item));
}

struct vgpu_med_request *
vgpu_med_request_alloc(struct vgpu_mediator *m, size_t len)
{
    struct vgpu_med_request *r;

    if (len <= MED_SMALL_CAP && m->small_free != NULL) {
        r = m->small_free;
        m->small_free = r->next_free;
        m->n_small_free--;
    } else {
        r = malloc(sizeof(*r) + (len <= MED_SMALL_CAP ? MED_SMALL_CAP : len));
        if (r == NULL) {
            return NULL;
        }
    }
    memset(r, 0, sizeof(*r));
    r->m = m;
    r->cap = len <= MED_SMALL_CAP ? MED_SMALL_CAP : len;
    return r;
}

void
vgpu_med_request_free(struct vgpu_med_request *r)
{
    struct vgpu_mediator *m;

    if (r == NULL) {
        return;
    }
    m = r->m;
    if (r->conn != NULL) {
        r->conn->held_reqs--;
        m->held_bytes -= r->len;
    } else if (r->orphan) {
        m->held_bytes -= r->len;
    }
    if (r->cap == MED_SMALL_CAP && m->n_small_free < MED_SMALL_KEEP) {
        r->next_free = m->small_free;
        m->small_free = r;
        m->n_small_free++;
        return;
    }
    free(r);
}

static void
med_drop_one(struct vgpu_sched_item *item, void *arg)
{
    size_t *count = arg;

    vgpu_med_request_free(vgpu_med_request_of(item));
    (*count)++;
}

size_t
vgpu_med_drop_vm(struct vgpu_mediator *m, uint32_t vm_id)
{
    size_t count = 0;

    vgpu_sched_remove_vm(m->sched, vm_id, med_drop_one, &count);
    return count;
}

/* ---- Configuration and the backends ------------------------------------- */

int
vgpu_mediator_policy_lookup(const char *name, int *policy)
{
    return vgpu_sched_policy_lookup(name, policy);
}

void
vgpu_mediator_config_default(struct vgpu_mediator_config *cfg)
{
    struct vgpu_sched_config sc;

    vgpu_sched_config_default(&sc);
    memset(cfg, 0, sizeof(*cfg));
    cfg->policy = sc.policy;
    cfg->max_wait_ms = sc.max_wait_ms;
    memcpy(cfg->weights, sc.weights, sizeof(cfg->weights));
    cfg->vm_queue_cap = sc.vm_queue_cap;
    cfg->queue_inflight = VGPU_Q_DEFAULT_INFLIGHT;
    cfg->request_memory = VGPU_MEDIATOR_DEFAULT_REQUEST_MEMORY;
    cfg->default_backend = MED_DEFAULT_BACKEND;
    cfg->log_level = VGPU_LOG_INFO;
}

/* The backend string of pool @i: its own, else the default, else "cpu". */
static const char *
med_pool_backend(const struct vgpu_mediator_config *cfg, size_t i)
{
    if (cfg->pool_backend[i] != NULL) {
        return cfg->pool_backend[i];
    }
    if (cfg->default_backend != NULL) {
        return cfg->default_backend;
    }
    return MED_DEFAULT_BACKEND;
}

/* Open the backend "name[:spec]" @str for pool @i. Of a list "a,b" (the
 * daemon's executors open every item; see docs/mediator.md) the core, whose
 * vgpu_mediator_dispatch() is one inline executor, opens the first. */
static int
med_open_backend(struct vgpu_med_backend *b, size_t i, const char *list,
                 char *err, size_t err_len)
{
    char str[MED_BACKEND_ITEM_MAX];
    size_t item_len = strcspn(list, ",");
    const char *colon;
    size_t name_len;
    const char *spec;

    if (item_len >= sizeof(str)) {
        vgpu_set_err(err, err_len, "pool %c: backend '%s': too long",
                     (char)(VGPU_POOL_FIRST + i), list);
        return -ENAMETOOLONG;
    }
    memcpy(str, list, item_len);
    str[item_len] = '\0';
    colon = strchr(str, ':');
    name_len = colon != NULL ? (size_t)(colon - str) : strlen(str);
    spec = colon != NULL ? colon + 1 : "";
    char name[MED_BACKEND_NAME_MAX];
    char why[VGPU_MED_MSG_MAX] = "";
    int rc;

    b->ops = NULL;
    if (name_len < sizeof(name)) {
        memcpy(name, str, name_len);
        name[name_len] = '\0';
        b->ops = vgpu_backend_find(name);
    }
    if (b->ops == NULL) {
        vgpu_set_err(err, err_len,
                     "pool %c: backend '%s': unknown backend '%.*s'",
                     (char)(VGPU_POOL_FIRST + i), str, (int)name_len, str);
        return -ENOENT;
    }
    rc = b->ops->open(spec, &b->ctx, why, sizeof(why));
    if (rc < 0) {
        b->ops = NULL;
        b->ctx = NULL;
        vgpu_set_err(err, err_len, "pool %c: backend '%s': %s",
                     (char)(VGPU_POOL_FIRST + i), str,
                     why[0] != '\0' ? why : vgpu_strerror(rc));
        return rc;
    }
    b->owner = 1;
    return 0;
}

/* Open every pool's backend; a pool whose string an earlier pool has shares
 * that pool's context. */
static int
med_open_backends(struct vgpu_mediator *m,
                  const struct vgpu_mediator_config *cfg, char *err,
                  size_t err_len)
{
    for (size_t i = 0; i < VGPU_POOL_COUNT; i++) {
        const char *str = med_pool_backend(cfg, i);
        size_t j;
        int rc;

        for (j = 0; j < i; j++) {
            if (strcmp(med_pool_backend(cfg, j), str) == 0) {
                break;
            }
        }
        if (j < i) {
            m->backends[i] = m->backends[j];
            m->backends[i].owner = 0;
            continue;
        }
        rc = med_open_backend(&m->backends[i], i, str, err, err_len);
        if (rc < 0) {
            return rc;
        }
    }
    return 0;
}

static void
med_close_backends(struct vgpu_mediator *m)
{
    for (size_t i = VGPU_POOL_COUNT; i-- > 0;) {
        struct vgpu_med_backend *b = &m->backends[i];

        if (b->owner && b->ops != NULL) {
            b->ops->close(b->ctx);
        }
        b->ops = NULL;
        b->ctx = NULL;
        b->owner = 0;
    }
}

/* The scheduler's part of @cfg, checked with a message for each mistake. */
static int
med_sched_config(const struct vgpu_mediator_config *cfg,
                 struct vgpu_sched_config *sc, char *err, size_t err_len)
{
    if (vgpu_sched_policy_name(cfg->policy) == NULL) {
        vgpu_set_err(err, err_len, "policy: unknown scheduling policy %d",
                     cfg->policy);
        return -EINVAL;
    }
    for (size_t p = 0; p < VGPU_PRIO_COUNT; p++) {
        if (cfg->weights[p] == 0) {
            vgpu_set_err(err, err_len,
                         "weights: the %s weight is 0 (at least 1)",
                         vgpu_prio_name((uint32_t)p));
            return -EINVAL;
        }
    }
    if (cfg->vm_queue_cap == 0) {
        vgpu_set_err(err, err_len, "vm_queue_cap: 0 (at least 1)");
        return -EINVAL;
    }
    if (cfg->queue_inflight == 0 ||
        cfg->queue_inflight > VGPU_MEDIATOR_MAX_INFLIGHT) {
        vgpu_set_err(err, err_len, "queue_inflight: %u is not in 1..%u",
                     (unsigned)cfg->queue_inflight, VGPU_MEDIATOR_MAX_INFLIGHT);
        return -EINVAL;
    }
    if (cfg->request_memory < VGPU_MAX_PAYLOAD) {
        vgpu_set_err(err, err_len,
                     "request_memory: %llu bytes (at least %u, one request)",
                     (unsigned long long)cfg->request_memory, VGPU_MAX_PAYLOAD);
        return -EINVAL;
    }
    vgpu_sched_config_default(sc);
    sc->policy = cfg->policy;
    sc->max_wait_ms = cfg->max_wait_ms;
    memcpy(sc->weights, cfg->weights, sizeof(sc->weights));
    sc->vm_queue_cap = cfg->vm_queue_cap;
    for (size_t i = 0; i < VGPU_POOL_COUNT; i++) {
        if (vgpu_sched_share_name(cfg->vm_share[i]) == NULL) {
            vgpu_set_err(err, err_len, "vm_share: unknown mode %u of pool %c",
                         (unsigned)cfg->vm_share[i],
                         (char)(VGPU_POOL_FIRST + i));
            return -EINVAL;
        }
        sc->vm_share[i] = cfg->vm_share[i];
    }
    return 0;
}

/* ---- Lifecycle ----------------------------------------------------------- */

struct vgpu_mediator *
vgpu_mediator_create(const struct vgpu_mediator_config *cfg,
                     const struct vgpu_mediator_ops *ops, void *opaque,
                     char *err, size_t err_len)
{
    struct vgpu_mediator_config defaults;
    struct vgpu_sched_config sc;
    struct vgpu_mediator *m;

    vgpu_set_err(err, err_len, "%s", "");
    if (cfg == NULL) {
        vgpu_mediator_config_default(&defaults);
        cfg = &defaults;
    }
    if (ops == NULL || ops->send == NULL || ops->close == NULL ||
        ops->now_ns == NULL) {
        vgpu_set_err(err, err_len,
                     "mediator ops must set send, close and now_ns");
        return NULL;
    }
    if (med_sched_config(cfg, &sc, err, err_len) < 0) {
        return NULL;
    }
    m = calloc(1, sizeof(*m));
    if (m == NULL) {
        vgpu_set_err(err, err_len, "out of memory");
        return NULL;
    }
    m->ops = ops;
    m->opaque = opaque;
    m->log_level = cfg->log_level;
    m->vm_queue_cap = cfg->vm_queue_cap;
    /* A queue connection is offered no more than the scheduler would take
     * from its VM, so a device that keeps to its HELLO_ACK is never told
     * "queue full". */
    m->queue_inflight = cfg->queue_inflight < cfg->vm_queue_cap
                            ? cfg->queue_inflight
                            : cfg->vm_queue_cap;
    m->held_max = cfg->request_memory;
    m->wire_cap = VGPU_MED_WIRE_SMALL;
    m->wire = malloc(m->wire_cap);
    if (m->wire == NULL) {
        vgpu_set_err(err, err_len, "out of memory");
        goto err;
    }
    m->sched = vgpu_sched_create(&sc);
    memcpy(m->sched_share, sc.vm_share, sizeof(m->sched_share));
    if (m->sched == NULL) {
        vgpu_set_err(err, err_len, "scheduler: %s", vgpu_strerror(-errno));
        goto err;
    }
    m->stats = vgpu_stats_create();
    if (m->stats == NULL) {
        vgpu_set_err(err, err_len, "out of memory");
        goto err;
    }
    if (med_open_backends(m, cfg, err, err_len) < 0) {
        goto err;
    }
    return m;

err:
    med_close_backends(m);
    vgpu_stats_destroy(m->stats);
    vgpu_sched_destroy(m->sched);
    free(m->wire);
    free(m);
    return NULL;
}

/* Take every queued request of @pool out of the scheduler, in policy order
 * at @now, and hand it to @fn (which frees it). Return: how many. */
static size_t
med_drain_pool(struct vgpu_mediator *m, uint8_t pool, uint64_t now,
               void (*fn)(struct vgpu_mediator *, struct vgpu_med_request *))
{
    struct vgpu_sched_item *item;
    size_t count = 0;

    while ((item = vgpu_sched_next_any(m->sched, pool, now)) != NULL) {
        fn(m, vgpu_med_request_of(item));
        count++;
    }
    return count;
}

static void
med_free_request(struct vgpu_mediator *m, struct vgpu_med_request *r)
{
    (void)m;
    vgpu_med_request_free(r);
}

void
vgpu_mediator_destroy(struct vgpu_mediator *m)
{
    if (m == NULL) {
        return;
    }
    /* Every connection should be closed by now; free what a careless owner
     * left, rather than leak it. */
    while (m->conns != NULL) {
        vgpu_mediator_conn_close(m->conns);
    }
    /* Nothing should be queued once the connections are gone; the order
     * does not matter, so the clock is not read. */
    for (size_t i = 0; i < VGPU_POOL_COUNT; i++) {
        med_drain_pool(m, (uint8_t)(VGPU_POOL_FIRST + i), 0, med_free_request);
    }
    med_close_backends(m);
    vgpu_stats_destroy(m->stats);
    vgpu_sched_destroy(m->sched);
    while (m->small_free != NULL) {
        struct vgpu_med_request *r = m->small_free;

        m->small_free = r->next_free;
        free(r);
    }
    free(m->wire);
    free(m);
}

/* ---- Dispatch ------------------------------------------------------------ */

static uint64_t
med_elapsed(uint64_t from, uint64_t to)
{
    return to > from ? to - from : 0;
}

static struct vgpu_med_request *
med_request_of_job(struct vgpu_mediator_job *j)
{
    return (struct vgpu_med_request *)((char *)j -
                                       offsetof(struct vgpu_med_request, job));
}

struct vgpu_mediator_job *
vgpu_mediator_take(struct vgpu_mediator *m, uint8_t pool)
{
    uint64_t now = vgpu_med_now(m);
    struct vgpu_sched_item *item = vgpu_sched_next(m->sched, pool, now);
    struct vgpu_med_request *r;
    struct vgpu_mediator_job *j;

    if (item == NULL) {
        return NULL;
    }
    r = vgpu_med_request_of(item);
    j = &r->job;
    memset(j, 0, sizeof(*j));
    j->start_ns = now;
    j->run_next = m->running;
    if (m->running != NULL) {
        m->running->run_prev = j;
    }
    m->running = j;
    m->n_running++;
    r->conn->running++;
    vgpu_med_log(
        m, VGPU_LOG_DEBUG, "vm=%u req=%u op=%s taken wait_us=%llu",
        (unsigned)r->item.vm_id, (unsigned)r->request_id,
        vgpu_op_name(r->desc.op),
        (unsigned long long)(med_elapsed(r->item.enqueue_ns, now) / 1000u));
    return j;
}

int
vgpu_mediator_job_inline(const struct vgpu_mediator_job *j,
                         const struct vgpu_backend_ops *ops, void *ctx)
{
    const struct vgpu_med_request *r =
        med_request_of_job((struct vgpu_mediator_job *)j);

    return ops->cheap != NULL && ops->cheap(ctx, &r->desc);
}

void
vgpu_mediator_job_run(struct vgpu_mediator_job *j,
                      const struct vgpu_backend_ops *ops, void *ctx,
                      uint8_t *frame, size_t frame_cap)
{
    struct vgpu_med_request *r = med_request_of_job(j);
    struct vgpu_mediator *m = r->m;
    size_t cap = frame_cap > VGPU_HDR_SIZE ? frame_cap - VGPU_HDR_SIZE : 0;

    j->frame = frame;
    j->frame_cap = frame_cap;
    j->backend = ops->name;
    j->msg[0] = '\0';
    j->out_len = 0;
    /* The result goes where the answer is framed: no copy. */
    j->status = ops->exec(ctx, &r->desc, frame + VGPU_HDR_SIZE, cap,
                          &j->out_len, j->msg, sizeof(j->msg));
    if (j->status == VGPU_ERR_NONE && j->out_len > cap) {
        j->out_len = cap;
    }
    /* now_ns is a clock read, safe from any thread (mediator.h). */
    j->end_ns = vgpu_med_now(m);
}

/* The answer of @j, whose connection @c is still there and greeted. */
static void
med_answer(struct vgpu_mconn *c, struct vgpu_mediator_job *j,
           const struct vgpu_med_ident *id, int status)
{
    if (status == VGPU_ERR_NONE) {
        if (vgpu_med_send_framed(c, VGPU_MSG_RESPONSE, id, VGPU_ERR_NONE,
                                 j->frame, j->out_len) == 0 &&
            c->stats != NULL) {
            vgpu_stats_response(c->stats, VGPU_ERR_NONE, j->out_len);
        }
        return;
    }
    vgpu_med_respond(c, id, (uint32_t)status, j->msg, strlen(j->msg));
}

void
vgpu_mediator_job_finish(struct vgpu_mediator_job *j)
{
    struct vgpu_med_request *r = med_request_of_job(j);
    struct vgpu_mediator *m = r->m;
    struct vgpu_mconn *c = r->conn;
    struct vgpu_med_ident id = {
        .vm_id = r->item.vm_id,
        .request_id = r->request_id,
        .pool = r->item.pool,
        .priority = r->item.priority,
    };
    uint64_t wait = med_elapsed(r->item.enqueue_ns, j->start_ns);
    uint64_t service = med_elapsed(j->start_ns, j->end_ns);
    uint64_t occupied;
    int status = j->status;
    size_t len;

    if (j->run_prev != NULL) {
        j->run_prev->run_next = j->run_next;
    } else {
        m->running = j->run_next;
    }
    if (j->run_next != NULL) {
        j->run_next->run_prev = j->run_prev;
    }
    m->n_running--;
    if (c != NULL) {
        c->running--;
    }
    /* The VM is charged the executor's time from the take to now, the
     * answer's hand-back to this thread included: the executor is not
     * free for another request before that (docs/mediator.md "Shares"). */
    occupied = med_elapsed(j->start_ns, vgpu_med_now(m));
    if (occupied < service) {
        occupied = service;
    }
    vgpu_sched_charge(m->sched, &r->item, occupied);
    if (r->stats != NULL) {
        vgpu_share_window_add(&r->stats->share, j->start_ns + occupied,
                              occupied);
    }
    if (status != VGPU_ERR_NONE) {
        if (status < 0 || status >= (int)VGPU_ERR_COUNT) {
            status = VGPU_ERR_BACKEND_ERROR;
        }
        if (j->msg[0] == '\0') {
            snprintf(j->msg, sizeof(j->msg), "%s backend: %s",
                     j->backend != NULL ? j->backend : "?",
                     vgpu_strerror(status));
        }
    }
    len = status == VGPU_ERR_NONE ? j->out_len : strlen(j->msg);
    if (r->stats != NULL) {
        vgpu_hist_record(&r->stats->wait, wait);
        vgpu_hist_record(&r->stats->service, service);
        vgpu_metrics_count_run(r->stats, r->desc.op, status);
    }
    vgpu_med_log(m, status == VGPU_ERR_NONE ? VGPU_LOG_INFO : VGPU_LOG_WARN,
                 "vm=%u req=%u op=%s status=%s wait_us=%llu service_us=%llu "
                 "in=%zu out=%zu",
                 (unsigned)id.vm_id, (unsigned)id.request_id,
                 vgpu_op_name(r->desc.op), vgpu_strerror(status),
                 (unsigned long long)(wait / 1000u),
                 (unsigned long long)(service / 1000u), r->len, len);
    if (c != NULL && c->state == VGPU_MCONN_READY) {
        med_answer(c, j, &id, status);
    } else {
        /* Its VM disconnected while it ran: nobody reads the answer. */
        m->dropped_answers++;
        vgpu_med_log(m, VGPU_LOG_INFO,
                     "vm=%u req=%u: answer dropped, the connection is gone",
                     (unsigned)id.vm_id, (unsigned)id.request_id);
    }
    vgpu_med_request_free(r);
}

void
vgpu_med_orphan_running(struct vgpu_mconn *c)
{
    for (struct vgpu_mediator_job *j = c->m->running; j != NULL;
         j = j->run_next) {
        struct vgpu_med_request *r = med_request_of_job(j);

        if (r->conn == c) {
            r->conn = NULL;
            r->orphan = 1;
            c->held_reqs--;
            c->running--;
        }
    }
}

size_t
vgpu_mediator_running(const struct vgpu_mediator *m)
{
    return m->n_running;
}

uint64_t
vgpu_mediator_dropped_answers(const struct vgpu_mediator *m)
{
    return m->dropped_answers;
}

size_t
vgpu_mediator_dispatch(struct vgpu_mediator *m, size_t budget)
{
    uint32_t pending = vgpu_sched_pending(m->sched);
    size_t done = 0;

    /* The inline executor: take, run and finish on the caller's thread,
     * with the pool's own backend context and m->wire as the frame. */
    for (size_t i = 0; i < VGPU_POOL_COUNT; i++) {
        uint8_t pool = (uint8_t)(VGPU_POOL_FIRST + i);
        const struct vgpu_med_backend *b = &m->backends[i];

        if ((pending & (1u << i)) == 0) {
            continue;
        }
        for (size_t n = 0; budget == 0 || n < budget; n++) {
            struct vgpu_mediator_job *j = vgpu_mediator_take(m, pool);

            if (j == NULL) {
                break;
            }
            vgpu_mediator_job_run(j, b->ops, b->ctx, m->wire, m->wire_cap);
            vgpu_mediator_job_finish(j);
            done++;
        }
    }
    return done;
}

int
vgpu_med_wire_grow(struct vgpu_mediator *m)
{
    uint8_t *wire;

    if (m->wire_cap >= VGPU_MED_WIRE_SIZE) {
        return 0;
    }
    wire = realloc(m->wire, VGPU_MED_WIRE_SIZE);
    if (wire == NULL) {
        return -ENOMEM;
    }
    m->wire = wire;
    m->wire_cap = VGPU_MED_WIRE_SIZE;
    return 0;
}

uint64_t
vgpu_mediator_held_bytes(const struct vgpu_mediator *m)
{
    return m->held_bytes;
}

uint32_t
vgpu_mediator_pending_pools(const struct vgpu_mediator *m)
{
    return vgpu_sched_pending(m->sched);
}

size_t
vgpu_mediator_pending(const struct vgpu_mediator *m)
{
    uint32_t pending = vgpu_sched_pending(m->sched);
    size_t count = 0;

    for (size_t i = 0; i < VGPU_POOL_COUNT; i++) {
        if ((pending & (1u << i)) != 0) {
            count +=
                vgpu_sched_queued(m->sched, (uint8_t)(VGPU_POOL_FIRST + i));
        }
    }
    return count;
}

/* ---- Shutdown and stats -------------------------------------------------- */

static void
med_reject_shutdown(struct vgpu_mediator *m, struct vgpu_med_request *r)
{
    struct vgpu_med_ident id = {
        .vm_id = r->item.vm_id,
        .request_id = r->request_id,
        .pool = r->item.pool,
        .priority = r->item.priority,
    };

    (void)m;
    if (r->conn->state == VGPU_MCONN_READY) {
        vgpu_med_refuse(r->conn, &id, VGPU_ERR_REJECTED,
                        "mediator shutting down");
    }
    vgpu_med_request_free(r);
}

size_t
vgpu_mediator_shutdown(struct vgpu_mediator *m)
{
    uint32_t pending = vgpu_sched_pending(m->sched);
    uint64_t now = vgpu_med_now(m);
    size_t count = 0;

    m->shutting_down = 1;
    for (size_t i = 0; i < VGPU_POOL_COUNT; i++) {
        if ((pending & (1u << i)) != 0) {
            count += med_drain_pool(m, (uint8_t)(VGPU_POOL_FIRST + i), now,
                                    med_reject_shutdown);
        }
    }
    vgpu_med_log(m, VGPU_LOG_INFO,
                 "shutting down: %zu queued requests answered REJECTED", count);
    return count;
}

uint64_t
vgpu_mediator_wake_ns(const struct vgpu_mediator *m, uint32_t pools)
{
    uint32_t pending = vgpu_sched_pending(m->sched) & pools;
    uint64_t wake = 0;

    for (size_t i = 0; i < VGPU_POOL_COUNT; i++) {
        uint64_t w;

        if ((pending & (1u << i)) == 0) {
            continue;
        }
        w = vgpu_sched_wake_ns(m->sched, (uint8_t)(VGPU_POOL_FIRST + i));
        if (w == 0) {
            return 0; /* that pool may run something now */
        }
        if (wake == 0 || w < wake) {
            wake = w;
        }
    }
    return wake;
}

/* vgpu_mediator_stats()'s walk: each record with its share and target. */
struct med_stats_walk {
    const struct vgpu_mediator *m;
    uint64_t now;
    void (*fn)(const struct vgpu_vm_stats *, void *);
    void *arg;
};

static void
med_stats_share(const struct vgpu_vm_stats *in, void *arg)
{
    const struct med_stats_walk *w = arg;
    const struct vgpu_stats_vm *r = vgpu_stats_find(w->m->stats, in->vm_id);
    struct vgpu_sched_target t;
    struct vgpu_vm_stats out = *in;

    if (r != NULL) {
        out.share_1s_bp = vgpu_share_window_bp(&r->share, w->now);
        out.executor_total = r->share.total;
    }
    if (vgpu_pool_valid(in->pool)) {
        out.share_mode = w->m->sched_share[in->pool - VGPU_POOL_FIRST];
        if (vgpu_sched_vm_target(w->m->sched, in->vm_id, in->pool, in->priority,
                                 &t) == 0) {
            out.target_bp = t.target_bp;
        }
    }
    w->fn(&out, w->arg);
}

size_t
vgpu_mediator_stats(const struct vgpu_mediator *m,
                    void (*fn)(const struct vgpu_vm_stats *, void *), void *arg)
{
    struct med_stats_walk w = {
        .m = m,
        .now = m->ops->now_ns(m->opaque),
        .fn = fn,
        .arg = arg,
    };

    return vgpu_stats_foreach(m->stats, fn != NULL ? med_stats_share : NULL,
                              &w);
}
