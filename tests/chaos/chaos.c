/*
 * vgpu-chaos: fault injection against the real vgpu-mediator daemon, with a
 * checker that accounts for every request.
 *
 * N simulated VMs (libvgpu-sim, socket mode: each VM its own connection, the
 * production device model, codec and guest library) send random requests of
 * every operation, with random valid sizes and seeded operands, to a daemon
 * this program starts. One driver thread owns the simulator: it rings the
 * doorbell of each idle VM, pumps the simulator (vgpu_sim_poll()) and
 * collects what ended (vgpu_wait(c, 0, ...)). Meanwhile the main thread
 * injects faults at seeded random times:
 *
 *   daemon_kill    SIGKILL the daemon, restart it on the same socket after a
 *                  short random pause (the stale socket file is replaced)
 *   daemon_pause   SIGSTOP the daemon for longer than the device timeout,
 *                  then SIGCONT: requests end in TIMEOUT and their late
 *                  answers must be dropped as stale
 *   disconnect     drop one VM's connection (vgpu_sim_disconnect())
 *   vm_stall       a VM stops submitting and collecting for a while
 *   all_stall      the driver stops polling every VM for a while
 *   bad_magic, bad_version, bad_type, oversize, garbage, before_hello,
 *   half_frame, dup_hello
 *                  malformed input from an extra raw connection; each one
 *                  the daemon must refuse with ERROR PROTOCOL_ERROR and a
 *                  close (dup_hello: REJECTED, or HELLO_ACK when the VM it
 *                  names happens to be disconnected; half_frame: nothing)
 *
 * The checker: each request's operands embed its VM's vm_id and its
 * sequence number (ECHO's first bytes, element 0 and 1 of ADD_I32, ADD_F32
 * and SAXPY_F32; DOT_F32 and MATMUL_F32 have random operands, so their
 * results differ from request to request), and its expected result is
 * computed here with the CPU backend on the same bytes. Every request must
 * end exactly once, either DONE with its own result (DOT_F32 within 1e-5 of
 * the sum of |x*y|, SPEC.md section 8) or ERROR with a code that a fault or
 * the request itself explains. A result that is not its own is classified:
 * an earlier answer of the same VM is "duplicated", a result of another
 * VM's request "misrouted", anything else "wrong". The codes a fault
 * explains: MEDIATOR_UNAVAILABLE during or just after a kill, a pause, a
 * drop of that VM's connection or a dup_hello on its vm_id; TIMEOUT for a
 * request in flight during a pause; the invalid requests' own refusal. A
 * request still BUSY after the drain is "lost", and so is a TIMEOUT while
 * the daemon ran: the device timeout must not hide an answer the daemon
 * never sent. Duplicates are also looked for in the device
 * counters: doorbells, completions + errors and stale responses (a late
 * answer can follow only a request that ended in TIMEOUT, so more stale
 * responses than TIMEOUTs on a VM means the daemon answered twice), and in
 * the daemon's per-VM counters (responses above requests).
 *
 * Exit: 0 when nothing was lost, duplicated, misrouted or wrong, no error
 * code went unexplained, the daemon never died on its own, refused every
 * malformed frame and exited 0 on the final SIGTERM, and every VM issued
 * its requests within --duration-s; 1 otherwise; 2 for bad arguments; 77
 * when the daemon binary is missing.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "vgpu/backend.h"
#include "vgpu/ctl.h"
#include "vgpu/devmodel.h"
#include "vgpu/guest.h"
#include "vgpu/proto.h"
#include "vgpu/sim.h"
#include "workload.h"

#define PROG "vgpu-chaos"

#define EXIT_PASS 0
#define EXIT_FAIL 1
#define EXIT_ARGS 2
#define EXIT_SKIP 77

#define DEF_VMS         64u
#define DEF_REQUESTS    2000u
#define DEF_DURATION_S  60u
#define DEF_SEED        1u
#define DEF_TIMEOUT_MS  2000u
#define DEF_THINK_MS    25u
#define DEF_GAP_MIN_MS  100u
#define DEF_GAP_MAX_MS  600u
#define MAX_REQUESTS    1000000u /* seq stays exact as a float tag */
#define MAX_DURATION_S  3600u
#define MAX_THINK_MS    10000u
#define MIN_GAP_MS      10u
#define MAX_GAP_MS      60000u
#define CHAOS_POOLS     "AB"
#define CHAOS_EXECUTORS "4" /* the daemon's --cpu-workers */
#define HIST            16u /* expected results kept per VM */
#define REPORTS_MAX     10u /* failures printed in detail */
#define PCT_ALL         100u

#define NS_PER_MS          1000000ull
#define NS_PER_S           1000000000ull
#define POLL_MAX_MS        20u /* the driver looks at its flags this often */
#define BACKOFF_MIN_MS     5u  /* after MEDIATOR_UNAVAILABLE */
#define BACKOFF_MAX_MS     30u
#define KILL_DOWN_MIN      20u /* ms the daemon stays dead */
#define KILL_DOWN_MAX      400u
#define PAUSE_EXTRA_MIN    200u /* ms beyond the device timeout */
#define PAUSE_EXTRA_MAX    1000u
#define PAUSE_GAP_MS       10000u /* at most one pause per 10 s */
#define PAUSE_AFTER_MS     2000u  /* and none in the first 2 s */
#define STALL_MIN_MS       100u
#define STALL_MAX_MS       3000u
#define ALL_STALL_MAX      1000u
#define DISCONNECT_MAX     4u     /* VMs dropped by one disconnect fault */
#define VM_STALL_MAX       8u     /* VMs stalled by one vm_stall fault */
#define READY_MS           10000u /* the daemon's socket must answer by then */
#define TERM_WAIT_MS       10000u
#define RAW_WAIT_MS        2000u /* the daemon's answer to a malformed frame */
#define RAW_HALF_MS        50u
#define RAW_GARBAGE_MAX    4096u
#define RAW_ID_GAP         1000u /* raw peer's vm_id: past the VMs' ids */
#define RAW_DEC_CAP        (64u * 1024u)
#define RAW_BAD_BYTE       0x63u /* an unknown version or type */
#define RAW_TOO_BIG        (VGPU_BUF_SIZE + 1u)
#define CTL_WAIT_MS        2000
#define DRAIN_SLACK_MS     5000u /* beyond the device timeout */
#define WINDOWS_MAX        4096u /* kills and pauses remembered */
#define RECONNECT_GRACE_MS 1000u /* a refused reconnect after a drop */
#define TAIL_LINES         30
#define LINE_MAX_LEN       512u
#define ADD_F32_SPLIT      1000u /* integral split of a float tag */
#define MATMUL_SIDE_MAX    16u
#define SEQ_STREAM         0x8CB92BA72F3D8DD7ull /* a stream per request */
#define TAG_SIZE           (2u * VGPU_ELEM_SIZE) /* vm_id, seq */
#define BAD_OP             0x7Fu                 /* no such operation */
#define OP_INVALID         UINT32_MAX /* a request built to be refused */

/* ---- Options ------------------------------------------------------------ */

struct opts {
    const char *daemon;
    unsigned vms;
    uint32_t requests;
    unsigned duration_s;
    uint64_t seed;
    uint32_t timeout_ms;
    unsigned think_ms;
    unsigned gap_min_ms;
    unsigned gap_max_ms;
    int keep;
    int verbose;
};

/* ---- Faults ------------------------------------------------------------- */

enum fault {
    FAULT_KILL,
    FAULT_PAUSE,
    FAULT_DISCONNECT,
    FAULT_VM_STALL,
    FAULT_ALL_STALL,
    FAULT_BAD_MAGIC,
    FAULT_BAD_VERSION,
    FAULT_BAD_TYPE,
    FAULT_OVERSIZE,
    FAULT_GARBAGE,
    FAULT_BEFORE_HELLO,
    FAULT_HALF_FRAME,
    FAULT_DUP_HELLO,
    FAULT_COUNT,
};

static const char *const fault_names[FAULT_COUNT] = {
    [FAULT_KILL] = "daemon_kill",          [FAULT_PAUSE] = "daemon_pause",
    [FAULT_DISCONNECT] = "disconnect",     [FAULT_VM_STALL] = "vm_stall",
    [FAULT_ALL_STALL] = "all_stall",       [FAULT_BAD_MAGIC] = "bad_magic",
    [FAULT_BAD_VERSION] = "bad_version",   [FAULT_BAD_TYPE] = "bad_type",
    [FAULT_OVERSIZE] = "oversize",         [FAULT_GARBAGE] = "garbage",
    [FAULT_BEFORE_HELLO] = "before_hello", [FAULT_HALF_FRAME] = "half_frame",
    [FAULT_DUP_HELLO] = "dup_hello",
};

/* Relative frequency of each kind. */
static const unsigned fault_weights[FAULT_COUNT] = {
    [FAULT_KILL] = 16,       [FAULT_PAUSE] = 3,        [FAULT_DISCONNECT] = 20,
    [FAULT_VM_STALL] = 12,   [FAULT_ALL_STALL] = 5,    [FAULT_BAD_MAGIC] = 5,
    [FAULT_BAD_VERSION] = 5, [FAULT_BAD_TYPE] = 5,     [FAULT_OVERSIZE] = 5,
    [FAULT_GARBAGE] = 5,     [FAULT_BEFORE_HELLO] = 5, [FAULT_HALF_FRAME] = 5,
    [FAULT_DUP_HELLO] = 5,
};

/* ---- The checker's records ---------------------------------------------- */

/* How a request ended, beyond the device's error codes. */
enum outcome {
    OUT_DUPLICATED,
    OUT_MISROUTED,
    OUT_WRONG,
};

