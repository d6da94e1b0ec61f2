/*
 * The metrics' figures (src/core/metrics.c) and their exposition text
 * (src/daemon/metrics_text.c), white-box: a mediator record set filled by
 * hand, with connections that hold and run requests, and histogram values
 * on both sides of a bound.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "vgpu_test.h"

#include "core_internal.h"
#include "metrics.h"
#include "metrics_internal.h"
#include "vgpu/mediator_metrics.h"
#include "vgpu/proto.h"

struct fixture {
    struct vgpu_mediator m;
    struct vgpu_mconn conns[2];
    struct vgpu_stats_vm *a; /* vm 7, pool A, high */
    struct vgpu_stats_vm *b; /* vm 9, pool B, low */
};

static uint64_t
fixed_now(void *opaque)
{
    (void)opaque;
    return 5000000000ull;
}

/* What vgpu_mediator_stats() reads besides the records: the clock and a
 * scheduler (no VM in it has a share target here). */
static const struct vgpu_mediator_ops fixture_ops = {.now_ns = fixed_now};

static int
setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));

    assert_non_null(f);
    f->m.ops = &fixture_ops;
    f->m.sched = vgpu_sched_create(NULL);
    assert_non_null(f->m.sched);
    f->m.stats = vgpu_stats_create();
    assert_non_null(f->m.stats);
    f->b = vgpu_stats_get(f->m.stats, 9);
    f->a = vgpu_stats_get(f->m.stats, 7);
    assert_non_null(f->a);
    assert_non_null(f->b);
    f->a->pool = 'A';
    f->a->priority = VGPU_PRIO_HIGH;
    f->a->connected = 1;
    f->b->pool = 'B';
    f->b->priority = VGPU_PRIO_LOW;
    /* vm 7: one connection with 5 requests held, 2 running; the second
     * connection is another VM's (vm 9 has none open). */
    f->conns[0].stats = f->a;
    f->conns[0].held_reqs = 5;
    f->conns[0].running = 2;
    f->conns[0].next = &f->conns[1];
    f->conns[1].stats = NULL; /* not greeted yet */
    f->conns[1].held_reqs = 1;
    f->m.conns = &f->conns[0];
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    struct fixture *f = *state;

    vgpu_stats_destroy(f->m.stats);
    vgpu_sched_destroy(f->m.sched);
    free(f);
    return 0;
}

#define MAX_VMS 4

struct seen {
    struct vgpu_vm_metrics vms[MAX_VMS];
    size_t n;
};

static void
collect(const struct vgpu_vm_metrics *vm, void *arg)
{
    struct seen *s = arg;

    assert_true(s->n < MAX_VMS);
    s->vms[s->n++] = *vm;
}

/* Queue state per VM, in vm_id order. */
static void
test_queue_state(void **state)
{
    struct fixture *f = *state;
    struct seen s = {0};

    assert_int_equal(vgpu_mediator_metrics(&f->m, collect, &s), 2);
    assert_int_equal(s.n, 2);
    assert_int_equal(s.vms[0].stats.vm_id, 7);
    assert_int_equal(s.vms[0].queued, 3);
    assert_int_equal(s.vms[0].running, 2);
    assert_int_equal(s.vms[1].stats.vm_id, 9);
    assert_int_equal(s.vms[1].queued, 0);
    assert_int_equal(s.vms[1].running, 0);
    /* A request being received is held, not queued. */
    f->conns[0].rx = (struct vgpu_med_request *)&s; /* only compared */
    s.n = 0;
    (void)vgpu_mediator_metrics(&f->m, collect, &s);
    assert_int_equal(s.vms[0].queued, 2);
    f->conns[0].rx = NULL;
    assert_int_equal(vgpu_mediator_metrics(&f->m, NULL, NULL), 2);
}

/* The counts below each bound are exact: 2^k - 1 ns is below bound 2^k,
 * 2^k ns is not. */
static void
test_hist_bounds(void **state)
{
    struct fixture *f = *state;
    struct seen s = {0};

    for (unsigned int i = 0; i < VGPU_METRICS_BOUNDS; i++) {
        vgpu_hist_record(&f->a->service, vgpu_metrics_bound_ns(i) - 1u);
        vgpu_hist_record(&f->a->service, vgpu_metrics_bound_ns(i));
    }
    vgpu_hist_record(&f->a->wait, 0);
    vgpu_hist_record(&f->a->wait, UINT64_MAX / 2u); /* past every bound */
    (void)vgpu_mediator_metrics(&f->m, collect, &s);
    for (unsigned int i = 0; i < VGPU_METRICS_BOUNDS; i++) {
        /* Both values of every bound under i, and 2^i - 1. */
        assert_int_equal(s.vms[0].service.below[i], 2u * i + 1u);
    }
    assert_int_equal(s.vms[0].service.count, 2u * VGPU_METRICS_BOUNDS);
    assert_int_equal(s.vms[0].wait.below[0], 1);
    assert_int_equal(s.vms[0].wait.below[VGPU_METRICS_BOUNDS - 1u], 1);
    assert_int_equal(s.vms[0].wait.count, 2);
    assert_int_equal(s.vms[1].service.count, 0);
}

