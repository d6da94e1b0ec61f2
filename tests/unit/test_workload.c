/*
 * Unit tests of libvgpu-workload (src/workload/workload.h): the random
 * streams, the requests built from them, the expected results and their
 * check, the number arguments and the latency figures that vgpu-sim,
 * vgpu-chaos and vgpu-bench share.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "vgpu/backend.h"
#include "vgpu/proto.h"
#include "vgpu_test.h"
#include "workload.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

static const uint32_t all_ops[] = {
    VGPU_OP_NOP,       VGPU_OP_ECHO,    VGPU_OP_ADD_I32,    VGPU_OP_ADD_F32,
    VGPU_OP_SAXPY_F32, VGPU_OP_DOT_F32, VGPU_OP_MATMUL_F32,
};

/* ---- Random streams ------------------------------------------------------ */

/* splitmix64's published first output for state 0. */
static void
test_rng_splitmix64(void **state)
{
    struct vgpu_wl_rng r = {.s = 0};

    assert_int_equal(vgpu_wl_rng_next(&r), 0xE220A8397B1DCDAFull);
    assert_int_equal(vgpu_wl_rng_next(&r), 0x6E789E6AA1B965F4ull);
}

static void
test_rng_streams(void **state)
{
    struct vgpu_wl_rng a;
    struct vgpu_wl_rng b;
    struct vgpu_wl_rng c;

    vgpu_wl_rng_init(&a, 42, 3);
    vgpu_wl_rng_init(&b, 42, 3);
    vgpu_wl_rng_init(&c, 42, 4);
    assert_int_equal(a.s, 42 ^ 4 * 0xD1B54A32D192ED03ull);
    for (int i = 0; i < 100; i++) {
        uint64_t x = vgpu_wl_rng_next(&a);

        assert_int_equal(x, vgpu_wl_rng_next(&b));
        assert_int_not_equal(x, vgpu_wl_rng_next(&c));
    }
}

static void
test_rng_range(void **state)
{
    struct vgpu_wl_rng r;
    int seen_lo = 0;
    int seen_hi = 0;

    vgpu_wl_rng_init(&r, 1, 0);
    for (int i = 0; i < 1000; i++) {
        uint32_t v = vgpu_wl_rng_range(&r, 5, 8);

        assert_in_range(v, 5, 8);
        seen_lo |= v == 5;
        seen_hi |= v == 8;
    }
    assert_true(seen_lo && seen_hi);
    assert_int_equal(vgpu_wl_rng_range(&r, 7, 7), 7);
    (void)vgpu_wl_rng_range(&r, 0, UINT32_MAX); /* no division by zero */
}

static void
test_rng_f32(void **state)
{
    struct vgpu_wl_rng r;

    vgpu_wl_rng_init(&r, 9, 1);
    for (int i = 0; i < 1000; i++) {
        float f = vgpu_wl_rng_f32(&r);
        double k = (double)f * 1000.0;
        long step = (long)(k + (k >= 0.0 ? 0.5 : -0.5));

        assert_true(f >= -1000.0f && f <= 1000.0f);
        assert_true(f == (float)step / 1000.0f); /* steps of 0.001 */
    }
}

static void
test_f32_bytes(void **state)
{
    uint8_t b[4];

    vgpu_wl_put_f32(b, 1.0f);
    assert_memory_equal(b, "\x00\x00\x80\x3f", 4);
    assert_true(vgpu_wl_get_f32(b) == 1.0f);
    vgpu_wl_put_f32(b, -2.5f);
    assert_true(vgpu_wl_get_f32(b) == -2.5f);
}

/* ---- Requests ------------------------------------------------------------ */

