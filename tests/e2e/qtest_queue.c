/*
 * vgpu-qtest's queue checks (SPEC.md section 11): rings in guest RAM, read
 * and written by the device's DMA in a real QEMU, against the real daemon.
 *
 *   /qemu/queue/...      64 entries at once (ECHO, ADD_I32 and one 1 MiB
 *                        ECHO), every completion and every byte checked;
 *                        then entries whose input or output is outside RAM
 *                        (DMA_ERROR, the queue goes on), rings outside RAM,
 *                        on the device's own BAR0 and with bus mastering
 *                        off (Q_ERROR DMA_ERROR, QEMU still running)
 *   /qemu/queue-migration/...  the queue's registers migrate; entries in
 *                        flight end with MEDIATOR_UNAVAILABLE CQ entries
 *                        on the destination, whose next entry succeeds
 *
 * Guest memory is written and read with qtest's writel/writeq/memset/readl:
 * QEMU's q35 machine has 128 MiB of RAM from address 0 by default.
 */
#include "qtest.h"

#define Q_DEVICE                                                               \
    "vgpu-stub,pool_id=B,priority=high,vm_id=201,socket=%s,trace=%s"
#define Q_MIG_DEVICE "vgpu-stub,pool_id=C,vm_id=203,timeout_ms=0,socket=%s"
#define Q_N          64u         /* ring entries, and the batch submitted */
#define Q_BASE       0x200000ull /* the queue area: SQ then CQ */
#define Q_IN_BASE    0x300000ull /* entry i's input at IN_BASE + i * STRIDE */
#define Q_OUT_BASE   0x400000ull
#define Q_STRIDE     0x1000ull
#define Q_BIG_IN     0x1000000ull /* the 1 MiB ECHO's input (16 MiB) */
#define Q_BIG_OUT    0x2000000ull /* ... and its output (32 MiB) */
#define Q_BIG_N      (VGPU_Q_MAX_XFER - VGPU_OP_HDR_SIZE)
#define Q_BIG_BYTE   0xa5u
#define Q_BIG_COUNT  8u           /* 1 MiB entries at once */
#define Q_BIG_AREA   0x3000000ull /* ... their inputs and outputs (48 MiB) */
#define Q_BIG_SAMPLE 64u          /* bytes of the 1 MiB answer checked */
#define Q_OUTSIDE    (1ull << 40) /* 1 TiB: no RAM, no device there */
#define Q_ECHO_N     64u
#define Q_ADD_N      8u
#define Q_TAG_BASE   0x1000u
#define Q_IOAPIC     0xfec00000ull /* another device's MMIO (q35's IOAPIC) */
#define Q_RAM_TOP    0x8000000ull  /* q35's default 128 MiB end here */
#define Q_WRAP_N     256u          /* a ring of 12 KiB from 4 KiB below it */
#define Q_REWRITE_N  8u            /* entries rewritten while in flight */
#define Q_MIG_N      8u            /* the migration test's ring */
#define Q_MIG_BATCH  3u            /* entries in flight while it migrates */

/* ---- Guest memory and the rings ----------------------------------------- */

static void
mem_w32(struct qemu *q, uint64_t addr, uint32_t val)
{
    qt(q, "writel 0x%llx 0x%x", (unsigned long long)addr, val);
}

static uint32_t
mem_r32(struct qemu *q, uint64_t addr)
{
    return (uint32_t)qt(q, "readl 0x%llx", (unsigned long long)addr);
}

static uint8_t
mem_r8(struct qemu *q, uint64_t addr)
{
    return (uint8_t)qt(q, "readb 0x%llx", (unsigned long long)addr);
}

static void
mem_w64(struct qemu *q, uint64_t addr, uint64_t val)
{
    qt(q, "writeq 0x%llx 0x%llx", (unsigned long long)addr,
       (unsigned long long)val);
}

static void
mem_set(struct qemu *q, uint64_t addr, uint32_t len, uint8_t byte)
{
    qt(q, "memset 0x%llx 0x%x 0x%02x", (unsigned long long)addr, len, byte);
}

