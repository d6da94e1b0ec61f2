/*
 * The daemon's metrics endpoint (docs/mediator.md, "Metrics"): the core's
 * figures (vgpu/mediator_metrics.h) in Prometheus' text exposition format
 * 0.0.4, served over HTTP by libmicrohttpd on a Unix socket or a TCP
 * address, off unless metrics_listen is set.
 *
 * libmicrohttpd runs without a thread of its own: its epoll descriptor is
 * one fd of the daemon's event loop (event.h) and every request is answered
 * on the loop's thread, so a scrape reads the core exactly as the control
 * socket's "stats" does, with no lock and no race.
 *
 * Threading: not thread-safe; the loop's thread only.
 */
#ifndef VGPU_DAEMON_METRICS_H
#define VGPU_DAEMON_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "event.h"
#include "log.h"
#include "vgpu/mediator.h"
#include "vgpu/regs.h"

/* The path the endpoint answers (any other: 404). */
#define VGPU_METRICS_PATH         "/metrics"
/* The content type of the 0.0.4 text format. */
#define VGPU_METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"
/* HTTP connections at once, and how long an idle one stays open. */
#define VGPU_METRICS_MAX_CONNS    16u
#define VGPU_METRICS_TIMEOUT_S    10u
/* The most a request may bring (headers and body): a GET needs little. */
#define VGPU_METRICS_REQUEST_MAX  16384u
/* The unix: prefix of metrics_listen. */
#define VGPU_METRICS_UNIX_PREFIX  "unix:"

/* What the text says besides the core's figures. */
struct vgpu_metrics_info {
    const char *version;
    uint64_t start_time_s; /* the daemon's start, Unix time */
    /* Each pool's backend string, indexed by letter - VGPU_POOL_FIRST. */
    const char *backend[VGPU_POOL_COUNT];
};

/**
 * vgpu_metrics_text() - the exposition text of @m's figures now.
 * Return: the text (malloc'ed; the caller frees it), or NULL when out of
 * memory.
 */
char *vgpu_metrics_text(const struct vgpu_mediator *m,
                        const struct vgpu_metrics_info *info);

/**
 * vgpu_metrics_check_listen() - check a metrics_listen value: "unix:PATH"
 * (an absolute path), or "ADDRESS:PORT" with an IPv4 address, or
 * "[IPv6]:PORT", PORT 1..65535.
 * Return: 0, or -EINVAL with the reason in @why.
 */
int vgpu_metrics_check_listen(const char *value, char *why, size_t why_len);

struct vgpu_metrics;

/**
 * vgpu_metrics_start() - listen on @listen (as checked above; a Unix socket
 * file that nothing answers on is replaced) and serve @m's figures on the
 * loop. @m, @info (and its strings), @loop and @log must outlive it.
 * Return: the endpoint, or NULL with @err set.
 */
struct vgpu_metrics *vgpu_metrics_start(struct vgpu_event_loop *loop,
                                        struct vgpu_log *log,
                                        const struct vgpu_mediator *m,
                                        const struct vgpu_metrics_info *info,
                                        const char *listen, char *err,
                                        size_t err_len);

/** vgpu_metrics_stop() - close the endpoint (and remove its socket file).
 * NULL is a no-op. */
void vgpu_metrics_stop(struct vgpu_metrics *x);

#endif /* VGPU_DAEMON_METRICS_H */
