/*
 * One connection: see conn.h.
 *
 * Level-triggered epoll; every handler tries what can be done on both
 * sides (a non-blocking attempt that cannot progress costs one syscall)
 * and then recomputes the events each descriptor waits for.  OpenSSL may
 * want to write while reading and read while writing, so each endpoint
 * remembers which direction its last read and its last write waited for.
 */

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "conn.h"

#ifndef SIOCOUTQ
#define SIOCOUTQ 0x5411		/* linux/sockios.h: unsent bytes */
#endif
/* A message that waits for room in the socket waits this long between
 * looks (epoll reports writable long before a given size fits). */
#define ROOM_RETRY_MS 2

#define READ_CHUNK_BYTES (64 * 1024)
/* Allowed messages of consecutive reads leave together up to this many
 * bytes: a send to the backend costs far more than its bytes (the
 * receiver's wakeup, a socket buffer lookup), and a busy client's
 * records arrive many per loop turn. */
#define UNIT_MAX_BYTES (64 * 1024)

enum conn_state {
	CS_CLIENT_HANDSHAKE,	/* TLS with the client */
	CS_CONNECTING,		/* TCP connect to the backend */
	CS_BACKEND_HANDSHAKE,	/* TLS with the backend */
	CS_RELAY,		/* messages flow */
	CS_DONE,		/* freed at the end of the handler */
};

struct endpoint {
	int fd;
	struct tls_conn *tls;
	bool read_wants_write;	/* the last read stopped on TLS_WANT_WRITE */
	bool write_wants_read;	/* the last write stopped on TLS_WANT_READ */
	bool hs_wants_write;	/* the handshake waits to write */
	bool eof;		/* the peer has finished sending */
	bool shut;		/* we have finished sending to it */
	uint8_t *out;		/* bytes to send to this endpoint */
	size_t out_off, out_len, out_cap;
	uint32_t interest;	/* what the loop watches now */
	bool registered;

	/* Backend only: the lengths of the messages queued, so that each
	 * goes out in one write when the socket has room for it (receivers
	 * read a 4-byte header with one recv). */
	size_t *msgs;
	size_t msg_head, msg_count, msg_cap;
	size_t msg_sent;	/* bytes of the head message already sent */
	bool waiting_room;	/* the head message waits for socket room */
	int sndbuf;		/* SO_SNDBUF at connect, 0: not read yet */
};

struct conn {
	struct conn_env env;	/* a copy: the listener's outlives us */
	uint64_t id;
	enum conn_state state;
	struct endpoint client, backend;
	char client_addr[INET6_ADDRSTRLEN];
	uint16_t client_port;
	/* The client certificate's identity, NULL without one: allocated
	 * only then, as it is most of the size of a connection. */
	struct tls_peer *peer;
	const char *tls_version, *tls_cipher;	/* static, from OpenSSL */
	const char *peer_sans[TLS_PEER_SANS_MAX];

	struct analysis *analysis;
	bool analysis_ended;	/* detect mode: pass the rest through */
	/* The rules the analysis decides with, held (policy_ref) until the
	 * listener's next ones are taken up, between two messages. */
	struct policy *policy;
	enum policy_mode mode;
	uint64_t rules_generation;
	/* Client bytes: [pending_start, pending_len) are those of the
	 * current message and after; pending_fed of them have been
	 * analyzed.  Bytes before pending_start are done with and dropped
	 * before the next read, not after every message. */
	uint8_t *pending;
	size_t pending_start, pending_len, pending_cap, pending_fed;
	/* The allowed messages of the current read, pending[unit_start,
	 * unit_start + unit_bytes): they go out together, as the client
	 * sent them together (close_unit). */
	size_t unit_start, unit_bytes;
	uint64_t scan_ns;	/* analysis time of the current message */
	uint64_t msg_seq;
	uint64_t held_bytes;	/* charged to env.buffered_bytes */

	struct loop_timer handshake_timer, connect_timer, message_timer,
	    idle_timer, retry_timer;
	struct timespec started;
	struct audit_close totals;
	const char *drain_reason;	/* set: the client is gone, and the
					 * connection ends once the backend has
					 * what was allowed before */
	bool client_closed_first;
	struct conn *prev, *next;	/* all live connections */
};

static struct conn *live_conns;

static void conn_step(struct conn *c);
static void finish(struct conn *c, const char *reason);

/* ---- small helpers ---------------------------------------------------- */

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static void
audit_info(const struct conn *c, struct audit_conn *a)
{
	/* A copy, not memset(): at this size gcc clears with "rep stos",
	 * slow to start for something done once a message. */
	static const struct audit_conn no_conn;

	*a = no_conn;
	a->conn_id = c->id;
	a->listener = c->env.listener->name;
	a->client_addr = c->client_addr;
	a->client_port = c->client_port;
	a->backend_addr = c->env.backend_addr_text;
	a->backend_port = c->env.listener->backend_port;
	a->tls_version = c->tls_version;
	a->tls_cipher = c->tls_cipher;
	if (c->peer != NULL) {
		a->peer_subject = c->peer->subject;
		a->peer_sans = c->peer_sans;
		a->n_peer_sans = c->peer->n_sans;
		a->peer_serial = c->peer->serial_hex;
		a->peer_sha256 = c->peer->sha256_hex;
	}
}

