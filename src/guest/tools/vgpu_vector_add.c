/*
 * vgpu-vector-add: the seed's guest client. `vgpu-vector-add 100 200` adds
 * two int32 on the device (one ADD_I32 request with n = 1) and prints 300.
 * `--n N` adds two vectors of N elements (int32, or float with --f32),
 * checks every element against a local add and reports the time taken.
 * The vectors go either through the mailbox, in requests of at most
 * VGPU_ADD_MAX_N (127) elements one at a time, or through the queue (SPEC.md
 * section 11): N split into --inflight requests of up to VGPU_Q_ADD_MAX_N
 * (131071) elements each (a 1 MiB request), all in flight at once when they
 * fit. --path auto (the default) takes the queue when the device has one.
 *
 * The random vectors come from splitmix64 seeded by --seed, so a run can be
 * repeated exactly on any host.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "qpipe.h"
#include "vgpu/proto.h"

#define VECTOR_MAX_N     (1u << 24) /* 64 MiB per vector */
#define DEFAULT_SEED     1u
#define NS_PER_MS        1000000.0
#define NS_PER_SEC       1000000000.0
#define SPLITMIX_INC     0x9e3779b97f4a7c15ull
#define SPLITMIX_MUL1    0xbf58476d1ce4e5b9ull
#define SPLITMIX_MUL2    0x94d049bb133111ebull
#define PATTERN_B_MUL    3u /* b[i] = 3 * i without --random */
#define DEFAULT_INFLIGHT 8u
#define F32_RANGE        2048.0f /* --random floats lie in [-1024, 1024) */
#define F32_MANT_BITS    24u     /* random bits per float */

enum add_path { PATH_AUTO, PATH_MAILBOX, PATH_QUEUE };

enum {
    OPT_N = VGPU_TOOL_OPT_FIRST,
    OPT_RANDOM,
    OPT_SEED,
    OPT_F32,
    OPT_PATH,
    OPT_INFLIGHT,
    OPT_CHUNK,
};

struct add_args {
    uint32_t n; /* 0: operands mode */
    int random;
    uint32_t seed;
    int have_seed;
    int f32;
    enum add_path path;
    uint32_t inflight;
    uint32_t chunk; /* 0: n / inflight, at most VGPU_Q_ADD_MAX_N */
};

static struct add_args args = {.seed = DEFAULT_SEED,
                               .inflight = DEFAULT_INFLIGHT};

static const struct option add_longopts[] = {
    {"n", required_argument, NULL, OPT_N},
    {"random", no_argument, NULL, OPT_RANDOM},
    {"seed", required_argument, NULL, OPT_SEED},
    {"f32", no_argument, NULL, OPT_F32},
    {"path", required_argument, NULL, OPT_PATH},
    {"inflight", required_argument, NULL, OPT_INFLIGHT},
    {"chunk", required_argument, NULL, OPT_CHUNK},
    {NULL, 0, NULL, 0},
};

static int handle_opt(void *ctx, int id, const char *arg);

