/*
 * Fuzz the daemon's configuration (src/daemon/config.h): the INI parser
 * (src/util's reader under config_file.c) and the command line.
 *
 * The first input byte picks a mode:
 *   INI   the rest is an INI text, through vgpu_config_load_string();
 *   ARGS  the rest is an argv (tokens split at NUL and newline bytes) for
 *         vgpu_config_parse_args();
 *   BOTH  a 16-bit length, that many bytes of INI text in a memfd, then an
 *         argv to which "--config /proc/self/fd/N" is added, so the file
 *         path (vgpu_config_load_file()) and flags over the file run too;
 *         vgpu_config_check_file() checks the same file;
 *   TYPE  the next byte picks what --config names: a directory, a FIFO, a
 *         character device, a socket or a regular file (the memfd of the
 *         rest): each but the last is refused naming what it is, and never
 *         opened (a FIFO opened for reading would hang the run).
 * Arguments the input spells for --config or --check-config are dropped, and
 * --check-config runs only on a file that names no registry, so that no run
 * opens a file the input names (a FIFO would never end).
 *
 * Checks: an INI text that loads has no NUL, no control character but tab
 * and CR, and no byte that is not ASCII (a UTF-8 byte order mark at its
 * start aside); a failure leaves one non-empty line in err (NUL-terminated, no
 * newline; an INI error starts with the text's name); a success leaves every
 * setting within its documented bounds, a control path after
 * vgpu_config_finish(), and a configuration whose backends
 * vgpu_config_check_backends() accepts is one vgpu_mediator_create()
 * accepts. vgpu_config_fini() frees everything (LeakSanitizer).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "backends.h"
#include "config.h"
#include "fuzz_common.h"
#include "vgpu/backend.h"
#include "vgpu/mediator.h"

#define FZ_NAME     "fuzz.conf"
#define FZ_ERR_LEN  512u
#define FZ_MAX_ARGS 64u

enum fz_mode { MODE_INI, MODE_ARGS, MODE_BOTH, MODE_TYPE, MODE_COUNT };

/* What MODE_TYPE gives --config. */
enum fz_kind {
    KIND_DIR,
    KIND_FIFO,
    KIND_CHAR,
    KIND_SOCKET,
    KIND_FILE,
    KIND_COUNT
};

/* A backend value as config.c stores it: "<name>[:<spec>]", with a name
 * this build has, or "cuda" (which falls back to cpu in a build without). */
static bool
fz_backend_ok(const char *value)
{
    char name[32];
    size_t len;

    if (value == NULL) {
        return false;
    }
    len = strcspn(value, ":");
    if (len == 0 || len >= sizeof(name)) {
        return false;
    }
    memcpy(name, value, len);
    name[len] = '\0';
    return vgpu_backend_find(name) != NULL ||
           strcmp(name, VGPU_BACKEND_CUDA_NAME) == 0;
}

static void
fz_check_err(const char *err, const char *prefix)
{
    const char *end = memchr(err, '\0', FZ_ERR_LEN);

    FUZZ_CHECK(end != NULL);
    FUZZ_CHECK(err[0] != '\0');
    FUZZ_CHECK(strchr(err, '\n') == NULL);
    if (prefix != NULL) {
        FUZZ_CHECK(strncmp(err, prefix, strlen(prefix)) == 0);
    }
}

static void
fz_mediator_noop_close(void *conn_opaque)
{
    (void)conn_opaque;
}

static int
fz_mediator_noop_send(void *conn_opaque, const uint8_t *bytes, size_t len)
{
    (void)conn_opaque;
    (void)bytes;
    (void)len;
    return 0;
}

static uint64_t
fz_mediator_now(void *opaque)
{
    (void)opaque;
    return 0;
}

/* Every setting within its bounds; then, in the daemon's order (main.c),
 * the backends and the core agree. */
