/*
 * vgpu-stub: the QEMU PCI device around the vgpu device model.
 *
 * A thin adapter (STYLE.md rule 4): type registration, properties,
 * realize/exit, BAR0 forwarding to vgpu_dev_mmio_read/write, the interrupt,
 * reset, vmstate, and the socket to the vgpu-mediator daemon. Every
 * register decision lives in src/devmodel; what the device does with the
 * wire protocol (handshake, requests sent, each frame from the mediator)
 * lives in src/link, the same code the simulator runs; every byte is made
 * and parsed by src/proto.
 *
 * The queue (SPEC.md section 11): CAPABILITIES bit 2 is set because the
 * device gives the model dma_read/dma_write (pci_dma_rw() on the PCI
 * device's address space, so bus mastering and an IOMMU apply) and a
 * 1 MiB q_buffer. Queue entries go out as REQUEST frames on the same
 * connection; the queued output is bounded (VGPU_STUB_OUT_HIGH), beyond
 * which the device stops taking entries until the socket drains.
 *
 * The transport never blocks QEMU. The Unix socket is non-blocking and lives
 * in QEMU's main loop (qemu_set_fd_handler): a read handler always, a write
 * handler only while output is queued or a connect is in progress. The
 * connection is opened by the first doorbell (and again by the first doorbell
 * after it was lost): the link sends HELLO at once, and the request when
 * HELLO_ACK comes.
 * The handshake is bounded by VGPU_STUB_HANDSHAKE_MS, the request by the
 * timeout_ms property.
 *
 * Clock: QEMU_CLOCK_REALTIME (host monotonic time) drives the timeout timer
 * and TIMESTAMP. The mediator lives in wall-clock time, so a request's
 * deadline is measured in it too; the virtual clock would stop while the VM
 * is paused and, under qtest, only move with clock_step. TIMESTAMP therefore
 * counts host nanoseconds and is not comparable across a migration.
 *
 * Runs under QEMU's big lock: MMIO, fd handlers, timers and reset are all
 * serialised by it, which is what struct vgpu_dev requires.
 */
#include "qemu/osdep.h"

#include "hw/pci/msi.h"
#include "hw/pci/pci.h"
#include "hw/qdev-properties.h"
#include "migration/vmstate.h"
#include "qapi/error.h"
#include "qemu/error-report.h"
#include "qemu/log.h"
#include "qemu/main-loop.h"
#include "qemu/module.h"
#include "qemu/timer.h"
#if defined(__has_include)
#if __has_include("hw/pci/pci_device.h")
#include "hw/pci/pci_device.h" /* QEMU 8.0 moved PCIDevice here */
#endif
#endif

#include <sys/socket.h>
#include <sys/un.h>

#include "vgpu/devmodel.h"
#include "vgpu/link.h"
#include "vgpu/proto.h"
#include "vgpu/regs.h"
#include "vgpu/trace.h"

/*
 * The few QEMU APIs that changed between 4.2 and 10.x. Only 7.2 is built and
 * tested here (ci/qemu-build.sh); docs/qemu.md lists the differences.
 */
#define VGPU_QEMU_AT_LEAST(major, minor)                                       \
    (QEMU_VERSION_MAJOR > (major) ||                                           \
     (QEMU_VERSION_MAJOR == (major) && QEMU_VERSION_MINOR >= (minor)))
#if VGPU_QEMU_AT_LEAST(10, 1)
#define VGPU_CLASS_DATA const void /* class_init's data became const */
#else
#define VGPU_CLASS_DATA void
#endif
#if VGPU_QEMU_AT_LEAST(7, 0)
/* pci_dma_rw() takes MemTxAttrs and returns a MemTxResult from 7.0 */
#define VGPU_PCI_DMA_RW(dev, addr, buf, len, dir)                              \
    pci_dma_rw((dev), (addr), (buf), (len), (dir), MEMTXATTRS_UNSPECIFIED)
#else
#define VGPU_PCI_DMA_RW(dev, addr, buf, len, dir)                              \
    pci_dma_rw((dev), (addr), (buf), (len), (dir))
#endif
#ifdef DEFINE_PROP_END_OF_LIST
#define VGPU_PROPS_CONST
#else
#define VGPU_PROPS_CONST const /* 10.0: const arrays, no terminator */
#endif

#define TYPE_VGPU_STUB "vgpu-stub"
#define VGPU_STUB(obj) OBJECT_CHECK(VgpuStubState, (obj), TYPE_VGPU_STUB)

/* The handshake (connect + HELLO_ACK) gets at most this long. */
#define VGPU_STUB_HANDSHAKE_MS 2000
/* A connect() refused with EAGAIN (full backlog) is retried this often. */
#define VGPU_STUB_RETRY_MS     10
/* Bytes read from the socket per read(); reads per handler call: a 1 MiB
 * response takes at most one turn of the main loop. */
#define VGPU_STUB_READ_CHUNK   65536
#define VGPU_STUB_READS_MAX    16
/*
 * Queued output (what the socket did not take at once). Above
 * VGPU_STUB_OUT_HIGH bytes the device takes no further queue entry: submit
 * says -EAGAIN and the write handler kicks the queue once the output is back
 * under it. So the output never holds more than that, one queue entry (its
 * header and up to VGPU_Q_MAX_XFER bytes), and a few small frames (HELLO, a
 * mailbox request, PONGs); beyond VGPU_STUB_OUT_MAX the mediator has stopped
 * reading and the connection is dropped.
 */
#define VGPU_STUB_OUT_HIGH     (256 * 1024)
#define VGPU_STUB_OUT_MAX                                                      \
    (VGPU_STUB_OUT_HIGH + VGPU_HDR_SIZE + VGPU_Q_MAX_XFER +                    \
     4 * VGPU_LINK_FRAME_MAX)
#define VGPU_STUB_OUT_MIN      (4 * VGPU_LINK_FRAME_MAX) /* first allocation */
#define VGPU_STUB_NS_PER_MS    1000000LL
/* trace=PATH rotates to PATH.1 past this many MiB (trace_max_mb). */
#define VGPU_STUB_TRACE_MAX_MB 64u
#define VGPU_STUB_MIB          (1024u * 1024u)
#define VGPU_STUB_MSG_MAX      160

