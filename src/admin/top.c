/*
 * vgpu-admin status and top (top.h). Plain ANSI escapes and termios: the
 * screen is redrawn whole each time (home, each line cleared to its end),
 * cut to the terminal's width and height, which SIGWINCH re-reads.
 *
 * The figures: requests/s and pool busy% are differences between two
 * answers over the time between them; p50/p99 are the daemon's service
 * time percentiles since it started.
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "top.h"
#include "util.h"
#include "vgpu/ctl.h"
#include "vgpu/registry.h"
#include "vgpu/regs.h"

#define TOP_PROG         "vgpu-admin"
#define TOP_EXIT_OK      0
#define TOP_EXIT_PROBLEM 1
#define TOP_EXIT_USAGE   2
#define TOP_TIMEOUT_MS   5000
#define TOP_PATH_MAX     4200
#define TOP_ERR_MAX      512
/* --interval: tenths of a second, 0.1 s .. 1 hour; 1 s by default. */
#define TOP_INTERVAL_MIN 1u
#define TOP_INTERVAL_MAX 36000u
#define TOP_INTERVAL_DEF 10u
#define TOP_MS_PER_TENTH 100
#define TOP_US_PER_S     1e6
#define TOP_PCT          100.0
#define TOP_DEFAULT_COLS 80
#define TOP_DEFAULT_ROWS 24
#define TOP_NAME_WIDTH   16
#define TOP_LINE_MAX     512
#define TOP_DECIMAL      10
/* Escapes: the alternate screen, the cursor, home, clear to end of line
 * and of screen. */
#define TOP_ESC_ENTER    "\033[?1049h\033[?25l"
#define TOP_ESC_LEAVE    "\033[?25h\033[?1049l"
#define TOP_ESC_HOME     "\033[H"
#define TOP_ESC_EOL      "\033[K"
#define TOP_ESC_EOS      "\033[J"

enum {
    TOP_OPT_SOCKET = 256,
    TOP_OPT_CONTROL,
    TOP_OPT_REGISTRY,
    TOP_OPT_INTERVAL,
    TOP_OPT_HELP
};

static const struct option top_options[] = {
    {"socket", required_argument, NULL, TOP_OPT_SOCKET},
    {"control", required_argument, NULL, TOP_OPT_CONTROL},
    {"registry", required_argument, NULL, TOP_OPT_REGISTRY},
    {"interval", required_argument, NULL, TOP_OPT_INTERVAL},
    {"help", no_argument, NULL, TOP_OPT_HELP},
    {NULL, 0, NULL, 0},
};

struct top_vm {
    uint32_t vm_id;
    char pool;
    char prio[16];
    int connected;
    uint64_t responses;
    uint64_t errors;
    uint64_t service_total_us;
    uint64_t p50_us;
    uint64_t p99_us;
    uint64_t queued;
    uint64_t running;
};

struct top_snap {
    struct top_vm *vms;
    size_t n;
    double t; /* seconds, monotonic */
};

struct top {
    int live; /* top, not status */
    char control[TOP_PATH_MAX];
    unsigned interval; /* tenths of a second */
    struct vgpu_registry *reg;
    struct top_snap prev;
    struct top_snap cur;
    int cols;
    int rows;
};

static volatile sig_atomic_t top_resized;
static volatile sig_atomic_t top_stop;

static void
top_on_signal(int sig)
{
    if (sig == SIGWINCH) {
        top_resized = 1;
    } else {
        top_stop = 1;
    }
}

static double
top_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- The answer ---------------------------------------------------------- */

static uint64_t
top_u64(const char *line, const char *end, const char *key)
{
    const char *v = vgpu_ctl_field(line, end, key);

    return v != NULL && *v >= '0' && *v <= '9' ? strtoull(v, NULL, TOP_DECIMAL)
                                               : 0;
}

/* "errors=CODE:N,CODE:N" or "errors=-": the sum of the N. */
static uint64_t
top_errors(const char *line, const char *end)
{
    const char *v = vgpu_ctl_field(line, end, "errors");
    uint64_t sum = 0;

    while (v != NULL && v < end && *v != ' ' && *v != '\n') {
        const char *colon = memchr(v, ':', (size_t)(end - v));
        char *stop;

        if (colon == NULL) {
            break;
        }
        sum += strtoull(colon + 1, &stop, TOP_DECIMAL);
        v = *stop == ',' ? stop + 1 : NULL;
    }
    return sum;
}

