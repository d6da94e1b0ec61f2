/*
 * Unit tests of the legacy file protocol's text (include/vgpu/legacy.h):
 * the request line "pool:priority:vm_id:num1:num2", every malformed form of
 * it, the int32 and vm_id boundaries, blanks and newlines; the vmN directory
 * names; the response lines both ways; and a deterministic stream of junk
 * lines, each of which must be refused or survive a format/parse round trip.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "vgpu/legacy.h"
#include "vgpu/regs.h"
#include "vgpu_test.h"

#define JUNK_LINES 200000u

static void
assert_req_equal(const struct vgpu_legacy_req *a,
                 const struct vgpu_legacy_req *b)
{
    assert_int_equal(a->pool, b->pool);
    assert_int_equal(a->priority, b->priority);
    assert_int_equal(a->vm_id, b->vm_id);
    assert_int_equal(a->num1, b->num1);
    assert_int_equal(a->num2, b->num2);
}

/* Parse a NUL-terminated line. */
static int
parse(const char *line, struct vgpu_legacy_req *req, char *why, size_t len)
{
    return vgpu_legacy_parse(line, strlen(line), req, why, len);
}

static void
expect_ok(const char *line, uint8_t pool, uint8_t prio, uint32_t vm_id,
          int32_t num1, int32_t num2)
{
    struct vgpu_legacy_req req;
    char why[256] = "";

    if (parse(line, &req, why, sizeof(why)) != 0) {
        fail_msg("'%s' refused: %s", line, why);
    }
    assert_int_equal(req.pool, pool);
    assert_int_equal(req.priority, prio);
    assert_int_equal(req.vm_id, vm_id);
    assert_int_equal(req.num1, num1);
    assert_int_equal(req.num2, num2);
}

/* @line (of @len bytes) is refused, and the reason contains @needle. */
static void
expect_bad_len(const char *line, size_t len, const char *needle)
{
    struct vgpu_legacy_req req;
    char why[256] = "";
    int rc;

    memset(&req, 0x5a, sizeof(req));
    rc = vgpu_legacy_parse(line, len, &req, why, sizeof(why));
    if (rc != -EINVAL) {
        fail_msg("'%.*s' gave %d, want -EINVAL", (int)len, line, rc);
    }
    if (strstr(why, needle) == NULL) {
        fail_msg("'%.*s': reason '%s' does not contain '%s'", (int)len, line,
                 why, needle);
    }
    /* The output is untouched on failure. */
    assert_int_equal(req.pool, 0x5a);
    assert_int_equal(req.vm_id, 0x5a5a5a5au);
}

static void
expect_bad(const char *line, const char *needle)
{
    expect_bad_len(line, strlen(line), needle);
}

/* ---- Good lines ---------------------------------------------------------- */

static void
test_seed_line(void **state)
{
    /* The seed's own example: pool A, priority 2, vm_id 1, 100 + 200. */
    expect_ok("A:2:1:100:200", 'A', VGPU_PRIO_HIGH, 1, 100, 200);
}

static void
test_priorities(void **state)
{
    expect_ok("B:low:3:1:2", 'B', VGPU_PRIO_LOW, 3, 1, 2);
    expect_ok("B:medium:3:1:2", 'B', VGPU_PRIO_MEDIUM, 3, 1, 2);
    expect_ok("B:high:3:1:2", 'B', VGPU_PRIO_HIGH, 3, 1, 2);
    expect_ok("B:0:3:1:2", 'B', VGPU_PRIO_LOW, 3, 1, 2);
    expect_ok("B:1:3:1:2", 'B', VGPU_PRIO_MEDIUM, 3, 1, 2);
    expect_ok("B:2:3:1:2", 'B', VGPU_PRIO_HIGH, 3, 1, 2);
}

static void
test_pools(void **state)
{
    expect_ok("A:0:1:0:0", 'A', VGPU_PRIO_LOW, 1, 0, 0);
    expect_ok("Z:0:1:0:0", 'Z', VGPU_PRIO_LOW, 1, 0, 0);
}

