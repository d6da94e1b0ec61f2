/*
 * One device connection (vgpu/mediator.h): its streaming decoder and the
 * protocol state machine AWAIT_HELLO -> READY -> CLOSING of SPEC.md section
 * 7, the checks of a HELLO, and the checks that queue a REQUEST or answer it
 * at once.
 *
 * Every peer is hostile: whatever bytes arrive, the worst outcome is an
 * ERROR frame and ops->close for that connection; no other connection and no
 * queued work of another VM is touched.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core_internal.h"

/* The name of a message type, for messages. */
static const char *
conn_msg_name(uint32_t type)
{
    switch (type) {
    case VGPU_MSG_HELLO:
        return "HELLO";
    case VGPU_MSG_HELLO_ACK:
        return "HELLO_ACK";
    case VGPU_MSG_REQUEST:
        return "REQUEST";
    case VGPU_MSG_RESPONSE:
        return "RESPONSE";
    case VGPU_MSG_ERROR:
        return "ERROR";
    case VGPU_MSG_PING:
        return "PING";
    case VGPU_MSG_PONG:
        return "PONG";
    default:
        return "UNKNOWN";
    }
}

static struct vgpu_med_ident
conn_ident_of(const struct vgpu_hdr *h)
{
    struct vgpu_med_ident id = {
        .vm_id = h->vm_id,
        .request_id = h->request_id,
        .pool = h->pool_id,
        .priority = h->priority,
    };

    return id;
}

/* The identity an ERROR frame carries: the connection's once greeted, else
 * what the offending frame claimed (zero when there is none). */
static struct vgpu_med_ident
conn_error_ident(const struct vgpu_mconn *c, const struct vgpu_hdr *h)
{
    struct vgpu_med_ident id = {0};

    if (h != NULL) {
        id = conn_ident_of(h);
    }
    if (c->owns_vm) {
        id.vm_id = c->vm_id;
        id.pool = c->pool;
        id.priority = c->priority;
    }
    return id;
}

/* "3", or "-" before HELLO, for log lines. */
static const char *
conn_vm_text(const struct vgpu_mconn *c, char *buf, size_t len)
{
    if (!c->owns_vm) {
        return "-";
    }
    snprintf(buf, len, "%u", (unsigned)c->vm_id);
    return buf;
}

/* ---- Sending ------------------------------------------------------------- */

/* Give @n encoded bytes of a @type frame to ops->send; on a failure the
 * connection is aborted. */
static int
conn_transmit(struct vgpu_mconn *c, uint16_t type, const uint8_t *bytes,
              size_t n)
{
    struct vgpu_mediator *m = c->m;
    char vm[16];
    int rc;

    rc = m->ops->send(c->opaque, bytes, n);
    if (rc != 0) {
        rc = rc < 0 ? rc : -EPIPE;
        vgpu_med_log(m, VGPU_LOG_WARN, "vm=%s: cannot send %s: %s; closing",
                     conn_vm_text(c, vm, sizeof(vm)), conn_msg_name(type),
                     vgpu_strerror(rc));
        vgpu_med_conn_abort(c, rc);
    }
    return rc;
}

static void
conn_hdr_of(struct vgpu_hdr *h, uint16_t type, const struct vgpu_med_ident *id,
            uint32_t status)
{
    vgpu_hdr_init(h, type);
    h->vm_id = id->vm_id;
    h->request_id = id->request_id;
    h->pool_id = id->pool;
    h->priority = id->priority;
    h->status = status;
}

int
vgpu_med_send_framed(struct vgpu_mconn *c, uint16_t type,
                     const struct vgpu_med_ident *id, uint32_t status,
                     uint8_t *frame, size_t len)
{
    struct vgpu_hdr h;

    if (c->state == VGPU_MCONN_CLOSING) {
        return c->close_rc;
    }
    conn_hdr_of(&h, type, id, status);
    h.payload_len = (uint32_t)len;
    vgpu_hdr_pack(&h, frame);
    return conn_transmit(c, type, frame, VGPU_HDR_SIZE + len);
}

