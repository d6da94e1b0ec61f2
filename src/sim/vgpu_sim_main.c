/*
 * vgpu-sim: N simulated VMs send verified requests through libvgpu-guest,
 * the device model and a mediator (in-process, or a real daemon's socket),
 * and report what they measured.
 *
 * Every response is checked against the CPU backend run locally on the
 * same request bytes (vgpu_op_validate() + exec): bit for bit, except
 * DOT_F32, which may differ by 1e-5 of the sum of |x*y| (SPEC.md section 8
 * allows 1e-5 relative; the sum of magnitudes keeps a cancelling sum from
 * failing a backend that adds in another order). A wrong result counts as
 * a mismatch; a request that ends in ERROR counts as an error, by name.
 *
 * In the deterministic and socket modes one thread drives every VM: it
 * rings the doorbell of each idle VM, then pumps the simulator and collects
 * what completed, so the mediator sees all the VMs' requests at once. In
 * the threaded mode each VM has its own thread calling vgpu_call().
 *
 * Exit: 0 when every request succeeded and matched (with --allow-errors,
 * when nothing mismatched), 1 otherwise, 2 for bad arguments.
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "sched.h" /* the policy names of the in-process core */
#include "vgpu/backend.h"
#include "vgpu/ctl.h"
#include "vgpu/guest.h"
#include "vgpu/proto.h"
#include "vgpu/sim.h"
#include "workload.h"

#define PROG "vgpu-sim"

#define DEF_VMS        4u
#define DEF_REQUESTS   1000u
#define DEF_POOLS      "AB"
#define DEF_PRIORITIES "high,medium,low"
#define DEF_SEED       1u
#define DEF_VM_ID_BASE 1u
#define MAX_PRIORITIES 64u
#define NS_PER_US      1000u
#define NS_PER_SEC     1e9
#define PCT_50         50u
#define PCT_99         99u
#define POLL_MS        1000
#define WAIT_SLACK_MS  5000 /* beyond the device timeout, per vgpu_call */
#define CTL_TIMEOUT_MS 2000
#define SIM_WHY_LEN    256

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
    size_t req_len;
    uint8_t req[VGPU_BUF_SIZE];
    uint8_t resp[VGPU_BUF_SIZE];
    uint8_t expect[VGPU_BUF_SIZE];
};

struct run {
    const struct opts *o;
    struct shape shape;
    struct vgpu_sim *sim;
    struct vm_run *vms;
    int call_timeout_ms;
};

static const char *const guest_kind_names[] = {
    [KIND_WAIT_TIMEOUT - VGPU_ERR_COUNT] = "WAIT_TIMEOUT",
    [KIND_CANCELED - VGPU_ERR_COUNT] = "CANCELED",
    [KIND_GUEST_OTHER - VGPU_ERR_COUNT] = "GUEST_ERROR",
};

static const char *
kind_name(unsigned kind)
{
    if (kind < VGPU_ERR_COUNT) {
        return vgpu_strerror((int)kind);
    }
    return guest_kind_names[kind - VGPU_ERR_COUNT];
}

