/*
 * The table of backends this build has, searched by name. For now only the
 * CPU backend; the CUDA backend joins it when VGPU_WITH_CUDA builds it (the
 * lookup then moves next to the mediator, which links both).
 *
 * Backends added at run time by vgpu_backend_register() (the simulator's
 * backend_override, tests) sit in a small fixed array of atomic pointers:
 * slots are filled once with a compare-and-swap and never emptied, so a
 * lookup needs no lock.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stddef.h>
#include <string.h>

#include "vgpu/backend.h"

static const struct vgpu_backend_ops *const registry_backends[] = {
    &vgpu_backend_cpu,
};

static _Atomic(const struct vgpu_backend_ops *)
    registry_extra[VGPU_BACKEND_EXTRA_MAX];

static const struct vgpu_backend_ops *
registry_builtin(const char *name)
{
    size_t count = sizeof(registry_backends) / sizeof(registry_backends[0]);

    for (size_t i = 0; i < count; i++) {
        if (strcmp(registry_backends[i]->name, name) == 0) {
            return registry_backends[i];
        }
    }
    return NULL;
}

const struct vgpu_backend_ops *
vgpu_backend_find(const char *name)
{
    const struct vgpu_backend_ops *b;

    if (name == NULL) {
        return NULL;
    }
    b = registry_builtin(name);
    if (b != NULL) {
        return b;
    }
    for (size_t i = 0; i < VGPU_BACKEND_EXTRA_MAX; i++) {
        b = atomic_load(&registry_extra[i]);
        if (b == NULL) {
            break; /* slots fill in order */
        }
        if (strcmp(b->name, name) == 0) {
            return b;
        }
    }
    return NULL;
}

int
vgpu_backend_register(const struct vgpu_backend_ops *ops)
{
    if (ops == NULL || ops->name == NULL || ops->open == NULL ||
        ops->exec == NULL || ops->close == NULL) {
        return -EINVAL;
    }
    if (registry_builtin(ops->name) != NULL) {
        return registry_builtin(ops->name) == ops ? 0 : -EEXIST;
    }
    for (size_t i = 0; i < VGPU_BACKEND_EXTRA_MAX; i++) {
        const struct vgpu_backend_ops *cur = atomic_load(&registry_extra[i]);

        if (cur == NULL) {
            const struct vgpu_backend_ops *expected = NULL;

            if (atomic_compare_exchange_strong(&registry_extra[i], &expected,
                                               ops)) {
                return 0;
            }
            cur = expected; /* another thread took the slot first */
        }
        if (cur == ops) {
            return 0;
        }
        if (strcmp(cur->name, ops->name) == 0) {
            return -EEXIST;
        }
    }
    return -ENOSPC;
}
