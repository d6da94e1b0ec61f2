/*
 * The daemon's executors (executor.h, docs/mediator.md "Executors").
 *
 * Who owns a job: the scheduler while it is queued; the loop from
 * vgpu_mediator_take() until it is handed over (e->job, under e->mu); the
 * executor thread from the moment it picks e->job up until it has put
 * itself on the completion list (under x->done_mu); the loop again from
 * the moment it takes that list until vgpu_mediator_job_finish() frees it.
 *
 * Locks: e->mu guards e->job and e->stop; x->done_mu guards the completion
 * list (x->done_head/tail, e->done, e->done_next). e->busy and every
 * other field are the loop's alone. No thread holds two locks at once.
 *
 * No lost wake-up: the executor appends under done_mu and writes the
 * eventfd when it found the list empty; the loop reads (clears) the
 * eventfd before it takes the list under done_mu. An append that comes
 * before the take is collected by it; one after it finds the list empty
 * and writes the eventfd again, so the loop wakes once more. An executor
 * waits on its condition variable only while e->job is NULL and e->stop is
 * 0, both checked under e->mu, and the loop sets either under e->mu before
 * it signals: the standard condition-variable pattern.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "backends.h"
#include "executor.h"
#include "vgpu/backend.h"
#include "vgpu/common.h"
#include "vgpu/proto.h"
#include "vgpu/regs.h"

/* The backend of pools the configuration leaves unmapped. */
#define EXEC_DEFAULT_BACKEND VGPU_BACKEND_CPU_NAME
/* The longest backend name before ':'. */
#define EXEC_NAME_MAX        64u
/* Each executor's frame: a header and the largest answer. */
#define EXEC_FRAME_SIZE      ((size_t)VGPU_HDR_SIZE + VGPU_MAX_PAYLOAD)

struct exec_group;

struct executor {
    struct vgpu_executors *x;
    struct exec_group *g;
    const struct vgpu_backend_ops *ops; /* of its item of the group's list */
    void *ctx;
    uint8_t *frame; /* the job's result: the executor's while it runs */
    pthread_t thread;
    int started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct vgpu_mediator_job *job;  /* mu: handed over, not picked up */
    int stop;                       /* mu */
    struct vgpu_mediator_job *done; /* x->done_mu: ran, not finished */
    struct executor *done_next;     /* x->done_mu */
    int busy;                       /* the loop's: a job is out */
};

struct exec_group {
    const char *str;    /* the backend string or list, as configured */
    uint32_t pools;     /* bit i: pool 'A' + i */
    unsigned next_pool; /* round robin over the group's pools */
    struct executor *execs;
    size_t n;
};

struct vgpu_executors {
    struct vgpu_event_loop *loop;
    struct vgpu_mediator *m;
    struct exec_group groups[VGPU_POOL_COUNT];
    size_t ngroups;
    size_t busy;
    int efd;
    /* Requests that caps or fixed shares hold back (SPEC.md section 9):
     * a timer on the mediator's clock (CLOCK_MONOTONIC) wakes the loop at
     * the earliest time one may run; armed_ns is that time, 0: disarmed. */
    int tfd;
    uint64_t armed_ns;
    pthread_mutex_t done_mu;
    struct executor *done_head; /* done_mu */
    struct executor *done_tail; /* done_mu */
};

static const char *
exec_pool_backend(const struct vgpu_mediator_config *core, size_t i)
{
    if (core->pool_backend[i] != NULL) {
        return core->pool_backend[i];
    }
    return core->default_backend != NULL ? core->default_backend
                                         : EXEC_DEFAULT_BACKEND;
}

/* ---- The executor thread ------------------------------------------------- */

static void
exec_post(struct executor *e, struct vgpu_mediator_job *j)
{
    struct vgpu_executors *x = e->x;
    uint64_t one = 1;
    int was_empty;

    pthread_mutex_lock(&x->done_mu);
    e->done = j;
    e->done_next = NULL;
    was_empty = x->done_head == NULL;
    if (was_empty) {
        x->done_head = e;
    } else {
        x->done_tail->done_next = e;
    }
    x->done_tail = e;
    pthread_mutex_unlock(&x->done_mu);
    if (was_empty) {
        /* Cannot fail short of a counter at 2^64 - 2. */
        (void)!write(x->efd, &one, sizeof(one));
    }
}

