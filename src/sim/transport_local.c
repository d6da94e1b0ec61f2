/*
 * The in-process mediator core of the simulator, and the deterministic
 * transport that drives it.
 *
 * Each VM has a struct vgpu_mconn. The core's send callback feeds the VM's
 * link directly, so a RESPONSE the core sends completes the device before
 * the core's call returns. What a link sends (HELLO, a REQUEST, a PONG) goes
 * to the VM's outbox, and sim_local_settle() feeds it to the core once the
 * call that queued it has returned: the core is never re-entered from its
 * own callback (the deterministic mode sends straight in when it is not
 * inside that callback). In the deterministic mode a doorbell is
 *
 *   dev_submit -> vgpu_link_request -> vgpu_mediator_conn_input
 *     -> vgpu_mediator_dispatch -> backend exec -> send -> vgpu_link_input
 *     -> vgpu_dev_complete
 *
 * one chain of calls on one stack: the device is DONE when the guest's
 * doorbell write returns, and gdb can step from the doorbell into the
 * backend (docs/debugging.md).
 *
 * The threaded mode (threaded.c) shares the core and the callbacks here;
 * they take the VM's lock when the transport is threaded.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim_internal.h"

static int
local_threaded(const struct vgpu_sim *sim)
{
    return sim->tr->threaded;
}

static void
local_lock(struct sim_vm *vm)
{
    if (local_threaded(vm->sim)) {
        pthread_mutex_lock(&vm->lock);
    }
}

/* Unlock, waking the VM's waiters first (threaded mode). */
static void
local_unlock(struct sim_vm *vm)
{
    if (local_threaded(vm->sim)) {
        pthread_cond_broadcast(&vm->done_cond);
        pthread_mutex_unlock(&vm->lock);
    }
}

/* The core's ops->send: the bytes are the VM's link's input, now. */
static int
local_send(void *conn_opaque, const uint8_t *bytes, size_t len)
{
    struct sim_vm *vm = conn_opaque;

    if (vm->close_pending) {
        return 0; /* the link already ended this connection */
    }
    local_lock(vm);
    /* A connection the link ends is closed by sim_local_lost(), after the
     * core's call returns (never from in here). */
    vm->sim->in_core++;
    vgpu_link_input(&vm->link, bytes, len);
    vm->sim->in_core--;
    if (vm->out_len > 0) {
        vm->flush_pending = 1; /* a PONG, or a request sent at HELLO_ACK */
        vm->sim->flush_pending = 1;
    }
    local_unlock(vm);
    return 0;
}

int
sim_local_send(struct sim_vm *vm, const uint8_t *frame, size_t len)
{
    struct vgpu_sim *sim = vm->sim;

    /* Deterministic mode, outside the core's callback: straight in, as a
     * socket write would be. */
    if (!local_threaded(sim) && !sim->in_core && vm->mconn != NULL &&
        vm->out_len == 0) {
        vgpu_mediator_conn_input(vm->mconn, frame, len);
        return 0;
    }
    return sim_out_append(vm, frame, len);
}

void
sim_local_lost(struct sim_vm *vm, const char *why)
{
    sim_log(vm->sim, VGPU_LOG_WARN, "vm=%u: connection closed: %s",
            (unsigned)vm->dev.cfg.vm_id, why);
    vm->out_len = 0;
    vm->close_pending = 1;
    vm->sim->close_pending = 1;
}

/* The core's ops->close: done after the core's call returns. */
static void
local_close_cb(void *conn_opaque)
{
    struct sim_vm *vm = conn_opaque;

    vm->close_pending = 1;
    vm->sim->close_pending = 1;
}

static uint64_t
local_now(void *opaque)
{
    (void)opaque;
    return sim_now_ns();
}

static void
local_log(void *opaque, int level, const char *line)
{
    sim_log_line(opaque, level, line);
}

static const struct vgpu_mediator_ops sim_local_ops = {
    .send = local_send,
    .close = local_close_cb,
    .now_ns = local_now,
    .log = local_log,
    .admit = NULL,
};