static void
test_max_n(void **state)
{
    assert_int_equal(vgpu_wl_max_n(VGPU_OP_NOP), 0);
    assert_int_equal(vgpu_wl_max_n(VGPU_OP_ECHO), VGPU_ECHO_MAX_N);
    assert_int_equal(vgpu_wl_max_n(VGPU_OP_ADD_I32), VGPU_ADD_MAX_N);
    assert_int_equal(vgpu_wl_max_n(VGPU_OP_ADD_F32), VGPU_ADD_MAX_N);
    assert_int_equal(vgpu_wl_max_n(VGPU_OP_SAXPY_F32), VGPU_SAXPY_MAX_N);
    assert_int_equal(vgpu_wl_max_n(VGPU_OP_DOT_F32), VGPU_DOT_MAX_N);
    /* 2 * 11 * 11 inputs and 11 * 11 outputs fit; 12 does not. */
    assert_int_equal(vgpu_wl_max_n(VGPU_OP_MATMUL_F32), 11);
    assert_int_equal(vgpu_wl_max_n(0x7F), 0);
    /* The queue's limits, SPEC.md section 11. */
    assert_int_equal(vgpu_wl_max_n_within(VGPU_OP_ECHO, VGPU_Q_MAX_XFER),
                     1048568);
    assert_int_equal(vgpu_wl_max_n_within(VGPU_OP_ADD_F32, VGPU_Q_MAX_XFER),
                     131071);
    assert_int_equal(vgpu_wl_max_n_within(VGPU_OP_DOT_F32, VGPU_Q_MAX_XFER),
                     131071);
    assert_int_equal(vgpu_wl_max_n_within(VGPU_OP_SAXPY_F32, VGPU_Q_MAX_XFER),
                     131070);
    /* m = k = p: 2 * 362^2 = 262088 <= 262140, 363 is over. */
    assert_int_equal(vgpu_wl_max_n_within(VGPU_OP_MATMUL_F32, VGPU_Q_MAX_XFER),
                     362);
}

/* Every op at its largest builds a request the validator accepts, the same
 * bytes from the same stream. */
static void
test_build_valid(void **state)
{
    for (size_t i = 0; i < ARRAY_LEN(all_ops); i++) {
        uint32_t op = all_ops[i];
        uint32_t n = vgpu_wl_max_n(op);
        uint8_t a[VGPU_BUF_SIZE];
        uint8_t b[VGPU_BUF_SIZE];
        struct vgpu_wl_rng r1;
        struct vgpu_wl_rng r2;
        struct vgpu_op_desc d;
        char why[128] = "";
        size_t len;

        vgpu_wl_rng_init(&r1, 5, 0);
        vgpu_wl_rng_init(&r2, 5, 0);
        len = vgpu_wl_build(&r1, op, n, n, n, a);
        assert_int_equal(len, vgpu_op_request_len(op, n, n, n));
        assert_int_equal(vgpu_wl_build(&r2, op, n, n, n, b), len);
        assert_memory_equal(a, b, len);
        assert_int_equal(vgpu_op_validate(a, len, &d, why, sizeof(why)), 0);
        assert_int_equal(d.op, op);
        assert_int_equal(d.n, n);
    }
}

static void
test_build_float_operands(void **state)
{
    uint8_t buf[VGPU_BUF_SIZE];
    struct vgpu_wl_rng r;
    size_t len;

    vgpu_wl_rng_init(&r, 1, 0);
    len = vgpu_wl_build(&r, VGPU_OP_ADD_F32, 8, 0, 0, buf);
    for (size_t off = VGPU_OP_HDR_SIZE; off < len; off += VGPU_ELEM_SIZE) {
        float f = vgpu_wl_get_f32(buf + off);

        assert_true(f >= -1000.0f && f <= 1000.0f);
    }
    assert_true(vgpu_wl_op_is_float(VGPU_OP_MATMUL_F32));
    assert_false(vgpu_wl_op_is_float(VGPU_OP_ADD_I32));
    assert_false(vgpu_wl_op_is_float(VGPU_OP_ECHO));
}

/* ---- Expected results ---------------------------------------------------- */

