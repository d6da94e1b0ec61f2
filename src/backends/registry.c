/*
 * The table of backends this build has, searched by name: the CPU backend,
 * and the CUDA backend when the build has it (VGPU_HAVE_CUDA, set by CMake
 * on the vgpu_backends library that holds this file and links both).
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

/* The longest backend name vgpu_backend_probe() looks up. */
#define REGISTRY_NAME_MAX 64u

static const struct vgpu_backend_ops *const registry_backends[] = {
    &vgpu_backend_cpu,
#ifdef VGPU_HAVE_CUDA
    &vgpu_backend_cuda,
#endif
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
vgpu_backend_probe(const char *str, char *why, size_t why_len)
{
    const struct vgpu_backend_ops *b = NULL;
    const char *colon;
    char name[REGISTRY_NAME_MAX];
    size_t len;

    if (why != NULL && why_len > 0) {
        why[0] = '\0';
    }
    if (str == NULL) {
        vgpu_set_err(why, why_len, "no backend named");
        return -ENOENT;
    }
    colon = strchr(str, ':');
    len = colon != NULL ? (size_t)(colon - str) : strlen(str);
    if (len < sizeof(name)) {
        memcpy(name, str, len);
        name[len] = '\0';
        b = vgpu_backend_find(name);
    }
    if (b == NULL) {
        vgpu_set_err(why, why_len, "this build has no '%.*s' backend", (int)len,
                     str);
        return -ENOENT;
    }
    if (b->probe == NULL) {
        return 0;
    }
    return b->probe(colon != NULL ? colon + 1 : "", why, why_len);
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
