/*
 * Unit tests of the trace format (src/trace, vgpu/trace.h): the header and
 * event codec, every way a file can be bad (truncated at each length, bad
 * magic, version, fields, an oversized payload), and the recorder (set_b,
 * rotation to PATH.1, no symbolic link, no FIFO).
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "vgpu/proto.h"
#include "vgpu/trace.h"
#include "vgpu_test.h"

#define T_START   1000000ull
#define T_PAYLOAD 5u
#define T_BUF     256u

static const struct vgpu_trace_header t_hdr = {
    .vm_id = 7,
    .pool_id = 'B',
    .priority = VGPU_PRIO_HIGH,
    .flags = VGPU_TRACE_F_QUEUE,
    .timeout_ms = 250,
    .start_ns = T_START,
};

/* A header, an MMIO write and a frame of T_PAYLOAD bytes. Return length. */
static size_t
t_trace(uint8_t *buf)
{
    struct vgpu_trace_event w = {
        .type = VGPU_TRACE_MMIO_WRITE,
        .size = 4,
        .t = T_START + 1,
        .a = VGPU_REG_DOORBELL,
        .b = VGPU_DOORBELL_RING,
    };
    struct vgpu_trace_event f = {
        .type = VGPU_TRACE_FRAME_IN,
        .len = T_PAYLOAD,
        .t = T_START + 2,
    };
    size_t off = 0;

    vgpu_trace_header_pack(&t_hdr, buf);
    off += VGPU_TRACE_HDR_SIZE;
    vgpu_trace_event_pack(&w, buf + off);
    off += VGPU_TRACE_EV_SIZE;
    vgpu_trace_event_pack(&f, buf + off);
    off += VGPU_TRACE_EV_SIZE;
    memcpy(buf + off, "hello", T_PAYLOAD);
    return off + T_PAYLOAD;
}

static void
test_round_trip(void **state)
{
    uint8_t buf[T_BUF];
    size_t len = t_trace(buf);
    struct vgpu_trace_header h;
    struct vgpu_trace_event ev;
    size_t off = VGPU_TRACE_HDR_SIZE;

    (void)state;
    assert_int_equal(vgpu_trace_header_parse(buf, len, &h), 0);
    assert_int_equal(h.version, VGPU_TRACE_VERSION);
    assert_int_equal(h.vm_id, 7);
    assert_int_equal(h.pool_id, 'B');
    assert_int_equal(h.priority, VGPU_PRIO_HIGH);
    assert_int_equal(h.flags, VGPU_TRACE_F_QUEUE);
    assert_int_equal(h.timeout_ms, 250);
    assert_true(h.start_ns == T_START);
    assert_int_equal(vgpu_trace_next(buf, len, &off, &ev), 1);
    assert_int_equal(ev.type, VGPU_TRACE_MMIO_WRITE);
    assert_int_equal(ev.size, 4);
    assert_true(ev.a == VGPU_REG_DOORBELL && ev.b == VGPU_DOORBELL_RING);
    assert_null(ev.payload);
    assert_int_equal(vgpu_trace_next(buf, len, &off, &ev), 1);
    assert_int_equal(ev.type, VGPU_TRACE_FRAME_IN);
    assert_int_equal(ev.len, T_PAYLOAD);
    assert_memory_equal(ev.payload, "hello", T_PAYLOAD);
    assert_int_equal(off, len);
    assert_int_equal(vgpu_trace_next(buf, len, &off, &ev), 0);
}

/* Every prefix of a trace: the header or an event is truncated, or the
 * events end cleanly at a record boundary. */
static void
test_truncated_everywhere(void **state)
{
    uint8_t buf[T_BUF];
    size_t len = t_trace(buf);
    size_t first = VGPU_TRACE_HDR_SIZE + VGPU_TRACE_EV_SIZE;

    (void)state;
    for (size_t cut = 0; cut < len; cut++) {
        struct vgpu_trace_header h;
        struct vgpu_trace_event ev;
        size_t off = VGPU_TRACE_HDR_SIZE;
        int rc = vgpu_trace_header_parse(buf, cut, &h);

        if (cut < VGPU_TRACE_HDR_SIZE) {
            assert_int_equal(rc, VGPU_TRACE_E_TRUNCATED);
            continue;
        }
        assert_int_equal(rc, 0);
        while ((rc = vgpu_trace_next(buf, cut, &off, &ev)) == 1) {
        }
        if (cut == VGPU_TRACE_HDR_SIZE || cut == first) {
            assert_int_equal(rc, 0); /* ends between records */
        } else {
            assert_int_equal(rc, VGPU_TRACE_E_TRUNCATED);
            /* The offset names the record that is cut. */
            assert_int_equal(off, cut < first ? VGPU_TRACE_HDR_SIZE : first);
        }
    }
}

