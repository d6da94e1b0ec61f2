/*
 * The one INI reader (util.h) of the daemon's configuration
 * (src/daemon/config_file.c) and the VM registry (src/admin/registry_file.c).
 * Its own, not libinih's: inih's line buffer (200 bytes in Debian's build)
 * is shorter than a path may be, it hands its handler no line number, and
 * it reads a NUL or a byte that is not ASCII as "a long line". This one
 * reads a line of up to VGPU_INI_LINE_MAX bytes, byte by byte, and says
 * what is wrong and where.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"
#include "vgpu/common.h"

#define INI_BOM          "\xEF\xBB\xBF"
#define INI_ASCII_LAST   0x7e /* "~" */
#define INI_ASCII_END    0x80
#define INI_ASCII_FIRST  0x20
#define INI_COMMENT      ";#"
#define INI_SEPARATORS   "=:"
#define INI_BLANKS       " \t"
#define INI_INLINE_START ';'

struct ini_reader {
    FILE *file;
    const char *path;
    char *line; /* VGPU_INI_LINE_MAX + 1 bytes */
    char *section;
    int lineno;
    char *err;
    size_t err_len;
};

/* One line into r->line, checked byte by byte. Return: 1, 0 at the end,
 * -EINVAL with the error written. */
static int
ini_read_line(struct ini_reader *r)
{
    size_t len = 0;
    size_t skip = 0;
    int ch = EOF;

    r->lineno++;
    while ((ch = getc_unlocked(r->file)) != EOF && ch != '\n') {
        unsigned char c = (unsigned char)ch;
        size_t col = len + 1;

        if (len == VGPU_INI_LINE_MAX) {
            vgpu_set_err(r->err, r->err_len,
                         "%s:%d: line is longer than %u characters", r->path,
                         r->lineno, (unsigned)VGPU_INI_LINE_MAX);
            return -EINVAL;
        }
        if (r->lineno == 1 && len < strlen(INI_BOM) && len == skip &&
            c == (unsigned char)INI_BOM[len]) {
            r->line[len++] = (char)c;
            skip++;
            continue;
        }
        if (c == '\0') {
            vgpu_set_err(r->err, r->err_len,
                         "%s:%d: column %zu: NUL byte (the file is not text)",
                         r->path, r->lineno, col);
            return -EINVAL;
        }
        if (c >= INI_ASCII_END) {
            vgpu_set_err(r->err, r->err_len,
                         "%s:%d: column %zu: byte 0x%02x is not ASCII", r->path,
                         r->lineno, col, (unsigned)c);
            return -EINVAL;
        }
        if ((c < INI_ASCII_FIRST || c > INI_ASCII_LAST) && c != '\t' &&
            c != '\r') {
            vgpu_set_err(r->err, r->err_len,
                         "%s:%d: column %zu: control character 0x%02x", r->path,
                         r->lineno, col, (unsigned)c);
            return -EINVAL;
        }
        r->line[len++] = (char)c;
    }
    if (ferror(r->file)) {
        vgpu_set_err(r->err, r->err_len, "%s:%d: cannot read: %s", r->path,
                     r->lineno, strerror(errno));
        return -EINVAL;
    }
    if (ch == EOF && len == 0) {
        return 0;
    }
    if (skip > 0 && skip < strlen(INI_BOM)) {
        vgpu_set_err(r->err, r->err_len,
                     "%s:%d: column 1: byte 0x%02x is not ASCII", r->path,
                     r->lineno, (unsigned)(unsigned char)INI_BOM[0]);
        return -EINVAL;
    }
    while (len > skip && r->line[len - 1] == '\r') {
        len--;
    }
    r->line[len] = '\0';
    if (skip > 0) {
        memmove(r->line, r->line + skip, len - skip + 1);
    }
    return 1;
}

static char *
ini_rstrip(char *s)
{
    size_t n = strlen(s);

    while (n > 0 && strchr(INI_BLANKS, s[n - 1]) != NULL) {
        s[--n] = '\0';
    }
    return s;
}

/* A value ends at " ;" (a comment), as in inih. */
static void
ini_cut_comment(char *v)
{
    for (char *p = v; *p != '\0'; p++) {
        if (*p == INI_INLINE_START &&
            (p == v || strchr(INI_BLANKS, p[-1]) != NULL)) {
            *p = '\0';
            break;
        }
    }
    ini_rstrip(v);
}

static int
ini_line(struct ini_reader *r, vgpu_ini_fn fn, void *arg)
{
    struct vgpu_ini_entry e = {.line = r->lineno};
    char *p = r->line + strspn(r->line, INI_BLANKS);
    char *end;

    e.indented = p != r->line;
    if (*p == '\0' || strchr(INI_COMMENT, *p) != NULL) {
        return 0;
    }
    if (*p == '[') {
        end = strchr(p + 1, ']');
        if (end == NULL) {
            vgpu_set_err(r->err, r->err_len, "%s:%d: '[' without ']'", r->path,
                         r->lineno);
            return -EINVAL;
        }
        *end = '\0';
        end++;
        end += strspn(end, INI_BLANKS);
        if (*end != '\0' && strchr(INI_COMMENT, *end) == NULL) {
            vgpu_set_err(r->err, r->err_len, "%s:%d: text after ']': '%s'",
                         r->path, r->lineno, end);
            return -EINVAL;
        }
        /* The line buffer holds at least the section's name. */
        memmove(r->section, p + 1, strlen(p + 1) + 1);
        e.section = r->section;
        return fn(arg, &e);
    }
    end = p + strcspn(p, INI_SEPARATORS);
    if (*end == '\0') {
        vgpu_set_err(r->err, r->err_len,
                     "%s:%d: syntax error (expected [section] or key = "
                     "value)",
                     r->path, r->lineno);
        return -EINVAL;
    }
    *end = '\0';
    e.name = ini_rstrip(p);
    if (*e.name == '\0') {
        vgpu_set_err(r->err, r->err_len, "%s:%d: a value without a key",
                     r->path, r->lineno);
        return -EINVAL;
    }
    e.value = end + 1 + strspn(end + 1, INI_BLANKS);
    ini_cut_comment((char *)e.value);
    e.section = r->section;
    return fn(arg, &e);
}

int
vgpu_ini_parse(FILE *file, const char *path, vgpu_ini_fn fn, void *arg,
               char *err, size_t err_len)
{
    struct ini_reader r = {
        .file = file, .path = path, .err = err, .err_len = err_len};
    int rc;

    r.line = malloc(VGPU_INI_LINE_MAX + 1);
    r.section = calloc(1, VGPU_INI_LINE_MAX + 1);
    if (r.line == NULL || r.section == NULL) {
        vgpu_set_err(err, err_len, "%s: out of memory", path);
        rc = -ENOMEM;
        goto out;
    }
    while ((rc = ini_read_line(&r)) > 0) {
        rc = ini_line(&r, fn, arg);
        if (rc < 0) {
            break;
        }
    }
out:
    free(r.section);
    free(r.line);
    return rc;
}
