/*
 * Per-VM shares (SPEC.md section 9, vm_share): the scheduler's decision
 * cost against the number of VMs with work, and the shares it gives in a
 * deterministic simulation (one executor, a fake clock) for the mixes of
 * tests/unit/test_sched_share.c. Run by bench/share.sh.
 *
 *   bench_share [--iters N] [--dat FILE]
 *
 * 1. ns per decision (vgpu_sched_next() and vgpu_sched_charge() of the item
 *    it gives, and its enqueue again) at 10, 100, 1,000 and 10,000
 *    backlogged VMs, under best_effort (the round robin: the baseline),
 *    equal and fixed.
 * 2. each VM's share of the executor in each 1 s window of a 5 s run
 *    against its target: the least and the most, per mix; with --dat, the
 *    same rows as a whitespace-separated table for the plot.
 */
#include "bench_common.h"

#include "vgpu/scheduler.h"

#define POOL      VGPU_POOL_FIRST
#define PRIO      VGPU_PRIO_MEDIUM
#define MAX_VMS   10000u
#define SIM_VMS   16u
#define SIM_DEPTH 16u
#define SIM_WIN   5u
#define FLOOR_NS  50000ull
#define NS_PER_S  1000000000ull

struct vm_req {
    struct vgpu_sched_item item; /* first: the item is the request */
    uint32_t vm;                 /* index */
};

static struct vgpu_sched *
make_sched(int mode, uint32_t depth)
{
    struct vgpu_sched_config cfg;
    struct vgpu_sched *s;

    vgpu_sched_config_default(&cfg);
    cfg.vm_share[POOL - VGPU_POOL_FIRST] = (uint8_t)mode;
    cfg.vm_queue_cap = depth;
    s = vgpu_sched_create(&cfg);
    if (s == NULL) {
        fprintf(stderr, "vgpu_sched_create failed\n");
        exit(1);
    }
    return s;
}

/* ---- 1. decision cost ---------------------------------------------------- */

static double
decision_ns(int mode, uint32_t n, uint64_t iters)
{
    struct vgpu_sched *s = make_sched(mode, 1);
    struct vm_req *r = calloc(n, sizeof(*r));
    uint64_t now = 0;
    uint64_t t0;
    uint64_t t1;
    uint64_t done = 0;

    if (r == NULL) {
        exit(1);
    }
    for (uint32_t i = 0; i < n; i++) {
        r[i].vm = i;
        vgpu_sched_item_init(&r[i].item, i + 1, POOL, PRIO);
        if (mode == VGPU_SHARE_FIXED) {
            /* 1% each, up to 100 of them; the rest split nothing: 1%. */
            (void)vgpu_sched_vm_limits(s, i + 1, POOL, PRIO, n <= 100 ? 1 : 0,
                                       0);
        }
        (void)vgpu_sched_enqueue(s, &r[i].item, now);
    }
    t0 = bench_now_ns();
    while (done < iters) {
        struct vgpu_sched_item *item = vgpu_sched_next(s, POOL, now);
        uint64_t cost;

        if (item == NULL) {
            now = vgpu_sched_wake_ns(s, POOL); /* fixed: all held back */
            continue;
        }
        /* Costs from the floor to 100 times it, by VM. */
        cost = FLOOR_NS * (1 + ((struct vm_req *)item)->vm % 100);
        now += cost;
        vgpu_sched_charge(s, item, cost);
        (void)vgpu_sched_enqueue(s, item, now);
        done++;
    }
    t1 = bench_now_ns();
    bench_sink += now;
    vgpu_sched_destroy(s);
    free(r);
    return (double)(t1 - t0) / (double)iters;
}

/* ---- 2. share accuracy --------------------------------------------------- */

struct mix {
    const char *name;
    int mode;
    uint32_t n;
    uint64_t mult[SIM_VMS];  /* cost in floors */
    uint32_t share[SIM_VMS]; /* registry share, percent */
    uint32_t cap[SIM_VMS];   /* registry cap, percent */
    double target[SIM_VMS];  /* percent of the executor */
};

