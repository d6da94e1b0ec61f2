/*
 * The sysfs bus of libvgpu-guest against a fake sysfs tree in a temporary
 * directory: <root>/bus/pci/devices/<bdf>/{vendor,device,revision,enable,
 * resource0}, where resource0 is a 4096-byte regular file (mmap works on it,
 * and the test reads and writes the "registers" with pread and pwrite).
 */
#define _XOPEN_SOURCE 700 /* nftw */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <linux/pci_regs.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "vgpu_test.h"

#include "vgpu/guest.h"
#include "vgpu/proto.h"

#define ERR_LEN     512
#define CONFIG_SIZE 64 /* the standard header */

/* PCI ids of devices that are not a vgpu-stub. */
#define HOST_BRIDGE_VENDOR 0x8086u
#define HOST_BRIDGE_DEVICE 0x29c0u
#define BOCHS_VGA_DEVICE   0x1111u /* vendor 0x1234, like ours */
#define OLD_REVISION       0x01u
#define OTHER_PROTOCOL     0x00020000u

struct tree {
    char root[PATH_MAX];
    char devices[PATH_MAX];
    struct vgpu_client *c;
};

/* snprintf into a PATH_MAX buffer; a path that does not fit fails the test. */
static void __attribute__((format(printf, 2, 3)))
fmt_path(char *out, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(out, PATH_MAX, fmt, ap);
    va_end(ap);
    assert_true(n >= 0 && n < PATH_MAX);
}

static void
put_file(const char *dir, const char *name, const char *fmt, ...)
{
    char path[PATH_MAX];
    va_list ap;
    FILE *fp;

    fmt_path(path, "%s/%s", dir, name);
    fp = fopen(path, "w");
    assert_non_null(fp);
    va_start(ap, fmt);
    vfprintf(fp, fmt, ap);
    va_end(ap);
    assert_int_equal(fclose(fp), 0);
}

static void
dev_dir(const struct tree *t, const char *bdf, char *out)
{
    fmt_path(out, "%s/%s", t->devices, bdf);
}

static int
open_res(const struct tree *t, const char *bdf)
{
    char path[PATH_MAX];
    int fd;

    fmt_path(path, "%s/%s/resource0", t->devices, bdf);
    fd = open(path, O_RDWR);
    assert_true(fd >= 0);
    return fd;
}

/* A register of the fake BAR, as the file holds it (little-endian). */
static void
poke(const struct tree *t, const char *bdf, uint32_t off, uint32_t val)
{
    uint8_t b[4];
    int fd = open_res(t, bdf);

    vgpu_put_le32(b, val);
    assert_int_equal(pwrite(fd, b, sizeof(b), off), (ssize_t)sizeof(b));
    close(fd);
}

static uint32_t
peek(const struct tree *t, const char *bdf, uint32_t off)
{
    uint8_t b[4];
    int fd = open_res(t, bdf);

    assert_int_equal(pread(fd, b, sizeof(b), off), (ssize_t)sizeof(b));
    close(fd);
    return vgpu_get_le32(b);
}

/* A device directory; resource0 holds a BAR with @vm_id and @proto. */
static void
add_dev_sized(const struct tree *t, const char *bdf, unsigned vendor,
              unsigned device, unsigned revision, uint32_t vm_id,
              uint32_t proto, size_t bar_size)
{
    char dir[PATH_MAX];
    char path[PATH_MAX];
    uint8_t *bar = calloc(1, bar_size);
    int fd;

    assert_non_null(bar);
    dev_dir(t, bdf, dir);
    assert_int_equal(mkdir(dir, 0755), 0);
    put_file(dir, "vendor", "0x%04x\n", vendor);
    put_file(dir, "device", "0x%04x\n", device);
    put_file(dir, "revision", "0x%02x\n", revision);
    put_file(dir, "enable", "0\n");
    if (bar_size >= VGPU_REQ_BUF_OFFSET) {
        vgpu_put_le32(bar + VGPU_REG_PROTOCOL_VER, proto);
        vgpu_put_le32(bar + VGPU_REG_VM_ID, vm_id);
        vgpu_put_le32(bar + VGPU_REG_POOL_ID, 'C');
        vgpu_put_le32(bar + VGPU_REG_PRIORITY, VGPU_PRIO_LOW);
        vgpu_put_le32(bar + VGPU_REG_CAPABILITIES, VGPU_CAPABILITIES);
    }
    fmt_path(path, "%s/resource0", dir);
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, bar, bar_size), (ssize_t)bar_size);
    close(fd);
    free(bar);
}

