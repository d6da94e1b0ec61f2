/*
 * vgpu-stub register interface: the single source of every number in
 * SPEC.md sections 2-6. Code, tests and docs use these names; no other file
 * spells a register offset, a status value or an error code as a literal.
 */
#ifndef VGPU_REGS_H
#define VGPU_REGS_H

/* ---- PCI identity (SPEC.md section 2) ------------------------------------ */
#define VGPU_PCI_VENDOR_ID     0x1234u
#define VGPU_PCI_DEVICE_ID     0x5647u
#define VGPU_PCI_REVISION      0x02u
#define VGPU_PCI_CLASS         0x0302u /* 3D controller */
#define VGPU_PCI_INTERRUPT_PIN 1u      /* INTx pin A */
#define VGPU_MSI_VECTORS       1u      /* when the guest enables MSI */
#define VGPU_BAR0_SIZE         4096u

/* ---- BAR0 register offsets (SPEC.md section 3) --------------------------- */
#define VGPU_REG_DOORBELL     0x000u /* WO: write VGPU_DOORBELL_RING */
#define VGPU_REG_STATUS       0x004u /* RO: VGPU_STATUS_* */
#define VGPU_REG_POOL_ID      0x008u /* RO: ASCII pool letter */
#define VGPU_REG_PRIORITY     0x00Cu /* RO: VGPU_PRIO_* */
#define VGPU_REG_VM_ID        0x010u /* RO */
#define VGPU_REG_ERROR_CODE   0x014u /* RO: VGPU_ERR_* */
#define VGPU_REG_REQUEST_LEN  0x018u /* RW */
#define VGPU_REG_RESPONSE_LEN 0x01Cu /* RO */
#define VGPU_REG_PROTOCOL_VER 0x020u /* RO: VGPU_PROTOCOL_VERSION */
#define VGPU_REG_CAPABILITIES 0x024u /* RO: VGPU_CAP_* */
#define VGPU_REG_IRQ_CTRL     0x028u /* RW: VGPU_IRQ_CTRL_ENABLE */
#define VGPU_REG_IRQ_STATUS   0x02Cu /* RW1C: VGPU_IRQ_STATUS_DONE */
#define VGPU_REG_REQUEST_ID   0x030u /* RW */
#define VGPU_REG_TIMESTAMP_LO 0x034u /* RO: completion time, ns, low */
#define VGPU_REG_TIMESTAMP_HI 0x038u /* RO: completion time, ns, high */
#define VGPU_REG_SCRATCH      0x03Cu /* RW */

#define VGPU_REG_COUNT     16u    /* registers, each 4 bytes wide */
#define VGPU_REG_SIZE      4u     /* the only legal register access size */
#define VGPU_REG_SPACE_END 0x040u /* first byte after the registers */

/* ---- Buffers and reserved space ------------------------------------------ */
#define VGPU_BUF_SIZE        1024u
#define VGPU_REQ_BUF_OFFSET  0x040u /* RW, VGPU_BUF_SIZE bytes */
#define VGPU_RESP_BUF_OFFSET 0x440u /* RO, VGPU_BUF_SIZE bytes */
#define VGPU_RESERVED_OFFSET 0x840u /* to VGPU_BAR0_SIZE: reads 0 */
#define VGPU_BUF_MAX_ACCESS  8u     /* buffers take 1, 2, 4 or 8 bytes */

/* ---- Register values ----------------------------------------------------- */
#define VGPU_DOORBELL_RING 1u

#define VGPU_STATUS_IDLE  0u
#define VGPU_STATUS_BUSY  1u
#define VGPU_STATUS_DONE  2u
#define VGPU_STATUS_ERROR 3u

#define VGPU_PRIO_LOW    0u
#define VGPU_PRIO_MEDIUM 1u
#define VGPU_PRIO_HIGH   2u
#define VGPU_PRIO_COUNT  3u

#define VGPU_POOL_FIRST 'A'
#define VGPU_POOL_LAST  'Z'
#define VGPU_POOL_COUNT 26u

#define VGPU_PROTOCOL_VERSION 0x00010000u

#define VGPU_CAP_BASIC    (1u << 0) /* request/response through the buffers */
#define VGPU_CAP_IRQ      (1u << 1) /* completion interrupt */
#define VGPU_CAP_QUEUE    (1u << 2)
#define VGPU_CAPABILITIES (VGPU_CAP_BASIC | VGPU_CAP_IRQ)

#define VGPU_IRQ_CTRL_ENABLE (1u << 0)
#define VGPU_IRQ_CTRL_MASK   VGPU_IRQ_CTRL_ENABLE
#define VGPU_IRQ_STATUS_DONE (1u << 0)
#define VGPU_IRQ_STATUS_MASK VGPU_IRQ_STATUS_DONE

/* ---- Error codes: ERROR_CODE and frame status (section 5) -------------- */
/* VGPU_ERR_BUSY is only the guest library's answer; the device never sets it */
#define VGPU_ERR_NONE                 0x00u
#define VGPU_ERR_BUSY                 0x01u
#define VGPU_ERR_INVALID_LENGTH       0x02u
#define VGPU_ERR_MEDIATOR_UNAVAILABLE 0x03u
#define VGPU_ERR_TIMEOUT              0x04u
#define VGPU_ERR_INVALID_REQUEST      0x05u
#define VGPU_ERR_BACKEND_ERROR        0x06u
#define VGPU_ERR_RESPONSE_TOO_LARGE   0x07u
#define VGPU_ERR_REJECTED             0x08u
#define VGPU_ERR_PROTOCOL_ERROR       0x09u
#define VGPU_ERR_DMA_ERROR            0x0Au
#define VGPU_ERR_COUNT                11u /* codes 0 .. VGPU_ERR_COUNT - 1 */

/* ---- Device properties (SPEC.md section 6) ------------------------------- */
#define VGPU_DEFAULT_POOL       'A'
#define VGPU_DEFAULT_PRIORITY   VGPU_PRIO_MEDIUM
#define VGPU_DEFAULT_SOCKET     "/run/vgpu/mediator.sock"
#define VGPU_DEFAULT_TIMEOUT_MS 10000u
#define VGPU_MAX_TIMEOUT_MS     3600000u
#define VGPU_VM_ID_MIN          1u /* vm_id 0 is never valid */

#endif /* VGPU_REGS_H */
