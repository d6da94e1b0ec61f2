/*
 * Unit tests of the daemon's event loop (src/daemon/event.h): fd
 * readiness, timers, the before-sleep hook, deletion inside callbacks and
 * EINTR.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include <cmocka.h>

#include "event.h"
#include "vgpu_test.h"

/* What the callbacks saw. */
struct seen {
    int calls;
    int last_fd;
    int last_mask;
    void *last_data;
    int order[16];
    int norder;
};

static void
record_fd(struct vgpu_event_loop *loop, int fd, void *data, int mask)
{
    struct seen *s = data;

    s->calls++;
    s->last_fd = fd;
    s->last_mask = mask;
    s->last_data = data;
}

static struct vgpu_event_loop *
make_loop(void)
{
    struct vgpu_event_loop *loop = vgpu_event_loop_create();

    assert_non_null(loop);
    return loop;
}

static void
make_pipe(int p[2])
{
    assert_int_equal(pipe2(p, O_NONBLOCK | O_CLOEXEC), 0);
}

/* One iteration that never blocks. */
static int
poll_once(struct vgpu_event_loop *loop)
{
    vgpu_event_set_dont_wait(loop, 1);
    return vgpu_event_loop_once(loop);
}

static void
test_fd_read_ready(void **state)
{
    struct vgpu_event_loop *loop = make_loop();
    struct seen s = {0};
    int p[2];

    make_pipe(p);
    assert_int_equal(vgpu_event_add(loop, p[0], VGPU_EVENT_READ, record_fd, &s),
                     0);
    assert_int_equal(poll_once(loop), 0);
    assert_int_equal(s.calls, 0);
    assert_int_equal(write(p[1], "x", 1), 1);
    assert_int_equal(poll_once(loop), 1);
    assert_int_equal(s.calls, 1);
    assert_int_equal(s.last_fd, p[0]);
    assert_int_equal(s.last_mask, VGPU_EVENT_READ);
    assert_ptr_equal(s.last_data, &s);
    /* Level-triggered: the unread byte is reported again. */
    assert_int_equal(poll_once(loop), 1);
    assert_int_equal(s.calls, 2);
    vgpu_event_del(loop, p[0], VGPU_EVENT_READ);
    assert_int_equal(poll_once(loop), 0);
    assert_int_equal(s.calls, 2);
    close(p[0]);
    close(p[1]);
    vgpu_event_loop_destroy(loop);
}

static void
test_fd_write_ready(void **state)
{
    struct vgpu_event_loop *loop = make_loop();
    struct seen s = {0};
    int p[2];

    make_pipe(p);
    assert_int_equal(
        vgpu_event_add(loop, p[1], VGPU_EVENT_WRITE, record_fd, &s), 0);
    assert_int_equal(poll_once(loop), 1);
    assert_int_equal(s.last_fd, p[1]);
    assert_int_equal(s.last_mask, VGPU_EVENT_WRITE);
    close(p[0]);
    close(p[1]);
    vgpu_event_loop_destroy(loop);
}

static void
test_fd_masks(void **state)
{
    struct vgpu_event_loop *loop = make_loop();
    struct seen s = {0};
    int p[2];

    make_pipe(p);
    assert_int_equal(vgpu_event_mask(loop, p[0]), VGPU_EVENT_NONE);
    assert_int_equal(vgpu_event_add(loop, p[0], VGPU_EVENT_READ, record_fd, &s),
                     0);
    assert_int_equal(
        vgpu_event_add(loop, p[0], VGPU_EVENT_WRITE, record_fd, &s), 0);
    assert_int_equal(vgpu_event_mask(loop, p[0]),
                     VGPU_EVENT_READ | VGPU_EVENT_WRITE);
    vgpu_event_del(loop, p[0], VGPU_EVENT_READ);
    assert_int_equal(vgpu_event_mask(loop, p[0]), VGPU_EVENT_WRITE);
    vgpu_event_del(loop, p[0], VGPU_EVENT_WRITE);
    assert_int_equal(vgpu_event_mask(loop, p[0]), VGPU_EVENT_NONE);
    /* Deleting what is not there is a no-op. */
    vgpu_event_del(loop, p[0], VGPU_EVENT_READ);
    vgpu_event_del(loop, 100000, VGPU_EVENT_READ);
    vgpu_event_del(loop, -1, VGPU_EVENT_READ);
    /* Both bits at once, and a high fd that grows the table. */
    int high = fcntl(p[0], F_DUPFD_CLOEXEC, 700);

    assert_true(high >= 700);
    assert_int_equal(vgpu_event_add(loop, high,
                                    VGPU_EVENT_READ | VGPU_EVENT_WRITE,
                                    record_fd, &s),
                     0);
    assert_int_equal(vgpu_event_mask(loop, high),
                     VGPU_EVENT_READ | VGPU_EVENT_WRITE);
    vgpu_event_del(loop, high, VGPU_EVENT_READ | VGPU_EVENT_WRITE);
    close(high);
    close(p[0]);
    close(p[1]);
    vgpu_event_loop_destroy(loop);
}