/* One request and what it must return. */
struct expect {
    uint32_t seq;
    uint32_t op;        /* VGPU_OP_*, or OP_INVALID */
    uint32_t want_code; /* OP_INVALID: the refusal expected */
    uint32_t len;       /* bytes of the expected response */
    double mag;         /* DOT_F32: the tolerance's scale */
    uint8_t bytes[VGPU_BUF_SIZE];
};

/* When the daemon was dead (kill to ready) or stopped (SIGSTOP to
 * SIGCONT): written by the fault thread, read by the driver. An open window
 * has end UINT64_MAX. */
struct windows {
    _Atomic uint64_t start[WINDOWS_MAX];
    _Atomic uint64_t end[WINDOWS_MAX];
    atomic_uint count;
};

struct cvm {
    unsigned idx;
    uint32_t vm_id;
    struct vgpu_client *c;
    struct vgpu_dev *dev;
    uint32_t issued; /* requests rung (vgpu_submit() accepted) */
    uint32_t ended;  /* requests collected */
    int inflight;
    uint64_t t_submit;
    uint64_t last_drop; /* the driver dropped its connection then */
    uint64_t next_at;   /* think time or backoff: no submit before */
    size_t req_len;
    uint8_t req[VGPU_BUF_SIZE];
    uint8_t resp[VGPU_BUF_SIZE];
    struct expect hist[HIST]; /* hist[seq % HIST] */
    uint64_t done;
    uint64_t codes[VGPU_ERR_COUNT];
    uint64_t outcomes[OUT_WRONG + 1];
    uint64_t unexplained; /* an error code nothing explains */
    uint64_t silent;      /* TIMEOUT with no pause: an answer lost */
    uint64_t broken;      /* vgpu_wait() or vgpu_submit() misbehaved */
    /* Set by the fault thread, acted on by the driver. */
    _Atomic uint64_t stall_until;
    atomic_int disconnect_req;
    _Atomic uint64_t claimed_at; /* a dup_hello claimed its vm_id then */
};

enum phase {
    PHASE_RUN,
    PHASE_DRAIN,
};

struct chaos {
    struct opts o;
    char dir[PATH_MAX];
    char sock[sizeof(((struct sockaddr_un *)0)->sun_path)];
    char ctl[sizeof(((struct sockaddr_un *)0)->sun_path)];
    char log[PATH_MAX];
    char out[PATH_MAX];
    char simlog[PATH_MAX];
    pid_t dpid;
    int paused;
    uint64_t t0;
    uint64_t last_pause;
    struct vgpu_wl_rng frng; /* the fault schedule (main thread) */
    struct vgpu_wl_rng drng; /* think times and backoffs (driver thread) */
    struct vgpu_sim *sim;
    struct cvm *vms;
    void *cpu;
    unsigned reports;
    /* Shared with the driver thread. */
    atomic_int phase;
    atomic_int quota_done;
    atomic_uint all_stall_ms;
    _Atomic uint64_t drain_deadline;
    struct windows kills;
    struct windows pauses;
    /* The fault thread's tallies. */
    uint64_t faults[FAULT_COUNT];
    uint64_t raw_skipped;
    uint64_t raw_refused;
    uint64_t raw_unanswered;
    uint64_t dup_hello_acked;
    uint64_t crashes;
    int capped;
    /* The final figures. */
    uint64_t daemon_dup;
    int daemon_vms;
    int term_status;
};

/* ---- Small helpers ------------------------------------------------------ */

static void
sleep_ms(unsigned ms)
{
    struct timespec ts = {
        .tv_sec = ms / 1000u,
        .tv_nsec = (long)(ms % 1000u) * (long)NS_PER_MS,
    };

    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
    }
}

static void
sleep_until(uint64_t when)
{
    uint64_t now = vgpu_wl_now_ns();

    if (when > now) {
        uint64_t d = when - now;
        struct timespec ts = {
            .tv_sec = (time_t)(d / NS_PER_S),
            .tv_nsec = (long)(d % NS_PER_S),
        };

        while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
        }
    }
}

static const char *
op_label(uint32_t op)
{
    const char *name = op == OP_INVALID ? "INVALID" : vgpu_op_name(op);

    return name != NULL ? name : "?";
}

static void
usage(FILE *f)
{
    fprintf(f,
            "usage: " PROG " [options] VGPU_MEDIATOR\n"
            "Start the daemon, drive N simulated VMs (socket mode) with\n"
            "verified random requests while injecting faults, and check\n"
            "that every request ended exactly once, correctly.\n"
            "\n"
            "  --vms N              simulated VMs (default %u)\n"
            "  --requests-per-vm N  requests of each VM (default %u)\n"
            "  --duration-s N       cap on the run (default %u); reaching "
            "it\n"
            "                       before every request was sent fails\n"
            "  --seed S             seed of operands and faults (default "
            "%u)\n"
            "  --timeout-ms N       the devices' timeout (default %u)\n"
            "  --think-ms N         each VM waits 0..N ms between requests\n"
            "                       (default %u)\n"
            "  --fault-gap-ms A:B   A..B ms between faults (default %u:%u)\n"
            "  --keep               keep the work directory (logs)\n"
            "  --verbose            print each fault as it is injected\n"
            "  --help\n"
            "Exit: 0 all checks hold, 1 a check failed, 2 bad arguments, "
            "77 no daemon.\n",
            DEF_VMS, DEF_REQUESTS, DEF_DURATION_S, DEF_SEED, DEF_TIMEOUT_MS,
            DEF_THINK_MS, DEF_GAP_MIN_MS, DEF_GAP_MAX_MS);
}

static void __attribute__((format(printf, 1, 2), noreturn))
bad_arg(const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, PROG ": ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, " (see --help)\n");
    exit(EXIT_ARGS);
}

static void
parse_gap(struct opts *o, const char *s)
{
    const char *colon = strchr(s, ':');
    char lo[32];
    size_t n;

    if (colon == NULL || (n = (size_t)(colon - s)) >= sizeof(lo)) {
        bad_arg("--fault-gap-ms: '%s' is not MIN:MAX", s);
    }
    memcpy(lo, s, n);
    lo[n] = '\0';
    o->gap_min_ms = (unsigned)vgpu_wl_arg_num(bad_arg, "--fault-gap-ms", lo,
                                              MIN_GAP_MS, MAX_GAP_MS);
    o->gap_max_ms = (unsigned)vgpu_wl_arg_num(
        bad_arg, "--fault-gap-ms", colon + 1, o->gap_min_ms, MAX_GAP_MS);
}

static void
parse_args(int argc, char **argv, struct opts *o)
{
    enum {
        OPT_VMS = 256,
        OPT_REQUESTS,
        OPT_DURATION,
        OPT_SEED,
        OPT_TIMEOUT,
        OPT_THINK,
        OPT_GAP,
        OPT_KEEP,
        OPT_VERBOSE,
        OPT_HELP,
    };
    static const struct option longopts[] = {
        {"vms", required_argument, NULL, OPT_VMS},
        {"requests-per-vm", required_argument, NULL, OPT_REQUESTS},
        {"duration-s", required_argument, NULL, OPT_DURATION},
        {"seed", required_argument, NULL, OPT_SEED},
        {"timeout-ms", required_argument, NULL, OPT_TIMEOUT},
        {"think-ms", required_argument, NULL, OPT_THINK},
        {"fault-gap-ms", required_argument, NULL, OPT_GAP},
        {"keep", no_argument, NULL, OPT_KEEP},
        {"verbose", no_argument, NULL, OPT_VERBOSE},
        {"help", no_argument, NULL, OPT_HELP},
        {NULL, 0, NULL, 0},
    };
    int ch;

    memset(o, 0, sizeof(*o));
    o->vms = DEF_VMS;
    o->requests = DEF_REQUESTS;
    o->duration_s = DEF_DURATION_S;
    o->seed = DEF_SEED;
    o->timeout_ms = DEF_TIMEOUT_MS;
    o->think_ms = DEF_THINK_MS;
    o->gap_min_ms = DEF_GAP_MIN_MS;
    o->gap_max_ms = DEF_GAP_MAX_MS;
    opterr = 0;
    while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (ch) {
        case OPT_VMS:
            o->vms = (unsigned)vgpu_wl_arg_num(bad_arg, "--vms", optarg, 1,
                                               VGPU_SIM_MAX_VMS);
            break;
        case OPT_REQUESTS:
            o->requests = (uint32_t)vgpu_wl_arg_num(
                bad_arg, "--requests-per-vm", optarg, 1, MAX_REQUESTS);
            break;
        case OPT_DURATION:
            o->duration_s = (unsigned)vgpu_wl_arg_num(
                bad_arg, "--duration-s", optarg, 1, MAX_DURATION_S);
            break;
        case OPT_SEED:
            o->seed = vgpu_wl_arg_num(bad_arg, "--seed", optarg, 0, UINT64_MAX);
            break;
        case OPT_TIMEOUT:
            /* 0 would disable the device timeout, and a paused daemon
             * would then hold requests until it resumes: allowed, but the
             * drain must wait for it. */
            o->timeout_ms = (uint32_t)vgpu_wl_arg_num(
                bad_arg, "--timeout-ms", optarg, 1, VGPU_MAX_TIMEOUT_MS);
            break;
        case OPT_THINK:
            o->think_ms = (unsigned)vgpu_wl_arg_num(bad_arg, "--think-ms",
                                                    optarg, 0, MAX_THINK_MS);
            break;
        case OPT_GAP:
            parse_gap(o, optarg);
            break;
        case OPT_KEEP:
            o->keep = 1;
            break;
        case OPT_VERBOSE:
            o->verbose = 1;
            break;
        case OPT_HELP:
            usage(stdout);
            exit(EXIT_PASS);
        default:
            bad_arg("unknown option, or one without its value: %s",
                    argv[optind - 1]);
        }
    }
    if (optind != argc - 1) {
        bad_arg("want exactly one argument, the vgpu-mediator binary");
    }
    o->daemon = argv[optind];
}

