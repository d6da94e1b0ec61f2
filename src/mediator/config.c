/*
 * The daemon's configuration (config.h): one setter per key, shared by the
 * INI file and the command line, so both check a value the same way and
 * differ only in how they name it ("PATH:LINE: key" or "--flag").
 *
 * libinih (Debian's build) hands its handler no line number, so the file is
 * fed to ini_parse_stream() through a reader that counts lines: inih calls
 * the reader once per line and the handler right after, so the count is the
 * handler's line. The reader also catches what inih would let pass quietly:
 * a line longer than inih's buffer (which inih would split in two) and an
 * unknown section with no keys in it.
 */
#include <errno.h>
#include <getopt.h>
#include <ini.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends.h"
#include "config.h"
#include "log.h"
#include "sched.h"
#include "vgpu/backend.h"
#include "vgpu/registry.h"

/* The settings, each with its INI key (NULL: command line only). */
enum config_key {
    KEY_SOCKET,
    KEY_CONTROL,
    KEY_POLICY,
    KEY_WEIGHTS,
    KEY_WEIGHT_HIGH,
    KEY_WEIGHT_MEDIUM,
    KEY_WEIGHT_LOW,
    KEY_MAX_WAIT_MS,
    KEY_VM_QUEUE_CAP,
    KEY_POOL,
    KEY_DEFAULT_BACKEND,
    KEY_OUTPUT_KIB,
    KEY_LOG_LEVEL,
    KEY_LOG_FILE,
    KEY_LEGACY_DIR,
    KEY_REGISTRY,
    KEY_CUDA_FALLBACK,
    KEY_COUNT
};

static const char *const config_ini_keys[KEY_COUNT] = {
    [KEY_SOCKET] = "socket",
    [KEY_CONTROL] = "control_socket",
    [KEY_POLICY] = "policy",
    [KEY_WEIGHT_HIGH] = "weight_high",
    [KEY_WEIGHT_MEDIUM] = "weight_medium",
    [KEY_WEIGHT_LOW] = "weight_low",
    [KEY_MAX_WAIT_MS] = "max_wait_ms",
    [KEY_VM_QUEUE_CAP] = "vm_queue_cap",
    [KEY_DEFAULT_BACKEND] = "default_backend",
    [KEY_OUTPUT_KIB] = "output_kib",
    [KEY_LOG_LEVEL] = "log_level",
    [KEY_LOG_FILE] = "log_file",
    [KEY_LEGACY_DIR] = "legacy_dir",
    [KEY_REGISTRY] = "registry",
    [KEY_CUDA_FALLBACK] = "cuda_fallback",
};

#define CONFIG_SECTION_MEDIATOR "mediator"
#define CONFIG_SECTION_POOLS    "pools"

/* getopt_long() values of the options that take no setting. */
enum config_opt {
    OPT_HELP = 'h',
    OPT_KEY_BASE = 256, /* OPT_KEY_BASE + enum config_key */
    OPT_CONFIG = OPT_KEY_BASE + KEY_COUNT,
    OPT_CHECK,
    OPT_STATS,
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
    {"pool", required_argument, NULL, OPT_KEY_BASE + KEY_POOL},
    {"default-backend", required_argument, NULL,
     OPT_KEY_BASE + KEY_DEFAULT_BACKEND},
    {"output-kib", required_argument, NULL, OPT_KEY_BASE + KEY_OUTPUT_KIB},
    {"log-level", required_argument, NULL, OPT_KEY_BASE + KEY_LOG_LEVEL},
    {"log-file", required_argument, NULL, OPT_KEY_BASE + KEY_LOG_FILE},
    {"legacy-dir", required_argument, NULL, OPT_KEY_BASE + KEY_LEGACY_DIR},
    {"registry", required_argument, NULL, OPT_KEY_BASE + KEY_REGISTRY},
    {"check-config", required_argument, NULL, OPT_CHECK},
    {"stats", no_argument, NULL, OPT_STATS},
    {"cuda-fallback", required_argument, NULL,
     OPT_KEY_BASE + KEY_CUDA_FALLBACK},
    {"backends", no_argument, NULL, OPT_BACKENDS},
    {"help", no_argument, NULL, OPT_HELP},
    {"version", no_argument, NULL, OPT_VERSION},
    {NULL, 0, NULL, 0},
};

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

static void
config_replace(char **slot, char *value)
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
    cfg->output_kib = VGPU_CONFIG_DEFAULT_OUTPUT_KIB;
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