int
vgpu_med_send(struct vgpu_mconn *c, uint16_t type,
              const struct vgpu_med_ident *id, uint32_t status,
              const void *payload, size_t len)
{
    struct vgpu_mediator *m = c->m;
    struct vgpu_hdr h;
    char vm[16];
    int n;

    if (c->state == VGPU_MCONN_CLOSING) {
        return c->close_rc;
    }
    if (payload == m->wire + VGPU_HDR_SIZE &&
        len <= m->wire_cap - VGPU_HDR_SIZE) {
        /* A result the backend wrote in place: frame it around itself. */
        return vgpu_med_send_framed(c, type, id, status, m->wire, len);
    }
    conn_hdr_of(&h, type, id, status);
    n = vgpu_frame_encode(&h, payload, len, m->wire, m->wire_cap);
    if (n < 0) {
        /* Not reached: every payload the core sends fits the buffer. */
        vgpu_med_log(m, VGPU_LOG_ERROR, "vm=%s: cannot encode %s: %s",
                     conn_vm_text(c, vm, sizeof(vm)), conn_msg_name(type),
                     vgpu_strerror(n));
        vgpu_med_conn_abort(c, n);
        return n;
    }
    return conn_transmit(c, type, m->wire, (size_t)n);
}

int
vgpu_med_respond(struct vgpu_mconn *c, const struct vgpu_med_ident *id,
                 uint32_t status, const void *payload, size_t len)
{
    int rc = vgpu_med_send(c, VGPU_MSG_RESPONSE, id, status, payload, len);

    if (rc == 0 && c->stats != NULL) {
        vgpu_stats_response(c->stats, status, len);
    }
    return rc;
}

/* Report refusals left out of the log, if any. */
static void
conn_refusals_summary(struct vgpu_mconn *c)
{
    if (c->refuse_unlogged == 0) {
        return;
    }
    vgpu_med_log(c->m, VGPU_LOG_WARN,
                 "vm=%u: %llu more refused requests not logged (at most %u "
                 "lines a second per connection)",
                 (unsigned)c->vm_id, (unsigned long long)c->refuse_unlogged,
                 VGPU_MED_REFUSE_LOG_BURST);
    c->refuse_unlogged = 0;
}

/* Whether this refusal may have its own log line (see core_internal.h). */
static int
conn_refusal_loggable(struct vgpu_mconn *c)
{
    uint64_t now = vgpu_med_now(c->m);

    if (c->refuse_logged == 0 ||
        now - c->refuse_window_start >= VGPU_MED_REFUSE_LOG_WINDOW_NS) {
        conn_refusals_summary(c);
        c->refuse_window_start = now;
        c->refuse_logged = 0;
    }
    if (c->refuse_logged < VGPU_MED_REFUSE_LOG_BURST) {
        c->refuse_logged++;
        return 1;
    }
    c->refuse_unlogged++;
    return 0;
}

void
vgpu_med_refuse(struct vgpu_mconn *c, const struct vgpu_med_ident *id,
                uint32_t status, const char *fmt, ...)
{
    char msg[VGPU_MED_MSG_MAX];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (conn_refusal_loggable(c)) {
        vgpu_med_log(c->m, VGPU_LOG_WARN, "vm=%u req=%u status=%s: %s",
                     (unsigned)id->vm_id, (unsigned)id->request_id,
                     vgpu_strerror((int)status), msg);
    }
    vgpu_med_respond(c, id, status, msg, strlen(msg));
}

void
vgpu_med_conn_abort(struct vgpu_mconn *c, int rc)
{
    if (c->state == VGPU_MCONN_CLOSING) {
        return;
    }
    c->state = VGPU_MCONN_CLOSING;
    c->close_rc = rc < 0 ? rc : -EPIPE;
    if (c->owns_vm) {
        vgpu_med_drop_vm(c->m, c->vm_id);
    }
    c->m->ops->close(c->opaque);
}

