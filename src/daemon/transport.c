/*
 * The core's send and close, dispatched to the transport of each
 * connection (transport.h).
 */
#include "transport.h"

/* The record's first member, read through a pointer to it (a pointer to a
 * struct, suitably converted, points to its first member: C11 6.7.2.1). */
static const struct vgpu_transport *
transport_of(void *conn)
{
    const struct vgpu_transport *const *first = conn;

    return *first;
}

static int
transport_send(void *conn, const uint8_t *bytes, size_t len)
{
    return transport_of(conn)->send(conn, bytes, len);
}

static void
transport_close(void *conn)
{
    transport_of(conn)->close(conn);
}

void
vgpu_transport_fill_ops(struct vgpu_mediator_ops *ops)
{
    ops->send = transport_send;
    ops->close = transport_close;
}
