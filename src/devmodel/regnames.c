/*
 * Register names, for dumps, logs and guest-error messages: the mailbox's
 * (SPEC.md section 3) and the queue's (section 11).
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

#define Q_INDEX(reg) (((reg)-VGPU_Q_REG_OFFSET) / VGPU_REG_SIZE)

static const char *const q_reg_names[VGPU_Q_REG_COUNT] = {
    [Q_INDEX(VGPU_REG_Q_BASE_LO)] = "Q_BASE_LO",
    [Q_INDEX(VGPU_REG_Q_BASE_HI)] = "Q_BASE_HI",
    [Q_INDEX(VGPU_REG_Q_SIZE)] = "Q_SIZE",
    [Q_INDEX(VGPU_REG_Q_CTRL)] = "Q_CTRL",
    [Q_INDEX(VGPU_REG_SQ_TAIL)] = "SQ_TAIL",
    [Q_INDEX(VGPU_REG_SQ_HEAD)] = "SQ_HEAD",
    [Q_INDEX(VGPU_REG_CQ_TAIL)] = "CQ_TAIL",
    [Q_INDEX(VGPU_REG_CQ_HEAD)] = "CQ_HEAD",
    [Q_INDEX(VGPU_REG_Q_ERROR)] = "Q_ERROR",
    [Q_INDEX(VGPU_REG_Q_MAX_INFLIGHT)] = "Q_MAX_INFLIGHT",
    [Q_INDEX(VGPU_REG_Q_MAX_XFER)] = "Q_MAX_XFER",
};

const char *
vgpu_reg_name(uint64_t offset)
{
    if (offset % VGPU_REG_SIZE != 0) {
        return NULL;
    }
    if (offset < VGPU_REG_SPACE_END) {
        return reg_names[offset / VGPU_REG_SIZE];
    }
    if (offset >= VGPU_Q_REG_OFFSET && offset < VGPU_Q_REG_END) {
        return q_reg_names[Q_INDEX(offset)];
    }
    return NULL;
}
