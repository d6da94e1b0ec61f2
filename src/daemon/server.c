/*
 * The daemon's transport (server.h): Unix sockets on the event loop.
 *
 * Every connection, device or control, is a struct server_conn on one list.
 * A connection to close is put on a second list (the reap list) and freed by
 * vgpu_server_reap() only; a timer (the sweep) runs while some connection
 * has a deadline: a control client's answer, or a closing connection's
 * linger.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "server_internal.h"

static void server_listener_event(struct vgpu_event_loop *loop, int fd,
                                  void *data, int mask);

static int64_t
server_accept_resume(struct vgpu_event_loop *loop, int64_t id, void *data)
{
    struct server_listener *l = data;

    l->pause_timer = 0;
    if (l->fd >= 0) {
        (void)vgpu_event_add(loop, l->fd, VGPU_EVENT_READ,
                             server_listener_event, l);
    }
    return VGPU_EVENT_TIMER_DONE;
}

static void
server_listener_event(struct vgpu_event_loop *loop, int fd, void *data,
                      int mask)
{
    struct server_listener *l = data;

    for (int i = 0; i < SERVER_ACCEPT_BATCH; i++) {
        int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        int64_t id;

        if (cfd >= 0 && l->nconns >= l->max_conns) {
            /* At the cap: closed at once, so a flood of connections costs
             * a descriptor for no longer than this. */
            close(cfd);
            vgpu_server_note(l->srv, &l->srv->refused,
                             "connection(s) closed at the connection cap",
                             l->path);
            continue;
        }
        if (cfd >= 0) {
            vgpu_server_accept_one(l, cfd);
            continue;
        }
        if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO) {
            continue;
        }
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            return;
        }
        /* Out of descriptors or memory: the listener would be ready again
         * at once, so pause it instead of spinning. */
        vgpu_server_note(l->srv, &l->srv->no_fds,
                         errno == EMFILE || errno == ENFILE
                             ? "accept(s) failed, out of descriptors; "
                               "pausing 100 ms each"
                             : "accept(s) failed, out of memory; pausing "
                               "100 ms each",
                         l->path);
        id = vgpu_event_timer_add(loop, SERVER_ACCEPT_PAUSE_MS,
                                  server_accept_resume, l);
        if (id > 0) {
            vgpu_event_del(loop, fd, VGPU_EVENT_READ);
            l->pause_timer = id;
        }
        return;
    }
}

void
vgpu_server_note(struct vgpu_server *srv, struct server_note *n,
                 const char *what, const char *path)
{
    uint64_t now = vgpu_event_now_ms();

    n->count++;
    n->total++;
    if (n->last_ms != 0 && now - n->last_ms < VGPU_SERVER_NOTE_MS) {
        return;
    }
    vgpu_log_printf(srv->log, VGPU_LOG_WARN, "%s: %llu %s (%llu since start)",
                    path, (unsigned long long)n->count, what,
                    (unsigned long long)n->total);
    n->count = 0;
    n->last_ms = now;
}

size_t
vgpu_server_default_max_connections(unsigned long long nofile)
{
    if (nofile < 2u * VGPU_SERVER_FD_RESERVE) {
        return nofile / 2u > 0 ? (size_t)(nofile / 2u) : 1u;
    }
    if (nofile - VGPU_SERVER_FD_RESERVE > SIZE_MAX) {
        return SIZE_MAX;
    }
    return (size_t)(nofile - VGPU_SERVER_FD_RESERVE);
}

/* ---- Listening ---------------------------------------------------------- */

/* mkdir -p of the directory part of @path. */
static int
server_mkdirs(const char *path, char *err, size_t err_len)
{
    char dir[sizeof(((struct sockaddr_un *)0)->sun_path) + 1];
    size_t len;
    char *slash;

    len = strlen(path);
    if (len >= sizeof(dir)) {
        snprintf(err, err_len, "%s: path too long", path);
        return -ENAMETOOLONG;
    }
    memcpy(dir, path, len + 1);
    slash = strrchr(dir, '/');
    if (slash == NULL || slash == dir) {
        return 0; /* in the working directory, or in / */
    }
    *slash = '\0';
    for (char *p = dir + 1; p <= slash; p++) {
        char saved = *p;

        if (*p != '/' && *p != '\0') {
            continue;
        }
        *p = '\0';
        if (mkdir(dir, VGPU_SERVER_DIR_MODE) < 0 && errno != EEXIST) {
            int rc = -errno;

            snprintf(err, err_len, "cannot create directory %s: %s", dir,
                     strerror(errno));
            return rc;
        }
        *p = saved;
    }
    return 0;
}

