/*
 * bench_mediator: the mediator daemon's cost over a bare Unix socket.
 *
 * Against a running vgpu-mediator (--socket, started by bench/mediator.sh),
 * and in the same run against baselines served by a forked child process
 * (never a thread of this one, which would share its scheduler slot and its
 * allocator) with the same message sizes (a 40-byte NOP REQUEST frame in, a
 * 32-byte RESPONSE frame out):
 * 1. NOP round-trip latency, p50 and p99 of --iters sequential NOPs on one
 *    connection, vs a ping-pong server thread that reads a request-sized
 *    message and writes a response-sized one; then a "percentiles" line of
 *    each with p50, p90, p99 and p99.9 (bench/plots.sh draws them).
 * 2. Aggregate NOP/s with 1, 4, 16, 64 and 256 client threads (--clients
 *    sets the counts; each its own connection and vm_id, one request in
 *    flight, --seconds each), vs a bare epoll server process (one epoll
 *    loop) serving the same clients.
 * --only latency|throughput runs one of 1 and 2 alone (and neither 3 nor
 * 4).
 * 3. With --daemon-pid: the daemon's VmRSS with 256 idle clients after
 *    HELLO, and its VmRSS and fd count before and after 10,000
 *    connect/HELLO/disconnect cycles.
 * 4. With --daemon-pid: scaling with connected VMs: 8 clients sending NOPs
 *    while 10, 100 and 1,000 VMs are connected in all (the rest idle after
 *    HELLO): NOP/s, and the daemon's CPU time per request (utime + stime
 *    from /proc over the round, divided by the requests answered), and its
 *    VmRSS with the 1,000.
 * The client code is the same for the daemon and the baselines: encode the
 * frame, write it, read and decode the answer. The daemon and its baseline
 * take turns in ROUNDS alternating blocks, so that load from elsewhere on a
 * shared machine falls on both alike.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "vgpu/proto.h"
#include "vgpu/regs.h"

#define REQ_SIZE           (VGPU_HDR_SIZE + VGPU_OP_HDR_SIZE)
#define RESP_SIZE          VGPU_HDR_SIZE
#define MAX_CLIENTS        256u
#define IDLE_CLIENTS       256u
#define CYCLES             10000u
#define WARMUP_CYCLES      1000u
#define RSS_NOISE_KIB      64 /* a few pages of allocator noise */
#define VM_LATENCY         1000u
#define VM_THROUGHPUT      2000u
#define VM_IDLE            3000u
#define VM_CYCLE           4000u
#define IO_TIMEOUT_S       10
#define EPOLL_BATCH        64
#define ROUNDS             5u /* alternating rounds of subject and baseline */
#define TARGET_LAT_RATIO   1.1
#define TARGET_TPUT        0.9
#define TARGET_RSS_KIB     (16u * 1024u)
/* Scaling: VMs connected in all, of which SCALE_ACTIVE send NOPs. */
#define SCALE_ACTIVE       8u
#define SCALE_MAX_VMS      1000u
#define VM_SCALE           10000u
#define TARGET_SCALE_RSS   (32u * 1024u) /* KiB, with SCALE_MAX_VMS */
#define TARGET_SCALE_DRIFT 1.25 /* cost per request, most VMs over fewest */

#define MAX_COUNTS 16u /* entries of --clients */

struct bench_opts {
    const char *socket;
    long daemon_pid;
    uint64_t iters;
    double seconds;
    const char *only; /* NULL, "latency" or "throughput" */
    unsigned counts[MAX_COUNTS];
    size_t ncounts;
};

/* A connection as a client sees it. */
struct client {
    int fd;
    uint32_t vm_id;
    uint32_t next_id;
    struct vgpu_decoder dec;
    uint8_t dec_buf[VGPU_BUF_SIZE];
};

static uint64_t
now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void
die(const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "bench_mediator: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(1);
}

static int
write_all(int fd, const uint8_t *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, buf, len);

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return -1;
        }
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