/* Bus mastering on or off in the PCI command register. */
static void
bus_master(struct qemu *q, bool on)
{
    uint32_t cmd = cfg_read16(q, q->cfg, PCI_COMMAND_OFF);

    cmd = on ? (cmd | PCI_CMD_MASTER) : (cmd & ~PCI_CMD_MASTER);
    cfg_write16(q, q->cfg, PCI_COMMAND_OFF, cmd | PCI_CMD_MEMORY);
}

/* Point the queue at @base with @n entries and enable it. */
static void
q_enable(struct qemu *q, uint64_t base, uint32_t n)
{
    wr32(q, VGPU_REG_Q_CTRL, 0);
    wr32(q, VGPU_REG_Q_BASE_LO, (uint32_t)base);
    wr32(q, VGPU_REG_Q_BASE_HI, (uint32_t)(base >> 32));
    wr32(q, VGPU_REG_Q_SIZE, n);
    wr32(q, VGPU_REG_Q_CTRL, VGPU_Q_CTRL_ENABLE);
}

struct sqe {
    uint64_t in_addr;
    uint32_t in_len;
    uint32_t tag;
    uint64_t out_addr;
    uint32_t out_cap;
};

struct cqe {
    uint32_t tag;
    uint32_t status;
    uint32_t out_len;
    uint32_t phase;
};

/* Write submission entry @index (slot @index mod @n) of the ring at @base. */
static void
sqe_put(struct qemu *q, uint64_t base, uint32_t n, uint32_t index,
        const struct sqe *e)
{
    uint64_t a = base + (uint64_t)(index % n) * VGPU_Q_SQE_SIZE;

    mem_w64(q, a, e->in_addr);
    mem_w32(q, a + 8, e->in_len);
    mem_w32(q, a + 12, e->tag);
    mem_w64(q, a + 16, e->out_addr);
    mem_w32(q, a + 24, e->out_cap);
    mem_w32(q, a + 28, 0);
}

static void
cqe_get(struct qemu *q, uint64_t base, uint32_t n, uint32_t index,
        struct cqe *c)
{
    uint64_t a = base + (uint64_t)n * VGPU_Q_SQE_SIZE +
                 (uint64_t)(index % n) * VGPU_Q_CQE_SIZE;

    c->tag = mem_r32(q, a);
    c->status = mem_r32(q, a + 4);
    c->out_len = mem_r32(q, a + 8);
    c->phase = mem_r32(q, a + 12);
}

/* Wait until register @reg reads at least @min (at most WAIT_MS); return
 * what it reads. */
static uint32_t
wait_reg(struct qemu *q, uint32_t reg, uint32_t min)
{
    uint64_t end = now_ms() + WAIT_MS;
    uint32_t v;

    while ((v = rd32(q, reg)) < min && now_ms() < end) {
        sleep_us(POLL_SLEEP_US);
    }
    return v;
}

static uint32_t
wait_cq(struct qemu *q, uint32_t count)
{
    return wait_reg(q, VGPU_REG_CQ_TAIL, count);
}

/* An op header and its u32 operands at @addr. Return the bytes written. */
static uint32_t
put_op(struct qemu *q, uint64_t addr, uint32_t op, uint32_t n,
       const uint32_t *words, uint32_t nwords)
{
    mem_w32(q, addr, op);
    mem_w32(q, addr + 4, n);
    for (uint32_t i = 0; i < nwords; i++) {
        mem_w32(q, addr + VGPU_OP_HDR_SIZE + 4u * i, words[i]);
    }
    return VGPU_OP_HDR_SIZE + 4u * nwords;
}

/* The mailbox still works and QEMU still answers. */
static bool
mailbox_alive(struct qemu *q)
{
    uint8_t req[VGPU_OP_HDR_SIZE];

    wr32(q, VGPU_REG_SCRATCH, 0x5eed);
    if (rd32(q, VGPU_REG_SCRATCH) != 0x5eed) {
        return false;
    }
    put_request(q, req, op_request(req, VGPU_OP_NOP, 0, NULL, 0));
    return ring(q) == VGPU_STATUS_DONE;
}

