/*
 * The daemon's view of the backends (src/daemon/backends.c): the CUDA
 * fallback at start, --backends, --cuda-fallback and vgpu_backend_probe().
 *
 * A pool that cannot run CUDA here is "cuda:1023", a device no machine has,
 * so the tests mean the same on GPU machines. The cases that need a CUDA
 * backend whose probe answers as told register a fake "cuda" table, which
 * only a build without the CUDA backend allows; elsewhere they skip.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "backends.h"
#include "config.h"
#include "vgpu/backend.h"
#include "vgpu_test.h"

#define NOWHERE "cuda:1023" /* no machine has device 1023 */

static void
set_pool(struct vgpu_daemon_config *cfg, char letter, const char *str)
{
    size_t i = (size_t)(letter - VGPU_POOL_FIRST);

    free(cfg->pool_backend[i]);
    cfg->pool_backend[i] = strdup(str);
    assert_non_null(cfg->pool_backend[i]);
}

static const char *
pool(const struct vgpu_daemon_config *cfg, char letter)
{
    return cfg->pool_backend[letter - VGPU_POOL_FIRST];
}

static void
test_no_cuda_pools(void **state)
{
    struct vgpu_daemon_config cfg;
    char note[512] = "x";
    char err[512] = "";

    assert_int_equal(vgpu_config_init(&cfg), 0);
    set_pool(&cfg, 'A', "cpu");
    set_pool(&cfg, 'B', "cpu:delay_us=5");
    assert_int_equal(vgpu_backends_apply_fallback(&cfg, note, sizeof(note), err,
                                                  sizeof(err)),
                     0);
    assert_string_equal(note, "");
    assert_string_equal(pool(&cfg, 'A'), "cpu");
    assert_string_equal(pool(&cfg, 'B'), "cpu:delay_us=5");
    assert_string_equal(cfg.default_backend, "cpu");
    vgpu_config_fini(&cfg);
}

static void
test_fallback_cpu(void **state)
{
    struct vgpu_daemon_config cfg;
    char note[1024];
    char err[512] = "";
    char *p;

    assert_int_equal(vgpu_config_init(&cfg), 0);
    set_pool(&cfg, 'A', NOWHERE);
    set_pool(&cfg, 'C', "cpu");
    set_pool(&cfg, 'Z', NOWHERE);
    free(cfg.default_backend);
    cfg.default_backend = strdup(NOWHERE);
    assert_non_null(cfg.default_backend);
    assert_int_equal(vgpu_backends_apply_fallback(&cfg, note, sizeof(note), err,
                                                  sizeof(err)),
                     0);
    assert_string_equal(pool(&cfg, 'A'), "cpu");
    assert_string_equal(pool(&cfg, 'C'), "cpu");
    assert_string_equal(pool(&cfg, 'Z'), "cpu");
    assert_string_equal(cfg.default_backend, "cpu");
    /* One line, every moved string, one reason. */
    assert_null(strchr(note, '\n'));
    p = strstr(note, "cuda not usable, running on cpu instead "
                     "(cuda_fallback = cpu): A=" NOWHERE " Z=" NOWHERE
                     " default=" NOWHERE ": ");
    assert_ptr_equal(p, note);
    assert_true(strlen(note) > strlen("... default=" NOWHERE ": ") + 40);
    vgpu_config_fini(&cfg);
}

static void
test_fallback_fail(void **state)
{
    struct vgpu_daemon_config cfg;
    char note[512];
    char err[512] = "";

    assert_int_equal(vgpu_config_init(&cfg), 0);
    cfg.cuda_fallback = VGPU_CONFIG_CUDA_FALLBACK_FAIL;
    set_pool(&cfg, 'A', "cpu");
    set_pool(&cfg, 'B', NOWHERE);
    assert_int_equal(vgpu_backends_apply_fallback(&cfg, note, sizeof(note), err,
                                                  sizeof(err)),
                     -ENODEV);
    assert_ptr_equal(
        strstr(err, "pool B: backend '" NOWHERE "': cuda not usable: "), err);
    assert_non_null(strstr(err, " (cuda_fallback = fail)"));
    assert_string_equal(pool(&cfg, 'B'), NOWHERE); /* untouched */
    assert_string_equal(note, "");
    vgpu_config_fini(&cfg);
}

