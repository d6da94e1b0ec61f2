/*
 * The scheduler: per-pool, per-priority queues of intrusive items, the
 * priority policy with aging, and the weighted policy on virtual time. See
 * vgpu/scheduler.h for the contract.
 *
 * Shape of the data, per pool and priority (a "class"):
 * - a ring of flows, one per VM with queued work in that class, in round
 *   robin order; cur is the flow served next;
 * - each flow is a FIFO of that VM's items (fifo_prev/fifo_next);
 * - all items of the class are also on one list in enqueue order
 *   (age_prev/age_next), so the oldest item is found in O(1) for aging, and
 *   any item leaves both lists in O(1).
 * VMs are found by vm_id in a chained hash table, for the per-VM cap and for
 * remove_vm; a VM record lists its flows (normally one: a device has one pool
 * and one priority).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "sched_share.h"
#include "vgpu/scheduler.h"

_Static_assert(VGPU_POOL_COUNT <= 32, "pending mask holds every pool");

#define SCHED_NS_PER_MS       1000000ull
#define SCHED_INITIAL_BUCKETS 64u /* a power of two */

struct sched_vm {
    uint32_t vm_id;
    size_t queued;                 /* items, all flows together */
    struct vgpu_sched_flow *flows; /* linked by vm_next */
    struct sched_vm *hash_next;    /* bucket chain, or the free list */
};

struct vgpu_sched_flow {
    struct sched_vm *vm;
    uint8_t pool;
    uint8_t prio;
    struct vgpu_sched_item *head;
    struct vgpu_sched_item *tail;
    struct vgpu_sched_flow *ring_prev; /* the class's round robin ring */
    struct vgpu_sched_flow *ring_next;
    struct vgpu_sched_flow *vm_next; /* the VM's flows, or the free list */
    struct sched_acct *acct;         /* its VM's account (sched_share.h) */
};

struct sched_class {
    struct vgpu_sched_flow *cur; /* served next; NULL when empty */
    struct vgpu_sched_item *age_head;
    struct vgpu_sched_item *age_tail;
    size_t queued;
    uint64_t vtime; /* weighted: charged ns / weight */
    uint64_t vrem;  /* weighted: remainder of that division, < weight */
    /* vm_share (sched_share.h): the accounts with work that may be served
     * (equal, fixed; best_effort uses the ring) and those held back. */
    struct sched_heap ready;
    struct sched_heap parked;
    uint64_t vm_clock; /* equal: virtual time of the VM served last */
    size_t nflows;     /* VMs with work */
    size_t naccts;     /* VMs with an account (connected, or with work) */
};

struct sched_pool {
    struct sched_class cls[VGPU_PRIO_COUNT];
    size_t queued;
    uint64_t vclock;    /* weighted: virtual time of the class served last */
    int share_mode;     /* VGPU_SHARE_* */
    uint32_t fixed_sum; /* shares of its accounts, percent */
    uint32_t unset;     /* its accounts with work and no share */
};

struct vgpu_sched {
    struct vgpu_sched_config cfg;
    uint64_t max_wait_ns;
    struct sched_pool pools[VGPU_POOL_COUNT];
    uint32_t pending; /* bit i: pool 'A' + i has work */
    struct sched_vm **buckets;
    size_t nbuckets; /* a power of two */
    size_t nvms;     /* VM records in the table */
    struct sched_vm *vm_free;
    struct vgpu_sched_flow *flow_free;
    struct sched_accts accts;
    uint64_t seq; /* stamps accounts as they join or are served */
};

static const char *const sched_policy_names[] = {
    [VGPU_SCHED_PRIORITY] = "priority",
    [VGPU_SCHED_WEIGHTED] = "weighted",
};

static const char *const sched_share_names[VGPU_SHARE_MODES] = {
    [VGPU_SHARE_BEST_EFFORT] = "best_effort",
    [VGPU_SHARE_EQUAL] = "equal",
    [VGPU_SHARE_FIXED] = "fixed",
};

#define SCHED_POLICY_COUNT                                                     \
    (sizeof(sched_policy_names) / sizeof(sched_policy_names[0]))

/* ---- Small helpers ------------------------------------------------------- */

static bool
sched_pool_valid(uint8_t pool)
{
    return pool >= VGPU_POOL_FIRST && pool <= VGPU_POOL_LAST;
}

static size_t
sched_pool_index(uint8_t pool)
{
    return (size_t)(pool - VGPU_POOL_FIRST);
}

static struct sched_pool *
sched_pool_of(struct vgpu_sched *s, uint8_t pool)
{
    return &s->pools[sched_pool_index(pool)];
}

/* The murmur3 finaliser: vm_ids are often consecutive, so mix before the
 * mask. */
