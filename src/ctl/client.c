/*
 * The control socket's client (vgpu/ctl.h): connect, send one query, read
 * the answer until the daemon closes, with every wait bounded and the
 * answer's size too, so a stuck or babbling daemon cannot hang or exhaust
 * the tool that asked.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "vgpu/ctl.h"

#define CLIENT_FIRST_CAP 4096u

/* Wait until @fd is ready for @events. Return: 0, or a negative errno. */
static int
client_wait(int fd, short events, int timeout_ms)
{
    struct pollfd p = {.fd = fd, .events = events};
    int n;

    do {
        n = poll(&p, 1, timeout_ms);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
        return -errno;
    }
    return n == 0 ? -ETIMEDOUT : 0;
}

static int
client_send(int fd, const char *cmd, int timeout_ms)
{
    size_t len = strlen(cmd);
    size_t off = 0;

    while (off < len) {
        ssize_t n;
        int rc = client_wait(fd, POLLOUT, timeout_ms);

        if (rc < 0) {
            return rc;
        }
        n = send(fd, cmd + off, len - off, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            return -errno;
        }
        off += (size_t)n;
    }
    return 0;
}

/* Read until EOF into *@out (malloc'ed, NUL-terminated). */
static int
client_read(int fd, int timeout_ms, size_t max, char **out)
{
    size_t cap = CLIENT_FIRST_CAP;
    size_t len = 0;
    char *buf = malloc(cap);

    if (buf == NULL) {
        return -ENOMEM;
    }
    for (;;) {
        ssize_t n;
        int rc;

        if (len + 1u == cap) {
            char *more;

            if (len >= max) {
                free(buf);
                return -EMSGSIZE;
            }
            more = realloc(buf, cap * 2u);
            if (more == NULL) {
                free(buf);
                return -ENOMEM;
            }
            buf = more;
            cap *= 2u;
        }
        rc = client_wait(fd, POLLIN, timeout_ms);
        if (rc < 0) {
            free(buf);
            return rc;
        }
        n = read(fd, buf + len, cap - 1u - len);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            rc = -errno;
            free(buf);
            return rc;
        }
        if (n == 0) {
            break;
        }
        len += (size_t)n;
        if (len > max) {
            free(buf);
            return -EMSGSIZE;
        }
    }
    buf[len] = '\0';
    *out = buf;
    return 0;
}

int
vgpu_ctl_query(const char *path, const char *cmd, int timeout_ms, size_t max,
               char **answer)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    size_t len = strlen(path);
    int fd;
    int rc;

    *answer = NULL;
    if (len >= sizeof(sa.sun_path)) {
        return -ENAMETOOLONG;
    }
    memcpy(sa.sun_path, path, len + 1u);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return -errno;
    }
    /* A Unix socket connects at once or fails: no wait needed. */
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        rc = -errno;
        goto out;
    }
    rc = client_send(fd, cmd, timeout_ms);
    if (rc == 0) {
        rc = client_read(fd, timeout_ms, max, answer);
    }
out:
    close(fd);
    return rc;
}

static long long
client_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int
vgpu_ctl_query_within(const char *path, const char *cmd, int reconnect_ms,
                      int timeout_ms, size_t max, char **answer)
{
    long long end = client_now_ms() + (reconnect_ms > 0 ? reconnect_ms : 0);
    int rc;

    for (;;) {
        rc = vgpu_ctl_query(path, cmd, timeout_ms, max, answer);
        if ((rc != -ENOENT && rc != -ECONNREFUSED) ||
            client_now_ms() + VGPU_CTL_RECONNECT_PAUSE_MS > end) {
            return rc;
        }
        (void)poll(NULL, 0, VGPU_CTL_RECONNECT_PAUSE_MS);
    }
}
