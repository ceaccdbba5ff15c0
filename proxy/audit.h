#ifndef AUDIT_H
#define AUDIT_H

/*
 * audit: the audit log, one JSON object per line (JSON Lines), written
 * without ever blocking the event loop.  It records what happened; it
 * never decides anything.
 *
 * Events.  Every line has these fields at top level, in this order:
 *   "timestamp"  RFC 3339, UTC, microseconds: "2026-11-24T21:50:03.123456Z"
 *   "event"      "conn_open", "tls", "message", "conn_close", "error", or
 *                "audit_dropped" (see below)
 *   "conn_id"    number; absent when the event concerns no connection
 *   "listener"   the listener's name
 *   "client_addr", "client_port", "backend_addr", "backend_port"
 * followed by the fields of the event.  Any field whose value is not known
 * (a NULL string, a zero port or conn_id) is left out rather than written
 * as null, so a field that is present is always meaningful.  Connection
 * fields are repeated on every line so that each line stands alone for
 * grep; the TLS fields ("tls_version", "tls_cipher", "peer_subject",
 * "peer_sans", "peer_serial", "peer_sha256") are written only on "tls" and
 * "conn_close" lines, because "message" lines are the many ones and
 * conn_id joins them to the connection.
 *
 * Buffering.  Events are appended whole to a buffer of a size fixed at
 * open; audit_flush() writes from it as much as the file takes without
 * waiting.  An event that finds the buffer full first makes room by the
 * same non-blocking write (at most one refused write per audit_flush()),
 * so a busy loop iteration does not drop events that a regular file would
 * take.  An event that still does not fit (the file is slower than the
 * traffic) is dropped whole and counted -- never written in part.  As
 * soon as there is room again (at the next event or the next flush), a
 * line
 *   {"timestamp":…,"event":"audit_dropped","count":N,"dropped_total":T}
 * takes the place of the lost events: N since the previous such line, T
 * since open.  It is a line of its own rather than a field of the next
 * event, so that a reader filtering on one event type still sees losses.
 *
 * Blocking.  A path is opened O_WRONLY | O_APPEND | O_CREAT | O_NONBLOCK.
 * Pipes, FIFOs, sockets and terminals then never block.  A regular file
 * has no non-blocking mode: a write goes to the page cache and waits only
 * for the disk when the kernel throttles dirty pages; that is accepted
 * (the alternative is a writer thread).  Standard output ("-") is shared
 * with the parent (a shell, a terminal, systemd), so its file status
 * flags are never changed:
 *   - a socket (systemd's journal stream) is written with
 *     send(MSG_DONTWAIT | MSG_NOSIGNAL), non-blocking per call;
 *   - a pipe or terminal is reopened through /proc/self/fd/1, which gives
 *     this process its own open file description of the same pipe or
 *     terminal, and that one is made non-blocking; without /proc, writes to
 *     fd 1 are preceded by poll(…, 0) and cut to PIPE_BUF bytes, which
 *     cannot block on a pipe with one writer (a terminal can still wait);
 *   - a regular file or /dev/null is written directly, sharing the
 *     parent's file offset (so "2>&1" interleaves rather than overwrites).
 * The caller ignores SIGPIPE (the daemon must anyway, for its sockets): a
 * write to a pipe whose reader has gone then fails with EPIPE, reported by
 * audit_flush().
 *
 * Use from an event loop:
 *   - call audit_flush() once per loop iteration, after handling events
 *     (it makes no system call when nothing is buffered);
 *   - if it returns 1, wait for writability of audit_fd_wants_write() (it
 *     is -1 for regular files, which epoll cannot watch and which are
 *     always writable; the descriptor changes after audit_reopen());
 *   - on SIGHUP (logrotate), call audit_reopen().
 * The module is single-threaded, like the loop.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "analysis.h"
#include "pw_error.h"

/* Smallest buffer audit_open() accepts: room for a drop notice and an
 * ordinary event. */
#define AUDIT_BUFFER_MIN_BYTES 1024

/* "2026-11-24T21:50:03.123456Z" and its NUL. */
#define AUDIT_TIMESTAMP_SIZE 28

/*
 * What the log says about a connection.  Every pointer may be NULL and
 * every number 0 for "not known (yet)"; the caller fills in what it knows
 * when it writes an event, and the strings need only live for the call.
 * Every event function takes one (never NULL, except for audit_error()).
 */
