/*
 * What core.c (the mediator: create, dispatch, shutdown) and conn.c (one
 * connection's protocol state machine) share. Internal to src/core.
 *
 * Not thread-safe, like the public API: the owner serialises every call.
 */
#ifndef VGPU_MEDIATOR_CORE_INTERNAL_H
#define VGPU_MEDIATOR_CORE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "vgpu/backend.h"
#include "vgpu/mediator.h"
#include "vgpu/proto.h"

#include "stats.h"
#include "vgpu/scheduler.h"

/* The major part of a protocol version is its high 16 bits. */
#define VGPU_MED_VERSION_MAJOR_SHIFT 16u
#define VGPU_MED_VERSION_MINOR_MASK  0xFFFFu

/* Bounds of the texts the core builds: a RESPONSE or ERROR message, and a
 * log line. Longer texts are truncated. */
#define VGPU_MED_MSG_MAX 256u

/* A peer that floods refused requests (a full queue, bad lengths) must not
 * flood the log: each connection logs this many refusals per window. */
#define VGPU_MED_REFUSE_LOG_BURST     10u
#define VGPU_MED_REFUSE_LOG_WINDOW_NS 1000000000ull
#define VGPU_MED_LOG_MAX              512u

/* Connection states. */
enum {
    VGPU_MCONN_AWAIT_HELLO = 0, /* only HELLO is accepted */
    VGPU_MCONN_READY = 1,       /* greeted: REQUEST, PING, PONG */
    VGPU_MCONN_CLOSING = 2,     /* ops->close called; input ignored */
};

/* The backend of one pool. Pools with the same backend string share one
 * context; only the first of them owns (and closes) it. */
struct vgpu_med_backend {
    const struct vgpu_backend_ops *ops;
    void *ctx;
    int owner;
};

/* The executor's part of a request taken from the scheduler (mediator.h,
 * vgpu_mediator_take()): where its result lies and how it went. Written by
 * vgpu_mediator_job_run() on whatever thread runs it; read by
 * vgpu_mediator_job_finish() on the owner's thread, after the owner has
 * synchronised with that thread (the daemon: its completion lock). */
struct vgpu_mediator_job {
    int status;                 /* VGPU_ERR_*; NONE: the result is at frame */
    size_t out_len;             /* result bytes at frame + VGPU_HDR_SIZE */
    uint8_t *frame;             /* the runner's buffer; NULL before run */
    size_t frame_cap;           /* bytes at frame */
    uint64_t start_ns;          /* taken from the scheduler */
    uint64_t end_ns;            /* exec returned */
    const char *backend;        /* the backend's name, for messages */
    char msg[VGPU_MED_MSG_MAX]; /* the backend's reason on failure */
    /* m->running, the taken jobs (owner's thread only). */
    struct vgpu_mediator_job *run_prev;
    struct vgpu_mediator_job *run_next;
};

/* A request: the scheduler's item, where to answer, and the request bytes,
 * which the decoder writes here directly (desc.operands points into bytes):
 * they are held once, from the header to the answer, never copied. Counted
 * in its connection's held_reqs and the mediator's held_bytes while it
 * lives. */
struct vgpu_med_request {
    struct vgpu_sched_item item;
    struct vgpu_mconn *conn;
    struct vgpu_mediator *m;
    struct vgpu_med_request *next_free; /* in m->small_free */
    /* The VM's stats record (records live as long as the mediator), so an
     * answer dropped after its connection closed is still counted. */
    struct vgpu_stats_vm *stats;
    /* Taken by an executor and its connection closed meanwhile: conn is
     * NULL, the bytes are still counted in held_bytes until it is freed. */
    int orphan;
    struct vgpu_mediator_job job;
    uint32_t request_id;
    struct vgpu_op_desc desc;
    size_t len;
    size_t cap; /* bytes[] holds this many: MED_SMALL_CAP, or len */
    uint8_t bytes[];
};