int
sim_local_create(struct vgpu_sim *sim, char *err, size_t err_len)
{
    const struct vgpu_backend_ops *ovr = sim->cfg.backend_override;
    struct vgpu_mediator_config mc;
    char why[SIM_MSG_MAX] = "";

    if (sim->cfg.mediator != NULL) {
        mc = *sim->cfg.mediator;
    } else {
        vgpu_mediator_config_default(&mc);
    }
    /* The simulator's log decides what is written. */
    mc.log_level = sim->log_level;
    if (ovr != NULL) {
        int rc = vgpu_backend_register(ovr);

        if (rc < 0) {
            snprintf(err, err_len, "backend_override '%s': %s",
                     ovr->name != NULL ? ovr->name : "(null)",
                     rc == -EEXIST ? "another backend has that name"
                                   : vgpu_strerror(rc));
            return rc;
        }
        for (size_t i = 0; i < VGPU_POOL_COUNT; i++) {
            mc.pool_backend[i] = ovr->name;
        }
        mc.default_backend = ovr->name;
    }
    sim->m = vgpu_mediator_create(&mc, &sim_local_ops, sim, why, sizeof(why));
    if (sim->m == NULL) {
        snprintf(err, err_len, "mediator: %s", why);
        return -EINVAL;
    }
    return 0;
}

void
sim_local_destroy(struct vgpu_sim *sim)
{
    if (sim->m == NULL) {
        return;
    }
    for (unsigned i = 0; i < sim->cfg.n_vms; i++) {
        struct sim_vm *vm = &sim->vms[i];

        if (vm->mconn != NULL) {
            vgpu_mediator_conn_close(vm->mconn);
            vm->mconn = NULL;
        }
    }
    vgpu_mediator_destroy(sim->m);
    sim->m = NULL;
}

void
sim_local_close(struct sim_vm *vm)
{
    if (vm->mconn != NULL) {
        vgpu_mediator_conn_close(vm->mconn);
        vm->mconn = NULL;
    }
    vm->close_pending = 0;
    vm->flush_pending = 0;
    local_lock(vm);
    vm->out_len = 0;
    vgpu_link_down(&vm->link, VGPU_ERR_MEDIATOR_UNAVAILABLE, NULL, NULL);
    local_unlock(vm);
}

/* Feed what @vm's link queued to the core, once. The output is swapped
 * with its spare under the VM's lock, so the link can queue more (a guest
 * thread, or the core's answers) while these bytes are fed. */
static void
local_deliver(struct sim_vm *vm)
{
    uint8_t *bytes;
    size_t len;
    size_t cap;

    vm->flush_pending = 0;
    local_lock(vm);
    bytes = vm->out;
    len = vm->out_len;
    cap = vm->out_cap;
    vm->out = vm->out_spare;
    vm->out_cap = vm->out_spare_cap;
    vm->out_len = 0;
    vm->out_spare = NULL;
    vm->out_spare_cap = 0;
    local_unlock(vm);
    if (len > 0 && vm->mconn != NULL) {
        vgpu_mediator_conn_input(vm->mconn, bytes, len);
    }
    local_lock(vm);
    if (vm->out_spare == NULL) {
        vm->out_spare = bytes;
        vm->out_spare_cap = cap;
        bytes = NULL;
    }
    local_unlock(vm);
    free(bytes);
}

void
sim_local_settle(struct vgpu_sim *sim)
{
    while (sim->close_pending || sim->flush_pending) {
        if (sim->close_pending) {
            sim->close_pending = 0;
            for (unsigned i = 0; i < sim->cfg.n_vms; i++) {
                if (sim->vms[i].close_pending) {
                    sim_local_close(&sim->vms[i]);
                }
            }
            continue;
        }
        sim->flush_pending = 0;
        for (unsigned i = 0; i < sim->cfg.n_vms; i++) {
            if (sim->vms[i].flush_pending) {
                local_deliver(&sim->vms[i]);
            }
        }
    }
}