/* ---- Requests and their expected results -------------------------------- */

/* The operands of request @seq of @v are a function of (seed, VM, seq). */
static void
rng_for(struct vgpu_wl_rng *r, const struct chaos *ch, const struct cvm *v,
        uint32_t seq)
{
    vgpu_wl_rng_init(r, ch->o.seed ^ ((uint64_t)(seq + 1u) * SEQ_STREAM),
                     v->idx);
    (void)vgpu_wl_rng_next(r);
}

/* A MATMUL_F32 shape that fits one request and one response. */
static void
matmul_shape(struct vgpu_wl_rng *r, uint32_t *m, uint32_t *k, uint32_t *p)
{
    do {
        *m = vgpu_wl_rng_range(r, 1, MATMUL_SIDE_MAX);
        *k = vgpu_wl_rng_range(r, 1, MATMUL_SIDE_MAX);
        *p = vgpu_wl_rng_range(r, 1, MATMUL_SIDE_MAX);
    } while (*m * *k + *k * *p > VGPU_MATMUL_MAX_IN_ELEMS ||
             *m * *p > VGPU_MATMUL_MAX_OUT_ELEMS);
}

/* The requests built to be refused. */
enum invalid_kind {
    INVALID_OP,
    INVALID_COUNT,
    INVALID_NOP,
    INVALID_TOO_LARGE,
    INVALID_KINDS,
};

/* A request the daemon must refuse; sets e->want_code. */
static size_t
build_invalid(struct vgpu_wl_rng *r, uint8_t *buf, struct expect *e)
{
    struct vgpu_op_desc d;
    uint32_t n;
    size_t len;

    switch ((enum invalid_kind)(vgpu_wl_rng_next(r) % INVALID_KINDS)) {
    case INVALID_OP: /* no such operation */
        vgpu_put_le32(buf, BAD_OP);
        vgpu_put_le32(buf + VGPU_ELEM_SIZE, 0);
        len = VGPU_OP_HDR_SIZE;
        break;
    case INVALID_COUNT: /* ADD_I32 whose n does not match its length */
        n = vgpu_wl_rng_range(r, 2, VGPU_ADD_MAX_N);
        vgpu_put_le32(buf, VGPU_OP_ADD_I32);
        vgpu_put_le32(buf + VGPU_ELEM_SIZE, n);
        len = (size_t)vgpu_op_request_len(VGPU_OP_ADD_I32, n - 1u, 0, 0);
        vgpu_wl_fill(r, buf, VGPU_OP_HDR_SIZE, len, 0);
        break;
    case INVALID_NOP: /* NOP with operands */
        vgpu_put_le32(buf, VGPU_OP_NOP);
        vgpu_put_le32(buf + VGPU_ELEM_SIZE, 1);
        len = VGPU_OP_HDR_SIZE + VGPU_ELEM_SIZE;
        vgpu_put_le32(buf + VGPU_OP_HDR_SIZE, (uint32_t)vgpu_wl_rng_next(r));
        break;
    default: /* INVALID_TOO_LARGE: MATMUL_F32 whose result is over 1 KiB */
        vgpu_put_le32(buf, VGPU_OP_MATMUL_F32);
        vgpu_put_le32(buf + VGPU_ELEM_SIZE, MATMUL_SIDE_MAX);
        vgpu_put_le32(buf + VGPU_OP_HDR_SIZE, 1);
        vgpu_put_le32(buf + VGPU_OP_HDR_SIZE + VGPU_ELEM_SIZE,
                      MATMUL_SIDE_MAX + 1u);
        len = (size_t)vgpu_op_request_len(VGPU_OP_MATMUL_F32, MATMUL_SIDE_MAX,
                                          1, MATMUL_SIDE_MAX + 1u);
        vgpu_wl_fill(r, buf, VGPU_MATMUL_HDR_SIZE, len, 1);
        break;
    }
    /* The validator decides which refusal the daemon owes. */
    e->want_code = VGPU_ERR_INVALID_REQUEST;
    if (vgpu_op_validate(buf, len, &d, NULL, 0) == 0 &&
        d.out_len > VGPU_BUF_SIZE) {
        e->want_code = VGPU_ERR_RESPONSE_TOO_LARGE;
    }
    return len;
}

/* Put the tag (@vm_id, @seq) in elements 0 and 1 of a two-operand op:
 * a[i] + b[i] (ADD) or alpha * x[i] + y[i] (SAXPY) equals the tag. */
static void
tag_operands(struct vgpu_wl_rng *r, uint32_t op, uint32_t n, uint8_t *buf,
             uint32_t vm_id, uint32_t seq)
{
    const uint32_t tag[2] = {vm_id, seq};
    size_t a = VGPU_OP_HDR_SIZE;
    size_t b = a + (size_t)n * VGPU_ELEM_SIZE;

    for (unsigned i = 0; i < 2u; i++) {
        size_t off = (size_t)i * VGPU_ELEM_SIZE;
        uint32_t split = vgpu_wl_rng_range(r, 0, ADD_F32_SPLIT);

        switch (op) {
        case VGPU_OP_ADD_I32:
            vgpu_put_le32(buf + a + off, tag[i] - split);
            vgpu_put_le32(buf + b + off, split);
            break;
        case VGPU_OP_ADD_F32:
            /* Integral floats below 2^24: the sum is exact. */
            vgpu_wl_put_f32(buf + a + off, (float)tag[i] - (float)split);
            vgpu_wl_put_f32(buf + b + off, (float)split);
            break;
        default: /* SAXPY_F32: alpha, x[n], y[n]; x[i] = 0, y[i] = tag */
            vgpu_wl_put_f32(buf + a + VGPU_ELEM_SIZE + off, 0.0f);
            vgpu_wl_put_f32(buf + b + VGPU_ELEM_SIZE + off, (float)tag[i]);
            break;
        }
    }
}

/* Build request @seq of @v into v->req and its expectation into @e. */
static void
build_request(struct chaos *ch, struct cvm *v, uint32_t seq, struct expect *e)
{
    /* Percentages of each kind of request. */
    static const struct {
        uint32_t op;
        unsigned pct;
    } mix[] = {
        {VGPU_OP_NOP, 5},         {VGPU_OP_ECHO, 20},
        {VGPU_OP_ADD_I32, 18},    {VGPU_OP_ADD_F32, 14},
        {VGPU_OP_SAXPY_F32, 14},  {VGPU_OP_DOT_F32, 13},
        {VGPU_OP_MATMUL_F32, 14}, {OP_INVALID, 2},
    };
    uint8_t *buf = v->req;
    struct vgpu_wl_rng r;
    uint32_t n = 0, k = 0, p = 0;
    size_t len;
    long out_len;
    unsigned pick;
    char why[LINE_MAX_LEN];

    rng_for(&r, ch, v, seq);
    memset(e, 0, offsetof(struct expect, bytes));
    e->seq = seq;
    pick = (unsigned)(vgpu_wl_rng_next(&r) % PCT_ALL);
    for (size_t i = 0; i < sizeof(mix) / sizeof(mix[0]); i++) {
        if (pick < mix[i].pct) {
            e->op = mix[i].op;
            break;
        }
        pick -= mix[i].pct;
    }
    if (e->op == OP_INVALID) {
        v->req_len = build_invalid(&r, buf, e);
        return;
    }
    switch (e->op) {
    case VGPU_OP_ECHO:
        n = vgpu_wl_rng_range(&r, TAG_SIZE, VGPU_ECHO_MAX_N);
        break;
    case VGPU_OP_ADD_I32:
    case VGPU_OP_ADD_F32:
        n = vgpu_wl_rng_range(&r, 2, VGPU_ADD_MAX_N);
        break;
    case VGPU_OP_SAXPY_F32:
        n = vgpu_wl_rng_range(&r, 2, VGPU_SAXPY_MAX_N);
        break;
    case VGPU_OP_DOT_F32:
        n = vgpu_wl_rng_range(&r, 1, VGPU_DOT_MAX_N);
        break;
    case VGPU_OP_MATMUL_F32:
        matmul_shape(&r, &n, &k, &p);
        break;
    default: /* NOP */
        break;
    }
    len = vgpu_wl_build(&r, e->op, n, k, p, buf);
    if (e->op == VGPU_OP_ECHO) {
        vgpu_put_le32(buf + VGPU_OP_HDR_SIZE, v->vm_id);
        vgpu_put_le32(buf + VGPU_OP_HDR_SIZE + VGPU_ELEM_SIZE, seq);
    } else if (e->op == VGPU_OP_ADD_I32 || e->op == VGPU_OP_ADD_F32 ||
               e->op == VGPU_OP_SAXPY_F32) {
        tag_operands(&r, e->op, n, buf, v->vm_id, seq);
    }
    v->req_len = len;
    out_len = vgpu_wl_expect(ch->cpu, buf, len, e->bytes, sizeof(e->bytes), why,
                             sizeof(why));
    if (out_len < 0) {
        /* A bug here: the request was built to be valid. */
        fprintf(stderr, PROG ": internal error: vm %u seq %u %s: %s\n",
                (unsigned)v->vm_id, (unsigned)seq, op_label(e->op), why);
        abort();
    }
    e->len = (uint32_t)out_len;
    if (e->op == VGPU_OP_DOT_F32) {
        e->mag = vgpu_wl_dot_mag(buf, n, vgpu_wl_get_f32(e->bytes));
    }
}