/* Send an ERROR frame with @status and the formatted reason, log it, and
 * close the connection; input returns @rc from now on. */
static void conn_fail(struct vgpu_mconn *c, const struct vgpu_hdr *h,
                      uint32_t status, int rc, const char *what,
                      const char *note, const char *fmt, ...)
    __attribute__((format(printf, 7, 8)));

static void
conn_fail(struct vgpu_mconn *c, const struct vgpu_hdr *h, uint32_t status,
          int rc, const char *what, const char *note, const char *fmt, ...)
{
    struct vgpu_med_ident id = conn_error_ident(c, h);
    char msg[VGPU_MED_MSG_MAX];
    size_t len;
    char vm[16];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (!c->owns_vm && h != NULL && h->type == VGPU_MSG_HELLO) {
        /* A refused HELLO: name the VM it claimed. */
        snprintf(vm, sizeof(vm), "%u", (unsigned)h->vm_id);
    } else if (c->owns_vm) {
        snprintf(vm, sizeof(vm), "%u", (unsigned)c->vm_id);
    } else {
        snprintf(vm, sizeof(vm), "-");
    }
    vgpu_med_log(c->m, VGPU_LOG_WARN, "vm=%s: %s: %s; closing", vm, what, msg);
    len = strlen(msg);
    if (note != NULL) {
        snprintf(msg + len, sizeof(msg) - len, " (%s)", note);
        len = strlen(msg);
    }
    vgpu_med_send(c, VGPU_MSG_ERROR, &id, status, msg, len);
    vgpu_med_conn_abort(c, rc);
}

/* ---- Open and close ------------------------------------------------------ */

struct vgpu_mconn *
vgpu_mediator_conn_open(struct vgpu_mediator *m, void *conn_opaque)
{
    struct vgpu_mconn *c = calloc(1, sizeof(*c));

    if (c == NULL) {
        return NULL;
    }
    c->m = m;
    c->opaque = conn_opaque;
    c->state = VGPU_MCONN_AWAIT_HELLO;
    vgpu_decoder_init(&c->dec, c->payload, sizeof(c->payload), VGPU_BUF_SIZE);
    /* Each REQUEST's payload is placed at its header (conn_header()). */
    vgpu_decoder_pause_at_header(&c->dec, true);
    c->next = m->conns;
    if (m->conns != NULL) {
        m->conns->prev = c;
    }
    m->conns = c;
    return c;
}

void
vgpu_mediator_conn_close(struct vgpu_mconn *c)
{
    struct vgpu_mediator *m;
    size_t dropped = 0;

    if (c == NULL) {
        return;
    }
    m = c->m;
    conn_refusals_summary(c);
    vgpu_med_request_free(c->rx); /* a REQUEST cut short */
    c->rx = NULL;
    if (c->running > 0) {
        vgpu_med_orphan_running(c);
    }
    /* Only the connection that owns the vm_id may take its work away: a
     * refused duplicate never owned it. */
    if (c->owns_vm) {
        dropped = vgpu_med_drop_vm(m, c->vm_id);
        c->stats->connected = 0;
        vgpu_med_log(m, VGPU_LOG_INFO,
                     "vm=%u: disconnected, %zu queued requests dropped",
                     (unsigned)c->vm_id, dropped);
    }
    if (c->prev != NULL) {
        c->prev->next = c->next;
    } else {
        m->conns = c->next;
    }
    if (c->next != NULL) {
        c->next->prev = c->prev;
    }
    free(c);
}

/* The registry's share and cap of @c's VM, to the scheduler. Without them
 * (no entry, or out of memory) the VM is shared as one without an entry. */
