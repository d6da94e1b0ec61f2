/*
 * vgpu-sim's figures: per VM and in sum, as text or one JSON object, with
 * the executor time by priority from the in-process core or, in socket
 * mode, from the daemon's control socket (libvgpu-ctl).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "vgpu/ctl.h"
#include "vgpu_sim_cli.h"

#define NS_PER_US      1000u
#define NS_PER_SEC     1e9
#define PCT_50         50u
#define PCT_99         99u
#define CTL_TIMEOUT_MS 2000

static const char *const guest_kind_names[] = {
    [KIND_WAIT_TIMEOUT - VGPU_ERR_COUNT] = "WAIT_TIMEOUT",
    [KIND_CANCELED - VGPU_ERR_COUNT] = "CANCELED",
    [KIND_GUEST_OTHER - VGPU_ERR_COUNT] = "GUEST_ERROR",
};

static const char *
kind_name(unsigned kind)
{
    if (kind < VGPU_ERR_COUNT) {
        return vgpu_strerror((int)kind);
    }
    return guest_kind_names[kind - VGPU_ERR_COUNT];
}

/* Executor time by priority, and whether it is known. */
struct share {
    int known;
    double ns[VGPU_PRIO_COUNT];
};

struct share_arg {
    const struct opts *o;
    struct share *sh;
};

static void
share_add(const struct vgpu_vm_stats *s, void *arg)
{
    struct share_arg *sa = arg;

    if (s->vm_id >= sa->o->vm_id_base &&
        s->vm_id - sa->o->vm_id_base < sa->o->vms &&
        s->priority < VGPU_PRIO_COUNT) {
        sa->sh->ns[s->priority] += (double)s->service_total;
    }
}

/* Socket mode: service_total_us by priority from the daemon's stats. */
static void
share_from_daemon(const struct opts *o, struct share *sh)
{
    char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
    struct vgpu_ctl_vm *vms = NULL;
    char *text = NULL;
    size_t n = 0;
    int seen = 0;

    sh->known = 0;
    if ((size_t)snprintf(path, sizeof(path), "%s%s", o->socket,
                         VGPU_CTL_SUFFIX) >= sizeof(path) ||
        vgpu_ctl_query(path, VGPU_CTL_STATS, CTL_TIMEOUT_MS,
                       VGPU_CTL_ANSWER_MAX, &text) < 0 ||
        vgpu_ctl_parse_stats(text, &vms, &n, NULL) < 0) {
        free(text);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        const struct vgpu_ctl_vm *v = &vms[i];

        if (v->vm_id < o->vm_id_base || v->vm_id - o->vm_id_base >= o->vms) {
            continue;
        }
        if (!(v->have & VGPU_CTL_HAVE_SERVICE) ||
            !(v->have & VGPU_CTL_HAVE_PRIORITY)) {
            goto out; /* the daemon does not report it: n/a */
        }
        if (v->priority >= 0) {
            sh->ns[v->priority] += (double)v->service_total_us * NS_PER_US;
        }
        seen++;
    }
    sh->known = seen > 0;
out:
    free(vms);
    free(text);
}

static void
json_str(const char *s)
{
    putchar('"');
    for (; *s != '\0'; s++) {
        unsigned char ch = (unsigned char)*s;

        if (ch == '"' || ch == '\\') {
            printf("\\%c", ch);
        } else if (ch < ' ') {
            printf("\\u%04x", ch);
        } else {
            putchar(ch);
        }
    }
    putchar('"');
}

static const char *
mode_name(const struct opts *o)
{
    return o->socket != NULL ? "socket"
                             : (o->threads ? "threaded" : "deterministic");
}

int
sim_cli_gave_up(const struct run *r)
{
    uint64_t done = 0;
    uint64_t answered = 0;

    for (unsigned i = 0; i < r->o->vms; i++) {
        done += r->vms[i].done;
        answered += r->vms[i].done - r->vms[i].errors;
    }
    fprintf(stderr,
            PROG ": gave up: the mediator at %s answered nothing for %u ms "
                 "(--reconnect-ms); %llu of %llu requests answered before, "
                 "%llu ended; last error: %s\n",
            r->o->socket, (unsigned)r->o->reconnect_ms,
            (unsigned long long)answered,
            (unsigned long long)r->o->requests * r->o->vms,
            (unsigned long long)done, r->gave_up_why);
    return 1;
}

