#ifndef TLS_H
#define TLS_H

/*
 * tls: OpenSSL contexts, handshakes, peer identity and non-blocking reads
 * and writes over a socket the caller owns.  It never frames, buffers or
 * decides anything about the bytes it carries.
 *
 * A context (struct tls_ctx) is built once per listener or backend from a
 * configuration and validated completely when it is built, so that
 * `picklewall -t` reports every certificate, key, CRL and cipher mistake
 * without binding a socket.  A connection (struct tls_conn) wraps one
 * non-blocking socket.  Every per-connection call returns an enum
 * tls_status; TLS_WANT_READ and TLS_WANT_WRITE name the readiness to wait
 * for before calling the *same* function again, whichever direction that
 * function moves data in.
 *
 * The process must ignore SIGPIPE: OpenSSL writes to the socket with
 * write(2), and a peer that has gone away must give an error, not a signal.
 *
 * Server defaults, chosen for an inline firewall in front of legacy pickle
 * servers: TLS 1.2 and 1.3 only; no compression, no renegotiation; no
 * session cache and no TLS 1.3 session tickets (a client that writes and
 * closes without reading, like logging.handlers.SocketHandler, would get
 * its connection reset by its own kernel over an unread ticket and lose its
 * last records); buffers released while a connection is idle.
 */

#include <stdbool.h>
#include <stddef.h>

#include "pw_error.h"

/* Protocol versions, the wire values (equal to OpenSSL's TLS1_2_VERSION and
 * TLS1_3_VERSION, so either spelling may be used). */
#define TLS_VERSION_1_2 0x0303
#define TLS_VERSION_1_3 0x0304

enum tls_client_auth {
	TLS_CLIENT_NONE,	/* no certificate is requested */
	TLS_CLIENT_OPTIONAL,	/* requested; if sent it must verify */
	TLS_CLIENT_REQUIRED,	/* a verified certificate is required */
};

struct tls_server_options {
	/* PEM: the server certificate first, then the intermediates in
	 * order, each issuing the one before it (the root may be left out). */
	const char *cert_chain_file;
	const char *key_file;		/* PEM, unencrypted */
	int min_version;		/* TLS_VERSION_1_2 (also 0) or _1_3 */
	const char *ciphers;		/* TLS 1.2 cipher list; NULL: default */
	const char *ciphersuites;	/* TLS 1.3 suites; NULL: default */
	const char *groups;		/* key exchange groups; NULL: default */
	/* TLS 1.3 tickets sent after each full handshake, and with any
	 * value but 0 also TLS 1.2 tickets; 0 (the default) disables session
	 * resumption altogether. */
	unsigned session_tickets;

	enum tls_client_auth client_auth;
	/* The following need client_auth OPTIONAL or REQUIRED. */
	const char *client_ca_file;	/* PEM trust anchors; required then */
	/* PEM CRLs, one from each CA of the client chains, root included:
	 * every certificate of a client's chain is checked, and one without
	 * a CRL from its issuer is refused.  A CA of client_ca_file without a
	 * CRL here is a configuration error. */
	const char *client_crl_file;
	/* The allow-list ("CN=name", "DNS=name", "URI=uri"): a client is
	 * accepted when its certificate has a subject CN, a DNS SAN (ASCII
	 * case-insensitively) or a URI SAN equal to one entry.  Exact
	 * strings, no patterns.  Needs client_auth REQUIRED.  The entries are
	 * copied. */
	const char *const *client_allow;
	size_t n_client_allow;
};

struct tls_client_options {
	/* PEM trust anchors for the server's certificate; NULL: the system
	 * store. */
	const char *ca_file;
	/* The name the server's certificate must carry: a DNS name (matched
	 * against its SANs, wildcards as RFC 6125 allows) or an IPv4/IPv6
	 * literal (matched against its IP SANs).  Required when verify. */
	const char *expected_name;
	/* Server Name Indication; NULL: expected_name unless that is an IP
	 * address (RFC 6066 forbids literals there). */
	const char *sni;
	bool verify;			/* false: accept any certificate */
	const char *cert_chain_file;	/* optional client certificate ... */
	const char *key_file;		/* ... and its key, both or neither */
	int min_version;		/* TLS_VERSION_1_2 (also 0) or _1_3 */
};

enum tls_status {
	TLS_OK,		/* done (handshake complete, *n bytes moved) */
	TLS_WANT_READ,	/* call again when the socket is readable */
	TLS_WANT_WRITE,	/* call again when the socket is writable */
	TLS_CLOSED,	/* tls_read: the peer closed its sending side */
	TLS_ERROR,	/* the connection is unusable; see tls_failure() */
};

/* Why a connection failed; tls_failure_name() gives the stable names used
 * in audit events. */
