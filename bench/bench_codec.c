/*
 * Encode + decode of a REQUEST frame with a 1 KiB payload per second, against
 * a bare baseline: copying the same bytes twice (the least a sender and a
 * receiver could do with them).
 */
#include "bench_common.h"
#include "vgpu/proto.h"

#define FRAME_SIZE (VGPU_HDR_SIZE + VGPU_BUF_SIZE)

static uint8_t payload[VGPU_BUF_SIZE];
static uint8_t wire[FRAME_SIZE];
static uint8_t rxbuf[VGPU_BUF_SIZE];
static uint8_t bare_rx[FRAME_SIZE];

static uint64_t
run_codec(uint64_t iters)
{
    struct vgpu_decoder dec;
    struct vgpu_frame fr;
    struct vgpu_hdr h;
    uint64_t acc = 0;

    vgpu_decoder_init(&dec, rxbuf, sizeof(rxbuf), VGPU_BUF_SIZE);
    vgpu_hdr_init(&h, VGPU_MSG_REQUEST);
    h.vm_id = 7;
    h.pool_id = 'A';
    for (uint64_t i = 0; i < iters; i++) {
        size_t used;
        int n;

        h.request_id = (uint32_t)i;
        n = vgpu_frame_encode(&h, payload, sizeof(payload), wire, sizeof(wire));
        if (n != FRAME_SIZE ||
            vgpu_decoder_feed(&dec, wire, (size_t)n, &used, &fr) != 1) {
            fprintf(stderr, "codec failed at iteration %llu\n",
                    (unsigned long long)i);
            exit(1);
        }
        acc += fr.hdr.request_id + fr.payload[i & 0x3ff];
    }
    return acc;
}

static uint64_t
run_bare(uint64_t iters)
{
    uint64_t acc = 0;

    for (uint64_t i = 0; i < iters; i++) {
        payload[0] = (uint8_t)i;
        memcpy(wire + VGPU_HDR_SIZE, payload, sizeof(payload));
        memcpy(bare_rx, wire, sizeof(wire));
        __asm__ volatile("" : : "r"(bare_rx) : "memory");
        acc += bare_rx[VGPU_HDR_SIZE + (i & 0x3ff)];
    }
    return acc;
}

int
main(int argc, char **argv)
{
    struct bench_args a;
    uint64_t t0, t_codec = 0, t_bare = 0;

    bench_parse(argc, argv, &a, 2000000,
                "Encode+decode of a 1 KiB REQUEST vs copying it twice.");
    for (size_t i = 0; i < sizeof(payload); i++) {
        payload[i] = (uint8_t)i;
    }
    if (a.mode != BENCH_BASELINE) {
        t0 = bench_now_ns();
        bench_sink += run_codec(a.iters);
        t_codec = bench_now_ns() - t0;
    }
    if (a.mode != BENCH_SUBJECT) {
        t0 = bench_now_ns();
        bench_sink += run_bare(a.iters);
        t_bare = bench_now_ns() - t0;
    }
    if (a.mode == BENCH_BOTH) {
        bench_report("encode+decode 1 KiB REQUEST", a.iters, t_codec);
        bench_report("two 1 KiB copies (baseline)", a.iters, t_bare);
        printf("ratio codec/baseline time: %.2f\n",
               t_bare ? (double)t_codec / (double)t_bare : 0.0);
    }
    return 0;
}
