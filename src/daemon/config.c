/*
 * The daemon's configuration (config.h): one setter per key, shared by the
 * INI file (config_file.c) and the command line (config_cli.c), so both
 * check a value the same way and differ only in how they name it
 * ("PATH:LINE: key" or "--flag"); and the checks of a finished
 * configuration.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends.h"
#include "config_internal.h"
#include "log.h"
#include "metrics.h"
#include "util.h"
#include "vgpu/backend.h"
#include "vgpu/scheduler.h"

static const char *const config_policy_names[] = {
    [VGPU_SCHED_PRIORITY] = "priority",
    [VGPU_SCHED_WEIGHTED] = "weighted",
};

const char *
vgpu_config_policy_name(int policy)
{
    if (policy == VGPU_SCHED_PRIORITY || policy == VGPU_SCHED_WEIGHTED) {
        return config_policy_names[policy];
    }
    return "?";
}

void
vgpu_config_replace(char **slot, char *value)
{
    free(*slot);
    *slot = value;
}

int
vgpu_config_init(struct vgpu_daemon_config *cfg)
{
    struct vgpu_mediator_config core;

    memset(cfg, 0, sizeof(*cfg));
    vgpu_mediator_config_default(&core);
    cfg->action = VGPU_CONFIG_RUN;
    cfg->policy = core.policy;
    memcpy(cfg->weights, core.weights, sizeof(cfg->weights));
    cfg->max_wait_ms = core.max_wait_ms;
    cfg->vm_queue_cap = core.vm_queue_cap;
    cfg->queue_inflight = core.queue_inflight;
    cfg->request_memory_mib = (uint32_t)(core.request_memory >> 20);
    cfg->output_kib = VGPU_CONFIG_DEFAULT_OUTPUT_KIB;
    cfg->hello_timeout_ms = VGPU_CONFIG_DEFAULT_HELLO_TIMEOUT_MS;
    cfg->reconnect_ms = -1;
    cfg->log_level = VGPU_LOG_INFO;
    cfg->socket_path = strdup(VGPU_DEFAULT_SOCKET);
    cfg->default_backend = strdup(core.default_backend ? core.default_backend
                                                       : VGPU_BACKEND_CPU_NAME);
    if (cfg->socket_path == NULL || cfg->default_backend == NULL) {
        vgpu_config_fini(cfg);
        return -ENOMEM;
    }
    return 0;
}

void
vgpu_config_fini(struct vgpu_daemon_config *cfg)
{
    free(cfg->config_file);
    free(cfg->check_file);
    free(cfg->socket_path);
    free(cfg->control_path);
    for (size_t i = 0; i < VGPU_POOL_COUNT; i++) {
        free(cfg->pool_backend[i]);
    }
    free(cfg->default_backend);
    free(cfg->log_file);
    free(cfg->registry_file);
    free(cfg->metrics_listen);
    free(cfg->legacy_dir);
    memset(cfg, 0, sizeof(*cfg));
}

/* ---- Values --------------------------------------------------------------
 * Each parser writes the reason into why[] ("'x' is not ...") and returns
 * -EINVAL, or returns 0. */

static int config_why(char *why, size_t why_len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
config_why(char *why, size_t why_len, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(why, why_len, fmt, ap);
    va_end(ap);
    return -EINVAL;
}

static int
config_parse_path(const char *value, size_t max, char **out, char *why,
                  size_t why_len)
{
    char *copy;

    if (*value == '\0') {
        return config_why(why, why_len, "'' is not a path");
    }
    if (max != 0 && strlen(value) > max) {
        return config_why(why, why_len,
                          "'%s' is longer than %zu bytes, the limit of a "
                          "Unix socket path",
                          value, max);
    }
    copy = strdup(value);
    if (copy == NULL) {
        return -ENOMEM;
    }
    vgpu_config_replace(out, copy);
    return 0;
}

/* The backends a pool may name, for messages: "cpu, cuda". "cuda" is one
 * even in a build without it: such a pool falls back to cpu at start, or
 * stops the daemon, as cuda_fallback says (backends.c). */
static void
config_known_backends(char *buf, size_t len)
{
    static const char *const names[] = {VGPU_BACKEND_CPU_NAME,
                                        VGPU_BACKEND_CUDA_NAME};
    size_t n = 0;

    buf[0] = '\0';
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (n < len) {
            n += (size_t)snprintf(buf + n, len - n, "%s%s", n ? ", " : "",
                                  names[i]);
        }
    }
}

