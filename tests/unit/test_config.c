/*
 * Unit tests of the daemon's configuration (src/daemon/config.h):
 * defaults, every INI key and flag, every bad value named with its key and
 * value, unknown keys and sections, --pool and --weights, and flags over the
 * file.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "vgpu/scheduler.h"
#include "vgpu_test.h"

#define ARGV(...) ((char *[]){"vgpu-mediator", __VA_ARGS__, NULL})
#define ARGC(...)                                                              \
    ((int)(sizeof((char *[]){"vgpu-mediator", __VA_ARGS__}) / sizeof(char *)))
#define PARSE(cfg, err, ...)                                                   \
    parse((cfg), ARGC(__VA_ARGS__), ARGV(__VA_ARGS__), (err))

/* A temporary directory for the test's files, removed at the end. */
static char tmpdir[256];
static char paths[8][300];
static int npaths;

static int
setup_dir(void **state)
{
    const char *base = getenv("TMPDIR");

    snprintf(tmpdir, sizeof(tmpdir), "%s/vgpu-test-config-XXXXXX",
             base && *base ? base : "/tmp");
    if (mkdtemp(tmpdir) == NULL) {
        return -1;
    }
    npaths = 0;
    return 0;
}

static int
teardown_dir(void **state)
{
    for (int i = 0; i < npaths; i++) {
        unlink(paths[i]);
    }
    rmdir(tmpdir);
    return 0;
}

/* Write @text to a new file; its path stays valid until teardown. */
static const char *
write_file(const char *text)
{
    char *path;
    FILE *f;

    assert_true(npaths < 8);
    path = paths[npaths];
    snprintf(path, sizeof(paths[0]), "%s/conf%d.ini", tmpdir, npaths);
    npaths++;
    f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    return path;
}

static int
parse(struct vgpu_daemon_config *cfg, int argc, char **argv, char *err)
{
    return vgpu_config_parse_args(cfg, argc, argv, err, 512);
}

static void
init(struct vgpu_daemon_config *cfg)
{
    assert_int_equal(vgpu_config_init(cfg), 0);
}

/* @err must contain @want; print both when it does not. */
static void
expect_err(const char *err, const char *want)
{
    if (strstr(err, want) == NULL) {
        print_error("error '%s'\n   lacks '%s'\n", err, want);
        fail();
    }
}

static void
test_defaults(void **state)
{
    struct vgpu_daemon_config cfg;
    char err[512] = "";

    init(&cfg);
    assert_int_equal(parse(&cfg, 1, ARGV(NULL), err), 0);
    assert_int_equal(cfg.action, VGPU_CONFIG_RUN);
    assert_null(cfg.config_file);
    assert_string_equal(cfg.socket_path, VGPU_DEFAULT_SOCKET);
    assert_string_equal(cfg.control_path, VGPU_DEFAULT_SOCKET ".ctl");
    assert_int_equal(cfg.policy, VGPU_SCHED_PRIORITY);
    assert_int_equal(cfg.weights[VGPU_PRIO_HIGH], 4);
    assert_int_equal(cfg.weights[VGPU_PRIO_MEDIUM], 2);
    assert_int_equal(cfg.weights[VGPU_PRIO_LOW], 1);
    assert_int_equal(cfg.max_wait_ms, 1000);
    assert_int_equal(cfg.vm_queue_cap, 64);
    assert_int_equal(cfg.queue_inflight, VGPU_Q_DEFAULT_INFLIGHT);
    assert_int_equal(cfg.request_memory_mib,
                     VGPU_CONFIG_DEFAULT_REQUEST_MEMORY_MIB);
    for (size_t i = 0; i < VGPU_POOL_COUNT; i++) {
        assert_null(cfg.pool_backend[i]);
    }
    assert_string_equal(cfg.default_backend, "cpu");
    assert_int_equal(cfg.output_kib, 256);
    assert_int_equal(cfg.log_level, VGPU_LOG_INFO);
    assert_null(cfg.log_file);
    vgpu_config_fini(&cfg);
}

