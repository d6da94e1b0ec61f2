/*
 * Unit tests of the device model (SPEC.md sections 3-5), through fake ops:
 * a recording transport, a settable clock and an interrupt-line probe.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "vgpu_test.h"

#include "vgpu/devmodel.h"

#define TEST_VM_ID 200u
#define TEST_POOL  'B'
#define TEST_PRIO  VGPU_PRIO_HIGH

/* The device sits between two guard areas so that any write outside its own
 * storage shows up as a changed guard byte. */
#define GUARD_SIZE 64
#define GUARD_BYTE 0xA5

struct fixture {
    uint8_t guard_lo[GUARD_SIZE];
    struct vgpu_dev dev;
    uint8_t guard_hi[GUARD_SIZE];

    int submits;
    struct vgpu_request last; /* as seen by the last submit */
    uint8_t last_data[VGPU_BUF_SIZE];
    int submit_rc;          /* what submit returns */
    int complete_in_submit; /* answer synchronously, like the simulator */

    int irq_level;
    int irq_calls;
    uint64_t now;
    int guest_errors;
    char last_error[160];
};

static int
fake_submit(void *opaque, const struct vgpu_request *req)
{
    struct fixture *f = opaque;

    f->submits++;
    f->last = *req;
    memcpy(f->last_data, req->data, req->len);
    if (f->complete_in_submit) {
        vgpu_dev_complete(&f->dev, req->generation, req->request_id,
                          VGPU_ERR_NONE, req->data, req->len);
    }
    return f->submit_rc;
}

static void
fake_set_irq(void *opaque, int level)
{
    struct fixture *f = opaque;

    f->irq_level = level;
    f->irq_calls++;
}

static uint64_t
fake_now(void *opaque)
{
    struct fixture *f = opaque;

    return f->now;
}

static void
fake_guest_error(void *opaque, const char *what)
{
    struct fixture *f = opaque;

    f->guest_errors++;
    snprintf(f->last_error, sizeof(f->last_error), "%s", what);
}

static const struct vgpu_dev_ops fake_ops = {
    .submit = fake_submit,
    .set_irq = fake_set_irq,
    .now_ns = fake_now,
    .guest_error = fake_guest_error,
};

static int
setup(void **state)
{
    static struct fixture f;
    struct vgpu_dev_config cfg = {
        .pool_id = TEST_POOL, .priority = TEST_PRIO, .vm_id = TEST_VM_ID};

    memset(&f, 0, sizeof(f));
    memset(f.guard_lo, GUARD_BYTE, sizeof(f.guard_lo));
    memset(f.guard_hi, GUARD_BYTE, sizeof(f.guard_hi));
    assert_int_equal(vgpu_dev_init(&f.dev, &cfg, &fake_ops, &f), 0);
    f.now = 1000;
    *state = &f;
    return 0;
}

static int
teardown(void **state)
{
    struct fixture *f = *state;

    for (int i = 0; i < GUARD_SIZE; i++) {
        assert_int_equal(f->guard_lo[i], GUARD_BYTE);
        assert_int_equal(f->guard_hi[i], GUARD_BYTE);
    }
    vgpu_dev_fini(&f->dev);
    return 0;
}

/* ---- Helpers ------------------------------------------------------------ */

static uint32_t
rd(struct fixture *f, uint64_t reg)
{
    return (uint32_t)vgpu_dev_mmio_read(&f->dev, reg, VGPU_REG_SIZE);
}

static void
wr(struct fixture *f, uint64_t reg, uint32_t val)
{
    vgpu_dev_mmio_write(&f->dev, reg, val, VGPU_REG_SIZE);
}

static void
fill_request(struct fixture *f, const uint8_t *data, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        vgpu_dev_mmio_write(&f->dev, VGPU_REQ_BUF_OFFSET + i, data[i], 1);
    }
}

static uint8_t
resp_byte(struct fixture *f, size_t i)
{
    return (uint8_t)vgpu_dev_mmio_read(&f->dev, VGPU_RESP_BUF_OFFSET + i, 1);
}

/* Ring a request of @len bytes with id @id; the device must go BUSY. */
static void
ring(struct fixture *f, uint32_t len, uint32_t id)
{
    wr(f, VGPU_REG_REQUEST_LEN, len);
    wr(f, VGPU_REG_REQUEST_ID, id);
    wr(f, VGPU_REG_DOORBELL, VGPU_DOORBELL_RING);
}

static void
ring_busy(struct fixture *f, uint32_t len, uint32_t id)
{
    int before = f->submits;

    ring(f, len, id);
    assert_int_equal(f->submits, before + 1);
    assert_int_equal(rd(f, VGPU_REG_STATUS), VGPU_STATUS_BUSY);
}

static void
complete_ok(struct fixture *f, const uint8_t *data, size_t len)
{
    assert_int_equal(vgpu_dev_complete(&f->dev, f->last.generation,
                                       f->last.request_id, VGPU_ERR_NONE, data,
                                       len),
                     0);
}

static void
assert_error(struct fixture *f, uint32_t code)
{
    assert_int_equal(rd(f, VGPU_REG_STATUS), VGPU_STATUS_ERROR);
    assert_int_equal(rd(f, VGPU_REG_ERROR_CODE), code);
    assert_int_equal(rd(f, VGPU_REG_IRQ_STATUS), VGPU_IRQ_STATUS_DONE);
}

/* ---- Identity and configuration ----------------------------------------- */

static void
test_identity(void **state)
{
    struct fixture *f = *state;

    assert_int_equal(rd(f, VGPU_REG_STATUS), VGPU_STATUS_IDLE);
    assert_int_equal(rd(f, VGPU_REG_POOL_ID), TEST_POOL);
    assert_int_equal(rd(f, VGPU_REG_PRIORITY), TEST_PRIO);
    assert_int_equal(rd(f, VGPU_REG_VM_ID), TEST_VM_ID);
    assert_int_equal(rd(f, VGPU_REG_PROTOCOL_VER), VGPU_PROTOCOL_VERSION);
    assert_int_equal(rd(f, VGPU_REG_CAPABILITIES),
                     VGPU_CAP_BASIC | VGPU_CAP_IRQ);
    assert_int_equal(rd(f, VGPU_REG_ERROR_CODE), VGPU_ERR_NONE);
    assert_int_equal(rd(f, VGPU_REG_DOORBELL), 0);
    assert_int_equal(f->guest_errors, 0);
}

