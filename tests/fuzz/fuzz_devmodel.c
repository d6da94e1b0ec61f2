/*
 * Fuzz the device model (SPEC.md sections 3-5): the input is a program of
 * MMIO reads and writes (any size, valid or not, at any offset, past the BAR
 * included), doorbells, completions with any generation, id, status and
 * length (up to 2048 bytes, data from the input), transport losses, timeouts
 * and resets, run on one struct vgpu_dev with fake ops. The fake submit, also
 * driven by the input, fails the request, completes it synchronously (with a
 * good or a stale answer) or leaves it in flight.
 *
 * After every step the harness checks the invariants of the register file
 * (STATUS in 0..3, RESPONSE_LEN <= VGPU_BUF_SIZE, the line given to set_irq
 * equals IRQ_CTRL & IRQ_STATUS & 1, ERROR_CODE != 0 exactly when STATUS is
 * ERROR) and, where the SPEC says what a step does, that it did exactly that.
 * The device lives in a heap block of exactly its size, and every buffer the
 * harness hands it is a heap block of exactly its length, so AddressSanitizer
 * sees any access outside them.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "vgpu/devmodel.h"

/* The largest completion length tried: twice the buffer. */
#define FZ_MAX_RESPONSE (2u * VGPU_BUF_SIZE)
/* Steps per input, so that a long input cannot take long. */
#define FZ_MAX_STEPS    4096u
/* Fake clock step per now_ns() call. */
#define FZ_TICK_NS      1000u

/* What the fake submit does with a request. */
enum fz_submit {
    SUBMIT_INFLIGHT,  /* return 0, answer later (or never) */
    SUBMIT_FAIL,      /* return an error code */
    SUBMIT_SYNC,      /* complete it before returning 0 */
    SUBMIT_SYNC_FAIL, /* complete it, then return an error anyway */
    SUBMIT_STALE,     /* a stale answer before returning 0 */
    SUBMIT_COUNT
};

/* The steps of a program. */
enum fz_step {
    STEP_READ,
    STEP_WRITE,
    STEP_DOORBELL,
    STEP_SET_LEN,
    STEP_FILL,
    STEP_COMPLETE,
    STEP_LOST,
    STEP_TIMEOUT,
    STEP_RESET,
    STEP_IRQ,
    STEP_COUNT
};

/* Where an access goes. */
enum fz_where {
    AT_REG,
    AT_REG_ANY,
    AT_REQ_BUF,
    AT_REQ_END,
    AT_RESP_BUF,
    AT_RESP_END,
    AT_RESERVED,
    AT_BAR_END,
    AT_ANYWHERE,
    AT_COUNT
};

/* How a completion's status is picked. */
enum fz_pick_status {
    PICK_OK,   /* VGPU_ERR_NONE */
    PICK_CODE, /* a small code, known or not */
    PICK_ANY,  /* any 32-bit value */
    PICK_OK2,  /* VGPU_ERR_NONE again: success is the common case */
    PICK_STATUS_COUNT
};

/* How a written value is picked. */
enum fz_pick_value {
    VAL_RING, /* VGPU_DOORBELL_RING */
    VAL_SMALL,
    VAL_U32,
    VAL_U64,
    VAL_COUNT
};

/* Which request an answer names. */
enum fz_pick_answer {
    ANS_INFLIGHT, /* the request in flight (if any) */
    ANS_LATE,     /* an older generation */
    ANS_WRONG_ID, /* the right generation, another id */
    ANS_ANY,      /* anything */
    ANS_COUNT
};

/* The expected outcome of a completion. */
struct fz_expect {
    uint32_t status;
    uint32_t error_code;
    uint32_t response_len;
    const uint8_t *data; /* response_len bytes */
};

struct fz {
    struct fuzz_cursor cur;
    struct vgpu_dev *dev;
    struct vgpu_dev_config cfg;
    int irq_level; /* what set_irq said last */
    uint64_t now;  /* what now_ns() returned last */
    int in_submit;
    uint64_t submits;
    uint64_t guest_errors;
    /* The outcome a synchronous completion or refusal in submit set. */
    int expect_set;
    struct fz_expect expect;
    uint8_t *expect_buf; /* owns expect.data when set */
};

