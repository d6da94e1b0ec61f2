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
 *
 * On a device with the queue (CAPABILITIES bit 2) and a bus with DMA
 * memory, a vector that needs more than one mailbox request goes through
 * the client's own queue instead (struct vgpu_helper_queue): chunks of up
 * to the queue's limits (ECHO 1 MiB - 8 bytes, ADD and DOT 131071, SAXPY
 * 131070 elements), VGPU_HQ_DEPTH of them in flight, each result copied
 * out as its completion is reaped, in whatever order they come. DOT's
 * chunk results are still summed in chunk order. MATMUL_F32 always uses the
 * mailbox.
 */
#include <errno.h>
#include <stdlib.h>
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

/* ---- Through the queue -----------------------------------------------------
 */

/* One vector operation, split into chunks of at most @max_n elements. */
struct q_job {
    uint32_t op;
    const float *alpha; /* SAXPY_F32: its one float; else NULL */
    const uint8_t *x;   /* ECHO: the bytes; else x[] */
    const uint8_t *y;   /* NULL for ECHO */
    uint8_t *out;       /* ECHO and the elementwise ops */
    float *parts;       /* DOT_F32: each chunk's result */
    size_t n;
    size_t max_n;
    size_t elem; /* 1 for ECHO's bytes, else VGPU_ELEM_SIZE */
};

static size_t
q_chunk_n(const struct q_job *j, size_t chunk)
{
    return min_size(j->n - chunk * j->max_n, j->max_n);
}

/* The request of @chunk into @buf; return its length. */
static size_t
q_build(const struct q_job *j, size_t chunk, uint8_t *buf)
{
    size_t cnt = q_chunk_n(j, chunk);
    size_t at = chunk * j->max_n * j->elem;
    size_t len = put_hdr(buf, j->op, (uint32_t)cnt);

    if (j->op == VGPU_OP_ECHO) {
        memcpy(buf + len, j->x + at, cnt);
        return len + cnt;
    }
    if (j->alpha != NULL) {
        put_words(buf + len, j->alpha, 1);
        len += VGPU_ELEM_SIZE;
    }
    put_words(buf + len, j->x + at, cnt);
    put_words(buf + len + cnt * VGPU_ELEM_SIZE, j->y + at, cnt);
    return len + 2 * cnt * VGPU_ELEM_SIZE;
}

/* The response length @chunk must have. */
static size_t
q_want(const struct q_job *j, size_t chunk)
{
    return j->parts != NULL ? VGPU_ELEM_SIZE : q_chunk_n(j, chunk) * j->elem;
}

/* The helper queue, open and with slots of at least @in_slot and
 * @out_slot bytes; NULL when the device or the bus has no queue. */
static struct vgpu_helper_queue *
q_ready(struct vgpu_client *c, size_t in_slot, size_t out_slot)
{
    struct vgpu_helper_queue *h = vgpu_guest_hq(c);
    struct vgpu_info info;

    if (h->state == 0) {
        char why[128];

        vgpu_info(c, &info);
        h->state = -1;
        if (!(info.capabilities & VGPU_CAP_QUEUE)) {
            return NULL;
        }
        h->q = vgpu_queue_open(c, VGPU_HQ_DEPTH, why, sizeof(why));
        if (h->q == NULL) {
            return NULL;
        }
        h->state = 1;
    }
    if (h->state < 0) {
        return NULL;
    }
    if (h->in_slot < in_slot || h->out_slot < out_slot) {
        h->in_slot = 0;
        h->out_slot = 0;
        for (uint32_t s = 0; s < VGPU_HQ_DEPTH; s++) {
            vgpu_dma_free(c, &h->in[s]);
            vgpu_dma_free(c, &h->out[s]);
        }
        for (uint32_t s = 0; s < VGPU_HQ_DEPTH; s++) {
            if (vgpu_dma_alloc(c, in_slot, &h->in[s]) < 0 ||
                vgpu_dma_alloc(c, out_slot, &h->out[s]) < 0) {
                vgpu_guest_hq_close(c);
                h->state = -1;
                return NULL;
            }
        }
        h->in_slot = in_slot;
        h->out_slot = out_slot;
    }
    return h;
}

/* Act on one completion of @chunk at @slot. Return 0 or the error. */
static int
q_done(struct vgpu_client *c, struct vgpu_helper_queue *h,
       const struct q_job *j, size_t chunk, uint32_t slot,
       const struct vgpu_qcomp *done)
{
    const uint8_t *res = h->out[slot].ptr;

    if (done->status != 0) {
        vgpu_guest_set_error(c, done->status, res,
                             min_size(done->out_len, h->out_slot));
        return VGPU_E_DEVICE;
    }
    if (done->out_len != q_want(j, chunk)) {
        return -EPROTO;
    }
    if (j->parts != NULL) {
        get_words(&j->parts[chunk], res, 1);
    } else if (j->elem == 1) {
        memcpy(j->out + chunk * j->max_n, res, done->out_len);
    } else {
        get_words(j->out + chunk * j->max_n * VGPU_ELEM_SIZE, res,
                  q_chunk_n(j, chunk));
    }
    return 0;
}

/*
 * Every chunk of @j through the helper queue. Return: 1 when the queue is
 * not available (the caller uses the mailbox), 0 when every chunk
 * succeeded, else the first error. After an error the chunks in flight are
 * still reaped, so the slots are free for the next call; a wait that fails
 * closes the queue (abandoning them).
 */
