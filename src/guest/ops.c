/*
 * The typed helpers of libvgpu-guest: one function per operation of SPEC.md
 * section 8.
 *
 * Requests are built byte by byte with vgpu_put_le32() and memcpy between
 * floats and uint32_t, never by casting a pointer, so that the wire form is
 * little-endian on any host and no access is misaligned. A vector longer
 * than one request holds (ECHO 1016 bytes, ADD 127, SAXPY 126, DOT 127
 * elements) is sent as consecutive requests of at most that many elements,
 * in order; MATMUL_F32 is split by rows of A. Each response must have
 * exactly the length its request implies, else the helper returns -EPROTO.
 * The first failing request ends the helper: results before it are written,
 * the rest of @out is unspecified.
 */
#include <errno.h>
#include <string.h>

#include "guest_internal.h"
#include "vgpu/guest.h"
#include "vgpu/proto.h"

/* One request and one response, on the stack: VGPU_BUF_SIZE each. */
struct op_bufs {
    uint8_t req[VGPU_BUF_SIZE];
    uint8_t resp[VGPU_BUF_SIZE];
};

static size_t
min_size(size_t a, size_t b)
{
    return a < b ? a : b;
}

/* Write the op header; return its size. */
static size_t
put_hdr(uint8_t *buf, uint32_t op, uint32_t n)
{
    vgpu_put_le32(buf, op);
    vgpu_put_le32(buf + VGPU_ELEM_SIZE, n);
    return VGPU_OP_HDR_SIZE;
}

/* @count 4-byte host values (int32_t or float) at @src, as little-endian
 * words at @dst. @src needs no alignment. */
static void
put_words(uint8_t *dst, const void *src, size_t count)
{
    const uint8_t *s = src;

    for (size_t i = 0; i < count; i++) {
        uint32_t u;

        memcpy(&u, s + i * VGPU_ELEM_SIZE, sizeof(u));
        vgpu_put_le32(dst + i * VGPU_ELEM_SIZE, u);
    }
}

/* The reverse of put_words(). */
static void
get_words(void *dst, const uint8_t *src, size_t count)
{
    uint8_t *d = dst;

    for (size_t i = 0; i < count; i++) {
        uint32_t u = vgpu_get_le32(src + i * VGPU_ELEM_SIZE);

        memcpy(d + i * VGPU_ELEM_SIZE, &u, sizeof(u));
    }
}

/* Send one request and insist on a response of @want bytes. */
static int
run(struct vgpu_client *c, struct op_bufs *b, size_t len, size_t want)
{
    size_t got = 0;
    int rc;

    rc = vgpu_call(c, b->req, len, b->resp, sizeof(b->resp), &got,
                   vgpu_guest_timeout(c));
    if (rc != 0) {
        return rc;
    }
    return got == want ? 0 : -EPROTO;
}

int
vgpu_nop(struct vgpu_client *c)
{
    struct op_bufs b;

    if (c == NULL) {
        return -EINVAL;
    }
    return run(c, &b, put_hdr(b.req, VGPU_OP_NOP, 0), 0);
}

int
vgpu_echo(struct vgpu_client *c, const void *in, void *out, size_t n)
{
    struct op_bufs b;
    size_t done = 0;

    if (c == NULL || (n > 0 && (in == NULL || out == NULL))) {
        return -EINVAL;
    }
    do {
        size_t cnt = min_size(n - done, VGPU_ECHO_MAX_N);
        size_t len = put_hdr(b.req, VGPU_OP_ECHO, (uint32_t)cnt);
        int rc;

        if (cnt > 0) {
            memcpy(b.req + len, (const uint8_t *)in + done, cnt);
        }
        rc = run(c, &b, len + cnt, cnt);
        if (rc != 0) {
            return rc;
        }
        if (cnt > 0) {
            memcpy((uint8_t *)out + done, b.resp, cnt);
        }
        done += cnt;
    } while (done < n);
    return 0;
}

/*
 * ADD_I32, ADD_F32 and SAXPY_F32: out[i] from x[i] and y[i] (and @alpha, one
 * float, for SAXPY), in chunks of at most @max_n elements.
 */
static int
elementwise(struct vgpu_client *c, uint32_t op, const float *alpha,
            const void *x, const void *y, void *out, size_t n, size_t max_n)
{
    struct op_bufs b;
    size_t done = 0;

    if (c == NULL || (n > 0 && (x == NULL || y == NULL || out == NULL))) {
        return -EINVAL;
    }
    do {
        size_t cnt = min_size(n - done, max_n);
        size_t len = put_hdr(b.req, op, (uint32_t)cnt);
        size_t bytes = cnt * VGPU_ELEM_SIZE;
        int rc;

        if (alpha != NULL) {
            put_words(b.req + len, alpha, 1);
            len += VGPU_ELEM_SIZE;
        }
        if (cnt > 0) {
            size_t at = done * VGPU_ELEM_SIZE;

            put_words(b.req + len, (const uint8_t *)x + at, cnt);
            put_words(b.req + len + bytes, (const uint8_t *)y + at, cnt);
        }
        len += 2 * bytes;
        rc = run(c, &b, len, bytes);
        if (rc != 0) {
            return rc;
        }
        if (cnt > 0) {
            get_words((uint8_t *)out + done * VGPU_ELEM_SIZE, b.resp, cnt);
        }
        done += cnt;
    } while (done < n);
    return 0;
}

