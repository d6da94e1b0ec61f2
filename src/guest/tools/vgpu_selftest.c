/*
 * vgpu-selftest: the checks of SPEC.md section 10, in its order, on one
 * device. Each check prints one line, `PASS <check>: <what was seen>`,
 * `FAIL <check>: got X, want Y` or `SKIP <check>: <why>`; the last line is
 * `N passed, M failed` (skips count in neither). Exit 0 only if none failed.
 *
 * The checks talk to BAR0 through the client's bus (vgpu_bus()), one
 * register access at a time, because they test the device, not the
 * library: the library's submit would hide REQUEST_ID and IRQ_STATUS.
 * Every doorbell is rung only after STATUS has left BUSY, and each wait is
 * bounded by --timeout-ms, so a broken device fails checks but never hangs
 * the tool. SCRATCH and REQUEST_ID get their values back at the end.
 *
 * On a device with the queue (CAPABILITIES bit 2) the section 11 registers
 * are checked too: Q_MAX_XFER, Q_BASE and Q_SIZE read back while disabled,
 * the RO queue registers ignore writes, ENABLE with a bad Q_SIZE or an
 * unaligned Q_BASE stays 0 with Q_ERROR set, and (with a mediator and DMA
 * memory) one NOP through a one-entry queue completes with PHASE 1. On a
 * device without it, 0x840-0x86B must read 0 like other reserved space. The
 * queue registers are left disabled and zero.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common.h"
#include "vgpu/devmodel.h"
#include "vgpu/proto.h"

#define LINE_LEN       256
#define NS_PER_MS      1000000ull
#define POLL_SLEEP_NS  10000L
#define TIMESTAMP_BITS 32u
#define ECHO_TAG       0x5e1f7e57u /* REQUEST_ID of the ECHO request */
#define NOP_TAG        0x5e1f0000u /* REQUEST_ID of the NOP requests */

enum {
    OPT_EXPECT_POOL = VGPU_TOOL_OPT_FIRST,
    OPT_EXPECT_PRIORITY,
    OPT_EXPECT_VM_ID,
    OPT_EXPECT_NO_MEDIATOR,
};

struct selftest_args {
    int have_pool;
    int have_priority;
    int have_vm_id;
    uint8_t pool;
    uint8_t priority;
    uint32_t vm_id;
    int no_mediator;
};

static struct selftest_args args;

static const struct option selftest_longopts[] = {
    {"expect-pool", required_argument, NULL, OPT_EXPECT_POOL},
    {"expect-priority", required_argument, NULL, OPT_EXPECT_PRIORITY},
    {"expect-vm-id", required_argument, NULL, OPT_EXPECT_VM_ID},
    {"expect-no-mediator", no_argument, NULL, OPT_EXPECT_NO_MEDIATOR},
    {NULL, 0, NULL, 0},
};

static int handle_opt(void *ctx, int id, const char *arg);

static const struct vgpu_tool_desc desc = {
    .name = "vgpu-selftest",
    .synopsis = "",
    .summary = "Check a vgpu-stub device against SPEC.md section 10, one line "
               "per check.",
    .help =
        "Options:\n"
        "  --expect-pool L      the POOL_ID letter the device must have\n"
        "  --expect-priority P  its PRIORITY: low, medium or high\n"
        "  --expect-vm-id N     its VM_ID\n"
        "                       (the three are required with a real device;\n"
        "                       with --sim they default to the sim's values)\n"
        "  --expect-no-mediator no mediator is running: a valid doorbell must\n"
        "                       end in ERROR MEDIATOR_UNAVAILABLE, and the\n"
        "                       checks that need a mediator are skipped\n"
        "\n"
        "Examples:\n"
        "  vgpu-selftest --expect-pool B --expect-priority high "
        "--expect-vm-id 200\n"
        "  vgpu-selftest --sim --sim-no-mediator --expect-no-mediator\n",
    .longopts = selftest_longopts,
    .handle = handle_opt,
    .ctx = &args,
};

