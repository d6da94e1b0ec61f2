/*
 * The mediator core (SPEC.md sections 7-9, ARCHITECTURE.md): per-connection
 * protocol state, the scheduler and the backends, with no sockets.
 *
 * A transport (the daemon's epoll server, or the simulator's direct calls)
 * opens one struct vgpu_mconn per device connection, feeds it the bytes it
 * receives, and gets encoded frames back through ops->send. Requests wait in
 * the scheduler until the transport calls vgpu_mediator_dispatch(), which
 * runs them on the pool's backend and sends each RESPONSE on the connection
 * its REQUEST came from.
 *
 * Threading: a mediator and its connections are not thread-safe; the owner
 * serialises every call (the daemon's event loop, or the simulator's lock).
 * The one exception is vgpu_mediator_job_run(), which an executor thread
 * may call on a job it was handed (see "Executors" below).
 *
 * Ownership: the core never frees a connection on its own. When it decides a
 * connection must end (a protocol error, a refused HELLO, an output buffer
 * that is full), it sends what it has to send and calls ops->close; the
 * transport then calls vgpu_mediator_conn_close() when it is ready to, which
 * is the only place a connection is freed.
 */
#ifndef VGPU_MEDIATOR_H
#define VGPU_MEDIATOR_H

#include <stddef.h>
#include <stdint.h>

#include "vgpu/backend.h"
#include "vgpu/common.h"
#include "vgpu/regs.h"

struct vgpu_mediator;
struct vgpu_mconn;

/* The transport's side. */
struct vgpu_mediator_ops {
    /* Queue @len bytes (whole frames) for the peer of a connection.
     * @conn_opaque is what the transport gave vgpu_mediator_conn_open().
     * Return 0, or a negative code when the bytes cannot be queued (the
     * connection's output buffer is full): the core then gives up on the
     * connection and calls close. Must not call back into the core. */
    int (*send)(void *conn_opaque, const uint8_t *bytes, size_t len);
    /* The core is done with this connection: flush what was sent, then
     * close it and call vgpu_mediator_conn_close(). Must not call back into
     * the core from inside this call. */
    void (*close)(void *conn_opaque);
    /* Monotonic nanoseconds, for queue wait, service time and aging.
     * Called from executor threads too (vgpu_mediator_job_run()): it must
     * be thread-safe (a clock read is). */
    uint64_t (*now_ns)(void *opaque);
    /* One log line, without a newline. May be NULL. */
    void (*log)(void *opaque, int level, const char *line);
    /* Optional admission check of a HELLO (the registry, issue 7): return 0
     * to admit, or VGPU_ERR_REJECTED with a reason written to @why. */
    int (*admit)(void *opaque, uint32_t vm_id, uint8_t pool, uint8_t priority,
                 char *why, size_t why_len);
    /* Optional, after a HELLO is admitted: the VM's registry share and cap
     * (percent, 0 for none; SPEC.md section 9). Return 0 with them set, or
     * nonzero when the VM has none (no entry). May be NULL. */
    int (*limits)(void *opaque, uint32_t vm_id, uint32_t *share, uint32_t *cap);
};

/* The queue (SPEC.md section 11): the largest in-flight count a mediator may
 * accept from one connection (a ring holds at most 256 entries), and the
 * default bound on the bytes of requests held (queued, running or being
 * received) over all connections. */
#define VGPU_MEDIATOR_MAX_INFLIGHT           256u
#define VGPU_MEDIATOR_DEFAULT_REQUEST_MEMORY (1ull << 30) /* 1 GiB */

/* Configuration. vgpu_mediator_config_default() fills the defaults. */
struct vgpu_mediator_config {
    int policy;           /* VGPU_SCHED_PRIORITY or VGPU_SCHED_WEIGHTED */
    uint32_t max_wait_ms; /* aging bound of the priority policy */
    uint32_t weights[VGPU_PRIO_COUNT]; /* weighted policy: low, medium, high */
    uint32_t vm_queue_cap;             /* queued requests per VM */
    /* Requests in flight (queued or running) that a queue connection may
     * have: its HELLO_ACK says min(queue_inflight, vm_queue_cap), 1 ..
     * VGPU_MEDIATOR_MAX_INFLIGHT. Default VGPU_Q_DEFAULT_INFLIGHT. */
    uint32_t queue_inflight;
    /* Bytes of request payload held over all connections, at least
     * VGPU_MAX_PAYLOAD; a request that would pass it is REJECTED. */
    uint64_t request_memory;
    /* Backend of each pool, as "cpu" or "cuda:0"; NULL: default_backend. */
    const char *pool_backend[VGPU_POOL_COUNT];
    const char *default_backend;
    int log_level; /* lines above this level are not produced */
    /* vm_share of each pool, VGPU_SHARE_* (vgpu/scheduler.h), indexed by
     * pool - 'A'; 0: best_effort. */
    uint8_t vm_share[VGPU_POOL_COUNT];
};

