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
 *
 * --path queue measures the queue (SPEC.md section 11) instead: --inflight
 * requests kept in flight, each timed from its submission to the reap of
 * its completion, and --n up to the queue's 1 MiB limits.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "progress.h"
#include "qpipe.h"
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
    OPT_PATH,
    OPT_INFLIGHT,
    OPT_QUIET,
};

struct bench_args {
    uint32_t op;
    uint32_t n;
    int have_n;
    uint32_t count;
    uint32_t warmup;
    int json;
    int queue; /* --path queue */
    uint32_t inflight;
    int quiet; /* --quiet: no progress meter */
};

static struct bench_args args = {
    .op = VGPU_OP_NOP,
    .count = DEFAULT_COUNT,
    .warmup = DEFAULT_WARMUP,
    .inflight = 1,
};

static const struct option bench_longopts[] = {
    {"op", required_argument, NULL, OPT_OP},
    {"n", required_argument, NULL, OPT_N},
    {"count", required_argument, NULL, OPT_COUNT},
    {"warmup", required_argument, NULL, OPT_WARMUP},
    {"json", no_argument, NULL, OPT_JSON},
    {"path", required_argument, NULL, OPT_PATH},
    {"inflight", required_argument, NULL, OPT_INFLIGHT},
    {"quiet", no_argument, NULL, OPT_QUIET},
    {NULL, 0, NULL, 0},
};

static int handle_opt(void *ctx, int id, const char *arg);

static const struct vgpu_tool_desc desc = {
    .name = "vgpu-bench",
    .synopsis = "",
    .summary = "Measure request latency (p50/p90/p99/max) and requests/s "
               "through a vgpu-stub device.",
    .help =
        "Options:\n"
        "  --op NAME           nop, echo, add_i32, add_f32, saxpy_f32,\n"
        "                      dot_f32 or matmul_f32 (default nop)\n"
        "  --n N               elements per request (MATMUL_F32: m = k =\n"
        "                      p = N); default the most one request holds\n"
        "  --count N           requests measured (default 1000)\n"
        "  --warmup N          requests sent first and not measured\n"
        "                      (default 10)\n"
        "  --json              one JSON object instead of text\n"
        "  --path P            mailbox (default): one request at a time\n"
        "                      through the registers; queue: the device's\n"
        "                      queue, --n up to its 1 MiB limits\n"
        "  --inflight K        queue: requests in flight, 1..256 (default 1)\n"
        "  --quiet             no progress meter (one is drawn on stderr when\n"
        "                      it is a terminal and the run takes over 1 s)\n"
        "\n"
        "Examples:\n"
        "  vgpu-bench --sim --op add_i32 --n 127 --count 10000\n"
        "  vgpu-bench --op add_f32 --n 131071 --path queue --inflight 8\n",
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
        if (vgpu_tool_parse_u32(arg, 0, VGPU_Q_MAX_XFER, &a->n) != 0) {
            vgpu_tool_complain(&desc, "--n: '%s' is not a number in 0..%u", arg,
                               VGPU_Q_MAX_XFER);
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
    case OPT_PATH:
        if (strcmp(arg, "mailbox") != 0 && strcmp(arg, "queue") != 0) {
            vgpu_tool_complain(&desc, "--path: '%s' is not mailbox or queue",
                               arg);
            return -1;
        }
        a->queue = strcmp(arg, "queue") == 0;
        return 0;
    case OPT_INFLIGHT:
        if (vgpu_tool_parse_u32(arg, 1, VGPU_Q_ENTRIES_MAX, &a->inflight) !=
            0) {
            vgpu_tool_complain(&desc,
                               "--inflight: '%s' is not a number in 1..%u", arg,
                               VGPU_Q_ENTRIES_MAX);
            return -1;
        }
        return 0;
    case OPT_QUIET:
        a->quiet = 1;
        return 0;
    default:
        return -1;
    }
}

/* The request and response sizes for @op with @n (m = k = p for MATMUL_F32);
 * 0 when that does not fit one request or response of the path's size
 * (or is not valid). */
static uint64_t
request_len(uint32_t op, uint32_t n, uint64_t *resp_len)
{
    uint64_t limit = args.queue ? VGPU_Q_MAX_XFER : VGPU_BUF_SIZE;
    uint64_t req = vgpu_op_request_len(op, n, n, n);
    uint64_t resp = vgpu_op_response_len(op, n, n, n);

    if (op == VGPU_OP_NOP && n != 0) {
        return 0;
    }
    if (op != VGPU_OP_NOP && n == 0) {
        return 0;
    }
    if (req == 0 || req > limit || resp > limit) {
        return 0;
    }
    *resp_len = resp;
    return req;
}