/* ---- Register access through the BAR, as a guest sees it ---------------- */

static uint32_t
fz_reg(struct fz *f, uint32_t reg)
{
    return (uint32_t)vgpu_dev_mmio_read(f->dev, reg, VGPU_REG_SIZE);
}

static uint64_t
fz_all_ones(unsigned size)
{
    if (size >= sizeof(uint64_t)) {
        return UINT64_MAX;
    }
    return (UINT64_C(1) << (size * 8u)) - 1u;
}

/* ---- Invariants ---------------------------------------------------------- */

static void
fz_check_invariants(struct fz *f)
{
    uint32_t status = fz_reg(f, VGPU_REG_STATUS);
    uint32_t code = fz_reg(f, VGPU_REG_ERROR_CODE);
    uint32_t ctrl = fz_reg(f, VGPU_REG_IRQ_CTRL);
    uint32_t irq = fz_reg(f, VGPU_REG_IRQ_STATUS);

    FUZZ_CHECK(status <= VGPU_STATUS_ERROR);
    FUZZ_CHECK(fz_reg(f, VGPU_REG_RESPONSE_LEN) <= VGPU_BUF_SIZE);
    FUZZ_CHECK((ctrl & ~VGPU_IRQ_CTRL_MASK) == 0);
    FUZZ_CHECK((irq & ~VGPU_IRQ_STATUS_MASK) == 0);
    FUZZ_CHECK((uint32_t)f->irq_level ==
               (ctrl & irq & VGPU_IRQ_STATUS_DONE & VGPU_IRQ_CTRL_ENABLE));
    /* SPEC.md section 3: ERROR_CODE is 0 unless STATUS is ERROR, and the
     * device never reports ERROR without a code (nor BUSY, a library code). */
    FUZZ_CHECK((code != VGPU_ERR_NONE) == (status == VGPU_STATUS_ERROR));
    FUZZ_CHECK(code < VGPU_ERR_COUNT && code != VGPU_ERR_BUSY);
    FUZZ_CHECK(vgpu_dev_busy(f->dev) == (status == VGPU_STATUS_BUSY));
    FUZZ_CHECK(fz_reg(f, VGPU_REG_DOORBELL) == 0);
    FUZZ_CHECK(fz_reg(f, VGPU_REG_POOL_ID) == f->cfg.pool_id);
    FUZZ_CHECK(fz_reg(f, VGPU_REG_PRIORITY) == f->cfg.priority);
    FUZZ_CHECK(fz_reg(f, VGPU_REG_VM_ID) == f->cfg.vm_id);
    FUZZ_CHECK(fz_reg(f, VGPU_REG_PROTOCOL_VER) == VGPU_PROTOCOL_VERSION);
    FUZZ_CHECK(fz_reg(f, VGPU_REG_CAPABILITIES) == VGPU_CAPABILITIES);
}

/* The device shows @e: STATUS, ERROR_CODE, RESPONSE_LEN, the response bytes,
 * a TIMESTAMP of the completion and IRQ_STATUS set. */
static void
fz_check_outcome(struct fz *f, const struct fz_expect *e)
{
    uint64_t ts = fz_reg(f, VGPU_REG_TIMESTAMP_LO) |
                  (uint64_t)fz_reg(f, VGPU_REG_TIMESTAMP_HI) << 32;

    FUZZ_CHECK(fz_reg(f, VGPU_REG_STATUS) == e->status);
    FUZZ_CHECK(fz_reg(f, VGPU_REG_ERROR_CODE) == e->error_code);
    FUZZ_CHECK(fz_reg(f, VGPU_REG_RESPONSE_LEN) == e->response_len);
    FUZZ_CHECK(e->response_len == 0 ||
               memcmp(f->dev->resp_buf, e->data, e->response_len) == 0);
    FUZZ_CHECK(ts == f->now);
    FUZZ_CHECK(fz_reg(f, VGPU_REG_IRQ_STATUS) & VGPU_IRQ_STATUS_DONE);
}

