/*
 * vgpu-dump: the 16 registers of a vgpu-stub by name, with their values in
 * hex and what they mean (SPEC.md section 3); with --buffers, the bytes of
 * the request and the response as REQUEST_LEN and RESPONSE_LEN count them.
 *
 * Reading a register has no side effect on the device, so a dump never
 * disturbs a request in flight. The tool writes nothing to BAR0 (except
 * IRQ_CTRL under --irq, as every client does).
 */
#include <stdio.h>
#include <string.h>

#include "common.h"
#include "vgpu/devmodel.h"

#define MEANING_LEN    160
#define HEX_PER_LINE   16u
#define OPT_BUFFERS    VGPU_TOOL_OPT_FIRST
#define TIMESTAMP_BITS 32u

struct dump_args {
    int buffers;
};

static int
handle_opt(void *ctx, int id, const char *arg)
{
    struct dump_args *a = ctx;

    (void)arg;
    if (id == OPT_BUFFERS) {
        a->buffers = 1;
    }
    return 0;
}

static const struct option dump_longopts[] = {
    {"buffers", no_argument, NULL, OPT_BUFFERS},
    {NULL, 0, NULL, 0},
};

static struct dump_args args;

static const struct vgpu_tool_desc desc = {
    .name = "vgpu-dump",
    .synopsis = "",
    .summary = "Print the 16 registers of a vgpu-stub device by name, with "
               "their values and meanings (and the 11 queue registers of a "
               "device with the queue).",
    .help = "Options:\n"
            "  --buffers           also print the request and response bytes\n"
            "                      (REQUEST_LEN and RESPONSE_LEN of them)\n",
    .longopts = dump_longopts,
    .handle = handle_opt,
    .ctx = &args,
};

/* What the value @v of the register at @off means, into @out. @regs holds
 * every register's value, for the ones read together (TIMESTAMP). */
static void
meaning(uint32_t off, uint32_t v, const uint32_t *regs, char *out, size_t len)
{
    const char *name;
    char caps[MEANING_LEN];
    uint64_t ts;

    out[0] = '\0';
    switch (off) {
    case VGPU_REG_DOORBELL:
        snprintf(out, len, "write-only (reads 0)");
        break;
    case VGPU_REG_STATUS:
        name = vgpu_tool_status_name(v);
        snprintf(out, len, "%s", name != NULL ? name : "invalid");
        break;
    case VGPU_REG_POOL_ID:
        if (vgpu_pool_valid(v)) {
            snprintf(out, len, "pool %c", (char)v);
        } else {
            snprintf(out, len, "invalid pool");
        }
        break;
    case VGPU_REG_PRIORITY:
        name = vgpu_prio_name(v);
        snprintf(out, len, "%s", name != NULL ? name : "invalid");
        break;
    case VGPU_REG_VM_ID:
        snprintf(out, len, "vm %u", v);
        break;
    case VGPU_REG_ERROR_CODE:
        snprintf(out, len, "%s", vgpu_tool_error_name(v));
        break;
    case VGPU_REG_REQUEST_LEN:
    case VGPU_REG_RESPONSE_LEN:
        snprintf(out, len, "%u bytes%s", v,
                 v > VGPU_BUF_SIZE ? " (over the buffer)" : "");
        break;
    case VGPU_REG_PROTOCOL_VER:
        snprintf(out, len, "version %u.%u", VGPU_TOOL_PROTO_MAJOR(v),
                 VGPU_TOOL_PROTO_MINOR(v));
        break;
    case VGPU_REG_CAPABILITIES:
        vgpu_tool_caps_str(v, caps, sizeof(caps));
        snprintf(out, len, "%s", caps);
        break;
    case VGPU_REG_IRQ_CTRL:
        snprintf(out, len, "completion interrupt %s",
                 v & VGPU_IRQ_CTRL_ENABLE ? "enabled" : "disabled");
        break;
    case VGPU_REG_IRQ_STATUS:
        snprintf(out, len, "%s",
                 v & VGPU_IRQ_STATUS_DONE ? "completion pending"
                                          : "no completion pending");
        break;
    case VGPU_REG_REQUEST_ID:
        snprintf(out, len, "request %u", v);
        break;
    case VGPU_REG_TIMESTAMP_LO:
        snprintf(out, len, "low half");
        break;
    case VGPU_REG_TIMESTAMP_HI:
        ts = (uint64_t)v << TIMESTAMP_BITS |
             regs[VGPU_REG_TIMESTAMP_LO / VGPU_REG_SIZE];
        snprintf(out, len, "completion time %llu ns", (unsigned long long)ts);
        break;
    case VGPU_REG_SCRATCH:
        snprintf(out, len, "free read/write");
        break;
    default:
        break;
    }
}