static void
test_fd_bad_args(void **state)
{
    struct vgpu_event_loop *loop = make_loop();
    struct seen s = {0};
    int p[2];
    int file;

    make_pipe(p);
    assert_int_equal(vgpu_event_add(loop, -1, VGPU_EVENT_READ, record_fd, &s),
                     -EINVAL);
    assert_int_equal(vgpu_event_add(loop, p[0], 0, record_fd, &s), -EINVAL);
    assert_int_equal(vgpu_event_add(loop, p[0], 4, record_fd, &s), -EINVAL);
    assert_int_equal(vgpu_event_add(loop, p[0], VGPU_EVENT_READ, NULL, &s),
                     -EINVAL);
    /* epoll refuses what cannot be polled: the error comes back and
     * nothing is kept. */
    file = open("/dev/null", O_RDONLY | O_CLOEXEC);
    assert_true(file >= 0);
    assert_int_equal(vgpu_event_add(loop, file, VGPU_EVENT_READ, record_fd, &s),
                     -EPERM);
    assert_int_equal(vgpu_event_mask(loop, file), VGPU_EVENT_NONE);
    close(file);
    close(p[0]);
    close(p[1]);
    vgpu_event_loop_destroy(loop);
}

/* A hang-up is reported as the registered bits only. */
static void
test_fd_hangup(void **state)
{
    struct vgpu_event_loop *loop = make_loop();
    struct seen s = {0};
    int p[2];

    make_pipe(p);
    assert_int_equal(vgpu_event_add(loop, p[0], VGPU_EVENT_READ, record_fd, &s),
                     0);
    close(p[1]);
    assert_int_equal(poll_once(loop), 1);
    assert_int_equal(s.last_mask, VGPU_EVENT_READ);
    vgpu_event_del(loop, p[0], VGPU_EVENT_READ);
    close(p[0]);
    /* A write end whose reader is gone: an error, reported as WRITE. */
    make_pipe(p);
    assert_int_equal(
        vgpu_event_add(loop, p[1], VGPU_EVENT_WRITE, record_fd, &s), 0);
    close(p[0]);
    assert_int_equal(poll_once(loop), 1);
    assert_int_equal(s.last_mask, VGPU_EVENT_WRITE);
    vgpu_event_del(loop, p[1], VGPU_EVENT_WRITE);
    close(p[1]);
    vgpu_event_loop_destroy(loop);
}

/* Two readable pipes; whichever callback runs first deletes the other. */
struct del_ctx {
    int a[2], b[2];
    int calls;
    int reused_fd;
    int reused_calls;
};

static void
reused_fd_cb(struct vgpu_event_loop *loop, int fd, void *data, int mask)
{
    struct del_ctx *d = data;

    d->reused_calls++;
}

static void
del_other_cb(struct vgpu_event_loop *loop, int fd, void *data, int mask)
{
    struct del_ctx *d = data;
    int other = fd == d->a[0] ? d->b[0] : d->a[0];
    int p[2];

    d->calls++;
    vgpu_event_del(loop, other, VGPU_EVENT_READ);
    close(other);
    /* A new pipe takes the closed fd's number, with nothing to read: the
     * event gathered for the old fd must not reach it. */
    make_pipe(p);
    assert_int_equal(p[0], other);
    d->reused_fd = p[0];
    assert_int_equal(
        vgpu_event_add(loop, p[0], VGPU_EVENT_READ, reused_fd_cb, d), 0);
    close(p[1]);
    vgpu_event_del(loop, fd, VGPU_EVENT_READ);
}

