/*
 * vgpu-trace: print a trace recorded by QEMU's vgpu-stub (trace=PATH) as
 * text, one line per event, filtered by type and time range.
 *
 *   vgpu-trace [--type LIST] [--from MS] [--to MS] PATH
 *
 * Each line: the event's number, its byte offset, the time since the
 * trace began, its type and its fields (docs/trace-format.md). A trace
 * that does not decode stops the listing with the byte offset and the
 * reason, and exit 1 (2 is bad usage).
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vgpu/devmodel.h"
#include "vgpu/proto.h"
#include "vgpu/trace.h"

#define PROG           "vgpu-trace"
#define NS_PER_MS      1e6
#define TEXT_SHOWN     120u /* characters of a reason shown */
#define EXIT_BAD_USAGE 2
#define EXIT_BAD_TRACE 1

static void
usage(FILE *f)
{
    fprintf(
        f, "usage: " PROG " [--type LIST] [--from MS] [--to MS] PATH\n"
           "Print a vgpu-stub trace (QEMU's trace=PATH) as text, one line "
           "per\n"
           "event: number, byte offset, ms since the start, type, fields.\n"
           "\n"
           "  --type LIST  only these types, comma-separated (any case):\n"
           "               mmio_read, mmio_write, frame_out, frame_in,\n"
           "               dma_read, dma_write, clock, irq, connect, conn_up,\n"
           "               lost, link_lost, timeout, kick, reset, defer, "
           "load\n"
           "  --from MS    only events at or after MS milliseconds\n"
           "  --to MS      only events before MS milliseconds\n"
           "  --version    print the version and exit\n"
           "  --help\n"
           "\n"
           "Exit status: 0 listed, 1 a trace that cannot be read or does "
           "not\n"
           "decode (the byte offset is printed), 2 bad usage.\n"
           "docs/trace-format.md has the format.\n");
}

static void __attribute__((noreturn))
bad_usage(const char *what, const char *arg)
{
    fprintf(stderr, PROG ": %s '%s' (see --help)\n", what, arg);
    exit(EXIT_BAD_USAGE);
}

static double
parse_ms(const char *flag, const char *s)
{
    char *end;
    double v;

    errno = 0;
    v = strtod(s, &end);
    if (errno != 0 || end == s || *end != '\0' || v < 0) {
        bad_usage(flag, s);
    }
    return v;
}

static unsigned
parse_types(const char *list)
{
    char copy[256];
    unsigned mask = 0;
    char *save = NULL;

    if (strlen(list) >= sizeof(copy)) {
        bad_usage("--type: too long", list);
    }
    strcpy(copy, list);
    for (char *t = strtok_r(copy, ",", &save); t != NULL;
         t = strtok_r(NULL, ",", &save)) {
        int type = vgpu_trace_type_parse(t);

        if (type < 0) {
            bad_usage("--type: no such event type", t);
        }
        mask |= 1u << type;
    }
    return mask;
}

static uint8_t *
load(const char *path, size_t *len)
{
    uint8_t *buf = NULL;
    int rc = vgpu_trace_read_file(path, &buf, len);

    if (rc < 0) {
        fprintf(stderr, PROG ": %s: %s\n", path,
                rc == -EINVAL ? "not a regular file" : strerror(-rc));
        exit(EXIT_BAD_TRACE);
    }
    return buf;
}

/* A frame piece: its header when it starts with one, else its length. */
static void
print_frame(const struct vgpu_trace_event *ev)
{
    struct vgpu_hdr h;

    if (ev->len >= VGPU_HDR_SIZE) {
        vgpu_hdr_unpack(ev->payload, &h);
        if (h.magic == VGPU_PROTO_MAGIC) {
            printf(" %u bytes: type=%u vm=%u req=0x%x len=%u status=%u",
                   (unsigned)ev->len, (unsigned)h.type, (unsigned)h.vm_id,
                   (unsigned)h.request_id, (unsigned)h.payload_len,
                   (unsigned)h.status);
            return;
        }
    }
    printf(" %u bytes (payload)", (unsigned)ev->len);
}

