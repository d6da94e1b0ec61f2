/*
 * Per-VM shares of executor time (vm_share, registry share and cap; SPEC.md
 * section 9), in a deterministic simulation: one executor, a fake clock,
 * VMs that keep requests queued (or send one at a time after a think
 * time), each request's service time charged when it ends. Every 1 s
 * window of a 5 s run is checked against the target, within 2 points.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "vgpu_test.h"

#include "vgpu/scheduler.h"

#define NS_PER_US 1000ull
#define NS_PER_MS 1000000ull
#define NS_PER_S  1000000000ull
#define POOL      VGPU_POOL_FIRST
#define PRIO      VGPU_PRIO_MEDIUM
#define WINDOWS   5u
#define MAX_VMS   16u
#define DEPTH     16u /* requests each backlogged VM keeps queued */
#define TOLERANCE 2.0 /* percentage points, SPEC.md section 9 */
#define FLOOR_NS  (50u * NS_PER_US)
#define FIRST_VM  100u

struct sim_req {
    struct vgpu_sched_item item;
    struct sim_vm *vm;
    uint64_t arrive_ns; /* queued from then (think time), 0: queued */
    bool queued;
};

struct sim_vm {
    uint32_t id;
    uint64_t cost_ns;  /* service time of each request */
    uint64_t think_ns; /* 0: backlogged (DEPTH queued); else one request,
                          sent again this long after its answer */
    uint64_t busy[WINDOWS];
    uint64_t max_wait_ns;
    uint64_t served;
    unsigned int depth;
    struct sim_req reqs[DEPTH];
};

struct sim {
    struct vgpu_sched *s;
    struct sim_vm vms[MAX_VMS];
    size_t n;
    uint64_t now;
    uint64_t idle_queued_ns; /* executor idle while work was queued */
    uint64_t idle_ns;
};

static void
sim_init(struct sim *sim, int mode, size_t n)
{
    struct vgpu_sched_config cfg;

    memset(sim, 0, sizeof(*sim));
    vgpu_sched_config_default(&cfg);
    cfg.vm_share[POOL - VGPU_POOL_FIRST] = (uint8_t)mode;
    cfg.vm_queue_cap = DEPTH;
    sim->s = vgpu_sched_create(&cfg);
    assert_non_null(sim->s);
    sim->n = n;
    for (size_t i = 0; i < n; i++) {
        sim->vms[i].id = FIRST_VM + (uint32_t)i;
        sim->vms[i].depth = DEPTH;
    }
}

static void
sim_enqueue(struct sim *sim, struct sim_req *r)
{
    vgpu_sched_item_init(&r->item, r->vm->id, POOL, PRIO);
    assert_int_equal(vgpu_sched_enqueue(sim->s, &r->item, sim->now), 0);
    r->queued = true;
    r->arrive_ns = 0;
}

/* Queue each request whose think time is over; return the next arrival
 * after now, or UINT64_MAX. */
static uint64_t
sim_arrivals(struct sim *sim)
{
    uint64_t next = UINT64_MAX;

    for (size_t i = 0; i < sim->n; i++) {
        struct sim_vm *vm = &sim->vms[i];
        for (unsigned int k = 0; k < vm->depth; k++) {
            struct sim_req *r = &vm->reqs[k];
            if (r->queued || r->arrive_ns == 0) {
                continue;
            }
            if (r->arrive_ns <= sim->now) {
                sim_enqueue(sim, r);
            } else if (r->arrive_ns < next) {
                next = r->arrive_ns;
            }
        }
    }
    return next;
}

/* Add [from, to) of executor time to @vm's 1 s windows. */
static void
sim_busy(struct sim_vm *vm, uint64_t from, uint64_t to)
{
    while (from < to) {
        uint64_t w = from / NS_PER_S;
        uint64_t end = (w + 1) * NS_PER_S;

        if (w >= WINDOWS) {
            return;
        }
        if (end > to) {
            end = to;
        }
        vm->busy[w] += end - from;
        from = end;
    }
}