static const char every_key[] = "; every key\n"
                                "[mediator]\n"
                                "socket = /run/x/m.sock\n"
                                "control_socket = /run/x/c.sock\n"
                                "policy = weighted\n"
                                "weight_high = 8\n"
                                "weight_medium = 3\n"
                                "weight_low = 2\n"
                                "max_wait_ms = 250\n"
                                "vm_queue_cap = 16\n"
                                "queue_inflight = 12\n"
                                "request_memory_mib = 300\n"
                                "default_backend = cpu:delay_us=1\n"
                                "output_kib = 64\n"
                                "log_level = debug\n"
                                "log_file = /var/log/m.log\n"
                                "\n"
                                "[pools]\n"
                                "A = cpu\n"
                                "B = cpu:delay_us=5000 ; slow\n";

static void
test_file_every_key(void **state)
{
    struct vgpu_daemon_config cfg;
    const char *path = write_file(every_key);
    char err[512] = "";

    init(&cfg);
    assert_int_equal(vgpu_config_load_file(&cfg, path, err, sizeof(err)), 0);
    assert_string_equal(cfg.socket_path, "/run/x/m.sock");
    assert_string_equal(cfg.control_path, "/run/x/c.sock");
    assert_int_equal(cfg.policy, VGPU_SCHED_WEIGHTED);
    assert_int_equal(cfg.weights[VGPU_PRIO_HIGH], 8);
    assert_int_equal(cfg.weights[VGPU_PRIO_MEDIUM], 3);
    assert_int_equal(cfg.weights[VGPU_PRIO_LOW], 2);
    assert_int_equal(cfg.max_wait_ms, 250);
    assert_int_equal(cfg.vm_queue_cap, 16);
    assert_int_equal(cfg.queue_inflight, 12);
    assert_int_equal(cfg.request_memory_mib, 300);
    assert_string_equal(cfg.default_backend, "cpu:delay_us=1");
    assert_int_equal(cfg.output_kib, 64);
    assert_int_equal(cfg.log_level, VGPU_LOG_DEBUG);
    assert_string_equal(cfg.log_file, "/var/log/m.log");
    assert_string_equal(cfg.pool_backend[0], "cpu");
    assert_string_equal(cfg.pool_backend[1], "cpu:delay_us=5000");
    for (size_t i = 2; i < VGPU_POOL_COUNT; i++) {
        assert_null(cfg.pool_backend[i]);
    }
    assert_int_equal(vgpu_config_check_file(path, err, sizeof(err)), 0);
    vgpu_config_fini(&cfg);
}

static void
test_flags_every_flag(void **state)
{
    struct vgpu_daemon_config cfg;
    char err[512] = "";

    init(&cfg);
    assert_int_equal(PARSE(&cfg, err, "--socket", "/s/m.sock", "--control",
                           "/s/c", "--policy", "weighted", "--weights", "9:5:3",
                           "--max-wait-ms", "0", "--vm-queue-cap", "65536",
                           "--pool", "Z=cpu", "--pool", "C=cpu:delay_us=20000",
                           "--default-backend", "cpu", "--output-kib", "2",
                           "--log-level", "error", "--log-file", "/l/m.log"),
                     0);
    assert_int_equal(cfg.action, VGPU_CONFIG_RUN);
    assert_string_equal(cfg.socket_path, "/s/m.sock");
    assert_string_equal(cfg.control_path, "/s/c");
    assert_int_equal(cfg.policy, VGPU_SCHED_WEIGHTED);
    assert_int_equal(cfg.weights[VGPU_PRIO_HIGH], 9);
    assert_int_equal(cfg.weights[VGPU_PRIO_MEDIUM], 5);
    assert_int_equal(cfg.weights[VGPU_PRIO_LOW], 3);
    assert_int_equal(cfg.max_wait_ms, 0);
    assert_int_equal(cfg.vm_queue_cap, 65536);
    assert_string_equal(cfg.pool_backend['Z' - VGPU_POOL_FIRST], "cpu");
    assert_string_equal(cfg.pool_backend['C' - VGPU_POOL_FIRST],
                        "cpu:delay_us=20000");
    assert_string_equal(cfg.default_backend, "cpu");
    assert_int_equal(cfg.output_kib, 2);
    assert_int_equal(cfg.log_level, VGPU_LOG_ERROR);
    assert_string_equal(cfg.log_file, "/l/m.log");
    vgpu_config_fini(&cfg);
}