/* What a completion with @status and @len bytes (@data may be NULL) must
 * leave (SPEC.md sections 4 and 7, vgpu_dev_complete()). */
static void
fz_expect_completion(struct fz_expect *e, uint32_t status, const uint8_t *data,
                     size_t len)
{
    e->data = data;
    if (len > VGPU_BUF_SIZE) {
        e->status = VGPU_STATUS_ERROR;
        e->error_code = VGPU_ERR_RESPONSE_TOO_LARGE;
        e->response_len = 0;
        return;
    }
    e->response_len = data != NULL ? (uint32_t)len : 0;
    if (status == VGPU_ERR_NONE) {
        e->status = VGPU_STATUS_DONE;
        e->error_code = VGPU_ERR_NONE;
    } else {
        e->status = VGPU_STATUS_ERROR;
        e->error_code = status > VGPU_ERR_BUSY && status < VGPU_ERR_COUNT
                            ? status
                            : VGPU_ERR_PROTOCOL_ERROR;
    }
}

static void
fz_expect_error(struct fz_expect *e, uint32_t code)
{
    e->status = VGPU_STATUS_ERROR;
    e->error_code = code;
    e->response_len = 0;
    e->data = NULL;
}

/* ---- Fake ops ------------------------------------------------------------ */

static uint64_t
fz_now_ns(void *opaque)
{
    struct fz *f = opaque;

    f->now += FZ_TICK_NS;
    return f->now;
}

static void
fz_set_irq(void *opaque, int level)
{
    struct fz *f = opaque;

    /* Called only on a change, with 0 or 1. */
    FUZZ_CHECK(level == 0 || level == 1);
    FUZZ_CHECK(level != f->irq_level);
    f->irq_level = level;
}

static void
fz_guest_error(void *opaque, const char *what)
{
    struct fz *f = opaque;

    FUZZ_CHECK(what != NULL && what[0] != '\0');
    FUZZ_CHECK(strlen(what) < sizeof(f->dev->why));
    f->guest_errors++;
}

/* A completion's status, length and data, from the input. The data is a heap
 * block of exactly @len bytes (NULL for a transport that discarded them). */
static uint8_t *
fz_response(struct fz *f, uint32_t *status, size_t *len)
{
    uint8_t *data;
    const uint8_t *src;
    size_t got;

    switch (fuzz_u8(&f->cur) % PICK_STATUS_COUNT) {
    case PICK_CODE:
        *status = fuzz_u8(&f->cur) % (VGPU_ERR_COUNT + 2u);
        break;
    case PICK_ANY:
        *status = fuzz_u32(&f->cur);
        break;
    default:
        *status = VGPU_ERR_NONE;
        break;
    }
    *len = fuzz_u16(&f->cur) % (FZ_MAX_RESPONSE + 1u);
    if (*len == 0 || fuzz_u8(&f->cur) == 0xffu) {
        return NULL;
    }
    data = malloc(*len);
    FUZZ_CHECK(data != NULL);
    src = fuzz_bytes(&f->cur, *len, &got);
    memcpy(data, src, got);
    memset(data + got, 0, *len - got);
    return data;
}

/* Complete the request in flight (or whatever @gen and @id name) and check
 * that exactly the right thing happened. */
static void
fz_complete(struct fz *f, uint32_t gen, uint32_t id)
{
    struct fz_expect e;
    uint32_t cur_gen;
    uint32_t cur_id;
    uint32_t status;
    uint32_t before[3];
    size_t len;
    uint8_t *data = fz_response(f, &status, &len);
    int match;
    int rc;

    vgpu_dev_inflight(f->dev, &cur_gen, &cur_id);
    match = vgpu_dev_busy(f->dev) && gen == cur_gen && id == cur_id;
    before[0] = fz_reg(f, VGPU_REG_STATUS);
    before[1] = fz_reg(f, VGPU_REG_ERROR_CODE);
    before[2] = fz_reg(f, VGPU_REG_RESPONSE_LEN);
    rc = vgpu_dev_complete(f->dev, gen, id, status, data, len);
    if (!match) {
        FUZZ_CHECK(rc == -ESTALE);
        FUZZ_CHECK(fz_reg(f, VGPU_REG_STATUS) == before[0]);
        FUZZ_CHECK(fz_reg(f, VGPU_REG_ERROR_CODE) == before[1]);
        FUZZ_CHECK(fz_reg(f, VGPU_REG_RESPONSE_LEN) == before[2]);
    } else {
        FUZZ_CHECK(rc == 0);
        fz_expect_completion(&e, status, data, len);
        fz_check_outcome(f, &e);
        if (f->in_submit) {
            /* Checked again after the doorbell returns. */
            free(f->expect_buf);
            f->expect = e;
            f->expect_buf = data;
            f->expect_set = 1;
            data = NULL;
        }
    }
    free(data);
}

