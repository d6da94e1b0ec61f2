/*
 * The queue (SPEC.md section 11) against the mailbox and a bare stream, each
 * figure beside its baseline from the same run:
 *
 * - deterministic mode, one VM, one thread: NOP requests/s through the
 *   queue, 32 entries submitted per SQ_TAIL write and reaped together,
 *   beside the mailbox's NOP (vgpu_submit + vgpu_wait) in the same run.
 * - socket mode (--socket PATH, a running vgpu-mediator), one VM: NOP
 *   requests/s with 32 in flight through the queue, against the mailbox's
 *   one at a time, in alternating blocks so both see the same machine.
 * - socket mode, ADD_F32 with n = 131071 (1 MiB in, 512 KiB out per
 *   request), 8 in flight: MiB/s of input processed, against a bare stream
 *   over a Unix socket to a forked peer that reads the same request frames
 *   and writes frames of the same size back, with no work, the same number
 *   in flight.
 *
 * --only queue|mailbox runs one subject alone (bench/queue.sh counts its
 * instructions with callgrind, N and 2N requests); --only big runs the
 * stream comparison alone, and --big-n N sets its ADD_F32 n (payload
 * 8 N + 8 bytes in, 4 N out; bench/plots.sh's figure).
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
#include "vgpu/guest.h"
#include "vgpu/proto.h"
#include "vgpu/sim.h"

#define DEPTH       32u
#define BIG_DEPTH   8u
#define BIG_N       131071u
#define BLOCK       2000u
#define WAIT_MS     10000
#define MIB         (1024.0 * 1024.0)
#define REAP_MAX    64u
#define BIG_IN_LEN  (VGPU_OP_HDR_SIZE + 8u * big_n)
#define BIG_OUT_LEN (4u * big_n)

/* ADD_F32's n in the stream comparison (--big-n; bench/plots.sh varies it
 * for the figure of throughput against payload size). */
static uint32_t big_n = BIG_N;

struct args {
    uint64_t iters;
    const char *socket;
    const char *only; /* NULL, "queue" or "mailbox" */
    uint64_t big;     /* 1 MiB requests in the stream comparison */
};

static void
usage(FILE *f, const char *argv0)
{
    fprintf(f,
            "usage: %s [--iters N] [--only queue|mailbox|big] [--socket PATH "
            "[--big COUNT] [--big-n N]]\n"
            "NOP requests/s through the queue vs the mailbox (deterministic,\n"
            "or against the daemon at PATH); with --socket also COUNT "
            "(default 400)\nADD_F32 requests of n = N (1-%u, default "
            "%u) in MiB/s vs a bare\nUnix-socket stream. --only big: that "
            "comparison alone.\n",
            argv0, BIG_N, BIG_N);
}

static void
parse(int argc, char **argv, struct args *a)
{
    a->iters = 1000000u;
    a->socket = NULL;
    a->only = NULL;
    a->big = 400u;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0) {
            usage(stdout, argv[0]);
            exit(0);
        } else if (strcmp(argv[i], "--iters") == 0 && i + 1 < argc) {
            a->iters = bench_num("--iters", argv[++i]);
        } else if (strcmp(argv[i], "--socket") == 0 && i + 1 < argc) {
            a->socket = argv[++i];
        } else if (strcmp(argv[i], "--big") == 0 && i + 1 < argc) {
            a->big = bench_num("--big", argv[++i]);
        } else if (strcmp(argv[i], "--big-n") == 0 && i + 1 < argc) {
            uint64_t n = bench_num("--big-n", argv[++i]);

            if (n < 1 || n > BIG_N) {
                usage(stderr, argv[0]);
                exit(2);
            }
            big_n = (uint32_t)n;
        } else if (strcmp(argv[i], "--only") == 0 && i + 1 < argc) {
            a->only = argv[++i];
            if (strcmp(a->only, "queue") != 0 &&
                strcmp(a->only, "mailbox") != 0 &&
                strcmp(a->only, "big") != 0) {
                usage(stderr, argv[0]);
                exit(2);
            }
        } else {
            usage(stderr, argv[0]);
            exit(2);
        }
    }
    if (a->only != NULL && strcmp(a->only, "big") == 0 && a->socket == NULL) {
        fprintf(stderr, "bench_queue: --only big needs --socket PATH\n");
        exit(2);
    }
}

