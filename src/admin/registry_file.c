/*
 * The VM registry's file (vgpu/registry.h): reading the INI file, and its
 * atomic rewrite under a lock.
 *
 * libinih hands its handler neither a line number nor the sections that have
 * no keys, so the file is fed to ini_parse_stream() through a reader that
 * counts lines and reads each section header itself (as config_file.c does for
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

#include "registry_internal.h"
#include "util.h"

/* A VM's section is [vm "NAME"]. */
#define REG_SECTION_OPEN  "vm \""
#define REG_SECTION_CLOSE "\""

#define REG_TMP_SUFFIX    ".tmp.XXXXXX"
#define REG_UTF8_BOM      "\xEF\xBB\xBF"
#define REG_NEW_FILE_MODE 0644

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

/* ---- Reading the file ---------------------------------------------------- */

struct reg_ini {
    struct vgpu_registry *reg;
    const char *path;
    unsigned flags;
    struct vgpu_ini_lines lines; /* the file, and the line inih works on */
    int rc;                      /* our first error, 0 if none */
    int err_line;                /* its line */
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
        reg_fail(ini, -EINVAL, ini->lines.lineno,
                 "'[' without ']' (a VM's section is [vm \"NAME\"])");
        return;
    }
    q = end + 1 + strspn(end + 1, " \t\r\n");
    if (*q != '\0' && *q != ';' && *q != '#') {
        reg_fail(ini, -EINVAL, ini->lines.lineno, "text after ']': '%.*s'",
                 (int)strcspn(q, "\r\n"), q);
        return;
    }
    inner_len = (size_t)(end - inner);
    if (inner_len < open + close ||
        strncmp(inner, REG_SECTION_OPEN, open) != 0 ||
        strncmp(end - close, REG_SECTION_CLOSE, close) != 0) {
        reg_fail(ini, -EINVAL, ini->lines.lineno,
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
        reg_fail(ini, -EINVAL, ini->lines.lineno, "[%.*s]: %s", (int)inner_len,
                 inner, why);
        return;
    }
    other = vgpu_registry_find_name(ini->reg, name);
    if (other != NULL && !(ini->flags & VGPU_REGISTRY_ALLOW_DUPS)) {
        reg_fail(ini, -EINVAL, ini->lines.lineno,
                 "[vm \"%s\"] is already defined at line %d (names are "
                 "unique)",
                 name, other->line);
        return;
    }
    e = vgpu_registry_append(ini->reg);
    if (e == NULL) {
        reg_fail(ini, -ENOMEM, ini->lines.lineno, "out of memory");
        return;
    }
    memcpy(e->name, name, name_len + 1);
    e->line = ini->lines.lineno;
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
    int rc;

    if (ini->rc != 0) {
        return NULL;
    }
    rc = vgpu_ini_line_read(&ini->lines, str, num);
    if (rc == 0) {
        return NULL;
    }
    if (rc == -E2BIG) {
        reg_fail(ini, -EINVAL, ini->lines.lineno,
                 "line is longer than %d characters", num - 2);
        return NULL;
    }
    p = str;
    if (ini->lines.lineno == 1 &&
        strncmp(p, REG_UTF8_BOM, strlen(REG_UTF8_BOM)) == 0) {
        p += strlen(REG_UTF8_BOM);
    }
    if (*p == ' ' || *p == '\t') {
        const char *q = p + strspn(p, " \t\r\n");

        if (*q != '\0' && *q != ';' && *q != '#') {
            reg_fail(ini, -EINVAL, ini->lines.lineno,
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
        reg_fail(ini, -EINVAL, ini->lines.lineno,
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
        reg_fail(ini, -EINVAL, ini->lines.lineno,
                 "unknown key '%s' in [vm \"%s\"] (keys: %s, %s, %s, %s)", name,
                 e->name, reg_key_names[REG_KEY_VM_ID],
                 reg_key_names[REG_KEY_POOL], reg_key_names[REG_KEY_PRIORITY],
                 reg_key_names[REG_KEY_UUID]);
        return 0;
    }
    if (ini->key_line[k] != 0) {
        reg_fail(ini, -EINVAL, ini->lines.lineno,
                 "%s: given twice in [vm \"%s\"] (first at line %d)", name,
                 e->name, ini->key_line[k]);
        return 0;
    }
    ini->key_line[k] = ini->lines.lineno;
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
                other = vgpu_registry_find_uuid(ini->reg, e->uuid);
            }
        }
        break;
    case REG_KEY_COUNT:
        break;
    }
    ini->reg->n++;
    if (rc < 0) {
        reg_fail(ini, rc, ini->lines.lineno, "%s: %s", name, why);
        return 0;
    }
    if (other != NULL) {
        reg_fail(ini, -EINVAL, ini->lines.lineno,
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
    ini.lines.file = fopen(path, "re");
    if (ini.lines.file == NULL) {
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
    fclose(ini.lines.file);
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