/* "<name>[:<spec>]" with a name this build has. */
/* Whether the backend string @item (@len bytes) names a backend. */
static int
config_names_backend(const char *item, size_t len)
{
    char name[32];
    size_t n = strcspn(item, ":");

    if (n > len) {
        n = len;
    }
    if (n == 0 || n >= sizeof(name)) {
        return 0;
    }
    memcpy(name, item, n);
    name[n] = '\0';
    return vgpu_backend_find(name) != NULL ||
           strcmp(name, VGPU_BACKEND_CUDA_NAME) == 0;
}

/* A pool's backend is one string or a list of them, "cuda:0, cuda:1" (one
 * executor per item): each item is checked, and the list is stored without
 * blanks ("cuda:0,cuda:1"), as backends.h's list helper reads it. */
int
vgpu_config_parse_backend(const char *value, char **out, char *why,
                          size_t why_len)
{
    char known[64];
    char *copy = malloc(strlen(value) + 1);
    size_t n = 0;
    const char *p = value;

    if (copy == NULL) {
        return -ENOMEM;
    }
    for (;;) {
        size_t len;

        p += strspn(p, " \t");
        len = strcspn(p, ",");
        while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t')) {
            len--;
        }
        if (len == 0 || len >= VGPU_BACKENDS_ITEM_MAX ||
            memchr(p, ' ', len) != NULL || !config_names_backend(p, len)) {
            free(copy);
            config_known_backends(known, sizeof(known));
            return config_why(why, why_len,
                              "'%s' does not name a backend (known: %s; the "
                              "form is NAME[:SPEC], or a list NAME[:SPEC], "
                              "NAME[:SPEC] ...)",
                              value, known);
        }
        memcpy(copy + n, p, len);
        n += len;
        p += strcspn(p, ",");
        if (*p != ',') {
            break;
        }
        copy[n++] = ',';
        p++;
    }
    copy[n] = '\0';
    vgpu_config_replace(out, copy);
    return 0;
}

int
vgpu_config_pool_index(const char *letter, size_t len, size_t *index)
{
    uint8_t pool;

    if (vgpu_pool_parse(letter, len, 0, &pool) < 0) {
        return -EINVAL;
    }
    *index = (size_t)(pool - VGPU_POOL_FIRST);
    return 0;
}

/* "H:M:L", each VGPU_CONFIG_WEIGHT_MIN..MAX. */
static int
config_parse_weights(struct vgpu_daemon_config *cfg, const char *value,
                     char *why, size_t why_len)
{
    static const uint8_t order[VGPU_PRIO_COUNT] = {
        VGPU_PRIO_HIGH, VGPU_PRIO_MEDIUM, VGPU_PRIO_LOW};
    uint32_t w[VGPU_PRIO_COUNT];
    const char *p = value;
    char part[16];
    char sub[64];

    for (size_t i = 0; i < VGPU_PRIO_COUNT; i++) {
        size_t len = strcspn(p, ":");
        int last = i + 1 == VGPU_PRIO_COUNT;

        if (len >= sizeof(part) || (last ? p[len] != '\0' : p[len] != ':')) {
            goto bad;
        }
        memcpy(part, p, len);
        part[len] = '\0';
        if (vgpu_parse_u32(part, VGPU_CONFIG_WEIGHT_MIN, VGPU_CONFIG_WEIGHT_MAX,
                           &w[i], sub, sizeof(sub)) < 0) {
            goto bad;
        }
        p += len + (last ? 0 : 1);
    }
    for (size_t i = 0; i < VGPU_PRIO_COUNT; i++) {
        cfg->weights[order[i]] = w[i];
    }
    return 0;

bad:
    return config_why(why, why_len,
                      "'%s' is not H:M:L with each weight an integer in "
                      "%u..%u",
                      value, (unsigned)VGPU_CONFIG_WEIGHT_MIN,
                      (unsigned)VGPU_CONFIG_WEIGHT_MAX);
}

