/*
 * libvgpu-sim's core (vgpu/sim.h): the simulated VMs, each a struct vgpu_dev
 * with a libvgpu-guest client on a sim-owned bus, the frames a VM receives
 * from its mediator, and the log. The transports are in transport_local.c,
 * transport_socket.c and threaded.c (sim_internal.h).
 *
 * A doorbell goes: client -> bus -> vgpu_dev_mmio_write() -> dev_submit()
 * here, which encodes the REQUEST frame and hands it to the mode's
 * transport. What comes back is fed, as bytes, to the VM's streaming
 * decoder in sim_vm_input(), which completes the device.
 *
 * Decisions the header leaves open (also in docs/debugging.md):
 * - Every RESPONSE is matched to the request it answers by request_id
 *   through a short list of the requests sent on the connection, so that a
 *   late answer to a request that timed out or was abandoned by a reset
 *   carries that request's generation and is dropped as stale, even if the
 *   guest reused its request id.
 * - A frame the decoder refuses ends the request in flight with
 *   PROTOCOL_ERROR (SPEC.md section 7) and drops the connection; an ERROR
 *   frame ends it with MEDIATOR_UNAVAILABLE and the mediator's reason as
 *   the message, and drops the connection. The next doorbell reconnects.
 * - The log: VGPU_SIM_LOG names a file to append to ("-" or unset:
 *   stderr) and VGPU_SIM_LOG_LEVEL its level (error, warn, info, debug;
 *   default warn on stderr, info in a file). Lines have the daemon's form,
 *   "<ISO8601 UTC time> <level> <text>", and the in-process core's lines
 *   go there too.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "sim_internal.h"
#include "vgpu/guest.h"

#define SIM_LOG_LINE_MAX 1024u
#define SIM_NS_PER_SEC   1000000000ull
#define SIM_MS_PER_SEC   1000L
#define SIM_NS_PER_MSEC  1000000L

static const char *const sim_level_names[] = {
    [VGPU_LOG_ERROR] = "error",
    [VGPU_LOG_WARN] = "warn",
    [VGPU_LOG_INFO] = "info",
    [VGPU_LOG_DEBUG] = "debug",
};

#define SIM_LEVELS ((int)(sizeof(sim_level_names) / sizeof(sim_level_names[0])))

uint64_t
sim_now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * SIM_NS_PER_SEC + (uint64_t)ts.tv_nsec;
}

/* ---- The log ------------------------------------------------------------- */

void
sim_log_line(struct vgpu_sim *sim, int level, const char *text)
{
    char line[SIM_LOG_LINE_MAX];
    struct timespec ts;
    struct tm tm;
    size_t n;

    if (level > sim->log_level || level < 0 || level >= SIM_LEVELS) {
        return;
    }
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    n = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
    n += (size_t)snprintf(line + n, sizeof(line) - n, ".%03ldZ %s ",
                          ts.tv_nsec / SIM_NS_PER_MSEC, sim_level_names[level]);
    for (const char *p = text; *p != '\0' && n < sizeof(line) - 1; p++) {
        unsigned char ch = (unsigned char)*p;

        line[n++] = (ch < ' ' || ch == '\177') ? '?' : (char)ch;
    }
    line[n++] = '\n';
    /* One write per line, so the threads of the threaded mode do not
     * interleave within a line; a log that cannot be written is ignored. */
    if (write(sim->log_fd, line, n) < 0) {
        return;
    }
}

void
sim_log(struct vgpu_sim *sim, int level, const char *fmt, ...)
{
    char text[SIM_LOG_LINE_MAX];
    va_list ap;

    if (level > sim->log_level) {
        return;
    }
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    sim_log_line(sim, level, text);
}

