/*
 * The vgpu-qtest harness's helpers: reporting, children, QEMU and its qtest
 * protocol, PCI configuration cycles, BAR0 access, QMP and the daemon. See
 * qtest.h and qtest_vgpu.c.
 */
#include "qtest.h"

const char *g_qemu;
const char *g_mediator;
const char *g_sim;
char g_dir[PATH_MAX];
static pid_t g_children[QT_CHILDREN_MAX];
static unsigned g_nchildren;
unsigned g_pass;
unsigned g_fail;

/* ---- Reporting ---------------------------------------------------------- */

void
check(bool ok, const char *fmt, ...)
{
    va_list ap;

    printf("%s ", ok ? "ok  " : "FAIL");
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    fflush(stdout);
    if (ok) {
        g_pass++;
    } else {
        g_fail++;
    }
}

void
check_eq(const char *name, uint64_t got, uint64_t want)
{
    if (got == want) {
        check(true, "%s", name);
    } else {
        check(false, "%s: got 0x%llx, want 0x%llx", name,
              (unsigned long long)got, (unsigned long long)want);
    }
}

/* Print the last lines of a file (a QEMU's stderr, the daemon's log). */
void
show_tail(const char *what, const char *path)
{
    char buf[4096];
    FILE *f = fopen(path, "r");
    size_t n;
    long size;

    if (f == NULL) {
        return;
    }
    fseek(f, 0, SEEK_END);
    size = ftell(f);
    fseek(f, size > (long)sizeof(buf) - 1 ? size - (long)sizeof(buf) + 1 : 0,
          SEEK_SET);
    n = fread(buf, 1, sizeof(buf) - 1, f);
    buf[n] = '\0';
    fclose(f);
    printf("---- %s (%s) ----\n%s\n----\n", what, path, buf);
}

void
fatal(const struct qemu *q, const char *fmt, ...)
{
    va_list ap;

    printf("FAIL ");
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    if (q != NULL) {
        show_tail("QEMU stderr", q->errlog);
    }
    g_fail++;
    printf("%u passed, %u failed\n", g_pass, g_fail);
    exit(1);
}

/* ---- Time and children -------------------------------------------------- */

uint64_t
now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void
sleep_us(unsigned us)
{
    struct timespec ts = {.tv_sec = us / 1000000u,
                          .tv_nsec = (long)(us % 1000000u) * 1000L};

    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
    }
}

void
child_add(pid_t pid)
{
    if (g_nchildren < sizeof(g_children) / sizeof(g_children[0])) {
        g_children[g_nchildren++] = pid;
    }
}

void
child_forget(pid_t pid)
{
    for (unsigned i = 0; i < g_nchildren; i++) {
        if (g_children[i] == pid) {
            g_children[i] = g_children[--g_nchildren];
            return;
        }
    }
}

/* Wait at most @ms for @pid. Return its wait status, or -1 if it still
 * runs. */
int
child_wait(pid_t pid, unsigned ms)
{
    uint64_t end = now_ms() + ms;
    int st;

    for (;;) {
        pid_t r = waitpid(pid, &st, WNOHANG);

        if (r == pid) {
            child_forget(pid);
            return st;
        }
        if (r < 0 || now_ms() >= end) {
            return -1;
        }
        sleep_us(POLL_SLEEP_US * 5);
    }
}

/* SIGTERM, a bounded wait, then SIGKILL. Return the wait status. */
int
child_stop(pid_t pid)
{
    int st;

    kill(pid, SIGTERM);
    st = child_wait(pid, WAIT_MS);
    if (st == -1) {
        kill(pid, SIGKILL);
        st = child_wait(pid, WAIT_MS);
    }
    return st;
}

static int
rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