static void
test_bad_config(void **state)
{
    struct vgpu_dev dev;
    struct vgpu_dev_config ok = {
        .pool_id = VGPU_POOL_LAST, .priority = VGPU_PRIO_LOW, .vm_id = 1};
    struct vgpu_dev_config bad[] = {
        {.pool_id = VGPU_POOL_FIRST - 1, .priority = 0, .vm_id = 1},
        {.pool_id = VGPU_POOL_LAST + 1, .priority = 0, .vm_id = 1},
        {.pool_id = 'a', .priority = 0, .vm_id = 1},
        {.pool_id = 'A', .priority = VGPU_PRIO_HIGH + 1, .vm_id = 1},
        {.pool_id = 'A', .priority = 0, .vm_id = 0},
    };
    struct vgpu_dev_ops no_submit = fake_ops;

    (void)state;
    no_submit.submit = NULL;
    assert_int_equal(vgpu_dev_config_check(&ok), 0);
    assert_int_equal(vgpu_dev_init(&dev, &ok, &fake_ops, NULL), 0);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(vgpu_dev_config_check(&bad[i]), -EINVAL);
        assert_int_equal(vgpu_dev_init(&dev, &bad[i], &fake_ops, NULL),
                         -EINVAL);
    }
    assert_int_equal(vgpu_dev_config_check(NULL), -EINVAL);
    assert_int_equal(vgpu_dev_init(&dev, &ok, &no_submit, NULL), -EINVAL);
    assert_int_equal(vgpu_dev_init(&dev, &ok, NULL, NULL), -EINVAL);
}

static void
test_reg_names(void **state)
{
    (void)state;
    assert_string_equal(vgpu_reg_name(VGPU_REG_DOORBELL), "DOORBELL");
    assert_string_equal(vgpu_reg_name(VGPU_REG_STATUS), "STATUS");
    assert_string_equal(vgpu_reg_name(VGPU_REG_SCRATCH), "SCRATCH");
    for (uint64_t off = 0; off < VGPU_REG_SPACE_END; off += VGPU_REG_SIZE) {
        assert_non_null(vgpu_reg_name(off));
    }
    assert_null(vgpu_reg_name(VGPU_REG_STATUS + 1));
    assert_null(vgpu_reg_name(VGPU_REG_SPACE_END));
}

/* ---- Access rules: every offset, every size ------------------------------ */

/* What a register reads in the fixture state set up by test_every_offset. */
static uint32_t
expected_reg(uint64_t off)
{
    switch (off) {
    case VGPU_REG_STATUS:
        return VGPU_STATUS_DONE;
    case VGPU_REG_POOL_ID:
        return TEST_POOL;
    case VGPU_REG_PRIORITY:
        return TEST_PRIO;
    case VGPU_REG_VM_ID:
        return TEST_VM_ID;
    case VGPU_REG_REQUEST_LEN:
        return VGPU_BUF_SIZE;
    case VGPU_REG_RESPONSE_LEN:
        return VGPU_BUF_SIZE;
    case VGPU_REG_PROTOCOL_VER:
        return VGPU_PROTOCOL_VERSION;
    case VGPU_REG_CAPABILITIES:
        return VGPU_CAPABILITIES;
    case VGPU_REG_IRQ_CTRL:
        return VGPU_IRQ_CTRL_ENABLE;
    case VGPU_REG_IRQ_STATUS:
        return VGPU_IRQ_STATUS_DONE;
    case VGPU_REG_REQUEST_ID:
        return 0x0badcafe;
    case VGPU_REG_TIMESTAMP_LO:
        return 0x89abcdef;
    case VGPU_REG_TIMESTAMP_HI:
        return 0x01234567;
    case VGPU_REG_SCRATCH:
        return 0x5a5a1234;
    default: /* DOORBELL, ERROR_CODE */
        return 0;
    }
}

static uint8_t
req_pattern(size_t i)
{
    return (uint8_t)(i * 7 + 3);
}

static uint8_t
resp_pattern(size_t i)
{
    return (uint8_t)(i * 13 + 1);
}

/* The reference model of a read: byte-wise, clipped to the buffer the access
 * starts in; registers take aligned 4-byte accesses only. */
static uint64_t
expected_read(uint64_t addr, unsigned size)
{
    uint64_t v = 0;

    if (addr < VGPU_REG_SPACE_END) {
        if (size != VGPU_REG_SIZE || addr % VGPU_REG_SIZE) {
            return size == 8 ? UINT64_MAX : (UINT64_C(1) << (8 * size)) - 1;
        }
        return expected_reg(addr);
    }
    for (unsigned i = 0; i < size; i++) {
        uint64_t a = addr + i;
        uint8_t b = 0;

        if (addr < VGPU_RESP_BUF_OFFSET) {
            if (a < VGPU_RESP_BUF_OFFSET) {
                b = req_pattern(a - VGPU_REQ_BUF_OFFSET);
            }
        } else if (addr < VGPU_BUF_SPACE_END) {
            if (a < VGPU_BUF_SPACE_END) {
                b = resp_pattern(a - VGPU_RESP_BUF_OFFSET);
            }
        }
        v |= (uint64_t)b << (8 * i);
    }
    return v;
}

static void
setup_known_state(struct fixture *f)
{
    uint8_t resp[VGPU_BUF_SIZE];

    for (size_t i = 0; i < VGPU_BUF_SIZE; i++) {
        resp[i] = resp_pattern(i);
    }
    f->now = UINT64_C(0x0123456789abcdef);
    wr(f, VGPU_REG_IRQ_CTRL, VGPU_IRQ_CTRL_ENABLE);
    ring_busy(f, VGPU_BUF_SIZE, 0x0badcafe);
    complete_ok(f, resp, sizeof(resp));
    for (size_t i = 0; i < VGPU_BUF_SIZE; i++) {
        vgpu_dev_mmio_write(&f->dev, VGPU_REQ_BUF_OFFSET + i, req_pattern(i),
                            1);
    }
    wr(f, VGPU_REG_SCRATCH, 0x5a5a1234);
}

static void
test_every_offset_read(void **state)
{
    struct fixture *f = *state;
    static const unsigned sizes[] = {1, 2, 4, 8};

    setup_known_state(f);
    for (uint64_t addr = 0; addr < VGPU_BAR0_SIZE; addr++) {
        for (size_t s = 0; s < 4; s++) {
            int errs = f->guest_errors;
            uint64_t got = vgpu_dev_mmio_read(&f->dev, addr, sizes[s]);
            uint64_t want = expected_read(addr, sizes[s]);
            int bad_reg = addr < VGPU_REG_SPACE_END &&
                          (sizes[s] != VGPU_REG_SIZE || addr % VGPU_REG_SIZE);

            if (got != want) {
                fail_msg("read 0x%03llx size %u: got 0x%llx want 0x%llx",
                         (unsigned long long)addr, sizes[s],
                         (unsigned long long)got, (unsigned long long)want);
            }
            assert_int_equal(f->guest_errors, errs + (bad_reg ? 1 : 0));
        }
    }
    /* Reads never change state. */
    assert_int_equal(rd(f, VGPU_REG_STATUS), VGPU_STATUS_DONE);
    assert_int_equal(f->submits, 1);
}

