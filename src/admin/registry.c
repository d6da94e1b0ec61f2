/*
 * The VM registry (vgpu/registry.h): the INI file, its checks, its atomic
 * rewrite under a lock, and the mediator's admission rule.
 *
 * libinih hands its handler neither a line number nor the sections that have
 * no keys, so the file is fed to ini_parse_stream() through a reader that
 * counts lines and reads each section header itself (as config.c does for
 * the daemon's file): inih calls the reader once per line and the handler
 * right after, so the count is the handler's line, and the reader's own view
 * of the header decides which entry the next keys belong to. The reader
 * stops the parse at the first error, so the message is about the first bad
 * line.
 */
#include <errno.h>
#include <fcntl.h>
#include <ini.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vgpu/proto.h"
#include "vgpu/registry.h"
#include "vgpu/regs.h"

/* A VM's section is [vm "NAME"]. */
#define REG_SECTION_OPEN  "vm \""
#define REG_SECTION_CLOSE "\""

#define REG_TMP_SUFFIX    ".tmp.XXXXXX"
#define REG_UTF8_BOM      "\xEF\xBB\xBF"
#define REG_NEW_FILE_MODE 0644
#define REG_MAX_ID        UINT32_MAX

struct vgpu_registry {
    struct vgpu_vm_entry *v;
    size_t n;
    size_t cap;
    char *path; /* the file loaded, for messages; NULL when created */
};

enum reg_key {
    REG_KEY_VM_ID,
    REG_KEY_POOL,
    REG_KEY_PRIORITY,
    REG_KEY_UUID,
    REG_KEY_COUNT
};

static const char *const reg_key_names[REG_KEY_COUNT] = {
    [REG_KEY_VM_ID] = "vm_id",
    [REG_KEY_POOL] = "pool",
    [REG_KEY_PRIORITY] = "priority",
    [REG_KEY_UUID] = "uuid",
};

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
    uint64_t v = 0;

    if (*s == '\0') {
        goto bad;
    }
    for (const char *p = s; *p != '\0'; p++) {
        if (*p < '0' || *p > '9') {
            goto bad;
        }
        v = v * 10 + (uint64_t)(*p - '0');
        if (v > REG_MAX_ID) {
            goto bad;
        }
    }
    if (v < VGPU_VM_ID_MIN) {
        goto bad;
    }
    *out = (uint32_t)v;
    return 0;

bad:
    vgpu_set_err(why, why_len, "'%s' is not an integer in %u..%u", s,
                 VGPU_VM_ID_MIN, (unsigned)REG_MAX_ID);
    return -EINVAL;
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
    if (vgpu_prio_parse(s, strlen(s), 0, out) == 0) {
        return 0;
    }
    vgpu_set_err(why, why_len, "'%s' is not one of %s, %s, %s", s,
                 vgpu_prio_name(VGPU_PRIO_LOW),
                 vgpu_prio_name(VGPU_PRIO_MEDIUM),
                 vgpu_prio_name(VGPU_PRIO_HIGH));
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

