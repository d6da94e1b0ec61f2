/*
 * The guest tools' shared option handling, opening and error printing
 * (common.h).
 *
 * The long options of a tool are the shared table below followed by the
 * tool's own; they are merged into one getopt_long() table per run. getopt's
 * own messages are off (opterr = 0) so that every complaint has the shape
 * "<tool>: <reason>" and is followed by "<tool>: see --help".
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common.h"
#include "vgpu/sim.h"

#define MAX_LONGOPTS 48
#define ERR_LEN      512
#define NS_PER_SEC   1000000000ull

enum {
    OPT_HELP = 'h',
    OPT_DEVICE = 0x100,
    OPT_SYSFS_ROOT,
    OPT_SIM,
    OPT_SIM_VM_ID,
    OPT_SIM_POOL,
    OPT_SIM_PRIORITY,
    OPT_SIM_NO_MEDIATOR,
    OPT_IRQ,
    OPT_TIMEOUT_MS,
    OPT_VERSION,
};

static const struct option shared_longopts[] = {
    {"help", no_argument, NULL, OPT_HELP},
    {"device", required_argument, NULL, OPT_DEVICE},
    {"sysfs-root", required_argument, NULL, OPT_SYSFS_ROOT},
    {"sim", no_argument, NULL, OPT_SIM},
    {"sim-vm-id", required_argument, NULL, OPT_SIM_VM_ID},
    {"sim-pool", required_argument, NULL, OPT_SIM_POOL},
    {"sim-priority", required_argument, NULL, OPT_SIM_PRIORITY},
    {"sim-no-mediator", no_argument, NULL, OPT_SIM_NO_MEDIATOR},
    {"irq", no_argument, NULL, OPT_IRQ},
    {"timeout-ms", required_argument, NULL, OPT_TIMEOUT_MS},
    {"version", no_argument, NULL, OPT_VERSION},
    {NULL, 0, NULL, 0},
};

static const char shared_help[] =
    "Device options:\n"
    "  --device BDF        the vgpu-stub at PCI address BDF (0000:00:04.0 or\n"
    "                      00:04.0); default: the first one in sysfs\n"
    "  --irq               wait on the UIO interrupt (device bound to\n"
    "                      uio_pci_generic) instead of polling STATUS\n"
    "  --sysfs-root DIR    where sysfs is mounted (default /sys; tests pass\n"
    "                      a fake tree)\n"
    "  --sim               a simulated vgpu-stub in this process, with the\n"
    "                      mediator core and the CPU backend (no VM needed)\n"
    "  --sim-vm-id N       its VM_ID (default 1; implies --sim)\n"
    "  --sim-pool L        its POOL_ID letter A-Z (default A; implies --sim)\n"
    "  --sim-priority P    low, medium or high (default medium; implies "
    "--sim)\n"
    "  --sim-no-mediator   no mediator: a valid doorbell ends in ERROR\n"
    "                      MEDIATOR_UNAVAILABLE (implies --sim)\n"
    "  --timeout-ms N      how long to wait for a request (default 10000)\n"
    "  --help              print this text and exit\n"
    "  --version           print the version and exit\n";

static void
print_usage(const struct vgpu_tool_desc *d, FILE *fp)
{
    fprintf(fp, "usage: %s [options]%s%s\n%s\n\n", d->name,
            d->synopsis[0] != '\0' ? " " : "", d->synopsis, d->summary);
    if (d->help != NULL) {
        fprintf(fp, "%s\n", d->help);
    }
    fputs(shared_help, fp);
    fputs("\nExit status: 0 success, 1 failure (device, request or check), "
          "2 wrong arguments.\n",
          fp);
}

void
vgpu_tool_complain(const struct vgpu_tool_desc *d, const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "%s: ", d->name);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

void
vgpu_tool_usage_exit(const struct vgpu_tool_desc *d, const char *why)
{
    if (why != NULL) {
        vgpu_tool_complain(d, "%s", why);
    }
    /* One line naming the mistake, then where the usage is (as
     * vgpu-mediator does): the whole usage would bury the line. */
    fprintf(stderr, "%s: see --help\n", d->name);
    exit(VGPU_TOOL_EXIT_USAGE);
}

/* One merged table: the shared options, then the tool's. */
static int
merge_longopts(const struct vgpu_tool_desc *d, struct option *out)
{
    size_t n = 0;

    for (size_t i = 0; shared_longopts[i].name != NULL; i++) {
        out[n++] = shared_longopts[i];
    }
    for (size_t i = 0; d->longopts != NULL && d->longopts[i].name != NULL;
         i++) {
        if (n + 1 >= MAX_LONGOPTS) {
            return -ENOSPC;
        }
        out[n++] = d->longopts[i];
    }
    memset(&out[n], 0, sizeof(out[n]));
    return 0;
}

