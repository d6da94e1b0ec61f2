/*
 * The event loop (event.h) on Linux epoll, level-triggered.
 *
 * Registrations live in an array indexed by fd, grown on demand, like ae's
 * events[setsize]. Each slot carries a generation that changes whenever the
 * fd leaves the loop; the generation travels in the epoll data next to the
 * fd, so an event gathered before a callback deleted (and maybe re-used) the
 * fd is recognised as stale and dropped.
 *
 * Timers sit in one list sorted by due time. There are a handful of them in
 * the daemon (a shutdown deadline, an accept back-off, a sweep), so an O(n)
 * insert costs less than a heap would in code.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "event.h"

/* Events gathered by one epoll_wait(); more wait for the next iteration. */
#define EVENT_BATCH        128
/* Timer delays are clamped so that ms * 1e6 never overflows. */
#define EVENT_MAX_DELAY_MS (UINT64_C(1) << 40)
#define EVENT_NS_PER_MS    UINT64_C(1000000)

struct event_fd {
    int mask;     /* VGPU_EVENT_*; NONE: not in the loop */
    uint32_t gen; /* changes each time the fd leaves the loop */
    vgpu_event_fd_fn fn;
    void *data;
};

struct event_timer {
    int64_t id;
    uint64_t when_ns;
    vgpu_event_timer_fn fn;
    void *data;
    int running; /* inside its callback */
    int deleted; /* deleted while running: freed on return */
    struct event_timer *next;
};

struct vgpu_event_loop {
    int epfd;
    struct event_fd *fds;
    int nfds; /* slots in fds */
    struct epoll_event events[EVENT_BATCH];
    struct event_timer *timers; /* sorted by when_ns, then id */
    int64_t next_timer_id;
    vgpu_event_hook_fn hook;
    void *hook_data;
    int dont_wait;
    int stop;
};

static uint64_t
event_now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * UINT64_C(1000000000) + (uint64_t)ts.tv_nsec;
}

uint64_t
vgpu_event_now_ms(void)
{
    return event_now_ns() / EVENT_NS_PER_MS;
}

struct vgpu_event_loop *
vgpu_event_loop_create(void)
{
    struct vgpu_event_loop *loop = calloc(1, sizeof(*loop));

    if (loop == NULL) {
        goto err;
    }
    loop->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (loop->epfd < 0) {
        goto err_free;
    }
    loop->next_timer_id = 1;
    return loop;

err_free:
    free(loop);
err:
    return NULL;
}

void
vgpu_event_loop_destroy(struct vgpu_event_loop *loop)
{
    struct event_timer *t;

    if (loop == NULL) {
        return;
    }
    while ((t = loop->timers) != NULL) {
        loop->timers = t->next;
        free(t);
    }
    free(loop->fds);
    close(loop->epfd);
    free(loop);
}

static uint32_t
event_epoll_bits(int mask)
{
    uint32_t bits = 0;

    if (mask & VGPU_EVENT_READ) {
        bits |= EPOLLIN;
    }
    if (mask & VGPU_EVENT_WRITE) {
        bits |= EPOLLOUT;
    }
    return bits;
}

static int
event_grow(struct vgpu_event_loop *loop, int fd)
{
    int n = loop->nfds ? loop->nfds : 64;
    struct event_fd *fds;

    if (fd < loop->nfds) {
        return 0;
    }
    while (n <= fd) {
        if (n > INT_MAX / 2) {
            n = INT_MAX;
            break;
        }
        n *= 2;
    }
    fds = realloc(loop->fds, (size_t)n * sizeof(*fds));
    if (fds == NULL) {
        return -ENOMEM;
    }
    memset(fds + loop->nfds, 0, (size_t)(n - loop->nfds) * sizeof(*fds));
    loop->fds = fds;
    loop->nfds = n;
    return 0;
}

