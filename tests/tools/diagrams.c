/*
 * vgpu-diagrams: Graphviz sources of the pictures in README.md and docs/,
 * drawn from what the code does rather than from what someone wrote down
 * (ci/diagrams.sh renders them; the test `diagrams` fails when a committed
 * source differs from what this prints).
 *
 * - state-machine: the mailbox's STATUS states (SPEC.md section 4). A fresh
 *   device model is driven into each state, then given each event the model
 *   takes (a doorbell, an answer, a lost connection, a timeout, a reset);
 *   every change of STATUS or ERROR_CODE it makes becomes an edge, and an
 *   event it refuses (a guest error, a stale answer) a dashed loop.
 * - request-flow: one ADD_I32 request recorded end to end: the guest
 *   library's register accesses (named by vgpu_reg_name()), the device
 *   model's submit, the REQUEST and RESPONSE frames as the codec packs and
 *   unpacks them, the mediator's validation and the CPU backend, the
 *   interrupt, and the guest's reads of the answer.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vgpu/backend.h"
#include "vgpu/common.h"
#include "vgpu/devmodel.h"
#include "vgpu/guest.h"
#include "vgpu/proto.h"
#include "vgpu/regs.h"

#define DG_PROG       "vgpu-diagrams"
#define DG_EXIT_OK    0
#define DG_EXIT_FAIL  1
#define DG_EXIT_USAGE 2
#define DG_LABEL      160
#define DG_MAX_EDGES  64
#define DG_MAX_STEPS  64
#define DG_STATES     (VGPU_STATUS_ERROR + 1u)
#define DG_SHORT_LEN  8u /* a request of one op header */

/* ---- The device model under test ----------------------------------------
 */

struct dg_dev {
    struct vgpu_dev dev;
    int submit_rc;       /* what ops->submit answers */
    uint32_t generation; /* of the last request submitted */
    uint32_t request_id;
    struct vgpu_request last;
    uint8_t data[VGPU_BUF_SIZE];
    int irq;
    void (*on_submit)(struct dg_dev *d);
};

static int
dg_submit(void *opaque, const struct vgpu_request *req)
{
    struct dg_dev *d = opaque;

    d->generation = req->generation;
    d->request_id = req->request_id;
    d->last = *req;
    memcpy(d->data, req->data, req->len);
    d->last.data = d->data;
    if (d->on_submit != NULL && d->submit_rc == 0) {
        d->on_submit(d);
    }
    return d->submit_rc;
}

static void
dg_set_irq(void *opaque, int level)
{
    ((struct dg_dev *)opaque)->irq = level;
}

static uint64_t
dg_now_ns(void *opaque)
{
    (void)opaque;
    return 0;
}

static const struct vgpu_dev_ops dg_ops = {
    .submit = dg_submit,
    .set_irq = dg_set_irq,
    .now_ns = dg_now_ns,
};

static int
dg_dev_init(struct dg_dev *d)
{
    const struct vgpu_dev_config cfg = {
        .pool_id = VGPU_DEFAULT_POOL, .priority = VGPU_PRIO_HIGH, .vm_id = 1};

    memset(d, 0, sizeof(*d));
    return vgpu_dev_init(&d->dev, &cfg, &dg_ops, d);
}

static uint32_t
dg_reg(struct dg_dev *d, uint32_t reg)
{
    return (uint32_t)vgpu_dev_mmio_read(&d->dev, reg, VGPU_REG_SIZE);
}

static void
dg_ring(struct dg_dev *d, uint32_t len)
{
    vgpu_dev_mmio_write(&d->dev, VGPU_REG_REQUEST_LEN, len, VGPU_REG_SIZE);
    vgpu_dev_mmio_write(&d->dev, VGPU_REG_DOORBELL, VGPU_DOORBELL_RING,
                        VGPU_REG_SIZE);
}

/* ---- state-machine -------------------------------------------------------
 */

static const char *const dg_state_names[DG_STATES] = {
    [VGPU_STATUS_IDLE] = "IDLE",
    [VGPU_STATUS_BUSY] = "BUSY",
    [VGPU_STATUS_DONE] = "DONE",
    [VGPU_STATUS_ERROR] = "ERROR",
};

