/*
 * Fuzz the legacy file protocol's text (include/vgpu/legacy.h): the
 * request line a VM writes, the response line the mediator writes back, and
 * the vmN directory names.
 *
 * The first input byte picks a mode:
 *   REQUEST   the rest is request.txt for vgpu_legacy_parse() (a heap copy
 *             of exactly its size, so ASan sees a read past it);
 *   RESPONSE  the rest is response.txt for vgpu_legacy_parse_response();
 *   DIR       the rest, up to a NUL, is a directory name;
 *   FORMAT    a code, a vm_id, a result and a buffer size, then a message:
 *             the formatters, and what they write parsed back.
 *
 * Checks: vgpu_legacy_parse() accepts exactly what a reference written from
 * the header's grammar accepts, with the same fields; an accepted request
 * formats and parses back to itself; a refusal gives one printable line
 * short enough to quote at most FZ_QUOTE_MAX bytes of the request (an
 * answer cannot carry a file's content: docs/mediator.md); a
 * parsed response's message lies inside the text; a directory name is
 * accepted exactly when it is "vm" and the decimal vm_id; the formatters
 * never write past their buffer, write one line, and what they write parses
 * back to the values given.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "vgpu/common.h"
#include "vgpu/legacy.h"
#include "vgpu/regs.h"

#define FZ_WHY_LEN   256u
#define FZ_FIELDS    5u
/* The most request bytes a refusal may quote (legacy_parse.c's
 * LEGACY_QUOTE_MAX) and its "..." when cut, and the longest reason's own
 * words ("more than one line (want one line pool:priority:vm_id:num1:num2)"
 * and the like): a reason is never longer than their sum, whatever the
 * request's length. */
#define FZ_QUOTE_MAX (16u + 3u)
#define FZ_WORDS_MAX 80u

enum fz_mode { MODE_REQUEST, MODE_RESPONSE, MODE_DIR, MODE_FORMAT, MODE_COUNT };

/* ---- A reference request parser, from the header's text ------------------ */

static bool
fz_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Digits only, value <= max. */
static bool
fz_ref_u(const char *p, size_t len, uint64_t max, uint64_t *out)
{
    uint64_t v = 0;

    if (len == 0) {
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        if (p[i] < '0' || p[i] > '9') {
            return false;
        }
        v = v * 10u + (uint64_t)(p[i] - '0');
        if (v > max) {
            return false;
        }
    }
    *out = v;
    return true;
}

/* Optional sign, digits, within int32. */
static bool
fz_ref_i32(const char *p, size_t len, int32_t *out)
{
    bool neg = false;
    uint64_t mag;

    if (len > 0 && (p[0] == '+' || p[0] == '-')) {
        neg = p[0] == '-';
        p++;
        len--;
    }
    if (!fz_ref_u(p, len, neg ? (uint64_t)INT32_MAX + 1u : INT32_MAX, &mag)) {
        return false;
    }
    *out = (int32_t)(neg ? -(int64_t)mag : (int64_t)mag);
    return true;
}

static bool
fz_ref_parse(const char *line, size_t len, struct vgpu_legacy_req *out)
{
    const char *field[FZ_FIELDS];
    size_t flen[FZ_FIELDS];
    size_t start = 0;
    size_t end = len;
    size_t nf = 0;
    uint64_t v;

    if (len > VGPU_LEGACY_LINE_MAX) {
        return false;
    }
    while (start < end && fz_blank(line[start])) {
        start++;
    }
    while (end > start && fz_blank(line[end - 1])) {
        end--;
    }
    if (start == end) {
        return false;
    }
    field[0] = line + start;
    for (size_t i = start; i < end; i++) {
        unsigned char c = (unsigned char)line[i];

        if (c < 0x20 || c >= 0x7f) {
            return false; /* not printable, or a second line */
        }
        if (c == ':') {
            flen[nf] = (size_t)(line + i - field[nf]);
            if (++nf == FZ_FIELDS) {
                return false;
            }
            field[nf] = line + i + 1;
        }
    }
    flen[nf] = (size_t)(line + end - field[nf]);
    if (nf + 1 != FZ_FIELDS) {
        return false;
    }
    if (flen[0] != 1 || field[0][0] < VGPU_POOL_FIRST ||
        field[0][0] > VGPU_POOL_LAST) {
        return false;
    }
    out->pool = (uint8_t)field[0][0];
    /* A vm_id has no leading zero (vgpu_vm_id_parse()). */
    if (!fuzz_ref_prio(field[1], flen[1], &out->priority) ||
        (flen[2] > 0 && field[2][0] == '0') ||
        !fz_ref_u(field[2], flen[2], UINT32_MAX, &v) || v < VGPU_VM_ID_MIN) {
        return false;
    }
    out->vm_id = (uint32_t)v;
    return fz_ref_i32(field[3], flen[3], &out->num1) &&
           fz_ref_i32(field[4], flen[4], &out->num2);
}