static void
test_fd_del_in_callback(void **state)
{
    struct vgpu_event_loop *loop = make_loop();
    struct del_ctx d = {0};

    make_pipe(d.a);
    make_pipe(d.b);
    assert_int_equal(write(d.a[1], "x", 1), 1);
    assert_int_equal(write(d.b[1], "x", 1), 1);
    assert_int_equal(
        vgpu_event_add(loop, d.a[0], VGPU_EVENT_READ, del_other_cb, &d), 0);
    assert_int_equal(
        vgpu_event_add(loop, d.b[0], VGPU_EVENT_READ, del_other_cb, &d), 0);
    assert_int_equal(poll_once(loop), 1);
    assert_int_equal(d.calls, 1);
    assert_int_equal(d.reused_calls, 0);
    /* The new pipe's write end is closed: now it reports a hang-up. */
    assert_int_equal(poll_once(loop), 1);
    assert_int_equal(d.reused_calls, 1);
    vgpu_event_del(loop, d.reused_fd, VGPU_EVENT_READ);
    close(d.reused_fd);
    close(d.a[0] == d.reused_fd ? d.b[0] : d.a[0]);
    close(d.a[1]);
    close(d.b[1]);
    vgpu_event_loop_destroy(loop);
}

static void
del_self_cb(struct vgpu_event_loop *loop, int fd, void *data, int mask)
{
    struct seen *s = data;

    s->calls++;
    vgpu_event_del(loop, fd, VGPU_EVENT_READ | VGPU_EVENT_WRITE);
    close(fd);
}

static void
test_fd_del_self(void **state)
{
    struct vgpu_event_loop *loop = make_loop();
    struct seen s = {0};
    int p[2];

    make_pipe(p);
    assert_int_equal(write(p[1], "x", 1), 1);
    assert_int_equal(vgpu_event_add(loop, p[0],
                                    VGPU_EVENT_READ | VGPU_EVENT_WRITE,
                                    del_self_cb, &s),
                     0);
    assert_int_equal(poll_once(loop), 1);
    assert_int_equal(poll_once(loop), 0);
    assert_int_equal(s.calls, 1);
    close(p[1]);
    vgpu_event_loop_destroy(loop);
}

/* ---- Timers ------------------------------------------------------------- */

struct timer_ctx {
    struct seen *seen;
    int tag;
    int repeat; /* times to ask to run again */
    int64_t again;
};

static int64_t
record_timer(struct vgpu_event_loop *loop, int64_t id, void *data)
{
    struct timer_ctx *t = data;
    struct seen *s = t->seen;

    s->calls++;
    if (s->norder < 16) {
        s->order[s->norder++] = t->tag;
    }
    if (t->repeat > 0) {
        t->repeat--;
        return t->again;
    }
    return VGPU_EVENT_TIMER_DONE;
}

static int64_t
stop_timer(struct vgpu_event_loop *loop, int64_t id, void *data)
{
    vgpu_event_loop_stop(loop);
    return VGPU_EVENT_TIMER_DONE;
}

static void
test_timer_order(void **state)
{
    struct vgpu_event_loop *loop = make_loop();
    struct seen s = {0};
    struct timer_ctx t[5] = {
        {&s, 30, 0, 0}, {&s, 10, 0, 0}, {&s, 20, 0, 0},
        {&s, 11, 0, 0}, {&s, 5, 0, 0},
    };
    uint64_t start = vgpu_event_now_ms();

    assert_true(vgpu_event_timer_add(loop, 30, record_timer, &t[0]) > 0);
    assert_true(vgpu_event_timer_add(loop, 10, record_timer, &t[1]) > 0);
    assert_true(vgpu_event_timer_add(loop, 20, record_timer, &t[2]) > 0);
    /* Added after t[1] with the same delay: fires after it. */
    assert_true(vgpu_event_timer_add(loop, 10, record_timer, &t[3]) > 0);
    assert_true(vgpu_event_timer_add(loop, 5, record_timer, &t[4]) > 0);
    assert_true(vgpu_event_timer_add(loop, 40, stop_timer, NULL) > 0);
    assert_int_equal(vgpu_event_loop_run(loop), 0);
    assert_int_equal(s.norder, 5);
    assert_int_equal(s.order[0], 5);
    assert_int_equal(s.order[1], 10);
    assert_int_equal(s.order[2], 11);
    assert_int_equal(s.order[3], 20);
    assert_int_equal(s.order[4], 30);
    assert_true(vgpu_event_now_ms() - start >= 40);
    vgpu_event_loop_destroy(loop);
}

