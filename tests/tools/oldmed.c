/*
 * vgpu-oldmed: a mediator as vgpu-stub 0.1.0 answered devices, for the
 * compatibility test (tests/release/compat.sh, docs/compatibility.md). It
 * knows nothing of the queue (SPEC.md section 11): whatever a HELLO offers,
 * it answers the 8-byte HELLO_ACK of section 7 with capabilities BASIC|IRQ
 * and a payload limit of 1024 bytes, and ends a connection whose frame is
 * larger with an ERROR, as 0.1.0 did. Requests run on the CPU backend, one
 * at a time; each connection is served by a child process of its own.
 *
 * It prints one line per HELLO, `hello vm=V caps=0xC ack_bytes=8`, and runs
 * until SIGTERM or SIGINT.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "vgpu/backend.h"
#include "vgpu/proto.h"
#include "vgpu/regs.h"

#define OLDMED_PROG      "vgpu-oldmed"
#define OLDMED_EXIT_OK   0
#define OLDMED_EXIT_FAIL 1
#define OLDMED_EXIT_USE  2
#define OLDMED_CAPS      (VGPU_CAP_BASIC | VGPU_CAP_IRQ) /* 0.1.0's */
#define OLDMED_MAX       VGPU_BUF_SIZE                   /* 0.1.0's limit */
#define OLDMED_BACKLOG   16
#define OLDMED_MSG_LEN   256

static volatile sig_atomic_t oldmed_stop;

static void
oldmed_on_signal(int sig)
{
    (void)sig;
    oldmed_stop = 1;
}

/* Read or write exactly @len bytes. Return: 0, or -1 at EOF or an error. */
static int
oldmed_io(int fd, uint8_t *buf, size_t len, int writing)
{
    size_t done = 0;

    while (done < len) {
        ssize_t n = writing ? write(fd, buf + done, len - done)
                            : read(fd, buf + done, len - done);

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return -1;
        }
        done += (size_t)n;
    }
    return 0;
}

/* Send one frame: @req's ids, @type, @status and @len bytes of @payload. */
static int
oldmed_send(int fd, const struct vgpu_hdr *req, uint16_t type, uint32_t status,
            const void *payload, size_t len)
{
    static uint8_t frame[VGPU_HDR_SIZE + OLDMED_MAX + OLDMED_MSG_LEN];
    struct vgpu_hdr h;
    int n;

    vgpu_hdr_init(&h, type);
    h.vm_id = req->vm_id;
    h.request_id = req->request_id;
    h.pool_id = req->pool_id;
    h.priority = req->priority;
    h.status = status;
    n = vgpu_frame_encode(&h, payload, len, frame, sizeof(frame));
    return n < 0 ? -1 : oldmed_io(fd, frame, (size_t)n, 1);
}

/* Run one REQUEST on the CPU backend and answer it. */
static int
oldmed_request(int fd, void *cpu, const struct vgpu_hdr *h,
               const uint8_t *payload)
{
    static uint8_t out[OLDMED_MAX];
    char msg[OLDMED_MSG_LEN] = "";
    struct vgpu_op_desc desc;
    size_t out_len = 0;
    int st;

    st = vgpu_op_validate(payload, h->payload_len, &desc, msg, sizeof(msg));
    if (st == 0) {
        st = vgpu_backend_cpu.exec(cpu, &desc, out, sizeof(out), &out_len, msg,
                                   sizeof(msg));
    }
    if (st != VGPU_ERR_NONE) {
        return oldmed_send(fd, h, VGPU_MSG_RESPONSE, (uint32_t)st, msg,
                           strlen(msg));
    }
    return oldmed_send(fd, h, VGPU_MSG_RESPONSE, VGPU_ERR_NONE, out, out_len);
}