static void
conn_limits(struct vgpu_mconn *c)
{
    struct vgpu_mediator *m = c->m;
    uint32_t share = 0;
    uint32_t cap = 0;
    int rc;

    if (m->ops->limits == NULL ||
        m->ops->limits(m->opaque, c->vm_id, &share, &cap) != 0) {
        return;
    }
    rc = vgpu_sched_vm_limits(m->sched, c->vm_id, c->pool, c->priority, share,
                              cap);
    if (rc < 0) {
        vgpu_med_log(m, VGPU_LOG_WARN,
                     "vm=%u: share %u%% cap %u%% not applied: %s",
                     (unsigned)c->vm_id, (unsigned)share, (unsigned)cap,
                     vgpu_strerror(rc));
        return;
    }
    if (share != 0 || cap != 0) {
        vgpu_med_log(m, VGPU_LOG_INFO, "vm=%u: share %u%% cap %u%%",
                     (unsigned)c->vm_id, (unsigned)share, (unsigned)cap);
    }
}

/* ---- HELLO --------------------------------------------------------------- */

/* The live connection that owns @vm_id, or NULL. O(connections); a HELLO
 * is rare. */
static const struct vgpu_mconn *
conn_owner(const struct vgpu_mediator *m, uint32_t vm_id)
{
    for (const struct vgpu_mconn *o = m->conns; o != NULL; o = o->next) {
        if (o->owns_vm && o->vm_id == vm_id) {
            return o;
        }
    }
    return NULL;
}