static int
unix_connect(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    struct timeval tv = {.tv_sec = IO_TIMEOUT_S};
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

    if (fd < 0 || strlen(path) >= sizeof(sa.sun_path)) {
        die("socket %s: %s", path, strerror(errno));
    }
    memcpy(sa.sun_path, path, strlen(path) + 1);
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        die("connect %s: %s", path, strerror(errno));
    }
    /* Every wait is bounded: a stuck daemon fails the run. */
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    return fd;
}

static void
client_open(struct client *c, const char *path, uint32_t vm_id)
{
    memset(c, 0, sizeof(*c));
    c->fd = unix_connect(path);
    c->vm_id = vm_id;
    c->next_id = 1;
    vgpu_decoder_init(&c->dec, c->dec_buf, sizeof(c->dec_buf),
                      VGPU_MAX_PAYLOAD);
}

/* Read until one whole frame is decoded. Return 0 (frame in @f), 1 on a
 * close, or -1. */
static int
client_recv(struct client *c, struct vgpu_frame *f)
{
    uint8_t buf[256];

    for (;;) {
        ssize_t n = read(c->fd, buf, sizeof(buf));
        size_t off = 0;

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n == 0 || (n < 0 && errno == ECONNRESET)) {
            return 1;
        }
        if (n < 0) {
            return -1;
        }
        while (off < (size_t)n) {
            size_t used = 0;
            int rc = vgpu_decoder_feed(&c->dec, buf + off, (size_t)n - off,
                                       &used, f);

            off += used;
            if (rc < 0) {
                return -1;
            }
            if (rc == 1) {
                /* One request is in flight, so nothing follows it. */
                return off == (size_t)n ? 0 : -1;
            }
        }
    }
}

static int
client_send(struct client *c, uint16_t type, const void *payload, size_t len)
{
    struct vgpu_hdr h;
    uint8_t frame[VGPU_HDR_SIZE + VGPU_HELLO_PAYLOAD_SIZE + VGPU_OP_HDR_SIZE];
    int n;

    vgpu_hdr_init(&h, type);
    h.vm_id = c->vm_id;
    h.request_id = c->next_id++;
    h.pool_id = VGPU_DEFAULT_POOL;
    h.priority = VGPU_DEFAULT_PRIORITY;
    n = vgpu_frame_encode(&h, payload, len, frame, sizeof(frame));
    if (n < 0) {
        return -1;
    }
    return write_all(c->fd, frame, (size_t)n);
}

static void
client_hello(struct client *c)
{
    uint8_t hello[VGPU_HELLO_PAYLOAD_SIZE];
    struct vgpu_frame f;

    vgpu_hello_pack(hello, VGPU_PROTOCOL_VERSION, VGPU_CAPABILITIES);
    if (client_send(c, VGPU_MSG_HELLO, hello, sizeof(hello)) != 0 ||
        client_recv(c, &f) != 0 || f.hdr.type != VGPU_MSG_HELLO_ACK) {
        die("vm %" PRIu32 ": HELLO not acknowledged", c->vm_id);
    }
}

/* One NOP round trip. Return 0, or -1 on any failure. */
static int
client_nop(struct client *c)
{
    uint8_t nop[VGPU_OP_HDR_SIZE] = {0};
    struct vgpu_frame f;

    vgpu_put_le32(nop, VGPU_OP_NOP);
    if (client_send(c, VGPU_MSG_REQUEST, nop, sizeof(nop)) != 0 ||
        client_recv(c, &f) != 0 || f.hdr.type != VGPU_MSG_RESPONSE ||
        f.hdr.status != VGPU_ERR_NONE || f.hdr.request_id != c->next_id - 1u) {
        return -1;
    }
    return 0;
}

/* ---- Baseline servers ---------------------------------------------------- */

/* The response-sized answer to a request-sized message: a RESPONSE header
 * carrying the request's id, as the daemon would send. */
static void
baseline_answer(const uint8_t *req, uint8_t *resp)
{
    struct vgpu_hdr h;

    vgpu_hdr_init(&h, VGPU_MSG_RESPONSE);
    h.vm_id = vgpu_get_le32(req + VGPU_HDR_OFF_VM_ID);
    h.request_id = vgpu_get_le32(req + VGPU_HDR_OFF_REQUEST_ID);
    vgpu_hdr_pack(&h, resp);
}

