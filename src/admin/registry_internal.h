/*
 * What the registry's two files share (internal to src/admin): the table
 * itself, and the two calls the file reader (registry_file.c) makes into
 * the model (registry.c). Not thread-safe, like vgpu/registry.h.
 */
#ifndef VGPU_ADMIN_REGISTRY_INTERNAL_H
#define VGPU_ADMIN_REGISTRY_INTERNAL_H

#include <stddef.h>

#include "vgpu/registry.h"
#include "vgpu/regs.h"

struct vgpu_registry {
    struct vgpu_vm_entry *v;
    size_t n;
    size_t cap;
    char *path; /* the file loaded, for messages; NULL when created */
};

/* The entry whose uuid is @uuid (any case), or NULL. */
const struct vgpu_vm_entry *
vgpu_registry_find_uuid(const struct vgpu_registry *reg, const char *uuid);

/* A new zeroed entry at the end. Return: it, or NULL when out of memory. */
struct vgpu_vm_entry *vgpu_registry_append(struct vgpu_registry *reg);

#endif /* VGPU_ADMIN_REGISTRY_INTERNAL_H */
