/*
 * The daemon's INI file (config.h, docs/mediator.md): [mediator] keys and
 * [pools] letters, each handed to the setter the command line uses too
 * (config.c); and --check-config, which loads a file and checks it as the
 * daemon's start would.
 *
 * The file is read with the one INI reader of src/util (util.h), which
 * names the line and column of what it refuses; this file refuses what the
 * reader would let pass: an unknown section or key, and a key given twice.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "backends.h"
#include "config_internal.h"
#include "util.h"
#include "vgpu/registry.h"

static const char *const config_ini_keys[KEY_COUNT] = {
    [KEY_SOCKET] = "socket",
    [KEY_CONTROL] = "control_socket",
    [KEY_POLICY] = "policy",
    [KEY_WEIGHT_HIGH] = "weight_high",
    [KEY_WEIGHT_MEDIUM] = "weight_medium",
    [KEY_WEIGHT_LOW] = "weight_low",
    [KEY_MAX_WAIT_MS] = "max_wait_ms",
    [KEY_VM_QUEUE_CAP] = "vm_queue_cap",
    [KEY_QUEUE_INFLIGHT] = "queue_inflight",
    [KEY_REQUEST_MEMORY_MIB] = "request_memory_mib",
    [KEY_DEFAULT_BACKEND] = "default_backend",
    [KEY_OUTPUT_KIB] = "output_kib",
    [KEY_HELLO_TIMEOUT_MS] = "hello_timeout_ms",
    [KEY_MAX_CONNECTIONS] = "max_connections",
    [KEY_LOG_LEVEL] = "log_level",
    [KEY_LOG_FILE] = "log_file",
    [KEY_LEGACY_DIR] = "legacy_dir",
    [KEY_REGISTRY] = "registry",
    [KEY_CUDA_FALLBACK] = "cuda_fallback",
    [KEY_CPU_WORKERS] = "cpu_workers",
    [KEY_METRICS_LISTEN] = "metrics_listen",
    [KEY_VM_SHARE] = "vm_share",
};

#define CONFIG_SECTION_MEDIATOR "mediator"
#define CONFIG_SECTION_POOLS    "pools"

/* ---- The INI file ------------------------------------------------------- */

struct config_ini {
    struct vgpu_daemon_config *cfg;
    const char *path;
    int in_mediator;                /* the open section is [mediator] */
    int in_pools;                   /* ... [pools] */
    int key_line[KEY_COUNT];        /* where each key was, 0: not yet */
    int pool_line[VGPU_POOL_COUNT]; /* where each pool letter was */
    char *err;
    size_t err_len;
};