static void
log_error(struct conn *c, enum pw_code code, const char *detail)
{
	struct audit_conn a;

	audit_info(c, &a);
	(void)audit_error(c->env.audit, &a, code, detail);
}

/* Charge ${n} more held bytes against the global cap; false if over. */
static bool
hold(struct conn *c, size_t n)
{
	if (*c->env.buffered_bytes + n > c->env.buffer_cap_bytes)
		return false;
	*c->env.buffered_bytes += n;
	c->held_bytes += n;
	return true;
}

static void
release_all(struct conn *c)
{
	*c->env.buffered_bytes -= c->held_bytes;
	c->held_bytes = 0;
}

/* Free the buffer *${buf} of capacity *${cap}, and its charge: an idle
 * connection holds no buffer. */
static void
release_buffer(struct conn *c, uint8_t **buf, size_t *cap)
{
	free(*buf);
	*buf = NULL;
	*c->env.buffered_bytes -= *cap;
	c->held_bytes -= *cap;
	*cap = 0;
}

/* Make room for ${n} more bytes in a buffer of *${cap}; -1: over the
 * global cap or out of memory. */
static int
reserve(struct conn *c, uint8_t **buf, size_t *cap, size_t len, size_t n)
{
	size_t want, ncap;
	uint8_t *nb;

	if (len + n <= *cap)
		return 0;
	want = len + n;
	ncap = *cap ? *cap : 4096;
	while (ncap < want)
		ncap *= 2;
	if (!hold(c, ncap - *cap))
		return -1;
	if ((nb = realloc(*buf, ncap)) == NULL) {
		*c->env.buffered_bytes -= ncap - *cap;
		c->held_bytes -= ncap - *cap;
		return -1;
	}
	*buf = nb;
	*cap = ncap;
	return 0;
}

/* ---- endpoint I/O --------------------------------------------------- */

/* TLS_OK with *n > 0, TLS_WANT_*, TLS_CLOSED or TLS_ERROR. */
static enum tls_status
ep_read(struct endpoint *ep, uint8_t *buf, size_t len, size_t *n,
    struct pw_error *err)
{
	ssize_t r;

	if (ep->tls != NULL)
		return tls_read(ep->tls, buf, len, n, err);
	*n = 0;
	do
		r = read(ep->fd, buf, len);
	while (r < 0 && errno == EINTR);
	if (r > 0) {
		*n = (size_t)r;
		return TLS_OK;
	}
	if (r == 0)
		return TLS_CLOSED;
	if (errno == EAGAIN || errno == EWOULDBLOCK)
		return TLS_WANT_READ;
	pw_error_set(err, PW_IO, 0, "read: %s", strerror(errno));
	return TLS_ERROR;
}

static enum tls_status
ep_write(struct endpoint *ep, const uint8_t *buf, size_t len, size_t *n,
    struct pw_error *err)
{
	ssize_t r;

	if (ep->tls != NULL)
		return tls_write(ep->tls, buf, len, n, err);
	*n = 0;
	do
		r = send(ep->fd, buf, len, MSG_NOSIGNAL);
	while (r < 0 && errno == EINTR);
	if (r >= 0) {
		*n = (size_t)r;
		return TLS_OK;
	}
	if (errno == EAGAIN || errno == EWOULDBLOCK)
		return TLS_WANT_WRITE;
	pw_error_set(err, PW_IO, 0, "send: %s", strerror(errno));
	return TLS_ERROR;
}

static void on_retry(void *cookie);

/* Does a message of ${len} bytes fit in the socket buffer of ${ep} now?
 * One that could never fit is sent anyway. */
static bool
room_for(struct endpoint *ep, size_t len)
{
	socklen_t optlen = sizeof(ep->sndbuf);
	int sndbuf, unsent = 0;

	if (ep->tls != NULL)
		return true;
	/* Read once: the kernel only grows it, so the first value errs on
	 * the side of sending. */
	if (ep->sndbuf == 0 && getsockopt(ep->fd, SOL_SOCKET, SO_SNDBUF,
	    &ep->sndbuf, &optlen) < 0)
		ep->sndbuf = -1;
	sndbuf = ep->sndbuf;
	if (sndbuf <= 0 || ioctl(ep->fd, SIOCOUTQ, &unsent) < 0)
		return true;
	/* The kernel counts its own overhead in SO_SNDBUF: half is data. */
	if (len > (size_t)sndbuf / 2)
		return true;
	return (size_t)unsent + len <= (size_t)sndbuf / 2;
}

/* Send what ${ep} has queued, a message at a time when it keeps message
 * lengths.  0: all sent or waiting; -1: failed. */