static void
top_parse_line(const char *line, const char *end, struct top_vm *vm)
{
    const char *v;
    size_t n;

    memset(vm, 0, sizeof(*vm));
    vm->vm_id = (uint32_t)top_u64(line, end, "vm");
    v = vgpu_ctl_field(line, end, "pool");
    vm->pool = v != NULL && v < end ? *v : '-';
    v = vgpu_ctl_field(line, end, "priority");
    n = v != NULL ? strcspn(v, " \n") : 0;
    if (v != NULL && v + n > end) {
        n = (size_t)(end - v);
    }
    snprintf(vm->prio, sizeof(vm->prio), "%.*s", (int)n, v != NULL ? v : "");
    vm->connected = top_u64(line, end, "connected") != 0;
    vm->responses = top_u64(line, end, "responses");
    vm->errors = top_errors(line, end);
    vm->service_total_us = top_u64(line, end, "service_total_us");
    vm->p50_us = top_u64(line, end, "service_p50_us");
    vm->p99_us = top_u64(line, end, "service_p99_us");
    vm->queued = top_u64(line, end, "queued");
    vm->running = top_u64(line, end, "running");
}

/* Ask the daemon; fill @s. Return: 0, or a negative errno (-EPROTO: an
 * answer that is not one). */
static int
top_query(const struct top *t, struct top_snap *s)
{
    char *text = NULL;
    const char *line;
    size_t lines = 0;
    int rc;

    rc = vgpu_ctl_query(t->control, VGPU_CTL_LIVE, TOP_TIMEOUT_MS,
                        VGPU_CTL_ANSWER_MAX, &text);
    if (rc < 0) {
        return rc;
    }
    if (strncmp(text, "vms ", 4) != 0) {
        free(text);
        return -EPROTO;
    }
    for (const char *p = text; *p != '\0'; p++) {
        lines += *p == '\n';
    }
    free(s->vms);
    s->vms = calloc(lines + 1u, sizeof(*s->vms));
    s->n = 0;
    if (s->vms == NULL) {
        free(text);
        return -ENOMEM;
    }
    for (line = text; *line != '\0';) {
        const char *end = strchr(line, '\n');

        if (end == NULL) {
            end = line + strlen(line);
        }
        if (strncmp(line, "vm=", 3) == 0 && s->n <= lines) {
            top_parse_line(line, end, &s->vms[s->n++]);
        }
        line = *end != '\0' ? end + 1 : end;
    }
    s->t = top_now();
    free(text);
    return 0;
}

static const struct top_vm *
top_find(const struct top_snap *s, uint32_t vm_id)
{
    for (size_t i = 0; i < s->n; i++) {
        if (s->vms[i].vm_id == vm_id) {
            return &s->vms[i];
        }
    }
    return NULL;
}

/* ---- The screen ---------------------------------------------------------- */

struct top_screen {
    const struct top *t;
    int line;
};