static void
test_bad_headers(void **state)
{
    uint8_t buf[T_BUF];
    uint8_t bad[T_BUF];
    size_t len = t_trace(buf);
    struct vgpu_trace_header h;

    (void)state;
    memcpy(bad, buf, len);
    bad[0] = 'X';
    assert_int_equal(vgpu_trace_header_parse(bad, len, &h), VGPU_TRACE_E_MAGIC);
    memcpy(bad, buf, len);
    bad[8] = VGPU_TRACE_VERSION + 1u;
    assert_int_equal(vgpu_trace_header_parse(bad, len, &h),
                     VGPU_TRACE_E_VERSION);
    memcpy(bad, buf, len);
    bad[16] = 'a'; /* pool */
    assert_int_equal(vgpu_trace_header_parse(bad, len, &h), VGPU_TRACE_E_FIELD);
    memcpy(bad, buf, len);
    bad[17] = VGPU_PRIO_HIGH + 1u;
    assert_int_equal(vgpu_trace_header_parse(bad, len, &h), VGPU_TRACE_E_FIELD);
    memcpy(bad, buf, len);
    memset(bad + 12, 0, 4); /* vm_id 0 */
    assert_int_equal(vgpu_trace_header_parse(bad, len, &h), VGPU_TRACE_E_FIELD);
    assert_non_null(strstr(vgpu_trace_strerror(VGPU_TRACE_E_MAGIC), "magic"));
}

static void
test_bad_events(void **state)
{
    uint8_t buf[T_BUF];
    uint8_t bad[T_BUF];
    size_t len = t_trace(buf);
    size_t ev1 = VGPU_TRACE_HDR_SIZE;
    size_t ev2 = ev1 + VGPU_TRACE_EV_SIZE;
    const unsigned sizes[] = {0, 3, 5, 9};
    struct vgpu_trace_event ev;
    size_t off;

    (void)state;
    memcpy(bad, buf, len);
    bad[ev1] = 0; /* type 0 */
    off = ev1;
    assert_int_equal(vgpu_trace_next(bad, len, &off, &ev), VGPU_TRACE_E_FIELD);
    assert_int_equal(off, ev1);
    bad[ev1] = VGPU_TRACE_TYPE_MAX + 1u;
    assert_int_equal(vgpu_trace_next(bad, len, &off, &ev), VGPU_TRACE_E_FIELD);
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        memcpy(bad, buf, len);
        bad[ev1 + 1] = (uint8_t)sizes[i]; /* an MMIO access of that size */
        off = ev1;
        assert_int_equal(vgpu_trace_next(bad, len, &off, &ev),
                         VGPU_TRACE_E_FIELD);
    }
    memcpy(bad, buf, len);
    vgpu_put_le32(bad + ev2 + 4, VGPU_TRACE_PAYLOAD_MAX + 1u);
    off = ev2;
    assert_int_equal(vgpu_trace_next(bad, len, &off, &ev),
                     VGPU_TRACE_E_OVERSIZED);
    assert_int_equal(off, ev2);
    assert_int_equal(vgpu_trace_type_parse("frame_out"), VGPU_TRACE_FRAME_OUT);
    assert_int_equal(vgpu_trace_type_parse("nope"), -1);
    assert_string_equal(vgpu_trace_type_name(VGPU_TRACE_DMA_WRITE),
                        "DMA_WRITE");
}

/* ---- The recorder ------------------------------------------------------- */

static char t_dir[64];

static int
t_setup(void **state)
{
    (void)state;
    snprintf(t_dir, sizeof(t_dir), "/tmp/test_trace.XXXXXX");
    return mkdtemp(t_dir) == NULL ? -1 : 0;
}

static int
t_teardown(void **state)
{
    char cmd[128];

    (void)state;
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", t_dir);
    return system(cmd) == 0 ? 0 : -1;
}

static size_t
t_file_size(const char *path)
{
    struct stat st;

    return stat(path, &st) == 0 ? (size_t)st.st_size : 0;
}

