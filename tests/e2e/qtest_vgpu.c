/*
 * vgpu-qtest: the vgpu-stub QEMU device, driven through QEMU's qtest text
 * protocol, against a real vgpu-mediator and a scripted fake mediator.
 *
 *   vgpu-qtest [--qemu PATH] [--mediator PATH] [--sim PATH] [--root DIR]
 *
 * QEMU comes from $VGPU_QEMU (relative: from DIR, the source tree), else
 * --qemu (CMake passes VGPU_QEMU_BINARY);
 * the daemon from --mediator, else $VGPU_MEDIATOR. Without a QEMU binary
 * the test exits 77 ("SKIP: ..."). Each QEMU runs as
 *   -machine q35 -accel qtest -nodefaults -display none -qtest stdio
 *   -qtest-log /dev/null -L /usr/share/seabios -L /usr/share/qemu
 *   -device vgpu-stub,...
 * with its qtest on a pipe pair. -accel qtest matters: without it QEMU 7.2
 * runs the firmware under TCG, which moves BAR0 behind the test's back. The
 * test finds the device with config cycles (outl 0xcf8 / inl 0xcfc), sizes and
 * places BAR0, enables memory decoding, then reads and writes the registers.
 * QEMU's main loop runs between qtest commands, so the device's socket is
 * served while the test polls STATUS.
 *
 * One line per check ("ok NAME" or "FAIL NAME: ..."), then "N passed, M
 * failed". Everything lives in one mktemp-style directory that is removed
 * at exit; every child is killed at exit.
 */

#include "qtest.h"

/* ---- A scripted fake mediator (a thread in this process) ---------------- */

enum fake_mode {
    FAKE_ECHO,      /* PING first, then the request bytes back, split */
    FAKE_BIG,       /* a 2000-byte RESPONSE */
    FAKE_STATUS,    /* RESPONSE with BACKEND_ERROR and a message */
    FAKE_BAD_MAGIC, /* 32 bytes of garbage */
    FAKE_ERROR,     /* an ERROR frame, then close */
    FAKE_NO_ACK,    /* never answer HELLO */
};

#define FAKE_BIG_LEN 2000u
#define FAKE_MSG     "fake backend failed"
#define FAKE_REASON  "fake mediator: go away"

struct fake {
    int lfd;
    pthread_t thread;
    atomic_int mode;
    atomic_int conns;
    atomic_int pongs;
    atomic_int stop;
};

static int
fake_write(int fd, const uint8_t *p, size_t len)
{
    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

        if (n <= 0) {
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static int
fake_frame(int fd, uint16_t type, const struct vgpu_hdr *req, uint32_t status,
           const void *payload, size_t len)
{
    static uint8_t buf[VGPU_HDR_SIZE + FAKE_BIG_LEN];
    struct vgpu_hdr h;
    int n;

    vgpu_hdr_init(&h, type);
    h.vm_id = req->vm_id;
    h.request_id = req->request_id;
    h.pool_id = req->pool_id;
    h.priority = req->priority;
    h.status = status;
    n = vgpu_frame_encode(&h, payload, len, buf, sizeof(buf));
    return n < 0 ? -1 : fake_write(fd, buf, (size_t)n);
}

/* Answer one REQUEST as the mode says. Return -1 to close. */
static int
fake_request(struct fake *fk, int fd, const struct vgpu_frame *f)
{
    static const uint8_t big[FAKE_BIG_LEN];
    uint8_t buf[VGPU_HDR_SIZE + VGPU_BUF_SIZE];
    uint8_t garbage[VGPU_HDR_SIZE];
    struct vgpu_hdr h;
    int n;

    switch (atomic_load(&fk->mode)) {
    case FAKE_ECHO:
        if (fake_frame(fd, VGPU_MSG_PING, &f->hdr, 0, NULL, 0) < 0) {
            return -1;
        }
        h = f->hdr;
        h.type = VGPU_MSG_RESPONSE;
        n = vgpu_frame_encode(&h, f->payload, f->hdr.payload_len, buf,
                              sizeof(buf));
        /* In pieces: the device reassembles partial frames. */
        for (int i = 0; i < n; i += 7) {
            if (fake_write(fd, buf + i, (size_t)(n - i < 7 ? n - i : 7)) < 0) {
                return -1;
            }
            sleep_us(200);
        }
        return 0;
    case FAKE_BIG:
        return fake_frame(fd, VGPU_MSG_RESPONSE, &f->hdr, 0, big, sizeof(big));
    case FAKE_STATUS:
        return fake_frame(fd, VGPU_MSG_RESPONSE, &f->hdr,
                          VGPU_ERR_BACKEND_ERROR, FAKE_MSG, strlen(FAKE_MSG));
    case FAKE_BAD_MAGIC:
        memset(garbage, 'A', sizeof(garbage));
        fake_write(fd, garbage, sizeof(garbage));
        return 0; /* the device hangs up */
    case FAKE_ERROR:
        fake_frame(fd, VGPU_MSG_ERROR, &f->hdr, VGPU_ERR_REJECTED, FAKE_REASON,
                   strlen(FAKE_REASON));
        return -1;
    default:
        return 0;
    }
}

/* Serve one connection until it ends. */
static void
fake_serve(struct fake *fk, int fd)
{
    uint8_t payload[VGPU_BUF_SIZE];
    uint8_t ack[VGPU_HELLO_ACK_PAYLOAD_SIZE];
    uint8_t in[4096];
    struct vgpu_decoder dec;

    vgpu_decoder_init(&dec, payload, sizeof(payload), VGPU_BUF_SIZE);
    while (!atomic_load(&fk->stop)) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        size_t pos = 0;
        ssize_t n;

        if (poll(&p, 1, 100) <= 0) {
            continue;
        }
        n = read(fd, in, sizeof(in));
        if (n <= 0) {
            return;
        }
        while (pos < (size_t)n) {
            struct vgpu_frame f;
            size_t used = 0;
            int rc =
                vgpu_decoder_feed(&dec, in + pos, (size_t)n - pos, &used, &f);

            pos += used;
            if (rc < 0) {
                return;
            }
            if (rc == 0) {
                break;
            }
            if (f.hdr.type == VGPU_MSG_HELLO &&
                atomic_load(&fk->mode) != FAKE_NO_ACK) {
                vgpu_hello_ack_pack(ack, VGPU_CAPABILITIES, VGPU_BUF_SIZE);
                if (fake_frame(fd, VGPU_MSG_HELLO_ACK, &f.hdr, 0, ack,
                               sizeof(ack)) < 0) {
                    return;
                }
            } else if (f.hdr.type == VGPU_MSG_REQUEST) {
                if (fake_request(fk, fd, &f) < 0) {
                    return;
                }
            } else if (f.hdr.type == VGPU_MSG_PONG) {
                atomic_fetch_add(&fk->pongs, 1);
            }
        }
    }
}

static void *
fake_main(void *arg)
{
    struct fake *fk = arg;

    while (!atomic_load(&fk->stop)) {
        struct pollfd p = {.fd = fk->lfd, .events = POLLIN};
        int fd;

        if (poll(&p, 1, 100) <= 0) {
            continue;
        }
        fd = accept4(fk->lfd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0) {
            continue;
        }
        atomic_fetch_add(&fk->conns, 1);
        fake_serve(fk, fd);
        close(fd);
    }
    return NULL;
}

static void
fake_start(struct fake *fk, const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};

    memset(fk, 0, sizeof(*fk));
    if (snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path) >=
        (int)sizeof(sa.sun_path)) {
        fatal(NULL, "fake mediator socket path too long: %s", path);
    }
    fk->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fk->lfd < 0 || bind(fk->lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
        listen(fk->lfd, 8) < 0) {
        fatal(NULL, "fake mediator on %s: %s", path, strerror(errno));
    }
    if (pthread_create(&fk->thread, NULL, fake_main, fk) != 0) {
        fatal(NULL, "pthread_create failed");
    }
}

