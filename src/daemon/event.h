/*
 * The daemon's event loop (STYLE.md rule 8), in the shape of Redis's ae:
 * file descriptors registered with a read/write mask, a callback and client
 * data; timers in milliseconds; a before-sleep hook that runs before each
 * wait (where the daemon dispatches the scheduler); and a stop flag. epoll
 * lives in event.c and nowhere else.
 *
 * Readiness is level-triggered: a callback that leaves bytes unread is
 * called again at the next iteration. A signal that interrupts the wait
 * (EINTR) is not an error: the iteration simply processes no fd events.
 *
 * Deleting during a callback is safe: an fd deleted (or deleted and
 * registered again with the same number, as after close + accept) by any
 * callback is not reported for the events gathered before the deletion; a
 * timer deleted by any callback does not fire afterwards.
 *
 * Threading: a loop is not thread-safe; every call comes from the thread
 * that runs it, callbacks included.
 */
#ifndef VGPU_MEDIATOR_EVENT_H
#define VGPU_MEDIATOR_EVENT_H

#include <stdint.h>

#define VGPU_EVENT_NONE  0
#define VGPU_EVENT_READ  (1 << 0)
#define VGPU_EVENT_WRITE (1 << 1)

/* A timer callback's return value that deletes the timer. */
#define VGPU_EVENT_TIMER_DONE (-1)

struct vgpu_event_loop;

/**
 * vgpu_event_fd_fn - an fd is ready.
 * @fd:   the registered fd.
 * @data: the client data given to vgpu_event_add().
 * @mask: what is ready, a subset of the registered mask. An error or hang-up
 *        on the fd is reported as every registered bit, so the callback finds
 *        the condition with its read() or write().
 */
typedef void (*vgpu_event_fd_fn)(struct vgpu_event_loop *loop, int fd,
                                 void *data, int mask);

/**
 * vgpu_event_timer_fn - a timer is due.
 * @id: what vgpu_event_timer_add() returned.
 * Return: the milliseconds after which it runs again (0 or more), or
 * VGPU_EVENT_TIMER_DONE to delete it.
 */
typedef int64_t (*vgpu_event_timer_fn)(struct vgpu_event_loop *loop, int64_t id,
                                       void *data);

/** vgpu_event_hook_fn - the before-sleep hook. */
typedef void (*vgpu_event_hook_fn)(struct vgpu_event_loop *loop, void *data);

/**
 * vgpu_event_loop_create() - a loop with nothing registered.
 * Return: the loop (the caller destroys it), or NULL when the epoll instance
 * or memory cannot be had.
 */
struct vgpu_event_loop *vgpu_event_loop_create(void);

/**
 * vgpu_event_loop_destroy() - free the loop and its timers. Registered fds
 * are not closed (the caller owns them); client data is not freed. NULL is a
 * no-op.
 */
void vgpu_event_loop_destroy(struct vgpu_event_loop *loop);

/**
 * vgpu_event_add() - watch @fd for @mask, in addition to what it is already
 * watched for.
 * @mask: VGPU_EVENT_READ and/or VGPU_EVENT_WRITE.
 * @fn:   called when the fd is ready; replaces an earlier callback.
 * @data: passed to @fn; replaces earlier data. The loop does not own it.
 * Return: 0, -EINVAL for a bad fd, mask or NULL @fn, -ENOMEM, or what
 * epoll_ctl() failed with (negated errno).
 */
int vgpu_event_add(struct vgpu_event_loop *loop, int fd, int mask,
                   vgpu_event_fd_fn fn, void *data);

/**
 * vgpu_event_del() - stop watching @fd for @mask. Once no bit is left the fd
 * leaves the loop entirely; call this (with both bits) before closing it.
 * Unknown fds and bits are ignored.
 */
void vgpu_event_del(struct vgpu_event_loop *loop, int fd, int mask);

/** vgpu_event_mask() - what @fd is watched for (VGPU_EVENT_NONE if nothing). */
int vgpu_event_mask(const struct vgpu_event_loop *loop, int fd);

/**
 * vgpu_event_timer_add() - call @fn after @ms milliseconds (monotonic
 * clock). Timers that are due together fire in the order of their due time,
 * then in the order they were added.
 * Return: the timer's id (positive), or -ENOMEM.
 */
int64_t vgpu_event_timer_add(struct vgpu_event_loop *loop, uint64_t ms,
                             vgpu_event_timer_fn fn, void *data);

/**
 * vgpu_event_timer_del() - delete a timer; it does not fire again. Safe from
 * any callback, the timer's own included.
 * Return: 0, or -ENOENT when no timer has this id.
 */
int vgpu_event_timer_del(struct vgpu_event_loop *loop, int64_t id);

/**
 * vgpu_event_set_before_sleep() - run @fn(@loop, @data) at the start of each
 * iteration, before the wait. NULL removes the hook.
 */
void vgpu_event_set_before_sleep(struct vgpu_event_loop *loop,
                                 vgpu_event_hook_fn fn, void *data);

/**
 * vgpu_event_set_dont_wait() - while @flag is non-zero, the wait does not
 * block: the iteration only collects what is ready now (a hook with work
 * left that it wants to interleave with I/O). The daemon no longer needs
 * it: executor threads wake the loop through an eventfd (executor.h).
 */
void vgpu_event_set_dont_wait(struct vgpu_event_loop *loop, int flag);

/**
 * vgpu_event_loop_once() - one iteration: the before-sleep hook, one wait
 * (until the next timer, forever when there is none, or not at all under
 * dont_wait or after a stop), the ready fds' callbacks, then the due timers.
 * Return: the number of callbacks called (fd and timer), or a negative errno
 * when epoll_wait() fails with anything other than EINTR.
 */
int vgpu_event_loop_once(struct vgpu_event_loop *loop);

/**
 * vgpu_event_loop_run() - iterate until vgpu_event_loop_stop(). Clears the
 * stop flag on return, so the loop can be run again.
 * Return: 0, or the negative errno of a failed wait.
 */
int vgpu_event_loop_run(struct vgpu_event_loop *loop);

/** vgpu_event_loop_stop() - make run() return after the current iteration. */
void vgpu_event_loop_stop(struct vgpu_event_loop *loop);

/** vgpu_event_now_ms() - the loop's clock: monotonic milliseconds. */
uint64_t vgpu_event_now_ms(void);

#endif /* VGPU_MEDIATOR_EVENT_H */
