/*
 * The metrics endpoint's HTTP side (metrics.h): libmicrohttpd in its
 * external epoll mode, driven by the daemon's event loop. Its epoll fd is
 * watched for reading; MHD_run() then does what is ready, and a timer
 * serves its connection timeouts (MHD_get_timeout()).
 */
#include <arpa/inet.h>
#include <errno.h>
#ifdef VGPU_HAVE_MHD
#include <microhttpd.h>
#endif
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "metrics.h"
#include "server.h"
#include "util.h"

#define METRICS_PORT_MAX      65535u
#define METRICS_ADDR_MAX      64u
/* The longest socket path (sun_path less its NUL). */
#define METRICS_UNIX_PATH_MAX 107u
/* MHD_run() calls in a row while libmicrohttpd has work it can do now. */
#define METRICS_RUNS          8
/* The timer when libmicrohttpd asks for none. */
#define METRICS_IDLE_MS       1000u
#define METRICS_NOT_FOUND                                                      \
    "not found: the metrics are at " VGPU_METRICS_PATH "\n"
#define METRICS_BAD_METHOD "only GET and HEAD are served\n"

/* ---- metrics_listen ------------------------------------------------------ */

/* "ADDRESS:PORT" or "[IPv6]:PORT" into @sa. Return: 0, or -EINVAL. */
static int
metrics_parse_inet(const char *value, struct sockaddr_storage *sa,
                   socklen_t *sa_len, char *why, size_t why_len)
{
    char addr[METRICS_ADDR_MAX];
    const char *colon = strrchr(value, ':');
    const char *host = value;
    size_t host_len;
    uint32_t port;
    char sub[128];

    if (colon == NULL) {
        snprintf(why, why_len,
                 "'%s' is not unix:PATH, ADDRESS:PORT or [IPv6]:PORT", value);
        return -EINVAL;
    }
    host_len = (size_t)(colon - value);
    if (host_len >= 2 && host[0] == '[' && host[host_len - 1] == ']') {
        host++;
        host_len -= 2;
    }
    if (host_len == 0 || host_len >= sizeof(addr)) {
        snprintf(why, why_len, "'%s': no address before the port", value);
        return -EINVAL;
    }
    memcpy(addr, host, host_len);
    addr[host_len] = '\0';
    if (vgpu_parse_u32(colon + 1, 1, METRICS_PORT_MAX, &port, sub,
                       sizeof(sub)) < 0) {
        snprintf(why, why_len, "'%s': port: %s", value, sub);
        return -EINVAL;
    }
    memset(sa, 0, sizeof(*sa));
    if (host != value) {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)sa;

        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons((uint16_t)port);
        *sa_len = sizeof(*s6);
        if (inet_pton(AF_INET6, addr, &s6->sin6_addr) == 1) {
            return 0;
        }
    } else {
        struct sockaddr_in *s4 = (struct sockaddr_in *)sa;

        s4->sin_family = AF_INET;
        s4->sin_port = htons((uint16_t)port);
        *sa_len = sizeof(*s4);
        if (inet_pton(AF_INET, addr, &s4->sin_addr) == 1) {
            return 0;
        }
    }
    snprintf(why, why_len,
             "'%s': '%s' is not a numeric IPv4 address or a bracketed IPv6 "
             "one",
             value, addr);
    return -EINVAL;
}

int
vgpu_metrics_check_listen(const char *value, char *why, size_t why_len)
{
    struct sockaddr_storage sa;
    socklen_t len;
    size_t plen = strlen(VGPU_METRICS_UNIX_PREFIX);

    if (strncmp(value, VGPU_METRICS_UNIX_PREFIX, plen) == 0) {
        if (value[plen] != '/') {
            snprintf(why, why_len, "'%s': the socket path must be absolute",
                     value);
            return -EINVAL;
        }
        if (strlen(value + plen) > METRICS_UNIX_PATH_MAX) {
            snprintf(why, why_len,
                     "'%s': the socket path is longer than %u bytes", value,
                     (unsigned)METRICS_UNIX_PATH_MAX);
            return -EINVAL;
        }
        return 0;
    }
    return metrics_parse_inet(value, &sa, &len, why, why_len);
}

#ifdef VGPU_HAVE_MHD

struct vgpu_metrics {
    struct vgpu_event_loop *loop;
    struct vgpu_log *log;
    const struct vgpu_mediator *m;
    const struct vgpu_metrics_info *info;
    struct MHD_Daemon *d;
    int listen_fd;
    int epoll_fd;
    int64_t timer;
    char *path; /* the Unix socket's, or NULL */
    dev_t dev;
    ino_t ino;
};

