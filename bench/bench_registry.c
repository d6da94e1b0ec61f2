/*
 * The VM registry at scale (docs/performance.md, "A registry of 100,000
 * VMs"): for each size from 1,000 to 100,000 VMs, the time to load the file
 * (vgpu_registry_load(), which refuses duplicates), to check it
 * (vgpu_registry_check(), vgpu-admin check's part), to look every vm_id up
 * (vgpu_registry_admit(), once per HELLO), and to add one VM
 * (vgpu_registry_update() with vgpu_registry_add(): vgpu-admin
 * register-vm's work: lock, load, add, write, rename). The baseline is
 * reading the same file's bytes (read(2) in 64 KiB blocks): what any loader
 * pays before it parses a byte.
 *
 * --write FILE N writes a registry of N VMs and exits (bench/registry.sh
 * starts the daemon on it). Each figure is the best of --reps runs.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench_common.h"
#include "vgpu/registry.h"

#define REG_BENCH_READ_BLOCK 65536
#define REG_BENCH_REPS       3
#define REG_BENCH_ERR_MAX    512

static const unsigned reg_bench_sizes[] = {1000,  2000,  5000,  10000,
                                           20000, 50000, 100000};

/* A registry of @n VMs: names vm-1.., vm_id 1.., pools A-Z, priorities in
 * turn, a uuid each. */
static int
reg_bench_write(const char *path, unsigned n)
{
    static const char *const prio[] = {"low", "medium", "high"};
    FILE *f = fopen(path, "w");

    if (f == NULL) {
        perror(path);
        return -1;
    }
    for (unsigned i = 1; i <= n; i++) {
        fprintf(f,
                "[vm \"vm-%u\"]\nvm_id = %u\npool = %c\npriority = %s\n"
                "uuid = %08x-0000-4000-8000-%012x\n\n",
                i, i, 'A' + (int)(i % 26), prio[i % 3], i, i);
    }
    return fclose(f) == 0 ? 0 : -1;
}

static uint64_t
reg_bench_read_bytes(const char *path)
{
    static char buf[REG_BENCH_READ_BLOCK];
    uint64_t t0 = bench_now_ns();
    int fd = open(path, O_RDONLY);
    ssize_t n;

    if (fd < 0) {
        return 0;
    }
    while ((n = read(fd, buf, sizeof(buf))) > 0) {
        bench_sink += (uint64_t)buf[0];
    }
    close(fd);
    return bench_now_ns() - t0;
}

static void
reg_bench_problem(void *arg, const char *line)
{
    (void)arg;
    fprintf(stderr, "unexpected problem: %s\n", line);
}

static int
reg_bench_add(struct vgpu_registry *reg, void *arg, char *err, size_t len)
{
    return vgpu_registry_add(reg, arg, err, len);
}

struct reg_bench_fig {
    uint64_t read, load, check, lookup, add;
};

static uint64_t
reg_bench_min(uint64_t a, uint64_t b)
{
    return a == 0 || b < a ? b : a;
}

static int
reg_bench_size(const char *dir, unsigned n, unsigned reps,
               struct reg_bench_fig *fig)
{
    char path[4096];
    char err[REG_BENCH_ERR_MAX];

    snprintf(path, sizeof(path), "%s/vms-%u.conf", dir, n);
    if (reg_bench_write(path, n) < 0) {
        return -1;
    }
    memset(fig, 0, sizeof(*fig));
    for (unsigned r = 0; r < reps; r++) {
        struct vgpu_vm_entry e = {
            .vm_id = n + 1 + r, .pool = 'A', .priority = 0};
        struct vgpu_registry *reg;
        uint64_t t0;

        fig->read = reg_bench_min(fig->read, reg_bench_read_bytes(path));
        t0 = bench_now_ns();
        reg = vgpu_registry_load(path, 0, err, sizeof(err));
        fig->load = reg_bench_min(fig->load, bench_now_ns() - t0);
        if (reg == NULL) {
            fprintf(stderr, "%s\n", err);
            return -1;
        }
        t0 = bench_now_ns();
        if (vgpu_registry_check(reg, reg_bench_problem, NULL) != 0) {
            return -1;
        }
        fig->check = reg_bench_min(fig->check, bench_now_ns() - t0);
        t0 = bench_now_ns();
        for (unsigned i = 1; i <= n; i++) {
            const struct vgpu_vm_entry *v =
                vgpu_registry_entry(reg, (size_t)i - 1);

            bench_sink += (uint64_t)vgpu_registry_admit(
                reg, i, v->pool, v->priority, err, sizeof(err));
        }
        fig->lookup = reg_bench_min(fig->lookup, bench_now_ns() - t0);
        vgpu_registry_destroy(reg);
        snprintf(e.name, sizeof(e.name), "new-%u", r);
        t0 = bench_now_ns();
        if (vgpu_registry_update(path, reg_bench_add, &e, err, sizeof(err)) <
            0) {
            fprintf(stderr, "%s\n", err);
            return -1;
        }
        fig->add = reg_bench_min(fig->add, bench_now_ns() - t0);
    }
    return 0;
}

int
main(int argc, char **argv)
{
    unsigned reps = REG_BENCH_REPS;
    char dir[] = "/tmp/vgpu-bench-registry.XXXXXX";
    double load10k = 0;
    double load100k = 0;

    if (argc == 4 && strcmp(argv[1], "--write") == 0) {
        return reg_bench_write(argv[2],
                               (unsigned)bench_num("--write", argv[3])) == 0
                   ? 0
                   : 1;
    }
    if (argc == 3 && strcmp(argv[1], "--reps") == 0) {
        reps = (unsigned)bench_num("--reps", argv[2]);
    } else if (argc != 1) {
        fprintf(stderr,
                "usage: %s [--reps N] | --write FILE N\n"
                "Registry load, check, lookup and add from 1,000 to "
                "100,000 VMs.\n",
                argv[0]);
        return 2;
    }
    if (mkdtemp(dir) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    printf("%8s %10s %10s %10s %12s %10s   (ms, best of %u)\n", "VMs",
           "read(2)", "load", "check", "lookup all", "add one", reps);
    for (size_t i = 0; i < sizeof(reg_bench_sizes) / sizeof(reg_bench_sizes[0]);
         i++) {
        struct reg_bench_fig f;
        unsigned n = reg_bench_sizes[i];
        char path[4096];

        if (reg_bench_size(dir, n, reps, &f) < 0) {
            return 1;
        }
        printf("%8u %10.2f %10.2f %10.2f %12.2f %10.2f\n", n, f.read / 1e6,
               f.load / 1e6, f.check / 1e6, f.lookup / 1e6, f.add / 1e6);
        if (n == 10000) {
            load10k = (double)f.load;
        }
        if (n == 100000) {
            load100k = (double)f.load;
        }
        snprintf(path, sizeof(path), "%s/vms-%u.conf", dir, n);
        unlink(path);
        snprintf(path, sizeof(path), "%s/vms-%u.conf.lock", dir, n);
        unlink(path);
    }
    rmdir(dir);
    if (load10k > 0) {
        printf("load 100k / load 10k: %.1f (linear: 10)\n", load100k / load10k);
    }
    return 0;
}