void
vgpu_registry_destroy(struct vgpu_registry *reg)
{
    if (reg == NULL) {
        return;
    }
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

const struct vgpu_vm_entry *
vgpu_registry_find_id(const struct vgpu_registry *reg, uint32_t vm_id)
{
    for (size_t i = 0; i < reg->n; i++) {
        if (reg->v[i].vm_id == vm_id) {
            return &reg->v[i];
        }
    }
    return NULL;
}

const struct vgpu_vm_entry *
vgpu_registry_find_name(const struct vgpu_registry *reg, const char *name)
{
    for (size_t i = 0; i < reg->n; i++) {
        if (strcmp(reg->v[i].name, name) == 0) {
            return &reg->v[i];
        }
    }
    return NULL;
}

static const struct vgpu_vm_entry *
reg_find_uuid(const struct vgpu_registry *reg, const char *uuid)
{
    for (size_t i = 0; i < reg->n; i++) {
        if (reg->v[i].uuid[0] != '\0' &&
            strcasecmp(reg->v[i].uuid, uuid) == 0) {
            return &reg->v[i];
        }
    }
    return NULL;
}

/* A new zeroed entry at the end. Return: it, or NULL when out of memory. */
static struct vgpu_vm_entry *
reg_append(struct vgpu_registry *reg)
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
        vgpu_set_err(err, err_len, "vm_id: '%u' is not an integer in %u..%u",
                     (unsigned)e->vm_id, VGPU_VM_ID_MIN, (unsigned)REG_MAX_ID);
        return -EINVAL;
    }
    if (vgpu_registry_parse_pool(pool, &u8, why, sizeof(why)) < 0) {
        vgpu_set_err(err, err_len, "pool: %s", why);
        return -EINVAL;
    }
    if (e->priority >= VGPU_PRIO_COUNT) {
        vgpu_set_err(err, err_len, "priority: '%u' is not one of %s, %s, %s",
                     (unsigned)e->priority, vgpu_prio_name(VGPU_PRIO_LOW),
                     vgpu_prio_name(VGPU_PRIO_MEDIUM),
                     vgpu_prio_name(VGPU_PRIO_HIGH));
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
        other = reg_find_uuid(reg, e->uuid);
        if (other != NULL) {
            vgpu_set_err(err, err_len,
                         "uuid %s is already registered to '%s' (vm_id %u)",
                         e->uuid, other->name, (unsigned)other->vm_id);
            return -EEXIST;
        }
    }
    slot = reg_append(reg);
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
    return removed > 0 ? removed : -ENOENT;
}

/* ---- Reading the file ---------------------------------------------------- */

struct reg_ini {
    struct vgpu_registry *reg;
    const char *path;
    FILE *file;
    unsigned flags;
    int lineno;   /* of the line inih works on */
    int rc;       /* our first error, 0 if none */
    int err_line; /* its line */
    char *err;
    size_t err_len;
    int in_section;              /* the last entry is the open section */
    int key_line[REG_KEY_COUNT]; /* where each key of it was, 0: not yet */
};

static void reg_fail(struct reg_ini *ini, int rc, int line, const char *fmt,
                     ...) __attribute__((format(printf, 4, 5)));

/* Keep the first error: "PATH:LINE: " + the formatted text. */
static void
reg_fail(struct reg_ini *ini, int rc, int line, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (ini->rc != 0) {
        return;
    }
    ini->rc = rc;
    ini->err_line = line;
    n = snprintf(ini->err, ini->err_len, "%s:%d: ", ini->path, line);
    if (n < 0 || (size_t)n >= ini->err_len) {
        return;
    }
    va_start(ap, fmt);
    vsnprintf(ini->err + n, ini->err_len - (size_t)n, fmt, ap);
    va_end(ap);
}

static struct vgpu_vm_entry *
reg_ini_current(struct reg_ini *ini)
{
    return &ini->reg->v[ini->reg->n - 1];
}

/* The open section is complete: each required key was given. */
static void
reg_ini_end_section(struct reg_ini *ini)
{
    static const enum reg_key required[] = {REG_KEY_VM_ID, REG_KEY_POOL,
                                            REG_KEY_PRIORITY};
    struct vgpu_vm_entry *e;

    if (!ini->in_section) {
        return;
    }
    ini->in_section = 0;
    e = reg_ini_current(ini);
    for (size_t i = 0; i < sizeof(required) / sizeof(required[0]); i++) {
        if (ini->key_line[required[i]] == 0) {
            reg_fail(ini, -EINVAL, e->line, "[vm \"%s\"]: %s is missing",
                     e->name, reg_key_names[required[i]]);
            return;
        }
    }
}

