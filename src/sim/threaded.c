/*
 * The threaded transport: the in-process mediator core (transport_local.c)
 * runs on one dispatcher thread, and each VM is driven by its own guest
 * thread (vgpu-sim --threads), so that TSan sees the races a real daemon
 * and its devices could have.
 *
 * A doorbell, on the guest thread with the VM's lock held (the sim bus takes
 * it), hands the request to the VM's link, whose REQUEST frame lands in the
 * VM's outbox, queues a kick for the dispatcher and returns with the device
 * BUSY. The dispatcher takes every queued kick, feeds each VM's outbox to
 * its connection (connecting first if the connection was dropped),
 * dispatches, and the core's send callback completes the device under that
 * VM's lock and wakes its waiters (the bus's wait_irq).
 *
 * Lock order (sim_internal.h): core_lock -> vm->lock -> q_lock.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sim_internal.h"

/* A VM whose outbox has a frame for the core. */
struct sim_item {
    struct sim_item *next;
    struct sim_vm *vm;
};

static void *
thr_main(void *arg)
{
    struct vgpu_sim *sim = arg;

    for (;;) {
        struct sim_item *list;

        pthread_mutex_lock(&sim->q_lock);
        while (sim->q_head == NULL && !sim->q_stop) {
            pthread_cond_wait(&sim->q_cond, &sim->q_lock);
        }
        if (sim->q_stop) {
            pthread_mutex_unlock(&sim->q_lock);
            break;
        }
        list = sim->q_head;
        sim->q_head = NULL;
        sim->q_tail = NULL;
        pthread_mutex_unlock(&sim->q_lock);

        /* Every frame that arrived meanwhile is queued in the core before
         * the first dispatch, so the scheduler chooses among them. */
        pthread_mutex_lock(&sim->core_lock);
        while (list != NULL) {
            struct sim_item *next = list->next;

            sim_local_kick(list->vm);
            free(list);
            list = next;
        }
        vgpu_mediator_dispatch(sim->m, 0);
        sim_local_settle(sim);
        pthread_mutex_unlock(&sim->core_lock);
    }
    return NULL;
}

static int
thr_start(struct vgpu_sim *sim, char *err, size_t err_len)
{
    int rc;

    if (sim->cfg.no_mediator) {
        return 0;
    }
    rc = sim_local_create(sim, err, err_len);
    if (rc < 0) {
        return rc;
    }
    /* Greet every VM before the dispatcher exists: nothing else runs. */
    pthread_mutex_lock(&sim->core_lock);
    for (unsigned i = 0; i < sim->cfg.n_vms && rc == 0; i++) {
        struct sim_vm *vm = &sim->vms[i];

        rc = sim_local_connect(vm);
        if (rc < 0) {
            snprintf(err, err_len, "vm %u: %s", (unsigned)vm->dev.cfg.vm_id,
                     vm->message);
        }
    }
    pthread_mutex_unlock(&sim->core_lock);
    if (rc < 0) {
        return rc;
    }
    rc = pthread_create(&sim->thread, NULL, thr_main, sim);
    if (rc != 0) {
        snprintf(err, err_len, "cannot start the dispatcher thread: %s",
                 strerror(rc));
        return -rc;
    }
    sim->thread_started = 1;
    return 0;
}

static void
thr_stop(struct vgpu_sim *sim)
{
    struct sim_item *list;

    if (sim->thread_started) {
        pthread_mutex_lock(&sim->q_lock);
        sim->q_stop = 1;
        pthread_cond_broadcast(&sim->q_cond);
        pthread_mutex_unlock(&sim->q_lock);
        pthread_join(sim->thread, NULL);
        sim->thread_started = 0;
    }
    list = sim->q_head;
    sim->q_head = NULL;
    sim->q_tail = NULL;
    while (list != NULL) {
        struct sim_item *next = list->next;

        free(list);
        list = next;
    }
    pthread_mutex_lock(&sim->core_lock);
    sim_local_destroy(sim);
    pthread_mutex_unlock(&sim->core_lock);
}

/* On the guest thread, with vm->lock held. */
static int
thr_submit(struct sim_vm *vm, const struct vgpu_request *req)
{
    struct vgpu_sim *sim = vm->sim;
    struct sim_item *it;
    int rc = vgpu_link_request(&vm->link, req);

    if (req->queued && rc == -EAGAIN) {
        if (vm->connect_failed) {
            return (int)VGPU_ERR_MEDIATOR_UNAVAILABLE;
        }
        vm->want_connect = 1; /* the dispatcher connects */
    } else if (rc < 0) {
        return VGPU_ERR_INVALID_LENGTH; /* not reached */
    } else if (rc > 0) {
        return rc; /* a queue entry the link could not send */
    }
    it = malloc(sizeof(*it));
    if (it == NULL) {
        return VGPU_ERR_MEDIATOR_UNAVAILABLE;
    }
    it->next = NULL;
    it->vm = vm;
    pthread_mutex_lock(&sim->q_lock);
    if (sim->q_stop) {
        pthread_mutex_unlock(&sim->q_lock);
        free(it);
        return VGPU_ERR_MEDIATOR_UNAVAILABLE;
    }
    if (sim->q_tail != NULL) {
        sim->q_tail->next = it;
    } else {
        sim->q_head = it;
    }
    sim->q_tail = it;
    pthread_cond_signal(&sim->q_cond);
    pthread_mutex_unlock(&sim->q_lock);
    return rc;
}