/* What both paths fill in: the request, and each request's latency. */
struct run {
    uint8_t *req;
    uint64_t len;
    uint64_t want; /* the response's length */
    uint64_t *lat; /* the measured requests' latencies, ns */
    uint64_t *t0;  /* queue: each request's submit time */
    uint64_t start;
    struct vgpu_progress progress; /* requests done, on a terminal */
};

static int
bad_length(uint64_t got, uint64_t want)
{
    vgpu_tool_complain(&desc, "%s: a response of %llu bytes, expected %llu",
                       vgpu_op_name(args.op), (unsigned long long)got,
                       (unsigned long long)want);
    return VGPU_TOOL_EXIT_FAIL;
}

static int
bench_mailbox(struct vgpu_client *c, struct run *r, int timeout_ms)
{
    uint8_t resp[VGPU_BUF_SIZE];

    for (uint32_t i = 0; i < args.warmup + args.count; i++) {
        uint64_t t0;
        size_t got = 0;
        int rc;

        if (i == args.warmup) {
            r->start = vgpu_tool_now_ns();
        }
        t0 = vgpu_tool_now_ns();
        rc = vgpu_call(c, r->req, (size_t)r->len, resp, sizeof(resp), &got,
                       timeout_ms);
        if (i >= args.warmup) {
            r->lat[i - args.warmup] = vgpu_tool_now_ns() - t0;
        }
        if (rc != 0) {
            vgpu_tool_print_error(&desc, c, rc, vgpu_op_name(args.op));
            return VGPU_TOOL_EXIT_FAIL;
        }
        if (got != r->want) {
            return bad_length(got, r->want);
        }
        vgpu_progress_add(&r->progress, 1);
    }
    return VGPU_TOOL_EXIT_OK;
}

static size_t
q_build(void *ctx, uint64_t i, uint8_t *in)
{
    struct run *r = ctx;

    if (i == args.warmup) {
        r->start = vgpu_tool_now_ns();
    }
    memcpy(in, r->req, (size_t)r->len);
    r->t0[i] = vgpu_tool_now_ns();
    return (size_t)r->len;
}

static int
q_done(void *ctx, uint64_t i, const struct vgpu_qcomp *comp, const uint8_t *out)
{
    struct run *r = ctx;

    (void)out;
    if (i >= args.warmup) {
        r->lat[i - args.warmup] = vgpu_tool_now_ns() - r->t0[i];
    }
    vgpu_progress_add(&r->progress, 1);
    if (comp->status != 0) {
        fprintf(stderr, "ERROR %s (0x%02x): request %llu\n",
                vgpu_tool_error_name(comp->status), comp->status,
                (unsigned long long)i);
        return VGPU_E_DEVICE;
    }
    return comp->out_len == r->want ? 0 : -EPROTO;
}

static int
bench_queue(struct vgpu_client *c, struct run *r, int timeout_ms)
{
    struct vgpu_tool_qpipe p;
    uint64_t total = (uint64_t)args.warmup + args.count;
    char err[512];
    int rc;

    r->t0 = calloc(total, sizeof(*r->t0));
    if (r->t0 == NULL) {
        vgpu_tool_complain(&desc, "out of memory");
        return VGPU_TOOL_EXIT_FAIL;
    }
    rc = vgpu_tool_qpipe_open(&p, c, args.inflight, (size_t)r->len,
                              (size_t)r->want, err, sizeof(err));
    if (rc < 0) {
        vgpu_tool_complain(&desc, "--path queue: %s", err);
        return VGPU_TOOL_EXIT_FAIL;
    }
    rc = vgpu_tool_qpipe_run(&p, total, q_build, q_done, r, timeout_ms);
    vgpu_tool_qpipe_close(&p);
    if (rc == -EPROTO) {
        vgpu_tool_complain(&desc, "%s: a response of the wrong length",
                           vgpu_op_name(args.op));
    } else if (rc != 0 && rc != VGPU_E_DEVICE) {
        vgpu_tool_complain(&desc, "the queue: %s", vgpu_strerror(rc));
    }
    return rc == 0 ? VGPU_TOOL_EXIT_OK : VGPU_TOOL_EXIT_FAIL;
}

