/*
 * What the files of libvgpu-sim share (vgpu/sim.h): the simulator, its VMs,
 * and the transport ops table each mode implements (STYLE.md rule 7).
 *
 *   sim.c              create/destroy, the device ops, the sim bus, the
 *                      frames a VM receives, the log
 *   transport_local.c  the in-process mediator core, and the deterministic
 *                      transport: a doorbell runs the whole chain
 *   transport_socket.c one Unix socket per VM to a vgpu-mediator daemon
 *   threaded.c         the in-process core on a dispatcher thread
 *
 * Internal functions shared by these files are prefixed sim_; none is
 * exported (the library is built with -fvisibility=hidden).
 *
 * Locks (threaded mode only; the other modes are single-threaded):
 *   core_lock  the mediator core and every vm->mconn: held by the
 *              dispatcher while it feeds, dispatches and closes, and by
 *              vgpu_sim_stats() and vgpu_sim_disconnect().
 *   vm->lock   one VM's device, decoder, pending list and connected flag:
 *              held by the guest thread around every bus access, and by the
 *              dispatcher while it delivers frames to that VM.
 *   q_lock     the dispatcher's queue.
 * Order: core_lock -> vm->lock -> q_lock. No thread takes a lock to the
 * left of one it holds: a guest thread (vm->lock held in the bus) takes only
 * q_lock to queue a frame; the dispatcher pops under q_lock and releases it
 * before it takes core_lock. Two VM locks are never held together.
 */
#ifndef VGPU_SIM_INTERNAL_H
#define VGPU_SIM_INTERNAL_H

#include <poll.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "vgpu/devmodel.h"
#include "vgpu/mediator.h"
#include "vgpu/proto.h"
#include "vgpu/sim.h"

/* Requests a connection may have sent and not yet seen answered: one in
 * flight, plus those abandoned by a timeout or a reset whose late answers
 * must still be recognised as stale. Older ones are forgotten. */
#define SIM_PENDING_MAX      16u
/* Socket mode: how long a connect waits for HELLO_ACK, and a write for
 * room in the socket. */
#define SIM_HELLO_TIMEOUT_MS 5000
#define SIM_WRITE_TIMEOUT_MS 5000
/* The largest frame a VM sends: a header and a full request buffer. */
#define SIM_FRAME_MAX        (VGPU_HDR_SIZE + VGPU_BUF_SIZE)
/* Socket mode: bytes read from a socket per read() call. */
#define SIM_READ_CHUNK       65536u
/* Text kept of an ERROR frame, for the create error and the log. */
#define SIM_MSG_MAX          256u

#define SIM_NS_PER_MS 1000000ull

/* A request the connection carries: what a RESPONSE's request_id maps to. */
struct sim_pending {
    uint32_t generation;
    uint32_t request_id;
};

struct sim_vm {
    struct vgpu_sim *sim;
    unsigned index;
    struct vgpu_dev dev;
    struct vgpu_client *client;
    pthread_mutex_t lock;     /* threaded mode, see the top */
    pthread_cond_t done_cond; /* threaded mode: broadcast on completions */
    int irq_level;            /* last level the device gave set_irq */
    uint64_t guest_errors;    /* accesses the device reported */
    int connected;            /* HELLO_ACK seen on the current connection */
    int pings;                /* PINGs received, to answer (socket mode) */
    struct vgpu_mconn *mconn; /* in-process modes; NULL when closed */
    int close_pending;        /* the core asked to close mconn */
    int fd;                   /* socket mode; -1 when closed */
    uint64_t deadline_ns;     /* socket mode: timeout of the request in
                                 flight; 0 for none */
    struct sim_pending pending[SIM_PENDING_MAX];
    unsigned pending_head;
    unsigned pending_count;
    char message[SIM_MSG_MAX]; /* the last ERROR frame's reason */
    struct vgpu_decoder dec;
    uint8_t payload[VGPU_BUF_SIZE];
    uint8_t wire[SIM_FRAME_MAX]; /* the REQUEST frame being sent */
};

/* One mode's transport. Every member is set. */
struct sim_transport {
    const char *name;
    /* Connect every VM (HELLO/HELLO_ACK) and start what the mode runs.
     * Return 0, or a negative code with @err set. */
    int (*start)(struct vgpu_sim *sim, char *err, size_t err_len);
    /* Stop threads, close every connection, free the mode's state. Called
     * once, also after a failed start. */
    void (*stop)(struct vgpu_sim *sim);
    /* Carry one encoded REQUEST frame of @vm (whose device is BUSY with
     * it). Return 0, or a VGPU_ERR_* code to end the request at once. */
    int (*submit)(struct sim_vm *vm, const uint8_t *frame, size_t len);
    /* vgpu_sim_poll(). */
    int (*poll)(struct vgpu_sim *sim, int timeout_ms);
    /* vgpu_sim_disconnect(). */
    void (*disconnect)(struct sim_vm *vm);
    /* vgpu_sim_stats(). */
    size_t (*stats)(struct vgpu_sim *sim,
                    void (*fn)(const struct vgpu_vm_stats *, void *),
                    void *arg);
};

