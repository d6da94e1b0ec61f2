/*
 * The mediator core with a fake transport and a fake clock: the handshake and
 * each of its refusals, protocol errors, every op end to end through
 * dispatch, the immediate answers (INVALID_REQUEST, RESPONSE_TOO_LARGE,
 * REJECTED), the queue cap, duplicates, close, shutdown, send failures,
 * stats, logging and priority order.
 *
 * The fake transport decodes every frame the core sends with the proto
 * decoder, so each test reads what a device would read.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "vgpu_test.h"

#include "core_internal.h"
#include "stats.h"
#include "vgpu/backend.h"
#include "vgpu/mediator.h"
#include "vgpu/proto.h"

#define MAX_CONNS  4
#define MAX_FRAMES 160
#define MAX_LOGS   64
#define LOG_LEN    VGPU_MED_LOG_MAX
#define WIRE_CAP   (VGPU_HDR_SIZE + VGPU_BUF_SIZE + 64u)
#define REQ_CAP    (VGPU_BUF_SIZE + 64u)
#define TICK_NS    3000u /* the fake clock advances this much per read */
#define POOL_A     VGPU_POOL_FIRST
#define POOL_B     (VGPU_POOL_FIRST + 1)
#define LOW        VGPU_PRIO_LOW
#define MED        VGPU_PRIO_MEDIUM
#define HIGH       VGPU_PRIO_HIGH
#define BAD_WORD   0x41414141u /* "AAAA" */

/* ---- The fake transport -------------------------------------------------- */

struct sent_frame {
    struct vgpu_hdr hdr;
    size_t len;
    uint8_t payload[VGPU_BUF_SIZE + 1]; /* NUL after a text payload */
};

struct fake;

struct fake_conn {
    struct fake *f;
    struct vgpu_mconn *mc;
    int closes;     /* ops->close calls */
    int fail_sends; /* > 0: fail the send after this many more succeed */
    int sends;
    struct vgpu_decoder dec;
    uint8_t dec_buf[VGPU_MAX_PAYLOAD]; /* the queue's answers are 1 MiB */
    uint8_t *big;   /* the last payload over VGPU_BUF_SIZE, whole */
    size_t big_len; /* its length */
    struct sent_frame frames[MAX_FRAMES];
    size_t nframes;
    size_t read; /* frames already looked at by the test */
};

struct fake {
    struct vgpu_mediator *m;
    uint64_t now;
    uint64_t tick;
    int admit_rc;
    const char *admit_why;
    int admits;
    char logs[MAX_LOGS][LOG_LEN];
    int log_levels[MAX_LOGS];
    size_t nlogs;
    struct fake_conn conns[MAX_CONNS];
};

static int
fake_send(void *conn_opaque, const uint8_t *bytes, size_t len)
{
    struct fake_conn *fc = conn_opaque;
    struct sent_frame *sf;
    struct vgpu_frame frame;
    size_t used = 0;

    fc->sends++;
    if (fc->fail_sends > 0 && fc->sends >= fc->fail_sends) {
        return -ENOBUFS;
    }
    assert_true(fc->nframes < MAX_FRAMES);
    /* Exactly one whole frame per send. */
    assert_int_equal(vgpu_decoder_feed(&fc->dec, bytes, len, &used, &frame), 1);
    assert_int_equal(used, len);
    assert_int_equal(vgpu_decoder_finish(&fc->dec), 0);
    sf = &fc->frames[fc->nframes++];
    memset(sf, 0, sizeof(*sf));
    sf->hdr = frame.hdr;
    sf->len = frame.hdr.payload_len;
    assert_false(frame.truncated);
    if (sf->len > VGPU_BUF_SIZE) {
        /* A queue answer: the frame keeps its head, big the whole. */
        memcpy(sf->payload, frame.payload, VGPU_BUF_SIZE);
        free(fc->big);
        fc->big = malloc(sf->len);
        assert_non_null(fc->big);
        memcpy(fc->big, frame.payload, sf->len);
        fc->big_len = sf->len;
    } else if (sf->len > 0) {
        memcpy(sf->payload, frame.payload, sf->len);
    }
    return 0;
}

static void
fake_close(void *conn_opaque)
{
    struct fake_conn *fc = conn_opaque;

    fc->closes++;
}

static uint64_t
fake_now(void *opaque)
{
    struct fake *f = opaque;
    uint64_t now = f->now;

    f->now += f->tick;
    return now;
}

static void
fake_log(void *opaque, int level, const char *line)
{
    struct fake *f = opaque;

    assert_null(strchr(line, '\n'));
    if (f->nlogs < MAX_LOGS) {
        snprintf(f->logs[f->nlogs], LOG_LEN, "%s", line);
        f->log_levels[f->nlogs] = level;
        f->nlogs++;
    }
}

static int
fake_admit(void *opaque, uint32_t vm_id, uint8_t pool, uint8_t priority,
           char *why, size_t why_len)
{
    struct fake *f = opaque;

    (void)vm_id;
    (void)pool;
    (void)priority;
    f->admits++;
    if (f->admit_rc != 0 && f->admit_why != NULL) {
        snprintf(why, why_len, "%s", f->admit_why);
    }
    return f->admit_rc;
}

static const struct vgpu_mediator_ops fake_ops = {
    .send = fake_send,
    .close = fake_close,
    .now_ns = fake_now,
    .log = fake_log,
    .admit = fake_admit,
};

static const struct vgpu_mediator_ops quiet_ops = {
    .send = fake_send,
    .close = fake_close,
    .now_ns = fake_now,
};

static struct fake *
fake_new_ops(const struct vgpu_mediator_config *cfg,
             const struct vgpu_mediator_ops *ops)
{
    struct fake *f = calloc(1, sizeof(*f));
    char err[256] = "";

    assert_non_null(f);
    f->now = 1000000;
    f->tick = TICK_NS;
    f->m = vgpu_mediator_create(cfg, ops, f, err, sizeof(err));
    if (f->m == NULL) {
        fail_msg("create: %s", err);
    }
    return f;
}

static struct fake *
fake_new_cfg(const struct vgpu_mediator_config *cfg)
{
    return fake_new_ops(cfg, &fake_ops);
}

static struct fake *
fake_new(void)
{
    return fake_new_cfg(NULL);
}

static void
fake_free(struct fake *f)
{
    for (size_t i = 0; i < MAX_CONNS; i++) {
        if (f->conns[i].mc != NULL) {
            vgpu_mediator_conn_close(f->conns[i].mc);
        }
        free(f->conns[i].big);
    }
    vgpu_mediator_destroy(f->m);
    free(f);
}

static struct fake_conn *
fake_open(struct fake *f, size_t i)
{
    struct fake_conn *fc = &f->conns[i];

    assert_true(i < MAX_CONNS);
    assert_null(fc->mc);
    free(fc->big);
    memset(fc, 0, sizeof(*fc));
    fc->f = f;
    vgpu_decoder_init(&fc->dec, fc->dec_buf, sizeof(fc->dec_buf),
                      VGPU_MAX_PAYLOAD);
    fc->mc = vgpu_mediator_conn_open(f->m, fc);
    assert_non_null(fc->mc);
    return fc;
}

static void
fake_close_conn(struct fake_conn *fc)
{
    vgpu_mediator_conn_close(fc->mc);
    fc->mc = NULL;
}

/* The next frame the core sent on @fc, which must exist. */
static const struct sent_frame *
next_frame(struct fake_conn *fc)
{
    if (fc->read >= fc->nframes) {
        fail_msg("no frame left: %zu sent, %zu read", fc->nframes, fc->read);
    }
    return &fc->frames[fc->read++];
}

static void
no_more_frames(const struct fake_conn *fc)
{
    if (fc->read != fc->nframes) {
        fail_msg("%zu unexpected frames (first of type %u)",
                 fc->nframes - fc->read, fc->frames[fc->read].hdr.type);
    }
}

static bool
log_has(const struct fake *f, int level, const char *text)
{
    for (size_t i = 0; i < f->nlogs; i++) {
        if (f->log_levels[i] == level && strstr(f->logs[i], text) != NULL) {
            return true;
        }
    }
    return false;
}

static void
expect_log(const struct fake *f, int level, const char *text)
{
    if (!log_has(f, level, text)) {
        for (size_t i = 0; i < f->nlogs; i++) {
            print_message("log %d: %s\n", f->log_levels[i], f->logs[i]);
        }
        fail_msg("no log line at level %d containing '%s'", level, text);
    }
}

/* ---- Building what a device sends ---------------------------------------- */

static size_t
wire_frame(uint8_t *buf, uint16_t type, uint32_t vm_id, uint32_t req_id,
           uint8_t pool, uint8_t prio, const void *payload, size_t len)
{
    struct vgpu_hdr h;
    int n;

    vgpu_hdr_init(&h, type);
    h.vm_id = vm_id;
    h.request_id = req_id;
    h.pool_id = pool;
    h.priority = prio;
    n = vgpu_frame_encode(&h, payload, len, buf, WIRE_CAP);
    assert_true(n > 0);
    return (size_t)n;
}

static int
send_frame(struct fake_conn *fc, uint16_t type, uint32_t vm_id, uint32_t req_id,
           uint8_t pool, uint8_t prio, const void *payload, size_t len)
{
    uint8_t buf[WIRE_CAP];
    size_t n = wire_frame(buf, type, vm_id, req_id, pool, prio, payload, len);

    return vgpu_mediator_conn_input(fc->mc, buf, n);
}

static int
send_hello_version(struct fake_conn *fc, uint32_t vm_id, uint8_t pool,
                   uint8_t prio, uint32_t version, uint32_t caps)
{
    uint8_t p[VGPU_HELLO_PAYLOAD_SIZE];

    vgpu_hello_pack(p, version, caps);
    return send_frame(fc, VGPU_MSG_HELLO, vm_id, 0, pool, prio, p, sizeof(p));
}

static int
send_hello(struct fake_conn *fc, uint32_t vm_id, uint8_t pool, uint8_t prio)
{
    return send_hello_version(fc, vm_id, pool, prio, VGPU_PROTOCOL_VERSION,
                              VGPU_CAPABILITIES);
}

/* HELLO, and check the HELLO_ACK. */
static struct fake_conn *
greeted(struct fake *f, size_t i, uint32_t vm_id, uint8_t pool, uint8_t prio)
{
    struct fake_conn *fc = fake_open(f, i);
    const struct sent_frame *sf;

    assert_int_equal(send_hello(fc, vm_id, pool, prio), 0);
    sf = next_frame(fc);
    assert_int_equal(sf->hdr.type, VGPU_MSG_HELLO_ACK);
    return fc;
}

struct req {
    uint8_t b[REQ_CAP];
    size_t len;
};

static void
req_begin(struct req *r, uint32_t op, uint32_t n)
{
    memset(r, 0, sizeof(*r));
    vgpu_put_le32(r->b, op);
    vgpu_put_le32(r->b + 4, n);
    r->len = VGPU_OP_HDR_SIZE;
}

static void
req_u32(struct req *r, uint32_t v)
{
    assert_true(r->len + 4 <= sizeof(r->b));
    vgpu_put_le32(r->b + r->len, v);
    r->len += 4;
}

static void
req_f32(struct req *r, float v)
{
    uint32_t u;

    memcpy(&u, &v, sizeof(u));
    req_u32(r, u);
}

/* ADD_I32 of one pair: the smallest useful request (16 bytes, 4 out). */
static void
req_add(struct req *r, uint32_t a, uint32_t b)
{
    req_begin(r, VGPU_OP_ADD_I32, 1);
    req_u32(r, a);
    req_u32(r, b);
}

static int
send_req(struct fake_conn *fc, uint32_t vm_id, uint32_t req_id, uint8_t pool,
         uint8_t prio, const struct req *r)
{
    return send_frame(fc, VGPU_MSG_REQUEST, vm_id, req_id, pool, prio, r->b,
                      r->len);
}

/* Queue ADD_I32(a, b) on a greeted connection, as itself. */
static void
queue_add(struct fake_conn *fc, uint32_t req_id, uint32_t a, uint32_t b)
{
    const struct vgpu_mconn *mc = fc->mc;
    struct req r;

    req_add(&r, a, b);
    assert_int_equal(
        send_req(fc, mc->vm_id, req_id, mc->pool, mc->priority, &r), 0);
}

/* Check the next frame is a RESPONSE to @req_id with @status; for a status
 * other than NONE, that its text holds @text. */