static void
fz_check_settings(struct vgpu_daemon_config *cfg)
{
    static const struct vgpu_mediator_ops ops = {
        .send = fz_mediator_noop_send,
        .close = fz_mediator_noop_close,
        .now_ns = fz_mediator_now,
    };
    struct vgpu_mediator_config core;
    struct vgpu_mediator *m;
    char err[FZ_ERR_LEN];
    char note[FZ_ERR_LEN];
    int rc;

    FUZZ_CHECK(strcmp(vgpu_config_policy_name(cfg->policy), "?") != 0);
    for (size_t i = 0; i < VGPU_PRIO_COUNT; i++) {
        FUZZ_CHECK(cfg->weights[i] >= VGPU_CONFIG_WEIGHT_MIN &&
                   cfg->weights[i] <= VGPU_CONFIG_WEIGHT_MAX);
    }
    FUZZ_CHECK(cfg->max_wait_ms <= VGPU_CONFIG_MAX_WAIT_MS_MAX);
    FUZZ_CHECK(cfg->vm_queue_cap >= VGPU_CONFIG_QUEUE_CAP_MIN &&
               cfg->vm_queue_cap <= VGPU_CONFIG_QUEUE_CAP_MAX);
    FUZZ_CHECK(cfg->output_kib >= VGPU_CONFIG_MIN_OUTPUT_KIB &&
               cfg->output_kib <= VGPU_CONFIG_MAX_OUTPUT_KIB);
    FUZZ_CHECK(cfg->log_level >= VGPU_LOG_ERROR &&
               cfg->log_level <= VGPU_LOG_DEBUG);
    FUZZ_CHECK(cfg->socket_path != NULL && cfg->socket_path[0] != '\0');
    FUZZ_CHECK(strlen(cfg->socket_path) <= VGPU_CONFIG_SOCKET_PATH_MAX);
    FUZZ_CHECK(cfg->log_file == NULL || cfg->log_file[0] != '\0');
    FUZZ_CHECK(fz_backend_ok(cfg->default_backend));
    for (size_t i = 0; i < VGPU_POOL_COUNT; i++) {
        FUZZ_CHECK(cfg->pool_backend[i] == NULL ||
                   fz_backend_ok(cfg->pool_backend[i]));
    }

    rc = vgpu_config_finish(cfg, err, sizeof(err));
    if (rc < 0) {
        fz_check_err(err, NULL);
        return;
    }
    FUZZ_CHECK(cfg->control_path != NULL && cfg->control_path[0] != '\0');
    FUZZ_CHECK(strlen(cfg->control_path) <= VGPU_CONFIG_SOCKET_PATH_MAX);

    rc =
        vgpu_backends_apply_fallback(cfg, note, sizeof(note), err, sizeof(err));
    if (rc < 0) {
        fz_check_err(err, NULL);
        return;
    }
    rc = vgpu_config_check_backends(cfg, err, sizeof(err));
    if (rc < 0) {
        fz_check_err(err, NULL);
        return;
    }
    vgpu_config_to_core(cfg, &core);
    m = vgpu_mediator_create(&core, &ops, NULL, err, sizeof(err));
    FUZZ_CHECK(m != NULL);
    vgpu_mediator_destroy(m);
}

static void
fz_ini(const uint8_t *text, size_t len)
{
    struct vgpu_daemon_config cfg;
    char err[FZ_ERR_LEN];
    int rc;

    FUZZ_CHECK(vgpu_config_init(&cfg) == 0);
    memset(err, 0, sizeof(err));
    rc = vgpu_config_load_string(&cfg, FZ_NAME, (const char *)text, len, err,
                                 sizeof(err));
    if (rc == 0) {
        fuzz_check_ini_ascii(text, len);
        fz_check_settings(&cfg);
    } else {
        FUZZ_CHECK(rc == -EINVAL);
        fz_check_err(err, FZ_NAME);
    }
    vgpu_config_fini(&cfg);
}

/* The memfd that holds the BOTH mode's file, and its path. */
static int fz_memfd = -1;
static char fz_memfd_path[64];

