/*
 * The one line reader under libinih (util.h): the daemon's configuration
 * (src/daemon/config_file.c) and the VM registry (src/admin/registry_file.c)
 * both count lines with it, because inih hands its handler no line number,
 * and both refuse a line longer than inih's buffer.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "util.h"

int
vgpu_ini_line_read(struct vgpu_ini_lines *r, char *str, int num)
{
    size_t len;

    if (fgets(str, num, r->file) == NULL) {
        return 0;
    }
    r->lineno++;
    len = strlen(str);
    if (len > 0 && str[len - 1] != '\n' && !feof(r->file)) {
        int ch;

        while ((ch = fgetc(r->file)) != EOF && ch != '\n') {
        }
        return -E2BIG;
    }
    return 1;
}