static void
test_blanks_and_newlines(void **state)
{
    expect_ok("A:2:1:100:200\n", 'A', VGPU_PRIO_HIGH, 1, 100, 200);
    expect_ok("A:2:1:100:200\r\n", 'A', VGPU_PRIO_HIGH, 1, 100, 200);
    expect_ok("A:2:1:100:200\n\n\n", 'A', VGPU_PRIO_HIGH, 1, 100, 200);
    expect_ok("  \tA:2:1:100:200 \t\r\n", 'A', VGPU_PRIO_HIGH, 1, 100, 200);
    expect_ok("\nA:2:1:100:200", 'A', VGPU_PRIO_HIGH, 1, 100, 200);
}

static void
test_signs(void **state)
{
    expect_ok("A:1:1:-5:+7", 'A', VGPU_PRIO_MEDIUM, 1, -5, 7);
    expect_ok("A:1:1:-0:+0", 'A', VGPU_PRIO_MEDIUM, 1, 0, 0);
    expect_ok("A:1:1:007:-007", 'A', VGPU_PRIO_MEDIUM, 1, 7, -7);
}

static void
test_int32_bounds(void **state)
{
    expect_ok("A:1:1:2147483647:-2147483648", 'A', VGPU_PRIO_MEDIUM, 1,
              INT32_MAX, INT32_MIN);
    expect_ok("A:1:1:+2147483647:-2147483647", 'A', VGPU_PRIO_MEDIUM, 1,
              INT32_MAX, -INT32_MAX);
    expect_bad("A:1:1:2147483648:0", "num1 '2147483648' is not an integer in "
                                     "-2147483648..2147483647");
    expect_bad("A:1:1:0:-2147483649", "num2 '-2147483649'");
    expect_bad("A:1:1:0:+2147483648", "num2 '+2147483648'");
    expect_bad("A:1:1:99999999999999999999999999:0",
               "num1 '9999999999999999...' is not");
    expect_bad("A:1:1:4294967296:0", "num1 '4294967296'");
}

static void
test_vm_id_bounds(void **state)
{
    expect_ok("A:1:1:0:0", 'A', VGPU_PRIO_MEDIUM, 1, 0, 0);
    expect_ok("A:1:4294967295:0:0", 'A', VGPU_PRIO_MEDIUM, UINT32_MAX, 0, 0);
    expect_bad("A:1:007:0:0", "vm_id '007' is not a vm_id");
    expect_ok("A:HIGH:7:0:0", 'A', VGPU_PRIO_HIGH, 7, 0, 0);
    expect_bad("A:1:0:0:0",
               "vm_id '0' is not a vm_id (1..4294967295, in decimal "
               "without a leading zero)");
    expect_bad("A:1:4294967296:0:0", "vm_id '4294967296'");
    expect_bad("A:1:-1:0:0", "vm_id '-1'");
    expect_bad("A:1:+1:0:0", "vm_id '+1'");
    expect_bad("A:1:0x10:0:0", "vm_id '0x10'");
}

/* ---- Malformed lines ----------------------------------------------------- */

static void
test_empty(void **state)
{
    expect_bad("", "empty request (want pool:priority:vm_id:num1:num2)");
    expect_bad(" \t\r\n\n", "empty request");
    expect_bad_len(NULL, 0, "empty request");
}

static void
test_field_count(void **state)
{
    expect_bad("A:2:1:100", "4 fields, want 5");
    expect_bad("A:2:1:100:200:300", "6 fields");
    expect_bad("A:2:1:100:200:", "6 fields");
    expect_bad("100 200", "1 field, want 5");
}

/* A line that does not parse is not quoted back, and a field is quoted
 * cut: an answer cannot carry a file's content (docs/mediator.md). */
static void
test_no_quote(void **state)
{
    static const char secret[] = "TOPSECRET:password=hunter2-and-more";
    static const char field[] = "A:1:1:password=hunter2-and-more:0";
    struct vgpu_legacy_req req;
    char why[256];

    assert_int_equal(
        vgpu_legacy_parse(secret, strlen(secret), &req, why, sizeof(why)),
        -EINVAL);
    assert_null(strstr(why, "TOPSECRET"));
    assert_int_equal(
        vgpu_legacy_parse(field, strlen(field), &req, why, sizeof(why)),
        -EINVAL);
    assert_non_null(strstr(why, "num1 'password=hunter2...'"));
    assert_null(strstr(why, "and-more"));
}

