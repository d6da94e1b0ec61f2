/*
 * vgpu_parse_decimal(): the strict decimal numbers of option strings (the
 * backends' specs, "delay_us=N" and a CUDA device index). Only digits: no
 * sign, no space, no base prefix, so what is accepted is exactly what the
 * documentation spells.
 */
#include <errno.h>

#include "vgpu/proto.h"

#define DECIMAL_RADIX 10u

int
vgpu_parse_decimal(const char *s, size_t len, uint32_t max, uint32_t *out)
{
    uint32_t v = 0;

    if (s == NULL || len == 0) {
        return -EINVAL;
    }
    for (size_t i = 0; i < len; i++) {
        uint32_t digit;

        if (s[i] < '0' || s[i] > '9') {
            return -EINVAL;
        }
        digit = (uint32_t)(s[i] - '0');
        /* Checked before the multiply, so no value wraps past @max. */
        if (v > (max - digit) / DECIMAL_RADIX) {
            return -EINVAL;
        }
        v = v * DECIMAL_RADIX + digit;
    }
    *out = v;
    return 0;
}

int
vgpu_vm_id_parse(const char *s, size_t len, uint32_t *out)
{
    uint32_t v;

    /* A leading zero would give one VM two spellings. */
    if (s == NULL || len == 0 || s[0] == '0' ||
        vgpu_parse_decimal(s, len, UINT32_MAX, &v) < 0) {
        return -EINVAL;
    }
    *out = v;
    return 0;
}