enum tls_failure {
	TLS_FAIL_NONE,			/* "none" */
	TLS_FAIL_HANDSHAKE,		/* "handshake_failed": versions,
					 * ciphers, alerts, malformed input */
	TLS_FAIL_PEER_CERT_MISSING,	/* "peer_certificate_missing" */
	TLS_FAIL_PEER_CERT_UNTRUSTED,	/* "peer_certificate_untrusted":
					 * unknown CA, expired, no CRL... */
	TLS_FAIL_PEER_CERT_REVOKED,	/* "peer_certificate_revoked" */
	TLS_FAIL_PEER_NAME_MISMATCH,	/* "peer_name_mismatch" */
	TLS_FAIL_PEER_NOT_ALLOWED,	/* "peer_not_allowed" */
	TLS_FAIL_PEER_CLOSED,		/* "peer_closed" during handshake */
	TLS_FAIL_PROTOCOL,		/* "protocol_error" after handshake */
	TLS_FAIL_IO,			/* "io_error" from the socket */
	TLS_FAIL_INTERNAL,		/* "internal_error": out of memory */
};

/* Bounds of struct tls_peer; longer values are cut and flagged. */
#define TLS_PEER_SUBJECT_MAX 512
#define TLS_PEER_SERIAL_MAX 72		/* 32 octets in hex, sign, NUL */
#define TLS_PEER_SANS_MAX 8
#define TLS_PEER_SAN_MAX 256

/* The certificate the peer presented, as the audit log records it. */
struct tls_peer {
	bool present;			/* false: no certificate, rest empty */
	bool truncated;			/* some value or SAN did not fit */
	/* RFC 2253 form ("CN=client,O=Example"), non-ASCII and control
	 * bytes escaped as \XX. */
	char subject[TLS_PEER_SUBJECT_MAX];
	char serial_hex[TLS_PEER_SERIAL_MAX];	/* upper case, "-" if < 0 */
	char sha256_hex[65];		/* of the DER certificate, lower case */
	/* "DNS:name", "URI:uri", "IP:addr", "email:addr" in certificate
	 * order; bytes outside printable ASCII escaped as \xNN. */
	size_t n_sans;
	char sans[TLS_PEER_SANS_MAX][TLS_PEER_SAN_MAX];
};

struct tls_ctx;
struct tls_conn;

/**
 * tls_server_ctx_new(options, err):
 * Build a server context from ${options}, reading every file they name
 * and checking it: files readable, the chain in order and in date, the
 * server certificate fit for TLS servers and matching the key, ciphers,
 * suites and groups known, the CA and CRL files parseable (each CRL in
 * date and signed by its CA if that is in the CA file; a CRL from every CA
 * of the file), the allow-list well formed and consistent with
 * client_auth.  Returns the context, or NULL
 * with *${err} (PW_CONFIG naming the file or option, PW_INTERNAL) set.
 * The caller holds one reference; see tls_ctx_free().
 */
struct tls_ctx *tls_server_ctx_new(const struct tls_server_options *options,
    struct pw_error *err);

/**
 * tls_client_ctx_new(options, err):
 * Build a context for connections to a TLS backend from ${options}, with
 * the same checks of the files as tls_server_ctx_new().  Returns the
 * context, or NULL with *${err} set.
 */
struct tls_ctx *tls_client_ctx_new(const struct tls_client_options *options,
    struct pw_error *err);

/**
 * tls_ctx_ref(ctx):
 * Take one more reference to ${ctx}, which a tls_ctx_free() drops: for a
 * holder that makes connections from it later.  Returns ${ctx}; NULL is a
 * no-op.  One thread only.
 */
struct tls_ctx *tls_ctx_ref(struct tls_ctx *ctx);

/**
 * tls_ctx_free(ctx):
 * Drop the caller's reference to ${ctx}; it is freed once the connections
 * made from it are freed too, so a configuration reload can free the old
 * context while old connections live on.  NULL is a no-op.
 */
void tls_ctx_free(struct tls_ctx *ctx);

/**
 * tls_accept_new(ctx, fd, err):
 * Start the server side of a connection over the connected, non-blocking
 * socket ${fd}, with the server context ${ctx}.  Nothing is read or
 * written yet: call tls_handshake().  ${fd} stays the caller's to close
 * (after tls_free()).  Returns NULL with *${err} set on failure.
 */
struct tls_conn *tls_accept_new(struct tls_ctx *ctx, int fd,
    struct pw_error *err);

/**
 * tls_connect_new(ctx, fd, err):
 * Start the client side of a connection over the connected, non-blocking
 * socket ${fd}, with the client context ${ctx} (its expected name and
 * SNI).  As tls_accept_new() otherwise.
 */
struct tls_conn *tls_connect_new(struct tls_ctx *ctx, int fd,
    struct pw_error *err);

/**
 * tls_free(conn):
 * Release ${conn} without any I/O (see tls_shutdown()); the socket is not
 * closed.  NULL is a no-op.
 */
