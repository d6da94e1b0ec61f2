/*
 * The scheduler with a fake clock: priority order, round robin among VMs,
 * FIFO within a VM, pools, aging bounds, weighted shares, the per-VM cap,
 * removal, and argument checks.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "vgpu_test.h"

#include "vgpu/scheduler.h"

#define NS_PER_MS 1000000ull
#define POOL_A    VGPU_POOL_FIRST
#define POOL_B    (VGPU_POOL_FIRST + 1)
#define POOL_Z    VGPU_POOL_LAST
#define LOW       VGPU_PRIO_LOW
#define MED       VGPU_PRIO_MEDIUM
#define HIGH      VGPU_PRIO_HIGH
#define NO_TAG    (-1)

/* The tolerance of the weighted shares: 5% of each expected share. */
#define SHARE_TOLERANCE 0.05

/* A caller's request with the item embedded, as the mediator has it. */
struct test_req {
    struct vgpu_sched_item item;
    int tag;
    int seen; /* times a callback saw it */
};

static struct test_req *
req_of(struct vgpu_sched_item *item)
{
    return (struct test_req *)((char *)item - offsetof(struct test_req, item));
}

static void
req_init(struct test_req *r, uint32_t vm_id, uint8_t pool, uint8_t prio,
         int tag)
{
    vgpu_sched_item_init(&r->item, vm_id, pool, prio);
    r->tag = tag;
    r->seen = 0;
}

static void
req_enqueue(struct vgpu_sched *s, struct test_req *r, uint64_t now_ns)
{
    assert_int_equal(vgpu_sched_enqueue(s, &r->item, now_ns), 0);
}

/* The tag of the next item of @pool, or NO_TAG. */
static int
next_tag(struct vgpu_sched *s, uint8_t pool, uint64_t now_ns)
{
    struct vgpu_sched_item *item = vgpu_sched_next(s, pool, now_ns);

    return item != NULL ? req_of(item)->tag : NO_TAG;
}

/* The vm_share mode of every pool (main runs the priority, aging and
 * weighted tests once per mode). */
static int share_mode = VGPU_SHARE_BEST_EFFORT;

static struct vgpu_sched *
sched_new(int policy, uint32_t max_wait_ms, uint32_t cap)
{
    struct vgpu_sched_config cfg;
    struct vgpu_sched *s;

    vgpu_sched_config_default(&cfg);
    memset(cfg.vm_share, share_mode, sizeof(cfg.vm_share));
    cfg.policy = policy;
    cfg.max_wait_ms = max_wait_ms;
    cfg.vm_queue_cap = cap;
    s = vgpu_sched_create(&cfg);
    assert_non_null(s);
    return s;
}

static struct vgpu_sched *
sched_priority(void)
{
    return sched_new(VGPU_SCHED_PRIORITY, VGPU_SCHED_DEFAULT_MAX_WAIT_MS,
                     VGPU_SCHED_DEFAULT_VM_QUEUE_CAP);
}

/* Deterministic pseudo-random numbers for the simulated loops. */
static uint32_t
lcg_next(uint32_t *state)
{
    *state = *state * 1664525u + 1013904223u;
    return *state >> 8;
}

/* ---- Configuration ------------------------------------------------------- */

static void
test_config(void **state)
{
    struct vgpu_sched_config cfg;
    struct vgpu_sched *s;
    int policy = -1;

    (void)state;
    vgpu_sched_config_default(&cfg);
    assert_int_equal(cfg.policy, VGPU_SCHED_PRIORITY);
    assert_int_equal(cfg.max_wait_ms, 1000);
    assert_int_equal(cfg.weights[LOW], 1);
    assert_int_equal(cfg.weights[MED], 2);
    assert_int_equal(cfg.weights[HIGH], 4);
    assert_true(cfg.vm_queue_cap >= 1);

    s = vgpu_sched_create(NULL);
    assert_non_null(s);
    vgpu_sched_destroy(s);
    vgpu_sched_destroy(NULL);

    cfg.policy = VGPU_SCHED_WEIGHTED + 1;
    errno = 0;
    assert_null(vgpu_sched_create(&cfg));
    assert_int_equal(errno, EINVAL);
    vgpu_sched_config_default(&cfg);
    cfg.weights[MED] = 0;
    errno = 0;
    assert_null(vgpu_sched_create(&cfg));
    assert_int_equal(errno, EINVAL);
    vgpu_sched_config_default(&cfg);
    cfg.vm_queue_cap = 0;
    errno = 0;
    assert_null(vgpu_sched_create(&cfg));
    assert_int_equal(errno, EINVAL);

    assert_int_equal(vgpu_sched_policy_lookup("weighted", &policy), 0);
    assert_int_equal(policy, VGPU_SCHED_WEIGHTED);
    assert_int_equal(vgpu_sched_policy_lookup("priority", &policy), 0);
    assert_int_equal(policy, VGPU_SCHED_PRIORITY);
    assert_int_equal(vgpu_sched_policy_lookup("fair", &policy), -EINVAL);
    assert_int_equal(vgpu_sched_policy_lookup(NULL, &policy), -EINVAL);
    assert_string_equal(vgpu_sched_policy_name(VGPU_SCHED_WEIGHTED),
                        "weighted");
    assert_null(vgpu_sched_policy_name(-1));
}

