/*
 * The daemon's transport (SPEC.md section 9): the listening Unix sockets,
 * the device connections fed into the mediator core, and the control
 * socket that answers "stats".
 *
 * Each device connection reads into vgpu_mediator_conn_input() and has a
 * bounded output buffer: ops->send writes at once when the buffer is empty
 * and queues the rest, written when the socket is writable. A send that
 * would take the buffer over its bound fails with -ENOBUFS, the core gives
 * up on the connection, and it is closed: a peer that never reads costs at
 * most the bound and never stalls the loop.
 *
 * Closing: ops->close (or a hang-up, a socket error) only marks a
 * connection. vgpu_server_reap(), called from the loop's before-sleep hook,
 * flushes what it can and closes it, lingering at most
 * VGPU_SERVER_LINGER_MS for output the peer has not read yet (never for a
 * connection whose buffer overflowed), and only then calls
 * vgpu_mediator_conn_close(). So a connection is never freed inside a call
 * into the core.
 *
 * Threading: not thread-safe; everything runs on the event loop's thread.
 */
#ifndef VGPU_MEDIATOR_SERVER_H
#define VGPU_MEDIATOR_SERVER_H

#include <stddef.h>
#include <sys/types.h>

#include "event.h"
#include "log.h"
#include "vgpu/mediator.h"

/* Mode of both sockets, and of the directories created for them. */
#define VGPU_SERVER_SOCKET_MODE 0660
#define VGPU_SERVER_DIR_MODE    0755

/* How long a closing connection may take to flush its output. */
#define VGPU_SERVER_LINGER_MS          1000
/* How long a control client has to send its command and read the answer,
 * and a device its HELLO, unless the configuration says otherwise. */
#define VGPU_SERVER_CONTROL_TIMEOUT_MS 5000
/* Control connections at once: an admin's --stats still gets in while the
 * device socket is at its cap. */
#define VGPU_SERVER_CONTROL_MAX        16
/* Descriptors kept for what is not a device connection when the cap is
 * derived from RLIMIT_NOFILE: stdio, the log, the registry, epoll, the
 * signalfd, the listeners, inotify, the backends, and the control
 * connections (VGPU_SERVER_CONTROL_MAX). */
#define VGPU_SERVER_FD_RESERVE         64
/* At most one log line per this many ms about refused or silent
 * connections, carrying the count since the last one. */
#define VGPU_SERVER_NOTE_MS            1000
/* The longest control command line, newline included. */
#define VGPU_SERVER_CONTROL_LINE_MAX   256

struct vgpu_server;

struct vgpu_server_config {
    const char *socket_path;  /* device socket; copied */
    const char *control_path; /* control socket; copied */
    size_t output_cap;        /* bytes each device connection may queue */
    /* A connection that has not sent HELLO (a control client: its command)
     * this long after it was accepted is closed; 0: the default. */
    unsigned hello_timeout_ms;
    /* Device connections at once; one more is accepted and closed at once.
     * 0: vgpu_server_default_max_connections(). */
    size_t max_connections;
};

/**
 * vgpu_server_default_max_connections() - the device connections that fit
 * the soft RLIMIT_NOFILE @nofile, keeping VGPU_SERVER_FD_RESERVE for the
 * rest (half of @nofile when it is smaller than twice the reserve).
 */
size_t vgpu_server_default_max_connections(unsigned long long nofile);

/**
 * vgpu_server_create() - a server on @loop, logging to @log, listening on
 * nothing yet. @loop and @log must outlive it.
 * Return: the server (destroy it with vgpu_server_destroy()), or NULL when
 * out of memory.
 */
struct vgpu_server *vgpu_server_create(struct vgpu_event_loop *loop,
                                       struct vgpu_log *log,
                                       const struct vgpu_server_config *cfg);

/**
 * vgpu_server_fill_ops() - set the send and close members of @ops, the
 * transport side of the mediator core; the caller sets now_ns, log and
 * admit. The core's conn_opaque is the server's connection. They are the
 * dispatchers of transport.h, so other transports (legacy.h) can open
 * connections in the same core.
 */
