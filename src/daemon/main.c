/*
 * vgpu-mediator: the daemon (SPEC.md section 9). Wires the configuration,
 * the log, the event loop, the server and the mediator core together.
 *
 * The loop does I/O, scheduling decisions and completions; executor
 * threads (executor.h) run the backends. The before-sleep hook hands the
 * next request to every idle executor; an executor's completion wakes the
 * loop through an eventfd. Signals arrive on a signalfd in the same loop.
 *
 * Exit status: 0 on success, 1 on a runtime failure, 2 on a bad flag or
 * configuration.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "backends.h"
#include "config.h"
#include "event.h"
#include "executor.h"
#include "legacy.h"
#include "log.h"
#include "metrics.h"
#include "reload.h"
#include "server.h"
#include "vgpu/ctl.h"
#include "vgpu/mediator.h"
#include "vgpu/registry.h"

#ifndef VGPU_VERSION_STRING
#define VGPU_VERSION_STRING "unknown"
#endif

#define MAIN_PROG "vgpu-mediator"

#define MAIN_EXIT_OK     0
#define MAIN_EXIT_FAIL   1
#define MAIN_EXIT_CONFIG 2

/* SIGTERM: how long connections may take to flush, and the hard bound on
 * the whole shutdown after it. */
#define MAIN_DRAIN_MS 2000
#define MAIN_STOP_MS  2500

/* The descriptor limit assumed when getrlimit() fails: Linux's default. */
#define MAIN_NOFILE_UNKNOWN 1024

/* --stats: how long to wait for the daemon's answer. */
#define MAIN_STATS_TIMEOUT_MS 5000

struct daemon {
    const struct vgpu_daemon_config *cfg;
    struct vgpu_log *log;
    struct vgpu_event_loop *loop;
    struct vgpu_server *srv;
    struct vgpu_legacy *legacy; /* --legacy-dir; NULL: off */
    struct vgpu_mediator *m;
    struct vgpu_executors *x;
    struct vgpu_mediator_ops ops;
    struct vgpu_registry *registry; /* --registry; NULL: none */
    struct vgpu_reload *reload;     /* SIGHUP's reload of it */
    struct vgpu_metrics *metrics;   /* metrics_listen; NULL: off */
    struct vgpu_metrics_info metrics_info;
    int sigfd;
    int draining;
};

static uint64_t
main_now_ns(void *opaque)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * UINT64_C(1000000000) + (uint64_t)ts.tv_nsec;
}

static void
main_log(void *opaque, int level, const char *line)
{
    struct daemon *d = opaque;
    int fd = d->srv != NULL ? vgpu_server_current_fd(d->srv) : -1;

    if (fd >= 0) {
        /* A line about a device's input (a HELLO, a protocol error): say
         * which connection it came from. */
        vgpu_log_printf(d->log, level, "conn fd=%d %s", fd, line);
        return;
    }
    vgpu_log_write(d->log, level, line);
}

static void
main_before_sleep(struct vgpu_event_loop *loop, void *data)
{
    struct daemon *d = data;

    vgpu_server_reap(d->srv);
    if (vgpu_executors_dispatch(d->x) > 0) {
        /* An inline answer may have failed a connection. */
        vgpu_server_reap(d->srv);
    }
    if (d->draining && vgpu_server_conn_count(d->srv) == 0) {
        vgpu_event_loop_stop(loop);
    }
}

static int64_t
main_stop_timer(struct vgpu_event_loop *loop, int64_t id, void *data)
{
    struct daemon *d = data;

    vgpu_log_printf(d->log, VGPU_LOG_WARN,
                    "shutdown: %zu connection(s) still flushing after %d ms; "
                    "closing them",
                    vgpu_server_conn_count(d->srv), MAIN_STOP_MS);
    vgpu_event_loop_stop(loop);
    return VGPU_EVENT_TIMER_DONE;
}

/* What the metrics say besides the core's figures. */
static void
main_metrics_info(struct daemon *d)
{
    d->metrics_info.version = VGPU_VERSION_STRING;
    d->metrics_info.start_time_s = (uint64_t)time(NULL);
    for (size_t i = 0; i < VGPU_POOL_COUNT; i++) {
        d->metrics_info.backend[i] = d->cfg->pool_backend[i] != NULL
                                         ? d->cfg->pool_backend[i]
                                         : d->cfg->default_backend;
    }
}