static void
server_sockaddr(struct sockaddr_un *sa, const char *path)
{
    memset(sa, 0, sizeof(*sa));
    sa->sun_family = AF_UNIX;
    snprintf(sa->sun_path, sizeof(sa->sun_path), "%s", path);
}

/* Whether something answers on the socket at @path. Return: 1 if so, 0 if
 * not (the file is stale), or a negative errno when it cannot be told. */
static int
server_probe(const char *path)
{
    struct sockaddr_un sa;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    int rc;

    if (fd < 0) {
        return -errno;
    }
    server_sockaddr(&sa, path);
    rc = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
    if (rc == 0 || errno == EAGAIN || errno == EINPROGRESS) {
        rc = 1; /* accepted, or a listener with a full backlog */
    } else if (errno == ECONNREFUSED) {
        rc = 0;
    } else {
        rc = -errno;
    }
    close(fd);
    return rc;
}

int
vgpu_server_bind_unix(struct vgpu_log *log, const char *path, dev_t *dev,
                      ino_t *ino, char *err, size_t err_len)
{
    struct sockaddr_un sa;
    struct stat st;
    mode_t old_mask;
    int fd;
    int rc;

    rc = server_mkdirs(path, err, err_len);
    if (rc < 0) {
        return rc;
    }
    if (lstat(path, &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) {
            snprintf(err, err_len, "%s exists and is not a socket", path);
            return -EEXIST;
        }
        rc = server_probe(path);
        if (rc > 0) {
            snprintf(err, err_len,
                     "%s: another mediator is answering on this socket", path);
            return -EADDRINUSE;
        }
        if (rc < 0) {
            snprintf(err, err_len, "%s: cannot check the socket: %s", path,
                     strerror(-rc));
            return rc;
        }
        if (unlink(path) < 0 && errno != ENOENT) {
            rc = -errno;
            snprintf(err, err_len, "%s: cannot remove the stale socket: %s",
                     path, strerror(errno));
            return rc;
        }
        vgpu_log_printf(log, VGPU_LOG_INFO, "%s: replaced a stale socket",
                        path);
    }
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        rc = -errno;
        snprintf(err, err_len, "socket: %s", strerror(errno));
        return rc;
    }
    server_sockaddr(&sa, path);
    /* No moment where the socket is more open than its final mode. */
    old_mask = umask(0777 & ~VGPU_SERVER_SOCKET_MODE);
    rc = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
    umask(old_mask);
    if (rc < 0) {
        rc = -errno;
        snprintf(err, err_len, "%s: bind: %s", path, strerror(errno));
        close(fd);
        return rc;
    }
    if (chmod(path, VGPU_SERVER_SOCKET_MODE) < 0 || lstat(path, &st) < 0 ||
        listen(fd, SOMAXCONN) < 0) {
        rc = -errno;
        snprintf(err, err_len, "%s: %s", path, strerror(errno));
        unlink(path);
        close(fd);
        return rc;
    }
    *dev = st.st_dev;
    *ino = st.st_ino;
    return fd;
}

void
vgpu_server_unlink_own(const char *path, dev_t dev, ino_t ino)
{
    struct stat st;

    if (lstat(path, &st) == 0 && st.st_dev == dev && st.st_ino == ino) {
        unlink(path);
    }
}

static int
server_listener_open(struct vgpu_server *srv, struct server_listener *l,
                     char *err, size_t err_len)
{
    int fd;
    int rc;

    fd = vgpu_server_bind_unix(srv->log, l->path, &l->dev, &l->ino, err,
                               err_len);
    if (fd < 0) {
        return fd;
    }
    rc = vgpu_event_add(srv->loop, fd, VGPU_EVENT_READ, server_listener_event,
                        l);
    if (rc < 0) {
        snprintf(err, err_len, "%s: %s", l->path, vgpu_strerror(rc));
        vgpu_server_unlink_own(l->path, l->dev, l->ino);
        close(fd);
        return rc;
    }
    l->fd = fd;
    return 0;
}