static size_t
sched_hash(const struct vgpu_sched *s, uint32_t vm_id)
{
    uint32_t h = vm_id;

    h ^= h >> 16;
    h *= 0x85ebca6bu;
    h ^= h >> 13;
    h *= 0xc2b2ae35u;
    h ^= h >> 16;
    return h & (s->nbuckets - 1);
}

/* ---- VM records ---------------------------------------------------------- */

static struct sched_vm *
sched_vm_lookup(const struct vgpu_sched *s, uint32_t vm_id)
{
    struct sched_vm *vm = s->buckets[sched_hash(s, vm_id)];

    while (vm != NULL && vm->vm_id != vm_id) {
        vm = vm->hash_next;
    }
    return vm;
}

/* Double the table when it holds more VMs than buckets, keeping chains short.
 * Cost: O(VMs), amortised O(1) per new VM. Failing to grow is harmless: the
 * chains just get longer. */
static void
sched_vm_grow(struct vgpu_sched *s)
{
    size_t old_n = s->nbuckets;
    struct sched_vm **old = s->buckets;
    struct sched_vm **fresh;

    if (s->nvms <= old_n) {
        return;
    }
    fresh = calloc(old_n * 2, sizeof(*fresh));
    if (fresh == NULL) {
        return;
    }
    s->buckets = fresh;
    s->nbuckets = old_n * 2;
    for (size_t i = 0; i < old_n; i++) {
        struct sched_vm *vm = old[i];
        while (vm != NULL) {
            struct sched_vm *next = vm->hash_next;
            size_t b = sched_hash(s, vm->vm_id);
            vm->hash_next = fresh[b];
            fresh[b] = vm;
            vm = next;
        }
    }
    free(old);
}

static struct sched_vm *
sched_vm_add(struct vgpu_sched *s, uint32_t vm_id)
{
    struct sched_vm *vm = s->vm_free;
    size_t b;

    if (vm != NULL) {
        s->vm_free = vm->hash_next;
    } else {
        vm = malloc(sizeof(*vm));
        if (vm == NULL) {
            return NULL;
        }
    }
    vm->vm_id = vm_id;
    vm->queued = 0;
    vm->flows = NULL;
    b = sched_hash(s, vm_id);
    vm->hash_next = s->buckets[b];
    s->buckets[b] = vm;
    s->nvms++;
    sched_vm_grow(s);
    return vm;
}

/* Take @vm out of the table onto the free list. It has no flows left. */
static void
sched_vm_drop(struct vgpu_sched *s, struct sched_vm *vm)
{
    struct sched_vm **pp = &s->buckets[sched_hash(s, vm->vm_id)];

    while (*pp != vm) {
        pp = &(*pp)->hash_next;
    }
    *pp = vm->hash_next;
    s->nvms--;
    vm->hash_next = s->vm_free;
    s->vm_free = vm;
}

/* ---- Flows and the round robin ring -------------------------------------- */

/* Cost: O(flows of the VM), normally 1. */
static struct vgpu_sched_flow *
sched_flow_find(const struct sched_vm *vm, uint8_t pool, uint8_t prio)
{
    struct vgpu_sched_flow *f = vm->flows;

    while (f != NULL && (f->pool != pool || f->prio != prio)) {
        f = f->vm_next;
    }
    return f;
}

static struct vgpu_sched_flow *
sched_flow_new(struct vgpu_sched *s)
{
    struct vgpu_sched_flow *f = s->flow_free;

    if (f != NULL) {
        s->flow_free = f->vm_next;
        return f;
    }
    return malloc(sizeof(*f));
}

/* A flow that gains work joins the ring just before cur: it takes its turn
 * after every VM already waiting in the class. */
static void
sched_ring_insert(struct sched_class *cls, struct vgpu_sched_flow *f)
{
    struct vgpu_sched_flow *cur = cls->cur;

    if (cur == NULL) {
        f->ring_prev = f;
        f->ring_next = f;
        cls->cur = f;
        return;
    }
    f->ring_next = cur;
    f->ring_prev = cur->ring_prev;
    cur->ring_prev->ring_next = f;
    cur->ring_prev = f;
}

static void
sched_ring_remove(struct sched_class *cls, struct vgpu_sched_flow *f)
{
    if (f->ring_next == f) {
        cls->cur = NULL;
        return;
    }
    f->ring_prev->ring_next = f->ring_next;
    f->ring_next->ring_prev = f->ring_prev;
    if (cls->cur == f) {
        cls->cur = f->ring_next;
    }
}

static void sched_acct_leave(struct vgpu_sched *s, struct sched_class *cls,
                             struct vgpu_sched_flow *f);
static void sched_unlink(struct vgpu_sched *s, struct vgpu_sched_item *item);

/* Unlink an empty flow from its class and its VM, onto the free list. */
static void
sched_flow_drop(struct vgpu_sched *s, struct sched_class *cls,
                struct vgpu_sched_flow *f)
{
    struct vgpu_sched_flow **pp = &f->vm->flows;