/* ---- 64 entries at once ------------------------------------------------- */

/* An ECHO of VGPU_Q_MAX_XFER - 8 bytes of @byte from @in to @out. */
static void
big_entry(struct qemu *q, struct sqe *e, uint64_t in, uint64_t out,
          uint8_t byte)
{
    e->in_addr = in;
    e->out_addr = out;
    e->out_cap = VGPU_Q_MAX_XFER;
    e->in_len = VGPU_Q_MAX_XFER;
    mem_w32(q, in, VGPU_OP_ECHO);
    mem_w32(q, in + 4, Q_BIG_N);
    mem_set(q, in + VGPU_OP_HDR_SIZE, Q_BIG_N, byte);
    mem_set(q, out, VGPU_Q_MAX_XFER, 0);
}

/* Is the answer to big_entry() at @out? Sampled, and its last byte. */
static bool
big_output_ok(struct qemu *q, uint64_t out, uint8_t byte, uint32_t out_len)
{
    if (out_len != Q_BIG_N) {
        return false;
    }
    for (uint32_t k = 0; k < Q_BIG_SAMPLE; k++) {
        if (mem_r8(q, out + (uint64_t)Q_BIG_N / Q_BIG_SAMPLE * k) != byte) {
            return false;
        }
    }
    /* The last byte, and nothing written beyond the answer. */
    return mem_r8(q, out + Q_BIG_N - 1u) == byte &&
           mem_r8(q, out + Q_BIG_N) == 0;
}

/* Entry i of the batch: even an ECHO of 64 bytes, odd an ADD_I32 of 8, the
 * last one an ECHO of VGPU_Q_MAX_XFER - 8 bytes. Fill its input. */
static void
batch_entry(struct qemu *q, uint32_t i, struct sqe *e)
{
    uint32_t words[2u * Q_ADD_N];

    memset(e, 0, sizeof(*e));
    e->tag = Q_TAG_BASE + i;
    e->in_addr = Q_IN_BASE + i * Q_STRIDE;
    e->out_addr = Q_OUT_BASE + i * Q_STRIDE;
    e->out_cap = (uint32_t)Q_STRIDE;
    if (i == Q_N - 1u) {
        big_entry(q, e, Q_BIG_IN, Q_BIG_OUT, Q_BIG_BYTE);
    } else if (i % 2u == 0) {
        for (uint32_t w = 0; w < Q_ECHO_N / 4u; w++) {
            words[w] = i * 0x01010101u + w;
        }
        e->in_len =
            put_op(q, e->in_addr, VGPU_OP_ECHO, Q_ECHO_N, words, Q_ECHO_N / 4u);
    } else {
        for (uint32_t w = 0; w < Q_ADD_N; w++) {
            words[w] = i * 100u + w;
            words[Q_ADD_N + w] = w * 7u - i;
        }
        e->in_len = put_op(q, e->in_addr, VGPU_OP_ADD_I32, Q_ADD_N, words,
                           2u * Q_ADD_N);
    }
}

/* Does entry i's output hold what it should? */
static bool
batch_output_ok(struct qemu *q, uint32_t i, uint32_t out_len)
{
    uint64_t out = Q_OUT_BASE + i * Q_STRIDE;

    if (i == Q_N - 1u) {
        return big_output_ok(q, Q_BIG_OUT, Q_BIG_BYTE, out_len);
    }
    if (i % 2u == 0) {
        if (out_len != Q_ECHO_N) {
            return false;
        }
        for (uint32_t w = 0; w < Q_ECHO_N / 4u; w++) {
            if (mem_r32(q, out + 4u * w) != i * 0x01010101u + w) {
                return false;
            }
        }
        return true;
    }
    if (out_len != 4u * Q_ADD_N) {
        return false;
    }
    for (uint32_t w = 0; w < Q_ADD_N; w++) {
        if (mem_r32(q, out + 4u * w) != i * 100u + w + (w * 7u - i)) {
            return false;
        }
    }
    return true;
}