void
cleanup(void)
{
    while (g_nchildren > 0) {
        pid_t pid = g_children[g_nchildren - 1];

        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        child_forget(pid);
    }
    if (g_dir[0] != '\0' && getenv("VGPU_QTEST_KEEP") == NULL) {
        nftw(g_dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
    }
}

void
path_in_dir(char *out, size_t cap, const char *name)
{
    if ((size_t)snprintf(out, cap, "%s/%s", g_dir, name) >= cap) {
        fatal(NULL, "path %s/%s is too long", g_dir, name);
    }
}

/* ---- QEMU and the qtest protocol ---------------------------------------- */

/* Start QEMU with -device @device and the NULL-terminated @extra flags.
 * With @qtest false its stdin is /dev/null (for the runs that must fail at
 * device creation). */
void
qemu_start_with(struct qemu *q, const char *name, const char *device,
                bool qtest, const char *const *extra)
{
    const char *argv[40] = {
        g_qemu,       "-machine",
        "q35",        "-accel",
        "qtest",      "-nodefaults",
        "-display",   "none",
        "-qtest",     "stdio",
        "-qtest-log", "/dev/null",
        "-L",         "/usr/share/seabios",
        "-L",         "/usr/share/qemu",
        "-device",    device,
    };
    size_t argc = 18;
    int to_child[2] = {-1, -1};
    int from_child[2] = {-1, -1};
    char logname[64];
    pid_t pid;

    for (; extra != NULL && *extra != NULL && argc + 1 < 40; extra++) {
        argv[argc++] = *extra;
    }
    argv[argc] = NULL;
    memset(q, 0, sizeof(*q));
    q->name = name;
    q->in_fd = -1;
    q->out_fd = -1;
    snprintf(logname, sizeof(logname), "qemu-%s.err", name);
    path_in_dir(q->errlog, sizeof(q->errlog), logname);
    /* Close-on-exec, so that no other child holds these pipes open. */
    if (pipe2(to_child, O_CLOEXEC) < 0 || pipe2(from_child, O_CLOEXEC) < 0) {
        fatal(NULL, "pipe: %s", strerror(errno));
    }
    pid = fork();
    if (pid < 0) {
        fatal(NULL, "fork: %s", strerror(errno));
    }
    if (pid == 0) {
        int err = open(q->errlog, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int in = qtest ? to_child[0] : open("/dev/null", O_RDONLY);

        if (err < 0 || in < 0 || dup2(in, STDIN_FILENO) < 0 ||
            dup2(from_child[1], STDOUT_FILENO) < 0 ||
            dup2(err, STDERR_FILENO) < 0) {
            _exit(127);
        }
        execv(g_qemu, (char *const *)argv);
        _exit(127);
    }
    child_add(pid);
    close(to_child[0]);
    close(from_child[1]);
    q->pid = pid;
    q->in_fd = to_child[1];
    q->out_fd = from_child[0];
}

void
qemu_start(struct qemu *q, const char *name, const char *device, bool qtest)
{
    qemu_start_with(q, name, device, qtest, NULL);
}

void
qemu_stop(struct qemu *q)
{
    if (q->in_fd >= 0) {
        close(q->in_fd);
    }
    if (q->out_fd >= 0) {
        close(q->out_fd);
    }
    q->in_fd = -1;
    q->out_fd = -1;
    if (q->pid > 0) {
        child_stop(q->pid);
        q->pid = 0;
    }
}

/* Read one reply line into @line. */
void
qt_line(struct qemu *q, char *line, size_t cap)
{
    uint64_t end = now_ms() + CMD_TIMEOUT_MS;

    for (;;) {
        char *nl = memchr(q->rbuf, '\n', q->rlen);
        struct pollfd p = {.fd = q->out_fd, .events = POLLIN};
        uint64_t now;
        ssize_t n;

        if (nl != NULL) {
            size_t len = (size_t)(nl - q->rbuf);

            if (len >= cap) {
                len = cap - 1;
            }
            memcpy(line, q->rbuf, len);
            line[len] = '\0';
            q->rlen -= (size_t)(nl - q->rbuf) + 1;
            memmove(q->rbuf, nl + 1, q->rlen);
            return;
        }
        now = now_ms();
        if (now >= end) {
            fatal(q, "%s: no qtest reply within %d ms", q->name,
                  CMD_TIMEOUT_MS);
        }
        if (poll(&p, 1, (int)(end - now)) <= 0) {
            continue;
        }
        if (q->rlen == sizeof(q->rbuf)) {
            fatal(q, "%s: qtest reply line too long", q->name);
        }
        n = read(q->out_fd, q->rbuf + q->rlen, sizeof(q->rbuf) - q->rlen);
        if (n <= 0) {
            fatal(q, "%s: QEMU closed its qtest (it exited?)", q->name);
        }
        q->rlen += (size_t)n;
    }
}

/* Send one qtest command; return the value of an "OK 0x..." reply (0 for a
 * bare "OK"). Anything else is fatal. */
uint64_t
qt(struct qemu *q, const char *fmt, ...)
{
    char cmd[LINE_MAX_LEN];
    char line[LINE_MAX_LEN];
    va_list ap;
    size_t len;
    size_t off = 0;

    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd) - 1, fmt, ap);
    va_end(ap);
    len = strlen(cmd);
    cmd[len++] = '\n';
    while (off < len) {
        ssize_t n = write(q->in_fd, cmd + off, len - off);

        if (n <= 0) {
            fatal(q, "%s: cannot write to QEMU's qtest: %s", q->name,
                  strerror(errno));
        }
        off += (size_t)n;
    }
    /* Skip asynchronous lines (IRQ notices), which this test never asks
     * for but tolerates. */
    do {
        qt_line(q, line, sizeof(line));
    } while (strncmp(line, "IRQ", 3) == 0);
    if (getenv("VGPU_QTEST_TRACE") != NULL) {
        fprintf(stderr, "%s: %.*s -> %s\n", q->name, (int)len - 1, cmd, line);
    }
    if (strncmp(line, "OK", 2) != 0) {
        cmd[len - 1] = '\0';
        fatal(q, "%s: qtest '%s' answered '%s'", q->name, cmd, line);
    }
    return line[2] == ' ' ? strtoull(line + 3, NULL, 0) : 0;
}