static int
q_run(struct vgpu_client *c, const struct q_job *j)
{
    size_t chunks = (j->n + j->max_n - 1u) / j->max_n;
    size_t in_slot = VGPU_OP_HDR_SIZE + (j->alpha ? VGPU_ELEM_SIZE : 0) +
                     (j->y ? 2u : 1u) * min_size(j->n, j->max_n) * j->elem;
    size_t out_slot =
        j->parts ? VGPU_ELEM_SIZE : min_size(j->n, j->max_n) * j->elem;
    struct vgpu_helper_queue *h = q_ready(c, in_slot, out_slot);
    size_t slot_chunk[VGPU_HQ_DEPTH];
    uint32_t free_slot[VGPU_HQ_DEPTH];
    uint32_t nfree = VGPU_HQ_DEPTH;
    uint32_t inflight = 0;
    size_t next = 0;
    int rc = 0;

    if (h == NULL) {
        return 1;
    }
    for (uint32_t s = 0; s < VGPU_HQ_DEPTH; s++) {
        free_slot[s] = s;
    }
    while ((rc == 0 && next < chunks) || inflight > 0) {
        struct vgpu_qcomp done[VGPU_HQ_DEPTH];
        int w;
        int k;

        while (rc == 0 && next < chunks && nfree > 0) {
            uint32_t s = free_slot[--nfree];
            size_t len = q_build(j, next, h->in[s].ptr);

            if (vgpu_queue_submit(h->q, &h->in[s], 0, (uint32_t)len, &h->out[s],
                                  0, (uint32_t)h->out_slot, s) != 0) {
                rc = -EIO; /* not reached: the ring has room */
                free_slot[nfree++] = s;
                break;
            }
            slot_chunk[s] = next++;
            inflight++;
        }
        vgpu_queue_kick(h->q);
        if (inflight == 0) {
            break;
        }
        w = vgpu_queue_wait(h->q, vgpu_guest_timeout(c));
        k = w == 1 ? vgpu_queue_reap(h->q, done, VGPU_HQ_DEPTH) : 0;
        if (w != 1 || k < 0) {
            vgpu_guest_hq_close(c); /* abandons what is in flight */
            return rc != 0 ? rc : (w == 0 ? -ETIMEDOUT : -EIO);
        }
        for (int i = 0; i < k; i++) {
            uint32_t s = done[i].tag;
            int r;

            if (s >= VGPU_HQ_DEPTH) {
                rc = rc != 0 ? rc : -EPROTO;
                continue;
            }
            r = q_done(c, h, j, slot_chunk[s], s, &done[i]);
            rc = rc != 0 ? rc : r;
            free_slot[nfree++] = s;
            inflight--;
        }
    }
    return rc;
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
    if (n > VGPU_ECHO_MAX_N) {
        struct q_job j = {.op = VGPU_OP_ECHO,
                          .x = in,
                          .out = out,
                          .n = n,
                          .max_n = VGPU_Q_ECHO_MAX_N,
                          .elem = 1};
        int rc = q_run(c, &j);

        if (rc != 1) {
            return rc;
        }
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
            const void *x, const void *y, void *out, size_t n, size_t max_n,
            size_t q_max_n)
{
    struct op_bufs b;
    size_t done = 0;

    if (c == NULL || (n > 0 && (x == NULL || y == NULL || out == NULL))) {
        return -EINVAL;
    }
    if (n > max_n) {
        struct q_job j = {.op = op,
                          .alpha = alpha,
                          .x = x,
                          .y = y,
                          .out = out,
                          .n = n,
                          .max_n = q_max_n,
                          .elem = VGPU_ELEM_SIZE};
        int rc = q_run(c, &j);

        if (rc != 1) {
            return rc;
        }
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
    return elementwise(c, VGPU_OP_ADD_I32, NULL, a, b, out, n, VGPU_ADD_MAX_N,
                       VGPU_Q_ADD_MAX_N);
}

int
vgpu_add_f32(struct vgpu_client *c, const float *a, const float *b, float *out,
             size_t n)
{
    return elementwise(c, VGPU_OP_ADD_F32, NULL, a, b, out, n, VGPU_ADD_MAX_N,
                       VGPU_Q_ADD_MAX_N);
}

int
vgpu_saxpy_f32(struct vgpu_client *c, float alpha, const float *x,
               const float *y, float *out, size_t n)
{
    return elementwise(c, VGPU_OP_SAXPY_F32, &alpha, x, y, out, n,
                       VGPU_SAXPY_MAX_N, VGPU_Q_SAXPY_MAX_N);
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
    if (n > VGPU_DOT_MAX_N) {
        size_t chunks = (n + VGPU_Q_DOT_MAX_N - 1u) / VGPU_Q_DOT_MAX_N;
        float parts_small[8];
        float *parts =
            chunks <= 8 ? parts_small : malloc(chunks * sizeof(*parts));
        struct q_job j = {.op = VGPU_OP_DOT_F32,
                          .x = (const uint8_t *)x,
                          .y = (const uint8_t *)y,
                          .parts = parts,
                          .n = n,
                          .max_n = VGPU_Q_DOT_MAX_N,
                          .elem = VGPU_ELEM_SIZE};
        int rc = parts == NULL ? -ENOMEM : q_run(c, &j);

        if (rc == 0) {
            for (size_t i = 0; i < chunks; i++) {
                sum = i == 0 ? parts[i] : sum + parts[i];
            }
            *out = sum;
        }
        if (parts != parts_small) {
            free(parts);
        }
        if (rc != 1) {
            return rc;
        }
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
