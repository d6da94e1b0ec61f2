/*
 * The legacy file transport (legacy.h): inotify on DIR and each DIR/vmN,
 * request.txt in, response.txt out, one core connection per directory.
 *
 * The core is called only from this file's inotify callback and its kick
 * timer, never from inside ops->send or ops->close: those only write the
 * response file and mark the directory, and the kick timer (0 ms, so it
 * runs in the loop's current iteration) does the rest: it frees a
 * connection the core has closed and serves a request.txt that arrived
 * while the directory had one in flight.
 *
 * Every file operation inside a directory goes through its descriptor
 * (openat, renameat, unlinkat) with O_NOFOLLOW, and a request.txt that is
 * not a regular file is refused without being opened for reading; a guest
 * that owns its directory (an NFS export) can make the daemon read and
 * write only inside it.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdalign.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "legacy.h"
#include "transport.h"
#include "util.h"
#include "vgpu/common.h"
#include "vgpu/legacy.h"
#include "vgpu/proto.h"
#include "vgpu/regs.h"

/* What is watched: DIR for vmN directories made, removed or renamed, and
 * for its own end; each vmN for request.txt and for its own end. A vmN's
 * removal is seen in DIR: the descriptor the transport holds on it keeps
 * its own IN_DELETE_SELF from coming until that descriptor is closed. */
#define LEGACY_DIR_MASK                                                        \
    (IN_CREATE | IN_MOVED_TO | IN_DELETE | IN_MOVED_FROM | IN_DELETE_SELF |    \
     IN_MOVE_SELF | IN_ONLYDIR)
/* IN_CREATE: a request.txt made as a symbolic link, a FIFO, a directory
 * or a hard link is never closed after writing, so it is answered when it
 * appears (legacy_vm_event()). */
#define LEGACY_VM_MASK                                                         \
    (IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | IN_DELETE_SELF |               \
     IN_MOVE_SELF | IN_ONLYDIR | IN_DONT_FOLLOW)

/* inotify bytes read per read(); reads per readiness event (the loop is
 * level-triggered, so more waiting is read at the next iteration). */
#define LEGACY_EVENT_BUF       4096
#define LEGACY_READS_PER_EVENT 4

/* The longest message of an error response, and of a name "vmN". */
#define LEGACY_MSG_MAX  VGPU_LEGACY_LINE_MAX
#define LEGACY_NAME_MAX 16

/* The frames this transport feeds the core: HELLO, and an ADD_I32 REQUEST
 * with n = 1 (op, n, a, b). */
#define LEGACY_HELLO_CAPS   VGPU_CAP_BASIC
#define LEGACY_ADD_N        1u
#define LEGACY_REQUEST_LEN  (VGPU_OP_HDR_SIZE + 2u * VGPU_ELEM_SIZE)
#define LEGACY_RESPONSE_LEN VGPU_ELEM_SIZE
#define LEGACY_FRAME_MAX    (VGPU_HDR_SIZE + LEGACY_REQUEST_LEN)

/* One DIR/vmN: a VM's device. */
struct legacy_vm {
    const struct vgpu_transport *transport; /* first member: transport.h */
    struct vgpu_legacy *lg;
    uint32_t vm_id;
    char name[LEGACY_NAME_MAX]; /* "vmN" */
    int dirfd;
    int wd;
    dev_t dev; /* the directory's identity, to notice a rename */
    ino_t ino;
    struct vgpu_mconn *mc; /* NULL: not connected */
    int mc_closed;         /* the core called ops->close on mc */
    uint8_t pool;          /* identity of mc */
    uint8_t priority;
    int in_flight; /* a request is with the core, unanswered */
    uint32_t request_id;
    uint32_t next_request_id;
    int recheck; /* look at request.txt again (see the kick) */
    /* The last ERROR frame of mc (a refused HELLO): the answer when the
     * connection closes with a request in flight. */
    uint32_t fail_status;
    char fail_msg[LEGACY_MSG_MAX];
    struct legacy_vm *next;
};

struct vgpu_legacy {
    struct vgpu_event_loop *loop;
    struct vgpu_log *log;
    struct vgpu_mediator *m;
    char *dir;
    int dirfd;
    int ifd;
    int dir_wd;
    int dir_gone;
    struct legacy_vm *vms;
    size_t nvms;
    int64_t kick_timer; /* 0: not armed */
};

