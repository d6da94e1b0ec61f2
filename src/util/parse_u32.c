/*
 * The one parser of unsigned decimal numbers (util.h): every numeric value of
 * the daemon's configuration and the VM registry's vm_id.
 */
#include <errno.h>
#include <stdint.h>

#include "util.h"
#include "vgpu/common.h"

int
vgpu_parse_u32(const char *s, uint32_t min, uint32_t max, uint32_t *out,
               char *why, size_t why_len)
{
    uint64_t v = 0;

    if (*s == '\0') {
        goto bad;
    }
    for (const char *p = s; *p != '\0'; p++) {
        if (*p < '0' || *p > '9') {
            goto bad;
        }
        /* v <= max <= UINT32_MAX here, so v * 10 + 9 fits in 64 bits. */
        v = v * 10 + (uint64_t)(*p - '0');
        if (v > max) {
            goto bad;
        }
    }
    if (v < min) {
        goto bad;
    }
    *out = (uint32_t)v;
    return 0;

bad:
    vgpu_set_err(why, why_len, "'%s' is not an integer in %u..%u", s,
                 (unsigned)min, (unsigned)max);
    return -EINVAL;
}