static void
ev_ring_ok(struct dg_dev *d)
{
    dg_ring(d, DG_SHORT_LEN);
}

static void
ev_ring_zero(struct dg_dev *d)
{
    dg_ring(d, 0);
}

static void
ev_ring_long(struct dg_dev *d)
{
    dg_ring(d, VGPU_BUF_SIZE + 1u);
}

static void
ev_ring_refused(struct dg_dev *d)
{
    d->submit_rc = VGPU_ERR_MEDIATOR_UNAVAILABLE;
    dg_ring(d, DG_SHORT_LEN);
}

static void
ev_complete_ok(struct dg_dev *d)
{
    static const uint8_t answer[VGPU_OP_HDR_SIZE];

    vgpu_dev_complete(&d->dev, d->generation, d->request_id, VGPU_ERR_NONE,
                      answer, sizeof(answer));
}

static void
ev_complete_err(struct dg_dev *d)
{
    vgpu_dev_complete(&d->dev, d->generation, d->request_id,
                      VGPU_ERR_BACKEND_ERROR, NULL, 0);
}

static void
ev_complete_big(struct dg_dev *d)
{
    vgpu_dev_complete(&d->dev, d->generation, d->request_id, VGPU_ERR_NONE,
                      NULL, VGPU_BUF_SIZE + 1u);
}

static void
ev_complete_stale(struct dg_dev *d)
{
    vgpu_dev_complete(&d->dev, d->generation + 1u, d->request_id, VGPU_ERR_NONE,
                      NULL, 0);
}

static void
ev_lost(struct dg_dev *d)
{
    vgpu_dev_transport_lost(&d->dev);
}

static void
ev_timeout(struct dg_dev *d)
{
    vgpu_dev_timeout(&d->dev);
}

static void
ev_reset(struct dg_dev *d)
{
    vgpu_dev_reset(&d->dev);
}

struct dg_event {
    const char *label;
    const char *after; /* non-NULL: VGPU_BUF_SIZE, then this, follow */
    void (*fn)(struct dg_dev *d);
};

static const struct dg_event dg_events[] = {
    {"DOORBELL, REQUEST_LEN 1..", "", ev_ring_ok},
    {"DOORBELL, REQUEST_LEN 0", NULL, ev_ring_zero},
    {"DOORBELL, REQUEST_LEN > ", "", ev_ring_long},
    {"DOORBELL, submit() refused", NULL, ev_ring_refused},
    {"complete(), status 0", NULL, ev_complete_ok},
    {"complete(), status BACKEND_ERROR", NULL, ev_complete_err},
    {"complete(), answer > ", " bytes", ev_complete_big},
    {"complete(), stale id", NULL, ev_complete_stale},
    {"transport_lost()", NULL, ev_lost},
    {"timeout()", NULL, ev_timeout},
    {"reset()", NULL, ev_reset},
};

/* A fresh device brought into @state by the shortest way the model has. */
static int
dg_reach(struct dg_dev *d, uint32_t state)
{
    if (dg_dev_init(d) != 0) {
        return -1;
    }
    if (state != VGPU_STATUS_IDLE) {
        ev_ring_ok(d);
    }
    if (state == VGPU_STATUS_DONE) {
        ev_complete_ok(d);
    } else if (state == VGPU_STATUS_ERROR) {
        ev_timeout(d);
    }
    return dg_reg(d, VGPU_REG_STATUS) == state ? 0 : -1;
}

struct dg_edge {
    uint32_t from, to;
    char label[DG_LABEL * 4];
};

static struct dg_edge *
dg_edge(struct dg_edge *e, size_t *n, uint32_t from, uint32_t to)
{
    for (size_t i = 0; i < *n; i++) {
        if (e[i].from == from && e[i].to == to) {
            return &e[i];
        }
    }
    if (*n == DG_MAX_EDGES) {
        return NULL;
    }
    e[*n] = (struct dg_edge){.from = from, .to = to};
    return &e[(*n)++];
}

