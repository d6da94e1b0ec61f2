/*
 * Unit tests of libvgpu-ctl (include/vgpu/ctl.h): the stats line the daemon
 * writes, the parser its clients share, and the client against a small
 * control socket served by a thread of this test.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "vgpu/ctl.h"
#include "vgpu/regs.h"
#include "vgpu/scheduler.h"
#include "vgpu_test.h"

#define NS 1000u /* ns per us */

static struct vgpu_vm_stats
sample(void)
{
    struct vgpu_vm_stats s = {
        .vm_id = 7,
        .pool = 'B',
        .priority = VGPU_PRIO_HIGH,
        .connected = 1,
        .requests = 10,
        .responses = 9,
        .bytes_in = 100,
        .bytes_out = 90,
        .wait_p50 = 5 * NS,
        .wait_p99 = 6 * NS + 999,
        .service_p50 = 7 * NS,
        .service_p99 = 8 * NS,
        .service_total = 1234 * NS,
        .share_1s_bp = 4987,
        .executor_total = 1300 * NS,
        .target_bp = 5000,
        .share_mode = VGPU_SHARE_EQUAL,
    };

    return s;
}

/* ---- Formatting ---------------------------------------------------------- */

static void
test_format_line(void **state)
{
    struct vgpu_vm_stats s = sample();
    char line[VGPU_CTL_LINE_MAX];
    const char *want =
        "vm=7 pool=B priority=high connected=1 requests=10 responses=9 "
        "bytes_in=100 bytes_out=90 wait_p50_us=5 wait_p99_us=6 "
        "service_p50_us=7 service_p99_us=8 service_total_us=1234 "
        "executor_us=1300 vm_share=equal share_1s_pct=49.87 target_pct=50.00 "
        "errors=-\n";

    assert_int_equal(vgpu_ctl_format_vm(&s, line, sizeof(line)),
                     (int)strlen(want));
    assert_string_equal(line, want);
}

static void
test_format_errors(void **state)
{
    struct vgpu_vm_stats s = sample();
    char line[VGPU_CTL_LINE_MAX];

    s.errors[VGPU_ERR_TIMEOUT] = 2;
    s.errors[VGPU_ERR_REJECTED] = 1;
    vgpu_ctl_format_vm(&s, line, sizeof(line));
    assert_non_null(strstr(line, " errors=TIMEOUT:2,REJECTED:1\n"));
}

static void
test_format_bad_pool_priority(void **state)
{
    struct vgpu_vm_stats s = sample();
    char line[VGPU_CTL_LINE_MAX];

    s.pool = 0;
    s.priority = VGPU_PRIO_COUNT;
    vgpu_ctl_format_vm(&s, line, sizeof(line));
    assert_non_null(strstr(line, "vm=7 pool=- priority=? "));
}

/* The widest line fits VGPU_CTL_LINE_MAX; a short buffer is reported. */
static void
test_format_bounds(void **state)
{
    struct vgpu_vm_stats s;
    char line[VGPU_CTL_LINE_MAX];
    char small[16];
    int n;

    memset(&s, 0xFF, sizeof(s));
    s.priority = VGPU_PRIO_MEDIUM;
    n = vgpu_ctl_format_vm(&s, line, sizeof(line));
    assert_in_range(n, 1, VGPU_CTL_LINE_MAX - 1);
    assert_int_equal((size_t)n, strlen(line));
    assert_int_equal(vgpu_ctl_format_vm(&s, small, sizeof(small)), n);
    assert_int_equal(strlen(small), sizeof(small) - 1);
    assert_memory_equal(small, line, sizeof(small) - 1);
}

/* ---- Parsing ------------------------------------------------------------- */

static void
test_parse_roundtrip(void **state)
{
    struct vgpu_vm_stats s = sample();
    struct vgpu_ctl_vm *vms = NULL;
    char text[3 * VGPU_CTL_LINE_MAX] = "vms 2\n";
    size_t n = 0;
    size_t total = 0;

    vgpu_ctl_format_vm(&s, text + strlen(text), VGPU_CTL_LINE_MAX);
    s.vm_id = 4294967295u;
    s.pool = 'Z';
    s.priority = VGPU_PRIO_LOW;
    s.errors[VGPU_ERR_BUSY] = 3;
    vgpu_ctl_format_vm(&s, text + strlen(text), VGPU_CTL_LINE_MAX);
    assert_int_equal(vgpu_ctl_parse_stats(text, &vms, &n, &total), 0);
    assert_int_equal(total, 2);
    assert_int_equal(n, 2);
    assert_int_equal(vms[0].vm_id, 7);
    assert_int_equal(vms[0].pool, 'B');
    assert_int_equal(vms[0].priority, VGPU_PRIO_HIGH);
    assert_string_equal(vms[0].priority_name, "high");
    assert_int_equal(vms[0].requests, 10);
    assert_int_equal(vms[0].responses, 9);
    assert_int_equal(vms[0].service_total_us, 1234);
    assert_int_equal(vms[0].have, VGPU_CTL_HAVE_POOL | VGPU_CTL_HAVE_PRIORITY |
                                      VGPU_CTL_HAVE_REQUESTS |
                                      VGPU_CTL_HAVE_RESPONSES |
                                      VGPU_CTL_HAVE_SERVICE);
    assert_int_equal(vms[1].vm_id, 4294967295u);
    assert_int_equal(vms[1].pool, 'Z');
    assert_int_equal(vms[1].priority, VGPU_PRIO_LOW);
    free(vms);
}