/* The socket; the protocol's state is the link's. */
enum vgpu_stub_conn {
    VGPU_CONN_DOWN,       /* no socket */
    VGPU_CONN_RETRY,      /* connect() said EAGAIN; retried by the timer */
    VGPU_CONN_CONNECTING, /* connect() in progress; write watch */
    VGPU_CONN_OPEN,       /* connected: the link speaks */
};

typedef struct VgpuStubState {
    PCIDevice parent_obj;
    MemoryRegion mmio;
    struct vgpu_dev dev;
    struct vgpu_link link;

    /* Properties (SPEC.md section 6). */
    char *pool_prop;
    char *priority_prop;
    char *socket_prop;
    char *vm_id_prop; /* required: VGPU_VM_ID_SPELLING */
    uint32_t vm_id;   /* vm_id_prop, parsed */
    uint32_t timeout_ms;
    char *trace_prop;        /* trace=PATH: record (docs/trace-format.md) */
    uint32_t trace_max_mb;   /* rotate to PATH.1 past this; 0: never */
    const char *socket_path; /* socket_prop or the default */

    /* The connection to the mediator. out[out_off, out_len) is queued
     * output, out_cap bytes allocated (grown up to VGPU_STUB_OUT_MAX). */
    int fd;
    enum vgpu_stub_conn conn;
    uint8_t *out;
    size_t out_off;
    size_t out_len;
    size_t out_cap;
    bool q_wait_out;         /* a queue entry waits for the output to drain */
    bool warned_unreachable; /* "cannot connect" said once per outage */
    bool warned_timeout;     /* "timed out" said once per connection */

    /* One timer serves every deadline; 0 means none. */
    QEMUTimer *timer;
    int64_t req_deadline;
    int64_t hs_deadline;
    int64_t retry_at;

    /* The queue (SPEC.md section 11): VGPU_Q_MAX_XFER bytes each, for the
     * decoder's payloads and the entry the device DMA-reads. */
    uint8_t *rx_buf;
    uint8_t *q_buf;
    uint8_t *rd_buf;    /* VGPU_STUB_READ_CHUNK bytes for read() */
    bool in_dma;        /* a DMA of this device is under way */
    bool dma_reentered; /* ... and reached this device's own BAR0 */
    QEMUBH *load_bh;    /* after a migration: end what was in flight */

    struct vgpu_trace_rec trace; /* fd -1 unless trace=PATH */
} VgpuStubState;

static void vgpu_stub_read(void *opaque);
static void vgpu_stub_write(void *opaque);

static int64_t
vgpu_stub_now(void)
{
    return qemu_clock_get_ns(QEMU_CLOCK_REALTIME);
}

/* ---- Trace (trace=PATH) --------------------------------------------------
 *
 * Every input of the device (MMIO, bytes read, connection events, timers,
 * resets) and every output (frames, DMA, the interrupt), in the order they
 * happen, for vgpu-sim --replay. Buffered, and written at the end of each
 * entry point from QEMU (vgpu_stub_trace_flush()).
 */

static size_t
vgpu_stub_trace(VgpuStubState *s, uint8_t type, uint8_t size, uint64_t a,
                uint64_t b, const void *payload, size_t len)
{
    struct vgpu_trace_event ev = {
        .type = type,
        .size = size,
        .len = (uint32_t)len,
        .a = a,
        .b = b,
    };

    if (!vgpu_trace_rec_active(&s->trace)) {
        return 0;
    }
    ev.t = (uint64_t)vgpu_stub_now();
    return vgpu_trace_rec_event(&s->trace, &ev, payload);
}

static void
vgpu_stub_trace_text(VgpuStubState *s, uint8_t type, uint64_t b,
                     const char *text)
{
    vgpu_stub_trace(s, type, 0, 0, b, text, text != NULL ? strlen(text) : 0);
}

static void
vgpu_stub_trace_flush(VgpuStubState *s)
{
    if (vgpu_trace_rec_active(&s->trace) &&
        vgpu_trace_rec_flush(&s->trace) < 0) {
        warn_report("vgpu-stub vm_id=%u: trace %s: %s; recording stopped",
                    s->vm_id, s->trace_prop, strerror(-s->trace.error));
    }
}

/* ---- Timer ---------------------------------------------------------------
 */

static void
vgpu_stub_rearm(VgpuStubState *s)
{
    int64_t when = 0;
    int64_t cand[] = {s->req_deadline, s->hs_deadline, s->retry_at};

    for (size_t i = 0; i < ARRAY_SIZE(cand); i++) {
        if (cand[i] != 0 && (when == 0 || cand[i] < when)) {
            when = cand[i];
        }
    }
    if (when == 0) {
        timer_del(s->timer);
    } else {
        timer_mod(s->timer, when);
    }
}

/* ---- Connection ----------------------------------------------------------
 */

static void
vgpu_stub_handlers(VgpuStubState *s)
{
    bool reading = s->conn == VGPU_CONN_OPEN;
    bool writing =
        s->conn == VGPU_CONN_CONNECTING || (reading && s->out_off < s->out_len);

    qemu_set_fd_handler(s->fd, reading ? vgpu_stub_read : NULL,
                        writing ? vgpu_stub_write : NULL, s);
}

/* Close the socket. The link and the device are not told. */
static void
vgpu_stub_close(VgpuStubState *s)
{
    if (s->fd >= 0) {
        qemu_set_fd_handler(s->fd, NULL, NULL, NULL);
        close(s->fd);
        s->fd = -1;
    }
    s->conn = VGPU_CONN_DOWN;
    s->out_off = 0;
    s->out_len = 0;
    s->q_wait_out = false; /* the link ends the device's stall */
    s->hs_deadline = 0;
    s->retry_at = 0;
    s->warned_timeout = false;
}

/* Log why the connection ends and close it. */
static void
vgpu_stub_closed(VgpuStubState *s, const char *why)
{
    warn_report("vgpu-stub vm_id=%u: connection to %s closed: %s", s->vm_id,
                s->socket_path, why);
    vgpu_stub_close(s);
    s->req_deadline = 0;
    vgpu_stub_rearm(s);
}

/* This side ends the connection (EOF, a socket error, the handshake
 * timeout): close it, and the link ends the request in flight with
 * MEDIATOR_UNAVAILABLE. */
