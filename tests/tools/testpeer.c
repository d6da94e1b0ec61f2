/*
 * vgpu-testpeer: a device impersonator for the mediator daemon's integration
 * tests. It speaks the real wire protocol (SPEC.md section 7) through
 * vgpu_frame_encode() and the streaming decoder, on one blocking Unix stream
 * socket whose every wait is bounded by poll() (--timeout-ms, default 10 s;
 * exit 3 when a wait runs out).
 *
 * Modes:
 * - requests (the default): HELLO, then --count requests (or requests for
 *   --duration-ms) with up to --pipeline in flight, each checked: its
 *   request_id and vm_id, its status (--expect-status, --allow-status) and,
 *   with --verify, its bytes against the CPU backend run here on the same
 *   request bytes.
 * - --bad MODE: one misbehaviour, and a report of what came back.
 * - --expect-hello-error NAME: the HELLO must be refused with that status.
 * - --no-read: flood requests and never read (the slow-reader test).
 * - --connect-cycles N: N times connect, HELLO, one NOP, disconnect.
 * - --clock: print CLOCK_MONOTONIC in milliseconds (for --start-at-ms).
 *
 * --queue offers VGPU_CAP_QUEUE in HELLO (SPEC.md section 11): the mediator
 * answers the 12-byte HELLO_ACK, and requests (and --n) may then be as large
 * as 1 MiB allows. The accepted in-flight count is printed
 * (`hello_ack caps=0x7 max_payload=1048576 inflight=64`); --pipeline is not
 * clamped to it, so that a test can go past it and see REJECTED.
 *
 * Exit status: 0 when every expectation held, 1 when one did not, 2 for a
 * bad argument, 3 when a wait timed out.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "vgpu/backend.h"
#include "vgpu/proto.h"
#include "vgpu/regs.h"

#define PEER_EXIT_OK      0
#define PEER_EXIT_FAIL    1
#define PEER_EXIT_USAGE   2
#define PEER_EXIT_TIMEOUT 3

#define PEER_NAME           "vgpu-testpeer"
#define PEER_MAX_PIPELINE   4096u
#define PEER_DEC_CAP        VGPU_MAX_PAYLOAD /* a queue answer, whole */
#define PEER_IN_CAP         (64u * 1024u)
#define PEER_FRAME_CAP      (VGPU_HDR_SIZE + 2u * VGPU_BUF_SIZE)
#define PEER_MAX_REPORTS    10u /* mismatch reports printed in detail */
#define PEER_MATMUL_MAX_DIM 11u /* n*n + n*n <= 252 */
/* The queue's limits (SPEC.md section 11): 1 MiB requests. */
#define PEER_Q_ECHO_MAX_N   (VGPU_MAX_PAYLOAD - VGPU_OP_HDR_SIZE)
#define PEER_Q_ADD_MAX_N    ((VGPU_MAX_PAYLOAD - VGPU_OP_HDR_SIZE) / 8u)
#define PEER_Q_SAXPY_MAX_N  ((VGPU_MAX_PAYLOAD - VGPU_OP_HDR_SIZE - 4u) / 8u)
#define PEER_Q_MATMUL_MAX_DIM                                                  \
    362u /* 2 n*n <= (VGPU_MAX_PAYLOAD - VGPU_MATMUL_HDR_SIZE) / 4 */
#define PEER_DOT_REL_TOL 1e-5
#define PEER_NS_PER_MS   UINT64_C(1000000)
#define PEER_NS_PER_US   UINT64_C(1000)
#define PEER_OP_RANDOM   UINT32_MAX
#define PEER_BAD_MAGIC   0x41414141u /* "AAAA" */
#define PEER_BAD_VERSION 0x63u
#define PEER_BAD_TYPE    0x63u
#define PEER_NO_STATUS   (-1)

/* The misbehaviours of --bad. */
enum peer_bad {
    BAD_NONE,
    BAD_MAGIC,
    BAD_VERSION,
    BAD_TYPE,
    BAD_OVERSIZE,
    BAD_BEFORE_HELLO,
    BAD_SECOND_HELLO,
    BAD_LENGTH,
};

static const char *const bad_names[] = {
    [BAD_NONE] = "none",
    [BAD_MAGIC] = "magic",
    [BAD_VERSION] = "version",
    [BAD_TYPE] = "type",
    [BAD_OVERSIZE] = "oversize",
    [BAD_BEFORE_HELLO] = "before-hello",
    [BAD_SECOND_HELLO] = "second-hello",
    [BAD_LENGTH] = "bad-length",
};

#define BAD_COUNT (sizeof(bad_names) / sizeof(bad_names[0]))

/* The ops --op names, in SPEC.md order; "random" picks one per request. */
static const uint32_t all_ops[] = {
    VGPU_OP_NOP,     VGPU_OP_ECHO,      VGPU_OP_ADD_I32,    VGPU_OP_ADD_F32,
    VGPU_OP_DOT_F32, VGPU_OP_SAXPY_F32, VGPU_OP_MATMUL_F32,
};

#define ALL_OPS_COUNT (sizeof(all_ops) / sizeof(all_ops[0]))

struct peer_opts {
    const char *socket;
    uint32_t vm_id;
    uint8_t pool;
    uint8_t prio;
    uint32_t op; /* a VGPU_OP_*, or PEER_OP_RANDOM */
    uint32_t n;
    bool n_set;
    uint64_t count;
    uint32_t pipeline;
    uint64_t seed;
    uint64_t duration_ms; /* 0: --count decides */
    uint64_t timeout_ms;
    uint64_t start_at_ms; /* 0: start at once */
    bool verify;
    bool timestamps;
    int expect_status;    /* PEER_NO_STATUS, or the one status allowed */
    uint32_t allow_mask;  /* statuses accepted besides NONE */
    int expect_hello_err; /* PEER_NO_STATUS, or the refusal expected */
    enum peer_bad bad;
    bool no_read;
    bool queue; /* --queue: offer VGPU_CAP_QUEUE, 1 MiB requests */
    uint64_t connect_cycles;
    const char *ready_file; /* created once HELLO is accepted */
};

/* Set by SIGUSR1: stop sending, collect what is in flight, exit. */
static volatile sig_atomic_t peer_stop_requested;

static void
peer_on_sigusr1(int sig)
{
    (void)sig;
    peer_stop_requested = 1;
}

/* One request in flight, kept for matching and verification. */
struct peer_slot {
    bool used;
    uint32_t req_id;
    uint64_t sent_ns;
    size_t len;
    uint8_t *req; /* its own copy with --verify, else the shared one */
};

struct peer {
    struct peer_opts o;
    int fd;
    struct vgpu_decoder dec;
    uint8_t dec_buf[PEER_DEC_CAP];
    uint8_t in[PEER_IN_CAP];
    size_t in_len;
    size_t in_off;
    uint32_t ack_max;
    uint32_t ack_inflight; /* 1 unless a 12-byte HELLO_ACK said more */
    size_t req_cap;        /* bytes of each request buffer */
    uint8_t *shared_req;   /* the request buffer without --verify */
    uint8_t *want;         /* peer_verify's expected answer, req_cap bytes */
    uint64_t rng;
    void *cpu_ctx;
    struct peer_slot *slots;
    uint32_t inflight;
    uint32_t next_id;
    uint64_t sent;
    uint64_t done;
    uint64_t errors;
    uint64_t bad;
    uint64_t reports;
    uint64_t status_count[VGPU_ERR_COUNT];
    uint64_t lat_max_us;
    uint64_t lat_sum_us;
    uint64_t hello_us; /* connect + HELLO until HELLO_ACK */
};

/* ---- Small helpers ------------------------------------------------------- */

static uint64_t
peer_now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void peer_die_usage(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));

static void
peer_die_usage(const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "%s: ", PEER_NAME);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, " (see --help)\n");
    exit(PEER_EXIT_USAGE);
}

