/*
 * The type checks of the paths a tool is given (util.h): a configuration,
 * a registry, a log file, a legacy directory. A path that is not what it
 * should be is refused by name before it is opened, so a FIFO never blocks
 * a reader and a directory is never read as an empty file.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"
#include "vgpu/common.h"

const char *
vgpu_path_type_name(unsigned mode)
{
    switch (mode & S_IFMT) {
    case S_IFREG:
        return "a regular file";
    case S_IFDIR:
        return "a directory";
    case S_IFIFO:
        return "a FIFO";
    case S_IFSOCK:
        return "a socket";
    case S_IFCHR:
        return "a character device";
    case S_IFBLK:
        return "a block device";
    case S_IFLNK:
        return "a symbolic link";
    default:
        return "of an unknown type";
    }
}

static int
path_is(const struct stat *st, enum vgpu_path_kind kind)
{
    return kind == VGPU_PATH_DIR ? S_ISDIR(st->st_mode) : S_ISREG(st->st_mode);
}

static void
path_type_why(const char *path, const struct stat *st, enum vgpu_path_kind kind,
              char *why, size_t why_len)
{
    vgpu_set_err(why, why_len, "%s is %s, not %s", path,
                 vgpu_path_type_name((unsigned)st->st_mode),
                 kind == VGPU_PATH_DIR ? "a directory" : "a regular file");
}

int
vgpu_path_check(const char *path, enum vgpu_path_kind kind, int missing_ok,
                char *why, size_t why_len)
{
    struct stat st;

    if (stat(path, &st) < 0) {
        if (errno == ENOENT && missing_ok) {
            return 0;
        }
        vgpu_set_err(why, why_len, "%s: %s", path, strerror(errno));
        return -EINVAL;
    }
    if (!path_is(&st, kind)) {
        path_type_why(path, &st, kind, why, why_len);
        return -EINVAL;
    }
    return 0;
}

FILE *
vgpu_file_open_read(const char *path, char *why, size_t why_len)
{
    struct stat st;
    FILE *file;
    int fd;
    int e;

    if (stat(path, &st) < 0) {
        e = errno;
        vgpu_set_err(why, why_len, "%s: cannot read: %s", path, strerror(e));
        errno = e;
        return NULL;
    }
    if (!S_ISREG(st.st_mode)) {
        path_type_why(path, &st, VGPU_PATH_FILE, why, why_len);
        errno = EINVAL;
        return NULL;
    }
    /* O_NONBLOCK: a FIFO swapped in after the stat() opens at once, and
     * fstat() refuses it. */
    fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (fd < 0) {
        e = errno;
        vgpu_set_err(why, why_len, "%s: cannot read: %s", path, strerror(e));
        errno = e;
        return NULL;
    }
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        path_type_why(path, &st, VGPU_PATH_FILE, why, why_len);
        close(fd);
        errno = EINVAL;
        return NULL;
    }
    (void)fcntl(fd, F_SETFL, 0);
    file = fdopen(fd, "r");
    if (file == NULL) {
        e = errno;
        vgpu_set_err(why, why_len, "%s: cannot read: %s", path, strerror(e));
        close(fd);
        errno = e;
    }
    return file;
}