static void
test_expect(void **state)
{
    uint8_t req[VGPU_OP_HDR_SIZE + 4 * VGPU_ELEM_SIZE];
    uint8_t out[VGPU_BUF_SIZE];
    char why[128] = "";
    void *cpu = NULL;

    assert_int_equal(vgpu_backend_cpu.open("", &cpu, why, sizeof(why)), 0);
    vgpu_put_le32(req, VGPU_OP_ADD_I32);
    vgpu_put_le32(req + 4, 2);
    vgpu_put_le32(req + 8, 1);
    vgpu_put_le32(req + 12, 2);
    vgpu_put_le32(req + 16, 10);
    vgpu_put_le32(req + 20, 20);
    assert_int_equal(
        vgpu_wl_expect(cpu, req, sizeof(req), out, sizeof(out), why, 128), 8);
    assert_int_equal(vgpu_get_le32(out), 11);
    assert_int_equal(vgpu_get_le32(out + 4), 22);
    /* One byte short: refused, with the validator's reason. */
    assert_int_equal(vgpu_wl_expect(cpu, req, sizeof(req) - 1, out, sizeof(out),
                                    why, sizeof(why)),
                     -1);
    assert_true(why[0] != '\0');
    vgpu_backend_cpu.close(cpu);
}

static void
test_dot_tolerance(void **state)
{
    uint8_t req[VGPU_OP_HDR_SIZE + 4 * VGPU_ELEM_SIZE];
    uint8_t want[4];
    uint8_t got[4];
    double mag;

    vgpu_put_le32(req, VGPU_OP_DOT_F32);
    vgpu_put_le32(req + 4, 2);
    vgpu_wl_put_f32(req + 8, 100.0f); /* x */
    vgpu_wl_put_f32(req + 12, -100.0f);
    vgpu_wl_put_f32(req + 16, 10.0f); /* y */
    vgpu_wl_put_f32(req + 20, 10.0f);
    /* Cancelling: the result is 0, the scale |0| + 1000 + 1000. */
    mag = vgpu_wl_dot_mag(req, 2, 0.0f);
    assert_true(mag == 2000.0);
    vgpu_wl_put_f32(want, 0.0f);
    vgpu_wl_put_f32(got, 0.019f); /* within 1e-5 * 2000 = 0.02 */
    assert_true(vgpu_wl_result_matches(VGPU_OP_DOT_F32, got, 4, want, 4, mag));
    vgpu_wl_put_f32(got, 0.021f);
    assert_false(vgpu_wl_result_matches(VGPU_OP_DOT_F32, got, 4, want, 4, mag));
    assert_false(vgpu_wl_result_matches(VGPU_OP_DOT_F32, got, 0, want, 4, mag));
}

static void
test_result_bytes(void **state)
{
    static const uint8_t want[] = {1, 2, 3, 4};
    uint8_t got[] = {1, 2, 3, 4};

    assert_true(vgpu_wl_result_matches(VGPU_OP_ECHO, got, 4, want, 4, 0.0));
    assert_false(vgpu_wl_result_matches(VGPU_OP_ECHO, got, 3, want, 4, 0.0));
    got[3] = 5;
    assert_false(vgpu_wl_result_matches(VGPU_OP_ECHO, got, 4, want, 4, 0.0));
    assert_true(vgpu_wl_result_matches(VGPU_OP_NOP, NULL, 0, NULL, 0, 0.0));
}

/* ---- Arguments ----------------------------------------------------------- */

static void
test_parse_num(void **state)
{
    char why[128] = "";
    uint64_t v = 0;

    assert_int_equal(vgpu_wl_parse_num("--n", "42", 1, 100, &v, why, 128), 0);
    assert_int_equal(v, 42);
    assert_int_equal(vgpu_wl_parse_num("--n", "18446744073709551615", 0,
                                       UINT64_MAX, &v, why, sizeof(why)),
                     0);
    assert_int_equal(v, UINT64_MAX);
    v = 7;
    assert_int_equal(vgpu_wl_parse_num("--n", "101", 1, 100, &v, why, 128),
                     -EINVAL);
    assert_string_equal(why, "--n: '101' is not a number in 1..100");
    assert_int_equal(v, 7);
    assert_int_equal(vgpu_wl_parse_num("--n", "0", 1, 100, &v, why, 128),
                     -EINVAL);
    assert_int_equal(vgpu_wl_parse_num("--n", "-1", 0, 100, &v, why, 128),
                     -EINVAL);
    assert_int_equal(vgpu_wl_parse_num("--n", "", 0, 100, &v, why, 128),
                     -EINVAL);
    assert_int_equal(vgpu_wl_parse_num("--n", "1x", 0, 100, &v, why, 128),
                     -EINVAL);
    assert_int_equal(vgpu_wl_parse_num("--n", "18446744073709551616", 0,
                                       UINT64_MAX, &v, why, sizeof(why)),
                     -EINVAL);
}

