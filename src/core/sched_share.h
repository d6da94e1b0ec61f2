/*
 * Per-VM shares of executor time inside one priority class (SPEC.md
 * section 9, vm_share; docs/mediator.md "Shares of executor time"):
 * internal to the scheduler (scheduler.c). A pure module, like it.
 *
 * Each (VM, pool, priority) that queued work has an account, kept while
 * the VM is connected (so a VM with one request in flight at a time is
 * still held to its cap): its virtual time (executor ns charged, for
 * `equal`), its release time (the earliest time it may be served again,
 * for `fixed` and caps) and its limits from the registry. An account with
 * queued work sits in one of its class's two binary heaps: ready (ordered
 * by virtual time for `equal`, by release time for `fixed`; `best_effort`
 * keeps the scheduler's round robin ring instead) or parked (its release
 * time has not come: ordered by release time). Every heap operation is
 * O(log n) in the accounts with work of the class.
 */
#ifndef VGPU_SCHED_SHARE_H
#define VGPU_SCHED_SHARE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct vgpu_sched_flow;

/* Where an account with work waits. */
enum {
    SHARE_NOWHERE = 0, /* no queued work (or being placed) */
    SHARE_RING = 1,    /* best_effort: on the class's round robin ring */
    SHARE_READY = 2,   /* in the class's ready heap */
    SHARE_PARKED = 3,  /* in the class's parked heap, until release_ns */
};

struct sched_acct {
    uint32_t vm_id;
    uint8_t pool;
    uint8_t prio;
    uint8_t share;       /* registry share, percent; 0: none */
    uint8_t cap;         /* registry cap, percent; 0: none */
    int where;           /* SHARE_* */
    size_t hidx;         /* index in its heap */
    uint64_t vtime;      /* equal: executor ns charged, from the class clock */
    uint64_t release_ns; /* fixed and caps: may not be served before */
    uint64_t taken_ns;   /* when its last item was taken */
    uint64_t charged_ns; /* executor ns charged since the account began */
    uint64_t seq;        /* when it last joined or was served: ties of the heap
                            keys go to the lowest, so equal keys take turns */
    struct vgpu_sched_flow *flow; /* its queued work, or NULL */
    struct sched_acct *hash_next;
};

/* One place of a heap: the account's key and seq as of its last push or
 * fix, beside it, so the comparisons of a sift read the array only (an
 * account is a cache miss once thousands of VMs have work). */
struct sched_heap_entry {
    uint64_t key;
    uint64_t seq;
    struct sched_acct *acct;
};

/* A binary min-heap of accounts, by release time (parked, and ready under
 * `fixed`) or by virtual time (ready under `equal`). */
struct sched_heap {
    struct sched_heap_entry *e;
    size_t n;
    size_t cap;
    bool by_vtime;
};

/* The accounts, by (vm_id, pool, priority): a chained hash table. */
struct sched_accts {
    struct sched_acct **buckets;
    size_t nbuckets; /* a power of two, or 0 before the first */
    size_t n;
};

/** share_heap_push() - add @a; Return: 0 or -ENOMEM. Sets a->hidx. */
int share_heap_push(struct sched_heap *h, struct sched_acct *a);
/** share_heap_reserve() - room for @n accounts; Return: 0 or -ENOMEM. */
int share_heap_reserve(struct sched_heap *h, size_t n);
/** share_heap_remove() - take @a (which is in @h) out. */
void share_heap_remove(struct sched_heap *h, struct sched_acct *a);
/** share_heap_fix() - @a's key or seq changed: restore the order. */
void share_heap_fix(struct sched_heap *h, struct sched_acct *a);
/** share_heap_top() - the least, or NULL. */
struct sched_acct *share_heap_top(const struct sched_heap *h);
/** share_heap_free() - free the array. */
void share_heap_free(struct sched_heap *h);

/** share_acct_find() - the account, or NULL. O(1) expected. */
struct sched_acct *share_acct_find(const struct sched_accts *t, uint32_t vm_id,
                                   uint8_t pool, uint8_t prio);
/** share_acct_get() - find, or add a zeroed one; NULL when out of memory. */
struct sched_acct *share_acct_get(struct sched_accts *t, uint32_t vm_id,
                                  uint8_t pool, uint8_t prio);
/** share_acct_del() - take @a out of the table and free it. */
void share_acct_del(struct sched_accts *t, struct sched_acct *a);
/** share_accts_free() - free every account and the table. */
void share_accts_free(struct sched_accts *t);

/**
 * share_release_after() - the release time after @a ran @service_ns at
 * @rate_pct percent (1..99) of an executor: the service stretched by
 * 100 / rate from the later of its last release and its take time less
 * @slack_ns (so up to @slack_ns of lateness, the wait for a request that
 * was not preempted, is paid back, and idle time beyond it is not banked).
 */
uint64_t share_release_after(const struct sched_acct *a, uint64_t service_ns,
                             uint32_t rate_pct, uint64_t slack_ns);

#endif /* VGPU_SCHED_SHARE_H */
