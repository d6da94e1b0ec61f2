/*
 * The daemon's INI file (config.h, docs/mediator.md): [mediator] keys and
 * [pools] letters, each handed to the setter the command line uses too
 * (config.c); and --check-config, which loads a file and checks it as the
 * daemon's start would.
 *
 * libinih (Debian's build) hands its handler no line number, so the file is
 * fed to ini_parse_stream() through a reader that counts lines: inih calls
 * the reader once per line and the handler right after, so the count is the
 * handler's line. The reader also catches what inih would let pass quietly:
 * a line longer than inih's buffer (which inih would split in two) and an
 * unknown section with no keys in it.
 */
#include <errno.h>
#include <ini.h>
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
    [KEY_LOG_LEVEL] = "log_level",
    [KEY_LOG_FILE] = "log_file",
    [KEY_LEGACY_DIR] = "legacy_dir",
    [KEY_REGISTRY] = "registry",
    [KEY_CUDA_FALLBACK] = "cuda_fallback",
    [KEY_CPU_WORKERS] = "cpu_workers",
};

#define CONFIG_SECTION_MEDIATOR "mediator"
#define CONFIG_SECTION_POOLS    "pools"

/* ---- The INI file ------------------------------------------------------- */

struct config_ini {
    struct vgpu_daemon_config *cfg;
    const char *path;
    struct vgpu_ini_lines lines; /* the file, and the line inih works on */
    int rc;                      /* first error, 0 if none */
    char *err;
    size_t err_len;
};

static void config_ini_fail(struct config_ini *ini, int rc, const char *fmt,
                            ...) __attribute__((format(printf, 3, 4)));

/* Keep the first error: "PATH:LINE: " + the formatted text. */
static void
config_ini_fail(struct config_ini *ini, int rc, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (ini->rc != 0) {
        return;
    }
    ini->rc = rc;
    n = snprintf(ini->err, ini->err_len, "%s:%d: ", ini->path,
                 ini->lines.lineno);
    if (n < 0 || (size_t)n >= ini->err_len) {
        return;
    }
    va_start(ap, fmt);
    vsnprintf(ini->err + n, ini->err_len - (size_t)n, fmt, ap);
    va_end(ap);
}

/* A section header as inih reads it: '[' after leading blanks, the name up
 * to the first ']', taken as is. */
static void
config_ini_check_section(struct config_ini *ini, const char *line)
{
    const char *p = line + strspn(line, " \t\r");
    const char *end;
    int len;

    if (*p != '[') {
        return;
    }
    end = strchr(p + 1, ']');
    if (end == NULL) {
        return; /* inih reports the syntax error */
    }
    len = (int)(end - (p + 1));
    if ((len == (int)strlen(CONFIG_SECTION_MEDIATOR) &&
         strncmp(p + 1, CONFIG_SECTION_MEDIATOR, (size_t)len) == 0) ||
        (len == (int)strlen(CONFIG_SECTION_POOLS) &&
         strncmp(p + 1, CONFIG_SECTION_POOLS, (size_t)len) == 0)) {
        return;
    }
    config_ini_fail(ini, -EINVAL, "unknown section [%.*s] (known: [%s], [%s])",
                    len, p + 1, CONFIG_SECTION_MEDIATOR, CONFIG_SECTION_POOLS);
}

/* inih's reader: fgets() plus the line count and the checks above. */
static char *
config_ini_read(char *str, int num, void *stream)
{
    struct config_ini *ini = stream;
    int rc = vgpu_ini_line_read(&ini->lines, str, num);

    if (rc == 0) {
        return NULL;
    }
    if (rc == -E2BIG) {
        config_ini_fail(ini, -EINVAL, "line is longer than %d characters",
                        num - 2);
    }
    config_ini_check_section(ini, str);
    return str;
}

static int
config_ini_pool(struct config_ini *ini, const char *name, const char *value)
{
    char why[192];
    size_t index;
    int rc;

    if (vgpu_config_pool_index(name, strlen(name), &index) < 0) {
        config_ini_fail(ini, -EINVAL,
                        "unknown key '%s' in [%s] (keys are pool letters "
                        "%c-%c)",
                        name, CONFIG_SECTION_POOLS, VGPU_POOL_FIRST,
                        VGPU_POOL_LAST);
        return 0;
    }
    rc = vgpu_config_parse_backend(value, &ini->cfg->pool_backend[index], why,
                                   sizeof(why));
    if (rc < 0) {
        config_ini_fail(ini, rc, "%s: %s", name,
                        rc == -ENOMEM ? "out of memory" : why);
        return 0;
    }
    return 1;
}

static int
config_ini_handler(void *user, const char *section, const char *name,
                   const char *value)
{
    struct config_ini *ini = user;
    char why[192];
    int rc;

    if (ini->rc != 0) {
        return 0;
    }
    if (strcmp(section, CONFIG_SECTION_POOLS) == 0) {
        return config_ini_pool(ini, name, value);
    }
    if (strcmp(section, CONFIG_SECTION_MEDIATOR) != 0) {
        if (section[0] == '\0') {
            config_ini_fail(ini, -EINVAL,
                            "key '%s' is outside any section (start with "
                            "[%s])",
                            name, CONFIG_SECTION_MEDIATOR);
        } else {
            config_ini_fail(ini, -EINVAL, "unknown section [%s]", section);
        }
        return 0;
    }
    for (int k = 0; k < KEY_COUNT; k++) {
        if (config_ini_keys[k] == NULL ||
            strcmp(name, config_ini_keys[k]) != 0) {
            continue;
        }
        rc = vgpu_config_set_key(ini->cfg, (enum config_key)k, value, why,
                                 sizeof(why));
        if (rc < 0) {
            config_ini_fail(ini, rc, "%s: %s", name,
                            rc == -ENOMEM ? "out of memory" : why);
            return 0;
        }
        return 1;
    }
    config_ini_fail(ini, -EINVAL, "unknown key '%s' in [%s]", name,
                    CONFIG_SECTION_MEDIATOR);
    return 0;
}

/* The INI text of @file, named @path in messages; the caller closes it. */
static int
config_load_stream(struct vgpu_daemon_config *cfg, FILE *file, const char *path,
                   char *err, size_t err_len)
{
    struct config_ini ini = {.cfg = cfg,
                             .path = path,
                             .lines.file = file,
                             .err = err,
                             .err_len = err_len};
    int rc;

    rc = ini_parse_stream(config_ini_read, &ini, config_ini_handler, &ini);
    if (ini.rc != 0) {
        return ini.rc;
    }
    if (rc == -2) {
        snprintf(err, err_len, "%s: out of memory", path);
        return -ENOMEM;
    }
    if (rc != 0) {
        snprintf(err, err_len,
                 "%s:%d: syntax error (expected [section] or key = value)",
                 path, rc);
        return -EINVAL;
    }
    return 0;
}

int
vgpu_config_load_file(struct vgpu_daemon_config *cfg, const char *path,
                      char *err, size_t err_len)
{
    FILE *file = fopen(path, "re");
    int rc;

    if (file == NULL) {
        snprintf(err, err_len, "%s: cannot read: %s", path, strerror(errno));
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
