/*
 * What the files of libvgpu-guest share and the public header does not show.
 * Nothing here is exported from the library.
 */
#ifndef VGPU_GUEST_INTERNAL_H
#define VGPU_GUEST_INTERNAL_H

#include "vgpu/guest.h"

/**
 * vgpu_guest_timeout() - the timeout of the typed helpers, as set by
 * vgpu_set_timeout(), in milliseconds. Not thread-safe (as the client).
 */
int vgpu_guest_timeout(const struct vgpu_client *c);

#endif /* VGPU_GUEST_INTERNAL_H */