static struct vgpu_sim *
one_vm(const char *socket)
{
    static const struct vgpu_sim_vm vm = {
        .vm_id = 1, .pool = 'A', .priority = VGPU_PRIO_MEDIUM};
    struct vgpu_sim_config cfg = {
        .mode = socket ? VGPU_SIM_SOCKET : VGPU_SIM_DETERMINISTIC,
        .n_vms = 1,
        .vms = &vm,
        .socket_path = socket,
    };
    char err[256] = "";
    struct vgpu_sim *sim = vgpu_sim_create(&cfg, err, sizeof(err));

    if (sim == NULL) {
        fprintf(stderr, "bench_queue: %s\n", err);
        exit(1);
    }
    return sim;
}

static struct vgpu_queue *
open_queue(struct vgpu_client *c, uint32_t depth)
{
    char err[256] = "";
    struct vgpu_queue *q = vgpu_queue_open(c, depth, err, sizeof(err));

    if (q == NULL) {
        fprintf(stderr, "bench_queue: %s\n", err);
        exit(1);
    }
    return q;
}

static void
dma(struct vgpu_client *c, size_t len, struct vgpu_dma *d)
{
    int rc = vgpu_dma_alloc(c, len, d);

    if (rc < 0) {
        fprintf(stderr, "bench_queue: dma_alloc %zu: %s\n", len,
                vgpu_strerror(rc));
        exit(1);
    }
}

/* @n NOPs through the mailbox, one at a time. */
static void
mailbox_nops(struct vgpu_client *c, uint64_t n)
{
    for (uint64_t i = 0; i < n; i++) {
        if (vgpu_nop(c) != 0) {
            fprintf(stderr, "bench_queue: mailbox NOP failed\n");
            exit(1);
        }
    }
}

/* @n requests through @q, @depth at a time, each of @len bytes at slot
 * (tag) i of @in and answered into slot i of @out (@out_len bytes). */
static void
queue_run(struct vgpu_queue *q, uint32_t depth, uint64_t n,
          const struct vgpu_dma *in, uint32_t len, const struct vgpu_dma *out,
          uint32_t out_len)
{
    struct vgpu_qcomp comps[REAP_MAX];
    uint32_t free_slots[VGPU_Q_ENTRIES_MAX];
    uint32_t nfree = depth;
    uint64_t sent = 0;
    uint64_t done = 0;

    for (uint32_t i = 0; i < depth; i++) {
        free_slots[i] = i;
    }
    while (done < n) {
        int got;

        if (sent < n && nfree > 0) {
            while (sent < n && nfree > 0) {
                uint32_t s = free_slots[--nfree];

                if (vgpu_queue_submit(q, in, (size_t)s * len, len, out,
                                      (size_t)s * out_len, out_len, s) != 0) {
                    fprintf(stderr, "bench_queue: submit failed\n");
                    exit(1);
                }
                sent++;
            }
            vgpu_queue_kick(q);
        }
        got = vgpu_queue_reap(q, comps, REAP_MAX);
        if (got == 0) {
            if (vgpu_queue_wait(q, WAIT_MS) != 1) {
                fprintf(stderr, "bench_queue: no completion\n");
                exit(1);
            }
            continue;
        }
        if (got < 0) {
            fprintf(stderr, "bench_queue: the queue stopped\n");
            exit(1);
        }
        for (int i = 0; i < got; i++) {
            if (comps[i].status != 0 || comps[i].tag >= depth) {
                fprintf(stderr, "bench_queue: entry %u ended in %s\n",
                        comps[i].tag, vgpu_strerror((int)comps[i].status));
                exit(1);
            }
            free_slots[nfree++] = comps[i].tag;
        }
        done += (uint64_t)got;
    }
}

/* NOP requests at every slot of @in. */
static void
fill_nops(struct vgpu_dma *in, uint32_t depth)
{
    for (uint32_t i = 0; i < depth; i++) {
        uint8_t *p = (uint8_t *)in->ptr + (size_t)i * VGPU_OP_HDR_SIZE;

        vgpu_put_le32(p, VGPU_OP_NOP);
        vgpu_put_le32(p + 4, 0);
    }
}