static void
fake_stop(struct fake *fk)
{
    atomic_store(&fk->stop, 1);
    pthread_join(fk->thread, NULL);
    close(fk->lfd);
}

/* ---- The checks --------------------------------------------------------- */

/* PCI identity, the register map and the buffers, on the seed's line. */
static void
test_identity_and_registers(void)
{
    struct qemu q;
    uint32_t sized;

    qemu_start(&q, "seed", SEED_DEVICE, true);
    sized = qemu_setup(&q);
    check(true, "/qemu/seed-line: -device " SEED_DEVICE " is created");
    check_eq("/qemu/pci/revision", cfg_read8(&q, q.cfg, PCI_REVISION_OFF),
             VGPU_PCI_REVISION);
    check_eq("/qemu/pci/class", cfg_read16(&q, q.cfg, PCI_CLASS_OFF),
             VGPU_PCI_CLASS);
    check_eq("/qemu/pci/interrupt-pin", cfg_read8(&q, q.cfg, PCI_INT_PIN_OFF),
             VGPU_PCI_INTERRUPT_PIN);
    check_eq("/qemu/pci/bar0-size", ~(sized & PCI_BAR_ADDR_MASK) + 1u,
             VGPU_BAR0_SIZE);
    check_eq("/qemu/pci/bar0-32bit-mem-nonprefetch", sized & PCI_BAR_FLAGS_MASK,
             0);
    check(msi_cap(&q) != 0, "/qemu/pci/msi-capability");

    check_eq("/qemu/regs/pool_id", rd32(&q, VGPU_REG_POOL_ID), 'B');
    check_eq("/qemu/regs/priority", rd32(&q, VGPU_REG_PRIORITY),
             VGPU_PRIO_HIGH);
    check_eq("/qemu/regs/vm_id", rd32(&q, VGPU_REG_VM_ID), 200);
    check_eq("/qemu/regs/protocol_ver", rd32(&q, VGPU_REG_PROTOCOL_VER),
             VGPU_PROTOCOL_VERSION);
    check_eq("/qemu/regs/capabilities", rd32(&q, VGPU_REG_CAPABILITIES),
             VGPU_CAPABILITIES | VGPU_CAP_QUEUE);
    check_eq("/qemu/regs/status-idle", rd32(&q, VGPU_REG_STATUS),
             VGPU_STATUS_IDLE);
    check_eq("/qemu/regs/doorbell-reads-0", rd32(&q, VGPU_REG_DOORBELL), 0);

    wr32(&q, VGPU_REG_SCRATCH, 0xdeadbeefu);
    check_eq("/qemu/regs/scratch", rd32(&q, VGPU_REG_SCRATCH), 0xdeadbeefu);
    wr32(&q, VGPU_REG_REQUEST_ID, 0x1234u);
    check_eq("/qemu/regs/request_id", rd32(&q, VGPU_REG_REQUEST_ID), 0x1234u);
    wr32(&q, VGPU_REG_IRQ_CTRL, 0xffffffffu);
    check_eq("/qemu/regs/irq_ctrl-mask", rd32(&q, VGPU_REG_IRQ_CTRL),
             VGPU_IRQ_CTRL_MASK | VGPU_IRQ_CTRL_QUEUE);
    wr32(&q, VGPU_REG_IRQ_CTRL, 0);

    wr32(&q, VGPU_REG_STATUS, VGPU_STATUS_DONE);
    wr32(&q, VGPU_REG_VM_ID, 7);
    wr32(&q, VGPU_REG_POOL_ID, 'Z');
    wr32(&q, VGPU_REG_PRIORITY, VGPU_PRIO_LOW);
    wr32(&q, VGPU_REG_PROTOCOL_VER, 0);
    wr32(&q, VGPU_REG_RESPONSE_LEN, 9);
    check(rd32(&q, VGPU_REG_STATUS) == VGPU_STATUS_IDLE &&
              rd32(&q, VGPU_REG_VM_ID) == 200 &&
              rd32(&q, VGPU_REG_POOL_ID) == 'B' &&
              rd32(&q, VGPU_REG_PRIORITY) == VGPU_PRIO_HIGH &&
              rd32(&q, VGPU_REG_PROTOCOL_VER) == VGPU_PROTOCOL_VERSION &&
              rd32(&q, VGPU_REG_RESPONSE_LEN) == 0,
          "/qemu/regs/ro-ignore-writes");

    check_eq("/qemu/regs/narrow-read-all-ones", rd(&q, 'w', VGPU_REG_SCRATCH),
             0xffffu);
    wr(&q, 'b', VGPU_REG_SCRATCH, 0x11);
    check_eq("/qemu/regs/narrow-write-ignored", rd32(&q, VGPU_REG_SCRATCH),
             0xdeadbeefu);

    /* Buffers: every byte of the request buffer, then its tail. */
    for (uint32_t i = 0; i < VGPU_BUF_SIZE; i += 8) {
        uint64_t v = 0;

        for (uint32_t b = 0; b < 8; b++) {
            v |= (uint64_t)((i + b) * 7u & 0xffu) << (8u * b);
        }
        wr(&q, 'q', REQ(i), v);
    }
    {
        bool all = true;

        for (uint32_t i = 0; i < VGPU_BUF_SIZE && all; i++) {
            all = rd(&q, 'b', REQ(i)) == ((i * 7u) & 0xffu);
        }
        check(all, "/qemu/buffers/request-1024-bytes-read-back");
    }
    wr32(&q, REQ(VGPU_BUF_SIZE - 3u), 0xa1b2c3d4u); /* offset 1021 */
    check_eq("/qemu/buffers/tail-1021-writel",
             rd32(&q, REQ(VGPU_BUF_SIZE - 4u)),
             0xb2c3d400u | ((((VGPU_BUF_SIZE - 4u) * 7u) & 0xffu)));
    check_eq("/qemu/buffers/tail-1022-readl", rd32(&q, REQ(VGPU_BUF_SIZE - 2u)),
             0xb2c3u);
    wr(&q, 'b', REQ(VGPU_BUF_SIZE - 1u), 0x5a);
    check_eq("/qemu/buffers/tail-1023-writeb", rd(&q, 'b', REQ(1023)), 0x5a);
    check_eq("/qemu/buffers/tail-does-not-leak-into-response",
             rd(&q, 'b', RESP(0)), 0);
    wr32(&q, RESP(0), 0x01020304u);
    check_eq("/qemu/buffers/response-ignores-writes", rd32(&q, RESP(0)), 0);
    check_eq("/qemu/buffers/reserved-reads-0", rd32(&q, VGPU_RESERVED_OFFSET),
             0);

    wr32(&q, VGPU_REG_REQUEST_LEN, 0);
    wr32(&q, VGPU_REG_DOORBELL, VGPU_DOORBELL_RING);
    check(rd32(&q, VGPU_REG_STATUS) == VGPU_STATUS_ERROR &&
              rd32(&q, VGPU_REG_ERROR_CODE) == VGPU_ERR_INVALID_LENGTH,
          "/qemu/doorbell/len-0-invalid-length");
    check_eq("/qemu/doorbell/irq_status-set",
             rd32(&q, VGPU_REG_IRQ_STATUS) & VGPU_IRQ_STATUS_DONE,
             VGPU_IRQ_STATUS_DONE);
    wr32(&q, VGPU_REG_IRQ_STATUS, VGPU_IRQ_STATUS_DONE);
    check_eq("/qemu/doorbell/irq_status-w1c", rd32(&q, VGPU_REG_IRQ_STATUS), 0);
    wr32(&q, VGPU_REG_REQUEST_LEN, VGPU_BUF_SIZE + 1u);
    wr32(&q, VGPU_REG_DOORBELL, VGPU_DOORBELL_RING);
    check(rd32(&q, VGPU_REG_STATUS) == VGPU_STATUS_ERROR &&
              rd32(&q, VGPU_REG_ERROR_CODE) == VGPU_ERR_INVALID_LENGTH,
          "/qemu/doorbell/len-1025-invalid-length");
    qemu_stop(&q);
}

