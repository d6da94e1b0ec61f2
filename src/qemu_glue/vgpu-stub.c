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
/* Bytes read from the socket per read(); reads per handler call. */
#define VGPU_STUB_READ_CHUNK   4096
#define VGPU_STUB_READS_MAX    16
/* Queued output: HELLO, one request, and PONGs; more means the mediator
 * stopped reading, and the connection is dropped. */
#define VGPU_STUB_OUT_CAP      (4 * VGPU_LINK_FRAME_MAX)
#define VGPU_STUB_NS_PER_MS    1000000LL
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
    uint32_t vm_id;
    uint32_t timeout_ms;
    const char *socket_path; /* socket_prop or the default */

    /* The connection to the mediator. */
    int fd;
    enum vgpu_stub_conn conn;
    uint8_t out[VGPU_STUB_OUT_CAP];
    size_t out_len;
    bool warned_unreachable; /* "cannot connect" said once per outage */
    bool warned_timeout;     /* "timed out" said once per connection */

    /* One timer serves every deadline; 0 means none. */
    QEMUTimer *timer;
    int64_t req_deadline;
    int64_t hs_deadline;
    int64_t retry_at;
} VgpuStubState;

static void vgpu_stub_read(void *opaque);
static void vgpu_stub_write(void *opaque);

static int64_t
vgpu_stub_now(void)
{
    return qemu_clock_get_ns(QEMU_CLOCK_REALTIME);
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
        s->conn == VGPU_CONN_CONNECTING || (reading && s->out_len > 0);

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
    s->out_len = 0;
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
    vgpu_stub_closed(s, why);
    vgpu_link_down(&s->link, VGPU_ERR_MEDIATOR_UNAVAILABLE, why, NULL);
}

/* Write what is queued. Return 0 (all written, or the socket is full), or a
 * negative errno value when the connection is broken. */
static int
vgpu_stub_flush(VgpuStubState *s)
{
    size_t off = 0;
    int rc = 0;

    while (off < s->out_len) {
        ssize_t n = send(s->fd, s->out + off, s->out_len - off, MSG_NOSIGNAL);

        if (n > 0) {
            off += (size_t)n;
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            break;
        } else {
            rc = n < 0 ? -errno : -EPIPE;
            break;
        }
    }
    if (off > 0) {
        memmove(s->out, s->out + off, s->out_len - off);
        s->out_len -= off;
    }
    if (rc == 0) {
        vgpu_stub_handlers(s);
    }
    return rc;
}

/* Queue one frame and try to write it. Return 0 or a negative errno value. */
static int
vgpu_stub_send(VgpuStubState *s, const uint8_t *frame, size_t len)
{
    if (s->fd < 0) {
        return -ENOTCONN;
    }
    if (len > sizeof(s->out) - s->out_len) {
        return -ENOBUFS; /* the mediator has stopped reading */
    }
    memcpy(s->out + s->out_len, frame, len);
    s->out_len += len;
    return vgpu_stub_flush(s);
}

/* The socket is connected: the link sends HELLO and waits for HELLO_ACK. */
static void
vgpu_stub_greet(VgpuStubState *s)
{
    s->conn = VGPU_CONN_OPEN;
    s->retry_at = 0;
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
        return rc;
    }
    return 0;
}

/* ---- Socket handlers -----------------------------------------------------
 */