/* Handle one shared option. Return 0, or -1 after complaining. */
static int
handle_shared(const struct vgpu_tool_desc *d, struct vgpu_tool_opts *o, int id,
              const char *arg)
{
    uint32_t v;

    switch (id) {
    case OPT_DEVICE:
        o->device = arg;
        return 0;
    case OPT_SYSFS_ROOT:
        o->sysfs_root = arg;
        return 0;
    case OPT_SIM:
        o->sim = 1;
        return 0;
    case OPT_SIM_VM_ID:
        if (vgpu_vm_id_parse(arg, strlen(arg), &o->sim_vm_id) != 0) {
            vgpu_tool_complain(d, "--sim-vm-id: '%s' is not %s", arg,
                               VGPU_VM_ID_SPELLING);
            return -1;
        }
        o->sim = 1;
        return 0;
    case OPT_SIM_POOL:
        if (vgpu_pool_parse(arg, strlen(arg), VGPU_PARSE_ANYCASE,
                            &o->sim_pool) != 0) {
            vgpu_tool_complain(d, "--sim-pool: '%s' is not a letter A-Z", arg);
            return -1;
        }
        o->sim = 1;
        return 0;
    case OPT_SIM_PRIORITY:
        if (vgpu_tool_parse_priority(arg, &o->sim_priority) != 0) {
            vgpu_tool_complain(d,
                               "--sim-priority: '%s' is not one of low, "
                               "medium, high",
                               arg);
            return -1;
        }
        o->sim = 1;
        return 0;
    case OPT_SIM_NO_MEDIATOR:
        o->sim_no_mediator = 1;
        o->sim = 1;
        return 0;
    case OPT_IRQ:
        o->irq = 1;
        return 0;
    case OPT_TIMEOUT_MS:
        if (vgpu_tool_parse_u32(arg, 0, VGPU_MAX_TIMEOUT_MS, &v) != 0) {
            vgpu_tool_complain(d, "--timeout-ms: '%s' is not a number in 0..%u",
                               arg, VGPU_MAX_TIMEOUT_MS);
            return -1;
        }
        o->timeout_ms = (int)v;
        return 0;
    default:
        vgpu_tool_complain(d, "internal: unhandled option %d", id);
        return -1;
    }
}

int
vgpu_tool_parse(const struct vgpu_tool_desc *d, int argc, char **argv,
                struct vgpu_tool_opts *o)
{
    struct option longopts[MAX_LONGOPTS];
    int id;

