/*
 * Unit tests of the internal text helpers (src/util/util.h): the one u32
 * parser (digits only, both bounds, overflow, its message) and the one INI
 * line reader (line count, the end, an over-long line skipped whole).
 */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "util.h"
#include "vgpu_test.h"

static void
test_u32_ok(void **state)
{
    uint32_t v = 7;

    assert_int_equal(vgpu_parse_u32("0", 0, 10, &v, NULL, 0), 0);
    assert_int_equal(v, 0);
    assert_int_equal(vgpu_parse_u32("010", 0, 10, &v, NULL, 0), 0);
    assert_int_equal(v, 10);
    assert_int_equal(vgpu_parse_u32("4294967295", 0, UINT32_MAX, &v, NULL, 0),
                     0);
    assert_int_equal(v, UINT32_MAX);
}

static void
test_u32_bad(void **state)
{
    static const char *const bad[] = {"",    "-1", "+1", " 1",        "1 ",
                                      "0x1", "1a", "11", "4294967296"};
    uint32_t v = 7;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(vgpu_parse_u32(bad[i], 1, 10, &v, NULL, 0), -EINVAL);
        assert_int_equal(v, 7);
    }
    assert_int_equal(vgpu_parse_u32("0", 1, 10, &v, NULL, 0), -EINVAL);
    assert_int_equal(
        vgpu_parse_u32("99999999999999999999", 0, UINT32_MAX, &v, NULL, 0),
        -EINVAL);
    assert_int_equal(v, 7);
}

static void
test_u32_why(void **state)
{
    char why[64];
    uint32_t v;

    assert_int_equal(vgpu_parse_u32("x", 1, 1000, &v, why, sizeof(why)),
                     -EINVAL);
    assert_string_equal(why, "'x' is not an integer in 1..1000");
}

/* Each entry, as "LINE [SECTION]" or "LINE SECTION.NAME=VALUE", one per
 * line, into the buffer of the test. */
struct ini_seen {
    char text[512];
    size_t len;
};

static int
ini_collect(void *arg, const struct vgpu_ini_entry *e)
{
    struct ini_seen *s = arg;
    int n;

    if (e->name == NULL) {
        n = snprintf(s->text + s->len, sizeof(s->text) - s->len, "%d [%s]\n",
                     e->line, e->section);
    } else {
        n = snprintf(s->text + s->len, sizeof(s->text) - s->len,
                     "%d %s.%s=%s\n", e->line, e->section, e->name, e->value);
    }
    s->len += (size_t)n;
    return 0;
}

/* Parse @text (@len bytes); return the parser's result, entries in @s. */
static int
ini_run(const char *text, size_t len, struct ini_seen *s, char *err,
        size_t err_len)
{
    FILE *f = fmemopen((void *)text, len, "r");
    int rc;

    assert_non_null(f);
    memset(s, 0, sizeof(*s));
    rc = vgpu_ini_parse(f, "t.ini", ini_collect, s, err, err_len);
    fclose(f);
    return rc;
}

static void
test_ini_entries(void **state)
{
    static const char text[] = "\xEF\xBB\xBF; comment\n"
                               "# another\n"
                               "[m] ; note\n"
                               "a = 1\r\n"
                               "b: two words ;cut\n"
                               "\n"
                               "c = x;y";
    struct ini_seen s;
    char err[256] = "";

    assert_int_equal(ini_run(text, sizeof(text) - 1, &s, err, sizeof(err)), 0);
    assert_string_equal(s.text, "3 [m]\n"
                                "4 m.a=1\n"
                                "5 m.b=two words\n"
                                "7 m.c=x;y\n");
}