struct audit_conn {
	uint64_t conn_id;		/* 0: no connection */
	const char *listener;
	const char *client_addr;	/* numeric, as inet_ntop writes it */
	uint16_t client_port;
	const char *backend_addr;
	uint16_t backend_port;
	const char *tls_version;	/* "TLSv1.3", as SSL_get_version */
	const char *tls_cipher;
	const char *peer_subject;	/* client certificate, RFC 2253 */
	const char *const *peer_sans;	/* "DNS:host", "URI:spiffe://…" */
	size_t n_peer_sans;
	const char *peer_serial;	/* hex */
	const char *peer_sha256;	/* hex fingerprint of the DER */
};

/* The totals of a connection for its "conn_close" event; the names are
 * the JSON field names.  Bytes are counted on the wire between picklewall
 * and each peer (TLS payload, not records).  Only client-to-backend bytes
 * are framed into messages. */
struct audit_close {
	uint64_t bytes_from_client;
	uint64_t bytes_to_backend;
	uint64_t bytes_from_backend;
	uint64_t bytes_to_client;
	uint64_t messages_from_client;
	uint64_t messages_to_backend;	/* allowed (or detect mode) */
	uint64_t duration_us;
	const char *reason;		/* "client_closed", "denied", ...;
					 * NULL: left out */
};

struct audit;

/**
 * audit_open(path, buffer_bytes, err):
 * Open the audit log at ${path} for appending, creating it with mode 0640
 * (less the umask) if absent, or use standard output if ${path} is "-".
 * Events are buffered in at most ${buffer_bytes} bytes (at least
 * AUDIT_BUFFER_MIN_BYTES); one event line longer than that is always
 * dropped.  Returns the log, or NULL with ${err} filled (PW_IO: the file
 * cannot be opened; PW_USAGE: the buffer is too small; PW_INTERNAL: out of
 * memory).  The caller closes it with audit_close().
 */
struct audit *audit_open(const char *path, size_t buffer_bytes,
    struct pw_error *err);

/**
 * audit_close(a):
 * Write what the file takes of the buffered events without waiting (see
 * audit_drain() to wait first), then close the file (never standard
 * output itself) and free ${a}.  NULL is a no-op.
 */
void audit_close(struct audit *a);

/**
 * audit_reopen(a, err):
 * Open the path of ${a} again and write to the new file from now on, for
 * log rotation: after the old file was renamed, the log continues in a
 * new file at the path.  Buffered events are kept and go to the new file;
 * a line whose first bytes already went to the old file is finished there
 * if it can be without waiting, and otherwise dropped and counted.  For
 * standard output it does nothing.  Returns 0, or -1 with ${err} filled
 * (PW_IO) if the path cannot be opened; the old file is then kept.
 */
int audit_reopen(struct audit *a, struct pw_error *err);

/**
 * audit_flush(a, err):
 * Write in the hashes the worker has finished (audit_hash_offload()), then
 * write buffered events to the file until the buffer is empty, or holds
 * only a line still waiting for its hash and the lines after it, or the
 * file would block.  Returns 0 if the file took all it could be given, 1
 * if bytes remain because the file is full (wait for
 * audit_fd_wants_write()), or -1 with ${err} filled (PW_IO) on a write
 * error (EPIPE, ENOSPC, EIO, ...); the unwritten bytes are kept and
 * retried by the next call, and events that no longer fit meanwhile are
 * dropped and counted.
 */
int audit_flush(struct audit *a, struct pw_error *err);

/**
 * audit_drain(a, timeout_ms, err):
 * audit_flush() repeatedly, waiting up to ${timeout_ms} milliseconds in
 * all for the file to take the buffered events, after waiting for the
 * hashes being computed: for shutdown, when the loop no longer runs.
 * Returns as audit_flush() does (1: the time ran out).
 */
int audit_drain(struct audit *a, int timeout_ms, struct pw_error *err);

/**
 * audit_fd_wants_write(a):
 * The descriptor the event loop should wait on for writability, or -1 if
 * there is nothing to wait for: the buffer is empty, or the file is one
 * that epoll cannot watch and that is always writable (a regular file,
 * /dev/null).
 */
int audit_fd_wants_write(const struct audit *a);

/**
 * audit_dropped_total(a):
 * How many events ${a} has dropped since it was opened.
 */
uint64_t audit_dropped_total(const struct audit *a);