/* ---- Priority policy ----------------------------------------------------- */

static void
test_priority_order(void **state)
{
    struct vgpu_sched *s = sched_priority();
    struct test_req r[3];

    (void)state;
    req_init(&r[0], 1, POOL_A, LOW, LOW);
    req_init(&r[1], 2, POOL_A, MED, MED);
    req_init(&r[2], 3, POOL_A, HIGH, HIGH);
    for (size_t i = 0; i < 3; i++) {
        req_enqueue(s, &r[i], i);
    }
    assert_int_equal(next_tag(s, POOL_A, 10), HIGH);
    assert_int_equal(next_tag(s, POOL_A, 10), MED);
    assert_int_equal(next_tag(s, POOL_A, 10), LOW);
    assert_int_equal(next_tag(s, POOL_A, 10), NO_TAG);
    vgpu_sched_destroy(s);
}

/* Three VMs of one priority, each with three requests queued VM by VM: the
 * order is A1 B1 C1 A2 B2 C2 A3 B3 C3. Tags are vm * 10 + sequence. */
static void
test_priority_round_robin(void **state)
{
    static const int want[] = {11, 21, 31, 12, 22, 32, 13, 23, 33};
    struct vgpu_sched *s = sched_priority();
    struct test_req r[9];

    (void)state;
    for (uint32_t vm = 1; vm <= 3; vm++) {
        for (uint32_t seq = 1; seq <= 3; seq++) {
            struct test_req *q = &r[(vm - 1) * 3 + seq - 1];
            req_init(q, vm, POOL_A, MED, (int)(vm * 10 + seq));
            req_enqueue(s, q, 0);
        }
    }
    for (size_t i = 0; i < 9; i++) {
        assert_int_equal(next_tag(s, POOL_A, 1), want[i]);
    }
    assert_int_equal(next_tag(s, POOL_A, 1), NO_TAG);
    vgpu_sched_destroy(s);
}

/* A VM that gets work while others wait takes its turn after all of them. */
static void
test_priority_round_robin_join(void **state)
{
    struct vgpu_sched *s = sched_priority();
    struct test_req a1, a2, b1, c1;

    (void)state;
    req_init(&a1, 1, POOL_A, HIGH, 11);
    req_init(&a2, 1, POOL_A, HIGH, 12);
    req_init(&b1, 2, POOL_A, HIGH, 21);
    req_init(&c1, 3, POOL_A, HIGH, 31);
    req_enqueue(s, &a1, 0);
    req_enqueue(s, &a2, 0);
    req_enqueue(s, &b1, 0);
    assert_int_equal(next_tag(s, POOL_A, 1), 11);
    req_enqueue(s, &c1, 1);
    assert_int_equal(next_tag(s, POOL_A, 1), 21);
    assert_int_equal(next_tag(s, POOL_A, 1), 12);
    assert_int_equal(next_tag(s, POOL_A, 1), 31);
    vgpu_sched_destroy(s);
}

static void
test_priority_fifo(void **state)
{
    struct vgpu_sched *s = sched_priority();
    struct test_req r[5];
    struct test_req other;

    (void)state;
    for (int i = 0; i < 5; i++) {
        req_init(&r[i], 7, POOL_A, LOW, i);
        req_enqueue(s, &r[i], (uint64_t)i);
    }
    req_init(&other, 8, POOL_A, LOW, 100);
    req_enqueue(s, &other, 5);
    assert_int_equal(next_tag(s, POOL_A, 6), 0);
    assert_int_equal(next_tag(s, POOL_A, 6), 100);
    for (int i = 1; i < 5; i++) {
        assert_int_equal(next_tag(s, POOL_A, 6), i);
    }
    vgpu_sched_destroy(s);
}

