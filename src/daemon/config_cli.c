/*
 * The daemon's command line (config.h): getopt_long() over the flags, the
 * actions (--help, --version, --check-config, --stats, --backends), --config
 * read first and each setting flag handed to the setter the INI file uses
 * too (config.c), and the --help text.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_internal.h"
#include "util.h"
#include "vgpu/ctl.h"
#include "vgpu/scheduler.h"

/* getopt_long() values of the options that take no setting. */
enum config_opt {
    OPT_HELP = 'h',
    OPT_KEY_BASE = 256, /* OPT_KEY_BASE + enum config_key */
    OPT_CONFIG = OPT_KEY_BASE + KEY_COUNT,
    OPT_CHECK,
    OPT_STATS,
    OPT_RECONNECT,
    OPT_VERSION,
    OPT_BACKENDS
};

static const struct option config_options[] = {
    {"config", required_argument, NULL, OPT_CONFIG},
    {"socket", required_argument, NULL, OPT_KEY_BASE + KEY_SOCKET},
    {"control", required_argument, NULL, OPT_KEY_BASE + KEY_CONTROL},
    {"policy", required_argument, NULL, OPT_KEY_BASE + KEY_POLICY},
    {"weights", required_argument, NULL, OPT_KEY_BASE + KEY_WEIGHTS},
    {"max-wait-ms", required_argument, NULL, OPT_KEY_BASE + KEY_MAX_WAIT_MS},
    {"vm-queue-cap", required_argument, NULL, OPT_KEY_BASE + KEY_VM_QUEUE_CAP},
    {"queue-inflight", required_argument, NULL,
     OPT_KEY_BASE + KEY_QUEUE_INFLIGHT},
    {"request-memory-mib", required_argument, NULL,
     OPT_KEY_BASE + KEY_REQUEST_MEMORY_MIB},
    {"pool", required_argument, NULL, OPT_KEY_BASE + KEY_POOL},
    {"default-backend", required_argument, NULL,
     OPT_KEY_BASE + KEY_DEFAULT_BACKEND},
    {"output-kib", required_argument, NULL, OPT_KEY_BASE + KEY_OUTPUT_KIB},
    {"hello-timeout-ms", required_argument, NULL,
     OPT_KEY_BASE + KEY_HELLO_TIMEOUT_MS},
    {"max-connections", required_argument, NULL,
     OPT_KEY_BASE + KEY_MAX_CONNECTIONS},
    {"log-level", required_argument, NULL, OPT_KEY_BASE + KEY_LOG_LEVEL},
    {"log-file", required_argument, NULL, OPT_KEY_BASE + KEY_LOG_FILE},
    {"legacy-dir", required_argument, NULL, OPT_KEY_BASE + KEY_LEGACY_DIR},
    {"registry", required_argument, NULL, OPT_KEY_BASE + KEY_REGISTRY},
    {"check-config", required_argument, NULL, OPT_CHECK},
    {"stats", no_argument, NULL, OPT_STATS},
    {"reconnect-ms", required_argument, NULL, OPT_RECONNECT},
    {"cuda-fallback", required_argument, NULL,
     OPT_KEY_BASE + KEY_CUDA_FALLBACK},
    {"cpu-workers", required_argument, NULL, OPT_KEY_BASE + KEY_CPU_WORKERS},
    {"vm-share", required_argument, NULL, OPT_KEY_BASE + KEY_VM_SHARE},
    {"backends", no_argument, NULL, OPT_BACKENDS},
    {"help", no_argument, NULL, OPT_HELP},
    {"version", no_argument, NULL, OPT_VERSION},
    {NULL, 0, NULL, 0},
};

/* ---- The command line --------------------------------------------------- */

struct config_flag {
    int key;
    const char *name;
    const char *value;
};

static const char *
config_option_name(int val)
{
    for (const struct option *o = config_options; o->name != NULL; o++) {
        if (o->val == val) {
            return o->name;
        }
    }
    return "?";
}