/* ---- Files --------------------------------------------------------------- */

/* Remove @name in @dirfd, whether a file or an empty directory. */
static void
legacy_remove(int dirfd, const char *name)
{
    if (unlinkat(dirfd, name, 0) < 0 && (errno == EISDIR || errno == EPERM)) {
        (void)unlinkat(dirfd, name, AT_REMOVEDIR);
    }
}

static int
legacy_write_all(int fd, const char *p, size_t len)
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

/* response.txt, atomically: a reader sees the old file or the whole new
 * one, and the new one is on disk before it has the name. */
static void
legacy_write_response(struct legacy_vm *vm, const char *line, size_t len)
{
    struct vgpu_legacy *lg = vm->lg;
    const char *what = "open";
    int rc = 0;
    int fd;

    legacy_remove(vm->dirfd, VGPU_LEGACY_RESPONSE_TMP);
    fd = openat(vm->dirfd, VGPU_LEGACY_RESPONSE_TMP,
                O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                VGPU_LEGACY_RESPONSE_MODE);
    if (fd < 0) {
        rc = -errno;
        goto err;
    }
    what = "write";
    rc = legacy_write_all(fd, line, len);
    if (rc == 0) {
        what = "fsync";
        rc = fsync(fd) < 0 ? -errno : 0;
    }
    if (close(fd) < 0 && rc == 0) {
        what = "close";
        rc = -errno;
    }
    if (rc == 0) {
        what = "rename";
        rc = renameat(vm->dirfd, VGPU_LEGACY_RESPONSE_TMP, vm->dirfd,
                      VGPU_LEGACY_RESPONSE) < 0
                 ? -errno
                 : 0;
    }
    if (rc == 0) {
        return;
    }
    (void)unlinkat(vm->dirfd, VGPU_LEGACY_RESPONSE_TMP, 0);
err:
    vgpu_log_printf(lg->log, VGPU_LOG_WARN,
                    "legacy vm=%u: cannot write %s/%s/%s: %s: %s",
                    (unsigned)vm->vm_id, lg->dir, vm->name,
                    VGPU_LEGACY_RESPONSE, what, strerror(-rc));
}

static void
legacy_answer_ok(struct legacy_vm *vm, int32_t result)
{
    char line[VGPU_LEGACY_LINE_MAX + 1];
    int n = vgpu_legacy_format_ok(vm->vm_id, result, line, sizeof(line));

    if (n > 0) {
        legacy_write_response(vm, line, (size_t)n);
    }
}

static void
legacy_answer_error(struct legacy_vm *vm, uint32_t status, const char *msg)
{
    char line[VGPU_LEGACY_LINE_MAX + 1];
    int n = vgpu_legacy_format_error(status, msg, line, sizeof(line));

    if (n > 0) {
        legacy_write_response(vm, line, (size_t)n);
    }
}

/* An answer the transport gives itself, without the core: logged. */
static void
legacy_refuse(struct legacy_vm *vm, uint32_t status, const char *msg)
{
    vgpu_log_printf(vm->lg->log, VGPU_LOG_WARN,
                    "legacy vm=%u: %s refused: status=%s: %s",
                    (unsigned)vm->vm_id, VGPU_LEGACY_REQUEST,
                    vgpu_strerror((int)status), msg);
    legacy_answer_error(vm, status, msg);
}

/*
 * Take request.txt: rename it out of the way (so that a request.txt
 * written from now on is a new request), check that it is a small regular
 * file, read it, remove it.
 * Return: 1 with @buf/@len the file's bytes; 0 when there is no
 * request.txt; -EINVAL with @why set when the file cannot be a request.
 */