/* A line that starts with '[': a new section, which must be [vm "NAME"]. */
static void
reg_ini_section(struct reg_ini *ini, const char *p)
{
    const char *end = strchr(p + 1, ']');
    const char *inner = p + 1;
    const size_t open = strlen(REG_SECTION_OPEN);
    const size_t close = strlen(REG_SECTION_CLOSE);
    const struct vgpu_vm_entry *other;
    struct vgpu_vm_entry *e;
    char name[VGPU_REGISTRY_NAME_MAX + 2];
    char why[192];
    size_t inner_len;
    size_t name_len;
    const char *q;

    reg_ini_end_section(ini);
    if (ini->rc != 0) {
        return;
    }
    if (end == NULL) {
        reg_fail(ini, -EINVAL, ini->lineno,
                 "'[' without ']' (a VM's section is [vm \"NAME\"])");
        return;
    }
    q = end + 1 + strspn(end + 1, " \t\r\n");
    if (*q != '\0' && *q != ';' && *q != '#') {
        reg_fail(ini, -EINVAL, ini->lineno, "text after ']': '%.*s'",
                 (int)strcspn(q, "\r\n"), q);
        return;
    }
    inner_len = (size_t)(end - inner);
    if (inner_len < open + close ||
        strncmp(inner, REG_SECTION_OPEN, open) != 0 ||
        strncmp(end - close, REG_SECTION_CLOSE, close) != 0) {
        reg_fail(ini, -EINVAL, ini->lineno,
                 "unknown section [%.*s] (a VM's section is [vm \"NAME\"])",
                 (int)inner_len, inner);
        return;
    }
    name_len = inner_len - open - close;
    if (name_len > VGPU_REGISTRY_NAME_MAX) {
        name_len = VGPU_REGISTRY_NAME_MAX + 1; /* check_name says why */
    }
    memcpy(name, inner + open, name_len);
    name[name_len] = '\0';
    if (vgpu_registry_check_name(name, why, sizeof(why)) < 0) {
        reg_fail(ini, -EINVAL, ini->lineno, "[%.*s]: %s", (int)inner_len, inner,
                 why);
        return;
    }
    other = vgpu_registry_find_name(ini->reg, name);
    if (other != NULL && !(ini->flags & VGPU_REGISTRY_ALLOW_DUPS)) {
        reg_fail(ini, -EINVAL, ini->lineno,
                 "[vm \"%s\"] is already defined at line %d (names are "
                 "unique)",
                 name, other->line);
        return;
    }
    e = reg_append(ini->reg);
    if (e == NULL) {
        reg_fail(ini, -ENOMEM, ini->lineno, "out of memory");
        return;
    }
    memcpy(e->name, name, name_len + 1);
    e->line = ini->lineno;
    ini->in_section = 1;
    memset(ini->key_line, 0, sizeof(ini->key_line));
}

/* inih's reader: fgets() plus the line count, the section headers and the
 * refusal of indented lines. Returns NULL (the end) after an error. */
static char *
reg_ini_read(char *str, int num, void *stream)
{
    struct reg_ini *ini = stream;
    const char *p;
    size_t len;

    if (ini->rc != 0 || fgets(str, num, ini->file) == NULL) {
        return NULL;
    }
    ini->lineno++;
    len = strlen(str);
    if (len > 0 && str[len - 1] != '\n' && !feof(ini->file)) {
        reg_fail(ini, -EINVAL, ini->lineno, "line is longer than %d characters",
                 num - 2);
        return NULL;
    }
    p = str;
    if (ini->lineno == 1 &&
        strncmp(p, REG_UTF8_BOM, strlen(REG_UTF8_BOM)) == 0) {
        p += strlen(REG_UTF8_BOM);
    }
    if (*p == ' ' || *p == '\t') {
        const char *q = p + strspn(p, " \t\r\n");

        if (*q != '\0' && *q != ';' && *q != '#') {
            reg_fail(ini, -EINVAL, ini->lineno,
                     "indented line '%.*s' (inih would read it as the rest "
                     "of the previous value): start it at column 1",
                     (int)strcspn(q, "\r\n"), q);
            return NULL;
        }
    } else if (*p == '[') {
        reg_ini_section(ini, p);
    }
    return ini->rc != 0 ? NULL : str;
}