/* Is @got (@len bytes) the result @e expects? */
static int
expect_matches(const struct expect *e, const uint8_t *got, size_t len)
{
    if (e->op == OP_INVALID) {
        return 0;
    }
    return vgpu_wl_result_matches(e->op, got, len, e->bytes, e->len, e->mag);
}

/* The tag a tagged result carries, as int32 or as floats; 1 if found. */
static int
result_tag(const struct expect *e, const uint8_t *got, size_t len,
           uint32_t *vm_id, uint32_t *seq)
{
    float f0;
    float f1;

    if (len < TAG_SIZE) {
        return 0;
    }
    switch (e->op) {
    case VGPU_OP_ECHO:
    case VGPU_OP_ADD_I32:
        *vm_id = vgpu_get_le32(got);
        *seq = vgpu_get_le32(got + VGPU_ELEM_SIZE);
        return 1;
    case VGPU_OP_ADD_F32:
    case VGPU_OP_SAXPY_F32:
        f0 = vgpu_wl_get_f32(got);
        f1 = vgpu_wl_get_f32(got + VGPU_ELEM_SIZE);
        if (!(f0 >= 0.0f && f0 <= (float)UINT32_MAX && f1 >= 0.0f &&
              f1 <= (float)UINT32_MAX)) {
            return 0;
        }
        *vm_id = (uint32_t)f0;
        *seq = (uint32_t)f1;
        return 1;
    default:
        return 0;
    }
}

static struct cvm *
vm_by_id(struct chaos *ch, uint32_t vm_id)
{
    uint32_t base = ch->vms[0].vm_id;

    if (vm_id < base || vm_id - base >= ch->o.vms) {
        return NULL;
    }
    return &ch->vms[vm_id - base];
}

/* Whose result is @got? Its own was ruled out. */
static enum outcome
classify(struct chaos *ch, struct cvm *v, const struct expect *e,
         const uint8_t *got, size_t len, char *why, size_t why_len)
{
    uint32_t tvm;
    uint32_t tseq;
    struct cvm *tv;

    if (len == 0) {
        snprintf(why, why_len, "an empty response");
        return OUT_WRONG;
    }
    /* An earlier answer of this VM: delivered twice, or late. */
    for (uint32_t back = 1; back < HIST && back <= e->seq; back++) {
        const struct expect *old = &v->hist[(e->seq - back) % HIST];

        if (expect_matches(old, got, len)) {
            snprintf(why, why_len, "the answer to its own seq %u (%s)",
                     (unsigned)old->seq, op_label(old->op));
            return OUT_DUPLICATED;
        }
    }
    /* Another VM's request, in flight or recent. */
    for (unsigned i = 0; i < ch->o.vms; i++) {
        struct cvm *u = &ch->vms[i];

        if (u == v) {
            continue;
        }
        for (uint32_t back = 0; back < HIST && back < u->issued; back++) {
            const struct expect *x = &u->hist[(u->issued - 1u - back) % HIST];

            if (expect_matches(x, got, len)) {
                snprintf(why, why_len, "the answer to vm %u seq %u (%s)",
                         (unsigned)u->vm_id, (unsigned)x->seq, op_label(x->op));
                return OUT_MISROUTED;
            }
        }
    }
    /* Older than the history: the tag still tells. */
    if (result_tag(e, got, len, &tvm, &tseq) &&
        (tv = vm_by_id(ch, tvm)) != NULL) {
        if (tseq < (tv == v ? e->seq : tv->issued)) {
            snprintf(why, why_len, "tagged as vm %u seq %u", (unsigned)tvm,
                     (unsigned)tseq);
            return tv == v ? OUT_DUPLICATED : OUT_MISROUTED;
        }
        if (tv == v && tseq == e->seq) {
            snprintf(why, why_len,
                     "%zu bytes with its own tag: a corrupted result", len);
            return OUT_WRONG;
        }
    }
    snprintf(why, why_len, "%zu bytes that match no request", len);
    return OUT_WRONG;
}

static void __attribute__((format(printf, 3, 4)))
report_failure(struct chaos *ch, const struct cvm *v, const char *fmt, ...)
{
    va_list ap;

    if (ch->reports++ >= REPORTS_MAX) {
        return;
    }
    printf("FAILURE vm=%u: ", (unsigned)v->vm_id);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
}

/* ---- The driver thread -------------------------------------------------- */

static const char *const outcome_names[] = {
    [OUT_DUPLICATED] = "duplicated",
    [OUT_MISROUTED] = "misrouted",
    [OUT_WRONG] = "wrong",
};

/* Open a window now; close it with window_close(). */
static void
window_open(struct windows *w)
{
    unsigned n = atomic_load(&w->count);

    if (n < WINDOWS_MAX) {
        atomic_store(&w->start[n], vgpu_wl_now_ns());
        atomic_store(&w->end[n], UINT64_MAX);
        atomic_store(&w->count, n + 1u);
    }
}

static void
window_close(struct windows *w)
{
    unsigned n = atomic_load(&w->count);

    if (n > 0) {
        atomic_store(&w->end[n - 1u], vgpu_wl_now_ns());
    }
}

/* Does [@from, @to] meet a window extended by @grace_ns at its end? A full
 * record can no longer tell: then yes. */
static int
window_meets(struct windows *w, uint64_t from, uint64_t to, uint64_t grace_ns)
{
    unsigned n = atomic_load(&w->count);

    if (n == WINDOWS_MAX) {
        return 1;
    }
    for (unsigned i = n; i-- > 0;) {
        uint64_t end = atomic_load(&w->end[i]);

        if (end != UINT64_MAX) {
            end += grace_ns;
        }
        if (atomic_load(&w->start[i]) <= to && from <= end) {
            return 1;
        }
    }
    return 0;
}

/* Is @code what a fault, or the request itself, can end @e with? */
static int
code_explained(struct chaos *ch, const struct cvm *v, const struct expect *e,
               uint32_t code, uint64_t now)
{
    uint64_t grace = (uint64_t)RECONNECT_GRACE_MS * NS_PER_MS;
    uint64_t claimed;

    switch (code) {
    case VGPU_ERR_MEDIATOR_UNAVAILABLE:
        /* The daemon was dead (or stopped), or this VM's connection was
         * dropped during the request or just before it (the daemon may not
         * have seen the close when the VM said HELLO again), or a raw
         * peer's dup_hello held the vm_id when it reconnected. */
        claimed = atomic_load(&v->claimed_at);
        return window_meets(&ch->kills, v->t_submit, now, grace) ||
               window_meets(&ch->pauses, v->t_submit, now, grace) ||
               (v->last_drop != 0 && v->last_drop + grace >= v->t_submit) ||
               (claimed != 0 && claimed <= now &&
                claimed + grace + (uint64_t)RAW_WAIT_MS * NS_PER_MS >=
                    v->t_submit);
    case VGPU_ERR_TIMEOUT:
        return window_meets(&ch->pauses, v->t_submit, now, 0);
    default:
        return e->op == OP_INVALID && code == e->want_code;
    }
}

/* Request v->issued - 1 ended: vgpu_wait() returned @rc with @len bytes. */
static void
finish_request(struct chaos *ch, struct cvm *v, int rc, size_t len)
{
    const struct expect *e = &v->hist[(v->issued - 1u) % HIST];
    uint64_t now = vgpu_wl_now_ns();
    char why[LINE_MAX_LEN];
    uint32_t think = ch->o.think_ms;

    v->inflight = 0;
    v->ended++;
    v->next_at =
        now + (uint64_t)vgpu_wl_rng_range(&ch->drng, 0, think) * NS_PER_MS;
    if (rc == 0) {
        if (e->op == OP_INVALID) {
            enum outcome out =
                classify(ch, v, e, v->resp, len, why, sizeof(why));

            v->outcomes[out]++;
            report_failure(ch, v,
                           "seq %u: an invalid request ended DONE "
                           "(%s: %s)",
                           (unsigned)e->seq, outcome_names[out], why);
            return;
        }
        if (expect_matches(e, v->resp, len)) {
            v->done++;
            return;
        }
        enum outcome out = classify(ch, v, e, v->resp, len, why, sizeof(why));

        v->outcomes[out]++;
        report_failure(ch, v, "seq %u %s: %s: %s", (unsigned)e->seq,
                       op_label(e->op), outcome_names[out], why);
        return;
    }
    if (rc == VGPU_E_DEVICE) {
        const struct vgpu_error *err = vgpu_last_error(v->c);
        uint32_t code = err->code;

        if (code >= VGPU_ERR_COUNT || code == VGPU_ERR_NONE) {
            v->broken++;
            report_failure(ch, v, "seq %u: ERROR with code %u",
                           (unsigned)e->seq, (unsigned)code);
            return;
        }
        v->codes[code]++;
        if (code_explained(ch, v, e, code, now)) {
            /* a fault, or the refusal an invalid request is owed */
        } else if (code == VGPU_ERR_TIMEOUT) {
            v->silent++;
            report_failure(ch, v,
                           "seq %u %s: TIMEOUT with the daemon running: "
                           "its answer was lost",
                           (unsigned)e->seq, op_label(e->op));
        } else {
            v->unexplained++;
            report_failure(ch, v, "seq %u %s: unexplained ERROR %s: %s",
                           (unsigned)e->seq, op_label(e->op),
                           vgpu_strerror((int)code), err->message);
        }
        if (code == VGPU_ERR_MEDIATOR_UNAVAILABLE) {
            /* A guest would not hammer a mediator that is not there. */
            v->next_at += (uint64_t)vgpu_wl_rng_range(&ch->drng, BACKOFF_MIN_MS,
                                                      BACKOFF_MAX_MS) *
                          NS_PER_MS;
        }
        return;
    }
    v->broken++;
    report_failure(ch, v, "seq %u: vgpu_wait() returned %d (%s)",
                   (unsigned)e->seq, rc, vgpu_strerror(rc));
}

