/*
 * libvgpu-workload: what the programs that send requests share (vgpu-sim,
 * vgpu-chaos, vgpu-bench): seeded random operands, building a request of a
 * given shape, its expected result, the result check, the strict number
 * arguments, and the latency figures.
 *
 * A static library for in-tree programs, not an installed API: the header
 * lives with the code. Every function is pure or reads only the monotonic
 * clock; all are thread-safe on distinct arguments.
 */
#ifndef VGPU_WORKLOAD_H
#define VGPU_WORKLOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* DOT_F32 may differ from the CPU backend by this fraction of the sum of
 * |x*y| (SPEC.md section 8 allows 1e-5 relative; the sum of magnitudes
 * keeps a cancelling sum from failing a backend that adds in another
 * order). */
#define VGPU_WL_DOT_REL_TOL 1e-5

/* ---- Random numbers: splitmix64, one stream per VM ----------------------- */

struct vgpu_wl_rng {
    uint64_t s;
};

/**
 * vgpu_wl_rng_init() - the stream of VM @index (0-based) under @seed: the
 * same seed and index always give the same numbers.
 */
void vgpu_wl_rng_init(struct vgpu_wl_rng *r, uint64_t seed, uint32_t index);

/** vgpu_wl_rng_next() - the next 64 random bits. */
uint64_t vgpu_wl_rng_next(struct vgpu_wl_rng *r);

/** vgpu_wl_rng_range() - a number in @lo..@hi (both included, lo <= hi). */
uint32_t vgpu_wl_rng_range(struct vgpu_wl_rng *r, uint32_t lo, uint32_t hi);

/**
 * vgpu_wl_rng_f32() - a float in -1000.000 .. 1000.000 in steps of 0.001:
 * sums and products of a request's operands stay finite.
 */
float vgpu_wl_rng_f32(struct vgpu_wl_rng *r);

/* ---- Request bytes ------------------------------------------------------- */

/** vgpu_wl_put_f32() - @f as its little-endian IEEE bits at @p. */
void vgpu_wl_put_f32(uint8_t *p, float f);

/** vgpu_wl_get_f32() - the little-endian float at @p. */
float vgpu_wl_get_f32(const uint8_t *p);

/** vgpu_wl_op_is_float() - whether @op's operands are floats. */
bool vgpu_wl_op_is_float(uint32_t op);

/**
 * vgpu_wl_fill() - random operands in bytes [@from, @to) of @buf, one
 * element (4 bytes) at a time: floats of vgpu_wl_rng_f32() or random int32.
 */
void vgpu_wl_fill(struct vgpu_wl_rng *r, uint8_t *buf, size_t from, size_t to,
                  bool is_float);

/**
 * vgpu_wl_build() - a well-formed request of @op with counts @n, @k, @p
 * (k and p for MATMUL_F32 only) and random operands (ECHO: random bytes)
 * into @buf, which holds at least vgpu_op_request_len() bytes.
 * Return: the request's length.
 */
size_t vgpu_wl_build(struct vgpu_wl_rng *r, uint32_t op, uint32_t n, uint32_t k,
                     uint32_t p, uint8_t *buf);

/**
 * vgpu_wl_max_n() - the largest n of one request of @op (m = k = p for
 * MATMUL_F32) whose request and response fit VGPU_BUF_SIZE; 0 for NOP or
 * an unknown op.
 */
uint32_t vgpu_wl_max_n(uint32_t op);

/**
 * vgpu_wl_max_n_within() - the same for requests and responses of at most
 * @limit bytes (the queue's VGPU_Q_MAX_XFER: ADD_F32 131071).
 */
uint32_t vgpu_wl_max_n_within(uint32_t op, uint32_t limit);

/* ---- Expected results ---------------------------------------------------- */

/**
 * vgpu_wl_expect() - what a correct device answers to the request @req
 * (@len bytes): vgpu_op_validate(), then the CPU backend's exec.
 * @cpu:  a context of vgpu_backend_cpu.open().
 * @out:  receives the result, @cap bytes at most (VGPU_BUF_SIZE is enough).
 * @why:  receives the reason on failure; may be NULL if @why_len is 0.
 * Return: the result's length, or -1 (the request is refused or the
 * backend failed).
 */
long vgpu_wl_expect(void *cpu, const uint8_t *req, size_t len, uint8_t *out,
                    size_t cap, char *why, size_t why_len);

/**
 * vgpu_wl_dot_mag() - the scale of DOT_F32's tolerance: |@result| plus the
 * sum of |x[i] * y[i]| of the request @req of @n elements.
 */
double vgpu_wl_dot_mag(const uint8_t *req, uint32_t n, float result);

/**
 * vgpu_wl_result_matches() - whether @got (@len bytes) is the expected
 * result @want (@want_len bytes) of an @op request: the same bytes, or for
 * DOT_F32 within VGPU_WL_DOT_REL_TOL of @dot_mag (vgpu_wl_dot_mag()).
 */
bool vgpu_wl_result_matches(uint32_t op, const uint8_t *got, size_t len,
                            const uint8_t *want, size_t want_len,
                            double dot_mag);

/* ---- Arguments ----------------------------------------------------------- */

/**
 * vgpu_wl_parse_num() - the decimal number @s of option @flag, in
 * @min..@max (no sign). Return: 0 and *@out set, or -EINVAL with @why
 * "FLAG: 'S' is not a number in MIN..MAX".
 */
int vgpu_wl_parse_num(const char *flag, const char *s, uint64_t min,
                      uint64_t max, uint64_t *out, char *why, size_t why_len);

/* A program's report of a bad argument: prints the printf-style message
 * and exits. */
typedef void (*vgpu_wl_bad_arg_fn)(const char *fmt, ...);

/**
 * vgpu_wl_arg_num() - vgpu_wl_parse_num() for a command line: on a bad
 * number, @bad with the reason (which exits; should it return, the result
 * is @min). Return: the number.
 */
uint64_t vgpu_wl_arg_num(vgpu_wl_bad_arg_fn bad, const char *flag,
                         const char *s, uint64_t min, uint64_t max);

/**
 * vgpu_wl_parse_op() - the op named @s for option @flag (any case).
 * Return: 0 and *@op set, or -EINVAL with @why "FLAG: 'S' is not one of
 * nop, echo, ...".
 */
int vgpu_wl_parse_op(const char *flag, const char *s, uint32_t *op, char *why,
                     size_t why_len);

/* ---- Figures ------------------------------------------------------------- */

/** vgpu_wl_now_ns() - CLOCK_MONOTONIC in nanoseconds. */
uint64_t vgpu_wl_now_ns(void);

/** vgpu_wl_sort_u64() - sort @n values ascending. */
void vgpu_wl_sort_u64(uint64_t *v, size_t n);

/**
 * vgpu_wl_pct_us() - the nearest-rank @pct percentile (1..100) of @n
 * ascending nanosecond values, in microseconds; 0 when @n is 0.
 */
double vgpu_wl_pct_us(const uint64_t *sorted, size_t n, unsigned pct);

#endif /* VGPU_WORKLOAD_H */
