/*
 * vgpu_strerror(): a name for every code the libraries return; and
 * vgpu_set_err(), the one formatter of constructors' failure reasons. Built
 * from switches over constant strings, so it is thread-safe and never calls
 * strerror(), whose buffer may be shared.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

#include "vgpu/common.h"
#include "vgpu/regs.h"

/* SPEC.md section 5 names, indexed by VGPU_ERR_* code. */
static const char *const device_names[VGPU_ERR_COUNT] = {
    [VGPU_ERR_NONE] = "NONE",
    [VGPU_ERR_BUSY] = "BUSY",
    [VGPU_ERR_INVALID_LENGTH] = "INVALID_LENGTH",
    [VGPU_ERR_MEDIATOR_UNAVAILABLE] = "MEDIATOR_UNAVAILABLE",
    [VGPU_ERR_TIMEOUT] = "TIMEOUT",
    [VGPU_ERR_INVALID_REQUEST] = "INVALID_REQUEST",
    [VGPU_ERR_BACKEND_ERROR] = "BACKEND_ERROR",
    [VGPU_ERR_RESPONSE_TOO_LARGE] = "RESPONSE_TOO_LARGE",
    [VGPU_ERR_REJECTED] = "REJECTED",
    [VGPU_ERR_PROTOCOL_ERROR] = "PROTOCOL_ERROR",
    [VGPU_ERR_DMA_ERROR] = "DMA_ERROR",
};

static const char *
library_name(int code)
{
    switch (code) {
    case VGPU_E_BAD_MAGIC:
        return "frame magic is not VGPU";
    case VGPU_E_BAD_VERSION:
        return "frame protocol version is unknown";
    case VGPU_E_BAD_TYPE:
        return "frame message type is unknown";
    case VGPU_E_TOO_LARGE:
        return "frame payload is over the limit";
    case VGPU_E_TRUNCATED:
        return "stream ended in the middle of a frame";
    case VGPU_E_BAD_PAYLOAD:
        return "frame payload size is wrong for its type";
    case VGPU_E_INVALID_REQUEST:
        return "request bytes do not match their operation";
    case VGPU_E_DEVICE:
        return "the device ended the request in ERROR";
    case VGPU_E_BUSY:
        return "a request is already in flight";
    case VGPU_E_NOT_VGPU:
        return "the device is not a vgpu-stub";
    default:
        return NULL;
    }
}

/* The errno values the project returns, in glibc's words. Compared against
 * the negated code, so INT_MIN is never negated. */
static const char *
errno_name(int code)
{
    switch (code) {
    case -EPERM:
        return "Operation not permitted";
    case -ENOENT:
        return "No such file or directory";
    case -EINTR:
        return "Interrupted system call";
    case -EIO:
        return "Input/output error";
    case -E2BIG:
        return "Argument list too long";
    case -EBADF:
        return "Bad file descriptor";
    case -EAGAIN:
        return "Resource temporarily unavailable";
    case -ENOMEM:
        return "Cannot allocate memory";
    case -EACCES:
        return "Permission denied";
    case -EBUSY:
        return "Device or resource busy";
    case -EEXIST:
        return "File exists";
    case -ENODEV:
        return "No such device";
    case -EINVAL:
        return "Invalid argument";
    case -ENOSPC:
        return "No space left on device";
    case -EPIPE:
        return "Broken pipe";
    case -ERANGE:
        return "Numerical result out of range";
    case -ENAMETOOLONG:
        return "File name too long";
    case -ENOSYS:
        return "Function not implemented";
    case -EPROTO:
        return "Protocol error";
    case -EOVERFLOW:
        return "Value too large for defined data type";
    case -EMSGSIZE:
        return "Message too long";
    case -ENOTSUP:
        return "Operation not supported";
    case -EADDRINUSE:
        return "Address already in use";
    case -ENOBUFS:
        return "No buffer space available";
    case -ENOTCONN:
        return "Transport endpoint is not connected";
    case -ECONNRESET:
        return "Connection reset by peer";
    case -ETIMEDOUT:
        return "Connection timed out";
    case -ECONNREFUSED:
        return "Connection refused";
    case -ECANCELED:
        return "Operation canceled";
    default:
        return NULL;
    }
}

const char *
vgpu_strerror(int code)
{
    const char *s;

    if (code >= 0) {
        if ((unsigned int)code < VGPU_ERR_COUNT) {
            return device_names[code];
        }
        return "UNKNOWN";
    }
    s = library_name(code);
    if (s == NULL) {
        s = errno_name(code);
    }
    return s != NULL ? s : "unknown error";
}

void
vgpu_set_err(char *err, size_t err_len, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL || err_len == 0) {
        return;
    }
    va_start(ap, fmt);
    vsnprintf(err, err_len, fmt, ap);
    va_end(ap);
}
