#ifndef LOOP_H
#define LOOP_H

/*
 * loop: the event loop of one picklewall process.
 *
 * epoll for file descriptors, a binary heap of deadlines for timers and a
 * signalfd for signals, all dispatched from one thread: a handler runs to
 * completion and never blocks.  Connections own their timers (struct
 * loop_timer is embedded in the caller's state), so arming and cancelling
 * allocate nothing.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pw_error.h"

struct loop;

/* Called with the epoll events (EPOLLIN, EPOLLOUT, EPOLLERR, EPOLLHUP)
 * that are ready on the descriptor registered with ${cookie}. */
typedef void loop_io_fn(void *cookie, uint32_t events);

/* Called when a timer expires; the timer is disarmed before the call. */
typedef void loop_timer_fn(void *cookie);

/* Called once per delivered signal. */
typedef void loop_signal_fn(void *cookie, int signo);

/* A timer, embedded in its owner.  Zero-initialized means disarmed. */
struct loop_timer {
	uint64_t deadline_ms;
	size_t heap_index;	/* 0: not armed; else its slot + 1 */
	loop_timer_fn *fn;
	void *cookie;
};

/**
 * loop_new(err):
 * Create an event loop.  Returns NULL (with ${err} filled) on failure.
 */
struct loop *loop_new(struct pw_error *err);

/**
 * loop_free(l):
 * Release ${l}; descriptors registered with it are not closed.  NULL is a
 * no-op.
 */
void loop_free(struct loop *l);

/**
 * loop_add(l, fd, events, fn, cookie):
 * Watch ${fd} for ${events} (EPOLLIN / EPOLLOUT, level-triggered) and call
 * ${fn}(${cookie}, ready) when some are ready.  Returns 0 or -1 (errno).
 */
int loop_add(struct loop *l, int fd, uint32_t events, loop_io_fn *fn,
    void *cookie);

/**
 * loop_mod(l, fd, events):
 * Change the events watched on ${fd}.  Returns 0 or -1 (errno).
 */
int loop_mod(struct loop *l, int fd, uint32_t events);

/**
 * loop_del(l, fd):
 * Stop watching ${fd}; call before closing it.
 */
void loop_del(struct loop *l, int fd);

/**
 * loop_now_ms(l):
 * The loop's clock (CLOCK_MONOTONIC, milliseconds), read once per turn.
 */
uint64_t loop_now_ms(const struct loop *l);

/**
 * loop_timer_arm(l, t, after_ms, fn, cookie):
 * Call ${fn}(${cookie}) ${after_ms} milliseconds from now, replacing any
 * earlier arming of ${t}.  Returns 0, or -1 if memory ran out.
 */
int loop_timer_arm(struct loop *l, struct loop_timer *t, uint64_t after_ms,
    loop_timer_fn *fn, void *cookie);

/**
 * loop_timer_cancel(l, t):
 * Disarm ${t}; a disarmed timer is left alone.
 */
void loop_timer_cancel(struct loop *l, struct loop_timer *t);

/**
 * loop_signals(l, signals, n, fn, cookie):
 * Block the ${n} ${signals} and deliver them to ${fn}(${cookie}, signo)
 * from the loop.  Returns 0 or -1 (errno).
 */
int loop_signals(struct loop *l, const int *signals, size_t n,
    loop_signal_fn *fn, void *cookie);

/**
 * loop_on_turn(l, fn, cookie):
 * Call ${fn}(${cookie}) at the end of every turn of the loop, before it
 * waits again (for work that batches, such as writing the audit log).
 */
void loop_on_turn(struct loop *l, loop_timer_fn *fn, void *cookie);

/**
 * loop_run(l):
 * Dispatch events until loop_stop().  Returns 0, or -1 if epoll failed.
 */
int loop_run(struct loop *l);

/**
 * loop_stop(l):
 * Make loop_run() return after the current handler.
 */
void loop_stop(struct loop *l);

#endif /* !LOOP_H */
