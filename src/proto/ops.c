/*
 * The operations of SPEC.md section 8: their names, the lengths their counts
 * imply, and vgpu_op_validate(), the one place that decides whether request
 * bytes match their op. Lengths are computed in 64 bits and saturate at
 * UINT64_MAX, so no count a guest can write wraps into a small, acceptable
 * length.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>

#include "vgpu/proto.h"

struct op_info {
    uint32_t op;
    const char *name;
};

static const struct op_info op_table[] = {
    {VGPU_OP_NOP, "NOP"},
    {VGPU_OP_ECHO, "ECHO"},
    {VGPU_OP_ADD_I32, "ADD_I32"},
    {VGPU_OP_ADD_F32, "ADD_F32"},
    {VGPU_OP_SAXPY_F32, "SAXPY_F32"},
    {VGPU_OP_DOT_F32, "DOT_F32"},
    {VGPU_OP_MATMUL_F32, "MATMUL_F32"},
};

#define OP_TABLE_LEN (sizeof(op_table) / sizeof(op_table[0]))

/* The bytes before the operands: op, n (and k, p for MATMUL_F32). */
static size_t
op_hdr_size(uint32_t op)
{
    return op == VGPU_OP_MATMUL_F32 ? VGPU_MATMUL_HDR_SIZE : VGPU_OP_HDR_SIZE;
}

/* a * b, or UINT64_MAX when the product does not fit. */
static uint64_t
mul_sat(uint64_t a, uint64_t b)
{
    if (a != 0 && b > UINT64_MAX / a) {
        return UINT64_MAX;
    }
    return a * b;
}

/* a + b, or UINT64_MAX when the sum does not fit. */
static uint64_t
add_sat(uint64_t a, uint64_t b)
{
    if (b > UINT64_MAX - a) {
        return UINT64_MAX;
    }
    return a + b;
}

const char *
vgpu_op_name(uint32_t op)
{
    size_t i;

    for (i = 0; i < OP_TABLE_LEN; i++) {
        if (op_table[i].op == op) {
            return op_table[i].name;
        }
    }
    return NULL;
}

/* ASCII-only case folding: names are ASCII and the locale must not matter. */
static char
ascii_upper(char c)
{
    if (c >= 'a' && c <= 'z') {
        return (char)(c - 'a' + 'A');
    }
    return c;
}

static int
name_equal(const char *a, const char *b)
{
    while (*a != '\0' && ascii_upper(*a) == ascii_upper(*b)) {
        a++;
        b++;
    }
    return ascii_upper(*a) == ascii_upper(*b);
}

int
vgpu_op_lookup(const char *name, uint32_t *op)
{
    size_t i;

    if (name == NULL) {
        return -ENOENT;
    }
    for (i = 0; i < OP_TABLE_LEN; i++) {
        if (name_equal(name, op_table[i].name)) {
            if (op != NULL) {
                *op = op_table[i].op;
            }
            return 0;
        }
    }
    return -ENOENT;
}

static const char *const prio_names[VGPU_PRIO_COUNT] = {
    [VGPU_PRIO_LOW] = "low",
    [VGPU_PRIO_MEDIUM] = "medium",
    [VGPU_PRIO_HIGH] = "high",
};

const char *
vgpu_prio_name(uint32_t prio)
{
    return prio < VGPU_PRIO_COUNT ? prio_names[prio] : NULL;
}

/* Do the @len bytes at @s spell @name (NUL-terminated)? */
static bool
name_is(const char *s, size_t len, const char *name, unsigned flags)
{
    for (size_t i = 0; i < len; i++) {
        char c = (flags & VGPU_PARSE_ANYCASE) ? ascii_upper(s[i]) : s[i];
        char want =
            (flags & VGPU_PARSE_ANYCASE) ? ascii_upper(name[i]) : name[i];

        if (name[i] == '\0' || c != want) {
            return false;
        }
    }
    return name[len] == '\0';
}

int
vgpu_prio_parse(const char *s, size_t len, unsigned flags, uint8_t *prio)
{
    if (s == NULL) {
        return -ENOENT;
    }
    for (uint8_t p = 0; p < VGPU_PRIO_COUNT; p++) {
        const char digit[2] = {(char)('0' + p), '\0'};
        const char initial[2] = {prio_names[p][0], '\0'};

        if (name_is(s, len, prio_names[p], flags) ||
            ((flags & VGPU_PARSE_DIGITS) && name_is(s, len, digit, 0)) ||
            ((flags & VGPU_PARSE_INITIALS) &&
             name_is(s, len, initial, flags))) {
            *prio = p;
            return 0;
        }
    }
    return -ENOENT;
}

bool
vgpu_pool_valid(uint32_t pool)
{
    return pool >= VGPU_POOL_FIRST && pool <= VGPU_POOL_LAST;
}

int
vgpu_pool_parse(const char *s, size_t len, unsigned flags, uint8_t *pool)
{
    char c;

    if (s == NULL || len != 1) {
        return -EINVAL;
    }
    c = (flags & VGPU_PARSE_ANYCASE) ? ascii_upper(s[0]) : s[0];
    if (!vgpu_pool_valid((unsigned char)c)) {
        return -EINVAL;
    }
    *pool = (uint8_t)c;
    return 0;
}

