/*
 * The simulator's cost, each figure beside its baseline from the same run:
 *
 * - deterministic mode, one VM, one core: NOP and ADD_I32 (n = 127)
 *   requests per second through the whole chain (libvgpu-guest, the sim
 *   bus, the device model, REQUEST encode, the mediator core's decoder,
 *   validation, scheduler and CPU backend, RESPONSE encode, the device's
 *   decoder, completion, vgpu_wait). Baseline: the device model's doorbell
 *   with an empty synchronous transport (bench_devmodel's), which is the
 *   least any adapter costs.
 * - socket mode (--socket PATH, a running vgpu-mediator): guest-side NOP
 *   latency, vgpu_submit() to vgpu_wait() returning, p50 and p99. Baseline:
 *   a bare ping-pong over a Unix stream socket with a forked peer that
 *   answers each 40-byte message (a NOP REQUEST frame) with 32 bytes (its
 *   RESPONSE frame), both blocking. The two alternate in blocks of 500
 *   round trips, so that both see the same moments of a busy machine.
 *
 * bench/sim.sh builds it in Release, starts the daemon, runs it, and counts
 * instructions per request with callgrind (--mode subject|baseline with N
 * and 2N iterations).
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench_common.h"
#include "vgpu/devmodel.h"
#include "vgpu/guest.h"
#include "vgpu/proto.h"
#include "vgpu/sim.h"

#define DEF_ITERS      1000000u
#define DEF_LAT_ITERS  20000u
#define WARMUP         2000u
#define WAIT_MS        5000
#define NOP_FRAME      (VGPU_HDR_SIZE + VGPU_OP_HDR_SIZE)
#define NOP_RESP_FRAME VGPU_HDR_SIZE
#define LAT_BLOCK      500u

struct args {
    uint64_t iters;
    uint64_t lat_iters;
    enum bench_mode mode;
    uint32_t op; /* subject of --mode subject */
    const char *socket;
};

static void
usage(FILE *f, const char *argv0)
{
    fprintf(f,
            "usage: %s [--iters N] [--mode both|subject|baseline]\n"
            "          [--op nop|add_i32] [--socket PATH [--lat-iters N]]\n"
            "Simulator requests/s (deterministic) vs the bare doorbell; with\n"
            "--socket, guest-side NOP latency vs a bare Unix-socket "
            "ping-pong.\n",
            argv0);
}

static void
parse(int argc, char **argv, struct args *a)
{
    a->iters = DEF_ITERS;
    a->lat_iters = DEF_LAT_ITERS;
    a->mode = BENCH_BOTH;
    a->op = VGPU_OP_NOP;
    a->socket = NULL;
    for (int i = 1; i < argc; i++) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;

        if (!strcmp(argv[i], "--iters") && v) {
            a->iters = bench_num("--iters", v);
        } else if (!strcmp(argv[i], "--lat-iters") && v) {
            a->lat_iters = bench_num("--lat-iters", v);
        } else if (!strcmp(argv[i], "--socket") && v) {
            a->socket = v;
        } else if (!strcmp(argv[i], "--op") && v) {
            if (vgpu_op_lookup(v, &a->op) < 0 ||
                (a->op != VGPU_OP_NOP && a->op != VGPU_OP_ADD_I32)) {
                fprintf(stderr, "--op: nop or add_i32\n");
                exit(2);
            }
        } else if (!strcmp(argv[i], "--mode") && v) {
            if (!strcmp(v, "both")) {
                a->mode = BENCH_BOTH;
            } else if (!strcmp(v, "subject")) {
                a->mode = BENCH_SUBJECT;
            } else if (!strcmp(v, "baseline")) {
                a->mode = BENCH_BASELINE;
            } else {
                fprintf(stderr, "--mode: both, subject or baseline\n");
                exit(2);
            }
        } else {
            int help = !strcmp(argv[i], "--help");

            usage(help ? stdout : stderr, argv[0]);
            exit(help ? 0 : 2);
        }
        i++;
    }
}

/* ---- Deterministic mode ---------------------------------------------------
 */

/* A request of @op: NOP, or ADD_I32 with n = VGPU_ADD_MAX_N. */
static size_t
make_request(uint32_t op, uint8_t *buf)
{
    uint32_t n = op == VGPU_OP_NOP ? 0 : VGPU_ADD_MAX_N;
    size_t len = (size_t)vgpu_op_request_len(op, n, 0, 0);

    vgpu_put_le32(buf, op);
    vgpu_put_le32(buf + 4, n);
    for (size_t i = VGPU_OP_HDR_SIZE; i < len; i += 4) {
        vgpu_put_le32(buf + i, (uint32_t)i * 2654435761u);
    }
    return len;
}