struct bad_value {
    const char *key;  /* INI key */
    const char *flag; /* its flag, NULL if none */
    const char *value;
};

static const char long_path[] =
    "/run/vgpu/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.sock"; /* 108 bytes */

static const struct bad_value bad_values[] = {
    {"socket", "--socket", ""},
    {"socket", "--socket", long_path},
    {"control_socket", "--control", ""},
    {"control_socket", "--control", long_path},
    {"policy", "--policy", "fast"},
    {"policy", "--policy", "Priority"},
    {"weight_high", NULL, "0"},
    {"weight_high", NULL, "1001"},
    {"weight_medium", NULL, "x"},
    {"weight_low", NULL, "-1"},
    {"max_wait_ms", "--max-wait-ms", "3600001"},
    {"max_wait_ms", "--max-wait-ms", "-1"},
    {"max_wait_ms", "--max-wait-ms", "1e3"},
    {"max_wait_ms", "--max-wait-ms", "0x10"},
    {"max_wait_ms", "--max-wait-ms", "99999999999999999999999"},
    {"vm_queue_cap", "--vm-queue-cap", "0"},
    {"vm_queue_cap", "--vm-queue-cap", "65537"},
    {"vm_queue_cap", "--vm-queue-cap", ""},
    {"queue_inflight", "--queue-inflight", "0"},
    {"queue_inflight", "--queue-inflight", "257"},
    {"queue_inflight", "--queue-inflight", "x"},
    {"request_memory_mib", "--request-memory-mib", "0"},
    {"request_memory_mib", "--request-memory-mib", "1048577"},
    {"request_memory_mib", "--request-memory-mib", "1G"},
    {"default_backend", "--default-backend", "gpu"},
    {"default_backend", "--default-backend", ":cpu"},
    {"default_backend", "--default-backend", ""},
    {"output_kib", "--output-kib", "1"},
    {"output_kib", "--output-kib", "65537"},
    {"output_kib", "--output-kib", "256k"},
    {"log_level", "--log-level", "verbose"},
    {"log_file", "--log-file", ""},
};

static void
test_file_bad_values(void **state)
{
    for (size_t i = 0; i < sizeof(bad_values) / sizeof(bad_values[0]); i++) {
        const struct bad_value *b = &bad_values[i];
        struct vgpu_daemon_config cfg;
        char text[512];
        char want[512];
        char err[512] = "";
        const char *path;

        snprintf(text, sizeof(text), "[mediator]\n; pad\n%s = %s\n", b->key,
                 b->value);
        path = write_file(text);
        init(&cfg);
        assert_int_equal(vgpu_config_load_file(&cfg, path, err, sizeof(err)),
                         -EINVAL);
        snprintf(want, sizeof(want), "%s:3: %s: '%s' ", path, b->key, b->value);
        expect_err(err, want);
        vgpu_config_fini(&cfg);
        /* --check-config says the same. */
        assert_int_equal(vgpu_config_check_file(path, err, sizeof(err)),
                         -EINVAL);
        expect_err(err, want);
        unlink(path);
        npaths--;
    }
}

static void
test_flags_bad_values(void **state)
{
    for (size_t i = 0; i < sizeof(bad_values) / sizeof(bad_values[0]); i++) {
        const struct bad_value *b = &bad_values[i];
        struct vgpu_daemon_config cfg;
        char want[512];
        char err[512] = "";

        if (b->flag == NULL) {
            continue;
        }
        init(&cfg);
        assert_int_equal(PARSE(&cfg, err, (char *)b->flag, (char *)b->value),
                         -EINVAL);
        snprintf(want, sizeof(want), "%s: '%s' ", b->flag, b->value);
        expect_err(err, want);
        assert_int_equal(strncmp(err, b->flag, strlen(b->flag)), 0);
        vgpu_config_fini(&cfg);
    }
}