/* VGPU_SIM_LOG and VGPU_SIM_LOG_LEVEL. */
static int
sim_log_open(struct vgpu_sim *sim, char *err, size_t err_len)
{
    const char *path = getenv("VGPU_SIM_LOG");
    const char *level = getenv("VGPU_SIM_LOG_LEVEL");

    sim->log_fd = STDERR_FILENO;
    sim->log_level = VGPU_LOG_WARN;
    if (path != NULL && path[0] != '\0' && strcmp(path, "-") != 0) {
        int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);

        if (fd < 0) {
            vgpu_set_err(err, err_len, "VGPU_SIM_LOG: cannot open %s: %s", path,
                         strerror(errno));
            return -errno;
        }
        sim->log_fd = fd;
        sim->log_level = VGPU_LOG_INFO;
    }
    if (level != NULL && level[0] != '\0') {
        int i;

        for (i = 0; i < SIM_LEVELS; i++) {
            if (strcmp(level, sim_level_names[i]) == 0) {
                break;
            }
        }
        if (i == SIM_LEVELS) {
            vgpu_set_err(err, err_len,
                         "VGPU_SIM_LOG_LEVEL: '%s' is not one of error, warn, "
                         "info, debug",
                         level);
            return -EINVAL;
        }
        sim->log_level = i;
    }
    return 0;
}

/* ---- Requests the connection carries ------------------------------------- */

static void
pending_push(struct sim_vm *vm, uint32_t generation, uint32_t request_id)
{
    struct sim_pending *p;

    if (vm->pending_count == SIM_PENDING_MAX) {
        /* Forget the oldest: its answer, if it ever comes, is stale. */
        vm->pending_head = (vm->pending_head + 1u) % SIM_PENDING_MAX;
        vm->pending_count--;
    }
    p = &vm->pending[(vm->pending_head + vm->pending_count) % SIM_PENDING_MAX];
    p->generation = generation;
    p->request_id = request_id;
    vm->pending_count++;
}

/* The generation of the request @request_id answers; it and every older
 * entry leave the list (answers come in order on one connection). Return:
 * 1 if found. */
static int
pending_take(struct sim_vm *vm, uint32_t request_id, uint32_t *generation)
{
    for (unsigned i = 0; i < vm->pending_count; i++) {
        unsigned idx = (vm->pending_head + i) % SIM_PENDING_MAX;

        if (vm->pending[idx].request_id == request_id) {
            *generation = vm->pending[idx].generation;
            vm->pending_head = (idx + 1u) % SIM_PENDING_MAX;
            vm->pending_count -= i + 1u;
            return 1;
        }
    }
    return 0;
}

/* ---- The device's effects ------------------------------------------------ */

static int
dev_submit(void *opaque, const struct vgpu_request *req)
{
    struct sim_vm *vm = opaque;
    struct vgpu_sim *sim = vm->sim;
    struct vgpu_hdr h;
    int n;
    int rc;

    if (sim->cfg.no_mediator) {
        return VGPU_ERR_MEDIATOR_UNAVAILABLE;
    }
    vgpu_hdr_init(&h, VGPU_MSG_REQUEST);
    h.vm_id = req->vm_id;
    h.request_id = req->request_id;
    h.pool_id = req->pool_id;
    h.priority = req->priority;
    n = vgpu_frame_encode(&h, req->data, req->len, vm->wire, sizeof(vm->wire));
    if (n < 0) {
        /* Not reached: a request is at most VGPU_BUF_SIZE bytes. */
        return VGPU_ERR_PROTOCOL_ERROR;
    }
    pending_push(vm, req->generation, req->request_id);
    rc = sim->tr->submit(vm, vm->wire, (size_t)n);
    if (rc != 0 && vm->pending_count > 0) {
        vm->pending_count--; /* it never left */
    }
    return rc;
}

static void
dev_set_irq(void *opaque, int level)
{
    struct sim_vm *vm = opaque;

    vm->irq_level = level;
}

static uint64_t
dev_now_ns(void *opaque)
{
    (void)opaque;
    return sim_now_ns();
}

static void
dev_guest_error(void *opaque, const char *what)
{
    struct sim_vm *vm = opaque;

    vm->guest_errors++;
    sim_log(vm->sim, VGPU_LOG_DEBUG, "vm=%u: guest error: %s",
            (unsigned)vm->dev.cfg.vm_id, what);
}

static const struct vgpu_dev_ops sim_dev_ops = {
    .submit = dev_submit,
    .set_irq = dev_set_irq,
    .now_ns = dev_now_ns,
    .guest_error = dev_guest_error,
};

/* ---- Frames from the mediator -------------------------------------------- */

