/*
 * Unit tests of the VM registry (include/vgpu/registry.h): good files and
 * every refusal with its message (file, line, key, value), lookups, the
 * duplicate report, the admission rule, the -device option, the atomic
 * rewrite (a reader sees the old file or the new one, never a mix) and
 * writers serialised by the lock (N processes at once, none lost).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "vgpu/registry.h"
#include "vgpu/regs.h"
#include "vgpu_test.h"

#define UUID1 "0b7c2b56-8a5e-4c1b-9f4e-2c1d3e5f7a90"
#define UUID2 "1c8d3c67-9b6f-4d2c-8a5f-3d2e4f6a8b01"

/* Writers in the concurrency test, and how long each holds the file between
 * its read and its write (long enough that, without the lock, the writers'
 * windows overlap and entries are lost). */
#define CONCURRENT_WRITERS 8
#define EDIT_HOLD_US       3000
/* How long the atomicity test's writer keeps rewriting. */
#define ATOMIC_RUN_MS      300

static char tmpdir[256];

static int
setup_dir(void **state)
{
    const char *base = getenv("TMPDIR");

    snprintf(tmpdir, sizeof(tmpdir), "%s/vgpu-test-registry-XXXXXX",
             base && *base ? base : "/tmp");
    return mkdtemp(tmpdir) == NULL ? -1 : 0;
}

static int
teardown_dir(void **state)
{
    DIR *d = opendir(tmpdir);
    struct dirent *de;
    char path[600];

    if (d != NULL) {
        while ((de = readdir(d)) != NULL) {
            if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0) {
                continue;
            }
            snprintf(path, sizeof(path), "%s/%s", tmpdir, de->d_name);
            if (unlink(path) < 0) {
                rmdir(path);
            }
        }
        closedir(d);
    }
    rmdir(tmpdir);
    return 0;
}

/* The path of @name in the test's directory (a static buffer per call
 * site is enough: each test uses a few). */
static const char *
path_of(const char *name)
{
    static char bufs[8][600];
    static int next;
    char *p = bufs[next++ % 8];

    snprintf(p, sizeof(bufs[0]), "%s/%s", tmpdir, name);
    return p;
}

static const char *
write_file(const char *name, const char *text)
{
    const char *path = path_of(name);
    FILE *f = fopen(path, "w");

    assert_non_null(f);
    fputs(text, f);
    assert_int_equal(fclose(f), 0);
    return path;
}

/* The whole of a file, malloc'ed. */
static char *
read_all(const char *path)
{
    FILE *f = fopen(path, "r");
    char *buf;
    long len;

    if (f == NULL) {
        return NULL;
    }
    fseek(f, 0, SEEK_END);
    len = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = calloc(1, (size_t)len + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)len, f), (size_t)len);
    fclose(f);
    return buf;
}

static struct vgpu_vm_entry
entry(const char *name, uint32_t vm_id, char pool, uint8_t priority,
      const char *uuid)
{
    struct vgpu_vm_entry e = {
        .vm_id = vm_id, .pool = (uint8_t)pool, .priority = priority};

    snprintf(e.name, sizeof(e.name), "%s", name);
    snprintf(e.uuid, sizeof(e.uuid), "%s", uuid ? uuid : "");
    return e;
}

/* ---- Reading ------------------------------------------------------------- */

static void
test_load_good(void **state)
{
    const char *path =
        write_file("good.conf", "\xEF\xBB\xBF# two VMs\n"
                                "; a comment\n"
                                "\n"
                                "[vm \"Test-1\"]\n"
                                "vm_id = 1\n"
                                "pool = A\n"
                                "priority = high\n"
                                "\n"
                                "[vm \"Test-4\"]   ; the second\n"
                                "priority=low\n"
                                "pool = B ; inline comment\n"
                                "vm_id = 4294967295\n"
                                "uuid = " UUID1 "\n"
                                "  # an indented comment is still a comment\n");
    char err[512] = "";
    struct vgpu_registry *reg = vgpu_registry_load(path, 0, err, sizeof(err));
    const struct vgpu_vm_entry *e;

    assert_non_null(reg);
    assert_string_equal(err, "");
    assert_int_equal(vgpu_registry_count(reg), 2);
    e = vgpu_registry_find_name(reg, "Test-1");
    assert_non_null(e);
    assert_int_equal(e->vm_id, 1);
    assert_int_equal(e->pool, 'A');
    assert_int_equal(e->priority, VGPU_PRIO_HIGH);
    assert_string_equal(e->uuid, "");
    assert_int_equal(e->line, 4);
    assert_ptr_equal(vgpu_registry_find_id(reg, 1), e);
    assert_ptr_equal(vgpu_registry_entry(reg, 0), e);
    e = vgpu_registry_find_id(reg, 4294967295u);
    assert_non_null(e);
    assert_string_equal(e->name, "Test-4");
    assert_int_equal(e->pool, 'B');
    assert_int_equal(e->priority, VGPU_PRIO_LOW);
    assert_string_equal(e->uuid, UUID1);
    assert_int_equal(e->line, 9);
    assert_null(vgpu_registry_find_id(reg, 2));
    assert_null(vgpu_registry_find_name(reg, "test-1"));
    assert_null(vgpu_registry_entry(reg, 2));
    vgpu_registry_destroy(reg);
}

