/*
 * A one-line progress meter for long runs (vgpu-sim, vgpu-bench): requests
 * done of the total, the rate and the time elapsed, on a terminal only.
 *
 *   vgpu-sim: 5210/8000 requests  4160/s  1.3 s
 *
 * Drawn on @out (stderr) when it is a terminal and the run is not --quiet,
 * first after VGPU_PROGRESS_AFTER_MS (runs shorter than that show none),
 * then at most VGPU_PROGRESS_HZ times a second, each time over the last
 * with a carriage return; vgpu_progress_end() erases it, so what the tool
 * prints next (its summary, on stdout) reads as it did without a meter.
 *
 * Thread-safe: any thread may call vgpu_progress_add(); one of them draws.
 */
#ifndef VGPU_PROGRESS_H
#define VGPU_PROGRESS_H

#include <stdint.h>
#include <stdio.h>

#define VGPU_PROGRESS_AFTER_MS  1000u
#define VGPU_PROGRESS_HZ        10u
/* The environment variable that sets the first draw's delay in ms instead
 * of VGPU_PROGRESS_AFTER_MS (the tests set 0, so a short run draws). */
#define VGPU_PROGRESS_AFTER_ENV "VGPU_PROGRESS_AFTER_MS"

struct vgpu_progress {
    FILE *out;
    const char *prog; /* "vgpu-sim" */
    const char *what; /* "requests" */
    uint64_t total;
    uint64_t t0_ns;
    int on;           /* drawing at all */
    uint64_t done;    /* atomic */
    uint64_t next_ns; /* atomic: the earliest time of the next draw */
    unsigned drawn;   /* atomic: how many draws */
    unsigned width;   /* the longest line drawn, to erase it */
};

/**
 * vgpu_progress_start() - set up @p for a run of @total @what.
 * @out:   where to draw: stderr. Nothing is drawn unless it is a terminal.
 * @quiet: nonzero: never draw.
 */
void vgpu_progress_start(struct vgpu_progress *p, FILE *out, int quiet,
                         const char *prog, uint64_t total, const char *what);

/** vgpu_progress_add() - @n more done; draw if it is time. */
void vgpu_progress_add(struct vgpu_progress *p, uint64_t n);

/** vgpu_progress_end() - erase the meter if one was drawn. */
void vgpu_progress_end(struct vgpu_progress *p);

#endif /* VGPU_PROGRESS_H */