static int
handle_opt(void *ctx, int id, const char *arg)
{
    struct selftest_args *a = ctx;

    switch (id) {
    case OPT_EXPECT_POOL:
        if (vgpu_pool_parse(arg, strlen(arg), VGPU_PARSE_ANYCASE, &a->pool) !=
            0) {
            vgpu_tool_complain(&desc, "--expect-pool: '%s' is not a letter A-Z",
                               arg);
            return -1;
        }
        a->have_pool = 1;
        return 0;
    case OPT_EXPECT_PRIORITY:
        if (vgpu_tool_parse_priority(arg, &a->priority) != 0) {
            vgpu_tool_complain(&desc,
                               "--expect-priority: '%s' is not one of low, "
                               "medium, high",
                               arg);
            return -1;
        }
        a->have_priority = 1;
        return 0;
    case OPT_EXPECT_VM_ID:
        if (vgpu_vm_id_parse(arg, strlen(arg), &a->vm_id) != 0) {
            vgpu_tool_complain(&desc, "--expect-vm-id: '%s' is not %s", arg,
                               VGPU_VM_ID_SPELLING);
            return -1;
        }
        a->have_vm_id = 1;
        return 0;
    case OPT_EXPECT_NO_MEDIATOR:
        a->no_mediator = 1;
        return 0;
    default:
        return -1;
    }
}

/* ---- The run ----------------------------------------------------------- */

struct run {
    const struct vgpu_bus_ops *ops;
    void *ctx;
    struct vgpu_client *c;
    int timeout_ms;
    unsigned passed;
    unsigned failed;
};

static void __attribute__((format(printf, 4, 5)))
report(struct run *r, const char *verdict, const char *check, const char *fmt,
       ...)
{
    char what[LINE_LEN];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    printf("%s %s: %s\n", verdict, check, what);
    fflush(stdout);
    if (strcmp(verdict, "PASS") == 0) {
        r->passed++;
    } else if (strcmp(verdict, "FAIL") == 0) {
        r->failed++;
    }
}

#define PASS(r, check, ...) report((r), "PASS", (check), __VA_ARGS__)
#define FAIL(r, check, ...) report((r), "FAIL", (check), __VA_ARGS__)
#define SKIP(r, check, ...) report((r), "SKIP", (check), __VA_ARGS__)

static uint32_t
rd(struct run *r, uint32_t off)
{
    return r->ops->read32(r->ctx, off);
}

static void
wr(struct run *r, uint32_t off, uint32_t val)
{
    r->ops->write32(r->ctx, off, val);
}

/* STATUS, once it is not BUSY or the timeout has passed. */
static uint32_t
settle(struct run *r)
{
    uint64_t deadline =
        vgpu_tool_now_ns() + (uint64_t)r->timeout_ms * NS_PER_MS;
    uint32_t status;

    while ((status = rd(r, VGPU_REG_STATUS)) == VGPU_STATUS_BUSY &&
           vgpu_tool_now_ns() < deadline) {
        struct timespec ts = {0, POLL_SLEEP_NS};

        nanosleep(&ts, NULL);
    }
    return status;
}

/* "DONE" or "0x00000007" for STATUS values, into @buf. */
static const char *
status_str(uint32_t status, char *buf, size_t len)
{
    const char *name = vgpu_tool_status_name(status);

    if (name != NULL) {
        return name;
    }
    snprintf(buf, len, "0x%08x", status);
    return buf;
}

/* Ring the doorbell for the @len bytes in the request buffer, tagged @tag,
 * after clearing IRQ_STATUS; wait for the end. Return the STATUS seen. */
static uint32_t
ring(struct run *r, uint32_t len, uint32_t tag)
{
    settle(r);
    wr(r, VGPU_REG_IRQ_STATUS, VGPU_IRQ_STATUS_DONE);
    wr(r, VGPU_REG_REQUEST_LEN, len);
    wr(r, VGPU_REG_REQUEST_ID, tag);
    wr(r, VGPU_REG_DOORBELL, VGPU_DOORBELL_RING);
    return settle(r);
}

/* A doorbell that must end in ERROR with @want_code. */
static void
check_error_doorbell(struct run *r, const char *check, uint32_t len,
                     uint32_t want_code)
{
    uint32_t status = ring(r, len, NOP_TAG);
    uint32_t code = rd(r, VGPU_REG_ERROR_CODE);
    char sbuf[16];

    if (status == VGPU_STATUS_ERROR && code == want_code) {
        PASS(r, check, "REQUEST_LEN %u: ERROR %s", len,
             vgpu_tool_error_name(code));
    } else {
        FAIL(r, check, "got %s %s, want ERROR %s",
             status_str(status, sbuf, sizeof(sbuf)), vgpu_tool_error_name(code),
             vgpu_tool_error_name(want_code));
    }
    wr(r, VGPU_REG_IRQ_STATUS, VGPU_IRQ_STATUS_DONE);
}

/* A well-formed NOP request in the request buffer; return its length. */
static uint32_t
put_nop(struct run *r)
{
    uint8_t req[VGPU_OP_HDR_SIZE];

    vgpu_put_le32(req, VGPU_OP_NOP);
    vgpu_put_le32(req + VGPU_ELEM_SIZE, 0);
    r->ops->write_buf(r->ctx, VGPU_REQ_BUF_OFFSET, req, sizeof(req));
    return sizeof(req);
}

