#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "loop.h"

#define LOOP_MAX_EVENTS 64

/* What a descriptor is registered with.  The generation lets a handler
 * close a descriptor that a later event of the same batch names: a new
 * descriptor with the same number has a new generation. */
struct registration {
	loop_io_fn *fn;
	void *cookie;
	uint32_t generation;
	bool active;
};

struct loop {
	int epfd;
	uint64_t now_ms;
	bool stopping;

	struct registration *regs;	/* indexed by fd */
	size_t n_regs;
	uint32_t next_generation;

	struct loop_timer **heap;	/* min-heap on deadline_ms */
	size_t heap_len, heap_cap;

	int sigfd;
	loop_signal_fn *signal_fn;
	void *signal_cookie;

	loop_timer_fn *turn_fn;
	void *turn_cookie;
};

static uint64_t
clock_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/**
 * loop_new(err):
 * Create an event loop.  Returns NULL (with ${err} filled) on failure.
 */
struct loop *
loop_new(struct pw_error *err)
{
	struct loop *l = calloc(1, sizeof(*l));

	if (l == NULL) {
		pw_error_set(err, PW_INTERNAL, 0, "out of memory");
		return NULL;
	}
	if ((l->epfd = epoll_create1(EPOLL_CLOEXEC)) < 0) {
		pw_error_set(err, PW_INTERNAL, 0, "epoll_create1: %s",
		    strerror(errno));
		free(l);
		return NULL;
	}
	l->sigfd = -1;
	l->now_ms = clock_ms();
	return l;
}

/**
 * loop_free(l):
 * Release ${l}; descriptors registered with it are not closed.  NULL is a
 * no-op.
 */
void
loop_free(struct loop *l)
{
	if (l == NULL)
		return;
	if (l->sigfd >= 0)
		close(l->sigfd);
	close(l->epfd);
	free(l->regs);
	free(l->heap);
	free(l);
}

static struct registration *
registration_for(struct loop *l, int fd)
{
	struct registration *r;
	size_t n;

	if (fd < 0)
		return NULL;
	if ((size_t)fd >= l->n_regs) {
		n = l->n_regs ? l->n_regs : 64;
		while (n <= (size_t)fd)
			n *= 2;
		if ((r = realloc(l->regs, n * sizeof(*r))) == NULL)
			return NULL;
		memset(r + l->n_regs, 0, (n - l->n_regs) * sizeof(*r));
		l->regs = r;
		l->n_regs = n;
	}
	return &l->regs[fd];
}

static uint64_t
event_data(int fd, uint32_t generation)
{
	return (uint64_t)generation << 32 | (uint32_t)fd;
}

/**
 * loop_add(l, fd, events, fn, cookie):
 * Watch ${fd} for ${events} (EPOLLIN / EPOLLOUT, level-triggered) and call
 * ${fn}(${cookie}, ready) when some are ready.  Returns 0 or -1 (errno).
 */
int
loop_add(struct loop *l, int fd, uint32_t events, loop_io_fn *fn,
    void *cookie)
{
	struct registration *r = registration_for(l, fd);
	struct epoll_event ev;

	if (r == NULL) {
		errno = fd < 0 ? EBADF : ENOMEM;
		return -1;
	}
	memset(&ev, 0, sizeof(ev));
	ev.events = events;
	ev.data.u64 = event_data(fd, ++l->next_generation);
	if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
		return -1;
	r->fn = fn;
	r->cookie = cookie;
	r->generation = l->next_generation;
	r->active = true;
	return 0;
}

/**
 * loop_mod(l, fd, events):
 * Change the events watched on ${fd}.  Returns 0 or -1 (errno).
 */
int
loop_mod(struct loop *l, int fd, uint32_t events)
{
	struct epoll_event ev;

	if (fd < 0 || (size_t)fd >= l->n_regs || !l->regs[fd].active) {
		errno = EBADF;
		return -1;
	}
	memset(&ev, 0, sizeof(ev));
	ev.events = events;
	ev.data.u64 = event_data(fd, l->regs[fd].generation);
	return epoll_ctl(l->epfd, EPOLL_CTL_MOD, fd, &ev);
}

/**
 * loop_del(l, fd):
 * Stop watching ${fd}; call before closing it.
 */
void
loop_del(struct loop *l, int fd)
{
	if (fd < 0 || (size_t)fd >= l->n_regs || !l->regs[fd].active)
		return;
	(void)epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, NULL);
	l->regs[fd].active = false;
}

/**
 * loop_now_ms(l):
 * The loop's clock (CLOCK_MONOTONIC, milliseconds), read once per turn.
 */
uint64_t
loop_now_ms(const struct loop *l)
{
	return l->now_ms;
}

/* ---- timers: a binary min-heap --------------------------------------- */

static void
heap_place(struct loop *l, size_t i, struct loop_timer *t)
{
	l->heap[i] = t;
	t->heap_index = i + 1;
}

static void
heap_up(struct loop *l, size_t i)
{
	struct loop_timer *t = l->heap[i];

	while (i > 0) {
		size_t parent = (i - 1) / 2;

		if (l->heap[parent]->deadline_ms <= t->deadline_ms)
			break;
		heap_place(l, i, l->heap[parent]);
		i = parent;
	}
	heap_place(l, i, t);
}