size_t
sim_hello_frame(const struct sim_vm *vm, uint8_t *buf, size_t cap)
{
    uint8_t payload[VGPU_HELLO_PAYLOAD_SIZE];
    struct vgpu_hdr h;
    int n;

    vgpu_hdr_init(&h, VGPU_MSG_HELLO);
    h.vm_id = vm->dev.cfg.vm_id;
    h.pool_id = vm->dev.cfg.pool_id;
    h.priority = vm->dev.cfg.priority;
    vgpu_hello_pack(payload, VGPU_PROTOCOL_VERSION, VGPU_CAPABILITIES);
    n = vgpu_frame_encode(&h, payload, sizeof(payload), buf, cap);
    return n > 0 ? (size_t)n : 0;
}

/* End the request in flight (if any) with @status and @msg as its text. */
static void
vm_fail_inflight(struct sim_vm *vm, uint32_t status, const char *msg)
{
    uint32_t gen;
    uint32_t id;

    if (!vgpu_dev_busy(&vm->dev)) {
        return;
    }
    vgpu_dev_inflight(&vm->dev, &gen, &id);
    vgpu_dev_complete(&vm->dev, gen, id, status, (const uint8_t *)msg,
                      strlen(msg));
}

static void
vm_response(struct sim_vm *vm, const struct vgpu_frame *f)
{
    const struct vgpu_hdr *h = &f->hdr;
    uint32_t gen;
    int rc;

    if (!pending_take(vm, h->request_id, &gen)) {
        /* Not a request we sent on this connection: let the device's
         * request id check decide. */
        vgpu_dev_inflight(&vm->dev, &gen, NULL);
    }
    if (f->truncated) {
        sim_log(vm->sim, VGPU_LOG_WARN,
                "vm=%u req=%u: response of %u bytes is over the %u-byte "
                "buffer: RESPONSE_TOO_LARGE",
                (unsigned)vm->dev.cfg.vm_id, (unsigned)h->request_id,
                (unsigned)h->payload_len, VGPU_BUF_SIZE);
        rc = vgpu_dev_complete(&vm->dev, gen, h->request_id,
                               VGPU_ERR_RESPONSE_TOO_LARGE, NULL,
                               h->payload_len);
    } else {
        rc = vgpu_dev_complete(&vm->dev, gen, h->request_id, h->status,
                               f->payload, h->payload_len);
    }
    if (rc == -ESTALE) {
        sim_log(vm->sim, VGPU_LOG_INFO,
                "vm=%u req=%u: stale response dropped (the device abandoned "
                "that request)",
                (unsigned)vm->dev.cfg.vm_id, (unsigned)h->request_id);
    }
}

/* Keep an ERROR frame's reason, printable, in vm->message. */
static void
vm_keep_message(struct sim_vm *vm, const struct vgpu_frame *f)
{
    size_t len = f->payload != NULL ? f->hdr.payload_len : 0;

    if (len > sizeof(vm->message) - 1u) {
        len = sizeof(vm->message) - 1u;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = f->payload[i];

        vm->message[i] = (ch < ' ' || ch == '\177') ? '?' : (char)ch;
    }
    vm->message[len] = '\0';
    if (len == 0) {
        snprintf(vm->message, sizeof(vm->message), "ERROR %s",
                 vgpu_strerror((int)f->hdr.status));
    }
}

/* One whole frame. Return 0, or a negative code to drop the connection. */
static int
vm_frame(struct sim_vm *vm, const struct vgpu_frame *f)
{
    unsigned vm_id = (unsigned)vm->dev.cfg.vm_id;

    switch (f->hdr.type) {
    case VGPU_MSG_HELLO_ACK:
        if (!vm->connected) {
            vm->connected = 1;
            sim_log(vm->sim, VGPU_LOG_DEBUG, "vm=%u: HELLO_ACK", vm_id);
            return 0;
        }
        snprintf(vm->message, sizeof(vm->message),
                 "protocol error: a second HELLO_ACK");
        break;
    case VGPU_MSG_RESPONSE:
        if (vm->connected) {
            vm_response(vm, f);
            return 0;
        }
        snprintf(vm->message, sizeof(vm->message),
                 "protocol error: RESPONSE before HELLO_ACK");
        break;
    case VGPU_MSG_ERROR:
        vm_keep_message(vm, f);
        sim_log(vm->sim, VGPU_LOG_WARN,
                "vm=%u: the mediator sent ERROR %s: %s; dropping the "
                "connection",
                vm_id, vgpu_strerror((int)f->hdr.status), vm->message);
        vm_fail_inflight(vm, VGPU_ERR_MEDIATOR_UNAVAILABLE, vm->message);
        return -ECONNRESET;
    case VGPU_MSG_PING:
        vm->pings++;
        return 0;
    case VGPU_MSG_PONG:
        return 0;
    default:
        snprintf(vm->message, sizeof(vm->message),
                 "protocol error: unexpected frame type %u from the mediator",
                 (unsigned)f->hdr.type);
        break;
    }
    sim_log(vm->sim, VGPU_LOG_WARN, "vm=%u: %s; dropping the connection", vm_id,
            vm->message);
    vm_fail_inflight(vm, VGPU_ERR_PROTOCOL_ERROR, vm->message);
    return -EPROTO;
}

