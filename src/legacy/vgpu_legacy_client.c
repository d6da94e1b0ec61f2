/*
 * vgpu-legacy-client: one request over the legacy file protocol
 * (docs/mediator.md, "Legacy file transport"), the way the old VM client
 * did it over NFS, for scripts, tests and VMs that still use the files.
 *
 *   vgpu-legacy-client --dir DIR/vmN [--pool A] [--priority high]
 *                      [--vm-id N] [--timeout-ms 5000] NUM1 NUM2
 *
 * It removes a stale response.txt, watches the directory (inotify), writes
 * request.txt atomically (a temporary file renamed into place), waits for
 * response.txt, prints the result and removes the response.
 *
 * Exit status: 0 the result was printed; 1 the mediator answered with an
 * error (printed), the files could not be used, or no answer came within
 * the timeout (said so); 2 bad usage.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <stdalign.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <time.h>
#include <unistd.h>

#include "vgpu/legacy.h"
#include "vgpu/regs.h"

#define PROG "vgpu-legacy-client"

#define CLIENT_EXIT_RESULT  0
#define CLIENT_EXIT_ANSWER  1 /* an error response, or a local failure */
#define CLIENT_EXIT_USAGE   2
#define CLIENT_EXIT_TIMEOUT 1 /* a runtime failure too, said so */

#define CLIENT_DEFAULT_TIMEOUT_MS 5000u
#define CLIENT_MAX_TIMEOUT_MS     VGPU_MAX_TIMEOUT_MS

#define CLIENT_WATCH_MASK                                                      \
    (IN_MOVED_TO | IN_CLOSE_WRITE | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR)

#define CLIENT_EVENT_BUF 4096

struct client_opts {
    const char *dir;
    const char *pool;
    const char *priority;
    const char *vm_id; /* NULL: the N of the directory */
    uint32_t timeout_ms;
    const char *num1;
    const char *num2;
};

static void
client_usage(FILE *out)
{
    fprintf(out,
            "usage: %s --dir DIR/vmN [options] NUM1 NUM2\n"
            "Send NUM1 + NUM2 (ADD_I32) to vgpu-mediator over the legacy file\n"
            "protocol: write DIR/vmN/request.txt, wait for "
            "DIR/vmN/response.txt,\n"
            "print the result.\n"
            "\n"
            "  --dir PATH         the VM's directory, DIR/vmN (required)\n"
            "  --pool L           pool letter A-Z (default A)\n"
            "  --priority P       low, medium, high or 0, 1, 2 "
            "(default medium)\n"
            "  --vm-id N          vm_id of the request (default: the N of "
            "the\n"
            "                     directory)\n"
            "  --timeout-ms T     how long to wait for the answer, 1..%u\n"
            "                     (default %u)\n"
            "  -h, --help         this text\n"
            "  --version          print the version\n"
            "\n"
            "NUM1 and NUM2 are int32; put -- before a negative one:\n"
            "  %s --dir /srv/vgpu/vm3 -- -5 7\n"
            "Exit status: 0 the result was printed, 1 the mediator answered "
            "with\n"
            "an error (printed), the files could not be used or no answer "
            "came\n"
            "within the timeout (said so), 2 bad usage.\n",
            PROG, (unsigned)CLIENT_MAX_TIMEOUT_MS,
            (unsigned)CLIENT_DEFAULT_TIMEOUT_MS, PROG);
}

/* "PROG: <what> '<arg>'<tail> (see --help)". Return: -EINVAL. */
static int
client_bad_usage(const char *what, const char *arg, const char *tail)
{
    fprintf(stderr, "%s: %s '%s'%s (see --help)\n", PROG, what, arg, tail);
    return -EINVAL;
}

static int
client_parse_timeout(const char *s, uint32_t *out)
{
    unsigned long long v = 0;

    if (*s == '\0') {
        return -EINVAL;
    }
    for (const char *p = s; *p != '\0'; p++) {
        if (*p < '0' || *p > '9') {
            return -EINVAL;
        }
        v = v * 10u + (unsigned)(*p - '0');
        if (v > CLIENT_MAX_TIMEOUT_MS) {
            return -EINVAL;
        }
    }
    if (v == 0) {
        return -EINVAL;
    }
    *out = (uint32_t)v;
    return 0;
}

