/*
 * DMA memory for the sysfs bus (SPEC.md section 11) in a Linux guest with
 * no kernel module of ours, the way DPDK does it without an IOMMU:
 *
 * - The device must reach guest-physical addresses as they are: no guest
 *   IOMMU, or one in passthrough (the device's iommu_group type reads
 *   "identity"). Anything else is refused before any memory is touched.
 * - Bus mastering (PCI_COMMAND_MASTER) is set through <dev>/config, read and
 *   written as the whole 16-bit command word (bus_sysfs.c says why).
 * - Memory comes from hugepages (MAP_HUGETLB, the default hugepage size):
 *   a hugepage is physically contiguous, so a block of up to one hugepage
 *   (2 MiB on x86) has one device address, and a 1 MiB request fits. Blocks
 *   are carved out of hugepages, 4 KiB aligned, never across two. A
 *   hugepage is given back when the last block in it is freed.
 * - With no hugepage free, a block of at most one 4 KiB page gets a locked
 *   page of its own (mlock). Hugepages stay where they are; a locked small
 *   page is not moved by compaction only with
 *   vm.compact_unevictable_allowed=0, which docs/guest-api.md says.
 * - The physical address of each page comes from /proc/self/pagemap, which
 *   shows page frame numbers only to CAP_SYS_ADMIN (root).
 *
 * Every refusal leaves a one-line reason that names what is missing and how
 * to provide it (vgpu_sysfs_dma_why()). Not thread-safe, like the client.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/pci_regs.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "guest_internal.h"

#define SMALL_PAGE         4096u
#define PAGEMAP_ENTRY      8u
#define PAGEMAP_PRESENT    (1ull << 63)
#define PAGEMAP_PFN_MASK   ((1ull << 55) - 1u)
#define MEMINFO_LINE       128
#define IOMMU_TYPE_MAX     32
#define IOMMU_PASSTHROUGH  "identity"
#define HUGEPAGE_FALLBACK  (2u * 1024u * 1024u) /* x86's default */
#define KIB                1024u
#define PROC_SELF_PAGEMAP  "/proc/self/pagemap"
#define PROC_MEMINFO       "/proc/meminfo"
#define MEMINFO_HUGE_SIZE  "Hugepagesize:"
#define MEMINFO_HUGE_FREE  "HugePages_Free:"
#define MEMINFO_HUGE_TOTAL "HugePages_Total:"

/* One hugepage (or one locked small page) that blocks are carved from. */
struct dma_arena {
    uint8_t *base;
    uint64_t phys;
    size_t size;
    size_t used;   /* bump pointer */
    unsigned live; /* blocks not yet freed */
    struct dma_arena *next;
};

static void __attribute__((format(printf, 2, 3)))
why(struct vgpu_sysfs_dma *d, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(d->why, sizeof(d->why), fmt, ap);
    va_end(ap);
}

/* A number after @key in /proc/meminfo, or -1. */
static long
meminfo(const char *key)
{
    char line[MEMINFO_LINE];
    size_t klen = strlen(key);
    long val = -1;
    FILE *fp = fopen(PROC_MEMINFO, "re");

    if (fp == NULL) {
        return -1;
    }
    while (fgets(line, sizeof(line), fp) != NULL) {
        if (strncmp(line, key, klen) == 0) {
            val = strtol(line + klen, NULL, 10);
            break;
        }
    }
    fclose(fp);
    return val;
}

/* The device's iommu_group must be absent or in passthrough. */
static int
check_iommu(struct vgpu_sysfs_dma *d, const char *dev_dir, const char *bdf)
{
    char path[PATH_MAX];
    char type[IOMMU_TYPE_MAX] = "";
    ssize_t n;
    int fd;

    if (snprintf(path, sizeof(path), "%s/iommu_group", dev_dir) >=
        (int)sizeof(path)) {
        why(d, "%s: path too long", dev_dir);
        return -ENAMETOOLONG;
    }
    if (access(path, F_OK) != 0) {
        return 0; /* no IOMMU: guest-physical is what the device sees */
    }
    snprintf(path, sizeof(path), "%s/iommu_group/type", dev_dir);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        n = read(fd, type, sizeof(type) - 1);
        close(fd);
        type[n > 0 ? n : 0] = '\0';
        type[strcspn(type, "\n")] = '\0';
    }
    if (strcmp(type, IOMMU_PASSTHROUGH) == 0) {
        return 0;
    }
    why(d,
        "%s is behind a guest IOMMU (iommu_group type '%s'): the device "
        "would not see guest-physical addresses; boot the guest without a "
        "virtual IOMMU or with iommu.passthrough=1 (iommu=pt)",
        bdf, type[0] != '\0' ? type : "unknown");
    return -ENOTSUP;
}

