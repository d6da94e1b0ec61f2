/*
 * The server's connections (server.h): a record per accepted socket, its
 * bounded output buffer and writes, reading a device's bytes into the core,
 * the event callback, and the close, reap and sweep that end a connection.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "server_internal.h"

static const char *const server_kind_names[] = {
    [SERVER_KIND_DEVICE] = "device",
    [SERVER_KIND_CONTROL] = "control",
};

/* ---- Output ------------------------------------------------------------- */

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
int
vgpu_server_flush(struct server_conn *c)
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
int
vgpu_server_conn_send(struct server_conn *c, const uint8_t *p, size_t len)
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
            vgpu_server_mark_closing(c);
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
    struct server_conn *c = conn_opaque;

    /* The HELLO_ACK: the device has spoken, its HELLO deadline is off. */
    if (c->hello_pending && len >= VGPU_HDR_SIZE) {
        struct vgpu_hdr h;

        vgpu_hdr_unpack(bytes, &h);
        if (h.type == VGPU_MSG_HELLO_ACK) {
            c->hello_pending = 0;
            if (!c->closing) {
                c->deadline_ms = 0;
            }
        }
    }
    return vgpu_server_conn_send(c, bytes, len);
}

/* ops->close. */
static void
server_ops_close(void *conn_opaque)
{
    vgpu_server_mark_closing(conn_opaque);
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

void
vgpu_server_arm_sweep(struct vgpu_server *srv)
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

/* Put @c at the tail of the reap list. */
static void
server_reap_append(struct vgpu_server *srv, struct server_conn *c)
{
    c->reap_next = NULL;
    if (srv->reap_tail != NULL) {
        srv->reap_tail->reap_next = c;
    } else {
        srv->reap_head = c;
    }
    srv->reap_tail = c;
}

/* Stop reading and queue the connection for vgpu_server_reap(). Safe from
 * inside any call into the core: it frees nothing. */
void
vgpu_server_mark_closing(struct server_conn *c)
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
    server_reap_append(srv, c);
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

void
vgpu_server_conn_free(struct server_conn *c)
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
    srv->listeners[c->kind].nconns--;
    free(c->out);
    free(c);
}

void
vgpu_server_reap(struct vgpu_server *srv)
{
    struct server_conn *wait_head = NULL;
    struct server_conn *c;

    while ((c = srv->reap_head) != NULL) {
        srv->reap_head = c->reap_next;
        if (srv->reap_head == NULL) {
            srv->reap_tail = NULL;
        }
        c->reap_next = NULL;
        if (srv->draining && !c->broken && c->mc != NULL &&
            vgpu_mediator_conn_running(c->mc) > 0) {
            /* SIGTERM waits for what runs: its answer still goes out.
             * Looked at again at the next reap, after a completion. */
            c->reap_next = wait_head;
            wait_head = c;
            continue;
        }
        c->queued = 0;
        if (c->out_len > 0 && !c->broken && !c->overflowed) {
            (void)vgpu_server_flush(c);
        }
        if (c->out_len == 0 || c->broken || c->overflowed) {
            vgpu_server_conn_free(c);
            continue;
        }
        /* Output the peer has not read yet: linger until it is written
         * (server_conn_event() queues the connection again) or until the
         * deadline (the sweep does). */
        if (c->deadline_ms == 0) {
            c->deadline_ms = vgpu_event_now_ms() + VGPU_SERVER_LINGER_MS;
        }
        if (server_watch(c, VGPU_EVENT_WRITE) < 0) {
            vgpu_server_conn_free(c);
            continue;
        }
        vgpu_server_arm_sweep(srv);
    }
    /* Back on the list (still marked queued), in any order. */
    while (wait_head != NULL) {
        c = wait_head;
        wait_head = c->reap_next;
        server_reap_append(srv, c);
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
            if (c->hello_pending && !c->closing) {
                vgpu_server_note(srv, &srv->silent,
                                 "connection(s) closed: no HELLO within "
                                 "hello_timeout_ms",
                                 srv->listeners[c->kind].path);
            } else if (!c->broken) {
                vgpu_log_printf(srv->log, VGPU_LOG_DEBUG,
                                "conn fd=%d: %s connection timed out", c->fd,
                                server_kind_names[c->kind]);
            }
            c->broken = 1; /* give up on its output */
            c->deadline_ms = 0;
            vgpu_server_mark_closing(c);
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

/* ---- Device connections and the event callback ------------------------- */

/*
 * A queue device may have its accepted in-flight count of answers of up to
 * 1 MiB each unread before it sends more, so its output bound is that many
 * largest frames on top of --output-kib: a device that keeps to its
 * HELLO_ACK is never cut off; one that does not read is, as before, once
 * the bound fills. A mailbox device keeps --output-kib (its answers are at
 * most 1 KiB). Set once, after the HELLO.
 */
static void
server_size_output(struct server_conn *c)
{
    uint32_t inflight = vgpu_mediator_conn_inflight(c->mc);

    if (c->out_sized || inflight == 0) {
        return;
    }
    c->out_sized = 1;
    c->out_cap = c->srv->output_cap +
                 (size_t)inflight * (VGPU_HDR_SIZE + VGPU_MAX_PAYLOAD);
}

/* Read once and feed the core. Return: 2 if a whole chunk was read (more
 * may wait), 1 if fewer bytes, else 0. */
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
        vgpu_server_mark_closing(c);
        return 0;
    }
    c->srv->current_fd = c->fd;
    rc = vgpu_mediator_conn_input(c->mc, buf, (size_t)n);
    c->srv->current_fd = -1;
    server_size_output(c);
    if (rc < 0) {
        vgpu_server_mark_closing(c); /* the core has called ops->close too */
    }
    return n == (ssize_t)sizeof(buf) ? 2 : 1;
}

