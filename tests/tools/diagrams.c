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
#define DG_SHORT_LEN  8u /* a request of one op header */

/* ---- The device model under test ----------------------------------------
 */

#define DG_MEM_SIZE (64u * 1024u) /* guest memory of a queue device */
#define DG_Q_SIZE   4u            /* entries of the queue explored */

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

static uint8_t dg_mem[DG_MEM_SIZE];
static uint8_t dg_qbuf[VGPU_Q_MAX_XFER];

static int
dg_submit(void *opaque, const struct vgpu_request *req)
{
    struct dg_dev *d = opaque;

    d->generation = req->generation;
    d->request_id = req->request_id;
    d->last = *req;
    memcpy(d->data, req->data,
           req->len < sizeof(d->data) ? req->len : sizeof(d->data));
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

static int
dg_dma_read(void *opaque, uint64_t addr, void *buf, size_t len)
{
    (void)opaque;
    if (addr > DG_MEM_SIZE || len > DG_MEM_SIZE - addr) {
        return -EFAULT;
    }
    memcpy(buf, dg_mem + addr, len);
    return 0;
}

static int
dg_dma_write(void *opaque, uint64_t addr, const void *buf, size_t len)
{
    (void)opaque;
    if (addr > DG_MEM_SIZE || len > DG_MEM_SIZE - addr) {
        return -EFAULT;
    }
    memcpy(dg_mem + addr, buf, len);
    return 0;
}

static uint8_t *
dg_q_buffer(void *opaque, size_t len)
{
    (void)opaque;
    return len <= sizeof(dg_qbuf) ? dg_qbuf : NULL;
}

static const struct vgpu_dev_ops dg_ops = {
    .submit = dg_submit,
    .set_irq = dg_set_irq,
    .now_ns = dg_now_ns,
};

static const struct vgpu_dev_ops dg_queue_ops = {
    .submit = dg_submit,
    .set_irq = dg_set_irq,
    .now_ns = dg_now_ns,
    .dma_read = dg_dma_read,
    .dma_write = dg_dma_write,
    .q_buffer = dg_q_buffer,
};

static int
dg_dev_init(struct dg_dev *d, const struct vgpu_dev_ops *ops)
{
    const struct vgpu_dev_config cfg = {
        .pool_id = VGPU_DEFAULT_POOL, .priority = VGPU_PRIO_HIGH, .vm_id = 1};

    memset(d, 0, sizeof(*d));
    memset(dg_mem, 0, sizeof(dg_mem));
    return vgpu_dev_init(&d->dev, &cfg, ops, d);
}

static uint32_t
dg_reg(struct dg_dev *d, uint32_t reg)
{
    return (uint32_t)vgpu_dev_mmio_read(&d->dev, reg, VGPU_REG_SIZE);
}

static void
dg_wr(struct dg_dev *d, uint32_t reg, uint32_t val)
{
    vgpu_dev_mmio_write(&d->dev, reg, val, VGPU_REG_SIZE);
}

static void
dg_ring(struct dg_dev *d, uint32_t len)
{
    dg_wr(d, VGPU_REG_REQUEST_LEN, len);
    dg_wr(d, VGPU_REG_DOORBELL, VGPU_DOORBELL_RING);
}

/* ---- Exploring a state machine -------------------------------------------
 */

struct dg_event {
    const char *label;
    const char *after; /* non-NULL: VGPU_BUF_SIZE, then this, follow */
    const char *kind;  /* what a state that refuses it lists */
    void (*fn)(struct dg_dev *d);
};

/* One of the model's state machines: its states, how to reach each on a
 * fresh device, how to tell which one a device is in, and its events. */
struct dg_machine {
    const char *name; /* the graph's name and vgpu-diagrams' argument */
    const char *about;
    const struct vgpu_dev_ops *ops;
    unsigned n_states;
    const char *const *states;
    const char *const *sublabels;
    uint32_t error_state; /* edges into it name the code register */
    uint32_t code_reg;    /* ERROR_CODE or Q_ERROR */
    const struct dg_event *events;
    size_t n_events;
    int (*reach)(struct dg_dev *d, uint32_t state);
    uint32_t (*state_of)(struct dg_dev *d);
    uint64_t (*work)(const struct vgpu_dev_stats *s); /* requests taken */
};

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

#define DG_MAX_STATES 8

/* Every event in every state; a change of state, of the code register or
 * of the work taken is an edge, an event refused without a change (a guest
 * error, a stale answer) a line under the state's name. */
static int
dg_explore(const struct dg_machine *m)
{
    static struct dg_edge edges[DG_MAX_EDGES];
    static char ignored[DG_MAX_STATES][DG_LABEL];
    size_t n = 0;

    memset(ignored, 0, sizeof(ignored));
    for (uint32_t s = 0; s < m->n_states; s++) {
        for (size_t i = 0; i < m->n_events; i++) {
            const struct dg_event *evt = &m->events[i];
            struct vgpu_dev_stats before, after;
            struct dg_dev d;
            struct dg_edge *e;
            uint32_t to, code0, code;
            char ev[DG_LABEL];
            int changed, refused;

            if (dg_dev_init(&d, m->ops) != 0 || m->reach(&d, s) != 0 ||
                m->state_of(&d) != s) {
                fprintf(stderr, "%s: the model did not reach %s\n", DG_PROG,
                        m->states[s]);
                return DG_EXIT_FAIL;
            }
            code0 = dg_reg(&d, m->code_reg);
            vgpu_dev_get_stats(&d.dev, &before);
            evt->fn(&d);
            vgpu_dev_get_stats(&d.dev, &after);
            to = m->state_of(&d);
            code = dg_reg(&d, m->code_reg);
            if (to >= m->n_states) {
                return DG_EXIT_FAIL;
            }
            changed =
                to != s || code != code0 || m->work(&after) != m->work(&before);
            refused = after.guest_errors != before.guest_errors ||
                      after.stale_responses != before.stale_responses;
            if (!changed && !refused) {
                continue; /* nothing happened: no edge */
            }
            if (evt->after != NULL) {
                snprintf(ev, sizeof(ev), "%s%u%s", evt->label, VGPU_BUF_SIZE,
                         evt->after);
            } else {
                snprintf(ev, sizeof(ev), "%s", evt->label);
            }
            if (!changed) {
                /* Under the state, one line per kind: "DOORBELL: guest
                 * error". */
                char line[DG_LABEL];

                snprintf(line, sizeof(line), "%s: %s", evt->kind,
                         after.guest_errors != before.guest_errors
                             ? "guest error"
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
            if (to == m->error_state && code != VGPU_ERR_NONE) {
                dg_append(e->label, sizeof(e->label), "\\n", "%s / %s", ev,
                          vgpu_strerror((int)code));
            } else {
                dg_append(e->label, sizeof(e->label), "\\n", "%s", ev);
            }
        }
    }
    printf("// Generated by vgpu-diagrams %s (ci/diagrams.sh): %s\n"
           "digraph \"%s\" {\n"
           "    rankdir=TB;\n"
           "    node [shape=box, style=\"rounded,filled\", "
           "fillcolor=\"#eef3fb\", fontname=\"Helvetica\"];\n"
           "    edge [fontname=\"Helvetica\", fontsize=9];\n",
           m->name, m->about, m->name);
    for (uint32_t s = 0; s < m->n_states; s++) {
        printf("    s%u [label=<%s<BR/>%s", (unsigned)s, m->states[s],
               m->sublabels[s]);
        if (ignored[s][0] != '\0') {
            printf("<BR/><FONT POINT-SIZE=\"9\" COLOR=\"gray30\">ignored: "
                   "%s</FONT>",
                   ignored[s]);
        }
        puts(">];");
    }
    for (size_t i = 0; i < n; i++) {
        printf("    s%u -> s%u [label=\"%s\"];\n", (unsigned)edges[i].from,
               (unsigned)edges[i].to, edges[i].label);
    }
    puts("}");
    return DG_EXIT_OK;
}

/* ---- state-machine: the mailbox's STATUS --------------------------------
 */

static const char *const dg_status_names[] = {
    [VGPU_STATUS_IDLE] = "IDLE",
    [VGPU_STATUS_BUSY] = "BUSY",
    [VGPU_STATUS_DONE] = "DONE",
    [VGPU_STATUS_ERROR] = "ERROR",
};

static const char *const dg_status_sub[] = {
    [VGPU_STATUS_IDLE] = "STATUS 0",
    [VGPU_STATUS_BUSY] = "STATUS 1",
    [VGPU_STATUS_DONE] = "STATUS 2",
    [VGPU_STATUS_ERROR] = "STATUS 3",
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

static const struct dg_event dg_status_events[] = {
    {"DOORBELL, REQUEST_LEN 1..", "", "DOORBELL", ev_ring_ok},
    {"DOORBELL, REQUEST_LEN 0", NULL, "DOORBELL", ev_ring_zero},
    {"DOORBELL, REQUEST_LEN > ", "", "DOORBELL", ev_ring_long},
    {"DOORBELL, submit() refused", NULL, "DOORBELL", ev_ring_refused},
    {"complete(), status 0", NULL, "complete()", ev_complete_ok},
    {"complete(), status BACKEND_ERROR", NULL, "complete()", ev_complete_err},
    {"complete(), answer > ", " bytes", "complete()", ev_complete_big},
    {"complete(), stale id", NULL, "complete()", ev_complete_stale},
    {"transport_lost()", NULL, "transport_lost()", ev_lost},
    {"timeout()", NULL, "timeout()", ev_timeout},
    {"reset()", NULL, "reset()", ev_reset},
};

/* The shortest way the model has into @state. */
static int
dg_status_reach(struct dg_dev *d, uint32_t state)
{
    if (state != VGPU_STATUS_IDLE) {
        ev_ring_ok(d);
    }
    if (state == VGPU_STATUS_DONE) {
        ev_complete_ok(d);
    } else if (state == VGPU_STATUS_ERROR) {
        ev_timeout(d);
    }
    return 0;
}

static uint32_t
dg_status_of(struct dg_dev *d)
{
    return dg_reg(d, VGPU_REG_STATUS);
}

static uint64_t
dg_doorbells(const struct vgpu_dev_stats *s)
{
    return s->doorbells;
}

static const struct dg_machine dg_status_machine = {
    .name = "state-machine",
    .about = "the device model driven\n// through every event in every "
             "state.",
    .ops = &dg_ops,
    .n_states = sizeof(dg_status_names) / sizeof(dg_status_names[0]),
    .states = dg_status_names,
    .sublabels = dg_status_sub,
    .error_state = VGPU_STATUS_ERROR,
    .code_reg = VGPU_REG_ERROR_CODE,
    .events = dg_status_events,
    .n_events = sizeof(dg_status_events) / sizeof(dg_status_events[0]),
    .reach = dg_status_reach,
    .state_of = dg_status_of,
    .work = dg_doorbells,
};

/* ---- queue: Q_CTRL ENABLE and Q_ERROR (SPEC.md section 11) --------------
 */

enum { Q_DISABLED, Q_ENABLED, Q_ERRORED, Q_STATES };

static const char *const dg_q_names[] = {
    [Q_DISABLED] = "DISABLED",
    [Q_ENABLED] = "ENABLED",
    [Q_ERRORED] = "DISABLED, Q_ERROR set",
};

static const char *const dg_q_sub[] = {
    [Q_DISABLED] = "Q_CTRL 0, Q_ERROR 0",
    [Q_ENABLED] = "Q_CTRL 1",
    [Q_ERRORED] = "Q_CTRL 0, Q_ERROR != 0",
};

/* One queue area at this offset of guest memory. */
#define DG_Q_BASE VGPU_Q_BASE_ALIGN

static void
dg_q_setup(struct dg_dev *d, uint64_t base, uint32_t size)
{
    dg_wr(d, VGPU_REG_Q_BASE_LO, (uint32_t)base);
    dg_wr(d, VGPU_REG_Q_BASE_HI, (uint32_t)(base >> 32));
    dg_wr(d, VGPU_REG_Q_SIZE, size);
}

static void
ev_q_enable(struct dg_dev *d)
{
    dg_wr(d, VGPU_REG_Q_CTRL, VGPU_Q_CTRL_ENABLE);
}

static void
ev_q_enable_good(struct dg_dev *d)
{
    dg_q_setup(d, DG_Q_BASE, DG_Q_SIZE);
    ev_q_enable(d);
}

static void
ev_q_enable_bad_size(struct dg_dev *d)
{
    dg_q_setup(d, DG_Q_BASE, DG_Q_SIZE - 1u);
    ev_q_enable(d);
}

static void
ev_q_enable_bad_base(struct dg_dev *d)
{
    dg_q_setup(d, DG_Q_BASE + 1u, DG_Q_SIZE);
    ev_q_enable(d);
}

static void
ev_q_disable(struct dg_dev *d)
{
    dg_wr(d, VGPU_REG_Q_CTRL, 0);
}

/* One submission entry at slot 0: an 8-byte NOP. */
static void
ev_q_submit(struct dg_dev *d)
{
    uint8_t *sqe = dg_mem + DG_Q_BASE;
    uint64_t in = DG_MEM_SIZE / 2u;

    vgpu_put_le32(sqe, (uint32_t)in);
    vgpu_put_le32(sqe + 4, (uint32_t)(in >> 32));
    vgpu_put_le32(sqe + 8, VGPU_OP_HDR_SIZE);
    vgpu_put_le32(dg_mem + in, VGPU_OP_NOP);
    dg_wr(d, VGPU_REG_SQ_TAIL, dg_reg(d, VGPU_REG_SQ_TAIL) + 1u);
}

/* The rings moved out of guest memory while enabled: the next SQ_TAIL
 * write cannot read its entry. */
static void
ev_q_ring_fault(struct dg_dev *d)
{
    if (dg_reg(d, VGPU_REG_Q_CTRL) & VGPU_Q_CTRL_ENABLE) {
        ev_q_disable(d);
        dg_q_setup(d, (uint64_t)DG_MEM_SIZE * VGPU_Q_BASE_ALIGN, DG_Q_SIZE);
        ev_q_enable(d);
    }
    dg_wr(d, VGPU_REG_SQ_TAIL, dg_reg(d, VGPU_REG_SQ_TAIL) + 1u);
}

static void
ev_q_set_base(struct dg_dev *d)
{
    dg_wr(d, VGPU_REG_Q_BASE_LO, DG_Q_BASE);
}

static void
ev_q_cq_head(struct dg_dev *d)
{
    dg_wr(d, VGPU_REG_CQ_HEAD, dg_reg(d, VGPU_REG_CQ_HEAD) + 1u);
}

static const struct dg_event dg_q_events[] = {
    {"ENABLE, Q_SIZE a power of two, Q_BASE aligned", NULL,
     "Q_BASE, Q_SIZE writes", ev_q_enable_good},
    {"ENABLE, Q_SIZE not a power of two", NULL, "Q_BASE, Q_SIZE writes",
     ev_q_enable_bad_size},
    {"ENABLE, Q_BASE not 4 KiB aligned", NULL, "Q_BASE, Q_SIZE writes",
     ev_q_enable_bad_base},
    {"Q_CTRL = 0", NULL, "Q_CTRL = 0", ev_q_disable},
    {"SQ_TAIL, entries readable", NULL, "SQ_TAIL", ev_q_submit},
    {"SQ_TAIL, the rings outside guest memory", NULL, "SQ_TAIL",
     ev_q_ring_fault},
    {"Q_BASE, Q_SIZE written", NULL, "Q_BASE, Q_SIZE writes", ev_q_set_base},
    {"CQ_HEAD past CQ_TAIL", NULL, "CQ_HEAD", ev_q_cq_head},
    {"reset()", NULL, "reset()", ev_reset},
};

static int
dg_q_reach(struct dg_dev *d, uint32_t state)
{
    if (state != Q_DISABLED) {
        ev_q_enable_good(d);
    }
    if (state == Q_ERRORED) {
        ev_q_ring_fault(d);
    }
    return 0;
}

static uint32_t
dg_q_state_of(struct dg_dev *d)
{
    if (dg_reg(d, VGPU_REG_Q_CTRL) & VGPU_Q_CTRL_ENABLE) {
        return Q_ENABLED;
    }
    return dg_reg(d, VGPU_REG_Q_ERROR) != 0 ? Q_ERRORED : Q_DISABLED;
}

static uint64_t
dg_q_taken(const struct vgpu_dev_stats *s)
{
    return s->q_taken;
}

static const struct dg_machine dg_queue_machine = {
    .name = "queue",
    .about = "the queue of a device\n// model driven through every event in "
             "every state.",
    .ops = &dg_queue_ops,
    .n_states = Q_STATES,
    .states = dg_q_names,
    .sublabels = dg_q_sub,
    .error_state = Q_ERRORED,
    .code_reg = VGPU_REG_Q_ERROR,
    .events = dg_q_events,
    .n_events = sizeof(dg_q_events) / sizeof(dg_q_events[0]),
    .reach = dg_q_reach,
    .state_of = dg_q_state_of,
    .work = dg_q_taken,
};

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

    if (dg_dev_init(&dg_flow.d, &dg_ops) != 0) {
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
        return dg_explore(&dg_status_machine);
    }
    if (argc == 2 && strcmp(argv[1], "queue") == 0) {
        return dg_explore(&dg_queue_machine);
    }
    if (argc == 2 && strcmp(argv[1], "request-flow") == 0) {
        return dg_request_flow();
    }
    dg_usage(stderr);
    return DG_EXIT_USAGE;
}