/* Set PCI_COMMAND_MASTER through <dev>/config. */
static int
enable_master(struct vgpu_sysfs_dma *d, const char *dev_dir, const char *bdf)
{
    char path[PATH_MAX];
    uint8_t cmd[2];
    int rc = 0;
    int fd;

    snprintf(path, sizeof(path), "%s/config", dev_dir);
    fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        rc = -errno;
        why(d,
            "cannot enable bus mastering of %s: %s: %s (writing the PCI "
            "config space needs root)",
            bdf, path, strerror(-rc));
        return rc;
    }
    if (pread(fd, cmd, sizeof(cmd), PCI_COMMAND) != (ssize_t)sizeof(cmd)) {
        rc = -EIO;
    } else if (!(cmd[0] & PCI_COMMAND_MASTER)) {
        cmd[0] |= PCI_COMMAND_MASTER;
        if (pwrite(fd, cmd, sizeof(cmd), PCI_COMMAND) != (ssize_t)sizeof(cmd) ||
            pread(fd, cmd, sizeof(cmd), PCI_COMMAND) != (ssize_t)sizeof(cmd) ||
            !(cmd[0] & PCI_COMMAND_MASTER)) {
            rc = -EIO;
        }
    }
    close(fd);
    if (rc < 0) {
        why(d,
            "cannot enable bus mastering of %s: the command register in %s "
            "does not keep bit 2 (run as root)",
            bdf, path);
    }
    return rc;
}

int
vgpu_sysfs_dma_prepare(struct vgpu_sysfs_dma *d, const char *dev_dir,
                       const char *bdf)
{
    int rc;

    if (d->ready) {
        return 0;
    }
    rc = check_iommu(d, dev_dir, bdf);
    if (rc == 0) {
        rc = enable_master(d, dev_dir, bdf);
    }
    d->ready = rc == 0;
    return rc;
}

/* The physical address of the page at @va, which is mapped and locked. */
static int
phys_of(struct vgpu_sysfs_dma *d, const void *va, uint64_t *phys)
{
    uint64_t entry = 0;
    uint64_t vpn = (uint64_t)(uintptr_t)va / SMALL_PAGE;
    ssize_t n;
    int fd = open(PROC_SELF_PAGEMAP, O_RDONLY | O_CLOEXEC);

    if (fd < 0) {
        int rc = -errno;

        why(d, "cannot open %s: %s", PROC_SELF_PAGEMAP, strerror(-rc));
        return rc;
    }
    n = pread(fd, &entry, sizeof(entry), (off_t)(vpn * PAGEMAP_ENTRY));
    close(fd);
    if (n != (ssize_t)sizeof(entry) || !(entry & PAGEMAP_PRESENT)) {
        why(d, "%s: the page at %p is not present", PROC_SELF_PAGEMAP, va);
        return -EFAULT;
    }
    if ((entry & PAGEMAP_PFN_MASK) == 0) {
        why(d,
            "%s shows no physical addresses to this process: it needs "
            "CAP_SYS_ADMIN (run as root)",
            PROC_SELF_PAGEMAP);
        return -EPERM;
    }
    *phys = (entry & PAGEMAP_PFN_MASK) * SMALL_PAGE +
            (uint64_t)(uintptr_t)va % SMALL_PAGE;
    return 0;
}

static size_t
hugepage_size(void)
{
    long kib = meminfo(MEMINFO_HUGE_SIZE);

    return kib > 0 ? (size_t)kib * KIB : HUGEPAGE_FALLBACK;
}