    sched_acct_leave(s, cls, f);
    while (*pp != f) {
        pp = &(*pp)->vm_next;
    }
    *pp = f->vm_next;
    f->vm_next = s->flow_free;
    s->flow_free = f;
}

/* ---- Shares (sched_share.h) --------------------------------------------- */

static bool
sched_limited(const struct vgpu_sched *s, const struct sched_acct *a)
{
    return a->cap != 0 ||
           s->pools[sched_pool_index(a->pool)].share_mode == VGPU_SHARE_FIXED;
}

/* The percentage of an executor @a may use: its cap, and under fixed its
 * share (or an equal split of what the shares leave). 100: no limit. */
static uint32_t
sched_rate(const struct vgpu_sched *s, const struct sched_acct *a)
{
    const struct sched_pool *pool = &s->pools[sched_pool_index(a->pool)];
    uint32_t rate = VGPU_SHARE_PCT_MAX;

    if (pool->share_mode == VGPU_SHARE_FIXED) {
        if (a->share != 0) {
            rate = a->share;
        } else {
            uint32_t left = pool->fixed_sum < VGPU_SHARE_PCT_MAX
                                ? VGPU_SHARE_PCT_MAX - pool->fixed_sum
                                : 0;
            uint32_t n = pool->unset != 0 ? pool->unset : 1;
            rate = left / n != 0 ? left / n : 1;
        }
    }
    if (a->cap != 0 && a->cap < rate) {
        rate = a->cap;
    }
    return rate;
}

/* Put @f's account where it waits for its turn: the ring (best_effort),
 * the ready heap, or the parked heap when its release time is after
 * @now_ns. Cannot fail: sched_acct_join() made room in both heaps for
 * every account with work. */
static void
sched_acct_place(struct vgpu_sched *s, struct sched_class *cls,
                 struct vgpu_sched_flow *f, uint64_t now_ns)
{
    struct sched_acct *a = f->acct;
    int mode = sched_pool_of(s, f->pool)->share_mode;

    if (sched_limited(s, a) && a->release_ns > now_ns) {
        (void)share_heap_push(&cls->parked, a);
        a->where = SHARE_PARKED;
    } else if (mode == VGPU_SHARE_BEST_EFFORT) {
        sched_ring_insert(cls, f);
        a->where = SHARE_RING;
    } else {
        (void)share_heap_push(&cls->ready, a);
        a->where = SHARE_READY;
    }
}

/* Take @a out of wherever it waits. */
static void
sched_acct_unplace(struct sched_class *cls, struct sched_acct *a)
{
    if (a->where == SHARE_RING) {
        sched_ring_remove(cls, a->flow);
    } else if (a->where == SHARE_READY) {
        share_heap_remove(&cls->ready, a);
    } else if (a->where == SHARE_PARKED) {
        share_heap_remove(&cls->parked, a);
    }
    a->where = SHARE_NOWHERE;
}

/* The account of (@vm_id, @pool, @prio), added if new; NULL when out of
 * memory. */
static struct sched_acct *
sched_acct_get(struct vgpu_sched *s, uint32_t vm_id, uint8_t pool, uint8_t prio)
{
    size_t before = s->accts.n;
    struct sched_acct *a = share_acct_get(&s->accts, vm_id, pool, prio);

    if (s->accts.n != before) {
        sched_pool_of(s, pool)->cls[prio].naccts++;
    }
    return a;
}

/* @f gains its first item: its account joins the class. */
static int
sched_acct_join(struct vgpu_sched *s, struct sched_class *cls,
                struct vgpu_sched_flow *f, uint64_t now_ns)
{
    struct sched_pool *pool = sched_pool_of(s, f->pool);
    struct sched_acct *a = sched_acct_get(s, f->vm->vm_id, f->pool, f->prio);

    if (a == NULL || share_heap_reserve(&cls->ready, cls->nflows + 1) < 0 ||
        share_heap_reserve(&cls->parked, cls->nflows + 1) < 0) {
        return -ENOMEM;
    }
    /* Idle time is not credit: a VM that gains work starts at the clock
     * (equal), and no earlier than now once it has been charged (caps,
     * fixed; one never charged keeps 0, its turn among equals). */
    if (a->vtime < cls->vm_clock) {
        a->vtime = cls->vm_clock;
    }
    if (a->charged_ns != 0 && a->release_ns < now_ns) {
        a->release_ns = now_ns;
    }
    a->flow = f;
    a->seq = ++s->seq;
    f->acct = a;
    sched_acct_place(s, cls, f, now_ns);
    cls->nflows++;
    if (a->share == 0) {
        pool->unset++;
    }
    return 0;
}

/* @f has no work left: its account leaves the class (it stays in the
 * table, with its virtual and release times). */
static void
sched_acct_leave(struct vgpu_sched *s, struct sched_class *cls,
                 struct vgpu_sched_flow *f)
{
    struct sched_acct *a = f->acct;

