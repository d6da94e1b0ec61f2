/*
 * The trace recorder (vgpu/trace.h): events buffered in memory, written at
 * the adapter's flush points, the file rotated to PATH.1 at its limit.
 * Single-threaded: the adapter serialises every call (QEMU's big lock).
 * A write error stops recording for good (the device goes on).
 */
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vgpu/trace.h"

#define REC_BUF_MIN 65536u

/* Its own loop: src/trace is compiled into QEMU (integrate.sh), which
 * links nothing else of this project. */
static int
rec_write_all(int fd, const uint8_t *p, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, p, len);

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return n < 0 ? -errno : -EIO;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Create @rec->path afresh and write the header into it. */
static int
rec_create(struct vgpu_trace_rec *rec)
{
    uint8_t hdr[VGPU_TRACE_HDR_SIZE];
    struct stat st;
    int rc;

    /* Never through a symbolic link, and never blocking on a FIFO: only a
     * regular file (new or old) is a trace. */
    rec->fd =
        open(rec->path,
             O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0600);
    if (rec->fd < 0) {
        return -errno;
    }
    if (fstat(rec->fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        return -EINVAL;
    }
    if (ftruncate(rec->fd, 0) < 0 ||
        fcntl(rec->fd, F_SETFL, fcntl(rec->fd, F_GETFL) & ~O_NONBLOCK) < 0) {
        return -errno;
    }
    vgpu_trace_header_pack(&rec->hdr, hdr);
    rc = rec_write_all(rec->fd, hdr, sizeof(hdr));
    rec->written = sizeof(hdr);
    return rc;
}

int
vgpu_trace_rec_open(struct vgpu_trace_rec *rec, const char *path,
                    uint64_t max_bytes, const struct vgpu_trace_header *h)
{
    int rc;

    memset(rec, 0, sizeof(*rec));
    rec->fd = -1;
    rec->max_bytes = max_bytes;
    rec->hdr = *h;
    rec->path = strdup(path);
    if (rec->path == NULL) {
        return -ENOMEM;
    }
    rc = rec_create(rec);
    if (rc < 0) {
        vgpu_trace_rec_close(rec);
    }
    return rc;
}

/* Make room for @more bytes in the buffer. */
static int
rec_reserve(struct vgpu_trace_rec *rec, size_t more)
{
    size_t cap = rec->cap > 0 ? rec->cap : REC_BUF_MIN;
    uint8_t *nb;

    if (rec->len + more <= rec->cap) {
        return 0;
    }
    while (cap < rec->len + more) {
        cap *= 2;
    }
    nb = realloc(rec->buf, cap);
    if (nb == NULL) {
        return -ENOMEM;
    }
    rec->buf = nb;
    rec->cap = cap;
    return 0;
}

size_t
vgpu_trace_rec_event(struct vgpu_trace_rec *rec,
                     const struct vgpu_trace_event *ev, const void *payload)
{
    size_t pos = rec->len;
    int rc;

    if (!vgpu_trace_rec_active(rec)) {
        return pos;
    }
    rc = rec_reserve(rec, VGPU_TRACE_EV_SIZE + (size_t)ev->len);
    if (rc < 0) {
        rec->error = rc;
        return pos;
    }
    vgpu_trace_event_pack(ev, rec->buf + rec->len);
    rec->len += VGPU_TRACE_EV_SIZE;
    if (ev->len > 0) {
        if (payload != NULL) {
            memcpy(rec->buf + rec->len, payload, ev->len);
        } else {
            memset(rec->buf + rec->len, 0, ev->len);
        }
        rec->len += ev->len;
    }
    return pos;
}

void
vgpu_trace_rec_set_b(struct vgpu_trace_rec *rec, size_t pos, uint64_t b)
{
    if (vgpu_trace_rec_active(rec) && pos + VGPU_TRACE_EV_SIZE <= rec->len) {
        for (unsigned i = 0; i < sizeof(b); i++) {
            rec->buf[pos + 24u + i] = (uint8_t)(b >> (8u * i));
        }
    }
}

int
vgpu_trace_rec_flush(struct vgpu_trace_rec *rec)
{
    char old[PATH_MAX];
    int rc;

    if (!vgpu_trace_rec_active(rec) || rec->len == 0) {
        return rec->error;
    }
    if (rec->max_bytes > 0 && rec->written > VGPU_TRACE_HDR_SIZE &&
        rec->written + rec->len > rec->max_bytes) {
        /* Rotate: the full file becomes PATH.1, and a new one begins. */
        if ((size_t)snprintf(old, sizeof(old), "%s.1", rec->path) >=
            sizeof(old)) {
            rec->error = -ENAMETOOLONG;
            return rec->error;
        }
        close(rec->fd);
        rec->fd = -1;
        if (rename(rec->path, old) < 0) {
            rec->error = -errno;
            return rec->error;
        }
        rc = rec_create(rec);
        if (rc < 0) {
            rec->error = rc;
            return rc;
        }
    }
    rc = rec_write_all(rec->fd, rec->buf, rec->len);
    if (rc < 0) {
        rec->error = rc;
        return rc;
    }
    rec->written += rec->len;
    rec->len = 0;
    if (rec->cap > 4u * REC_BUF_MIN) {
        /* A 1 MiB DMA passed: give the memory back. */
        free(rec->buf);
        rec->buf = NULL;
        rec->cap = 0;
    }
    return 0;
}

void
vgpu_trace_rec_close(struct vgpu_trace_rec *rec)
{
    if (rec->fd >= 0) {
        (void)vgpu_trace_rec_flush(rec);
        close(rec->fd);
    }
    rec->fd = -1;
    free(rec->buf);
    free(rec->path);
    rec->buf = NULL;
    rec->path = NULL;
    rec->len = 0;
    rec->cap = 0;
}
