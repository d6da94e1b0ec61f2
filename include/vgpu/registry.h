/*
 * The VM registry (SPEC.md section 9): the file that says which VMs may use
 * the mediator, and with which pool and priority. vgpu-admin writes it; the
 * mediator reads it at start and on SIGHUP, and refuses a HELLO whose vm_id
 * it does not list or whose pool or priority differ from it.
 *
 * The file is INI (read with libinih), one section per VM:
 *
 *   [vm "Test-1"]
 *   vm_id = 1
 *   pool = A
 *   priority = high
 *   uuid = 0b7c2b56-8a5e-4c1b-9f4e-2c1d3e5f7a90   (optional: XCP-ng's VM uuid)
 *
 * vm_id, pool and priority are required; vm_id is 1..4294967295 without a
 * leading zero, pool one letter A-Z, priority low, medium or high (or 0, 1,
 * 2). A name is 1..40 letters, digits, '.', '_' or '-' and starts with
 * a letter or a digit. Comments are lines
 * that start with ';' or '#'. Every line starts at column 1: libinih would
 * read an indented line as the continuation of the previous value, so one is
 * refused instead. Every error names the file, the line, the key and the
 * value: "vms.conf:4: pool: 'AB' is not one letter A-Z".
 *
 * Writing: vgpu_registry_save() writes the whole file again (comments are
 * not kept) to a temporary file in the same directory, fsyncs it and renames
 * it over the old one, so a reader (the mediator at SIGHUP) sees the old
 * file or the new one, never a mix. Writers serialise through an exclusive
 * flock on FILE.lock, held from the read to the rename
 * (vgpu_registry_update()), so two admins at once never lose an entry. The
 * lock file stays: removing it would let two writers lock two files.
 *
 * Threading: a registry is not thread-safe; the functions that take none
 * are.
 */
#ifndef VGPU_REGISTRY_H
#define VGPU_REGISTRY_H

#include <stddef.h>
#include <stdint.h>

#include "vgpu/common.h"

#define VGPU_REGISTRY_DEFAULT_PATH "/etc/vgpu/vms.conf"
#define VGPU_REGISTRY_LOCK_SUFFIX  ".lock"

/* share and cap: percent, 1..100. */
#define VGPU_REGISTRY_PCT_MAX 100u

/* The longest VM name: a label for tables, logs and messages. */
#define VGPU_REGISTRY_NAME_MAX 40u
/* A uuid: 8-4-4-4-12 hex digits. */
#define VGPU_REGISTRY_UUID_LEN 36u

/* vgpu_registry_load() flags. */
/* A file that does not exist is an empty registry (vgpu-admin). */
#define VGPU_REGISTRY_MISSING_OK (1u << 0)
/* Keep entries that repeat a vm_id, name or uuid instead of refusing the
 * file, so that vgpu_registry_check() can report them (a hand-edited file). */
#define VGPU_REGISTRY_ALLOW_DUPS (1u << 1)

/* One VM. */
struct vgpu_vm_entry {
    char name[VGPU_REGISTRY_NAME_MAX + 1];
    uint32_t vm_id;                        /* >= VGPU_VM_ID_MIN */
    uint8_t pool;                          /* 'A'..'Z' */
    uint8_t priority;                      /* VGPU_PRIO_* */
    char uuid[VGPU_REGISTRY_UUID_LEN + 1]; /* "" when not given */
    /* Shares of the pool's executor time (SPEC.md section 9), percent
     * 1..VGPU_REGISTRY_PCT_MAX; 0 when not given: share under vm_share
     * fixed, cap in every mode. */
    uint8_t share;
    uint8_t cap;
    int line; /* line of its section in the file loaded; 0 when added */
};

struct vgpu_registry;

/** vgpu_registry_create() - an empty registry. Return: it, or NULL. */
VGPU_EXPORT struct vgpu_registry *vgpu_registry_create(void);

