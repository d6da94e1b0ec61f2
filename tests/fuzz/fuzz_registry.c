/*
 * Fuzz the VM registry (vgpu/registry.h): the file parser, and the value
 * checks shared with vgpu-admin's flags.
 *
 * The first input byte picks a mode:
 *   LOAD    the rest is a registry file, written to a memfd and loaded
 *           through /proc/self/fd/N with the flags in the mode byte;
 *   VALUES  the rest, up to its first NUL, is one string given to each
 *           value check and as vgpu_registry_device_args()'s socket.
 *
 * Checks for a file that loads: it is ASCII text (no NUL, no byte over
 * 0x7e: src/util's reader refuses them by line and column), every entry
 * holds valid values (the checks
 * of the header), find_id/find_name return the first entry with that key,
 * no key repeats unless VGPU_REGISTRY_ALLOW_DUPS (and vgpu_registry_check()
 * counts exactly the repeats), vgpu_registry_admit() admits exactly the
 * identity the registry lists, device_args works for each entry, adding a
 * repeat is refused, and a file saved with vgpu_registry_save() loads back
 * to the same entries. For a file that does not load: one non-empty line of
 * error that starts with the path. For values: each check agrees with a
 * reference written from the header's text, and a socket device_args
 * accepts has no character a shell or QEMU would read apart.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fuzz_common.h"
#include "vgpu/registry.h"
#include "vgpu/regs.h"

#define FZ_ERR_LEN  512u
#define FZ_ARGS_LEN 256u

enum fz_mode { MODE_LOAD, MODE_VALUES, MODE_COUNT };

static int fz_memfd = -1;
static char fz_memfd_path[64];
static char fz_dir[256];   /* where saved files go */
static char fz_saved[300]; /* fz_dir/vms.conf */
static char fz_saved_lock[310];

static void
fz_cleanup(void)
{
    unlink(fz_saved);
    unlink(fz_saved_lock);
    rmdir(fz_dir);
}

/* Once per process: the memfd, and a private directory for saved files
 * (tmpfs when there is one, so fsync costs nothing). */
static void
fz_setup(void)
{
    const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";

    if (fz_memfd >= 0) {
        return;
    }
    fz_memfd = memfd_create("vgpu-fuzz-registry", MFD_CLOEXEC);
    FUZZ_CHECK(fz_memfd >= 0);
    snprintf(fz_memfd_path, sizeof(fz_memfd_path), "/proc/self/fd/%d",
             fz_memfd);
    snprintf(fz_dir, sizeof(fz_dir), "%s/vgpu-fuzz-registry-XXXXXX", base);
    FUZZ_CHECK(mkdtemp(fz_dir) != NULL);
    snprintf(fz_saved, sizeof(fz_saved), "%s/vms.conf", fz_dir);
    snprintf(fz_saved_lock, sizeof(fz_saved_lock), "%s%s", fz_saved,
             VGPU_REGISTRY_LOCK_SUFFIX);
    atexit(fz_cleanup);
}

static void
fz_check_err(const char *err, const char *prefix)
{
    FUZZ_CHECK(memchr(err, '\0', FZ_ERR_LEN) != NULL);
    FUZZ_CHECK(err[0] != '\0');
    FUZZ_CHECK(strchr(err, '\n') == NULL);
    FUZZ_CHECK(strncmp(err, prefix, strlen(prefix)) == 0);
}

/* ---- References, from the header's text ---------------------------------- */

static bool
fz_ref_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9');
}

/* 1..40 letters, digits, '.', '_' or '-', starting with a letter or digit. */
static bool
fz_ref_name(const char *s)
{
    size_t len = strlen(s);

    if (len == 0 || len > VGPU_REGISTRY_NAME_MAX || !fz_ref_alnum(s[0])) {
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        if (!fz_ref_alnum(s[i]) && s[i] != '.' && s[i] != '_' && s[i] != '-') {
            return false;
        }
    }
    return true;
}

/* 8-4-4-4-12 hexadecimal digits. */
static bool
fz_ref_uuid(const char *s)
{
    static const char hex[] = "0123456789abcdefABCDEF";

    if (strlen(s) != VGPU_REGISTRY_UUID_LEN) {
        return false;
    }
    for (size_t i = 0; i < VGPU_REGISTRY_UUID_LEN; i++) {
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;

        if (dash ? s[i] != '-' : strchr(hex, s[i]) == NULL) {
            return false;
        }
    }
    return true;
}

/* Decimal digits, 1..4294967295. */
static bool
fz_ref_vm_id(const char *s, uint32_t *out)
{
    uint64_t v = 0;

    if (*s == '\0' || *s == '0') { /* no leading zero */
        return false;
    }
    for (; *s != '\0'; s++) {
        if (*s < '0' || *s > '9') {
            return false;
        }
        v = v * 10u + (uint64_t)(*s - '0');
        if (v > UINT32_MAX) {
            return false;
        }
    }
    *out = (uint32_t)v;
    return v >= VGPU_VM_ID_MIN;
}

/* ---- LOAD ------------------------------------------------------------------
 */