static const struct sent_frame *
expect_response(struct fake_conn *fc, uint32_t req_id, uint32_t status,
                const char *text)
{
    const struct sent_frame *sf = next_frame(fc);

    assert_int_equal(sf->hdr.type, VGPU_MSG_RESPONSE);
    assert_int_equal(sf->hdr.request_id, req_id);
    if (sf->hdr.status != status) {
        fail_msg("status %s, want %s (payload '%s')",
                 vgpu_strerror((int)sf->hdr.status), vgpu_strerror((int)status),
                 sf->hdr.status != VGPU_ERR_NONE ? (const char *)sf->payload
                                                 : "");
    }
    if (text != NULL && strstr((const char *)sf->payload, text) == NULL) {
        fail_msg("message '%s' lacks '%s'", (const char *)sf->payload, text);
    }
    return sf;
}

/* Check the next frame is an ERROR with @status holding @text (and @text2
 * unless NULL), and that the connection was closed once and takes no more
 * input. */
static void
expect_error_close2(struct fake_conn *fc, uint32_t status, const char *text,
                    const char *text2)
{
    const struct sent_frame *sf = next_frame(fc);
    uint8_t more[WIRE_CAP];
    size_t n;

    assert_int_equal(sf->hdr.type, VGPU_MSG_ERROR);
    if (sf->hdr.status != status) {
        fail_msg("status %s, want %s ('%s')",
                 vgpu_strerror((int)sf->hdr.status), vgpu_strerror((int)status),
                 (const char *)sf->payload);
    }
    if (strstr((const char *)sf->payload, text) == NULL ||
        (text2 != NULL && strstr((const char *)sf->payload, text2) == NULL)) {
        fail_msg("reason '%s' lacks '%s' / '%s'", (const char *)sf->payload,
                 text, text2 != NULL ? text2 : "");
    }
    assert_int_equal(fc->closes, 1);
    /* After close, input is ignored and reported. */
    n = wire_frame(more, VGPU_MSG_PING, 1, 1, POOL_A, MED, NULL, 0);
    assert_true(vgpu_mediator_conn_input(fc->mc, more, n) < 0);
    no_more_frames(fc);
    assert_int_equal(fc->closes, 1);
}

static void
expect_error_close(struct fake_conn *fc, uint32_t status, const char *text)
{
    expect_error_close2(fc, status, text, NULL);
}

/* What the CPU backend answers to @r, computed directly. */
static void
cpu_reference(const struct req *r, uint8_t *out, size_t *out_len)
{
    struct vgpu_op_desc desc;
    void *ctx = NULL;

    assert_int_equal(vgpu_op_validate(r->b, r->len, &desc, NULL, 0), 0);
    assert_int_equal(vgpu_backend_cpu.open("", &ctx, NULL, 0), 0);
    assert_int_equal(
        vgpu_backend_cpu.exec(ctx, &desc, out, VGPU_BUF_SIZE, out_len, NULL, 0),
        VGPU_ERR_NONE);
    vgpu_backend_cpu.close(ctx);
}

static uint32_t rng_state = 12345u;

static uint32_t
rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 17;
    rng_state ^= rng_state << 5;
    return rng_state;
}

static float
rng_f32(void)
{
    return (float)(int32_t)(rng() % 2001u) / 16.0f - 60.0f;
}

/* ---- Configuration and create -------------------------------------------- */

/* The public names of the policies, for tools that set cfg.policy. */
static void
test_config_policy_lookup(void **state)
{
    int policy = -1;

    assert_int_equal(vgpu_mediator_policy_lookup("priority", &policy), 0);
    assert_int_equal(policy, VGPU_SCHED_PRIORITY);
    assert_int_equal(vgpu_mediator_policy_lookup("weighted", &policy), 0);
    assert_int_equal(policy, VGPU_SCHED_WEIGHTED);
    policy = -1;
    assert_int_equal(vgpu_mediator_policy_lookup("Weighted", &policy), -EINVAL);
    assert_int_equal(vgpu_mediator_policy_lookup("fifo", &policy), -EINVAL);
    assert_int_equal(vgpu_mediator_policy_lookup(NULL, &policy), -EINVAL);
    assert_int_equal(policy, -1);
}

static void
test_config_default(void **state)
{
    struct vgpu_mediator_config cfg;

    (void)state;
    memset(&cfg, 0xff, sizeof(cfg));
    vgpu_mediator_config_default(&cfg);
    assert_int_equal(cfg.policy, VGPU_SCHED_PRIORITY);
    assert_int_equal(cfg.max_wait_ms, VGPU_SCHED_DEFAULT_MAX_WAIT_MS);
    assert_int_equal(cfg.weights[VGPU_PRIO_LOW], VGPU_SCHED_DEFAULT_WEIGHT_LOW);
    assert_int_equal(cfg.weights[VGPU_PRIO_MEDIUM],
                     VGPU_SCHED_DEFAULT_WEIGHT_MED);
    assert_int_equal(cfg.weights[VGPU_PRIO_HIGH],
                     VGPU_SCHED_DEFAULT_WEIGHT_HIGH);
    assert_int_equal(cfg.vm_queue_cap, VGPU_SCHED_DEFAULT_VM_QUEUE_CAP);
    assert_string_equal(cfg.default_backend, VGPU_BACKEND_CPU_NAME);
    assert_int_equal(cfg.log_level, VGPU_LOG_INFO);
    for (size_t i = 0; i < VGPU_POOL_COUNT; i++) {
        assert_null(cfg.pool_backend[i]);
    }
}

/* create refuses @cfg with a message holding @text (and @text2). */
static void
expect_create_fails(const struct vgpu_mediator_config *cfg,
                    const struct vgpu_mediator_ops *ops, const char *text,
                    const char *text2)
{
    char err[256] = "";

    assert_null(vgpu_mediator_create(cfg, ops, NULL, err, sizeof(err)));
    if (strstr(err, text) == NULL ||
        (text2 != NULL && strstr(err, text2) == NULL)) {
        fail_msg("error '%s' lacks '%s' / '%s'", err, text,
                 text2 != NULL ? text2 : "");
    }
    assert_null(strchr(err, '\n'));
}

static void
test_create_errors(void **state)
{
    static const struct vgpu_mediator_ops no_send = {
        .close = fake_close,
        .now_ns = fake_now,
    };
    char long_name[100];
    struct vgpu_mediator_config cfg;

    (void)state;
    vgpu_mediator_config_default(&cfg);
    cfg.pool_backend['C' - VGPU_POOL_FIRST] = "nosuch:1";
    expect_create_fails(&cfg, &fake_ops, "pool C", "'nosuch:1'");

    vgpu_mediator_config_default(&cfg);
    cfg.pool_backend['D' - VGPU_POOL_FIRST] = "cpu:delay_us=oops";
    expect_create_fails(&cfg, &fake_ops, "pool D", "'cpu:delay_us=oops'");

    vgpu_mediator_config_default(&cfg);
    cfg.default_backend = "gpu";
    expect_create_fails(&cfg, &fake_ops, "pool A", "'gpu'");

    vgpu_mediator_config_default(&cfg);
    memset(long_name, 'x', sizeof(long_name) - 1);
    long_name[sizeof(long_name) - 1] = '\0';
    cfg.pool_backend['Z' - VGPU_POOL_FIRST] = long_name;
    expect_create_fails(&cfg, &fake_ops, "pool Z", "unknown backend");

    vgpu_mediator_config_default(&cfg);
    cfg.policy = 7;
    expect_create_fails(&cfg, &fake_ops, "policy", "7");

    vgpu_mediator_config_default(&cfg);
    cfg.weights[VGPU_PRIO_MEDIUM] = 0;
    expect_create_fails(&cfg, &fake_ops, "weight", "medium");

    vgpu_mediator_config_default(&cfg);
    cfg.vm_queue_cap = 0;
    expect_create_fails(&cfg, &fake_ops, "vm_queue_cap", NULL);

    expect_create_fails(&cfg, NULL, "ops", NULL);
    expect_create_fails(NULL, &no_send, "send", NULL);

    /* No room for the message is fine too. */
    assert_null(vgpu_mediator_create(&cfg, &fake_ops, NULL, NULL, 0));
}

static void
test_create_backends(void **state)
{
    struct vgpu_mediator_config cfg;
    struct vgpu_mediator *m;
    char err[256] = "";

    (void)state;
    vgpu_mediator_config_default(&cfg);
    cfg.policy = VGPU_SCHED_WEIGHTED;
    cfg.pool_backend[0] = "cpu:delay_us=0";
    cfg.pool_backend[2] = "cpu:delay_us=0";
    cfg.pool_backend[3] = "cpu:";
    cfg.default_backend = NULL;
    m = vgpu_mediator_create(&cfg, &fake_ops, NULL, err, sizeof(err));
    if (m == NULL) {
        fail_msg("create: %s", err);
    }
    assert_string_equal(err, "");
    /* The same string shares one context; unmapped pools share "cpu". */
    assert_ptr_equal(m->backends[0].ctx, m->backends[2].ctx);
    assert_true(m->backends[0].owner);
    assert_false(m->backends[2].owner);
    assert_ptr_not_equal(m->backends[0].ctx, m->backends[1].ctx);
    assert_ptr_not_equal(m->backends[3].ctx, m->backends[1].ctx);
    assert_ptr_equal(m->backends[1].ctx, m->backends[25].ctx);
    assert_ptr_equal(m->backends[1].ops, &vgpu_backend_cpu);
    assert_int_equal(vgpu_mediator_pending(m), 0);
    assert_int_equal(vgpu_mediator_dispatch(m, 0), 0);
    vgpu_mediator_destroy(m);
    vgpu_mediator_destroy(NULL);
}

/* ---- HELLO --------------------------------------------------------------- */

static void
test_hello_ok(void **state)
{
    struct fake *f = fake_new();
    struct fake_conn *fc = fake_open(f, 0);
    const struct sent_frame *sf;
    uint32_t caps;
    uint32_t max;

    (void)state;
    /* A later minor version is fine; unknown capability bits are dropped.
     * Without VGPU_CAP_QUEUE the answer is the 8 bytes of SPEC.md 7. */
    assert_int_equal(send_hello_version(fc, 3, 'C', HIGH,
                                        VGPU_PROTOCOL_VERSION + 5,
                                        0xFFFFFFFFu & ~VGPU_CAP_QUEUE),
                     0);
    sf = next_frame(fc);
    assert_int_equal(sf->hdr.type, VGPU_MSG_HELLO_ACK);
    assert_int_equal(sf->hdr.status, VGPU_ERR_NONE);
    assert_int_equal(sf->hdr.vm_id, 3);
    assert_int_equal(sf->hdr.pool_id, 'C');
    assert_int_equal(sf->hdr.priority, HIGH);
    assert_int_equal(vgpu_hello_ack_unpack(sf->payload, sf->len, &caps, &max),
                     0);
    assert_int_equal(caps, VGPU_CAPABILITIES);
    assert_int_equal(max, VGPU_BUF_SIZE);
    assert_int_equal(f->admits, 1);
    assert_int_equal(fc->closes, 0);
    expect_log(f, VGPU_LOG_INFO, "vm=3: connected");

    /* Capabilities the device lacks are not granted. */
    fc = fake_open(f, 1);
    assert_int_equal(send_hello_version(fc, 4, 'A', LOW, VGPU_PROTOCOL_VERSION,
                                        VGPU_CAP_BASIC),
                     0);
    sf = next_frame(fc);
    assert_int_equal(vgpu_hello_ack_unpack(sf->payload, sf->len, &caps, &max),
                     0);
    assert_int_equal(caps, VGPU_CAP_BASIC);
    fake_free(f);
}

struct hello_case {
    uint32_t vm_id;
    uint8_t pool;
    uint8_t prio;
    uint32_t version;
    uint32_t status;
    const char *text;
};

static void
test_hello_refused(void **state)
{
    static const struct hello_case cases[] = {
        {1, POOL_A, MED, 0x00020000u, VGPU_ERR_PROTOCOL_ERROR,
         "protocol version 2.0 is not supported"},
        {1, POOL_A, MED, 0x00000001u, VGPU_ERR_PROTOCOL_ERROR,
         "protocol version 0.1"},
        {0, POOL_A, MED, VGPU_PROTOCOL_VERSION, VGPU_ERR_REJECTED,
         "vm_id 0 is not valid"},
        {1, '@', MED, VGPU_PROTOCOL_VERSION, VGPU_ERR_REJECTED, "pool 0x40"},
        {1, '[', MED, VGPU_PROTOCOL_VERSION, VGPU_ERR_REJECTED, "pool 0x5b"},
        {1, 'a', MED, VGPU_PROTOCOL_VERSION, VGPU_ERR_REJECTED, "pool 0x61"},
        {1, POOL_A, 3, VGPU_PROTOCOL_VERSION, VGPU_ERR_REJECTED,
         "priority 3 is not one of"},
        {1, POOL_A, 0xFF, VGPU_PROTOCOL_VERSION, VGPU_ERR_REJECTED,
         "priority 255"},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct hello_case *hc = &cases[i];
        struct fake *f = fake_new();
        struct fake_conn *fc = fake_open(f, 0);

        assert_true(send_hello_version(fc, hc->vm_id, hc->pool, hc->prio,
                                       hc->version, VGPU_CAPABILITIES) < 0);
        expect_error_close(fc, hc->status, hc->text);
        expect_log(f, VGPU_LOG_WARN, "hello refused");
        expect_log(f, VGPU_LOG_WARN, "; closing");
        assert_int_equal(f->admits, 0);
        /* A refused connection leaves no stats. */
        assert_int_equal(vgpu_mediator_stats(f->m, NULL, NULL), 0);
        fake_free(f);
    }
}