static int
ep_flush(struct conn *c, struct endpoint *ep, uint64_t *counter)
{
	struct pw_error err;
	enum tls_status st;
	size_t n, want;

	ep->write_wants_read = false;
	ep->waiting_room = false;
	while (ep->out_off < ep->out_len) {
		want = ep->out_len - ep->out_off;
		if (ep->msg_count > 0) {
			want = ep->msgs[ep->msg_head] - ep->msg_sent;
			if (ep->msg_sent == 0 && !room_for(ep, want)) {
				ep->waiting_room = true;
				(void)loop_timer_arm(c->env.loop, &c->retry_timer,
				    ROOM_RETRY_MS, on_retry, c);
				return 0;
			}
		}
		st = ep_write(ep, ep->out + ep->out_off, want, &n, &err);
		if (st == TLS_OK) {
			ep->out_off += n;
			*counter += n;
			if (ep->msg_count > 0 &&
			    (ep->msg_sent += n) == ep->msgs[ep->msg_head]) {
				ep->msg_sent = 0;
				ep->msg_head = (ep->msg_head + 1) % ep->msg_cap;
				ep->msg_count--;
			}
			continue;
		}
		if (st == TLS_WANT_READ) {
			ep->write_wants_read = true;
			return 0;
		}
		if (st == TLS_WANT_WRITE)
			return 0;
		log_error(c, PW_IO, err.message);
		return -1;
	}
	ep->out_off = ep->out_len = 0;
	release_buffer(c, &ep->out, &ep->out_cap);
	return 0;
}

/* Remember that the ${n} bytes just queued for ${ep} are one message. */
static int
ep_note_message(struct endpoint *ep, size_t n)
{
	size_t *nm, ncap, i;

	if (ep->msg_count == ep->msg_cap) {
		ncap = ep->msg_cap ? ep->msg_cap * 2 : 16;
		if ((nm = malloc(ncap * sizeof(*nm))) == NULL)
			return -1;
		for (i = 0; i < ep->msg_count; i++)
			nm[i] = ep->msgs[(ep->msg_head + i) % ep->msg_cap];
		free(ep->msgs);
		ep->msgs = nm;
		ep->msg_cap = ncap;
		ep->msg_head = 0;
	}
	ep->msgs[(ep->msg_head + ep->msg_count) % ep->msg_cap] = n;
	ep->msg_count++;
	return 0;
}

/* Queue ${n} bytes for ${ep}; -1 over a bound. */
static int
ep_queue(struct conn *c, struct endpoint *ep, const uint8_t *p, size_t n)
{
	if (ep->out_off > 0 && ep->out_off == ep->out_len)
		ep->out_off = ep->out_len = 0;
	if (ep->out_off > 0) {
		memmove(ep->out, ep->out + ep->out_off,
		    ep->out_len - ep->out_off);
		ep->out_len -= ep->out_off;
		ep->out_off = 0;
	}
	if (reserve(c, &ep->out, &ep->out_cap, ep->out_len, n) < 0)
		return -1;
	memcpy(ep->out + ep->out_len, p, n);
	ep->out_len += n;
	return 0;
}

static size_t
ep_queued(const struct endpoint *ep)
{
	return ep->out_len - ep->out_off;
}

/* ---- timers ---------------------------------------------------------- */

static void
on_handshake_timeout(void *cookie)
{
	struct conn *c = cookie;

	log_error(c, PW_IO, "TLS handshake timed out");
	finish(c, "handshake_timeout");
}

static void
on_connect_timeout(void *cookie)
{
	struct conn *c = cookie;

	log_error(c, PW_IO, "backend connect timed out");
	finish(c, "backend_connect_timeout");
}

static void
on_message_timeout(void *cookie)
{
	struct conn *c = cookie;

	log_error(c, PW_IO, "a message did not arrive whole in time");
	finish(c, "message_timeout");
}

static void
on_idle_timeout(void *cookie)
{
	finish(cookie, "idle_timeout");
}

static void
on_retry(void *cookie)
{
	conn_step(cookie);
}

static void
touch(struct conn *c)
{
	(void)loop_timer_arm(c->env.loop, &c->idle_timer,
	    c->env.listener->idle_timeout_ms, on_idle_timeout, c);
}

/* ---- the end ------------------------------------------------------- */

static void
ep_close(struct conn *c, struct endpoint *ep)
{
	if (ep->fd < 0)
		return;
	if (ep->tls != NULL && !ep->shut)
		(void)tls_shutdown(ep->tls);
	if (ep->registered)
		loop_del(c->env.loop, ep->fd);
	tls_free(ep->tls);
	ep->tls = NULL;
	close(ep->fd);
	ep->fd = -1;
	free(ep->out);
	ep->out = NULL;
	ep->out_len = ep->out_off = ep->out_cap = 0;
	free(ep->msgs);
	ep->msgs = NULL;
	ep->msg_count = ep->msg_cap = 0;
}

/* Log the end and mark the connection done; it is freed by the handler
 * that is running (or right away when none is). */
static void
finish(struct conn *c, const char *reason)
{
	struct audit_conn a;
	struct timespec end;

	if (c->state == CS_DONE)
		return;
	clock_gettime(CLOCK_MONOTONIC, &end);
	c->totals.duration_us = (uint64_t)(end.tv_sec - c->started.tv_sec) *
	    1000000 + (uint64_t)((end.tv_nsec - c->started.tv_nsec) / 1000);
	c->totals.reason = reason;
	audit_info(c, &a);
	(void)audit_conn_close(c->env.audit, &a, &c->totals);
	c->state = CS_DONE;
	loop_timer_cancel(c->env.loop, &c->handshake_timer);
	loop_timer_cancel(c->env.loop, &c->connect_timer);
	loop_timer_cancel(c->env.loop, &c->message_timer);
	loop_timer_cancel(c->env.loop, &c->idle_timer);
	loop_timer_cancel(c->env.loop, &c->retry_timer);
	ep_close(c, &c->client);
	ep_close(c, &c->backend);
}