/* ---- Pools --------------------------------------------------------------- */

static void
test_pools_independent(void **state)
{
    struct vgpu_sched *s = sched_priority();
    struct test_req a, b, z;

    (void)state;
    assert_int_equal(vgpu_sched_pending(s), 0);
    req_init(&a, 1, POOL_A, LOW, 1);
    req_init(&b, 2, POOL_B, HIGH, 2);
    req_init(&z, 3, POOL_Z, MED, 3);
    req_enqueue(s, &a, 0);
    req_enqueue(s, &b, 0);
    req_enqueue(s, &z, 0);
    assert_int_equal(vgpu_sched_pending(s),
                     1u | (1u << 1) | (1u << (VGPU_POOL_COUNT - 1)));
    assert_int_equal(vgpu_sched_queued(s, POOL_A), 1);
    assert_int_equal(vgpu_sched_queued(s, POOL_B), 1);

    /* A's low request is served in A although B has a high one. */
    assert_int_equal(next_tag(s, POOL_A, 1), 1);
    assert_int_equal(next_tag(s, POOL_A, 1), NO_TAG);
    assert_int_equal(vgpu_sched_queued(s, POOL_A), 0);
    assert_int_equal(vgpu_sched_pending(s),
                     (1u << 1) | (1u << (VGPU_POOL_COUNT - 1)));
    assert_int_equal(next_tag(s, POOL_Z, 1), 3);
    assert_int_equal(next_tag(s, POOL_B, 1), 2);
    assert_int_equal(vgpu_sched_pending(s), 0);
    vgpu_sched_destroy(s);
}

static void
test_pools_empty(void **state)
{
    struct vgpu_sched *s = sched_priority();
    struct test_req b;

    (void)state;
    assert_null(vgpu_sched_next(s, POOL_A, 0));
    req_init(&b, 2, POOL_B, HIGH, 2);
    req_enqueue(s, &b, 0);
    assert_null(vgpu_sched_next(s, POOL_A, 0));
    assert_int_equal(vgpu_sched_queued(s, POOL_B), 1);
    vgpu_sched_destroy(s);
}

/* ---- Aging --------------------------------------------------------------- */

static void
test_aging_overdue_first(void **state)
{
    const uint64_t wait_ns = VGPU_SCHED_DEFAULT_MAX_WAIT_MS * NS_PER_MS;
    struct vgpu_sched *s = sched_priority();
    struct test_req low, high[3];

    (void)state;
    req_init(&low, 1, POOL_A, LOW, 0);
    req_enqueue(s, &low, 0);
    for (int i = 0; i < 3; i++) {
        req_init(&high[i], 2, POOL_A, HIGH, i + 1);
        req_enqueue(s, &high[i], (uint64_t)i + 1);
    }
    /* One nanosecond short of max_wait: the high ones still go first. */
    assert_int_equal(next_tag(s, POOL_A, wait_ns - 1), 1);
    /* At max_wait the low one goes before the highs still queued. */
    assert_int_equal(next_tag(s, POOL_A, wait_ns), 0);
    assert_int_equal(next_tag(s, POOL_A, wait_ns), 2);
    assert_int_equal(vgpu_sched_vm_queued(s, 2), 1);
    vgpu_sched_destroy(s);
}

static void
test_aging_oldest_first(void **state)
{
    const uint64_t wait_ns = VGPU_SCHED_DEFAULT_MAX_WAIT_MS * NS_PER_MS;
    struct vgpu_sched *s = sched_priority();
    struct test_req low, med, high;

    (void)state;
    req_init(&med, 1, POOL_A, MED, MED);
    req_init(&low, 2, POOL_A, LOW, LOW);
    req_init(&high, 3, POOL_A, HIGH, HIGH);
    req_enqueue(s, &med, 5);
    req_enqueue(s, &low, 10);
    req_enqueue(s, &high, 11);
    /* Medium and low overdue: the older (medium) first, then low, then
     * high, which is not overdue yet. */
    assert_int_equal(next_tag(s, POOL_A, wait_ns + 10), MED);
    assert_int_equal(next_tag(s, POOL_A, wait_ns + 10), LOW);
    assert_int_equal(next_tag(s, POOL_A, wait_ns + 10), HIGH);

    /* Overdue and equally old: the higher priority first. */
    req_enqueue(s, &low, 20);
    req_enqueue(s, &high, 20);
    assert_int_equal(next_tag(s, POOL_A, wait_ns + 20), HIGH);
    assert_int_equal(next_tag(s, POOL_A, wait_ns + 20), LOW);
    vgpu_sched_destroy(s);
}