static void
vgpu_stub_lost(VgpuStubState *s, const char *why)
{
    vgpu_stub_trace_text(s, VGPU_TRACE_LOST, VGPU_ERR_MEDIATOR_UNAVAILABLE,
                         why);
    vgpu_stub_closed(s, why);
    vgpu_link_down(&s->link, VGPU_ERR_MEDIATOR_UNAVAILABLE, why, NULL);
}

/* Write what is queued. Return 0 (all written, or the socket is full), or a
 * negative errno value when the connection is broken. */
/* Write as much of @buf as the socket takes now. Return the bytes written,
 * or a negative errno value when the connection is broken. */
static ssize_t
vgpu_stub_write_some(VgpuStubState *s, const uint8_t *buf, size_t len)
{
    size_t off = 0;

    while (off < len) {
        ssize_t n = send(s->fd, buf + off, len - off, MSG_NOSIGNAL);

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
    return (ssize_t)off;
}

static int
vgpu_stub_flush(VgpuStubState *s)
{
    ssize_t n =
        vgpu_stub_write_some(s, s->out + s->out_off, s->out_len - s->out_off);

    if (n < 0) {
        return (int)n;
    }
    s->out_off += (size_t)n;
    if (s->out_off == s->out_len) {
        s->out_off = 0;
        s->out_len = 0;
    }
    vgpu_stub_handlers(s);
    return 0;
}

/* Append @len bytes to the queued output, growing it up to
 * VGPU_STUB_OUT_MAX. Return 0, or -ENOBUFS. */
static int
vgpu_stub_queue_out(VgpuStubState *s, const uint8_t *bytes, size_t len)
{
    size_t need;

    if (s->out_off > 0) {
        memmove(s->out, s->out + s->out_off, s->out_len - s->out_off);
        s->out_len -= s->out_off;
        s->out_off = 0;
    }
    need = s->out_len + len;
    if (need > VGPU_STUB_OUT_MAX) {
        return -ENOBUFS; /* the mediator has stopped reading */
    }
    if (need > s->out_cap) {
        size_t cap = MAX(s->out_cap, (size_t)VGPU_STUB_OUT_MIN);

        while (cap < need) {
            cap *= 2;
        }
        s->out_cap = MIN(cap, (size_t)VGPU_STUB_OUT_MAX);
        s->out = g_realloc(s->out, s->out_cap);
    }
    memcpy(s->out + s->out_len, bytes, len);
    s->out_len += len;
    return 0;
}

/* Write one frame (or a queue entry's header, then its payload): straight
 * to the socket when nothing waits before it, so a 1 MiB payload is usually
 * not copied; what the socket does not take waits in the output for the
 * write handler. Return 0 or a negative errno value. */
static int
vgpu_stub_send(VgpuStubState *s, const uint8_t *frame, size_t len)
{
    ssize_t n = 0;
    int rc;

    if (s->fd < 0) {
        return -ENOTCONN;
    }
    if (s->out_off == s->out_len) {
        n = vgpu_stub_write_some(s, frame, len);
        if (n < 0) {
            return (int)n;
        }
        if ((size_t)n == len) {
            return 0;
        }
    }
    rc = vgpu_stub_queue_out(s, frame + n, len - (size_t)n);
    if (rc == 0) {
        vgpu_stub_handlers(s);
    }
    return rc;
}

/* The socket is connected: the link sends HELLO and waits for HELLO_ACK. */
static void
vgpu_stub_greet(VgpuStubState *s)
{
    s->conn = VGPU_CONN_OPEN;
    s->retry_at = 0;
    vgpu_stub_trace(s, VGPU_TRACE_CONN_UP, 0, 0, 0, NULL, 0);
    vgpu_link_up(&s->link); /* a failed send has closed the socket */
    if (s->fd >= 0) {
        vgpu_stub_handlers(s);
    }
}

/* One connect() on s->fd. Return 0 when it connected or is on its way, or a
 * negative errno value. */
static int
vgpu_stub_connect_once(VgpuStubState *s)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int rc;

    memcpy(sa.sun_path, s->socket_path, strlen(s->socket_path) + 1);
    do {
        rc = connect(s->fd, (struct sockaddr *)&sa, sizeof(sa));
    } while (rc < 0 && errno == EINTR);
    if (rc == 0) {
        s->warned_unreachable = false;
        vgpu_stub_greet(s);
        return 0;
    }
    if (errno == EINPROGRESS) {
        s->conn = VGPU_CONN_CONNECTING; /* the write watch says when */
        s->retry_at = 0;
        vgpu_stub_handlers(s);
        return 0;
    }
    if (errno == EAGAIN) {
        /* A Unix socket's backlog is full: nothing is in progress, so a
         * write watch would spin. Try again shortly, within the handshake
         * bound. */
        s->conn = VGPU_CONN_RETRY;
        s->retry_at =
            vgpu_stub_now() + VGPU_STUB_RETRY_MS * VGPU_STUB_NS_PER_MS;
        qemu_set_fd_handler(s->fd, NULL, NULL, NULL);
        return 0;
    }
    return -errno;
}

/* Open the connection. Return 0, or a negative errno value (nothing left
 * open). */
static int
vgpu_stub_open(VgpuStubState *s)
{
    int rc;

    s->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (s->fd < 0) {
        rc = -errno;
    } else {
        s->hs_deadline =
            vgpu_stub_now() + VGPU_STUB_HANDSHAKE_MS * VGPU_STUB_NS_PER_MS;
        rc = vgpu_stub_connect_once(s);
    }
    if (rc < 0) {
        if (!s->warned_unreachable) {
            warn_report("vgpu-stub vm_id=%u: cannot connect to the mediator "
                        "at %s: %s",
                        s->vm_id, s->socket_path, strerror(-rc));
            s->warned_unreachable = true;
        }
        vgpu_stub_close(s);
    }
    vgpu_stub_trace(s, VGPU_TRACE_CONNECT, 0, 0, (uint64_t)(int64_t)rc, NULL,
                    0);
    return rc;
}

/* ---- Socket handlers -----------------------------------------------------
 */

static void vgpu_stub_readable(VgpuStubState *s);

static void
vgpu_stub_read(void *opaque)
{
    VgpuStubState *s = opaque;

    vgpu_stub_readable(s);
    vgpu_stub_trace_flush(s);
}