static void
submit_request(struct chaos *ch, struct cvm *v)
{
    uint32_t seq = v->issued;
    int rc;

    build_request(ch, v, seq, &v->hist[seq % HIST]);
    v->issued++;
    v->t_submit = vgpu_wl_now_ns();
    rc = vgpu_submit(v->c, v->req, v->req_len, NULL);
    if (rc < 0) {
        /* The device is idle, so the library has no reason to refuse. */
        v->broken++;
        v->ended++;
        report_failure(ch, v, "seq %u: vgpu_submit() returned %d (%s)",
                       (unsigned)seq, rc, vgpu_strerror(rc));
        return;
    }
    v->inflight = 1;
}

/* Collect every VM whose request ended; @stalls: honour vm_stall. */
static void
collect(struct chaos *ch, int stalls, uint64_t now)
{
    for (unsigned i = 0; i < ch->o.vms; i++) {
        struct cvm *v = &ch->vms[i];
        size_t len = 0;
        int rc;

        if (!v->inflight || vgpu_dev_busy(v->dev) ||
            (stalls && now < atomic_load(&v->stall_until))) {
            continue;
        }
        rc = vgpu_wait(v->c, 0, v->resp, sizeof(v->resp), &len);
        if (rc == -ETIMEDOUT) {
            continue; /* not reached: the device is not BUSY */
        }
        finish_request(ch, v, rc, len);
    }
}

static void *
driver_main(void *arg)
{
    struct chaos *ch = arg;
    int quota_done = 0;

    for (;;) {
        int phase = atomic_load(&ch->phase);
        int run = phase == PHASE_RUN;
        unsigned stall_ms = atomic_exchange(&ch->all_stall_ms, 0u);
        unsigned inflight = 0;
        unsigned all_issued = 1;
        uint64_t now;
        uint64_t wake;
        int rc;

        if (stall_ms > 0 && run) {
            sleep_ms(stall_ms); /* nobody polls: all_stall */
        }
        now = vgpu_wl_now_ns();
        wake = now + POLL_MAX_MS * NS_PER_MS;
        for (unsigned i = 0; i < ch->o.vms; i++) {
            struct cvm *v = &ch->vms[i];
            uint64_t stall = atomic_load(&v->stall_until);

            if (atomic_exchange(&v->disconnect_req, 0)) {
                vgpu_sim_disconnect(ch->sim, i);
                v->last_drop = now;
            }
            if (v->issued < ch->o.requests) {
                all_issued = 0;
            }
            if (v->inflight) {
                inflight++;
                if (run && now < stall && stall < wake) {
                    wake = stall; /* collect it when the stall ends */
                }
                continue;
            }
            if (!run || v->issued == ch->o.requests) {
                continue;
            }
            if (now < stall || now < v->next_at) {
                uint64_t at = stall > v->next_at ? stall : v->next_at;

                if (at < wake) {
                    wake = at;
                }
                continue;
            }
            submit_request(ch, v);
            inflight += v->inflight;
        }
        if (all_issued && !quota_done) {
            quota_done = 1;
            atomic_store(&ch->quota_done, 1);
        }
        if (!run &&
            (inflight == 0 || now >= atomic_load(&ch->drain_deadline))) {
            break;
        }
        rc = 0;
        if (inflight > 0) {
            uint64_t ms =
                wake > now ? (wake - now + NS_PER_MS - 1u) / NS_PER_MS : 0;

            rc = vgpu_sim_poll(ch->sim, (int)ms);
        }
        if (rc <= 0) {
            /* Nothing completed; nothing may ever (no connection): wait
             * for the next timer rather than spin. */
            sleep_until(wake);
        }
        collect(ch, run, vgpu_wl_now_ns());
    }
    collect(ch, 0, vgpu_wl_now_ns());
    return NULL;
}

/* ---- The daemon --------------------------------------------------------- */

/* Print the last @n lines of @path, indented. */
static void
print_tail(const char *label, const char *path, int n)
{
    char line[LINE_MAX_LEN];
    long total = 0;
    long skip;
    FILE *f = fopen(path, "r");

    if (f == NULL) {
        return;
    }
    while (fgets(line, sizeof(line), f) != NULL) {
        total++;
    }
    rewind(f);
    skip = total > n ? total - n : 0;
    printf("---- %s (last %ld of %ld lines) ----\n", label, total - skip,
           total);
    for (long i = 0; fgets(line, sizeof(line), f) != NULL; i++) {
        if (i >= skip) {
            fputs(line, stdout);
        }
    }
    fclose(f);
}

/* Try one connection to @path. Return 0 when something accepted it. */
static int
try_connect(const char *path, int *fd_out)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

    if (fd < 0) {
        return -errno;
    }
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        int rc = -errno;

        close(fd);
        return rc;
    }
    if (fd_out != NULL) {
        *fd_out = fd;
    } else {
        close(fd);
    }
    return 0;
}

static void
describe_status(int status, char *buf, size_t len)
{
    if (WIFEXITED(status)) {
        snprintf(buf, len, "exit status %d", WEXITSTATUS(status));
    } else if (WIFSIGNALED(status)) {
        snprintf(buf, len, "killed by signal %d (%s)", WTERMSIG(status),
                 strsignal(WTERMSIG(status)));
    } else {
        snprintf(buf, len, "wait status 0x%x", (unsigned)status);
    }
}

/* Start the daemon and wait until its socket answers. Return 0 or -1. */
static int
daemon_start(struct chaos *ch)
{
    char *argv[] = {
        (char *)ch->o.daemon,
        "--socket",
        ch->sock,
        "--log-file",
        ch->log,
        "--log-level",
        "warn",
        "--pool",
        "A=cpu",
        "--pool",
        "B=cpu",
        /* Several executors share pools A and B: the requests of one VM
         * may run on any of them, and answers still go to their VM. */
        "--cpu-workers",
        CHAOS_EXECUTORS,
        NULL,
    };
    uint64_t deadline = vgpu_wl_now_ns() + (uint64_t)READY_MS * NS_PER_MS;
    pid_t pid;

    fflush(stdout);
    pid = fork();
    if (pid < 0) {
        printf(PROG ": fork: %s\n", strerror(errno));
        return -1;
    }
    if (pid == 0) {
        /* Only async-signal-safe calls here. The daemon dies with us. */
        int fd = open(ch->out, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC,
                      S_IRUSR | S_IWUSR);

        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (fd >= 0) {
            dup2(fd, STDOUT_FILENO);
            dup2(fd, STDERR_FILENO);
        }
        execv(ch->o.daemon, argv);
        _exit(127);
    }
    ch->dpid = pid;
    ch->paused = 0;
    for (;;) {
        int status;

        if (waitpid(pid, &status, WNOHANG) == pid) {
            char how[LINE_MAX_LEN];

            describe_status(status, how, sizeof(how));
            printf(PROG ": the daemon exited at start: %s\n", how);
            print_tail("daemon output", ch->out, TAIL_LINES);
            ch->dpid = -1;
            return -1;
        }
        if (try_connect(ch->sock, NULL) == 0) {
            return 0;
        }
        if (vgpu_wl_now_ns() >= deadline) {
            printf(PROG ": no answer on %s %u ms after the daemon started\n",
                   ch->sock, READY_MS);
            return -1;
        }
        sleep_ms(5);
    }
}

/* Did the daemon die without being told to? Then restart it. */
static int
daemon_check(struct chaos *ch)
{
    int status;
    int rc;
    char how[LINE_MAX_LEN];

    if (ch->dpid <= 0 || waitpid(ch->dpid, &status, WNOHANG) != ch->dpid) {
        return 0;
    }
    describe_status(status, how, sizeof(how));
    printf("FAILURE: the daemon died on its own: %s\n", how);
    print_tail("daemon output", ch->out, TAIL_LINES);
    print_tail("daemon log", ch->log, TAIL_LINES);
    ch->crashes++;
    ch->dpid = -1;
    window_open(&ch->kills);
    rc = daemon_start(ch);
    window_close(&ch->kills);
    return rc;
}

static int
daemon_kill(struct chaos *ch, unsigned down_ms)
{
    int status;

    int rc;

    window_open(&ch->kills);
    if (ch->paused) {
        kill(ch->dpid, SIGCONT);
    }
    kill(ch->dpid, SIGKILL);
    if (waitpid(ch->dpid, &status, 0) == ch->dpid &&
        !(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)) {
        char how[LINE_MAX_LEN];

        describe_status(status, how, sizeof(how));
        printf("FAILURE: the daemon had died on its own: %s\n", how);
        ch->crashes++;
    }
    ch->dpid = -1;
    sleep_ms(down_ms);
    rc = daemon_start(ch);
    window_close(&ch->kills);
    return rc;
}

/* ---- The raw peer: malformed frames on its own connection --------------- */

struct raw_answer {
    int ack;         /* HELLO_ACK frames */
    int error;       /* ERROR frames */
    uint32_t status; /* the last ERROR's status */
    int eof;         /* the daemon closed the connection */
    int other;       /* other frames */
};

/* Read what the daemon answers until it closes, or @stop_at_first frames
 * arrive, or RAW_WAIT_MS pass. */
