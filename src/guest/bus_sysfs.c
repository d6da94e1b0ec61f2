/*
 * The sysfs bus: a vgpu-stub's BAR0 from Linux guest userspace, as
 * /sys/bus/pci/devices/<bdf>/resource0 mapped with O_SYNC after the device
 * is enabled through its `enable` file (qemu-build-notes.md).
 *
 * Registers are single volatile 32-bit loads and stores. Buffers are copied
 * with 32-bit accesses where the offset is aligned and byte accesses for the
 * rest; a byte copy through the mapping keeps memory order, so no swap is
 * needed for buffers, while register values are little-endian (le32toh).
 * No access ever leaves the 4096-byte mapping, whatever the caller asks.
 *
 * Interrupts (VGPU_OPEN_IRQ, with the device bound to uio_pci_generic):
 * uio_pci_generic drives INTx through the Interrupt Disable bit of the PCI
 * command register. Its handler sets that bit when our device raised the
 * line (masking it) and UIO wakes the readers of /dev/uioN; the line stays
 * masked until userspace clears the bit again. UIO's way to do that is to
 * write an int32 1 to /dev/uioN, which reaches the driver's irqcontrol; the
 * uio_pci_generic drivers we know have none and answer ENOSYS, so then the
 * bit is cleared through <dev>/config, as the kernel's UIO HOWTO does. Which
 * of the two works is found out at open.
 *
 * The line is unmasked at the start of each wait, not right after an event:
 * at that point the client has not yet cleared IRQ_STATUS, the device still
 * holds the level line up, and unmasking would only fire again at once. The
 * client clears IRQ_STATUS before each doorbell, so when a wait unmasks, the
 * line is up only if this request has already completed, and that interrupt
 * is then delivered at once. An event is only a hint: the client reads
 * STATUS after each one (INTx lines may be shared).
 *
 * The queue (SPEC.md section 11) waits on the same line: the device raises
 * it for IRQ_STATUS bit 1 as for bit 0, and the queue clears bit 1 before
 * it reads CQ_TAIL, so the same unmask-then-poll serves it. Its memory
 * comes from sysfs_dma.c (hugepages and /proc/self/pagemap), prepared at
 * the first dma_alloc: IOMMU check, then bus mastering on.
 */
#include <dirent.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/pci_regs.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "guest_internal.h"
#include "vgpu/guest.h"

#define DEFAULT_SYSFS_ROOT "/sys"
#define PCI_DEVICES_DIR    "/bus/pci/devices"
#define UIO_DRIVER         "uio_pci_generic"
#define BDF_MAX            32 /* "ffffffff:ff:1f.7" and a NUL */
#define ID_FILE_MAX        32 /* "0x1234\n" and room to spare */
#define PCI_BUS_MAX        0xffu
#define PCI_SLOT_MAX       0x1fu
#define PCI_FUNC_MAX       0x7u
#define PCI_ID_MAX         0xffffu
#define PCI_REVISION_MAX   0xffu

/* The high byte of the command register holds the Interrupt Disable bit.
 * The command register is read and written as its whole 16-bit word at
 * PCI_COMMAND: QEMU 7.2 re-evaluates the INTx line only on a config write
 * that covers byte PCI_COMMAND, so a one-byte write to the high half
 * leaves the line asserted and storms. */
#define CMD_HIGH_INTX_DISABLE ((uint8_t)(PCI_COMMAND_INTX_DISABLE >> 8))

struct sysfs_bus {
    char dir[PATH_MAX]; /* <root>/bus/pci/devices/<bdf> */
    char bdf[BDF_MAX];
    uint16_t vendor;
    uint16_t device;
    uint8_t revision;
    int res_fd;            /* resource0 */
    volatile uint8_t *bar; /* its mapping, VGPU_BAR0_SIZE bytes, or NULL */
    int uio_fd;            /* /dev/uioN, or -1 */
    int cfg_fd;            /* <dev>/config, when unmasking goes through it */
    struct vgpu_sysfs_dma dma; /* the queue's memory (sysfs_dma.c) */
};