/* Run until WINDOWS seconds have passed. */
static void
sim_run(struct sim *sim)
{
    for (size_t i = 0; i < sim->n; i++) {
        struct sim_vm *vm = &sim->vms[i];
        if (vm->think_ns != 0) {
            vm->depth = 1;
        }
        for (unsigned int k = 0; k < vm->depth; k++) {
            vm->reqs[k].vm = vm;
            sim_enqueue(sim, &vm->reqs[k]);
        }
    }
    while (sim->now < WINDOWS * NS_PER_S) {
        uint64_t arrival = sim_arrivals(sim);
        struct vgpu_sched_item *item = vgpu_sched_next(sim->s, POOL, sim->now);
        struct sim_req *r;
        uint64_t wake;
        uint64_t wait;

        if (item == NULL) {
            wake = vgpu_sched_wake_ns(sim->s, POOL);
            if (vgpu_sched_queued(sim->s, POOL) > 0) {
                assert_true(wake > sim->now);
            }
            if (wake == 0 || wake > arrival) {
                wake = arrival;
            }
            assert_true(wake != UINT64_MAX);
            if (vgpu_sched_queued(sim->s, POOL) > 0) {
                sim->idle_queued_ns += wake - sim->now;
            }
            sim->idle_ns += wake - sim->now;
            sim->now = wake;
            continue;
        }
        r = (struct sim_req *)item;
        r->queued = false;
        wait = sim->now - item->enqueue_ns;
        if (wait > r->vm->max_wait_ns) {
            r->vm->max_wait_ns = wait;
        }
        sim_busy(r->vm, sim->now, sim->now + r->vm->cost_ns);
        sim->now += r->vm->cost_ns;
        r->vm->served++;
        vgpu_sched_charge(sim->s, item, r->vm->cost_ns);
        if (r->vm->think_ns != 0) {
            r->arrive_ns = sim->now + r->vm->think_ns;
        } else {
            sim_enqueue(sim, r);
        }
    }
}

static double
sim_pct(const struct sim_vm *vm, unsigned int w)
{
    return (double)vm->busy[w] * 100.0 / (double)NS_PER_S;
}

/* Every window of @vm within TOLERANCE of @target percent. */
static void
sim_check(const struct sim_vm *vm, double target)
{
    for (unsigned int w = 0; w < WINDOWS; w++) {
        double got = sim_pct(vm, w);
        if (got < target - TOLERANCE || got > target + TOLERANCE) {
            fail_msg("vm %u window %u: %.2f%% of the executor, target "
                     "%.2f%% +- %.0f",
                     (unsigned)vm->id, w, got, target, TOLERANCE);
        }
    }
}

static void
sim_fini(struct sim *sim)
{
    vgpu_sched_destroy(sim->s);
}

/* Two backlogged VMs whose requests cost 150 us and 50 us (131,071 and 64
 * elements of ADD_F32 over a 50 us floor, about threefold). */
static void
sim_two(struct sim *sim, int mode)
{
    sim_init(sim, mode, 2);
    sim->vms[0].cost_ns = 3 * FLOOR_NS;
    sim->vms[1].cost_ns = FLOOR_NS;
}

static void
test_equal_two(void **state)
{
    struct sim sim;

    (void)state;
    sim_two(&sim, VGPU_SHARE_EQUAL);
    sim_run(&sim);
    sim_check(&sim.vms[0], 50.0);
    sim_check(&sim.vms[1], 50.0);
    assert_int_equal(sim.idle_ns, 0);
    sim_fini(&sim);
}