/* Decimal digits only: no sign, no blanks, no 0x. */
static int
config_parse_u32(const char *value, uint32_t min, uint32_t max, uint32_t *out,
                 char *why, size_t why_len)
{
    uint64_t v = 0;
    const char *p = value;

    if (*p == '\0') {
        goto bad;
    }
    for (; *p != '\0'; p++) {
        if (*p < '0' || *p > '9') {
            goto bad;
        }
        v = v * 10 + (uint64_t)(*p - '0');
        if (v > max) {
            goto bad;
        }
    }
    if (v < min) {
        goto bad;
    }
    *out = (uint32_t)v;
    return 0;

bad:
    return config_why(why, why_len, "'%s' is not an integer in %u..%u", value,
                      (unsigned)min, (unsigned)max);
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
    config_replace(out, copy);
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
static int
config_parse_backend(const char *value, char **out, char *why, size_t why_len)
{
    char known[64];
    char name[32];
    size_t len = strcspn(value, ":");
    char *copy;

    if (len > 0 && len < sizeof(name)) {
        memcpy(name, value, len);
        name[len] = '\0';
        if (vgpu_backend_find(name) != NULL ||
            strcmp(name, VGPU_BACKEND_CUDA_NAME) == 0) {
            copy = strdup(value);
            if (copy == NULL) {
                return -ENOMEM;
            }
            config_replace(out, copy);
            return 0;
        }
    }
    config_known_backends(known, sizeof(known));
    return config_why(why, why_len,
                      "'%s' does not name a backend (known: %s; the form is "
                      "NAME[:SPEC])",
                      value, known);
}

static int
config_pool_index(const char *letter, size_t len, size_t *index)
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
        if (config_parse_u32(part, VGPU_CONFIG_WEIGHT_MIN,
                             VGPU_CONFIG_WEIGHT_MAX, &w[i], sub,
                             sizeof(sub)) < 0) {
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
        config_pool_index(value, (size_t)(eq - value), &index) < 0) {
        return config_why(why, why_len,
                          "'%s' is not L=BACKEND with L one letter %c-%c",
                          value, VGPU_POOL_FIRST, VGPU_POOL_LAST);
    }
    rc = config_parse_backend(eq + 1, &cfg->pool_backend[index], sub,
                              sizeof(sub));
    if (rc == -EINVAL) {
        return config_why(why, why_len, "pool %c: %s", value[0], sub);
    }
    return rc;
}