static void
usage(FILE *f)
{
    fprintf(
        f,
        "usage: " PROG " [options]\n"
        "Drive N simulated VMs (device model + libvgpu-guest) with verified\n"
        "requests and print per-VM and summary figures.\n"
        "\n"
        "  --vms N            VMs (default %u, at most %u)\n"
        "  --pools LETTERS    pools assigned round robin (default %s)\n"
        "  --priorities LIST  high,medium,low (or h,m,l) assigned round robin\n"
        "                     (default %s)\n"
        "  --requests N       requests per VM (default %u)\n"
        "  --op OP            nop|echo|add_i32|add_f32|saxpy_f32|dot_f32|\n"
        "                     matmul_f32 (default add_i32)\n"
        "  --size N           elements per request (bytes for echo; the side\n"
        "                     m = k = p for matmul_f32, at most %u); default:\n"
        "                     the most one request holds\n"
        "  --seed S           seed of the random operands (default %u)\n"
        "  --socket PATH      socket mode: a vgpu-mediator daemon at PATH\n"
        "  --threads          threaded mode: one thread per VM\n"
        "                     (default: deterministic, one thread, "
        "in-process)\n"
        "  --backend B        in-process modes: cpu|cuda (default cpu)\n"
        "  --policy P         in-process modes: priority|weighted\n"
        "  --max-wait-ms N    in-process modes: aging bound of the priority\n"
        "                     policy\n"
        "  --timeout-ms N     the device timeout (default %u; 0: none)\n"
        "  --vm-id-base N     vm_id of the first VM (default %u)\n"
        "  --json             print the summary as one JSON object\n"
        "  --allow-errors     exit 0 despite errors (never despite "
        "mismatches)\n"
        "  --help\n"
        "\n"
        "Environment: VGPU_SIM_LOG=FILE and VGPU_SIM_LOG_LEVEL=error|warn|"
        "info|debug\n"
        "set the simulator's log (default: warnings to stderr).\n"
        "Exit: 0 all requests verified, 1 errors or mismatches, 2 bad "
        "arguments.\n",
        DEF_VMS, VGPU_SIM_MAX_VMS, DEF_POOLS, DEF_PRIORITIES, DEF_REQUESTS,
        vgpu_wl_max_n(VGPU_OP_MATMUL_F32), DEF_SEED, VGPU_DEFAULT_TIMEOUT_MS,
        DEF_VM_ID_BASE);
}

static void __attribute__((format(printf, 1, 2), noreturn))
bad_arg(const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, PROG ": ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n");
    usage(stderr);
    exit(2);
}

/* A decimal number in @min..@max, or exit 2 naming @flag. */
static uint64_t
parse_num(const char *flag, const char *s, uint64_t min, uint64_t max)
{
    char why[SIM_WHY_LEN];
    uint64_t v = 0;

    if (vgpu_wl_parse_num(flag, s, min, max, &v, why, sizeof(why)) < 0) {
        bad_arg("%s", why);
    }
    return v;
}

static void
parse_pools(struct opts *o, const char *s)
{
    size_t len = strlen(s);

    if (len == 0 || len > VGPU_POOL_COUNT) {
        bad_arg("--pools: '%s': want 1..%u letters A-Z", s, VGPU_POOL_COUNT);
    }
    for (size_t i = 0; i < len; i++) {
        if (!vgpu_pool_valid((unsigned char)s[i])) {
            bad_arg("--pools: '%c' in '%s' is not a letter A-Z", s[i], s);
        }
    }
    memcpy(o->pools, s, len + 1u);
}

static void
parse_priorities(struct opts *o, const char *s)
{
    char *copy = strdup(s);
    char *save = NULL;

    if (copy == NULL) {
        bad_arg("out of memory");
    }
    o->n_prios = 0;
    for (char *tok = strtok_r(copy, ",", &save); tok != NULL;
         tok = strtok_r(NULL, ",", &save)) {
        if (o->n_prios == MAX_PRIORITIES) {
            bad_arg("--priorities: more than %u entries", MAX_PRIORITIES);
        }
        if (vgpu_prio_parse(tok, strlen(tok), VGPU_PARSE_INITIALS,
                            &o->prios[o->n_prios]) < 0) {
            bad_arg("--priorities: '%s' is not one of high, medium, low "
                    "(or h, m, l)",
                    tok);
        }
        o->n_prios++;
    }
    free(copy);
    if (o->n_prios == 0) {
        bad_arg("--priorities: '%s' names no priority", s);
    }
}

/* The request shape of @o: its op and counts. Exits 2 on a bad --size. */
static struct shape
shape_of(const struct opts *o)
{
    struct shape s = {.op = o->op};
    uint64_t max = vgpu_wl_max_n(o->op);

    if (o->size >= 0 && (uint64_t)o->size > max) {
        bad_arg("--size: %ld is over %llu, the most one %s request holds",
                o->size, (unsigned long long)max, vgpu_op_name(o->op));
    }
    if (o->size == 0 && o->op != VGPU_OP_NOP && o->op != VGPU_OP_ECHO) {
        bad_arg("--size: 0 elements of %s", vgpu_op_name(o->op));
    }
    s.n = (uint32_t)(o->size >= 0 ? (uint64_t)o->size : max);
    if (o->op == VGPU_OP_MATMUL_F32) {
        s.k = s.n;
        s.p = s.n;
    }
    return s;
}