static void
vgpu_stub_readable(VgpuStubState *s)
{
    uint8_t *buf = s->rd_buf;
    char msg[VGPU_STUB_MSG_MAX];

    /* Bounded, so that a flood cannot starve the main loop; the handler is
     * level-triggered and runs again while bytes remain. */
    for (int i = 0; i < VGPU_STUB_READS_MAX && s->fd >= 0; i++) {
        ssize_t n = read(s->fd, buf, VGPU_STUB_READ_CHUNK);

        if (n > 0) {
            vgpu_stub_trace(s, VGPU_TRACE_FRAME_IN, 0, 0, 0, buf, (size_t)n);
            /* A frame that ends the connection closes it (ops->lost). */
            if (vgpu_link_input(&s->link, buf, (size_t)n) < 0) {
                return;
            }
            if (s->hs_deadline != 0 &&
                vgpu_link_state(&s->link) == VGPU_LINK_READY) {
                s->hs_deadline = 0; /* HELLO_ACK came */
                vgpu_stub_rearm(s);
            }
            if ((size_t)n < VGPU_STUB_READ_CHUNK) {
                return;
            }
        } else if (n == 0) {
            vgpu_stub_lost(s, "the mediator closed the connection");
            return;
        } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
            return;
        } else if (errno != EINTR) {
            snprintf(msg, sizeof(msg), "read: %s", strerror(errno));
            vgpu_stub_lost(s, msg);
            return;
        }
    }
}

static void vgpu_stub_writable(VgpuStubState *s);

static void
vgpu_stub_write(void *opaque)
{
    VgpuStubState *s = opaque;

    vgpu_stub_writable(s);
    vgpu_stub_trace_flush(s);
}

static void
vgpu_stub_writable(VgpuStubState *s)
{
    char msg[VGPU_STUB_MSG_MAX];
    int err = 0;
    int rc;

    if (s->conn == VGPU_CONN_CONNECTING) {
        socklen_t len = sizeof(err);

        if (getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) {
            err = errno;
        }
        if (err != 0) {
            snprintf(msg, sizeof(msg), "cannot connect: %s", strerror(err));
            vgpu_stub_lost(s, msg);
            return;
        }
        s->warned_unreachable = false;
        vgpu_stub_greet(s);
        return;
    }
    rc = vgpu_stub_flush(s);
    if (rc < 0) {
        snprintf(msg, sizeof(msg), "send: %s", strerror(-rc));
        vgpu_stub_lost(s, msg);
        return;
    }
    if (s->q_wait_out && s->out_len - s->out_off <= VGPU_STUB_OUT_HIGH) {
        /* Room again: the device takes the entries that waited (which may
         * send, so not from inside vgpu_stub_send). */
        s->q_wait_out = false;
        vgpu_stub_trace(s, VGPU_TRACE_KICK, 0, 0, 0, NULL, 0);
        vgpu_dev_q_kick(&s->dev);
    }
}

static void
vgpu_stub_timer(void *opaque)
{
    VgpuStubState *s = opaque;
    int64_t now = vgpu_stub_now();
    char msg[VGPU_STUB_MSG_MAX];
    int rc;

    if (s->hs_deadline != 0 && now >= s->hs_deadline) {
        snprintf(msg, sizeof(msg), "no HELLO_ACK within %d ms",
                 VGPU_STUB_HANDSHAKE_MS);
        vgpu_stub_lost(s, msg);
    } else if (s->conn == VGPU_CONN_RETRY && now >= s->retry_at) {
        rc = vgpu_stub_connect_once(s);
        if (rc < 0) {
            snprintf(msg, sizeof(msg), "cannot connect: %s", strerror(-rc));
            vgpu_stub_lost(s, msg);
        }
    }
    if (s->req_deadline != 0 && now >= s->req_deadline) {
        s->req_deadline = 0;
        if (vgpu_dev_busy(&s->dev) && !s->warned_timeout) {
            warn_report("vgpu-stub vm_id=%u: no response within %u ms "
                        "(reported once per connection)",
                        s->vm_id, s->timeout_ms);
            s->warned_timeout = true;
        }
        vgpu_stub_trace(s, VGPU_TRACE_TIMEOUT, 0, 0, 0, NULL, 0);
        vgpu_link_timeout(&s->link);
    }
    vgpu_stub_rearm(s);
    vgpu_stub_trace_flush(s);
}

/* ---- The link's ops --------------------------------------------------------
 */

static int
vgpu_stub_link_send(void *opaque, const uint8_t *frame, size_t len)
{
    int rc = vgpu_stub_send(opaque, frame, len);

    vgpu_stub_trace(opaque, VGPU_TRACE_FRAME_OUT, 0, 0, (uint64_t)(int64_t)rc,
                    frame, len);
    return rc;
}

static void
vgpu_stub_link_lost(void *opaque, const char *why)
{
    vgpu_stub_trace_text(opaque, VGPU_TRACE_LINK_LOST, 0, why);
    vgpu_stub_closed(opaque, why);
}

/* Warnings go to stderr; the rest (a stale answer to a request the guest
 * let time out or reset) only with -d guest_errors. */
static void
vgpu_stub_link_log(void *opaque, int level, const char *line)
{
    if (level <= VGPU_LOG_WARN) {
        warn_report("vgpu-stub: %s", line);
    } else if (level <= VGPU_LOG_INFO) {
        qemu_log_mask(LOG_GUEST_ERROR, "vgpu-stub: %s\n", line);
    }
}

static const struct vgpu_link_ops vgpu_stub_link_ops = {
    .send = vgpu_stub_link_send,
    .lost = vgpu_stub_link_lost,
    .log = vgpu_stub_link_log,
};

/* ---- The device model's ops ----------------------------------------------
 */

/* A queue entry: written at once when the link is READY and the output has
 * room; otherwise it stays in the guest's ring (-EAGAIN) until HELLO_ACK
 * (the link kicks the device) or the output drains (the write handler
 * does). Queue entries have no timeout of their own: a lost connection
 * ends them. */