uint32_t
cfg_read32(struct qemu *q, uint32_t cfg, uint32_t off)
{
    qt(q, "outl 0x%x 0x%x", PCI_CFG_ADDR, cfg | (off & ~3u));
    return (uint32_t)qt(q, "inl 0x%x", PCI_CFG_DATA);
}

uint32_t
cfg_read8(struct qemu *q, uint32_t cfg, uint32_t off)
{
    return (cfg_read32(q, cfg, off) >> (8u * (off & 3u))) & 0xffu;
}

uint32_t
cfg_read16(struct qemu *q, uint32_t cfg, uint32_t off)
{
    return (cfg_read32(q, cfg, off) >> (8u * (off & 2u))) & 0xffffu;
}

void
cfg_write32(struct qemu *q, uint32_t cfg, uint32_t off, uint32_t val)
{
    qt(q, "outl 0x%x 0x%x", PCI_CFG_ADDR, cfg | off);
    qt(q, "outl 0x%x 0x%x", PCI_CFG_DATA, val);
}

void
cfg_write16(struct qemu *q, uint32_t cfg, uint32_t off, uint32_t val)
{
    qt(q, "outl 0x%x 0x%x", PCI_CFG_ADDR, cfg | (off & ~3u));
    qt(q, "outw 0x%x 0x%x", PCI_CFG_DATA + (off & 2u), val);
}

uint32_t
rd32(struct qemu *q, uint32_t off)
{
    return (uint32_t)qt(q, "readl 0x%llx", (unsigned long long)(q->bar + off));
}

void
wr32(struct qemu *q, uint32_t off, uint32_t val)
{
    qt(q, "writel 0x%llx 0x%x", (unsigned long long)(q->bar + off), val);
}

uint64_t
rd(struct qemu *q, char size, uint32_t off)
{
    return qt(q, "read%c 0x%llx", size, (unsigned long long)(q->bar + off));
}

void
wr(struct qemu *q, char size, uint32_t off, uint64_t val)
{
    qt(q, "write%c 0x%llx 0x%llx", size, (unsigned long long)(q->bar + off),
       (unsigned long long)val);
}

/* Find the device on bus 0, place BAR0 and enable memory decoding. Return
 * BAR0's size as the device reports it. */
uint32_t
qemu_setup(struct qemu *q)
{
    uint32_t want = VGPU_PCI_VENDOR_ID | (VGPU_PCI_DEVICE_ID << 16);
    uint32_t sized;

    q->cfg = 0;
    for (uint32_t slot = 0; slot < PCI_SLOTS; slot++) {
        uint32_t cfg = PCI_CFG_ENABLE | (slot << 11);

        if (cfg_read32(q, cfg, PCI_VENDOR_OFF) == want) {
            q->cfg = cfg;
            break;
        }
    }
    if (q->cfg == 0) {
        fatal(q, "%s: no %04x:%04x device on bus 0", q->name,
              VGPU_PCI_VENDOR_ID, VGPU_PCI_DEVICE_ID);
    }
    cfg_write32(q, q->cfg, PCI_BAR0_OFF, 0xffffffffu);
    sized = cfg_read32(q, q->cfg, PCI_BAR0_OFF);
    cfg_write32(q, q->cfg, PCI_BAR0_OFF, BAR0_ADDR);
    cfg_write16(q, q->cfg, PCI_COMMAND_OFF,
                cfg_read16(q, q->cfg, PCI_COMMAND_OFF) | PCI_CMD_MEMORY);
    q->bar = BAR0_ADDR;
    return sized;
}