/* A write of @size bytes at @addr on a device in the known state changes
 * exactly what the SPEC says, and nothing else. */
static void
check_one_write(struct fixture *f, uint64_t addr, unsigned size)
{
    uint8_t before[VGPU_BAR0_SIZE];
    uint64_t val = UINT64_C(0xf1e2d3c4b5a69788);

    /* Doorbell writes are tested on their own; here they would submit. */
    if (addr == VGPU_REG_DOORBELL && size == VGPU_REG_SIZE) {
        return;
    }
    for (uint64_t a = VGPU_REG_SPACE_END; a < VGPU_BAR0_SIZE; a++) {
        before[a] = (uint8_t)vgpu_dev_mmio_read(&f->dev, a, 1);
    }
    vgpu_dev_mmio_write(&f->dev, addr, val, size);
    for (uint64_t a = VGPU_REG_SPACE_END; a < VGPU_BAR0_SIZE; a++) {
        uint8_t now = (uint8_t)vgpu_dev_mmio_read(&f->dev, a, 1);
        uint8_t want = before[a];

        if (addr >= VGPU_REQ_BUF_OFFSET && addr < VGPU_RESP_BUF_OFFSET &&
            a >= addr && a < addr + size && a < VGPU_RESP_BUF_OFFSET) {
            want = (uint8_t)(val >> (8 * (a - addr)));
        }
        if (now != want) {
            fail_msg("write 0x%03llx size %u changed byte 0x%03llx: "
                     "0x%02x, want 0x%02x",
                     (unsigned long long)addr, size, (unsigned long long)a, now,
                     want);
        }
    }
    /* Restore the request buffer so the next write sees the known state. */
    for (uint64_t a = VGPU_REQ_BUF_OFFSET; a < VGPU_RESP_BUF_OFFSET; a++) {
        vgpu_dev_mmio_write(&f->dev, a, before[a], 1);
    }
}

static void
test_every_offset_write(void **state)
{
    struct fixture *f = *state;
    static const unsigned sizes[] = {1, 2, 4, 8};

    setup_known_state(f);
    for (uint64_t addr = 0; addr < VGPU_BAR0_SIZE; addr++) {
        for (size_t s = 0; s < 4; s++) {
            check_one_write(f, addr, sizes[s]);
        }
    }
    /* Registers written with a bad size or alignment kept their values; the
     * RW ones hold the last aligned 4-byte write. */
    assert_int_equal(rd(f, VGPU_REG_STATUS), VGPU_STATUS_DONE);
    assert_int_equal(rd(f, VGPU_REG_VM_ID), TEST_VM_ID);
    assert_int_equal(rd(f, VGPU_REG_POOL_ID), TEST_POOL);
    assert_int_equal(rd(f, VGPU_REG_SCRATCH), 0xb5a69788);
    assert_int_equal(rd(f, VGPU_REG_REQUEST_ID), 0xb5a69788);
    assert_int_equal(rd(f, VGPU_REG_IRQ_CTRL), 0); /* bit 0 of ...88 is 0 */
    assert_int_equal(f->submits, 1);
}

static void
test_misaligned_register_write_ignored(void **state)
{
    struct fixture *f = *state;

    wr(f, VGPU_REG_SCRATCH, 0x11223344);
    vgpu_dev_mmio_write(&f->dev, VGPU_REG_SCRATCH + 1, 0xff, 1);
    vgpu_dev_mmio_write(&f->dev, VGPU_REG_SCRATCH, 0xffff, 2);
    vgpu_dev_mmio_write(&f->dev, VGPU_REG_SCRATCH, UINT64_MAX, 8);
    vgpu_dev_mmio_write(&f->dev, VGPU_REG_SCRATCH + 2, 0xffffffff, 4);
    assert_int_equal(rd(f, VGPU_REG_SCRATCH), 0x11223344);
    assert_int_equal(f->guest_errors, 4);
    assert_int_equal(vgpu_dev_mmio_read(&f->dev, VGPU_REG_SCRATCH, 2), 0xffff);
    assert_int_equal(f->guest_errors, 5);
    /* A misaligned doorbell never rings. */
    wr(f, VGPU_REG_REQUEST_LEN, 1);
    vgpu_dev_mmio_write(&f->dev, VGPU_REG_DOORBELL, VGPU_DOORBELL_RING, 1);
    vgpu_dev_mmio_write(&f->dev, VGPU_REG_DOORBELL, VGPU_DOORBELL_RING, 8);
    assert_int_equal(f->submits, 0);
}

static void
test_bad_sizes_and_outside_bar(void **state)
{
    struct fixture *f = *state;
    static const unsigned bad[] = {0, 3, 5, 16};

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int errs = f->guest_errors;
        uint64_t want = bad[i] >= 8   ? UINT64_MAX
                        : bad[i] == 0 ? 0
                                      : (UINT64_C(1) << (8 * bad[i])) - 1;

        assert_int_equal(
            vgpu_dev_mmio_read(&f->dev, VGPU_REQ_BUF_OFFSET, bad[i]), want);
        vgpu_dev_mmio_write(&f->dev, VGPU_REQ_BUF_OFFSET, UINT64_MAX, bad[i]);
        assert_int_equal(f->guest_errors, errs + 2);
    }
    assert_int_equal(vgpu_dev_mmio_read(&f->dev, VGPU_REQ_BUF_OFFSET, 8), 0);
    assert_int_equal(vgpu_dev_mmio_read(&f->dev, VGPU_BAR0_SIZE, 4),
                     UINT32_MAX);
    vgpu_dev_mmio_write(&f->dev, UINT64_MAX - 3, 1, 4);
    assert_non_null(strstr(f->last_error, "not a BAR0 access"));
}

