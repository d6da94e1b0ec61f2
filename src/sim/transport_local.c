/*
 * The in-process mediator core of the simulator, and the deterministic
 * transport that drives it.
 *
 * Each VM has a struct vgpu_mconn. Its send callback feeds the VM's decoder
 * directly, so a RESPONSE the core sends completes the device before the
 * core's call returns. In the deterministic mode a doorbell is
 *
 *   dev_submit -> vgpu_mediator_conn_input -> vgpu_mediator_dispatch
 *     -> backend exec -> send -> sim_vm_input -> vgpu_dev_complete
 *
 * one chain of calls on one stack: the device is DONE when the guest's
 * doorbell write returns, and gdb can step from the doorbell into the
 * backend (docs/debugging.md).
 *
 * The threaded mode (threaded.c) shares the core and the callbacks here;
 * they take the VM's lock when the simulator is threaded.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "sim_internal.h"

static int
local_threaded(const struct vgpu_sim *sim)
{
    return sim->tr == &sim_transport_threaded;
}

/* The core's ops->send: the bytes are the VM's input, delivered now. */
static int
local_send(void *conn_opaque, const uint8_t *bytes, size_t len)
{
    struct sim_vm *vm = conn_opaque;
    struct vgpu_sim *sim = vm->sim;
    int threaded = local_threaded(sim);

    if (vm->close_pending) {
        return 0; /* the device already dropped this connection */
    }
    if (threaded) {
        pthread_mutex_lock(&vm->lock);
    }
    if (sim_vm_input(vm, bytes, len) < 0) {
        /* Drop it once the core's call returns (never from in here). */
        sim_vm_lost(vm);
        vm->close_pending = 1;
        sim->close_pending = 1;
    }
    if (threaded) {
        pthread_cond_broadcast(&vm->done_cond);
        pthread_mutex_unlock(&vm->lock);
    }
    return 0;
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
    int threaded = local_threaded(vm->sim);

    if (vm->mconn != NULL) {
        vgpu_mediator_conn_close(vm->mconn);
        vm->mconn = NULL;
    }
    vm->close_pending = 0;
    if (threaded) {
        pthread_mutex_lock(&vm->lock);
    }
    sim_vm_lost(vm);
    if (threaded) {
        pthread_cond_broadcast(&vm->done_cond);
        pthread_mutex_unlock(&vm->lock);
    }
}

void
sim_local_reap(struct vgpu_sim *sim)
{
    if (!sim->close_pending) {
        return;
    }
    sim->close_pending = 0;
    for (unsigned i = 0; i < sim->cfg.n_vms; i++) {
        if (sim->vms[i].close_pending) {
            sim_local_close(&sim->vms[i]);
        }
    }
}

int
sim_local_connect(struct sim_vm *vm)
{
    struct vgpu_sim *sim = vm->sim;
    uint8_t hello[VGPU_HDR_SIZE + VGPU_HELLO_PAYLOAD_SIZE];
    int threaded = local_threaded(sim);
    size_t n;
    int ok;

    vm->message[0] = '\0';
    vm->close_pending = 0;
    vm->mconn = vgpu_mediator_conn_open(sim->m, vm);
    if (vm->mconn == NULL) {
        snprintf(vm->message, sizeof(vm->message), "out of memory");
        return -ENOMEM;
    }
    n = sim_hello_frame(vm, hello, sizeof(hello));
    vgpu_mediator_conn_input(vm->mconn, hello, n);
    sim_local_reap(sim);
    if (threaded) {
        pthread_mutex_lock(&vm->lock);
    }
    ok = vm->connected;
    if (threaded) {
        pthread_mutex_unlock(&vm->lock);
    }
    if (!ok) {
        if (vm->message[0] == '\0') {
            snprintf(vm->message, sizeof(vm->message),
                     "no HELLO_ACK from the mediator core");
        }
        sim_local_close(vm);
        return -ECONNREFUSED;
    }
    sim_log(sim, VGPU_LOG_DEBUG, "vm=%u: connected to the in-process core",
            (unsigned)vm->dev.cfg.vm_id);
    return 0;
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

/* The whole chain, synchronously: the device is no longer BUSY when this
 * returns (the core answers every request it takes). */
static int
det_submit(struct sim_vm *vm, const uint8_t *frame, size_t len)
{
    struct vgpu_sim *sim = vm->sim;

    if (vm->mconn == NULL && sim_local_connect(vm) < 0) {
        sim_log(sim, VGPU_LOG_WARN, "vm=%u: cannot reconnect: %s",
                (unsigned)vm->dev.cfg.vm_id, vm->message);
        return VGPU_ERR_MEDIATOR_UNAVAILABLE;
    }
    vgpu_mediator_conn_input(vm->mconn, frame, len);
    vgpu_mediator_dispatch(sim->m, 0);
    sim_local_reap(sim);
    return 0;
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

const struct sim_transport sim_transport_local = {
    .name = "deterministic",
    .start = det_start,
    .stop = det_stop,
    .submit = det_submit,
    .poll = det_poll,
    .disconnect = det_disconnect,
    .stats = sim_local_stats,
};