static int
vgpu_stub_submit_queued(VgpuStubState *s, const struct vgpu_request *req)
{
    int rc;

    if (s->out_len - s->out_off > VGPU_STUB_OUT_HIGH) {
        s->q_wait_out = true;
        vgpu_stub_trace(s, VGPU_TRACE_DEFER, 0, 0, 0, NULL, 0);
        return -EAGAIN;
    }
    rc = vgpu_link_request(&s->link, req);
    if (rc == -EAGAIN) {
        if (s->conn == VGPU_CONN_DOWN && vgpu_stub_open(s) < 0) {
            return VGPU_ERR_MEDIATOR_UNAVAILABLE;
        }
        return -EAGAIN;
    }
    return rc < 0 ? (int)VGPU_ERR_INVALID_LENGTH : rc;
}

static int
vgpu_stub_submit(void *opaque, const struct vgpu_request *req)
{
    VgpuStubState *s = opaque;

    if (req->queued) {
        return vgpu_stub_submit_queued(s, req);
    }
    if (vgpu_link_request(&s->link, req) < 0) {
        return VGPU_ERR_INVALID_LENGTH; /* unreachable: len <= 1024 */
    }
    /* Never connected since the last loss, or the mediator went away and
     * its EOF was not read yet: one fresh connection, which sends the
     * request at HELLO_ACK. */
    if (s->conn == VGPU_CONN_DOWN && vgpu_stub_open(s) < 0) {
        vgpu_link_down(&s->link, VGPU_ERR_MEDIATOR_UNAVAILABLE, NULL, NULL);
        s->req_deadline = 0;
        vgpu_stub_rearm(s);
        return VGPU_ERR_MEDIATOR_UNAVAILABLE;
    }
    s->req_deadline = 0;
    if (s->timeout_ms > 0) {
        s->req_deadline =
            vgpu_stub_now() + (int64_t)s->timeout_ms * VGPU_STUB_NS_PER_MS;
    }
    vgpu_stub_rearm(s);
    return 0;
}

static void
vgpu_stub_set_irq(void *opaque, int level)
{
    VgpuStubState *s = opaque;
    PCIDevice *pdev = &s->parent_obj;

    vgpu_stub_trace(s, VGPU_TRACE_IRQ, (uint8_t)level, 0, 0, NULL, 0);
    if (msi_enabled(pdev)) {
        pci_set_irq(pdev, 0); /* in case INTx was up when MSI got enabled */
        if (level) {
            msi_notify(pdev, 0);
        }
        return;
    }
    pci_set_irq(pdev, level);
}

static uint64_t
vgpu_stub_now_ns(void *opaque)
{
    uint64_t now = (uint64_t)vgpu_stub_now();

    vgpu_stub_trace(opaque, VGPU_TRACE_CLOCK, 0, now, 0, NULL, 0);
    return now;
}

static void
vgpu_stub_guest_error(void *opaque, const char *what)
{
    VgpuStubState *s = opaque;

    qemu_log_mask(LOG_GUEST_ERROR, "vgpu-stub vm_id=%u: %s\n", s->vm_id, what);
}

/*
 * DMA for the queue, through the PCI device's address space: bus mastering
 * and an IOMMU, when present, apply. An address outside guest memory fails
 * (-EFAULT, the model reports DMA_ERROR). A ring or buffer the guest places
 * on this device's own BAR0 would re-enter the model from inside its own
 * DMA: that access is refused (vgpu_stub_mmio_*), and the DMA fails.
 */
static int
vgpu_stub_dma(VgpuStubState *s, uint64_t addr, void *buf, size_t len,
              DMADirection dir)
{
    PCIDevice *pdev = &s->parent_obj;
    int res; /* a MemTxResult, or 4.2's int: 0 is success in both */

    if (!(pci_get_word(pdev->config + PCI_COMMAND) & PCI_COMMAND_MASTER)) {
        return -EPERM;
    }
    if (addr + len < addr) {
        return -EFAULT;
    }
    s->in_dma = true;
    s->dma_reentered = false;
    res = VGPU_PCI_DMA_RW(pdev, addr, buf, len, dir);
    s->in_dma = false;
    return (res != 0 || s->dma_reentered) ? -EFAULT : 0;
}

/* The DMA and its bytes in the trace: a read's when it succeeded (the
 * replayer gives them to the model), a write's always (it checks them). */
static int
vgpu_stub_dma_traced(VgpuStubState *s, uint64_t addr, void *buf, size_t len,
                     DMADirection dir)
{
    int rc = vgpu_stub_dma(s, addr, buf, len, dir);
    bool to_dev = dir == DMA_DIRECTION_TO_DEVICE;

    vgpu_stub_trace(s, to_dev ? VGPU_TRACE_DMA_READ : VGPU_TRACE_DMA_WRITE, 0,
                    addr, VGPU_TRACE_DMA_B(rc, len), buf,
                    (to_dev && rc != 0) ? 0 : len);
    return rc;
}

static int
vgpu_stub_dma_read(void *opaque, uint64_t addr, void *buf, size_t len)
{
    return vgpu_stub_dma_traced(opaque, addr, buf, len,
                                DMA_DIRECTION_TO_DEVICE);
}

static int
vgpu_stub_dma_write(void *opaque, uint64_t addr, const void *buf, size_t len)
{
    return vgpu_stub_dma_traced(opaque, addr, (void *)buf, len,
                                DMA_DIRECTION_FROM_DEVICE);
}

static uint8_t *
vgpu_stub_q_buffer(void *opaque, size_t len)
{
    VgpuStubState *s = opaque;

    return len <= VGPU_Q_MAX_XFER ? s->q_buf : NULL;
}

static const struct vgpu_dev_ops vgpu_stub_dev_ops = {
    .submit = vgpu_stub_submit,
    .set_irq = vgpu_stub_set_irq,
    .now_ns = vgpu_stub_now_ns,
    .guest_error = vgpu_stub_guest_error,
    .dma_read = vgpu_stub_dma_read,
    .dma_write = vgpu_stub_dma_write,
    .q_buffer = vgpu_stub_q_buffer,
};

/* ---- BAR0 ----------------------------------------------------------------
 */

/* Is this BAR0 access the device's own DMA coming back? Then it is refused
 * (and the DMA fails): the model is not re-entered from inside itself. */