static void
test_hello_admit(void **state)
{
    struct fake *f = fake_new();
    struct fake_conn *fc;

    (void)state;
    f->admit_rc = VGPU_ERR_REJECTED;
    f->admit_why = "vm 5 is not in the registry";
    fc = fake_open(f, 0);
    assert_true(send_hello(fc, 5, POOL_A, MED) < 0);
    expect_error_close(fc, VGPU_ERR_REJECTED, "vm 5 is not in the registry");
    expect_log(f, VGPU_LOG_WARN,
               "vm=5: hello refused: vm 5 is not in the registry; closing");
    fake_close_conn(fc);

    /* A refusal without a reason still says something. */
    f->admit_why = NULL;
    fc = fake_open(f, 1);
    assert_true(send_hello(fc, 5, POOL_A, MED) < 0);
    expect_error_close(fc, VGPU_ERR_REJECTED, "refused");
    assert_int_equal(f->admits, 2);
    fake_free(f);
}

/* A second connection claiming a connected vm_id is refused, and closing it
 * leaves the first connection's queued work alone. */
static void
test_hello_duplicate(void **state)
{
    struct fake *f = fake_new();
    struct fake_conn *first = greeted(f, 0, 3, POOL_A, MED);
    struct fake_conn *dup;

    (void)state;
    queue_add(first, 1, 1, 2);
    queue_add(first, 2, 3, 4);
    dup = fake_open(f, 1);
    assert_true(send_hello(dup, 3, POOL_A, MED) < 0);
    expect_error_close(dup, VGPU_ERR_REJECTED, "vm_id 3 is already connected");
    expect_log(f, VGPU_LOG_WARN, "vm=3: hello refused");
    fake_close_conn(dup);
    assert_int_equal(vgpu_mediator_pending(f->m), 2);

    assert_int_equal(vgpu_mediator_dispatch(f->m, 0), 2);
    assert_int_equal(vgpu_get_le32(expect_response(first, 1, 0, NULL)->payload),
                     3);
    assert_int_equal(vgpu_get_le32(expect_response(first, 2, 0, NULL)->payload),
                     7);

    /* Once the owner is gone, the vm_id is free again. */
    fake_close_conn(first);
    dup = greeted(f, 1, 3, POOL_B, HIGH);
    assert_int_equal(dup->closes, 0);
    fake_free(f);
}

static void
test_hello_second(void **state)
{
    struct fake *f = fake_new();
    struct fake_conn *fc = greeted(f, 0, 2, POOL_A, MED);

    (void)state;
    queue_add(fc, 1, 1, 1);
    assert_true(send_hello(fc, 2, POOL_A, MED) < 0);
    expect_error_close(fc, VGPU_ERR_PROTOCOL_ERROR, "unexpected HELLO");
    expect_log(f, VGPU_LOG_WARN, "vm=2: protocol error: unexpected HELLO");
    /* The closing connection's work is dropped: nobody reads its answer. */
    assert_int_equal(vgpu_mediator_pending(f->m), 0);
    fake_free(f);
}

/* ---- Protocol errors ----------------------------------------------------- */

static void
test_proto_before_hello(void **state)
{
    struct fake *f = fake_new();
    struct fake_conn *fc = fake_open(f, 0);
    struct req r;

    (void)state;
    req_add(&r, 1, 2);
    assert_true(send_req(fc, 1, 1, POOL_A, MED, &r) < 0);
    expect_error_close(fc, VGPU_ERR_PROTOCOL_ERROR,
                       "expected HELLO, got REQUEST");
    expect_log(f, VGPU_LOG_WARN,
               "vm=-: protocol error: expected HELLO, got REQUEST; closing");

    fc = fake_open(f, 1);
    assert_true(send_frame(fc, VGPU_MSG_PING, 1, 9, POOL_A, MED, NULL, 0) < 0);
    expect_error_close(fc, VGPU_ERR_PROTOCOL_ERROR, "expected HELLO, got PING");
    fake_free(f);
}

/* Raw header bytes with one field spoilt. */
static size_t
bad_header(uint8_t *buf, size_t off, uint32_t value, size_t width)
{
    size_t n = wire_frame(buf, VGPU_MSG_PING, 1, 1, POOL_A, MED, NULL, 0);

    if (width == 2) {
        vgpu_put_le16(buf + off, (uint16_t)value);
    } else {
        vgpu_put_le32(buf + off, value);
    }
    return n;
}

struct bad_case {
    size_t off;
    uint32_t value;
    size_t width;
    const char *text;
    const char *text2;
};

/* Each bad header gives ERROR + close on its connection, and a greeted
 * connection on the same mediator keeps being served. */
static void
test_proto_bad_header(void **state)
{
    static const struct bad_case cases[] = {
        {VGPU_HDR_OFF_MAGIC, BAD_WORD, 4, "bad magic 0x41414141",
         "frame magic is not VGPU"},
        {VGPU_HDR_OFF_VERSION, 2, 2, "bad version 2",
         "frame protocol version is unknown"},
        {VGPU_HDR_OFF_TYPE, 9, 2, "bad type 9",
         "frame message type is unknown"},
        {VGPU_HDR_OFF_TYPE, 0, 2, "bad type 0", "unknown"},
        {VGPU_HDR_OFF_PAYLOAD_LEN, VGPU_BUF_SIZE + 1, 4,
         "payload of 1025 bytes over the limit of 1024",
         "frame payload is over the limit"},
        {VGPU_HDR_OFF_PAYLOAD_LEN, 0xFFFFFFFFu, 4,
         "payload of 4294967295 bytes over the limit of 1024",
         "over the limit"},
        {VGPU_HDR_OFF_PAYLOAD_LEN, 4, 4, "PING with a payload of 4 bytes",
         "frame payload size is wrong for its type"},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct bad_case *bc = &cases[i];
        struct fake *f = fake_new();
        struct fake_conn *good = greeted(f, 0, 1, POOL_A, MED);
        struct fake_conn *bad = fake_open(f, 1);
        struct fake_conn *bad2;
        uint8_t buf[WIRE_CAP];
        size_t n = bad_header(buf, bc->off, bc->value, bc->width);
        char want[LOG_LEN];

        queue_add(good, 1, 20, 22);
        /* Before HELLO. */
        assert_true(vgpu_mediator_conn_input(bad->mc, buf, n) < 0);
        expect_error_close2(bad, VGPU_ERR_PROTOCOL_ERROR, bc->text, bc->text2);
        snprintf(want, sizeof(want), "vm=-: protocol error: %s; closing",
                 bc->text);
        expect_log(f, VGPU_LOG_WARN, want);

        /* After HELLO, mid-stream, fed byte by byte. */
        bad2 = greeted(f, 2, 2, POOL_A, MED);
        queue_add(bad2, 5, 1, 1);
        for (size_t j = 0; j < n; j++) {
            int rc = vgpu_mediator_conn_input(bad2->mc, buf + j, 1);

            assert_int_equal(rc < 0, j == VGPU_HDR_SIZE - 1);
        }
        expect_error_close2(bad2, VGPU_ERR_PROTOCOL_ERROR, bc->text, bc->text2);
        snprintf(want, sizeof(want), "vm=2: protocol error: %s; closing",
                 bc->text);
        expect_log(f, VGPU_LOG_WARN, want);

        /* The good connection is untouched and still served. */
        assert_int_equal(vgpu_mediator_pending(f->m), 1);
        assert_int_equal(vgpu_mediator_dispatch(f->m, 0), 1);
        assert_int_equal(
            vgpu_get_le32(expect_response(good, 1, 0, NULL)->payload), 42);
        queue_add(good, 2, 1, 2);
        assert_int_equal(vgpu_mediator_dispatch(f->m, 0), 1);
        expect_response(good, 2, 0, NULL);
        assert_int_equal(good->closes, 0);
        no_more_frames(bad2);
        fake_free(f);
    }
}

static void
test_proto_device_frames(void **state)
{
    static const uint16_t types[] = {VGPU_MSG_HELLO_ACK, VGPU_MSG_RESPONSE,
                                     VGPU_MSG_ERROR};
    static const char *const names[] = {"HELLO_ACK", "RESPONSE", "ERROR"};

    (void)state;
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        struct fake *f = fake_new();
        struct fake_conn *fc = greeted(f, 0, 1, POOL_A, MED);
        uint8_t p[VGPU_HELLO_ACK_PAYLOAD_SIZE] = {0};
        char want[64];

        assert_true(send_frame(fc, types[i], 1, 0, POOL_A, MED, p, sizeof(p)) <
                    0);
        snprintf(want, sizeof(want), "unexpected %s from a device", names[i]);
        expect_error_close(fc, VGPU_ERR_PROTOCOL_ERROR, want);
        fake_free(f);
    }
}

/* ---- Requests ------------------------------------------------------------ */

/* Send @r, dispatch it, and check the answer is what the CPU backend gives. */
static void
roundtrip(struct fake *f, struct fake_conn *fc, uint32_t req_id,
          const struct req *r)
{
    uint8_t want[VGPU_BUF_SIZE];
    size_t want_len = 0;
    const struct sent_frame *sf;

    cpu_reference(r, want, &want_len);
    assert_int_equal(
        send_req(fc, fc->mc->vm_id, req_id, fc->mc->pool, fc->mc->priority, r),
        0);
    assert_int_equal(vgpu_mediator_pending(f->m), 1);
    assert_int_equal(vgpu_mediator_dispatch(f->m, 0), 1);
    sf = expect_response(fc, req_id, VGPU_ERR_NONE, NULL);
    assert_int_equal(sf->hdr.vm_id, fc->mc->vm_id);
    assert_int_equal(sf->hdr.pool_id, fc->mc->pool);
    assert_int_equal(sf->hdr.priority, fc->mc->priority);
    assert_int_equal(sf->len, want_len);
    if (want_len > 0) {
        assert_memory_equal(sf->payload, want, want_len);
    }
}

static void
test_ops_all(void **state)
{
    struct fake *f = fake_new();
    struct fake_conn *fc = greeted(f, 0, 7, 'Q', LOW);
    uint32_t id = 100;
    struct req r;

    (void)state;
    req_begin(&r, VGPU_OP_NOP, 0);
    roundtrip(f, fc, id++, &r);

    for (uint32_t n = 0; n <= VGPU_ECHO_MAX_N; n += VGPU_ECHO_MAX_N / 4) {
        req_begin(&r, VGPU_OP_ECHO, n);
        for (uint32_t i = 0; i < n; i++) {
            r.b[r.len++] = (uint8_t)rng();
        }
        roundtrip(f, fc, id++, &r);
    }

    req_add(&r, 100, 200);
    roundtrip(f, fc, id++, &r);
    assert_int_equal(vgpu_get_le32(fc->frames[fc->read - 1].payload), 300);
    req_begin(&r, VGPU_OP_ADD_I32, VGPU_ADD_MAX_N);
    for (uint32_t i = 0; i < 2 * VGPU_ADD_MAX_N; i++) {
        req_u32(&r, rng());
    }
    roundtrip(f, fc, id++, &r);

    req_begin(&r, VGPU_OP_ADD_F32, VGPU_ADD_MAX_N);
    for (uint32_t i = 0; i < 2 * VGPU_ADD_MAX_N; i++) {
        req_f32(&r, rng_f32());
    }
    roundtrip(f, fc, id++, &r);

    req_begin(&r, VGPU_OP_SAXPY_F32, VGPU_SAXPY_MAX_N);
    for (uint32_t i = 0; i < 2 * VGPU_SAXPY_MAX_N + 1; i++) {
        req_f32(&r, rng_f32());
    }
    roundtrip(f, fc, id++, &r);

    req_begin(&r, VGPU_OP_DOT_F32, VGPU_DOT_MAX_N);
    for (uint32_t i = 0; i < 2 * VGPU_DOT_MAX_N; i++) {
        req_f32(&r, rng_f32());
    }
    roundtrip(f, fc, id++, &r);

    /* MATMUL 2x3 * 3x2, then the largest square-ish one: 11x11 * 11x11. */
    req_begin(&r, VGPU_OP_MATMUL_F32, 2);
    req_u32(&r, 3);
    req_u32(&r, 2);
    for (uint32_t i = 0; i < 12; i++) {
        req_f32(&r, (float)i);
    }
    roundtrip(f, fc, id++, &r);
    req_begin(&r, VGPU_OP_MATMUL_F32, 11);
    req_u32(&r, 11);
    req_u32(&r, 11);
    for (uint32_t i = 0; i < 2 * 11 * 11; i++) {
        req_f32(&r, rng_f32());
    }
    roundtrip(f, fc, id++, &r);
    /* k = 0 with a result that fits: all zeros. */
    req_begin(&r, VGPU_OP_MATMUL_F32, 16);
    req_u32(&r, 0);
    req_u32(&r, 16);
    roundtrip(f, fc, id++, &r);

    no_more_frames(fc);
    assert_int_equal(fc->closes, 0);
    fake_free(f);
}