    memset(o, 0, sizeof(*o));
    o->sim_vm_id = VGPU_TOOL_SIM_VM_ID;
    o->sim_pool = VGPU_TOOL_SIM_POOL;
    o->sim_priority = VGPU_TOOL_SIM_PRIORITY;
    o->timeout_ms = (int)VGPU_DEFAULT_TIMEOUT_MS;
    if (merge_longopts(d, longopts) != 0) {
        vgpu_tool_complain(d, "internal: too many options");
        exit(VGPU_TOOL_EXIT_USAGE);
    }
    opterr = 0;
    optind = 1;
    while ((id = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
        const char *opt = argv[optind - 1];
        int rc;

        if (id == OPT_HELP) {
            print_usage(d, stdout);
            exit(VGPU_TOOL_EXIT_OK);
        }
        if (id == OPT_VERSION) {
            printf("%s %s\n", d->name, VGPU_VERSION_STRING);
            exit(VGPU_TOOL_EXIT_OK);
        }
        if (id == '?') {
            if (strncmp(opt, "--", 2) != 0 && optopt > 0 && optopt < CHAR_MAX) {
                /* "-5 3": a negative operand read as an option. */
                vgpu_tool_complain(
                    d, "unknown option '-%c'%s", optopt,
                    optopt >= '0' && optopt <= '9'
                        ? ": put -- before a negative operand (-- -5 3)"
                        : "");
            } else if (optopt != 0 && strchr(opt, '=') != NULL) {
                vgpu_tool_complain(d, "option '%s' takes no value", opt);
            } else {
                vgpu_tool_complain(d, "unknown option '%s'", opt);
            }
            vgpu_tool_usage_exit(d, NULL);
        }
        if (id == ':') {
            vgpu_tool_complain(d, "option '%s' needs a value", opt);
            vgpu_tool_usage_exit(d, NULL);
        }
        if (id >= VGPU_TOOL_OPT_FIRST && d->handle != NULL) {
            rc = d->handle(d->ctx, id, optarg);
        } else {
            rc = handle_shared(d, o, id, optarg);
        }
        if (rc != 0) {
            vgpu_tool_usage_exit(d, NULL);
        }
    }
    if (o->sim && o->device != NULL) {
        vgpu_tool_usage_exit(d, "--device and --sim exclude each other");
    }
    if (o->sim && o->sysfs_root != NULL) {
        vgpu_tool_usage_exit(d, "--sysfs-root and --sim exclude each other");
    }
    return optind;
}

struct vgpu_client *
vgpu_tool_open(const struct vgpu_tool_desc *d, const struct vgpu_tool_opts *o)
{
    char err[ERR_LEN] = "";
    struct vgpu_client *c;

    if (o->sim) {
        c = vgpu_sim_open_single(o->sim_vm_id, o->sim_pool, o->sim_priority,
                                 o->sim_no_mediator, err, sizeof(err));
    } else {
        c = vgpu_open_sysfs(o->device, o->sysfs_root,
                            o->irq ? VGPU_OPEN_IRQ : 0, err, sizeof(err));
    }
    if (c == NULL) {
        vgpu_tool_complain(d, "%s", err[0] != '\0' ? err : "cannot open");
        if (!o->sim && o->device == NULL) {
            fprintf(stderr,
                    "%s: (use --device BDF to name one, or --sim for a "
                    "simulated device)\n",
                    d->name);
        }
        return NULL;
    }
    vgpu_set_timeout(c, o->timeout_ms);
    return c;
}

void
vgpu_tool_print_error(const struct vgpu_tool_desc *d, struct vgpu_client *c,
                      int rc, const char *what)
{
    const struct vgpu_error *e = vgpu_last_error(c);

    if (rc == VGPU_E_DEVICE && e != NULL) {
        fprintf(stderr, "ERROR %s (0x%02x): %s\n",
                vgpu_tool_error_name(e->code), e->code,
                e->message[0] != '\0' ? e->message
                                      : "(the device gave no message)");
        return;
    }
    vgpu_tool_complain(d, "%s: %s", what, vgpu_strerror(rc));
}

/* ---- Values ------------------------------------------------------------ */

int
vgpu_tool_parse_u32(const char *s, uint32_t min, uint32_t max, uint32_t *out)
{
    unsigned long long v;
    char *end;

    if (s == NULL || *s == '\0' || *s == '-' || *s == '+' || *s == ' ') {
        return -EINVAL;
    }
    errno = 0;
    v = strtoull(s, &end, 0);
    if (errno != 0 || *end != '\0' || v < min || v > max) {
        return -EINVAL;
    }
    *out = (uint32_t)v;
    return 0;
}

int
vgpu_tool_parse_priority(const char *s, uint8_t *priority)
{
    if (s == NULL) {
        return -EINVAL;
    }
    /* The one vocabulary (vgpu/proto.h): a name in any case, or 0, 1, 2. */
    return vgpu_prio_parse(s, strlen(s), VGPU_PARSE_PRIORITY, priority) == 0
               ? 0
               : -EINVAL;
}

const char *
vgpu_tool_status_name(uint32_t status)
{
    switch (status) {
    case VGPU_STATUS_IDLE:
        return "IDLE";
    case VGPU_STATUS_BUSY:
        return "BUSY";
    case VGPU_STATUS_DONE:
        return "DONE";
    case VGPU_STATUS_ERROR:
        return "ERROR";
    default:
        return NULL;
    }
}

const char *
vgpu_tool_error_name(uint32_t code)
{
    /* vgpu_strerror() names non-negative codes as device codes. */
    return vgpu_strerror(code > INT_MAX ? INT_MAX : (int)code);
}

void
vgpu_tool_caps_str(uint32_t caps, char *buf, size_t len)
{
    size_t used = 0;

    if (len == 0) {
        return;
    }
    buf[0] = '\0';
    for (unsigned bit = 0; bit < 32; bit++) {
        uint32_t mask = 1u << bit;
        const char *name = NULL;
        char other[16];
        int n;

        if (!(caps & mask)) {
            continue;
        }
        if (mask == VGPU_CAP_BASIC) {
            name = "BASIC";
        } else if (mask == VGPU_CAP_IRQ) {
            name = "IRQ";
        } else if (mask == VGPU_CAP_QUEUE) {
            name = "QUEUE";
        } else {
            snprintf(other, sizeof(other), "bit%u", bit);
            name = other;
        }
        n = snprintf(buf + used, len - used, "%s%s", used > 0 ? " " : "", name);
        if (n < 0 || (size_t)n >= len - used) {
            return;
        }
        used += (size_t)n;
    }
    if (used == 0) {
        snprintf(buf, len, "none");
    }
}

uint64_t
vgpu_tool_now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * NS_PER_SEC + (uint64_t)ts.tv_nsec;
}