static bool
fz_same_entry(const struct vgpu_vm_entry *a, const struct vgpu_vm_entry *b)
{
    return strcmp(a->name, b->name) == 0 && a->vm_id == b->vm_id &&
           a->pool == b->pool && a->priority == b->priority &&
           strcmp(a->uuid, b->uuid) == 0;
}

static void
fz_count_line(void *arg, const char *line)
{
    size_t *n = arg;

    FUZZ_CHECK(line != NULL && line[0] != '\0');
    FUZZ_CHECK(strchr(line, '\n') == NULL);
    (*n)++;
}

/* Every repeat of an earlier entry's vm_id, name or uuid. */
static size_t
fz_ref_repeats(const struct vgpu_registry *reg)
{
    size_t n = vgpu_registry_count(reg);
    size_t repeats = 0;

    for (size_t i = 0; i < n; i++) {
        const struct vgpu_vm_entry *e = vgpu_registry_entry(reg, i);
        bool id = false;
        bool name = false;
        bool uuid = false;

        for (size_t j = 0; j < i; j++) {
            const struct vgpu_vm_entry *o = vgpu_registry_entry(reg, j);

            id = id || o->vm_id == e->vm_id;
            name = name || strcmp(o->name, e->name) == 0;
            uuid = uuid ||
                   (e->uuid[0] != '\0' && strcasecmp(o->uuid, e->uuid) == 0);
        }
        repeats += (size_t)id + (size_t)name + (size_t)uuid;
    }
    return repeats;
}

static void
fz_check_entry(const struct vgpu_registry *reg, const struct vgpu_vm_entry *e)
{
    const struct vgpu_vm_entry *first = vgpu_registry_find_id(reg, e->vm_id);
    char why[FZ_ERR_LEN];
    char args[FZ_ARGS_LEN];
    uint8_t other_pool;
    uint32_t absent;

    FUZZ_CHECK(memchr(e->name, '\0', sizeof(e->name)) != NULL);
    FUZZ_CHECK(fz_ref_name(e->name));
    FUZZ_CHECK(e->vm_id >= VGPU_VM_ID_MIN);
    FUZZ_CHECK(e->pool >= VGPU_POOL_FIRST && e->pool <= VGPU_POOL_LAST);
    FUZZ_CHECK(e->priority <= VGPU_PRIO_HIGH);
    FUZZ_CHECK(memchr(e->uuid, '\0', sizeof(e->uuid)) != NULL);
    FUZZ_CHECK(e->uuid[0] == '\0' || fz_ref_uuid(e->uuid));
    FUZZ_CHECK(e->line >= 1);

    /* Lookups find the first entry with the key. */
    FUZZ_CHECK(first != NULL && first <= e && first->vm_id == e->vm_id);
    FUZZ_CHECK(vgpu_registry_find_name(reg, e->name) <= e);

    /* The registry is authoritative: exactly its identity is admitted. */
    FUZZ_CHECK(vgpu_registry_admit(reg, e->vm_id, first->pool, first->priority,
                                   why, sizeof(why)) == 0);
    other_pool = first->pool == VGPU_POOL_LAST ? VGPU_POOL_FIRST
                                               : (uint8_t)(first->pool + 1);
    why[0] = '\0';
    FUZZ_CHECK(vgpu_registry_admit(reg, e->vm_id, other_pool, first->priority,
                                   why, sizeof(why)) == (int)VGPU_ERR_REJECTED);
    FUZZ_CHECK(why[0] != '\0' && strchr(why, '\n') == NULL);
    why[0] = '\0';
    FUZZ_CHECK(
        vgpu_registry_admit(reg, e->vm_id, first->pool,
                            (uint8_t)((first->priority + 1u) % VGPU_PRIO_COUNT),
                            why, sizeof(why)) == (int)VGPU_ERR_REJECTED);
    FUZZ_CHECK(why[0] != '\0');
    absent = e->vm_id + 1u;
    if (absent >= VGPU_VM_ID_MIN &&
        vgpu_registry_find_id(reg, absent) == NULL) {
        FUZZ_CHECK(vgpu_registry_admit(reg, absent, e->pool, e->priority, why,
                                       sizeof(why)) == (int)VGPU_ERR_REJECTED);
    }

    FUZZ_CHECK(vgpu_registry_device_args(e, NULL, args, sizeof(args)) == 0);
    FUZZ_CHECK(strncmp(args, "-device vgpu-stub,", 18) == 0);
    FUZZ_CHECK(vgpu_registry_device_args(e, "/run/vgpu/mediator.sock", args,
                                         sizeof(args)) == 0);
    FUZZ_CHECK(vgpu_registry_device_args(e, NULL, args, 8) == -ENOSPC);
}

