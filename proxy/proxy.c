#define _GNU_SOURCE	/* accept4 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "conn.h"
#include "proxy.h"

#define LISTEN_BACKLOG 512
/* A flush of the audit log on shutdown waits at most this long. */
#define AUDIT_DRAIN_MS 2000

struct listener {
	struct proxy *proxy;
	const struct config_listener *cfg;
	int fd;
	struct conn_rules rules;	/* the policy holds one reference */
	struct conn_env env;
	uint64_t n_conns;
};

struct proxy {
	const struct config *cfg;
	struct loop *loop;
	struct audit *audit;
	struct listener *listeners;
	size_t n_listeners;
	uint64_t n_conns;
	uint64_t conn_seq;	/* connections accepted by this process */
	uint64_t conn_id_base;	/* this start's ids begin above it */
	unsigned worker, workers;	/* this process's index, and how many */
	uint64_t buffered_bytes;
	int audit_watched_fd;	/* -1: none */
	bool hash_fd_watched;	/* the audit worker's descriptor */
	proxy_diag_fn *diag;
	void *cookie;
};

static void diag(struct proxy *p, const char *what, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
diag(struct proxy *p, const char *what, const char *fmt, ...)
{
	char message[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(message, sizeof(message), fmt, ap);
	va_end(ap);
	if (p->diag != NULL)
		p->diag(p->cookie, what, message);
}

struct rule_diag_ctx {
	struct proxy *p;
	bool failed;
};

static void
on_rule_diag(void *cookie, const struct policy_diag *d)
{
	struct rule_diag_ctx *ctx = cookie;
	char where[512];

	if (d->file != NULL)
		snprintf(where, sizeof(where), "%s:%u:%u", d->file, d->line,
		    d->col);
	else
		snprintf(where, sizeof(where), "rules");
	diag(ctx->p, where, "%s: %s", d->warning ? "warning" : "error",
	    d->message);
	if (!d->warning)
		ctx->failed = true;
}

static void
on_config_diag(void *cookie, const struct config_diag *d)
{
	struct proxy *p = cookie;
	char where[512];

	snprintf(where, sizeof(where), "%s:%u:%u", d->file, d->line, d->col);
	diag(p, where, "%s: %s", d->warning ? "warning" : "error", d->message);
}

/*
 * What a listener reads from the files its configuration names: the rule
 * file and the TLS material (certificates, keys, CA and CRL files).  All
 * of them are read again on SIGUSR2.
 */
struct listener_files {
	struct policy *policy;
	struct pvm_limits limits;	/* the rule file's */
	struct tls_ctx *server_tls;	/* NULL: plaintext listener */
	struct tls_ctx *backend_tls;	/* NULL: tcp:// backend */
};

static void
files_release(struct listener_files *f)
{
	policy_free(f->policy);
	tls_ctx_free(f->server_tls);
	tls_ctx_free(f->backend_tls);
	memset(f, 0, sizeof(*f));
}

/* The rule file (the built-in policy without one) and its limits, checked
 * under the listener's bound. */
static int
load_rules(struct proxy *p, const struct listener *l,
    struct listener_files *f)
{
	struct rule_diag_ctx ctx = { p, false };

	if (l->cfg->rules != NULL)
		f->policy = policy_load_file(l->cfg->rules, 0, on_rule_diag,
		    &ctx);
	else
		f->policy = policy_builtin();
	if (f->policy == NULL) {
		diag(p, l->cfg->rules != NULL ? l->cfg->rules : "rules",
		    "listener %s: the rules were not loaded", l->cfg->name);
		return -1;
	}
	memset(&f->limits, 0, sizeof(f->limits));
	policy_limits(f->policy, &f->limits);
	return config_check_rule_limits(p->cfg, l->cfg, &f->limits,
	    on_config_diag, p);
}

static int
load_tls(struct proxy *p, const struct listener *l, struct listener_files *f)
{
	const struct config_listener *c = l->cfg;
	struct pw_error err;

	if (c->tls) {
		struct tls_server_options o;

		memset(&o, 0, sizeof(o));
		o.cert_chain_file = c->tls_cert;
		o.key_file = c->tls_key;
		o.min_version = c->tls_min_version;
		o.ciphers = c->tls_ciphers;
		o.ciphersuites = c->tls_ciphersuites;
		o.groups = c->tls_groups;
		o.session_tickets = c->tls_session_tickets;
		o.client_auth = c->client_auth == CONFIG_CLIENT_AUTH_REQUIRED ?
		    TLS_CLIENT_REQUIRED : c->client_auth ==
		    CONFIG_CLIENT_AUTH_OPTIONAL ? TLS_CLIENT_OPTIONAL :
		    TLS_CLIENT_NONE;
		o.client_ca_file = c->client_ca;
		o.client_crl_file = c->client_crl;
		o.client_allow = c->client_allow;
		o.n_client_allow = c->n_client_allow;
		if ((f->server_tls = tls_server_ctx_new(&o, &err)) == NULL) {
			diag(p, c->name, "listener TLS: %s", err.message);
			return -1;
		}
	}
	if (c->backend_tls) {
		struct tls_client_options o;

		memset(&o, 0, sizeof(o));
		o.ca_file = c->backend_ca;
		o.expected_name = c->backend_name;
		o.sni = c->backend_sni;
		o.verify = c->backend_verify;
		o.cert_chain_file = c->backend_cert;
		o.key_file = c->backend_key;
		if ((f->backend_tls = tls_client_ctx_new(&o, &err)) == NULL) {
			diag(p, c->name, "backend TLS: %s", err.message);
			return -1;
		}
	}
	return 0;
}

/* Read all of the listener's files into *${f} (zeroed), reporting every
 * problem; -1 (nothing kept) if any. */
static int
load_files(struct proxy *p, const struct listener *l,
    struct listener_files *f)
{
	int rc = 0;

	memset(f, 0, sizeof(*f));
	/* Each step reports its own problems: run them all. */
	if (load_rules(p, l, f) < 0)
		rc = -1;
	if (load_tls(p, l, f) < 0)
		rc = -1;
	if (rc < 0)
		files_release(f);
	return rc;
}

/* An allowed call can raise inside the server, and a raw server that
 * catches the error and calls load() again reads on from a point in that
 * pickle: see "Servers that read on after an error" in proxy/ANALYZER.md.
 * Say what that costs or risks here. */
static void
note_raw_resume(struct proxy *p, const struct listener *l)
{
	if (l->cfg->framing != FRAME_RAW ||
	    !policy_allows_calls(l->rules.policy))
		return;
	if (!l->cfg->resume_after_error)
		diag(p, l->cfg->rules, "warning: listener %s: "
		    "resume_after_error = no with rules that allow "
		    "calls is safe only if the server stops reading a "
		    "connection after an unpickling error: a server "
		    "that reads on after an allowed call raised may "
		    "run bytes picklewall read as data", l->cfg->name);
	else if (l->cfg->memo != ANALYSIS_MEMO_PERSISTENT)
		diag(p, l->cfg->rules, "note: listener %s: framing = "
		    "raw with resume_after_error = yes (the default): "
		    "a pickle that imports or calls anything is denied "
		    "(resume_unknown), since a server that reads each "
		    "pickle with a fresh load() and goes on after an "
		    "error would restart inside it; set "
		    "resume_after_error = no if the server stops "
		    "reading after an error", l->cfg->name);
}

/* Use ${f} (taken over) from now on: the connections accepted from now on
 * entirely; the live ones decide their next message with its rules
 * (conn.c) and keep their TLS contexts and limits. */
static void
use_files(struct proxy *p, struct listener *l, struct listener_files *f)
{
	policy_free(l->rules.policy);
	tls_ctx_free(l->env.server_tls);
	tls_ctx_free(l->env.backend_tls);
	l->rules.policy = f->policy;
	l->rules.mode = l->cfg->mode_set ? l->cfg->mode :
	    policy_mode(f->policy);
	l->rules.generation++;
	l->env.rules = &l->rules;
	l->env.server_tls = f->server_tls;
	l->env.backend_tls = f->backend_tls;
	l->env.analysis.frame.kind = l->cfg->framing;
	l->env.analysis.frame.mp_handshake_messages = l->cfg->mp_handshake;
	l->env.analysis.limits = f->limits;
	if (l->env.analysis.limits.max_message_bytes == 0)
		l->env.analysis.limits.max_message_bytes =
		    l->cfg->max_message_bytes;
	l->env.analysis.frame.max_message_bytes =
	    l->env.analysis.limits.max_message_bytes;
	l->env.analysis.memo = l->cfg->memo;
	l->env.analysis.resume_after_error = l->cfg->resume_after_error;
	memset(f, 0, sizeof(*f));
	note_raw_resume(p, l);
}

/*
 * reload_files(p):
 * Read every listener's files again and, if all of them load, use them
 * from now on; if any fails, every listener keeps what it has.  The
 * configuration file itself is not read again.
 */
static void
reload_files(struct proxy *p)
{
	struct listener_files *loaded;
	size_t i, failed = 0;

	if ((loaded = calloc(p->n_listeners, sizeof(*loaded))) == NULL) {
		diag(p, "reload", "out of memory: every listener keeps the "
		    "files it has");
		(void)audit_error(p->audit, NULL, PW_INTERNAL, "reload: out of "
		    "memory; every listener keeps the files it has");
		return;
	}
	for (i = 0; i < p->n_listeners; i++)
		if (load_files(p, &p->listeners[i], &loaded[i]) < 0)
			failed++;
	if (failed > 0) {
		diag(p, "reload", "%zu listener%s could not load %s files: "
		    "every listener keeps the files it has", failed,
		    failed == 1 ? "" : "s", failed == 1 ? "its" : "their");
		(void)audit_error(p->audit, NULL, PW_CONFIG, "reload: a rule, "
		    "certificate, key, CA or CRL file did not load (see "
		    "picklewall's standard error); every listener keeps the "
		    "files it has");
	} else {
		for (i = 0; i < p->n_listeners; i++) {
			struct listener *l = &p->listeners[i];

			use_files(p, l, &loaded[i]);
			(void)audit_reload(p->audit, l->cfg->name,
			    l->cfg->rules, l->rules.generation);
			diag(p, l->cfg->name, "files reloaded (generation "
			    "%" PRIu64 ")", l->rules.generation);
		}
	}
	for (i = 0; i < p->n_listeners; i++)
		files_release(&loaded[i]);
	free(loaded);
}

/* Resolved once, at start: a lookup at connect time would block the
 * loop. */
static int
resolve_backend(struct proxy *p, struct listener *l)
{
	struct addrinfo hints, *res;
	char port[8];
	int rc;

	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	snprintf(port, sizeof(port), "%u", l->cfg->backend_port);
	if ((rc = getaddrinfo(l->cfg->backend_host, port, &hints, &res)) != 0) {
		diag(p, l->cfg->name, "backend %s: %s", l->cfg->backend_host,
		    gai_strerror(rc));
		return -1;
	}
	memcpy(&l->env.backend_addr, res->ai_addr, res->ai_addrlen);
	l->env.backend_addr_len = res->ai_addrlen;
	conn_addr_text(res->ai_addr, l->env.backend_addr_text, NULL);
	freeaddrinfo(res);
	return 0;
}

static int
bind_listener(struct proxy *p, struct listener *l)
{
	int one = 1;

	l->fd = socket(l->cfg->listen_addr.ss_family,
	    SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	/* [::] and 0.0.0.0 on one port are two listeners, not a clash. */
	if (l->fd >= 0 && l->cfg->listen_addr.ss_family == AF_INET6)
		(void)setsockopt(l->fd, IPPROTO_IPV6, IPV6_V6ONLY, &one,
		    sizeof(one));
	if (l->fd < 0 ||
	    setsockopt(l->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    (p->workers > 1 && setsockopt(l->fd, SOL_SOCKET, SO_REUSEPORT, &one,
	    sizeof(one)) < 0) ||
	    bind(l->fd, (const struct sockaddr *)&l->cfg->listen_addr,
	    l->cfg->listen_addr_len) < 0 || listen(l->fd, LISTEN_BACKLOG) < 0) {
		diag(p, l->cfg->name, "listen on %s:%u: %s", l->cfg->listen_host,
		    l->cfg->listen_port, strerror(errno));
		return -1;
	}
	return 0;
}

/* This worker's part of a limit ${total} for all of them (config.c makes
 * sure there is at least 1 each): never more than the total in all. */
static uint64_t
share(const struct proxy *p, uint64_t total)
{
	return total / p->workers;
}

static void
on_conn_closed(void *cookie)
{
	struct listener *l = cookie;

	l->n_conns--;
	l->proxy->n_conns--;
}

static void
refuse(struct listener *l, int fd, const struct sockaddr_storage *peer,
    const char *why)
{
	struct audit_conn a;
	char addr[INET6_ADDRSTRLEN];

	memset(&a, 0, sizeof(a));
	a.listener = l->cfg->name;
	conn_addr_text((const struct sockaddr *)peer, addr, &a.client_port);
	a.client_addr = addr;
	(void)audit_error(l->proxy->audit, &a, PW_IO, why);
	close(fd);
}

static void
on_accept(void *cookie, uint32_t events)
{
	struct listener *l = cookie;
	struct proxy *p = l->proxy;
	struct sockaddr_storage peer;
	socklen_t len;
	int fd, n;

	(void)events;
	/* A bounded batch, so that one busy listener cannot starve the
	 * connections it already has. */
	for (n = 0; n < 64; n++) {
		len = sizeof(peer);
		fd = accept4(l->fd, (struct sockaddr *)&peer, &len,
		    SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK &&
			    errno != EINTR && errno != ECONNABORTED)
				diag(p, l->cfg->name, "accept: %s",
				    strerror(errno));
			return;
		}
		if (p->n_conns >= share(p,
		    config_global(p->cfg)->max_connections) ||
		    l->n_conns >= share(p, l->cfg->max_connections)) {
			refuse(l, fd, &peer, "connection refused: "
			    "max_connections reached");
			continue;
		}
		p->n_conns++;
		l->n_conns++;
		/* Unique over the workers: worker w numbers w+1, w+1+n, ...
		 * above the base of its start. */
		if (conn_start(&l->env, fd, (struct sockaddr *)&peer, len,
		    p->conn_id_base + p->conn_seq++ * p->workers + p->worker +
		    1) < 0) {
			/* conn_start closed it; on_closed was not called. */
			p->n_conns--;
			l->n_conns--;
		}
	}
}

/* The log's file takes bytes again, or the hashing worker has hashes for
 * lines that wait for them. */
static void
on_audit_ready(void *cookie, uint32_t events)
{
	struct proxy *p = cookie;
	struct pw_error err;

	(void)events;
	(void)audit_flush(p->audit, &err);
}

static void
on_signal(void *cookie, int signo)
{
	struct proxy *p = cookie;
	struct pw_error err;

	if (signo == SIGHUP) {
		if (audit_reopen(p->audit, &err) < 0)
			diag(p, "audit", "reopen: %s", err.message);
		return;
	}
	if (signo == SIGUSR2) {
		reload_files(p);
		return;
	}
	loop_stop(p->loop);
}

/* After every turn: write the audit events it produced, and watch the
 * log's descriptor only while the file holds them back. */
static void
after_turn(void *cookie)
{
	struct proxy *p = cookie;
	struct pw_error err;
	int fd;

	(void)audit_flush(p->audit, &err);
	fd = audit_fd_wants_write(p->audit);
	if (fd == p->audit_watched_fd)
		return;
	if (p->audit_watched_fd >= 0)
		loop_del(p->loop, p->audit_watched_fd);
	p->audit_watched_fd = -1;
	if (fd >= 0 && loop_add(p->loop, fd, EPOLLOUT, on_audit_ready,
	    p) == 0)
		p->audit_watched_fd = fd;
}

/* Hash large messages for the audit log on a worker thread: SHA-256 runs
 * at about 1 GB/s, so a 1 MiB message would otherwise cost the loop 1 ms
 * on top of forwarding it.  Small ones are cheaper to hash than to hand
 * over.  The copies the worker holds are bounded apart from
 * buffer_memory; past the bound the loop hashes them itself. */
#define HASH_OFFLOAD_MIN_BYTES (16 * 1024)
#define HASH_OFFLOAD_MAX_BYTES (64 * 1024 * 1024)

static int
start_hashing(struct proxy *p)
{
	struct pw_error err;

	if (audit_hash_offload(p->audit, HASH_OFFLOAD_MIN_BYTES,
	    HASH_OFFLOAD_MAX_BYTES, &err) < 0) {
		diag(p, "audit", "%s", err.message);
		return -1;
	}
	if (loop_add(p->loop, audit_hash_fd(p->audit), EPOLLIN,
	    on_audit_ready, p) < 0) {
		diag(p, "audit", "event loop: %s", strerror(errno));
		return -1;
	}
	p->hash_fd_watched = true;
	return 0;
}

/**
 * proxy_new(cfg, bind_sockets, diag, cookie):
 * Prepare every listener of ${cfg} (which must outlive the proxy): load
 * its rule file, build and check its TLS contexts (files readable, key
 * matching certificate, CRL parseable), resolve its backend, and, if
 * ${bind_sockets}, open the audit log and bind its socket.  Every problem
 * goes to ${diag}.  Returns the proxy, or NULL if anything failed.
 */
struct proxy *
proxy_new(const struct config *cfg, bool bind_sockets,
    const struct proxy_worker *worker, proxy_diag_fn *diag_fn, void *cookie)
{
	const struct config_global *g = config_global(cfg);
	struct listener_files files;
	struct proxy *p;
	struct pw_error err;
	bool failed = false;
	size_t i;

	if ((p = calloc(1, sizeof(*p))) == NULL)
		return NULL;
	p->cfg = cfg;
	p->workers = g->workers > 0 ? g->workers : 1;
	if (worker != NULL) {
		p->worker = worker->index < p->workers ? worker->index : 0;
		/* 2^36 ids per start (a worker that takes 68 billion
		 * connections runs into the next restart's), and ids stay
		 * below 2^53, exact in any JSON reader, for 131071
		 * restarts. */
		p->conn_id_base = (uint64_t)worker->start << 36;
	}
	p->audit_watched_fd = -1;
	p->diag = diag_fn;
	p->cookie = cookie;
	p->n_listeners = config_listener_count(cfg);
	if ((p->listeners = calloc(p->n_listeners, sizeof(*p->listeners))) ==
	    NULL) {
		free(p);
		return NULL;
	}
	if (bind_sockets) {
		if ((p->loop = loop_new(&err)) == NULL) {
			diag(p, "loop", "%s", err.message);
			failed = true;
		} else if ((p->audit = audit_open(g->audit_log != NULL ?
		    g->audit_log : "-", (size_t)g->audit_buffer_bytes,
		    &err)) == NULL) {
			diag(p, g->audit_log != NULL ? g->audit_log : "-",
			    "audit log: %s", err.message);
			failed = true;
		} else if (start_hashing(p) < 0) {
			failed = true;
		}
	}
	for (i = 0; i < p->n_listeners; i++) {
		struct listener *l = &p->listeners[i];

		l->proxy = p;
		l->fd = -1;
		l->cfg = config_listener(cfg, i);
		l->env.loop = p->loop;
		l->env.audit = p->audit;
		l->env.listener = l->cfg;
		l->env.buffered_bytes = &p->buffered_bytes;
		l->env.buffer_cap_bytes = share(p, g->buffer_memory_bytes);
		l->env.on_closed = on_conn_closed;
		l->env.cookie = l;
		/* Each step reports its own problems: run them all. */
		if (load_files(p, l, &files) < 0)
			failed = true;
		else
			use_files(p, l, &files);
		if (resolve_backend(p, l) < 0)
			failed = true;
		if (failed)
			continue;
		if (bind_sockets && bind_listener(p, l) < 0)
			failed = true;
	}
	if (failed) {
		proxy_free(p);
		return NULL;
	}
	return p;
}

/**
 * proxy_run(p):
 * Serve until SIGTERM or SIGINT, then close every connection, flush the
 * audit log and return 0; -1 if the event loop failed.  Meanwhile SIGHUP
 * reopens the audit log and SIGUSR2 reads the listeners' files again.
 */
int
proxy_run(struct proxy *p)
{
	static const int signals[] = { SIGTERM, SIGINT, SIGHUP, SIGUSR2 };
	struct pw_error err;
	size_t i;
	int rc;

	signal(SIGPIPE, SIG_IGN);
	if (loop_signals(p->loop, signals, sizeof(signals) / sizeof(*signals),
	    on_signal, p) < 0) {
		diag(p, "signals", "%s", strerror(errno));
		return -1;
	}
	for (i = 0; i < p->n_listeners; i++) {
		struct listener *l = &p->listeners[i];

		if (loop_add(p->loop, l->fd, EPOLLIN, on_accept, l) < 0) {
			diag(p, l->cfg->name, "%s", strerror(errno));
			return -1;
		}
		diag(p, l->cfg->name, "listening on %s:%u (%s, %s framing) in "
		    "front of %s://%s:%u", l->cfg->listen_host,
		    l->cfg->listen_port, l->cfg->tls ? "TLS" : "plaintext",
		    frame_kind_name(l->cfg->framing),
		    l->cfg->backend_tls ? "tls" : "tcp", l->cfg->backend_host,
		    l->cfg->backend_port);
	}
	loop_on_turn(p->loop, after_turn, p);
	rc = loop_run(p->loop);
	conn_close_all("shutdown");
	(void)audit_drain(p->audit, AUDIT_DRAIN_MS, &err);
	return rc < 0 ? -1 : 0;
}

/**
 * proxy_free(p):
 * Close the listeners and release ${p}; NULL is a no-op.
 */
void
proxy_free(struct proxy *p)
{
	size_t i;

	if (p == NULL)
		return;
	for (i = 0; i < p->n_listeners; i++) {
		struct listener *l = &p->listeners[i];

		if (l->fd >= 0) {
			if (p->loop != NULL)
				loop_del(p->loop, l->fd);
			close(l->fd);
		}
		tls_ctx_free(l->env.server_tls);
		tls_ctx_free(l->env.backend_tls);
		policy_free(l->rules.policy);
	}
	free(p->listeners);
	if (p->hash_fd_watched)
		loop_del(p->loop, audit_hash_fd(p->audit));
	audit_close(p->audit);
	loop_free(p->loop);
	free(p);
}