int
sim_vm_input(struct sim_vm *vm, const uint8_t *data, size_t len)
{
    size_t pos = 0;

    while (pos < len) {
        struct vgpu_frame f;
        size_t used = 0;
        int rc = vgpu_decoder_feed(&vm->dec, data + pos, len - pos, &used, &f);

        pos += used;
        if (rc < 0) {
            snprintf(vm->message, sizeof(vm->message), "protocol error: %s",
                     vgpu_strerror(rc));
            sim_log(vm->sim, VGPU_LOG_WARN,
                    "vm=%u: %s; dropping the connection",
                    (unsigned)vm->dev.cfg.vm_id, vm->message);
            vm_fail_inflight(vm, VGPU_ERR_PROTOCOL_ERROR, vm->message);
            return rc;
        }
        if (rc == 0) {
            break;
        }
        rc = vm_frame(vm, &f);
        if (rc < 0) {
            return rc;
        }
    }
    return 0;
}

void
sim_vm_lost(struct sim_vm *vm)
{
    vm->connected = 0;
    vm->pings = 0;
    vm->pending_count = 0;
    vgpu_decoder_reset(&vm->dec);
    vgpu_dev_transport_lost(&vm->dev);
}

uint64_t
sim_vm_ends(const struct sim_vm *vm)
{
    return vm->dev.stats.completions + vm->dev.stats.errors;
}

/* ---- The sim bus: vgpu_bus_sim with the mode's extras -------------------- */

static uint32_t
bus_read32(void *ctx, uint32_t off)
{
    struct sim_vm *vm = ctx;

    return vgpu_bus_sim.read32(&vm->dev, off);
}

static void
bus_write32(void *ctx, uint32_t off, uint32_t val)
{
    struct sim_vm *vm = ctx;

    vgpu_bus_sim.write32(&vm->dev, off, val);
}

static void
bus_read_buf(void *ctx, uint32_t off, void *dst, size_t len)
{
    struct sim_vm *vm = ctx;

    vgpu_bus_sim.read_buf(&vm->dev, off, dst, len);
}

static void
bus_write_buf(void *ctx, uint32_t off, const void *src, size_t len)
{
    struct sim_vm *vm = ctx;

    vgpu_bus_sim.write_buf(&vm->dev, off, src, len);
}

/* The sim's VMs belong to the sim; only vgpu_sim_open_single()'s client
 * takes the simulator with it. */
static void
bus_close(void *ctx)
{
    struct sim_vm *vm = ctx;
    struct vgpu_sim *sim = vm->sim;

    if (sim->single) {
        vm->client = NULL; /* being closed by its owner */
        vgpu_sim_destroy(sim);
    }
}

/* Socket mode: a read of STATUS while BUSY first reads what the mediator
 * sent, so a polling guest sees its completion. */
static uint32_t
bus_socket_read32(void *ctx, uint32_t off)
{
    struct sim_vm *vm = ctx;

    if (off == VGPU_REG_STATUS && vgpu_dev_busy(&vm->dev)) {
        sim_socket_pump(vm, 0);
    }
    return vgpu_bus_sim.read32(&vm->dev, off);
}

/* Socket mode's interrupt: wait on the VM's socket. */
static int
bus_socket_wait(void *ctx, int timeout_ms)
{
    return sim_socket_pump(ctx, timeout_ms);
}

/* Threaded mode: every access under the VM's lock. */
static uint32_t
bus_locked_read32(void *ctx, uint32_t off)
{
    struct sim_vm *vm = ctx;
    uint32_t v;

    pthread_mutex_lock(&vm->lock);
    v = vgpu_bus_sim.read32(&vm->dev, off);
    pthread_mutex_unlock(&vm->lock);
    return v;
}