/* NOP requests/s: the queue against the mailbox, alternating blocks of
 * BLOCK requests so that both see the same moments of the machine. */
static void
nops(const struct args *a)
{
    struct vgpu_sim *sim = one_vm(a->socket);
    struct vgpu_client *c = vgpu_sim_client(sim, 0);
    struct vgpu_queue *q = open_queue(c, DEPTH);
    struct vgpu_dma in;
    struct vgpu_dma out;
    uint64_t tq = 0;
    uint64_t tm = 0;
    uint64_t nq = 0;
    uint64_t nm = 0;
    int do_q = a->only == NULL || strcmp(a->only, "queue") == 0;
    int do_m = a->only == NULL || strcmp(a->only, "mailbox") == 0;

    dma(c, DEPTH * VGPU_OP_HDR_SIZE, &in);
    dma(c, 4096, &out);
    fill_nops(&in, DEPTH);
    queue_run(q, DEPTH, 1000, &in, VGPU_OP_HDR_SIZE, &out, 0); /* warm-up */
    mailbox_nops(c, 1000);
    while ((do_q && nq < a->iters) || (do_m && nm < a->iters)) {
        uint64_t t0;

        if (do_q && nq < a->iters) {
            uint64_t b = a->iters - nq < BLOCK ? a->iters - nq : BLOCK;

            t0 = bench_now_ns();
            queue_run(q, DEPTH, b, &in, VGPU_OP_HDR_SIZE, &out, 0);
            tq += bench_now_ns() - t0;
            nq += b;
        }
        if (do_m && nm < a->iters) {
            uint64_t b = a->iters - nm < BLOCK ? a->iters - nm : BLOCK;

            t0 = bench_now_ns();
            mailbox_nops(c, b);
            tm += bench_now_ns() - t0;
            nm += b;
        }
    }
    if (do_q) {
        printf("%-44s %10.0f requests/s %8.1f ns/request\n",
               a->socket ? "socket NOP, queue, 32 in flight"
                         : "deterministic NOP, queue, 32 per SQ_TAIL",
               (double)nq * 1e9 / (double)tq, (double)tq / (double)nq);
    }
    if (do_m) {
        printf("%-44s %10.0f requests/s %8.1f ns/request\n",
               a->socket ? "socket NOP, mailbox (baseline)"
                         : "deterministic NOP, mailbox (baseline)",
               (double)nm * 1e9 / (double)tm, (double)tm / (double)nm);
    }
    if (do_q && do_m) {
        printf("ratio queue/mailbox requests/s: %.2f\n",
               ((double)nq / (double)tq) / ((double)nm / (double)tm));
    }
    vgpu_dma_free(c, &in);
    vgpu_dma_free(c, &out);
    vgpu_queue_close(q);
    vgpu_sim_destroy(sim);
}

/* ---- 1 MiB requests against a bare stream ------------------------------ */

/* The bare stream's peer: a forked process that reads request frames
 * (header + BIG_IN_LEN) and answers each with a frame of BIG_OUT_LEN bytes,
 * no work, until the socket closes. */
static int
stream_peer_start(pid_t *pid)
{
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
        uint8_t *in = malloc(VGPU_HDR_SIZE + BIG_IN_LEN);
        uint8_t *out = calloc(1, VGPU_HDR_SIZE + BIG_OUT_LEN);

        close(sv[0]);
        while (in != NULL && out != NULL &&
               bench_full_io(sv[1], in, VGPU_HDR_SIZE + BIG_IN_LEN, 0) == 0 &&
               bench_full_io(sv[1], out, VGPU_HDR_SIZE + BIG_OUT_LEN, 1) == 0) {
            continue;
        }
        _exit(0);
    }
    close(sv[1]);
    return sv[0];
}

/* @n request frames out and answers back, BIG_DEPTH in flight, with
 * poll() on both directions as the simulator's socket transport does. */