static void peer_err(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

static void
peer_err(const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "%s: ", PEER_NAME);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

/* xorshift64*: deterministic per --seed and --vm-id. */
static uint64_t
peer_rand(struct peer *p)
{
    p->rng ^= p->rng >> 12;
    p->rng ^= p->rng << 25;
    p->rng ^= p->rng >> 27;
    return p->rng * 0x2545F4914F6CDD1Dull;
}

/* A value in 0 .. @max inclusive. */
static uint32_t
peer_rand_upto(struct peer *p, uint32_t max)
{
    return (uint32_t)(peer_rand(p) % ((uint64_t)max + 1u));
}

static uint64_t
peer_parse_u64(const char *flag, const char *s, uint64_t min, uint64_t max)
{
    char *end;
    unsigned long long v;

    errno = 0;
    if (s[0] < '0' || s[0] > '9') {
        peer_die_usage("%s: '%s' is not a number", flag, s);
    }
    v = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < min || v > max) {
        peer_die_usage("%s: '%s' is not a number in %" PRIu64 "..%" PRIu64,
                       flag, s, min, max);
    }
    return v;
}

/* The SPEC.md section 5 name of a status, "NONE" .. "PROTOCOL_ERROR". */
static const char *
peer_status_name(uint32_t status)
{
    return vgpu_strerror((int)(status > INT32_MAX ? INT32_MAX : status));
}

static int
peer_parse_status(const char *flag, const char *s)
{
    for (uint32_t i = 0; i < VGPU_ERR_COUNT; i++) {
        if (strcasecmp(s, peer_status_name(i)) == 0) {
            return (int)i;
        }
    }
    peer_die_usage("%s: '%s' is not a status name (NONE, INVALID_REQUEST, "
                   "REJECTED, PROTOCOL_ERROR, ...)",
                   flag, s);
}

/* Print @len bytes of a reason as a quoted, printable string. */
static void
peer_print_quoted(FILE *f, const uint8_t *s, size_t len)
{
    fputc('"', f);
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '"' || s[i] == '\\') {
            fprintf(f, "\\%c", s[i]);
        } else if (s[i] >= 0x20 && s[i] < 0x7f) {
            fputc(s[i], f);
        } else {
            fprintf(f, "\\x%02x", s[i]);
        }
    }
    fputc('"', f);
}

/* ---- Socket I/O with bounded waits --------------------------------------- */

/* Milliseconds for poll() until @deadline_ns (at least 1 unless passed). */
static int
peer_poll_ms(uint64_t deadline_ns)
{
    uint64_t now = peer_now_ns();
    uint64_t ms;

    if (now >= deadline_ns) {
        return 0;
    }
    ms = (deadline_ns - now + PEER_NS_PER_MS - 1) / PEER_NS_PER_MS;
    return ms > INT32_MAX ? INT32_MAX : (int)ms;
}

static uint64_t
peer_deadline(const struct peer *p)
{
    return peer_now_ns() + p->o.timeout_ms * PEER_NS_PER_MS;
}

/* Connect to --socket, retrying while it is absent or refusing, until the
 * timeout. Return 0, -ETIMEDOUT, or another negative errno code. */
static int
peer_connect(struct peer *p)
{
    struct sockaddr_un sa;
    uint64_t deadline = peer_deadline(p);

    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    if (strlen(p->o.socket) >= sizeof(sa.sun_path)) {
        peer_err("--socket: '%s' is longer than %zu bytes", p->o.socket,
                 sizeof(sa.sun_path) - 1);
        return -ENAMETOOLONG;
    }
    memcpy(sa.sun_path, p->o.socket, strlen(p->o.socket) + 1);
    for (;;) {
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        int err;

        if (fd < 0) {
            err = errno;
            peer_err("socket: %s", strerror(err));
            return -err;
        }
        if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
            p->fd = fd;
            p->in_len = 0;
            p->in_off = 0;
            vgpu_decoder_init(&p->dec, p->dec_buf, sizeof(p->dec_buf),
                              VGPU_MAX_PAYLOAD);
            return 0;
        }
        err = errno;
        close(fd);
        if (err != ENOENT && err != ECONNREFUSED && err != EAGAIN) {
            peer_err("connect %s: %s", p->o.socket, strerror(err));
            return -err;
        }
        if (peer_now_ns() >= deadline) {
            peer_err("connect %s: %s for %" PRIu64 " ms", p->o.socket,
                     strerror(err), p->o.timeout_ms);
            return -ETIMEDOUT;
        }
        usleep(10000);
    }
}

static void
peer_disconnect(struct peer *p)
{
    if (p->fd >= 0) {
        close(p->fd);
        p->fd = -1;
    }
}

/* Send all of @buf before @deadline_ns. Return 0, -ETIMEDOUT, or -EPIPE /
 * -ECONNRESET when the mediator has closed the connection. */
static int
peer_send_until(struct peer *p, const uint8_t *buf, size_t len,
                uint64_t deadline_ns)
{
    size_t off = 0;

    while (off < len) {
        struct pollfd pfd = {.fd = p->fd, .events = POLLOUT};
        ssize_t n;
        int rc = poll(&pfd, 1, peer_poll_ms(deadline_ns));

        if (rc < 0 && errno == EINTR) {
            continue;
        }
        if (rc < 0) {
            return -errno;
        }
        if (rc == 0) {
            return -ETIMEDOUT;
        }
        n = send(p->fd, buf + off, len - off, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK) {
                continue;
            }
            return errno == ECONNRESET ? -EPIPE : -errno;
        }
        off += (size_t)n;
    }
    return 0;
}

static int
peer_send(struct peer *p, const uint8_t *buf, size_t len)
{
    return peer_send_until(p, buf, len, peer_deadline(p));
}

/* Encode and send one frame of @type with @payload. */
static int
peer_send_frame(struct peer *p, uint16_t type, uint32_t req_id,
                const void *payload, size_t len)
{
    struct vgpu_hdr h;
    uint8_t frame[PEER_FRAME_CAP];
    int n;

    vgpu_hdr_init(&h, type);
    h.vm_id = p->o.vm_id;
    h.request_id = req_id;
    h.pool_id = p->o.pool;
    h.priority = p->o.prio;
    if (len > VGPU_BUF_SIZE && len <= VGPU_MAX_PAYLOAD) {
        /* A queue request: the header, then the payload where it is. */
        h.payload_len = (uint32_t)len;
        vgpu_hdr_pack(&h, frame);
        n = peer_send(p, frame, VGPU_HDR_SIZE);
        return n < 0 ? n : peer_send(p, payload, len);
    }
    n = vgpu_frame_encode(&h, payload, len, frame, sizeof(frame));
    if (n < 0) {
        peer_err("encode: %s", vgpu_strerror(n));
        return n;
    }
    return peer_send(p, frame, (size_t)n);
}

/*
 * The next whole frame from the mediator, waiting until @deadline_ns.
 * Return 1 with @f filled (its payload valid until the next call), 0 when the
 * mediator closed the connection at a frame boundary, -ETIMEDOUT, or another
 * negative code (a malformed frame, a cut-off frame, a socket error).
 */
static int
peer_recv_frame(struct peer *p, struct vgpu_frame *f, uint64_t deadline_ns)
{
    for (;;) {
        struct pollfd pfd = {.fd = p->fd, .events = POLLIN};
        ssize_t n;
        int rc;

        if (p->in_off < p->in_len) {
            size_t used = 0;

            rc = vgpu_decoder_feed(&p->dec, p->in + p->in_off,
                                   p->in_len - p->in_off, &used, f);
            p->in_off += used;
            if (rc != 0) {
                return rc;
            }
            continue;
        }
        rc = poll(&pfd, 1, peer_poll_ms(deadline_ns));
        if (rc < 0 && errno == EINTR) {
            continue;
        }
        if (rc < 0) {
            return -errno;
        }
        if (rc == 0) {
            return -ETIMEDOUT;
        }
        n = recv(p->fd, p->in, sizeof(p->in), MSG_DONTWAIT);
        if (n < 0 && (errno == EINTR || errno == EAGAIN)) {
            continue;
        }
        /* A Unix socket closed with unread input reports ECONNRESET once
         * the queued bytes are read: that is a close too. */
        if (n == 0 || (n < 0 && errno == ECONNRESET)) {
            rc = vgpu_decoder_finish(&p->dec);
            return rc < 0 ? rc : 0;
        }
        if (n < 0) {
            return -errno;
        }
        p->in_len = (size_t)n;
        p->in_off = 0;
    }
}