static void
test_load_empty(void **state)
{
    const char *path = write_file("empty.conf", "# nothing yet\n\n");
    char err[512];
    struct vgpu_registry *reg = vgpu_registry_load(path, 0, err, sizeof(err));

    assert_non_null(reg);
    assert_int_equal(vgpu_registry_count(reg), 0);
    vgpu_registry_destroy(reg);
    reg = vgpu_registry_load(write_file("zero.conf", ""), 0, err, sizeof(err));
    assert_non_null(reg);
    assert_int_equal(vgpu_registry_count(reg), 0);
    vgpu_registry_destroy(reg);
}

static void
test_load_missing(void **state)
{
    const char *path = path_of("absent.conf");
    char want[700];
    char err[512];
    struct vgpu_registry *reg;

    reg = vgpu_registry_load(path, 0, err, sizeof(err));
    assert_null(reg);
    snprintf(want, sizeof(want), "%s: cannot read: %s", path, strerror(ENOENT));
    assert_string_equal(err, want);
    reg = vgpu_registry_load(path, VGPU_REGISTRY_MISSING_OK, err, sizeof(err));
    assert_non_null(reg);
    assert_int_equal(vgpu_registry_count(reg), 0);
    vgpu_registry_destroy(reg);
}

/* One bad file: its text and the message after "PATH:". */
struct bad_case {
    const char *text;
    const char *msg;
};

#define VM1 "[vm \"a\"]\nvm_id = 1\npool = A\npriority = high\n"

