/*
 * vgpu-vector-add: the seed's guest client. `vgpu-vector-add 100 200` adds
 * two int32 on the device (one ADD_I32 request with n = 1) and prints 300.
 * `--n N` adds two vectors of N elements through vgpu_add_i32(), which
 * splits them into requests of at most VGPU_ADD_MAX_N elements, checks every
 * element against a local two's-complement add and reports the time taken.
 *
 * The random vectors come from splitmix64 seeded by --seed, so a run can be
 * repeated exactly on any host.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "vgpu/proto.h"

#define VECTOR_MAX_N  (1u << 24) /* 64 MiB per vector */
#define DEFAULT_SEED  1u
#define NS_PER_MS     1000000.0
#define NS_PER_SEC    1000000000.0
#define SPLITMIX_INC  0x9e3779b97f4a7c15ull
#define SPLITMIX_MUL1 0xbf58476d1ce4e5b9ull
#define SPLITMIX_MUL2 0x94d049bb133111ebull
#define PATTERN_B_MUL 3u /* b[i] = 3 * i without --random */

enum {
    OPT_N = VGPU_TOOL_OPT_FIRST,
    OPT_RANDOM,
    OPT_SEED,
};

struct add_args {
    uint32_t n; /* 0: operands mode */
    int random;
    uint32_t seed;
    int have_seed;
};

static struct add_args args = {.seed = DEFAULT_SEED};

static const struct option add_longopts[] = {
    {"n", required_argument, NULL, OPT_N},
    {"random", no_argument, NULL, OPT_RANDOM},
    {"seed", required_argument, NULL, OPT_SEED},
    {NULL, 0, NULL, 0},
};

static int handle_opt(void *ctx, int id, const char *arg);

static const struct vgpu_tool_desc desc = {
    .name = "vgpu-vector-add",
    .synopsis = "A B | --n N [--random] [--seed S]",
    .summary = "Add two int32 (A + B, printed) or two vectors of N int32 on a "
               "vgpu-stub device.",
    .help =
        "Options:\n"
        "  --n N               add two vectors of N elements (1..16777216),\n"
        "                      split into ADD_I32 requests of at most 127,\n"
        "                      and check the sum against a local one\n"
        "  --random            random vectors (default: a[i] = i,\n"
        "                      b[i] = 3i)\n"
        "  --seed S            the random vectors' seed (default 1)\n"
        "\n"
        "A negative operand goes after --:  vgpu-vector-add -- -5 3\n"
        "\n"
        "Examples:\n"
        "  vgpu-vector-add 100 200                      prints 300\n"
        "  vgpu-vector-add --n 100000 --random --seed 7 prints "
        "n=100000 ok\n",
    .longopts = add_longopts,
    .handle = handle_opt,
    .ctx = &args,
};

static int
handle_opt(void *ctx, int id, const char *arg)
{
    struct add_args *a = ctx;

    switch (id) {
    case OPT_N:
        if (vgpu_tool_parse_u32(arg, 1, VECTOR_MAX_N, &a->n) != 0) {
            vgpu_tool_complain(&desc, "--n: '%s' is not a number in 1..%u", arg,
                               VECTOR_MAX_N);
            return -1;
        }
        return 0;
    case OPT_RANDOM:
        a->random = 1;
        return 0;
    case OPT_SEED:
        if (vgpu_tool_parse_u32(arg, 0, UINT32_MAX, &a->seed) != 0) {
            vgpu_tool_complain(&desc, "--seed: '%s' is not a number in 0..%u",
                               arg, UINT32_MAX);
            return -1;
        }
        a->have_seed = 1;
        return 0;
    default:
        return -1;
    }
}

/* An int32 operand: decimal, optionally signed. */
static int
parse_i32(const char *s, int32_t *out)
{
    long long v;
    char *end;

    if (*s == '\0') {
        return -EINVAL;
    }
    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < INT32_MIN || v > INT32_MAX) {
        return -EINVAL;
    }
    *out = (int32_t)v;
    return 0;
}

static uint64_t
splitmix64(uint64_t *state)
{
    uint64_t z = (*state += SPLITMIX_INC);

    z = (z ^ (z >> 30)) * SPLITMIX_MUL1;
    z = (z ^ (z >> 27)) * SPLITMIX_MUL2;
    return z ^ (z >> 31);
}

