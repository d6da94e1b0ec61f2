/*
 * The control socket's "live" answer (server.h): the "stats" lines with
 * each VM's queue state added, what vgpu-admin status and top show.
 */
#include <stdio.h>
#include <stdlib.h>

#include "server.h"
#include "vgpu/ctl.h"
#include "vgpu/mediator_metrics.h"

struct live_out {
    FILE *f;
    int failed;
};

static void
live_line(const struct vgpu_vm_metrics *vm, void *arg)
{
    struct live_out *o = arg;
    char line[VGPU_CTL_LINE_MAX];
    int n = vgpu_ctl_format_vm(&vm->stats, line, sizeof(line));

    if (n <= 0 || n >= (int)sizeof(line)) {
        o->failed = 1;
        return;
    }
    line[n - 1] = '\0'; /* the newline: the live fields follow */
    fprintf(o->f, "%s queued=%u running=%u\n", line, (unsigned)vm->queued,
            (unsigned)vm->running);
}

char *
vgpu_server_format_live(const struct vgpu_mediator *m)
{
    struct live_out o = {0};
    char *lines = NULL;
    char *text = NULL;
    size_t len = 0;
    size_t n;

    o.f = open_memstream(&lines, &len);
    if (o.f == NULL) {
        return NULL;
    }
    n = vgpu_mediator_metrics(m, live_line, &o);
    if (fclose(o.f) != 0 || o.failed ||
        asprintf(&text, "vms %zu\n%sversion %s\n", n, lines,
                 VGPU_VERSION_STRING) < 0) {
        text = NULL;
    }
    free(lines);
    return text;
}
