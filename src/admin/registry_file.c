/*
 * The VM registry's file (vgpu/registry.h): reading the INI file, and its
 * atomic rewrite under a lock.
 *
 * The file is read with the one INI reader of src/util (util.h); the
 * duplicates (a name, vm_id or uuid given twice) are found once it is read,
 * through the registry's sorted views, so a load costs O(n log n).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "registry_internal.h"
#include "util.h"

/* A VM's section is [vm "NAME"]. */
#define REG_SECTION_OPEN  "vm \""
#define REG_SECTION_CLOSE "\""

#define REG_TMP_SUFFIX    ".tmp.XXXXXX"
#define REG_NEW_FILE_MODE 0644

enum reg_key {
    REG_KEY_VM_ID,
    REG_KEY_POOL,
    REG_KEY_PRIORITY,
    REG_KEY_UUID,
    REG_KEY_SHARE,
    REG_KEY_CAP,
    REG_KEY_COUNT
};

static const char *const reg_key_names[REG_KEY_COUNT] = {
    [REG_KEY_VM_ID] = "vm_id",       [REG_KEY_POOL] = "pool",
    [REG_KEY_PRIORITY] = "priority", [REG_KEY_UUID] = "uuid",
    [REG_KEY_SHARE] = "share",       [REG_KEY_CAP] = "cap",
};

/* ---- Reading the file ---------------------------------------------------- */

/* Where an entry's keys were, for the messages about duplicates, which are
 * found once the whole file is read. */
struct reg_lines {
    int vm_id;
    int uuid;
};

struct reg_ini {
    struct vgpu_registry *reg;
    const char *path;
    unsigned flags;
    int rc;       /* our first error, 0 if none */
    int err_line; /* its line */
    char *err;
    size_t err_len;
    int in_section;              /* the last entry is the open section */
    int key_line[REG_KEY_COUNT]; /* where each key of it was, 0: not yet */
    struct reg_lines *lines;     /* one per entry */
    size_t lines_cap;
};