/* Reset through the ICH9 reset register; wait until it happened (memory
 * decoding off again), then place BAR0 again. */
static void
system_reset(struct qemu *q)
{
    uint64_t end = now_ms() + WAIT_MS;

    qt(q, "outb 0x%x 0x%x", PCI_RESET_PORT, PCI_RESET_HARD);
    while (cfg_read16(q, q->cfg, PCI_COMMAND_OFF) & PCI_CMD_MEMORY) {
        if (now_ms() >= end) {
            fatal(q, "%s: the reset did not happen", q->name);
        }
        sleep_us(POLL_SLEEP_US);
    }
    qemu_setup(q);
}

/* The completion interrupt: INTx (seen in the PCI status register), then
 * MSI aimed at guest RAM, so that each message can be read back. */
static void
test_irq(struct qemu *q)
{
    uint8_t req[VGPU_OP_HDR_SIZE];
    uint32_t cap = msi_cap(q);
    uint32_t st;

    put_request(q, req, op_request(req, VGPU_OP_NOP, 0, NULL, 0));
    wr32(q, VGPU_REG_IRQ_CTRL, VGPU_IRQ_CTRL_ENABLE);
    wr32(q, VGPU_REG_DOORBELL, VGPU_DOORBELL_RING);
    st = wait_done(q, WAIT_MS);
    check(st == VGPU_STATUS_DONE &&
              (cfg_read16(q, q->cfg, PCI_STATUS_OFF) & PCI_STATUS_INTX),
          "/qemu/irq/intx-asserted-on-completion (status %u)", st);
    wr32(q, VGPU_REG_IRQ_STATUS, VGPU_IRQ_STATUS_DONE);
    check(!(cfg_read16(q, q->cfg, PCI_STATUS_OFF) & PCI_STATUS_INTX),
          "/qemu/irq/intx-deasserted-by-w1c");

    if (cap == 0) {
        check(false, "/qemu/irq/msi: no MSI capability");
        return;
    }
    cfg_write32(q, q->cfg, cap + PCI_MSI_ADDR_LO, MSI_TARGET);
    cfg_write32(q, q->cfg, cap + PCI_MSI_ADDR_HI, 0);
    cfg_write16(q, q->cfg, cap + PCI_MSI_DATA_64, MSI_DATA);
    cfg_write16(q, q->cfg, cap + PCI_MSI_FLAGS,
                cfg_read16(q, q->cfg, cap + PCI_MSI_FLAGS) | PCI_MSI_ENABLE);
    cfg_write16(q, q->cfg, PCI_COMMAND_OFF,
                cfg_read16(q, q->cfg, PCI_COMMAND_OFF) | PCI_CMD_MASTER);
    for (int round = 1; round <= 2; round++) {
        qt(q, "writel 0x%x 0", MSI_TARGET);
        wr32(q, VGPU_REG_DOORBELL, VGPU_DOORBELL_RING);
        st = wait_done(q, WAIT_MS);
        check(st == VGPU_STATUS_DONE &&
                  qt(q, "readl 0x%x", MSI_TARGET) == MSI_DATA &&
                  !(cfg_read16(q, q->cfg, PCI_STATUS_OFF) & PCI_STATUS_INTX),
              "/qemu/irq/msi-message-%d-no-intx (status %u)", round, st);
        wr32(q, VGPU_REG_IRQ_STATUS, VGPU_IRQ_STATUS_DONE);
    }
    cfg_write16(q, q->cfg, cap + PCI_MSI_FLAGS,
                cfg_read16(q, q->cfg, cap + PCI_MSI_FLAGS) & ~PCI_MSI_ENABLE);
    wr32(q, VGPU_REG_IRQ_CTRL, 0);
}

