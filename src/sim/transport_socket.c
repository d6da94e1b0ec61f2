/*
 * The socket transport: each VM has its own Unix stream connection to a
 * vgpu-mediator daemon, exactly as a QEMU device would.
 *
 * Connecting is blocking (connect, HELLO, and at most SIM_HELLO_TIMEOUT_MS
 * for HELLO_ACK); afterwards the socket is non-blocking. What the link
 * sends goes into the VM's output and is written as far as the socket
 * takes it; the rest, and every response, moves when the simulator is
 * pumped: vgpu_sim_poll() for every VM, one VM's STATUS or CQ_TAIL read,
 * its wait_irq or wait_queue. A pump writes and reads together, so a 1 MiB
 * request never waits for a daemon that waits for us to read.
 *
 * What each frame does is the VM's link's business (src/link). A connection
 * that ends (EOF, an error, an ERROR frame, a frame the link refuses) ends
 * the request in flight and is closed; the next doorbell reconnects once
 * and, if that fails, ends in MEDIATOR_UNAVAILABLE. A REQUEST that cannot
 * be written (the daemon went away and its EOF was not read yet) is sent
 * again on one fresh connection, as QEMU's device does. The device's
 * timeout (cfg.timeout_ms) is checked whenever the VM is pumped.
 *
 * Single-threaded, like the deterministic mode.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "sim_internal.h"

/* Milliseconds from @now until @when, rounded up, for poll(). */
static int
sock_ms_until(uint64_t now, uint64_t when)
{
    uint64_t ms;

    if (when <= now) {
        return 0;
    }
    ms = (when - now + SIM_NS_PER_MS - 1u) / SIM_NS_PER_MS;
    return ms > INT_MAX ? INT_MAX : (int)ms;
}

static uint64_t
sock_deadline(int timeout_ms)
{
    if (timeout_ms < 0) {
        return UINT64_MAX;
    }
    return sim_now_ns() + (uint64_t)timeout_ms * SIM_NS_PER_MS;
}

/* Close the socket; the link is not told. */
static void
sock_close(struct sim_vm *vm, int level, const char *why)
{
    if (vm->fd < 0) {
        return;
    }
    sim_log(vm->sim, level, "vm=%u: connection closed: %s",
            (unsigned)vm->dev.cfg.vm_id, why);
    close(vm->fd);
    vm->fd = -1;
    vm->out_len = 0;
    vm->out_off = 0;
}

/* This side ends the connection (EOF, an error, the caller): close it and
 * end the request in flight with MEDIATOR_UNAVAILABLE. */
static void
sock_drop(struct sim_vm *vm, int level, const char *why)
{
    if (vm->fd < 0) {
        return;
    }
    sock_close(vm, level, why);
    vgpu_link_down(&vm->link, VGPU_ERR_MEDIATOR_UNAVAILABLE, why, NULL);
}

/* Write what the output holds, as far as the socket takes it now. Return
 * 0 (all written, or the socket is full), or a negative errno when the
 * connection is broken. */
static int
sock_flush(struct sim_vm *vm)
{
    while (vm->out_off < vm->out_len) {
        ssize_t n =
            send(vm->fd, vm->out + vm->out_off, vm->out_len - vm->out_off,
                 MSG_NOSIGNAL | MSG_DONTWAIT);

        if (n > 0) {
            vm->out_off += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            return 0;
        }
        return n < 0 ? -errno : -EPIPE;
    }
    vm->out_off = 0;
    vm->out_len = 0;
    return 0;
}

/* The link's ops->send: straight to the socket when nothing waits before
 * it, and only what the socket does not take into the output (a queue
 * entry's 1 MiB payload is usually not copied at all); the rest goes when
 * the VM is pumped. */
static int
sock_send(struct sim_vm *vm, const uint8_t *frame, size_t len)
{
    size_t off = 0;
    int rc;

    if (vm->fd < 0) {
        return -ENOTCONN;
    }
    while (vm->out_len == 0 && off < len) {
        ssize_t n =
            send(vm->fd, frame + off, len - off, MSG_NOSIGNAL | MSG_DONTWAIT);

        if (n > 0) {
            off += (size_t)n;
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            break;
        } else {
            return n < 0 ? -errno : -EPIPE;
        }
    }
    if (off == len) {
        return 0;
    }
    rc = sim_out_append(vm, frame + off, len - off);
    return rc < 0 ? rc : sock_flush(vm);
}