static void
stream_run(int fd, uint64_t n, uint8_t *req, uint8_t *resp)
{
    const size_t rlen = VGPU_HDR_SIZE + BIG_IN_LEN;
    const size_t alen = VGPU_HDR_SIZE + BIG_OUT_LEN;
    uint64_t sent = 0;
    uint64_t got = 0;
    size_t woff = 0;
    size_t roff = 0;

    while (got < n) {
        struct pollfd p = {.fd = fd, .events = POLLIN};

        if (sent < n && sent - got < BIG_DEPTH) {
            p.events |= POLLOUT;
        }
        if (poll(&p, 1, WAIT_MS) <= 0) {
            fprintf(stderr, "bench_queue: the stream stalled\n");
            exit(1);
        }
        if (p.revents & POLLOUT) {
            ssize_t w = send(fd, req + woff, rlen - woff, MSG_DONTWAIT);

            if (w > 0 && (woff += (size_t)w) == rlen) {
                woff = 0;
                sent++;
            }
        }
        if (p.revents & POLLIN) {
            ssize_t r = recv(fd, resp + roff, alen - roff, MSG_DONTWAIT);

            if (r == 0) {
                fprintf(stderr, "bench_queue: the peer closed\n");
                exit(1);
            }
            if (r > 0 && (roff += (size_t)r) == alen) {
                roff = 0;
                got++;
            }
        }
    }
}

/* ADD_F32 n = 131071: MiB/s of input through the daemon against the bare
 * stream, in alternating blocks. */
static void
big(const struct args *a)
{
    struct vgpu_sim *sim = one_vm(a->socket);
    struct vgpu_client *c = vgpu_sim_client(sim, 0);
    struct vgpu_queue *q = open_queue(c, BIG_DEPTH);
    struct vgpu_dma in;
    struct vgpu_dma out;
    uint8_t *req = calloc(1, VGPU_HDR_SIZE + BIG_IN_LEN);
    uint8_t *resp = malloc(VGPU_HDR_SIZE + BIG_OUT_LEN);
    uint64_t tq = 0;
    uint64_t tb = 0;
    uint64_t done = 0;
    pid_t pid;
    int fd = stream_peer_start(&pid);
    int status;
    char label[64];

    if (req == NULL || resp == NULL) {
        fprintf(stderr, "bench_queue: out of memory\n");
        exit(1);
    }
    dma(c, (size_t)BIG_DEPTH * BIG_IN_LEN, &in);
    dma(c, (size_t)BIG_DEPTH * BIG_OUT_LEN, &out);
    for (uint32_t s = 0; s < BIG_DEPTH; s++) {
        uint8_t *p = (uint8_t *)in.ptr + (size_t)s * BIG_IN_LEN;

        vgpu_put_le32(p, VGPU_OP_ADD_F32);
        vgpu_put_le32(p + 4, big_n);
    }
    queue_run(q, BIG_DEPTH, BIG_DEPTH, &in, BIG_IN_LEN, &out, BIG_OUT_LEN);
    stream_run(fd, BIG_DEPTH, req, resp);
    while (done < a->big) {
        uint64_t b = a->big - done < 40u ? a->big - done : 40u;
        uint64_t t0 = bench_now_ns();

        queue_run(q, BIG_DEPTH, b, &in, BIG_IN_LEN, &out, BIG_OUT_LEN);
        tq += bench_now_ns() - t0;
        t0 = bench_now_ns();
        stream_run(fd, b, req, resp);
        tb += bench_now_ns() - t0;
        done += b;
    }
    close(fd);
    waitpid(pid, &status, 0);
    snprintf(label, sizeof(label), "socket ADD_F32 n=%u, queue", big_n);
    printf("%-44s %10.1f MiB/s in  (%llu requests, 8 in flight)\n", label,
           (double)done * BIG_IN_LEN / MIB / ((double)tq / 1e9),
           (unsigned long long)done);
    printf("%-44s %10.1f MiB/s in\n", "bare stream, same frames (baseline)",
           (double)done * BIG_IN_LEN / MIB / ((double)tb / 1e9));
    printf("ratio queue/bare stream: %.2f\n", (double)tb / (double)tq);
    free(req);
    free(resp);
    vgpu_dma_free(c, &in);
    vgpu_dma_free(c, &out);
    vgpu_queue_close(q);
    vgpu_sim_destroy(sim);
}

int
main(int argc, char **argv)
{
    struct args a;

    parse(argc, argv, &a);
    if (a.only == NULL || strcmp(a.only, "big") != 0) {
        nops(&a);
    }
    if (a.socket != NULL && (a.only == NULL || strcmp(a.only, "big") == 0)) {
        big(&a);
    }
    return 0;
}