/* Counters of one VM, for `vgpu-mediator --stats`. Times in nanoseconds. */
struct vgpu_vm_stats {
    uint32_t vm_id;
    uint8_t pool;
    uint8_t priority;
    int connected;
    uint64_t requests;               /* REQUEST frames received */
    uint64_t responses;              /* RESPONSE frames sent */
    uint64_t errors[VGPU_ERR_COUNT]; /* responses by status code */
    uint64_t bytes_in;               /* request payload bytes */
    uint64_t bytes_out;              /* response payload bytes */
    uint64_t wait_p50, wait_p99;     /* queue wait */
    uint64_t service_p50, service_p99;
    uint64_t service_total; /* sum of service times: executor time used */
    /* Shares (SPEC.md section 9), in basis points of one executor: its
     * executor time over the last second, and what its pool's vm_share and
     * its registry entry give it now (0: no target, best_effort). */
    uint32_t share_1s_bp;
    uint32_t target_bp;
    /* Executor time charged to it: each request's from its take to its
     * answer's hand-back (at least its service time), ns. */
    uint64_t executor_total;
    int share_mode; /* VGPU_SHARE_* of its pool */
};

/**
 * vgpu_mediator_policy_lookup() - the scheduling policy named @name,
 * "priority" or "weighted" (exactly), for the policy of struct
 * vgpu_mediator_config. Return: 0 and *@policy set, or -EINVAL.
 * Thread-safe.
 */
VGPU_EXPORT int vgpu_mediator_policy_lookup(const char *name, int *policy);

/** vgpu_mediator_config_default() - the defaults of SPEC.md section 9. */
VGPU_EXPORT void vgpu_mediator_config_default(struct vgpu_mediator_config *cfg);

/**
 * vgpu_mediator_create() - a mediator with the backends of @cfg opened.
 * @ops:    the transport; must outlive the mediator.
 * @opaque: passed to now_ns, log and admit.
 * @err:    receives a one-line reason on failure (a backend that would not
 *          open, a bad weight, ...).
 * Return: the mediator, or NULL.
 */
VGPU_EXPORT struct vgpu_mediator *
vgpu_mediator_create(const struct vgpu_mediator_config *cfg,
                     const struct vgpu_mediator_ops *ops, void *opaque,
                     char *err, size_t err_len);

/**
 * vgpu_mediator_destroy() - close the backends and free everything. Every
 * connection must have been closed first.
 */
VGPU_EXPORT void vgpu_mediator_destroy(struct vgpu_mediator *m);

/**
 * vgpu_mediator_conn_open() - a new device connection, awaiting HELLO.
 * Return: the connection, or NULL when out of memory.
 */
VGPU_EXPORT struct vgpu_mconn *vgpu_mediator_conn_open(struct vgpu_mediator *m,
                                                       void *conn_opaque);

/**
 * vgpu_mediator_conn_input() - bytes received on a connection, in any split.
 * Frames are handled as they complete: HELLO is answered, REQUESTs are
 * validated and queued (or answered at once with INVALID_REQUEST,
 * RESPONSE_TOO_LARGE or REJECTED), PING gets PONG. A protocol error sends an
 * ERROR frame and calls ops->close.
 * Return: 0, or a negative code once the connection is closing (the rest of
 * the bytes are ignored).
 */
VGPU_EXPORT int vgpu_mediator_conn_input(struct vgpu_mconn *c,
                                         const uint8_t *data, size_t len);

/**
 * vgpu_mediator_conn_close() - the connection is gone. Its queued requests
 * are dropped (there is nobody to answer), and it is freed.
 */
VGPU_EXPORT void vgpu_mediator_conn_close(struct vgpu_mconn *c);

/**
 * vgpu_mediator_dispatch() - run queued requests: at most @budget per pool
 * with work (0: all of them), each on its pool's backend, answering each on
 * its connection.
 * Return: the number of requests executed.
 */
VGPU_EXPORT size_t vgpu_mediator_dispatch(struct vgpu_mediator *m,
                                          size_t budget);

/*
 * Executors. vgpu_mediator_dispatch() is the inline executor: it takes,
 * runs and finishes each request on the caller's thread. A transport with
 * executor threads (the daemon) splits those three steps:
 *
 *   owner's thread               executor's thread
 *   j = vgpu_mediator_take()  -> vgpu_mediator_job_run(j, its backend)
 *   vgpu_mediator_job_finish(j) <- (the owner learns it has run)
 *
 * Between take and finish the job belongs to the executor: the owner does
 * not touch it, and the request bytes it reads stay put even when its
 * connection closes meanwhile (the job is then orphaned: finish drops the
 * answer and counts it in vgpu_mediator_dropped_answers()). The owner must
 * make run's writes visible before it calls finish (a lock, as any hand-off
 * between threads), and must finish every job before
 * vgpu_mediator_destroy().
 */
struct vgpu_mediator_job;

/**
 * vgpu_mediator_take() - the next request of @pool, per the scheduling
 * policy at the current time, now owned by the caller as a job.
 * Return: the job, or NULL when @pool has nothing queued. O(1).
 */