static const struct vgpu_tool_desc desc = {
    .name = "vgpu-vector-add",
    .synopsis = "A B | --n N [--f32] [--random] [--seed S] [--path P] "
                "[--inflight K] [--chunk C]",
    .summary = "Add two int32 (A + B, printed) or two vectors of N int32 or "
               "float on a vgpu-stub device.",
    .help =
        "Options:\n"
        "  --n N               add two vectors of N elements (1..16777216)\n"
        "                      and check the sum against a local one\n"
        "  --f32               float vectors (ADD_F32) instead of int32\n"
        "  --random            random vectors (default: a[i] = i,\n"
        "                      b[i] = 3i)\n"
        "  --seed S            the random vectors' seed (default 1)\n"
        "  --path P            mailbox: requests of at most 127 elements,\n"
        "                      one at a time; queue: the device's queue\n"
        "                      (SPEC.md section 11); auto (default): the\n"
        "                      queue when the device has one\n"
        "  --inflight K        queue: requests in flight at once, 1..256\n"
        "                      (default 8)\n"
        "  --chunk C           queue: elements per request, 1..131071\n"
        "                      (default: N / K rounded up, at most 131071)\n"
        "\n"
        "The queue needs DMA memory: root, hugepages reserved (e.g. sysctl\n"
        "vm.nr_hugepages=16) and no guest IOMMU (docs/guest-api.md).\n"
        "A negative operand goes after --:  vgpu-vector-add -- -5 3\n"
        "\n"
        "Examples:\n"
        "  vgpu-vector-add 100 200                      prints 300\n"
        "  vgpu-vector-add --n 100000 --random --seed 7 prints "
        "n=100000 ok\n"
        "  vgpu-vector-add --n 1000000 --f32 --random --path queue "
        "--inflight 32\n",
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
    case OPT_F32:
        a->f32 = 1;
        return 0;
    case OPT_PATH:
        if (strcmp(arg, "auto") == 0) {
            a->path = PATH_AUTO;
        } else if (strcmp(arg, "mailbox") == 0) {
            a->path = PATH_MAILBOX;
        } else if (strcmp(arg, "queue") == 0) {
            a->path = PATH_QUEUE;
        } else {
            vgpu_tool_complain(
                &desc, "--path: '%s' is not one of auto, mailbox, queue", arg);
            return -1;
        }
        return 0;
    case OPT_INFLIGHT:
        if (vgpu_tool_parse_u32(arg, 1, VGPU_Q_ENTRIES_MAX, &a->inflight) !=
            0) {
            vgpu_tool_complain(&desc,
                               "--inflight: '%s' is not a number in "
                               "1..%u",
                               arg, VGPU_Q_ENTRIES_MAX);
            return -1;
        }
        return 0;
    case OPT_CHUNK:
        if (vgpu_tool_parse_u32(arg, 1, VGPU_Q_ADD_MAX_N, &a->chunk) != 0) {
            vgpu_tool_complain(&desc, "--chunk: '%s' is not a number in 1..%u",
                               arg, VGPU_Q_ADD_MAX_N);
            return -1;
        }
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

/* The job: the operands and the result as 32-bit words (int32 or float
 * bits), and how they go to the device. */
struct job {
    uint32_t op; /* VGPU_OP_ADD_I32 or VGPU_OP_ADD_F32 */
    uint32_t *a;
    uint32_t *b;
    uint32_t *out;
    uint32_t n;
    uint32_t chunk; /* queue: elements per request */
    uint64_t requests;
    uint64_t t0;       /* when the requests' time starts */
    uint64_t setup_ns; /* queue: opening it and its DMA memory */
};

static float
as_f32(uint32_t u)
{
    float f;

    memcpy(&f, &u, sizeof(f));
    return f;
}

static uint32_t
f32_bits(float f)
{
    uint32_t u;

    memcpy(&u, &f, sizeof(u));
    return u;
}

/* A float in [-F32_RANGE / 2, F32_RANGE / 2) from 24 random bits: finite,
 * so that the sum is too. */
static uint32_t
random_f32(uint32_t bits)
{
    float unit = (float)(bits & ((1u << F32_MANT_BITS) - 1u)) /
                 (float)(1u << F32_MANT_BITS);

    return f32_bits((unit - 0.5f) * F32_RANGE);
}

static void
fill(struct job *j)
{
    uint64_t state = args.seed;

    for (uint32_t i = 0; i < j->n; i++) {
        if (args.random) {
            uint64_t r = splitmix64(&state);

            j->a[i] = args.f32 ? random_f32((uint32_t)r) : (uint32_t)r;
            j->b[i] = args.f32 ? random_f32((uint32_t)(r >> 32))
                               : (uint32_t)(r >> 32);
        } else if (args.f32) {
            j->a[i] = f32_bits((float)i);
            j->b[i] = f32_bits((float)i * (float)PATTERN_B_MUL);
        } else {
            j->a[i] = i;
            j->b[i] = i * PATTERN_B_MUL;
        }
    }
}

/* The sum of element @i as the device must give it, bit for bit. */
static uint32_t
want_of(const struct job *j, uint32_t i)
{
    if (j->op == VGPU_OP_ADD_F32) {
        return f32_bits(as_f32(j->a[i]) + as_f32(j->b[i]));
    }
    return j->a[i] + j->b[i]; /* two's-complement wrap, as ADD_I32 */
}

static int
verify(const struct job *j)
{
    for (uint32_t i = 0; i < j->n; i++) {
        uint32_t want = want_of(j, i);

        if (j->out[i] == want) {
            continue;
        }
        if (j->op == VGPU_OP_ADD_F32) {
            printf("n=%u mismatch at %u: %a + %a = %a, got %a\n", j->n, i,
                   (double)as_f32(j->a[i]), (double)as_f32(j->b[i]),
                   (double)as_f32(want), (double)as_f32(j->out[i]));
        } else {
            printf("n=%u mismatch at %u: %d + %d = %d, got %d\n", j->n, i,
                   (int32_t)j->a[i], (int32_t)j->b[i], (int32_t)want,
                   (int32_t)j->out[i]);
        }
        return -1;
    }
    return 0;
}

/* Through the mailbox: one request of at most VGPU_ADD_MAX_N elements at a
 * time (the helpers would take the queue for more). */
static int
run_mailbox(struct vgpu_client *c, struct job *j)
{
    j->requests = 0;
    for (uint32_t at = 0; at < j->n; at += VGPU_ADD_MAX_N) {
        uint32_t cnt = j->n - at < VGPU_ADD_MAX_N ? j->n - at : VGPU_ADD_MAX_N;
        int rc = j->op == VGPU_OP_ADD_F32
                     ? vgpu_add_f32(c, (const float *)(j->a + at),
                                    (const float *)(j->b + at),
                                    (float *)(j->out + at), cnt)
                     : vgpu_add_i32(c, (const int32_t *)(j->a + at),
                                    (const int32_t *)(j->b + at),
                                    (int32_t *)(j->out + at), cnt);

        j->requests++;
        if (rc != 0) {
            vgpu_tool_print_error(&desc, c, rc, vgpu_op_name(j->op));
            return -1;
        }
    }
    return 0;
}

/* @count words from @src into @dst as little-endian words (the wire's
 * order), and back: a plain copy on a little-endian guest, which under TCG
 * is many times faster than a loop of vgpu_put_le32(). */
static void
words_to_le(uint8_t *dst, const uint32_t *src, size_t count)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    memcpy(dst, src, count * VGPU_ELEM_SIZE);
#else
    for (size_t i = 0; i < count; i++) {
        vgpu_put_le32(dst + i * VGPU_ELEM_SIZE, src[i]);
    }
#endif
}