int
sim_local_connect(struct sim_vm *vm)
{
    struct vgpu_sim *sim = vm->sim;
    int ok;

    vm->message[0] = '\0';
    vm->close_pending = 0;
    vm->mconn = vgpu_mediator_conn_open(sim->m, vm);
    if (vm->mconn == NULL) {
        snprintf(vm->message, sizeof(vm->message), "out of memory");
        sim_local_close(vm);
        return -ENOMEM;
    }
    local_lock(vm);
    vm->out_len = 0;
    vgpu_link_up(&vm->link); /* HELLO into the outbox */
    local_unlock(vm);
    vm->flush_pending = 1;
    sim->flush_pending = 1;
    sim_local_settle(sim); /* HELLO_ACK; a request waiting for it follows */
    local_lock(vm);
    ok = vgpu_link_state(&vm->link) == VGPU_LINK_READY;
    if (!ok) {
        snprintf(vm->message, sizeof(vm->message), "%s",
                 vgpu_link_reason(&vm->link)[0] != '\0'
                     ? vgpu_link_reason(&vm->link)
                     : "no HELLO_ACK from the mediator core");
    }
    local_unlock(vm);
    if (!ok) {
        sim_local_close(vm);
        return -ECONNREFUSED;
    }
    sim_log(sim, VGPU_LOG_DEBUG, "vm=%u: connected to the in-process core",
            (unsigned)vm->dev.cfg.vm_id);
    return 0;
}

void
sim_local_kick(struct sim_vm *vm)
{
    struct vgpu_sim *sim = vm->sim;
    int reconnect;
    int queued;

    local_lock(vm);
    reconnect = vgpu_link_state(&vm->link) == VGPU_LINK_DOWN &&
                (vgpu_dev_busy(&vm->dev) || vm->want_connect);
    vm->want_connect = 0;
    queued = vm->out_len > 0;
    local_unlock(vm);
    if (reconnect) {
        /* sim_local_connect() sends the request at HELLO_ACK, or ends it;
         * the queue's entries go when the link calls vgpu_dev_q_kick(). */
        if (sim_local_connect(vm) < 0) {
            sim_log(sim, VGPU_LOG_WARN, "vm=%u: cannot reconnect: %s",
                    (unsigned)vm->dev.cfg.vm_id, vm->message);
            local_lock(vm);
            vm->connect_failed = 1; /* the waiting entries end */
            vgpu_dev_q_kick(&vm->dev);
            vm->connect_failed = 0;
            local_unlock(vm);
        }
        return;
    }
    if (queued) {
        vm->flush_pending = 1;
        sim->flush_pending = 1;
        sim_local_settle(sim);
    }
}

size_t
sim_local_stats(struct vgpu_sim *sim,
                void (*fn)(const struct vgpu_vm_stats *, void *), void *arg)
{
    return sim->m != NULL ? vgpu_mediator_stats(sim->m, fn, arg) : 0;
}

/* ---- The deterministic transport ----------------------------------------- */

static int
det_start(struct vgpu_sim *sim, char *err, size_t err_len)
{
    int rc;

    if (sim->cfg.no_mediator) {
        return 0; /* every doorbell ends in MEDIATOR_UNAVAILABLE */
    }
    rc = sim_local_create(sim, err, err_len);
    if (rc < 0) {
        return rc;
    }
    for (unsigned i = 0; i < sim->cfg.n_vms; i++) {
        struct sim_vm *vm = &sim->vms[i];

        rc = sim_local_connect(vm);
        if (rc < 0) {
            snprintf(err, err_len, "vm %u: %s", (unsigned)vm->dev.cfg.vm_id,
                     vm->message);
            return rc;
        }
    }
    return 0;
}

static void
det_stop(struct vgpu_sim *sim)
{
    sim_local_destroy(sim);
}

static int det_submit_queued(struct sim_vm *vm, const struct vgpu_request *req);

/* The whole chain, synchronously: the device is no longer BUSY when this
 * returns (the core answers every request it takes). */
static int
det_submit(struct sim_vm *vm, const struct vgpu_request *req)
{
    struct vgpu_sim *sim = vm->sim;

    if (req->queued) {
        return det_submit_queued(vm, req);
    }
    if (vgpu_link_request(&vm->link, req) < 0) {
        return VGPU_ERR_INVALID_LENGTH; /* not reached: len <= 1 KiB */
    }
    /* Usually the request went straight in (sim_local_send). */
    if (vm->out_len > 0 || vgpu_link_state(&vm->link) != VGPU_LINK_READY) {
        sim_local_kick(vm);
    }
    vgpu_mediator_dispatch(sim->m, 0);
    sim_local_settle(sim);
    return 0;
}