static void
test_fixed_two(void **state)
{
    struct sim sim;

    (void)state;
    sim_two(&sim, VGPU_SHARE_FIXED);
    assert_int_equal(vgpu_sched_vm_limits(sim.s, FIRST_VM, POOL, PRIO, 30, 0),
                     0);
    assert_int_equal(
        vgpu_sched_vm_limits(sim.s, FIRST_VM + 1, POOL, PRIO, 70, 0), 0);
    sim_run(&sim);
    sim_check(&sim.vms[0], 30.0);
    sim_check(&sim.vms[1], 70.0);
    sim_fini(&sim);
}

/* Today's round robin: one request each per turn, so time follows cost. */
static void
test_best_effort_two(void **state)
{
    struct sim sim;

    (void)state;
    sim_two(&sim, VGPU_SHARE_BEST_EFFORT);
    sim_run(&sim);
    sim_check(&sim.vms[0], 75.0);
    sim_check(&sim.vms[1], 25.0);
    sim_fini(&sim);
}

/* Work conservation: the small VM sends one request at a time (a round
 * trip of 200 us between); it waits at most one big request, the big VM
 * takes the rest, and the executor never idles while work is queued. */
static void
test_equal_conserving(void **state)
{
    struct sim sim;
    const uint64_t big = 2 * NS_PER_MS;

    (void)state;
    sim_init(&sim, VGPU_SHARE_EQUAL, 2);
    sim.vms[0].cost_ns = big;
    sim.vms[1].cost_ns = 10 * NS_PER_US;
    sim.vms[1].think_ns = 200 * NS_PER_US;
    sim_run(&sim);
    assert_int_equal(sim.idle_queued_ns, 0);
    assert_true(sim.vms[1].max_wait_ns <= big);
    assert_true(sim.vms[1].served > 0);
    for (unsigned int w = 0; w < WINDOWS; w++) {
        assert_true(sim_pct(&sim.vms[0], w) + sim_pct(&sim.vms[1], w) >
                    100.0 - TOLERANCE);
    }
    sim_fini(&sim);
}

/* fixed 30/70 with the 30% VM absent: 70%, and the executor idles. */
static void
test_fixed_alone(void **state)
{
    struct sim sim;

    (void)state;
    sim_init(&sim, VGPU_SHARE_FIXED, 1);
    sim.vms[0].cost_ns = 3 * FLOOR_NS;
    assert_int_equal(vgpu_sched_vm_limits(sim.s, FIRST_VM, POOL, PRIO, 70, 0),
                     0);
    assert_int_equal(
        vgpu_sched_vm_limits(sim.s, FIRST_VM + 1, POOL, PRIO, 30, 0), 0);
    sim_run(&sim);
    sim_check(&sim.vms[0], 70.0);
    assert_true(sim.idle_ns > 25 * WINDOWS * NS_PER_S / 100);
    sim_fini(&sim);
}

/* cap 25 in every mode: alone, at most 27%; a second VM takes the rest. */
static void
run_cap(int mode)
{
    struct sim sim;

    sim_init(&sim, mode, 1);
    sim.vms[0].cost_ns = 3 * FLOOR_NS;
    assert_int_equal(vgpu_sched_vm_limits(sim.s, FIRST_VM, POOL, PRIO, 0, 25),
                     0);
    sim_run(&sim);
    for (unsigned int w = 0; w < WINDOWS; w++) {
        assert_true(sim_pct(&sim.vms[0], w) <= 25.0 + TOLERANCE);
        assert_true(sim_pct(&sim.vms[0], w) >= 25.0 - TOLERANCE);
    }
    sim_fini(&sim);

    sim_init(&sim, mode, 2);
    sim.vms[0].cost_ns = 3 * FLOOR_NS;
    sim.vms[1].cost_ns = FLOOR_NS;
    assert_int_equal(vgpu_sched_vm_limits(sim.s, FIRST_VM, POOL, PRIO, 0, 25),
                     0);
    if (mode == VGPU_SHARE_FIXED) {
        assert_int_equal(
            vgpu_sched_vm_limits(sim.s, FIRST_VM + 1, POOL, PRIO, 75, 0), 0);
    }
    sim_run(&sim);
    sim_check(&sim.vms[0], 25.0);
    sim_check(&sim.vms[1], 75.0);
    sim_fini(&sim);
}