static void
raw_read(int fd, int stop_at_first, struct raw_answer *a)
{
    static uint8_t dec_buf[RAW_DEC_CAP];
    uint64_t deadline = vgpu_wl_now_ns() + (uint64_t)RAW_WAIT_MS * NS_PER_MS;
    struct vgpu_decoder dec;
    uint8_t in[RAW_DEC_CAP];

    vgpu_decoder_init(&dec, dec_buf, sizeof(dec_buf), VGPU_MAX_PAYLOAD);
    for (;;) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        uint64_t now = vgpu_wl_now_ns();
        ssize_t n;
        size_t pos = 0;

        if (now >= deadline) {
            return;
        }
        if (poll(&p, 1, (int)((deadline - now) / NS_PER_MS) + 1) <= 0) {
            continue;
        }
        n = read(fd, in, sizeof(in));
        if (n <= 0) {
            if (n < 0 && errno == EINTR) {
                continue;
            }
            a->eof = 1; /* EOF, or a reset: closed either way */
            return;
        }
        while (pos < (size_t)n) {
            struct vgpu_frame f;
            size_t used = 0;
            int rc =
                vgpu_decoder_feed(&dec, in + pos, (size_t)n - pos, &used, &f);

            pos += used;
            if (rc < 0) {
                a->other++; /* garbage from the daemon */
                return;
            }
            if (rc == 0) {
                break;
            }
            if (f.hdr.type == VGPU_MSG_HELLO_ACK) {
                a->ack++;
            } else if (f.hdr.type == VGPU_MSG_ERROR) {
                a->error++;
                a->status = f.hdr.status;
            } else {
                a->other++;
            }
            if (stop_at_first) {
                return;
            }
        }
    }
}

/* A frame header (and payload) of @type into @buf; return its length. */
static size_t
raw_frame(uint8_t *buf, uint16_t type, uint32_t vm_id, const uint8_t *payload,
          size_t len)
{
    struct vgpu_hdr h;

    vgpu_hdr_init(&h, type);
    h.vm_id = vm_id;
    h.pool_id = VGPU_DEFAULT_POOL;
    h.priority = VGPU_DEFAULT_PRIORITY;
    return (size_t)vgpu_frame_encode(&h, payload, len, buf,
                                     VGPU_HDR_SIZE + len);
}

static size_t
raw_hello(uint8_t *buf, uint32_t vm_id)
{
    uint8_t hello[VGPU_HELLO_PAYLOAD_SIZE];

    vgpu_hello_pack(hello, VGPU_PROTOCOL_VERSION, VGPU_CAPABILITIES);
    return raw_frame(buf, VGPU_MSG_HELLO, vm_id, hello, sizeof(hello));
}

static void
raw_send(int fd, const uint8_t *buf, size_t len)
{
    size_t off = 0;

    while (off < len) {
        ssize_t n = send(fd, buf + off, len - off, MSG_NOSIGNAL);

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return; /* the daemon may close before reading it all */
        }
        off += (size_t)n;
    }
}

static void
raw_fault(struct chaos *ch, enum fault kind)
{
    uint8_t buf[VGPU_HDR_SIZE + RAW_GARBAGE_MAX];
    uint8_t nop[VGPU_OP_HDR_SIZE] = {0};
    uint32_t raw_id = ch->vms[0].vm_id + ch->o.vms + RAW_ID_GAP;
    struct raw_answer a = {0};
    struct cvm *dup_victim = NULL;
    struct vgpu_hdr h;
    size_t len = 0;
    int fd;

    if (try_connect(ch->sock, &fd) < 0) {
        ch->raw_skipped++;
        return;
    }
    switch (kind) {
    case FAULT_BAD_MAGIC:
        len = raw_hello(buf, raw_id);
        vgpu_put_le32(buf + VGPU_HDR_OFF_MAGIC,
                      (uint32_t)vgpu_wl_rng_next(&ch->frng));
        if (vgpu_get_le32(buf) == VGPU_PROTO_MAGIC) {
            buf[0] ^= 0xFFu;
        }
        break;
    case FAULT_BAD_VERSION:
        len = raw_hello(buf, raw_id);
        vgpu_put_le16(buf + VGPU_HDR_OFF_VERSION, RAW_BAD_BYTE);
        break;
    case FAULT_BAD_TYPE:
        len = raw_hello(buf, raw_id);
        vgpu_put_le16(buf + VGPU_HDR_OFF_TYPE, RAW_BAD_BYTE);
        break;
    case FAULT_OVERSIZE:
        /* HELLO, then a REQUEST whose payload_len is over the daemon's
         * limit or over the protocol's; only the header is sent. */
        len = raw_hello(buf, raw_id);
        vgpu_hdr_init(&h, VGPU_MSG_REQUEST);
        h.vm_id = raw_id;
        h.pool_id = VGPU_DEFAULT_POOL;
        h.priority = VGPU_DEFAULT_PRIORITY;
        h.payload_len = (vgpu_wl_rng_next(&ch->frng) & 1u)
                            ? RAW_TOO_BIG
                            : VGPU_MAX_PAYLOAD + 1u;
        vgpu_hdr_pack(&h, buf + len);
        len += VGPU_HDR_SIZE;
        break;
    case FAULT_GARBAGE:
        len = vgpu_wl_rng_range(&ch->frng, VGPU_HDR_SIZE, RAW_GARBAGE_MAX);
        for (size_t i = 0; i < len; i++) {
            buf[i] = (uint8_t)vgpu_wl_rng_next(&ch->frng);
        }
        if (buf[0] == (uint8_t)VGPU_PROTO_MAGIC) {
            buf[0] ^= 0xFFu;
        }
        break;
    case FAULT_BEFORE_HELLO: {
        /* A well-formed NOP in a real VM's name, before any HELLO. */
        uint32_t victim =
            ch->vms[vgpu_wl_rng_next(&ch->frng) % ch->o.vms].vm_id;

        vgpu_put_le32(nop, VGPU_OP_NOP);
        len = raw_frame(buf, VGPU_MSG_REQUEST, victim, nop, sizeof(nop));
        break;
    }
    case FAULT_HALF_FRAME:
        len = raw_hello(buf, raw_id);
        len = vgpu_wl_rng_range(&ch->frng, 1, VGPU_HDR_SIZE - 1u);
        break;
    default: /* FAULT_DUP_HELLO: a real VM's vm_id */
        dup_victim = &ch->vms[vgpu_wl_rng_next(&ch->frng) % ch->o.vms];
        /* If that VM is between connections, this one gets its vm_id
         * and the VM's reconnect may be refused meanwhile. */
        atomic_store(&dup_victim->claimed_at, vgpu_wl_now_ns());
        len = raw_hello(buf, dup_victim->vm_id);
        break;
    }
    raw_send(fd, buf, len);
    if (kind == FAULT_HALF_FRAME) {
        sleep_ms(RAW_HALF_MS);
        close(fd);
        return;
    }
    raw_read(fd, kind == FAULT_DUP_HELLO, &a);
    close(fd);
    if (kind == FAULT_DUP_HELLO) {
        if (a.ack == 0) {
            /* Refused: it held nothing, so it explains nothing (a daemon
             * that dropped the VM's own connection instead is caught). */
            atomic_store(&dup_victim->claimed_at, 0);
        }
        if (a.ack == 1 && a.error == 0) {
            ch->dup_hello_acked++; /* that VM was between connections */
            return;
        }
        if (a.error == 1 && a.status == VGPU_ERR_REJECTED) {
            ch->raw_refused++;
            return;
        }
    } else if (a.error == 1 && a.status == VGPU_ERR_PROTOCOL_ERROR && a.eof &&
               a.other == 0 && a.ack == (kind == FAULT_OVERSIZE ? 1 : 0)) {
        ch->raw_refused++;
        return;
    }
    ch->raw_unanswered++;
    printf("FAILURE: %s: the daemon answered %d HELLO_ACK, %d ERROR "
           "(status %s), %d other frames, %s\n",
           fault_names[kind], a.ack, a.error,
           a.error ? vgpu_strerror((int)a.status) : "-", a.other,
           a.eof ? "then closed" : "and did not close within 2 s");
}

/* ---- The fault thread (main) -------------------------------------------- */

static enum fault
pick_fault(struct chaos *ch, uint64_t now)
{
    unsigned total = 0;
    unsigned x;
    unsigned k;

    for (k = 0; k < FAULT_COUNT; k++) {
        total += fault_weights[k];
    }
    x = (unsigned)(vgpu_wl_rng_next(&ch->frng) % total);
    for (k = 0; k < FAULT_COUNT; k++) {
        if (x < fault_weights[k]) {
            break;
        }
        x -= fault_weights[k];
    }
    if (k == FAULT_PAUSE &&
        (now - ch->t0 < (uint64_t)PAUSE_AFTER_MS * NS_PER_MS ||
         (ch->last_pause != 0 &&
          now - ch->last_pause < (uint64_t)PAUSE_GAP_MS * NS_PER_MS))) {
        k = FAULT_DISCONNECT;
    }
    return (enum fault)k;
}