static void
parse_args(int argc, char **argv, struct opts *o)
{
    enum {
        OPT_VMS = 256,
        OPT_POOLS,
        OPT_PRIORITIES,
        OPT_REQUESTS,
        OPT_OP,
        OPT_SIZE,
        OPT_BACKEND,
        OPT_SEED,
        OPT_SOCKET,
        OPT_THREADS,
        OPT_JSON,
        OPT_VM_ID_BASE,
        OPT_POLICY,
        OPT_MAX_WAIT,
        OPT_ALLOW_ERRORS,
        OPT_TIMEOUT,
        OPT_HELP,
    };
    static const struct option longopts[] = {
        {"vms", required_argument, NULL, OPT_VMS},
        {"pools", required_argument, NULL, OPT_POOLS},
        {"priorities", required_argument, NULL, OPT_PRIORITIES},
        {"requests", required_argument, NULL, OPT_REQUESTS},
        {"op", required_argument, NULL, OPT_OP},
        {"size", required_argument, NULL, OPT_SIZE},
        {"backend", required_argument, NULL, OPT_BACKEND},
        {"seed", required_argument, NULL, OPT_SEED},
        {"socket", required_argument, NULL, OPT_SOCKET},
        {"threads", no_argument, NULL, OPT_THREADS},
        {"json", no_argument, NULL, OPT_JSON},
        {"vm-id-base", required_argument, NULL, OPT_VM_ID_BASE},
        {"policy", required_argument, NULL, OPT_POLICY},
        {"max-wait-ms", required_argument, NULL, OPT_MAX_WAIT},
        {"allow-errors", no_argument, NULL, OPT_ALLOW_ERRORS},
        {"timeout-ms", required_argument, NULL, OPT_TIMEOUT},
        {"help", no_argument, NULL, OPT_HELP},
        {NULL, 0, NULL, 0},
    };
    char why[SIM_WHY_LEN];
    int ch;

    memset(o, 0, sizeof(*o));
    o->vms = DEF_VMS;
    parse_pools(o, DEF_POOLS);
    parse_priorities(o, DEF_PRIORITIES);
    o->requests = DEF_REQUESTS;
    o->op = VGPU_OP_ADD_I32;
    o->size = -1;
    o->seed = DEF_SEED;
    o->vm_id_base = DEF_VM_ID_BASE;
    o->policy = -1;
    o->max_wait_ms = -1;
    o->timeout_ms = VGPU_DEFAULT_TIMEOUT_MS;
    opterr = 0;
    while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (ch) {
        case OPT_VMS:
            o->vms = (unsigned)parse_num("--vms", optarg, 1, VGPU_SIM_MAX_VMS);
            break;
        case OPT_POOLS:
            parse_pools(o, optarg);
            break;
        case OPT_PRIORITIES:
            parse_priorities(o, optarg);
            break;
        case OPT_REQUESTS:
            o->requests = parse_num("--requests", optarg, 1, UINT32_MAX);
            break;
        case OPT_OP:
            if (vgpu_wl_parse_op("--op", optarg, &o->op, why, sizeof(why)) <
                0) {
                bad_arg("%s", why);
            }
            break;
        case OPT_SIZE:
            o->size = (long)parse_num("--size", optarg, 0, VGPU_BUF_SIZE);
            break;
        case OPT_BACKEND:
            if (strcmp(optarg, VGPU_BACKEND_CPU_NAME) != 0 &&
                strcmp(optarg, VGPU_BACKEND_CUDA_NAME) != 0) {
                bad_arg("--backend: '%s' is not one of cpu, cuda", optarg);
            }
            o->backend = optarg;
            break;
        case OPT_SEED:
            o->seed = parse_num("--seed", optarg, 0, UINT64_MAX);
            break;
        case OPT_SOCKET:
            o->socket = optarg;
            break;
        case OPT_THREADS:
            o->threads = 1;
            break;
        case OPT_JSON:
            o->json = 1;
            break;
        case OPT_VM_ID_BASE:
            o->vm_id_base = (uint32_t)parse_num("--vm-id-base", optarg,
                                                VGPU_VM_ID_MIN, UINT32_MAX);
            break;
        case OPT_POLICY:
            if (vgpu_sched_policy_lookup(optarg, &o->policy) < 0) {
                bad_arg("--policy: '%s' is not one of priority, weighted",
                        optarg);
            }
            break;
        case OPT_MAX_WAIT:
            o->max_wait_ms = (long)parse_num("--max-wait-ms", optarg, 0,
                                             VGPU_MAX_TIMEOUT_MS);
            break;
        case OPT_ALLOW_ERRORS:
            o->allow_errors = 1;
            break;
        case OPT_TIMEOUT:
            o->timeout_ms = (uint32_t)parse_num("--timeout-ms", optarg, 0,
                                                VGPU_MAX_TIMEOUT_MS);
            break;
        case OPT_HELP:
            usage(stdout);
            exit(0);
        default:
            if (optopt != 0) {
                bad_arg("option %s needs a value or is unknown",
                        argv[optind - 1]);
            }
            bad_arg("unknown option %s", argv[optind - 1]);
        }
    }
    if (optind < argc) {
        bad_arg("unexpected argument '%s'", argv[optind]);
    }
    if ((uint64_t)o->vm_id_base + o->vms - 1u > UINT32_MAX) {
        bad_arg("--vm-id-base: %u + %u VMs is past vm_id %u",
                (unsigned)o->vm_id_base, o->vms, UINT32_MAX);
    }
    if (o->socket != NULL && o->threads) {
        bad_arg("--socket and --threads are two different modes");
    }
    if (o->socket != NULL &&
        (o->backend != NULL || o->policy >= 0 || o->max_wait_ms >= 0)) {
        bad_arg("--backend, --policy and --max-wait-ms configure the "
                "in-process core; in socket mode the daemon's flags do");
    }
    if (o->backend != NULL && vgpu_backend_find(o->backend) == NULL) {
        fprintf(stderr,
                PROG ": --backend %s: this build has no %s backend (build "
                     "with -DVGPU_WITH_CUDA=ON on a machine with nvcc)\n",
                o->backend, o->backend);
        exit(2);
    }
    (void)shape_of(o); /* checks --size */
}