/*
 * Migration: the registers and buffers move with the VM; the connection does
 * not, so a request that was in flight ends in ERROR MEDIATOR_UNAVAILABLE on
 * the destination (the post_load hook).
 */
static void
test_migration(const char *sock)
{
    char dev[PATH_MAX + 128];
    struct migration mig;
    uint8_t req[VGPU_OP_HDR_SIZE + 3];
    uint64_t end;
    struct qemu src;
    struct qemu dst;
    bool done;
    uint32_t st;

    snprintf(dev, sizeof(dev),
             "vgpu-stub,pool_id=C,vm_id=202,timeout_ms=0,socket=%s", sock);
    migration_prepare(&mig, "migration");

    qemu_start_with(&src, "mig-src", dev, true, mig.src_extra);
    qemu_setup(&src);
    wr32(&src, VGPU_REG_SCRATCH, 0x77);
    wr32(&src, VGPU_REG_REQUEST_ID, 9);
    put_request(&src, req, op_request(req, VGPU_OP_ECHO, 3, "mig", 3));
    wr32(&src, VGPU_REG_DOORBELL, VGPU_DOORBELL_RING);
    st = rd32(&src, VGPU_REG_STATUS); /* the pool takes 1.5 s */
    done = migration_save(&mig);
    check(st == VGPU_STATUS_BUSY && done,
          "/qemu/migration/saved-while-busy (status %u)", st);
    qemu_stop(&src);

    qemu_start_with(&dst, "mig-dst", dev, true, mig.dst_extra);
    dst.bar = BAR0_ADDR; /* config space came with the VM */
    end = now_ms() + WAIT_MS;
    while (rd32(&dst, VGPU_REG_SCRATCH) != 0x77 && now_ms() < end) {
        sleep_us(POLL_SLEEP_US * 10);
    }
    check(rd32(&dst, VGPU_REG_SCRATCH) == 0x77 &&
              rd32(&dst, VGPU_REG_REQUEST_ID) == 9 &&
              rd32(&dst, VGPU_REG_REQUEST_LEN) == VGPU_OP_HDR_SIZE + 3u &&
              rd32(&dst, REQ(VGPU_OP_HDR_SIZE)) == 0x67696d,
          "/qemu/migration/registers-and-buffers-restored");
    check(rd32(&dst, VGPU_REG_STATUS) == VGPU_STATUS_ERROR &&
              rd32(&dst, VGPU_REG_ERROR_CODE) ==
                  VGPU_ERR_MEDIATOR_UNAVAILABLE &&
              rd32(&dst, VGPU_REG_IRQ_STATUS) == VGPU_IRQ_STATUS_DONE,
          "/qemu/migration/in-flight-ends-mediator-unavailable (status %u, "
          "error %u)",
          rd32(&dst, VGPU_REG_STATUS), rd32(&dst, VGPU_REG_ERROR_CODE));
    qemu_stop(&dst);
}