static const struct bad_case bad_cases[] = {
    {"[vm \"a\"]\nvm_id = 1\npool = AB\npriority = high\n",
     "3: pool: 'AB' is not one letter A-Z"},
    {"[vm \"a\"]\nvm_id = 1\npool = a\npriority = high\n",
     "3: pool: 'a' is not one letter A-Z"},
    {"[vm \"a\"]\nvm_id = 1\npool =\npriority = high\n",
     "3: pool: '' is not one letter A-Z"},
    {"[vm \"a\"]\nvm_id = 1\npool = A\npriority = 3\n",
     "4: priority: '3' is not one of low, medium, high (or 0, 1, 2)"},
    {"[vm \"a\"]\nvm_id = 1\npool = A\npriority = urgent\n",
     "4: priority: 'urgent' is not one of low, medium, high (or 0, 1, 2)"},
    {"[vm \"a\"]\nvm_id = 0\npool = A\npriority = high\n",
     "2: vm_id: '0' is not a vm_id (1..4294967295, in decimal without a "
     "leading zero)"},
    {"[vm \"a\"]\nvm_id = 4294967296\n",
     "2: vm_id: '4294967296' is not a vm_id (1..4294967295, in decimal without "
     "a leading zero)"},
    {"[vm \"a\"]\nvm_id = -1\n",
     "2: vm_id: '-1' is not a vm_id (1..4294967295, in decimal without a "
     "leading zero)"},
    {"[vm \"a\"]\nvm_id = 0x10\n",
     "2: vm_id: '0x10' is not a vm_id (1..4294967295, in decimal without a "
     "leading zero)"},
    {"[vm \"a\"]\nvm_id = 007\n",
     "2: vm_id: '007' is not a vm_id (1..4294967295, in decimal without a "
     "leading zero)"},
    {"[vm \"a\"]\nvm_id = 1\nuuid = 1234\n",
     "3: uuid: '1234' is not a uuid (8-4-4-4-12 hexadecimal digits)"},
    {"[vm \"a\"]\nvm_id = 1\npool = A\n", "1: [vm \"a\"]: priority is missing"},
    {"[vm \"a\"]\npool = A\npriority = high\n[vm \"b\"]\n",
     "1: [vm \"a\"]: vm_id is missing"},
    {"[vm \"a\"]\n", "1: [vm \"a\"]: vm_id is missing"},
    {VM1 "colour = red\n",
     "5: unknown key 'colour' in [vm \"a\"] (keys: vm_id, pool, priority, "
     "uuid, share, cap)"},
    {VM1 "pool = B\n", "5: pool: given twice in [vm \"a\"] (first at line 3)"},
    {"vm_id = 1\n" VM1,
     "1: key 'vm_id' is outside any section (start with [vm \"NAME\"])"},
    {"[vms]\nvm_id = 1\n",
     "1: unknown section [vms] (a VM's section is [vm \"NAME\"])"},
    {"[vm.a]\n", "1: unknown section [vm.a] (a VM's section is [vm \"NAME\"])"},
    {"[vm \"a b\"]\n",
     "1: [vm \"a b\"]: 'a b' is not a name of 1..40 letters, digits, '.', '_' "
     "or '-' starting with a letter or a digit"},
    {"[vm \"\"]\n",
     "1: [vm \"\"]: '' is not a name of 1..40 letters, digits, '.', '_' or "
     "'-' starting with a letter or a digit"},
    {"[vm \"-a\"]\n",
     "1: [vm \"-a\"]: '-a' is not a name of 1..40 letters, digits, '.', '_' "
     "or '-' starting with a letter or a digit"},
    {"[vm \"a234567890123456789012345678901234567890x\"]\n",
     "1: [vm \"a234567890123456789012345678901234567890x\"]: "
     "'a234567890123456789012345678901234567890x' is not a name of 1..40 "
     "letters, digits, '.', '_' or '-' starting with a letter or a digit"},
    {VM1 "\n" VM1 "\n",
     "6: [vm \"a\"] is already defined at line 1 (names are unique)"},
    {VM1 "[vm \"b\"]\nvm_id = 1\npool = A\npriority = low\n",
     "6: vm_id: '1' is already the vm_id of 'a' (line 1)"},
    {VM1 "uuid = " UUID1 "\n[vm \"b\"]\nuuid = " UUID1
         "\nvm_id = 2\npool = A\npriority = low\n",
     "7: uuid: '" UUID1 "' is already the uuid of 'a' (line 1)"},
    {"[vm \"a\"]\n  vm_id = 1\n", "2: indented line: start it at column 1"},
    {VM1 "just words\n", "5: syntax error (expected [section] or key = value)"},
    {"[vm \"a\"\n", "1: '[' without ']'"},
    {"[vm \"a\xC3\xA9\"]\n", "1: column 7: byte 0xc3 is not ASCII"},
    {"[vm \"a\"] extra\n", "1: text after ']': 'extra'"},
};

static void
test_load_bad(void **state)
{
    char name[32];
    char want[1200];
    char err[1024];

    for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
        const char *path;
        struct vgpu_registry *reg;

        snprintf(name, sizeof(name), "bad%zu.conf", i);
        path = write_file(name, bad_cases[i].text);
        err[0] = '\0';
        reg = vgpu_registry_load(path, 0, err, sizeof(err));
        snprintf(want, sizeof(want), "%s:%s", path, bad_cases[i].msg);
        if (reg != NULL || strcmp(err, want) != 0) {
            print_error("case %zu:\n%s\nwant: %s\ngot:  %s\n", i,
                        bad_cases[i].text, want, reg ? "(loaded)" : err);
        }
        assert_null(reg);
        assert_string_equal(err, want);
    }
}

/* A registry path that is a directory or a FIFO is refused by name; the
 * FIFO is never opened, so the load cannot block. */
static void
test_load_types(void **state)
{
    char fifo[300];
    char want[400];
    char err[1024];

    assert_null(vgpu_registry_load(tmpdir, 0, err, sizeof(err)));
    snprintf(want, sizeof(want), "%s is a directory, not a regular file",
             tmpdir);
    assert_string_equal(err, want);
    snprintf(fifo, sizeof(fifo), "%s/fifo", tmpdir);
    assert_int_equal(mkfifo(fifo, 0600), 0);
    assert_null(
        vgpu_registry_load(fifo, VGPU_REGISTRY_MISSING_OK, err, sizeof(err)));
    snprintf(want, sizeof(want), "%s is a FIFO, not a regular file", fifo);
    assert_string_equal(err, want);
    unlink(fifo);
}

struct problems {
    int n;
    char lines[8][512];
};

static void
collect(void *arg, const char *line)
{
    struct problems *p = arg;

    if (p->n < 8) {
        snprintf(p->lines[p->n], sizeof(p->lines[0]), "%s", line);
    }
    p->n++;
}

/* A hand-edited file with duplicates loads with ALLOW_DUPS, and check
 * reports each, naming both entries. */