struct baseline {
    char dir[64];
    char path[128];
    int listen_fd;
    int stop_fd[2]; /* a pipe: a byte on it stops the server */
    pid_t pid;      /* the server: a forked child */
};

static void
baseline_listen(struct baseline *b)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    const char *tmp = getenv("TMPDIR");

    snprintf(b->dir, sizeof(b->dir), "%s/bench-med.XXXXXX",
             tmp && strlen(tmp) < 32 ? tmp : "/tmp");
    if (mkdtemp(b->dir) == NULL) {
        die("mkdtemp: %s", strerror(errno));
    }
    snprintf(b->path, sizeof(b->path), "%s/base.sock", b->dir);
    memcpy(sa.sun_path, b->path, strlen(b->path) + 1);
    b->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (b->listen_fd < 0 ||
        bind(b->listen_fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
        listen(b->listen_fd, 128) != 0 || pipe(b->stop_fd) != 0) {
        die("baseline socket: %s", strerror(errno));
    }
}

/* Run @fn(@b) in a forked child process, which exits when it returns. */
static void
baseline_spawn(struct baseline *b, void *(*fn)(void *))
{
    fflush(stdout);
    b->pid = fork();
    if (b->pid < 0) {
        die("fork: %s", strerror(errno));
    }
    if (b->pid == 0) {
        fn(b);
        _exit(0);
    }
}

static void
baseline_stop(struct baseline *b)
{
    int status;

    if (write(b->stop_fd[1], "x", 1) != 1) {
        die("stop: %s", strerror(errno));
    }
    if (waitpid(b->pid, &status, 0) != b->pid || !WIFEXITED(status) ||
        WEXITSTATUS(status) != 0) {
        die("the baseline server failed");
    }
    close(b->listen_fd);
    close(b->stop_fd[0]);
    close(b->stop_fd[1]);
    unlink(b->path);
    rmdir(b->dir);
}

/* Ping-pong: one connection; read a request-sized message, write a
 * response-sized one, until the client closes. */
static void *
pingpong_main(void *arg)
{
    struct baseline *b = arg;
    int fd = accept4(b->listen_fd, NULL, NULL, SOCK_CLOEXEC);
    uint8_t req[REQ_SIZE], resp[RESP_SIZE];

    if (fd < 0) {
        die("accept: %s", strerror(errno));
    }
    for (;;) {
        size_t have = 0;

        while (have < sizeof(req)) {
            ssize_t n = read(fd, req + have, sizeof(req) - have);

            if (n <= 0) {
                close(fd);
                return NULL;
            }
            have += (size_t)n;
        }
        baseline_answer(req, resp);
        if (write_all(fd, resp, sizeof(resp)) != 0) {
            close(fd);
            return NULL;
        }
    }
}

/* One connection of the epoll server: a partial request, if any. */
struct econn {
    int fd;
    size_t have;
    uint8_t req[REQ_SIZE];
};

static void
econn_read(int ep, struct econn *c)
{
    for (;;) {
        ssize_t n = read(c->fd, c->req + c->have, sizeof(c->req) - c->have);
        uint8_t resp[RESP_SIZE];

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0 && errno == EAGAIN) {
            return;
        }
        if (n <= 0) {
            epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
            close(c->fd);
            free(c);
            return;
        }
        c->have += (size_t)n;
        if (c->have == sizeof(c->req)) {
            c->have = 0;
            baseline_answer(c->req, resp);
            /* One request in flight per client: the socket buffer always
             * has room for the answer. */
            if (write(c->fd, resp, sizeof(resp)) != (ssize_t)sizeof(resp)) {
                die("epoll server: short write");
            }
        }
    }
}

