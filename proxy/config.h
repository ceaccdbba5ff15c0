#ifndef CONFIG_H
#define CONFIG_H

/*
 * config: the configuration file -> an immutable, validated generation.
 *
 * picklewall.conf.example is the annotated reference of the format and of
 * every key.  In short: `#` comments, a [global] section (optional) and one
 * or more [listener NAME] sections of `key = value` lines.  Values are
 * strings (bare or "quoted", with \" and \\ as the only escapes), integers,
 * sizes (64k, 16M, 1G: powers of 1024; a bare number is bytes), durations
 * (500ms, 10s, 5m, 1h: the unit is required), booleans (yes/no, true/false,
 * on/off), enumerations and comma-separated lists.
 *
 * Loading reads the whole text and reports every problem it finds, each
 * once, at file:line:col with what was expected there; checks that join
 * several keys run after the whole file has been read, and only on keys
 * whose own values were good, so one mistake gives one error.  Nothing here
 * touches the files a configuration names (rule files, certificates): the
 * policy and TLS modules check those when they load them.  Relative paths
 * are resolved against the directory of the configuration file.
 *
 * A loaded configuration is never changed: connections can hold a pointer
 * into it for as long as the generation lives.  Every string and array it
 * hands out is owned by it and released by config_free().
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "analysis.h"
#include "frame.h"
#include "policy.h"
#include "pvm.h"

/* A problem found while loading: an error, or a warning. */
struct config_diag {
	bool warning;
	const char *file;	/* the name given to the loader; never NULL */
	unsigned line, col;	/* 1-based; line 0: about the whole file */
	const char *message;	/* one line, no trailing newline */
};

/* Called for every error and warning; ${d} is valid only during the call. */
typedef void config_diag_fn(void *cookie, const struct config_diag *d);

/* TLS protocol versions, with OpenSSL's values (TLS1_2_VERSION, ...). */
#define CONFIG_TLS_1_2	0x0303
#define CONFIG_TLS_1_3	0x0304

/* What to do with a connection whose message is denied. */
enum config_on_deny {
	CONFIG_ON_DENY_CLOSE,	/* close both sides (default) */
	CONFIG_ON_DENY_DROP,	/* discard the message, keep the connection;
				 * only with framing len32, memo per-message */
};

/* Which message events carry the message's SHA-256: hashing is about
 * 1 ms of CPU per MiB, most of what a large allowed message costs. */
enum config_message_hash {
	CONFIG_MESSAGE_HASH_ALL,	/* default */
	CONFIG_MESSAGE_HASH_DENIED,	/* denied and would-deny only */
	CONFIG_MESSAGE_HASH_NONE,
};

/* What to do when analysis fails, a limit or a timeout is hit. */
enum config_fail_policy {
	CONFIG_FAIL_CLOSE,	/* fail closed; the only policy for now */
};

enum config_client_auth {
	CONFIG_CLIENT_AUTH_NONE,
	CONFIG_CLIENT_AUTH_OPTIONAL,	/* a certificate, if sent, must verify;
					 * no client_allow then */
	CONFIG_CLIENT_AUTH_REQUIRED,
};

/* The [global] section, defaults resolved. */
struct config_global {
	const char *audit_log;		/* path; NULL: standard output */
	uint64_t audit_buffer_bytes;	/* bounded audit buffer */
	uint64_t max_connections;	/* over all listeners */
	uint64_t buffer_memory_bytes;	/* cap on bytes held for messages
					 * awaiting a verdict, all connections */
	unsigned workers;		/* processes; the limits above are
					 * shared out among them */
};

#define CONFIG_MAX_WORKERS 64

/*
 * One [listener NAME] section, defaults resolved.  Strings are NUL
 * terminated; a NULL string means the key was not given and has no
 * default (the comment says what that means).
 */
struct config_listener {
	const char *name;

	/* listen: a numeric address, ready for bind(2). */
	const char *listen_host;	/* inet_ntop() form, no brackets */
	uint16_t listen_port;
	struct sockaddr_storage listen_addr;
	socklen_t listen_addr_len;

	/* backend: tcp://HOST:PORT or tls://HOST:PORT. */
	bool backend_tls;
	const char *backend_host;	/* a name or a numeric address, no
					 * brackets; resolved at connect time */
	uint16_t backend_port;

	/* Analysis and verdicts. */
	enum frame_kind framing;
	unsigned mp_handshake;		/* 0 or 3; 3 by default for mp */
	enum analysis_memo memo;
	bool resume_after_error;	/* raw: the server may call load() again
					 * after an unpickling error */
	const char *rules;		/* NULL: the built-in data-only policy */
	bool mode_set;			/* false: the rule file's mode */
	enum policy_mode mode;
	enum config_on_deny on_deny;
	enum config_fail_policy fail_policy;
	enum config_message_hash message_hash;

