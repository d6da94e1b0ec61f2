/*
 * Driving vgpu-sim's VMs. In the deterministic and socket modes one thread
 * drives every VM: it rings the doorbell of each idle VM, then pumps the
 * simulator and collects what completed, so the mediator sees all the VMs'
 * requests at once. In the threaded mode each VM has its own thread
 * calling vgpu_call().
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vgpu_sim_cli.h"

#define POLL_MS 1000

static void
count_error(struct vm_run *v, int rc)
{
    unsigned kind;

    if (rc == VGPU_E_DEVICE) {
        kind = vgpu_last_error(v->c)->code;
        if (kind >= VGPU_ERR_COUNT) {
            kind = KIND_GUEST_OTHER;
        }
    } else if (rc == -ETIMEDOUT) {
        kind = KIND_WAIT_TIMEOUT;
    } else if (rc == -ECANCELED) {
        kind = KIND_CANCELED;
    } else {
        kind = KIND_GUEST_OTHER;
    }
    v->kinds[kind]++;
    v->errors++;
}

/* A request of @v ended with @rc (vgpu_wait()'s) and @len bytes. */
static void
finish_request(struct run *r, struct vm_run *v, int rc, size_t len, uint64_t t1)
{
    v->done++;
    v->lat_ns[v->n_lat++] = t1 - v->t0;
    if (rc != 0) {
        count_error(v, rc);
    } else if (!sim_cli_matches(v, &r->shape, len)) {
        v->mismatches++;
    }
}

/* One thread, every VM: submit on each idle VM, then collect. */
void
sim_cli_drive_all(struct run *r)
{
    const struct opts *o = r->o;
    uint64_t total = (uint64_t)o->vms * o->requests;
    uint64_t finished = 0;

    while (finished < total) {
        int any_inflight = 0;

        for (unsigned i = 0; i < o->vms; i++) {
            struct vm_run *v = &r->vms[i];
            int rc;

            if (v->inflight || v->issued == o->requests) {
                any_inflight |= v->inflight;
                continue;
            }
            sim_cli_next_request(r, v);
            rc = vgpu_submit(v->c, v->req, v->req_len, NULL);
            if (rc < 0) {
                finish_request(r, v, rc, 0, vgpu_wl_now_ns());
                finished++;
                continue;
            }
            v->inflight = 1;
            any_inflight = 1;
        }
        if (any_inflight && o->socket != NULL) {
            vgpu_sim_poll(r->sim, POLL_MS);
        }
        for (unsigned i = 0; i < o->vms; i++) {
            struct vm_run *v = &r->vms[i];
            size_t len = 0;
            int rc;

            if (!v->inflight) {
                continue;
            }
            rc = vgpu_wait(v->c, 0, v->resp, sizeof(v->resp), &len);
            if (rc == -ETIMEDOUT) {
                continue; /* still BUSY */
            }
            finish_request(r, v, rc, len, vgpu_wl_now_ns());
            v->inflight = 0;
            finished++;
        }
    }
}

struct thread_arg {
    struct run *r;
    struct vm_run *v;
};

/* Threaded mode: one VM, vgpu_call() after vgpu_call(). */
static void *
drive_one(void *arg)
{
    struct thread_arg *ta = arg;
    struct run *r = ta->r;
    struct vm_run *v = ta->v;

    while (v->issued < r->o->requests) {
        size_t len = 0;
        int rc;

        sim_cli_next_request(r, v);
        rc = vgpu_call(v->c, v->req, v->req_len, v->resp, sizeof(v->resp), &len,
                       r->call_timeout_ms);
        finish_request(r, v, rc, len, vgpu_wl_now_ns());
    }
    return NULL;
}

int
sim_cli_drive_threads(struct run *r)
{
    unsigned n = r->o->vms;
    pthread_t *th = calloc(n, sizeof(*th));
    struct thread_arg *ta = calloc(n, sizeof(*ta));
    unsigned started = 0;
    int rc = 0;

    if (th == NULL || ta == NULL) {
        fprintf(stderr, PROG ": out of memory\n");
        rc = -ENOMEM;
        goto out;
    }
    for (; started < n; started++) {
        int e;

        ta[started].r = r;
        ta[started].v = &r->vms[started];
        e = pthread_create(&th[started], NULL, drive_one, &ta[started]);
        if (e != 0) {
            fprintf(stderr, PROG ": cannot start a VM thread: %s\n",
                    strerror(e));
            rc = -e;
            break;
        }
    }
    for (unsigned i = 0; i < started; i++) {
        pthread_join(th[i], NULL);
    }
out:
    free(ta);
    free(th);
    return rc;
}