/* The link's ops->lost: it has ended the connection. */
static void
sock_lost(struct sim_vm *vm, const char *why)
{
    sock_close(vm, VGPU_LOG_WARN, why);
}

/*
 * Read everything the socket holds and feed it to the VM. Return: 0 when
 * the socket is drained, -1 when the connection was dropped (EOF, an error,
 * or input that ends it).
 */
static int
sock_read_some(struct sim_vm *vm)
{
    uint8_t *buf = vm->sim->rbuf;
    char why[SIM_MSG_MAX];

    while (vm->fd >= 0) {
        ssize_t n = read(vm->fd, buf, SIM_READ_CHUNK);

        if (n > 0) {
            if (vgpu_link_input(&vm->link, buf, (size_t)n) < 0) {
                return -1; /* the link closed it (sock_lost) */
            }
            if ((size_t)n < SIM_READ_CHUNK) {
                return 0; /* drained: save the read() that says EAGAIN */
            }
            continue;
        }
        if (n == 0) {
            sock_drop(vm, VGPU_LOG_WARN, "the mediator closed the connection");
            return -1;
        }
        if (errno == EINTR) {
            continue;
        }
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            return 0;
        }
        snprintf(why, sizeof(why), "read: %s", strerror(errno));
        sock_drop(vm, VGPU_LOG_WARN, why);
        return -1;
    }
    return -1;
}

/* What to poll @vm's socket for: input always, room while output waits. */
static short
sock_events(const struct sim_vm *vm)
{
    return (short)(POLLIN | (vm->out_off < vm->out_len ? POLLOUT : 0));
}

/* Act on what poll() said of @vm's socket: write what waits, read what
 * came. Return: 0, or -1 when the connection was dropped. */
static int
sock_service(struct sim_vm *vm, short revents)
{
    char why[SIM_MSG_MAX];
    int rc;

    if (vm->fd >= 0 && (revents & POLLOUT)) {
        rc = sock_flush(vm);
        if (rc < 0) {
            snprintf(why, sizeof(why), "send: %s", strerror(-rc));
            sock_drop(vm, VGPU_LOG_WARN, why);
            return -1;
        }
    }
    if (vm->fd >= 0 && (revents & (POLLIN | POLLHUP | POLLERR))) {
        return sock_read_some(vm);
    }
    return vm->fd >= 0 ? 0 : -1;
}

/* The device's timeout for the request in flight. */
static void
sock_check_timeout(struct sim_vm *vm, uint64_t now)
{
    if (vm->deadline_ns != 0 && now >= vm->deadline_ns &&
        vgpu_dev_busy(&vm->dev)) {
        uint32_t id;

        vgpu_dev_inflight(&vm->dev, NULL, &id);
        sim_log(vm->sim, VGPU_LOG_WARN,
                "vm=%u req=%u: no response within %u ms: TIMEOUT",
                (unsigned)vm->dev.cfg.vm_id, (unsigned)id,
                (unsigned)vm->sim->cfg.timeout_ms);
        vm->deadline_ns = 0;
        vgpu_link_timeout(&vm->link);
    }
}

/* Connect @vm and wait for HELLO_ACK. Return 0, or a negative code with
 * vm->message set. */
