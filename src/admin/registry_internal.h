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

/* The sorted views of the table: positions in v[], ordered by the key and
 * then by position, so that a lookup finds the first entry of a key, as a
 * scan would. The uuid view holds only the entries that have one. */
enum reg_index { REG_BY_ID, REG_BY_NAME, REG_BY_UUID, REG_INDEX_COUNT };

struct vgpu_registry {
    struct vgpu_vm_entry *v;
    size_t n;
    size_t cap;
    char *path; /* the file loaded, for messages; NULL when created */
    /* Built on the first lookup after a change (O(n log n)), dropped by
     * every change: a lookup costs O(log n). */
    size_t *index[REG_INDEX_COUNT];
    size_t index_len[REG_INDEX_COUNT];
    /* first[k][i]: the position of the first entry whose key k equals
     * v[i]'s (i itself when none before it has it; the uuid view's is i
     * for an entry without a uuid). */
    size_t *first[REG_INDEX_COUNT];
    int indexed;
};

/**
 * vgpu_registry_first_dup() - the first entry before v[@i] whose key
 * @which (REG_BY_ID, REG_BY_NAME, REG_BY_UUID) equals v[@i]'s, or NULL.
 * Builds the index when needed; O(1) once it is built, O(n) without
 * memory for it.
 */
const struct vgpu_vm_entry *
vgpu_registry_first_dup(const struct vgpu_registry *reg, size_t i,
                        enum reg_index which);

/* The entry whose uuid is @uuid (any case), or NULL. */
const struct vgpu_vm_entry *
vgpu_registry_find_uuid(const struct vgpu_registry *reg, const char *uuid);

/* A new zeroed entry at the end. Return: it, or NULL when out of memory. */
struct vgpu_vm_entry *vgpu_registry_append(struct vgpu_registry *reg);

#endif /* VGPU_ADMIN_REGISTRY_INTERNAL_H */