/* A bare epoll server: one loop, non-blocking sockets, the same messages. */
static void *
epoll_main(void *arg)
{
    struct baseline *b = arg;
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
    struct epoll_event evs[EPOLL_BATCH];

    if (ep < 0) {
        die("epoll_create1: %s", strerror(errno));
    }
    ev.data.ptr = &b->listen_fd;
    epoll_ctl(ep, EPOLL_CTL_ADD, b->listen_fd, &ev);
    ev.data.ptr = &b->stop_fd[0];
    epoll_ctl(ep, EPOLL_CTL_ADD, b->stop_fd[0], &ev);
    for (;;) {
        int n = epoll_wait(ep, evs, EPOLL_BATCH, -1);

        for (int i = 0; i < n; i++) {
            if (evs[i].data.ptr == &b->stop_fd[0]) {
                close(ep);
                return NULL;
            }
            if (evs[i].data.ptr == &b->listen_fd) {
                struct econn *c = calloc(1, sizeof(*c));

                if (c == NULL) {
                    die("out of memory");
                }
                c->fd = accept4(b->listen_fd, NULL, NULL,
                                SOCK_CLOEXEC | SOCK_NONBLOCK);
                if (c->fd < 0) {
                    die("accept: %s", strerror(errno));
                }
                ev.events = EPOLLIN;
                ev.data.ptr = c;
                epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
                continue;
            }
            econn_read(ep, evs[i].data.ptr);
        }
    }
}

/* ---- 1. Latency ---------------------------------------------------------- */

static int
cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

    return x < y ? -1 : x > y;
}

static int
cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

/* "@label p50 X p90 X p99 X p99.9 X" (us) of the @n sorted samples @v. */
static void
print_percentiles(const char *label, const uint64_t *v, uint64_t n)
{
    static const unsigned per_mille[] = {500, 900, 990, 999};
    static const char *const names[] = {"p50", "p90", "p99", "p99.9"};

    printf("%s", label);
    for (size_t i = 0; i < sizeof(per_mille) / sizeof(per_mille[0]); i++) {
        printf(" %s %.2f", names[i], (double)v[n * per_mille[i] / 1000u] / 1e3);
    }
    printf(" us\n");
}

/* @n sequential NOPs on @c, their round trips appended at @lat. */
static void
latency_block(struct client *c, uint64_t *lat, uint64_t n)
{
    for (uint64_t i = 0; i < n; i++) {
        uint64_t t0 = now_ns();

        if (client_nop(c) != 0) {
            die("vm %" PRIu32 ": NOP failed", c->vm_id);
        }
        lat[i] = now_ns() - t0;
    }
}

/* The daemon and the ping-pong baseline take turns, ROUNDS blocks each, so
 * that a load change on a shared machine hits both alike. */
static void
bench_latency(const struct bench_opts *o)
{
    uint64_t per = o->iters / ROUNDS, n = per * ROUNDS;
    uint64_t *d = calloc(n, sizeof(*d)), *e = calloc(n, sizeof(*e));
    struct client cd, cb;
    struct baseline b;
    double r50, r99;

    if (d == NULL || e == NULL) {
        die("out of memory");
    }
    baseline_listen(&b);
    baseline_spawn(&b, pingpong_main);
    client_open(&cd, o->socket, VM_LATENCY);
    client_hello(&cd);
    client_open(&cb, b.path, VM_LATENCY);
    for (unsigned r = 0; r < ROUNDS; r++) {
        latency_block(&cd, d + r * per, per);
        latency_block(&cb, e + r * per, per);
    }
    close(cd.fd);
    close(cb.fd);
    baseline_stop(&b);
    qsort(d, n, sizeof(*d), cmp_u64);
    qsort(e, n, sizeof(*e), cmp_u64);
    r50 = (double)d[n / 2] / (double)e[n / 2];
    r99 = (double)d[n * 99 / 100] / (double)e[n * 99 / 100];
    printf("== NOP round trip, %" PRIu64 " sequential requests each, in %u "
           "alternating blocks\n",
           n, ROUNDS);
    printf("%-40s p50 %7.2f us  p99 %7.2f us\n", "through vgpu-mediator",
           (double)d[n / 2] / 1e3, (double)d[n * 99 / 100] / 1e3);
    printf("%-40s p50 %7.2f us  p99 %7.2f us\n",
           "bare Unix-socket ping-pong (baseline)", (double)e[n / 2] / 1e3,
           (double)e[n * 99 / 100] / 1e3);
    printf("ratio p50 %.2fx (target <= %.1fx: %s), p99 %.2fx\n", r50,
           TARGET_LAT_RATIO, r50 <= TARGET_LAT_RATIO ? "met" : "MISSED", r99);
    /* For bench/plots.sh: p50, p90, p99 and p99.9 in microseconds. */
    print_percentiles("percentiles mediator", d, n);
    print_percentiles("percentiles bare", e, n);
    free(d);
    free(e);
}

