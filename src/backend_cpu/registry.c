/*
 * The table of backends this build has, searched by name. For now only the
 * CPU backend; the CUDA backend joins it when VGPU_WITH_CUDA builds it (the
 * lookup then moves next to the mediator, which links both).
 */
#include <stddef.h>
#include <string.h>

#include "vgpu/backend.h"

static const struct vgpu_backend_ops *const registry_backends[] = {
    &vgpu_backend_cpu,
};

const struct vgpu_backend_ops *
vgpu_backend_find(const char *name)
{
    size_t count = sizeof(registry_backends) / sizeof(registry_backends[0]);

    if (name == NULL) {
        return NULL;
    }
    for (size_t i = 0; i < count; i++) {
        if (strcmp(registry_backends[i]->name, name) == 0) {
            return registry_backends[i];
        }
    }
    return NULL;
}