/* max_wait_ms = 0: everything is overdue at once, so service is oldest
 * first whatever the priority. */
static void
test_aging_zero_wait(void **state)
{
    struct vgpu_sched *s =
        sched_new(VGPU_SCHED_PRIORITY, 0, VGPU_SCHED_DEFAULT_VM_QUEUE_CAP);
    struct test_req low, high;

    (void)state;
    req_init(&low, 1, POOL_A, LOW, LOW);
    req_init(&high, 2, POOL_A, HIGH, HIGH);
    req_enqueue(s, &low, 1);
    req_enqueue(s, &high, 2);
    assert_int_equal(next_tag(s, POOL_A, 3), LOW);
    assert_int_equal(next_tag(s, POOL_A, 3), HIGH);
    vgpu_sched_destroy(s);
}

#define SIM_HIGH_VMS 3
#define SIM_STEPS    20000
#define SIM_MAX_SVC  20u /* ms, service times are 1 .. SIM_MAX_SVC */

/*
 * A saturated executor: SIM_HIGH_VMS high VMs always have a request queued
 * (each re-enqueues as soon as it is served), and each VM of @lower (a list
 * of @nlower priorities below high) re-enqueues likewise. Service times vary.
 * Each lower request must wait no more than max_wait plus the service that
 * was running when it became overdue, plus one service per other lower class
 * that may be overdue with it.
 */
static void
check_aging_bound(const uint8_t *lower, size_t nlower)
{
    const uint64_t wait_ns = VGPU_SCHED_DEFAULT_MAX_WAIT_MS * NS_PER_MS;
    struct vgpu_sched *s = sched_priority();
    struct test_req high[SIM_HIGH_VMS];
    struct test_req low[VGPU_PRIO_COUNT];
    uint64_t now = 0;
    uint64_t prev_svc = 0;
    uint64_t max_wait = 0;
    size_t lower_served = 0;
    uint32_t seed = 99;

    for (int i = 0; i < SIM_HIGH_VMS; i++) {
        req_init(&high[i], (uint32_t)i + 1, POOL_A, HIGH, HIGH);
        req_enqueue(s, &high[i], now);
    }
    for (size_t i = 0; i < nlower; i++) {
        req_init(&low[i], 100 + (uint32_t)i, POOL_A, lower[i], lower[i]);
        req_enqueue(s, &low[i], now);
    }
    for (int step = 0; step < SIM_STEPS; step++) {
        struct vgpu_sched_item *item = vgpu_sched_next(s, POOL_A, now);
        uint64_t svc = (1 + lcg_next(&seed) % SIM_MAX_SVC) * NS_PER_MS;
        uint64_t waited;

        assert_non_null(item);
        waited = now - item->enqueue_ns;
        if (item->priority != HIGH) {
            uint64_t bound =
                wait_ns + prev_svc + (nlower - 1) * SIM_MAX_SVC * NS_PER_MS;
            assert_true(waited <= bound);
            if (waited > max_wait) {
                max_wait = waited;
            }
            lower_served++;
        } else {
            /* The highs are never the ones kept waiting. */
            assert_true(waited < wait_ns);
        }
        now += svc;
        prev_svc = svc;
        assert_int_equal(vgpu_sched_enqueue(s, item, now), 0);
    }
    /* The loop did exercise aging: the lower ones waited max_wait or more,
     * and were served about once per max_wait each. */
    assert_true(max_wait >= wait_ns);
    assert_true(lower_served >= nlower * (now / wait_ns) / 2);
    vgpu_sched_destroy(s);
}

static void
test_aging_bound(void **state)
{
    static const uint8_t lower[] = {LOW};

    (void)state;
    check_aging_bound(lower, 1);
}

static void
test_aging_bound_two(void **state)
{
    static const uint8_t lower[] = {LOW, MED};

    (void)state;
    check_aging_bound(lower, 2);
}