/* SIGTERM/SIGINT: stop accepting, answer what is queued, flush, exit. */
static void
main_shutdown(struct daemon *d, const char *signame)
{
    if (d->draining) {
        vgpu_log_printf(d->log, VGPU_LOG_WARN,
                        "%s again: stopping without waiting for flushes",
                        signame);
        vgpu_event_loop_stop(d->loop);
        return;
    }
    d->draining = 1;
    vgpu_log_printf(d->log, VGPU_LOG_INFO, "%s: shutting down", signame);
    vgpu_server_stop_accepting(d->srv);
    (void)vgpu_mediator_shutdown(d->m); /* the core logs the count */
    vgpu_server_drain(d->srv, MAIN_DRAIN_MS);
    vgpu_log_printf(d->log, VGPU_LOG_INFO,
                    "shutdown: flushing %zu connection(s), at most %d ms",
                    vgpu_server_conn_count(d->srv), MAIN_DRAIN_MS);
    if (vgpu_event_timer_add(d->loop, MAIN_STOP_MS, main_stop_timer, d) < 0) {
        vgpu_event_loop_stop(d->loop);
    }
}

/* ops->admit: the registry is authoritative (SPEC.md section 9). */
static int
main_admit(void *opaque, uint32_t vm_id, uint8_t pool, uint8_t priority,
           char *why, size_t why_len)
{
    struct daemon *d = opaque;

    return vgpu_registry_admit(d->registry, vm_id, pool, priority, why,
                               why_len);
}

/* ops->limits: the registry's share and cap of a VM (SPEC.md section 9). */
static int
main_limits(void *opaque, uint32_t vm_id, uint32_t *share, uint32_t *cap)
{
    struct daemon *d = opaque;
    const struct vgpu_vm_entry *e = vgpu_registry_find_id(d->registry, vm_id);

    if (e == NULL) {
        return -ENOENT;
    }
    *share = e->share;
    *cap = e->cap;
    return 0;
}

/* Raise the soft RLIMIT_NOFILE to the hard limit (systemd starts services
 * at 1024 soft; the unit's LimitNOFILE sets the hard one), and derive the
 * connection cap from it unless max_connections is set. @line: what was
 * done, for the log. */
static void
main_raise_nofile(struct vgpu_server_config *scfg, char *line, size_t len)
{
    struct rlimit rl;
    unsigned long long before;

    if (getrlimit(RLIMIT_NOFILE, &rl) < 0) {
        rl.rlim_cur = rl.rlim_max = MAIN_NOFILE_UNKNOWN;
    }
    before = (unsigned long long)rl.rlim_cur;
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) < 0) {
            rl.rlim_cur = (rlim_t)before;
        }
    }
    if (scfg->max_connections == 0) {
        scfg->max_connections = vgpu_server_default_max_connections(
            (unsigned long long)rl.rlim_cur);
    }
    snprintf(line, len,
             "descriptors: soft limit %llu (was %llu); at most %zu device "
             "connections; HELLO within %u ms",
             (unsigned long long)rl.rlim_cur, before, scfg->max_connections,
             scfg->hello_timeout_ms);
}

/* SIGHUP's reload is done (reload.h): swap the new registry in, or keep
 * the one in force when the file did not load. Connections already
 * admitted stay up either way: the registry is checked at HELLO
 * (docs/admin-guide.md). */
static void
main_registry_reloaded(void *arg, struct vgpu_registry *reg, const char *err)
{
    struct daemon *d = arg;

    if (reg == NULL) {
        vgpu_log_printf(d->log, VGPU_LOG_ERROR,
                        "SIGHUP: registry not reloaded, keeping the one "
                        "loaded before (%zu VMs): %s",
                        vgpu_registry_count(d->registry), err);
        return;
    }
    vgpu_registry_destroy(d->registry);
    d->registry = reg;
    vgpu_log_printf(d->log, VGPU_LOG_INFO,
                    "SIGHUP: registry %s reloaded: %zu VMs",
                    d->cfg->registry_file, vgpu_registry_count(reg));
}

/* SIGHUP: read the registry again, aside (reload.h). */
static void
main_reload_registry(struct daemon *d)
{
    int rc;

    if (d->reload == NULL) {
        return;
    }
    rc = vgpu_reload_start(d->reload);
    if (rc < 0) {
        vgpu_log_printf(d->log, VGPU_LOG_ERROR,
                        "SIGHUP: registry not reloaded: no thread: %s",
                        strerror(-rc));
    }
}

