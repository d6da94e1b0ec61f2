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
#include <sys/mman.h>
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

/* ---- Guest memory: the queue's DMA ----------------------------------------
 */

/* The guest-memory offset of [@addr, @addr + @len), or -EFAULT when any of
 * it is outside guest memory or in a faulting range; -EPERM with bus
 * mastering off. */
static int
dma_check(const struct sim_vm *vm, uint64_t addr, size_t len, uint64_t *off)
{
    uint64_t end;

    if (vm->bus_master_off) {
        return -EPERM;
    }
    if (addr < VGPU_SIM_GUEST_BASE || len > vm->mem_size ||
        addr - VGPU_SIM_GUEST_BASE > vm->mem_size - len) {
        return -EFAULT;
    }
    end = addr + len;
    for (unsigned i = 0; i < vm->n_faults; i++) {
        uint64_t fa = vm->faults[i].addr;
        uint64_t fe = fa + vm->faults[i].len;

        if (addr < fe && fa < end) {
            return -EFAULT;
        }
    }
    *off = addr - VGPU_SIM_GUEST_BASE;
    return 0;
}

static int
dev_dma_read(void *opaque, uint64_t addr, void *buf, size_t len)
{
    struct sim_vm *vm = opaque;
    uint64_t off;
    int rc = dma_check(vm, addr, len, &off);

    if (rc == 0) {
        memcpy(buf, vm->mem + off, len);
    }
    return rc;
}

static int
dev_dma_write(void *opaque, uint64_t addr, const void *buf, size_t len)
{
    struct sim_vm *vm = opaque;
    uint64_t off;
    int rc = dma_check(vm, addr, len, &off);

    if (rc == 0) {
        memcpy(vm->mem + off, buf, len);
    }
    return rc;
}

/* The input of a queue entry is read here just before ops->submit, which
 * copies it onward (into the socket's output or the core). */
static uint8_t *
dev_q_buffer(void *opaque, size_t len)
{
    struct sim_vm *vm = opaque;

    if (len > VGPU_Q_MAX_XFER) {
        return NULL;
    }
    if (vm->qbuf == NULL) {
        vm->qbuf = malloc(VGPU_Q_MAX_XFER);
    }
    return vm->qbuf;
}

/* The sim bus's dma_alloc: first fit over whole pages of guest memory. */
void *
sim_bus_dma_alloc(void *ctx, size_t len, uint64_t *dev_addr)
{
    struct sim_vm *vm = ctx;
    uint64_t pages = (len + SIM_PAGE_SIZE - 1u) / SIM_PAGE_SIZE;
    uint64_t total = vm->mem_size / SIM_PAGE_SIZE;
    uint64_t run = 0;

    if (vm->mem == NULL || len == 0) {
        errno = vm->mem == NULL ? ENOTSUP : EINVAL;
        return NULL;
    }
    for (uint64_t p = 0; p < total; p++) {
        run = vm->page_used[p] ? 0 : run + 1u;
        if (run == pages) {
            uint64_t first = p + 1u - pages;

            memset(vm->page_used + first, 1, pages);
            memset(vm->mem + first * SIM_PAGE_SIZE, 0, len);
            *dev_addr = VGPU_SIM_GUEST_BASE + first * SIM_PAGE_SIZE;
            return vm->mem + first * SIM_PAGE_SIZE;
        }
    }
    errno = ENOMEM;
    return NULL;
}

void
sim_bus_dma_free(void *ctx, void *ptr, size_t len)
{
    struct sim_vm *vm = ctx;
    uint64_t first;
    uint64_t pages = (len + SIM_PAGE_SIZE - 1u) / SIM_PAGE_SIZE;

    if (ptr == NULL || vm->mem == NULL || (uint8_t *)ptr < vm->mem ||
        (uint64_t)((uint8_t *)ptr - vm->mem) >= vm->mem_size) {
        return;
    }
    first = (uint64_t)((uint8_t *)ptr - vm->mem) / SIM_PAGE_SIZE;
    if (first + pages <= vm->mem_size / SIM_PAGE_SIZE) {
        memset(vm->page_used + first, 0, pages);
    }
}