int
vgpu_add_i32(struct vgpu_client *c, const int32_t *a, const int32_t *b,
             int32_t *out, size_t n)
{
    return elementwise(c, VGPU_OP_ADD_I32, NULL, a, b, out, n, VGPU_ADD_MAX_N);
}

int
vgpu_add_f32(struct vgpu_client *c, const float *a, const float *b, float *out,
             size_t n)
{
    return elementwise(c, VGPU_OP_ADD_F32, NULL, a, b, out, n, VGPU_ADD_MAX_N);
}

int
vgpu_saxpy_f32(struct vgpu_client *c, float alpha, const float *x,
               const float *y, float *out, size_t n)
{
    return elementwise(c, VGPU_OP_SAXPY_F32, &alpha, x, y, out, n,
                       VGPU_SAXPY_MAX_N);
}

int
vgpu_dot_f32(struct vgpu_client *c, const float *x, const float *y, float *out,
             size_t n)
{
    struct op_bufs b;
    size_t done = 0;
    float sum = 0.0f;

    if (c == NULL || out == NULL || (n > 0 && (x == NULL || y == NULL))) {
        return -EINVAL;
    }
    do {
        size_t cnt = min_size(n - done, VGPU_DOT_MAX_N);
        size_t len = put_hdr(b.req, VGPU_OP_DOT_F32, (uint32_t)cnt);
        size_t bytes = cnt * VGPU_ELEM_SIZE;
        float part;
        int rc;

        if (cnt > 0) {
            put_words(b.req + len, x + done, cnt);
            put_words(b.req + len + bytes, y + done, cnt);
        }
        rc = run(c, &b, len + 2 * bytes, VGPU_ELEM_SIZE);
        if (rc != 0) {
            return rc;
        }
        get_words(&part, b.resp, 1);
        /* The first chunk's result is taken as it is (0.0f + -0.0f would
         * lose the sign); the others are added in order. */
        sum = done == 0 ? part : sum + part;
        done += cnt;
    } while (done < n);
    *out = sum;
    return 0;
}

int
vgpu_matmul_f32(struct vgpu_client *c, const float *a, const float *b,
                float *out, uint32_t m, uint32_t k, uint32_t p)
{
    struct op_bufs bufs;
    uint64_t kp = (uint64_t)k * p;
    uint64_t rows = m;
    uint32_t row = 0;

    if (c == NULL || ((uint64_t)m * k > 0 && a == NULL) ||
        (kp > 0 && b == NULL) || ((uint64_t)m * p > 0 && out == NULL)) {
        return -EINVAL;
    }
    /* Rows per request: m*k + k*p <= VGPU_MATMUL_MAX_IN_ELEMS and
     * m*p <= VGPU_MATMUL_MAX_OUT_ELEMS. B goes whole into every request. */
    if (kp > VGPU_MATMUL_MAX_IN_ELEMS) {
        return -E2BIG;
    }
    if (k > 0 && (VGPU_MATMUL_MAX_IN_ELEMS - kp) / k < rows) {
        rows = (VGPU_MATMUL_MAX_IN_ELEMS - kp) / k;
    }
    if (p > 0 && VGPU_MATMUL_MAX_OUT_ELEMS / p < rows) {
        rows = VGPU_MATMUL_MAX_OUT_ELEMS / p;
    }
    if (m > 0 && rows == 0) {
        return -E2BIG; /* not even one row of A fits */
    }
    do {
        uint32_t r = (uint32_t)(m - row < rows ? m - row : rows);
        uint8_t *q = bufs.req;
        size_t a_elems = (size_t)r * k;
        size_t c_elems = (size_t)r * p;
        int rc;

        vgpu_put_le32(q, VGPU_OP_MATMUL_F32);
        vgpu_put_le32(q + VGPU_ELEM_SIZE, r);
        vgpu_put_le32(q + 2 * VGPU_ELEM_SIZE, k);
        vgpu_put_le32(q + 3 * VGPU_ELEM_SIZE, p);
        q += VGPU_MATMUL_HDR_SIZE;
        if (a_elems > 0) {
            put_words(q, a + (size_t)row * k, a_elems);
            q += a_elems * VGPU_ELEM_SIZE;
        }
        if (kp > 0) {
            put_words(q, b, (size_t)kp);
            q += (size_t)kp * VGPU_ELEM_SIZE;
        }
        rc = run(c, &bufs, (size_t)(q - bufs.req), c_elems * VGPU_ELEM_SIZE);
        if (rc != 0) {
            return rc;
        }
        if (c_elems > 0) {
            get_words(out + (size_t)row * p, bufs.resp, c_elems);
        }
        row += r;
    } while (row < m);
    return 0;
}