static void
test_parse_empty(void **state)
{
    struct vgpu_ctl_vm *vms = (struct vgpu_ctl_vm *)&vms;
    size_t n = 1;
    size_t total = 1;

    assert_int_equal(vgpu_ctl_parse_stats("vms 0\n", &vms, &n, &total), 0);
    assert_null(vms);
    assert_int_equal(n, 0);
    assert_int_equal(total, 0);
    assert_int_equal(vgpu_ctl_parse_stats("vms 3", &vms, &n, NULL), 0);
    assert_int_equal(n, 0);
}

static void
test_parse_not_stats(void **state)
{
    static const char *const bad[] = {
        "",
        "vms\n",
        "vms x\n",
        "vms 1x\n",
        "VMS 1\n",
        "error: no\n",
        "vm=1 pool=A priority=low\n",
    };
    struct vgpu_ctl_vm *vms;
    size_t n;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        vms = (struct vgpu_ctl_vm *)&vms;
        assert_int_equal(vgpu_ctl_parse_stats(bad[i], &vms, &n, NULL), -EPROTO);
        assert_null(vms);
    }
}

/* Lines that are not "vm=ID ..." are skipped; fields are found by key, and
 * a missing one is said in `have`. */
static void
test_parse_partial_lines(void **state)
{
    struct vgpu_ctl_vm *vms = NULL;
    size_t n = 0;

    assert_int_equal(
        vgpu_ctl_parse_stats("vms 4\n"
                             "vm=x pool=A\n"
                             "\n"
                             "vm=3 priority=urgent requests=5\n"
                             "note: vm=9\n"
                             "vm=4 responses=2 pool=C priority=medium\n"
                             "vm=5x pool=A\n"
                             "vm=6",
                             &vms, &n, NULL),
        0);
    assert_int_equal(n, 3);
    assert_int_equal(vms[0].vm_id, 3);
    assert_int_equal(vms[0].priority, -1);
    assert_string_equal(vms[0].priority_name, "urgent");
    assert_int_equal(vms[0].requests, 5);
    assert_int_equal(vms[0].have,
                     VGPU_CTL_HAVE_PRIORITY | VGPU_CTL_HAVE_REQUESTS);
    assert_int_equal(vms[1].vm_id, 4);
    assert_int_equal(vms[1].pool, 'C');
    assert_int_equal(vms[1].priority, VGPU_PRIO_MEDIUM);
    assert_int_equal(vms[1].responses, 2);
    assert_int_equal(vms[2].vm_id, 6);
    assert_int_equal(vms[2].have, 0);
    free(vms);
}

static void
test_parse_long_priority(void **state)
{
    struct vgpu_ctl_vm *vms = NULL;
    size_t n = 0;

    assert_int_equal(vgpu_ctl_parse_stats("vms 1\nvm=1 priority="
                                          "abcdefghijklmnopqrstuvwxyz pool=A\n",
                                          &vms, &n, NULL),
                     0);
    assert_int_equal(n, 1);
    assert_string_equal(vms[0].priority_name, "abcdefghijklmno");
    assert_int_equal(vms[0].pool, 'A');
    free(vms);
}

/* ---- The client ---------------------------------------------------------- */

struct server {
    char dir[64];
    char path[128];
    int lfd;
    const char *answer; /* NULL: accept, read, never answer */
    size_t repeat;      /* the answer is sent this many times */
    char got[64];       /* the query received */
    pthread_t th;
};

static void *
server_main(void *arg)
{
    struct server *sv = arg;
    int fd = accept(sv->lfd, NULL, NULL);
    size_t len = 0;
    ssize_t n;

    if (fd < 0) {
        return NULL;
    }
    while (len < sizeof(sv->got) - 1 &&
           (n = read(fd, sv->got + len, sizeof(sv->got) - 1 - len)) > 0) {
        len += (size_t)n;
        if (sv->got[len - 1] == '\n') {
            break;
        }
    }
    sv->got[len] = '\0';
    if (sv->answer == NULL) {
        char c;

        (void)read(fd, &c, 1); /* until the client gives up */
    } else {
        for (size_t i = 0; i < sv->repeat; i++) {
            if (write(fd, sv->answer, strlen(sv->answer)) < 0) {
                break;
            }
        }
    }
    close(fd);
    return NULL;
}