static int
sock_connect(struct sim_vm *vm)
{
    const char *path = vm->sim->cfg.socket_path;
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    uint64_t deadline;
    int fd;
    int rc;

    vm->message[0] = '\0';
    if (strlen(path) >= sizeof(sa.sun_path)) {
        snprintf(vm->message, sizeof(vm->message),
                 "socket path %s is longer than %zu bytes", path,
                 sizeof(sa.sun_path) - 1u);
        return -ENAMETOOLONG;
    }
    memcpy(sa.sun_path, path, strlen(path) + 1u);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        rc = -errno;
        snprintf(vm->message, sizeof(vm->message), "socket: %s",
                 strerror(errno));
        return rc;
    }
    while (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        if (errno != EINTR) {
            rc = -errno;
            snprintf(vm->message, sizeof(vm->message),
                     "cannot connect to %s: %s", path, strerror(errno));
            close(fd);
            return rc;
        }
    }
    if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0) {
        rc = -errno;
        snprintf(vm->message, sizeof(vm->message), "fcntl: %s",
                 strerror(errno));
        close(fd);
        return rc;
    }
    vm->fd = fd;
    if (vgpu_link_up(&vm->link) < 0) {
        /* sock_lost() closed the socket. */
        snprintf(vm->message, sizeof(vm->message), "%s",
                 vgpu_link_reason(&vm->link));
        return -ECONNREFUSED;
    }
    deadline = sock_deadline(SIM_HELLO_TIMEOUT_MS);
    while (vgpu_link_state(&vm->link) == VGPU_LINK_HELLO) {
        struct pollfd p = {.fd = fd, .events = sock_events(vm)};
        uint64_t now = sim_now_ns();

        if (now >= deadline) {
            snprintf(vm->message, sizeof(vm->message),
                     "no HELLO_ACK from %s within %d ms", path,
                     SIM_HELLO_TIMEOUT_MS);
            sock_drop(vm, VGPU_LOG_WARN, vm->message);
            return -ETIMEDOUT;
        }
        if (poll(&p, 1, sock_ms_until(now, deadline)) < 0 && errno != EINTR) {
            rc = -errno;
            snprintf(vm->message, sizeof(vm->message), "poll: %s",
                     strerror(errno));
            sock_drop(vm, VGPU_LOG_WARN, vm->message);
            return rc;
        }
        if (sock_service(vm, p.revents) < 0) {
            /* The link's reason says why (an ERROR frame: a refused
             * HELLO). */
            snprintf(vm->message, sizeof(vm->message), "%s",
                     vgpu_link_reason(&vm->link));
            return -ECONNREFUSED;
        }
    }
    sim_log(vm->sim, VGPU_LOG_DEBUG, "vm=%u: connected to %s fd=%d",
            (unsigned)vm->dev.cfg.vm_id, path, fd);
    return 0;
}

static void
sock_stop(struct vgpu_sim *sim)
{
    if (sim->vms != NULL) {
        for (unsigned i = 0; i < sim->cfg.n_vms; i++) {
            if (sim->vms[i].fd >= 0) {
                close(sim->vms[i].fd);
                sim->vms[i].fd = -1;
            }
        }
    }
    free(sim->rbuf);
    free(sim->pfd_vm);
    free(sim->pfds);
    sim->rbuf = NULL;
    sim->pfd_vm = NULL;
    sim->pfds = NULL;
}

static int
sock_start(struct vgpu_sim *sim, char *err, size_t err_len)
{
    sim->pfds = calloc(sim->cfg.n_vms, sizeof(*sim->pfds));
    sim->pfd_vm = calloc(sim->cfg.n_vms, sizeof(*sim->pfd_vm));
    sim->rbuf = malloc(SIM_READ_CHUNK);
    if (sim->pfds == NULL || sim->pfd_vm == NULL || sim->rbuf == NULL) {
        snprintf(err, err_len, "out of memory");
        return -ENOMEM;
    }
    if (sim->cfg.no_mediator) {
        return 0;
    }
    for (unsigned i = 0; i < sim->cfg.n_vms; i++) {
        struct sim_vm *vm = &sim->vms[i];
        int rc = sock_connect(vm);

        if (rc < 0) {
            snprintf(err, err_len, "vm %u: %s", (unsigned)vm->dev.cfg.vm_id,
                     vm->message);
            return rc;
        }
    }
    return 0;
}

/* A queue entry: written when READY; otherwise it waits in the device's
 * ring and the connection is opened once the guest's register write
 * returns (sock_bus_write32). */
static int
sock_submit_queued(struct sim_vm *vm, const struct vgpu_request *req)
{
    int rc = vgpu_link_request(&vm->link, req);

    if (rc == -EAGAIN) {
        if (vm->connect_failed) {
            return (int)VGPU_ERR_MEDIATOR_UNAVAILABLE;
        }
        vm->want_connect = 1;
        return rc;
    }
    return rc < 0 ? (int)VGPU_ERR_INVALID_LENGTH : rc;
}