static void
add_dev(const struct tree *t, const char *bdf, unsigned vendor, unsigned device,
        unsigned revision, uint32_t vm_id)
{
    add_dev_sized(t, bdf, vendor, device, revision, vm_id,
                  VGPU_PROTOCOL_VERSION, VGPU_BAR0_SIZE);
}

static int
setup(void **state)
{
    struct tree *t = calloc(1, sizeof(*t));
    const char *tmp = getenv("TMPDIR");
    char path[PATH_MAX];

    assert_non_null(t);
    fmt_path(t->root, "%s/vgpu-sysfs-XXXXXX",
             tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp");
    assert_non_null(mkdtemp(t->root));
    fmt_path(path, "%s/bus", t->root);
    assert_int_equal(mkdir(path, 0755), 0);
    fmt_path(path, "%s/bus/pci", t->root);
    assert_int_equal(mkdir(path, 0755), 0);
    fmt_path(t->devices, "%s/bus/pci/devices", t->root);
    assert_int_equal(mkdir(t->devices, 0755), 0);
    *state = t;
    return 0;
}

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove(path);
}

static int
teardown(void **state)
{
    struct tree *t = *state;

    vgpu_close(t->c);
    nftw(t->root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(t);
    return 0;
}

/* The usual tree: decoys around two vgpu-stubs (vm 4 and vm 5). */
static void
populate(const struct tree *t)
{
    add_dev(t, "0000:00:00.0", HOST_BRIDGE_VENDOR, HOST_BRIDGE_DEVICE,
            VGPU_PCI_REVISION, 90);
    add_dev(t, "0000:00:01.0", VGPU_PCI_VENDOR_ID, BOCHS_VGA_DEVICE,
            VGPU_PCI_REVISION, 91);
    add_dev(t, "0000:00:02.0", VGPU_PCI_VENDOR_ID, VGPU_PCI_DEVICE_ID,
            OLD_REVISION, 92);
    add_dev(t, "0000:00:04.0", VGPU_PCI_VENDOR_ID, VGPU_PCI_DEVICE_ID,
            VGPU_PCI_REVISION, 4);
    add_dev(t, "0000:00:05.0", VGPU_PCI_VENDOR_ID, VGPU_PCI_DEVICE_ID,
            VGPU_PCI_REVISION, 5);
}

static uint32_t
vm_of(struct vgpu_client *c)
{
    struct vgpu_info info;

    assert_non_null(c);
    assert_int_equal(vgpu_info(c, &info), 0);
    return info.vm_id;
}

static void
read_enable(const struct tree *t, const char *bdf, char *out, size_t len)
{
    char path[PATH_MAX];
    FILE *fp;

    fmt_path(path, "%s/%s/enable", t->devices, bdf);
    fp = fopen(path, "r");
    assert_non_null(fp);
    assert_non_null(fgets(out, (int)len, fp));
    fclose(fp);
}

/* ---- Discovery ---------------------------------------------------------- */

static void
test_discover(void **state)
{
    struct tree *t = *state;
    char err[ERR_LEN] = "";
    char enable[8];
    struct vgpu_info info;

    populate(t);
    t->c = vgpu_open_sysfs(NULL, t->root, 0, err, sizeof(err));
    if (t->c == NULL) {
        fail_msg("vgpu_open_sysfs: %s", err);
    }
    /* The first right one in address order; decoys and the old revision
     * before it are passed over. */
    assert_int_equal(vm_of(t->c), 4);
    assert_int_equal(vgpu_info(t->c, &info), 0);
    assert_int_equal(info.pool, 'C');
    assert_int_equal(info.priority, VGPU_PRIO_LOW);
    assert_int_equal(info.capabilities, VGPU_CAPABILITIES);
    /* Read from the file's bytes. */
    assert_int_equal(info.protocol_version, VGPU_PROTOCOL_VERSION);
    read_enable(t, "0000:00:04.0", enable, sizeof(enable));
    assert_string_equal(enable, "1\n"); /* "1" written over "0\n" */
    read_enable(t, "0000:00:05.0", enable, sizeof(enable));
    assert_string_equal(enable, "0\n");
}

static void
test_discover_none(void **state)
{
    struct tree *t = *state;
    char err[ERR_LEN] = "";

    add_dev(t, "0000:00:00.0", HOST_BRIDGE_VENDOR, HOST_BRIDGE_DEVICE,
            VGPU_PCI_REVISION, 90);
    add_dev(t, "0000:00:01.0", VGPU_PCI_VENDOR_ID, BOCHS_VGA_DEVICE,
            VGPU_PCI_REVISION, 91);
    errno = 0;
    assert_null(vgpu_open_sysfs(NULL, t->root, 0, err, sizeof(err)));
    assert_int_equal(errno, ENODEV);
    assert_non_null(strstr(err, "no vgpu-stub"));
    assert_non_null(strstr(err, "2 PCI devices"));
}

static void
test_discover_wrong_revision(void **state)
{
    struct tree *t = *state;
    char err[ERR_LEN] = "";

    add_dev(t, "0000:00:00.0", HOST_BRIDGE_VENDOR, HOST_BRIDGE_DEVICE,
            VGPU_PCI_REVISION, 90);
    add_dev(t, "0000:00:03.0", VGPU_PCI_VENDOR_ID, VGPU_PCI_DEVICE_ID,
            OLD_REVISION, 92);
    errno = 0;
    assert_null(vgpu_open_sysfs(NULL, t->root, 0, err, sizeof(err)));
    assert_int_equal(errno, ENODEV);
    assert_non_null(strstr(err, "0000:00:03.0"));
    assert_non_null(strstr(err, "not a vgpu-stub"));
    assert_non_null(strstr(err, "revision 0x01"));
}

static void
test_no_sysfs(void **state)
{
    struct tree *t = *state;
    char err[ERR_LEN] = "";
    char root[PATH_MAX];

    fmt_path(root, "%s/absent", t->root);
    assert_null(vgpu_open_sysfs(NULL, root, 0, err, sizeof(err)));
    assert_non_null(strstr(err, "cannot list PCI devices"));
}

/* ---- A named device ----------------------------------------------------- */

static void
test_named_other_device(void **state)
{
    struct tree *t = *state;
    char err[ERR_LEN] = "";

    populate(t);
    errno = 0;
    assert_null(vgpu_open_sysfs("0000:00:00.0", t->root, 0, err, sizeof(err)));
    assert_int_equal(errno, ENODEV);
    assert_non_null(strstr(err, "0000:00:00.0"));
    assert_non_null(strstr(err, "not a vgpu-stub"));
    assert_non_null(strstr(err, "vendor 0x8086 device 0x29c0"));

    assert_null(vgpu_open_sysfs("00:01.0", t->root, 0, err, sizeof(err)));
    assert_non_null(strstr(err, "device 0x1111"));
}

static void
test_named_wrong_revision(void **state)
{
    struct tree *t = *state;
    char err[ERR_LEN] = "";

    populate(t);
    assert_null(vgpu_open_sysfs("0000:00:02.0", t->root, 0, err, sizeof(err)));
    assert_non_null(strstr(err, "not a vgpu-stub"));
    assert_non_null(strstr(err, "revision 0x01"));
}

static void
test_named_missing(void **state)
{
    struct tree *t = *state;
    char err[ERR_LEN] = "";

    populate(t);
    errno = 0;
    assert_null(vgpu_open_sysfs("0000:00:09.0", t->root, 0, err, sizeof(err)));
    assert_int_equal(errno, ENOENT);
    assert_non_null(strstr(err, "no PCI device 0000:00:09.0"));
}

static void
test_named_forms(void **state)
{
    struct tree *t = *state;
    char err[ERR_LEN] = "";

    populate(t);
    t->c = vgpu_open_sysfs("00:05.0", t->root, 0, err, sizeof(err));
    assert_int_equal(vm_of(t->c), 5);
    vgpu_close(t->c);
    t->c = NULL;
    t->c = vgpu_open_sysfs("0000:00:05.0", t->root, 0, err, sizeof(err));
    assert_int_equal(vm_of(t->c), 5);
    vgpu_close(t->c);
    t->c = NULL;
    t->c = vgpu_open_sysfs("0:0:4.0", t->root, 0, err, sizeof(err));
    assert_int_equal(vm_of(t->c), 4);
}

static void
test_named_bad_address(void **state)
{
    struct tree *t = *state;
    static const char *const bad[] = {
        "",          "../../etc", "00:04",      "0000:00:04.0/",
        "00:04.8",   "00:20.0",   "100:04.0",   "0000:00:04.0 ",
        "0x00:04.0", "-1:04.0",   "0:0:0:04.0", "000000000:00:04.0",
        "00:04.0.0", "g0:04.0",
    };
    char err[ERR_LEN];

    populate(t);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        errno = 0;
        assert_null(vgpu_open_sysfs(bad[i], t->root, 0, err, sizeof(err)));
        assert_int_equal(errno, EINVAL);
        assert_non_null(strstr(err, "is not a PCI address"));
    }
}

