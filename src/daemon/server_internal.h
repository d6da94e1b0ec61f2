/*
 * What the server's files share (internal to src/daemon): the records of a
 * listener, a connection and the server, and the calls between listening
 * (server.c), the connections (server_conn.c) and the control socket
 * (server_control.c). Not thread-safe: everything runs on the loop's thread.
 */
#ifndef VGPU_DAEMON_SERVER_INTERNAL_H
#define VGPU_DAEMON_SERVER_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "server.h"
#include "transport.h"
#include "vgpu/common.h"
#include "vgpu/regs.h"

/* Bytes read per recv(); the loop is level-triggered, so a peer with more
 * waiting than one turn reads is read again at the next iteration. */
#define SERVER_READ_CHUNK    16384
/* Chunks read per wakeup of a mailbox device, while each fills the
 * buffer: more than any well-behaved device has in flight. */
#define SERVER_MAILBOX_READS 4
/* Reads per wakeup of a queue device: one whole 1 MiB request, so that a
 * busy executor (one request per pool per loop turn) does not slow the
 * intake of large requests to a chunk per turn. A mailbox device is read
 * once per wakeup, as before. */
#define SERVER_QUEUE_READS                                                     \
    ((VGPU_HDR_SIZE + VGPU_MAX_PAYLOAD) / SERVER_READ_CHUNK + 1)
/* Connections accepted per readiness event of a listener. */
#define SERVER_ACCEPT_BATCH    64
/* The accept back-off when the process is out of descriptors. */
#define SERVER_ACCEPT_PAUSE_MS 100
/* The sweep's period while some connection has a deadline. */
#define SERVER_SWEEP_MS        100
/* Reads of each device connection's pending input at a drain. */
#define SERVER_DRAIN_READS     16
/* Reads of unread input before a close (server_discard_input()). */
#define SERVER_DISCARD_READS   4
/* First allocation of an output buffer. */
#define SERVER_OUT_INITIAL     4096

#define SERVER_KIND_DEVICE  0
#define SERVER_KIND_CONTROL 1

#define SERVER_CMD_STATS "stats"
#define SERVER_CMD_HELP  "help"
#define SERVER_CMD_LIVE  "live"

struct vgpu_server;

struct server_conn;

struct server_listener {
    struct vgpu_server *srv;
    int kind;
    int fd; /* -1: not listening */
    char *path;
    dev_t dev; /* the socket file we bound, to unlink only ours */
    ino_t ino;
    int64_t pause_timer; /* 0: accepting */
    size_t nconns;       /* its connections now */
    size_t max_conns;    /* the cap; one more is closed at once */
    /* A connection of this kind is readable: vgpu_server_device_input()
     * or vgpu_server_control_read(). */
    void (*on_read)(struct server_conn *c);
};

struct server_conn {
    const struct vgpu_transport *transport; /* first member: transport.h */
    struct vgpu_server *srv;
    int fd;
    int kind;
    struct vgpu_mconn *mc; /* device connections */
    uint8_t *out;          /* output: out[head .. head + len) */
    size_t out_head;
    size_t out_len;
    size_t out_alloc;
    size_t out_cap;       /* the bound */
    uint64_t deadline_ms; /* 0: none */
    int closing;          /* reads no more; closes once flushed */
    int broken;           /* the socket failed: nothing more is written */
    int overflowed;       /* a send went over the bound */
    int out_sized;        /* out_cap set for a queue device */
    int queued;           /* on the reap list */
    int hello_pending;    /* a device that has not had HELLO_ACK yet */
    int freeing;          /* inside server_conn_free() */
    char cmd[VGPU_SERVER_CONTROL_LINE_MAX];
    size_t cmd_len;
    struct server_conn *prev, *next; /* all connections */
    struct server_conn *reap_next;
};

/* A counted event logged at most once per VGPU_SERVER_NOTE_MS. */
struct server_note {
    uint64_t count;   /* since the last line */
    uint64_t total;   /* since start */
    uint64_t last_ms; /* when the last line was written; 0: never */
};

struct vgpu_server {
    struct vgpu_event_loop *loop;
    struct vgpu_log *log;
    struct vgpu_mediator *m;
    size_t output_cap;
    struct server_listener listeners[2]; /* by SERVER_KIND_* */
    struct server_conn *conns;
    size_t nconns;
    struct server_conn *reap_head, *reap_tail;
    int64_t sweep_timer; /* 0: not armed */
    int current_fd;      /* the connection whose input the core handles */
    int draining;        /* vgpu_server_drain() ran: wait for running jobs */
    unsigned hello_timeout_ms;
    struct server_note refused; /* closed at the cap */
    struct server_note silent;  /* closed at the HELLO deadline */
    struct server_note no_fds;  /* accept() out of descriptors */
};

/* Count one event in @n; log it, with the count since the last line, when
 * VGPU_SERVER_NOTE_MS has passed since that line. */
void vgpu_server_note(struct vgpu_server *srv, struct server_note *n,
                      const char *what, const char *path);

/* Write what @c's output buffer holds, as much as the socket takes.
 * Return: 0, or -1 when the socket failed (@c is broken). */
int vgpu_server_flush(struct server_conn *c);

/* Queue @len bytes of output on @c (bounded by its out_cap) and write what
 * the socket takes. Return: 0, or a negative errno-style code. */
int vgpu_server_conn_send(struct server_conn *c, const uint8_t *p, size_t len);

/* Start the sweep timer, unless it runs. */
void vgpu_server_arm_sweep(struct vgpu_server *srv);

/* Stop reading @c and close it once its output is flushed (or its linger
 * ends): it goes on the reap list. */
void vgpu_server_mark_closing(struct server_conn *c);

/* Close @c's socket and free it, with its core connection. */
void vgpu_server_conn_free(struct server_conn *c);

/* A new connection @fd from the listener @l: its record, registered in the
 * loop; on failure @fd is closed and the failure logged. */
void vgpu_server_accept_one(struct server_listener *l, int fd);

/* Read a device connection's bytes once and feed them to the core. */
void vgpu_server_device_input(struct server_conn *c);

/* Read a control connection's command line and answer it. */
void vgpu_server_control_read(struct server_conn *c);

#endif /* VGPU_DAEMON_SERVER_INTERNAL_H */