static void
words_from_le(uint32_t *dst, const uint8_t *src, size_t count)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    memcpy(dst, src, count * VGPU_ELEM_SIZE);
#else
    for (size_t i = 0; i < count; i++) {
        dst[i] = vgpu_get_le32(src + i * VGPU_ELEM_SIZE);
    }
#endif
}

static size_t
q_build(void *ctx, uint64_t req, uint8_t *in)
{
    const struct job *j = ctx;
    uint32_t at = (uint32_t)req * j->chunk;
    uint32_t cnt = j->n - at < j->chunk ? j->n - at : j->chunk;
    uint8_t *p = in + VGPU_OP_HDR_SIZE;

    vgpu_put_le32(in, j->op);
    vgpu_put_le32(in + VGPU_ELEM_SIZE, cnt);
    words_to_le(p, j->a + at, cnt);
    words_to_le(p + (size_t)cnt * VGPU_ELEM_SIZE, j->b + at, cnt);
    return VGPU_OP_HDR_SIZE + (size_t)2 * cnt * VGPU_ELEM_SIZE;
}

static int
q_done(void *ctx, uint64_t req, const struct vgpu_qcomp *comp,
       const uint8_t *out)
{
    struct job *j = ctx;
    uint32_t at = (uint32_t)req * j->chunk;
    uint32_t cnt = j->n - at < j->chunk ? j->n - at : j->chunk;

    if (comp->status != 0) {
        uint32_t len = comp->out_len < j->chunk * VGPU_ELEM_SIZE
                           ? comp->out_len
                           : j->chunk * VGPU_ELEM_SIZE;
        char msg[VGPU_BUF_SIZE + 1];

        for (uint32_t i = 0; i < len && i < VGPU_BUF_SIZE; i++) {
            msg[i] = out[i] < ' ' || out[i] > '~' ? '?' : (char)out[i];
        }
        msg[len < VGPU_BUF_SIZE ? len : VGPU_BUF_SIZE] = '\0';
        fprintf(stderr, "ERROR %s (0x%02x): request %llu: %s\n",
                vgpu_tool_error_name(comp->status), comp->status,
                (unsigned long long)req,
                msg[0] != '\0' ? msg : "(the device gave no message)");
        return VGPU_E_DEVICE;
    }
    if (comp->out_len != cnt * VGPU_ELEM_SIZE) {
        fprintf(stderr,
                "vgpu-vector-add: request %llu: a response of %u bytes, "
                "want %u\n",
                (unsigned long long)req, comp->out_len, cnt * VGPU_ELEM_SIZE);
        return -EPROTO;
    }
    words_from_le(j->out + at, out, cnt);
    return 0;
}

/* Through the queue; 1 when it cannot be opened and --path auto allows
 * the mailbox instead. */
