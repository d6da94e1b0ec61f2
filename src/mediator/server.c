/*
 * The daemon's transport (server.h): Unix sockets on the event loop.
 *
 * Every connection, device or control, is a struct server_conn on one list.
 * A connection to close is put on a second list (the reap list) and freed by
 * vgpu_server_reap() only; a timer (the sweep) runs while some connection
 * has a deadline: a control client's answer, or a closing connection's
 * linger.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "server.h"
#include "transport.h"
#include "vgpu/common.h"
#include "vgpu/ctl.h"
#include "vgpu/regs.h"

/* Bytes read per readiness event; the loop is level-triggered, so a peer
 * with more waiting is read again at the next iteration. */
#define SERVER_READ_CHUNK      16384
/* Connections accepted per readiness event of a listener. */
#define SERVER_ACCEPT_BATCH    64
/* The accept back-off when the process is out of descriptors. */
#define SERVER_ACCEPT_PAUSE_MS 100
/* The sweep's period while some connection has a deadline. */
#define SERVER_SWEEP_MS        100
/* Reads of each device connection's pending input at a drain. */
#define SERVER_DRAIN_READS     16
/* Reads of unread input before a close (server_discard_input()). */
#define SERVER_DISCARD_READS   4
/* First allocation of an output buffer. */
#define SERVER_OUT_INITIAL     4096

#define SERVER_KIND_DEVICE  0
#define SERVER_KIND_CONTROL 1

#define SERVER_CMD_STATS "stats"

struct vgpu_server;

struct server_listener {
    struct vgpu_server *srv;
    int kind;
    int fd; /* -1: not listening */
    char *path;
    dev_t dev; /* the socket file we bound, to unlink only ours */
    ino_t ino;
    int64_t pause_timer; /* 0: accepting */
};

struct server_conn {
    const struct vgpu_transport *transport; /* first member: transport.h */
    struct vgpu_server *srv;
    int fd;
    int kind;
    struct vgpu_mconn *mc; /* device connections */
    uint8_t *out;          /* output: out[head .. head + len) */
    size_t out_head;
    size_t out_len;
    size_t out_alloc;
    size_t out_cap;       /* the bound */
    uint64_t deadline_ms; /* 0: none */
    int closing;          /* reads no more; closes once flushed */
    int broken;           /* the socket failed: nothing more is written */
    int overflowed;       /* a send went over the bound */
    int queued;           /* on the reap list */
    int freeing;          /* inside server_conn_free() */
    char cmd[VGPU_SERVER_CONTROL_LINE_MAX];
    size_t cmd_len;
    struct server_conn *prev, *next; /* all connections */
    struct server_conn *reap_next;
};

struct vgpu_server {
    struct vgpu_event_loop *loop;
    struct vgpu_log *log;
    struct vgpu_mediator *m;
    size_t output_cap;
    struct server_listener listeners[2]; /* by SERVER_KIND_* */
    struct server_conn *conns;
    size_t nconns;
    struct server_conn *reap_head, *reap_tail;
    int64_t sweep_timer; /* 0: not armed */
    int current_fd;      /* the connection whose input the core handles */
};

static const char *const server_kind_names[] = {
    [SERVER_KIND_DEVICE] = "device",
    [SERVER_KIND_CONTROL] = "control",
};

/* ---- Output ------------------------------------------------------------- */

static void server_mark_closing(struct server_conn *c);

static int server_watch(struct server_conn *c, int mask);

static void server_conn_event(struct vgpu_event_loop *loop, int fd, void *data,
                              int mask);

static int
server_watch(struct server_conn *c, int mask)
{
    return vgpu_event_add(c->srv->loop, c->fd, mask, server_conn_event, c);
}

/* One send() that never blocks and never raises SIGPIPE.
 * Return: bytes written (0 when the socket is full), or a negative errno. */
static ssize_t
server_write(int fd, const uint8_t *p, size_t len)
{
    for (;;) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);

        if (n >= 0) {
            return n;
        }
        if (errno == EINTR) {
            continue;
        }
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            return 0;
        }
        return -errno;
    }
}

/* Write as much of the buffer as the socket takes. Return: 0, or the
 * negative errno of a failed socket (c->broken is then set). */