/* Say why a wait failed; return the exit status it implies. */
static int
peer_wait_failed(struct peer *p, int rc, const char *what)
{
    if (rc == -ETIMEDOUT) {
        peer_err("vm=%" PRIu32 ": timed out after %" PRIu64
                 " ms waiting for %s (%" PRIu32 " in flight)",
                 p->o.vm_id, p->o.timeout_ms, what, p->inflight);
        return PEER_EXIT_TIMEOUT;
    }
    if (rc == 0) {
        peer_err("vm=%" PRIu32 ": the mediator closed the connection while "
                 "waiting for %s (%" PRIu32 " in flight)",
                 p->o.vm_id, what, p->inflight);
    } else {
        peer_err("vm=%" PRIu32 ": receive failed waiting for %s: %s",
                 p->o.vm_id, what, vgpu_strerror(rc));
    }
    return PEER_EXIT_FAIL;
}

/* Describe frame @f on @out: `ERROR PROTOCOL_ERROR "reason"`. */
static void
peer_print_frame(FILE *out, const struct vgpu_frame *f)
{
    static const char *const type_names[] = {
        [VGPU_MSG_HELLO] = "HELLO",     [VGPU_MSG_HELLO_ACK] = "HELLO_ACK",
        [VGPU_MSG_REQUEST] = "REQUEST", [VGPU_MSG_RESPONSE] = "RESPONSE",
        [VGPU_MSG_ERROR] = "ERROR",     [VGPU_MSG_PING] = "PING",
        [VGPU_MSG_PONG] = "PONG",
    };
    uint16_t t = f->hdr.type;

    if (t >= VGPU_MSG_FIRST && t <= VGPU_MSG_LAST) {
        fprintf(out, "%s %s ", type_names[t], peer_status_name(f->hdr.status));
    } else {
        fprintf(out, "type %u %s ", (unsigned)t,
                peer_status_name(f->hdr.status));
    }
    peer_print_quoted(out, f->payload ? f->payload : (const uint8_t *)"",
                      f->payload ? f->hdr.payload_len : 0);
}

/*
 * HELLO and its answer. Return 0 on HELLO_ACK; 1 when the mediator answered
 * ERROR (the frame is left in @f for the caller); else an exit status > 1
 * through a negative value: -PEER_EXIT_FAIL or -PEER_EXIT_TIMEOUT.
 */
static int
peer_hello(struct peer *p, struct vgpu_frame *f)
{
    uint8_t hello[VGPU_HELLO_PAYLOAD_SIZE];
    uint32_t caps;
    int rc;

    vgpu_hello_pack(hello, VGPU_PROTOCOL_VERSION,
                    VGPU_CAPABILITIES | (p->o.queue ? VGPU_CAP_QUEUE : 0u));
    rc = peer_send_frame(p, VGPU_MSG_HELLO, 0, hello, sizeof(hello));
    if (rc < 0) {
        peer_err("vm=%" PRIu32 ": sending HELLO: %s", p->o.vm_id,
                 vgpu_strerror(rc));
        return -PEER_EXIT_FAIL;
    }
    rc = peer_recv_frame(p, f, peer_deadline(p));
    if (rc != 1) {
        return -peer_wait_failed(p, rc, "HELLO_ACK");
    }
    if (f->hdr.type == VGPU_MSG_ERROR) {
        return 1;
    }
    if (f->hdr.type != VGPU_MSG_HELLO_ACK || f->payload == NULL ||
        (p->o.queue
             ? vgpu_hello_ack_unpack_queue(f->payload, f->hdr.payload_len,
                                           &caps, &p->ack_max, &p->ack_inflight)
             : vgpu_hello_ack_unpack(f->payload, f->hdr.payload_len, &caps,
                                     &p->ack_max)) != 0) {
        fprintf(stderr, "%s: vm=%" PRIu32 ": HELLO answered by ", PEER_NAME,
                p->o.vm_id);
        peer_print_frame(stderr, f);
        fputc('\n', stderr);
        return -PEER_EXIT_FAIL;
    }
    if (p->o.queue) {
        printf("hello_ack caps=0x%" PRIx32 " max_payload=%" PRIu32
               " inflight=%" PRIu32 "\n",
               caps, p->ack_max, p->ack_inflight);
    }
    return 0;
}

/* Connect and HELLO; on an ERROR answer, print it. Return 0 or an exit
 * status. */
static int
peer_open(struct peer *p)
{
    struct vgpu_frame f;
    uint64_t t0 = peer_now_ns();
    int rc = peer_connect(p);

    if (rc == -ETIMEDOUT) {
        return PEER_EXIT_TIMEOUT;
    }
    if (rc < 0) {
        return PEER_EXIT_FAIL;
    }
    rc = peer_hello(p, &f);
    if (rc == 1) {
        fprintf(stderr, "%s: vm=%" PRIu32 ": HELLO refused: ", PEER_NAME,
                p->o.vm_id);
        peer_print_frame(stderr, &f);
        fputc('\n', stderr);
        return PEER_EXIT_FAIL;
    }
    if (rc < 0) {
        return -rc;
    }
    p->hello_us = (peer_now_ns() - t0) / PEER_NS_PER_US;
    if (p->o.ready_file != NULL) {
        FILE *rf = fopen(p->o.ready_file, "w");

        if (rf == NULL || fclose(rf) != 0) {
            peer_err("--ready-file %s: %s", p->o.ready_file, strerror(errno));
            return PEER_EXIT_FAIL;
        }
    }
    return 0;
}

/* ---- Requests ------------------------------------------------------------ */

/* A finite float with a fraction, in about -2048 .. 2048. */
static void
peer_put_rand_f32(struct peer *p, uint8_t *dst)
{
    float f = (float)((int32_t)(peer_rand(p) & 0xfffffu) - 0x80000) / 256.0f;
    uint32_t bits;

    memcpy(&bits, &f, sizeof(bits));
    vgpu_put_le32(dst, bits);
}

/* The largest n of @op in one 1 MiB queue request (MATMUL_F32: of
 * m = k = p). */
static uint32_t
peer_q_max_n(uint32_t op)
{
    switch (op) {
    case VGPU_OP_NOP:
        return 0;
    case VGPU_OP_ECHO:
        return PEER_Q_ECHO_MAX_N;
    case VGPU_OP_SAXPY_F32:
        return PEER_Q_SAXPY_MAX_N;
    case VGPU_OP_MATMUL_F32:
        return PEER_Q_MATMUL_MAX_DIM;
    default:
        return PEER_Q_ADD_MAX_N;
    }
}

/* The largest n of @op in one 1 KiB request (MATMUL_F32: of m = k = p), or
 * in one 1 MiB request with --queue. */
static uint32_t
peer_max_n(const struct peer_opts *o, uint32_t op)
{
    if (o->queue) {
        return peer_q_max_n(op);
    }
    switch (op) {
    case VGPU_OP_NOP:
        return 0;
    case VGPU_OP_ECHO:
        return VGPU_ECHO_MAX_N;
    case VGPU_OP_SAXPY_F32:
        return VGPU_SAXPY_MAX_N;
    case VGPU_OP_MATMUL_F32:
        return PEER_MATMUL_MAX_DIM;
    default:
        return VGPU_ADD_MAX_N;
    }
}

/* Build one valid request of @op into @req; return its length. With
 * --n the count is used (clamped to the op's limit for --op random), else a
 * mid size for a fixed op and a random size for --op random. */