static void
dg_append(char *buf, size_t cap, const char *sep, const char *fmt, ...)
{
    size_t len = strlen(buf);
    va_list ap;

    if (len > 0 && len + strlen(sep) < cap) {
        strcat(buf, sep);
        len += strlen(sep);
    }
    va_start(ap, fmt);
    vsnprintf(buf + len, cap - len, fmt, ap);
    va_end(ap);
}

static int
dg_state_machine(void)
{
    static struct dg_edge edges[DG_MAX_EDGES];
    static char ignored[DG_STATES][DG_LABEL];
    size_t n = 0;

    for (uint32_t s = 0; s < DG_STATES; s++) {
        for (size_t i = 0; i < sizeof(dg_events) / sizeof(dg_events[0]); i++) {
            struct vgpu_dev_stats before, after;
            struct dg_dev d;
            struct dg_edge *e;
            uint32_t to, code0, code;
            char ev[DG_LABEL];
            int changed, refused;

            if (dg_reach(&d, s) != 0) {
                fprintf(stderr, "%s: the model did not reach %s\n", DG_PROG,
                        dg_state_names[s]);
                return DG_EXIT_FAIL;
            }
            code0 = dg_reg(&d, VGPU_REG_ERROR_CODE);
            vgpu_dev_get_stats(&d.dev, &before);
            dg_events[i].fn(&d);
            vgpu_dev_get_stats(&d.dev, &after);
            to = dg_reg(&d, VGPU_REG_STATUS);
            code = dg_reg(&d, VGPU_REG_ERROR_CODE);
            if (to >= DG_STATES) {
                return DG_EXIT_FAIL;
            }
            changed =
                to != s || code != code0 || after.doorbells != before.doorbells;
            refused = after.guest_errors != before.guest_errors ||
                      after.stale_responses != before.stale_responses;
            if (!changed && !refused) {
                continue; /* nothing happened: no edge */
            }
            if (dg_events[i].after != NULL) {
                snprintf(ev, sizeof(ev), "%s%u%s", dg_events[i].label,
                         VGPU_BUF_SIZE, dg_events[i].after);
            } else {
                snprintf(ev, sizeof(ev), "%s", dg_events[i].label);
            }
            if (!changed) {
                /* Under the state, one line per kind: "DOORBELL: guest
                 * error". */
                char line[DG_LABEL];

                snprintf(
                    line, sizeof(line), "%.*s: %s", (int)strcspn(ev, ","), ev,
                    after.guest_errors != before.guest_errors ? "guest error"
                                                              : "dropped");
                if (strstr(ignored[s], line) == NULL) {
                    dg_append(ignored[s], sizeof(ignored[s]), "<BR/>", "%s",
                              line);
                }
                continue;
            }
            e = dg_edge(edges, &n, s, to);
            if (e == NULL) {
                return DG_EXIT_FAIL;
            }
            if (to == VGPU_STATUS_ERROR) {
                dg_append(e->label, sizeof(e->label), "\\n", "%s / %s", ev,
                          vgpu_strerror((int)code));
            } else {
                dg_append(e->label, sizeof(e->label), "\\n", "%s", ev);
            }
        }
    }
    puts("// Generated by vgpu-diagrams state-machine (ci/diagrams.sh): the\n"
         "// device model driven through every event in every state.\n"
         "digraph state_machine {\n"
         "    rankdir=TB;\n"
         "    node [shape=box, style=\"rounded,filled\", fillcolor=\"#eef3fb\","
         " fontname=\"Helvetica\"];\n"
         "    edge [fontname=\"Helvetica\", fontsize=9];");
    for (uint32_t s = 0; s < DG_STATES; s++) {
        printf("    %s [label=<%s<BR/>STATUS %u", dg_state_names[s],
               dg_state_names[s], (unsigned)s);
        if (ignored[s][0] != '\0') {
            printf("<BR/><FONT POINT-SIZE=\"9\" COLOR=\"gray30\">ignored: "
                   "%s</FONT>",
                   ignored[s]);
        }
        puts(">];");
    }
    for (size_t i = 0; i < n; i++) {
        printf("    %s -> %s [label=\"%s\"];\n", dg_state_names[edges[i].from],
               dg_state_names[edges[i].to], edges[i].label);
    }
    puts("}");
    return DG_EXIT_OK;
}

