/*
 * Small text helpers that more than one library reads its files and flags
 * with (internal: the daemon's configuration, src/daemon, and the VM
 * registry, src/admin, link vgpu_util privately): one parser of unsigned
 * decimal numbers, one INI reader, and the checks of a path's type.
 *
 * Reentrant: no globals; each call touches only what it is given (the
 * path checks and the INI reader read files; the rest is pure).
 */
#ifndef VGPU_UTIL_H
#define VGPU_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/**
 * vgpu_parse_u32() - read an unsigned decimal number in @min..@max.
 * @s:       the text: decimal digits only (no sign, no blanks, no 0x), not
 *           empty.
 * @out:     the number, set only on success.
 * @why:     on failure, "'S' is not an integer in MIN..MAX"; may be NULL.
 *
 * Costs one pass over @s, stopping at the first digit past @max.
 *
 * Return: 0, or -EINVAL.
 */
int vgpu_parse_u32(const char *s, uint32_t min, uint32_t max, uint32_t *out,
                   char *why, size_t why_len);

/* The longest line of an INI file, without its newline: a path as long
 * as PATH_MAX (4096) with its key and blanks fits. */
#define VGPU_INI_LINE_MAX 4200

/* One thing an INI file says, handed to a vgpu_ini_fn: a section header
 * ([NAME], @name NULL, @section NAME as written between the brackets) or
 * a key (NAME = VALUE, in @section, "" before any header). */
struct vgpu_ini_entry {
    int line;            /* 1 and up */
    int indented;        /* the line starts with a blank */
    const char *section; /* the section, NUL-terminated */
    const char *name;    /* NULL for a section header */
    const char *value;   /* blanks and a " ;comment" removed */
};

/* What a caller does with each entry: return 0 to go on, or a negative
 * errno-style code to stop (the callback has written its own message). */
typedef int (*vgpu_ini_fn)(void *arg, const struct vgpu_ini_entry *e);

/**
 * vgpu_ini_parse() - read the INI text of @file line by line.
 * @file: read to its end, or to the first error; the caller closes it.
 * @path: the name used in messages.
 * @fn, @arg: called for each section header and each key, in order.
 * @err:  on a parse error, "PATH:LINE: ..." naming what is wrong, and for
 *        a byte, its column ("PATH:3: column 7: byte 0xc3 is not ASCII").
 *
 * The text: blank lines and lines starting with ';' or '#' are comments;
 * "[NAME]" (blanks and a comment may follow) opens a section; "KEY = VALUE"
 * (or "KEY: VALUE") sets a key, and " ;" starts a comment in a value.
 * Refused: a NUL or a byte that is not ASCII (a UTF-8 byte order mark at
 * the start is skipped), a control character other than tab and CR, and a
 * line over VGPU_INI_LINE_MAX characters, which is not read past its limit.
 * Costs one pass and one buffer of VGPU_INI_LINE_MAX bytes.
 *
 * Return: 0; -EINVAL with @err set; -ENOMEM; or what @fn returned.
 */
int vgpu_ini_parse(FILE *file, const char *path, vgpu_ini_fn fn, void *arg,
                   char *err, size_t err_len);

/* What a path a tool is given must be. */
enum vgpu_path_kind {
    VGPU_PATH_FILE, /* a regular file */
    VGPU_PATH_DIR,  /* a directory */
};

/**
 * vgpu_path_type_name() - "a directory", "a FIFO", "a socket", ... for the
 * file type bits of @mode.
 */
const char *vgpu_path_type_name(unsigned mode);

/**
 * vgpu_path_check() - whether @path is a @kind (symbolic links followed),
 * without opening it: a FIFO or a device is never opened, so this never
 * blocks.
 * @missing_ok: a path that does not exist passes (it will be created).
 * @why:        on failure, "PATH is a FIFO, not a regular file", or
 *              "PATH: No such file or directory".
 * Return: 0, or -EINVAL.
 */
int vgpu_path_check(const char *path, enum vgpu_path_kind kind, int missing_ok,
                    char *why, size_t why_len);

/**
 * vgpu_file_open_read() - open @path, a regular file, for reading: the
 * type is checked before the open and again on the descriptor (a FIFO put
 * in its place between the two is refused, never waited on).
 * @why: on failure, as vgpu_path_check(), or "PATH: cannot read: ...".
 * Return: a FILE the caller closes, or NULL with errno set (ENOENT when
 * the file does not exist, EINVAL when it is not a regular file).
 */
FILE *vgpu_file_open_read(const char *path, char *why, size_t why_len);

#endif /* VGPU_UTIL_H */