    sched_acct_unplace(cls, a);
    a->flow = NULL;
    f->acct = NULL;
    cls->nflows--;
    if (a->share == 0) {
        sched_pool_of(s, f->pool)->unset--;
    }
}

/* Accounts whose release time has come go back to the ready side. */
static void
sched_unpark(struct vgpu_sched *s, struct sched_class *cls, uint64_t now_ns)
{
    struct sched_acct *a;

    while ((a = share_heap_top(&cls->parked)) != NULL &&
           a->release_ns <= now_ns) {
        share_heap_remove(&cls->parked, a);
        a->where = SHARE_NOWHERE;
        sched_acct_place(s, cls, a->flow, now_ns);
    }
}

/* The flow @cls serves next under its pool's mode, at @now_ns, moving
 * accounts held back by their release time to the parked heap; NULL when
 * none may be served. With @any, a held-back one is taken too.
 * Cost: O(log n) per account moved, each moved once per charge. */
static struct vgpu_sched_flow *
sched_class_pick(struct vgpu_sched *s, struct sched_class *cls, int mode,
                 uint64_t now_ns, bool any)
{
    sched_unpark(s, cls, now_ns);
    for (;;) {
        struct sched_acct *a;

        if (mode == VGPU_SHARE_BEST_EFFORT) {
            a = cls->cur != NULL ? cls->cur->acct : NULL;
        } else {
            a = share_heap_top(&cls->ready);
        }
        if (a == NULL) {
            a = any ? share_heap_top(&cls->parked) : NULL;
            return a != NULL ? a->flow : NULL;
        }
        if (!sched_limited(s, a) || a->release_ns <= now_ns) {
            return a->flow;
        }
        sched_acct_unplace(cls, a);
        sched_acct_place(s, cls, a->flow, now_ns); /* parks it */
    }
}

/* Take the head of @f, a flow of @cls picked for service at @now_ns: the
 * turn passes on, and its account records the take. */
static struct vgpu_sched_item *
sched_take_flow(struct vgpu_sched *s, struct sched_class *cls,
                struct vgpu_sched_flow *f, uint64_t now_ns)
{
    struct vgpu_sched_item *item = f->head;
    struct sched_acct *a = f->acct;

    if (cls->cur == f && a->where == SHARE_RING) {
        cls->cur = f->ring_next;
    }
    a->taken_ns = now_ns;
    a->seq = ++s->seq;
    if (a->where == SHARE_READY) {
        share_heap_fix(&cls->ready, a);
    }
    if (a->vtime > cls->vm_clock) {
        cls->vm_clock = a->vtime;
    }
    sched_unlink(s, item);
    return item;
}

/* The next item of @cls under its pool's mode, or NULL. */
static struct vgpu_sched_item *
sched_class_take(struct vgpu_sched *s, struct sched_pool *pool,
                 struct sched_class *cls, uint64_t now_ns, bool any)
{
    struct vgpu_sched_flow *f;

    if (cls->queued == 0) {
        return NULL;
    }
    f = sched_class_pick(s, cls, pool->share_mode, now_ns, any);
    return f != NULL ? sched_take_flow(s, cls, f, now_ns) : NULL;
}

/* ---- Items --------------------------------------------------------------- */

/* Take a queued @item out of every list, and drop the records that empties.
 * O(1) but for the VM's flow list. */
static void
sched_unlink(struct vgpu_sched *s, struct vgpu_sched_item *item)
{
    struct vgpu_sched_flow *f = item->flow;
    struct sched_vm *vm = f->vm;
    struct sched_pool *pool = sched_pool_of(s, f->pool);
    struct sched_class *cls = &pool->cls[f->prio];

    if (item->fifo_prev != NULL) {
        item->fifo_prev->fifo_next = item->fifo_next;
    } else {
        f->head = item->fifo_next;
    }
    if (item->fifo_next != NULL) {
        item->fifo_next->fifo_prev = item->fifo_prev;
    } else {
        f->tail = item->fifo_prev;
    }
    if (item->age_prev != NULL) {
        item->age_prev->age_next = item->age_next;
    } else {
        cls->age_head = item->age_next;
    }
    if (item->age_next != NULL) {
        item->age_next->age_prev = item->age_prev;
    } else {
        cls->age_tail = item->age_prev;
    }
    item->flow = NULL;
    item->fifo_prev = NULL;
    item->fifo_next = NULL;
    item->age_prev = NULL;
    item->age_next = NULL;

    cls->queued--;
    pool->queued--;
    vm->queued--;
    if (pool->queued == 0) {
        s->pending &= ~(1u << sched_pool_index(f->pool));
    }
    if (f->head == NULL) {
        sched_flow_drop(s, cls, f);
    }
    if (vm->queued == 0) {
        sched_vm_drop(s, vm);
    }
}