/* ---- 2. Throughput ------------------------------------------------------- */

/* A set of client threads against one server, run round by round. */
struct tput_set {
    const char *path;
    bool hello;
    unsigned clients;
    uint32_t vm_base;
    uint64_t end_ns; /* of the current round */
    bool stop;
    pthread_barrier_t bar;
    pthread_t thread[MAX_CLIENTS];
    uint64_t ops[MAX_CLIENTS];
};

struct tput_arg {
    struct tput_set *set;
    unsigned idx;
};

static void *
tput_main(void *arg)
{
    struct tput_arg *a = arg;
    struct tput_set *s = a->set;
    struct client c;

    client_open(&c, s->path, s->vm_base + a->idx);
    if (s->hello) {
        client_hello(&c);
    }
    pthread_barrier_wait(&s->bar); /* connected */
    for (;;) {
        pthread_barrier_wait(&s->bar); /* go, or stop */
        if (s->stop) {
            break;
        }
        while (now_ns() < s->end_ns) {
            if (client_nop(&c) != 0) {
                die("vm %" PRIu32 ": NOP failed", c.vm_id);
            }
            s->ops[a->idx]++;
        }
        pthread_barrier_wait(&s->bar); /* round done */
    }
    close(c.fd);
    return NULL;
}

static void
tput_start(struct tput_set *s, struct tput_arg *args)
{
    pthread_barrier_init(&s->bar, NULL, s->clients + 1u);
    for (unsigned i = 0; i < s->clients; i++) {
        args[i] = (struct tput_arg){.set = s, .idx = i};
        if (pthread_create(&s->thread[i], NULL, tput_main, &args[i]) != 0) {
            die("pthread_create");
        }
    }
    pthread_barrier_wait(&s->bar);
}

/* One round of @ns; return NOPs per second. */
static double
tput_round(struct tput_set *s, uint64_t ns)
{
    uint64_t t0 = now_ns(), total = 0;

    memset(s->ops, 0, sizeof(s->ops));
    s->end_ns = t0 + ns;
    pthread_barrier_wait(&s->bar);
    pthread_barrier_wait(&s->bar);
    for (unsigned i = 0; i < s->clients; i++) {
        total += s->ops[i];
    }
    return (double)total * 1e9 / (double)(now_ns() - t0);
}

static void
tput_stop(struct tput_set *s)
{
    s->stop = true;
    pthread_barrier_wait(&s->bar);
    for (unsigned i = 0; i < s->clients; i++) {
        pthread_join(s->thread[i], NULL);
    }
    pthread_barrier_destroy(&s->bar);
}

/* The daemon's clients and the baseline's take turns, ROUNDS rounds each;
 * the figure of each is the median round. */
