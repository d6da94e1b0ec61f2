/*
 * The daemon's side of the stats text: one VM's line (vgpu/ctl.h). Pure:
 * the server writes the "vms N" line and one of these per VM.
 */
#include <stdarg.h>
#include <stdio.h>

#include "vgpu/ctl.h"
#include "vgpu/proto.h"
#include "vgpu/scheduler.h"

#define NS_PER_US 1000u

/* Append to @buf at *@off as snprintf() would; *@off counts on past @len so
 * the caller learns the whole length. */
static void __attribute__((format(printf, 4, 5)))
format_add(char *buf, size_t len, size_t *off, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(*off < len ? buf + *off : NULL, *off < len ? len - *off : 0,
                  fmt, ap);
    va_end(ap);
    if (n > 0) {
        *off += (size_t)n;
    }
}

/* " executor_us=N vm_share=MODE share_1s_pct=P.PP target_pct=T.TT"
 * (target "-" when
 * there is none), before "errors=". */
static void
format_share(char *buf, size_t len, size_t *off, const struct vgpu_vm_stats *s)
{
    const char *mode = vgpu_sched_share_name(s->share_mode);

    format_add(buf, len, off,
               " executor_us=%llu vm_share=%s share_1s_pct=%u.%02u "
               "target_pct=",
               (unsigned long long)(s->executor_total / NS_PER_US),
               mode != NULL ? mode : "?", (unsigned)(s->share_1s_bp / 100u),
               (unsigned)(s->share_1s_bp % 100u));
    if (s->target_bp == 0) {
        format_add(buf, len, off, "- ");
    } else {
        format_add(buf, len, off, "%u.%02u ", (unsigned)(s->target_bp / 100u),
                   (unsigned)(s->target_bp % 100u));
    }
}

int
vgpu_ctl_format_vm(const struct vgpu_vm_stats *s, char *buf, size_t len)
{
    const char *prio = vgpu_prio_name(s->priority);
    char pool = vgpu_pool_valid(s->pool) ? (char)s->pool : '-';
    size_t off = 0;
    int any = 0;

    if (len > 0) {
        buf[0] = '\0';
    }
    format_add(buf, len, &off,
               "vm=%u pool=%c priority=%s connected=%d requests=%llu "
               "responses=%llu bytes_in=%llu bytes_out=%llu wait_p50_us=%llu "
               "wait_p99_us=%llu service_p50_us=%llu service_p99_us=%llu "
               "service_total_us=%llu",
               (unsigned)s->vm_id, pool, prio != NULL ? prio : "?",
               s->connected ? 1 : 0, (unsigned long long)s->requests,
               (unsigned long long)s->responses,
               (unsigned long long)s->bytes_in,
               (unsigned long long)s->bytes_out,
               (unsigned long long)(s->wait_p50 / NS_PER_US),
               (unsigned long long)(s->wait_p99 / NS_PER_US),
               (unsigned long long)(s->service_p50 / NS_PER_US),
               (unsigned long long)(s->service_p99 / NS_PER_US),
               (unsigned long long)(s->service_total / NS_PER_US));
    format_share(buf, len, &off, s);
    format_add(buf, len, &off, "errors=");
    for (int code = VGPU_ERR_NONE + 1; code < (int)VGPU_ERR_COUNT; code++) {
        if (s->errors[code] == 0) {
            continue;
        }
        format_add(buf, len, &off, "%s%s:%llu", any ? "," : "",
                   vgpu_strerror(code), (unsigned long long)s->errors[code]);
        any = 1;
    }
    format_add(buf, len, &off, "%s\n", any ? "" : "-");
    return (int)off;
}