static bool
fz_same_req(const struct vgpu_legacy_req *a, const struct vgpu_legacy_req *b)
{
    return a->pool == b->pool && a->priority == b->priority &&
           a->vm_id == b->vm_id && a->num1 == b->num1 && a->num2 == b->num2;
}

/* One line of printable ASCII, NUL-terminated within @len. */
static void
fz_check_why(const char *why, size_t len)
{
    const char *end = memchr(why, '\0', len);

    FUZZ_CHECK(end != NULL && end != why);
    for (const char *p = why; p < end; p++) {
        FUZZ_CHECK((unsigned char)*p >= 0x20 && (unsigned char)*p < 0x7f);
    }
}

/* ---- Modes -----------------------------------------------------------------
 */

static void
fz_request(const uint8_t *bytes, size_t len)
{
    struct vgpu_legacy_req req;
    struct vgpu_legacy_req ref;
    struct vgpu_legacy_req again;
    char *line = malloc(len == 0 ? 1 : len);
    char why[FZ_WHY_LEN];
    char buf[VGPU_LEGACY_LINE_MAX + 1];
    bool ref_ok;
    int rc;
    int n;

    FUZZ_CHECK(line != NULL);
    memcpy(line, bytes, len);
    memset(&req, 0, sizeof(req));
    memset(&ref, 0, sizeof(ref));
    rc = vgpu_legacy_parse(len == 0 ? NULL : line, len, &req, why, sizeof(why));
    ref_ok = fz_ref_parse(line, len, &ref);
    FUZZ_CHECK((rc == 0) == ref_ok);
    FUZZ_CHECK(
        vgpu_legacy_parse(len == 0 ? NULL : line, len, &again, NULL, 0) == rc);
    if (rc != 0) {
        FUZZ_CHECK(rc == -EINVAL);
        fz_check_why(why, sizeof(why));
        FUZZ_CHECK(strlen(why) <= FZ_WORDS_MAX + FZ_QUOTE_MAX);
        free(line);
        return;
    }
    FUZZ_CHECK(fz_same_req(&req, &ref));

    /* Formatted and parsed back: the same request, on one line. */
    n = vgpu_legacy_format_request(&req, buf, sizeof(buf));
    FUZZ_CHECK(n > 0 && (size_t)n < sizeof(buf));
    FUZZ_CHECK(buf[n - 1] == '\n' && memchr(buf, '\n', (size_t)n - 1) == NULL);
    FUZZ_CHECK(vgpu_legacy_parse(buf, (size_t)n, &again, why, sizeof(why)) ==
               0);
    FUZZ_CHECK(fz_same_req(&req, &again));
    /* One byte short: refused. */
    FUZZ_CHECK(vgpu_legacy_format_request(&req, buf, (size_t)n) == -ENOBUFS);
    free(line);
}

static void
fz_response(const uint8_t *bytes, size_t len)
{
    struct vgpu_legacy_resp r;
    char *text = malloc(len == 0 ? 1 : len);

    FUZZ_CHECK(text != NULL);
    memcpy(text, bytes, len);
    if (vgpu_legacy_parse_response(text, len, &r) == 0) {
        if (r.ok) {
            FUZZ_CHECK(r.vm_id >= VGPU_VM_ID_MIN);
        } else {
            FUZZ_CHECK(memchr(r.code, '\0', sizeof(r.code)) != NULL);
            FUZZ_CHECK(r.code[0] != '\0');
            FUZZ_CHECK(r.msg >= text && r.msg + r.msg_len <= text + len);
        }
    }
    free(text);
}

