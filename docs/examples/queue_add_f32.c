/* Add two vectors of 1M floats through the queue: 8 requests of 131071
 * elements (the most one 1 MiB request holds) in flight at once. */
#include "vgpu/guest.h"
#include "vgpu/proto.h"
#include "vgpu/sim.h"
#include <stdio.h>
#include <string.h>

#define N      (1u << 20)                      /* elements in all */
#define CHUNK  131071u                         /* elements per request */
#define DEPTH  8u                              /* ring entries */
#define IN_MAX (VGPU_OP_HDR_SIZE + 8u * CHUNK) /* one request's bytes */

int
main(int argc, char **argv)
{
    static float a[N], b[N], sum[N];
    char err[256];
    struct vgpu_client *c;
    struct vgpu_queue *q;
    struct vgpu_dma in[DEPTH], out[DEPTH]; /* one block per slot */
    struct vgpu_qcomp done[DEPTH];
    uint32_t first[DEPTH]; /* the first element each slot carries */
    uint32_t free_slot[DEPTH], nfree = DEPTH;
    uint32_t next = 0, inflight = 0, failed = 0;

    for (uint32_t i = 0; i < N; i++) {
        a[i] = (float)i;
        b[i] = 0.5f;
    }
    for (uint32_t s = 0; s < DEPTH; s++) {
        free_slot[s] = s;
    }
    c = argc > 1 && strcmp(argv[1], "--sim") == 0
            ? vgpu_sim_open_single(1, 'A', VGPU_PRIO_MEDIUM, 0, err,
                                   sizeof(err))
            : vgpu_open_sysfs(NULL, NULL, VGPU_OPEN_IRQ, err, sizeof(err));
    if (c == NULL ||
        (q = vgpu_queue_open(c, DEPTH, err, sizeof(err))) == NULL) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    /* One input and one output block per ring entry, in DMA memory: a
     * block is physically contiguous, so a real guest's bus gives at most
     * one hugepage per block. */
    for (uint32_t s = 0; s < DEPTH; s++) {
        if (vgpu_dma_alloc(c, IN_MAX, &in[s]) < 0 ||
            vgpu_dma_alloc(c, 4u * CHUNK, &out[s]) < 0) {
            fprintf(stderr, "no DMA memory: %s\n", vgpu_dma_error(c));
            return 1;
        }
    }
    while (next < N || inflight > 0) {
        /* Fill the free slots, ring once for all of them. Completions come
         * in any order, so a slot is free when its completion was reaped;
         * the tag says which slot a completion is for. */
        while (next < N && nfree > 0) {
            uint32_t slot = free_slot[--nfree];
            uint32_t n = N - next < CHUNK ? N - next : CHUNK;
            uint8_t *p = in[slot].ptr;

            vgpu_put_le32(p, VGPU_OP_ADD_F32);
            vgpu_put_le32(p + 4, n);
            memcpy(p + 8, a + next, 4u * n); /* little-endian guest */
            memcpy(p + 8 + 4u * n, b + next, 4u * n);
            vgpu_queue_submit(q, &in[slot], 0, 8 + 8u * n, &out[slot], 0,
                              4u * n, slot);
            first[slot] = next;
            next += n;
            inflight++;
        }
        vgpu_queue_kick(q);
        if (vgpu_queue_wait(q, 10000) != 1) {
            fprintf(stderr, "no completion: %s\n",
                    vgpu_strerror((int)vgpu_queue_error(q)));
            return 1;
        }
        for (int i = 0, k = vgpu_queue_reap(q, done, DEPTH); i < k; i++) {
            uint32_t slot = done[i].tag;

            if (done[i].status != 0) {
                fprintf(stderr, "chunk at %u: %s\n", first[slot],
                        vgpu_strerror((int)done[i].status));
                failed++;
            } else {
                memcpy(sum + first[slot], out[slot].ptr, done[i].out_len);
            }
            free_slot[nfree++] = slot;
            inflight--;
        }
    }
    printf("sum[0] = %g, sum[%u] = %g\n", sum[0], N - 1, sum[N - 1]);
    vgpu_queue_close(q);
    for (uint32_t s = 0; s < DEPTH; s++) {
        vgpu_dma_free(c, &in[s]);
        vgpu_dma_free(c, &out[s]);
    }
    vgpu_close(c);
    return failed == 0 ? 0 : 1;
}