/**
 * audit_hash_offload(a, min_bytes, max_bytes, err):
 * From now on, hash the messages of at least ${min_bytes} on a worker
 * thread holding copies of at most ${max_bytes} bytes at a time (beyond
 * that, a message is hashed at once, as before).  A message event then
 * waits in the buffer, and the events after it with it, until its hash is
 * in; audit_hash_fd() says when some are.  When the buffer fills behind
 * such a line, the next event waits for the worker rather than being
 * dropped (the file being full still drops events).  Returns 0, or -1
 * with ${err}
 * set if the worker could not be started (nothing changes then).
 */
int audit_hash_offload(struct audit *a, size_t min_bytes, size_t max_bytes,
    struct pw_error *err);

/**
 * audit_hash_fd(a):
 * The descriptor that polls readable when the worker has finished hashes,
 * for the event loop to call audit_flush(); -1 without a worker.
 */
int audit_hash_fd(const struct audit *a);

/**
 * audit_conn_open(a, c):
 * Log that the connection ${c} was accepted ("conn_open").
 * Returns 0 if the event was buffered, -1 if it was dropped (counted).
 */
int audit_conn_open(struct audit *a, const struct audit_conn *c);

/**
 * audit_tls(a, c):
 * Log the completed TLS handshake of ${c} ("tls"): version, cipher and
 * the peer's certificate identity as far as ${c} has them.
 * Returns 0 if the event was buffered, -1 if it was dropped (counted).
 */
int audit_tls(struct audit *a, const struct audit_conn *c);

/**
 * audit_message(a, c, msg_seq, m, bytes, len, scan_us):
 * Log the verdict on message ${m}, number ${msg_seq} (from 1) of
 * connection ${c} ("message"): "msg_seq", "offset", then the fields that
 * `picklewall scan` writes under the same names ("length", "sha256",
 * "protocol", "kind", "verdict", "reasons", "imports", "calls", "rules";
 * see render.h), then "scan_us", the time the analysis took.  ${bytes}
 * holds the ${len} bytes of the whole message (header included) for its
 * SHA-256, or is NULL if they were not kept ("sha256": null).
 * Returns 0 if the event was buffered, -1 if it was dropped (counted).
 */
int audit_message(struct audit *a, const struct audit_conn *c,
    uint64_t msg_seq, const struct analysis_message *m,
    const uint8_t *bytes, size_t len, uint64_t scan_us);

/**
 * audit_message_at(a, c, msg_seq, m, bytes, len, scan_us, mono_ns):
 * audit_message() of an event that happened at ${mono_ns}, a reading of
 * CLOCK_MONOTONIC in nanoseconds (0: now), such as the end of the
 * analysis that the caller has just timed.  Its timestamp is the wall
 * clock at that instant, from an offset between the two clocks read at
 * most a millisecond before: one clock read less per message.
 */
int audit_message_at(struct audit *a, const struct audit_conn *c,
    uint64_t msg_seq, const struct analysis_message *m, const uint8_t *bytes,
    size_t len, uint64_t scan_us, uint64_t mono_ns);

/**
 * audit_conn_close(a, c, totals):
 * Log the end of connection ${c} with its ${totals} ("conn_close").
 * Returns 0 if the event was buffered, -1 if it was dropped (counted).
 */
int audit_conn_close(struct audit *a, const struct audit_conn *c,
    const struct audit_close *totals);

/**
 * audit_reload(a, listener, rules, generation):
 * Log that ${listener} has read its files anew ("reload"): its rule file
 * ${rules} (NULL: none), certificates, keys, CA and CRL files.  The
 * connections it accepts from now use them all; its live connections
 * decide their next message with the new rules.  ${generation} counts the
 * listener's loads (1: the one at startup).
 * Returns 0 if the event was buffered, -1 if it was dropped (counted).
 */
int audit_reload(struct audit *a, const char *listener,
    const char *rules, uint64_t generation);

/**
 * audit_error(a, c, code, detail):
 * Log a failure ("error"): "code" is pw_code_name(${code}), "detail" the
 * text ${detail} (NULL: left out).  ${c} is the connection concerned, or
 * NULL for a failure outside any connection.
 * Returns 0 if the event was buffered, -1 if it was dropped (counted).
 */
int audit_error(struct audit *a, const struct audit_conn *c,
    enum pw_code code, const char *detail);

/**
 * audit_timestamp(ts, out):
 * Write the instant ${ts} into ${out} as RFC 3339 in UTC with microseconds
 * ("2026-11-24T21:50:03.123456Z"), as on every event.  Returns 0, or -1
 * if the year is outside 0000..9999.
 */
int audit_timestamp(const struct timespec *ts,
    char out[AUDIT_TIMESTAMP_SIZE]);

#endif /* !AUDIT_H */
