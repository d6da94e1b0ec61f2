/*
 * The VM registry (vgpu/registry.h): the entries, the checks of each value,
 * the checks of the whole table, and the mediator's admission rule. The
 * file, read and written, is registry_file.c.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "registry_internal.h"
#include "util.h"
#include "vgpu/proto.h"
#include "vgpu/registry.h"
#include "vgpu/regs.h"
/* ---- Values -------------------------------------------------------------- */

const char *
vgpu_registry_priority_name(uint8_t priority)
{
    const char *name = vgpu_prio_name(priority);

    return name != NULL ? name : "?";
}

int
vgpu_registry_parse_vm_id(const char *s, uint32_t *out, char *why,
                          size_t why_len)
{
    if (vgpu_vm_id_parse(s, strlen(s), out) < 0) {
        vgpu_set_err(why, why_len, "'%s' is not a vm_id (%s)", s,
                     VGPU_VM_ID_SPELLING);
        return -EINVAL;
    }
    return 0;
}

int
vgpu_registry_parse_pct(const char *s, uint8_t *out, char *why, size_t why_len)
{
    uint32_t v = 0;
    int rc = vgpu_parse_u32(s, 1, VGPU_REGISTRY_PCT_MAX, &v, why, why_len);

    if (rc == 0) {
        *out = (uint8_t)v;
    }
    return rc;
}

/* The shares of @pool's entries, with @extra added. */
static uint32_t
reg_pool_shares(const struct vgpu_registry *reg, uint8_t pool, uint32_t extra)
{
    uint32_t sum = extra;

    for (size_t i = 0; i < reg->n; i++) {
        if (reg->v[i].pool == pool) {
            sum += reg->v[i].share;
        }
    }
    return sum;
}

int
vgpu_registry_parse_pool(const char *s, uint8_t *out, char *why, size_t why_len)
{
    if (vgpu_pool_parse(s, strlen(s), 0, out) < 0) {
        vgpu_set_err(why, why_len, "'%s' is not one letter %c-%c", s,
                     VGPU_POOL_FIRST, VGPU_POOL_LAST);
        return -EINVAL;
    }
    return 0;
}

int
vgpu_registry_parse_priority(const char *s, uint8_t *out, char *why,
                             size_t why_len)
{
    if (vgpu_prio_parse(s, strlen(s), VGPU_PARSE_PRIORITY, out) == 0) {
        return 0;
    }
    vgpu_set_err(why, why_len, "'%s' is not one of %s", s, VGPU_PRIO_SPELLINGS);
    return -EINVAL;
}

static int
reg_is_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9');
}

