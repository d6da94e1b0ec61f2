/*
 * vgpu-sim's own header: its options, its run and what each file of the
 * program offers the others. The program is split by role:
 *   vgpu_sim_args.c      the command line
 *   vgpu_sim_workload.c  the request every VM sends and its check
 *   vgpu_sim_driver.c    driving the VMs (one thread, or one per VM)
 *   vgpu_sim_report.c    the figures, as text or JSON
 *   vgpu_sim_replay.c    --replay: a trace from QEMU on a fresh device
 *   vgpu_sim_main.c      setting up the simulator, and main()
 * It uses only the public headers (vgpu/sim.h, vgpu/guest.h, ...) and the
 * workload library shared with vgpu-chaos and vgpu-bench.
 */
#ifndef VGPU_SIM_CLI_H
#define VGPU_SIM_CLI_H

#include <stddef.h>
#include <stdint.h>

#include "progress.h"
#include "vgpu/guest.h"
#include "vgpu/proto.h"
#include "vgpu/sim.h"
#include "workload.h"

#define PROG "vgpu-sim"

#define MAX_PRIORITIES       64u
#define SIM_WHY_LEN          256
/* --reconnect-ms: how long the mediator may stay unreachable (every request
 * answered MEDIATOR_UNAVAILABLE) before vgpu-sim gives up, and its bound. */
#define SIM_DEF_RECONNECT_MS 5000u
#define SIM_MAX_RECONNECT_MS 3600000u

/* Kinds of error a request can end with: the device's codes, then the
 * guest library's. */
enum {
    KIND_WAIT_TIMEOUT = VGPU_ERR_COUNT, /* vgpu_wait() gave up */
    KIND_CANCELED,                      /* STATUS read IDLE */
    KIND_GUEST_OTHER,                   /* any other library code */
    KIND_COUNT,
};

struct opts {
    unsigned vms;
    char pools[VGPU_POOL_COUNT + 1];
    uint8_t prios[MAX_PRIORITIES];
    unsigned n_prios;
    uint64_t requests;
    uint32_t op;
    long size; /* -1: the op's largest */
    const char *backend;
    uint64_t seed;
    const char *socket;
    int threads;
    int json;
    uint32_t vm_id_base;
    int policy; /* -1: default */
    long max_wait_ms;
    int allow_errors;
    uint32_t timeout_ms;
    uint32_t queue_depth;  /* 0: the mailbox; else the queue, N entries */
    const char *replay;    /* --replay PATH */
    int against;           /* --against-mediator */
    int mailbox_only;      /* devices without the queue (cfg.no_queue) */
    uint32_t reconnect_ms; /* socket mode: give up after this long without
                              the mediator */
    int quiet;             /* --quiet: no progress meter */
};

/* The request every VM sends: op and counts. */
struct shape {
    uint32_t op;
    uint32_t n; /* m for MATMUL_F32 */
    uint32_t k;
    uint32_t p;
};

struct vm_run {
    unsigned idx;
    struct vgpu_client *c;
    uint32_t vm_id;
    char pool;
    uint8_t prio;
    struct vgpu_wl_rng rng;
    void *cpu; /* the local CPU backend, for the expected results */
    uint64_t issued;
    uint64_t done;
    uint64_t errors;
    uint64_t mismatches;
    uint64_t kinds[KIND_COUNT];
    uint64_t *lat_ns; /* one per request that completed */
    uint64_t n_lat;
    int inflight;
    uint64_t t0;
    uint64_t unavailable_since; /* ns; 0: the mediator answers */
    size_t req_len;
    uint8_t req[VGPU_BUF_SIZE];
    uint8_t resp[VGPU_BUF_SIZE];
    uint8_t expect[VGPU_BUF_SIZE];

