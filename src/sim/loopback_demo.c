/*
 * vgpu-loopback-demo: one device model, one doorbell at a time, and a
 * loopback transport in place of the mediator.
 *
 * The transport is real protocol code: it encodes each request as a REQUEST
 * frame, runs it through the streaming decoder one byte at a time, validates
 * the operation with vgpu_op_validate(), and answers with an encoded RESPONSE
 * frame that is decoded again before it reaches vgpu_dev_complete(). It
 * executes only NOP and ECHO; the other operations belong to the mediator's
 * backends, so it answers them with BACKEND_ERROR and a message.
 */
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vgpu/devmodel.h"
#include "vgpu/proto.h"

struct loopback {
    struct vgpu_dev dev;
    uint64_t clock_ns;
    int irq_level;
    int verbose;
    uint8_t frame[VGPU_HDR_SIZE + VGPU_BUF_SIZE];
    uint8_t payload[VGPU_BUF_SIZE];
};

/* Run @len bytes of @wire through a fresh decoder, one byte at a time, the
 * hardest split a socket can produce. Return: 1 and @out filled, or <0. */
static int
decode_bytewise(struct loopback *lb, const uint8_t *wire, size_t len,
                struct vgpu_frame *out)
{
    struct vgpu_decoder dec;
    int rc = 0;

    vgpu_decoder_init(&dec, lb->payload, sizeof(lb->payload), VGPU_BUF_SIZE);
    for (size_t i = 0; i < len && rc == 0; i++) {
        size_t used;

        rc = vgpu_decoder_feed(&dec, wire + i, 1, &used, out);
    }
    return rc;
}

/* The mediator's half: answer one REQUEST frame with a RESPONSE frame. */
static int
answer(struct loopback *lb, const struct vgpu_frame *req, uint8_t *wire,
       size_t cap)
{
    struct vgpu_op_desc op;
    struct vgpu_hdr h;
    char why[160];
    const void *body = NULL;
    size_t body_len = 0;

    vgpu_hdr_init(&h, VGPU_MSG_RESPONSE);
    h.vm_id = req->hdr.vm_id;
    h.request_id = req->hdr.request_id;
    h.pool_id = req->hdr.pool_id;
    h.priority = req->hdr.priority;
    if (vgpu_op_validate(req->payload, req->hdr.payload_len, &op, why,
                         sizeof(why)) != 0) {
        h.status = VGPU_ERR_INVALID_REQUEST;
    } else if (op.op == VGPU_OP_NOP || op.op == VGPU_OP_ECHO) {
        body = op.operands;
        body_len = op.operands_len;
    } else {
        h.status = VGPU_ERR_BACKEND_ERROR;
        snprintf(why, sizeof(why),
                 "%s: the loopback transport runs only NOP and ECHO",
                 vgpu_op_name(op.op));
    }
    if (h.status != VGPU_ERR_NONE) {
        body = why;
        body_len = strlen(why);
    }
    return vgpu_frame_encode(&h, body, body_len, wire, cap);
}

static int
loopback_submit(void *opaque, const struct vgpu_request *req)
{
    struct loopback *lb = opaque;
    struct vgpu_frame in, out;
    struct vgpu_hdr h;
    uint8_t copy[VGPU_BUF_SIZE];
    int n;

    vgpu_hdr_init(&h, VGPU_MSG_REQUEST);
    h.vm_id = req->vm_id;
    h.request_id = req->request_id;
    h.pool_id = req->pool_id;
    h.priority = req->priority;
    n = vgpu_frame_encode(&h, req->data, req->len, lb->frame,
                          sizeof(lb->frame));
    if (n < 0 || decode_bytewise(lb, lb->frame, (size_t)n, &in) != 1) {
        return VGPU_ERR_PROTOCOL_ERROR;
    }
    if (lb->verbose) {
        printf("  transport: REQUEST frame, %d bytes on the wire\n", n);
    }
    /* The decoded payload lives in lb->payload; copy it before reusing it. */
    memcpy(copy, in.payload, in.hdr.payload_len);
    in.payload = copy;

    lb->clock_ns += 1500; /* a pretend round trip */
    n = answer(lb, &in, lb->frame, sizeof(lb->frame));
    if (n < 0 || decode_bytewise(lb, lb->frame, (size_t)n, &out) != 1) {
        return VGPU_ERR_PROTOCOL_ERROR;
    }
    vgpu_dev_complete(&lb->dev, req->generation, out.hdr.request_id,
                      out.hdr.status, out.payload, out.hdr.payload_len);
    return 0;
}

