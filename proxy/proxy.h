#ifndef PROXY_H
#define PROXY_H

/*
 * proxy: the daemon.  From a configuration generation it builds what each
 * listener needs (its rule file, TLS contexts, resolved backend, analysis
 * settings), binds the listening sockets, accepts connections and hands
 * them to conn, and handles signals: SIGTERM/SIGINT stop, SIGHUP reopens
 * the audit log.  `picklewall -t --config` runs the same preparation
 * without binding.
 */

#include <stdbool.h>

#include "config.h"

struct proxy;

/* Diagnostics while preparing: ${message} is one line about ${what} (a
 * file name, a listener). */
typedef void proxy_diag_fn(void *cookie, const char *what,
    const char *message);

/* Which process this is when the configuration has workers > 1. */
struct proxy_worker {
	unsigned index;		/* 0 .. workers - 1 */
	unsigned start;		/* 0, or which restart this is (workers.h):
				 * connection ids stay unique across
				 * restarts */
};

/**
 * proxy_new(cfg, bind_sockets, worker, diag, cookie):
 * Prepare every listener of ${cfg} (which must outlive the proxy): load
 * its rule file, build and check its TLS contexts (files readable, key
 * matching certificate, CRL parseable), resolve its backend, and, if
 * ${bind_sockets}, open the audit log and bind its socket.  ${worker} is
 * NULL in the only process; with the configuration's workers > 1 it says
 * which one this is: its sockets are bound with SO_REUSEPORT, it takes its
 * share of the connection and memory limits and numbers its connections
 * apart from every other start's.  Every problem goes to ${diag}.  Returns
 * the proxy, or NULL if anything failed.
 */
struct proxy *proxy_new(const struct config *cfg, bool bind_sockets,
    const struct proxy_worker *worker, proxy_diag_fn *diag, void *cookie);

/**
 * proxy_run(p):
 * Serve until SIGTERM or SIGINT, then close every connection, flush the
 * audit log and return 0; -1 if the event loop failed.  Meanwhile SIGHUP
 * reopens the audit log and SIGUSR2 reads the listeners' files again.
 */
int proxy_run(struct proxy *p);

/**
 * proxy_free(p):
 * Close the listeners and release ${p}; NULL is a no-op.
 */
void proxy_free(struct proxy *p);

#endif /* !PROXY_H */