static int
config_set_action(struct vgpu_daemon_config *cfg, int action)
{
    /* The most informative action wins: help, version, check, stats. */
    static const int rank[] = {
        [VGPU_CONFIG_RUN] = 0,   [VGPU_CONFIG_STATS] = 1,
        [VGPU_CONFIG_CHECK] = 2, [VGPU_CONFIG_VERSION] = 3,
        [VGPU_CONFIG_HELP] = 4,  [VGPU_CONFIG_BACKENDS] = 1,
    };

    if (rank[action] > rank[cfg->action]) {
        cfg->action = action;
    }
    return 0;
}

static int
config_save_string(char **slot, const char *value)
{
    char *copy = strdup(value);

    if (copy == NULL) {
        return -ENOMEM;
    }
    vgpu_config_replace(slot, copy);
    return 0;
}

/* getopt_long()'s error: name the option as the user wrote it. */
static int
config_bad_option(char **argv, int c, char *err, size_t err_len)
{
    const char *arg = optind > 0 ? argv[optind - 1] : "";
    int is_long = strncmp(arg, "--", 2) == 0;

    if (c == ':') {
        if (is_long) {
            snprintf(err, err_len, "option '%s' needs a value", arg);
        } else {
            snprintf(err, err_len, "option '-%c' needs a value", optopt);
        }
    } else if (!is_long && optopt != 0) {
        snprintf(err, err_len, "unknown option '-%c' (see --help)", optopt);
    } else {
        snprintf(err, err_len, "unknown option '%s' (see --help)", arg);
    }
    return -EINVAL;
}

static int
config_twice(int c, char *err, size_t err_len)
{
    snprintf(err, err_len,
             "--%s is given twice: give it once (only --pool is a list)",
             config_option_name(c));
    return -EINVAL;
}

/* A setting flag other than --pool may be given once: which of two would
 * win is not obvious to whoever reads the command line. */
static int
config_once(const struct config_flag *flags, size_t nflags, int c, char *err,
            size_t err_len)
{
    if (c - OPT_KEY_BASE == KEY_POOL) {
        return 0;
    }
    for (size_t i = 0; i < nflags; i++) {
        if (flags[i].key == c - OPT_KEY_BASE) {
            return config_twice(c, err, err_len);
        }
    }
    return 0;
}

int
vgpu_config_parse_args(struct vgpu_daemon_config *cfg, int argc, char **argv,
                       char *err, size_t err_len)
{
    struct config_flag *flags = calloc((size_t)argc + 1, sizeof(*flags));
    size_t nflags = 0;
    char why[256];
    uint32_t u;
    int rc = 0;
    int c;

    if (flags == NULL) {
        snprintf(err, err_len, "out of memory");
        return -ENOMEM;
    }
    optind = 0; /* glibc: start over, even after an earlier parse */
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+:h", config_options, NULL)) != -1) {
        switch (c) {
        case OPT_HELP:
            config_set_action(cfg, VGPU_CONFIG_HELP);
            break;
        case OPT_VERSION:
            config_set_action(cfg, VGPU_CONFIG_VERSION);
            break;
        case OPT_RECONNECT:
            if (cfg->reconnect_ms >= 0) {
                rc = config_twice(c, err, err_len);
                goto out;
            }
            rc = vgpu_parse_u32(optarg, 0, VGPU_CONFIG_MAX_RECONNECT_MS, &u,
                                why, sizeof(why));
            if (rc < 0) {
                snprintf(err, err_len, "--reconnect-ms: %s", why);
                goto out;
            }
            cfg->reconnect_ms = (int)u;
            break;
        case OPT_STATS:
            config_set_action(cfg, VGPU_CONFIG_STATS);
            break;
        case OPT_BACKENDS:
            config_set_action(cfg, VGPU_CONFIG_BACKENDS);
            break;
        case OPT_CHECK:
            if (cfg->check_file != NULL) {
                rc = config_twice(c, err, err_len);
                goto out;
            }
            config_set_action(cfg, VGPU_CONFIG_CHECK);
            rc = config_save_string(&cfg->check_file, optarg);
            break;
        case OPT_CONFIG:
            if (cfg->config_file != NULL) {
                rc = config_twice(c, err, err_len);
                goto out;
            }
            rc = config_save_string(&cfg->config_file, optarg);
            break;
        case ':':
        case '?':
            rc = config_bad_option(argv, c, err, err_len);
            goto out;
        default:
            rc = config_once(flags, nflags, c, err, err_len);
            if (rc < 0) {
                goto out;
            }
            flags[nflags].key = c - OPT_KEY_BASE;
            flags[nflags].name = config_option_name(c);
            flags[nflags].value = optarg;
            nflags++;
            break;
        }
        if (rc < 0) {
            snprintf(err, err_len, "out of memory");
            goto out;
        }
    }
    if (optind < argc) {
        snprintf(err, err_len, "unexpected argument '%s' (see --help)",
                 argv[optind]);
        rc = -EINVAL;
        goto out;
    }
    if (cfg->action != VGPU_CONFIG_RUN && cfg->action != VGPU_CONFIG_STATS) {
        goto out;
    }
    if (cfg->config_file != NULL) {
        rc = vgpu_config_load_file(cfg, cfg->config_file, err, err_len);
        if (rc < 0) {
            goto out;
        }
    }
    for (size_t i = 0; i < nflags; i++) {
        rc = vgpu_config_set_key(cfg, (enum config_key)flags[i].key,
                                 flags[i].value, why, sizeof(why));
        if (rc < 0) {
            snprintf(err, err_len, "--%s: %s", flags[i].name,
                     rc == -ENOMEM ? "out of memory" : why);
            goto out;
        }
    }
    rc = vgpu_config_finish(cfg, err, err_len);