/* ---- BAR0 accesses -------------------------------------------------------
 */

static volatile uint32_t *
reg_ptr(struct sysfs_bus *b, uint32_t off)
{
    return (volatile uint32_t *)(b->bar + off);
}

static int
reg_ok(uint32_t off)
{
    return off <= VGPU_BAR0_SIZE - VGPU_REG_SIZE && off % VGPU_REG_SIZE == 0;
}

static uint32_t
sysfs_read32(void *ctx, uint32_t off)
{
    struct sysfs_bus *b = ctx;

    if (!reg_ok(off)) {
        return UINT32_MAX;
    }
    return le32toh(*reg_ptr(b, off));
}

static void
sysfs_write32(void *ctx, uint32_t off, uint32_t val)
{
    struct sysfs_bus *b = ctx;

    if (reg_ok(off)) {
        *reg_ptr(b, off) = htole32(val);
    }
}

/* The part of [@off, @off + @len) inside BAR0. */
static size_t
clip(uint32_t off, size_t len)
{
    if (off >= VGPU_BAR0_SIZE) {
        return 0;
    }
    return len < VGPU_BAR0_SIZE - off ? len : VGPU_BAR0_SIZE - off;
}

static void
sysfs_read_buf(void *ctx, uint32_t off, void *dst, size_t len)
{
    struct sysfs_bus *b = ctx;
    size_t n = clip(off, len);
    uint8_t *d = dst;
    size_t i = 0;

    for (; i < n && (off + i) % VGPU_REG_SIZE != 0; i++) {
        d[i] = b->bar[off + i];
    }
    for (; n - i >= VGPU_REG_SIZE; i += VGPU_REG_SIZE) {
        uint32_t v = *reg_ptr(b, (uint32_t)(off + i));

        memcpy(d + i, &v, sizeof(v));
    }
    for (; i < n; i++) {
        d[i] = b->bar[off + i];
    }
    if (n < len) {
        memset(d + n, 0, len - n);
    }
}

static void
sysfs_write_buf(void *ctx, uint32_t off, const void *src, size_t len)
{
    struct sysfs_bus *b = ctx;
    size_t n = clip(off, len);
    const uint8_t *s = src;
    size_t i = 0;

    for (; i < n && (off + i) % VGPU_REG_SIZE != 0; i++) {
        b->bar[off + i] = s[i];
    }
    for (; n - i >= VGPU_REG_SIZE; i += VGPU_REG_SIZE) {
        uint32_t v;

        memcpy(&v, s + i, sizeof(v));
        *reg_ptr(b, (uint32_t)(off + i)) = v;
    }
    for (; i < n; i++) {
        b->bar[off + i] = s[i];
    }
}

/* ---- Interrupts (see the top of the file) --------------------------------
 */

/* Clear the Interrupt Disable bit: through UIO's irqcontrol, or through the
 * config space when the driver has no irqcontrol. */
static int
irq_unmask(struct sysfs_bus *b)
{
    uint8_t cmd[2];

    if (b->cfg_fd < 0) {
        int32_t one = 1;

        if (write(b->uio_fd, &one, sizeof(one)) != (ssize_t)sizeof(one)) {
            return errno ? -errno : -EIO;
        }
        return 0;
    }
    if (pread(b->cfg_fd, cmd, 2, PCI_COMMAND) != 2) {
        return -EIO;
    }
    if (cmd[1] & CMD_HIGH_INTX_DISABLE) {
        cmd[1] &= (uint8_t)~CMD_HIGH_INTX_DISABLE;
        if (pwrite(b->cfg_fd, cmd, 2, PCI_COMMAND) != 2) {
            return -EIO;
        }
    }
    return 0;
}