VGPU_EXPORT struct vgpu_mediator_job *
vgpu_mediator_take(struct vgpu_mediator *m, uint8_t pool);

/**
 * vgpu_mediator_job_inline() - whether @ops says the job is cheap enough to
 * run on the owner's thread (backend.h, cheap: a NOP on a backend without
 * a delay). The daemon then runs it there instead of handing it to an
 * executor thread, which saves two thread hops on the fast path.
 */
VGPU_EXPORT int vgpu_mediator_job_inline(const struct vgpu_mediator_job *j,
                                         const struct vgpu_backend_ops *ops,
                                         void *ctx);

/**
 * vgpu_mediator_job_run() - execute @j on the backend @ops with @ctx; the
 * result is written at @frame + VGPU_HDR_SIZE, so that finish frames it
 * in place. @frame (@frame_cap bytes, at least VGPU_HDR_SIZE plus the
 * largest answer of the job's connection: VGPU_HDR_SIZE +
 * VGPU_MAX_PAYLOAD covers every one) must stay untouched until finish.
 * Thread-safe: it touches only @j, @frame and @ctx, and reads the clock;
 * the caller serialises calls on one @ctx.
 */
VGPU_EXPORT void vgpu_mediator_job_run(struct vgpu_mediator_job *j,
                                       const struct vgpu_backend_ops *ops,
                                       void *ctx, uint8_t *frame,
                                       size_t frame_cap);

/**
 * vgpu_mediator_job_finish() - on the owner's thread, after run: charge
 * the service time to the scheduler, record the VM's stats, log the line,
 * send the RESPONSE on the job's connection (or drop and count it when the
 * connection is gone or closing) and free the request.
 */
VGPU_EXPORT void vgpu_mediator_job_finish(struct vgpu_mediator_job *j);

/** vgpu_mediator_running() - jobs taken and not finished yet. */
VGPU_EXPORT size_t vgpu_mediator_running(const struct vgpu_mediator *m);

/** vgpu_mediator_conn_running() - of them, the jobs of connection @c. */
VGPU_EXPORT uint32_t vgpu_mediator_conn_running(const struct vgpu_mconn *c);

/**
 * vgpu_mediator_dropped_answers() - answers of jobs whose connection went
 * away while they ran: computed, then dropped, since start.
 */
VGPU_EXPORT uint64_t
vgpu_mediator_dropped_answers(const struct vgpu_mediator *m);

/**
 * vgpu_mediator_conn_inflight() - for a queue connection (its HELLO offered
 * VGPU_CAP_QUEUE), the requests it may have in flight, as its 12-byte
 * HELLO_ACK said; 0 before HELLO and for a device without the queue (the
 * mailbox: 1 KiB answers, its requests bounded by vm_queue_cap). A
 * transport sizes the connection's output bound from it (each answer of a
 * queue connection may be VGPU_MAX_PAYLOAD bytes).
 */
VGPU_EXPORT uint32_t vgpu_mediator_conn_inflight(const struct vgpu_mconn *c);

/**
 * vgpu_mediator_held_bytes() - bytes of request payload the mediator holds
 * now (queued, running, or being received), over all connections.
 */
VGPU_EXPORT uint64_t vgpu_mediator_held_bytes(const struct vgpu_mediator *m);

/**
 * vgpu_mediator_pending_pools() - the pools with requests waiting, as a
 * bit mask: bit i for pool 'A' + i. O(1).
 */
VGPU_EXPORT uint32_t vgpu_mediator_pending_pools(const struct vgpu_mediator *m);

/**
 * vgpu_mediator_wake_ns() - when the pools of @pools (a bit mask) have
 * requests that caps or fixed shares hold back and nothing that may run
 * now: the earliest time one may (on ops->now_ns's clock); call
 * vgpu_mediator_take() again then. 0 when nothing is held back.
 */
VGPU_EXPORT uint64_t vgpu_mediator_wake_ns(const struct vgpu_mediator *m,
                                           uint32_t pools);

/** vgpu_mediator_pending() - requests waiting in the scheduler. */
VGPU_EXPORT size_t vgpu_mediator_pending(const struct vgpu_mediator *m);

/**
 * vgpu_mediator_shutdown() - stop taking work (SIGTERM): every queued request
 * is answered REJECTED "mediator shutting down", and later REQUESTs get the
 * same answer. Connections stay open so the answers can be flushed.
 * Return: the number of queued requests answered.
 */
VGPU_EXPORT size_t vgpu_mediator_shutdown(struct vgpu_mediator *m);

/**
 * vgpu_mediator_stats() - call @fn once per VM seen since start, in vm_id
 * order, with its counters and its share of executor time over the last
 * second beside its target. Return: the number of VMs.
 */
VGPU_EXPORT size_t vgpu_mediator_stats(const struct vgpu_mediator *m,
                                       void (*fn)(const struct vgpu_vm_stats *,
                                                  void *),
                                       void *arg);

#endif /* VGPU_MEDIATOR_H */