static int
sock_submit(struct sim_vm *vm, const struct vgpu_request *req)
{
    if (req->queued) {
        return sock_submit_queued(vm, req);
    }
    if (vgpu_link_request(&vm->link, req) < 0) {
        return VGPU_ERR_INVALID_LENGTH; /* not reached: len <= 1 KiB */
    }
    if (vgpu_link_state(&vm->link) == VGPU_LINK_DOWN) {
        /* Never connected since the last loss, or the REQUEST could not
         * be written: one fresh connection, which sends it at HELLO_ACK. */
        if (sock_connect(vm) < 0) {
            sim_log(vm->sim, VGPU_LOG_WARN, "vm=%u: cannot reconnect: %s",
                    (unsigned)vm->dev.cfg.vm_id, vm->message);
            vgpu_link_down(&vm->link, VGPU_ERR_MEDIATOR_UNAVAILABLE,
                           vm->message, NULL);
            return VGPU_ERR_MEDIATOR_UNAVAILABLE;
        }
        sim_log(vm->sim, VGPU_LOG_INFO, "vm=%u: reconnected",
                (unsigned)vm->dev.cfg.vm_id);
    }
    vm->deadline_ns = 0;
    if (vm->sim->cfg.timeout_ms > 0) {
        vm->deadline_ns =
            sim_now_ns() + (uint64_t)vm->sim->cfg.timeout_ms * SIM_NS_PER_MS;
    }
    return 0;
}

/* Whether a waiter of @queue's kind can stop (see threaded.c). */
static int
sock_settled(struct sim_vm *vm, int queue)
{
    return queue ? sim_q_settled(vm) : !vgpu_dev_busy(&vm->dev);
}

/* Read and write @vm's socket until the mailbox request ends (@queue 0) or
 * the queue has something to see (@queue 1), at most @timeout_ms (0: only
 * what is there now). Return: 1 when settled, else 0. */
static int
sock_pump(struct sim_vm *vm, int timeout_ms, int queue)
{
    uint64_t deadline = sock_deadline(timeout_ms);

    for (;;) {
        uint64_t now;

        if (sock_settled(vm, queue)) {
            return 1;
        }
        if (vm->fd >= 0) {
            /* Wait (not at all when @timeout_ms is 0), then act: one
             * poll() and one read() per response. */
            struct pollfd p = {.fd = vm->fd, .events = sock_events(vm)};
            uint64_t wake = deadline;
            int wait_ms = 0;

            now = sim_now_ns();
            if (vm->deadline_ns != 0 && vm->deadline_ns < wake) {
                wake = vm->deadline_ns;
            }
            if (timeout_ms != 0) {
                wait_ms = wake == UINT64_MAX ? -1 : sock_ms_until(now, wake);
            }
            if (poll(&p, 1, wait_ms) > 0) {
                sock_service(vm, p.revents);
            }
        }
        now = sim_now_ns();
        sock_check_timeout(vm, now);
        if (sock_settled(vm, queue)) {
            return 1;
        }
        if (now >= deadline || vm->fd < 0) {
            return 0;
        }
    }
}

static uint64_t
sock_ends(const struct vgpu_sim *sim)
{
    uint64_t ends = 0;

    for (unsigned i = 0; i < sim->cfg.n_vms; i++) {
        ends += sim_vm_ends(&sim->vms[i]);
    }
    return ends;
}