/* --pool "L=BACKEND". */
static int
config_parse_pool_flag(struct vgpu_daemon_config *cfg, const char *value,
                       char *why, size_t why_len)
{
    const char *eq = strchr(value, '=');
    char sub[192];
    size_t index;
    int rc;

    if (eq == NULL ||
        vgpu_config_pool_index(value, (size_t)(eq - value), &index) < 0) {
        return config_why(why, why_len,
                          "'%s' is not L=BACKEND with L one letter %c-%c",
                          value, VGPU_POOL_FIRST, VGPU_POOL_LAST);
    }
    rc = vgpu_config_parse_backend(eq + 1, &cfg->pool_backend[index], sub,
                                   sizeof(sub));
    if (rc == -EINVAL) {
        return config_why(why, why_len, "pool %c: %s", value[0], sub);
    }
    return rc;
}

/* vm_share: "MODE" for every pool, or "A:MODE,B:MODE" per pool. */
static int
config_parse_vm_share(struct vgpu_daemon_config *cfg, const char *value,
                      char *why, size_t why_len)
{
    uint8_t modes[VGPU_POOL_COUNT];
    char name[16];
    int mode;

    memcpy(modes, cfg->vm_share, sizeof(modes));
    if (value[0] == '\0') {
        return config_why(why, why_len,
                          "empty (best_effort, equal, fixed, or a list such "
                          "as A:fixed,B:equal)");
    }
    if (vgpu_sched_share_lookup(value, &mode) == 0) {
        memset(cfg->vm_share, mode, sizeof(cfg->vm_share));
        return 0;
    }
    for (const char *p = value; *p != '\0';) {
        size_t len = strcspn(p, ",");
        size_t index;

        if (len < 3 || p[1] != ':' || len - 2 >= sizeof(name) ||
            vgpu_config_pool_index(p, 1, &index) < 0) {
            return config_why(why, why_len,
                              "'%s' is not best_effort, equal, fixed or a "
                              "list such as A:fixed,B:equal",
                              value);
        }
        memcpy(name, p + 2, len - 2);
        name[len - 2] = '\0';
        if (vgpu_sched_share_lookup(name, &mode) < 0) {
            return config_why(why, why_len,
                              "pool %c: '%s' is not best_effort, equal or "
                              "fixed",
                              p[0], name);
        }
        modes[index] = (uint8_t)mode;
        p += len;
        if (*p == ',') {
            p++;
        }
    }
    memcpy(cfg->vm_share, modes, sizeof(modes));
    return 0;
}