/* Whether a waiter of @queue's kind can stop: the mailbox request ended,
 * or the queue has something to see. Called with vm->lock held. */
static int
thr_settled(struct sim_vm *vm, int queue)
{
    return queue ? sim_q_settled(vm) : !vgpu_dev_busy(&vm->dev);
}

/* wait_irq (@queue 0) and wait_queue (@queue 1): wait on @vm's condition,
 * at most @timeout_ms (negative: no limit). Return: 1 when settled, 0 on
 * timeout. */
static int
thr_wait(struct sim_vm *vm, int timeout_ms, int queue)
{
    struct timespec ts;
    int settled;

    if (timeout_ms >= 0) {
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_sec += timeout_ms / 1000;
        ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
    }
    pthread_mutex_lock(&vm->lock);
    while (!thr_settled(vm, queue)) {
        if (timeout_ms < 0) {
            pthread_cond_wait(&vm->done_cond, &vm->lock);
        } else if (pthread_cond_timedwait(&vm->done_cond, &vm->lock, &ts) ==
                   ETIMEDOUT) {
            break;
        }
    }
    settled = thr_settled(vm, queue);
    pthread_mutex_unlock(&vm->lock);
    return settled;
}

static int
thr_poll(struct vgpu_sim *sim, int timeout_ms)
{
    (void)sim;
    (void)timeout_ms;
    return 0;
}

/* Synchronous: the connection is closed, and a request in flight ended,
 * when this returns. */
static void
thr_disconnect(struct sim_vm *vm)
{
    struct vgpu_sim *sim = vm->sim;

    if (sim->m == NULL) {
        return;
    }
    pthread_mutex_lock(&sim->core_lock);
    sim_local_close(vm);
    pthread_mutex_unlock(&sim->core_lock);
    sim_log(sim, VGPU_LOG_INFO, "vm=%u: disconnected by the caller",
            (unsigned)vm->dev.cfg.vm_id);
}

/* @fn runs with core_lock held: it must not call back into the sim. */
static size_t
thr_stats(struct vgpu_sim *sim,
          void (*fn)(const struct vgpu_vm_stats *, void *), void *arg)
{
    size_t n;

    pthread_mutex_lock(&sim->core_lock);
    n = sim_local_stats(sim, fn, arg);
    pthread_mutex_unlock(&sim->core_lock);
    return n;
}

/* Every bus access under the VM's lock. */
static uint32_t
thr_bus_read32(void *ctx, uint32_t off)
{
    struct sim_vm *vm = ctx;
    uint32_t v;

    pthread_mutex_lock(&vm->lock);
    v = sim_bus_read32(vm, off);
    pthread_mutex_unlock(&vm->lock);
    return v;
}

static void
thr_bus_write32(void *ctx, uint32_t off, uint32_t val)
{
    struct sim_vm *vm = ctx;

    pthread_mutex_lock(&vm->lock);
    sim_bus_write32(vm, off, val);
    pthread_mutex_unlock(&vm->lock);
}

static void
thr_bus_read_buf(void *ctx, uint32_t off, void *dst, size_t len)
{
    struct sim_vm *vm = ctx;

    pthread_mutex_lock(&vm->lock);
    sim_bus_read_buf(vm, off, dst, len);
    pthread_mutex_unlock(&vm->lock);
}

static void
thr_bus_write_buf(void *ctx, uint32_t off, const void *src, size_t len)
{
    struct sim_vm *vm = ctx;

    pthread_mutex_lock(&vm->lock);
    sim_bus_write_buf(vm, off, src, len);
    pthread_mutex_unlock(&vm->lock);
}

static int
thr_bus_wait(void *ctx, int timeout_ms)
{
    return thr_wait(ctx, timeout_ms, 0);
}

static int
thr_bus_wait_queue(void *ctx, int timeout_ms)
{
    return thr_wait(ctx, timeout_ms, 1);
}

static const struct vgpu_bus_ops thr_bus = {
    .name = "sim",
    .read32 = thr_bus_read32,
    .write32 = thr_bus_write32,
    .read_buf = thr_bus_read_buf,
    .write_buf = thr_bus_write_buf,
    .wait_irq = thr_bus_wait,
    .close = sim_bus_close,
    .identity = NULL,
    .dma_alloc = sim_bus_dma_alloc,
    .dma_free = sim_bus_dma_free,
    .wait_queue = thr_bus_wait_queue,
};

const struct sim_transport sim_transport_threaded = {
    .name = "threaded",
    .bus = &thr_bus,
    .start = thr_start,
    .stop = thr_stop,
    .submit = thr_submit,
    .send = sim_local_send,
    .lost = sim_local_lost,
    .poll = thr_poll,
    .disconnect = thr_disconnect,
    .stats = thr_stats,
    .threaded = 1,
};
