/*
 * Conventions shared by every vgpu library: the export macro and the error
 * convention (STYLE.md rule 9).
 *
 * Functions return 0 (or a count) on success and a negative code on failure:
 * either a negated errno value (-EINVAL, -ENOMEM, ...) or one of the VGPU_E_*
 * codes below, which sit outside errno's range. Constructors return NULL.
 * vgpu_strerror() names every code.
 */
#ifndef VGPU_COMMON_H
#define VGPU_COMMON_H

#include <stddef.h>

#if defined(__GNUC__)
#define VGPU_EXPORT __attribute__((visibility("default")))
#else
#define VGPU_EXPORT
#endif

/* Log levels of every library's log callback, most severe first. */
#define VGPU_LOG_ERROR 0
#define VGPU_LOG_WARN  1
#define VGPU_LOG_INFO  2
#define VGPU_LOG_DEBUG 3

#define VGPU_E_BASE            1000
/* Frame magic is not VGPU. */
#define VGPU_E_BAD_MAGIC       (-(VGPU_E_BASE + 1))
/* Frame version unknown. */
#define VGPU_E_BAD_VERSION     (-(VGPU_E_BASE + 2))
/* Frame type unknown. */
#define VGPU_E_BAD_TYPE        (-(VGPU_E_BASE + 3))
/* Payload over the receiver's limit. */
#define VGPU_E_TOO_LARGE       (-(VGPU_E_BASE + 4))
/* The stream ended in the middle of a frame. */
#define VGPU_E_TRUNCATED       (-(VGPU_E_BASE + 5))
/* Payload size wrong for the frame's type. */
#define VGPU_E_BAD_PAYLOAD     (-(VGPU_E_BASE + 6))
/* Request bytes do not match their op. */
#define VGPU_E_INVALID_REQUEST (-(VGPU_E_BASE + 7))
/* The device ended the request in ERROR (libvgpu-guest). */
#define VGPU_E_DEVICE          (-(VGPU_E_BASE + 8))
/* A request is already in flight (libvgpu-guest). */
#define VGPU_E_BUSY            (-(VGPU_E_BASE + 9))
/* The device is not a vgpu-stub: wrong ids or revision (libvgpu-guest). */
#define VGPU_E_NOT_VGPU        (-(VGPU_E_BASE + 10))
#define VGPU_E_LAST            VGPU_E_NOT_VGPU

/**
 * vgpu_strerror() - name a code.
 * @code: a device error code (VGPU_ERR_*, 0 and up), or a negative library
 *        code (VGPU_E_* or a negated errno value).
 *
 * For a device error code the result is its SPEC.md name ("INVALID_LENGTH");
 * an unknown device code gives "UNKNOWN". For a negative code the result is a
 * short sentence. The string is static: never free it. Thread-safe.
 */
VGPU_EXPORT const char *vgpu_strerror(int code);

/**
 * vgpu_set_err() - format a one-line reason into a caller's buffer, the way
 * every constructor with an (err, err_len) pair reports why it failed.
 * Does nothing when @err is NULL or @err_len is 0; truncates to fit.
 * Thread-safe.
 */
VGPU_EXPORT void vgpu_set_err(char *err, size_t err_len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif /* VGPU_COMMON_H */