/* The oldest item among the heads of the classes' age lists that has waited
 * max_wait_ns or more; NULL if none. Ties go to the higher priority. A time
 * earlier than the enqueue (a clock that went back) counts as no wait. */
static struct vgpu_sched_item *
sched_overdue(const struct vgpu_sched *s, const struct sched_pool *pool,
              uint64_t now_ns)
{
    struct vgpu_sched_item *best = NULL;

    for (size_t i = 0; i < VGPU_PRIO_COUNT; i++) {
        const struct sched_class *cls = &pool->cls[VGPU_PRIO_COUNT - 1 - i];
        struct vgpu_sched_item *head = cls->age_head;

        if (head == NULL || now_ns < head->enqueue_ns ||
            now_ns - head->enqueue_ns < s->max_wait_ns) {
            continue;
        }
        if (best == NULL || head->enqueue_ns < best->enqueue_ns) {
            best = head;
        }
    }
    return best;
}

static struct vgpu_sched_item *
sched_next_priority(struct vgpu_sched *s, struct sched_pool *pool,
                    uint64_t now_ns, bool any)
{
    struct vgpu_sched_item *old = sched_overdue(s, pool, now_ns);

    /* The oldest of its class is the head of its VM's FIFO, so FIFO order
     * holds; if that VM was next in turn, the turn is used. A VM its cap
     * or fixed share holds back is not aged past it. */
    if (old != NULL && (any || !sched_limited(s, old->flow->acct) ||
                        old->flow->acct->release_ns <= now_ns)) {
        return sched_take_flow(s, &pool->cls[old->priority], old->flow, now_ns);
    }
    for (size_t i = 0; i < VGPU_PRIO_COUNT; i++) {
        struct sched_class *cls = &pool->cls[VGPU_PRIO_COUNT - 1 - i];
        struct vgpu_sched_item *item =
            sched_class_take(s, pool, cls, now_ns, any);

        if (item != NULL) {
            return item;
        }
    }
    return NULL;
}

/* The class with work and the least virtual time (ties: the higher
 * priority), among those not in @tried; a class whose VMs are all held
 * back is tried, and the next one is asked. */
static struct vgpu_sched_item *
sched_next_weighted(struct vgpu_sched *s, struct sched_pool *pool,
                    uint64_t now_ns, bool any)
{
    bool tried[VGPU_PRIO_COUNT] = {false};

    for (size_t round = 0; round < VGPU_PRIO_COUNT; round++) {
        struct sched_class *best = NULL;
        struct vgpu_sched_item *item;
        size_t best_p = 0;

        for (size_t i = 0; i < VGPU_PRIO_COUNT; i++) {
            size_t p = VGPU_PRIO_COUNT - 1 - i;
            struct sched_class *cls = &pool->cls[p];
            if (!tried[p] && cls->queued > 0 &&
                (best == NULL || cls->vtime < best->vtime)) {
                best = cls;
                best_p = p;
            }
        }
        if (best == NULL) {
            return NULL;
        }
        item = sched_class_take(s, pool, best, now_ns, any);
        if (item != NULL) {
            if (best->vtime > pool->vclock) {
                pool->vclock = best->vtime;
            }
            return item;
        }
        tried[best_p] = true;
    }
    return NULL;
}

/* ---- Public API ---------------------------------------------------------- */

void
vgpu_sched_config_default(struct vgpu_sched_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->policy = VGPU_SCHED_DEFAULT_POLICY;
    cfg->max_wait_ms = VGPU_SCHED_DEFAULT_MAX_WAIT_MS;
    cfg->weights[VGPU_PRIO_LOW] = VGPU_SCHED_DEFAULT_WEIGHT_LOW;
    cfg->weights[VGPU_PRIO_MEDIUM] = VGPU_SCHED_DEFAULT_WEIGHT_MED;
    cfg->weights[VGPU_PRIO_HIGH] = VGPU_SCHED_DEFAULT_WEIGHT_HIGH;
    cfg->vm_queue_cap = VGPU_SCHED_DEFAULT_VM_QUEUE_CAP;
}

int
vgpu_sched_policy_lookup(const char *name, int *policy)
{
    if (name == NULL) {
        return -EINVAL;
    }
    for (size_t i = 0; i < SCHED_POLICY_COUNT; i++) {
        if (strcmp(sched_policy_names[i], name) == 0) {
            *policy = (int)i;
            return 0;
        }
    }
    return -EINVAL;
}

int
vgpu_sched_share_lookup(const char *name, int *mode)
{
    if (name == NULL) {
        return -EINVAL;
    }
    for (int i = 0; i < VGPU_SHARE_MODES; i++) {
        if (strcmp(sched_share_names[i], name) == 0) {
            *mode = i;
            return 0;
        }
    }
    return -EINVAL;
}

const char *
vgpu_sched_share_name(int mode)
{
    if (mode < 0 || mode >= VGPU_SHARE_MODES) {
        return NULL;
    }
    return sched_share_names[mode];
}