/* ---- The expected results ----------------------------------------------- */

/* Does @got (@len bytes) match the expected result of the request? */
static int
matches(struct vm_run *v, const struct shape *s, size_t len)
{
    char why[SIM_WHY_LEN];
    long want = vgpu_wl_expect(v->cpu, v->req, v->req_len, v->expect,
                               sizeof(v->expect), why, sizeof(why));
    double mag = 0.0;

    if (want < 0) {
        /* A bug here: the request was built to be valid. */
        fprintf(stderr, PROG ": internal error: %s\n", why);
        return 0;
    }
    if (s->op == VGPU_OP_DOT_F32) {
        mag = vgpu_wl_dot_mag(v->req, s->n, vgpu_wl_get_f32(v->expect));
    }
    return vgpu_wl_result_matches(s->op, v->resp, len, v->expect, (size_t)want,
                                  mag);
}

/* ---- Driving the VMs ----------------------------------------------------- */

static void
count_error(struct vm_run *v, int rc)
{
    unsigned kind;

    if (rc == VGPU_E_DEVICE) {
        kind = vgpu_last_error(v->c)->code;
        if (kind >= VGPU_ERR_COUNT) {
            kind = KIND_GUEST_OTHER;
        }
    } else if (rc == -ETIMEDOUT) {
        kind = KIND_WAIT_TIMEOUT;
    } else if (rc == -ECANCELED) {
        kind = KIND_CANCELED;
    } else {
        kind = KIND_GUEST_OTHER;
    }
    v->kinds[kind]++;
    v->errors++;
}

/* A request of @v ended with @rc (vgpu_wait()'s) and @len bytes. */
static void
finish_request(struct run *r, struct vm_run *v, int rc, size_t len, uint64_t t1)
{
    v->done++;
    v->lat_ns[v->n_lat++] = t1 - v->t0;
    if (rc != 0) {
        count_error(v, rc);
    } else if (!matches(v, &r->shape, len)) {
        v->mismatches++;
    }
}

