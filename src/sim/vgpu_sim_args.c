/*
 * vgpu-sim's command line: the options, their checks, the usage.
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vgpu/backend.h"
#include "vgpu/mediator.h"
#include "vgpu_sim_cli.h"

#define DEF_VMS        4u
#define DEF_REQUESTS   1000u
#define DEF_POOLS      "AB"
#define DEF_PRIORITIES "high,medium,low"
#define DEF_SEED       1u
#define DEF_VM_ID_BASE 1u

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
        "  --reconnect-ms N   socket mode: give up (exit 1) when the mediator\n"
        "                     answers none of a VM's requests for N ms\n"
        "                     (default %u)\n"
        "  --queue-depth N    send through the queue (SPEC.md section 11): a\n"
        "                     ring of N entries (a power of two, 1..%u) per\n"
        "                     VM, kept full; --size then reaches 1 MiB a\n"
        "                     request (add_f32: 131071)\n"
        "  --mailbox-only     devices as built before the queue: HELLO and\n"
        "                     CAPABILITIES without bit 2 (compatibility\n"
        "                     checks)\n"
        "  --vm-id-base N     vm_id of the first VM (default %u)\n"
        "  --json             print the summary as one JSON object\n"
        "  --allow-errors     exit 0 despite errors (never despite "
        "mismatches)\n"
        "  --quiet            no progress meter (one is drawn on stderr when\n"
        "                     it is a terminal and the run takes over 1 s)\n"
        "  --replay PATH      replay a trace recorded by QEMU's vgpu-stub\n"
        "                     (trace=PATH) on a fresh device model, checking\n"
        "                     every register read and frame; no daemon.\n"
        "                     Exit 0 matched, 1 diverged, 2 bad trace, 3\n"
        "                     stopped at a migration (docs/trace-format.md)\n"
        "  --against-mediator with --replay and --socket PATH: send the\n"
        "                     recorded requests to that daemon instead and\n"
        "                     compare its answers with the recorded ones\n"
        "  --help\n"
        "  --version\n"
        "\n"
        "Environment: VGPU_SIM_LOG=FILE and VGPU_SIM_LOG_LEVEL=error|warn|"
        "info|debug\n"
        "set the simulator's log (default: warnings to stderr).\n"
        "Exit status: 0 all requests verified, 1 errors or mismatches (a\n"
        "runtime failure), 2 bad usage; --replay as above.\n",
        DEF_VMS, VGPU_SIM_MAX_VMS, DEF_POOLS, DEF_PRIORITIES, DEF_REQUESTS,
        vgpu_wl_max_n(VGPU_OP_MATMUL_F32), DEF_SEED, VGPU_DEFAULT_TIMEOUT_MS,
        SIM_DEF_RECONNECT_MS, VGPU_Q_ENTRIES_MAX, DEF_VM_ID_BASE);
}

void
sim_cli_bad_arg(const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, PROG ": ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    /* One line naming the mistake; the whole usage would bury it. */
    fprintf(stderr, "\n" PROG ": see --help\n");
    exit(2);
}