static uint64_t
timestamp(struct run *r)
{
    return (uint64_t)rd(r, VGPU_REG_TIMESTAMP_HI) << TIMESTAMP_BITS |
           rd(r, VGPU_REG_TIMESTAMP_LO);
}

/* ---- The checks, in SPEC.md section 10's order --------------------------
 */

static void
check_identity(struct run *r)
{
    uint16_t vendor = 0;
    uint16_t device = 0;
    uint8_t rev = 0;
    size_t size = 0;
    int rc;

    if (r->ops->identity == NULL) {
        SKIP(r, "identity", "the %s has no PCI config space",
             strcmp(r->ops->name, "sim") == 0 ? "simulator" : "bus");
    } else if ((rc = r->ops->identity(r->ctx, &vendor, &device, &rev)) != 0) {
        FAIL(r, "identity", "cannot read the PCI identity: %s",
             vgpu_strerror(rc));
    } else if (vendor == VGPU_PCI_VENDOR_ID && device == VGPU_PCI_DEVICE_ID &&
               rev == VGPU_PCI_REVISION) {
        PASS(r, "identity", "vendor 0x%04x device 0x%04x rev 0x%02x", vendor,
             device, rev);
    } else {
        FAIL(r, "identity",
             "got vendor 0x%04x device 0x%04x rev 0x%02x, want vendor 0x%04x "
             "device 0x%04x rev 0x%02x",
             vendor, device, rev, VGPU_PCI_VENDOR_ID, VGPU_PCI_DEVICE_ID,
             VGPU_PCI_REVISION);
    }
    rc = vgpu_bar_size(r->c, &size);
    if (rc == -ENOTSUP) {
        SKIP(r, "bar0-size", "the %s has no PCI resources",
             strcmp(r->ops->name, "sim") == 0 ? "simulator" : "bus");
    } else if (rc != 0) {
        FAIL(r, "bar0-size", "cannot learn the size of BAR0: %s",
             vgpu_strerror(rc));
    } else if (size == VGPU_BAR0_SIZE) {
        PASS(r, "bar0-size", "%zu bytes", size);
    } else {
        FAIL(r, "bar0-size", "got %zu bytes, want %u", size, VGPU_BAR0_SIZE);
    }
}

static void
check_info(struct run *r, const struct selftest_args *a)
{
    uint32_t ver = rd(r, VGPU_REG_PROTOCOL_VER);
    uint32_t caps = rd(r, VGPU_REG_CAPABILITIES);
    uint32_t pool = rd(r, VGPU_REG_POOL_ID);
    uint32_t prio = rd(r, VGPU_REG_PRIORITY);
    uint32_t vm_id = rd(r, VGPU_REG_VM_ID);
    const char *pname = vgpu_prio_name(prio);
    char cbuf[LINE_LEN];

    if (ver == VGPU_PROTOCOL_VERSION) {
        PASS(r, "protocol-version", "0x%08x (%u.%u)", ver,
             VGPU_TOOL_PROTO_MAJOR(ver), VGPU_TOOL_PROTO_MINOR(ver));
    } else {
        FAIL(r, "protocol-version", "got 0x%08x, want 0x%08x", ver,
             VGPU_PROTOCOL_VERSION);
    }
    vgpu_tool_caps_str(caps, cbuf, sizeof(cbuf));
    if (caps & VGPU_CAP_BASIC) {
        PASS(r, "capabilities", "0x%08x (%s) has BASIC", caps, cbuf);
    } else {
        FAIL(r, "capabilities", "got 0x%08x (%s), want bit 0 (BASIC) set", caps,
             cbuf);
    }
    if (pool == a->pool) {
        PASS(r, "pool", "%c", (char)pool);
    } else if (vgpu_pool_valid(pool)) {
        FAIL(r, "pool", "got %c, want %c", (char)pool, a->pool);
    } else {
        FAIL(r, "pool", "got 0x%08x, want %c", pool, a->pool);
    }
    if (prio == a->priority) {
        PASS(r, "priority", "%s", pname);
    } else {
        FAIL(r, "priority", "got %s (%u), want %s",
             pname != NULL ? pname : "invalid", prio,
             vgpu_prio_name(a->priority));
    }
    if (vm_id == a->vm_id) {
        PASS(r, "vm-id", "%u", vm_id);
    } else {
        FAIL(r, "vm-id", "got %u, want %u", vm_id, a->vm_id);
    }
}