static void
loopback_set_irq(void *opaque, int level)
{
    struct loopback *lb = opaque;

    lb->irq_level = level;
}

static uint64_t
loopback_now(void *opaque)
{
    struct loopback *lb = opaque;

    return lb->clock_ns;
}

static void
loopback_guest_error(void *opaque, const char *what)
{
    const struct loopback *lb = opaque;

    if (lb->verbose) {
        printf("  guest error: %s\n", what);
    }
}

static const struct vgpu_dev_ops loopback_ops = {
    .submit = loopback_submit,
    .set_irq = loopback_set_irq,
    .now_ns = loopback_now,
    .guest_error = loopback_guest_error,
};

/* ---- The guest's side ---------------------------------------------------- */

static void
write_request(struct vgpu_dev *dev, const uint8_t *req, size_t len, uint32_t id)
{
    for (size_t i = 0; i < len; i++) {
        vgpu_dev_mmio_write(dev, VGPU_REQ_BUF_OFFSET + i, req[i], 1);
    }
    vgpu_dev_mmio_write(dev, VGPU_REG_REQUEST_LEN, len, VGPU_REG_SIZE);
    vgpu_dev_mmio_write(dev, VGPU_REG_REQUEST_ID, id, VGPU_REG_SIZE);
    vgpu_dev_mmio_write(dev, VGPU_REG_DOORBELL, VGPU_DOORBELL_RING,
                        VGPU_REG_SIZE);
}

static void
dump(struct loopback *lb)
{
    static const char *const status[] = {"IDLE", "BUSY", "DONE", "ERROR"};
    struct vgpu_dev *dev = &lb->dev;
    uint32_t len;

    if (!lb->verbose) {
        return;
    }
    for (uint64_t off = 0; off < VGPU_REG_SPACE_END; off += VGPU_REG_SIZE) {
        uint32_t v = (uint32_t)vgpu_dev_mmio_read(dev, off, VGPU_REG_SIZE);

        printf("  0x%03x %-13s 0x%08x", (unsigned)off, vgpu_reg_name(off), v);
        if (off == VGPU_REG_STATUS && v < 4) {
            printf("  %s", status[v]);
        } else if (off == VGPU_REG_ERROR_CODE) {
            printf("  %s", vgpu_strerror((int)v));
        } else if (off == VGPU_REG_POOL_ID) {
            printf("  '%c'", (char)v);
        }
        printf("\n");
    }
    len =
        (uint32_t)vgpu_dev_mmio_read(dev, VGPU_REG_RESPONSE_LEN, VGPU_REG_SIZE);
    printf("  response (%u bytes): \"", len);
    for (uint32_t i = 0; i < len && i < 80; i++) {
        int c = (int)vgpu_dev_mmio_read(dev, VGPU_RESP_BUF_OFFSET + i, 1);
        putchar(c >= 32 && c < 127 ? c : '.');
    }
    printf("\"\n  interrupt line: %d\n\n", lb->irq_level);
}

static size_t
make_request(uint8_t *buf, uint32_t op, uint32_t n, const void *operands,
             size_t len)
{
    vgpu_put_le32(buf, op);
    vgpu_put_le32(buf + 4, n);
    memcpy(buf + VGPU_OP_HDR_SIZE, operands, len);
    return VGPU_OP_HDR_SIZE + len;
}