/* Return: 0, 1 when --help was asked for, 2 for --version, or -EINVAL
 * (message printed). */
static int
client_parse_args(int argc, char **argv, struct client_opts *o)
{
    enum {
        OPT_DIR = 256,
        OPT_POOL,
        OPT_PRIORITY,
        OPT_VM_ID,
        OPT_TIMEOUT,
        OPT_VERSION
    };
    static const struct option options[] = {
        {"dir", required_argument, NULL, OPT_DIR},
        {"pool", required_argument, NULL, OPT_POOL},
        {"priority", required_argument, NULL, OPT_PRIORITY},
        {"vm-id", required_argument, NULL, OPT_VM_ID},
        {"timeout-ms", required_argument, NULL, OPT_TIMEOUT},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, OPT_VERSION},
        {NULL, 0, NULL, 0},
    };
    int c;

    memset(o, 0, sizeof(*o));
    o->pool = "A";
    o->priority = "medium";
    o->timeout_ms = CLIENT_DEFAULT_TIMEOUT_MS;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+:h", options, NULL)) != -1) {
        switch (c) {
        case OPT_DIR:
            o->dir = optarg;
            break;
        case OPT_POOL:
            o->pool = optarg;
            break;
        case OPT_PRIORITY:
            o->priority = optarg;
            break;
        case OPT_VM_ID:
            o->vm_id = optarg;
            break;
        case OPT_TIMEOUT:
            if (client_parse_timeout(optarg, &o->timeout_ms) < 0) {
                fprintf(stderr,
                        "%s: --timeout-ms: '%s' is not an integer in "
                        "1..%u (see --help)\n",
                        PROG, optarg, (unsigned)CLIENT_MAX_TIMEOUT_MS);
                return -EINVAL;
            }
            break;
        case 'h':
            return 1;
        case OPT_VERSION:
            return 2;
        case ':':
            return client_bad_usage("option", argv[optind - 1],
                                    " needs a value");
        default:
            return client_bad_usage("unknown option", argv[optind - 1], "");
        }
    }
    if (o->dir == NULL) {
        fprintf(stderr, "%s: --dir DIR/vmN is required (see --help)\n", PROG);
        return -EINVAL;
    }
    if (argc - optind != 2) {
        fprintf(stderr,
                "%s: want two numbers NUM1 NUM2, got %d argument%s "
                "(see --help)\n",
                PROG, argc - optind, argc - optind == 1 ? "" : "s");
        return -EINVAL;
    }
    o->num1 = argv[optind];
    o->num2 = argv[optind + 1];
    return 0;
}

/* The request from the options, checked by the mediator's own parser, so
 * the client refuses exactly what the mediator would. */
static int
client_build_request(const struct client_opts *o, struct vgpu_legacy_req *req)
{
    const char *args[] = {o->pool, o->priority, o->vm_id, o->num1, o->num2};
    char line[VGPU_LEGACY_LINE_MAX + 1];
    char why[VGPU_LEGACY_LINE_MAX];
    char dir_id[16];
    uint32_t n;
    int len;

    if (o->vm_id == NULL) {
        if (vgpu_legacy_dir_vm_id(o->dir, &n) < 0) {
            fprintf(stderr,
                    "%s: --dir: '%s' does not end in vmN (N the vm_id); "
                    "give --vm-id\n",
                    PROG, o->dir);
            return -EINVAL;
        }
        snprintf(dir_id, sizeof(dir_id), "%u", (unsigned)n);
        args[2] = dir_id;
    }
    for (size_t i = 0; i < sizeof(args) / sizeof(args[0]); i++) {
        if (strchr(args[i], ':') != NULL) {
            fprintf(stderr, "%s: '%s' contains ':'\n", PROG, args[i]);
            return -EINVAL;
        }
    }
    len = snprintf(line, sizeof(line), "%s:%s:%s:%s:%s", args[0], args[1],
                   args[2], args[3], args[4]);
    if (len < 0 || (size_t)len >= sizeof(line) ||
        vgpu_legacy_parse(line, (size_t)len, req, why, sizeof(why)) < 0) {
        fprintf(stderr, "%s: %s (see --help)\n", PROG,
                len < 0 || (size_t)len >= sizeof(line) ? "arguments too long"
                                                       : why);
        return -EINVAL;
    }
    return 0;
}

