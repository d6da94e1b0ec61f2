/*
 * The mediator's scheduler (SPEC.md section 9): per-pool queues of requests
 * and the policy that picks the next one for a pool's executor.
 *
 * A pure module (STYLE.md rule 1): no I/O, no clock reads (the caller passes
 * now_ns, on any monotonic clock, in nanoseconds), no threads, no globals. A
 * scheduler is not thread-safe: its owner serialises every call (the daemon's
 * event loop, or the simulator's thread).
 *
 * Requests are intrusive: the caller embeds a struct vgpu_sched_item in its
 * own request object and gets that pointer back from vgpu_sched_next(). The
 * scheduler never allocates, frees or answers a request; it owns only the
 * item's private links, and only while the item is queued.
 *
 * Policies, per pool (each pool has its own queues):
 * - VGPU_SCHED_PRIORITY (default): high before medium before low; round
 *   robin among the VMs of one priority (each VM has its FIFO, and the VMs
 *   with work take turns); aging: when the oldest queued item of some
 *   priority has waited max_wait_ms or more, the oldest such overdue item is
 *   served first, whatever its priority. So no request waits more than
 *   max_wait_ms behind higher priorities, plus the one service that was
 *   running when it became overdue (plus the services of overdue requests
 *   older than it, when several priorities are overdue at once).
 * - VGPU_SCHED_WEIGHTED: under saturation, the executor time each priority
 *   receives follows the weights (default high:medium:low = 4:2:1). Each
 *   priority class has a virtual time, its charged service time divided by
 *   its weight; next() serves the non-empty class with the smallest virtual
 *   time (ties go to the higher priority). A class that had no queued work
 *   restarts at the pool's virtual clock (the virtual time of the class
 *   served last), so idle time is never banked as credit. Round robin among
 *   VMs inside a class. No aging: the weights alone bound every class's wait.
 *
 * - vm_share, per pool, inside each class (SPEC.md section 9): best_effort
 *   is the round robin above; equal serves the VM with the least virtual
 *   time (executor ns charged; a VM that gains work starts at the class's
 *   clock, so idle time is not banked); fixed serves, among the VMs whose
 *   release time has come, the one with the earliest (each service pushes
 *   it on by service * 100 / share). A registry cap holds back a VM in
 *   every mode until its release time. vgpu_sched_wake_ns() says when.
 *
 * Costs: enqueue and next are O(1) under best_effort without caps (a hash
 * lookup of the VM, and a look at each of the VGPU_PRIO_COUNT classes of
 * one pool), O(log n) in the VMs with work of a class otherwise (binary
 * heaps); no call scans the queued requests. Memory: one small record per VM
 * with queued work and one per (VM, pool, priority) it uses; they are allocated
 * when a VM first queues work, kept on a free list when it has none, and freed
 * by destroy. So in the steady state enqueue allocates nothing.
 */
#ifndef VGPU_SCHEDULER_H
#define VGPU_SCHEDULER_H

#include <stddef.h>
#include <stdint.h>

#include "vgpu/regs.h"

/* Policies (SPEC.md section 9), spelt "priority" and "weighted". */
#define VGPU_SCHED_PRIORITY 0
#define VGPU_SCHED_WEIGHTED 1

/* Sharing among the VMs of one class of one pool, vm_share (SPEC.md
 * section 9), spelt "best_effort", "equal" and "fixed". */
#define VGPU_SHARE_BEST_EFFORT 0
#define VGPU_SHARE_EQUAL       1
#define VGPU_SHARE_FIXED       2
#define VGPU_SHARE_MODES       3
/* Registry share and cap: percent of the pool's executor time. */
#define VGPU_SHARE_PCT_MAX     100u
/* Lateness a limited VM gets paid back (a request of another VM that was
 * not preempted); idle time beyond it is not banked. */
#define VGPU_SHARE_SLACK_NS    50000000ull

/* Defaults (SPEC.md section 9 for max_wait_ms and the weights). */
#define VGPU_SCHED_DEFAULT_POLICY       VGPU_SCHED_PRIORITY
#define VGPU_SCHED_DEFAULT_MAX_WAIT_MS  1000u
#define VGPU_SCHED_DEFAULT_WEIGHT_LOW   1u
#define VGPU_SCHED_DEFAULT_WEIGHT_MED   2u
#define VGPU_SCHED_DEFAULT_WEIGHT_HIGH  4u
#define VGPU_SCHED_DEFAULT_VM_QUEUE_CAP 64u