/* A new arena: a hugepage, or a locked small page when @len fits one. */
static struct dma_arena *
arena_new(struct vgpu_sysfs_dma *d, size_t len)
{
    size_t huge = hugepage_size();
    struct dma_arena *a = calloc(1, sizeof(*a));
    void *p;
    int rc;

    if (a == NULL) {
        why(d, "out of memory");
        errno = ENOMEM;
        return NULL;
    }
    p = mmap(NULL, huge, PROT_READ | PROT_WRITE,
             MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | MAP_POPULATE, -1, 0);
    if (p != MAP_FAILED) {
        a->size = huge;
    } else if (len <= SMALL_PAGE) {
        p = mmap(NULL, SMALL_PAGE, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE | MAP_LOCKED, -1,
                 0);
        if (p != MAP_FAILED && mlock(p, SMALL_PAGE) != 0) {
            rc = errno;
            munmap(p, SMALL_PAGE);
            free(a);
            why(d, "no free hugepage, and cannot lock a 4 KiB page: %s",
                strerror(rc));
            errno = rc;
            return NULL;
        }
        a->size = SMALL_PAGE;
    }
    if (p == MAP_FAILED) {
        rc = errno;
        free(a);
        why(d,
            "no free %zu KiB hugepage for %zu bytes of DMA memory (%s; "
            "HugePages_Free %ld of %ld in %s): reserve some, e.g. sysctl "
            "vm.nr_hugepages=16 or hugepages=16 on the kernel command line",
            huge / KIB, len, strerror(rc), meminfo(MEMINFO_HUGE_FREE),
            meminfo(MEMINFO_HUGE_TOTAL), PROC_MEMINFO);
        errno = ENOMEM;
        return NULL;
    }
    a->base = p;
    rc = phys_of(d, p, &a->phys);
    if (rc < 0) {
        munmap(p, a->size);
        free(a);
        errno = -rc;
        return NULL;
    }
    return a;
}

void *
vgpu_sysfs_dma_alloc(struct vgpu_sysfs_dma *d, size_t len, uint64_t *dev_addr)
{
    size_t huge = hugepage_size();
    size_t want = (len + VGPU_Q_BASE_ALIGN - 1u) & ~(VGPU_Q_BASE_ALIGN - 1u);
    struct dma_arena *a;
    void *p;

    if (!d->ready) {
        errno = EPERM; /* vgpu_sysfs_dma_prepare() left the reason */
        return NULL;
    }
    if (len == 0 || want < len || want > huge) {
        why(d,
            "%zu bytes of DMA memory: a block must be 1 byte to one hugepage "
            "(%zu KiB), which is physically contiguous",
            len, huge / KIB);
        errno = EINVAL;
        return NULL;
    }
    for (a = d->arenas; a != NULL; a = a->next) {
        if (a->size - a->used >= want) {
            break;
        }
    }
    if (a == NULL) {
        a = arena_new(d, want);
        if (a == NULL) {
            return NULL;
        }
        a->next = d->arenas;
        d->arenas = a;
    }
    /* Zero without a memset: the kernel zeroed the page when it mapped
     * it, and the bump pointer never hands a byte out twice (a page is
     * unmapped, not reused, when its last block is freed). */
    p = a->base + a->used;
    *dev_addr = a->phys + a->used;
    a->used += want;
    a->live++;
    return p;
}

void
vgpu_sysfs_dma_free(struct vgpu_sysfs_dma *d, void *ptr, size_t len)
{
    struct dma_arena **pa;

    (void)len;
    for (pa = &d->arenas; *pa != NULL; pa = &(*pa)->next) {
        struct dma_arena *a = *pa;

        if ((uint8_t *)ptr >= a->base && (uint8_t *)ptr < a->base + a->used) {
            if (--a->live == 0) {
                *pa = a->next;
                munmap(a->base, a->size);
                free(a);
            }
            return;
        }
    }
}

void
vgpu_sysfs_dma_fini(struct vgpu_sysfs_dma *d)
{
    while (d->arenas != NULL) {
        struct dma_arena *a = d->arenas;

        d->arenas = a->next;
        munmap(a->base, a->size);
        free(a);
    }
}

const char *
vgpu_sysfs_dma_why(const struct vgpu_sysfs_dma *d)
{
    return d->why;
}