void vgpu_server_fill_ops(struct vgpu_mediator_ops *ops);

/** vgpu_server_set_mediator() - the core that connections are fed into. */
void vgpu_server_set_mediator(struct vgpu_server *srv, struct vgpu_mediator *m);

/**
 * vgpu_server_listen() - create each socket's directory (mkdir -p, mode
 * VGPU_SERVER_DIR_MODE), bind the device and control sockets (mode
 * VGPU_SERVER_SOCKET_MODE) and start accepting. A socket file that nothing
 * answers on (a crashed daemon's) is replaced; one that answers is not.
 * @err: a one-line reason on failure, naming the path.
 * Return: 0; -EADDRINUSE when another daemon answers on a path; -EEXIST
 * when the path is there and is not a socket; another negative errno.
 */
int vgpu_server_listen(struct vgpu_server *srv, char *err, size_t err_len);

/**
 * vgpu_server_reap() - close the connections marked for closing (see the
 * top of this file). Call it from the before-sleep hook, outside any call
 * into the core.
 */
void vgpu_server_reap(struct vgpu_server *srv);

/**
 * vgpu_server_stop_accepting() - close the listening sockets and remove
 * their files (SIGTERM). Connections stay.
 */
void vgpu_server_stop_accepting(struct vgpu_server *srv);

/**
 * vgpu_server_drain() - read what each device has already sent (so that
 * the core answers it; call vgpu_mediator_shutdown() first and it answers
 * REJECTED), then stop reading from every connection and mark each for
 * closing once its output is flushed, lingering at most @linger_ms.
 */
void vgpu_server_drain(struct vgpu_server *srv, int linger_ms);

/**
 * vgpu_server_current_fd() - the fd of the device connection whose input
 * the core is handling right now, or -1. The daemon's log callback uses it
 * to start the core's lines about that input with "conn fd=N ".
 */
int vgpu_server_current_fd(const struct vgpu_server *srv);

/** vgpu_server_conn_count() - open connections, device and control. */
size_t vgpu_server_conn_count(const struct vgpu_server *srv);

/**
 * vgpu_server_close_all() - flush what can be written without waiting and
 * close every connection now (calling vgpu_mediator_conn_close() for the
 * device ones). Call it before vgpu_mediator_destroy().
 */
void vgpu_server_close_all(struct vgpu_server *srv);

/**
 * vgpu_server_destroy() - close everything (as vgpu_server_close_all() and
 * vgpu_server_stop_accepting()) and free the server. NULL is a no-op.
 */
void vgpu_server_destroy(struct vgpu_server *srv);

/**
 * vgpu_server_format_stats() - the control socket's answer to "stats": "vms
 * N\n" and one line per VM (the format is fixed in the project conventions).
 * Return: a malloc'ed NUL-terminated string the caller frees, or NULL when
 * out of memory.
 */
char *vgpu_server_format_stats(const struct vgpu_mediator *m);

/**
 * vgpu_server_format_live() - the answer to "live" (vgpu/ctl.h): as
 * "stats", with " queued=N running=N" at the end of each VM line.
 * Return: as vgpu_server_format_stats().
 */
char *vgpu_server_format_live(const struct vgpu_mediator *m);

/**
 * vgpu_server_bind_unix() - a listening, non-blocking Unix socket at @path
 * (mode VGPU_SERVER_SOCKET_MODE, its directories created), replacing a
 * socket file that nothing answers on, as the device and control sockets
 * are (vgpu_server_listen()); the metrics endpoint binds its socket so too.
 * @dev, @ino: receive the file's identity, for vgpu_server_unlink_own().
 * Return: the fd, or a negative errno with @err naming the path.
 */
int vgpu_server_bind_unix(struct vgpu_log *log, const char *path, dev_t *dev,
                          ino_t *ino, char *err, size_t err_len);

/** vgpu_server_unlink_own() - remove @path if it is still the file bound. */
void vgpu_server_unlink_own(const char *path, dev_t dev, ino_t ino);

#endif /* VGPU_MEDIATOR_SERVER_H */