/* Every frame the peer has sent is read in one turn (a short read means
 * the socket is empty), so the dispatch that follows sees all of them:
 * at most SERVER_MAILBOX_READS chunks for a mailbox device, one whole
 * 1 MiB request for a queue device. */
void
vgpu_server_device_input(struct server_conn *c)
{
    int reads = SERVER_MAILBOX_READS;

    for (int i = 0; i < reads && !c->closing; i++) {
        if (server_device_read(c) != 2) {
            break;
        }
        if (c->mc != NULL && vgpu_mediator_conn_inflight(c->mc) > 0) {
            reads = SERVER_QUEUE_READS;
        }
    }
}

static void
server_conn_event(struct vgpu_event_loop *loop, int fd, void *data, int mask)
{
    struct server_conn *c = data;

    if ((mask & VGPU_EVENT_WRITE) && c->out_len > 0) {
        if (vgpu_server_flush(c) < 0) {
            vgpu_server_mark_closing(c);
            return;
        }
    }
    if (c->out_len == 0) {
        vgpu_event_del(loop, fd, VGPU_EVENT_WRITE);
        if (c->closing) {
            vgpu_server_mark_closing(c); /* flushed: reap may close it now */
            return;
        }
    }
    if ((mask & VGPU_EVENT_READ) && !c->closing) {
        c->srv->listeners[c->kind].on_read(c);
    }
}

void
vgpu_server_accept_one(struct server_listener *l, int fd)
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
        c->hello_pending = 1;
    } else {
        /* One answer, generated at once: bounded by the stats text. */
        c->out_cap = SIZE_MAX;
    }
    /* A peer that never speaks holds a descriptor for this long at most. */
    c->deadline_ms = vgpu_event_now_ms() + srv->hello_timeout_ms;
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
    l->nconns++;
    if (c->deadline_ms != 0) {
        vgpu_server_arm_sweep(srv);
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

void
vgpu_server_drain(struct vgpu_server *srv, int linger_ms)
{
    uint64_t deadline = vgpu_event_now_ms() + (uint64_t)linger_ms;

    srv->draining = 1;
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
        vgpu_server_mark_closing(c);
    }
}

void
vgpu_server_close_all(struct vgpu_server *srv)
{
    while (srv->conns != NULL) {
        struct server_conn *c = srv->conns;

        if (!c->overflowed) {
            (void)vgpu_server_flush(c);
        }
        vgpu_server_conn_free(c);
    }
    srv->reap_head = NULL;
    srv->reap_tail = NULL;
}