/* A pool with a delaying CPU backend still computes; a pool maps to its own
 * backend. */
static void
test_ops_pool_backend(void **state)
{
    struct vgpu_mediator_config cfg;
    struct fake *f;
    struct fake_conn *fc;
    struct req r;

    (void)state;
    vgpu_mediator_config_default(&cfg);
    cfg.pool_backend[POOL_B - VGPU_POOL_FIRST] = "cpu:delay_us=1000";
    f = fake_new_cfg(&cfg);
    fc = greeted(f, 0, 1, POOL_B, MED);
    req_add(&r, 5, 6);
    roundtrip(f, fc, 1, &r);
    fake_free(f);
}

static void
test_request_invalid(void **state)
{
    struct fake *f = fake_new();
    struct fake_conn *fc = greeted(f, 0, 1, POOL_A, MED);
    struct req r;

    (void)state;
    req_begin(&r, 0x7Fu, 0);
    assert_int_equal(send_req(fc, 1, 5, POOL_A, MED, &r), 0);
    expect_response(fc, 5, VGPU_ERR_INVALID_REQUEST, "unknown op 0x7f");
    expect_log(f, VGPU_LOG_WARN, "vm=1 req=5 status=INVALID_REQUEST");

    req_add(&r, 1, 2);
    r.len -= 1;
    assert_int_equal(send_req(fc, 1, 6, POOL_A, MED, &r), 0);
    expect_response(fc, 6, VGPU_ERR_INVALID_REQUEST, NULL);

    /* An empty REQUEST. */
    assert_int_equal(
        send_frame(fc, VGPU_MSG_REQUEST, 1, 7, POOL_A, MED, NULL, 0), 0);
    expect_response(fc, 7, VGPU_ERR_INVALID_REQUEST, NULL);
    assert_int_equal(vgpu_mediator_pending(f->m), 0);

    /* The connection stays up. */
    assert_int_equal(fc->closes, 0);
    req_add(&r, 1, 2);
    roundtrip(f, fc, 8, &r);
    fake_free(f);
}

static void
test_request_too_large(void **state)
{
    struct fake *f = fake_new();
    struct fake_conn *fc = greeted(f, 0, 1, POOL_A, MED);
    struct req r;

    (void)state;
    req_begin(&r, VGPU_OP_MATMUL_F32, 20);
    req_u32(&r, 0);
    req_u32(&r, 20);
    assert_int_equal(send_req(fc, 1, 9, POOL_A, MED, &r), 0);
    expect_response(fc, 9, VGPU_ERR_RESPONSE_TOO_LARGE, "1600 bytes");
    assert_int_equal(vgpu_mediator_pending(f->m), 0);
    assert_int_equal(fc->closes, 0);
    fake_free(f);
}

static void
test_request_mismatch(void **state)
{
    struct fake *f = fake_new();
    struct fake_conn *fc = greeted(f, 0, 3, POOL_A, MED);
    const struct sent_frame *sf;
    struct req r;

    (void)state;
    req_add(&r, 1, 2);
    assert_int_equal(send_req(fc, 4, 1, POOL_A, MED, &r), 0);
    sf = expect_response(fc, 1, VGPU_ERR_REJECTED, "vm_id 4");
    assert_non_null(strstr((const char *)sf->payload, "vm_id 3"));
    /* The header is copied from the request. */
    assert_int_equal(sf->hdr.vm_id, 4);

    assert_int_equal(send_req(fc, 3, 2, POOL_B, MED, &r), 0);
    sf = expect_response(fc, 2, VGPU_ERR_REJECTED, "pool 0x42");
    assert_non_null(strstr((const char *)sf->payload, "pool A"));

    assert_int_equal(send_req(fc, 3, 3, POOL_A, HIGH, &r), 0);
    sf = expect_response(fc, 3, VGPU_ERR_REJECTED, "priority 2 (high)");
    assert_non_null(strstr((const char *)sf->payload, "priority medium"));

    assert_int_equal(vgpu_mediator_pending(f->m), 0);
    assert_int_equal(fc->closes, 0);
    roundtrip(f, fc, 4, &r);
    fake_free(f);
}

static void
test_ping_pong(void **state)
{
    struct fake *f = fake_new();
    struct fake_conn *fc = greeted(f, 0, 1, POOL_A, MED);
    const struct sent_frame *sf;

    (void)state;
    assert_int_equal(
        send_frame(fc, VGPU_MSG_PING, 1, 0xABCDu, POOL_A, MED, NULL, 0), 0);
    sf = next_frame(fc);
    assert_int_equal(sf->hdr.type, VGPU_MSG_PONG);
    assert_int_equal(sf->hdr.request_id, 0xABCDu);
    assert_int_equal(sf->len, 0);
    assert_int_equal(
        send_frame(fc, VGPU_MSG_PONG, 1, 0xABCEu, POOL_A, MED, NULL, 0), 0);
    no_more_frames(fc);
    assert_int_equal(fc->closes, 0);
    fake_free(f);
}

/* HELLO and three requests in one buffer, fed one byte at a time, then the
 * same again all at once. */
static void
test_input_splits(void **state)
{
    uint8_t buf[4 * WIRE_CAP];
    uint8_t p[VGPU_HELLO_PAYLOAD_SIZE];
    size_t n = 0;
    struct req r;

    (void)state;
    vgpu_hello_pack(p, VGPU_PROTOCOL_VERSION, VGPU_CAPABILITIES);
    n += wire_frame(buf + n, VGPU_MSG_HELLO, 1, 0, POOL_A, MED, p, sizeof(p));
    for (uint32_t i = 0; i < 3; i++) {
        req_add(&r, i, 10 * i);
        n += wire_frame(buf + n, VGPU_MSG_REQUEST, 1, i, POOL_A, MED, r.b,
                        r.len);
    }
    n += wire_frame(buf + n, VGPU_MSG_PING, 1, 77, POOL_A, MED, NULL, 0);

    for (int whole = 0; whole < 2; whole++) {
        struct fake *f = fake_new();
        struct fake_conn *fc = fake_open(f, 0);

        if (whole) {
            assert_int_equal(vgpu_mediator_conn_input(fc->mc, buf, n), 0);
        } else {
            for (size_t i = 0; i < n; i++) {
                assert_int_equal(vgpu_mediator_conn_input(fc->mc, buf + i, 1),
                                 0);
            }
        }
        assert_int_equal(vgpu_mediator_conn_input(fc->mc, NULL, 0), 0);
        assert_int_equal(vgpu_mediator_conn_input(fc->mc, NULL, 1), -EINVAL);
        assert_int_equal(next_frame(fc)->hdr.type, VGPU_MSG_HELLO_ACK);
        assert_int_equal(next_frame(fc)->hdr.type, VGPU_MSG_PONG);
        assert_int_equal(vgpu_mediator_pending(f->m), 3);
        assert_int_equal(vgpu_mediator_dispatch(f->m, 0), 3);
        for (uint32_t i = 0; i < 3; i++) {
            const struct sent_frame *sf = expect_response(fc, i, 0, NULL);

            assert_int_equal(vgpu_get_le32(sf->payload), 11 * i);
        }
        fake_free(f);
    }
}

static void
test_queue_cap(void **state)
{
    struct vgpu_mediator_config cfg;
    struct fake *f;
    struct fake_conn *fc;
    struct fake_conn *other;

    (void)state;
    vgpu_mediator_config_default(&cfg);
    cfg.vm_queue_cap = 4;
    f = fake_new_cfg(&cfg);
    fc = greeted(f, 0, 3, POOL_A, MED);
    other = greeted(f, 1, 4, POOL_A, MED);
    for (uint32_t i = 0; i < 4; i++) {
        queue_add(fc, i, i, 1);
    }
    no_more_frames(fc);
    queue_add(fc, 4, 4, 1);
    expect_response(fc, 4, VGPU_ERR_REJECTED,
                    "queue full: vm 3 has 4 requests queued");
    /* The cap is per VM. */
    queue_add(other, 1, 1, 1);
    no_more_frames(other);
    assert_int_equal(vgpu_mediator_pending(f->m), 5);

    assert_int_equal(vgpu_mediator_dispatch(f->m, 0), 5);
    for (uint32_t i = 0; i < 4; i++) {
        expect_response(fc, i, 0, NULL);
    }
    queue_add(fc, 5, 1, 1);
    no_more_frames(fc);
    fake_free(f);
}

/* A peer that floods a full queue gets every answer, but the log gets at
 * most a burst of lines a second per connection and one summary. */
static void
test_refusal_log_rate_limit(void **state)
{
    struct vgpu_mediator_config cfg;
    struct fake *f;
    struct fake_conn *fc;
    size_t logs_before;
    size_t refusal_lines = 0;
    int summary = 0;

    (void)state;
    vgpu_mediator_config_default(&cfg);
    cfg.vm_queue_cap = 1;
    f = fake_new_cfg(&cfg);
    fc = greeted(f, 0, 3, POOL_A, MED);
    queue_add(fc, 0, 0, 1);
    logs_before = f->nlogs;
    for (uint32_t i = 1; i <= 100; i++) {
        queue_add(fc, i, i, 1);
        expect_response(fc, i, VGPU_ERR_REJECTED,
                        "queue full: vm 3 has 1 requests queued");
    }
    for (size_t i = logs_before; i < f->nlogs; i++) {
        refusal_lines += strstr(f->logs[i], "status=REJECTED") != NULL;
    }
    assert_int_equal(refusal_lines, VGPU_MED_REFUSE_LOG_BURST);
    /* A second later, the held-back count is logged, then the next line. */
    f->now += VGPU_MED_REFUSE_LOG_WINDOW_NS;
    queue_add(fc, 101, 1, 1);
    expect_response(fc, 101, VGPU_ERR_REJECTED, NULL);
    for (size_t i = logs_before; i < f->nlogs; i++) {
        summary +=
            strstr(f->logs[i], "90 more refused requests not logged") != NULL;
    }
    assert_int_equal(summary, 1);
    assert_non_null(strstr(f->logs[f->nlogs - 1], "req=101 status=REJECTED"));
    fake_free(f);
}

/* The scheduler refuses with -EAGAIN even when the core's own check did not
 * see the cap coming (defence in depth): here, a cap lowered under it. */
static void
test_queue_cap_sched(void **state)
{
    struct vgpu_mediator_config cfg;
    struct fake *f;
    struct fake_conn *fc;

    (void)state;
    vgpu_mediator_config_default(&cfg);
    cfg.vm_queue_cap = 2;
    f = fake_new_cfg(&cfg);
    fc = greeted(f, 0, 3, POOL_A, MED);
    f->m->vm_queue_cap = 3; /* the core now believes a third one fits */
    queue_add(fc, 1, 1, 1);
    queue_add(fc, 2, 1, 1);
    queue_add(fc, 3, 1, 1);
    expect_response(fc, 3, VGPU_ERR_REJECTED,
                    "queue full: vm 3 has 2 requests queued");
    fake_free(f);
}

static void
test_close_queued(void **state)
{
    struct fake *f = fake_new();
    struct fake_conn *fc = greeted(f, 0, 3, POOL_A, MED);
    struct fake_conn *other = greeted(f, 1, 4, POOL_B, MED);

    (void)state;
    for (uint32_t i = 0; i < 10; i++) {
        queue_add(fc, i, i, i);
    }
    queue_add(other, 1, 2, 3);
    assert_int_equal(vgpu_mediator_pending(f->m), 11);
    fake_close_conn(fc);
    assert_int_equal(vgpu_mediator_pending(f->m), 1);
    expect_log(f, VGPU_LOG_INFO, "vm=3: disconnected, 10 queued");
    assert_int_equal(fc->closes, 0); /* the transport closed it */
    assert_int_equal(vgpu_mediator_dispatch(f->m, 0), 1);
    expect_response(other, 1, 0, NULL);
    vgpu_mediator_conn_close(NULL);
    fake_free(f);
}