const char *
vgpu_sched_policy_name(int policy)
{
    if (policy < 0 || (size_t)policy >= SCHED_POLICY_COUNT) {
        return NULL;
    }
    return sched_policy_names[policy];
}

struct vgpu_sched *
vgpu_sched_create(const struct vgpu_sched_config *cfg)
{
    struct vgpu_sched_config def;
    struct vgpu_sched *s;

    if (cfg == NULL) {
        vgpu_sched_config_default(&def);
        cfg = &def;
    }
    if (vgpu_sched_policy_name(cfg->policy) == NULL || cfg->vm_queue_cap == 0) {
        errno = EINVAL;
        return NULL;
    }
    for (size_t p = 0; p < VGPU_PRIO_COUNT; p++) {
        if (cfg->weights[p] == 0) {
            errno = EINVAL;
            return NULL;
        }
    }
    for (size_t i = 0; i < VGPU_POOL_COUNT; i++) {
        if (cfg->vm_share[i] >= VGPU_SHARE_MODES) {
            errno = EINVAL;
            return NULL;
        }
    }

    s = calloc(1, sizeof(*s));
    if (s == NULL) {
        goto err;
    }
    s->buckets = calloc(SCHED_INITIAL_BUCKETS, sizeof(*s->buckets));
    if (s->buckets == NULL) {
        goto err_sched;
    }
    s->nbuckets = SCHED_INITIAL_BUCKETS;
    s->cfg = *cfg;
    for (size_t i = 0; i < VGPU_POOL_COUNT; i++) {
        s->pools[i].share_mode = cfg->vm_share[i];
        for (size_t p = 0; p < VGPU_PRIO_COUNT; p++) {
            s->pools[i].cls[p].ready.by_vtime =
                cfg->vm_share[i] == VGPU_SHARE_EQUAL;
        }
    }
    s->max_wait_ns = (uint64_t)cfg->max_wait_ms * SCHED_NS_PER_MS;
    return s;

err_sched:
    free(s);
err:
    errno = ENOMEM;
    return NULL;
}

void
vgpu_sched_destroy(struct vgpu_sched *s)
{
    if (s == NULL) {
        return;
    }
    for (size_t i = 0; i < s->nbuckets; i++) {
        struct sched_vm *vm = s->buckets[i];
        while (vm != NULL) {
            struct sched_vm *next = vm->hash_next;
            struct vgpu_sched_flow *f = vm->flows;
            while (f != NULL) {
                struct vgpu_sched_flow *fnext = f->vm_next;
                free(f);
                f = fnext;
            }
            free(vm);
            vm = next;
        }
    }
    while (s->vm_free != NULL) {
        struct sched_vm *next = s->vm_free->hash_next;
        free(s->vm_free);
        s->vm_free = next;
    }
    while (s->flow_free != NULL) {
        struct vgpu_sched_flow *next = s->flow_free->vm_next;
        free(s->flow_free);
        s->flow_free = next;
    }
    for (size_t i = 0; i < VGPU_POOL_COUNT; i++) {
        for (size_t p = 0; p < VGPU_PRIO_COUNT; p++) {
            share_heap_free(&s->pools[i].cls[p].ready);
            share_heap_free(&s->pools[i].cls[p].parked);
        }
    }
    share_accts_free(&s->accts);
    free(s->buckets);
    free(s);
}

void
vgpu_sched_item_init(struct vgpu_sched_item *item, uint32_t vm_id, uint8_t pool,
                     uint8_t priority)
{
    memset(item, 0, sizeof(*item));
    item->vm_id = vm_id;
    item->pool = pool;
    item->priority = priority;
}

