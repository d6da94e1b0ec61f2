/*
 * The legacy file protocol's text (docs/mediator.md, "Legacy file
 * transport"): the request line a VM writes to DIR/vmN/request.txt,
 *
 *     pool:priority:vm_id:num1:num2        e.g. "A:2:1:100:200"
 *
 * and the response line the mediator writes to DIR/vmN/response.txt,
 *
 *     ok:<vm_id>:<num1 + num2>             e.g. "ok:1:300"
 *     error:<CODE_NAME>:<message>          e.g. "error:INVALID_REQUEST:..."
 *
 * each ending in one newline. The sum is ADD_I32 with n = 1 (SPEC.md
 * section 8: two's-complement wrap). CODE_NAME is a SPEC.md section 5 name.
 *
 * Everything here is pure: no I/O, no allocation, no globals, so the parser
 * can be fuzzed on its own. Every function is thread-safe.
 */
#ifndef VGPU_LEGACY_H
#define VGPU_LEGACY_H

#include <stddef.h>
#include <stdint.h>

/* The longest request line, before trimming, and the longest response
 * line, newline included. A request.txt larger than this is refused
 * without being read further. */
#define VGPU_LEGACY_LINE_MAX 256u

/* The file names inside DIR/vmN. */
#define VGPU_LEGACY_REQUEST       "request.txt"
#define VGPU_LEGACY_RESPONSE      "response.txt"
#define VGPU_LEGACY_RESPONSE_TMP  "response.txt.tmp"
/* Where the mediator moves request.txt while it reads it (the claim). */
#define VGPU_LEGACY_REQUEST_TAKEN "request.txt.taken"

/* The prefixes of the two kinds of response line. */
#define VGPU_LEGACY_OK    "ok"
#define VGPU_LEGACY_ERROR "error"

/* A directory is "vm" followed by the vm_id in decimal, no leading zero. */
#define VGPU_LEGACY_DIR_PREFIX "vm"

/* One parsed request line. */
struct vgpu_legacy_req {
    uint8_t pool;     /* 'A'..'Z' */
    uint8_t priority; /* VGPU_PRIO_* */
    uint32_t vm_id;   /* 1 and up */
    int32_t num1;
    int32_t num2;
};

/* One parsed response line. */
struct vgpu_legacy_resp {
    int ok;          /* 1: "ok", 0: "error" */
    uint32_t vm_id;  /* ok only */
    int32_t result;  /* ok only */
    char code[32];   /* error only: the CODE_NAME */
    const char *msg; /* error only: points into the parsed text */
    size_t msg_len;
};

/**
 * vgpu_legacy_parse() - parse one request line.
 * @line, @len: the bytes of request.txt (no NUL needed; NULs are refused).
 *              Blanks (space, tab, CR, LF) before and after the line are
 *              ignored, so "A:2:1:100:200\n" and "A:2:1:100:200\r\n" parse.
 * @out:        filled on success only.
 * @why:        on failure, a one-line reason naming the field and its value,
 *              e.g. "num1 '99999999999' is not an integer in
 *              -2147483648..2147483647"; may be NULL.
 *
 * The fields: pool one letter A-Z; priority low, medium, high or 0, 1, 2
 * (SPEC.md section 6); vm_id 1..4294967295 in decimal; num1 and num2
 * int32 in decimal with an optional sign. No blanks inside the line.
 * Refused: an empty line, more than one line, a byte that is not printable
 * ASCII, more than VGPU_LEGACY_LINE_MAX bytes, a field count other than 5,
 * and any field out of its range.
 *
 * Return: 0, or -EINVAL with @why set.
 */
int vgpu_legacy_parse(const char *line, size_t len, struct vgpu_legacy_req *out,
                      char *why, size_t why_len);

/**
 * vgpu_legacy_dir_vm_id() - the vm_id a directory name stands for: "vm3"
 * is 3. Only the last path component counts, and trailing slashes are
 * ignored ("/srv/vgpu/vm3/" is 3).
 * Return: 0 and *@vm_id set, or -EINVAL when the name is not "vm" and a
 * vm_id in 1..4294967295 without a leading zero.
 */
int vgpu_legacy_dir_vm_id(const char *name, uint32_t *vm_id);

/**
 * vgpu_legacy_format_request() - the request line of @req, with the
 * priority as a digit (the seed's form, "A:2:1:100:200\n").
 * Return: the length written (without the NUL), or -ENOBUFS when @cap is too
 * small (then @buf holds a truncated line).
 */
int vgpu_legacy_format_request(const struct vgpu_legacy_req *req, char *buf,
                               size_t cap);

/**
 * vgpu_legacy_format_ok() - "ok:<vm_id>:<result>\n".
 * Return: as vgpu_legacy_format_request().
 */
int vgpu_legacy_format_ok(uint32_t vm_id, int32_t result, char *buf,
                          size_t cap);

/**
 * vgpu_legacy_format_error() - "error:<CODE_NAME>:<message>\n", with every
 * control character of @msg written as '?' (the line stays one line) and
 * the message cut so the line fits VGPU_LEGACY_LINE_MAX and @cap.
 * @code: a SPEC.md error code (VGPU_ERR_*); named by vgpu_strerror().
 * Return: the length written (without the NUL), or -ENOBUFS when @cap
 * cannot hold even "error:<CODE_NAME>:\n".
 */
int vgpu_legacy_format_error(uint32_t code, const char *msg, char *buf,
                             size_t cap);

/**
 * vgpu_legacy_parse_response() - parse a response line (the client's side).
 * @text, @len: the bytes of response.txt; one trailing newline is allowed.
 * @out:        filled on success; out->msg points into @text.
 * Return: 0, or -EINVAL when it is neither form.
 */
int vgpu_legacy_parse_response(const char *text, size_t len,
                               struct vgpu_legacy_resp *out);

#endif /* VGPU_LEGACY_H */