static void
bus_locked_write32(void *ctx, uint32_t off, uint32_t val)
{
    struct sim_vm *vm = ctx;

    pthread_mutex_lock(&vm->lock);
    vgpu_bus_sim.write32(&vm->dev, off, val);
    pthread_mutex_unlock(&vm->lock);
}

static void
bus_locked_read_buf(void *ctx, uint32_t off, void *dst, size_t len)
{
    struct sim_vm *vm = ctx;

    pthread_mutex_lock(&vm->lock);
    vgpu_bus_sim.read_buf(&vm->dev, off, dst, len);
    pthread_mutex_unlock(&vm->lock);
}

static void
bus_locked_write_buf(void *ctx, uint32_t off, const void *src, size_t len)
{
    struct sim_vm *vm = ctx;

    pthread_mutex_lock(&vm->lock);
    vgpu_bus_sim.write_buf(&vm->dev, off, src, len);
    pthread_mutex_unlock(&vm->lock);
}

static int
bus_threaded_wait(void *ctx, int timeout_ms)
{
    return sim_threaded_wait(ctx, timeout_ms);
}

/* Deterministic mode: a doorbell has completed before the write returns,
 * so the client polls STATUS once and has no interrupt to wait for. */
static const struct vgpu_bus_ops sim_bus_local = {
    .name = "sim",
    .read32 = bus_read32,
    .write32 = bus_write32,
    .read_buf = bus_read_buf,
    .write_buf = bus_write_buf,
    .wait_irq = NULL,
    .close = bus_close,
    .identity = NULL,
};

static const struct vgpu_bus_ops sim_bus_socket = {
    .name = "sim",
    .read32 = bus_socket_read32,
    .write32 = bus_write32,
    .read_buf = bus_read_buf,
    .write_buf = bus_write_buf,
    .wait_irq = bus_socket_wait,
    .close = bus_close,
    .identity = NULL,
};

static const struct vgpu_bus_ops sim_bus_threaded = {
    .name = "sim",
    .read32 = bus_locked_read32,
    .write32 = bus_locked_write32,
    .read_buf = bus_locked_read_buf,
    .write_buf = bus_locked_write_buf,
    .wait_irq = bus_threaded_wait,
    .close = bus_close,
    .identity = NULL,
};

/* ---- Lifecycle ----------------------------------------------------------- */

static int
sim_check_config(const struct vgpu_sim_config *cfg, char *err, size_t err_len)
{
    if (cfg == NULL) {
        vgpu_set_err(err, err_len, "no configuration");
        return -EINVAL;
    }
    if (cfg->mode != VGPU_SIM_DETERMINISTIC && cfg->mode != VGPU_SIM_SOCKET &&
        cfg->mode != VGPU_SIM_THREADED) {
        vgpu_set_err(err, err_len,
                     "mode %d is not one of deterministic (%d), "
                     "socket (%d), threaded (%d)",
                     cfg->mode, VGPU_SIM_DETERMINISTIC, VGPU_SIM_SOCKET,
                     VGPU_SIM_THREADED);
        return -EINVAL;
    }
    if (cfg->n_vms == 0 || cfg->n_vms > VGPU_SIM_MAX_VMS || cfg->vms == NULL) {
        vgpu_set_err(err, err_len,
                     "n_vms %u: want 1..%u VMs and their identities",
                     cfg->n_vms, VGPU_SIM_MAX_VMS);
        return -EINVAL;
    }
    if (cfg->mode == VGPU_SIM_SOCKET &&
        (cfg->socket_path == NULL || cfg->socket_path[0] == '\0')) {
        vgpu_set_err(err, err_len, "socket mode needs socket_path");
        return -EINVAL;
    }
    if (cfg->timeout_ms > VGPU_MAX_TIMEOUT_MS) {
        vgpu_set_err(err, err_len, "timeout_ms %u is over %u",
                     (unsigned)cfg->timeout_ms, VGPU_MAX_TIMEOUT_MS);
        return -EINVAL;
    }
    for (unsigned i = 0; i < cfg->n_vms; i++) {
        struct vgpu_dev_config dc = {
            .pool_id = cfg->vms[i].pool,
            .priority = cfg->vms[i].priority,
            .vm_id = cfg->vms[i].vm_id,
        };

        if (vgpu_dev_config_check(&dc) != 0) {
            vgpu_set_err(
                err, err_len,
                "vm %u (index %u): pool 0x%02x priority %u: want vm_id "
                ">= %u, pool %c..%c, priority %u..%u",
                (unsigned)dc.vm_id, i, (unsigned)dc.pool_id,
                (unsigned)dc.priority, VGPU_VM_ID_MIN, VGPU_POOL_FIRST,
                VGPU_POOL_LAST, VGPU_PRIO_LOW, VGPU_PRIO_HIGH);
            return -EINVAL;
        }
    }
    return 0;
}

