/*
 * vgpu-admin: the VM registry's command line (docs/admin-guide.md).
 *
 *   vgpu-admin [--registry FILE] COMMAND [options]
 *
 * register-vm, list, show, remove, qemu-args, xe-args and check. Options go
 * before or after the command (--registry included), in any order; the
 * registry is /etc/vgpu/vms.conf unless --registry says otherwise. Edits run
 * under the registry's lock (vgpu_registry_update()), so two admins at once
 * never lose an entry.
 *
 * Exit status: 0 done (check: no problem); 1 check found problems, no VM by
 * that name, no registry to list, the mediator or xe not reachable, an I/O
 * failure; 2 a bad command line or value, a refused registration, a registry
 * that does not load.
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "top.h"
#include "util.h"
#include "vgpu/ctl.h"
#include "vgpu/registry.h"
#include "vgpu/regs.h"

#ifndef VGPU_VERSION_STRING
#define VGPU_VERSION_STRING "unknown"
#endif

#define ADMIN_PROG "vgpu-admin"

#define ADMIN_EXIT_OK      0
#define ADMIN_EXIT_PROBLEM 1
#define ADMIN_EXIT_USAGE   2

/* check: how long the mediator has to answer. */
#define ADMIN_STATS_TIMEOUT_MS 5000
/* check --reconnect-ms: at most an hour. */
#define ADMIN_RECONNECT_MAX_MS 3600000u
/* The longest -device option or xe command line. */
#define ADMIN_LINE_MAX         512
#define ADMIN_ERR_MAX          512
#define ADMIN_DIR_MODE         0755

/* The options, as bits of struct admin's `given`. */
enum admin_opt {
    OPT_REGISTRY,
    OPT_VM_NAME,
    OPT_VM_ID,
    OPT_POOL,
    OPT_PRIORITY,
    OPT_UUID,
    OPT_SHARE,
    OPT_CAP,
    OPT_SOCKET,
    OPT_CONTROL,
    OPT_APPLY,
    OPT_REMOVE,
    OPT_LEGACY_DIR,
    OPT_RECONNECT,
    OPT_VERSION,
    OPT_HELP,
    OPT_COUNT
};

#define ADMIN_BIT(o)         (1u << (o))
/* getopt_long()'s value of option @o: clear of its codes 1, ':', '?', 'h'. */
#define ADMIN_OPT_VAL(o)     (256 + (o))
/* What getopt_long() returns for an operand when optstring starts with
 * '-'. */
#define ADMIN_GETOPT_OPERAND 1

static const struct option admin_options[] = {
    {"registry", required_argument, NULL, ADMIN_OPT_VAL(OPT_REGISTRY)},
    {"vm-name", required_argument, NULL, ADMIN_OPT_VAL(OPT_VM_NAME)},
    {"vm-id", required_argument, NULL, ADMIN_OPT_VAL(OPT_VM_ID)},
    {"pool", required_argument, NULL, ADMIN_OPT_VAL(OPT_POOL)},
    {"priority", required_argument, NULL, ADMIN_OPT_VAL(OPT_PRIORITY)},
    {"uuid", required_argument, NULL, ADMIN_OPT_VAL(OPT_UUID)},
    {"share", required_argument, NULL, ADMIN_OPT_VAL(OPT_SHARE)},
    {"cap", required_argument, NULL, ADMIN_OPT_VAL(OPT_CAP)},
    {"socket", required_argument, NULL, ADMIN_OPT_VAL(OPT_SOCKET)},
    {"control", required_argument, NULL, ADMIN_OPT_VAL(OPT_CONTROL)},
    {"apply", no_argument, NULL, ADMIN_OPT_VAL(OPT_APPLY)},
    {"remove", no_argument, NULL, ADMIN_OPT_VAL(OPT_REMOVE)},
    {"legacy-dir", required_argument, NULL, ADMIN_OPT_VAL(OPT_LEGACY_DIR)},
    {"reconnect-ms", required_argument, NULL, ADMIN_OPT_VAL(OPT_RECONNECT)},
    {"version", no_argument, NULL, ADMIN_OPT_VAL(OPT_VERSION)},
    {"help", no_argument, NULL, ADMIN_OPT_VAL(OPT_HELP)},
    {NULL, 0, NULL, 0},
};

struct admin {
    const char *registry;
    const char *command;
    const char *operand; /* NAME of show, remove, qemu-args, xe-args */
    unsigned given;      /* ADMIN_BIT(OPT_*) of each option given */
    const char *value[OPT_COUNT];
    int reconnect_ms; /* check: --reconnect-ms */
};

struct admin_cmd {
    const char *name;
    unsigned options; /* the options it takes, besides --registry */
    int operand;      /* 1: it takes NAME */
    int (*run)(struct admin *a);
};