static int
legacy_take(struct legacy_vm *vm, char *buf, size_t *len, char *why,
            size_t why_len)
{
    struct stat st;
    struct stat fst;
    size_t have = 0;
    int fd;

    if (renameat(vm->dirfd, VGPU_LEGACY_REQUEST, vm->dirfd,
                 VGPU_LEGACY_REQUEST_TAKEN) < 0) {
        if (errno == ENOENT) {
            return 0;
        }
        /* A leftover request.txt.taken of another type is in the way. */
        legacy_remove(vm->dirfd, VGPU_LEGACY_REQUEST_TAKEN);
        if (renameat(vm->dirfd, VGPU_LEGACY_REQUEST, vm->dirfd,
                     VGPU_LEGACY_REQUEST_TAKEN) < 0) {
            if (errno == ENOENT) {
                return 0;
            }
            snprintf(why, why_len, "cannot take %s: %s", VGPU_LEGACY_REQUEST,
                     strerror(errno));
            return -EINVAL;
        }
    }
    if (fstatat(vm->dirfd, VGPU_LEGACY_REQUEST_TAKEN, &st,
                AT_SYMLINK_NOFOLLOW) < 0) {
        snprintf(why, why_len, "cannot read %s: %s", VGPU_LEGACY_REQUEST,
                 strerror(errno));
        goto err_remove;
    }
    /* Nothing is read from what is not the guest's own file: not a FIFO
     * (never opened), a symbolic link or a device, nor a hard link, whose
     * other name may be a file the guest cannot read. */
    if (!S_ISREG(st.st_mode)) {
        snprintf(why, why_len, "%s is %s, not a regular file: not read",
                 VGPU_LEGACY_REQUEST, vgpu_path_type_name(st.st_mode));
        goto err_remove;
    }
    if (st.st_nlink != 1) {
        snprintf(why, why_len,
                 "%s has %lu links (a hard link to another file?): not read",
                 VGPU_LEGACY_REQUEST, (unsigned long)st.st_nlink);
        goto err_remove;
    }
    if (st.st_size > (off_t)VGPU_LEGACY_LINE_MAX) {
        snprintf(why, why_len,
                 "request of %lld bytes is over the limit of %u bytes",
                 (long long)st.st_size, VGPU_LEGACY_LINE_MAX);
        goto err_remove;
    }
    fd = openat(vm->dirfd, VGPU_LEGACY_REQUEST_TAKEN,
                O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(why, why_len, "cannot read %s: %s", VGPU_LEGACY_REQUEST,
                 strerror(errno));
        goto err_remove;
    }
    if (fstat(fd, &fst) < 0 || !S_ISREG(fst.st_mode) || fst.st_nlink != 1 ||
        fst.st_ino != st.st_ino || fst.st_dev != st.st_dev) {
        snprintf(why, why_len, "%s changed while it was read",
                 VGPU_LEGACY_REQUEST);
        goto err_close;
    }
    /* One byte more than a line may have: a file that grew is refused. */
    while (have <= VGPU_LEGACY_LINE_MAX) {
        ssize_t n = read(fd, buf + have, VGPU_LEGACY_LINE_MAX + 1 - have);

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            snprintf(why, why_len, "cannot read %s: %s", VGPU_LEGACY_REQUEST,
                     strerror(errno));
            goto err_close;
        }
        if (n == 0) {
            break;
        }
        have += (size_t)n;
    }
    close(fd);
    legacy_remove(vm->dirfd, VGPU_LEGACY_REQUEST_TAKEN);
    *len = have;
    return 1;

err_close:
    close(fd);
err_remove:
    legacy_remove(vm->dirfd, VGPU_LEGACY_REQUEST_TAKEN);
    return -EINVAL;
}

/* ---- The core's side ------------------------------------------------------
 */

static int64_t legacy_kick_fire(struct vgpu_event_loop *loop, int64_t id,
                                void *data);

/* Run the kick in this loop iteration (see the top of the file). */
static void
legacy_kick(struct vgpu_legacy *lg)
{
    int64_t id;

    if (lg->kick_timer > 0) {
        return;
    }
    id = vgpu_event_timer_add(lg->loop, 0, legacy_kick_fire, lg);
    if (id > 0) {
        lg->kick_timer = id;
    }
}

/* The request in flight is answered: look for the next one. */
static void
legacy_done(struct legacy_vm *vm)
{
    vm->in_flight = 0;
    vm->recheck = 1;
    legacy_kick(vm->lg);
}