/* ---- request-flow --------------------------------------------------------
 */

enum { P_GUEST, P_DEVICE, P_MEDIATOR, P_COUNT };

static const char *const dg_parts[P_COUNT] = {
    [P_GUEST] = "guest: libvgpu-guest",
    [P_DEVICE] = "vgpu-stub: device model",
    [P_MEDIATOR] = "vgpu-mediator: core, CPU backend",
};

struct dg_step {
    int from, to;
    char label[DG_LABEL];
};

struct dg_flow {
    struct dg_dev d;
    int recording;
    size_t n;
    struct dg_step steps[DG_MAX_STEPS];
    uint8_t response[VGPU_HDR_SIZE + VGPU_BUF_SIZE];
    size_t response_len;
};

static struct dg_flow dg_flow;

static void
dg_step(int from, int to, const char *fmt, ...)
{
    struct dg_step *s;
    va_list ap;
    char label[DG_LABEL];

    if (!dg_flow.recording || dg_flow.n == DG_MAX_STEPS) {
        return;
    }
    va_start(ap, fmt);
    vsnprintf(label, sizeof(label), fmt, ap);
    va_end(ap);
    /* A poll loop reads the same register again: one step. */
    if (dg_flow.n > 0) {
        s = &dg_flow.steps[dg_flow.n - 1u];
        if (s->from == from && s->to == to && strcmp(s->label, label) == 0) {
            return;
        }
    }
    s = &dg_flow.steps[dg_flow.n++];
    s->from = from;
    s->to = to;
    memcpy(s->label, label, sizeof(label));
}

static uint32_t
bus_read32(void *ctx, uint32_t off)
{
    uint32_t v = dg_reg(ctx, off);

    dg_step(P_GUEST, P_DEVICE, "read %s = %" PRIu32, vgpu_reg_name(off), v);
    return v;
}

static void
bus_write32(void *ctx, uint32_t off, uint32_t val)
{
    dg_step(P_GUEST, P_DEVICE, "write %s = %" PRIu32, vgpu_reg_name(off), val);
    vgpu_dev_mmio_write(&((struct dg_dev *)ctx)->dev, off, val, VGPU_REG_SIZE);
}

static const char *
dg_buf_name(uint32_t off)
{
    return off >= VGPU_RESP_BUF_OFFSET ? "response buffer" : "request buffer";
}

static void
bus_read_buf(void *ctx, uint32_t off, void *dst, size_t len)
{
    uint8_t *p = dst;

    dg_step(P_GUEST, P_DEVICE, "read %zu bytes of the %s (0x%03" PRIx32 ")",
            len, dg_buf_name(off), off);
    for (size_t i = 0; i < len; i++) {
        p[i] = (uint8_t)vgpu_dev_mmio_read(&((struct dg_dev *)ctx)->dev,
                                           off + i, 1);
    }
}

static void
bus_write_buf(void *ctx, uint32_t off, const void *src, size_t len)
{
    const uint8_t *p = src;

    dg_step(P_GUEST, P_DEVICE, "write %zu bytes to the %s (0x%03" PRIx32 ")",
            len, dg_buf_name(off), off);
    for (size_t i = 0; i < len; i++) {
        vgpu_dev_mmio_write(&((struct dg_dev *)ctx)->dev, off + i, p[i], 1);
    }
}

/* The mediator's side of one REQUEST frame: decode, validate, execute on
 * the CPU backend, encode the RESPONSE frame. */