static int
fz_submit(void *opaque, const struct vgpu_request *req)
{
    static const int fail_codes[] = {
        -EPIPE,         -ECONNREFUSED,    VGPU_ERR_MEDIATOR_UNAVAILABLE,
        VGPU_ERR_BUSY,  VGPU_ERR_TIMEOUT, VGPU_ERR_REJECTED,
        VGPU_ERR_COUNT, 0x7fffffff,
    };
    struct fz *f = opaque;
    uint32_t code;
    uint32_t gen;
    uint32_t id;
    uint8_t *copy;
    int rc = 0;

    FUZZ_CHECK(!f->in_submit);
    f->in_submit = 1;
    f->submits++;

    /* The request as SPEC.md section 4 says: the snapshot of REQUEST_LEN
     * bytes, the latched id, the device's identity, STATUS BUSY. */
    FUZZ_CHECK(req->len >= 1 && req->len <= VGPU_BUF_SIZE);
    FUZZ_CHECK(req->len == fz_reg(f, VGPU_REG_REQUEST_LEN));
    FUZZ_CHECK(req->data != NULL);
    FUZZ_CHECK(req->vm_id == f->cfg.vm_id);
    FUZZ_CHECK(req->pool_id == f->cfg.pool_id);
    FUZZ_CHECK(req->priority == f->cfg.priority);
    FUZZ_CHECK(req->request_id == fz_reg(f, VGPU_REG_REQUEST_ID));
    FUZZ_CHECK(fz_reg(f, VGPU_REG_STATUS) == VGPU_STATUS_BUSY);
    FUZZ_CHECK(fz_reg(f, VGPU_REG_ERROR_CODE) == VGPU_ERR_NONE);
    FUZZ_CHECK(fz_reg(f, VGPU_REG_RESPONSE_LEN) == 0);
    vgpu_dev_inflight(f->dev, &gen, &id);
    FUZZ_CHECK(gen == req->generation && id == req->request_id);
    copy = malloc(req->len);
    FUZZ_CHECK(copy != NULL);
    memcpy(copy, req->data, req->len);
    FUZZ_CHECK(memcmp(copy, f->dev->req_buf, req->len) == 0);
    free(copy);

    switch (fuzz_u8(&f->cur) % SUBMIT_COUNT) {
    case SUBMIT_INFLIGHT:
        break;
    case SUBMIT_FAIL:
        rc = fail_codes[fuzz_u8(&f->cur) %
                        (sizeof(fail_codes) / sizeof(fail_codes[0]))];
        /* A negative code is "no mediator"; a positive one is reported as
         * is when the device can report it. */
        code = VGPU_ERR_MEDIATOR_UNAVAILABLE;
        if (rc > 0) {
            code = rc > (int)VGPU_ERR_BUSY && rc < (int)VGPU_ERR_COUNT
                       ? (uint32_t)rc
                       : VGPU_ERR_PROTOCOL_ERROR;
        }
        free(f->expect_buf);
        f->expect_buf = NULL;
        fz_expect_error(&f->expect, code);
        f->expect_set = 1;
        break;
    case SUBMIT_SYNC:
        fz_complete(f, req->generation, req->request_id);
        break;
    case SUBMIT_SYNC_FAIL:
        fz_complete(f, req->generation, req->request_id);
        rc = -EPIPE; /* the completion stands */
        break;
    case SUBMIT_STALE:
        fz_complete(f, req->generation - 1u, req->request_id);
        break;
    default:
        break;
    }
    f->in_submit = 0;
    return rc;
}