static void
bench_throughput(const struct bench_opts *o)
{
    static struct tput_set sd, sb;
    static struct tput_arg ad[MAX_CLIENTS], ab[MAX_CLIENTS];
    uint64_t ns = (uint64_t)(o->seconds * 1e9) / ROUNDS;
    struct baseline b;

    baseline_listen(&b);
    baseline_spawn(&b, epoll_main);
    printf("== aggregate NOP/s, one request in flight per client, %.1f s "
           "each in %u alternating rounds (median round; min-max)\n",
           o->seconds, ROUNDS);
    printf("%8s %26s %26s %8s\n", "clients", "vgpu-mediator", "bare epoll",
           "ratio");
    for (size_t i = 0; i < o->ncounts; i++) {
        const unsigned *counts = o->counts;
        double d[ROUNDS], e[ROUNDS], ratio;

        sd = (struct tput_set){.path = o->socket,
                               .hello = true,
                               .clients = counts[i],
                               .vm_base = VM_THROUGHPUT + (uint32_t)i * 100u};
        sb = (struct tput_set){.path = b.path, .clients = counts[i]};
        tput_start(&sd, ad);
        tput_start(&sb, ab);
        for (unsigned r = 0; r < ROUNDS; r++) {
            d[r] = tput_round(&sd, ns);
            e[r] = tput_round(&sb, ns);
        }
        tput_stop(&sd);
        tput_stop(&sb);
        qsort(d, ROUNDS, sizeof(d[0]), cmp_double);
        qsort(e, ROUNDS, sizeof(e[0]), cmp_double);
        ratio = d[ROUNDS / 2] / e[ROUNDS / 2];
        printf("%8u %8.0f (%7.0f-%7.0f) %8.0f (%7.0f-%7.0f) %7.2fx (target "
               ">= %.1fx: %s)\n",
               counts[i], d[ROUNDS / 2], d[0], d[ROUNDS - 1], e[ROUNDS / 2],
               e[0], e[ROUNDS - 1], ratio, TARGET_TPUT,
               ratio >= TARGET_TPUT ? "met" : "MISSED");
    }
    baseline_stop(&b);
}

/* ---- 3. Memory ----------------------------------------------------------- */

static long
proc_rss_kib(long pid)
{
    char path[64], line[256];
    long kib = -1;
    FILE *f;

    snprintf(path, sizeof(path), "/proc/%ld/status", pid);
    f = fopen(path, "r");
    if (f == NULL) {
        die("%s: %s", path, strerror(errno));
    }
    while (fgets(line, sizeof(line), f) != NULL) {
        if (sscanf(line, "VmRSS: %ld", &kib) == 1) {
            break;
        }
    }
    fclose(f);
    return kib;
}

static long
proc_fds(long pid)
{
    char cmd[96];
    long n = -1;
    FILE *f;

    snprintf(cmd, sizeof(cmd), "ls /proc/%ld/fd | wc -l", pid);
    f = popen(cmd, "r");
    if (f == NULL || fscanf(f, "%ld", &n) != 1) {
        die("counting fds failed");
    }
    pclose(f);
    return n;
}

/* Connect, HELLO, disconnect. The half-close and the wait for the daemon's
 * close make sure the next HELLO of this vm_id never races the previous
 * connection's end. */
static void
connect_cycle(const char *path, unsigned i)
{
    struct client c;
    struct vgpu_frame f;

    client_open(&c, path, VM_CYCLE);
    client_hello(&c);
    shutdown(c.fd, SHUT_WR);
    if (client_recv(&c, &f) != 1) {
        die("cycle %u: the daemon did not close", i);
    }
    close(c.fd);
}