static void
test_ini_bytes(void **state)
{
    static const char nul[] = "[m]\nab\0c = 1\n";
    static const char utf8[] = "[m]\nkey = caf\xC3\xA9\n";
    static const char ctl[] = "[m]\nk = \x1b\n";
    struct ini_seen s;
    char err[256];

    assert_int_equal(ini_run(nul, sizeof(nul) - 1, &s, err, sizeof(err)),
                     -EINVAL);
    assert_string_equal(err, "t.ini:2: column 3: NUL byte (the file is not "
                             "text)");
    assert_int_equal(ini_run(utf8, sizeof(utf8) - 1, &s, err, sizeof(err)),
                     -EINVAL);
    assert_string_equal(err, "t.ini:2: column 10: byte 0xc3 is not ASCII");
    assert_int_equal(ini_run(ctl, sizeof(ctl) - 1, &s, err, sizeof(err)),
                     -EINVAL);
    assert_string_equal(err, "t.ini:2: column 5: control character 0x1b");
}

static void
test_ini_long_line(void **state)
{
    size_t path_len = PATH_MAX - 1;
    size_t len = strlen("[m]\nlog_file = ") + path_len + 1;
    char *text = malloc(len + VGPU_INI_LINE_MAX + 2);
    struct ini_seen s;
    char err[256] = "";

    assert_non_null(text);
    /* A path of PATH_MAX - 1 bytes with its key fits. */
    strcpy(text, "[m]\nlog_file = ");
    memset(text + strlen(text), 'p', path_len);
    text[len - 1] = '\n';
    assert_int_equal(ini_run(text, len, &s, err, sizeof(err)), 0);
    /* One over the limit is refused, by line. */
    memset(text, 'k', VGPU_INI_LINE_MAX + 1);
    text[VGPU_INI_LINE_MAX + 1] = '\n';
    assert_int_equal(ini_run(text, VGPU_INI_LINE_MAX + 2, &s, err, sizeof(err)),
                     -EINVAL);
    assert_non_null(strstr(err, "t.ini:1: line is longer than"));
    free(text);
}

static void
test_ini_syntax(void **state)
{
    struct ini_seen s;
    char err[256];

    assert_int_equal(ini_run("[m\n", 3, &s, err, sizeof(err)), -EINVAL);
    assert_string_equal(err, "t.ini:1: '[' without ']'");
    assert_int_equal(ini_run("[m]\nnothing\n", 12, &s, err, sizeof(err)),
                     -EINVAL);
    assert_string_equal(err, "t.ini:2: syntax error (expected [section] or "
                             "key = value)");
    assert_int_equal(ini_run("[m] x\n", 6, &s, err, sizeof(err)), -EINVAL);
    assert_string_equal(err, "t.ini:1: text after ']': 'x'");
}

static void
test_path_types(void **state)
{
    char why[256];
    FILE *f;

    assert_int_equal(vgpu_path_check("/", VGPU_PATH_FILE, 0, why, sizeof(why)),
                     -EINVAL);
    assert_string_equal(why, "/ is a directory, not a regular file");
    assert_int_equal(
        vgpu_path_check("/dev/null", VGPU_PATH_DIR, 0, why, sizeof(why)),
        -EINVAL);
    assert_string_equal(why,
                        "/dev/null is a character device, not a directory");
    assert_int_equal(
        vgpu_path_check("/nonexistent/x", VGPU_PATH_FILE, 1, why, sizeof(why)),
        0);
    f = vgpu_file_open_read("/dev/zero", why, sizeof(why));
    assert_null(f);
    assert_string_equal(why,
                        "/dev/zero is a character device, not a regular file");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        VGPU_TEST("/util/u32/ok", test_u32_ok),
        VGPU_TEST("/util/u32/bad", test_u32_bad),
        VGPU_TEST("/util/u32/why", test_u32_why),
        VGPU_TEST("/util/ini/entries", test_ini_entries),
        VGPU_TEST("/util/ini/bytes", test_ini_bytes),
        VGPU_TEST("/util/ini/long_line", test_ini_long_line),
        VGPU_TEST("/util/ini/syntax", test_ini_syntax),
        VGPU_TEST("/util/path/types", test_path_types),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