static void
test_report(void **state)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    int built = vgpu_backend_find(VGPU_BACKEND_CUDA_NAME) != NULL;

    assert_non_null(f);
    assert_int_equal(vgpu_backends_report(f), 0);
    fclose(f);
    assert_ptr_equal(strstr(text, "cpu: built, usable\ncuda: "), text);
    if (built) {
        assert_ptr_equal(
            strstr(text + strlen("cpu: built, usable\n"), "cuda: built, "),
            text + strlen("cpu: built, usable\n"));
    } else {
        assert_string_equal(text, "cpu: built, usable\n"
                                  "cuda: not built (configure with "
                                  "-DVGPU_WITH_CUDA=ON)\n");
    }
    free(text);
}

static void
test_probe(void **state)
{
    char why[256];

    assert_int_equal(vgpu_backend_probe("cpu", why, sizeof(why)), 0);
    assert_string_equal(why, "");
    assert_int_equal(vgpu_backend_probe("gpu:0", why, sizeof(why)), -ENOENT);
    assert_string_equal(why, "this build has no 'gpu' backend");
    assert_int_equal(vgpu_backend_probe(NULL, why, sizeof(why)), -ENOENT);
    if (vgpu_backend_find(VGPU_BACKEND_CUDA_NAME) != NULL) {
        assert_int_equal(vgpu_backend_probe(NOWHERE, why, sizeof(why)),
                         -ENODEV);
        assert_int_equal(vgpu_backend_probe("cuda:x", why, sizeof(why)),
                         -EINVAL);
        assert_non_null(strstr(why, "bad spec 'x'"));
        assert_int_equal(vgpu_backend_probe("cuda:1024", NULL, 0), -EINVAL);
    } else {
        assert_int_equal(vgpu_backend_probe("cuda", why, sizeof(why)), -ENOENT);
    }
}

/* ---- A fake "cuda" (builds without the CUDA backend only) ---------------- */

/* Usable for "" and "0"; device 7 is missing; anything else is a bad spec. */
static int
fake_probe(const char *spec, char *why, size_t why_len)
{
    if (spec[0] == '\0' || strcmp(spec, "0") == 0) {
        snprintf(why, why_len, "fake device 0");
        return 0;
    }
    if (strcmp(spec, "7") == 0) {
        snprintf(why, why_len, "no fake device 7");
        return -ENODEV;
    }
    snprintf(why, why_len, "fake: bad spec '%s'", spec);
    return -EINVAL;
}

static int
fake_open(const char *spec, void **ctx, char *err, size_t err_len)
{
    return -ENODEV;
}

static int
fake_exec(void *ctx, const struct vgpu_op_desc *op, uint8_t *out,
          size_t out_cap, size_t *out_len, char *msg, size_t msg_len)
{
    return VGPU_ERR_BACKEND_ERROR;
}

static void
fake_close(void *ctx)
{
}

static const struct vgpu_backend_ops fake_cuda = {
    .name = VGPU_BACKEND_CUDA_NAME,
    .open = fake_open,
    .exec = fake_exec,
    .close = fake_close,
    .probe = fake_probe,
};

static void
test_fake_cuda(void **state)
{
    struct vgpu_daemon_config cfg;
    char note[1024];
    char err[512] = "";

    if (vgpu_backend_find(VGPU_BACKEND_CUDA_NAME) != NULL &&
        vgpu_backend_find(VGPU_BACKEND_CUDA_NAME) != &fake_cuda) {
        skip(); /* the real CUDA backend is built in */
    }
    assert_int_equal(vgpu_backend_register(&fake_cuda), 0);

    /* A usable device stays; a missing one falls back with its reason. */
    assert_int_equal(vgpu_config_init(&cfg), 0);
    set_pool(&cfg, 'A', "cuda");
    set_pool(&cfg, 'B', "cuda:7");
    set_pool(&cfg, 'C', "cuda:0");
    assert_int_equal(vgpu_backends_apply_fallback(&cfg, note, sizeof(note), err,
                                                  sizeof(err)),
                     0);
    assert_string_equal(pool(&cfg, 'A'), "cuda");
    assert_string_equal(pool(&cfg, 'B'), "cpu");
    assert_string_equal(pool(&cfg, 'C'), "cuda:0");
    assert_string_equal(note, "cuda not usable, running on cpu instead "
                              "(cuda_fallback = cpu): B=cuda:7: no fake "
                              "device 7");

    /* A bad spec is a configuration error in either mode. */
    set_pool(&cfg, 'D', "cuda:x");
    assert_int_equal(vgpu_backends_apply_fallback(&cfg, note, sizeof(note), err,
                                                  sizeof(err)),
                     -EINVAL);
    assert_string_equal(err, "pool D: backend 'cuda:x': fake: bad spec 'x'");
    vgpu_config_fini(&cfg);
}