static int
config_set(struct vgpu_daemon_config *cfg, enum config_key key,
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
    case KEY_WEIGHT_HIGH:
        return config_parse_u32(value, VGPU_CONFIG_WEIGHT_MIN,
                                VGPU_CONFIG_WEIGHT_MAX,
                                &cfg->weights[VGPU_PRIO_HIGH], why, why_len);
    case KEY_WEIGHT_MEDIUM:
        return config_parse_u32(value, VGPU_CONFIG_WEIGHT_MIN,
                                VGPU_CONFIG_WEIGHT_MAX,
                                &cfg->weights[VGPU_PRIO_MEDIUM], why, why_len);
    case KEY_WEIGHT_LOW:
        return config_parse_u32(value, VGPU_CONFIG_WEIGHT_MIN,
                                VGPU_CONFIG_WEIGHT_MAX,
                                &cfg->weights[VGPU_PRIO_LOW], why, why_len);
    case KEY_MAX_WAIT_MS:
        return config_parse_u32(value, 0, VGPU_CONFIG_MAX_WAIT_MS_MAX,
                                &cfg->max_wait_ms, why, why_len);
    case KEY_VM_QUEUE_CAP:
        return config_parse_u32(value, VGPU_CONFIG_QUEUE_CAP_MIN,
                                VGPU_CONFIG_QUEUE_CAP_MAX, &cfg->vm_queue_cap,
                                why, why_len);
    case KEY_POOL:
        return config_parse_pool_flag(cfg, value, why, why_len);
    case KEY_DEFAULT_BACKEND:
        return config_parse_backend(value, &cfg->default_backend, why, why_len);
    case KEY_OUTPUT_KIB:
        rc = config_parse_u32(value, VGPU_CONFIG_MIN_OUTPUT_KIB,
                              VGPU_CONFIG_MAX_OUTPUT_KIB, &u, why, why_len);
        if (rc == 0) {
            cfg->output_kib = u;
        }
        return rc;
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
    case KEY_LOG_FILE:
        return config_parse_path(value, 0, &cfg->log_file, why, why_len);
    case KEY_LEGACY_DIR:
        return config_parse_path(value, 0, &cfg->legacy_dir, why, why_len);
    case KEY_REGISTRY:
        return config_parse_path(value, 0, &cfg->registry_file, why, why_len);
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

/* ---- The INI file ------------------------------------------------------- */

struct config_ini {
    struct vgpu_daemon_config *cfg;
    const char *path;
    FILE *file;
    int lineno; /* of the line inih works on */
    int rc;     /* first error, 0 if none */
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
    n = snprintf(ini->err, ini->err_len, "%s:%d: ", ini->path, ini->lineno);
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
    size_t len;

    if (fgets(str, num, ini->file) == NULL) {
        return NULL;
    }
    ini->lineno++;
    len = strlen(str);
    if (len > 0 && str[len - 1] != '\n' && !feof(ini->file)) {
        int ch;

        /* The rest of an over-long line is skipped, never read as a line
         * of its own. */
        while ((ch = fgetc(ini->file)) != EOF && ch != '\n') {
        }
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

    if (config_pool_index(name, strlen(name), &index) < 0) {
        config_ini_fail(ini, -EINVAL,
                        "unknown key '%s' in [%s] (keys are pool letters "
                        "%c-%c)",
                        name, CONFIG_SECTION_POOLS, VGPU_POOL_FIRST,
                        VGPU_POOL_LAST);
        return 0;
    }
    rc = config_parse_backend(value, &ini->cfg->pool_backend[index], why,
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
        rc = config_set(ini->cfg, (enum config_key)k, value, why, sizeof(why));
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
    struct config_ini ini = {
        .cfg = cfg, .path = path, .file = file, .err = err, .err_len = err_len};
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
    config_replace(slot, copy);
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

int
vgpu_config_parse_args(struct vgpu_daemon_config *cfg, int argc, char **argv,
                       char *err, size_t err_len)
{
    struct config_flag *flags = calloc((size_t)argc + 1, sizeof(*flags));
    size_t nflags = 0;
    char why[256];
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
        case OPT_STATS:
            config_set_action(cfg, VGPU_CONFIG_STATS);
            break;
        case OPT_BACKENDS:
            config_set_action(cfg, VGPU_CONFIG_BACKENDS);
            break;
        case OPT_CHECK:
            config_set_action(cfg, VGPU_CONFIG_CHECK);
            rc = config_save_string(&cfg->check_file, optarg);
            break;
        case OPT_CONFIG:
            rc = config_save_string(&cfg->config_file, optarg);
            break;
        case ':':
        case '?':
            rc = config_bad_option(argv, c, err, err_len);
            goto out;
        default:
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
        rc = config_set(cfg, (enum config_key)flags[i].key, flags[i].value, why,
                        sizeof(why));
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

int
vgpu_config_finish(struct vgpu_daemon_config *cfg, char *err, size_t err_len)
{
    size_t len;

    if (cfg->control_path != NULL) {
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
config_try_backend(const char *value, char *why, size_t why_len)
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

    rc = config_try_backend(cfg->default_backend, why, sizeof(why));
    if (rc < 0) {
        snprintf(err, err_len, "default backend '%s': %s", cfg->default_backend,
                 why);
        return rc;
    }
    for (size_t i = 0; i < VGPU_POOL_COUNT; i++) {
        if (cfg->pool_backend[i] == NULL) {
            continue;
        }
        rc = config_try_backend(cfg->pool_backend[i], why, sizeof(why));
        if (rc < 0) {
            snprintf(err, err_len, "pool %c: backend '%s': %s",
                     (char)(VGPU_POOL_FIRST + i), cfg->pool_backend[i], why);
            return rc;
        }
    }
    return 0;
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

void
vgpu_config_to_core(const struct vgpu_daemon_config *cfg,
                    struct vgpu_mediator_config *core)
{
    vgpu_mediator_config_default(core);
    core->policy = cfg->policy;
    core->max_wait_ms = cfg->max_wait_ms;
    memcpy(core->weights, cfg->weights, sizeof(core->weights));
    core->vm_queue_cap = cfg->vm_queue_cap;
    for (size_t i = 0; i < VGPU_POOL_COUNT; i++) {
        core->pool_backend[i] = cfg->pool_backend[i];
    }
    core->default_backend = cfg->default_backend;
    core->log_level = cfg->log_level;
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
        "  --vm-queue-cap N       queued requests per VM, %u..%u "
        "(default %u)\n"
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
        "  --stats                print the per-VM counters of the running "
        "daemon\n"
        "                         (at --socket/--control) and exit\n"
        "  --cuda-fallback MODE   a pool mapped to cuda on a machine "
        "without a usable\n"
        "                         GPU runs on cpu (MODE cpu, the default) or "
        "stops\n"
        "                         the daemon at start (fail)\n"
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
        config_policy_names[VGPU_SCHED_DEFAULT_POLICY],
        (unsigned)VGPU_CONFIG_WEIGHT_MIN, (unsigned)VGPU_CONFIG_WEIGHT_MAX,
        (unsigned)VGPU_SCHED_DEFAULT_WEIGHT_HIGH,
        (unsigned)VGPU_SCHED_DEFAULT_WEIGHT_MED,
        (unsigned)VGPU_SCHED_DEFAULT_WEIGHT_LOW,
        (unsigned)VGPU_CONFIG_MAX_WAIT_MS_MAX,
        (unsigned)VGPU_SCHED_DEFAULT_MAX_WAIT_MS,
        (unsigned)VGPU_CONFIG_QUEUE_CAP_MIN,
        (unsigned)VGPU_CONFIG_QUEUE_CAP_MAX,
        (unsigned)VGPU_SCHED_DEFAULT_VM_QUEUE_CAP,
        (unsigned)VGPU_CONFIG_MIN_OUTPUT_KIB,
        (unsigned)VGPU_CONFIG_MAX_OUTPUT_KIB,
        (unsigned)VGPU_CONFIG_DEFAULT_OUTPUT_KIB);
}