static size_t
peer_build(struct peer *p, uint32_t op, uint8_t *req)
{
    uint32_t max = peer_max_n(&p->o, op);
    uint32_t n, k = 0, q = 0;
    size_t len, hdr = VGPU_OP_HDR_SIZE;

    if (p->o.n_set) {
        n = p->o.n < max ? p->o.n : max;
    } else if (p->o.op == PEER_OP_RANDOM) {
        n = peer_rand_upto(p, max);
    } else {
        n = op == VGPU_OP_MATMUL_F32 ? 8u : max / 2u;
    }
    if (op == VGPU_OP_MATMUL_F32) {
        if (p->o.n_set || p->o.op != PEER_OP_RANDOM) {
            k = n;
            q = n;
        } else {
            /* m, p in 1..16 with m*p <= 256, k so that m*k + k*p <= 252. */
            n = 1u + peer_rand_upto(p, 15u);
            q = 1u + peer_rand_upto(p, 15u);
            k = peer_rand_upto(p, VGPU_MATMUL_MAX_IN_ELEMS / (n + q));
        }
        hdr = VGPU_MATMUL_HDR_SIZE;
    }
    len = (size_t)vgpu_op_request_len(op, n, k, q);
    vgpu_put_le32(req, op);
    vgpu_put_le32(req + 4, n);
    if (op == VGPU_OP_MATMUL_F32) {
        vgpu_put_le32(req + 8, k);
        vgpu_put_le32(req + 12, q);
    }
    if (op == VGPU_OP_ECHO) {
        for (size_t off = hdr; off < len; off++) {
            req[off] = (uint8_t)peer_rand(p);
        }
        return len;
    }
    for (size_t off = hdr; off < len; off += VGPU_ELEM_SIZE) {
        if (op == VGPU_OP_ADD_I32) {
            vgpu_put_le32(req + off, (uint32_t)peer_rand(p));
        } else {
            peer_put_rand_f32(p, req + off);
        }
    }
    return len;
}

static struct peer_slot *
peer_slot_free(struct peer *p)
{
    for (uint32_t i = 0; i < p->o.pipeline; i++) {
        if (!p->slots[i].used) {
            return &p->slots[i];
        }
    }
    return NULL;
}

static struct peer_slot *
peer_slot_find(struct peer *p, uint32_t req_id)
{
    for (uint32_t i = 0; i < p->o.pipeline; i++) {
        if (p->slots[i].used && p->slots[i].req_id == req_id) {
            return &p->slots[i];
        }
    }
    return NULL;
}

/* Build and send the next request. Return 0, or a negative code. */
static int
peer_send_request(struct peer *p)
{
    struct peer_slot *s = peer_slot_free(p);
    uint32_t op = p->o.op;
    int rc;

    if (op == PEER_OP_RANDOM) {
        op = all_ops[peer_rand(p) % ALL_OPS_COUNT];
    }
    if (s->req == NULL) {
        s->req = p->shared_req;
    }
    s->len = peer_build(p, op, s->req);
    s->req_id = p->next_id++;
    s->sent_ns = peer_now_ns();
    rc = peer_send_frame(p, VGPU_MSG_REQUEST, s->req_id, s->req, s->len);
    if (rc < 0) {
        return rc;
    }
    s->used = true;
    p->inflight++;
    p->sent++;
    return 0;
}

/* One mismatch: count it and describe the first few. */
static void peer_report_bad(struct peer *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
peer_report_bad(struct peer *p, const char *fmt, ...)
{
    va_list ap;

    p->bad++;
    if (p->reports++ >= PEER_MAX_REPORTS) {
        return;
    }
    fprintf(stderr, "%s: vm=%" PRIu32 ": BAD: ", PEER_NAME, p->o.vm_id);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

/* Compare a DONE response with what the CPU backend computes here. */
static void
peer_verify(struct peer *p, const struct peer_slot *s,
            const struct vgpu_frame *f)
{
    struct vgpu_op_desc desc;
    uint8_t *want = p->want;
    size_t want_len = 0;
    char why[128];
    int st;
    const uint8_t *got = f->payload;
    size_t got_len = f->hdr.payload_len;

    if (vgpu_op_validate(s->req, s->len, &desc, why, sizeof(why)) != 0) {
        peer_report_bad(p, "req=%" PRIu32 ": own request invalid: %s",
                        s->req_id, why);
        return;
    }
    st = vgpu_backend_cpu.exec(p->cpu_ctx, &desc, want, p->req_cap, &want_len,
                               why, sizeof(why));
    if ((uint32_t)st != f->hdr.status) {
        peer_report_bad(p, "req=%" PRIu32 " op=%s: status %s, expected %s",
                        s->req_id, vgpu_op_name(desc.op),
                        peer_status_name(f->hdr.status),
                        peer_status_name((uint32_t)st));
        return;
    }
    if (st != VGPU_ERR_NONE) {
        return;
    }
    if (f->truncated || got_len != want_len) {
        peer_report_bad(p,
                        "req=%" PRIu32 " op=%s: %zu response bytes, "
                        "expected %zu",
                        s->req_id, vgpu_op_name(desc.op), got_len, want_len);
        return;
    }
    if (want_len == 0 || memcmp(got, want, want_len) == 0) {
        return;
    }
    if (desc.op == VGPU_OP_DOT_F32) {
        uint32_t a_bits = vgpu_get_le32(got), b_bits = vgpu_get_le32(want);
        float a, b;

        memcpy(&a, &a_bits, sizeof(a));
        memcpy(&b, &b_bits, sizeof(b));
        if (fabs((double)a - (double)b) <=
            PEER_DOT_REL_TOL * fmax(fabs((double)a), fabs((double)b))) {
            return;
        }
    }
    for (size_t i = 0; i < want_len; i++) {
        if (got[i] != want[i]) {
            peer_report_bad(p,
                            "req=%" PRIu32 " op=%s n=%" PRIu32
                            ": byte %zu is 0x%02x, expected 0x%02x",
                            s->req_id, vgpu_op_name(desc.op), desc.n, i, got[i],
                            want[i]);
            return;
        }
    }
}

/* Count a status that came back in an answer. */
static void
peer_count_status(struct peer *p, uint32_t st)
{
    if (st < VGPU_ERR_COUNT) {
        p->status_count[st]++;
    }
    if (st != VGPU_ERR_NONE) {
        p->errors++;
    }
}

/* A RESPONSE arrived: match, check and account for it. */
static void
peer_on_response(struct peer *p, const struct vgpu_frame *f, uint64_t t_ns)
{
    struct peer_slot *s = peer_slot_find(p, f->hdr.request_id);
    uint32_t st = f->hdr.status;
    uint64_t lat_us;

    if (s == NULL) {
        peer_report_bad(p, "RESPONSE for req=%" PRIu32 ", not in flight",
                        f->hdr.request_id);
        return;
    }
    s->used = false;
    p->inflight--;
    p->done++;
    lat_us = (t_ns - s->sent_ns) / 1000u;
    p->lat_sum_us += lat_us;
    if (lat_us > p->lat_max_us) {
        p->lat_max_us = lat_us;
    }
    peer_count_status(p, st);
    if (p->o.timestamps) {
        printf("done vm=%" PRIu32 " req=%" PRIu32 " t_ns=%" PRIu64
               " status=%s lat_us=%" PRIu64,
               p->o.vm_id, f->hdr.request_id, t_ns, peer_status_name(st),
               lat_us);
        if (st != VGPU_ERR_NONE) {
            printf(" msg=");
            peer_print_quoted(stdout,
                              f->payload ? f->payload : (const uint8_t *)"",
                              f->payload ? f->hdr.payload_len : 0);
        }
        putchar('\n');
    }
    if (f->hdr.vm_id != p->o.vm_id) {
        peer_report_bad(p, "req=%" PRIu32 ": RESPONSE carries vm_id %" PRIu32,
                        f->hdr.request_id, f->hdr.vm_id);
        return;
    }
    if (p->o.expect_status != PEER_NO_STATUS) {
        if (st != (uint32_t)p->o.expect_status) {
            peer_report_bad(p, "req=%" PRIu32 ": status %s, expected %s",
                            f->hdr.request_id, peer_status_name(st),
                            peer_status_name((uint32_t)p->o.expect_status));
        }
        return;
    }
    if (st == VGPU_ERR_NONE) {
        if (p->o.verify) {
            peer_verify(p, s, f);
        }
        return;
    }
    if (st >= VGPU_ERR_COUNT || !(p->o.allow_mask & (1u << st))) {
        fprintf(stderr, "%s: vm=%" PRIu32 ": BAD: req=%" PRIu32 ": ", PEER_NAME,
                p->o.vm_id, f->hdr.request_id);
        peer_print_frame(stderr, f);
        fputc('\n', stderr);
        p->bad++;
        p->reports++;
    }
}

/* Handle any frame in the requests mode. Return 0, or an exit status when
 * the mediator ended the conversation. */
static int
peer_on_frame(struct peer *p, const struct vgpu_frame *f, uint64_t t_ns)
{
    switch (f->hdr.type) {
    case VGPU_MSG_RESPONSE:
        peer_on_response(p, f, t_ns);
        return 0;
    case VGPU_MSG_PING:
        return peer_send_frame(p, VGPU_MSG_PONG, 0, NULL, 0) < 0
                   ? PEER_EXIT_FAIL
                   : 0;
    case VGPU_MSG_PONG:
        return 0;
    default:
        fprintf(stderr, "%s: vm=%" PRIu32 ": unexpected frame: ", PEER_NAME,
                p->o.vm_id);
        peer_print_frame(stderr, f);
        fputc('\n', stderr);
        p->bad++;
        return f->hdr.type == VGPU_MSG_ERROR ? PEER_EXIT_FAIL : 0;
    }
}

static void
peer_sleep_until_ms(uint64_t mono_ms)
{
    struct timespec ts = {
        .tv_sec = (time_t)(mono_ms / 1000u),
        .tv_nsec = (long)(mono_ms % 1000u) * 1000000L,
    };

    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) ==
           EINTR) {
    }
}