static struct vgpu_sim *
det_sim(void)
{
    static const struct vgpu_sim_vm vm = {
        .vm_id = 1, .pool = 'A', .priority = VGPU_PRIO_HIGH};
    struct vgpu_sim_config cfg = {
        .mode = VGPU_SIM_DETERMINISTIC, .n_vms = 1, .vms = &vm};
    char err[256];
    struct vgpu_sim *sim = vgpu_sim_create(&cfg, err, sizeof(err));

    if (sim == NULL) {
        fprintf(stderr, "vgpu_sim_create: %s\n", err);
        exit(1);
    }
    return sim;
}

/* @iters requests of @op through the whole chain. */
static uint64_t
run_sim(struct vgpu_sim *sim, uint32_t op, uint64_t iters)
{
    struct vgpu_client *c = vgpu_sim_client(sim, 0);
    uint8_t req[VGPU_BUF_SIZE];
    uint8_t resp[VGPU_BUF_SIZE];
    size_t len = make_request(op, req);
    uint64_t acc = 0;

    for (uint64_t i = 0; i < iters; i++) {
        size_t got = 0;

        if (vgpu_submit(c, req, len, NULL) != 0 ||
            vgpu_wait(c, 0, resp, sizeof(resp), &got) != 0) {
            fprintf(stderr, "request %llu failed\n", (unsigned long long)i);
            exit(1);
        }
        acc += got;
    }
    return acc;
}

/* The baseline: bench_devmodel's doorbell with an empty transport. */
static struct vgpu_dev bare_dev;

static int
bare_submit(void *opaque, const struct vgpu_request *req)
{
    (void)opaque;
    vgpu_dev_complete(&bare_dev, req->generation, req->request_id,
                      VGPU_ERR_NONE, NULL, 0);
    return 0;
}

static void
bare_irq(void *opaque, int level)
{
    (void)opaque;
    (void)level;
}

static uint64_t
bare_clock(void *opaque)
{
    (void)opaque;
    return 0;
}

static const struct vgpu_dev_ops bare_ops = {
    .submit = bare_submit, .set_irq = bare_irq, .now_ns = bare_clock};

static uint64_t
run_bare(uint64_t iters)
{
    static const struct vgpu_dev_config cfg = {
        .pool_id = 'A', .priority = VGPU_PRIO_HIGH, .vm_id = 1};

    if (vgpu_dev_init(&bare_dev, &cfg, &bare_ops, NULL) != 0) {
        exit(1);
    }
    vgpu_dev_mmio_write(&bare_dev, VGPU_REG_REQUEST_LEN, VGPU_OP_HDR_SIZE,
                        VGPU_REG_SIZE);
    for (uint64_t i = 0; i < iters; i++) {
        vgpu_dev_mmio_write(&bare_dev, VGPU_REG_REQUEST_ID, (uint32_t)i,
                            VGPU_REG_SIZE);
        vgpu_dev_mmio_write(&bare_dev, VGPU_REG_DOORBELL, VGPU_DOORBELL_RING,
                            VGPU_REG_SIZE);
    }
    return bare_dev.stats.completions;
}

static void
deterministic(const struct args *a)
{
    struct vgpu_sim *sim = det_sim();
    uint64_t t0, t_nop = 0, t_add = 0, t_bare = 0;
    uint64_t n_add = a->iters / 4 + 1;

    if (a->mode == BENCH_SUBJECT) {
        bench_sink += run_sim(sim, a->op, a->iters);
        vgpu_sim_destroy(sim);
        return;
    }
    if (a->mode == BENCH_BASELINE) {
        bench_sink += run_bare(a->iters);
        vgpu_sim_destroy(sim);
        return;
    }
    bench_sink += run_sim(sim, VGPU_OP_NOP, WARMUP);
    t0 = bench_now_ns();
    bench_sink += run_sim(sim, VGPU_OP_NOP, a->iters);
    t_nop = bench_now_ns() - t0;
    t0 = bench_now_ns();
    bench_sink += run_sim(sim, VGPU_OP_ADD_I32, n_add);
    t_add = bench_now_ns() - t0;
    t0 = bench_now_ns();
    bench_sink += run_bare(a->iters);
    t_bare = bench_now_ns() - t0;
    bench_report("sim deterministic NOP", a->iters, t_nop);
    bench_report("sim deterministic ADD_I32 n=127", n_add, t_add);
    bench_report("devmodel doorbell, empty transport", a->iters, t_bare);
    printf("ratio sim NOP/baseline time: %.1f\n",
           t_bare ? (double)t_nop / (double)t_bare : 0.0);
    vgpu_sim_destroy(sim);
}

/* ---- Socket mode latency --------------------------------------------------
 */

static int
cmp_u64(const void *x, const void *y)
{
    uint64_t a = *(const uint64_t *)x;
    uint64_t b = *(const uint64_t *)y;

    return a < b ? -1 : a > b;
}

static void
report_lat(const char *name, uint64_t *ns, uint64_t n, double *p50, double *p99)
{
    qsort(ns, n, sizeof(*ns), cmp_u64);
    *p50 = (double)ns[(n * 50 + 99) / 100 - 1] / 1000.0;
    *p99 = (double)ns[(n * 99 + 99) / 100 - 1] / 1000.0;
    printf("%-40s p50 %7.2f us  p99 %7.2f us\n", name, *p50, *p99);
}