static bool
vgpu_stub_dma_reentry(VgpuStubState *s, hwaddr addr)
{
    if (!s->in_dma) {
        return false;
    }
    s->dma_reentered = true;
    qemu_log_mask(LOG_GUEST_ERROR,
                  "vgpu-stub vm_id=%u: the queue's DMA reached BAR0 "
                  "(offset 0x%" HWADDR_PRIx "): refused\n",
                  s->vm_id, addr);
    return true;
}

static uint64_t
vgpu_stub_mmio_read(void *opaque, hwaddr addr, unsigned size)
{
    VgpuStubState *s = opaque;

    size_t pos;
    uint64_t v;

    if (vgpu_stub_dma_reentry(s, addr)) {
        return MAKE_64BIT_MASK(0, size * BITS_PER_BYTE);
    }
    pos = vgpu_stub_trace(s, VGPU_TRACE_MMIO_READ, (uint8_t)size, addr, 0, NULL,
                          0);
    v = vgpu_dev_mmio_read(&s->dev, addr, size);
    if (vgpu_trace_rec_active(&s->trace)) {
        vgpu_trace_rec_set_b(&s->trace, pos, v);
        vgpu_stub_trace_flush(s);
    }
    return v;
}

static void
vgpu_stub_mmio_write(void *opaque, hwaddr addr, uint64_t val, unsigned size)
{
    VgpuStubState *s = opaque;

    if (vgpu_stub_dma_reentry(s, addr)) {
        return;
    }
    vgpu_stub_trace(s, VGPU_TRACE_MMIO_WRITE, (uint8_t)size, addr, val, NULL,
                    0);
    vgpu_dev_mmio_write(&s->dev, addr, val, size);
    vgpu_stub_trace_flush(s);
}

/* Every size and alignment reaches the model, which decides (SPEC.md 3). */
static const MemoryRegionOps vgpu_stub_mmio_ops = {
    .read = vgpu_stub_mmio_read,
    .write = vgpu_stub_mmio_write,
    .endianness = DEVICE_LITTLE_ENDIAN,
    .valid =
        {
            .min_access_size = 1,
            .max_access_size = VGPU_BUF_MAX_ACCESS,
            .unaligned = true,
        },
    .impl =
        {
            .min_access_size = 1,
            .max_access_size = VGPU_BUF_MAX_ACCESS,
            .unaligned = true,
        },
};

/* ---- Properties ----------------------------------------------------------
 */

/* Check every property; fill @cfg. Return false with @errp set. */
static bool
vgpu_stub_check_props(VgpuStubState *s, struct vgpu_dev_config *cfg,
                      Error **errp)
{
    const char *pool = s->pool_prop;
    const char *prio = s->priority_prop;
    struct sockaddr_un sa;

    cfg->pool_id = VGPU_DEFAULT_POOL;
    if (pool != NULL &&
        vgpu_pool_parse(pool, strlen(pool), 0, &cfg->pool_id) < 0) {
        error_setg(errp, "vgpu-stub: pool_id '%s' must be one letter %c-%c",
                   pool, VGPU_POOL_FIRST, VGPU_POOL_LAST);
        return false;
    }
    cfg->priority = VGPU_DEFAULT_PRIORITY;
    if (prio != NULL && vgpu_prio_parse(prio, strlen(prio), VGPU_PARSE_PRIORITY,
                                        &cfg->priority) < 0) {
        error_setg(errp, "vgpu-stub: priority '%s' is not one of %s", prio,
                   VGPU_PRIO_SPELLINGS);
        return false;
    }
    if (s->vm_id_prop == NULL) {
        error_setg(errp, "vgpu-stub: vm_id is required (%s)",
                   VGPU_VM_ID_SPELLING);
        return false;
    }
    /* The one parser of a vm_id (SPEC.md section 6); QEMU's own integer
     * property would read "012" as octal 10. */
    if (vgpu_vm_id_parse(s->vm_id_prop, strlen(s->vm_id_prop), &s->vm_id) < 0) {
        error_setg(errp, "vgpu-stub: vm_id '%s' is not %s", s->vm_id_prop,
                   VGPU_VM_ID_SPELLING);
        return false;
    }
    cfg->vm_id = s->vm_id;
    if (s->timeout_ms > VGPU_MAX_TIMEOUT_MS) {
        error_setg(errp,
                   "vgpu-stub: timeout_ms %u is not in 0..%u (0 disables "
                   "the timeout)",
                   s->timeout_ms, VGPU_MAX_TIMEOUT_MS);
        return false;
    }
    s->socket_path = s->socket_prop ? s->socket_prop : VGPU_DEFAULT_SOCKET;
    if (s->socket_path[0] == '\0' ||
        strlen(s->socket_path) >= sizeof(sa.sun_path)) {
        error_setg(errp,
                   "vgpu-stub: socket '%s' must be a path of 1..%zu bytes",
                   s->socket_path, sizeof(sa.sun_path) - 1);
        return false;
    }
    return true;
}

static VGPU_PROPS_CONST Property vgpu_stub_properties[] = {
    DEFINE_PROP_STRING("pool_id", VgpuStubState, pool_prop),
    DEFINE_PROP_STRING("priority", VgpuStubState, priority_prop),
    DEFINE_PROP_STRING("vm_id", VgpuStubState, vm_id_prop),
    DEFINE_PROP_STRING("socket", VgpuStubState, socket_prop),
    DEFINE_PROP_UINT32("timeout_ms", VgpuStubState, timeout_ms,
                       VGPU_DEFAULT_TIMEOUT_MS),
    DEFINE_PROP_STRING("trace", VgpuStubState, trace_prop),
    DEFINE_PROP_UINT32("trace_max_mb", VgpuStubState, trace_max_mb,
                       VGPU_STUB_TRACE_MAX_MB),
#ifdef DEFINE_PROP_END_OF_LIST
    DEFINE_PROP_END_OF_LIST(),
#endif
};

/* ---- Lifecycle -----------------------------------------------------------
 */

static void
vgpu_stub_free_buffers(VgpuStubState *s)
{
    g_free(s->rx_buf);
    g_free(s->q_buf);
    g_free(s->rd_buf);
    g_free(s->out);
    s->rx_buf = s->q_buf = s->rd_buf = s->out = NULL;
    s->out_cap = 0;
}

static void vgpu_stub_after_load(void *opaque);

