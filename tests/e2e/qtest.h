/*
 * The vgpu-qtest harness: QEMU with the vgpu-stub device driven through
 * QEMU's qtest text protocol (qtest_lib.c), shared by the test files
 * (qtest_vgpu.c: registers, mailbox, migration, properties; qtest_queue.c:
 * the queue of SPEC.md section 11 over DMA).
 */
#ifndef VGPU_QTEST_H
#define VGPU_QTEST_H

#include "vgpu/proto.h"
#include "vgpu/regs.h"
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SKIP_RC         77
#define CMD_TIMEOUT_MS  10000 /* one qtest command */
#define WAIT_MS         10000 /* a request, a socket, an exit */
#define POLL_SLEEP_US   1000
#define QT_CHILDREN_MAX 16
#define LINE_MAX_LEN    512

/* PCI configuration mechanism #1 and the registers the test touches. */
#define PCI_CFG_ADDR        0xcf8u
#define PCI_CFG_DATA        0xcfcu
#define PCI_CFG_ENABLE      0x80000000u
#define PCI_SLOTS           32u
#define PCI_VENDOR_OFF      0x00u
#define PCI_COMMAND_OFF     0x04u
#define PCI_STATUS_OFF      0x06u
#define PCI_REVISION_OFF    0x08u
#define PCI_CLASS_OFF       0x0au
#define PCI_BAR0_OFF        0x10u
#define PCI_CAP_PTR_OFF     0x34u
#define PCI_INT_PIN_OFF     0x3du
#define PCI_CMD_MEMORY      0x2u
#define PCI_CMD_MASTER      0x4u
#define PCI_STATUS_INTX     0x08u /* the device's INTx is asserted */
#define PCI_MSI_FLAGS       2u    /* offsets inside the MSI capability */
#define PCI_MSI_ADDR_LO     4u
#define PCI_MSI_ADDR_HI     8u
#define PCI_MSI_DATA_64     12u
#define PCI_MSI_ENABLE      0x1u
#define MSI_TARGET          0x1000u /* guest RAM: the message lands here */
#define MSI_DATA            0x4321u
#define PCI_STATUS_CAP_LIST 0x10u
#define PCI_CAP_ID_MSI      0x05u
#define PCI_BAR_FLAGS_MASK  0xfu
#define PCI_BAR_ADDR_MASK   0xfffffff0u
#define PCI_CAPS_MAX        48u
#define PCI_RESET_PORT      0xcf9u /* ICH9 reset control */
#define PCI_RESET_HARD      0x6u
#define BAR0_ADDR           0xfe000000u
#define REQ(off)            (VGPU_REQ_BUF_OFFSET + (off))
#define RESP(off)           (VGPU_RESP_BUF_OFFSET + (off))
#define SEED_DEVICE         "vgpu-stub,pool_id=B,priority=high,vm_id=200"
#define TIMEOUT_DELAY_US    1500000u
#define TIMEOUT_MS_PROP     300u
#define HANDSHAKE_BOUND_MS  2000u

struct qemu {
    const char *name;
    pid_t pid;
    int in_fd;  /* QEMU's stdin: qtest commands */
    int out_fd; /* QEMU's stdout: qtest replies */
    char rbuf[4096];
    size_t rlen;
    char errlog[PATH_MAX];
    uint32_t cfg; /* config address of the device, function 0 */
    uint64_t bar; /* where BAR0 was placed */
};

/* One migration through a file (migration_prepare()). */
struct migration {
    char qmp_path[PATH_MAX];
    char qmp_arg[PATH_MAX + 64];
    char image[PATH_MAX];
    char in_uri[PATH_MAX + 64];
    const char *src_extra[3]; /* qemu_start_with()'s flags: -qmp ... */
    const char *dst_extra[3]; /* ... and -incoming ... */
};

struct qmp {
    int fd;
    char buf[16384];
    size_t len;
};

extern const char *g_qemu;
extern const char *g_mediator;
extern const char *g_sim; /* vgpu-sim, for --replay; may be NULL */
extern char g_dir[PATH_MAX];
extern unsigned g_pass;
extern unsigned g_fail;

void check(bool ok, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void check_eq(const char *name, uint64_t got, uint64_t want);
void show_tail(const char *what, const char *path);
void fatal(const struct qemu *q, const char *fmt, ...)
    __attribute__((noreturn, format(printf, 2, 3)));
uint64_t now_ms(void);
void sleep_us(unsigned us);
void child_add(pid_t pid);
void child_forget(pid_t pid);
int child_wait(pid_t pid, unsigned ms);
int child_stop(pid_t pid);
void cleanup(void);
void path_in_dir(char *out, size_t cap, const char *name);
void qemu_start_with(struct qemu *q, const char *name, const char *device,
                     bool qtest, const char *const *extra);
void qemu_start(struct qemu *q, const char *name, const char *device,
                bool qtest);
void qemu_stop(struct qemu *q);
void qt_line(struct qemu *q, char *line, size_t cap);
uint64_t qt(struct qemu *q, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
uint32_t cfg_read32(struct qemu *q, uint32_t cfg, uint32_t off);
uint32_t cfg_read8(struct qemu *q, uint32_t cfg, uint32_t off);
uint32_t cfg_read16(struct qemu *q, uint32_t cfg, uint32_t off);
void cfg_write32(struct qemu *q, uint32_t cfg, uint32_t off, uint32_t val);
void cfg_write16(struct qemu *q, uint32_t cfg, uint32_t off, uint32_t val);
uint32_t rd32(struct qemu *q, uint32_t off);
void wr32(struct qemu *q, uint32_t off, uint32_t val);
uint64_t rd(struct qemu *q, char size, uint32_t off);
void wr(struct qemu *q, char size, uint32_t off, uint64_t val);
uint32_t qemu_setup(struct qemu *q);
uint32_t msi_cap(struct qemu *q);
void put_request(struct qemu *q, const uint8_t *bytes, uint32_t len);
void get_response(struct qemu *q, uint8_t *out, uint32_t len);
uint32_t wait_done(struct qemu *q, unsigned ms);
uint32_t ring(struct qemu *q);
uint32_t op_request(uint8_t *buf, uint32_t op, uint32_t n, const void *operands,
                    uint32_t len);
bool response_says(struct qemu *q, const char *needle);
const char *qmp_cmd(struct qmp *m, const char *json);
void qmp_open(struct qmp *m, const char *path);
void migration_prepare(struct migration *m, const char *name);
bool migration_save(struct migration *m);
bool wait_socket(const char *path, unsigned ms);
pid_t daemon_start(const char *sock, const char *log);

/* qtest_queue.c */
void test_queue(void);

#endif