static void
legacy_response(struct legacy_vm *vm, const struct vgpu_hdr *h,
                const uint8_t *payload, size_t len)
{
    char msg[LEGACY_MSG_MAX];
    size_t n;

    if (!vm->in_flight || h->request_id != vm->request_id) {
        return; /* not reached: one request in flight, and it is this one */
    }
    if (h->status == VGPU_ERR_NONE && len == LEGACY_RESPONSE_LEN) {
        legacy_answer_ok(vm, (int32_t)vgpu_get_le32(payload));
    } else if (h->status == VGPU_ERR_NONE) {
        snprintf(msg, sizeof(msg), "response of %zu bytes, want %u", len,
                 LEGACY_RESPONSE_LEN);
        legacy_answer_error(vm, VGPU_ERR_BACKEND_ERROR, msg);
    } else {
        n = len < sizeof(msg) - 1 ? len : sizeof(msg) - 1;
        if (n > 0) {
            memcpy(msg, payload, n);
        }
        msg[n] = '\0';
        legacy_answer_error(vm, h->status, msg);
    }
    legacy_done(vm);
}

/* ops->send of a directory's connection: the frames the core answers
 * with. Only files are touched here, never the core. */
static int
legacy_send(void *conn, const uint8_t *bytes, size_t len)
{
    struct legacy_vm *vm = conn;

    while (len >= VGPU_HDR_SIZE) {
        struct vgpu_hdr h;
        const uint8_t *payload = bytes + VGPU_HDR_SIZE;
        size_t n;

        vgpu_hdr_unpack(bytes, &h);
        if (h.payload_len > len - VGPU_HDR_SIZE) {
            break; /* not reached: the core sends whole frames */
        }
        switch (h.type) {
        case VGPU_MSG_RESPONSE:
            legacy_response(vm, &h, payload, h.payload_len);
            break;
        case VGPU_MSG_ERROR:
            n = h.payload_len < sizeof(vm->fail_msg) - 1
                    ? h.payload_len
                    : sizeof(vm->fail_msg) - 1;
            if (n > 0) {
                memcpy(vm->fail_msg, payload, n);
            }
            vm->fail_msg[n] = '\0';
            vm->fail_status = h.status;
            break;
        default:
            break; /* HELLO_ACK, PONG */
        }
        bytes += VGPU_HDR_SIZE + h.payload_len;
        len -= VGPU_HDR_SIZE + h.payload_len;
    }
    return 0;
}

/* ops->close: the core is done with the connection (a refused HELLO). It
 * is freed by the kick, outside this call. */
static void
legacy_close(void *conn)
{
    struct legacy_vm *vm = conn;

    vm->mc_closed = 1;
    if (vm->in_flight) {
        if (vm->fail_msg[0] != '\0') {
            legacy_answer_error(vm, vm->fail_status, vm->fail_msg);
        } else {
            legacy_answer_error(vm, VGPU_ERR_MEDIATOR_UNAVAILABLE,
                                "the mediator closed the connection");
        }
        legacy_done(vm);
        return;
    }
    vm->recheck = 1;
    legacy_kick(vm->lg);
}

static const struct vgpu_transport legacy_transport = {
    .name = "legacy",
    .send = legacy_send,
    .close = legacy_close,
};

static void
legacy_disconnect(struct legacy_vm *vm)
{
    struct vgpu_mconn *mc = vm->mc;

    vm->mc = NULL;
    vm->mc_closed = 0;
    if (mc != NULL) {
        vgpu_mediator_conn_close(mc);
    }
}

/* Encode one frame of this VM's identity and feed it to the core. */
static void
legacy_feed(struct legacy_vm *vm, uint16_t type, uint32_t request_id,
            const uint8_t *payload, size_t len)
{
    uint8_t frame[LEGACY_FRAME_MAX];
    struct vgpu_hdr h;
    int n;

    vgpu_hdr_init(&h, type);
    h.vm_id = vm->vm_id;
    h.request_id = request_id;
    h.pool_id = vm->pool;
    h.priority = vm->priority;
    n = vgpu_frame_encode(&h, payload, len, frame, sizeof(frame));
    if (n > 0) {
        (void)vgpu_mediator_conn_input(vm->mc, frame, (size_t)n);
    }
}

/* Hand a parsed request to the core: connect (again) when the directory
 * has no connection of this identity, then an ADD_I32 REQUEST. The answer
 * comes through legacy_send() or legacy_close(), maybe before this returns
 * (a refusal). */