/* Whether to send another request: until --count, or until the end of
 * --duration-ms (@end_ns), and never after SIGUSR1. */
static bool
peer_more(const struct peer *p, uint64_t end_ns)
{
    if (peer_stop_requested) {
        return false;
    }
    return end_ns != 0 ? peer_now_ns() < end_ns : p->sent < p->o.count;
}

/* The default mode. Return the exit status. */
static int
peer_run_requests(struct peer *p)
{
    uint64_t end_ns = 0;
    int rc = peer_open(p);

    if (rc != 0) {
        return rc;
    }
    if (p->o.start_at_ms != 0) {
        peer_sleep_until_ms(p->o.start_at_ms);
    }
    if (p->o.duration_ms != 0) {
        end_ns = peer_now_ns() + p->o.duration_ms * PEER_NS_PER_MS;
    }
    for (;;) {
        struct vgpu_frame f;
        bool more = peer_more(p, end_ns);

        while (more && p->inflight < p->o.pipeline) {
            rc = peer_send_request(p);
            if (rc < 0) {
                peer_err("vm=%" PRIu32 ": sending req=%" PRIu32 ": %s",
                         p->o.vm_id, p->next_id - 1u, vgpu_strerror(rc));
                return rc == -ETIMEDOUT ? PEER_EXIT_TIMEOUT : PEER_EXIT_FAIL;
            }
            more = peer_more(p, end_ns);
        }
        if (p->inflight == 0) {
            return 0;
        }
        rc = peer_recv_frame(p, &f, peer_deadline(p));
        if (rc != 1) {
            return peer_wait_failed(p, rc, "a RESPONSE");
        }
        rc = peer_on_frame(p, &f, peer_now_ns());
        if (rc != 0) {
            return rc;
        }
    }
}

/* ---- --expect-hello-error ------------------------------------------------ */

static int
peer_run_hello_error(struct peer *p)
{
    struct vgpu_frame f;
    int rc = peer_connect(p);

    if (rc < 0) {
        return rc == -ETIMEDOUT ? PEER_EXIT_TIMEOUT : PEER_EXIT_FAIL;
    }
    rc = peer_hello(p, &f);
    if (rc < 0) {
        return -rc;
    }
    printf("hello: got ");
    peer_print_frame(stdout, &f);
    if (rc == 0 || f.hdr.status != (uint32_t)p->o.expect_hello_err) {
        printf(", expected ERROR %s\n",
               peer_status_name((uint32_t)p->o.expect_hello_err));
        p->bad++;
        return PEER_EXIT_FAIL;
    }
    rc = peer_recv_frame(p, &f, peer_deadline(p));
    if (rc != 0) {
        printf(", then %s\n", rc == 1 ? "another frame" : "no close");
        p->bad++;
        return rc == -ETIMEDOUT ? PEER_EXIT_TIMEOUT : PEER_EXIT_FAIL;
    }
    printf(", connection closed\n");
    return 0;
}

/* ---- --bad --------------------------------------------------------------- */

/* Send the malformed frame of @bad (after HELLO where that applies). */
static int
peer_send_bad(struct peer *p, enum peer_bad bad)
{
    static uint8_t frame[VGPU_HDR_SIZE + VGPU_MAX_PAYLOAD / 16u];
    uint8_t nop[VGPU_OP_HDR_SIZE] = {0};
    uint8_t hello[VGPU_HELLO_PAYLOAD_SIZE];
    struct vgpu_hdr h;
    size_t len;
    int n;

    vgpu_put_le32(nop, VGPU_OP_NOP);
    vgpu_hdr_init(&h, VGPU_MSG_REQUEST);
    h.vm_id = p->o.vm_id;
    h.request_id = 1;
    h.pool_id = p->o.pool;
    h.priority = p->o.prio;
    if (bad == BAD_SECOND_HELLO) {
        h.type = VGPU_MSG_HELLO;
        vgpu_hello_pack(hello, VGPU_PROTOCOL_VERSION, VGPU_CAPABILITIES);
        n = vgpu_frame_encode(&h, hello, sizeof(hello), frame, sizeof(frame));
    } else {
        n = vgpu_frame_encode(&h, nop, sizeof(nop), frame, sizeof(frame));
    }
    if (n < 0) {
        return n;
    }
    len = (size_t)n;
    switch (bad) {
    case BAD_MAGIC:
        vgpu_put_le32(frame + VGPU_HDR_OFF_MAGIC, PEER_BAD_MAGIC);
        break;
    case BAD_VERSION:
        vgpu_put_le16(frame + VGPU_HDR_OFF_VERSION, PEER_BAD_VERSION);
        break;
    case BAD_TYPE:
        vgpu_put_le16(frame + VGPU_HDR_OFF_TYPE, PEER_BAD_TYPE);
        break;
    case BAD_OVERSIZE: {
        /* One byte over the limit HELLO_ACK announced, payload included. */
        uint32_t over = (p->ack_max ? p->ack_max : VGPU_BUF_SIZE) + 1u;

        if (over > sizeof(frame) - VGPU_HDR_SIZE) {
            over = (uint32_t)(sizeof(frame) - VGPU_HDR_SIZE);
        }
        vgpu_put_le32(frame + VGPU_HDR_OFF_PAYLOAD_LEN, over);
        memset(frame + VGPU_HDR_SIZE + sizeof(nop), 0xa5, over - sizeof(nop));
        len = VGPU_HDR_SIZE + over;
        break;
    }
    default:
        break;
    }
    return peer_send(p, frame, len);
}

/* --bad bad-length: an ADD_I32 one byte short must be answered
 * INVALID_REQUEST on a connection that then serves a NOP. */