static void
test_timer_repeat(void **state)
{
    struct vgpu_event_loop *loop = make_loop();
    struct seen s = {0};
    struct timer_ctx t = {&s, 1, 3, 2};

    assert_true(vgpu_event_timer_add(loop, 1, record_timer, &t) > 0);
    assert_true(vgpu_event_timer_add(loop, 50, stop_timer, NULL) > 0);
    assert_int_equal(vgpu_event_loop_run(loop), 0);
    assert_int_equal(s.calls, 4); /* the first run and three repeats */
    vgpu_event_loop_destroy(loop);
}

/* A timer that asks to run again at once runs once per iteration, so the
 * iteration ends and fds are still served. */
static void
test_timer_zero_delay(void **state)
{
    struct vgpu_event_loop *loop = make_loop();
    struct seen s = {0};
    struct timer_ctx t = {&s, 1, 100, 0};

    assert_true(vgpu_event_timer_add(loop, 0, record_timer, &t) > 0);
    assert_int_equal(poll_once(loop), 1);
    assert_int_equal(poll_once(loop), 1);
    assert_int_equal(s.calls, 2);
    vgpu_event_loop_destroy(loop);
}

struct del_timer_ctx {
    int64_t victim;
    int64_t self;
    int calls;
};

static int64_t
del_victim_timer(struct vgpu_event_loop *loop, int64_t id, void *data)
{
    struct del_timer_ctx *d = data;

    d->calls++;
    assert_int_equal(vgpu_event_timer_del(loop, d->victim), 0);
    /* Deleting itself, then asking to run again: it must not. */
    assert_int_equal(id, d->self);
    assert_int_equal(vgpu_event_timer_del(loop, id), 0);
    assert_int_equal(vgpu_event_timer_del(loop, id), -ENOENT);
    return 1;
}

static void
test_timer_del(void **state)
{
    struct vgpu_event_loop *loop = make_loop();
    struct seen s = {0};
    struct timer_ctx t = {&s, 1, 0, 0};
    struct del_timer_ctx d = {0};
    int64_t id;

    /* Deleted before it is due. */
    id = vgpu_event_timer_add(loop, 1, record_timer, &t);
    assert_true(id > 0);
    assert_int_equal(vgpu_event_timer_del(loop, id), 0);
    assert_int_equal(vgpu_event_timer_del(loop, id), -ENOENT);
    /* Deleted by an earlier timer due in the same pass. */
    d.self = vgpu_event_timer_add(loop, 1, del_victim_timer, &d);
    d.victim = vgpu_event_timer_add(loop, 2, record_timer, &t);
    assert_true(vgpu_event_timer_add(loop, 30, stop_timer, NULL) > 0);
    usleep(5000); /* both are due at the next pass */
    assert_int_equal(vgpu_event_loop_run(loop), 0);
    assert_int_equal(d.calls, 1);
    assert_int_equal(s.calls, 0);
    vgpu_event_loop_destroy(loop);
}

/* ---- The before-sleep hook and stop ------------------------------------ */

struct hook_ctx {
    int calls;
    int stop_at;
    int fd_calls_at_hook; /* the fd callbacks seen when the hook ran */
    struct seen *seen;
};

static void
hook(struct vgpu_event_loop *loop, void *data)
{
    struct hook_ctx *h = data;

    h->calls++;
    h->fd_calls_at_hook = h->seen->calls;
    if (h->calls == h->stop_at) {
        vgpu_event_loop_stop(loop);
    }
}