out:
    free(flags);
    return rc;
}

void
vgpu_config_usage(FILE *out, const char *prog)
{
    fprintf(
        out,
        "usage: %s [options]\n"
        "The vgpu-stub mediator: serves the vgpu-stub devices of the VMs on a\n"
        "Unix socket, schedules their requests per pool and runs them on\n"
        "the pool's backend.\n"
        "\n"
        "  --config FILE          INI file ([mediator] and [pools]); the\n"
        "                         flags override it\n"
        "  --socket PATH          device socket (default %s);\n"
        "                         its directory is created, mode 0660\n"
        "  --control PATH         control socket (default: the socket path "
        "+ %s)\n"
        "  --policy NAME          priority or weighted (default %s)\n"
        "  --weights H:M:L        weighted policy shares, each %u..%u\n"
        "                         (default %u:%u:%u)\n"
        "  --max-wait-ms N        aging bound of the priority policy, "
        "0..%u\n"
        "                         (default %u)\n"
        "  --vm-share MODE        sharing among the VMs of one class:\n"
        "                         best_effort (default), equal or fixed,\n"
        "                         for every pool, or per pool as\n"
        "                         A:fixed,B:equal (registry share, cap)\n"
        "  --vm-queue-cap N       queued requests per VM, %u..%u "
        "(default %u)\n"
        "  --queue-inflight N     requests in flight a queue device may "
        "have,\n"
        "                         %u..%u (default %u; at most "
        "vm-queue-cap)\n"
        "  --request-memory-mib N bytes of requests held over all "
        "devices,\n"
        "                         %u..%u MiB (default %u); more are "
        "REJECTED\n"
        "  --pool L=BACKEND       backend of pool L (A-Z), repeatable; "
        "BACKEND is\n"
        "                         NAME[:SPEC], e.g. cpu or "
        "cpu:delay_us=20000\n"
        "  --default-backend B    backend of the pools not mapped "
        "(default cpu)\n"
        "  --output-kib N         output buffer bound per connection, "
        "%u..%u KiB\n"
        "                         (default %u); a peer that never reads "
        "is\n"
        "                         disconnected when it fills\n"
        "  --hello-timeout-ms N   a connection (device or control) silent "
        "this long\n"
        "                         is closed, %u..%u (default %u)\n"
        "  --max-connections N    device connections at once; more are "
        "closed at\n"
        "                         once (default 0: RLIMIT_NOFILE less a "
        "reserve)\n"
        "  --log-level LEVEL      error, warn, info or debug (default info)\n"
        "  --log-file PATH        log to PATH (default stderr); reopened on "
        "SIGHUP\n"
        "  --legacy-dir DIR       also serve the legacy file protocol: "
        "DIR/vmN/request.txt\n"
        "                         answered in DIR/vmN/response.txt "
        "(off by default)\n"
        "  --registry FILE        the VM registry (vgpu-admin): only the VMs "
        "it lists\n"
        "                         are served, each with its pool and "
        "priority\n"
        "  --check-config FILE    validate FILE: print 'FILE: ok' and exit 0, "
        "or\n"
        "                         the error and exit 2\n"
        "  --reconnect-ms N       --stats: try the control socket again "
        "while it is\n"
        "                         missing or refuses, for N ms (default "
        "%d)\n"
        "  --stats                print the per-VM counters of the running "
        "daemon\n"
        "                         (at --socket/--control) and exit\n"
        "  --cuda-fallback MODE   a pool mapped to cuda on a machine "
        "without a usable\n"
        "                         GPU runs on cpu (MODE cpu, the default) or "
        "stops\n"
        "                         the daemon at start (fail)\n"
        "  --cpu-workers N        executor threads per cpu backend, "
        "%u..%u\n"
        "                         (default: the number of cores)\n"
        "  --backends             list the backends of this build and "
        "whether each\n"
        "                         can run here, and exit\n"
        "  -h, --help             this text\n"
        "  --version              the version\n"
        "\n"
        "Signals: SIGTERM/SIGINT stop gracefully (queued requests are "
        "answered\n"
        "REJECTED); SIGHUP reopens the log file and reloads the registry.\n"
        "Exit status: 0 on success, 1 on a runtime failure, 2 on a bad flag "
        "or\n"
        "configuration.\n",
        prog, VGPU_DEFAULT_SOCKET, VGPU_CONFIG_CONTROL_SUFFIX,
        vgpu_config_policy_name(VGPU_SCHED_DEFAULT_POLICY),
        (unsigned)VGPU_CONFIG_WEIGHT_MIN, (unsigned)VGPU_CONFIG_WEIGHT_MAX,
        (unsigned)VGPU_SCHED_DEFAULT_WEIGHT_HIGH,
        (unsigned)VGPU_SCHED_DEFAULT_WEIGHT_MED,
        (unsigned)VGPU_SCHED_DEFAULT_WEIGHT_LOW,
        (unsigned)VGPU_CONFIG_MAX_WAIT_MS_MAX,
        (unsigned)VGPU_SCHED_DEFAULT_MAX_WAIT_MS,
        (unsigned)VGPU_CONFIG_QUEUE_CAP_MIN,
        (unsigned)VGPU_CONFIG_QUEUE_CAP_MAX,
        (unsigned)VGPU_SCHED_DEFAULT_VM_QUEUE_CAP,
        (unsigned)VGPU_CONFIG_QUEUE_INFLIGHT_MIN,
        (unsigned)VGPU_MEDIATOR_MAX_INFLIGHT, (unsigned)VGPU_Q_DEFAULT_INFLIGHT,
        (unsigned)VGPU_CONFIG_REQUEST_MEMORY_MIB_MIN,
        (unsigned)VGPU_CONFIG_REQUEST_MEMORY_MIB_MAX,
        (unsigned)VGPU_CONFIG_DEFAULT_REQUEST_MEMORY_MIB,
        (unsigned)VGPU_CONFIG_MIN_OUTPUT_KIB,
        (unsigned)VGPU_CONFIG_MAX_OUTPUT_KIB,
        (unsigned)VGPU_CONFIG_DEFAULT_OUTPUT_KIB,
        (unsigned)VGPU_CONFIG_MIN_HELLO_TIMEOUT_MS,
        (unsigned)VGPU_CONFIG_MAX_HELLO_TIMEOUT_MS,
        (unsigned)VGPU_CONFIG_DEFAULT_HELLO_TIMEOUT_MS, VGPU_CTL_RECONNECT_MS,
        (unsigned)VGPU_CONFIG_CPU_WORKERS_MIN,
        (unsigned)VGPU_CONFIG_CPU_WORKERS_MAX);
}