int
vgpu_sched_enqueue(struct vgpu_sched *s, struct vgpu_sched_item *item,
                   uint64_t now_ns)
{
    struct sched_pool *pool;
    struct sched_class *cls;
    struct sched_vm *vm;
    struct vgpu_sched_flow *f;
    bool new_vm = false;

    if (!sched_pool_valid(item->pool) || item->priority >= VGPU_PRIO_COUNT) {
        return -EINVAL;
    }
    if (item->flow != NULL) {
        return -EALREADY;
    }
    vm = sched_vm_lookup(s, item->vm_id);
    if (vm != NULL && vm->queued >= s->cfg.vm_queue_cap) {
        return -EAGAIN;
    }
    if (vm == NULL) {
        vm = sched_vm_add(s, item->vm_id);
        if (vm == NULL) {
            return -ENOMEM;
        }
        new_vm = true;
    }

    pool = sched_pool_of(s, item->pool);
    cls = &pool->cls[item->priority];
    f = new_vm ? NULL : sched_flow_find(vm, item->pool, item->priority);
    if (f == NULL) {
        f = sched_flow_new(s);
        if (f == NULL) {
            if (new_vm) {
                sched_vm_drop(s, vm);
            }
            return -ENOMEM;
        }
        f->vm = vm;
        f->pool = item->pool;
        f->prio = item->priority;
        f->head = NULL;
        f->tail = NULL;
        f->acct = NULL;
        if (sched_acct_join(s, cls, f, now_ns) < 0) {
            f->vm_next = s->flow_free;
            s->flow_free = f;
            if (new_vm) {
                sched_vm_drop(s, vm);
            }
            return -ENOMEM;
        }
        f->vm_next = vm->flows;
        vm->flows = f;
    }

    /* A class that was idle restarts at the pool's virtual clock, so the
     * time it spent idle is not credit against the busy classes. */
    if (cls->queued == 0 && cls->vtime < pool->vclock) {
        cls->vtime = pool->vclock;
    }

    item->enqueue_ns = now_ns;
    item->flow = f;
    item->fifo_next = NULL;
    item->fifo_prev = f->tail;
    if (f->tail != NULL) {
        f->tail->fifo_next = item;
    } else {
        f->head = item;
    }
    f->tail = item;
    item->age_next = NULL;
    item->age_prev = cls->age_tail;
    if (cls->age_tail != NULL) {
        cls->age_tail->age_next = item;
    } else {
        cls->age_head = item;
    }
    cls->age_tail = item;

    cls->queued++;
    pool->queued++;
    vm->queued++;
    s->pending |= 1u << sched_pool_index(item->pool);
    return 0;
}

/* The next item of @pool by the policy; with @any, caps and fixed shares
 * hold nothing back. */
static struct vgpu_sched_item *
sched_next(struct vgpu_sched *s, uint8_t pool, uint64_t now_ns, bool any)
{
    struct sched_pool *p;

    if (!sched_pool_valid(pool)) {
        return NULL;
    }
    p = sched_pool_of(s, pool);
    if (p->queued == 0) {
        return NULL;
    }
    if (s->cfg.policy == VGPU_SCHED_WEIGHTED) {
        return sched_next_weighted(s, p, now_ns, any);
    }
    return sched_next_priority(s, p, now_ns, any);
}

struct vgpu_sched_item *
vgpu_sched_next(struct vgpu_sched *s, uint8_t pool, uint64_t now_ns)
{
    return sched_next(s, pool, now_ns, false);
}

struct vgpu_sched_item *
vgpu_sched_next_any(struct vgpu_sched *s, uint8_t pool, uint64_t now_ns)
{
    return sched_next(s, pool, now_ns, true);
}

uint64_t
vgpu_sched_wake_ns(const struct vgpu_sched *s, uint8_t pool)
{
    const struct sched_pool *p;
    uint64_t wake = 0;

    if (!sched_pool_valid(pool)) {
        return 0;
    }
    p = &s->pools[sched_pool_index(pool)];
    for (size_t i = 0; i < VGPU_PRIO_COUNT; i++) {
        const struct sched_class *cls = &p->cls[i];
        const struct sched_acct *a = share_heap_top(&cls->parked);

        if (cls->cur != NULL || cls->ready.n > 0) {
            return 0; /* something may be served now */
        }
        if (a != NULL && (wake == 0 || a->release_ns < wake)) {
            wake = a->release_ns;
        }
    }
    return wake;
}

int
vgpu_sched_vm_limits(struct vgpu_sched *s, uint32_t vm_id, uint8_t pool,
                     uint8_t prio, uint32_t share, uint32_t cap)
{
    struct sched_pool *p;
    struct sched_acct *a;

    if (!sched_pool_valid(pool) || prio >= VGPU_PRIO_COUNT ||
        share > VGPU_SHARE_PCT_MAX || cap > VGPU_SHARE_PCT_MAX) {
        return -EINVAL;
    }
    p = sched_pool_of(s, pool);
    a = sched_acct_get(s, vm_id, pool, prio);
    if (a == NULL) {
        return -ENOMEM;
    }
    p->fixed_sum -= a->share;
    if (a->flow != NULL && a->share == 0) {
        p->unset--;
    }
    a->share = (uint8_t)share;
    a->cap = (uint8_t)(cap == VGPU_SHARE_PCT_MAX ? 0 : cap);
    p->fixed_sum += a->share;
    if (a->flow != NULL && a->share == 0) {
        p->unset++;
    }
    return 0;
}