struct bad_file {
    const char *text;
    const char *want; /* after "PATH:" */
};

static const struct bad_file bad_files[] = {
    {"[mediator]\nfoo = 1\n", "2: unknown key 'foo' in [mediator]"},
    {"[mediator]\nPolicy = weighted\n", "2: unknown key 'Policy'"},
    {"[extra]\nx = 1\n", "1: unknown section [extra]"},
    {"[mediator]\npolicy = weighted\n[empty]\n", "3: unknown section [empty]"},
    {"[ mediator ]\npolicy = weighted\n", "1: unknown section [ mediator ]"},
    {"policy = weighted\n", "1: key 'policy' is outside any section"},
    {"[pools]\na = cpu\n", "2: unknown key 'a' in [pools]"},
    {"[pools]\nAB = cpu\n", "2: unknown key 'AB' in [pools]"},
    {"[pools]\n1 = cpu\n", "2: unknown key '1' in [pools]"},
    {"[pools]\nA = gpu\n", "2: A: 'gpu' does not name a backend"},
    {"[pools]\nA =\n", "2: A: '' does not name a backend"},
    {"[mediator]\njunk\n", "2: syntax error"},
    {"[mediator\n", "1: '[' without ']'"},
    {"[mediator]\npolicy = weighted\npolicy = priority\n",
     "3: policy: given twice in [mediator] (lines 2 and 3)"},
    {"[pools]\nA = cpu\nA = cpu\n",
     "3: A: given twice in [pools] (lines 2 and 3)"},
    {"[mediator]\nlog_level = d\xC3\xA9"
     "bug\n",
     "2: column 14: byte 0xc3 is not ASCII"},
};

static void
test_file_unknown_and_syntax(void **state)
{
    for (size_t i = 0; i < sizeof(bad_files) / sizeof(bad_files[0]); i++) {
        struct vgpu_daemon_config cfg;
        const char *path = write_file(bad_files[i].text);
        char want[512];
        char err[512] = "";

        init(&cfg);
        assert_int_equal(vgpu_config_load_file(&cfg, path, err, sizeof(err)),
                         -EINVAL);
        snprintf(want, sizeof(want), "%s:%s", path, bad_files[i].want);
        expect_err(err, want);
        vgpu_config_fini(&cfg);
        unlink(path);
        npaths--;
    }
}

static void
test_file_missing(void **state)
{
    struct vgpu_daemon_config cfg;
    char path[300];
    char want[400];
    char err[512] = "";

    snprintf(path, sizeof(path), "%s/none.ini", tmpdir);
    init(&cfg);
    assert_int_equal(vgpu_config_load_file(&cfg, path, err, sizeof(err)),
                     -EINVAL);
    snprintf(want, sizeof(want), "%s: cannot read: ", path);
    expect_err(err, want);
    /* Through --config as well. */
    assert_int_equal(PARSE(&cfg, err, "--config", path), -EINVAL);
    expect_err(err, want);
    vgpu_config_fini(&cfg);
}

/* A real path is longer than inih's 198 characters: PATH_MAX fits. */
static void
test_file_long_path(void **state)
{
    struct vgpu_daemon_config cfg;
    char text[400];
    char log[301];
    char err[512] = "";
    const char *path;

    /* Two components, each under NAME_MAX, in a directory not there. */
    memset(log, 'l', sizeof(log) - 1);
    log[0] = '/';
    log[sizeof(log) / 2] = '/';
    log[sizeof(log) - 1] = '\0';
    snprintf(text, sizeof(text), "[mediator]\nlog_file = %s\n", log);
    path = write_file(text);
    init(&cfg);
    assert_int_equal(vgpu_config_load_file(&cfg, path, err, sizeof(err)), 0);
    assert_string_equal(cfg.log_file, log);
    vgpu_config_fini(&cfg);
}

