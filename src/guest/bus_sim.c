/*
 * The sim bus: BAR0 of a struct vgpu_dev in the same process, reached by
 * calling the device model's MMIO entry points as QEMU would for a guest.
 *
 * Registers take the only legal access (4 bytes, aligned). Buffers are
 * copied in 8-byte accesses, the widest the device takes, and a tail of
 * single bytes, so a copy is as few accesses as a guest could make. Values
 * are assembled little-endian, as the model defines them.
 */
#include "vgpu/devmodel.h"
#include "vgpu/guest.h"

static uint32_t
sim_read32(void *ctx, uint32_t off)
{
    return (uint32_t)vgpu_dev_mmio_read(ctx, off, VGPU_REG_SIZE);
}

static void
sim_write32(void *ctx, uint32_t off, uint32_t val)
{
    vgpu_dev_mmio_write(ctx, off, val, VGPU_REG_SIZE);
}

static void
sim_read_buf(void *ctx, uint32_t off, void *dst, size_t len)
{
    uint8_t *d = dst;
    size_t i = 0;

    for (; len - i >= VGPU_BUF_MAX_ACCESS; i += VGPU_BUF_MAX_ACCESS) {
        uint64_t v = vgpu_dev_mmio_read(ctx, off + i, VGPU_BUF_MAX_ACCESS);

        for (unsigned j = 0; j < VGPU_BUF_MAX_ACCESS; j++) {
            d[i + j] = (uint8_t)(v >> (8u * j));
        }
    }
    for (; i < len; i++) {
        d[i] = (uint8_t)vgpu_dev_mmio_read(ctx, off + i, 1);
    }
}

static void
sim_write_buf(void *ctx, uint32_t off, const void *src, size_t len)
{
    const uint8_t *s = src;
    size_t i = 0;

    for (; len - i >= VGPU_BUF_MAX_ACCESS; i += VGPU_BUF_MAX_ACCESS) {
        uint64_t v = 0;

        for (unsigned j = 0; j < VGPU_BUF_MAX_ACCESS; j++) {
            v |= (uint64_t)s[i + j] << (8u * j);
        }
        vgpu_dev_mmio_write(ctx, off + i, v, VGPU_BUF_MAX_ACCESS);
    }
    for (; i < len; i++) {
        vgpu_dev_mmio_write(ctx, off + i, s[i], 1);
    }
}

const struct vgpu_bus_ops vgpu_bus_sim = {
    .name = "sim",
    .read32 = sim_read32,
    .write32 = sim_write32,
    .read_buf = sim_read_buf,
    .write_buf = sim_write_buf,
    .wait_irq = NULL,
    .close = NULL,
    .identity = NULL,
};