static void
server_listener_close(struct vgpu_server *srv, struct server_listener *l)
{
    if (l->pause_timer > 0) {
        vgpu_event_timer_del(srv->loop, l->pause_timer);
        l->pause_timer = 0;
    }
    if (l->fd < 0) {
        return;
    }
    vgpu_event_del(srv->loop, l->fd, VGPU_EVENT_READ);
    close(l->fd);
    l->fd = -1;
    /* Only the file we bound: another daemon may have replaced it. */
    vgpu_server_unlink_own(l->path, l->dev, l->ino);
}

int
vgpu_server_listen(struct vgpu_server *srv, char *err, size_t err_len)
{
    int rc;

    rc = server_listener_open(srv, &srv->listeners[SERVER_KIND_DEVICE], err,
                              err_len);
    if (rc < 0) {
        return rc;
    }
    rc = server_listener_open(srv, &srv->listeners[SERVER_KIND_CONTROL], err,
                              err_len);
    if (rc < 0) {
        server_listener_close(srv, &srv->listeners[SERVER_KIND_DEVICE]);
        return rc;
    }
    return 0;
}

void
vgpu_server_stop_accepting(struct vgpu_server *srv)
{
    server_listener_close(srv, &srv->listeners[SERVER_KIND_DEVICE]);
    server_listener_close(srv, &srv->listeners[SERVER_KIND_CONTROL]);
}

int
vgpu_server_current_fd(const struct vgpu_server *srv)
{
    return srv->current_fd;
}

size_t
vgpu_server_conn_count(const struct vgpu_server *srv)
{
    return srv->nconns;
}

/* ---- Lifetime ----------------------------------------------------------- */

struct vgpu_server *
vgpu_server_create(struct vgpu_event_loop *loop, struct vgpu_log *log,
                   const struct vgpu_server_config *cfg)
{
    struct vgpu_server *srv = calloc(1, sizeof(*srv));

    if (srv == NULL) {
        goto err;
    }
    srv->loop = loop;
    srv->log = log;
    srv->output_cap = cfg->output_cap;
    srv->current_fd = -1;
    srv->hello_timeout_ms = cfg->hello_timeout_ms != 0
                                ? cfg->hello_timeout_ms
                                : VGPU_SERVER_CONTROL_TIMEOUT_MS;
    for (int k = SERVER_KIND_DEVICE; k <= SERVER_KIND_CONTROL; k++) {
        struct server_listener *l = &srv->listeners[k];
        const char *path =
            k == SERVER_KIND_DEVICE ? cfg->socket_path : cfg->control_path;

        l->srv = srv;
        l->kind = k;
        l->on_read = k == SERVER_KIND_DEVICE ? vgpu_server_device_input
                                             : vgpu_server_control_read;
        l->fd = -1;
        l->max_conns = k == SERVER_KIND_CONTROL    ? VGPU_SERVER_CONTROL_MAX
                       : cfg->max_connections != 0 ? cfg->max_connections
                                                   : SIZE_MAX;
        l->path = strdup(path);
        if (l->path == NULL) {
            goto err_paths;
        }
    }
    return srv;

err_paths:
    free(srv->listeners[SERVER_KIND_DEVICE].path);
    free(srv->listeners[SERVER_KIND_CONTROL].path);
    free(srv);
err:
    return NULL;
}

void
vgpu_server_set_mediator(struct vgpu_server *srv, struct vgpu_mediator *m)
{
    srv->m = m;
}

void
vgpu_server_destroy(struct vgpu_server *srv)
{
    if (srv == NULL) {
        return;
    }
    vgpu_server_close_all(srv);
    vgpu_server_stop_accepting(srv);
    if (srv->sweep_timer > 0) {
        vgpu_event_timer_del(srv->loop, srv->sweep_timer);
    }
    free(srv->listeners[SERVER_KIND_DEVICE].path);
    free(srv->listeners[SERVER_KIND_CONTROL].path);
    free(srv);
}