/* What is not a regular file is refused by name, never read. */
static void
test_file_types(void **state)
{
    struct vgpu_daemon_config cfg;
    char fifo[300];
    char want[400];
    char err[512] = "";

    init(&cfg);
    assert_int_equal(PARSE(&cfg, err, "--config", tmpdir), -EINVAL);
    snprintf(want, sizeof(want), "%s is a directory, not a regular file",
             tmpdir);
    expect_err(err, want);
    snprintf(fifo, sizeof(fifo), "%s/fifo", tmpdir);
    assert_int_equal(mkfifo(fifo, 0600), 0);
    assert_int_equal(vgpu_config_check_file(fifo, err, sizeof(err)), -EINVAL);
    snprintf(want, sizeof(want), "%s is a FIFO, not a regular file", fifo);
    expect_err(err, want);
    vgpu_config_fini(&cfg);
    init(&cfg);
    assert_int_equal(PARSE(&cfg, err, "--log-file", tmpdir), -EINVAL);
    expect_err(err, "is a directory, not a regular file");
    assert_int_equal(PARSE(&cfg, err, "--registry", fifo), -EINVAL);
    expect_err(err, "is a FIFO, not a regular file");
    assert_int_equal(PARSE(&cfg, err, "--legacy-dir", fifo), -EINVAL);
    expect_err(err, "is a FIFO, not a directory");
    unlink(fifo);
    vgpu_config_fini(&cfg);
}

/* A flag given twice, and one path for two sockets, are usage errors. */
static void
test_flags_twice(void **state)
{
    struct vgpu_daemon_config cfg;
    char err[512] = "";

    init(&cfg);
    assert_int_equal(
        PARSE(&cfg, err, "--policy", "weighted", "--policy", "priority"),
        -EINVAL);
    expect_err(err, "--policy is given twice");
    assert_int_equal(PARSE(&cfg, err, "--pool", "A=cpu", "--pool", "B=cpu"), 0);
    vgpu_config_fini(&cfg);
    init(&cfg);
    assert_int_equal(
        PARSE(&cfg, err, "--socket", "/tmp/x.sock", "--control", "/tmp/x.sock"),
        -EINVAL);
    expect_err(err, "--socket and --control");
    vgpu_config_fini(&cfg);
}

static void
test_pool_parsing(void **state)
{
    /* Each bad value, and the part of it the message quotes. */
    static const char *const bad[][2] = {
        {"A", "'A' is not L=BACKEND"},
        {"=cpu", "'=cpu' is not L=BACKEND"},
        {"AB=cpu", "'AB=cpu' is not L=BACKEND"},
        {"a=cpu", "'a=cpu' is not L=BACKEND"},
        {"1=cpu", "'1=cpu' is not L=BACKEND"},
        {"", "'' is not L=BACKEND"},
        {"A=", "pool A: '' does not name a backend"},
        {"A=gpu", "pool A: 'gpu' does not name a backend"},
        {"A=:x", "pool A: ':x' does not name a backend"},
    };
    struct vgpu_daemon_config cfg;
    char err[512] = "";

    init(&cfg);
    assert_int_equal(PARSE(&cfg, err, "--pool", "A=cpu", "--pool",
                           "B=cpu:delay_us=5000", "--pool", "A=cpu:delay_us=1"),
                     0);
    /* The last --pool of a letter wins. */
    assert_string_equal(cfg.pool_backend[0], "cpu:delay_us=1");
    assert_string_equal(cfg.pool_backend[1], "cpu:delay_us=5000");
    assert_null(cfg.pool_backend[2]);
    vgpu_config_fini(&cfg);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char want[128];

        init(&cfg);
        assert_int_equal(PARSE(&cfg, err, "--pool", (char *)bad[i][0]),
                         -EINVAL);
        snprintf(want, sizeof(want), "--pool: %s", bad[i][1]);
        expect_err(err, want);
        vgpu_config_fini(&cfg);
    }
}