static int
reg_is_hex(char c)
{
    return (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') ||
           (c >= '0' && c <= '9');
}

int
vgpu_registry_check_name(const char *s, char *why, size_t why_len)
{
    size_t len = strlen(s);

    if (len == 0 || len > VGPU_REGISTRY_NAME_MAX || !reg_is_alnum(s[0])) {
        goto bad;
    }
    for (const char *p = s; *p != '\0'; p++) {
        if (!reg_is_alnum(*p) && *p != '.' && *p != '_' && *p != '-') {
            goto bad;
        }
    }
    return 0;

bad:
    vgpu_set_err(why, why_len,
                 "'%s' is not a name of 1..%u letters, digits, '.', '_' or "
                 "'-' starting with a letter or a digit",
                 s, VGPU_REGISTRY_NAME_MAX);
    return -EINVAL;
}

int
vgpu_registry_check_uuid(const char *s, char *why, size_t why_len)
{
    size_t i;

    for (i = 0; s[i] != '\0' && i < VGPU_REGISTRY_UUID_LEN; i++) {
        int dash = i == 8 || i == 13 || i == 18 || i == 23;

        if (dash ? s[i] != '-' : !reg_is_hex(s[i])) {
            break;
        }
    }
    if (i == VGPU_REGISTRY_UUID_LEN && s[i] == '\0') {
        return 0;
    }
    vgpu_set_err(why, why_len,
                 "'%s' is not a uuid (8-4-4-4-12 hexadecimal digits)", s);
    return -EINVAL;
}

/* ---- The registry -------------------------------------------------------- */

struct vgpu_registry *
vgpu_registry_create(void)
{
    return calloc(1, sizeof(struct vgpu_registry));
}

/* The table changed: the sorted views are stale. */
static void
reg_unindex(struct vgpu_registry *reg)
{
    for (int k = 0; k < REG_INDEX_COUNT; k++) {
        free(reg->index[k]);
        free(reg->first[k]);
        reg->index[k] = NULL;
        reg->first[k] = NULL;
        reg->index_len[k] = 0;
    }
    reg->indexed = 0;
}

void
vgpu_registry_destroy(struct vgpu_registry *reg)
{
    if (reg == NULL) {
        return;
    }
    reg_unindex(reg);
    free(reg->v);
    free(reg->path);
    free(reg);
}

size_t
vgpu_registry_count(const struct vgpu_registry *reg)
{
    return reg->n;
}

const struct vgpu_vm_entry *
vgpu_registry_entry(const struct vgpu_registry *reg, size_t i)
{
    return i < reg->n ? &reg->v[i] : NULL;
}

/* ---- The sorted views ---------------------------------------------------- */

/* Compare v[@a]'s key @which with the key of @e; 0 when equal. */
static int
reg_key_cmp(enum reg_index which, const struct vgpu_vm_entry *a,
            const struct vgpu_vm_entry *b)
{
    switch (which) {
    case REG_BY_ID:
        return a->vm_id < b->vm_id ? -1 : a->vm_id > b->vm_id;
    case REG_BY_NAME:
        return strcmp(a->name, b->name);
    case REG_BY_UUID:
        return strcasecmp(a->uuid, b->uuid);
    case REG_INDEX_COUNT:
        break;
    }
    return 0;
}

struct reg_sort {
    const struct vgpu_registry *reg;
    enum reg_index which;
};

static int
reg_sort_cmp(const void *pa, const void *pb, void *arg)
{
    const struct reg_sort *s = arg;
    size_t a = *(const size_t *)pa;
    size_t b = *(const size_t *)pb;
    int c = reg_key_cmp(s->which, &s->reg->v[a], &s->reg->v[b]);

    if (c != 0) {
        return c;
    }
    return a < b ? -1 : a > b;
}

/* Build the three sorted views and, from each, the first entry of every
 * key: in a view sorted by key then position, the first of a run of equal
 * keys is the first entry with that key. Return: 0, or -ENOMEM (lookups
 * scan). */
static int
reg_index_build(struct vgpu_registry *reg)
{
    if (reg->indexed) {
        return 0;
    }
    for (int k = 0; k < REG_INDEX_COUNT; k++) {
        struct reg_sort s = {.reg = reg, .which = (enum reg_index)k};
        size_t *ix = malloc((reg->n ? reg->n : 1) * sizeof(*ix));
        size_t *first = malloc((reg->n ? reg->n : 1) * sizeof(*first));
        size_t len = 0;

        if (ix == NULL || first == NULL) {
            free(ix);
            free(first);
            reg_unindex(reg);
            return -ENOMEM;
        }
        for (size_t i = 0; i < reg->n; i++) {
            if (k != REG_BY_UUID || reg->v[i].uuid[0] != '\0') {
                ix[len++] = i;
            }
        }
        qsort_r(ix, len, sizeof(*ix), reg_sort_cmp, &s);
        for (size_t i = 0; i < reg->n; i++) {
            first[i] = i;
        }
        for (size_t j = 1; j < len; j++) {
            if (reg_key_cmp(s.which, &reg->v[ix[j - 1]], &reg->v[ix[j]]) == 0) {
                first[ix[j]] = first[ix[j - 1]];
            }
        }
        free(reg->index[k]);
        free(reg->first[k]);
        reg->index[k] = ix;
        reg->first[k] = first;
        reg->index_len[k] = len;
    }
    reg->indexed = 1;
    return 0;
}

int
vgpu_registry_index(struct vgpu_registry *reg)
{
    return reg_index_build(reg);
}

/* The first entry (lowest position) whose key @which equals @key's, or
 * NULL: a binary search of the sorted view when the table has one, else a
 * scan (one lookup in a table about to change, as vgpu-admin register-vm
 * makes, costs less than a sort). */
static const struct vgpu_vm_entry *
reg_lookup(const struct vgpu_registry *reg, enum reg_index which,
           const struct vgpu_vm_entry *key)
{
    const size_t *ix;
    size_t lo = 0;
    size_t hi;

    if (!reg->indexed) {
        for (size_t i = 0; i < reg->n; i++) {
            if ((which != REG_BY_UUID || reg->v[i].uuid[0] != '\0') &&
                reg_key_cmp(which, &reg->v[i], key) == 0) {
                return &reg->v[i];
            }
        }
        return NULL;
    }
    ix = reg->index[which];
    hi = reg->index_len[which];
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (reg_key_cmp(which, &reg->v[ix[mid]], key) < 0) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    if (lo < reg->index_len[which] &&
        reg_key_cmp(which, &reg->v[ix[lo]], key) == 0) {
        return &reg->v[ix[lo]];
    }
    return NULL;
}

const struct vgpu_vm_entry *
vgpu_registry_first_dup(const struct vgpu_registry *reg, size_t i,
                        enum reg_index which)
{
    const struct vgpu_vm_entry *first;

    if (which == REG_BY_UUID && reg->v[i].uuid[0] == '\0') {
        return NULL;
    }
    /* The views are a cache, not the table's content: a const table may
     * build them. */
    if (reg_index_build((struct vgpu_registry *)reg) == 0) {
        size_t f = reg->first[which][i];

        return f < i ? &reg->v[f] : NULL;
    }
    first = reg_lookup(reg, which, &reg->v[i]);
    return first != NULL && first < &reg->v[i] ? first : NULL;
}

const struct vgpu_vm_entry *
vgpu_registry_find_id(const struct vgpu_registry *reg, uint32_t vm_id)
{
    struct vgpu_vm_entry key = {.vm_id = vm_id};

    return reg_lookup(reg, REG_BY_ID, &key);
}

const struct vgpu_vm_entry *
vgpu_registry_find_name(const struct vgpu_registry *reg, const char *name)
{
    struct vgpu_vm_entry key;

    if (strlen(name) >= sizeof(key.name)) {
        return NULL;
    }
    strcpy(key.name, name);
    return reg_lookup(reg, REG_BY_NAME, &key);
}

const struct vgpu_vm_entry *
vgpu_registry_find_uuid(const struct vgpu_registry *reg, const char *uuid)
{
    struct vgpu_vm_entry key;

    if (uuid[0] == '\0' || strlen(uuid) >= sizeof(key.uuid)) {
        return NULL;
    }
    strcpy(key.uuid, uuid);
    return reg_lookup(reg, REG_BY_UUID, &key);
}

/* A new zeroed entry at the end. Return: it, or NULL when out of memory. */
struct vgpu_vm_entry *
vgpu_registry_append(struct vgpu_registry *reg)
{
    if (reg->n == reg->cap) {
        size_t cap = reg->cap ? reg->cap * 2 : 8;
        struct vgpu_vm_entry *v = realloc(reg->v, cap * sizeof(*v));

        if (v == NULL) {
            return NULL;
        }
        reg->v = v;
        reg->cap = cap;
    }
    reg_unindex(reg);
    memset(&reg->v[reg->n], 0, sizeof(reg->v[0]));
    return &reg->v[reg->n++];
}

int
vgpu_registry_add(struct vgpu_registry *reg, const struct vgpu_vm_entry *e,
                  char *err, size_t err_len)
{
    const struct vgpu_vm_entry *other;
    struct vgpu_vm_entry *slot;
    char why[192];
    char pool[2] = {(char)e->pool, '\0'};
    uint8_t u8;

    if (memchr(e->name, '\0', sizeof(e->name)) == NULL ||
        vgpu_registry_check_name(e->name, why, sizeof(why)) < 0) {
        vgpu_set_err(err, err_len, "name: %s",
                     memchr(e->name, '\0', sizeof(e->name)) ? why : "too long");
        return -EINVAL;
    }
    if (e->vm_id < VGPU_VM_ID_MIN) {
        vgpu_set_err(err, err_len, "vm_id: '%u' is not a vm_id (%s)",
                     (unsigned)e->vm_id, VGPU_VM_ID_SPELLING);
        return -EINVAL;
    }
    if (vgpu_registry_parse_pool(pool, &u8, why, sizeof(why)) < 0) {
        vgpu_set_err(err, err_len, "pool: %s", why);
        return -EINVAL;
    }
    if (e->priority >= VGPU_PRIO_COUNT) {
        vgpu_set_err(err, err_len, "priority: '%u' is not one of %s",
                     (unsigned)e->priority, VGPU_PRIO_SPELLINGS);
        return -EINVAL;
    }
    if (e->share > VGPU_REGISTRY_PCT_MAX || e->cap > VGPU_REGISTRY_PCT_MAX) {
        vgpu_set_err(
            err, err_len, "%s: '%u' is not an integer in 1..%u",
            e->share > VGPU_REGISTRY_PCT_MAX ? "share" : "cap",
            (unsigned)(e->share > VGPU_REGISTRY_PCT_MAX ? e->share : e->cap),
            VGPU_REGISTRY_PCT_MAX);
        return -EINVAL;
    }
    if (e->share != 0 &&
        reg_pool_shares(reg, e->pool, e->share) > VGPU_REGISTRY_PCT_MAX) {
        vgpu_set_err(err, err_len,
                     "share: %u%% would bring pool %c's shares to %u%% (at "
                     "most %u)",
                     (unsigned)e->share, (char)e->pool,
                     (unsigned)reg_pool_shares(reg, e->pool, e->share),
                     VGPU_REGISTRY_PCT_MAX);
        return -EINVAL;
    }
    if (memchr(e->uuid, '\0', sizeof(e->uuid)) == NULL ||
        (e->uuid[0] != '\0' &&
         vgpu_registry_check_uuid(e->uuid, why, sizeof(why)) < 0)) {
        vgpu_set_err(err, err_len, "uuid: %s",
                     memchr(e->uuid, '\0', sizeof(e->uuid)) ? why : "too long");
        return -EINVAL;
    }
    other = vgpu_registry_find_id(reg, e->vm_id);
    if (other != NULL) {
        vgpu_set_err(err, err_len, "vm_id %u is already registered to '%s'",
                     (unsigned)e->vm_id, other->name);
        return -EEXIST;
    }
    other = vgpu_registry_find_name(reg, e->name);
    if (other != NULL) {
        vgpu_set_err(err, err_len,
                     "a VM named '%s' is already registered (vm_id %u)",
                     e->name, (unsigned)other->vm_id);
        return -EEXIST;
    }
    if (e->uuid[0] != '\0') {
        other = vgpu_registry_find_uuid(reg, e->uuid);
        if (other != NULL) {
            vgpu_set_err(err, err_len,
                         "uuid %s is already registered to '%s' (vm_id %u)",
                         e->uuid, other->name, (unsigned)other->vm_id);
            return -EEXIST;
        }
    }
    slot = vgpu_registry_append(reg);
    if (slot == NULL) {
        vgpu_set_err(err, err_len, "out of memory");
        return -ENOMEM;
    }
    *slot = *e;
    slot->line = 0;
    return 0;
}

int
vgpu_registry_remove(struct vgpu_registry *reg, const char *name)
{
    size_t kept = 0;
    int removed = 0;

    for (size_t i = 0; i < reg->n; i++) {
        if (strcmp(reg->v[i].name, name) == 0) {
            removed++;
            continue;
        }
        reg->v[kept++] = reg->v[i];
    }
    reg->n = kept;
    reg_unindex(reg);
    return removed > 0 ? removed : -ENOENT;
}

/* ---- Checks -------------------------------------------------------------- */

/* "PATH:LINE: " for an entry read from a file, "" for one added. */
static void
reg_where(const struct vgpu_registry *reg, const struct vgpu_vm_entry *e,
          char *buf, size_t len)
{
    if (reg->path != NULL && e->line > 0) {
        snprintf(buf, len, "%s:%d: ", reg->path, e->line);
    } else {
        buf[0] = '\0';
    }
}

/* " (line N)" for an entry read from a file. */
static void
reg_at_line(const struct vgpu_vm_entry *e, char *buf, size_t len)
{
    if (e->line > 0) {
        snprintf(buf, len, " (line %d)", e->line);
    } else {
        buf[0] = '\0';
    }
}

size_t
vgpu_registry_check(const struct vgpu_registry *reg,
                    void (*fn)(void *arg, const char *line), void *arg)
{
    char where[4200];
    char at[32];
    char line[4600];
    size_t problems = 0;

    for (size_t i = 0; i < reg->n; i++) {
        const struct vgpu_vm_entry *e = &reg->v[i];
        const struct vgpu_vm_entry *id =
            vgpu_registry_first_dup(reg, i, REG_BY_ID);
        const struct vgpu_vm_entry *name =
            vgpu_registry_first_dup(reg, i, REG_BY_NAME);
        const struct vgpu_vm_entry *uuid =
            vgpu_registry_first_dup(reg, i, REG_BY_UUID);

        reg_where(reg, e, where, sizeof(where));
        if (id != NULL) {
            reg_at_line(id, at, sizeof(at));
            snprintf(line, sizeof(line),
                     "%svm_id %u of '%s' is also the vm_id of '%s'%s", where,
                     (unsigned)e->vm_id, e->name, id->name, at);
            fn(arg, line);
            problems++;
        }
        if (name != NULL) {
            reg_at_line(name, at, sizeof(at));
            snprintf(line, sizeof(line),
                     "%sname '%s' (vm_id %u) is also the name of vm_id %u%s",
                     where, e->name, (unsigned)e->vm_id, (unsigned)name->vm_id,
                     at);
            fn(arg, line);
            problems++;
        }
        if (uuid != NULL) {
            reg_at_line(uuid, at, sizeof(at));
            snprintf(line, sizeof(line),
                     "%suuid %s of '%s' is also the uuid of '%s'%s", where,
                     e->uuid, e->name, uuid->name, at);
            fn(arg, line);
            problems++;
        }
    }
    for (uint8_t pool = VGPU_POOL_FIRST; pool <= VGPU_POOL_LAST; pool++) {
        uint32_t sum = reg_pool_shares(reg, pool, 0);

        if (sum > VGPU_REGISTRY_PCT_MAX) {
            snprintf(line, sizeof(line),
                     "pool %c: the shares of its VMs add up to %u%% (at most "
                     "%u)",
                     (char)pool, (unsigned)sum, VGPU_REGISTRY_PCT_MAX);
            fn(arg, line);
            problems++;
        }
    }
    return problems;
}

/* "A", or "0x05" for a byte that is not a pool letter. */
static const char *
reg_pool_text(uint8_t pool, char *buf, size_t len)
{
    if (vgpu_pool_valid(pool)) {
        snprintf(buf, len, "%c", (char)pool);
    } else {
        snprintf(buf, len, "0x%02x", (unsigned)pool);
    }
    return buf;
}

int
vgpu_registry_admit(const struct vgpu_registry *reg, uint32_t vm_id,
                    uint8_t pool, uint8_t priority, char *why, size_t why_len)
{
    const struct vgpu_vm_entry *e;
    char got[8];
    char want[8];
    char pbuf[96] = "";
    char qbuf[96] = "";

    if (reg == NULL) {
        return 0;
    }
    e = vgpu_registry_find_id(reg, vm_id);
    if (e == NULL) {
        vgpu_set_err(why, why_len, "vm_id %u is not in the registry",
                     (unsigned)vm_id);
        return VGPU_ERR_REJECTED;
    }
    if (e->pool == pool && e->priority == priority) {
        return 0;
    }
    if (e->pool != pool) {
        snprintf(pbuf, sizeof(pbuf), "pool %s differs from the registry's %s",
                 reg_pool_text(pool, got, sizeof(got)),
                 reg_pool_text(e->pool, want, sizeof(want)));
    }
    if (e->priority != priority) {
        snprintf(
            qbuf, sizeof(qbuf), "%spriority %s differs from the registry's %s",
            pbuf[0] != '\0' ? ", " : "", vgpu_registry_priority_name(priority),
            vgpu_registry_priority_name(e->priority));
    }
    vgpu_set_err(why, why_len, "vm_id %u: %s%s (VM '%s')", (unsigned)vm_id,
                 pbuf, qbuf, e->name);
    return VGPU_ERR_REJECTED;
}

int
vgpu_registry_device_args(const struct vgpu_vm_entry *e, const char *socket,
                          char *buf, size_t len)
{
    int n;

    if (socket != NULL) {
        if (socket[0] == '\0') {
            return -EINVAL;
        }
        for (const char *p = socket; *p != '\0'; p++) {
            if ((unsigned char)*p <= ' ' || (unsigned char)*p >= 0x7f ||
                strchr(",\"'\\`$;&|<>()*?[]{}!", *p) != NULL) {
                return -EINVAL;
            }
        }
    }
    n = snprintf(
        buf, len, "-device vgpu-stub,pool_id=%c,priority=%s,vm_id=%u%s%s",
        (char)e->pool, vgpu_registry_priority_name(e->priority),
        (unsigned)e->vm_id, socket ? ",socket=" : "", socket ? socket : "");
    return n < 0 || (size_t)n >= len ? -ENOSPC : 0;
}
