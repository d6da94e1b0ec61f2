/*
 * The server's control socket (server.h): one command line per connection
 * ("stats", "help"), answered at once, then closed.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "server_internal.h"
#include "vgpu/ctl.h"

/* ---- Control connections ------------------------------------------------ */

/* The answer to "help": every command the control socket takes. */
static const char server_control_help[] =
    "commands (one line each; the answer follows, then the connection "
    "closes):\n"
    "  " SERVER_CMD_HELP "   this list\n"
    "  " SERVER_CMD_STATS
    "  the per-VM counters, as vgpu-mediator --stats prints them\n"
    "  " SERVER_CMD_LIVE
    "   the same with each VM's queued and running requests (vgpu-admin "
    "top)\n";

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

static void
server_stats_line(const struct vgpu_vm_stats *s, void *arg)
{
    struct server_buf *b = arg;
    char line[VGPU_CTL_LINE_MAX];

    if (vgpu_ctl_format_vm(s, line, sizeof(line)) >= (int)sizeof(line)) {
        b->failed = 1;
        return;
    }
    server_buf_printf(b, "%s", line);
}

char *
vgpu_server_format_stats(const struct vgpu_mediator *m)
{
    struct server_buf lines = {0};
    struct server_buf out = {0};
    size_t n;

    n = vgpu_mediator_stats(m, server_stats_line, &lines);
    /* The version last: clients skip lines that are not "vm=" lines. */
    server_buf_printf(&out, "vms %zu\n%sversion %s\n", n,
                      lines.p ? lines.p : "", VGPU_VERSION_STRING);
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
    if (strcmp(line, SERVER_CMD_HELP) == 0) {
        server_control_answer(c, server_control_help);
        return;
    }
    if (strcmp(line, SERVER_CMD_STATS) == 0 && c->srv->m != NULL) {
        text = vgpu_server_format_stats(c->srv->m);
        server_control_answer(c, text ? text : "error: out of memory\n");
        free(text);
        return;
    }
    if (strcmp(line, SERVER_CMD_LIVE) == 0 && c->srv->m != NULL) {
        text = vgpu_server_format_live(c->srv->m);
        server_control_answer(c, text ? text : "error: out of memory\n");
        free(text);
        return;
    }
    for (char *p = line; *p != '\0'; p++) {
        if ((unsigned char)*p < 0x20 || (unsigned char)*p == 0x7f) {
            *p = '?';
        }
    }
    snprintf(msg, sizeof(msg),
             "error: unknown command '%s' (try '" SERVER_CMD_HELP "')\n", line);
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
