/*
 * The legacy file protocol's text (vgpu/legacy.h): the request line, the
 * response line and the directory names. Pure functions; the transport that
 * reads and writes the files is legacy.c.
 *
 * The input is a guest's file: every byte is checked before it is used, and
 * every value a message quotes is printable ASCII by then, so a reason can
 * go into a log line or a response file as it is.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "vgpu/common.h"
#include "vgpu/legacy.h"
#include "vgpu/proto.h"
#include "vgpu/regs.h"

/* The fields of a request line, in order. */
enum legacy_field {
    FIELD_POOL,
    FIELD_PRIORITY,
    FIELD_VM_ID,
    FIELD_NUM1,
    FIELD_NUM2,
    FIELD_COUNT
};

#define LEGACY_FORM "pool:priority:vm_id:num1:num2"
#define LEGACY_SEP  ':'

/* The most bytes of a field a reason quotes: enough to recognise a typo,
 * too few to carry a file's content back (docs/mediator.md). */
#define LEGACY_QUOTE_MAX 16

static const char *const legacy_field_names[FIELD_COUNT] = {
    [FIELD_POOL] = "pool",   [FIELD_PRIORITY] = "priority",
    [FIELD_VM_ID] = "vm_id", [FIELD_NUM1] = "num1",
    [FIELD_NUM2] = "num2",
};

