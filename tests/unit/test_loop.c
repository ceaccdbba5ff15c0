#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "loop.h"
#include "unit.h"

struct fired {
	struct loop *l;
	int order[16];
	size_t n;
	int stop_after;
};

struct tagged_timer {
	struct loop_timer t;
	struct fired *f;
	int tag;
};

static void
on_timer(void *cookie)
{
	struct tagged_timer *tt = cookie;

	tt->f->order[tt->f->n++] = tt->tag;
	if ((int)tt->f->n == tt->f->stop_after)
		loop_stop(tt->f->l);
}

START_TEST(timers_fire_in_deadline_order_and_cancel_removes_one)
{
	struct loop *l = loop_new(NULL);
	struct fired f = { l, { 0 }, 0, 3 };
	struct tagged_timer t[4];
	int i;

	memset(t, 0, sizeof(t));
	for (i = 0; i < 4; i++) {
		t[i].f = &f;
		t[i].tag = i;
	}
	ck_assert_int_eq(loop_timer_arm(l, &t[0].t, 30, on_timer, &t[0]), 0);
	ck_assert_int_eq(loop_timer_arm(l, &t[1].t, 10, on_timer, &t[1]), 0);
	ck_assert_int_eq(loop_timer_arm(l, &t[2].t, 20, on_timer, &t[2]), 0);
	ck_assert_int_eq(loop_timer_arm(l, &t[3].t, 15, on_timer, &t[3]), 0);
	loop_timer_cancel(l, &t[3].t);
	loop_timer_cancel(l, &t[3].t);	/* twice is harmless */
	ck_assert_int_eq(loop_run(l), 0);
	ck_assert_uint_eq(f.n, 3);
	ck_assert_int_eq(f.order[0], 1);
	ck_assert_int_eq(f.order[1], 2);
	ck_assert_int_eq(f.order[2], 0);
	loop_free(l);
}
END_TEST

START_TEST(rearming_a_timer_moves_it)
{
	struct loop *l = loop_new(NULL);
	struct fired f = { l, { 0 }, 0, 2 };
	struct tagged_timer a, b;

	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	a.f = b.f = &f;
	a.tag = 1;
	b.tag = 2;
	ck_assert_int_eq(loop_timer_arm(l, &a.t, 5, on_timer, &a), 0);
	ck_assert_int_eq(loop_timer_arm(l, &b.t, 10, on_timer, &b), 0);
	ck_assert_int_eq(loop_timer_arm(l, &a.t, 20, on_timer, &a), 0);
	ck_assert_int_eq(loop_run(l), 0);
	ck_assert_int_eq(f.order[0], 2);
	ck_assert_int_eq(f.order[1], 1);
	loop_free(l);
}
END_TEST

struct pipe_watch {
	struct loop *l;
	int fds[2];
	int reads;
	int other_fd;		/* closed by the first handler */
};

static void
on_readable(void *cookie, uint32_t events)
{
	struct pipe_watch *w = cookie;
	char c;

	ck_assert(events & EPOLLIN);
	ck_assert_int_eq(read(w->fds[0], &c, 1), 1);
	w->reads++;
	if (w->other_fd >= 0) {
		loop_del(w->l, w->other_fd);
		close(w->other_fd);
		w->other_fd = -1;
	}
	loop_stop(w->l);
}

static void
must_not_run(void *cookie, uint32_t events)
{
	(void)cookie;
	(void)events;
	ck_abort_msg("a handler ran after its descriptor was removed");
}

START_TEST(a_descriptor_removed_by_an_earlier_handler_is_not_dispatched)
{
	struct loop *l = loop_new(NULL);
	struct pipe_watch w;
	int other[2];

	memset(&w, 0, sizeof(w));
	w.l = l;
	ck_assert_int_eq(pipe(w.fds), 0);
	ck_assert_int_eq(pipe(other), 0);
	w.other_fd = other[0];
	/* Both readable in the same epoll batch. */
	ck_assert_int_eq(write(w.fds[1], "x", 1), 1);
	ck_assert_int_eq(write(other[1], "y", 1), 1);
	ck_assert_int_eq(loop_add(l, w.fds[0], EPOLLIN, on_readable, &w), 0);
	ck_assert_int_eq(loop_add(l, other[0], EPOLLIN, must_not_run, NULL), 0);
	ck_assert_int_eq(loop_run(l), 0);
	ck_assert_int_eq(w.reads, 1);
	loop_del(l, w.fds[0]);
	close(w.fds[0]);
	close(w.fds[1]);
	close(other[1]);
	loop_free(l);
}
END_TEST

static void
on_signal(void *cookie, int signo)
{
	struct fired *f = cookie;

	f->order[f->n++] = signo;
	loop_stop(f->l);
}

START_TEST(signals_arrive_through_the_loop)
{
	struct loop *l = loop_new(NULL);
	struct fired f = { l, { 0 }, 0, 0 };
	const int sigs[] = { SIGUSR1 };
	sigset_t set;

	ck_assert_int_eq(loop_signals(l, sigs, 1, on_signal, &f), 0);
	ck_assert_int_eq(kill(getpid(), SIGUSR1), 0);
	ck_assert_int_eq(loop_run(l), 0);
	ck_assert_uint_eq(f.n, 1);
	ck_assert_int_eq(f.order[0], SIGUSR1);
	loop_free(l);
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	sigprocmask(SIG_UNBLOCK, &set, NULL);
}
END_TEST

static Suite *
loop_suite(void)
{
	Suite *s = suite_create("loop");
	TCase *tc = tcase_create("loop");

	tcase_add_test(tc, timers_fire_in_deadline_order_and_cancel_removes_one);
	tcase_add_test(tc, rearming_a_timer_moves_it);
	tcase_add_test(tc,
	    a_descriptor_removed_by_an_earlier_handler_is_not_dispatched);
	tcase_add_test(tc, signals_arrive_through_the_loop);
	suite_add_tcase(s, tc);
	return s;
}

UNIT_SUITE(loop_suite)
