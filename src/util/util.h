/*
 * Small text helpers that more than one library reads its files and flags
 * with (internal: the daemon's configuration, src/daemon, and the VM
 * registry, src/admin, link vgpu_util privately): one parser of unsigned
 * decimal numbers, and one line reader for libinih's ini_parse_stream().
 *
 * Pure and reentrant: no globals; each call touches only what it is given.
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

/* The line count of one INI text being read: zero it, set file, and hand it
 * to vgpu_ini_line_read() from inih's reader. */
struct vgpu_ini_lines {
    FILE *file;
    int lineno; /* of the line read last: the one inih works on */
};

/**
 * vgpu_ini_line_read() - the next line of @r->file into @str, for an
 * ini_reader of libinih: fgets() plus the line count, and the over-long
 * line, which inih would otherwise split in two.
 * @str, @num: as fgets() (inih passes its line buffer).
 *
 * Return: 1 with a line in @str (r->lineno counts it); 0 at the end of the
 * file; -E2BIG when the line has more than @num - 2 characters: @str holds
 * its start, the rest of it is skipped (never read as a line of its own),
 * and r->lineno counts it.
 */
int vgpu_ini_line_read(struct vgpu_ini_lines *r, char *str, int num);

#endif /* VGPU_UTIL_H */