/* ---- The BAR ------------------------------------------------------------ */

static void
test_protocol_mismatch(void **state)
{
    struct tree *t = *state;
    char err[ERR_LEN] = "";

    add_dev_sized(t, "0000:00:04.0", VGPU_PCI_VENDOR_ID, VGPU_PCI_DEVICE_ID,
                  VGPU_PCI_REVISION, 4, OTHER_PROTOCOL, VGPU_BAR0_SIZE);
    errno = 0;
    assert_null(vgpu_open_sysfs(NULL, t->root, 0, err, sizeof(err)));
    assert_int_equal(errno, EPROTO);
    assert_non_null(strstr(err, "0000:00:04.0"));
    assert_non_null(strstr(err, "major 2"));
}

static void
test_bar_too_small(void **state)
{
    struct tree *t = *state;
    char err[ERR_LEN] = "";

    add_dev_sized(t, "0000:00:04.0", VGPU_PCI_VENDOR_ID, VGPU_PCI_DEVICE_ID,
                  VGPU_PCI_REVISION, 4, VGPU_PROTOCOL_VERSION, 256);
    assert_null(vgpu_open_sysfs(NULL, t->root, 0, err, sizeof(err)));
    assert_non_null(strstr(err, "BAR0 is 256 bytes"));
}

