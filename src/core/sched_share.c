/*
 * The accounts and heaps of per-VM shares (sched_share.h).
 */
#include <errno.h>
#include <stdlib.h>

#include "sched_share.h"

#define SHARE_INITIAL_BUCKETS 64u /* a power of two */
#define SHARE_INITIAL_HEAP    16u
#define SHARE_PCT_FULL        100u

/* ---- Heaps --------------------------------------------------------------- */

static uint64_t
heap_key(const struct sched_heap *h, const struct sched_acct *a)
{
    return h->by_vtime ? a->vtime : a->release_ns;
}

/* Ties go to the account served (or arrived) longest ago: round robin. */
static bool
heap_less(const struct sched_heap *h, size_t i, size_t j)
{
    const struct sched_heap_entry *ei = &h->e[i];
    const struct sched_heap_entry *ej = &h->e[j];

    return ei->key < ej->key || (ei->key == ej->key && ei->seq < ej->seq);
}

static void
heap_swap(struct sched_heap *h, size_t i, size_t j)
{
    struct sched_heap_entry t = h->e[i];

    h->e[i] = h->e[j];
    h->e[j] = t;
    h->e[i].acct->hidx = i;
    h->e[j].acct->hidx = j;
}

static void
heap_up(struct sched_heap *h, size_t i)
{
    while (i > 0 && heap_less(h, i, (i - 1) / 2)) {
        heap_swap(h, i, (i - 1) / 2);
        i = (i - 1) / 2;
    }
}

static void
heap_down(struct sched_heap *h, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1;
        size_t m = i;

        if (l < h->n && heap_less(h, l, m)) {
            m = l;
        }
        if (l + 1 < h->n && heap_less(h, l + 1, m)) {
            m = l + 1;
        }
        if (m == i) {
            return;
        }
        heap_swap(h, i, m);
        i = m;
    }
}

int
share_heap_reserve(struct sched_heap *h, size_t n)
{
    size_t cap = h->cap != 0 ? h->cap : SHARE_INITIAL_HEAP;
    struct sched_heap_entry *grown;

    if (n <= h->cap) {
        return 0;
    }
    while (cap < n) {
        cap *= 2;
    }
    grown = realloc(h->e, cap * sizeof(*grown));
    if (grown == NULL) {
        return -ENOMEM;
    }
    h->e = grown;
    h->cap = cap;
    return 0;
}

int
share_heap_push(struct sched_heap *h, struct sched_acct *a)
{
    if (share_heap_reserve(h, h->n + 1) < 0) {
        return -ENOMEM;
    }
    a->hidx = h->n;
    h->e[h->n].acct = a;
    h->e[h->n].key = heap_key(h, a);
    h->e[h->n].seq = a->seq;
    h->n++;
    heap_up(h, a->hidx);
    return 0;
}

void
share_heap_remove(struct sched_heap *h, struct sched_acct *a)
{
    size_t i = a->hidx;

    h->n--;
    if (i != h->n) {
        h->e[i] = h->e[h->n];
        h->e[i].acct->hidx = i;
        heap_up(h, i);
        heap_down(h, i);
    }
}

void
share_heap_fix(struct sched_heap *h, struct sched_acct *a)
{
    struct sched_heap_entry *e = &h->e[a->hidx];

    e->key = heap_key(h, a);
    e->seq = a->seq;
    heap_up(h, a->hidx);
    heap_down(h, a->hidx);
}

struct sched_acct *
share_heap_top(const struct sched_heap *h)
{
    return h->n > 0 ? h->e[0].acct : NULL;
}

void
share_heap_free(struct sched_heap *h)
{
    free(h->e);
    h->e = NULL;
    h->n = 0;
    h->cap = 0;
}

/* ---- Accounts ------------------------------------------------------------ */

static size_t
acct_bucket(const struct sched_accts *t, uint32_t vm_id, uint8_t pool,
            uint8_t prio)
{
    uint64_t k = ((uint64_t)vm_id << 16) | ((uint64_t)pool << 8) | prio;

    /* splitmix64's finaliser: consecutive vm_ids spread over the table. */
    k ^= k >> 30;
    k *= 0xbf58476d1ce4e5b9ull;
    k ^= k >> 27;
    k *= 0x94d049bb133111ebull;
    k ^= k >> 31;
    return (size_t)(k & (t->nbuckets - 1));
}