/* destroy frees connections an owner forgot to close, and their work. */
static void
test_destroy_open_conns(void **state)
{
    struct fake *f = fake_new();
    struct fake_conn *fc = greeted(f, 0, 3, POOL_A, MED);

    (void)state;
    queue_add(fc, 1, 1, 1);
    fake_open(f, 1);
    vgpu_mediator_destroy(f->m);
    free(f);
}

static void
test_shutdown(void **state)
{
    struct fake *f = fake_new();
    struct fake_conn *a = greeted(f, 0, 1, POOL_A, HIGH);
    struct fake_conn *b = greeted(f, 1, 2, POOL_B, LOW);

    (void)state;
    queue_add(a, 1, 1, 1);
    queue_add(a, 2, 1, 1);
    queue_add(b, 3, 1, 1);
    assert_int_equal(vgpu_mediator_shutdown(f->m), 3);
    expect_response(a, 1, VGPU_ERR_REJECTED, "mediator shutting down");
    expect_response(a, 2, VGPU_ERR_REJECTED, "mediator shutting down");
    expect_response(b, 3, VGPU_ERR_REJECTED, "mediator shutting down");
    assert_int_equal(vgpu_mediator_pending(f->m), 0);
    expect_log(f, VGPU_LOG_INFO, "3 queued requests answered REJECTED");

    /* Later requests get the same answer; the connections stay open. */
    queue_add(b, 4, 1, 1);
    expect_response(b, 4, VGPU_ERR_REJECTED, "mediator shutting down");
    assert_int_equal(vgpu_mediator_dispatch(f->m, 0), 0);
    assert_int_equal(vgpu_mediator_shutdown(f->m), 0);
    assert_int_equal(a->closes + b->closes, 0);
    /* PING still works. */
    assert_int_equal(send_frame(a, VGPU_MSG_PING, 1, 1, POOL_A, HIGH, NULL, 0),
                     0);
    assert_int_equal(next_frame(a)->hdr.type, VGPU_MSG_PONG);
    fake_free(f);
}

/* ---- Executors: take, run, finish --------------------------------------- */

/* A CPU backend context for a test executor, and its frame. */
struct test_exec {
    void *ctx;
    uint8_t frame[VGPU_HDR_SIZE + VGPU_BUF_SIZE];
};

static void
test_exec_open(struct test_exec *e, const char *spec)
{
    char why[128] = "";

    assert_int_equal(vgpu_backend_cpu.open(spec, &e->ctx, why, sizeof(why)), 0);
}

/* Run @j on @e's context and finish it: one executor's whole turn. */
static void
test_exec_turn(struct test_exec *e, struct vgpu_mediator_job *j)
{
    vgpu_mediator_job_run(j, &vgpu_backend_cpu, e->ctx, e->frame,
                          sizeof(e->frame));
    vgpu_mediator_job_finish(j);
}

/* Two ADD_I32 requests (1 and 2) queued by @a, the first taken. */
static struct vgpu_mediator_job *
test_take_first_of_two(struct fake *f, struct fake_conn *a, struct test_exec *e)
{
    struct vgpu_mediator_job *j;

    test_exec_open(e, "");
    queue_add(a, 1, 1, 2);
    queue_add(a, 2, 1, 2);
    j = vgpu_mediator_take(f->m, POOL_A);
    assert_non_null(j);
    return j;
}

/* The steps of dispatch, apart: taking moves a request from the queue to
 * the running jobs, and the answer goes out only at finish. */
static void
test_job_take_run_finish(void **state)
{
    struct fake *f = fake_new();
    struct fake_conn *a = greeted(f, 0, 1, POOL_A, MED);
    struct vgpu_mediator_job *j1;
    struct vgpu_mediator_job *j2;
    struct test_exec e1;
    struct test_exec e2;
    int32_t sum;

    (void)state;
    test_exec_open(&e1, "");
    test_exec_open(&e2, "");
    queue_add(a, 1, 100, 200);
    queue_add(a, 2, 5, 6);
    assert_null(vgpu_mediator_take(f->m, POOL_B));
    j1 = vgpu_mediator_take(f->m, POOL_A);
    j2 = vgpu_mediator_take(f->m, POOL_A);
    assert_non_null(j1);
    assert_non_null(j2);
    assert_null(vgpu_mediator_take(f->m, POOL_A));
    assert_int_equal(vgpu_mediator_pending(f->m), 0);
    assert_int_equal(vgpu_mediator_running(f->m), 2);
    assert_int_equal(vgpu_mediator_conn_running(a->mc), 2);
    /* An ADD is no NOP: not inline. */
    assert_false(vgpu_mediator_job_inline(j1, &vgpu_backend_cpu, e1.ctx));
    /* Two executors, finished in the other order. */
    vgpu_mediator_job_run(j2, &vgpu_backend_cpu, e2.ctx, e2.frame,
                          sizeof(e2.frame));
    vgpu_mediator_job_run(j1, &vgpu_backend_cpu, e1.ctx, e1.frame,
                          sizeof(e1.frame));
    no_more_frames(a);
    vgpu_mediator_job_finish(j2);
    vgpu_mediator_job_finish(j1);
    memcpy(&sum, expect_response(a, 2, 0, NULL)->payload, sizeof(sum));
    assert_int_equal(sum, 11);
    memcpy(&sum, expect_response(a, 1, 0, NULL)->payload, sizeof(sum));
    assert_int_equal(sum, 300);
    assert_int_equal(vgpu_mediator_running(f->m), 0);
    assert_int_equal(vgpu_mediator_conn_running(a->mc), 0);
    assert_int_equal(vgpu_mediator_held_bytes(f->m), 0);
    assert_int_equal(vgpu_mediator_dropped_answers(f->m), 0);
    vgpu_backend_cpu.close(e1.ctx);
    vgpu_backend_cpu.close(e2.ctx);
    fake_free(f);
}

/* A job whose VM disconnects while it runs is finished all the same: its
 * answer is dropped and counted, and its bytes are released at finish. */
static void
test_job_orphan(void **state)
{
    struct fake *f = fake_new();
    struct fake_conn *a = greeted(f, 0, 1, POOL_A, MED);
    struct fake_conn *b = greeted(f, 1, 2, POOL_A, MED);
    struct vgpu_mediator_job *j;
    struct test_exec e;

    (void)state;
    j = test_take_first_of_two(f, a, &e);
    assert_true(vgpu_mediator_held_bytes(f->m) > 0);
    fake_close_conn(a); /* drops req 2, still queued; req 1 runs */
    assert_int_equal(vgpu_mediator_pending(f->m), 0);
    assert_int_equal(vgpu_mediator_running(f->m), 1);
    assert_true(vgpu_mediator_held_bytes(f->m) > 0);
    /* The vm_id is free again while the orphan runs. */
    assert_int_equal(send_hello(fake_open(f, 2), 1, POOL_A, MED), 0);
    test_exec_turn(&e, j);
    assert_int_equal(vgpu_mediator_dropped_answers(f->m), 1);
    assert_int_equal(vgpu_mediator_running(f->m), 0);
    assert_int_equal(vgpu_mediator_held_bytes(f->m), 0);
    expect_log(f, VGPU_LOG_INFO, "vm=1 req=1: answer dropped");
    no_more_frames(b);
    vgpu_backend_cpu.close(e.ctx);
    fake_free(f);
}

/* SIGTERM with a job running: what is queued is answered REJECTED at
 * once; what runs is answered with its result when it finishes. */
static void
test_job_shutdown_running(void **state)
{
    struct fake *f = fake_new();
    struct fake_conn *a = greeted(f, 0, 1, POOL_A, MED);
    struct vgpu_mediator_job *j;
    struct test_exec e;

    (void)state;
    j = test_take_first_of_two(f, a, &e);
    assert_int_equal(vgpu_mediator_shutdown(f->m), 1);
    expect_response(a, 2, VGPU_ERR_REJECTED, "mediator shutting down");
    test_exec_turn(&e, j);
    expect_response(a, 1, 0, NULL);
    no_more_frames(a);
    vgpu_backend_cpu.close(e.ctx);
    fake_free(f);
}

/* Only a NOP on a CPU context without delay_us is cheap enough to run on
 * the loop thread. */
static void
test_job_inline(void **state)
{
    struct fake *f = fake_new();
    struct fake_conn *a = greeted(f, 0, 1, POOL_A, MED);
    struct vgpu_mediator_job *j;
    struct test_exec plain;
    struct test_exec slow;
    struct req r;

    (void)state;
    test_exec_open(&plain, "");
    test_exec_open(&slow, "delay_us=1");
    req_begin(&r, VGPU_OP_NOP, 0);
    assert_int_equal(send_req(a, 1, 1, POOL_A, MED, &r), 0);
    j = vgpu_mediator_take(f->m, POOL_A);
    assert_non_null(j);
    assert_true(vgpu_mediator_job_inline(j, &vgpu_backend_cpu, plain.ctx));
    assert_false(vgpu_mediator_job_inline(j, &vgpu_backend_cpu, slow.ctx));
    test_exec_turn(&plain, j);
    expect_response(a, 1, 0, NULL);
    vgpu_backend_cpu.close(plain.ctx);
    vgpu_backend_cpu.close(slow.ctx);
    fake_free(f);
}

/* A send that fails closes the connection once and drops its work; the
 * other connection is served. */
static void
test_send_fail_dispatch(void **state)
{
    struct fake *f = fake_new();
    struct fake_conn *fc = greeted(f, 0, 1, POOL_A, MED);
    struct fake_conn *other = greeted(f, 1, 2, POOL_A, MED);

    (void)state;
    queue_add(fc, 1, 1, 1);
    queue_add(fc, 2, 1, 1);
    queue_add(fc, 3, 1, 1);
    queue_add(other, 4, 1, 1);
    fc->fail_sends = fc->sends + 1; /* the next send fails */
    assert_int_equal(vgpu_mediator_dispatch(f->m, 0), 2);
    assert_int_equal(fc->closes, 1);
    no_more_frames(fc);
    expect_response(other, 4, 0, NULL);
    expect_log(f, VGPU_LOG_WARN, "vm=1: cannot send RESPONSE");
    assert_int_equal(vgpu_mediator_pending(f->m), 0);
    /* Input is refused from now on, and close is not called again. */
    assert_int_equal(send_frame(fc, VGPU_MSG_PING, 1, 1, POOL_A, MED, NULL, 0),
                     -ENOBUFS);
    assert_int_equal(fc->closes, 1);
    /* The vm_id is still taken until the transport closes it. */
    assert_true(send_hello(fake_open(f, 2), 1, POOL_A, MED) < 0);
    fake_free(f);
}

static void
test_send_fail_input(void **state)
{
    struct fake *f = fake_new();
    struct fake_conn *fc = fake_open(f, 0);
    struct req r;

    (void)state;
    /* HELLO_ACK. */
    fc->fail_sends = 1;
    assert_int_equal(send_hello(fc, 1, POOL_A, MED), -ENOBUFS);
    assert_int_equal(fc->closes, 1);
    fake_close_conn(fc);

    /* An immediate refusal. */
    fc = greeted(f, 0, 1, POOL_A, MED);
    fc->fail_sends = fc->sends + 1;
    req_begin(&r, 0x7Fu, 0);
    assert_true(send_req(fc, 1, 1, POOL_A, MED, &r) < 0);
    assert_int_equal(fc->closes, 1);
    fake_close_conn(fc);

    /* A PONG. */
    fc = greeted(f, 0, 1, POOL_A, MED);
    fc->fail_sends = fc->sends + 1;
    assert_true(send_frame(fc, VGPU_MSG_PING, 1, 1, POOL_A, MED, NULL, 0) < 0);
    assert_int_equal(fc->closes, 1);
    fake_close_conn(fc);

    /* The ERROR frame itself: close is still called once. */
    fc = fake_open(f, 0);
    fc->fail_sends = 1;
    req_add(&r, 1, 1);
    assert_true(send_req(fc, 1, 1, POOL_A, MED, &r) < 0);
    assert_int_equal(fc->closes, 1);
    no_more_frames(fc);

    /* Shutdown answers: the failing connection closes, the rest go on. */
    fake_close_conn(fc);
    fc = greeted(f, 0, 1, POOL_A, MED);
    queue_add(fc, 1, 1, 1);
    queue_add(fc, 2, 1, 1);
    fc->fail_sends = fc->sends + 1;
    assert_int_equal(vgpu_mediator_shutdown(f->m), 1);
    assert_int_equal(fc->closes, 1);
    assert_int_equal(vgpu_mediator_pending(f->m), 0);
    fake_free(f);
}