/* The real daemon: unreachable, then NOP/ECHO/ADD_I32, errors, restart. */
static void
test_mediator(void)
{
    uint8_t req[VGPU_BUF_SIZE];
    uint8_t resp[VGPU_BUF_SIZE];
    char sock[PATH_MAX];
    char log[PATH_MAX];
    char dev[PATH_MAX + 128];
    int32_t ab[2] = {100, 200};
    struct qemu q;
    uint64_t ts1;
    uint64_t ts2;
    uint32_t len;
    uint32_t st;
    pid_t dpid;

    path_in_dir(sock, sizeof(sock), "mediator.sock");
    path_in_dir(log, sizeof(log), "mediator.log");
    snprintf(dev, sizeof(dev), SEED_DEVICE ",socket=%s", sock);
    qemu_start(&q, "mediator", dev, true);
    qemu_setup(&q);

    len = op_request(req, VGPU_OP_NOP, 0, NULL, 0);
    put_request(&q, req, len);
    st = ring(&q);
    check(st == VGPU_STATUS_ERROR &&
              rd32(&q, VGPU_REG_ERROR_CODE) == VGPU_ERR_MEDIATOR_UNAVAILABLE,
          "/qemu/mediator/absent-mediator-unavailable (status %u, error %u)",
          st, rd32(&q, VGPU_REG_ERROR_CODE));

    dpid = daemon_start(sock, log);
    wr32(&q, VGPU_REG_REQUEST_ID, 0xabcd0001u);
    wr32(&q, VGPU_REG_DOORBELL, VGPU_DOORBELL_RING);
    st = wait_done(&q, WAIT_MS);
    check_eq("/qemu/mediator/nop-done", st, VGPU_STATUS_DONE);
    check_eq("/qemu/mediator/nop-response-len", rd32(&q, VGPU_REG_RESPONSE_LEN),
             0);
    check_eq("/qemu/mediator/request-id-kept", rd32(&q, VGPU_REG_REQUEST_ID),
             0xabcd0001u);
    check_eq("/qemu/mediator/irq_status-set", rd32(&q, VGPU_REG_IRQ_STATUS),
             VGPU_IRQ_STATUS_DONE);
    wr32(&q, VGPU_REG_IRQ_STATUS, VGPU_IRQ_STATUS_DONE);
    check_eq("/qemu/mediator/irq_status-w1c", rd32(&q, VGPU_REG_IRQ_STATUS), 0);
    ts1 = rd32(&q, VGPU_REG_TIMESTAMP_LO) |
          (uint64_t)rd32(&q, VGPU_REG_TIMESTAMP_HI) << 32;

    len = op_request(req, VGPU_OP_ECHO, 5, "hello", 5);
    put_request(&q, req, len);
    st = ring(&q);
    get_response(&q, resp, 5);
    check(st == VGPU_STATUS_DONE && rd32(&q, VGPU_REG_RESPONSE_LEN) == 5 &&
              memcmp(resp, "hello", 5) == 0,
          "/qemu/mediator/echo (status %u)", st);
    ts2 = rd32(&q, VGPU_REG_TIMESTAMP_LO) |
          (uint64_t)rd32(&q, VGPU_REG_TIMESTAMP_HI) << 32;
    check(ts2 > ts1 && ts1 > 0, "/qemu/mediator/timestamp-moves-forward");

    for (uint32_t i = 0; i < VGPU_ECHO_MAX_N; i++) {
        resp[i] = (uint8_t)(i * 13u + 1u);
    }
    len = op_request(req, VGPU_OP_ECHO, VGPU_ECHO_MAX_N, resp, VGPU_ECHO_MAX_N);
    put_request(&q, req, len);
    st = ring(&q);
    memset(req, 0, sizeof(req));
    get_response(&q, req, VGPU_ECHO_MAX_N);
    check(st == VGPU_STATUS_DONE &&
              rd32(&q, VGPU_REG_RESPONSE_LEN) == VGPU_ECHO_MAX_N &&
              memcmp(req, resp, VGPU_ECHO_MAX_N) == 0,
          "/qemu/mediator/echo-1016-bytes (status %u)", st);

    {
        uint8_t ops[8];

        vgpu_put_le32(ops, (uint32_t)ab[0]);
        vgpu_put_le32(ops + 4, (uint32_t)ab[1]);
        len = op_request(req, VGPU_OP_ADD_I32, 1, ops, sizeof(ops));
    }
    put_request(&q, req, len);
    st = ring(&q);
    check(st == VGPU_STATUS_DONE && rd32(&q, VGPU_REG_RESPONSE_LEN) == 4 &&
              rd32(&q, RESP(0)) == 300,
          "/qemu/mediator/add_i32-100+200=300 (status %u, got %u)", st,
          rd32(&q, RESP(0)));

    len = op_request(req, VGPU_OP_ECHO, 9, "x", 1); /* n says 9, has 1 */
    put_request(&q, req, len);
    st = ring(&q);
    check(st == VGPU_STATUS_ERROR &&
              rd32(&q, VGPU_REG_ERROR_CODE) == VGPU_ERR_INVALID_REQUEST &&
              rd32(&q, VGPU_REG_RESPONSE_LEN) > 0,
          "/qemu/mediator/invalid-request-with-message (status %u, error %u)",
          st, rd32(&q, VGPU_REG_ERROR_CODE));

    {
        uint8_t mkp[8];

        /* m = p = 17, k = 1: a 1156-byte result, refused by the daemon. */
        vgpu_put_le32(mkp, 1);
        vgpu_put_le32(mkp + 4, 17);
        len = op_request(req, VGPU_OP_MATMUL_F32, 17, mkp, sizeof(mkp));
        memset(req + len, 0, (17u + 17u) * VGPU_ELEM_SIZE);
        len += (17u + 17u) * VGPU_ELEM_SIZE;
    }
    put_request(&q, req, len);
    st = ring(&q);
    check(st == VGPU_STATUS_ERROR &&
              rd32(&q, VGPU_REG_ERROR_CODE) == VGPU_ERR_RESPONSE_TOO_LARGE,
          "/qemu/mediator/matmul-too-large (status %u, error %u)", st,
          rd32(&q, VGPU_REG_ERROR_CODE));

    test_irq(&q);
    test_migration(sock);

    /* Reset drops the connection; the next doorbell reconnects. */
    wr32(&q, VGPU_REG_SCRATCH, 5);
    system_reset(&q);
    check(rd32(&q, VGPU_REG_SCRATCH) == 0 &&
              rd32(&q, VGPU_REG_STATUS) == VGPU_STATUS_IDLE &&
              rd32(&q, VGPU_REG_REQUEST_LEN) == 0 && rd(&q, 'b', REQ(0)) == 0,
          "/qemu/reset/registers-and-buffers-cleared");
    len = op_request(req, VGPU_OP_NOP, 0, NULL, 0);
    put_request(&q, req, len);
    st = ring(&q);
    check_eq("/qemu/reset/reconnects", st, VGPU_STATUS_DONE);

    /* The daemon goes away, then comes back. */
    check_eq("/qemu/mediator/daemon-exits-0", child_stop(dpid), 0);
    st = ring(&q);
    check(st == VGPU_STATUS_ERROR &&
              rd32(&q, VGPU_REG_ERROR_CODE) == VGPU_ERR_MEDIATOR_UNAVAILABLE,
          "/qemu/mediator/gone-mediator-unavailable (status %u, error %u)", st,
          rd32(&q, VGPU_REG_ERROR_CODE));
    st = ring(&q);
    check(st == VGPU_STATUS_ERROR &&
              rd32(&q, VGPU_REG_ERROR_CODE) == VGPU_ERR_MEDIATOR_UNAVAILABLE,
          "/qemu/mediator/still-gone (status %u)", st);
    dpid = daemon_start(sock, log);
    st = ring(&q);
    check_eq("/qemu/mediator/back-reconnects", st, VGPU_STATUS_DONE);

    /* timeout_ms against a pool that takes longer; the late answer is
     * dropped. */
    {
        struct qemu slow;
        char sdev[PATH_MAX + 128];
        uint64_t t0;
        uint64_t took;

        snprintf(sdev, sizeof(sdev),
                 "vgpu-stub,pool_id=C,vm_id=201,timeout_ms=%u,socket=%s",
                 TIMEOUT_MS_PROP, sock);
        qemu_start(&slow, "slow", sdev, true);
        qemu_setup(&slow);
        len = op_request(req, VGPU_OP_ECHO, 3, "abc", 3);
        put_request(&slow, req, len);
        t0 = now_ms();
        wr32(&slow, VGPU_REG_DOORBELL, VGPU_DOORBELL_RING);
        st = wait_done(&slow, WAIT_MS);
        took = now_ms() - t0;
        check(st == VGPU_STATUS_ERROR &&
                  rd32(&slow, VGPU_REG_ERROR_CODE) == VGPU_ERR_TIMEOUT &&
                  took >= TIMEOUT_MS_PROP - 50u &&
                  took < TIMEOUT_DELAY_US / 1000u,
              "/qemu/timeout/error-timeout (status %u, error %u, %llu ms)", st,
              rd32(&slow, VGPU_REG_ERROR_CODE), (unsigned long long)took);
        sleep_us(TIMEOUT_DELAY_US + 300000u); /* the late answer arrives */
        check(rd32(&slow, VGPU_REG_STATUS) == VGPU_STATUS_ERROR &&
                  rd32(&slow, VGPU_REG_ERROR_CODE) == VGPU_ERR_TIMEOUT &&
                  rd32(&slow, VGPU_REG_RESPONSE_LEN) == 0,
              "/qemu/timeout/late-answer-dropped");

        /* A reset abandons the request in flight; its answer is lost. */
        put_request(&slow, req, len);
        wr32(&slow, VGPU_REG_DOORBELL, VGPU_DOORBELL_RING);
        st = rd32(&slow, VGPU_REG_STATUS);
        system_reset(&slow);
        check(st == VGPU_STATUS_BUSY &&
                  rd32(&slow, VGPU_REG_STATUS) == VGPU_STATUS_IDLE,
              "/qemu/reset/while-busy-idle (status before %u)", st);
        sleep_us(TIMEOUT_DELAY_US + 300000u);
        check(rd32(&slow, VGPU_REG_STATUS) == VGPU_STATUS_IDLE &&
                  rd32(&slow, VGPU_REG_RESPONSE_LEN) == 0,
              "/qemu/reset/while-busy-answer-never-lands");
        qemu_stop(&slow);
    }
    check_eq("/qemu/mediator/daemon-exits-0-again", child_stop(dpid), 0);
    qemu_stop(&q);
}