/* One thread, every VM: submit on each idle VM, then collect. */
static void
drive_all(struct run *r)
{
    const struct opts *o = r->o;
    uint64_t total = (uint64_t)o->vms * o->requests;
    uint64_t finished = 0;

    while (finished < total) {
        int any_inflight = 0;

        for (unsigned i = 0; i < o->vms; i++) {
            struct vm_run *v = &r->vms[i];
            int rc;

            if (v->inflight || v->issued == o->requests) {
                any_inflight |= v->inflight;
                continue;
            }
            v->req_len = vgpu_wl_build(&v->rng, r->shape.op, r->shape.n,
                                       r->shape.k, r->shape.p, v->req);
            v->issued++;
            v->t0 = vgpu_wl_now_ns();
            rc = vgpu_submit(v->c, v->req, v->req_len, NULL);
            if (rc < 0) {
                finish_request(r, v, rc, 0, vgpu_wl_now_ns());
                finished++;
                continue;
            }
            v->inflight = 1;
            any_inflight = 1;
        }
        if (any_inflight && o->socket != NULL) {
            vgpu_sim_poll(r->sim, POLL_MS);
        }
        for (unsigned i = 0; i < o->vms; i++) {
            struct vm_run *v = &r->vms[i];
            size_t len = 0;
            int rc;

            if (!v->inflight) {
                continue;
            }
            rc = vgpu_wait(v->c, 0, v->resp, sizeof(v->resp), &len);
            if (rc == -ETIMEDOUT) {
                continue; /* still BUSY */
            }
            finish_request(r, v, rc, len, vgpu_wl_now_ns());
            v->inflight = 0;
            finished++;
        }
    }
}

struct thread_arg {
    struct run *r;
    struct vm_run *v;
};

/* Threaded mode: one VM, vgpu_call() after vgpu_call(). */
static void *
drive_one(void *arg)
{
    struct thread_arg *ta = arg;
    struct run *r = ta->r;
    struct vm_run *v = ta->v;

    while (v->issued < r->o->requests) {
        size_t len = 0;
        int rc;

        v->req_len = vgpu_wl_build(&v->rng, r->shape.op, r->shape.n, r->shape.k,
                                   r->shape.p, v->req);
        v->issued++;
        v->t0 = vgpu_wl_now_ns();
        rc = vgpu_call(v->c, v->req, v->req_len, v->resp, sizeof(v->resp), &len,
                       r->call_timeout_ms);
        finish_request(r, v, rc, len, vgpu_wl_now_ns());
    }
    return NULL;
}

static int
drive_threads(struct run *r)
{
    unsigned n = r->o->vms;
    pthread_t *th = calloc(n, sizeof(*th));
    struct thread_arg *ta = calloc(n, sizeof(*ta));
    unsigned started = 0;
    int rc = 0;

    if (th == NULL || ta == NULL) {
        fprintf(stderr, PROG ": out of memory\n");
        rc = -ENOMEM;
        goto out;
    }
    for (; started < n; started++) {
        int e;

        ta[started].r = r;
        ta[started].v = &r->vms[started];
        e = pthread_create(&th[started], NULL, drive_one, &ta[started]);
        if (e != 0) {
            fprintf(stderr, PROG ": cannot start a VM thread: %s\n",
                    strerror(e));
            rc = -e;
            break;
        }
    }
    for (unsigned i = 0; i < started; i++) {
        pthread_join(th[i], NULL);
    }
out:
    free(ta);
    free(th);
    return rc;
}

/* ---- Figures ------------------------------------------------------------- */

/* Executor time by priority, and whether it is known. */
struct share {
    int known;
    double ns[VGPU_PRIO_COUNT];
};

struct share_arg {
    const struct opts *o;
    struct share *sh;
};

static void
share_add(const struct vgpu_vm_stats *s, void *arg)
{
    struct share_arg *sa = arg;

    if (s->vm_id >= sa->o->vm_id_base &&
        s->vm_id - sa->o->vm_id_base < sa->o->vms &&
        s->priority < VGPU_PRIO_COUNT) {
        sa->sh->ns[s->priority] += (double)s->service_total;
    }
}