static void
conn_hello(struct vgpu_mconn *c, const struct vgpu_frame *f)
{
    static const char refused[] = "hello refused";
    struct vgpu_mediator *m = c->m;
    const struct vgpu_hdr *h = &f->hdr;
    struct vgpu_med_ident id = conn_ident_of(h);
    struct vgpu_stats_vm *rec;
    uint8_t ack[VGPU_HELLO_ACK_QUEUE_PAYLOAD_SIZE];
    char why[VGPU_MED_MSG_MAX] = "";
    uint32_t version;
    uint32_t caps;

    if (f->payload == NULL ||
        vgpu_hello_unpack(f->payload, h->payload_len, &version, &caps) != 0) {
        /* Not reached: the decoder checks the size of a HELLO. */
        conn_fail(c, h, VGPU_ERR_PROTOCOL_ERROR, -EPROTO, "protocol error",
                  NULL, "HELLO payload of %u bytes, want %u",
                  (unsigned)h->payload_len, VGPU_HELLO_PAYLOAD_SIZE);
        return;
    }
    if ((version >> VGPU_MED_VERSION_MAJOR_SHIFT) !=
        (VGPU_PROTOCOL_VERSION >> VGPU_MED_VERSION_MAJOR_SHIFT)) {
        conn_fail(
            c, h, VGPU_ERR_PROTOCOL_ERROR, -EPROTO, refused, NULL,
            "protocol version %u.%u is not supported (the mediator "
            "speaks %u.x)",
            (unsigned)(version >> VGPU_MED_VERSION_MAJOR_SHIFT),
            (unsigned)(version & VGPU_MED_VERSION_MINOR_MASK),
            (unsigned)(VGPU_PROTOCOL_VERSION >> VGPU_MED_VERSION_MAJOR_SHIFT));
        return;
    }
    if (h->vm_id < VGPU_VM_ID_MIN) {
        conn_fail(c, h, VGPU_ERR_REJECTED, -ECONNREFUSED, refused, NULL,
                  "vm_id %u is not valid (at least %u)", (unsigned)h->vm_id,
                  VGPU_VM_ID_MIN);
        return;
    }
    if (!vgpu_pool_valid(h->pool_id)) {
        conn_fail(c, h, VGPU_ERR_REJECTED, -ECONNREFUSED, refused, NULL,
                  "pool 0x%02x is not a letter %c..%c", (unsigned)h->pool_id,
                  VGPU_POOL_FIRST, VGPU_POOL_LAST);
        return;
    }
    if (h->priority > VGPU_PRIO_HIGH) {
        conn_fail(c, h, VGPU_ERR_REJECTED, -ECONNREFUSED, refused, NULL,
                  "priority %u is not one of %u..%u", (unsigned)h->priority,
                  VGPU_PRIO_LOW, VGPU_PRIO_HIGH);
        return;
    }
    if (conn_owner(m, h->vm_id) != NULL) {
        conn_fail(c, h, VGPU_ERR_REJECTED, -ECONNREFUSED, refused, NULL,
                  "vm_id %u is already connected", (unsigned)h->vm_id);
        return;
    }
    if (m->ops->admit != NULL &&
        m->ops->admit(m->opaque, h->vm_id, h->pool_id, h->priority, why,
                      sizeof(why)) != 0) {
        why[sizeof(why) - 1] = '\0';
        conn_fail(c, h, VGPU_ERR_REJECTED, -ECONNREFUSED, refused, NULL, "%s",
                  why[0] != '\0' ? why : "refused by the registry");
        return;
    }
    /* A queue device's answers may be 1 MiB: the frame buffer grows once,
     * for the first of them. */
    if ((caps & VGPU_CAP_QUEUE) != 0 && vgpu_med_wire_grow(m) < 0) {
        conn_fail(c, h, VGPU_ERR_REJECTED, -ENOMEM, refused, NULL,
                  "mediator out of memory");
        return;
    }
    rec = vgpu_stats_get(m->stats, h->vm_id);
    if (rec == NULL) {
        conn_fail(c, h, VGPU_ERR_REJECTED, -ENOMEM, refused, NULL,
                  "mediator out of memory");
        return;
    }
    c->state = VGPU_MCONN_READY;
    c->owns_vm = 1;
    c->vm_id = h->vm_id;
    c->pool = h->pool_id;
    c->priority = h->priority;
    c->stats = rec;
    rec->connected = 1;
    rec->pool = h->pool_id;
    rec->priority = h->priority;
    conn_limits(c);
    vgpu_med_log(m, VGPU_LOG_INFO,
                 "vm=%u: connected: pool %c priority %s version %u.%u caps "
                 "0x%x",
                 (unsigned)c->vm_id, (char)c->pool, vgpu_prio_name(c->priority),
                 (unsigned)(version >> VGPU_MED_VERSION_MAJOR_SHIFT),
                 (unsigned)(version & VGPU_MED_VERSION_MINOR_MASK),
                 (unsigned)caps);
    if ((caps & VGPU_CAP_QUEUE) == 0) {
        /* A device without the queue gets the 8 bytes it has always had. */
        c->inflight_max = 1;
        vgpu_hello_ack_pack(ack, caps & VGPU_CAPABILITIES, VGPU_BUF_SIZE);
        vgpu_med_send(c, VGPU_MSG_HELLO_ACK, &id, VGPU_ERR_NONE, ack,
                      VGPU_HELLO_ACK_PAYLOAD_SIZE);
        return;
    }
    c->queue = 1;
    c->inflight_max = m->queue_inflight;
    /* Between frames: the payloads from now on may be 1 MiB. */
    (void)vgpu_decoder_set_buffer(&c->dec, c->payload, sizeof(c->payload),
                                  VGPU_MAX_PAYLOAD);
    vgpu_hello_ack_pack_queue(ack, caps & (VGPU_CAPABILITIES | VGPU_CAP_QUEUE),
                              VGPU_MAX_PAYLOAD, c->inflight_max);
    vgpu_med_send(c, VGPU_MSG_HELLO_ACK, &id, VGPU_ERR_NONE, ack, sizeof(ack));
}

/* ---- REQUEST ------------------------------------------------------------- */

/* A REQUEST whose header names another VM, pool or priority than the HELLO
 * is answered REJECTED. Return: 1 if it was. */