static const uint32_t patterns[] = {
    0x00000000u, 0xffffffffu, 0xa5a5a5a5u, 0x5a5a5a5au, 0x12345678u,
};

#define N_PATTERNS (sizeof(patterns) / sizeof(patterns[0]))

/* A RW register keeps what is written to it; its value comes back after. */
static void
check_rw(struct run *r, const char *check, uint32_t off)
{
    uint32_t saved = rd(r, off);
    size_t i;

    for (i = 0; i < N_PATTERNS; i++) {
        uint32_t got;

        wr(r, off, patterns[i]);
        got = rd(r, off);
        if (got != patterns[i]) {
            FAIL(r, check, "got 0x%08x, want 0x%08x", got, patterns[i]);
            break;
        }
    }
    wr(r, off, saved);
    if (i == N_PATTERNS) {
        PASS(r, check, "%zu patterns read back", N_PATTERNS);
    }
}

/* The RO registers of SPEC.md section 3. */
static const uint32_t mailbox_ro[] = {
    VGPU_REG_STATUS,       VGPU_REG_POOL_ID,      VGPU_REG_PRIORITY,
    VGPU_REG_VM_ID,        VGPU_REG_ERROR_CODE,   VGPU_REG_RESPONSE_LEN,
    VGPU_REG_PROTOCOL_VER, VGPU_REG_CAPABILITIES, VGPU_REG_TIMESTAMP_LO,
    VGPU_REG_TIMESTAMP_HI,
};

/* Each of the @n registers at @ro ignores a write of its complement. */
static void
check_read_only(struct run *r, const char *check, const uint32_t *ro, size_t n)
{
    unsigned bad = 0;
    char first[LINE_LEN] = "";

    for (size_t i = 0; i < n; i++) {
        uint32_t before = rd(r, ro[i]);
        uint32_t after;

        wr(r, ro[i], ~before);
        after = rd(r, ro[i]);
        if (after != before) {
            if (bad++ == 0) {
                snprintf(first, sizeof(first),
                         "%s got 0x%08x after a write of 0x%08x, want "
                         "0x%08x (unchanged)",
                         vgpu_reg_name(ro[i]), after, ~before, before);
            }
            wr(r, ro[i], before); /* a broken device: undo what we can */
        }
    }
    if (bad == 0) {
        PASS(r, check, "%zu RO registers ignore writes", n);
    } else {
        FAIL(r, check, "%s; %u of %zu registers took the write", first, bad, n);
    }
}

static void
check_doorbell_reads_0(struct run *r)
{
    uint32_t v = rd(r, VGPU_REG_DOORBELL);

    if (v == 0) {
        PASS(r, "doorbell-reads-0", "0x%08x", v);
    } else {
        FAIL(r, "doorbell-reads-0", "got 0x%08x, want 0x00000000", v);
    }
}

/* The first byte where @got and @want differ, or -1. */
static long
first_diff(const uint8_t *got, const uint8_t *want, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (got[i] != want[i]) {
            return (long)i;
        }
    }
    return -1;
}

static void
check_request_buffer(struct run *r)
{
    uint8_t want[VGPU_BUF_SIZE];
    uint8_t got[VGPU_BUF_SIZE];

    /* Two patterns, the second the complement of the first, so that every
     * bit of every byte is seen both ways. */
    for (unsigned pass = 0; pass < 2; pass++) {
        long at;

        for (size_t i = 0; i < sizeof(want); i++) {
            uint8_t b = (uint8_t)(i * 7u + (i >> 8) + 0x5bu);

            want[i] = pass == 0 ? b : (uint8_t)~b;
        }
        r->ops->write_buf(r->ctx, VGPU_REQ_BUF_OFFSET, want, sizeof(want));
        r->ops->read_buf(r->ctx, VGPU_REQ_BUF_OFFSET, got, sizeof(got));
        at = first_diff(got, want, sizeof(want));
        if (at >= 0) {
            FAIL(r, "request-buffer",
                 "byte %ld (0x%03lx): got 0x%02x, want "
                 "0x%02x",
                 at, VGPU_REQ_BUF_OFFSET + (unsigned long)at, got[at],
                 want[at]);
            return;
        }
    }
    PASS(r, "request-buffer", "%u bytes read back", VGPU_BUF_SIZE);
}