/* A queue entry: fed to the core now (or when the connection is up), run
 * by det_run() once the guest's register write returns, so that the
 * device's loop over its ring is never re-entered and every entry of one
 * SQ_TAIL write is queued in the core before the first runs. */
static int
det_submit_queued(struct sim_vm *vm, const struct vgpu_request *req)
{
    struct vgpu_sim *sim = vm->sim;
    int rc = vgpu_link_request(&vm->link, req);

    if (rc == -EAGAIN) {
        if (vm->connect_failed) {
            return (int)VGPU_ERR_MEDIATOR_UNAVAILABLE;
        }
        vm->want_connect = 1;
        sim->run_pending = 1;
        return rc;
    }
    if (rc < 0) {
        return (int)VGPU_ERR_INVALID_LENGTH; /* not reached */
    }
    if (vm->out_len > 0) {
        vm->flush_pending = 1;
        sim->flush_pending = 1;
    }
    sim->run_pending = 1;
    return rc;
}

/* Connect what the queue waits for, then run the core until it is idle:
 * answers free ring room, the device takes more entries, and those run
 * too. */
static void
det_run(struct vgpu_sim *sim)
{
    sim->run_pending = 0;
    for (unsigned i = 0; i < sim->cfg.n_vms; i++) {
        struct sim_vm *vm = &sim->vms[i];

        if (!vm->want_connect) {
            continue;
        }
        vm->want_connect = 0;
        if (sim_local_connect(vm) < 0) {
            sim_log(sim, VGPU_LOG_WARN, "vm=%u: cannot reconnect: %s",
                    (unsigned)vm->dev.cfg.vm_id, vm->message);
            /* The entries that waited end in MEDIATOR_UNAVAILABLE. */
            vm->connect_failed = 1;
            vgpu_dev_q_kick(&vm->dev);
            vm->connect_failed = 0;
        }
    }
    for (;;) {
        size_t ran;

        sim_local_settle(sim);
        ran = vgpu_mediator_dispatch(sim->m, 0);
        sim_local_settle(sim);
        if (ran == 0 && !sim->flush_pending) {
            break;
        }
    }
    sim->run_pending = 0;
}

static void
det_bus_write32(void *ctx, uint32_t off, uint32_t val)
{
    struct sim_vm *vm = ctx;

    sim_bus_write32(vm, off, val);
    if (vm->sim->run_pending && vm->sim->m != NULL) {
        det_run(vm->sim);
    }
}

static int
det_poll(struct vgpu_sim *sim, int timeout_ms)
{
    (void)sim;
    (void)timeout_ms;
    return 0;
}

static void
det_disconnect(struct sim_vm *vm)
{
    if (vm->mconn != NULL) {
        sim_log(vm->sim, VGPU_LOG_INFO, "vm=%u: disconnected by the caller",
                (unsigned)vm->dev.cfg.vm_id);
    }
    sim_local_close(vm);
}

/* A doorbell has completed before the write returns, so the client polls
 * STATUS once and has no interrupt to wait for. */
static const struct vgpu_bus_ops det_bus = {
    .name = "sim",
    .read32 = sim_bus_read32,
    .write32 = det_bus_write32,
    .read_buf = sim_bus_read_buf,
    .write_buf = sim_bus_write_buf,
    .wait_irq = NULL,
    .close = sim_bus_close,
    .identity = NULL,
    .dma_alloc = sim_bus_dma_alloc,
    .dma_free = sim_bus_dma_free,
    .wait_queue = NULL,
};

const struct sim_transport sim_transport_local = {
    .name = "deterministic",
    .bus = &det_bus,
    .start = det_start,
    .stop = det_stop,
    .submit = det_submit,
    .send = sim_local_send,
    .lost = sim_local_lost,
    .poll = det_poll,
    .disconnect = det_disconnect,
    .stats = sim_local_stats,
    .threaded = 0,
};
