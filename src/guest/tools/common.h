/*
 * What the guest tools (vgpu-info, vgpu-dump, vgpu-selftest,
 * vgpu-vector-add, vgpu-bench) share: the device options, opening the
 * client on a real device or the simulator, and printing errors.
 *
 * Every tool exits with VGPU_TOOL_EXIT_OK (0) on success,
 * VGPU_TOOL_EXIT_FAIL (1) when the device or a check failed and
 * VGPU_TOOL_EXIT_USAGE (2) for a wrong argument, after a line naming it.
 *
 * Nothing here is thread-safe; the tools are single-threaded.
 */
#ifndef VGPU_TOOLS_COMMON_H
#define VGPU_TOOLS_COMMON_H

#include <getopt.h>
#include <stddef.h>
#include <stdint.h>

#include "vgpu/guest.h"
#include "vgpu/proto.h" /* the priority and pool names */

#define VGPU_TOOL_EXIT_OK    0
#define VGPU_TOOL_EXIT_FAIL  1
#define VGPU_TOOL_EXIT_USAGE 2

/* The first getopt id a tool may give its own long options; the shared
 * options use ids below it. */
#define VGPU_TOOL_OPT_FIRST 0x200

/* The simulated device's identity when no --sim-* option says otherwise. */
#define VGPU_TOOL_SIM_VM_ID    1u
#define VGPU_TOOL_SIM_POOL     VGPU_DEFAULT_POOL
#define VGPU_TOOL_SIM_PRIORITY VGPU_DEFAULT_PRIORITY

/* PROTOCOL_VER's halves: 0x00010000 is version 1.0. */
#define VGPU_TOOL_PROTO_MAJOR(v) ((uint32_t)(v) >> 16)
#define VGPU_TOOL_PROTO_MINOR(v) ((uint32_t)(v)&0xffffu)

/* The shared options, after vgpu_tool_parse(). */
struct vgpu_tool_opts {
    const char *device;     /* --device BDF, or NULL: the first vgpu-stub */
    const char *sysfs_root; /* --sysfs-root DIR, or NULL: /sys */
    int sim;                /* --sim, or any --sim-* option */
    uint32_t sim_vm_id;     /* --sim-vm-id */
    uint8_t sim_pool;       /* --sim-pool */
    uint8_t sim_priority;   /* --sim-priority */
    int sim_no_mediator;    /* --sim-no-mediator */
    int irq;                /* --irq */
    int timeout_ms;         /* --timeout-ms (default VGPU_DEFAULT_TIMEOUT_MS) */
};

/* What a tool tells the shared parser about itself. */
struct vgpu_tool_desc {
    const char *name;     /* "vgpu-info", the prefix of every message */
    const char *synopsis; /* after "[options]" in the usage line, or "" */
    const char *summary;  /* one line saying what the tool does */
    const char *help;     /* the tool's own options and examples, or NULL */
    /* The tool's own long options (ids from VGPU_TOOL_OPT_FIRST), ended by
     * an all-zero entry; NULL if none. */
    const struct option *longopts;
    /* Handle one of them: @id is its getopt id, @arg its value or NULL.
     * Return 0, or -1 after printing why with vgpu_tool_complain(): the
     * parser then prints "see --help" and exits 2. */
    int (*handle)(void *ctx, int id, const char *arg);
    void *ctx;
};

/**
 * vgpu_tool_parse() - parse the shared options and the tool's own.
 * Exits 0 after printing the usage for --help, and 2 after printing a
 * reason and the usage for anything wrong (an unknown option, a bad value,
 * --device with --sim).
 * @o: filled with the shared options' values or their defaults.
 * Return: the index in @argv of the first operand (argc if none).
 */
int vgpu_tool_parse(const struct vgpu_tool_desc *d, int argc, char **argv,
                    struct vgpu_tool_opts *o);

/**
 * vgpu_tool_usage_exit() - print @why (if non-NULL, as "<tool>: <why>") and
 * the usage on stderr, then exit 2. For operand errors found after
 * vgpu_tool_parse().
 */
void vgpu_tool_usage_exit(const struct vgpu_tool_desc *d, const char *why)
    __attribute__((noreturn));

/**
 * vgpu_tool_complain() - print "<tool>: <message>" on stderr.
 */
void vgpu_tool_complain(const struct vgpu_tool_desc *d, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/**
 * vgpu_tool_open() - the client the options name: the simulator's single VM
 * (vgpu_sim_open_single()) with --sim, else the sysfs device (with
 * VGPU_OPEN_IRQ for --irq). Sets the helpers' timeout to --timeout-ms.
 * Return: the client (vgpu_close() it), or NULL after printing why.
 */
struct vgpu_client *vgpu_tool_open(const struct vgpu_tool_desc *d,
                                   const struct vgpu_tool_opts *o);

/**
 * vgpu_tool_print_error() - print why a call failed, on stderr. For
 * VGPU_E_DEVICE: `ERROR <NAME> (0x05): <the mediator's message>`
 * ("(the device gave no message)" when RESPONSE_LEN was 0) from
 * vgpu_last_error(); for other codes: "<tool>: <what>: <vgpu_strerror>".
 */
void vgpu_tool_print_error(const struct vgpu_tool_desc *d,
                           struct vgpu_client *c, int rc, const char *what);

/* ---- Values ------------------------------------------------------------ */

/**
 * vgpu_tool_parse_u32() - a decimal (or 0x hex) number in [@min, @max].
 * Return: 0, or -EINVAL.
 */
int vgpu_tool_parse_u32(const char *s, uint32_t min, uint32_t max,
                        uint32_t *out);

/**
 * vgpu_tool_parse_priority() - low, medium, high, or 0, 1, 2. Return: 0 or
 * -EINVAL.
 */
int vgpu_tool_parse_priority(const char *s, uint8_t *priority);

/** vgpu_tool_status_name() - "IDLE", "BUSY", "DONE", "ERROR", or NULL. */
const char *vgpu_tool_status_name(uint32_t status);

/**
 * vgpu_tool_error_name() - the SPEC.md name of a device error code
 * ("INVALID_LENGTH"), or "UNKNOWN".
 */
const char *vgpu_tool_error_name(uint32_t code);

/**
 * vgpu_tool_caps_str() - capability bits as names: "BASIC IRQ", unknown
 * bits as "bit5", none as "none". Always NUL-terminates @buf.
 */
void vgpu_tool_caps_str(uint32_t caps, char *buf, size_t len);

/** vgpu_tool_now_ns() - CLOCK_MONOTONIC in nanoseconds. */
uint64_t vgpu_tool_now_ns(void);

#endif /* VGPU_TOOLS_COMMON_H */