/* --vm-share: one mode for every pool, or LETTER:MODE items; a bad one
 * changes nothing. */
static void
test_vm_share_parsing(void **state)
{
    static const char *const bad[] = {
        "Equal",    "",          "A:",      "A:fair", "a:equal",
        "AB:equal", "A:equal,,", "A=equal", ":equal",
    };
    struct vgpu_daemon_config cfg;
    char err[512] = "";

    (void)state;
    init(&cfg);
    assert_int_equal(cfg.vm_share[0], VGPU_SHARE_BEST_EFFORT);
    assert_int_equal(PARSE(&cfg, err, "--vm-share", "equal"), 0);
    assert_int_equal(cfg.vm_share[0], VGPU_SHARE_EQUAL);
    assert_int_equal(cfg.vm_share[VGPU_POOL_COUNT - 1], VGPU_SHARE_EQUAL);
    vgpu_config_fini(&cfg);
    init(&cfg);
    assert_int_equal(PARSE(&cfg, err, "--vm-share", "A:fixed,C:equal"), 0);
    assert_int_equal(cfg.vm_share[0], VGPU_SHARE_FIXED);
    assert_int_equal(cfg.vm_share[1], VGPU_SHARE_BEST_EFFORT);
    assert_int_equal(cfg.vm_share[2], VGPU_SHARE_EQUAL);
    vgpu_config_fini(&cfg);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        init(&cfg);
        assert_int_equal(PARSE(&cfg, err, "--vm-share", (char *)bad[i]),
                         -EINVAL);
        assert_non_null(strstr(err, "--vm-share: "));
        assert_int_equal(cfg.vm_share[0], VGPU_SHARE_BEST_EFFORT);
        vgpu_config_fini(&cfg);
    }
}

static void
test_weights_parsing(void **state)
{
    static const char *const bad[] = {
        "0:1:1",  "1:0:1",   "1:1:0",  "1001:1:1",
        "4:2",    "4:2:1:1", "a:b:c",  "4::1",
        "",       "4:2:1:",  ":4:2:1", "4,2,1",
        "+4:2:1", " 4:2:1",  "4:2:1 ", "99999999999999999999:1:1",
    };
    struct vgpu_daemon_config cfg;
    char err[512] = "";

    init(&cfg);
    assert_int_equal(PARSE(&cfg, err, "--weights", "1000:1:7"), 0);
    assert_int_equal(cfg.weights[VGPU_PRIO_HIGH], 1000);
    assert_int_equal(cfg.weights[VGPU_PRIO_MEDIUM], 1);
    assert_int_equal(cfg.weights[VGPU_PRIO_LOW], 7);
    vgpu_config_fini(&cfg);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char want[64];

        init(&cfg);
        assert_int_equal(PARSE(&cfg, err, "--weights", (char *)bad[i]),
                         -EINVAL);
        snprintf(want, sizeof(want), "--weights: '%s' is not H:M:L", bad[i]);
        expect_err(err, want);
        /* Nothing changed. */
        assert_int_equal(cfg.weights[VGPU_PRIO_HIGH], 4);
        vgpu_config_fini(&cfg);
    }
}

static void
test_flags_override_file(void **state)
{
    struct vgpu_daemon_config cfg;
    const char *path = write_file("[mediator]\n"
                                  "policy = weighted\n"
                                  "max_wait_ms = 5\n"
                                  "socket = /file/m.sock\n"
                                  "[pools]\n"
                                  "A = cpu:delay_us=1\n");
    char err[512] = "";

    init(&cfg);
    /* The flags win wherever they are on the command line. */
    assert_int_equal(PARSE(&cfg, err, "--max-wait-ms", "7", "--config",
                           (char *)path, "--pool", "A=cpu"),
                     0);
    assert_int_equal(cfg.max_wait_ms, 7);
    assert_int_equal(cfg.policy, VGPU_SCHED_WEIGHTED);
    assert_string_equal(cfg.socket_path, "/file/m.sock");
    assert_string_equal(cfg.control_path, "/file/m.sock.ctl");
    assert_string_equal(cfg.pool_backend[0], "cpu");
    assert_string_equal(cfg.config_file, path);
    vgpu_config_fini(&cfg);
}