/* ---- Dispatch order, stats and logs -------------------------------------- */

static void
test_dispatch_priority(void **state)
{
    struct fake *f = fake_new();
    struct fake_conn *low = greeted(f, 0, 1, POOL_A, LOW);
    struct fake_conn *med = greeted(f, 1, 2, POOL_A, MED);
    struct fake_conn *high = greeted(f, 2, 3, POOL_A, HIGH);
    struct fake_conn *other = greeted(f, 3, 4, POOL_B, LOW);

    (void)state;
    queue_add(low, 1, 0, 1);
    queue_add(med, 2, 0, 2);
    queue_add(high, 3, 0, 3);
    queue_add(high, 4, 0, 4);
    queue_add(other, 5, 0, 5);
    queue_add(other, 6, 0, 6);

    /* Budget 1 runs one request of each pool with work. */
    assert_int_equal(vgpu_mediator_dispatch(f->m, 1), 2);
    expect_response(high, 3, 0, NULL);
    expect_response(other, 5, 0, NULL);
    no_more_frames(low);
    no_more_frames(med);
    assert_int_equal(vgpu_mediator_dispatch(f->m, 1), 2);
    expect_response(high, 4, 0, NULL);
    expect_response(other, 6, 0, NULL);
    assert_int_equal(vgpu_mediator_dispatch(f->m, 1), 1);
    expect_response(med, 2, 0, NULL);
    no_more_frames(low);
    assert_int_equal(vgpu_mediator_dispatch(f->m, 1), 1);
    expect_response(low, 1, 0, NULL);
    assert_int_equal(vgpu_mediator_dispatch(f->m, 1), 0);

    /* Budget 2 of 3 queued. */
    queue_add(low, 7, 0, 1);
    queue_add(low, 8, 0, 1);
    queue_add(low, 9, 0, 1);
    assert_int_equal(vgpu_mediator_dispatch(f->m, 2), 2);
    assert_int_equal(vgpu_mediator_pending(f->m), 1);
    fake_free(f);
}

struct stats_seen {
    struct vgpu_vm_stats vms[8];
    size_t n;
};

static void
stats_collect(const struct vgpu_vm_stats *s, void *arg)
{
    struct stats_seen *seen = arg;

    assert_true(seen->n < 8);
    seen->vms[seen->n++] = *s;
}

static void
test_stats(void **state)
{
    struct fake *f = fake_new();
    struct fake_conn *a = greeted(f, 0, 9, 'C', HIGH);
    struct fake_conn *b = greeted(f, 1, 2, POOL_A, LOW);
    struct stats_seen seen = {0};
    struct req r;

    (void)state;
    for (uint32_t i = 0; i < 10; i++) {
        queue_add(a, i, i, 1);
    }
    req_begin(&r, 0x7Fu, 0);
    assert_int_equal(send_req(a, 9, 50, 'C', HIGH, &r), 0);
    queue_add(b, 1, 1, 1);
    assert_int_equal(vgpu_mediator_dispatch(f->m, 0), 11);
    fake_close_conn(b);

    assert_int_equal(vgpu_mediator_stats(f->m, stats_collect, &seen), 2);
    assert_int_equal(seen.n, 2);
    /* vm_id order. */
    assert_int_equal(seen.vms[0].vm_id, 2);
    assert_int_equal(seen.vms[1].vm_id, 9);
    assert_int_equal(seen.vms[0].connected, 0);
    assert_int_equal(seen.vms[0].pool, POOL_A);
    assert_int_equal(seen.vms[0].priority, LOW);
    assert_int_equal(seen.vms[0].requests, 1);
    assert_int_equal(seen.vms[0].responses, 1);

    assert_int_equal(seen.vms[1].connected, 1);
    assert_int_equal(seen.vms[1].pool, 'C');
    assert_int_equal(seen.vms[1].priority, HIGH);
    assert_int_equal(seen.vms[1].requests, 11);
    assert_int_equal(seen.vms[1].responses, 11);
    assert_int_equal(seen.vms[1].errors[VGPU_ERR_NONE], 10);
    assert_int_equal(seen.vms[1].errors[VGPU_ERR_INVALID_REQUEST], 1);
    assert_int_equal(seen.vms[1].bytes_in, 10 * 16 + VGPU_OP_HDR_SIZE);
    assert_true(seen.vms[1].bytes_out > 10 * 4); /* plus the message */
    /* Service time is one clock tick; the waits grow by two ticks per
     * request served before (the enqueue ticks happen earlier). */
    assert_int_equal(seen.vms[1].service_p50, TICK_NS);
    assert_int_equal(seen.vms[1].service_p99, TICK_NS);
    assert_true(seen.vms[1].wait_p50 > 0);
    assert_true(seen.vms[1].wait_p99 >= seen.vms[1].wait_p50);
    assert_true(seen.vms[1].wait_p99 <= 40u * TICK_NS);

    /* A reconnect updates pool, priority and connected; counters stay. */
    b = greeted(f, 1, 2, 'D', MED);
    memset(&seen, 0, sizeof(seen));
    assert_int_equal(vgpu_mediator_stats(f->m, stats_collect, &seen), 2);
    assert_int_equal(seen.vms[0].connected, 1);
    assert_int_equal(seen.vms[0].pool, 'D');
    assert_int_equal(seen.vms[0].requests, 1);
    assert_int_equal(vgpu_mediator_stats(f->m, NULL, NULL), 2);
    fake_free(f);
}

static void
test_stats_many_vms(void **state)
{
    static const uint32_t ids[] = {50, 3, 1000000, 7, 1, 20, 999, 4};
    struct fake *f = fake_new();

    (void)state;
    for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
        struct fake_conn *fc = greeted(f, 0, ids[i], POOL_A, MED);

        fake_close_conn(fc);
    }
    /* More than the initial capacity of the record array. */
    for (uint32_t id = 100; id < 140; id++) {
        assert_non_null(vgpu_stats_get(f->m->stats, id));
    }
    assert_non_null(vgpu_stats_find(f->m->stats, 7));
    assert_null(vgpu_stats_find(f->m->stats, 8));
    assert_int_equal(vgpu_mediator_stats(f->m, NULL, NULL), 48);
    fake_free(f);
}

static void
stats_check_order(const struct vgpu_vm_stats *s, void *arg)
{
    uint32_t *last = arg;

    assert_true(s->vm_id > *last);
    *last = s->vm_id;
}

static void
test_stats_order(void **state)
{
    struct vgpu_stats *s = vgpu_stats_create();
    uint32_t last = 0;

    (void)state;
    assert_non_null(s);
    for (uint32_t i = 0; i < 300; i++) {
        uint32_t id = (i * 7919u) % 1009u + 1u;

        assert_int_equal(vgpu_stats_get(s, id)->vm_id, id);
    }
    assert_int_equal(vgpu_stats_foreach(s, stats_check_order, &last), 300);
    assert_int_equal(vgpu_stats_foreach(s, NULL, NULL), 300);
    vgpu_stats_response(vgpu_stats_find(s, 1), 1000u, 5);
    assert_int_equal(vgpu_stats_find(s, 1)->errors[VGPU_ERR_BACKEND_ERROR], 1);
    vgpu_stats_destroy(s);
    vgpu_stats_destroy(NULL);
}

static uint64_t
u64_diff(uint64_t a, uint64_t b)
{
    return a > b ? a - b : b - a;
}

static void
test_stats_hist(void **state)
{
    struct vgpu_hist *h = calloc(1, sizeof(*h));
    uint64_t p50;
    uint64_t p99;

    (void)state;
    assert_non_null(h);
    assert_int_equal(vgpu_hist_percentile(h, 50), 0);

    vgpu_hist_record(h, 12345);
    assert_int_equal(vgpu_hist_percentile(h, 50), 12345);
    assert_int_equal(vgpu_hist_percentile(h, 99), 12345);

    memset(h, 0, sizeof(*h));
    for (uint64_t v = 1; v <= 1000; v++) {
        vgpu_hist_record(h, v * 1000u);
    }
    p50 = vgpu_hist_percentile(h, 50);
    p99 = vgpu_hist_percentile(h, 99);
    /* Within the 6.25% of a bucket's half width. */
    if (u64_diff(p50, 500000) > 500000 / 16 ||
        u64_diff(p99, 990000) > 990000 / 16) {
        fail_msg("p50 %llu p99 %llu", (unsigned long long)p50,
                 (unsigned long long)p99);
    }
    assert_int_equal(vgpu_hist_percentile(h, 100), 1000000);
    assert_int_equal(vgpu_hist_percentile(h, 0), 1000);
    assert_int_equal(vgpu_hist_percentile(h, 200), 1000000);

    /* Small values are exact; the extremes of uint64_t have buckets. */
    memset(h, 0, sizeof(*h));
    for (uint64_t v = 0; v < 8; v++) {
        vgpu_hist_record(h, v);
    }
    assert_int_equal(vgpu_hist_percentile(h, 50), 3);
    vgpu_hist_record(h, UINT64_MAX);
    vgpu_hist_record(h, UINT64_MAX / 3);
    assert_int_equal(vgpu_hist_percentile(h, 100), UINT64_MAX);
    assert_int_equal(vgpu_hist_percentile(h, 1), 0);
    free(h);
}

static void
test_log(void **state)
{
    struct vgpu_mediator_config cfg;
    struct fake *f = fake_new();
    struct fake_conn *fc = greeted(f, 0, 1, POOL_A, MED);

    (void)state;
    f->tick = 0;
    queue_add(fc, 7, 1, 2);
    f->now += 12000;
    f->tick = 3000; /* read at next, then after exec */
    assert_int_equal(vgpu_mediator_dispatch(f->m, 0), 1);
    expect_log(f, VGPU_LOG_INFO,
               "vm=1 req=7 op=ADD_I32 status=NONE wait_us=12 service_us=3 "
               "in=16 out=4");
    fake_free(f);

    /* Above the level, nothing is produced; a NULL log is fine. */
    vgpu_mediator_config_default(&cfg);
    cfg.log_level = VGPU_LOG_WARN;
    f = fake_new_cfg(&cfg);
    fc = greeted(f, 0, 1, POOL_A, MED);
    queue_add(fc, 1, 1, 2);
    assert_int_equal(vgpu_mediator_dispatch(f->m, 0), 1);
    for (size_t i = 0; i < f->nlogs; i++) {
        assert_true(f->log_levels[i] <= VGPU_LOG_WARN);
    }
    fake_free(f);

    cfg.log_level = VGPU_LOG_DEBUG;
    f = fake_new_ops(&cfg, &quiet_ops);
    fc = greeted(f, 0, 1, POOL_A, MED);
    queue_add(fc, 1, 1, 2);
    assert_int_equal(vgpu_mediator_dispatch(f->m, 0), 1);
    expect_response(fc, 1, 0, NULL);
    assert_int_equal(f->nlogs, 0);
    fake_free(f);
}

/* ---- A backend that fails ------------------------------------------------ */

static int fail_status;
static const char *fail_msg_text;

static int
failing_open(const char *spec, void **ctx, char *err, size_t err_len)
{
    (void)spec;
    (void)err;
    (void)err_len;
    *ctx = NULL;
    return 0;
}

static int
failing_exec(void *ctx, const struct vgpu_op_desc *op, uint8_t *out,
             size_t out_cap, size_t *out_len, char *msg, size_t msg_len)
{
    (void)ctx;
    (void)op;
    (void)out;
    (void)out_cap;
    *out_len = 0;
    if (fail_msg_text != NULL) {
        snprintf(msg, msg_len, "%s", fail_msg_text);
    }
    return fail_status;
}

static void
failing_close(void *ctx)
{
    (void)ctx;
}

static const struct vgpu_backend_ops failing_backend = {
    .name = "failing",
    .open = failing_open,
    .exec = failing_exec,
    .close = failing_close,
};