int
sim_q_settled(struct sim_vm *vm)
{
    struct vgpu_dev *d = &vm->dev;
    uint32_t ctrl = (uint32_t)vgpu_dev_mmio_read(d, VGPU_REG_Q_CTRL, 4);

    if (!(ctrl & VGPU_Q_CTRL_ENABLE)) {
        return 1;
    }
    if (vgpu_dev_mmio_read(d, VGPU_REG_CQ_TAIL, 4) !=
        vgpu_dev_mmio_read(d, VGPU_REG_CQ_HEAD, 4)) {
        return 1;
    }
    return vgpu_dev_q_inflight(d) == 0 &&
           vgpu_dev_mmio_read(d, VGPU_REG_SQ_HEAD, 4) ==
               vgpu_dev_mmio_read(d, VGPU_REG_SQ_TAIL, 4);
}

int
sim_out_append(struct sim_vm *vm, const uint8_t *bytes, size_t len)
{
    if (len > SIM_OUT_MAX - vm->out_len) {
        return -ENOBUFS;
    }
    if (vm->out_len + len > vm->out_cap) {
        size_t cap = vm->out_cap ? vm->out_cap : 4096u;
        uint8_t *p;

        while (cap < vm->out_len + len) {
            cap *= 2u;
        }
        p = realloc(vm->out, cap);
        if (p == NULL) {
            return -ENOBUFS;
        }
        vm->out = p;
        vm->out_cap = cap;
    }
    memcpy(vm->out + vm->out_len, bytes, len);
    vm->out_len += len;
    return 0;
}

static const struct vgpu_dev_ops sim_dev_ops = {
    .submit = dev_submit,
    .set_irq = dev_set_irq,
    .now_ns = dev_now_ns,
    .guest_error = dev_guest_error,
};

static const struct vgpu_dev_ops sim_dev_ops_queue = {
    .submit = dev_submit,
    .set_irq = dev_set_irq,
    .now_ns = dev_now_ns,
    .guest_error = dev_guest_error,
    .dma_read = dev_dma_read,
    .dma_write = dev_dma_write,
    .q_buffer = dev_q_buffer,
};

int
vgpu_sim_dma_fault(struct vgpu_sim *sim, unsigned i, uint64_t addr,
                   uint64_t len)
{
    struct sim_vm *vm;

    if (sim == NULL || i >= sim->cfg.n_vms) {
        return -EINVAL;
    }
    vm = &sim->vms[i];
    if (len == 0) {
        vm->n_faults = 0;
        return 0;
    }
    if (addr + len < addr) {
        return -EINVAL;
    }
    if (vm->n_faults == VGPU_SIM_DMA_FAULTS_MAX) {
        return -ENOSPC;
    }
    vm->faults[vm->n_faults].addr = addr;
    vm->faults[vm->n_faults].len = len;
    vm->n_faults++;
    return 0;
}

void
vgpu_sim_bus_master(struct vgpu_sim *sim, unsigned i, int on)
{
    if (sim != NULL && i < sim->cfg.n_vms) {
        sim->vms[i].bus_master_off = !on;
    }
}

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
    return vm->dev.stats.completions + vm->dev.stats.errors +
           vm->dev.stats.q_completions;
}

/* ---- The sim bus (each transport adds its extras) ------------------------ */

uint32_t
sim_bus_read32(void *ctx, uint32_t off)
{
    struct sim_vm *vm = ctx;

    return (uint32_t)vgpu_dev_mmio_read(&vm->dev, off, VGPU_REG_SIZE);
}