static int admin_register(struct admin *a);
static int admin_list(struct admin *a);
static int admin_show(struct admin *a);
static int admin_remove(struct admin *a);
static int admin_qemu_args(struct admin *a);
static int admin_xe_args(struct admin *a);
static int admin_check(struct admin *a);

static const struct admin_cmd admin_cmds[] = {
    {"register-vm",
     ADMIN_BIT(OPT_VM_NAME) | ADMIN_BIT(OPT_VM_ID) | ADMIN_BIT(OPT_POOL) |
         ADMIN_BIT(OPT_PRIORITY) | ADMIN_BIT(OPT_UUID) | ADMIN_BIT(OPT_SHARE) |
         ADMIN_BIT(OPT_CAP),
     0, admin_register},
    {"list", 0, 0, admin_list},
    {"show", ADMIN_BIT(OPT_SOCKET), 1, admin_show},
    {"remove", 0, 1, admin_remove},
    {"qemu-args", ADMIN_BIT(OPT_SOCKET), 1, admin_qemu_args},
    {"xe-args",
     ADMIN_BIT(OPT_UUID) | ADMIN_BIT(OPT_SOCKET) | ADMIN_BIT(OPT_APPLY) |
         ADMIN_BIT(OPT_REMOVE),
     1, admin_xe_args},
    {"check",
     ADMIN_BIT(OPT_LEGACY_DIR) | ADMIN_BIT(OPT_SOCKET) |
         ADMIN_BIT(OPT_CONTROL) | ADMIN_BIT(OPT_RECONNECT),
     0, admin_check},
};

#define ADMIN_NCMDS (sizeof(admin_cmds) / sizeof(admin_cmds[0]))

static void
admin_usage(FILE *out)
{
    fprintf(
        out,
        "usage: %s [--registry FILE] COMMAND [options]\n"
        "The VM registry of the vgpu-stub mediator: which VMs may connect, "
        "with\n"
        "which vm_id, pool and priority (SPEC.md section 9).\n"
        "\n"
        "Commands:\n"
        "  register-vm --vm-name NAME --vm-id N --pool L --priority P "
        "[--uuid UUID]\n"
        "              [--share PCT] [--cap PCT]\n"
        "        add a VM: N 1..4294967295, L one letter A-Z, P low, medium "
        "or\n"
        "        high; UUID its XCP-ng uuid; PCT 1..100: its share of the "
        "pool's\n"
        "        executor time under vm_share fixed, and its cap in every "
        "mode.\n"
        "        Refused (exit 2) when the vm_id, the name or the uuid is "
        "already\n"
        "        registered, or the pool's shares would pass 100\n"
        "  list  every VM\n"
        "  show NAME [--socket PATH]\n"
        "        one VM and its -device option\n"
        "  remove NAME\n"
        "        remove a VM\n"
        "  qemu-args NAME [--socket PATH]\n"
        "        print its QEMU option: -device "
        "vgpu-stub,pool_id=L,priority=P,vm_id=N\n"
        "        (,socket=PATH added when --socket is given)\n"
        "  xe-args NAME [--uuid UUID] [--socket PATH] [--remove] [--apply]\n"
        "        print the xe command that gives an XCP-ng VM its device; "
        "with\n"
        "        --remove, the one that takes it away again (the VM's\n"
        "        device-model-args; docs/migration.md); with --apply, run "
        "it\n"
        "        (dom0 only). The uuid is --uuid or the VM's registered one\n"
        "  status|top [--socket PATH | --control PATH] [--interval S]\n"
        "        each VM's figures from the running mediator, once or "
        "refreshing\n"
        "        (vgpu-admin top --help)\n"
        "  check [--legacy-dir DIR] [--socket PATH | --control PATH]\n"
        "        report duplicate vm_ids, names and uuids, VMs without a "
        "DIR/vm<N>\n"
        "        directory, and VMs the mediator at PATH has never seen "
        "(its\n"
        "        control socket: --control, or the --socket path + %s),\n"
        "        trying it again for --reconnect-ms N (default %d) while "
        "it is\n"
        "        missing or refuses\n"
        "\n"
        "Options:\n"
        "  --registry FILE  the registry (default %s), before or\n"
        "                   after the command\n"
        "  -h, --help       this text\n"
        "  --version        the version\n"
        "\n"
        "A running vgpu-mediator --registry FILE reads FILE again on "
        "SIGHUP\n"
        "(systemctl reload vgpu-mediator).\n"
        "Exit status: 0 done (check: no problem); 1 a runtime failure:\n"
        "check found problems, no such VM, no registry to list, the\n"
        "mediator or xe not reachable, an I/O failure; 2 bad usage: a bad\n"
        "command line or value, a refused registration, a registry that\n"
        "does not load.\n",
        ADMIN_PROG, VGPU_CTL_SUFFIX, VGPU_CTL_RECONNECT_MS,
        VGPU_REGISTRY_DEFAULT_PATH);
}

