/*
 * The clients' side of the stats text (vgpu/ctl.h): "vms N", then the VM
 * lines, each a list of key=value words. Fields are found by key, so a
 * daemon that adds fields does not break its clients.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vgpu/ctl.h"
#include "vgpu/proto.h"

#define DECIMAL     10
#define STATS_HEAD  "vms "
#define VM_KEY      "vm="
#define WORD_BREAKS " \n"

/* The value of the word "@key=..." on the line [@line, @end), or NULL. */
static const char *
parse_word(const char *line, const char *end, const char *key)
{
    size_t klen = strlen(key);

    for (const char *p = line; p + klen < end; p++) {
        if ((p == line || p[-1] == ' ') && strncmp(p, key, klen) == 0 &&
            p[klen] == '=') {
            return p + klen + 1u;
        }
    }
    return NULL;
}

/* The number of "@key=N" on the line into *@out, and @bit into *@have. */
static void
parse_u64(const char *line, const char *end, const char *key, uint64_t *out,
          unsigned bit, unsigned *have)
{
    const char *v = parse_word(line, end, key);

    if (v != NULL && *v >= '0' && *v <= '9') {
        *out = strtoull(v, NULL, DECIMAL);
        *have |= bit;
    }
}

/* One VM line [@line, @end) into @vm. Return: 0, or -1 when it is not one. */
static int
parse_vm(const char *line, const char *end, struct vgpu_ctl_vm *vm)
{
    const char *v;
    char *stop;
    unsigned long id;

    memset(vm, 0, sizeof(*vm));
    vm->priority = -1;
    if (strncmp(line, VM_KEY, strlen(VM_KEY)) != 0) {
        return -1;
    }
    v = line + strlen(VM_KEY);
    if (*v < '0' || *v > '9') {
        return -1;
    }
    id = strtoul(v, &stop, DECIMAL);
    if (id > UINT32_MAX || (stop != end && *stop != ' ')) {
        return -1;
    }
    vm->vm_id = (uint32_t)id;
    v = parse_word(line, end, "pool");
    if (v != NULL && v < end && *v != ' ') {
        vm->pool = *v;
        vm->have |= VGPU_CTL_HAVE_POOL;
    }
    v = parse_word(line, end, "priority");
    if (v != NULL) {
        size_t n = strcspn(v, WORD_BREAKS);
        uint8_t p;

        if (v + n > end) {
            n = (size_t)(end - v);
        }
        memcpy(vm->priority_name, v,
               n < sizeof(vm->priority_name) ? n
                                             : sizeof(vm->priority_name) - 1u);
        if (vgpu_prio_parse(v, n, 0, &p) == 0) {
            vm->priority = p;
        }
        vm->have |= VGPU_CTL_HAVE_PRIORITY;
    }
    parse_u64(line, end, "requests", &vm->requests, VGPU_CTL_HAVE_REQUESTS,
              &vm->have);
    parse_u64(line, end, "responses", &vm->responses, VGPU_CTL_HAVE_RESPONSES,
              &vm->have);
    parse_u64(line, end, "service_total_us", &vm->service_total_us,
              VGPU_CTL_HAVE_SERVICE, &vm->have);
    return 0;
}

int
vgpu_ctl_parse_stats(const char *text, struct vgpu_ctl_vm **vms, size_t *n_vms,
                     size_t *n_total)
{
    const char *line;
    size_t lines = 0;
    size_t n = 0;
    char *stop;
    unsigned long long total;

    *vms = NULL;
    *n_vms = 0;
    if (strncmp(text, STATS_HEAD, strlen(STATS_HEAD)) != 0 ||
        text[strlen(STATS_HEAD)] < '0' || text[strlen(STATS_HEAD)] > '9') {
        return -EPROTO;
    }
    total = strtoull(text + strlen(STATS_HEAD), &stop, DECIMAL);
    if (*stop != '\n' && *stop != '\0') {
        return -EPROTO;
    }
    for (const char *p = text; *p != '\0'; p++) {
        lines += *p == '\n';
    }
    if (lines > 0) {
        *vms = calloc(lines, sizeof(**vms));
        if (*vms == NULL) {
            return -ENOMEM;
        }
    }
    line = strchr(text, '\n');
    while (line != NULL && *++line != '\0') {
        const char *end = strchr(line, '\n');

        if (end == NULL) {
            end = line + strlen(line);
        }
        if (n < lines && parse_vm(line, end, &(*vms)[n]) == 0) {
            n++;
        }
        line = *end != '\0' ? end : NULL;
    }
    if (n == 0) {
        free(*vms);
        *vms = NULL;
    }
    *n_vms = n;
    if (n_total != NULL) {
        *n_total = (size_t)total;
    }
    return 0;
}

const char *
vgpu_ctl_field(const char *line, const char *end, const char *key)
{
    return parse_word(line, end, key);
}