static int
sim_init_vm(struct vgpu_sim *sim, unsigned i, char *err, size_t err_len)
{
    struct sim_vm *vm = &sim->vms[i];
    pthread_condattr_t ca;
    struct vgpu_dev_config dc = {
        .pool_id = sim->ids[i].pool,
        .priority = sim->ids[i].priority,
        .vm_id = sim->ids[i].vm_id,
    };

    vm->sim = sim;
    vm->index = i;
    vm->fd = -1;
    vgpu_decoder_init(&vm->dec, vm->payload, sizeof(vm->payload),
                      VGPU_MAX_PAYLOAD);
    if (vgpu_dev_init(&vm->dev, &dc, &sim_dev_ops, vm) != 0) {
        vgpu_set_err(err, err_len, "vm %u: bad device configuration",
                     (unsigned)dc.vm_id);
        return -EINVAL;
    }
    pthread_mutex_init(&vm->lock, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&vm->done_cond, &ca);
    pthread_condattr_destroy(&ca);
    return 0;
}

struct vgpu_sim *
vgpu_sim_create(const struct vgpu_sim_config *cfg, char *err, size_t err_len)
{
    const struct vgpu_bus_ops *bus;
    struct vgpu_sim *sim;
    unsigned inited = 0;
    int started = 0;

    vgpu_set_err(err, err_len, "%s", "");
    if (sim_check_config(cfg, err, err_len) < 0) {
        return NULL;
    }
    sim = calloc(1, sizeof(*sim));
    if (sim == NULL) {
        vgpu_set_err(err, err_len, "out of memory");
        return NULL;
    }
    sim->log_fd = STDERR_FILENO;
    sim->cfg = *cfg;
    pthread_mutex_init(&sim->core_lock, NULL);
    pthread_mutex_init(&sim->q_lock, NULL);
    pthread_cond_init(&sim->q_cond, NULL);
    if (sim_log_open(sim, err, err_len) < 0) {
        goto err;
    }
    sim->ids = malloc(cfg->n_vms * sizeof(*sim->ids));
    sim->vms = calloc(cfg->n_vms, sizeof(*sim->vms));
    if (cfg->socket_path != NULL) {
        sim->socket_path = strdup(cfg->socket_path);
    }
    if (sim->ids == NULL || sim->vms == NULL ||
        (cfg->socket_path != NULL && sim->socket_path == NULL)) {
        vgpu_set_err(err, err_len, "out of memory");
        goto err;
    }
    memcpy(sim->ids, cfg->vms, cfg->n_vms * sizeof(*sim->ids));
    sim->cfg.vms = sim->ids;
    sim->cfg.socket_path = sim->socket_path;
    switch (cfg->mode) {
    case VGPU_SIM_SOCKET:
        sim->tr = &sim_transport_socket;
        bus = &sim_bus_socket;
        break;
    case VGPU_SIM_THREADED:
        sim->tr = &sim_transport_threaded;
        bus = &sim_bus_threaded;
        break;
    default:
        sim->tr = &sim_transport_local;
        bus = &sim_bus_local;
        break;
    }
    for (; inited < cfg->n_vms; inited++) {
        if (sim_init_vm(sim, inited, err, err_len) < 0) {
            goto err;
        }
    }
    started = 1;
    if (sim->tr->start(sim, err, err_len) < 0) {
        goto err;
    }
    for (unsigned i = 0; i < cfg->n_vms; i++) {
        char why[SIM_MSG_MAX] = "";

        sim->vms[i].client = vgpu_open_bus(bus, &sim->vms[i], why, sizeof(why));
        if (sim->vms[i].client == NULL) {
            vgpu_set_err(err, err_len, "vm %u: guest client: %s",
                         (unsigned)sim->ids[i].vm_id, why);
            goto err;
        }
    }
    sim_log(sim, VGPU_LOG_INFO, "simulator: %u VMs, %s transport", cfg->n_vms,
            sim->tr->name);
    return sim;

err:
    /* Undo in reverse order; vgpu_sim_destroy() does the same for a
     * complete simulator. */
    if (sim->vms != NULL) {
        for (unsigned i = 0; i < inited; i++) {
            vgpu_close(sim->vms[i].client);
            sim->vms[i].client = NULL;
        }
    }
    if (started) {
        sim->tr->stop(sim);
    }
    for (unsigned i = inited; i-- > 0;) {
        vgpu_dev_fini(&sim->vms[i].dev);
        pthread_cond_destroy(&sim->vms[i].done_cond);
        pthread_mutex_destroy(&sim->vms[i].lock);
    }
    free(sim->vms);
    free(sim->socket_path);
    free(sim->ids);
    if (sim->log_fd != STDERR_FILENO) {
        close(sim->log_fd);
    }
    pthread_cond_destroy(&sim->q_cond);
    pthread_mutex_destroy(&sim->q_lock);
    pthread_mutex_destroy(&sim->core_lock);
    free(sim);
    return NULL;
}