static void
test_backend_error(void **state)
{
    struct fake *f = fake_new();
    struct fake_conn *fc = greeted(f, 0, 1, 'F', MED);
    struct vgpu_med_backend saved = f->m->backends['F' - VGPU_POOL_FIRST];
    struct vgpu_med_backend *b = &f->m->backends['F' - VGPU_POOL_FIRST];

    (void)state;
    b->ops = &failing_backend;
    b->owner = 0;

    fail_status = VGPU_ERR_BACKEND_ERROR;
    fail_msg_text = "device fell over";
    queue_add(fc, 1, 1, 1);
    assert_int_equal(vgpu_mediator_dispatch(f->m, 0), 1);
    expect_response(fc, 1, VGPU_ERR_BACKEND_ERROR, "device fell over");
    expect_log(f, VGPU_LOG_WARN, "vm=1 req=1 op=ADD_I32 status=BACKEND_ERROR");

    /* No message, and a status out of range: still a clear answer. */
    fail_status = 77;
    fail_msg_text = NULL;
    queue_add(fc, 2, 1, 1);
    assert_int_equal(vgpu_mediator_dispatch(f->m, 0), 1);
    expect_response(fc, 2, VGPU_ERR_BACKEND_ERROR, "failing backend");

    fail_status = VGPU_ERR_RESPONSE_TOO_LARGE;
    queue_add(fc, 3, 1, 1);
    assert_int_equal(vgpu_mediator_dispatch(f->m, 0), 1);
    expect_response(fc, 3, VGPU_ERR_RESPONSE_TOO_LARGE, "RESPONSE_TOO_LARGE");

    *b = saved;
    fake_free(f);
}

/* ---- Hostile input ------------------------------------------------------ */

/* A plausible frame from a device, then some of its bytes spoilt. */
static size_t
random_frame(uint8_t *buf, uint32_t vm_id)
{
    static const uint16_t types[] = {
        VGPU_MSG_REQUEST, VGPU_MSG_REQUEST, VGPU_MSG_REQUEST,  VGPU_MSG_REQUEST,
        VGPU_MSG_REQUEST, VGPU_MSG_REQUEST, VGPU_MSG_REQUEST,  VGPU_MSG_REQUEST,
        VGPU_MSG_REQUEST, VGPU_MSG_REQUEST, VGPU_MSG_PING,     VGPU_MSG_PONG,
        VGPU_MSG_PING,    VGPU_MSG_HELLO,   VGPU_MSG_RESPONSE,
    };
    uint16_t type = types[rng() % (sizeof(types) / sizeof(types[0]))];
    struct req r;
    size_t n;

    if (type == VGPU_MSG_REQUEST) {
        uint32_t op = rng() % 3 == 0 ? VGPU_OP_MATMUL_F32 : VGPU_OP_ADD_I32;
        uint32_t words = rng() % 12;

        req_begin(&r, op, rng() % 4);
        for (uint32_t i = 0; i < words; i++) {
            req_u32(&r, rng() % 5);
        }
    } else if (type == VGPU_MSG_HELLO) {
        r.len = VGPU_HELLO_PAYLOAD_SIZE;
        vgpu_hello_pack(r.b, VGPU_PROTOCOL_VERSION, rng());
    } else {
        r.len = 0;
    }
    n = wire_frame(buf, type, rng() % 8 == 0 ? vm_id + 1 : vm_id, rng(), POOL_A,
                   MED, r.b, r.len);
    if (rng() % 16 == 0) {
        buf[rng() % n] ^= (uint8_t)(1u << (rng() % 8));
    }
    return n;
}

/* Random frames, some spoilt, in random splits, on three connections, with
 * dispatches in between: nothing crashes or leaks (run it under ASan and
 * valgrind), and a closed connection is closed once. */
static void
test_input_random(void **state)
{
    struct vgpu_mediator_config cfg;
    struct fake *f;
    uint32_t next_vm = 1;

    (void)state;
    rng_state = 0xC0FFEEu;
    vgpu_mediator_config_default(&cfg);
    cfg.vm_queue_cap = 3;
    f = fake_new_cfg(&cfg);
    for (size_t i = 0; i < 3; i++) {
        greeted(f, i, next_vm++, POOL_A, MED);
    }
    for (int round = 0; round < 3000; round++) {
        struct fake_conn *fc = &f->conns[rng() % 3];
        uint8_t buf[WIRE_CAP];
        size_t n = random_frame(buf, fc->mc->vm_id);
        size_t pos = 0;

        while (pos < n) {
            size_t take = 1 + rng() % (n - pos);

            if (vgpu_mediator_conn_input(fc->mc, buf + pos, take) < 0) {
                break;
            }
            pos += take;
        }
        if (rng() % 4 == 0) {
            vgpu_mediator_dispatch(f->m, rng() % 3);
        }
        for (size_t i = 0; i < 3; i++) {
            struct fake_conn *c = &f->conns[i];

            assert_true(c->closes <= 1);
            if (c->closes == 1) {
                fake_close_conn(c);
                greeted(f, i, next_vm++, POOL_A, MED);
            } else if (c->nframes > MAX_FRAMES - 8) {
                c->nframes = 0;
                c->read = 0;
            }
        }
    }
    assert_true(next_vm > 4); /* some connections were refused and replaced */
    vgpu_mediator_shutdown(f->m);
    fake_free(f);
}

/* ---- The queue (SPEC.md section 11) ---------------------------------- */

#define QCAPS (VGPU_CAPABILITIES | VGPU_CAP_QUEUE)

/* HELLO offering the queue; check the 12-byte HELLO_ACK and return its
 * in-flight count. */
static struct fake_conn *
greeted_queue(struct fake *f, size_t i, uint32_t vm_id, uint8_t prio,
              uint32_t *inflight)
{
    struct fake_conn *fc = fake_open(f, i);
    const struct sent_frame *sf;
    uint32_t caps = 0;
    uint32_t max = 0;

    assert_int_equal(send_hello_version(fc, vm_id, POOL_A, prio,
                                        VGPU_PROTOCOL_VERSION, QCAPS),
                     0);
    sf = next_frame(fc);
    assert_int_equal(sf->hdr.type, VGPU_MSG_HELLO_ACK);
    assert_int_equal(sf->len, VGPU_HELLO_ACK_QUEUE_PAYLOAD_SIZE);
    assert_int_equal(vgpu_hello_ack_unpack_queue(sf->payload, sf->len, &caps,
                                                 &max, inflight),
                     0);
    assert_int_equal(caps, QCAPS);
    assert_int_equal(max, VGPU_MAX_PAYLOAD);
    assert_int_equal(vgpu_mediator_conn_inflight(fc->mc), *inflight);
    return fc;
}

/* A request of @op with counts @n (m), @k, @p and pseudo-random operands,
 * on the heap; *@len its length. */
static uint8_t *
big_req(uint32_t op, uint32_t n, uint32_t k, uint32_t p, size_t *len)
{
    uint64_t want = vgpu_op_request_len(op, n, k, p);
    size_t hdr =
        op == VGPU_OP_MATMUL_F32 ? VGPU_MATMUL_HDR_SIZE : VGPU_OP_HDR_SIZE;
    uint8_t *b;

    assert_true(want > 0 && want <= VGPU_MAX_PAYLOAD);
    b = malloc((size_t)want);
    assert_non_null(b);
    vgpu_put_le32(b, op);
    vgpu_put_le32(b + 4, n);
    if (op == VGPU_OP_MATMUL_F32) {
        vgpu_put_le32(b + 8, k);
        vgpu_put_le32(b + 12, p);
    }
    for (size_t i = hdr; i + 4 <= want; i += 4) {
        /* small floats (or ints): sums stay exact enough to compare */
        float v = (float)(rng() % 64) / 8.0f;

        if (op == VGPU_OP_ECHO || op == VGPU_OP_ADD_I32) {
            vgpu_put_le32(b + i, rng());
        } else {
            memcpy(b + i, &v, sizeof(v));
        }
    }
    *len = (size_t)want;
    return b;
}

/* The REQUEST frame of @len bytes at @b from @fc's VM, on the heap. */
static uint8_t *
big_wire(const struct fake_conn *fc, uint32_t req_id, const uint8_t *b,
         size_t len)
{
    const struct vgpu_mconn *mc = fc->mc;
    uint8_t *wire = malloc(VGPU_HDR_SIZE + len);
    struct vgpu_hdr h;

    assert_non_null(wire);
    vgpu_hdr_init(&h, VGPU_MSG_REQUEST);
    h.vm_id = mc->vm_id;
    h.request_id = req_id;
    h.pool_id = mc->pool;
    h.priority = mc->priority;
    assert_int_equal(vgpu_frame_encode(&h, b, len, wire, VGPU_HDR_SIZE + len),
                     VGPU_HDR_SIZE + len);
    return wire;
}

/* Send one REQUEST of @len bytes at @b, in chunks of @chunk. */
static int
send_big(struct fake_conn *fc, uint32_t req_id, const uint8_t *b, size_t len,
         size_t chunk)
{
    uint8_t *wire = big_wire(fc, req_id, b, len);
    size_t n = VGPU_HDR_SIZE + len;
    int rc = 0;

    for (size_t pos = 0; pos < n && rc == 0; pos += chunk) {
        rc = vgpu_mediator_conn_input(fc->mc, wire + pos,
                                      n - pos < chunk ? n - pos : chunk);
    }
    free(wire);
    return rc;
}

/* The accepted in-flight count is min(queue_inflight, vm_queue_cap). */
static void
test_queue_hello(void **state)
{
    struct vgpu_mediator_config cfg;
    struct fake *f = fake_new();
    uint32_t inflight = 0;

    (void)state;
    greeted_queue(f, 0, 1, MED, &inflight);
    assert_int_equal(inflight, VGPU_Q_DEFAULT_INFLIGHT);
    /* A mailbox device on the same mediator: 8 bytes, no queue. */
    greeted(f, 1, 2, POOL_A, MED);
    assert_int_equal(f->conns[1].frames[0].len, VGPU_HELLO_ACK_PAYLOAD_SIZE);
    assert_int_equal(vgpu_mediator_conn_inflight(f->conns[1].mc), 0);
    fake_free(f);

    vgpu_mediator_config_default(&cfg);
    cfg.queue_inflight = 8;
    f = fake_new_cfg(&cfg);
    greeted_queue(f, 0, 1, MED, &inflight);
    assert_int_equal(inflight, 8);
    fake_free(f);

    cfg.queue_inflight = 200;
    cfg.vm_queue_cap = 16;
    f = fake_new_cfg(&cfg);
    greeted_queue(f, 0, 1, MED, &inflight);
    assert_int_equal(inflight, 16);
    fake_free(f);

    cfg.queue_inflight = VGPU_MEDIATOR_MAX_INFLIGHT + 1u;
    expect_create_fails(&cfg, &quiet_ops, "queue_inflight", NULL);
    cfg.queue_inflight = 0;
    expect_create_fails(&cfg, &quiet_ops, "queue_inflight", NULL);
    vgpu_mediator_config_default(&cfg);
    cfg.request_memory = VGPU_MAX_PAYLOAD - 1u;
    expect_create_fails(&cfg, &quiet_ops, "request_memory", NULL);
}

/* Every op at the largest n that 1 MiB allows runs on a queue connection,
 * and its answer is what the CPU backend computes. */
static void
test_queue_big_ops(void **state)
{
    static const struct {
        uint32_t op, n, k, p;
    } cases[] = {
        {VGPU_OP_ECHO, VGPU_MAX_PAYLOAD - VGPU_OP_HDR_SIZE, 0, 0},
        {VGPU_OP_ADD_I32, (VGPU_MAX_PAYLOAD - VGPU_OP_HDR_SIZE) / 8u, 0, 0},
        {VGPU_OP_ADD_F32, (VGPU_MAX_PAYLOAD - VGPU_OP_HDR_SIZE) / 8u, 0, 0},
        {VGPU_OP_SAXPY_F32, (VGPU_MAX_PAYLOAD - VGPU_OP_HDR_SIZE - 4u) / 8u, 0,
         0},
        {VGPU_OP_DOT_F32, (VGPU_MAX_PAYLOAD - VGPU_OP_HDR_SIZE) / 8u, 0, 0},
        /* m*k + k*p = 262140, m*p = 131070 */
        {VGPU_OP_MATMUL_F32, 2, 131070, 0},
        /* m*k + k*p = 262140 with k = 1; m*p = 1 * 262139 (out 1 MiB - 4) */
        {VGPU_OP_MATMUL_F32, 1, 1, 262139},
        /* m*p = 262144 exactly: 512 x 512, k = 0 */
        {VGPU_OP_MATMUL_F32, 512, 0, 512},
    };
    struct fake *f = fake_new();
    struct fake_conn *fc;
    uint32_t inflight = 0;
    void *ctx = NULL;
    uint8_t *want = malloc(VGPU_MAX_PAYLOAD);

    (void)state;
    assert_non_null(want);
    assert_int_equal(vgpu_backend_cpu.open("", &ctx, NULL, 0), 0);
    fc = greeted_queue(f, 0, 1, MED, &inflight);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t len = 0;
        uint8_t *b =
            big_req(cases[i].op, cases[i].n, cases[i].k, cases[i].p, &len);
        struct vgpu_op_desc desc;
        const struct sent_frame *sf;
        size_t want_len = 0;

        assert_int_equal(vgpu_op_validate(b, len, &desc, NULL, 0), 0);
        assert_int_equal(vgpu_backend_cpu.exec(ctx, &desc, want,
                                               VGPU_MAX_PAYLOAD, &want_len,
                                               NULL, 0),
                         VGPU_ERR_NONE);
        assert_int_equal(send_big(fc, (uint32_t)i, b, len, 65536u), 0);
        assert_int_equal(vgpu_mediator_held_bytes(f->m), len);
        assert_int_equal(vgpu_mediator_dispatch(f->m, 0), 1);
        assert_int_equal(vgpu_mediator_held_bytes(f->m), 0);
        sf = expect_response(fc, (uint32_t)i, VGPU_ERR_NONE, NULL);
        assert_int_equal(sf->len, want_len);
        if (want_len > VGPU_BUF_SIZE) {
            assert_int_equal(fc->big_len, want_len);
            assert_memory_equal(fc->big, want, want_len);
        } else {
            assert_memory_equal(sf->payload, want, want_len);
        }
        free(b);
    }
    vgpu_backend_cpu.close(ctx);
    free(want);
    fake_free(f);
}