static void
test_load_dups(void **state)
{
    const char *path =
        write_file("dups.conf", VM1 "uuid = " UUID1 "\n"
                                    "[vm \"b\"]\nvm_id = 1\npool = B\n"
                                    "priority = low\n"
                                    "[vm \"a\"]\nvm_id = 2\npool = A\n"
                                    "priority = low\nuuid = " UUID1 "\n"
                                    "[vm \"c\"]\nvm_id = 3\npool = C\n"
                                    "priority = medium\n");
    struct problems p = {0};
    char want[700];
    char err[512];
    struct vgpu_registry *reg;

    assert_null(vgpu_registry_load(path, 0, err, sizeof(err)));
    reg = vgpu_registry_load(path, VGPU_REGISTRY_ALLOW_DUPS, err, sizeof(err));
    assert_non_null(reg);
    assert_int_equal(vgpu_registry_count(reg), 4);
    assert_int_equal(vgpu_registry_check(reg, collect, &p), 3);
    assert_int_equal(p.n, 3);
    snprintf(want, sizeof(want),
             "%s:6: vm_id 1 of 'b' is also the vm_id of 'a' (line 1)", path);
    assert_string_equal(p.lines[0], want);
    snprintf(want, sizeof(want),
             "%s:10: name 'a' (vm_id 2) is also the name of vm_id 1 (line 1)",
             path);
    assert_string_equal(p.lines[1], want);
    snprintf(want, sizeof(want),
             "%s:10: uuid " UUID1 " of 'a' is also the uuid of 'a' (line 1)",
             path);
    assert_string_equal(p.lines[2], want);
    /* Lookups give the first. */
    assert_int_equal(vgpu_registry_find_name(reg, "a")->vm_id, 1);
    assert_string_equal(vgpu_registry_find_id(reg, 1)->name, "a");
    vgpu_registry_destroy(reg);
}

/* ---- Editing ------------------------------------------------------------- */

static void
expect_add(struct vgpu_registry *reg, struct vgpu_vm_entry e, int rc,
           const char *msg)
{
    char err[512] = "";

    assert_int_equal(vgpu_registry_add(reg, &e, err, sizeof(err)), rc);
    assert_string_equal(err, msg);
}

static void
test_add_refusals(void **state)
{
    struct vgpu_registry *reg = vgpu_registry_create();
    struct vgpu_vm_entry bad;

    assert_non_null(reg);
    expect_add(reg, entry("Test-1", 1, 'A', VGPU_PRIO_HIGH, UUID1), 0, "");
    expect_add(reg, entry("Test-1", 2, 'A', VGPU_PRIO_HIGH, NULL), -EEXIST,
               "a VM named 'Test-1' is already registered (vm_id 1)");
    expect_add(reg, entry("Test-2", 1, 'A', VGPU_PRIO_HIGH, NULL), -EEXIST,
               "vm_id 1 is already registered to 'Test-1'");
    expect_add(reg, entry("Test-2", 2, 'A', VGPU_PRIO_HIGH, UUID1), -EEXIST,
               "uuid " UUID1 " is already registered to 'Test-1' (vm_id 1)");
    expect_add(reg, entry("Test 2", 2, 'A', VGPU_PRIO_HIGH, NULL), -EINVAL,
               "name: 'Test 2' is not a name of 1..40 letters, digits, '.', "
               "'_' or '-' starting with a letter or a digit");
    expect_add(reg, entry("Test-2", 0, 'A', VGPU_PRIO_HIGH, NULL), -EINVAL,
               "vm_id: '0' is not a vm_id (1..4294967295, in decimal without a "
               "leading zero)");
    expect_add(reg, entry("Test-2", 2, 'a', VGPU_PRIO_HIGH, NULL), -EINVAL,
               "pool: 'a' is not one letter A-Z");
    expect_add(reg, entry("Test-2", 2, '[', VGPU_PRIO_HIGH, NULL), -EINVAL,
               "pool: '[' is not one letter A-Z");
    expect_add(reg, entry("Test-2", 2, 'A', VGPU_PRIO_COUNT, NULL), -EINVAL,
               "priority: '3' is not one of low, medium, high (or 0, 1, 2)");
    expect_add(reg, entry("Test-2", 2, 'A', VGPU_PRIO_LOW, "nope"), -EINVAL,
               "uuid: 'nope' is not a uuid (8-4-4-4-12 hexadecimal digits)");
    bad = entry("Test-2", 2, 'A', VGPU_PRIO_LOW, NULL);
    memset(bad.name, 'x', sizeof(bad.name)); /* no NUL */
    expect_add(reg, bad, -EINVAL, "name: too long");
    assert_int_equal(vgpu_registry_count(reg), 1);
    expect_add(reg, entry("Test-2", 2, 'Z', VGPU_PRIO_LOW, UUID2), 0, "");
    assert_int_equal(vgpu_registry_count(reg), 2);
    assert_int_equal(vgpu_registry_find_name(reg, "Test-2")->line, 0);
    vgpu_registry_destroy(reg);
}