static void
test_file_error_through_config(void **state)
{
    struct vgpu_daemon_config cfg;
    const char *path = write_file("[mediator]\n\npolicy = fast\n");
    char want[400];
    char err[512] = "";

    init(&cfg);
    assert_int_equal(PARSE(&cfg, err, "--config", (char *)path), -EINVAL);
    snprintf(want, sizeof(want),
             "%s:3: policy: 'fast' is not one of priority, weighted", path);
    assert_string_equal(err, want);
    vgpu_config_fini(&cfg);
}

static void
test_actions(void **state)
{
    struct vgpu_daemon_config cfg;
    char err[512] = "";

    init(&cfg);
    assert_int_equal(PARSE(&cfg, err, "--help"), 0);
    assert_int_equal(cfg.action, VGPU_CONFIG_HELP);
    vgpu_config_fini(&cfg);
    init(&cfg);
    assert_int_equal(PARSE(&cfg, err, "-h"), 0);
    assert_int_equal(cfg.action, VGPU_CONFIG_HELP);
    vgpu_config_fini(&cfg);
    init(&cfg);
    assert_int_equal(PARSE(&cfg, err, "--version", "--stats"), 0);
    assert_int_equal(cfg.action, VGPU_CONFIG_VERSION);
    vgpu_config_fini(&cfg);
    /* --check-config reads nothing but its file (later). */
    init(&cfg);
    assert_int_equal(PARSE(&cfg, err, "--config", "/nonexistent/x.ini",
                           "--check-config", "/some/file.ini"),
                     0);
    assert_int_equal(cfg.action, VGPU_CONFIG_CHECK);
    assert_string_equal(cfg.check_file, "/some/file.ini");
    vgpu_config_fini(&cfg);
    init(&cfg);
    assert_int_equal(PARSE(&cfg, err, "--stats", "--socket", "/s/x.sock"), 0);
    assert_int_equal(cfg.action, VGPU_CONFIG_STATS);
    assert_string_equal(cfg.control_path, "/s/x.sock.ctl");
    vgpu_config_fini(&cfg);
}

static void
test_bad_options(void **state)
{
    struct vgpu_daemon_config cfg;
    char err[512] = "";

    init(&cfg);
    assert_int_equal(PARSE(&cfg, err, "--bogus"), -EINVAL);
    expect_err(err, "unknown option '--bogus'");
    assert_int_equal(PARSE(&cfg, err, "--policy", "weighted", "--bogus=1"),
                     -EINVAL);
    expect_err(err, "unknown option '--bogus=1'");
    assert_int_equal(PARSE(&cfg, err, "-x"), -EINVAL);
    expect_err(err, "unknown option '-x'");
    assert_int_equal(PARSE(&cfg, err, "--socket"), -EINVAL);
    expect_err(err, "option '--socket' needs a value");
    assert_int_equal(PARSE(&cfg, err, "--stats", "extra"), -EINVAL);
    expect_err(err, "unexpected argument 'extra'");
    vgpu_config_fini(&cfg);
}

static void
test_check_file(void **state)
{
    const char *good = write_file("[mediator]\npolicy = priority\n");
    const char *bad_spec =
        write_file("[mediator]\n[pools]\nB = cpu:delay_us=abc\n");
    char err[512] = "";

    assert_int_equal(vgpu_config_check_file(good, err, sizeof(err)), 0);
    assert_int_equal(vgpu_config_check_file(bad_spec, err, sizeof(err)),
                     -EINVAL);
    expect_err(err, bad_spec);
    expect_err(err, "pool B: backend 'cpu:delay_us=abc'");
}

