#define _GNU_SOURCE	/* sigtimedwait's siginfo fields */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "workers.h"

/* After SIGTERM, workers have this long to finish their connections and
 * flush their logs before they are killed. */
#define STOP_GRACE_MS 10000
#define RESTART_WINDOW_MS 60000
/* How often the parent wakes to check the stop deadline. */
#define WAIT_SLICE_MS 500

struct supervisor {
	unsigned count;
	pid_t *pids;			/* 0: not running */
	workers_fn *fn;
	void *cookie;
	workers_diag_fn *diag;
	sigset_t old_mask;
	unsigned restarts_total;	/* workers started again so far */
	uint64_t restarts[WORKERS_MAX_RESTARTS];	/* when, ring */
	unsigned n_restarts;
	bool stopping;
	uint64_t stop_deadline_ms;
	int status;			/* what workers_run() returns */
};

static void say(const struct supervisor *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
say(const struct supervisor *s, const char *fmt, ...)
{
	char message[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(message, sizeof(message), fmt, ap);
	va_end(ap);
	if (s->diag != NULL)
		s->diag(message);
}

static uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Start worker ${i}, for the ${start_no}-th time over all workers (0: the
 * first start of each); -1 if fork failed. */
static int
start(struct supervisor *s, unsigned i, unsigned start_no)
{
	pid_t pid = fork();

	if (pid < 0) {
		say(s, "cannot start worker %u: %s", i, strerror(errno));
		return -1;
	}
	if (pid == 0) {
		/* The signals passed on stay blocked until the worker's event
		 * loop takes them (signalfd): one that comes while the worker
		 * is still starting waits instead of killing it. */
		sigset_t mask = s->old_mask;

		sigaddset(&mask, SIGTERM);
		sigaddset(&mask, SIGINT);
		sigaddset(&mask, SIGHUP);
		sigaddset(&mask, SIGUSR2);
		(void)sigprocmask(SIG_SETMASK, &mask, NULL);
		exit(s->fn(i, start_no, s->cookie));
	}
	s->pids[i] = pid;
	return 0;
}

static void
signal_all(const struct supervisor *s, int signo)
{
	unsigned i;

	for (i = 0; i < s->count; i++)
		if (s->pids[i] > 0)
			(void)kill(s->pids[i], signo);
}

static void
stop_all(struct supervisor *s)
{
	if (s->stopping)
		return;
	s->stopping = true;
	s->stop_deadline_ms = now_ms() + STOP_GRACE_MS;
	signal_all(s, SIGTERM);
}

/* Whether one more restart stays within WORKERS_MAX_RESTARTS a minute;
 * if so it is counted. */
static bool
may_restart(struct supervisor *s)
{
	uint64_t now = now_ms();
	unsigned slot = s->n_restarts % WORKERS_MAX_RESTARTS;

	if (s->n_restarts >= WORKERS_MAX_RESTARTS &&
	    now - s->restarts[slot] < RESTART_WINDOW_MS)
		return false;
	s->restarts[slot] = now;
	s->n_restarts++;
	return true;
}

/* Worker ${i} ended with wait status ${st}. */
static void
ended(struct supervisor *s, unsigned i, int st)
{
	bool crashed = WIFSIGNALED(st) ||
	    (WIFEXITED(st) && WEXITSTATUS(st) == EX_SOFTWARE);

	s->pids[i] = 0;
	if (s->stopping) {
		if (!(WIFEXITED(st) && WEXITSTATUS(st) == 0) && s->status == 0)
			s->status = EX_SOFTWARE;
		return;
	}
	if (!crashed) {
		/* A configuration or bind error, which another start would
		 * meet again. */
		say(s, "worker %u exited with status %d: stopping the others",
		    i, WIFEXITED(st) ? WEXITSTATUS(st) : -1);
		s->status = WIFEXITED(st) ? WEXITSTATUS(st) : EX_SOFTWARE;
		stop_all(s);
		return;
	}
	if (WIFSIGNALED(st))
		say(s, "worker %u was killed by signal %d", i, WTERMSIG(st));
	else
		say(s, "worker %u failed (status %d)", i, WEXITSTATUS(st));
	if (!may_restart(s)) {
		say(s, "%d restarts within a minute: stopping",
		    WORKERS_MAX_RESTARTS);
		s->status = EX_SOFTWARE;
		stop_all(s);
		return;
	}
	say(s, "starting worker %u again", i);
	if (start(s, i, ++s->restarts_total) < 0) {
		s->status = EX_SOFTWARE;
		stop_all(s);
	}
}

static void
reap(struct supervisor *s)
{
	pid_t pid;
	unsigned i;
	int st;

	while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
		for (i = 0; i < s->count; i++) {
			if (s->pids[i] == pid) {
				ended(s, i, st);
				break;
			}
		}
	}
}

static bool
any_running(const struct supervisor *s)
{
	unsigned i;

	for (i = 0; i < s->count; i++)
		if (s->pids[i] > 0)
			return true;
	return false;
}

/**
 * workers_run(count, fn, cookie, diag):
 * Run ${fn} in ${count} child processes until SIGTERM or SIGINT, then wait
 * for all of them.  Call it with no other thread running.  Returns 0 once
 * every worker has ended well after a stop signal; a worker's own exit
 * status if one ends on its own for any other reason than a crash (a
 * configuration or bind error: the others are stopped); EX_SOFTWARE if the
 * workers could not be started or kept running.
 */
int
workers_run(unsigned count, workers_fn *fn, void *cookie,
    workers_diag_fn *diag)
{
	struct supervisor s;
	const struct timespec slice = { 0, WAIT_SLICE_MS * 1000000L };
	sigset_t set;
	siginfo_t info;
	unsigned i;
	int signo;

	memset(&s, 0, sizeof(s));
	s.count = count;
	s.fn = fn;
	s.cookie = cookie;
	s.diag = diag;
	if ((s.pids = calloc(count, sizeof(*s.pids))) == NULL)
		return EX_SOFTWARE;
	/* Taken with sigtimedwait() from now on, never by a handler. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGUSR2);
	sigaddset(&set, SIGCHLD);
	(void)sigprocmask(SIG_BLOCK, &set, &s.old_mask);
	for (i = 0; i < count; i++) {
		if (start(&s, i, 0) < 0) {
			s.status = EX_SOFTWARE;
			stop_all(&s);
			break;
		}
	}
	while (any_running(&s)) {
		signo = sigtimedwait(&set, &info, &slice);
		if (signo == SIGCHLD) {
			reap(&s);
		} else if (signo == SIGTERM || signo == SIGINT) {
			stop_all(&s);
		} else if (signo == SIGHUP || signo == SIGUSR2) {
			signal_all(&s, signo);
		}
		/* A SIGCHLD merged with another signal is not lost. */
		reap(&s);
		if (s.stopping && any_running(&s) &&
		    now_ms() > s.stop_deadline_ms) {
			say(&s, "workers still running %d s after SIGTERM: "
			    "killing them", STOP_GRACE_MS / 1000);
			signal_all(&s, SIGKILL);
			s.stop_deadline_ms = UINT64_MAX;
			s.status = EX_SOFTWARE;
		}
	}
	(void)sigprocmask(SIG_SETMASK, &s.old_mask, NULL);
	free(s.pids);
	return s.status;
}