static void
test_empty_fields(void **state)
{
    expect_bad(":2:1:100:200", "pool '' is not one letter A-Z");
    expect_bad("A::1:100:200", "priority '' is not one of");
    expect_bad("A:2::100:200", "vm_id ''");
    expect_bad("A:2:1::200", "num1 ''");
    expect_bad("A:2:1:100:", "num2 ''");
    expect_bad("A:2:1:-:200", "num1 '-'");
    expect_bad("::::", "pool ''");
}

static void
test_bad_values(void **state)
{
    expect_bad("a:2:1:100:200", "pool 'a' is not one letter A-Z");
    expect_bad("AB:2:1:100:200", "pool 'AB'");
    expect_bad("1:2:1:100:200", "pool '1'");
    expect_bad("A:3:1:100:200",
               "priority '3' is not one of low, medium, high (or 0, 1, 2)");
    expect_bad("A:urgent:1:100:200", "priority 'urgent'");
    expect_bad("A:2:1:1e3:200", "num1 '1e3'");
    expect_bad("A:2:1:100:0x10", "num2 '0x10'");
    expect_bad("A:2:1:--1:200", "num1 '--1'");
    expect_bad("A:2:1:1.5:200", "num1 '1.5'");
}

static void
test_inner_blanks(void **state)
{
    expect_bad("A: 2:1:100:200", "priority ' 2'");
    expect_bad("A:2:1:100 :200", "num1 '100 '");
    expect_bad("A:2:1:1\t00:200", "byte 0x09 at offset 7");
}

static void
test_two_lines(void **state)
{
    expect_bad("A:2:1:1:2\nA:2:1:1:2", "more than one line");
    expect_bad("A:2:1:1:2\rA:2:1:1:2", "more than one line");
}

static void
test_binary(void **state)
{
    static const char nul[] = "A:2:1:1\0:2";
    static const char high[] = "A:2:1:1:2\xff";
    static const char del[] = "\x7f"
                              "A:2:1:1:2";

    expect_bad_len(nul, sizeof(nul) - 1,
                   "byte 0x00 at offset 7 is not printable ASCII");
    expect_bad_len(high, sizeof(high) - 1, "byte 0xff at offset 9");
    expect_bad_len(del, sizeof(del) - 1, "byte 0x7f at offset 0");
    expect_bad("\x1b[31mA:2:1:1:2", "byte 0x1b at offset 0");
}

static void
test_line_length(void **state)
{
    char line[VGPU_LEGACY_LINE_MAX + 2];
    struct vgpu_legacy_req req;
    size_t n = strlen("A:2:1:1:2");

    /* Exactly the limit, blanks included, parses; one byte more does not. */
    memset(line, ' ', sizeof(line));
    memcpy(line, "A:2:1:1:2", n);
    assert_int_equal(
        vgpu_legacy_parse(line, VGPU_LEGACY_LINE_MAX, &req, NULL, 0), 0);
    expect_bad_len(line, VGPU_LEGACY_LINE_MAX + 1,
                   "request of 257 bytes is over the limit of 256 bytes");
    expect_bad_len(line, SIZE_MAX, "over the limit");
}

static void
test_why_optional(void **state)
{
    struct vgpu_legacy_req req;
    char tiny[8];

    assert_int_equal(parse("A:9:1:1:2", &req, NULL, 0), -EINVAL);
    /* A short buffer gets a truncated, terminated reason. */
    assert_int_equal(parse("A:9:1:1:2", &req, tiny, sizeof(tiny)), -EINVAL);
    assert_int_equal(strlen(tiny), sizeof(tiny) - 1);
}

/* ---- Directory names ----------------------------------------------------- */