/* The bare ping-pong's peer: a forked process that answers NOP_FRAME bytes
 * with NOP_RESP_FRAME bytes until the socket closes. Return our end. */
static int
bare_peer_start(pid_t *pid)
{
    uint8_t buf[NOP_FRAME];
    int sv[2];

    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
        perror("socketpair");
        exit(1);
    }
    *pid = fork();
    if (*pid < 0) {
        perror("fork");
        exit(1);
    }
    if (*pid == 0) {
        close(sv[0]);
        while (bench_full_io(sv[1], buf, NOP_FRAME, 0) == 0 &&
               bench_full_io(sv[1], buf, NOP_RESP_FRAME, 1) == 0) {
            continue;
        }
        _exit(0);
    }
    close(sv[1]);
    return sv[0];
}

/* @n bare round trips, their times into @ns (NULL: warm-up). */
static void
bare_rounds(int fd, uint64_t n, uint64_t *ns)
{
    uint8_t out[NOP_FRAME] = {0};
    uint8_t in[NOP_RESP_FRAME];

    for (uint64_t i = 0; i < n; i++) {
        uint64_t t0 = bench_now_ns();

        if (bench_full_io(fd, out, NOP_FRAME, 1) < 0 ||
            bench_full_io(fd, in, NOP_RESP_FRAME, 0) < 0) {
            fprintf(stderr, "ping-pong failed\n");
            exit(1);
        }
        if (ns != NULL) {
            ns[i] = bench_now_ns() - t0;
        }
    }
}

/* @n guest-side NOPs through the daemon, their times into @ns. */
static void
sim_rounds(struct vgpu_client *c, uint64_t n, uint64_t *ns)
{
    uint8_t req[VGPU_BUF_SIZE];
    size_t len = make_request(VGPU_OP_NOP, req);

    for (uint64_t i = 0; i < n; i++) {
        uint64_t t0 = bench_now_ns();

        if (vgpu_submit(c, req, len, NULL) != 0 ||
            vgpu_wait(c, WAIT_MS, NULL, 0, NULL) != 0) {
            fprintf(stderr, "socket NOP %llu failed\n", (unsigned long long)i);
            exit(1);
        }
        if (ns != NULL) {
            ns[i] = bench_now_ns() - t0;
        }
    }
}

/* The two alternate in blocks of LAT_BLOCK round trips, so that both see
 * the same moments of a shared machine's noise. */
static void
socket_latency(const struct args *a)
{
    static const struct vgpu_sim_vm vm = {
        .vm_id = 4242, .pool = 'A', .priority = VGPU_PRIO_HIGH};
    struct vgpu_sim_config cfg = {.mode = VGPU_SIM_SOCKET,
                                  .n_vms = 1,
                                  .vms = &vm,
                                  .socket_path = a->socket,
                                  .timeout_ms = VGPU_DEFAULT_TIMEOUT_MS};
    uint64_t n = (a->lat_iters + LAT_BLOCK - 1u) / LAT_BLOCK * LAT_BLOCK;
    uint64_t *sim_ns = malloc(n * sizeof(*sim_ns));
    uint64_t *bare_ns = malloc(n * sizeof(*bare_ns));
    double s50, s99, b50, b99;
    char err[256];
    struct vgpu_sim *sim = vgpu_sim_create(&cfg, err, sizeof(err));
    struct vgpu_client *c;
    pid_t pid;
    int fd;

    if (sim == NULL || sim_ns == NULL || bare_ns == NULL) {
        fprintf(stderr, "vgpu_sim_create: %s\n", sim ? "out of memory" : err);
        exit(1);
    }
    c = vgpu_sim_client(sim, 0);
    fd = bare_peer_start(&pid);
    sim_rounds(c, WARMUP, NULL);
    bare_rounds(fd, WARMUP, NULL);
    for (uint64_t done = 0; done < n; done += LAT_BLOCK) {
        sim_rounds(c, LAT_BLOCK, sim_ns + done);
        bare_rounds(fd, LAT_BLOCK, bare_ns + done);
    }
    close(fd);
    waitpid(pid, NULL, 0);
    vgpu_sim_destroy(sim);
    report_lat("sim socket NOP (guest-side)", sim_ns, n, &s50, &s99);
    report_lat("bare Unix ping-pong 40/32 B (baseline)", bare_ns, n, &b50,
               &b99);
    printf("ratio sim/baseline: p50 %.2f  p99 %.2f\n", s50 / b50, s99 / b99);
    free(bare_ns);
    free(sim_ns);
}

int
main(int argc, char **argv)
{
    struct args a;

    parse(argc, argv, &a);
    if (a.socket != NULL) {
        socket_latency(&a);
        return 0;
    }
    deterministic(&a);
    return 0;
}
