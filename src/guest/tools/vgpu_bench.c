/*
 * vgpu-bench: request latency and throughput as the guest sees them. It
 * sends --count requests of one operation, each one vgpu_call() (submit,
 * then wait for STATUS to leave BUSY), times each on CLOCK_MONOTONIC and
 * prints the latency percentiles (nearest rank) and requests per second.
 *
 * Every request is the same well-formed request of --n elements, built
 * once with seeded random operands (libvgpu-workload); each response must have
 * the length its request implies, so a broken device or mediator cannot pass
 * for a fast one.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "vgpu/proto.h"
#include "workload.h"

#define DEFAULT_COUNT  1000u
#define DEFAULT_WARMUP 10u
#define MAX_COUNT      10000000u
#define NS_PER_US      1000.0
#define NS_PER_SEC     1000000000.0
#define BENCH_SEED     1u /* the operands: the same in every run */
#define P50            50u
#define P90            90u
#define P99            99u

enum {
    OPT_OP = VGPU_TOOL_OPT_FIRST,
    OPT_N,
    OPT_COUNT,
    OPT_WARMUP,
    OPT_JSON,
};

struct bench_args {
    uint32_t op;
    uint32_t n;
    int have_n;
    uint32_t count;
    uint32_t warmup;
    int json;
};

static struct bench_args args = {
    .op = VGPU_OP_NOP,
    .count = DEFAULT_COUNT,
    .warmup = DEFAULT_WARMUP,
};

static const struct option bench_longopts[] = {
    {"op", required_argument, NULL, OPT_OP},
    {"n", required_argument, NULL, OPT_N},
    {"count", required_argument, NULL, OPT_COUNT},
    {"warmup", required_argument, NULL, OPT_WARMUP},
    {"json", no_argument, NULL, OPT_JSON},
    {NULL, 0, NULL, 0},
};

static int handle_opt(void *ctx, int id, const char *arg);

static const struct vgpu_tool_desc desc = {
    .name = "vgpu-bench",
    .synopsis = "",
    .summary = "Measure request latency (p50/p90/p99/max) and requests/s "
               "through a vgpu-stub device.",
    .help = "Options:\n"
            "  --op NAME           nop, echo, add_i32, add_f32, saxpy_f32,\n"
            "                      dot_f32 or matmul_f32 (default nop)\n"
            "  --n N               elements per request (MATMUL_F32: m = k =\n"
            "                      p = N); default the most one request holds\n"
            "  --count N           requests measured (default 1000)\n"
            "  --warmup N          requests sent first and not measured\n"
            "                      (default 10)\n"
            "  --json              one JSON object instead of text\n"
            "\n"
            "Example:\n"
            "  vgpu-bench --sim --op add_i32 --n 127 --count 10000\n",
    .longopts = bench_longopts,
    .handle = handle_opt,
    .ctx = &args,
};

static int
handle_opt(void *ctx, int id, const char *arg)
{
    struct bench_args *a = ctx;

    switch (id) {
    case OPT_OP:
        if (vgpu_op_lookup(arg, &a->op) != 0) {
            vgpu_tool_complain(&desc,
                               "--op: '%s' is not one of nop, echo, add_i32, "
                               "add_f32, saxpy_f32, dot_f32, matmul_f32",
                               arg);
            return -1;
        }
        return 0;
    case OPT_N:
        if (vgpu_tool_parse_u32(arg, 0, VGPU_BUF_SIZE, &a->n) != 0) {
            vgpu_tool_complain(&desc, "--n: '%s' is not a number in 0..%u", arg,
                               VGPU_BUF_SIZE);
            return -1;
        }
        a->have_n = 1;
        return 0;
    case OPT_COUNT:
        if (vgpu_tool_parse_u32(arg, 1, MAX_COUNT, &a->count) != 0) {
            vgpu_tool_complain(&desc, "--count: '%s' is not a number in 1..%u",
                               arg, MAX_COUNT);
            return -1;
        }
        return 0;
    case OPT_WARMUP:
        if (vgpu_tool_parse_u32(arg, 0, MAX_COUNT, &a->warmup) != 0) {
            vgpu_tool_complain(&desc, "--warmup: '%s' is not a number in 0..%u",
                               arg, MAX_COUNT);
            return -1;
        }
        return 0;
    case OPT_JSON:
        a->json = 1;
        return 0;
    default:
        return -1;
    }
}

/* The request and response sizes for @op with @n (m = k = p for MATMUL_F32);
 * 0 when that does not fit one request or response (or is not valid). */
static uint64_t
request_len(uint32_t op, uint32_t n, uint64_t *resp_len)
{
    uint64_t req = vgpu_op_request_len(op, n, n, n);
    uint64_t resp = vgpu_op_response_len(op, n, n, n);

    if (op == VGPU_OP_NOP && n != 0) {
        return 0;
    }
    if (op != VGPU_OP_NOP && n == 0) {
        return 0;
    }
    if (req == 0 || req > VGPU_BUF_SIZE || resp > VGPU_BUF_SIZE) {
        return 0;
    }
    *resp_len = resp;
    return req;
}

