/*
 * The daemon's log (log.h). Each line is formatted into one buffer and
 * written with a single write() on an O_APPEND descriptor, so lines from
 * other writers of the same file never interleave inside a line.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

#define LOG_FILE_MODE 0640

struct vgpu_log {
    int fd;     /* STDERR_FILENO or an owned file */
    char *path; /* NULL for stderr */
    int level;
};

static const char *const log_level_names[] = {
    [VGPU_LOG_ERROR] = "error",
    [VGPU_LOG_WARN] = "warn",
    [VGPU_LOG_INFO] = "info",
    [VGPU_LOG_DEBUG] = "debug",
};

#define LOG_LEVEL_COUNT                                                        \
    ((int)(sizeof(log_level_names) / sizeof(log_level_names[0])))

const char *
vgpu_log_level_name(int level)
{
    if (level < 0 || level >= LOG_LEVEL_COUNT) {
        return "?";
    }
    return log_level_names[level];
}

int
vgpu_log_level_parse(const char *name)
{
    for (int i = 0; name != NULL && i < LOG_LEVEL_COUNT; i++) {
        if (strcmp(name, log_level_names[i]) == 0) {
            return i;
        }
    }
    return -EINVAL;
}

static int
log_open_file(const char *path)
{
    int fd;

    struct stat st;

    /* O_NONBLOCK: a FIFO in the file's place opens at once and is refused
     * below, instead of blocking the daemon until someone reads it. */
    do {
        fd = open(path,
                  O_WRONLY | O_APPEND | O_CREAT | O_NONBLOCK | O_NOCTTY |
                      O_CLOEXEC,
                  LOG_FILE_MODE);
    } while (fd < 0 && errno == EINTR);
    if (fd < 0) {
        return -errno;
    }
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return -EINVAL;
    }
    (void)fcntl(fd, F_SETFL, O_APPEND);
    return fd;
}

struct vgpu_log *
vgpu_log_create(const char *path, int level, char *err, size_t err_len)
{
    struct vgpu_log *log = calloc(1, sizeof(*log));
    int fd;

    if (log == NULL) {
        snprintf(err, err_len, "out of memory");
        goto err;
    }
    log->level = level;
    log->fd = STDERR_FILENO;
    if (path == NULL) {
        return log;
    }
    log->path = strdup(path);
    if (log->path == NULL) {
        snprintf(err, err_len, "out of memory");
        goto err_free;
    }
    fd = log_open_file(path);
    if (fd < 0) {
        snprintf(err, err_len, "cannot open %s: %s", path, strerror(-fd));
        goto err_path;
    }
    log->fd = fd;
    return log;

err_path:
    free(log->path);
err_free:
    free(log);
err:
    return NULL;
}

void
vgpu_log_destroy(struct vgpu_log *log)
{
    if (log == NULL) {
        return;
    }
    if (log->path != NULL) {
        close(log->fd);
    }
    free(log->path);
    free(log);
}

int
vgpu_log_reopen(struct vgpu_log *log)
{
    int fd;

    if (log->path == NULL) {
        return 0;
    }
    fd = log_open_file(log->path);
    if (fd < 0) {
        vgpu_log_printf(log, VGPU_LOG_ERROR, "cannot reopen %s: %s", log->path,
                        strerror(-fd));
        return fd;
    }
    close(log->fd);
    log->fd = fd;
    return 0;
}

int
vgpu_log_enabled(const struct vgpu_log *log, int level)
{
    return level <= log->level;
}

/* "2025-01-31T12:00:00.123Z": ISO 8601, UTC, milliseconds. */
static size_t
log_timestamp(char *buf, size_t len)
{
    struct timespec ts;
    struct tm tm;
    size_t n;

    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
    n += (size_t)snprintf(buf + n, len - n, ".%03ldZ", ts.tv_nsec / 1000000L);
    return n < len ? n : len - 1;
}

void
vgpu_log_write(struct vgpu_log *log, int level, const char *text)
{
    char line[VGPU_LOG_LINE_MAX];
    size_t n;
    size_t off = 0;

    if (!vgpu_log_enabled(log, level)) {
        return;
    }
    n = log_timestamp(line, sizeof(line));
    n += (size_t)snprintf(line + n, sizeof(line) - n, " %s ",
                          vgpu_log_level_name(level));
    /* Copy the text, one line of printable bytes, leaving room for '\n'. */
    for (const char *p = text; *p != '\0' && n < sizeof(line) - 1; p++) {
        unsigned char ch = (unsigned char)*p;

        line[n++] = (ch < 0x20 || ch == 0x7f) ? '?' : (char)ch;
    }
    line[n++] = '\n';
    while (off < n) {
        ssize_t w = write(log->fd, line + off, n - off);

        if (w < 0 && errno == EINTR) {
            continue;
        }
        if (w <= 0) {
            return;
        }
        off += (size_t)w;
    }
}

void
vgpu_log_printf(struct vgpu_log *log, int level, const char *fmt, ...)
{
    char text[VGPU_LOG_LINE_MAX];
    va_list ap;

    if (!vgpu_log_enabled(log, level)) {
        return;
    }
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    vgpu_log_write(log, level, text);
}