/* The transport's edge cases against the scripted fake mediator. */
static void
test_fake_mediator(void)
{
    uint8_t req[64];
    uint8_t resp[64];
    char sock[PATH_MAX];
    char dev[PATH_MAX + 128];
    struct fake fk;
    struct qemu q;
    uint64_t t0;
    uint32_t st;

    path_in_dir(sock, sizeof(sock), "fake.sock");
    fake_start(&fk, sock);
    snprintf(dev, sizeof(dev), "vgpu-stub,vm_id=300,timeout_ms=5000,socket=%s",
             sock);
    qemu_start(&q, "fake", dev, true);
    qemu_setup(&q);
    for (uint32_t i = 0; i < 12; i++) {
        req[i] = (uint8_t)(0xc0u + i);
    }
    put_request(&q, req, 12);

    atomic_store(&fk.mode, FAKE_ECHO);
    st = ring(&q);
    get_response(&q, resp, 12);
    check(st == VGPU_STATUS_DONE && rd32(&q, VGPU_REG_RESPONSE_LEN) == 12 &&
              memcmp(resp, req, 12) == 0,
          "/qemu/transport/split-frames-reassembled (status %u)", st);
    t0 = now_ms();
    while (atomic_load(&fk.pongs) < 1 && now_ms() - t0 < WAIT_MS) {
        sleep_us(POLL_SLEEP_US);
    }
    check(atomic_load(&fk.pongs) >= 1, "/qemu/transport/ping-answered");

    atomic_store(&fk.mode, FAKE_BIG);
    st = ring(&q);
    check(st == VGPU_STATUS_ERROR &&
              rd32(&q, VGPU_REG_ERROR_CODE) == VGPU_ERR_RESPONSE_TOO_LARGE &&
              rd32(&q, VGPU_REG_RESPONSE_LEN) == 0,
          "/qemu/transport/2000-byte-response-too-large (status %u, error %u)",
          st, rd32(&q, VGPU_REG_ERROR_CODE));
    atomic_store(&fk.mode, FAKE_ECHO);
    st = ring(&q);
    check(st == VGPU_STATUS_DONE && atomic_load(&fk.conns) == 1,
          "/qemu/transport/connection-kept-after-too-large (status %u, "
          "connections %d)",
          st, atomic_load(&fk.conns));

    atomic_store(&fk.mode, FAKE_STATUS);
    st = ring(&q);
    check(st == VGPU_STATUS_ERROR &&
              rd32(&q, VGPU_REG_ERROR_CODE) == VGPU_ERR_BACKEND_ERROR &&
              response_says(&q, FAKE_MSG),
          "/qemu/transport/error-status-with-message (status %u, error %u)", st,
          rd32(&q, VGPU_REG_ERROR_CODE));

    atomic_store(&fk.mode, FAKE_BAD_MAGIC);
    st = ring(&q);
    check(st == VGPU_STATUS_ERROR &&
              rd32(&q, VGPU_REG_ERROR_CODE) == VGPU_ERR_PROTOCOL_ERROR,
          "/qemu/transport/bad-magic-protocol-error (status %u, error %u)", st,
          rd32(&q, VGPU_REG_ERROR_CODE));
    atomic_store(&fk.mode, FAKE_ECHO);
    put_request(&q, req, 12);
    st = ring(&q);
    check(st == VGPU_STATUS_DONE && atomic_load(&fk.conns) == 2,
          "/qemu/transport/reconnect-after-protocol-error (status %u, "
          "connections %d)",
          st, atomic_load(&fk.conns));

    atomic_store(&fk.mode, FAKE_ERROR);
    st = ring(&q);
    check(st == VGPU_STATUS_ERROR &&
              rd32(&q, VGPU_REG_ERROR_CODE) == VGPU_ERR_MEDIATOR_UNAVAILABLE &&
              response_says(&q, FAKE_REASON),
          "/qemu/transport/error-frame-unavailable-with-reason (status %u, "
          "error %u)",
          st, rd32(&q, VGPU_REG_ERROR_CODE));

    atomic_store(&fk.mode, FAKE_NO_ACK);
    put_request(&q, req, 12);
    t0 = now_ms();
    st = ring(&q);
    check(st == VGPU_STATUS_ERROR &&
              rd32(&q, VGPU_REG_ERROR_CODE) == VGPU_ERR_MEDIATOR_UNAVAILABLE &&
              now_ms() - t0 >= HANDSHAKE_BOUND_MS - 100u,
          "/qemu/transport/no-hello-ack-bounded (status %u, error %u, "
          "%llu ms)",
          st, rd32(&q, VGPU_REG_ERROR_CODE),
          (unsigned long long)(now_ms() - t0));
    atomic_store(&fk.mode, FAKE_ECHO);
    st = ring(&q);
    check_eq("/qemu/transport/reconnect-after-no-ack", st, VGPU_STATUS_DONE);

    {
        int before = atomic_load(&fk.conns);

        system_reset(&q);
        put_request(&q, req, 12);
        st = ring(&q);
        check(st == VGPU_STATUS_DONE && atomic_load(&fk.conns) == before + 1,
              "/qemu/reset/drops-the-connection (status %u, connections %d "
              "-> %d)",
              st, before, atomic_load(&fk.conns));
    }

    qemu_stop(&q);
    fake_stop(&fk);
}