int
admin_fail(int status, const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "%s: ", ADMIN_PROG);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return status;
}

static const char *
admin_option_name(int opt)
{
    for (const struct option *o = admin_options; o->name != NULL; o++) {
        if (o->val == ADMIN_OPT_VAL(opt)) {
            return o->name;
        }
    }
    return "?";
}

/* ---- Command line -------------------------------------------------------- */

/* getopt_long()'s error, naming the option as it was written. */
static int
admin_bad_option(char **argv, int c)
{
    const char *arg = optind > 0 ? argv[optind - 1] : "";

    if (c == ':') {
        return admin_fail(ADMIN_EXIT_USAGE, "option '%s' needs a value", arg);
    }
    if (strncmp(arg, "--", 2) != 0 && optopt != 0) {
        return admin_fail(ADMIN_EXIT_USAGE, "unknown option '-%c' (see --help)",
                          optopt);
    }
    return admin_fail(ADMIN_EXIT_USAGE, "unknown option '%s' (see --help)",
                      arg);
}

/* Parse @argv into @a: options anywhere, the command and NAME in order.
 * Return: -1 to go on, or the exit status. */
static int
admin_parse(struct admin *a, int argc, char **argv)
{
    int c;

    a->registry = VGPU_REGISTRY_DEFAULT_PATH;
    optind = 0;
    opterr = 0;
    /* "-": every argument in order, operands as code 1, whatever
     * POSIXLY_CORRECT says. */
    while ((c = getopt_long(argc, argv, "-:h", admin_options, NULL)) != -1) {
        switch (c) {
        case ADMIN_GETOPT_OPERAND:
            if (a->command == NULL) {
                a->command = optarg;
            } else if (a->operand == NULL) {
                a->operand = optarg;
            } else {
                return admin_fail(ADMIN_EXIT_USAGE,
                                  "unexpected argument '%s' (see --help)",
                                  optarg);
            }
            break;
        case 'h':
            a->given |= ADMIN_BIT(OPT_HELP);
            break;
        case ':':
        case '?':
            return admin_bad_option(argv, c);
        default:
            c -= ADMIN_OPT_VAL(0);
            if (c < 0 || c >= OPT_COUNT) {
                return admin_bad_option(argv, '?');
            }
            /* No option is a list: which of two would win is not obvious
             * to whoever reads the command line. */
            if (a->given & ADMIN_BIT(c)) {
                return admin_fail(ADMIN_EXIT_USAGE,
                                  "--%s is given twice: give it once",
                                  admin_options[c].name);
            }
            a->given |= ADMIN_BIT(c);
            a->value[c] = optarg;
            if (c == OPT_REGISTRY) {
                if (optarg[0] == '\0') {
                    return admin_fail(ADMIN_EXIT_USAGE,
                                      "--registry: '' is not a path");
                }
                a->registry = optarg;
            }
            break;
        }
    }
    return -1;
}

/* ---- Helpers ------------------------------------------------------------- */

/* Load the registry for a command that reads it. @flags: see
 * vgpu_registry_load(). Prints the error; NULL on failure. */
static struct vgpu_registry *
admin_load(const struct admin *a, unsigned flags)
{
    struct vgpu_registry *reg;
    char err[ADMIN_ERR_MAX];

    reg = vgpu_registry_load(a->registry, flags, err, sizeof(err));
    if (reg == NULL) {
        fprintf(stderr, "%s: %s\n", ADMIN_PROG, err);
        if (strstr(err, "already") != NULL) {
            fprintf(stderr,
                    "%s: (vgpu-admin check lists every problem of "
                    "the file)\n",
                    ADMIN_PROG);
        }
    }
    return reg;
}

/* The entry named a->operand of a registry loaded for it, or NULL (said). */
static const struct vgpu_vm_entry *
admin_find(const struct admin *a, const struct vgpu_registry *reg)
{
    const struct vgpu_vm_entry *e = vgpu_registry_find_name(reg, a->operand);

    if (e == NULL) {
        admin_fail(ADMIN_EXIT_PROBLEM, "no VM named '%s' in %s", a->operand,
                   a->registry);
    }
    return e;
}

/* The -device option of @e, with --socket; prints the error. */
static int
admin_device_args(const struct admin *a, const struct vgpu_vm_entry *e,
                  char *buf, size_t len)
{
    const char *socket = a->value[OPT_SOCKET];

    if (vgpu_registry_device_args(e, socket, buf, len) < 0) {
        return admin_fail(ADMIN_EXIT_USAGE,
                          "--socket: '%s' is not a path QEMU can take in "
                          "-device (no ',', quotes, blanks or shell "
                          "characters)",
                          socket ? socket : "");
    }
    return 0;
}

