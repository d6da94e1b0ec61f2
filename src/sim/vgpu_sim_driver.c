/*
 * Driving vgpu-sim's VMs. In the deterministic and socket modes one thread
 * drives every VM: it rings the doorbell of each idle VM, then pumps the
 * simulator and collects what completed, so the mediator sees all the VMs'
 * requests at once. In the threaded mode each VM has its own thread
 * calling vgpu_call().
 *
 * With --queue-depth each VM keeps its queue full instead: it builds
 * requests straight into its DMA slots, rings once for all it added, and
 * checks each completion as it is reaped.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vgpu_sim_cli.h"

#define POLL_MS  1000
#define REAP_MAX 64u

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

/* In socket mode, a VM whose requests have all ended MEDIATOR_UNAVAILABLE
 * for --reconnect-ms (each one reconnects first) gives the whole run up:
 * the mediator went away, and retrying for ever helps no one. @status: the
 * request's SPEC.md error code, 0 when it was answered. */
static void
watch_mediator(struct run *r, struct vm_run *v, uint32_t status, uint64_t t1)
{
    const char *msg;

    if (r->o->socket == NULL) {
        return;
    }
    if (status != VGPU_ERR_MEDIATOR_UNAVAILABLE) {
        v->unavailable_since = 0;
        return;
    }
    if (v->unavailable_since == 0) {
        v->unavailable_since = t1;
        return;
    }
    if (t1 - v->unavailable_since >= (uint64_t)r->o->reconnect_ms * 1000000u &&
        __sync_bool_compare_and_swap(&r->gave_up, 0, 1)) {
        msg = vgpu_last_error(v->c)->message;
        /* The name of the code, and the mediator's message if any. */
        snprintf(r->gave_up_why, sizeof(r->gave_up_why), "%s%s%.900s",
                 vgpu_strerror((int)status), msg[0] != '\0' ? ": " : "", msg);
    }
}

/* A request of @v ended with @rc (vgpu_wait()'s) and @len bytes. */
static void
finish_request(struct run *r, struct vm_run *v, int rc, size_t len, uint64_t t1)
{
    v->done++;
    vgpu_progress_add(&r->progress, 1);
    v->lat_ns[v->n_lat++] = t1 - v->t0;
    watch_mediator(r, v,
                   rc == 0               ? 0
                   : rc == VGPU_E_DEVICE ? vgpu_last_error(v->c)->code
                                         : VGPU_ERR_COUNT,
                   t1);
    if (rc != 0) {
        count_error(v, rc);
    } else if (!sim_cli_matches(v, &r->shape, len)) {
        v->mismatches++;
    }
}

/* ---- The queue ------------------------------------------------------------
 */

int
sim_cli_queue_open(struct run *r, struct vm_run *v)
{
    uint32_t depth = r->o->queue_depth;
    char err[SIM_WHY_LEN] = "";
    uint64_t rlen =
        vgpu_op_request_len(r->shape.op, r->shape.n, r->shape.k, r->shape.p);
    uint64_t olen =
        vgpu_op_response_len(r->shape.op, r->shape.n, r->shape.k, r->shape.p);
    int rc;

    v->q = vgpu_queue_open(v->c, depth, err, sizeof(err));
    if (v->q == NULL) {
        fprintf(stderr, PROG ": vm %u: %s\n", (unsigned)v->vm_id, err);
        return -1;
    }
    v->slot_in = (size_t)rlen;
    v->slot_out = (size_t)olen;
    rc = vgpu_dma_alloc(v->c, (size_t)depth * v->slot_in, &v->in);
    if (rc == 0 && v->slot_out > 0) {
        rc = vgpu_dma_alloc(v->c, (size_t)depth * v->slot_out, &v->out);
    }
    v->slot_t0 = calloc(depth, sizeof(*v->slot_t0));
    v->q_free = calloc(depth, sizeof(*v->q_free));
    v->q_expect = malloc(VGPU_Q_MAX_XFER);
    for (uint32_t i = 0; v->q_free != NULL && i < depth; i++) {
        v->q_free[v->q_nfree++] = depth - 1u - i;
    }
    if (rc < 0 || v->slot_t0 == NULL || v->q_free == NULL ||
        v->q_expect == NULL) {
        fprintf(stderr,
                PROG ": vm %u: no memory for %u slots of %zu + %zu "
                     "bytes: %s\n",
                (unsigned)v->vm_id, depth, v->slot_in, v->slot_out,
                vgpu_strerror(rc < 0 ? rc : -ENOMEM));
        return -1;
    }
    return 0;
}

void
sim_cli_queue_close(struct vm_run *v)
{
    if (v->q == NULL) {
        return;
    }
    vgpu_dma_free(v->c, &v->in);
    vgpu_dma_free(v->c, &v->out);
    vgpu_queue_close(v->q);
    v->q = NULL;
    free(v->slot_t0);
    free(v->q_free);
    free(v->q_expect);
}

