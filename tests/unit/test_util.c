/*
 * Unit tests of the internal text helpers (src/util/util.h): the one u32
 * parser (digits only, both bounds, overflow, its message) and the one INI
 * line reader (line count, the end, an over-long line skipped whole).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
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

static void
test_ini_lines(void **state)
{
    static const char text[] = "a = 1\n"
                               "0123456789abcdef\n"
                               "b = 2";
    struct vgpu_ini_lines r = {0};
    char buf[8];

    r.file = fmemopen((void *)text, sizeof(text) - 1, "r");
    assert_non_null(r.file);
    assert_int_equal(vgpu_ini_line_read(&r, buf, sizeof(buf)), 1);
    assert_string_equal(buf, "a = 1\n");
    assert_int_equal(r.lineno, 1);
    assert_int_equal(vgpu_ini_line_read(&r, buf, sizeof(buf)), -E2BIG);
    assert_int_equal(r.lineno, 2);
    /* The rest of the long line is gone: the next line is line 3. */
    assert_int_equal(vgpu_ini_line_read(&r, buf, sizeof(buf)), 1);
    assert_string_equal(buf, "b = 2");
    assert_int_equal(r.lineno, 3);
    assert_int_equal(vgpu_ini_line_read(&r, buf, sizeof(buf)), 0);
    assert_int_equal(r.lineno, 3);
    fclose(r.file);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        VGPU_TEST("/util/u32/ok", test_u32_ok),
        VGPU_TEST("/util/u32/bad", test_u32_bad),
        VGPU_TEST("/util/u32/why", test_u32_why),
        VGPU_TEST("/util/ini_lines/count", test_ini_lines),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