static void
test_parse_values(void **state)
{
    char why[256];
    uint32_t id = 0;
    uint8_t v = 0;

    assert_int_equal(vgpu_registry_parse_vm_id("4294967295", &id, why, 256), 0);
    assert_int_equal(id, 4294967295u);
    assert_int_equal(vgpu_registry_parse_vm_id("1 ", &id, why, 256), -EINVAL);
    assert_string_equal(why, "'1 ' is not a vm_id (1..4294967295, in decimal "
                             "without a leading zero)");
    assert_int_equal(vgpu_registry_parse_pool("Z", &v, why, 256), 0);
    assert_int_equal(v, 'Z');
    assert_int_equal(vgpu_registry_parse_pool("", &v, why, 256), -EINVAL);
    assert_int_equal(vgpu_registry_parse_priority("medium", &v, why, 256), 0);
    assert_int_equal(v, VGPU_PRIO_MEDIUM);
    /* One vocabulary: a name in any case, or its number. */
    assert_int_equal(vgpu_registry_parse_priority("2", &v, why, 256), 0);
    assert_int_equal(v, VGPU_PRIO_HIGH);
    assert_int_equal(vgpu_registry_parse_priority("Low", &v, why, 256), 0);
    assert_int_equal(v, VGPU_PRIO_LOW);
    assert_int_equal(vgpu_registry_parse_vm_id("007", &id, why, 256), -EINVAL);
    assert_string_equal(vgpu_registry_priority_name(VGPU_PRIO_LOW), "low");
    assert_string_equal(vgpu_registry_priority_name(VGPU_PRIO_COUNT), "?");
    assert_int_equal(vgpu_registry_check_name("a.b_c-1", why, 256), 0);
    assert_int_equal(vgpu_registry_check_name("a/b", why, 256), -EINVAL);
    assert_int_equal(vgpu_registry_check_uuid(UUID2, why, 256), 0);
    assert_int_equal(vgpu_registry_check_uuid(UUID2 "0", why, 256), -EINVAL);
    assert_int_equal(vgpu_registry_check_uuid(
                         "0b7c2b56x8a5e-4c1b-9f4e-2c1d3e5f7a90", why, 256),
                     -EINVAL);
}

static void
test_remove(void **state)
{
    const char *path = write_file("rm.conf", VM1 "[vm \"b\"]\nvm_id = 2\n"
                                                 "pool = A\npriority = low\n"
                                                 "[vm \"a\"]\nvm_id = 3\n"
                                                 "pool = A\npriority = low\n");
    char err[512];
    struct vgpu_registry *reg =
        vgpu_registry_load(path, VGPU_REGISTRY_ALLOW_DUPS, err, sizeof(err));

    assert_non_null(reg);
    assert_int_equal(vgpu_registry_remove(reg, "nobody"), -ENOENT);
    assert_int_equal(vgpu_registry_remove(reg, "a"), 2);
    assert_int_equal(vgpu_registry_count(reg), 1);
    assert_string_equal(vgpu_registry_entry(reg, 0)->name, "b");
    assert_int_equal(vgpu_registry_remove(reg, "b"), 1);
    assert_int_equal(vgpu_registry_count(reg), 0);
    vgpu_registry_destroy(reg);
}

/* ---- Admission and the -device option ------------------------------------ */

