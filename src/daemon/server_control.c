/*
 * The server's control socket (server.h): one command line per connection
 * ("stats"), answered at once with the per-VM counters, then closed.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "server_internal.h"

/* ---- Control connections ------------------------------------------------ */

struct server_buf {
    char *p;
    size_t len;
    size_t alloc;
    int failed;
};

static void server_buf_printf(struct server_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
server_buf_printf(struct server_buf *b, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (b->failed) {
        return;
    }
    for (;;) {
        size_t room = b->alloc - b->len;

        va_start(ap, fmt);
        n = vsnprintf(b->p ? b->p + b->len : NULL, room, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->failed = 1;
            return;
        }
        if ((size_t)n < room) {
            b->len += (size_t)n;
            return;
        }
        size_t alloc = b->alloc ? b->alloc * 2 : 1024;
        char *p;

        while (alloc < b->len + (size_t)n + 1) {
            alloc *= 2;
        }
        p = realloc(b->p, alloc);
        if (p == NULL) {
            b->failed = 1;
            return;
        }
        b->p = p;
        b->alloc = alloc;
    }
}

static const char *
server_priority_name(uint8_t priority)
{
    static const char *const names[VGPU_PRIO_COUNT] = {
        [VGPU_PRIO_LOW] = "low",
        [VGPU_PRIO_MEDIUM] = "medium",
        [VGPU_PRIO_HIGH] = "high",
    };

    return priority < VGPU_PRIO_COUNT ? names[priority] : "?";
}

static void
server_stats_line(const struct vgpu_vm_stats *s, void *arg)
{
    struct server_buf *b = arg;
    int any = 0;
    char pool = (s->pool >= VGPU_POOL_FIRST && s->pool <= VGPU_POOL_LAST)
                    ? (char)s->pool
                    : '-';

    server_buf_printf(
        b,
        "vm=%u pool=%c priority=%s connected=%d requests=%llu "
        "responses=%llu bytes_in=%llu bytes_out=%llu wait_p50_us=%llu "
        "wait_p99_us=%llu service_p50_us=%llu service_p99_us=%llu "
        "service_total_us=%llu errors=",
        (unsigned)s->vm_id, pool, server_priority_name(s->priority),
        s->connected ? 1 : 0, (unsigned long long)s->requests,
        (unsigned long long)s->responses, (unsigned long long)s->bytes_in,
        (unsigned long long)s->bytes_out,
        (unsigned long long)(s->wait_p50 / 1000),
        (unsigned long long)(s->wait_p99 / 1000),
        (unsigned long long)(s->service_p50 / 1000),
        (unsigned long long)(s->service_p99 / 1000),
        (unsigned long long)(s->service_total / 1000));
    for (int code = VGPU_ERR_NONE + 1; code < (int)VGPU_ERR_COUNT; code++) {
        if (s->errors[code] == 0) {
            continue;
        }
        server_buf_printf(b, "%s%s:%llu", any ? "," : "", vgpu_strerror(code),
                          (unsigned long long)s->errors[code]);
        any = 1;
    }
    server_buf_printf(b, "%s\n", any ? "" : "-");
}

char *
vgpu_server_format_stats(const struct vgpu_mediator *m)
{
    struct server_buf lines = {0};
    struct server_buf out = {0};
    size_t n;

    n = vgpu_mediator_stats(m, server_stats_line, &lines);
    server_buf_printf(&out, "vms %zu\n%s", n, lines.p ? lines.p : "");
    free(lines.p);
    if (lines.failed || out.failed) {
        free(out.p);
        return NULL;
    }
    return out.p;
}

static void
server_control_answer(struct server_conn *c, const char *text)
{
    if (vgpu_server_conn_send(c, (const uint8_t *)text, strlen(text)) < 0) {
        c->broken = 1;
    }
    vgpu_server_mark_closing(c);
}

static void
server_control_command(struct server_conn *c, char *line)
{
    char msg[VGPU_SERVER_CONTROL_LINE_MAX + 64];
    char *text;

    line[strcspn(line, "\r")] = '\0';
    if (strcmp(line, SERVER_CMD_STATS) == 0 && c->srv->m != NULL) {
        text = vgpu_server_format_stats(c->srv->m);
        server_control_answer(c, text ? text : "error: out of memory\n");
        free(text);
        return;
    }
    for (char *p = line; *p != '\0'; p++) {
        if ((unsigned char)*p < 0x20 || (unsigned char)*p == 0x7f) {
            *p = '?';
        }
    }
    snprintf(msg, sizeof(msg), "error: unknown command '%s'\n", line);
    server_control_answer(c, msg);
}

void
vgpu_server_control_read(struct server_conn *c)
{
    size_t room = sizeof(c->cmd) - 1 - c->cmd_len;
    ssize_t n;
    char *nl;

    do {
        n = recv(c->fd, c->cmd + c->cmd_len, room, MSG_DONTWAIT);
    } while (n < 0 && errno == EINTR);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        return;
    }
    if (n < 0) {
        c->broken = 1;
        vgpu_server_mark_closing(c);
        return;
    }
    c->cmd_len += (size_t)n;
    c->cmd[c->cmd_len] = '\0';
    nl = memchr(c->cmd, '\n', c->cmd_len);
    if (nl != NULL) {
        *nl = '\0';
        server_control_command(c, c->cmd);
    } else if (n == 0 && c->cmd_len > 0) {
        server_control_command(c, c->cmd); /* no newline before EOF */
    } else if (n == 0) {
        vgpu_server_mark_closing(c);
    } else if (c->cmd_len == sizeof(c->cmd) - 1) {
        server_control_answer(c, "error: command line too long\n");
    }
}