static void
parse_pools(struct opts *o, const char *s)
{
    size_t len = strlen(s);

    if (len == 0 || len > VGPU_POOL_COUNT) {
        sim_cli_bad_arg("--pools: '%s': want 1..%u letters A-Z", s,
                        VGPU_POOL_COUNT);
    }
    for (size_t i = 0; i < len; i++) {
        if (!vgpu_pool_valid((unsigned char)s[i])) {
            sim_cli_bad_arg("--pools: '%c' in '%s' is not a letter A-Z", s[i],
                            s);
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
        sim_cli_bad_arg("out of memory");
    }
    o->n_prios = 0;
    for (char *tok = strtok_r(copy, ",", &save); tok != NULL;
         tok = strtok_r(NULL, ",", &save)) {
        if (o->n_prios == MAX_PRIORITIES) {
            sim_cli_bad_arg("--priorities: more than %u entries",
                            MAX_PRIORITIES);
        }
        if (vgpu_prio_parse(tok, strlen(tok),
                            VGPU_PARSE_PRIORITY | VGPU_PARSE_INITIALS,
                            &o->prios[o->n_prios]) < 0) {
            sim_cli_bad_arg("--priorities: '%s' is not one of %s, or h, m, l",
                            tok, VGPU_PRIO_SPELLINGS);
        }
        o->n_prios++;
    }
    free(copy);
    if (o->n_prios == 0) {
        sim_cli_bad_arg("--priorities: '%s' names no priority", s);
    }
}

void
sim_cli_parse_args(int argc, char **argv, struct opts *o)
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
        OPT_RECONNECT,
        OPT_QUEUE_DEPTH,
        OPT_REPLAY,
        OPT_AGAINST,
        OPT_MAILBOX_ONLY,
        OPT_QUIET,
        OPT_HELP,
        OPT_VERSION,
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
        {"reconnect-ms", required_argument, NULL, OPT_RECONNECT},
        {"queue-depth", required_argument, NULL, OPT_QUEUE_DEPTH},
        {"replay", required_argument, NULL, OPT_REPLAY},
        {"against-mediator", no_argument, NULL, OPT_AGAINST},
        {"mailbox-only", no_argument, NULL, OPT_MAILBOX_ONLY},
        {"quiet", no_argument, NULL, OPT_QUIET},
        {"help", no_argument, NULL, OPT_HELP},
        {"version", no_argument, NULL, OPT_VERSION},
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
    o->reconnect_ms = SIM_DEF_RECONNECT_MS;
    opterr = 0;
    while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (ch) {
        case OPT_VMS:
            o->vms = (unsigned)vgpu_wl_arg_num(sim_cli_bad_arg, "--vms", optarg,
                                               1, VGPU_SIM_MAX_VMS);
            break;
        case OPT_POOLS:
            parse_pools(o, optarg);
            break;
        case OPT_PRIORITIES:
            parse_priorities(o, optarg);
            break;
        case OPT_REQUESTS:
            o->requests = vgpu_wl_arg_num(sim_cli_bad_arg, "--requests", optarg,
                                          1, UINT32_MAX);
            break;
        case OPT_OP:
            if (vgpu_wl_parse_op("--op", optarg, &o->op, why, sizeof(why)) <
                0) {
                sim_cli_bad_arg("%s", why);
            }
            break;
        case OPT_SIZE:
            o->size = (long)vgpu_wl_arg_num(sim_cli_bad_arg, "--size", optarg,
                                            0, VGPU_Q_MAX_XFER);
            break;
        case OPT_BACKEND:
            if (strcmp(optarg, VGPU_BACKEND_CPU_NAME) != 0 &&
                strcmp(optarg, VGPU_BACKEND_CUDA_NAME) != 0) {
                sim_cli_bad_arg("--backend: '%s' is not one of cpu, cuda",
                                optarg);
            }
            o->backend = optarg;
            break;
        case OPT_SEED:
            o->seed = vgpu_wl_arg_num(sim_cli_bad_arg, "--seed", optarg, 0,
                                      UINT64_MAX);
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
        case OPT_QUIET:
            o->quiet = 1;
            break;
        case OPT_VM_ID_BASE:
            if (vgpu_vm_id_parse(optarg, strlen(optarg), &o->vm_id_base) < 0) {
                sim_cli_bad_arg("--vm-id-base: '%s' is not %s", optarg,
                                VGPU_VM_ID_SPELLING);
            }
            break;
        case OPT_POLICY:
            if (vgpu_mediator_policy_lookup(optarg, &o->policy) < 0) {
                sim_cli_bad_arg(
                    "--policy: '%s' is not one of priority, weighted", optarg);
            }
            break;
        case OPT_MAX_WAIT:
            o->max_wait_ms =
                (long)vgpu_wl_arg_num(sim_cli_bad_arg, "--max-wait-ms", optarg,
                                      0, VGPU_MAX_TIMEOUT_MS);
            break;
        case OPT_ALLOW_ERRORS:
            o->allow_errors = 1;
            break;
        case OPT_TIMEOUT:
            o->timeout_ms =
                (uint32_t)vgpu_wl_arg_num(sim_cli_bad_arg, "--timeout-ms",
                                          optarg, 0, VGPU_MAX_TIMEOUT_MS);
            break;
        case OPT_RECONNECT:
            o->reconnect_ms =
                (uint32_t)vgpu_wl_arg_num(sim_cli_bad_arg, "--reconnect-ms",
                                          optarg, 1, SIM_MAX_RECONNECT_MS);
            break;
        case OPT_QUEUE_DEPTH:
            o->queue_depth =
                (uint32_t)vgpu_wl_arg_num(sim_cli_bad_arg, "--queue-depth",
                                          optarg, 1, VGPU_Q_ENTRIES_MAX);
            if (o->queue_depth & (o->queue_depth - 1u)) {
                sim_cli_bad_arg("--queue-depth: %u is not a power of two",
                                o->queue_depth);
            }
            break;
        case OPT_REPLAY:
            o->replay = optarg;
            break;
        case OPT_AGAINST:
            o->against = 1;
            break;
        case OPT_MAILBOX_ONLY:
            o->mailbox_only = 1;
            break;
        case OPT_HELP:
            usage(stdout);
            exit(0);
        case OPT_VERSION:
            printf("vgpu-sim %s\n", VGPU_VERSION_STRING);
            exit(0);
        default:
            if (optopt != 0) {
                sim_cli_bad_arg("option %s needs a value or is unknown",
                                argv[optind - 1]);
            }
            sim_cli_bad_arg("unknown option %s", argv[optind - 1]);
        }
    }
    if (optind < argc) {
        sim_cli_bad_arg("unexpected argument '%s'", argv[optind]);
    }
    if ((uint64_t)o->vm_id_base + o->vms - 1u > UINT32_MAX) {
        sim_cli_bad_arg("--vm-id-base: %u + %u VMs is past vm_id %u",
                        (unsigned)o->vm_id_base, o->vms, UINT32_MAX);
    }
    if (o->mailbox_only && o->queue_depth != 0) {
        sim_cli_bad_arg("--mailbox-only devices have no queue for "
                        "--queue-depth");
    }
    if (o->against && (o->replay == NULL || o->socket == NULL)) {
        sim_cli_bad_arg("--against-mediator needs --replay PATH and --socket "
                        "PATH (the daemon)");
    }
    if (o->replay != NULL) {
        return; /* the other options do not apply */
    }
    if (o->socket != NULL && o->threads) {
        sim_cli_bad_arg("--socket and --threads are two different modes");
    }
    if (o->socket != NULL &&
        (o->backend != NULL || o->policy >= 0 || o->max_wait_ms >= 0)) {
        sim_cli_bad_arg(
            "--backend, --policy and --max-wait-ms configure the "
            "in-process core; in socket mode the daemon's flags do");
    }
    if (o->backend != NULL && vgpu_backend_find(o->backend) == NULL) {
        fprintf(stderr,
                PROG ": --backend %s: this build has no %s backend (build "
                     "with -DVGPU_WITH_CUDA=ON on a machine with nvcc)\n",
                o->backend, o->backend);
        exit(2);
    }
    (void)sim_cli_shape(o); /* checks --size */
}