static void
fz_load(const uint8_t *text, size_t len, unsigned flags)
{
    struct vgpu_registry *reg;
    struct vgpu_registry *again;
    struct vgpu_vm_entry dup;
    char err[FZ_ERR_LEN];
    size_t problems = 0;
    size_t n;

    FUZZ_CHECK(ftruncate(fz_memfd, 0) == 0);
    FUZZ_CHECK(len == 0 || pwrite(fz_memfd, text, len, 0) == (ssize_t)len);
    memset(err, 0, sizeof(err));
    reg = vgpu_registry_load(fz_memfd_path, flags, err, sizeof(err));
    if (reg == NULL) {
        fz_check_err(err, fz_memfd_path);
        return;
    }
    fuzz_check_ini_ascii(text, len);
    n = vgpu_registry_count(reg);
    FUZZ_CHECK(vgpu_registry_entry(reg, n) == NULL);
    for (size_t i = 0; i < n; i++) {
        fz_check_entry(reg, vgpu_registry_entry(reg, i));
    }
    FUZZ_CHECK(vgpu_registry_check(reg, fz_count_line, &problems) == problems);
    FUZZ_CHECK(problems == fz_ref_repeats(reg));
    if (!(flags & VGPU_REGISTRY_ALLOW_DUPS)) {
        FUZZ_CHECK(problems == 0);
    }

    /* Saved and loaded again: the same entries, in the same order. */
    FUZZ_CHECK(vgpu_registry_save(reg, fz_saved, err, sizeof(err)) == 0);
    again = vgpu_registry_load(fz_saved, flags, err, sizeof(err));
    FUZZ_CHECK(again != NULL);
    FUZZ_CHECK(vgpu_registry_count(again) == n);
    for (size_t i = 0; i < n; i++) {
        FUZZ_CHECK(fz_same_entry(vgpu_registry_entry(reg, i),
                                 vgpu_registry_entry(again, i)));
    }
    vgpu_registry_destroy(again);

    /* A repeat of an entry is refused; removing by name works. */
    if (n > 0) {
        dup = *vgpu_registry_entry(reg, 0);
        FUZZ_CHECK(vgpu_registry_add(reg, &dup, err, sizeof(err)) == -EEXIST);
        FUZZ_CHECK(err[0] != '\0');
        FUZZ_CHECK(vgpu_registry_remove(reg, dup.name) >= 1);
        FUZZ_CHECK(vgpu_registry_find_name(reg, dup.name) == NULL);
    }
    vgpu_registry_destroy(reg);
}

/* ---- VALUES ----------------------------------------------------------------
 */

static void
fz_values(const uint8_t *bytes, size_t len)
{
    struct vgpu_vm_entry e = {
        .vm_id = 1, .pool = VGPU_POOL_FIRST, .priority = VGPU_PRIO_HIGH};
    char *s = malloc(len + 1);
    char why[FZ_ERR_LEN];
    char args[FZ_ARGS_LEN];
    uint32_t id = 0;
    uint32_t ref_id = 0;
    uint8_t u8 = 0;
    uint8_t ref_u8 = 0;
    int rc;

    FUZZ_CHECK(s != NULL);
    memcpy(s, bytes, len);
    s[len] = '\0'; /* the first NUL ends the string */

    rc = vgpu_registry_parse_vm_id(s, &id, why, sizeof(why));
    FUZZ_CHECK((rc == 0) == fz_ref_vm_id(s, &ref_id));
    FUZZ_CHECK(rc != 0 || id == ref_id);
    rc = vgpu_registry_parse_pool(s, &u8, why, sizeof(why));
    FUZZ_CHECK((rc == 0) == (strlen(s) == 1 && s[0] >= VGPU_POOL_FIRST &&
                             s[0] <= VGPU_POOL_LAST));
    rc = vgpu_registry_parse_priority(s, &u8, why, sizeof(why));
    FUZZ_CHECK((rc == 0) == fuzz_ref_prio(s, strlen(s), &ref_u8));
    FUZZ_CHECK(rc != 0 || u8 == ref_u8);
    FUZZ_CHECK((vgpu_registry_check_name(s, why, sizeof(why)) == 0) ==
               fz_ref_name(s));
    FUZZ_CHECK((vgpu_registry_check_uuid(s, why, sizeof(why)) == 0) ==
               fz_ref_uuid(s));

    rc = vgpu_registry_device_args(&e, s, args, sizeof(args));
    if (rc == 0) {
        FUZZ_CHECK(s[0] != '\0');
        for (const char *p = s; *p != '\0'; p++) {
            FUZZ_CHECK((unsigned char)*p > ' ' && (unsigned char)*p < 0x7f);
            FUZZ_CHECK(strchr(",\"'\\`$;&|<>()*?[]{}!", *p) == NULL);
        }
        FUZZ_CHECK(strstr(args, s) != NULL);
    } else {
        FUZZ_CHECK(rc == -EINVAL || rc == -ENOSPC);
    }
    free(s);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t mode = size > 0 ? data[0] : 0;
    const uint8_t *rest = size > 0 ? data + 1 : data;
    size_t len = size > 0 ? size - 1 : 0;

    fz_setup();
    if (mode % MODE_COUNT == MODE_LOAD) {
        fz_load(rest, len,
                (mode & 0x80u) ? VGPU_REGISTRY_ALLOW_DUPS
                               : VGPU_REGISTRY_MISSING_OK);
    } else {
        fz_values(rest, len);
    }
    return 0;
}