/* The text: families, labels, cumulative buckets, base units. */
static void
test_text(void **state)
{
    struct fixture *f = *state;
    struct vgpu_metrics_info info = {.version = "9.8.7", .start_time_s = 42};
    char *text;

    info.backend['A' - VGPU_POOL_FIRST] = "cpu";
    info.backend['B' - VGPU_POOL_FIRST] = "cuda:0";
    f->a->requests = 3;
    vgpu_stats_response(f->a, VGPU_ERR_NONE, 10);
    vgpu_stats_response(f->a, VGPU_ERR_BACKEND_ERROR, 0);
    vgpu_hist_record(&f->a->service, 1500000000u); /* 1.5 s */
    f->m.dropped_answers = 4;
    vgpu_metrics_count_run(f->a, VGPU_OP_ADD_I32, VGPU_ERR_NONE);
    vgpu_metrics_count_run(f->a, VGPU_OP_ADD_I32, VGPU_ERR_NONE);
    vgpu_metrics_count_run(f->a, VGPU_OP_MATMUL_F32, 99); /* past the codes */
    vgpu_metrics_count_run(f->a, 0x7777u, VGPU_ERR_NONE); /* no operation */
    text = vgpu_metrics_text(&f->m, &info);
    assert_non_null(text);
    assert_non_null(
        strstr(text, "vgpu_mediator_build_info{version=\"9.8.7\"} 1\n"));
    assert_non_null(strstr(text, "\nvgpu_mediator_start_time_seconds 42\n"));
    assert_non_null(strstr(text, "\nvgpu_mediator_vms_connected 1\n"));
    assert_non_null(strstr(text, "\nvgpu_mediator_dropped_answers_total 4\n"));
    assert_non_null(
        strstr(text, "\nvgpu_mediator_requests_total{vm_id=\"7\",pool=\"A\","
                     "priority=\"high\"} 3\n"));
    assert_non_null(
        strstr(text, "\nvgpu_mediator_responses_total{vm_id=\"7\",pool=\"A\","
                     "priority=\"high\",status=\"BACKEND_ERROR\"} 1\n"));
    assert_non_null(strstr(text,
                           "\nvgpu_mediator_queue_depth{vm_id=\"7\",pool=\"A\","
                           "priority=\"high\"} 3\n"));
    assert_non_null(strstr(
        text, "\nvgpu_mediator_request_service_seconds_bucket{vm_id=\"7\","
              "pool=\"A\",priority=\"high\",le=\"1.073741824\"} 0\n"));
    assert_non_null(strstr(
        text, "\nvgpu_mediator_request_service_seconds_bucket{vm_id=\"7\","
              "pool=\"A\",priority=\"high\",le=\"4.294967296\"} 1\n"));
    assert_non_null(
        strstr(text, "\nvgpu_mediator_request_service_seconds_sum{vm_id=\"7\","
                     "pool=\"A\",priority=\"high\"} 1.500000000\n"));
    assert_non_null(strstr(text, "\nvgpu_mediator_executor_busy_seconds_total{"
                                 "pool=\"A\",backend=\"cpu\"} 1.500000000\n"));
    assert_non_null(strstr(text, "\nvgpu_mediator_backend_errors_total{"
                                 "pool=\"A\",backend=\"cpu\"} 1\n"));
    assert_non_null(strstr(text, "\nvgpu_mediator_backend_errors_total{"
                                 "pool=\"B\",backend=\"cuda:0\"} 0\n"));
    assert_non_null(strstr(
        text, "\n# TYPE vgpu_mediator_request_wait_seconds histogram\n"));
    assert_non_null(strstr(
        text, "\nvgpu_mediator_requests_executed_total{vm_id=\"7\",pool=\"A\","
              "priority=\"high\",op=\"ADD_I32\",status=\"NONE\"} 2\n"));
    assert_non_null(strstr(
        text, "\nvgpu_mediator_requests_executed_total{vm_id=\"7\",pool=\"A\","
              "priority=\"high\",op=\"MATMUL_F32\",status=\"BACKEND_ERROR\"} "
              "1\n"));
    /* Only the pairs seen: no NOP line, none for vm 9. */
    assert_null(strstr(text, "op=\"NOP\""));
    assert_null(strstr(text, "requests_executed_total{vm_id=\"9\""));
    /* Each family's TYPE line comes once, before its samples. */
    {
        const char *type = strstr(text, "# TYPE vgpu_mediator_requests_total ");

        assert_non_null(type);
        assert_null(strstr(type + 1, "# TYPE vgpu_mediator_requests_total "));
        assert_true(type < strstr(text, "\nvgpu_mediator_requests_total{"));
    }
    free(text);
}

/* metrics_listen values. */
static void
test_check_listen(void **state)
{
    static const char *const good[] = {
        "unix:/run/vgpu/metrics.sock",
        "127.0.0.1:9400",
        "0.0.0.0:1",
        "[::1]:9400",
        "10.1.2.3:65535",
    };
    static const char *const bad[] = {
        "",           "unix:",       "unix:rel/x",      "127.0.0.1",
        "127.0.0.1:", "127.0.0.1:0", "127.0.0.1:65536", "localhost:9400",
        "[::1:9400",  "::1:9400",    ":9400",           "1.2.3.4:9x",
        "[]:9400",
    };
    char why[256];

    (void)state;
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        assert_int_equal(vgpu_metrics_check_listen(good[i], why, sizeof(why)),
                         0);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        why[0] = '\0';
        assert_int_equal(vgpu_metrics_check_listen(bad[i], why, sizeof(why)),
                         -EINVAL);
        assert_true(why[0] != '\0');
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        VGPU_TEST_FIXTURE("/metrics/core/queue_state", test_queue_state, setup,
                          teardown),
        VGPU_TEST_FIXTURE("/metrics/core/hist_bounds", test_hist_bounds, setup,
                          teardown),
        VGPU_TEST_FIXTURE("/metrics/text/families", test_text, setup, teardown),
        VGPU_TEST("/metrics/listen/check", test_check_listen),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