static int reg_fail(struct reg_ini *ini, int rc, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Keep the error of the smallest line: "PATH:LINE: " + the formatted text.
 * Return: the error kept. */
static int
reg_fail(struct reg_ini *ini, int rc, int line, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (ini->rc != 0 && ini->err_line <= line) {
        return ini->rc;
    }
    ini->rc = rc;
    ini->err_line = line;
    n = snprintf(ini->err, ini->err_len, "%s:%d: ", ini->path, line);
    if (n < 0 || (size_t)n >= ini->err_len) {
        return rc;
    }
    va_start(ap, fmt);
    vsnprintf(ini->err + n, ini->err_len - (size_t)n, fmt, ap);
    va_end(ap);
    return rc;
}

static struct vgpu_vm_entry *
reg_ini_current(struct reg_ini *ini)
{
    return &ini->reg->v[ini->reg->n - 1];
}

/* The open section is complete: each required key was given. */
static int
reg_ini_end_section(struct reg_ini *ini)
{
    static const enum reg_key required[] = {REG_KEY_VM_ID, REG_KEY_POOL,
                                            REG_KEY_PRIORITY};
    struct vgpu_vm_entry *e;

    if (!ini->in_section) {
        return 0;
    }
    ini->in_section = 0;
    e = reg_ini_current(ini);
    for (size_t i = 0; i < sizeof(required) / sizeof(required[0]); i++) {
        if (ini->key_line[required[i]] == 0) {
            return reg_fail(ini, -EINVAL, e->line, "[vm \"%s\"]: %s is missing",
                            e->name, reg_key_names[required[i]]);
        }
    }
    return 0;
}

/* A section header: it must be [vm "NAME"]. */
static int
reg_ini_section(struct reg_ini *ini, const struct vgpu_ini_entry *ie)
{
    const char *inner = ie->section;
    const size_t open = strlen(REG_SECTION_OPEN);
    const size_t close = strlen(REG_SECTION_CLOSE);
    struct vgpu_vm_entry *e;
    char name[VGPU_REGISTRY_NAME_MAX + 2];
    char why[192];
    size_t inner_len = strlen(inner);
    size_t name_len;
    int rc;

    rc = reg_ini_end_section(ini);
    if (rc < 0) {
        return rc;
    }
    if (inner_len < open + close ||
        strncmp(inner, REG_SECTION_OPEN, open) != 0 ||
        strncmp(inner + inner_len - close, REG_SECTION_CLOSE, close) != 0) {
        return reg_fail(ini, -EINVAL, ie->line,
                        "unknown section [%s] (a VM's section is [vm "
                        "\"NAME\"])",
                        inner);
    }
    name_len = inner_len - open - close;
    if (name_len > VGPU_REGISTRY_NAME_MAX) {
        name_len = VGPU_REGISTRY_NAME_MAX + 1; /* check_name says why */
    }
    memcpy(name, inner + open, name_len);
    name[name_len] = '\0';
    if (vgpu_registry_check_name(name, why, sizeof(why)) < 0) {
        return reg_fail(ini, -EINVAL, ie->line, "[%s]: %s", inner, why);
    }
    if (ini->reg->n == ini->lines_cap) {
        size_t cap = ini->lines_cap ? ini->lines_cap * 2 : 8;
        struct reg_lines *l = realloc(ini->lines, cap * sizeof(*l));

        if (l == NULL) {
            return reg_fail(ini, -ENOMEM, ie->line, "out of memory");
        }
        ini->lines = l;
        ini->lines_cap = cap;
    }
    e = vgpu_registry_append(ini->reg);
    if (e == NULL) {
        return reg_fail(ini, -ENOMEM, ie->line, "out of memory");
    }
    memset(&ini->lines[ini->reg->n - 1], 0, sizeof(ini->lines[0]));
    memcpy(e->name, name, name_len + 1);
    e->line = ie->line;
    ini->in_section = 1;
    memset(ini->key_line, 0, sizeof(ini->key_line));
    return 0;
}

static int
reg_ini_handler(void *user, const struct vgpu_ini_entry *ie)
{
    struct reg_ini *ini = user;
    struct vgpu_vm_entry *e;
    char why[192];
    int k;
    int rc = 0;

    if (ie->indented) {
        return reg_fail(ini, -EINVAL, ie->line,
                        "indented line: start it at column 1");
    }
    if (ie->name == NULL) {
        return reg_ini_section(ini, ie);
    }
    if (!ini->in_section) {
        return reg_fail(ini, -EINVAL, ie->line,
                        "key '%s' is outside any section (start with [vm "
                        "\"NAME\"])",
                        ie->name);
    }
    e = reg_ini_current(ini);
    for (k = 0; k < REG_KEY_COUNT; k++) {
        if (strcmp(ie->name, reg_key_names[k]) == 0) {
            break;
        }
    }
    if (k == REG_KEY_COUNT) {
        return reg_fail(
            ini, -EINVAL, ie->line,
            "unknown key '%s' in [vm \"%s\"] (keys: %s, %s, %s, %s, %s, %s)",
            ie->name, e->name, reg_key_names[REG_KEY_VM_ID],
            reg_key_names[REG_KEY_POOL], reg_key_names[REG_KEY_PRIORITY],
            reg_key_names[REG_KEY_UUID], reg_key_names[REG_KEY_SHARE],
            reg_key_names[REG_KEY_CAP]);
    }
    if (ini->key_line[k] != 0) {
        return reg_fail(ini, -EINVAL, ie->line,
                        "%s: given twice in [vm \"%s\"] (first at line %d)",
                        ie->name, e->name, ini->key_line[k]);
    }
    ini->key_line[k] = ie->line;
    switch ((enum reg_key)k) {
    case REG_KEY_VM_ID:
        rc = vgpu_registry_parse_vm_id(ie->value, &e->vm_id, why, sizeof(why));
        ini->lines[ini->reg->n - 1].vm_id = ie->line;
        break;
    case REG_KEY_POOL:
        rc = vgpu_registry_parse_pool(ie->value, &e->pool, why, sizeof(why));
        break;
    case REG_KEY_PRIORITY:
        rc = vgpu_registry_parse_priority(ie->value, &e->priority, why,
                                          sizeof(why));
        break;
    case REG_KEY_UUID:
        rc = vgpu_registry_check_uuid(ie->value, why, sizeof(why));
        if (rc == 0) {
            memcpy(e->uuid, ie->value, VGPU_REGISTRY_UUID_LEN + 1);
        }
        ini->lines[ini->reg->n - 1].uuid = ie->line;
        break;
    case REG_KEY_SHARE:
        rc = vgpu_registry_parse_pct(ie->value, &e->share, why, sizeof(why));
        break;
    case REG_KEY_CAP:
        rc = vgpu_registry_parse_pct(ie->value, &e->cap, why, sizeof(why));
        break;
    case REG_KEY_COUNT:
        break;
    }
    if (rc < 0) {
        return reg_fail(ini, rc, ie->line, "%s: %s", ie->name, why);
    }
    return 0;
}

/* The whole file is read: a name, vm_id or uuid given to two VMs is
 * refused at the later one (the error of the smallest line is kept).
 * O(n log n): the registry's sorted views find the first of each key. */
static int
reg_ini_check_dups(struct reg_ini *ini)
{
    const struct vgpu_registry *reg = ini->reg;

    for (size_t i = 0; i < reg->n; i++) {
        const struct vgpu_vm_entry *e = &reg->v[i];
        const struct vgpu_vm_entry *o;

        o = vgpu_registry_first_dup(reg, i, REG_BY_NAME);
        if (o != NULL) {
            reg_fail(ini, -EINVAL, e->line,
                     "[vm \"%s\"] is already defined at line %d (names are "
                     "unique)",
                     e->name, o->line);
        }
        o = vgpu_registry_first_dup(reg, i, REG_BY_ID);
        if (o != NULL) {
            reg_fail(ini, -EINVAL, ini->lines[i].vm_id,
                     "%s: '%u' is already the %s of '%s' (line %d)",
                     reg_key_names[REG_KEY_VM_ID], (unsigned)e->vm_id,
                     reg_key_names[REG_KEY_VM_ID], o->name, o->line);
        }
        o = vgpu_registry_first_dup(reg, i, REG_BY_UUID);
        if (o != NULL) {
            reg_fail(ini, -EINVAL, ini->lines[i].uuid,
                     "%s: '%s' is already the %s of '%s' (line %d)",
                     reg_key_names[REG_KEY_UUID], e->uuid,
                     reg_key_names[REG_KEY_UUID], o->name, o->line);
        }
    }
    return ini->rc;
}

static int
reg_load(const char *path, unsigned flags, struct vgpu_registry **out,
         char *err, size_t err_len)
{
    struct reg_ini ini = {
        .path = path, .flags = flags, .err = err, .err_len = err_len};
    FILE *file;
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
    file = vgpu_file_open_read(path, err, err_len);
    if (file == NULL) {
        rc = errno == ENOMEM ? -ENOMEM : -EINVAL;
        if (errno == ENOENT && (flags & VGPU_REGISTRY_MISSING_OK)) {
            *out = ini.reg;
            return 0;
        }
        goto err;
    }
    rc = vgpu_ini_parse(file, path, reg_ini_handler, &ini, err, err_len);
    fclose(file);
    if (rc == 0) {
        rc = reg_ini_end_section(&ini);
    }
    if (rc == 0 && !(flags & VGPU_REGISTRY_ALLOW_DUPS)) {
        rc = reg_ini_check_dups(&ini);
    }
    if (rc < 0) {
        goto err;
    }
    free(ini.lines);
    *out = ini.reg;
    return 0;

err:
    free(ini.lines);
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
        if (e->share != 0) {
            fprintf(f, "share = %u\n", (unsigned)e->share);
        }
        if (e->cap != 0) {
            fprintf(f, "cap = %u\n", (unsigned)e->cap);
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