static int config_ini_fail(struct config_ini *ini, int line, int rc,
                           const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* "PATH:LINE: " + the formatted text. Return: @rc. */
static int
config_ini_fail(struct config_ini *ini, int line, int rc, const char *fmt, ...)
{
    va_list ap;
    int n;

    n = snprintf(ini->err, ini->err_len, "%s:%d: ", ini->path, line);
    if (n >= 0 && (size_t)n < ini->err_len) {
        va_start(ap, fmt);
        vsnprintf(ini->err + n, ini->err_len - (size_t)n, fmt, ap);
        va_end(ap);
    }
    return rc;
}

static int
config_ini_section(struct config_ini *ini, const struct vgpu_ini_entry *e)
{
    ini->in_mediator = strcmp(e->section, CONFIG_SECTION_MEDIATOR) == 0;
    ini->in_pools = strcmp(e->section, CONFIG_SECTION_POOLS) == 0;
    if (ini->in_mediator || ini->in_pools) {
        return 0;
    }
    return config_ini_fail(
        ini, e->line, -EINVAL, "unknown section [%s] (known: [%s], [%s])",
        e->section, CONFIG_SECTION_MEDIATOR, CONFIG_SECTION_POOLS);
}

/* A key given twice is refused: which one would win is not obvious to
 * whoever reads the file. */
static int
config_ini_once(struct config_ini *ini, int *seen, const char *section,
                const struct vgpu_ini_entry *e)
{
    if (*seen != 0) {
        return config_ini_fail(ini, e->line, -EINVAL,
                               "%s: given twice in [%s] (lines %d and %d)",
                               e->name, section, *seen, e->line);
    }
    *seen = e->line;
    return 0;
}

static int
config_ini_pool(struct config_ini *ini, const struct vgpu_ini_entry *e)
{
    char why[192];
    size_t index;
    int rc;

    if (vgpu_config_pool_index(e->name, strlen(e->name), &index) < 0) {
        return config_ini_fail(ini, e->line, -EINVAL,
                               "unknown key '%s' in [%s] (keys are pool "
                               "letters %c-%c)",
                               e->name, CONFIG_SECTION_POOLS, VGPU_POOL_FIRST,
                               VGPU_POOL_LAST);
    }
    rc = config_ini_once(ini, &ini->pool_line[index], CONFIG_SECTION_POOLS, e);
    if (rc < 0) {
        return rc;
    }
    rc = vgpu_config_parse_backend(e->value, &ini->cfg->pool_backend[index],
                                   why, sizeof(why));
    if (rc < 0) {
        return config_ini_fail(ini, e->line, rc, "%s: %s", e->name,
                               rc == -ENOMEM ? "out of memory" : why);
    }
    return 0;
}

static int
config_ini_handler(void *user, const struct vgpu_ini_entry *e)
{
    struct config_ini *ini = user;
    char why[192];
    int rc;

    if (e->name == NULL) {
        return config_ini_section(ini, e);
    }
    if (ini->in_pools) {
        return config_ini_pool(ini, e);
    }
    if (!ini->in_mediator) {
        return config_ini_fail(ini, e->line, -EINVAL,
                               "key '%s' is outside any section (start with "
                               "[%s])",
                               e->name, CONFIG_SECTION_MEDIATOR);
    }
    for (int k = 0; k < KEY_COUNT; k++) {
        if (config_ini_keys[k] == NULL ||
            strcmp(e->name, config_ini_keys[k]) != 0) {
            continue;
        }
        rc =
            config_ini_once(ini, &ini->key_line[k], CONFIG_SECTION_MEDIATOR, e);
        if (rc < 0) {
            return rc;
        }
        rc = vgpu_config_set_key(ini->cfg, (enum config_key)k, e->value, why,
                                 sizeof(why));
        if (rc < 0) {
            return config_ini_fail(ini, e->line, rc, "%s: %s", e->name,
                                   rc == -ENOMEM ? "out of memory" : why);
        }
        return 0;
    }
    return config_ini_fail(ini, e->line, -EINVAL, "unknown key '%s' in [%s]",
                           e->name, CONFIG_SECTION_MEDIATOR);
}

/* The INI text of @file, named @path in messages; the caller closes it. */
static int
config_load_stream(struct vgpu_daemon_config *cfg, FILE *file, const char *path,
                   char *err, size_t err_len)
{
    struct config_ini ini = {
        .cfg = cfg, .path = path, .err = err, .err_len = err_len};

    return vgpu_ini_parse(file, path, config_ini_handler, &ini, err, err_len);
}

int
vgpu_config_load_file(struct vgpu_daemon_config *cfg, const char *path,
                      char *err, size_t err_len)
{
    FILE *file = vgpu_file_open_read(path, err, err_len);
    int rc;

    if (file == NULL) {
        return -EINVAL;
    }
    rc = config_load_stream(cfg, file, path, err, err_len);
    fclose(file);
    return rc;
}

int
vgpu_config_load_string(struct vgpu_daemon_config *cfg, const char *name,
                        const char *text, size_t len, char *err, size_t err_len)
{
    /* fmemopen() refuses an empty buffer: an empty text is an empty file. */
    static const char empty[] = "\n";
    FILE *file;
    int rc;

    if (len == 0) {
        text = empty;
        len = sizeof(empty) - 1;
    }
    file = fmemopen((void *)text, len, "r");
    if (file == NULL) {
        rc = errno == ENOMEM ? -ENOMEM : -EINVAL;
        snprintf(err, err_len, "%s: cannot read: %s", name, strerror(errno));
        return rc;
    }
    rc = config_load_stream(cfg, file, name, err, err_len);
    fclose(file);
    return rc;
}

int
vgpu_config_check_file(const char *path, char *err, size_t err_len)
{
    struct vgpu_daemon_config cfg;
    char sub[512];
    int rc;

    rc = vgpu_config_init(&cfg);
    if (rc < 0) {
        snprintf(err, err_len, "out of memory");
        return rc;
    }
    rc = vgpu_config_load_file(&cfg, path, err, err_len);
    if (rc == 0) {
        rc = vgpu_config_finish(&cfg, sub, sizeof(sub));
        if (rc == 0) {
            /* As at start: cuda pools of a machine without CUDA are checked
             * as the cpu pools they become (or fail with cuda_fallback =
             * fail). */
            char note[8];

            rc = vgpu_backends_apply_fallback(&cfg, note, sizeof(note), sub,
                                              sizeof(sub));
        }
        if (rc == 0) {
            rc = vgpu_config_check_backends(&cfg, sub, sizeof(sub));
        }
        if (rc == 0 && cfg.registry_file != NULL) {
            /* The daemon would not start with a registry that does not
             * load: "PATH: REGISTRY:LINE: key: ..." */
            struct vgpu_registry *reg =
                vgpu_registry_load(cfg.registry_file, 0, sub, sizeof(sub));

            rc = reg != NULL ? 0 : -EINVAL;
            vgpu_registry_destroy(reg);
        }
        if (rc < 0) {
            snprintf(err, err_len, "%s: %s", path, sub);
        }
    }
    vgpu_config_fini(&cfg);
    return rc;
}