static void
test_request_and_response(void **state)
{
    struct tree *t = *state;
    static const char bdf[] = "0000:00:04.0";
    static const uint8_t req[13] = "thirteen byte";
    static const uint8_t answer[7] = "seven!!";
    char err[ERR_LEN] = "";
    uint8_t got[sizeof(req)];
    uint8_t resp[16];
    size_t len = 0;
    uint32_t id = 0;
    int fd;

    populate(t);
    poke(t, bdf, VGPU_REG_REQUEST_ID, 7);
    t->c = vgpu_open_sysfs(bdf, t->root, 0, err, sizeof(err));
    assert_non_null(t->c);
    assert_int_equal(vgpu_submit(t->c, req, sizeof(req), &id), 0);
    assert_int_equal(id, 8);
    /* What the library wrote, byte for byte. */
    fd = open_res(t, bdf);
    assert_int_equal(pread(fd, got, sizeof(got), VGPU_REQ_BUF_OFFSET),
                     (ssize_t)sizeof(got));
    close(fd);
    assert_memory_equal(got, req, sizeof(req));
    assert_int_equal(peek(t, bdf, VGPU_REQ_BUF_OFFSET + sizeof(req)), 0);
    assert_int_equal(peek(t, bdf, VGPU_REG_REQUEST_LEN), sizeof(req));
    assert_int_equal(peek(t, bdf, VGPU_REG_REQUEST_ID), 8);
    assert_int_equal(peek(t, bdf, VGPU_REG_DOORBELL), VGPU_DOORBELL_RING);

    /* The "device" answers through the file. */
    fd = open_res(t, bdf);
    assert_int_equal(pwrite(fd, answer, sizeof(answer), VGPU_RESP_BUF_OFFSET),
                     (ssize_t)sizeof(answer));
    close(fd);
    poke(t, bdf, VGPU_REG_RESPONSE_LEN, sizeof(answer));
    poke(t, bdf, VGPU_REG_STATUS, VGPU_STATUS_DONE);
    memset(resp, 0, sizeof(resp));
    assert_int_equal(vgpu_wait(t->c, 1000, resp, sizeof(resp), &len), 0);
    assert_int_equal(len, sizeof(answer));
    assert_memory_equal(resp, answer, sizeof(answer));
    assert_int_equal(resp[sizeof(answer)], 0);
    assert_int_equal(peek(t, bdf, VGPU_REG_IRQ_STATUS), VGPU_IRQ_STATUS_DONE);

    /* An error with a message. */
    fd = open_res(t, bdf);
    assert_int_equal(pwrite(fd, "no pool", 7, VGPU_RESP_BUF_OFFSET), 7);
    close(fd);
    poke(t, bdf, VGPU_REG_ERROR_CODE, VGPU_ERR_REJECTED);
    poke(t, bdf, VGPU_REG_STATUS, VGPU_STATUS_ERROR);
    assert_int_equal(vgpu_wait(t->c, 1000, resp, sizeof(resp), &len),
                     VGPU_E_DEVICE);
    assert_int_equal(vgpu_last_error(t->c)->code, VGPU_ERR_REJECTED);
    assert_string_equal(vgpu_last_error(t->c)->message, "no pool");
}