static int
sysfs_wait_irq(void *ctx, int timeout_ms)
{
    struct sysfs_bus *b = ctx;
    struct pollfd pfd = {.fd = b->uio_fd, .events = POLLIN};
    int32_t count;
    ssize_t n;
    int rc;

    rc = irq_unmask(b);
    if (rc < 0) {
        return rc;
    }
    rc = poll(&pfd, 1, timeout_ms);
    if (rc < 0) {
        /* A signal: the client re-checks STATUS and its deadline. */
        return errno == EINTR ? 0 : -errno;
    }
    if (rc == 0) {
        return 0;
    }
    if (!(pfd.revents & POLLIN)) {
        return -EIO; /* POLLERR, POLLHUP: the device went away */
    }
    n = read(b->uio_fd, &count, sizeof(count));
    if (n != (ssize_t)sizeof(count)) {
        return n < 0 && errno == EINTR ? 0 : -EIO;
    }
    return 1;
}

/* ---- sysfs files ---------------------------------------------------------
 */

static int
path_of(char *out, const char *dir, const char *name)
{
    int n = snprintf(out, PATH_MAX, "%s/%s", dir, name);

    return n < 0 || n >= PATH_MAX ? -ENAMETOOLONG : 0;
}

/* Read a small sysfs file holding one number in @base, at most @max. */
static int
read_number(const char *dir, const char *name, int base, unsigned long max,
            unsigned long *val)
{
    char path[PATH_MAX];
    char buf[ID_FILE_MAX];
    char *end;
    ssize_t n;
    int fd;
    int rc;

    rc = path_of(path, dir, name);
    if (rc < 0) {
        return rc;
    }
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return -errno;
    }
    n = read(fd, buf, sizeof(buf) - 1);
    rc = n < 0 ? -errno : 0;
    close(fd);
    if (rc < 0) {
        return rc;
    }
    buf[n] = '\0';
    errno = 0;
    *val = strtoul(buf, &end, base);
    if (end == buf || errno != 0 || *val > max || buf[0] == '-' ||
        (*end != '\0' && *end != '\n')) {
        return -EINVAL;
    }
    return 0;
}

/* vendor and device of the device at @dir. */
static int
read_ids(const char *dir, uint16_t *vendor, uint16_t *device)
{
    unsigned long v;
    unsigned long d;
    int rc;

    rc = read_number(dir, "vendor", 16, PCI_ID_MAX, &v);
    if (rc == 0) {
        rc = read_number(dir, "device", 16, PCI_ID_MAX, &d);
    }
    if (rc == 0) {
        *vendor = (uint16_t)v;
        *device = (uint16_t)d;
    }
    return rc;
}

static int
read_revision(const char *dir, uint8_t *revision)
{
    unsigned long r;
    int rc = read_number(dir, "revision", 16, PCI_REVISION_MAX, &r);

    if (rc == 0) {
        *revision = (uint8_t)r;
    }
    return rc;
}

/* Read 1 to @max_digits hex digits at *@p into @val; advance *@p. */
static int
parse_hex(const char **p, int max_digits, unsigned *val)
{
    int digits = 0;

    *val = 0;
    while (digits < max_digits && **p != '\0' &&
           strchr("0123456789abcdefABCDEF", **p) != NULL) {
        char ch = **p;
        unsigned d = ch <= '9'   ? (unsigned)(ch - '0')
                     : ch >= 'a' ? (unsigned)(ch - 'a' + 10)
                                 : (unsigned)(ch - 'A' + 10);

        *val = *val * 16u + d;
        (*p)++;
        digits++;
    }
    return digits > 0 ? 0 : -EINVAL;
}

static int
expect(const char **p, char ch)
{
    if (**p != ch) {
        return -EINVAL;
    }
    (*p)++;
    return 0;
}

/* "0000:00:04.0" or "00:04.0" (hex, either case) as sysfs spells it:
 * [domain:]bus:slot.function with 1-8, 1-2, 1-2 and 1 hex digits. */