/* @len bytes of the buffer at @off, 16 to a line, as offset, hex, ASCII. */
static void
hexdump(const struct vgpu_bus_ops *ops, void *ctx, const char *title,
        uint32_t off, uint32_t len)
{
    uint8_t buf[VGPU_BUF_SIZE];

    if (len > VGPU_BUF_SIZE) {
        len = VGPU_BUF_SIZE;
    }
    printf("%s (%u bytes at 0x%03x):\n", title, len, off);
    if (len == 0) {
        return;
    }
    ops->read_buf(ctx, off, buf, len);
    for (uint32_t i = 0; i < len; i += HEX_PER_LINE) {
        uint32_t n = len - i < HEX_PER_LINE ? len - i : HEX_PER_LINE;

        printf("  0x%03x ", off + i);
        for (uint32_t j = 0; j < HEX_PER_LINE; j++) {
            if (j < n) {
                printf(" %02x", buf[i + j]);
            } else {
                printf("   ");
            }
        }
        printf("  |");
        for (uint32_t j = 0; j < n; j++) {
            uint8_t ch = buf[i + j];

            putchar(ch >= ' ' && ch < '\177' ? ch : '.');
        }
        printf("|\n");
    }
}

int
main(int argc, char **argv)
{
    uint32_t regs[VGPU_REG_COUNT];
    struct vgpu_tool_opts o;
    const struct vgpu_bus_ops *ops;
    struct vgpu_client *c;
    void *ctx = NULL;
    int first;

    first = vgpu_tool_parse(&desc, argc, argv, &o);
    if (first < argc) {
        vgpu_tool_usage_exit(&desc, "takes no operands");
    }
    c = vgpu_tool_open(&desc, &o);
    if (c == NULL) {
        return VGPU_TOOL_EXIT_FAIL;
    }
    ops = vgpu_bus(c, &ctx);
    /* Read all first, so that the lines show one moment. */
    for (uint32_t i = 0; i < VGPU_REG_COUNT; i++) {
        regs[i] = ops->read32(ctx, i * VGPU_REG_SIZE);
    }
    for (uint32_t i = 0; i < VGPU_REG_COUNT; i++) {
        uint32_t off = i * VGPU_REG_SIZE;
        char what[MEANING_LEN];
        const char *name = vgpu_reg_name(off);

        meaning(off, regs[i], regs, what, sizeof(what));
        printf("0x%03x %-12s 0x%08x  %s\n", off, name != NULL ? name : "?",
               regs[i], what);
    }
    /* The queue's registers (SPEC.md section 11), on a device that has
     * them: bare values, for a look at SQ_HEAD and CQ_TAIL. */
    if (regs[VGPU_REG_CAPABILITIES / VGPU_REG_SIZE] & VGPU_CAP_QUEUE) {
        for (uint32_t off = VGPU_Q_REG_OFFSET; off < VGPU_Q_REG_END;
             off += VGPU_REG_SIZE) {
            const char *name = vgpu_reg_name(off);

            printf("0x%03x %-14s 0x%08x\n", off, name != NULL ? name : "?",
                   ops->read32(ctx, off));
        }
    }
    if (args.buffers) {
        hexdump(ops, ctx, "request buffer", VGPU_REQ_BUF_OFFSET,
                regs[VGPU_REG_REQUEST_LEN / VGPU_REG_SIZE]);
        hexdump(ops, ctx, "response buffer", VGPU_RESP_BUF_OFFSET,
                regs[VGPU_REG_RESPONSE_LEN / VGPU_REG_SIZE]);
    }
    vgpu_close(c);
    return VGPU_TOOL_EXIT_OK;
}