static const char *
fz_write_memfd(const uint8_t *text, size_t len)
{
    if (fz_memfd < 0) {
        fz_memfd = memfd_create("vgpu-fuzz-config", MFD_CLOEXEC);
        FUZZ_CHECK(fz_memfd >= 0);
        snprintf(fz_memfd_path, sizeof(fz_memfd_path), "/proc/self/fd/%d",
                 fz_memfd);
    }
    FUZZ_CHECK(ftruncate(fz_memfd, 0) == 0);
    FUZZ_CHECK(len == 0 || pwrite(fz_memfd, text, len, 0) == (ssize_t)len);
    return fz_memfd_path;
}

/* The paths of MODE_TYPE, made once in a private directory. */
static char fz_dir[64];
static char fz_fifo[96];
static char fz_sock[96];

static void
fz_remove_kinds(void)
{
    unlink(fz_fifo);
    unlink(fz_sock);
    rmdir(fz_dir);
}

static void
fz_make_kinds(void)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int fd;

    if (fz_dir[0] != '\0') {
        return;
    }
    snprintf(fz_dir, sizeof(fz_dir), "/tmp/vgpu-fuzz-config.XXXXXX");
    FUZZ_CHECK(mkdtemp(fz_dir) != NULL);
    atexit(fz_remove_kinds);
    snprintf(fz_fifo, sizeof(fz_fifo), "%s/fifo", fz_dir);
    FUZZ_CHECK(mkfifo(fz_fifo, 0600) == 0);
    snprintf(fz_sock, sizeof(fz_sock), "%s/sock", fz_dir);
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", fz_sock);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    FUZZ_CHECK(fd >= 0);
    FUZZ_CHECK(bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
    /* The socket file stays; the descriptor is not needed. */
    close(fd);
}

/* --config and --check-config on a path of the kind @k picks. */
static void
fz_type(unsigned k, const uint8_t *text, size_t len)
{
    static const char *const what[KIND_COUNT] = {
        [KIND_DIR] = "is a directory",
        [KIND_FIFO] = "is a FIFO",
        [KIND_CHAR] = "is a character device",
        [KIND_SOCKET] = "is a socket",
    };
    struct vgpu_daemon_config cfg;
    const char *path;
    char err[FZ_ERR_LEN] = "";
    int rc;

    fz_make_kinds();
    switch ((enum fz_kind)(k % KIND_COUNT)) {
    case KIND_DIR:
        path = fz_dir;
        break;
    case KIND_FIFO:
        path = fz_fifo;
        break;
    case KIND_CHAR:
        path = "/dev/null";
        break;
    case KIND_SOCKET:
        path = fz_sock;
        break;
    default:
        path = fz_write_memfd(text, len);
        break;
    }
    FUZZ_CHECK(vgpu_config_init(&cfg) == 0);
    rc = vgpu_config_load_file(&cfg, path, err, sizeof(err));
    vgpu_config_fini(&cfg);
    if (k % KIND_COUNT == KIND_FILE) {
        if (rc == 0) {
            fuzz_check_ini_ascii(text, len);
        }
        return;
    }
    FUZZ_CHECK(rc == -EINVAL);
    fz_check_err(err, path);
    FUZZ_CHECK(strstr(err, what[k % KIND_COUNT]) != NULL);
    rc = vgpu_config_check_file(path, err, sizeof(err));
    FUZZ_CHECK(rc == -EINVAL);
    FUZZ_CHECK(strstr(err, what[k % KIND_COUNT]) != NULL);
}

/* An option that would make the parser open a file the input names: any
 * unambiguous abbreviation of --config or --check-config. */
static bool
fz_opens_file(const char *arg)
{
    return strncmp(arg, "--conf", 6) == 0 || strncmp(arg, "--ch", 4) == 0;
}