static const struct vgpu_dev_ops fz_ops = {
    .submit = fz_submit,
    .set_irq = fz_set_irq,
    .now_ns = fz_now_ns,
    .guest_error = fz_guest_error,
};

static const struct vgpu_dev_ops fz_ops_quiet = {
    .submit = fz_submit,
    .set_irq = fz_set_irq,
    .now_ns = fz_now_ns,
};

/* ---- Steps --------------------------------------------------------------- */

static unsigned
fz_size(struct fz *f)
{
    static const unsigned sizes[] = {1, 2, 4, 8, 4, 4, 0, 3, 5, 16};
    uint8_t b = fuzz_u8(&f->cur);

    if (b == 0xffu) {
        return fuzz_u8(&f->cur); /* anything */
    }
    return sizes[b % (sizeof(sizes) / sizeof(sizes[0]))];
}

static uint64_t
fz_addr(struct fz *f)
{
    switch (fuzz_u8(&f->cur) % AT_COUNT) {
    case AT_REG:
        return (uint64_t)(fuzz_u8(&f->cur) % VGPU_REG_COUNT) * VGPU_REG_SIZE;
    case AT_REG_ANY:
        return fuzz_u8(&f->cur) % VGPU_REG_SPACE_END;
    case AT_REQ_BUF:
        return VGPU_REQ_BUF_OFFSET + fuzz_u16(&f->cur) % VGPU_BUF_SIZE;
    case AT_REQ_END:
        return VGPU_RESP_BUF_OFFSET - 1u - fuzz_u8(&f->cur) % 16u;
    case AT_RESP_BUF:
        return VGPU_RESP_BUF_OFFSET + fuzz_u16(&f->cur) % VGPU_BUF_SIZE;
    case AT_RESP_END:
        return VGPU_BUF_SPACE_END - 1u - fuzz_u8(&f->cur) % 16u;
    case AT_RESERVED:
        return VGPU_BUF_SPACE_END + fuzz_u16(&f->cur) % 0x1000u;
    case AT_BAR_END:
        return VGPU_BAR0_SIZE - 8u + fuzz_u8(&f->cur) % 16u;
    default:
        return fuzz_u64(&f->cur);
    }
}

/* The bytes of @buf a buffer read at @off of @size bytes returns: those
 * past the buffer's end read 0. */
static uint64_t
fz_buf_value(const uint8_t *buf, uint64_t off, unsigned size)
{
    uint64_t v = 0;

    for (unsigned i = 0; i < size; i++) {
        if (off + i < VGPU_BUF_SIZE) {
            v |= (uint64_t)buf[off + i] << (8u * i);
        }
    }
    return v;
}

static int
fz_size_ok(unsigned size)
{
    return size == 1 || size == 2 || size == 4 || size == 8;
}

static void
fz_step_read(struct fz *f)
{
    uint64_t addr = fz_addr(f);
    unsigned size = fz_size(f);
    uint64_t before = f->guest_errors;
    uint64_t v = vgpu_dev_mmio_read(f->dev, addr, size);

    if (size < 8) {
        FUZZ_CHECK(v <= fz_all_ones(size));
    }
    if (!fz_size_ok(size) || addr >= VGPU_BAR0_SIZE) {
        FUZZ_CHECK(v == fz_all_ones(size));
        FUZZ_CHECK(f->dev->ops->guest_error == NULL ||
                   f->guest_errors == before + 1);
    } else if (addr < VGPU_REG_SPACE_END) {
        if (size != VGPU_REG_SIZE || addr % VGPU_REG_SIZE != 0) {
            FUZZ_CHECK(v == fz_all_ones(size));
        }
    } else if (addr < VGPU_RESP_BUF_OFFSET) {
        FUZZ_CHECK(v == fz_buf_value(f->dev->req_buf,
                                     addr - VGPU_REQ_BUF_OFFSET, size));
    } else if (addr < VGPU_BUF_SPACE_END) {
        FUZZ_CHECK(v == fz_buf_value(f->dev->resp_buf,
                                     addr - VGPU_RESP_BUF_OFFSET, size));
    } else {
        FUZZ_CHECK(v == 0);
    }
}