static int
normalize_bdf(const char *in, char *out, size_t out_len)
{
    const char *p = in;
    unsigned dom = 0;
    unsigned bus;
    unsigned slot;
    unsigned fn;
    int n;

    if (strchr(in, ':') != strrchr(in, ':') &&
        (parse_hex(&p, 8, &dom) != 0 || expect(&p, ':') != 0)) {
        return -EINVAL;
    }
    if (parse_hex(&p, 2, &bus) != 0 || expect(&p, ':') != 0 ||
        parse_hex(&p, 2, &slot) != 0 || expect(&p, '.') != 0 ||
        parse_hex(&p, 1, &fn) != 0 || *p != '\0') {
        return -EINVAL;
    }
    if (bus > PCI_BUS_MAX || slot > PCI_SLOT_MAX || fn > PCI_FUNC_MAX) {
        return -EINVAL;
    }
    n = snprintf(out, out_len, "%04x:%02x:%02x.%x", dom, bus, slot, fn);
    return n < 0 || (size_t)n >= out_len ? -EINVAL : 0;
}

static int
set_dir(struct sysfs_bus *b, const char *devices, const char *bdf)
{
    int n = snprintf(b->dir, sizeof(b->dir), "%s/%s", devices, bdf);

    if (n < 0 || (size_t)n >= sizeof(b->dir)) {
        return -ENAMETOOLONG;
    }
    snprintf(b->bdf, sizeof(b->bdf), "%s", bdf);
    return 0;
}

static int
not_vgpu(const struct sysfs_bus *b, char *err, size_t err_len)
{
    vgpu_set_err(
        err, err_len,
        "%s: %s: vendor 0x%04x device 0x%04x revision 0x%02x, expected "
        "vendor 0x%04x device 0x%04x revision 0x%02x",
        b->bdf, vgpu_strerror(VGPU_E_NOT_VGPU), b->vendor, b->device,
        b->revision, VGPU_PCI_VENDOR_ID, VGPU_PCI_DEVICE_ID, VGPU_PCI_REVISION);
    return VGPU_E_NOT_VGPU;
}

/* The device at the BDF the caller named. */
static int
find_named(struct sysfs_bus *b, const char *devices, const char *bdf, char *err,
           size_t err_len)
{
    char norm[BDF_MAX];
    struct stat st;
    int rc;

    if (normalize_bdf(bdf, norm, sizeof(norm)) != 0) {
        vgpu_set_err(err, err_len,
                     "'%s' is not a PCI address (expected 0000:00:04.0 or "
                     "00:04.0)",
                     bdf);
        return -EINVAL;
    }
    rc = set_dir(b, devices, norm);
    if (rc < 0) {
        vgpu_set_err(err, err_len, "%s: path too long", devices);
        return rc;
    }
    if (stat(b->dir, &st) != 0) {
        rc = -errno;
        vgpu_set_err(err, err_len, "no PCI device %s (%s: %s)", norm, b->dir,
                     strerror(-rc));
        return rc;
    }
    rc = read_ids(b->dir, &b->vendor, &b->device);
    if (rc == 0) {
        rc = read_revision(b->dir, &b->revision);
    }
    if (rc < 0) {
        vgpu_set_err(err, err_len,
                     "%s: cannot read vendor, device and revision: %s", b->dir,
                     strerror(-rc));
        return rc;
    }
    if (b->vendor != VGPU_PCI_VENDOR_ID || b->device != VGPU_PCI_DEVICE_ID ||
        b->revision != VGPU_PCI_REVISION) {
        return not_vgpu(b, err, err_len);
    }
    return 0;
}