static uint64_t
client_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static int
client_path(char *buf, size_t cap, const char *dir, const char *name)
{
    int n = snprintf(buf, cap, "%s/%s", dir, name);

    return n < 0 || (size_t)n >= cap ? -ENAMETOOLONG : 0;
}

/* request.txt, atomically: a temporary file of this process, renamed. */
static int
client_write_request(const char *dir, const struct vgpu_legacy_req *req)
{
    char line[VGPU_LEGACY_LINE_MAX + 1];
    char tmp[PATH_MAX];
    char path[PATH_MAX];
    char name[64];
    size_t off = 0;
    int len;
    int fd;

    len = vgpu_legacy_format_request(req, line, sizeof(line));
    snprintf(name, sizeof(name), ".%s.%ld.tmp", VGPU_LEGACY_REQUEST,
             (long)getpid());
    if (len < 0 || client_path(tmp, sizeof(tmp), dir, name) < 0 ||
        client_path(path, sizeof(path), dir, VGPU_LEGACY_REQUEST) < 0) {
        errno = ENAMETOOLONG;
        return -1;
    }
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0) {
        return -1;
    }
    while (off < (size_t)len) {
        ssize_t n = write(fd, line + off, (size_t)len - off);

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            goto err;
        }
        off += (size_t)n;
    }
    if (close(fd) < 0) {
        fd = -1;
        goto err;
    }
    if (rename(tmp, path) < 0) {
        fd = -1;
        goto err;
    }
    return 0;

err:
    if (fd >= 0) {
        close(fd);
    }
    {
        int saved = errno;

        unlink(tmp);
        errno = saved;
    }
    return -1;
}

/* Read response.txt. Return: its length, 0 when it is not there, or -1
 * (errno set). */
static ssize_t
client_read_response(const char *path, char *buf, size_t cap)
{
    size_t have = 0;
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);

    if (fd < 0) {
        return errno == ENOENT ? 0 : -1;
    }
    while (have < cap) {
        ssize_t n = read(fd, buf + have, cap - have);

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            int saved = errno;

            close(fd);
            errno = saved;
            return -1;
        }
        if (n == 0) {
            break;
        }
        have += (size_t)n;
    }
    close(fd);
    return (ssize_t)have;
}

/* Wait for inotify events until @deadline. Return: 1 something happened
 * in the directory, 0 the time is up, -1 the directory went away or the
 * wait failed (errno set). */
static int
client_wait(int ifd, uint64_t deadline)
{
    alignas(struct inotify_event) char buf[CLIENT_EVENT_BUF];
    uint64_t now = client_now_ms();
    struct pollfd pfd = {.fd = ifd, .events = POLLIN};
    ssize_t n;
    int rc;

    if (now >= deadline) {
        return 0;
    }
    rc = poll(&pfd, 1, (int)(deadline - now));
    if (rc < 0) {
        return errno == EINTR ? 1 : -1;
    }
    if (rc == 0) {
        return 0;
    }
    n = read(ifd, buf, sizeof(buf));
    if (n < 0) {
        return errno == EINTR || errno == EAGAIN ? 1 : -1;
    }
    for (size_t off = 0; off + sizeof(struct inotify_event) <= (size_t)n;) {
        const struct inotify_event *ev =
            (const struct inotify_event *)(buf + off);

        if (ev->mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED)) {
            errno = ENOENT;
            return -1;
        }
        off += sizeof(*ev) + ev->len;
    }
    return 1;
}

