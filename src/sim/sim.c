/*
 * libvgpu-sim's core (vgpu/sim.h): the simulated VMs, each a struct vgpu_dev
 * with a libvgpu-guest client on a sim-owned bus, the frames a VM receives
 * from its mediator, and the log. The transports are in transport_local.c,
 * transport_socket.c and threaded.c (sim_internal.h).
 *
 * A doorbell goes: client -> bus -> vgpu_dev_mmio_write() -> dev_submit()
 * here -> the mode's transport, which hands the request to the VM's link
 * (src/link, vgpu/link.h: the device's end of the protocol, the same code
 * QEMU's vgpu-stub runs). What comes back is fed, as bytes, to the link,
 * which completes the device. docs/protocol.md ("The device's end") says
 * what the link does with each frame.
 *
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

/* ---- The device's effects ------------------------------------------------ */

static int
dev_submit(void *opaque, const struct vgpu_request *req)
{
    struct sim_vm *vm = opaque;

    if (vm->sim->cfg.no_mediator) {
        return VGPU_ERR_MEDIATOR_UNAVAILABLE;
    }
    return vm->sim->tr->submit(vm, req);
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

/* ---- The link: the device's end of the protocol (src/link) --------------- */

static int
link_send(void *opaque, const uint8_t *frame, size_t len)
{
    struct sim_vm *vm = opaque;

    return vm->sim->tr->send(vm, frame, len);
}

static void
link_lost(void *opaque, const char *why)
{
    struct sim_vm *vm = opaque;

    vm->sim->tr->lost(vm, why);
}

static void
link_log(void *opaque, int level, const char *line)
{
    struct sim_vm *vm = opaque;

    sim_log_line(vm->sim, level, line);
}

static const struct vgpu_link_ops sim_link_ops = {
    .send = link_send,
    .lost = link_lost,
    .log = link_log,
};

int
sim_link_init(struct sim_vm *vm)
{
    return vgpu_link_init(&vm->link, &vm->dev, &sim_link_ops, vm);
}

uint64_t
sim_vm_ends(const struct sim_vm *vm)
{
    return vm->dev.stats.completions + vm->dev.stats.errors;
}

/* ---- The sim bus (each transport adds its extras) ------------------------ */

uint32_t
sim_bus_read32(void *ctx, uint32_t off)
{
    struct sim_vm *vm = ctx;

    return vgpu_bus_sim.read32(&vm->dev, off);
}

void
sim_bus_write32(void *ctx, uint32_t off, uint32_t val)
{
    struct sim_vm *vm = ctx;

    vgpu_bus_sim.write32(&vm->dev, off, val);
}

void
sim_bus_read_buf(void *ctx, uint32_t off, void *dst, size_t len)
{
    struct sim_vm *vm = ctx;

    vgpu_bus_sim.read_buf(&vm->dev, off, dst, len);
}

void
sim_bus_write_buf(void *ctx, uint32_t off, const void *src, size_t len)
{
    struct sim_vm *vm = ctx;

    vgpu_bus_sim.write_buf(&vm->dev, off, src, len);
}

/* The sim's VMs belong to the sim; only vgpu_sim_open_single()'s client
 * takes the simulator with it. */
void
sim_bus_close(void *ctx)
{
    struct sim_vm *vm = ctx;
    struct vgpu_sim *sim = vm->sim;

    if (sim->single) {
        vm->client = NULL; /* being closed by its owner */
        vgpu_sim_destroy(sim);
    }
}

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
    if (vgpu_dev_init(&vm->dev, &dc, &sim_dev_ops, vm) != 0 ||
        sim_link_init(vm) != 0) {
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
        break;
    case VGPU_SIM_THREADED:
        sim->tr = &sim_transport_threaded;
        break;
    default:
        sim->tr = &sim_transport_local;
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

        sim->vms[i].client =
            vgpu_open_bus(sim->tr->bus, &sim->vms[i], why, sizeof(why));
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
