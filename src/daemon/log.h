/*
 * The daemon's log: one line per message, "<ISO8601 UTC time> <level> <text>"
 * (e.g. "2025-01-31T12:00:00.123Z info listening on ..."), written with one
 * write() to stderr or to a file opened for appending. SIGHUP makes the
 * daemon call vgpu_log_reopen(), so logrotate can move the file away.
 *
 * Levels are the core's VGPU_LOG_* (include/vgpu/mediator.h), spelt error,
 * warn, info and debug. Control characters in a message (a peer's text may
 * reach the log) are written as '?', so a message is always one line.
 *
 * Threading: not thread-safe; the daemon logs from its event loop only.
 */
#ifndef VGPU_MEDIATOR_LOG_H
#define VGPU_MEDIATOR_LOG_H

#include <stddef.h>

#include "vgpu/mediator.h"

/* Longest line written, prefix included; longer messages are cut. */
#define VGPU_LOG_LINE_MAX 1024

struct vgpu_log;

/**
 * vgpu_log_create() - a log writing to @path, or to stderr when @path is
 * NULL.
 * @level: lines above this level (less severe) are dropped.
 * @err:   on failure, receives "cannot open PATH: reason".
 * Return: the log (the caller destroys it), or NULL.
 */
struct vgpu_log *vgpu_log_create(const char *path, int level, char *err,
                                 size_t err_len);

/** vgpu_log_destroy() - close the file (never stderr) and free. NULL is ok. */
void vgpu_log_destroy(struct vgpu_log *log);

/**
 * vgpu_log_reopen() - open the path again (after a rotation) and switch to
 * the new file. On failure the old file stays in use and the reason is
 * logged to it. A stderr log ignores the call.
 * Return: 0, or a negative errno.
 */
int vgpu_log_reopen(struct vgpu_log *log);

/** vgpu_log_enabled() - whether a line at @level would be written. */
int vgpu_log_enabled(const struct vgpu_log *log, int level);

/**
 * vgpu_log_write() - write @text (no newline) at @level. Write errors are
 * ignored: the daemon keeps serving when its log cannot be written.
 */
void vgpu_log_write(struct vgpu_log *log, int level, const char *text);

/** vgpu_log_printf() - vgpu_log_write() with a format. */
void vgpu_log_printf(struct vgpu_log *log, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/**
 * vgpu_log_level_name() - "error", "warn", "info" or "debug"; "?" for a
 * level out of range. Static string.
 */
const char *vgpu_log_level_name(int level);

/**
 * vgpu_log_level_parse() - the level spelt @name (as vgpu_log_level_name()
 * spells it). Return: the level, or -EINVAL.
 */
int vgpu_log_level_parse(const char *name);

#endif /* VGPU_MEDIATOR_LOG_H */