struct vgpu_sched_config {
    int policy;           /* VGPU_SCHED_PRIORITY or VGPU_SCHED_WEIGHTED */
    uint32_t max_wait_ms; /* priority policy: aging bound; 0 makes every
                             item overdue at once, i.e. oldest first */
    uint32_t weights[VGPU_PRIO_COUNT]; /* weighted policy, indexed by
                                          VGPU_PRIO_*; each at least 1 */
    uint32_t vm_queue_cap; /* items one VM may have queued, at least 1 */
    /* VGPU_SHARE_* of each pool, indexed by pool - 'A' (0: best_effort). */
    uint8_t vm_share[VGPU_POOL_COUNT];
};

/* What a VM of a pool and class is given (vgpu_sched_vm_target()). Shares
 * are in basis points (1/100 of a percent) of one executor's time. */
struct vgpu_sched_target {
    int mode;            /* VGPU_SHARE_* of its pool */
    uint32_t target_bp;  /* what it should get while it has work; 0: no
                            target (best_effort, no cap) */
    uint32_t cap_pct;    /* its cap, 0: none */
    uint32_t share_pct;  /* its registry share, 0: none */
    uint64_t charged_ns; /* executor time charged while connected */
};

struct vgpu_sched_flow; /* private to scheduler.c */

/*
 * A queued request, embedded in the caller's request object. The caller sets
 * vm_id, pool and priority (vgpu_sched_item_init() does it and clears the
 * links); vgpu_sched_enqueue() sets enqueue_ns. The caller must not change
 * any field while the item is queued.
 */
struct vgpu_sched_item {
    uint32_t vm_id;
    uint8_t pool;        /* 'A' .. 'Z' */
    uint8_t priority;    /* VGPU_PRIO_* */
    uint64_t enqueue_ns; /* now_ns at enqueue; read it for wait times */

    /* Private to the scheduler; flow is NULL while the item is not queued. */
    struct vgpu_sched_flow *flow;
    struct vgpu_sched_item *fifo_prev; /* its VM's FIFO */
    struct vgpu_sched_item *fifo_next;
    struct vgpu_sched_item *age_prev; /* its class, in enqueue order */
    struct vgpu_sched_item *age_next;
};

struct vgpu_sched;

/**
 * vgpu_sched_config_default() - fill @cfg with the defaults: policy
 * priority, max_wait_ms 1000, weights 1, 2, 4 (low, medium, high),
 * vm_queue_cap 64.
 */
void vgpu_sched_config_default(struct vgpu_sched_config *cfg);

/**
 * vgpu_sched_policy_lookup() - the policy named @name ("priority" or
 * "weighted", exactly). Return: 0 and *@policy set, or -EINVAL.
 */
int vgpu_sched_policy_lookup(const char *name, int *policy);

/**
 * vgpu_sched_policy_name() - "priority", "weighted", or NULL if unknown.
 */
const char *vgpu_sched_policy_name(int policy);

/**
 * vgpu_sched_share_lookup() - the vm_share mode named @name ("best_effort",
 * "equal" or "fixed"). Return: 0 and *@mode set, or -EINVAL.
 */
int vgpu_sched_share_lookup(const char *name, int *mode);

/** vgpu_sched_share_name() - the name of a VGPU_SHARE_*, or NULL. */
const char *vgpu_sched_share_name(int mode);

/**
 * vgpu_sched_create() - make an empty scheduler.
 * @cfg: the configuration, copied; NULL for the defaults.
 *
 * Return: the scheduler, owned by the caller (vgpu_sched_destroy()), or NULL
 * with errno set: EINVAL for an unknown policy, a zero weight or a zero
 * vm_queue_cap; ENOMEM.
 */
struct vgpu_sched *vgpu_sched_create(const struct vgpu_sched_config *cfg);

/**
 * vgpu_sched_destroy() - free the scheduler and its records. Items still
 * queued are forgotten, never touched: drain them first (vgpu_sched_next()
 * or vgpu_sched_remove_vm()) if they need an answer. @s may be NULL.
 */
void vgpu_sched_destroy(struct vgpu_sched *s);

/**
 * vgpu_sched_item_init() - set an item's identity and clear its links.
 * Call it (or zero the item) before its first enqueue.
 */
void vgpu_sched_item_init(struct vgpu_sched_item *item, uint32_t vm_id,
                          uint8_t pool, uint8_t priority);

/**
 * vgpu_sched_enqueue() - queue @item at the tail of its VM's FIFO.
 * @item:   an item not queued; it stays owned by the caller, who must keep it
 *          alive until it comes back from vgpu_sched_next(),
 *          vgpu_sched_remove_vm() or vgpu_sched_cancel().
 * @now_ns: the current time; stored in item->enqueue_ns.
 *
 * Cost: O(1) amortised; allocates only when a VM with no queued work arrives
 * and no record is free.
 *
 * Return: 0; -EINVAL when item->pool is not 'A'..'Z' or item->priority is
 * not a VGPU_PRIO_*; -EALREADY when @item is already queued; -EAGAIN when
 * that VM already has vm_queue_cap items queued (the caller answers
 * REJECTED); -ENOMEM. Nothing changes on failure.
 */