static char bad_why[128];

static void __attribute__((format(printf, 1, 2)))
record_bad(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(bad_why, sizeof(bad_why), fmt, ap);
    va_end(ap);
}

/* A good number passes; a bad one reaches the program's reporter. */
static void
test_arg_num(void **state)
{
    bad_why[0] = '\0';
    assert_int_equal(vgpu_wl_arg_num(record_bad, "--vms", "12", 1, 64), 12);
    assert_string_equal(bad_why, "");
    assert_int_equal(vgpu_wl_arg_num(record_bad, "--vms", "65", 1, 64), 1);
    assert_string_equal(bad_why, "--vms: '65' is not a number in 1..64");
}

static void
test_parse_op(void **state)
{
    char why[160] = "";
    uint32_t op = 0;

    assert_int_equal(vgpu_wl_parse_op("--op", "dot_f32", &op, why, 160), 0);
    assert_int_equal(op, VGPU_OP_DOT_F32);
    assert_int_equal(vgpu_wl_parse_op("--op", "MATMUL_F32", &op, why, 160), 0);
    assert_int_equal(op, VGPU_OP_MATMUL_F32);
    assert_int_equal(vgpu_wl_parse_op("--op", "fma", &op, why, 160), -EINVAL);
    assert_string_equal(why, "--op: 'fma' is not one of nop, echo, add_i32, "
                             "add_f32, saxpy_f32, dot_f32, matmul_f32");
}

/* ---- Figures ------------------------------------------------------------- */

static void
test_percentiles(void **state)
{
    uint64_t v[100];
    uint64_t one = 2500;

    for (size_t i = 0; i < ARRAY_LEN(v); i++) {
        v[i] = (uint64_t)(ARRAY_LEN(v) - i) * 1000u; /* 100 us .. 1 us */
    }
    vgpu_wl_sort_u64(v, ARRAY_LEN(v));
    assert_int_equal(v[0], 1000);
    assert_int_equal(v[99], 100000);
    assert_true(vgpu_wl_pct_us(v, 100, 50) == 50.0);
    assert_true(vgpu_wl_pct_us(v, 100, 99) == 99.0);
    assert_true(vgpu_wl_pct_us(v, 100, 100) == 100.0);
    assert_true(vgpu_wl_pct_us(v, 100, 1) == 1.0);
    assert_true(vgpu_wl_pct_us(v, 3, 50) == 2.0); /* rank ceil(1.5) = 2 */
    assert_true(vgpu_wl_pct_us(&one, 1, 99) == 2.5);
    assert_true(vgpu_wl_pct_us(NULL, 0, 50) == 0.0);
    vgpu_wl_sort_u64(NULL, 0);
}

static void
test_now_ns(void **state)
{
    uint64_t a = vgpu_wl_now_ns();
    uint64_t b = vgpu_wl_now_ns();

    assert_true(a > 0);
    assert_true(b >= a);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        VGPU_TEST("/workload/rng/splitmix64", test_rng_splitmix64),
        VGPU_TEST("/workload/rng/streams", test_rng_streams),
        VGPU_TEST("/workload/rng/range", test_rng_range),
        VGPU_TEST("/workload/rng/f32", test_rng_f32),
        VGPU_TEST("/workload/f32/bytes", test_f32_bytes),
        VGPU_TEST("/workload/request/max_n", test_max_n),
        VGPU_TEST("/workload/request/valid", test_build_valid),
        VGPU_TEST("/workload/request/float_operands",
                  test_build_float_operands),
        VGPU_TEST("/workload/expect/add_i32", test_expect),
        VGPU_TEST("/workload/expect/dot_tolerance", test_dot_tolerance),
        VGPU_TEST("/workload/expect/bytes", test_result_bytes),
        VGPU_TEST("/workload/args/num", test_parse_num),
        VGPU_TEST("/workload/args/arg_num", test_arg_num),
        VGPU_TEST("/workload/args/op", test_parse_op),
        VGPU_TEST("/workload/figures/percentiles", test_percentiles),
        VGPU_TEST("/workload/figures/now", test_now_ns),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