static void
test_queue_batch(struct qemu *q)
{
    bool seen[Q_N] = {false};
    unsigned bad_status = 0;
    unsigned bad_output = 0;
    unsigned bad_tag = 0;
    unsigned bad_phase = 0;
    uint32_t tail;
    struct sqe e;

    q_enable(q, Q_BASE, Q_N);
    check(rd32(q, VGPU_REG_Q_CTRL) == VGPU_Q_CTRL_ENABLE &&
              rd32(q, VGPU_REG_Q_ERROR) == 0,
          "/qemu/queue/enabled (Q_ERROR 0x%x)", rd32(q, VGPU_REG_Q_ERROR));
    for (uint32_t i = 0; i < Q_N; i++) {
        batch_entry(q, i, &e);
        sqe_put(q, Q_BASE, Q_N, i, &e);
    }
    wr32(q, VGPU_REG_SQ_TAIL, Q_N);
    tail = wait_cq(q, Q_N);
    check(tail == Q_N && rd32(q, VGPU_REG_SQ_HEAD) == Q_N,
          "/qemu/queue/64-entries-complete (CQ_TAIL %u, SQ_HEAD %u)", tail,
          rd32(q, VGPU_REG_SQ_HEAD));
    check_eq("/qemu/queue/max-inflight-64", rd32(q, VGPU_REG_Q_MAX_INFLIGHT),
             Q_N);
    for (uint32_t slot = 0; slot < tail && slot < Q_N; slot++) {
        struct cqe c;
        uint32_t i;

        cqe_get(q, Q_BASE, Q_N, slot, &c);
        i = c.tag - Q_TAG_BASE;
        if (i >= Q_N || seen[i]) {
            bad_tag++;
            continue;
        }
        seen[i] = true;
        bad_phase += c.phase != 1u;
        if (c.status != VGPU_ERR_NONE) {
            bad_status++;
            printf("# tag 0x%x: status 0x%x\n", c.tag, c.status);
        } else if (!batch_output_ok(q, i, c.out_len)) {
            bad_output++;
            printf("# tag 0x%x: wrong output (out_len %u)\n", c.tag, c.out_len);
        }
    }
    check(bad_tag == 0, "/qemu/queue/every-tag-once (%u bad)", bad_tag);
    check(bad_status == 0, "/qemu/queue/every-status-0 (%u bad)", bad_status);
    check(bad_output == 0,
          "/qemu/queue/every-output-verified (echo, add_i32, 1 MiB echo; %u "
          "bad)",
          bad_output);
    check(bad_phase == 0, "/qemu/queue/phase-1-first-pass (%u bad)", bad_phase);
    check(rd32(q, VGPU_REG_IRQ_STATUS) & VGPU_IRQ_STATUS_QUEUE,
          "/qemu/queue/irq_status-queue-set");
    wr32(q, VGPU_REG_CQ_HEAD, Q_N);
    wr32(q, VGPU_REG_IRQ_STATUS, VGPU_IRQ_STATUS_QUEUE);
}

/* Eight 1 MiB entries at once: 8 MiB to the socket, more than the device
 * queues (it waits for the output to drain before taking the next). */
static void
test_queue_big(struct qemu *q)
{
    unsigned ok = 0;
    uint32_t tail;
    struct sqe e;
    struct cqe c;

    q_enable(q, Q_BASE, Q_N);
    for (uint32_t i = 0; i < Q_BIG_COUNT; i++) {
        memset(&e, 0, sizeof(e));
        big_entry(q, &e, Q_BIG_AREA + 2u * i * VGPU_Q_MAX_XFER,
                  Q_BIG_AREA + (2u * i + 1u) * VGPU_Q_MAX_XFER,
                  (uint8_t)(Q_BIG_BYTE + i));
        e.tag = i;
        sqe_put(q, Q_BASE, Q_N, i, &e);
    }
    wr32(q, VGPU_REG_SQ_TAIL, Q_BIG_COUNT);
    tail = wait_cq(q, Q_BIG_COUNT);
    for (uint32_t slot = 0; slot < tail && slot < Q_BIG_COUNT; slot++) {
        cqe_get(q, Q_BASE, Q_N, slot, &c);
        ok += c.tag < Q_BIG_COUNT && c.status == VGPU_ERR_NONE &&
              big_output_ok(q, Q_BIG_AREA + (2u * c.tag + 1u) * VGPU_Q_MAX_XFER,
                            (uint8_t)(Q_BIG_BYTE + c.tag), c.out_len);
    }
    check(tail == Q_BIG_COUNT && ok == Q_BIG_COUNT,
          "/qemu/queue/eight-1mib-entries (CQ_TAIL %u, %u verified)", tail, ok);
}