static void
expect_dir(const char *name, int ok, uint32_t want)
{
    uint32_t vm_id = 0;
    int rc = vgpu_legacy_dir_vm_id(name, &vm_id);

    /* NULL is one of the cases; printf's %s must never see it. */
    if (name == NULL) {
        name = "(null)";
    }
    if (ok && (rc != 0 || vm_id != want)) {
        fail_msg("'%s': rc %d vm_id %u, want %u", name, rc, (unsigned)vm_id,
                 (unsigned)want);
    }
    if (!ok && rc != -EINVAL) {
        fail_msg("'%s': rc %d vm_id %u, want -EINVAL", name, rc,
                 (unsigned)vm_id);
    }
}

static void
test_dir_names(void **state)
{
    expect_dir("vm3", 1, 3);
    expect_dir("/srv/vgpu/vm3", 1, 3);
    expect_dir("/srv/vgpu/vm3//", 1, 3);
    expect_dir("vm4294967295", 1, UINT32_MAX);
    expect_dir("vm4294967296", 0, 0);
    expect_dir("vm99999999999", 0, 0);
    expect_dir("vm0", 0, 0);
    expect_dir("vm03", 0, 0);
    expect_dir("vm", 0, 0);
    expect_dir("vm-3", 0, 0);
    expect_dir("vm3x", 0, 0);
    expect_dir("avm3", 0, 0);
    expect_dir("3", 0, 0);
    expect_dir("", 0, 0);
    expect_dir("/", 0, 0);
    expect_dir("/srv/vm3/other", 0, 0);
    expect_dir(NULL, 0, 0);
}

/* ---- Formatting and responses -------------------------------------------- */

static void
test_format_request(void **state)
{
    struct vgpu_legacy_req req = {'C', VGPU_PRIO_LOW, 42, INT32_MIN, -1};
    struct vgpu_legacy_req back;
    char line[64];
    char small[8];
    int n = vgpu_legacy_format_request(&req, line, sizeof(line));

    assert_string_equal(line, "C:0:42:-2147483648:-1\n");
    assert_int_equal(n, (int)strlen(line));
    assert_int_equal(vgpu_legacy_parse(line, (size_t)n, &back, NULL, 0), 0);
    assert_req_equal(&back, &req);
    assert_int_equal(vgpu_legacy_format_request(&req, small, sizeof(small)),
                     -ENOBUFS);
}

static void
test_format_ok(void **state)
{
    char line[64];

    assert_int_equal(vgpu_legacy_format_ok(3, 300, line, sizeof(line)), 9);
    assert_string_equal(line, "ok:3:300\n");
    vgpu_legacy_format_ok(UINT32_MAX, INT32_MIN, line, sizeof(line));
    assert_string_equal(line, "ok:4294967295:-2147483648\n");
    assert_int_equal(vgpu_legacy_format_ok(3, 300, line, 9), -ENOBUFS);
}

static void
test_format_error(void **state)
{
    char line[VGPU_LEGACY_LINE_MAX + 64];
    char msg[1000];
    int n;

    n = vgpu_legacy_format_error(VGPU_ERR_REJECTED,
                                 "request vm_id 7 in directory vm3 (vm_id 3)",
                                 line, sizeof(line));
    assert_string_equal(line, "error:REJECTED:request vm_id 7 in directory vm3 "
                              "(vm_id 3)\n");
    assert_int_equal(n, (int)strlen(line));
    /* Control characters cannot break the line. */
    vgpu_legacy_format_error(VGPU_ERR_INVALID_REQUEST, "a\nb\rc\x01", line,
                             sizeof(line));
    assert_string_equal(line, "error:INVALID_REQUEST:a?b?c?\n");
    vgpu_legacy_format_error(VGPU_ERR_NONE, NULL, line, sizeof(line));
    assert_string_equal(line, "error:NONE:\n");
    /* A long message is cut so the line fits VGPU_LEGACY_LINE_MAX. */
    memset(msg, 'x', sizeof(msg) - 1);
    msg[sizeof(msg) - 1] = '\0';
    n = vgpu_legacy_format_error(VGPU_ERR_BACKEND_ERROR, msg, line,
                                 sizeof(line));
    assert_int_equal(n, VGPU_LEGACY_LINE_MAX);
    assert_int_equal(line[n - 1], '\n');
    assert_int_equal(strlen(line), (size_t)n);
    /* And the caller's buffer. */
    n = vgpu_legacy_format_error(VGPU_ERR_BACKEND_ERROR, msg, line, 32);
    assert_int_equal(n, 31);
    assert_int_equal(line[30], '\n');
    assert_int_equal(vgpu_legacy_format_error(VGPU_ERR_REJECTED, "x", line,
                                              strlen("error:REJECTED:") + 1),
                     -ENOBUFS);
}