/* Serve one device until it hangs up or breaks the protocol. */
static int
oldmed_serve(int fd)
{
    static uint8_t payload[OLDMED_MAX];
    uint8_t raw[VGPU_HDR_SIZE];
    struct vgpu_hdr h;
    void *cpu = NULL;
    int hello = 0;

    if (vgpu_backend_cpu.open("", &cpu, NULL, 0) != 0) {
        return OLDMED_EXIT_FAIL;
    }
    while (oldmed_io(fd, raw, sizeof(raw), 0) == 0) {
        vgpu_hdr_unpack(raw, &h);
        /* A bad header, an oversized payload, a frame before HELLO or a
         * second HELLO: an ERROR, then the connection closes. */
        if (vgpu_hdr_check(&h, OLDMED_MAX) != 0 ||
            oldmed_io(fd, payload, h.payload_len, 0) != 0 ||
            (h.type != VGPU_MSG_HELLO) == !hello) {
            static const char why[] = "protocol error";

            oldmed_send(fd, &h, VGPU_MSG_ERROR, VGPU_ERR_PROTOCOL_ERROR, why,
                        strlen(why));
            break;
        }
        if (h.type == VGPU_MSG_HELLO) {
            uint8_t ack[VGPU_HELLO_ACK_PAYLOAD_SIZE];
            uint32_t ver, caps;

            if (vgpu_hello_unpack(payload, h.payload_len, &ver, &caps) != 0) {
                break;
            }
            vgpu_hello_ack_pack(ack, caps & OLDMED_CAPS, OLDMED_MAX);
            printf("hello vm=%" PRIu32 " caps=0x%" PRIx32 " ack_bytes=%zu\n",
                   h.vm_id, caps, sizeof(ack));
            fflush(stdout);
            hello = 1;
            if (oldmed_send(fd, &h, VGPU_MSG_HELLO_ACK, 0, ack, sizeof(ack))) {
                break;
            }
        } else if (h.type == VGPU_MSG_PING) {
            oldmed_send(fd, &h, VGPU_MSG_PONG, 0, NULL, 0);
        } else if (h.type == VGPU_MSG_REQUEST &&
                   oldmed_request(fd, cpu, &h, payload) != 0) {
            break;
        }
    }
    vgpu_backend_cpu.close(cpu);
    return OLDMED_EXIT_OK;
}

static int
oldmed_listen(const char *path)
{
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    int fd;

    if (strlen(path) >= sizeof(a.sun_path)) {
        fprintf(stderr, "%s: socket path too long: %s\n", OLDMED_PROG, path);
        return -1;
    }
    memcpy(a.sun_path, path, strlen(path) + 1u);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
        listen(fd, OLDMED_BACKLOG) != 0) {
        fprintf(stderr, "%s: cannot listen on %s: %s\n", OLDMED_PROG, path,
                strerror(errno));
        if (fd >= 0) {
            close(fd);
        }
        return -1;
    }
    return fd;
}

static void
oldmed_usage(FILE *out)
{
    fprintf(out,
            "usage: %s --socket PATH\n"
            "A mediator as vgpu-stub 0.1.0 answered devices: the 8-byte\n"
            "HELLO_ACK (capabilities 0x%x, payloads up to %u bytes) whatever\n"
            "the HELLO offers; requests run on the CPU backend. Prints\n"
            "`hello vm=V caps=0xC ack_bytes=8` per HELLO; runs until SIGTERM.\n"
            "  --socket PATH   where to listen (created; removed at exit)\n"
            "  --help          this text\n"
            "Exit: 0 stopped by a signal, 1 cannot listen, 2 bad usage.\n",
            OLDMED_PROG, OLDMED_CAPS, OLDMED_MAX);
}

int
main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"socket", required_argument, NULL, 's'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct sigaction sa = {.sa_handler = oldmed_on_signal};
    const char *path = NULL;
    int c, lfd;

    opterr = 0;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        if (c == 's') {
            path = optarg;
        } else if (c == 'h') {
            oldmed_usage(stdout);
            return OLDMED_EXIT_OK;
        } else {
            fprintf(stderr, "%s: unknown option or missing value: %s\n",
                    OLDMED_PROG, argv[optind - 1]);
            oldmed_usage(stderr);
            return OLDMED_EXIT_USE;
        }
    }
    if (path == NULL || optind != argc) {
        oldmed_usage(stderr);
        return OLDMED_EXIT_USE;
    }
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGCHLD, SIG_IGN);
    lfd = oldmed_listen(path);
    if (lfd < 0) {
        return OLDMED_EXIT_FAIL;
    }
    while (!oldmed_stop) {
        int fd = accept(lfd, NULL, NULL);

        if (fd < 0) {
            continue;
        }
        if (fork() == 0) {
            signal(SIGTERM, SIG_DFL);
            close(lfd);
            _exit(oldmed_serve(fd));
        }
        close(fd);
    }
    close(lfd);
    unlink(path);
    return OLDMED_EXIT_OK;
}