int
vgpu_event_add(struct vgpu_event_loop *loop, int fd, int mask,
               vgpu_event_fd_fn fn, void *data)
{
    const int all = VGPU_EVENT_READ | VGPU_EVENT_WRITE;
    struct epoll_event ev;
    struct event_fd *e;
    int newmask;
    int rc;

    if (fd < 0 || fd == INT_MAX || mask == 0 || (mask & ~all) != 0 ||
        fn == NULL) {
        return -EINVAL;
    }
    rc = event_grow(loop, fd);
    if (rc < 0) {
        return rc;
    }
    e = &loop->fds[fd];
    newmask = e->mask | mask;
    memset(&ev, 0, sizeof(ev));
    ev.events = event_epoll_bits(newmask);
    ev.data.u64 = ((uint64_t)e->gen << 32) | (uint32_t)fd;
    if (epoll_ctl(loop->epfd, e->mask ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, fd,
                  &ev) < 0) {
        return -errno;
    }
    e->mask = newmask;
    e->fn = fn;
    e->data = data;
    return 0;
}

void
vgpu_event_del(struct vgpu_event_loop *loop, int fd, int mask)
{
    struct epoll_event ev;
    struct event_fd *e;
    int newmask;

    if (fd < 0 || fd >= loop->nfds) {
        return;
    }
    e = &loop->fds[fd];
    newmask = e->mask & ~mask;
    if (newmask == e->mask) {
        return;
    }
    if (newmask == VGPU_EVENT_NONE) {
        /* An fd closed before its deletion has left epoll already; the
         * error is of no interest then. */
        (void)epoll_ctl(loop->epfd, EPOLL_CTL_DEL, fd, NULL);
        e->mask = VGPU_EVENT_NONE;
        e->gen++;
        e->fn = NULL;
        e->data = NULL;
        return;
    }
    memset(&ev, 0, sizeof(ev));
    ev.events = event_epoll_bits(newmask);
    ev.data.u64 = ((uint64_t)e->gen << 32) | (uint32_t)fd;
    (void)epoll_ctl(loop->epfd, EPOLL_CTL_MOD, fd, &ev);
    e->mask = newmask;
}

int
vgpu_event_mask(const struct vgpu_event_loop *loop, int fd)
{
    if (fd < 0 || fd >= loop->nfds) {
        return VGPU_EVENT_NONE;
    }
    return loop->fds[fd].mask;
}

static void
event_timer_insert(struct vgpu_event_loop *loop, struct event_timer *t)
{
    struct event_timer **pp = &loop->timers;

    while (*pp != NULL && (*pp)->when_ns <= t->when_ns) {
        pp = &(*pp)->next;
    }
    t->next = *pp;
    *pp = t;
}

static void
event_timer_unlink(struct vgpu_event_loop *loop, struct event_timer *t)
{
    struct event_timer **pp = &loop->timers;

    while (*pp != NULL && *pp != t) {
        pp = &(*pp)->next;
    }
    if (*pp == t) {
        *pp = t->next;
    }
    t->next = NULL;
}

static uint64_t
event_due_ns(uint64_t ms)
{
    if (ms > EVENT_MAX_DELAY_MS) {
        ms = EVENT_MAX_DELAY_MS;
    }
    return event_now_ns() + ms * EVENT_NS_PER_MS;
}

int64_t
vgpu_event_timer_add(struct vgpu_event_loop *loop, uint64_t ms,
                     vgpu_event_timer_fn fn, void *data)
{
    struct event_timer *t;

    if (fn == NULL) {
        return -EINVAL;
    }
    t = calloc(1, sizeof(*t));
    if (t == NULL) {
        return -ENOMEM;
    }
    t->id = loop->next_timer_id++;
    t->when_ns = event_due_ns(ms);
    t->fn = fn;
    t->data = data;
    event_timer_insert(loop, t);
    return t->id;
}

int
vgpu_event_timer_del(struct vgpu_event_loop *loop, int64_t id)
{
    struct event_timer *t;

    for (t = loop->timers; t != NULL; t = t->next) {
        if (t->id == id && !t->deleted) {
            break;
        }
    }
    if (t == NULL) {
        return -ENOENT;
    }
    if (t->running) {
        t->deleted = 1;
        return 0;
    }
    event_timer_unlink(loop, t);
    free(t);
    return 0;
}