/* Socket mode: service_total_us by priority from the daemon's stats. */
static void
share_from_daemon(const struct opts *o, struct share *sh)
{
    char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
    struct vgpu_ctl_vm *vms = NULL;
    char *text = NULL;
    size_t n = 0;
    int seen = 0;

    sh->known = 0;
    if ((size_t)snprintf(path, sizeof(path), "%s%s", o->socket,
                         VGPU_CTL_SUFFIX) >= sizeof(path) ||
        vgpu_ctl_query(path, VGPU_CTL_STATS, CTL_TIMEOUT_MS,
                       VGPU_CTL_ANSWER_MAX, &text) < 0 ||
        vgpu_ctl_parse_stats(text, &vms, &n, NULL) < 0) {
        free(text);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        const struct vgpu_ctl_vm *v = &vms[i];

        if (v->vm_id < o->vm_id_base || v->vm_id - o->vm_id_base >= o->vms) {
            continue;
        }
        if (!(v->have & VGPU_CTL_HAVE_SERVICE) ||
            !(v->have & VGPU_CTL_HAVE_PRIORITY)) {
            goto out; /* the daemon does not report it: n/a */
        }
        if (v->priority >= 0) {
            sh->ns[v->priority] += (double)v->service_total_us * NS_PER_US;
        }
        seen++;
    }
    sh->known = seen > 0;
out:
    free(vms);
    free(text);
}

static void
json_str(const char *s)
{
    putchar('"');
    for (; *s != '\0'; s++) {
        unsigned char ch = (unsigned char)*s;

        if (ch == '"' || ch == '\\') {
            printf("\\%c", ch);
        } else if (ch < ' ') {
            printf("\\u%04x", ch);
        } else {
            putchar(ch);
        }
    }
    putchar('"');
}

static const char *
mode_name(const struct opts *o)
{
    return o->socket != NULL ? "socket"
                             : (o->threads ? "threaded" : "deterministic");
}