uint64_t
vgpu_op_request_len(uint32_t op, uint32_t n, uint32_t k, uint32_t p)
{
    uint64_t elems;

    switch (op) {
    case VGPU_OP_NOP:
        return VGPU_OP_HDR_SIZE;
    case VGPU_OP_ECHO:
        return (uint64_t)VGPU_OP_HDR_SIZE + n;
    case VGPU_OP_ADD_I32:
    case VGPU_OP_ADD_F32:
    case VGPU_OP_DOT_F32:
        /* a[n], b[n]: at most 8 + 8 * (2^32 - 1), well inside 64 bits */
        return VGPU_OP_HDR_SIZE + 2u * VGPU_ELEM_SIZE * (uint64_t)n;
    case VGPU_OP_SAXPY_F32:
        /* alpha, x[n], y[n] */
        return VGPU_OP_HDR_SIZE + VGPU_ELEM_SIZE +
               2u * VGPU_ELEM_SIZE * (uint64_t)n;
    case VGPU_OP_MATMUL_F32:
        /* m*k + k*p can reach 2^65: saturate rather than wrap */
        elems = add_sat(mul_sat(n, k), mul_sat(k, p));
        return add_sat(VGPU_MATMUL_HDR_SIZE, mul_sat(elems, VGPU_ELEM_SIZE));
    default:
        return 0;
    }
}

uint64_t
vgpu_op_response_len(uint32_t op, uint32_t n, uint32_t k, uint32_t p)
{
    switch (op) {
    case VGPU_OP_ECHO:
        return n;
    case VGPU_OP_ADD_I32:
    case VGPU_OP_ADD_F32:
    case VGPU_OP_SAXPY_F32:
        return VGPU_ELEM_SIZE * (uint64_t)n;
    case VGPU_OP_DOT_F32:
        return VGPU_ELEM_SIZE;
    case VGPU_OP_MATMUL_F32:
        return mul_sat(mul_sat(n, p), VGPU_ELEM_SIZE);
    default: /* NOP, and unknown ops */
        return 0;
    }
}

/* Write the reason for a refusal, and return the refusal. */
static int refuse(char *why, size_t why_len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
refuse(char *why, size_t why_len, const char *fmt, ...)
{
    va_list ap;

    if (why != NULL && why_len > 0) {
        va_start(ap, fmt);
        vsnprintf(why, why_len, fmt, ap);
        va_end(ap);
    }
    return VGPU_E_INVALID_REQUEST;
}

int
vgpu_op_validate(const uint8_t *req, size_t len, struct vgpu_op_desc *desc,
                 char *why, size_t why_len)
{
    const char *name;
    uint32_t op;
    uint32_t n;
    uint32_t k = 0;
    uint32_t p = 0;
    size_t hdr_size;
    uint64_t need;

    if (req == NULL || len < VGPU_OP_HDR_SIZE) {
        return refuse(why, why_len,
                      "request of %zu bytes is shorter than the %u-byte "
                      "op header",
                      req == NULL ? (size_t)0 : len, VGPU_OP_HDR_SIZE);
    }
    op = vgpu_get_le32(req);
    n = vgpu_get_le32(req + sizeof(uint32_t));
    name = vgpu_op_name(op);
    if (name == NULL) {
        return refuse(why, why_len, "unknown op 0x%02" PRIx32, op);
    }
    hdr_size = op_hdr_size(op);
    if (len < hdr_size) {
        return refuse(why, why_len,
                      "%s request of %zu bytes is shorter than its %zu-byte "
                      "header",
                      name, len, hdr_size);
    }
    if (op == VGPU_OP_NOP && n != 0) {
        return refuse(why, why_len, "NOP needs n=0, got n=%" PRIu32, n);
    }
    if (op == VGPU_OP_MATMUL_F32) {
        k = vgpu_get_le32(req + 2 * sizeof(uint32_t));
        p = vgpu_get_le32(req + 3 * sizeof(uint32_t));
    }

    need = vgpu_op_request_len(op, n, k, p);
    if (need != (uint64_t)len) {
        if (op == VGPU_OP_MATMUL_F32) {
            if (need == UINT64_MAX) {
                return refuse(why, why_len,
                              "MATMUL_F32 with m=%" PRIu32 " k=%" PRIu32
                              " p=%" PRIu32 " needs over 2^64 bytes, got %zu",
                              n, k, p, len);
            }
            return refuse(why, why_len,
                          "MATMUL_F32 with m=%" PRIu32 " k=%" PRIu32
                          " p=%" PRIu32 " needs %" PRIu64 " bytes, got %zu",
                          n, k, p, need, len);
        }
        return refuse(why, why_len,
                      "%s with n=%" PRIu32 " needs %" PRIu64 " bytes, got %zu",
                      name, n, need, len);
    }

    if (desc != NULL) {
        desc->op = op;
        desc->n = n;
        desc->k = k;
        desc->p = p;
        desc->operands = req + hdr_size;
        desc->operands_len = len - hdr_size;
        desc->out_len = vgpu_op_response_len(op, n, k, p);
    }
    if (why != NULL && why_len > 0) {
        why[0] = '\0';
    }
    return 0;
}

int
vgpu_op_desc_check(const struct vgpu_op_desc *op, const char *who, char *why,
                   size_t why_len)
{
    uint64_t req_len = vgpu_op_request_len(op->op, op->n, op->k, op->p);
    uint64_t hdr =
        op->op == VGPU_OP_MATMUL_F32 ? VGPU_MATMUL_HDR_SIZE : VGPU_OP_HDR_SIZE;

    if (req_len == 0) {
        vgpu_set_err(why, why_len, "%s: unknown op 0x%02x", who,
                     (unsigned)op->op);
        return VGPU_E_INVALID_REQUEST;
    }
    if (req_len - hdr != op->operands_len ||
        vgpu_op_response_len(op->op, op->n, op->k, op->p) != op->out_len ||
        (op->operands_len > 0 && op->operands == NULL)) {
        vgpu_set_err(why, why_len,
                     "%s: descriptor of %s does not match its counts", who,
                     vgpu_op_name(op->op));
        return VGPU_E_INVALID_REQUEST;
    }
    return 0;
}
