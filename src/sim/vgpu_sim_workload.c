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
    uint64_t max = vgpu_wl_max_n(o->op);

    if (o->size >= 0 && (uint64_t)o->size > max) {
        sim_cli_bad_arg(
            "--size: %ld is over %llu, the most one %s request holds", o->size,
            (unsigned long long)max, vgpu_op_name(o->op));
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

/* Does @got (@len bytes) match the expected result of the request? */
int
sim_cli_matches(struct vm_run *v, const struct shape *s, size_t len)
{
    char why[SIM_WHY_LEN];
    long want = vgpu_wl_expect(v->cpu, v->req, v->req_len, v->expect,
                               sizeof(v->expect), why, sizeof(why));
    double mag = 0.0;

    if (want < 0) {
        /* A bug here: the request was built to be valid. */
        fprintf(stderr, PROG ": internal error: %s\n", why);
        return 0;
    }
    if (s->op == VGPU_OP_DOT_F32) {
        mag = vgpu_wl_dot_mag(v->req, s->n, vgpu_wl_get_f32(v->expect));
    }
    return vgpu_wl_result_matches(s->op, v->resp, len, v->expect, (size_t)want,
                                  mag);
}