static void
vgpu_stub_realize(PCIDevice *pdev, Error **errp)
{
    VgpuStubState *s = VGPU_STUB(pdev);
    struct vgpu_dev_config cfg;
    Error *err = NULL;
    int rc;

    if (!vgpu_stub_check_props(s, &cfg, errp)) {
        return;
    }
    s->trace.fd = -1;
    if (s->trace_prop != NULL) {
        struct vgpu_trace_header th = {
            .vm_id = cfg.vm_id,
            .pool_id = cfg.pool_id,
            .priority = cfg.priority,
            .flags = VGPU_TRACE_F_QUEUE,
            .timeout_ms = s->timeout_ms,
            .start_ns = (uint64_t)vgpu_stub_now(),
        };

        rc =
            vgpu_trace_rec_open(&s->trace, s->trace_prop,
                                (uint64_t)s->trace_max_mb * VGPU_STUB_MIB, &th);
        if (rc < 0) {
            error_setg(errp,
                       "vgpu-stub: trace '%s': %s (a new or regular file is "
                       "needed)",
                       s->trace_prop, strerror(-rc));
            return;
        }
    }
    if (vgpu_dev_init(&s->dev, &cfg, &vgpu_stub_dev_ops, s) != 0) {
        error_setg(errp, "vgpu-stub: cannot initialise the device model");
        vgpu_trace_rec_close(&s->trace);
        return;
    }
    s->fd = -1;
    s->conn = VGPU_CONN_DOWN;
    vgpu_link_init(&s->link, &s->dev, &vgpu_stub_link_ops, s);
    /* Responses of up to VGPU_Q_MAX_XFER bytes are read whole; the queue
     * entry in flight to the socket is DMA-read into q_buf. */
    s->rx_buf = g_malloc(VGPU_Q_MAX_XFER);
    s->q_buf = g_malloc(VGPU_Q_MAX_XFER);
    s->rd_buf = g_malloc(VGPU_STUB_READ_CHUNK);
    vgpu_link_set_rx(&s->link, s->rx_buf, VGPU_Q_MAX_XFER);

    pci_config_set_interrupt_pin(pdev->config, VGPU_PCI_INTERRUPT_PIN);
    /* Without MSI on this machine the device still works with INTx. */
    rc = msi_init(pdev, 0, VGPU_MSI_VECTORS, true, false, &err);
    if (rc < 0 && rc != -ENOTSUP) {
        error_propagate(errp, err);
        vgpu_dev_fini(&s->dev);
        vgpu_stub_free_buffers(s);
        vgpu_trace_rec_close(&s->trace);
        return;
    }
    error_free(err);

    memory_region_init_io(&s->mmio, OBJECT(s), &vgpu_stub_mmio_ops, s,
                          "vgpu-stub-bar0", VGPU_BAR0_SIZE);
    pci_register_bar(pdev, 0, PCI_BASE_ADDRESS_SPACE_MEMORY, &s->mmio);
    s->timer = timer_new_ns(QEMU_CLOCK_REALTIME, vgpu_stub_timer, s);
    s->load_bh = qemu_bh_new(vgpu_stub_after_load, s);
}

static void
vgpu_stub_exit(PCIDevice *pdev)
{
    VgpuStubState *s = VGPU_STUB(pdev);

    vgpu_stub_close(s);
    timer_del(s->timer); /* QEMU 4.2's timer_free does not */
    timer_free(s->timer);
    s->timer = NULL;
    qemu_bh_delete(s->load_bh);
    s->load_bh = NULL;
    vgpu_trace_rec_close(&s->trace);
    vgpu_dev_fini(&s->dev);
    vgpu_stub_free_buffers(s);
    msi_uninit(pdev);
}

/* Device reset: the model forgets the request in flight, and the connection
 * is dropped so that no answer from before the reset can match a request
 * made after it. The next doorbell reconnects. */
static void
vgpu_stub_reset(DeviceState *ds)
{
    VgpuStubState *s = VGPU_STUB(ds);

    vgpu_stub_trace(s, VGPU_TRACE_RESET, 0, 0, 0, NULL, 0);
    vgpu_dev_reset(&s->dev);
    vgpu_link_reset(&s->link);
    vgpu_stub_close(s);
    s->req_deadline = 0;
    vgpu_stub_rearm(s);
    vgpu_stub_trace_flush(s);
}

/* After a load, in the main loop: the connection did not migrate, so what
 * was in flight can never be answered and ends as if the connection was
 * lost (the mailbox's request in ERROR, each queue entry with a CQ entry of
 * MEDIATOR_UNAVAILABLE, DMA-written, which is why it waits for this bottom
 * half rather than running inside the load). Entries still in the ring
 * are then taken on a new connection. */
static void
vgpu_stub_after_load(void *opaque)
{
    VgpuStubState *s = opaque;

    vgpu_stub_trace(s, VGPU_TRACE_LOAD, 0, 0, 0, NULL, 0);
    if (vgpu_dev_busy(&s->dev) || vgpu_dev_q_inflight(&s->dev) > 0) {
        vgpu_dev_transport_lost(&s->dev);
    } else {
        vgpu_dev_q_kick(&s->dev);
    }
    vgpu_stub_trace_flush(s);
}

static int
vgpu_stub_post_load(void *opaque, int version_id)
{
    VgpuStubState *s = opaque;

    if (vgpu_dev_busy(&s->dev)) {
        vgpu_dev_transport_lost(&s->dev); /* no DMA for the mailbox */
    }
    qemu_bh_schedule(s->load_bh);
    return 0;
}

/* The queue's state (SPEC.md section 11), sent only when the guest has
 * touched it, so a device that never used the queue migrates as before. */
static bool
vgpu_stub_queue_needed(void *opaque)
{
    VgpuStubState *s = opaque;
    const struct vgpu_dev *d = &s->dev;

    return d->q_base_lo != 0 || d->q_base_hi != 0 || d->q_size != 0 ||
           d->q_ctrl != 0 || d->sq_tail != 0 || d->sq_head != 0 ||
           d->cq_tail != 0 || d->cq_head != 0 || d->q_error != 0 ||
           d->q_seq != 0 || d->q_inflight != 0;
}