/* Split @bytes into NUL-terminated tokens at NUL and newline bytes. */
static size_t
fz_tokens(const uint8_t *bytes, size_t len, char *store, char **argv,
          size_t max)
{
    size_t argc = 0;
    size_t start = 0;

    memcpy(store, bytes, len);
    store[len] = '\0';
    for (size_t i = 0; i <= len && argc < max; i++) {
        if (i == len || store[i] == '\0' || store[i] == '\n') {
            store[i] = '\0';
            if (!fz_opens_file(store + start)) {
                argv[argc++] = store + start;
            }
            start = i + 1;
        }
    }
    return argc;
}

static void
fz_args(const uint8_t *bytes, size_t len, const char *config_path,
        size_t config_at)
{
    struct vgpu_daemon_config cfg;
    char *argv[FZ_MAX_ARGS + 4];
    char err[FZ_ERR_LEN];
    char *store = malloc(len + 1);
    char prog[] = "vgpu-mediator";
    char opt[] = "--config";
    char path[64];
    size_t argc = 1;
    int rc;

    FUZZ_CHECK(store != NULL);
    argv[0] = prog;
    argc += fz_tokens(bytes, len, store, argv + 1, FZ_MAX_ARGS);
    if (config_path != NULL) {
        /* Insert "--config PATH" before argument config_at. */
        size_t at = 1 + config_at % argc;

        snprintf(path, sizeof(path), "%s", config_path);
        memmove(argv + at + 2, argv + at, (argc - at) * sizeof(argv[0]));
        argv[at] = opt;
        argv[at + 1] = path;
        argc += 2;
    }
    argv[argc] = NULL;

    FUZZ_CHECK(vgpu_config_init(&cfg) == 0);
    memset(err, 0, sizeof(err));
    rc = vgpu_config_parse_args(&cfg, (int)argc, argv, err, sizeof(err));
    if (rc == 0) {
        /* Any action (the list grows); RUN and STATS carry settings. */
        FUZZ_CHECK(cfg.action >= VGPU_CONFIG_RUN);
        if (cfg.action == VGPU_CONFIG_RUN || cfg.action == VGPU_CONFIG_STATS) {
            FUZZ_CHECK(cfg.control_path != NULL);
            fz_check_settings(&cfg);
        }
    } else {
        FUZZ_CHECK(rc == -EINVAL);
        fz_check_err(err, NULL);
    }
    vgpu_config_fini(&cfg);
    free(store);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_cursor cur;
    const uint8_t *p;
    const uint8_t *ini;
    const char *path;
    char err[FZ_ERR_LEN];
    size_t ini_len;
    size_t len;
    size_t at;
    int rc;

    fuzz_cursor_init(&cur, data, size);
    switch (fuzz_u8(&cur) % MODE_COUNT) {
    case MODE_INI:
        p = fuzz_bytes(&cur, fuzz_left(&cur), &len);
        fz_ini(p, len);
        break;
    case MODE_ARGS:
        p = fuzz_bytes(&cur, fuzz_left(&cur), &len);
        fz_args(p, len, NULL, 0);
        break;
    case MODE_TYPE:
        at = fuzz_u8(&cur);
        p = fuzz_bytes(&cur, fuzz_left(&cur), &len);
        fz_type((unsigned)at, p, len);
        break;
    default:
        at = fuzz_u8(&cur);
        ini = fuzz_bytes(&cur, fuzz_u16(&cur), &ini_len);
        path = fz_write_memfd(ini, ini_len);
        p = fuzz_bytes(&cur, fuzz_left(&cur), &len);
        fz_args(p, len, path, at);
        /* --check-config also loads the registry the file names: only
         * when it names none, so no run opens a path from the input. */
        if (memmem(ini, ini_len, "registry", 8) == NULL) {
            memset(err, 0, sizeof(err));
            rc = vgpu_config_check_file(path, err, sizeof(err));
            if (rc != 0) {
                fz_check_err(err, path);
            }
        }
        break;
    }
    return 0;
}