/**
 * vgpu_registry_load() - read and check the registry file at @path.
 * @flags: VGPU_REGISTRY_MISSING_OK, VGPU_REGISTRY_ALLOW_DUPS.
 * @err:   receives "PATH:LINE: key: 'value' ..." for a bad line,
 *         "PATH:LINE: [vm \"x\"]: vm_id is missing" for an incomplete
 *         section, or "PATH: cannot read: reason".
 * Return: the registry (free it with vgpu_registry_destroy()), or NULL.
 */
VGPU_EXPORT struct vgpu_registry *
vgpu_registry_load(const char *path, unsigned flags, char *err, size_t err_len);

/** vgpu_registry_destroy() - free @reg. NULL is a no-op. */
VGPU_EXPORT void vgpu_registry_destroy(struct vgpu_registry *reg);

/** vgpu_registry_count() - the number of entries. */
VGPU_EXPORT size_t vgpu_registry_count(const struct vgpu_registry *reg);

/**
 * vgpu_registry_entry() - entry @i (0 .. count - 1), in file order.
 * Return: a pointer into @reg, valid until it changes; NULL past the end.
 */
VGPU_EXPORT const struct vgpu_vm_entry *
vgpu_registry_entry(const struct vgpu_registry *reg, size_t i);

/**
 * vgpu_registry_find_id() / vgpu_registry_find_name() - the first entry
 * with that vm_id or name (names compare exactly). O(log n) once the table
 * has its index (vgpu_registry_index(); a load that refuses duplicates
 * builds it), O(n) before.
 * Return: a pointer into @reg, valid until it changes; NULL when none.
 */
VGPU_EXPORT const struct vgpu_vm_entry *
vgpu_registry_find_id(const struct vgpu_registry *reg, uint32_t vm_id);
VGPU_EXPORT const struct vgpu_vm_entry *
vgpu_registry_find_name(const struct vgpu_registry *reg, const char *name);

/**
 * vgpu_registry_index() - build the lookup index of @reg (sorted views by
 * vm_id, name and uuid): O(n log n) once; every change drops it. A reader
 * that looks up many times (the daemon, at each HELLO) builds it first.
 * Return: 0, or -ENOMEM (lookups then scan).
 */
VGPU_EXPORT int vgpu_registry_index(struct vgpu_registry *reg);

/**
 * vgpu_registry_add() - append a copy of @e (its line is set to 0).
 * @err: "name: 'x y' is not ...", "vm_id 1 is already registered to
 *       'Test-1'", "a VM named 'Test-1' is already registered (vm_id 1)".
 * Return: 0; -EINVAL for a bad value; -EEXIST when the vm_id, the name or
 * the uuid is already registered; -ENOMEM.
 */
VGPU_EXPORT int vgpu_registry_add(struct vgpu_registry *reg,
                                  const struct vgpu_vm_entry *e, char *err,
                                  size_t err_len);

/**
 * vgpu_registry_remove() - remove every entry named @name (a hand-edited
 * file can have two).
 * Return: the number removed, or -ENOENT when none.
 */
VGPU_EXPORT int vgpu_registry_remove(struct vgpu_registry *reg,
                                     const char *name);

/**
 * vgpu_registry_save() - write @reg to @path atomically: a temporary file in
 * the same directory (mode and owner of the old file, else 0644), fsync,
 * rename over @path, fsync of the directory. On failure @path is untouched
 * and the temporary file removed. Takes no lock: see vgpu_registry_update().
 * Return: 0, or a negative errno with @err naming the path.
 */
VGPU_EXPORT int vgpu_registry_save(const struct vgpu_registry *reg,
                                   const char *path, char *err, size_t err_len);

/**
 * vgpu_registry_lock() - take the exclusive lock of the registry at @path:
 * flock(LOCK_EX) on PATH.lock, created (mode 0644) when missing. Blocks
 * until the lock is free.
 * Return: the lock's fd, to give to vgpu_registry_unlock(); or a negative
 * errno with @err naming the lock file.
 */
VGPU_EXPORT int vgpu_registry_lock(const char *path, char *err, size_t err_len);

