/*
 * vgpu-sim: N simulated VMs send verified requests through libvgpu-guest,
 * the device model and a mediator (in-process, or a real daemon's socket),
 * and report what they measured.
 *
 * Every response is checked against the CPU backend run locally on the
 * same request bytes (vgpu_op_validate() + exec): bit for bit, except
 * DOT_F32, which may differ by 1e-5 of the sum of |x*y| (SPEC.md section 8
 * allows 1e-5 relative; the sum of magnitudes keeps a cancelling sum from
 * failing a backend that adds in another order). A wrong result counts as
 * a mismatch; a request that ends in ERROR counts as an error, by name.
 *
 * In the deterministic and socket modes one thread drives every VM: it
 * rings the doorbell of each idle VM, then pumps the simulator and collects
 * what completed, so the mediator sees all the VMs' requests at once. In
 * the threaded mode each VM has its own thread calling vgpu_call().
 *
 * Exit: 0 when every request succeeded and matched (with --allow-errors,
 * when nothing mismatched), 1 otherwise, 2 for bad arguments.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vgpu/backend.h"
#include "vgpu/mediator.h"
#include "vgpu_sim_cli.h"

#define WAIT_SLACK_MS 5000 /* beyond the device timeout, per vgpu_call */

static int
setup(struct run *r, struct vgpu_sim_vm *ids, struct vgpu_mediator_config *mc)
{
    const struct opts *o = r->o;
    struct vgpu_sim_config cfg = {
        .n_vms = o->vms,
        .vms = ids,
        .socket_path = o->socket,
        .timeout_ms = o->timeout_ms,
        .no_queue = o->mailbox_only,
    };
    char err[SIM_WHY_LEN] = "";
    size_t pools = strlen(o->pools);

    cfg.mode = o->socket != NULL
                   ? VGPU_SIM_SOCKET
                   : (o->threads ? VGPU_SIM_THREADED : VGPU_SIM_DETERMINISTIC);
    vgpu_mediator_config_default(mc);
    if (o->backend != NULL) {
        mc->default_backend = o->backend;
    }
    if (o->policy >= 0) {
        mc->policy = o->policy;
    }
    if (o->max_wait_ms >= 0) {
        mc->max_wait_ms = (uint32_t)o->max_wait_ms;
    }
    cfg.mediator = mc;
    for (unsigned i = 0; i < o->vms; i++) {
        ids[i].vm_id = o->vm_id_base + i;
        ids[i].pool = (uint8_t)o->pools[i % pools];
        ids[i].priority = o->prios[i % o->n_prios];
    }
    r->sim = vgpu_sim_create(&cfg, err, sizeof(err));
    if (r->sim == NULL) {
        fprintf(stderr, PROG ": %s\n", err);
        return -1;
    }
    for (unsigned i = 0; i < o->vms; i++) {
        struct vm_run *v = &r->vms[i];

        v->idx = i;
        v->c = vgpu_sim_client(r->sim, i);
        v->vm_id = ids[i].vm_id;
        v->pool = (char)ids[i].pool;
        v->prio = ids[i].priority;
        vgpu_wl_rng_init(&v->rng, o->seed, i);
        v->lat_ns = malloc(o->requests * sizeof(*v->lat_ns));
        if (v->lat_ns == NULL ||
            vgpu_backend_cpu.open("", &v->cpu, err, sizeof(err)) < 0) {
            fprintf(stderr, PROG ": %s\n",
                    v->lat_ns == NULL ? "out of memory" : err);
            return -1;
        }
        vgpu_set_timeout(v->c, r->call_timeout_ms);
        if (o->queue_depth != 0 && sim_cli_queue_open(r, v) < 0) {
            return -1;
        }
    }
    return 0;
}

int
main(int argc, char **argv)
{
    struct vgpu_mediator_config mc;
    struct opts o;
    struct run r = {0};
    struct vgpu_sim_vm *ids;
    uint64_t t0;
    uint64_t wall;
    int status = 1;

    sim_cli_parse_args(argc, argv, &o);
    if (o.replay != NULL) {
        return sim_replay(o.replay, o.against ? o.socket : NULL);
    }
    r.o = &o;
    r.shape = sim_cli_shape(&o);
    r.call_timeout_ms = (int)o.timeout_ms + WAIT_SLACK_MS;
    if (o.timeout_ms == 0) {
        r.call_timeout_ms = -1;
    }
    ids = calloc(o.vms, sizeof(*ids));
    r.vms = calloc(o.vms, sizeof(*r.vms));
    if (ids == NULL || r.vms == NULL) {
        fprintf(stderr, PROG ": out of memory\n");
        goto out;
    }
    if (setup(&r, ids, &mc) < 0) {
        goto out;
    }
    t0 = vgpu_wl_now_ns();
    vgpu_progress_start(&r.progress, stderr, o.quiet, PROG,
                        (uint64_t)o.vms * o.requests, "requests");
    if (o.threads) {
        if (sim_cli_drive_threads(&r) < 0) {
            goto out;
        }
    } else {
        sim_cli_drive_all(&r);
    }
    wall = vgpu_wl_now_ns() - t0;
    vgpu_progress_end(&r.progress);
    status = r.gave_up ? sim_cli_gave_up(&r) : sim_cli_report(&r, wall);
out:
    for (unsigned i = 0; r.vms != NULL && r.sim != NULL && i < o.vms; i++) {
        sim_cli_queue_close(&r.vms[i]);
    }
    vgpu_sim_destroy(r.sim);
    if (r.vms != NULL) {
        for (unsigned i = 0; i < o.vms; i++) {
            vgpu_backend_cpu.close(r.vms[i].cpu);
            free(r.vms[i].lat_ns);
        }
    }
    free(r.vms);
    free(ids);
    return status;
}