/* Fill @v's free slots with new requests and ring once. Return: how many. */
static unsigned
queue_fill(struct run *r, struct vm_run *v)
{
    unsigned added = 0;

    while (v->issued < r->o->requests && v->q_nfree > 0) {
        uint32_t slot = v->q_free[v->q_nfree - 1u];
        uint8_t *in = (uint8_t *)v->in.ptr + (size_t)slot * v->slot_in;
        size_t len = vgpu_wl_build(&v->rng, r->shape.op, r->shape.n, r->shape.k,
                                   r->shape.p, in);
        int rc = vgpu_queue_submit(
            v->q, &v->in, (size_t)slot * v->slot_in, (uint32_t)len, &v->out,
            (size_t)slot * v->slot_out, (uint32_t)v->slot_out, slot);

        if (rc < 0) {
            break; /* the ring is full: reap first */
        }
        v->slot_t0[slot] = vgpu_wl_now_ns();
        v->q_nfree--;
        v->issued++;
        v->q_inflight++;
        added++;
    }
    if (added > 0) {
        vgpu_queue_kick(v->q);
    }
    return added;
}

/* Reap and check what completed. Return: how many, or -1 when the queue
 * stopped (every request in flight then counts as an error). */
static int
queue_reap(struct run *r, struct vm_run *v)
{
    struct vgpu_qcomp comps[REAP_MAX];
    int n = vgpu_queue_reap(v->q, comps, REAP_MAX);
    uint64_t t1 = vgpu_wl_now_ns();

    if (n < 0) {
        fprintf(stderr, PROG ": vm %u: the queue stopped: %s\n",
                (unsigned)v->vm_id, vgpu_strerror((int)vgpu_queue_error(v->q)));
        for (; v->q_inflight > 0; v->q_inflight--) {
            v->done++;
            v->kinds[KIND_GUEST_OTHER]++;
            v->errors++;
        }
        return -1;
    }
    for (int i = 0; i < n; i++) {
        uint32_t slot = comps[i].tag;
        const uint8_t *in;

        if (slot >= r->o->queue_depth) {
            /* The device echoes tags; anything else is its bug. */
            v->done++;
            v->kinds[KIND_GUEST_OTHER]++;
            v->errors++;
            continue;
        }
        in = (const uint8_t *)v->in.ptr + (size_t)slot * v->slot_in;
        v->q_free[v->q_nfree++] = slot;
        v->q_inflight--;
        v->done++;
        vgpu_progress_add(&r->progress, 1);
        v->lat_ns[v->n_lat++] = t1 - v->slot_t0[slot];
        watch_mediator(r, v, comps[i].status, t1);
        if (comps[i].status != 0) {
            v->kinds[comps[i].status < VGPU_ERR_COUNT ? comps[i].status
                                                      : KIND_GUEST_OTHER]++;
            v->errors++;
        } else if (!sim_cli_check(
                       v, &r->shape, in, v->slot_in,
                       (const uint8_t *)v->out.ptr + (size_t)slot * v->slot_out,
                       comps[i].out_len, v->q_expect, VGPU_Q_MAX_XFER)) {
            v->mismatches++;
        }
    }
    return n;
}

/* One thread, every VM, through their queues: fill every ring, reap what
 * is there, and only when nothing was, pump the sockets until something
 * is. */
static void
drive_all_queue(struct run *r)
{
    const struct opts *o = r->o;

    while (!r->gave_up) {
        int busy = 0;
        int reaped = 0;

        for (unsigned i = 0; i < o->vms; i++) {
            queue_fill(r, &r->vms[i]);
        }
        for (unsigned i = 0; i < o->vms; i++) {
            struct vm_run *v = &r->vms[i];
            int n = 0;

            if (v->q_inflight > 0) {
                n = queue_reap(r, v);
            }
            if (n < 0) {
                v->issued = o->requests; /* nothing more on a dead queue */
            } else {
                reaped += n;
            }
            busy |= v->q_inflight > 0 || v->issued < o->requests;
        }
        if (!busy) {
            return;
        }
        if (reaped == 0 && o->socket != NULL) {
            vgpu_sim_poll(r->sim, POLL_MS);
        }
    }
}

/* Threaded mode: one VM through its queue. */
static void
drive_one_queue(struct run *r, struct vm_run *v)
{
    while ((v->issued < r->o->requests || v->q_inflight > 0) && !r->gave_up) {
        int rc;

        queue_fill(r, v);
        rc = vgpu_queue_wait(v->q, r->call_timeout_ms);
        if (rc <= 0 || queue_reap(r, v) < 0) {
            if (rc == 0) {
                fprintf(stderr, PROG ": vm %u: no completion within %d ms\n",
                        (unsigned)v->vm_id, r->call_timeout_ms);
            }
            for (; v->q_inflight > 0; v->q_inflight--) {
                v->done++;
                v->kinds[rc == 0 ? KIND_WAIT_TIMEOUT : KIND_GUEST_OTHER]++;
                v->errors++;
            }
            return;
        }
    }
}

/* One thread, every VM: submit on each idle VM, then collect. */
void
sim_cli_drive_all(struct run *r)
{
    const struct opts *o = r->o;
    uint64_t total = (uint64_t)o->vms * o->requests;
    uint64_t finished = 0;

    if (o->queue_depth != 0) {
        drive_all_queue(r);
        return;
    }
    while (finished < total && !r->gave_up) {
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

    if (r->o->queue_depth != 0) {
        drive_one_queue(r, v);
        return NULL;
    }
    while (v->issued < r->o->requests && !r->gave_up) {
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
