/*
 * The daemon's configuration: defaults, then an INI file (libinih), then the
 * command line, each overriding the one before (the interface is fixed in
 * the project conventions and repeated by `vgpu-mediator --help`).
 *
 * Every bad input gives one line that names the flag or the file, line and
 * key, and the value, e.g.
 *   --policy: 'fast' is not one of priority, weighted
 *   mediator.conf:3: policy: 'fast' is not one of priority, weighted
 * and the daemon exits 2 with it.
 *
 * Threading: not thread-safe (getopt_long() keeps global state).
 */
#ifndef VGPU_MEDIATOR_CONFIG_H
#define VGPU_MEDIATOR_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "vgpu/mediator.h"
#include "vgpu/regs.h"

/* What the command line asks the program to do. */
#define VGPU_CONFIG_RUN     0 /* serve */
#define VGPU_CONFIG_HELP    1 /* --help */
#define VGPU_CONFIG_VERSION 2 /* --version */
#define VGPU_CONFIG_CHECK   3 /* --check-config FILE */
#define VGPU_CONFIG_STATS   4 /* --stats */

/* --backends: list the backends of this build and whether each can run. */
#define VGPU_CONFIG_BACKENDS 5

/* cuda_fallback: what a pool mapped to "cuda" does on a machine that cannot
 * run CUDA (docs/backends.md). */
#define VGPU_CONFIG_CUDA_FALLBACK_CPU  0 /* run it on cpu, say so once */
#define VGPU_CONFIG_CUDA_FALLBACK_FAIL 1 /* refuse to start (exit 1) */

/* Each connection's output buffer, in KiB. The minimum holds one frame with
 * the largest payload the mediator sends (VGPU_BUF_SIZE) and its header. */
#define VGPU_CONFIG_DEFAULT_OUTPUT_KIB 256u
#define VGPU_CONFIG_MIN_OUTPUT_KIB     2u
#define VGPU_CONFIG_MAX_OUTPUT_KIB     65536u

/* hello_timeout_ms: how long a new connection (device or control) may stay
 * silent before it is closed; bounds 100 ms .. 10 min. */
#define VGPU_CONFIG_DEFAULT_HELLO_TIMEOUT_MS 5000u
#define VGPU_CONFIG_MIN_HELLO_TIMEOUT_MS     100u
#define VGPU_CONFIG_MAX_HELLO_TIMEOUT_MS     600000u
/* max_connections: device connections at once; 0 (the default) derives it
 * from RLIMIT_NOFILE (server.h, VGPU_SERVER_FD_RESERVE). */
#define VGPU_CONFIG_MAX_CONNECTIONS          1000000u
/* --reconnect-ms (--stats): at most an hour. */
#define VGPU_CONFIG_MAX_RECONNECT_MS         3600000u

/* Bounds of the numeric settings. */
#define VGPU_CONFIG_MAX_WAIT_MS_MAX            3600000u
#define VGPU_CONFIG_QUEUE_CAP_MIN              1u
#define VGPU_CONFIG_QUEUE_CAP_MAX              65536u
/* queue_inflight: 1 .. VGPU_MEDIATOR_MAX_INFLIGHT (a ring's 256 entries). */
#define VGPU_CONFIG_QUEUE_INFLIGHT_MIN         1u
/* request_memory_mib: the bytes of requests held over all connections.
 * At least one 1 MiB request; at most 1 TiB. The default, 1 GiB, is
 * VGPU_MEDIATOR_DEFAULT_REQUEST_MEMORY. */
#define VGPU_CONFIG_REQUEST_MEMORY_MIB_MIN     1u
#define VGPU_CONFIG_REQUEST_MEMORY_MIB_MAX     1048576u
#define VGPU_CONFIG_DEFAULT_REQUEST_MEMORY_MIB 1024u
#define VGPU_CONFIG_WEIGHT_MIN                 1u
#define VGPU_CONFIG_WEIGHT_MAX                 1000u
#define VGPU_CONFIG_CPU_WORKERS_MIN            1u
#define VGPU_CONFIG_CPU_WORKERS_MAX            64u

/* The control socket's default path is the device socket's plus this. */
#define VGPU_CONFIG_CONTROL_SUFFIX ".ctl"

/* The longest socket path (sun_path less its NUL). */
#define VGPU_CONFIG_SOCKET_PATH_MAX 107u

struct vgpu_daemon_config {
    int action;        /* VGPU_CONFIG_* */
    char *config_file; /* --config; NULL: none */
    char *check_file;  /* --check-config */
    int reconnect_ms;  /* --reconnect-ms: --stats's window; -1: default */
    char *socket_path;
    char *control_path; /* set by vgpu_config_parse_args() when not given */
    int policy;         /* VGPU_SCHED_PRIORITY or VGPU_SCHED_WEIGHTED */
    /* vm_share, --vm-share: VGPU_SHARE_* of each pool (pool - 'A'). */
    uint8_t vm_share[VGPU_POOL_COUNT];
    uint32_t weights[VGPU_PRIO_COUNT]; /* indexed by VGPU_PRIO_* */
    uint32_t max_wait_ms;
    uint32_t vm_queue_cap;
    uint32_t queue_inflight;     /* queue_inflight, --queue-inflight */
    uint32_t request_memory_mib; /* request_memory_mib, MiB */
    /* "<name>[:<spec>]" per pool, indexed by letter - VGPU_POOL_FIRST;
     * NULL: default_backend. */
    char *pool_backend[VGPU_POOL_COUNT];
    char *default_backend;
    uint32_t output_kib;
    uint32_t hello_timeout_ms; /* hello_timeout_ms, --hello-timeout-ms */
    uint32_t max_connections;  /* max_connections; 0: from RLIMIT_NOFILE */
    int log_level;             /* VGPU_LOG_* */
    char *log_file;            /* NULL: stderr */