/* The value written: 1 (rings), small, 32-bit or anything. */
static uint64_t
fz_value(struct fz *f)
{
    switch (fuzz_u8(&f->cur) % VAL_COUNT) {
    case VAL_RING:
        return VGPU_DOORBELL_RING;
    case VAL_SMALL:
        return fuzz_u8(&f->cur);
    case VAL_U32:
        return fuzz_u32(&f->cur);
    default:
        return fuzz_u64(&f->cur);
    }
}

/* A write of @val to DOORBELL, and what SPEC.md section 4 says it does. */
static void
fz_ring(struct fz *f, uint64_t val)
{
    uint32_t status = fz_reg(f, VGPU_REG_STATUS);
    uint32_t len = fz_reg(f, VGPU_REG_REQUEST_LEN);
    uint64_t submits = f->submits;
    struct fz_expect e;

    f->expect_set = 0;
    vgpu_dev_mmio_write(f->dev, VGPU_REG_DOORBELL, val, VGPU_REG_SIZE);
    if (status == VGPU_STATUS_BUSY) {
        FUZZ_CHECK(f->submits == submits);
        FUZZ_CHECK(fz_reg(f, VGPU_REG_STATUS) == VGPU_STATUS_BUSY);
        return;
    }
    if (len == 0 || len > VGPU_BUF_SIZE) {
        FUZZ_CHECK(f->submits == submits);
        fz_expect_error(&e, VGPU_ERR_INVALID_LENGTH);
        fz_check_outcome(f, &e);
        return;
    }
    FUZZ_CHECK(f->submits == submits + 1);
    if (f->expect_set) {
        /* Nothing after the synchronous end overwrote it. */
        fz_check_outcome(f, &f->expect);
    } else {
        FUZZ_CHECK(fz_reg(f, VGPU_REG_STATUS) == VGPU_STATUS_BUSY);
    }
}

static void
fz_step_write(struct fz *f)
{
    uint64_t addr = fz_addr(f);
    unsigned size = fz_size(f);
    uint64_t val = fz_value(f);
    uint32_t regs[VGPU_REG_COUNT];
    uint8_t req[VGPU_BUF_SIZE];
    uint8_t resp[VGPU_BUF_SIZE];
    int is_reg = size == VGPU_REG_SIZE && addr < VGPU_REG_SPACE_END &&
                 addr % VGPU_REG_SIZE == 0;

    if (is_reg && addr == VGPU_REG_DOORBELL &&
        (uint32_t)val == VGPU_DOORBELL_RING) {
        fz_ring(f, val);
        return;
    }
    for (uint32_t i = 0; i < VGPU_REG_COUNT; i++) {
        regs[i] = fz_reg(f, i * VGPU_REG_SIZE);
    }
    memcpy(req, f->dev->req_buf, sizeof(req));
    memcpy(resp, f->dev->resp_buf, sizeof(resp));
    vgpu_dev_mmio_write(f->dev, addr, val, size);
    /* The response buffer is read-only; the request buffer changes only
     * where a valid access wrote it. */
    FUZZ_CHECK(memcmp(resp, f->dev->resp_buf, sizeof(resp)) == 0);
    if (fz_size_ok(size) && addr >= VGPU_REQ_BUF_OFFSET &&
        addr < VGPU_RESP_BUF_OFFSET) {
        uint64_t off = addr - VGPU_REQ_BUF_OFFSET;

        for (unsigned i = 0; i < size && off + i < VGPU_BUF_SIZE; i++) {
            req[off + i] = (uint8_t)(val >> (8u * i));
        }
    }
    FUZZ_CHECK(memcmp(req, f->dev->req_buf, sizeof(req)) == 0);

    /* Registers: only the RW one written changes. */
    if (is_reg && addr == VGPU_REG_REQUEST_LEN) {
        regs[addr / VGPU_REG_SIZE] = (uint32_t)val;
    } else if (is_reg && addr == VGPU_REG_REQUEST_ID) {
        regs[addr / VGPU_REG_SIZE] = (uint32_t)val;
    } else if (is_reg && addr == VGPU_REG_SCRATCH) {
        regs[addr / VGPU_REG_SIZE] = (uint32_t)val;
    } else if (is_reg && addr == VGPU_REG_IRQ_CTRL) {
        regs[addr / VGPU_REG_SIZE] = (uint32_t)val & VGPU_IRQ_CTRL_MASK;
    } else if (is_reg && addr == VGPU_REG_IRQ_STATUS) {
        regs[addr / VGPU_REG_SIZE] &= ~((uint32_t)val & VGPU_IRQ_STATUS_MASK);
    }
    for (uint32_t i = 0; i < VGPU_REG_COUNT; i++) {
        FUZZ_CHECK(regs[i] == fz_reg(f, i * VGPU_REG_SIZE));
    }
}