/* Print the answer. Return: the exit status. */
static int
client_report(const char *dir, const struct vgpu_legacy_req *req,
              const char *text, size_t len)
{
    struct vgpu_legacy_resp resp;

    if (vgpu_legacy_parse_response(text, len, &resp) < 0) {
        fprintf(stderr, "%s: %s/%s: not a response line: '%.*s'\n", PROG, dir,
                VGPU_LEGACY_RESPONSE,
                (int)(len > 0 && text[len - 1] == '\n' ? len - 1 : len), text);
        return CLIENT_EXIT_ANSWER;
    }
    if (!resp.ok) {
        fprintf(stderr, "%s: %s: %s: %.*s\n", PROG, dir, resp.code,
                (int)resp.msg_len, resp.msg);
        return CLIENT_EXIT_ANSWER;
    }
    if (resp.vm_id != req->vm_id) {
        /* The seed's misconfiguration: two VMs sharing one directory. */
        fprintf(stderr,
                "%s: %s: the response is for vm_id %u, the request was "
                "from vm_id %u\n",
                PROG, dir, (unsigned)resp.vm_id, (unsigned)req->vm_id);
        return CLIENT_EXIT_ANSWER;
    }
    printf("%ld\n", (long)resp.result);
    return fflush(stdout) == 0 ? CLIENT_EXIT_RESULT : CLIENT_EXIT_ANSWER;
}

static int
client_run(const struct client_opts *o, const struct vgpu_legacy_req *req)
{
    char resp_path[PATH_MAX];
    char req_path[PATH_MAX];
    char text[VGPU_LEGACY_LINE_MAX + 1];
    uint64_t deadline;
    int status = CLIENT_EXIT_ANSWER;
    int ifd;
    int rc;

    if (client_path(resp_path, sizeof(resp_path), o->dir,
                    VGPU_LEGACY_RESPONSE) < 0 ||
        client_path(req_path, sizeof(req_path), o->dir, VGPU_LEGACY_REQUEST) <
            0) {
        fprintf(stderr, "%s: --dir: '%s' is too long\n", PROG, o->dir);
        return CLIENT_EXIT_USAGE;
    }
    ifd = inotify_init1(IN_CLOEXEC);
    if (ifd < 0) {
        fprintf(stderr, "%s: inotify: %s\n", PROG, strerror(errno));
        return CLIENT_EXIT_ANSWER;
    }
    /* Watch first, so that no answer can come before the watch. */
    if (inotify_add_watch(ifd, o->dir, CLIENT_WATCH_MASK) < 0) {
        fprintf(stderr, "%s: cannot watch %s: %s\n", PROG, o->dir,
                strerror(errno));
        goto out;
    }
    if (unlink(resp_path) < 0 && errno != ENOENT) {
        fprintf(stderr, "%s: cannot remove the old %s: %s\n", PROG, resp_path,
                strerror(errno));
        goto out;
    }
    if (client_write_request(o->dir, req) < 0) {
        fprintf(stderr, "%s: cannot write %s: %s\n", PROG, req_path,
                strerror(errno));
        goto out;
    }
    deadline = client_now_ms() + o->timeout_ms;
    for (;;) {
        ssize_t n = client_read_response(resp_path, text, sizeof(text));

        if (n < 0) {
            fprintf(stderr, "%s: cannot read %s: %s\n", PROG, resp_path,
                    strerror(errno));
            goto out;
        }
        if (n > 0) {
            status = client_report(o->dir, req, text, (size_t)n);
            unlink(resp_path);
            goto out;
        }
        rc = client_wait(ifd, deadline);
        if (rc < 0) {
            fprintf(stderr, "%s: waiting in %s: %s\n", PROG, o->dir,
                    strerror(errno));
            goto out;
        }
        if (rc == 0) {
            break;
        }
    }
    /* A request nobody took is taken back, so that a mediator started
     * later does not answer a request nobody waits for. */
    unlink(req_path);
    fprintf(stderr,
            "%s: no response in %s after %u ms (is vgpu-mediator running "
            "with --legacy-dir?)\n",
            PROG, o->dir, (unsigned)o->timeout_ms);
    status = CLIENT_EXIT_TIMEOUT;
out:
    close(ifd);
    return status;
}

int
main(int argc, char **argv)
{
    struct client_opts o;
    struct vgpu_legacy_req req;
    int rc = client_parse_args(argc, argv, &o);

    if (rc == 1) {
        client_usage(stdout);
        return CLIENT_EXIT_RESULT;
    }
    if (rc == 2) {
        printf("%s %s\n", PROG, VGPU_VERSION_STRING);
        return CLIENT_EXIT_RESULT;
    }
    if (rc < 0 || client_build_request(&o, &req) < 0) {
        return CLIENT_EXIT_USAGE;
    }
    return client_run(&o, &req);
}
