/*
 * What the files of libvgpu-sim share (vgpu/sim.h): the simulator, its VMs,
 * and the transport ops table each mode implements (STYLE.md rule 7).
 *
 *   sim.c              create/destroy, the device ops, each VM's link
 *                      (src/link: the device's end of the protocol, the
 *                      same code QEMU's vgpu-stub runs), the sim bus, the
 *                      log
 *   transport_local.c  the in-process mediator core, and the deterministic
 *                      transport: a doorbell runs the whole chain
 *   transport_socket.c one Unix socket per VM to a vgpu-mediator daemon
 *   threaded.c         the in-process core on a dispatcher thread
 *
 * sim.c reaches a mode only through its struct sim_transport (bus, submit,
 * send, lost, ...); the transports call sim.c for the log and the plain
 * bus, and threaded.c uses transport_local.c's core. No file calls back
 * into one that calls it.
 *
 * Internal functions shared by these files are prefixed sim_; none is
 * exported (the library is built with -fvisibility=hidden).
 *
 * Locks (threaded mode only; the other modes are single-threaded):
 *   core_lock  the mediator core and every vm->mconn: held by the
 *              dispatcher while it feeds, dispatches and closes, and by
 *              vgpu_sim_stats() and vgpu_sim_disconnect().
 *   vm->lock   one VM's device, link and outbox: held by the guest thread
 *              around every bus access, and by the dispatcher while it
 *              delivers frames to that VM or takes its outbox.
 *   q_lock     the dispatcher's queue.
 * Order: core_lock -> vm->lock -> q_lock. No thread takes a lock to the
 * left of one it holds: a guest thread (vm->lock held in the bus) takes only
 * q_lock to queue a kick; the dispatcher pops under q_lock and releases it
 * before it takes core_lock. Two VM locks are never held together.
 */
#ifndef VGPU_SIM_INTERNAL_H
#define VGPU_SIM_INTERNAL_H

#include <poll.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "vgpu/devmodel.h"
#include "vgpu/guest.h"
#include "vgpu/link.h"
#include "vgpu/mediator.h"
#include "vgpu/proto.h"
#include "vgpu/sim.h"

/* Socket mode: how long a connect waits for HELLO_ACK. */
#define SIM_HELLO_TIMEOUT_MS 5000
/* Socket mode: bytes read from a socket per read() call. */
#define SIM_READ_CHUNK       65536u
/* Text kept of why a connect failed, for the create error and the log. */
#define SIM_MSG_MAX          256u
/* The most bytes a VM's output may hold: every queue entry in flight with
 * a full payload, and a few small frames. */
#define SIM_OUT_MAX                                                            \
    ((size_t)(VGPU_Q_ENTRIES_MAX + 4u) * (VGPU_HDR_SIZE + VGPU_Q_MAX_XFER))
/* Guest memory is handed out by the sim bus's dma_alloc in pages. */
#define SIM_PAGE_SIZE 4096u

#define SIM_NS_PER_MS 1000000ull

struct sim_vm {
    struct vgpu_sim *sim;
    unsigned index;
    struct vgpu_dev dev;
    struct vgpu_link link; /* the device's end of the protocol */
    struct vgpu_client *client;
    pthread_mutex_t lock;      /* threaded mode, see the top */
    pthread_cond_t done_cond;  /* threaded mode: broadcast on completions */
    int irq_level;             /* last level the device gave set_irq */
    uint64_t guest_errors;     /* accesses the device reported */
    char message[SIM_MSG_MAX]; /* why the last connect failed */

    /* What the link sent and the transport has not delivered yet: frames
     * for the core (in-process modes, delivered by sim_local_settle()), or
     * bytes for the socket (socket mode, from out_off on). */
    uint8_t *out;
    size_t out_len;
    size_t out_cap;
    size_t out_off;
    uint8_t *out_spare; /* in-process modes: swapped with out to deliver */
    size_t out_spare_cap;

    /* Guest memory, reached by the device's DMA (the queue). */
    uint8_t *mem; /* mem_size bytes at VGPU_SIM_GUEST_BASE */
    uint64_t mem_size;
    uint8_t *page_used; /* the dma allocator: one byte per page */
    struct {
        uint64_t addr;
        uint64_t len;
    } faults[VGPU_SIM_DMA_FAULTS_MAX];
    unsigned n_faults;
    int bus_master_off;
    uint8_t *qbuf; /* the device's q_buffer: VGPU_Q_MAX_XFER bytes */
    uint8_t *rx;   /* the link's payload buffer: VGPU_Q_MAX_XFER bytes */

    /* In-process modes. */
    struct vgpu_mconn *mconn; /* NULL when closed */
    int close_pending;        /* the core or the link asked to close mconn */
    int flush_pending;        /* out has bytes for the core */

    /* The queue's entries wait in the device's ring while the link is not
     * READY (ops->submit said -EAGAIN): the transport connects once the
     * guest's register write returns, never inside the device's call. */
    int want_connect;
    int connect_failed; /* while set, queued entries end at once */