static int
reg_ini_handler(void *user, const char *section, const char *name,
                const char *value)
{
    struct reg_ini *ini = user;
    const struct vgpu_vm_entry *other = NULL;
    struct vgpu_vm_entry *e;
    int dups = (ini->flags & VGPU_REGISTRY_ALLOW_DUPS) != 0;
    char why[192];
    int k;
    int rc = 0;

    if (ini->rc != 0) {
        return 0;
    }
    if (!ini->in_section) {
        reg_fail(ini, -EINVAL, ini->lineno,
                 "key '%s' is outside any section (start with [vm \"NAME\"])",
                 name);
        return 0;
    }
    e = reg_ini_current(ini);
    for (k = 0; k < REG_KEY_COUNT; k++) {
        if (strcmp(name, reg_key_names[k]) == 0) {
            break;
        }
    }
    if (k == REG_KEY_COUNT) {
        reg_fail(ini, -EINVAL, ini->lineno,
                 "unknown key '%s' in [vm \"%s\"] (keys: %s, %s, %s, %s)", name,
                 e->name, reg_key_names[REG_KEY_VM_ID],
                 reg_key_names[REG_KEY_POOL], reg_key_names[REG_KEY_PRIORITY],
                 reg_key_names[REG_KEY_UUID]);
        return 0;
    }
    if (ini->key_line[k] != 0) {
        reg_fail(ini, -EINVAL, ini->lineno,
                 "%s: given twice in [vm \"%s\"] (first at line %d)", name,
                 e->name, ini->key_line[k]);
        return 0;
    }
    ini->key_line[k] = ini->lineno;
    /* The entry being filled is the last one: the duplicate checks look at
     * the entries before it. */
    ini->reg->n--;
    switch ((enum reg_key)k) {
    case REG_KEY_VM_ID:
        rc = vgpu_registry_parse_vm_id(value, &e->vm_id, why, sizeof(why));
        if (rc == 0 && !dups) {
            other = vgpu_registry_find_id(ini->reg, e->vm_id);
        }
        break;
    case REG_KEY_POOL:
        rc = vgpu_registry_parse_pool(value, &e->pool, why, sizeof(why));
        break;
    case REG_KEY_PRIORITY:
        rc =
            vgpu_registry_parse_priority(value, &e->priority, why, sizeof(why));
        break;
    case REG_KEY_UUID:
        rc = vgpu_registry_check_uuid(value, why, sizeof(why));
        if (rc == 0) {
            memcpy(e->uuid, value, VGPU_REGISTRY_UUID_LEN + 1);
            if (!dups) {
                other = reg_find_uuid(ini->reg, e->uuid);
            }
        }
        break;
    case REG_KEY_COUNT:
        break;
    }
    ini->reg->n++;
    if (rc < 0) {
        reg_fail(ini, rc, ini->lineno, "%s: %s", name, why);
        return 0;
    }
    if (other != NULL) {
        reg_fail(ini, -EINVAL, ini->lineno,
                 "%s: '%s' is already the %s of '%s' (line %d)", name, value,
                 name, other->name, other->line);
        return 0;
    }
    return 1;
}

static int
reg_load(const char *path, unsigned flags, struct vgpu_registry **out,
         char *err, size_t err_len)
{
    struct reg_ini ini = {
        .path = path, .flags = flags, .err = err, .err_len = err_len};
    int rc;

    ini.reg = vgpu_registry_create();
    if (ini.reg == NULL) {
        vgpu_set_err(err, err_len, "%s: out of memory", path);
        return -ENOMEM;
    }
    ini.reg->path = strdup(path);
    if (ini.reg->path == NULL) {
        vgpu_set_err(err, err_len, "%s: out of memory", path);
        rc = -ENOMEM;
        goto err;
    }
    ini.file = fopen(path, "re");
    if (ini.file == NULL) {
        rc = -errno;
        if (rc == -ENOENT && (flags & VGPU_REGISTRY_MISSING_OK)) {
            *out = ini.reg;
            return 0;
        }
        vgpu_set_err(err, err_len, "%s: cannot read: %s", path, strerror(-rc));
        rc = rc == -ENOMEM ? rc : -EINVAL;
        goto err;
    }
    rc = ini_parse_stream(reg_ini_read, &ini, reg_ini_handler, &ini);
    if (ini.rc == 0 && rc == 0) {
        reg_ini_end_section(&ini);
    }
    fclose(ini.file);
    if (rc > 0 && (ini.rc == 0 || rc < ini.err_line)) {
        vgpu_set_err(err, err_len,
                     "%s:%d: syntax error (expected [vm \"NAME\"] or key = "
                     "value)",
                     path, rc);
        rc = -EINVAL;
        goto err;
    }
    if (ini.rc != 0) {
        rc = ini.rc;
        goto err;
    }
    if (rc < 0) {
        vgpu_set_err(err, err_len, "%s: out of memory", path);
        rc = -ENOMEM;
        goto err;
    }
    *out = ini.reg;
    return 0;

err:
    vgpu_registry_destroy(ini.reg);
    return rc;
}

