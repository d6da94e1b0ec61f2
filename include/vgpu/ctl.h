/*
 * The mediator's control socket (docs/mediator.md): the text of its
 * "stats" answer, written by the daemon and read by vgpu-mediator --stats,
 * vgpu-admin check, vgpu-sim's socket mode and vgpu-chaos.
 *
 * The answer is "vms N\n", then one line per VM the mediator has seen:
 *
 *   vm=ID pool=L priority=NAME connected=0|1 requests=N responses=N
 *   bytes_in=N bytes_out=N wait_p50_us=N wait_p99_us=N service_p50_us=N
 *   service_p99_us=N service_total_us=N errors=CODE:N,...|-
 *
 * (one line, fields separated by one space). The formatter, the parser and
 * the client all live in libvgpu-ctl (src/ctl) so that the three agree.
 */
#ifndef VGPU_CTL_H
#define VGPU_CTL_H

#include <stddef.h>
#include <stdint.h>

#include "vgpu/common.h"
#include "vgpu/mediator.h"

/* The control socket is the device socket's path plus this, unless the
 * daemon is told otherwise (--control). */
#define VGPU_CTL_SUFFIX     ".ctl"
/* The query for the per-VM counters. */
#define VGPU_CTL_STATS      "stats\n"
/* The most an answer may hold: a bound on what a client reads. */
#define VGPU_CTL_ANSWER_MAX (4u << 20)
/* The longest VM line vgpu_ctl_format_vm() writes, NUL included: every
 * field at its widest and every error code counted. */
#define VGPU_CTL_LINE_MAX   1024u

/**
 * vgpu_ctl_format_vm() - the stats line of one VM, "vm=... errors=...\n",
 * into @buf (always NUL-terminated when @len > 0). A pool that is not a
 * letter prints as '-', an unknown priority as '?'.
 * Return: the length of the whole line, as snprintf() counts it; a value
 * of @len or more means @buf was too small (VGPU_CTL_LINE_MAX never is).
 * Thread-safe.
 */
VGPU_EXPORT int vgpu_ctl_format_vm(const struct vgpu_vm_stats *s, char *buf,
                                   size_t len);

/* Which fields of a struct vgpu_ctl_vm its line had. */
#define VGPU_CTL_HAVE_POOL      (1u << 0)
#define VGPU_CTL_HAVE_PRIORITY  (1u << 1)
#define VGPU_CTL_HAVE_REQUESTS  (1u << 2)
#define VGPU_CTL_HAVE_RESPONSES (1u << 3)
#define VGPU_CTL_HAVE_SERVICE   (1u << 4) /* service_total_us */

/* One VM line of a stats answer, as parsed. */
struct vgpu_ctl_vm {
    uint32_t vm_id;
    char pool;              /* as printed: 'A'..'Z', or '-' */
    int priority;           /* VGPU_PRIO_*, or -1 for a name it does not know */
    char priority_name[16]; /* as printed, cut to 15 bytes */
    uint64_t requests;
    uint64_t responses;
    uint64_t service_total_us;
    unsigned have; /* VGPU_CTL_HAVE_* */
};

/**
 * vgpu_ctl_parse_stats() - the VM lines of the stats answer @text.
 * @vms:     receives an array of *@n_vms entries (malloc'ed; the caller
 *           frees it; NULL when there are none), in the answer's order.
 *           Lines that do not start with "vm=ID" are skipped.
 * @n_vms:   receives the count of VM lines.
 * @n_total: receives N of the "vms N" line; may be NULL.
 * Return: 0; -EPROTO when @text does not start with "vms N"; -ENOMEM.
 * Thread-safe.
 */
VGPU_EXPORT int vgpu_ctl_parse_stats(const char *text, struct vgpu_ctl_vm **vms,
                                     size_t *n_vms, size_t *n_total);

/**
 * vgpu_ctl_query() - send @cmd to the control socket at @path and read the
 * answer until the daemon closes the connection.
 * @timeout_ms: the longest wait for the daemon to take the query and for
 *              each part of its answer; -1 waits forever.
 * @max:        the most bytes the answer may have.
 * @answer:     receives the answer (malloc'ed, NUL-terminated; the caller
 *              frees it); NULL on failure.
 * Blocks; signals (EINTR) are resumed, SIGPIPE is not raised.
 * Return: 0, or a negative errno code: -ENAMETOOLONG for a path longer
 * than a socket address holds, what socket()/connect()/send()/read()
 * failed with (-ENOENT, -ECONNREFUSED, ...), -ETIMEDOUT, -EMSGSIZE for an
 * answer over @max, -ENOMEM. Thread-safe.
 */
VGPU_EXPORT int vgpu_ctl_query(const char *path, const char *cmd,
                               int timeout_ms, size_t max, char **answer);

/* The query of "live": the stats lines with " queued=N running=N" added to
 * each VM line (the requests waiting in the scheduler, and running). */
#define VGPU_CTL_LIVE "live\n"

/**
 * vgpu_ctl_field() - the value of the word "@key=..." on the line
 * [@line, @end) of a stats or live answer: a pointer to what follows the
 * '=', up to the next space or @end, or NULL when the line has no such
 * word. Thread-safe.
 */
VGPU_EXPORT const char *vgpu_ctl_field(const char *line, const char *end,
                                       const char *key);

/* The reconnect window of the tools that ask the control socket (--stats,
 * vgpu-admin check) unless told otherwise, and the pause between tries. */
#define VGPU_CTL_RECONNECT_MS       5000
#define VGPU_CTL_RECONNECT_PAUSE_MS 100

/**
 * vgpu_ctl_query_within() - vgpu_ctl_query(), tried again every
 * VGPU_CTL_RECONNECT_PAUSE_MS while the socket is missing or refuses
 * (-ENOENT, -ECONNREFUSED: a daemon restarting), for at most
 * @reconnect_ms; 0 tries once.
 * Return: as vgpu_ctl_query(), the last try's. Thread-safe.
 */
VGPU_EXPORT int vgpu_ctl_query_within(const char *path, const char *cmd,
                                      int reconnect_ms, int timeout_ms,
                                      size_t max, char **answer);

#endif /* VGPU_CTL_H */