/* mkdir the registry's directory when it is missing (one level: the parent
 * of /etc/vgpu is there on any host). */
static void
admin_make_dir(const char *path)
{
    const char *slash = strrchr(path, '/');
    char *dir;

    if (slash == NULL || slash == path) {
        return;
    }
    dir = strndup(path, (size_t)(slash - path));
    if (dir != NULL) {
        (void)mkdir(dir, ADMIN_DIR_MODE);
        free(dir);
    }
}

/* ---- register-vm ----------------------------------------------------------
 */

static int
admin_edit_add(struct vgpu_registry *reg, void *arg, char *err, size_t err_len)
{
    return vgpu_registry_add(reg, arg, err, err_len);
}

/* Check a flag's value with one of the registry's checks. */
static int
admin_flag_error(int opt, const char *why)
{
    return admin_fail(ADMIN_EXIT_USAGE, "--%s: %s", admin_option_name(opt),
                      why);
}

static int
admin_register(struct admin *a)
{
    static const int required[] = {OPT_VM_NAME, OPT_VM_ID, OPT_POOL,
                                   OPT_PRIORITY};
    struct vgpu_vm_entry e = {0};
    char why[ADMIN_ERR_MAX];
    char device[ADMIN_LINE_MAX];
    int rc;

    for (size_t i = 0; i < sizeof(required) / sizeof(required[0]); i++) {
        if (a->value[required[i]] == NULL) {
            return admin_fail(ADMIN_EXIT_USAGE,
                              "register-vm: --%s is required (see --help)",
                              admin_option_name(required[i]));
        }
    }
    if (vgpu_registry_check_name(a->value[OPT_VM_NAME], why, sizeof(why)) < 0) {
        return admin_flag_error(OPT_VM_NAME, why);
    }
    snprintf(e.name, sizeof(e.name), "%s", a->value[OPT_VM_NAME]);
    if (vgpu_registry_parse_vm_id(a->value[OPT_VM_ID], &e.vm_id, why,
                                  sizeof(why)) < 0) {
        return admin_flag_error(OPT_VM_ID, why);
    }
    if (vgpu_registry_parse_pool(a->value[OPT_POOL], &e.pool, why,
                                 sizeof(why)) < 0) {
        return admin_flag_error(OPT_POOL, why);
    }
    if (vgpu_registry_parse_priority(a->value[OPT_PRIORITY], &e.priority, why,
                                     sizeof(why)) < 0) {
        return admin_flag_error(OPT_PRIORITY, why);
    }
    if (a->value[OPT_UUID] != NULL) {
        if (vgpu_registry_check_uuid(a->value[OPT_UUID], why, sizeof(why)) <
            0) {
            return admin_flag_error(OPT_UUID, why);
        }
        snprintf(e.uuid, sizeof(e.uuid), "%s", a->value[OPT_UUID]);
    }
    if (a->value[OPT_SHARE] != NULL &&
        vgpu_registry_parse_pct(a->value[OPT_SHARE], &e.share, why,
                                sizeof(why)) < 0) {
        return admin_flag_error(OPT_SHARE, why);
    }
    if (a->value[OPT_CAP] != NULL &&
        vgpu_registry_parse_pct(a->value[OPT_CAP], &e.cap, why, sizeof(why)) <
            0) {
        return admin_flag_error(OPT_CAP, why);
    }
    admin_make_dir(a->registry);
    rc =
        vgpu_registry_update(a->registry, admin_edit_add, &e, why, sizeof(why));
    if (rc < 0) {
        return admin_fail(rc == -EINVAL || rc == -EEXIST ? ADMIN_EXIT_USAGE
                                                         : ADMIN_EXIT_PROBLEM,
                          "register-vm: %s", why);
    }
    (void)vgpu_registry_device_args(&e, NULL, device, sizeof(device));
    printf("registered '%s' in %s: vm_id %u, pool %c, priority %s\n"
           "its device: %s\n"
           "a running mediator reads the registry again on SIGHUP "
           "(systemctl reload vgpu-mediator)\n",
           e.name, a->registry, (unsigned)e.vm_id, (char)e.pool,
           vgpu_registry_priority_name(e.priority), device);
    return ADMIN_EXIT_OK;
}

/* ---- list, show ------------------------------------------------------------
 */

/* "30", or "-" for a share or cap not given. */
static const char *
admin_pct(uint8_t pct, char *buf, size_t len)
{
    if (pct == 0) {
        return "-";
    }
    snprintf(buf, len, "%u", (unsigned)pct);
    return buf;
}

