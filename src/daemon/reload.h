/*
 * The registry reload of SIGHUP, built aside (docs/mediator.md, "Signals"):
 * a thread loads the file and builds its lookup index while the event loop
 * goes on serving with the registry in force; the loop swaps the new one in
 * when it is ready, in O(1). So a reload of 100,000 VMs delays no request
 * by its load time.
 *
 * Threading: every call is made on the loop's thread. The loader thread
 * touches only the registry it builds and a pipe.
 */
#ifndef VGPU_DAEMON_RELOAD_H
#define VGPU_DAEMON_RELOAD_H

#include "event.h"
#include "vgpu/registry.h"

/* The reload's result, on the loop's thread: @reg, owned by the callee from
 * now on, or NULL with @err saying why the file did not load. */
typedef void (*vgpu_reload_done_fn)(void *arg, struct vgpu_registry *reg,
                                    const char *err);

struct vgpu_reload;

/**
 * vgpu_reload_create() - a reloader of the registry at @path, reporting to
 * @done on @loop. @path must outlive it.
 * Return: it, or NULL when out of memory or descriptors.
 */
struct vgpu_reload *vgpu_reload_create(struct vgpu_event_loop *loop,
                                       const char *path,
                                       vgpu_reload_done_fn done, void *arg);

/**
 * vgpu_reload_start() - load the file again, in a thread. A call while a
 * load runs makes one more load after it (the file may have changed since
 * it was opened). Return: 0, or a negative errno-style code (no thread).
 */
int vgpu_reload_start(struct vgpu_reload *r);

/**
 * vgpu_reload_registry() - vgpu_registry_load() plus the build of its
 * lookup index, so that the first lookup on the loop's thread is O(log n).
 */
struct vgpu_registry *vgpu_reload_registry(const char *path, char *err,
                                           size_t err_len);

/** vgpu_reload_destroy() - wait for a load in flight, and free @r. */
void vgpu_reload_destroy(struct vgpu_reload *r);

#endif /* VGPU_DAEMON_RELOAD_H */