int
vgpu_config_set_key(struct vgpu_daemon_config *cfg, enum config_key key,
                    const char *value, char *why, size_t why_len)
{
    uint32_t u = 0;
    int rc;

    switch (key) {
    case KEY_SOCKET:
        return config_parse_path(value, VGPU_CONFIG_SOCKET_PATH_MAX,
                                 &cfg->socket_path, why, why_len);
    case KEY_CONTROL:
        return config_parse_path(value, VGPU_CONFIG_SOCKET_PATH_MAX,
                                 &cfg->control_path, why, why_len);
    case KEY_POLICY:
        for (int p = VGPU_SCHED_PRIORITY; p <= VGPU_SCHED_WEIGHTED; p++) {
            if (strcmp(value, config_policy_names[p]) == 0) {
                cfg->policy = p;
                return 0;
            }
        }
        return config_why(why, why_len, "'%s' is not one of %s, %s", value,
                          config_policy_names[VGPU_SCHED_PRIORITY],
                          config_policy_names[VGPU_SCHED_WEIGHTED]);
    case KEY_WEIGHTS:
        return config_parse_weights(cfg, value, why, why_len);
    case KEY_VM_SHARE:
        return config_parse_vm_share(cfg, value, why, why_len);
    case KEY_WEIGHT_HIGH:
        return vgpu_parse_u32(value, VGPU_CONFIG_WEIGHT_MIN,
                              VGPU_CONFIG_WEIGHT_MAX,
                              &cfg->weights[VGPU_PRIO_HIGH], why, why_len);
    case KEY_WEIGHT_MEDIUM:
        return vgpu_parse_u32(value, VGPU_CONFIG_WEIGHT_MIN,
                              VGPU_CONFIG_WEIGHT_MAX,
                              &cfg->weights[VGPU_PRIO_MEDIUM], why, why_len);
    case KEY_WEIGHT_LOW:
        return vgpu_parse_u32(value, VGPU_CONFIG_WEIGHT_MIN,
                              VGPU_CONFIG_WEIGHT_MAX,
                              &cfg->weights[VGPU_PRIO_LOW], why, why_len);
    case KEY_MAX_WAIT_MS:
        return vgpu_parse_u32(value, 0, VGPU_CONFIG_MAX_WAIT_MS_MAX,
                              &cfg->max_wait_ms, why, why_len);
    case KEY_VM_QUEUE_CAP:
        return vgpu_parse_u32(value, VGPU_CONFIG_QUEUE_CAP_MIN,
                              VGPU_CONFIG_QUEUE_CAP_MAX, &cfg->vm_queue_cap,
                              why, why_len);
    case KEY_QUEUE_INFLIGHT:
        return vgpu_parse_u32(value, VGPU_CONFIG_QUEUE_INFLIGHT_MIN,
                              VGPU_MEDIATOR_MAX_INFLIGHT, &cfg->queue_inflight,
                              why, why_len);
    case KEY_REQUEST_MEMORY_MIB:
        return vgpu_parse_u32(value, VGPU_CONFIG_REQUEST_MEMORY_MIB_MIN,
                              VGPU_CONFIG_REQUEST_MEMORY_MIB_MAX,
                              &cfg->request_memory_mib, why, why_len);
    case KEY_POOL:
        return config_parse_pool_flag(cfg, value, why, why_len);
    case KEY_DEFAULT_BACKEND:
        return vgpu_config_parse_backend(value, &cfg->default_backend, why,
                                         why_len);
    case KEY_OUTPUT_KIB:
        rc = vgpu_parse_u32(value, VGPU_CONFIG_MIN_OUTPUT_KIB,
                            VGPU_CONFIG_MAX_OUTPUT_KIB, &u, why, why_len);
        if (rc == 0) {
            cfg->output_kib = u;
        }
        return rc;
    case KEY_CPU_WORKERS:
        return vgpu_parse_u32(value, VGPU_CONFIG_CPU_WORKERS_MIN,
                              VGPU_CONFIG_CPU_WORKERS_MAX, &cfg->cpu_workers,
                              why, why_len);
    case KEY_HELLO_TIMEOUT_MS:
        return vgpu_parse_u32(value, VGPU_CONFIG_MIN_HELLO_TIMEOUT_MS,
                              VGPU_CONFIG_MAX_HELLO_TIMEOUT_MS,
                              &cfg->hello_timeout_ms, why, why_len);
    case KEY_MAX_CONNECTIONS:
        return vgpu_parse_u32(value, 0, VGPU_CONFIG_MAX_CONNECTIONS,
                              &cfg->max_connections, why, why_len);
    case KEY_LOG_LEVEL:
        rc = vgpu_log_level_parse(value);
        if (rc < 0) {
            return config_why(why, why_len, "'%s' is not one of %s, %s, %s, %s",
                              value, vgpu_log_level_name(VGPU_LOG_ERROR),
                              vgpu_log_level_name(VGPU_LOG_WARN),
                              vgpu_log_level_name(VGPU_LOG_INFO),
                              vgpu_log_level_name(VGPU_LOG_DEBUG));
        }
        cfg->log_level = rc;
        return 0;
    /* A path of the wrong type is refused here, naming what it is; one
     * that does not exist yet is created (the log, the legacy directory)
     * or refused when it is read (the registry). */
    case KEY_LOG_FILE:
        rc = vgpu_path_check(value, VGPU_PATH_FILE, 1, why, why_len);
        return rc < 0
                   ? rc
                   : config_parse_path(value, 0, &cfg->log_file, why, why_len);
    case KEY_LEGACY_DIR:
        rc = vgpu_path_check(value, VGPU_PATH_DIR, 1, why, why_len);
        return rc < 0 ? rc
                      : config_parse_path(value, 0, &cfg->legacy_dir, why,
                                          why_len);
    case KEY_METRICS_LISTEN:
        rc = vgpu_metrics_check_listen(value, why, why_len);
        return rc < 0 ? rc
                      : config_parse_path(value, 0, &cfg->metrics_listen, why,
                                          why_len);
    case KEY_REGISTRY:
        rc = vgpu_path_check(value, VGPU_PATH_FILE, 1, why, why_len);
        return rc < 0 ? rc
                      : config_parse_path(value, 0, &cfg->registry_file, why,
                                          why_len);
    case KEY_CUDA_FALLBACK:
        if (strcmp(value, "cpu") == 0 || strcmp(value, "fail") == 0) {
            cfg->cuda_fallback = value[0] == 'c'
                                     ? VGPU_CONFIG_CUDA_FALLBACK_CPU
                                     : VGPU_CONFIG_CUDA_FALLBACK_FAIL;
            return 0;
        }
        return config_why(why, why_len, "'%s' is not one of cpu, fail", value);
    case KEY_COUNT:
        break;
    }
    return -EINVAL;
}