static int
inject(struct chaos *ch, enum fault kind)
{
    uint64_t now = vgpu_wl_now_ns();
    unsigned ms;
    unsigned count;

    switch (kind) {
    case FAULT_KILL:
        ms = vgpu_wl_rng_range(&ch->frng, KILL_DOWN_MIN, KILL_DOWN_MAX);
        if (ch->o.verbose) {
            printf("fault: daemon_kill, down %u ms\n", ms);
        }
        ch->faults[kind]++;
        return daemon_kill(ch, ms);
    case FAULT_PAUSE:
        ms = ch->o.timeout_ms +
             vgpu_wl_rng_range(&ch->frng, PAUSE_EXTRA_MIN, PAUSE_EXTRA_MAX);
        if (ch->o.verbose) {
            printf("fault: daemon_pause, %u ms\n", ms);
        }
        ch->faults[kind]++;
        window_open(&ch->pauses);
        kill(ch->dpid, SIGSTOP);
        ch->paused = 1;
        sleep_ms(ms);
        kill(ch->dpid, SIGCONT);
        ch->paused = 0;
        window_close(&ch->pauses);
        ch->last_pause = vgpu_wl_now_ns();
        return 0;
    case FAULT_DISCONNECT:
        count = vgpu_wl_rng_range(&ch->frng, 1, DISCONNECT_MAX);
        for (unsigned i = 0; i < count; i++) {
            struct cvm *v = &ch->vms[vgpu_wl_rng_next(&ch->frng) % ch->o.vms];

            atomic_store(&v->disconnect_req, 1);
            ch->faults[kind]++;
        }
        if (ch->o.verbose) {
            printf("fault: disconnect %u VMs\n", count);
        }
        return 0;
    case FAULT_VM_STALL:
        count = vgpu_wl_rng_range(&ch->frng, 1, VM_STALL_MAX);
        for (unsigned i = 0; i < count; i++) {
            struct cvm *v = &ch->vms[vgpu_wl_rng_next(&ch->frng) % ch->o.vms];

            ms = vgpu_wl_rng_range(&ch->frng, STALL_MIN_MS, STALL_MAX_MS);
            atomic_store(&v->stall_until, now + (uint64_t)ms * NS_PER_MS);
            ch->faults[kind]++;
        }
        if (ch->o.verbose) {
            printf("fault: vm_stall %u VMs\n", count);
        }
        return 0;
    case FAULT_ALL_STALL:
        ms = vgpu_wl_rng_range(&ch->frng, STALL_MIN_MS, ALL_STALL_MAX);
        if (ch->o.verbose) {
            printf("fault: all_stall %u ms\n", ms);
        }
        atomic_store(&ch->all_stall_ms, ms);
        ch->faults[kind]++;
        return 0;
    default:
        if (ch->o.verbose) {
            printf("fault: %s\n", fault_names[kind]);
        }
        ch->faults[kind]++;
        raw_fault(ch, kind);
        return 0;
    }
}

/* Inject faults until every VM has issued its requests or the cap. */
static int
run_faults(struct chaos *ch)
{
    uint64_t cap = ch->t0 + (uint64_t)ch->o.duration_s * NS_PER_S;
    uint64_t next =
        ch->t0 + (uint64_t)vgpu_wl_rng_range(&ch->frng, ch->o.gap_min_ms,
                                             ch->o.gap_max_ms) *
                     NS_PER_MS;

    for (;;) {
        uint64_t now = vgpu_wl_now_ns();

        if (atomic_load(&ch->quota_done)) {
            return 0;
        }
        if (now >= cap) {
            ch->capped = 1;
            return 0;
        }
        if (daemon_check(ch) < 0) {
            return -1;
        }
        if (now < next) {
            sleep_until(next < now + 10u * NS_PER_MS ? next
                                                     : now + 10u * NS_PER_MS);
            continue;
        }
        if (inject(ch, pick_fault(ch, now)) < 0) {
            return -1;
        }
        next = vgpu_wl_now_ns() +
               (uint64_t)vgpu_wl_rng_range(&ch->frng, ch->o.gap_min_ms,
                                           ch->o.gap_max_ms) *
                   NS_PER_MS;
    }
}

/* ---- The daemon's own counters ------------------------------------------ */

/* Ask the control socket for "stats"; check that no VM got more responses
 * than it sent requests. Return 0 when the daemon answered. */
static int
daemon_stats(struct chaos *ch)
{
    struct vgpu_ctl_vm *vms = NULL;
    char *text = NULL;
    size_t n = 0;
    size_t total = 0;

    if (vgpu_ctl_query(ch->ctl, VGPU_CTL_STATS, CTL_WAIT_MS,
                       VGPU_CTL_ANSWER_MAX, &text) < 0 ||
        vgpu_ctl_parse_stats(text, &vms, &n, &total) < 0) {
        free(text);
        return -1;
    }
    ch->daemon_vms = (int)total;
    for (size_t i = 0; i < n; i++) {
        unsigned both = VGPU_CTL_HAVE_REQUESTS | VGPU_CTL_HAVE_RESPONSES;

        if ((vms[i].have & both) == both &&
            vms[i].responses > vms[i].requests) {
            ch->daemon_dup += vms[i].responses - vms[i].requests;
        }
    }
    free(vms);
    free(text);
    return 0;
}

/* SIGTERM, and at most TERM_WAIT_MS for the exit. */
static void
daemon_stop(struct chaos *ch)
{
    uint64_t deadline = vgpu_wl_now_ns() + (uint64_t)TERM_WAIT_MS * NS_PER_MS;
    int status;

    ch->term_status = -1;
    if (ch->dpid <= 0) {
        return;
    }
    kill(ch->dpid, SIGCONT);
    kill(ch->dpid, SIGTERM);
    for (;;) {
        if (waitpid(ch->dpid, &status, WNOHANG) == ch->dpid) {
            ch->term_status = status;
            ch->dpid = -1;
            return;
        }
        if (vgpu_wl_now_ns() >= deadline) {
            kill(ch->dpid, SIGKILL);
            waitpid(ch->dpid, &status, 0);
            ch->dpid = -1;
            return;
        }
        sleep_ms(5);
    }
}

/* ---- Setup, report, main ------------------------------------------------ */

static int
setup(struct chaos *ch)
{
    struct vgpu_sim_vm *ids = calloc(ch->o.vms, sizeof(*ids));
    struct vgpu_sim_config cfg = {
        .mode = VGPU_SIM_SOCKET,
        .n_vms = ch->o.vms,
        .socket_path = ch->sock,
        .timeout_ms = ch->o.timeout_ms,
    };
    char err[LINE_MAX_LEN] = "";
    const char *pools = CHAOS_POOLS;

    ch->vms = calloc(ch->o.vms, sizeof(*ch->vms));
    if (ids == NULL || ch->vms == NULL) {
        printf(PROG ": out of memory\n");
        free(ids);
        return -1;
    }
    for (unsigned i = 0; i < ch->o.vms; i++) {
        ids[i].vm_id = VGPU_VM_ID_MIN + i;
        ids[i].pool = (uint8_t)pools[i % strlen(pools)];
        ids[i].priority = (uint8_t)(i % VGPU_PRIO_COUNT);
    }
    cfg.vms = ids;
    ch->sim = vgpu_sim_create(&cfg, err, sizeof(err));
    free(ids);
    if (ch->sim == NULL) {
        printf(PROG ": simulator: %s\n", err);
        return -1;
    }
    if (vgpu_backend_cpu.open("", &ch->cpu, err, sizeof(err)) < 0) {
        printf(PROG ": cpu backend: %s\n", err);
        return -1;
    }
    for (unsigned i = 0; i < ch->o.vms; i++) {
        struct cvm *v = &ch->vms[i];

        v->idx = i;
        v->vm_id = VGPU_VM_ID_MIN + i;
        v->c = vgpu_sim_client(ch->sim, i);
        v->dev = vgpu_sim_dev(ch->sim, i);
        atomic_init(&v->stall_until, 0);
        atomic_init(&v->disconnect_req, 0);
        atomic_init(&v->claimed_at, 0);
    }
    return 0;
}

