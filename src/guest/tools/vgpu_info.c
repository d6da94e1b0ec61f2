/*
 * vgpu-info: the identity of a vgpu-stub device, as its registers tell it
 * (SPEC.md section 3): pool, priority, vm_id, protocol version and
 * capabilities.
 */
#include <stdio.h>

#include "common.h"

#define CAPS_LEN 128

static const struct vgpu_tool_desc desc = {
    .name = "vgpu-info",
    .synopsis = "",
    .summary = "Print the pool, priority, VM id, protocol version and "
               "capabilities of a vgpu-stub device.",
    .help = "Example:\n"
            "  vgpu-info --sim --sim-pool B --sim-priority high "
            "--sim-vm-id 200\n",
};

int
main(int argc, char **argv)
{
    struct vgpu_tool_opts o;
    struct vgpu_client *c;
    struct vgpu_info info;
    char caps[CAPS_LEN];
    const char *prio;
    int first;
    int rc;

    first = vgpu_tool_parse(&desc, argc, argv, &o);
    if (first < argc) {
        vgpu_tool_usage_exit(&desc, "takes no operands");
    }
    c = vgpu_tool_open(&desc, &o);
    if (c == NULL) {
        return VGPU_TOOL_EXIT_FAIL;
    }
    rc = vgpu_info(c, &info);
    if (rc != 0) {
        vgpu_tool_print_error(&desc, c, rc, "reading the registers");
        vgpu_close(c);
        return VGPU_TOOL_EXIT_FAIL;
    }
    prio = vgpu_prio_name(info.priority);
    vgpu_tool_caps_str(info.capabilities, caps, sizeof(caps));
    printf("bus:          %s\n", vgpu_bus(c, NULL)->name);
    if (vgpu_pool_valid((unsigned char)info.pool)) {
        printf("pool:         %c\n", info.pool);
    } else {
        printf("pool:         invalid (0x%02x)\n", (unsigned char)info.pool);
    }
    if (prio != NULL) {
        printf("priority:     %s\n", prio);
    } else {
        printf("priority:     invalid (%u)\n", info.priority);
    }
    printf("vm_id:        %u\n", info.vm_id);
    printf("protocol:     %u.%u\n",
           VGPU_TOOL_PROTO_MAJOR(info.protocol_version),
           VGPU_TOOL_PROTO_MINOR(info.protocol_version));
    printf("capabilities: %s\n", caps);
    vgpu_close(c);
    return VGPU_TOOL_EXIT_OK;
}