static int
server_flush(struct server_conn *c)
{
    while (c->out_len > 0 && !c->broken) {
        ssize_t n = server_write(c->fd, c->out + c->out_head, c->out_len);

        if (n < 0) {
            c->broken = 1;
            return (int)n;
        }
        if (n == 0) {
            break;
        }
        c->out_head += (size_t)n;
        c->out_len -= (size_t)n;
    }
    if (c->out_len == 0) {
        c->out_head = 0;
    }
    return c->broken ? -EPIPE : 0;
}

static int
server_append(struct server_conn *c, const uint8_t *p, size_t len)
{
    size_t need = c->out_len + len;

    if (c->out_head + need > c->out_alloc && c->out_head > 0) {
        memmove(c->out, c->out + c->out_head, c->out_len);
        c->out_head = 0;
    }
    if (need > c->out_alloc) {
        size_t n = c->out_alloc ? c->out_alloc : SERVER_OUT_INITIAL;
        uint8_t *out;

        while (n < need) {
            n = n > SIZE_MAX / 2 ? need : n * 2;
        }
        if (n > c->out_cap && need <= c->out_cap) {
            n = c->out_cap;
        }
        out = realloc(c->out, n);
        if (out == NULL) {
            return -ENOMEM;
        }
        c->out = out;
        c->out_alloc = n;
    }
    memcpy(c->out + c->out_head + c->out_len, p, len);
    c->out_len += len;
    return 0;
}

/* Queue @len bytes for the peer: written at once when nothing is waiting
 * before them, the rest when the socket is writable. */
static int
server_conn_send(struct server_conn *c, const uint8_t *p, size_t len)
{
    int rc;

    if (c->broken) {
        return -EPIPE;
    }
    if (c->out_len + len > c->out_cap || c->out_len + len < len) {
        if (!c->overflowed) {
            vgpu_log_printf(c->srv->log, VGPU_LOG_WARN,
                            "conn fd=%d: output buffer full (%zu bytes "
                            "queued, bound %zu): the peer is not reading; "
                            "closing",
                            c->fd, c->out_len, c->out_cap);
        }
        c->overflowed = 1;
        return -ENOBUFS;
    }
    if (c->out_len == 0) {
        ssize_t n = server_write(c->fd, p, len);

        if (n < 0) {
            c->broken = 1;
            server_mark_closing(c);
            return (int)n;
        }
        p += n;
        len -= (size_t)n;
        if (len == 0) {
            return 0;
        }
    }
    rc = server_append(c, p, len);
    if (rc < 0) {
        return rc;
    }
    return server_watch(c, VGPU_EVENT_WRITE);
}

/* ops->send. */
static int
server_ops_send(void *conn_opaque, const uint8_t *bytes, size_t len)
{
    return server_conn_send(conn_opaque, bytes, len);
}

/* ops->close. */
static void
server_ops_close(void *conn_opaque)
{
    server_mark_closing(conn_opaque);
}

/* What the core's ops dispatch to for a socket connection. */
static const struct vgpu_transport server_transport = {
    .name = "socket",
    .send = server_ops_send,
    .close = server_ops_close,
};

void
vgpu_server_fill_ops(struct vgpu_mediator_ops *ops)
{
    vgpu_transport_fill_ops(ops); /* other transports share the core */
}

/* ---- Connection lifetime ------------------------------------------------ */

static int64_t server_sweep(struct vgpu_event_loop *loop, int64_t id,
                            void *data);

static void
server_arm_sweep(struct vgpu_server *srv)
{
    int64_t id;

    if (srv->sweep_timer > 0) {
        return;
    }
    id = vgpu_event_timer_add(srv->loop, SERVER_SWEEP_MS, server_sweep, srv);
    if (id > 0) {
        srv->sweep_timer = id;
    }
}

/* Stop reading and queue the connection for vgpu_server_reap(). Safe from
 * inside any call into the core: it frees nothing. */
static void
server_mark_closing(struct server_conn *c)
{
    struct vgpu_server *srv = c->srv;

    if (c->freeing) {
        return;
    }
    if (!c->closing) {
        c->closing = 1;
        vgpu_event_del(srv->loop, c->fd, VGPU_EVENT_READ);
    }
    if (c->queued) {
        return;
    }
    c->queued = 1;
    c->reap_next = NULL;
    if (srv->reap_tail != NULL) {
        srv->reap_tail->reap_next = c;
    } else {
        srv->reap_head = c;
    }
    srv->reap_tail = c;
}