/* a + b with two's-complement wrap, without signed overflow. */
static int32_t
wrap_add(int32_t a, int32_t b)
{
    uint32_t u = (uint32_t)a + (uint32_t)b;
    int32_t r;

    memcpy(&r, &u, sizeof(r));
    return r;
}

static int32_t
as_i32(uint32_t u)
{
    int32_t r;

    memcpy(&r, &u, sizeof(r));
    return r;
}

static int
add_two(struct vgpu_client *c, int32_t a, int32_t b)
{
    int32_t sum;
    int rc = vgpu_add_i32(c, &a, &b, &sum, 1);

    if (rc != 0) {
        vgpu_tool_print_error(&desc, c, rc, "ADD_I32");
        return VGPU_TOOL_EXIT_FAIL;
    }
    printf("%d\n", sum);
    return VGPU_TOOL_EXIT_OK;
}

static int
add_vectors(struct vgpu_client *c, uint32_t n)
{
    int32_t *a = calloc(n, sizeof(*a));
    int32_t *b = calloc(n, sizeof(*b));
    int32_t *out = calloc(n, sizeof(*out));
    uint64_t state = args.seed;
    uint64_t requests = (n + VGPU_ADD_MAX_N - 1u) / VGPU_ADD_MAX_N;
    int status = VGPU_TOOL_EXIT_FAIL;
    uint64_t t0;
    double ns;
    int rc;

    if (a == NULL || b == NULL || out == NULL) {
        vgpu_tool_complain(&desc, "out of memory for %u elements", n);
        goto out;
    }
    for (uint32_t i = 0; i < n; i++) {
        if (args.random) {
            uint64_t r = splitmix64(&state);

            a[i] = as_i32((uint32_t)r);
            b[i] = as_i32((uint32_t)(r >> 32));
        } else {
            a[i] = as_i32(i);
            b[i] = as_i32(i * PATTERN_B_MUL);
        }
    }
    t0 = vgpu_tool_now_ns();
    rc = vgpu_add_i32(c, a, b, out, n);
    ns = (double)(vgpu_tool_now_ns() - t0);
    if (rc != 0) {
        vgpu_tool_print_error(&desc, c, rc, "ADD_I32");
        goto out;
    }
    for (uint32_t i = 0; i < n; i++) {
        int32_t want = wrap_add(a[i], b[i]);

        if (out[i] != want) {
            printf("n=%u mismatch at %u: %d + %d = %d, got %d\n", n, i, a[i],
                   b[i], want, out[i]);
            goto out;
        }
    }
    printf("n=%u ok\n", n);
    printf("elapsed %.3f ms, %llu requests, %.0f requests/s\n", ns / NS_PER_MS,
           (unsigned long long)requests,
           ns > 0 ? (double)requests * NS_PER_SEC / ns : 0.0);
    status = VGPU_TOOL_EXIT_OK;

out:
    free(out);
    free(b);
    free(a);
    return status;
}

int
main(int argc, char **argv)
{
    struct vgpu_tool_opts o;
    struct vgpu_client *c;
    int32_t x = 0;
    int32_t y = 0;
    int first;
    int status;

    first = vgpu_tool_parse(&desc, argc, argv, &o);
    if (args.n == 0) {
        if (argc - first != 2) {
            vgpu_tool_usage_exit(&desc, "give two operands A B, or --n N");
        }
        if (parse_i32(argv[first], &x) != 0 ||
            parse_i32(argv[first + 1], &y) != 0) {
            vgpu_tool_complain(&desc, "'%s' or '%s' is not an int32",
                               argv[first], argv[first + 1]);
            vgpu_tool_usage_exit(&desc, NULL);
        }
        if (args.random || args.have_seed) {
            vgpu_tool_usage_exit(&desc, "--random and --seed need --n");
        }
    } else if (first < argc) {
        vgpu_tool_usage_exit(&desc, "operands A B and --n exclude each other");
    }
    c = vgpu_tool_open(&desc, &o);
    if (c == NULL) {
        return VGPU_TOOL_EXIT_FAIL;
    }
    status = args.n == 0 ? add_two(c, x, y) : add_vectors(c, args.n);
    vgpu_close(c);
    return status;
}
