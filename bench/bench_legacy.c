/*
 * bench_legacy: the legacy file transport's request latency against the
 * socket path's, on the same running vgpu-mediator (bench/legacy.sh starts
 * it with --legacy-dir).
 *
 * Both sides send the same request, ADD_I32 with n = 1 (the seed's
 * `vm_client_vector 100 200`), one at a time, and check every result:
 *   legacy  what vgpu-legacy-client does, without a process per request:
 *           write request.txt (a temporary file renamed into place), wait
 *           for response.txt with inotify, read and parse it; the time is
 *           taken from before the write to after the parse (removing the
 *           response comes after);
 *   socket  a HELLO'd connection, then REQUEST out, RESPONSE back.
 * The two take turns in ROUNDS alternating blocks so that load from
 * elsewhere on a shared machine falls on both alike; p50 and p99 of each,
 * and their ratio, are printed.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <stdalign.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/socket.h>
#include <sys/statfs.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "vgpu/legacy.h"
#include "vgpu/proto.h"
#include "vgpu/regs.h"

#define ROUNDS         5u
#define IO_TIMEOUT_MS  10000
#define DEFAULT_ITERS  2000u
#define SOCKET_VM_ID   2001u
#define ADD_N          1u
#define ADD_REQ_LEN    (VGPU_OP_HDR_SIZE + 2u * VGPU_ELEM_SIZE)
#define EVENT_BUF      4096
#define TMPFS_MAGIC_FS 0x01021994 /* statfs f_type values (linux/magic.h) */
#define EXT4_MAGIC_FS  0xEF53
#define XFS_MAGIC_FS   0x58465342
#define NFS_MAGIC_FS   0x6969

struct opts {
    const char *socket;
    const char *dir; /* DIR/vmN */
    uint64_t iters;
};

struct legacy_side {
    const char *dir;
    uint32_t vm_id;
    int ifd;
    char req[PATH_MAX];
    char tmp[PATH_MAX];
    char resp[PATH_MAX];
};

struct socket_side {
    int fd;
    uint32_t next_id;
    struct vgpu_decoder dec;
    uint8_t dec_buf[VGPU_BUF_SIZE];
};

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void
die(const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "bench_legacy: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(1);
}