/* A request past the accepted in-flight count is answered REJECTED (its
 * payload discarded, the connection kept); after answers, more fit. */
static void
test_queue_inflight(void **state)
{
    struct vgpu_mediator_config cfg;
    struct fake *f;
    struct fake_conn *fc;
    uint32_t inflight = 0;
    size_t len = 0;
    uint8_t *b;

    (void)state;
    vgpu_mediator_config_default(&cfg);
    cfg.queue_inflight = 4;
    f = fake_new_cfg(&cfg);
    fc = greeted_queue(f, 0, 1, MED, &inflight);
    b = big_req(VGPU_OP_ECHO, 4096u, 0, 0, &len);
    for (uint32_t i = 0; i < 4; i++) {
        assert_int_equal(send_big(fc, i, b, len, len), 0);
    }
    no_more_frames(fc);
    assert_int_equal(send_big(fc, 4, b, len, 100u), 0);
    expect_response(fc, 4, VGPU_ERR_REJECTED,
                    "queue full: vm 1 has 4 requests queued or running");
    assert_int_equal(fc->closes, 0);
    assert_int_equal(vgpu_mediator_held_bytes(f->m), 4u * len);
    assert_int_equal(vgpu_mediator_dispatch(f->m, 1), 1);
    expect_response(fc, 0, VGPU_ERR_NONE, NULL);
    assert_int_equal(send_big(fc, 5, b, len, len), 0);
    no_more_frames(fc);
    assert_int_equal(vgpu_mediator_dispatch(f->m, 0), 4);
    for (uint32_t i = 1; i < 4; i++) {
        expect_response(fc, i, VGPU_ERR_NONE, NULL);
    }
    expect_response(fc, 5, VGPU_ERR_NONE, NULL);
    assert_int_equal(vgpu_mediator_held_bytes(f->m), 0);
    free(b);
    fake_free(f);
}

/* The memory cap is over all connections: past it, REJECTED; nothing is
 * allocated for the refused request; answers free room again. */
static void
test_queue_memory_cap(void **state)
{
    struct vgpu_mediator_config cfg;
    struct fake *f;
    struct fake_conn *a;
    struct fake_conn *b2;
    uint32_t inflight = 0;
    size_t len = 0;
    uint8_t *b;

    (void)state;
    vgpu_mediator_config_default(&cfg);
    cfg.request_memory = 2u * VGPU_MAX_PAYLOAD;
    f = fake_new_cfg(&cfg);
    a = greeted_queue(f, 0, 1, MED, &inflight);
    b2 = greeted_queue(f, 1, 2, MED, &inflight);
    b = big_req(VGPU_OP_ECHO, VGPU_MAX_PAYLOAD - VGPU_OP_HDR_SIZE, 0, 0, &len);
    assert_int_equal(send_big(a, 1, b, len, len), 0);
    assert_int_equal(send_big(b2, 2, b, len, len), 0);
    assert_int_equal(vgpu_mediator_held_bytes(f->m), 2u * len);
    assert_int_equal(send_big(a, 3, b, len, 4096u), 0);
    expect_response(a, 3, VGPU_ERR_REJECTED, "mediator memory full");
    assert_int_equal(vgpu_mediator_held_bytes(f->m), 2u * len);
    /* A small request does not fit either: the cap is in bytes. */
    queue_add(b2, 4, 1, 2);
    expect_response(b2, 4, VGPU_ERR_REJECTED, "mediator memory full");
    assert_int_equal(vgpu_mediator_dispatch(f->m, 1), 1);
    assert_int_equal(vgpu_mediator_held_bytes(f->m), len);
    assert_int_equal(send_big(a, 5, b, len, len), 0);
    assert_int_equal(vgpu_mediator_dispatch(f->m, 0), 2);
    assert_int_equal(vgpu_mediator_held_bytes(f->m), 0);
    assert_int_equal(a->closes + b2->closes, 0);
    free(b);
    fake_free(f);
}

/* A request cut short by a close is freed with the connection. */
static void
test_queue_close_mid_payload(void **state)
{
    struct fake *f = fake_new();
    struct fake_conn *fc;
    uint32_t inflight = 0;
    uint8_t *wire;
    uint8_t *b;
    size_t len = 0;

    (void)state;
    fc = greeted_queue(f, 0, 7, MED, &inflight);
    b = big_req(VGPU_OP_ECHO, VGPU_MAX_PAYLOAD - VGPU_OP_HDR_SIZE, 0, 0, &len);
    wire = big_wire(fc, 1, b, len);
    /* Its header and half its payload: held from the header on. */
    assert_int_equal(
        vgpu_mediator_conn_input(fc->mc, wire, VGPU_HDR_SIZE + len / 2u), 0);
    assert_int_equal(vgpu_mediator_held_bytes(f->m), len);
    fake_close_conn(fc);
    assert_int_equal(vgpu_mediator_held_bytes(f->m), 0);
    free(wire);
    free(b);
    fake_free(f);
}

/* A mailbox device keeps its 1 KiB limit on the same mediator. */
static void
test_queue_mailbox_limit(void **state)
{
    struct fake *f = fake_new();
    struct fake_conn *fc = greeted(f, 0, 3, POOL_A, MED);
    size_t len = 0;
    uint8_t *b = big_req(VGPU_OP_ECHO, VGPU_BUF_SIZE, 0, 0, &len);

    (void)state;
    assert_true(send_big(fc, 1, b, len, len) < 0);
    expect_error_close(fc, VGPU_ERR_PROTOCOL_ERROR, "over the limit of 1024");
    free(b);
    fake_free(f);
}

/* Round robin takes one request per VM per turn: a VM with 64 queued does
 * not hold back a VM with 1 (SPEC.md section 9). */
static void
test_queue_round_robin(void **state)
{
    struct fake *f = fake_new();
    struct fake_conn *busy;
    struct fake_conn *light;
    uint32_t inflight = 0;

    (void)state;
    busy = greeted_queue(f, 0, 1, MED, &inflight);
    light = greeted_queue(f, 1, 2, MED, &inflight);
    for (uint32_t i = 0; i < VGPU_Q_DEFAULT_INFLIGHT; i++) {
        queue_add(busy, i, i, 1);
    }
    queue_add(light, 100, 1, 1);
    no_more_frames(busy);
    /* Two turns: busy's first, then light's one. */
    assert_int_equal(vgpu_mediator_dispatch(f->m, 1), 1);
    expect_response(busy, 0, VGPU_ERR_NONE, NULL);
    assert_int_equal(vgpu_mediator_dispatch(f->m, 1), 1);
    expect_response(light, 100, VGPU_ERR_NONE, NULL);
    /* Then light comes back with two, and gets every other turn. */
    queue_add(light, 101, 1, 1);
    queue_add(light, 102, 1, 1);
    assert_int_equal(vgpu_mediator_dispatch(f->m, 1), 1);
    expect_response(busy, 1, VGPU_ERR_NONE, NULL);
    assert_int_equal(vgpu_mediator_dispatch(f->m, 1), 1);
    expect_response(light, 101, VGPU_ERR_NONE, NULL);
    assert_int_equal(vgpu_mediator_dispatch(f->m, 1), 1);
    expect_response(busy, 2, VGPU_ERR_NONE, NULL);
    assert_int_equal(vgpu_mediator_dispatch(f->m, 1), 1);
    expect_response(light, 102, VGPU_ERR_NONE, NULL);
    no_more_frames(light);
    assert_int_equal(vgpu_mediator_dispatch(f->m, 0),
                     VGPU_Q_DEFAULT_INFLIGHT - 3u);
    fake_free(f);
}

int
main(void)
{
    static const struct CMUnitTest tests[] = {
        VGPU_TEST("/mediator/config/default", test_config_default),
        VGPU_TEST("/mediator/config/policy_lookup", test_config_policy_lookup),
        VGPU_TEST("/mediator/create/errors", test_create_errors),
        VGPU_TEST("/mediator/create/backends", test_create_backends),
        VGPU_TEST("/mediator/hello/ok", test_hello_ok),
        VGPU_TEST("/mediator/hello/refused", test_hello_refused),
        VGPU_TEST("/mediator/hello/admit", test_hello_admit),
        VGPU_TEST("/mediator/hello/duplicate", test_hello_duplicate),
        VGPU_TEST("/mediator/hello/second", test_hello_second),
        VGPU_TEST("/mediator/proto/before-hello", test_proto_before_hello),
        VGPU_TEST("/mediator/proto/bad-header", test_proto_bad_header),
        VGPU_TEST("/mediator/proto/device-frames", test_proto_device_frames),
        VGPU_TEST("/mediator/ops/all", test_ops_all),
        VGPU_TEST("/mediator/ops/pool-backend", test_ops_pool_backend),
        VGPU_TEST("/mediator/request/invalid", test_request_invalid),
        VGPU_TEST("/mediator/request/too-large", test_request_too_large),
        VGPU_TEST("/mediator/request/mismatch", test_request_mismatch),
        VGPU_TEST("/mediator/ping-pong", test_ping_pong),
        VGPU_TEST("/mediator/input/splits", test_input_splits),
        VGPU_TEST("/mediator/input/random", test_input_random),
        VGPU_TEST("/mediator/queue/cap", test_queue_cap),
        VGPU_TEST("/mediator/queue/refusal_log_rate_limit",
                  test_refusal_log_rate_limit),
        VGPU_TEST("/mediator/queue/cap-sched", test_queue_cap_sched),
        VGPU_TEST("/mediator/close/queued", test_close_queued),
        VGPU_TEST("/mediator/destroy/open-conns", test_destroy_open_conns),
        VGPU_TEST("/mediator/shutdown", test_shutdown),
        VGPU_TEST("/mediator/job/take_run_finish", test_job_take_run_finish),
        VGPU_TEST("/mediator/job/orphan", test_job_orphan),
        VGPU_TEST("/mediator/job/shutdown_running", test_job_shutdown_running),
        VGPU_TEST("/mediator/job/inline", test_job_inline),
        VGPU_TEST("/mediator/send-fail/dispatch", test_send_fail_dispatch),
        VGPU_TEST("/mediator/send-fail/input", test_send_fail_input),
        VGPU_TEST("/mediator/dispatch/priority", test_dispatch_priority),
        VGPU_TEST("/mediator/stats/counters", test_stats),
        VGPU_TEST("/mediator/stats/many-vms", test_stats_many_vms),
        VGPU_TEST("/mediator/stats/order", test_stats_order),
        VGPU_TEST("/mediator/stats/histogram", test_stats_hist),
        VGPU_TEST("/mediator/log", test_log),
        VGPU_TEST("/mediator/backend-error", test_backend_error),
        VGPU_TEST("/mediator/queue/hello", test_queue_hello),
        VGPU_TEST("/mediator/queue/big-ops", test_queue_big_ops),
        VGPU_TEST("/mediator/queue/inflight", test_queue_inflight),
        VGPU_TEST("/mediator/queue/memory-cap", test_queue_memory_cap),
        VGPU_TEST("/mediator/queue/close-mid-payload",
                  test_queue_close_mid_payload),
        VGPU_TEST("/mediator/queue/mailbox-limit", test_queue_mailbox_limit),
        VGPU_TEST("/mediator/queue/round-robin", test_queue_round_robin),
    };

    return cmocka_run_group_tests_name("mediator", tests, NULL, NULL);
}