static void
test_recorder(void **state)
{
    struct vgpu_trace_event ev = {.type = VGPU_TRACE_MMIO_READ, .size = 4};
    struct vgpu_trace_rec rec;
    uint8_t buf[T_BUF];
    char path[128];
    struct vgpu_trace_event got;
    size_t off = VGPU_TRACE_HDR_SIZE;
    size_t pos;
    FILE *f;
    size_t n;

    (void)state;
    snprintf(path, sizeof(path), "%s/a.trc", t_dir);
    assert_int_equal(vgpu_trace_rec_open(&rec, path, 0, &t_hdr), 0);
    assert_true(vgpu_trace_rec_active(&rec));
    pos = vgpu_trace_rec_event(&rec, &ev, NULL);
    vgpu_trace_rec_set_b(&rec, pos, 0x1234);
    assert_int_equal(vgpu_trace_rec_flush(&rec), 0);
    vgpu_trace_rec_close(&rec);
    f = fopen(path, "rb");
    assert_non_null(f);
    n = fread(buf, 1, sizeof(buf), f);
    fclose(f);
    assert_int_equal(n, VGPU_TRACE_HDR_SIZE + VGPU_TRACE_EV_SIZE);
    assert_int_equal(vgpu_trace_next(buf, n, &off, &got), 1);
    assert_true(got.b == 0x1234);
}

/* Past max_bytes the file becomes PATH.1 and a new one with the header
 * starts: both decode. */
static void
test_recorder_rotates(void **state)
{
    struct vgpu_trace_event ev = {.type = VGPU_TRACE_FRAME_OUT, .len = 100};
    size_t limit = VGPU_TRACE_HDR_SIZE + 3u * (VGPU_TRACE_EV_SIZE + 100u);
    struct vgpu_trace_rec rec;
    char path[128];
    char old[140];

    (void)state;
    snprintf(path, sizeof(path), "%s/r.trc", t_dir);
    snprintf(old, sizeof(old), "%s.1", path);
    assert_int_equal(vgpu_trace_rec_open(&rec, path, limit, &t_hdr), 0);
    for (int i = 0; i < 5; i++) {
        vgpu_trace_rec_event(&rec, &ev, NULL);
        assert_int_equal(vgpu_trace_rec_flush(&rec), 0);
    }
    vgpu_trace_rec_close(&rec);
    assert_int_equal(t_file_size(old), limit);
    assert_int_equal(t_file_size(path),
                     VGPU_TRACE_HDR_SIZE + 2u * (VGPU_TRACE_EV_SIZE + 100u));
}

/* Never through a symbolic link, never blocked by a FIFO. */
static void
test_recorder_refuses(void **state)
{
    struct vgpu_trace_rec rec;
    char path[128];
    char target[128];

    (void)state;
    snprintf(target, sizeof(target), "%s/target", t_dir);
    snprintf(path, sizeof(path), "%s/link.trc", t_dir);
    assert_int_equal(symlink(target, path), 0);
    assert_int_equal(vgpu_trace_rec_open(&rec, path, 0, &t_hdr), -ELOOP);
    assert_int_equal(access(target, F_OK), -1); /* nothing created */
    snprintf(path, sizeof(path), "%s/fifo.trc", t_dir);
    assert_int_equal(mkfifo(path, 0600), 0);
    assert_true(vgpu_trace_rec_open(&rec, path, 0, &t_hdr) < 0);
    assert_false(vgpu_trace_rec_active(&rec));
    snprintf(path, sizeof(path), "%s", t_dir);
    assert_true(vgpu_trace_rec_open(&rec, path, 0, &t_hdr) < 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        VGPU_TEST("/trace/codec/round-trip", test_round_trip),
        VGPU_TEST("/trace/codec/truncated-everywhere",
                  test_truncated_everywhere),
        VGPU_TEST("/trace/codec/bad-headers", test_bad_headers),
        VGPU_TEST("/trace/codec/bad-events", test_bad_events),
        VGPU_TEST_FIXTURE("/trace/recorder/write-and-set-b", test_recorder,
                          t_setup, t_teardown),
        VGPU_TEST_FIXTURE("/trace/recorder/rotates", test_recorder_rotates,
                          t_setup, t_teardown),
        VGPU_TEST_FIXTURE("/trace/recorder/no-link-no-fifo",
                          test_recorder_refuses, t_setup, t_teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