static void
test_wait_timeout_and_gone(void **state)
{
    struct tree *t = *state;
    static const char bdf[] = "0000:00:04.0";
    char err[ERR_LEN] = "";

    populate(t);
    t->c = vgpu_open_sysfs(bdf, t->root, 0, err, sizeof(err));
    assert_non_null(t->c);
    poke(t, bdf, VGPU_REG_STATUS, VGPU_STATUS_BUSY);
    assert_int_equal(vgpu_nop(t->c), VGPU_E_BUSY);
    assert_int_equal(vgpu_wait(t->c, 20, NULL, 0, NULL), -ETIMEDOUT);
    /* A device that went away reads all ones. */
    poke(t, bdf, VGPU_REG_STATUS, UINT32_MAX);
    assert_int_equal(vgpu_wait(t->c, 20, NULL, 0, NULL), -EIO);
    /* A RESPONSE_LEN beyond the buffer is refused, not copied. */
    poke(t, bdf, VGPU_REG_STATUS, VGPU_STATUS_DONE);
    poke(t, bdf, VGPU_REG_RESPONSE_LEN, VGPU_BUF_SIZE + 1);
    assert_int_equal(vgpu_wait(t->c, 20, NULL, 0, NULL), -EIO);
}

static void
test_irq_falls_back_to_polling(void **state)
{
    struct tree *t = *state;
    static const char bdf[] = "0000:00:04.0";
    char err[ERR_LEN] = "";
    char path[PATH_MAX];

    populate(t);
    /* Not bound to any driver. */
    t->c = vgpu_open_sysfs(bdf, t->root, VGPU_OPEN_IRQ, err, sizeof(err));
    assert_non_null(t->c);
    assert_int_equal(peek(t, bdf, VGPU_REG_IRQ_CTRL), 0);
    vgpu_close(t->c);
    t->c = NULL;
    /* Bound to uio_pci_generic, but its /dev node cannot be opened. */
    fmt_path(path, "%s/%s/driver", t->devices, bdf);
    assert_int_equal(symlink("../../../bus/pci/drivers/uio_pci_generic", path),
                     0);
    fmt_path(path, "%s/%s/uio", t->devices, bdf);
    assert_int_equal(mkdir(path, 0755), 0);
    fmt_path(path, "%s/%s/uio/uio4095", t->devices, bdf);
    assert_int_equal(mkdir(path, 0755), 0);
    t->c = vgpu_open_sysfs(bdf, t->root, VGPU_OPEN_IRQ, err, sizeof(err));
    assert_non_null(t->c);
    assert_int_equal(peek(t, bdf, VGPU_REG_IRQ_CTRL), 0);
}