static int
admin_list(struct admin *a)
{
    struct vgpu_registry *reg;
    int width = (int)strlen("NAME");
    size_t n;
    struct stat st;

    /* An empty table would read as "no VMs registered": a registry that is
     * not there (a typo in --registry) is said as such. */
    if (stat(a->registry, &st) < 0 && errno == ENOENT) {
        return admin_fail(ADMIN_EXIT_PROBLEM,
                          "list: %s does not exist (register-vm creates it)",
                          a->registry);
    }
    reg = admin_load(a, VGPU_REGISTRY_ALLOW_DUPS);
    if (reg == NULL) {
        return ADMIN_EXIT_USAGE;
    }
    n = vgpu_registry_count(reg);
    for (size_t i = 0; i < n; i++) {
        int len = (int)strlen(vgpu_registry_entry(reg, i)->name);

        width = len > width ? len : width;
    }
    printf("%-*s %10s %-4s %-8s %-5s %-3s %s\n", width, "NAME", "VM_ID", "POOL",
           "PRIORITY", "SHARE", "CAP", "UUID");
    for (size_t i = 0; i < n; i++) {
        const struct vgpu_vm_entry *e = vgpu_registry_entry(reg, i);
        char share[8];
        char cap[8];

        printf("%-*s %10u %-4c %-8s %-5s %-3s %s\n", width, e->name,
               (unsigned)e->vm_id, (char)e->pool,
               vgpu_registry_priority_name(e->priority),
               admin_pct(e->share, share, sizeof(share)),
               admin_pct(e->cap, cap, sizeof(cap)),
               e->uuid[0] != '\0' ? e->uuid : "-");
    }
    vgpu_registry_destroy(reg);
    return ADMIN_EXIT_OK;
}

static int
admin_show(struct admin *a)
{
    const struct vgpu_vm_entry *e;
    struct vgpu_registry *reg;
    char device[ADMIN_LINE_MAX];
    int status = ADMIN_EXIT_PROBLEM;

    reg = admin_load(a, VGPU_REGISTRY_MISSING_OK);
    if (reg == NULL) {
        return ADMIN_EXIT_USAGE;
    }
    e = admin_find(a, reg);
    if (e != NULL) {
        status = admin_device_args(a, e, device, sizeof(device));
    }
    if (e != NULL && status == 0) {
        char share[8];
        char cap[8];

        printf("name = %s\nvm_id = %u\npool = %c\npriority = %s\n"
               "uuid = %s\nshare = %s\ncap = %s\ndevice = %s\n",
               e->name, (unsigned)e->vm_id, (char)e->pool,
               vgpu_registry_priority_name(e->priority),
               e->uuid[0] != '\0' ? e->uuid : "-",
               admin_pct(e->share, share, sizeof(share)),
               admin_pct(e->cap, cap, sizeof(cap)), device);
    }
    vgpu_registry_destroy(reg);
    return status;
}

/* ---- remove
 * ------------------------------------------------------------------ */

struct admin_removal {
    const char *name;
    uint32_t vm_id; /* of the first entry removed */
    int count;
};

static int
admin_edit_remove(struct vgpu_registry *reg, void *arg, char *err,
                  size_t err_len)
{
    struct admin_removal *r = arg;
    const struct vgpu_vm_entry *e = vgpu_registry_find_name(reg, r->name);
    int rc;

    if (e == NULL) {
        vgpu_set_err(err, err_len, "no VM named '%s'", r->name);
        return -ENOENT;
    }
    r->vm_id = e->vm_id;
    rc = vgpu_registry_remove(reg, r->name);
    r->count = rc;
    return rc < 0 ? rc : 0;
}

static int
admin_remove(struct admin *a)
{
    struct admin_removal r = {.name = a->operand};
    char err[ADMIN_ERR_MAX];
    int rc;

    rc = vgpu_registry_update(a->registry, admin_edit_remove, &r, err,
                              sizeof(err));
    if (rc == -ENOENT) {
        return admin_fail(ADMIN_EXIT_PROBLEM, "remove: %s in %s", err,
                          a->registry);
    }
    if (rc < 0) {
        return admin_fail(rc == -EINVAL ? ADMIN_EXIT_USAGE : ADMIN_EXIT_PROBLEM,
                          "remove: %s", err);
    }
    if (r.count == 1) {
        printf("removed '%s' (vm_id %u) from %s\n", r.name, (unsigned)r.vm_id,
               a->registry);
    } else {
        printf("removed %d entries named '%s' from %s\n", r.count, r.name,
               a->registry);
    }
    printf("a running mediator refuses its next connection after SIGHUP "
           "(systemctl reload vgpu-mediator)\n");
    return ADMIN_EXIT_OK;
}

/* ---- qemu-args, xe-args
 * ------------------------------------------------------- */