static void
main_signal_event(struct vgpu_event_loop *loop, int fd, void *data, int mask)
{
    struct daemon *d = data;
    struct signalfd_siginfo si;

    while (read(fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
        switch (si.ssi_signo) {
        case SIGTERM:
            main_shutdown(d, "SIGTERM");
            break;
        case SIGINT:
            main_shutdown(d, "SIGINT");
            break;
        case SIGHUP:
            if (vgpu_log_reopen(d->log) == 0) {
                vgpu_log_printf(d->log, VGPU_LOG_INFO, "SIGHUP: log reopened");
            }
            main_reload_registry(d);
            break;
        default:
            break;
        }
    }
}

/* Block the signals the loop handles and open a signalfd for them. */
static int
main_signals(sigset_t *old)
{
    sigset_t set;
    int fd;

    /* A peer that hangs up must not kill the daemon: sends use
     * MSG_NOSIGNAL, and a log on a closed pipe gets EPIPE. */
    signal(SIGPIPE, SIG_IGN);
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    if (sigprocmask(SIG_BLOCK, &set, old) < 0) {
        return -errno;
    }
    fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (fd < 0) {
        int rc = -errno;

        sigprocmask(SIG_SETMASK, old, NULL);
        return rc;
    }
    return fd;
}

static void
main_log_start(const struct daemon *d)
{
    const struct vgpu_daemon_config *cfg = d->cfg;
    char pools[VGPU_POOL_COUNT * 48];
    size_t n = 0;

    pools[0] = '\0';
    for (size_t i = 0; i < VGPU_POOL_COUNT && n < sizeof(pools); i++) {
        if (cfg->pool_backend[i] != NULL) {
            n += (size_t)snprintf(pools + n, sizeof(pools) - n, " %c=%s",
                                  (char)(VGPU_POOL_FIRST + i),
                                  cfg->pool_backend[i]);
        }
    }
    vgpu_log_printf(
        d->log, VGPU_LOG_INFO,
        "vgpu-mediator %s listening on %s (control %s); policy=%s "
        "weights=%u:%u:%u max_wait_ms=%u vm_queue_cap=%u queue_inflight=%u "
        "request_memory_mib=%u output_kib=%u executors=%zu pools:%s "
        "default=%s",
        VGPU_VERSION_STRING, cfg->socket_path, cfg->control_path,
        vgpu_config_policy_name(cfg->policy),
        (unsigned)cfg->weights[VGPU_PRIO_HIGH],
        (unsigned)cfg->weights[VGPU_PRIO_MEDIUM],
        (unsigned)cfg->weights[VGPU_PRIO_LOW], (unsigned)cfg->max_wait_ms,
        (unsigned)cfg->vm_queue_cap, (unsigned)cfg->queue_inflight,
        (unsigned)cfg->request_memory_mib, (unsigned)cfg->output_kib,
        vgpu_executors_count(d->x), n ? pools : " (none)",
        cfg->default_backend);
}

/* A failure at start: to stderr, and to the log when it is a file. */
static int
main_fail(const struct daemon *d, int status, const char *what)
{
    fprintf(stderr, "%s: %s\n", MAIN_PROG, what);
    if (d->log != NULL && d->cfg->log_file != NULL) {
        vgpu_log_write(d->log, VGPU_LOG_ERROR, what);
    }
    return status;
}

/* The CUDA fallback (backends.h), before any backend is opened: 1 when a
 * cuda pool cannot run here and cuda_fallback = fail, 2 for a bad spec. */
static int
main_cuda_fallback(struct vgpu_daemon_config *cfg, char *note, size_t note_len)
{
    char err[512];
    int rc;

    rc = vgpu_backends_apply_fallback(cfg, note, note_len, err, sizeof(err));
    if (rc < 0) {
        fprintf(stderr, "%s: %s\n", MAIN_PROG, err);
        return rc == -EINVAL ? MAIN_EXIT_CONFIG : MAIN_EXIT_FAIL;
    }
    return MAIN_EXIT_OK;
}

/* @note: the CUDA fallback's log line, "" if none. */
static int
main_run(const struct vgpu_daemon_config *cfg, const char *note)
{
    struct vgpu_server_config scfg = {
        .socket_path = cfg->socket_path,
        .control_path = cfg->control_path,
        .output_cap = (size_t)cfg->output_kib * 1024u,
        .hello_timeout_ms = cfg->hello_timeout_ms,
        .max_connections = cfg->max_connections,
    };
    char limits[192];
    struct daemon d = {.cfg = cfg, .sigfd = -1};
    struct vgpu_mediator_config core;
    sigset_t old_mask;
    char err[512];
    int status;
    int rc;

    if (vgpu_config_check_backends(cfg, err, sizeof(err)) < 0) {
        return main_fail(&d, MAIN_EXIT_CONFIG, err);
    }
    if (cfg->registry_file != NULL) {
        d.registry = vgpu_reload_registry(cfg->registry_file, err, sizeof(err));
        if (d.registry == NULL) {
            return main_fail(&d, MAIN_EXIT_CONFIG, err);
        }
    }
    d.log = vgpu_log_create(cfg->log_file, cfg->log_level, err, sizeof(err));
    if (d.log == NULL) {
        status = main_fail(&d, MAIN_EXIT_FAIL, err);
        goto err;
    }
    if (note[0] != '\0') {
        vgpu_log_write(d.log, VGPU_LOG_WARN, note);
    }
    main_raise_nofile(&scfg, limits, sizeof(limits));
    vgpu_log_write(d.log, VGPU_LOG_INFO, limits);
    d.sigfd = main_signals(&old_mask);
    if (d.sigfd < 0) {
        snprintf(err, sizeof(err), "signalfd: %s", strerror(-d.sigfd));
        status = main_fail(&d, MAIN_EXIT_FAIL, err);
        goto err_log;
    }
    d.loop = vgpu_event_loop_create();
    if (d.loop == NULL) {
        status = main_fail(&d, MAIN_EXIT_FAIL, "cannot create the event loop");
        goto err_signals;
    }
    d.srv = vgpu_server_create(d.loop, d.log, &scfg);
    if (d.srv == NULL) {
        status = main_fail(&d, MAIN_EXIT_FAIL, "out of memory");
        goto err_loop;
    }
    vgpu_server_fill_ops(&d.ops);
    d.ops.now_ns = main_now_ns;
    d.ops.log = main_log;
    d.ops.admit = d.registry != NULL ? main_admit : NULL;
    d.ops.limits = d.registry != NULL ? main_limits : NULL;
    vgpu_config_to_core(cfg, &core);
    d.m = vgpu_mediator_create(&core, &d.ops, &d, err, sizeof(err));
    if (d.m == NULL) {
        status = main_fail(&d, MAIN_EXIT_FAIL, err);
        goto err_server;
    }
    vgpu_server_set_mediator(d.srv, d.m);
    d.x = vgpu_executors_create(d.loop, d.m, &core, cfg->cpu_workers, err,
                                sizeof(err));
    if (d.x == NULL) {
        status = main_fail(&d, MAIN_EXIT_FAIL, err);
        goto err_mediator;
    }
    rc = vgpu_server_listen(d.srv, err, sizeof(err));
    if (rc < 0) {
        status = main_fail(&d, MAIN_EXIT_FAIL, err);
        goto err_mediator;
    }
    rc =
        vgpu_event_add(d.loop, d.sigfd, VGPU_EVENT_READ, main_signal_event, &d);
    if (rc < 0) {
        snprintf(err, sizeof(err), "signalfd: %s", vgpu_strerror(rc));
        status = main_fail(&d, MAIN_EXIT_FAIL, err);
        goto err_mediator;
    }
    if (d.registry != NULL) {
        d.reload = vgpu_reload_create(d.loop, cfg->registry_file,
                                      main_registry_reloaded, &d);
        if (d.reload == NULL) {
            status = main_fail(&d, MAIN_EXIT_FAIL,
                               "cannot set up the registry's reload");
            goto err_mediator;
        }
    }
    if (cfg->legacy_dir != NULL) {
        d.legacy = vgpu_legacy_create(d.loop, d.log, d.m, cfg->legacy_dir, err,
                                      sizeof(err));
        if (d.legacy == NULL) {
            status = main_fail(&d, MAIN_EXIT_FAIL, err);
            goto err_mediator;
        }
    }
    if (cfg->metrics_listen != NULL) {
        main_metrics_info(&d);
        d.metrics = vgpu_metrics_start(d.loop, d.log, d.m, &d.metrics_info,
                                       cfg->metrics_listen, err, sizeof(err));
        if (d.metrics == NULL) {
            status = main_fail(&d, MAIN_EXIT_FAIL, err);
            goto err_mediator;
        }
    }
    vgpu_event_set_before_sleep(d.loop, main_before_sleep, &d);
    main_log_start(&d);
    if (d.registry != NULL) {
        vgpu_log_printf(d.log, VGPU_LOG_INFO,
                        "registry %s: %zu VMs; any other vm_id is refused",
                        cfg->registry_file, vgpu_registry_count(d.registry));
    }

    rc = vgpu_event_loop_run(d.loop);
    if (rc < 0) {
        vgpu_log_printf(d.log, VGPU_LOG_ERROR, "event loop: %s",
                        vgpu_strerror(rc));
    }
    status = rc < 0 ? MAIN_EXIT_FAIL : MAIN_EXIT_OK;
    vgpu_event_del(d.loop, d.sigfd, VGPU_EVENT_READ);
    vgpu_server_stop_accepting(d.srv);
    vgpu_log_printf(d.log, VGPU_LOG_INFO, "stopped");

err_mediator:
    /* What runs ends and is answered first, then the connections: the core
     * frees nothing on its own. */
    vgpu_metrics_stop(d.metrics);
    vgpu_executors_destroy(d.x);
    vgpu_reload_destroy(d.reload);
    vgpu_legacy_destroy(d.legacy);
    vgpu_server_close_all(d.srv);
    vgpu_mediator_destroy(d.m);
err_server:
    vgpu_server_destroy(d.srv);
err_loop:
    vgpu_event_loop_destroy(d.loop);
err_signals:
    close(d.sigfd);
    sigprocmask(SIG_SETMASK, &old_mask, NULL);
err_log:
    vgpu_log_destroy(d.log);
err:
    vgpu_registry_destroy(d.registry);
    return status;
}

/* --stats: ask the daemon at the control socket and print its answer. */
static int
main_stats(const struct vgpu_daemon_config *cfg)
{
    char *text = NULL;
    int rc;

    rc = vgpu_ctl_query_within(
        cfg->control_path, VGPU_CTL_STATS,
        cfg->reconnect_ms >= 0 ? cfg->reconnect_ms : VGPU_CTL_RECONNECT_MS,
        MAIN_STATS_TIMEOUT_MS, VGPU_CTL_ANSWER_MAX, &text);
    if (rc < 0) {
        fprintf(stderr, "%s: cannot reach the mediator at %s: %s\n", MAIN_PROG,
                cfg->control_path, strerror(-rc));
        return MAIN_EXIT_FAIL;
    }
    fputs(text, stdout);
    free(text);
    return fflush(stdout) == 0 ? MAIN_EXIT_OK : MAIN_EXIT_FAIL;
}

/* A file's error already names the file ("PATH:LINE: ..."); a flag's error
 * gets the program's name. */
static void
main_config_error(const struct vgpu_daemon_config *cfg, const char *err)
{
    const char *file = cfg->config_file;
    size_t len = file ? strlen(file) : 0;

    if (file != NULL && strncmp(err, file, len) == 0 && err[len] == ':') {
        fprintf(stderr, "%s\n", err);
    } else {
        fprintf(stderr, "%s: %s\n", MAIN_PROG, err);
    }
}

int
main(int argc, char **argv)
{
    struct vgpu_daemon_config cfg;
    char note[1024] = "";
    char err[512];
    int status;
    int rc;

    if (vgpu_config_init(&cfg) < 0) {
        fprintf(stderr, "%s: out of memory\n", MAIN_PROG);
        return MAIN_EXIT_FAIL;
    }
    rc = vgpu_config_parse_args(&cfg, argc, argv, err, sizeof(err));
    if (rc < 0) {
        main_config_error(&cfg, err);
        vgpu_config_fini(&cfg);
        return rc == -ENOMEM ? MAIN_EXIT_FAIL : MAIN_EXIT_CONFIG;
    }
    switch (cfg.action) {
    case VGPU_CONFIG_HELP:
        vgpu_config_usage(stdout, MAIN_PROG);
        status = MAIN_EXIT_OK;
        break;
    case VGPU_CONFIG_VERSION:
        printf("%s %s\n", MAIN_PROG, VGPU_VERSION_STRING);
        status = MAIN_EXIT_OK;
        break;
    case VGPU_CONFIG_CHECK:
        rc = vgpu_config_check_file(cfg.check_file, err, sizeof(err));
        if (rc == 0) {
            printf("%s: ok\n", cfg.check_file);
            status = MAIN_EXIT_OK;
        } else {
            fprintf(stderr, "%s\n", err);
            status = rc == -ENOMEM ? MAIN_EXIT_FAIL : MAIN_EXIT_CONFIG;
        }
        break;
    case VGPU_CONFIG_STATS:
        status = main_stats(&cfg);
        break;
    case VGPU_CONFIG_BACKENDS:
        status =
            vgpu_backends_report(stdout) == 0 ? MAIN_EXIT_OK : MAIN_EXIT_FAIL;
        break;
    default:
        status = main_cuda_fallback(&cfg, note, sizeof(note));
        if (status == MAIN_EXIT_OK) {
            status = main_run(&cfg, note);
        }
        break;
    }
    vgpu_config_fini(&cfg);
    return status;
}