/* The totals, the verdict; return the exit status. */
static int
report(struct chaos *ch, uint64_t wall_ns)
{
    uint64_t requests = 0, ended = 0, done = 0, errors = 0, lost = 0;
    uint64_t codes[VGPU_ERR_COUNT] = {0};
    uint64_t outs[OUT_WRONG + 1] = {0};
    uint64_t unexplained = 0, broken = 0, stale = 0, dup_counters = 0;
    uint64_t silent = 0, busy = 0;
    uint64_t faults = 0;
    uint64_t target = (uint64_t)ch->o.vms * ch->o.requests;
    char how[LINE_MAX_LEN] = "not stopped";
    int ok;

    for (unsigned i = 0; i < ch->o.vms; i++) {
        struct cvm *v = &ch->vms[i];
        struct vgpu_dev_stats s;
        uint64_t dev_ends;

        vgpu_dev_get_stats(v->dev, &s);
        dev_ends = s.completions + s.errors;
        requests += v->issued;
        ended += v->ended;
        done += v->done;
        unexplained += v->unexplained;
        silent += v->silent;
        broken += v->broken;
        stale += s.stale_responses;
        for (unsigned k = 0; k < VGPU_ERR_COUNT; k++) {
            codes[k] += v->codes[k];
            errors += v->codes[k];
        }
        for (unsigned k = 0; k <= OUT_WRONG; k++) {
            outs[k] += v->outcomes[k];
        }
        if (v->inflight) {
            busy++;
            report_failure(ch, v, "seq %u lost: still BUSY after the drain",
                           (unsigned)(v->issued - 1u));
        }
        /* A device ends each doorbell once; a late answer can only follow
         * a TIMEOUT. */
        if (s.doorbells != v->issued || dev_ends != v->ended) {
            dup_counters += dev_ends > v->ended ? dev_ends - v->ended : 1u;
            report_failure(ch, v,
                           "device counted %llu doorbells, %llu ends; "
                           "the driver %u requests, %u ended",
                           (unsigned long long)s.doorbells,
                           (unsigned long long)dev_ends, (unsigned)v->issued,
                           (unsigned)v->ended);
        }
        if (s.stale_responses > v->codes[VGPU_ERR_TIMEOUT]) {
            dup_counters += s.stale_responses - v->codes[VGPU_ERR_TIMEOUT];
            report_failure(ch, v,
                           "%llu stale responses after %llu TIMEOUTs: "
                           "answered twice",
                           (unsigned long long)s.stale_responses,
                           (unsigned long long)v->codes[VGPU_ERR_TIMEOUT]);
        }
    }
    lost = busy + silent;
    for (unsigned k = 0; k < FAULT_COUNT; k++) {
        faults += ch->faults[k];
    }
    if (ch->term_status != -1) {
        describe_status(ch->term_status, how, sizeof(how));
    }
    printf("vgpu-chaos: %u VMs x %u requests, seed %llu, device timeout "
           "%u ms, think 0..%u ms, %.1f s\n",
           ch->o.vms, (unsigned)ch->o.requests, (unsigned long long)ch->o.seed,
           (unsigned)ch->o.timeout_ms, ch->o.think_ms,
           (double)wall_ns / (double)NS_PER_S);
    printf("  %-18s %llu (target %llu%s)\n", "requests",
           (unsigned long long)requests, (unsigned long long)target,
           ch->capped ? ", duration cap hit" : "");
    printf("  %-18s %llu (verified)\n", "done", (unsigned long long)done);
    printf("  %-18s %llu", "error", (unsigned long long)errors);
    for (unsigned k = 0; k < VGPU_ERR_COUNT; k++) {
        if (codes[k] > 0) {
            printf(" %s:%llu", vgpu_strerror((int)k),
                   (unsigned long long)codes[k]);
        }
    }
    printf("\n  %-18s %llu", "faults", (unsigned long long)faults);
    for (unsigned k = 0; k < FAULT_COUNT; k++) {
        printf(" %s:%llu", fault_names[k], (unsigned long long)ch->faults[k]);
    }
    printf("\n  %-18s refused %llu, unanswered %llu, daemon down %llu, "
           "dup_hello accepted %llu\n",
           "malformed frames", (unsigned long long)ch->raw_refused,
           (unsigned long long)ch->raw_unanswered,
           (unsigned long long)ch->raw_skipped,
           (unsigned long long)ch->dup_hello_acked);
    printf("  %-18s %llu (late answers dropped; TIMEOUTs %llu)\n",
           "stale responses", (unsigned long long)stale,
           (unsigned long long)codes[VGPU_ERR_TIMEOUT]);
    printf("  %-18s %llu (BUSY after the drain %llu, TIMEOUT with the daemon "
           "running %llu)\n",
           "lost", (unsigned long long)lost, (unsigned long long)busy,
           (unsigned long long)silent);
    printf("  %-18s %llu (results %llu, device counters %llu, daemon "
           "counters %llu)\n",
           "duplicated",
           (unsigned long long)(outs[OUT_DUPLICATED] + dup_counters +
                                ch->daemon_dup),
           (unsigned long long)outs[OUT_DUPLICATED],
           (unsigned long long)dup_counters,
           (unsigned long long)ch->daemon_dup);
    printf("  %-18s %llu\n", "misrouted",
           (unsigned long long)outs[OUT_MISROUTED]);
    printf("  %-18s %llu (plus %llu unexplained error codes, %llu library "
           "failures)\n",
           "wrong", (unsigned long long)outs[OUT_WRONG],
           (unsigned long long)unexplained, (unsigned long long)broken);
    printf("  %-18s crashed %llu times; %d VMs in its last stats; final "
           "SIGTERM: %s\n",
           "daemon", (unsigned long long)ch->crashes, ch->daemon_vms, how);
    ok = lost == 0 && outs[OUT_DUPLICATED] == 0 && dup_counters == 0 &&
         ch->daemon_dup == 0 && outs[OUT_MISROUTED] == 0 &&
         outs[OUT_WRONG] == 0 && unexplained == 0 && broken == 0 &&
         ch->crashes == 0 && ch->raw_unanswered == 0 && !ch->capped &&
         requests >= target && ended + busy == requests &&
         ch->daemon_vms >= 0 && ch->term_status != -1 &&
         WIFEXITED(ch->term_status) && WEXITSTATUS(ch->term_status) == 0;
    printf("%s\n", ok ? "PASS" : "FAIL");
    return ok ? EXIT_PASS : EXIT_FAIL;
}

static void
cleanup_dir(struct chaos *ch)
{
    const char *files[] = {ch->sock, ch->ctl, ch->log, ch->out, ch->simlog};

    if (ch->dir[0] == '\0') {
        return;
    }
    if (ch->o.keep) {
        printf("kept %s\n", ch->dir);
        return;
    }
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        unlink(files[i]);
    }
    if (rmdir(ch->dir) < 0) {
        printf(PROG ": cannot remove %s: %s\n", ch->dir, strerror(errno));
    }
}

/* @a then @b into @buf. Return 0, or -1 when it does not fit. */
static int
path_join(char *buf, size_t size, const char *a, const char *b)
{
    int n = snprintf(buf, size, "%s%s", a, b);

    return n < 0 || (size_t)n >= size ? -1 : 0;
}

static int
make_dir(struct chaos *ch)
{
    const char *tmp = getenv("TMPDIR");

    snprintf(ch->dir, sizeof(ch->dir), "%s/vgpu-chaos.XXXXXX",
             tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp");
    if (mkdtemp(ch->dir) == NULL) {
        printf(PROG ": mkdtemp %s: %s\n", ch->dir, strerror(errno));
        ch->dir[0] = '\0';
        return -1;
    }
    if (path_join(ch->sock, sizeof(ch->sock), ch->dir, "/mediator.sock") < 0 ||
        path_join(ch->ctl, sizeof(ch->ctl), ch->sock, VGPU_CTL_SUFFIX) < 0 ||
        path_join(ch->log, sizeof(ch->log), ch->dir, "/mediator.log") < 0 ||
        path_join(ch->out, sizeof(ch->out), ch->dir, "/daemon.out") < 0 ||
        path_join(ch->simlog, sizeof(ch->simlog), ch->dir, "/sim.log") < 0) {
        printf(PROG ": %s is too long a directory for a socket\n", ch->dir);
        return -1;
    }
    /* The simulator's warnings (every dropped connection) go to a file. */
    if (getenv("VGPU_SIM_LOG") == NULL) {
        setenv("VGPU_SIM_LOG", ch->simlog, 1);
        if (getenv("VGPU_SIM_LOG_LEVEL") == NULL) {
            setenv("VGPU_SIM_LOG_LEVEL", "warn", 1);
        }
    }
    return 0;
}

int
main(int argc, char **argv)
{
    static struct chaos chaos;
    struct chaos *ch = &chaos;
    pthread_t driver;
    int started = 0;
    int status = EXIT_FAIL;
    uint64_t t_end;

    parse_args(argc, argv, &ch->o);
    if (access(ch->o.daemon, X_OK) != 0) {
        printf("SKIP: %s is not an executable: %s\n", ch->o.daemon,
               strerror(errno));
        return EXIT_SKIP;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    signal(SIGPIPE, SIG_IGN);
    ch->dpid = -1;
    ch->frng.s = ch->o.seed ^ 0xA0761D6478BD642Full;
    ch->drng.s = ch->o.seed ^ 0xE7037ED1A0B428DBull;
    atomic_init(&ch->phase, PHASE_RUN);
    atomic_init(&ch->quota_done, 0);
    atomic_init(&ch->all_stall_ms, 0u);
    atomic_init(&ch->drain_deadline, 0);
    if (make_dir(ch) < 0 || daemon_start(ch) < 0 || setup(ch) < 0) {
        goto out;
    }
    ch->t0 = vgpu_wl_now_ns();
    if (pthread_create(&driver, NULL, driver_main, ch) != 0) {
        printf(PROG ": cannot start the driver thread\n");
        goto out;
    }
    started = 1;
    if (run_faults(ch) < 0) {
        printf(PROG ": the daemon could not be restarted\n");
    }
    /* Restore the daemon, then let every request in flight end. */
    if (ch->dpid > 0 && ch->paused) {
        kill(ch->dpid, SIGCONT);
        ch->paused = 0;
    }
    if (ch->dpid > 0) {
        daemon_check(ch); /* restarts it if it died */
    }
    if (ch->dpid <= 0 && daemon_start(ch) < 0) {
        printf(PROG ": the daemon could not be restarted for the drain\n");
    }
    atomic_store(&ch->drain_deadline,
                 vgpu_wl_now_ns() +
                     (uint64_t)(ch->o.timeout_ms + DRAIN_SLACK_MS) * NS_PER_MS);
    atomic_store(&ch->phase, PHASE_DRAIN);
    pthread_join(driver, NULL);
    started = 0;
    t_end = vgpu_wl_now_ns();
    if (ch->dpid > 0 && daemon_stats(ch) < 0) {
        printf("FAILURE: the daemon's control socket did not answer\n");
        ch->daemon_vms = -1;
    }
    daemon_stop(ch);
    status = report(ch, t_end - ch->t0);
    if (status != EXIT_PASS) {
        print_tail("daemon output", ch->out, TAIL_LINES);
        print_tail("daemon log", ch->log, TAIL_LINES);
        print_tail("simulator log", ch->simlog, TAIL_LINES);
    }
out:
    if (started) {
        atomic_store(&ch->drain_deadline, vgpu_wl_now_ns());
        atomic_store(&ch->phase, PHASE_DRAIN);
        pthread_join(driver, NULL);
    }
    if (ch->dpid > 0) {
        kill(ch->dpid, SIGKILL);
        waitpid(ch->dpid, NULL, 0);
    }
    vgpu_sim_destroy(ch->sim);
    vgpu_backend_cpu.close(ch->cpu);
    free(ch->vms);
    cleanup_dir(ch);
    return status;
}
