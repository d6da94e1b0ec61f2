/*
 * The legacy file transport (`vgpu-mediator --legacy-dir DIR`): the old
 * NFS-style protocol served beside the socket, through the same scheduler.
 *
 * Each directory DIR/vmN (N a vm_id in decimal, no leading zero) is one VM's
 * device. The VM (or vgpu-legacy-client) writes one line to
 * DIR/vmN/request.txt, "pool:priority:vm_id:num1:num2" (vgpu/legacy.h);
 * the transport takes the file (renames it to request.txt.taken, reads it,
 * removes it, so no request is served twice), and answers in
 * DIR/vmN/response.txt, written atomically (response.txt.tmp, fsync,
 * rename): "ok:N:<num1 + num2>" or "error:<CODE_NAME>:<message>".
 *
 * For the core, each directory is a connection of its own (a struct
 * vgpu_mconn): HELLO with vm_id N and the pool and priority of the request
 * line, then each line as an ADD_I32 REQUEST with n = 1, queued and
 * scheduled like any device's. A later line with another pool or priority
 * reconnects with the new identity (a VM's identity comes with each request
 * in this protocol; the registry, when there is one, judges each HELLO). A
 * line whose vm_id is not N is refused before it reaches the core, with an
 * error that names both numbers. A directory has at most one request in
 * flight; a request.txt written meanwhile is served after the answer.
 *
 * It watches DIR (new vmN directories: IN_CREATE, IN_MOVED_TO) and each
 * DIR/vmN (request.txt: IN_CLOSE_WRITE, IN_MOVED_TO) with one inotify
 * descriptor in the daemon's event loop; nothing is polled.
 *
 * The mediator's ops must be the transport dispatchers (transport.h, as
 * vgpu_server_fill_ops() sets them): each directory's connection record
 * starts with its struct vgpu_transport.
 *
 * Threading: not thread-safe; everything runs on the event loop's thread.
 */
#ifndef VGPU_MEDIATOR_LEGACY_H
#define VGPU_MEDIATOR_LEGACY_H

#include <stddef.h>

#include "event.h"
#include "log.h"
#include "vgpu/mediator.h"

/* Mode of DIR when the transport creates it, and of each response.txt. */
#define VGPU_LEGACY_DIR_MODE      0755
#define VGPU_LEGACY_RESPONSE_MODE 0644

struct vgpu_legacy;

/**
 * vgpu_legacy_create() - serve the legacy protocol in @dir.
 * @loop: the daemon's loop; the inotify descriptor is registered in it.
 * @log:  where the transport's lines go.
 * @m:    the core every directory's connection is opened in.
 * @dir:  DIR; created (one level, VGPU_LEGACY_DIR_MODE) when missing.
 *        Copied.
 * @err:  on failure, a one-line reason naming the path.
 *
 * The vmN directories already there are watched at once, and a request.txt
 * already in one is served from the loop's next iteration. @loop, @log and
 * @m must outlive the transport.
 *
 * Return: the transport (destroy it with vgpu_legacy_destroy() before the
 * mediator), or NULL.
 */
struct vgpu_legacy *vgpu_legacy_create(struct vgpu_event_loop *loop,
                                       struct vgpu_log *log,
                                       struct vgpu_mediator *m, const char *dir,
                                       char *err, size_t err_len);

/**
 * vgpu_legacy_destroy() - stop watching, close every directory's connection
 * (vgpu_mediator_conn_close(): its queued request is dropped, unanswered)
 * and free the transport. Call it outside any call into the core, and
 * before vgpu_mediator_destroy(). NULL is a no-op.
 */
void vgpu_legacy_destroy(struct vgpu_legacy *lg);

/** vgpu_legacy_vm_count() - the vmN directories being served. */
size_t vgpu_legacy_vm_count(const struct vgpu_legacy *lg);

#endif /* VGPU_MEDIATOR_LEGACY_H */