static void
check_response_buffer(struct run *r)
{
    uint8_t before[VGPU_BUF_SIZE];
    uint8_t poke[VGPU_BUF_SIZE];
    uint8_t after[VGPU_BUF_SIZE];
    long at;

    r->ops->read_buf(r->ctx, VGPU_RESP_BUF_OFFSET, before, sizeof(before));
    for (size_t i = 0; i < sizeof(poke); i++) {
        poke[i] = (uint8_t)~before[i];
    }
    r->ops->write_buf(r->ctx, VGPU_RESP_BUF_OFFSET, poke, sizeof(poke));
    r->ops->read_buf(r->ctx, VGPU_RESP_BUF_OFFSET, after, sizeof(after));
    at = first_diff(after, before, sizeof(before));
    if (at < 0) {
        PASS(r, "response-buffer", "%u bytes ignore writes", VGPU_BUF_SIZE);
    } else {
        FAIL(r, "response-buffer",
             "byte %ld (0x%03lx): got 0x%02x after a write, want 0x%02x "
             "(unchanged)",
             at, VGPU_RESP_BUF_OFFSET + (unsigned long)at, after[at],
             before[at]);
    }
}

static void
check_reserved(struct run *r)
{
    enum { RESERVED_LEN = VGPU_BAR0_SIZE - VGPU_RESERVED_OFFSET };
    uint8_t zero[RESERVED_LEN];
    uint8_t got[RESERVED_LEN];
    uint8_t ones[RESERVED_LEN];
    long at;

    memset(zero, 0, sizeof(zero));
    memset(ones, 0xff, sizeof(ones));
    r->ops->read_buf(r->ctx, VGPU_RESERVED_OFFSET, got, sizeof(got));
    at = first_diff(got, zero, sizeof(zero));
    if (at < 0) {
        r->ops->write_buf(r->ctx, VGPU_RESERVED_OFFSET, ones, sizeof(ones));
        r->ops->read_buf(r->ctx, VGPU_RESERVED_OFFSET, got, sizeof(got));
        at = first_diff(got, zero, sizeof(zero));
        if (at >= 0) {
            FAIL(r, "reserved",
                 "byte 0x%03lx: got 0x%02x after a write, want 0x00",
                 VGPU_RESERVED_OFFSET + (unsigned long)at, got[at]);
            return;
        }
        PASS(r, "reserved", "%u bytes at 0x%03x read 0 and ignore writes",
             (unsigned)RESERVED_LEN, VGPU_RESERVED_OFFSET);
    } else {
        FAIL(r, "reserved", "byte 0x%03lx: got 0x%02x, want 0x00",
             VGPU_RESERVED_OFFSET + (unsigned long)at, got[at]);
    }
}

static void
check_no_mediator(struct run *r, const struct selftest_args *a)
{
    if (!a->no_mediator) {
        SKIP(r, "no-mediator",
             "a mediator is expected (--expect-no-mediator checks this)");
        return;
    }
    check_error_doorbell(r, "no-mediator", put_nop(r),
                         VGPU_ERR_MEDIATOR_UNAVAILABLE);
}

/* A request that ended in @status: "DONE", or "ERROR <NAME>". */
static void
describe_end(struct run *r, uint32_t status, char *buf, size_t len)
{
    char sbuf[16];

    if (status == VGPU_STATUS_ERROR) {
        snprintf(buf, len, "ERROR %s",
                 vgpu_tool_error_name(rd(r, VGPU_REG_ERROR_CODE)));
    } else {
        snprintf(buf, len, "%s", status_str(status, sbuf, sizeof(sbuf)));
    }
}