    /* --queue-depth: the VM's queue, and one input and one output slot of
     * DMA memory per ring entry (entry i uses slot i, its tag). */
    struct vgpu_queue *q;
    struct vgpu_dma in;
    struct vgpu_dma out;
    size_t slot_in;    /* bytes per input slot: the request's length */
    size_t slot_out;   /* bytes per output slot: its response's length */
    uint64_t *slot_t0; /* when each slot's request was submitted */
    uint8_t *q_expect; /* the expected result, up to VGPU_Q_MAX_XFER */
    uint32_t q_inflight;
    uint32_t *q_free; /* slots not in flight (completions come in any
                         order, so any slot may be the next free one) */
    uint32_t q_nfree;
};

struct run {
    const struct opts *o;
    struct shape shape;
    struct vgpu_sim *sim;
    struct vm_run *vms;
    int call_timeout_ms;
    /* Socket mode: a VM went --reconnect-ms without the mediator. Set by
     * any VM's thread, read by all; the message is written once, by the
     * thread that sets it first. */
    volatile int gave_up;
    char gave_up_why[VGPU_BUF_SIZE + 1];
    struct vgpu_progress progress; /* requests done, on a terminal */
};

/**
 * sim_cli_gave_up() - print the one line of a run that gave up (the socket,
 * the answered requests, the last error) to stderr. Return: 1, the exit
 * status.
 */
int sim_cli_gave_up(const struct run *r);

/**
 * sim_cli_bad_arg() - print "vgpu-sim: " and the message, then "vgpu-sim:
 * see --help", to stderr, and exit 2.
 */
void sim_cli_bad_arg(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));

/**
 * sim_cli_parse_args() - the options of @argv into @o; on a bad one, print
 * why and the usage and exit 2 (--help: the usage, exit 0).
 */
void sim_cli_parse_args(int argc, char **argv, struct opts *o);

/**
 * sim_cli_shape() - the request shape of @o: its op and counts. Exits 2 on
 * a --size the op cannot hold.
 */
struct shape sim_cli_shape(const struct opts *o);

/**
 * sim_cli_next_request() - build @v's next request of @r's shape into
 * v->req, count it issued and start its clock.
 */
void sim_cli_next_request(struct run *r, struct vm_run *v);

/**
 * sim_cli_matches() - whether v->resp (@len bytes) is the expected result
 * of v->req (the CPU backend's, DOT_F32 within its tolerance).
 */
int sim_cli_matches(struct vm_run *v, const struct shape *s, size_t len);

/**
 * sim_cli_check() - the same for any request and response: @resp (@len
 * bytes) against the expected result of @req (@req_len bytes), computed
 * into @expect (@cap bytes).
 */
int sim_cli_check(struct vm_run *v, const struct shape *s, const uint8_t *req,
                  size_t req_len, const uint8_t *resp, size_t len,
                  uint8_t *expect, size_t cap);

/**
 * sim_cli_queue_open() - --queue-depth: open @v's queue and its DMA slots.
 * Return: 0, or -1 with the reason printed.
 */
int sim_cli_queue_open(struct run *r, struct vm_run *v);

/** sim_cli_queue_close() - free what sim_cli_queue_open() made. */
void sim_cli_queue_close(struct vm_run *v);

/** sim_cli_drive_all() - one thread, every VM, until all requests ended. */
void sim_cli_drive_all(struct run *r);

/**
 * sim_cli_drive_threads() - threaded mode: a thread per VM until all
 * requests ended. Return: 0, or a negative errno when a thread could not
 * start (the ones started are joined).
 */
int sim_cli_drive_threads(struct run *r);

/**
 * sim_cli_report() - print the per-VM and summary figures of @r, which
 * took @wall_ns. Return: the exit status (0 all verified; 1 otherwise).
 */
int sim_cli_report(struct run *r, uint64_t wall_ns);

/* vgpu_sim_replay.c: replay the trace at @path (against the daemon at
 * @against_socket, or NULL: on a fresh device model). Return the exit
 * code. */
int sim_replay(const char *path, const char *against_socket);

#endif /* VGPU_SIM_CLI_H */
