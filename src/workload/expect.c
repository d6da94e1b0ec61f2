/*
 * Expected results (workload.h): the CPU backend run on the same request
 * bytes, and the check of a device's answer against them.
 */
#include <math.h>
#include <string.h>

#include "vgpu/backend.h"
#include "vgpu/proto.h"
#include "workload.h"

long
vgpu_wl_expect(void *cpu, const uint8_t *req, size_t len, uint8_t *out,
               size_t cap, char *why, size_t why_len)
{
    struct vgpu_op_desc d;
    size_t out_len = 0;

    if (vgpu_op_validate(req, len, &d, why, why_len) != 0) {
        return -1;
    }
    if (vgpu_backend_cpu.exec(cpu, &d, out, cap, &out_len, why, why_len) !=
        VGPU_ERR_NONE) {
        return -1;
    }
    return (long)out_len;
}

double
vgpu_wl_dot_mag(const uint8_t *req, uint32_t n, float result)
{
    const uint8_t *x = req + VGPU_OP_HDR_SIZE;
    const uint8_t *y = x + (size_t)n * VGPU_ELEM_SIZE;
    double mag = fabs((double)result);

    for (uint32_t i = 0; i < n; i++) {
        mag += fabs((double)vgpu_wl_get_f32(x + i * VGPU_ELEM_SIZE) *
                    (double)vgpu_wl_get_f32(y + i * VGPU_ELEM_SIZE));
    }
    return mag;
}

bool
vgpu_wl_result_matches(uint32_t op, const uint8_t *got, size_t len,
                       const uint8_t *want, size_t want_len, double dot_mag)
{
    if (len != want_len) {
        return false;
    }
    if (op == VGPU_OP_DOT_F32) {
        double diff =
            fabs((double)vgpu_wl_get_f32(got) - (double)vgpu_wl_get_f32(want));

        return diff <= VGPU_WL_DOT_REL_TOL * dot_mag;
    }
    return len == 0 || memcmp(got, want, len) == 0;
}