/* One line, cut to the width; past the height, nothing. */
static void top_put(struct top_screen *sc, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
top_put(struct top_screen *sc, const char *fmt, ...)
{
    char buf[TOP_LINE_MAX];
    va_list ap;
    int n;

    if (sc->t->live && sc->line >= sc->t->rows) {
        return;
    }
    va_start(ap, fmt);
    n = vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    if (n < 0) {
        return;
    }
    if (sc->t->live && n > sc->t->cols) {
        buf[sc->t->cols] = '\0';
    }
    fputs(buf, stdout);
    fputs(sc->t->live ? TOP_ESC_EOL "\r\n" : "\n", stdout);
    sc->line++;
}

static void
top_rate(char *buf, size_t len, double v, int have)
{
    if (have) {
        snprintf(buf, len, "%.1f", v);
    } else {
        snprintf(buf, len, "-");
    }
}

static void
top_draw(struct top *t)
{
    struct top_screen sc = {.t = t};
    double dt = t->cur.t - t->prev.t;
    int have = t->prev.vms != NULL && dt > 0;
    double pool_busy[VGPU_POOL_COUNT] = {0};
    double pool_rate[VGPU_POOL_COUNT] = {0};
    unsigned pool_vms[VGPU_POOL_COUNT] = {0};
    size_t connected = 0;
    char rate[32];

    for (size_t i = 0; i < t->cur.n; i++) {
        connected += t->cur.vms[i].connected ? 1u : 0u;
    }
    if (t->live) {
        fputs(TOP_ESC_HOME, stdout);
        top_put(&sc,
                "vgpu-admin top - %s - %zu VMs, %zu connected - every "
                "%.1f s (q quits)",
                t->control, t->cur.n, connected,
                (double)t->interval / TOP_DECIMAL);
    } else {
        top_put(&sc, "%s: %zu VMs, %zu connected (rates over %.1f s)",
                t->control, t->cur.n, connected, dt);
    }
    top_put(&sc, "%10s %-*s %-4s %-6s %-4s %9s %9s %9s %6s %4s %7s", "VM",
            TOP_NAME_WIDTH, "NAME", "POOL", "PRIO", "CONN", "REQ/S", "P50(us)",
            "P99(us)", "QUEUE", "RUN", "ERRORS");
    for (size_t i = 0; i < t->cur.n; i++) {
        const struct top_vm *v = &t->cur.vms[i];
        const struct top_vm *p = have ? top_find(&t->prev, v->vm_id) : NULL;
        const struct vgpu_vm_entry *e =
            t->reg != NULL ? vgpu_registry_find_id(t->reg, v->vm_id) : NULL;
        double r = p != NULL && v->responses >= p->responses
                       ? (double)(v->responses - p->responses) / dt
                       : 0.0;

        if (v->pool >= VGPU_POOL_FIRST && v->pool <= VGPU_POOL_LAST) {
            size_t k = (size_t)(v->pool - VGPU_POOL_FIRST);

            pool_vms[k]++;
            pool_rate[k] += r;
            if (p != NULL && v->service_total_us >= p->service_total_us) {
                pool_busy[k] +=
                    (double)(v->service_total_us - p->service_total_us) /
                    (dt * TOP_US_PER_S) * TOP_PCT;
            }
        }
        top_rate(rate, sizeof(rate), r, p != NULL);
        top_put(&sc,
                "%10u %-*.*s %-4c %-6s %-4s %9s %9llu %9llu %6llu %4llu "
                "%7llu",
                (unsigned)v->vm_id, TOP_NAME_WIDTH, TOP_NAME_WIDTH,
                e != NULL ? e->name : "-", v->pool, v->prio,
                v->connected ? "yes" : "no", rate,
                (unsigned long long)v->p50_us, (unsigned long long)v->p99_us,
                (unsigned long long)v->queued, (unsigned long long)v->running,
                (unsigned long long)v->errors);
    }
    top_put(&sc, "%s", "");
    top_put(&sc, "%-4s %4s %9s %8s", "POOL", "VMS", "REQ/S", "BUSY%");
    for (size_t k = 0; k < VGPU_POOL_COUNT; k++) {
        char busy[32];

        if (pool_vms[k] == 0) {
            continue;
        }
        top_rate(rate, sizeof(rate), pool_rate[k], have);
        top_rate(busy, sizeof(busy), pool_busy[k], have);
        top_put(&sc, "%-4c %4u %9s %8s", (char)(VGPU_POOL_FIRST + k),
                pool_vms[k], rate, busy);
    }
    if (t->live) {
        fputs(TOP_ESC_EOS, stdout);
    }
    fflush(stdout);
}

static void
top_size(struct top *t)
{
    struct winsize ws;

    t->cols = TOP_DEFAULT_COLS;
    t->rows = TOP_DEFAULT_ROWS;
    if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0 &&
        ws.ws_row > 0) {
        t->cols = ws.ws_col < TOP_LINE_MAX - 1 ? ws.ws_col : TOP_LINE_MAX - 1;
        t->rows = ws.ws_row;
    }
}

/* ---- The commands -------------------------------------------------------- */