/* The offset of the MSI capability in config space, or 0. */
uint32_t
msi_cap(struct qemu *q)
{
    uint32_t cap;

    if (!(cfg_read16(q, q->cfg, PCI_STATUS_OFF) & PCI_STATUS_CAP_LIST)) {
        return 0;
    }
    cap = cfg_read8(q, q->cfg, PCI_CAP_PTR_OFF);
    for (unsigned i = 0; cap != 0 && i < PCI_CAPS_MAX; i++) {
        if (cfg_read8(q, q->cfg, cap) == PCI_CAP_ID_MSI) {
            return cap;
        }
        cap = cfg_read8(q, q->cfg, cap + 1u);
    }
    return 0;
}

/* ---- Requests ----------------------------------------------------------- */

/* Write @len bytes at request buffer offset 0, 4 bytes at a time. */
void
put_request(struct qemu *q, const uint8_t *bytes, uint32_t len)
{
    for (uint32_t i = 0; i < len; i += 4) {
        uint8_t w[4] = {0, 0, 0, 0};

        memcpy(w, bytes + i, len - i < 4 ? len - i : 4);
        wr32(q, REQ(i), vgpu_get_le32(w));
    }
    wr32(q, VGPU_REG_REQUEST_LEN, len);
}

void
get_response(struct qemu *q, uint8_t *out, uint32_t len)
{
    for (uint32_t i = 0; i < len; i += 4) {
        uint8_t w[4];

        vgpu_put_le32(w, rd32(q, RESP(i)));
        memcpy(out + i, w, len - i < 4 ? len - i : 4);
    }
}

/* Poll STATUS until it leaves BUSY (at most @ms). Return STATUS. */
uint32_t
wait_done(struct qemu *q, unsigned ms)
{
    uint64_t end = now_ms() + ms;
    uint32_t st;

    while ((st = rd32(q, VGPU_REG_STATUS)) == VGPU_STATUS_BUSY &&
           now_ms() < end) {
        sleep_us(POLL_SLEEP_US);
    }
    return st;
}

/* Ring the doorbell for a request already in the buffer; wait; clear the
 * completion. Return STATUS. */
uint32_t
ring(struct qemu *q)
{
    uint32_t st;

    wr32(q, VGPU_REG_DOORBELL, VGPU_DOORBELL_RING);
    st = wait_done(q, WAIT_MS);
    wr32(q, VGPU_REG_IRQ_STATUS, VGPU_IRQ_STATUS_DONE);
    return st;
}

uint32_t
op_request(uint8_t *buf, uint32_t op, uint32_t n, const void *operands,
           uint32_t len)
{
    vgpu_put_le32(buf, op);
    vgpu_put_le32(buf + 4, n);
    if (len > 0) {
        memcpy(buf + VGPU_OP_HDR_SIZE, operands, len);
    }
    return VGPU_OP_HDR_SIZE + len;
}

/* The response buffer's text (a mediator's message) contains @needle. */
bool
response_says(struct qemu *q, const char *needle)
{
    uint8_t text[VGPU_BUF_SIZE + 1];
    uint32_t len = rd32(q, VGPU_REG_RESPONSE_LEN);

    if (len > VGPU_BUF_SIZE) {
        return false;
    }
    get_response(q, text, len);
    text[len] = '\0';
    return strstr((const char *)text, needle) != NULL;
}

/* ---- QMP (for the migration check) -------------------------------------- */

/* Send @json; return the first reply line that carries "return" or "error"
 * (events are skipped). */
const char *
qmp_cmd(struct qmp *m, const char *json)
{
    uint64_t end = now_ms() + CMD_TIMEOUT_MS;
    static char line[sizeof(m->buf)];

    if (json != NULL &&
        (write(m->fd, json, strlen(json)) < 0 || write(m->fd, "\n", 1) < 0)) {
        fatal(NULL, "QMP write: %s", strerror(errno));
    }
    for (;;) {
        char *nl = memchr(m->buf, '\n', m->len);
        struct pollfd p = {.fd = m->fd, .events = POLLIN};
        ssize_t n;

        if (nl != NULL) {
            size_t l = (size_t)(nl - m->buf);

            memcpy(line, m->buf, l);
            line[l] = '\0';
            m->len -= l + 1;
            memmove(m->buf, nl + 1, m->len);
            if (json == NULL || strstr(line, "\"return\"") != NULL ||
                strstr(line, "\"error\"") != NULL) {
                return line;
            }
            continue;
        }
        if (now_ms() >= end || m->len == sizeof(m->buf)) {
            fatal(NULL, "QMP: no answer to %s", json ? json : "(greeting)");
        }
        if (poll(&p, 1, 100) <= 0) {
            continue;
        }
        n = read(m->fd, m->buf + m->len, sizeof(m->buf) - m->len);
        if (n <= 0) {
            fatal(NULL, "QMP: connection closed");
        }
        m->len += (size_t)n;
    }
}