void
sim_bus_write32(void *ctx, uint32_t off, uint32_t val)
{
    struct sim_vm *vm = ctx;

    vgpu_dev_mmio_write(&vm->dev, off, val, VGPU_REG_SIZE);
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
    if (cfg->guest_mem_bytes > VGPU_SIM_GUEST_MEM_MAX ||
        cfg->guest_mem_bytes % SIM_PAGE_SIZE != 0) {
        vgpu_set_err(err, err_len,
                     "guest_mem_bytes %llu: want a multiple of %u, at most "
                     "%llu",
                     (unsigned long long)cfg->guest_mem_bytes, SIM_PAGE_SIZE,
                     (unsigned long long)VGPU_SIM_GUEST_MEM_MAX);
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

/* What sim_init_vm() allocated, and the buffers the transports grew. Safe
 * on a VM that was never (or only partly) initialised. */
static void
sim_free_vm_mem(struct sim_vm *vm)
{
    if (vm->mem != NULL) {
        munmap(vm->mem, vm->mem_size);
        vm->mem = NULL;
    }
    free(vm->page_used);
    free(vm->qbuf);
    free(vm->rx);
    free(vm->out);
    free(vm->out_spare);
    vm->page_used = NULL;
    vm->qbuf = NULL;
    vm->rx = NULL;
    vm->out = NULL;
    vm->out_spare = NULL;
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
    if (!sim->cfg.no_queue) {
        vm->mem_size = sim->cfg.guest_mem_bytes ? sim->cfg.guest_mem_bytes
                                                : VGPU_SIM_GUEST_MEM_DEF;
        vm->mem = mmap(NULL, vm->mem_size, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        vm->page_used = calloc(vm->mem_size / SIM_PAGE_SIZE, 1);
        if (vm->mem == MAP_FAILED || vm->page_used == NULL) {
            if (vm->mem == MAP_FAILED) {
                vm->mem = NULL;
            }
            vgpu_set_err(err, err_len, "vm %u: no %llu bytes of guest memory",
                         (unsigned)dc.vm_id, (unsigned long long)vm->mem_size);
            return -ENOMEM;
        }
    }
    if (vgpu_dev_init(&vm->dev, &dc,
                      sim->cfg.no_queue ? &sim_dev_ops : &sim_dev_ops_queue,
                      vm) != 0 ||
        sim_link_init(vm) != 0) {
        vgpu_set_err(err, err_len, "vm %u: bad device configuration",
                     (unsigned)dc.vm_id);
        return -EINVAL;
    }
    if (!sim->cfg.no_queue) {
        /* Queue responses of up to 1 MiB are read whole. */
        vm->rx = malloc(VGPU_Q_MAX_XFER);
        if (vm->rx == NULL ||
            vgpu_link_set_rx(&vm->link, vm->rx, VGPU_Q_MAX_XFER) != 0) {
            vgpu_dev_fini(&vm->dev);
            vgpu_set_err(err, err_len, "vm %u: out of memory",
                         (unsigned)dc.vm_id);
            return -ENOMEM;
        }
    }
    pthread_mutex_init(&vm->lock, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&vm->done_cond, &ca);
    pthread_condattr_destroy(&ca);
    return 0;
}

/* Undo vgpu_sim_create() in reverse order: the first @inited VMs were
 * initialised, and the transport was started when @started. */
static void
sim_teardown(struct vgpu_sim *sim, unsigned inited, int started)
{
    for (unsigned i = 0; sim->vms != NULL && i < inited; i++) {
        vgpu_close(sim->vms[i].client);
        sim->vms[i].client = NULL;
    }
    if (started) {
        sim->tr->stop(sim);
    }
    for (unsigned i = inited; i-- > 0;) {
        vgpu_dev_fini(&sim->vms[i].dev);
        pthread_cond_destroy(&sim->vms[i].done_cond);
        pthread_mutex_destroy(&sim->vms[i].lock);
    }
    for (unsigned i = 0; sim->vms != NULL && i < sim->cfg.n_vms; i++) {
        sim_free_vm_mem(&sim->vms[i]);
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
    sim_teardown(sim, inited, started);
    return NULL;
}

void
vgpu_sim_destroy(struct vgpu_sim *sim)
{
    if (sim != NULL) {
        sim_teardown(sim, sim->cfg.n_vms, 1);
    }
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