static void
test_parse_response_ok(void **state)
{
    struct vgpu_legacy_resp r;

    assert_int_equal(vgpu_legacy_parse_response("ok:3:300\n", 9, &r), 0);
    assert_int_equal(r.ok, 1);
    assert_int_equal(r.vm_id, 3);
    assert_int_equal(r.result, 300);
    assert_int_equal(vgpu_legacy_parse_response("ok:1:-2147483648\r\n", 18, &r),
                     0);
    assert_int_equal(r.result, INT32_MIN);
}

static void
test_parse_response_error(void **state)
{
    static const char text[] = "error:REJECTED:vm_id 3 is already connected\n";
    struct vgpu_legacy_resp r;

    assert_int_equal(vgpu_legacy_parse_response(text, sizeof(text) - 1, &r), 0);
    assert_int_equal(r.ok, 0);
    assert_string_equal(r.code, "REJECTED");
    assert_int_equal(r.msg_len, strlen("vm_id 3 is already connected"));
    assert_memory_equal(r.msg, "vm_id 3 is already connected", r.msg_len);
    assert_int_equal(vgpu_legacy_parse_response("error:NONE:", 11, &r), 0);
    assert_int_equal(r.msg_len, 0);
}

static void
test_parse_response_bad(void **state)
{
    static const char *const bad[] = {
        "",
        "\n",
        "ok",
        "ok:",
        "ok:3",
        "ok:3:",
        "ok:0:1",
        "ok:3:x",
        "ok:3:1:2",
        "ok:x:1",
        "OK:3:1",
        "error",
        "error:",
        "error:X",
        "error::msg",
        "error:bad code:x",
        "ERROR:X:y",
        "300",
        "ok:3:99999999999",
        "error:ABCDEFGHIJKLMNOPQRSTUVWXYZABCDEF:x",
    };
    struct vgpu_legacy_resp r;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (vgpu_legacy_parse_response(bad[i], strlen(bad[i]), &r) != -EINVAL) {
            fail_msg("response '%s' was accepted", bad[i]);
        }
    }
    assert_int_equal(vgpu_legacy_parse_response(NULL, 0, &r), -EINVAL);
}

/* ---- Junk ---------------------------------------------------------------- */

/* What is done to a good line, one byte at a time. */
enum junk_edit { JUNK_REPLACE, JUNK_INSERT, JUNK_DELETE, JUNK_EDITS };

static uint64_t
junk_next(uint64_t *x)
{
    *x = *x * 6364136223846793005u + 1442695040888963407u;
    return *x >> 33;
}

/* Lines of characters the parser cares about, at random (a fixed LCG, so
 * every run is the same): half are a good line with a few bytes replaced,
 * inserted or deleted, half are junk throughout, a few are over the length
 * limit. None may crash the parser (the ASan/UBSan build checks every
 * access), a refusal always says why, and every line it accepts must come
 * back through format_request() and parse() unchanged in meaning. */
