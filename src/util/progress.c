/*
 * The progress meter of vgpu-sim and vgpu-bench (progress.h).
 */
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "progress.h"

#define NS_PER_MS         1000000ull
#define NS_PER_SEC        1000000000ull
#define PROGRESS_LINE_MAX 160

static uint64_t
progress_now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * NS_PER_SEC + (uint64_t)ts.tv_nsec;
}

/* The first draw's delay: VGPU_PROGRESS_AFTER_ENV if it is a number. */
static uint64_t
progress_after_ns(void)
{
    const char *s = getenv(VGPU_PROGRESS_AFTER_ENV);
    char *end;
    unsigned long ms;

    if (s == NULL || *s == '\0') {
        return VGPU_PROGRESS_AFTER_MS * NS_PER_MS;
    }
    ms = strtoul(s, &end, 10);
    if (*end != '\0') {
        return VGPU_PROGRESS_AFTER_MS * NS_PER_MS;
    }
    return (uint64_t)ms * NS_PER_MS;
}

void
vgpu_progress_start(struct vgpu_progress *p, FILE *out, int quiet,
                    const char *prog, uint64_t total, const char *what)
{
    p->out = out;
    p->prog = prog;
    p->what = what;
    p->total = total;
    p->t0_ns = progress_now_ns();
    p->on = !quiet && out != NULL && isatty(fileno(out));
    p->done = 0;
    p->next_ns = p->t0_ns + progress_after_ns();
    p->drawn = 0;
    p->width = 0;
}

static void
progress_draw(struct vgpu_progress *p, uint64_t done, uint64_t now)
{
    char line[PROGRESS_LINE_MAX];
    unsigned width = __atomic_load_n(&p->width, __ATOMIC_RELAXED);
    double secs = (double)(now - p->t0_ns) / (double)NS_PER_SEC;
    double rate = secs > 0 ? (double)done / secs : 0;
    int n = snprintf(line, sizeof(line), "%s: %llu/%llu %s  %.0f/s  %.1f s",
                     p->prog, (unsigned long long)done,
                     (unsigned long long)p->total, p->what, rate, secs);

    if (n < 0) {
        return;
    }
    if ((unsigned)n >= sizeof(line)) {
        n = (int)sizeof(line) - 1;
    }
    /* Blanks over what is left of a longer line drawn before. */
    fprintf(p->out, "\r%s%*s", line,
            width > (unsigned)n ? (int)(width - (unsigned)n) : 0, "");
    fflush(p->out);
    if ((unsigned)n > width) {
        __atomic_store_n(&p->width, (unsigned)n, __ATOMIC_RELAXED);
    }
}

void
vgpu_progress_add(struct vgpu_progress *p, uint64_t n)
{
    uint64_t done = __atomic_add_fetch(&p->done, n, __ATOMIC_RELAXED);
    uint64_t next;
    uint64_t now;

    if (!p->on) {
        return;
    }
    next = __atomic_load_n(&p->next_ns, __ATOMIC_RELAXED);
    now = progress_now_ns();
    if (now < next) {
        return;
    }
    /* One thread wins each slot of 1/VGPU_PROGRESS_HZ s and draws. */
    if (!__atomic_compare_exchange_n(&p->next_ns, &next,
                                     now + NS_PER_SEC / VGPU_PROGRESS_HZ, 0,
                                     __ATOMIC_ACQ_REL, __ATOMIC_RELAXED)) {
        return;
    }
    progress_draw(p, done, now);
    __atomic_add_fetch(&p->drawn, 1, __ATOMIC_RELEASE);
}

void
vgpu_progress_end(struct vgpu_progress *p)
{
    if (!p->on || __atomic_load_n(&p->drawn, __ATOMIC_ACQUIRE) == 0) {
        return;
    }
    fprintf(p->out, "\r%*s\r",
            (int)__atomic_load_n(&p->width, __ATOMIC_RELAXED), "");
    fflush(p->out);
}