static int
conn_check_ident(struct vgpu_mconn *c, const struct vgpu_med_ident *id)
{
    if (id->vm_id != c->vm_id) {
        vgpu_med_refuse(c, id, VGPU_ERR_REJECTED,
                        "request vm_id %u does not match the connection's "
                        "vm_id %u",
                        (unsigned)id->vm_id, (unsigned)c->vm_id);
        return 1;
    }
    if (id->pool != c->pool) {
        vgpu_med_refuse(c, id, VGPU_ERR_REJECTED,
                        "request pool 0x%02x does not match the "
                        "connection's pool %c",
                        (unsigned)id->pool, (char)c->pool);
        return 1;
    }
    if (id->priority != c->priority) {
        vgpu_med_refuse(c, id, VGPU_ERR_REJECTED,
                        "request priority %u (%s) does not match the "
                        "connection's priority %s",
                        (unsigned)id->priority,
                        id->priority < VGPU_PRIO_COUNT
                            ? vgpu_prio_name(id->priority)
                            : "not a priority",
                        vgpu_prio_name(c->priority));
        return 1;
    }
    return 0;
}

/* The largest payload a connection may send: 1 MiB once a queue HELLO is
 * accepted, else the mailbox's 1 KiB. */
static uint32_t
conn_max_payload(const struct vgpu_mconn *c)
{
    return c->queue ? VGPU_MAX_PAYLOAD : VGPU_BUF_SIZE;
}

/* The largest response a connection may be sent. */
static size_t
conn_response_max(const struct vgpu_mconn *c)
{
    return c->queue ? VGPU_MAX_PAYLOAD : VGPU_BUF_SIZE;
}

/* The most requests a connection may have queued or running. */
static uint32_t
conn_request_max(const struct vgpu_mconn *c)
{
    return c->queue ? c->inflight_max : c->m->vm_queue_cap;
}

/*
 * A REQUEST header of a greeted connection: decide, before any payload byte
 * is read, whether the request may be held, and if so allocate it with room
 * for exactly its payload and let the decoder write there. Otherwise say why
 * in rx_why; the payload then goes to the small buffer (or is discarded when
 * larger) and the request is refused when it is whole. So a refused request
 * costs no memory, and neither the in-flight count nor the memory cap is
 * ever passed.
 */
static void
conn_header(struct vgpu_mconn *c, const struct vgpu_hdr *h)
{
    struct vgpu_mediator *m = c->m;
    size_t len = h->payload_len;
    struct vgpu_med_request *r;

    c->rx_why[0] = '\0';
    c->rx_status = VGPU_ERR_REJECTED;
    if (c->state != VGPU_MCONN_READY || h->type != VGPU_MSG_REQUEST) {
        goto small;
    }
    if (m->shutting_down) {
        snprintf(c->rx_why, sizeof(c->rx_why), "mediator shutting down");
        goto small;
    }
    if (c->held_reqs >= conn_request_max(c)) {
        snprintf(c->rx_why, sizeof(c->rx_why),
                 "queue full: vm %u has %u requests queued or running (at "
                 "most %u)",
                 (unsigned)c->vm_id, (unsigned)c->held_reqs,
                 (unsigned)conn_request_max(c));
        goto small;
    }
    if (m->held_bytes + len > m->held_max) {
        snprintf(c->rx_why, sizeof(c->rx_why),
                 "mediator memory full: %llu bytes of requests held, %zu more "
                 "would pass the cap of %llu",
                 (unsigned long long)m->held_bytes, len,
                 (unsigned long long)m->held_max);
        goto small;
    }
    r = vgpu_med_request_alloc(m, len);
    if (r == NULL) {
        snprintf(c->rx_why, sizeof(c->rx_why), "mediator out of memory");
        goto small;
    }
    r->conn = c;
    r->len = len;
    c->held_reqs++;
    m->held_bytes += len;
    c->rx = r;
    (void)vgpu_decoder_set_buffer(&c->dec, r->bytes, len, conn_max_payload(c));
    return;

small:
    (void)vgpu_decoder_set_buffer(&c->dec, c->payload, sizeof(c->payload),
                                  conn_max_payload(c));
}

