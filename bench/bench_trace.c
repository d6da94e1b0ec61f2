/*
 * bench_trace: what recording a trace (the device's trace=PATH property,
 * docs/trace-format.md) costs on the mailbox NOP path, under qtest.
 *
 *   bench_trace --qemu PATH --mediator PATH [--count N] [--rounds R]
 *
 * One real vgpu-mediator; then, R times in turn, a QEMU (-accel qtest)
 * with the device without a trace and one with trace=FILE. In each, N NOP
 * requests: DOORBELL, STATUS polled until DONE, IRQ_STATUS cleared, as the
 * guest library does. qtest's own round trips (a pipe to QEMU per access)
 * are part of both sides: this is the path as a guest drives it, slowed
 * the same way on both. Prints each run's p50 and mean per NOP, then the
 * median over the rounds of traced/plain, the figure the issue bounds
 * (at most 1.10).
 */
#include <stdlib.h>

#include "qtest.h"

#define BT_COUNT_DEFAULT  2000u
#define BT_ROUNDS_DEFAULT 5u
#define BT_WARMUP         200u
#define BT_ROUNDS_MAX     64u
#define BT_NS_PER_US      1000.0

static int
cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a;
    uint64_t y = *(const uint64_t *)b;

    return x < y ? -1 : x > y;
}

static int
cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a;
    double y = *(const double *)b;

    return x < y ? -1 : x > y;
}

static uint64_t
now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* One NOP as the guest library does it. */
static void
nop(struct qemu *q)
{
    wr32(q, VGPU_REG_DOORBELL, VGPU_DOORBELL_RING);
    while (rd32(q, VGPU_REG_STATUS) == VGPU_STATUS_BUSY) {
    }
    wr32(q, VGPU_REG_IRQ_STATUS, VGPU_IRQ_STATUS_DONE);
}

/* N NOPs on a fresh QEMU; p50 and mean in *p50, *mean (ns). */
static void
run(const char *sock, uint32_t vm_id, const char *trace, unsigned n,
    uint64_t *lat, double *p50, double *mean)
{
    char dev[2 * PATH_MAX + 128];
    uint8_t req[VGPU_OP_HDR_SIZE];
    struct qemu q;
    uint64_t sum = 0;

    snprintf(dev, sizeof(dev),
             "vgpu-stub,pool_id=B,priority=high,vm_id=%u,socket=%s%s%s",
             (unsigned)vm_id, sock, trace != NULL ? ",trace=" : "",
             trace != NULL ? trace : "");
    qemu_start(&q, trace != NULL ? "traced" : "plain", dev, true);
    qemu_setup(&q);
    put_request(&q, req, op_request(req, VGPU_OP_NOP, 0, NULL, 0));
    for (unsigned i = 0; i < BT_WARMUP; i++) {
        nop(&q);
    }
    if (rd32(&q, VGPU_REG_STATUS) != VGPU_STATUS_DONE) {
        fatal(&q, "a NOP did not end in DONE (no mediator?)");
    }
    for (unsigned i = 0; i < n; i++) {
        uint64_t t0 = now_ns();

        nop(&q);
        lat[i] = now_ns() - t0;
        sum += lat[i];
    }
    qemu_stop(&q);
    qsort(lat, n, sizeof(*lat), cmp_u64);
    *p50 = (double)lat[n / 2];
    *mean = (double)sum / n;
}

int
main(int argc, char **argv)
{
    unsigned n = BT_COUNT_DEFAULT;
    unsigned rounds = BT_ROUNDS_DEFAULT;
    double r_p50[BT_ROUNDS_MAX];
    double r_mean[BT_ROUNDS_MAX];
    char sock[PATH_MAX];
    char log[PATH_MAX];
    char trace[PATH_MAX];
    uint64_t *lat;
    uint32_t vm_id = 1;

    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--qemu") == 0) {
            g_qemu = argv[i + 1];
        } else if (strcmp(argv[i], "--mediator") == 0) {
            g_mediator = argv[i + 1];
        } else if (strcmp(argv[i], "--count") == 0) {
            n = (unsigned)strtoul(argv[i + 1], NULL, 10);
        } else if (strcmp(argv[i], "--rounds") == 0) {
            rounds = (unsigned)strtoul(argv[i + 1], NULL, 10);
        } else {
            break;
        }
    }
    if (g_qemu == NULL || g_mediator == NULL || n == 0 || rounds == 0 ||
        rounds > BT_ROUNDS_MAX || (argc - 1) % 2 != 0) {
        fprintf(stderr,
                "usage: bench_trace --qemu PATH --mediator PATH [--count N] "
                "[--rounds 1..%u]\n",
                BT_ROUNDS_MAX);
        return 2;
    }
    lat = calloc(n, sizeof(*lat));
    snprintf(g_dir, sizeof(g_dir), "/tmp/bench_trace.XXXXXX");
    if (lat == NULL || mkdtemp(g_dir) == NULL) {
        perror("bench_trace");
        return 1;
    }
    atexit(cleanup);
    path_in_dir(sock, sizeof(sock), "m.sock");
    path_in_dir(log, sizeof(log), "m.log");
    path_in_dir(trace, sizeof(trace), "nop.trc");
    daemon_start(sock, log);
    printf("%u NOPs per run (after %u to warm up), %u rounds\n", n, BT_WARMUP,
           rounds);
    for (unsigned r = 0; r < rounds; r++) {
        double p50[2];
        double mean[2];

        run(sock, vm_id++, NULL, n, lat, &p50[0], &mean[0]);
        run(sock, vm_id++, trace, n, lat, &p50[1], &mean[1]);
        r_p50[r] = p50[1] / p50[0];
        r_mean[r] = mean[1] / mean[0];
        printf("round %u: plain p50 %.1f us mean %.1f us | traced p50 %.1f "
               "us mean %.1f us | ratio p50 %.3f mean %.3f\n",
               r + 1, p50[0] / BT_NS_PER_US, mean[0] / BT_NS_PER_US,
               p50[1] / BT_NS_PER_US, mean[1] / BT_NS_PER_US, r_p50[r],
               r_mean[r]);
    }
    qsort(r_p50, rounds, sizeof(double), cmp_double);
    qsort(r_mean, rounds, sizeof(double), cmp_double);
    printf("traced/plain, median of %u rounds: p50 %.3f, mean %.3f (bound "
           "1.10)\n",
           rounds, r_p50[rounds / 2], r_mean[rounds / 2]);
    free(lat);
    return 0;
}