static void
check_tail_write(struct fixture *f, uint64_t base, uint64_t off)
{
    uint8_t tail[VGPU_BAR0_SIZE];

    for (uint64_t a = 0; a < VGPU_BAR0_SIZE - VGPU_REQ_BUF_OFFSET; a++) {
        tail[a] =
            (uint8_t)vgpu_dev_mmio_read(&f->dev, VGPU_REQ_BUF_OFFSET + a, 1);
    }
    vgpu_dev_mmio_write(&f->dev, base + off, 0xddccbbaa, 4);
    for (uint64_t a = 0; a < VGPU_BAR0_SIZE - VGPU_REQ_BUF_OFFSET; a++) {
        uint64_t addr = VGPU_REQ_BUF_OFFSET + a;
        uint8_t want = tail[a];
        uint8_t got = (uint8_t)vgpu_dev_mmio_read(&f->dev, addr, 1);

        if (base == VGPU_REQ_BUF_OFFSET && addr >= base + off &&
            addr < base + VGPU_BUF_SIZE) {
            want = (uint8_t)(0xddccbbaa >> (8 * (addr - base - off)));
        }
        if (got != want) {
            fail_msg("write at buffer offset %llu touched 0x%03llx",
                     (unsigned long long)off, (unsigned long long)addr);
        }
    }
}

/* The seed's 32-bit copy overran the buffers exactly at offsets 1021-1023. */
static void
test_buffer_tail_writes(void **state)
{
    struct fixture *f = *state;
    uint8_t resp[VGPU_BUF_SIZE];

    memset(resp, 0x77, sizeof(resp));
    ring_busy(f, 1, 1);
    complete_ok(f, resp, sizeof(resp));
    for (uint64_t off = VGPU_BUF_SIZE - 3; off < VGPU_BUF_SIZE; off++) {
        check_tail_write(f, VGPU_REQ_BUF_OFFSET, off);
        check_tail_write(f, VGPU_RESP_BUF_OFFSET, off);
    }
    /* The first byte after each buffer, as the guest sees it, is intact: the
     * response buffer's first byte and the reserved space. */
    assert_int_equal(resp_byte(f, 0), 0x77);
    assert_int_equal(vgpu_dev_mmio_read(&f->dev, VGPU_RESERVED_OFFSET, 4), 0);
    /* And the device's own snapshot of the request was not touched. */
    assert_int_equal(f->dev.snapshot[0], 0);
    /* 1023: one byte written, read back; the rest clipped. */
    assert_int_equal(
        vgpu_dev_mmio_read(&f->dev, VGPU_REQ_BUF_OFFSET + VGPU_BUF_SIZE - 1, 4),
        0xaa);
}

static void
test_ro_registers_ignore_writes(void **state)
{
    struct fixture *f = *state;
    static const uint64_t ro[] = {
        VGPU_REG_STATUS,       VGPU_REG_POOL_ID,      VGPU_REG_PRIORITY,
        VGPU_REG_VM_ID,        VGPU_REG_ERROR_CODE,   VGPU_REG_RESPONSE_LEN,
        VGPU_REG_PROTOCOL_VER, VGPU_REG_CAPABILITIES, VGPU_REG_TIMESTAMP_LO,
        VGPU_REG_TIMESTAMP_HI,
    };

    for (size_t i = 0; i < sizeof(ro) / sizeof(ro[0]); i++) {
        uint32_t before = rd(f, ro[i]);
        int errs = f->guest_errors;

        wr(f, ro[i], 0xdeadbeef);
        assert_int_equal(rd(f, ro[i]), before);
        assert_int_equal(f->guest_errors, errs + 1);
        assert_non_null(strstr(f->last_error, vgpu_reg_name(ro[i])));
    }
}

static void
test_rw_registers(void **state)
{
    struct fixture *f = *state;

    wr(f, VGPU_REG_SCRATCH, 0xcafef00d);
    wr(f, VGPU_REG_REQUEST_ID, 0x12345678);
    wr(f, VGPU_REG_REQUEST_LEN, 0xffffffff);
    wr(f, VGPU_REG_IRQ_CTRL, 0xffffffff);
    assert_int_equal(rd(f, VGPU_REG_SCRATCH), 0xcafef00d);
    assert_int_equal(rd(f, VGPU_REG_REQUEST_ID), 0x12345678);
    assert_int_equal(rd(f, VGPU_REG_REQUEST_LEN), 0xffffffff);
    assert_int_equal(rd(f, VGPU_REG_IRQ_CTRL), VGPU_IRQ_CTRL_ENABLE);
    assert_int_equal(f->guest_errors, 0);
}

static void
test_response_buffer_read_only(void **state)
{
    struct fixture *f = *state;
    static const uint8_t resp[] = {0x10, 0x20, 0x30, 0x40};

    ring_busy(f, 4, 1);
    complete_ok(f, resp, sizeof(resp));
    vgpu_dev_mmio_write(&f->dev, VGPU_RESP_BUF_OFFSET, 0, 4);
    vgpu_dev_mmio_write(&f->dev, VGPU_RESP_BUF_OFFSET + 1, 0, 1);
    assert_int_equal(f->guest_errors, 2);
    assert_non_null(strstr(f->last_error, "response buffer"));
    assert_int_equal(vgpu_dev_mmio_read(&f->dev, VGPU_RESP_BUF_OFFSET, 4),
                     0x40302010);
}

static void
test_reserved_space(void **state)
{
    struct fixture *f = *state;

    vgpu_dev_mmio_write(&f->dev, VGPU_RESERVED_OFFSET, UINT64_MAX, 8);
    vgpu_dev_mmio_write(&f->dev, VGPU_BAR0_SIZE - 1, 0xff, 1);
    assert_int_equal(f->guest_errors, 2);
    assert_int_equal(vgpu_dev_mmio_read(&f->dev, VGPU_RESERVED_OFFSET, 8), 0);
    assert_int_equal(vgpu_dev_mmio_read(&f->dev, VGPU_BAR0_SIZE - 8, 8), 0);
    assert_int_equal(vgpu_dev_mmio_read(&f->dev, VGPU_BAR0_SIZE - 1, 8), 0);
}

/* ---- The doorbell
 * ------------------------------------------------------------ */

static void
test_doorbell_submits_request(void **state)
{
    struct fixture *f = *state;
    static const uint8_t req[] = {1, 2, 3, 4, 5};

    fill_request(f, req, sizeof(req));
    ring_busy(f, sizeof(req), 42);
    assert_int_equal(f->last.len, sizeof(req));
    assert_int_equal(f->last.request_id, 42);
    assert_int_equal(f->last.vm_id, TEST_VM_ID);
    assert_int_equal(f->last.pool_id, TEST_POOL);
    assert_int_equal(f->last.priority, TEST_PRIO);
    assert_memory_equal(f->last_data, req, sizeof(req));
    assert_int_equal(rd(f, VGPU_REG_IRQ_STATUS), 0);
    assert_int_equal(vgpu_dev_busy(&f->dev), 1);
}