static void
bench_memory(const struct bench_opts *o)
{
    static struct client idle[IDLE_CLIENTS];
    long rss0, rss1, rss2, rss3, fd2, fd3;
    uint64_t t0;

    rss0 = proc_rss_kib(o->daemon_pid);
    for (unsigned i = 0; i < IDLE_CLIENTS; i++) {
        client_open(&idle[i], o->socket, VM_IDLE + i);
        client_hello(&idle[i]);
    }
    usleep(100000);
    rss1 = proc_rss_kib(o->daemon_pid);
    for (unsigned i = 0; i < IDLE_CLIENTS; i++) {
        close(idle[i].fd);
    }
    usleep(100000);
    printf("== daemon memory (pid %ld)\n", o->daemon_pid);
    printf("VmRSS %ld KiB before, %ld KiB with %u idle clients after HELLO "
           "(target <= %u KiB: %s)\n",
           rss0, rss1, IDLE_CLIENTS, TARGET_RSS_KIB,
           rss1 <= (long)TARGET_RSS_KIB ? "met" : "MISSED");

    /* Warm up first, so the allocator's arenas and the VM's record exist
     * before the figure "before" is taken. */
    for (unsigned i = 0; i < WARMUP_CYCLES; i++) {
        connect_cycle(o->socket, i);
    }
    usleep(100000);
    rss2 = proc_rss_kib(o->daemon_pid);
    fd2 = proc_fds(o->daemon_pid);
    t0 = now_ns();
    for (unsigned i = 0; i < CYCLES; i++) {
        connect_cycle(o->socket, i);
    }
    usleep(100000);
    rss3 = proc_rss_kib(o->daemon_pid);
    fd3 = proc_fds(o->daemon_pid);
    printf("%u connect/HELLO/disconnect cycles (after %u to warm up) in "
           "%.2f s: VmRSS %ld -> %ld KiB (%+ld), fds %ld -> %ld (target: no "
           "growth beyond %d KiB of page noise, fds equal: %s)\n",
           CYCLES, WARMUP_CYCLES, (double)(now_ns() - t0) / 1e9, rss2, rss3,
           rss3 - rss2, fd2, fd3, RSS_NOISE_KIB,
           rss3 - rss2 <= RSS_NOISE_KIB && fd3 <= fd2 ? "met" : "MISSED");
}

/* ---- 4. Scaling with connected VMs ----------------------------------------
 */

/* The daemon's CPU time so far (utime + stime), in nanoseconds. */
static uint64_t
proc_cpu_ns(long pid)
{
    char path[64], buf[1024];
    unsigned long ut = 0, st = 0;
    const char *p;
    FILE *f;
    size_t n;

    snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
    f = fopen(path, "r");
    if (f == NULL) {
        die("%s: %s", path, strerror(errno));
    }
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* Fields 14 and 15, counted after the ")" that ends the name. */
    p = strrchr(buf, ')');
    if (p == NULL || sscanf(p + 2,
                            "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u "
                            "%*u %lu %lu",
                            &ut, &st) != 2) {
        die("%s: cannot parse", path);
    }
    return (uint64_t)(ut + st) * (1000000000u / (uint64_t)sysconf(_SC_CLK_TCK));
}

static void
bench_scaling(const struct bench_opts *o)
{
    static const unsigned vms[] = {10, 100, SCALE_MAX_VMS};
    static struct client idle[SCALE_MAX_VMS];
    static struct tput_set s;
    static struct tput_arg args[SCALE_ACTIVE];
    uint64_t ns = (uint64_t)(o->seconds * 1e9) / ROUNDS;
    double cost[sizeof(vms) / sizeof(vms[0])];
    unsigned open_idle = 0;
    long rss = 0;

    printf("== scaling: %u clients sending NOPs among N connected VMs, "
           "%u rounds of %.2f s (median round)\n",
           SCALE_ACTIVE, ROUNDS, (double)ns / 1e9);
    s = (struct tput_set){.path = o->socket,
                          .hello = true,
                          .clients = SCALE_ACTIVE,
                          .vm_base = VM_SCALE};
    tput_start(&s, args);
    for (size_t i = 0; i < sizeof(vms) / sizeof(vms[0]); i++) {
        double rate[ROUNDS], per[ROUNDS];

        while (open_idle + SCALE_ACTIVE < vms[i]) {
            client_open(&idle[open_idle], o->socket,
                        VM_SCALE + SCALE_ACTIVE + open_idle);
            client_hello(&idle[open_idle]);
            open_idle++;
        }
        for (unsigned r = 0; r < ROUNDS; r++) {
            uint64_t c0 = proc_cpu_ns(o->daemon_pid);
            uint64_t t0 = now_ns();
            double nops;

            rate[r] = tput_round(&s, ns);
            nops = rate[r] * (double)(now_ns() - t0) / 1e9;
            per[r] = (double)(proc_cpu_ns(o->daemon_pid) - c0) / 1e3 / nops;
        }
        qsort(rate, ROUNDS, sizeof(rate[0]), cmp_double);
        qsort(per, ROUNDS, sizeof(per[0]), cmp_double);
        cost[i] = per[ROUNDS / 2];
        rss = proc_rss_kib(o->daemon_pid);
        printf("%5u VMs: %8.0f NOP/s, daemon CPU %.2f us per request "
               "(%.2f-%.2f), VmRSS %ld KiB\n",
               vms[i], rate[ROUNDS / 2], cost[i], per[0], per[ROUNDS - 1], rss);
    }
    tput_stop(&s);
    for (unsigned i = 0; i < open_idle; i++) {
        close(idle[i].fd);
    }
    printf("VmRSS with %u VMs connected: %ld KiB (target <= %u KiB: %s); "
           "cost per request %u VMs / %u VMs: %.2fx (target <= %.2fx, "
           "flat: %s)\n",
           SCALE_MAX_VMS, rss, TARGET_SCALE_RSS,
           rss <= (long)TARGET_SCALE_RSS ? "met" : "MISSED", SCALE_MAX_VMS,
           vms[0], cost[2] / cost[0], TARGET_SCALE_DRIFT,
           cost[2] / cost[0] <= TARGET_SCALE_DRIFT ? "met" : "MISSED");
}