    /* Socket mode. */
    int fd;               /* -1 when closed */
    uint64_t deadline_ns; /* timeout of the request in flight; 0 for none */
};

/* One mode's transport. Every member is set. */
struct sim_transport {
    const char *name;
    /* The guest client's bus: the sim bus with the mode's extras (a STATUS
     * read that pumps the socket, locks, an interrupt wait). */
    const struct vgpu_bus_ops *bus;
    /* Connect every VM (HELLO/HELLO_ACK) and start what the mode runs.
     * Return 0, or a negative code with @err set. */
    int (*start)(struct vgpu_sim *sim, char *err, size_t err_len);
    /* Stop threads, close every connection, free the mode's state. Called
     * once, also after a failed start. */
    void (*stop)(struct vgpu_sim *sim);
    /* The device's ops->submit: hand @req to vm->link (vgpu_link_request),
     * connecting first when the link is DOWN. Return 0, or a VGPU_ERR_*
     * code to end the request at once. */
    int (*submit)(struct sim_vm *vm, const struct vgpu_request *req);
    /* The link's ops->send and ops->lost (vgpu/link.h). */
    int (*send)(struct sim_vm *vm, const uint8_t *frame, size_t len);
    void (*lost)(struct sim_vm *vm, const char *why);
    /* vgpu_sim_poll(). */
    int (*poll)(struct vgpu_sim *sim, int timeout_ms);
    /* vgpu_sim_disconnect(). */
    void (*disconnect)(struct sim_vm *vm);
    /* vgpu_sim_stats(). */
    size_t (*stats)(struct vgpu_sim *sim,
                    void (*fn)(const struct vgpu_vm_stats *, void *),
                    void *arg);
    /* 1 when VMs are driven from their own threads (vm->lock is used). */
    int threaded;
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
    int flush_pending; /* some vm->flush_pending is set */
    int in_core;       /* deterministic mode: inside the core's send */
    int run_pending;   /* deterministic mode: queue entries to run */

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
 * sim_link_init() - set up @vm->link for @vm->dev, its send and lost going
 * to the mode's transport. Return: 0 or -EINVAL.
 */
int sim_link_init(struct sim_vm *vm);

/**
 * sim_out_append() - add @len bytes to @vm's output, growing it up to
 * SIM_OUT_MAX. Return: 0 or -ENOBUFS.
 */
int sim_out_append(struct sim_vm *vm, const uint8_t *bytes, size_t len);

/**
 * sim_q_settled() - whether a queue waiter has something to see: a
 * completion to reap, a stopped queue, or nothing in flight or waiting.
 */
int sim_q_settled(struct sim_vm *vm);

/* The sim bus's DMA memory (vgpu_bus_ops.dma_alloc and dma_free). */
void *sim_bus_dma_alloc(void *ctx, size_t len, uint64_t *dev_addr);
void sim_bus_dma_free(void *ctx, void *ptr, size_t len);

/** sim_vm_ends() - requests of @vm that ended (DONE or ERROR) so far. */
uint64_t sim_vm_ends(const struct sim_vm *vm);

/*
 * The sim bus: vgpu_bus_sim on the VM's device; ctx is the struct sim_vm.
 * The transports build their bus ops from these.
 */
uint32_t sim_bus_read32(void *ctx, uint32_t off);
void sim_bus_write32(void *ctx, uint32_t off, uint32_t val);
void sim_bus_read_buf(void *ctx, uint32_t off, void *dst, size_t len);
void sim_bus_write_buf(void *ctx, uint32_t off, const void *src, size_t len);
void sim_bus_close(void *ctx);

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
 * vm->message; a request in flight has ended).
 */
int sim_local_connect(struct sim_vm *vm);

/**
 * sim_local_close() - close @vm's connection to the core (if open) and
 * treat it as lost. Threaded mode: the caller holds core_lock.
 */
void sim_local_close(struct sim_vm *vm);

/**
 * sim_local_settle() - after a call into the core: close the connections
 * the core or a link asked to close, and deliver what the links queued
 * (a request sent at HELLO_ACK, PONGs), until nothing is left. Threaded
 * mode: the caller holds core_lock (not a VM's lock).
 */
void sim_local_settle(struct vgpu_sim *sim);

/**
 * sim_local_kick() - deliver @vm's outbox to the core, connecting first
 * when its link is DOWN and its device has a request in flight. Threaded
 * mode: the caller holds core_lock.
 */
void sim_local_kick(struct sim_vm *vm);

/* The link's send and lost of the in-process modes. */
int sim_local_send(struct sim_vm *vm, const uint8_t *frame, size_t len);
void sim_local_lost(struct sim_vm *vm, const char *why);

/** sim_local_stats() - vgpu_mediator_stats() of the core. */
size_t sim_local_stats(struct vgpu_sim *sim,
                       void (*fn)(const struct vgpu_vm_stats *, void *),
                       void *arg);

#endif /* VGPU_SIM_INTERNAL_H */