/* ---- Weighted policy ----------------------------------------------------- */

#define WSIM_MAX_VMS 4

/*
 * Saturate a weighted scheduler: @vms VMs per priority, each with one request
 * that is re-enqueued as soon as it has been served and charged, @steps
 * services, service time svc_ms[prio]. Returns the executor time per class
 * in @busy.
 */
static void
run_weighted(struct vgpu_sched *s, size_t vms, const uint64_t *svc_ms,
             size_t steps, uint64_t *now, uint64_t *busy)
{
    struct test_req r[VGPU_PRIO_COUNT][WSIM_MAX_VMS];

    assert_true(vms <= WSIM_MAX_VMS);
    for (uint8_t p = 0; p < VGPU_PRIO_COUNT; p++) {
        busy[p] = 0;
        for (size_t v = 0; v < vms; v++) {
            req_init(&r[p][v], (uint32_t)(p * WSIM_MAX_VMS + v + 1), POOL_A, p,
                     p);
            req_enqueue(s, &r[p][v], *now);
        }
    }
    for (size_t i = 0; i < steps; i++) {
        struct vgpu_sched_item *item = vgpu_sched_next(s, POOL_A, *now);
        uint64_t svc;

        assert_non_null(item);
        svc = svc_ms[item->priority] * NS_PER_MS;
        *now += svc;
        busy[item->priority] += svc;
        vgpu_sched_charge(s, item, svc);
        assert_int_equal(vgpu_sched_enqueue(s, item, *now), 0);
    }
    for (uint8_t p = 0; p < VGPU_PRIO_COUNT; p++) {
        for (size_t v = 0; v < vms; v++) {
            assert_int_equal(vgpu_sched_cancel(s, &r[p][v].item), 0);
        }
    }
}

static void
check_shares(const uint64_t *busy)
{
    static const double weight[VGPU_PRIO_COUNT] = {
        VGPU_SCHED_DEFAULT_WEIGHT_LOW, VGPU_SCHED_DEFAULT_WEIGHT_MED,
        VGPU_SCHED_DEFAULT_WEIGHT_HIGH};
    double total = 0;
    double wsum = 0;

    for (size_t p = 0; p < VGPU_PRIO_COUNT; p++) {
        total += (double)busy[p];
        wsum += weight[p];
    }
    for (size_t p = 0; p < VGPU_PRIO_COUNT; p++) {
        double want = weight[p] / wsum;
        double got = (double)busy[p] / total;
        if (got < want * (1 - SHARE_TOLERANCE) ||
            got > want * (1 + SHARE_TOLERANCE)) {
            fail_msg("priority %zu: share %.4f, want %.4f +- 5%%", p, got,
                     want);
        }
    }
}

static void
test_weighted_equal_service(void **state)
{
    static const uint64_t svc[VGPU_PRIO_COUNT] = {1, 1, 1};
    uint64_t busy[VGPU_PRIO_COUNT];
    uint64_t now = 0;

    (void)state;
    for (size_t vms = 1; vms <= 3; vms++) {
        struct vgpu_sched *s =
            sched_new(VGPU_SCHED_WEIGHTED, VGPU_SCHED_DEFAULT_MAX_WAIT_MS,
                      VGPU_SCHED_DEFAULT_VM_QUEUE_CAP);
        run_weighted(s, vms, svc, 7000, &now, busy);
        check_shares(busy);
        vgpu_sched_destroy(s);
    }
}

static void
test_weighted_unequal_service(void **state)
{
    static const uint64_t svc_a[VGPU_PRIO_COUNT] = {7, 3, 1};
    static const uint64_t svc_b[VGPU_PRIO_COUNT] = {1, 5, 13};
    uint64_t busy[VGPU_PRIO_COUNT];
    uint64_t now = 0;
    struct vgpu_sched *s =
        sched_new(VGPU_SCHED_WEIGHTED, VGPU_SCHED_DEFAULT_MAX_WAIT_MS,
                  VGPU_SCHED_DEFAULT_VM_QUEUE_CAP);

    (void)state;
    run_weighted(s, 2, svc_a, 7000, &now, busy);
    check_shares(busy);
    run_weighted(s, 3, svc_b, 7000, &now, busy);
    check_shares(busy);
    vgpu_sched_destroy(s);
}

/* Idle time is not banked: a class that arrives after a long idle spell gets
 * its share from then on, not the whole executor until it catches up. */