static void
print_event(unsigned long n, size_t off, const struct vgpu_trace_header *th,
            const struct vgpu_trace_event *ev)
{
    const char *reg;

    printf("#%lu @%zu +%.6fms %s", n, off,
           (double)(ev->t - th->start_ns) / NS_PER_MS,
           vgpu_trace_type_name(ev->type));
    switch (ev->type) {
    case VGPU_TRACE_MMIO_READ:
    case VGPU_TRACE_MMIO_WRITE:
        reg = vgpu_reg_name(ev->a);
        printf(" off=0x%03llx%s%s%s size=%u %s=0x%llx",
               (unsigned long long)ev->a, reg ? " (" : "", reg ? reg : "",
               reg ? ")" : "", (unsigned)ev->size,
               ev->type == VGPU_TRACE_MMIO_READ ? "read" : "val",
               (unsigned long long)ev->b);
        break;
    case VGPU_TRACE_FRAME_OUT:
        print_frame(ev);
        printf(" rc=%lld", (long long)(int64_t)ev->b);
        break;
    case VGPU_TRACE_FRAME_IN:
        print_frame(ev);
        break;
    case VGPU_TRACE_DMA_READ:
    case VGPU_TRACE_DMA_WRITE:
        printf(" addr=0x%llx len=%u rc=%d", (unsigned long long)ev->a,
               (unsigned)VGPU_TRACE_DMA_LEN(ev->b),
               (int)VGPU_TRACE_DMA_RC(ev->b));
        break;
    case VGPU_TRACE_CLOCK:
        printf(" %llu", (unsigned long long)ev->a);
        break;
    case VGPU_TRACE_IRQ:
        printf(" level=%u", (unsigned)ev->size);
        break;
    case VGPU_TRACE_CONNECT:
        printf(" rc=%lld", (long long)(int64_t)ev->b);
        break;
    case VGPU_TRACE_LOST:
    case VGPU_TRACE_LINK_LOST:
        if (ev->type == VGPU_TRACE_LOST) {
            printf(" status=%s", vgpu_strerror((int)ev->b));
        }
        printf(" why=\"");
        for (uint32_t i = 0; i < ev->len && i < TEXT_SHOWN; i++) {
            unsigned char ch = ev->payload[i];

            putchar(ch < ' ' || ch >= 0x7f || ch == '"' ? '?' : ch);
        }
        printf("\"");
        break;
    default:
        break;
    }
    printf("\n");
}

int
main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"type", required_argument, NULL, 't'},
        {"from", required_argument, NULL, 'f'},
        {"to", required_argument, NULL, 'T'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    struct vgpu_trace_header th;
    struct vgpu_trace_event ev;
    unsigned types = 0;
    double from = 0;
    double to = -1;
    unsigned long n = 0;
    size_t len;
    size_t off;
    uint8_t *buf;
    int rc;
    int ch;

    opterr = 0;
    while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (ch) {
        case 't':
            types = parse_types(optarg);
            break;
        case 'f':
            from = parse_ms("--from", optarg);
            break;
        case 'T':
            to = parse_ms("--to", optarg);
            break;
        case 'h':
            usage(stdout);
            return 0;
        case 'V':
            printf(PROG " %s\n", VGPU_VERSION_STRING);
            return 0;
        default:
            bad_usage("unknown option or missing value", argv[optind - 1]);
        }
    }
    if (optind + 1 != argc) {
        usage(stderr);
        return EXIT_BAD_USAGE;
    }
    buf = load(argv[optind], &len);
    rc = vgpu_trace_header_parse(buf, len, &th);
    if (rc < 0) {
        fprintf(stderr, PROG ": %s: byte offset 0: %s\n", argv[optind],
                vgpu_trace_strerror(rc));
        free(buf);
        return EXIT_BAD_TRACE;
    }
    printf("# vgpu-stub trace v%u: vm_id %u pool %c priority %s timeout_ms "
           "%u%s\n",
           (unsigned)th.version, (unsigned)th.vm_id, th.pool_id,
           vgpu_prio_name(th.priority), (unsigned)th.timeout_ms,
           (th.flags & VGPU_TRACE_F_QUEUE) ? " queue" : "");
    off = VGPU_TRACE_HDR_SIZE;
    for (;;) {
        size_t at = off;
        double ms;

        rc = vgpu_trace_next(buf, len, &off, &ev);
        if (rc <= 0) {
            if (rc < 0) {
                fprintf(stderr, PROG ": %s: byte offset %zu (event %lu): %s\n",
                        argv[optind], at, n + 1, vgpu_trace_strerror(rc));
            }
            break;
        }
        n++;
        ms = (double)(ev.t - th.start_ns) / NS_PER_MS;
        if ((types != 0 && !(types & (1u << ev.type))) || ms < from ||
            (to >= 0 && ms >= to)) {
            continue;
        }
        print_event(n, at, &th, &ev);
    }
    free(buf);
    return rc < 0 ? EXIT_BAD_TRACE : 0;
}
