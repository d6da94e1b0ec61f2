/*
 * vgpu-sim's workload: the one request shape every VM sends, each VM's next
 * request from its own seeded stream, and the check of an answer against
 * the CPU backend's result on the same bytes (libvgpu-workload).
 */
#include <stdio.h>
#include <stdlib.h>

#include "vgpu_sim_cli.h"

/* The request shape of @o: its op and counts. Exits 2 on a bad --size. */
struct shape
sim_cli_shape(const struct opts *o)
{
    struct shape s = {.op = o->op};
    uint64_t max = o->queue_depth ? vgpu_wl_max_n_within(o->op, VGPU_Q_MAX_XFER)
                                  : vgpu_wl_max_n(o->op);

    if (o->size >= 0 && (uint64_t)o->size > max) {
        sim_cli_bad_arg("--size: %ld is over %llu, the most one %s request "
                        "holds%s",
                        o->size, (unsigned long long)max, vgpu_op_name(o->op),
                        o->queue_depth ? " in the queue"
                                       : " in the mailbox (--queue-depth "
                                         "reaches 1 MiB)");
    }
    if (o->size == 0 && o->op != VGPU_OP_NOP && o->op != VGPU_OP_ECHO) {
        sim_cli_bad_arg("--size: 0 elements of %s", vgpu_op_name(o->op));
    }
    s.n = (uint32_t)(o->size >= 0 ? (uint64_t)o->size : max);
    if (o->op == VGPU_OP_MATMUL_F32) {
        s.k = s.n;
        s.p = s.n;
    }
    return s;
}

void
sim_cli_next_request(struct run *r, struct vm_run *v)
{
    v->req_len = vgpu_wl_build(&v->rng, r->shape.op, r->shape.n, r->shape.k,
                               r->shape.p, v->req);
    v->issued++;
    v->t0 = vgpu_wl_now_ns();
}

int
sim_cli_check(struct vm_run *v, const struct shape *s, const uint8_t *req,
              size_t req_len, const uint8_t *resp, size_t len, uint8_t *expect,
              size_t cap)
{
    char why[SIM_WHY_LEN];
    long want =
        vgpu_wl_expect(v->cpu, req, req_len, expect, cap, why, sizeof(why));
    double mag = 0.0;

    if (want < 0) {
        /* A bug here: the request was built to be valid. */
        fprintf(stderr, PROG ": internal error: %s\n", why);
        return 0;
    }
    if (s->op == VGPU_OP_DOT_F32) {
        mag = vgpu_wl_dot_mag(req, s->n, vgpu_wl_get_f32(expect));
    }
    return vgpu_wl_result_matches(s->op, resp, len, expect, (size_t)want, mag);
}

/* Does v->resp (@len bytes) match the expected result of v->req? */
int
sim_cli_matches(struct vm_run *v, const struct shape *s, size_t len)
{
    return sim_cli_check(v, s, v->req, v->req_len, v->resp, len, v->expect,
                         sizeof(v->expect));
}