/* Requests of at most MED_SMALL_CAP bytes are kept for reuse when freed,
 * up to MED_SMALL_KEEP of them: a queue's NOPs come and go by the
 * thousand, and malloc's per-thread cache holds only seven of a size. */
#define MED_SMALL_CAP  256u
#define MED_SMALL_KEEP 1024u

/* Who a RESPONSE or ERROR frame is about: copied into its header. */
struct vgpu_med_ident {
    uint32_t vm_id;
    uint32_t request_id;
    uint8_t pool;
    uint8_t priority;
};

struct vgpu_mediator {
    const struct vgpu_mediator_ops *ops;
    void *opaque;
    int log_level;
    int shutting_down;
    uint32_t vm_queue_cap;
    uint32_t queue_inflight; /* what a queue connection is offered */
    uint64_t held_max;       /* bound of held_bytes */
    uint64_t held_bytes;     /* payload bytes of every live request */
    struct vgpu_med_request *small_free; /* freed small requests */
    uint32_t n_small_free;
    struct vgpu_sched *sched;
    uint8_t sched_share[VGPU_POOL_COUNT]; /* vm_share of each pool */
    struct vgpu_stats *stats;
    struct vgpu_med_backend backends[VGPU_POOL_COUNT];
    struct vgpu_mconn *conns; /* every open connection, newest first */
    /* Jobs taken from the scheduler and not finished yet, and answers
     * dropped because their connection had gone (vgpu/mediator.h). */
    struct vgpu_mediator_job *running;
    size_t n_running;
    uint64_t dropped_answers;
    /* Scratch space of one call: an encoded frame. A backend writes its
     * result at wire + VGPU_HDR_SIZE, so a response is not copied again.
     * wire_cap bytes: VGPU_MED_WIRE_SMALL until the first queue
     * connection is greeted, then VGPU_MED_WIRE_SIZE (1 MiB answers), so a
     * mediator that serves only mailbox devices never holds the 1 MiB. */
    uint8_t *wire;
    size_t wire_cap;
};

/* Bytes of m->wire: a mailbox answer (or a message), and a queue answer. */
#define VGPU_MED_WIRE_SMALL ((size_t)VGPU_HDR_SIZE + VGPU_BUF_SIZE)
#define VGPU_MED_WIRE_SIZE  ((size_t)VGPU_HDR_SIZE + VGPU_MAX_PAYLOAD)

/**
 * vgpu_med_wire_grow() - make m->wire hold a 1 MiB answer (before a queue
 * connection is greeted). Return: 0, or -ENOMEM (m->wire is unchanged).
 */
int vgpu_med_wire_grow(struct vgpu_mediator *m);

struct vgpu_mconn {
    struct vgpu_mediator *m;
    void *opaque;
    struct vgpu_mconn *prev;
    struct vgpu_mconn *next;
    int state;
    int close_rc; /* what conn_input returns once closing */
    int owns_vm;  /* greeted: vm_id is this connection's */
    uint32_t vm_id;
    uint8_t pool;
    uint8_t priority;
    struct vgpu_stats_vm *stats; /* the VM's record, once greeted */
    /* The queue: a connection whose HELLO offered VGPU_CAP_QUEUE takes
     * payloads up to VGPU_MAX_PAYLOAD and may have inflight_max requests
     * queued or running. Others: VGPU_BUF_SIZE, and vm_queue_cap. */
    int queue;
    uint32_t inflight_max; /* accepted; 0 before HELLO */
    uint32_t held_reqs;    /* live requests of this connection */
    uint32_t running;      /* of them, taken by an executor */
    /* The REQUEST being received (its payload goes straight into rx), or
     * NULL; when a header was refused, rx_why says why. */
    struct vgpu_med_request *rx;
    uint32_t rx_status;
    char rx_why[VGPU_MED_MSG_MAX];
    /* Refusal lines are rate-limited per connection (vgpu_med_refuse):
     * at most VGPU_MED_REFUSE_LOG_BURST per VGPU_MED_REFUSE_LOG_WINDOW_NS;
     * the rest are counted and summed up in one line later. */
    uint64_t refuse_window_start;
    uint32_t refuse_logged;
    uint64_t refuse_unlogged;
    struct vgpu_decoder dec;
    uint8_t payload[VGPU_BUF_SIZE]; /* frames other than a held REQUEST */
};