/* ---- DMA memory (sysfs_dma.c) --------------------------------------------
 */

/* A 64-byte config space with the command word 0. */
static void
add_config(const struct tree *t, const char *bdf)
{
    char path[PATH_MAX];
    uint8_t cfg[CONFIG_SIZE] = {0};
    int fd;

    fmt_path(path, "%s/%s/config", t->devices, bdf);
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, cfg, sizeof(cfg)), (ssize_t)sizeof(cfg));
    close(fd);
}

static uint16_t
command_word(const struct tree *t, const char *bdf)
{
    char path[PATH_MAX];
    uint8_t cmd[2];
    int fd;

    fmt_path(path, "%s/%s/config", t->devices, bdf);
    fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    assert_int_equal(pread(fd, cmd, 2, PCI_COMMAND), 2);
    close(fd);
    return (uint16_t)(cmd[0] | cmd[1] << 8);
}

static void
add_iommu_group(const struct tree *t, const char *bdf, const char *type)
{
    char path[PATH_MAX];

    fmt_path(path, "%s/%s/iommu_group", t->devices, bdf);
    assert_int_equal(mkdir(path, 0755), 0);
    put_file(path, "type", "%s\n", type);
}

static void
test_dma_iommu_translating(void **state)
{
    struct tree *t = *state;
    static const char bdf[] = "0000:00:04.0";
    char err[ERR_LEN] = "";
    struct vgpu_dma buf;

    populate(t);
    add_config(t, bdf);
    add_iommu_group(t, bdf, "DMA-FQ");
    t->c = vgpu_open_sysfs(bdf, t->root, 0, err, sizeof(err));
    assert_non_null(t->c);
    assert_int_equal(vgpu_dma_alloc(t->c, VGPU_Q_BASE_ALIGN, &buf), -ENOTSUP);
    assert_null(buf.ptr);
    assert_non_null(strstr(vgpu_dma_error(t->c), "IOMMU"));
    assert_non_null(strstr(vgpu_dma_error(t->c), "DMA-FQ"));
    /* Refused before bus mastering was touched. */
    assert_int_equal(command_word(t, bdf), 0);
}

static void
test_dma_no_config(void **state)
{
    struct tree *t = *state;
    static const char bdf[] = "0000:00:04.0";
    char err[ERR_LEN] = "";
    struct vgpu_dma buf;

    populate(t);
    t->c = vgpu_open_sysfs(bdf, t->root, 0, err, sizeof(err));
    assert_non_null(t->c);
    assert_int_equal(vgpu_dma_alloc(t->c, VGPU_Q_BASE_ALIGN, &buf), -ENOENT);
    assert_non_null(strstr(vgpu_dma_error(t->c), "bus mastering"));
}

/* With the IOMMU in passthrough, bus mastering is switched on; whether the
 * memory then comes depends on this machine (root, hugepages): either a
 * block the device can use, or a reason. */