extern const struct sim_transport sim_transport_local;
extern const struct sim_transport sim_transport_socket;
extern const struct sim_transport sim_transport_threaded;

/* A frame the dispatcher thread runs (threaded mode). */
struct sim_item;

struct vgpu_sim {
    struct vgpu_sim_config cfg; /* cfg.vms points at vm_ids below */
    struct vgpu_sim_vm *ids;
    const struct sim_transport *tr;
    struct sim_vm *vms; /* cfg.n_vms of them */
    int single;         /* vgpu_sim_open_single(): close destroys */
    char *socket_path;

    /* The log (VGPU_SIM_LOG, VGPU_SIM_LOG_LEVEL). */
    int log_fd;    /* stderr, or the file opened for appending */
    int log_level; /* VGPU_LOG_*; lines above it are not written */

    /* In-process modes. */
    struct vgpu_mediator *m;
    int close_pending; /* some vm->close_pending is set */

    /* Socket mode. */
    struct pollfd *pfds;
    unsigned *pfd_vm;
    uint8_t *rbuf; /* SIM_READ_CHUNK bytes */

    /* Threaded mode. */
    pthread_mutex_t core_lock;
    pthread_mutex_t q_lock;
    pthread_cond_t q_cond;
    struct sim_item *q_head;
    struct sim_item *q_tail;
    int q_stop;
    int thread_started;
    pthread_t thread;
};

/* ---- sim.c --------------------------------------------------------------- */

/** sim_now_ns() - CLOCK_MONOTONIC in nanoseconds. */
uint64_t sim_now_ns(void);

/** sim_log() - one line in the sim log if @level is within its level. */
void sim_log(struct vgpu_sim *sim, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/** sim_log_line() - an already formatted line (the core's ops->log). */
void sim_log_line(struct vgpu_sim *sim, int level, const char *line);

/**
 * sim_hello_frame() - encode @vm's HELLO into @buf (at least VGPU_HDR_SIZE +
 * VGPU_HELLO_PAYLOAD_SIZE bytes). Return: its length.
 */
size_t sim_hello_frame(const struct sim_vm *vm, uint8_t *buf, size_t cap);

/**
 * sim_vm_input() - bytes from the mediator for @vm: HELLO_ACK marks it
 * connected, RESPONSE completes the device, PING is counted in vm->pings,
 * PONG is ignored. Threaded mode: the caller holds vm->lock.
 * Return: 0; or a negative code when the connection must be dropped (an
 * ERROR frame, whose reason is in vm->message, or a protocol error): the
 * caller then calls sim_vm_lost() and closes the connection.
 */
int sim_vm_input(struct sim_vm *vm, const uint8_t *data, size_t len);

/**
 * sim_vm_lost() - @vm's connection is gone: forget its state (connected,
 * decoder, pending requests) and end a request in flight with
 * MEDIATOR_UNAVAILABLE. Threaded mode: the caller holds vm->lock.
 */
void sim_vm_lost(struct sim_vm *vm);

/** sim_vm_ends() - requests of @vm that ended (DONE or ERROR) so far. */
uint64_t sim_vm_ends(const struct sim_vm *vm);

/* ---- transport_local.c (shared with threaded.c) -------------------------- */

/**
 * sim_local_create() - the in-process mediator core for @sim, with
 * cfg->mediator (or the defaults) and cfg->backend_override applied.
 * Return: 0, or a negative code with @err set.
 */
int sim_local_create(struct vgpu_sim *sim, char *err, size_t err_len);

/** sim_local_destroy() - close every connection and free the core. */
void sim_local_destroy(struct vgpu_sim *sim);

/**
 * sim_local_connect() - open @vm's connection to the core and greet it.
 * Threaded mode: the caller holds core_lock (not vm->lock).
 * Return: 0 once HELLO_ACK came back, or -ECONNREFUSED (reason in
 * vm->message).
 */
int sim_local_connect(struct sim_vm *vm);

/**
 * sim_local_close() - close @vm's connection to the core (if open) and
 * treat it as lost. Threaded mode: the caller holds core_lock.
 */
void sim_local_close(struct sim_vm *vm);

/** sim_local_reap() - close the connections the core asked to close. */
void sim_local_reap(struct vgpu_sim *sim);

/** sim_local_stats() - vgpu_mediator_stats() of the core. */
size_t sim_local_stats(struct vgpu_sim *sim,
                       void (*fn)(const struct vgpu_vm_stats *, void *),
                       void *arg);

/* ---- threaded.c and transport_socket.c ----------------------------------- */

/**
 * sim_threaded_wait() - threaded mode's wait_irq: wait on @vm's condition
 * until its device is not BUSY, at most @timeout_ms (negative: no limit).
 * Return: 1 when it is not BUSY, 0 on timeout.
 */
int sim_threaded_wait(struct sim_vm *vm, int timeout_ms);

/**
 * sim_socket_pump() - socket mode: read what has arrived for @vm (waiting
 * at most @timeout_ms when its device is BUSY) and check its timeout.
 * Return: 1 when the device is not BUSY afterwards, else 0.
 */
int sim_socket_pump(struct sim_vm *vm, int timeout_ms);

#endif /* VGPU_SIM_INTERNAL_H */