/* The first device, in address order, with the vgpu-stub's ids. */
static int
find_any(struct sysfs_bus *b, const char *devices, char *err, size_t err_len)
{
    struct dirent **names = NULL;
    int found = 0;
    int wrong_rev = 0;
    int count = 0;
    int n;
    int rc;

    n = scandir(devices, &names, NULL, alphasort);
    if (n < 0) {
        rc = -errno;
        vgpu_set_err(err, err_len, "cannot list PCI devices in %s: %s", devices,
                     strerror(-rc));
        return rc;
    }
    for (int i = 0; i < n && !found; i++) {
        const char *name = names[i]->d_name;
        uint16_t vendor;
        uint16_t device;
        uint8_t revision;
        char dir[PATH_MAX];

        if (name[0] == '.' || strlen(name) >= BDF_MAX) {
            continue;
        }
        count++;
        if (path_of(dir, devices, name) != 0 ||
            read_ids(dir, &vendor, &device) != 0 ||
            vendor != VGPU_PCI_VENDOR_ID || device != VGPU_PCI_DEVICE_ID ||
            read_revision(dir, &revision) != 0) {
            continue;
        }
        if (revision == VGPU_PCI_REVISION || !wrong_rev) {
            /* Remember a device of another revision, to name it. */
            set_dir(b, devices, name);
            b->vendor = vendor;
            b->device = device;
            b->revision = revision;
            found = revision == VGPU_PCI_REVISION;
            wrong_rev = !found;
        }
    }
    for (int i = 0; i < n; i++) {
        free(names[i]);
    }
    free(names);
    if (found) {
        return 0;
    }
    if (wrong_rev) {
        return not_vgpu(b, err, err_len);
    }
    vgpu_set_err(err, err_len,
                 "no vgpu-stub (vendor 0x%04x device 0x%04x) among the %d PCI "
                 "devices in %s",
                 VGPU_PCI_VENDOR_ID, VGPU_PCI_DEVICE_ID, count, devices);
    return -ENODEV;
}

/* Memory decoding on: write 1 to `enable` unless it already reads non-zero
 * (each write of 1 counts one more enable in the kernel). */
static int
enable_device(struct sysfs_bus *b, char *err, size_t err_len)
{
    char path[PATH_MAX];
    unsigned long on = 0;
    ssize_t n;
    int fd;
    int rc;

    if (read_number(b->dir, "enable", 10, ULONG_MAX, &on) == 0 && on > 0) {
        return 0;
    }
    rc = path_of(path, b->dir, "enable");
    if (rc < 0) {
        vgpu_set_err(err, err_len, "%s: path too long", b->dir);
        return rc;
    }
    fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0) {
        rc = -errno;
        vgpu_set_err(err, err_len, "cannot enable %s: %s: %s", b->bdf, path,
                     strerror(-rc));
        return rc;
    }
    n = write(fd, "1", 1);
    rc = n == 1 ? 0 : (n < 0 ? -errno : -EIO);
    close(fd);
    if (rc < 0) {
        vgpu_set_err(err, err_len, "cannot enable %s: writing 1 to %s: %s",
                     b->bdf, path, strerror(-rc));
    }
    return rc;
}

static int
map_bar(struct sysfs_bus *b, char *err, size_t err_len)
{
    char path[PATH_MAX];
    struct stat st;
    void *p;
    int rc;

    rc = path_of(path, b->dir, "resource0");
    if (rc < 0) {
        vgpu_set_err(err, err_len, "%s: path too long", b->dir);
        return rc;
    }
    b->res_fd = open(path, O_RDWR | O_SYNC | O_CLOEXEC);
    if (b->res_fd < 0) {
        rc = -errno;
        vgpu_set_err(err, err_len, "cannot open %s: %s", path, strerror(-rc));
        return rc;
    }
    if (fstat(b->res_fd, &st) != 0) {
        rc = -errno;
        vgpu_set_err(err, err_len, "cannot stat %s: %s", path, strerror(-rc));
        return rc;
    }
    if (st.st_size < (off_t)VGPU_BAR0_SIZE) {
        vgpu_set_err(err, err_len, "%s: %s: BAR0 is %lld bytes, expected %u",
                     b->bdf, vgpu_strerror(VGPU_E_NOT_VGPU),
                     (long long)st.st_size, VGPU_BAR0_SIZE);
        return VGPU_E_NOT_VGPU;
    }
    p = mmap(NULL, VGPU_BAR0_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED,
             b->res_fd, 0);
    if (p == MAP_FAILED) {
        rc = -errno;
        vgpu_set_err(err, err_len, "cannot mmap %s: %s", path, strerror(-rc));
        return rc;
    }
    b->bar = p;
    return 0;
}