static void
conn_free(struct conn *c)
{
	void (*on_closed)(void *) = c->env.on_closed;
	void *cookie = c->env.cookie;

	analysis_free(c->analysis);
	policy_free(c->policy);
	tls_ctx_free(c->env.server_tls);
	tls_ctx_free(c->env.backend_tls);
	free(c->peer);
	free(c->pending);
	release_all(c);
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		live_conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	free(c);
	if (on_closed != NULL)
		on_closed(cookie);
}

/* ---- messages ------------------------------------------------------ */

static void
on_drain_timeout(void *cookie)
{
	struct conn *c = cookie;

	finish(c, c->drain_reason);
}

/* The client's stream ends here (a denial, or bytes that cannot be
 * analyzed): close the client now, discard what it sent after the last
 * verdict, and end once the backend has the messages allowed before. */
static void
end_after_drain(struct conn *c, const char *reason)
{
	c->drain_reason = reason;
	c->client.eof = true;
	ep_close(c, &c->client);
	c->pending_start = c->pending_len = c->pending_fed = 0;
	(void)loop_timer_arm(c->env.loop, &c->message_timer,
	    c->env.listener->message_timeout_ms, on_drain_timeout, c);
}

/* The verdict the listener's mode makes of the policy's. */
static enum analysis_verdict
effective_verdict(const struct conn *c, enum analysis_verdict v)
{
	if (v == ANALYSIS_ALLOW)
		return v;
	return c->mode == POLICY_MODE_DETECT ? ANALYSIS_WOULD_DENY :
	    ANALYSIS_DENY;
}

/* The allowed messages of the current unit leave in one write when the
 * socket has room (here or in ep_flush): they are those of one client
 * read, so the backend sees the client's own write boundaries, never a
 * message cut in two.  -1: the connection has ended. */
static int
close_unit(struct conn *c)
{
	struct endpoint *ep = &c->backend;
	const uint8_t *p = c->pending + c->unit_start;
	size_t n = c->unit_bytes, sent = 0;
	struct pw_error err;

	c->unit_bytes = 0;
	if (n == 0 || c->state == CS_DONE)
		return 0;
	/* Nothing waits before it on a plain socket with room: written
	 * from the client's bytes, not copied first.  (OpenSSL wants a
	 * write it could not finish retried from the same buffer, so TLS
	 * always goes through the queue.) */
	if (ep->tls == NULL && ep_queued(ep) == 0 && room_for(ep, n)) {
		switch (ep_write(ep, p, n, &sent, &err)) {
		case TLS_OK:
			break;
		case TLS_ERROR:
			log_error(c, PW_IO, err.message);
			finish(c, "backend_error");
			return -1;
		default:
			sent = 0;
		}
		c->totals.bytes_to_backend += sent;
		if (sent == n)
			return 0;
	}
	if (ep_queue(c, ep, p + sent, n - sent) < 0) {
		log_error(c, PW_LIMIT_ANALYSIS_MEMORY,
		    "buffer memory cap reached");
		finish(c, "buffer_memory");
		return -1;
	}
	if (ep_note_message(ep, n - sent) < 0) {
		log_error(c, PW_INTERNAL, "out of memory");
		finish(c, "internal_error");
		return -1;
	}
	return 0;
}

/* Add the ${n} client bytes at pending[${at}] to the current unit, after
 * closing it if they do not follow it (a message dropped between).
 * -1: the connection has ended. */
static int
forward(struct conn *c, size_t at, size_t n)
{
	if (c->unit_bytes > 0 && c->unit_start + c->unit_bytes != at &&
	    close_unit(c) < 0)
		return -1;
	if (c->unit_bytes == 0)
		c->unit_start = at;
	c->unit_bytes += n;
	return 0;
}

/* Does the message event of a message with verdict ${v} carry its hash
 * (message_hash)? */
static bool
wants_hash(const struct conn *c, enum analysis_verdict v)
{
	switch (c->env.listener->message_hash) {
	case CONFIG_MESSAGE_HASH_ALL:
		return true;
	case CONFIG_MESSAGE_HASH_DENIED:
		return v != ANALYSIS_ALLOW;
	default:
		return false;
	}
}

/* Act on a finished message: its bytes are those pending from
 * pending_start on; its analysis ended at ${end_ns} (now_ns(), or 0: not
 * timed).  Returns 0 to go on, -1 when the connection ends. */