/* --cuda-fallback and cuda_fallback, and --backends as an action. */
static void
test_flags(void **state)
{
    struct vgpu_daemon_config cfg;
    char err[512] = "";
    char *fail_args[] = {"vgpu-mediator", "--cuda-fallback", "fail", NULL};
    char *bad_args[] = {"vgpu-mediator", "--cuda-fallback", "gpu", NULL};
    char *list_args[] = {"vgpu-mediator", "--backends", NULL};
    char *pool_args[] = {"vgpu-mediator", "--pool", "A=cuda:3", NULL};
    static const char ini[] = "[mediator]\ncuda_fallback = fail\n";
    static const char bad_ini[] = "[mediator]\ncuda_fallback = maybe\n";

    assert_int_equal(vgpu_config_init(&cfg), 0);
    assert_int_equal(cfg.cuda_fallback, VGPU_CONFIG_CUDA_FALLBACK_CPU);
    assert_int_equal(
        vgpu_config_parse_args(&cfg, 3, fail_args, err, sizeof(err)), 0);
    assert_int_equal(cfg.cuda_fallback, VGPU_CONFIG_CUDA_FALLBACK_FAIL);
    vgpu_config_fini(&cfg);

    assert_int_equal(vgpu_config_init(&cfg), 0);
    assert_int_equal(
        vgpu_config_parse_args(&cfg, 3, bad_args, err, sizeof(err)), -EINVAL);
    assert_string_equal(err, "--cuda-fallback: 'gpu' is not one of cpu, fail");
    vgpu_config_fini(&cfg);

    assert_int_equal(vgpu_config_init(&cfg), 0);
    assert_int_equal(
        vgpu_config_parse_args(&cfg, 2, list_args, err, sizeof(err)), 0);
    assert_int_equal(cfg.action, VGPU_CONFIG_BACKENDS);
    vgpu_config_fini(&cfg);

    /* "cuda" is a backend name in every build. */
    assert_int_equal(vgpu_config_init(&cfg), 0);
    assert_int_equal(
        vgpu_config_parse_args(&cfg, 3, pool_args, err, sizeof(err)), 0);
    assert_string_equal(pool(&cfg, 'A'), "cuda:3");
    vgpu_config_fini(&cfg);

    assert_int_equal(vgpu_config_init(&cfg), 0);
    assert_int_equal(vgpu_config_load_string(&cfg, "t.conf", ini,
                                             sizeof(ini) - 1, err, sizeof(err)),
                     0);
    assert_int_equal(cfg.cuda_fallback, VGPU_CONFIG_CUDA_FALLBACK_FAIL);
    assert_int_equal(vgpu_config_load_string(&cfg, "t.conf", bad_ini,
                                             sizeof(bad_ini) - 1, err,
                                             sizeof(err)),
                     -EINVAL);
    assert_string_equal(err, "t.conf:2: cuda_fallback: 'maybe' is not one of "
                             "cpu, fail");
    vgpu_config_fini(&cfg);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        VGPU_TEST("/backends/fallback/no_cuda_pools", test_no_cuda_pools),
        VGPU_TEST("/backends/fallback/cpu", test_fallback_cpu),
        VGPU_TEST("/backends/fallback/fail", test_fallback_fail),
        VGPU_TEST("/backends/report", test_report),
        VGPU_TEST("/backends/probe", test_probe),
        VGPU_TEST("/backends/fallback/fake_cuda", test_fake_cuda),
        VGPU_TEST("/backends/config/flags", test_flags),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
