/*
 * Helpers shared by the cmocka unit tests: test entries named by path
 * (STYLE.md rule 13), e.g. VGPU_TEST("/devmodel/doorbell/busy", fn).
 * Include after <cmocka.h>.
 */
#ifndef VGPU_TEST_H
#define VGPU_TEST_H

#define VGPU_TEST(path, fn)                                                    \
    {                                                                          \
        .name = (path), .test_func = (fn)                                      \
    }

#define VGPU_TEST_STATE(path, fn, st)                                          \
    {                                                                          \
        .name = (path), .test_func = (fn), .initial_state = (void *)(st)       \
    }

#define VGPU_TEST_FIXTURE(path, fn, setup, teardown)                           \
    {                                                                          \
        .name = (path), .test_func = (fn), .setup_func = (setup),              \
        .teardown_func = (teardown)                                            \
    }

#endif /* VGPU_TEST_H */
