/*
 * The daemon's executors (docs/mediator.md, "Executors"): one thread per
 * backend instance, so that a backend's exec never runs on the event loop.
 *
 * Pools that name the same backend string ("cpu", "cpu:delay_us=50000",
 * "cuda:1", or a list "cuda:0,cuda:1") share one group of executors, as
 * they shared one backend context before. Each item of the string is one
 * backend instance: a "cpu" item has cpu_workers executors, any other one
 * (a GPU is one instance). Each executor opens its own context, so no
 * context is ever used by two threads at once.
 *
 * The event loop decides, the executors execute:
 * - vgpu_executors_dispatch() (the loop's before-sleep hook) gives every
 *   idle executor the next request of its group's pools, taken from the
 *   scheduler at that moment (vgpu_mediator_take()), round robin over the
 *   pools of the group. A request the backend calls cheap (a NOP) is run
 *   inline on the loop thread, with the idle executor's context, and the
 *   executor stays idle: no thread hop on the fast path.
 * - The executor runs the job and puts itself on the completion list; the
 *   first entry of an empty list writes the eventfd, which wakes the loop.
 * - The loop's eventfd callback takes the whole list and finishes each job
 *   (vgpu_mediator_job_finish(): the RESPONSE on its connection), then
 *   marks the executor idle.
 *
 * Threading: every function here is called on the loop's thread; only the
 * executor threads run inside this file besides it.
 */
#ifndef VGPU_DAEMON_EXECUTOR_H
#define VGPU_DAEMON_EXECUTOR_H

#include <stddef.h>
#include <stdint.h>

#include "event.h"
#include "vgpu/mediator.h"

/* cpu_workers: executors of each "cpu" backend string. 0 in the
 * configuration means the number of online cores. */
#define VGPU_EXECUTOR_CPU_WORKERS_MAX 64u

struct vgpu_executors;

/**
 * vgpu_executors_create() - open a context per executor and start the
 * threads, for the pools' backends of @core (the strings the mediator
 * core got), with @cpu_workers executors per "cpu" string (0: the online
 * cores). The eventfd is registered on @loop. @m must outlive it.
 * Return: the executors, or NULL with @err set (a backend that does not
 * open, no thread, no memory).
 */
struct vgpu_executors *
vgpu_executors_create(struct vgpu_event_loop *loop, struct vgpu_mediator *m,
                      const struct vgpu_mediator_config *core,
                      uint32_t cpu_workers, char *err, size_t err_len);

/**
 * vgpu_executors_dispatch() - hand the next request to every idle executor
 * whose pools have work, running cheap ones inline (see above). Call it
 * from the before-sleep hook. Return: requests taken.
 */
size_t vgpu_executors_dispatch(struct vgpu_executors *x);

/** vgpu_executors_busy() - executors running a job now. */
size_t vgpu_executors_busy(const struct vgpu_executors *x);

/** vgpu_executors_count() - executor threads, all groups. */
size_t vgpu_executors_count(const struct vgpu_executors *x);

/**
 * vgpu_executors_destroy() - let every running job end (a job handed over
 * is run, nothing new is taken), join the threads, finish the jobs that
 * ended (answers on connections still open), close the contexts and free
 * everything. Call it before the connections are closed and before
 * vgpu_mediator_destroy(). NULL is a no-op.
 */
void vgpu_executors_destroy(struct vgpu_executors *x);

#endif /* VGPU_DAEMON_EXECUTOR_H */