/* NOP, ECHO, REQUEST_ID, TIMESTAMP and IRQ_STATUS with a mediator. */
static void
check_with_mediator(struct run *r, const struct selftest_args *a)
{
    static const char *const checks[] = {
        "nop", "echo", "request-id-kept", "timestamp", "irq-status",
    };
    uint8_t req[VGPU_OP_HDR_SIZE + VGPU_ECHO_MAX_N];
    uint8_t got[VGPU_ECHO_MAX_N];
    char end[LINE_LEN];
    uint32_t status;
    uint32_t len;
    uint32_t irq_before;
    uint32_t irq_after;
    uint32_t irq_cleared;
    uint32_t id;
    uint64_t t1;
    uint64_t t2;

    if (a->no_mediator) {
        for (size_t i = 0; i < sizeof(checks) / sizeof(checks[0]); i++) {
            SKIP(r, checks[i], "needs a mediator (--expect-no-mediator)");
        }
        return;
    }

    /* NOP: DONE with an empty response. */
    status = ring(r, put_nop(r), NOP_TAG);
    len = rd(r, VGPU_REG_RESPONSE_LEN);
    t1 = timestamp(r);
    describe_end(r, status, end, sizeof(end));
    if (status == VGPU_STATUS_DONE && len == 0) {
        PASS(r, "nop", "DONE, RESPONSE_LEN 0");
    } else {
        FAIL(r, "nop", "got %s, RESPONSE_LEN %u, want DONE, RESPONSE_LEN 0",
             end, len);
    }

    /* ECHO of the largest payload: the same bytes come back. */
    vgpu_put_le32(req, VGPU_OP_ECHO);
    vgpu_put_le32(req + VGPU_ELEM_SIZE, VGPU_ECHO_MAX_N);
    for (size_t i = 0; i < VGPU_ECHO_MAX_N; i++) {
        req[VGPU_OP_HDR_SIZE + i] = (uint8_t)(i * 13u + 1u);
    }
    r->ops->write_buf(r->ctx, VGPU_REQ_BUF_OFFSET, req, sizeof(req));
    /* IRQ_STATUS was cleared by ring(); see it clear before the doorbell. */
    settle(r);
    wr(r, VGPU_REG_IRQ_STATUS, VGPU_IRQ_STATUS_DONE);
    irq_before = rd(r, VGPU_REG_IRQ_STATUS);
    status = ring(r, sizeof(req), ECHO_TAG);
    len = rd(r, VGPU_REG_RESPONSE_LEN);
    id = rd(r, VGPU_REG_REQUEST_ID);
    t2 = timestamp(r);
    irq_after = rd(r, VGPU_REG_IRQ_STATUS);
    wr(r, VGPU_REG_IRQ_STATUS, VGPU_IRQ_STATUS_DONE);
    irq_cleared = rd(r, VGPU_REG_IRQ_STATUS);
    describe_end(r, status, end, sizeof(end));
    if (status != VGPU_STATUS_DONE || len != VGPU_ECHO_MAX_N) {
        FAIL(r, "echo", "got %s, RESPONSE_LEN %u, want DONE, RESPONSE_LEN %u",
             end, len, VGPU_ECHO_MAX_N);
    } else {
        long at;

        r->ops->read_buf(r->ctx, VGPU_RESP_BUF_OFFSET, got, sizeof(got));
        at = first_diff(got, req + VGPU_OP_HDR_SIZE, sizeof(got));
        if (at < 0) {
            PASS(r, "echo", "%u bytes came back", VGPU_ECHO_MAX_N);
        } else {
            FAIL(r, "echo", "response byte %ld: got 0x%02x, want 0x%02x", at,
                 got[at], req[VGPU_OP_HDR_SIZE + at]);
        }
    }

    if (id == ECHO_TAG) {
        PASS(r, "request-id-kept", "0x%08x after the response", id);
    } else {
        FAIL(r, "request-id-kept", "got 0x%08x, want 0x%08x", id, ECHO_TAG);
    }

    if (t2 > t1 && t1 != 0) {
        PASS(r, "timestamp", "%llu ns after %llu ns", (unsigned long long)t2,
             (unsigned long long)t1);
    } else {
        FAIL(r, "timestamp", "got %llu ns after %llu ns, want a later time",
             (unsigned long long)t2, (unsigned long long)t1);
    }

    if (irq_before == 0 && (irq_after & VGPU_IRQ_STATUS_DONE) &&
        irq_cleared == 0) {
        PASS(r, "irq-status", "set by the completion, cleared by writing 1");
    } else {
        FAIL(r, "irq-status",
             "got 0x%x before, 0x%x after the completion, 0x%x after "
             "writing 1, want 0, bit 0 set, 0",
             irq_before, irq_after, irq_cleared);
    }
}

/* ---- The queue (SPEC.md section 11) -------------------------------------
 */

/* Registers 0x840-0x86B read 0 on a device without the queue. */
static void
check_queue_absent(struct run *r)
{
    for (uint32_t off = VGPU_Q_REG_OFFSET; off < VGPU_Q_REG_END;
         off += VGPU_REG_SIZE) {
        uint32_t v = rd(r, off);

        if (v != 0) {
            FAIL(r, "queue-absent", "0x%03x reads 0x%08x, want 0 (reserved)",
                 off, v);
            return;
        }
    }
    PASS(r, "queue-absent", "no CAPABILITIES bit 2; 0x%03x-0x%03x read 0",
         VGPU_Q_REG_OFFSET, VGPU_Q_REG_END - 1u);
}