/* Discard what the peer sent and we will not read, so that it sees the end
 * of our output and then EOF, rather than a reset (a Unix socket closed
 * with unread input resets its peer). Bounded: a peer still sending gets
 * the reset. */
static void
server_discard_input(int fd)
{
    uint8_t buf[SERVER_READ_CHUNK];

    for (int i = 0; i < SERVER_DISCARD_READS; i++) {
        ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return;
        }
    }
}

static void
server_conn_free(struct server_conn *c)
{
    struct vgpu_server *srv = c->srv;
    struct vgpu_mconn *mc = c->mc;

    c->freeing = 1;
    vgpu_event_del(srv->loop, c->fd, VGPU_EVENT_READ | VGPU_EVENT_WRITE);
    c->mc = NULL;
    if (mc != NULL) {
        vgpu_mediator_conn_close(mc);
    }
    vgpu_log_printf(
        srv->log, VGPU_LOG_DEBUG, "conn fd=%d: %s connection closed%s", c->fd,
        server_kind_names[c->kind], c->out_len ? " with output unsent" : "");
    if (!c->broken) {
        server_discard_input(c->fd);
    }
    close(c->fd);
    if (c->prev != NULL) {
        c->prev->next = c->next;
    } else {
        srv->conns = c->next;
    }
    if (c->next != NULL) {
        c->next->prev = c->prev;
    }
    srv->nconns--;
    free(c->out);
    free(c);
}

void
vgpu_server_reap(struct vgpu_server *srv)
{
    struct server_conn *c;

    while ((c = srv->reap_head) != NULL) {
        srv->reap_head = c->reap_next;
        if (srv->reap_head == NULL) {
            srv->reap_tail = NULL;
        }
        c->queued = 0;
        c->reap_next = NULL;
        if (c->out_len > 0 && !c->broken && !c->overflowed) {
            (void)server_flush(c);
        }
        if (c->out_len == 0 || c->broken || c->overflowed) {
            server_conn_free(c);
            continue;
        }
        /* Output the peer has not read yet: linger until it is written
         * (server_conn_event() queues the connection again) or until the
         * deadline (the sweep does). */
        if (c->deadline_ms == 0) {
            c->deadline_ms = vgpu_event_now_ms() + VGPU_SERVER_LINGER_MS;
        }
        if (server_watch(c, VGPU_EVENT_WRITE) < 0) {
            server_conn_free(c);
            continue;
        }
        server_arm_sweep(srv);
    }
}

/* Close the connections whose deadline has passed. */
static int64_t
server_sweep(struct vgpu_event_loop *loop, int64_t id, void *data)
{
    struct vgpu_server *srv = data;
    uint64_t now = vgpu_event_now_ms();
    int pending = 0;

    for (struct server_conn *c = srv->conns; c != NULL; c = c->next) {
        if (c->deadline_ms == 0) {
            continue;
        }
        if (now >= c->deadline_ms) {
            if (!c->broken) {
                vgpu_log_printf(srv->log, VGPU_LOG_DEBUG,
                                "conn fd=%d: %s connection timed out", c->fd,
                                server_kind_names[c->kind]);
            }
            c->broken = 1; /* give up on its output */
            c->deadline_ms = 0;
            server_mark_closing(c);
        } else {
            pending = 1;
        }
    }
    if (!pending) {
        srv->sweep_timer = 0;
        return VGPU_EVENT_TIMER_DONE;
    }
    return SERVER_SWEEP_MS;
}

/* ---- Control connections ------------------------------------------------ */

struct server_buf {
    char *p;
    size_t len;
    size_t alloc;
    int failed;
};