static int
dg_mediate(const uint8_t *frame, size_t len)
{
    static uint8_t out[VGPU_BUF_SIZE];
    struct vgpu_op_desc desc;
    struct vgpu_hdr h;
    void *cpu = NULL;
    size_t out_len = 0;
    char msg[DG_LABEL];
    int st, n;

    vgpu_hdr_unpack(frame, &h);
    if (vgpu_hdr_check(&h, VGPU_MAX_PAYLOAD) != 0 ||
        h.payload_len + VGPU_HDR_SIZE != len ||
        vgpu_op_validate(frame + VGPU_HDR_SIZE, h.payload_len, &desc, msg,
                         sizeof(msg)) != 0 ||
        vgpu_backend_cpu.open("", &cpu, NULL, 0) != 0) {
        return -1;
    }
    dg_step(P_MEDIATOR, P_MEDIATOR,
            "validate %s n=%" PRIu32 "; queue by priority; CPU backend",
            vgpu_op_name(desc.op), desc.n);
    st = vgpu_backend_cpu.exec(cpu, &desc, out, sizeof(out), &out_len, msg,
                               sizeof(msg));
    vgpu_backend_cpu.close(cpu);
    vgpu_hdr_init(&h, VGPU_MSG_RESPONSE);
    h.vm_id = dg_flow.d.last.vm_id;
    h.request_id = dg_flow.d.last.request_id;
    h.status = (uint32_t)st;
    n = vgpu_frame_encode(&h, out, out_len, dg_flow.response,
                          sizeof(dg_flow.response));
    if (n < 0) {
        return -1;
    }
    dg_flow.response_len = (size_t)n;
    return 0;
}

/* ops->submit's effect in this program: the REQUEST frame to the mediator. */
static void
dg_on_submit(struct dg_dev *d)
{
    static uint8_t frame[VGPU_HDR_SIZE + VGPU_BUF_SIZE];
    struct vgpu_hdr h;
    int n;

    vgpu_hdr_init(&h, VGPU_MSG_REQUEST);
    h.vm_id = d->last.vm_id;
    h.request_id = d->last.request_id;
    h.pool_id = d->last.pool_id;
    h.priority = d->last.priority;
    n = vgpu_frame_encode(&h, d->last.data, d->last.len, frame, sizeof(frame));
    if (n < 0) {
        return;
    }
    dg_step(P_DEVICE, P_MEDIATOR,
            "REQUEST frame: vm_id %" PRIu32 ", request_id %" PRIu32
            ", pool %c, priority %s, %" PRIu32 " + %" PRIu32 " bytes",
            h.vm_id, h.request_id, h.pool_id, vgpu_prio_name(h.priority),
            (uint32_t)VGPU_HDR_SIZE, d->last.len);
    dg_mediate(frame, (size_t)n);
}

/* The interrupt: the device takes the RESPONSE frame (complete()). */
static int
bus_wait_irq(void *ctx, int timeout_ms)
{
    struct dg_dev *d = ctx;
    struct vgpu_hdr h;

    (void)timeout_ms;
    if (dg_flow.response_len == 0) {
        return 0;
    }
    vgpu_hdr_unpack(dg_flow.response, &h);
    dg_flow.response_len = 0;
    dg_step(P_MEDIATOR, P_DEVICE,
            "RESPONSE frame: vm_id %" PRIu32 ", request_id %" PRIu32
            ", status %s, %" PRIu32 " + %" PRIu32 " bytes",
            h.vm_id, h.request_id, vgpu_strerror((int)h.status),
            (uint32_t)VGPU_HDR_SIZE, h.payload_len);
    vgpu_dev_complete(&d->dev, d->generation, h.request_id, h.status,
                      dg_flow.response + VGPU_HDR_SIZE, h.payload_len);
    dg_step(P_DEVICE, P_GUEST, "interrupt: IRQ_STATUS = %" PRIu32 " (line %d)",
            (uint32_t)d->dev.irq_status, d->irq);
    return 1;
}

static const struct vgpu_bus_ops dg_bus = {
    .name = "diagrams",
    .read32 = bus_read32,
    .write32 = bus_write32,
    .read_buf = bus_read_buf,
    .write_buf = bus_write_buf,
    .wait_irq = bus_wait_irq,
};