static void
test_admit(void **state)
{
    struct vgpu_registry *reg = vgpu_registry_create();
    struct vgpu_vm_entry e = entry("Test-3", 3, 'A', VGPU_PRIO_HIGH, NULL);
    char why[256] = "";
    char err[256];

    assert_int_equal(vgpu_registry_add(reg, &e, err, sizeof(err)), 0);
    assert_int_equal(
        vgpu_registry_admit(reg, 3, 'A', VGPU_PRIO_HIGH, why, sizeof(why)), 0);
    assert_string_equal(why, "");
    assert_int_equal(
        vgpu_registry_admit(reg, 7, 'A', VGPU_PRIO_HIGH, why, sizeof(why)),
        VGPU_ERR_REJECTED);
    assert_string_equal(why, "vm_id 7 is not in the registry");
    assert_int_equal(
        vgpu_registry_admit(reg, 3, 'B', VGPU_PRIO_HIGH, why, sizeof(why)),
        VGPU_ERR_REJECTED);
    assert_string_equal(why,
                        "vm_id 3: pool B differs from the registry's A (VM "
                        "'Test-3')");
    assert_int_equal(
        vgpu_registry_admit(reg, 3, 'A', VGPU_PRIO_LOW, why, sizeof(why)),
        VGPU_ERR_REJECTED);
    assert_string_equal(why, "vm_id 3: priority low differs from the "
                             "registry's high (VM 'Test-3')");
    assert_int_equal(
        vgpu_registry_admit(reg, 3, 'C', VGPU_PRIO_MEDIUM, why, sizeof(why)),
        VGPU_ERR_REJECTED);
    assert_string_equal(why, "vm_id 3: pool C differs from the registry's A, "
                             "priority medium differs from the registry's "
                             "high (VM 'Test-3')");
    assert_int_equal(vgpu_registry_admit(reg, 3, 0, VGPU_PRIO_HIGH, why, 256),
                     VGPU_ERR_REJECTED);
    assert_string_equal(why, "vm_id 3: pool 0x00 differs from the registry's "
                             "A (VM 'Test-3')");
    vgpu_registry_destroy(reg);
}

static void
test_device_args(void **state)
{
    struct vgpu_vm_entry e = entry("Test-1", 1, 'A', VGPU_PRIO_HIGH, NULL);
    struct vgpu_vm_entry f = entry("b", 200, 'B', VGPU_PRIO_HIGH, NULL);
    char buf[256];

    assert_int_equal(vgpu_registry_device_args(&e, NULL, buf, sizeof(buf)), 0);
    assert_string_equal(buf,
                        "-device vgpu-stub,pool_id=A,priority=high,vm_id=1");
    /* The seed's line (SPEC.md section 6). */
    assert_int_equal(vgpu_registry_device_args(&f, NULL, buf, sizeof(buf)), 0);
    assert_string_equal(buf,
                        "-device vgpu-stub,pool_id=B,priority=high,vm_id=200");
    assert_int_equal(vgpu_registry_device_args(&e, "/run/vgpu/mediator.sock",
                                               buf, sizeof(buf)),
                     0);
    assert_string_equal(buf, "-device vgpu-stub,pool_id=A,priority=high,"
                             "vm_id=1,socket=/run/vgpu/mediator.sock");
    assert_int_equal(vgpu_registry_device_args(&e, "/a,b", buf, sizeof(buf)),
                     -EINVAL);
    assert_int_equal(vgpu_registry_device_args(&e, "/a b", buf, sizeof(buf)),
                     -EINVAL);
    assert_int_equal(vgpu_registry_device_args(&e, "/a\"b", buf, sizeof(buf)),
                     -EINVAL);
    assert_int_equal(vgpu_registry_device_args(&e, "", buf, sizeof(buf)),
                     -EINVAL);
    assert_int_equal(vgpu_registry_device_args(&e, NULL, buf, 10), -ENOSPC);
}

/* ---- Writing ------------------------------------------------------------- */

static void
test_save_roundtrip(void **state)
{
    const char *path = path_of("rt.conf");
    struct vgpu_registry *reg = vgpu_registry_create();
    struct vgpu_registry *back;
    struct vgpu_vm_entry e1 = entry("Test-1", 1, 'A', VGPU_PRIO_HIGH, NULL);
    struct vgpu_vm_entry e2 = entry("x.y_z", 9, 'Q', VGPU_PRIO_MEDIUM, UUID2);
    struct stat st;
    char err[512];

    assert_int_equal(vgpu_registry_add(reg, &e1, err, sizeof(err)), 0);
    assert_int_equal(vgpu_registry_add(reg, &e2, err, sizeof(err)), 0);
    assert_int_equal(vgpu_registry_save(reg, path, err, sizeof(err)), 0);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0644);
    back = vgpu_registry_load(path, 0, err, sizeof(err));
    assert_non_null(back);
    assert_int_equal(vgpu_registry_count(back), 2);
    assert_int_equal(vgpu_registry_entry(back, 0)->vm_id, 1);
    assert_string_equal(vgpu_registry_entry(back, 1)->name, "x.y_z");
    assert_int_equal(vgpu_registry_entry(back, 1)->pool, 'Q');
    assert_int_equal(vgpu_registry_entry(back, 1)->priority, VGPU_PRIO_MEDIUM);
    assert_string_equal(vgpu_registry_entry(back, 1)->uuid, UUID2);
    vgpu_registry_destroy(back);
    /* A rewrite keeps the mode of the file it replaces. */
    assert_int_equal(chmod(path, 0640), 0);
    assert_int_equal(vgpu_registry_save(reg, path, err, sizeof(err)), 0);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0640);
    vgpu_registry_destroy(reg);
}