static void
test_weighted_no_banking(void **state)
{
    struct vgpu_sched *s =
        sched_new(VGPU_SCHED_WEIGHTED, VGPU_SCHED_DEFAULT_MAX_WAIT_MS,
                  VGPU_SCHED_DEFAULT_VM_QUEUE_CAP);
    struct test_req low, high[2];
    uint64_t now = 0;
    size_t low_served = 0;
    const size_t steps = 100;

    (void)state;
    req_init(&low, 1, POOL_A, LOW, LOW);
    req_enqueue(s, &low, now);
    for (int i = 0; i < 1000; i++) {
        struct vgpu_sched_item *item = vgpu_sched_next(s, POOL_A, now);
        assert_ptr_equal(item, &low.item);
        now += NS_PER_MS;
        vgpu_sched_charge(s, item, NS_PER_MS);
        req_enqueue(s, &low, now);
    }
    for (int i = 0; i < 2; i++) {
        req_init(&high[i], 2 + (uint32_t)i, POOL_A, HIGH, HIGH);
        req_enqueue(s, &high[i], now);
    }
    for (size_t i = 0; i < steps; i++) {
        struct vgpu_sched_item *item = vgpu_sched_next(s, POOL_A, now);
        assert_non_null(item);
        if (item->priority == LOW) {
            low_served++;
        }
        now += NS_PER_MS;
        vgpu_sched_charge(s, item, NS_PER_MS);
        assert_int_equal(vgpu_sched_enqueue(s, item, now), 0);
    }
    /* Weights 4:1 with medium absent: low gets a fifth, 20 of 100. */
    assert_in_range(low_served, 18, 22);
    vgpu_sched_destroy(s);
}

/* ---- Cap, removal, cancel, arguments ------------------------------------- */

static void
test_vm_cap(void **state)
{
    const uint32_t cap = 4;
    struct vgpu_sched *s = sched_new(VGPU_SCHED_PRIORITY, 1, cap);
    struct test_req r[6];
    struct test_req other;

    (void)state;
    for (uint32_t i = 0; i < cap; i++) {
        /* The cap counts the VM's items in every pool together. */
        req_init(&r[i], 9, i % 2 ? POOL_B : POOL_A, MED, (int)i);
        req_enqueue(s, &r[i], 0);
    }
    assert_int_equal(vgpu_sched_vm_queued(s, 9), cap);
    req_init(&r[cap], 9, POOL_A, MED, (int)cap);
    assert_int_equal(vgpu_sched_enqueue(s, &r[cap].item, 0), -EAGAIN);
    assert_null(r[cap].item.flow);
    assert_int_equal(vgpu_sched_vm_queued(s, 9), cap);
    assert_int_equal(vgpu_sched_queued(s, POOL_A), cap / 2);

    /* Another VM is not affected. */
    req_init(&other, 10, POOL_A, MED, 100);
    req_enqueue(s, &other, 0);

    /* One served, one more fits, and then no more. */
    assert_int_equal(next_tag(s, POOL_A, 0), 0);
    req_enqueue(s, &r[cap], 0);
    req_init(&r[cap + 1], 9, POOL_A, MED, (int)cap + 1);
    assert_int_equal(vgpu_sched_enqueue(s, &r[cap + 1].item, 0), -EAGAIN);
    vgpu_sched_destroy(s);
}

static void
count_seen(struct vgpu_sched_item *item, void *arg)
{
    size_t *calls = arg;

    assert_null(item->flow);
    req_of(item)->seen++;
    (*calls)++;
}