/* Find /dev/uioN of a device bound to uio_pci_generic and learn how to
 * unmask. Return 1 when interrupts can be used, else 0: the client then
 * polls, which is always correct, only slower. */
static int
setup_irq(struct sysfs_bus *b)
{
    char path[PATH_MAX];
    char link[PATH_MAX];
    const char *driver;
    struct dirent *e;
    unsigned uio = 0;
    int have = 0;
    DIR *d;
    ssize_t n;
    int rc;

    if (path_of(path, b->dir, "driver") != 0) {
        return 0;
    }
    n = readlink(path, link, sizeof(link) - 1);
    if (n < 0) {
        return 0;
    }
    link[n] = '\0';
    driver = strrchr(link, '/');
    driver = driver ? driver + 1 : link;
    if (strcmp(driver, UIO_DRIVER) != 0 || path_of(path, b->dir, "uio") != 0) {
        return 0;
    }
    d = opendir(path);
    if (d == NULL) {
        return 0;
    }
    while (!have && (e = readdir(d)) != NULL) {
        char tail;

        have = sscanf(e->d_name, "uio%u%c", &uio, &tail) == 1;
    }
    closedir(d);
    if (!have) {
        return 0;
    }
    snprintf(path, sizeof(path), "/dev/uio%u", uio);
    b->uio_fd = open(path, O_RDWR | O_CLOEXEC);
    if (b->uio_fd < 0) {
        return 0;
    }
    rc = irq_unmask(b);
    if (rc == 0) {
        return 1;
    }
    if (rc == -ENOSYS && path_of(path, b->dir, "config") == 0) {
        b->cfg_fd = open(path, O_RDWR | O_CLOEXEC);
        if (b->cfg_fd >= 0 && irq_unmask(b) == 0) {
            return 1;
        }
    }
    if (b->cfg_fd >= 0) {
        close(b->cfg_fd);
        b->cfg_fd = -1;
    }
    close(b->uio_fd);
    b->uio_fd = -1;
    return 0;
}

/* ---- The bus -------------------------------------------------------------
 */

static void
sysfs_close(void *ctx)
{
    struct sysfs_bus *b = ctx;

    if (b == NULL) {
        return;
    }
    vgpu_sysfs_dma_fini(&b->dma);
    if (b->bar != NULL) {
        munmap((void *)(uintptr_t)b->bar, VGPU_BAR0_SIZE);
    }
    if (b->cfg_fd >= 0) {
        close(b->cfg_fd);
    }
    if (b->uio_fd >= 0) {
        close(b->uio_fd);
    }
    if (b->res_fd >= 0) {
        close(b->res_fd);
    }
    free(b);
}

static int
sysfs_identity(void *ctx, uint16_t *vendor, uint16_t *device, uint8_t *revision)
{
    struct sysfs_bus *b = ctx;

    *vendor = b->vendor;
    *device = b->device;
    *revision = b->revision;
    return 0;
}

static void *
sysfs_dma_alloc(void *ctx, size_t len, uint64_t *dev_addr)
{
    struct sysfs_bus *b = ctx;
    int rc = vgpu_sysfs_dma_prepare(&b->dma, b->dir, b->bdf);

    if (rc < 0) {
        errno = -rc;
        return NULL;
    }
    return vgpu_sysfs_dma_alloc(&b->dma, len, dev_addr);
}

static void
sysfs_dma_free(void *ctx, void *ptr, size_t len)
{
    struct sysfs_bus *b = ctx;

    vgpu_sysfs_dma_free(&b->dma, ptr, len);
}

static const char *
sysfs_dma_error(void *ctx)
{
    struct sysfs_bus *b = ctx;

    return vgpu_sysfs_dma_why(&b->dma);
}