static void
test_doorbell_busy(void **state)
{
    struct fixture *f = *state;

    ring_busy(f, 8, 1);
    ring(f, 16, 2);
    assert_int_equal(f->submits, 1);
    assert_int_equal(f->guest_errors, 1);
    assert_non_null(strstr(f->last_error, "BUSY"));
    assert_int_equal(rd(f, VGPU_REG_STATUS), VGPU_STATUS_BUSY);
    /* The first request still completes normally. */
    assert_int_equal(vgpu_dev_complete(&f->dev, f->last.generation, 1,
                                       VGPU_ERR_NONE, NULL, 0),
                     0);
    assert_int_equal(rd(f, VGPU_REG_STATUS), VGPU_STATUS_DONE);
}

static void
test_doorbell_other_values(void **state)
{
    struct fixture *f = *state;

    wr(f, VGPU_REG_REQUEST_LEN, 4);
    wr(f, VGPU_REG_DOORBELL, 0);
    wr(f, VGPU_REG_DOORBELL, 2);
    wr(f, VGPU_REG_DOORBELL, 0xffffffff);
    assert_int_equal(f->submits, 0);
    assert_int_equal(f->guest_errors, 3);
    assert_int_equal(rd(f, VGPU_REG_STATUS), VGPU_STATUS_IDLE);
    assert_int_equal(rd(f, VGPU_REG_DOORBELL), 0);
}

static void
test_request_len_limits(void **state)
{
    struct fixture *f = *state;

    ring(f, 0, 1);
    assert_int_equal(f->submits, 0);
    assert_error(f, VGPU_ERR_INVALID_LENGTH);
    assert_int_equal(rd(f, VGPU_REG_RESPONSE_LEN), 0);

    ring_busy(f, 1, 2);
    assert_int_equal(f->last.len, 1);
    complete_ok(f, NULL, 0);

    ring_busy(f, VGPU_BUF_SIZE, 3);
    assert_int_equal(f->last.len, VGPU_BUF_SIZE);
    complete_ok(f, NULL, 0);

    ring(f, VGPU_BUF_SIZE + 1, 4);
    assert_int_equal(f->submits, 2);
    assert_error(f, VGPU_ERR_INVALID_LENGTH);

    ring(f, UINT32_MAX, 5);
    assert_int_equal(f->submits, 2);
    assert_error(f, VGPU_ERR_INVALID_LENGTH);
}

static void
test_snapshot_isolated(void **state)
{
    struct fixture *f = *state;
    uint8_t req[VGPU_BUF_SIZE], junk[VGPU_BUF_SIZE];

    for (size_t i = 0; i < sizeof(req); i++) {
        req[i] = (uint8_t)i;
        junk[i] = (uint8_t)~i;
    }
    fill_request(f, req, sizeof(req));
    ring_busy(f, sizeof(req), 9);
    fill_request(f, junk, sizeof(junk));
    wr(f, VGPU_REG_REQUEST_ID, 10);
    wr(f, VGPU_REG_REQUEST_LEN, 3);
    /* What the transport was handed is unchanged by the guest's writes. */
    assert_memory_equal(f->last.data, req, sizeof(req));
    /* The latched id is the one the response must carry. */
    assert_int_equal(vgpu_dev_complete(&f->dev, f->last.generation, 10,
                                       VGPU_ERR_NONE, NULL, 0),
                     -ESTALE);
    assert_int_equal(vgpu_dev_complete(&f->dev, f->last.generation, 9,
                                       VGPU_ERR_NONE, NULL, 0),
                     0);
}

static void
test_doorbell_after_done_and_error(void **state)
{
    struct fixture *f = *state;

    ring_busy(f, 4, 1);
    complete_ok(f, NULL, 0);
    ring_busy(f, 4, 2);
    vgpu_dev_timeout(&f->dev);
    assert_error(f, VGPU_ERR_TIMEOUT);
    ring_busy(f, 4, 3);
    /* The new request cleared ERROR_CODE and RESPONSE_LEN. */
    assert_int_equal(rd(f, VGPU_REG_ERROR_CODE), VGPU_ERR_NONE);
    assert_int_equal(rd(f, VGPU_REG_RESPONSE_LEN), 0);
}

static void
test_submit_unreachable(void **state)
{
    struct fixture *f = *state;

    f->submit_rc = VGPU_ERR_MEDIATOR_UNAVAILABLE;
    ring(f, 8, 1);
    assert_int_equal(f->submits, 1);
    assert_error(f, VGPU_ERR_MEDIATOR_UNAVAILABLE);

    /* Any code the transport gives is the request's error... */
    f->submit_rc = VGPU_ERR_REJECTED;
    ring(f, 8, 3);
    assert_error(f, VGPU_ERR_REJECTED);

    /* ...and a negative errno from a confused one is "unavailable". */
    f->submit_rc = -1;
    wr(f, VGPU_REG_IRQ_STATUS, VGPU_IRQ_STATUS_DONE);
    ring(f, 8, 2);
    assert_error(f, VGPU_ERR_MEDIATOR_UNAVAILABLE);
}

static void
test_submit_completes_synchronously(void **state)
{
    struct fixture *f = *state;
    static const uint8_t req[] = {9, 8, 7};

    f->complete_in_submit = 1;
    f->submit_rc = 0;
    fill_request(f, req, sizeof(req));
    ring(f, sizeof(req), 5);
    assert_int_equal(rd(f, VGPU_REG_STATUS), VGPU_STATUS_DONE);
    assert_int_equal(rd(f, VGPU_REG_RESPONSE_LEN), sizeof(req));
    assert_int_equal(resp_byte(f, 2), 7);

    /* A transport that answers and then reports failure: the answer wins. */
    f->submit_rc = VGPU_ERR_MEDIATOR_UNAVAILABLE;
    ring(f, sizeof(req), 6);
    assert_int_equal(rd(f, VGPU_REG_STATUS), VGPU_STATUS_DONE);
}

/* ---- Completion
 * ------------------------------------------------------------------ */

static void
test_complete_done(void **state)
{
    struct fixture *f = *state;
    static const uint8_t resp[] = {0x2c, 0x01, 0x00, 0x00};
    struct vgpu_dev_stats st;

    ring_busy(f, 16, 77);
    f->now = UINT64_C(0x100000002);
    complete_ok(f, resp, sizeof(resp));
    assert_int_equal(rd(f, VGPU_REG_STATUS), VGPU_STATUS_DONE);
    assert_int_equal(rd(f, VGPU_REG_ERROR_CODE), VGPU_ERR_NONE);
    assert_int_equal(rd(f, VGPU_REG_RESPONSE_LEN), sizeof(resp));
    assert_int_equal(vgpu_dev_mmio_read(&f->dev, VGPU_RESP_BUF_OFFSET, 4), 300);
    assert_int_equal(rd(f, VGPU_REG_TIMESTAMP_LO), 2);
    assert_int_equal(rd(f, VGPU_REG_TIMESTAMP_HI), 1);
    assert_int_equal(rd(f, VGPU_REG_IRQ_STATUS), VGPU_IRQ_STATUS_DONE);
    assert_int_equal(vgpu_dev_busy(&f->dev), 0);
    vgpu_dev_get_stats(&f->dev, &st);
    assert_int_equal(st.doorbells, 1);
    assert_int_equal(st.completions, 1);
    assert_int_equal(st.errors, 0);
}