static void *
exec_thread(void *arg)
{
    struct executor *e = arg;

    for (;;) {
        struct vgpu_mediator_job *j;

        pthread_mutex_lock(&e->mu);
        while (e->job == NULL && !e->stop) {
            pthread_cond_wait(&e->cv, &e->mu);
        }
        j = e->job;
        e->job = NULL;
        pthread_mutex_unlock(&e->mu);
        if (j == NULL) {
            return NULL; /* stopped, with nothing handed over */
        }
        vgpu_mediator_job_run(j, e->ops, e->ctx, e->frame, EXEC_FRAME_SIZE);
        exec_post(e, j);
    }
}

/* ---- The loop's side ------------------------------------------------------
 */

/* Finish every job on the completion list and mark its executor idle. */
static void
exec_collect(struct vgpu_executors *x)
{
    struct executor *e;

    pthread_mutex_lock(&x->done_mu);
    e = x->done_head;
    x->done_head = NULL;
    x->done_tail = NULL;
    pthread_mutex_unlock(&x->done_mu);
    while (e != NULL) {
        struct executor *next = e->done_next;
        struct vgpu_mediator_job *j = e->done;

        e->done = NULL;
        e->done_next = NULL;
        vgpu_mediator_job_finish(j);
        e->busy = 0;
        x->busy--;
        e = next;
    }
}

static void
exec_done_event(struct vgpu_event_loop *loop, int fd, void *data, int mask)
{
    struct vgpu_executors *x = data;
    uint64_t count;

    (void)loop;
    (void)mask;
    /* Clear the counter first: see the top of the file. */
    (void)!read(fd, &count, sizeof(count));
    exec_collect(x);
}

/* The next job of @g's pools with work, round robin among them; a pool
 * whose work caps hold back is passed over. */
static struct vgpu_mediator_job *
exec_take(struct vgpu_executors *x, struct exec_group *g)
{
    uint32_t pending = vgpu_mediator_pending_pools(x->m) & g->pools;

    for (unsigned k = 0; pending != 0 && k < VGPU_POOL_COUNT; k++) {
        unsigned i = (g->next_pool + k) % VGPU_POOL_COUNT;
        struct vgpu_mediator_job *j;

        if ((pending & (1u << i)) == 0) {
            continue;
        }
        j = vgpu_mediator_take(x->m, (uint8_t)(VGPU_POOL_FIRST + i));
        if (j != NULL) {
            g->next_pool = (i + 1) % VGPU_POOL_COUNT;
            return j;
        }
    }
    return NULL;
}

/* The timer fired: the before-sleep hook dispatches what it let go. */
static void
exec_wake_event(struct vgpu_event_loop *loop, int fd, void *data, int mask)
{
    struct vgpu_executors *x = data;
    uint64_t count;

    (void)loop;
    (void)mask;
    (void)!read(fd, &count, sizeof(count));
    x->armed_ns = 0;
}

/* Arm the timer for the work that caps hold back from the idle
 * executors' pools (@idle_pools), or disarm it when there is none. */
static void
exec_arm(struct vgpu_executors *x, uint32_t idle_pools)
{
    uint64_t wake =
        idle_pools != 0 ? vgpu_mediator_wake_ns(x->m, idle_pools) : 0;
    struct itimerspec its = {{0, 0}, {0, 0}};
    const uint64_t ns_per_s = 1000000000u;

    if (wake == x->armed_ns || x->tfd < 0) {
        return;
    }
    its.it_value.tv_sec = (time_t)(wake / ns_per_s);
    its.it_value.tv_nsec = (long)(wake % ns_per_s);
    if (timerfd_settime(x->tfd, TFD_TIMER_ABSTIME, &its, NULL) == 0) {
        x->armed_ns = wake;
    }
}

static void
exec_hand(struct executor *e, struct vgpu_mediator_job *j)
{
    e->busy = 1;
    e->x->busy++;
    pthread_mutex_lock(&e->mu);
    e->job = j;
    pthread_cond_signal(&e->cv);
    pthread_mutex_unlock(&e->mu);
}