static const VMStateDescription vgpu_stub_vmstate_q_slot = {
    .name = TYPE_VGPU_STUB "/q_slot",
    .version_id = 1,
    .minimum_version_id = 1,
    .fields =
        (VMStateField[]){
            VMSTATE_UINT32(in_use, struct vgpu_q_slot),
            VMSTATE_UINT32(wire_id, struct vgpu_q_slot),
            VMSTATE_UINT32(tag, struct vgpu_q_slot),
            VMSTATE_UINT32(out_cap, struct vgpu_q_slot),
            VMSTATE_UINT64(out_addr, struct vgpu_q_slot),
            VMSTATE_END_OF_LIST(),
        },
};

static const VMStateDescription vgpu_stub_vmstate_queue = {
    .name = TYPE_VGPU_STUB "/queue",
    .version_id = 1,
    .minimum_version_id = 1,
    .needed = vgpu_stub_queue_needed,
    .fields =
        (VMStateField[]){
            VMSTATE_UINT32(dev.q_base_lo, VgpuStubState),
            VMSTATE_UINT32(dev.q_base_hi, VgpuStubState),
            VMSTATE_UINT32(dev.q_size, VgpuStubState),
            VMSTATE_UINT32(dev.q_ctrl, VgpuStubState),
            VMSTATE_UINT32(dev.sq_tail, VgpuStubState),
            VMSTATE_UINT32(dev.sq_head, VgpuStubState),
            VMSTATE_UINT32(dev.cq_tail, VgpuStubState),
            VMSTATE_UINT32(dev.cq_head, VgpuStubState),
            VMSTATE_UINT32(dev.q_error, VgpuStubState),
            VMSTATE_UINT32(dev.q_accepted, VgpuStubState),
            VMSTATE_UINT32(dev.q_seq, VgpuStubState),
            VMSTATE_UINT32(dev.q_epoch, VgpuStubState),
            VMSTATE_UINT32(dev.q_inflight, VgpuStubState),
            VMSTATE_STRUCT_ARRAY(dev.q_slots, VgpuStubState, VGPU_Q_ENTRIES_MAX,
                                 1, vgpu_stub_vmstate_q_slot,
                                 struct vgpu_q_slot),
            VMSTATE_END_OF_LIST(),
        },
};

static const VMStateDescription *vgpu_stub_vmstate_subsections[] = {
    &vgpu_stub_vmstate_queue,
    NULL,
};

static const VMStateDescription vgpu_stub_vmstate = {
    .name = TYPE_VGPU_STUB,
    .version_id = 1,
    .minimum_version_id = 1,
    .post_load = vgpu_stub_post_load,
    .fields =
        (VMStateField[]){
            VMSTATE_PCI_DEVICE(parent_obj, VgpuStubState),
            VMSTATE_UINT32(dev.status, VgpuStubState),
            VMSTATE_UINT32(dev.error_code, VgpuStubState),
            VMSTATE_UINT32(dev.request_len, VgpuStubState),
            VMSTATE_UINT32(dev.response_len, VgpuStubState),
            VMSTATE_UINT32(dev.irq_ctrl, VgpuStubState),
            VMSTATE_UINT32(dev.irq_status, VgpuStubState),
            VMSTATE_UINT32(dev.request_id, VgpuStubState),
            VMSTATE_UINT32(dev.scratch, VgpuStubState),
            VMSTATE_UINT64(dev.timestamp, VgpuStubState),
            VMSTATE_UINT32(dev.inflight_id, VgpuStubState),
            VMSTATE_UINT32(dev.generation, VgpuStubState),
            VMSTATE_INT32(dev.irq_level, VgpuStubState),
            VMSTATE_UINT8_ARRAY(dev.req_buf, VgpuStubState, VGPU_BUF_SIZE),
            VMSTATE_UINT8_ARRAY(dev.resp_buf, VgpuStubState, VGPU_BUF_SIZE),
            VMSTATE_UINT8_ARRAY(dev.snapshot, VgpuStubState, VGPU_BUF_SIZE),
            VMSTATE_END_OF_LIST(),
        },
    .subsections = vgpu_stub_vmstate_subsections,
};

static void
vgpu_stub_class_init(ObjectClass *klass, VGPU_CLASS_DATA *data)
{
    DeviceClass *dc = DEVICE_CLASS(klass);
    PCIDeviceClass *k = PCI_DEVICE_CLASS(klass);

    k->realize = vgpu_stub_realize;
    k->exit = vgpu_stub_exit;
    k->vendor_id = VGPU_PCI_VENDOR_ID;
    k->device_id = VGPU_PCI_DEVICE_ID;
    k->revision = VGPU_PCI_REVISION;
    k->class_id = VGPU_PCI_CLASS;
    dc->desc = "vgpu-stub: MMIO front end of the vgpu-mediator daemon";
    dc->vmsd = &vgpu_stub_vmstate;
#if VGPU_QEMU_AT_LEAST(9, 1)
    device_class_set_legacy_reset(dc, vgpu_stub_reset);
#else
    dc->reset = vgpu_stub_reset;
#endif
#if VGPU_QEMU_AT_LEAST(5, 0)
    device_class_set_props(dc, vgpu_stub_properties);
#else
    dc->props = vgpu_stub_properties;
#endif
#if VGPU_QEMU_AT_LEAST(5, 1)
    /* What "-device vgpu-stub,help" prints beside each name (SPEC.md
     * section 6); vm_id has no default: it is required. */
    object_class_property_set_description(
        klass, "vm_id", "required: the VM's id, " VGPU_VM_ID_SPELLING);
    object_class_property_set_description(
        klass, "priority", VGPU_PRIO_SPELLINGS " (default medium)");
    object_class_property_set_description(klass, "pool_id",
                                          "one letter A-Z (default A)");
#endif
    set_bit(DEVICE_CATEGORY_MISC, dc->categories);
}

static void
vgpu_stub_register_types(void)
{
    static InterfaceInfo interfaces[] = {
        {INTERFACE_CONVENTIONAL_PCI_DEVICE},
        {},
    };
    static const TypeInfo info = {
        .name = TYPE_VGPU_STUB,
        .parent = TYPE_PCI_DEVICE,
        .instance_size = sizeof(VgpuStubState),
        .class_init = vgpu_stub_class_init,
        .interfaces = interfaces,
    };

    type_register_static(&info);
}

type_init(vgpu_stub_register_types)