int
vgpu_config_finish(struct vgpu_daemon_config *cfg, char *err, size_t err_len)
{
    size_t len;

    if (cfg->control_path != NULL) {
        if (strcmp(cfg->control_path, cfg->socket_path) == 0) {
            snprintf(err, err_len,
                     "--socket and --control (socket, control_socket) are "
                     "the same path '%s': the device socket and the control "
                     "socket need one each",
                     cfg->socket_path);
            return -EINVAL;
        }
        return 0;
    }
    len = strlen(cfg->socket_path) + strlen(VGPU_CONFIG_CONTROL_SUFFIX);
    if (len > VGPU_CONFIG_SOCKET_PATH_MAX) {
        snprintf(err, err_len,
                 "control socket '%s%s' (the socket path + '%s') is longer "
                 "than %u bytes: set the control socket's path",
                 cfg->socket_path, VGPU_CONFIG_CONTROL_SUFFIX,
                 VGPU_CONFIG_CONTROL_SUFFIX,
                 (unsigned)VGPU_CONFIG_SOCKET_PATH_MAX);
        return -EINVAL;
    }
    cfg->control_path = malloc(len + 1);
    if (cfg->control_path == NULL) {
        snprintf(err, err_len, "out of memory");
        return -ENOMEM;
    }
    snprintf(cfg->control_path, len + 1, "%s%s", cfg->socket_path,
             VGPU_CONFIG_CONTROL_SUFFIX);
    return 0;
}

/* Open and close the backend @value ("<name>[:<spec>]"). */
static int
config_try_item(const char *value, char *why, size_t why_len)
{
    const struct vgpu_backend_ops *ops;
    const char *colon = strchr(value, ':');
    char name[32];
    size_t len = colon ? (size_t)(colon - value) : strlen(value);
    void *ctx = NULL;
    int rc;

    if (len == 0 || len >= sizeof(name)) {
        return config_why(why, why_len, "'%s' does not name a backend", value);
    }
    memcpy(name, value, len);
    name[len] = '\0';
    ops = vgpu_backend_find(name);
    if (ops == NULL) {
        return config_why(why, why_len, "'%s' does not name a backend", value);
    }
    rc = ops->open(colon ? colon + 1 : "", &ctx, why, why_len);
    if (rc < 0) {
        return rc;
    }
    ops->close(ctx);
    return 0;
}

int
vgpu_config_check_backends(const struct vgpu_daemon_config *cfg, char *err,
                           size_t err_len)
{
    char why[192];
    int rc;

    rc = vgpu_backends_list_each(cfg->default_backend, config_try_item, why,
                                 sizeof(why));
    if (rc < 0) {
        snprintf(err, err_len, "default backend '%s': %s", cfg->default_backend,
                 why);
        return rc;
    }
    for (size_t i = 0; i < VGPU_POOL_COUNT; i++) {
        if (cfg->pool_backend[i] == NULL) {
            continue;
        }
        rc = vgpu_backends_list_each(cfg->pool_backend[i], config_try_item, why,
                                     sizeof(why));
        if (rc < 0) {
            snprintf(err, err_len, "pool %c: backend '%s': %s",
                     (char)(VGPU_POOL_FIRST + i), cfg->pool_backend[i], why);
            return rc;
        }
    }
    return 0;
}

void
vgpu_config_to_core(const struct vgpu_daemon_config *cfg,
                    struct vgpu_mediator_config *core)
{
    vgpu_mediator_config_default(core);
    core->policy = cfg->policy;
    core->max_wait_ms = cfg->max_wait_ms;
    memcpy(core->weights, cfg->weights, sizeof(core->weights));
    core->vm_queue_cap = cfg->vm_queue_cap;
    core->queue_inflight = cfg->queue_inflight;
    core->request_memory = (uint64_t)cfg->request_memory_mib << 20;
    for (size_t i = 0; i < VGPU_POOL_COUNT; i++) {
        core->pool_backend[i] = cfg->pool_backend[i];
    }
    core->default_backend = cfg->default_backend;
    core->log_level = cfg->log_level;
    memcpy(core->vm_share, cfg->vm_share, sizeof(core->vm_share));
}