/* The files of the test's directory whose name contains @part. */
static int
count_files(const char *part)
{
    DIR *d = opendir(tmpdir);
    struct dirent *de;
    int n = 0;

    assert_non_null(d);
    while ((de = readdir(d)) != NULL) {
        n += strstr(de->d_name, part) != NULL;
    }
    closedir(d);
    return n;
}

/* A save that cannot complete leaves the old file and no temporary one. */
static void
test_save_failure(void **state)
{
    const char *dir = path_of("adir");
    struct vgpu_registry *reg = vgpu_registry_create();
    char err[700];
    char want[700];

    assert_int_equal(mkdir(dir, 0755), 0);
    assert_int_equal(vgpu_registry_save(reg, dir, err, sizeof(err)), -EISDIR);
    snprintf(want, sizeof(want), "%s: cannot replace it: %s", dir,
             strerror(EISDIR));
    assert_string_equal(err, want);
    assert_int_equal(count_files(".tmp."), 0);
    assert_int_equal(
        vgpu_registry_save(reg, path_of("nodir/x.conf"), err, sizeof(err)),
        -ENOENT);
    vgpu_registry_destroy(reg);
}

static uint64_t
now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* A child rewrites the file, alternating two registries of different
 * sizes; every read meanwhile is one of the two texts, whole. */
static void
test_save_atomic(void **state)
{
    const char *path = path_of("atomic.conf");
    const char *small_path = path_of("small.conf");
    const char *big_path = path_of("big.conf");
    struct vgpu_registry *small = vgpu_registry_create();
    struct vgpu_registry *big = vgpu_registry_create();
    char *small_text;
    char *big_text;
    char err[512];
    int reads = 0;
    int status;
    pid_t pid;

    for (uint32_t i = 1; i <= 50; i++) {
        char name[16];
        struct vgpu_vm_entry e;

        snprintf(name, sizeof(name), "vm%u", (unsigned)i);
        e = entry(name, i, 'A', VGPU_PRIO_LOW, NULL);
        assert_int_equal(vgpu_registry_add(big, &e, err, sizeof(err)), 0);
        if (i == 1) {
            assert_int_equal(vgpu_registry_add(small, &e, err, sizeof(err)), 0);
        }
    }
    assert_int_equal(vgpu_registry_save(small, small_path, err, 512), 0);
    assert_int_equal(vgpu_registry_save(big, big_path, err, 512), 0);
    small_text = read_all(small_path);
    big_text = read_all(big_path);
    assert_int_equal(vgpu_registry_save(small, path, err, 512), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        uint64_t end = now_ms() + ATOMIC_RUN_MS;

        for (int i = 0; now_ms() < end; i++) {
            if (vgpu_registry_save(i % 2 ? small : big, path, err, 512) < 0) {
                _exit(1);
            }
        }
        _exit(0);
    }
    while (waitpid(pid, &status, WNOHANG) == 0) {
        char *text = read_all(path);

        assert_non_null(text);
        if (strcmp(text, small_text) != 0 && strcmp(text, big_text) != 0) {
            kill(pid, SIGKILL);
            waitpid(pid, NULL, 0);
            fail_msg("read a mix of two versions:\n%s", text);
        }
        free(text);
        reads++;
    }
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_true(reads > 10);
    assert_int_equal(count_files(".tmp."), 0);
    free(small_text);
    free(big_text);
    vgpu_registry_destroy(small);
    vgpu_registry_destroy(big);
}

/* The edit of the concurrency test: add one VM, holding the window between
 * the read and the write open for a while. */
static int
slow_add(struct vgpu_registry *reg, void *arg, char *err, size_t err_len)
{
    usleep(EDIT_HOLD_US);
    return vgpu_registry_add(reg, arg, err, err_len);
}