static int legacy_why(char *why, size_t why_len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
legacy_why(char *why, size_t why_len, const char *fmt, ...)
{
    va_list ap;

    if (why != NULL && why_len > 0) {
        va_start(ap, fmt);
        vsnprintf(why, why_len, fmt, ap);
        va_end(ap);
    }
    return -EINVAL;
}

static int
legacy_is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Unsigned decimal, digits only, at most @max. Return: 0, or -EINVAL. */
static int
legacy_parse_u32(const char *p, size_t len, uint32_t max, uint32_t *out)
{
    uint64_t v = 0;

    if (len == 0) {
        return -EINVAL;
    }
    for (size_t i = 0; i < len; i++) {
        if (p[i] < '0' || p[i] > '9') {
            return -EINVAL;
        }
        v = v * 10u + (uint64_t)(p[i] - '0');
        if (v > max) {
            return -EINVAL;
        }
    }
    *out = (uint32_t)v;
    return 0;
}

/* Signed decimal with an optional '+' or '-', within int32. */
static int
legacy_parse_i32(const char *p, size_t len, int32_t *out)
{
    uint32_t mag;
    int neg = 0;

    if (len > 0 && (p[0] == '-' || p[0] == '+')) {
        neg = p[0] == '-';
        p++;
        len--;
    }
    if (legacy_parse_u32(p, len, neg ? UINT32_C(2147483648) : INT32_MAX, &mag) <
        0) {
        return -EINVAL;
    }
    /* -2147483648 is INT32_MIN; its magnitude does not fit int32. */
    *out = neg ? (int32_t)(-(int64_t)mag) : (int32_t)mag;
    return 0;
}

static int
legacy_parse_field(enum legacy_field field, const char *p, size_t len,
                   struct vgpu_legacy_req *out, char *why, size_t why_len)
{
    const char *name = legacy_field_names[field];
    /* A field quoted in a reason is cut to LEGACY_QUOTE_MAX bytes. */
    int q = len > LEGACY_QUOTE_MAX ? LEGACY_QUOTE_MAX : (int)len;
    const char *cut = len > LEGACY_QUOTE_MAX ? "..." : "";
    int32_t num;

    switch (field) {
    case FIELD_POOL:
        if (vgpu_pool_parse(p, len, 0, &out->pool) == 0) {
            return 0;
        }
        return legacy_why(why, why_len, "%s '%.*s%s' is not one letter %c-%c",
                          name, q, p, cut, VGPU_POOL_FIRST, VGPU_POOL_LAST);
    case FIELD_PRIORITY:
        /* The names of SPEC.md section 6, or the digits. */
        if (vgpu_prio_parse(p, len, VGPU_PARSE_PRIORITY, &out->priority) == 0) {
            return 0;
        }
        return legacy_why(why, why_len, "%s '%.*s%s' is not one of %s", name, q,
                          p, cut, VGPU_PRIO_SPELLINGS);
    case FIELD_VM_ID:
        if (vgpu_vm_id_parse(p, len, &out->vm_id) == 0) {
            return 0;
        }
        return legacy_why(why, why_len, "%s '%.*s%s' is not a vm_id (%s)", name,
                          q, p, cut, VGPU_VM_ID_SPELLING);
    case FIELD_NUM1:
    case FIELD_NUM2:
        if (legacy_parse_i32(p, len, &num) == 0) {
            if (field == FIELD_NUM1) {
                out->num1 = num;
            } else {
                out->num2 = num;
            }
            return 0;
        }
        return legacy_why(why, why_len,
                          "%s '%.*s%s' is not an integer in %ld..%ld", name, q,
                          p, cut, (long)INT32_MIN, (long)INT32_MAX);
    case FIELD_COUNT:
        break;
    }
    return -EINVAL;
}

int
vgpu_legacy_parse(const char *line, size_t len, struct vgpu_legacy_req *out,
                  char *why, size_t why_len)
{
    struct vgpu_legacy_req req = {0};
    size_t start = 0;
    size_t end = len;
    size_t fields = 1;
    const char *p;
    int rc;

    if (line == NULL && len > 0) {
        return legacy_why(why, why_len, "no request text");
    }
    if (len > VGPU_LEGACY_LINE_MAX) {
        return legacy_why(why, why_len,
                          "request of %zu bytes is over the limit of %u "
                          "bytes",
                          len, VGPU_LEGACY_LINE_MAX);
    }
    while (start < end && legacy_is_blank(line[start])) {
        start++;
    }
    while (end > start && legacy_is_blank(line[end - 1])) {
        end--;
    }
    if (start == end) {
        return legacy_why(why, why_len, "empty request (want %s)", LEGACY_FORM);
    }
    for (size_t i = start; i < end; i++) {
        unsigned char c = (unsigned char)line[i];

        if (c == '\n' || c == '\r') {
            return legacy_why(why, why_len,
                              "more than one line (want one line %s)",
                              LEGACY_FORM);
        }
        if (c < 0x20 || c >= 0x7f) {
            return legacy_why(why, why_len,
                              "byte 0x%02x at offset %zu is not printable "
                              "ASCII",
                              (unsigned)c, i);
        }
        if (c == LEGACY_SEP) {
            fields++;
        }
    }
    /* The line is not quoted: a request that does not parse may not be a
     * request at all (docs/mediator.md, "What an answer quotes"). */
    if (fields != FIELD_COUNT) {
        return legacy_why(why, why_len, "%zu field%s, want 5: %s", fields,
                          fields == 1 ? "" : "s", LEGACY_FORM);
    }
    p = line + start;
    for (int f = FIELD_POOL; f < FIELD_COUNT; f++) {
        const char *sep = memchr(p, LEGACY_SEP, (size_t)(line + end - p));
        size_t flen =
            sep != NULL ? (size_t)(sep - p) : (size_t)(line + end - p);

        rc = legacy_parse_field((enum legacy_field)f, p, flen, &req, why,
                                why_len);
        if (rc < 0) {
            return rc;
        }
        if (sep == NULL) {
            break;
        }
        p = sep + 1;
    }
    *out = req;
    return 0;
}

int
vgpu_legacy_dir_vm_id(const char *name, uint32_t *vm_id)
{
    size_t plen = strlen(VGPU_LEGACY_DIR_PREFIX);
    size_t len;
    const char *base;
    const char *digits;
    size_t ndigits;

    if (name == NULL) {
        return -EINVAL;
    }
    len = strlen(name);
    while (len > 1 && name[len - 1] == '/') {
        len--;
    }
    base = name + len;
    while (base > name && base[-1] != '/') {
        base--;
    }
    if ((size_t)(name + len - base) <= plen ||
        memcmp(base, VGPU_LEGACY_DIR_PREFIX, plen) != 0) {
        return -EINVAL;
    }
    digits = base + plen;
    ndigits = (size_t)(name + len - digits);
    return vgpu_vm_id_parse(digits, ndigits, vm_id);
}

/* snprintf's result as this file's return: the length, or -ENOBUFS. */
static int
legacy_fit(int n, size_t cap)
{
    if (n < 0 || (size_t)n >= cap) {
        return -ENOBUFS;
    }
    return n;
}

int
vgpu_legacy_format_request(const struct vgpu_legacy_req *req, char *buf,
                           size_t cap)
{
    int n = snprintf(buf, cap, "%c%c%u%c%u%c%ld%c%ld\n", (char)req->pool,
                     LEGACY_SEP, (unsigned)req->priority, LEGACY_SEP,
                     (unsigned)req->vm_id, LEGACY_SEP, (long)req->num1,
                     LEGACY_SEP, (long)req->num2);

    return legacy_fit(n, cap);
}

int
vgpu_legacy_format_ok(uint32_t vm_id, int32_t result, char *buf, size_t cap)
{
    int n = snprintf(buf, cap, "%s%c%u%c%ld\n", VGPU_LEGACY_OK, LEGACY_SEP,
                     (unsigned)vm_id, LEGACY_SEP, (long)result);

    return legacy_fit(n, cap);
}

int
vgpu_legacy_format_error(uint32_t code, const char *msg, char *buf, size_t cap)
{
    size_t limit =
        cap < VGPU_LEGACY_LINE_MAX + 1 ? cap : VGPU_LEGACY_LINE_MAX + 1;
    int n = snprintf(buf, limit, "%s%c%s%c", VGPU_LEGACY_ERROR, LEGACY_SEP,
                     vgpu_strerror((int)code), LEGACY_SEP);
    size_t pos;

    /* Room for the prefix, the newline and the NUL. */
    if (n < 0 || (size_t)n + 2 > limit) {
        return -ENOBUFS;
    }
    pos = (size_t)n;
    for (const char *m = msg ? msg : ""; *m != '\0' && pos + 2 < limit; m++) {
        unsigned char c = (unsigned char)*m;

        buf[pos++] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
    }
    buf[pos++] = '\n';
    buf[pos] = '\0';
    return (int)pos;
}

int
vgpu_legacy_parse_response(const char *text, size_t len,
                           struct vgpu_legacy_resp *out)
{
    size_t okl = strlen(VGPU_LEGACY_OK);
    size_t errl = strlen(VGPU_LEGACY_ERROR);
    struct vgpu_legacy_resp r;
    const char *sep;

    memset(&r, 0, sizeof(r));
    if (text == NULL) {
        return -EINVAL;
    }
    if (len > 0 && text[len - 1] == '\n') {
        len--;
    }
    if (len > 0 && text[len - 1] == '\r') {
        len--;
    }
    if (len > okl && memcmp(text, VGPU_LEGACY_OK, okl) == 0 &&
        text[okl] == LEGACY_SEP) {
        const char *p = text + okl + 1;
        size_t rest = len - okl - 1;

        sep = memchr(p, LEGACY_SEP, rest);
        if (sep == NULL ||
            legacy_parse_u32(p, (size_t)(sep - p), UINT32_MAX, &r.vm_id) < 0 ||
            r.vm_id < VGPU_VM_ID_MIN ||
            legacy_parse_i32(sep + 1, (size_t)(text + len - (sep + 1)),
                             &r.result) < 0) {
            return -EINVAL;
        }
        r.ok = 1;
        *out = r;
        return 0;
    }
    if (len > errl && memcmp(text, VGPU_LEGACY_ERROR, errl) == 0 &&
        text[errl] == LEGACY_SEP) {
        const char *p = text + errl + 1;
        size_t clen;

        sep = memchr(p, LEGACY_SEP, len - errl - 1);
        if (sep == NULL) {
            return -EINVAL;
        }
        clen = (size_t)(sep - p);
        if (clen == 0 || clen >= sizeof(r.code)) {
            return -EINVAL;
        }
        for (size_t i = 0; i < clen; i++) {
            if (!((p[i] >= 'A' && p[i] <= 'Z') || p[i] == '_')) {
                return -EINVAL;
            }
        }
        memcpy(r.code, p, clen);
        r.code[clen] = '\0';
        r.msg = sep + 1;
        r.msg_len = (size_t)(text + len - r.msg);
        *out = r;
        return 0;
    }
    return -EINVAL;
}