static int
admin_qemu_args(struct admin *a)
{
    const struct vgpu_vm_entry *e;
    struct vgpu_registry *reg;
    char device[ADMIN_LINE_MAX];
    int status = ADMIN_EXIT_PROBLEM;

    reg = admin_load(a, VGPU_REGISTRY_MISSING_OK);
    if (reg == NULL) {
        return ADMIN_EXIT_USAGE;
    }
    e = admin_find(a, reg);
    if (e != NULL) {
        status = admin_device_args(a, e, device, sizeof(device));
    }
    if (e != NULL && status == 0) {
        printf("%s\n", device);
    }
    vgpu_registry_destroy(reg);
    return status;
}

/* Whether an executable @name is in a directory of $PATH. */
static int
admin_on_path(const char *name)
{
    const char *path = getenv("PATH");
    char file[4096];

    if (path == NULL) {
        return 0;
    }
    while (*path != '\0') {
        size_t len = strcspn(path, ":");
        struct stat st;

        snprintf(file, sizeof(file), "%.*s/%s", (int)len, len ? path : ".",
                 name);
        if (len == 0) {
            snprintf(file, sizeof(file), "./%s", name);
        }
        if (stat(file, &st) == 0 && S_ISREG(st.st_mode) &&
            access(file, X_OK) == 0) {
            return 1;
        }
        path += len + (path[len] == ':');
    }
    return 0;
}

static int
admin_xe_args(struct admin *a)
{
    static const char param[] = "platform:device-model-args=";
    const struct vgpu_vm_entry *e;
    struct vgpu_registry *reg;
    char device[ADMIN_LINE_MAX];
    char uuid_arg[VGPU_REGISTRY_UUID_LEN + 8];
    char model_arg[ADMIN_LINE_MAX + sizeof(param)];
    char shown[sizeof(model_arg) + sizeof(uuid_arg) + ADMIN_ERR_MAX];
    char *set_argv[] = {"xe", "vm-param-set", uuid_arg, model_arg, NULL};
    char *remove_argv[] = {"xe",
                           "vm-param-remove",
                           uuid_arg,
                           "param-name=platform",
                           "param-key=device-model-args",
                           NULL};
    int remove = (a->given & ADMIN_BIT(OPT_REMOVE)) != 0;
    char why[ADMIN_ERR_MAX];
    const char *uuid;
    int status;

    if (a->value[OPT_UUID] != NULL &&
        vgpu_registry_check_uuid(a->value[OPT_UUID], why, sizeof(why)) < 0) {
        return admin_flag_error(OPT_UUID, why);
    }
    if (remove && (a->given & ADMIN_BIT(OPT_SOCKET))) {
        return admin_flag_error(OPT_SOCKET, "--remove takes away the whole "
                                            "device option: no --socket");
    }
    reg = admin_load(a, VGPU_REGISTRY_MISSING_OK);
    if (reg == NULL) {
        return ADMIN_EXIT_USAGE;
    }
    e = admin_find(a, reg);
    if (e == NULL) {
        status = ADMIN_EXIT_PROBLEM;
        goto out;
    }
    status = admin_device_args(a, e, device, sizeof(device));
    if (status != 0) {
        goto out;
    }
    uuid = a->value[OPT_UUID] ? a->value[OPT_UUID] : e->uuid;
    if (uuid[0] == '\0') {
        status = admin_fail(ADMIN_EXIT_USAGE,
                            "xe-args: VM '%s' has no uuid in %s: give --uuid "
                            "UUID (on dom0: xe vm-list name-label=%s "
                            "params=uuid --minimal)",
                            e->name, a->registry, e->name);
        goto out;
    }
    snprintf(uuid_arg, sizeof(uuid_arg), "uuid=%s", uuid);
    snprintf(model_arg, sizeof(model_arg), "%s%s", param, device);
    if (remove) {
        snprintf(shown, sizeof(shown), "xe vm-param-remove %s %s %s", uuid_arg,
                 remove_argv[3], remove_argv[4]);
    } else {
        snprintf(shown, sizeof(shown), "xe vm-param-set %s %s\"%s\"", uuid_arg,
                 param, device);
    }
    if (!(a->given & ADMIN_BIT(OPT_APPLY))) {
        printf("%s\n", shown);
        status = ADMIN_EXIT_OK;
        goto out;
    }
    if (!admin_on_path("xe")) {
        fprintf(stderr,
                "xe: not found on this host (XCP-ng dom0 only); the command "
                "would be: %s\n",
                shown);
        status = ADMIN_EXIT_PROBLEM;
        goto out;
    }
    printf("running: %s\n", shown);
    fflush(stdout);
    execvp("xe", remove ? remove_argv : set_argv);
    status = admin_fail(ADMIN_EXIT_PROBLEM, "xe: cannot run it: %s",
                        strerror(errno));
out:
    vgpu_registry_destroy(reg);
    return status;
}

/* ---- check
 * -------------------------------------------------------------------- */

struct admin_check {
    size_t problems;
};