static void
test_complete_too_large(void **state)
{
    struct fixture *f = *state;
    uint8_t big[VGPU_BUF_SIZE + 1];

    memset(big, 0x42, sizeof(big));
    ring_busy(f, 8, 1);
    complete_ok(f, big, VGPU_BUF_SIZE);
    assert_int_equal(rd(f, VGPU_REG_STATUS), VGPU_STATUS_DONE);
    assert_int_equal(rd(f, VGPU_REG_RESPONSE_LEN), VGPU_BUF_SIZE);

    ring_busy(f, 8, 2);
    complete_ok(f, big, sizeof(big));
    assert_error(f, VGPU_ERR_RESPONSE_TOO_LARGE);
    assert_int_equal(rd(f, VGPU_REG_RESPONSE_LEN), 0);
}

static void
test_complete_error_message(void **state)
{
    struct fixture *f = *state;
    static const char msg[] = "cuda: out of memory";
    char long_msg[VGPU_BUF_SIZE + 100];

    ring_busy(f, 8, 1);
    assert_int_equal(vgpu_dev_complete(&f->dev, f->last.generation, 1,
                                       VGPU_ERR_BACKEND_ERROR,
                                       (const uint8_t *)msg, strlen(msg)),
                     0);
    assert_error(f, VGPU_ERR_BACKEND_ERROR);
    assert_int_equal(rd(f, VGPU_REG_RESPONSE_LEN), strlen(msg));
    for (size_t i = 0; i < strlen(msg); i++) {
        assert_int_equal(resp_byte(f, i), (uint8_t)msg[i]);
    }

    /* A message longer than the buffer is RESPONSE_TOO_LARGE (SPEC.md 4). */
    memset(long_msg, 'x', sizeof(long_msg));
    ring_busy(f, 8, 2);
    vgpu_dev_complete(&f->dev, f->last.generation, 2, VGPU_ERR_REJECTED,
                      (const uint8_t *)long_msg, sizeof(long_msg));
    assert_error(f, VGPU_ERR_RESPONSE_TOO_LARGE);
    assert_int_equal(rd(f, VGPU_REG_RESPONSE_LEN), 0);

    /* A transport that discarded an oversize payload passes only its length:
     * still RESPONSE_TOO_LARGE, never an empty DONE. */
    ring_busy(f, 8, 3);
    vgpu_dev_complete(&f->dev, f->last.generation, 3, VGPU_ERR_NONE, NULL,
                      VGPU_BUF_SIZE + 1);
    assert_error(f, VGPU_ERR_RESPONSE_TOO_LARGE);
}

static void
test_complete_unknown_code(void **state)
{
    struct fixture *f = *state;

    ring_busy(f, 8, 1);
    vgpu_dev_complete(&f->dev, f->last.generation, 1, VGPU_ERR_COUNT, NULL, 0);
    assert_error(f, VGPU_ERR_PROTOCOL_ERROR);
    ring_busy(f, 8, 2);
    vgpu_dev_complete(&f->dev, f->last.generation, 2, VGPU_ERR_BUSY, NULL, 0);
    assert_error(f, VGPU_ERR_PROTOCOL_ERROR);
}

static void
test_stale_request_id(void **state)
{
    struct fixture *f = *state;
    struct vgpu_dev_stats st;

    ring_busy(f, 8, 100);
    assert_int_equal(vgpu_dev_complete(&f->dev, f->last.generation, 99,
                                       VGPU_ERR_NONE, NULL, 0),
                     -ESTALE);
    assert_int_equal(vgpu_dev_complete(&f->dev, f->last.generation + 1, 100,
                                       VGPU_ERR_NONE, NULL, 0),
                     -ESTALE);
    assert_int_equal(rd(f, VGPU_REG_STATUS), VGPU_STATUS_BUSY);
    vgpu_dev_get_stats(&f->dev, &st);
    assert_int_equal(st.stale_responses, 2);
    complete_ok(f, NULL, 0);
    /* A second answer to a finished request is stale too. */
    assert_int_equal(vgpu_dev_complete(&f->dev, f->last.generation, 100,
                                       VGPU_ERR_NONE, NULL, 0),
                     -ESTALE);
    vgpu_dev_get_stats(&f->dev, &st);
    assert_int_equal(st.stale_responses, 3);
    assert_int_equal(st.completions, 1);
}

static void
test_reset_while_busy_then_late(void **state)
{
    struct fixture *f = *state;
    static const uint8_t late[] = {1, 2, 3, 4};
    struct vgpu_request old;
    struct vgpu_dev_stats st;

    wr(f, VGPU_REG_IRQ_CTRL, VGPU_IRQ_CTRL_ENABLE);
    ring_busy(f, 8, 0);
    old = f->last;
    vgpu_dev_reset(&f->dev);
    assert_int_equal(rd(f, VGPU_REG_STATUS), VGPU_STATUS_IDLE);
    /* The late answer carries the same request id (0) as a fresh device's
     * first request would; the generation tells them apart. */
    assert_int_equal(vgpu_dev_complete(&f->dev, old.generation, old.request_id,
                                       VGPU_ERR_NONE, late, sizeof(late)),
                     -ESTALE);
    assert_int_equal(rd(f, VGPU_REG_STATUS), VGPU_STATUS_IDLE);
    assert_int_equal(rd(f, VGPU_REG_RESPONSE_LEN), 0);
    assert_int_equal(resp_byte(f, 0), 0);
    assert_int_equal(rd(f, VGPU_REG_IRQ_STATUS), 0);
    vgpu_dev_get_stats(&f->dev, &st);
    assert_int_equal(st.stale_responses, 1);

    /* After the reset a new request with the same id works. */
    ring_busy(f, 8, 0);
    assert_int_not_equal(f->last.generation, old.generation);
    vgpu_dev_complete(&f->dev, old.generation, 0, VGPU_ERR_NONE, NULL, 0);
    assert_int_equal(rd(f, VGPU_REG_STATUS), VGPU_STATUS_BUSY);
    complete_ok(f, late, sizeof(late));
    assert_int_equal(rd(f, VGPU_REG_STATUS), VGPU_STATUS_DONE);
}

