/*
 * Helpers shared by the libFuzzer harnesses (tests/fuzz/README.md): a cursor
 * that decodes the fuzzer's input into choices, and the check macro.
 *
 * A harness turns its input into a sequence of operations with the cursor:
 * every read past the end yields 0, so any input, however short, is a valid
 * program, and the fuzzer mutates the program's bytes.
 */
#ifndef VGPU_FUZZ_COMMON_H
#define VGPU_FUZZ_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* libFuzzer's entry point; declared here for -Wmissing-prototypes. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * FUZZ_CHECK() - an invariant of the code under test. On failure it names
 * the check and its line on stderr and traps, which libFuzzer reports as a
 * crash (and saves the input that caused it).
 */
#define FUZZ_CHECK(cond)                                                       \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "%s:%d: fuzz check failed: %s\n", __FILE__,        \
                    __LINE__, #cond);                                          \
            __builtin_trap();                                                  \
        }                                                                      \
    } while (0)

struct fuzz_cursor {
    const uint8_t *data;
    size_t len;
    size_t pos;
};

static inline void
fuzz_cursor_init(struct fuzz_cursor *c, const uint8_t *data, size_t len)
{
    c->data = data;
    c->len = len;
    c->pos = 0;
}

/* Bytes left. */
static inline size_t
fuzz_left(const struct fuzz_cursor *c)
{
    return c->len - c->pos;
}

static inline uint8_t
fuzz_u8(struct fuzz_cursor *c)
{
    if (c->pos >= c->len) {
        return 0;
    }
    return c->data[c->pos++];
}

static inline uint16_t
fuzz_u16(struct fuzz_cursor *c)
{
    uint16_t lo = fuzz_u8(c);

    return (uint16_t)(lo | (uint16_t)fuzz_u8(c) << 8);
}

static inline uint32_t
fuzz_u32(struct fuzz_cursor *c)
{
    uint32_t lo = fuzz_u16(c);

    return lo | (uint32_t)fuzz_u16(c) << 16;
}

static inline uint64_t
fuzz_u64(struct fuzz_cursor *c)
{
    uint64_t lo = fuzz_u32(c);

    return lo | (uint64_t)fuzz_u32(c) << 32;
}

/*
 * Up to @want bytes of the input (fewer at its end): a pointer into the
 * input and, through @got, how many.
 */
static inline const uint8_t *
fuzz_bytes(struct fuzz_cursor *c, size_t want, size_t *got)
{
    const uint8_t *p = c->data + c->pos;
    size_t n = want < fuzz_left(c) ? want : fuzz_left(c);

    c->pos += n;
    *got = n;
    return p;
}

/* An INI text that src/util's reader accepted is ASCII text: no NUL, no
 * control character but tab, CR and LF, no byte over 0x7e, past a leading
 * UTF-8 byte order mark (util.h, vgpu_ini_parse()). */
#define FUZZ_INI_BOM         "\xEF\xBB\xBF"
#define FUZZ_INI_ASCII_FIRST 0x20
#define FUZZ_INI_ASCII_LAST  0x7e

static inline void
fuzz_check_ini_ascii(const uint8_t *text, size_t len)
{
    size_t i = 0;
    size_t bom = sizeof(FUZZ_INI_BOM) - 1;

    if (len >= bom && memcmp(text, FUZZ_INI_BOM, bom) == 0) {
        i = bom;
    }
    for (; i < len; i++) {
        FUZZ_CHECK((text[i] >= FUZZ_INI_ASCII_FIRST &&
                    text[i] <= FUZZ_INI_ASCII_LAST) ||
                   text[i] == '\t' || text[i] == '\r' || text[i] == '\n');
    }
}

/*
 * fuzz_ref_prio() - the fuzzers' own model of the one priority vocabulary
 * (vgpu/proto.h, VGPU_PARSE_PRIORITY): the @len bytes at @p are "low",
 * "medium" or "high" in any case, or "0", "1", "2". Written apart from
 * vgpu_prio_parse() so that the two can disagree.
 */
static inline bool
fuzz_ref_prio(const char *p, size_t len, uint8_t *out)
{
    static const char *const names[] = {"low", "medium", "high"};

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        size_t n = strlen(names[i]);
        bool same = n == len;

        for (size_t k = 0; same && k < n; k++) {
            char c =
                p[k] >= 'A' && p[k] <= 'Z' ? (char)(p[k] - 'A' + 'a') : p[k];

            same = c == names[i][k];
        }
        if (same || (len == 1 && p[0] == (char)('0' + i))) {
            *out = (uint8_t)i;
            return true;
        }
    }
    return false;
}

#endif /* VGPU_FUZZ_COMMON_H */