static void
heap_down(struct loop *l, size_t i)
{
	struct loop_timer *t = l->heap[i];

	for (;;) {
		size_t child = 2 * i + 1;

		if (child >= l->heap_len)
			break;
		if (child + 1 < l->heap_len &&
		    l->heap[child + 1]->deadline_ms < l->heap[child]->deadline_ms)
			child++;
		if (t->deadline_ms <= l->heap[child]->deadline_ms)
			break;
		heap_place(l, i, l->heap[child]);
		i = child;
	}
	heap_place(l, i, t);
}

/**
 * loop_timer_cancel(l, t):
 * Disarm ${t}; a disarmed timer is left alone.
 */
void
loop_timer_cancel(struct loop *l, struct loop_timer *t)
{
	size_t i;
	struct loop_timer *last;

	if (t->heap_index == 0)
		return;
	i = t->heap_index - 1;
	t->heap_index = 0;
	last = l->heap[--l->heap_len];
	if (i == l->heap_len)
		return;
	heap_place(l, i, last);
	heap_up(l, i);
	heap_down(l, last->heap_index - 1);
}

/**
 * loop_timer_arm(l, t, after_ms, fn, cookie):
 * Call ${fn}(${cookie}) ${after_ms} milliseconds from now, replacing any
 * earlier arming of ${t}.  Returns 0, or -1 if memory ran out.
 */
int
loop_timer_arm(struct loop *l, struct loop_timer *t, uint64_t after_ms,
    loop_timer_fn *fn, void *cookie)
{
	struct loop_timer **h;

	loop_timer_cancel(l, t);
	if (l->heap_len == l->heap_cap) {
		size_t cap = l->heap_cap ? l->heap_cap * 2 : 64;

		if ((h = realloc(l->heap, cap * sizeof(*h))) == NULL)
			return -1;
		l->heap = h;
		l->heap_cap = cap;
	}
	t->deadline_ms = after_ms > UINT64_MAX - l->now_ms ? UINT64_MAX :
	    l->now_ms + after_ms;
	t->fn = fn;
	t->cookie = cookie;
	heap_place(l, l->heap_len++, t);
	heap_up(l, l->heap_len - 1);
	return 0;
}

static void
run_timers(struct loop *l)
{
	while (l->heap_len > 0 && l->heap[0]->deadline_ms <= l->now_ms &&
	    !l->stopping) {
		struct loop_timer *t = l->heap[0];

		loop_timer_cancel(l, t);
		t->fn(t->cookie);
	}
}

static int
next_timeout_ms(const struct loop *l)
{
	uint64_t wait;

	if (l->heap_len == 0)
		return -1;
	if (l->heap[0]->deadline_ms <= l->now_ms)
		return 0;
	wait = l->heap[0]->deadline_ms - l->now_ms;
	return wait > 60000 ? 60000 : (int)wait;
}

/* ---- signals ---------------------------------------------------------- */

static void
on_signalfd(void *cookie, uint32_t events)
{
	struct loop *l = cookie;
	struct signalfd_siginfo si;

	(void)events;
	while (read(l->sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si))
		l->signal_fn(l->signal_cookie, (int)si.ssi_signo);
}

/**
 * loop_signals(l, signals, n, fn, cookie):
 * Block the ${n} ${signals} and deliver them to ${fn}(${cookie}, signo)
 * from the loop.  Returns 0 or -1 (errno).
 */
int
loop_signals(struct loop *l, const int *signals, size_t n,
    loop_signal_fn *fn, void *cookie)
{
	sigset_t set;
	size_t i;

	sigemptyset(&set);
	for (i = 0; i < n; i++)
		sigaddset(&set, signals[i]);
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
		return -1;
	if ((l->sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC)) < 0)
		return -1;
	l->signal_fn = fn;
	l->signal_cookie = cookie;
	return loop_add(l, l->sigfd, EPOLLIN, on_signalfd, l);
}

/* ---- running -------------------------------------------------------- */

/**
 * loop_run(l):
 * Dispatch events until loop_stop().  Returns 0, or -1 if epoll failed.
 */
int
loop_run(struct loop *l)
{
	struct epoll_event events[LOOP_MAX_EVENTS];
	int n, i;

	l->stopping = false;
	while (!l->stopping) {
		n = epoll_wait(l->epfd, events, LOOP_MAX_EVENTS,
		    next_timeout_ms(l));
		if (n < 0 && errno != EINTR)
			return -1;
		l->now_ms = clock_ms();
		for (i = 0; i < n && !l->stopping; i++) {
			int fd = (int)(uint32_t)events[i].data.u64;
			uint32_t gen = (uint32_t)(events[i].data.u64 >> 32);
			struct registration *r;

			if ((size_t)fd >= l->n_regs)
				continue;
			r = &l->regs[fd];
			if (!r->active || r->generation != gen)
				continue;
			r->fn(r->cookie, events[i].events);
		}
		run_timers(l);
		if (l->turn_fn != NULL)
			l->turn_fn(l->turn_cookie);
	}
	return 0;
}

/**
 * loop_on_turn(l, fn, cookie):
 * Call ${fn}(${cookie}) at the end of every turn of the loop, before it
 * waits again (for work that batches, such as writing the audit log).
 */
void
loop_on_turn(struct loop *l, loop_timer_fn *fn, void *cookie)
{
	l->turn_fn = fn;
	l->turn_cookie = cookie;
}

/**
 * loop_stop(l):
 * Make loop_run() return after the current handler.
 */
void
loop_stop(struct loop *l)
{
	l->stopping = true;
}