size_t
vgpu_executors_dispatch(struct vgpu_executors *x)
{
    size_t taken = 0;
    uint32_t idle_pools = 0;

    for (size_t gi = 0; gi < x->ngroups; gi++) {
        struct exec_group *g = &x->groups[gi];

        for (size_t i = 0; i < g->n; i++) {
            struct executor *e = &g->execs[i];
            struct vgpu_mediator_job *j = NULL;

            if (e->busy) {
                continue;
            }
            idle_pools |= g->pools;
            while ((j = exec_take(x, g)) != NULL) {
                taken++;
                if (!vgpu_mediator_job_inline(j, e->ops, e->ctx)) {
                    break;
                }
                /* Cheap: run it here, with this idle executor's context,
                 * in the order the scheduler gave it. */
                vgpu_mediator_job_run(j, e->ops, e->ctx, e->frame,
                                      EXEC_FRAME_SIZE);
                vgpu_mediator_job_finish(j);
            }
            if (j == NULL) {
                break; /* the group's pools are empty */
            }
            exec_hand(e, j);
        }
    }
    exec_arm(x, idle_pools);
    return taken;
}

size_t
vgpu_executors_busy(const struct vgpu_executors *x)
{
    return x->busy;
}

size_t
vgpu_executors_count(const struct vgpu_executors *x)
{
    size_t n = 0;

    for (size_t gi = 0; gi < x->ngroups; gi++) {
        n += x->groups[gi].n;
    }
    return n;
}

/* ---- Lifetime ------------------------------------------------------------ */

static uint32_t
exec_online_cores(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);

    if (n < 1) {
        return 1;
    }
    return n > (long)VGPU_EXECUTOR_CPU_WORKERS_MAX
               ? VGPU_EXECUTOR_CPU_WORKERS_MAX
               : (uint32_t)n;
}

/* How many executors the list item @item has: cpu_workers for a cpu
 * string, else one. Sets *@ops; 0 for a backend this build lacks. */
static size_t
exec_item_count(const char *item, uint32_t cpu_workers,
                const struct vgpu_backend_ops **ops)
{
    size_t name_len = strcspn(item, ":");
    char name[EXEC_NAME_MAX];

    *ops = NULL;
    if (name_len >= sizeof(name)) {
        return 0;
    }
    memcpy(name, item, name_len);
    name[name_len] = '\0';
    *ops = vgpu_backend_find(name);
    if (*ops == NULL) {
        return 0;
    }
    return strcmp(name, VGPU_BACKEND_CPU_NAME) == 0 ? cpu_workers : 1;
}

/* Start executor @e: its frame, its context of @ops with @spec, its
 * thread. */
static int
exec_start(struct executor *e, const struct vgpu_backend_ops *ops,
           const char *spec, char *err, size_t err_len)
{
    char why[256] = "";
    int rc;

    e->ops = ops;
    e->frame = malloc(EXEC_FRAME_SIZE);
    if (e->frame == NULL) {
        vgpu_set_err(err, err_len, "out of memory");
        return -ENOMEM;
    }
    rc = ops->open(spec, &e->ctx, why, sizeof(why));
    if (rc < 0) {
        e->ctx = NULL;
        vgpu_set_err(err, err_len, "executor of '%s': %s", e->g->str,
                     why[0] != '\0' ? why : vgpu_strerror(rc));
        return rc;
    }
    rc = pthread_create(&e->thread, NULL, exec_thread, e);
    if (rc != 0) {
        vgpu_set_err(err, err_len, "executor of '%s': thread: %s", e->g->str,
                     strerror(rc));
        return -rc;
    }
    e->started = 1;
    return 0;
}

/* Open a context per executor of @g and start the threads: each item of
 * its list ("cuda:0,cuda:1") is one backend instance, with cpu_workers
 * executors for a cpu item and one for any other. */
static int
exec_group_start(struct vgpu_executors *x, struct exec_group *g,
                 uint32_t cpu_workers, char *err, size_t err_len)
{
    char item[VGPU_BACKENDS_ITEM_MAX];
    const struct vgpu_backend_ops *ops;
    size_t k = 0;

    g->n = 0;
    for (size_t i = 0;
         vgpu_backends_list_item(g->str, i, item, sizeof(item)) == 0; i++) {
        g->n += exec_item_count(item, cpu_workers, &ops);
        if (ops == NULL) {
            vgpu_set_err(err, err_len, "backend '%s': unknown backend '%s'",
                         g->str, item);
            return -ENOENT;
        }
    }
    g->execs = calloc(g->n, sizeof(*g->execs));
    if (g->n == 0 || g->execs == NULL) {
        g->n = 0;
        vgpu_set_err(err, err_len, "backend '%s': no executor", g->str);
        return -ENOMEM;
    }
    for (size_t i = 0; i < g->n; i++) {
        g->execs[i].x = x;
        g->execs[i].g = g;
        pthread_mutex_init(&g->execs[i].mu, NULL);
        pthread_cond_init(&g->execs[i].cv, NULL);
    }
    for (size_t i = 0;
         vgpu_backends_list_item(g->str, i, item, sizeof(item)) == 0; i++) {
        size_t count = exec_item_count(item, cpu_workers, &ops);
        const char *colon = strchr(item, ':');

        for (size_t c = 0; c < count; c++, k++) {
            int rc = exec_start(&g->execs[k], ops, colon ? colon + 1 : "", err,
                                err_len);

            if (rc < 0) {
                return rc;
            }
        }
    }
    return 0;
}