static void
admin_problem(void *arg, const char *line)
{
    struct admin_check *ck = arg;

    printf("problem: %s\n", line);
    ck->problems++;
}

static void admin_problemf(struct admin_check *ck, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
admin_problemf(struct admin_check *ck, const char *fmt, ...)
{
    va_list ap;

    printf("problem: ");
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
    ck->problems++;
}

/* Does the mediator's line of a VM say its pool and priority? */
static int
admin_seen_whole(const struct vgpu_ctl_vm *s)
{
    unsigned both = VGPU_CTL_HAVE_POOL | VGPU_CTL_HAVE_PRIORITY;

    return (s->have & both) == both;
}

/* The mediator's view against the registry's. */
static void
admin_check_mediator(const struct admin *a, const struct vgpu_registry *reg,
                     struct admin_check *ck)
{
    char control[4200];
    struct vgpu_ctl_vm *seen = NULL;
    char *text;
    size_t n = 0;
    int rc;

    if (a->value[OPT_CONTROL] != NULL) {
        snprintf(control, sizeof(control), "%s", a->value[OPT_CONTROL]);
    } else {
        snprintf(control, sizeof(control), "%s%s", a->value[OPT_SOCKET],
                 VGPU_CTL_SUFFIX);
    }
    rc = vgpu_ctl_query_within(control, VGPU_CTL_STATS, a->reconnect_ms,
                               ADMIN_STATS_TIMEOUT_MS, VGPU_CTL_ANSWER_MAX,
                               &text);
    if (rc == -ENAMETOOLONG) {
        admin_problemf(ck,
                       "cannot reach the mediator at %s: the path is longer "
                       "than %zu bytes",
                       control,
                       sizeof(((struct sockaddr_un *)0)->sun_path) - 1);
        return;
    }
    if (rc < 0) {
        admin_problemf(ck, "cannot reach the mediator at %s: %s", control,
                       strerror(-rc));
        return;
    }
    if (vgpu_ctl_parse_stats(text, &seen, &n, NULL) < 0) {
        admin_problemf(ck, "the mediator at %s did not answer with stats",
                       control);
        goto out;
    }
    for (size_t i = 0; i < vgpu_registry_count(reg); i++) {
        const struct vgpu_vm_entry *e = vgpu_registry_entry(reg, i);
        const struct vgpu_ctl_vm *s = NULL;

        if (vgpu_registry_find_id(reg, e->vm_id) != e) {
            continue; /* a duplicate, reported above */
        }
        for (size_t j = 0; j < n && s == NULL; j++) {
            s = seen[j].vm_id == e->vm_id && admin_seen_whole(&seen[j])
                    ? &seen[j]
                    : NULL;
        }
        if (s == NULL) {
            admin_problemf(ck,
                           "vm_id %u ('%s'): never seen by the mediator at %s",
                           (unsigned)e->vm_id, e->name, control);
        } else if (s->pool != (char)e->pool ||
                   strcmp(s->priority_name,
                          vgpu_registry_priority_name(e->priority)) != 0) {
            admin_problemf(ck,
                           "vm_id %u ('%s'): the mediator serves it as pool %c "
                           "priority %s, the registry says pool %c priority %s "
                           "(admitted before the registry changed: restart the "
                           "VM's device)",
                           (unsigned)e->vm_id, e->name, s->pool,
                           s->priority_name, (char)e->pool,
                           vgpu_registry_priority_name(e->priority));
        }
    }
    for (size_t j = 0; j < n; j++) {
        if (admin_seen_whole(&seen[j]) &&
            vgpu_registry_find_id(reg, seen[j].vm_id) == NULL) {
            admin_problemf(
                ck,
                "vm_id %u: seen by the mediator at %s but not in the "
                "registry",
                (unsigned)seen[j].vm_id, control);
        }
    }
out:
    free(seen);
    free(text);
}

static int
admin_check(struct admin *a)
{
    struct admin_check ck = {0};
    struct vgpu_registry *reg;
    char err[ADMIN_ERR_MAX];
    size_t n;
    const char *legacy = a->value[OPT_LEGACY_DIR];

    uint32_t u = VGPU_CTL_RECONNECT_MS;

    if (a->value[OPT_SOCKET] != NULL && a->value[OPT_CONTROL] != NULL) {
        return admin_fail(ADMIN_EXIT_USAGE,
                          "check: give --socket or --control, not both");
    }
    if (a->value[OPT_RECONNECT] != NULL &&
        vgpu_parse_u32(a->value[OPT_RECONNECT], 0, ADMIN_RECONNECT_MAX_MS, &u,
                       err, sizeof(err)) < 0) {
        return admin_fail(ADMIN_EXIT_USAGE, "check: --reconnect-ms: %s", err);
    }
    a->reconnect_ms = (int)u;
    /* A legacy directory that is not there is a problem of its own,
     * said whether or not the registry loads. */
    if (legacy != NULL &&
        vgpu_path_check(legacy, VGPU_PATH_DIR, 0, err, sizeof(err)) < 0) {
        struct stat lst;

        /* Something else than a directory there (a FIFO, a file) is a
         * mistake on the command line; nothing there is a problem. */
        if (stat(legacy, &lst) == 0 || errno != ENOENT) {
            return admin_fail(ADMIN_EXIT_USAGE, "check: --legacy-dir: %s", err);
        }
        admin_problemf(&ck, "--legacy-dir: %s", err);
        legacy = NULL;
    }
    reg = vgpu_registry_load(a->registry, VGPU_REGISTRY_ALLOW_DUPS, err,
                             sizeof(err));
    if (reg == NULL) {
        admin_problem(&ck, err);
        printf("%s: does not load\n", a->registry);
        return ADMIN_EXIT_PROBLEM;
    }
    n = vgpu_registry_count(reg);
    /* The lookups below are O(log n) with the index (100,000 VMs). */
    (void)vgpu_registry_index(reg);
    (void)vgpu_registry_check(reg, admin_problem, &ck);
    if (legacy != NULL) {
        for (size_t i = 0; i < n; i++) {
            const struct vgpu_vm_entry *e = vgpu_registry_entry(reg, i);
            char dir[4200];
            struct stat st;

            if (vgpu_registry_find_id(reg, e->vm_id) != e) {
                continue;
            }
            snprintf(dir, sizeof(dir), "%s/vm%u", legacy, (unsigned)e->vm_id);
            if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
                admin_problemf(
                    &ck, "vm_id %u ('%s'): legacy directory %s is missing",
                    (unsigned)e->vm_id, e->name, dir);
            }
        }
    }
    if (a->value[OPT_SOCKET] != NULL || a->value[OPT_CONTROL] != NULL) {
        admin_check_mediator(a, reg, &ck);
    }
    if (ck.problems == 0) {
        printf("%s: %zu VM%s, no problems\n", a->registry, n,
               n == 1 ? "" : "s");
    } else {
        printf("%s: %zu VM%s, %zu problem%s\n", a->registry, n,
               n == 1 ? "" : "s", ck.problems, ck.problems == 1 ? "" : "s");
    }
    vgpu_registry_destroy(reg);
    return ck.problems == 0 ? ADMIN_EXIT_OK : ADMIN_EXIT_PROBLEM;
}