/*
 * Run the timers that are due. The pass compares due times with the clock
 * read once at its start: a timer added or rescheduled by a callback is due
 * after that, even with 0 ms, so it waits for the next pass and a pass
 * always ends. The list is sorted, so the next timer to run is always the
 * head; callbacks may delete or add any timer in between.
 */
static int
event_process_timers(struct vgpu_event_loop *loop)
{
    uint64_t now = event_now_ns();
    int called = 0;

    while (loop->timers != NULL && loop->timers->when_ns <= now) {
        struct event_timer *t = loop->timers;
        int64_t again;

        t->running = 1;
        again = t->fn(loop, t->id, t->data);
        t->running = 0;
        called++;
        event_timer_unlink(loop, t);
        if (t->deleted || again < 0) {
            free(t);
            continue;
        }
        t->when_ns = event_due_ns((uint64_t)again);
        event_timer_insert(loop, t);
    }
    return called;
}

/* The wait's timeout in ms: 0, -1 (forever) or until the next timer,
 * rounded up so the timer is due when the wait ends. */
static int
event_timeout_ms(const struct vgpu_event_loop *loop)
{
    uint64_t now;
    uint64_t ms;

    if (loop->stop || loop->dont_wait) {
        return 0;
    }
    if (loop->timers == NULL) {
        return -1;
    }
    now = event_now_ns();
    if (loop->timers->when_ns <= now) {
        return 0;
    }
    ms = (loop->timers->when_ns - now + EVENT_NS_PER_MS - 1) / EVENT_NS_PER_MS;
    return ms > INT_MAX ? INT_MAX : (int)ms;
}

static int
event_ready_mask(uint32_t bits)
{
    int mask = VGPU_EVENT_NONE;

    if (bits & EPOLLIN) {
        mask |= VGPU_EVENT_READ;
    }
    if (bits & EPOLLOUT) {
        mask |= VGPU_EVENT_WRITE;
    }
    if (bits & (EPOLLERR | EPOLLHUP)) {
        mask |= VGPU_EVENT_READ | VGPU_EVENT_WRITE;
    }
    return mask;
}

int
vgpu_event_loop_once(struct vgpu_event_loop *loop)
{
    int called = 0;
    int n;

    if (loop->hook != NULL) {
        loop->hook(loop, loop->hook_data);
    }
    n = epoll_wait(loop->epfd, loop->events, EVENT_BATCH,
                   event_timeout_ms(loop));
    if (n < 0) {
        if (errno != EINTR) {
            return -errno;
        }
        n = 0;
    }
    for (int i = 0; i < n; i++) {
        uint64_t tag = loop->events[i].data.u64;
        int fd = (int)(uint32_t)tag;
        uint32_t gen = (uint32_t)(tag >> 32);
        const struct event_fd *e;
        vgpu_event_fd_fn fn;
        void *data;
        int mask;

        if (fd >= loop->nfds) {
            continue;
        }
        e = &loop->fds[fd];
        mask = event_ready_mask(loop->events[i].events) & e->mask;
        if (e->gen != gen || mask == VGPU_EVENT_NONE) {
            continue; /* deleted (or re-used) since the wait */
        }
        /* The callback may grow loop->fds: copy out of the slot first. */
        fn = e->fn;
        data = e->data;
        fn(loop, fd, data, mask);
        called++;
    }
    return called + event_process_timers(loop);
}

int
vgpu_event_loop_run(struct vgpu_event_loop *loop)
{
    int rc = 0;

    while (!loop->stop) {
        rc = vgpu_event_loop_once(loop);
        if (rc < 0) {
            break;
        }
    }
    loop->stop = 0;
    return rc < 0 ? rc : 0;
}

void
vgpu_event_loop_stop(struct vgpu_event_loop *loop)
{
    loop->stop = 1;
}

void
vgpu_event_set_before_sleep(struct vgpu_event_loop *loop, vgpu_event_hook_fn fn,
                            void *data)
{
    loop->hook = fn;
    loop->hook_data = data;
}

void
vgpu_event_set_dont_wait(struct vgpu_event_loop *loop, int flag)
{
    loop->dont_wait = flag != 0;
}
