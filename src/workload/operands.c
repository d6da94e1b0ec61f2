/*
 * Seeded random operands and the requests built from them (workload.h).
 * splitmix64 is small, fast and well mixed; a stream per VM keeps each VM's
 * requests the same whatever the others do.
 */
#include <string.h>

#include "vgpu/proto.h"
#include "workload.h"

#define RNG_GAMMA    0x9E3779B97F4A7C15ull
#define RNG_MIX1     0xBF58476D1CE4E5B9ull
#define RNG_MIX2     0x94D049BB133111EBull
#define RNG_STREAM   0xD1B54A32D192ED03ull
#define FLOAT_RANGE  2000001u /* operands in -1000.000 .. 1000.000 */
#define FLOAT_OFFSET 1000000
#define FLOAT_SCALE  1000.0f

void
vgpu_wl_rng_init(struct vgpu_wl_rng *r, uint64_t seed, uint32_t index)
{
    r->s = seed ^ ((uint64_t)index + 1u) * RNG_STREAM;
}

uint64_t
vgpu_wl_rng_next(struct vgpu_wl_rng *r)
{
    uint64_t z = (r->s += RNG_GAMMA);

    z = (z ^ (z >> 30)) * RNG_MIX1;
    z = (z ^ (z >> 27)) * RNG_MIX2;
    return z ^ (z >> 31);
}

uint32_t
vgpu_wl_rng_range(struct vgpu_wl_rng *r, uint32_t lo, uint32_t hi)
{
    return lo + (uint32_t)(vgpu_wl_rng_next(r) % ((uint64_t)hi - lo + 1u));
}

float
vgpu_wl_rng_f32(struct vgpu_wl_rng *r)
{
    return (float)((long)(vgpu_wl_rng_next(r) % FLOAT_RANGE) - FLOAT_OFFSET) /
           FLOAT_SCALE;
}

void
vgpu_wl_put_f32(uint8_t *p, float f)
{
    uint32_t u;

    memcpy(&u, &f, sizeof(u));
    vgpu_put_le32(p, u);
}

float
vgpu_wl_get_f32(const uint8_t *p)
{
    uint32_t u = vgpu_get_le32(p);
    float f;

    memcpy(&f, &u, sizeof(f));
    return f;
}

bool
vgpu_wl_op_is_float(uint32_t op)
{
    return op == VGPU_OP_ADD_F32 || op == VGPU_OP_SAXPY_F32 ||
           op == VGPU_OP_DOT_F32 || op == VGPU_OP_MATMUL_F32;
}

void
vgpu_wl_fill(struct vgpu_wl_rng *r, uint8_t *buf, size_t from, size_t to,
             bool is_float)
{
    for (size_t off = from; off + VGPU_ELEM_SIZE <= to; off += VGPU_ELEM_SIZE) {
        if (is_float) {
            vgpu_wl_put_f32(buf + off, vgpu_wl_rng_f32(r));
        } else {
            vgpu_put_le32(buf + off, (uint32_t)vgpu_wl_rng_next(r));
        }
    }
}

size_t
vgpu_wl_build(struct vgpu_wl_rng *r, uint32_t op, uint32_t n, uint32_t k,
              uint32_t p, uint8_t *buf)
{
    size_t len = (size_t)vgpu_op_request_len(op, n, k, p);
    size_t off = VGPU_OP_HDR_SIZE;

    vgpu_put_le32(buf, op);
    vgpu_put_le32(buf + VGPU_ELEM_SIZE, n);
    if (op == VGPU_OP_MATMUL_F32) {
        vgpu_put_le32(buf + off, k);
        vgpu_put_le32(buf + off + VGPU_ELEM_SIZE, p);
        off = VGPU_MATMUL_HDR_SIZE;
    }
    if (op == VGPU_OP_ECHO) {
        for (; off < len; off++) {
            buf[off] = (uint8_t)vgpu_wl_rng_next(r);
        }
        return len;
    }
    vgpu_wl_fill(r, buf, off, len, vgpu_wl_op_is_float(op));
    return len;
}

uint32_t
vgpu_wl_max_n_within(uint32_t op, uint32_t limit)
{
    uint32_t lo = 0;
    uint32_t hi = limit;

    if (op == VGPU_OP_NOP) {
        return 0;
    }
    /* The largest n whose request and response both fit: both lengths
     * grow with n, so a binary search finds it. */
    while (lo < hi) {
        uint32_t n = lo + (hi - lo + 1u) / 2u;
        uint64_t req = vgpu_op_request_len(op, n, n, n);

        if (req != 0 && req <= limit &&
            vgpu_op_response_len(op, n, n, n) <= limit) {
            lo = n;
        } else {
            hi = n - 1u;
        }
    }
    return lo;
}

uint32_t
vgpu_wl_max_n(uint32_t op)
{
    return vgpu_wl_max_n_within(op, VGPU_BUF_SIZE);
}