static int
on_message(struct conn *c, const struct analysis_message *m, uint64_t end_ns)
{
	struct analysis_message msg = *m;
	struct audit_conn a;
	const uint8_t *bytes = c->pending + c->pending_start;
	size_t held = c->pending_len - c->pending_start;
	size_t len = (size_t)msg.length;

	msg.verdict = effective_verdict(c, msg.verdict);
	c->msg_seq++;
	c->totals.messages_from_client++;
	audit_info(c, &a);
	(void)audit_message_at(c->env.audit, &a, c->msg_seq, &msg,
	    len <= held && wants_hash(c, msg.verdict) ? bytes : NULL, len,
	    c->scan_ns / 1000, end_ns);
	c->scan_ns = 0;
	if (len > held)
		len = held;

	if (msg.verdict != ANALYSIS_DENY) {
		if (forward(c, c->pending_start, len) < 0)
			return -1;
		c->totals.messages_to_backend++;
	} else if (c->env.listener->on_deny == CONFIG_ON_DENY_CLOSE ||
	    msg.stream_ends) {
		if (close_unit(c) < 0)
			return -1;
		end_after_drain(c, "denied");
		return -1;
	}
	c->pending_start += len;
	if (msg.stream_ends) {
		if (c->mode != POLICY_MODE_DETECT) {
			if (close_unit(c) < 0)
				return -1;
			end_after_drain(c, "analysis_ended");
			return -1;
		}
		/* Detect mode forwards everything: what follows cannot be
		 * framed, so it goes through unanalyzed, and the log says
		 * so once. */
		c->analysis_ended = true;
		log_error(c, PW_BAD_FRAMING, "analysis ended; detect mode "
		    "passes the rest of the connection through unanalyzed");
	}
	return 0;
}

/* Hold the listener's rules of now, for the messages from the next one on.
 * Between messages only: in the middle of one, the analysis keeps the rules
 * that message started with, and this is tried again before the next feed. */
static void
take_up_rules(struct conn *c)
{
	const struct conn_rules *r = c->env.rules;
	struct pw_error err;

	if (c->rules_generation == r->generation)
		return;
	if (c->analysis != NULL &&
	    analysis_set_policy(c->analysis, r->policy, &err) < 0) {
		if (err.code != PW_USAGE)
			log_error(c, err.code, err.message);
		return;
	}
	policy_free(c->policy);
	c->policy = policy_ref(r->policy);
	c->mode = r->mode;
	c->rules_generation = r->generation;
	c->env.analysis.policy = c->policy;
}

/* Feed the pending bytes not yet analyzed.  -1: the connection ended. */
static int
analyze_pending(struct conn *c)
{
	struct analysis_message msg;
	enum analysis_status st;
	uint64_t t0, t1;
	size_t used;

	/* Made with the first byte: a connection that never sends holds
	 * none of it. */
	if (c->analysis == NULL && !c->analysis_ended &&
	    (c->analysis = analysis_new(&c->env.analysis)) == NULL) {
		log_error(c, PW_INTERNAL, "out of memory");
		finish(c, "internal_error");
		return -1;
	}
	while (!c->analysis_ended && c->pending_fed < c->pending_len) {
		take_up_rules(c);
		t0 = now_ns();
		st = analysis_feed(c->analysis, c->pending + c->pending_fed,
		    c->pending_len - c->pending_fed, &used, &msg);
		t1 = now_ns();
		c->scan_ns += t1 - t0;
		c->pending_fed += used;
		if (st != ANALYSIS_MESSAGE)
			break;
		if (on_message(c, &msg, t1) < 0)
			return -1;
	}
	if (c->analysis_ended && c->pending_len > c->pending_start) {
		if (forward(c, c->pending_start,
		    c->pending_len - c->pending_start) < 0)
			return -1;
		c->pending_start = c->pending_fed = c->pending_len;
	}
	/* A message is in progress while bytes of it are held. */
	if (c->pending_len == c->pending_start)
		loop_timer_cancel(c->env.loop, &c->message_timer);
	else if (c->message_timer.heap_index == 0)
		(void)loop_timer_arm(c->env.loop, &c->message_timer,
		    c->env.listener->message_timeout_ms, on_message_timeout, c);
	return 0;
}

/* The client has finished sending: a message in progress is truncated. */
static int
client_ended(struct conn *c)
{
	struct analysis_message msg;

	c->client.eof = true;
	c->client_closed_first = !c->backend.eof;
	/* No analysis: nothing was ever sent, so nothing is cut short. */
	if (!c->analysis_ended && c->analysis != NULL &&
	    analysis_finish(c->analysis, &msg) ==
	    ANALYSIS_MESSAGE && on_message(c, &msg, 0) < 0)
		return -1;
	return close_unit(c);
}

/* ---- relaying ------------------------------------------------------ */

static bool
may_read_client(const struct conn *c)
{
	return c->state == CS_RELAY && !c->client.eof &&
	    c->drain_reason == NULL &&
	    ep_queued(&c->backend) < CONN_RELAY_BYTES;
}

static bool
may_read_backend(const struct conn *c)
{
	return c->state == CS_RELAY && !c->backend.eof &&
	    c->drain_reason == NULL &&
	    ep_queued(&c->client) < CONN_RELAY_BYTES;
}

/* Drop the bytes of the messages already dealt with (once a read, not
 * once a message: a read may end hundreds of them). */
static void
compact_pending(struct conn *c)
{
	size_t from = c->unit_bytes > 0 ? c->unit_start : c->pending_start;

	if (from == 0)
		return;
	memmove(c->pending, c->pending + from, c->pending_len - from);
	c->pending_len -= from;
	c->pending_fed -= from;
	c->pending_start -= from;
	if (c->unit_bytes > 0)
		c->unit_start -= from;
}