struct sched_acct *
share_acct_find(const struct sched_accts *t, uint32_t vm_id, uint8_t pool,
                uint8_t prio)
{
    struct sched_acct *a;

    if (t->nbuckets == 0) {
        return NULL;
    }
    a = t->buckets[acct_bucket(t, vm_id, pool, prio)];
    while (a != NULL &&
           (a->vm_id != vm_id || a->pool != pool || a->prio != prio)) {
        a = a->hash_next;
    }
    return a;
}

/* Rehash into twice the buckets when the table holds more accounts than
 * buckets. Failing is harmless: the chains grow longer. */
static void
acct_rehash(struct sched_accts *t)
{
    size_t old_n = t->nbuckets;
    size_t new_n = old_n != 0 ? old_n * 2 : SHARE_INITIAL_BUCKETS;
    struct sched_acct **old = t->buckets;
    struct sched_acct **fresh = calloc(new_n, sizeof(*fresh));

    if (fresh == NULL) {
        return;
    }
    t->buckets = fresh;
    t->nbuckets = new_n;
    for (size_t i = 0; i < old_n; i++) {
        while (old[i] != NULL) {
            struct sched_acct *a = old[i];
            size_t b = acct_bucket(t, a->vm_id, a->pool, a->prio);

            old[i] = a->hash_next;
            a->hash_next = fresh[b];
            fresh[b] = a;
        }
    }
    free(old);
}

struct sched_acct *
share_acct_get(struct sched_accts *t, uint32_t vm_id, uint8_t pool,
               uint8_t prio)
{
    struct sched_acct *a = share_acct_find(t, vm_id, pool, prio);
    size_t b;

    if (a != NULL) {
        return a;
    }
    if (t->nbuckets == 0 || t->n >= t->nbuckets) {
        acct_rehash(t);
        if (t->nbuckets == 0) {
            return NULL;
        }
    }
    a = calloc(1, sizeof(*a));
    if (a == NULL) {
        return NULL;
    }
    a->vm_id = vm_id;
    a->pool = pool;
    a->prio = prio;
    b = acct_bucket(t, vm_id, pool, prio);
    a->hash_next = t->buckets[b];
    t->buckets[b] = a;
    t->n++;
    return a;
}

void
share_acct_del(struct sched_accts *t, struct sched_acct *a)
{
    struct sched_acct **pp =
        &t->buckets[acct_bucket(t, a->vm_id, a->pool, a->prio)];

    while (*pp != a) {
        pp = &(*pp)->hash_next;
    }
    *pp = a->hash_next;
    t->n--;
    free(a);
}

void
share_accts_free(struct sched_accts *t)
{
    for (size_t i = 0; i < t->nbuckets; i++) {
        while (t->buckets[i] != NULL) {
            struct sched_acct *a = t->buckets[i];

            t->buckets[i] = a->hash_next;
            free(a);
        }
    }
    free(t->buckets);
    t->buckets = NULL;
    t->nbuckets = 0;
    t->n = 0;
}

uint64_t
share_release_after(const struct sched_acct *a, uint64_t service_ns,
                    uint32_t rate_pct, uint64_t slack_ns)
{
    uint64_t base = a->taken_ns > slack_ns ? a->taken_ns - slack_ns : 0;
    uint64_t stretch;

    if (base < a->release_ns) {
        base = a->release_ns;
    }
    if (rate_pct == 0) {
        rate_pct = 1;
    }
    /* A service of more than 2^56 ns (two years) is clamped: no overflow. */
    if (service_ns > (UINT64_MAX >> 8)) {
        service_ns = UINT64_MAX >> 8;
    }
    stretch = service_ns * SHARE_PCT_FULL / rate_pct;
    return base > UINT64_MAX - stretch ? UINT64_MAX : base + stretch;
}
