/*
 * Fuzz the one request validator and the CPU backend behind it (SPEC.md
 * section 8): the input is the request bytes a guest wrote.
 *
 * vgpu_op_validate() runs on a heap copy of exactly the input's size; when it
 * accepts, the descriptor must lie inside the request and agree with
 * vgpu_op_request_len()/vgpu_op_response_len(), and vgpu_backend_cpu.exec()
 * runs into an out buffer of VGPU_BUF_SIZE and, when the response fits, again
 * into a heap block of exactly desc.out_len bytes (same bytes expected) and
 * into one byte less (RESPONSE_TOO_LARGE, nothing written). ASan sees any
 * read past the request or write past either out buffer. ECHO and ADD_I32
 * results are checked against their definition.
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "vgpu/backend.h"
#include "vgpu/proto.h"

#define FZ_WHY_LEN 160u

/* The reference results of the two integer-exact ops. */
static void
fz_check_result(const struct vgpu_op_desc *d, const uint8_t *out)
{
    if (d->op == VGPU_OP_ECHO) {
        FUZZ_CHECK(d->n == 0 || memcmp(out, d->operands, d->n) == 0);
    } else if (d->op == VGPU_OP_ADD_I32) {
        const uint8_t *a = d->operands;
        const uint8_t *b = a + (size_t)d->n * VGPU_ELEM_SIZE;

        for (size_t i = 0; i < d->n; i++) {
            uint32_t want = vgpu_get_le32(a + i * VGPU_ELEM_SIZE) +
                            vgpu_get_le32(b + i * VGPU_ELEM_SIZE);

            FUZZ_CHECK(vgpu_get_le32(out + i * VGPU_ELEM_SIZE) == want);
        }
    }
}

static void
fz_exec(void *ctx, const struct vgpu_op_desc *d)
{
    char msg[FZ_WHY_LEN];
    uint8_t *out = malloc(VGPU_BUF_SIZE);
    uint8_t *exact;
    size_t out_len = SIZE_MAX;
    int rc;

    FUZZ_CHECK(out != NULL);
    rc = vgpu_backend_cpu.exec(ctx, d, out, VGPU_BUF_SIZE, &out_len, msg,
                               sizeof(msg));
    if (d->out_len > VGPU_BUF_SIZE) {
        FUZZ_CHECK(rc == (int)VGPU_ERR_RESPONSE_TOO_LARGE);
        FUZZ_CHECK(out_len == 0);
        free(out);
        return;
    }
    FUZZ_CHECK(rc == (int)VGPU_ERR_NONE);
    FUZZ_CHECK(out_len == d->out_len);
    fz_check_result(d, out);

    /* Exactly out_len bytes of room: the same bytes, nothing more. */
    exact = malloc(d->out_len == 0 ? 1 : d->out_len);
    FUZZ_CHECK(exact != NULL);
    out_len = SIZE_MAX;
    rc = vgpu_backend_cpu.exec(ctx, d, d->out_len == 0 ? NULL : exact,
                               d->out_len, &out_len, msg, sizeof(msg));
    FUZZ_CHECK(rc == (int)VGPU_ERR_NONE);
    FUZZ_CHECK(out_len == d->out_len);
    FUZZ_CHECK(d->out_len == 0 || memcmp(exact, out, d->out_len) == 0);

    /* One byte less: refused before anything is computed. */
    if (d->out_len > 0) {
        out_len = SIZE_MAX;
        rc = vgpu_backend_cpu.exec(ctx, d, exact, d->out_len - 1u, &out_len,
                                   msg, sizeof(msg));
        FUZZ_CHECK(rc == (int)VGPU_ERR_RESPONSE_TOO_LARGE);
        FUZZ_CHECK(out_len == 0);
    }
    free(exact);
    free(out);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct vgpu_op_desc d;
    char why[FZ_WHY_LEN];
    char tiny[1];
    uint8_t *req = malloc(size == 0 ? 1 : size);
    void *ctx = NULL;
    size_t hdr;
    int rc;

    FUZZ_CHECK(req != NULL);
    memcpy(req, data, size);
    memset(&d, 0, sizeof(d));
    rc = vgpu_op_validate(size == 0 ? NULL : req, size, &d, why, sizeof(why));
    FUZZ_CHECK(rc == 0 || rc == VGPU_E_INVALID_REQUEST);
    FUZZ_CHECK(memchr(why, '\0', sizeof(why)) != NULL);
    /* The verdict does not depend on the reason's buffer. */
    FUZZ_CHECK(vgpu_op_validate(size == 0 ? NULL : req, size, NULL, NULL, 0) ==
               rc);
    FUZZ_CHECK(vgpu_op_validate(size == 0 ? NULL : req, size, NULL, tiny,
                                sizeof(tiny)) == rc);
    FUZZ_CHECK(tiny[0] == '\0');
    if (rc != 0) {
        FUZZ_CHECK(why[0] != '\0');
        free(req);
        return 0;
    }

    /* The descriptor lies inside the request and agrees with the counts. */
    FUZZ_CHECK(vgpu_op_name(d.op) != NULL);
    hdr = d.op == VGPU_OP_MATMUL_F32 ? VGPU_MATMUL_HDR_SIZE : VGPU_OP_HDR_SIZE;
    FUZZ_CHECK(d.operands == req + hdr);
    FUZZ_CHECK(d.operands_len == size - hdr);
    FUZZ_CHECK(vgpu_op_request_len(d.op, d.n, d.k, d.p) == size);
    FUZZ_CHECK(vgpu_op_response_len(d.op, d.n, d.k, d.p) == d.out_len);
    FUZZ_CHECK(d.op != VGPU_OP_NOP || (d.n == 0 && d.out_len == 0));

    FUZZ_CHECK(vgpu_backend_cpu.open("", &ctx, why, sizeof(why)) == 0);
    fz_exec(ctx, &d);
    vgpu_backend_cpu.close(ctx);
    free(req);
    return 0;
}
