/*
 * Reading a trace file whole (vgpu/trace.h), for vgpu-trace and vgpu-sim
 * --replay: a regular file only, opened without blocking, so a FIFO or a
 * device named by mistake is refused at once.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vgpu/trace.h"

int
vgpu_trace_read_file(const char *path, uint8_t **buf, size_t *len)
{
    struct stat st;
    size_t got = 0;
    int rc = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);

    *buf = NULL;
    *len = 0;
    if (fd < 0) {
        return -errno;
    }
    if (fstat(fd, &st) < 0) {
        rc = -errno;
    } else if (!S_ISREG(st.st_mode)) {
        rc = -EINVAL;
    } else if ((*buf = malloc(st.st_size > 0 ? (size_t)st.st_size : 1)) ==
               NULL) {
        rc = -ENOMEM;
    }
    while (rc == 0 && got < (size_t)st.st_size) {
        ssize_t n = read(fd, *buf + got, (size_t)st.st_size - got);

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            rc = n < 0 ? -errno : -EIO; /* it shrank while read */
            break;
        }
        got += (size_t)n;
    }
    close(fd);
    if (rc < 0) {
        free(*buf);
        *buf = NULL;
        return rc;
    }
    *len = got;
    return 0;
}