static void
test_dma_master_and_memory(void **state)
{
    struct tree *t = *state;
    static const char bdf[] = "0000:00:04.0";
    char err[ERR_LEN] = "";
    struct vgpu_dma small;
    struct vgpu_dma big;
    int rc;

    populate(t);
    add_config(t, bdf);
    add_iommu_group(t, bdf, "identity");
    t->c = vgpu_open_sysfs(bdf, t->root, 0, err, sizeof(err));
    assert_non_null(t->c);
    rc = vgpu_dma_alloc(t->c, 100, &small);
    assert_true(command_word(t, bdf) & PCI_COMMAND_MASTER);
    if (rc == 0) {
        assert_non_null(small.ptr);
        assert_int_equal(small.dev_addr % VGPU_Q_BASE_ALIGN, 0);
        assert_int_equal(((uint8_t *)small.ptr)[99], 0);
        memset(small.ptr, 0xa5, small.len);
        vgpu_dma_free(t->c, &small);
        assert_null(small.ptr);
    } else {
        print_message("dma_alloc: %s (%s)\n", vgpu_strerror(rc),
                      vgpu_dma_error(t->c));
        assert_true(vgpu_dma_error(t->c)[0] != '\0');
    }
    rc = vgpu_dma_alloc(t->c, VGPU_Q_MAX_XFER, &big);
    if (rc == 0) {
        memset(big.ptr, 0x5a, big.len);
        vgpu_dma_free(t->c, &big);
    } else {
        print_message("dma_alloc 1 MiB: %s (%s)\n", vgpu_strerror(rc),
                      vgpu_dma_error(t->c));
        assert_true(vgpu_dma_error(t->c)[0] != '\0');
    }
    /* More than one hugepage is never contiguous: refused, with why. */
    assert_int_equal(vgpu_dma_alloc(t->c, (size_t)1 << 30, &big), -EINVAL);
    assert_non_null(strstr(vgpu_dma_error(t->c), "hugepage"));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        VGPU_TEST_FIXTURE("/guest/sysfs/discover/by_ids", test_discover, setup,
                          teardown),
        VGPU_TEST_FIXTURE("/guest/sysfs/discover/none", test_discover_none,
                          setup, teardown),
        VGPU_TEST_FIXTURE("/guest/sysfs/discover/wrong_revision",
                          test_discover_wrong_revision, setup, teardown),
        VGPU_TEST_FIXTURE("/guest/sysfs/discover/no_sysfs", test_no_sysfs,
                          setup, teardown),
        VGPU_TEST_FIXTURE("/guest/sysfs/named/other_device",
                          test_named_other_device, setup, teardown),
        VGPU_TEST_FIXTURE("/guest/sysfs/named/wrong_revision",
                          test_named_wrong_revision, setup, teardown),
        VGPU_TEST_FIXTURE("/guest/sysfs/named/missing", test_named_missing,
                          setup, teardown),
        VGPU_TEST_FIXTURE("/guest/sysfs/named/short_form", test_named_forms,
                          setup, teardown),
        VGPU_TEST_FIXTURE("/guest/sysfs/named/bad_address",
                          test_named_bad_address, setup, teardown),
        VGPU_TEST_FIXTURE("/guest/sysfs/bar/protocol_mismatch",
                          test_protocol_mismatch, setup, teardown),
        VGPU_TEST_FIXTURE("/guest/sysfs/bar/too_small", test_bar_too_small,
                          setup, teardown),
        VGPU_TEST_FIXTURE("/guest/sysfs/bar/request_and_response",
                          test_request_and_response, setup, teardown),
        VGPU_TEST_FIXTURE("/guest/sysfs/bar/timeout_and_gone",
                          test_wait_timeout_and_gone, setup, teardown),
        VGPU_TEST_FIXTURE("/guest/sysfs/irq/falls_back_to_polling",
                          test_irq_falls_back_to_polling, setup, teardown),
        VGPU_TEST_FIXTURE("/guest/sysfs/dma/iommu_translating",
                          test_dma_iommu_translating, setup, teardown),
        VGPU_TEST_FIXTURE("/guest/sysfs/dma/no_config", test_dma_no_config,
                          setup, teardown),
        VGPU_TEST_FIXTURE("/guest/sysfs/dma/master_and_memory",
                          test_dma_master_and_memory, setup, teardown),
    };

    return cmocka_run_group_tests_name("guest_sysfs", tests, NULL, NULL);
}