static const struct vgpu_bus_ops sysfs_ops = {
    .name = "sysfs",
    .read32 = sysfs_read32,
    .write32 = sysfs_write32,
    .read_buf = sysfs_read_buf,
    .write_buf = sysfs_write_buf,
    .wait_irq = NULL,
    .close = sysfs_close,
    .identity = sysfs_identity,
    .dma_alloc = sysfs_dma_alloc,
    .dma_free = sysfs_dma_free,
    .wait_queue = NULL,
    .dma_error = sysfs_dma_error,
};

static const struct vgpu_bus_ops sysfs_irq_ops = {
    .name = "sysfs",
    .read32 = sysfs_read32,
    .write32 = sysfs_write32,
    .read_buf = sysfs_read_buf,
    .write_buf = sysfs_write_buf,
    .wait_irq = sysfs_wait_irq,
    .close = sysfs_close,
    .identity = sysfs_identity,
    .dma_alloc = sysfs_dma_alloc,
    .dma_free = sysfs_dma_free,
    .wait_queue = sysfs_wait_irq,
    .dma_error = sysfs_dma_error,
};

/* errno for a code of this file: the VGPU_E_* codes have none of their own. */
static int
errno_of(int rc)
{
    return rc == VGPU_E_NOT_VGPU ? ENODEV : -rc;
}

struct vgpu_client *
vgpu_open_sysfs(const char *bdf, const char *sysfs_root, unsigned flags,
                char *err, size_t err_len)
{
    const struct vgpu_bus_ops *ops = &sysfs_ops;
    char devices[PATH_MAX];
    struct vgpu_client *c;
    struct sysfs_bus *b;
    int n;
    int rc;

    if (sysfs_root == NULL) {
        sysfs_root = DEFAULT_SYSFS_ROOT;
    }
    n = snprintf(devices, sizeof(devices), "%s%s", sysfs_root, PCI_DEVICES_DIR);
    if (n < 0 || (size_t)n >= sizeof(devices)) {
        vgpu_set_err(err, err_len, "%s: path too long", sysfs_root);
        errno = ENAMETOOLONG;
        return NULL;
    }
    b = calloc(1, sizeof(*b));
    if (b == NULL) {
        vgpu_set_err(err, err_len, "out of memory");
        errno = ENOMEM;
        return NULL;
    }
    b->res_fd = -1;
    b->uio_fd = -1;
    b->cfg_fd = -1;
    rc = bdf != NULL ? find_named(b, devices, bdf, err, err_len)
                     : find_any(b, devices, err, err_len);
    if (rc == 0) {
        rc = enable_device(b, err, err_len);
    }
    if (rc == 0) {
        rc = map_bar(b, err, err_len);
    }
    if (rc < 0) {
        goto err;
    }
    if ((flags & VGPU_OPEN_IRQ) && setup_irq(b)) {
        ops = &sysfs_irq_ops;
    }
    c = vgpu_open_bus(ops, b, err, err_len);
    if (c == NULL) {
        char why[256];

        rc = -errno;
        snprintf(why, sizeof(why), "%s", err != NULL && err_len ? err : "");
        vgpu_set_err(err, err_len, "%s: %s", b->bdf, why);
        goto err;
    }
    return c;

err:
    sysfs_close(b);
    errno = errno_of(rc);
    return NULL;
}

int
vgpu_bar_size(struct vgpu_client *c, size_t *size)
{
    void *ctx = NULL;
    const struct vgpu_bus_ops *ops = vgpu_bus(c, &ctx);
    struct sysfs_bus *b = ctx;
    struct stat st;

    if (ops == NULL || size == NULL) {
        return -EINVAL;
    }
    if (ops != &sysfs_ops && ops != &sysfs_irq_ops) {
        return -ENOTSUP;
    }
    if (fstat(b->res_fd, &st) != 0) {
        return -errno;
    }
    *size = (size_t)st.st_size;
    return 0;
}