int
vgpu_sched_vm_target(const struct vgpu_sched *s, uint32_t vm_id, uint8_t pool,
                     uint8_t prio, struct vgpu_sched_target *out)
{
    const struct sched_acct *a = share_acct_find(&s->accts, vm_id, pool, prio);
    const struct sched_pool *p;
    const uint32_t bp = 100u; /* basis points per percent */
    size_t n;

    memset(out, 0, sizeof(*out));
    if (a == NULL) {
        return -ENOENT;
    }
    p = &s->pools[sched_pool_index(pool)];
    out->mode = p->share_mode;
    out->cap_pct = a->cap;
    out->share_pct = a->share;
    out->charged_ns = a->charged_ns;
    if (p->share_mode == VGPU_SHARE_FIXED) {
        out->target_bp = sched_rate(s, a) * bp;
    } else if (p->share_mode == VGPU_SHARE_EQUAL) {
        /* Equal among the class's connected VMs (each with work). */
        n = p->cls[prio].naccts;
        out->target_bp = (uint32_t)(VGPU_SHARE_PCT_MAX * bp / (n ? n : 1u));
    }
    if (a->cap != 0 && (out->target_bp == 0 || a->cap * bp < out->target_bp)) {
        out->target_bp = a->cap * bp;
    }
    return 0;
}

/* Charge @service_ns to the account of @item's VM: its virtual time, its
 * release time when it is limited, and its place in its heap. A VM that
 * disconnected meanwhile has no account: nothing to do. */
static void
sched_charge_vm(struct vgpu_sched *s, struct sched_class *cls,
                const struct vgpu_sched_item *item, uint64_t service_ns)
{
    struct sched_acct *a =
        share_acct_find(&s->accts, item->vm_id, item->pool, item->priority);

    if (a == NULL) {
        return;
    }
    a->charged_ns += service_ns;
    a->vtime =
        a->vtime > UINT64_MAX - service_ns ? UINT64_MAX : a->vtime + service_ns;
    if (sched_limited(s, a)) {
        a->release_ns = share_release_after(a, service_ns, sched_rate(s, a),
                                            VGPU_SHARE_SLACK_NS);
    }
    if (a->where == SHARE_READY) {
        share_heap_fix(&cls->ready, a);
    } else if (a->where == SHARE_PARKED) {
        share_heap_fix(&cls->parked, a);
    }
}

void
vgpu_sched_charge(struct vgpu_sched *s, const struct vgpu_sched_item *item,
                  uint64_t service_ns)
{
    struct sched_class *cls;
    uint64_t weight;
    uint64_t sum;

    if (!sched_pool_valid(item->pool) || item->priority >= VGPU_PRIO_COUNT) {
        return;
    }
    cls = &sched_pool_of(s, item->pool)->cls[item->priority];
    sched_charge_vm(s, cls, item, service_ns);
    if (s->cfg.policy != VGPU_SCHED_WEIGHTED) {
        return;
    }
    weight = s->cfg.weights[item->priority];
    /* Exact over any number of charges: the remainder carries over. vrem is
     * below the weight, so only an absurd service_ns could overflow; clamp. */
    if (service_ns > UINT64_MAX - cls->vrem) {
        service_ns = UINT64_MAX - cls->vrem;
    }
    sum = cls->vrem + service_ns;
    cls->vtime += sum / weight;
    cls->vrem = sum % weight;
}

size_t
vgpu_sched_remove_vm(struct vgpu_sched *s, uint32_t vm_id,
                     void (*fn)(struct vgpu_sched_item *, void *), void *arg)
{
    struct sched_vm *vm;
    size_t removed = 0;

    /* Look the VM up again each time: unlinking its last item frees its
     * record, and @fn may call the scheduler. */
    while ((vm = sched_vm_lookup(s, vm_id)) != NULL) {
        struct vgpu_sched_item *item = vm->flows->head;
        sched_unlink(s, item);
        removed++;
        if (fn != NULL) {
            fn(item, arg);
        }
    }
    /* Its accounts go too (they have no work left): O(pools x classes). */
    for (size_t i = 0; i < VGPU_POOL_COUNT && s->accts.n > 0; i++) {
        for (uint8_t p = 0; p < VGPU_PRIO_COUNT; p++) {
            uint8_t pool = (uint8_t)(VGPU_POOL_FIRST + i);
            struct sched_acct *a = share_acct_find(&s->accts, vm_id, pool, p);

            if (a != NULL && a->flow == NULL) {
                s->pools[i].fixed_sum -= a->share;
                s->pools[i].cls[p].naccts--;
                share_acct_del(&s->accts, a);
            }
        }
    }
    return removed;
}

int
vgpu_sched_cancel(struct vgpu_sched *s, struct vgpu_sched_item *item)
{
    if (item->flow == NULL) {
        return -ENOENT;
    }
    sched_unlink(s, item);
    return 0;
}

size_t
vgpu_sched_queued(const struct vgpu_sched *s, uint8_t pool)
{
    if (!sched_pool_valid(pool)) {
        return 0;
    }
    return s->pools[sched_pool_index(pool)].queued;
}

size_t
vgpu_sched_vm_queued(const struct vgpu_sched *s, uint32_t vm_id)
{
    const struct sched_vm *vm = sched_vm_lookup(s, vm_id);

    return vm != NULL ? vm->queued : 0;
}

uint32_t
vgpu_sched_pending(const struct vgpu_sched *s)
{
    return s->pending;
}