void
vgpu_sim_destroy(struct vgpu_sim *sim)
{
    unsigned n;

    if (sim == NULL) {
        return;
    }
    n = sim->cfg.n_vms;
    for (unsigned i = 0; i < n; i++) {
        vgpu_close(sim->vms[i].client);
        sim->vms[i].client = NULL;
    }
    sim->tr->stop(sim);
    for (unsigned i = n; i-- > 0;) {
        vgpu_dev_fini(&sim->vms[i].dev);
        pthread_cond_destroy(&sim->vms[i].done_cond);
        pthread_mutex_destroy(&sim->vms[i].lock);
    }
    free(sim->vms);
    free(sim->socket_path);
    free(sim->ids);
    if (sim->log_fd != STDERR_FILENO) {
        close(sim->log_fd);
    }
    pthread_cond_destroy(&sim->q_cond);
    pthread_mutex_destroy(&sim->q_lock);
    pthread_mutex_destroy(&sim->core_lock);
    free(sim);
}

struct vgpu_client *
vgpu_sim_client(struct vgpu_sim *sim, unsigned i)
{
    if (sim == NULL || i >= sim->cfg.n_vms) {
        return NULL;
    }
    return sim->vms[i].client;
}

struct vgpu_dev *
vgpu_sim_dev(struct vgpu_sim *sim, unsigned i)
{
    if (sim == NULL || i >= sim->cfg.n_vms) {
        return NULL;
    }
    return &sim->vms[i].dev;
}

int
vgpu_sim_poll(struct vgpu_sim *sim, int timeout_ms)
{
    if (sim == NULL) {
        return -EINVAL;
    }
    return sim->tr->poll(sim, timeout_ms);
}

void
vgpu_sim_disconnect(struct vgpu_sim *sim, unsigned i)
{
    if (sim == NULL || i >= sim->cfg.n_vms) {
        return;
    }
    sim->tr->disconnect(&sim->vms[i]);
}

size_t
vgpu_sim_stats(struct vgpu_sim *sim,
               void (*fn)(const struct vgpu_vm_stats *, void *), void *arg)
{
    if (sim == NULL) {
        return 0;
    }
    return sim->tr->stats(sim, fn, arg);
}

struct vgpu_client *
vgpu_sim_open_single(uint32_t vm_id, uint8_t pool, uint8_t priority,
                     int no_mediator, char *err, size_t err_len)
{
    struct vgpu_sim_vm id = {
        .vm_id = vm_id, .pool = pool, .priority = priority};
    struct vgpu_sim_config cfg = {
        .mode = VGPU_SIM_DETERMINISTIC,
        .n_vms = 1,
        .vms = &id,
        .no_mediator = no_mediator,
    };
    struct vgpu_sim *sim = vgpu_sim_create(&cfg, err, err_len);

    if (sim == NULL) {
        return NULL;
    }
    sim->single = 1;
    return sim->vms[0].client;
}