static const struct mix mixes[] = {
    {"best_effort-2", VGPU_SHARE_BEST_EFFORT, 2, {3, 1}, {0}, {0}, {75, 25}},
    {"equal-2", VGPU_SHARE_EQUAL, 2, {3, 1}, {0}, {0}, {50, 50}},
    {"fixed-30/70", VGPU_SHARE_FIXED, 2, {3, 1}, {30, 70}, {0}, {30, 70}},
    {"cap-25-alone", VGPU_SHARE_EQUAL, 1, {3}, {0}, {25}, {25}},
    {"cap-25+other", VGPU_SHARE_EQUAL, 2, {3, 1}, {0}, {25, 0}, {25, 75}},
    {"equal-4",
     VGPU_SHARE_EQUAL,
     4,
     {1, 100, 3, 50},
     {0},
     {0},
     {25, 25, 25, 25}},
    {"fixed-4",
     VGPU_SHARE_FIXED,
     4,
     {1, 100, 3, 50},
     {10, 20, 30, 40},
     {0},
     {10, 20, 30, 40}},
    {"equal-16",
     VGPU_SHARE_EQUAL,
     16,
     {1, 100, 3, 50, 7, 20, 2, 70, 10, 5, 40, 15, 30, 4, 90, 60},
     {0},
     {0},
     {6.25, 6.25, 6.25, 6.25, 6.25, 6.25, 6.25, 6.25, 6.25, 6.25, 6.25, 6.25,
      6.25, 6.25, 6.25, 6.25}},
};

/* Run @m for SIM_WIN seconds; busy[v][w]: VM v's executor ns in window w. */
static void
share_run(const struct mix *m, uint64_t busy[SIM_VMS][SIM_WIN])
{
    static struct vm_req reqs[SIM_VMS][SIM_DEPTH];
    struct vgpu_sched *s = make_sched(m->mode, SIM_DEPTH);
    uint64_t now = 0;

    memset(busy, 0, sizeof(uint64_t) * SIM_VMS * SIM_WIN);
    for (uint32_t v = 0; v < m->n; v++) {
        (void)vgpu_sched_vm_limits(s, v + 1, POOL, PRIO, m->share[v],
                                   m->cap[v]);
        for (uint32_t k = 0; k < SIM_DEPTH; k++) {
            reqs[v][k].vm = v;
            vgpu_sched_item_init(&reqs[v][k].item, v + 1, POOL, PRIO);
            (void)vgpu_sched_enqueue(s, &reqs[v][k].item, now);
        }
    }
    while (now < SIM_WIN * NS_PER_S) {
        struct vgpu_sched_item *item = vgpu_sched_next(s, POOL, now);
        uint32_t v;
        uint64_t end;

        if (item == NULL) {
            now = vgpu_sched_wake_ns(s, POOL);
            continue;
        }
        v = ((struct vm_req *)item)->vm;
        end = now + FLOOR_NS * m->mult[v];
        /* Split the service over the windows it spans. */
        for (uint64_t t = now; t < end && t / NS_PER_S < SIM_WIN;) {
            uint64_t edge = (t / NS_PER_S + 1) * NS_PER_S;
            uint64_t stop = edge < end ? edge : end;

            busy[v][t / NS_PER_S] += stop - t;
            t = stop;
        }
        vgpu_sched_charge(s, item, end - now);
        now = end;
        (void)vgpu_sched_enqueue(s, item, now);
    }
    vgpu_sched_destroy(s);
}