static int
peer_run_bad_length(struct peer *p)
{
    uint8_t req[VGPU_OP_HDR_SIZE + 2u * VGPU_ELEM_SIZE] = {0};
    uint8_t nop[VGPU_OP_HDR_SIZE] = {0};
    struct vgpu_frame f;
    int rc;

    vgpu_put_le32(req, VGPU_OP_ADD_I32);
    vgpu_put_le32(req + 4, 1);
    vgpu_put_le32(nop, VGPU_OP_NOP);
    rc = peer_send_frame(p, VGPU_MSG_REQUEST, 1, req, sizeof(req) - 1u);
    if (rc < 0) {
        peer_err("sending: %s", vgpu_strerror(rc));
        return PEER_EXIT_FAIL;
    }
    p->sent++;
    rc = peer_recv_frame(p, &f, peer_deadline(p));
    if (rc != 1) {
        return peer_wait_failed(p, rc, "the answer to a short ADD_I32");
    }
    p->done++;
    printf("bad=%s: got ", bad_names[BAD_LENGTH]);
    peer_print_frame(stdout, &f);
    if (f.hdr.type != VGPU_MSG_RESPONSE ||
        f.hdr.status != VGPU_ERR_INVALID_REQUEST || f.hdr.request_id != 1) {
        printf(", expected RESPONSE INVALID_REQUEST for req=1\n");
        p->bad++;
        return PEER_EXIT_FAIL;
    }
    peer_count_status(p, f.hdr.status);
    rc = peer_send_frame(p, VGPU_MSG_REQUEST, 2, nop, sizeof(nop));
    if (rc == 0) {
        p->sent++;
        rc = peer_recv_frame(p, &f, peer_deadline(p));
    }
    if (rc != 1 || f.hdr.type != VGPU_MSG_RESPONSE ||
        f.hdr.status != VGPU_ERR_NONE || f.hdr.request_id != 2) {
        printf(", but the NOP after it was not answered NONE\n");
        p->bad++;
        return rc == -ETIMEDOUT ? PEER_EXIT_TIMEOUT : PEER_EXIT_FAIL;
    }
    p->done++;
    peer_count_status(p, f.hdr.status);
    printf(", connection up; NOP answered NONE\n");
    return 0;
}

static int
peer_run_bad(struct peer *p)
{
    struct vgpu_frame f;
    int rc;

    if (p->o.bad == BAD_BEFORE_HELLO) {
        rc = peer_connect(p);
        if (rc < 0) {
            return rc == -ETIMEDOUT ? PEER_EXIT_TIMEOUT : PEER_EXIT_FAIL;
        }
    } else {
        rc = peer_open(p);
        if (rc != 0) {
            return rc;
        }
    }
    if (p->o.bad == BAD_LENGTH) {
        return peer_run_bad_length(p);
    }
    rc = peer_send_bad(p, p->o.bad);
    if (rc < 0) {
        /* The mediator may close before it has read all of a large frame;
         * what it answered is still to be read. */
        if (rc != -EPIPE) {
            peer_err("sending: %s", vgpu_strerror(rc));
            return rc == -ETIMEDOUT ? PEER_EXIT_TIMEOUT : PEER_EXIT_FAIL;
        }
    }
    p->sent++;
    rc = peer_recv_frame(p, &f, peer_deadline(p));
    printf("bad=%s: ", bad_names[p->o.bad]);
    if (rc != 1) {
        printf("%s\n", rc == 0            ? "closed without an ERROR frame"
                       : rc == -ETIMEDOUT ? "no answer (timed out)"
                                          : vgpu_strerror(rc));
        p->bad++;
        return rc == -ETIMEDOUT ? PEER_EXIT_TIMEOUT : PEER_EXIT_FAIL;
    }
    p->done++;
    printf("got ");
    peer_print_frame(stdout, &f);
    if (f.hdr.type != VGPU_MSG_ERROR ||
        f.hdr.status != VGPU_ERR_PROTOCOL_ERROR) {
        printf(", expected ERROR PROTOCOL_ERROR\n");
        p->bad++;
        return PEER_EXIT_FAIL;
    }
    peer_count_status(p, f.hdr.status);
    rc = peer_recv_frame(p, &f, peer_deadline(p));
    if (rc != 0) {
        printf(", but the connection %s\n",
               rc == 1 ? "sent another frame" : "was not closed");
        p->bad++;
        return rc == -ETIMEDOUT ? PEER_EXIT_TIMEOUT : PEER_EXIT_FAIL;
    }
    printf(", connection closed\n");
    return 0;
}

/* ---- --no-read ----------------------------------------------------------- */

static int
peer_run_no_read(struct peer *p)
{
    uint64_t start, end_ns, bytes = 0;
    uint8_t req[VGPU_BUF_SIZE];
    uint8_t frame[PEER_FRAME_CAP];
    int rc = peer_open(p);

    if (rc != 0) {
        return rc;
    }
    start = peer_now_ns();
    end_ns = start + (p->o.duration_ms ? p->o.duration_ms : p->o.timeout_ms) *
                         PEER_NS_PER_MS;
    for (;;) {
        struct vgpu_hdr h;
        uint32_t op = p->o.op == PEER_OP_RANDOM
                          ? all_ops[peer_rand(p) % ALL_OPS_COUNT]
                          : p->o.op;
        size_t len = peer_build(p, op, req);
        int n;

        vgpu_hdr_init(&h, VGPU_MSG_REQUEST);
        h.vm_id = p->o.vm_id;
        h.request_id = p->next_id++;
        h.pool_id = p->o.pool;
        h.priority = p->o.prio;
        n = vgpu_frame_encode(&h, req, len, frame, sizeof(frame));
        if (n < 0) {
            return PEER_EXIT_FAIL;
        }
        rc = peer_send_until(p, frame, (size_t)n, end_ns);
        if (rc == -EPIPE) {
            printf("no-read: sent %" PRIu64 " bytes in %" PRIu64
                   " requests; disconnected by the mediator after %" PRIu64
                   " ms\n",
                   bytes, p->sent, (peer_now_ns() - start) / PEER_NS_PER_MS);
            return 0;
        }
        if (rc == -ETIMEDOUT) {
            printf("no-read: sent %" PRIu64 " bytes in %" PRIu64
                   " requests; not disconnected after %" PRIu64 " ms\n",
                   bytes, p->sent, (peer_now_ns() - start) / PEER_NS_PER_MS);
            p->bad++;
            return PEER_EXIT_FAIL;
        }
        if (rc < 0) {
            peer_err("sending: %s", vgpu_strerror(rc));
            return PEER_EXIT_FAIL;
        }
        bytes += (uint64_t)n;
        p->sent++;
    }
}

/* ---- --connect-cycles ---------------------------------------------------- */

/* One cycle: HELLO, a NOP, then a half-close and the mediator's close, so
 * that the next HELLO with this vm_id comes after the mediator let go. */
static int
peer_one_cycle(struct peer *p, uint64_t *retries)
{
    uint8_t nop[VGPU_OP_HDR_SIZE] = {0};
    struct vgpu_frame f;
    int rc;

    for (;;) {
        rc = peer_connect(p);
        if (rc < 0) {
            return rc == -ETIMEDOUT ? PEER_EXIT_TIMEOUT : PEER_EXIT_FAIL;
        }
        rc = peer_hello(p, &f);
        if (rc < 0) {
            return -rc;
        }
        if (rc == 0) {
            break;
        }
        peer_disconnect(p);
        if (f.hdr.status != VGPU_ERR_REJECTED || ++*retries > 1000u) {
            fprintf(stderr, "%s: HELLO refused: ", PEER_NAME);
            peer_print_frame(stderr, &f);
            fputc('\n', stderr);
            return PEER_EXIT_FAIL;
        }
        usleep(1000);
    }
    vgpu_put_le32(nop, VGPU_OP_NOP);
    rc = peer_send_frame(p, VGPU_MSG_REQUEST, 1, nop, sizeof(nop));
    if (rc < 0) {
        peer_err("sending NOP: %s", vgpu_strerror(rc));
        return PEER_EXIT_FAIL;
    }
    p->sent++;
    rc = peer_recv_frame(p, &f, peer_deadline(p));
    if (rc != 1) {
        return peer_wait_failed(p, rc, "the NOP's RESPONSE");
    }
    p->done++;
    if (f.hdr.type != VGPU_MSG_RESPONSE || f.hdr.status != VGPU_ERR_NONE) {
        p->bad++;
        fprintf(stderr, "%s: NOP answered by ", PEER_NAME);
        peer_print_frame(stderr, &f);
        fputc('\n', stderr);
        return PEER_EXIT_FAIL;
    }
    shutdown(p->fd, SHUT_WR);
    rc = peer_recv_frame(p, &f, peer_deadline(p));
    peer_disconnect(p);
    if (rc != 0) {
        return peer_wait_failed(p, rc, "the close after a half-close");
    }
    return 0;
}