static int
bench(struct vgpu_client *c, int timeout_ms)
{
    uint8_t req[VGPU_BUF_SIZE];
    uint8_t resp[VGPU_BUF_SIZE];
    uint64_t want = 0;
    uint64_t len = request_len(args.op, args.n, &want);
    uint64_t *lat = calloc(args.count, sizeof(*lat));
    uint64_t start = 0;
    struct vgpu_wl_rng rng;
    double total_ns;
    double rate;

    if (lat == NULL) {
        vgpu_tool_complain(&desc, "out of memory for %u latencies", args.count);
        return VGPU_TOOL_EXIT_FAIL;
    }
    vgpu_wl_rng_init(&rng, BENCH_SEED, 0);
    vgpu_wl_build(&rng, args.op, args.n, args.n, args.n, req);
    for (uint32_t i = 0; i < args.warmup + args.count; i++) {
        uint64_t t0;
        size_t got = 0;
        int rc;

        if (i == args.warmup) {
            start = vgpu_tool_now_ns();
        }
        t0 = vgpu_tool_now_ns();
        rc = vgpu_call(c, req, (size_t)len, resp, sizeof(resp), &got,
                       timeout_ms);
        if (i >= args.warmup) {
            lat[i - args.warmup] = vgpu_tool_now_ns() - t0;
        }
        if (rc != 0) {
            vgpu_tool_print_error(&desc, c, rc, vgpu_op_name(args.op));
            free(lat);
            return VGPU_TOOL_EXIT_FAIL;
        }
        if (got != want) {
            vgpu_tool_complain(
                &desc, "%s: a response of %zu bytes, expected %llu",
                vgpu_op_name(args.op), got, (unsigned long long)want);
            free(lat);
            return VGPU_TOOL_EXIT_FAIL;
        }
    }
    total_ns = (double)(vgpu_tool_now_ns() - start);
    rate = total_ns > 0 ? (double)args.count * NS_PER_SEC / total_ns : 0.0;
    vgpu_wl_sort_u64(lat, args.count);
    if (args.json) {
        printf("{\"op\":\"%s\",\"n\":%u,\"count\":%u,\"request_bytes\":%llu,"
               "\"response_bytes\":%llu,\"p50_us\":%.3f,\"p90_us\":%.3f,"
               "\"p99_us\":%.3f,\"max_us\":%.3f,\"requests_per_s\":%.1f,"
               "\"elapsed_s\":%.6f}\n",
               vgpu_op_name(args.op), args.n, args.count,
               (unsigned long long)len, (unsigned long long)want,
               vgpu_wl_pct_us(lat, args.count, P50),
               vgpu_wl_pct_us(lat, args.count, P90),
               vgpu_wl_pct_us(lat, args.count, P99),
               (double)lat[args.count - 1] / NS_PER_US, rate,
               total_ns / NS_PER_SEC);
    } else {
        printf("op=%s n=%u count=%u request=%llu bytes response=%llu bytes\n",
               vgpu_op_name(args.op), args.n, args.count,
               (unsigned long long)len, (unsigned long long)want);
        printf("latency_us p50=%.3f p90=%.3f p99=%.3f max=%.3f\n",
               vgpu_wl_pct_us(lat, args.count, P50),
               vgpu_wl_pct_us(lat, args.count, P90),
               vgpu_wl_pct_us(lat, args.count, P99),
               (double)lat[args.count - 1] / NS_PER_US);
        printf("requests/s %.0f\n", rate);
    }
    free(lat);
    return VGPU_TOOL_EXIT_OK;
}

int
main(int argc, char **argv)
{
    struct vgpu_tool_opts o;
    struct vgpu_client *c;
    uint64_t resp;
    int first;
    int status;

    first = vgpu_tool_parse(&desc, argc, argv, &o);
    if (first < argc) {
        vgpu_tool_usage_exit(&desc, "takes no operands");
    }
    if (!args.have_n) {
        args.n = vgpu_wl_max_n(args.op);
    }
    if (request_len(args.op, args.n, &resp) == 0) {
        char why[160];

        snprintf(why, sizeof(why),
                 "--n %u: a %s request must have n in %u..%u to fit one "
                 "%u-byte buffer",
                 args.n, vgpu_op_name(args.op),
                 args.op == VGPU_OP_NOP ? 0u : 1u, vgpu_wl_max_n(args.op),
                 VGPU_BUF_SIZE);
        vgpu_tool_usage_exit(&desc, why);
    }
    c = vgpu_tool_open(&desc, &o);
    if (c == NULL) {
        return VGPU_TOOL_EXIT_FAIL;
    }
    status = bench(c, o.timeout_ms);
    vgpu_close(c);
    return status;
}