static int
bench(struct vgpu_client *c, int timeout_ms)
{
    struct run r = {0};
    struct vgpu_wl_rng rng;
    const char *path = args.queue ? "queue" : "mailbox";
    double total_ns;
    double rate;
    int status;

    r.len = request_len(args.op, args.n, &r.want);
    r.req = malloc((size_t)r.len);
    r.lat = calloc(args.count, sizeof(*r.lat));
    if (r.req == NULL || r.lat == NULL) {
        vgpu_tool_complain(&desc, "out of memory for %u latencies", args.count);
        free(r.req);
        free(r.lat);
        return VGPU_TOOL_EXIT_FAIL;
    }
    vgpu_wl_rng_init(&rng, BENCH_SEED, 0);
    vgpu_wl_build(&rng, args.op, args.n, args.n, args.n, r.req);
    vgpu_progress_start(&r.progress, stderr, args.quiet, desc.name,
                        (uint64_t)args.warmup + args.count, "requests");
    status = args.queue ? bench_queue(c, &r, timeout_ms)
                        : bench_mailbox(c, &r, timeout_ms);
    vgpu_progress_end(&r.progress);
    if (status != VGPU_TOOL_EXIT_OK) {
        goto out;
    }
    total_ns = (double)(vgpu_tool_now_ns() - r.start);
    rate = total_ns > 0 ? (double)args.count * NS_PER_SEC / total_ns : 0.0;
    vgpu_wl_sort_u64(r.lat, args.count);
    if (args.json) {
        printf("{\"op\":\"%s\",\"n\":%u,\"count\":%u,\"path\":\"%s\","
               "\"inflight\":%u,\"request_bytes\":%llu,"
               "\"response_bytes\":%llu,\"p50_us\":%.3f,\"p90_us\":%.3f,"
               "\"p99_us\":%.3f,\"max_us\":%.3f,\"requests_per_s\":%.1f,"
               "\"elapsed_s\":%.6f}\n",
               vgpu_op_name(args.op), args.n, args.count, path,
               args.queue ? args.inflight : 1u, (unsigned long long)r.len,
               (unsigned long long)r.want,
               vgpu_wl_pct_us(r.lat, args.count, P50),
               vgpu_wl_pct_us(r.lat, args.count, P90),
               vgpu_wl_pct_us(r.lat, args.count, P99),
               (double)r.lat[args.count - 1] / NS_PER_US, rate,
               total_ns / NS_PER_SEC);
    } else {
        printf("op=%s n=%u count=%u request=%llu bytes response=%llu bytes\n",
               vgpu_op_name(args.op), args.n, args.count,
               (unsigned long long)r.len, (unsigned long long)r.want);
        printf("path=%s inflight=%u\n", path, args.queue ? args.inflight : 1u);
        printf("latency_us p50=%.3f p90=%.3f p99=%.3f max=%.3f\n",
               vgpu_wl_pct_us(r.lat, args.count, P50),
               vgpu_wl_pct_us(r.lat, args.count, P90),
               vgpu_wl_pct_us(r.lat, args.count, P99),
               (double)r.lat[args.count - 1] / NS_PER_US);
        printf("requests/s %.0f\n", rate);
    }

out:
    free(r.t0);
    free(r.lat);
    free(r.req);
    return status;
}

int
main(int argc, char **argv)
{
    struct vgpu_tool_opts o;
    struct vgpu_client *c;
    uint64_t resp;
    uint32_t max_n;
    int first;
    int status;

    first = vgpu_tool_parse(&desc, argc, argv, &o);
    if (first < argc) {
        vgpu_tool_usage_exit(&desc, "takes no operands");
    }
    max_n = args.queue ? vgpu_wl_max_n_within(args.op, VGPU_Q_MAX_XFER)
                       : vgpu_wl_max_n(args.op);
    if (!args.have_n) {
        args.n = max_n;
    }
    if (request_len(args.op, args.n, &resp) == 0) {
        char why[160];

        snprintf(why, sizeof(why),
                 "--n %u: the requests of %s must have n in %u..%u to fit "
                 "one %u-byte %s",
                 args.n, vgpu_op_name(args.op),
                 args.op == VGPU_OP_NOP ? 0u : 1u, max_n,
                 args.queue ? VGPU_Q_MAX_XFER : VGPU_BUF_SIZE,
                 args.queue ? "queue request" : "buffer");
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
