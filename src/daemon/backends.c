/*
 * The daemon and the backends of this build (backends.h): the --backends
 * listing and the CUDA fallback at start. Both rest on vgpu_backend_find()
 * and vgpu_backend_probe(), so they need no CUDA header and work the same in
 * builds with and without the CUDA backend.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends.h"
#include "vgpu/backend.h"

/* What to do to get a backend this build lacks. */
#define BACKENDS_CUDA_HINT "configure with -DVGPU_WITH_CUDA=ON"

/* The backend strings of a configuration: one per pool, then the default. */
#define BACKENDS_SLOTS (VGPU_POOL_COUNT + 1u)

#define BACKENDS_REASON_MAX  256u
#define BACKENDS_WHO_MAX     32u
#define BACKENDS_MEMBERS_MAX (BACKENDS_SLOTS * 24u)

/* Every backend the project has, built here or not, in --backends order. */
static const char *const backends_names[] = {
    VGPU_BACKEND_CPU_NAME,
    VGPU_BACKEND_CUDA_NAME,
};

/* The backend strings that fell back for the same reason, as the start
 * line spells pools: "A=cuda B=cuda:1 default=cuda". */
struct backends_group {
    char reason[BACKENDS_REASON_MAX];
    char members[BACKENDS_MEMBERS_MAX];
};

int
vgpu_backends_report(FILE *out)
{
    char why[BACKENDS_REASON_MAX];

    for (size_t i = 0; i < sizeof(backends_names) / sizeof(backends_names[0]);
         i++) {
        const char *name = backends_names[i];

        if (vgpu_backend_find(name) == NULL) {
            fprintf(out, "%s: not built (%s)\n", name, BACKENDS_CUDA_HINT);
        } else if (vgpu_backend_probe(name, why, sizeof(why)) == 0) {
            fprintf(out, "%s: built, usable%s%s\n", name, why[0] ? ": " : "",
                    why);
        } else {
            fprintf(out, "%s: built, not usable: %s\n", name, why);
        }
    }
    return fflush(out) == 0 && !ferror(out) ? 0 : -EIO;
}

/* "cuda" or "cuda:<spec>". */
int
vgpu_backends_list_item(const char *list, size_t index, char *buf, size_t len)
{
    const char *p = list;
    size_t n;

    for (size_t i = 0; i < index; i++) {
        p = strchr(p, ',');
        if (p == NULL) {
            return -ENOENT;
        }
        p++;
    }
    n = strcspn(p, ",");
    if (n >= len) {
        return -ENAMETOOLONG;
    }
    memcpy(buf, p, n);
    buf[n] = '\0';
    return 0;
}

/* Whether some item of the list @str names the cuda backend. */
static int
backends_is_cuda(const char *str)
{
    size_t len = strlen(VGPU_BACKEND_CUDA_NAME);
    char item[VGPU_BACKENDS_ITEM_MAX];

    for (size_t i = 0;
         vgpu_backends_list_item(str, i, item, sizeof(item)) != -ENOENT; i++) {
        if (strncmp(item, VGPU_BACKEND_CUDA_NAME, len) == 0 &&
            (item[len] == '\0' || item[len] == ':')) {
            return 1;
        }
    }
    return 0;
}

int
vgpu_backends_list_each(const char *list,
                        int (*fn)(const char *item, char *why, size_t why_len),
                        char *why, size_t why_len)
{
    char item[VGPU_BACKENDS_ITEM_MAX];
    int rc = 0;

    for (size_t i = 0; rc == 0 && vgpu_backends_list_item(
                                      list, i, item, sizeof(item)) != -ENOENT;
         i++) {
        rc = fn(item, why, why_len);
    }
    return rc;
}

/* "pool A" or "default backend", for messages. */
static void
backends_slot_name(size_t slot, char *buf, size_t len)
{
    if (slot < VGPU_POOL_COUNT) {
        snprintf(buf, len, "pool %c", (char)(VGPU_POOL_FIRST + slot));
    } else {
        snprintf(buf, len, "default backend");
    }
}