static void
test_control_path(void **state)
{
    /* 104 bytes: a valid socket path whose ".ctl" twin is not. */
    static const char sock[] =
        "/run/vgpu/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.sock";
    struct vgpu_daemon_config cfg;
    char err[512] = "";

    assert_int_equal(strlen(sock), 104);
    init(&cfg);
    assert_int_equal(PARSE(&cfg, err, "--socket", (char *)sock), -EINVAL);
    expect_err(err, "control socket");
    expect_err(err, "is longer than 107 bytes");
    vgpu_config_fini(&cfg);
    init(&cfg);
    assert_int_equal(
        PARSE(&cfg, err, "--socket", (char *)sock, "--control", "/run/c"), 0);
    assert_string_equal(cfg.control_path, "/run/c");
    vgpu_config_fini(&cfg);
}

static void
test_to_core(void **state)
{
    struct vgpu_daemon_config cfg;
    struct vgpu_mediator_config core;
    char err[512] = "";

    init(&cfg);
    assert_int_equal(PARSE(&cfg, err, "--policy", "weighted", "--weights",
                           "5:3:2", "--max-wait-ms", "9", "--vm-queue-cap", "3",
                           "--pool", "D=cpu", "--log-level", "warn",
                           "--queue-inflight", "256", "--request-memory-mib",
                           "2"),
                     0);
    vgpu_config_to_core(&cfg, &core);
    assert_int_equal(core.policy, VGPU_SCHED_WEIGHTED);
    assert_int_equal(core.weights[VGPU_PRIO_HIGH], 5);
    assert_int_equal(core.weights[VGPU_PRIO_MEDIUM], 3);
    assert_int_equal(core.weights[VGPU_PRIO_LOW], 2);
    assert_int_equal(core.max_wait_ms, 9);
    assert_int_equal(core.vm_queue_cap, 3);
    assert_int_equal(core.queue_inflight, 256);
    assert_int_equal(core.request_memory, 2u << 20);
    assert_ptr_equal(core.pool_backend[3], cfg.pool_backend[3]);
    assert_null(core.pool_backend[0]);
    assert_string_equal(core.default_backend, "cpu");
    assert_int_equal(core.log_level, VGPU_LOG_WARN);
    vgpu_config_fini(&cfg);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        VGPU_TEST("/config/defaults", test_defaults),
        VGPU_TEST_FIXTURE("/config/file/every_key", test_file_every_key,
                          setup_dir, teardown_dir),
        VGPU_TEST("/config/flags/every_flag", test_flags_every_flag),
        VGPU_TEST_FIXTURE("/config/file/bad_values", test_file_bad_values,
                          setup_dir, teardown_dir),
        VGPU_TEST("/config/flags/bad_values", test_flags_bad_values),
        VGPU_TEST_FIXTURE("/config/file/unknown_and_syntax",
                          test_file_unknown_and_syntax, setup_dir,
                          teardown_dir),
        VGPU_TEST_FIXTURE("/config/file/missing", test_file_missing, setup_dir,
                          teardown_dir),
        VGPU_TEST_FIXTURE("/config/file/long_path", test_file_long_path,
                          setup_dir, teardown_dir),
        VGPU_TEST_FIXTURE("/config/file/types", test_file_types, setup_dir,
                          teardown_dir),
        VGPU_TEST("/config/flags/twice", test_flags_twice),
        VGPU_TEST("/config/flags/pool", test_pool_parsing),
        VGPU_TEST("/config/flags/weights", test_weights_parsing),
        VGPU_TEST("/config/flags/vm-share", test_vm_share_parsing),
        VGPU_TEST_FIXTURE("/config/flags/override_file",
                          test_flags_override_file, setup_dir, teardown_dir),
        VGPU_TEST_FIXTURE("/config/file/error_through_config",
                          test_file_error_through_config, setup_dir,
                          teardown_dir),
        VGPU_TEST("/config/flags/actions", test_actions),
        VGPU_TEST("/config/flags/bad_options", test_bad_options),
        VGPU_TEST_FIXTURE("/config/check_file", test_check_file, setup_dir,
                          teardown_dir),
        VGPU_TEST("/config/control_path", test_control_path),
        VGPU_TEST("/config/to_core", test_to_core),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