/* ---- main -------------------------------------------------------------------
 */

int
main(int argc, char **argv)
{
    struct admin a = {0};
    const struct admin_cmd *cmd = NULL;
    unsigned extra;
    int status;

    /* status and top parse their own options (top.c). */
    if (argc > 1 &&
        (strcmp(argv[1], "status") == 0 || strcmp(argv[1], "top") == 0)) {
        return vgpu_admin_top_main(argc - 1, argv + 1);
    }
    status = admin_parse(&a, argc, argv);
    if (status >= 0) {
        return status;
    }
    if (a.given & ADMIN_BIT(OPT_HELP)) {
        admin_usage(stdout);
        return ADMIN_EXIT_OK;
    }
    if (a.given & ADMIN_BIT(OPT_VERSION)) {
        printf("%s %s\n", ADMIN_PROG, VGPU_VERSION_STRING);
        return ADMIN_EXIT_OK;
    }
    if (a.command == NULL) {
        admin_usage(stderr);
        return ADMIN_EXIT_USAGE;
    }
    for (size_t i = 0; i < ADMIN_NCMDS; i++) {
        if (strcmp(a.command, admin_cmds[i].name) == 0) {
            cmd = &admin_cmds[i];
        }
    }
    if (cmd == NULL) {
        return admin_fail(
            ADMIN_EXIT_USAGE,
            "unknown command '%s' (one of register-vm, list, "
            "show, remove, qemu-args, xe-args, check, status, top)",
            a.command);
    }
    extra = a.given & ~(cmd->options | ADMIN_BIT(OPT_REGISTRY));
    for (int o = 0; o < OPT_COUNT; o++) {
        if (extra & ADMIN_BIT(o)) {
            return admin_fail(ADMIN_EXIT_USAGE,
                              "%s: --%s does not apply to it (see --help)",
                              cmd->name, admin_option_name(o));
        }
    }
    if (cmd->operand && a.operand == NULL) {
        return admin_fail(ADMIN_EXIT_USAGE, "%s: which VM? (%s %s NAME)",
                          cmd->name, ADMIN_PROG, cmd->name);
    }
    if (!cmd->operand && a.operand != NULL) {
        return admin_fail(ADMIN_EXIT_USAGE,
                          "%s: unexpected argument '%s' (see --help)",
                          cmd->name, a.operand);
    }
    return cmd->run(&a);
}
