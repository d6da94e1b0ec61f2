/*
 * The daemon and the backends of this build (docs/backends.md):
 * `vgpu-mediator --backends`, and at start the CUDA fallback, which moves the
 * pools mapped to "cuda" onto the CPU backend when this machine cannot run
 * them (cuda_fallback = cpu) or refuses to start (cuda_fallback = fail).
 *
 * Threading: not thread-safe (the daemon calls these from main() before it
 * serves).
 */
#ifndef VGPU_MEDIATOR_BACKENDS_H
#define VGPU_MEDIATOR_BACKENDS_H

#include <stddef.h>
#include <stdio.h>

#include "config.h"

/**
 * vgpu_backends_report() - the --backends listing: one line per backend the
 * project has, built into this binary or not, and whether it can run here:
 *   cpu: built, usable
 *   cuda: built, usable: device 0 of 1: NVIDIA H100 80GB HBM3, sm_90
 *   cuda: built, not usable: no CUDA device (cudaGetDeviceCount: ...)
 *   cuda: not built (configure with -DVGPU_WITH_CUDA=ON)
 * @out: where the lines go.
 * Return: 0, or -EIO when writing to @out failed.
 */
int vgpu_backends_report(FILE *out);

/**
 * vgpu_backends_apply_fallback() - the CUDA fallback, at start, before the
 * backends are opened: every backend string of @cfg (each pool's and the
 * default) whose name is "cuda" is probed (vgpu_backend_probe()). When the
 * build lacks the CUDA backend, or the machine has no usable device for it
 * (no GPU, no driver, a driver older than the runtime, no device of that
 * index), then with cfg->cuda_fallback:
 * - VGPU_CONFIG_CUDA_FALLBACK_CPU: the string becomes "cpu", and @note
 *   receives the one log line that says which pools moved and why, e.g.
 *   "cuda not usable, running on cpu instead (cuda_fallback = cpu): A=cuda
 *   B=cuda:1 default=cuda: no CUDA device (cudaGetDeviceCount: no
 *   CUDA-capable device is detected)" (one "MEMBERS: reason" part per
 *   distinct reason, joined by "; ");
 * - VGPU_CONFIG_CUDA_FALLBACK_FAIL: nothing changes and @err names the
 *   first such pool and the reason.
 * @note: "" when nothing moved; truncated to @note_len.
 * @err:  on failure, one line naming the pool (or the default backend).
 *
 * A spec the CUDA backend refuses ("cuda:x") is a configuration error in
 * either mode, never a reason to fall back.
 *
 * Return: 0; -ENODEV (cuda_fallback = fail and CUDA is not usable);
 * -EINVAL (a bad CUDA spec); -ENOMEM.
 */
int vgpu_backends_apply_fallback(struct vgpu_daemon_config *cfg, char *note,
                                 size_t note_len, char *err, size_t err_len);

/* The longest backend string of one list item ("cuda:12", "cpu:delay_us=N"). */
#define VGPU_BACKENDS_ITEM_MAX 128u

/**
 * vgpu_backends_list_item() - item @index of a pool's backend list, "a,b"
 * (docs/mediator.md: `A = cuda:0, cuda:1`: one backend instance per item,
 * stored without blanks), copied NUL-terminated into @buf. A string
 * without a comma is a list of one. Thread-safe.
 * Return: 0; -ENOENT past the last item; -ENAMETOOLONG when the item does
 * not fit @len bytes.
 */
int vgpu_backends_list_item(const char *list, size_t index, char *buf,
                            size_t len);

/**
 * vgpu_backends_list_each() - @fn(item, @why, @why_len) on each item of
 * @list in order, until one fails (vgpu_backend_probe(), or an open and
 * close). Return: 0, or the first failure.
 */
int vgpu_backends_list_each(const char *list,
                            int (*fn)(const char *item, char *why,
                                      size_t why_len),
                            char *why, size_t why_len);

#endif /* VGPU_MEDIATOR_BACKENDS_H */