static void
fz_step_set_len(struct fz *f)
{
    uint8_t b = fuzz_u8(&f->cur);
    uint32_t len;

    if (b == 0) {
        len = 0;
    } else if (b == 0xffu) {
        len = fuzz_u32(&f->cur);
    } else {
        len = fuzz_u16(&f->cur) % (VGPU_BUF_SIZE + 2u);
    }
    vgpu_dev_mmio_write(f->dev, VGPU_REG_REQUEST_LEN, len, VGPU_REG_SIZE);
    FUZZ_CHECK(fz_reg(f, VGPU_REG_REQUEST_LEN) == len);
}

/* Write a run of input bytes into the request buffer, 8 at a time. */
static void
fz_step_fill(struct fz *f)
{
    uint32_t off = fuzz_u16(&f->cur) % VGPU_BUF_SIZE;
    size_t want = fuzz_u8(&f->cur);
    size_t got;
    const uint8_t *p = fuzz_bytes(&f->cur, want, &got);

    for (size_t i = 0; i < got; i += 8u) {
        uint64_t v = 0;

        for (size_t j = 0; j < 8u && i + j < got; j++) {
            v |= (uint64_t)p[i + j] << (8u * j);
        }
        vgpu_dev_mmio_write(f->dev, VGPU_REQ_BUF_OFFSET + off + i, v, 8);
    }
}

static void
fz_step_complete(struct fz *f)
{
    uint32_t gen;
    uint32_t id;

    vgpu_dev_inflight(f->dev, &gen, &id);
    switch (fuzz_u8(&f->cur) % ANS_COUNT) {
    case ANS_INFLIGHT:
        break;
    case ANS_LATE:
        gen -= fuzz_u8(&f->cur) % 3u;
        break;
    case ANS_WRONG_ID:
        id ^= fuzz_u32(&f->cur);
        break;
    default:
        gen = fuzz_u32(&f->cur);
        id = fuzz_u32(&f->cur);
        break;
    }
    fz_complete(f, gen, id);
}

/* transport_lost or timeout: a request in flight ends in @code. */
static void
fz_step_end(struct fz *f, int lost)
{
    int busy = vgpu_dev_busy(f->dev);
    uint32_t before[3] = {fz_reg(f, VGPU_REG_STATUS),
                          fz_reg(f, VGPU_REG_ERROR_CODE),
                          fz_reg(f, VGPU_REG_RESPONSE_LEN)};
    struct fz_expect e;

    if (lost) {
        vgpu_dev_transport_lost(f->dev);
    } else {
        vgpu_dev_timeout(f->dev);
    }
    if (busy) {
        fz_expect_error(&e, lost ? VGPU_ERR_MEDIATOR_UNAVAILABLE
                                 : VGPU_ERR_TIMEOUT);
        fz_check_outcome(f, &e);
    } else {
        FUZZ_CHECK(fz_reg(f, VGPU_REG_STATUS) == before[0]);
        FUZZ_CHECK(fz_reg(f, VGPU_REG_ERROR_CODE) == before[1]);
        FUZZ_CHECK(fz_reg(f, VGPU_REG_RESPONSE_LEN) == before[2]);
    }
}