static void server_buf_printf(struct server_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
server_buf_printf(struct server_buf *b, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (b->failed) {
        return;
    }
    for (;;) {
        size_t room = b->alloc - b->len;

        va_start(ap, fmt);
        n = vsnprintf(b->p ? b->p + b->len : NULL, room, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->failed = 1;
            return;
        }
        if ((size_t)n < room) {
            b->len += (size_t)n;
            return;
        }
        size_t alloc = b->alloc ? b->alloc * 2 : 1024;
        char *p;

        while (alloc < b->len + (size_t)n + 1) {
            alloc *= 2;
        }
        p = realloc(b->p, alloc);
        if (p == NULL) {
            b->failed = 1;
            return;
        }
        b->p = p;
        b->alloc = alloc;
    }
}

static void
server_stats_line(const struct vgpu_vm_stats *s, void *arg)
{
    struct server_buf *b = arg;
    char line[VGPU_CTL_LINE_MAX];

    if (vgpu_ctl_format_vm(s, line, sizeof(line)) >= (int)sizeof(line)) {
        b->failed = 1;
        return;
    }
    server_buf_printf(b, "%s", line);
}

char *
vgpu_server_format_stats(const struct vgpu_mediator *m)
{
    struct server_buf lines = {0};
    struct server_buf out = {0};
    size_t n;

    n = vgpu_mediator_stats(m, server_stats_line, &lines);
    server_buf_printf(&out, "vms %zu\n%s", n, lines.p ? lines.p : "");
    free(lines.p);
    if (lines.failed || out.failed) {
        free(out.p);
        return NULL;
    }
    return out.p;
}

static void
server_control_answer(struct server_conn *c, const char *text)
{
    if (server_conn_send(c, (const uint8_t *)text, strlen(text)) < 0) {
        c->broken = 1;
    }
    server_mark_closing(c);
}

static void
server_control_command(struct server_conn *c, char *line)
{
    char msg[VGPU_SERVER_CONTROL_LINE_MAX + 64];
    char *text;

    line[strcspn(line, "\r")] = '\0';
    if (strcmp(line, SERVER_CMD_STATS) == 0 && c->srv->m != NULL) {
        text = vgpu_server_format_stats(c->srv->m);
        server_control_answer(c, text ? text : "error: out of memory\n");
        free(text);
        return;
    }
    for (char *p = line; *p != '\0'; p++) {
        if ((unsigned char)*p < 0x20 || (unsigned char)*p == 0x7f) {
            *p = '?';
        }
    }
    snprintf(msg, sizeof(msg), "error: unknown command '%s'\n", line);
    server_control_answer(c, msg);
}

static void
server_control_read(struct server_conn *c)
{
    size_t room = sizeof(c->cmd) - 1 - c->cmd_len;
    ssize_t n;
    char *nl;

    do {
        n = recv(c->fd, c->cmd + c->cmd_len, room, MSG_DONTWAIT);
    } while (n < 0 && errno == EINTR);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        return;
    }
    if (n < 0) {
        c->broken = 1;
        server_mark_closing(c);
        return;
    }
    c->cmd_len += (size_t)n;
    c->cmd[c->cmd_len] = '\0';
    nl = memchr(c->cmd, '\n', c->cmd_len);
    if (nl != NULL) {
        *nl = '\0';
        server_control_command(c, c->cmd);
    } else if (n == 0 && c->cmd_len > 0) {
        server_control_command(c, c->cmd); /* no newline before EOF */
    } else if (n == 0) {
        server_mark_closing(c);
    } else if (c->cmd_len == sizeof(c->cmd) - 1) {
        server_control_answer(c, "error: command line too long\n");
    }
}

/* ---- Device connections and the event callback ------------------------- */

/* Read once and feed the core. Return: 1 if bytes were read, else 0. */
static int
server_device_read(struct server_conn *c)
{
    uint8_t buf[SERVER_READ_CHUNK];
    ssize_t n;
    int rc;

    do {
        n = recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT);
    } while (n < 0 && errno == EINTR);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        return 0;
    }
    if (n <= 0) {
        /* A hang-up, maybe in the middle of a frame: the core drops the
         * partial frame and the queued requests when the connection is
         * closed. A reset socket cannot take our output any more. */
        if (n < 0) {
            c->broken = 1;
        }
        vgpu_log_printf(c->srv->log, VGPU_LOG_DEBUG, "conn fd=%d: %s", c->fd,
                        n == 0 ? "peer hung up" : "read failed");
        server_mark_closing(c);
        return 0;
    }
    c->srv->current_fd = c->fd;
    rc = vgpu_mediator_conn_input(c->mc, buf, (size_t)n);
    c->srv->current_fd = -1;
    if (rc < 0) {
        server_mark_closing(c); /* the core has called ops->close too */
    }
    return 1;
}