int vgpu_sched_enqueue(struct vgpu_sched *s, struct vgpu_sched_item *item,
                       uint64_t now_ns);

/**
 * vgpu_sched_next() - take the next item of @pool, per the policy.
 * @now_ns: the current time, for aging.
 *
 * Return: the item, no longer queued and owned by the caller again; NULL
 * when @pool has nothing queued or is not 'A'..'Z'.
 */
struct vgpu_sched_item *vgpu_sched_next(struct vgpu_sched *s, uint8_t pool,
                                        uint64_t now_ns);

/**
 * vgpu_sched_charge() - account @service_ns of executor time to the class
 * (pool, priority) of @item, an item returned by vgpu_sched_next(), for
 * the weighted policy, and to its VM, for vm_share and caps.
 * Reads @item's vm_id, pool and priority only: the item need not be alive
 * after. O(log n) in the VMs with work in its class.
 */
void vgpu_sched_charge(struct vgpu_sched *s, const struct vgpu_sched_item *item,
                       uint64_t service_ns);

/**
 * vgpu_sched_vm_limits() - the registry's @share and @cap (percent, 0 for
 * none, else 1..100) of @vm_id in @pool and class @prio (when it connects).
 * They hold until vgpu_sched_remove_vm(). In every mode the cap bounds the
 * VM's executor time, even on an idle pool: its items wait until its
 * release time. Under `fixed` the VM gets @share percent while it has
 * work, and no more; a VM without a share gets an equal split of what the
 * shares of the pool's VMs leave (at least 1%).
 * Return: 0; -EINVAL for a bad pool, priority or percentage; -ENOMEM.
 */
int vgpu_sched_vm_limits(struct vgpu_sched *s, uint32_t vm_id, uint8_t pool,
                         uint8_t prio, uint32_t share, uint32_t cap);

/**
 * vgpu_sched_vm_target() - what @vm_id in @pool and class @prio is given
 * now (for --stats). Return: 0, or -ENOENT when it has no account (never
 * queued anything since it connected).
 */
int vgpu_sched_vm_target(const struct vgpu_sched *s, uint32_t vm_id,
                         uint8_t pool, uint8_t prio,
                         struct vgpu_sched_target *out);

/**
 * vgpu_sched_wake_ns() - when @pool has items that its VMs' caps or fixed
 * shares hold back and none it may serve now: the earliest time one of
 * them may be served (call vgpu_sched_next() again then). 0 when nothing
 * is held back. O(priorities).
 */
uint64_t vgpu_sched_wake_ns(const struct vgpu_sched *s, uint8_t pool);

/**
 * vgpu_sched_next_any() - as vgpu_sched_next(), but ignoring caps and
 * fixed shares: every queued item comes out (to drain a pool at shutdown).
 */
struct vgpu_sched_item *vgpu_sched_next_any(struct vgpu_sched *s, uint8_t pool,
                                            uint64_t now_ns);

/**
 * vgpu_sched_remove_vm() - take out every queued item of @vm_id, in every
 * pool (when its connection closes).
 * @fn:  called once per item, after the item is out of the queue, so it may
 *       free or answer it; it may call the scheduler, but must not enqueue
 *       items of @vm_id. May be NULL.
 * @arg: passed to @fn.
 *
 * Cost: O(items removed). Return: the number of items removed.
 */
size_t vgpu_sched_remove_vm(struct vgpu_sched *s, uint32_t vm_id,
                            void (*fn)(struct vgpu_sched_item *, void *),
                            void *arg);

/**
 * vgpu_sched_cancel() - take one queued @item out of its queue (a request
 * whose answer is no longer wanted). O(1).
 * Return: 0, or -ENOENT when @item is not queued.
 */
int vgpu_sched_cancel(struct vgpu_sched *s, struct vgpu_sched_item *item);

/**
 * vgpu_sched_queued() - the number of items queued in @pool (0 for a pool
 * that is not 'A'..'Z').
 */
size_t vgpu_sched_queued(const struct vgpu_sched *s, uint8_t pool);

/**
 * vgpu_sched_vm_queued() - the number of items @vm_id has queued, all
 * pools together. O(1).
 */
size_t vgpu_sched_vm_queued(const struct vgpu_sched *s, uint32_t vm_id);

/**
 * vgpu_sched_pending() - the pools with queued work, as a bit mask: bit i
 * set when pool 'A' + i has at least one item. O(1).
 */
uint32_t vgpu_sched_pending(const struct vgpu_sched *s);

#endif /* VGPU_SCHEDULER_H */