static void
vgpu_stub_read(void *opaque)
{
    VgpuStubState *s = opaque;
    uint8_t buf[VGPU_STUB_READ_CHUNK];
    char msg[VGPU_STUB_MSG_MAX];

    /* Bounded, so that a flood cannot starve the main loop; the handler is
     * level-triggered and runs again while bytes remain. */
    for (int i = 0; i < VGPU_STUB_READS_MAX && s->fd >= 0; i++) {
        ssize_t n = read(s->fd, buf, sizeof(buf));

        if (n > 0) {
            /* A frame that ends the connection closes it (ops->lost). */
            if (vgpu_link_input(&s->link, buf, (size_t)n) < 0) {
                return;
            }
            if (s->hs_deadline != 0 &&
                vgpu_link_state(&s->link) == VGPU_LINK_READY) {
                s->hs_deadline = 0; /* HELLO_ACK came */
                vgpu_stub_rearm(s);
            }
            if ((size_t)n < sizeof(buf)) {
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

static void
vgpu_stub_write(void *opaque)
{
    VgpuStubState *s = opaque;
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
        vgpu_link_timeout(&s->link);
    }
    vgpu_stub_rearm(s);
}

/* ---- The link's ops --------------------------------------------------------
 */

static int
vgpu_stub_link_send(void *opaque, const uint8_t *frame, size_t len)
{
    return vgpu_stub_send(opaque, frame, len);
}

static void
vgpu_stub_link_lost(void *opaque, const char *why)
{
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

static int
vgpu_stub_submit(void *opaque, const struct vgpu_request *req)
{
    VgpuStubState *s = opaque;

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
    return (uint64_t)vgpu_stub_now();
}

static void
vgpu_stub_guest_error(void *opaque, const char *what)
{
    VgpuStubState *s = opaque;

    qemu_log_mask(LOG_GUEST_ERROR, "vgpu-stub vm_id=%u: %s\n", s->vm_id, what);
}

static const struct vgpu_dev_ops vgpu_stub_dev_ops = {
    .submit = vgpu_stub_submit,
    .set_irq = vgpu_stub_set_irq,
    .now_ns = vgpu_stub_now_ns,
    .guest_error = vgpu_stub_guest_error,
};

/* ---- BAR0 ----------------------------------------------------------------
 */

static uint64_t
vgpu_stub_mmio_read(void *opaque, hwaddr addr, unsigned size)
{
    VgpuStubState *s = opaque;

    return vgpu_dev_mmio_read(&s->dev, addr, size);
}

static void
vgpu_stub_mmio_write(void *opaque, hwaddr addr, uint64_t val, unsigned size)
{
    VgpuStubState *s = opaque;

    vgpu_dev_mmio_write(&s->dev, addr, val, size);
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
    if (prio != NULL && vgpu_prio_parse(prio, strlen(prio),
                                        VGPU_PARSE_DIGITS | VGPU_PARSE_ANYCASE,
                                        &cfg->priority) < 0) {
        error_setg(errp,
                   "vgpu-stub: priority '%s' is not one of low, medium, high "
                   "(or 0, 1, 2)",
                   prio);
        return false;
    }
    if (s->vm_id < VGPU_VM_ID_MIN) {
        error_setg(errp, "vgpu-stub: vm_id is required (%u..%u)",
                   VGPU_VM_ID_MIN, UINT32_MAX);
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
    DEFINE_PROP_UINT32("vm_id", VgpuStubState, vm_id, 0),
    DEFINE_PROP_STRING("socket", VgpuStubState, socket_prop),
    DEFINE_PROP_UINT32("timeout_ms", VgpuStubState, timeout_ms,
                       VGPU_DEFAULT_TIMEOUT_MS),
#ifdef DEFINE_PROP_END_OF_LIST
    DEFINE_PROP_END_OF_LIST(),
#endif
};

/* ---- Lifecycle -----------------------------------------------------------
 */

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
    if (vgpu_dev_init(&s->dev, &cfg, &vgpu_stub_dev_ops, s) != 0) {
        error_setg(errp, "vgpu-stub: cannot initialise the device model");
        return;
    }
    s->fd = -1;
    s->conn = VGPU_CONN_DOWN;
    vgpu_link_init(&s->link, &s->dev, &vgpu_stub_link_ops, s);

    pci_config_set_interrupt_pin(pdev->config, VGPU_PCI_INTERRUPT_PIN);
    /* Without MSI on this machine the device still works with INTx. */
    rc = msi_init(pdev, 0, VGPU_MSI_VECTORS, true, false, &err);
    if (rc < 0 && rc != -ENOTSUP) {
        error_propagate(errp, err);
        vgpu_dev_fini(&s->dev);
        return;
    }
    error_free(err);

    memory_region_init_io(&s->mmio, OBJECT(s), &vgpu_stub_mmio_ops, s,
                          "vgpu-stub-bar0", VGPU_BAR0_SIZE);
    pci_register_bar(pdev, 0, PCI_BASE_ADDRESS_SPACE_MEMORY, &s->mmio);
    s->timer = timer_new_ns(QEMU_CLOCK_REALTIME, vgpu_stub_timer, s);
}

static void
vgpu_stub_exit(PCIDevice *pdev)
{
    VgpuStubState *s = VGPU_STUB(pdev);

    vgpu_stub_close(s);
    timer_del(s->timer); /* QEMU 4.2's timer_free does not */
    timer_free(s->timer);
    s->timer = NULL;
    vgpu_dev_fini(&s->dev);
    msi_uninit(pdev);
}

/* Device reset: the model forgets the request in flight, and the connection
 * is dropped so that no answer from before the reset can match a request
 * made after it. The next doorbell reconnects. */
static void
vgpu_stub_reset(DeviceState *ds)
{
    VgpuStubState *s = VGPU_STUB(ds);

    vgpu_dev_reset(&s->dev);
    vgpu_link_reset(&s->link);
    vgpu_stub_close(s);
    s->req_deadline = 0;
    vgpu_stub_rearm(s);
}

/* The connection did not migrate: a request that was in flight can never be
 * answered, so it ends as if the connection was lost. */
static int
vgpu_stub_post_load(void *opaque, int version_id)
{
    VgpuStubState *s = opaque;

    if (vgpu_dev_busy(&s->dev)) {
        vgpu_dev_transport_lost(&s->dev);
    }
    return 0;
}

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