static void
server_conn_event(struct vgpu_event_loop *loop, int fd, void *data, int mask)
{
    struct server_conn *c = data;

    if ((mask & VGPU_EVENT_WRITE) && c->out_len > 0) {
        if (server_flush(c) < 0) {
            server_mark_closing(c);
            return;
        }
    }
    if (c->out_len == 0) {
        vgpu_event_del(loop, fd, VGPU_EVENT_WRITE);
        if (c->closing) {
            server_mark_closing(c); /* flushed: reap may close it now */
            return;
        }
    }
    if ((mask & VGPU_EVENT_READ) && !c->closing) {
        if (c->kind == SERVER_KIND_CONTROL) {
            server_control_read(c);
        } else {
            (void)server_device_read(c);
        }
    }
}

static void
server_accept_one(struct server_listener *l, int fd)
{
    struct vgpu_server *srv = l->srv;
    struct server_conn *c = calloc(1, sizeof(*c));

    if (c == NULL) {
        goto err;
    }
    c->srv = srv;
    c->fd = fd;
    c->transport = &server_transport;
    c->kind = l->kind;
    if (l->kind == SERVER_KIND_DEVICE) {
        c->out_cap = srv->output_cap;
        c->mc = vgpu_mediator_conn_open(srv->m, c);
        if (c->mc == NULL) {
            goto err_free;
        }
    } else {
        /* One answer, generated at once: bounded by the stats text. */
        c->out_cap = SIZE_MAX;
        c->deadline_ms = vgpu_event_now_ms() + VGPU_SERVER_CONTROL_TIMEOUT_MS;
    }
    if (vgpu_event_add(srv->loop, fd, VGPU_EVENT_READ, server_conn_event, c) <
        0) {
        goto err_conn;
    }
    c->next = srv->conns;
    if (srv->conns != NULL) {
        srv->conns->prev = c;
    }
    srv->conns = c;
    srv->nconns++;
    if (c->deadline_ms != 0) {
        server_arm_sweep(srv);
    }
    vgpu_log_printf(srv->log, VGPU_LOG_DEBUG, "conn fd=%d: %s connection", fd,
                    server_kind_names[l->kind]);
    return;

err_conn:
    if (c->mc != NULL) {
        vgpu_mediator_conn_close(c->mc);
    }
err_free:
    free(c);
err:
    vgpu_log_printf(srv->log, VGPU_LOG_ERROR,
                    "conn fd=%d: out of memory; closing", fd);
    close(fd);
}

static void server_listener_event(struct vgpu_event_loop *loop, int fd,
                                  void *data, int mask);

static int64_t
server_accept_resume(struct vgpu_event_loop *loop, int64_t id, void *data)
{
    struct server_listener *l = data;

    l->pause_timer = 0;
    if (l->fd >= 0) {
        (void)vgpu_event_add(loop, l->fd, VGPU_EVENT_READ,
                             server_listener_event, l);
    }
    return VGPU_EVENT_TIMER_DONE;
}

static void
server_listener_event(struct vgpu_event_loop *loop, int fd, void *data,
                      int mask)
{
    struct server_listener *l = data;

    for (int i = 0; i < SERVER_ACCEPT_BATCH; i++) {
        int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        int64_t id;

        if (cfd >= 0) {
            server_accept_one(l, cfd);
            continue;
        }
        if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO) {
            continue;
        }
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            return;
        }
        /* Out of descriptors or memory: the listener would be ready again
         * at once, so pause it instead of spinning. */
        vgpu_log_printf(l->srv->log, VGPU_LOG_WARN,
                        "%s: accept failed: %s; pausing %d ms", l->path,
                        strerror(errno), SERVER_ACCEPT_PAUSE_MS);
        id = vgpu_event_timer_add(loop, SERVER_ACCEPT_PAUSE_MS,
                                  server_accept_resume, l);
        if (id > 0) {
            vgpu_event_del(loop, fd, VGPU_EVENT_READ);
            l->pause_timer = id;
        }
        return;
    }
}

/* ---- Listening ---------------------------------------------------------- */