static void
test_timeout(void **state)
{
    struct fixture *f = *state;

    /* A timer firing on an idle device does nothing. */
    vgpu_dev_timeout(&f->dev);
    assert_int_equal(rd(f, VGPU_REG_STATUS), VGPU_STATUS_IDLE);

    ring_busy(f, 8, 1);
    f->now = 5000;
    vgpu_dev_timeout(&f->dev);
    assert_error(f, VGPU_ERR_TIMEOUT);
    assert_int_equal(rd(f, VGPU_REG_TIMESTAMP_LO), 5000);
    /* The answer that arrives after the timeout is stale. */
    assert_int_equal(vgpu_dev_complete(&f->dev, f->last.generation, 1,
                                       VGPU_ERR_NONE, NULL, 0),
                     -ESTALE);
    assert_error(f, VGPU_ERR_TIMEOUT);

    /* A timer that lost the race with a completion does nothing. */
    ring_busy(f, 8, 2);
    complete_ok(f, NULL, 0);
    vgpu_dev_timeout(&f->dev);
    assert_int_equal(rd(f, VGPU_REG_STATUS), VGPU_STATUS_DONE);
}

static void
test_transport_lost(void **state)
{
    struct fixture *f = *state;

    vgpu_dev_transport_lost(&f->dev);
    assert_int_equal(rd(f, VGPU_REG_STATUS), VGPU_STATUS_IDLE);

    ring_busy(f, 8, 1);
    vgpu_dev_transport_lost(&f->dev);
    assert_error(f, VGPU_ERR_MEDIATOR_UNAVAILABLE);
    assert_int_equal(vgpu_dev_complete(&f->dev, f->last.generation, 1,
                                       VGPU_ERR_NONE, NULL, 0),
                     -ESTALE);
    /* The next doorbell goes out again. */
    ring_busy(f, 8, 2);
}

/* ---- Interrupts
 * ---------------------------------------------------------------- */

static void
test_irq_status_w1c(void **state)
{
    struct fixture *f = *state;

    ring_busy(f, 8, 1);
    complete_ok(f, NULL, 0);
    assert_int_equal(rd(f, VGPU_REG_IRQ_STATUS), VGPU_IRQ_STATUS_DONE);
    wr(f, VGPU_REG_IRQ_STATUS, 0);
    assert_int_equal(rd(f, VGPU_REG_IRQ_STATUS), VGPU_IRQ_STATUS_DONE);
    wr(f, VGPU_REG_IRQ_STATUS, ~VGPU_IRQ_STATUS_DONE);
    assert_int_equal(rd(f, VGPU_REG_IRQ_STATUS), VGPU_IRQ_STATUS_DONE);
    wr(f, VGPU_REG_IRQ_STATUS, VGPU_IRQ_STATUS_DONE);
    assert_int_equal(rd(f, VGPU_REG_IRQ_STATUS), 0);
    /* Writing 1 to a clear bit does not set it. */
    wr(f, VGPU_REG_IRQ_STATUS, VGPU_IRQ_STATUS_DONE);
    assert_int_equal(rd(f, VGPU_REG_IRQ_STATUS), 0);
    assert_int_equal(f->irq_calls, 0); /* IRQ_CTRL was never enabled */
}

/* The line equals IRQ_CTRL bit 0 AND IRQ_STATUS bit 0, in every order the
 * two can be reached, and the adapter hears only changes. */
static void
test_irq_level_matrix(void **state)
{
    struct fixture *f = *state;

    for (int ctrl = 0; ctrl < 2; ctrl++) {
        for (int pending = 0; pending < 2; pending++) {
            for (int ctrl_first = 0; ctrl_first < 2; ctrl_first++) {
                int calls;

                vgpu_dev_reset(&f->dev);
                f->irq_level = 0;
                f->irq_calls = 0;
                if (ctrl_first) {
                    wr(f, VGPU_REG_IRQ_CTRL, ctrl ? VGPU_IRQ_CTRL_ENABLE : 0);
                }
                if (pending) {
                    ring_busy(f, 8, 1);
                    complete_ok(f, NULL, 0);
                }
                if (!ctrl_first) {
                    wr(f, VGPU_REG_IRQ_CTRL, ctrl ? VGPU_IRQ_CTRL_ENABLE : 0);
                }
                assert_int_equal(f->irq_level, ctrl && pending);
                assert_int_equal(f->irq_calls, ctrl && pending ? 1 : 0);
                assert_int_equal(f->dev.irq_level, ctrl && pending);

                /* Clearing either input lowers the line. */
                calls = f->irq_calls;
                wr(f, VGPU_REG_IRQ_STATUS, VGPU_IRQ_STATUS_DONE);
                assert_int_equal(f->irq_level, 0);
                assert_int_equal(f->irq_calls,
                                 calls + (ctrl && pending ? 1 : 0));
            }
        }
    }
}

static void
test_irq_disable_lowers_line(void **state)
{
    struct fixture *f = *state;

    wr(f, VGPU_REG_IRQ_CTRL, VGPU_IRQ_CTRL_ENABLE);
    ring_busy(f, 8, 1);
    complete_ok(f, NULL, 0);
    assert_int_equal(f->irq_level, 1);
    wr(f, VGPU_REG_IRQ_CTRL, 0);
    assert_int_equal(f->irq_level, 0);
    wr(f, VGPU_REG_IRQ_CTRL, VGPU_IRQ_CTRL_ENABLE);
    assert_int_equal(f->irq_level, 1);
    /* A second completion while still pending is no new rise. */
    ring_busy(f, 8, 2);
    complete_ok(f, NULL, 0);
    assert_int_equal(f->irq_calls, 3);
    /* Reset lowers it; so does fini. */
    vgpu_dev_reset(&f->dev);
    assert_int_equal(f->irq_level, 0);
    wr(f, VGPU_REG_IRQ_CTRL, VGPU_IRQ_CTRL_ENABLE);
    ring_busy(f, 8, 3);
    complete_ok(f, NULL, 0);
    assert_int_equal(f->irq_level, 1);
    vgpu_dev_fini(&f->dev);
    assert_int_equal(f->irq_level, 0);
    f->dev.ops = &fake_ops; /* teardown calls fini again */
    f->dev.opaque = f;
}

static void
test_sync_errors_raise_irq(void **state)
{
    struct fixture *f = *state;

    wr(f, VGPU_REG_IRQ_CTRL, VGPU_IRQ_CTRL_ENABLE);
    ring(f, 0, 1);
    assert_int_equal(f->irq_level, 1);
    assert_error(f, VGPU_ERR_INVALID_LENGTH);
}