/* ---- Addresses the device must not reach -------------------------------- */

/* Entries 64 and 65 (slots 0 and 1, second pass): input, then output,
 * outside RAM. Each completes with DMA_ERROR; the queue goes on. */
static void
test_queue_bad_buffers(struct qemu *q)
{
    struct sqe e;
    struct cqe c0;
    struct cqe c1;
    uint32_t tail;

    batch_entry(q, 0, &e);
    e.tag = 0xbad0;
    e.in_addr = Q_OUTSIDE;
    sqe_put(q, Q_BASE, Q_N, Q_N, &e);
    batch_entry(q, 0, &e);
    e.tag = 0xbad1;
    e.out_addr = Q_OUTSIDE;
    sqe_put(q, Q_BASE, Q_N, Q_N + 1u, &e);
    wr32(q, VGPU_REG_SQ_TAIL, Q_N + 2u);
    tail = wait_cq(q, Q_N + 2u);
    cqe_get(q, Q_BASE, Q_N, Q_N, &c0);
    cqe_get(q, Q_BASE, Q_N, Q_N + 1u, &c1);
    /* Completions may come in any order: find each by its tag. */
    if (c0.tag == 0xbad1) {
        struct cqe t = c0;

        c0 = c1;
        c1 = t;
    }
    check(tail == Q_N + 2u && c0.tag == 0xbad0 &&
              c0.status == VGPU_ERR_DMA_ERROR && c0.phase == 0,
          "/qemu/queue/input-outside-ram-dma-error (tail %u, tag 0x%x, "
          "status 0x%x, phase %u)",
          tail, c0.tag, c0.status, c0.phase);
    check(c1.tag == 0xbad1 && c1.status == VGPU_ERR_DMA_ERROR &&
              c1.out_len == 0,
          "/qemu/queue/output-outside-ram-dma-error (tag 0x%x, status 0x%x)",
          c1.tag, c1.status);
    check(rd32(q, VGPU_REG_Q_CTRL) == VGPU_Q_CTRL_ENABLE &&
              rd32(q, VGPU_REG_Q_ERROR) == 0,
          "/qemu/queue/bad-buffers-leave-queue-running");
}

/* A ring the device cannot use stops the queue: Q_ERROR DMA_ERROR, ENABLE
 * cleared; QEMU runs on and the mailbox still works. */
static void
bad_ring(struct qemu *q, const char *name, uint64_t base, bool master)
{
    struct sqe e;
    uint32_t err;

    q_enable(q, base, 1);
    if (base == Q_BASE) {
        batch_entry(q, 0, &e);
        sqe_put(q, base, 1, 0, &e);
    }
    bus_master(q, master);
    wr32(q, VGPU_REG_SQ_TAIL, 1);
    err = wait_reg(q, VGPU_REG_Q_ERROR, 1);
    bus_master(q, true);
    check(err == VGPU_ERR_DMA_ERROR && rd32(q, VGPU_REG_Q_CTRL) == 0,
          "/qemu/queue/%s-q_error-dma-error (Q_ERROR 0x%x, Q_CTRL %u)", name,
          err, rd32(q, VGPU_REG_Q_CTRL));
    check(mailbox_alive(q), "/qemu/queue/%s-qemu-still-running", name);
}

/* ---- DMA hazards: where the guest points the device -------------------- */

/* One entry (an ECHO of entry 0's kind) with @in and @out; wait for its
 * completion; return it in *@c. Return false if none came. */
