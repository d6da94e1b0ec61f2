/*
 * Several transports in one daemon (STYLE.md rule 7): the socket server
 * (server.c) and the legacy file transport (legacy.c) feed the same
 * mediator core, which has one ops table and hands ops->send and ops->close
 * only the conn_opaque of a connection. So every transport's connection
 * record starts with a pointer to its transport's ops:
 *
 *     struct my_conn {
 *         const struct vgpu_transport *transport;    (the first member)
 *         ...
 *     };
 *     c->transport = &my_transport;
 *     c->mc = vgpu_mediator_conn_open(m, c);
 *
 * and vgpu_transport_fill_ops() installs a send and a close that look at
 * that first member and call the right transport. The cost is one indirect
 * call per frame.
 *
 * Threading: as the core's (the caller serialises every call).
 */
#ifndef VGPU_MEDIATOR_TRANSPORT_H
#define VGPU_MEDIATOR_TRANSPORT_H

#include <stddef.h>
#include <stdint.h>

#include "vgpu/mediator.h"

/* One transport's side of struct vgpu_mediator_ops; @conn is the
 * connection record (the conn_opaque given to vgpu_mediator_conn_open()).
 * The contracts are those of ops->send and ops->close. */
struct vgpu_transport {
    const char *name; /* "socket", "legacy": for messages */
    int (*send)(void *conn, const uint8_t *bytes, size_t len);
    void (*close)(void *conn);
};

/**
 * vgpu_transport_fill_ops() - set @ops->send and @ops->close to the
 * dispatchers: each calls the send or close of the struct vgpu_transport
 * that the connection record's first member points to. Every conn_opaque
 * given to the core must then be such a record.
 */
void vgpu_transport_fill_ops(struct vgpu_mediator_ops *ops);

#endif /* VGPU_MEDIATOR_TRANSPORT_H */