static void
conn_request(struct vgpu_mconn *c, const struct vgpu_frame *f)
{
    struct vgpu_mediator *m = c->m;
    struct vgpu_med_ident id = conn_ident_of(&f->hdr);
    size_t len = f->hdr.payload_len;
    char why[VGPU_MED_MSG_MAX] = "";
    struct vgpu_med_request *r = c->rx;
    struct vgpu_op_desc desc;
    int rc;

    c->rx = NULL;
    c->stats->requests++;
    c->stats->bytes_in += len;
    if (conn_check_ident(c, &id)) {
        goto refused;
    }
    if (r == NULL && f->truncated) {
        /* Refused at its header (conn_header()), and too large to keep. */
        vgpu_med_refuse(c, &id, c->rx_status, "%s",
                        c->rx_why[0] != '\0' ? c->rx_why
                                             : "request over the buffer");
        return;
    }
    if (vgpu_op_validate(f->payload, len, &desc, why, sizeof(why)) != 0) {
        vgpu_med_refuse(c, &id, VGPU_ERR_INVALID_REQUEST, "%s", why);
        goto refused;
    }
    if (desc.out_len > conn_response_max(c)) {
        vgpu_med_refuse(c, &id, VGPU_ERR_RESPONSE_TOO_LARGE,
                        "%s response of %llu bytes is over the %zu-byte buffer",
                        vgpu_op_name(desc.op), (unsigned long long)desc.out_len,
                        conn_response_max(c));
        goto refused;
    }
    if (m->shutting_down) {
        vgpu_med_refuse(c, &id, VGPU_ERR_REJECTED, "mediator shutting down");
        goto refused;
    }
    if (r == NULL) {
        vgpu_med_refuse(c, &id, c->rx_status, "%s", c->rx_why);
        return;
    }
    vgpu_sched_item_init(&r->item, c->vm_id, c->pool, c->priority);
    r->request_id = id.request_id;
    r->stats = c->stats;
    r->desc = desc; /* desc.operands points into r->bytes already */
    rc = vgpu_sched_enqueue(m->sched, &r->item, vgpu_med_now(m));
    if (rc < 0) {
        vgpu_med_request_free(r);
        if (rc == -EAGAIN) {
            vgpu_med_refuse(c, &id, VGPU_ERR_REJECTED,
                            "queue full: vm %u has %zu requests queued",
                            (unsigned)c->vm_id,
                            vgpu_sched_vm_queued(m->sched, c->vm_id));
        } else {
            vgpu_med_refuse(c, &id, VGPU_ERR_REJECTED, "cannot queue: %s",
                            vgpu_strerror(rc));
        }
        return;
    }
    vgpu_med_log(m, VGPU_LOG_DEBUG, "vm=%u req=%u op=%s queued in=%zu",
                 (unsigned)id.vm_id, (unsigned)id.request_id,
                 vgpu_op_name(desc.op), len);
    return;

refused:
    vgpu_med_request_free(r);
}

/* ---- Frames -------------------------------------------------------------- */