static void
top_usage(FILE *out, const char *cmd)
{
    fprintf(out,
            "usage: %s %s [--socket PATH | --control PATH] [--registry FILE] "
            "[--interval SECONDS]\n"
            "\n"
            "%s each VM the mediator has seen: vm_id, its name in the "
            "registry, pool,\n"
            "priority, connected, requests/s, service time p50/p99 (us, "
            "since the\n"
            "daemon started), requests queued and running, errors; and per "
            "pool\n"
            "the requests/s and the executors' busy time (%% of one "
            "executor).\n"
            "%s"
            "\n"
            "  --socket PATH     the mediator's device socket; its control "
            "socket is\n"
            "                    PATH%s (default: %s)\n"
            "  --control PATH    the control socket itself\n"
            "  --registry FILE   names from this registry (default: %s; "
            "none when\n"
            "                    it cannot be read)\n"
            "  --interval S      seconds between two looks (0.1 .. 3600; "
            "default 1)\n"
            "  --help            this text\n"
            "\n"
            "Exit status: 0; 1 when the mediator cannot be reached%s; 2 for a "
            "bad option.\n",
            TOP_PROG, cmd,
            strcmp(cmd, "top") == 0 ? "Shows, refreshed every interval,"
                                    : "Prints once, rates measured over one "
                                      "interval,",
            strcmp(cmd, "top") == 0
                ? "Keys: q quits. The view follows the terminal's size.\n"
                : "",
            VGPU_CTL_SUFFIX, VGPU_DEFAULT_SOCKET, VGPU_REGISTRY_DEFAULT_PATH,
            strcmp(cmd, "top") == 0 ? " or goes away" : "");
}

/* --interval "S[.T]" in tenths. Return: 0, or -1. */
static int
top_parse_interval(const char *s, unsigned *tenths)
{
    char *stop;
    double v;

    errno = 0;
    v = strtod(s, &stop);
    if (errno != 0 || stop == s || *stop != '\0' || !(v >= 0) ||
        v * TOP_DECIMAL + 0.5 < TOP_INTERVAL_MIN ||
        v * TOP_DECIMAL > TOP_INTERVAL_MAX) {
        return -1;
    }
    *tenths = (unsigned)(v * TOP_DECIMAL + 0.5);
    return 0;
}

static int
top_parse(struct top *t, int argc, char **argv, const char **registry)
{
    const char *socket = NULL;
    const char *control = NULL;
    int c;

    optind = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+:h", top_options, NULL)) != -1) {
        switch (c) {
        case TOP_OPT_SOCKET:
            socket = optarg;
            break;
        case TOP_OPT_CONTROL:
            control = optarg;
            break;
        case TOP_OPT_REGISTRY:
            *registry = optarg;
            break;
        case TOP_OPT_INTERVAL:
            if (top_parse_interval(optarg, &t->interval) < 0) {
                return admin_fail(TOP_EXIT_USAGE,
                                  "%s: --interval: '%s' is not a number of "
                                  "seconds in 0.1..3600",
                                  argv[0], optarg);
            }
            break;
        case 'h':
        case TOP_OPT_HELP:
            top_usage(stdout, argv[0]);
            return TOP_EXIT_OK;
        case ':':
            return admin_fail(TOP_EXIT_USAGE, "%s: %s needs a value", argv[0],
                              argv[optind - 1]);
        default:
            return admin_fail(TOP_EXIT_USAGE,
                              "%s: unknown option '%s' (see %s %s --help)",
                              argv[0], argv[optind - 1], TOP_PROG, argv[0]);
        }
    }
    if (optind < argc) {
        return admin_fail(TOP_EXIT_USAGE, "%s: unexpected argument '%s'",
                          argv[0], argv[optind]);
    }
    if (socket != NULL && control != NULL) {
        return admin_fail(TOP_EXIT_USAGE,
                          "%s: give --socket or --control, not both", argv[0]);
    }
    if (control != NULL) {
        snprintf(t->control, sizeof(t->control), "%s", control);
    } else {
        snprintf(t->control, sizeof(t->control), "%s%s",
                 socket != NULL ? socket : VGPU_DEFAULT_SOCKET,
                 VGPU_CTL_SUFFIX);
    }
    return -1;
}