static void
fz_dir(const uint8_t *bytes, size_t len)
{
    char *name = malloc(len + 1);
    char want[32];
    uint32_t vm_id = 0;
    size_t end;
    size_t base;
    int rc;

    FUZZ_CHECK(name != NULL);
    memcpy(name, bytes, len);
    name[len] = '\0';
    rc = vgpu_legacy_dir_vm_id(name, &vm_id);

    /* The reference: the last component, trailing slashes dropped. */
    end = strlen(name);
    while (end > 1 && name[end - 1] == '/') {
        end--;
    }
    base = end;
    while (base > 0 && name[base - 1] != '/') {
        base--;
    }
    if (rc == 0) {
        FUZZ_CHECK(vm_id >= VGPU_VM_ID_MIN);
        snprintf(want, sizeof(want), "%s%u", VGPU_LEGACY_DIR_PREFIX,
                 (unsigned)vm_id);
        FUZZ_CHECK(end - base == strlen(want));
        FUZZ_CHECK(memcmp(name + base, want, end - base) == 0);
    } else {
        FUZZ_CHECK(rc == -EINVAL);
    }
    free(name);
}

static void
fz_format(struct fuzz_cursor *cur)
{
    struct vgpu_legacy_resp r;
    uint32_t code = fuzz_u8(cur) == 0xffu ? fuzz_u32(cur) : fuzz_u8(cur);
    uint32_t vm_id = fuzz_u32(cur);
    int32_t result = (int32_t)fuzz_u32(cur);
    size_t cap = fuzz_u16(cur) % (VGPU_LEGACY_LINE_MAX + 64u);
    size_t mlen;
    const uint8_t *m = fuzz_bytes(cur, fuzz_left(cur), &mlen);
    char *msg = malloc(mlen + 1);
    char *buf = malloc(cap == 0 ? 1 : cap);
    int n;

    FUZZ_CHECK(msg != NULL && buf != NULL);
    memcpy(msg, m, mlen);
    msg[mlen] = '\0';

    n = vgpu_legacy_format_ok(vm_id, result, buf, cap);
    if (n >= 0) {
        FUZZ_CHECK((size_t)n < cap && buf[n] == '\0' && buf[n - 1] == '\n');
        if (vm_id >= VGPU_VM_ID_MIN) {
            FUZZ_CHECK(vgpu_legacy_parse_response(buf, (size_t)n, &r) == 0);
            FUZZ_CHECK(r.ok && r.vm_id == vm_id && r.result == result);
        }
    } else {
        FUZZ_CHECK(n == -ENOBUFS);
    }

    n = vgpu_legacy_format_error(code, msg, buf, cap);
    if (n >= 0) {
        FUZZ_CHECK((size_t)n < cap && buf[n] == '\0');
        FUZZ_CHECK((size_t)n <= VGPU_LEGACY_LINE_MAX);
        FUZZ_CHECK(buf[n - 1] == '\n');
        FUZZ_CHECK(memchr(buf, '\n', (size_t)n - 1) == NULL);
        for (int i = 0; i < n - 1; i++) {
            FUZZ_CHECK((unsigned char)buf[i] >= 0x20 &&
                       (unsigned char)buf[i] != 0x7f);
        }
        if (code < VGPU_ERR_COUNT) {
            FUZZ_CHECK(vgpu_legacy_parse_response(buf, (size_t)n, &r) == 0);
            FUZZ_CHECK(!r.ok);
            FUZZ_CHECK(strcmp(r.code, vgpu_strerror((int)code)) == 0);
        }
    } else {
        FUZZ_CHECK(n == -ENOBUFS);
    }
    free(buf);
    free(msg);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_cursor cur;
    const uint8_t *rest;
    size_t len;

    fuzz_cursor_init(&cur, data, size);
    switch (fuzz_u8(&cur) % MODE_COUNT) {
    case MODE_REQUEST:
        rest = fuzz_bytes(&cur, fuzz_left(&cur), &len);
        fz_request(rest, len);
        break;
    case MODE_RESPONSE:
        rest = fuzz_bytes(&cur, fuzz_left(&cur), &len);
        fz_response(rest, len);
        break;
    case MODE_DIR:
        rest = fuzz_bytes(&cur, fuzz_left(&cur), &len);
        fz_dir(rest, len);
        break;
    default:
        fz_format(&cur);
        break;
    }
    return 0;
}