/* mkdir -p of the directory part of @path. */
static int
server_mkdirs(const char *path, char *err, size_t err_len)
{
    char dir[sizeof(((struct sockaddr_un *)0)->sun_path) + 1];
    size_t len;
    char *slash;

    len = strlen(path);
    if (len >= sizeof(dir)) {
        snprintf(err, err_len, "%s: path too long", path);
        return -ENAMETOOLONG;
    }
    memcpy(dir, path, len + 1);
    slash = strrchr(dir, '/');
    if (slash == NULL || slash == dir) {
        return 0; /* in the working directory, or in / */
    }
    *slash = '\0';
    for (char *p = dir + 1; p <= slash; p++) {
        char saved = *p;

        if (*p != '/' && *p != '\0') {
            continue;
        }
        *p = '\0';
        if (mkdir(dir, VGPU_SERVER_DIR_MODE) < 0 && errno != EEXIST) {
            int rc = -errno;

            snprintf(err, err_len, "cannot create directory %s: %s", dir,
                     strerror(errno));
            return rc;
        }
        *p = saved;
    }
    return 0;
}

static void
server_sockaddr(struct sockaddr_un *sa, const char *path)
{
    memset(sa, 0, sizeof(*sa));
    sa->sun_family = AF_UNIX;
    snprintf(sa->sun_path, sizeof(sa->sun_path), "%s", path);
}

/* Whether something answers on the socket at @path. Return: 1 if so, 0 if
 * not (the file is stale), or a negative errno when it cannot be told. */
static int
server_probe(const char *path)
{
    struct sockaddr_un sa;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    int rc;

    if (fd < 0) {
        return -errno;
    }
    server_sockaddr(&sa, path);
    rc = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
    if (rc == 0 || errno == EAGAIN || errno == EINPROGRESS) {
        rc = 1; /* accepted, or a listener with a full backlog */
    } else if (errno == ECONNREFUSED) {
        rc = 0;
    } else {
        rc = -errno;
    }
    close(fd);
    return rc;
}

static int
server_listener_open(struct vgpu_server *srv, struct server_listener *l,
                     char *err, size_t err_len)
{
    struct sockaddr_un sa;
    struct stat st;
    mode_t old_mask;
    int fd;
    int rc;

    rc = server_mkdirs(l->path, err, err_len);
    if (rc < 0) {
        return rc;
    }
    if (lstat(l->path, &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) {
            snprintf(err, err_len, "%s exists and is not a socket", l->path);
            return -EEXIST;
        }
        rc = server_probe(l->path);
        if (rc > 0) {
            snprintf(err, err_len,
                     "%s: another mediator is answering on this socket",
                     l->path);
            return -EADDRINUSE;
        }
        if (rc < 0) {
            snprintf(err, err_len, "%s: cannot check the socket: %s", l->path,
                     strerror(-rc));
            return rc;
        }
        if (unlink(l->path) < 0 && errno != ENOENT) {
            rc = -errno;
            snprintf(err, err_len, "%s: cannot remove the stale socket: %s",
                     l->path, strerror(errno));
            return rc;
        }
        vgpu_log_printf(srv->log, VGPU_LOG_INFO, "%s: replaced a stale socket",
                        l->path);
    }
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        rc = -errno;
        snprintf(err, err_len, "socket: %s", strerror(errno));
        goto err;
    }
    server_sockaddr(&sa, l->path);
    /* No moment where the socket is more open than its final mode. */
    old_mask = umask(0777 & ~VGPU_SERVER_SOCKET_MODE);
    rc = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
    umask(old_mask);
    if (rc < 0) {
        rc = -errno;
        snprintf(err, err_len, "%s: bind: %s", l->path, strerror(errno));
        goto err_close;
    }
    if (chmod(l->path, VGPU_SERVER_SOCKET_MODE) < 0 ||
        lstat(l->path, &st) < 0 || listen(fd, SOMAXCONN) < 0) {
        rc = -errno;
        snprintf(err, err_len, "%s: %s", l->path, strerror(errno));
        goto err_unlink;
    }
    l->dev = st.st_dev;
    l->ino = st.st_ino;
    rc = vgpu_event_add(srv->loop, fd, VGPU_EVENT_READ, server_listener_event,
                        l);
    if (rc < 0) {
        snprintf(err, err_len, "%s: %s", l->path, vgpu_strerror(rc));
        goto err_unlink;
    }
    l->fd = fd;
    return 0;

err_unlink:
    unlink(l->path);
err_close:
    close(fd);
err:
    return rc;
}