struct vgpu_executors *
vgpu_executors_create(struct vgpu_event_loop *loop, struct vgpu_mediator *m,
                      const struct vgpu_mediator_config *core,
                      uint32_t cpu_workers, char *err, size_t err_len)
{
    struct vgpu_executors *x = calloc(1, sizeof(*x));
    int rc;

    if (x == NULL) {
        vgpu_set_err(err, err_len, "out of memory");
        return NULL;
    }
    x->loop = loop;
    x->m = m;
    pthread_mutex_init(&x->done_mu, NULL);
    x->tfd = -1;
    x->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (x->efd < 0) {
        vgpu_set_err(err, err_len, "eventfd: %s", strerror(errno));
        goto err;
    }
    x->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (x->tfd < 0 ||
        vgpu_event_add(loop, x->tfd, VGPU_EVENT_READ, exec_wake_event, x) < 0) {
        vgpu_set_err(err, err_len, "timerfd: %s", strerror(errno));
        goto err;
    }
    if (cpu_workers == 0) {
        cpu_workers = exec_online_cores();
    }
    /* One group per distinct backend string, in pool order. */
    for (size_t i = 0; i < VGPU_POOL_COUNT; i++) {
        const char *str = exec_pool_backend(core, i);
        size_t gi;

        for (gi = 0; gi < x->ngroups; gi++) {
            if (strcmp(x->groups[gi].str, str) == 0) {
                break;
            }
        }
        if (gi == x->ngroups) {
            x->groups[x->ngroups++].str = str;
        }
        x->groups[gi].pools |= 1u << i;
    }
    for (size_t gi = 0; gi < x->ngroups; gi++) {
        if (exec_group_start(x, &x->groups[gi], cpu_workers, err, err_len) <
            0) {
            goto err;
        }
    }
    rc = vgpu_event_add(loop, x->efd, VGPU_EVENT_READ, exec_done_event, x);
    if (rc < 0) {
        vgpu_set_err(err, err_len, "eventfd: %s", vgpu_strerror(rc));
        goto err;
    }
    return x;

err:
    vgpu_executors_destroy(x);
    return NULL;
}

void
vgpu_executors_destroy(struct vgpu_executors *x)
{
    if (x == NULL) {
        return;
    }
    for (size_t gi = 0; gi < x->ngroups; gi++) {
        struct exec_group *g = &x->groups[gi];

        for (size_t i = 0; i < g->n; i++) {
            struct executor *e = &g->execs[i];

            if (!e->started) {
                continue;
            }
            pthread_mutex_lock(&e->mu);
            e->stop = 1;
            pthread_cond_signal(&e->cv);
            pthread_mutex_unlock(&e->mu);
            pthread_join(e->thread, NULL);
            e->started = 0;
        }
    }
    /* Every thread has ended: what ran is on the list. */
    exec_collect(x);
    for (size_t gi = 0; gi < x->ngroups; gi++) {
        struct exec_group *g = &x->groups[gi];

        for (size_t i = 0; i < g->n && g->execs != NULL; i++) {
            struct executor *e = &g->execs[i];

            if (e->ctx != NULL) {
                e->ops->close(e->ctx);
            }
            free(e->frame);
            pthread_cond_destroy(&e->cv);
            pthread_mutex_destroy(&e->mu);
        }
        free(g->execs);
    }
    if (x->efd >= 0) {
        vgpu_event_del(x->loop, x->efd, VGPU_EVENT_READ | VGPU_EVENT_WRITE);
        close(x->efd);
    }
    if (x->tfd >= 0) {
        vgpu_event_del(x->loop, x->tfd, VGPU_EVENT_READ);
        close(x->tfd);
    }
    pthread_mutex_destroy(&x->done_mu);
    free(x);
}