static void
test_cap(void **state)
{
    (void)state;
    run_cap(VGPU_SHARE_BEST_EFFORT);
    run_cap(VGPU_SHARE_EQUAL);
    run_cap(VGPU_SHARE_FIXED);
}

/* @n backlogged VMs, costs from the floor up to 100 times it (about
 * geometric), under equal and under fixed shares of 1:2:3:... */
static void
run_many(size_t n)
{
    static const uint64_t mult[MAX_VMS] = {1,  100, 3,  50, 7,  20, 2,  70,
                                           10, 5,   40, 15, 30, 4,  90, 60};
    uint32_t weight_sum = 0;
    struct sim sim;

    sim_init(&sim, VGPU_SHARE_EQUAL, n);
    for (size_t i = 0; i < n; i++) {
        sim.vms[i].cost_ns = FLOOR_NS * mult[i];
    }
    sim_run(&sim);
    for (size_t i = 0; i < n; i++) {
        sim_check(&sim.vms[i], 100.0 / (double)n);
    }
    sim_fini(&sim);

    for (size_t i = 0; i < n; i++) {
        weight_sum += (uint32_t)(i % 4 + 1);
    }
    sim_init(&sim, VGPU_SHARE_FIXED, n);
    for (size_t i = 0; i < n; i++) {
        uint32_t share = (uint32_t)(i % 4 + 1) * 100u / weight_sum;
        sim.vms[i].cost_ns = FLOOR_NS * mult[i];
        assert_int_equal(
            vgpu_sched_vm_limits(sim.s, sim.vms[i].id, POOL, PRIO, share, 0),
            0);
    }
    sim_run(&sim);
    for (size_t i = 0; i < n; i++) {
        sim_check(&sim.vms[i],
                  (double)((uint32_t)(i % 4 + 1) * 100u / weight_sum));
    }
    sim_fini(&sim);
}

static void
test_four(void **state)
{
    (void)state;
    run_many(4);
}

static void
test_sixteen(void **state)
{
    (void)state;
    run_many(MAX_VMS);
}

/* A VM with no share under fixed gets an equal split of what is left. */
static void
test_fixed_unset(void **state)
{
    struct sim sim;

    (void)state;
    sim_init(&sim, VGPU_SHARE_FIXED, 3);
    for (size_t i = 0; i < 3; i++) {
        sim.vms[i].cost_ns = FLOOR_NS * (i + 1);
    }
    assert_int_equal(vgpu_sched_vm_limits(sim.s, FIRST_VM, POOL, PRIO, 40, 0),
                     0);
    sim_run(&sim);
    sim_check(&sim.vms[0], 40.0);
    sim_check(&sim.vms[1], 30.0);
    sim_check(&sim.vms[2], 30.0);
    sim_fini(&sim);
}