static int
metrics_bind_inet(const char *value, char *err, size_t err_len)
{
    struct sockaddr_storage sa;
    socklen_t len = 0;
    int one = 1;
    int fd;
    int rc;

    rc = metrics_parse_inet(value, &sa, &len, err, err_len);
    if (rc < 0) {
        return rc;
    }
    fd = socket(sa.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        rc = -errno;
        snprintf(err, err_len, "metrics_listen %s: socket: %s%s", value,
                 strerror(errno),
                 errno == EAFNOSUPPORT
                     ? " (under systemd, the unit's RestrictAddressFamilies "
                       "must allow it: docs/admin-guide.md, \"Monitoring\")"
                     : "");
        return rc;
    }
    (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&sa, len) < 0 ||
        listen(fd, SOMAXCONN) < 0) {
        rc = -errno;
        snprintf(err, err_len, "metrics_listen %s: %s", value, strerror(errno));
        close(fd);
        return rc;
    }
    return fd;
}

/* ---- HTTP ---------------------------------------------------------------- */

static enum MHD_Result
metrics_reply(struct MHD_Connection *conn, unsigned int code, char *text,
              enum MHD_ResponseMemoryMode mode, const char *type)
{
    struct MHD_Response *r;
    enum MHD_Result ok;

    r = MHD_create_response_from_buffer(strlen(text), text, mode);
    if (r == NULL) {
        if (mode == MHD_RESPMEM_MUST_FREE) {
            free(text);
        }
        return MHD_NO;
    }
    (void)MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    ok = MHD_queue_response(conn, code, r);
    MHD_destroy_response(r);
    return ok;
}

static enum MHD_Result
metrics_request(void *cls, struct MHD_Connection *conn, const char *url,
                const char *method, const char *version,
                const char *upload_data, size_t *upload_data_size,
                void **con_cls)
{
    static int first_call_seen;
    struct vgpu_metrics *x = cls;
    char *text;

    (void)version;
    (void)upload_data;
    /* Another method is answered at once, its body unread (libmicrohttpd
     * closes the connection after the answer). */
    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 &&
        strcmp(method, MHD_HTTP_METHOD_HEAD) != 0) {
        return metrics_reply(conn, MHD_HTTP_METHOD_NOT_ALLOWED,
                             (char *)METRICS_BAD_METHOD, MHD_RESPMEM_PERSISTENT,
                             "text/plain");
    }
    if (*con_cls == NULL) {
        *con_cls = &first_call_seen; /* the headers are in; answer next */
        return MHD_YES;
    }
    if (*upload_data_size != 0) {
        *upload_data_size = 0; /* a GET with a body: dropped */
        return MHD_YES;
    }
    if (strcmp(url, VGPU_METRICS_PATH) != 0) {
        return metrics_reply(conn, MHD_HTTP_NOT_FOUND,
                             (char *)METRICS_NOT_FOUND, MHD_RESPMEM_PERSISTENT,
                             "text/plain");
    }
    text = vgpu_metrics_text(x->m, x->info);
    if (text == NULL) {
        return metrics_reply(conn, MHD_HTTP_INTERNAL_SERVER_ERROR,
                             (char *)"out of memory\n", MHD_RESPMEM_PERSISTENT,
                             "text/plain");
    }
    return metrics_reply(conn, MHD_HTTP_OK, text, MHD_RESPMEM_MUST_FREE,
                         VGPU_METRICS_CONTENT_TYPE);
}

