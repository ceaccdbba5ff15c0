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

/**
 * proxy_new(cfg, bind_sockets, diag, cookie):
 * Prepare every listener of ${cfg} (which must outlive the proxy): load
 * its rule file, build and check its TLS contexts (files readable, key
 * matching certificate, CRL parseable), resolve its backend, and, if
 * ${bind_sockets}, open the audit log and bind its socket.  Every problem
 * goes to ${diag}.  Returns the proxy, or NULL if anything failed.
 */
struct proxy *proxy_new(const struct config *cfg, bool bind_sockets,
    proxy_diag_fn *diag, void *cookie);

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
