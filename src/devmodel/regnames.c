/*
 * Register names, for dumps, logs and guest-error messages.
 */
#include "vgpu/devmodel.h"

static const char *const reg_names[VGPU_REG_COUNT] = {
    [VGPU_REG_DOORBELL / VGPU_REG_SIZE] = "DOORBELL",
    [VGPU_REG_STATUS / VGPU_REG_SIZE] = "STATUS",
    [VGPU_REG_POOL_ID / VGPU_REG_SIZE] = "POOL_ID",
    [VGPU_REG_PRIORITY / VGPU_REG_SIZE] = "PRIORITY",
    [VGPU_REG_VM_ID / VGPU_REG_SIZE] = "VM_ID",
    [VGPU_REG_ERROR_CODE / VGPU_REG_SIZE] = "ERROR_CODE",
    [VGPU_REG_REQUEST_LEN / VGPU_REG_SIZE] = "REQUEST_LEN",
    [VGPU_REG_RESPONSE_LEN / VGPU_REG_SIZE] = "RESPONSE_LEN",
    [VGPU_REG_PROTOCOL_VER / VGPU_REG_SIZE] = "PROTOCOL_VER",
    [VGPU_REG_CAPABILITIES / VGPU_REG_SIZE] = "CAPABILITIES",
    [VGPU_REG_IRQ_CTRL / VGPU_REG_SIZE] = "IRQ_CTRL",
    [VGPU_REG_IRQ_STATUS / VGPU_REG_SIZE] = "IRQ_STATUS",
    [VGPU_REG_REQUEST_ID / VGPU_REG_SIZE] = "REQUEST_ID",
    [VGPU_REG_TIMESTAMP_LO / VGPU_REG_SIZE] = "TIMESTAMP_LO",
    [VGPU_REG_TIMESTAMP_HI / VGPU_REG_SIZE] = "TIMESTAMP_HI",
    [VGPU_REG_SCRATCH / VGPU_REG_SIZE] = "SCRATCH",
};

const char *
vgpu_reg_name(uint64_t offset)
{
    if (offset >= VGPU_REG_SPACE_END || offset % VGPU_REG_SIZE != 0) {
        return NULL;
    }
    return reg_names[offset / VGPU_REG_SIZE];
}