static void
test_junk(void **state)
{
    static const char alphabet[] = "0123456789::::--++AAZa \t\r\n\x00\x7f\xff"
                                   "lowmediumhigh";
    static const char good[] = "A:2:1:100:200";
    char line[VGPU_LEGACY_LINE_MAX + 8];
    char again[64];
    char why[128];
    uint64_t x = 0x9e3779b97f4a7c15u;
    unsigned accepted = 0;
    unsigned refused = 0;

    for (unsigned i = 0; i < JUNK_LINES; i++) {
        struct vgpu_legacy_req req;
        struct vgpu_legacy_req back;
        size_t len;
        int n;

        if (junk_next(&x) % 2u == 0) {
            unsigned edits = 1u + (unsigned)(junk_next(&x) % 3u);

            len = sizeof(good) - 1;
            memcpy(line, good, len);
            for (unsigned e = 0; e < edits; e++) {
                size_t at = (size_t)(junk_next(&x) % (len + 1));
                char c = alphabet[junk_next(&x) % (sizeof(alphabet) - 1)];

                switch ((enum junk_edit)(junk_next(&x) % JUNK_EDITS)) {
                case JUNK_REPLACE:
                    line[at < len ? at : len - 1] = c;
                    break;
                case JUNK_INSERT:
                    memmove(line + at + 1, line + at, len - at);
                    line[at] = c;
                    len++;
                    break;
                case JUNK_DELETE:
                default:
                    if (len > 1 && at < len) {
                        memmove(line + at, line + at + 1, len - at - 1);
                        len--;
                    }
                    break;
                }
            }
        } else {
            len = (size_t)(junk_next(&x) % 24u);
            if (junk_next(&x) % 64u == 0) {
                len = (size_t)(junk_next(&x) % sizeof(line));
            }
            for (size_t j = 0; j < len; j++) {
                line[j] = alphabet[junk_next(&x) % (sizeof(alphabet) - 1)];
            }
        }
        why[0] = '\0';
        if (vgpu_legacy_parse(line, len, &req, why, sizeof(why)) != 0) {
            assert_true(why[0] != '\0');
            refused++;
            continue;
        }
        accepted++;
        n = vgpu_legacy_format_request(&req, again, sizeof(again));
        assert_true(n > 0);
        assert_int_equal(vgpu_legacy_parse(again, (size_t)n, &back, NULL, 0),
                         0);
        assert_req_equal(&back, &req);
    }
    /* Both outcomes were exercised. */
    assert_true(accepted > JUNK_LINES / 100u);
    assert_true(refused > JUNK_LINES / 4u);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        VGPU_TEST("/legacy/parse/seed_line", test_seed_line),
        VGPU_TEST("/legacy/parse/priorities", test_priorities),
        VGPU_TEST("/legacy/parse/pools", test_pools),
        VGPU_TEST("/legacy/parse/blanks_and_newlines",
                  test_blanks_and_newlines),
        VGPU_TEST("/legacy/parse/signs", test_signs),
        VGPU_TEST("/legacy/parse/int32_bounds", test_int32_bounds),
        VGPU_TEST("/legacy/parse/vm_id_bounds", test_vm_id_bounds),
        VGPU_TEST("/legacy/parse/empty", test_empty),
        VGPU_TEST("/legacy/parse/field_count", test_field_count),
        VGPU_TEST("/legacy/parse/no_quote", test_no_quote),
        VGPU_TEST("/legacy/parse/empty_fields", test_empty_fields),
        VGPU_TEST("/legacy/parse/bad_values", test_bad_values),
        VGPU_TEST("/legacy/parse/inner_blanks", test_inner_blanks),
        VGPU_TEST("/legacy/parse/two_lines", test_two_lines),
        VGPU_TEST("/legacy/parse/binary", test_binary),
        VGPU_TEST("/legacy/parse/line_length", test_line_length),
        VGPU_TEST("/legacy/parse/why_optional", test_why_optional),
        VGPU_TEST("/legacy/dir/names", test_dir_names),
        VGPU_TEST("/legacy/format/request", test_format_request),
        VGPU_TEST("/legacy/format/ok", test_format_ok),
        VGPU_TEST("/legacy/format/error", test_format_error),
        VGPU_TEST("/legacy/response/ok", test_parse_response_ok),
        VGPU_TEST("/legacy/response/error", test_parse_response_error),
        VGPU_TEST("/legacy/response/bad", test_parse_response_bad),
        VGPU_TEST("/legacy/parse/junk", test_junk),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