/* A bad property: QEMU exits non-zero, naming the property. */
static void
bad_property(const char *name, const char *device, const char *needle)
{
    char text[4096];
    struct qemu q;
    size_t n = 0;
    FILE *f;
    int st;

    qemu_start(&q, "bad", device, false);
    close(q.in_fd);
    close(q.out_fd);
    st = child_wait(q.pid, WAIT_MS);
    if (st == -1) {
        child_stop(q.pid);
    }
    f = fopen(q.errlog, "r");
    if (f != NULL) {
        n = fread(text, 1, sizeof(text) - 1, f);
        fclose(f);
    }
    text[n] = '\0';
    text[strcspn(text, "\n")] = '\0';
    check(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) != 0 &&
              strstr(text, needle) != NULL,
          "%s: '%s'", name, text);
}

static void
test_bad_properties(void)
{
    bad_property("/qemu/props/priority-urgent",
                 "vgpu-stub,priority=urgent,vm_id=1",
                 "priority 'urgent' is not one of low, medium, high");
    bad_property("/qemu/props/pool_id-AB", "vgpu-stub,pool_id=AB,vm_id=1",
                 "pool_id 'AB' must be one letter A-Z");
    bad_property("/qemu/props/vm_id-missing", "vgpu-stub",
                 "vm_id is required (1..4294967295, in decimal without a "
                 "leading zero)");
    bad_property("/qemu/props/vm_id-leading-zero", "vgpu-stub,vm_id=012",
                 "vm_id '012' is not 1..4294967295");
    bad_property("/qemu/props/vm_id-too-big", "vgpu-stub,vm_id=4294967296",
                 "vm_id");
    bad_property("/qemu/props/timeout_ms-too-big",
                 "vgpu-stub,vm_id=1,timeout_ms=3600001",
                 "timeout_ms 3600001 is not in 0..3600000");
}