/* libmicrohttpd's MHD_OPTION_EXTERNAL_LOGGER: its own printf format. */
static void metrics_mhd_log(void *cls, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

static void
metrics_mhd_log(void *cls, const char *fmt, va_list ap)
{
    struct vgpu_metrics *x = cls;
    char line[256];

    vsnprintf(line, sizeof(line), fmt, ap);
    line[strcspn(line, "\n")] = '\0';
    /* At debug level: a scraper that sends garbage must not flood the log
     * (its failures to start are reported by vgpu_metrics_start()). */
    vgpu_log_printf(x->log, VGPU_LOG_DEBUG, "metrics: %s", line);
}

/* ---- The loop's side ----------------------------------------------------- */

static int64_t metrics_timer(struct vgpu_event_loop *loop, int64_t id,
                             void *data);

/* Run libmicrohttpd while it has work now, then set the timer for when it
 * next needs to run (a connection's timeout). */
static void
metrics_run(struct vgpu_metrics *x)
{
    MHD_UNSIGNED_LONG_LONG ms = 0;
    int tries = 0;

    do {
        (void)MHD_run(x->d);
    } while (MHD_get_timeout(x->d, &ms) == MHD_YES && ms == 0 &&
             ++tries < METRICS_RUNS);
    if (x->timer > 0) {
        vgpu_event_timer_del(x->loop, x->timer);
        x->timer = 0;
    }
    if (MHD_get_timeout(x->d, &ms) != MHD_YES || ms > METRICS_IDLE_MS) {
        ms = METRICS_IDLE_MS;
    }
    x->timer = vgpu_event_timer_add(x->loop, ms, metrics_timer, x);
    if (x->timer < 0) {
        x->timer = 0;
    }
}

static int64_t
metrics_timer(struct vgpu_event_loop *loop, int64_t id, void *data)
{
    struct vgpu_metrics *x = data;

    (void)loop;
    (void)id;
    x->timer = 0; /* this one ends: DONE below */
    metrics_run(x);
    return VGPU_EVENT_TIMER_DONE;
}

static void
metrics_event(struct vgpu_event_loop *loop, int fd, void *data, int mask)
{
    (void)loop;
    (void)fd;
    (void)mask;
    metrics_run(data);
}

struct vgpu_metrics *
vgpu_metrics_start(struct vgpu_event_loop *loop, struct vgpu_log *log,
                   const struct vgpu_mediator *m,
                   const struct vgpu_metrics_info *info, const char *listen,
                   char *err, size_t err_len)
{
    size_t plen = strlen(VGPU_METRICS_UNIX_PREFIX);
    struct vgpu_metrics *x = calloc(1, sizeof(*x));
    const union MHD_DaemonInfo *di;
    unsigned int flags = MHD_USE_EPOLL | MHD_USE_ERROR_LOG;
    int rc;

    if (x == NULL) {
        snprintf(err, err_len, "metrics: out of memory");
        return NULL;
    }
    x->loop = loop;
    x->log = log;
    x->m = m;
    x->info = info;
    x->epoll_fd = -1;
    x->listen_fd = -1;
    if (strncmp(listen, VGPU_METRICS_UNIX_PREFIX, plen) == 0) {
        x->path = strdup(listen + plen);
        if (x->path == NULL) {
            snprintf(err, err_len, "metrics: out of memory");
            goto err;
        }
        x->listen_fd =
            vgpu_server_bind_unix(log, x->path, &x->dev, &x->ino, err, err_len);
    } else {
        x->listen_fd = metrics_bind_inet(listen, err, err_len);
        if (strchr(listen, '[') != NULL) {
            flags |= MHD_USE_IPv6;
        }
    }
    if (x->listen_fd < 0) {
        goto err;
    }
    x->d = MHD_start_daemon(
        flags, 0, NULL, NULL, metrics_request, x, MHD_OPTION_EXTERNAL_LOGGER,
        metrics_mhd_log, x, MHD_OPTION_LISTEN_SOCKET, x->listen_fd,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned int)VGPU_METRICS_MAX_CONNS,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)VGPU_METRICS_TIMEOUT_S,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)VGPU_METRICS_REQUEST_MAX,
        MHD_OPTION_END);
    if (x->d == NULL) {
        snprintf(err, err_len,
                 "metrics_listen %s: libmicrohttpd would not "
                 "start",
                 listen);
        goto err;
    }
    di = MHD_get_daemon_info(x->d, MHD_DAEMON_INFO_EPOLL_FD);
    if (di == NULL) {
        snprintf(err, err_len, "metrics: libmicrohttpd has no epoll fd");
        goto err;
    }
    x->epoll_fd = di->epoll_fd;
    rc = vgpu_event_add(loop, x->epoll_fd, VGPU_EVENT_READ, metrics_event, x);
    if (rc < 0) {
        snprintf(err, err_len, "metrics: %s", vgpu_strerror(rc));
        x->epoll_fd = -1;
        goto err;
    }
    metrics_run(x);
    vgpu_log_printf(log, VGPU_LOG_INFO, "metrics: serving %s on %s",
                    VGPU_METRICS_PATH, listen);
    return x;

err:
    vgpu_metrics_stop(x);
    return NULL;
}

void
vgpu_metrics_stop(struct vgpu_metrics *x)
{
    if (x == NULL) {
        return;
    }
    if (x->timer > 0) {
        vgpu_event_timer_del(x->loop, x->timer);
    }
    if (x->epoll_fd >= 0) {
        vgpu_event_del(x->loop, x->epoll_fd,
                       VGPU_EVENT_READ | VGPU_EVENT_WRITE);
    }
    if (x->d != NULL) {
        MHD_stop_daemon(x->d); /* closes the listening socket too */
    } else if (x->listen_fd >= 0) {
        close(x->listen_fd);
    }
    if (x->path != NULL && x->listen_fd >= 0) {
        vgpu_server_unlink_own(x->path, x->dev, x->ino);
    }
    free(x->path);
    free(x);
}

#else /* !VGPU_HAVE_MHD */

struct vgpu_metrics *
vgpu_metrics_start(struct vgpu_event_loop *loop, struct vgpu_log *log,
                   const struct vgpu_mediator *m,
                   const struct vgpu_metrics_info *info, const char *listen,
                   char *err, size_t err_len)
{
    (void)loop;
    (void)log;
    (void)m;
    (void)info;
    snprintf(err, err_len,
             "metrics_listen %s: this vgpu-mediator was built without "
             "libmicrohttpd, so it has no metrics endpoint",
             listen);
    return NULL;
}

void
vgpu_metrics_stop(struct vgpu_metrics *x)
{
    (void)x;
}

#endif /* VGPU_HAVE_MHD */