/* ---- main ---------------------------------------------------------------- */

static void
usage(FILE *f)
{
    fprintf(f,
            "usage: bench_mediator --socket PATH [--daemon-pid PID] "
            "[--iters N] [--seconds S]\n"
            "       [--only latency|throughput] [--clients N,N,...]\n"
            "Measures a running vgpu-mediator against bare Unix-socket "
            "baselines (see bench/mediator.sh).\n"
            "--clients: the client counts of the throughput section "
            "(default 1,4,16,64,256;\nat most %u counts, each 1-%u).\n",
            MAX_COUNTS, MAX_CLIENTS);
}

/* "1,4,16": the client counts; 0 on success. */
static int
parse_counts(struct bench_opts *o, const char *s)
{
    o->ncounts = 0;
    while (*s != '\0') {
        char *end;
        unsigned long v = strtoul(s, &end, 10);

        if (end == s || v < 1 || v > MAX_CLIENTS || o->ncounts == MAX_COUNTS ||
            (*end != ',' && *end != '\0')) {
            return -1;
        }
        o->counts[o->ncounts++] = (unsigned)v;
        s = *end == ',' ? end + 1 : end;
    }
    return o->ncounts > 0 ? 0 : -1;
}

int
main(int argc, char **argv)
{
    struct bench_opts o = {.iters = 20000,
                           .seconds = 2.0,
                           .counts = {1, 4, 16, 64, MAX_CLIENTS},
                           .ncounts = 5};

    signal(SIGPIPE, SIG_IGN);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;

        if (strcmp(a, "--help") == 0) {
            usage(stdout);
            return 0;
        }
        if (v == NULL) {
            usage(stderr);
            return 2;
        }
        i++;
        if (strcmp(a, "--socket") == 0) {
            o.socket = v;
        } else if (strcmp(a, "--daemon-pid") == 0) {
            o.daemon_pid = strtol(v, NULL, 10);
        } else if (strcmp(a, "--iters") == 0) {
            o.iters = strtoull(v, NULL, 10);
        } else if (strcmp(a, "--seconds") == 0) {
            o.seconds = strtod(v, NULL);
        } else if (strcmp(a, "--only") == 0 && (strcmp(v, "latency") == 0 ||
                                                strcmp(v, "throughput") == 0)) {
            o.only = v;
        } else if (strcmp(a, "--clients") == 0 && parse_counts(&o, v) == 0) {
            continue;
        } else {
            usage(stderr);
            return 2;
        }
    }
    if (o.socket == NULL || o.iters < 100 || o.seconds <= 0) {
        usage(stderr);
        return 2;
    }
    if (o.only == NULL || strcmp(o.only, "latency") == 0) {
        bench_latency(&o);
    }
    if (o.only == NULL || strcmp(o.only, "throughput") == 0) {
        bench_throughput(&o);
    }
    if (o.daemon_pid > 0 && o.only == NULL) {
        bench_memory(&o);
        bench_scaling(&o);
    }
    return 0;
}