struct vgpu_registry *
vgpu_registry_load(const char *path, unsigned flags, char *err, size_t err_len)
{
    struct vgpu_registry *reg = NULL;

    if (reg_load(path, flags, &reg, err, err_len) < 0) {
        return NULL;
    }
    return reg;
}

/* ---- Writing the file ---------------------------------------------------- */

/* The file's text, in a malloc'ed buffer. */
static int
reg_format(const struct vgpu_registry *reg, char **text, size_t *len)
{
    FILE *f = open_memstream(text, len);

    if (f == NULL) {
        return -ENOMEM;
    }
    fprintf(f, "# The vgpu-stub VM registry (docs/admin-guide.md): one [vm "
               "\"NAME\"] section\n"
               "# per VM. Written by vgpu-admin, which keeps no comments; a "
               "running\n"
               "# vgpu-mediator --registry reads it again on SIGHUP.\n");
    for (size_t i = 0; i < reg->n; i++) {
        const struct vgpu_vm_entry *e = &reg->v[i];

        fprintf(f, "\n[vm \"%s\"]\nvm_id = %u\npool = %c\npriority = %s\n",
                e->name, (unsigned)e->vm_id, (char)e->pool,
                vgpu_registry_priority_name(e->priority));
        if (e->uuid[0] != '\0') {
            fprintf(f, "uuid = %s\n", e->uuid);
        }
    }
    if (fclose(f) != 0) {
        free(*text);
        *text = NULL;
        return -ENOMEM;
    }
    return 0;
}

static int
reg_write_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, buf, len);

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            return -errno;
        }
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

/* fsync the directory of @path so that the rename is on disk. Best effort:
 * the new file is in place either way. */
static void
reg_sync_dir(const char *path)
{
    const char *slash = strrchr(path, '/');
    char *dir;
    int fd;

    if (slash == NULL) {
        dir = strdup(".");
    } else {
        dir = strndup(path, slash == path ? 1 : (size_t)(slash - path));
    }
    if (dir == NULL) {
        return;
    }
    fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
    free(dir);
}