static bool
one_entry(struct qemu *q, uint32_t index, uint64_t in, uint64_t out,
          uint32_t tag, struct cqe *c)
{
    struct sqe e;

    batch_entry(q, 0, &e);
    e.tag = tag;
    if (in != 0) {
        e.in_addr = in;
    }
    if (out != 0) {
        e.out_addr = out;
    }
    sqe_put(q, Q_BASE, Q_N, index, &e);
    wr32(q, VGPU_REG_SQ_TAIL, index + 1u);
    if (wait_cq(q, index + 1u) < index + 1u) {
        return false;
    }
    cqe_get(q, Q_BASE, Q_N, index, c);
    wr32(q, VGPU_REG_CQ_HEAD, index + 1u);
    return true;
}

/*
 * Input or output on the device's own BAR0 (the output on SQ_TAIL itself:
 * SQ_TAIL rung from inside the device's DMA), or on another device's MMIO.
 * Each entry ends with a CQ entry (DMA_ERROR for BAR0; whatever the other
 * device makes of it otherwise), the device never re-enters itself, and
 * the queue and QEMU go on.
 */
static void
test_queue_hazards(struct qemu *q)
{
    uint32_t head;
    struct cqe c;
    bool done;

    q_enable(q, Q_BASE, Q_N);
    done = one_entry(q, 0, BAR0_ADDR + VGPU_REQ_BUF_OFFSET, 0, 0xba01, &c);
    check(done && c.tag == 0xba01 && c.status == VGPU_ERR_DMA_ERROR,
          "/qemu/queue/input-on-own-bar0-dma-error (status 0x%x)", c.status);
    head = rd32(q, VGPU_REG_SQ_HEAD);
    done = one_entry(q, 1, 0, BAR0_ADDR + VGPU_REG_SQ_TAIL, 0xba02, &c);
    check(done && c.tag == 0xba02 && c.status == VGPU_ERR_DMA_ERROR &&
              rd32(q, VGPU_REG_SQ_TAIL) == 2u &&
              rd32(q, VGPU_REG_SQ_HEAD) == head + 1u,
          "/qemu/queue/output-on-own-sq_tail-refused (status 0x%x, SQ_TAIL "
          "%u)",
          c.status, rd32(q, VGPU_REG_SQ_TAIL));
    done = one_entry(q, 2, Q_IOAPIC, 0, 0xba03, &c);
    check(done && c.tag == 0xba03 && rd32(q, VGPU_REG_Q_ERROR) == 0 &&
              rd32(q, VGPU_REG_Q_CTRL) == VGPU_Q_CTRL_ENABLE,
          "/qemu/queue/input-on-other-device-mmio-completes (status 0x%x)",
          c.status);
    done = one_entry(q, 3, 0, Q_IOAPIC, 0xba04, &c);
    check(done && c.tag == 0xba04 && rd32(q, VGPU_REG_Q_ERROR) == 0,
          "/qemu/queue/output-on-other-device-mmio-completes (status 0x%x)",
          c.status);
    check(mailbox_alive(q), "/qemu/queue/hazards-qemu-still-running");
}

/* A ring that starts in RAM and runs past its top: the SQ entry is read,
 * its CQ entry cannot be written: Q_ERROR DMA_ERROR, QEMU goes on. */
static void
test_queue_wrap_top(struct qemu *q)
{
    uint64_t base = Q_RAM_TOP - Q_STRIDE;
    struct sqe e;
    uint32_t err;

    q_enable(q, base, Q_WRAP_N);
    batch_entry(q, 0, &e);
    sqe_put(q, base, Q_WRAP_N, 0, &e);
    wr32(q, VGPU_REG_SQ_TAIL, 1);
    err = wait_reg(q, VGPU_REG_Q_ERROR, 1);
    check(err == VGPU_ERR_DMA_ERROR && rd32(q, VGPU_REG_Q_CTRL) == 0,
          "/qemu/queue/ring-past-top-of-ram-q_error-dma-error (Q_ERROR 0x%x)",
          err);
    check(mailbox_alive(q), "/qemu/queue/ring-past-top-qemu-still-running");
}

/* The guest rewrites the SQ entries it submitted and scribbles on the CQ
 * while the answers come back: the device took each entry whole when it
 * read it, so every completion carries the original tag and result. */