void
qmp_open(struct qmp *m, const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    uint64_t end = now_ms() + WAIT_MS;

    memset(m, 0, sizeof(*m));
    if (snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path) >=
        (int)sizeof(sa.sun_path)) {
        fatal(NULL, "QMP socket path too long: %s", path);
    }
    for (;;) {
        m->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (m->fd >= 0 &&
            connect(m->fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
            break;
        }
        if (m->fd >= 0) {
            close(m->fd);
        }
        if (now_ms() >= end) {
            fatal(NULL, "QMP: cannot connect to %s", path);
        }
        sleep_us(POLL_SLEEP_US * 10);
    }
    qmp_cmd(m, NULL); /* the greeting */
    qmp_cmd(m, "{\"execute\": \"qmp_capabilities\"}");
}

/* Files and QEMU flags of one migration through the file NAME.bin. */
void
migration_prepare(struct migration *m, const char *name)
{
    char file[64];

    memset(m, 0, sizeof(*m));
    snprintf(file, sizeof(file), "%s.qmp", name);
    path_in_dir(m->qmp_path, sizeof(m->qmp_path), file);
    snprintf(file, sizeof(file), "%s.bin", name);
    path_in_dir(m->image, sizeof(m->image), file);
    snprintf(m->qmp_arg, sizeof(m->qmp_arg), "unix:%s,server=on,wait=off",
             m->qmp_path);
    snprintf(m->in_uri, sizeof(m->in_uri), "exec:cat %s", m->image);
    m->src_extra[0] = "-qmp";
    m->src_extra[1] = m->qmp_arg;
    m->dst_extra[0] = "-incoming";
    m->dst_extra[1] = m->in_uri;
}

/* Save the source QEMU (started with m->src_extra) into the file through
 * QMP's migrate (exec:cat). Return whether it completed within WAIT_MS. */
bool
migration_save(struct migration *m)
{
    char migrate[PATH_MAX + 128];
    uint64_t end = now_ms() + WAIT_MS;
    struct qmp qmp;
    bool done = false;

    qmp_open(&qmp, m->qmp_path);
    snprintf(migrate, sizeof(migrate),
             "{\"execute\": \"migrate\", \"arguments\": {\"uri\": "
             "\"exec:cat > %s\"}}",
             m->image);
    qmp_cmd(&qmp, migrate);
    while (!done && now_ms() < end) {
        done = strstr(qmp_cmd(&qmp, "{\"execute\": \"query-migrate\"}"),
                      "\"completed\"") != NULL;
        sleep_us(POLL_SLEEP_US * 10);
    }
    close(qmp.fd);
    return done;
}

/* ---- The daemon --------------------------------------------------------- */

bool
wait_socket(const char *path, unsigned ms)
{
    uint64_t end = now_ms() + ms;
    struct stat st;

    while (now_ms() < end) {
        if (stat(path, &st) == 0 && S_ISSOCK(st.st_mode)) {
            return true;
        }
        sleep_us(POLL_SLEEP_US * 10);
    }
    return false;
}

pid_t
daemon_start(const char *sock, const char *log)
{
    char delay[64];
    pid_t pid;

    snprintf(delay, sizeof(delay), "C=cpu:delay_us=%u", TIMEOUT_DELAY_US);
    pid = fork();
    if (pid < 0) {
        fatal(NULL, "fork: %s", strerror(errno));
    }
    if (pid == 0) {
        int null = open("/dev/null", O_RDWR);

        if (null >= 0) {
            dup2(null, STDIN_FILENO);
            dup2(null, STDOUT_FILENO);
        }
        execl(g_mediator, g_mediator, "--socket", sock, "--log-file", log,
              "--log-level", "debug", "--pool", "B=cpu", "--pool", delay,
              (char *)NULL);
        _exit(127);
    }
    child_add(pid);
    if (!wait_socket(sock, WAIT_MS)) {
        show_tail("daemon log", log);
        fatal(NULL, "the daemon did not create %s", sock);
    }
    return pid;
}