void tls_free(struct tls_conn *conn);

/**
 * tls_handshake(conn, err):
 * Advance the handshake of ${conn}.  TLS_OK once it is complete and, on
 * the server side, the client certificate has passed the allow-list;
 * TLS_WANT_READ / TLS_WANT_WRITE to be called again; TLS_ERROR with
 * *${err} (PW_IO, a message with the reason and the refused certificate's
 * subject) and tls_failure() set.  A TLS 1.3 client reports TLS_OK before
 * the server has judged its certificate; a refusal then shows as an error
 * from tls_read().  Calling it again after TLS_OK returns TLS_OK.
 */
enum tls_status tls_handshake(struct tls_conn *conn, struct pw_error *err);

/**
 * tls_read(conn, buf, len, n, err):
 * Read up to ${len} (> 0) bytes of application data into ${buf}; *${n} is
 * set to the count (0 unless TLS_OK).  TLS_CLOSED: the peer ended its
 * sending side, with close_notify or (see tls_closed_cleanly()) without.
 * TLS_WANT_WRITE means OpenSSL must send before it can read on (as in a
 * handshake): call tls_read again when the socket is writable, whatever
 * the readability.  OpenSSL may hold decrypted
 * data the socket no longer shows: with edge-triggered polling read until
 * TLS_WANT_*, and after pausing, check tls_has_pending() before waiting.
 */
enum tls_status tls_read(struct tls_conn *conn, void *buf, size_t len,
    size_t *n, struct pw_error *err);

/**
 * tls_write(conn, buf, len, n, err):
 * Write up to ${len} bytes of application data from ${buf}; *${n} is set
 * to the count accepted, which on TLS_OK may be less than ${len} (one
 * record at a time; call again for the rest).  After TLS_WANT_*, the next
 * tls_write must offer the same bytes again (the buffer may have moved;
 * ${len} may not shrink).  A ${len} of 0 returns TLS_OK at once.
 */
enum tls_status tls_write(struct tls_conn *conn, const void *buf, size_t len,
    size_t *n, struct pw_error *err);

/**
 * tls_has_pending(conn):
 * True if ${conn} holds received bytes that tls_read() would process
 * without the socket becoming readable.
 */
bool tls_has_pending(const struct tls_conn *conn);

/**
 * tls_shutdown(conn):
 * Send close_notify without waiting for the peer's: TLS_OK once sent,
 * TLS_WANT_WRITE to be retried when writable (or given up on: closing the
 * socket then is only impolite), TLS_ERROR if the connection had already
 * failed (nothing is sent then).
 */
enum tls_status tls_shutdown(struct tls_conn *conn);

/**
 * tls_failure(conn):
 * Why ${conn} failed, TLS_FAIL_NONE while it has not.
 */
enum tls_failure tls_failure(const struct tls_conn *conn);

/**
 * tls_failure_name(failure):
 * The stable snake_case name of ${failure} ("peer_not_allowed", ...).
 */
const char *tls_failure_name(enum tls_failure failure);

/**
 * tls_closed_cleanly(conn):
 * After tls_read() returned TLS_CLOSED: true if the peer sent
 * close_notify, false if the transport simply ended (a truncation the
 * framing above must judge).
 */
bool tls_closed_cleanly(const struct tls_conn *conn);

/**
 * tls_peer_identity(conn, peer):
 * Fill *${peer} from the certificate the peer of ${conn} presented in the
 * handshake (peer->present false if none, or before the handshake).
 * Returns 0, or -1 only if memory runs out (*peer then says not present).
 */
int tls_peer_identity(const struct tls_conn *conn, struct tls_peer *peer);

/**
 * tls_version_name(conn):
 * The negotiated protocol of ${conn} ("TLSv1.3"), static storage.
 */
const char *tls_version_name(const struct tls_conn *conn);

/**
 * tls_cipher_name(conn):
 * The negotiated cipher of ${conn} in OpenSSL's spelling, as the ciphers
 * and ciphersuites options take it ("TLS_AES_256_GCM_SHA384"); "(none)"
 * before the handshake.  Static storage.
 */
const char *tls_cipher_name(const struct tls_conn *conn);

/**
 * tls_version_parse(name, version):
 * Set *${version} from "1.2" / "TLSv1.2" or "1.3" / "TLSv1.3"; return 0,
 * or -1 if ${name} is none of them.
 */
int tls_version_parse(const char *name, int *version);

/**
 * tls_client_auth_parse(name, auth):
 * Set *${auth} from "none", "optional" or "required"; return 0, or -1.
 */
int tls_client_auth_parse(const char *name, enum tls_client_auth *auth);

/**
 * tls_library_version():
 * The OpenSSL library in use ("OpenSSL 3.0.19 27 Jan 2026"), as
 * --version prints it.
 */
const char *tls_library_version(void);

#endif /* !TLS_H */