static int
sock_poll(struct vgpu_sim *sim, int timeout_ms)
{
    uint64_t deadline = sock_deadline(timeout_ms);
    uint64_t before = sock_ends(sim);

    for (;;) {
        uint64_t wake = deadline;
        uint64_t now;
        uint64_t done;
        nfds_t n = 0;
        int rc;

        for (unsigned i = 0; i < sim->cfg.n_vms; i++) {
            struct sim_vm *vm = &sim->vms[i];

            if (vm->fd >= 0) {
                sim->pfds[n].fd = vm->fd;
                sim->pfds[n].events = sock_events(vm);
                sim->pfds[n].revents = 0;
                sim->pfd_vm[n] = i;
                n++;
            }
            if (vm->deadline_ns != 0 && vgpu_dev_busy(&vm->dev) &&
                vm->deadline_ns < wake) {
                wake = vm->deadline_ns;
            }
        }
        if (n == 0 && wake == UINT64_MAX) {
            return 0; /* nothing can ever arrive */
        }
        now = sim_now_ns();
        rc = poll(sim->pfds, n,
                  wake == UINT64_MAX ? -1 : sock_ms_until(now, wake));
        if (rc < 0 && errno != EINTR) {
            return -errno;
        }
        for (nfds_t k = 0; rc > 0 && k < n; k++) {
            if (sim->pfds[k].revents != 0) {
                sock_service(&sim->vms[sim->pfd_vm[k]], sim->pfds[k].revents);
            }
        }
        now = sim_now_ns();
        for (unsigned i = 0; i < sim->cfg.n_vms; i++) {
            sock_check_timeout(&sim->vms[i], now);
        }
        done = sock_ends(sim) - before;
        if (done > 0 || now >= deadline) {
            return done > INT_MAX ? INT_MAX : (int)done;
        }
    }
}

static void
sock_disconnect(struct sim_vm *vm)
{
    sock_drop(vm, VGPU_LOG_INFO, "disconnected by the caller");
}

static size_t
sock_stats(struct vgpu_sim *sim,
           void (*fn)(const struct vgpu_vm_stats *, void *), void *arg)
{
    (void)sim;
    (void)fn;
    (void)arg;
    return 0; /* the daemon has them: vgpu-mediator --stats */
}

/* A read of STATUS while BUSY, or of CQ_TAIL, first reads what the mediator
 * sent, so a polling guest sees its completions. */
static uint32_t
sock_bus_read32(void *ctx, uint32_t off)
{
    struct sim_vm *vm = ctx;

    if (off == VGPU_REG_STATUS && vgpu_dev_busy(&vm->dev)) {
        sock_pump(vm, 0, 0);
    } else if (off == VGPU_REG_CQ_TAIL) {
        sock_pump(vm, 0, 1);
    }
    return sim_bus_read32(vm, off);
}

/* After a register write: open the connection the queue waits for (its
 * HELLO_ACK lets the device take the entries), and write what the write
 * queued. */
static void
sock_bus_write32(void *ctx, uint32_t off, uint32_t val)
{
    struct sim_vm *vm = ctx;

    sim_bus_write32(vm, off, val);
    if (vm->want_connect) {
        vm->want_connect = 0;
        if (vm->fd < 0 && sock_connect(vm) < 0) {
            sim_log(vm->sim, VGPU_LOG_WARN, "vm=%u: cannot reconnect: %s",
                    (unsigned)vm->dev.cfg.vm_id, vm->message);
            vm->connect_failed = 1; /* the waiting entries end */
            vgpu_dev_q_kick(&vm->dev);
            vm->connect_failed = 0;
        }
    }
    if (vm->fd >= 0 && vm->out_off < vm->out_len && sock_flush(vm) < 0) {
        sock_drop(vm, VGPU_LOG_WARN, "cannot send");
    }
}

/* The interrupts: wait on the VM's socket. */
static int
sock_bus_wait(void *ctx, int timeout_ms)
{
    return sock_pump(ctx, timeout_ms, 0);
}

static int
sock_bus_wait_queue(void *ctx, int timeout_ms)
{
    return sock_pump(ctx, timeout_ms, 1);
}

static const struct vgpu_bus_ops sock_bus = {
    .name = "sim",
    .read32 = sock_bus_read32,
    .write32 = sock_bus_write32,
    .read_buf = sim_bus_read_buf,
    .write_buf = sim_bus_write_buf,
    .wait_irq = sock_bus_wait,
    .close = sim_bus_close,
    .identity = NULL,
    .dma_alloc = sim_bus_dma_alloc,
    .dma_free = sim_bus_dma_free,
    .wait_queue = sock_bus_wait_queue,
};

const struct sim_transport sim_transport_socket = {
    .name = "socket",
    .bus = &sock_bus,
    .start = sock_start,
    .stop = sock_stop,
    .submit = sock_submit,
    .send = sock_send,
    .lost = sock_lost,
    .poll = sock_poll,
    .disconnect = sock_disconnect,
    .stats = sock_stats,
    .threaded = 0,
};