static void
test_remove_vm(void **state)
{
    struct vgpu_sched *s = sched_priority();
    struct test_req mine[6];
    struct test_req theirs[3];
    size_t calls = 0;

    (void)state;
    for (int i = 0; i < 6; i++) {
        req_init(&mine[i], 5, i < 3 ? POOL_A : POOL_B, (uint8_t)(i % 3), i);
        req_enqueue(s, &mine[i], (uint64_t)i);
    }
    for (int i = 0; i < 3; i++) {
        req_init(&theirs[i], 6, POOL_A, (uint8_t)i, 10 + i);
        req_enqueue(s, &theirs[i], (uint64_t)i);
    }
    assert_int_equal(vgpu_sched_remove_vm(s, 5, count_seen, &calls), 6);
    assert_int_equal(calls, 6);
    for (int i = 0; i < 6; i++) {
        assert_int_equal(mine[i].seen, 1);
    }
    assert_int_equal(vgpu_sched_vm_queued(s, 5), 0);
    assert_int_equal(vgpu_sched_queued(s, POOL_A), 3);
    assert_int_equal(vgpu_sched_queued(s, POOL_B), 0);
    assert_int_equal(vgpu_sched_pending(s), 1u);

    assert_int_equal(vgpu_sched_remove_vm(s, 5, count_seen, &calls), 0);
    assert_int_equal(vgpu_sched_remove_vm(s, 77, NULL, NULL), 0);
    assert_int_equal(next_tag(s, POOL_A, 10), 12);
    assert_int_equal(next_tag(s, POOL_A, 10), 11);
    assert_int_equal(next_tag(s, POOL_A, 10), 10);
    assert_int_equal(next_tag(s, POOL_A, 10), NO_TAG);

    /* The removed items can be queued again. */
    req_enqueue(s, &mine[0], 11);
    assert_int_equal(vgpu_sched_remove_vm(s, 5, NULL, NULL), 1);
    vgpu_sched_destroy(s);
}

struct requeue_ctx {
    struct vgpu_sched *s;
    uint32_t new_vm;
};

/* A callback that calls back into the scheduler: it moves each item to
 * another VM. */
static void
requeue_elsewhere(struct vgpu_sched_item *item, void *arg)
{
    struct requeue_ctx *c = arg;

    item->vm_id = c->new_vm;
    assert_int_equal(vgpu_sched_enqueue(c->s, item, 0), 0);
}

static void
test_remove_vm_reentrant(void **state)
{
    struct vgpu_sched *s = sched_priority();
    struct requeue_ctx c = {.s = s, .new_vm = 2};
    struct test_req r[4];

    (void)state;
    for (int i = 0; i < 4; i++) {
        req_init(&r[i], 1, POOL_A, HIGH, i);
        req_enqueue(s, &r[i], 0);
    }
    assert_int_equal(vgpu_sched_remove_vm(s, 1, requeue_elsewhere, &c), 4);
    assert_int_equal(vgpu_sched_vm_queued(s, 1), 0);
    assert_int_equal(vgpu_sched_vm_queued(s, 2), 4);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(next_tag(s, POOL_A, 0), i);
    }
    vgpu_sched_destroy(s);
}

static void
test_cancel(void **state)
{
    struct vgpu_sched *s = sched_priority();
    struct test_req r[3];

    (void)state;
    for (int i = 0; i < 3; i++) {
        req_init(&r[i], 1, POOL_A, LOW, i);
        req_enqueue(s, &r[i], 0);
    }
    assert_int_equal(vgpu_sched_cancel(s, &r[1].item), 0);
    assert_int_equal(vgpu_sched_cancel(s, &r[1].item), -ENOENT);
    assert_int_equal(vgpu_sched_vm_queued(s, 1), 2);
    assert_int_equal(next_tag(s, POOL_A, 0), 0);
    assert_int_equal(next_tag(s, POOL_A, 0), 2);
    assert_int_equal(next_tag(s, POOL_A, 0), NO_TAG);
    vgpu_sched_destroy(s);
}

static void
test_bad_args(void **state)
{
    static const uint8_t bad_pools[] = {0, VGPU_POOL_FIRST - 1,
                                        VGPU_POOL_LAST + 1, 'a'};
    struct vgpu_sched *s = sched_priority();
    struct test_req r;

    (void)state;
    for (size_t i = 0; i < sizeof(bad_pools); i++) {
        req_init(&r, 1, bad_pools[i], MED, 0);
        assert_int_equal(vgpu_sched_enqueue(s, &r.item, 0), -EINVAL);
        assert_null(vgpu_sched_next(s, bad_pools[i], 0));
        assert_int_equal(vgpu_sched_queued(s, bad_pools[i]), 0);
    }
    req_init(&r, 1, POOL_A, VGPU_PRIO_COUNT, 0);
    assert_int_equal(vgpu_sched_enqueue(s, &r.item, 0), -EINVAL);
    assert_int_equal(vgpu_sched_vm_queued(s, 1), 0);
    assert_int_equal(vgpu_sched_pending(s), 0);

    /* The same item twice. */
    req_init(&r, 1, POOL_A, MED, 0);
    req_enqueue(s, &r, 0);
    assert_int_equal(vgpu_sched_enqueue(s, &r.item, 0), -EALREADY);
    assert_int_equal(vgpu_sched_vm_queued(s, 1), 1);
    vgpu_sched_destroy(s);
}