static int
dg_request_flow(void)
{
    static const int32_t a[] = {1, 2, 3, 4}, b[] = {10, 20, 30, 40};
    int32_t sum[sizeof(a) / sizeof(a[0])];
    struct vgpu_client *c;
    char err[DG_LABEL];
    int rc;

    if (dg_dev_init(&dg_flow.d) != 0) {
        return DG_EXIT_FAIL;
    }
    dg_flow.d.on_submit = dg_on_submit;
    c = vgpu_open_bus(&dg_bus, &dg_flow.d, err, sizeof(err));
    if (c == NULL) {
        fprintf(stderr, "%s: %s\n", DG_PROG, err);
        return DG_EXIT_FAIL;
    }
    dg_flow.recording = 1;
    rc = vgpu_add_i32(c, a, b, sum, sizeof(a) / sizeof(a[0]));
    dg_flow.recording = 0;
    vgpu_close(c);
    if (rc != 0 || sum[3] != a[3] + b[3]) {
        fprintf(stderr, "%s: the recorded request failed (%d)\n", DG_PROG, rc);
        return DG_EXIT_FAIL;
    }
    puts(
        "// Generated by vgpu-diagrams request-flow (ci/diagrams.sh): one\n"
        "// vgpu_add_i32() of 4 elements, recorded through the guest library,\n"
        "// the device model, the frame codec and the CPU backend.\n"
        "digraph request_flow {\n"
        "    rankdir=TB; splines=false; nodesep=2.2; ranksep=0.25;\n"
        "    node [fontname=\"Helvetica\"];\n"
        "    edge [fontname=\"Helvetica\", fontsize=9];");
    for (int p = 0; p < P_COUNT; p++) {
        printf("    p%d [label=\"%s\", shape=box, style=filled, "
               "fillcolor=\"#eef3fb\"];\n",
               p, dg_parts[p]);
    }
    for (size_t i = 0; i <= dg_flow.n; i++) {
        printf("    { rank=same;");
        for (int p = 0; p < P_COUNT; p++) {
            printf(" s%zu_%d [shape=point, width=0.01, label=\"\"];", i, p);
        }
        puts(" }");
        for (int p = 0; p < P_COUNT; p++) {
            if (i == 0) {
                printf("    p%d -> s0_%d [arrowhead=none, style=dashed];\n", p,
                       p);
            } else {
                printf("    s%zu_%d -> s%zu_%d [arrowhead=none, "
                       "style=dashed];\n",
                       i - 1u, p, i, p);
            }
        }
    }
    for (size_t i = 0; i < dg_flow.n; i++) {
        const struct dg_step *s = &dg_flow.steps[i];

        if (s->from == s->to) {
            printf("    s%zu_%d [shape=box, width=0, height=0, fontsize=9, "
                   "label=\"%zu. %s\"];\n",
                   i + 1u, s->from, i + 1u, s->label);
        } else {
            printf("    s%zu_%d -> s%zu_%d [label=\"%zu. %s\", "
                   "constraint=false];\n",
                   i + 1u, s->from, i + 1u, s->to, i + 1u, s->label);
        }
    }
    puts("}");
    return DG_EXIT_OK;
}

static void
dg_usage(FILE *out)
{
    fprintf(
        out,
        "usage: %s state-machine|request-flow\n"
        "Print the Graphviz source of one diagram, drawn from the code:\n"
        "  state-machine  the device model's STATUS states, driven through\n"
        "                 every event in every state\n"
        "  request-flow   one ADD_I32 request recorded from the guest\n"
        "                 library to the CPU backend and back\n"
        "  --help         this text\n"
        "ci/diagrams.sh writes and renders them. Exit: 0 printed, 1 the\n"
        "model did not behave, 2 bad usage.\n",
        DG_PROG);
}

int
main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "--help") == 0) {
        dg_usage(stdout);
        return DG_EXIT_OK;
    }
    if (argc == 2 && strcmp(argv[1], "state-machine") == 0) {
        return dg_state_machine();
    }
    if (argc == 2 && strcmp(argv[1], "request-flow") == 0) {
        return dg_request_flow();
    }
    dg_usage(stderr);
    return DG_EXIT_USAGE;
}