/* Q_CTRL ENABLE with @size and @base_lo must be refused with @want. */
static void
check_bad_enable(struct run *r, const char *check, uint32_t size,
                 uint32_t base_lo, uint32_t want)
{
    uint32_t ctrl;
    uint32_t err;

    wr(r, VGPU_REG_Q_CTRL, 0);
    wr(r, VGPU_REG_Q_BASE_LO, base_lo);
    wr(r, VGPU_REG_Q_BASE_HI, 0);
    wr(r, VGPU_REG_Q_SIZE, size);
    wr(r, VGPU_REG_Q_CTRL, VGPU_Q_CTRL_ENABLE);
    ctrl = rd(r, VGPU_REG_Q_CTRL);
    err = rd(r, VGPU_REG_Q_ERROR);
    wr(r, VGPU_REG_Q_CTRL, 0);
    if (!(ctrl & VGPU_Q_CTRL_ENABLE) && err == want) {
        PASS(r, check, "Q_SIZE %u, Q_BASE 0x%x: ENABLE stays 0, Q_ERROR %s",
             size, base_lo, vgpu_tool_error_name(err));
    } else {
        FAIL(r, check, "got Q_CTRL 0x%x, Q_ERROR %s, want 0, %s", ctrl,
             vgpu_tool_error_name(err), vgpu_tool_error_name(want));
    }
}

/* One NOP through a one-entry queue: completion tag, status and PHASE. */
static void
check_queue_nop(struct run *r, const struct selftest_args *a)
{
    enum { NOP_QTAG = 0x51u };
    char err[LINE_LEN] = "";
    struct vgpu_queue *q;
    struct vgpu_dma in = {0};
    struct vgpu_qcomp comp = {0};
    uint32_t max_inflight;
    uint32_t cq_tail;
    int w = 0;
    int k = 0;

    if (a->no_mediator) {
        SKIP(r, "queue-nop", "needs a mediator (--expect-no-mediator)");
        return;
    }
    q = vgpu_queue_open(r->c, 1, err, sizeof(err));
    if (q == NULL) {
        SKIP(r, "queue-nop", "cannot open a queue here: %s", err);
        return;
    }
    if (vgpu_dma_alloc(r->c, VGPU_OP_HDR_SIZE, &in) != 0) {
        SKIP(r, "queue-nop", "no DMA memory: %s", vgpu_dma_error(r->c));
        vgpu_queue_close(q);
        return;
    }
    vgpu_put_le32(in.ptr, VGPU_OP_NOP);
    vgpu_put_le32((uint8_t *)in.ptr + VGPU_ELEM_SIZE, 0);
    max_inflight = vgpu_queue_max_inflight(q);
    if (vgpu_queue_submit(q, &in, 0, VGPU_OP_HDR_SIZE, NULL, 0, 0, NOP_QTAG) ==
        0) {
        vgpu_queue_kick(q);
        w = vgpu_queue_wait(q, r->timeout_ms);
        cq_tail = rd(r, VGPU_REG_CQ_TAIL);
        k = w == 1 ? vgpu_queue_reap(q, &comp, 1) : w;
    } else {
        cq_tail = 0;
    }
    if (k == 1 && comp.tag == NOP_QTAG && comp.status == 0 &&
        comp.out_len == 0 && cq_tail == 1 && max_inflight == 1) {
        PASS(r, "queue-nop",
             "CQ_TAIL 1, tag 0x%x, status 0, out_len 0, PHASE 1, "
             "Q_MAX_INFLIGHT 1",
             comp.tag);
    } else if (k == 1) {
        FAIL(r, "queue-nop",
             "got tag 0x%x status %s out_len %u CQ_TAIL %u Q_MAX_INFLIGHT "
             "%u, want 0x%x, NONE, 0, 1, 1",
             comp.tag, vgpu_tool_error_name(comp.status), comp.out_len, cq_tail,
             max_inflight, NOP_QTAG);
    } else {
        FAIL(r, "queue-nop", "no completion: %s (Q_ERROR %s)",
             k == 0 ? "timed out" : vgpu_strerror(k),
             vgpu_tool_error_name(vgpu_queue_error(q)));
    }
    vgpu_queue_close(q);
    vgpu_dma_free(r->c, &in);
}