static uint64_t
now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int
write_all(int fd, const void *buf, size_t len)
{
    const uint8_t *p = buf;

    while (len > 0) {
        ssize_t n = write(fd, p, len);

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* ---- Legacy side --------------------------------------------------------- */

static void
legacy_open(struct legacy_side *l, const char *dir)
{
    memset(l, 0, sizeof(*l));
    l->dir = dir;
    if (vgpu_legacy_dir_vm_id(dir, &l->vm_id) < 0) {
        die("--dir %s does not end in vmN", dir);
    }
    snprintf(l->req, sizeof(l->req), "%s/%s", dir, VGPU_LEGACY_REQUEST);
    snprintf(l->tmp, sizeof(l->tmp), "%s/.bench.tmp", dir);
    snprintf(l->resp, sizeof(l->resp), "%s/%s", dir, VGPU_LEGACY_RESPONSE);
    l->ifd = inotify_init1(IN_CLOEXEC);
    /* Once, for the whole run: an answer can never come before the watch. */
    if (l->ifd < 0 || inotify_add_watch(l->ifd, dir, IN_MOVED_TO) < 0) {
        die("inotify on %s: %s", dir, strerror(errno));
    }
    unlink(l->resp);
}

/* Block until response.txt is renamed into place. */
static void
legacy_wait(struct legacy_side *l)
{
    alignas(struct inotify_event) char buf[EVENT_BUF];
    struct pollfd pfd = {.fd = l->ifd, .events = POLLIN};

    for (;;) {
        ssize_t n;

        if (poll(&pfd, 1, IO_TIMEOUT_MS) <= 0) {
            die("no %s after %d ms", l->resp, IO_TIMEOUT_MS);
        }
        n = read(l->ifd, buf, sizeof(buf));
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            die("inotify read: %s", strerror(errno));
        }
        for (size_t off = 0; off + sizeof(struct inotify_event) <= (size_t)n;) {
            const struct inotify_event *ev =
                (const struct inotify_event *)(buf + off);

            if (ev->len > 0 && strcmp(ev->name, VGPU_LEGACY_RESPONSE) == 0) {
                return;
            }
            off += sizeof(*ev) + ev->len;
        }
    }
}

/* One request through the files; returns its latency in ns. */
static uint64_t
legacy_add(struct legacy_side *l, int32_t a, int32_t b)
{
    struct vgpu_legacy_req req = {VGPU_DEFAULT_POOL, VGPU_DEFAULT_PRIORITY,
                                  l->vm_id, a, b};
    struct vgpu_legacy_resp resp;
    char line[VGPU_LEGACY_LINE_MAX + 1];
    char text[VGPU_LEGACY_LINE_MAX + 1];
    uint64_t t0;
    uint64_t t1;
    ssize_t got;
    int len = vgpu_legacy_format_request(&req, line, sizeof(line));
    int fd;

    t0 = now_ns();
    fd = open(l->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0 || len < 0 || write_all(fd, line, (size_t)len) != 0 ||
        close(fd) != 0 || rename(l->tmp, l->req) != 0) {
        die("writing %s: %s", l->req, strerror(errno));
    }
    legacy_wait(l);
    fd = open(l->resp, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        die("%s: %s", l->resp, strerror(errno));
    }
    got = read(fd, text, sizeof(text));
    close(fd);
    t1 = now_ns();
    if (got <= 0 || vgpu_legacy_parse_response(text, (size_t)got, &resp) < 0 ||
        !resp.ok || resp.vm_id != l->vm_id ||
        resp.result != (int32_t)((uint32_t)a + (uint32_t)b)) {
        die("%s: '%.*s' is not ok:%u:%ld", l->resp, (int)(got > 0 ? got : 0),
            text, (unsigned)l->vm_id, (long)a + (long)b);
    }
    unlink(l->resp);
    return t1 - t0;
}

/* ---- Socket side --------------------------------------------------------- */

static int
socket_send(struct socket_side *s, uint16_t type, const void *payload,
            size_t len)
{
    uint8_t frame[VGPU_HDR_SIZE + ADD_REQ_LEN];
    struct vgpu_hdr h;
    int n;

    vgpu_hdr_init(&h, type);
    h.vm_id = SOCKET_VM_ID;
    h.request_id = s->next_id++;
    h.pool_id = VGPU_DEFAULT_POOL;
    h.priority = VGPU_DEFAULT_PRIORITY;
    n = vgpu_frame_encode(&h, payload, len, frame, sizeof(frame));
    return n < 0 ? -1 : write_all(s->fd, frame, (size_t)n);
}

static void
socket_recv(struct socket_side *s, struct vgpu_frame *f)
{
    uint8_t buf[256];

    for (;;) {
        ssize_t n = read(s->fd, buf, sizeof(buf));
        size_t off = 0;

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            die("socket read: %s", n == 0 ? "closed" : strerror(errno));
        }
        while (off < (size_t)n) {
            size_t used = 0;
            int rc = vgpu_decoder_feed(&s->dec, buf + off, (size_t)n - off,
                                       &used, f);

            off += used;
            if (rc < 0 || (rc == 1 && off != (size_t)n)) {
                die("socket: bad frame");
            }
            if (rc == 1) {
                return;
            }
        }
    }
}