static void
legacy_submit(struct legacy_vm *vm, const struct vgpu_legacy_req *req)
{
    struct vgpu_legacy *lg = vm->lg;
    uint8_t hello[VGPU_HELLO_PAYLOAD_SIZE];
    uint8_t body[LEGACY_REQUEST_LEN];

    if (vm->mc != NULL && !vm->mc_closed &&
        (vm->pool != req->pool || vm->priority != req->priority)) {
        vgpu_log_printf(lg->log, VGPU_LOG_INFO,
                        "legacy vm=%u: pool %c priority %s -> pool %c "
                        "priority %s: connecting again",
                        (unsigned)vm->vm_id, (char)vm->pool,
                        vgpu_prio_name(vm->priority), (char)req->pool,
                        vgpu_prio_name(req->priority));
        legacy_disconnect(vm);
    } else if (vm->mc != NULL && vm->mc_closed) {
        legacy_disconnect(vm);
    }
    vm->in_flight = 1;
    vm->request_id = ++vm->next_request_id;
    vm->fail_msg[0] = '\0';
    if (vm->mc == NULL) {
        vm->mc = vgpu_mediator_conn_open(lg->m, vm);
        if (vm->mc == NULL) {
            legacy_answer_error(vm, VGPU_ERR_MEDIATOR_UNAVAILABLE,
                                "mediator out of memory");
            legacy_done(vm);
            return;
        }
        vm->pool = req->pool;
        vm->priority = req->priority;
        vgpu_hello_pack(hello, VGPU_PROTOCOL_VERSION, LEGACY_HELLO_CAPS);
        legacy_feed(vm, VGPU_MSG_HELLO, 0, hello, sizeof(hello));
        if (vm->mc_closed) {
            return; /* refused: legacy_close() answered */
        }
    }
    vgpu_put_le32(body, VGPU_OP_ADD_I32);
    vgpu_put_le32(body + 4, LEGACY_ADD_N);
    vgpu_put_le32(body + VGPU_OP_HDR_SIZE, (uint32_t)req->num1);
    vgpu_put_le32(body + VGPU_OP_HDR_SIZE + VGPU_ELEM_SIZE,
                  (uint32_t)req->num2);
    legacy_feed(vm, VGPU_MSG_REQUEST, vm->request_id, body, sizeof(body));
}

/* request.txt may be there: take it, check it, submit it. */
static void
legacy_serve(struct legacy_vm *vm)
{
    char text[VGPU_LEGACY_LINE_MAX + 1];
    char why[LEGACY_MSG_MAX];
    struct vgpu_legacy_req req;
    size_t len = 0;
    int rc;

    if (vm->in_flight) {
        vm->recheck = 1; /* served when the answer is written */
        return;
    }
    rc = legacy_take(vm, text, &len, why, sizeof(why));
    if (rc == 0) {
        return;
    }
    if (rc < 0) {
        legacy_refuse(vm, VGPU_ERR_INVALID_REQUEST, why);
        return;
    }
    if (vgpu_legacy_parse(text, len, &req, why, sizeof(why)) < 0) {
        legacy_refuse(vm, VGPU_ERR_INVALID_REQUEST, why);
        return;
    }
    if (req.vm_id != vm->vm_id) {
        snprintf(why, sizeof(why),
                 "request vm_id %u in directory %s (vm_id %u)",
                 (unsigned)req.vm_id, vm->name, (unsigned)vm->vm_id);
        legacy_refuse(vm, VGPU_ERR_REJECTED, why);
        return;
    }
    legacy_submit(vm, &req);
}

/* ---- Directories --------------------------------------------------------- */

static struct legacy_vm *
legacy_find_wd(const struct vgpu_legacy *lg, int wd)
{
    for (struct legacy_vm *vm = lg->vms; vm != NULL; vm = vm->next) {
        if (vm->wd == wd) {
            return vm;
        }
    }
    return NULL;
}

static struct legacy_vm *
legacy_find_vm(const struct vgpu_legacy *lg, uint32_t vm_id)
{
    for (struct legacy_vm *vm = lg->vms; vm != NULL; vm = vm->next) {
        if (vm->vm_id == vm_id) {
            return vm;
        }
    }
    return NULL;
}

/* Forget a directory: its connection (a queued request is dropped: there
 * is nowhere to answer it), its descriptor, and its watch unless the
 * kernel has removed it already. */
static void
legacy_vm_remove(struct legacy_vm *vm, int rm_watch)
{
    struct vgpu_legacy *lg = vm->lg;

    for (struct legacy_vm **pp = &lg->vms; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == vm) {
            *pp = vm->next;
            break;
        }
    }
    lg->nvms--;
    legacy_disconnect(vm);
    if (rm_watch) {
        (void)inotify_rm_watch(lg->ifd, vm->wd);
    }
    close(vm->dirfd);
    free(vm);
}