static void
fz_step_reset(struct fz *f)
{
    static const uint8_t zero[VGPU_BUF_SIZE];

    vgpu_dev_reset(f->dev);
    FUZZ_CHECK(fz_reg(f, VGPU_REG_STATUS) == VGPU_STATUS_IDLE);
    FUZZ_CHECK(fz_reg(f, VGPU_REG_ERROR_CODE) == VGPU_ERR_NONE);
    FUZZ_CHECK(fz_reg(f, VGPU_REG_REQUEST_LEN) == 0);
    FUZZ_CHECK(fz_reg(f, VGPU_REG_RESPONSE_LEN) == 0);
    FUZZ_CHECK(fz_reg(f, VGPU_REG_IRQ_CTRL) == 0);
    FUZZ_CHECK(fz_reg(f, VGPU_REG_IRQ_STATUS) == 0);
    FUZZ_CHECK(fz_reg(f, VGPU_REG_REQUEST_ID) == 0);
    FUZZ_CHECK(fz_reg(f, VGPU_REG_SCRATCH) == 0);
    FUZZ_CHECK(fz_reg(f, VGPU_REG_TIMESTAMP_LO) == 0);
    FUZZ_CHECK(fz_reg(f, VGPU_REG_TIMESTAMP_HI) == 0);
    FUZZ_CHECK(f->irq_level == 0);
    FUZZ_CHECK(memcmp(f->dev->req_buf, zero, sizeof(zero)) == 0);
    FUZZ_CHECK(memcmp(f->dev->resp_buf, zero, sizeof(zero)) == 0);
}

static void
fz_step_irq(struct fz *f)
{
    uint8_t b = fuzz_u8(&f->cur);

    vgpu_dev_mmio_write(f->dev,
                        (b & 1u) ? VGPU_REG_IRQ_STATUS : VGPU_REG_IRQ_CTRL,
                        (b >> 1) & 1u, VGPU_REG_SIZE);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fz f;
    uint8_t mode;

    memset(&f, 0, sizeof(f));
    fuzz_cursor_init(&f.cur, data, size);
    mode = fuzz_u8(&f.cur);
    f.cfg.pool_id = (uint8_t)(VGPU_POOL_FIRST + mode % VGPU_POOL_COUNT);
    f.cfg.priority = (uint8_t)(fuzz_u8(&f.cur) % VGPU_PRIO_COUNT);
    f.cfg.vm_id = fuzz_u32(&f.cur) | VGPU_VM_ID_MIN;

    /* Exactly the struct's size, so ASan sees a byte past it. */
    f.dev = malloc(sizeof(*f.dev));
    FUZZ_CHECK(f.dev != NULL);
    FUZZ_CHECK(vgpu_dev_init(f.dev, &f.cfg,
                             (mode & 0x80u) ? &fz_ops_quiet : &fz_ops,
                             &f) == 0);
    fz_check_invariants(&f);

    for (unsigned step = 0; step < FZ_MAX_STEPS && fuzz_left(&f.cur) > 0;
         step++) {
        f.expect_set = 0;
        switch (fuzz_u8(&f.cur) % STEP_COUNT) {
        case STEP_READ:
            fz_step_read(&f);
            break;
        case STEP_WRITE:
            fz_step_write(&f);
            break;
        case STEP_DOORBELL:
            fz_ring(&f, VGPU_DOORBELL_RING);
            break;
        case STEP_SET_LEN:
            fz_step_set_len(&f);
            break;
        case STEP_FILL:
            fz_step_fill(&f);
            break;
        case STEP_COMPLETE:
            fz_step_complete(&f);
            break;
        case STEP_LOST:
            fz_step_end(&f, 1);
            break;
        case STEP_TIMEOUT:
            fz_step_end(&f, 0);
            break;
        case STEP_RESET:
            fz_step_reset(&f);
            break;
        case STEP_IRQ:
            fz_step_irq(&f);
            break;
        default:
            break;
        }
        fz_check_invariants(&f);
    }

    vgpu_dev_fini(f.dev);
    FUZZ_CHECK(f.irq_level == 0);
    free(f.expect_buf);
    free(f.dev);
    return 0;
}