static void
server_start(struct server *sv, const char *answer, size_t repeat)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};

    memset(sv, 0, sizeof(*sv));
    snprintf(sv->dir, sizeof(sv->dir), "/tmp/vgpu-test-ctl.XXXXXX");
    assert_non_null(mkdtemp(sv->dir));
    snprintf(sv->path, sizeof(sv->path), "%s/s.ctl", sv->dir);
    assert_true(strlen(sv->path) < sizeof(sa.sun_path));
    memcpy(sa.sun_path, sv->path, strlen(sv->path) + 1);
    sv->lfd = socket(AF_UNIX, SOCK_STREAM, 0);
    assert_true(sv->lfd >= 0);
    assert_int_equal(bind(sv->lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(sv->lfd, 1), 0);
    sv->answer = answer;
    sv->repeat = repeat;
    assert_int_equal(pthread_create(&sv->th, NULL, server_main, sv), 0);
}

static void
server_stop(struct server *sv)
{
    pthread_join(sv->th, NULL);
    close(sv->lfd);
    unlink(sv->path);
    rmdir(sv->dir);
}

static void
test_query_answer(void **state)
{
    struct server sv;
    char *text = NULL;

    server_start(&sv, "vms 0\n", 1);
    assert_int_equal(vgpu_ctl_query(sv.path, VGPU_CTL_STATS, 5000,
                                    VGPU_CTL_ANSWER_MAX, &text),
                     0);
    server_stop(&sv);
    assert_string_equal(sv.got, "stats\n");
    assert_string_equal(text, "vms 0\n");
    free(text);
}

/* An answer longer than the first buffer grows it; one over @max fails. */
static void
test_query_large_and_too_large(void **state)
{
    static const char chunk[] = "0123456789abcdef0123456789abcdef\n";
    struct server sv;
    char *text = NULL;

    server_start(&sv, chunk, 1000);
    assert_int_equal(vgpu_ctl_query(sv.path, "x\n", 5000, 1000 * 33, &text), 0);
    server_stop(&sv);
    assert_int_equal(strlen(text), 1000 * (sizeof(chunk) - 1));
    free(text);

    server_start(&sv, chunk, 1000);
    assert_int_equal(vgpu_ctl_query(sv.path, "x\n", 5000, 1000 * 33 - 1, &text),
                     -EMSGSIZE);
    assert_null(text);
    server_stop(&sv);
}

static void
test_query_timeout(void **state)
{
    struct server sv;
    char *text = (char *)&text;

    server_start(&sv, NULL, 0);
    assert_int_equal(
        vgpu_ctl_query(sv.path, VGPU_CTL_STATS, 50, VGPU_CTL_ANSWER_MAX, &text),
        -ETIMEDOUT);
    assert_null(text);
    server_stop(&sv);
}

static void
test_query_no_daemon(void **state)
{
    char long_path[200];
    char *text = NULL;

    assert_int_equal(vgpu_ctl_query("/nonexistent-vgpu/x.ctl", VGPU_CTL_STATS,
                                    100, VGPU_CTL_ANSWER_MAX, &text),
                     -ENOENT);
    assert_null(text);
    memset(long_path, 'a', sizeof(long_path) - 1);
    long_path[sizeof(long_path) - 1] = '\0';
    assert_int_equal(vgpu_ctl_query(long_path, VGPU_CTL_STATS, 100,
                                    VGPU_CTL_ANSWER_MAX, &text),
                     -ENAMETOOLONG);
}

/* vgpu_ctl_field(): a word by key, only whole keys at a word's start,
 * never past the line's end. */
static void
test_field(void **state)
{
    const char *line = "vm=7 pool=A xqueued=9 queued=3 running=1\nvm=8 z=1";
    const char *end = strchr(line, '\n');

    (void)state;
    assert_ptr_equal(vgpu_ctl_field(line, end, "vm"), line + 3);
    assert_int_equal(*vgpu_ctl_field(line, end, "pool"), 'A');
    assert_int_equal(*vgpu_ctl_field(line, end, "queued"), '3');
    assert_int_equal(*vgpu_ctl_field(line, end, "running"), '1');
    assert_null(vgpu_ctl_field(line, end, "queue"));
    assert_null(vgpu_ctl_field(line, end, "z")); /* on the next line */
    assert_null(vgpu_ctl_field(line, line, "vm"));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        VGPU_TEST("/ctl/format/line", test_format_line),
        VGPU_TEST("/ctl/format/errors", test_format_errors),
        VGPU_TEST("/ctl/format/bad_pool_priority",
                  test_format_bad_pool_priority),
        VGPU_TEST("/ctl/format/bounds", test_format_bounds),
        VGPU_TEST("/ctl/parse/roundtrip", test_parse_roundtrip),
        VGPU_TEST("/ctl/parse/field", test_field),
        VGPU_TEST("/ctl/parse/empty", test_parse_empty),
        VGPU_TEST("/ctl/parse/not_stats", test_parse_not_stats),
        VGPU_TEST("/ctl/parse/partial_lines", test_parse_partial_lines),
        VGPU_TEST("/ctl/parse/long_priority", test_parse_long_priority),
        VGPU_TEST("/ctl/query/answer", test_query_answer),
        VGPU_TEST("/ctl/query/large_and_too_large",
                  test_query_large_and_too_large),
        VGPU_TEST("/ctl/query/timeout", test_query_timeout),
        VGPU_TEST("/ctl/query/no_daemon", test_query_no_daemon),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