/* Start serving DIR/@name (vm_id @vm_id): watch it, then look for a
 * request.txt written before the watch. */
static void
legacy_vm_add(struct vgpu_legacy *lg, const char *name, uint32_t vm_id)
{
    char path[PATH_MAX];
    struct legacy_vm *vm;
    struct legacy_vm *old;
    struct stat st;
    int dirfd;
    int wd;

    dirfd = openat(lg->dirfd, name,
                   O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dirfd < 0) {
        /* A plain file named vmN is not a VM; a symbolic link is refused,
         * since it could lead the daemon out of DIR. */
        if (errno == ELOOP) {
            vgpu_log_printf(lg->log, VGPU_LOG_WARN,
                            "legacy: %s/%s is a symbolic link: not served",
                            lg->dir, name);
        } else if (errno != ENOTDIR && errno != ENOENT) {
            vgpu_log_printf(lg->log, VGPU_LOG_WARN, "legacy: %s/%s: %s",
                            lg->dir, name, strerror(errno));
        }
        return;
    }
    if (fstat(dirfd, &st) < 0) {
        goto err_close;
    }
    old = legacy_find_vm(lg, vm_id);
    if (old != NULL && old->dev == st.st_dev && old->ino == st.st_ino) {
        close(dirfd); /* already served: just look again */
        old->recheck = 1;
        legacy_kick(lg);
        return;
    }
    snprintf(path, sizeof(path), "%s/%s", lg->dir, name);
    wd = inotify_add_watch(lg->ifd, path, LEGACY_VM_MASK);
    if (wd < 0) {
        vgpu_log_printf(lg->log, VGPU_LOG_WARN, "legacy: cannot watch %s: %s",
                        path, strerror(errno));
        goto err_close;
    }
    /* The old entry of this vm_id is another directory; an entry with this
     * watch is this directory under its old name: both are stale. */
    if (old != NULL) {
        legacy_vm_remove(old, old->wd != wd);
    }
    while ((old = legacy_find_wd(lg, wd)) != NULL) {
        legacy_vm_remove(old, 0);
    }
    vm = calloc(1, sizeof(*vm));
    if (vm == NULL) {
        vgpu_log_printf(lg->log, VGPU_LOG_ERROR, "legacy: %s: out of memory",
                        path);
        (void)inotify_rm_watch(lg->ifd, wd);
        goto err_close;
    }
    vm->transport = &legacy_transport;
    vm->lg = lg;
    vm->vm_id = vm_id;
    snprintf(vm->name, sizeof(vm->name), "%s", name);
    vm->dirfd = dirfd;
    vm->wd = wd;
    vm->dev = st.st_dev;
    vm->ino = st.st_ino;
    vm->next = lg->vms;
    lg->vms = vm;
    lg->nvms++;
    vgpu_log_printf(lg->log, VGPU_LOG_INFO, "legacy vm=%u: serving %s",
                    (unsigned)vm_id, path);
    vm->recheck = 1;
    legacy_kick(lg);
    return;

err_close:
    close(dirfd);
}