/* A line of the walk-through, unless --quiet. */
static void note(const struct loopback *lb, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
note(const struct loopback *lb, const char *fmt, ...)
{
    va_list ap;

    if (!lb->verbose) {
        return;
    }
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
}

static void
usage(FILE *out, const char *argv0)
{
    fprintf(out,
            "usage: %s [--vm-id N] [--pool L] [--quiet]\n"
            "Rings the doorbell of one vgpu-stub device model three times\n"
            "(ECHO, a zero REQUEST_LEN, ADD_I32) through a loopback\n"
            "transport that encodes and decodes real frames, and prints the\n"
            "registers after each.\n"
            "\n"
            "Options:\n"
            "  --vm-id N    the device's vm_id, " VGPU_VM_ID_SPELLING
            " (default 1)\n"
            "  --pool L     its pool, one letter A-Z (default A)\n"
            "  --quiet      print nothing unless a step fails\n"
            "  --help       print this text and exit\n"
            "  --version    print the version and exit\n"
            "\n"
            "Exit status: 0 every step did what it should, 1 a step did "
            "not,\n"
            "2 bad usage.\n",
            argv0);
}

int
main(int argc, char **argv)
{
    static struct loopback lb;
    static const struct option longopts[] = {
        {"vm-id", required_argument, NULL, 'v'},
        {"pool", required_argument, NULL, 'p'},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    struct vgpu_dev_config cfg = {
        .pool_id = VGPU_DEFAULT_POOL, .priority = VGPU_PRIO_HIGH, .vm_id = 1};
    static const char hello[] = "hello, vgpu";
    uint8_t req[VGPU_BUF_SIZE];
    int32_t ab[2] = {100, 200};
    uint8_t ab_le[8];
    int c, failures = 0;

    lb.verbose = 1;
    while ((c = getopt_long(argc, argv, "v:p:qh", longopts, NULL)) != -1) {
        switch (c) {
        case 'v':
            if (vgpu_vm_id_parse(optarg, strlen(optarg), &cfg.vm_id) < 0) {
                fprintf(stderr, "--vm-id: '%s' is not %s\n", optarg,
                        VGPU_VM_ID_SPELLING);
                return 2;
            }
            break;
        case 'p':
            if (vgpu_pool_parse(optarg, strlen(optarg), 0, &cfg.pool_id) < 0) {
                fprintf(stderr, "--pool: expected one letter A-Z, got '%s'\n",
                        optarg);
                return 2;
            }
            break;
        case 'q':
            lb.verbose = 0;
            break;
        case 'h':
            usage(stdout, argv[0]);
            return 0;
        case 'V':
            printf("vgpu-loopback-demo %s\n", VGPU_VERSION_STRING);
            return 0;
        default:
            usage(stderr, argv[0]);
            return 2;
        }
    }
    if (optind != argc) {
        usage(stderr, argv[0]);
        return 2;
    }
    if (vgpu_dev_init(&lb.dev, &cfg, &loopback_ops, &lb) != 0) {
        fprintf(stderr, "device model refused its configuration\n");
        return 1;
    }
    vgpu_dev_mmio_write(&lb.dev, VGPU_REG_IRQ_CTRL, VGPU_IRQ_CTRL_ENABLE,
                        VGPU_REG_SIZE);

    note(&lb, "1. ECHO \"%s\", request id 1\n", hello);
    write_request(&lb.dev, req,
                  make_request(req, VGPU_OP_ECHO, sizeof(hello) - 1, hello,
                               sizeof(hello) - 1),
                  1);
    dump(&lb);
    failures += lb.dev.status != VGPU_STATUS_DONE;
    vgpu_dev_mmio_write(&lb.dev, VGPU_REG_IRQ_STATUS, VGPU_IRQ_STATUS_DONE,
                        VGPU_REG_SIZE);

    note(&lb, "2. REQUEST_LEN 0, request id 2: refused by the device itself\n");
    vgpu_dev_mmio_write(&lb.dev, VGPU_REG_REQUEST_LEN, 0, VGPU_REG_SIZE);
    vgpu_dev_mmio_write(&lb.dev, VGPU_REG_REQUEST_ID, 2, VGPU_REG_SIZE);
    vgpu_dev_mmio_write(&lb.dev, VGPU_REG_DOORBELL, VGPU_DOORBELL_RING,
                        VGPU_REG_SIZE);
    dump(&lb);
    failures += lb.dev.error_code != VGPU_ERR_INVALID_LENGTH;
    vgpu_dev_mmio_write(&lb.dev, VGPU_REG_IRQ_STATUS, VGPU_IRQ_STATUS_DONE,
                        VGPU_REG_SIZE);

    note(&lb, "3. ADD_I32 100 + 200 with one byte missing, request id 3\n");
    vgpu_put_le32(ab_le, (uint32_t)ab[0]);
    vgpu_put_le32(ab_le + 4, (uint32_t)ab[1]);
    write_request(&lb.dev, req, make_request(req, VGPU_OP_ADD_I32, 1, ab_le, 7),
                  3);
    dump(&lb);
    failures += lb.dev.error_code != VGPU_ERR_INVALID_REQUEST;

    vgpu_dev_fini(&lb.dev);
    /* --quiet: silent when every step passed. */
    if (lb.verbose || failures > 0) {
        fprintf(lb.verbose ? stdout : stderr, "%d passed, %d failed\n",
                3 - failures, failures);
    }
    return failures ? 1 : 0;
}