/* Read client bytes into pending and analyze them.  -1: ended. */
static int
pump_client(struct conn *c)
{
	size_t limit = (size_t)c->env.listener->max_message_bytes +
	    FRAME_HEADER_MAX_BYTES + READ_CHUNK_BYTES;
	struct pw_error err;
	enum tls_status st;
	size_t n, room;

	c->client.read_wants_write = false;
	while (may_read_client(c)) {
		/* The unit stays open across reads (one write for several
		 * TLS records), but only while it is small, directly
		 * before the bytes still to come (no dropped message
		 * kept between), and leaves a full read's room. */
		if (c->unit_bytes > 0 && (c->unit_bytes >= UNIT_MAX_BYTES ||
		    c->unit_start + c->unit_bytes != c->pending_start ||
		    c->pending_len - c->unit_start + READ_CHUNK_BYTES >
		    limit) && close_unit(c) < 0)
			return -1;
		compact_pending(c);
		room = READ_CHUNK_BYTES;
		if (c->pending_len + room > limit) {
			/* The analysis denies a message before it gets
			 * here; pause until it has. */
			if (c->pending_len >= limit)
				break;
			room = limit - c->pending_len;
		}
		if (reserve(c, &c->pending, &c->pending_cap, c->pending_len,
		    room) < 0) {
			/* Over the global cap: try again shortly. */
			(void)loop_timer_arm(c->env.loop, &c->retry_timer, 50,
			    on_retry, c);
			break;
		}
		st = ep_read(&c->client, c->pending + c->pending_len, room, &n,
		    &err);
		if (st == TLS_OK) {
			c->pending_len += n;
			c->totals.bytes_from_client += n;
			touch(c);
			if (analyze_pending(c) < 0)
				return -1;
			continue;
		}
		if (close_unit(c) < 0)
			return -1;
		if (st == TLS_WANT_WRITE)
			c->client.read_wants_write = true;
		if (st == TLS_WANT_READ || st == TLS_WANT_WRITE) {
			if (c->pending_start == c->pending_len) {
				c->pending_start = c->pending_len =
				    c->pending_fed = 0;
				release_buffer(c, &c->pending, &c->pending_cap);
			}
			break;
		}
		if (st == TLS_CLOSED)
			return client_ended(c);
		log_error(c, PW_IO, err.message);
		finish(c, "client_error");
		return -1;
	}
	return close_unit(c);
}

static int
pump_backend(struct conn *c)
{
	uint8_t buf[READ_CHUNK_BYTES];
	struct pw_error err;
	enum tls_status st;
	size_t n;

	c->backend.read_wants_write = false;
	while (may_read_backend(c)) {
		st = ep_read(&c->backend, buf, sizeof(buf), &n, &err);
		if (st == TLS_OK) {
			c->totals.bytes_from_backend += n;
			touch(c);
			if (ep_queue(c, &c->client, buf, n) < 0) {
				finish(c, "buffer_memory");
				return -1;
			}
			if (ep_flush(c, &c->client, &c->totals.bytes_to_client) <
			    0) {
				finish(c, "client_error");
				return -1;
			}
			continue;
		}
		if (st == TLS_WANT_WRITE)
			c->backend.read_wants_write = true;
		if (st == TLS_WANT_READ || st == TLS_WANT_WRITE)
			break;
		if (st == TLS_CLOSED) {
			c->backend.eof = true;
			break;
		}
		log_error(c, PW_IO, err.message);
		finish(c, "backend_error");
		return -1;
	}
	return 0;
}

/* Half-close ${ep} once everything queued for it is sent. */
static void
ep_finish_sending(struct endpoint *ep)
{
	if (ep->shut || ep_queued(ep) > 0 || ep->fd < 0)
		return;
	if (ep->tls != NULL && tls_shutdown(ep->tls) == TLS_WANT_WRITE)
		return;
	(void)shutdown(ep->fd, SHUT_WR);
	ep->shut = true;
}

static void
relay(struct conn *c)
{
	(void)pump_client(c);
	if (c->state == CS_DONE)
		return;
	if (ep_flush(c, &c->backend, &c->totals.bytes_to_backend) < 0) {
		finish(c, "backend_error");
		return;
	}
	if (c->drain_reason != NULL) {
		if (ep_queued(&c->backend) == 0)
			finish(c, c->drain_reason);
		return;
	}
	if (pump_backend(c) < 0 || c->state == CS_DONE)
		return;
	if (ep_flush(c, &c->client, &c->totals.bytes_to_client) < 0) {
		finish(c, "client_error");
		return;
	}
	/* A side that finished sending is finished towards the other once
	 * what it sent has been delivered. */
	if (c->client.eof)
		ep_finish_sending(&c->backend);
	if (c->backend.eof)
		ep_finish_sending(&c->client);
	if (c->backend.eof && ep_queued(&c->client) == 0)
		finish(c, c->client_closed_first ? "client_closed" :
		    "backend_closed");
}

/* ---- setting up ------------------------------------------------------ */

static void on_client_io(void *cookie, uint32_t events);
static void on_backend_io(void *cookie, uint32_t events);