static void
conn_frame(struct vgpu_mconn *c, const struct vgpu_frame *f)
{
    const struct vgpu_hdr *h = &f->hdr;
    struct vgpu_med_ident id;

    if (c->state == VGPU_MCONN_AWAIT_HELLO) {
        if (h->type != VGPU_MSG_HELLO) {
            conn_fail(c, h, VGPU_ERR_PROTOCOL_ERROR, -EPROTO, "protocol error",
                      NULL, "expected HELLO, got %s", conn_msg_name(h->type));
            return;
        }
        conn_hello(c, f);
        return;
    }
    switch (h->type) {
    case VGPU_MSG_REQUEST:
        conn_request(c, f);
        break;
    case VGPU_MSG_PING:
        id = conn_ident_of(h);
        vgpu_med_send(c, VGPU_MSG_PONG, &id, VGPU_ERR_NONE, NULL, 0);
        break;
    case VGPU_MSG_PONG:
        break;
    case VGPU_MSG_HELLO:
        conn_fail(c, h, VGPU_ERR_PROTOCOL_ERROR, -EPROTO, "protocol error",
                  NULL, "unexpected HELLO: the connection is already greeted");
        break;
    default:
        conn_fail(c, h, VGPU_ERR_PROTOCOL_ERROR, -EPROTO, "protocol error",
                  NULL, "unexpected %s from a device", conn_msg_name(h->type));
        break;
    }
}

/* The decoder refused a header: say why, with the offending value. The
 * decoder keeps the refused header in its state (it unpacks it before the
 * check), which is where the value comes from. */
static void
conn_decoder_error(struct vgpu_mconn *c, int rc)
{
    const struct vgpu_hdr *h = &c->dec.hdr;
    char detail[VGPU_MED_MSG_MAX];

    switch (rc) {
    case VGPU_E_BAD_MAGIC:
        snprintf(detail, sizeof(detail), "bad magic 0x%08x",
                 (unsigned)h->magic);
        break;
    case VGPU_E_BAD_VERSION:
        snprintf(detail, sizeof(detail), "bad version %u",
                 (unsigned)h->version);
        break;
    case VGPU_E_BAD_TYPE:
        snprintf(detail, sizeof(detail), "bad type %u", (unsigned)h->type);
        break;
    case VGPU_E_TOO_LARGE:
        snprintf(detail, sizeof(detail),
                 "payload of %u bytes over the limit of %u",
                 (unsigned)h->payload_len, (unsigned)conn_max_payload(c));
        break;
    case VGPU_E_BAD_PAYLOAD:
        snprintf(detail, sizeof(detail), "%s with a payload of %u bytes",
                 conn_msg_name(h->type), (unsigned)h->payload_len);
        break;
    default:
        snprintf(detail, sizeof(detail), "%s", vgpu_strerror(rc));
        conn_fail(c, NULL, VGPU_ERR_PROTOCOL_ERROR, rc, "protocol error", NULL,
                  "%s", detail);
        return;
    }
    /* The log line has the value; the ERROR frame adds the code's text. */
    conn_fail(c, NULL, VGPU_ERR_PROTOCOL_ERROR, rc, "protocol error",
              vgpu_strerror(rc), "%s", detail);
}

int
vgpu_mediator_conn_input(struct vgpu_mconn *c, const uint8_t *data, size_t len)
{
    size_t pos = 0;

    if (c->state == VGPU_MCONN_CLOSING) {
        return c->close_rc;
    }
    if (data == NULL && len > 0) {
        return -EINVAL;
    }
    while (pos < len && c->state != VGPU_MCONN_CLOSING) {
        struct vgpu_frame f;
        size_t used = 0;
        int rc = vgpu_decoder_feed(&c->dec, data + pos, len - pos, &used, &f);

        pos += used;
        if (rc < 0) {
            conn_decoder_error(c, rc);
        } else if (rc == 0) {
            break;
        } else if (rc == VGPU_DECODER_HEADER) {
            conn_header(c, &f.hdr);
        } else {
            conn_frame(c, &f);
        }
    }
    return c->state == VGPU_MCONN_CLOSING ? c->close_rc : 0;
}

uint32_t
vgpu_mediator_conn_running(const struct vgpu_mconn *c)
{
    return c->running;
}

uint32_t
vgpu_mediator_conn_inflight(const struct vgpu_mconn *c)
{
    return c->queue ? c->inflight_max : 0;
}
