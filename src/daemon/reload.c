/*
 * The registry reload built aside (reload.h): one loader thread at a time,
 * its end signalled through a pipe the event loop watches.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "reload.h"

#define RELOAD_ERR_MAX 512

struct vgpu_reload {
    struct vgpu_event_loop *loop;
    const char *path;
    vgpu_reload_done_fn done;
    void *arg;
    int pipe[2]; /* the thread writes one byte to [1] when done */
    int running; /* a thread exists, not joined yet */
    int again;   /* a start came while it ran */
    pthread_t thread;
    /* Written by the thread, read by the loop after the join. */
    struct vgpu_registry *reg;
    char err[RELOAD_ERR_MAX];
};

struct vgpu_registry *
vgpu_reload_registry(const char *path, char *err, size_t err_len)
{
    struct vgpu_registry *reg = vgpu_registry_load(path, 0, err, err_len);

    if (reg != NULL) {
        /* Built by the load's duplicate check already; here for certain,
         * off the loop's thread. Without memory for it lookups scan. */
        (void)vgpu_registry_index(reg);
    }
    return reg;
}

static void *
reload_thread(void *data)
{
    struct vgpu_reload *r = data;
    char one = 1;
    ssize_t n;

    r->reg = vgpu_reload_registry(r->path, r->err, sizeof(r->err));
    do {
        n = write(r->pipe[1], &one, 1);
    } while (n < 0 && errno == EINTR);
    return NULL;
}

static void
reload_event(struct vgpu_event_loop *loop, int fd, void *data, int mask)
{
    struct vgpu_reload *r = data;
    char buf[16];
    struct vgpu_registry *reg;

    while (read(fd, buf, sizeof(buf)) > 0) {
    }
    if (!r->running) {
        return;
    }
    pthread_join(r->thread, NULL);
    r->running = 0;
    reg = r->reg;
    r->reg = NULL;
    r->done(r->arg, reg, reg != NULL ? NULL : r->err);
    if (r->again) {
        r->again = 0;
        (void)vgpu_reload_start(r);
    }
}

struct vgpu_reload *
vgpu_reload_create(struct vgpu_event_loop *loop, const char *path,
                   vgpu_reload_done_fn done, void *arg)
{
    struct vgpu_reload *r = calloc(1, sizeof(*r));

    if (r == NULL) {
        return NULL;
    }
    r->loop = loop;
    r->path = path;
    r->done = done;
    r->arg = arg;
    if (pipe2(r->pipe, O_NONBLOCK | O_CLOEXEC) < 0) {
        goto err_free;
    }
    if (vgpu_event_add(loop, r->pipe[0], VGPU_EVENT_READ, reload_event, r) <
        0) {
        goto err_pipe;
    }
    return r;

err_pipe:
    close(r->pipe[0]);
    close(r->pipe[1]);
err_free:
    free(r);
    return NULL;
}

int
vgpu_reload_start(struct vgpu_reload *r)
{
    int rc;

    if (r->running) {
        r->again = 1;
        return 0;
    }
    r->err[0] = '\0';
    rc = pthread_create(&r->thread, NULL, reload_thread, r);
    if (rc != 0) {
        return -rc;
    }
    r->running = 1;
    return 0;
}

void
vgpu_reload_destroy(struct vgpu_reload *r)
{
    if (r == NULL) {
        return;
    }
    if (r->running) {
        pthread_join(r->thread, NULL);
        vgpu_registry_destroy(r->reg);
    }
    vgpu_event_del(r->loop, r->pipe[0], VGPU_EVENT_READ);
    close(r->pipe[0]);
    close(r->pipe[1]);
    free(r);
}