int
vgpu_registry_save(const struct vgpu_registry *reg, const char *path, char *err,
                   size_t err_len)
{
    char *text = NULL;
    char *tmp = NULL;
    size_t len = 0;
    struct stat st;
    int fd = -1;
    int rc;

    rc = reg_format(reg, &text, &len);
    if (rc < 0) {
        vgpu_set_err(err, err_len, "%s: out of memory", path);
        return rc;
    }
    tmp = malloc(strlen(path) + sizeof(REG_TMP_SUFFIX));
    if (tmp == NULL) {
        vgpu_set_err(err, err_len, "%s: out of memory", path);
        rc = -ENOMEM;
        goto err_text;
    }
    sprintf(tmp, "%s%s", path, REG_TMP_SUFFIX);
    fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0) {
        rc = -errno;
        vgpu_set_err(err, err_len, "%s: cannot create a file beside it: %s",
                     path, strerror(-rc));
        goto err_tmp;
    }
    if (stat(path, &st) == 0) {
        /* Keep the mode and the owner of the file replaced (its group
         * lets the mediator read it); a non-root caller keeps its own. */
        (void)fchmod(fd, st.st_mode & 07777);
        if (fchown(fd, st.st_uid, st.st_gid) < 0) {
            /* Not root: the file becomes the caller's, as any edit would. */
        }
    } else {
        (void)fchmod(fd, REG_NEW_FILE_MODE);
    }
    rc = reg_write_all(fd, text, len);
    if (rc == 0 && fsync(fd) < 0) {
        rc = -errno;
    }
    if (rc < 0) {
        vgpu_set_err(err, err_len, "%s: cannot write: %s", tmp, strerror(-rc));
        goto err_unlink;
    }
    rc = close(fd);
    fd = -1;
    if (rc < 0) {
        rc = -errno;
        vgpu_set_err(err, err_len, "%s: cannot write: %s", tmp, strerror(-rc));
        goto err_unlink;
    }
    if (rename(tmp, path) < 0) {
        rc = -errno;
        vgpu_set_err(err, err_len, "%s: cannot replace it: %s", path,
                     strerror(-rc));
        goto err_unlink;
    }
    reg_sync_dir(path);
    free(tmp);
    free(text);
    return 0;

err_unlink:
    if (fd >= 0) {
        close(fd);
    }
    unlink(tmp);
err_tmp:
    free(tmp);
err_text:
    free(text);
    return rc;
}

int
vgpu_registry_lock(const char *path, char *err, size_t err_len)
{
    char *lock = malloc(strlen(path) + sizeof(VGPU_REGISTRY_LOCK_SUFFIX));
    int fd;
    int rc;

    if (lock == NULL) {
        vgpu_set_err(err, err_len, "out of memory");
        return -ENOMEM;
    }
    sprintf(lock, "%s%s", path, VGPU_REGISTRY_LOCK_SUFFIX);
    fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, REG_NEW_FILE_MODE);
    if (fd < 0) {
        rc = -errno;
        vgpu_set_err(err, err_len, "%s: cannot open the lock file: %s", lock,
                     strerror(-rc));
        goto err;
    }
    while (flock(fd, LOCK_EX) < 0) {
        if (errno == EINTR) {
            continue;
        }
        rc = -errno;
        vgpu_set_err(err, err_len, "%s: cannot lock: %s", lock, strerror(-rc));
        close(fd);
        goto err;
    }
    free(lock);
    return fd;

err:
    free(lock);
    return rc;
}

void
vgpu_registry_unlock(int lock_fd)
{
    if (lock_fd >= 0) {
        /* Closing the only descriptor of the open file releases the lock. */
        close(lock_fd);
    }
}

int
vgpu_registry_update(const char *path, vgpu_registry_edit_fn edit, void *arg,
                     char *err, size_t err_len)
{
    struct vgpu_registry *reg = NULL;
    int lock;
    int rc;

    lock = vgpu_registry_lock(path, err, err_len);
    if (lock < 0) {
        return lock;
    }
    rc = reg_load(path, VGPU_REGISTRY_MISSING_OK | VGPU_REGISTRY_ALLOW_DUPS,
                  &reg, err, err_len);
    if (rc < 0) {
        goto err;
    }
    rc = edit(reg, arg, err, err_len);
    if (rc == 0) {
        rc = vgpu_registry_save(reg, path, err, err_len);
    }
    vgpu_registry_destroy(reg);
err:
    vgpu_registry_unlock(lock);
    return rc;
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
        const struct vgpu_vm_entry *id = NULL;
        const struct vgpu_vm_entry *name = NULL;
        const struct vgpu_vm_entry *uuid = NULL;

        for (size_t j = 0; j < i; j++) {
            const struct vgpu_vm_entry *o = &reg->v[j];

            if (id == NULL && o->vm_id == e->vm_id) {
                id = o;
            }
            if (name == NULL && strcmp(o->name, e->name) == 0) {
                name = o;
            }
            if (uuid == NULL && e->uuid[0] != '\0' &&
                strcasecmp(o->uuid, e->uuid) == 0) {
                uuid = o;
            }
        }
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