	/* Limits. */
	uint64_t max_connections;	/* default: the global value */
	uint64_t max_message_bytes;	/* frame and pvm bound (header not
					 * counted); a rule file's `limit
					 * message_bytes` must not exceed it,
					 * see config_check_rule_limits() */
	uint64_t handshake_timeout_ms;	/* TLS handshake */
	uint64_t message_timeout_ms;	/* first byte to last of a message */
	uint64_t idle_timeout_ms;	/* nothing sent either way */
	uint64_t connect_timeout_ms;	/* to the backend, TLS included */

	/* TLS towards clients (tls false: plaintext, all below unset). */
	bool tls;
	const char *tls_cert;		/* certificate chain file (PEM) */
	const char *tls_key;		/* its private key (PEM) */
	int tls_min_version;		/* CONFIG_TLS_1_2 or CONFIG_TLS_1_3 */
	const char *tls_ciphers;	/* TLS <= 1.2, ':'-joined; NULL:
					 * OpenSSL's default */
	const char *tls_ciphersuites;	/* TLS 1.3, ':'-joined; NULL: default */
	const char *tls_groups;		/* ':'-joined; NULL: default */
	unsigned tls_session_tickets;	/* TLS 1.3 tickets sent; default 0:
					 * no session resumption */
	enum config_client_auth client_auth;
	const char *client_ca;		/* set iff client_auth is not none */
	const char *client_crl;		/* NULL: no revocation list */
	/* "CN=name", "DNS=name" or "URI=uri" entries, as the TLS module
	 * takes them; only with client_auth required.  0: any certificate
	 * that verifies. */
	const char *const *client_allow;
	size_t n_client_allow;

	/* TLS towards the backend (backend_tls false: all below unset). */
	bool backend_verify;		/* default true */
	const char *backend_ca;		/* NULL: OpenSSL's default trust store */
	const char *backend_name;	/* name (or address) the certificate
					 * must carry; default backend_host */
	const char *backend_sni;	/* default backend_name; NULL when that
					 * is an IP address (no SNI then) */
	const char *backend_cert;	/* client certificate, with backend_key */
	const char *backend_key;
};

struct config;

/**
 * config_load(path, diag, cookie):
 * Read and validate the configuration file ${path}.  Every error and
 * warning goes to ${diag}(${cookie}, ...) if it is not NULL.  Returns the
 * configuration, or NULL if there was any error (or memory ran out).
 */
struct config *config_load(const char *path, config_diag_fn *diag,
    void *cookie);

/**
 * config_load_text(name, text, len, diag, cookie):
 * As config_load() for the ${len} bytes at ${text}, reported as file
 * ${name}; relative paths are resolved against the directory of ${name}
 * (left as they are if ${name} has no '/').
 */
struct config *config_load_text(const char *name, const char *text,
    size_t len, config_diag_fn *diag, void *cookie);

/**
 * config_embedded_default(diag, cookie):
 * The configuration compiled into the binary (config_embedded_default_text)
 * that `make run` uses: listener "demo" on 127.0.0.1:9020 with TLS
 * (certs/dev/server-chain.crt, the certificate and its intermediate, and
 * certs/dev/server.key), backend tcp://127.0.0.1:9021, framing len32,
 * rules rules/logging.rules, audit log on standard output.  Its paths are
 * relative to the current directory.  Returns NULL as config_load() does.
 */
struct config *config_embedded_default(config_diag_fn *diag, void *cookie);

/**
 * config_embedded_default_text():
 * The NUL-terminated text config_embedded_default() loads.
 */
const char *config_embedded_default_text(void);

/**
 * config_free(cfg):
 * Release ${cfg} and everything it handed out; NULL is a no-op.
 */
void config_free(struct config *cfg);

/**
 * config_name(cfg):
 * The file name ${cfg} was loaded as.
 */
const char *config_name(const struct config *cfg);

/**
 * config_global(cfg):
 * The [global] settings of ${cfg}.
 */
const struct config_global *config_global(const struct config *cfg);

/**
 * config_listener_count(cfg):
 * The number of listeners in ${cfg}; at least 1.
 */
size_t config_listener_count(const struct config *cfg);

/**
 * config_listener(cfg, i):
 * Listener ${i} of ${cfg} (0-based, in file order); ${i} must be below
 * config_listener_count(${cfg}).
 */
const struct config_listener *config_listener(const struct config *cfg,
    size_t i);

/**
 * config_check_rule_limits(cfg, l, rule_limits, diag, cookie):
 * Check the limits a listener's rule file sets against the listener ${l}
 * of ${cfg}: ${rule_limits} is what policy_limits() set on a zeroed struct
 * (zero: not set).  The listener's max_message_bytes bounds what is
 * buffered, so a rule file's `limit message_bytes` above it could never
 * apply: that is an error, reported to ${diag} at the listener's `rules`
 * key.  Returns 0, or -1 after reporting.
 */
int config_check_rule_limits(const struct config *cfg,
    const struct config_listener *l, const struct pvm_limits *rule_limits,
    config_diag_fn *diag, void *cookie);

#endif /* !CONFIG_H */