/* Wait up to @ms for a key; return it, 0 on none, -1 on EOF. */
static int
top_key(int ms)
{
    struct pollfd p = {.fd = STDIN_FILENO, .events = POLLIN};
    unsigned char ch;
    ssize_t n;

    if (poll(&p, 1, ms) <= 0) {
        return 0; /* a timeout, or a signal: the caller looks at its flags */
    }
    n = read(STDIN_FILENO, &ch, 1);
    if (n == 0) {
        return -1;
    }
    return n == 1 ? ch : 0;
}

static int
top_loop(struct top *t)
{
    struct sigaction sa;
    struct termios old;
    struct termios raw;
    int tty = isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &old) == 0;
    int status = TOP_EXIT_OK;
    int stdin_open = 1;
    int rc;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = top_on_signal; /* no SA_RESTART: poll() returns */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGWINCH, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    if (tty) {
        raw = old;
        raw.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
        raw.c_cc[VMIN] = 1;
        raw.c_cc[VTIME] = 0;
        tcsetattr(STDIN_FILENO, TCSANOW, &raw);
    }
    fputs(TOP_ESC_ENTER, stdout);
    top_size(t);
    top_draw(t);
    while (!top_stop) {
        double due = t->cur.t + (double)t->interval / TOP_DECIMAL;
        int left = (int)((due - top_now()) * 1000.0);
        int key = 0;

        if (left > 0) {
            if (stdin_open) {
                key = top_key(left);
            } else {
                (void)poll(NULL, 0, left);
            }
        }
        if (key == 'q' || key == 'Q') {
            break;
        }
        if (key < 0) {
            stdin_open = 0;
        }
        if (top_resized) {
            top_resized = 0;
            top_size(t);
            top_draw(t);
        }
        if (top_now() < due) {
            continue;
        }
        free(t->prev.vms);
        t->prev = t->cur;
        t->cur.vms = NULL;
        rc = top_query(t, &t->cur);
        if (rc < 0) {
            fputs(TOP_ESC_LEAVE, stdout);
            fflush(stdout);
            status = admin_fail(TOP_EXIT_PROBLEM,
                                "top: the mediator at %s went away: %s",
                                t->control, strerror(-rc));
            goto out;
        }
        top_draw(t);
    }
    fputs(TOP_ESC_LEAVE, stdout);
    fflush(stdout);
out:
    if (tty) {
        tcsetattr(STDIN_FILENO, TCSANOW, &old);
    }
    return status;
}

int
vgpu_admin_top_main(int argc, char **argv)
{
    struct top t = {0};
    const char *registry = VGPU_REGISTRY_DEFAULT_PATH;
    char err[TOP_ERR_MAX];
    int status;
    int rc;

    t.live = strcmp(argv[0], "top") == 0;
    t.interval = TOP_INTERVAL_DEF;
    status = top_parse(&t, argc, argv, &registry);
    if (status >= 0) {
        return status;
    }
    t.reg = vgpu_registry_load(registry, VGPU_REGISTRY_MISSING_OK, err,
                               sizeof(err));
    rc = top_query(&t, &t.cur);
    if (rc < 0) {
        status = admin_fail(TOP_EXIT_PROBLEM,
                            "%s: cannot reach the mediator at %s: %s", argv[0],
                            t.control, strerror(-rc));
    } else if (t.live) {
        status = top_loop(&t);
    } else {
        /* Two looks, one interval apart, for the rates. */
        (void)poll(NULL, 0, (int)t.interval * TOP_MS_PER_TENTH);
        t.prev = t.cur;
        t.cur.vms = NULL;
        rc = top_query(&t, &t.cur);
        if (rc < 0) {
            status = admin_fail(TOP_EXIT_PROBLEM,
                                "status: the mediator at %s went away: %s",
                                t.control, strerror(-rc));
        } else {
            top_draw(&t);
            status = TOP_EXIT_OK;
        }
    }
    free(t.prev.vms);
    free(t.cur.vms);
    vgpu_registry_destroy(t.reg);
    return status;
}