static int
peer_run_cycles(struct peer *p)
{
    uint64_t retries = 0, start = peer_now_ns();

    for (uint64_t i = 0; i < p->o.connect_cycles; i++) {
        int rc = peer_one_cycle(p, &retries);

        if (rc != 0) {
            peer_err("cycle %" PRIu64 " failed", i + 1u);
            return rc;
        }
    }
    printf("connect-cycles: %" PRIu64 " cycles in %" PRIu64 " ms, %" PRIu64
           " HELLO retries\n",
           p->o.connect_cycles, (peer_now_ns() - start) / PEER_NS_PER_MS,
           retries);
    return 0;
}

/* ---- Options ------------------------------------------------------------- */

static void
peer_usage(FILE *f)
{
    fprintf(
        f,
        "usage: %s --socket PATH [options]\n"
        "A device impersonator that speaks the vgpu wire protocol.\n"
        "  --socket PATH          the mediator's device socket (required)\n"
        "  --vm-id N              vm_id of HELLO and every frame (default 1)\n"
        "  --pool L               pool letter A-Z (default A)\n"
        "  --priority P           low, medium or high (default medium)\n"
        "  --op OP                nop, echo, add_i32, add_f32, saxpy_f32,\n"
        "                         dot_f32, matmul_f32 or random (default nop)\n"
        "  --n N                  element count (matmul: m = k = p = N)\n"
        "  --count K              requests to send (default 1)\n"
        "  --pipeline D           requests in flight at once (default 1)\n"
        "  --seed S               operand seed (default 1)\n"
        "  --duration-ms T        send for T ms instead of --count\n"
        "  --start-at-ms T        after HELLO, wait until CLOCK_MONOTONIC\n"
        "                         reaches T ms (see --clock)\n"
        "  --timeout-ms T         bound of every wait (default 10000)\n"
        "  --verify               check each result against the CPU backend\n"
        "  --timestamps           print `done vm= req= t_ns= status=` lines\n"
        "  --ready-file PATH      create PATH once HELLO is accepted\n"
        "SIGUSR1 stops sending; requests in flight are still collected.\n"
        "  --expect-status NAME   every response must have this status\n"
        "  --allow-status NAME    also accept this status (repeatable)\n"
        "  --expect-hello-error NAME  HELLO must be refused with NAME\n"
        "  --bad MODE             magic, version, type, oversize,\n"
        "                         before-hello, second-hello or bad-length\n"
        "  --no-read              flood requests without reading\n"
        "  --connect-cycles N     N x (connect, HELLO, NOP, disconnect)\n"
        "  --queue                offer the queue (HELLO capability bit 2):\n"
        "                         1 MiB requests, --n up to the queue's "
        "limits\n"
        "  --clock                print CLOCK_MONOTONIC in ms and exit\n"
        "  --help                 this text\n"
        "Prints `vm=V requests=K done=D errors=E bad=B ... hello_us=H` last. "
        "Exit: 0 when\n"
        "every expectation held, 1 when not, 2 bad usage, 3 a wait timed "
        "out.\n",
        PEER_NAME);
}

enum {
    OPT_SOCKET = 256,
    OPT_VM_ID,
    OPT_POOL,
    OPT_PRIORITY,
    OPT_OP,
    OPT_N,
    OPT_COUNT,
    OPT_PIPELINE,
    OPT_SEED,
    OPT_DURATION,
    OPT_START_AT,
    OPT_TIMEOUT,
    OPT_VERIFY,
    OPT_TIMESTAMPS,
    OPT_READY_FILE,
    OPT_EXPECT_STATUS,
    OPT_ALLOW_STATUS,
    OPT_EXPECT_HELLO_ERR,
    OPT_BAD,
    OPT_NO_READ,
    OPT_CYCLES,
    OPT_QUEUE,
    OPT_CLOCK,
    OPT_HELP,
};

static const struct option peer_longopts[] = {
    {"socket", required_argument, NULL, OPT_SOCKET},
    {"vm-id", required_argument, NULL, OPT_VM_ID},
    {"pool", required_argument, NULL, OPT_POOL},
    {"priority", required_argument, NULL, OPT_PRIORITY},
    {"op", required_argument, NULL, OPT_OP},
    {"n", required_argument, NULL, OPT_N},
    {"count", required_argument, NULL, OPT_COUNT},
    {"pipeline", required_argument, NULL, OPT_PIPELINE},
    {"seed", required_argument, NULL, OPT_SEED},
    {"duration-ms", required_argument, NULL, OPT_DURATION},
    {"start-at-ms", required_argument, NULL, OPT_START_AT},
    {"timeout-ms", required_argument, NULL, OPT_TIMEOUT},
    {"verify", no_argument, NULL, OPT_VERIFY},
    {"timestamps", no_argument, NULL, OPT_TIMESTAMPS},
    {"ready-file", required_argument, NULL, OPT_READY_FILE},
    {"expect-status", required_argument, NULL, OPT_EXPECT_STATUS},
    {"allow-status", required_argument, NULL, OPT_ALLOW_STATUS},
    {"expect-hello-error", required_argument, NULL, OPT_EXPECT_HELLO_ERR},
    {"bad", required_argument, NULL, OPT_BAD},
    {"no-read", no_argument, NULL, OPT_NO_READ},
    {"connect-cycles", required_argument, NULL, OPT_CYCLES},
    {"queue", no_argument, NULL, OPT_QUEUE},
    {"clock", no_argument, NULL, OPT_CLOCK},
    {"help", no_argument, NULL, OPT_HELP},
    {NULL, 0, NULL, 0},
};

static uint32_t
peer_parse_op(const char *s)
{
    uint32_t op;

    if (strcasecmp(s, "random") == 0) {
        return PEER_OP_RANDOM;
    }
    if (vgpu_op_lookup(s, &op) != 0) {
        peer_die_usage("--op: '%s' is not one of nop, echo, add_i32, add_f32, "
                       "saxpy_f32, dot_f32, matmul_f32, random",
                       s);
    }
    return op;
}

