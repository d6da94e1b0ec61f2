/*
 * Shared by the benchmarks: argument parsing, a monotonic clock and a sink
 * that keeps the optimiser from deleting the measured work.
 */
#ifndef VGPU_BENCH_COMMON_H
#define VGPU_BENCH_COMMON_H

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Which half of a benchmark to run: both, the project's code, or only the
 * bare baseline it is compared with (the callgrind runs measure each alone). */
enum bench_mode { BENCH_BOTH, BENCH_SUBJECT, BENCH_BASELINE };

struct bench_args {
    uint64_t iters;
    enum bench_mode mode;
};

static volatile uint64_t bench_sink;

static inline uint64_t
bench_now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* --iters N, --mode both|subject|baseline, --help. Exits 2 on a bad one. */
static inline void
bench_parse(int argc, char **argv, struct bench_args *a, uint64_t def_iters,
            const char *what)
{
    a->iters = def_iters;
    a->mode = BENCH_BOTH;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--iters") && i + 1 < argc) {
            char *end;

            a->iters = strtoull(argv[++i], &end, 10);
            if (*end || a->iters == 0) {
                fprintf(stderr, "--iters: expected a positive number\n");
                exit(2);
            }
        } else if (!strcmp(argv[i], "--mode") && i + 1 < argc) {
            i++;
            if (!strcmp(argv[i], "both")) {
                a->mode = BENCH_BOTH;
            } else if (!strcmp(argv[i], "subject")) {
                a->mode = BENCH_SUBJECT;
            } else if (!strcmp(argv[i], "baseline")) {
                a->mode = BENCH_BASELINE;
            } else {
                fprintf(stderr, "--mode: expected both, subject or baseline\n");
                exit(2);
            }
        } else {
            int help = !strcmp(argv[i], "--help");

            fprintf(help ? stdout : stderr,
                    "usage: %s [--iters N] [--mode both|subject|baseline]\n"
                    "%s\n",
                    argv[0], what);
            exit(help ? 0 : 2);
        }
    }
}

static inline void
bench_report(const char *name, uint64_t ops, uint64_t ns)
{
    printf("%-34s %12.0f ops/s  %8.2f ns/op\n", name,
           ns ? (double)ops * 1e9 / (double)ns : 0.0,
           ops ? (double)ns / (double)ops : 0.0);
}

/* A positive decimal number for @flag; exits 2 on anything else. */
static inline uint64_t
bench_num(const char *flag, const char *s)
{
    char *end;
    unsigned long long v = strtoull(s, &end, 10);

    if (*s == '\0' || *end != '\0' || v == 0) {
        fprintf(stderr, "%s: expected a positive number\n", flag);
        exit(2);
    }
    return v;
}

/* Read or write all @len bytes of @fd (blocking). Return 0, or -1 at EOF
 * or on an error. */
static inline int
bench_full_io(int fd, void *buf, size_t len, int write_it)
{
    size_t off = 0;

    while (off < len) {
        ssize_t n = write_it ? write(fd, (char *)buf + off, len - off)
                             : read(fd, (char *)buf + off, len - off);

        if (n <= 0) {
            if (n < 0 && errno == EINTR) {
                continue;
            }
            return -1;
        }
        off += (size_t)n;
    }
    return 0;
}

#endif /* VGPU_BENCH_COMMON_H */