static void
test_update_concurrent(void **state)
{
    const char *path = path_of("conc.conf");
    pid_t pids[CONCURRENT_WRITERS];
    struct vgpu_registry *reg;
    char err[512];

    for (int i = 0; i < CONCURRENT_WRITERS; i++) {
        pids[i] = fork();
        assert_true(pids[i] >= 0);
        if (pids[i] == 0) {
            char name[16];
            struct vgpu_vm_entry e;

            snprintf(name, sizeof(name), "vm-%d", i + 1);
            e = entry(name, (uint32_t)i + 1, 'A', VGPU_PRIO_MEDIUM, NULL);
            _exit(vgpu_registry_update(path, slow_add, &e, err, 512) == 0 ? 0
                                                                          : 1);
        }
    }
    for (int i = 0; i < CONCURRENT_WRITERS; i++) {
        int status;

        assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
    }
    reg = vgpu_registry_load(path, 0, err, sizeof(err));
    assert_non_null(reg);
    if (vgpu_registry_count(reg) != CONCURRENT_WRITERS) {
        print_error("%zu of %d entries survived\n", vgpu_registry_count(reg),
                    CONCURRENT_WRITERS);
    }
    assert_int_equal(vgpu_registry_count(reg), CONCURRENT_WRITERS);
    for (int i = 0; i < CONCURRENT_WRITERS; i++) {
        assert_non_null(vgpu_registry_find_id(reg, (uint32_t)i + 1));
    }
    vgpu_registry_destroy(reg);
}

static int
refuse_edit(struct vgpu_registry *reg, void *arg, char *err, size_t err_len)
{
    struct vgpu_vm_entry e = entry("extra", 99, 'A', VGPU_PRIO_LOW, NULL);

    (void)vgpu_registry_add(reg, &e, err, err_len);
    snprintf(err, err_len, "refused");
    return -EEXIST;
}

/* An edit that fails writes nothing; a file that does not load is not
 * touched either. */
static void
test_update_refused(void **state)
{
    const char *path = write_file("ref.conf", VM1);
    const char *broken = write_file("broken.conf", VM1 "nonsense\n");
    struct vgpu_vm_entry e = entry("b", 2, 'A', VGPU_PRIO_LOW, NULL);
    char err[512];
    char want[700];
    char *text;

    assert_int_equal(vgpu_registry_update(path, refuse_edit, NULL, err, 512),
                     -EEXIST);
    assert_string_equal(err, "refused");
    text = read_all(path);
    assert_string_equal(text, VM1);
    free(text);
    assert_int_equal(vgpu_registry_update(broken, slow_add, &e, err, 512),
                     -EINVAL);
    snprintf(want, sizeof(want),
             "%s:5: syntax error (expected [section] or key = value)", broken);
    assert_string_equal(err, want);
    text = read_all(broken);
    assert_string_equal(text, VM1 "nonsense\n");
    free(text);
}

/* While one holds the lock, another cannot take it. */
static void
test_lock_excludes(void **state)
{
    const char *path = path_of("locked.conf");
    char lock[700];
    char err[512];
    int fd = vgpu_registry_lock(path, err, sizeof(err));
    int other;

    assert_true(fd >= 0);
    snprintf(lock, sizeof(lock), "%s%s", path, VGPU_REGISTRY_LOCK_SUFFIX);
    other = open(lock, O_RDWR);
    assert_true(other >= 0);
    assert_int_equal(flock(other, LOCK_EX | LOCK_NB), -1);
    assert_int_equal(errno, EWOULDBLOCK);
    vgpu_registry_unlock(fd);
    assert_int_equal(flock(other, LOCK_EX | LOCK_NB), 0);
    close(other);
    assert_int_equal(
        vgpu_registry_lock(path_of("nodir/x.conf"), err, sizeof(err)), -ENOENT);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        VGPU_TEST("/registry/load/good", test_load_good),
        VGPU_TEST("/registry/load/empty", test_load_empty),
        VGPU_TEST("/registry/load/missing", test_load_missing),
        VGPU_TEST("/registry/load/bad", test_load_bad),
        VGPU_TEST("/registry/load/types", test_load_types),
        VGPU_TEST("/registry/load/duplicates", test_load_dups),
        VGPU_TEST("/registry/values", test_parse_values),
        VGPU_TEST("/registry/add/refusals", test_add_refusals),
        VGPU_TEST("/registry/remove", test_remove),
        VGPU_TEST("/registry/admit", test_admit),
        VGPU_TEST("/registry/device-args", test_device_args),
        VGPU_TEST("/registry/save/roundtrip", test_save_roundtrip),
        VGPU_TEST("/registry/save/failure", test_save_failure),
        VGPU_TEST("/registry/save/atomic", test_save_atomic),
        VGPU_TEST("/registry/update/concurrent", test_update_concurrent),
        VGPU_TEST("/registry/update/refused", test_update_refused),
        VGPU_TEST("/registry/lock/excludes", test_lock_excludes),
    };

    return cmocka_run_group_tests(tests, setup_dir, teardown_dir);
}