static int
run_queue(struct vgpu_client *c, struct job *j, int timeout_ms)
{
    struct vgpu_tool_qpipe p;
    char err[512];
    uint32_t inflight;
    int rc;

    j->chunk = args.chunk;
    if (j->chunk == 0) {
        j->chunk =
            (uint32_t)(((uint64_t)j->n + args.inflight - 1u) / args.inflight);
        j->chunk = j->chunk < VGPU_Q_ADD_MAX_N ? j->chunk : VGPU_Q_ADD_MAX_N;
    }
    j->requests = ((uint64_t)j->n + j->chunk - 1u) / j->chunk;
    inflight =
        j->requests < args.inflight ? (uint32_t)j->requests : args.inflight;
    rc = vgpu_tool_qpipe_open(
        &p, c, inflight,
        VGPU_OP_HDR_SIZE + (size_t)2 * j->chunk * VGPU_ELEM_SIZE,
        (size_t)j->chunk * VGPU_ELEM_SIZE, err, sizeof(err));
    if (rc < 0) {
        if (args.path == PATH_AUTO) {
            vgpu_tool_complain(&desc, "no queue, using the mailbox: %s", err);
            return 1;
        }
        vgpu_tool_complain(&desc, "--path queue: %s", err);
        return -1;
    }
    /* The requests' time starts here: the DMA memory is set up once, like
     * the client (docs/performance.md reports both). */
    j->setup_ns = vgpu_tool_now_ns() - j->t0;
    j->t0 = vgpu_tool_now_ns();
    rc = vgpu_tool_qpipe_run(&p, j->requests, q_build, q_done, j, timeout_ms);
    if (rc != 0) {
        /* What became of every request: the failure tests count on it. */
        printf("queue: %llu submitted, %llu ok, %llu failed, %llu "
               "unfinished\n",
               (unsigned long long)p.submitted, (unsigned long long)p.ok,
               (unsigned long long)p.failed,
               (unsigned long long)(p.submitted - p.ok - p.failed));
    }
    vgpu_tool_qpipe_close(&p);
    if (rc == -ETIMEDOUT || rc == -EIO || rc == -ENOMEM || rc == -EPROTO) {
        vgpu_tool_complain(&desc, "the queue: %s", vgpu_strerror(rc));
    }
    return rc == 0 ? 0 : -1;
}

static int
add_vectors(struct vgpu_client *c, uint32_t n, int timeout_ms)
{
    struct job j = {.op = args.f32 ? VGPU_OP_ADD_F32 : VGPU_OP_ADD_I32, .n = n};
    int status = VGPU_TOOL_EXIT_FAIL;
    struct vgpu_info info;
    const char *path = "mailbox";
    double ns;
    int rc = 1;

    j.a = calloc(n, sizeof(*j.a));
    j.b = calloc(n, sizeof(*j.b));
    j.out = calloc(n, sizeof(*j.out));
    if (j.a == NULL || j.b == NULL || j.out == NULL) {
        vgpu_tool_complain(&desc, "out of memory for %u elements", n);
        goto out;
    }
    fill(&j);
    vgpu_info(c, &info);
    j.t0 = vgpu_tool_now_ns();
    if (args.path == PATH_QUEUE ||
        (args.path == PATH_AUTO && (info.capabilities & VGPU_CAP_QUEUE))) {
        path = "queue";
        rc = run_queue(c, &j, timeout_ms);
    }
    if (rc == 1) {
        path = "mailbox";
        j.t0 = vgpu_tool_now_ns();
        rc = run_mailbox(c, &j);
    }
    ns = (double)(vgpu_tool_now_ns() - j.t0);
    if (rc != 0 || verify(&j) != 0) {
        goto out;
    }
    printf("n=%u ok\n", n);
    if (strcmp(path, "queue") == 0) {
        printf("path queue, %u elements per request, %u in flight\n", j.chunk,
               args.inflight);
        printf("setup %.3f ms (the queue and its DMA memory, not in "
               "elapsed)\n",
               (double)j.setup_ns / NS_PER_MS);
    } else {
        printf("path mailbox, %u elements per request\n", VGPU_ADD_MAX_N);
    }
    printf("elapsed %.3f ms, %llu requests, %.0f requests/s\n", ns / NS_PER_MS,
           (unsigned long long)j.requests,
           ns > 0 ? (double)j.requests * NS_PER_SEC / ns : 0.0);
    status = VGPU_TOOL_EXIT_OK;

out:
    free(j.out);
    free(j.b);
    free(j.a);
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
            vgpu_tool_complain(
                &desc, "'%s' or '%s' is not an integer in %ld..%ld",
                argv[first], argv[first + 1], (long)INT32_MIN, (long)INT32_MAX);
            vgpu_tool_usage_exit(&desc, NULL);
        }
        if (args.random || args.have_seed || args.f32) {
            vgpu_tool_usage_exit(&desc, "--random, --seed and --f32 need --n");
        }
    } else if (first < argc) {
        vgpu_tool_usage_exit(&desc, "operands A B and --n exclude each other");
    }
    c = vgpu_tool_open(&desc, &o);
    if (c == NULL) {
        return VGPU_TOOL_EXIT_FAIL;
    }
    status =
        args.n == 0 ? add_two(c, x, y) : add_vectors(c, args.n, o.timeout_ms);
    vgpu_close(c);
    return status;
}