/* Many VMs: the table grows, round robin keeps their arrival order, and
 * destroy frees the records of items still queued. */
#define MANY_VMS 5000

static void
test_many_vms(void **state)
{
    struct vgpu_sched *s = sched_priority();
    struct test_req *r = calloc(2 * MANY_VMS, sizeof(*r));

    (void)state;
    assert_non_null(r);
    for (int round = 0; round < 2; round++) {
        for (int vm = 0; vm < MANY_VMS; vm++) {
            struct test_req *q = &r[round * MANY_VMS + vm];
            req_init(q, (uint32_t)vm + 1, POOL_A, MED, round * MANY_VMS + vm);
            req_enqueue(s, q, 0);
        }
    }
    assert_int_equal(vgpu_sched_queued(s, POOL_A), 2 * MANY_VMS);
    for (int i = 0; i < MANY_VMS + MANY_VMS / 2; i++) {
        assert_int_equal(next_tag(s, POOL_A, 0), i);
    }
    assert_int_equal(vgpu_sched_vm_queued(s, MANY_VMS), 1);
    assert_int_equal(vgpu_sched_vm_queued(s, 1), 0);
    vgpu_sched_destroy(s);
    free(r);
}

int
main(void)
{
    static const struct CMUnitTest weighted[] = {
        VGPU_TEST("/sched/weighted/equal-service", test_weighted_equal_service),
        VGPU_TEST("/sched/weighted/unequal-service",
                  test_weighted_unequal_service),
        VGPU_TEST("/sched/weighted/no-banking", test_weighted_no_banking),
    };
    static const struct CMUnitTest tests[] = {
        VGPU_TEST("/sched/config", test_config),
        VGPU_TEST("/sched/pools/empty", test_pools_empty),
        VGPU_TEST("/sched/remove-vm/reentrant", test_remove_vm_reentrant),
        VGPU_TEST("/sched/bad-args", test_bad_args),
    };

    /* Without charges (these tests charge nothing, or only under the
     * weighted policy) equal and fixed take turns as the round robin does;
     * priorities, aging and class weights hold in every mode (under
     * fixed, each VM without a registry share is held to an equal split,
     * which the class weights cannot pass: fixed runs the first group). */
    static const struct CMUnitTest every_mode[] = {
        VGPU_TEST("/sched/priority/order", test_priority_order),
        VGPU_TEST("/sched/priority/round-robin", test_priority_round_robin),
        VGPU_TEST("/sched/priority/round-robin-join",
                  test_priority_round_robin_join),
        VGPU_TEST("/sched/priority/fifo-within-vm", test_priority_fifo),
        VGPU_TEST("/sched/pools/independent", test_pools_independent),
        VGPU_TEST("/sched/aging/overdue-first", test_aging_overdue_first),
        VGPU_TEST("/sched/aging/oldest-overdue-first", test_aging_oldest_first),
        VGPU_TEST("/sched/aging/zero-wait", test_aging_zero_wait),
        VGPU_TEST("/sched/aging/bound", test_aging_bound),
        VGPU_TEST("/sched/aging/bound-two-classes", test_aging_bound_two),
        VGPU_TEST("/sched/cap", test_vm_cap),
        VGPU_TEST("/sched/remove-vm/all", test_remove_vm),
        VGPU_TEST("/sched/cancel", test_cancel),
        VGPU_TEST("/sched/many-vms", test_many_vms),
    };
    int failed = cmocka_run_group_tests_name("sched", tests, NULL, NULL);

    failed += cmocka_run_group_tests_name("sched_w", weighted, NULL, NULL);
    failed += cmocka_run_group_tests_name("sched_best_effort", every_mode, NULL,
                                          NULL);

    share_mode = VGPU_SHARE_EQUAL;
    failed +=
        cmocka_run_group_tests_name("sched_equal", every_mode, NULL, NULL);
    failed +=
        cmocka_run_group_tests_name("sched_equal_w", weighted, NULL, NULL);
    share_mode = VGPU_SHARE_FIXED;
    failed +=
        cmocka_run_group_tests_name("sched_fixed", every_mode, NULL, NULL);
    return failed;
}