static void
server_listener_close(struct vgpu_server *srv, struct server_listener *l)
{
    struct stat st;

    if (l->pause_timer > 0) {
        vgpu_event_timer_del(srv->loop, l->pause_timer);
        l->pause_timer = 0;
    }
    if (l->fd < 0) {
        return;
    }
    vgpu_event_del(srv->loop, l->fd, VGPU_EVENT_READ);
    close(l->fd);
    l->fd = -1;
    /* Only the file we bound: another daemon may have replaced it. */
    if (lstat(l->path, &st) == 0 && st.st_dev == l->dev &&
        st.st_ino == l->ino) {
        unlink(l->path);
    }
}

int
vgpu_server_listen(struct vgpu_server *srv, char *err, size_t err_len)
{
    int rc;

    rc = server_listener_open(srv, &srv->listeners[SERVER_KIND_DEVICE], err,
                              err_len);
    if (rc < 0) {
        return rc;
    }
    rc = server_listener_open(srv, &srv->listeners[SERVER_KIND_CONTROL], err,
                              err_len);
    if (rc < 0) {
        server_listener_close(srv, &srv->listeners[SERVER_KIND_DEVICE]);
        return rc;
    }
    return 0;
}

void
vgpu_server_stop_accepting(struct vgpu_server *srv)
{
    server_listener_close(srv, &srv->listeners[SERVER_KIND_DEVICE]);
    server_listener_close(srv, &srv->listeners[SERVER_KIND_CONTROL]);
}

void
vgpu_server_drain(struct vgpu_server *srv, int linger_ms)
{
    uint64_t deadline = vgpu_event_now_ms() + (uint64_t)linger_ms;

    for (struct server_conn *c = srv->conns; c != NULL; c = c->next) {
        /* What a device sent before the signal is read now, so that the
         * core answers each of its requests (REJECTED, as it is shutting
         * down) rather than leaving them unanswered in the socket. */
        for (int i = 0; i < SERVER_DRAIN_READS && !c->closing &&
                        c->kind == SERVER_KIND_DEVICE && server_device_read(c);
             i++) {
        }
        if (c->deadline_ms == 0 || c->deadline_ms > deadline) {
            c->deadline_ms = deadline;
        }
        server_mark_closing(c);
    }
}

int
vgpu_server_current_fd(const struct vgpu_server *srv)
{
    return srv->current_fd;
}

size_t
vgpu_server_conn_count(const struct vgpu_server *srv)
{
    return srv->nconns;
}

void
vgpu_server_close_all(struct vgpu_server *srv)
{
    while (srv->conns != NULL) {
        struct server_conn *c = srv->conns;

        if (!c->overflowed) {
            (void)server_flush(c);
        }
        server_conn_free(c);
    }
    srv->reap_head = NULL;
    srv->reap_tail = NULL;
}

/* ---- Lifetime ----------------------------------------------------------- */

struct vgpu_server *
vgpu_server_create(struct vgpu_event_loop *loop, struct vgpu_log *log,
                   const struct vgpu_server_config *cfg)
{
    struct vgpu_server *srv = calloc(1, sizeof(*srv));

    if (srv == NULL) {
        goto err;
    }
    srv->loop = loop;
    srv->log = log;
    srv->output_cap = cfg->output_cap;
    srv->current_fd = -1;
    for (int k = SERVER_KIND_DEVICE; k <= SERVER_KIND_CONTROL; k++) {
        struct server_listener *l = &srv->listeners[k];
        const char *path =
            k == SERVER_KIND_DEVICE ? cfg->socket_path : cfg->control_path;

        l->srv = srv;
        l->kind = k;
        l->fd = -1;
        l->path = strdup(path);
        if (l->path == NULL) {
            goto err_paths;
        }
    }
    return srv;

err_paths:
    free(srv->listeners[SERVER_KIND_DEVICE].path);
    free(srv->listeners[SERVER_KIND_CONTROL].path);
    free(srv);
err:
    return NULL;
}

void
vgpu_server_set_mediator(struct vgpu_server *srv, struct vgpu_mediator *m)
{
    srv->m = m;
}

void
vgpu_server_destroy(struct vgpu_server *srv)
{
    if (srv == NULL) {
        return;
    }
    vgpu_server_close_all(srv);
    vgpu_server_stop_accepting(srv);
    if (srv->sweep_timer > 0) {
        vgpu_event_timer_del(srv->loop, srv->sweep_timer);
    }
    free(srv->listeners[SERVER_KIND_DEVICE].path);
    free(srv->listeners[SERVER_KIND_CONTROL].path);
    free(srv);
}
