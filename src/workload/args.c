/*
 * The strict number and op arguments of the workload programs
 * (workload.h): one spelling, one message, in all of them.
 */
#include <errno.h>
#include <stdlib.h>

#include "vgpu/common.h"
#include "vgpu/proto.h"
#include "workload.h"

#define DECIMAL      10
#define ARGS_WHY_LEN 256

int
vgpu_wl_parse_num(const char *flag, const char *s, uint64_t min, uint64_t max,
                  uint64_t *out, char *why, size_t why_len)
{
    char *end;
    unsigned long long v;

    errno = 0;
    v = strtoull(s, &end, DECIMAL);
    if (s[0] == '\0' || s[0] == '-' || *end != '\0' || errno != 0 || v < min ||
        v > max) {
        vgpu_set_err(why, why_len, "%s: '%s' is not a number in %llu..%llu",
                     flag, s, (unsigned long long)min, (unsigned long long)max);
        return -EINVAL;
    }
    *out = v;
    return 0;
}

uint64_t
vgpu_wl_arg_num(vgpu_wl_bad_arg_fn bad, const char *flag, const char *s,
                uint64_t min, uint64_t max)
{
    char why[ARGS_WHY_LEN];
    uint64_t v = min;

    if (vgpu_wl_parse_num(flag, s, min, max, &v, why, sizeof(why)) < 0) {
        bad("%s", why);
        return min;
    }
    return v;
}

int
vgpu_wl_parse_op(const char *flag, const char *s, uint32_t *op, char *why,
                 size_t why_len)
{
    if (vgpu_op_lookup(s, op) < 0) {
        vgpu_set_err(why, why_len,
                     "%s: '%s' is not one of nop, echo, add_i32, add_f32, "
                     "saxpy_f32, dot_f32, matmul_f32",
                     flag, s);
        return -EINVAL;
    }
    return 0;
}