    /* VGPU_CONFIG_CUDA_FALLBACK_*: cuda_fallback, --cuda-fallback. */
    int cuda_fallback;
    /* --registry: the VM registry (vgpu/registry.h), authoritative when
     * set; NULL: none, every VM is served. */
    char *registry_file;
    char *legacy_dir; /* --legacy-dir: the legacy file transport; NULL: off */
    /* cpu_workers, --cpu-workers: executor threads of each "cpu" backend
     * string, 1..VGPU_CONFIG_CPU_WORKERS_MAX; 0 (the default): the number
     * of online cores. */
    uint32_t cpu_workers;
    /* metrics_listen: the metrics endpoint (metrics.h), "unix:PATH" or
     * "ADDRESS:PORT"; NULL (the default): off. */
    char *metrics_listen;
};

/**
 * vgpu_config_init() - fill @cfg with the defaults (the core's, from
 * vgpu_mediator_config_default(), and the daemon's). The caller owns @cfg
 * and releases it with vgpu_config_fini().
 * Return: 0, or -ENOMEM.
 */
int vgpu_config_init(struct vgpu_daemon_config *cfg);

/** vgpu_config_fini() - free the strings @cfg owns. */
void vgpu_config_fini(struct vgpu_daemon_config *cfg);

/**
 * vgpu_config_load_file() - apply the INI file at @path over @cfg.
 * Sections [mediator] and [pools]; unknown sections and keys are errors.
 * @err: receives "PATH:LINE: key: 'value' ..." (or "PATH: reason").
 * Return: 0, -EINVAL for a bad file (cannot be read, syntax, value), or
 * -ENOMEM. On failure @cfg may hold the settings before the bad line.
 */
int vgpu_config_load_file(struct vgpu_daemon_config *cfg, const char *path,
                          char *err, size_t err_len);

/**
 * vgpu_config_load_string() - apply INI text over @cfg, exactly as
 * vgpu_config_load_file() applies a file (the fuzz harness and tests use it,
 * so no file is needed).
 * @name:      what messages call the text, in place of the file's path.
 * @text, @len: the INI text; need not be NUL-terminated; read only during
 *             the call. A NUL byte ends its line.
 * @err:       as for vgpu_config_load_file(), with @name for the path.
 * Return: 0, -EINVAL for bad text, or -ENOMEM.
 */
int vgpu_config_load_string(struct vgpu_daemon_config *cfg, const char *name,
                            const char *text, size_t len, char *err,
                            size_t err_len);

/**
 * vgpu_config_parse_args() - the command line: sets cfg->action; for
 * VGPU_CONFIG_RUN and VGPU_CONFIG_STATS also loads --config and then
 * applies the other flags over it, and derives the control path. For
 * VGPU_CONFIG_CHECK nothing but the action and check_file is set: call
 * vgpu_config_check_file().
 * @argv: not permuted (options end at the first non-option, which is an
 *        error); not kept.
 * @err:  receives "--flag: 'value' ..." or "unknown option '--x'" (the
 *        caller adds the program's name), or the error of the --config file,
 *        which starts with its path ("PATH:LINE: key: ...") and is printed
 *        as is.
 * Return: 0, -EINVAL for a bad flag or file, or -ENOMEM.
 */
int vgpu_config_parse_args(struct vgpu_daemon_config *cfg, int argc,
                           char **argv, char *err, size_t err_len);

/**
 * vgpu_config_finish() - derive what was left to derive (the control path)
 * and check the settings against each other.
 * Return: 0, -EINVAL (with @err) or -ENOMEM.
 */
int vgpu_config_finish(struct vgpu_daemon_config *cfg, char *err,
                       size_t err_len);

/**
 * vgpu_config_check_backends() - open and close each configured backend
 * once, so that a spec the backend refuses ("cpu:delay_us=x") is a
 * configuration error rather than a failure at start.
 * Return: 0, or a negative code with @err naming the pool and its value.
 */
int vgpu_config_check_backends(const struct vgpu_daemon_config *cfg, char *err,
                               size_t err_len);

/**
 * vgpu_config_check_file() - the whole of --check-config: the defaults, the
 * file at @path, vgpu_config_finish(), the CUDA fallback as at start
 * (vgpu_backends_apply_fallback()) and vgpu_config_check_backends().
 * Return: 0 (the file is good), or a negative code with @err set.
 */
int vgpu_config_check_file(const char *path, char *err, size_t err_len);

/**
 * vgpu_config_to_core() - the core's configuration. Its strings point into
 * @cfg, which must outlive every use of @core.
 */
void vgpu_config_to_core(const struct vgpu_daemon_config *cfg,
                         struct vgpu_mediator_config *core);

/** vgpu_config_usage() - the --help text, every option, to @out. */
void vgpu_config_usage(FILE *out, const char *prog);

/** vgpu_config_policy_name() - "priority" or "weighted". Static string. */
const char *vgpu_config_policy_name(int policy);

#endif /* VGPU_MEDIATOR_CONFIG_H */