static void
share_report(FILE *dat)
{
    static uint64_t busy[SIM_VMS][SIM_WIN];
    size_t row = 0;

    printf("%-14s %3s %6s %7s %7s %8s\n", "mix", "vm", "target", "min", "max",
           "max_err");
    if (dat != NULL) {
        fprintf(dat, "# row mix vm target_pct min_pct max_pct cost_floors"
                     " (per 1 s window of a 5 s deterministic run; "
                     "bench/bench_share.c)\n");
    }
    for (size_t i = 0; i < sizeof(mixes) / sizeof(mixes[0]); i++) {
        const struct mix *m = &mixes[i];

        share_run(m, busy);
        for (uint32_t v = 0; v < m->n; v++) {
            double lo = 100.0;
            double hi = 0.0;
            double err;

            for (uint32_t w = 0; w < SIM_WIN; w++) {
                double pct = (double)busy[v][w] * 100.0 / (double)NS_PER_S;
                lo = pct < lo ? pct : lo;
                hi = pct > hi ? pct : hi;
            }
            err = hi - m->target[v] > m->target[v] - lo ? hi - m->target[v]
                                                        : m->target[v] - lo;
            printf("%-14s %3u %6.2f %7.2f %7.2f %8.2f\n", m->name, v + 1,
                   m->target[v], lo, hi, err);
            if (dat != NULL) {
                fprintf(dat, "%zu %s %u %.2f %.2f %.2f %llu\n", ++row, m->name,
                        v + 1, m->target[v], lo, hi,
                        (unsigned long long)m->mult[v]);
            }
        }
    }
}

int
main(int argc, char **argv)
{
    static const uint32_t sizes[] = {10, 100, 1000, MAX_VMS};
    static const int modes[] = {VGPU_SHARE_BEST_EFFORT, VGPU_SHARE_EQUAL,
                                VGPU_SHARE_FIXED};
    const char *dat_path = NULL;
    struct bench_args a;
    FILE *dat = NULL;
    int decide_mode = -1;
    uint32_t decide_vms = 0;
    int n = 1;

    /* --dat FILE and --decide MODE VMS are ours; the rest go to
     * bench_parse(). */
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--dat") && i + 1 < argc) {
            dat_path = argv[++i];
        } else if (!strcmp(argv[i], "--decide") && i + 2 < argc) {
            if (vgpu_sched_share_lookup(argv[i + 1], &decide_mode) < 0) {
                fprintf(stderr, "--decide: unknown mode '%s'\n", argv[i + 1]);
                return 2;
            }
            decide_vms = (uint32_t)strtoul(argv[i + 2], NULL, 10);
            if (decide_vms == 0 || decide_vms > MAX_VMS) {
                fprintf(stderr, "--decide: VMS is 1..%u\n", MAX_VMS);
                return 2;
            }
            i += 2;
        } else {
            argv[n++] = argv[i];
        }
    }
    bench_parse(n, argv, &a, 2000000,
                "bench_share [--iters N] [--dat FILE] [--decide MODE VMS]: "
                "scheduling decision cost and share accuracy (--decide: "
                "only the decisions of MODE with VMS VMs, for callgrind)");
    if (decide_mode >= 0) {
        printf("%s, %u VMs: %.1f ns per decision\n",
               vgpu_sched_share_name(decide_mode), decide_vms,
               decision_ns(decide_mode, decide_vms, a.iters));
        return 0;
    }
    printf("ns per decision (next + charge + enqueue), %llu decisions:\n",
           (unsigned long long)a.iters);
    printf("%-12s", "vms");
    for (size_t k = 0; k < sizeof(modes) / sizeof(modes[0]); k++) {
        printf(" %12s", vgpu_sched_share_name(modes[k]));
    }
    printf("\n");
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        printf("%-12u", sizes[i]);
        for (size_t k = 0; k < sizeof(modes) / sizeof(modes[0]); k++) {
            printf(" %12.1f", decision_ns(modes[k], sizes[i], a.iters));
        }
        printf("\n");
    }
    if (dat_path != NULL) {
        dat = fopen(dat_path, "w");
        if (dat == NULL) {
            perror(dat_path);
            return 1;
        }
    }
    printf("\nshare of the executor per 1 s window (percent), deterministic "
           "simulation:\n");
    share_report(dat);
    if (dat != NULL && fclose(dat) != 0) {
        perror(dat_path);
        return 1;
    }
    return 0;
}