static void
check_queue(struct run *r, const struct selftest_args *a)
{
    static const uint32_t q_ro[] = {
        VGPU_REG_SQ_HEAD,        VGPU_REG_CQ_TAIL,    VGPU_REG_Q_ERROR,
        VGPU_REG_Q_MAX_INFLIGHT, VGPU_REG_Q_MAX_XFER,
    };
    uint32_t xfer;

    if (!(rd(r, VGPU_REG_CAPABILITIES) & VGPU_CAP_QUEUE)) {
        check_queue_absent(r);
        return;
    }
    if (rd(r, VGPU_REG_Q_CTRL) & VGPU_Q_CTRL_ENABLE) {
        SKIP(r, "queue", "the queue is enabled (someone else's): not touched");
        return;
    }
    xfer = rd(r, VGPU_REG_Q_MAX_XFER);
    if (xfer == VGPU_Q_MAX_XFER) {
        PASS(r, "queue-max-xfer", "%u", xfer);
    } else {
        FAIL(r, "queue-max-xfer", "got %u, want %u", xfer, VGPU_Q_MAX_XFER);
    }
    check_rw(r, "queue-base-lo", VGPU_REG_Q_BASE_LO);
    check_rw(r, "queue-base-hi", VGPU_REG_Q_BASE_HI);
    check_rw(r, "queue-size", VGPU_REG_Q_SIZE);
    check_read_only(r, "queue-read-only", q_ro, sizeof(q_ro) / sizeof(q_ro[0]));
    check_bad_enable(r, "queue-bad-size", 3, 0, VGPU_ERR_INVALID_LENGTH);
    check_bad_enable(r, "queue-oversize", VGPU_Q_ENTRIES_MAX * 2u, 0,
                     VGPU_ERR_INVALID_LENGTH);
    check_bad_enable(r, "queue-unaligned-base", 1, VGPU_Q_BASE_ALIGN / 2u,
                     VGPU_ERR_INVALID_REQUEST);
    wr(r, VGPU_REG_Q_BASE_LO, 0);
    wr(r, VGPU_REG_Q_SIZE, 0);
    check_queue_nop(r, a);
}

int
main(int argc, char **argv)
{
    struct vgpu_tool_opts o;
    struct run r;
    uint32_t saved_scratch;
    uint32_t saved_id;
    int first;

    first = vgpu_tool_parse(&desc, argc, argv, &o);
    if (first < argc) {
        vgpu_tool_usage_exit(&desc, "takes no operands");
    }
    if (o.sim) {
        if (!args.have_pool) {
            args.pool = o.sim_pool;
        }
        if (!args.have_priority) {
            args.priority = o.sim_priority;
        }
        if (!args.have_vm_id) {
            args.vm_id = o.sim_vm_id;
        }
    } else if (!args.have_pool || !args.have_priority || !args.have_vm_id) {
        vgpu_tool_usage_exit(&desc,
                             "--expect-pool, --expect-priority and "
                             "--expect-vm-id are required with a real device");
    }
    memset(&r, 0, sizeof(r));
    r.c = vgpu_tool_open(&desc, &o);
    if (r.c == NULL) {
        return VGPU_TOOL_EXIT_FAIL;
    }
    r.ops = vgpu_bus(r.c, &r.ctx);
    r.timeout_ms = o.timeout_ms;
    if (settle(&r) == VGPU_STATUS_BUSY) {
        vgpu_tool_complain(&desc, "the device stays BUSY with a request of "
                                  "someone else's; try again later");
        vgpu_close(r.c);
        return VGPU_TOOL_EXIT_FAIL;
    }
    saved_scratch = rd(&r, VGPU_REG_SCRATCH);
    saved_id = rd(&r, VGPU_REG_REQUEST_ID);

    check_identity(&r);
    check_info(&r, &args);
    check_rw(&r, "scratch", VGPU_REG_SCRATCH);
    check_rw(&r, "request-id", VGPU_REG_REQUEST_ID);
    check_read_only(&r, "read-only", mailbox_ro,
                    sizeof(mailbox_ro) / sizeof(mailbox_ro[0]));
    check_doorbell_reads_0(&r);
    check_request_buffer(&r);
    check_response_buffer(&r);
    check_reserved(&r);
    check_error_doorbell(&r, "zero-length-doorbell", 0,
                         VGPU_ERR_INVALID_LENGTH);
    check_error_doorbell(&r, "oversize-doorbell", VGPU_BUF_SIZE + 1u,
                         VGPU_ERR_INVALID_LENGTH);
    check_no_mediator(&r, &args);
    check_with_mediator(&r, &args);
    check_queue(&r, &args);

    settle(&r);
    wr(&r, VGPU_REG_SCRATCH, saved_scratch);
    wr(&r, VGPU_REG_REQUEST_ID, saved_id);
    wr(&r, VGPU_REG_IRQ_STATUS, VGPU_IRQ_STATUS_DONE);
    printf("%u passed, %u failed\n", r.passed, r.failed);
    vgpu_close(r.c);
    return r.failed == 0 ? VGPU_TOOL_EXIT_OK : VGPU_TOOL_EXIT_FAIL;
}