/* Whether DIR/vm->name is still the directory being served. */
static int
legacy_vm_still_there(const struct legacy_vm *vm)
{
    struct stat st;

    return fstatat(vm->lg->dirfd, vm->name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
           st.st_dev == vm->dev && st.st_ino == vm->ino;
}

/* Every vmN in DIR, at start and after an inotify queue overflow (when
 * events were lost: every directory is looked at again). */
static void
legacy_scan(struct vgpu_legacy *lg)
{
    struct legacy_vm *next;
    struct dirent *de;
    DIR *d;
    int fd;

    for (struct legacy_vm *vm = lg->vms; vm != NULL; vm = next) {
        next = vm->next;
        if (!legacy_vm_still_there(vm)) {
            legacy_vm_remove(vm, 1);
        }
    }
    fd = openat(lg->dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 || (d = fdopendir(fd)) == NULL) {
        vgpu_log_printf(lg->log, VGPU_LOG_ERROR, "legacy: cannot list %s: %s",
                        lg->dir, strerror(errno));
        if (fd >= 0) {
            close(fd);
        }
        return;
    }
    while ((de = readdir(d)) != NULL) {
        uint32_t vm_id;

        if ((de->d_type == DT_DIR || de->d_type == DT_UNKNOWN) &&
            vgpu_legacy_dir_vm_id(de->d_name, &vm_id) == 0) {
            legacy_vm_add(lg, de->d_name, vm_id);
        }
    }
    closedir(d);
    for (struct legacy_vm *vm = lg->vms; vm != NULL; vm = vm->next) {
        vm->recheck = 1;
    }
    legacy_kick(lg);
}

/* ---- Events -------------------------------------------------------------- */

static int64_t
legacy_kick_fire(struct vgpu_event_loop *loop, int64_t id, void *data)
{
    struct vgpu_legacy *lg = data;

    lg->kick_timer = 0;
    for (struct legacy_vm *vm = lg->vms; vm != NULL; vm = vm->next) {
        if (vm->mc != NULL && vm->mc_closed && !vm->in_flight) {
            legacy_disconnect(vm);
        }
        if (vm->recheck && !vm->in_flight) {
            vm->recheck = 0;
            legacy_serve(vm);
        }
    }
    return VGPU_EVENT_TIMER_DONE;
}

static void
legacy_dir_event(struct vgpu_legacy *lg, const struct inotify_event *ev)
{
    struct legacy_vm *vm;
    uint32_t vm_id;

    if (ev->mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED)) {
        if (!lg->dir_gone) {
            vgpu_log_printf(lg->log, VGPU_LOG_ERROR,
                            "legacy: %s was removed or moved away: no new vmN "
                            "directory will be found",
                            lg->dir);
        }
        lg->dir_gone = 1;
        return;
    }
    if (!(ev->mask & IN_ISDIR) || ev->len == 0 ||
        vgpu_legacy_dir_vm_id(ev->name, &vm_id) < 0) {
        return;
    }
    if (ev->mask & (IN_CREATE | IN_MOVED_TO)) {
        legacy_vm_add(lg, ev->name, vm_id);
    } else if ((vm = legacy_find_vm(lg, vm_id)) != NULL &&
               strcmp(vm->name, ev->name) == 0 && !legacy_vm_still_there(vm)) {
        vgpu_log_printf(lg->log, VGPU_LOG_INFO,
                        "legacy vm=%u: %s/%s is gone; not served any more",
                        (unsigned)vm->vm_id, lg->dir, vm->name);
        legacy_vm_remove(vm, 1);
    }
}

/* A request.txt just made that no IN_CLOSE_WRITE will follow: anything
 * but a regular file with one link (a file being written has one). */
static int
legacy_never_written(const struct legacy_vm *vm)
{
    struct stat st;

    if (fstatat(vm->dirfd, VGPU_LEGACY_REQUEST, &st, AT_SYMLINK_NOFOLLOW) < 0) {
        return 0; /* gone already: nothing to answer */
    }
    return !S_ISREG(st.st_mode) || st.st_nlink != 1;
}

static void
legacy_vm_event(struct legacy_vm *vm, const struct inotify_event *ev)
{
    struct vgpu_legacy *lg = vm->lg;

    if (ev->mask & IN_IGNORED) {
        vgpu_log_printf(lg->log, VGPU_LOG_INFO,
                        "legacy vm=%u: %s/%s is gone; not served any more",
                        (unsigned)vm->vm_id, lg->dir, vm->name);
        legacy_vm_remove(vm, 0);
        return;
    }
    if (ev->mask & IN_MOVE_SELF) {
        if (!legacy_vm_still_there(vm)) {
            vgpu_log_printf(lg->log, VGPU_LOG_INFO,
                            "legacy vm=%u: %s/%s was moved away; not served "
                            "any more",
                            (unsigned)vm->vm_id, lg->dir, vm->name);
            legacy_vm_remove(vm, 1);
        }
        return;
    }
    if (ev->len == 0 || strcmp(ev->name, VGPU_LEGACY_REQUEST) != 0) {
        return;
    }
    if (ev->mask & (IN_CLOSE_WRITE | IN_MOVED_TO)) {
        legacy_serve(vm);
    } else if ((ev->mask & IN_CREATE) && legacy_never_written(vm)) {
        legacy_serve(vm);
    }
}