static void
peer_parse_arg(struct peer_opts *o, int c, const char *arg)
{
    switch (c) {
    case OPT_SOCKET:
        o->socket = arg;
        break;
    case OPT_VM_ID:
        o->vm_id = (uint32_t)peer_parse_u64("--vm-id", arg, 0, UINT32_MAX);
        break;
    case OPT_POOL:
        if (vgpu_pool_parse(arg, strlen(arg), 0, &o->pool) < 0) {
            peer_die_usage("--pool: '%s' is not a letter A-Z", arg);
        }
        break;
    case OPT_PRIORITY:
        if (vgpu_prio_parse(arg, strlen(arg), 0, &o->prio) < 0) {
            peer_die_usage("--priority: '%s' is not one of low, medium, high",
                           arg);
        }
        break;
    case OPT_OP:
        o->op = peer_parse_op(arg);
        break;
    case OPT_N:
        o->n = (uint32_t)peer_parse_u64("--n", arg, 0, PEER_Q_ECHO_MAX_N);
        o->n_set = true;
        break;
    case OPT_COUNT:
        o->count = peer_parse_u64("--count", arg, 0, UINT32_MAX);
        break;
    case OPT_PIPELINE:
        o->pipeline =
            (uint32_t)peer_parse_u64("--pipeline", arg, 1, PEER_MAX_PIPELINE);
        break;
    case OPT_SEED:
        o->seed = peer_parse_u64("--seed", arg, 0, UINT64_MAX);
        break;
    case OPT_DURATION:
        o->duration_ms = peer_parse_u64("--duration-ms", arg, 1, 3600000u);
        break;
    case OPT_START_AT:
        o->start_at_ms = peer_parse_u64("--start-at-ms", arg, 1, UINT32_MAX);
        break;
    case OPT_TIMEOUT:
        o->timeout_ms = peer_parse_u64("--timeout-ms", arg, 1, 3600000u);
        break;
    case OPT_VERIFY:
        o->verify = true;
        break;
    case OPT_READY_FILE:
        o->ready_file = arg;
        break;
    case OPT_TIMESTAMPS:
        o->timestamps = true;
        break;
    case OPT_EXPECT_STATUS:
        o->expect_status = peer_parse_status("--expect-status", arg);
        break;
    case OPT_ALLOW_STATUS:
        o->allow_mask |= 1u << peer_parse_status("--allow-status", arg);
        break;
    case OPT_EXPECT_HELLO_ERR:
        o->expect_hello_err = peer_parse_status("--expect-hello-error", arg);
        break;
    case OPT_BAD: {
        size_t i;

        for (i = BAD_MAGIC; i < BAD_COUNT; i++) {
            if (strcmp(arg, bad_names[i]) == 0) {
                break;
            }
        }
        if (i == BAD_COUNT) {
            peer_die_usage("--bad: '%s' is not one of magic, version, type, "
                           "oversize, before-hello, second-hello, bad-length",
                           arg);
        }
        o->bad = (enum peer_bad)i;
        break;
    }
    case OPT_NO_READ:
        o->no_read = true;
        break;
    case OPT_QUEUE:
        o->queue = true;
        break;
    case OPT_CYCLES:
        o->connect_cycles =
            peer_parse_u64("--connect-cycles", arg, 1, UINT32_MAX);
        break;
    default:
        peer_die_usage("unknown option");
    }
}

static void
peer_parse(int argc, char **argv, struct peer_opts *o)
{
    int c, modes;

    memset(o, 0, sizeof(*o));
    o->vm_id = 1;
    o->pool = VGPU_DEFAULT_POOL;
    o->prio = VGPU_DEFAULT_PRIORITY;
    o->op = VGPU_OP_NOP;
    o->count = 1;
    o->pipeline = 1;
    o->seed = 1;
    o->timeout_ms = VGPU_DEFAULT_TIMEOUT_MS;
    o->expect_status = PEER_NO_STATUS;
    o->expect_hello_err = PEER_NO_STATUS;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "", peer_longopts, NULL)) != -1) {
        if (c == OPT_HELP) {
            peer_usage(stdout);
            exit(PEER_EXIT_OK);
        }
        if (c == OPT_CLOCK) {
            printf("%" PRIu64 "\n", peer_now_ns() / PEER_NS_PER_MS);
            exit(PEER_EXIT_OK);
        }
        if (c == '?' || c == ':') {
            peer_die_usage("bad option '%s'", argv[optind - 1]);
        }
        peer_parse_arg(o, c, optarg);
    }
    if (optind < argc) {
        peer_die_usage("unexpected argument '%s'", argv[optind]);
    }
    if (o->socket == NULL) {
        peer_die_usage("--socket is required");
    }
    if (o->n_set && o->op != PEER_OP_RANDOM && o->n > peer_max_n(o, o->op)) {
        peer_die_usage("--n: %" PRIu32 " is over the limit of %s (%" PRIu32 ")",
                       o->n, vgpu_op_name(o->op), peer_max_n(o, o->op));
    }
    modes = (o->bad != BAD_NONE) + o->no_read + (o->connect_cycles != 0) +
            (o->expect_hello_err != PEER_NO_STATUS);
    if (modes > 1) {
        peer_die_usage("--bad, --no-read, --connect-cycles and "
                       "--expect-hello-error exclude each other");
    }
    if (o->expect_status != PEER_NO_STATUS && o->verify) {
        peer_die_usage("--expect-status and --verify exclude each other");
    }
}

int
main(int argc, char **argv)
{
    static struct peer p;
    char err[128];
    int rc;

    signal(SIGPIPE, SIG_IGN);
    signal(SIGUSR1, peer_on_sigusr1);
    setvbuf(stdout, NULL, _IOLBF, 0);
    peer_parse(argc, argv, &p.o);
    p.fd = -1;
    p.next_id = 1;
    p.rng = (p.o.seed ^ ((uint64_t)p.o.vm_id << 32)) * 0x9E3779B97F4A7C15ull +
            0x632BE59BD9B4E019ull;
    if (p.rng == 0) {
        p.rng = 1;
    }
    p.ack_inflight = 1;
    /* Without --verify every slot builds its request in one shared buffer
     * (64 slots of 1 MiB would be 64 MiB per peer for nothing). */
    p.req_cap = p.o.queue ? VGPU_MAX_PAYLOAD : VGPU_BUF_SIZE;
    p.slots = calloc(p.o.pipeline, sizeof(*p.slots));
    p.shared_req = malloc(p.req_cap);
    p.want = malloc(p.req_cap);
    if (p.slots == NULL || p.shared_req == NULL || p.want == NULL) {
        peer_err("out of memory");
        return PEER_EXIT_FAIL;
    }
    for (uint32_t i = 0; p.o.verify && i < p.o.pipeline; i++) {
        p.slots[i].req = malloc(p.req_cap);
        if (p.slots[i].req == NULL) {
            peer_err("out of memory");
            return PEER_EXIT_FAIL;
        }
    }
    if (vgpu_backend_cpu.open(NULL, &p.cpu_ctx, err, sizeof(err)) != 0) {
        peer_err("cpu backend: %s", err);
        free(p.slots);
        return PEER_EXIT_FAIL;
    }
    if (p.o.bad != BAD_NONE) {
        rc = peer_run_bad(&p);
    } else if (p.o.expect_hello_err != PEER_NO_STATUS) {
        rc = peer_run_hello_error(&p);
    } else if (p.o.no_read) {
        rc = peer_run_no_read(&p);
    } else if (p.o.connect_cycles != 0) {
        rc = peer_run_cycles(&p);
    } else {
        rc = peer_run_requests(&p);
    }
    peer_disconnect(&p);
    if (p.errors != 0) {
        printf("statuses:");
        for (uint32_t i = 0; i < VGPU_ERR_COUNT; i++) {
            if (p.status_count[i] != 0) {
                printf(" %s=%" PRIu64, peer_status_name(i), p.status_count[i]);
            }
        }
        printf("\n");
    }
    printf("vm=%" PRIu32 " requests=%" PRIu64 " done=%" PRIu64
           " errors=%" PRIu64 " bad=%" PRIu64 " lat_avg_us=%" PRIu64
           " lat_max_us=%" PRIu64 " hello_us=%" PRIu64 "\n",
           p.o.vm_id, p.sent, p.done, p.errors, p.bad,
           p.done ? p.lat_sum_us / p.done : 0, p.lat_max_us, p.hello_us);
    if (rc == 0 && p.bad != 0) {
        rc = PEER_EXIT_FAIL;
    }
    if (rc == 0 && p.o.bad == BAD_NONE && !p.o.no_read &&
        p.o.expect_hello_err == PEER_NO_STATUS && p.done != p.sent) {
        rc = PEER_EXIT_FAIL;
    }
    vgpu_backend_cpu.close(p.cpu_ctx);
    for (uint32_t i = 0; p.o.verify && i < p.o.pipeline; i++) {
        free(p.slots[i].req);
    }
    free(p.slots);
    free(p.shared_req);
    free(p.want);
    return rc;
}