static void
test_queue_rewrite(struct qemu *q)
{
    unsigned ok = 0;
    uint32_t tail;
    struct sqe e;
    struct cqe c;

    q_enable(q, Q_BASE, Q_N);
    for (uint32_t i = 0; i < Q_REWRITE_N; i++) {
        batch_entry(q, 2u * i, &e); /* ECHOs, checked by batch_output_ok */
        e.tag = 2u * i;
        sqe_put(q, Q_BASE, Q_N, i, &e);
    }
    wr32(q, VGPU_REG_SQ_TAIL, Q_REWRITE_N);
    for (uint32_t i = 0; i < Q_REWRITE_N; i++) {
        memset(&e, 0, sizeof(e));
        e.in_addr = Q_OUTSIDE;
        e.in_len = VGPU_Q_MAX_XFER + 1u;
        e.tag = 0xdead;
        sqe_put(q, Q_BASE, Q_N, i, &e); /* too late: already taken */
        mem_set(q,
                Q_BASE + (uint64_t)Q_N * VGPU_Q_SQE_SIZE +
                    (uint64_t)(Q_REWRITE_N + i) * VGPU_Q_CQE_SIZE,
                VGPU_Q_CQE_SIZE, 0xee);
    }
    tail = wait_cq(q, Q_REWRITE_N);
    for (uint32_t slot = 0; slot < tail && slot < Q_REWRITE_N; slot++) {
        cqe_get(q, Q_BASE, Q_N, slot, &c);
        ok += c.tag % 2u == 0 && c.tag < 2u * Q_REWRITE_N &&
              c.status == VGPU_ERR_NONE && batch_output_ok(q, c.tag, c.out_len);
    }
    check(tail == Q_REWRITE_N && ok == Q_REWRITE_N,
          "/qemu/queue/ring-rewritten-while-in-flight (CQ_TAIL %u, %u "
          "intact)",
          tail, ok);
}

/* ---- Migration ---------------------------------------------------------- */

/* Entries in flight (pool C takes 1.5 s each) while the VM migrates: the
 * destination has the queue's registers and ends each entry with a CQ
 * entry of MEDIATOR_UNAVAILABLE; its next entry goes to the daemon. */
static void
test_queue_migration(const char *sock)
{
    char dev[PATH_MAX + 128];
    struct migration mig;
    unsigned unavailable = 0;
    struct qemu src;
    struct qemu dst;
    struct sqe e;
    struct cqe c;
    uint32_t head;
    uint32_t tail;
    bool done;

    snprintf(dev, sizeof(dev), Q_MIG_DEVICE, sock);
    migration_prepare(&mig, "qmigration");

    qemu_start_with(&src, "qmig-src", dev, true, mig.src_extra);
    qemu_setup(&src);
    bus_master(&src, true);
    q_enable(&src, Q_BASE, Q_MIG_N);
    for (uint32_t i = 0; i <= Q_MIG_BATCH; i++) {
        batch_entry(&src, 2u * i, &e); /* ECHOs; the last one waits */
        sqe_put(&src, Q_BASE, Q_MIG_N, i, &e);
    }
    wr32(&src, VGPU_REG_SQ_TAIL, Q_MIG_BATCH);
    /* Taken once the connection is up (HELLO_ACK). */
    head = wait_reg(&src, VGPU_REG_SQ_HEAD, Q_MIG_BATCH);
    done = migration_save(&mig);
    check(done && head == Q_MIG_BATCH && rd32(&src, VGPU_REG_CQ_TAIL) == 0,
          "/qemu/queue-migration/saved-with-%u-in-flight (SQ_HEAD %u)",
          Q_MIG_BATCH, head);
    qemu_stop(&src);

    qemu_start_with(&dst, "qmig-dst", dev, true, mig.dst_extra);
    dst.cfg = src.cfg;
    dst.bar = BAR0_ADDR; /* config space came with the VM */
    tail = wait_cq(&dst, Q_MIG_BATCH);
    check(rd32(&dst, VGPU_REG_Q_BASE_LO) == (uint32_t)Q_BASE &&
              rd32(&dst, VGPU_REG_Q_SIZE) == Q_MIG_N &&
              rd32(&dst, VGPU_REG_Q_CTRL) == VGPU_Q_CTRL_ENABLE &&
              rd32(&dst, VGPU_REG_SQ_HEAD) == Q_MIG_BATCH,
          "/qemu/queue-migration/registers-restored");
    for (uint32_t i = 0; i < tail && i < Q_MIG_BATCH; i++) {
        cqe_get(&dst, Q_BASE, Q_MIG_N, i, &c);
        unavailable += c.status == VGPU_ERR_MEDIATOR_UNAVAILABLE;
    }
    check(tail == Q_MIG_BATCH && unavailable == Q_MIG_BATCH,
          "/qemu/queue-migration/in-flight-end-mediator-unavailable (CQ_TAIL "
          "%u, %u of them)",
          tail, unavailable);
    wr32(&dst, VGPU_REG_CQ_HEAD, Q_MIG_BATCH);
    wr32(&dst, VGPU_REG_SQ_TAIL, Q_MIG_BATCH + 1u);
    tail = wait_cq(&dst, Q_MIG_BATCH + 1u);
    cqe_get(&dst, Q_BASE, Q_MIG_N, Q_MIG_BATCH, &c);
    check(tail == Q_MIG_BATCH + 1u && c.status == VGPU_ERR_NONE &&
              batch_output_ok(&dst, 2u * Q_MIG_BATCH, c.out_len),
          "/qemu/queue-migration/next-entry-succeeds (status 0x%x)", c.status);
    qemu_stop(&dst);
}