/* ---- Reset
 * ------------------------------------------------------------------------ */

static void
test_reset_registers(void **state)
{
    struct fixture *f = *state;
    static const uint8_t resp[] = {1, 2, 3};

    wr(f, VGPU_REG_SCRATCH, 1);
    wr(f, VGPU_REG_IRQ_CTRL, VGPU_IRQ_CTRL_ENABLE);
    fill_request(f, resp, sizeof(resp));
    ring_busy(f, 3, 7);
    complete_ok(f, resp, sizeof(resp));
    vgpu_dev_reset(&f->dev);
    assert_int_equal(rd(f, VGPU_REG_STATUS), VGPU_STATUS_IDLE);
    assert_int_equal(rd(f, VGPU_REG_SCRATCH), 0);
    assert_int_equal(rd(f, VGPU_REG_REQUEST_ID), 0);
    assert_int_equal(rd(f, VGPU_REG_REQUEST_LEN), 0);
    assert_int_equal(rd(f, VGPU_REG_RESPONSE_LEN), 0);
    assert_int_equal(rd(f, VGPU_REG_IRQ_CTRL), 0);
    assert_int_equal(rd(f, VGPU_REG_IRQ_STATUS), 0);
    assert_int_equal(rd(f, VGPU_REG_TIMESTAMP_LO), 0);
    assert_int_equal(rd(f, VGPU_REG_ERROR_CODE), 0);
    assert_int_equal(f->irq_level, 0);
    for (size_t i = 0; i < VGPU_BUF_SIZE; i += 8) {
        assert_int_equal(
            vgpu_dev_mmio_read(&f->dev, VGPU_REQ_BUF_OFFSET + i, 8), 0);
        assert_int_equal(
            vgpu_dev_mmio_read(&f->dev, VGPU_RESP_BUF_OFFSET + i, 8), 0);
    }
    /* Identity survives. */
    assert_int_equal(rd(f, VGPU_REG_VM_ID), TEST_VM_ID);
    assert_int_equal(rd(f, VGPU_REG_POOL_ID), TEST_POOL);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        VGPU_TEST_FIXTURE("/devmodel/init/identity", test_identity, setup,
                          teardown),
        VGPU_TEST_FIXTURE("/devmodel/init/bad_config", test_bad_config, setup,
                          teardown),
        VGPU_TEST_FIXTURE("/devmodel/init/reg_names", test_reg_names, setup,
                          teardown),
        VGPU_TEST_FIXTURE("/devmodel/access/every_offset/read",
                          test_every_offset_read, setup, teardown),
        VGPU_TEST_FIXTURE("/devmodel/access/every_offset/write",
                          test_every_offset_write, setup, teardown),
        VGPU_TEST_FIXTURE("/devmodel/access/register_misaligned",
                          test_misaligned_register_write_ignored, setup,
                          teardown),
        VGPU_TEST_FIXTURE("/devmodel/access/bad_size_outside_bar",
                          test_bad_sizes_and_outside_bar, setup, teardown),
        VGPU_TEST_FIXTURE("/devmodel/access/buffer_tail_1021_1023",
                          test_buffer_tail_writes, setup, teardown),
        VGPU_TEST_FIXTURE("/devmodel/access/ro_ignore_writes",
                          test_ro_registers_ignore_writes, setup, teardown),
        VGPU_TEST_FIXTURE("/devmodel/access/rw_registers", test_rw_registers,
                          setup, teardown),
        VGPU_TEST_FIXTURE("/devmodel/access/response_buffer_ro",
                          test_response_buffer_read_only, setup, teardown),
        VGPU_TEST_FIXTURE("/devmodel/access/reserved", test_reserved_space,
                          setup, teardown),
        VGPU_TEST_FIXTURE("/devmodel/doorbell/submit",
                          test_doorbell_submits_request, setup, teardown),
        VGPU_TEST_FIXTURE("/devmodel/doorbell/busy", test_doorbell_busy, setup,
                          teardown),
        VGPU_TEST_FIXTURE("/devmodel/doorbell/other_values",
                          test_doorbell_other_values, setup, teardown),
        VGPU_TEST_FIXTURE("/devmodel/doorbell/request_len_0_1_1024_1025",
                          test_request_len_limits, setup, teardown),
        VGPU_TEST_FIXTURE("/devmodel/doorbell/snapshot", test_snapshot_isolated,
                          setup, teardown),
        VGPU_TEST_FIXTURE("/devmodel/doorbell/after_done_and_error",
                          test_doorbell_after_done_and_error, setup, teardown),
        VGPU_TEST_FIXTURE("/devmodel/doorbell/unreachable",
                          test_submit_unreachable, setup, teardown),
        VGPU_TEST_FIXTURE("/devmodel/doorbell/synchronous_completion",
                          test_submit_completes_synchronously, setup, teardown),
        VGPU_TEST_FIXTURE("/devmodel/complete/done", test_complete_done, setup,
                          teardown),
        VGPU_TEST_FIXTURE("/devmodel/complete/too_large",
                          test_complete_too_large, setup, teardown),
        VGPU_TEST_FIXTURE("/devmodel/complete/error_message",
                          test_complete_error_message, setup, teardown),
        VGPU_TEST_FIXTURE("/devmodel/complete/unknown_code",
                          test_complete_unknown_code, setup, teardown),
        VGPU_TEST_FIXTURE("/devmodel/complete/stale_id", test_stale_request_id,
                          setup, teardown),
        VGPU_TEST_FIXTURE("/devmodel/complete/reset_then_late",
                          test_reset_while_busy_then_late, setup, teardown),
        VGPU_TEST_FIXTURE("/devmodel/timeout", test_timeout, setup, teardown),
        VGPU_TEST_FIXTURE("/devmodel/transport_lost", test_transport_lost,
                          setup, teardown),
        VGPU_TEST_FIXTURE("/devmodel/irq/w1c", test_irq_status_w1c, setup,
                          teardown),
        VGPU_TEST_FIXTURE("/devmodel/irq/level_matrix", test_irq_level_matrix,
                          setup, teardown),
        VGPU_TEST_FIXTURE("/devmodel/irq/disable_lowers",
                          test_irq_disable_lowers_line, setup, teardown),
        VGPU_TEST_FIXTURE("/devmodel/irq/sync_error",
                          test_sync_errors_raise_irq, setup, teardown),
        VGPU_TEST_FIXTURE("/devmodel/reset/registers", test_reset_registers,
                          setup, teardown),
    };

    return cmocka_run_group_tests_name("devmodel", tests, NULL, NULL);
}