/* Print everything; return the exit status. */
static int
report(struct run *r, uint64_t wall_ns)
{
    const struct opts *o = r->o;
    uint64_t kinds[KIND_COUNT] = {0};
    uint64_t total = 0, errors = 0, mismatches = 0, n_all = 0;
    struct share sh = {0};
    struct share_arg sa = {.o = o, .sh = &sh};
    uint64_t *all;
    double rate;
    double share_total;
    int first;

    for (unsigned i = 0; i < o->vms; i++) {
        n_all += r->vms[i].n_lat;
    }
    all = malloc((n_all + 1u) * sizeof(*all));
    if (all == NULL) {
        fprintf(stderr, PROG ": out of memory\n");
        return 1;
    }
    n_all = 0;
    if (o->json) {
        printf("{\"mode\":\"%s\",\"op\":\"%s\",\"size\":%u,\"vms\":%u,"
               "\"per_vm\":[",
               mode_name(o), vgpu_op_name(r->shape.op), (unsigned)r->shape.n,
               o->vms);
    }
    for (unsigned i = 0; i < o->vms; i++) {
        struct vm_run *v = &r->vms[i];

        vgpu_wl_sort_u64(v->lat_ns, v->n_lat);
        memcpy(all + n_all, v->lat_ns, v->n_lat * sizeof(*all));
        n_all += v->n_lat;
        total += v->done;
        errors += v->errors;
        mismatches += v->mismatches;
        for (unsigned k = 0; k < KIND_COUNT; k++) {
            kinds[k] += v->kinds[k];
        }
        if (o->json) {
            printf("%s{\"vm\":%u,\"pool\":\"%c\",\"priority\":\"%s\","
                   "\"requests\":%llu,\"errors\":%llu,\"mismatches\":%llu,"
                   "\"p50_us\":%.1f,\"p99_us\":%.1f}",
                   i ? "," : "", (unsigned)v->vm_id, v->pool,
                   vgpu_prio_name(v->prio), (unsigned long long)v->done,
                   (unsigned long long)v->errors,
                   (unsigned long long)v->mismatches,
                   vgpu_wl_pct_us(v->lat_ns, v->n_lat, PCT_50),
                   vgpu_wl_pct_us(v->lat_ns, v->n_lat, PCT_99));
        } else {
            printf("vm=%u pool=%c priority=%s requests=%llu errors=%llu "
                   "mismatches=%llu p50_us=%.1f p99_us=%.1f\n",
                   (unsigned)v->vm_id, v->pool, vgpu_prio_name(v->prio),
                   (unsigned long long)v->done, (unsigned long long)v->errors,
                   (unsigned long long)v->mismatches,
                   vgpu_wl_pct_us(v->lat_ns, v->n_lat, PCT_50),
                   vgpu_wl_pct_us(v->lat_ns, v->n_lat, PCT_99));
        }
    }
    vgpu_wl_sort_u64(all, n_all);
    rate = wall_ns > 0 ? (double)total * NS_PER_SEC / (double)wall_ns : 0.0;
    if (o->socket != NULL) {
        share_from_daemon(o, &sh);
    } else {
        vgpu_sim_stats(r->sim, share_add, &sa);
        sh.known = 1;
    }
    share_total =
        sh.ns[VGPU_PRIO_LOW] + sh.ns[VGPU_PRIO_MEDIUM] + sh.ns[VGPU_PRIO_HIGH];
    if (share_total <= 0.0) {
        sh.known = 0;
    }
    if (o->json) {
        printf("],\"requests\":%llu,\"errors\":%llu,\"errors_by_name\":{",
               (unsigned long long)total, (unsigned long long)errors);
        first = 1;
        for (unsigned k = 0; k < KIND_COUNT; k++) {
            if (kinds[k] > 0) {
                printf("%s", first ? "" : ",");
                json_str(kind_name(k));
                printf(":%llu", (unsigned long long)kinds[k]);
                first = 0;
            }
        }
        printf("},\"mismatches\":%llu,\"requests_per_s\":%.1f,"
               "\"latency_us\":{\"p50\":%.1f,\"p99\":%.1f},"
               "\"executor_share\":",
               (unsigned long long)mismatches, rate,
               vgpu_wl_pct_us(all, n_all, PCT_50),
               vgpu_wl_pct_us(all, n_all, PCT_99));
        if (sh.known) {
            printf("{\"high\":%.4f,\"medium\":%.4f,\"low\":%.4f}",
                   sh.ns[VGPU_PRIO_HIGH] / share_total,
                   sh.ns[VGPU_PRIO_MEDIUM] / share_total,
                   sh.ns[VGPU_PRIO_LOW] / share_total);
        } else {
            printf("null");
        }
        printf("}\n");
    } else {
        printf("summary: mode=%s op=%s size=%u vms=%u\n", mode_name(o),
               vgpu_op_name(r->shape.op), (unsigned)r->shape.n, o->vms);
        printf("  %-22s %llu\n", "total requests", (unsigned long long)total);
        printf("  %-22s %llu", "errors", (unsigned long long)errors);
        for (unsigned k = 0; k < KIND_COUNT; k++) {
            if (kinds[k] > 0) {
                printf(" %s:%llu", kind_name(k), (unsigned long long)kinds[k]);
            }
        }
        printf("\n  %-22s %llu\n", "mismatches",
               (unsigned long long)mismatches);
        printf("  %-22s %.0f\n", "requests/s", rate);
        printf("  %-22s %.1f\n", "latency p50 (us)",
               vgpu_wl_pct_us(all, n_all, PCT_50));
        printf("  %-22s %.1f\n", "latency p99 (us)",
               vgpu_wl_pct_us(all, n_all, PCT_99));
        if (sh.known) {
            printf("  %-22s high %.1f%%  medium %.1f%%  low %.1f%%\n",
                   "executor share",
                   100.0 * sh.ns[VGPU_PRIO_HIGH] / share_total,
                   100.0 * sh.ns[VGPU_PRIO_MEDIUM] / share_total,
                   100.0 * sh.ns[VGPU_PRIO_LOW] / share_total);
        } else {
            printf("  %-22s n/a%s\n", "executor share",
                   o->socket != NULL ? " (the daemon's stats have no "
                                       "service_total_us)"
                                     : "");
        }
    }
    free(all);
    if (mismatches > 0) {
        return 1;
    }
    return errors > 0 && !o->allow_errors ? 1 : 0;
}