static int
start_backend_connect(struct conn *c)
{
	int fd, one = 1;

	fd = socket(c->env.backend_addr.ss_family,
	    SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		log_error(c, PW_IO, strerror(errno));
		return -1;
	}
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c->backend.fd = fd;
	if (connect(fd, (const struct sockaddr *)&c->env.backend_addr,
	    c->env.backend_addr_len) < 0 && errno != EINPROGRESS) {
		char detail[160];

		snprintf(detail, sizeof(detail), "backend %s:%u: %s",
		    c->env.backend_addr_text, c->env.listener->backend_port,
		    strerror(errno));
		log_error(c, PW_IO, detail);
		return -1;
	}
	if (loop_add(c->env.loop, fd, EPOLLOUT, on_backend_io, c) < 0) {
		log_error(c, PW_INTERNAL, strerror(errno));
		return -1;
	}
	c->backend.registered = true;
	c->backend.interest = EPOLLOUT;
	c->state = CS_CONNECTING;
	(void)loop_timer_arm(c->env.loop, &c->connect_timer,
	    c->env.listener->connect_timeout_ms, on_connect_timeout, c);
	return 0;
}

static void
client_handshake_done(struct conn *c)
{
	struct audit_conn a;
	struct tls_peer peer;
	size_t i;

	loop_timer_cancel(c->env.loop, &c->handshake_timer);
	c->tls_version = tls_version_name(c->client.tls);
	c->tls_cipher = tls_cipher_name(c->client.tls);
	if (tls_peer_identity(c->client.tls, &peer) == 0 && peer.present) {
		if ((c->peer = malloc(sizeof(*c->peer))) == NULL) {
			log_error(c, PW_INTERNAL, "out of memory");
			finish(c, "internal_error");
			return;
		}
		*c->peer = peer;
		for (i = 0; i < c->peer->n_sans; i++)
			c->peer_sans[i] = c->peer->sans[i];
	}
	audit_info(c, &a);
	(void)audit_tls(c->env.audit, &a);
	if (start_backend_connect(c) < 0)
		finish(c, "backend_unreachable");
}

static void
backend_connected(struct conn *c)
{
	struct pw_error err;
	int soerr = 0;
	socklen_t len = sizeof(soerr);

	if (getsockopt(c->backend.fd, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0)
		soerr = errno;
	if (soerr == EINPROGRESS)
		return;
	if (soerr != 0) {
		char detail[160];

		snprintf(detail, sizeof(detail), "backend %s:%u: %s",
		    c->env.backend_addr_text, c->env.listener->backend_port,
		    strerror(soerr));
		log_error(c, PW_IO, detail);
		finish(c, "backend_unreachable");
		return;
	}
	if (c->env.backend_tls == NULL) {
		loop_timer_cancel(c->env.loop, &c->connect_timer);
		c->state = CS_RELAY;
		return;
	}
	if ((c->backend.tls = tls_connect_new(c->env.backend_tls,
	    c->backend.fd, &err)) == NULL) {
		log_error(c, err.code, err.message);
		finish(c, "backend_tls_error");
		return;
	}
	c->state = CS_BACKEND_HANDSHAKE;
}

/* ---- the state machine -------------------------------------------- */

static uint32_t
client_interest(const struct conn *c)
{
	const struct endpoint *ep = &c->client;
	uint32_t ev = 0;

	if (c->state == CS_CLIENT_HANDSHAKE)
		return ep->hs_wants_write ? EPOLLOUT : EPOLLIN;
	if (c->state != CS_RELAY)
		return 0;
	if (may_read_client(c))
		ev |= ep->read_wants_write ? EPOLLOUT : EPOLLIN;
	if (ep_queued(ep) > 0)
		ev |= ep->write_wants_read ? EPOLLIN : EPOLLOUT;
	return ev;
}

static uint32_t
backend_interest(const struct conn *c)
{
	const struct endpoint *ep = &c->backend;
	uint32_t ev = 0;

	if (c->state == CS_CONNECTING)
		return EPOLLOUT;
	if (c->state == CS_BACKEND_HANDSHAKE)
		return ep->hs_wants_write ? EPOLLOUT : EPOLLIN;
	if (c->state != CS_RELAY)
		return 0;
	if (may_read_backend(c))
		ev |= ep->read_wants_write ? EPOLLOUT : EPOLLIN;
	if ((ep_queued(ep) > 0 && !ep->waiting_room) ||
	    (c->client.eof && !ep->shut && ep_queued(ep) == 0))
		ev |= ep->write_wants_read ? EPOLLIN : EPOLLOUT;
	if (c->drain_reason != NULL)
		ev &= ~(uint32_t)EPOLLIN | (ep->write_wants_read ? EPOLLIN : 0);
	return ev;
}

static void
update_interest(struct conn *c, struct endpoint *ep, uint32_t ev)
{
	if (!ep->registered || ep->fd < 0 || ep->interest == ev)
		return;
	if (loop_mod(c->env.loop, ep->fd, ev) == 0)
		ep->interest = ev;
}

/* Advance the connection as far as it goes without waiting. */
static void
conn_step(struct conn *c)
{
	struct pw_error err;
	enum tls_status st;

	if (c->state == CS_CLIENT_HANDSHAKE) {
		st = tls_handshake(c->client.tls, &err);
		c->client.hs_wants_write = st == TLS_WANT_WRITE;
		if (st == TLS_OK) {
			client_handshake_done(c);
		} else if (st == TLS_ERROR || st == TLS_CLOSED) {
			log_error(c, PW_IO, err.message);
			finish(c, "tls_refused");
		}
	}
	if (c->state == CS_BACKEND_HANDSHAKE) {
		st = tls_handshake(c->backend.tls, &err);
		c->backend.hs_wants_write = st == TLS_WANT_WRITE;
		if (st == TLS_OK) {
			loop_timer_cancel(c->env.loop, &c->connect_timer);
			c->state = CS_RELAY;
		} else if (st == TLS_ERROR || st == TLS_CLOSED) {
			log_error(c, PW_IO, err.message);
			finish(c, "backend_tls_error");
		}
	}
	if (c->state == CS_RELAY)
		relay(c);
	if (c->state == CS_DONE) {
		conn_free(c);
		return;
	}
	update_interest(c, &c->client, client_interest(c));
	update_interest(c, &c->backend, backend_interest(c));
}

static void
on_client_io(void *cookie, uint32_t events)
{
	struct conn *c = cookie;

	(void)events;
	conn_step(c);
}

static void
on_backend_io(void *cookie, uint32_t events)
{
	struct conn *c = cookie;

	(void)events;
	if (c->state == CS_CONNECTING)
		backend_connected(c);
	conn_step(c);
}

/**
 * conn_addr_text(sa, text, port):
 * Write the numeric address of the IPv4 or IPv6 ${sa} into ${text}
 * (INET6_ADDRSTRLEN bytes) and its port into *${port} (if not NULL), as the
 * audit log shows them; an empty text and port 0 for any other family.
 */
void
conn_addr_text(const struct sockaddr *sa, char *text, uint16_t *port)
{
	uint16_t p = 0;

	text[0] = '\0';
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const void *)sa;

		inet_ntop(AF_INET, &in->sin_addr, text, INET6_ADDRSTRLEN);
		p = ntohs(in->sin_port);
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const void *)sa;

		inet_ntop(AF_INET6, &in6->sin6_addr, text, INET6_ADDRSTRLEN);
		p = ntohs(in6->sin6_port);
	}
	if (port != NULL)
		*port = p;
}