/* ---- Record and replay -------------------------------------------------- */

/* The trace QEMU recorded (trace=PATH) replays on vgpu-sim: every DMA,
 * frame and register read the same. Skipped without --sim. */
static void
replay_check(const char *name, const char *trace)
{
    char cmd[2 * PATH_MAX + 64];
    int st;

    if (g_sim == NULL) {
        printf("# %s: skipped (no --sim)\n", name);
        return;
    }
    snprintf(cmd, sizeof(cmd), "'%s' --replay '%s'", g_sim, trace);
    fflush(stdout);
    st = system(cmd);
    check(st == 0, "%s (vgpu-sim --replay: status %d)", name, st);
}

/* ---- The test ----------------------------------------------------------- */

void
test_queue(void)
{
    char sock[PATH_MAX];
    char log[PATH_MAX];
    char dev[2 * PATH_MAX + 128];
    char trace[PATH_MAX];
    struct qemu q;
    pid_t dpid;

    path_in_dir(sock, sizeof(sock), "queue.sock");
    path_in_dir(trace, sizeof(trace), "queue.trc");
    path_in_dir(log, sizeof(log), "queue-mediator.log");
    dpid = daemon_start(sock, log);
    snprintf(dev, sizeof(dev), Q_DEVICE, sock, trace);
    qemu_start(&q, "queue", dev, true);
    qemu_setup(&q);
    check_eq("/qemu/queue/capabilities-queue",
             rd32(&q, VGPU_REG_CAPABILITIES) & VGPU_CAP_QUEUE, VGPU_CAP_QUEUE);
    check_eq("/qemu/queue/q_max_xfer", rd32(&q, VGPU_REG_Q_MAX_XFER),
             VGPU_Q_MAX_XFER);
    bus_master(&q, true);

    test_queue_batch(&q);
    test_queue_bad_buffers(&q);
    test_queue_big(&q);
    test_queue_hazards(&q);
    test_queue_wrap_top(&q);
    test_queue_rewrite(&q);
    bad_ring(&q, "ring-outside-ram", Q_OUTSIDE, true);
    bad_ring(&q, "ring-on-own-bar0", BAR0_ADDR, true);
    bad_ring(&q, "bus-master-off", Q_BASE, false);
    qemu_stop(&q);
    replay_check("/qemu/queue/trace-replays", trace);

    test_queue_migration(sock);
    if (child_stop(dpid) != 0) {
        show_tail("daemon log", log);
        check(false, "/qemu/queue/daemon-exits-0");
    }
}