static bool
executable(const char *path)
{
    return path != NULL && path[0] != '\0' && access(path, X_OK) == 0;
}

int
main(int argc, char **argv)
{
    static char env_qemu[PATH_MAX];
    const char *qemu_arg = NULL;
    const char *root = NULL;
    const char *tmp = getenv("TMPDIR");

    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--qemu") == 0) {
            qemu_arg = argv[i + 1];
        } else if (strcmp(argv[i], "--mediator") == 0) {
            g_mediator = argv[i + 1];
        } else if (strcmp(argv[i], "--sim") == 0) {
            g_sim = argv[i + 1];
        } else if (strcmp(argv[i], "--root") == 0) {
            root = argv[i + 1];
        } else {
            fprintf(stderr,
                    "usage: %s [--qemu PATH] [--mediator PATH] [--sim PATH] "
                    "[--root DIR]\n",
                    argv[0]);
            return 2;
        }
    }
    g_qemu = getenv("VGPU_QEMU");
    if (g_qemu != NULL && g_qemu[0] != '\0' && g_qemu[0] != '/' &&
        root != NULL) {
        snprintf(env_qemu, sizeof(env_qemu), "%s/%s", root, g_qemu);
        g_qemu = env_qemu;
    }
    if (!executable(g_qemu)) {
        g_qemu = qemu_arg;
    }
    if (!executable(g_qemu)) {
        printf("SKIP: no QEMU with vgpu-stub built (run ci/qemu-build.sh)\n");
        return SKIP_RC;
    }
    if (g_mediator == NULL) {
        g_mediator = getenv("VGPU_MEDIATOR");
    }
    if (!executable(g_mediator)) {
        printf("SKIP: no vgpu-mediator (--mediator PATH or VGPU_MEDIATOR)\n");
        return SKIP_RC;
    }
    if (access("/usr/share/seabios/bios-256k.bin", R_OK) != 0) {
        printf("SKIP: no /usr/share/seabios/bios-256k.bin (install seabios)\n");
        return SKIP_RC;
    }
    signal(SIGPIPE, SIG_IGN);
    snprintf(g_dir, sizeof(g_dir), "%s/vgpu-qtest.XXXXXX",
             tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp");
    if (mkdtemp(g_dir) == NULL) {
        fprintf(stderr, "mkdtemp %s: %s\n", g_dir, strerror(errno));
        return 1;
    }
    atexit(cleanup);
    printf("QEMU %s, mediator %s, dir %s\n", g_qemu, g_mediator, g_dir);

    test_bad_properties();
    test_identity_and_registers();
    test_mediator();
    test_fake_mediator();
    test_queue();

    printf("%u passed, %u failed\n", g_pass, g_fail);
    return g_fail == 0 ? 0 : 1;
}