/** vgpu_registry_unlock() - release and close a lock. A negative fd is a
 * no-op. */
VGPU_EXPORT void vgpu_registry_unlock(int lock_fd);

/* An edit under the lock: change @reg, return 0 to save it or a negative
 * code (with @err) to leave the file as it was. */
typedef int (*vgpu_registry_edit_fn)(struct vgpu_registry *reg, void *arg,
                                     char *err, size_t err_len);

/**
 * vgpu_registry_update() - read-modify-write under the lock: lock, load
 * (VGPU_REGISTRY_MISSING_OK | VGPU_REGISTRY_ALLOW_DUPS), @edit, save,
 * unlock.
 * Return: 0; the negative code of @edit (nothing written); -EINVAL when the
 * file does not load; another negative errno. @err says why.
 */
VGPU_EXPORT int vgpu_registry_update(const char *path,
                                     vgpu_registry_edit_fn edit, void *arg,
                                     char *err, size_t err_len);

/**
 * vgpu_registry_check() - report each entry that repeats the vm_id, name or
 * uuid of an earlier one (only a file loaded with VGPU_REGISTRY_ALLOW_DUPS
 * has them): @fn gets one line per problem, e.g. "vms.conf:9: vm_id 3 of
 * 'Test-3b' is also the vm_id of 'Test-3' (line 2)"; and each pool whose
 * VMs' shares add up to more than 100 percent.
 * Return: the number of problems.
 */
VGPU_EXPORT size_t vgpu_registry_check(const struct vgpu_registry *reg,
                                       void (*fn)(void *arg, const char *line),
                                       void *arg);

/**
 * vgpu_registry_admit() - the mediator's admission of a HELLO (its
 * ops->admit): the registry is authoritative.
 * @why: the reason of a refusal, naming both values: "vm_id 7 is not in the
 *       registry", "vm_id 3: pool B differs from the registry's A (VM
 *       'Test-3')".
 * Return: 0 to admit, or VGPU_ERR_REJECTED.
 */
VGPU_EXPORT int vgpu_registry_admit(const struct vgpu_registry *reg,
                                    uint32_t vm_id, uint8_t pool,
                                    uint8_t priority, char *why,
                                    size_t why_len);

/**
 * vgpu_registry_device_args() - the QEMU device option of @e:
 * "-device vgpu-stub,pool_id=A,priority=high,vm_id=1", with ",socket=PATH"
 * when @socket is not NULL.
 * Return: 0, -EINVAL when @socket has a character QEMU or a shell would
 * read apart (',', quotes, blanks, ...), -ENOSPC when @len is too small.
 */
VGPU_EXPORT int vgpu_registry_device_args(const struct vgpu_vm_entry *e,
                                          const char *socket, char *buf,
                                          size_t len);

/*
 * The value checks, shared by the file and vgpu-admin's flags. Each returns
 * 0, or -EINVAL with @why saying "'x' is not ..." (the caller adds the key
 * or the flag).
 */
VGPU_EXPORT int vgpu_registry_parse_vm_id(const char *s, uint32_t *out,
                                          char *why, size_t why_len);
VGPU_EXPORT int vgpu_registry_parse_pool(const char *s, uint8_t *out, char *why,
                                         size_t why_len);
VGPU_EXPORT int vgpu_registry_parse_priority(const char *s, uint8_t *out,
                                             char *why, size_t why_len);
VGPU_EXPORT int vgpu_registry_parse_pct(const char *s, uint8_t *out, char *why,
                                        size_t why_len);
VGPU_EXPORT int vgpu_registry_check_name(const char *s, char *why,
                                         size_t why_len);
VGPU_EXPORT int vgpu_registry_check_uuid(const char *s, char *why,
                                         size_t why_len);

/** vgpu_registry_priority_name() - "low", "medium", "high" or "?". Static. */
VGPU_EXPORT const char *vgpu_registry_priority_name(uint8_t priority);

#endif /* VGPU_REGISTRY_H */