static void
socket_open(struct socket_side *s, const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    struct timeval tv = {.tv_sec = IO_TIMEOUT_MS / 1000};
    uint8_t hello[VGPU_HELLO_PAYLOAD_SIZE];
    struct vgpu_frame f;

    memset(s, 0, sizeof(*s));
    s->next_id = 1;
    vgpu_decoder_init(&s->dec, s->dec_buf, sizeof(s->dec_buf),
                      VGPU_MAX_PAYLOAD);
    s->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s->fd < 0 || strlen(path) >= sizeof(sa.sun_path)) {
        die("socket %s: %s", path, strerror(errno));
    }
    memcpy(sa.sun_path, path, strlen(path) + 1);
    if (connect(s->fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        die("connect %s: %s", path, strerror(errno));
    }
    setsockopt(s->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(s->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    vgpu_hello_pack(hello, VGPU_PROTOCOL_VERSION, VGPU_CAPABILITIES);
    if (socket_send(s, VGPU_MSG_HELLO, hello, sizeof(hello)) != 0) {
        die("HELLO: %s", strerror(errno));
    }
    socket_recv(s, &f);
    if (f.hdr.type != VGPU_MSG_HELLO_ACK) {
        die("HELLO not acknowledged");
    }
}

static uint64_t
socket_add(struct socket_side *s, int32_t a, int32_t b)
{
    uint8_t req[ADD_REQ_LEN];
    struct vgpu_frame f;
    uint64_t t0;
    uint64_t t1;

    vgpu_put_le32(req, VGPU_OP_ADD_I32);
    vgpu_put_le32(req + 4, ADD_N);
    vgpu_put_le32(req + VGPU_OP_HDR_SIZE, (uint32_t)a);
    vgpu_put_le32(req + VGPU_OP_HDR_SIZE + VGPU_ELEM_SIZE, (uint32_t)b);
    t0 = now_ns();
    if (socket_send(s, VGPU_MSG_REQUEST, req, sizeof(req)) != 0) {
        die("REQUEST: %s", strerror(errno));
    }
    socket_recv(s, &f);
    t1 = now_ns();
    if (f.hdr.type != VGPU_MSG_RESPONSE || f.hdr.status != VGPU_ERR_NONE ||
        f.hdr.payload_len != VGPU_ELEM_SIZE || f.payload == NULL ||
        (int32_t)vgpu_get_le32(f.payload) !=
            (int32_t)((uint32_t)a + (uint32_t)b)) {
        die("socket: a wrong answer to %ld + %ld", (long)a, (long)b);
    }
    return t1 - t0;
}

/* ---- Figures ------------------------------------------------------------- */

static int
cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a;
    uint64_t y = *(const uint64_t *)b;

    return (x > y) - (x < y);
}

static double
pct_us(uint64_t *v, uint64_t n, double pct)
{
    uint64_t i = (uint64_t)(pct / 100.0 * (double)(n - 1) + 0.5);

    return (double)v[i] / 1000.0;
}

static const char *
fs_name(const char *dir)
{
    struct statfs sf;

    if (statfs(dir, &sf) != 0) {
        return "?";
    }
    switch ((unsigned long)sf.f_type) {
    case TMPFS_MAGIC_FS:
        return "tmpfs";
    case EXT4_MAGIC_FS:
        return "ext4";
    case XFS_MAGIC_FS:
        return "xfs";
    case NFS_MAGIC_FS:
        return "nfs";
    default:
        return "other";
    }
}

static void
usage(void)
{
    printf("usage: bench_legacy --socket PATH --dir DIR/vmN [--iters N]\n"
           "ADD_I32 n=1 latency through the legacy files of DIR/vmN and "
           "through\n"
           "the socket of the same vgpu-mediator, %u alternating blocks; "
           "N requests\n"
           "each (default %u).\n",
           ROUNDS, DEFAULT_ITERS);
}

int
main(int argc, char **argv)
{
    struct opts o = {.iters = DEFAULT_ITERS};
    struct legacy_side l;
    struct socket_side s;
    uint64_t *lat_l;
    uint64_t *lat_s;
    uint64_t n = 0;
    double l50, l99, s50, s99;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--socket") == 0 && i + 1 < argc) {
            o.socket = argv[++i];
        } else if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc) {
            o.dir = argv[++i];
        } else if (strcmp(argv[i], "--iters") == 0 && i + 1 < argc) {
            o.iters = strtoull(argv[++i], NULL, 10);
        } else {
            usage();
            return strcmp(argv[i], "--help") == 0 ? 0 : 2;
        }
    }
    if (o.socket == NULL || o.dir == NULL || o.iters < ROUNDS) {
        usage();
        return 2;
    }
    o.iters -= o.iters % ROUNDS;
    lat_l = calloc(o.iters, sizeof(*lat_l));
    lat_s = calloc(o.iters, sizeof(*lat_s));
    if (lat_l == NULL || lat_s == NULL) {
        die("out of memory");
    }
    legacy_open(&l, o.dir);
    socket_open(&s, o.socket);
    /* Warm up both paths (page cache, connections, the daemon's loop). */
    for (int i = 0; i < 50; i++) {
        (void)legacy_add(&l, i, i);
        (void)socket_add(&s, i, i);
    }
    for (unsigned r = 0; r < ROUNDS; r++) {
        uint64_t block = o.iters / ROUNDS;

        for (uint64_t i = 0; i < block; i++) {
            lat_l[n + i] = legacy_add(&l, (int32_t)(n + i), 1000);
        }
        for (uint64_t i = 0; i < block; i++) {
            lat_s[n + i] = socket_add(&s, (int32_t)(n + i), 1000);
        }
        n += block;
    }
    qsort(lat_l, n, sizeof(*lat_l), cmp_u64);
    qsort(lat_s, n, sizeof(*lat_s), cmp_u64);
    l50 = pct_us(lat_l, n, 50);
    l99 = pct_us(lat_l, n, 99);
    s50 = pct_us(lat_s, n, 50);
    s99 = pct_us(lat_s, n, 99);
    printf("== ADD_I32 n=1 round trip, %" PRIu64 " sequential requests each, "
           "in %u alternating blocks, every result checked\n",
           n, ROUNDS);
    printf("legacy files (%s, %s)    p50 %8.2f us  p99 %8.2f us\n", o.dir,
           fs_name(o.dir), l50, l99);
    printf("socket (vgpu-mediator)         p50 %8.2f us  p99 %8.2f us\n", s50,
           s99);
    printf("ratio legacy/socket: p50 %.1fx, p99 %.1fx\n", l50 / s50, l99 / s99);
    close(s.fd);
    close(l.ifd);
    free(lat_l);
    free(lat_s);
    return 0;
}
