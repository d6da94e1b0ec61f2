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

/* The backend used when the configuration names none. */
#define MED_DEFAULT_BACKEND  VGPU_BACKEND_CPU_NAME
/* The longest backend name (before ':') that can be looked up. */
#define MED_BACKEND_NAME_MAX 64u

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

/* Open the backend "name[:spec]" @str for pool @i. */
static int
med_open_backend(struct vgpu_med_backend *b, size_t i, const char *str,
                 char *err, size_t err_len)
{
    const char *colon = strchr(str, ':');
    size_t name_len = colon != NULL ? (size_t)(colon - str) : strlen(str);
    const char *spec = colon != NULL ? colon + 1 : "";
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

    while ((item = vgpu_sched_next(m->sched, pool, now)) != NULL) {
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

/* Run one request taken from the scheduler at @start, answer it, free it. */
static void
med_execute(struct vgpu_mediator *m, struct vgpu_med_request *r, uint64_t start)
{
    const struct vgpu_med_backend *b =
        &m->backends[r->item.pool - VGPU_POOL_FIRST];
    struct vgpu_mconn *c = r->conn;
    struct vgpu_med_ident id = {
        .vm_id = r->item.vm_id,
        .request_id = r->request_id,
        .pool = r->item.pool,
        .priority = r->item.priority,
    };
    char msg[VGPU_MED_MSG_MAX] = "";
    uint8_t *result = m->wire + VGPU_HDR_SIZE;
    size_t result_cap = m->wire_cap - VGPU_HDR_SIZE;
    const void *payload;
    size_t out_len = 0;
    size_t len;
    uint64_t wait;
    uint64_t service;
    int status;

    /* The result goes where vgpu_med_send() frames it: no copy. */
    status = b->ops->exec(b->ctx, &r->desc, result, result_cap, &out_len, msg,
                          sizeof(msg));
    service = med_elapsed(start, vgpu_med_now(m));
    wait = med_elapsed(r->item.enqueue_ns, start);
    vgpu_sched_charge(m->sched, &r->item, service);

    if (status == VGPU_ERR_NONE) {
        payload = result;
        len = out_len <= result_cap ? out_len : result_cap;
    } else {
        if (status < 0 || status >= (int)VGPU_ERR_COUNT) {
            status = VGPU_ERR_BACKEND_ERROR;
        }
        if (msg[0] == '\0') {
            snprintf(msg, sizeof(msg), "%s backend: %s", b->ops->name,
                     vgpu_strerror(status));
        }
        payload = msg;
        len = strlen(msg);
    }
    vgpu_hist_record(&c->stats->wait, wait);
    vgpu_hist_record(&c->stats->service, service);
    vgpu_med_log(m, status == VGPU_ERR_NONE ? VGPU_LOG_INFO : VGPU_LOG_WARN,
                 "vm=%u req=%u op=%s status=%s wait_us=%llu service_us=%llu "
                 "in=%zu out=%zu",
                 (unsigned)id.vm_id, (unsigned)id.request_id,
                 vgpu_op_name(r->desc.op), vgpu_strerror(status),
                 (unsigned long long)(wait / 1000u),
                 (unsigned long long)(service / 1000u), r->len, len);
    if (c->state == VGPU_MCONN_READY) {
        vgpu_med_respond(c, &id, (uint32_t)status, payload, len);
    }
    vgpu_med_request_free(r);
}

size_t
vgpu_mediator_dispatch(struct vgpu_mediator *m, size_t budget)
{
    uint32_t pending = vgpu_sched_pending(m->sched);
    size_t done = 0;

    for (size_t i = 0; i < VGPU_POOL_COUNT; i++) {
        uint8_t pool = (uint8_t)(VGPU_POOL_FIRST + i);

        if ((pending & (1u << i)) == 0) {
            continue;
        }
        for (size_t n = 0; budget == 0 || n < budget; n++) {
            uint64_t now = vgpu_med_now(m);
            struct vgpu_sched_item *item = vgpu_sched_next(m->sched, pool, now);

            if (item == NULL) {
                break;
            }
            med_execute(m, vgpu_med_request_of(item), now);
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

size_t
vgpu_mediator_stats(const struct vgpu_mediator *m,
                    void (*fn)(const struct vgpu_vm_stats *, void *), void *arg)
{
    return vgpu_stats_foreach(m->stats, fn, arg);
}
