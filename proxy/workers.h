#ifndef WORKERS_H
#define WORKERS_H

/*
 * workers: the proxy in several processes that share nothing, each with
 * its own event loop on listening sockets bound with SO_REUSEPORT, so that
 * the kernel spreads new connections over them (DESIGN.md: "scale across
 * cores with SO_REUSEPORT worker processes").  The parent only supervises:
 * it passes SIGTERM, SIGINT, SIGHUP and SIGUSR2 on to every worker and
 * starts a worker again that was killed by a signal or failed inside
 * (EX_SOFTWARE), at most WORKERS_MAX_RESTARTS times a minute.
 */

/* Restarts allowed in any 60 s before the whole proxy gives up. */
#define WORKERS_MAX_RESTARTS 5

/* What a worker runs: the proxy as worker ${index} of the count given to
 * workers_run(); ${start} is 0 for the first start of each worker and
 * 1, 2, ... for the restarts of any of them, so that no two starts of one
 * worker share it.  Returns the process's exit status. */
typedef int workers_fn(unsigned index, unsigned start, void *cookie);

/* Diagnostics of the parent ("worker 2 was killed by signal 9: ..."). */
typedef void workers_diag_fn(const char *message);

/**
 * workers_run(count, fn, cookie, diag):
 * Run ${fn} in ${count} child processes until SIGTERM or SIGINT, then wait
 * for all of them.  Call it with no other thread running.  Returns 0 once
 * every worker has ended well after a stop signal; a worker's own exit
 * status if one ends on its own for any other reason than a crash (a
 * configuration or bind error: the others are stopped); EX_SOFTWARE if the
 * workers could not be started or kept running.
 */
int workers_run(unsigned count, workers_fn *fn, void *cookie,
    workers_diag_fn *diag);

#endif /* !WORKERS_H */