static void
legacy_inotify_event(struct vgpu_event_loop *loop, int fd, void *data, int mask)
{
    struct vgpu_legacy *lg = data;
    alignas(struct inotify_event) char buf[LEGACY_EVENT_BUF];

    for (int r = 0; r < LEGACY_READS_PER_EVENT; r++) {
        ssize_t n = read(fd, buf, sizeof(buf));
        size_t off = 0;

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return;
        }
        while (off + sizeof(struct inotify_event) <= (size_t)n) {
            const struct inotify_event *ev =
                (const struct inotify_event *)(buf + off);
            struct legacy_vm *vm;

            off += sizeof(*ev) + ev->len;
            if (ev->mask & IN_Q_OVERFLOW) {
                vgpu_log_printf(lg->log, VGPU_LOG_WARN,
                                "legacy: inotify queue overflow: looking at "
                                "every directory again");
                legacy_scan(lg);
            } else if (ev->wd == lg->dir_wd) {
                legacy_dir_event(lg, ev);
            } else if ((vm = legacy_find_wd(lg, ev->wd)) != NULL) {
                legacy_vm_event(vm, ev);
            }
        }
    }
}

/* ---- Lifetime ------------------------------------------------------------ */

struct vgpu_legacy *
vgpu_legacy_create(struct vgpu_event_loop *loop, struct vgpu_log *log,
                   struct vgpu_mediator *m, const char *dir, char *err,
                   size_t err_len)
{
    struct vgpu_legacy *lg;
    int rc;

    if (strlen(dir) + 1 + LEGACY_NAME_MAX >= PATH_MAX) {
        vgpu_set_err(err, err_len, "%s: path too long", dir);
        goto err;
    }
    lg = calloc(1, sizeof(*lg));
    if (lg == NULL) {
        vgpu_set_err(err, err_len, "out of memory");
        goto err;
    }
    lg->loop = loop;
    lg->log = log;
    lg->m = m;
    lg->ifd = -1;
    lg->dir = strdup(dir);
    if (lg->dir == NULL) {
        vgpu_set_err(err, err_len, "out of memory");
        goto err_free;
    }
    if (mkdir(dir, VGPU_LEGACY_DIR_MODE) < 0 && errno != EEXIST) {
        vgpu_set_err(err, err_len, "cannot create the legacy directory %s: %s",
                     dir, strerror(errno));
        goto err_dir;
    }
    lg->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (lg->dirfd < 0) {
        vgpu_set_err(err, err_len, "legacy directory %s: %s", dir,
                     strerror(errno));
        goto err_dir;
    }
    lg->ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (lg->ifd < 0) {
        vgpu_set_err(err, err_len, "inotify: %s", strerror(errno));
        goto err_dirfd;
    }
    lg->dir_wd = inotify_add_watch(lg->ifd, dir, LEGACY_DIR_MASK);
    if (lg->dir_wd < 0) {
        vgpu_set_err(err, err_len, "cannot watch %s: %s", dir, strerror(errno));
        goto err_inotify;
    }
    rc = vgpu_event_add(loop, lg->ifd, VGPU_EVENT_READ, legacy_inotify_event,
                        lg);
    if (rc < 0) {
        vgpu_set_err(err, err_len, "inotify: %s", vgpu_strerror(rc));
        goto err_inotify;
    }
    legacy_scan(lg);
    vgpu_log_printf(log, VGPU_LOG_INFO,
                    "legacy: serving %s (%zu vm director%s)", dir, lg->nvms,
                    lg->nvms == 1 ? "y" : "ies");
    return lg;

err_inotify:
    close(lg->ifd);
err_dirfd:
    close(lg->dirfd);
err_dir:
    free(lg->dir);
err_free:
    free(lg);
err:
    return NULL;
}

void
vgpu_legacy_destroy(struct vgpu_legacy *lg)
{
    if (lg == NULL) {
        return;
    }
    if (lg->kick_timer > 0) {
        vgpu_event_timer_del(lg->loop, lg->kick_timer);
    }
    vgpu_event_del(lg->loop, lg->ifd, VGPU_EVENT_READ);
    while (lg->vms != NULL) {
        legacy_vm_remove(lg->vms, 0);
    }
    close(lg->ifd);
    close(lg->dirfd);
    free(lg->dir);
    free(lg);
}

size_t
vgpu_legacy_vm_count(const struct vgpu_legacy *lg)
{
    return lg->nvms;
}