/* Names, limits' arguments, targets, and a drain that ignores caps. */
static void
test_api(void **state)
{
    struct vgpu_sched_config cfg;
    struct vgpu_sched_target t;
    struct sim_req r;
    struct sim sim;
    int mode = -1;

    (void)state;
    assert_int_equal(vgpu_sched_share_lookup("equal", &mode), 0);
    assert_int_equal(mode, VGPU_SHARE_EQUAL);
    assert_int_equal(vgpu_sched_share_lookup("fixed", &mode), 0);
    assert_int_equal(vgpu_sched_share_lookup("best_effort", &mode), 0);
    assert_int_equal(mode, VGPU_SHARE_BEST_EFFORT);
    assert_int_equal(vgpu_sched_share_lookup("Equal", &mode), -EINVAL);
    assert_int_equal(vgpu_sched_share_lookup(NULL, &mode), -EINVAL);
    assert_string_equal(vgpu_sched_share_name(VGPU_SHARE_FIXED), "fixed");
    assert_null(vgpu_sched_share_name(VGPU_SHARE_MODES));
    vgpu_sched_config_default(&cfg);
    cfg.vm_share[0] = VGPU_SHARE_MODES;
    assert_null(vgpu_sched_create(&cfg));

    sim_init(&sim, VGPU_SHARE_FIXED, 1);
    assert_int_equal(vgpu_sched_vm_limits(sim.s, 1, POOL, PRIO, 101, 0),
                     -EINVAL);
    assert_int_equal(vgpu_sched_vm_limits(sim.s, 1, POOL, PRIO, 0, 101),
                     -EINVAL);
    assert_int_equal(vgpu_sched_vm_limits(sim.s, 1, 'a', PRIO, 10, 0), -EINVAL);
    assert_int_equal(
        vgpu_sched_vm_limits(sim.s, 1, POOL, VGPU_PRIO_COUNT, 1, 0), -EINVAL);
    assert_int_equal(vgpu_sched_vm_target(sim.s, 2, POOL, PRIO, &t), -ENOENT);
    assert_int_equal(vgpu_sched_vm_limits(sim.s, 1, POOL, PRIO, 20, 10), 0);
    assert_int_equal(vgpu_sched_vm_target(sim.s, 1, POOL, PRIO, &t), 0);
    assert_int_equal(t.mode, VGPU_SHARE_FIXED);
    assert_int_equal(t.share_pct, 20);
    assert_int_equal(t.cap_pct, 10);
    assert_int_equal(t.target_bp, 1000);

    /* Capped at 10%: after 1 ms of service it waits 9 ms more; a drain
     * takes it all the same, and wake_ns says when. */
    r.vm = &sim.vms[0];
    vgpu_sched_item_init(&r.item, 1, POOL, PRIO);
    assert_int_equal(vgpu_sched_enqueue(sim.s, &r.item, 0), 0);
    assert_ptr_equal(vgpu_sched_next(sim.s, POOL, 0), &r.item);
    vgpu_sched_charge(sim.s, &r.item, NS_PER_MS);
    assert_int_equal(vgpu_sched_enqueue(sim.s, &r.item, NS_PER_MS), 0);
    assert_null(vgpu_sched_next(sim.s, POOL, NS_PER_MS));
    assert_int_equal(vgpu_sched_wake_ns(sim.s, POOL), 10 * NS_PER_MS);
    assert_null(vgpu_sched_next(sim.s, POOL, 10 * NS_PER_MS - 1));
    assert_ptr_equal(vgpu_sched_next_any(sim.s, POOL, NS_PER_MS), &r.item);
    assert_int_equal(vgpu_sched_wake_ns(sim.s, POOL), 0);
    assert_int_equal(vgpu_sched_remove_vm(sim.s, 1, NULL, NULL), 0);
    assert_int_equal(vgpu_sched_vm_target(sim.s, 1, POOL, PRIO, &t), -ENOENT);
    sim_fini(&sim);
}

int
main(void)
{
    static const struct CMUnitTest tests[] = {
        VGPU_TEST("/sched/share/api", test_api),
        VGPU_TEST("/sched/share/equal-two", test_equal_two),
        VGPU_TEST("/sched/share/fixed-two", test_fixed_two),
        VGPU_TEST("/sched/share/best-effort-two", test_best_effort_two),
        VGPU_TEST("/sched/share/equal-conserving", test_equal_conserving),
        VGPU_TEST("/sched/share/fixed-alone", test_fixed_alone),
        VGPU_TEST("/sched/share/fixed-unset", test_fixed_unset),
        VGPU_TEST("/sched/share/cap", test_cap),
        VGPU_TEST("/sched/share/four", test_four),
        VGPU_TEST("/sched/share/sixteen", test_sixteen),
    };

    return cmocka_run_group_tests_name("sched_share", tests, NULL, NULL);
}
