/*
 * Register accesses per second through the device model, against a bare
 * baseline: the same accesses to a plain array behind out-of-line functions,
 * which is the least an adapter's MMIO callback could cost. Also doorbells
 * per second with a transport that answers at once.
 */
#include "bench_common.h"
#include "vgpu/devmodel.h"

/* One iteration is this many accesses: SCRATCH write and read, STATUS read,
 * an 8-byte request-buffer write and a 4-byte response-buffer read. */
#define ACCESSES_PER_ITER 5u

static struct vgpu_dev dev;

static int
bench_submit(void *opaque, const struct vgpu_request *req)
{
    vgpu_dev_complete(&dev, req->generation, req->request_id, VGPU_ERR_NONE,
                      req->data, req->len);
    return 0;
}

static void
bench_set_irq(void *opaque, int level)
{
}

static uint64_t
bench_clock(void *opaque)
{
    return 0;
}

static const struct vgpu_dev_ops ops = {
    .submit = bench_submit, .set_irq = bench_set_irq, .now_ns = bench_clock};

/* The baseline: a register file with no rules at all. */
static uint8_t bare[VGPU_BAR0_SIZE];

__attribute__((noinline)) static uint64_t
bare_read(uint64_t addr, unsigned size)
{
    uint64_t v = 0;

    memcpy(&v, bare + addr, size);
    return v;
}

__attribute__((noinline)) static void
bare_write(uint64_t addr, uint64_t val, unsigned size)
{
    memcpy(bare + addr, &val, size);
}

static uint64_t
run_model(uint64_t iters)
{
    uint64_t acc = 0;

    for (uint64_t i = 0; i < iters; i++) {
        vgpu_dev_mmio_write(&dev, VGPU_REG_SCRATCH, i, VGPU_REG_SIZE);
        acc += vgpu_dev_mmio_read(&dev, VGPU_REG_SCRATCH, VGPU_REG_SIZE);
        acc += vgpu_dev_mmio_read(&dev, VGPU_REG_STATUS, VGPU_REG_SIZE);
        vgpu_dev_mmio_write(&dev, VGPU_REQ_BUF_OFFSET + (i & 0x3f8), i, 8);
        acc += vgpu_dev_mmio_read(&dev, VGPU_RESP_BUF_OFFSET + (i & 0x3fc), 4);
    }
    return acc;
}

static uint64_t
run_bare(uint64_t iters)
{
    uint64_t acc = 0;

    for (uint64_t i = 0; i < iters; i++) {
        bare_write(VGPU_REG_SCRATCH, i, VGPU_REG_SIZE);
        acc += bare_read(VGPU_REG_SCRATCH, VGPU_REG_SIZE);
        acc += bare_read(VGPU_REG_STATUS, VGPU_REG_SIZE);
        bare_write(VGPU_REQ_BUF_OFFSET + (i & 0x3f8), i, 8);
        acc += bare_read(VGPU_RESP_BUF_OFFSET + (i & 0x3fc), 4);
    }
    return acc;
}

static uint64_t
run_doorbells(uint64_t iters)
{
    vgpu_dev_mmio_write(&dev, VGPU_REG_REQUEST_LEN, 8, VGPU_REG_SIZE);
    for (uint64_t i = 0; i < iters; i++) {
        vgpu_dev_mmio_write(&dev, VGPU_REG_REQUEST_ID, i, VGPU_REG_SIZE);
        vgpu_dev_mmio_write(&dev, VGPU_REG_DOORBELL, VGPU_DOORBELL_RING,
                            VGPU_REG_SIZE);
    }
    return dev.stats.completions;
}

int
main(int argc, char **argv)
{
    struct vgpu_dev_config cfg = {
        .pool_id = 'A', .priority = VGPU_PRIO_HIGH, .vm_id = 1};
    struct bench_args a;
    uint64_t t0, t_model = 0, t_bare = 0, t_bell = 0;

    bench_parse(argc, argv, &a, 20000000,
                "Register accesses/s through devmodel vs a bare array.");
    if (vgpu_dev_init(&dev, &cfg, &ops, NULL) != 0) {
        return 1;
    }
    if (a.mode != BENCH_BASELINE) {
        t0 = bench_now_ns();
        bench_sink += run_model(a.iters);
        t_model = bench_now_ns() - t0;
    }
    if (a.mode == BENCH_BOTH) {
        t0 = bench_now_ns();
        bench_sink += run_doorbells(a.iters / 4 + 1);
        t_bell = bench_now_ns() - t0;
    }
    if (a.mode != BENCH_SUBJECT) {
        t0 = bench_now_ns();
        bench_sink += run_bare(a.iters);
        t_bare = bench_now_ns() - t0;
    }
    if (a.mode == BENCH_BOTH) {
        bench_report("devmodel register accesses", a.iters * ACCESSES_PER_ITER,
                     t_model);
        bench_report("bare array accesses (baseline)",
                     a.iters * ACCESSES_PER_ITER, t_bare);
        bench_report("doorbell + synchronous completion", a.iters / 4 + 1,
                     t_bell);
        printf("ratio devmodel/baseline time: %.2f\n",
               t_bare ? (double)t_model / (double)t_bare : 0.0);
    }
    return 0;
}