static void
test_hook_before_sleep(void **state)
{
    struct vgpu_event_loop *loop = make_loop();
    struct seen s = {0};
    struct hook_ctx h = {.stop_at = 3, .seen = &s};
    int p[2];

    make_pipe(p);
    assert_int_equal(write(p[1], "x", 1), 1);
    assert_int_equal(vgpu_event_add(loop, p[0], VGPU_EVENT_READ, record_fd, &s),
                     0);
    vgpu_event_set_before_sleep(loop, hook, &h);
    /* The hook runs first in each iteration: it saw 0 then 1 then 2 fd
     * callbacks; the stop it asks for in the third ends run() after that
     * iteration, without blocking. */
    assert_int_equal(vgpu_event_loop_run(loop), 0);
    assert_int_equal(h.calls, 3);
    assert_int_equal(h.fd_calls_at_hook, 2);
    assert_int_equal(s.calls, 3);
    /* stop is cleared: the loop runs again. */
    h.stop_at = 5;
    assert_int_equal(vgpu_event_loop_run(loop), 0);
    assert_int_equal(h.calls, 5);
    vgpu_event_set_before_sleep(loop, NULL, NULL);
    assert_int_equal(poll_once(loop), 1);
    assert_int_equal(h.calls, 5);
    close(p[0]);
    close(p[1]);
    vgpu_event_loop_destroy(loop);
}

static void
dont_wait_hook(struct vgpu_event_loop *loop, void *data)
{
    int *flag = data;

    vgpu_event_set_dont_wait(loop, *flag);
}

/* With nothing ready and a timer far away, dont_wait set by the hook keeps
 * the wait from blocking; cleared, the wait lasts until the timer. */
static void
test_hook_dont_wait(void **state)
{
    struct vgpu_event_loop *loop = make_loop();
    uint64_t start;
    int flag = 1;

    assert_true(vgpu_event_timer_add(loop, 200, stop_timer, NULL) > 0);
    vgpu_event_set_before_sleep(loop, dont_wait_hook, &flag);
    start = vgpu_event_now_ms();
    for (int i = 0; i < 10; i++) {
        assert_int_equal(vgpu_event_loop_once(loop), 0);
    }
    assert_true(vgpu_event_now_ms() - start < 100);
    flag = 0;
    assert_int_equal(vgpu_event_loop_once(loop), 1);
    assert_true(vgpu_event_now_ms() - start >= 200);
    vgpu_event_loop_destroy(loop);
}

/* ---- EINTR -------------------------------------------------------------- */

static volatile sig_atomic_t alarms;

static void
on_alarm(int sig)
{
    alarms++;
}

static void
test_eintr(void **state)
{
    struct vgpu_event_loop *loop = make_loop();
    struct itimerval it = {.it_interval = {0, 10000}, .it_value = {0, 10000}};
    struct itimerval off = {0};
    struct sigaction sa, old;
    uint64_t start;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_alarm; /* no SA_RESTART: the wait fails with EINTR */
    sigemptyset(&sa.sa_mask);
    assert_int_equal(sigaction(SIGALRM, &sa, &old), 0);
    alarms = 0;
    assert_true(vgpu_event_timer_add(loop, 100, stop_timer, NULL) > 0);
    start = vgpu_event_now_ms();
    assert_int_equal(setitimer(ITIMER_REAL, &it, NULL), 0);
    assert_int_equal(vgpu_event_loop_run(loop), 0);
    setitimer(ITIMER_REAL, &off, NULL);
    sigaction(SIGALRM, &old, NULL);
    assert_true(alarms >= 2);
    assert_true(vgpu_event_now_ms() - start >= 100);
    vgpu_event_loop_destroy(loop);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        VGPU_TEST("/event/fd/read_ready", test_fd_read_ready),
        VGPU_TEST("/event/fd/write_ready", test_fd_write_ready),
        VGPU_TEST("/event/fd/masks", test_fd_masks),
        VGPU_TEST("/event/fd/bad_args", test_fd_bad_args),
        VGPU_TEST("/event/fd/hangup", test_fd_hangup),
        VGPU_TEST("/event/fd/del_in_callback", test_fd_del_in_callback),
        VGPU_TEST("/event/fd/del_self", test_fd_del_self),
        VGPU_TEST("/event/timer/order", test_timer_order),
        VGPU_TEST("/event/timer/repeat", test_timer_repeat),
        VGPU_TEST("/event/timer/zero_delay", test_timer_zero_delay),
        VGPU_TEST("/event/timer/del", test_timer_del),
        VGPU_TEST("/event/hook/before_sleep", test_hook_before_sleep),
        VGPU_TEST("/event/hook/dont_wait", test_hook_dont_wait),
        VGPU_TEST("/event/wait/eintr", test_eintr),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