/* Print everything; return the exit status. */
int
sim_cli_report(struct run *r, uint64_t wall_ns)
{
    const struct opts *o = r->o;
    uint64_t kinds[KIND_COUNT] = {0};
    uint64_t total = 0, errors = 0, mismatches = 0, n_all = 0;
    struct share sh = {0};
    struct share_arg sa = {.o = o, .sh = &sh};
    uint64_t *all;
    double rate;
    double share_total;
    int first;

    for (unsigned i = 0; i < o->vms; i++) {
        n_all += r->vms[i].n_lat;
    }
    all = malloc((n_all + 1u) * sizeof(*all));
    if (all == NULL) {
        fprintf(stderr, PROG ": out of memory\n");
        return 1;
    }
    n_all = 0;
    if (o->json) {
        printf("{\"mode\":\"%s\",\"op\":\"%s\",\"size\":%u,\"vms\":%u,"
               "\"per_vm\":[",
               mode_name(o), vgpu_op_name(r->shape.op), (unsigned)r->shape.n,
               o->vms);
    }
    for (unsigned i = 0; i < o->vms; i++) {
        struct vm_run *v = &r->vms[i];

        vgpu_wl_sort_u64(v->lat_ns, v->n_lat);
        memcpy(all + n_all, v->lat_ns, v->n_lat * sizeof(*all));
        n_all += v->n_lat;
        total += v->done;
        errors += v->errors;
        mismatches += v->mismatches;
        for (unsigned k = 0; k < KIND_COUNT; k++) {
            kinds[k] += v->kinds[k];
        }
        if (o->json) {
            printf("%s{\"vm\":%u,\"pool\":\"%c\",\"priority\":\"%s\","
                   "\"requests\":%llu,\"errors\":%llu,\"mismatches\":%llu,"
                   "\"p50_us\":%.1f,\"p99_us\":%.1f}",
                   i ? "," : "", (unsigned)v->vm_id, v->pool,
                   vgpu_prio_name(v->prio), (unsigned long long)v->done,
                   (unsigned long long)v->errors,
                   (unsigned long long)v->mismatches,
                   vgpu_wl_pct_us(v->lat_ns, v->n_lat, PCT_50),
                   vgpu_wl_pct_us(v->lat_ns, v->n_lat, PCT_99));
        } else {
            printf("vm=%u pool=%c priority=%s requests=%llu errors=%llu "
                   "mismatches=%llu p50_us=%.1f p99_us=%.1f\n",
                   (unsigned)v->vm_id, v->pool, vgpu_prio_name(v->prio),
                   (unsigned long long)v->done, (unsigned long long)v->errors,
                   (unsigned long long)v->mismatches,
                   vgpu_wl_pct_us(v->lat_ns, v->n_lat, PCT_50),
                   vgpu_wl_pct_us(v->lat_ns, v->n_lat, PCT_99));
        }
    }
    vgpu_wl_sort_u64(all, n_all);
    rate = wall_ns > 0 ? (double)total * NS_PER_SEC / (double)wall_ns : 0.0;
    if (o->socket != NULL) {
        share_from_daemon(o, &sh);
    } else {
        vgpu_sim_stats(r->sim, share_add, &sa);
        sh.known = 1;
    }
    share_total =
        sh.ns[VGPU_PRIO_LOW] + sh.ns[VGPU_PRIO_MEDIUM] + sh.ns[VGPU_PRIO_HIGH];
    if (share_total <= 0.0) {
        sh.known = 0;
    }
    if (o->json) {
        printf("],\"requests\":%llu,\"errors\":%llu,\"errors_by_name\":{",
               (unsigned long long)total, (unsigned long long)errors);
        first = 1;
        for (unsigned k = 0; k < KIND_COUNT; k++) {
            if (kinds[k] > 0) {
                printf("%s", first ? "" : ",");
                json_str(kind_name(k));
                printf(":%llu", (unsigned long long)kinds[k]);
                first = 0;
            }
        }
        printf("},\"mismatches\":%llu,\"requests_per_s\":%.1f,"
               "\"latency_us\":{\"p50\":%.1f,\"p99\":%.1f},"
               "\"executor_share\":",
               (unsigned long long)mismatches, rate,
               vgpu_wl_pct_us(all, n_all, PCT_50),
               vgpu_wl_pct_us(all, n_all, PCT_99));
        if (sh.known) {
            printf("{\"high\":%.4f,\"medium\":%.4f,\"low\":%.4f}",
                   sh.ns[VGPU_PRIO_HIGH] / share_total,
                   sh.ns[VGPU_PRIO_MEDIUM] / share_total,
                   sh.ns[VGPU_PRIO_LOW] / share_total);
        } else {
            printf("null");
        }
        printf("}\n");
    } else {
        printf("summary: mode=%s op=%s size=%u vms=%u\n", mode_name(o),
               vgpu_op_name(r->shape.op), (unsigned)r->shape.n, o->vms);
        printf("  %-22s %llu\n", "total requests", (unsigned long long)total);
        printf("  %-22s %llu", "errors", (unsigned long long)errors);
        for (unsigned k = 0; k < KIND_COUNT; k++) {
            if (kinds[k] > 0) {
                printf(" %s:%llu", kind_name(k), (unsigned long long)kinds[k]);
            }
        }
        printf("\n  %-22s %llu\n", "mismatches",
               (unsigned long long)mismatches);
        printf("  %-22s %.0f\n", "requests/s", rate);
        printf("  %-22s %.1f\n", "latency p50 (us)",
               vgpu_wl_pct_us(all, n_all, PCT_50));
        printf("  %-22s %.1f\n", "latency p99 (us)",
               vgpu_wl_pct_us(all, n_all, PCT_99));
        if (sh.known) {
            /* The share of the backends' busy time each priority got
             * (the daemon's service_total_us, or the core's). */
            printf("  %-22s high %.1f%%  medium %.1f%%  low %.1f%%\n",
                   "backend time share",
                   100.0 * sh.ns[VGPU_PRIO_HIGH] / share_total,
                   100.0 * sh.ns[VGPU_PRIO_MEDIUM] / share_total,
                   100.0 * sh.ns[VGPU_PRIO_LOW] / share_total);
        } else {
            printf("  %-22s n/a%s\n", "backend time share",
                   o->socket != NULL ? " (the daemon's stats have no "
                                       "service_total_us)"
                                     : "");
        }
    }
    free(all);
    if (mismatches > 0) {
        return 1;
    }
    return errors > 0 && !o->allow_errors ? 1 : 0;
}