/* The one log line about every group:
 * "cuda not usable, running on cpu instead (cuda_fallback = cpu): A=cuda
 * default=cuda: <reason>; B=cuda:1: <reason>" */
static void
backends_note(const struct backends_group *groups, size_t count, char *note,
              size_t note_len)
{
    size_t off = 0;
    int n;

    n = snprintf(note, note_len,
                 "cuda not usable, running on cpu instead (cuda_fallback = "
                 "cpu): ");
    for (size_t i = 0; n >= 0 && i < count; i++) {
        off += (size_t)n;
        if (off >= note_len) {
            return;
        }
        n = snprintf(note + off, note_len - off, "%s%s: %s", i > 0 ? "; " : "",
                     groups[i].members, groups[i].reason);
    }
}

/* Add @str of @slot to the group of @reason, made if new. */
static void
backends_group_add(struct backends_group *groups, size_t *count,
                   const char *reason, size_t slot, const char *str)
{
    struct backends_group *g = NULL;
    size_t used;

    for (size_t i = 0; i < *count && g == NULL; i++) {
        if (strcmp(groups[i].reason, reason) == 0) {
            g = &groups[i];
        }
    }
    if (g == NULL) {
        g = &groups[(*count)++];
        snprintf(g->reason, sizeof(g->reason), "%s", reason);
    }
    used = strlen(g->members);
    if (slot < VGPU_POOL_COUNT) {
        snprintf(g->members + used, sizeof(g->members) - used, "%s%c=%s",
                 used > 0 ? " " : "", (char)(VGPU_POOL_FIRST + slot), str);
    } else {
        snprintf(g->members + used, sizeof(g->members) - used, "%sdefault=%s",
                 used > 0 ? " " : "", str);
    }
}

int
vgpu_backends_apply_fallback(struct vgpu_daemon_config *cfg, char *note,
                             size_t note_len, char *err, size_t err_len)
{
    struct backends_group *groups;
    char why[BACKENDS_REASON_MAX];
    char who[BACKENDS_WHO_MAX];
    size_t count = 0;
    int rc = 0;

    if (note_len > 0) {
        note[0] = '\0';
    }
    groups = calloc(BACKENDS_SLOTS, sizeof(*groups));
    if (groups == NULL) {
        snprintf(err, err_len, "out of memory");
        return -ENOMEM;
    }
    for (size_t slot = 0; slot < BACKENDS_SLOTS; slot++) {
        char **str = slot < VGPU_POOL_COUNT ? &cfg->pool_backend[slot]
                                            : &cfg->default_backend;
        char *cpu;

        if (*str == NULL || !backends_is_cuda(*str)) {
            continue;
        }
        rc =
            vgpu_backends_list_each(*str, vgpu_backend_probe, why, sizeof(why));
        if (rc == 0) {
            continue;
        }
        backends_slot_name(slot, who, sizeof(who));
        if (rc == -ENOENT) {
            snprintf(why, sizeof(why), "this build has no CUDA backend (%s)",
                     BACKENDS_CUDA_HINT);
        } else if (rc != -ENODEV) {
            snprintf(err, err_len, "%s: backend '%s': %s", who, *str, why);
            goto out;
        }
        if (cfg->cuda_fallback == VGPU_CONFIG_CUDA_FALLBACK_FAIL) {
            snprintf(err, err_len,
                     "%s: backend '%s': cuda not usable: %s (cuda_fallback = "
                     "fail)",
                     who, *str, why);
            rc = -ENODEV;
            goto out;
        }
        cpu = strdup(VGPU_BACKEND_CPU_NAME);
        if (cpu == NULL) {
            snprintf(err, err_len, "out of memory");
            rc = -ENOMEM;
            goto out;
        }
        backends_group_add(groups, &count, why, slot, *str);
        free(*str);
        *str = cpu;
    }
    rc = 0;
    if (count > 0) {
        backends_note(groups, count, note, note_len);
    }

out:
    free(groups);
    return rc;
}