/**
 * conn_start(env, fd, peer, peer_len, conn_id):
 * Take over the accepted, non-blocking socket ${fd} from ${peer} and start
 * its handshake.  The connection runs from the loop and frees itself when
 * it ends (env->on_closed is then called).  Returns 0, or -1 if it could
 * not start (${fd} is then closed and an error event logged).
 */
int
conn_start(const struct conn_env *env, int fd, const struct sockaddr *peer,
    socklen_t peer_len, uint64_t conn_id)
{
	struct conn *c;
	struct audit_conn a;
	struct pw_error err;
	int one = 1;

	if ((c = calloc(1, sizeof(*c))) == NULL) {
		close(fd);
		return -1;
	}
	c->env = *env;
	/* A reload may let go of the listener's while we still need them:
	 * the backend's context at connect time, after the handshake. */
	tls_ctx_ref(c->env.server_tls);
	tls_ctx_ref(c->env.backend_tls);
	c->policy = policy_ref(env->rules->policy);
	c->mode = env->rules->mode;
	c->rules_generation = env->rules->generation;
	c->env.analysis.policy = c->policy;
	c->id = conn_id;
	c->client.fd = fd;
	c->backend.fd = -1;
	clock_gettime(CLOCK_MONOTONIC, &c->started);
	(void)peer_len;
	conn_addr_text(peer, c->client_addr, &c->client_port);
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c->next = live_conns;
	if (live_conns != NULL)
		live_conns->prev = c;
	live_conns = c;

	audit_info(c, &a);
	(void)audit_conn_open(c->env.audit, &a);
	if (loop_add(c->env.loop, fd, EPOLLIN, on_client_io, c) < 0) {
		log_error(c, PW_INTERNAL, strerror(errno));
		goto fail;
	}
	c->client.registered = true;
	c->client.interest = EPOLLIN;
	touch(c);
	if (c->env.server_tls != NULL) {
		if ((c->client.tls = tls_accept_new(c->env.server_tls, fd,
		    &err)) == NULL) {
			log_error(c, err.code, err.message);
			goto fail;
		}
		c->state = CS_CLIENT_HANDSHAKE;
		(void)loop_timer_arm(c->env.loop, &c->handshake_timer,
		    c->env.listener->handshake_timeout_ms,
		    on_handshake_timeout, c);
	} else if (start_backend_connect(c) < 0) {
		finish(c, "backend_unreachable");
		conn_free(c);
		return 0;
	}
	conn_step(c);
	return 0;

fail:
	finish(c, "internal_error");
	conn_free(c);
	return -1;
}

/**
 * conn_close_all(reason):
 * End every live connection now (shutdown), logging ${reason}.
 */
void
conn_close_all(const char *reason)
{
	while (live_conns != NULL) {
		struct conn *c = live_conns;

		finish(c, reason);
		conn_free(c);
	}
}
