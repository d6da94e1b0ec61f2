/*
 * What devmodel.c (the registers, the mailbox) and queue.c (SPEC.md section
 * 11) share inside the device model. Not installed; not part of the API.
 */
#ifndef VGPU_DEV_INTERNAL_H
#define VGPU_DEV_INTERNAL_H

#include <stdint.h>

#include "vgpu/devmodel.h"

/* Count a guest error and hand the adapter one formatted line. */
void vgpu_dev__guest_error(struct vgpu_dev *dev, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Give ops->set_irq the line (IRQ_CTRL & IRQ_STATUS & VGPU_IRQ_LINE_MASK)
 * when it changed. */
void vgpu_dev__update_irq(struct vgpu_dev *dev);

/* A peer's error code as the device reports it: codes it cannot report
 * (NONE, BUSY, unknown) become PROTOCOL_ERROR. */
uint32_t vgpu_dev__sanitize_error(uint32_t code);

/* The queue's registers (addr in VGPU_Q_REG_OFFSET .. VGPU_Q_REG_END,
 * aligned, on a device with the queue). */
uint32_t vgpu_dev__q_reg_read(const struct vgpu_dev *dev, uint64_t addr);
void vgpu_dev__q_reg_write(struct vgpu_dev *dev, uint64_t addr, uint32_t val);

/* Device reset and connection loss, the queue's part. */
void vgpu_dev__q_reset(struct vgpu_dev *dev);
void vgpu_dev__q_transport_lost(struct vgpu_dev *dev);

#endif /* VGPU_DEV_INTERNAL_H */