/* ---- main ---------------------------------------------------------------- */

static int
setup(struct run *r, struct vgpu_sim_vm *ids, struct vgpu_mediator_config *mc)
{
    const struct opts *o = r->o;
    struct vgpu_sim_config cfg = {
        .n_vms = o->vms,
        .vms = ids,
        .socket_path = o->socket,
        .timeout_ms = o->timeout_ms,
    };
    char err[SIM_WHY_LEN] = "";
    size_t pools = strlen(o->pools);

    cfg.mode = o->socket != NULL
                   ? VGPU_SIM_SOCKET
                   : (o->threads ? VGPU_SIM_THREADED : VGPU_SIM_DETERMINISTIC);
    vgpu_mediator_config_default(mc);
    if (o->backend != NULL) {
        mc->default_backend = o->backend;
    }
    if (o->policy >= 0) {
        mc->policy = o->policy;
    }
    if (o->max_wait_ms >= 0) {
        mc->max_wait_ms = (uint32_t)o->max_wait_ms;
    }
    cfg.mediator = mc;
    for (unsigned i = 0; i < o->vms; i++) {
        ids[i].vm_id = o->vm_id_base + i;
        ids[i].pool = (uint8_t)o->pools[i % pools];
        ids[i].priority = o->prios[i % o->n_prios];
    }
    r->sim = vgpu_sim_create(&cfg, err, sizeof(err));
    if (r->sim == NULL) {
        fprintf(stderr, PROG ": %s\n", err);
        return -1;
    }
    for (unsigned i = 0; i < o->vms; i++) {
        struct vm_run *v = &r->vms[i];

        v->idx = i;
        v->c = vgpu_sim_client(r->sim, i);
        v->vm_id = ids[i].vm_id;
        v->pool = (char)ids[i].pool;
        v->prio = ids[i].priority;
        vgpu_wl_rng_init(&v->rng, o->seed, i);
        v->lat_ns = malloc(o->requests * sizeof(*v->lat_ns));
        if (v->lat_ns == NULL ||
            vgpu_backend_cpu.open("", &v->cpu, err, sizeof(err)) < 0) {
            fprintf(stderr, PROG ": %s\n",
                    v->lat_ns == NULL ? "out of memory" : err);
            return -1;
        }
        vgpu_set_timeout(v->c, r->call_timeout_ms);
    }
    return 0;
}

int
main(int argc, char **argv)
{
    struct vgpu_mediator_config mc;
    struct opts o;
    struct run r = {0};
    struct vgpu_sim_vm *ids;
    uint64_t t0;
    uint64_t wall;
    int status = 1;

    parse_args(argc, argv, &o);
    r.o = &o;
    r.shape = shape_of(&o);
    r.call_timeout_ms = (int)o.timeout_ms + WAIT_SLACK_MS;
    if (o.timeout_ms == 0) {
        r.call_timeout_ms = -1;
    }
    ids = calloc(o.vms, sizeof(*ids));
    r.vms = calloc(o.vms, sizeof(*r.vms));
    if (ids == NULL || r.vms == NULL) {
        fprintf(stderr, PROG ": out of memory\n");
        goto out;
    }
    if (setup(&r, ids, &mc) < 0) {
        goto out;
    }
    t0 = vgpu_wl_now_ns();
    if (o.threads) {
        if (drive_threads(&r) < 0) {
            goto out;
        }
    } else {
        drive_all(&r);
    }
    wall = vgpu_wl_now_ns() - t0;
    status = report(&r, wall);
out:
    vgpu_sim_destroy(r.sim);
    if (r.vms != NULL) {
        for (unsigned i = 0; i < o.vms; i++) {
            vgpu_backend_cpu.close(r.vms[i].cpu);
            free(r.vms[i].lat_ns);
        }
    }
    free(r.vms);
    free(ids);
    return status;
}