/**
 * vgpu_med_log() - one log line through ops->log, if there is one and
 * @level is within the configured level. The text is formatted only then.
 */
void vgpu_med_log(struct vgpu_mediator *m, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/** vgpu_med_now() - ops->now_ns. */
uint64_t vgpu_med_now(struct vgpu_mediator *m);

/**
 * vgpu_med_send() - encode one frame of @type about @id with @status and
 * @len bytes of @payload (at most VGPU_MAX_PAYLOAD; a payload already at
 * m->wire + VGPU_HDR_SIZE is not copied), and give it to ops->send.
 * On a send failure the connection is aborted (vgpu_med_conn_abort()).
 * Return: 0, or the negative code of the failure.
 */
int vgpu_med_send(struct vgpu_mconn *c, uint16_t type,
                  const struct vgpu_med_ident *id, uint32_t status,
                  const void *payload, size_t len);

/**
 * vgpu_med_send_framed() - as vgpu_med_send(), for a payload of @len bytes
 * already at @frame + VGPU_HDR_SIZE: the header is packed into @frame and
 * nothing is copied (an executor's result, in the executor's buffer).
 */
int vgpu_med_send_framed(struct vgpu_mconn *c, uint16_t type,
                         const struct vgpu_med_ident *id, uint32_t status,
                         uint8_t *frame, size_t len);

/**
 * vgpu_med_orphan_running() - @c is closing for good: its jobs that an
 * executor runs now lose their connection (their answers will be dropped
 * and counted when they finish). O(running jobs).
 */
void vgpu_med_orphan_running(struct vgpu_mconn *c);

/**
 * vgpu_med_respond() - send one RESPONSE and count it in the VM's stats.
 * Return: as vgpu_med_send().
 */
int vgpu_med_respond(struct vgpu_mconn *c, const struct vgpu_med_ident *id,
                     uint32_t status, const void *payload, size_t len);

/**
 * vgpu_med_refuse() - answer a REQUEST at once with a RESPONSE of @status
 * whose payload is the formatted message, and log it at WARN: at most
 * VGPU_MED_REFUSE_LOG_BURST lines per connection per window; the refusals
 * past that are answered all the same, and counted in one line when the
 * next window opens or the connection closes.
 */
void vgpu_med_refuse(struct vgpu_mconn *c, const struct vgpu_med_ident *id,
                     uint32_t status, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/**
 * vgpu_med_conn_abort() - the core is done with @c: mark it closing (input
 * returns @rc from now on), drop the VM's queued requests (nobody will read
 * their answers) and call ops->close, once. Idempotent.
 */
void vgpu_med_conn_abort(struct vgpu_mconn *c, int rc);

/**
 * vgpu_med_drop_vm() - take every queued request of @vm_id out of the
 * scheduler and free it, unanswered. Return: how many.
 */
size_t vgpu_med_drop_vm(struct vgpu_mediator *m, uint32_t vm_id);

/** vgpu_med_request_free() - free a request that is not queued, and take it
 * out of its connection's and the mediator's counts. */
void vgpu_med_request_free(struct vgpu_med_request *r);

/** vgpu_med_request_alloc() - a request with room for @len payload bytes,
 * zeroed but for the payload; NULL when out of memory. */
struct vgpu_med_request *vgpu_med_request_alloc(struct vgpu_mediator *m,
                                                size_t len);

/** vgpu_med_request_of() - the request that embeds @item. */
struct vgpu_med_request *vgpu_med_request_of(struct vgpu_sched_item *item);

#endif /* VGPU_MEDIATOR_CORE_INTERNAL_H */
